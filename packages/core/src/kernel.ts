// Which Linux version mmsim imitates: one resolved profile object per kernel version, with a named
// switch for every behaviour of mm/pagewalk.c, mm/gup.c and mm/ksm.c that changed between the
// versions mmsim models. A profile is chosen once per Machine (MachineOptions.kernel) and passed
// down; an API that takes one (walk_page_range(), follow_page(), ...) uses the Machine's when the
// caller passes none. Kernel code reads switches (`kernel.gup.migration`), never version strings,
// and nothing here is mutable. Entry points that a version lacked (walk_page_range_vma() before
// 6.2, folio_walk before 6.12, follow_page() after 6.11) stay callable under every profile: a
// profile changes how code behaves, not which functions exist.

/** The kernel versions mmsim can imitate. Where a line's point releases differ, the bare name is
 * the one checked under QEMU: '6.1' is Debian's 6.1.192 ('6.1.0': v6.1 to 6.1.160, from source
 * only), '6.12' is 6.12.43 ('6.12.95' the later one), '6.18' the live 6.18.44. */
export type KernelVersion = '6.0' | '6.1.0' | '6.1' | '6.2' | '6.5' | '6.12' | '6.12.95' | '6.18' | '6.19';

/** Every name of KernelVersion, oldest first (for CLI help and validation). */
export const KERNEL_VERSIONS: readonly KernelVersion[] = [
  '6.0',
  '6.1.0',
  '6.1',
  '6.2',
  '6.5',
  '6.12',
  '6.12.95',
  '6.18',
  '6.19',
];

/** How one kernel version's mm/pagewalk.c behaves where versions differ. */
export interface WalkProfile {
  /**
   * Address gaps between VMAs in walk_page_range(). false (6.1+, maple tree rewrite): one
   * pte_hole(start, next, -1) per gap, including the tail after the last VMA. true (6.0): the gap
   * is walked by __walk_page_range() with walk->vma == NULL, only when pte_hole is set; the PUD
   * and PMD loops then treat every entry as a hole, so holes come per PGD/P4D/PUD-sized chunk at
   * depths 0, 1 and 2, and pgd_entry/p4d_entry still see the non-empty upper entries.
   */
  readonly gapWalk: boolean;
  /**
   * walk_page_vma() runs walk_page_test() (test_walk, or the VM_PFNMAP skip): 6.0 and 6.1.
   * "mm/pagewalk: don't trigger test_walk() in walk_page_vma()" (6.2) removed it.
   */
  readonly walkPageVmaTest: boolean;
  /**
   * mm_walk_ops.walk_lock is honoured (6.5+; not in 6.1.y: Debian's 6.1.192 has no walk_lock in
   * include/linux/pagewalk.h): PGWALK_RDLOCK asserts the mmap lock, other modes assert it for write and write-lock
   * (PGWALK_WRLOCK) or check (PGWALK_WRLOCK_VERIFY) each VMA. Before: mmap_assert_locked() only.
   */
  readonly walkLock: boolean;
  /**
   * pte_offset_map_lock() may fail (6.5+): walk_pte_range() then sets ACTION_AGAIN and
   * walk_pmd_range() retries the PMD. Before 6.5 walk_pmd_range() re-checked the PMD with
   * pmd_trans_unstable() after split_huge_pmd() and retried it when it was none or still huge.
   */
  readonly pteMapMayFail: boolean;
  /**
   * walk_page_range_novma() on a user mm. false (6.0): mmap read lock, __walk_page_range() with
   * vma == NULL. true (6.1+, "mm: pagewalk: Fix race between unmap and page walker"): mmap write
   * lock, walk_pgd_range() directly. 6.18 splits it into walk_kernel_page_table_range() and
   * walk_page_range_debug(); the latter keeps the 6.1 behaviour for user mms.
   */
  readonly novmaWriteLocked: boolean;
}

/** How one kernel version's mm/gup.c behaves where versions differ. follow_page() no longer
 * exists from 6.12; mmsim keeps it under every profile so callers can compare strategies,
 * behaving as follow_page_mask() without FOLL_HONOR_NUMA_FAULT. */
