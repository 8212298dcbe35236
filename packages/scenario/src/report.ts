// The report both engines print (scenario-format.md, "Report") and a structured diff of two.
import { z } from 'zod';
import {
  KHUGEPAGED_COUNTERS,
  type KhugepagedCounter,
  KSM_COUNTERS,
  KSM_STAT_FLAGS,
  KSM_STAT_NUMBERS,
  type KsmCounter,
  SMAPS_FIELDS,
  type SmapsField,
} from './schema.ts';

/** Sharing labels: one per page. */
export const LABEL_NOT_PRESENT = -1;
export const LABEL_ZERO_PAGE = -2;
/** Swapped or another non-present entry (migration, marker...). */
export const LABEL_OTHER = -3;

/** One process at one `report` step: /proc/<pid>/ksm_stat, and smaps summed over the scenario's
 * regions of that process (kB). A field the kernel's ksm_stat lacks is absent (Linux 6.1 has
 * ksm_rmap_items only, and ksm_merging_pages in /proc/<pid>/ksm_merging_pages). */
export interface ProcReport {
  ksm_rmap_items: number;
  ksm_zero_pages?: number;
  ksm_merging_pages?: number;
  ksm_process_profit?: number;
  ksm_merge_any?: boolean;
  ksm_mergeable?: boolean;
  /** KSM is absent where smaps has no "KSM:" line (Linux 6.1). */
  smaps: Record<Exclude<SmapsField, 'KSM'>, number> & { KSM?: number };
}

/** One `report` step. `procs` holds the live processes; `sharing` one label array per
 * "proc/region" of a live process, in spawn order, region mmap order and page order. */
export interface ReportEntry {
  label: string;
  ksm: Partial<Record<KsmCounter, number>>;
  /** khugepaged's counters, when the scenario uses khugepaged. */
  khugepaged?: Record<KhugepagedCounter, number>;
  procs: Record<string, ProcReport>;
  sharing: Record<string, number[]>;
}

/** A step that failed: an `expect` mismatch, an errno other than the expected one, or an engine
 * limitation. `step` indexes `steps`. */
export interface Failure {
  step: number;
  op: string;
  message: string;
}

export type Engine = 'kernel' | 'simulator';

/** What `mmsim run --json` and the kernel oracle print. */
export interface Report {
  scenario: string;
  engine: Engine;
  reports: ReportEntry[];
  ok: boolean;
  failures: Failure[];
}

const count = z.number().int();
const procReportSchema = z.strictObject({
  ksm_rmap_items: count,
  ksm_zero_pages: count.optional(),
  ksm_merging_pages: count.optional(),
  ksm_process_profit: count.optional(),
  ksm_merge_any: z.boolean().optional(),
  ksm_mergeable: z.boolean().optional(),
  smaps: z.strictObject({ Rss: count, Anonymous: count, KSM: count.optional() }),
});
export const reportEntrySchema = z.strictObject({
  label: z.string(),
  ksm: z.partialRecord(z.enum(KSM_COUNTERS), count),
  khugepaged: z.strictObject({ full_scans: count, pages_collapsed: count }).optional(),
  procs: z.record(z.string(), procReportSchema),
  sharing: z.record(z.string(), z.array(count)),
});
export const reportSchema = z.strictObject({
  scenario: z.string(),
  engine: z.enum(['kernel', 'simulator']),
  reports: z.array(reportEntrySchema),
  ok: z.boolean(),
  failures: z.array(z.strictObject({ step: count, op: z.string(), message: z.string() })),
});

/** A value that differs; `undefined` when one side lacks it. */
export interface ValueDiff {
  name: string;
  a: number | boolean | undefined;
  b: number | boolean | undefined;
}

export interface ProcDiff {
  proc: string;
  /** The process is in only one report. */
  missing?: 'a' | 'b';
  /** ksm_stat fields and `smaps.Rss` etc. that differ. */
  fields: ValueDiff[];
}

export interface SharingDiff {
  key: string;
  missing?: 'a' | 'b';
  lengthA: number;
  lengthB: number;
  /** Pages whose labels differ (over the common length). */
  differing: number;
  /** The first differing page indices (at most SHARING_SAMPLE), with both labels. */
  first: { page: number; a: number; b: number }[];
}

export interface EntryDiff {
  /** Index in `reports`. */
  index: number;
  label: string;
  /** The labels of the two entries differ (reports are paired by position). */
  labelB?: string;
  counters: ValueDiff[];
  procs: ProcDiff[];
  sharing: SharingDiff[];
}

export interface ReportDiff {
  /** True when every counter, ksm_stat value, smaps value and sharing label array is equal and
   * both runs had the same `ok`. */
  equal: boolean;
  engines: [Engine, Engine];
  ok: [boolean, boolean];
  /** Entries only one side has (paired by position). */
  reportCounts: [number, number];
  entries: EntryDiff[];
}

/** How many differing pages a SharingDiff lists. */
export const SHARING_SAMPLE = 8;

/**
 * Compares two reports entry by entry (paired by position; labels should match). Counters present
 * in only one report count as different, so an engine that lacks a counter is visible.
 */
export function compareReports(a: Report, b: Report): ReportDiff {
  const entries: EntryDiff[] = [];
  const n = Math.max(a.reports.length, b.reports.length);
  for (let i = 0; i < n; i++) {
    const ea = a.reports[i];
    const eb = b.reports[i];
    if (ea === undefined || eb === undefined) continue;
    const d = compareEntries(i, ea, eb);
    if (d.labelB !== undefined || d.counters.length > 0 || d.procs.length > 0 || d.sharing.length > 0)
      entries.push(d);
  }
  const equal = entries.length === 0 && a.reports.length === b.reports.length && a.ok === b.ok;
  return {
    equal,
    engines: [a.engine, b.engine],
    ok: [a.ok, b.ok],
    reportCounts: [a.reports.length, b.reports.length],
    entries,
  };
}

