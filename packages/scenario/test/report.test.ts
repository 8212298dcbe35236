import { describe, expect, it } from 'vitest';
import {
  compareReports,
  formatReportDiff,
  type ProcReport,
  type Report,
  reportSchema,
} from '../src/index.ts';

const proc = (over: Partial<ProcReport> = {}): ProcReport => ({
  ksm_rmap_items: 10,
  ksm_zero_pages: 0,
  ksm_merging_pages: 10,
  ksm_process_profit: 40320,
  ksm_merge_any: false,
  ksm_mergeable: true,
  smaps: { Rss: 40, Anonymous: 40, KSM: 40 },
  ...over,
});

const report = (engine: Report['engine'], over: (r: Report) => void = () => {}): Report => {
  const r: Report = {
    scenario: 's',
    engine,
    reports: [
      {
        label: 'after',
        ksm: { full_scans: 2, pages_shared: 1, pages_sharing: 9 },
        procs: { a: proc() },
        sharing: { 'a/r': [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 'a/z': [-2, -1] },
      },
    ],
    ok: true,
    failures: [],
  };
  over(r);
  return r;
};

describe('compareReports', () => {
  it('equal reports are a full match', () => {
    const d = compareReports(report('kernel'), report('simulator'));
    expect(d.equal).toBe(true);
    expect(d.entries).toEqual([]);
    expect(formatReportDiff(d)).toBe('full match (1 reports)');
    expect(reportSchema.safeParse(report('kernel')).success).toBe(true);
  });

  it('finds counter, ksm_stat, smaps and missing-counter differences', () => {
    const b = report('simulator', (r) => {
      const e = r.reports[0]!;
      e.ksm.pages_sharing = 8;
      delete e.ksm.full_scans;
      e.procs.a = proc({
        ksm_merging_pages: 9,
        ksm_merge_any: true,
        smaps: { Rss: 40, Anonymous: 40, KSM: 36 },
      });
    });
    const d = compareReports(report('kernel'), b);
    expect(d.equal).toBe(false);
    expect(d.entries).toHaveLength(1);
    const e = d.entries[0]!;
    expect(e.counters).toEqual([
      { name: 'full_scans', a: 2, b: undefined },
      { name: 'pages_sharing', a: 9, b: 8 },
    ]);
    expect(e.procs).toEqual([
      {
        proc: 'a',
        fields: [
          { name: 'ksm_merging_pages', a: 10, b: 9 },
          { name: 'ksm_merge_any', a: false, b: true },
          { name: 'smaps.KSM', a: 40, b: 36 },
        ],
      },
    ]);
    const text = formatReportDiff(d);
    expect(text).toContain('[after] pages_sharing');
    expect(text).toMatch(/\[after\] a\.smaps\.KSM\s+40\s+36/);
  });

  it('sharing labels: how many pages differ, and the first few', () => {
    const b = report('simulator', (r) => {
      const s = r.reports[0]!.sharing;
      s['a/r'] = [0, 1, 0, 2, 0, 3, 0, 4, 0, 5];
      s['a/z'] = [-2, -1, -1];
      s['b/r'] = [0];
    });
    const d = compareReports(report('kernel'), b);
    const sh = d.entries[0]!.sharing;
    expect(sh[0]).toEqual({
      key: 'a/r',
      lengthA: 10,
      lengthB: 10,
      differing: 5,
      first: [
        { page: 1, a: 0, b: 1 },
        { page: 3, a: 0, b: 2 },
        { page: 5, a: 0, b: 3 },
        { page: 7, a: 0, b: 4 },
        { page: 9, a: 0, b: 5 },
      ],
    });
    expect(sh[1]).toMatchObject({ key: 'a/z', lengthA: 2, lengthB: 3, differing: 0 });
    expect(sh[2]).toMatchObject({ key: 'b/r', missing: 'a' });
    expect(formatReportDiff(d, ['kernel', 'sim'])).toContain(
      'sharing a/r: 5 pages differ, first: 1, 3, 5, 7, 9',
    );
  });

  it('missing processes, report counts, labels and ok', () => {
    const b = report('simulator', (r) => {
      r.reports[0]!.label = 'later';
      delete r.reports[0]!.procs.a;
      r.reports.push({ ...r.reports[0]!, label: 'extra' });
      r.ok = false;
    });
    const d = compareReports(report('kernel'), b);
    expect(d.equal).toBe(false);
    expect(d.ok).toEqual([true, false]);
    expect(d.reportCounts).toEqual([1, 2]);
    expect(d.entries[0]!.labelB).toBe('later');
    expect(d.entries[0]!.procs).toEqual([{ proc: 'a', missing: 'b', fields: [] }]);
  });
});
