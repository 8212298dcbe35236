// Page migration (mm/migrate.c, mm/rmap.c try_to_migrate(), Linux 6.18), for order-0 anon and
// KSM folios: every mapping is replaced by a migration entry, the contents and state move to a
// new folio, and remove_migration_ptes() maps the new folio where the entries were. A fault or
// lookup that meets a migration entry waits (migration_entry_wait()) until the move is done.

import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SWP_SOFT_DIRTY,
  entryOut,
  is_migration_type,
  mk_pte,
  mk_swp_pte,
  pte_present,
  pte_soft_dirty,
  pte_write,
  SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE,
  SWP_MIGRATION_WRITE,
  swp_offset,
  swp_type,
} from './arch.ts';
import { split_folio } from './huge_memory.ts';
import type { Machine } from './machine.ts';
import { page_vma_mapped_walk } from './page_vma_mapped.ts';
import { E, pte_index, ptlLock, ptlUnlock, readEntry, setEntry } from './pgtable.ts';
import {
  PG_anon_exclusive,
  PG_dirty,
  PG_lazyfree,
  PG_locked,
  PG_swapbacked,
  PG_swapcache,
} from './physmem.ts';
import { folio_remove_rmap_pte, rmap_walk } from './rmap.ts';

/** A migration between try_to_migrate() and remove_migration_ptes(). */
export interface Migration {
  readonly src: number;
  readonly dst: number;
  done: boolean;
}

/**
 * Start migrating an order-0 anon or KSM folio (a large folio is split first): allocate the
 * destination, lock the source and replace every mapping with a migration entry. Returns null
 * when the folio cannot be migrated now (locked, extra references, no memory).
 */
export function migrate_folio_start(
  m: Machine,
  folio: number,
  nid: number = m.phys.nid[folio],
): Migration | null {
  const pm = m.phys;
  if (!pm.PageAnon(folio) || (pm.flags[folio] & PG_locked) !== 0) return null;
  pm.get_page(folio); // isolation reference
  if (pm.folio_test_large(folio) && split_folio(m, folio) !== 0) {
    pm.put_page(folio);
    return null;
  }
  // folio_migrate_mapping(): only the mappings and our isolation reference may hold the folio;
  // anything more (a pin, a GUP reference) makes the migration fail with -EAGAIN.
  const expected = pm.folio_mapcount(folio) + 1 + ((pm.flags[folio] & PG_swapcache) !== 0 ? 1 : 0);
  if (pm.refcount[folio] !== expected) {
    pm.put_page(folio);
    return null;
  }
  pm.allocNid = nid; // the destination node (by default the folio's own)
  const dst = pm.alloc_pages(0);
  if (dst === 0) {
    pm.put_page(folio);
    return null;
  }
  pm.flags[folio] |= PG_locked;
  rmap_walk(m, folio, (vma, addr) => {
    const mm = vma.vm_mm;
    const pteT = page_vma_mapped_walk(mm, addr, folio);
    if (pteT === 0) return true;
    const idx = pte_index(addr);
    const type = pte_write(E.lo)
      ? SWP_MIGRATION_WRITE
      : pm.PageAnonExclusive(folio)
        ? SWP_MIGRATION_READ_EXCLUSIVE
        : SWP_MIGRATION_READ;
    let flags = 0;
    if (pte_soft_dirty(E.lo)) flags |= _PAGE_SWP_SOFT_DIRTY;
    if ((E.lo & _PAGE_DIRTY) !== 0) pm.flags[folio] |= PG_dirty;
    mk_swp_pte(type, folio, flags);
    setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
    m.counters.tlbFlushes++;
    folio_remove_rmap_pte(pm, folio, mm);
    ptlUnlock(pm, m.counters, pteT);
    pm.put_page(folio);
    return true;
  });
  if (pm.folio_mapped(folio)) {
    // try_to_migrate() could not reach every mapping (migrate_pages_batch(): the folio is still
    // mapped): undo, as migrate_folio_undo_src() does with remove_migration_ptes(src, src).
    remove_migration_ptes(m, folio, folio);
    pm.flags[folio] &= ~PG_locked;
    pm.put_page(dst);
    pm.put_page(folio);
    return null;
  }
  const mig: Migration = { src: folio, dst, done: false };
  m.migrations.set(folio, mig);
  return mig;
}

