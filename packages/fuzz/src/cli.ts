// `pnpm fuzz [--minutes N] [--seed S] [--max-commands N] [--out DIR] [--update-readme]`
// `pnpm fuzz --replay FILE` (a .actions.json written here, or any scenario file)
// `pnpm fuzz --kernel [--minutes N | --cases N] [--seed S] [--max-commands N] [--out DIR] [--coverage] [--simulator-only]`
// `pnpm fuzz --coverage-report FILE...` prints the report of coverage files again, their union (with
// today's src/unreachable.ts).
//
// Runs the whole-stack property round after round (100 sequences a round, seeds S, S+1, ...) until
// the time is up, then the scripted races and a round of input fuzzing. On a failure it writes the
// shrunk case as <out>/fuzz-<seed>.actions.json (exact replay) and <out>/fuzz-<seed>.yaml (a
// scenario of the expressible actions), prints their paths and exits 1. With --kernel it instead
// runs random scenarios on the simulator and the live kernel (src/kernel.ts) and writes each
// difference, shrunk, as <out>/kernel-<seed>.yaml; exit 1 when there was one; with --coverage it
// then prints the simulator's branch coverage over the campaign (src/coverage.ts) and writes it to
// <out>/coverage-<seed>.json. Bad flags: one line, exit 2.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { ScenarioError } from '@mmsim/scenario';
import { loadScenario, oracleAvailability } from '@mmsim/scenario/node';
import fc from 'fast-check';
import { lastFailure, replayActions, SequenceFailure, wholeStackProperty } from './commands.ts';
import { BranchCoverage, type FileCoverage, markUnreachable, percent, unionCoverage } from './coverage.ts';
import { REPO_ROOT, scenarioParserProperty } from './inputs.ts';
import { kernelCampaign } from './kernel.ts';
import { RACES } from './races.ts';
import { type FailureRecord, scenarioToActions, toScenarioYaml } from './scenario.ts';
import { stats } from './stats.ts';
import { countedOut } from './unreachable.ts';
import { FuzzWorld, type LoggedAction } from './world.ts';

interface Options {
  minutes: number;
  seed: number;
  maxCommands: number;
  out: string;
  replay: string | null;
  updateReadme: boolean;
  kernel: boolean;
  /** --kernel: stop after this many scenarios (0: when the minutes are up). */
  cases: number;
  /** --kernel: measure the simulator's branch coverage over the campaign. */
  coverage: boolean;
  /** --kernel: build and run the scenarios on the simulator only (for --coverage without root). */
  simulatorOnly: boolean;
  /** --coverage-report FILE...: print the report of coverage files written by --coverage (their
   * union: a branch is covered when one of the campaigns covered it). */
  coverageReport: string[];
}