export interface GupProfile {
  /** FOLL_MIGRATION exists (until 6.1): follow_page_pte()/follow_pmd_mask() wait on migration
   * entries; from 6.2 every non-present entry is "no page". */
  readonly migration: boolean;
  /** FOLL_NUMA exists (6.0): protnone entries are not followed when it is set, and
   * __get_user_pages() adds it unless FOLL_FORCE. 6.1 replaced it by gup_can_follow_protnone(). */
  readonly numa: boolean;
  /** gup_can_follow_protnone(vma, flags) with FOLL_HONOR_NUMA_FAULT (6.5+). */
  readonly honorNuma: boolean;
  /** follow_pmd_mask() rechecks pmd_none() under the PMD lock (6.0/6.1). */
  readonly pmdNoneLocked: boolean;
  /** gup_must_unshare() takes the VMA: R/O FOLL_LONGTERM pins unshare non-anon pages in COW
   * mappings (6.2+, "mm: extend FAULT_FLAG_UNSHARE support to anything in a COW mapping"). */
  readonly unshareNonAnon: boolean;
  /** try_grab_folio() does not pin the shared zero page (6.5+). */
  readonly noZeroPin: boolean;
  /** __get_user_pages() grabs the remaining subpages of a THP at once when filling pages[]
   * (6.5+); older kernels look every subpage up again. */
  readonly thpBatch: boolean;
  /** is_valid_gup_args() (6.3+) instead of is_valid_gup_flags(): internal flags rejected,
   * FOLL_HONOR_NUMA_FAULT set, errnos passed through, and the mmap_lock taken by the fast
   * path's fallback itself (`locked` convention). */
  readonly validArgs: boolean;
  /** follow_pmd_mask() uses follow_huge_pmd() (around 6.12+): the huge zero page is followed
   * like any huge PMD and page_mask is set only on success. Before, follow_trans_huge_pmd()
   * returned -EFAULT/no page for the huge zero page as follow_page_pte() does for the zero page,
   * and page_mask was set whatever the result. */
  readonly followHugePmd: boolean;
}

