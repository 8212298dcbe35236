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
