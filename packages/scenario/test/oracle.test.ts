// The live-kernel oracle. Everything that touches KSM lives in this one file, so its tests run one
// after the other; runs from other packages' tests are serialized by the oracle's lock, and the
// knob checks read sysfs under that lock (readKsmLocked), never in the middle of someone's run.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Report, type Scenario, validateScenario } from '../src/index.ts';
import {
  buildOracle,
  encodeInstructions,
  OracleError,
  OracleRefusedError,
  oracleAvailability,
  RESTORED_KNOBS,
  readKsmLocked,
  runOnKernel,
} from '../src/node.ts';

const scenario = (data: unknown): Scenario => validateScenario(data, 'test').scenario;

const tenIdentical = (extra: unknown[] = [], ksm: Record<string, number> = {}): Scenario =>
  scenario({
    name: 'ten-identical',
    ksm,
    steps: [
      { op: 'spawn', proc: 'a' },
      { op: 'mmap', proc: 'a', region: 'r', pages: 10 },
      { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'byte', value: 7 } },
      { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
      { op: 'ksm_scan', full_scans: 2 },
      { op: 'report', label: 'merged' },
      ...extra,
    ],
  });

describe('instruction stream', () => {
  it('encodes the plan, the initial knobs and every step on its own line', () => {
    const s = scenario({
      name: 'my scenario',
      ksm: { max_page_sharing: 2 },
      steps: [
        { op: 'spawn', proc: 'a' },
        { op: 'mmap', proc: 'a', region: 'r', pages: 4, prot: 'r' },
        { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'unique', seed: 5 }, from: 1 },
        { op: 'fork', proc: 'a', child: 'b', expect_errno: 'ENOMEM' },
        { op: 'report', label: 'x y' },
        { op: 'expect', ksm: { pages_shared: 1 }, proc: { b: { ksm_mergeable: true, smaps: { KSM: 4 } } } },
      ],
    });
    const lines = encodeInstructions(s).trim().split('\n');
    expect(lines.slice(0, 6)).toEqual([
      'mmsim-oracle 1',
      'scenario my%20scenario',
      'populate 6',
      'window 17592186044416 87960930222080',
      'proc 0 a -1',
      'proc 1 b 0',
    ]);
    expect(lines[6]).toBe('region 0 0 r 17592186044416 4 0 0');
    expect(lines).toContain('init max_page_sharing 2 1');
    expect(lines).toContain('init pages_to_scan 100 0');
    expect(lines.slice(-7)).toEqual([
      'step 0 0 spawn 0',
      'step 1 0 mmap 0 0 1',
      'step 2 0 fill 0 0 1 3 ids 3 5 0',
      'step 3 12 fork 0 1',
      'step 4 0 report x%20y',
      'step 5 0 expect k pages_shared 1 p 1 ksm_mergeable 1 p 1 smaps.KSM 4',
      'end',
    ]);
  });
});

const avail = oracleAvailability();
const skipReason = avail.available ? '' : avail.reason;
if (!avail.available) console.warn(`SKIPPED: live-kernel oracle tests: ${skipReason}`);

const knobs = async (): Promise<Record<string, string>> => {
  const { values, journal } = await readKsmLocked();
  expect(journal).toBe(false);
  return Object.fromEntries(RESTORED_KNOBS.map((k) => [k, values[k]!]));
};

const onlyReport = (r: Report, label: string) => {
  const e = r.reports.find((x) => x.label === label);
  if (e === undefined) throw new Error(`no report ${label} in ${JSON.stringify(r)}`);
  return e;
};

