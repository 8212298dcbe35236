// Page-table lookups for the break_ksm() strategies: a single-address folio_walk, follow_page()
// as Linux 6.0/6.1 had it, and a minimal walk_page_range_vma() with pud/pmd callbacks.
//
// TEMPORARY: these stand in for @mmsim/pagewalk and @mmsim/gup, which were being written in
// parallel when KSM landed; the strategies move onto those packages once they exist (issue 5).
// The semantics and the counted costs mirror mm/pagewalk.c and mm/gup.c for the cases KSM meets.

import { EINVAL, PAGE_SIZE, PMD_SIZE, PUD_SIZE, tableIndex } from '@mmsim/core';
import {
  E,
  entry_pfn,
  is_migration_entry,
  migration_entry_wait,
  pmd_leaf,
  pte_index,
  pte_present,
  ptlLock,
  ptlUnlock,
  readEntry,
  swp_offset,
  type VmAreaStruct,
  vm_normal_page,
} from '@mmsim/mmu';

export const FOLL_GET = 0x04;
export const FOLL_MIGRATION = 0x400;
export const FOLL_REMOTE = 0x2000;
export const FW_MIGRATION = 1 << 0;
export const FW_ZEROPAGE = 1 << 1;
export const PGWALK_RDLOCK = 0;
export const PGWALK_WRLOCK = 1;

/** The PUD entry pmdOf() passed through. */
const pudEntry = { lo: 0, hi: 0 };

/** Descend to the PMD entry for addr, counting entries read; returns the PMD table or 0. */
function pmdOf(vma: VmAreaStruct, addr: number): number {
  const mm = vma.vm_mm;
  const c = mm.machine.counters;
  const pm = mm.machine.phys;
  let t = mm.pgd;
  if (mm.levels === 5) {
    readEntry(pm, t, tableIndex(addr, 48));
    c.pgdRead++;
    if (E.lo === 0 && E.hi === 0) return 0;
    t = entry_pfn(E.lo, E.hi);
  } else c.pgdRead++;
  readEntry(pm, t, tableIndex(addr, 39));
  c.p4dRead++;
  if (E.lo === 0 && E.hi === 0) return 0;
  t = entry_pfn(E.lo, E.hi);
  readEntry(pm, t, tableIndex(addr, 30));
  c.pudRead++;
  pudEntry.lo = E.lo;
  pudEntry.hi = E.hi;
  if ((E.lo === 0 && E.hi === 0) || pmd_leaf(E.lo)) return 0;
  const pmdT = entry_pfn(E.lo, E.hi);
  readEntry(pm, pmdT, tableIndex(addr, 21));
  c.pmdRead++;
  return pmdT;
}

/** struct folio_walk (the fields break_ksm reads). */
export class FolioWalk {
  lo = 0;
  hi = 0;
  table = 0;
}

/** folio_walk_start() for one PTE-mapped address; returns the folio or 0, PTL held on success. */
export function folio_walk_start(fw: FolioWalk, vma: VmAreaStruct, addr: number, flags: number): number {
  const m = vma.vm_mm.machine;
  const pm = m.phys;
  m.counters.walks++;
  const pmdT = pmdOf(vma, addr);
  if (pmdT === 0) return 0;
  const plo = E.lo;
  const phi = E.hi;
  if (plo === 0 && phi === 0) return 0;
  if (pmd_leaf(plo)) {
    const pfn = entry_pfn(plo, phi);
    if (pm.is_huge_zero_pfn(pfn)) return 0;
    return pm.folio(pfn) !== 0 && (plo & 1) !== 0 ? pm.folio(pfn) : 0;
  }
  const pteT = entry_pfn(plo, phi);
  ptlLock(pm, m.counters, pteT);
  readEntry(pm, pteT, pte_index(addr));
  m.counters.pteRead++;
  fw.lo = E.lo;
  fw.hi = E.hi;
  fw.table = pteT;
  let folio = 0;
  if (pte_present(E.lo)) {
    const page = vm_normal_page(pm, E.lo, E.hi);
    if (page !== 0) folio = pm.folio(page);
    else if ((flags & FW_ZEROPAGE) !== 0 && pm.is_zero_pfn(entry_pfn(E.lo, E.hi))) folio = pm.zeroPfn;
  } else if ((flags & FW_MIGRATION) !== 0 && is_migration_entry(E.lo, E.hi)) {
    folio = pm.folio(swp_offset(E.lo, E.hi));
  }
  if (folio === 0) ptlUnlock(pm, m.counters, pteT);
  return folio;
}

/** folio_walk_end(): drop the PTL folio_walk_start() kept. */
export function folio_walk_end(fw: FolioWalk, vma: VmAreaStruct): void {
  ptlUnlock(vma.vm_mm.machine.phys, vma.vm_mm.machine.counters, fw.table);
}

