// A simulated swap device (mm/swapfile.c, mm/swap_state.c): swap slots with per-slot counts
// (swap_map), the contents written by pageout (a reference to the page's content each, see
// content.ts: nothing is copied), and the swap cache mapping a slot to the folio
// that holds its data while in memory. Offset 0 is the header page and never handed out.

import { BUG, PAGE_SIZE } from '@mmsim/core';
import type { Contents } from './content.ts';

export class SwapDevice {
  /** Slots on the device (including the header slot 0). */
  readonly nrSlots: number;
  /** swap_map: references to each slot from swap PTEs. */
  private count: Uint16Array;
  /** The content each written slot holds (a reference of its own). */
  private data: Map<number, number> = new Map();
  private readonly contents: Contents;
  /** The swap cache: slot offset -> folio PFN. */
  readonly cache: Map<number, number> = new Map();
  private freeList: number[] = [];
  private next = 1;
  /** Slots allocated (swap in use). */
  inuse = 0;
  failAlloc: (() => boolean) | null = null;

  constructor(nrSlots: number, contents: Contents) {
    this.contents = contents;
    // Slot 0 is the header: a device of 0 or 1 slots (swapMiB 0, a machine without swap) has no
    // usable slot, so anonymous pages cannot be reclaimed (add_to_swap() fails).
    this.nrSlots = Math.max(1, nrSlots);
    this.count = new Uint16Array(Math.min(this.nrSlots, 1024));
  }

  /** folio_alloc_swap()'s slot allocation; 0 when the device is full. */
  allocSlot(): number {
    if (this.failAlloc?.()) return 0;
    let off = this.freeList.pop();
    if (off === undefined) {
      if (this.next >= this.nrSlots) return 0;
      off = this.next++;
      if (off >= this.count.length) {
        const n = new Uint16Array(Math.min(this.nrSlots, this.count.length * 2));
        n.set(this.count);
        this.count = n;
      }
    }
    this.inuse++;
    this.count[off] = 0;
    return off;
  }

  /** swap_duplicate(): one more swap PTE references the slot. */
  duplicate(off: number): void {
    this.count[off]++;
  }

  /** swap_count(). */
  swapCount(off: number): number {
    return this.count[off];
  }

  /** swap_free(): drop one reference; the slot is released once unreferenced and uncached. */
  free(off: number): void {
    if (this.count[off] === 0) BUG(`swap_free: slot ${off} has no references`);
    this.count[off]--;
    this.maybeRelease(off);
  }

  /** Release the slot if nothing refers to it any more. */
  maybeRelease(off: number): void {
    const d = this.data.get(off);
    if (this.count[off] === 0 && !this.cache.has(off) && d !== undefined) {
      this.contents.put(d);
      this.data.delete(off);
      this.freeList.push(off);
      this.inuse--;
    } else if (this.count[off] === 0 && !this.cache.has(off) && !this.data.has(off)) {
      // allocated for add_to_swap() but never written
      this.freeList.push(off);
      this.inuse--;
    }
  }

  /** swap_writepage(): store a page's content; the slot takes over the caller's reference. */
  write(off: number, content: number): void {
    const old = this.data.get(off);
    if (old !== undefined) this.contents.put(old);
    this.data.set(off, content);
  }

  /** swap_read_folio(): the stored content (no reference is taken). */
  read(off: number): number {
    const d = this.data.get(off);
    if (d === undefined) BUG(`swap read of unwritten slot ${off}`);
    return d;
  }

  get usedBytes(): number {
    return this.inuse * PAGE_SIZE;
  }
}