describe.skipIf(!avail.available)(
  `live kernel oracle${avail.available ? '' : ` (skipped: ${skipReason})`}`,
  () => {
    it('10 identical pages: 2 full scans merge them into 1 shared + 9 sharing', async () => {
      const before = await knobs();
      const r = await runOnKernel(
        tenIdentical([
          {
            op: 'expect',
            ksm: { pages_shared: 1, pages_sharing: 9 },
            proc: { a: { ksm_merging_pages: 10 } },
          },
          { op: 'ksm_scan', full_scans: 1 },
          { op: 'report', label: 'one-more' },
        ]),
      );
      expect(r.engine).toBe('kernel');
      expect(r.ok).toBe(true);
      expect(r.failures).toEqual([]);
      const e = onlyReport(r, 'merged');
      expect(e.ksm).toMatchObject({
        full_scans: 2,
        pages_scanned: 20,
        pages_shared: 1,
        pages_sharing: 9,
        pages_unshared: 0,
        pages_volatile: 0,
        stable_node_chains: 0,
        general_profit: 9 * 4096 - 10 * 64,
      });
      expect(e.procs.a).toEqual({
        ksm_rmap_items: 10,
        ksm_zero_pages: 0,
        ksm_merging_pages: 10,
        ksm_process_profit: 10 * 4096 - 10 * 64,
        ksm_merge_any: false,
        ksm_mergeable: true,
        smaps: { Rss: 40, Anonymous: 40, KSM: 40 },
      });
      expect(e.sharing).toEqual({ 'a/r': [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] });
      // exactly one more full scan
      expect(onlyReport(r, 'one-more').ksm.full_scans).toBe(3);
      expect(await knobs()).toEqual(before);
    });

    it('MADV_UNMERGEABLE (ksm_tests -U) breaks every merged page', async () => {
      const r = await runOnKernel(
        tenIdentical([
          { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_UNMERGEABLE' },
          { op: 'report', label: 'unmerged' },
          { op: 'ksm_scan', full_scans: 1 },
          { op: 'report', label: 'rescanned' },
        ]),
      );
      expect(r.ok).toBe(true);
      // the pages are copies again at once, but the rmap_items (and so every counter) stay in the
      // stable tree until ksmd's next pass; ksm_mergeable is false with no VM_MERGEABLE VMA left
      const u = onlyReport(r, 'unmerged');
      expect(u.sharing['a/r']).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(u.ksm).toMatchObject({ pages_shared: 1, pages_sharing: 9 });
      expect(u.procs.a).toMatchObject({
        ksm_rmap_items: 10,
        ksm_merging_pages: 10,
        ksm_mergeable: false,
        smaps: { Rss: 40, Anonymous: 40, KSM: 0 },
      });
      const s = onlyReport(r, 'rescanned');
      expect(s.ksm).toMatchObject({ full_scans: 3, pages_shared: 0, pages_sharing: 0, pages_scanned: 20 });
      expect(s.procs.a).toMatchObject({ ksm_rmap_items: 0, ksm_merging_pages: 0 });
    });

    it('fork: the child shares the parent frames, COW on write, then KSM merges across processes', async () => {
      const r = await runOnKernel(
        scenario({
          name: 'fork',
          steps: [
            { op: 'spawn', proc: 'a' },
            { op: 'mmap', proc: 'a', region: 'r', pages: 8 },
            { op: 'mmap', proc: 'a', region: 'z', pages: 4 },
            { op: 'touch', proc: 'a', region: 'z', from: 1, count: 2 },
            { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'ids', count: 2, seed: 5 } },
            { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
            { op: 'fork', proc: 'a', child: 'b' },
            { op: 'write', proc: 'b', region: 'r', page: 0, value: 1 },
            { op: 'report', label: 'forked' },
            { op: 'ksm_converge' },
            { op: 'report', label: 'converged' },
            { op: 'exit', proc: 'a' },
            { op: 'report', label: 'a-gone' },
          ],
        }),
      );
      expect(r.ok).toBe(true);
      const f = onlyReport(r, 'forked');
      expect(f.sharing).toEqual({
        'a/r': [0, 1, 2, 3, 4, 5, 6, 7],
        'a/z': [-1, -2, -2, -1],
        'b/r': [8, 1, 2, 3, 4, 5, 6, 7],
        // fork copies no PTEs of a VMA without an anon_vma (only read faults): the child refaults
        'b/z': [-1, -1, -1, -1],
      });
      expect(f.procs.b!.ksm_mergeable).toBe(true);
      const c = onlyReport(r, 'converged');
      // 16 pages of two contents, one page changed: 2 KSM pages, 13 sharing, 1 unshared
      expect(c.ksm).toMatchObject({ pages_shared: 2, pages_sharing: 13, pages_unshared: 1 });
      expect(c.sharing['a/r']).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
      expect(c.sharing['b/r']).toEqual([2, 1, 0, 1, 0, 1, 0, 1]);
      expect(c.ksm.full_scans).toBeGreaterThanOrEqual(2);
      const g = onlyReport(r, 'a-gone');
      expect(Object.keys(g.procs)).toEqual(['b']);
      expect(Object.keys(g.sharing)).toEqual(['b/r', 'b/z']);
    });

    it('PR_SET_MEMORY_MERGE: the helper process adds no pages of its own to the counters', async () => {
      const r = await runOnKernel(
        scenario({
          name: 'prctl',
          steps: [
            { op: 'spawn', proc: 'a' },
            { op: 'mmap', proc: 'a', region: 'r', pages: 4 },
            { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'byte', value: 1 } },
            { op: 'prctl', proc: 'a', option: 'PR_SET_MEMORY_MERGE', value: 1 },
            { op: 'mmap', proc: 'a', region: 'later', pages: 2 },
            { op: 'fill', proc: 'a', region: 'later', pattern: { kind: 'byte', value: 1 } },
            { op: 'ksm_scan', full_scans: 2 },
            { op: 'report', label: 'merged' },
          ],
        }),
      );
      expect(r.ok).toBe(true);
      const e = onlyReport(r, 'merged');
      expect(e.procs.a).toMatchObject({ ksm_rmap_items: 6, ksm_merging_pages: 6, ksm_merge_any: true });
      expect(e.ksm).toMatchObject({
        pages_shared: 1,
        pages_sharing: 5,
        pages_unshared: 0,
        pages_scanned: 12,
      });
    });

    it('THP, use_zero_pages, max_page_sharing 2 chains; ksm_unmerge_all resets full_scans', async () => {
      const r = await runOnKernel(
        scenario({
          name: 'thp-zero-chains',
          ksm: { use_zero_pages: 1, max_page_sharing: 2 },
          steps: [
            { op: 'spawn', proc: 'a' },
            { op: 'mmap', proc: 'a', region: 'h', pages: 1024, thp: true },
            { op: 'fill', proc: 'a', region: 'h', pattern: { kind: 'byte', value: 3 }, from: 0, count: 512 },
            { op: 'touch', proc: 'a', region: 'h', from: 512, count: 512 },
            { op: 'mmap', proc: 'a', region: 'c', pages: 7 },
            { op: 'fill', proc: 'a', region: 'c', pattern: { kind: 'zero' }, from: 0, count: 2 },
            { op: 'fill', proc: 'a', region: 'c', pattern: { kind: 'byte', value: 9 }, from: 2, count: 5 },
            { op: 'report', label: 'before' },
            { op: 'madvise', proc: 'a', region: 'c', advice: 'MADV_MERGEABLE' },
            { op: 'madvise', proc: 'a', region: 'h', advice: 'MADV_MERGEABLE' },
            { op: 'ksm_converge' },
            { op: 'report', label: 'after' },
            { op: 'ksm_unmerge_all' },
            { op: 'report', label: 'unmerged' },
          ],
        }),
      );
      expect(r.ok).toBe(true);
      const b = onlyReport(r, 'before');
      // one THP (2 MiB) filled; reads of the other 2 MiB map the huge zero page (-2, not in Rss)
      expect(b.procs.a!.smaps).toEqual({ Rss: 2048 + 28, Anonymous: 2048 + 28, KSM: 0 });
      expect(b.sharing['a/h']!.slice(510, 514)).toEqual([510, 511, -2, -2]);
      const a = onlyReport(r, 'after');
      // 512 equal pages -> 256 dups of 2; 5 equal pages -> 2 dups + 1 unshared; 2 zero pages -> zero page
      expect(a.ksm).toMatchObject({
        pages_shared: 258,
        pages_sharing: 258,
        pages_unshared: 1,
        stable_node_chains: 2,
        stable_node_dups: 258,
        ksm_zero_pages: 2,
        general_profit: (258 + 2) * 4096 - 517 * 64,
      });
      expect(a.procs.a).toMatchObject({ ksm_rmap_items: 517, ksm_zero_pages: 2, ksm_merging_pages: 516 });
      expect(a.procs.a!.smaps).toEqual({ Rss: 2068, Anonymous: 2068, KSM: 2064 });
      expect(a.sharing['a/c']).toEqual([-2, -2, 256, 256, 257, 257, 258]);
      const u = onlyReport(r, 'unmerged');
      expect(u.ksm).toMatchObject({ full_scans: 0, pages_shared: 0, pages_sharing: 0, ksm_zero_pages: 0 });
      expect(u.sharing['a/c']).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => i + 512));
    });

    it('expect mismatches are failures and the run goes on; a wrong errno stops it', async () => {
      const before = await knobs();
      const r = await runOnKernel(
        tenIdentical(
          [
            { op: 'expect', ksm: { pages_sharing: 8 }, proc: { a: { smaps: { KSM: 36, Rss: 1 } } } },
            { op: 'mmap', proc: 'a', region: 'ro', pages: 1, prot: 'r' },
            { op: 'write', proc: 'a', region: 'ro', page: 0, value: 1, expect_errno: 'EFAULT' },
            { op: 'knob', name: 'max_page_sharing', value: 1, expect_errno: 'EINVAL' },
            { op: 'report', label: 'still-running' },
            { op: 'knob', name: 'sleep_millisecs', value: 'fast' },
            { op: 'report', label: 'never' },
          ],
          { sleep_millisecs: 33, max_page_sharing: 3, pages_to_scan: 77 },
        ),
      );
      expect(r.ok).toBe(false);
      expect(r.failures).toEqual([
        {
          step: 6,
          op: 'expect',
          message: 'pages_sharing: expected 8, found 6; a.smaps.Rss: expected 1, found 40',
        },
        { step: 11, op: 'knob', message: 'failed with EINVAL (Invalid argument)' },
      ]);
      expect(r.reports.map((e) => e.label)).toEqual(['merged', 'still-running']);
      // max_page_sharing 3: a chain of 3 full dups; the 10th page waits in the unstable tree
      expect(onlyReport(r, 'merged').ksm).toMatchObject({
        pages_shared: 3,
        pages_sharing: 6,
        pages_unshared: 1,
        stable_node_chains: 1,
        stable_node_dups: 3,
      });
      expect(onlyReport(r, 'merged').sharing['a/r']).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
      expect(await knobs()).toEqual(before);
    });

    it('refuses to run while another process uses KSM, and touches nothing', async () => {
      const before = await knobs();
      const holder: ChildProcessWithoutNullStreams = spawn(buildOracle(), ['--hold-ksm-user']);
      try {
        await new Promise<void>((resolve, reject) => {
          holder.stdout.once('data', () => resolve());
          holder.once('exit', (code) => reject(new Error(`holder exited ${code}`)));
        });
        // the holder has the usual lock, so this run uses its own
        const lockPath = join(mkdtempSync(join(tmpdir(), 'mmsim-lock-')), 'lock');
        const err = await runOnKernel(tenIdentical(), { lockPath }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(OracleRefusedError);
        expect((err as OracleRefusedError).exitCode).toBe(2);
        expect((err as Error).message).toMatch(/another process uses KSM: pid \d+ \(mmsim-oracle\)/);
      } finally {
        holder.stdin.end();
        await new Promise((resolve) => holder.once('close', resolve));
      }
      expect(await knobs()).toEqual(before);
    });

    it('refuses a scenario whose memory would not fit, with the numbers', async () => {
      const huge = scenario({
        name: 'huge',
        steps: [
          { op: 'spawn', proc: 'a' },
          { op: 'mmap', proc: 'a', region: 'r', pages: 2 ** 28 },
          { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'zero' } },
        ],
      });
      const err = await runOnKernel(huge).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OracleRefusedError);
      expect((err as Error).message).toMatch(
        /populates up to 268435456 pages \(1048576 MiB\); the limit is \d+ MiB \(3\/4 of MemAvailable \d+ MiB minus a 512 MiB margin\)/,
      );
    });

    it('SIGTERM mid-run: helpers killed, every knob restored', async () => {
      const before = await knobs();
      const ac = new AbortController();
      const err = await runOnKernel(tenIdentical([], { sleep_millisecs: 33, max_page_sharing: 3 }), {
        pauseAtStep: 5,
        signal: ac.signal,
        onStderr: (line) => {
          if (line.includes('paused before step 5')) ac.abort();
        },
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OracleError);
      expect((err as OracleError).exitCode).toBe(143);
      expect(await knobs()).toEqual(before);
    });

    it('SIGKILL mid-run: the next run restores the journaled knobs and clears the stale counters', async () => {
      const before = await knobs();
      const ac = new AbortController();
      const err = await runOnKernel(tenIdentical([], { sleep_millisecs: 33, max_page_sharing: 3 }), {
        pauseAtStep: 5,
        signal: ac.signal,
        killSignal: 'SIGKILL',
        onStderr: (line) => {
          if (line.includes('paused before step 5')) ac.abort();
        },
      }).catch((e: unknown) => e);
      expect((err as OracleError).message).toContain('killed by SIGKILL');
      const left = await readKsmLocked();
      if (left.journal) {
        expect(left.values.sleep_millisecs).toBe('33');
        // merged pages of the dead helper stay counted until something unmerges them
        expect(Number(left.values.pages_shared) + Number(left.values.pages_unshared)).toBeGreaterThan(0);
      } else {
        // another package's kernel test (the suite runs packages in parallel) took the lock the
        // killed run left before this read did: its run restored the journal, as ours does below
        expect(left.values.sleep_millisecs).toBe(before.sleep_millisecs);
      }
      const r = await runOnKernel(tenIdentical());
      expect(onlyReport(r, 'merged').ksm).toMatchObject({ pages_shared: 1, pages_sharing: 9 });
      expect(await knobs()).toEqual(before);
    });

    it('concurrent runs are serialized by the lock and both exact', async () => {
      const [a, b] = await Promise.all([runOnKernel(tenIdentical()), runOnKernel(tenIdentical())]);
      for (const r of [a, b]) {
        expect(onlyReport(r, 'merged').ksm).toMatchObject({
          full_scans: 2,
          pages_shared: 1,
          pages_sharing: 9,
        });
      }
    });
  },
);

