// Reclaim of anonymous folios to swap (mm/vmscan.c shrink_folio_list(), mm/rmap.c
// try_to_unmap(), mm/swap_state.c), as MADV_PAGEOUT drives it: add the folio to the swap cache,
// replace every mapping by a swap entry, write it out and free it.

import { PAGE_SIZE } from '@mmsim/core';
import {
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  entry_pfn,
  entryOut,
  mk_swp_pte,
  pte_present,
  pte_soft_dirty,
} from './arch.ts';
import { split_folio } from './huge_memory.ts';
import type { Machine } from './machine.ts';
import { MM_ANONPAGES, MM_SWAPENTS } from './mm.ts';
import { E, pte_index, ptlLock, ptlUnlock, readEntry, setEntry } from './pgtable.ts';
import { PG_locked, PG_swapcache } from './physmem.ts';
import { folio_maybe_dma_pinned, folio_remove_rmap_pte, rmap_walk } from './rmap.ts';

const pageBuf = new Uint8Array(PAGE_SIZE);

/** delete_from_swap_cache()/folio_free_swap(): the cache's reference goes with it. */
export function swapcache_delete(m: Machine, folio: number): void {
  const pm = m.phys;
  const off = pm.private[folio];
  pm.flags[folio] &= ~PG_swapcache;
  pm.private[folio] = 0;
  m.swap.cache.delete(off);
  m.swap.maybeRelease(off);
  pm.put_page(folio);
}

/**
 * Swap one anonymous folio out (reclaim_folio_list() for MADV_PAGEOUT). Large folios are split
 * first. Returns the number of pages freed (0 if the folio could not be reclaimed: pinned,
 * locked, or no swap space).
 */
export function reclaim_folio(m: Machine, folio: number): number {
  const pm = m.phys;
  if (!pm.PageAnon(folio) || (pm.flags[folio] & PG_locked) !== 0) return 0;
  if (folio_maybe_dma_pinned(pm, folio)) return 0;
  pm.get_page(folio); // isolate_lru_folio()'s reference
  if (pm.folio_test_large(folio) && split_folio(m, folio) !== 0) {
    pm.put_page(folio);
    return 0;
  }
  let off: number;
  if ((pm.flags[folio] & PG_swapcache) !== 0) off = pm.private[folio];
  else {
    off = m.swap.allocSlot();
    if (off === 0) {
      pm.put_page(folio);
      return 0;
    }
    pm.flags[folio] |= PG_swapcache;
    pm.private[folio] = off;
    m.swap.cache.set(off, folio);
    pm.get_page(folio); // the swap cache's reference
  }
  // try_to_unmap(): every PTE mapping becomes a swap entry.
  rmap_walk(m, folio, (vma, addr) => {
    const mm = vma.vm_mm;
    const pteT = mm.find_pte_table(addr);
    if (pteT === 0) return true;
    const idx = pte_index(addr);
    readEntry(pm, pteT, idx);
    if (!pte_present(E.lo) || entry_pfn(E.lo, E.hi) !== folio) return true;
    ptlLock(pm, m.counters, pteT);
    let flags = 0;
    if (pm.PageAnonExclusive(folio)) flags |= _PAGE_SWP_EXCLUSIVE;
    if (pte_soft_dirty(E.lo)) flags |= _PAGE_SWP_SOFT_DIRTY;
    mk_swp_pte(0, off, flags);
    setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
    m.counters.tlbFlushes++;
    m.swap.duplicate(off);
    folio_remove_rmap_pte(pm, folio);
    mm.add_mm_counter(MM_ANONPAGES, -1);
    mm.add_mm_counter(MM_SWAPENTS, 1);
    ptlUnlock(pm, m.counters, pteT);
    pm.put_page(folio);
    return true;
  });
  if (pm.folio_mapped(folio)) {
    pm.put_page(folio);
    return 0;
  }
  // pageout() + __remove_mapping(): write the data, drop the cache and the folio.
  if (pm.isZeroFilled(folio)) m.swap.write(off, null);
  else {
    pm.readBytes(folio, 0, pageBuf, 0, PAGE_SIZE);
    m.swap.write(off, pageBuf);
  }
  m.vmstat.pswpout++;
  if (pm.refcount[folio] !== 2) {
    // someone else holds a reference: keep it in the swap cache
    pm.put_page(folio);
    return 0;
  }
  swapcache_delete(m, folio);
  pm.put_page(folio);
  return 1;
}
