// Kernel Samepage Merging: the scanner, the stable and unstable trees, merging and the
// bookkeeping of mm/ksm.c as shipped in Linux 6.18 (see docs/kernel/ksm-6.18.md for the
// reconstruction and the points where 6.18 differs from older kernels).

import {
  addrEnd,
  BUG,
  doubleFields,
  EBUSY,
  EFAULT,
  EINVAL,
  ENOMEM,
  PAGE_SIZE,
  PMD_SIZE,
  subpageIndex,
  VM_BUG_ON,
  WARN_ON,
} from '@mmsim/core';
import { FOLL_GET, follow_page } from '@mmsim/gup';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  E,
  entry_pfn,
  entryOut,
  folio_add_anon_rmap_pte,
  folio_mark_accessed,
  folio_remove_rmap_pte,
  folio_try_share_anon_rmap_pte,
  lru_add_drain_all,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  type Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  MM_SHMEMPAGES,
  MMF_VM_MERGE_ANY,
  MMF_VM_MERGEABLE,
  type MmHooks,
  type MmStruct,
  mk_pte,
  PAGE_MAPPING_KSM,
  PG_dirty,
  PG_swapcache,
  page_vma_mapped_pte,
  pmd_index,
  pmd_leaf,
  pmd_present,
  pte_dirty,
  pte_index,
  pte_present,
  pte_write,
  ptlLock,
  ptlUnlock,
  setEntry,
  split_folio,
  swapcache_delete,
  VM_HUGETLB,
  VM_MAYSHARE,
  VM_MERGEABLE,
  VM_SHARED,
  VM_SPECIAL,
  type VmAreaStruct,
  vm_normal_page,
  vma_address,
} from '@mmsim/mmu';
import {
  FolioWalk,
  FW_LEVEL_PTE,
  folio_walk_count_pte,
  folio_walk_end,
  folio_walk_start,
  type MmWalk,
  type MmWalkOps,
  mmWalkOps,
  PGWALK_RDLOCK,
  walk_page_range_vma,
} from '@mmsim/pagewalk';
import {
  RB_ARENA_ROOT,
  RB_CLEAR_NODE,
  RB_LEFT,
  RB_NULL,
  RB_RIGHT,
  RB_ROOT,
  type RbArenaRoot,
  type RbRoot,
  rb_erase,
  rb_insert_color,
  rb_link_node,
  rb_replace_node,
} from '@mmsim/rbtree';
import { type BreakKsmStrategy, kernelStrategy } from './break_ksm.ts';
import {
  HlistHead,
  hlist_add_head,
  hlist_del_init,
  hlist_empty,
  hlist_is_singular_node,
  id_hlist_add_head,
  id_hlist_del,
  list_add_tail,
  list_del_init,
  list_empty,
  list_move,
} from './list.ts';
import {
  KsmRmapItems,
  UNODE_ITEM,
  UNODE_WALK_EPOCH,
  UNODE_WALK_FIRST_WORD,
  UNODE_WALK_PAGE,
  UNODE_WORDS,
} from './rmap_item.ts';
import {
  KsmMmSlot,
  KsmScan,
  KsmStableNode,
  SEQNR_MASK,
  STABLE_FLAG,
  STABLE_NODE_CHAIN,
  UNSTABLE_FLAG,
} from './types.ts';

export const KSM_RUN_STOP = 0;
export const KSM_RUN_MERGE = 1;
export const KSM_RUN_UNMERGE = 2;

/** sizeof(struct ksm_rmap_item) on x86-64 (the ksm_rmap_item slab object size). */
export const SIZEOF_RMAP_ITEM = 64;

/** Min CPU percent the scan-time advisor keeps ksmd at (mm/ksm.c 6.18, a constant since 6.9). */
export const KSM_ADVISOR_MIN_CPU = 10;
/** Weight (percent) of the newest scan-time change in the advisor's moving average (mm/ksm.c). */
export const EWMA_WEIGHT = 30;
/** ksmd's CPU time per page scanned, the default model of task_sched_runtime() the advisor reads. */
export const KSMD_CPU_NS_PER_PAGE = 2000;

/**
 * The two clocks scan_time_advisor() reads (mm/ksm.c 6.18): ktime_get() at the start and end of a
 * full scan, and task_sched_runtime(ksmd). By default the virtual clock and KSMD_CPU_NS_PER_PAGE
 * per page scanned; the wall-time driver (ksmd.ts) installs its own.
 */
export interface KsmdClock {
  ktime_ns(): number;
  sched_runtime_ns(): number;
}

export const PR_SET_MEMORY_MERGE = 67;
export const PR_GET_MEMORY_MERGE = 68;

const KSM_GET_FOLIO_NOLOCK = 0;
const KSM_GET_FOLIO_LOCK = 1;
const KSM_GET_FOLIO_TRYLOCK = 2;

/** The KSM counters the sysfs files show. */
export interface KsmCounters {
  pages_shared: number;
  pages_sharing: number;
  pages_unshared: number;
  pages_volatile: number;
  pages_scanned: number;
  pages_skipped: number;
  full_scans: number;
  stable_node_chains: number;
  stable_node_dups: number;
  ksm_zero_pages: number;
  general_profit: number;
}

/** /proc/<pid>/ksm_stat. */
export interface KsmStat {
  ksm_rmap_items: number;
  ksm_zero_pages: number;
  ksm_merging_pages: number;
  ksm_process_profit: number;
  ksm_merge_any: boolean;
  ksm_mergeable: boolean;
}

/** ksm_compatible(): VMAs KSM may merge (anonymous private, not special). */
export function vma_ksm_compatible(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & (VM_SHARED | VM_MAYSHARE | VM_SPECIAL | VM_HUGETLB)) === 0;
}

/** The PTE write_protect_page() left (its `pte_t *orig_pte`), and where it is, for replace_page(). */
class OrigPte {
  addr = 0;
  table = 0;
  idx = 0;
  lo = 0;
  hi = 0;

  constructor() {
    doubleFields(this, ['addr', 'lo', 'hi']); // words and addresses of any size (core's doubleFields())
  }
}

/** The two `struct ksm_stable_node **` arguments of chain()/chain_prune(): in, the tree node; out,
 * that node (or the dup a collapsed chain became, or null for a freed chain) and its dup. */
class StableNodeRefs {
  stable_node: KsmStableNode | null = null;
  stable_node_dup: KsmStableNode | null = null;
}

/** struct ksm_next_page_arg: what ksm_next_page_pmd_entry() found (walk.private). */
class KsmNextPageArg {
  /** The page found, referenced (0 for none). */
  page = 0;
  /** Its address. */
  addr = 0;
  /** Simulator only: the PTE table that maps it (0 when a PMD maps it, or follow_page() found
   * it), for write_protect_page() (see Ksm.scanPte). */
  pte_table = 0;
}

/**
 * ksm_next_page_pmd_entry() (mm/ksm.c, 6.18): the first anonymous page mapped in [addr, end) under
 * this PMD, referenced, into walk.private; 1 stops the walk there, 0 goes on with the next PMD.
 * A THP's subpage at addr is returned as it is (ksmd splits the THP when it merges).
 */
function ksm_next_page_pmd_entry(walk: MmWalk, addr: number, end: number): number {
  const priv = walk.private as KsmNextPageArg;
  const mm = walk.mm;
  if (mm.mm_users === 0) return 0; // ksm_test_exit()
  const m = mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const lo = walk.lo;
  const hi = walk.hi;
  if (pmd_leaf(lo)) {
    const pfn = entry_pfn(lo, hi);
    // pmd_present() as x86 has it (PRESENT, PROTNONE or PSE): a PROT_NONE THP is scanned.
    // vm_normal_page_pmd() is NULL for the huge zero page.
    if (!pmd_present(lo) || pm.is_huge_zero_pfn(pfn) || !pm.PageAnon(pfn)) return 0;
    const page = pfn + subpageIndex(addr, PMD_SIZE);
    pm.get_page(page);
    priv.page = page;
    priv.addr = addr;
    priv.pte_table = 0;
    return 1;
  }
  if ((lo & _PAGE_PRESENT) === 0) return 0;
  // pte_offset_map_lock()
  const pteT = entry_pfn(lo, hi);
  ptlLock(pm, c, pteT);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  for (; addr < end; addr += PAGE_SIZE) {
    const o = base + pte_index(addr) * 2;
    const plo = w[o];
    c.pteRead++;
    // pte_present(): a PROT_NONE PTE (_PAGE_PROTNONE, not _PAGE_PRESENT) still maps its page,
    // and is returned like any other (ksm_tests -a '' merges).
    if (!pte_present(plo)) continue;
    const page = vm_normal_page(pm, plo, w[o + 1]);
    if (page === 0) continue;
    if (!pm.PageAnon(page)) {
      c.ksmScanNonAnon++; // a page-cache page of a private file mapping: looked at, passed over
      continue;
    }
    pm.get_page(page);
    ptlUnlock(pm, c, pteT);
    priv.page = page;
    priv.addr = addr;
    priv.pte_table = pteT;
    return 1;
  }
  ptlUnlock(pm, c, pteT);
  return 0;
}

/**
 * Simulator only: walk_page_range_vma(vma, addr, vma->vm_end, &ksm_next_page_ops, arg) for its
 * common case in scan_get_next_rmap_item(), the next page of a scan found in the PTE table of the
 * PMD that covers `addr`. The walk would find the PMD table (find_pmd_table()'s cache, as the
 * walker's first PUD does), read the PMD entry, call ksm_next_page_pmd_entry(), which locks the
 * PTE table, reads PTEs up to the page and takes its reference: this does the same without the
 * walker's levels and counts what they count (a walk, one entry per level, one callback, the PTEs
 * read, the lock, pages passed over). Returns 1 with the page in `arg`, or 0 having done and
 * counted nothing when the case is another (no page in this PMD, a THP or no PTE table, five
 * levels, an exiting mm, a race hook on the walk): the caller then walks.
 */
function ksm_next_page_in_pmd(vma: VmAreaStruct, addr: number, arg: KsmNextPageArg): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  if (mm.levels !== 4 || mm.mm_users === 0 || m.armed('walk:pmd-entry')) return 0;
  const pmdT = mm.find_pmd_table(addr);
  if (pmdT === 0) return 0;
  const pm = m.phys;
  const pmdW = pm.tableWords(pmdT);
  const pmdO = pm.tableBase(pmdT) + pmd_index(addr) * 2;
  const pmdLo = pmdW[pmdO];
  if ((pmdLo & _PAGE_PRESENT) === 0 || pmd_leaf(pmdLo)) return 0;
  const pteT = entry_pfn(pmdLo, pmdW[pmdO + 1]);
  const end = addrEnd(addr, vma.vm_end, PMD_SIZE);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  let read = 0;
  let nonAnon = 0;
  // ksm_next_page_pmd_entry()'s loop, counting instead of counters
  for (; addr < end; addr += PAGE_SIZE) {
    const o = base + pte_index(addr) * 2;
    const plo = w[o];
    read++;
    if (!pte_present(plo)) continue;
    const page = vm_normal_page(pm, plo, w[o + 1]);
    if (page === 0) continue;
    if (!pm.PageAnon(page)) {
      nonAnon++;
      continue;
    }
    const c = m.counters;
    mm.mmap_assert_locked(); // process_mm_walk_lock()
    c.walks++;
    c.pgdRead++;
    c.p4dRead++;
    c.pudRead++;
    c.pmdRead++;
    c.walkCallbacks++;
    c.pteRead += read;
    c.ksmScanNonAnon += nonAnon;
    ptlLock(pm, c, pteT);
    pm.get_page(page);
    ptlUnlock(pm, c, pteT);
    arg.page = page;
    arg.addr = addr;
    arg.pte_table = pteT;
    return 1;
  }
  return 0;
}

