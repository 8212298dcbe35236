// mmsim record [files...]: the live kernel's answer for scenario files, recorded next to them
// (scenarios/expected/NAME.json) so that `verify --recorded` and the scenario tests compare the
// simulator with Linux on machines without root or KSM.

import { existsSync } from 'node:fs';
import { relative } from 'node:path';
import {
  listScenarioFiles,
  RECORDING_RUNS,
  type Recording,
  RecordingUnstableError,
  recordingPath,
  recordScenario,
  SCENARIOS_DIR,
  writeRecording,
} from '@mmsim/scenario/node';
import type { Command } from 'commander';
import { examples, type Runner } from '../command.ts';
import type { Io } from '../io.ts';
import { loadOrFail } from '../simulate.ts';
import { requireKernel, WORTH_SHOWING } from './kernel.ts';

export interface RecordOptions {
  missing?: boolean;
}

/**
 * Records each file (every scenario in the repository's scenarios/ when none is named): two kernel
 * runs that must be equal, else nothing is written for that file. Exit 1 when any file was not
 * recorded.
 */
export async function recordScenarios(io: Io, files: string[], o: RecordOptions): Promise<number> {
  const all = files.length > 0 ? files : listScenarioFiles(SCENARIOS_DIR);
  const todo = o.missing === true ? all.filter((f) => !existsSync(recordingPath(f))) : all;
  // Every file is checked before the first (long) kernel run.
  const loaded = todo.map((f) => loadOrFail(f, io));
  if (loaded.length === 0) {
    io.out('nothing to record\n');
    return 0;
  }
  requireKernel();
  let failed = 0;
  for (const l of loaded) {
    io.err(`mmsim record: ${relative(process.cwd(), l.file)}: ${RECORDING_RUNS} kernel runs...\n`);
    let rec: Recording;
    try {
      rec = await recordScenario(l, {
        onStderr: (line) => {
          if (WORTH_SHOWING.test(line)) io.err(`${line}\n`);
        },
      });
    } catch (e) {
      if (!(e instanceof RecordingUnstableError)) throw e;
      io.err(`mmsim: ${e.message}\n`);
      failed++;
      continue;
    }
    const path = writeRecording(l.file, rec);
    const note = rec.report.ok ? '' : ` (the kernel failed ${rec.report.failures.length} step(s))`;
    io.out(
      `${relative(process.cwd(), path)}: ${rec.report.reports.length} reports, Linux ${rec.kernel}${note}\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}

export function defineRecord(program: Command, r: Runner): void {
  program
    .command('record')
    .argument('[files...]', 'scenario files (default: every scenario in scenarios/)')
    .description(
      `record the live kernel's report for scenario files in expected/NAME.json next to them (${RECORDING_RUNS} runs that must be equal; needs root and KSM)`,
    )
    .option('--missing', 'only the files that have no recording yet')
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim record scenarios/chains-fork.yaml', 'writes scenarios/expected/chains-fork.json'],
        ['sudo pnpm mmsim record --missing', 'every scenario without a recording'],
        ['sudo pnpm mmsim record', 'every scenario again (after a kernel upgrade)'],
      ]),
    )
    .action(async (files: string[], o: RecordOptions) => {
      r.code = await recordScenarios(r.io, files, o);
    });
}
