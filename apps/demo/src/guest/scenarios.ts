// Scenarios on a guest kernel: the statically linked oracle runs every scenario of a batch in one
// boot of a Debian kernel under QEMU, and each report comes back as if the oracle had run here.
// Node-only.

import { readFileSync } from 'node:fs';
import { MiB, PAGE_SIZE } from '@mmsim/core';
import { type LoadedScenario, planScenario, type Report, reportSchema } from '@mmsim/scenario';
import { encodeInstructions } from '@mmsim/scenario/node';
import { buildGuestInit, buildStatic, buildStaticOracle, staticBuildUnavailable } from './build.ts';
import { type InstalledKernel, installedKernel, kernelSpec, kernelsDir } from './kernels.ts';
import {
  type Accel,
  bootGuest,
  type GuestJob,
  type GuestRun,
  type JobResult,
  qemuUnavailable,
} from './qemu.ts';

/** Guest memory besides the scenarios': the kernel, the initramfs, and the 512 MiB the oracle keeps
 * free (it refuses a scenario above 3/4 of MemAvailable - 512 MiB). */
export const GUEST_BASE_MIB = 1024;
/** A guest never gets more (the machine is shared); a bigger scenario is refused for guests. */
export const GUEST_MAX_MIB = 4096;
const MEMORY_GRANULE_MIB = 64;
/** Per-scenario budget inside the guest: a base plus a share per full scan it asks for (TCG). */
const JOB_BASE_SECONDS = 60;
const JOB_SECONDS_PER_SCAN = 10;
const DEFAULT_CONVERGE_SCANS = 50;
const GUEST_ORACLE = '/mmsim/bin/mmsim-oracle';
/** Host THP settings the guest copies (Debian's kernels default to enabled=always). */
const THP_DIR = '/sys/kernel/mm/transparent_hugepage';
const THP_SETTINGS = [
  'enabled',
  'defrag',
  'shmem_enabled',
  'use_zero_page',
  'khugepaged/defrag',
  'khugepaged/max_ptes_none',
  'khugepaged/max_ptes_swap',
  'khugepaged/max_ptes_shared',
  'khugepaged/pages_to_scan',
  'khugepaged/scan_sleep_millisecs',
  'khugepaged/alloc_sleep_millisecs',
];

/** Why scenarios cannot run on guest kernel `name` here, or null. */
export function guestUnavailable(name: string, dir = kernelsDir()): string | null {
  kernelSpec(name);
  const q = qemuUnavailable();
  if (q !== null) return q;
  const s = staticBuildUnavailable();
  if (s !== null) return s;
  if (installedKernel(name, dir) === undefined)
    return `kernel ${name} is not installed in ${dir} (sudo pnpm mmsim kernels install)`;
  return null;
}

/** The host's THP settings as [path, value] for the guest's /init. */
export function hostThpSettings(): [string, string][] {
  const out: [string, string][] = [];
  for (const f of THP_SETTINGS) {
    try {
      let v = readFileSync(`${THP_DIR}/${f}`, 'utf8').trim();
      const m = /\[([^\]]*)\]/.exec(v);
      if (m !== null) v = m[1]!;
      out.push([`${THP_DIR}/${f}`, v]);
    } catch {}
  }
  return out;
}

export interface GuestScenarioResult {
  file: string;
  /** The oracle's report, when it printed one. */
  report?: Report;
  /** Why there is no report: the oracle's refusal (exit 2) or failure, a timeout, a lost guest. */
  error?: string;
  refused: boolean;
  ms: number;
  stderr: string;
}

export interface GuestBatch {
  kernel: InstalledKernel;
  guest: GuestRun;
  results: GuestScenarioResult[];
}

function jobSeconds(l: LoadedScenario): number {
  let scans = 0;
  for (const s of l.scenario.steps) {
    if (s.op === 'ksm_scan') scans += s.full_scans;
    else if (s.op === 'ksm_converge') scans += s.max_full_scans ?? DEFAULT_CONVERGE_SCANS;
  }
  return JOB_BASE_SECONDS + JOB_SECONDS_PER_SCAN * scans;
}

