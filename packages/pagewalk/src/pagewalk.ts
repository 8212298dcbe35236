// mm/pagewalk.c (Linux 6.18, with the 6.0/6.1/6.2/6.5 differences as the walk switches of
// @mmsim/core's KernelProfile): the generic page-table walker with mm_walk_ops callbacks, its
// entry points and folio_walk. One walker; docs/kernel/pagewalk.md §1 describes the algorithm it
// follows step by step.
//
// The kernel hands callbacks a pmd_t * (or pte_t *, ...); mmsim hands them the walk itself, with
// the entry's table PFN, index and two words in walk.table/index/lo/hi. Entries are read straight
// from the page-table words; nothing is allocated per entry. An empty upper-level entry costs one
// read and at most one pte_hole() call for its whole span.

import {
  addrEnd,
  alignDown,
  BUG,
  type Counters,
  DEFAULT_KERNEL_PROFILE,
  EINVAL,
  ENOMEM,
  type KernelProfile,
  P4D_SIZE,
  PAGE_SIZE,
  PGDIR_SIZE_LA57,
  PMD_SIZE,
  PUD_SIZE,
  subpageIndex,
  WARN_ON_ONCE,
  type WalkProfile,
} from '@mmsim/core';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_SPECIAL,
  entry_pfn,
  is_migration_entry,
  type MmStruct,
  type PhysMem,
  p4d_bad,
  p4d_index,
  pgd_bad,
  pgd_index,
  pmd_bad,
  pmd_index,
  pmd_leaf,
  pmd_present,
  pte_index,
  ptlLock,
  ptlUnlock,
  pud_index,
  pud_leaf,
  pud_present,
  split_huge_pmd,
  swp_offset,
  VM_HUGETLB,
  VM_PFNMAP,
  type VmAreaStruct,
  vm_normal_page,
} from '@mmsim/mmu';

// ---- include/linux/pagewalk.h ------------------------------------------------------------------

/** enum page_walk_action: descend (the default, reset before every pud_entry/pmd_entry call). */
export const ACTION_SUBTREE = 0;
/** Go on with the next entry of the same level; skip this entry's subtree. */
export const ACTION_CONTINUE = 1;
/** Process the same entry again, from its *_none() test. */
export const ACTION_AGAIN = 2;

/** enum page_walk_lock: the mmap lock is held (read suffices). */
export const PGWALK_RDLOCK = 0;
/** mmap lock held for write; the walker write-locks each VMA it walks (vma_start_write()). */
export const PGWALK_WRLOCK = 1;
/** mmap lock held for write and every walked VMA already write-locked: asserted. */
export const PGWALK_WRLOCK_VERIFY = 2;

/** A pgd/p4d/pud/pmd/pte callback: the entry is in walk.table/index/lo/hi; [addr, next) it covers. */
export type WalkEntryFn = (walk: MmWalk, addr: number, next: number) => number;
/** pte_hole(addr, next, depth, walk): depth -1 unknown/outside VMAs, 0 PGD, 1 P4D, 2 PUD, 3 PMD. */
export type PteHoleFn = (addr: number, next: number, depth: number, walk: MmWalk) => number;
/**
 * hugetlb_entry: the huge PTE (the PMD slot for 2 MiB pages) in walk.table/index/lo/hi. The kernel
 * passes hmask = huge_page_mask(h); mmsim passes the huge page size `hsz` (hmask = ~(hsz - 1)).
 */
export type HugetlbEntryFn = (walk: MmWalk, hsz: number, addr: number, next: number) => number;
/** test_walk(addr, next, walk): 0 walks the VMA, 1 skips it, < 0 aborts. */
export type TestWalkFn = (addr: number, next: number, walk: MmWalk) => number;
export type PreVmaFn = (start: number, end: number, walk: MmWalk) => number;
/**
 * install_pte (6.13+): called instead of pte_entry for a none PTE; it writes the new entry's two
 * words into walk.lo/walk.hi (the kernel's `pte_t *ptep` out parameter) and returns 0, and the
 * walker stores it (set_pte_at()); non-zero stops the walk. Only walk_page_range_mm() accepts it.
 */
export type InstallPteFn = (addr: number, next: number, walk: MmWalk) => number;
export type PostVmaFn = (walk: MmWalk) => void;

/** struct mm_walk_ops — every field present, null when unused, so calls stay monomorphic. */
export interface MmWalkOps {
  pgd_entry: WalkEntryFn | null;
  p4d_entry: WalkEntryFn | null;
  pud_entry: WalkEntryFn | null;
  pmd_entry: WalkEntryFn | null;
  pte_entry: WalkEntryFn | null;
  pte_hole: PteHoleFn | null;
  hugetlb_entry: HugetlbEntryFn | null;
  test_walk: TestWalkFn | null;
  pre_vma: PreVmaFn | null;
  post_vma: PostVmaFn | null;
  install_pte: InstallPteFn | null;
  walk_lock: number;
}

/** A complete mm_walk_ops from the callbacks given (others null, walk_lock PGWALK_RDLOCK). */
export function mmWalkOps(partial: Partial<MmWalkOps>): MmWalkOps {
  return {
    pgd_entry: partial.pgd_entry ?? null,
    p4d_entry: partial.p4d_entry ?? null,
    pud_entry: partial.pud_entry ?? null,
    pmd_entry: partial.pmd_entry ?? null,
    pte_entry: partial.pte_entry ?? null,
    pte_hole: partial.pte_hole ?? null,
    hugetlb_entry: partial.hugetlb_entry ?? null,
    test_walk: partial.test_walk ?? null,
    pre_vma: partial.pre_vma ?? null,
    post_vma: partial.post_vma ?? null,
    install_pte: partial.install_pte ?? null,
    walk_lock: partial.walk_lock ?? PGWALK_RDLOCK,
  };
}

const NO_OPS: MmWalkOps = mmWalkOps({});