/**
 * The per-address lookup of scan_get_next_rmap_item() (mm/ksm.c until 6.11, and 6.1.y until
 * 6.1.160; KsmProfile.scanWalk 'follow_page'): follow_page(vma, addr, FOLL_GET) at every address
 * from `addr` to the VMA's end. The first anonymous page found is left referenced in `arg`, as
 * ksm_next_page_pmd_entry() leaves it; 1 when found, 0 at the end or when the mm exits. Pages
 * follow_page() refuses (PROT_NONE on 6.1-6.4) are never found.
 */
function ksm_follow_page_scan(vma: VmAreaStruct, addr: number, arg: KsmNextPageArg): number {
  const mm = vma.vm_mm;
  const pm = mm.machine.phys;
  for (; addr < vma.vm_end; addr += PAGE_SIZE) {
    if (mm.mm_users === 0) return 0; // ksm_test_exit()
    const page = follow_page(vma, addr, FOLL_GET, mm.machine.kernel);
    if (page <= 0) continue;
    if (pm.PageAnon(page)) {
      arg.page = page;
      arg.addr = addr;
      arg.pte_table = 0;
      return 1;
    }
    mm.machine.counters.ksmScanNonAnon++;
    pm.put_page(page);
  }
  return 0;
}

/** ksm_next_page_ops: created once (monomorphic calls from the walker). */
const ksm_next_page_ops: MmWalkOps = mmWalkOps({
  pmd_entry: ksm_next_page_pmd_entry,
  walk_lock: PGWALK_RDLOCK,
});

/**
 * KSM for one simulated machine: construct it once, it installs itself in machine.hooks.
 * ksmd is a stepping machine: runBatch(), runFullScans(n), converge().
 */
export class Ksm {
  readonly m: Machine;
  // ---- knobs (sysfs) ----
  run = KSM_RUN_STOP;
  pages_to_scan = 100;
  sleep_millisecs = 20;
  max_page_sharing = 256;
  merge_across_nodes = 1;
  use_zero_pages = false;
  smart_scan = true;
  stable_node_chains_prune_millisecs = 2000;
  advisor_mode: 'none' | 'scan-time' = 'none';
  advisor_max_cpu = 70;
  advisor_min_pages_to_scan = 500;
  advisor_max_pages_to_scan = 30000;
  advisor_target_scan_time = 200;
  // ---- counters ----
  pages_shared = 0;
  pages_sharing = 0;
  pages_unshared = 0;
  rmap_items = 0;
  stable_node_chains = 0;
  stable_node_dups = 0;
  pages_scanned = 0;
  pages_skipped = 0;
  zero_pages = 0;
  // ---- trees and lists ----
  /** root_stable_tree[nid] / root_unstable_tree[nid]: one tree per NUMA node, only [0] used while
   * merge_across_nodes = 1. */
  readonly root_stable_tree: RbRoot<KsmStableNode>[];
  readonly root_unstable_tree: RbArenaRoot[];
  /** rmap_item_cache: every rmap_item, by id. */
  readonly rmap_item_cache = new KsmRmapItems();
  /** ksm_mm_head: the scan list sentinel. */
  readonly ksm_mm_head: KsmMmSlot = new KsmMmSlot(null);
  /** The scan cursor. */
  readonly ksm_scan: KsmScan = new KsmScan(this.ksm_mm_head);
  /** migrate_nodes: stable nodes whose KSM page moved to another NUMA node, waiting to be
   * re-linked into their new node's tree by stable_tree_search(). */
  readonly migrate_nodes: Set<KsmStableNode> = new Set();
  /** Stable nodes by handle (what page->mapping refers to; ids are never reused), null once
   * freed: an array indexed by id, for folio_stable_node() on every scanned page. */
  private readonly nodes: (KsmStableNode | null)[] = [null];
  private nextNodeId = 1;
  readonly zero_checksum: number;
  /** The break_ksm() implementation used for MADV_UNMERGEABLE, run=2 and prctl: the machine's
   * kernel's unless a caller picks another. */
  strategy: BreakKsmStrategy;
  /** Failure injection for rmap_item and stable node allocations. */
  failAlloc: ((what: 'rmap_item' | 'stable_node') => boolean) | null = null;
  /** What the advisor reads as the time and ksmd's CPU time. */
  ksmd_clock: KsmdClock;
  /** Advisor state (struct advisor_ctx); KsmdThread's fast-forward reads it and replays
   * scan_time_advisor() on it. */
  advisorCtx = { start_scan: 0, scan_time: 0, change: 0, cpu_time: 0 };

  // Per-call state of functions that are never re-entered, kept per Machine so that nothing is
  // allocated per page: the page scan_get_next_rmap_item() returns (its `struct page **`), the tree
  // page unstable_tree_search_insert() returns (`tree_pagep`), ksm_next_page_pmd_entry()'s
  // walk.private, the orig_pte of write_protect_page() for replace_page(), the
  // `struct ksm_stable_node **` pair of chain()/chain_prune(), get_mergeable_page()'s folio_walk.
  private scanPage = 0;
  /** this.scanPage's address in the scanned mm, and the PTE table that maps it there (0: none,
   * a PMD maps it, or its cmp_and_merge_page() returned), while scanPageEpoch is the mergeable
   * epoch (see findPte()). */
  private scanAddr = 0;
  private scanPte = 0;
  private treePage = 0;
  private readonly next_page_arg = new KsmNextPageArg();
  private readonly orig_pte = new OrigPte();
  private readonly chain_refs = new StableNodeRefs();
  private readonly mergeable_fw = new FolioWalk();
  /**
   * Simulator only: get_mergeable_page()'s walk of an unstable node is remembered with this epoch
   * (the node's UNODE_WALK_EPOCH) and is found again while it is unchanged. It advances at each
   * ksm_do_scan() (anything may have run between batches), unless its caller ran nothing but
   * ksmd since the previous batch, and wherever a batch can change a page
   * table entry other than those of the rmap_items it merges, which leave the unstable tree first:
   * break_cow() (a fault, which may allocate and reclaim), a THP split, a race hook.
   */
  private mergeable_epoch = 0;
  /**
   * Simulator only: a chain's memo of its full dups (KsmStableNode.dupsFull) and a node's memo
   * that its page is still its own (KsmStableNode.pageEpoch) hold while dups_epoch() is
   * unchanged. This part of it advances wherever a node can leave the memos' state: a dup
   * unlinked from its chain (stable_node_dup_del()), a node losing a sharer (a full dup may take
   * one again), a KSM page migrated or given another node; a KSM page freed (its node stale)
   * moves the physmem's nrKsmPagesFreed, the other part.
   */
  private dups_changed = 0;
  /** get_mergeable_page() found its page from the node's memo (see there). */
  private mergeable_remembered = false;
  /** The mergeable epoch when scan_get_next_rmap_item() found this.scanPage: while it is still
   * the epoch, get_mergeable_page() would find that page for its item (see
   * unstable_tree_search_insert()). */
  private scanPageEpoch = -1;

  constructor(m: Machine) {
    this.m = m;
    this.strategy = kernelStrategy(m.kernel);
    // a kernel without smart scan (before 6.7) never skips
    this.smart_scan = m.kernel.ksm.smartScan;
    this.ksmd_clock = {
      ktime_ns: () => m.clock.nowNs(),
      sched_runtime_ns: () => this.pages_scanned * KSMD_CPU_NS_PER_PAGE,
    };
    this.root_stable_tree = Array.from({ length: m.phys.nrNodes }, () => RB_ROOT<KsmStableNode>());
    this.root_unstable_tree = Array.from({ length: m.phys.nrNodes }, () => RB_ARENA_ROOT());
    this.zero_checksum = m.phys.calc_checksum(m.phys.zeroPfn);
    m.counters.bytesHashed -= PAGE_SIZE; // computed at boot, not by a scan
    const hooks = m.hooks;
    hooks.ksm_fork = (child, parent) => this.ksm_fork(child, parent);
    hooks.ksm_exit = (mm) => this.ksm_exit(mm);
    hooks.ksm_madvise = (vma, start, end, advice, flags) => this.ksm_madvise(vma, start, end, advice, flags);
    hooks.ksm_add_vma = (vma) => this.ksm_vma_flags(vma);
    hooks.prctl = this.prctl;
    hooks.rmap_walk_ksm = (folio, visit) => this.rmap_walk_ksm(folio, visit);
    hooks.folio_migrate_ksm = (n, o) => this.folio_migrate_ksm(n, o);
    hooks.ksm_might_unmap_zero_page = (mm, lo) => this.ksm_might_unmap_zero_page(mm, lo);
  }

  // ==== counters ===========================================================================

  /** The counters as /sys/kernel/mm/ksm shows them. */
  counters(): KsmCounters {
    const volatile = this.rmap_items - this.pages_shared - this.pages_sharing - this.pages_unshared;
    return {
      pages_shared: this.pages_shared,
      pages_sharing: this.pages_sharing,
      pages_unshared: this.pages_unshared,
      pages_volatile: Math.max(volatile, 0),
      pages_scanned: this.pages_scanned,
      pages_skipped: this.pages_skipped,
      full_scans: this.ksm_scan.seqnr,
      stable_node_chains: this.stable_node_chains,
      stable_node_dups: this.stable_node_dups,
      ksm_zero_pages: this.zero_pages,
      general_profit: (this.pages_sharing + this.zero_pages) * PAGE_SIZE - this.rmap_items * SIZEOF_RMAP_ITEM,
    };
  }

  /** /proc/<pid>/ksm_stat for an mm. */
  ksm_stat(mm: MmStruct): KsmStat {
    return {
      ksm_rmap_items: mm.ksm_rmap_items,
      ksm_zero_pages: mm.ksm_zero_pages,
      ksm_merging_pages: mm.ksm_merging_pages,
      ksm_process_profit:
        (mm.ksm_merging_pages + mm.ksm_zero_pages) * PAGE_SIZE - mm.ksm_rmap_items * SIZEOF_RMAP_ITEM,
      ksm_merge_any: (mm.flags & MMF_VM_MERGE_ANY) !== 0,
      ksm_mergeable: mm.vmas.some((v) => (v.vm_flags & VM_MERGEABLE) !== 0),
    };
  }

  // ==== ksmd ===============================================================================

  /** ksmd_should_run(). */
  ksmd_should_run(): boolean {
    return (this.run & KSM_RUN_MERGE) !== 0 && !list_empty(this.ksm_mm_head);
  }

  /** One ksmd iteration: a batch of pages_to_scan pages, then the sleep (virtual time). */
  runBatch(): void {
    if (this.ksmd_should_run()) this.ksm_do_scan(this.pages_to_scan);
    this.m.clock.advanceMs(this.sleep_millisecs);
  }

  /**
   * Run ksmd until `n` more full scans completed (batches end exactly at full-scan ends).
   * Runs regardless of the `run` knob, as a test harness driving ksmd would.
   */
  runFullScans(n: number): void {
    const scan = this.ksm_scan;
    const target = scan.seqnr + n;
    let idle = 0;
    while (scan.seqnr < target) {
      if (list_empty(this.ksm_mm_head)) {
        // Nothing registered: ksmd would sleep; full_scans does not move.
        if (++idle > 2) return;
      }
      const before = scan.seqnr;
      this.ksm_do_scan(this.pages_to_scan > 0 ? this.pages_to_scan : 1);
      this.m.clock.advanceMs(this.sleep_millisecs);
      if (scan.seqnr === before && this.pages_to_scan === 0) return;
    }
  }

  /**
   * Full scan by full scan until the counters (other than full_scans, pages_scanned,
   * pages_skipped, general_profit) equal the previous scan's, at least two scans; returns the
   * number of scans run.
   */
  converge(maxFullScans = 50): number {
    const key = (): string => {
      const c = this.counters();
      return `${c.pages_shared},${c.pages_sharing},${c.pages_unshared},${c.pages_volatile},${c.stable_node_chains},${c.stable_node_dups},${c.ksm_zero_pages}`;
    };
    let prev = '';
    for (let i = 1; i <= maxFullScans; i++) {
      this.runFullScans(1);
      const k = key();
      if (i >= 2 && k === prev) return i;
      prev = k;
    }
    return maxFullScans;
  }