/** Guest memory for a batch: the base plus twice the largest scenario's populated memory. */
export function guestMemoryMiB(loaded: readonly LoadedScenario[]): number {
  let most = 0;
  for (const l of loaded) most = Math.max(most, planScenario(l.scenario, l.file).populatedPages);
  const need = GUEST_BASE_MIB + Math.ceil((2 * most * PAGE_SIZE) / MiB);
  return Math.ceil(need / MEMORY_GRANULE_MIB) * MEMORY_GRANULE_MIB;
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

export interface GuestBatchOptions {
  accel?: Accel;
  onConsole?: (line: string) => void;
  onWait?: (message: string) => void;
  signal?: AbortSignal;
}

/**
 * Runs the scenarios on guest kernel `name` in one boot. Throws a GuestError when the guest cannot
 * boot; a scenario the oracle refuses or that the guest did not finish has `error` set.
 */
export async function runScenariosInGuest(
  name: string,
  loaded: readonly LoadedScenario[],
  o: GuestBatchOptions = {},
): Promise<GuestBatch> {
  const kernel = installedKernel(name);
  if (kernel === undefined) throw new Error(`kernel ${name} is not installed`);
  const memoryMiB = guestMemoryMiB(loaded);
  const jobs: GuestJob[] = loaded.map((l, i) => ({
    name: `scenario-${i}`,
    argv: [GUEST_ORACLE, '--lock', '/tmp/mmsim-ksm.lock', '--lock-timeout', '10'],
    stdin: Buffer.from(encodeInstructions(l.scenario)),
    timeoutSeconds: jobSeconds(l),
  }));
  const guest = await bootGuest({
    kernel,
    init: readFileSync(buildGuestInit()),
    files: [
      { path: 'mmsim/bin' },
      { path: GUEST_ORACLE.slice(1), data: readFileSync(buildStaticOracle()), mode: 0o755 },
    ],
    jobs,
    settings: hostThpSettings(),
    memoryMiB,
    accel: o.accel ?? 'tcg',
    ...(o.onConsole === undefined ? {} : { onConsole: o.onConsole }),
    ...(o.onWait === undefined ? {} : { onWait: o.onWait }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  const results = guest.jobs.map((j, i): GuestScenarioResult => {
    const file = loaded[i]!.file;
    const stderr = j.stderr.toString('utf8');
    const base = { file, ms: j.ms, stderr, refused: false };
    if (j.status === 'lost') return { ...base, error: 'the guest stopped before this scenario finished' };
    if (j.status === 'timeout')
      return { ...base, error: `timed out in the guest after ${jobs[i]!.timeoutSeconds} s` };
    if (j.status === '2') return { ...base, refused: true, error: lastLine(stderr) || 'the oracle refused' };
    if (j.status !== '0') return { ...base, error: `the oracle ended with ${j.status}: ${lastLine(stderr)}` };
    let json: unknown;
    try {
      json = JSON.parse(j.stdout.toString('utf8'));
    } catch (e) {
      return { ...base, error: `the oracle printed invalid JSON: ${(e as Error).message}` };
    }
    const parsed = reportSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return {
        ...base,
        error: `the report does not match the format at ${issue.path.join('.')}: ${issue.message}`,
      };
    }
    return { ...base, report: parsed.data as Report };
  });
  return { kernel, guest, results };
}

/** A program for runProgramsInGuest(). */
export interface GuestProgram {
  /** A C source (absolute or relative to native/), built with cc -static; or a static executable. */
  source: string;
  args: string[];
  /** Extra compiler arguments (-D..., -l...). */
  cflags?: string[];
  timeoutSeconds: number;
}

/** Builds each program statically and runs it in one boot of guest kernel `name`, as root, in the
 * order given (their stdout and stderr come back as the jobs' output). */
export async function runProgramsInGuest(
  name: string,
  programs: readonly GuestProgram[],
  o: GuestBatchOptions & { memoryMiB?: number; numaNodes?: number } = {},
): Promise<{ kernel: InstalledKernel; guest: GuestRun & { jobs: (JobResult & { args: string[] })[] } }> {
  const kernel = installedKernel(name);
  if (kernel === undefined) throw new Error(`kernel ${name} is not installed`);
  const files: { path: string; data?: Buffer; mode?: number }[] = [{ path: 'mmsim/bin' }];
  const jobs: GuestJob[] = programs.map((p, i) => {
    const base = p.source.replace(/^.*\//, '').replace(/\.c$/, '');
    const binary = p.source.endsWith('.c') ? buildStatic(base, [p.source], p.cflags ?? []) : p.source;
    const inGuest = `mmsim/bin/${i}-${base}`;
    files.push({ path: inGuest, data: readFileSync(binary), mode: 0o755 });
    return { name: `${i}-${base}`, argv: [`/${inGuest}`, ...p.args], timeoutSeconds: p.timeoutSeconds };
  });
  const guest = await bootGuest({
    kernel,
    init: readFileSync(buildGuestInit()),
    files,
    jobs,
    settings: hostThpSettings(),
    memoryMiB: o.memoryMiB ?? GUEST_BASE_MIB,
    accel: o.accel ?? 'tcg',
    ...(o.numaNodes === undefined ? {} : { numaNodes: o.numaNodes }),
    ...(o.onConsole === undefined ? {} : { onConsole: o.onConsole }),
    ...(o.onWait === undefined ? {} : { onWait: o.onWait }),
    ...(o.signal === undefined ? {} : { signal: o.signal }),
  });
  return { kernel, guest: { ...guest, jobs: guest.jobs.map((j, i) => ({ ...j, args: programs[i]!.args })) } };
}