/**
 * The initial value of a field that holds an entry word: 0, but as a heap number (-0) rather than
 * a small integer, so that V8 gives the field a double representation from the start. Entry words
 * reach 2^31 once PFNs do (2^19, 2 GiB of frames); a field that had only held small integers
 * would then change its object's hidden class and deoptimize every walker compiled for it, in
 * the middle of the first large walk.
 */
const ENTRY_WORD_INIT = -0;

/**
 * struct mm_walk. Lives for one entry-point call, like the kernel's on-stack walk: callbacks must
 * not keep it. `table`/`index`/`lo`/`hi` describe the entry the current callback is about (the
 * kernel's pmd_t * / pte_t * argument); write it back with setEntry(pm, walk.table, walk.index, ...).
 */
export class MmWalk {
  ops: MmWalkOps = NO_OPS;
  mm: MmStruct = null as unknown as MmStruct;
  /** An explicit PGD table (PFN) for no_vma walks; 0 = mm.pgd. */
  pgd = 0;
  /** The VMA being walked; null outside VMAs and for no_vma walks. */
  vma: VmAreaStruct | null = null;
  action: number = ACTION_SUBTREE;
  no_vma = false;
  private: unknown = null;
  /** The current entry: page-table PFN, index in it, and its low and high words. */
  table = 0;
  index = 0;
  lo = ENTRY_WORD_INIT;
  hi = ENTRY_WORD_INIT;
  /** The kernel version this walk imitates (mmsim-only): the walk switches of the caller's
   * profile, or of the Machine's. */
  profile: WalkProfile = DEFAULT_KERNEL_PROFILE.walk;
}

// Walk objects are reused (a walk may start another walk from a callback, hence a stack).
const walkPool: MmWalk[] = [];
let walkDepth = 0;

function getWalk(mm: MmStruct, ops: MmWalkOps, priv: unknown, profile: WalkProfile): MmWalk {
  if (walkDepth === walkPool.length) walkPool.push(new MmWalk());
  const walk = walkPool[walkDepth++];
  walk.ops = ops;
  walk.mm = mm;
  walk.pgd = 0;
  walk.vma = null;
  walk.action = ACTION_SUBTREE;
  walk.no_vma = false;
  walk.private = priv;
  // table/index/lo/hi are set before every callback that reads them.
  walk.profile = profile;
  return walk;
}

function putWalk(walk: MmWalk): void {
  walk.private = null;
  walk.vma = null;
  walkDepth--;
}

/**
 * split_huge_pud() (mm/huge_memory.c): mmsim has no anonymous PUD THPs (neither has the kernel),
 * so a PUD leaf under a VMA is a DAX/PFN-map style mapping and splitting it zaps the entry, as
 * __split_huge_pud_locked() does; the walker then sees a none PUD and reports a hole.
 */
function split_huge_pud(walk: MmWalk, pudT: number): void {
  const pm = walk.mm.machine.phys;
  const w = pm.tableWords(pudT);
  const o = pm.tableBase(pudT) + walk.index * 2;
  if (!pud_leaf(w[o])) return;
  w[o] = 0;
  w[o + 1] = 0;
  walk.mm.machine.counters.tlbFlushes++;
}

// ---- the level walkers ------------------------------------------------------------------------

/** walk_pte_range_inner() under the PTE table's PTL (none for no_vma walks). */
function walk_pte_range(walk: MmWalk, pmdT: number, pmdIdx: number, addr: number, end: number): number {
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const pw = pm.tableWords(pmdT);
  const po = pm.tableBase(pmdT) + pmdIdx * 2;
  const plo = pw[po];
  // pte_offset_map(): the PMD must still point at a PTE table.
  if ((plo === 0 && pw[po + 1] === 0) || pmd_leaf(plo) || (plo & _PAGE_PRESENT) === 0 || pmd_bad(plo)) {
    if (plo !== 0 && !pmd_leaf(plo) && (plo & _PAGE_PRESENT) !== 0) {
      // pmd_clear_bad()
      pw[po] = 0;
      pw[po + 1] = 0;
    }
    if (walk.profile.pteMapMayFail) walk.action = ACTION_AGAIN;
    return 0;
  }
  const pteT = entry_pfn(plo, pw[po + 1]);
  const locked = !walk.no_vma;
  if (locked) ptlLock(pm, c, pteT);
  if (walk.ops.install_pte !== null) {
    const err = walk_pte_range_install(walk, pm, c, pteT, addr, end);
    if (locked) ptlUnlock(pm, c, pteT);
    return err;
  }
  const w = pm.tableWords(pteT);
  let idx = pte_index(addr);
  let o = pm.tableBase(pteT) + idx * 2;
  const fn = walk.ops.pte_entry!;
  const last = end - PAGE_SIZE;
  let n = 0;
  let err = 0;
  walk.table = pteT;
  for (;;) {
    walk.index = idx;
    walk.lo = w[o];
    walk.hi = w[o + 1];
    n++;
    err = fn(walk, addr, addr + PAGE_SIZE);
    if (err !== 0 || addr >= last) break;
    addr += PAGE_SIZE;
    idx++;
    o += 2;
  }
  c.pteRead += n;
  c.walkCallbacks += n;
  if (locked) ptlUnlock(pm, c, pteT);
  return err;
}

/**
 * walk_pte_range_inner() with an install_pte: none PTEs get the entry install_pte() makes, the
 * others go to pte_entry. Apart from walk_pte_range() so that the common loop stays tight.
 */
function walk_pte_range_install(
  walk: MmWalk,
  pm: PhysMem,
  c: Counters,
  pteT: number,
  addr: number,
  end: number,
): number {
  const ops = walk.ops;
  const install = ops.install_pte!;
  const w = pm.tableWords(pteT);
  let idx = pte_index(addr);
  let o = pm.tableBase(pteT) + idx * 2;
  let err = 0;
  walk.table = pteT;
  for (;;) {
    walk.index = idx;
    walk.lo = w[o];
    walk.hi = w[o + 1];
    c.pteRead++;
    c.walkCallbacks++;
    if (walk.lo === 0 && walk.hi === 0) {
      err = install(addr, addr + PAGE_SIZE, walk);
      if (err !== 0) break;
      w[o] = walk.lo; // set_pte_at()
      w[o + 1] = walk.hi;
    } else {
      err = ops.pte_entry!(walk, addr, addr + PAGE_SIZE);
      if (err !== 0) break;
    }
    if (addr >= end - PAGE_SIZE) break;
    addr += PAGE_SIZE;
    idx++;
    o += 2;
  }
  return err;
}

