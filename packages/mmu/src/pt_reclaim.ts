// Reclaim of empty PTE tables while zapping (mm/pt_reclaim.c, CONFIG_PT_RECLAIM, Linux 6.18; set
// on x86-64, which frees page tables through RCU, MMU_GATHER_RCU_TABLE_FREE): when
// MADV_DONTNEED (madvise_dontneed_single_vma(): zap_details.reclaim_pt) zaps a whole PTE table
// and no entry was left in place (a guard marker is kept, any_skipped), zap_pte_range() clears
// the PMD and frees the table. A later fault then finds pmd_none(), and in a THP-enabled VMA
// allocates a THP where it would otherwise have filled the old table with a 4 KiB page.
// The mmap lock is held for read (or the VMA lock): GUP-fast and other lockless walkers are
// safe because the table is freed after an RCU grace period; the simulator has none to race.

import { PMD_SIZE } from '@mmsim/core';
import type { MmStruct } from './mm.ts';
import { setEntry } from './pgtable.ts';

/** reclaim_pt_is_enabled(): the zap asked for it and covers a whole PTE table. */
export function reclaim_pt_is_enabled(start: number, end: number, reclaim_pt: boolean): boolean {
  return reclaim_pt && end - start >= PMD_SIZE;
}

/**
 * try_get_and_clear_pmd() and free_pte(): clear the PMD entry at (pmdT, pi) and free the PTE
 * table it pointed to (pte_free_tlb(), mm_dec_nr_ptes()). The zap holds the PTE table's PTL and
 * takes the PMD lock (always free here: nothing runs concurrently in the simulator).
 */
export function free_pte(mm: MmStruct, pmdT: number, pi: number, pteT: number): void {
  const pm = mm.machine.phys;
  setEntry(pm, pmdT, pi, 0, 0);
  pm.freePageTable(pteT);
  mm.nrPtes--;
}