/** How one kernel version's mm/madvise.c behaves where versions differ. */
export interface MmProfile {
  /**
   * MADV_GUARD_INSTALL and MADV_GUARD_REMOVE exist (6.13). Before, madvise_behavior_valid() does
   * not know them: EINVAL (Debian's 6.1.192 and 6.12.95 answer so).
   */
  readonly guardRegions: boolean;
  /**
   * do_madvise() runs madvise_populate() once over the whole range (6.10, "mm/madvise: make
   * MADV_POPULATE_(READ|WRITE) handle VM_FAULT_RETRY properly"): the first hole stops it with
   * ENOMEM. Before (6.1), madvise_walk_vmas() calls it per VMA, so the VMAs after a hole are
   * populated too and the hole is ENOMEM at the end.
   */
  readonly populateWholeRange: boolean;
  /**
   * MADV_COLLAPSE and khugepaged need one writable PTE in a PMD range (hpage_collapse_scan_pmd()
   * and __collapse_huge_page_isolate(): SCAN_PAGE_RO, EINVAL for MADV_COLLAPSE, which goes on
   * with the next range). Gone in 6.18 (the live kernel collapses zero-page-only, read-only and
   * KSM ranges); Debian's 6.1.192 and 6.12.95 still refuse them.
   */
  readonly collapseNeedsWritable: boolean;
  /**
   * Splitting an anon THP maps its zero-filled subpages to the shared zero page (6.12, "mm: remap
   * unused subpages to shared zeropage when splitting isolated thp": remap_page() with
   * RMP_USE_SHARED_ZEROPAGE). Before (6.1), every subpage stays mapped, so KSM later merges the
   * zero-filled ones like any other content.
   */
  readonly splitMapsZeroPage: boolean;
  /**
   * A write fault on the huge zero page allocates a THP (do_huge_zero_wp_pmd(), 6.13). Before
   * (6.1, 6.12), do_huge_pmd_wp_page() splits the huge zero PMD into zero-page PTEs and the fault
   * copies one 4 KiB page.
   */
  readonly hugeZeroWpThp: boolean;
  /**
   * A write fault may reuse a page of a PTE-mapped large anon folio in place
   * (__wp_can_reuse_large_anon_folio(), with the per-mm folio mapping tracking, approx. 6.15).
   * Before (6.1, 6.12), wp_can_reuse_anon_folio() never reuses a large folio: every write copies.
   */
  readonly reuseLargeAnonFolio: boolean;
  /**
   * CONFIG_MM_ID (6.15, with the large-folio reuse above): a large folio records the mms mapping
   * it in two slots and a "maybe mapped shared" bit, and folio_maybe_mapped_shared() (khugepaged's
   * max_ptes_shared, MADV_COLD/PAGEOUT/FREE) reads the bit, which a third mm mapping the folio
   * keeps set after the two slot holders are gone. Without (6.1, 6.12): mmsim answers exactly
   * whether PTEs of two mms map the folio (its rmap walk; 6.12's folio_likely_mapped_shared()
   * guesses from the first page, 6.1 asks page_mapcount(): not modelled).
   */
  readonly mmId: boolean;
  /**
   * Reclaim discards a clean lazyfree (MADV_FREE) PMD-mapped THP at PMD level: try_to_unmap_one()
   * calls unmap_huge_pmd_locked() (mm/huge_memory.c __discard_anon_folio_pmd_locked()), which
   * clears the PMD and frees its deposited page table, leaving the range pmd_none (a read maps the
   * huge zero page, a write faults in a new THP). From 6.11 ("mm/vmscan: avoid split lazyfree THP
   * during shrink_folio_list()"): Debian's 6.12.43 and 6.12.95 (mm/rmap.c) do it, and mainline
   * still did in mid-2026. "mm/rmap: don't discard lazyfree THPs at PMD level" removed it (stable
   * 6.12.117 per Debian's changelog; 6.12.118's try_to_unmap_one() has no such call; the live
   * 6.18.44 behaves so). Without (6.1, 6.18.44): TTU_SPLIT_HUGE_PMD splits the PMD and the PTEs
   * are discarded one by one, leaving an empty PTE table.
   */
  readonly lazyfreePmdDiscard: boolean;
  /**
   * Folios per per-CPU folio batch (PAGEVEC_SIZE, include/linux/pagevec.h; FOLIO_BATCH_SIZE
   * later): 15 until "mm: increase folio batch size" (6.10), 31 since. The lru_activate batch
   * holds a reference on each folio KSM activates until it fills or is drained, so a KSM page
   * unmapped meanwhile is not yet stale to ksm_get_folio() (run=2 leaves its node).
   */
  readonly folioBatchSize: number;
  /**
   * The multi-gen LRU is on (CONFIG_LRU_GEN_ENABLED, a build choice): folio_mark_accessed() only
   * counts the reference (lru_gen_inc_refs()) and never activates through a batch. Debian's 6.12
   * images enable it; its 6.1 image builds it off, and the live 6.18 has no CONFIG_LRU_GEN.
   */
  readonly lruGenEnabled: boolean;
}

/** A break_ksm() implementation some kernel shipped (@mmsim/ksm's STRATEGIES names). */
export type BreakKsmKind = 'follow_page' | 'walk_pmd' | 'folio_walk' | 'range_walk';

/** How scan_get_next_rmap_item() finds the next anonymous page of a VMA. */
export type KsmScanWalkKind =
  /** follow_page(FOLL_GET) address by address (until 6.11; 6.1.y until 6.1.160). */
  | 'follow_page'
  /** folio_walk_start() address by address (6.12). */
  | 'folio_walk'
  /** one walk_page_range_vma() with ksm_next_page_pmd_entry() that jumps over holes ("ksm: use
   * range-walk function to jump over holes in scan_get_next_rmap_item", 6.18-rc6, Cc: stable). */
  | 'range_walk';

