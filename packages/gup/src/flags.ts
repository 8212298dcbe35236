// FOLL_* flags (include/linux/mm.h; mm/internal.h for the internal ones since 6.3) and the
// kernel-version profiles mmsim's GUP can behave as.
//
// The values are those of Linux 6.0/6.1. After 6.2 the kernel renumbered the flags as an enum,
// so only the names are stable: code must use the constants, never the bit values. Flags that
// appeared after 6.1 get bits unused in 6.0/6.1 (marked "simulator value").

/** Write access: a writable PTE is required; a fault-in is a FAULT_FLAG_WRITE fault. */
export const FOLL_WRITE = 0x01;
/** Mark the page accessed (and dirty, with FOLL_WRITE). Internal since 6.3. */
export const FOLL_TOUCH = 0x02;
/** Take a page reference (put_page() releases it). Exclusive with FOLL_PIN. */
export const FOLL_GET = 0x04;
/** Core dump: return -EFAULT for holes that would read as zero and for the zero page. */
export const FOLL_DUMP = 0x08;
/** Access despite missing VMA permissions (ptrace, /proc/pid/mem); COW mappings only. */
export const FOLL_FORCE = 0x10;
/** Start I/O but do not wait for it (FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_RETRY_NOWAIT). */
export const FOLL_NOWAIT = 0x20;
/** Never fault pages in: faultin_page() returns -EFAULT. */
export const FOLL_NOFAULT = 0x80;
/** Report hwpoisoned pages as -EHWPOISON instead of -EFAULT. */
export const FOLL_HWPOISON = 0x100;
/** Force NUMA hinting faults (protnone entries are not followed). Linux 6.0 only. */
export const FOLL_NUMA = 0x200;
/** Wait for a migration entry to go away and look again. Linux 6.0/6.1 only (KSM's). */
export const FOLL_MIGRATION = 0x400;
/** A retry after the fault path dropped the mmap_lock (FAULT_FLAG_TRIED). Internal since 6.3. */
export const FOLL_TRIED = 0x800;
/** Operating on another task's mm (FAULT_FLAG_REMOTE). Internal since 6.3. */
export const FOLL_REMOTE = 0x2000;
/** Refuse non-anonymous mappings. */
export const FOLL_ANON = 0x8000;
/** The pin's lifetime is unbounded; only with FOLL_PIN. */
export const FOLL_LONGTERM = 0x10000;
/** Split a PMD-mapped THP and return the page from the PTE table. */
export const FOLL_SPLIT_PMD = 0x20000;
/** Pin (unpin_user_page() releases it). Set by pin_user_pages*() only. */
export const FOLL_PIN = 0x40000;
/** get_user_pages_fast() must not fall back to the slow path. */
export const FOLL_FAST_ONLY = 0x80000;
/** Allow PCI P2PDMA pages (Linux 6.2+). */
export const FOLL_PCI_P2PDMA = 0x100000;
/** Allow interruption by non-fatal signals (Linux 6.2+). */
export const FOLL_INTERRUPTIBLE = 0x200000;
/** The mmap_lock may be dropped: `locked` was given (internal, Linux 6.3+; simulator value). */
export const FOLL_UNLOCKABLE = 0x400000;
/** Honor NUMA hinting faults: FOLL_NUMA reintroduced (Linux 6.5+; simulator value). */
export const FOLL_HONOR_NUMA_FAULT = 0x800000;
/** MADV_POPULATE_(READ|WRITE) lookups (internal, Linux 6.9+; simulator value). */
export const FOLL_MADV_POPULATE = 0x1000000;

/** INTERNAL_GUP_FLAGS (mm/internal.h, 6.18): callers of the public API may not pass these. */
export const INTERNAL_GUP_FLAGS: number =
  FOLL_TOUCH | FOLL_TRIED | FOLL_REMOTE | FOLL_PIN | FOLL_FAST_ONLY | FOLL_UNLOCKABLE | FOLL_MADV_POPULATE;

