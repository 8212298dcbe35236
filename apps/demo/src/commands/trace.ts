// mmsim trace <scenario>: the scenario on the simulator with every tracepoint recorded, written
// as Chrome trace event JSON (Perfetto, chrome://tracing). One complete event per step with the
// step's cost counters, ksmd's full scans as slices, tracepoints as instant events, KSM counters
// as counter tracks. Time is virtual, so the file is the same on every run.

import { writeFileSync } from 'node:fs';
import { STRATEGIES } from '@mmsim/ksm';
import type { MmStruct } from '@mmsim/mmu';
import type { LoadedScenario, SimulatorContext, Step } from '@mmsim/scenario';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
import { costRecorder, formatCosts, type StrategyCosts } from '../costs.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { loadOrFail, simulateTo } from '../simulate.ts';

/** A Trace Event Format event (the fields mmsim uses). */
export interface ChromeEvent {
  name: string;
  ph: 'X' | 'i' | 'C' | 'M';
  pid: number;
  tid?: number;
  ts?: number;
  dur?: number;
  cat?: string;
  s?: 't';
  args?: Record<string, unknown>;
}

export interface ChromeTrace {
  traceEvents: ChromeEvent[];
  displayTimeUnit: 'ms';
  otherData: Record<string, unknown>;
}

/** 1 jiffy (1 ms at HZ=1000) of virtual time, in trace microseconds. */
const US_PER_JIFFY = 1000;
const PID = 1;
const TID_STEPS = 1;
const TID_KSMD = 2;

interface Pending {
  name: string;
  data: unknown;
  jiffies: number;
}

/**
 * Runs the scenario and builds its trace. Virtual time: the simulator's clock (jiffies, HZ=1000)
 * drawn as 1 ms per jiffy; events within one jiffy are 1 us apart, and a step that moves no
 * virtual time still lasts 1 us, so everything stays visible and in order.
 */
function traceScenario(loaded: LoadedScenario, strategy?: string): ChromeTrace & { costs: StrategyCosts } {
  const events: ChromeEvent[] = [
    { name: 'process_name', ph: 'M', pid: PID, args: { name: `mmsim ${loaded.scenario.name}` } },
    { name: 'thread_name', ph: 'M', pid: PID, tid: TID_STEPS, args: { name: 'scenario steps' } },
    { name: 'thread_name', ph: 'M', pid: PID, tid: TID_KSMD, args: { name: 'ksmd and tracepoints' } },
  ];
  let cursor = 0;
  let pending: Pending[] = [];
  let before: Record<string, number> = {};
  let j0 = 0;
  let stop: (() => void) | null = null;
  let scanStart = -1;
  let tracepoints = 0;
  const owners = new Map<number, string>();
  const owner = (ctx: SimulatorContext, id: number): string => {
    if (!owners.has(id)) for (const mm of ctx.machine.mms as Set<MmStruct>) owners.set(mm.id, mm.owner);
    return owners.get(id) ?? `mm${id}`;
  };
  const beforeStep = (ctx: SimulatorContext): void => {
    if (stop === null)
      stop = ctx.machine.trace.on((name, data, jiffies) => {
        pending.push({ name, data, jiffies });
      });
    for (const mm of ctx.machine.mms as Set<MmStruct>) owners.set(mm.id, mm.owner);
    pending = [];
    before = ctx.machine.counters.snapshot();
    j0 = ctx.machine.clock.jiffies;
  };
  const afterStep = (ctx: SimulatorContext, i: number, step: Step): void => {
    const start = cursor;
    let last = start - 1;
    for (const e of pending) {
      const ts = Math.max(last + 1, start + (e.jiffies - j0) * US_PER_JIFFY);
      last = ts;
      tracepoints++;
      // mm ids are process-global in the simulator: name the process instead (deterministic).
      const args: Record<string, unknown> = { ...(e.data as Record<string, unknown>) };
      if (typeof args.mm === 'number') {
        args.proc = owner(ctx, args.mm);
        delete args.mm;
      }
      if (typeof args.rmap_item === 'number') args.rmap_item = `0x${args.rmap_item.toString(16)}`;
      events.push({ name: e.name, cat: 'tracepoint', ph: 'i', s: 't', pid: PID, tid: TID_KSMD, ts, args });
      if (e.name === 'ksm_start_scan') scanStart = ts;
      else if (e.name === 'ksm_stop_scan' && scanStart >= 0) {
        const seq = (e.data as { seq: number }).seq;
        events.push({
          name: `full scan ${seq}`,
          cat: 'ksmd',
          ph: 'X',
          pid: PID,
          tid: TID_KSMD,
          ts: scanStart,
          dur: Math.max(1, ts - scanStart),
          args: { full_scans: seq, rmap_items: (e.data as { rmap_items: number }).rmap_items },
        });
        scanStart = -1;
      }
    }
    const j1 = ctx.machine.clock.jiffies;
    const end = Math.max(last + 1, start + (j1 - j0) * US_PER_JIFFY, start + 1);
    const diff = ctx.machine.counters.since(before);
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(diff)) if (v !== 0) counters[k] = v;
    const { op, ...fields } = step;
    const label = 'label' in step ? ` ${step.label}` : 'proc' in step ? ` ${step.proc}` : '';
    events.push({
      name: `${i} ${op}${label}`,
      cat: 'step',
      ph: 'X',
      pid: PID,
      tid: TID_STEPS,
      ts: start,
      dur: end - start,
      args: { step: i, op, ...fields, jiffies: `${j0} -> ${j1}`, counters },
    });
    const k = ctx.ksm.counters();
    events.push({
      name: 'ksm pages',
      ph: 'C',
      pid: PID,
      ts: end,
      args: {
        shared: k.pages_shared,
        sharing: k.pages_sharing,
        unshared: k.pages_unshared,
        volatile: k.pages_volatile,
      },
    });
    events.push({
      name: 'ksm general_profit',
      ph: 'C',
      pid: PID,
      ts: end,
      args: { bytes: k.general_profit },
    });
    cursor = end;
  };
  const costs = costRecorder({ beforeStep, afterStep });
  try {
    simulateTo(loaded, undefined, {
      ...(strategy !== undefined ? { strategy } : {}),
      ...costs.hooks,
    });
  } finally {
    (stop as (() => void) | null)?.();
  }
  const c = costs.result();
  return {
    traceEvents: events,
    displayTimeUnit: 'ms',
    otherData: {
      scenario: loaded.scenario.name,
      engine: 'simulator',
      time: 'virtual: 1 jiffy (HZ=1000) = 1 ms; 1 us between events within a jiffy',
      steps: loaded.scenario.steps.length,
      tracepoints,
      costs: c,
    },
    costs: c,
  };
}

