import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyKsmdWork } from '@mmsim/ksm';
import { describe, expect, it } from 'vitest';
import { compareFor } from '../src/commands/verify-for.ts';
import { fixture, mmsim, usageError } from './helpers.ts';

const small = fixture('predict-small.yaml');
/** Three processes of 300 pages (mmsim snapshot's format, digests only): 240 pages cycling over
 * 50 contents every process has, 60 of each process's own. */
const smallSnap = fixture('predict-small.snap');

describe('mmsim predict', () => {
  it('prints the timeline, the milestones and the processes; --json has every sample', async () => {
    const t = await mmsim(['predict', small, '--for', '30s', '--no-progress']);
    expect(t.code).toBe(0);
    expect(t.out).toContain('ksmd for 30s on predict-small');
    expect(t.out).toMatch(/time to the final saving: 50% after \d+s, 90% after \d+s, 99% after \d+s/);
    expect(t.out).toMatch(/^a\s+200\s+0\s+300\s/m);
    const j = await mmsim(['predict', small, '--for', '30s', '--json', '--no-progress']);
    const p = JSON.parse(j.out);
    expect(p.samples).toHaveLength(31);
    expect(p.samples[30]).toMatchObject({ ms: 30_000, pages_shared: 4, pages_sharing: 396 });
    expect(p.savingBytes).toBe(396 * 4096);
    expect(p.model.format).toBe('mmsim-ksmd-cost-2');
  });

  it('--knob and --advisor change what ksmd starts with; --svg writes a chart', async () => {
    const d = mkdtempSync(join(tmpdir(), 'mmsim-predict-'));
    const svg = join(d, 'p.svg');
    const j = await mmsim([
      'predict',
      small,
      '--for',
      '5s',
      '--knob',
      'sleep_millisecs=200',
      '--advisor',
      'scan-time',
      '--json',
      '--svg',
      svg,
      '--no-progress',
    ]);
    expect(j.code).toBe(0);
    const p = JSON.parse(j.out);
    expect(p.knobs).toMatchObject({ sleep_millisecs: 200, advisor_mode: 'scan-time', pages_to_scan: 500 });
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg /);
  });

  it('takes a snapshot: its processes by pid, its knobs, then --knob', async () => {
    const j = await mmsim(['predict', smallSnap, '--for', '10s', '--json', '--no-progress']);
    expect(j.code).toBe(0);
    const p = JSON.parse(j.out);
    expect(p.snapshot).toBe('predict-small.snap');
    expect(p.samples).toHaveLength(11);
    expect(p.samples[10]).toMatchObject({ pages_shared: 50, pages_sharing: 670, pages_to_scan: 100 });
    expect(p.procs.map((x: { name: string }) => x.name).sort()).toEqual(['4000', '4001', '4002']);
    expect(p.procs[0]).toMatchObject({ ksm_rmap_items: 300, ksm_merging_pages: 240 });
    const k = await mmsim([
      'predict',
      smallSnap,
      '--for',
      '2s',
      '--knob',
      'pages_to_scan=1000',
      '--knob',
      'smart_scan=0',
      '--json',
      '--no-progress',
    ]);
    expect(JSON.parse(k.out).knobs).toMatchObject({ pages_to_scan: 1000, smart_scan: 0 });
    expect(usageError(await mmsim(['predict', smallSnap, '--for', '1m', '--knob', 'smart_scan=7']))).toMatch(
      /^mmsim: --knob smart_scan=7: the kernel refuses this value \(EINVAL\)/,
    );
  });

  it("--ksmd-cpu: the advisor's first decision divides ksmd's runtime since boot by the first scan's time", async () => {
    /** pages_to_scan after the first full scan (sampled every 4 ms). */
    const first = async (extra: string[]) => {
      const argv = ['predict', smallSnap, '--for', '200ms', '--every', '4ms', '--advisor', 'scan-time'];
      const j = await mmsim([...argv, '--json', '--no-progress', ...extra]);
      return JSON.parse(j.out).samples.find((x: { full_scans: number }) => x.full_scans === 1).pages_to_scan;
    };
    // a fresh ksmd: the first scan's own CPU time, a few percent: pages_to_scan stays above the minimum
    expect(await first([])).toBeGreaterThan(10);
    // a ksmd with 100 s behind it: cpu_percent is huge, per_page_cost 1, pages_to_scan 1 * 10
    expect(await first(['--ksmd-cpu', '100s'])).toBe(10);
  });

  it('bad inputs are one line and exit 2', async () => {
    const bad = [
      ['predict', small],
      ['predict', small, '--for', '30'],
      ['predict', small, '--for', '-5m'],
      ['predict', small, '--for', '2d'],
      ['predict', small, '--for', '1m', '--knob', 'pages_too_scan=5'],
      ['predict', small, '--for', '1m', '--knob', 'pages_to_scan'],
      ['predict', small, '--for', '1m', '--knob', 'pages_to_scan=lots'],
      ['predict', small, '--for', '1m', '--knob', 'pages_to_scan=5', '--advisor', 'scan-time'],
      ['predict', small, '--for', '1m', '--advisor', 'cpu'],
      ['predict', small, '--for', '1m', '--model', '/nonexistent.json'],
      ['predict', '/nonexistent.yaml', '--for', '1m'],
      ['verify', small, '--knob', 'pages_to_scan=5'],
      ['verify', small, small, '--for', '1m'],
      ['verify', '--snapshot', smallSnap, '--for', '1m', '--full-scans', '1'],
      ['verify', '--snapshot', smallSnap, '--for', '1m', '--copies', '2'],
      ['predict', smallSnap, '--for', '1m', '--ksmd-cpu', 'lots'],
    ];
    for (const argv of bad) {
      const line = usageError(await mmsim(argv));
      expect(line).toMatch(/^mmsim: /);
    }
    const d = mkdtempSync(join(tmpdir(), 'mmsim-predict-'));
    const model = join(d, 'model.json');
    writeFileSync(model, '{"format":"mmsim-ksmd-cost-2"}');
    expect(usageError(await mmsim(['predict', small, '--for', '1m', '--model', model]))).toContain(
      'model.json',
    );
  });
});

