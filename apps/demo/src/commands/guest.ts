// Guest kernels: `mmsim kernels install|list`, and the `--kernel 6.1|6.12|...` side of
// `mmsim kernel` and `mmsim verify`: scenarios run by the static oracle inside Debian's kernel
// booted under QEMU, one boot per batch.

import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { kernelProfile } from '@mmsim/core';
import {
  compareReports,
  formatReportDiff,
  type LoadedScenario,
  type Report,
  runOnSimulator,
} from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import type { Command } from 'commander';
import { examples, intOption, type Runner } from '../command.ts';
import { formatReport } from '../format.ts';
import {
  GUEST_KERNELS,
  installedKernel,
  installKernels,
  KERNEL_CHOICES,
  kernelSpec,
  kernelsDir,
} from '../guest/kernels.ts';
import { type Accel, GuestError, kvmUsable } from '../guest/qemu.ts';
import {
  type GuestBatch,
  type GuestScenarioResult,
  guestUnavailable,
  runProgramsInGuest,
  runScenariosInGuest,
} from '../guest/scenarios.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { startProgress } from '../progress.ts';
import { loadOrFail } from '../simulate.ts';
import { strategyOption } from './run.ts';

export const KERNEL_OPTION_HELP = `the kernel: ${KERNEL_CHOICES.join(', ')} (default host, the live kernel; the others boot Debian's image under QEMU)`;
/** The directory, next to the scenario files, that holds recorded answers (one per kernel). */
export const EXPECTED_DIR = 'expected';

/** `--kernel` checked: 'host' or a guest kernel's name. Without the flag, the scenarios' own
 * `kernel` when they all name the same guest kernel, else the live kernel. */
export function kernelChoice(
  value: string | undefined,
  files: readonly string[],
  io: Pick<Io, 'stdin'>,
): string {
  if (value === 'host') return 'host';
  if (value !== undefined) return kernelSpec(value).name;
  const named = new Set(files.map((f) => loadOrFail(f, io).scenario.kernel));
  const only = named.size === 1 ? [...named][0] : undefined;
  return only !== undefined && GUEST_KERNELS.some((k) => k.name === only) ? only : 'host';
}

export function accelChoice(value: string | undefined): Accel {
  if (value === undefined || value === 'tcg') return 'tcg';
  if (value === 'kvm') {
    if (!kvmUsable()) throw new UsageError('--accel kvm: /dev/kvm cannot be opened');
    return 'kvm';
  }
  throw new UsageError(`--accel: expected tcg or kvm, found "${value}"`);
}

/** Throws a UsageError (exit 2) when scenarios cannot run on guest kernel `name` here. */
export function requireGuest(name: string): void {
  const why = guestUnavailable(name);
  if (why !== null) throw new UsageError(`kernel ${name} cannot boot here: ${why}`);
}

/** scenarios/NAME.yaml -> scenarios/expected/<kernel>/NAME.json */
export function guestRecordingPath(scenarioFile: string, kernel: string): string {
  const name = basename(scenarioFile, extname(scenarioFile));
  return join(dirname(scenarioFile), EXPECTED_DIR, kernel, `${name}.json`);
}

/** Writes a guest kernel's answer as a recording (the format of scenarios/expected/NAME.json). */
export function writeGuestRecording(
  file: string,
  batch: GuestBatch,
  report: Report,
  now = new Date(),
): string {
  const path = guestRecordingPath(file, batch.kernel.name);
  mkdirSync(dirname(path), { recursive: true });
  const rec = {
    recording: 1,
    scenario: basename(file),
    kernel: batch.guest.release,
    recorded: now.toISOString(),
    report,
  };
  writeFileSync(path, `${JSON.stringify(rec, null, 1)}\n`);
  return path;
}

/** Loads every file, boots `kernel` once for them all (bootBatch()) and prints the batch's header
 * line. */
async function runBatch(
  io: Io,
  kernel: string,
  files: string[],
  o: { accel?: string; progress?: boolean },
): Promise<{ loaded: LoadedScenario[]; b: GuestBatch }> {
  const loaded = files.map((f) => loadOrFail(f, io));
  const b = await bootBatch(io, kernel, loaded, o);
  batchHeader(io, b);
  return { loaded, b };
}