function compareEntries(index: number, a: ReportEntry, b: ReportEntry): EntryDiff {
  const d: EntryDiff = { index, label: a.label, counters: [], procs: [], sharing: [] };
  if (a.label !== b.label) d.labelB = b.label;
  for (const name of unionKeys(a.ksm, b.ksm, KSM_COUNTERS)) {
    const va = a.ksm[name as KsmCounter];
    const vb = b.ksm[name as KsmCounter];
    if (va !== vb) d.counters.push({ name, a: va, b: vb });
  }
  if (a.khugepaged !== undefined || b.khugepaged !== undefined) {
    for (const name of KHUGEPAGED_COUNTERS) {
      const va = a.khugepaged?.[name];
      const vb = b.khugepaged?.[name];
      if (va !== vb) d.counters.push({ name: `khugepaged.${name}`, a: va, b: vb });
    }
  }
  for (const proc of unionKeys(a.procs, b.procs)) {
    const pa = a.procs[proc];
    const pb = b.procs[proc];
    if (pa === undefined || pb === undefined) {
      d.procs.push({ proc, missing: pa === undefined ? 'a' : 'b', fields: [] });
      continue;
    }
    const fields: ValueDiff[] = [];
    for (const f of [...KSM_STAT_NUMBERS, ...KSM_STAT_FLAGS]) {
      if (pa[f] !== pb[f]) fields.push({ name: f, a: pa[f], b: pb[f] });
    }
    for (const f of SMAPS_FIELDS) {
      if (pa.smaps[f] !== pb.smaps[f]) fields.push({ name: `smaps.${f}`, a: pa.smaps[f], b: pb.smaps[f] });
    }
    if (fields.length > 0) d.procs.push({ proc, fields });
  }
  for (const key of unionKeys(a.sharing, b.sharing)) {
    const la = a.sharing[key];
    const lb = b.sharing[key];
    if (la === undefined || lb === undefined) {
      d.sharing.push({
        key,
        missing: la === undefined ? 'a' : 'b',
        lengthA: la?.length ?? 0,
        lengthB: lb?.length ?? 0,
        differing: 0,
        first: [],
      });
      continue;
    }
    let differing = 0;
    const first: SharingDiff['first'] = [];
    const len = Math.min(la.length, lb.length);
    for (let p = 0; p < len; p++) {
      if (la[p] !== lb[p]) {
        differing++;
        if (first.length < SHARING_SAMPLE) first.push({ page: p, a: la[p]!, b: lb[p]! });
      }
    }
    if (differing > 0 || la.length !== lb.length) {
      d.sharing.push({ key, lengthA: la.length, lengthB: lb.length, differing, first });
    }
  }
  return d;
}

/** Keys of both objects: `order` first (in its order), then the rest in a's then b's order. */
function unionKeys(a: object, b: object, order: readonly string[] = []): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const k of [...order, ...Object.keys(a), ...Object.keys(b)]) {
    if (seen.has(k) || (!(k in a) && !(k in b))) continue;
    seen.add(k);
    out.push(k);
  }
  return out;
}

/** A readable table of a diff, one difference per line, `a` and `b` named by `names`. */
export function formatReportDiff(
  diff: ReportDiff,
  names: [string, string] = [diff.engines[0], diff.engines[1]],
): string {
  if (diff.equal) return `full match (${diff.reportCounts[0]} reports)`;
  const rows: [string, string, string][] = [['', names[0], names[1]]];
  const v = (x: number | boolean | undefined): string => (x === undefined ? '-' : String(x));
  if (diff.ok[0] !== diff.ok[1]) rows.push(['ok', String(diff.ok[0]), String(diff.ok[1])]);
  if (diff.reportCounts[0] !== diff.reportCounts[1]) {
    rows.push(['reports', String(diff.reportCounts[0]), String(diff.reportCounts[1])]);
  }
  for (const e of diff.entries) {
    const at = `[${e.label}]`;
    if (e.labelB !== undefined) rows.push([`${at} label`, e.label, e.labelB]);
    for (const c of e.counters) rows.push([`${at} ${c.name}`, v(c.a), v(c.b)]);
    for (const p of e.procs) {
      if (p.missing !== undefined) {
        rows.push([
          `${at} ${p.proc}`,
          p.missing === 'a' ? 'absent' : 'present',
          p.missing === 'b' ? 'absent' : 'present',
        ]);
      }
      for (const f of p.fields) rows.push([`${at} ${p.proc}.${f.name}`, v(f.a), v(f.b)]);
    }
    for (const s of e.sharing) {
      if (s.missing !== undefined) {
        rows.push([
          `${at} sharing ${s.key}`,
          s.missing === 'a' ? 'absent' : `${s.lengthA} pages`,
          s.missing === 'b' ? 'absent' : `${s.lengthB} pages`,
        ]);
        continue;
      }
      const len = s.lengthA === s.lengthB ? '' : ` (lengths ${s.lengthA} vs ${s.lengthB})`;
      const sample = s.first.map((f) => `${f.page}`).join(', ');
      rows.push([`${at} sharing ${s.key}: ${s.differing} pages differ${len}, first: ${sample}`, '', '']);
      for (const f of s.first) rows.push([`${at}   ${s.key}[${f.page}]`, String(f.a), String(f.b)]);
    }
  }
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max(...rows.map((r) => r[1].length));
  return rows.map((r) => `${r[0].padEnd(w0)}  ${r[1].padStart(w1)}  ${r[2]}`.trimEnd()).join('\n');
}
