// struct ksm_rmap_item (mm/ksm.c, Linux 6.18) as struct-of-arrays: an rmap_item is an integer id
// into typed arrays, handed out and taken back by the rmap_item_cache slab (alloc_rmap_item(),
// free_rmap_item()). Id 0 is never handed out: 0 is NULL.

import type { AnonVma, MmStruct } from '@mmsim/mmu';
import { RB_ARENA_FIELDS, RB_NULL, RbArena } from '@mmsim/rbtree';

/** The walk epoch of an unstable node with no remembered walk. */
export const NO_WALK_EPOCH = -1;

// The rb_node of an rmap_item in an unstable tree (the kernel's rmap_item holds it in a union with
// {head, hlist}) is a record of KsmItemNodes.arena: the four rb words, then these. An item gets one
// at its first unstable_tree_search_insert() and keeps it until it is freed, re-inserting the same
// record scan after scan. A tree descent reads one 32-byte record per level, as the kernel reads
// one rmap_item.
/** The record's rmap_item (0 once the item is freed). */
export const UNODE_ITEM = RB_ARENA_FIELDS;
/** Simulator only: get_mergeable_page()'s memo, the page it last found for this node through a
 * PTE, valid while Ksm's mergeable epoch still equals UNODE_WALK_EPOCH (NO_WALK_EPOCH: none) ... */
export const UNODE_WALK_EPOCH = RB_ARENA_FIELDS + 1;
export const UNODE_WALK_PAGE = RB_ARENA_FIELDS + 2;
/** ... and that page's first word (Contents.firstWordOf()), for memcmp_pages_remembered(). */
export const UNODE_WALK_FIRST_WORD = RB_ARENA_FIELDS + 3;
/** Int32 words per record. */
export const UNODE_WORDS = 8;

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
/** Host bytes per rmap_item in KsmRmapItems' typed arrays: rmap_list 4, address 8, aflags 2,
 * oldchecksum 4, age 1, remaining_skips 1, nid 1, head 4, hnext 4, hprev 4, and the mm, anon_vma
 * and node handles 4 each (the kernel's ksm_rmap_item is 64 bytes). */
export const RMAP_ITEM_HOST_BYTES = 45;
/** Host bytes of an item's unstable-tree rb node: its record in KsmItemNodes' arena (UNODE_WORDS
 * Int32 words), twice over for the room the arena's doubling leaves. */
export const UNSTABLE_NODE_HOST_BYTES = 2 * UNODE_WORDS * Int32Array.BYTES_PER_ELEMENT;
/** The handle of no object: item fields that hold a handle read 0 for NULL. */
const NO_HANDLE = 0;

/**
 * An object field many rmap_items share (their mm, their anon_vma) as a 32-bit handle per item:
 * each distinct object gets a handle while items hold it (interned, counted by its holders), so an
 * item costs 4 bytes in a typed array, not a slot of a JS array as long as the item ids (which at
 * tens of millions of items would outgrow V8's heap).
 */
export class KsmItemHandles<T extends object> {
  /** Per item: its object's handle (NO_HANDLE: null). */
  handle = new Int32Array(0);
  private readonly objects: (T | null)[] = [null];
  /** Items holding each handle. */
  private readonly holders: number[] = [0];
  private readonly handles = new Map<T, number>();
  private readonly freeHandles: number[] = [];
  /** The last object acquired and its handle (a scan allocates its items mm by mm): acquire()
   * skips the Map for it. NO_HANDLE once that handle is released. */
  private lastHandle = NO_HANDLE;
  private lastValue: T | null = null;

  get(id: number): T | null {
    return this.objects[this.handle[id]];
  }

  set(id: number, value: T | null): void {
    const old = this.handle[id];
    const h = value === null ? NO_HANDLE : this.acquire(value);
    this.handle[id] = h;
    if (old !== NO_HANDLE) this.release(old);
  }

  /** Distinct objects held now. */
  get size(): number {
    return this.handles.size;
  }

  grow(capacity: number): void {
    this.handle = grown(this.handle, new Int32Array(capacity));
  }

  private acquire(value: T): number {
    if (value === this.lastValue && this.lastHandle !== NO_HANDLE) {
      this.holders[this.lastHandle]++;
      return this.lastHandle;
    }
    let h = this.handles.get(value);
    if (h === undefined) {
      h = this.freeHandles.pop() ?? this.objects.length;
      this.objects[h] = value;
      this.holders[h] = 0;
      this.handles.set(value, h);
    }
    this.holders[h]++;
    this.lastValue = value;
    this.lastHandle = h;
    return h;
  }