  /** ksm_do_scan(). `ksmdOnly` (simulator only): nothing but ksmd ran since its previous batch
   * (KsmdThread's batches one after another), so get_mergeable_page()'s memo still holds. */
  ksm_do_scan(scan_npages: number, ksmdOnly = false): void {
    const pm = this.m.phys;
    if (!ksmdOnly) this.mergeable_epoch++;
    pm.cacheEpoch++; // ksmd slept before this batch
    while (scan_npages-- > 0) {
      const item = this.scan_get_next_rmap_item();
      if (item === 0) return;
      const page = this.scanPage;
      this.scanPageEpoch = this.mergeable_epoch;
      this.cmp_and_merge_page(page, item);
      this.scanPte = 0; // findPte()'s memo is for this page's cmp_and_merge_page() only
      pm.put_page(page);
      this.pages_scanned++;
    }
  }

  /** scan_get_next_rmap_item(): the next page to look at (this.scanPage, referenced), with its
   * rmap_item, or 0 at the end of a full scan (or when no rmap_item could be allocated). */
  private scan_get_next_rmap_item(): number {
    const m = this.m;
    const pm = m.phys;
    const head = this.ksm_mm_head;
    const scan = this.ksm_scan;
    if (list_empty(head)) return 0;
    let slot = scan.mm_slot;
    if (slot === head) {
      this.advisor_start_scan();
      // Per-CPU LRU batches hold folio references that would make write_protect_page() fail.
      lru_add_drain_all(pm, m.cpu_fbatches);
      // Prune stale nodes parked on migrate_nodes (their pages may have been freed).
      if (this.merge_across_nodes === 0) {
        for (const n of [...this.migrate_nodes]) {
          const f = this.ksm_get_folio(n, KSM_GET_FOLIO_NOLOCK);
          if (f !== 0) this.m.phys.put_page(f);
        }
      }
      // Empty the unstable tree at the start of each full scan (counters untouched; the items keep
      // their stale rb nodes until remove_rmap_item_from_tree() sees an older seqnr).
      for (let nid = 0; nid < this.root_unstable_tree.length; nid++)
        this.root_unstable_tree[nid] = RB_ARENA_ROOT();
      slot = head.next;
      scan.mm_slot = slot;
      if (slot === head) return 0;
      scan.address = 0;
      scan.rmap_list = 0;
      this.reserve_rmap_items();
      m.trace.emit('ksm_start_scan', { seq: scan.seqnr, rmap_items: this.rmap_items });
    }
    const arg = this.next_page_arg;
    // next_mm:
    for (;;) {
      const mm = slot.mm!;
      mm.mmap_read_lock();
      let exiting = mm.mm_users === 0;
      if (!exiting) {
        for (let vma = mm.find_vma(scan.address); vma !== null; vma = mm.find_vma(vma.vm_end)) {
          if (scan.address <= vma.vm_start) m.counters.ksmScanVmas++; // entered: once per full scan
          if ((vma.vm_flags & VM_MERGEABLE) === 0) continue;
          if (scan.address < vma.vm_start) scan.address = vma.vm_start;
          if (vma.anon_vma === null) scan.address = vma.vm_end;
          while (scan.address < vma.vm_end) {
            if (mm.mm_users === 0) break;
            const found =
              m.kernel.ksm.scanWalk === 'follow_page'
                ? ksm_follow_page_scan(vma, scan.address, arg)
                : ksm_next_page_in_pmd(vma, scan.address, arg) ||
                  walk_page_range_vma(vma, scan.address, vma.vm_end, ksm_next_page_ops, arg);
            if (found <= 0) {
              scan.address = vma.vm_end;
              break;
            }
            scan.address = arg.addr;
            const page = arg.page;
            const item = this.get_next_rmap_item(slot, scan.rmap_list, scan.address);
            if (item !== 0) {
              scan.rmap_list = item;
              if (this.should_skip_rmap_item(page, item)) {
                pm.put_page(page);
                scan.address += PAGE_SIZE; // next_page:
                continue;
              }
              scan.address += PAGE_SIZE;
              this.scanPage = page;
              this.scanAddr = arg.addr;
              this.scanPte = arg.pte_table;
            } else pm.put_page(page);
            mm.mmap_read_unlock();
            return item;
          }
        }
        exiting = mm.mm_users === 0;
      }
      if (exiting) {
        // no_vmas:
        scan.address = 0;
        scan.rmap_list = 0;
      }
      this.remove_trailing_rmap_items(slot, scan.rmap_list);
      const nextSlot = slot.next;
      scan.mm_slot = nextSlot;
      if (scan.address === 0) {
        // No VM_MERGEABLE VMA (or the mm is exiting): forget the mm.
        this.free_mm_slot(slot);
        mm.flags &= ~MMF_VM_MERGEABLE;
        if (exiting) mm.flags &= ~MMF_VM_MERGE_ANY;
        mm.mmap_read_unlock();
      } else mm.mmap_read_unlock();
      if (nextSlot === head) break;
      slot = nextSlot;
      scan.address = 0;
      scan.rmap_list = 0;
    }
    this.advisor_stop_scan();
    scan.seqnr++;
    m.trace.emit('ksm_stop_scan', { seq: scan.seqnr, rmap_items: this.rmap_items });
    return 0;
  }

  /** hash_del() + list_del() of an mm_slot, and mm_slot_free(). */
  private free_mm_slot(slot: KsmMmSlot): void {
    list_del_init(slot);
    if (slot.mm !== null) slot.mm.ksmSlot = null;
  }

  /** get_next_rmap_item(): the item for addr on the slot's rmap_list after `link` (the rmap_list of
   * that item, or the slot's when 0), freeing the items it passes; a new one if none, or 0. */
  private get_next_rmap_item(slot: KsmMmSlot, link: number, addr: number): number {
    const ri = this.rmap_item_cache;
    for (;;) {
      const it = link === 0 ? slot.rmap_list : ri.rmap_list[link];
      if (it === 0) break;
      if (ri.address[it] === addr) return it;
      if (ri.address[it] > addr) break;
      this.setLink(slot, link, ri.rmap_list[it]);
      this.remove_rmap_item_from_tree(it);
      this.free_rmap_item(it);
    }
    const item = this.alloc_rmap_item(slot.mm!, addr);
    if (item !== 0) {
      ri.rmap_list[item] = link === 0 ? slot.rmap_list : ri.rmap_list[link];
      this.setLink(slot, link, item);
    }
    return item;
  }

  /** *rmap_list = item for a link of get_next_rmap_item(). */
  private setLink(slot: KsmMmSlot, link: number, item: number): void {
    if (link === 0) slot.rmap_list = item;
    else this.rmap_item_cache.rmap_list[link] = item;
  }

  /**
   * Simulator only (the kernel's slab grows page by page): before a full scan, room in
   * rmap_item_cache for every item it can need, each mm's pages mapped in its VM_MERGEABLE VMAs
   * (at most its RSS), so that the item arrays are never doubled, a copy with both copies
   * resident, while tens of millions of items are live.
   */
  private reserve_rmap_items(): void {
    const head = this.ksm_mm_head;
    let items = 0;
    for (let slot = head.next; slot !== head; slot = slot.next) {
      const mm = slot.mm!;
      let mergeable = 0;
      for (const vma of mm.vmas)
        if ((vma.vm_flags & VM_MERGEABLE) !== 0) mergeable += (vma.vm_end - vma.vm_start) / PAGE_SIZE;
      const rss =
        mm.get_mm_counter(MM_FILEPAGES) + mm.get_mm_counter(MM_ANONPAGES) + mm.get_mm_counter(MM_SHMEMPAGES);
      items += Math.min(mergeable, rss);
    }
    this.rmap_item_cache.reserve(items);
  }

  /** alloc_rmap_item() and get_next_rmap_item()'s initialisation of the zeroed item. */
  private alloc_rmap_item(mm: MmStruct, addr: number): number {
    if (this.failAlloc?.('rmap_item')) return 0;
    this.rmap_items++;
    mm.ksm_rmap_items++;
    return this.rmap_item_cache.alloc(mm, addr);
  }

  /** free_rmap_item(). */
  private free_rmap_item(item: number): void {
    const ri = this.rmap_item_cache;
    const mm = ri.mm.get(item)!;
    this.rmap_items--;
    mm.ksm_rmap_items--;
    const trace = this.m.trace;
    if (trace.enabled) trace.emit('ksm_remove_rmap_item', { pfn: 0, rmap_item: ri.address[item], mm: mm.id });
    ri.free(item);
  }

  /** remove_trailing_rmap_items(): every item after `link` (as in get_next_rmap_item()). */
  private remove_trailing_rmap_items(slot: KsmMmSlot, link: number): void {
    const ri = this.rmap_item_cache;
    for (;;) {
      const it = link === 0 ? slot.rmap_list : ri.rmap_list[link];
      if (it === 0) return;
      this.setLink(slot, link, ri.rmap_list[it]);
      this.remove_rmap_item_from_tree(it);
      this.free_rmap_item(it);
    }
  }

  // ==== smart scan and advisor ==============================================================

  /** skip_age(). */
  private static skip_age(age: number): number {
    if (age <= 3) return 1;
    if (age <= 5) return 2;
    if (age <= 8) return 4;
    return 8;
  }

  /** should_skip_rmap_item(). */
  private should_skip_rmap_item(page: number, item: number): boolean {
    if (!this.smart_scan) return false;
    if (this.m.phys.PageKsm(page)) return false;
    const ri = this.rmap_item_cache;
    const age = ri.age[item];
    if (age !== 255) ri.age[item] = age + 1;
    if (age < 3) return false;
    if (ri.remaining_skips[item] === 0) {
      ri.remaining_skips[item] = Ksm.skip_age(age);
      return false;
    }
    this.pages_skipped++;
    ri.remaining_skips[item]--;
    this.remove_rmap_item_from_tree(item);
    return true;
  }

  private advisor_start_scan(): void {
    if (this.advisor_mode === 'scan-time') this.advisorCtx.start_scan = this.ksmd_clock.ktime_ns();
  }

  /** scan_time_advisor() on ksmd_clock. */
  private advisor_stop_scan(): void {
    if (this.advisor_mode !== 'scan-time') return;
    this.scan_time_advisor(this.ksmd_clock.ktime_ns(), this.ksmd_clock.sched_runtime_ns());
  }

  /** scan_time_advisor() at time `now` with ksmd's CPU time `cpu_time` (ns, ksmd_clock's):
   * advisor_ctx and pages_to_scan updated. */
  scan_time_advisor(now: number, cpu_time: number): void {
    const ctx = this.advisorCtx;
    const scan_time = Math.max(1, Math.floor((now - ctx.start_scan) / 1e6 / 1000));
    const cpu_ms = Math.floor((cpu_time - ctx.cpu_time) / 1e6);
    const cpu_percent = Math.max(1, Math.floor((cpu_ms * 100) / (scan_time * 1000)));
    const last = ctx.scan_time !== 0 ? ctx.scan_time : scan_time;
    const factor = Math.max(1, Math.floor((this.advisor_target_scan_time * 100) / scan_time));
    let change = Math.max(1, Math.floor((scan_time * 100) / last));
    change = Math.floor(((100 - EWMA_WEIGHT) * ctx.change + EWMA_WEIGHT * change) / 100);
    let pages = Math.floor((this.pages_to_scan * 100) / factor);
    pages = Math.floor((pages * change) / 100);
    const ppc = Math.max(1, Math.floor(this.pages_to_scan / cpu_percent));
    pages = Math.min(pages, ppc * this.advisor_max_cpu);
    pages = Math.max(pages, ppc * KSM_ADVISOR_MIN_CPU);
    pages = Math.min(pages, this.advisor_max_pages_to_scan);
    ctx.change = change;
    ctx.scan_time = scan_time;
    ctx.cpu_time = cpu_time;
    this.pages_to_scan = pages;
    this.m.trace.emit('ksm_advisor', { scan_time, pages_to_scan: pages, cpu_percent });
  }

