// mmsim predict <file> --for DURATION: what ksmd will do to the file's processes over wall time,
// with a cost model calibrated on a real kernel (packages/scenario/calibration/ksmd-cost.json).

import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  applyKnobs,
  KnobError,
  type KsmdCostFile,
  type LoadedScenario,
  PREDICT_KNOBS,
  type Prediction,
  parseDuration,
  predictKsmd,
  ScenarioError,
  type SimulatorContext,
  validateScenario,
} from '@mmsim/scenario';
import { KSMD_COST_FILE, loadKsmdCost } from '@mmsim/scenario/node';
import { readSnapshot, restoreSnapshot, SNAPSHOT_MAGIC, type Snapshot } from '@mmsim/snapshot/node';
import { table } from '../format.ts';
import { type Colors, type Io, printJson, UsageError } from '../io.ts';
import { startProgress } from '../progress.ts';
import { loadOrFail, simulateTo } from '../simulate.ts';

const MS_PER_SEC = 1000;
const MiB = 1024 * 1024;
/** Rows of the timeline table (evenly spaced samples; the milestones are added). */
const TABLE_ROWS = 12;
/** The longest prediction a command accepts (one day). */
const MAX_FOR_MS = 24 * 3600 * MS_PER_SEC;
const DEFAULT_EVERY_MS = MS_PER_SEC;
const NS_PER_MS = 1e6;
/** The most CPU time --ksmd-cpu accepts (a year). */
const MAX_KSMD_CPU_MS = 365 * 24 * 3600 * MS_PER_SEC;

export interface PredictCliOptions {
  for?: string;
  ksmdCpu?: string;
  knob?: string[];
  advisor?: string;
  every?: string;
  model?: string;
  json?: boolean;
  svg?: string;
  progress?: boolean;
}

/** A duration option in milliseconds, or a UsageError naming the option. */
export function durationOption(name: string, value: string | undefined, max: number): number {
  if (value === undefined) throw new UsageError(`${name} is required (a duration: 90s, 30m, 1h)`);
  const ms = parseDuration(value);
  if (ms === null || ms <= 0 || ms > max)
    throw new UsageError(
      `${name}: expected a duration such as 90s, 30m or 1h (at most ${max / 3600 / MS_PER_SEC} h), found "${value}"`,
    );
  return ms;
}