  private release(h: number): void {
    if (--this.holders[h] !== 0) return;
    if (h === this.lastHandle) {
      this.lastHandle = NO_HANDLE;
      this.lastValue = null;
    }
    this.handles.delete(this.objects[h]!);
    this.objects[h] = null;
    this.freeHandles.push(h);
  }
}

/**
 * The items' unstable-tree rb nodes: one record per item that was ever inserted (most never are: a
 * page merged into a stable node, or checksummed once), held densely in an RbArena and found
 * through a 32-bit id per item.
 */
export class KsmItemNodes {
  /** Per item: its node (RB_NULL: none). */
  handle = new Int32Array(0);
  readonly arena = new RbArena(UNODE_WORDS);

  /** The item's node, or RB_NULL. */
  get(id: number): number {
    return this.handle[id];
  }

  /** The item's node for an insertion into an unstable tree (made at the first one), with no
   * remembered walk. Its rb words are as the last tree left them: rb_link_node() sets them. */
  forInsert(id: number): number {
    let n = this.handle[id];
    if (n === RB_NULL) {
      n = this.arena.alloc();
      this.handle[id] = n;
      this.arena.w[n * UNODE_WORDS + UNODE_ITEM] = id;
    }
    this.arena.w[n * UNODE_WORDS + UNODE_WALK_EPOCH] = NO_WALK_EPOCH;
    return n;
  }

  /** The item is freed: its record goes back to the arena (a stale tree may still link it; its
   * UNODE_ITEM no longer names an item). */
  release(id: number): void {
    const n = this.handle[id];
    if (n === RB_NULL) return;
    this.arena.w[n * UNODE_WORDS + UNODE_ITEM] = 0;
    this.arena.free(n);
    this.handle[id] = RB_NULL;
  }

  /** Nodes held now. */
  get size(): number {
    return this.arena.size;
  }

  grow(capacity: number): void {
    this.handle = grown(this.handle, new Int32Array(capacity));
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
  /** nid while in the unstable tree (a Machine has at most 64 NUMA nodes). */
  nid = new Uint8Array(0);
  /** The id of the stable node the item hangs on while STABLE_FLAG is set (KsmStableNode.id, what
   * Ksm.nodeById() resolves), else 0. */
  head = new Int32Array(0);
  /** Links in head's hlist. */
  hnext = new Int32Array(0);
  hprev = new Int32Array(0);
  /** The item's mm (null for id 0 and free slots). */
  readonly mm = new KsmItemHandles<MmStruct>();
  /** anon_vma while stable (a reference), else null. */
  readonly anon_vma = new KsmItemHandles<AnonVma>();
  /** The item's rb node once it was inserted in an unstable tree: in the tree while UNSTABLE_FLAG
   * is set (and, stale, in the previous scan's tree until the next scan empties it). */
  readonly node = new KsmItemNodes();
  /** Ids handed out so far (the next new id). */
  private used = 1;
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
    } else {
      id = this.used++;
      if (id === this.capacity) this.grow(2 * this.capacity);
    }
    this.mm.set(id, mm);
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
    this.mm.set(id, null);
    this.anon_vma.set(id, null);
    this.node.release(id);
    this.rmap_list[id] = this.freelist;
    this.freelist = id;
  }

  /**
   * Room for `items` items in all, without a copy of the arrays while they fill up: ksmd reserves
   * what a full scan can need before it starts, so that the arrays are not doubled (a copy of
   * gigabytes, with the old and the new both resident) when tens of millions of items are live.
   * Reserved room costs no host memory until an item is written there.
   */
  reserve(items: number): void {
    if (items + 1 > this.capacity) this.grow(items + 1);
  }

  /** Grow every array to `capacity` items. */
  private grow(capacity: number): void {
    this.rmap_list = grown(this.rmap_list, new Int32Array(capacity));
    this.address = grown(this.address, new Float64Array(capacity));
    this.aflags = grown(this.aflags, new Uint16Array(capacity));
    this.oldchecksum = grown(this.oldchecksum, new Uint32Array(capacity));
    this.age = grown(this.age, new Uint8Array(capacity));
    this.remaining_skips = grown(this.remaining_skips, new Uint8Array(capacity));
    this.nid = grown(this.nid, new Uint8Array(capacity));
    this.head = grown(this.head, new Int32Array(capacity));
    this.hnext = grown(this.hnext, new Int32Array(capacity));
    this.hprev = grown(this.hprev, new Int32Array(capacity));
    this.mm.grow(capacity);
    this.anon_vma.grow(capacity);
    this.node.grow(capacity);
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
