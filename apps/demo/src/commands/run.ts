// mmsim run <file>: the scenario on the simulator, a table per report step or --json.

import { STRATEGIES } from '@mmsim/ksm';
import { type LoadedScenario, type Report, runOnSimulator, type SimulatorOptions } from '@mmsim/scenario';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
import { costRecorder, formatCosts } from '../costs.ts';
import { formatReport } from '../format.ts';
import { type Io, printJson } from '../io.ts';
import { type Progress, startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';

export interface RunOptions {
  json?: boolean;
  strategy?: string;
  progress?: boolean;
}

/**
 * Runs a loaded scenario on the simulator, moving `bar` one unit per step (and naming full scans
 * as ksmd finishes them). `offset` is where the bar starts (verify runs two engines on one bar);
 * `afterStep` is handed to the simulator.
 */
export function simulateWithProgress(
  loaded: LoadedScenario,
  bar: Progress,
  strategy: string | undefined,
  offset = 0,
  hooks: Pick<SimulatorOptions, 'beforeStep' | 'afterStep'> = {},
): Report {
  let stopTrace: (() => void) | null = null;
  let what = '';
  try {
    return runOnSimulator(loaded, {
      ...(strategy !== undefined ? { strategy } : {}),
      ...(hooks.afterStep !== undefined ? { afterStep: hooks.afterStep } : {}),
      beforeStep: (ctx, i, step) => {
        hooks.beforeStep?.(ctx, i, step);
        if (stopTrace === null && bar.active) {
          stopTrace = ctx.machine.trace.on((name, data) => {
            if (name === 'ksm_stop_scan')
              bar.update(offset + i, `${what}: full scan ${(data as { seq: number }).seq}`);
          });
        }
        what = `simulator step ${i} ${step.op}`;
        bar.update(offset + i, what);
      },
    });
  } finally {
    (stopTrace as (() => void) | null)?.();
  }
}

export function runScenario(io: Io, file: string, o: RunOptions): number {
  const loaded = loadOrFail(file, io);
  const bar = startProgress(io, 'mmsim run', loaded.scenario.steps.length, o.progress !== false);
  const costs = costRecorder();
  let r: Report;
  try {
    r = simulateWithProgress(loaded, bar, o.strategy, 0, costs.hooks);
  } finally {
    bar.stop();
  }
  const c = costs.result();
  if (o.json === true) printJson(io, { ...r, costs: c });
  else {
    io.out(formatReport(r, io.colors));
    // The cost table when break_ksm() ran, or when the user picked a strategy to look at.
    if (c.steps.length > 0 || o.strategy !== undefined) io.out(`\n${formatCosts(c, io.colors)}`);
  }
  return r.ok ? 0 : 1;
}

export function defineRun(program: Command, r: Runner): void {
  program
    .command('run')
    .argument('<file>', 'scenario file (YAML or JSON, docs/scenario-format.md); - reads standard input')
    .description(
      'run a scenario on the simulator: the values of every report step (exit 1 when an expect fails), and what break_ksm() cost per page on every step that unmerges',
    )
    .option(
      '--json',
      'print the report object (the format the kernel oracle prints) with "costs": the strategy\'s counters per unmerging step',
    )
    .addOption(
      new Option('--strategy <name>', 'break_ksm() strategy (default: folio_walk, as 6.18)').choices(
        Object.keys(STRATEGIES),
      ),
    )
    .option('--no-progress', 'no progress bar (it is drawn on a terminal only)')
    .addHelpText(
      'after',
      examples([
        ['mmsim run scenarios/chains-fork.yaml', 'a table: one column per report step'],
        ['mmsim run scenarios/chains-fork.yaml --json', 'the report object'],
        [
          'mmsim run scenarios/ksm-functional-unmerge.yaml --strategy follow_page',
          'with the 6.0 break_ksm(): its costs',
        ],
        ['cat my.yaml | mmsim run -', 'a scenario on standard input'],
      ]),
    )
    .action((file: string, o: RunOptions) => {
      r.code = runScenario(r.io, file, o);
    });
}