/** How one kernel version's mm/ksm.c behaves where versions differ. */
export interface KsmProfile {
  /** Which break_ksm() the version ships (a strategy of @mmsim/ksm, chosen once per Ksm). */
  readonly breakKsm: BreakKsmKind;
  /**
   * Which lookup scan_get_next_rmap_item() uses. 'follow_page' is mmsim's own per-address loop:
   * where follow_page() refuses PROT_NONE entries (6.1-6.4, gup_can_follow_protnone() without
   * FOLL_FORCE) the scan never finds those pages, so they get no rmap_item (early 6.1 against
   * Debian's 6.1.192: ksm-tests-prot-none). 'folio_walk' finds what the range walk finds and
   * runs as it (only the cost differs, versions-sparse-scan).
   */
  readonly scanWalk: KsmScanWalkKind;
  /**
   * prctl(PR_SET_MEMORY_MERGE/PR_GET_MEMORY_MERGE), the sysfs counter general_profit and the
   * ksm_stat fields ksm_merging_pages and ksm_process_profit (6.4). Without: the prctl is EINVAL
   * (checked on Debian's 6.1.192), and ksm_merging_pages is only /proc/<pid>/ksm_merging_pages.
   */
  readonly mergeAny: boolean;
  /**
   * KSM-placed zero pages are tracked (~6.6, "ksm: count all zero pages placed by KSM"): the zero
   * PTE is marked dirty (is_ksm_zero_pte), counted in the sysfs counter ksm_zero_pages and in
   * ksm_stat, and break_ksm() unshares it (MADV_UNMERGEABLE, run=2). Without (6.1): the PTE is a
   * plain special zero PTE, nothing counts it, and unmerging leaves it mapped.
   */
  readonly zeroPages: boolean;
  /** The smart_scan knob (default on) and the pages_skipped counter (6.7). */
  readonly smartScan: boolean;
  /** The advisor_* knobs and the pages_scanned counter (6.8). */
  readonly advisor: boolean;
  /** ksm_stat shows ksm_merge_any and ksm_mergeable (not in 6.12.95 nor 6.12.43, in 6.18;
   * approx. 6.13). */
  readonly statMergeFlags: boolean;
  /** smaps has a "KSM:" line per VMA (not in 6.1, in 6.12; approx. 6.6). */
  readonly smapsKsm: boolean;
  /**
   * ksm_fork() resets the child's mm->ksm_rmap_items and ksm_merging_pages to 0 and adds its
   * (copied) mm->ksm_zero_pages to the global ksm_zero_pages, even for a MADV_DONTFORK VMA (the
   * leak of docs/ksm-zero-pages-leak.md). Without (6.1, 6.12.43): dup_mm() copied the whole
   * mm_struct, so the child shows its parent's three counts and counts on from there, and the
   * global count is left alone. Seen on Debian's 6.1.192 and 6.12.43 (without) and 6.12.95 and
   * 6.18 (with): a stable backport between 6.12.43 and 6.12.95 (mainline approx. 6.17).
   */
  readonly forkResetsCounters: boolean;
  /**
   * get_mergeable_page() looks the unstable tree item's page up with follow_page(FOLL_GET) (until
   * 6.11; folio_walk_start() from 6.12). On 6.1-6.4 follow_page() refuses a PROT_NONE PTE
   * without FOLL_FORCE (gup_can_follow_protnone(), the gup profile), so a page of a PROT_NONE VMA
   * can enter the unstable tree but nothing merges with it: Debian's 6.1.192 leaves such pages
   * pages_unshared/pages_volatile (its scan finds them: it has the range-walk backport).
   */
  readonly mergeableFollowPage: boolean;
  /**
   * stable_node_dup() picks a dup even when every dup is full and collapses a chain whose only
   * dup is left whether or not it prunes ("Pick the best candidate if possible", 2024, approx.
   * 6.11; mmsim's 6.2 and 6.5 profiles predate it). Before
   * (6.1), it returns only a dup that can take another sharer, and collapses only while pruning:
   * a chain left with one full dup stays a chain (one more chain and dup on Debian's 6.1.192).
   */
  readonly chainCollapseFull: boolean;
}

/** FOLIO_BATCH_SIZE (6.10 on). */
const FOLIO_BATCH_SIZE = 31;
/** PAGEVEC_SIZE before 6.10. */
const PAGEVEC_SIZE_OLD = 15;

/** One kernel version: every switch of every modelled subsystem, every field present. */
export interface KernelProfile {
  readonly name: KernelVersion;
  readonly walk: WalkProfile;
  readonly gup: GupProfile;
  readonly ksm: KsmProfile;
  readonly mm: MmProfile;
}

