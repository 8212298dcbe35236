// Running a scenario on the simulator up to a report step, for the commands that show state
// (pagemap, smaps, ksm-stat, tree, knobs), and naming its processes and regions.

import type { Process } from '@mmsim/mm';
import {
  type LoadedScenario,
  parseScenario,
  runOnSimulator,
  ScenarioError,
  type SimulatorContext,
  type SimulatorOptions,
  type Step,
} from '@mmsim/scenario';
import { hostMemory, loadScenario } from '@mmsim/scenario/node';
import { restoreStepFromFile } from '@mmsim/snapshot/node';
import { type Io, UsageError } from './io.ts';

/** The file name that means standard input (`mmsim run -`), and how errors then name it. */
const STDIN_FILE = '-';
const STDIN_NAME = '<stdin>';

/** loadScenario(), or the scenario on standard input for `-` (JSON or YAML), with a bad file
 * turned into a UsageError (one line, exit code 2). */
export function loadOrFail(file: string, io: Pick<Io, 'stdin'>): LoadedScenario {
  try {
    if (file === STDIN_FILE) return parseScenario(io.stdin(), STDIN_NAME);
    return loadScenario(file);
  } catch (e) {
    if (e instanceof ScenarioError) throw new UsageError(e.message);
    throw e;
  }
}

/** The labels of the scenario's report steps, in order. */
function reportLabels(loaded: LoadedScenario): string[] {
  const out: string[] = [];
  for (const s of loaded.scenario.steps) if (s.op === 'report') out.push(s.label);
  return out;
}

/** Every process name the scenario creates (spawn and fork), in order. */
function processNames(loaded: LoadedScenario): string[] {
  const out: string[] = [];
  for (const s of loaded.scenario.steps) {
    if (s.op === 'spawn') out.push(s.proc);
    else if (s.op === 'fork') out.push(s.child);
  }
  return out;
}

/** The world at a point of a scenario: after the report step `label`, or after the last step. */
export interface Stopped {
  loaded: LoadedScenario;
  ctx: SimulatorContext;
  /** The report label stopped at, or null at the end. */
  label: string | null;
  /** Index of the last step run. */
  step: number;
}

class StopHere extends Error {}

/** Throws a UsageError naming the labels there are when `at` is not one of them. */
function checkLabel(loaded: LoadedScenario, at: string | undefined): void {
  if (at === undefined) return;
  const labels = reportLabels(loaded);
  if (!labels.includes(at)) {
    const have = labels.length === 0 ? 'it has no report steps' : `its reports are ${labels.join(', ')}`;
    throw new UsageError(`${loaded.file}: no report step labelled "${at}" (${have})`);
  }
}

/** Describes where a run stopped, for headings: `after report "merged" (step 5)` or `at the end`. */
export function whereStopped(st: Stopped): string {
  return st.label === null ? 'at the end' : `at report "${st.label}" (step ${st.step})`;
}

/**
 * Runs the scenario on the simulator until the report step labelled `at` (its first occurrence)
 * has run, or to the end. Extra hooks (tracers) may be passed in `opts`.
 */
export function simulateTo(
  loaded: LoadedScenario,
  at?: string,
  opts: Partial<SimulatorOptions> = {},
): Stopped {
  checkLabel(loaded, at);
  // Assigned in the callback, which control-flow analysis does not follow.
  let ctx = null as SimulatorContext | null;
  let last = -1;
  let stoppedAt = null as string | null;
  try {
    runOnSimulator(loaded, {
      ...opts,
      host: hostMemory(),
      restore: restoreStepFromFile,
      afterStep: (c: SimulatorContext, i: number, step: Step) => {
        ctx = c;
        last = i;
        opts.afterStep?.(c, i, step);
        if (at !== undefined && step.op === 'report' && step.label === at) {
          stoppedAt = at;
          throw new StopHere();
        }
      },
    });
  } catch (e) {
    if (!(e instanceof StopHere)) throw e;
  }
  if (ctx === null) throw new UsageError(`${loaded.file}: the scenario has no steps`);
  return { loaded, ctx, label: stoppedAt, step: last };
}

/**
 * The processes to show: the one named (a UsageError when it never existed or has exited by
 * then), or every live one in creation order.
 */
export function pickProcs(st: Stopped, proc: string | undefined): [string, Process][] {
  if (proc === undefined) return [...st.ctx.procs.entries()];
  const p = st.ctx.procs.get(proc);
  if (p !== undefined) return [[proc, p]];
  const all = processNames(st.loaded);
  const steps = st.loaded.scenario.steps;
  const born = steps.findIndex(
    (s) => (s.op === 'spawn' && s.proc === proc) || (s.op === 'fork' && s.child === proc),
  );
  if (born > st.step)
    throw new UsageError(
      `process "${proc}" does not exist yet ${whereStopped(st)} (step ${born} creates it)`,
    );
  if (born >= 0) throw new UsageError(`process "${proc}" has exited ${whereStopped(st)}`);
  throw new UsageError(
    `${st.loaded.file}: no process "${proc}" (the scenario has ${all.length === 0 ? 'none' : all.join(', ')})`,
  );
}

export interface RegionRef {
  name: string;
  addr: number;
  pages: number;
}

/** A process's regions (mmap order), or the one named (a UsageError when it has no such region). */
export function pickRegions(st: Stopped, proc: string, region: string | undefined): RegionRef[] {
  const regs = st.ctx.regions.get(proc) ?? new Map<string, { addr: number; pages: number }>();
  const all: RegionRef[] = [...regs.entries()].map(([name, r]) => ({ name, addr: r.addr, pages: r.pages }));
  if (region === undefined) return all;
  const r = all.find((x) => x.name === region);
  if (r === undefined)
    throw new UsageError(
      `process "${proc}" has no region "${region}" ${whereStopped(st)} (it has ${all.length === 0 ? 'none' : all.map((x) => x.name).join(', ')})`,
    );
  return [r];
}
