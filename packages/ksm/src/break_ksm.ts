// Every break_ksm() of mm/ksm.c's history, selectable on the same state (docs/kernel/
// ksm-6.18.md §5, docs/kernel/ksm.md §3.10). Each strategy unmerges [start, end) of one VMA; the
// per-address ones are driven by unmerge_ksm_pages() as the kernel did until 6.19.
//
// Every strategy also unshares KSM-placed zero pages (the ~6.6 rule), so that all of them act
// identically on the same state and only their cost differs.

import { type BreakKsmKind, KERNEL_PROFILES, type KernelProfile, PAGE_SIZE } from '@mmsim/core';
import { FOLL_GET, FOLL_MIGRATION, FOLL_REMOTE, follow_page } from '@mmsim/gup';
import {
  E,
  entry_pfn,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  is_ksm_zero_pte,
  is_migration_entry,
  pmd_leaf,
  pte_index,
  pte_present,
  ptlLock,
  ptlUnlock,
  readEntry,
  swp_offset,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_FAULT_WRITE,
  type VmAreaStruct,
  vm_normal_page,
} from '@mmsim/mmu';
import {
  ACTION_AGAIN,
  FolioWalk,
  FW_MIGRATION,
  FW_ZEROPAGE,
  folio_walk_end,
  folio_walk_start,
  type MmWalk,
  mmWalkOps,
  PGWALK_RDLOCK,
  PGWALK_WRLOCK,
  walk_page_range_vma,
} from '@mmsim/pagewalk';
import type { Ksm } from './ksm.ts';

/** A break_ksm() implementation: unmerge every KSM page (and KSM zero page) in [start, end). */
export interface BreakKsmStrategy {
  readonly name: string;
  /** Which kernel shipped it (or "mmsim" for our own). */
  readonly kernel: string;
  readonly description: string;
  /** 0, or a negative errno (-ENOMEM when a fault ran out of memory). */
  unmerge(ksm: Ksm, vma: VmAreaStruct, start: number, end: number, lock_vma: boolean): number;
}

const ENOMEM = 12;
const STOP = VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_OOM;

/** The PTE at addr (under its PTL) is a KSM page, a migration entry of one, or a KSM zero page:
 * the body shared by the walker callbacks of (D), (E) and (I). */
function pteIsKsm(ksm: Ksm, lo: number, hi: number): boolean {
  const pm = ksm.m.phys;
  let page = 0;
  if (pte_present(lo)) page = vm_normal_page(pm, lo, hi);
  else if (is_migration_entry(lo, hi)) page = swp_offset(lo, hi);
  return (page !== 0 && pm.PageKsm(page)) || is_ksm_zero_pte(pm, lo, hi);
}

/** Map the PTE table under a PMD callback's entry and test the PTE at addr (pte_offset_map_lock). */
function pmdCallbackTest(walk: MmWalk, addr: number): number {
  const ksm = walk.private as Ksm;
  const pm = ksm.m.phys;
  if (pmd_leaf(walk.lo) || (walk.lo & 1) === 0) return 0;
  const pteT = entry_pfn(walk.lo, walk.hi);
  ptlLock(pm, ksm.m.counters, pteT);
  readEntry(pm, pteT, pte_index(addr));
  ksm.m.counters.pteRead++;
  const r = pteIsKsm(ksm, E.lo, E.hi) ? 1 : 0;
  ptlUnlock(pm, ksm.m.counters, pteT);
  return r;
}

/** The fault every post-6.1 variant uses. */
function unshare(vma: VmAreaStruct, addr: number): number {
  return handle_mm_fault(vma, addr, FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE);
}

/** unmerge_ksm_pages(): break_ksm() address by address (until Linux 6.19). */
function perAddress(breakOne: (ksm: Ksm, vma: VmAreaStruct, addr: number, lock_vma: boolean) => number) {
  return (ksm: Ksm, vma: VmAreaStruct, start: number, end: number, lock_vma: boolean): number => {
    let err = 0;
    for (let addr = start; addr < end && err === 0; addr += PAGE_SIZE) {
      if (vma.vm_mm.mm_users === 0) break;
      err = breakOne(ksm, vma, addr, lock_vma);
    }
    return err;
  };
}