/** Finish a migration: move contents and state, then map the destination (move_to_new_folio(),
 * remove_migration_ptes()). */
export function migrate_folio_finish(m: Machine, mig: Migration): void {
  if (mig.done) return;
  mig.done = true;
  m.migrations.delete(mig.src);
  const pm = m.phys;
  const { src, dst } = mig;
  pm.copy_page(dst, src);
  pm.mapping[dst] = pm.mapping[src];
  pm.index[dst] = pm.index[src];
  pm.flags[dst] |= pm.flags[src] & (PG_anon_exclusive | PG_dirty | PG_swapbacked | PG_lazyfree);
  if ((pm.flags[src] & PG_swapcache) !== 0) {
    // folio_migrate_mapping(): the swap cache entry and its reference move to the new folio.
    const off = pm.private[src];
    pm.flags[dst] |= PG_swapcache;
    pm.private[dst] = off;
    m.swap.cache.set(off, dst);
    pm.get_page(dst);
    pm.flags[src] &= ~PG_swapcache;
    pm.private[src] = 0;
    pm.put_page(src);
  }
  if (pm.PageKsm(src)) m.hooks.folio_migrate_ksm(dst, src);
  remove_migration_ptes(m, src, dst);
  pm.flags[src] &= ~PG_locked;
  // Drop the allocation reference of dst (its mappings hold their own) and the source's
  // isolation reference: the source is freed.
  pm.put_page(dst);
  if (pm.PageKsm(src)) pm.mapping[src] = 0;
  pm.put_page(src);
  m.vmstat.pgmigrate_success++;
}

/** remove_migration_ptes(): map `dst` wherever a migration entry for `src` is (dst == src
 * restores the source after a failed migration). */
function remove_migration_ptes(m: Machine, src: number, dst: number): void {
  const pm = m.phys;
  rmap_walk(m, dst, (vma, addr) => {
    const mm = vma.vm_mm;
    const pteT = mm.find_pte_table(addr);
    if (pteT === 0) return true;
    const idx = pte_index(addr);
    readEntry(pm, pteT, idx);
    const lo = E.lo;
    const hi = E.hi;
    if (
      pte_present(lo) ||
      (lo === 0 && hi === 0) ||
      !is_migration_type(swp_type(lo, hi)) ||
      swp_offset(lo, hi) !== src
    )
      return true;
    ptlLock(pm, m.counters, pteT);
    let nlo = vma.protLo | _PAGE_ACCESSED;
    if ((lo & _PAGE_SWP_SOFT_DIRTY) !== 0) nlo |= _PAGE_SOFT_DIRTY;
    if (swp_type(lo, hi) === SWP_MIGRATION_WRITE) nlo |= _PAGE_RW | _PAGE_DIRTY;
    else nlo &= ~_PAGE_RW;
    mk_pte(dst, nlo, vma.protHi);
    setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
    pm.get_page(dst);
    pm.mapcount[dst]++;
    ptlUnlock(pm, m.counters, pteT);
    return true;
  });
}

/** migrate_pages() for one folio: the new PFN, or 0 when it could not be migrated. */
export function migrate_folio(m: Machine, folio: number, nid?: number): number {
  const mig = migrate_folio_start(m, folio, nid);
  if (mig === null) return 0;
  m.reach('migrate:unmapped', mig);
  migrate_folio_finish(m, mig);
  return mig.dst;
}

/** migration_entry_wait(): sleep until the migration of `pfn` completed. In the simulator the
 * waiter runs the rest of that migration (the migrating context would finish it meanwhile). */
export function migration_entry_wait(m: Machine, pfn: number): void {
  const mig = m.migrations.get(pfn);
  if (mig !== undefined) migrate_folio_finish(m, mig);
}
