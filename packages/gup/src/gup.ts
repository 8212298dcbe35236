// mm/gup.c: follow_page() and its level helpers, try_grab_folio()/unpin_user_page(),
// __get_user_pages() with faultin_page(), the public get_user_pages*()/pin_user_pages*() entry
// points and the lockless get_user_pages_fast() walk with its fallback — as Linux 6.0, 6.1, 6.2
// and 6.18 have them (the gup switches of @mmsim/core's KernelProfile). Results are numbers: a PFN (> 0), 0 for NULL, or a negative
// errno for ERR_PTR().
//
// Simulator conventions (each deliberate, see README.md):
// - A small folio pinned with FOLL_PIN gets GUP_PIN_COUNTING_BIAS references, as in the kernel,
//   and ALSO pm.pincount[folio]++: mmsim's invariant checker (checkMmInvariants) accounts every
//   pin through pincount. The kernel keeps no _pincount for order-0 folios.
// - There is no `current`: the entry points take the mm. They take the mmap_lock for read
//   themselves (the lock is re-entrant for readers), except where the kernel contract hands the
//   caller a `locked` flag (get/pin_user_pages_remote with `locked`): then the caller holds it.
// - The fault handler GUP calls is `gupFault.handle_mm_fault` (mmu's handle_mm_fault unless a
//   test replaces it to script VM_FAULT_RETRY, COMPLETED or HWPOISON, which mmsim's fault path
//   never returns by itself).
// - No hugetlb, devmap, secretmem, gate area, stack expansion, fatal signals, ZONE_MOVABLE/CMA
//   or P2PDMA pages exist in mmsim: those branches are absent; FOLL_LONGTERM never migrates.

import {
  addrEnd,
  BUG,
  CallState,
  EAGAIN,
  EBUSY,
  EEXIST,
  EFAULT,
  EHWPOISON,
  EINVAL,
  EMLINK,
  ENOMEM,
  EOVERFLOW,
  HPAGE_PMD_NR,
  type KernelProfile,
  P4D_SIZE,
  PAGE_SIZE,
  PGDIR_SIZE_LA57,
  PMD_SIZE,
  PUD_SIZE,
  pageAlignDown,
  subpageIndex,
  VM_BUG_ON,
  WARN_ON,
  WARN_ON_ONCE,
} from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_USER,
  E,
  entry_pfn,
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_INTERRUPTIBLE,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  folio_maybe_dma_pinned,
  GUP_PIN_COUNTING_BIAS,
  handle_mm_fault,
  is_cow_mapping,
  is_migration_entry,
  type Machine,
  type MmStruct,
  migration_entry_wait,
  PG_dirty,
  PG_referenced,
  type PhysMem,
  p4d_bad,
  p4d_index,
  p4d_present,
  pgd_bad,
  pgd_index,
  pgd_present,
  pmd_bad,
  pmd_index,
  pmd_leaf,
  pmd_present,
  pte_dirty,
  pte_index,
  pte_present,
  pte_protnone,
  pte_soft_dirty,
  pte_special,
  pte_uffd_wp,
  pte_write,
  ptlLock,
  ptlUnlock,
  pud_bad,
  pud_index,
  pud_leaf,
  pud_present,
  readEntry,
  setEntry,
  split_huge_pmd,
  swp_offset,
  taskSizeMax,
  VM_EXEC,
  VM_FAULT_COMPLETED,
  VM_FAULT_ERROR,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_IO,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_UFFD_WP,
  VM_WRITE,
  type VmAreaStruct,
} from '@mmsim/mmu';
import {
  FOLL_ANON,
  FOLL_DUMP,
  FOLL_FAST_ONLY,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HONOR_NUMA_FAULT,
  FOLL_HWPOISON,
  FOLL_INTERRUPTIBLE,
  FOLL_LONGTERM,
  FOLL_MIGRATION,
  FOLL_NOFAULT,
  FOLL_NOWAIT,
  FOLL_NUMA,
  FOLL_PCI_P2PDMA,
  FOLL_PIN,
  FOLL_REMOTE,
  FOLL_SPLIT_PMD,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_UNLOCKABLE,
  FOLL_WRITE,
  INTERNAL_GUP_FLAGS,
} from './flags.ts';

/** MMF_HAS_PINNED (include/linux/mm_types.h): FOLL_PIN has run on this mm; never cleared. */
export const MMF_HAS_PINNED: number = 1 << 27;

/** struct follow_page_context: what follow_page_mask() reports beside the page. */
export interface FollowPageContext {
  /** HPAGE_PMD_NR - 1 after a PMD-mapped THP was found (the subpages GUP may skip), else 0. */
  page_mask: number;
}

/** The `int *locked` of the kernel API: 1 while the caller holds the mmap_lock. */
export interface GupLocked {
  value: number;
}

/** The fault handler GUP calls. A simulator seam: tests may replace it, and must restore it. */
export const gupFault: { handle_mm_fault: (vma: VmAreaStruct, address: number, flags: number) => number } = {
  handle_mm_fault,
};

/** Put mmu's handle_mm_fault() back as GUP's fault handler. */
export function resetGupFault(): void {
  gupFault.handle_mm_fault = handle_mm_fault;
}

/** GUP gives up on an address after this many fault-and-retry rounds without a page: the
 * kernel would spin forever; the simulator reports the livelock instead. */
const MAX_FAULT_RETRIES = 64;

// ---- small predicates ----------------------------------------------------------------------

/** vma_is_accessible(): any of read, write, exec. */
export function vma_is_accessible(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) !== 0;
}

/** vma_soft_dirty_enabled(): soft-dirty tracking is on once VM_SOFTDIRTY was cleared. */
function vma_soft_dirty_enabled(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & VM_SOFTDIRTY) === 0;
}

/**
 * gup_can_follow_protnone(): may a PROT_NONE-mapped entry be followed?
 * 6.0: unless FOLL_NUMA; 6.1/6.2: with FOLL_FORCE; 6.18: unless FOLL_HONOR_NUMA_FAULT is set and
 * the VMA is accessible (NUMA hinting faults do not apply to PROT_NONE VMAs).
 */
export function gup_can_follow_protnone(
  vma: VmAreaStruct | null,
  flags: number,
  kernel: KernelProfile,
): boolean {
  if (kernel.gup.numa) return (flags & FOLL_NUMA) === 0;
  if (kernel.gup.honorNuma) {
    if ((flags & FOLL_HONOR_NUMA_FAULT) === 0) return true;
    return vma !== null && !vma_is_accessible(vma);
  }
  return (flags & FOLL_FORCE) !== 0;
}

/**
 * gup_must_unshare(): must a R/O pin first unshare the page (FAULT_FLAG_UNSHARE)? True for a
 * read-only FOLL_PIN of an anon page that is not PageAnonExclusive — every KSM page included.
 * From 6.2 also for R/O FOLL_LONGTERM pins of non-anon pages (the zero page) in COW mappings;
 * `vma` is null on the lockless path, where that case always falls back.
 */
export function gup_must_unshare(
  pm: PhysMem,
  vma: VmAreaStruct | null,
  flags: number,
  page: number,
  kernel: KernelProfile,
): boolean {
  if ((flags & (FOLL_WRITE | FOLL_PIN)) !== FOLL_PIN) return false;
  if (!pm.PageAnon(page)) {
    if (!kernel.gup.unshareNonAnon || (flags & FOLL_LONGTERM) === 0) return false;
    if (vma === null) return true;
    return is_cow_mapping(vma.vm_flags);
  }
  return !pm.PageAnonExclusive(page);
}

/**
 * can_follow_write_pte(): may a FOLL_WRITE lookup use this PTE? Writable PTEs yes; otherwise only
 * FOLL_FORCE on a private, VM_MAYWRITE, !VM_WRITE mapping whose page is an exclusive anon page
 * (COW already broken), unless soft-dirty or uffd-wp tracking needs a write fault first.
 */
export function can_follow_write_pte(
  pm: PhysMem,
  lo: number,
  page: number,
  vma: VmAreaStruct,
  flags: number,
): boolean {
  if (pte_write(lo)) return true;
  if (!can_follow_write_common(pm, page, vma, flags)) return false;
  if (vma_soft_dirty_enabled(vma) && !pte_soft_dirty(lo)) return false;
  return !((vma.vm_flags & VM_UFFD_WP) !== 0 && pte_uffd_wp(lo));
}

