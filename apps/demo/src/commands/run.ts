// mmsim run <file>: the scenario on the simulator (issue 6), a table per report step or --json.

import { STRATEGIES } from '@mmsim/ksm';
import { type LoadedScenario, type Report, runOnSimulator } from '@mmsim/scenario';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
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
 * as ksmd finishes them). `offset` is where the bar starts (verify runs two engines on one bar).
 */
export function simulateWithProgress(
  loaded: LoadedScenario,
  bar: Progress,
  strategy: string | undefined,
  offset = 0,
): Report {
  let stopTrace: (() => void) | null = null;
  let what = '';
  try {
    return runOnSimulator(loaded, {
      ...(strategy !== undefined ? { strategy } : {}),
      beforeStep: (ctx, i, step) => {
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

function runScenario(io: Io, file: string, o: RunOptions): number {
  const loaded = loadOrFail(file);
  const bar = startProgress(io, 'mmsim run', loaded.scenario.steps.length, o.progress !== false);
  let r: Report;
  try {
    r = simulateWithProgress(loaded, bar, o.strategy);
  } finally {
    bar.stop();
  }
  if (o.json === true) printJson(io, r);
  else io.out(formatReport(r, io.colors));
  return r.ok ? 0 : 1;
}

export function defineRun(program: Command, r: Runner): void {
  program
    .command('run')
    .argument('<file>', 'scenario file (YAML or JSON, see scenario-format.md)')
    .description(
      'run a scenario on the simulator: the values of every report step (exit 1 when an expect fails)',
    )
    .option('--json', 'print the report object (the format the kernel oracle prints)')
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
        ['mmsim run scenarios/ksm-tests-unmerge.yaml --strategy follow_page', 'with the 6.0 break_ksm()'],
      ]),
    )
    .action((file: string, o: RunOptions) => {
      r.code = runScenario(r.io, file, o);
    });
}
