import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_NONE, PROT_READ, PROT_WRITE } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { emptyKsmdWork, type KsmdCostModel, KsmdThread, ksmdWorkNs, wakeupLatencyNs } from '../src/index.ts';
import { checkAll, knob, mergeableRegion, world } from './helpers.ts';

const MS = 1e6;
const HZ = 250;
/** 0.1 ms per batch and nothing else: batches are easy to place in time by hand. */
function model(ns: Partial<KsmdCostModel['ns']>, wakeupLatencyNs = 0): KsmdCostModel {
  return { ns: { ...emptyKsmdWork(), ...ns }, hz: HZ, wakeupLatencyNs };
}

const PAGES = 1000;

/** 1000 distinct pages (never merged), ksmd on with these knobs. */
function setup(knobs: Record<string, string | number>) {
  const { m, ksm } = world(64);
  const p = new Process(m, 'a');
  const a = p.mmap(null, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGES; i++) {
    buf[0] = i % 256;
    buf[1] = Math.floor(i / 256);
    p.writePage(a + i * PAGE_SIZE, buf);
  }
  p.madvise(a, PAGES * PAGE_SIZE, MADV_MERGEABLE);
  for (const [k, v] of Object.entries(knobs)) knob(ksm, k, v);
  ksm.run = 1;
  return { m, ksm };
}

describe('cold compares: tree pages a batch had not compared before', () => {
  /** The second full scan of 1000 distinct pages (each searched in the unstable tree) at this
   * batch size: its compares and cold compares. */
  function secondScan(pages_to_scan: number): { compares: number; cold: number } {
    const { m, ksm } = setup({ pages_to_scan, smart_scan: 0 });
    const scan = (): void => {
      const seq = ksm.ksm_scan.seqnr;
      while (ksm.ksm_scan.seqnr === seq) ksm.ksm_do_scan(ksm.pages_to_scan);
    };
    scan();
    const before = { compares: m.counters.pagesCompared, cold: m.counters.pagesComparedCold };
    scan();
    return {
      compares: m.counters.pagesCompared - before.compares,
      cold: m.counters.pagesComparedCold - before.cold,
    };
  }

  it('one page per batch: every compare is cold (a search visits each node once)', () => {
    const r = secondScan(1);
    expect(r.compares).toBeGreaterThan(PAGES);
    expect(r.cold).toBe(r.compares);
  });

  it('the whole scan in one batch: each tree page is cold once, the top of the tree is cached', () => {
    const one = secondScan(2 * PAGES);
    expect(one.compares).toBe(secondScan(1).compares);
    expect(one.cold).toBeLessThanOrEqual(PAGES);
    expect(one.cold).toBeLessThan(one.compares / 4);
    // 100 pages a batch lies between: each batch finds the top of the tree cold again
    const mid = secondScan(100);
    expect(mid.cold).toBeGreaterThan(one.cold);
    expect(mid.cold).toBeLessThan(mid.compares);
  });
});