  resetAdvisor(): void {
    this.advisorCtx = { start_scan: 0, scan_time: 0, change: 0, cpu_time: 0 };
  }

  // ==== merging ============================================================================

  /** folio_stable_node(): the node a KSM folio belongs to (null for none or a NULL node). */
  folio_stable_node(folio: number): KsmStableNode | null {
    const pm = this.m.phys;
    if (!pm.folio_test_ksm(folio)) return null;
    return this.nodes[pm.folioMappingHandle(folio)] ?? null;
  }

  private set_page_stable_node(folio: number, node: KsmStableNode | null): void {
    const pm = this.m.phys;
    if (pm.PageKsm(folio) && pm.mappingHandle(folio) !== 0) this.dups_changed++; // a node loses its page
    this.m.phys.setMapping(folio, node === null ? 0 : node.id, PAGE_MAPPING_KSM);
  }

  /** cmp_and_merge_page() in the 6.18 order. */
  private cmp_and_merge_page(page: number, item: number): void {
    const m = this.m;
    const pm = m.phys;
    const ri = this.rmap_item_cache;
    const node = this.folio_stable_node(pm.folio(page));
    let bypass = false;
    if (node !== null) {
      if (!node.onMigrateList && this.get_kpfn_nid(node.kpfn) !== node.nid) {
        // The KSM page was migrated to another node: park its node on migrate_nodes.
        this.stable_node_dup_del(node);
        node.onMigrateList = true;
        this.migrate_nodes.add(node);
      }
      if (!node.onMigrateList && ri.head[item] === node.id) return;
      if (!this.is_page_sharing_candidate(node)) bypass = true;
    } else {
      this.remove_rmap_item_from_tree(item);
      const checksum = pm.calc_checksum(page);
      if (m.armed('ksm:after-checksum')) {
        this.mergeable_epoch++;
        m.reach('ksm:after-checksum', { mm: ri.mm.get(item), page });
      }
      if (ri.oldchecksum[item] !== checksum) {
        ri.oldchecksum[item] = checksum;
        return;
      }
      if (this.try_to_merge_with_zero_page(item, page) === 0) return;
    }
    const kfolio = this.stable_tree_search(page);
    if (kfolio === page && node !== null && ri.head[item] === node.id) {
      // &kfolio->page == page (6.18): the page is its own KSM folio, the item already on its node
      pm.put_page(kfolio);
      return;
    }
    this.remove_rmap_item_from_tree(item);
    if (kfolio !== 0) {
      if (kfolio === -EBUSY) return;
      if (this.try_to_merge_with_ksm_page(item, page, kfolio) === 0) {
        const kn = this.folio_stable_node(kfolio);
        if (kn !== null) this.stable_tree_append(item, kn, bypass);
        if (m.trace.enabled) {
          m.trace.emit('ksm_merge_with_ksm_page', {
            ksm_page: kfolio,
            pfn: page,
            rmap_item: ri.address[item],
            mm: ri.mm.get(item)!.id,
            err: 0,
          });
        }
      }
      pm.put_page(kfolio);
      return;
    }
    const treeItem = this.unstable_tree_search_insert(item, page);
    if (treeItem !== 0) {
      const treePage = this.treePage;
      const kpage = this.try_to_merge_two_pages(item, page, treeItem, treePage);
      // Two subpages of one THP cannot be merged with each other before it is split.
      const folio = pm.folio(page);
      const split = pm.folio_test_large(folio) && folio === pm.folio(treePage);
      pm.put_page(treePage);
      if (kpage === 0 && split && pm.trylock_page(page)) {
        this.mergeable_epoch++;
        split_folio(m, folio, page);
        pm.unlock_page(page); // split_huge_page() leaves the lock on the folio of `page`
      }
      if (kpage !== 0) {
        const sn = this.stable_tree_insert(kpage);
        if (sn !== null) {
          this.stable_tree_append(treeItem, sn, false);
          this.stable_tree_append(item, sn, false);
        } else {
          this.break_cow(treeItem);
          this.break_cow(item);
        }
      }
    }
  }

  /** try_to_merge_with_zero_page(). */
  private try_to_merge_with_zero_page(item: number, page: number): number {
    const ri = this.rmap_item_cache;
    let err = -EFAULT;
    if (this.use_zero_pages && ri.oldchecksum[item] === this.zero_checksum) {
      const mm = ri.mm.get(item)!;
      mm.mmap_read_lock();
      const vma = this.find_mergeable_vma(mm, ri.address[item]);
      err = vma !== null ? this.try_to_merge_one_page(vma, page, this.m.phys.zeroPfn) : 0;
      mm.mmap_read_unlock();
    }
    return err;
  }

  /** find_mergeable_vma(). */
  find_mergeable_vma(mm: MmStruct, addr: number): VmAreaStruct | null {
    if (mm.mm_users === 0) return null;
    const vma = mm.vma_lookup(addr);
    if (vma === null || (vma.vm_flags & VM_MERGEABLE) === 0 || vma.anon_vma === null) return null;
    return vma;
  }

  /** try_to_merge_one_page(): make `page` the KSM page (kpage 0) or map kpage in its place. */
  private try_to_merge_one_page(vma: VmAreaStruct, page: number, kpage: number): number {
    const m = this.m;
    const pm = m.phys;
    if (page === kpage) return 0;
    if (!pm.PageAnon(page)) return -EFAULT;
    if (m.armed('ksm:before-merge')) {
      this.mergeable_epoch++;
      m.reach('ksm:before-merge', { vma, page, kpage });
    }
    if (!pm.trylock_page(page)) return -EFAULT;
    const folio = pm.folio(page);
    if (pm.folio_test_large(folio)) {
      pm.unlock_page(page);
      this.mergeable_epoch++;
      if (split_folio(m, folio, page) !== 0) return -EFAULT;
      pm.trylock_page(page);
    }
    let err = -EFAULT;
    if (this.write_protect_page(vma, page) === 0) {
      if (kpage === 0) {
        this.set_page_stable_node(page, null);
        // A folio already referenced (MADV_POPULATE_*'s FOLL_TOUCH) goes to ksmd's CPU's
        // lru_activate batch, which holds a reference until it is drained.
        folio_mark_accessed(pm, m.cpu_fbatches, page);
        pm.flags[page] |= PG_dirty;
        err = 0;
      } else if (pm.pages_identical(page, kpage)) {
        err = this.replace_page(vma, page, kpage);
      }
    }
    pm.unlock_page(page);
    return err;
  }

  /** The PTE mapping `page` in `vma` (page_vma_mapped_walk() for one page): sets this.orig_pte. */
  private findPte(vma: VmAreaStruct, page: number): boolean {
    const pm = this.m.phys;
    const wp = this.orig_pte;
    const addr = vma_address(vma, pm.index[page]);
    if (addr < 0) return false;
    const mm = vma.vm_mm;
    const idx = pte_index(addr);
    let pteT = this.scanPte;
    if (
      page === this.scanPage &&
      addr === this.scanAddr &&
      this.scanPageEpoch === this.mergeable_epoch &&
      pteT !== 0 &&
      mm === this.ksm_scan.mm_slot.mm
    ) {
      // Simulator only: the page the scan's walk found, at its address, in the scanned mm, while
      // cmp_and_merge_page() runs for it in the mergeable epoch the walk found it in. Its entry is
      // read in the PTE table the walk found it in (this.scanPte), with no walk from the PGD and
      // no test of the entry: the table still covers the address and the entry still maps the
      // page (a batch changes a PMD, or a PTE other than the one it merges, only where the epoch
      // advances: see mergeable_epoch; this page's PTE maps another page only once
      // replace_page() merged it, and the page is not protected again after that).
      // checkKsmInvariants() checks both while the memo is current (scan_pte_memo()).
      const w = pm.tableWords(pteT);
      const o = pm.tableBase(pteT) + idx * 2;
      wp.lo = w[o];
      wp.hi = w[o + 1];
    } else {
      // page_vma_mapped_walk() (mm/page_vma_mapped.c) for the one PTE that may map the page
      pteT = page_vma_mapped_pte(mm, addr, page);
      if (pteT === 0) return false;
      wp.lo = E.lo;
      wp.hi = E.hi;
    }
    wp.addr = addr;
    wp.table = pteT;
    wp.idx = idx;
    return true;
  }

  /** Simulator only, for checkKsmInvariants(): what findPte() would take as the PTE table
   * mapping the scanned page at its address in the scanned mm while it is current (null when
   * not). */
  scan_pte_memo(): { mm: MmStruct; addr: number; pte_table: number; page: number } | null {
    if (this.scanPte === 0 || this.scanPageEpoch !== this.mergeable_epoch) return null;
    return {
      mm: this.ksm_scan.mm_slot.mm!,
      addr: this.scanAddr,
      pte_table: this.scanPte,
      page: this.scanPage,
    };
  }

  /** write_protect_page(): make the page's only PTE in vma clean and read-only (this.orig_pte). */
  private write_protect_page(vma: VmAreaStruct, page: number): number {
    const m = this.m;
    const pm = m.phys;
    const wp = this.orig_pte;
    const folio = pm.folio(page);
    if (pm.folio_test_large(folio)) return -EFAULT;
    if (!this.findPte(vma, page)) return -EFAULT;
    ptlLock(pm, m.counters, wp.table);
    let err = 0;
    const anonExclusive = pm.PageAnonExclusive(page);
    const lo = wp.lo;
    if (pte_write(lo) || pte_dirty(lo) || anonExclusive) {
      const swapped = (pm.flags[folio] & PG_swapcache) !== 0 ? 1 : 0;
      m.counters.tlbFlushes++; // ptep_clear_flush()
      if (
        pm.folio_mapcount(folio) + 1 + swapped !== pm.folio_ref_count(folio) ||
        (anonExclusive && folio_try_share_anon_rmap_pte(pm, folio, page) !== 0)
      ) {
        err = -EFAULT; // the entry is left as it was (set_pte_at() of the cleared one)
      } else {
        if (pte_dirty(lo)) pm.flags[page] |= PG_dirty;
        wp.lo = (lo & ~(_PAGE_RW | _PAGE_DIRTY)) >>> 0;
        setEntry(pm, wp.table, wp.idx, wp.lo, wp.hi);
      }
    }
    // out_unlock: one unlock (V8 inlines ptlUnlock() at each call site, out of a small budget)
    ptlUnlock(pm, m.counters, wp.table);
    return err;
  }