/**
 * The page-table allocation of an install walk at an empty upper entry (__p4d_alloc(),
 * __pud_alloc(), __pmd_alloc() down to addr's PMD table): 0 or -ENOMEM.
 */
function install_alloc(walk: MmWalk, addr: number): number {
  return walk.mm.pmd_alloc(addr) === 0 ? -ENOMEM : 0;
}

function walk_pmd_range(walk: MmWalk, pmdT: number, addr: number, end: number): number {
  const ops = walk.ops;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const profile = walk.profile;
  const w = pm.tableWords(pmdT);
  const base = pm.tableBase(pmdT);
  const gapHole = profile.gapWalk && walk.vma === null && !walk.no_vma;
  let idx = pmd_index(addr);
  let err = 0;
  for (;;) {
    const next = addrEnd(addr, end, PMD_SIZE);
    const o = base + idx * 2;
    // again:
    for (;;) {
      c.pmdRead++;
      let lo = w[o];
      let hi = w[o + 1];
      if ((lo === 0 && hi === 0) || gapHole) {
        if (ops.install_pte === null) {
          if (ops.pte_hole !== null) {
            c.walkCallbacks++;
            err = ops.pte_hole(addr, next, 3, walk);
          }
          break;
        }
        // __pte_alloc(): an install walk gives the empty PMD a PTE table and goes on with it.
        if (!walk.mm.pte_alloc(pmdT, idx)) {
          err = -ENOMEM;
          break;
        }
        lo = w[o];
        hi = w[o + 1];
      }
      walk.action = ACTION_SUBTREE;
      // Every pmd_entry() has to understand pmd_trans_huge() PMDs.
      if (ops.pmd_entry !== null) {
        walk.table = pmdT;
        walk.index = idx;
        walk.lo = lo;
        walk.hi = hi;
        c.walkCallbacks++;
        m.reach('walk:pmd-entry', walk);
        err = ops.pmd_entry(walk, addr, next);
        if (err !== 0) break;
      }
      if (walk.action === ACTION_AGAIN) continue;
      // Checked here so that THPs are only split when a pte_entry really needs the PTEs.
      lo = w[o];
      if (
        (walk.vma === null && (pmd_leaf(lo) || !pmd_present(lo))) ||
        walk.action === ACTION_CONTINUE ||
        // No handler for the PTEs: nothing to do, unless installing into a PTE table (an install
        // walk does not split a present huge PMD for nothing).
        (ops.pte_entry === null && (ops.install_pte === null || (pmd_leaf(lo) && pmd_present(lo))))
      )
        break;
      if (walk.vma !== null) {
        if (pmd_leaf(lo)) split_huge_pmd(walk.vma, addr, pmdT, idx);
        if (!profile.pteMapMayFail) {
          // pmd_trans_unstable() (pmd_none_or_trans_huge_or_clear_bad()) before 6.5.
          lo = w[o];
          hi = w[o + 1];
          if ((lo === 0 && hi === 0) || pmd_leaf(lo)) continue;
          if (pmd_bad(lo)) {
            w[o] = 0;
            w[o + 1] = 0;
            continue;
          }
        }
      }
      walk.table = pmdT;
      walk.index = idx;
      walk.lo = w[o];
      walk.hi = w[o + 1];
      m.reach('walk:pte-table', walk);
      err = walk_pte_range(walk, pmdT, idx, addr, next);
      if (err !== 0) break;
      if (profile.pteMapMayFail && walk.action === ACTION_AGAIN) continue;
      break;
    }
    if (err !== 0 || next === end) return err;
    addr = next;
    idx++;
  }
}

function walk_pud_range(walk: MmWalk, pudT: number, addr: number, end: number): number {
  const ops = walk.ops;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const w = pm.tableWords(pudT);
  const base = pm.tableBase(pudT);
  const gapHole = walk.profile.gapWalk && walk.vma === null && !walk.no_vma;
  const descend = ops.pmd_entry !== null || ops.pte_entry !== null || ops.install_pte !== null;
  let idx = pud_index(addr);
  let err = 0;
  for (;;) {
    const next = addrEnd(addr, end, PUD_SIZE);
    const o = base + idx * 2;
    // again:
    for (;;) {
      c.pudRead++;
      let lo = w[o];
      let hi = w[o + 1];
      if ((lo === 0 && hi === 0) || gapHole) {
        if (ops.install_pte === null) {
          if (ops.pte_hole !== null) {
            c.walkCallbacks++;
            err = ops.pte_hole(addr, next, 2, walk);
          }
          break;
        }
        err = install_alloc(walk, addr);
        if (err !== 0) break;
        lo = w[o];
        hi = w[o + 1];
      }
      walk.action = ACTION_SUBTREE;
      if (ops.pud_entry !== null) {
        walk.table = pudT;
        walk.index = idx;
        walk.lo = lo;
        walk.hi = hi;
        c.walkCallbacks++;
        err = ops.pud_entry(walk, addr, next);
        if (err !== 0) break;
      }
      if (walk.action === ACTION_AGAIN) continue;
      lo = w[o];
      if (
        (walk.vma === null && (pud_leaf(lo) || !pud_present(lo))) ||
        walk.action === ACTION_CONTINUE ||
        !descend
      )
        break;
      if (walk.vma !== null && pud_leaf(lo)) {
        walk.index = idx;
        split_huge_pud(walk, pudT);
      }
      if (w[o] === 0 && w[o + 1] === 0) continue;
      err = walk_pmd_range(walk, entry_pfn(w[o], w[o + 1]), addr, next);
      break;
    }
    if (err !== 0 || next === end) return err;
    addr = next;
    idx++;
  }
}