/** can_follow_write_pmd(): can_follow_write_pte() for a huge PMD. */
export function can_follow_write_pmd(
  pm: PhysMem,
  lo: number,
  page: number,
  vma: VmAreaStruct,
  flags: number,
): boolean {
  return can_follow_write_pte(pm, lo, page, vma, flags);
}

/** can_follow_write_common() (6.12+; open-coded in both helpers before). */
function can_follow_write_common(pm: PhysMem, page: number, vma: VmAreaStruct, flags: number): boolean {
  if ((flags & FOLL_FORCE) === 0) return false;
  if ((vma.vm_flags & (VM_MAYSHARE | VM_SHARED)) !== 0) return false;
  if ((vma.vm_flags & VM_MAYWRITE) === 0) return false;
  if ((vma.vm_flags & VM_WRITE) !== 0) return false;
  return page !== 0 && pm.PageAnon(page) && pm.PageAnonExclusive(page);
}

// ---- grabbing and releasing ----------------------------------------------------------------

/** Largest _refcount the Int32Array holds; a grab that would pass it fails like a wrapped count. */
const REFCOUNT_MAX = 0x7fffffff;

/**
 * try_grab_folio(folio, refs, flags): take `refs` references (FOLL_GET) or pins (FOLL_PIN: a
 * small folio gets refs * GUP_PIN_COUNTING_BIAS references, plus pm.pincount += refs in mmsim;
 * a large folio refs references and refs pins). Neither flag: nothing. Returns 0, or -ENOMEM
 * when the refcount is not usable (zero, or it would overflow), with a warning as the kernel's.
 * 6.18 never pins the shared zero page.
 */
export function try_grab_folio(
  pm: PhysMem,
  folio: number,
  refs: number,
  flags: number,
  kernel: KernelProfile,
): number {
  if ((flags & (FOLL_GET | FOLL_PIN)) === 0) return 0;
  const rc = pm.refcount[folio];
  let add = refs;
  const large = pm.folio_test_large(folio);
  if ((flags & FOLL_GET) === 0 && !large) add = refs * GUP_PIN_COUNTING_BIAS;
  if (rc <= 0 || rc > REFCOUNT_MAX - add) {
    WARN_ON_ONCE(true, `try_grab_folio: refcount ${rc} of folio ${folio}`);
    return -ENOMEM;
  }
  if ((flags & FOLL_GET) !== 0) {
    pm.get_page(folio);
    if (refs > 1) pm.folio_ref_add(folio, refs - 1);
    return 0;
  }
  if (kernel.gup.noZeroPin && pm.is_zero_pfn(folio)) return 0;
  pm.get_page(folio);
  pm.folio_ref_add(folio, add - 1);
  pm.pincount[folio] += refs;
  return 0;
}

/** folio_put_refs(): drop `refs` references, freeing the folio with the last one. */
function folio_put_refs(pm: PhysMem, folio: number, refs: number): void {
  if (refs > 1) {
    if (pm.refcount[folio] <= refs - 1)
      BUG(`folio_put_refs: underflow on ${folio}`, () => pm.dumpPage(folio));
    pm.refcount[folio] -= refs - 1;
  }
  pm.put_page(folio);
}

/** gup_put_folio(): undo try_grab_folio(folio, refs, flags). */
export function gup_put_folio(pm: PhysMem, folio: number, refs: number, flags: number): void {
  if ((flags & FOLL_PIN) !== 0) {
    if (pm.is_zero_pfn(folio) && pm.pincount[folio] === 0) return; // never pinned (6.5+)
    if (pm.pincount[folio] < refs) BUG(`unpin: folio ${folio} is not pinned`, () => pm.dumpPage(folio));
    pm.pincount[folio] -= refs;
    if (!pm.folio_test_large(folio)) refs *= GUP_PIN_COUNTING_BIAS;
  }
  folio_put_refs(pm, folio, refs);
}

/** unpin_user_page(): release a page pinned by pin_user_pages*(). */
export function unpin_user_page(pm: PhysMem, page: number): void {
  gup_put_folio(pm, pm.folio(page), 1, FOLL_PIN);
}

/** unpin_user_pages(): release `npages` pinned pages; consecutive pages of one folio at once. */
export function unpin_user_pages(pm: PhysMem, pages: ArrayLike<number>, npages: number): void {
  if (WARN_ON(npages < 0, 'unpin_user_pages: negative count (an errno passed as npages?)')) return;
  let i = 0;
  while (i < npages) {
    const folio = pm.folio(pages[i]);
    let nr = i + 1;
    while (nr < npages && pm.folio(pages[nr]) === folio) nr++;
    gup_put_folio(pm, folio, nr - i, FOLL_PIN);
    i = nr;
  }
}

/** unpin_user_pages_dirty_lock(): mark each folio dirty (if asked) and unpin. */
export function unpin_user_pages_dirty_lock(
  pm: PhysMem,
  pages: ArrayLike<number>,
  npages: number,
  make_dirty: boolean,
): void {
  if (!make_dirty) {
    unpin_user_pages(pm, pages, npages);
    return;
  }
  let i = 0;
  while (i < npages) {
    const folio = pm.folio(pages[i]);
    let nr = i + 1;
    while (nr < npages && pm.folio(pages[nr]) === folio) nr++;
    pm.flags[folio] |= PG_dirty;
    gup_put_folio(pm, folio, nr - i, FOLL_PIN);
    i = nr;
  }
}

/** put_page() for every page of a get_user_pages() result (release_pages()). */
export function release_pages(pm: PhysMem, pages: ArrayLike<number>, npages: number): void {
  for (let i = 0; i < npages; i++) pm.put_page(pages[i]);
}

/** page_maybe_dma_pinned(): the page's folio may be pinned (pins are counted exactly for
 * large folios; a small folio with GUP_PIN_COUNTING_BIAS references may be a false positive). */
export function page_maybe_dma_pinned(pm: PhysMem, page: number): boolean {
  return folio_maybe_dma_pinned(pm, pm.folio(page));
}

// ---- follow_page() and its level helpers ---------------------------------------------------

/**
 * no_page_table(): nothing is mapped. NULL (0) — GUP then faults the page in — except with
 * FOLL_DUMP on an anonymous VMA, where a hole reads as zeros: -EFAULT keeps the core dump from
 * allocating pages and tables.
 */
export function no_page_table(vma: VmAreaStruct, flags: number): number {
  if ((flags & FOLL_DUMP) !== 0 && vma.vma_is_anonymous()) return -EFAULT;
  return 0;
}

/** pmd_migration_entry_wait()/migration_entry_wait(): the simulator's waiter completes the
 * pending migration. A migration entry without a migration in progress is a simulator bug. */
function waitForMigration(m: Machine, lo: number, hi: number): void {
  const pfn = swp_offset(lo, hi);
  if (!m.migrations.has(pfn)) BUG(`migration entry for pfn ${pfn} without a migration in progress`);
  migration_entry_wait(m, pfn);
}

/**
 * follow_page(vma, address, foll_flags): the page mapped at `address` — a PFN (the subpage of a
 * THP; the zero page for a zero-page PTE unless FOLL_DUMP), 0 for "nothing (usable) mapped", or
 * a negative errno (-EFAULT, -EEXIST, -EMLINK, -ENOMEM, -EBUSY, -EINVAL). FOLL_PIN → 0. With
 * FOLL_GET the caller owns a reference (pm.put_page()); with FOLL_MIGRATION (6.0/6.1) a migration
 * entry is waited for and the lookup retried. The caller holds the mmap_lock (not asserted, as in
 * the kernel). Removed from Linux in 6.12; kept under every profile, behaving as follow_page_mask().
 */
export function follow_page(
  vma: VmAreaStruct,
  address: number,
  foll_flags: number,
  kernel: KernelProfile = vma.vm_mm.machine.kernel,
): number {
  // vma_is_secretmem(): no secretmem in mmsim.
  if ((foll_flags & FOLL_PIN) !== 0) return 0;
  // 6.5+: "We never set FOLL_HONOR_NUMA_FAULT because callers don't expect to fail on
  // PROT_NONE-mapped pages."
  const ctx = followPageContexts.get();
  ctx.page_mask = 0;
  try {
    return follow_page_mask(vma, address, foll_flags, ctx, kernel);
  } finally {
    followPageContexts.put();
  }
}

