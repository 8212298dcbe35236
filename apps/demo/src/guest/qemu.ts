// Booting a Debian kernel under QEMU with an initramfs of static programs (native/guest-init.c as
// /init), running a batch of jobs in one boot and reading their output back from the second serial
// port. Node-only.
//
// One guest at a time on a machine: the QEMU process holds flock(/tmp/mmsim-qemu.lock) for its whole
// life (a shell takes the lock on fd 9 and execs QEMU, which inherits the descriptor). QEMU gets
// SIGKILL when the Node process dies (setpriv --pdeathsig), and is killed on timeout and on abort.

import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CpioEntry, cpioNewc } from './cpio.ts';
import type { InstalledKernel } from './kernels.ts';

export const QEMU_BINARY = 'qemu-system-x86_64';
export const QEMU_LOCK_PATH = '/tmp/mmsim-qemu.lock';
/** Seconds a guest may take from QEMU's start to /init's first line (TCG boots in ~5-20 s here). */
export const BOOT_TIMEOUT_SECONDS = 180;
const GUEST_CMDLINE = 'console=ttyS0 panic=-1 quiet';
/** The TCG CPU. Without cx16, because QEMU 7.2's TCG sometimes leaves garbage in EFLAGS after a
 * CMPXCHG16B (SLUB's per-CPU freelist cmpxchg in 6.12): a stray TF gave "WARNING ... exc_debug_kernel"
 * and then an oops early in a third of the 6.12 boots here; with cx16=off none in 12 boots. */
const TCG_CPU = 'max,cx16=off';
const CHANNEL_PREFIX = '@@mmsim-';

export type Accel = 'tcg' | 'kvm';

export interface GuestJob {
  name: string;
  /** Program and arguments; the program is a path inside the initramfs ("/mmsim/bin/x"). */
  argv: string[];
  stdin?: Buffer;
  /** The guest's /init kills the job (SIGTERM, then SIGKILL) after this long. */
  timeoutSeconds: number;
}

export interface JobResult {
  name: string;
  /** The exit code as text, `signal-N`, `timeout`, or `lost` when the guest died first. */
  status: string;
  ms: number;
  stdout: Buffer;
  stderr: Buffer;
}

export interface GuestRun {
  accel: Accel;
  memoryMiB: number;
  /** The guest's `uname -r` and `uname -v`. */
  release: string;
  version: string;
  /** From QEMU's start to /init's first message (the kernel's boot). */
  bootMs: number;
  totalMs: number;
  jobs: JobResult[];
  /** Whether /init got through the whole batch. */
  complete: boolean;
  console: string;
}

export interface BootOptions {
  kernel: InstalledKernel;
  /** Files of the initramfs besides /init and the manifest (paths without a leading slash). */
  files: CpioEntry[];
  /** The static /init (native/guest-init.c). */
  init: Buffer;
  jobs: GuestJob[];
  /** sysfs writes before the first job: [path, value]. */
  settings: [string, string][];
  memoryMiB: number;
  accel: Accel;
  /** NUMA nodes (default 1); memory is split evenly, the CPU is on node 0. */
  numaNodes?: number;
  /** Console lines (kernel messages and /init's progress) as they come. */
  onConsole?: (line: string) => void;
  /** Said once when another guest holds the lock. */
  onWait?: (message: string) => void;
  signal?: AbortSignal;
  /** Total budget after the lock is taken; default: boot timeout + every job's timeout + 60 s. */
  timeoutSeconds?: number;
}

export class GuestError extends Error {
  override name = 'GuestError';
  /** Everything the guest printed on its console. */
  readonly console: string;
  constructor(message: string, console = '') {
    super(message);
    this.console = console;
  }
}

/** Why QEMU cannot run here, or null. */
export function qemuUnavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  for (const tool of [QEMU_BINARY, 'flock', 'setpriv']) {
    if (!onPath(tool)) return `no ${tool} on PATH (sudo pnpm mmsim kernels install)`;
  }
  return null;
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {}
  }
  return false;
}

/** Whether /dev/kvm can be opened (nested KVM may still hang: `--accel kvm` is the user's call). */
export function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function manifest(jobs: GuestJob[], settings: [string, string][]): string {
  const safe = (s: string): string => {
    if (s === '' || /\s/.test(s))
      throw new GuestError(`guest manifest token "${s}" is empty or holds a space`);
    return s;
  };
  const lines = settings.map(([p, v]) => `set ${safe(p)} ${safe(v)}`);
  jobs.forEach((j, i) => {
    const stdin = j.stdin === undefined ? '-' : `/mmsim/stdin/${i}`;
    lines.push(`job ${safe(j.name)} ${j.timeoutSeconds} ${stdin} ${j.argv.map(safe).join(' ')}`);
  });
  return `${lines.join('\n')}\n`;
}

