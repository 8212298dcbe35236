// mmsim run <file>: the scenario on the simulator, a table per report step or --json.

import { type BreakKsmStrategy, STRATEGIES } from '@mmsim/ksm';
import {
  DEFAULT_MEMORY_MIB,
  type LoadedScenario,
  MAX_MEMORY_MIB,
  MIN_MEMORY_MIB,
  type Report,
  runOnSimulator,
  type SimulatorOptions,
} from '@mmsim/scenario';
import { hostMemory, isBuiltinStrategy, resolveBreakKsmStrategy } from '@mmsim/scenario/node';
import { restoreStepFromFile } from '@mmsim/snapshot/node';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { examples, intOption, type Runner } from '../command.ts';
import { costRecorder, formatCosts } from '../costs.ts';
import { formatReport } from '../format.ts';
import { type Io, printJson } from '../io.ts';
import { type Progress, startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';

export interface RunOptions {
  json?: boolean;
  /** --memory-mib: simulated RAM where the scenario's machine.memory_mib gives none. */
  memoryMib?: string;
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
  strategy: string | BreakKsmStrategy | undefined,
  offset = 0,
  hooks: Partial<Pick<SimulatorOptions, 'beforeStep' | 'afterStep' | 'host' | 'memoryMiB'>> = {},
): Report {
  let stopTrace: (() => void) | null = null;
  let what = '';
  try {
    return runOnSimulator(loaded, {
      host: hooks.host ?? hostMemory(),
      restore: restoreStepFromFile,
      ...(hooks.memoryMiB !== undefined ? { memoryMiB: hooks.memoryMiB } : {}),
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

/** --strategy: a built-in strategy's name, or a module file whose default export is a
 * BreakKsmStrategy (loaded and checked against the built-in ones: @mmsim/scenario's
 * resolveBreakKsmStrategy()). */
export const STRATEGY_HELP = `break_ksm() strategy: ${Object.keys(STRATEGIES).join(', ')} (default: folio_walk, as 6.18), or a module file exporting your own (checked against these first)`;

/** commander's parser for --strategy: a built-in name or something that names a file. */
export function strategyArg(v: string): string {
  if (isBuiltinStrategy(v) || /[/\\]|\.[cm]?[jt]s$/.test(v)) return v;
  throw new InvalidArgumentError(
    `expected one of ${Object.keys(STRATEGIES).join(', ')}, or a module file (./my-strategy.ts)`,
  );
}

/** The strategy --strategy names (undefined: the default); a file is loaded and checked. */
export async function strategyOption(name: string | undefined): Promise<BreakKsmStrategy | undefined> {
  return name === undefined
    ? undefined
    : resolveBreakKsmStrategy(name, process.env.INIT_CWD ?? process.cwd());
}

export async function runScenario(io: Io, file: string, o: RunOptions): Promise<number> {
  const loaded = loadOrFail(file, io);
  const strategy = await strategyOption(o.strategy);
  const memoryMiB =
    o.memoryMib === undefined
      ? undefined
      : intOption('--memory-mib', o.memoryMib, MIN_MEMORY_MIB, MAX_MEMORY_MIB);
  const bar = startProgress(io, 'mmsim run', loaded.scenario.steps.length, o.progress !== false);
  const costs = costRecorder();
  let r: Report;
  try {
    r = simulateWithProgress(loaded, bar, strategy, 0, {
      ...costs.hooks,
      ...(memoryMiB !== undefined ? { memoryMiB } : {}),
    });
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
    .addOption(new Option('--strategy <name|file>', STRATEGY_HELP).argParser(strategyArg))
    .option(
      '--memory-mib <n>',
      `simulated RAM in MiB where the scenario's machine.memory_mib gives none (default ${DEFAULT_MEMORY_MIB})`,
    )
    .option('--no-progress', 'no progress bar (it is drawn on a terminal only)')
    .addHelpText(
      'after',
      examples([
        ['mmsim run scenarios/chains-fork.yaml', 'a table: one column per report step'],
        ['mmsim run my.yaml --memory-mib 16384', 'on a 16 GiB simulated machine'],
        ['mmsim run scenarios/chains-fork.yaml --json', 'the report object'],
        [
          'mmsim run scenarios/ksm-functional-unmerge.yaml --strategy follow_page',
          'with the 6.0 break_ksm(): its costs',
        ],
        [
          'mmsim run scenarios/ksm-functional-unmerge.yaml --strategy ./examples/strategy/src/pmd-batch.ts',
          'with your own (see examples/strategy)',
        ],
        ['cat my.yaml | mmsim run -', 'a scenario on standard input'],
      ]),
    )
    .action(async (file: string, o: RunOptions) => {
      r.code = await runScenario(r.io, file, o);
    });
}
