// scripts/test-summary.mjs on fixture workspaces: every way a run can fail to be counted is a
// failure with its reason. The fixtures are real vitest 4.1 JSON reports (paths replaced by
// <pkg>, times by 0); unhandled-error.json was written through vitest.shared.ts's reporter.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatSummary,
  QUIET_REPORT_FILE,
  REPORT_FILE,
  summarize,
  workspacePackages,
} from '../test-summary.mjs';

const script = join(import.meta.dirname, '..', 'test-summary.mjs');
const fixture = (name: string) => join(import.meta.dirname, 'fixtures', `${name}.json`);

interface Pkg {
  /** A fixture report to install, or none (the report is missing). */
  report?: string;
  /** A fixture report of the quiet run (`pnpm test:quiet`), or none. */
  quiet?: string;
  /** Without a vitest config. */
  noConfig?: boolean;
  /** No test script (and no test/ directory). */
  noTests?: boolean;
}

/** A workspace with packages/<name> for each entry. */
function workspace(pkgs: Record<string, Pkg>): string {
  const root = mkdtempSync(join(tmpdir(), 'mmsim-summary-'));
  writeFileSync(
    join(root, 'pnpm-workspace.yaml'),
    'packages:\n  - packages/*\n  - "tools"\n\ncatalog:\n  x: 1\n',
  );
  for (const [name, p] of Object.entries(pkgs)) {
    const dir = join(root, 'packages', name);
    mkdirSync(dir, { recursive: true });
    const scripts = p.noTests === true ? '' : ', "scripts": { "test": "vitest run" }';
    writeFileSync(join(dir, 'package.json'), `{ "name": "${name}"${scripts} }\n`);
    if (p.noConfig !== true) writeFileSync(join(dir, 'vitest.config.ts'), 'export default {};\n');
    if (p.report !== undefined) {
      const text = readFileSync(fixture(p.report), 'utf8').replaceAll('<pkg>', dir);
      writeFileSync(join(dir, REPORT_FILE), text);
    }
    if (p.quiet !== undefined) {
      const text = readFileSync(fixture(p.quiet), 'utf8').replaceAll('<pkg>', dir);
      writeFileSync(join(dir, QUIET_REPORT_FILE), text);
    }
  }
  return root;
}

const cli = (root: string) => spawnSync(process.execPath, [script, root], { encoding: 'utf8' });