/** Every flag with its name, for messages and tests. */
export const FOLL_NAMES: Readonly<Record<string, number>> = {
  FOLL_WRITE,
  FOLL_TOUCH,
  FOLL_GET,
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_NOWAIT,
  FOLL_NOFAULT,
  FOLL_HWPOISON,
  FOLL_NUMA,
  FOLL_MIGRATION,
  FOLL_TRIED,
  FOLL_REMOTE,
  FOLL_ANON,
  FOLL_LONGTERM,
  FOLL_SPLIT_PMD,
  FOLL_PIN,
  FOLL_FAST_ONLY,
  FOLL_PCI_P2PDMA,
  FOLL_INTERRUPTIBLE,
  FOLL_UNLOCKABLE,
  FOLL_HONOR_NUMA_FAULT,
  FOLL_MADV_POPULATE,
};

/** Render gup flags as "FOLL_GET|FOLL_WRITE". */
export function follFlagsString(flags: number): string {
  const parts: string[] = [];
  for (const [name, bit] of Object.entries(FOLL_NAMES)) if ((flags & bit) !== 0) parts.push(name);
  return parts.length > 0 ? parts.join('|') : '0';
}

/**
 * Which kernel mm/gup.c to behave as:
 * - '6.0': FOLL_MIGRATION and FOLL_NUMA exist; __get_user_pages adds FOLL_NUMA unless FOLL_FORCE.
 * - '6.1': FOLL_NUMA replaced by gup_can_follow_protnone() (= FOLL_FORCE); FOLL_MIGRATION stays.
 * - '6.2': FOLL_MIGRATION removed (every non-present entry is "no page"); gup_must_unshare()
 *   also unshares non-anon pages for R/O FOLL_LONGTERM pins in COW mappings.
 * - '6.18': is_valid_gup_args() (internal flags rejected, FOLL_HONOR_NUMA_FAULT set), the zero
 *   page is never pinned, THP subpages are grabbed in one batch, the fast-path fallback takes
 *   the mmap_lock itself. follow_page() no longer exists in 6.18 (removed in 6.12); mmsim keeps
 *   it so callers can compare strategies, behaving as follow_page_mask() without
 *   FOLL_HONOR_NUMA_FAULT.
 */
export type GupProfile = '6.0' | '6.1' | '6.2' | '6.18';

export const DEFAULT_GUP_PROFILE: GupProfile = '6.18';

/** What each profile does; one object per profile, every field present (monomorphic). */
export interface GupProfileInfo {
  readonly name: GupProfile;
  /** FOLL_MIGRATION exists: follow_page_pte()/follow_pmd_mask() wait on migration entries. */
  readonly migration: boolean;
  /** FOLL_NUMA exists (6.0): protnone entries are not followed when it is set. */
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
  /** is_valid_gup_args() (6.3+) instead of is_valid_gup_flags(). */
  readonly validArgs: boolean;
}

function info(name: GupProfile, gen: number): GupProfileInfo {
  return {
    name,
    migration: gen <= 1,
    numa: gen === 0,
    honorNuma: gen === 3,
    pmdNoneLocked: gen <= 1,
    unshareNonAnon: gen >= 2,
    noZeroPin: gen === 3,
    thpBatch: gen === 3,
    validArgs: gen === 3,
  };
}

export const GUP_PROFILES: Readonly<Record<GupProfile, GupProfileInfo>> = {
  '6.0': info('6.0', 0),
  '6.1': info('6.1', 1),
  '6.2': info('6.2', 2),
  '6.18': info('6.18', 3),
};

/** The profile table entry; throws on an unknown name (user input). */
export function gupProfile(profile: GupProfile = DEFAULT_GUP_PROFILE): GupProfileInfo {
  const p = GUP_PROFILES[profile];
  if (p === undefined) throw new RangeError(`unknown GUP profile '${String(profile)}' (6.0, 6.1, 6.2, 6.18)`);
  return p;
}
