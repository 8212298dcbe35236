import { KernelBug } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { RB_NULL } from '@mmsim/rbtree';
import { describe, expect, it } from 'vitest';
import {
  checkKsmInvariants,
  KsmRmapItems,
  RMAP_ITEM_HOST_BYTES,
  stableNodes,
  unstableItems,
} from '../src/index.ts';
import { KsmItemHandles, KsmItemNodes } from '../src/rmap_item.ts';
import { checkAll, knob, mergeableRegion, world } from './helpers.ts';

describe('rmap_item_cache (struct-of-arrays rmap_items)', () => {
  it('hands out ids from 1, grows past its capacity, reuses freed slots zeroed', () => {
    const { m } = world();
    const p = new Process(m, 'p');
    mergeableRegion(p, 1, () => 1);
    const mm = p.mm;
    const anon_vma = mm.vmas[0]!.anon_vma!;
    const ri = new KsmRmapItems();
    const ids: number[] = [];
    for (let i = 0; i < 5000; i++) ids.push(ri.alloc(mm, 2 ** 44 + i * 4096));
    expect(ids[0]).toBe(1);
    expect(ids[4999]).toBe(5000);
    expect(ri.address[4000]).toBe(2 ** 44 + 3999 * 4096);
    ri.oldchecksum[7] = 123;
    ri.hnext[7] = 9;
    ri.anon_vma.set(7, anon_vma);
    expect(ri.anon_vma.get(7)).toBe(anon_vma);
    ri.free(7);
    ri.free(3);
    // The free list is LIFO, as a slab's per-cpu freelist; a reused slot comes back zeroed.
    expect(ri.alloc(mm, 4096)).toBe(3);
    const id = ri.alloc(mm, 8192);
    expect(id).toBe(7);
    expect([ri.oldchecksum[id], ri.hnext[id], ri.rmap_list[id], ri.address[id]]).toEqual([0, 0, 0, 8192]);
    expect(ri.anon_vma.get(id)).toBe(null);
    expect(ri.node.get(id)).toBe(RB_NULL);
    expect(ri.alloc(mm, 0)).toBe(5001);
  });

  it('holds RMAP_ITEM_HOST_BYTES per item of capacity, all in typed arrays', () => {
    const ri = new KsmRmapItems();
    ri.reserve(9999);
    let bytes = 0;
    for (const v of Object.values(ri)) {
      if (ArrayBuffer.isView(v)) bytes += v.byteLength;
      else if (v instanceof KsmItemHandles || v instanceof KsmItemNodes) bytes += v.handle.byteLength;
    }
    expect(bytes).toBe(10000 * RMAP_ITEM_HOST_BYTES);
  });
});

describe('rmap_item object fields as handles', () => {
  it('interns an mm or anon_vma while items hold it, and lets it go with the last one', () => {
    const { m } = world();
    const a = new Process(m, 'a');
    const b = new Process(m, 'b');
    const ri = new KsmRmapItems();
    const x = ri.alloc(a.mm, 0);
    const y = ri.alloc(a.mm, 4096);
    const z = ri.alloc(b.mm, 0);
    expect([ri.mm.get(x), ri.mm.get(y), ri.mm.get(z)]).toEqual([a.mm, a.mm, b.mm]);
    expect(ri.mm.handle[x]).toBe(ri.mm.handle[y]);
    expect(ri.mm.size).toBe(2);
    ri.free(x);
    expect(ri.mm.size).toBe(2);
    ri.free(y);
    // a's last item is gone: the table no longer holds a's mm.
    expect(ri.mm.size).toBe(1);
    expect(ri.mm.get(z)).toBe(b.mm);
    // A handle freed is reused; setting the same object twice keeps one holder.
    const w = ri.alloc(a.mm, 0);
    ri.mm.set(w, a.mm);
    ri.free(w);
    expect(ri.mm.size).toBe(1);
    expect(ri.mm.get(0)).toBe(null);
  });

  it('holds unstable-tree nodes densely: a freed item gives its node slot back', () => {
    const { m } = world();
    const p = new Process(m, 'p');
    const ri = new KsmRmapItems();
    const ids = [1, 2, 3].map((i) => ri.alloc(p.mm, i * 4096));
    const nodes = ids.map((id) => ri.node.forInsert(id));
    expect(ri.node.size).toBe(3);
    expect(ids.map((id) => ri.node.get(id))).toEqual(nodes);
    // The node an item keeps is re-initialised, not replaced.
    expect(ri.node.forInsert(ids[1]!)).toBe(nodes[1]);
    ri.free(ids[0]!);
    expect(ri.node.size).toBe(2);
    const again = ri.alloc(p.mm, 8 * 4096);
    expect(ri.node.get(again)).toBe(RB_NULL);
    ri.node.forInsert(again);
    expect(ri.node.size).toBe(3);
    // The slot and the node record the freed item had (both LIFO) come back.
    expect(again).toBe(ids[0]);
    expect(ri.node.handle[again]).toBe(1);
  });

  it('a full scan reserves room for every item it can need: the arrays never double during it', () => {
    const { m, ksm } = world();
    const p = new Process(m, 'p');
    mergeableRegion(p, 3000, (i) => 1 + (i % 7));
    const ri = ksm.rmap_item_cache;
    const before = ri.address;
    ksm.runFullScans(1);
    // 3000 items: past the initial 1024, grown once (the reservation) to 3001.
    expect(ksm.rmap_items).toBe(3000);
    expect(ri.address).not.toBe(before);
    expect(ri.address.length).toBe(3001);
    checkAll(m, ksm);
  });
});

describe('unstableItems()', () => {
  it('lists the unstable tree in order, and no item that left it after the scan (run=2)', () => {
    const { m, ksm } = world();
    const p = new Process(m, 'p');
    const a = mergeableRegion(p, 8, (i) => 8 - i);
    ksm.runFullScans(2);
    expect(ksm.counters().pages_unshared).toBe(8);
    // memcmp order: the page filled with 1 first, i.e. the last page.
    expect(unstableItems(ksm).map((it) => (it.address - a) / 4096)).toEqual([7, 6, 5, 4, 3, 2, 1, 0]);
    checkAll(m, ksm);
    knob(ksm, 'run', 2);
    // The tree is emptied only when the next scan starts, but its items were freed.
    expect(ksm.counters().pages_unshared).toBe(0);
    expect(unstableItems(ksm)).toEqual([]);
    checkAll(m, ksm);
  });
});

describe('checkKsmInvariants() on the item arrays', () => {
  it('catches a broken hlist back link and an unstable item without its rb node', () => {
    const { m, ksm } = world();
    const p = new Process(m, 'p');
    mergeableRegion(p, 3, () => 1);
    mergeableRegion(p, 2, (i) => 10 + i);
    ksm.runFullScans(2);
    expect([ksm.pages_shared, ksm.pages_sharing, ksm.pages_unshared]).toEqual([1, 2, 2]);
    checkAll(m, ksm);
    const ri = ksm.rmap_item_cache;
    const node = stableNodes(ksm)[0]!;
    const second = ri.hnext[node.hlist];
    ri.hprev[second] = 0;
    expect(() => checkKsmInvariants(ksm)).toThrow(KernelBug);
    ri.hprev[second] = node.hlist;
    checkAll(m, ksm);
    const item = unstableItems(ksm)[0]!.id;
    const rb = ri.node.get(item);
    ri.node.handle[item] = RB_NULL;
    expect(() => checkKsmInvariants(ksm)).toThrow(/UNSTABLE_FLAG without an rb node/);
    ri.node.handle[item] = rb;
    checkAll(m, ksm);
  });
});