/** follow_page()'s on-stack struct follow_page_context, one per call. */
const followPageContexts = new CallState<FollowPageContext>(() => ({ page_mask: 0 }));

/**
 * follow_page_mask(): the PGD level of the lookup. Counts one followPage per call and one
 * pXdRead per entry the kernel reads (with 4-level paging the folded P4D entry is the PGD entry,
 * read twice: pgdRead and p4dRead, as mm/pagewalk.c's walker counts it too). Sets ctx.page_mask.
 */
export function follow_page_mask(
  vma: VmAreaStruct,
  address: number,
  flags: number,
  ctx: FollowPageContext,
  kernel: KernelProfile = vma.vm_mm.machine.kernel,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const c = m.counters;
  c.followPage++;
  ctx.page_mask = 0;
  if (mm.levels === 5) {
    readEntry(m.phys, mm.pgd, pgd_index(5, address));
    c.pgdRead++;
    const lo = E.lo;
    const hi = E.hi;
    if (!pgd_present(lo) || pgd_bad(lo)) return no_page_table(vma, flags);
    return follow_p4d_mask(vma, address, entry_pfn(lo, hi), flags, ctx, kernel);
  }
  // Folded P4D: the PGD entry is read here and again, as the P4D entry, by follow_p4d_mask().
  readEntry(m.phys, mm.pgd, pgd_index(4, address));
  c.pgdRead++;
  if (!pgd_present(E.lo) || pgd_bad(E.lo)) return no_page_table(vma, flags);
  return follow_p4d_mask(vma, address, mm.pgd, flags, ctx, kernel);
}

/**
 * follow_p4d_mask(): `table` holds the P4D entry — the P4D page with 5-level paging, the PGD
 * itself with 4-level paging (P4D folded).
 */
function follow_p4d_mask(
  vma: VmAreaStruct,
  address: number,
  table: number,
  flags: number,
  ctx: FollowPageContext,
  kernel: KernelProfile,
): number {
  const mm = vma.vm_mm;
  const c = mm.machine.counters;
  readEntry(mm.machine.phys, table, p4d_index(address));
  c.p4dRead++;
  const lo = E.lo;
  const hi = E.hi;
  if (!p4d_present(lo) || p4d_bad(lo)) return no_page_table(vma, flags);
  return follow_pud_mask(vma, address, entry_pfn(lo, hi), flags, ctx, kernel);
}

/** follow_pud_mask(): `pudTable` is the PUD page. mmsim maps no PUD leaves (no hugetlb/devmap);
 * a leaf is pud_bad() → no_page_table(), as 6.0 treats a non-hugetlb huge PUD. */
function follow_pud_mask(
  vma: VmAreaStruct,
  address: number,
  pudTable: number,
  flags: number,
  ctx: FollowPageContext,
  kernel: KernelProfile,
): number {
  const mm = vma.vm_mm;
  readEntry(mm.machine.phys, pudTable, pud_index(address));
  mm.machine.counters.pudRead++;
  const lo = E.lo;
  const hi = E.hi;
  if (!pud_present(lo) || pud_bad(lo)) return no_page_table(vma, flags);
  return follow_pmd_mask(vma, address, entry_pfn(lo, hi), flags, ctx, kernel);
}

/**
 * follow_pmd_mask(): `pmdTable` is the PMD page. A table entry goes to follow_page_pte(); a
 * PMD-mapped THP is handled under the PMD lock (FOLL_SPLIT_PMD splits it first). A THP migration
 * entry is waited for with FOLL_MIGRATION (6.0/6.1), otherwise it is "no page".
 */
function follow_pmd_mask(
  vma: VmAreaStruct,
  address: number,
  pmdT: number,
  flags: number,
  ctx: FollowPageContext,
  kernel: KernelProfile,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const pi = pmd_index(address);
  readEntry(pm, pmdT, pi);
  c.pmdRead++;
  let lo = E.lo;
  let hi = E.hi;
  if (lo === 0 && hi === 0) return no_page_table(vma, flags);
  if (kernel.gup.migration) {
    // (retry) 6.0/6.1
    while (!pmd_present(lo)) {
      VM_BUG_ON(!is_migration_entry(lo, hi), 'follow_pmd_mask: non-present PMD is not a migration entry');
      if ((flags & FOLL_MIGRATION) === 0) return no_page_table(vma, flags);
      waitForMigration(m, lo, hi);
      readEntry(pm, pmdT, pi);
      c.pmdRead++;
      lo = E.lo;
      hi = E.hi;
      // MADV_DONTNEED may have cleared it: it runs under the mmap_lock in read mode.
      if (lo === 0 && hi === 0) return no_page_table(vma, flags);
    }
  } else if (!pmd_present(lo)) return no_page_table(vma, flags);
  if (!pmd_leaf(lo)) return follow_page_pte(vma, address, pmdT, pi, flags, kernel);
  if (pte_protnone(lo) && !gup_can_follow_protnone(vma, flags, kernel)) return no_page_table(vma, flags);
  // (retry_locked)
  for (;;) {
    ptlLock(pm, c, pmdT);
    readEntry(pm, pmdT, pi);
    c.pmdRead++;
    lo = E.lo;
    hi = E.hi;
    if (kernel.gup.pmdNoneLocked && lo === 0 && hi === 0) {
      ptlUnlock(pm, c, pmdT);
      return no_page_table(vma, flags);
    }
    if (!pmd_present(lo)) {
      ptlUnlock(pm, c, pmdT);
      if (!kernel.gup.migration || (flags & FOLL_MIGRATION) === 0) return no_page_table(vma, flags);
      waitForMigration(m, lo, hi);
      continue;
    }
    break;
  }
  if (!pmd_leaf(lo)) {
    ptlUnlock(pm, c, pmdT);
    return follow_page_pte(vma, address, pmdT, pi, flags, kernel);
  }
  if ((flags & FOLL_SPLIT_PMD) !== 0) {
    const huge_zero = pm.is_huge_zero_pfn(entry_pfn(lo, hi));
    ptlUnlock(pm, c, pmdT);
    split_huge_pmd(vma, address, pmdT, pi);
    let ret = 0;
    if (huge_zero && !kernel.gup.followHugePmd) {
      // pmd_trans_unstable(): none or still huge after the split
      readEntry(pm, pmdT, pi);
      if ((E.lo === 0 && E.hi === 0) || pmd_leaf(E.lo)) ret = -EBUSY;
    } else if (!mm.pte_alloc(pmdT, pi)) ret = -ENOMEM;
    return ret !== 0 ? ret : follow_page_pte(vma, address, pmdT, pi, flags, kernel);
  }
  const page = follow_trans_huge_pmd(vma, address, pmdT, pi, lo, hi, flags, kernel);
  ptlUnlock(pm, c, pmdT);
  // 6.0-6.2 set the mask whatever the result; 6.18's follow_huge_pmd() only on success.
  if (page > 0 || !kernel.gup.followHugePmd) ctx.page_mask = HPAGE_PMD_NR - 1;
  return page;
}

/** follow_trans_huge_pmd() (6.0-6.2) / follow_huge_pmd() (6.18): the subpage for `address` of
 * a PMD-mapped THP or the huge zero page. Called with the PMD lock held. */