describe('KsmdThread: ksm_scan_thread over wall time', () => {
  it('sleeps end on the tick after msecs_to_jiffies(sleep_millisecs): 20 ms at HZ=250 is a 24 ms cycle', () => {
    const { ksm } = setup({ pages_to_scan: 100, sleep_millisecs: 20, smart_scan: 0 });
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }));
    // batch at 0 ends at 0.1 ms (tick 0); the timer expires at jiffy 0 + 5 + 1 = 6, i.e. 24 ms.
    expect(t.wakeAfterSleep(0.1 * MS, 20)).toBe(24 * MS);
    // from the middle of a jiffy the same: the sleep is 5 to 6 jiffies
    expect(t.wakeAfterSleep(3.9 * MS, 20)).toBe(24 * MS);
    expect(t.wakeAfterSleep(4 * MS, 20)).toBe(28 * MS);
    // sleep_millisecs=0: no sleep at all; 1 ms rounds up to a whole jiffy, plus one
    expect(t.wakeAfterSleep(5 * MS, 0)).toBe(5 * MS);
    expect(t.wakeAfterSleep(0, 1)).toBe(8 * MS);
    // batches at 0, 24, ..., 984 ms: 42 by 1 s
    t.runUntil(1000 * MS);
    expect(t.work.batches).toBe(42);
    expect(t.nextBatchNs).toBe(1008 * MS);
  });

  it('a full scan of 1000 pages at pages_to_scan=100 takes 11 batches (the 11th only ends the scan)', () => {
    const { ksm } = setup({ pages_to_scan: 100, sleep_millisecs: 20, smart_scan: 0 });
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }));
    t.runUntil(984 * MS); // 42 batches: 3 of them end a scan with no page
    expect(ksm.ksm_scan.seqnr).toBe(3);
    expect(ksm.pages_scanned).toBe(3900);
    expect(t.work).toMatchObject({ batches: 42, scans: 3, pages: 3900 });
    // the CPU time is the model's: 42 batches of 0.1 ms
    expect(t.cpuNs()).toBeCloseTo(4.2 * MS, 6);
  });

  it('batch CPU time pushes the next sleep: 30 ms batches with a 20 ms sleep make a 52 ms cycle', () => {
    const { ksm } = setup({ pages_to_scan: 100, sleep_millisecs: 20, smart_scan: 0 });
    // 0.3 ms per page: a 100-page batch takes 30 ms, ends at 30 ms (jiffy 7): wake at jiffy 13
    const t = new KsmdThread(ksm, model({ pages: 0.3 * MS }, 0.5 * MS));
    t.runUntil(0);
    const l0 = wakeupLatencyNs(0.5 * MS, 0);
    expect(t.nextBatchNs).toBe(52 * MS + l0);
    t.runUntil(52 * MS + l0); // the second batch: ends 30 ms later, in jiffy 20 -> wakes at jiffy 26
    expect(t.nextBatchNs).toBe(104 * MS + wakeupLatencyNs(0.5 * MS, 1));
  });

  it('smart_scan: from the fifth scan the unmergeable pages are skipped, and a scan of only skips is one batch', () => {
    const { ksm } = setup({ pages_to_scan: 100, sleep_millisecs: 20, smart_scan: 1 });
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }));
    // scans 1-4 take 11 batches each (age 0-3: not skipped; age 3 only sets remaining_skips = 1);
    // scan 5 skips all 1000 (age 4) and ends in its first batch: batch 45, at 44 * 24 ms
    t.runUntil(44 * 24 * MS - 1);
    expect(ksm.ksm_scan.seqnr).toBe(4);
    expect(ksm.pages_skipped).toBe(0);
    t.runUntil(44 * 24 * MS);
    expect(ksm.ksm_scan.seqnr).toBe(5);
    expect(ksm.pages_skipped).toBe(1000);
    expect(t.work.batches).toBe(45);
    expect(ksm.pages_scanned).toBe(4000);
  });

  it('the scan-time advisor sets pages_to_scan from the model CPU time at the end of a scan', () => {
    const { ksm } = setup({ advisor_mode: 'scan-time', smart_scan: 0 });
    expect(ksm.pages_to_scan).toBe(500); // advisor_min_pages_to_scan
    // 1 us per page: the scan is batches at 0 and 24 ms (500 pages each) and at 48 ms (the end).
    const t = new KsmdThread(ksm, model({ pages: 0.001 * MS }));
    t.runUntil(47 * MS);
    expect(ksm.ksm_scan.seqnr).toBe(0);
    t.runUntil(48 * MS);
    expect(ksm.ksm_scan.seqnr).toBe(1);
    // scan_time = max(1, 0 s) = 1; cpu 1 ms -> cpu_percent max(1, 0) = 1; factor 200 * 100 / 1;
    // change (70 * 0 + 30 * 100) / 100 = 30; pages 500 * 100 / 20000 = 2, * 30 / 100 = 0;
    // per_page_cost 500 / 1 = 500: max(0, 500 * KSM_ADVISOR_MIN_CPU 10) = 5000 <= 30000
    expect(ksm.pages_to_scan).toBe(5000);
    t.runUntil(72 * MS);
    // the batch at 72 ms may scan 5000 pages: the whole second scan, and its end
    expect(t.work.pages).toBe(2000);
    expect(ksm.ksm_scan.seqnr).toBe(2);
  });

  it('the wake-up latency varies as an exponential distribution of the model mean: a share of cycles gets a jiffy more', () => {
    // the sequence's mean and its tail are the distribution's
    const n = 10_000;
    let sum = 0;
    let tail = 0;
    for (let k = 0; k < n; k++) {
      const l = wakeupLatencyNs(2 * MS, k);
      expect(l).toBeGreaterThanOrEqual(0);
      sum += l;
      if (l > 4 * MS) tail++;
    }
    expect(sum / n / MS).toBeCloseTo(2, 1);
    expect(tail / n).toBeCloseTo(Math.exp(-2), 2);
    expect(wakeupLatencyNs(0, 5)).toBe(0);
    // 0.1 ms batches, 20 ms sleeps: a cycle is 6 jiffies, 7 where the latency (plus the batch)
    // passes the next tick, 8 past two: over 1000 cycles about 24 + 4 * (e^-(3.9/2) + e^-(7.9/2)) ms
    const { ksm } = setup({ pages_to_scan: 100, sleep_millisecs: 20, smart_scan: 0 });
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }, 2 * MS));
    t.runUntil(0);
    const first = t.nextBatchNs;
    while (t.work.batches < 1001) t.runUntil(t.nextBatchNs);
    const cycle = (t.nextBatchNs - first) / 1000 / MS;
    const expected = 24 + 4 * (Math.exp(-3.9 / 2) + Math.exp(-7.9 / 2) + Math.exp(-11.9 / 2));
    expect(Math.abs(cycle - expected)).toBeLessThan(0.05);
  });

  it.each([
    ['pages_to_scan=100', { pages_to_scan: 100 }, 120],
    ['the scan-time advisor', { advisor_mode: 'scan-time', advisor_target_scan_time: 1 }, 20],
  ] as const)(
    'fast-forward replays proven steady periods (%s): samples, CPU time and the machine as page by page',
    (_, knobs, seconds) => {
      const run = (fastForward: boolean) => {
        const { m, ksm } = world(64);
        const procs = [0, 1, 2].map((k) => {
          const p = new Process(m, `p${k}`);
          const a = p.mmap(null, 400 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
          const buf = new Uint8Array(PAGE_SIZE);
          for (let i = 0; i < 400; i++) {
            // 200 pages over 20 contents every process has, 200 of its own
            buf.fill(i < 200 ? 1 + (i % 20) : 0);
            buf[1] = k;
            buf[2] = i < 200 ? 0 : i;
            p.writePage(a + i * PAGE_SIZE, buf);
          }
          p.madvise(a, 400 * PAGE_SIZE, MADV_MERGEABLE);
          return p;
        });
        for (const [k, v] of Object.entries(knobs)) knob(ksm, k, v);
        ksm.run = 1;
        const t = new KsmdThread(
          ksm,
          model(
            {
              batches: 0.1 * MS,
              pages: 0.002 * MS,
              hashed: 0.001 * MS,
              compared: 0.0003 * MS,
              cold: 0.0002 * MS,
            },
            2 * MS,
          ),
        );
        if (fastForward) t.fastForwardUntilNs = seconds * 1000 * MS;
        const samples: string[] = [];
        for (let s = 0; s <= seconds; s++) {
          t.runUntil(s * 1000 * MS);
          samples.push(JSON.stringify([ksm.counters(), ksm.pages_to_scan, t.cpuNs(), t.work]));
        }
        const ri = ksm.rmap_item_cache;
        const items = [...Array(ksm.rmap_items + 1).keys()].slice(1);
        const state = JSON.stringify([
          items.map((i) => [ri.age[i], ri.aflags[i], ri.remaining_skips[i], ri.oldchecksum[i]]),
          procs.map((p) => ksm.ksm_stat(p.mm)),
          ksm.advisorCtx,
          t.nextBatchNs,
        ]);
        return {
          samples,
          state,
          replayed: t.replayedBatches,
          batches: t.work.batches,
          scans: ksm.ksm_scan.seqnr,
        };
      };
      const slow = run(false);
      const fast = run(true);
      expect(fast.samples).toEqual(slow.samples);
      expect(fast.state).toBe(slow.state);
      expect(slow.replayed).toBe(0);
      // most of two minutes (hundreds of full scans) replayed, not simulated
      expect(slow.scans).toBeGreaterThan(300);
      expect(fast.replayed).toBeGreaterThan(slow.batches * 0.8);
    },
  );

  it("a tree page written between two runUntil() calls is compared as it is now: the walk's memo holds only between the thread's own batches", () => {
    // Two pages, one per batch: the second full scan inserts x into the unstable tree, then
    // (between two calls) x is written to y's contents; y's search must find x, as the kernel
    // would, not x's contents remembered from before.
    const { m, ksm } = world(64);
    const p = new Process(m, 'a');
    const x = mergeableRegion(p, 2, (i) => i + 1);
    const y = x + PAGE_SIZE;
    knob(ksm, 'pages_to_scan', 1);
    knob(ksm, 'smart_scan', 0);
    ksm.run = 1;
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }));
    let ms = 0;
    while (!(ksm.ksm_scan.seqnr === 1 && ksm.pages_unshared === 1)) t.runUntil(++ms * MS);
    p.writePage(x, p.read(y, PAGE_SIZE));
    t.runUntil((ms + 100) * MS);
    expect(ksm.pages_shared).toBe(1);
    expect(ksm.pages_sharing).toBe(1);
    checkAll(m, ksm);
  });

  it('a model that gives a batch no time with sleep_millisecs=0 is refused, not an endless loop', () => {
    const { ksm } = setup({ sleep_millisecs: 0 });
    const t = new KsmdThread(ksm, model({}));
    expect(() => t.runUntil(MS)).toThrow(/would not advance/);
  });

  it('ksmd waits without a timeout when nothing is registered', () => {
    const { m, ksm } = world(64);
    ksm.run = 1;
    const t = new KsmdThread(ksm, model({ batches: 0.1 * MS }));
    t.runUntil(1000 * MS);
    expect(t.nextBatchNs).toBe(Number.POSITIVE_INFINITY);
    expect(t.work.batches).toBe(0);
    expect(m.clock.jiffies).toBe(0);
  });

  it('ksmdWorkNs is the dot product of the work and the per-feature costs', () => {
    const w = { ...emptyKsmdWork(), batches: 2, pages: 10, hashed: 3 };
    expect(ksmdWorkNs(model({ batches: 100, pages: 7, hashed: 11 }), w)).toBe(200 + 70 + 33);
  });
});