  /** replace_page(): map kpage (or the zero page) where `page` was, checking the PTE is still
   * this.orig_pte. */
  private replace_page(vma: VmAreaStruct, page: number, kpage: number): number {
    const m = this.m;
    const pm = m.phys;
    const mm = vma.vm_mm;
    const wp = this.orig_pte;
    const origLo = wp.lo;
    const origHi = wp.hi;
    const table = wp.table;
    // the PTE's two words, read and then set (pte_same(), set_pte_at()): one table lookup
    const w = pm.tableWords(table);
    const o = pm.tableBase(table) + wp.idx * 2;
    ptlLock(pm, m.counters, table);
    if (w[o] !== origLo || w[o + 1] !== origHi) {
      ptlUnlock(pm, m.counters, table);
      return -EFAULT;
    }
    if (!pm.is_zero_pfn(kpage)) {
      pm.get_page(kpage);
      folio_add_anon_rmap_pte(pm, kpage, false, mm);
      mk_pte(kpage, vma.protLo & ~_PAGE_RW, vma.protHi);
    } else if (!m.kernel.ksm.zeroPages) {
      // before ~6.6 a plain special zero PTE: not is_ksm_zero_pte(), counted nowhere
      mk_pte(kpage, (vma.protLo & ~_PAGE_RW) | _PAGE_SPECIAL, vma.protHi);
      mm.add_mm_counter(MM_ANONPAGES, -1);
    } else {
      mk_pte(kpage, (vma.protLo & ~_PAGE_RW) | _PAGE_SPECIAL | _PAGE_DIRTY | _PAGE_SOFT_DIRTY, vma.protHi);
      this.zero_pages++;
      mm.ksm_zero_pages++;
      mm.add_mm_counter(MM_ANONPAGES, -1);
    }
    m.counters.tlbFlushes++;
    w[o] = (entryOut.lo | _PAGE_ACCESSED) >>> 0;
    w[o + 1] = entryOut.hi;
    folio_remove_rmap_pte(pm, page, mm);
    if (!pm.folio_mapped(page) && (pm.flags[page] & PG_swapcache) !== 0) swapcache_delete(m, page);
    ptlUnlock(pm, m.counters, table);
    pm.put_page(page);
    if (m.trace.enabled) m.trace.emit('ksm_merge_one_page', { pfn: page, kpfn: kpage, mm: mm.id });
    return 0;
  }

  /** try_to_merge_with_ksm_page(). */
  private try_to_merge_with_ksm_page(item: number, page: number, kpage: number): number {
    const ri = this.rmap_item_cache;
    const mm = ri.mm.get(item)!;
    mm.mmap_read_lock();
    const vma = this.find_mergeable_vma(mm, ri.address[item]);
    let err = -EFAULT;
    if (vma !== null) {
      err = this.try_to_merge_one_page(vma, page, kpage);
      if (err === 0) {
        this.remove_rmap_item_from_tree(item);
        ri.anon_vma.set(item, vma.anon_vma);
      }
    }
    mm.mmap_read_unlock();
    return err;
  }

  /** try_to_merge_two_pages(): returns the new KSM page (the scanned one) or 0. */
  private try_to_merge_two_pages(item: number, page: number, treeItem: number, treePage: number): number {
    let err = this.try_to_merge_with_ksm_page(item, page, 0);
    if (err === 0) {
      err = this.try_to_merge_with_ksm_page(treeItem, treePage, page);
      if (err !== 0) this.break_cow(item);
    }
    return err === 0 ? page : 0;
  }

  // ==== the stable tree =====================================================================

  is_page_sharing_candidate(n: KsmStableNode): boolean {
    return n.rmap_hlist_len !== 0 && n.rmap_hlist_len < this.max_page_sharing;
  }

  private __is_page_sharing_candidate(n: KsmStableNode, offset: number): boolean {
    return n.rmap_hlist_len !== 0 && n.rmap_hlist_len + offset < this.max_page_sharing;
  }

  private is_stable_node_chain(n: KsmStableNode): boolean {
    return n.rmap_hlist_len === STABLE_NODE_CHAIN;
  }

  private allocNode(): KsmStableNode | null {
    if (this.failAlloc?.('stable_node')) return null;
    const n = new KsmStableNode(this.nextNodeId++);
    this.nodes[n.id] = n;
    return n;
  }

  /** Simulator only: the epoch of the stable nodes' memos (see dups_changed); checkKsmInvariants()
   * checks the memos that claim it. */
  dups_epoch(): number {
    return this.dups_changed + this.m.phys.nrKsmPagesFreed;
  }

  /**
   * Simulator only: ksm_get_folio(node, KSM_GET_FOLIO_NOLOCK) for __stable_node_chain(), whose
   * callers only compare the page and drop it again (memcmp_pages(), folio_put()) with nothing
   * run in between: the reference is counted (pageGet here, pagePut where they drop it), not
   * taken; it is never the last. 0 when the node went stale (it is removed then).
   */
  private ksm_get_folio_compared(node: KsmStableNode): number {
    if (!this.ksm_folio_valid(node)) {
      this.remove_node_from_stable_tree(node);
      return 0;
    }
    this.m.counters.pageGet++;
    return node.kpfn;
  }

  /**
   * ksm_get_folio()'s test of a node: its page is still its KSM page (page->mapping) and not
   * freed. Simulator only: a node found valid remembers dups_epoch() (`pageEpoch`), which moves
   * whenever a node's page can stop being its own (freed, migrated, given another node), and is
   * not read again while the epoch holds: a stable-tree descent then reads no struct page field
   * of the nodes it passes.
   */
  private ksm_folio_valid(node: KsmStableNode): boolean {
    const epoch = this.dups_epoch();
    return node.pageEpoch === epoch || this.ksm_folio_check(node, epoch);
  }

  /** ksm_folio_valid() past its memo (out of its line: a stable-tree descent calls it at every
   * level, and V8 inlines it only while it is small). */
  private ksm_folio_check(node: KsmStableNode, epoch: number): boolean {
    const pm = this.m.phys;
    const kpfn = node.kpfn;
    if (kpfn === 0 || pm.mapping[kpfn] !== node.id * 4 + PAGE_MAPPING_KSM || pm.refcount[pm.folio(kpfn)] <= 0)
      return false;
    node.pageEpoch = epoch;
    return true;
  }

  /** ksm_get_folio(): the node's page with a reference, or 0 if the node went stale (it is
   * removed then), or -EBUSY for a failed TRYLOCK. */
  private ksm_get_folio(node: KsmStableNode, mode: number): number {
    const pm = this.m.phys;
    const kpfn = node.kpfn;
    if (this.ksm_folio_valid(node)) {
      pm.get_page(kpfn);
      if (mode === KSM_GET_FOLIO_TRYLOCK) {
        if (!pm.trylock_page(kpfn)) {
          pm.put_page(kpfn);
          return -EBUSY;
        }
      } else if (mode === KSM_GET_FOLIO_LOCK) {
        if (!pm.trylock_page(kpfn)) BUG('ksm_get_folio: page lock already held by this context');
      }
      return kpfn;
    }
    this.remove_node_from_stable_tree(node);
    return 0;
  }

  /** remove_node_from_stable_tree(). */
  private remove_node_from_stable_tree(node: KsmStableNode): void {
    const ri = this.rmap_item_cache;
    for (let it = node.hlist; it !== 0; it = ri.hnext[it])
      this.rmap_item_unshared(node, it, ri.hnext[it] !== 0);
    node.hlist = 0;
    this.m.trace.emit('ksm_remove_ksm_page', { pfn: node.kpfn });
    if (node.onMigrateList) {
      node.onMigrateList = false;
      this.migrate_nodes.delete(node);
    } else this.stable_node_dup_del(node);
    this.free_stable_node(node);
  }

  private free_stable_node(node: KsmStableNode): void {
    this.nodes[node.id] = null;
  }

  /** stable_node_dup_del(): unlink a dup from its chain (__stable_node_dup_del()), or a regular
   * node from the tree. */
  private stable_node_dup_del(node: KsmStableNode): void {
    this.dups_changed++;
    if (node.isDup) {
      hlist_del_init(node);
      node.isDup = false;
      node.chain = null;
      this.stable_node_dups--;
    } else {
      rb_erase(node, this.root_stable_tree[node.nid]);
      RB_CLEAR_NODE(node);
    }
  }

  /** alloc_stable_node_chain(): `dup` is replaced in the tree by a new chain holding it. */
  private alloc_stable_node_chain(dup: KsmStableNode, root: RbRoot<KsmStableNode>): KsmStableNode | null {
    const chain = this.allocNode();
    if (chain === null) return null;
    chain.dups = new HlistHead<KsmStableNode>();
    chain.rmap_hlist_len = STABLE_NODE_CHAIN;
    chain.chain_prune_time = this.m.clock.jiffies;
    chain.nid = dup.nid;
    this.stable_node_chains++;
    rb_replace_node(dup, chain, root);
    RB_CLEAR_NODE(dup);
    this.stable_node_chain_add_dup(dup, chain);
    return chain;
  }

  /** stable_node_chain_add_dup(): at the head of the chain's dups. */
  private stable_node_chain_add_dup(dup: KsmStableNode, chain: KsmStableNode): void {
    dup.isDup = true; // dup->head = STABLE_NODE_DUP_HEAD
    dup.chain = chain;
    hlist_add_head(dup, chain.dups!);
    this.stable_node_dups++;
  }

  /** free_stable_node_chain(). */
  private free_stable_node_chain(chain: KsmStableNode, root: RbRoot<KsmStableNode>): void {
    rb_erase(chain, root);
    RB_CLEAR_NODE(chain);
    this.free_stable_node(chain);
    this.stable_node_chains--;
  }

  /**
   * stable_node_dup(): choose a dup of a chain for a new sharer (prune: visit all, the fullest
   * candidate wins; otherwise the first candidate), and what that does to the chain. Returns the
   * dup's page (its reference counted: ksm_get_folio_compared()) or 0;
   * refs.stable_node_dup receives the dup, refs.stable_node the chain, or the dup it collapsed
   * into, or null for a chain freed because no dup was left.
   */
  private stable_node_dup(
    refs: StableNodeRefs,
    root: RbRoot<KsmStableNode>,
    prune_requested: boolean,
  ): number {
    const clock = this.m.clock;
    const chain = refs.stable_node!;
    const prune =
      prune_requested &&
      !(
        clock.jiffies <
        chain.chain_prune_time + clock.msecs_to_jiffies(this.stable_node_chains_prune_millisecs)
      );
    if (prune) chain.chain_prune_time = clock.jiffies;
    const dups = chain.dups!;
    let found: KsmStableNode | null = null;
    let tree_folio = 0;
    let found_rmap_hlist_len = 0;
    const counters = this.m.counters;
    const max_page_sharing = this.max_page_sharing;
    // Simulator only: the chain's full dups at the end of the list (see dupsFull), and the run of
    // full dups this walk is in (the memo it leaves when it reaches the end).
    let fullFrom: KsmStableNode | null = null;
    let fullCount = 0;
    let reachedEnd = true;
    // hlist_for_each_entry_safe(): ksm_get_folio() may free the dup it is given.
    for (let dup = dups.first, next: KsmStableNode | null = null; dup !== null; dup = next) {
      next = dup.next;
      if (
        dup === chain.dupsFull &&
        chain.dupsFullEpoch === this.dups_epoch() &&
        chain.dupsFullMax === max_page_sharing
      ) {
        // Simulator only: every dup from here is full and not stale, so none is picked (unless
        // none was found yet: then the first is) and none is removed; the references
        // ksm_get_folio() would take and drop on the others are counted, as below.
        let passed = chain.dupsFullCount;
        if (found === null) {
          tree_folio = this.ksm_get_folio_compared(dup);
          found = dup;
          found_rmap_hlist_len = found.rmap_hlist_len;
          passed--;
        }
        counters.pageGet += passed;
        counters.pagePut += passed;
        if (fullFrom === null) fullFrom = dup;
        fullCount += chain.dupsFullCount;
        break;
      }
      // ksm_get_folio(dup, KSM_GET_FOLIO_NOLOCK)'s test: a stale dup is removed there.
      if (!this.ksm_folio_valid(dup)) {
        this.remove_node_from_stable_tree(dup);
        continue;
      }
      if (dup.rmap_hlist_len >= max_page_sharing) {
        if (fullFrom === null) fullFrom = dup;
        fullCount++;
      } else {
        fullFrom = null;
        fullCount = 0;
      }
      // Pick the best candidate if possible.
      if (
        found === null ||
        (this.is_page_sharing_candidate(dup) &&
          (!this.is_page_sharing_candidate(found) || dup.rmap_hlist_len > found_rmap_hlist_len))
      ) {
        if (found !== null) counters.pagePut++; // folio_put(tree_folio), counted (see below)
        tree_folio = this.ksm_get_folio_compared(dup);
        found = dup;
        found_rmap_hlist_len = found.rmap_hlist_len;
        if (!prune && this.is_page_sharing_candidate(found)) {
          reachedEnd = false;
          break;
        }
        continue;
      }
      // Simulator only: the reference ksm_get_folio() would take and folio_put() drop again
      // (never the last: it was taken here) is counted, not taken.
      counters.pageGet++;
      counters.pagePut++;
    }
    if (reachedEnd) {
      chain.dupsFull = fullFrom;
      chain.dupsFullCount = fullCount;
      chain.dupsFullMax = max_page_sharing;
      chain.dupsFullEpoch = this.dups_epoch();
    }
    if (found !== null) {
      // 6.1: only while pruning, and only a dup that can take another sharer (mm/ksm.c 6.1.192,
      // stable_node_dup(): `prune_stale_stable_nodes && nr == 1` with found a candidate)
      const collapse = this.m.kernel.ksm.chainCollapseFull
        ? hlist_is_singular_node(found, dups)
        : prune && hlist_is_singular_node(found, dups) && this.is_page_sharing_candidate(found);
      if (collapse) {
        // The chain's only dup: drop the chain, the dup takes its place in the tree.
        this.stable_node_dup_del(found);
        rb_replace_node(chain, found, root);
        RB_CLEAR_NODE(chain);
        this.free_stable_node(chain);
        this.stable_node_chains--;
        refs.stable_node = found;
      } else if (dups.first !== found && this.__is_page_sharing_candidate(found, 1)) {
        // It can take one more merge after this one: to the head, for the next search.
        hlist_del_init(found);
        hlist_add_head(found, dups);
      }
    } else {
      this.free_stable_node_chain(chain, root);
      refs.stable_node = null;
    }
    refs.stable_node_dup = found;
    return tree_folio;
  }