/** The initramfs: /init, the manifest, each job's stdin, and `files`. */
export function buildInitramfs(o: Pick<BootOptions, 'files' | 'init' | 'jobs' | 'settings'>): Buffer {
  const entries: CpioEntry[] = [
    { path: 'init', data: o.init, mode: 0o755 },
    { path: 'mmsim' },
    { path: 'mmsim/stdin' },
    { path: 'mmsim/manifest', data: Buffer.from(manifest(o.jobs, o.settings)) },
  ];
  o.jobs.forEach((j, i) => {
    if (j.stdin !== undefined) entries.push({ path: `mmsim/stdin/${i}`, data: j.stdin });
  });
  entries.push(...o.files);
  return cpioNewc(entries);
}

/** The QEMU command line (without the lock wrapper). */
export function qemuArgs(o: {
  kernel: InstalledKernel;
  initrd: string;
  channel: string;
  memoryMiB: number;
  accel: Accel;
  numaNodes?: number;
}): string[] {
  const nodes = o.numaNodes ?? 1;
  const numa: string[] = [];
  for (let i = 0; nodes > 1 && i < nodes; i++) {
    numa.push('-object', `memory-backend-ram,id=m${i},size=${o.memoryMiB / nodes}M`);
    numa.push('-numa', `node,nodeid=${i},memdev=m${i}`);
  }
  return [
    // mem-merge=off: QEMU madvises guest RAM MADV_MERGEABLE by default, which would make it a KSM
    // user of the host, and the host's oracle refuses to run beside another KSM user.
    '-machine',
    'pc,mem-merge=off',
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-accel',
    o.accel,
    '-cpu',
    o.accel === 'kvm' ? 'host' : TCG_CPU,
    '-smp',
    '1',
    '-m',
    String(o.memoryMiB),
    ...numa,
    '-kernel',
    o.kernel.vmlinuz,
    '-initrd',
    o.initrd,
    '-append',
    GUEST_CMDLINE,
    '-serial',
    'stdio',
    '-serial',
    `file:${o.channel}`,
  ];
}

/** Parses the second serial port's bytes (framing in native/guest-init.c). */
export function parseChannel(buf: Buffer): Pick<GuestRun, 'release' | 'version' | 'jobs' | 'complete'> {
  const out: Pick<GuestRun, 'release' | 'version' | 'jobs' | 'complete'> = {
    release: '',
    version: '',
    jobs: [],
    complete: false,
  };
  let at = 0;
  const line = (): string | null => {
    const nl = buf.indexOf(0x0a, at);
    if (nl < 0) return null;
    const s = buf.subarray(at, nl).toString('utf8');
    at = nl + 1;
    return s;
  };
  const block = (what: string): Buffer => {
    const head = line();
    const m = head === null ? null : new RegExp(`^${CHANNEL_PREFIX}${what} (\\d+)$`).exec(head);
    if (m === null) return Buffer.alloc(0);
    const n = Number(m[1]);
    const b = buf.subarray(at, Math.min(buf.length, at + n));
    at += n;
    return Buffer.from(b);
  };
  for (let l = line(); l !== null; l = line()) {
    if (!l.startsWith(CHANNEL_PREFIX)) continue;
    const words = l.slice(CHANNEL_PREFIX.length).split(' ');
    if (words[0] === 'guest') {
      out.release = words[1] ?? '';
      out.version = words.slice(2).join(' ');
    } else if (words[0] === 'job' && words[2] === 'begin') {
      const stdout = block('stdout');
      const stderr = block('stderr');
      const end = line();
      const e = end === null ? null : /^@@mmsim-job (\S+) end (\S+) (\d+)$/.exec(end);
      out.jobs.push({
        name: words[1] ?? '',
        status: e === null ? 'lost' : e[2]!,
        ms: e === null ? 0 : Number(e[3]),
        stdout,
        stderr,
      });
    } else if (words[0] === 'done') {
      out.complete = true;
    }
  }
  return out;
}

