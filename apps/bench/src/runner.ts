// Running a benchmark: every (repetition, variant) in a fresh Node process, variants
// interleaved within each repetition so slow drift of the machine hits all of them alike.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aggregate, type BenchReport } from './aggregate.ts';
import { createContext } from './context.ts';
import { variantsOf } from './load.ts';
import type { Benchmark, RawRun, RunResult } from './types.ts';

/** Runs one variant once and returns its result (in a child process, or in-process for tests). */
export type Executor = (job: Job) => Promise<{ result: RunResult; processSeconds: number }>;

export interface Job {
  bench: Benchmark;
  module: string;
  variant: string;
  rep: number;
  quick: boolean;
  simOnly: boolean;
}

export const PACKAGE_DIR: string = dirname(dirname(fileURLToPath(import.meta.url)));
const CHILD = join(PACKAGE_DIR, 'src', 'child.ts');
/** A child's exit code when the host guard refused its variant (HostMemoryError.exitCode). */
const HOST_GUARD_EXIT = 2;

export interface SpawnOptions {
  /** Write a V8 CPU profile of every timed region into this directory. */
  cpuProfDir?: string;
  /** Turn off V8 inlining in the children so profiles attribute time to the functions that spend
   * it (slower: for profiling, not for numbers). */
  noInline?: boolean;
}

/** A variant the host guard refused in its child (the child printed the line saying why). */
export class VariantRefusedError extends Error {
  override readonly name = 'VariantRefusedError';
  constructor(bench: string, variant: string) {
    super(`benchmark ${bench}, variant ${variant}: refused by the host guard (the line above)`);
  }
}

/**
 * The real executor: `node --conditions=@mmsim/source --import tsx --expose-gc src/child.ts`,
 * started from the package directory so `tsx` and workspace packages resolve to source. The
 * child's stdout goes to our stderr, keeping our stdout clean for --json.
 */
export function spawnExecutor(opts: SpawnOptions = {}): Executor {
  return async (job) => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-bench-'));
    const resultFile = join(dir, 'result.json');
    const nodeArgs = ['--conditions=@mmsim/source', '--import', 'tsx', '--expose-gc'];
    if (opts.noInline === true) nodeArgs.push('--no-turbo-inlining', '--no-maglev-inlining');
    const args = [
      ...nodeArgs,
      CHILD,
      '--module',
      job.module,
      '--variant',
      job.variant,
      '--rep',
      String(job.rep),
      '--result',
      resultFile,
      ...(job.quick ? ['--quick'] : []),
      ...(job.simOnly ? ['--sim-only'] : []),
      ...(opts.cpuProfDir !== undefined ? ['--cpu-prof-dir', opts.cpuProfDir] : []),
    ];
    try {
      const t0 = process.hrtime.bigint();
      const code = await new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, args, { cwd: PACKAGE_DIR, stdio: ['ignore', 2, 'inherit'] });
        child.on('error', reject);
        child.on('exit', (c, signal) => resolve(signal !== null ? -1 : c));
      });
      const processSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code === HOST_GUARD_EXIT) throw new VariantRefusedError(job.bench.name, job.variant);
      if (code !== 0) {
        throw new Error(
          `benchmark ${job.bench.name}, variant ${job.variant}, repetition ${job.rep}: child exited with ${code}`,
        );
      }
      return { result: JSON.parse(readFileSync(resultFile, 'utf8')) as RunResult, processSeconds };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** Runs the benchmark in this process (for tests of the harness itself; no fresh state). */
export const inProcessExecutor: Executor = async (job) => ({
  result: await job.bench.run(createContext(job.variant, job.rep, job.quick, job.simOnly)),
  processSeconds: 0,
});

export interface RunOptions {
  quick: boolean;
  /** Skip the live kernel: drop kernel-only variants and tell the others (BenchContext.simOnly). */
  simOnly?: boolean;
  reps: number;
  /** Only these variant ids (when empty or absent: all but the on-request ones). */
  only?: string[];
  executor: Executor;
  /** Progress lines (to stderr in the CLI). */
  log?: (line: string) => void;
}

/** Default repetitions: 5, or 3 with --quick. */
export function defaultReps(quick: boolean): number {
  return quick ? 3 : 5;
}

export async function runBenchmark(bench: Benchmark, module: string, opts: RunOptions): Promise<BenchReport> {
  const simOnly = opts.simOnly === true;
  const declared = variantsOf(bench, opts.quick);
  let variants = declared.map((v) => v.id);
  if (opts.only !== undefined && opts.only.length > 0) {
    const unknown = opts.only.filter((v) => !variants.includes(v));
    if (unknown.length > 0) {
      throw new Error(
        `benchmark ${bench.name}: unknown variant ${unknown.join(', ')} (has: ${variants.join(', ')})`,
      );
    }
    variants = variants.filter((v) => opts.only?.includes(v));
  } else {
    const onRequest = new Set(declared.filter((v) => v.onRequest === true).map((v) => v.id));
    variants = variants.filter((v) => !onRequest.has(v));
  }
  if (simOnly) {
    const kernelOnly = new Set(declared.filter((v) => v.kernelOnly === true).map((v) => v.id));
    variants = variants.filter((v) => !kernelOnly.has(v));
  }
  const raw: RawRun[] = [];
  // A variant the host guard refuses is dropped (said on the log), the others still run.
  const refused = new Set<string>();
  for (let rep = 1; rep <= opts.reps; rep++) {
    for (const variant of variants) {
      if (refused.has(variant)) continue;
      opts.log?.(`${bench.name}: ${variant} rep ${rep}/${opts.reps}`);
      const loadAvg1 = Math.round(loadavg()[0] * 100) / 100;
      let run: Awaited<ReturnType<Executor>>;
      try {
        run = await opts.executor({ bench, module, variant, rep, quick: opts.quick, simOnly });
      } catch (e) {
        if (!(e instanceof VariantRefusedError)) throw e;
        opts.log?.(`${e.message}: skipped`);
        refused.add(variant);
        continue;
      }
      raw.push({ variant, rep, processSeconds: run.processSeconds, loadAvg1, result: run.result });
    }
  }
  const ran = variants.filter((v) => !refused.has(v));
  return aggregate(bench, raw, { quick: opts.quick, reps: opts.reps, variants: ran });
}
