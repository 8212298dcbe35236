import { KernelBug } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { describe, expect, it } from 'vitest';
import { checkKsmInvariants, KsmRmapItems, stableNodes, unstableItems } from '../src/index.ts';
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
    expect(ri.node.get(id)).toBe(null);
    expect(ri.alloc(mm, 0)).toBe(5001);
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
    ri.node.set(item, null);
    expect(() => checkKsmInvariants(ksm)).toThrow(/UNSTABLE_FLAG without an rb node/);
    ri.node.set(item, rb);
    checkAll(m, ksm);
  });
});