/** (A) Linux 6.0/6.1: follow_page(FOLL_GET|FOLL_MIGRATION|FOLL_REMOTE), then a WRITE fault;
 * one lookup + one fault per merged page. The 6.0 fault reported VM_FAULT_WRITE whenever it
 * broke COW; mmsim's fault is 6.18's (0 on success), so a 0 from the write fault counts as it. */
export const followPageStrategy: BreakKsmStrategy = {
  name: 'follow_page',
  kernel: '6.0/6.1',
  description: 'follow_page(FOLL_GET|FOLL_MIGRATION) + FAULT_FLAG_WRITE, looping on VM_FAULT_WRITE',
  unmerge: perAddress((ksm, vma, addr) => {
    const pm = ksm.m.phys;
    let ret = 0;
    do {
      const page = follow_page(vma, addr, FOLL_GET | FOLL_MIGRATION | FOLL_REMOTE, KERNEL_PROFILES['6.1']);
      if (page <= 0) break;
      if (pm.PageKsm(page) || isKsmZeroAt(ksm, vma, addr)) {
        ret = handle_mm_fault(vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
        if ((ret & STOP) === 0) ret |= VM_FAULT_WRITE;
      } else ret = VM_FAULT_WRITE;
      pm.put_page(page);
    } while ((ret & (VM_FAULT_WRITE | STOP)) === 0);
    return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
  }),
};

/** is_ksm_zero_pte() at addr, reading the PTE directly (used by the follow_page strategy, whose
 * 6.0 original predates KSM zero pages). */
function isKsmZeroAt(ksm: Ksm, vma: VmAreaStruct, addr: number): boolean {
  const pteT = vma.vm_mm.find_pte_table(addr);
  if (pteT === 0) return false;
  readEntry(ksm.m.phys, pteT, pte_index(addr));
  return is_ksm_zero_pte(ksm.m.phys, E.lo, E.hi);
}

/** (D) the thread's v1 6/7: walk_page_range_vma(addr, addr + PAGE_SIZE) with pud_entry and
 * pmd_entry callbacks; two walks + one fault per merged page. (v1's missing unlock on a none
 * PTE is fixed here, as v2 did.) */
const pudPmdOps = mmWalkOps({
  pud_entry: (walk) => (pmd_leaf(walk.lo) || (walk.lo & 1) === 0 ? 1 : 0),
  pmd_entry: (walk, addr) => {
    // v1 always returned 1 (one page looked up: stop) and reported KSM-ness through private.
    (walk.private as Ksm).walkHit = pmdCallbackTest(walk, addr);
    return 1;
  },
  walk_lock: PGWALK_RDLOCK,
});

export const walkPudPmdStrategy: BreakKsmStrategy = {
  name: 'walk_pud_pmd',
  kernel: 'v1 6/7 (2022, never merged)',
  description: 'walk_page_range_vma(addr, addr+PAGE_SIZE) with pud_entry + pmd_entry, FAULT_FLAG_UNSHARE',
  unmerge: perAddress((ksm, vma, addr) => {
    let ret = 0;
    do {
      ksm.walkHit = 0;
      const r = walk_page_range_vma(vma, addr, addr + PAGE_SIZE, pudPmdOps, ksm);
      if (r < 0) return r;
      if (ksm.walkHit === 0) return 0;
      ret = unshare(vma, addr);
    } while ((ret & STOP) === 0);
    return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
  }),
};

/** (E) Linux 6.2 (v2 8/9): walk_page_range_vma(addr, addr + 1) with only a pmd_entry whose return
 * value is the answer; two walks + one fault per merged page. (F/G, 6.5/6.6, add the lock mode and
 * the KSM zero pages to this same shape.) */
const pmdOps = mmWalkOps({
  pmd_entry: (walk, addr) => pmdCallbackTest(walk, addr),
  walk_lock: PGWALK_RDLOCK,
});
const pmdOpsLockVma = mmWalkOps({
  pmd_entry: (walk, addr) => pmdCallbackTest(walk, addr),
  walk_lock: PGWALK_WRLOCK,
});

export const walkPmdStrategy: BreakKsmStrategy = {
  name: 'walk_pmd',
  kernel: '6.2-6.11',
  description: 'walk_page_range_vma(addr, addr+1) with pmd_entry only, FAULT_FLAG_UNSHARE',
  unmerge: perAddress((ksm, vma, addr, lock_vma) => {
    let ret = 0;
    do {
      const r = walk_page_range_vma(vma, addr, addr + 1, lock_vma ? pmdOpsLockVma : pmdOps, ksm);
      if (r < 0) return r;
      if (r === 0) return 0;
      ret = unshare(vma, addr);
    } while ((ret & STOP) === 0);
    return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
  }),
};

/** (H) Linux 6.12 .. 6.18 — the live kernel's: folio_walk_start(FW_MIGRATION | FW_ZEROPAGE) per
 * address; two lookups + one fault per merged page. */
const fw = new FolioWalk();

export const folioWalkStrategy: BreakKsmStrategy = {
  name: 'folio_walk',
  kernel: '6.12-6.18',
  description: 'folio_walk_start(FW_MIGRATION|FW_ZEROPAGE) per address, FAULT_FLAG_UNSHARE',
  unmerge: perAddress((ksm, vma, addr, lock_vma) => {
    const pm = ksm.m.phys;
    if (lock_vma) vma.vmaWriteLocked = true; // vma_start_write()
    let ret = 0;
    do {
      let isKsm = false;
      const folio = folio_walk_start(fw, vma, addr, FW_MIGRATION | FW_ZEROPAGE);
      if (folio !== 0) {
        if (!pm.folio_test_large(folio) && (pm.PageKsm(folio) || is_ksm_zero_pte(pm, fw.lo, fw.hi)))
          isKsm = true;
        folio_walk_end(fw, vma);
      }
      if (!isKsm) return 0;
      ret = unshare(vma, addr);
    } while ((ret & STOP) === 0);
    return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
  }),
};

/** (I) Linux 6.19 (Pedro Demarchi Gomes, 2025): one walk_page_range_vma() over the whole range,
 * its pmd_entry scanning the PTEs for the first KSM page; walking resumes after each fault.
 * Holes are skipped a whole level at a time. */
const rangeCursor = { addr: 0 };
function rangePmdEntry(walk: MmWalk, addr: number, next: number): number {
  const ksm = walk.private as Ksm;
  const pm = ksm.m.phys;
  const c = ksm.m.counters;
  if (walk.vma!.vm_mm.mm_users === 0) return 0;
  if (pmd_leaf(walk.lo) || (walk.lo & 1) === 0) return 0;
  const pteT = entry_pfn(walk.lo, walk.hi);
  ptlLock(pm, c, pteT);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  let found = 0;
  for (let a = addr; a < next; a += PAGE_SIZE) {
    const o = base + pte_index(a) * 2;
    c.pteRead++;
    const lo = w[o];
    const hi = w[o + 1];
    if (lo === 0 && hi === 0) continue;
    if (pteIsKsm(ksm, lo, hi)) {
      rangeCursor.addr = a;
      found = 1;
      break;
    }
  }
  ptlUnlock(pm, c, pteT);
  return found;
}
const rangeOps = mmWalkOps({ pmd_entry: rangePmdEntry, walk_lock: PGWALK_RDLOCK });
const rangeOpsLockVma = mmWalkOps({ pmd_entry: rangePmdEntry, walk_lock: PGWALK_WRLOCK });

export const rangeWalkStrategy: BreakKsmStrategy = {
  name: 'range_walk',
  kernel: '6.19',
  description: 'one walk_page_range_vma(start, end) per KSM page found, FAULT_FLAG_UNSHARE',
  unmerge: (ksm, vma, start, end, lock_vma) => {
    let addr = start;
    for (;;) {
      const r = walk_page_range_vma(vma, addr, end, lock_vma ? rangeOpsLockVma : rangeOps, ksm);
      if (r <= 0) return r;
      addr = rangeCursor.addr;
      const ret = unshare(vma, addr);
      if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
      if ((ret & STOP) !== 0) return 0;
    }
  },
};

/**
 * mmsim's own answer to the question the 2022 thread left open: a walker-based break_ksm() that
 * costs no more than follow_page() per page. One walk_page_range_vma() over the whole range; its
 * pmd_entry scans the PTE table under the PTL and, on a KSM page, drops the PTL, runs the
 * UNSHARE fault itself (the mmap_lock is held, no page-table lock is: pmd_entry runs unlocked),
 * re-takes the PTL and re-checks the same PTE, then goes on. No walk restarts from the top after
 * each fault as range_walk's does: the upper levels are read once per PMD, one callback runs per
 * PMD, and each KSM page costs two PTE reads (find, re-check) plus the fault. Should the PMD no
 * longer point at the table after the fault (it cannot for an UNSHARE of an anon PTE, but the
 * walker contract allows it), the callback asks the walker for ACTION_AGAIN.
 */
const faultState = { err: 0 };
function faultingPmdEntry(walk: MmWalk, addr: number, next: number): number {
  const ksm = walk.private as Ksm;
  const vma = walk.vma!;
  const pm = ksm.m.phys;
  const c = ksm.m.counters;
  if (vma.vm_mm.mm_users === 0) return 0;
  if (pmd_leaf(walk.lo) || (walk.lo & 1) === 0) return 0;
  const pmdLo = walk.lo;
  const pmdHi = walk.hi;
  const pteT = entry_pfn(pmdLo, pmdHi);
  ptlLock(pm, c, pteT);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  for (let a = addr; a < next; ) {
    const o = base + pte_index(a) * 2;
    c.pteRead++;
    const lo = w[o];
    const hi = w[o + 1];
    if ((lo === 0 && hi === 0) || !pteIsKsm(ksm, lo, hi)) {
      a += PAGE_SIZE;
      continue;
    }
    ptlUnlock(pm, c, pteT);
    const ret = unshare(vma, a);
    if ((ret & STOP) !== 0) {
      faultState.err = (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
      return 1; // stop the walk: the fault cannot make progress
    }
    readEntry(pm, walk.table, walk.index);
    c.pmdRead++;
    if (E.lo !== pmdLo || E.hi !== pmdHi) {
      walk.action = ACTION_AGAIN;
      return 0;
    }
    ptlLock(pm, c, pteT); // and re-check the same PTE
  }
  ptlUnlock(pm, c, pteT);
  return 0;
}
const faultingOps = mmWalkOps({ pmd_entry: faultingPmdEntry, walk_lock: PGWALK_RDLOCK });
const faultingOpsLockVma = mmWalkOps({ pmd_entry: faultingPmdEntry, walk_lock: PGWALK_WRLOCK });

export const walkFaultStrategy: BreakKsmStrategy = {
  name: 'walk_fault',
  kernel: 'mmsim',
  description: 'one walk_page_range_vma(start, end); pmd_entry unshares KSM pages in place and continues',
  unmerge: (ksm, vma, start, end, lock_vma) => {
    faultState.err = 0;
    const r = walk_page_range_vma(vma, start, end, lock_vma ? faultingOpsLockVma : faultingOps, ksm);
    if (r < 0) return r;
    return faultState.err;
  },
};

/** The strategies by name; a Ksm starts with its Machine's kernel's (kernelStrategy()). */
export const STRATEGIES: Record<string, BreakKsmStrategy> = {
  follow_page: followPageStrategy,
  walk_pud_pmd: walkPudPmdStrategy,
  walk_pmd: walkPmdStrategy,
  folio_walk: folioWalkStrategy,
  range_walk: rangeWalkStrategy,
  walk_fault: walkFaultStrategy,
};

/** The break_ksm() each kernel shipped, by KernelProfile.ksm.breakKsm. */
const KERNEL_STRATEGIES: Readonly<Record<BreakKsmKind, BreakKsmStrategy>> = {
  follow_page: followPageStrategy,
  walk_pmd: walkPmdStrategy,
  folio_walk: folioWalkStrategy,
  range_walk: rangeWalkStrategy,
};

/** The break_ksm() of a kernel version (Linux 6.18's, the default: folio_walk). */
export function kernelStrategy(kernel: KernelProfile): BreakKsmStrategy {
  return KERNEL_STRATEGIES[kernel.ksm.breakKsm];
}
