// Static builds of the programs a guest runs (no shared libraries in the initramfs): the oracle,
// /init, and the kernel selftests mmsim keeps beside them. Node-only.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { findCompiler, NATIVE_DIR } from '@mmsim/scenario/node';

export const STATIC_BUILD_DIR: string = join(NATIVE_DIR, 'build', 'static');
/** glibc's static archive (Debian: libc6-dev); `cc -static` needs it. */
const LIBC_A_CANDIDATES = ['/usr/lib/x86_64-linux-gnu/libc.a', '/usr/lib64/libc.a', '/usr/lib/libc.a'];

export class StaticBuildError extends Error {
  override name = 'StaticBuildError';
}

/** Why static programs cannot be built here, or null. */
export function staticBuildUnavailable(): string | null {
  if (findCompiler() === undefined) return 'no C compiler (cc)';
  if (!LIBC_A_CANDIDATES.some((p) => existsSync(p)))
    return 'no static C library (libc.a; apt-get install libc6-dev)';
  return null;
}

function fresh(binary: string, sources: string[]): boolean {
  try {
    const t = statSync(binary).mtimeMs;
    return sources.every((s) => statSync(s).mtimeMs <= t);
  } catch {
    return false;
  }
}

/**
 * native/<source> built with `cc -static -O2` into native/build/static/<name>, when missing or older
 * than its sources; written under a temporary name and renamed (parallel builds are safe).
 */
export function buildStatic(name: string, sources: string[], extraArgs: string[] = []): string {
  const out = join(STATIC_BUILD_DIR, name);
  const paths = sources.map((s) => (s.startsWith('/') ? s : join(NATIVE_DIR, s)));
  if (fresh(out, paths)) return out;
  const why = staticBuildUnavailable();
  if (why !== null) throw new StaticBuildError(`cannot build ${name} statically: ${why}`);
  mkdirSync(STATIC_BUILD_DIR, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(findCompiler()!, ['-static', '-O2', '-Wall', '-Wextra', '-o', tmp, ...paths, ...extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    renameSync(tmp, out);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    const err = e as { stderr?: Buffer; message: string };
    throw new StaticBuildError(`building ${name} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
  return out;
}

export function buildGuestInit(): string {
  return buildStatic('mmsim-guest-init', ['guest-init.c']);
}

export function buildStaticOracle(): string {
  return buildStatic('mmsim-oracle', ['oracle.c']);
}