/** walk_p4d_range(); with 4-level paging the P4D is the PGD entry itself (folded). */
function walk_p4d_range(walk: MmWalk, p4dT: number, addr: number, end: number): number {
  const ops = walk.ops;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const w = pm.tableWords(p4dT);
  const base = pm.tableBase(p4dT);
  // real_depth(1): PTRS_PER_P4D == 1 when folded, so a P4D hole is a PGD hole.
  const depth = walk.mm.levels === 5 ? 1 : 0;
  const descend =
    ops.pud_entry !== null || ops.pmd_entry !== null || ops.pte_entry !== null || ops.install_pte !== null;
  let idx = p4d_index(addr);
  let err = 0;
  for (;;) {
    const next = addrEnd(addr, end, P4D_SIZE);
    const o = base + idx * 2;
    c.p4dRead++;
    let lo = w[o];
    let hi = w[o + 1];
    if ((lo === 0 && hi === 0) || p4d_bad(lo)) {
      if (lo !== 0 || hi !== 0) {
        // p4d_none_or_clear_bad()
        w[o] = 0;
        w[o + 1] = 0;
        lo = 0;
        hi = 0;
      }
      if (ops.install_pte !== null) {
        err = install_alloc(walk, addr);
        lo = w[o];
        hi = w[o + 1];
      } else if (ops.pte_hole !== null) {
        c.walkCallbacks++;
        err = ops.pte_hole(addr, next, depth, walk);
      }
    }
    if (err === 0 && (lo !== 0 || hi !== 0)) {
      if (ops.p4d_entry !== null) {
        walk.table = p4dT;
        walk.index = idx;
        walk.lo = lo;
        walk.hi = hi;
        c.walkCallbacks++;
        err = ops.p4d_entry(walk, addr, next);
      }
      if (err === 0 && descend && (w[o] !== 0 || w[o + 1] !== 0))
        err = walk_pud_range(walk, entry_pfn(w[o], w[o + 1]), addr, next);
    }
    if (err !== 0 || next === end) return err;
    addr = next;
    idx++;
  }
}

/**
 * Whether walk_pgd_range() may take the first PUD of a walk in its own frame: a VMA walk (no
 * gap, no no_vma walk) with 4-level paging whose ops have no callback above the PMD level and
 * install nothing. The usual walk — ksm_next_page(), madvise, smaps — is one.
 */
function pud_descent_applies(walk: MmWalk): boolean {
  const ops = walk.ops;
  return (
    walk.vma !== null &&
    walk.mm.levels === 4 &&
    ops.pgd_entry === null &&
    ops.p4d_entry === null &&
    ops.pud_entry === null &&
    ops.install_pte === null &&
    (ops.pmd_entry !== null || ops.pte_entry !== null)
  );
}

function walk_pgd_range(walk: MmWalk, addr: number, end: number): number {
  if (pud_descent_applies(walk)) {
    // The first PUD of the walk without the two level walkers above it: what walk_pgd_range() ->
    // walk_p4d_range() -> walk_pud_range() do for it when its P4D (the folded PGD entry) and PUD
    // entries point at tables, with the same entries counted and the same range handed to
    // walk_pmd_range(). The PMD table comes from find_pmd_table(), whose one-entry cache per mm
    // (dropped whenever an upper-level table is freed) spares the reads on every walk of the same
    // GiB. Every other case takes the level walkers from the PGD. (The kernel's walker has no such
    // step; in mmsim the calls and reads per walk were most of the cost of the walk KSM's scan
    // makes for every page, walk_page_range_vma() with ksm_next_page_pmd_entry().) Small, so that
    // it is compiled into its callers; the loops are apart.
    const mm = walk.mm;
    const pmdT = mm.find_pmd_table(addr);
    if (pmdT !== 0) {
      const c = mm.machine.counters;
      c.pgdRead++;
      c.p4dRead++;
      c.pudRead++;
      walk.action = ACTION_SUBTREE;
      const pudT = mm.found_pud_table();
      const pudNext = addrEnd(addr, end, PUD_SIZE);
      const err = walk_pmd_range(walk, pmdT, addr, pudNext);
      if (err !== 0 || pudNext === end) return err;
      return walk_pgd_range_rest(walk, pudT, addr, pudNext, end);
    }
  }
  return walk_pgd_entries(walk, addr, end);
}

/** After the first PUD taken by walk_pgd_range(): the rest of walk_pud_range()'s loop over the
 * same P4D entry, then walk_pgd_range()'s loop. */
function walk_pgd_range_rest(walk: MmWalk, pudT: number, addr: number, pudNext: number, end: number): number {
  const p4dNext = addrEnd(addr, end, P4D_SIZE);
  if (pudNext !== p4dNext) {
    const err = walk_pud_range(walk, pudT, pudNext, p4dNext);
    if (err !== 0 || p4dNext === end) return err;
  }
  return walk_pgd_entries(walk, p4dNext, end);
}