function follow_trans_huge_pmd(
  vma: VmAreaStruct,
  address: number,
  pmdT: number,
  pi: number,
  lo: number,
  hi: number,
  flags: number,
  kernel: KernelProfile,
): number {
  const pm = vma.vm_mm.machine.phys;
  const head = entry_pfn(lo, hi);
  const huge_zero = pm.is_huge_zero_pfn(head);
  if ((flags & FOLL_WRITE) !== 0 && !can_follow_write_pmd(pm, lo, huge_zero ? 0 : head, vma, flags)) return 0;
  if ((flags & FOLL_DUMP) !== 0 && huge_zero) return -EFAULT;
  if (pte_protnone(lo) && !gup_can_follow_protnone(vma, flags, kernel)) return 0;
  if ((lo & _PAGE_RW) === 0 && gup_must_unshare(pm, vma, flags, head, kernel)) return -EMLINK;
  if ((flags & FOLL_PIN) !== 0 && pm.PageAnon(head) && !pm.PageAnonExclusive(head))
    BUG(`follow_trans_huge_pmd: pinning a shared anon THP ${head}`, () => pm.dumpPage(head));
  const ret = try_grab_folio(pm, head, 1, flags, kernel);
  if (ret !== 0) return ret;
  if ((flags & FOLL_TOUCH) !== 0) {
    // touch_pmd(): young, and dirty for a write
    let nlo = lo | _PAGE_ACCESSED;
    if ((flags & FOLL_WRITE) !== 0) nlo |= _PAGE_DIRTY;
    if (nlo !== lo) setEntry(pm, pmdT, pi, nlo >>> 0, hi);
  }
  return head + subpageIndex(address, PMD_SIZE);
}

/**
 * follow_page_pte(): the PTE level, under the PTE table's lock. The PMD entry for `address`
 * (the kernel's pmd_t *) is entry `pi` of table `pmdT` and must point to a PTE table.
 * Non-present entries are "no page" (NULL), a none entry goes to no_page_table(); with
 * FOLL_MIGRATION (6.0/6.1) a migration entry is waited for and the lookup retried.
 */
function follow_page_pte(
  vma: VmAreaStruct,
  address: number,
  pmdT: number,
  pi: number,
  flags: number,
  kernel: KernelProfile,
): number {
  if (
    WARN_ON_ONCE(
      (flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET),
      'follow_page_pte: FOLL_GET|FOLL_PIN',
    )
  )
    return -EINVAL;
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const idx = pte_index(address);
  let pteT = 0;
  let lo = 0;
  let hi = 0;
  // (retry)
  for (;;) {
    readEntry(pm, pmdT, pi);
    if (pmd_bad(E.lo)) return no_page_table(vma, flags); // also a PMD gone meanwhile
    pteT = entry_pfn(E.lo, E.hi);
    ptlLock(pm, c, pteT);
    readEntry(pm, pteT, idx);
    c.pteRead++;
    lo = E.lo;
    hi = E.hi;
    if (pte_present(lo)) break;
    if (
      kernel.gup.migration &&
      (flags & FOLL_MIGRATION) !== 0 &&
      (lo !== 0 || hi !== 0) &&
      is_migration_entry(lo, hi)
    ) {
      ptlUnlock(pm, c, pteT);
      waitForMigration(m, lo, hi);
      continue;
    }
    // (no_page)
    ptlUnlock(pm, c, pteT);
    if (lo !== 0 || hi !== 0) return 0;
    return no_page_table(vma, flags);
  }
  if (pte_protnone(lo) && !gup_can_follow_protnone(vma, flags, kernel)) {
    ptlUnlock(pm, c, pteT);
    return 0;
  }
  let page = pte_special(lo) ? 0 : entry_pfn(lo, hi);
  if (page !== 0 && pm.is_zero_pfn(page)) page = 0; // vm_normal_page()
  if ((flags & FOLL_WRITE) !== 0 && !can_follow_write_pte(pm, lo, page, vma, flags)) {
    ptlUnlock(pm, c, pteT);
    return 0;
  }
  if (page === 0) {
    if ((flags & FOLL_DUMP) !== 0) {
      // Special pages such as the zero page stay out of core dumps.
      ptlUnlock(pm, c, pteT);
      return -EFAULT;
    }
    const pfn = entry_pfn(lo, hi);
    if (pm.is_zero_pfn(pfn)) page = pfn;
    else {
      const ret = follow_pfn_pte(vma, pteT, idx, lo, hi, flags);
      ptlUnlock(pm, c, pteT);
      return ret;
    }
  }
  if (!pte_write(lo) && gup_must_unshare(pm, vma, flags, page, kernel)) {
    ptlUnlock(pm, c, pteT);
    return -EMLINK;
  }
  if ((flags & FOLL_PIN) !== 0 && pm.PageAnon(page) && !pm.PageAnonExclusive(page))
    BUG(`follow_page_pte: pinning a shared anon page ${page}`, () => pm.dumpPage(page));
  const folio = pm.folio(page);
  const ret = try_grab_folio(pm, folio, 1, flags, kernel);
  if (ret !== 0) {
    ptlUnlock(pm, c, pteT);
    return ret;
  }
  if ((flags & FOLL_TOUCH) !== 0) {
    if ((flags & FOLL_WRITE) !== 0 && !pte_dirty(lo) && (pm.flags[folio] & PG_dirty) === 0)
      pm.flags[folio] |= PG_dirty;
    // mark_page_accessed(): pte_mkyoung() would need atomic care for the dirty bit.
    pm.flags[folio] |= PG_referenced;
  }
  ptlUnlock(pm, c, pteT);
  return page;
}

/** follow_pfn_pte(): a present PTE without a struct page (a PFN map): with FOLL_TOUCH make it
 * young (and dirty for a write), then -EEXIST. PTL held. */
function follow_pfn_pte(
  vma: VmAreaStruct,
  pteT: number,
  idx: number,
  lo: number,
  hi: number,
  flags: number,
): number {
  if ((flags & FOLL_TOUCH) !== 0) {
    let nlo = lo | _PAGE_ACCESSED;
    if ((flags & FOLL_WRITE) !== 0) nlo |= _PAGE_DIRTY;
    if (nlo !== lo) setEntry(vma.vm_mm.machine.phys, pteT, idx, nlo >>> 0, hi);
  }
  return -EEXIST;
}

// ---- the slow path: __get_user_pages() -------------------------------------------------------

/** vm_fault_to_errno(). */
export function vm_fault_to_errno(vm_fault: number, foll_flags: number): number {
  if ((vm_fault & VM_FAULT_OOM) !== 0) return -ENOMEM;
  if ((vm_fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)) !== 0)
    return (foll_flags & FOLL_HWPOISON) !== 0 ? -EHWPOISON : -EFAULT;
  if ((vm_fault & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV)) !== 0) return -EFAULT;
  return 0;
}

/**
 * check_vma_flags(): may GUP with these flags touch this VMA? -EFAULT for VM_IO/VM_PFNMAP, for
 * FOLL_ANON on non-anonymous memory, for writes to !VM_WRITE mappings unless FOLL_FORCE on a COW
 * mapping, and for reads of !VM_READ mappings unless FOLL_FORCE with VM_MAYREAD.
 */
export function check_vma_flags(vma: VmAreaStruct, gup_flags: number): number {
  const vm_flags = vma.vm_flags;
  if ((vm_flags & (VM_IO | VM_PFNMAP)) !== 0) return -EFAULT;
  if ((gup_flags & FOLL_ANON) !== 0 && !vma.vma_is_anonymous()) return -EFAULT;
  // FOLL_LONGTERM on fsdax (-EOPNOTSUPP) and secretmem: no such VMAs in mmsim.
  if ((gup_flags & FOLL_WRITE) !== 0) {
    if ((vm_flags & VM_WRITE) === 0) {
      if ((gup_flags & FOLL_FORCE) === 0) return -EFAULT;
      // Anon pages in shared mappings are surprising: FOLL_FORCE only breaks COW.
      if (!is_cow_mapping(vm_flags)) return -EFAULT;
    }
  } else if ((vm_flags & VM_READ) === 0) {
    if ((gup_flags & FOLL_FORCE) === 0) return -EFAULT;
    if ((vm_flags & VM_MAYREAD) === 0) return -EFAULT;
  }
  return 0;
}

/**
 * faultin_page(): fault the page in for GUP. FOLL_* become FAULT_FLAG_* (WRITE, REMOTE,
 * ALLOW_RETRY|KILLABLE when the lock may be dropped, ALLOW_RETRY|RETRY_NOWAIT for FOLL_NOWAIT,
 * TRIED, UNSHARE for an -EMLINK lookup). Returns 0 (retry the lookup), -EBUSY (VM_FAULT_RETRY),
 * -EAGAIN (VM_FAULT_COMPLETED: the lock was dropped), or vm_fault_to_errno()'s error;
 * FOLL_NOFAULT → -EFAULT.
 */