/** The JSON text: one event per line, so the file diffs and greps well. */
function traceJson(t: ChromeTrace): string {
  const ev = t.traceEvents.map((e) => `  ${JSON.stringify(e)}`).join(',\n');
  return `{"displayTimeUnit":"ms","otherData":${JSON.stringify(t.otherData)},"traceEvents":[\n${ev}\n]}\n`;
}

interface TraceOptions {
  output?: string;
  json?: boolean;
  strategy?: string;
}

function traceCommand(io: Io, file: string, o: TraceOptions): number {
  const loaded = loadOrFail(file, io);
  const t = traceScenario(loaded, o.strategy);
  const text = traceJson(t);
  if (o.output === undefined) {
    io.out(text);
    return 0;
  }
  try {
    writeFileSync(o.output, text);
  } catch (e) {
    throw new UsageError(`cannot write ${o.output}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const summary = {
    file: o.output,
    events: t.traceEvents.length,
    steps: loaded.scenario.steps.length,
    tracepoints: t.otherData.tracepoints as number,
    costs: t.costs,
  };
  if (o.json === true) printJson(io, summary);
  else {
    io.out(
      `wrote ${summary.events} trace events (${summary.steps} steps, ${summary.tracepoints} tracepoints) to ${o.output}; open it in https://ui.perfetto.dev or chrome://tracing\n`,
    );
    if (t.costs.steps.length > 0 || o.strategy !== undefined) io.out(`\n${formatCosts(t.costs, io.colors)}`);
  }
  return 0;
}

export function defineTrace(program: Command, r: Runner): void {
  program
    .command('trace')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .description(
      'run a scenario recording every tracepoint and the cost counters of each step, as Chrome trace event JSON (Perfetto, chrome://tracing)',
    )
    .option('-o, --output <file>', 'write the trace to this file (default: stdout)')
    .addOption(
      new Option('--strategy <name>', 'break_ksm() strategy (default: folio_walk, as 6.18)').choices(
        Object.keys(STRATEGIES),
      ),
    )
    .option(
      '--json',
      "with -o: print a summary object (with the strategy's costs) instead of the sentence and cost table (the trace itself is always JSON)",
    )
    .addHelpText(
      'after',
      examples([
        ['mmsim trace scenarios/chains-fork.yaml -o chains.trace.json', 'then open it in ui.perfetto.dev'],
        ['mmsim trace scenarios/ksm-tests-merge.yaml | jq .otherData', 'the trace on stdout'],
        [
          'mmsim trace scenarios/ksm-functional-unmerge.yaml -o u.json --strategy walk_pmd',
          'with the 6.2 break_ksm(): its costs per page',
        ],
      ]),
    )
    .action((file: string, o: TraceOptions) => {
      r.code = traceCommand(r.io, file, o);
    });
}
