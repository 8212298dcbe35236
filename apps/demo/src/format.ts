// Text layout shared by the commands: aligned tables, the run/kernel report table.

import type { KsmCounter, Report } from '@mmsim/scenario';
import type { Colors } from './io.ts';

/** Visible width of a string that may hold ANSI colour codes. */
function width(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI escape codes
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/**
 * Rows as aligned columns separated by two spaces; `right[i]` right-aligns column i (numbers).
 * Trailing spaces are trimmed.
 */
export function table(rows: string[][], right: boolean[] = []): string {
  const widths: number[] = [];
  for (const r of rows) {
    for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, width(r[i]));
  }
  return rows
    .map((r) =>
      r
        .map((c, i) => {
          const pad = ' '.repeat(widths[i] - width(c));
          if (i === r.length - 1 && !right[i]) return c;
          return right[i] ? pad + c : c + pad;
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The counters in the order /sys/kernel/mm/ksm documents them. */
const COUNTER_ORDER: readonly KsmCounter[] = [
  'pages_shared',
  'pages_sharing',
  'pages_unshared',
  'pages_volatile',
  'pages_scanned',
  'pages_skipped',
  'full_scans',
  'stable_node_chains',
  'stable_node_dups',
  'ksm_zero_pages',
  'general_profit',
];

/**
 * A run's report as one table: a column per report step, rows for the KSM counters, then each
 * process's ksm_stat and smaps values; then the failures.
 */
export function formatReport(r: Report, c: Colors): string {
  const status = r.ok ? c.green('ok') : c.red('FAILED');
  const n = r.reports.length;
  let s = `${c.bold(`scenario ${r.scenario}`)} on the ${r.engine}: ${status} (${n} report${n === 1 ? '' : 's'}, ${r.failures.length} failure${r.failures.length === 1 ? '' : 's'})\n`;
  if (n > 0) {
    const rows: string[][] = [['', ...r.reports.map((e) => c.bold(e.label))]];
    const right = [false, ...r.reports.map(() => true)];
    const v = (x: number | boolean | undefined): string =>
      x === undefined ? '-' : typeof x === 'boolean' ? (x ? 'yes' : 'no') : String(x);
    for (const k of COUNTER_ORDER) rows.push([k, ...r.reports.map((e) => v(e.ksm[k]))]);
    const procs: string[] = [];
    for (const e of r.reports) for (const p of Object.keys(e.procs)) if (!procs.includes(p)) procs.push(p);
    for (const p of procs) {
      rows.push([c.cyan(`process ${p}`), ...r.reports.map(() => '')]);
      const fields = [
        'ksm_rmap_items',
        'ksm_merging_pages',
        'ksm_zero_pages',
        'ksm_process_profit',
        'ksm_merge_any',
        'ksm_mergeable',
      ] as const;
      for (const f of fields) rows.push([`  ${f}`, ...r.reports.map((e) => v(e.procs[p]?.[f]))]);
      for (const f of ['Rss', 'Anonymous', 'KSM'] as const)
        rows.push([`  ${f} (kB)`, ...r.reports.map((e) => v(e.procs[p]?.smaps[f]))]);
    }
    s += `\n${table(rows, right)}\n`;
  }
  for (const f of r.failures) s += `${c.red('failed:')} step ${f.step} (${f.op}): ${f.message}\n`;
  return s;
}