export function faultin_page(
  vma: VmAreaStruct,
  address: number,
  flags: number,
  unshare: boolean,
  locked: GupLocked | null,
  kernel: KernelProfile = vma.vm_mm.machine.kernel,
): number {
  if ((flags & FOLL_NOFAULT) !== 0) return -EFAULT;
  let fault_flags = 0;
  if ((flags & FOLL_WRITE) !== 0) fault_flags |= FAULT_FLAG_WRITE;
  if ((flags & FOLL_REMOTE) !== 0) fault_flags |= FAULT_FLAG_REMOTE;
  if (kernel.gup.validArgs) {
    if ((flags & FOLL_UNLOCKABLE) !== 0) {
      fault_flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
      if ((flags & FOLL_INTERRUPTIBLE) !== 0) fault_flags |= FAULT_FLAG_INTERRUPTIBLE;
    }
  } else if (locked !== null) fault_flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE;
  if ((flags & FOLL_NOWAIT) !== 0) fault_flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_RETRY_NOWAIT;
  if ((flags & FOLL_TRIED) !== 0) fault_flags |= FAULT_FLAG_TRIED;
  if (unshare) {
    fault_flags |= FAULT_FLAG_UNSHARE;
    VM_BUG_ON(
      (fault_flags & FAULT_FLAG_WRITE) !== 0,
      'faultin_page: FAULT_FLAG_WRITE with FAULT_FLAG_UNSHARE',
    );
  }
  const ret = gupFault.handle_mm_fault(vma, address, fault_flags);
  if ((ret & VM_FAULT_COMPLETED) !== 0) {
    // With FAULT_FLAG_RETRY_NOWAIT the fault handler never drops the mmap_lock.
    WARN_ON_ONCE(
      (fault_flags & FAULT_FLAG_RETRY_NOWAIT) !== 0,
      'faultin_page: VM_FAULT_COMPLETED with RETRY_NOWAIT',
    );
    if (locked !== null) locked.value = 0;
    return -EAGAIN;
  }
  if ((ret & VM_FAULT_ERROR) !== 0) {
    const err = vm_fault_to_errno(ret, flags);
    if (err !== 0) return err;
    BUG(`faultin_page: VM_FAULT_ERROR 0x${ret.toString(16)} without an errno`);
  }
  if ((ret & VM_FAULT_RETRY) !== 0) {
    if (locked !== null && (fault_flags & FAULT_FLAG_RETRY_NOWAIT) === 0) locked.value = 0;
    return -EBUSY;
  }
  return 0;
}

/**
 * __get_user_pages(): look up (faulting in as needed) `nr_pages` pages from `start`, storing
 * the PFNs in pages[pagesOff...] when GET or PIN is set (pages must be given exactly then).
 * Returns the number of pages done (possibly fewer than asked), or an errno if none; 0 when the
 * fault path dropped the mmap_lock (`locked.value` becomes 0). The mmap_lock must be held.
 */
export function __get_user_pages(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked: GupLocked | null,
  kernel: KernelProfile = mm.machine.kernel,
  off = 0,
): number {
  if (nr_pages === 0) return 0;
  mm.mmap_assert_locked();
  VM_BUG_ON(
    (pages !== null) !== ((gup_flags & (FOLL_GET | FOLL_PIN)) !== 0),
    '__get_user_pages: pages iff GET/PIN',
  );
  VM_BUG_ON(pages !== null && pages.length < off + nr_pages, '__get_user_pages: pages[] too short');
  if (kernel.gup.validArgs)
    WARN_ON_ONCE((gup_flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET), '__get_user_pages: GET|PIN');
  // 6.0: FOLL_FORCE accesses do not take NUMA hinting faults.
  if (kernel.gup.numa && (gup_flags & FOLL_FORCE) === 0) gup_flags |= FOLL_NUMA;
  const pm = mm.machine.phys;
  const ctx: FollowPageContext = { page_mask: 0 };
  let ret = 0;
  let i = 0;
  let vma: VmAreaStruct | null = null;
  do {
    const foll_flags = gup_flags;
    if (vma === null || start >= vma.vm_end) {
      // find_extend_vma()/gup_vma_lookup(); mmsim has no gate area and no VM_GROWSDOWN stacks.
      vma = mm.vma_lookup(start);
      if (vma === null) {
        ret = -EFAULT;
        break;
      }
      ret = check_vma_flags(vma, gup_flags);
      if (ret !== 0) break;
    }
    // (retry) fatal_signal_pending() and cond_resched(): no signals in mmsim.
    let page = 0;
    let tries = 0;
    for (;;) {
      page = follow_page_mask(vma, start, foll_flags, ctx, kernel);
      if (page !== 0 && page !== -EMLINK) break;
      ret = faultin_page(vma, start, foll_flags, page === -EMLINK, locked, kernel);
      if (ret === 0) {
        if (++tries > MAX_FAULT_RETRIES) BUG(`__get_user_pages: no progress at 0x${start.toString(16)}`);
        continue;
      }
      break;
    }
    if (page === 0 || page === -EMLINK) {
      if (ret === -EBUSY || ret === -EAGAIN) ret = 0;
      else if (ret !== -EFAULT && ret !== -ENOMEM && ret !== -EHWPOISON)
        BUG(`__get_user_pages: faultin_page returned ${ret}`);
      break;
    }
    if (page === -EEXIST) {
      // A valid PTE without a struct page: fatal only when pages[] must be filled.
      if (pages !== null) {
        ret = -EEXIST;
        break;
      }
    } else if (page < 0) {
      ret = page;
      break;
    }
    // (next_page)
    const mask = ctx.page_mask;
    let page_increm = 1;
    if (kernel.gup.thpBatch || pages === null || page < 0) {
      if (mask !== 0) page_increm = 1 + mask - (Math.floor(start / PAGE_SIZE) % (mask + 1));
    }
    if (page_increm > nr_pages) page_increm = nr_pages;
    if (pages !== null && page > 0) {
      if (page_increm > 1) {
        // The rest of this THP's subpages: their references in one go (6.5+).
        const folio = pm.folio(page);
        if (try_grab_folio(pm, folio, page_increm - 1, gup_flags, kernel) !== 0) {
          gup_put_folio(pm, folio, 1, gup_flags);
          ret = -EFAULT;
          break;
        }
      }
      for (let j = 0; j < page_increm; j++) pages[off + i + j] = page + j;
    }
    i += page_increm;
    start += page_increm * PAGE_SIZE;
    nr_pages -= page_increm;
  } while (nr_pages > 0);
  return i !== 0 ? i : ret;
}

/** __get_user_pages_locked(): __get_user_pages() plus the retry after the fault path dropped
 * the mmap_lock. `locked.value === 0` on entry (6.18 convention): take and release the lock here. */
function __get_user_pages_locked(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  off: number,
  locked: GupLocked | null,
  flags: number,
  kernel: KernelProfile,
): number {
  if (nr_pages === 0) return 0;
  let must_unlock = false;
  if (locked !== null && locked.value === 0) {
    mm.mmap_read_lock();
    must_unlock = true;
    locked.value = 1;
  } else mm.mmap_assert_locked();
  if ((flags & FOLL_PIN) !== 0) mm.flags |= MMF_HAS_PINNED;
  // Traditional behaviour: pages[] without FOLL_PIN means FOLL_GET.
  if (pages !== null && (flags & FOLL_PIN) === 0) flags |= FOLL_GET;
  let pages_done = 0;
  let ret = 0;
  for (;;) {
    ret = __get_user_pages(mm, start, nr_pages, flags, pages, locked, kernel, off);
    if (locked === null) return ret;
    if (locked.value === 0) {
      VM_BUG_ON(ret < 0, '__get_user_pages_locked: error after the lock was dropped');
      VM_BUG_ON(ret >= nr_pages, '__get_user_pages_locked: done after the lock was dropped');
    }
    if (ret > 0) {
      nr_pages -= ret;
      pages_done += ret;
      if (nr_pages === 0) break;
    }
    if (locked.value !== 0) {
      // VM_FAULT_RETRY did not trigger, or FOLL_NOWAIT.
      if (pages_done === 0) pages_done = ret;
      break;
    }
    // VM_FAULT_RETRY: seek to the faulting page and retry it with FOLL_TRIED.
    if (pages !== null) off += ret;
    start += ret * PAGE_SIZE;
    must_unlock = true;
    for (;;) {
      mm.mmap_read_lock();
      locked.value = 1;
      ret = __get_user_pages(mm, start, 1, flags | FOLL_TRIED, pages, locked, kernel, off);
      if (locked.value === 0) {
        VM_BUG_ON(ret !== 0, '__get_user_pages_locked: pages after a dropped lock');
        continue;
      }
      break;
    }
    if (ret !== 1) {
      VM_BUG_ON(ret > 1, '__get_user_pages_locked: more than one page');
      if (pages_done === 0) pages_done = ret;
      break;
    }
    nr_pages--;
    pages_done++;
    if (nr_pages === 0) break;
    if (pages !== null) off++;
    start += PAGE_SIZE;
  }
  if (must_unlock && locked.value !== 0) {
    mm.mmap_read_unlock();
    locked.value = 0;
  }
  return pages_done;
}