/** The version number as a comparable integer: '6.12' -> 612 (a point release counts as its
 * line: '6.12.95' -> 612, '6.1.0' -> 601). Used only to build the table. */
function num(v: KernelVersion): number {
  const [major, minor] = v.split('.');
  return Number(major) * 100 + Number(minor);
}

function profile(name: KernelVersion): KernelProfile {
  const v = num(name);
  const walk: WalkProfile = {
    gapWalk: v < 601,
    walkPageVmaTest: v < 602,
    walkLock: v >= 605,
    pteMapMayFail: v >= 605,
    novmaWriteLocked: v >= 601,
  };
  const gup: GupProfile = {
    migration: v < 602,
    numa: v < 601,
    honorNuma: v >= 605,
    pmdNoneLocked: v < 602,
    unshareNonAnon: v >= 602,
    noZeroPin: v >= 605,
    thpBatch: v >= 605,
    validArgs: v >= 603,
    followHugePmd: v >= 612,
  };
  /** 6.18: the live kernel, 6.18.44, with the 2026 stable backports. */
  const live618 = name === '6.18';
  const mm: MmProfile = {
    guardRegions: v >= 613,
    populateWholeRange: v >= 610,
    collapseNeedsWritable: v < 618,
    splitMapsZeroPage: v >= 612,
    hugeZeroWpThp: v >= 613,
    reuseLargeAnonFolio: v >= 615,
    mmId: v >= 615,
    lazyfreePmdDiscard: v >= 611 && !live618,
    folioBatchSize: v >= 610 ? FOLIO_BATCH_SIZE : PAGEVEC_SIZE_OLD,
    lruGenEnabled: v === 612,
  };
  /** 6.12.95: 6.12 with the 2025 stable backports (scan range walk, fork counters). */
  const late612 = name === '6.12.95';
  /** 6.1 (Debian's 6.1.192) has the scan's range walk from 6.1.161 ("mm/pagewalk: add
   * walk_page_range_vma()", "ksm: use range-walk function to jump over holes in
   * scan_get_next_rmap_item", Debian's changelog of 6.1.162-1); 6.1.0 stands for v6.1 to 6.1.160,
   * which looked every address up with follow_page(). */
  const late61 = name === '6.1';
  const ksm: KsmProfile = {
    breakKsm: v < 602 ? 'follow_page' : v < 612 ? 'walk_pmd' : v < 619 ? 'folio_walk' : 'range_walk',
    scanWalk:
      v < 612 && !late61 ? 'follow_page' : v < 618 && !late612 && !late61 ? 'folio_walk' : 'range_walk',
    mergeAny: v >= 604,
    zeroPages: v >= 606,
    smartScan: v >= 607,
    advisor: v >= 608,
    statMergeFlags: v >= 613,
    smapsKsm: v >= 606,
    forkResetsCounters: v >= 617 || late612,
    mergeableFollowPage: v < 612,
    chainCollapseFull: v >= 612,
  };
  return Object.freeze({
    name,
    walk: Object.freeze(walk),
    gup: Object.freeze(gup),
    ksm: Object.freeze(ksm),
    mm: Object.freeze(mm),
  });
}

/** The profiles by version, built once. */
export const KERNEL_PROFILES: Readonly<Record<KernelVersion, KernelProfile>> = Object.freeze({
  '6.0': profile('6.0'),
  '6.1.0': profile('6.1.0'),
  '6.1': profile('6.1'),
  '6.2': profile('6.2'),
  '6.5': profile('6.5'),
  '6.12': profile('6.12'),
  '6.12.95': profile('6.12.95'),
  '6.18': profile('6.18'),
  '6.19': profile('6.19'),
});

/** The live kernel's profile (the project machines run Linux 6.18). */
export const DEFAULT_KERNEL_PROFILE: KernelProfile = KERNEL_PROFILES['6.18'];

/** The profile of a version named by a user (CLI flag, scenario field); throws a RangeError
 * naming the known versions on an unknown name. */
export function kernelProfile(version: string): KernelProfile {
  if (!Object.hasOwn(KERNEL_PROFILES, version))
    throw new RangeError(`unknown kernel version '${version}' (${KERNEL_VERSIONS.join(', ')})`);
  return KERNEL_PROFILES[version as KernelVersion];
}