describe('vmas: the VMAs ksmd enters', () => {
  const VMAS = 12;
  const EACH = 5;

  /** One process of VMAS mergeable VMAs of EACH pages, a PROT_NONE page after each (a VMA of its
   * own, not mergeable), after `scans` full scans of batches of `pages_to_scan`: the VMAs the scan
   * entered, and the mm's VMAs. */
  function entered(pages_to_scan: number, scans: number): { vmas: number; mapped: number } {
    const { m, ksm } = world(64);
    const p = new Process(m, 'a');
    const a = p.mmap(
      null,
      VMAS * (EACH + 1) * PAGE_SIZE,
      PROT_READ | PROT_WRITE,
      MAP_PRIVATE | MAP_ANONYMOUS,
    );
    const buf = new Uint8Array(PAGE_SIZE);
    for (let v = 0; v < VMAS; v++) {
      const start = a + v * (EACH + 1) * PAGE_SIZE;
      for (let i = 0; i < EACH; i++) {
        buf[0] = v;
        buf[1] = i;
        p.writePage(start + i * PAGE_SIZE, buf);
      }
      p.madvise(start, EACH * PAGE_SIZE, MADV_MERGEABLE);
      p.mprotect(start + EACH * PAGE_SIZE, PAGE_SIZE, PROT_NONE);
    }
    knob(ksm, 'pages_to_scan', pages_to_scan);
    const t = new KsmdThread(ksm, model({ vmas: 1000 }));
    for (let s = 0; s < scans; s++) {
      const seq = ksm.ksm_scan.seqnr;
      while (ksm.ksm_scan.seqnr === seq) ksm.ksm_do_scan(ksm.pages_to_scan);
    }
    expect(t.cpuNs()).toBe(1000 * t.work.vmas);
    return { vmas: t.work.vmas, mapped: p.mm.vmas.length };
  }

  it('every VMA of the mm once per full scan, mergeable or not, whatever the batch size', () => {
    const one = entered(1000, 1);
    expect(one.mapped).toBe(2 * VMAS);
    expect(one.vmas).toBe(one.mapped);
    // a batch of one page resumes inside a VMA at each call: entering is still once per VMA
    expect(entered(1, 1).vmas).toBe(one.mapped);
    expect(entered(3, 3).vmas).toBe(3 * one.mapped);
  });
});
