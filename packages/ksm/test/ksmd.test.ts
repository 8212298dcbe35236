import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { emptyKsmdWork, type KsmdCostModel, KsmdThread, ksmdWorkNs } from '../src/index.ts';
import { knob, world } from './helpers.ts';

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
    expect(t.nextBatchNs).toBe(52 * MS + 0.5 * MS);
    t.runUntil(52.5 * MS); // the second batch: ends at 82.5 ms, jiffy 20 -> wakes at jiffy 26
    expect(t.nextBatchNs).toBe(104 * MS + 0.5 * MS);
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