/** walk_pgd_range()'s loop over the PGD entries of [addr, end). */
function walk_pgd_entries(walk: MmWalk, addr: number, end: number): number {
  const ops = walk.ops;
  const mm = walk.mm;
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const pgdT = walk.pgd !== 0 ? walk.pgd : mm.pgd;
  const five = mm.levels === 5;
  // Constants, not 2 ** shift: a variable exponent is a Math.pow call on every walk.
  const size = five ? PGDIR_SIZE_LA57 : P4D_SIZE;
  const w = pm.tableWords(pgdT);
  const base = pm.tableBase(pgdT);
  const descend =
    ops.p4d_entry !== null ||
    ops.pud_entry !== null ||
    ops.pmd_entry !== null ||
    ops.pte_entry !== null ||
    ops.install_pte !== null;
  let idx = pgd_index(mm.levels, addr);
  let err = 0;
  for (;;) {
    const next = addrEnd(addr, end, size);
    const o = base + idx * 2;
    c.pgdRead++;
    let lo = w[o];
    let hi = w[o + 1];
    // Without LA57 pgd_none() and pgd_bad() are constant 0: the PGD entry is the folded P4D.
    let none = five && ((lo === 0 && hi === 0) || pgd_bad(lo));
    if (none) {
      if (lo !== 0 || hi !== 0) {
        w[o] = 0;
        w[o + 1] = 0;
      }
      if (ops.install_pte !== null) {
        err = install_alloc(walk, addr);
        lo = w[o];
        hi = w[o + 1];
        none = err !== 0;
      } else if (ops.pte_hole !== null) {
        c.walkCallbacks++;
        err = ops.pte_hole(addr, next, 0, walk);
      }
    }
    if (!none) {
      if (ops.pgd_entry !== null) {
        walk.table = pgdT;
        walk.index = idx;
        walk.lo = lo;
        walk.hi = hi;
        c.walkCallbacks++;
        err = ops.pgd_entry(walk, addr, next);
      }
      if (err === 0 && descend) {
        if (!five) err = walk_p4d_range(walk, pgdT, addr, next);
        else if (w[o] !== 0 || w[o + 1] !== 0)
          err = walk_p4d_range(walk, entry_pfn(w[o], w[o + 1]), addr, next);
      }
    }
    if (err !== 0 || next === end) return err;
    addr = next;
    idx++;
  }
}

/** The PMD slot huge_pte_offset() finds for a 2 MiB hugetlb page, or -1 when a level is missing. */
function huge_pte_offset(walk: MmWalk, addr: number): number {
  const mm = walk.mm;
  const pm = mm.machine.phys;
  let t = mm.pgd;
  if (mm.levels === 5) {
    t = childTable(pm, t, pgd_index(5, addr));
    if (t === 0) return -1;
  }
  t = childTable(pm, t, p4d_index(addr));
  if (t === 0) return -1;
  const w = pm.tableWords(t);
  const o = pm.tableBase(t) + pud_index(addr) * 2;
  if ((w[o] === 0 && w[o + 1] === 0) || pud_leaf(w[o])) return -1;
  walk.table = entry_pfn(w[o], w[o + 1]);
  walk.index = pmd_index(addr);
  return walk.table;
}

function childTable(pm: PhysMem, table: number, idx: number): number {
  const w = pm.tableWords(table);
  const o = pm.tableBase(table) + idx * 2;
  return w[o] === 0 && w[o + 1] === 0 ? 0 : entry_pfn(w[o], w[o + 1]);
}

/** walk_hugetlb_range() for the 2 MiB hstate (mmsim has no other hugetlb page size). */
function walk_hugetlb_range(walk: MmWalk, addr: number, end: number): number {
  const ops = walk.ops;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const sz = PMD_SIZE;
  let err = 0;
  for (;;) {
    const next = addrEnd(addr, end, sz);
    if (huge_pte_offset(walk, alignDown(addr, sz)) > 0) {
      const w = pm.tableWords(walk.table);
      const o = pm.tableBase(walk.table) + walk.index * 2;
      c.pmdRead++;
      walk.lo = w[o];
      walk.hi = w[o + 1];
      c.walkCallbacks++;
      err = ops.hugetlb_entry!(walk, sz, addr, next);
    } else if (ops.pte_hole !== null) {
      c.walkCallbacks++;
      err = ops.pte_hole(addr, next, -1, walk);
    }
    if (err !== 0 || next === end) return err;
    addr = next;
  }
}

/**
 * walk_page_test(): whether to walk the current VMA on [start, end). 0 walks it, 1 skips it, < 0
 * aborts. Without test_walk, VM_PFNMAP VMAs (no struct pages) are skipped, reported to pte_hole
 * at depth -1 when one is set.
 */
function walk_page_test(start: number, end: number, walk: MmWalk): number {
  const ops = walk.ops;
  const c = walk.mm.machine.counters;
  if (ops.test_walk !== null) {
    c.walkCallbacks++;
    return ops.test_walk(start, end, walk);
  }
  if ((walk.vma!.vm_flags & VM_PFNMAP) !== 0) {
    let err = 1;
    if (ops.pte_hole !== null) {
      c.walkCallbacks++;
      err = ops.pte_hole(start, end, -1, walk);
    }
    return err !== 0 ? err : 1;
  }
  return 0;
}

/** __walk_page_range(): pre_vma, the page tables (or hugetlb entries), post_vma. */
function __walk_page_range(start: number, end: number, walk: MmWalk): number {
  const ops = walk.ops;
  const vma = walk.vma;
  const c = walk.mm.machine.counters;
  let err = 0;
  // No PTE installation into hugetlb VMAs.
  if (vma !== null && (vma.vm_flags & VM_HUGETLB) !== 0 && ops.install_pte !== null) return -EINVAL;
  // 6.0 also walks address gaps here with vma == NULL; they get no pre_vma/post_vma.
  if (vma !== null && ops.pre_vma !== null) {
    c.walkCallbacks++;
    err = ops.pre_vma(start, end, walk);
    if (err !== 0) return err;
  }
  if (vma !== null && (vma.vm_flags & VM_HUGETLB) !== 0) {
    if (ops.hugetlb_entry !== null) err = walk_hugetlb_range(walk, start, end);
  } else {
    err = walk_pgd_range(walk, start, end);
  }
  // Called whenever pre_vma succeeded, whatever the walk returned (it cannot report errors).
  if (vma !== null && ops.post_vma !== null) {
    c.walkCallbacks++;
    ops.post_vma(walk);
  }
  return err;
}

function process_mm_walk_lock(mm: MmStruct, walk_lock: number, profile: WalkProfile): void {
  if (!profile.walkLock || walk_lock === PGWALK_RDLOCK) mm.mmap_assert_locked();
  else mm.mmap_assert_write_locked();
}

