// The branches of the coverage targets (ksm.ts, memory.ts, madvise.ts) that the random campaign
// does not reach, with the reason. Two kinds:
// - COUNTED OUT (REASONS): no scenario can reach them on the kernel this project is checked against
//   (Linux 6.18, one NUMA node, no swap) with this model: a profile switch 6.18 does not set, a
//   BUG/WARN guard or a case the callers exclude, something the model has no API for, a change
//   that needs two threads. `pnpm fuzz --kernel --coverage` takes them out of the target.
// - MISSED (MISSED_REASONS): reachable on this kernel with this model, but not by a scenario (the
//   format has no step for it, or the oracle refuses it). They stay in the target as uncovered;
//   the report names the reason next to them.
// A branch is named by its file, its function and a piece of its source line (trimmed; a text may
// go on into the next line after a '\n'), so the list survives edits that move lines. A listed
// branch that a campaign does reach counts as covered.

/** Why no scenario can reach a branch on this kernel with this model: counted out of the target. */
export const REASONS = {
  harness:
    'simulator driver API, not kernel code: the scenario runner drives ksmd with its own loop (Ksm.runBatch(), Ksm.converge(), runFullScans() with pages_to_scan 0 are for tests and the in-process fuzzer)',
  hooks:
    'tracing and scripted-race hooks: not kernel behaviour (the campaign runs untraced, no race point armed)',
  alloc:
    "an allocation failure (frames, tables, rmap_items, stable nodes): the kernel side never runs out (the oracle refuses a scenario that would not fit in MemAvailable); fault injection is the in-process fuzzer's",
  race: 'a change between two steps of one kernel operation: the model runs each step to completion on one thread, ksmd only inside ksm_scan/ksm_converge steps, whose full scans end with the scan cursor back at the list head',
  numa: 'another NUMA node: this machine has one (get_kpfn_nid() is always 0, so no stable node moves to migrate_nodes), and no step migrates a page (the kernel migrates on its own only through compaction, which a step cannot aim at a page)',
  swap: "swap: this machine has none (SwapTotal 0) and the kernel side always has the host's swap, so nothing is ever swapped out or in the swap cache",
  model:
    'a mapping or API the model does not have: mlock() (VM_LOCKED), hugetlbfs, PFN/IO maps (VM_PFNMAP, VM_IO, VM_SPECIAL), userfaultfd write protection',
  profile: 'another kernel profile (6.1, 6.12): a switch 6.18 does not set',
  writeback:
    "a clean page-cache page: a scenario's files are written just before its steps and stay dirty for the run (the kernel writes them back after dirty_expire_centisecs, 30 s; the simulator never does); only a restored snapshot's files are clean",
  defensive:
    'a BUG/WARN guard, or a case the callers exclude (the same in the kernel: checked or returned earlier on the same path)',
} as const;
/** Why a reachable branch is not reached by a scenario: counted as missed, named in the report. */
export const MISSED_REASONS = {
  advisor:
    "the scan-time advisor's full scans: the oracle refuses ksm_scan while advisor_mode is scan-time (its exact scans write pages_to_scan, EINVAL then; the batch size would follow wall-clock time), and the simulator refuses it alike",
  format:
    "arguments the scenario format cannot express: prctl options other than PR_SET_MEMORY_MERGE and PR_GET_MEMORY_MERGE, invalid advice values, unaligned, negative or empty ranges, a file region longer than its file, debugfs' fault_around_bytes",
  gup: "GUP: a pin or extra reference (O_DIRECT, vmsplice, io_uring), an unshare fault, or a FOLL_FORCE write to a read-only mapping (ptrace, /proc/pid/mem): the model's GUP can, no scenario step does",
} as const;
export type Reason = keyof typeof REASONS | keyof typeof MISSED_REASONS;

/** True when the reason counts a branch out of the target (it cannot be reached), false when the
 * branch is reachable and counts as missed. */
export function countedOut(reason: Reason): boolean {
  return reason in REASONS;
}

export interface Unreachable {
  /** The file's name (ksm.ts, memory.ts, madvise.ts). */
  file: string;
  /** The function the coverage report names. */
  fn: string;
  /** A piece of the branch's source line; '' for every branch of the function. */
  text: string;
  reason: Reason;
}

