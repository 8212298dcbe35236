// Folio state the /proc views need and mmu does not keep as flags.

import { PG_buddy, PG_filecache, PG_lazyfree, PG_swapbacked, PG_table, type PhysMem } from '@mmsim/mmu';

/**
 * folio_test_swapbacked(). The kernel sets PG_swapbacked on every anon folio
 * (folio_add_new_anon_rmap(), swap-in) and on shmem folios, and clears it only for MADV_FREE
 * (lazyfree) folios. mmu keeps the inverse, PG_lazyfree, and marks the page cache of regular
 * files, which is never swap-backed, PG_filecache: any other folio with a mapping (anon, KSM or
 * shmem) counts as swap-backed unless it is lazyfree.
 */
export function folio_test_swapbacked(pm: PhysMem, folio: number): boolean {
  if ((pm.flags[folio] & (PG_lazyfree | PG_filecache)) !== 0) return false;
  return (pm.flags[folio] & PG_swapbacked) !== 0 || isMappedFolio(pm, folio);
}

/** An allocated anon/KSM/shmem/page-cache folio (page->mapping set, not free, not a page table). */
export function isMappedFolio(pm: PhysMem, folio: number): boolean {
  return pm.mapping[folio] !== 0 && (pm.flags[folio] & (PG_buddy | PG_table)) === 0;
}
