// mm/page_vma_mapped.c (Linux 6.18): page_vma_mapped_walk() for the case mmsim's rmap users
// have, one small page mapped by a PTE at a known address.

import { entry_pfn, pte_present } from './arch.ts';
import type { MmStruct } from './mm.ts';
import { E, pte_index, ptlLock, readEntry } from './pgtable.ts';

/**
 * page_vma_mapped_walk() for one page: the PTE table whose entry for `addr` in `mm` is present and
 * maps `pfn`, or 0 (no PTE table there, or the PTE maps something else). The entry's words are
 * left in E; nothing is locked (the caller takes the PTL, as map_pte() would).
 */
export function page_vma_mapped_pte(mm: MmStruct, addr: number, pfn: number): number {
  const pteT = mm.find_pte_table(addr);
  if (pteT === 0) return 0;
  readEntry(mm.machine.phys, pteT, pte_index(addr));
  return pte_present(E.lo) && entry_pfn(E.lo, E.hi) === pfn ? pteT : 0;
}

/**
 * page_vma_mapped_walk() for one page, as its rmap users call it: page_vma_mapped_pte(), and on a
 * match the PTE table's lock taken (map_pte() + spin_lock(pvmw->ptl)); the caller releases it with
 * ptlUnlock() (page_vma_mapped_walk_done()). The PTE table or 0; the entry's words are left in E.
 */
export function page_vma_mapped_walk(mm: MmStruct, addr: number, pfn: number): number {
  const pteT = page_vma_mapped_pte(mm, addr, pfn);
  if (pteT !== 0) ptlLock(mm.machine.phys, mm.machine.counters, pteT);
  return pteT;
}