const u = (file: string, fn: string, text: string, reason: Reason): Unreachable => ({
  file,
  fn,
  text,
  reason,
});

export const UNREACHABLE: readonly Unreachable[] = [
  // ---- ksm.ts
  u('ksm.ts', 'ksm_next_page_pmd_entry', 'mm.mm_users === 0', 'race'),
  u('ksm.ts', 'ksm_next_page_pmd_entry', '(lo & _PAGE_PRESENT) === 0', 'swap'),
  // a leaf PMD that is not present is a THP migration entry
  u('ksm.ts', 'ksm_next_page_pmd_entry', '!pmd_present(lo) ||', 'numa'),
  u('ksm.ts', 'ksmd_should_run', '', 'harness'),
  u('ksm.ts', 'runBatch', '', 'harness'),
  u('ksm.ts', 'runFullScans', 'pages_to_scan', 'harness'),
  u('ksm.ts', 'converge', '', 'harness'),
  u('ksm.ts', 'scan_get_next_rmap_item', 'if (f !== 0)', 'numa'),
  u('ksm.ts', 'scan_get_next_rmap_item', 'if (slot === head) return 0', 'defensive'),
  u('ksm.ts', 'scan_get_next_rmap_item', 'mm.mm_users === 0', 'race'),
  u('ksm.ts', 'scan_get_next_rmap_item', 'else pm.put_page(page)', 'alloc'),
  u('ksm.ts', 'free_mm_slot', 'slot.mm !== null', 'defensive'),
  u('ksm.ts', 'get_next_rmap_item', 'if (item !== 0)', 'alloc'),
  u('ksm.ts', 'alloc_rmap_item', 'failAlloc', 'alloc'),
  u('ksm.ts', 'free_rmap_item', 'trace.enabled', 'hooks'),
  u('ksm.ts', 'advisor_start_scan', '', 'advisor'),
  u('ksm.ts', 'advisor_stop_scan', '', 'advisor'),
  u('ksm.ts', 'folio_stable_node', '?? null', 'defensive'),
  u('ksm.ts', 'cmp_and_merge_page', 'get_kpfn_nid', 'numa'),
  u('ksm.ts', 'cmp_and_merge_page', '!node.onMigrateList && ri.head[item] === node.id', 'numa'),
  u('ksm.ts', 'cmp_and_merge_page', "m.armed('ksm:after-checksum')", 'hooks'),
  u('ksm.ts', 'cmp_and_merge_page', 'kfolio === page && node !== null', 'numa'),
  u('ksm.ts', 'cmp_and_merge_page', 'kfolio === -EBUSY', 'race'),
  u('ksm.ts', 'cmp_and_merge_page', 'm.trace.enabled', 'hooks'),
  // a KSM folio just merged with always has its stable node (unless freed meanwhile)
  u('ksm.ts', 'cmp_and_merge_page', 'if (kn !== null)', 'defensive'),
  // stable_tree_insert() fails only to allocate
  u('ksm.ts', 'cmp_and_merge_page', '} else {\nthis.break_cow(treeItem);', 'alloc'),
  u('ksm.ts', 'try_to_merge_with_zero_page', 'vma !== null ?', 'race'),
  u('ksm.ts', 'find_mergeable_vma', '', 'race'),
  u('ksm.ts', 'try_to_merge_one_page', '!pm.PageAnon(page)', 'defensive'),
  u('ksm.ts', 'try_to_merge_one_page', "m.armed('ksm:before-merge')", 'hooks'),
  u('ksm.ts', 'try_to_merge_one_page', '!pm.trylock_page(page)', 'race'),
  u('ksm.ts', 'try_to_merge_one_page', 'pm.pages_identical(page, kpage)', 'race'),
  u('ksm.ts', 'findPte', '', 'race'),
  u('ksm.ts', 'write_protect_page', 'PG_swapcache', 'swap'),
  // try_to_merge_one_page() split the folio or gave up
  u('ksm.ts', 'write_protect_page', 'pm.folio_test_large(folio)', 'defensive'),
  u('ksm.ts', 'write_protect_page', 'pm.folio_mapcount(folio) + 1 + swapped', 'gup'),
  u('ksm.ts', 'write_protect_page', 'folio_try_share_anon_rmap_pte', 'gup'),
  u('ksm.ts', 'replace_page', 'w[o] !== origLo', 'race'),
  u('ksm.ts', 'replace_page', '!m.kernel.ksm.zeroPages', 'profile'),
  u('ksm.ts', 'replace_page', 'PG_swapcache', 'swap'),
  u('ksm.ts', 'replace_page', 'm.trace.enabled', 'hooks'),
  u('ksm.ts', 'try_to_merge_with_ksm_page', 'vma !== null', 'race'),
  u('ksm.ts', 'try_to_merge_two_pages', 'err !== 0', 'race'),
  u('ksm.ts', 'allocNode', 'failAlloc', 'alloc'),
  // a dup found after the first one always has rmap_items (stable_node_dup() picks it only then)
  u('ksm.ts', '__is_page_sharing_candidate', 'n.rmap_hlist_len !== 0', 'defensive'),
  // callers pass dups or plain nodes (kpfn set); a page with refcount 0 but its KSM mapping is
  // one being freed concurrently
  u('ksm.ts', 'ksm_folio_valid', 'kpfn === 0 || pm.mapping[kpfn]', 'race'),
  u('ksm.ts', 'ksm_get_folio', '!pm.trylock_page(kpfn)', 'race'),
  u('ksm.ts', 'remove_node_from_stable_tree', 'node.onMigrateList', 'numa'),
  u('ksm.ts', 'alloc_stable_node_chain', 'chain === null', 'alloc'),
  u('ksm.ts', 'stable_tree_search', 'tree_folio === -EBUSY', 'race'),
  u('ksm.ts', 'stable_tree_search', 'get_kpfn_nid', 'numa'),
  // a KSM page scanned again returns early; page_node is set past that only for a page on
  // migrate_nodes (a migrated KSM page)
  u('ksm.ts', 'stable_tree_search', 'page_node !== null && pm.folio_mapcount(folio) > 1', 'numa'),
  u('ksm.ts', 'stable_tree_search', 'return this.stable_tree_search_chain_append(', 'numa'),
  u('ksm.ts', 'stable_tree_search', 'if (page_node === null) return 0', 'numa'),
  // chain_prune() just returned this dup's page: it can go stale only concurrently
  u('ksm.ts', 'stable_tree_search', 'if (tree_folio === 0) continue again; // the tree may', 'race'),
  u('ksm.ts', 'stable_tree_search_out', '', 'numa'),
  u('ksm.ts', 'stable_tree_search_replace', '', 'numa'),
  u('ksm.ts', 'stable_tree_search_chain_append', '', 'numa'),
  // the stable_tree_search() just before walked the same path and erased its stale nodes
  u('ksm.ts', 'stable_tree_insert', 'if (tree_folio === 0) continue again', 'race'),
  u('ksm.ts', 'stable_tree_insert', 'stable_node_dup === null', 'alloc'),
  u('ksm.ts', 'stable_tree_insert', 'c === null', 'alloc'),
  // until 6.11 (follow_page())
  u('ksm.ts', 'get_mergeable_page', 'mergeableFollowPage', 'profile'),
  u('ksm.ts', 'get_mergeable_page', 'if (p > 0) {', 'profile'),
  u('ksm.ts', 'get_mergeable_page', 'if (pm.PageAnon(p)) page = p;', 'profile'),
  u('ksm.ts', 'get_mergeable_page', 'else pm.put_page(p);', 'profile'),
  // the tree item's page was found in this full scan, in a VMA that cannot change during it
  u('ksm.ts', 'get_mergeable_page', '', 'race'),
  u('ksm.ts', 'unstable_tree_search_insert', 'merge_across_nodes === 0 && pm.nid', 'numa'),
  u('ksm.ts', 'break_cow', '', 'race'),
  u('ksm.ts', '__ksm_enter', 'failAlloc', 'alloc'),
  u('ksm.ts', 'ksm_exit', 'slot === null', 'defensive'),
  u('ksm.ts', 'ksm_exit', 'this.ksm_scan.mm_slot !== slot', 'race'),
  // 6.1's chain collapse (only while pruning, and only a dup that can take another sharer)
  u('ksm.ts', 'stable_node_dup', ': prune && hlist_is_singular_node(found, dups)', 'profile'),
  u('ksm.ts', 'ksm_fork', 'forkResetsCounters', 'profile'),
  u('ksm.ts', 'ksm_fork', 'if ((parent.flags & MMF_VM_MERGEABLE) !== 0) this.__ksm_enter(child);', 'profile'),
  u('ksm.ts', 'ksm_madvise', 'if (err !== 0) return err', 'alloc'),
  u('ksm.ts', 'ksm_madvise', 'advice === MADV_UNMERGEABLE', 'defensive'),
  u('ksm.ts', 'ksm_vma_flags', '(vma.vm_flags & VM_MERGEABLE) !== 0', 'defensive'),
  u('ksm.ts', '__ksm_del_vma', 'if (err !== 0) return err', 'alloc'),
  u('ksm.ts', 'ksm_enable_merge_any', 'if (err !== 0) return err', 'alloc'),
  u('ksm.ts', 'ksm_disable_merge_any', 'if (err !== 0)', 'alloc'),
  u('ksm.ts', 'prctl', '!this.m.kernel.ksm.mergeAny', 'profile'),
  // a prctl option other than the two KSM ones (the scenario format names only those)
  u('ksm.ts', 'prctl', 'option === PR_GET_MEMORY_MERGE', 'format'),
  u('ksm.ts', 'rmap_walk_ksm', '', 'numa'),
  u('ksm.ts', 'folio_migrate_ksm', '', 'numa'),
  u('ksm.ts', 'remove_stable_node', '!pm.folio_mapped(folio)', 'swap'),
  u('ksm.ts', 'remove_stable_node_chain', 'BUG(', 'defensive'),
  // the nodes parked on migrate_nodes
  u('ksm.ts', 'remove_all_stable_nodes', 'for (const stable_node of [...this.migrate_nodes])', 'numa'),
  u('ksm.ts', 'remove_all_stable_nodes', 'this.remove_stable_node(stable_node) !== 0', 'numa'),
  u('ksm.ts', 'unmerge_and_remove_all_rmap_items', 'if (err !== 0)', 'alloc'),
  // ---- memory.ts
  // the zero page is always mapped pte_special()
  u('memory.ts', 'vm_normal_page', 'pm.is_zero_pfn(pfn)', 'defensive'),
  // callers pass present PTEs
  u('memory.ts', 'is_ksm_zero_pte', 'pte_present(lo) && pm.is_zero_pfn', 'defensive'),
  // a THP fault falls back only when the huge page or the huge zero page cannot be allocated
  u('memory.ts', '__handle_mm_fault', '(ret & VM_FAULT_FALLBACK) === 0', 'alloc'),
  // an unshare fault (GUP's FOLL_PIN of a read-only page; break_ksm() meets only KSM pages)
  // on a writable PTE, and write faults on VMAs without VM_WRITE (FOLL_FORCE: ptrace,
  // /proc/pid/mem; do_user_addr_fault() refuses the rest with SIGSEGV first)
  u('memory.ts', 'handle_pte_fault', 'if ((flags & FAULT_FLAG_WRITE) !== 0) {', 'gup'),
  u('memory.ts', 'do_anonymous_page', 'lo |= _PAGE_RW | _PAGE_DIRTY', 'gup'),
  u('memory.ts', 'do_wp_page', 'if (unshare) {', 'gup'),
  u('memory.ts', 'do_wp_page', 'nlo |= _PAGE_RW', 'gup'),
  u('memory.ts', 'wp_page_copy', 'nlo |= _PAGE_RW', 'gup'),
  u('memory.ts', 'handle_mm_fault', 'return VM_FAULT_SIGSEGV', 'defensive'),
  u('memory.ts', 'handle_mm_fault', '!is_cow_mapping(vma.vm_flags)) flags', 'defensive'),
  u('memory.ts', '__handle_mm_fault', 'VM_FAULT_OOM', 'alloc'),
  u('memory.ts', 'handle_pte_fault', 'VM_FAULT_OOM', 'alloc'),
  u('memory.ts', 'handle_pte_fault', "m.armed('fault:before-pte-lock')", 'hooks'),
  u('memory.ts', 'handle_pte_fault', 'E.lo !== lo || E.hi !== hi', 'race'),
  u('memory.ts', 'do_anonymous_page', 'VM_FAULT_OOM', 'alloc'),
  u('memory.ts', 'do_shared_fault', 'VM_FAULT_OOM', 'alloc'),
  // fault-around is off only when debugfs' fault_around_bytes is one page: no step writes it
  u('memory.ts', 'do_fault', 'fault_around_bytes > PAGE_SIZE', 'format'),
  // a region maps at most its file's length: no fault past the end (SIGBUS)
  u('memory.ts', '__do_fault', 'index >= file.nrPages', 'format'),
  u('memory.ts', 'finish_fault', 'page === FAULT_PAST_EOF', 'format'),
  u('memory.ts', 'finish_fault', 'if (page === 0) return VM_FAULT_OOM', 'alloc'),
  u('memory.ts', 'finish_fault', 'if ((vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW', 'gup'),
  u('memory.ts', 'do_cow_fault', '!anon_vma_prepare(vma)', 'alloc'),
  u('memory.ts', 'do_cow_fault', 'cow === 0', 'alloc'),
  u('memory.ts', 'do_cow_fault', 'page === 0', 'alloc'),
  // before ~6.15 a large folio is never reused
  u('memory.ts', 'wp_can_reuse_anon_folio', 'reuseLargeAnonFolio', 'profile'),
  u('memory.ts', 'wp_can_reuse_anon_folio', 'PG_swapcache', 'swap'),
  u('memory.ts', 'wp_can_reuse_anon_folio', 'if (swapcache === 1)', 'swap'),
  u('memory.ts', 'wp_can_reuse_anon_folio', 'PG_locked', 'race'),
  u('memory.ts', 'wp_can_reuse_anon_folio', 'pm.PageKsm(folio) || pm.refcount[folio] !== 1', 'swap'),
  u('memory.ts', 'wp_can_reuse_large_anon_folio', 'PG_swapcache', 'swap'),
  u('memory.ts', 'do_wp_page', 'pte_uffd_wp', 'model'),
  u('memory.ts', 'wp_page_copy', '!anon_vma_prepare(vma)', 'alloc'),
  u('memory.ts', 'wp_page_copy', 'nf === 0', 'alloc'),
  u('memory.ts', 'wp_page_copy', 'if (old !== 0) pm.put_page(old)', 'alloc'),
  u('memory.ts', 'wp_page_copy', 'E.lo !== lo || E.hi !== hi', 'race'),
  u('memory.ts', 'wp_page_copy', 'pte_uffd_wp', 'model'),
  u('memory.ts', 'handle_pte_marker', 'VM_FAULT_SIGBUS', 'defensive'),
  u('memory.ts', 'do_swap_page', '', 'swap'),
  u('memory.ts', 'zap_pte', 'type < MAX_SWAPFILES', 'swap'),
  u('memory.ts', 'zap_pte', 'm.swap.swapCount(off) === 0', 'swap'),
  u('memory.ts', 'zap_pte', 'is_migration_type(type)', 'numa'),
  u('memory.ts', 'copy_page_range', 'return -12', 'alloc'),
  u('memory.ts', 'copy_page_range', 'spmdT === 0', 'defensive'),
  // copy_huge_pmd() splits (> 0) only a pinned THP, and fails (< 0) only to allocate
  u('memory.ts', 'copy_page_range', 'if (r === 0) {', 'gup'),
  u('memory.ts', 'copy_page_range', 'if (r < 0) return r', 'alloc'),
  u('memory.ts', 'copy_page_range', 'type < MAX_SWAPFILES', 'swap'),
  u('memory.ts', 'copy_page_range', 'pte_swp_exclusive(lo)', 'swap'),
  u('memory.ts', 'copy_page_range', 'is_migration_type(type)', 'numa'),
  u('memory.ts', 'copy_page_range', 'SWP_MIGRATION_WRITE', 'numa'),
  u('memory.ts', 'copy_page_range', 'folio_maybe_dma_pinned', 'gup'),
  u('memory.ts', 'copy_page_range', '!anon_vma_prepare(dst)', 'alloc'),
  u('memory.ts', 'copy_page_range', 'nf === 0', 'alloc'),
  u('memory.ts', 'copy_page_range', 'clo |= _PAGE_RW', 'gup'),
  // ---- madvise.ts
  u('madvise.ts', 'do_madvise', '!MADV_VALUES.includes(advice)', 'format'),
  u('madvise.ts', 'madvise_behavior_valid', '!MADV_VALUES.includes(advice)', 'format'),
  u('madvise.ts', 'do_madvise', 'start % PAGE_SIZE !== 0', 'format'),
  u('madvise.ts', 'do_madvise', 'end < start', 'format'),
  u('madvise.ts', 'do_madvise', 'end === start', 'format'),
  // a PTE-mapped anonymous THP is PMD-aligned: it never runs past the PMD
  u('madvise.ts', 'madvise_split_partial_folios', 'page + nr < folio + HPAGE_PMD_NR', 'defensive'),
  // the walk gives present page tables; the loop zaps single pages, which leaves the table;
  // shmem pages are normal pages, and shmem THPs are off (shmem_enabled=never)
  u('madvise.ts', 'madvise_pageout_shmem', 'pmd_leaf(E.lo) || (E.lo & _PAGE_PRESENT) === 0', 'defensive'),
  u('madvise.ts', 'madvise_pageout_shmem', 'page === 0 ||', 'defensive'),
  // a shared mapping of a regular file: the model maps files privately only
  u('madvise.ts', 'madvise_remove', 'if (obj === null) BUG', 'model'),
  u('madvise.ts', 'madvise_pageout_file', 'PG_dirty) !== 0) pm.flags[folio] |= PG_reclaim', 'writeback'),
  u('madvise.ts', 'madvise_pageout_file', 'else if (pm.refcount[folio] === 1)', 'writeback'),
  // MADV_MERGEABLE/UNMERGEABLE fail only to allocate (or on a signal)
  u('madvise.ts', 'madvise_vma_behavior', 'if (err !== 0) return err', 'alloc'),
  u('madvise.ts', 'madvise_populate', 'VM_IO | VM_PFNMAP', 'model'),
  u('madvise.ts', 'faultin_page_range', 'VM_IO | VM_PFNMAP', 'model'),
  u('madvise.ts', 'madvise_vma_behavior', 'VM_PFNMAP | VM_HUGETLB', 'model'),
  u('madvise.ts', 'madvise_vma_behavior', 'VM_LOCKED', 'model'),
  u('madvise.ts', 'madvise_vma_behavior', 'default:', 'defensive'),
  // before 6.10 MADV_POPULATE_* went VMA by VMA; 6.18 populates the whole range from do_madvise()
  u('madvise.ts', 'madvise_vma_behavior', 'case MADV_POPULATE_READ', 'profile'),
  u('madvise.ts', 'madvise_vma_behavior', 'case MADV_POPULATE_WRITE', 'profile'),
  // the fault just made the page present (a PMD table, a present PTE or a huge PMD)
  u('madvise.ts', 'foll_touch_pte', 'if (pmdT === 0) return', 'defensive'),
  u('madvise.ts', 'foll_touch_pte', 'if (!pte_present(E.lo)) return', 'defensive'),
  u('madvise.ts', 'folio_mark_lazyfree', 'PG_swapcache', 'swap'),
  u('madvise.ts', 'madvise_remove', 'VM_LOCKED', 'model'),
  u('madvise.ts', 'madvise_guard_install', '!is_valid_guard_vma', 'model'),
  u('madvise.ts', 'madvise_guard_install', '!anon_vma_prepare(vma)', 'alloc'),
  u('madvise.ts', 'madvise_guard_remove', '!is_valid_guard_vma', 'model'),
];
