// Every break_ksm() of mm/ksm.c's history, selectable on the same state (docs/kernel/
// ksm-6.18.md §5, docs/kernel/ksm.md §3.10). Each strategy unmerges [start, end) of one VMA; the
// per-address ones are driven by unmerge_ksm_pages() as the kernel did until 6.19.
//
// Every strategy also unshares KSM-placed zero pages (the ~6.6 rule), so that all of them act
// identically on the same state and only their cost differs.

import {
  type BreakKsmKind,
  CallState,
  ENOMEM,
  KERNEL_PROFILES,
  type KernelProfile,
  PAGE_SIZE,
} from '@mmsim/core';
import { FOLL_GET, FOLL_MIGRATION, FOLL_REMOTE, follow_page } from '@mmsim/gup';
import {
  _PAGE_PRESENT,
  E,
  entry_pfn,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  is_ksm_zero_pte,
  is_migration_entry,
  type PhysMem,
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

/**
 * A break_ksm() implementation: unmerge every KSM page, and every KSM-placed zero page, mapped in
 * [start, end) of one VMA, by faulting a private copy in its place (FAULT_FLAG_UNSHARE, or a write
 * fault in 6.0/6.1).
 *
 * Called with the VMA's mm mmap lock held (for read, or for write when `lock_vma`, which asks the
 * strategy to write-lock the VMA as 6.5+ does: MADV_UNMERGEABLE and prctl pass true, ksmd's
 * break_cow() and run=2 false). Stop early (returning 0) once the mm is exiting (mm_users 0).
 * Returns 0, or a negative errno: -ENOMEM when a fault ran out of memory.
 *
 * Everything a strategy needs comes from the VMA: its mm (vma.vm_mm), the machine
 * (vma.vm_mm.machine: phys, counters), and the @mmsim/pagewalk, @mmsim/gup and @mmsim/mmu
 * functions. Every strategy must leave the same memory and KSM state as the built-in ones; only the
 * cost may differ. Per-call state goes to walk.private or the call's own locals, never to module
 * globals (several machines may exist at once). To try your own: `mmsim run --strategy
 * ./my-strategy.ts` and `pnpm bench unmerge --strategy ./my-strategy.ts` load a module whose default
 * export is one (see examples/strategy/).
 */
export interface BreakKsmStrategy {
  /** A short identifier (the `--strategy` name). */
  readonly name: string;
  /** Which kernel shipped it (or "mmsim", or your own label). */
  readonly kernel: string;
  /** One line on how it finds and breaks KSM pages. */
  readonly description: string;
  unmerge(vma: VmAreaStruct, start: number, end: number, lock_vma: boolean): number;
}

/** Either fault result that ends the unsharing of a page: no retry can succeed. */
const STOP = VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_OOM;

/** The PTE (lo, hi) maps a KSM page, is a migration entry of one, or is a KSM zero page: the body
 * shared by the walker callbacks of (D), (E) and (I). */
function pteIsKsm(pm: PhysMem, lo: number, hi: number): boolean {
  let page = 0;
  if (pte_present(lo)) page = vm_normal_page(pm, lo, hi);
  else if (is_migration_entry(lo, hi)) page = swp_offset(lo, hi);
  return (page !== 0 && pm.PageKsm(page)) || is_ksm_zero_pte(pm, lo, hi);
}

/** The PMD a callback is about does not point at a PTE table (a THP, or not present). */
function pmdNoTable(lo: number): boolean {
  return pmd_leaf(lo) || (lo & _PAGE_PRESENT) === 0;
}

/** Map the PTE table under a PMD callback's entry and test the PTE at addr (pte_offset_map_lock). */
function pmdCallbackTest(walk: MmWalk, addr: number): number {
  if (pmdNoTable(walk.lo)) return 0;
  const m = walk.mm.machine;
  const pm = m.phys;
  const pteT = entry_pfn(walk.lo, walk.hi);
  ptlLock(pm, m.counters, pteT);
  readEntry(pm, pteT, pte_index(addr));
  m.counters.pteRead++;
  const r = pteIsKsm(pm, E.lo, E.hi) ? 1 : 0;
  ptlUnlock(pm, m.counters, pteT);
  return r;
}

/** The fault every post-6.1 variant uses. */
function unshare(vma: VmAreaStruct, addr: number): number {
  return handle_mm_fault(vma, addr, FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE);
}

/** One break_ksm() at one address, with the per-call state of its unmerge (the kernel's locals). */
type BreakKsmFn<P> = (vma: VmAreaStruct, addr: number, lock_vma: boolean, priv: P) => number;

/** unmerge_ksm_pages(): break_ksm() address by address (until Linux 6.19). */
function unmerge_ksm_pages<P>(
  vma: VmAreaStruct,
  start: number,
  end: number,
  lock_vma: boolean,
  break_ksm: BreakKsmFn<P>,
  priv: P,
): number {
  let err = 0;
  for (let addr = start; addr < end && err === 0; addr += PAGE_SIZE) {
    if (vma.vm_mm.mm_users === 0) break; // ksm_test_exit()
    err = break_ksm(vma, addr, lock_vma, priv);
  }
  return err;
}

/** (A) Linux 6.0/6.1: follow_page(FOLL_GET|FOLL_MIGRATION|FOLL_REMOTE), then a WRITE fault;
 * one lookup + one fault per merged page. The 6.0 fault reported VM_FAULT_WRITE whenever it
 * broke COW; mmsim's fault is 6.18's (0 on success), so a 0 from the write fault counts as it. */
function break_ksm_follow_page(vma: VmAreaStruct, addr: number): number {
  const pm = vma.vm_mm.machine.phys;
  let ret = 0;
  do {
    const page = follow_page(vma, addr, FOLL_GET | FOLL_MIGRATION | FOLL_REMOTE, KERNEL_PROFILES['6.1']);
    if (page <= 0) break;
    if (pm.PageKsm(page) || isKsmZeroAt(vma, addr)) {
      ret = handle_mm_fault(vma, addr, FAULT_FLAG_WRITE | FAULT_FLAG_REMOTE);
      if ((ret & STOP) === 0) ret |= VM_FAULT_WRITE;
    } else ret = VM_FAULT_WRITE;
    pm.put_page(page);
  } while ((ret & (VM_FAULT_WRITE | STOP)) === 0);
  return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
}

export const followPageStrategy: BreakKsmStrategy = {
  name: 'follow_page',
  kernel: '6.0/6.1',
  description: 'follow_page(FOLL_GET|FOLL_MIGRATION) + FAULT_FLAG_WRITE, looping on VM_FAULT_WRITE',
  unmerge: (vma, start, end, lock_vma) =>
    unmerge_ksm_pages(vma, start, end, lock_vma, break_ksm_follow_page, null),
};

/** is_ksm_zero_pte() at addr, reading the PTE directly (used by the follow_page strategy, whose
 * 6.0 original predates KSM zero pages). */
function isKsmZeroAt(vma: VmAreaStruct, addr: number): boolean {
  const pm = vma.vm_mm.machine.phys;
  const pteT = vma.vm_mm.find_pte_table(addr);
  if (pteT === 0) return false;
  readEntry(pm, pteT, pte_index(addr));
  return is_ksm_zero_pte(pm, E.lo, E.hi);
}

/** (D) the thread's v1 6/7: walk_page_range_vma(addr, addr + PAGE_SIZE) with pud_entry and
 * pmd_entry callbacks; two walks + one fault per merged page. (v1's missing unlock on a none
 * PTE is fixed here, as v2 did.) v1's pmd_entry always returned 1 (one page looked up: stop) and
 * reported KSM-ness through walk.private, its `bool ksm_page`. */
class KsmPageFlag {
  ksm_page = false;
}
const ksmPageFlags = new CallState(() => new KsmPageFlag());

const pudPmdOps = mmWalkOps({
  pud_entry: (walk) => (pmdNoTable(walk.lo) ? 1 : 0),
  pmd_entry: (walk, addr) => {
    (walk.private as KsmPageFlag).ksm_page = pmdCallbackTest(walk, addr) !== 0;
    return 1;
  },
  walk_lock: PGWALK_RDLOCK,
});

function break_ksm_pud_pmd(vma: VmAreaStruct, addr: number, _lock_vma: boolean, flag: KsmPageFlag): number {
  let ret = 0;
  do {
    flag.ksm_page = false;
    const r = walk_page_range_vma(vma, addr, addr + PAGE_SIZE, pudPmdOps, flag);
    if (r < 0) return r;
    if (!flag.ksm_page) return 0;
    ret = unshare(vma, addr);
  } while ((ret & STOP) === 0);
  return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
}

export const walkPudPmdStrategy: BreakKsmStrategy = {
  name: 'walk_pud_pmd',
  kernel: 'v1 6/7 (2022, never merged)',
  description: 'walk_page_range_vma(addr, addr+PAGE_SIZE) with pud_entry + pmd_entry, FAULT_FLAG_UNSHARE',
  unmerge: (vma, start, end, lock_vma) => {
    const flag = ksmPageFlags.get();
    try {
      return unmerge_ksm_pages(vma, start, end, lock_vma, break_ksm_pud_pmd, flag);
    } finally {
      ksmPageFlags.put();
    }
  },
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

function break_ksm_pmd(vma: VmAreaStruct, addr: number, lock_vma: boolean): number {
  let ret = 0;
  do {
    const r = walk_page_range_vma(vma, addr, addr + 1, lock_vma ? pmdOpsLockVma : pmdOps, null);
    if (r < 0) return r;
    if (r === 0) return 0;
    ret = unshare(vma, addr);
  } while ((ret & STOP) === 0);
  return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
}

export const walkPmdStrategy: BreakKsmStrategy = {
  name: 'walk_pmd',
  kernel: '6.2-6.11',
  description: 'walk_page_range_vma(addr, addr+1) with pmd_entry only, FAULT_FLAG_UNSHARE',
  unmerge: (vma, start, end, lock_vma) => unmerge_ksm_pages(vma, start, end, lock_vma, break_ksm_pmd, null),
};

/** (H) Linux 6.12 .. 6.18 — the live kernel's: folio_walk_start(FW_MIGRATION | FW_ZEROPAGE) per
 * address; two lookups + one fault per merged page. The folio_walk is the kernel's on-stack
 * `struct folio_walk`, one per unmerge call here (from a CallState). */
const folioWalks = new CallState(() => new FolioWalk());

function break_ksm_folio_walk(vma: VmAreaStruct, addr: number, lock_vma: boolean, fw: FolioWalk): number {
  const pm = vma.vm_mm.machine.phys;
  if (lock_vma) vma.vmaWriteLocked = true; // vma_start_write()
  let ret = 0;
  do {
    let ksm_page = false;
    const folio = folio_walk_start(fw, vma, addr, FW_MIGRATION | FW_ZEROPAGE);
    if (folio !== 0) {
      if (!pm.folio_test_large(folio) && (pm.PageKsm(folio) || is_ksm_zero_pte(pm, fw.lo, fw.hi)))
        ksm_page = true;
      folio_walk_end(fw, vma);
    }
    if (!ksm_page) return 0;
    ret = unshare(vma, addr);
  } while ((ret & STOP) === 0);
  return (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
}

export const folioWalkStrategy: BreakKsmStrategy = {
  name: 'folio_walk',
  kernel: '6.12-6.18',
  description: 'folio_walk_start(FW_MIGRATION|FW_ZEROPAGE) per address, FAULT_FLAG_UNSHARE',
  unmerge: (vma, start, end, lock_vma) => {
    const fw = folioWalks.get();
    try {
      return unmerge_ksm_pages(vma, start, end, lock_vma, break_ksm_folio_walk, fw);
    } finally {
      folioWalks.put();
    }
  },
};

/** (I) Linux 6.19 (Pedro Demarchi Gomes, 2025): one walk_page_range_vma() over the whole range,
 * its pmd_entry scanning the PTEs for the first KSM page; walking resumes after each fault.
 * Holes are skipped a whole level at a time. The address found goes out through walk.private. */
class BreakKsmRangeArg {
  addr = 0;
}
const rangeArgs = new CallState(() => new BreakKsmRangeArg());

function break_ksm_pmd_entry(walk: MmWalk, addr: number, next: number): number {
  const priv = walk.private as BreakKsmRangeArg;
  const mm = walk.mm;
  if (mm.mm_users === 0) return 0;
  if (pmdNoTable(walk.lo)) return 0;
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
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
    if (pteIsKsm(pm, lo, hi)) {
      priv.addr = a;
      found = 1;
      break;
    }
  }
  ptlUnlock(pm, c, pteT);
  return found;
}
const rangeOps = mmWalkOps({ pmd_entry: break_ksm_pmd_entry, walk_lock: PGWALK_RDLOCK });
const rangeOpsLockVma = mmWalkOps({ pmd_entry: break_ksm_pmd_entry, walk_lock: PGWALK_WRLOCK });

/** break_ksm() of 6.19 over [start, end): walk to the next KSM page, unshare it, walk on. */
function break_ksm_range(
  vma: VmAreaStruct,
  start: number,
  end: number,
  lock_vma: boolean,
  arg: BreakKsmRangeArg,
): number {
  let addr = start;
  for (;;) {
    const r = walk_page_range_vma(vma, addr, end, lock_vma ? rangeOpsLockVma : rangeOps, arg);
    if (r <= 0) return r;
    addr = arg.addr;
    const ret = unshare(vma, addr);
    if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
    if ((ret & STOP) !== 0) return 0;
  }
}

export const rangeWalkStrategy: BreakKsmStrategy = {
  name: 'range_walk',
  kernel: '6.19',
  description: 'one walk_page_range_vma(start, end) per KSM page found, FAULT_FLAG_UNSHARE',
  unmerge: (vma, start, end, lock_vma) => {
    const arg = rangeArgs.get();
    try {
      return break_ksm_range(vma, start, end, lock_vma, arg);
    } finally {
      rangeArgs.put();
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
 * walker contract allows it), the callback asks the walker for ACTION_AGAIN. A fault that cannot
 * make progress stops the walk; its error goes out through walk.private.
 */
class WalkFaultArg {
  err = 0;
}
const walkFaultArgs = new CallState(() => new WalkFaultArg());

function faultingPmdEntry(walk: MmWalk, addr: number, next: number): number {
  const priv = walk.private as WalkFaultArg;
  const vma = walk.vma!;
  const mm = walk.mm;
  if (mm.mm_users === 0) return 0;
  if (pmdNoTable(walk.lo)) return 0;
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
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
    if ((lo === 0 && hi === 0) || !pteIsKsm(pm, lo, hi)) {
      a += PAGE_SIZE;
      continue;
    }
    ptlUnlock(pm, c, pteT);
    const ret = unshare(vma, a);
    if ((ret & STOP) !== 0) {
      priv.err = (ret & VM_FAULT_OOM) !== 0 ? -ENOMEM : 0;
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
  unmerge: (vma, start, end, lock_vma) => {
    const arg = walkFaultArgs.get();
    arg.err = 0;
    try {
      const r = walk_page_range_vma(vma, start, end, lock_vma ? faultingOpsLockVma : faultingOps, arg);
      return r < 0 ? r : arg.err;
    } finally {
      walkFaultArgs.put();
    }
  },
};

/** The strategies by name; a Ksm starts with its Machine's kernel's (kernelStrategy()). */
export const STRATEGIES: Readonly<Record<string, BreakKsmStrategy>> = {
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
