// `mmsim verify --snapshot`: the prediction against the live ksmd over the very processes of the
// snapshot, full scan count by full scan count. Everything the kernel reports is compared: each KSM
// counter, and each process's ksm_stat and smaps KSM/Anonymous (Rss is not: it includes pages
// restore leaves out, the special mappings' ([vdso]) and shared file mappings' pages; with the
// page cache of private file mappings restored it is within a few pages of the kernel's).

import { ksmSysfsRead } from '@mmsim/ksm';
import type { ReportEntry } from '@mmsim/scenario';
import { predictFullScans } from './predict.ts';
import type { Restored } from './restore.ts';
import type { KsmSession, LiveScan } from './session.ts';

/** Knobs that change what a full scan does: the live ksmd gets the prediction's values. */
const SCAN_KNOBS = [
  'max_page_sharing',
  'merge_across_nodes',
  'use_zero_pages',
  'smart_scan',
  'stable_node_chains_prune_millisecs',
];
/** Cumulative counters: the live ones count from the start of the verification. */
const CUMULATIVE = ['full_scans', 'pages_scanned', 'pages_skipped'];
/** smaps fields compared. */
const SMAPS_COMPARED = ['KSM', 'Anonymous'];

export interface VerifyStep {
  /** full scans done so far */
  fullScans: number;
  predicted: ReportEntry;
  live: LiveScan;
  /** one line per difference; empty when equal */
  diffs: string[];
}

/** Differences between a prediction and what the live kernel reported. */
export function compareLive(predicted: ReportEntry, live: LiveScan): string[] {
  const diffs: string[] = [];
  for (const [k, v] of Object.entries(predicted.ksm)) {
    const got = live.ksm[k];
    if (got !== undefined && got !== v) diffs.push(`ksm.${k}: predicted ${v}, kernel ${got}`);
  }
  for (const [pid, pr] of Object.entries(predicted.procs)) {
    const lp = live.procs[pid];
    if (lp === undefined) {
      diffs.push(`pid ${pid}: not reported by the kernel`);
      continue;
    }
    for (const [f, v] of Object.entries(pr)) {
      if (f === 'smaps') continue;
      const got = lp[f];
      if (got !== undefined && got !== v) diffs.push(`${pid}.${f}: predicted ${v}, kernel ${got}`);
    }
    const ls = (lp.smaps ?? {}) as Record<string, number>;
    const ps = pr.smaps as Record<string, number | undefined>;
    for (const f of SMAPS_COMPARED) {
      if (ps[f] === undefined || ls[f] === undefined) continue;
      if (ps[f] !== ls[f]) diffs.push(`${pid}.smaps.${f}: predicted ${ps[f]} kB, kernel ${ls[f]} kB`);
    }
  }
  return diffs;
}

/**
 * Sets the live ksmd's scan knobs to the prediction's, then for each count in `fullScans`
 * (increasing) runs the live ksmd and the simulated one to that many full scans and compares
 * (the cumulative counters from where each side was: the session's now, the restore's start).
 */
export async function verifyAgainstLive(
  ctx: Restored,
  session: KsmSession,
  fullScans: number[],
): Promise<VerifyStep[]> {
  for (const k of SCAN_KNOBS) {
    const v = ksmSysfsRead(ctx.ksm, k);
    if (v === undefined) continue;
    try {
      await session.knob(k, v);
    } catch (e) {
      // a knob this kernel lacks (merge_across_nodes without NUMA) behaves as its default
      if (!String((e as Error).message).includes('No such file')) throw e;
    }
  }
  // the session may have scanned before (the processes merged pages, then were snapshotted)
  const base = (await session.read()).ksm;
  const out: VerifyStep[] = [];
  let done = 0;
  for (const n of fullScans) {
    const predicted = predictFullScans(ctx, n - done, ctx.start, `after ${n} full scans`);
    const live = await session.scan(n - done);
    for (const k of CUMULATIVE)
      if (live.ksm[k] !== undefined && base[k] !== undefined) live.ksm[k] -= base[k];
    done = n;
    out.push({ fullScans: n, predicted, live, diffs: compareLive(predicted, live) });
  }
  return out;
}
