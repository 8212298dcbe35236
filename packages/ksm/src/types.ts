// KSM's objects (mm/ksm.c, Linux 6.18): ksm_stable_node, ksm_mm_slot and the ksm_scan cursor
// (ksm_rmap_item is struct-of-arrays, rmap_item.ts). Stable nodes are intrusive red-black tree
// nodes; their hlist of rmap_items is an id hlist through the items' hnext/hprev (list.ts).

import type { MmStruct } from '@mmsim/mmu';
import { RbNodeBase } from '@mmsim/rbtree';
import type { HlistHead, HlistLink, HlistNode, ListHead } from './list.ts';

/** rmap_item->address low bits (mm/ksm.c). */
export const SEQNR_MASK = 0x0ff;
export const UNSTABLE_FLAG = 0x100;
export const STABLE_FLAG = 0x200;
/** stable_node->rmap_hlist_len of a chain. */
export const STABLE_NODE_CHAIN = -1024;

/** struct ksm_stable_node: a KSM page (regular node or dup), or a chain of dups. */
export class KsmStableNode extends RbNodeBase<KsmStableNode> implements HlistNode<KsmStableNode> {
  /** The handle page->mapping stores (mapping = id << 2 | PAGE_MAPPING_KSM). */
  readonly id: number;
  /** This node is a dup on a chain (head == STABLE_NODE_DUP_HEAD). */
  isDup = false;
  /** The chain a dup belongs to. */
  chain: KsmStableNode | null = null;
  /** On migrate_nodes (head == &migrate_nodes). */
  onMigrateList = false;
  /** hlist of rmap_items (regular node/dup): the first item's id, 0 for none. */
  hlist = 0;
  /** A chain's hlist of dups (the kernel's `hlist`, which a chain uses for its dups); null for a
   * node that is not a chain. */
  dups: HlistHead<KsmStableNode> | null = null;
  /** hlist_dup (a dup on its chain's dups): the next dup, and the link pointing at this one. */
  next: KsmStableNode | null = null;
  pprev: HlistLink<KsmStableNode> | null = null;
  /** PFN of the KSM page (regular node or dup). */
  kpfn = 0;
  /** Simulator only: the first word of the KSM page's bytes (Contents.firstWordOf()), for
   * memcmp_pages_remembered(). The node's for its life: a KSM page is never written (a write
   * copies it first) and a migration copies it. */
  kfirstword = 0;
  /** Simulator only, a chain's memo of its full dups (packages/ksm README, "A chain's full
   * dups"): from `dupsFull` to the end of `dups`, `dupsFullCount` dups, each with rmap_hlist_len
   * >= `dupsFullMax` (max_page_sharing then) and not stale, while Ksm's dup epoch is still
   * `dupsFullEpoch`. */
  dupsFull: KsmStableNode | null = null;
  dupsFullCount = 0;
  dupsFullMax = 0;
  dupsFullEpoch = -1;
  /** Simulator only: Ksm's dups_epoch() when this node's page was last found to be its KSM page
   * (ksm_folio_valid()); -1 for never. */
  pageEpoch = -1;
  /** A chain's last prune time (jiffies). */
  chain_prune_time = 0;
  /** Items on hlist, or STABLE_NODE_CHAIN. */
  rmap_hlist_len = 0;
  nid = 0;

  constructor(id: number) {
    super();
    this.id = id;
  }
}

/** struct ksm_mm_slot: an mm registered with KSM, on the scan list. */
export class KsmMmSlot implements ListHead<KsmMmSlot> {
  readonly mm: MmStruct | null;
  /** The first rmap_item's id, 0 for none. */
  rmap_list = 0;
  /** slot.mm_node: the scan list (circular, through the ksm_mm_head sentinel). */
  next: KsmMmSlot;
  prev: KsmMmSlot;

  constructor(mm: MmStruct | null) {
    this.mm = mm;
    this.next = this;
    this.prev = this;
  }
}

/** struct ksm_scan: the scan cursor ksmd resumes from. */
export class KsmScan {
  /** The mm_slot being scanned; ksm_mm_head between full scans. */
  mm_slot: KsmMmSlot;
  /** The next address to scan in that mm. */
  address = 0;
  /** The link the next rmap_item hangs on (the kernel's `struct ksm_rmap_item **`): the rmap_list
   * of this item, or of mm_slot when 0. */
  rmap_list = 0;
  /** Completed full scans (full_scans); the low bits tag unstable-tree items. */
  seqnr = 0;

  constructor(head: KsmMmSlot) {
    this.mm_slot = head;
  }
}