describe('test-summary', () => {
  it('counts tests: 2 passed and 1 skipped, exit 0', () => {
    const root = workspace({ a: { report: 'pass' } });
    expect(summarize(root)).toEqual({ passed: 2, failed: 0, skipped: 1, problems: [] });
    const r = cli(root);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('2 passed, 0 failed, 1 skipped\n');
  });

  it("adds the quiet run's report where there is one, with its failures named", () => {
    expect(summarize(workspace({ a: { report: 'pass', quiet: 'pass' } }))).toEqual({
      passed: 4,
      failed: 0,
      skipped: 2,
      problems: [],
    });
    const r = cli(workspace({ a: { report: 'pass', quiet: 'one-failing-test' } }));
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('packages/a: failed: b\n3 passed, 1 failed, 1 skipped\n');
  });

  it('one failing test is "1 failed", not 2 (its file is not counted again), and is named', () => {
    const root = workspace({ a: { report: 'one-failing-test' } });
    const r = cli(root);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('packages/a: failed: b\n1 passed, 1 failed, 0 skipped\n');
  });

  it('a test file that does not load is one failure with its reason', () => {
    const s = summarize(workspace({ a: { report: 'import-error' } }));
    expect(s).toMatchObject({ passed: 1, failed: 1 });
    expect(s.problems).toEqual([
      "packages/a: test/a.test.mjs failed outside its tests: Cannot find module '../nope.mjs' imported from " +
        `${s.problems[0]!.split('imported from ')[1]}`,
    ]);
    expect(s.problems[0]).toMatch(/a\.test\.mjs$/);
  });

  it('a test file with no tests in it is one failure', () => {
    const s = summarize(workspace({ a: { report: 'no-tests-in-file' } }));
    expect(s).toMatchObject({ passed: 0, failed: 1 });
    expect(s.problems[0]).toMatch(
      /^packages\/a: test\/a\.test\.mjs failed outside its tests: No test suite found/,
    );
  });

  it('an error thrown outside any test is one failure, though vitest reports success', () => {
    const report = JSON.parse(readFileSync(fixture('unhandled-error'), 'utf8'));
    expect(report).toMatchObject({ success: true, numFailedTests: 0 });
    const s = summarize(workspace({ a: { report: 'unhandled-error' } }));
    expect(s).toEqual({
      passed: 2,
      failed: 1,
      skipped: 0,
      problems: ['packages/a: error outside any test: Error: late boom'],
    });
  });

  it('a package with no test files is one failure', () => {
    expect(summarize(workspace({ a: { report: 'no-test-files' } }))).toEqual({
      passed: 0,
      failed: 1,
      skipped: 0,
      problems: ['packages/a: no test files'],
    });
  });

  it('a package whose report is missing is one failure', () => {
    const s = summarize(workspace({ a: {}, b: { report: 'pass' } }));
    expect(s).toMatchObject({ passed: 2, failed: 1, skipped: 1 });
    expect(s.problems).toEqual([
      expect.stringMatching(/^packages\/a: no test report \(\.vitest-report\.json\)/),
    ]);
  });

  it('a package without a vitest config is one failure, even with a report lying there', () => {
    const s = summarize(workspace({ a: { noConfig: true, report: 'pass' } }));
    expect(s).toEqual({
      passed: 0,
      failed: 1,
      skipped: 0,
      problems: ['packages/a: no vitest config: its tests never run'],
    });
  });

  it('a test/ directory without a test script or vitest config is one failure', () => {
    const root = workspace({ a: { noConfig: true, noTests: true } });
    mkdirSync(join(root, 'packages', 'a', 'test'));
    expect(summarize(root).problems).toEqual(['packages/a: no vitest config: its tests never run']);
  });

  it('a package with no tests at all (an example program) has nothing to report', () => {
    const root = workspace({ a: { noConfig: true, noTests: true }, b: { report: 'pass' } });
    expect(summarize(root)).toEqual({ passed: 2, failed: 0, skipped: 1, problems: [] });
  });

  it('an unreadable report is one failure', () => {
    const root = workspace({ a: {} });
    writeFileSync(join(root, 'packages', 'a', REPORT_FILE), '{"numTotal');
    expect(summarize(root).problems).toEqual([expect.stringMatching(/^packages\/a: unreadable test report/)]);
  });

  it('everything at once: each cause printed above the count line, exit 1', () => {
    const root = workspace({
      a: { report: 'pass' },
      b: { report: 'one-failing-test' },
      c: { report: 'import-error' },
      d: { report: 'unhandled-error' },
      e: { report: 'no-test-files' },
      f: {},
      g: { noConfig: true },
    });
    const r = cli(root);
    expect(r.status).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.at(-1)).toBe('6 passed, 6 failed, 1 skipped');
    expect(lines.slice(0, -1).map((l) => l.split(':')[0])).toEqual([
      'packages/b',
      'packages/c',
      'packages/d',
      'packages/e',
      'packages/f',
      'packages/g',
    ]);
    expect(formatSummary(summarize(root))).toBe(r.stdout.trimEnd());
  });

  it("reads the workspace's package list: globs and single directories", () => {
    const root = workspace({ a: {}, b: {} });
    mkdirSync(join(root, 'tools'));
    writeFileSync(join(root, 'tools', 'package.json'), '{}');
    mkdirSync(join(root, 'packages', 'not-a-package'));
    expect(workspacePackages(root)).toEqual(['packages/a', 'packages/b', 'tools']);
  });

  it("this repository: every workspace package is counted (the script's own package too)", () => {
    const root = join(import.meta.dirname, '..', '..');
    const pkgs = workspacePackages(root);
    expect(pkgs).toContain('scripts');
    expect(pkgs).toContain('packages/scenario');
    expect(pkgs).toContain('apps/demo');
  });
});
