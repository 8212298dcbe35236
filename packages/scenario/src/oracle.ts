// The TypeScript side of the live-kernel oracle (native/oracle.c): builds the C program with the
// system compiler, says whether a kernel-side run is possible here, turns a validated scenario into
// the line-based instruction stream the C program reads on stdin, runs it and returns its report.
//
// Serialization: the C program takes flock(LOCK_EX) on a lock file (default /tmp/mmsim-ksm.lock)
// before it touches KSM and holds it for the whole run, so two kernel-side runs never overlap, in
// any process. flock locks belong to the open file and the kernel drops them when the holder dies,
// so a crashed run never leaves a stale lock. The same file journals the knobs the run saved; a
// run killed with SIGKILL (the one signal it cannot catch) has its knobs restored by the next run.
import { execFileSync, spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errnoFromName } from '@mmsim/core';
import { MAX_REPORT_LABELS } from './guard.ts';
import { type Report, reportSchema } from './report.ts';
import {
  type FillPattern,
  KHUGEPAGED_KNOB_DEFAULTS,
  KHUGEPAGED_KNOBS,
  KSM_KNOB_DEFAULTS,
  type KsmInitialKnob,
  knobString,
  MADVISE_ADVICE,
  type Prot,
  prctlArgs,
  resolveRange,
  type Scenario,
  usesKhugepaged,
} from './schema.ts';
import { planScenario, REGION_BASE, REGION_LIMIT, type ScenarioPlan } from './validate.ts';

/** The repository's native/ directory (same depth from src/ and dist/). */
export const NATIVE_DIR: string = fileURLToPath(new URL('../../../native/', import.meta.url));
export const ORACLE_SOURCE: string = join(NATIVE_DIR, 'oracle.c');
export const ORACLE_BINARY: string = join(NATIVE_DIR, 'build', 'mmsim-oracle');
export const DEFAULT_LOCK_PATH = '/tmp/mmsim-ksm.lock';
export const KSM_SYSFS = '/sys/kernel/mm/ksm';
/** Set (to anything but "" or "0"), the live kernel counts as unavailable: what a machine without
 * root or KSM sees, on any machine. */
export const OFFLINE_ENV = 'MMSIM_OFFLINE';

