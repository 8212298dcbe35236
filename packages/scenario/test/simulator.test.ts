// The simulator runs ksm_scan/ksm_converge and failing steps the way the kernel oracle does
// (native/oracle.c ksm_scans() and run_step()).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, runOnSimulator } from '../src/index.ts';
import { hostMemory, loadScenario, SCENARIOS_DIR } from '../src/node.ts';

const merge = [
  { op: 'spawn', proc: 'a' },
  { op: 'mmap', proc: 'a', region: 'r', pages: 16 },
  { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'byte', value: 1 } },
  { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
];
const run = (data: unknown) =>
  runOnSimulator(parseScenario(JSON.stringify(data), 't.json'), { host: hostMemory() });

describe('runOnSimulator, as the oracle', () => {
  it('ksm_scan runs whole full scans whatever pages_to_scan is (0 included), then restores it', () => {
    const r = run({
      name: 't',
      ksm: { pages_to_scan: 0 },
      steps: [...merge, { op: 'ksm_scan', full_scans: 2 }, { op: 'report', label: 'x' }],
    });
    expect(r.failures).toEqual([]);
    expect(r.reports[0].ksm).toMatchObject({ full_scans: 2, pages_shared: 1, pages_sharing: 15 });
  });

  it('prctl: PR_GET_MEMORY_MERGE returns merge-any; a wrong expect_value ends the run, as an errno', () => {
    const get = (expect_value: number, more = {}) => ({
      op: 'prctl',
      proc: 'a',
      option: 'PR_GET_MEMORY_MERGE',
      expect_value,
      ...more,
    });
    const r = run({
      name: 't',
      steps: [
        ...merge,
        get(0),
        {
          op: 'prctl',
          proc: 'a',
          option: 'PR_SET_MEMORY_MERGE',
          value: true,
          arg4: 1,
          expect_errno: 'EINVAL',
        },
        get(0, { arg5: 2, expect_errno: 'EINVAL' }),
        { op: 'prctl', proc: 'a', option: 'PR_SET_MEMORY_MERGE', value: 1, expect_value: 0 },
        get(0),
        { op: 'report', label: 'never' },
      ],
    });
    expect(r.reports).toEqual([]);
    expect(r.failures).toEqual([{ step: 8, op: 'prctl', message: 'returned 1, expected 0' }]);
    expect(() =>
      parseScenario(
        JSON.stringify({
          name: 't',
          steps: [merge[0], { op: 'prctl', proc: 'a', option: 'PR_SET_MEMORY_MERGE' }],
        }),
        't.json',
      ),
    ).toThrow(/steps\[1\]\.value: expected a value for PR_SET_MEMORY_MERGE/);
  });

  it('a step with the wrong outcome ends the run', () => {
    const r = run({
      name: 't',
      steps: [...merge, { op: 'knob', name: 'run', value: 3 }, { op: 'report', label: 'never' }],
    });
    expect(r.ok).toBe(false);
    expect(r.failures).toHaveLength(1);
    expect(r.failures[0]).toMatchObject({ step: 4, op: 'knob' });
    expect(r.reports).toEqual([]);
  });

  it('ksm_converge that runs out of scans while KSM is in use is a failure', () => {
    const r = run({ name: 't', steps: [...merge, { op: 'ksm_converge', max_full_scans: 1 }] });
    expect(r.failures).toEqual([
      { step: 4, op: 'ksm_converge', message: 'counters still changing after 1 full scans' },
    ]);
  });

  it('exact scans are refused with the scan-time advisor on (pages_to_scan cannot be written)', () => {
    const r = run({
      name: 't',
      steps: [
        ...merge,
        { op: 'knob', name: 'advisor_mode', value: 'scan-time' },
        { op: 'ksm_scan', full_scans: 1 },
        { op: 'report', label: 'never' },
      ],
    });
    expect(r.failures.map((f) => f.step)).toEqual([5]);
    expect(r.reports).toEqual([]);
  });
});

describe('runOnSimulator: the break_ksm() strategy', () => {
  // MADV_UNMERGEABLE over merged pages: the cost counters say which lookup unmerged them.
  const unmerge = loadScenario(join(SCENARIOS_DIR, 'ksm-functional-unmerge.yaml'));
  const costs = (strategy?: string) => {
    let counters: Record<string, number> = {};
    const report = runOnSimulator(unmerge, {
      host: hostMemory(),
      ...(strategy !== undefined ? { strategy } : {}),
      afterStep: (ctx) => {
        counters = ctx.machine.counters.snapshot();
      },
    });
    return { report, counters };
  };

  it('follow_page (6.0) looks pages up with follow_page(), folio_walk (6.18) never does', () => {
    const fp = costs('follow_page');
    const fw = costs('folio_walk');
    expect(fp.counters.followPage).toBeGreaterThan(0);
    expect(fw.counters.followPage).toBe(0);
    expect(fw.counters.walks).toBeGreaterThan(fp.counters.walks!);
    expect(costs().counters).toEqual(fw.counters);
    expect(fp.report.reports).toEqual(fw.report.reports);
  });

  it('walk_pmd (the 2022 patch) invokes walker callbacks where follow_page invokes none', () => {
    // The scenario's other steps (madvise) walk too: compare the whole runs.
    expect(costs('walk_pmd').counters.walkCallbacks).toBeGreaterThan(
      costs('follow_page').counters.walkCallbacks!,
    );
  });
});

describe('khugepaged in scenarios', () => {
  const thpRange = [
    { op: 'spawn', proc: 'a' },
    { op: 'mmap', proc: 'a', region: 'r', pages: 512 },
    { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'byte', value: 1 }, from: 0, count: 500 },
    { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_HUGEPAGE' },
  ];

  it('khugepaged_scan runs exact full scans; max_ptes_none from the knobs; counters in reports', () => {
    const r = run({
      name: 't',
      khugepaged: { max_ptes_none: 11 },
      steps: [
        ...thpRange,
        { op: 'khugepaged_scan', full_scans: 2 },
        { op: 'report', label: 'held' },
        { op: 'knob', name: 'khugepaged/max_ptes_none', value: 12 },
        { op: 'khugepaged_scan', full_scans: 1 },
        { op: 'report', label: 'collapsed' },
        { op: 'knob', name: 'khugepaged/max_ptes_none', value: 512, expect_errno: 'EINVAL' },
      ],
    });
    expect(r.failures).toEqual([]);
    expect(r.reports.map((e) => [e.khugepaged, e.procs.a!.smaps.Rss])).toEqual([
      [{ full_scans: 2, pages_collapsed: 0 }, 2000],
      [{ full_scans: 3, pages_collapsed: 1 }, 2048],
    ]);
  });

  it('reports of a scenario without khugepaged have no khugepaged counters', () => {
    const r = run({ name: 't', steps: [...thpRange, { op: 'report', label: 'x' }] });
    expect(r.reports[0]!.khugepaged).toBeUndefined();
  });

  it('a khugepaged knob out of range is refused up front', () => {
    expect(() => run({ name: 't', khugepaged: { max_ptes_swap: 600 }, steps: [] })).toThrow(
      /khugepaged\.max_ptes_swap: expected a value the knob accepts, found 600 \(EINVAL\)/,
    );
    expect(() =>
      parseScenario(JSON.stringify({ name: 't', khugepaged: { pages: 1 }, steps: [] }), 't.json'),
    ).toThrow(
      /khugepaged\.pages: expected a khugepaged knob: one of max_ptes_none, max_ptes_swap, max_ptes_shared/,
    );
  });
});
