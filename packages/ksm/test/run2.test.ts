// run=2 with KSM pages still mapped by a process KSM does not scan: Linux
// 6.18's remove_all_stable_nodes() removes the root of each stable tree until it meets a busy
// node, remove_stable_node_chain() stops at the first busy dup, and whatever is left stays in the
// tree and in the counters. scenarios/run2-busy-fork.yaml pins the same on the live kernel.

import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { MADV_DONTFORK, MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { chainDups, ksmSysfsWrite, STABLE_NODE_CHAIN, stableNodes } from '../src/index.ts';
import { checkAll, knob, world } from './helpers.ts';

/** mmap `values.length` pages filled with byte values[i] (not yet MADV_MERGEABLE). */
function region(p: Process, values: number[]): number {
  const a = p.mmap(null, values.length * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < values.length; i++) {
    buf.fill(values[i]);
    p.writePage(a + i * PAGE_SIZE, buf);
  }
  return a;
}

describe('run=2 with KSM pages a process KSM does not scan still maps', () => {
  it('stops at a busy root: an emptied chain behind it stays in the tree and is counted', () => {
    const { m, ksm } = world();
    knob(ksm, 'max_page_sharing', 2);
    const p = new Process(m, 'p');
    // s is mapped first (higher: the scan meets r first) and not inherited by c.
    const s = region(p, [2, 2, 2, 2]);
    p.madvise(s, 4 * PAGE_SIZE, MADV_DONTFORK);
    const r = region(p, [1, 1]);
    // Forked before MADV_MERGEABLE: c shares r's pages and is never registered with KSM.
    const c = p.fork('c');
    p.madvise(r, 2 * PAGE_SIZE, MADV_MERGEABLE);
    p.madvise(s, 4 * PAGE_SIZE, MADV_MERGEABLE);
    ksm.runFullScans(2);
    expect([ksm.pages_shared, ksm.pages_sharing, ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([
      3, 3, 1, 2,
    ]);
    // The root is r's node, inserted first; s's content is a chain of two dups.
    const root = ksm.root_stable_tree[0].rb_node!;
    expect(root.rmap_hlist_len).toBe(2);
    const chain = stableNodes(ksm).find((n) => n.rmap_hlist_len === STABLE_NODE_CHAIN)!;
    expect(ksmSysfsWrite(ksm, 'run', '2')).toBe(0);
    // p unshared every page. s's KSM pages were freed, so freeing the rmap_items found their dups
    // stale and removed them, leaving the chain empty; c still maps r's KSM page, the root, so
    // remove_all_stable_nodes() stopped there and the empty chain stays.
    expect([ksm.pages_shared, ksm.pages_sharing, ksm.rmap_items]).toEqual([0, 0, 0]);
    expect([ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([1, 0]);
    expect(new Set(stableNodes(ksm))).toEqual(new Set([root, chain]));
    expect(ksm.remove_all_stable_nodes()).toBe(-16);
    expect(ksmSysfsWrite(ksm, 'max_page_sharing', '3')).toBe(-16);
    checkAll(m, ksm);
    // Once c is gone r's node is stale: the next removal takes everything.
    c.exit();
    expect(ksmSysfsWrite(ksm, 'max_page_sharing', '3')).toBe(0);
    expect(stableNodes(ksm)).toEqual([]);
    expect([ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([0, 0]);
    checkAll(m, ksm);
  });

  it('a chain stops at its first busy dup and stays, counted', () => {
    const { m, ksm } = world();
    knob(ksm, 'max_page_sharing', 2);
    const p = new Process(m, 'p');
    const r = region(p, [7, 7, 7, 7]);
    const c = p.fork('c');
    const s = region(p, [7, 7, 7, 7]);
    p.madvise(r, 4 * PAGE_SIZE, MADV_MERGEABLE);
    p.madvise(s, 4 * PAGE_SIZE, MADV_MERGEABLE);
    ksm.runFullScans(2);
    expect([ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([1, 4]);
    const chain = ksm.root_stable_tree[0].rb_node!;
    expect(chain.rmap_hlist_len).toBe(STABLE_NODE_CHAIN);
    // Newest dups first: r's two (mapped by c too; the scan meets s, mapped later and lower,
    // first), then s's two (mapped by p alone).
    const busy = chainDups(chain).map((d) => m.phys.folio_mapcount(d.kpfn) > 2);
    expect(busy).toEqual([true, true, false, false]);
    const dups = chainDups(chain);
    expect(ksmSysfsWrite(ksm, 'run', '2')).toBe(0);
    // s's dups went stale with their pages and left with the rmap_items; the head dup is busy, so
    // the chain stays with r's two, counted.
    expect([ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([1, 2]);
    expect(chainDups(chain)).toEqual(dups.slice(0, 2));
    expect(chainDups(chain).every((d) => m.phys.folio_mapped(d.kpfn))).toBe(true);
    expect(ksm.remove_all_stable_nodes()).toBe(-16);
    checkAll(m, ksm);
    c.exit();
    expect(ksm.remove_all_stable_nodes()).toBe(0);
    expect([ksm.stable_node_chains, ksm.stable_node_dups]).toEqual([0, 0]);
    checkAll(m, ksm);
  });
});