/** Boots `kernel` once for every scenario, with a progress bar following /init's jobs. */
async function bootBatch(
  io: Io,
  kernel: string,
  loaded: LoadedScenario[],
  o: { accel?: string; progress?: boolean },
): Promise<GuestBatch> {
  requireGuest(kernel);
  const bar = startProgress(io, `Linux ${kernel} (QEMU)`, loaded.length + 1, o.progress !== false);
  let done = 0;
  try {
    bar.update(0, 'booting');
    return await runScenariosInGuest(kernel, loaded, {
      accel: accelChoice(o.accel),
      onWait: (m) => bar.log(`mmsim: ${m}`),
      onConsole: (line) => {
        const m = /^mmsim-guest: job scenario-(\d+)$/.exec(line);
        if (m !== null) bar.update(++done, basename(loaded[Number(m[1])]!.file));
        else if (/^mmsim-guest: (cannot|bad|set )/.test(line) || /Kernel panic/.test(line)) bar.log(line);
      },
    });
  } catch (e) {
    if (e instanceof GuestError) throw new UsageError(e.message);
    throw e;
  } finally {
    bar.stop();
  }
}

function batchHeader(io: Io, b: GuestBatch): void {
  const g = b.guest;
  io.err(
    `mmsim: Linux ${g.release} (${b.kernel.package} ${b.kernel.version}) under QEMU ${g.accel}, ${g.memoryMiB} MiB: ` +
      `booted in ${(g.bootMs / 1000).toFixed(1)} s, ${b.results.length} scenario${b.results.length === 1 ? '' : 's'} ` +
      `in ${(g.totalMs / 1000).toFixed(1)} s\n`,
  );
}

/** The line of a scenario the guest refused or failed to run; its exit code (2 refused, 1 failed). */
function guestFailure(io: Io, b: GuestBatch, r: GuestScenarioResult): number {
  io.err(`mmsim: ${r.file}: ${r.refused ? 'refused' : 'failed'} on Linux ${b.guest.release}: ${r.error}\n`);
  return r.refused ? 2 : 1;
}

/** `mmsim kernel --kernel <guest> FILES...`: exit 0 when every report is ok, 1 otherwise, 2 when
 * the oracle refused a scenario. */
export async function guestKernelCommand(
  io: Io,
  kernel: string,
  files: string[],
  o: { json?: boolean; progress?: boolean; accel?: string; record?: boolean },
): Promise<number> {
  const { b } = await runBatch(io, kernel, files, o);
  let code = 0;
  const json: unknown[] = [];
  for (const r of b.results) {
    if (r.report === undefined) {
      code = Math.max(code, guestFailure(io, b, r));
      json.push({ file: r.file, error: r.error, refused: r.refused });
      continue;
    }
    if (!r.report.ok) code = Math.max(code, 1);
    if (o.record === true) io.err(`mmsim: recorded ${writeGuestRecording(r.file, b, r.report)}\n`);
    if (o.json === true) json.push({ file: r.file, report: r.report });
    else io.out(formatReport(r.report, io.colors));
  }
  if (o.json === true)
    printJson(io, { kernel: b.kernel, release: b.guest.release, bootMs: b.guest.bootMs, results: json });
  return code;
}

/** `mmsim verify --kernel <guest> FILES...`: the simulator against the guest kernel, every file. */
export async function guestVerifyCommand(
  io: Io,
  kernel: string,
  files: string[],
  o: { json?: boolean; progress?: boolean; accel?: string; strategy?: string },
): Promise<number> {
  const strategy = await strategyOption(o.strategy);
  const { loaded, b } = await runBatch(io, kernel, files, o);
  let code = 0;
  const json: unknown[] = [];
  const c = io.colors;
  loaded.forEach((l, i) => {
    const r = b.results[i]!;
    if (r.report === undefined) {
      code = Math.max(code, guestFailure(io, b, r));
      json.push({ file: r.file, error: r.error });
      return;
    }
    const sim = runOnSimulator(l, {
      host: hostMemory(),
      kernel: kernelProfile(kernelSpec(kernel).profile),
      ...(strategy === undefined ? {} : { strategy }),
    });
    const diff = compareReports(sim, r.report);
    if (!diff.equal) code = Math.max(code, 1);
    if (o.json === true) json.push({ file: r.file, diff });
    else {
      const head = diff.equal ? c.green('match') : c.red('MISMATCH');
      io.out(`${c.bold(`scenario ${sim.scenario}`)}: simulator vs Linux ${b.guest.release}: ${head}\n`);
      if (!diff.equal) io.out(`${formatReportDiff(diff)}\n`);
    }
  });
  if (o.json === true) printJson(io, { kernel: b.kernel, release: b.guest.release, results: json });
  return code;
}