function process_vma_walk_lock(vma: VmAreaStruct, walk_lock: number, profile: WalkProfile): void {
  if (!profile.walkLock) return;
  if (walk_lock === PGWALK_WRLOCK) {
    vma.vmaWriteLocked = true; // vma_start_write()
  } else if (walk_lock === PGWALK_WRLOCK_VERIFY && !vma.vmaWriteLocked) {
    BUG(
      `vma_assert_write_locked: VMA ${vma.vm_start.toString(16)}-${vma.vm_end.toString(16)} not write-locked`,
    );
  }
}

// ---- entry points -----------------------------------------------------------------------------

/**
 * check_ops_valid(): install_pte is for mm-internal walks (walk_page_range_mm()) only; every
 * entry point of include/linux/pagewalk.h refuses it.
 */
function check_ops_valid(ops: MmWalkOps): boolean {
  return ops.install_pte === null;
}

/**
 * walk_page_range(): walk [start, end) of `mm` VMA by VMA, calling `ops`. The caller holds the
 * mmap lock (read suffices for PGWALK_RDLOCK; the other walk_lock modes need it for write).
 * Returns 0, the first non-zero callback result (a test_walk positive value only skips its VMA),
 * or -EINVAL for start >= end, no mm, or ops with an install_pte. Gaps between VMAs reach
 * pte_hole with depth -1 (6.1+).
 */
export function walk_page_range(
  mm: MmStruct | null,
  start: number,
  end: number,
  ops: MmWalkOps,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  if (!check_ops_valid(ops)) return -EINVAL;
  return walk_page_range_mm(mm, start, end, ops, priv, kernel);
}

/**
 * walk_page_range_mm() (6.13+, mm/internal.h): walk_page_range() without the restriction on
 * `ops`, for mm code that installs PTEs (install_pte, as madvise_guard_install() does): empty
 * upper entries and PMDs then get page tables allocated instead of pte_hole() calls (-ENOMEM when
 * that fails), and hugetlb VMAs are -EINVAL.
 */
export function walk_page_range_mm(
  mm: MmStruct | null,
  start: number,
  end: number,
  ops: MmWalkOps,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  if (start >= end || mm === null) return -EINVAL;
  const profile = (kernel ?? mm.machine.kernel).walk;
  mm.machine.counters.walks++;
  process_mm_walk_lock(mm, ops.walk_lock, profile);
  const walk = getWalk(mm, ops, priv, profile);
  try {
    return walk_vmas(walk, mm, start, end);
  } finally {
    putWalk(walk);
  }
}

function walk_vmas(walk: MmWalk, mm: MmStruct, start: number, end: number): number {
  const ops = walk.ops;
  const profile = walk.profile;
  const c: Counters = mm.machine.counters;
  let vma = mm.find_vma(start);
  let err = 0;
  for (;;) {
    let next: number;
    if (vma === null || start < vma.vm_start) {
      // After the last VMA, or in the gap before `vma`.
      walk.vma = null;
      next = vma === null ? end : Math.min(end, vma.vm_start);
      if (profile.gapWalk) {
        if (ops.pte_hole !== null) err = __walk_page_range(start, next, walk);
      } else if (ops.pte_hole !== null) {
        c.walkCallbacks++;
        err = ops.pte_hole(start, next, -1, walk);
      }
    } else {
      process_vma_walk_lock(vma, ops.walk_lock, profile);
      walk.vma = vma;
      next = Math.min(end, vma.vm_end);
      vma = mm.find_vma(vma.vm_end);
      err = walk_page_test(start, next, walk);
      if (err > 0) {
        // Positive values only steer the walk; they never reach the caller.
        err = 0;
      } else if (err === 0) {
        err = __walk_page_range(start, next, walk);
      }
    }
    if (err !== 0 || next >= end) return err;
    start = next;
  }
}

/**
 * walk_page_range_vma() (6.2+): walk [start, end) inside one VMA. -EINVAL when start >= end or
 * the range leaves the VMA. test_walk is not consulted (the caller chose the VMA).
 */
export function walk_page_range_vma(
  vma: VmAreaStruct,
  start: number,
  end: number,
  ops: MmWalkOps,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  const mm = vma.vm_mm;
  if (start >= end || mm === null || !check_ops_valid(ops)) return -EINVAL;
  if (start < vma.vm_start || end > vma.vm_end) return -EINVAL;
  const profile = (kernel ?? mm.machine.kernel).walk;
  mm.machine.counters.walks++;
  process_mm_walk_lock(mm, ops.walk_lock, profile);
  process_vma_walk_lock(vma, ops.walk_lock, profile);
  const walk = getWalk(mm, ops, priv, profile);
  walk.vma = vma;
  try {
    return __walk_page_range(start, end, walk);
  } finally {
    putWalk(walk);
  }
}

/**
 * walk_page_vma(): walk a whole VMA. 6.0 and 6.1 first run walk_page_test() (a positive result
 * returns 0); 6.2+ do not.
 */
export function walk_page_vma(
  vma: VmAreaStruct,
  ops: MmWalkOps,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  const mm = vma.vm_mm;
  if (mm === null || !check_ops_valid(ops)) return -EINVAL;
  const profile = (kernel ?? mm.machine.kernel).walk;
  mm.machine.counters.walks++;
  process_mm_walk_lock(mm, ops.walk_lock, profile);
  process_vma_walk_lock(vma, ops.walk_lock, profile);
  const walk = getWalk(mm, ops, priv, profile);
  walk.vma = vma;
  try {
    if (profile.walkPageVmaTest) {
      const err = walk_page_test(vma.vm_start, vma.vm_end, walk);
      if (err > 0) return 0;
      if (err < 0) return err;
    }
    return __walk_page_range(vma.vm_start, vma.vm_end, walk);
  } finally {
    putWalk(walk);
  }
}