  /**
   * __stable_node_chain(): for a regular node its page (and the node as its own dup); for a
   * chain, stable_node_dup(). 0 when the node or chain went stale (and was removed).
   *
   * Most stable_node_dup() calls pick the chain's head dup at their walk's first step and do
   * nothing else to the chain: without pruning, the walk stops at the first dup that can take
   * another sharer, and a dup that took one moves to the head while it can take more. That step
   * is taken here when it is all the call would do (no pruning due: not requested, or the chain
   * was pruned less than stable_node_chains_prune_millisecs ago; the head valid and a candidate;
   * no collapse of the chain into it): simulator only, the stable-tree descent inlines this
   * function at every level, and V8 inlines only while the code is small, which
   * stable_node_dup() is not.
   */
  private __stable_node_chain(refs: StableNodeRefs, root: RbRoot<KsmStableNode>, prune: boolean): number {
    const stable_node = refs.stable_node!;
    if (!this.is_stable_node_chain(stable_node)) {
      refs.stable_node_dup = stable_node;
      return this.ksm_get_folio_compared(stable_node);
    }
    const clock = this.m.clock;
    const head = stable_node.dups!.first;
    if (
      head !== null &&
      (!prune ||
        clock.jiffies <
          stable_node.chain_prune_time + clock.msecs_to_jiffies(this.stable_node_chains_prune_millisecs)) &&
      this.ksm_folio_valid(head) &&
      this.is_page_sharing_candidate(head) &&
      !(this.m.kernel.ksm.chainCollapseFull && head.next === null)
    ) {
      refs.stable_node_dup = head;
      return this.ksm_get_folio_compared(head);
    }
    return this.stable_node_dup(refs, root, prune);
  }

  /** chain_prune(): __stable_node_chain() pruning stale dups (stable_tree_search()). */
  private chain_prune(refs: StableNodeRefs, root: RbRoot<KsmStableNode>): number {
    return this.__stable_node_chain(refs, root, true);
  }

  /** chain(): __stable_node_chain() without pruning (stable_tree_insert()). */
  private chain(refs: StableNodeRefs, root: RbRoot<KsmStableNode>): number {
    return this.__stable_node_chain(refs, root, false);
  }

  /** stable_tree_search(): a referenced KSM page with the same content, the page itself, 0, or
   * -EBUSY. */
  private stable_tree_search(page: number): number {
    const pm = this.m.phys;
    const folio = pm.folio(page);
    const page_node = this.folio_stable_node(folio);
    if (page_node !== null && !page_node.onMigrateList) {
      pm.get_page(folio); // ksm page forked
      return folio;
    }
    const nid = this.get_kpfn_nid(page);
    const root = this.root_stable_tree[nid];
    const refs = this.chain_refs;
    let parent: KsmStableNode | null = null;
    let isLeft = false;
    again: for (;;) {
      parent = null;
      isLeft = false;
      let n = root.rb_node;
      while (n !== null) {
        refs.stable_node = n;
        let tree_folio = this.chain_prune(refs, root);
        // A stale node was erased and the tree may have been rebalanced: restart from the root.
        if (tree_folio === 0) continue again;
        const stable_node = refs.stable_node!;
        const stable_node_dup = refs.stable_node_dup!;
        const ret = pm.memcmp_pages_remembered(page, tree_folio, stable_node_dup.kfirstword);
        this.m.counters.pagePut++; // folio_put(tree_folio): see ksm_get_folio_compared()
        parent = stable_node;
        if (ret < 0) {
          isLeft = true;
          n = stable_node.rb_left;
        } else if (ret > 0) {
          isLeft = false;
          n = stable_node.rb_right;
        } else {
          // A migrated KSM page mapped more than once keeps its page: another dup of this content.
          if (page_node !== null && pm.folio_mapcount(folio) > 1)
            return this.stable_tree_search_chain_append(
              stable_node,
              stable_node_dup,
              page_node,
              folio,
              nid,
              root,
            );
          // Every dup is full: the page waits for a twin in the unstable tree (a new dup).
          if (!this.is_page_sharing_candidate(stable_node_dup)) return 0;
          tree_folio = this.ksm_get_folio(stable_node_dup, KSM_GET_FOLIO_TRYLOCK);
          if (tree_folio === -EBUSY) return -EBUSY;
          if (tree_folio === 0) continue again; // the tree may have been rebalanced
          pm.unlock_page(tree_folio);
          if (this.get_kpfn_nid(stable_node_dup.kpfn) !== stable_node_dup.nid) {
            pm.put_page(tree_folio);
            return this.stable_tree_search_replace(stable_node, stable_node_dup, page_node, folio, nid, root);
          }
          return tree_folio;
        }
      }
      break;
    }
    if (page_node === null) return 0;
    // A migrated KSM page with no match: its node moves into this node's tree here.
    this.migrate_nodes.delete(page_node);
    page_node.onMigrateList = false;
    page_node.nid = nid;
    rb_link_node(page_node, parent, isLeft, root);
    rb_insert_color(page_node, root);
    return this.stable_tree_search_out(page_node, folio);
  }

  /** stable_tree_search()'s `out:` label for a migrated page's own node. */
  private stable_tree_search_out(page_node: KsmStableNode, folio: number): number {
    if (!this.is_page_sharing_candidate(page_node)) return 0;
    this.m.phys.get_page(folio);
    return folio;
  }

  /** stable_tree_search()'s `replace:` label: the matching dup's page lives on another node now;
   * it goes to migrate_nodes and, if the scanned page is a migrated KSM page, that one takes
   * its place. */
  private stable_tree_search_replace(
    stable_node: KsmStableNode,
    stable_node_dup: KsmStableNode,
    page_node: KsmStableNode | null,
    folio: number,
    nid: number,
    root: RbRoot<KsmStableNode>,
  ): number {
    let result = 0;
    if (stable_node_dup === stable_node) {
      // there is no chain
      if (page_node !== null) {
        this.migrate_nodes.delete(page_node);
        page_node.onMigrateList = false;
        page_node.nid = nid;
        rb_replace_node(stable_node_dup, page_node, root);
        RB_CLEAR_NODE(stable_node_dup);
        result = this.stable_tree_search_out(page_node, folio);
      } else {
        rb_erase(stable_node_dup, root);
        RB_CLEAR_NODE(stable_node_dup);
      }
    } else {
      this.stable_node_dup_del(stable_node_dup);
      if (page_node !== null) {
        this.migrate_nodes.delete(page_node);
        page_node.onMigrateList = false;
        page_node.nid = nid;
        this.stable_node_chain_add_dup(page_node, stable_node);
        result = this.stable_tree_search_out(page_node, folio);
      }
    }
    stable_node_dup.onMigrateList = true;
    this.migrate_nodes.add(stable_node_dup);
    return result;
  }

  /** stable_tree_search()'s `chain_append:` label: the migrated page's node joins the chain of
   * its content (made a chain first when it was a regular node). */
  private stable_tree_search_chain_append(
    stable_node: KsmStableNode,
    stable_node_dup: KsmStableNode,
    page_node: KsmStableNode,
    folio: number,
    nid: number,
    root: RbRoot<KsmStableNode>,
  ): number {
    let chain: KsmStableNode | null = stable_node;
    if (stable_node_dup === stable_node) {
      // chain is missing so create it
      chain = this.alloc_stable_node_chain(stable_node_dup, root);
      if (chain === null) return 0;
    }
    this.migrate_nodes.delete(page_node);
    page_node.onMigrateList = false;
    page_node.nid = nid;
    this.stable_node_chain_add_dup(page_node, chain);
    return this.stable_tree_search_out(page_node, folio);
  }

  /** stable_tree_insert(): a new stable node (or dup) for kpage, or null. */
  private stable_tree_insert(kpage: number): KsmStableNode | null {
    const pm = this.m.phys;
    const nid = this.get_kpfn_nid(kpage);
    const root = this.root_stable_tree[nid];
    const refs = this.chain_refs;
    let parent: KsmStableNode | null = null;
    let isLeft = false;
    let need_chain = false;
    let stable_node: KsmStableNode | null = null;
    again: for (;;) {
      parent = null;
      isLeft = false;
      let n = root.rb_node;
      while (n !== null) {
        refs.stable_node = n;
        const tree_folio = this.chain(refs, root);
        if (tree_folio === 0) continue again; // a stale node was erased: restart from the root
        stable_node = refs.stable_node!;
        const ret = pm.memcmp_pages_remembered(kpage, tree_folio, refs.stable_node_dup!.kfirstword);
        this.m.counters.pagePut++; // folio_put(tree_folio): see ksm_get_folio_compared()
        parent = stable_node;
        if (ret < 0) {
          isLeft = true;
          n = stable_node.rb_left;
        } else if (ret > 0) {
          isLeft = false;
          n = stable_node.rb_right;
        } else {
          need_chain = true;
          break;
        }
      }
      break;
    }
    const stable_node_dup = this.allocNode();
    if (stable_node_dup === null) return null;
    stable_node_dup.kpfn = kpage;
    stable_node_dup.kfirstword = pm.contents.firstWordOf(pm.content[kpage]);
    stable_node_dup.rmap_hlist_len = 0;
    stable_node_dup.nid = nid;
    if (!need_chain) {
      rb_link_node(stable_node_dup, parent, isLeft, root);
      rb_insert_color(stable_node_dup, root);
    } else {
      let chain = stable_node!;
      if (!this.is_stable_node_chain(chain)) {
        // chain is missing so create it
        const c = this.alloc_stable_node_chain(chain, root);
        if (c === null) {
          this.free_stable_node(stable_node_dup);
          return null;
        }
        chain = c;
      }
      this.stable_node_chain_add_dup(stable_node_dup, chain);
    }
    this.set_page_stable_node(kpage, stable_node_dup);
    return stable_node_dup;
  }