describe('file regions in the instruction stream', () => {
  it('writes a file once, before the regions, and names it in each region mapping it', () => {
    const s = scenario({
      name: 'files',
      steps: [
        { op: 'spawn', proc: 'a' },
        { op: 'spawn', proc: 'b' },
        {
          op: 'mmap',
          proc: 'a',
          region: 'lib',
          pages: 8,
          file: 'libx',
          file_fill: { kind: 'unique', seed: 3 },
        },
        { op: 'mmap', proc: 'b', region: 'lib', pages: 4, file: 'libx' },
        { op: 'mmap', proc: 'b', region: 'anon', pages: 2 },
      ],
    });
    const lines = encodeInstructions(s).trim().split('\n');
    const layout = lines.filter((l) => l.startsWith('file ') || l.startsWith('region '));
    expect(layout[0]).toBe('file 0 libx 8 ids 8 3 0');
    expect(layout.slice(1).map((l) => l.split(' ').slice(5).join(' '))).toEqual([
      '8 0 0 0',
      '4 0 0 0',
      '2 0 0',
    ]);
    // the file's pages are all in the page cache from the start
    expect(lines).toContain('populate 8');
  });

  it('refuses a file region that is shared, larger than its file, or refills it', () => {
    const bad = (steps: unknown[], path: string): void =>
      expect(() => scenario({ name: 'bad', steps: [{ op: 'spawn', proc: 'a' }, ...steps] })).toThrow(path);
    bad([{ op: 'mmap', proc: 'a', region: 'r', pages: 2, file: 'f', shared: true }], 'steps[1].file');
    bad(
      [
        { op: 'mmap', proc: 'a', region: 'r', pages: 2, file: 'f' },
        { op: 'mmap', proc: 'a', region: 's', pages: 3, file: 'f' },
      ],
      'steps[2].pages',
    );
    bad(
      [
        { op: 'mmap', proc: 'a', region: 'r', pages: 2, file: 'f' },
        { op: 'mmap', proc: 'a', region: 's', pages: 2, file: 'f', file_fill: { kind: 'byte', value: 1 } },
      ],
      'steps[2].file_fill',
    );
    bad(
      [{ op: 'mmap', proc: 'a', region: 'r', pages: 2, file_fill: { kind: 'zero' } }],
      'steps[1].file_fill',
    );
  });
});