function walkNoVma(
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps,
  pgd: number,
  priv: unknown,
  profile: WalkProfile,
  viaWalkPageRange: boolean,
): number {
  const walk = getWalk(mm, ops, priv, profile);
  walk.pgd = pgd;
  walk.no_vma = true;
  try {
    return viaWalkPageRange ? __walk_page_range(start, end, walk) : walk_pgd_range(walk, start, end);
  } finally {
    putWalk(walk);
  }
}

/**
 * walk_page_range_novma(): walk page tables without looking at VMAs (`pgd` = a PGD table PFN, or
 * 0 for mm.pgd); PTEs are not locked and leaves are never split or descended into. 6.0: mmap
 * read lock; 6.1+: mmap write lock for a user mm (in 6.18 this is walk_page_range_debug()).
 */
export function walk_page_range_novma(
  mm: MmStruct | null,
  start: number,
  end: number,
  ops: MmWalkOps,
  pgd = 0,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  if (start >= end || mm === null || !check_ops_valid(ops)) return -EINVAL;
  const profile = (kernel ?? mm.machine.kernel).walk;
  mm.machine.counters.walks++;
  if (profile.novmaWriteLocked) mm.mmap_assert_write_locked();
  else mm.mmap_assert_locked();
  return walkNoVma(mm, start, end, ops, pgd, priv, profile, !profile.novmaWriteLocked);
}

/**
 * walk_page_range_debug() (6.18): walk_page_range_novma() for debug users (ptdump) of a user mm,
 * which must hold the mmap lock for write: munmap detaches VMAs before it downgrades to read and
 * frees page tables.
 */
export function walk_page_range_debug(
  mm: MmStruct | null,
  start: number,
  end: number,
  ops: MmWalkOps,
  pgd = 0,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  if (start >= end || mm === null || !check_ops_valid(ops)) return -EINVAL;
  mm.machine.counters.walks++;
  mm.mmap_assert_write_locked();
  return walkNoVma(mm, start, end, ops, pgd, priv, (kernel ?? mm.machine.kernel).walk, false);
}

/**
 * walk_kernel_page_table_range() (6.18): walk kernel page tables, which are not freed, under the
 * mmap read lock of init_mm. mmsim has no init_mm: the caller passes the mm that plays it.
 */
export function walk_kernel_page_table_range(
  initMm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps,
  pgd = 0,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  initMm.mmap_assert_locked();
  return walk_kernel_page_table_range_lockless(initMm, start, end, ops, pgd, priv, kernel);
}

/** walk_kernel_page_table_range_lockless(): as above, for callers that keep the tables alive. */
export function walk_kernel_page_table_range_lockless(
  initMm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps,
  pgd = 0,
  priv: unknown = null,
  kernel?: KernelProfile,
): number {
  if (start >= end || !check_ops_valid(ops)) return -EINVAL;
  initMm.machine.counters.walks++;
  return walkNoVma(initMm, start, end, ops, pgd, priv, (kernel ?? initMm.machine.kernel).walk, false);
}

// ---- folio_walk (6.12+) -------------------------------------------------------------------

/** folio_walk_flags: also report migration entries. */
export const FW_MIGRATION = 1 << 0;
/** folio_walk_flags: also report the shared zero page and the huge zero folio. */
export const FW_ZEROPAGE = 1 << 1;

/** enum folio_walk_level. */
export const FW_LEVEL_PTE = 0;
export const FW_LEVEL_PMD = 1;
export const FW_LEVEL_PUD = 2;

/** FolioWalk.ptl when the lock held is mm->page_table_lock (pud_lock()). */
export const FW_PTL_MM = -1;

/** struct folio_walk. */
export class FolioWalk {
  /** FW_LEVEL_PTE, FW_LEVEL_PMD or FW_LEVEL_PUD. */
  level = FW_LEVEL_PTE;
  /** The page mapped at the address (0 for the zero pages and migration entries). */
  page = 0;
  /** The entry found (fw->pte / fw->pmd / fw->pud) and where it lives. */
  lo = ENTRY_WORD_INIT;
  hi = ENTRY_WORD_INIT;
  table = 0;
  index = 0;
  /** The lock held until folio_walk_end(): a page-table PFN (split PTL) or FW_PTL_MM. */
  ptl = 0;
}

function pud_lock(mm: MmStruct, c: Counters): void {
  if (mm.pageTableLocked) BUG('possible recursive locking detected: mm->page_table_lock');
  mm.pageTableLocked = true;
  c.ptlLock++;
}

function pud_unlock(mm: MmStruct, c: Counters): void {
  if (!mm.pageTableLocked) BUG('spin_unlock: mm->page_table_lock not held');
  mm.pageTableLocked = false;
  c.ptlUnlock++;
}

/**
 * folio_walk_start()'s descent through the upper levels when the mm's lookup cache has no PMD
 * table for addr: the PMD table's PFN, 0 when nothing is mapped, or -pfn for a PUD leaf (fw is
 * then set up, with mm->page_table_lock held, for found()).
 */
function folio_walk_upper(fw: FolioWalk, mm: MmStruct, addr: number): number {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  let t = mm.pgd;
  let w = pm.tableWords(t);
  let o = 0;
  c.pgdRead++;
  if (mm.levels === 5) {
    o = pm.tableBase(t) + pgd_index(5, addr) * 2;
    if ((w[o] === 0 && w[o + 1] === 0) || pgd_bad(w[o])) return 0;
    t = entry_pfn(w[o], w[o + 1]);
    w = pm.tableWords(t);
  }
  c.p4dRead++;
  o = pm.tableBase(t) + p4d_index(addr) * 2;
  if ((w[o] === 0 && w[o + 1] === 0) || p4d_bad(w[o])) return 0;
  const pudT = entry_pfn(w[o], w[o + 1]);
  w = pm.tableWords(pudT);
  o = pm.tableBase(pudT) + pud_index(addr) * 2;
  c.pudRead++;
  let lo = w[o];
  let hi = w[o + 1];
  if (lo === 0 && hi === 0) return 0;
  if (!pud_present(lo) || pud_leaf(lo)) {
    pud_lock(mm, c);
    lo = w[o];
    hi = w[o + 1];
    fw.level = FW_LEVEL_PUD;
    fw.table = pudT;
    fw.index = pud_index(addr);
    fw.lo = lo;
    fw.hi = hi;
    if (!pud_present(lo) || (lo & _PAGE_SPECIAL) !== 0) {
      pud_unlock(mm, c);
      return 0;
    }
    if (pud_leaf(lo)) {
      fw.ptl = FW_PTL_MM;
      return -entry_pfn(lo, hi);
    }
    pud_unlock(mm, c);
  }
  return entry_pfn(lo, hi);
}