  /** stable_tree_append(). */
  private stable_tree_append(item: number, node: KsmStableNode, bypass: boolean): void {
    VM_BUG_ON(node.rmap_hlist_len < 0, 'stable_tree_append: chain given');
    node.rmap_hlist_len++;
    if (!bypass)
      WARN_ON(node.rmap_hlist_len > this.max_page_sharing, 'stable_tree_append: max_page_sharing exceeded');
    const ri = this.rmap_item_cache;
    ri.head[item] = node.id;
    ri.aflags[item] |= STABLE_FLAG;
    id_hlist_add_head(ri, item, node);
    if (ri.hnext[item] !== 0) this.pages_sharing++;
    else this.pages_shared++;
    ri.mm.get(item)!.ksm_merging_pages++;
  }

  // ==== the unstable tree ===================================================================

  /** get_mergeable_page(): the page of the item of unstable node `node` (a record of
   * rmap_item_cache.node.arena) if it is still an anon page in a mergeable VMA (referenced), else
   * 0. A page found again from the node's memo sets this.mergeable_remembered (its reference is
   * counted, not taken: see put_mergeable_page()). */
  private get_mergeable_page(node: number): number {
    const pm = this.m.phys;
    const ri = this.rmap_item_cache;
    const w = ri.node.arena.w;
    const o = node * UNODE_WORDS;
    if (w[o + UNODE_WALK_EPOCH] === this.mergeable_epoch) {
      // Simulator only: nothing this function reads (the mm's users and VMAs, the page tables
      // at the address, the page's struct page) has changed since it found this page in this
      // batch (see mergeable_epoch), so it would find it again: the walker counts the same walk,
      // and get_page() is counted (nothing reads the refcount before the caller's put_page()).
      folio_walk_count_pte(this.m.counters);
      this.m.counters.pageGet++;
      this.mergeable_remembered = true;
      return w[o + UNODE_WALK_PAGE];
    }
    this.mergeable_remembered = false;
    const item = w[o + UNODE_ITEM];
    const mm = ri.mm.get(item)!;
    const address = ri.address[item];
    mm.mmap_read_lock();
    let page = 0;
    const vma = this.find_mergeable_vma(mm, address);
    if (vma !== null && this.m.kernel.ksm.mergeableFollowPage) {
      // until 6.11: follow_page(vma, addr, FOLL_GET); the zero page is not anon
      const p = follow_page(vma, address, FOLL_GET, this.m.kernel);
      if (p > 0) {
        if (pm.PageAnon(p)) page = p;
        else pm.put_page(p);
      }
    } else if (vma !== null) {
      const fw = this.mergeable_fw;
      const folio = folio_walk_start(fw, vma, address, 0);
      if (folio !== 0) {
        if (pm.PageAnon(folio)) {
          pm.get_page(folio);
          page = fw.page;
          if (fw.level === FW_LEVEL_PTE) {
            // Remember what was found (its first word for memcmp_pages_remembered()).
            w[o + UNODE_WALK_EPOCH] = this.mergeable_epoch;
            w[o + UNODE_WALK_PAGE] = page;
            w[o + UNODE_WALK_FIRST_WORD] = pm.contents.firstWordOf(pm.content[page]);
          }
        }
        folio_walk_end(fw, vma);
      }
    }
    mm.mmap_read_unlock();
    return page;
  }

  /** put_page() of get_mergeable_page()'s page (a remembered one's reference was only counted). */
  private put_mergeable_page(page: number): void {
    if (this.mergeable_remembered) this.m.counters.pagePut++;
    else this.m.phys.put_page(page);
  }

  /** unstable_tree_search_insert(): a matching tree item (this.treePage referenced), or 0 after
   * inserting `item`. */
  private unstable_tree_search_insert(item: number, page: number): number {
    const pm = this.m.phys;
    const ri = this.rmap_item_cache;
    const arena = ri.node.arena;
    const nid = this.get_kpfn_nid(page);
    const root = this.root_unstable_tree[nid];
    let node = root.rb_node;
    let parent = RB_NULL;
    let isLeft = false;
    while (node !== RB_NULL) {
      const treePage = this.get_mergeable_page(node);
      if (treePage === 0) return 0;
      if (treePage === page) {
        this.put_mergeable_page(treePage);
        return 0;
      }
      // get_mergeable_page() does not grow the arena: its words stay where they are.
      const w = arena.w;
      const o = node * UNODE_WORDS;
      const ret = this.mergeable_remembered
        ? pm.memcmp_pages_remembered(page, treePage, w[o + UNODE_WALK_FIRST_WORD])
        : pm.memcmp_pages(page, treePage);
      parent = node;
      if (ret < 0) {
        this.put_mergeable_page(treePage);
        isLeft = true;
        node = w[o + RB_LEFT];
      } else if (ret > 0) {
        this.put_mergeable_page(treePage);
        isLeft = false;
        node = w[o + RB_RIGHT];
      } else {
        if (this.merge_across_nodes === 0 && pm.nid[treePage] !== nid) {
          this.put_mergeable_page(treePage);
          return 0;
        }
        // The page leaves with its reference: take the one only counted for real.
        if (this.mergeable_remembered) pm.folio_ref_add(pm.folio(treePage), 1);
        this.treePage = treePage;
        return w[o + UNODE_ITEM];
      }
    }
    ri.aflags[item] = UNSTABLE_FLAG | (this.ksm_scan.seqnr & SEQNR_MASK);
    ri.nid[item] = nid;
    const rb = ri.node.forInsert(item);
    if (
      this.scanPageEpoch === this.mergeable_epoch &&
      !this.m.kernel.ksm.mergeableFollowPage &&
      pm.PageAnon(page) &&
      !pm.folio_test_large(pm.folio(page))
    ) {
      // Simulator only: the scan's walk found this order-0 anon page through the item's PTE in
      // a VM_MERGEABLE VMA with an anon_vma, and nothing that advances the epoch ran since, so a
      // get_mergeable_page() of this node in this batch would find it there: remember it now.
      const w = arena.w;
      const o = rb * UNODE_WORDS;
      w[o + UNODE_WALK_EPOCH] = this.mergeable_epoch;
      w[o + UNODE_WALK_PAGE] = page;
      w[o + UNODE_WALK_FIRST_WORD] = pm.contents.firstWordOf(pm.content[page]);
    }
    arena.rb_link_node(rb, parent, isLeft, root);
    arena.rb_insert_color(rb, root);
    this.pages_unshared++;
    return 0;
  }

  /** remove_rmap_item_from_tree(): called two or three times per page scanned, mostly for an item
   * in no tree, so its two cases are out of its line (V8 inlines it only while it is small). */
  remove_rmap_item_from_tree(item: number): void {
    const aflags = this.rmap_item_cache.aflags[item];
    if ((aflags & STABLE_FLAG) !== 0) this.remove_rmap_item_from_stable_tree(item);
    else if ((aflags & UNSTABLE_FLAG) !== 0) this.remove_rmap_item_from_unstable_tree(item, aflags);
  }

  /** remove_rmap_item_from_tree() of an item on a stable node. */
  private remove_rmap_item_from_stable_tree(item: number): void {
    const ri = this.rmap_item_cache;
    const node = this.nodes[ri.head[item]]!;
    const f = this.ksm_get_folio(node, KSM_GET_FOLIO_LOCK);
    if (f === 0) return;
    id_hlist_del(ri, item, node);
    const pm = this.m.phys;
    pm.unlock_page(f);
    pm.put_page(f);
    this.rmap_item_unshared(node, item, node.hlist !== 0);
  }

  /** What an rmap_item leaving its stable node undoes, in remove_node_from_stable_tree() and
   * remove_rmap_item_from_tree() alike (mm/ksm.c 6.18): pages_sharing, or pages_shared for the
   * node's last item (`sharing` false), its mm's ksm_merging_pages, the node's rmap_hlist_len,
   * put_anon_vma(), and the item's stable flags. */
  private rmap_item_unshared(node: KsmStableNode, item: number, sharing: boolean): void {
    const ri = this.rmap_item_cache;
    if (sharing) this.pages_sharing--;
    else this.pages_shared--;
    ri.mm.get(item)!.ksm_merging_pages--;
    node.rmap_hlist_len--;
    this.dups_changed++;
    ri.anon_vma.set(item, null);
    ri.aflags[item] = 0;
    ri.head[item] = 0;
  }

  /** remove_rmap_item_from_tree() of an item in an unstable tree (`aflags`, its flags). */
  private remove_rmap_item_from_unstable_tree(item: number, aflags: number): void {
    const ri = this.rmap_item_cache;
    const age = (this.ksm_scan.seqnr - (aflags & SEQNR_MASK)) & 0xff;
    VM_BUG_ON(age > 1, 'remove_rmap_item_from_tree: unstable item older than one scan');
    // Still in this scan's tree: erase it; an older tree was emptied wholesale.
    if (age === 0) ri.node.arena.rb_erase(ri.node.get(item), this.root_unstable_tree[ri.nid[item]]);
    this.pages_unshared--;
    ri.aflags[item] = 0;
  }

  // ==== breaking ===========================================================================

  /** break_cow(): undo a half-done merge for one item. */
  private break_cow(item: number): void {
    const ri = this.rmap_item_cache;
    this.mergeable_epoch++;
    ri.anon_vma.set(item, null);
    const mm = ri.mm.get(item)!;
    const address = ri.address[item];
    mm.mmap_read_lock();
    const vma = this.find_mergeable_vma(mm, address);
    if (vma !== null) this.strategy.unmerge(vma, address, address + PAGE_SIZE, false);
    mm.mmap_read_unlock();
  }

  /** unmerge_ksm_pages() / the strategy's range form. */
  unmerge_ksm_pages(vma: VmAreaStruct, start: number, end: number, lock_vma: boolean): number {
    return this.strategy.unmerge(vma, start, end, lock_vma);
  }

  // ==== registration, madvise, prctl, fork, exit =============================================

  /** __ksm_enter(). */
  __ksm_enter(mm: MmStruct): number {
    if (this.failAlloc?.('rmap_item')) return -ENOMEM;
    const slot = new KsmMmSlot(mm);
    mm.ksmSlot = slot;
    // Insert just behind the cursor (or at the tail while unmerging).
    if ((this.run & KSM_RUN_UNMERGE) !== 0) list_add_tail(slot, this.ksm_mm_head);
    else list_add_tail(slot, this.ksm_scan.mm_slot);
    mm.flags |= MMF_VM_MERGEABLE;
    this.m.trace.emit('ksm_enter', { mm: mm.id });
    return 0;
  }

  /** ksm_exit()/__ksm_exit(). */
  private ksm_exit(mm: MmStruct): void {
    if ((mm.flags & MMF_VM_MERGEABLE) === 0) return;
    const slot = mm.ksmSlot as KsmMmSlot | null;
    if (slot === null) return;
    if (this.ksm_scan.mm_slot !== slot) {
      if (slot.rmap_list === 0) {
        this.free_mm_slot(slot);
        mm.flags &= ~(MMF_VM_MERGEABLE | MMF_VM_MERGE_ANY);
      } else {
        // Move it right after the cursor: ksmd frees it on its next step.
        list_move(slot, this.ksm_scan.mm_slot);
      }
    }
    this.m.trace.emit('ksm_exit', { mm: mm.id });
  }

  /** ksm_fork(). */
  private ksm_fork(child: MmStruct, parent: MmStruct): number {
    if (!this.m.kernel.ksm.forkResetsCounters) {
      // 6.1, 6.12.43: dup_mm() copied the whole mm_struct, these counters included; the global
      // ksm_zero_pages is not credited
      child.ksm_rmap_items = parent.ksm_rmap_items;
      child.ksm_merging_pages = parent.ksm_merging_pages;
      child.ksm_zero_pages = parent.ksm_zero_pages;
      if ((parent.flags & MMF_VM_MERGEABLE) !== 0) this.__ksm_enter(child);
      return 0;
    }
    if ((parent.flags & MMF_VM_MERGEABLE) !== 0) {
      child.ksm_zero_pages = parent.ksm_zero_pages;
      child.ksm_merging_pages = 0;
      child.ksm_rmap_items = 0;
      this.zero_pages += child.ksm_zero_pages;
      this.__ksm_enter(child);
    }
    return 0;
  }