/**
 * follow_page() of Linux 6.0/6.1 for a PTE-mapped address: the page (referenced with FOLL_GET;
 * the zero page is returned without a reference), 0 for NULL. With FOLL_MIGRATION a migration
 * entry is waited for and the lookup retried.
 */
export function follow_page(vma: VmAreaStruct, addr: number, flags: number, _profile: string): number {
  const m = vma.vm_mm.machine;
  const pm = m.phys;
  m.counters.followPage++;
  for (;;) {
    const pmdT = pmdOf(vma, addr);
    if (pmdT === 0) return 0;
    const plo = E.lo;
    const phi = E.hi;
    if ((plo === 0 && phi === 0) || (plo & 1) === 0) return 0;
    if (pmd_leaf(plo)) {
      const pfn = entry_pfn(plo, phi);
      if (pm.is_huge_zero_pfn(pfn)) return pfn;
      const page = pfn + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
      if ((flags & FOLL_GET) !== 0) pm.get_page(page);
      return page;
    }
    const pteT = entry_pfn(plo, phi);
    ptlLock(pm, m.counters, pteT);
    readEntry(pm, pteT, pte_index(addr));
    m.counters.pteRead++;
    const lo = E.lo;
    const hi = E.hi;
    if (!pte_present(lo)) {
      ptlUnlock(pm, m.counters, pteT);
      if ((flags & FOLL_MIGRATION) !== 0 && is_migration_entry(lo, hi)) {
        migration_entry_wait(m, swp_offset(lo, hi));
        continue;
      }
      return 0;
    }
    let page = vm_normal_page(pm, lo, hi);
    if (page === 0)
      page = pm.is_zero_pfn(entry_pfn(lo, hi)) ? pm.zeroPfn : -17; // -EEXIST
    else if ((flags & FOLL_GET) !== 0) pm.get_page(page);
    ptlUnlock(pm, m.counters, pteT);
    return page;
  }
}

/** struct mm_walk (what the callbacks read). */
export interface MmWalk {
  vma: VmAreaStruct | null;
  private: unknown;
  lo: number;
  hi: number;
}

type EntryFn = (walk: MmWalk, addr: number, next: number) => number;

export interface MmWalkOps {
  pud_entry: EntryFn | null;
  pmd_entry: EntryFn | null;
  walk_lock: number;
}

export function mmWalkOps(p: Partial<MmWalkOps>): MmWalkOps {
  return {
    pud_entry: p.pud_entry ?? null,
    pmd_entry: p.pmd_entry ?? null,
    walk_lock: p.walk_lock ?? PGWALK_RDLOCK,
  };
}

const theWalk: MmWalk = { vma: null, private: null, lo: 0, hi: 0 };

/**
 * walk_page_range_vma() for ops with pud_entry/pmd_entry only (no pte_entry: nothing is split):
 * none entries are skipped at their level; a non-zero callback result ends the walk.
 */
export function walk_page_range_vma(
  vma: VmAreaStruct,
  start: number,
  end: number,
  ops: MmWalkOps,
  priv: unknown,
): number {
  if (start >= end || start < vma.vm_start || end > vma.vm_end) return -EINVAL;
  const mm = vma.vm_mm;
  mm.mmap_assert_locked();
  if (ops.walk_lock === PGWALK_WRLOCK) vma.vmaWriteLocked = true;
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  c.walks++;
  theWalk.vma = vma;
  theWalk.private = priv;
  let addr = start;
  while (addr < end) {
    const pudEnd = Math.min(end, addr - (addr % PUD_SIZE) + PUD_SIZE);
    const pmdT = pmdOf(vma, addr);
    if (pmdT === 0) {
      addr = pudEnd;
      continue;
    }
    if (ops.pud_entry !== null) {
      theWalk.lo = pudEntry.lo;
      theWalk.hi = pudEntry.hi;
      c.walkCallbacks++;
      const r = ops.pud_entry(theWalk, addr, pudEnd);
      if (r !== 0) return r;
    }
    for (; addr < pudEnd; ) {
      const next = Math.min(pudEnd, addr - (addr % PMD_SIZE) + PMD_SIZE);
      readEntry(pm, pmdT, tableIndex(addr, 21));
      if (addr !== start) c.pmdRead++;
      if ((E.lo !== 0 || E.hi !== 0) && ops.pmd_entry !== null) {
        theWalk.lo = E.lo;
        theWalk.hi = E.hi;
        c.walkCallbacks++;
        const r = ops.pmd_entry(theWalk, addr, next);
        if (r !== 0) return r;
      }
      addr = next;
    }
  }
  return 0;
}