/** __gup_longterm_locked(): FOLL_LONGTERM pins would first migrate pages out of ZONE_MOVABLE
 * and CMA (check_and_migrate_movable_pages()); mmsim has neither, so every page may stay. */
function __gup_longterm_locked(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  off: number,
  locked: GupLocked | null,
  gup_flags: number,
  kernel: KernelProfile,
): number {
  if ((gup_flags & FOLL_LONGTERM) === 0)
    return __get_user_pages_locked(mm, start, nr_pages, pages, off, locked, gup_flags, kernel);
  if (WARN_ON((gup_flags & FOLL_PIN) === 0, '__gup_longterm_locked: FOLL_LONGTERM without FOLL_PIN'))
    return -EINVAL;
  return __get_user_pages_locked(mm, start, nr_pages, pages, off, locked, gup_flags, kernel);
}

// ---- argument checks -----------------------------------------------------------------------

/** is_valid_gup_flags() (6.0-6.2): get_user_pages*() callers pass neither PIN nor LONGTERM. */
function is_valid_gup_flags(gup_flags: number): boolean {
  if (WARN_ON_ONCE((gup_flags & FOLL_PIN) !== 0, 'get_user_pages: FOLL_PIN passed')) return false;
  if (WARN_ON_ONCE((gup_flags & FOLL_LONGTERM) !== 0, 'get_user_pages: FOLL_LONGTERM passed')) return false;
  return true;
}

/** Output of is_valid_gup_args(): the flags to use. */
const validOut = { flags: 0 };

/** is_valid_gup_args() (6.3+): reject internal flags and inconsistent combinations, add
 * `to_set`, FOLL_UNLOCKABLE when `locked` is given and FOLL_HONOR_NUMA_FAULT. */
function is_valid_gup_args(
  pages: Int32Array | null,
  locked: GupLocked | null,
  gup_flags: number,
  to_set: number,
): boolean {
  if (WARN_ON_ONCE((gup_flags & INTERNAL_GUP_FLAGS) !== 0, 'gup: internal FOLL_* flag passed')) return false;
  gup_flags |= to_set;
  if (locked !== null) {
    if (WARN_ON_ONCE(locked.value !== 1, 'gup: *locked must be 1')) return false;
    gup_flags |= FOLL_UNLOCKABLE;
  }
  if (WARN_ON_ONCE((gup_flags & (FOLL_PIN | FOLL_GET)) === (FOLL_PIN | FOLL_GET), 'gup: FOLL_GET|FOLL_PIN'))
    return false;
  if (
    WARN_ON_ONCE(
      (gup_flags & FOLL_PIN) === 0 && (gup_flags & FOLL_LONGTERM) !== 0,
      'gup: LONGTERM without PIN',
    )
  )
    return false;
  if (WARN_ON_ONCE((gup_flags & (FOLL_GET | FOLL_PIN)) !== 0 && pages === null, 'gup: GET/PIN without pages'))
    return false;
  if (
    WARN_ON_ONCE(
      (gup_flags & FOLL_LONGTERM) !== 0 && (gup_flags & FOLL_PCI_P2PDMA) !== 0,
      'gup: LONGTERM|P2PDMA',
    )
  )
    return false;
  // "For now, always trigger NUMA hinting faults."
  gup_flags |= FOLL_HONOR_NUMA_FAULT;
  validOut.flags = gup_flags;
  return true;
}

/** pin_user_pages*() argument checks of 6.0-6.2: no FOLL_GET, pages[] required. */
function valid_pin_args(pages: Int32Array | null, gup_flags: number): boolean {
  if (WARN_ON_ONCE((gup_flags & FOLL_GET) !== 0, 'pin_user_pages: FOLL_GET passed')) return false;
  if (WARN_ON_ONCE(pages === null, 'pin_user_pages: no pages array')) return false;
  return true;
}

// ---- the public API ------------------------------------------------------------------------

/** Run `fn` with the mmap_lock held for read (taken here; re-entrant for readers). */
function withReadLock(mm: MmStruct, fn: () => number): number {
  mm.mmap_read_lock();
  try {
    return fn();
  } finally {
    mm.mmap_read_unlock();
  }
}

/**
 * get_user_pages(): take a reference (FOLL_GET, FOLL_TOUCH added) on each of `nr_pages` pages
 * of `mm` from `start`, faulting them in; PFNs go to pages[] (or pages may be null to only fault
 * in). Returns the number of pages (possibly fewer) or an errno if none. Release with put_page().
 * `mm` stands for current->mm; the mmap_lock is taken here.
 */
export function get_user_pages(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_TOUCH)) return -EINVAL;
    const flags = validOut.flags;
    return withReadLock(mm, () =>
      __get_user_pages_locked(mm, start, nr_pages, pages, 0, { value: 1 }, flags, kernel),
    );
  }
  if (!is_valid_gup_flags(gup_flags)) return -EINVAL;
  return withReadLock(mm, () =>
    __gup_longterm_locked(mm, start, nr_pages, pages, 0, null, gup_flags | FOLL_TOUCH, kernel),
  );
}

/**
 * get_user_pages_remote(): get_user_pages() on another task's mm (FOLL_REMOTE, FOLL_TOUCH).
 * With `locked` (value 1) the caller holds the mmap_lock and learns from locked.value whether
 * it still does; with null the lock is taken here.
 */
export function get_user_pages_remote(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked: GupLocked | null = null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  let flags: number;
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, locked, gup_flags, FOLL_TOUCH | FOLL_REMOTE)) return -EINVAL;
    flags = validOut.flags;
  } else {
    if (!is_valid_gup_flags(gup_flags)) return -EINVAL;
    flags = gup_flags;
  }
  return __get_user_pages_remote(mm, start, nr_pages, flags, pages, locked, kernel);
}

/** __get_user_pages_remote(). */
function __get_user_pages_remote(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked: GupLocked | null,
  kernel: KernelProfile,
): number {
  if (kernel.gup.validArgs) {
    if (locked !== null)
      return __gup_longterm_locked(mm, start, nr_pages, pages, 0, locked, gup_flags, kernel);
    return withReadLock(mm, () =>
      __gup_longterm_locked(mm, start, nr_pages, pages, 0, { value: 1 }, gup_flags, kernel),
    );
  }
  const flags = gup_flags | FOLL_TOUCH | FOLL_REMOTE;
  if ((gup_flags & FOLL_LONGTERM) !== 0) {
    // FOLL_LONGTERM is incompatible with FAULT_FLAG_ALLOW_RETRY (the fsdax check on VMAs).
    if (WARN_ON_ONCE(locked !== null, 'get_user_pages_remote: FOLL_LONGTERM with locked')) return -EINVAL;
    return withReadLock(mm, () => __gup_longterm_locked(mm, start, nr_pages, pages, 0, null, flags, kernel));
  }
  if (locked !== null) return __get_user_pages_locked(mm, start, nr_pages, pages, 0, locked, flags, kernel);
  return withReadLock(mm, () => __get_user_pages_locked(mm, start, nr_pages, pages, 0, null, flags, kernel));
}

