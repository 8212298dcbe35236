import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { aggregate } from '../src/aggregate.ts';
import { loadBenchmark } from '../src/load.ts';
import { machineInfo } from '../src/machine-info.ts';
import { benchMarkdown } from '../src/report/markdown.ts';
import { REPORT_SCHEMA, type RunReport, writeBenchReport } from '../src/report/write.ts';
import { inProcessExecutor, runBenchmark, spawnExecutor, VariantRefusedError } from '../src/runner.ts';
import { bootstrapMedianCI, median, quantileSorted, summarize } from '../src/stats.ts';
import type { Benchmark } from '../src/types.ts';
import fake from './fixtures/fake.ts';

const FAKE_URL = new URL('./fixtures/fake.ts', import.meta.url).href;

describe('stats', () => {
  it('median of odd, even and empty inputs', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('quantiles interpolate linearly', () => {
    expect(quantileSorted([0, 10], 0.25)).toBe(2.5);
    expect(quantileSorted([1, 2, 3, 4, 5], 0.5)).toBe(3);
  });

  it('bootstrap CI of the median brackets the median, stays within min-max, and is reproducible', () => {
    const xs = [10, 12, 11, 30, 9, 10.5, 11.5];
    const [lo, hi] = bootstrapMedianCI(xs);
    expect(lo).toBeLessThanOrEqual(median(xs));
    expect(hi).toBeGreaterThanOrEqual(median(xs));
    expect(lo).toBeGreaterThanOrEqual(9);
    expect(hi).toBeLessThanOrEqual(30);
    // The outlier (30) moves the mean, not the median's interval.
    expect(hi).toBeLessThan(30);
    expect(bootstrapMedianCI(xs)).toEqual([lo, hi]);
    expect(bootstrapMedianCI([5])).toEqual([5, 5]);
    expect(bootstrapMedianCI([4, 4, 4])).toEqual([4, 4]);
  });

  it('a tighter sample gives a narrower interval', () => {
    const wide = bootstrapMedianCI([1, 5, 9, 13, 17, 21, 25]);
    const narrow = bootstrapMedianCI([12, 12.5, 13, 13, 13.5, 14, 14]);
    expect(narrow[1] - narrow[0]).toBeLessThan(wide[1] - wide[0]);
  });

  it('summarize', () => {
    const s = summarize([3, 1, 2, 10]);
    expect(s).toMatchObject({ n: 4, median: 2.5, min: 1, max: 10, mean: 4 });
  });
});

describe('harness on a fake benchmark', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('aggregates repetitions into throughput, counters per unit, metrics and targets', async () => {
    const r = await runBenchmark(fake, FAKE_URL, { quick: false, reps: 3, executor: inProcessExecutor });
    expect(r.variants).toEqual(['a', 'b']);
    expect(r.raw.map((x) => `${x.variant}${x.rep}`)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    const a = r.rows.find((row) => row.label === 'a')!;
    // reps take 1, 2, 3 ms for 1000 ops: 1e6, 5e5, 333,333 ops/s.
    expect(a.values.map(Math.round)).toEqual([1_000_000, 500_000, 333_333]);
    expect(a.throughput.median).toBe(500_000);
    expect(a.throughput.min).toBeCloseTo(333_333.33, 1);
    expect(a.throughput.max).toBe(1_000_000);
    expect(a.throughput.ci95[0]).toBeGreaterThanOrEqual(a.throughput.min);
    expect(a.throughput.ci95[1]).toBeLessThanOrEqual(a.throughput.max);
    expect(a.x).toBe(1);
    expect(a.series).toBe('fake');
    const ca = r.counters.find((c) => c.label === 'a')!;
    expect(ca.deterministic).toBe(true);
    expect(ca.perUnit).toEqual({ pteRead: 2, faults: 1, tlbFlushes: 0 });
    const rss = r.metrics.filter((m) => m.name === 'rss');
    expect(rss.map((m) => [m.label, m.value.median])).toEqual([
      ['a', 12],
      ['b', 42],
    ]);
    expect(r.targets.map((t) => [t.name, t.status])).toEqual([
      ['a', 'met'],
      ['bytes/frame', 'met'],
    ]);
  });

  it('flags counters that differ between repetitions and targets that are missed', () => {
    const base = { samples: [{ label: 'a', unit: 'op', ops: 10, seconds: 1 }], metrics: [] };
    const r = aggregate(
      fake,
      [
        {
          variant: 'a',
          rep: 1,
          processSeconds: 0,
          loadAvg1: 0,
          result: { ...base, counters: [{ label: 'a', unit: 'op', units: 10, counters: { x: 1 } }] },
        },
        {
          variant: 'a',
          rep: 2,
          processSeconds: 0,
          loadAvg1: 0,
          result: { ...base, counters: [{ label: 'a', unit: 'op', units: 10, counters: { x: 2 } }] },
        },
      ],
      { quick: false, reps: 2, variants: ['a'] },
    );
    expect(r.counters[0].deterministic).toBe(false);
    expect(r.targets.find((t) => t.name === 'a')).toMatchObject({ measured: 10, status: 'missed' });
    // A target naming nothing measured is reported, not silently dropped.
    expect(r.targets.find((t) => t.name === 'bytes/frame')).toMatchObject({ status: 'not measured' });
    expect(Number.isNaN(r.targets.find((t) => t.name === 'bytes/frame')!.measured)).toBe(true);
  });

  it('rejects unknown variants', async () => {
    await expect(
      runBenchmark(fake, FAKE_URL, { quick: false, reps: 1, only: ['zzz'], executor: inProcessExecutor }),
    ).rejects.toThrow(/unknown variant zzz/);
  });

  it('--sim-only drops kernel-only variants and tells the others', async () => {
    const seen: string[] = [];
    const bench: Benchmark = {
      ...fake,
      variants: () => [{ id: 'a' }, { id: 'k', kernelOnly: true }],
      run(ctx) {
        seen.push(`${ctx.variant}:${ctx.simOnly}`);
        return fake.run(ctx);
      },
    };
    const both = await runBenchmark(bench, FAKE_URL, { quick: false, reps: 1, executor: inProcessExecutor });
    expect(both.variants).toEqual(['a', 'k']);
    const sim = await runBenchmark(bench, FAKE_URL, {
      quick: false,
      simOnly: true,
      reps: 1,
      executor: inProcessExecutor,
    });
    expect(sim.variants).toEqual(['a']);
    expect(seen).toEqual(['a:false', 'k:false', 'a:true']);
  });

  it('on-request variants run only when named with --variant', async () => {
    const seen: string[] = [];
    const bench: Benchmark = {
      ...fake,
      variants: () => [{ id: 'a' }, { id: 'big', onRequest: true }],
      run(ctx) {
        seen.push(ctx.variant);
        return fake.run(ctx);
      },
    };
    const routine = await runBenchmark(bench, FAKE_URL, {
      quick: false,
      reps: 1,
      executor: inProcessExecutor,
    });
    expect(routine.variants).toEqual(['a']);
    const asked = await runBenchmark(bench, FAKE_URL, {
      quick: false,
      reps: 1,
      only: ['big'],
      executor: inProcessExecutor,
    });
    expect(asked.variants).toEqual(['big']);
    expect(seen).toEqual(['a', 'big']);
  });

  it('a variant the host guard refuses is skipped, the others still run', async () => {
    const lines: string[] = [];
    const r = await runBenchmark(fake, FAKE_URL, {
      quick: false,
      reps: 2,
      executor: async (job) => {
        if (job.variant === 'b') throw new VariantRefusedError(job.bench.name, job.variant);
        return inProcessExecutor(job);
      },
      log: (l) => lines.push(l),
    });
    expect(r.variants).toEqual(['a']);
    expect(r.raw.map((x) => `${x.variant}${x.rep}`)).toEqual(['a1', 'a2']);
    expect(lines.filter((l) => l.includes('refused'))).toEqual([
      'benchmark fake, variant b: refused by the host guard (the line above): skipped',
    ]);
  });

  it('writes valid JSON, Markdown and SVG reports', async () => {
    const r = await runBenchmark(fake, FAKE_URL, { quick: false, reps: 2, executor: inProcessExecutor });
    const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
    dirs.push(dir);
    const run: RunReport = {
      schema: REPORT_SCHEMA,
      startedAt: '2000-01-01T00:00:00.000Z',
      finishedAt: '2000-01-01T00:00:01.000Z',
      machine: machineInfo(process.cwd()),
      options: { quick: false, reps: 2, argv: [] },
      benchmarks: [r],
    };
    const files = await writeBenchReport(dir, run, r);
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      'fake.json',
      'fake.md',
      'fake.scaling.svg',
      'fake.throughput.svg',
    ]);

    const json = JSON.parse(readFileSync(join(dir, 'fake.json'), 'utf8')) as RunReport;
    expect(json.schema).toBe(REPORT_SCHEMA);
    expect(json.machine.node).toBe(process.version);
    expect(json.machine.kernel).not.toBe('');
    expect(json.benchmarks[0].raw).toHaveLength(4);
    expect(json.benchmarks[0].rows[0].values).toHaveLength(2);

    const md = readFileSync(join(dir, 'fake.md'), 'utf8');
    expect(md).toContain('## fake');
    expect(md).toMatch(/\| a \| 1,000 ops \| \*\*\d[\d,]*\*\* ops\/s \|/);
    // Every table row has as many cells as its header.
    for (const block of md.split('\n\n').filter((b) => b.startsWith('|'))) {
      const lines = block.split('\n');
      const cells = (l: string): number => l.split(/(?<!\\)\|/).length;
      for (const l of lines) expect(cells(l)).toBe(cells(lines[0]));
    }
    expect(md).toContain('| pteRead | 2 | 2 |');
    expect(md).not.toContain('tlbFlushes'); // all-zero counters are left out
    expect(md).toContain('![fake throughput](fake.throughput.svg)');
    expect(md).toBe(
      benchMarkdown(r, run.machine, run.startedAt, {
        throughput: 'fake.throughput.svg',
        scaling: 'fake.scaling.svg',
      }),
    );

    for (const f of ['fake.throughput.svg', 'fake.scaling.svg']) {
      const svg = readFileSync(join(dir, f), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
      expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    }
    const throughput = readFileSync(join(dir, 'fake.throughput.svg'), 'utf8');
    expect(throughput).toContain('aria-roledescription="bar"');
    expect(throughput).toContain('aria-roledescription="rule mark"');
  });

  it('loads a benchmark module by URL and runs it in fresh child processes', async () => {
    const bench = await loadBenchmark(FAKE_URL);
    expect(bench.name).toBe('fake');
    const r = await runBenchmark(bench, FAKE_URL, { quick: true, reps: 2, executor: spawnExecutor() });
    expect(r.variants).toEqual(['a']);
    expect(r.raw).toHaveLength(2);
    for (const run of r.raw) expect(run.processSeconds).toBeGreaterThan(0);
    expect(r.rows[0].throughput.median).toBe(750_000);
    expect(r.counters[0].deterministic).toBe(true);
  });
});
