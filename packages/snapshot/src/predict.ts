// `mmsim predict FILE --full-scans N`: the restored machine after exactly N full scans of ksmd,
// reported as `mmsim run --json` reports (counters, ksm_stat and smaps per process, by pid).

import { ksmSysfsWrite } from '@mmsim/ksm';
import { collectReport, type ReportEntry } from '@mmsim/scenario';
import type { Restored } from './restore.ts';

/** Larger than any snapshot's page count: one batch is then exactly one full scan (as the
 * oracle's exact scans, native/oracle.c ksm_scans()). */
const SCAN_BATCH = 1_000_000_000;

/** Runs `n` more exact full scans and returns the report after them (smaps over every VMA, without
 * the per-page sharing labels). The scenario runner's start counters are kept in `start`. */
export function predictFullScans(
  ctx: Restored,
  n: number,
  start: { full_scans: number; pages_scanned: number; pages_skipped: number },
  label = `after ${n} full scans`,
): ReportEntry {
  const { ksm } = ctx;
  const saved = ksm.pages_to_scan;
  ksm.pages_to_scan = SCAN_BATCH;
  try {
    ksm.runFullScans(n);
  } finally {
    ksm.pages_to_scan = saved;
    ksmSysfsWrite(ksm, 'run', '0');
  }
  return collectReport(ctx, label, start, { smaps: 'all', sharing: false });
}