/**
 * pin_user_pages(): pin (FOLL_PIN; no FOLL_TOUCH) `nr_pages` pages from `start`. A read-only pin
 * of a shared anon page unshares it first, so every pinned anon page is PageAnonExclusive.
 * Release with unpin_user_page(s). -EINVAL (with a warning) for FOLL_GET or no pages[].
 */
export function pin_user_pages(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  let flags: number;
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_PIN)) return -EINVAL;
    flags = validOut.flags;
  } else {
    if (!valid_pin_args(pages, gup_flags)) return -EINVAL;
    flags = gup_flags | FOLL_PIN;
  }
  const locked = kernel.gup.validArgs ? { value: 1 } : null;
  return withReadLock(mm, () => __gup_longterm_locked(mm, start, nr_pages, pages, 0, locked, flags, kernel));
}

/** pin_user_pages_remote(): pin_user_pages() on another task's mm (FOLL_REMOTE, FOLL_TOUCH);
 * `locked` as for get_user_pages_remote(). */
export function pin_user_pages_remote(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  locked: GupLocked | null = null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, locked, gup_flags, FOLL_PIN | FOLL_TOUCH | FOLL_REMOTE)) return -EINVAL;
    return __get_user_pages_remote(mm, start, nr_pages, validOut.flags, pages, locked, kernel);
  }
  if (!valid_pin_args(pages, gup_flags)) return -EINVAL;
  return __get_user_pages_remote(mm, start, nr_pages, gup_flags | FOLL_PIN, pages, locked, kernel);
}

/** get_user_pages_unlocked(): takes and releases the mmap_lock itself; the fault path may drop
 * it meanwhile (FAULT_FLAG_ALLOW_RETRY). No FOLL_LONGTERM. */
export function get_user_pages_unlocked(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  gup_flags: number,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_TOUCH | FOLL_UNLOCKABLE)) return -EINVAL;
    return __get_user_pages_locked(mm, start, nr_pages, pages, 0, { value: 0 }, validOut.flags, kernel);
  }
  if (WARN_ON_ONCE((gup_flags & FOLL_LONGTERM) !== 0, 'get_user_pages_unlocked: FOLL_LONGTERM'))
    return -EINVAL;
  return __get_user_pages_locked(mm, start, nr_pages, pages, 0, { value: 0 }, gup_flags | FOLL_TOUCH, kernel);
}

/** pin_user_pages_unlocked(): the FOLL_PIN variant of get_user_pages_unlocked(). */
export function pin_user_pages_unlocked(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  pages: Int32Array | null,
  gup_flags: number,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_PIN | FOLL_TOUCH | FOLL_UNLOCKABLE)) return -EINVAL;
    return __gup_longterm_locked(mm, start, nr_pages, pages, 0, { value: 0 }, validOut.flags, kernel);
  }
  if (!valid_pin_args(pages, gup_flags)) return -EINVAL;
  return get_user_pages_unlocked(mm, start, nr_pages, pages, gup_flags | FOLL_PIN, kernel);
}

/** get_dump_page(): the page at `addr` for a core dump (FOLL_FORCE|FOLL_DUMP|FOLL_GET), with a
 * reference, or 0 for a hole (never-touched anonymous memory, the zero page) or any failure. */
export function get_dump_page(mm: MmStruct, addr: number, kernel: KernelProfile = mm.machine.kernel): number {
  const page = dumpBuf;
  const ret = __get_user_pages_locked(
    mm,
    addr,
    1,
    page,
    0,
    { value: 0 },
    FOLL_FORCE | FOLL_DUMP | FOLL_GET,
    kernel,
  );
  return ret === 1 ? page[0] : 0;
}

const dumpBuf = new Int32Array(1);

// ---- the lockless fast path ----------------------------------------------------------------

/** __pte_access_permitted() (arch/x86/include/asm/pgtable.h), behind pte_access_permitted() and
 * pmd_access_permitted(); no protection keys in mmsim. */
function __pte_access_permitted(lo: number, write: boolean): boolean {
  const need = _PAGE_PRESENT | _PAGE_USER | (write ? _PAGE_RW : 0);
  return (lo & need) === need;
}

/** Pages the lockless walk collected so far (its `int *nr`). */
const fastNr = { nr: 0 };

/** gup_fast_pte_range(): grab the pages of [addr, end) mapped by the PTE table the PMD entry
 * `pmdLo`/`pmdHi` points to; 1 when the whole range was grabbed, 0 to stop (the slow path takes
 * over). */
function gup_fast_pte_range(
  mm: MmStruct,
  pmdLo: number,
  pmdHi: number,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  const pteT = entry_pfn(pmdLo, pmdHi);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  const write = (flags & FOLL_WRITE) !== 0;
  for (; addr < end; addr += PAGE_SIZE) {
    const o = base + pte_index(addr) * 2;
    const lo = w[o];
    const hi = w[o + 1];
    c.pteRead++;
    // PROT_NONE entries go to the slow path (6.0, 6.5+; 6.1/6.2 let FOLL_FORCE pass here, but
    // pte_access_permitted() refuses an entry without _PAGE_PRESENT anyway).
    if (pte_protnone(lo)) return 0;
    if (!__pte_access_permitted(lo, write)) return 0;
    if (pte_special(lo)) return 0; // the zero page and PFN maps: slow path
    const page = entry_pfn(lo, hi);
    const folio = pm.folio(page);
    if (pm.refcount[folio] <= 0) return 0; // folio_ref_try_add_rcu() failed
    if (try_grab_folio(pm, folio, 1, flags, kernel) !== 0) return 0;
    // The PMD and PTE cannot change under a single-threaded walk: no recheck needed.
    if ((lo & _PAGE_RW) === 0 && gup_must_unshare(pm, null, flags, page, kernel)) {
      gup_put_folio(pm, folio, 1, flags);
      return 0;
    }
    pm.flags[folio] |= PG_referenced;
    pages[off + fastNr.nr++] = page;
  }
  return 1;
}

/** gup_fast_pmd_leaf(): grab the subpages of [addr, end) of a PMD-mapped THP. */
function gup_fast_pmd_leaf(
  mm: MmStruct,
  lo: number,
  hi: number,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  const pm = mm.machine.phys;
  if (!__pte_access_permitted(lo, (flags & FOLL_WRITE) !== 0)) return 0;
  const head = entry_pfn(lo, hi);
  const page = head + subpageIndex(addr, PMD_SIZE);
  const refs = (end - addr) / PAGE_SIZE;
  if (pm.refcount[head] <= 0) return 0;
  if (try_grab_folio(pm, head, refs, flags, kernel) !== 0) return 0;
  if ((lo & _PAGE_RW) === 0 && gup_must_unshare(pm, null, flags, head, kernel)) {
    gup_put_folio(pm, head, refs, flags);
    return 0;
  }
  for (let j = 0; j < refs; j++) pages[off + fastNr.nr++] = page + j;
  pm.flags[head] |= PG_referenced;
  return 1;
}

/** gup_fast_pmd_range(): the PMD entries of [addr, end) in the PMD table the PUD entry
 * `pudLo`/`pudHi` points to. */
function gup_fast_pmd_range(
  mm: MmStruct,
  pudLo: number,
  pudHi: number,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  const pmdT = entry_pfn(pudLo, pudHi);
  do {
    readEntry(pm, pmdT, pmd_index(addr));
    c.pmdRead++;
    const lo = E.lo;
    const hi = E.hi;
    const next = addrEnd(addr, end, PMD_SIZE);
    if (!pmd_present(lo)) return 0;
    if (pmd_leaf(lo)) {
      // See gup_fast_pte_range().
      if (pte_protnone(lo)) return 0;
      if (gup_fast_pmd_leaf(mm, lo, hi, addr, next, flags, pages, off, kernel) === 0) return 0;
    } else if (gup_fast_pte_range(mm, lo, hi, addr, next, flags, pages, off, kernel) === 0) return 0;
    addr = next;
  } while (addr !== end);
  return 1;
}

/** gup_fast_pud_range(): the PUD entries of [addr, end) in the PUD table the P4D entry
 * `p4dLo`/`p4dHi` points to. mmsim maps no PUD leaves (gup_fast_pud_leaf() never succeeds). */
