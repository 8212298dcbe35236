// mmsim kernel <file>: the scenario on the live kernel through the C oracle.

import type { Report, Scenario } from '@mmsim/scenario';
import { oracleAvailability, runOnKernel } from '@mmsim/scenario/node';
import type { Command } from 'commander';
import { examples, type Runner } from '../command.ts';
import { formatReport } from '../format.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { type Progress, startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';
import { guestKernelCommand, KERNEL_OPTION_HELP, kernelChoice } from './guest.ts';

/** What the oracle says on stderr that a user should see while it runs. */
export const WORTH_SHOWING = /waiting for|previous run died|restored the knobs|not all restored/;
/** MMSIM_ORACLE_TRACE lines: `step 3 ksm_scan: 41 ms`, `full scan 7 after 20 ms`. */
const STEP_LINE = /^mmsim-oracle: step (\d+) (\S+): \d+ ms$/;
const SCAN_LINE = /^mmsim-oracle: full scan (\d+) after/;
const TRACE_LINE = /^mmsim-oracle: (step \d+ |full scan |ksmd asleep)/;

/** Throws a UsageError (exit 2) when the live kernel cannot run scenarios here. */
export function requireKernel(): void {
  const av = oracleAvailability();
  if (!av.available) throw new UsageError(`the live kernel is not available: ${av.reason}`);
}

/**
 * Runs a scenario on the live kernel. With a bar, the oracle is asked for its step timings
 * (MMSIM_ORACLE_TRACE) and the bar follows them; `offset` is where the bar starts.
 */
export async function kernelWithProgress(
  io: Io,
  scenario: Scenario,
  bar: Progress,
  offset = 0,
): Promise<Report> {
  const had = Object.hasOwn(io.env, 'MMSIM_ORACLE_TRACE');
  const was = io.env.MMSIM_ORACLE_TRACE;
  if (bar.active && !had) io.env.MMSIM_ORACLE_TRACE = '1';
  let at = offset;
  let what = 'kernel';
  try {
    return await runOnKernel(scenario, {
      onStderr: (line) => {
        const step = STEP_LINE.exec(line);
        const scan = SCAN_LINE.exec(line);
        if (bar.active && step !== null) {
          at = offset + Number(step[1]) + 1;
          what = `kernel step ${step[1]} ${step[2]}`;
          bar.update(at, what);
        } else if (bar.active && scan !== null) {
          bar.update(at, `${what}: full scan ${scan[1]}`);
        } else if ((had && TRACE_LINE.test(line)) || WORTH_SHOWING.test(line)) {
          bar.log(line);
        }
      },
    });
  } finally {
    if (!had) delete io.env.MMSIM_ORACLE_TRACE;
    else io.env.MMSIM_ORACLE_TRACE = was;
  }
}

export async function kernelScenario(io: Io, file: string, o: { json?: boolean; progress?: boolean }) {
  const loaded = loadOrFail(file, io);
  requireKernel();
  const bar = startProgress(io, 'mmsim kernel', loaded.scenario.steps.length, o.progress !== false);
  let r: Report;
  try {
    r = await kernelWithProgress(io, loaded.scenario, bar);
  } finally {
    bar.stop();
  }
  if (o.json === true) printJson(io, r);
  else io.out(formatReport(r, io.colors));
  return r.ok ? 0 : 1;
}

export function defineKernel(program: Command, r: Runner): void {
  program
    .command('kernel')
    .argument('<files...>', 'scenario files (YAML or JSON)')
    .description(
      'run scenarios on the live kernel through the C oracle (root and /sys/kernel/mm/ksm; every knob is restored), or on a Debian kernel booted under QEMU (--kernel 6.1, one boot for all files)',
    )
    .option('--kernel <name>', KERNEL_OPTION_HELP)
    .option('--accel <tcg|kvm>', 'QEMU accelerator for a guest kernel (default tcg; nested KVM often hangs)')
    .option('--record', 'guest kernels: write each report to expected/<kernel>/NAME.json next to the file')
    .option('--json', 'print the report object')
    .option('--no-progress', 'no progress bar (it is drawn on a terminal only)')
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim kernel scenarios/chains-fork.yaml', 'the same table as `mmsim run`, from Linux'],
        ['mmsim kernel scenarios/chains-fork.yaml --json', 'the report object'],
        ['sudo pnpm mmsim kernel --kernel 6.1 scenarios/*.yaml', 'every scenario on Debian 12 6.1, one boot'],
      ]),
    )
    .action(
      async (
        files: string[],
        o: { json?: boolean; progress?: boolean; kernel?: string; accel?: string; record?: boolean },
      ) => {
        const kernel = kernelChoice(o.kernel, files, r.io);
        if (kernel !== 'host') {
          r.code = await guestKernelCommand(r.io, kernel, files, o);
          return;
        }
        if (o.record === true)
          throw new UsageError('--record: only with a guest --kernel (see mmsim kernels list)');
        for (const file of files) r.code = Math.max(r.code, await kernelScenario(r.io, file, o));
      },
    );
}
