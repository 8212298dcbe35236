// The kernels mmsim boots under QEMU: Debian's own cloud images, fetched with apt into a
// cache directory, never installed into the host's /boot. Node-only.
//
// Cache layout (MMSIM_KERNELS_DIR, default /var/cache/mmsim/kernels):
//   debs/<package>_<version>_amd64.deb      what apt-get download fetched
//   <name>/vmlinuz, <name>/config           the kernel image and its config, from the .deb
//   <name>/kernel.json                      { name, package, version, release }

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KernelVersion } from '@mmsim/core';
import { UsageError } from '../io.ts';

export const DEFAULT_KERNELS_DIR = '/var/cache/mmsim/kernels';
/** The apt source the 6.12 images come from (Debian 12's backports suite). */
export const BACKPORTS_SOURCE = '/etc/apt/sources.list.d/mmsim-bookworm-backports.sources';
const BACKPORTS_SOURCE_TEXT = `# Added by \`pnpm mmsim kernels install\` (mmsim): Debian's linux-image-6.12.*+deb12-cloud-amd64.
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
/** The host packages a guest needs (QEMU's TCG; the static C library for the oracle and /init). */
export const HOST_PACKAGES: readonly string[] = ['qemu-system-x86', 'libc6-dev'];

/** A guest kernel mmsim knows: `name` is what --kernel takes. */
export interface GuestKernelSpec {
  name: string;
  /** The Debian binary package holding the image. */
  package: string;
  /** The apt suite it lives in (for the error message when it is missing). */
  suite: string;
  /** What it is evidence for. */
  why: string;
  /** The simulator's profile of it (@mmsim/core KERNEL_PROFILES). */
  profile: KernelVersion;
}

/**
 * Pinned, so that recorded answers name the kernel that gave them. `6.12` is a late point release
 * (with the 2025 KSM range-walk backports), `6.12.43` an early one (without them).
 */
export const GUEST_KERNELS: readonly GuestKernelSpec[] = [
  {
    name: '6.1',
    package: 'linux-image-6.1.0-57-cloud-amd64',
    suite: 'bookworm(-security)',
    why: 'Debian 12, long-term 6.1 (break_ksm with follow_page, no prctl, no smart scan)',
    profile: '6.1',
  },
  {
    name: '6.12',
    package: 'linux-image-6.12.95+deb12-cloud-amd64',
    suite: 'bookworm-backports',
    why: 'long-term 6.12, late point release (range-walk backports)',
    profile: '6.12.95',
  },
  {
    name: '6.12.43',
    package: 'linux-image-6.12.43+deb12-cloud-amd64',
    suite: 'bookworm-backports',
    why: 'long-term 6.12, early point release (folio_walk break_ksm, per-address scan)',
    profile: '6.12',
  },
];

/** What --kernel accepts: the guest kernels and `host` (the live kernel through the oracle). */
export const KERNEL_CHOICES: readonly string[] = [...GUEST_KERNELS.map((k) => k.name), 'host'];

/** An installed guest kernel. */
export interface InstalledKernel {
  name: string;
  package: string;
  version: string;
  /** `uname -r` of the guest, e.g. 6.1.0-57-cloud-amd64. */
  release: string;
  vmlinuz: string;
  config: string;
}

export function kernelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MMSIM_KERNELS_DIR?.trim() || DEFAULT_KERNELS_DIR;
}

export function kernelSpec(name: string): GuestKernelSpec {
  const spec = GUEST_KERNELS.find((k) => k.name === name);
  if (spec === undefined)
    throw new UsageError(`--kernel: expected one of ${KERNEL_CHOICES.join(', ')}, found "${name}"`);
  return spec;
}

/** The installed kernel `name`, or undefined when `pnpm mmsim kernels install` has not fetched it. */
export function installedKernel(name: string, dir = kernelsDir()): InstalledKernel | undefined {
  const meta = join(dir, name, 'kernel.json');
  if (!existsSync(meta)) return undefined;
  const k = JSON.parse(readFileSync(meta, 'utf8')) as Omit<InstalledKernel, 'vmlinuz' | 'config'>;
  const vmlinuz = join(dir, name, 'vmlinuz');
  if (!existsSync(vmlinuz)) return undefined;
  return { ...k, vmlinuz, config: join(dir, name, 'config') };
}

function run(cmd: string, args: string[], log: (s: string) => void): string {
  log(`$ ${cmd} ${args.join(' ')}`);
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `pnpm mmsim kernels install`: the host packages (apt-get install), the backports suite in the apt
 * sources, and each guest kernel's image extracted from its .deb into the cache. Idempotent: what
 * is there already is kept. Needs root and Debian's archive; throws a UsageError otherwise.
 */
export function installKernels(
  names: readonly string[],
  log: (s: string) => void,
  dir = kernelsDir(),
): InstalledKernel[] {
  if (process.geteuid?.() !== 0) throw new UsageError('kernels install needs root (apt-get)');
  if (!which('apt-get')) throw new UsageError('kernels install needs apt-get (a Debian host)');
  const specs = names.map(kernelSpec);
  const missingHost = HOST_PACKAGES.filter((p) => {
    try {
      return !run('dpkg-query', ['-W', `-f=${'${Status}'}`, p], () => {}).includes('install ok installed');
    } catch {
      return true;
    }
  });
  const needBackports = specs.some((s) => s.suite === 'bookworm-backports') && !existsSync(BACKPORTS_SOURCE);
  const missing = specs.filter((s) => installedKernel(s.name, dir) === undefined);
  if (needBackports) {
    log(`adding ${BACKPORTS_SOURCE}`);
    writeFileSync(BACKPORTS_SOURCE, BACKPORTS_SOURCE_TEXT);
  }
  if (needBackports || missingHost.length > 0 || missing.length > 0) {
    run('apt-get', ['update', '-qq'], log);
  }
  if (missingHost.length > 0) {
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missingHost], log);
  }
  const debs = join(dir, 'debs');
  mkdirSync(debs, { recursive: true });
  for (const s of missing) {
    try {
      execFileSync('apt-get', ['download', '-qq', s.package], {
        cwd: debs,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      const err = (e as { stderr?: Buffer }).stderr?.toString().trim().split('\n').pop() ?? '';
      throw new UsageError(`cannot download ${s.package} (Debian ${s.suite}): ${err}`);
    }
    log(`downloaded ${s.package}`);
    const deb = readdirSync(debs).find((f) => f.startsWith(`${s.package}_`) && f.endsWith('.deb'));
    if (deb === undefined) throw new UsageError(`apt-get download left no ${s.package}_*.deb in ${debs}`);
    extractKernel(s, join(debs, deb), dir, log);
  }
  return specs.map((s) => installedKernel(s.name, dir)!);
}

/** boot/vmlinuz-* and boot/config-* of the .deb into <dir>/<name>/ (through a temporary directory). */
function extractKernel(s: GuestKernelSpec, deb: string, dir: string, log: (s: string) => void): void {
  const version = run('dpkg-deb', ['-f', deb, 'Version'], () => {}).trim();
  const tmp = join(dir, `.${s.name}.${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" ./boot', 'sh', deb, tmp]);
  const boot = join(tmp, 'boot');
  const image = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  const config = readdirSync(boot).find((f) => f.startsWith('config-'));
  if (image === undefined || config === undefined) throw new UsageError(`${deb} holds no boot/vmlinuz-*`);
  const release = image.slice('vmlinuz-'.length);
  const out = join(dir, s.name);
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  renameSync(join(boot, image), join(out, 'vmlinuz'));
  renameSync(join(boot, config), join(out, 'config'));
  const meta = { name: s.name, package: s.package, version, release };
  writeFileSync(join(out, 'kernel.json'), `${JSON.stringify(meta, null, 2)}\n`);
  rmSync(tmp, { recursive: true, force: true });
  log(`installed ${s.name}: Linux ${release} (${s.package} ${version}) in ${out}`);
}
