// mmsim verify <file>: the scenario on both engines, every report compared.

import { compareReports, formatReportDiff, type Report } from '@mmsim/scenario';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
import { type Io, printJson } from '../io.ts';
import { startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';
import { guestVerifyCommand, KERNEL_OPTION_HELP, kernelChoice } from './guest.ts';
import { kernelWithProgress, requireKernel } from './kernel.ts';
import { STRATEGY_HELP, simulateWithProgress, strategyArg, strategyOption } from './run.ts';

export async function verifyScenario(
  io: Io,
  file: string,
  o: { json?: boolean; progress?: boolean; strategy?: string },
): Promise<number> {
  const loaded = loadOrFail(file, io);
  const strategy = await strategyOption(o.strategy);
  requireKernel();
  const steps = loaded.scenario.steps.length;
  const bar = startProgress(io, 'mmsim verify', 2 * steps, o.progress !== false);
  let sim: Report;
  let kern: Report;
  try {
    sim = simulateWithProgress(loaded, bar, strategy);
    kern = await kernelWithProgress(io, loaded.scenario, bar, steps);
  } finally {
    bar.stop();
  }
  const diff = compareReports(sim, kern);
  if (o.json === true) printJson(io, diff);
  else {
    const c = io.colors;
    const head = diff.equal ? c.green('match') : c.red('MISMATCH');
    io.out(`${c.bold(`scenario ${sim.scenario}`)}: simulator vs live kernel: ${head}\n`);
    io.out(`${formatReportDiff(diff)}\n`);
  }
  return diff.equal ? 0 : 1;
}

export function defineVerify(program: Command, r: Runner): void {
  program
    .command('verify')
    .argument('<files...>', 'scenario files (YAML or JSON)')
    .description(
      'run scenarios on the simulator and on the live kernel (or a guest --kernel under QEMU) and compare every report (exit 0 only on a full match)',
    )
    .option('--kernel <name>', KERNEL_OPTION_HELP)
    .option('--accel <tcg|kvm>', 'QEMU accelerator for a guest kernel (default tcg)')
    .option('--json', 'print the diff object')
    .addOption(new Option('--strategy <name|file>', STRATEGY_HELP).argParser(strategyArg))
    .option('--no-progress', 'no progress bar (it is drawn on a terminal only)')
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim verify scenarios/thp-zero-chains.yaml', 'counters, ksm_stat, smaps and sharing'],
        ['mmsim verify scenarios/chains-fork.yaml --json', 'the diff object'],
        [
          'sudo pnpm mmsim verify --kernel 6.12 scenarios/*.yaml',
          'every scenario against Linux 6.12 under QEMU',
        ],
      ]),
    )
    .action(
      async (
        files: string[],
        o: { json?: boolean; progress?: boolean; kernel?: string; accel?: string; strategy?: string },
      ) => {
        const kernel = kernelChoice(o.kernel, files, r.io);
        if (kernel !== 'host') {
          r.code = await guestVerifyCommand(r.io, kernel, files, o);
          return;
        }
        for (const file of files) r.code = Math.max(r.code, await verifyScenario(r.io, file, o));
      },
    );
}