/** Any failure of the oracle; `exitCode` is the C program's (or -1 when it did not run). */
export class OracleError extends Error {
  override name = 'OracleError';
  readonly exitCode: number;
  readonly stderr: string;
  constructor(message: string, exitCode = -1, stderr = '') {
    super(message);
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** A kernel-side run is impossible here (not root, no KSM, no compiler...). */
export class OracleUnavailableError extends OracleError {
  override name = 'OracleUnavailableError';
}

/** The oracle refused to run (exit code 2): another KSM user, non-zero counters after run=2,
 * a scenario that does not fit in memory... The message says why, with the numbers. */
export class OracleRefusedError extends OracleError {
  override name = 'OracleRefusedError';
}

export type OracleAvailability = { available: true; binary: string } | { available: false; reason: string };

/** The C compiler: $CC when set, else `cc`, found on PATH; undefined when there is none. */
export function findCompiler(): string | undefined {
  const cc = process.env.CC?.trim() || 'cc';
  if (cc.includes('/')) return isExecutable(cc) ? cc : undefined;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && isExecutable(join(dir, cc))) return join(dir, cc);
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function binaryIsFresh(binary = ORACLE_BINARY): boolean {
  try {
    return statSync(binary).mtimeMs >= statSync(ORACLE_SOURCE).mtimeMs;
  } catch {
    return false;
  }
}

/**
 * Whether a kernel-side run can happen on this machine, and if not, why. Cheap and synchronous:
 * it does not build the oracle (a compiler or an up-to-date binary is enough).
 */
export function oracleAvailability(): OracleAvailability {
  const offline = process.env[OFFLINE_ENV] ?? '';
  if (offline !== '' && offline !== '0') {
    return { available: false, reason: `${OFFLINE_ENV}=${offline}: the live kernel is not used` };
  }
  if (process.platform !== 'linux') return { available: false, reason: `not Linux (${process.platform})` };
  if (process.geteuid?.() !== 0) {
    return {
      available: false,
      reason: `not root (euid ${process.geteuid?.()}): KSM knobs and pagemap PFNs need root`,
    };
  }
  if (!existsSync(join(KSM_SYSFS, 'run')))
    return { available: false, reason: `no ${KSM_SYSFS} (kernel without KSM)` };
  try {
    accessSync(join(KSM_SYSFS, 'run'), constants.W_OK);
  } catch {
    return { available: false, reason: `${KSM_SYSFS}/run is not writable` };
  }
  if (!existsSync(ORACLE_SOURCE)) return { available: false, reason: `no ${ORACLE_SOURCE}` };
  if (!binaryIsFresh() && findCompiler() === undefined) {
    return { available: false, reason: 'no C compiler (cc) to build native/oracle.c' };
  }
  return { available: true, binary: ORACLE_BINARY };
}

/**
 * Builds native/build/mmsim-oracle when it is missing or older than native/oracle.c, with
 * `cc -O2 -Wall -Wextra`. The output is written to a temporary name and renamed, so concurrent
 * builds (parallel test workers) never see a half-written binary. Returns the binary's path.
 */
export function buildOracle(opts: { force?: boolean } = {}): string {
  if (opts.force !== true && binaryIsFresh()) return ORACLE_BINARY;
  const cc = findCompiler();
  if (cc === undefined) throw new OracleUnavailableError('no C compiler (cc) to build native/oracle.c');
  mkdirSync(join(NATIVE_DIR, 'build'), { recursive: true });
  const tmp = `${ORACLE_BINARY}.${process.pid}.tmp`;
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-o', tmp, ORACLE_SOURCE], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    renameSync(tmp, ORACLE_BINARY);
  } catch (e) {
    const err = e as { stderr?: Buffer; message: string };
    try {
      unlinkSync(tmp);
    } catch {}
    throw new OracleError(`building the oracle failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  return ORACLE_BINARY;
}

// ---------------------------------------------------------------------------------------------
// The instruction stream

/** %XX-encodes every byte outside [A-Za-z0-9_.-], so a token never holds a space or newline. */
export function encodeToken(s: string): string {
  if (s === '') return '%00'; // decodes to an empty C string
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

const PROT_CODE: Record<Prot, number> = { none: 0, r: 1, rw: 2 };

/** Knob writes before the first step, in an order the kernel accepts: advisor parameters, the
 * advisor off (pages_to_scan is EINVAL while it is on), the rest, and the advisor mode last. */
function initialKnobs(scenario: Scenario): string[] {
  const set = scenario.ksm ?? {};
  const value = (k: KsmInitialKnob): string => knobString(set[k] ?? KSM_KNOB_DEFAULTS[k]);
  const line = (k: KsmInitialKnob, v = value(k)): string =>
    `init ${k} ${encodeToken(v)} ${set[k] === undefined ? 0 : 1}`;
  const out: string[] = [];
  const order: KsmInitialKnob[] = [
    'advisor_max_cpu',
    'advisor_min_pages_to_scan',
    'advisor_max_pages_to_scan',
    'advisor_target_scan_time',
  ];
  for (const k of order) out.push(line(k));
  out.push(line('advisor_mode', 'none'));
  for (const k of [
    'pages_to_scan',
    'sleep_millisecs',
    'max_page_sharing',
    'merge_across_nodes',
    'use_zero_pages',
    'smart_scan',
    'stable_node_chains_prune_millisecs',
  ] as const) {
    out.push(line(k));
  }
  if (value('advisor_mode') !== 'none') out.push(line('advisor_mode'));
  return out;
}

/** Whether khugepaged could collapse the scenario's memory: a THP region, MADV_HUGEPAGE or
 * MADV_COLLAPSE, or khugepaged itself. The oracle then holds khugepaged off for the run. */
function usesThp(scenario: Scenario): boolean {
  return (
    usesKhugepaged(scenario) ||
    scenario.steps.some(
      (s) =>
        (s.op === 'mmap' && s.thp === true) ||
        (s.op === 'madvise' && (s.advice === 'MADV_HUGEPAGE' || s.advice === 'MADV_COLLAPSE')),
    )
  );
}

/** A fill pattern of `pages` pages as the oracle's stream writes it (`unique` is `ids` with one id
 * per page). */
function oraclePattern(p: FillPattern, pages: number): string {
  switch (p.kind) {
    case 'zero':
      return 'zero';
    case 'byte':
      return `byte ${p.value}`;
    case 'ids':
      return `ids ${p.count} ${p.seed} ${p.layout === 'blocked' ? 1 : 0}`;
    case 'unique':
      return `ids ${pages} ${p.seed} 0`;
  }
}
/**
 * The instruction stream for native/oracle.c (format in native/README.md): a header, the
 * processes and regions of the plan, the initial knobs, one `step` line per step, and `end`.
 */
export function encodeInstructions(
  scenario: Scenario,
  plan: ScenarioPlan = planScenario(scenario),
  ksmdFor?: KsmdForOptions,
): string {
  if (scenario.steps.some((st) => st.op === 'restore'))
    throw new OracleRefusedError(
      'refusing to run: a restore step runs on the simulator only (the live side of a snapshot is mmsim verify --snapshot)',
      2,
    );
  const procIndex = new Map(plan.procs.map((p) => [p.name, p.index]));
  const pi = (name: string): number => procIndex.get(name)!;
  const lines: string[] = [
    'mmsim-oracle 1',
    `scenario ${encodeToken(scenario.name)}`,
    `populate ${plan.populatedPages}`,
    `window ${REGION_BASE} ${REGION_LIMIT}`,
  ];
  for (const p of plan.procs) lines.push(`proc ${p.index} ${encodeToken(p.name)} ${p.parent}`);
  for (const f of plan.files)
    lines.push(`file ${f.index} ${encodeToken(f.name)} ${f.pages} ${oraclePattern(f.pattern, f.pages)}`);
  for (const r of plan.regions) {
    // a region mapping a file names it last (older oracles read regions without one)
    lines.push(
      `region ${r.index} ${pi(r.proc)} ${encodeToken(r.name)} ${r.addr} ${r.pages} ${r.thp ? 1 : 0} ${r.shared ? 1 : 0}${r.file >= 0 ? ` ${r.file}` : ''}`,
    );
  }
  lines.push(...initialKnobs(scenario));
  if (usesThp(scenario)) lines.push('khugepaged_hold');
  if (usesKhugepaged(scenario)) {
    // Every khugepaged knob, so a run does not depend on what the machine had set.
    const set = scenario.khugepaged ?? {};
    for (const k of KHUGEPAGED_KNOBS) {
      lines.push(
        `init khugepaged/${k} ${set[k] ?? KHUGEPAGED_KNOB_DEFAULTS[k]} ${set[k] === undefined ? 0 : 1}`,
      );
    }
    lines.push('khugepaged_report');
  }
  scenario.steps.forEach((step, i) => {
    const errno = step.expect_errno === undefined ? 0 : errnoFromName(step.expect_errno)!;
    const ri = plan.stepRegion[i]!;
    const region = plan.regions[ri];
    const range = (s: { from?: number | undefined; count?: number | undefined }): string => {
      const { from, count } = resolveRange(s, region!.pages);
      return `${from} ${count}`;
    };
    let args: string;
    switch (step.op) {
      case 'spawn':
        args = `${pi(step.proc)}`;
        break;
      case 'mmap':
        args = `${pi(step.proc)} ${ri} ${PROT_CODE[step.prot ?? 'rw']}`;
        break;
      case 'fill': {
        const { count } = resolveRange(step, region!.pages);
        args = `${pi(step.proc)} ${ri} ${range(step)} ${oraclePattern(step.pattern, count)}`;
        break;
      }
      case 'write':
        args = `${pi(step.proc)} ${ri} ${step.page} ${step.offset ?? 0} ${step.value}`;
        break;
      case 'touch':
      case 'munmap':
        args = `${pi(step.proc)} ${ri} ${range(step)}`;
        break;
      case 'madvise':
        args = `${pi(step.proc)} ${ri} ${range(step)} ${MADVISE_ADVICE[step.advice]}`;
        break;
      case 'mprotect':
        args = `${pi(step.proc)} ${ri} ${range(step)} ${PROT_CODE[step.prot]}`;
        break;
      case 'prctl':
        // The last argument: the expected return value, or -1 (prctl returns no negative value).
        args = `${pi(step.proc)} ${prctlArgs(step).join(' ')} ${step.expect_value ?? -1}`;
        break;
      case 'fork':
        args = `${pi(step.proc)} ${pi(step.child)}`;
        break;
      case 'exit':
        args = `${pi(step.proc)}`;
        break;
      case 'knob':
        args = `${step.name} ${encodeToken(knobString(step.value))}`;
        break;
      case 'ksm_scan':
        args = `${step.full_scans}`;
        break;
      case 'ksm_converge':
        args = `${step.max_full_scans ?? 50}`;
        break;
      case 'ksm_unmerge_all':
        args = '';
        break;
      case 'khugepaged_scan':
        args = `${step.full_scans}`;
        break;
      case 'report':
        args = encodeToken(step.label);
        break;
      case 'expect': {
        const t: string[] = [];
        for (const [k, v] of Object.entries(step.ksm ?? {})) if (v !== undefined) t.push(`k ${k} ${v}`);
        for (const [name, fields] of Object.entries(step.proc ?? {})) {
          for (const [f, v] of Object.entries(fields)) {
            if (v === undefined) continue;
            if (f === 'smaps') {
              for (const [sf, sv] of Object.entries(v as Record<string, number | undefined>)) {
                if (sv !== undefined) t.push(`p ${pi(name)} smaps.${sf} ${sv}`);
              }
            } else {
              t.push(`p ${pi(name)} ${f} ${typeof v === 'boolean' ? (v ? 1 : 0) : v}`);
            }
          }
        }
        args = t.join(' ');
        break;
      }
      case 'restore':
        return; // refused above
    }
    lines.push(`step ${i} ${errno} ${step.op}${args === '' ? '' : ` ${args}`}`);
  });
  if (ksmdFor !== undefined)
    lines.push(`step ${scenario.steps.length} 0 ksm_timed ${ksmdFor.ms} ${ksmdFor.sampleMs}`);
  lines.push('end');
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Running

export interface RunOnKernelOptions {
  /** The oracle binary; default: native/build/mmsim-oracle, built when missing or stale. */
  binary?: string;
  /** The lock file serializing kernel-side runs (default /tmp/mmsim-ksm.lock). */
  lockPath?: string;
  /** How long to wait for another run's lock, in seconds (default 600). */
  lockTimeoutSeconds?: number;
  /** Called with each line the oracle writes to stderr (progress, warnings). */
  onStderr?: (line: string) => void;
  /** Aborting sends `killSignal` (default SIGTERM, on which the oracle restores every knob and
   * exits 143). */
  signal?: AbortSignal;
  killSignal?: NodeJS.Signals;
  /** Tests: the oracle stops before this step until it gets a signal. */
  pauseAtStep?: number;
  /** After the scenario's steps, let the live ksmd run (run=1, the scenario's knobs) for a while,
   * sampling its counters and CPU time: `mmsim verify --for`. */
  ksmdFor?: KsmdForOptions;
}

/** What a timed kernel-side run does after the scenario's steps (the oracle's ksm_timed). */
export interface KsmdForOptions {
  /** How long ksmd runs, in milliseconds. */
  ms: number;
  /** Sampling interval in milliseconds (the first sample is taken just before run=1 is written). */
  sampleMs: number;
  /** Called with each sample as the oracle takes it. */
  onSample: (s: KsmdSample) => void;
}

/** One sample of the live ksmd: the sysfs counters as read (not relative to the run's start) and
 * ksmd's CPU time. */
export interface KsmdSample {
  /** Milliseconds since run=1 was written. */
  ms: number;
  pages_shared: number;
  pages_sharing: number;
  pages_unshared: number;
  pages_volatile: number;
  full_scans: number;
  pages_scanned: number;
  ksm_zero_pages: number;
  general_profit: number;
  pages_to_scan: number;
  /** utime + stime of /proc/<ksmd>/stat, in milliseconds (clock-tick resolution). */
  cpuMs: number;
  /** sum_exec_runtime of /proc/<ksmd>/schedstat in nanoseconds (-1 without schedstats). */
  runtimeNs: number;
}

const SAMPLE_LINE = /^mmsim-oracle: sample (\d+)((?: -?\d+){12})$/;

/** A sample line of the oracle's ksm_timed, or null for any other line. */
export function parseKsmdSample(line: string): KsmdSample | null {
  const m = SAMPLE_LINE.exec(line);
  if (m === null) return null;
  const v = m[2]!.trim().split(' ').map(Number);
  const [shared, sharing, unshared, vol, scans, scanned, zero, profit, pts, ticks, hz, runtime] = v;
  return {
    ms: Number(m[1]),
    pages_shared: shared!,
    pages_sharing: sharing!,
    pages_unshared: unshared!,
    pages_volatile: vol!,
    full_scans: scans!,
    pages_scanned: scanned!,
    ksm_zero_pages: zero!,
    general_profit: profit!,
    pages_to_scan: pts!,
    cpuMs: (ticks! * 1000) / hz!,
    runtimeNs: runtime!,
  };
}

/**
 * Runs a scenario on the live kernel and returns its report (engine "kernel"). Throws
 * OracleUnavailableError when the kernel side cannot run here, OracleRefusedError when the oracle
 * refuses (exit 2, with its reason), ScenarioError for a scenario that fails the cross-checks, and
 * OracleError otherwise. Failed steps and expects are not exceptions: they are in `report.failures`
 * with `report.ok === false`.
 */
export async function runOnKernel(scenario: Scenario, opts: RunOnKernelOptions = {}): Promise<Report> {
  const plan = planScenario(scenario, scenario.name);
  const reports = scenario.steps.filter((s) => s.op === 'report').length;
  if (plan.mappedPages * reports > MAX_REPORT_LABELS) {
    throw new OracleRefusedError(
      `refusing to run: ${reports} reports of up to ${plan.mappedPages} mapped pages would hold more than ` +
        `${MAX_REPORT_LABELS} sharing labels`,
      2,
    );
  }
  let binary = opts.binary;
  if (binary === undefined) {
    const avail = oracleAvailability();
    if (!avail.available)
      throw new OracleUnavailableError(`the live-kernel oracle cannot run here: ${avail.reason}`);
    binary = buildOracle();
  }
  const stream = encodeInstructions(scenario, plan, opts.ksmdFor);
  const args = [
    '--lock',
    opts.lockPath ?? DEFAULT_LOCK_PATH,
    '--lock-timeout',
    String(opts.lockTimeoutSeconds ?? 600),
  ];
  if (opts.pauseAtStep !== undefined) args.push('--pause-at', String(opts.pauseAtStep));
  const { code, signal, stdout, stderr } = await runProcess(binary, args, stream, opts);
  if (code === 2) {
    throw new OracleRefusedError(lastLine(stderr) || 'the oracle refused to run', 2, stderr);
  }
  if (code !== 0) {
    const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
    throw new OracleError(`the oracle ${how}: ${lastLine(stderr) || 'no message'}`, code ?? -1, stderr);
  }
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch (e) {
    throw new OracleError(`the oracle printed invalid JSON: ${(e as Error).message}`, 0, stderr);
  }
  const parsed = reportSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new OracleError(
      `the oracle's report does not match the format at ${issue.path.join('.')}: ${issue.message}`,
      0,
      stderr,
    );
  }
  return parsed.data as Report;
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

function runProcess(
  binary: string,
  args: string[],
  input: string,
  opts: RunOnKernelOptions,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let pending = '';
    const onAbort = (): void => {
      child.kill(opts.killSignal ?? 'SIGTERM');
    };
    if (opts.signal !== undefined) {
      if (opts.signal.aborted) onAbort();
      else opts.signal.addEventListener('abort', onAbort, { once: true });
    }
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err += s;
      if (opts.onStderr === undefined && opts.ksmdFor === undefined) return;
      pending += s;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        const sample = opts.ksmdFor === undefined ? null : parseKsmdSample(line);
        if (sample !== null) opts.ksmdFor!.onSample(sample);
        else opts.onStderr?.(line);
        pending = pending.slice(nl + 1);
        nl = pending.indexOf('\n');
      }
    });
    child.on('error', (e) => reject(new OracleError(`cannot start ${binary}: ${e.message}`)));
    child.on('close', (code, signal) => {
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err });
    });
    child.stdin.on('error', () => {}); // the oracle may refuse before reading everything
    child.stdin.end(input);
  });
}

