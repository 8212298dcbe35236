// Kernel version profiles for the walker: every behaviour of mm/pagewalk.c that changed between
// Linux 6.0 and 6.18 is one documented switch here, read by the single walker in pagewalk.ts
// (docs/kernel/README.md §0, docs/kernel/pagewalk.md §1). Entry points that a version lacked
// (walk_page_range_vma() before 6.2, folio_walk before 6.12) stay callable under every profile:
// the profile changes how a walk behaves, not which functions exist.

/** The kernel versions mmsim's walker can imitate. */
export type WalkProfileName = '6.0' | '6.1' | '6.2' | '6.5' | '6.18';

/** How one kernel version's mm/pagewalk.c behaves where versions differ. */
export interface WalkProfile {
  readonly name: WalkProfileName;
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
   * mm_walk_ops.walk_lock is honoured (6.5+, also backported to 6.1.y stable; 6.1 here is
   * v6.1.0): PGWALK_RDLOCK asserts the mmap lock, other modes assert it for write and write-lock
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

export const WALK_PROFILES: Readonly<Record<WalkProfileName, WalkProfile>> = {
  '6.0': {
    name: '6.0',
    gapWalk: true,
    walkPageVmaTest: true,
    walkLock: false,
    pteMapMayFail: false,
    novmaWriteLocked: false,
  },
  '6.1': {
    name: '6.1',
    gapWalk: false,
    walkPageVmaTest: true,
    walkLock: false,
    pteMapMayFail: false,
    novmaWriteLocked: true,
  },
  '6.2': {
    name: '6.2',
    gapWalk: false,
    walkPageVmaTest: false,
    walkLock: false,
    pteMapMayFail: false,
    novmaWriteLocked: true,
  },
  '6.5': {
    name: '6.5',
    gapWalk: false,
    walkPageVmaTest: false,
    walkLock: true,
    pteMapMayFail: true,
    novmaWriteLocked: true,
  },
  '6.18': {
    name: '6.18',
    gapWalk: false,
    walkPageVmaTest: false,
    walkLock: true,
    pteMapMayFail: true,
    novmaWriteLocked: true,
  },
};

/** The live kernel's profile (the project machines run Linux 6.18). */
export const DEFAULT_WALK_PROFILE: WalkProfile = WALK_PROFILES['6.18'];

const state = { current: DEFAULT_WALK_PROFILE };

/** The profile walks use when their caller does not pass one. */
export function getWalkProfile(): WalkProfile {
  return state.current;
}

/** Select the default profile for later walks; returns the previous one (to restore it). */
export function setWalkProfile(profile: WalkProfile | WalkProfileName): WalkProfile {
  const prev = state.current;
  state.current = typeof profile === 'string' ? WALK_PROFILES[profile] : profile;
  if (state.current === undefined) {
    state.current = prev;
    throw new Error(`setWalkProfile: unknown profile ${String(profile)}`);
  }
  return prev;
}
