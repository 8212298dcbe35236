// Where a run happened: enough to tell two reports' machines and builds apart.

import { execFileSync } from 'node:child_process';
import { cpus, loadavg, type as osType, release, totalmem } from 'node:os';

export interface MachineInfo {
  node: string;
  v8: string;
  cpuModel: string;
  cpus: number;
  kernel: string;
  os: string;
  arch: string;
  totalMemMiB: number;
  /** 1, 5 and 15-minute load averages when the run started (other work on the machine skews timings). */
  loadAvg: number[];
  /** git HEAD of the repository, with '-dirty' when the tree has changes; '' outside git. */
  commit: string;
}

function git(args: string[], cwd: string): string {
  try {
    return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machineInfo(repoDir: string): MachineInfo {
  const c = cpus();
  const head = git(['rev-parse', '--short=12', 'HEAD'], repoDir);
  const dirty = head !== '' && git(['status', '--porcelain', '--untracked-files=no'], repoDir) !== '';
  return {
    node: process.version,
    v8: process.versions.v8,
    cpuModel: c[0]?.model.trim() ?? 'unknown',
    cpus: c.length,
    kernel: release(),
    os: osType(),
    arch: process.arch,
    totalMemMiB: Math.round(totalmem() / 2 ** 20),
    loadAvg: loadavg().map((x) => Math.round(x * 100) / 100),
    commit: head === '' ? '' : `${head}${dirty ? '-dirty' : ''}`,
  };
}
