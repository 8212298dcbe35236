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