/**
 * folio_walk_start(): the folio mapped at `addr` in `vma`, with the page-table lock of its entry
 * held until folio_walk_end(); 0 (NULL) when nothing suitable is mapped (no lock held then). Only
 * vm_normal_page() pages unless FW_ZEROPAGE / FW_MIGRATION ask for more. mmap lock held (read).
 */
export function folio_walk_start(fw: FolioWalk, vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  mm.mmap_assert_locked();
  c.walks++;
  if (WARN_ON_ONCE(addr < vma.vm_start || addr >= vma.vm_end, 'folio_walk_start: addr outside vma')) return 0;
  let page = 0;
  let expose = true;
  let size = PAGE_SIZE;
  let lo = 0;
  let hi = 0;
  // The upper levels lead to a PMD table: take it from the mm's lookup cache (the same entries
  // are read and counted; only the simulator's work is saved).
  let pmdT = mm.find_pmd_table(addr);
  if (pmdT !== 0) {
    c.pgdRead++;
    c.p4dRead++;
    c.pudRead++;
  } else {
    pmdT = folio_walk_upper(fw, mm, addr);
    if (pmdT <= 0) return pmdT < 0 ? found(fw, pm, -pmdT, true, PUD_SIZE, addr) : 0;
  }
  // pmd_table:
  let w = pm.tableWords(pmdT);
  let o = pm.tableBase(pmdT) + pmd_index(addr) * 2;
  c.pmdRead++;
  lo = w[o];
  hi = w[o + 1];
  if (lo === 0 && hi === 0) return 0;
  if (!pmd_present(lo) || pmd_leaf(lo)) {
    ptlLock(pm, c, pmdT); // pmd_lock()
    lo = w[o];
    hi = w[o + 1];
    fw.level = FW_LEVEL_PMD;
    fw.table = pmdT;
    fw.index = pmd_index(addr);
    fw.lo = lo;
    fw.hi = hi;
    fw.ptl = pmdT;
    size = PMD_SIZE;
    if (lo === 0 && hi === 0) {
      ptlUnlock(pm, c, pmdT);
      return 0;
    }
    if (pmd_present(lo) && !pmd_leaf(lo)) {
      ptlUnlock(pm, c, pmdT);
    } else {
      if (pmd_present(lo)) {
        const pfn = entry_pfn(lo, hi);
        // vm_normal_page_pmd(): the huge zero folio is not a normal page.
        if (!pm.is_huge_zero_pfn(pfn)) page = pfn;
        else if ((flags & FW_ZEROPAGE) !== 0) {
          page = pfn;
          expose = false;
        }
      } else if ((flags & FW_MIGRATION) !== 0 && is_migration_entry(lo, hi)) {
        page = swp_offset(lo, hi);
        expose = false;
      }
      if (page !== 0) return found(fw, pm, page, expose, size, addr);
      ptlUnlock(pm, c, pmdT);
      return 0;
    }
  }
  // pte_table: pte_offset_map_lock()
  const pteT = entry_pfn(lo, hi);
  ptlLock(pm, c, pteT);
  w = pm.tableWords(pteT);
  const idx = pte_index(addr);
  o = pm.tableBase(pteT) + idx * 2;
  c.pteRead++;
  lo = w[o];
  hi = w[o + 1];
  fw.level = FW_LEVEL_PTE;
  fw.table = pteT;
  fw.index = idx;
  fw.lo = lo;
  fw.hi = hi;
  fw.ptl = pteT;
  if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0) {
    page = vm_normal_page(pm, lo, hi);
    if (page === 0 && (flags & FW_ZEROPAGE) !== 0 && pm.is_zero_pfn(entry_pfn(lo, hi))) {
      page = pm.zeroPfn;
      expose = false;
    }
  } else if ((lo !== 0 || hi !== 0) && (flags & FW_MIGRATION) !== 0 && is_migration_entry(lo, hi)) {
    page = swp_offset(lo, hi);
    expose = false;
  }
  if (page !== 0) return found(fw, pm, page, expose, PAGE_SIZE, addr);
  ptlUnlock(pm, c, pteT);
  return 0;
}

function found(
  fw: FolioWalk,
  pm: PhysMem,
  page: number,
  expose: boolean,
  size: number,
  addr: number,
): number {
  // fw->page is the page at addr, not the folio's first page.
  fw.page = expose ? page + subpageIndex(addr, size) : 0;
  return pm.folio(page);
}

/**
 * Simulator only: count a folio_walk_start() + folio_walk_end() pair that finds its page through
 * a PTE table again, without walking, for a caller that knows (by its own bookkeeping) that
 * nothing the walk reads has changed since it last walked the same address and found that page
 * there: the same entries are counted as read and the PTE lock as taken and dropped, as the walk
 * above would count them.
 */
export function folio_walk_count_pte(c: Counters): void {
  c.walks++;
  c.pgdRead++;
  c.p4dRead++;
  c.pudRead++;
  c.pmdRead++;
  c.pteRead++;
  c.ptlLock++;
  c.ptlUnlock++;
}

/** folio_walk_end(): drop the lock folio_walk_start() returned with. */
export function folio_walk_end(fw: FolioWalk, vma: VmAreaStruct): void {
  const mm = vma.vm_mm;
  const m = mm.machine;
  if (fw.ptl === FW_PTL_MM) pud_unlock(mm, m.counters);
  else ptlUnlock(m.phys, m.counters, fw.ptl);
}
