// What ksmd will do to a machine's processes over wall time: KsmdThread (@mmsim/ksm) runs ksmd's
// batches and sleeps with a calibrated cost model, sampled at a fixed interval. The machine can come
// from a scenario (runOnSimulator's context) or from anything else that built one: prediction only
// needs the Ksm and the processes to name.

import { errnoName, PAGE_SIZE } from '@mmsim/core';
import {
  KSM_RUN_MERGE,
  type Ksm,
  type KsmCounters,
  type KsmdCostModel,
  KsmdThread,
  type KsmdWork,
  ksmSysfsRead,
  ksmSysfsWrite,
} from '@mmsim/ksm';
import type { Process } from '@mmsim/mm';
import { z } from 'zod';
import { KSM_INITIAL_KNOBS, type KsmInitialKnob } from './schema.ts';

const NS_PER_MS = 1e6;
const MS_PER_SEC = 1000;

/** Percentages of the final saving whose arrival time a prediction reports. */
export const PREDICT_MILESTONES = [50, 90, 99] as const;

/** The knobs --knob may set before ksmd starts (every writable one but run). */
export const PREDICT_KNOBS: readonly KsmInitialKnob[] = KSM_INITIAL_KNOBS;

/** Write order: the advisor's parameters, then the others, advisor_mode last (writing it resets
 * pages_to_scan; pages_to_scan is EINVAL while it is on). */
function knobOrder(name: string): number {
  if (name === 'advisor_mode') return 2;
  if (name.startsWith('advisor_')) return 0;
  return 1;
}

export interface PredictOptions {
  /** How long ksmd runs, in milliseconds. */
  forMs: number;
  /** The sampling interval in milliseconds (the first sample is at 0). */
  sampleMs: number;
  /** Knob values to write before ksmd starts (sysfs text), in any order. */
  knobs: Record<string, string>;
  model: KsmdCostModel;
  /** ksmd's CPU time before run=1, in ns (its runtime since boot; default 0). The scan-time
   * advisor's first decision reads it. */
  ksmdRuntimeBeforeNs?: number;
  /** Replay proven steady periods of full scans instead of simulating them (default true; the
   * result is the same either way: KsmdThread.fastForwardUntilNs). */
  fastForward?: boolean;
  /** Full scans the machine counts that are not the prediction's: a restored snapshot's priming
   * scans (@mmsim/snapshot Restored.start); samples count full_scans from here (default 0). */
  fullScansBefore?: number;
}

/** The counters at one instant. */
export interface PredictSample {
  /** Milliseconds since run=1. */
  ms: number;
  pages_shared: number;
  pages_sharing: number;
  pages_unshared: number;
  pages_volatile: number;
  ksm_zero_pages: number;
  general_profit: number;
  full_scans: number;
  pages_to_scan: number;
  /** ksmd's CPU time since run=1, in milliseconds. */
  cpuMs: number;
}

export interface PredictProc {
  name: string;
  ksm_rmap_items: number;
  ksm_merging_pages: number;
  ksm_zero_pages: number;
  ksm_process_profit: number;
}

export interface Prediction {
  forMs: number;
  sampleMs: number;
  /** The knobs ksmd ran with (as sysfs shows them, at the start). */
  knobs: Record<string, number | string>;
  samples: PredictSample[];
  /** For each of PREDICT_MILESTONES, the first sample time (ms) at which the saving
   * ((pages_sharing + ksm_zero_pages) pages) reached that share of its final value; null when the
   * final saving is 0. */
  milestones: { percent: number; ms: number | null }[];
  /** The saving at the end, in bytes. */
  savingBytes: number;
  /** Per process, at the end, largest profit first. */
  procs: PredictProc[];
  /** The work the cost model charged for, over the whole run. */
  work: KsmdWork;
  /** ksmd's CPU time over the run, in milliseconds. */
  cpuMs: number;
}

/** A knob a prediction cannot start with: not a knob, or a value the kernel refuses. */
export class KnobError extends Error {
  override readonly name = 'KnobError';
}

/** Writes the knobs in an order the kernel accepts; throws KnobError naming the knob and value. */
export function applyKnobs(ksm: Ksm, knobs: Record<string, string>): void {
  const names = Object.keys(knobs).sort((a, b) => knobOrder(a) - knobOrder(b));
  for (const name of names) {
    if (!(PREDICT_KNOBS as readonly string[]).includes(name))
      throw new KnobError(`unknown knob "${name}" (one of ${PREDICT_KNOBS.join(', ')})`);
    const err = ksmSysfsWrite(ksm, name, knobs[name]!);
    if (err !== 0)
      throw new KnobError(`${name}=${knobs[name]}: the kernel refuses this value (${errnoName(-err)})`);
  }
}

/**
 * Every knob of PREDICT_KNOBS the machine has, as sysfs text (a choice knob as its chosen value),
 * in an order a live kernel accepts them in whatever it had before: advisor_mode none first (no
 * pages_to_scan is accepted while the advisor runs), then the rest, advisor_mode last (writing it
 * resets pages_to_scan). The live side of `mmsim verify --for` sets these.
 */
export function ksmdStartKnobs(ksm: Ksm): [string, string][] {
  const out: [string, string][] = [['advisor_mode', 'none']];
  const names = PREDICT_KNOBS.filter((n) => ksmSysfsRead(ksm, n) !== undefined).sort(
    (a, b) => knobOrder(a) - knobOrder(b),
  );
  for (const name of names) {
    const text = ksmSysfsRead(ksm, name)!;
    out.push([name, /\[(\S+)\]/.exec(text)?.[1] ?? text]);
  }
  return out;
}