export function defineKernels(program: Command, r: Runner): void {
  const kernels = program
    .command('kernels')
    .description('the guest kernels mmsim boots under QEMU (Debian 6.1 and 6.12 images)');
  kernels
    .command('install')
    .argument('[names...]', `which kernels (default all: ${GUEST_KERNELS.map((k) => k.name).join(', ')})`)
    .description(
      `as root: apt-get install QEMU and the static C library, add Debian's bookworm-backports to the apt sources, and extract each kernel's image from its .deb into ${kernelsDir()} (MMSIM_KERNELS_DIR); idempotent`,
    )
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim kernels install', 'QEMU and every guest kernel'],
        ['sudo pnpm mmsim kernels install 6.1', 'just Debian 12 6.1'],
      ]),
    )
    .action((names: string[]) => {
      const want = names.length === 0 ? GUEST_KERNELS.map((k) => k.name) : names;
      for (const k of installKernels(want, (s) => r.io.err(`${s}\n`))) {
        r.io.out(`${k.name}: Linux ${k.release} (${k.package} ${k.version}) ${k.vmlinuz}\n`);
      }
    });
  kernels
    .command('exec')
    .argument('<kernel>', `a guest kernel (${GUEST_KERNELS.map((k) => k.name).join(', ')})`)
    .argument(
      '<program>',
      'a C source file, built with cc -static (e.g. native/ksm-zero-pages-leak.c), or a static executable',
    )
    .argument('[args...]', 'its arguments')
    .description(
      'build a C program statically and run it as root in one boot of a guest kernel; prints its output',
    )
    .option(
      '--each <args>',
      'run the program once per --each, with these space-separated arguments instead (one boot for all)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--timeout <seconds>', 'kill each run after this long inside the guest', '600')
    .option('--memory <MiB>', 'guest memory', '1024')
    .option('--numa <nodes>', 'NUMA nodes of the guest (memory split evenly)', '1')
    .option('--accel <tcg|kvm>', 'QEMU accelerator (default tcg)')
    .addHelpText(
      'after',
      examples([
        ['sudo pnpm mmsim kernels exec 6.12 native/ksm-zero-pages-leak.c', 'the reproducer on 6.12'],
      ]),
    )
    .action(
      async (
        kernel: string,
        source: string,
        args: string[],
        o: { timeout: string; memory: string; numa: string; accel?: string; each: string[] },
      ) => {
        const name = kernelSpec(kernel).name;
        requireGuest(name);
        const timeoutSeconds = intOption('--timeout', o.timeout, 1, 86400);
        const memoryMiB = intOption('--memory', o.memory, 256, 16384);
        let run: Awaited<ReturnType<typeof runProgramsInGuest>>;
        try {
          const runs = o.each.length === 0 ? [args] : o.each.map((e) => e.split(' ').filter((a) => a !== ''));
          run = await runProgramsInGuest(
            name,
            runs.map((a) => ({ source: resolve(source), args: a, timeoutSeconds })),
            { accel: accelChoice(o.accel), memoryMiB, numaNodes: intOption('--numa', o.numa, 1, 8) },
          );
        } catch (e) {
          if (e instanceof GuestError) throw new UsageError(e.message);
          throw e;
        }
        r.io.err(
          `mmsim: Linux ${run.guest.release} under QEMU ${run.guest.accel}: booted in ${(run.guest.bootMs / 1000).toFixed(1)} s\n`,
        );
        for (const job of run.guest.jobs) {
          r.io.out(
            `$ ${basename(source)} ${job.args.join(' ')}   # ended with ${job.status} after ${job.ms} ms\n`,
          );
          r.io.out(job.stdout.toString('utf8'));
          if (job.stderr.length > 0) r.io.err(job.stderr.toString('utf8'));
          if (job.status !== '0') r.code = 1;
        }
      },
    );
  kernels
    .command('list')
    .description('the guest kernels, whether each is installed and can boot here')
    .option('--json', 'print the list as JSON')
    .action((o: { json?: boolean }) => {
      const rows = GUEST_KERNELS.map((s) => {
        const k = installedKernel(s.name);
        return { ...s, installed: k ?? null, unavailable: guestUnavailable(s.name) };
      });
      if (o.json === true) return printJson(r.io, rows);
      for (const row of rows) {
        const what = row.installed === null ? 'not installed' : `Linux ${row.installed.release}`;
        const can = row.unavailable === null ? 'ready' : row.unavailable;
        r.io.out(`${row.name.padEnd(8)} ${what.padEnd(36)} ${can}\n  ${row.why}\n`);
      }
    });
}
