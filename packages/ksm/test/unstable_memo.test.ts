// get_mergeable_page()'s memo of an unstable node's page (mergeable_epoch): it must change no
// decision and no counter, and must not outlive a change made while a batch runs.
import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { describe, expect, it } from 'vitest';
import { KSM_RUN_MERGE, type Ksm } from '../src/index.ts';
import { checkAll, mergeableRegion, world } from './helpers.ts';

/** Two processes with unique, repeated and shared contents; `batch` pages per ksmd batch. */
function scanned(batch: number): { counters: Record<string, number>; ksm: ReturnType<Ksm['counters']> } {
  const { m, ksm } = world(64);
  ksm.pages_to_scan = batch;
  ksm.run = KSM_RUN_MERGE;
  const a = new Process(m, 'a');
  const b = new Process(m, 'b');
  // unique bytes (0..199), a value every 7th page repeats, some pages equal across a and b
  mergeableRegion(a, 300, (i) => (i % 7 === 0 ? 7 : i % 200));
  mergeableRegion(b, 200, (i) => (i % 5 === 0 ? (i * 3) % 200 : (i + 100) % 256));
  const before = m.counters.snapshot();
  ksm.runFullScans(4);
  checkAll(m, ksm);
  return { counters: m.counters.since(before), ksm: ksm.counters() };
}

describe('unstable tree: the memo of get_mergeable_page()', () => {
  it('counts exactly what the walks count: one-page batches (never a memo hit) equal one-batch scans', () => {
    const oneByOne = scanned(1);
    const whole = scanned(1_000_000);
    // cold compares depend on the batches by design (a batch starts with nothing cached)
    const { pagesComparedCold: coldOne, ...restOne } = oneByOne.counters;
    const { pagesComparedCold: coldWhole, ...restWhole } = whole.counters;
    expect(restWhole).toEqual(restOne);
    expect(coldWhole).toBeLessThan(coldOne!);
    expect(whole.ksm).toEqual(oneByOne.ksm);
    expect(whole.ksm.pages_shared).toBeGreaterThan(0);
    expect(whole.ksm.pages_unshared).toBeGreaterThan(0);
  });

  it('a tree page written by a race hook in the middle of a batch is compared by its new content', () => {
    const { m, ksm } = world(64);
    ksm.pages_to_scan = 1_000_000;
    ksm.run = KSM_RUN_MERGE;
    const p = new Process(m, 'p');
    // page 0 and page 2 the same, page 1 different
    const addr = mergeableRegion(p, 3, (i) => (i === 1 ? 0x22 : 0x11));
    ksm.runFullScans(1); // checksums recorded
    const pfn2 = p.translate(addr + 2 * PAGE_SIZE, false, 'read');
    // Pages 0 and 1 enter the unstable tree (page 1's search walks page 0's node and remembers
    // its page); when page 2 is checksummed, page 0 is written: it no longer equals page 2.
    let fired = false;
    const arm = (): void =>
      m.at('ksm:after-checksum', (ctx) => {
        if ((ctx as { page: number }).page !== pfn2) return arm();
        fired = true;
        p.write(addr + 100, new Uint8Array([0x77]));
      });
    arm();
    ksm.runFullScans(1);
    expect(fired).toBe(true);
    // Page 2 found no twin and entered the tree too: nothing merged.
    expect(ksm.counters()).toMatchObject({ pages_shared: 0, pages_sharing: 0, pages_unshared: 3 });
    checkAll(m, ksm);
  });
});
