// KSM's objects (mm/ksm.c, Linux 6.18): ksm_rmap_item, ksm_stable_node, ksm_mm_slot. Nodes are
// intrusive red-black tree nodes; hlists are doubly linked through fields of the items.

import type { AnonVma, MmStruct } from '@mmsim/mmu';
import { RbNodeBase } from '@mmsim/rbtree';

/** rmap_item->address low bits (mm/ksm.c). */
export const SEQNR_MASK = 0x0ff;
export const UNSTABLE_FLAG = 0x100;
export const STABLE_FLAG = 0x200;
/** stable_node->rmap_hlist_len of a chain. */
export const STABLE_NODE_CHAIN = -1024;

/** struct ksm_rmap_item: one scanned address of one mm. */
export class KsmRmapItem extends RbNodeBase<KsmRmapItem> {
  /** Next item of the mm_slot's address-sorted list (rmap_list). */
  rmap_list: KsmRmapItem | null = null;
  /** anon_vma while stable (a reference), else null. */
  anon_vma: AnonVma | null = null;
  /** nid while in the unstable tree. */
  nid = 0;
  readonly mm: MmStruct;
  /** Page-aligned address. */
  address: number;
  /** The low bits of the kernel's address field: SEQNR_MASK | UNSTABLE_FLAG | STABLE_FLAG. */
  aflags = 0;
  oldchecksum = 0;
  /** rmap_age_t (u8). */
  age = 0;
  remaining_skips = 0;
  /** The stable node this item hangs on while STABLE_FLAG is set. */
  head: KsmStableNode | null = null;
  /** Links in head's hlist. */
  hnext: KsmRmapItem | null = null;
  hprev: KsmRmapItem | null = null;

  constructor(mm: MmStruct, address: number) {
    super();
    this.mm = mm;
    this.address = address;
  }
}

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
  /** hlist of rmap_items (regular node/dup), first element. */
  hlist: KsmRmapItem | null = null;
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
  rmap_list: KsmRmapItem | null = null;
  /** The scan list (circular, through the ksm_mm_head sentinel). */
  next: KsmMmSlot;
  prev: KsmMmSlot;

  constructor(mm: MmStruct | null) {
    this.mm = mm;
    this.next = this;
    this.prev = this;
  }
}

/** A place holding an rmap_list link (the kernel's `struct ksm_rmap_item **`). */
export interface RmapLink {
  rmap_list: KsmRmapItem | null;
}
