// mmsim as an installed command: the package's bin (what `pnpm exec mmsim` runs), --version, and a
// scenario read from standard input.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mmsimVersion } from '../src/cli.ts';
import { mmsim, root, scenario, usageError } from './helpers.ts';

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
  bin: Record<string, string>;
};
const bin = join(import.meta.dirname, '..', pkg.bin.mmsim!);

describe('the mmsim bin', () => {
  it('runs the command from source with no flags to node', () => {
    const r = spawnSync(process.execPath, [bin, 'run', scenario('chains-fork.yaml'), '--json'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).reports[0].ksm.pages_sharing).toBe(8);
  });

  it('a user mistake through the bin is still one line and exit code 2', () => {
    const r = spawnSync(process.execPath, [bin, 'run', 'no-such-file.yaml'], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('mmsim: no-such-file.yaml: $: expected a readable file, found ENOENT\n');
  });
});

describe('mmsim --version', () => {
  it("prints the package's version", async () => {
    expect(mmsimVersion()).toBe(pkg.version);
    for (const flag of ['--version', '-V']) {
      const r = await mmsim([flag]);
      expect(r).toEqual({ code: 0, out: `mmsim ${pkg.version}\n`, err: '' });
    }
  });
});

describe('mmsim run -', () => {
  const yaml = readFileSync(scenario('chains-fork.yaml'), 'utf8');

  it('reads the scenario from standard input, YAML or JSON', async () => {
    const fromFile = await mmsim(['run', scenario('chains-fork.yaml'), '--json']);
    const fromYaml = await mmsim(['run', '-', '--json'], { stdin: yaml });
    expect(fromYaml.code).toBe(0);
    expect(fromYaml.out).toBe(fromFile.out);
    const json = JSON.stringify({
      name: 'j',
      steps: [
        { op: 'spawn', proc: 'a' },
        { op: 'report', label: 'x' },
      ],
    });
    const fromJson = await mmsim(['run', '-', '--json'], { stdin: json });
    expect(JSON.parse(fromJson.out).scenario).toBe('j');
  });

  it('a bad scenario on standard input is named <stdin>', async () => {
    const r = await mmsim(['run', '-'], { stdin: 'name: x\nsteps:\n  - { op: frobnicate }\n' });
    expect(usageError(r)).toMatch(/^mmsim: <stdin>: steps\[0\]\.op: expected /);
  });

  it('works through the bin with a pipe', () => {
    const r = spawnSync(process.execPath, [bin, 'run', '-', '--json'], {
      cwd: root,
      input: yaml,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).scenario).toBe('chains-fork');
  });
});
