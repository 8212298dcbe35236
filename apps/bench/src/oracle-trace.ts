// The live-kernel side of the benchmarks that time the kernel from native/oracle.c's trace lines
// (MMSIM_ORACLE_TRACE=1): `step N OP: X ms` for each step, `full scan K after X ms` for ksmd.

import type { Report, Scenario } from '@mmsim/scenario';
import { oracleAvailability, runOnKernel } from '@mmsim/scenario/node';
import type { RunResult } from './types.ts';

const TRACE_ENV = 'MMSIM_ORACLE_TRACE';
const MS_PER_SEC = 1000;

/** The run's result when the live kernel cannot be used (not root, not Linux, offline): one metric
 * saying why; null when it can. */
export function kernelUnavailable(): RunResult | null {
  const av = oracleAvailability();
  if (av.available) return null;
  return {
    samples: [],
    counters: [],
    metrics: [{ name: `live kernel skipped: ${av.reason}`, unit: '', value: 0 }],
  };
}

/** runOnKernel() with the oracle's trace on (the variable restored after): every stderr line goes
 * to `onTrace`. */
export async function runOnKernelTraced(
  scenario: Scenario,
  onTrace: (line: string) => void,
): Promise<Report> {
  const prev = process.env[TRACE_ENV];
  process.env[TRACE_ENV] = '1';
  try {
    return await runOnKernel(scenario, { onStderr: onTrace });
  } finally {
    if (prev === undefined) delete process.env[TRACE_ENV];
    else process.env[TRACE_ENV] = prev;
  }
}

/** The live kernel's time of step `step` (0-based, a madvise) in seconds, from its trace line; the
 * trace has whole milliseconds, so at least 1 ms. Throws when the run fails (`who` names the
 * benchmark in the message). */
export async function kernelMadviseSeconds(scenario: Scenario, step: number, who: string): Promise<number> {
  const line = new RegExp(`step ${step} madvise: (\\d+) ms`);
  let ms = Number.NaN;
  const report = await runOnKernelTraced(scenario, (l) => {
    const mt = line.exec(l);
    if (mt !== null) ms = Number(mt[1]);
  });
  if (!report.ok || Number.isNaN(ms))
    throw new Error(`${who}: the kernel run failed: ${JSON.stringify(report.failures)}`);
  return Math.max(ms, 1) / MS_PER_SEC;
}