function usage(msg: string): never {
  process.stderr.write(`pnpm fuzz: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    minutes: 1,
    seed: Date.now() % 2 ** 31,
    maxCommands: 0,
    out: 'fuzz-failures',
    replay: null,
    updateReadme: false,
    kernel: false,
    cases: 0,
    coverage: false,
    simulatorOnly: false,
    coverageReport: [],
  };
  const num = (flag: string, v: string | undefined, min: number, max: number): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      usage(
        `${flag}: expected a number from ${min} to ${max}, found ${v === undefined ? 'nothing' : `"${v}"`}`,
      );
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') continue;
    if (a === '--minutes') o.minutes = num(a, argv[++i], 0, 7 * 24 * 60);
    else if (a === '--seed') o.seed = Math.floor(num(a, argv[++i], 0, 2 ** 31 - 1));
    else if (a === '--max-commands') o.maxCommands = Math.floor(num(a, argv[++i], 1, 10_000));
    else if (a === '--out') {
      const v = argv[++i];
      if (v === undefined || v === '') usage('--out: expected a directory');
      o.out = v;
    } else if (a === '--replay') {
      const v = argv[++i];
      if (v === undefined || v === '') usage('--replay: expected a file');
      o.replay = v;
    } else if (a === '--update-readme') o.updateReadme = true;
    else if (a === '--kernel') o.kernel = true;
    else if (a === '--cases') o.cases = Math.floor(num(a, argv[++i], 1, 10_000_000));
    else if (a === '--coverage') o.coverage = true;
    else if (a === '--simulator-only') o.simulatorOnly = true;
    else if (a === '--coverage-report') {
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) o.coverageReport.push(argv[++i]!);
      if (o.coverageReport.length === 0) usage('--coverage-report: expected one or more files');
    } else
      usage(
        `unknown argument "${a}" (expected --minutes N, --seed S, --max-commands N, --out DIR, --replay FILE, --update-readme, --kernel, --cases N, --coverage, --simulator-only, --coverage-report FILE)`,
      );
  }
  if ((o.cases !== 0 || o.coverage || o.simulatorOnly) && !o.kernel)
    usage('--cases, --coverage and --simulator-only go with --kernel');
  if (o.maxCommands === 0) o.maxCommands = o.kernel ? 40 : 100;
  return o;
}

function logOf(w: FuzzWorld | null, e: unknown): readonly LoggedAction[] {
  if (e instanceof SequenceFailure) return e.log;
  return w?.log ?? [];
}

/** Replay a failure file or a scenario under the model; exit 0 when it passes, 1 when it fails. */
function replay(file: string): number {
  let options: FailureRecord['options'];
  let actions: FailureRecord['actions'];
  if (file.endsWith('.json') && !file.endsWith('.scenario.json')) {
    let rec: FailureRecord;
    try {
      rec = JSON.parse(readFileSync(file, 'utf8')) as FailureRecord;
    } catch (e) {
      usage(`${file}: expected a failure file written by pnpm fuzz (${(e as Error).message})`);
    }
    if (!Array.isArray(rec.actions))
      usage(`${file}: expected a failure file written by pnpm fuzz (no actions)`);
    ({ options, actions } = rec);
  } else {
    try {
      ({ options, actions } = scenarioToActions(loadScenario(file)));
    } catch (e) {
      if (e instanceof ScenarioError) usage(e.message);
      throw e;
    }
  }
  try {
    replayActions(options, actions);
    process.stdout.write(`${file}: ${actions.length} actions replayed, every check passed\n`);
    return 0;
  } catch (e) {
    process.stdout.write(`${file}: FAILED\n${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

function writeFailure(o: Options, seed: number, path: string | undefined, message: string): void {
  const f = lastFailure;
  if (f === null) return;
  // Re-run the shrunk case once to log it with outcomes.
  let w: FuzzWorld | null = null;
  let log: readonly LoggedAction[] = [];
  try {
    w = new FuzzWorld(f.options);
    for (const a of f.actions) w.exec(a);
    w.teardown();
    log = w.log;
  } catch (e) {
    log = logOf(w, e);
  }
  mkdirSync(o.out, { recursive: true });
  const base = join(o.out, `fuzz-${seed}`);
  const rec: FailureRecord = { seed, message, options: f.options, actions: f.actions };
  if (path !== undefined) rec.path = path;
  writeFileSync(`${base}.actions.json`, `${JSON.stringify(rec, null, 2)}\n`);
  const header = [
    `pnpm fuzz --seed ${seed}: ${message.split('\n')[0]}`,
    `exact replay (every action, with fault injection): pnpm fuzz --replay ${base}.actions.json`,
    `this scenario (expressible actions): pnpm mmsim run ${base}.yaml${f.options.strategy !== undefined ? ` --strategy ${f.options.strategy}` : ''}`,
  ];
  writeFileSync(`${base}.yaml`, toScenarioYaml(`fuzz-${seed}`, f.options, log, header));
  process.stdout.write(`wrote ${base}.actions.json and ${base}.yaml\n`);
}

function updateReadme(summary: string, o: Options, secs: number): void {
  const file = join(REPO_ROOT, 'packages', 'fuzz', 'README.md');
  const text = readFileSync(file, 'utf8');
  const begin = '<!-- last-run:begin -->';
  const end = '<!-- last-run:end -->';
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  if (i < 0 || j < 0) return;
  const ops = Object.entries(stats.byOp)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  const body = [
    begin,
    `Last \`pnpm fuzz --minutes ${o.minutes} --seed ${o.seed}\` (${Math.round(secs)} s, ${o.maxCommands} commands at most per sequence):`,
    '',
    '| figure | value |',
    '|---|---|',
    `| sequences run | ${stats.sequences} |`,
    `| commands run | ${stats.commands} |`,
    `| faults injected (allocation calls failed) | ${stats.faultsInjected} in ${stats.faultArms} armed commands |`,
    `| page migrations | ${stats.migrations} |`,
    `| races scripted | ${stats.racesScripted} |`,
    `| inputs fuzzed (scenario texts) | ${stats.inputsFuzzed} |`,
    `| violations | ${stats.violations} |`,
    `| frames leaked | ${stats.framesLeaked} |`,
    '',
    `Commands by op: ${ops}.`,
    '',
    `\`${summary}\``,
    end,
  ].join('\n');
  writeFileSync(file, text.slice(0, i) + body + text.slice(j + end.length));
  process.stdout.write(`updated ${file}\n`);
}

async function kernel(o: Options): Promise<number> {
  const avail = oracleAvailability();
  if (!avail.available && !o.simulatorOnly)
    usage(`--kernel: the live-kernel oracle cannot run here: ${avail.reason}`);
  const cov = o.coverage ? new BranchCoverage() : null;
  await cov?.start();
  const t0 = Date.now();
  const r = await kernelCampaign({
    seed: o.seed,
    minutes: o.cases === 0 ? o.minutes : Number.POSITIVE_INFINITY,
    cases: o.cases,
    maxSteps: o.maxCommands,
    simulatorOnly: o.simulatorOnly,
    out: o.out,
    log: (line) => process.stdout.write(`${line}\n`),
  });
  const secs = Math.round((Date.now() - t0) / 1000);
  process.stdout.write(
    o.simulatorOnly
      ? `done: ${r.cases} scenarios on the simulator only in ${secs} s\n`
      : `done: ${r.cases} scenarios on the simulator and the live kernel in ${secs} s, ${r.divergences.length} different\n`,
  );
  if (cov !== null) {
    const files = await cov.take(REPO_ROOT, (f) => COVERAGE_PACKAGES.test(f));
    await cov.stop();
    process.stdout.write(coverageReport(files, r.cases));
    mkdirSync(o.out, { recursive: true });
    const file = `${o.out}/coverage-${o.seed}.json`;
    writeFileSync(
      file,
      `${JSON.stringify({ seed: o.seed, cases: r.cases, seconds: secs, files }, null, 1)}\n`,
    );
    process.stdout.write(`coverage written to ${file}\n`);
  }
  return r.divergences.length === 0 ? 0 : 1;
}

/** The simulator code whose coverage --coverage reports. */
const COVERAGE_PACKAGES = /^packages\/(ksm|mmu|mm)\/src\/[^/]+\.ts$/;
/** Files whose uncovered branches are listed, and the targets: ksm.ts, and the fault
 * and madvise code. */
const COVERAGE_TARGETS: { name: string; files: RegExp; target: number; list: boolean }[] = [
  { name: 'ksm.ts', files: /^packages\/ksm\/src\/ksm\.ts$/, target: 95, list: true },
  {
    name: 'fault and madvise code',
    files: /^packages\/(mmu|mm)\/src\/(memory|madvise)\.ts$/,
    target: 90,
    list: true,
  },
];

function coverageReport(files: FileCoverage[], cases: number): string {
  const out = [
    `branch coverage over ${cases} random scenarios (V8 block coverage, branches as istanbul counts them):`,
  ];
  const w = Math.max(...files.map((f) => f.file.length));
  for (const f of files) {
    out.push(
      `  ${f.file.padEnd(w)}  ${`${f.covered}/${f.branches}`.padStart(11)}  ${percent(f.covered, f.branches).padStart(6)}`,
    );
  }
  const unreachable = markUnreachable(files, (f) => readFileSync(resolvePath(REPO_ROOT, f), 'utf8'));
  for (const t of COVERAGE_TARGETS) {
    const sel = files.filter((f) => t.files.test(f.file));
    const c = sel.reduce((a, f) => a + f.covered, 0);
    const n = sel.reduce((a, f) => a + f.branches, 0);
    const x = sel.reduce((a, f) => a + (unreachable.get(f.file) ?? 0), 0);
    const ok = n - x > 0 && (100 * c) / (n - x) >= t.target;
    out.push(
      `${t.name}: ${c}/${n} branches, ${percent(c, n)}; without the ${x} uncovered ones no scenario can reach on this kernel with this model (src/unreachable.ts): ${c}/${n - x}, ${percent(c, n - x)} (target ${t.target}%: ${ok ? 'met' : 'NOT met'})`,
    );
    if (!t.list) continue;
    for (const f of sel) {
      const name = f.file.split('/').pop();
      const reach = f.uncovered.filter((u) => u.unreachable === undefined || !countedOut(u.unreachable));
      if (reach.length > 0) out.push(`  uncovered in ${f.file}:`);
      for (const u of reach)
        out.push(
          `    ${name}:${u.line}  ${u.fn}  (${u.kind})${u.unreachable === undefined ? '' : `  missed: ${u.unreachable}`}`,
        );
      const byReason = new Map<string, number>();
      for (const u of f.uncovered)
        if (u.unreachable !== undefined && countedOut(u.unreachable))
          byReason.set(u.unreachable, (byReason.get(u.unreachable) ?? 0) + 1);
      if (byReason.size > 0)
        out.push(
          `  counted out of ${name}: ${[...byReason].map(([r, k]) => `${r} ${k}`).join(', ')} (reasons: src/unreachable.ts)`,
        );
    }
  }
  return `${out.join('\n')}\n`;
}

/** A coverage file written by --coverage. */
function readCoverageFile(file: string): { cases: number; files: FileCoverage[] } {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { cases: number; files: FileCoverage[] };
  } catch (e) {
    usage(`--coverage-report: ${file}: ${(e as Error).message}`);
  }
}

function main(): number | Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.replay !== null) return replay(resolvePath(o.replay));
  if (o.coverageReport.length > 0) {
    const saved = o.coverageReport.map(readCoverageFile);
    const files = unionCoverage(saved.map((x) => x.files));
    process.stdout.write(
      coverageReport(
        files,
        saved.reduce((a, x) => a + x.cases, 0),
      ),
    );
    return 0;
  }
  if (o.kernel) return kernel(o);
  const t0 = Date.now();
  const deadline = t0 + o.minutes * 60_000;
  let seed = o.seed;
  let rounds = 0;
  do {
    const r = fc.check(wholeStackProperty(o.maxCommands, true), { seed, numRuns: 100 });
    rounds++;
    if (r.failed) {
      stats.violations++;
      const err = (r as { errorInstance?: unknown }).errorInstance;
      const msg = err instanceof Error ? err.message : String(err);
      process.stdout.write(`FAILED: seed ${seed}, path ${r.counterexamplePath}\n${msg}\n`);
      writeFailure(o, seed, r.counterexamplePath ?? undefined, msg);
      return 1;
    }
    process.stdout.write(`round ${rounds} (seed ${seed}): ${stats.summary()}\n`);
    seed = (seed + 1) % 2 ** 31;
  } while (Date.now() < deadline);
  for (const race of RACES) {
    try {
      race.run();
    } catch (e) {
      stats.violations++;
      process.stdout.write(`FAILED race ${race.name}\n${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
  }
  const p = fc.check(scenarioParserProperty(), { seed: o.seed, numRuns: 5000 });
  if (p.failed) {
    stats.violations++;
    const err = (p as { errorInstance?: unknown }).errorInstance;
    process.stdout.write(
      `FAILED scenario input fuzzing: seed ${o.seed}\n${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  const summary = stats.summary();
  process.stdout.write(`done: ${summary}\n`);
  if (o.updateReadme) updateReadme(summary, o, (Date.now() - t0) / 1000);
  return 0;
}

process.exitCode = await main();
