import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STRATEGIES } from '@mmsim/ksm';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = join(root, 'apps', 'demo', 'src', 'cli.ts');
const run = (...args: string[]) =>
  spawnSync(process.execPath, ['--conditions=@mmsim/source', '--import', 'tsx', cli, ...args], {
    cwd: root,
    encoding: 'utf8',
  });

describe('mmsim', () => {
  it('run --json prints the report and matches the selftest', () => {
    const r = run('run', join(root, 'scenarios', 'ksm-tests-merge.yaml'), '--json');
    expect(r.status).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.engine).toBe('simulator');
    expect(rep.reports[0].ksm).toMatchObject({ pages_shared: 1, pages_sharing: 9 });
  });

  it('a bad scenario file is one line on stderr and exit code 2', () => {
    const d = mkdtempSync(join(tmpdir(), 'mmsim-'));
    const f = join(d, 'bad.yaml');
    writeFileSync(f, 'name: x\nsteps:\n  - { op: frobnicate }\n');
    const r = run('run', f);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('bad.yaml');
  });

  it('the tour runs and tells the story in JSON', () => {
    const out = execFileSync(
      process.execPath,
      ['--conditions=@mmsim/source', '--import', 'tsx', cli, 'demo', '--size', '64', '--json'],
      { cwd: root, encoding: 'utf8' },
    );
    const data = JSON.parse(out);
    expect(data.unmerge.map((r: { strategy: string }) => r.strategy)).toEqual(Object.keys(STRATEGIES));
    expect(data.scans[2].pages_sharing).toBeGreaterThan(0);
  });

  it('an unknown command exits 2', () => {
    expect(run('frob').status).toBe(2);
  });
});

describe('mmsim as a process', () => {
  it('a bad flag: one line on stderr, exit 2, no stack trace', () => {
    const r = run('pagemap', join(root, 'scenarios', 'ksm-tests-merge.yaml'), '--frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("mmsim: unknown option '--frobnicate'\n");
    expect(r.stdout).toBe('');
  });

  it('an unknown process: one line, exit 2', () => {
    const r = run('ksm-stat', join(root, 'scenarios', 'ksm-tests-merge.yaml'), '--proc', 'zz');
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('no process "zz"');
  });

  it('colour: never into a pipe unless FORCE_COLOR, and NO_COLOR wins', () => {
    const file = join(root, 'scenarios', 'ksm-tests-merge.yaml');
    const env = (extra: Record<string, string>) => {
      const e: Record<string, string | undefined> = { ...process.env, ...extra };
      if (!('NO_COLOR' in extra)) delete e.NO_COLOR;
      if (!('FORCE_COLOR' in extra)) delete e.FORCE_COLOR;
      return e;
    };
    const go = (extra: Record<string, string>) =>
      spawnSync(process.execPath, ['--conditions=@mmsim/source', '--import', 'tsx', cli, 'run', file], {
        cwd: root,
        encoding: 'utf8',
        env: env(extra),
      }).stdout;
    expect(go({})).not.toContain('\x1b[');
    expect(go({ FORCE_COLOR: '1' })).toContain('\x1b[');
    expect(go({ FORCE_COLOR: '1', NO_COLOR: '1' })).not.toContain('\x1b[');
  });
});
