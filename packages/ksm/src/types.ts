// KSM's objects (mm/ksm.c, Linux 6.18): ksm_stable_node and ksm_mm_slot (ksm_rmap_item is
// struct-of-arrays, rmap_item.ts). Stable nodes are intrusive red-black tree nodes; their hlist of
// rmap_items is doubly linked through the items' hnext/hprev, by item id.

import type { MmStruct } from '@mmsim/mmu';
import { RbNodeBase } from '@mmsim/rbtree';

/** rmap_item->address low bits (mm/ksm.c). */
export const SEQNR_MASK = 0x0ff;
export const UNSTABLE_FLAG = 0x100;
export const STABLE_FLAG = 0x200;
/** stable_node->rmap_hlist_len of a chain. */
export const STABLE_NODE_CHAIN = -1024;

/** struct ksm_stable_node: a KSM page (regular node or dup), or a chain of dups. */
export class KsmStableNode extends RbNodeBase<KsmStableNode> {
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
  /** A chain's dups (hlist_dup), first element; links through dupNext/dupPrev. */
  dups: KsmStableNode | null = null;
  dupNext: KsmStableNode | null = null;
  dupPrev: KsmStableNode | null = null;
  /** PFN of the KSM page (regular node or dup). */
  kpfn = 0;
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
export class KsmMmSlot {
  readonly mm: MmStruct | null;
  /** The first rmap_item's id, 0 for none. */
  rmap_list = 0;
  /** The scan list (circular, through the ksm_mm_head sentinel). */
  next: KsmMmSlot;
  prev: KsmMmSlot;

  constructor(mm: MmStruct | null) {
    this.mm = mm;
    this.next = this;
    this.prev = this;
  }
}
