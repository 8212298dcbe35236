// mmsim verify <file> --for DURATION: the prediction of `mmsim predict` against the live ksmd on
// the same processes (the oracle builds them as the simulator does), with the same knobs, for the
// same time: pages_sharing each second and ksmd's CPU time.

import { readdirSync, readFileSync } from 'node:fs';
import { type KsmdCostFile, ksmdStartKnobs, type Prediction } from '@mmsim/scenario';
import { type KsmdSample, runOnKernel } from '@mmsim/scenario/node';
import { captureSnapshot, KsmSession } from '@mmsim/snapshot/node';
import { intOption } from '../command.ts';
import { table } from '../format.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { requireKernel, WORTH_SHOWING } from './kernel.ts';
import {
  durationOption,
  fmtTime,
  knobOptions,
  loadCost,
  type PredictMachine,
  predictMachine,
  runPrediction,
} from './predict.ts';
import { launchCopies, MAX_COPIES, MAX_SETTLE_SECONDS } from './snapshot.ts';
import { stoppedPids } from './verify-snapshot.ts';

const MS_PER_SEC = 1000;
const PERCENT = 100;
/** The bounds `verify --for` holds the prediction to: pages_sharing within 5% each second, ksmd's
 * CPU time within 20% over the run. */
export const SHARING_TOLERANCE = 0.05;
export const CPU_TOLERANCE = 0.2;
/** Samples where the predicted pages_sharing is below this share of its final value are shown
 * but not held to the 5%: while KSM is still ramping up, a relative error says little. */
export const RAMP_FLOOR = 0.05;
/** Live runs are held to a few minutes: they hold the KSM lock other users wait on. */
const MAX_LIVE_MS = 10 * 60 * MS_PER_SEC;

export interface VerifyForOptions {
  for?: string;
  copies?: string;
  settle?: string;
  withContents?: boolean;
  knob?: string[];
  advisor?: string;
  model?: string;
  json?: boolean;
  progress?: boolean;
}

export interface SampleComparison {
  ms: number;
  predicted: number;
  live: number;
  /** |live - predicted| / predicted; null where predicted is 0 (or below RAMP_FLOOR of its end). */
  deviation: number | null;
}

export interface ForComparison {
  forMs: number;
  samples: SampleComparison[];
  maxDeviation: number;
  sharingOk: boolean;
  /** liveMs: utime+stime; liveRuntimeMs: schedstat's sum_exec_runtime (-1 without schedstats),
   * which the deviation is taken of where there. */
  cpu: { predictedMs: number; liveMs: number; liveRuntimeMs: number; deviation: number; ok: boolean };
  ok: boolean;
}

/** Compares a prediction with the live samples (sample i at i seconds after run=1). */
export function compareFor(p: Prediction, live: KsmdSample[]): ForComparison {
  const final = p.samples[p.samples.length - 1]!.pages_sharing;
  const samples: SampleComparison[] = [];
  let maxDeviation = 0;
  const n = Math.min(p.samples.length, live.length);
  for (let i = 0; i < n; i++) {
    const pr = p.samples[i]!.pages_sharing;
    const lv = live[i]!.pages_sharing;
    const held = pr > 0 && pr >= final * RAMP_FLOOR;
    const deviation = held ? Math.abs(lv - pr) / pr : null;
    if (deviation !== null) maxDeviation = Math.max(maxDeviation, deviation);
    samples.push({ ms: p.samples[i]!.ms, predicted: pr, live: lv, deviation });
  }
  const first = live[0]!;
  const last = live[n - 1]!;
  const liveMs = last.cpuMs - first.cpuMs;
  const liveRuntimeMs = first.runtimeNs >= 0 ? (last.runtimeNs - first.runtimeNs) / 1e6 : -1;
  const predictedMs = p.samples[n - 1]!.cpuMs;
  // sum_exec_runtime where the kernel has schedstats (what the model was calibrated on, to the
  // nanosecond), else utime+stime (10 ms ticks: 4% of a 0.25 s run)
  const measuredMs = liveRuntimeMs >= 0 ? liveRuntimeMs : liveMs;
  const cpuDeviation = Math.abs(measuredMs - predictedMs) / Math.max(predictedMs, 1);
  const sharingOk = maxDeviation <= SHARING_TOLERANCE;
  const cpuOk = cpuDeviation <= CPU_TOLERANCE;
  return {
    forMs: p.forMs,
    samples,
    maxDeviation,
    sharingOk,
    cpu: { predictedMs, liveMs, liveRuntimeMs, deviation: cpuDeviation, ok: cpuOk },
    ok: sharingOk && cpuOk,
  };
}

function pct(x: number | null): string {
  return x === null ? '-' : `${(x * PERCENT).toFixed(1)}%`;
}

/** The live ksmd over a scenario's processes (the oracle builds them), sampled each second. */
async function liveOfScenario(io: Io, machine: PredictMachine, forMs: number): Promise<KsmdSample[]> {
  const loaded = machine.loaded!;
  const live: KsmdSample[] = [];
  const report = await runOnKernel(loaded.scenario, {
    ksmdFor: { ms: forMs, sampleMs: MS_PER_SEC, onSample: (s) => live.push(s) },
    onStderr: (line) => {
      if (WORTH_SHOWING.test(line)) io.err(`${line}\n`);
    },
  });
  if (!report.ok)
    throw new UsageError(
      `the live kernel could not run ${loaded.file}: ${report.failures.map((f) => `step ${f.step} ${f.op}: ${f.message}`).join('; ')}`,
    );
  return live;
}