/**
 * Boots the kernel with the jobs in its initramfs and returns what they printed. Throws GuestError
 * when QEMU cannot start, the boot times out or the guest dies before /init's first line; a guest
 * that dies mid-batch returns the jobs it finished (`complete` false, the rest `lost`).
 */
export async function bootGuest(o: BootOptions): Promise<GuestRun> {
  const dir = mkdtempSync(join(tmpdir(), 'mmsim-guest-'));
  try {
    const initrd = join(dir, 'initrd.cpio');
    const channel = join(dir, 'channel');
    writeFileSync(initrd, buildInitramfs(o));
    writeFileSync(channel, '');
    const args = qemuArgs({
      kernel: o.kernel,
      initrd,
      channel,
      memoryMiB: o.memoryMiB,
      accel: o.accel,
      ...(o.numaNodes === undefined ? {} : { numaNodes: o.numaNodes }),
    });
    const budget =
      o.timeoutSeconds ?? BOOT_TIMEOUT_SECONDS + o.jobs.reduce((s, j) => s + j.timeoutSeconds, 0) + 60;
    const result = await runQemu(args, budget, o);
    const parsed = parseChannel(existsSync(channel) ? readFileSync(channel) : Buffer.alloc(0));
    if (parsed.release === '') {
      const tail = result.console.trim().split('\n').slice(-5).join(' | ');
      throw new GuestError(
        `the ${o.kernel.name} guest did not start /init (${result.why}); console: ${tail || '(nothing)'}`,
        result.console,
      );
    }
    const jobs = o.jobs.map(
      (j) =>
        parsed.jobs.find((r) => r.name === j.name) ?? {
          name: j.name,
          status: 'lost',
          ms: 0,
          stdout: Buffer.alloc(0),
          stderr: Buffer.alloc(0),
        },
    );
    return {
      accel: o.accel,
      memoryMiB: o.memoryMiB,
      release: parsed.release,
      version: parsed.version,
      bootMs: result.bootMs,
      totalMs: result.totalMs,
      jobs,
      complete: parsed.complete,
      console: result.console,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const LOCKED = 'mmsim-qemu: locked';
const WAITING = 'mmsim-qemu: waiting';

function runQemu(
  args: string[],
  budgetSeconds: number,
  o: BootOptions,
): Promise<{ console: string; bootMs: number; totalMs: number; why: string }> {
  // The shell takes the lock on fd 9, says so on stderr, and becomes QEMU (same pid, fd 9 kept).
  const script = `exec 9>>"$1"; shift; flock -n 9 || { echo "${WAITING}" >&2; flock 9; }; echo "${LOCKED}" >&2; exec setpriv --pdeathsig KILL "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script, 'sh', QEMU_LOCK_PATH, QEMU_BINARY, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let console = '';
    let pending = '';
    let stderr = '';
    let started = 0;
    let booted = 0;
    let why = 'QEMU exited';
    let timer: NodeJS.Timeout | undefined;
    const kill = (reason: string): void => {
      why = reason;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => kill('aborted');
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const onExit = (): void => {
      child.kill('SIGKILL');
    };
    process.once('exit', onExit);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      console += s;
      pending += s;
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const l = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        if (booted === 0 && l.startsWith('mmsim-guest: ')) booted = Date.now();
        o.onConsole?.(l);
        nl = pending.indexOf('\n');
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
      if (stderr.includes(WAITING) && started === 0 && !stderr.includes(LOCKED)) {
        o.onWait?.(`waiting for another guest (${QEMU_LOCK_PATH})`);
      }
      if (started === 0 && stderr.includes(LOCKED)) {
        started = Date.now();
        timer = setTimeout(() => kill(`timed out after ${budgetSeconds} s`), budgetSeconds * 1000);
        stderr = stderr.replace(`${WAITING}\n`, '').replace(`${LOCKED}\n`, '');
      }
    });
    child.on('error', (e) => {
      process.removeListener('exit', onExit);
      reject(new GuestError(`cannot start QEMU: ${e.message}`));
    });
    child.on('close', (code) => {
      if (timer !== undefined) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      process.removeListener('exit', onExit);
      if (why === 'QEMU exited' && code !== 0)
        why = `QEMU exited with ${code}: ${stderr.trim().split('\n').pop()}`;
      const end = Date.now();
      resolve({
        console,
        bootMs: booted === 0 || started === 0 ? 0 : booted - started,
        totalMs: started === 0 ? 0 : end - started,
        why,
      });
    });
  });
}
