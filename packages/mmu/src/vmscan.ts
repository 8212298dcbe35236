// Reclaim of anonymous folios to swap (mm/vmscan.c shrink_folio_list(), mm/rmap.c
// try_to_unmap(), mm/swap_state.c), as MADV_PAGEOUT drives it: add the folio to the swap cache,
// replace every mapping by a swap entry, write it out and free it.

import {
  _PAGE_DIRTY,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  entryOut,
  mk_swp_pte,
  pte_soft_dirty,
} from './arch.ts';
import { ZERO_CONTENT } from './content.ts';
import { split_folio, split_folio_pmds } from './huge_memory.ts';
import type { Machine } from './machine.ts';
import { MM_ANONPAGES, MM_SWAPENTS } from './mm.ts';
import { page_vma_mapped_pte, page_vma_mapped_walk } from './page_vma_mapped.ts';
import { E, pte_index, ptlLock, ptlUnlock, setEntry } from './pgtable.ts';
import { PG_dirty, PG_lazyfree, PG_locked, PG_swapcache } from './physmem.ts';
import { folio_maybe_dma_pinned, folio_remove_rmap_pte, rmap_walk, vma_address } from './rmap.ts';

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

/** free_swap_cache() (mm/swap_state.c): drop an unmapped folio from the swap cache once no swap
 * PTE refers to its slot any more. */
export function free_swap_cache(m: Machine, folio: number): void {
  const pm = m.phys;
  if (
    (pm.flags[folio] & (PG_swapcache | PG_locked)) === PG_swapcache &&
    !pm.folio_mapped(folio) &&
    m.swap.swapCount(pm.private[folio]) === 0
  )
    swapcache_delete(m, folio);
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
  if ((pm.flags[folio] & PG_lazyfree) !== 0) return discard_lazyfree(m, folio);
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
    const pteT = page_vma_mapped_walk(mm, addr, folio);
    if (pteT === 0) return true;
    const idx = pte_index(addr);
    let flags = 0;
    if (pm.PageAnonExclusive(folio)) flags |= _PAGE_SWP_EXCLUSIVE;
    if (pte_soft_dirty(E.lo)) flags |= _PAGE_SWP_SOFT_DIRTY;
    mk_swp_pte(0, off, flags);
    setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
    m.counters.tlbFlushes++;
    m.swap.duplicate(off);
    folio_remove_rmap_pte(pm, folio, mm);
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
  m.swap.write(off, pm.isZeroFilled(folio) ? ZERO_CONTENT : pm.getFrameContent(folio));
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

/**
 * Reclaim of a lazyfree (MADV_FREE) folio, which needs no swap: try_to_unmap_one() (mm/rmap.c,
 * 6.18) with TTU_SPLIT_HUGE_PMD clears each PTE and drops the mapping while the folio is clean
 * and nobody else holds it (refcount = isolation + mappings); a PTE written since (dirty) puts
 * the folio back to swap-backed, keeps its mapping and ends the walk. Where the kernel has
 * KernelProfile.mm.lazyfreePmdDiscard (6.11-6.12.116), a clean PMD mapping is dropped whole
 * first (unmap_huge_pmd_locked()) and only the others are split. The caller's isolation
 * reference is dropped here. Returns the pages freed.
 */
function discard_lazyfree(m: Machine, folio: number): number {
  const pm = m.phys;
  const nr = pm.folio_nr_pages(folio);
  split_folio_pmds(m, folio, m.kernel.mm.lazyfreePmdDiscard);
  let redirtied = false;
  rmap_walk(m, folio, (vma) => {
    const mm = vma.vm_mm;
    for (let i = 0; i < nr && !redirtied; i++) {
      const addr = vma_address(vma, pm.index[folio] + i);
      if (addr < 0) continue;
      const pteT = page_vma_mapped_pte(mm, addr, folio + i);
      if (pteT === 0) continue;
      const idx = pte_index(addr);
      // A dirty PTE makes the folio dirty (folio_mark_dirty()); a dirty folio is not discarded, also
      // when another mapping dirtied it (seed 501253: ksmd's write_protect_page() in the parent).
      const dirty = (E.lo & _PAGE_DIRTY) !== 0 || (pm.flags[folio] & PG_dirty) !== 0;
      if (dirty || pm.refcount[folio] !== 1 + pm.folio_mapcount(folio)) {
        pm.flags[folio] &= ~PG_lazyfree; // folio_set_swapbacked()
        redirtied = true;
        break;
      }
      ptlLock(pm, m.counters, pteT);
      setEntry(pm, pteT, idx, 0, 0);
      m.counters.tlbFlushes++;
      folio_remove_rmap_pte(pm, folio + i, mm);
      mm.add_mm_counter(MM_ANONPAGES, -1);
      ptlUnlock(pm, m.counters, pteT);
      pm.put_page(folio + i);
    }
    return !redirtied;
  });
  const freed = pm.folio_mapped(folio) ? 0 : nr;
  pm.put_page(folio);
  return freed;
}
