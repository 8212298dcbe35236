// mmsim verify <file>: the scenario on both engines, every report compared.

import type { BreakKsmStrategy } from '@mmsim/ksm';
import {
  compareReports,
  formatReportDiff,
  type LoadedScenario,
  type Report,
  type ReportDiff,
} from '@mmsim/scenario';
import { compareWithRecording, hostMemory, loadRecordingFor } from '@mmsim/scenario/node';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';
import { guestVerifyCommand, KERNEL_OPTION_HELP, kernelChoice } from './guest.ts';
import { kernelWithProgress, requireKernel } from './kernel.ts';
import { STRATEGY_HELP, simulateWithProgress, strategyArg, strategyOption } from './run.ts';
import { type VerifyForOptions, verifyFor } from './verify-for.ts';
import { verifySnapshotCommand } from './verify-snapshot.ts';

export async function verifyScenario(io: Io, file: string, o: VerifyOptions): Promise<number> {
  const loaded = loadOrFail(file, io);
  const strategy = await strategyOption(o.strategy);
  if (o.recorded === true) return verifyRecorded(io, loaded, strategy, o);
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
  return printDiff(io, sim.scenario, 'live kernel', compareReports(sim, kern), o);
}

export interface VerifyOptions {
  json?: boolean;
  progress?: boolean;
  strategy?: string;
  recorded?: boolean;
}

/** The simulator against the kernel's recorded answer (expected/NAME.json): no root needed. */
function verifyRecorded(
  io: Io,
  loaded: LoadedScenario,
  strategy: BreakKsmStrategy | undefined,
  o: VerifyOptions,
): number {
  const rec = loadRecordingFor(loaded);
  const bar = startProgress(io, 'mmsim verify', loaded.scenario.steps.length, o.progress !== false);
  let sim: Report;
  try {
    // The recording machine's swap (it decides what MADV_PAGEOUT reclaims); this host's memory
    // for the guard.
    sim = simulateWithProgress(loaded, bar, strategy, 0, {
      host: { ...hostMemory(), swapMiB: rec.host.swapMiB },
    });
  } finally {
    bar.stop();
  }
  const what = `kernel recorded (Linux ${rec.kernel}, ${rec.recorded})`;
  return printDiff(io, sim.scenario, what, compareWithRecording(sim, rec), o, [sim.engine, 'recorded']);
}

function printDiff(
  io: Io,
  scenario: string,
  other: string,
  diff: ReportDiff,
  o: VerifyOptions,
  names?: [string, string],
): number {
  if (o.json === true) printJson(io, diff);
  else {
    const c = io.colors;
    const head = diff.equal ? c.green('match') : c.red('MISMATCH');
    io.out(`${c.bold(`scenario ${scenario}`)}: simulator vs ${other}: ${head}\n`);
    io.out(`${formatReportDiff(diff, names)}\n`);
  }
  return diff.equal ? 0 : 1;
}