/**
 * The values of /sys/kernel/mm/ksm read by the oracle while it holds the run lock, so never those
 * of a kernel-side run in progress; `journal` tells whether a killed run left knobs to restore.
 */
export async function readKsmLocked(
  opts: Pick<RunOnKernelOptions, 'binary' | 'lockPath' | 'lockTimeoutSeconds'> = {},
): Promise<{ values: Record<string, string>; journal: boolean }> {
  const binary = opts.binary ?? buildOracle();
  const args = ['--read-ksm', '--lock', opts.lockPath ?? DEFAULT_LOCK_PATH];
  args.push('--lock-timeout', String(opts.lockTimeoutSeconds ?? 600));
  const { code, stdout, stderr } = await runProcess(binary, args, '', {});
  if (code !== 0)
    throw new OracleError(`mmsim-oracle --read-ksm failed: ${lastLine(stderr)}`, code ?? -1, stderr);
  const values: Record<string, string> = {};
  let journal = false;
  for (const line of stdout.trim().split('\n')) {
    const sp = line.indexOf(' ');
    if (line.startsWith('journal ')) journal = line.endsWith('yes');
    else if (sp > 0) values[line.slice(0, sp)] = line.slice(sp + 1);
  }
  return { values, journal };
}

/** The current values of /sys/kernel/mm/ksm (advisor_mode as its selected value), read now,
 * without the lock. */
export function readKsmSysfs(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(KSM_SYSFS).sort()) {
    let v = readFileSync(join(KSM_SYSFS, name), 'utf8').trim();
    const m = /\[([^\]]*)\]/.exec(v);
    if (m !== null) v = m[1]!;
    out[name] = v;
  }
  return out;
}

/** The knobs a kernel-side run may change (everything writable but the advisor's own output). */
export const RESTORED_KNOBS: readonly string[] = ['run', ...Object.keys(KSM_KNOB_DEFAULTS)];