describe('verify --for comparison', () => {
  const sample = (ms: number, sharing: number, cpuMs: number) => ({
    ms,
    pages_shared: 0,
    pages_sharing: sharing,
    pages_unshared: 0,
    pages_volatile: 0,
    full_scans: 0,
    pages_scanned: 0,
    ksm_zero_pages: 0,
    general_profit: 0,
    pages_to_scan: 100,
    cpuMs,
    runtimeNs: cpuMs * 1e6,
  });
  const prediction = (sharing: number[], cpuMs: number) => ({
    forMs: (sharing.length - 1) * 1000,
    sampleMs: 1000,
    knobs: {},
    samples: sharing.map((s, i) => ({ ...sample(i * 1000, s, (cpuMs * i) / (sharing.length - 1)) })),
    milestones: [],
    savingBytes: 0,
    procs: [],
    work: emptyKsmdWork(),
    cpuMs,
  });

  it('holds each sample from 5% of the final value to 5%, and the CPU time to 20%', () => {
    const p = prediction([0, 10, 500, 1000, 1000], 100);
    const ok = compareFor(p, [
      sample(0, 0, 50),
      sample(1, 40, 60),
      sample(2, 520, 80),
      sample(3, 990, 100),
      sample(4, 1000, 165),
    ]);
    // 10 is below 5% of 1000: shown, not held (40 vs 10 would be 300%)
    expect(ok.samples[1]!.deviation).toBeNull();
    expect(ok.maxDeviation).toBeCloseTo(0.04, 10);
    expect(ok.cpu.liveMs).toBe(115);
    expect(ok).toMatchObject({ sharingOk: true, ok: true });
    const bad = compareFor(p, [
      sample(0, 0, 0),
      sample(1, 0, 10),
      sample(2, 400, 20),
      sample(3, 1000, 30),
      sample(4, 1000, 40),
    ]);
    expect(bad.maxDeviation).toBeCloseTo(0.2, 10);
    expect(bad.cpu.ok).toBe(false);
    expect(bad.ok).toBe(false);
  });

  it("takes ksmd's CPU time from schedstat where the kernel has it, else from utime+stime", () => {
    const p = prediction([0, 1000], 100);
    // ticks say 100 ms, sum_exec_runtime 130 ms: the runtime is what counts (30% off)
    const timed = compareFor(p, [sample(0, 0, 0), { ...sample(1, 1000, 100), runtimeNs: 130e6 }]);
    expect(timed.cpu).toMatchObject({ liveMs: 100, liveRuntimeMs: 130, ok: false });
    expect(timed.cpu.deviation).toBeCloseTo(0.3, 10);
    const ticks = compareFor(p, [
      { ...sample(0, 0, 0), runtimeNs: -1 },
      { ...sample(1, 1000, 100), runtimeNs: -1 },
    ]);
    expect(ticks.cpu).toMatchObject({ liveMs: 100, liveRuntimeMs: -1, deviation: 0, ok: true });
  });
});
