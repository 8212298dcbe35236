// Adds up the vitest JSON reports every workspace package wrote and prints the one line CI reads:
// "N passed, N failed, N skipped", counting tests, not files. Anything that keeps a test from
// running or from being counted is one failure with its reason printed above the line: a test file
// that failed outside its tests (an import error, no tests in it), an error thrown outside any test,
// a package with no test files, a package whose report is missing, a package with tests (a `test`
// script or a test/ directory) but no vitest config.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The report each package's vitest run writes (vitest.shared.ts). */
export const REPORT_FILE = '.vitest-report.json';
/** The report of a package's quiet run (`pnpm test:quiet`; vitest.shared.ts). */
export const QUIET_REPORT_FILE = '.vitest-report.quiet.json';
const VITEST_CONFIGS = ['vitest.config.ts', 'vitest.config.mts', 'vitest.config.js', 'vitest.config.mjs'];

/**
 * The workspace packages' directories, relative to `root`, from pnpm-workspace.yaml's `packages:`
 * list (entries `dir/*` or `dir`), sorted.
 * @param {string} root
 * @returns {string[]}
 */
export function workspacePackages(root) {
  const text = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const globs = [];
  let inPackages = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inPackages = /^packages:\s*$/.test(line);
    const m = inPackages ? /^\s+-\s+["']?([^"'#\s]+)["']?/.exec(line) : null;
    if (m !== null) globs.push(m[1]);
  }
  const dirs = [];
  for (const glob of globs) {
    if (glob.endsWith('/*')) {
      const parent = glob.slice(0, -2);
      if (!existsSync(join(root, parent))) continue;
      for (const e of readdirSync(join(root, parent), { withFileTypes: true })) {
        if (e.isDirectory() && existsSync(join(root, parent, e.name, 'package.json')))
          dirs.push(join(parent, e.name));
      }
    } else if (existsSync(join(root, glob, 'package.json'))) dirs.push(glob);
  }
  return dirs.sort();
}

/**
 * @typedef {{ passed: number, failed: number, skipped: number, problems: string[] }} Summary
 */

/**
 * Reads every package's report under `root`.
 * @param {string} root
 * @returns {Summary}
 */
export function summarize(root) {
  /** @type {Summary} */
  const s = { passed: 0, failed: 0, skipped: 0, problems: [] };
  /** @param {string} dir @param {string} why */
  const fail = (dir, why) => {
    s.failed++;
    s.problems.push(`${dir}: ${why}`);
  };
  for (const dir of workspacePackages(root)) {
    const hasConfig = VITEST_CONFIGS.some((c) => existsSync(join(root, dir, c)));
    // A package without tests of any kind (examples/*, run by .ci/run itself) has nothing to report.
    if (!hasConfig && !hasTests(join(root, dir))) continue;
    if (!hasConfig) {
      fail(dir, 'no vitest config: its tests never run');
      continue;
    }
    const file = join(root, dir, REPORT_FILE);
    if (!existsSync(file)) {
      fail(dir, `no test report (${REPORT_FILE}): its tests did not run, or vitest died before reporting`);
      continue;
    }
    addReport(s, root, dir, file, fail);
    // The quiet run's tests (`pnpm test:quiet`, run alone after the suite) count where they ran.
    const quiet = join(root, dir, QUIET_REPORT_FILE);
    if (existsSync(quiet)) addReport(s, root, dir, quiet, fail);
  }
  return s;
}

/**
 * Adds one vitest report of the package `dir` to the summary.
 * @param {Summary} s
 * @param {string} root
 * @param {string} dir
 * @param {string} file
 * @param {(dir: string, why: string) => void} fail
 */
function addReport(s, root, dir, file, fail) {
  let r;
  try {
    r = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    fail(dir, `unreadable test report: ${/** @type {Error} */ (e).message}`);
    return;
  }
  if (r.numTotalTestSuites === 0) {
    fail(dir, 'no test files');
    return;
  }
  s.passed += r.numPassedTests;
  s.skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  s.failed += r.numFailedTests;
  /** @type {{ name: string, status: string, message?: string, assertionResults: { status: string, fullName: string }[] }[]} */
  const files = r.testResults ?? [];
  for (const t of files) {
    for (const a of t.assertionResults) {
      if (a.status === 'failed') s.problems.push(`${dir}: failed: ${a.fullName}`);
    }
    // A file that failed with no failed test in it: it did not load, or held no tests.
    if (t.status === 'failed' && !t.assertionResults.some((a) => a.status === 'failed')) {
      fail(dir, `${relative(resolve(root, dir), t.name)} failed outside its tests: ${firstLine(t.message)}`);
    }
  }
  /** @type {{ message: string }[]} */
  const unhandled = r.unhandledErrors ?? [];
  for (const e of unhandled) fail(dir, `error outside any test: ${firstLine(e.message)}`);
  if (r.success === false && r.numFailedTests === 0 && !s.problems.some((p) => p.startsWith(`${dir}: `))) {
    fail(dir, 'vitest reported the run as failed without a failing test');
  }
  if (r.reason === 'interrupted') fail(dir, 'the run was interrupted');
}

/**
 * Whether a package has tests: a `test` script or a test/ directory.
 * @param {string} dir
 */
function hasTests(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return typeof pkg.scripts?.test === 'string' || existsSync(join(dir, 'test'));
}

/** @param {string | undefined} text */
function firstLine(text) {
  return (text ?? '').split('\n')[0] || '(no message)';
}

/**
 * The lines the script prints: every problem, then the count line.
 * @param {Summary} s
 * @returns {string}
 */
export function formatSummary(s) {
  return [...s.problems, `${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped`].join('\n');
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const s = summarize(process.argv[2] ?? process.cwd());
  console.log(formatSummary(s));
  process.exit(s.failed > 0 ? 1 : 0);
}
