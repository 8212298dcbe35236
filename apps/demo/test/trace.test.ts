import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChromeTrace } from '../src/commands/trace.ts';
import { mmsim, scenario, usageError } from './helpers.ts';

const merge = scenario('ksm-tests-merge.yaml');

describe('mmsim trace', () => {
  it('Chrome trace JSON: a complete event per step, full scans, tracepoints, counters', async () => {
    const r = await mmsim(['trace', merge]);
    expect(r.code).toBe(0);
    const t = JSON.parse(r.out) as ChromeTrace;
    expect(t.displayTimeUnit).toBe('ms');
    const steps = t.traceEvents.filter((e) => e.cat === 'step');
    expect(steps.map((e) => e.name)).toEqual([
      '0 spawn a',
      '1 mmap a',
      '2 fill a',
      '3 madvise a',
      '4 ksm_scan',
      '5 report merged',
      '6 expect',
    ]);
    for (const e of steps) expect(e).toMatchObject({ ph: 'X', pid: 1, tid: 1 });
    // Steps follow each other on the virtual time line.
    for (let i = 1; i < steps.length; i++) expect(steps[i].ts).toBe(steps[i - 1].ts! + steps[i - 1].dur!);
    // The fill faulted ten pages in; its counters say so.
    expect(steps[2].args?.counters).toMatchObject({ faults: 10, faultAnon: 10 });
    // Two full scans as slices, with the scan's sleep between them (sleep_millisecs 20 = 20000 us).
    const scans = t.traceEvents.filter((e) => e.cat === 'ksmd');
    expect(scans.map((e) => e.name)).toEqual(['full scan 1', 'full scan 2']);
    expect(scans[1].ts! - scans[0].ts!).toBe(20_000);
    // Nine merges: tracepoints, with the process named instead of the (run-dependent) mm id.
    const merges = t.traceEvents.filter((e) => e.name === 'ksm_merge_one_page');
    expect(merges).toHaveLength(9);
    expect(merges[0]).toMatchObject({ ph: 'i', s: 't', tid: 2, args: { proc: 'a' } });
    expect(merges[0].args).not.toHaveProperty('mm');
    const ts = t.traceEvents.filter((e) => e.cat === 'tracepoint').map((e) => e.ts!);
    expect([...ts].sort((a, b) => a - b)).toEqual(ts);
    // Counter tracks after every step.
    const last = t.traceEvents.filter((e) => e.name === 'ksm pages').at(-1);
    expect(last?.args).toEqual({ shared: 1, sharing: 9, unshared: 0, volatile: 0 });
    expect(t.otherData).toMatchObject({ scenario: 'ksm-tests-merge', steps: 7, tracepoints: 22 });
  });

  it('is the same on every run (virtual time, no mm ids)', async () => {
    const a = await mmsim(['trace', scenario('chains-fork.yaml')]);
    const b = await mmsim(['trace', scenario('chains-fork.yaml')]);
    expect(a.out).toBe(b.out);
  });

  it('-o writes the file and says so; --json says it as JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-trace-'));
    const file = join(dir, 't.json');
    const r = await mmsim(['trace', merge, '-o', file]);
    expect(r.out).toMatch(/^wrote \d+ trace events \(7 steps, 22 tracepoints\) to .*t\.json; open it in/);
    expect(JSON.parse(readFileSync(file, 'utf8')).traceEvents.length).toBeGreaterThan(30);
    const j = JSON.parse((await mmsim(['trace', merge, '-o', file, '--json'])).out);
    expect(j).toMatchObject({ file, steps: 7, tracepoints: 22 });
  });

  it('an unwritable -o is one line, exit 2', async () => {
    expect(usageError(await mmsim(['trace', merge, '-o', '/nonexistent/dir/t.json']))).toBe(
      'mmsim: cannot write /nonexistent/dir/t.json: ENOENT',
    );
  });
});