  /** ksm_madvise(). */
  ksm_madvise(
    vma: VmAreaStruct,
    start: number,
    end: number,
    advice: number,
    flags: { value: number },
  ): number {
    const mm = vma.vm_mm;
    if (advice === MADV_MERGEABLE) {
      if ((flags.value & VM_MERGEABLE) !== 0) return 0;
      if (!vma_ksm_compatible(vma)) return 0;
      if ((mm.flags & MMF_VM_MERGEABLE) === 0) {
        const err = this.__ksm_enter(mm);
        if (err !== 0) return err;
      }
      flags.value = (flags.value | VM_MERGEABLE) >>> 0;
      return 0;
    }
    if (advice === MADV_UNMERGEABLE) {
      if ((flags.value & VM_MERGEABLE) === 0) return 0;
      if (vma.anon_vma !== null) {
        const err = this.unmerge_ksm_pages(vma, start, end, true);
        if (err !== 0) return err;
      }
      flags.value = (flags.value & ~VM_MERGEABLE) >>> 0;
      return 0;
    }
    return 0;
  }

  /** ksm_vma_flags() at mmap time for MMF_VM_MERGE_ANY mms. */
  private ksm_vma_flags(vma: VmAreaStruct): void {
    const mm = vma.vm_mm;
    if ((mm.flags & MMF_VM_MERGE_ANY) === 0) return;
    if ((vma.vm_flags & VM_MERGEABLE) !== 0 || !vma_ksm_compatible(vma)) return;
    vma.vm_flags = (vma.vm_flags | VM_MERGEABLE) >>> 0;
    if ((mm.flags & MMF_VM_MERGEABLE) === 0) this.__ksm_enter(mm);
  }

  /** ksm_add_vmas(). */
  private ksm_add_vmas(mm: MmStruct): void {
    for (const v of mm.vmas) {
      if ((v.vm_flags & VM_MERGEABLE) === 0 && vma_ksm_compatible(v))
        v.vm_flags = (v.vm_flags | VM_MERGEABLE) >>> 0;
    }
  }

  /** __ksm_del_vma(). */
  private __ksm_del_vma(vma: VmAreaStruct): number {
    if ((vma.vm_flags & VM_MERGEABLE) === 0) return 0;
    if (vma.anon_vma !== null) {
      const err = this.unmerge_ksm_pages(vma, vma.vm_start, vma.vm_end, true);
      if (err !== 0) return err;
    }
    vma.vm_flags = (vma.vm_flags & ~VM_MERGEABLE) >>> 0;
    return 0;
  }

  /** ksm_enable_merge_any(). */
  ksm_enable_merge_any(mm: MmStruct): number {
    if ((mm.flags & MMF_VM_MERGE_ANY) !== 0) return 0;
    if ((mm.flags & MMF_VM_MERGEABLE) === 0) {
      const err = this.__ksm_enter(mm);
      if (err !== 0) return err;
    }
    mm.flags |= MMF_VM_MERGE_ANY;
    this.ksm_add_vmas(mm);
    return 0;
  }

  /** ksm_disable_merge_any(). */
  ksm_disable_merge_any(mm: MmStruct): number {
    if ((mm.flags & MMF_VM_MERGE_ANY) === 0) return 0;
    for (const v of mm.vmas) {
      const err = this.__ksm_del_vma(v);
      if (err !== 0) {
        this.ksm_add_vmas(mm);
        return err;
      }
    }
    mm.flags &= ~MMF_VM_MERGE_ANY;
    return 0;
  }

  /** prctl(PR_SET_MEMORY_MERGE / PR_GET_MEMORY_MERGE) (kernel/sys.c): the machine's hook. */
  private readonly prctl: MmHooks['prctl'] = (mm, option, arg2, arg3, arg4, arg5) => {
    // before 6.4 kernel/sys.c has no such options: EINVAL
    if (!this.m.kernel.ksm.mergeAny) return undefined;
    if (option === PR_SET_MEMORY_MERGE) {
      if (arg3 !== 0 || arg4 !== 0 || arg5 !== 0) return -EINVAL;
      mm.mmap_write_lock();
      try {
        return arg2 !== 0 ? this.ksm_enable_merge_any(mm) : this.ksm_disable_merge_any(mm);
      } finally {
        mm.mmap_write_unlock();
      }
    }
    if (option === PR_GET_MEMORY_MERGE) {
      if (arg2 !== 0 || arg3 !== 0 || arg4 !== 0 || arg5 !== 0) return -EINVAL;
      return (mm.flags & MMF_VM_MERGE_ANY) !== 0 ? 1 : 0;
    }
    return undefined;
  };

  // ==== rmap, migration, zero pages ===========================================================

  /** rmap_walk_ksm(): every VMA mapping the KSM folio, through its rmap_items' anon_vmas. */
  private rmap_walk_ksm(folio: number, visit: (vma: VmAreaStruct, addr: number) => boolean): void {
    const node = this.folio_stable_node(folio);
    if (node === null) return;
    // Every (vma, address) of every rmap_item: first the VMAs of the item's own mm, then those
    // of mms forked from it since ksmd passed (search_new_forks). Many items of one mm share a
    // VMA, so nothing is skipped per VMA: the visitor checks the PTE (page_vma_mapped_walk()).
    const ri = this.rmap_item_cache;
    for (let search_new_forks = 0; search_new_forks < 2; search_new_forks++) {
      for (let it = node.hlist; it !== 0; it = ri.hnext[it]) {
        const av = ri.anon_vma.get(it);
        const mm = ri.mm.get(it)!;
        const address = ri.address[it];
        const vmas = av !== null ? av.vmas.slice() : [];
        const own = mm.vma_lookup(address);
        if (own !== null && !vmas.includes(own)) vmas.push(own);
        for (const vma of vmas) {
          if (address < vma.vm_start || address >= vma.vm_end) continue;
          if ((mm === vma.vm_mm) === (search_new_forks === 1)) continue;
          if (!visit(vma, address)) return;
        }
      }
    }
  }

  /** folio_migrate_ksm(): the node follows its page to the new PFN. */
  private folio_migrate_ksm(newPfn: number, oldPfn: number): void {
    const node = this.folio_stable_node(oldPfn);
    if (node !== null) node.kpfn = newPfn;
    this.dups_changed++;
  }

  /** ksm_might_unmap_zero_page(). */
  private ksm_might_unmap_zero_page(mm: MmStruct, lo: number): void {
    if ((lo & _PAGE_DIRTY) === 0) return;
    this.zero_pages--;
    mm.ksm_zero_pages--;
  }

  // ==== run=2 ==============================================================================

  /** remove_stable_node() (6.18): 0 when the node is gone (it was stale, or its page was no
   * longer mapped), -EBUSY while its page is still mapped (by an mm KSM does not scan, such as a
   * child forked before MADV_MERGEABLE, or by one racing exit). */
  private remove_stable_node(stable_node: KsmStableNode): number {
    const pm = this.m.phys;
    const folio = this.ksm_get_folio(stable_node, KSM_GET_FOLIO_LOCK);
    // ksm_get_folio() did remove_node_from_stable_tree() itself.
    if (folio === 0) return 0;
    let err = -EBUSY;
    if (!pm.folio_mapped(folio)) {
      // Not yet stale to ksm_get_folio() (the page may wait in the swap cache), but safe to remove.
      this.set_page_stable_node(folio, null);
      this.remove_node_from_stable_tree(stable_node);
      err = 0;
    }
    pm.unlock_page(folio);
    pm.put_page(folio);
    return err;
  }

  /** remove_stable_node_chain() (6.18): true (busy) at the first node or dup whose page is still
   * mapped, which stays with the dups after it and their chain; false when all of it went. */
  private remove_stable_node_chain(stable_node: KsmStableNode, root: RbRoot<KsmStableNode>): boolean {
    if (!this.is_stable_node_chain(stable_node)) {
      VM_BUG_ON(stable_node.isDup, 'remove_stable_node_chain: a dup in the tree');
      return this.remove_stable_node(stable_node) !== 0;
    }
    const dups = stable_node.dups!;
    // hlist_for_each_entry_safe()
    for (let dup = dups.first, next: KsmStableNode | null = null; dup !== null; dup = next) {
      next = dup.next;
      VM_BUG_ON(!dup.isDup, 'remove_stable_node_chain: not a dup');
      if (this.remove_stable_node(dup) !== 0) return true;
    }
    if (!hlist_empty(dups)) BUG('remove_stable_node_chain: dups left');
    this.free_stable_node_chain(stable_node, root);
    return false;
  }

  /** remove_all_stable_nodes() (6.18): per node's tree, remove the root until the tree is empty or
   * the root is busy (the rest of that tree stays); then every node on migrate_nodes. 0 or -EBUSY. */
  remove_all_stable_nodes(): number {
    let err = 0;
    for (let nid = 0; nid < this.root_stable_tree.length; nid++) {
      const root = this.root_stable_tree[nid];
      while (root.rb_node !== null) {
        if (this.remove_stable_node_chain(root.rb_node, root)) {
          err = -EBUSY;
          break; // proceed to next nid
        }
      }
    }
    for (const stable_node of [...this.migrate_nodes])
      if (this.remove_stable_node(stable_node) !== 0) err = -EBUSY;
    return err;
  }

  /** unmerge_and_remove_all_rmap_items() (run=2). */
  unmerge_and_remove_all_rmap_items(): number {
    const head = this.ksm_mm_head;
    const scan = this.ksm_scan;
    scan.mm_slot = head.next;
    for (let slot = scan.mm_slot; slot !== head; slot = scan.mm_slot) {
      const mm = slot.mm!;
      mm.mmap_read_lock();
      // An exiting mm goes straight to mm_exiting: its VMAs are not walked.
      if (mm.mm_users !== 0) {
        for (const vma of mm.vmas.slice()) {
          if ((vma.vm_flags & VM_MERGEABLE) === 0 || vma.anon_vma === null) continue;
          const err = this.unmerge_ksm_pages(vma, vma.vm_start, vma.vm_end, false);
          if (err !== 0) {
            // error:
            mm.mmap_read_unlock();
            scan.mm_slot = head;
            return err;
          }
        }
      }
      // mm_exiting:
      this.remove_trailing_rmap_items(slot, 0);
      mm.mmap_read_unlock();
      scan.mm_slot = slot.next;
      if (mm.mm_users === 0) {
        this.free_mm_slot(slot);
        mm.flags &= ~(MMF_VM_MERGEABLE | MMF_VM_MERGE_ANY);
      }
    }
    // Clean up stable nodes, but don't worry if some are still busy.
    this.remove_all_stable_nodes();
    scan.seqnr = 0;
    return 0;
  }

  /** get_kpfn_nid(): the tree a page belongs in: 0 when merging across nodes, else its node. */
  get_kpfn_nid(pfn: number): number {
    return this.merge_across_nodes !== 0 ? 0 : this.m.phys.nid[pfn];
  }

  /** Node registry lookup by handle. */
  nodeById(id: number): KsmStableNode | undefined {
    return this.nodes[id] ?? undefined;
  }
}

declare module '@mmsim/core' {
  interface TraceEventMap {
    ksm_start_scan: { seq: number; rmap_items: number };
    ksm_stop_scan: { seq: number; rmap_items: number };
    ksm_enter: { mm: number };
    ksm_exit: { mm: number };
    ksm_merge_one_page: { pfn: number; kpfn: number; mm: number };
    ksm_merge_with_ksm_page: { ksm_page: number; pfn: number; rmap_item: number; mm: number; err: number };
    ksm_remove_ksm_page: { pfn: number };
    ksm_remove_rmap_item: { pfn: number; rmap_item: number; mm: number };
    ksm_advisor: { scan_time: number; pages_to_scan: number; cpu_percent: number };
  }
}