/** --knob name=value (repeatable) and --advisor, as the knob values to start ksmd with. */
export function knobOptions(knob: string[] | undefined, advisor: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of knob ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--knob: expected name=value, found "${kv}"`);
    const name = kv.slice(0, eq);
    if (!(PREDICT_KNOBS as readonly string[]).includes(name))
      throw new UsageError(`--knob: unknown knob "${name}" (one of ${PREDICT_KNOBS.join(', ')})`);
    out[name] = kv.slice(eq + 1);
  }
  if (advisor !== undefined) {
    if (advisor !== 'scan-time' && advisor !== 'none')
      throw new UsageError(`--advisor: expected scan-time or none, found "${advisor}"`);
    if (advisor === 'scan-time' && out.pages_to_scan !== undefined)
      throw new UsageError(
        '--advisor scan-time sets pages_to_scan itself (the kernel refuses writes to it while the advisor runs); drop --knob pages_to_scan',
      );
    out.advisor_mode = advisor;
  }
  return out;
}

/** The scenario with the knobs as its initial knobs (so the kernel side starts from them too). */
export function withKnobs(loaded: LoadedScenario, knobs: Record<string, string>): LoadedScenario {
  if (Object.keys(knobs).length === 0) return loaded;
  const ksm: Record<string, unknown> = { ...loaded.scenario.ksm };
  for (const [k, v] of Object.entries(knobs)) ksm[k] = /^\d+$/.test(v) ? Number(v) : v;
  try {
    return validateScenario({ ...loaded.scenario, ksm }, loaded.file);
  } catch (e) {
    if (e instanceof ScenarioError) {
      const knob = e.path.replace(/^\$?\.?ksm\./, '');
      throw new UsageError(`--knob ${knob}=${knobs[knob] ?? ''}: expected ${e.expected}`);
    }
    throw e;
  }
}

/** The time as the table shows it: 0s, 45s, 12m05s, 1h02m. */
export function fmtTime(ms: number): string {
  const s = Math.round(ms / MS_PER_SEC);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function fmtMiB(bytes: number): string {
  return `${(bytes / MiB).toFixed(1)} MiB`;
}

/** The prediction as text: the knobs and model, a timeline, the milestones, the processes. */
export function formatPrediction(name: string, p: Prediction, cost: KsmdCostFile, c: Colors): string {
  const knobs = Object.entries(p.knobs)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const m = cost.machine;
  let s = `${c.bold(`ksmd for ${fmtTime(p.forMs)} on ${name}`)}\n`;
  s += `${c.dim(`knobs at the start: ${knobs}`)}\n`;
  s += `${c.dim(`cost model: ${m.cpu}, ${m.cores} cores, Linux ${m.kernel} (measured ${cost.measuredAt.slice(0, 10)})`)}\n\n`;
  const pick = new Set<number>();
  const n = p.samples.length;
  for (let i = 0; i < TABLE_ROWS; i++) pick.add(Math.round((i * (n - 1)) / (TABLE_ROWS - 1)));
  for (const ms of p.milestones) if (ms.ms !== null) pick.add(Math.round(ms.ms / p.sampleMs));
  const rows: string[][] = [
    [
      'time',
      'pages_shared',
      'pages_sharing',
      'pages_unshared',
      'pages_volatile',
      'ksm_zero_pages',
      'general_profit',
      'full_scans',
      'pages_to_scan',
      'ksmd CPU',
    ].map((h) => c.bold(h)),
  ];
  for (const i of [...pick].sort((a, b) => a - b)) {
    const x = p.samples[Math.min(i, n - 1)]!;
    rows.push([
      fmtTime(x.ms),
      String(x.pages_shared),
      String(x.pages_sharing),
      String(x.pages_unshared),
      String(x.pages_volatile),
      String(x.ksm_zero_pages),
      fmtMiB(x.general_profit),
      String(x.full_scans),
      String(x.pages_to_scan),
      `${(x.cpuMs / MS_PER_SEC).toFixed(2)} s`,
    ]);
  }
  s += `${table(rows, [false, true, true, true, true, true, true, true, true, true])}\n\n`;
  const last = p.samples[n - 1]!;
  s += `saving at the end: ${c.bold(fmtMiB(p.savingBytes))} (pages_sharing + ksm_zero_pages), general_profit ${fmtMiB(last.general_profit)}\n`;
  const when = p.milestones
    .map((x) => `${x.percent}% ${x.ms === null ? 'never' : `after ${fmtTime(x.ms)}`}`)
    .join(', ');
  s += `time to the final saving: ${p.savingBytes > 0 ? when : 'nothing is saved'}\n`;
  const busy = (p.cpuMs / p.forMs) * 100;
  s += `ksmd CPU: ${(p.cpuMs / MS_PER_SEC).toFixed(2)} s over ${fmtTime(p.forMs)} (${busy.toFixed(1)}% of one CPU)\n`;
  if (p.procs.length > 0) {
    const pr: string[][] = [
      ['process', 'ksm_merging_pages', 'ksm_zero_pages', 'ksm_rmap_items', 'ksm_process_profit'].map((h) =>
        c.bold(h),
      ),
    ];
    for (const x of p.procs) {
      pr.push([
        x.name,
        String(x.ksm_merging_pages),
        String(x.ksm_zero_pages),
        String(x.ksm_rmap_items),
        fmtMiB(x.ksm_process_profit),
      ]);
    }
    s += `\n${table(pr, [false, true, true, true, true])}\n`;
  }
  return s;
}

/** Whether `file` is a snapshot (it starts with the snapshot magic) rather than a scenario. */
export function isSnapshotFile(file: string): boolean {
  const magic = Buffer.alloc(SNAPSHOT_MAGIC.length);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    return (
      readSync(fd, magic, 0, magic.length, 0) === magic.length && magic.toString('latin1') === SNAPSHOT_MAGIC
    );
  } finally {
    closeSync(fd);
  }
}

/** The machine a prediction starts from, and what it is called. */
export interface PredictMachine {
  name: string;
  ctx: SimulatorContext;
  /** The scenario it came from (its processes as they are at its end), or null. */
  loaded: LoadedScenario | null;
  /** The snapshot it came from (its processes by pid), or null. */
  snapshot: Snapshot | null;
  /** Full scans restore ran to rebuild the snapshot's KSM pages (not the prediction's). */
  fullScansBefore: number;
}

/**
 * A scenario run to its end with the knobs as its initial knobs (so the live side starts from
 * them too), or a snapshot restored with the snapshot machine's knobs and then the knobs written
 * as ksmd's sysfs files take them. The host guard counts contents as the simulator holds them
 * (a fill pattern's page is a shared content, not 4 KiB): prediction never runs the kernel side.
 */
export function predictMachine(io: Io, file: string, knobs: Record<string, string>): PredictMachine {
  if (isSnapshotFile(file)) {
    const snapshot = readSnapshot(file);
    const ctx = restoreSnapshot(snapshot, file);
    try {
      applyKnobs(ctx.ksm, knobs);
    } catch (e) {
      if (e instanceof KnobError) throw new UsageError(`--knob ${e.message}`);
      throw e;
    }
    return { name: basename(file), ctx, loaded: null, snapshot, fullScansBefore: ctx.start.full_scans };
  }
  const loaded = withKnobs(loadOrFail(file, io), knobs);
  const { ctx } = simulateTo(loaded, undefined, { contentEstimate: 'simulator' });
  return { name: loaded.scenario.name, ctx, loaded, snapshot: null, fullScansBefore: 0 };
}

/** Runs the prediction for the command's options (shared with verify --for). */
export function runPrediction(
  io: Io,
  machine: PredictMachine,
  forMs: number,
  everyMs: number,
  cost: KsmdCostFile,
  progress: boolean,
  ksmdRuntimeBeforeNs = 0,
): Prediction {
  const { ctx } = machine;
  const bar = startProgress(io, 'mmsim predict', Math.ceil(forMs / everyMs), progress);
  try {
    return predictKsmd(
      ctx.ksm,
      ctx.procs,
      {
        forMs,
        sampleMs: everyMs,
        knobs: {},
        model: cost.model,
        ksmdRuntimeBeforeNs,
        fullScansBefore: machine.fullScansBefore,
      },
      (s) => bar.update(Math.round(s.ms / everyMs), `simulated ${fmtTime(s.ms)}`),
    );
  } finally {
    bar.stop();
  }
}

export async function predictCommand(io: Io, file: string, o: PredictCliOptions): Promise<number> {
  const forMs = durationOption('--for', o.for, MAX_FOR_MS);
  const everyMs = o.every === undefined ? DEFAULT_EVERY_MS : durationOption('--every', o.every, forMs);
  const knobs = knobOptions(o.knob, o.advisor);
  const cost = loadCost(o.model);
  const before = o.ksmdCpu === undefined ? 0 : durationOption('--ksmd-cpu', o.ksmdCpu, MAX_KSMD_CPU_MS);
  const machine = predictMachine(io, file, knobs);
  const p = runPrediction(io, machine, forMs, everyMs, cost, o.progress !== false, before * NS_PER_MS);
  if (o.svg !== undefined) {
    const { predictionSvg } = await import('../predict-chart.ts');
    writeFileSync(o.svg, await predictionSvg(machine.name, p));
  }
  const what = machine.snapshot === null ? { scenario: machine.name } : { snapshot: machine.name };
  if (o.json === true) printJson(io, { ...what, model: cost, ...p });
  else io.out(formatPrediction(machine.name, p, cost, io.colors));
  return 0;
}

/** The cost model file (--model, default the committed one), a bad one being a UsageError. */
export function loadCost(path: string | undefined): KsmdCostFile {
  try {
    return loadKsmdCost(path ?? KSMD_COST_FILE);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
}
