import { emptyKsmdWork, type KsmdCostModel } from '@mmsim/ksm';
import { describe, expect, it } from 'vitest';
import {
  applyKnobs,
  KnobError,
  ksmdCostFileSchema,
  parseDuration,
  predictKsmd,
  runOnSimulator,
  type SimulatorContext,
  validateScenario,
} from '../src/index.ts';
import { KSMD_COST_FILE, loadKsmdCost } from '../src/node.ts';

const MS = 1e6;
const model: KsmdCostModel = { ns: { ...emptyKsmdWork(), batches: 0.1 * MS }, hz: 250, wakeupLatencyNs: 0 };

/** Two processes of 500 pages each: 400 identical pages (4 contents) and 100 unique ones. */
function machine(): SimulatorContext {
  const steps: unknown[] = [];
  for (const [p, seed] of [
    ['a', 1],
    ['b', 2],
  ] as const) {
    steps.push(
      { op: 'spawn', proc: p },
      { op: 'mmap', proc: p, region: 's', pages: 400 },
      { op: 'fill', proc: p, region: 's', pattern: { kind: 'ids', count: 4, seed: 9 } },
      { op: 'mmap', proc: p, region: 'u', pages: 100 },
      { op: 'fill', proc: p, region: 'u', pattern: { kind: 'unique', seed } },
      { op: 'madvise', proc: p, region: 's', advice: 'MADV_MERGEABLE' },
      { op: 'madvise', proc: p, region: 'u', advice: 'MADV_MERGEABLE' },
    );
  }
  let ctx: SimulatorContext | null = null;
  runOnSimulator(validateScenario({ name: 't', steps }, 't'), {
    host: { memoryMiB: 4096, swapMiB: 0 },
    afterStep: (c) => {
      ctx = c;
    },
  });
  return ctx as unknown as SimulatorContext;
}

describe('predictKsmd', () => {
  it('samples every interval from 0, and the saving arrives in the second full scan', () => {
    const ctx = machine();
    const p = predictKsmd(ctx.ksm, ctx.procs, { forMs: 2000, sampleMs: 100, knobs: {}, model });
    expect(p.samples.map((s) => s.ms)).toEqual(Array.from({ length: 21 }, (_, i) => i * 100));
    // 1000 pages at 100 per 24 ms batch: the first scan ends in the 11th batch (240 ms), the
    // second merges as it goes; once through, the 800 pages of 4 contents are 4 KSM pages
    // (pages_shared) and 796 mappings of them (pages_sharing)
    const last = p.samples[p.samples.length - 1]!;
    expect(last).toMatchObject({ pages_shared: 4, pages_sharing: 796, full_scans: expect.any(Number) });
    expect(p.savingBytes).toBe(796 * 4096);
    const at = (ms: number) => p.samples.find((s) => s.ms === ms)!;
    expect(at(200).pages_sharing).toBe(0);
    // milestones: the first sample at or above each share, in order
    const [m50, m90, m99] = p.milestones.map((m) => m.ms!);
    expect(m50).toBeGreaterThan(200);
    expect(m50).toBeLessThanOrEqual(m90!);
    expect(m90).toBeLessThanOrEqual(m99!);
    expect(at(m99!).pages_sharing * 100).toBeGreaterThanOrEqual(796 * 99);
    expect(at(m99! - 100).pages_sharing * 100).toBeLessThan(796 * 99);
    // per process: both map 400 pages of the 4 KSM pages
    expect(p.procs.map((x) => [x.name, x.ksm_merging_pages])).toEqual([
      ['a', 400],
      ['b', 400],
    ]);
    // CPU: 0.1 ms per batch
    expect(last.cpuMs).toBeCloseTo(p.work.batches * 0.1, 6);
  });

  it('knobs apply before ksmd starts; unknown knobs and refused values are KnobErrors', () => {
    const ctx = machine();
    // batches back to back, each a whole full scan: merged after the second, at 0.1 ms
    const fast = predictKsmd(ctx.ksm, ctx.procs, {
      forMs: 1,
      sampleMs: 1,
      knobs: { pages_to_scan: '2000', sleep_millisecs: '0' },
      model,
    });
    expect(fast.knobs).toMatchObject({ pages_to_scan: 2000, sleep_millisecs: 0 });
    expect(fast.samples[1]!.pages_sharing).toBe(796);
    expect(() => applyKnobs(machine().ksm, { pages_too_scan: '1' })).toThrow(KnobError);
    expect(() => applyKnobs(machine().ksm, { advisor_target_scan_time: '0' })).toThrow(/EINVAL/);
    // advisor_mode is written last: pages_to_scan first is accepted
    const k = machine().ksm;
    applyKnobs(k, { advisor_mode: 'scan-time', advisor_min_pages_to_scan: '800' });
    expect(k.pages_to_scan).toBe(800);
  });
});

describe('parseDuration', () => {
  it('reads ms, s, m, h and their sums; anything else is null', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1500ms')).toBe(1500);
    expect(parseDuration('0.5s')).toBe(500);
    for (const bad of ['', '30', 'm', '1x', '-1s', '1h 30m', 's30']) expect(parseDuration(bad)).toBeNull();
  });
});

describe('the committed cost model', () => {
  it('passes its schema and names the machine it was measured on', () => {
    const f = loadKsmdCost(KSMD_COST_FILE);
    expect(f.machine.kernel).toMatch(/^\d+\.\d+/);
    expect(f.fit.length).toBeGreaterThan(0);
    expect(ksmdCostFileSchema.safeParse({ ...f, format: 'other' }).success).toBe(false);
  });
});
