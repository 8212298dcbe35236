// `pnpm bench [name...] [--quick] [--sim-only] [--json] [--out DIR]`: run benchmarks (all by default), each
// variant repeated in fresh processes, and write JSON, Markdown and SVG reports.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import type { BenchReport } from './aggregate.ts';
import { benchmarkModules } from './benchmarks/index.ts';
import { fmtNum, perSecond } from './format.ts';
import { loadBenchmark, variantsOf } from './load.ts';
import { type MachineInfo, machineInfo } from './machine-info.ts';
import { formatProfile, summarizeProfile } from './profile.ts';
import { benchMarkdown } from './report/markdown.ts';
import { REPORT_SCHEMA, type RunReport, writeBenchReport } from './report/write.ts';
import { defaultReps, PACKAGE_DIR, runBenchmark, spawnExecutor } from './runner.ts';
import { BENCH_STRATEGY_ENV } from './types.ts';

/** The repository root: the nearest directory above the package holding pnpm-workspace.yaml. */
function repoRoot(): string {
  let d = PACKAGE_DIR;
  while (!existsSync(join(d, 'pnpm-workspace.yaml'))) {
    const up = dirname(d);
    if (up === d) return PACKAGE_DIR;
    d = up;
  }
  return d;
}

/**
 * Replace the block between `<!-- <name>-table -->` and `<!-- /<name>-table -->` in this package's
 * README with the benchmark's tables (no heading, no chart links: the charts are not committed).
 */
