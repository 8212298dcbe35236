// `pnpm bench` runs this package's bin: its answer to --help is its own text only, with no build
// and nothing from pnpm or turbo around it.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const pkgDir = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { bin: Record<string, string> };

it('bench --help: usage on stdout, nothing on stderr, exit 0', () => {
  const r = spawnSync(process.execPath, [join(pkgDir, pkg.bin.bench!), '--help'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^Usage: bench \[options\] \[names\.\.\.\]\n/);
  expect(r.stdout).toContain('--sim-only');
});

it('an unknown benchmark: one line on stderr, exit 2', () => {
  const r = spawnSync(process.execPath, [join(pkgDir, pkg.bin.bench!), 'nope'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stdout).toBe('');
});
