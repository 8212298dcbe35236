// A chain's memo of its full dups (packages/ksm README, "A chain's full dups"): stable_node_dup()
// passes the full dups at the end of a chain's list without visiting them while nothing can have
// changed them. These tests change them in the two ways that matter (a full dup loses a sharer and
// can take one again; a full dup's KSM page is freed, so the dup is stale) and require the
// decisions the kernel's walk over every dup makes.

import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { describe, expect, it } from 'vitest';
import { checkAll, knob, mergeableRegion, world } from './helpers.ts';

const SAME = 0x11;
const OTHER = 0x22;
/** max_page_sharing: three sharers per dup. */
const M = 3;
/** Three full dups of one content (the oldest, last on the chain's list, holds pages 0-2). */
const PAGES = 9;

/** A chain of one content in process b (`pages` pages, max_page_sharing M), a's pages mapped
 * first by `a`; smart scan off (it would skip a page that stays unmerged for a few scans), chain
 * pruning every `pruneMs`; after three full scans it has `dups` dups holding pages_shared +
 * pages_sharing pages. */
function chainOf(pages: number, pruneMs: number, dups: number, sharing: number, a?: (p: Process) => void) {
  const { m, ksm } = world(256);
  knob(ksm, 'max_page_sharing', M);
  knob(ksm, 'stable_node_chains_prune_millisecs', pruneMs);
  knob(ksm, 'smart_scan', 0);
  const pa = new Process(m, 'a');
  a?.(pa);
  const pb = new Process(m, 'b');
  const b = mergeableRegion(pb, pages, () => SAME);
  ksm.runFullScans(3);
  expect(ksm.counters()).toMatchObject({
    pages_shared: dups,
    pages_sharing: sharing,
    stable_node_chains: 1,
    stable_node_dups: dups,
  });
  return { m, ksm, pa, pb, b };
}

/** A chain of three full dups in process b; pruning off (the clock never reaches it). */
function threeFullDups(a?: (p: Process) => void) {
  return chainOf(PAGES, 1_000_000, 3, 6, a);
}

describe("stable_node_dup(): a chain's full dups", () => {
  it('a full dup at the end of the list that loses a sharer takes the next page of its content', () => {
    const { m, ksm, pb, b } = threeFullDups();
    const buf = new Uint8Array(PAGE_SIZE);
    // Page 0 leaves the oldest dup (COW), and the next scan drops its rmap_item from the dup.
    pb.writeByte(b, OTHER);
    ksm.runFullScans(1);
    expect(ksm.counters()).toMatchObject({ pages_shared: 3, pages_sharing: 5, stable_node_dups: 3 });
    // The same content again: it must go to the oldest dup, the only one with room, not wait in
    // the unstable tree for a twin.
    buf.fill(SAME);
    pb.writePage(b, buf);
    ksm.runFullScans(2);
    expect(ksm.counters()).toMatchObject({
      pages_shared: 3,
      pages_sharing: 6,
      pages_unshared: 0,
      stable_node_dups: 3,
    });
    checkAll(m, ksm);
  });

  it('a full dup whose KSM page was freed is found stale and removed by the next search', () => {
    // Process a, scanned first, gets a page of the chain's content after the chain is full.
    let pageA = 0;
    const { m, ksm, pb, b, pa } = threeFullDups((p) => {
      pageA = mergeableRegion(p, 1, () => OTHER);
    });
    const buf = new Uint8Array(PAGE_SIZE).fill(SAME);
    pa.writePage(pageA, buf);
    ksm.runFullScans(1); // a's new checksum recorded
    // The oldest dup's three pages go: its KSM page is freed, its rmap_items still point at it.
    pb.munmap(b, 3 * PAGE_SIZE);
    expect(ksm.counters().stable_node_dups).toBe(3);
    // a's page is searched before b's items are reached: the search passes every dup (all full)
    // and removes the stale one; a's page then waits in the unstable tree.
    ksm.ksm_do_scan(1);
    expect(ksm.counters()).toMatchObject({ stable_node_dups: 2, pages_shared: 2, pages_sharing: 4 });
    ksm.runFullScans(2);
    expect(ksm.counters()).toMatchObject({ pages_shared: 2, pages_sharing: 4, pages_unshared: 1 });
    checkAll(m, ksm);
  });
});

/** A chain of two dups of one content in process b: the older full (pages 0-2), the newer at the
 * head holding pages 3-4 and able to take one more sharer. */
function fullDupBehindHead(pruneMs: number, a?: (p: Process) => void) {
  return chainOf(5, pruneMs, 2, 3, a);
}

describe("stable_node_dup(): the head dup at the walk's first step", () => {
  it('a due prune walks past a head dup that can take a sharer and removes a stale dup behind it', () => {
    let pageA = 0;
    const { m, ksm, pa, pb, b } = fullDupBehindHead(1, (p) => {
      pageA = mergeableRegion(p, 1, () => OTHER);
    });
    pa.writePage(pageA, new Uint8Array(PAGE_SIZE).fill(SAME));
    ksm.runFullScans(1); // a's new checksum recorded
    pb.munmap(b, 3 * PAGE_SIZE); // the full dup's KSM page is freed: the dup is stale
    // a's page is searched first; the prune is due, so the walk visits every dup, removes the
    // stale one and, the chain left with one dup, collapses it; a's page joins that dup.
    ksm.ksm_do_scan(1);
    expect(ksm.counters()).toMatchObject({ stable_node_chains: 0, stable_node_dups: 0, pages_sharing: 2 });
    checkAll(m, ksm);
  });

  it('without a prune, the head dup is taken, but a chain left with one dup still collapses', () => {
    const { m, ksm, pa, pb, b } = fullDupBehindHead(1_000_000);
    pb.munmap(b, 3 * PAGE_SIZE);
    ksm.runFullScans(1); // b's items of the unmapped pages go, and with them the stale dup
    expect(ksm.counters()).toMatchObject({ stable_node_chains: 1, stable_node_dups: 1 });
    const a = mergeableRegion(pa, 1, () => SAME);
    expect(a).toBeGreaterThan(0);
    ksm.runFullScans(2); // a's checksum, then its search: the chain's only dup is the head
    expect(ksm.counters()).toMatchObject({
      stable_node_chains: 0,
      stable_node_dups: 0,
      pages_shared: 1,
      pages_sharing: 2,
    });
    checkAll(m, ksm);
  });
});