function updateReadme(r: BenchReport, machine: MachineInfo, startedAt: string): boolean {
  const file = join(PACKAGE_DIR, 'README.md');
  const text = readFileSync(file, 'utf8');
  const open = `<!-- ${r.name}-table -->`;
  const close = `<!-- /${r.name}-table -->`;
  const a = text.indexOf(open);
  const b = text.indexOf(close);
  if (a < 0 || b < a) return false;
  const md = benchMarkdown(r, machine, startedAt, {}, false).trimEnd();
  writeFileSync(file, `${text.slice(0, a + open.length)}\n${md}\n${text.slice(b)}`);
  return true;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface CliOptions {
  quick: boolean;
  simOnly: boolean;
  json: boolean;
  out?: string;
  reps?: number;
  variant?: string[];
  list: boolean;
  updateReadme: boolean;
  cpuProf: boolean;
  inline: boolean;
  strategy?: string;
}

const program = new Command('bench')
  .description('mmsim benchmarks: wall time over fresh-process repetitions, deterministic counters per page')
  .argument('[names...]', `benchmarks to run (default: all of ${Object.keys(benchmarkModules).join(', ')})`)
  .option(
    '--quick',
    'fewer repetitions (3 instead of 5) and smaller workloads where a benchmark says so',
    false,
  )
  .option(
    '--sim-only',
    'skip the live kernel side of every benchmark that has one (no oracle run, no kernel rows or ratios)',
    false,
  )
  .option('--json', 'print the result object as JSON on stdout (progress goes to stderr)', false)
  .option('--out <dir>', 'report directory (default: bench-results/ at the repository root)')
  .option('--reps <n>', 'repetitions per variant (default 5, or 3 with --quick)', positiveInt)
  .option('--variant <id...>', 'run only these variants (see --list; on-request variants run only so)')
  .option(
    '--cpu-prof',
    'write a V8 CPU profile of every timed region into <out>/profiles, and summarise it',
    false,
  )
  .option('--no-inline', 'with --cpu-prof: turn V8 inlining off so time is charged to the right function')
  .option(
    '--strategy <file>',
    'unmerge: also time a break_ksm() strategy of your own, the default export of this module (checked against the built-in ones first; see examples/strategy)',
  )
  .option('--list', 'list benchmarks and their variants, then exit', false)
  .option(
    '--update-readme',
    "paste each benchmark's tables into apps/bench/README.md between its markers",
    false,
  )
  .action(async (names: string[], o: CliOptions) => {
    const unknown = names.filter((n) => !(n in benchmarkModules));
    if (unknown.length > 0) {
      program.error(
        `bench: unknown benchmark ${unknown.map((n) => `'${n}'`).join(', ')} (known: ${Object.keys(benchmarkModules).join(', ')})`,
        { exitCode: 2 },
      );
    }
    const selected = names.length > 0 ? names : Object.keys(benchmarkModules);
    // A relative --out or --strategy is relative to where the user typed the command: pnpm's
    // INIT_CWD when pnpm started us (a package script runs in the package directory), turbo's
    // invocation directory under turbo.
    const callerDir = process.env.TURBO_INVOCATION_DIR ?? process.env.INIT_CWD ?? process.cwd();
    if (o.strategy !== undefined) {
      if (!selected.includes('unmerge'))
        program.error('bench: --strategy applies to the unmerge benchmark', { exitCode: 2 });
      const file = isAbsolute(o.strategy) ? o.strategy : resolve(callerDir, o.strategy);
      // Loaded here, not at startup: `pnpm bench --help` stays instant.
      const [{ ScenarioError }, { resolveBreakKsmStrategy }] = await Promise.all([
        import('@mmsim/scenario'),
        import('@mmsim/scenario/node'),
      ]);
      try {
        await resolveBreakKsmStrategy(file);
      } catch (e) {
        if (e instanceof ScenarioError) program.error(`bench: ${e.message}`, { exitCode: 2 });
        throw e;
      }
      // The unmerge module (here and in every child process) loads it from there.
      process.env[BENCH_STRATEGY_ENV] = file;
    }
    if (o.list) {
      for (const name of selected) {
        const b = await loadBenchmark(benchmarkModules[name]);
        console.log(`${name}: ${b.description}`);
        for (const v of variantsOf(b, o.quick))
          console.log(
            `  ${v.id}${v.onRequest === true ? ' (on request: --variant)' : ''}${v.description ? `  ${v.description}` : ''}`,
          );
      }
      return;
    }
    const root = repoRoot();
    const out =
      o.out === undefined
        ? join(root, 'bench-results')
        : isAbsolute(o.out)
          ? o.out
          : resolve(callerDir, o.out);
    const reps = o.reps ?? defaultReps(o.quick);
    const log = (line: string): void => {
      process.stderr.write(`${line}\n`);
    };
    const profDir = join(out, 'profiles');
    if (o.cpuProf) mkdirSync(profDir, { recursive: true });
    const executor = spawnExecutor({
      ...(o.cpuProf ? { cpuProfDir: profDir } : {}),
      noInline: !o.inline,
    });
    const run: RunReport = {
      schema: REPORT_SCHEMA,
      startedAt: new Date().toISOString(),
      finishedAt: '',
      machine: machineInfo(root),
      options: { quick: o.quick, reps, argv: process.argv.slice(2) },
      benchmarks: [],
    };
    for (const name of selected) {
      const module = benchmarkModules[name];
      const bench = await loadBenchmark(module);
      if (bench.name !== name)
        throw new Error(`${module}: exports benchmark '${bench.name}', registered as '${name}'`);
      const report: BenchReport = await runBenchmark(bench, module.href, {
        quick: o.quick,
        simOnly: o.simOnly,
        reps,
        ...(o.variant !== undefined ? { only: o.variant } : {}),
        executor,
        log,
      });
      run.benchmarks.push(report);
      run.finishedAt = new Date().toISOString();
      const files = await writeBenchReport(out, run, report);
      for (const row of report.rows) {
        log(
          `${name}: ${row.label}: ${fmtNum(row.throughput.median)} ${perSecond(row.unit)} ` +
            `(min ${fmtNum(row.throughput.min)}, max ${fmtNum(row.throughput.max)})`,
        );
      }
      for (const t of report.targets) {
        const what = `${name}: target ${t.name}${t.label ? ` (${t.label})` : ''}`;
        log(`${what}: ${t.status}${t.status === 'not measured' ? '' : ` (${fmtNum(t.measured)} ${t.unit})`}`);
      }
      if (o.cpuProf) {
        // One summary per variant (first repetition, first timed region).
        for (const variant of report.variants) {
          const prof = join(profDir, `${name}.${variant}.rep1.cpuprofile`);
          if (!existsSync(prof)) continue;
          const text = formatProfile(summarizeProfile(prof, root));
          writeFileSync(prof.replace(/\.cpuprofile$/, '.txt'), `${text}\n`);
          files.push(prof, prof.replace(/\.cpuprofile$/, '.txt'));
          log(
            `${name}: ${variant} CPU profile of the timed region${o.inline ? '' : ' (V8 inlining off)'}:\n${text}`,
          );
        }
      }
      if (o.updateReadme) {
        log(
          updateReadme(report, run.machine, run.startedAt)
            ? `${name}: updated apps/bench/README.md`
            : `${name}: no <!-- ${name}-table --> block in apps/bench/README.md`,
        );
      }
      log(`${name}: wrote ${files.join(', ')}`);
    }
    if (o.json) process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
  });

try {
  await program.parseAsync();
} catch (e) {
  process.stderr.write(`bench: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}