function sample(ksm: Ksm, ms: number, cpuNs: number, fullScansBefore: number): PredictSample {
  const c: KsmCounters = ksm.counters();
  return {
    ms,
    pages_shared: c.pages_shared,
    pages_sharing: c.pages_sharing,
    pages_unshared: c.pages_unshared,
    pages_volatile: c.pages_volatile,
    ksm_zero_pages: c.ksm_zero_pages,
    general_profit: c.general_profit,
    full_scans: c.full_scans - fullScansBefore,
    pages_to_scan: ksm.pages_to_scan,
    cpuMs: cpuNs / NS_PER_MS,
  };
}

const saving = (s: PredictSample): number => s.pages_sharing + s.ksm_zero_pages;

/**
 * Runs ksmd on the machine of `ksm` for `opts.forMs` of simulated wall time, from run=1 with the
 * given knobs; `procs` names the processes whose profit is reported. `onSample` sees each sample
 * as it is taken (progress; it must not change the machine). The machine is changed: ksmd ran on it.
 */
export function predictKsmd(
  ksm: Ksm,
  procs: ReadonlyMap<string, Process>,
  opts: PredictOptions,
  onSample?: (s: PredictSample) => void,
): Prediction {
  applyKnobs(ksm, opts.knobs);
  const knobs: Record<string, number | string> = {
    pages_to_scan: ksm.pages_to_scan,
    sleep_millisecs: ksm.sleep_millisecs,
    advisor_mode: ksm.advisor_mode,
    smart_scan: ksm.smart_scan ? 1 : 0,
    use_zero_pages: ksm.use_zero_pages ? 1 : 0,
    max_page_sharing: ksm.max_page_sharing,
  };
  ksm.run = KSM_RUN_MERGE;
  const ksmd = new KsmdThread(ksm, opts.model, opts.ksmdRuntimeBeforeNs ?? 0);
  // steady periods of full scans are replayed, exactly, up to the end of the prediction
  if (opts.fastForward !== false) ksmd.fastForwardUntilNs = opts.forMs * NS_PER_MS;
  const samples: PredictSample[] = [];
  for (let ms = 0; ; ms = Math.min(ms + opts.sampleMs, opts.forMs)) {
    // between two calls only samples are read
    ksmd.runUntil(ms * NS_PER_MS, ms > 0);
    const s = sample(ksm, ms, ksmd.cpuNs(), opts.fullScansBefore ?? 0);
    samples.push(s);
    onSample?.(s);
    if (ms >= opts.forMs) break;
  }
  const last = samples[samples.length - 1]!;
  const final = saving(last);
  const milestones = PREDICT_MILESTONES.map((percent) => {
    if (final <= 0) return { percent, ms: null };
    const s = samples.find((x) => saving(x) * 100 >= final * percent);
    return { percent, ms: s === undefined ? null : s.ms };
  });
  const out: PredictProc[] = [];
  for (const [name, p] of procs) {
    if (p.mm.mm_users === 0) continue;
    const st = ksm.ksm_stat(p.mm);
    out.push({
      name,
      ksm_rmap_items: st.ksm_rmap_items,
      ksm_merging_pages: st.ksm_merging_pages,
      ksm_zero_pages: st.ksm_zero_pages,
      ksm_process_profit: st.ksm_process_profit,
    });
  }
  out.sort((a, b) => b.ksm_process_profit - a.ksm_process_profit);
  return {
    forMs: opts.forMs,
    sampleMs: opts.sampleMs,
    knobs,
    samples,
    milestones,
    savingBytes: final * PAGE_SIZE,
    procs: out,
    work: { ...ksmd.work },
    cpuMs: last.cpuMs,
  };
}

const nonNegative = z.number().finite().nonnegative();

/** The cost model file (`mmsim predict` reads it; `pnpm --filter @mmsim/bench calibrate` writes it). */
export const ksmdCostFileSchema = z.strictObject({
  /** 2: `compared` is what memcmp() read (in 4 KiB) and `compares` the calls; version 1 charged
   * 4 KiB per call as `compared`. */
  format: z.literal('mmsim-ksmd-cost-2'),
  /** Where it was measured: kernel release, CPU model, cores, host name. */
  machine: z.strictObject({
    kernel: z.string(),
    cpu: z.string(),
    cores: z.number().int().positive(),
    hostname: z.string(),
    load: z.number().optional(),
  }),
  measuredAt: z.string(),
  model: z.strictObject({
    ns: z.strictObject({
      batches: nonNegative,
      scans: nonNegative,
      pages: nonNegative,
      skipped: nonNegative,
      hashed: nonNegative,
      compares: nonNegative,
      compared: nonNegative,
      // models calibrated before cold compares were counted charge nothing for them
      cold: nonNegative.default(0),
      flushes: nonNegative,
      // models calibrated before page-cache pages were simulated charge nothing for them
      nonanon: nonNegative.default(0),
      // and before the VMAs the scan steps on to were, nothing for those
      vmas: nonNegative.default(0),
    }),
    hz: z.number().int().positive(),
    wakeupLatencyNs: nonNegative,
  }),
  /** The measurements the model was fitted on, and its error on each. */
  fit: z.array(
    z.strictObject({
      what: z.string(),
      work: z.record(z.string(), z.number()),
      kernelNs: z.number(),
      modelNs: z.number(),
    }),
  ),
});
export type KsmdCostFile = z.infer<typeof ksmdCostFileSchema>;

const DURATION = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
const DURATION_UNIT_MS: Record<string, number> = {
  ms: 1,
  s: MS_PER_SEC,
  m: 60 * MS_PER_SEC,
  h: 3600 * MS_PER_SEC,
};

/** The milliseconds a duration such as "90s", "30m", "1h", "1h30m" or "1500ms" names, or null. */
export function parseDuration(text: string): number | null {
  if (!DURATION.test(text)) return null;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
  return Math.round(total);
}
