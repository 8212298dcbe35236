// `pnpm bench unmerge --strategy <file>`: a strategy of one's own is checked against the built-in
// ones before anything is timed, and becomes unmerge variants when it passes.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const example = join(pkg, '..', '..', 'examples', 'strategy', 'src', 'pmd-batch.ts');

function bench(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(
    process.execPath,
    ['--conditions=@mmsim/source', '--import', 'tsx', 'src/cli.ts', ...args],
    { cwd: pkg, encoding: 'utf8', env: { ...process.env, INIT_CWD: pkg, TURBO_INVOCATION_DIR: pkg } },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Each case starts the bench CLI in a fresh Node process (two for the second): slow on a loaded machine.
const SLOW = 240_000;

describe('bench unmerge --strategy', () => {
  it(
    'adds the variants of a strategy that passes the check',
    () => {
      const r = bench(['unmerge', '--list', '--strategy', example]);
      expect(r.status).toBe(0);
      for (const mix of ['same', 'ids16', 'none']) expect(r.stdout).toContain(`  ${mix}:pmd_batch  example:`);
    },
    SLOW,
  );

  it(
    'refuses one that differs from the built-in ones: one line, exit 2',
    () => {
      const lazy = join(mkdtempSync(join(tmpdir(), 'mmsim-bench-')), 'lazy.mjs');
      writeFileSync(
        lazy,
        "export default { name: 'lazy', kernel: 'none', description: 'x', unmerge: () => 0 };\n",
      );
      const r = bench(['unmerge', '--list', '--strategy', lazy]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^bench: .*lazy\.mjs: default: expected a strategy that acts as the built-in ones, found workload mix: lazy differs/,
      );
      expect(bench(['scan', '--list', '--strategy', example]).stderr.trim()).toBe(
        'bench: --strategy applies to the unmerge benchmark',
      );
    },
    SLOW,
  );
});
