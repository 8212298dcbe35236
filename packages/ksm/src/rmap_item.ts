// struct ksm_rmap_item (mm/ksm.c, Linux 6.18) as struct-of-arrays: an rmap_item is an integer id
// into typed arrays, handed out and taken back by the rmap_item_cache slab (alloc_rmap_item(),
// free_rmap_item()). Id 0 is never handed out: 0 is NULL.

import type { AnonVma, MmStruct } from '@mmsim/mmu';
import { RbNodeBase, rbNodeInit } from '@mmsim/rbtree';

/**
 * The rb_node of an rmap_item in an unstable tree (the kernel's rmap_item holds it in a union with
 * {head, hlist}). An item gets one at its first unstable_tree_search_insert() and keeps it until it
 * is freed, re-inserting the same node scan after scan. It carries the item's mm and address
 * (fixed for the item's life): a tree descent then reads one object per level, as the kernel reads
 * one rmap_item.
 */
export class KsmUnstableNode extends RbNodeBase<KsmUnstableNode> {
  readonly item: number;
  readonly mm: MmStruct;
  readonly address: number;

  constructor(item: number, mm: MmStruct, address: number) {
    super();
    this.item = item;
    this.mm = mm;
    this.address = address;
  }
}

/** One rmap_item read out of the arrays, for views and tests (views.ts; never on the scan path). */
export interface KsmRmapItemView {
  readonly id: number;
  readonly mm: MmStruct;
  /** Page-aligned address. */
  readonly address: number;
  /** SEQNR_MASK | UNSTABLE_FLAG | STABLE_FLAG. */
  readonly aflags: number;
  readonly oldchecksum: number;
  readonly age: number;
}

const INITIAL_CAPACITY = 1024;

/**
 * An object field of the rmap_items that a first scan never sets (anon_vma, node): its array
 * grows on the first non-null write past its end, so that allocating an item writes none of them.
 */
export class KsmItemRefs<T> {
  private readonly refs: (T | null)[] = [];

  get(id: number): T | null {
    return id < this.refs.length ? this.refs[id] : null;
  }

  set(id: number, value: T | null): void {
    if (id < this.refs.length) this.refs[id] = value;
    else if (value !== null) this.grow(id, value);
  }

  /** Doubling, out of line so that set() stays small enough to inline; setting the length then
   * filling keeps the array in fast (holey) elements, with no hole left. */
  private grow(id: number, value: T): void {
    const refs = this.refs;
    const old = refs.length;
    refs.length = Math.max(id + 1, 2 * old, 1024);
    refs.fill(null, old);
    refs[id] = value;
  }
}

/** rmap_item_cache: every field of struct ksm_rmap_item, indexed by item id. */
export class KsmRmapItems {
  /** Next item of the mm_slot's address-sorted list (rmap_list); a free slot's next free slot. */
  rmap_list = new Int32Array(0);
  /** Page-aligned address (doubles: addresses exceed 2^31). */
  address = new Float64Array(0);
  /** The low bits of the kernel's address field: SEQNR_MASK | UNSTABLE_FLAG | STABLE_FLAG. */
  aflags = new Uint16Array(0);
  oldchecksum = new Uint32Array(0);
  /** rmap_age_t (u8). */
  age = new Uint8Array(0);
  remaining_skips = new Uint8Array(0);
  /** nid while in the unstable tree. */
  nid = new Int32Array(0);
  /** The id of the stable node the item hangs on while STABLE_FLAG is set (KsmStableNode.id, what
   * Ksm.nodeById() resolves), else 0. */
  head = new Int32Array(0);
  /** Links in head's hlist. */
  hnext = new Int32Array(0);
  hprev = new Int32Array(0);
  /** The item's mm (a packed array grown by push; null for id 0 and free slots). */
  readonly mm: (MmStruct | null)[] = [null];
  /** anon_vma while stable (a reference), else null. */
  readonly anon_vma = new KsmItemRefs<AnonVma>();
  /** The item's rb node once it was inserted in an unstable tree: in the tree while UNSTABLE_FLAG
   * is set (and, stale, in the previous scan's tree until the next scan empties it). */
  readonly node = new KsmItemRefs<KsmUnstableNode>();
  private capacity = 0;
  /** Freed slots, linked through rmap_list. */
  private freelist = 0;

  constructor() {
    this.grow(INITIAL_CAPACITY);
  }

  /** kmem_cache_zalloc(): a zeroed item for mm at address, a freed slot first (free() zeroed it;
   * a new slot is zero). */
  alloc(mm: MmStruct, address: number): number {
    let id = this.freelist;
    if (id !== 0) {
      this.freelist = this.rmap_list[id];
      this.rmap_list[id] = 0;
      this.mm[id] = mm;
    } else {
      id = this.mm.length;
      if (id === this.capacity) this.grow(2 * this.capacity);
      this.mm.push(mm);
    }
    this.address[id] = address;
    return id;
  }

  /** kmem_cache_free(): every field zeroed, and the slot on the free list. */
  free(id: number): void {
    this.address[id] = 0;
    this.aflags[id] = 0;
    this.oldchecksum[id] = 0;
    this.age[id] = 0;
    this.remaining_skips[id] = 0;
    this.nid[id] = 0;
    this.head[id] = 0;
    this.hnext[id] = 0;
    this.hprev[id] = 0;
    this.mm[id] = null;
    this.anon_vma.set(id, null);
    this.node.set(id, null);
    this.rmap_list[id] = this.freelist;
    this.freelist = id;
  }

  /** The item's rb node, for an insertion into an unstable tree (the item is in no tree now; its
   * node may still hang in the previous scan's emptied tree). */
  unstableNode(id: number): KsmUnstableNode {
    let rb = this.node.get(id);
    if (rb === null) {
      rb = new KsmUnstableNode(id, this.mm[id]!, this.address[id]);
      this.node.set(id, rb);
    } else rbNodeInit(rb);
    return rb;
  }

  /** Double every typed array. */
  private grow(capacity: number): void {
    this.rmap_list = grown(this.rmap_list, new Int32Array(capacity));
    this.address = grown(this.address, new Float64Array(capacity));
    this.aflags = grown(this.aflags, new Uint16Array(capacity));
    this.oldchecksum = grown(this.oldchecksum, new Uint32Array(capacity));
    this.age = grown(this.age, new Uint8Array(capacity));
    this.remaining_skips = grown(this.remaining_skips, new Uint8Array(capacity));
    this.nid = grown(this.nid, new Int32Array(capacity));
    this.head = grown(this.head, new Int32Array(capacity));
    this.hnext = grown(this.hnext, new Int32Array(capacity));
    this.hprev = grown(this.hprev, new Int32Array(capacity));
    this.capacity = capacity;
  }
}

function grown<T extends Int32Array | Float64Array | Uint16Array | Uint32Array | Uint8Array>(
  old: T,
  next: T,
): T {
  next.set(old);
  return next;
}