/** The live ksmd in `session` at the knobs the simulated ksmd started with, sampled each second. */
async function liveOfSession(
  session: KsmSession,
  knobs: [string, string][],
  forMs: number,
): Promise<KsmdSample[]> {
  const live: KsmdSample[] = [];
  for (const [k, v] of knobs) await session.knob(k, v);
  await session.timed(forMs, MS_PER_SEC, (s) => live.push(s));
  return live;
}

interface Compared {
  machine: PredictMachine;
  p: Prediction;
  live: KsmdSample[];
}

/** The prediction and the live ksmd over a snapshot's very processes: FILE's stopped processes,
 * or (with a command) `--copies` merge-enabled copies started, snapshotted into FILE and kept
 * stopped, all in one session (one hold of the KSM lock). */
async function snapshotFor(
  io: Io,
  file: string,
  command: string[],
  o: VerifyForOptions,
  knobs: Record<string, string>,
  run: (machine: PredictMachine) => Prediction,
): Promise<Compared> {
  const forMs = forMsOf(o);
  let session: KsmSession;
  let machine: PredictMachine;
  if (command.length === 0) {
    machine = predictMachine(io, file, knobs);
    session = await KsmSession.open(stoppedPids(machine.snapshot!, file));
  } else {
    const copies = intOption('--copies', o.copies ?? '1', 1, MAX_COPIES);
    const settle = intOption('--settle', o.settle ?? '2', 0, MAX_SETTLE_SECONDS);
    session = await KsmSession.open();
    try {
      const pids = await launchCopies(session, command, copies, settle);
      captureSnapshot(pids, file, { withContents: o.withContents === true, keepStopped: true });
      machine = predictMachine(io, file, knobs);
    } catch (e) {
      await session.close();
      throw e;
    }
  }
  try {
    // read before ksmd runs: the advisor changes pages_to_scan
    const start = ksmdStartKnobs(machine.ctx.ksm);
    const p = run(machine);
    return { machine, p, live: await liveOfSession(session, start, forMs) };
  } finally {
    await session.close();
  }
}

/** The live ksmd's sum_exec_runtime (ns, /proc/<ksmd>/schedstat), 0 where it cannot be read. */
export function ksmdRuntimeNs(): number {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'latin1').trim() !== 'ksmd') continue;
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'latin1').split(' ')[0]) || 0;
    } catch {}
  }
  return 0;
}

function forMsOf(o: VerifyForOptions): number {
  return durationOption('--for', o.for, MAX_LIVE_MS);
}

/** `mmsim verify FILE --for D` (a scenario) and `mmsim verify --snapshot FILE --for D [-- CMD]`. */
export async function verifyFor(
  io: Io,
  file: string,
  o: VerifyForOptions,
  snapshot: { command: string[] } | null = null,
): Promise<number> {
  const forMs = forMsOf(o);
  const knobs = knobOptions(o.knob, o.advisor);
  const cost: KsmdCostFile = loadCost(o.model);
  // the live ksmd's runtime so far, which its advisor's first decision reads
  const before = ksmdRuntimeNs();
  const run = (m: PredictMachine): Prediction =>
    runPrediction(io, m, forMs, MS_PER_SEC, cost, o.progress !== false, before);
  let got: Compared;
  if (snapshot === null) {
    const machine = predictMachine(io, file, knobs);
    if (machine.snapshot !== null)
      throw new UsageError(
        `${file} is a snapshot: give it as --snapshot ${file} (its processes kept stopped)`,
      );
    requireKernel();
    const p = run(machine);
    got = { machine, p, live: await liveOfScenario(io, machine, forMs) };
  } else {
    requireKernel();
    got = await snapshotFor(io, file, snapshot.command, o, knobs, run);
  }
  const { machine, p, live } = got;
  if (live.length < 2) throw new UsageError('the live kernel gave no ksmd samples');
  const cmp = compareFor(p, live);
  if (o.json === true)
    printJson(io, {
      ...(machine.snapshot === null ? { scenario: machine.name } : { snapshot: machine.name }),
      ...cmp,
      live,
      predicted: p.samples,
    });
  else {
    const c = io.colors;
    const rows: string[][] = [['time', 'predicted', 'live', 'deviation'].map((h) => c.bold(h))];
    for (const s of cmp.samples)
      rows.push([fmtTime(s.ms), String(s.predicted), String(s.live), pct(s.deviation)]);
    io.out(`${c.bold(`ksmd for ${fmtTime(forMs)} on ${machine.name}`)}: pages_sharing, predicted and live\n`);
    io.out(`${table(rows, [false, true, true, true])}\n\n`);
    const mark = (ok: boolean): string => (ok ? c.green('ok') : c.red('OUTSIDE'));
    io.out(
      `pages_sharing: max deviation ${pct(cmp.maxDeviation)} (bound ${pct(SHARING_TOLERANCE)}, samples from ${pct(RAMP_FLOOR)} of the final value): ${mark(cmp.sharingOk)}\n`,
    );
    io.out(
      `ksmd CPU: predicted ${(cmp.cpu.predictedMs / MS_PER_SEC).toFixed(3)} s, live ${cmp.cpu.liveRuntimeMs >= 0 ? `${(cmp.cpu.liveRuntimeMs / MS_PER_SEC).toFixed(3)} s (schedstat; utime+stime ${(cmp.cpu.liveMs / MS_PER_SEC).toFixed(2)} s)` : `${(cmp.cpu.liveMs / MS_PER_SEC).toFixed(2)} s (utime+stime)`}, deviation ${pct(cmp.cpu.deviation)} (bound ${pct(CPU_TOLERANCE)}): ${mark(cmp.cpu.ok)}\n`,
    );
  }
  return cmp.ok ? 0 : 1;
}