function gup_fast_pud_range(
  mm: MmStruct,
  p4dLo: number,
  p4dHi: number,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  const pudT = entry_pfn(p4dLo, p4dHi);
  do {
    readEntry(pm, pudT, pud_index(addr));
    c.pudRead++;
    const lo = E.lo;
    const hi = E.hi;
    const next = addrEnd(addr, end, PUD_SIZE);
    if (!pud_present(lo) || pud_leaf(lo)) return 0;
    if (gup_fast_pmd_range(mm, lo, hi, addr, next, flags, pages, off, kernel) === 0) return 0;
    addr = next;
  } while (addr !== end);
  return 1;
}

/** gup_fast_p4d_range(): the P4D entries of [addr, end) in `p4dT` — the P4D table with 5-level
 * paging, the PGD itself with 4-level paging (P4D folded: the PGD entry is read again here). */
function gup_fast_p4d_range(
  mm: MmStruct,
  p4dT: number,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  do {
    readEntry(pm, p4dT, p4d_index(addr));
    c.p4dRead++;
    const lo = E.lo;
    const hi = E.hi;
    const next = addrEnd(addr, end, P4D_SIZE);
    if (lo === 0 && hi === 0) return 0;
    if (gup_fast_pud_range(mm, lo, hi, addr, next, flags, pages, off, kernel) === 0) return 0;
    addr = next;
  } while (addr !== end);
  return 1;
}

/** gup_fast_pgd_range(): the lockless walk over [addr, end); the pages grabbed are counted in
 * fastNr.nr (the kernel's `int *nr`). */
function gup_fast_pgd_range(
  mm: MmStruct,
  addr: number,
  end: number,
  flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): void {
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  const pgdSize = mm.levels === 5 ? PGDIR_SIZE_LA57 : P4D_SIZE;
  do {
    readEntry(pm, mm.pgd, pgd_index(mm.levels, addr));
    c.pgdRead++;
    const next = addrEnd(addr, end, pgdSize);
    if (E.lo === 0 && E.hi === 0) return;
    // No PGD leaves on x86-64.
    const p4dT = mm.levels === 5 ? entry_pfn(E.lo, E.hi) : mm.pgd;
    if (gup_fast_p4d_range(mm, p4dT, addr, next, flags, pages, off, kernel) === 0) return;
    addr = next;
  } while (addr !== end);
}

/**
 * gup_fast(): the lockless walk of get_user_pages_fast(): grab pages of [start, end) for as long
 * as every entry allows it without a fault (present, accessible, not special, no unsharing
 * needed). Returns how many pages were grabbed into pages[off...]. No locks are taken.
 */
function gup_fast(
  mm: MmStruct,
  start: number,
  end: number,
  gup_flags: number,
  pages: Int32Array,
  off: number,
  kernel: KernelProfile,
): number {
  fastNr.nr = 0;
  gup_fast_pgd_range(mm, start, end, gup_flags, pages, off, kernel);
  return fastNr.nr;
}

/** internal_get_user_pages_fast() / gup_fast_fallback(): the lockless walk, then the slow path
 * (mmap_lock taken) for the rest unless FOLL_FAST_ONLY. */
function gup_fast_fallback(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  kernel: KernelProfile,
): number {
  let ok = FOLL_WRITE | FOLL_LONGTERM | FOLL_FORCE | FOLL_PIN | FOLL_GET | FOLL_FAST_ONLY | FOLL_NOFAULT;
  if (kernel.gup.validArgs) ok |= FOLL_PCI_P2PDMA | FOLL_HONOR_NUMA_FAULT;
  if (WARN_ON_ONCE((gup_flags & ~ok) !== 0, 'get_user_pages_fast: unsupported FOLL_* flag')) return -EINVAL;
  if (pages === null) return -EINVAL;
  if ((gup_flags & FOLL_PIN) !== 0) mm.flags |= MMF_HAS_PINNED;
  start = pageAlignDown(start);
  const len = nr_pages * PAGE_SIZE;
  const end = start + len;
  if (!Number.isSafeInteger(end)) return kernel.gup.validArgs ? -EOVERFLOW : 0;
  if (end > taskSizeMax(mm.levels)) return -EFAULT; // access_ok()
  VM_BUG_ON(pages.length < nr_pages, 'get_user_pages_fast: pages[] too short');
  const nr_pinned = gup_fast(mm, start, end, gup_flags, pages, 0, kernel);
  if (nr_pinned === nr_pages || (gup_flags & FOLL_FAST_ONLY) !== 0) return nr_pinned;
  // The slow path for the rest.
  start += nr_pinned * PAGE_SIZE;
  const rest = nr_pages - nr_pinned;
  let ret: number;
  if (kernel.gup.validArgs) {
    ret = __gup_longterm_locked(
      mm,
      start,
      rest,
      pages,
      nr_pinned,
      { value: 0 },
      gup_flags | FOLL_TOUCH | FOLL_UNLOCKABLE,
      kernel,
    );
  } else if ((gup_flags & FOLL_LONGTERM) !== 0) {
    ret = withReadLock(mm, () =>
      __gup_longterm_locked(mm, start, rest, pages, nr_pinned, null, gup_flags, kernel),
    );
  } else {
    ret = __get_user_pages_locked(
      mm,
      start,
      rest,
      pages,
      nr_pinned,
      { value: 0 },
      gup_flags | FOLL_TOUCH,
      kernel,
    );
  }
  if (ret < 0) {
    // The caller must release what was already grabbed, so an errno is no option then.
    return nr_pinned !== 0 ? nr_pinned : ret;
  }
  return ret + nr_pinned;
}

/**
 * get_user_pages_fast(): FOLL_GET pages without the mmap_lock where the page tables allow it,
 * the rest through the slow path (which takes the lock). Returns the number of pages or an
 * errno if none.
 */
export function get_user_pages_fast(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_GET)) return -EINVAL;
    return gup_fast_fallback(mm, start, nr_pages, validOut.flags, pages, kernel);
  }
  if (!is_valid_gup_flags(gup_flags)) return -EINVAL;
  return gup_fast_fallback(mm, start, nr_pages, gup_flags | FOLL_GET, pages, kernel);
}

/** pin_user_pages_fast(): the FOLL_PIN variant of get_user_pages_fast(). */
export function pin_user_pages_fast(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array | null,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_PIN)) return -EINVAL;
    return gup_fast_fallback(mm, start, nr_pages, validOut.flags, pages, kernel);
  }
  if (!valid_pin_args(pages, gup_flags)) return -EINVAL;
  return gup_fast_fallback(mm, start, nr_pages, gup_flags | FOLL_PIN, pages, kernel);
}

/** get_user_pages_fast_only(): the lockless walk only (FOLL_FAST_ONLY). 6.0-6.2 never return an
 * errno (0 instead); 6.18 passes -EINVAL/-EFAULT through. */
export function get_user_pages_fast_only(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    // 6.18 passes the fallback's result through (-EINVAL, -EFAULT, or the count).
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_GET | FOLL_FAST_ONLY)) return -EINVAL;
    return gup_fast_fallback(mm, start, nr_pages, validOut.flags, pages, kernel);
  }
  const n = gup_fast_fallback(mm, start, nr_pages, gup_flags | FOLL_GET | FOLL_FAST_ONLY, pages, kernel);
  return Math.max(n, 0);
}

/** pin_user_pages_fast_only(): FOLL_PIN | FOLL_FAST_ONLY; errnos as get_user_pages_fast_only(). */
export function pin_user_pages_fast_only(
  mm: MmStruct,
  start: number,
  nr_pages: number,
  gup_flags: number,
  pages: Int32Array,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  if (kernel.gup.validArgs) {
    if (!is_valid_gup_args(pages, null, gup_flags, FOLL_PIN | FOLL_FAST_ONLY)) return -EINVAL;
    return gup_fast_fallback(mm, start, nr_pages, validOut.flags, pages, kernel);
  }
  // The API promises no errno: 0 instead.
  if (WARN_ON_ONCE((gup_flags & FOLL_GET) !== 0, 'pin_user_pages_fast_only: FOLL_GET')) return 0;
  const n = gup_fast_fallback(mm, start, nr_pages, gup_flags | FOLL_PIN | FOLL_FAST_ONLY, pages, kernel);
  return Math.max(n, 0);
}