export function defineVerify(program: Command, r: Runner): void {
  program
    .command('verify')
    .argument('[files...]', 'scenario files (YAML or JSON); with --snapshot and --: a command to start')
    .description(
      'run scenarios on the simulator and on the live kernel (or a guest --kernel under QEMU) and compare every report (exit 0 only on a full match)',
    )
    .option('--kernel <name>', KERNEL_OPTION_HELP)
    .option('--accel <tcg|kvm>', 'QEMU accelerator for a guest kernel (default tcg)')
    .option('--json', 'print the diff object')
    .addOption(new Option('--strategy <name|file>', STRATEGY_HELP).argParser(strategyArg))
    .option(
      '--recorded',
      "compare with the kernel's recorded answer (expected/NAME.json next to the file) instead of a live run: no root needed",
    )
    .option(
      '--for <duration>',
      "compare `mmsim predict --for` with the live ksmd on the same processes and knobs for that long (60-120s is plenty; a scenario file, or --snapshot FILE of stopped processes): pages_sharing each second within 5%, ksmd's CPU time within 20%",
    )
    .option(
      '--knob <name=value>',
      'with --for: a knob ksmd starts with (repeatable)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option('--advisor <mode>', 'with --for: scan-time lets the advisor set pages_to_scan')
    .option('--model <file>', 'with --for: the ksmd cost model (default the calibrated one)')
    .option('--no-progress', 'no progress bar (it is drawn on a terminal only)')
    .option(
      '--snapshot <file>',
      "a snapshot's stopped processes (mmsim snapshot --keep-stopped): the live ksmd over them against the prediction",
    )
    .option(
      '--full-scans <n>',
      'with --snapshot: full scans, N or increasing counts N1,N2,... (each compared)',
    )
    .option(
      '--copies <n>',
      'with --snapshot and a command after --: start N copies, snapshot them into the file',
    )
    .option('--settle <seconds>', 'with --snapshot and a command: wait before the snapshot (default 2)')
    .option('--with-contents', 'with --snapshot and a command: store the page bytes (default: digests only)')
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim verify scenarios/thp-zero-chains.yaml', 'counters, ksm_stat, smaps and sharing'],
        [
          'sudo pnpm mmsim verify scenarios/predict/mixed-copies.yaml --for 90s',
          'the predicted timeline against the live ksmd',
        ],
        ['mmsim verify scenarios/chains-fork.yaml --json', 'the diff object'],
        [
          'sudo pnpm mmsim verify --kernel 6.12 scenarios/*.yaml',
          'every scenario against Linux 6.12 under QEMU',
        ],
        [
          'pnpm mmsim verify --recorded scenarios/chains-fork.yaml',
          'against the recorded kernel answer, any machine',
        ],
        [
          'sudo mmsim verify --snapshot a.snap --full-scans 1,2,3',
          'live ksmd over stopped processes vs predict',
        ],
        [
          'sudo mmsim verify --snapshot a.snap --for 90s',
          "the predicted timeline against the live ksmd over the snapshot's processes",
        ],
        [
          'sudo mmsim verify --snapshot c.snap --full-scans 1,2,3 --copies 3 -- ./pages 8',
          'start 3 copies, snapshot, compare',
        ],
      ]),
    )
    .action(
      async (
        files: string[],
        o: VerifyOptions & {
          kernel?: string;
          accel?: string;
          snapshot?: string;
          fullScans?: string;
          copies?: string;
          settle?: string;
          withContents?: boolean;
        } & VerifyForOptions,
      ) => {
        if (o.for !== undefined || o.knob !== undefined || o.advisor !== undefined || o.model !== undefined) {
          if (o.for === undefined) throw new UsageError('--knob, --advisor and --model go with --for');
          if (o.snapshot !== undefined) {
            if (o.fullScans !== undefined) throw new UsageError('--for and --full-scans: one or the other');
            if (files.length === 0 && (o.copies !== undefined || o.settle !== undefined))
              throw new UsageError('--copies and --settle need a command after --');
            r.code = await verifyFor(r.io, o.snapshot, o, { command: files });
            return;
          }
          if (files.length !== 1 || o.kernel !== undefined || o.recorded === true || o.strategy !== undefined)
            throw new UsageError(
              '--for compares one file with the live host kernel (no --kernel, --recorded, --strategy)',
            );
          r.code = await verifyFor(r.io, files[0]!, o);
          return;
        }
        if (o.snapshot !== undefined) {
          r.code = await verifySnapshotCommand(r.io, o.snapshot, files, o);
          return;
        }
        if (files.length === 0) throw new UsageError('missing scenario files (or --snapshot FILE)');
        const kernel = kernelChoice(o.kernel, files, r.io);
        if (kernel !== 'host' && o.recorded === true) {
          throw new UsageError(
            `--recorded compares with the host kernel's recording; drop it or --kernel ${kernel}`,
          );
        }
        if (kernel !== 'host') {
          r.code = await guestVerifyCommand(r.io, kernel, files, o);
          return;
        }
        for (const file of files) r.code = Math.max(r.code, await verifyScenario(r.io, file, o));
      },
    );
}
