// Cost counters (docs/design.md §6). One object per simulated machine, every field present from the
// start (monomorphic) and a double from the start (doubleFields(): a count passing 2^30 mid-run
// would otherwise replace the object's hidden class and deoptimise every function counting),
// incremented in hot paths. All values are deterministic for a given workload.

import { doubleFields } from './double_fields.ts';

/** Deterministic operation counts. Field names say what was counted. */
export class Counters {
  /** Page-table entries read, per level (what a walker or lookup looked at). */
  pgdRead = 0;
  p4dRead = 0;
  pudRead = 0;
  pmdRead = 0;
  pteRead = 0;
  /** Page walker callbacks invoked (mm_walk_ops members). */
  walkCallbacks = 0;
  /** walk_page_range*() / folio_walk_start() entry-point calls. */
  walks = 0;
  /** follow_page*() lookups started. */
  followPage = 0;
  /** Page-table lock acquisitions and releases (split PTL and page_table_lock). */
  ptlLock = 0;
  ptlUnlock = 0;
  /** Page references taken (get_page/folio_get/try_grab) and dropped (put_page). */
  pageGet = 0;
  pagePut = 0;
  /** handle_mm_fault() calls and what they did. */
  faults = 0;
  faultAnon = 0;
  faultZeroPage = 0;
  faultWpCopy = 0;
  faultWpReuse = 0;
  faultUnshare = 0;
  faultSwapIn = 0;
  faultThp = 0;
  faultMigrationWait = 0;
  /** cow_ksm vmstat: a KSM page copied by do_wp_page(). */
  cowKsm = 0;
  /** Pages copied (4 KiB each); memcmp_pages() calls, and the bytes the kernel's memcmp() reads
   * of each page in them (up to the first differing 8-byte word, 4 KiB for equal pages); bytes
   * hashed by calc_checksum. */
  pagesCopied = 0;
  pagesCompared = 0;
  bytesCompared = 0;
  bytesHashed = 0;
  /** memcmp_pages() calls whose second page (the tree's: a node ksmd descends through) had not
   * been compared since ksmd last slept (PhysMem.cacheEpoch): its lines, struct page and page
   * table come from memory, not from the cache the batch warmed (ksmd's cost model). */
  pagesComparedCold = 0;
  /** Present pages that are not anonymous (page cache of private file mappings) which KSM's scan
   * walk looked at and passed over (scan_get_next_rmap_item(): !folio_test_anon()). */
  ksmScanNonAnon = 0;
  /** VMAs KSM's scan entered (scan_get_next_rmap_item()'s for_each_vma() reaching a VMA from its
   * start: every VMA of every mm once per full scan, mergeable or not). Each costs ksmd a VMA and
   * maple-tree read and, past its last page, a page-table walk that finds nothing: about a
   * microsecond with its caches cold. */
  ksmScanVmas = 0;
  /** TLB flushes (flush_tlb_page/range, ptep_clear_flush). */
  tlbFlushes = 0;
  /** Huge PMDs split into PTE tables. */
  pmdSplits = 0;
  /** Page-table pages allocated and freed. */
  ptAlloc = 0;
  ptFree = 0;

  constructor() {
    doubleFields(this, Object.keys(this) as (keyof Counters & string)[]);
  }

  reset(): void {
    for (const key of Object.keys(this) as (keyof Counters)[]) {
      (this as unknown as Record<string, number>)[key] = 0;
    }
  }

  /** A plain snapshot of every counter. */
  snapshot(): Record<string, number> {
    return { ...(this as unknown as Record<string, number>) };
  }

  /** The per-field difference `this - before` of a snapshot taken earlier. */
  since(before: Record<string, number>): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(this as unknown as Record<string, number>))
      out[k] = v - (before[k] ?? 0);
    return out;
  }
}
