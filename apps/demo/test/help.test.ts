// --help for every command, with examples; the top-level help lists them all.

import { describe, expect, it } from 'vitest';
import { mmsim, usageError } from './helpers.ts';

const COMMANDS = [
  'demo',
  'run',
  'verify',
  'kernel',
  'pagemap',
  'smaps',
  'ksm-stat',
  'pte',
  'tree',
  'trace',
  'knobs',
];

describe('--help', () => {
  it('lists every command', async () => {
    const r = await mmsim(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    expect(r.out).toContain('Exit codes');
  });

  it.each(COMMANDS)('%s --help shows options, examples and --json', async (c) => {
    const r = await mmsim([c, '--help']);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    expect(r.out).toContain(`Usage: mmsim ${c}`);
    expect(r.out).toContain('--json');
    expect(r.out).toMatch(/Examples:\n {2}\$ /);
  });

  it('mmsim help <command> is the same', async () => {
    expect((await mmsim(['help', 'pte'])).out).toBe((await mmsim(['pte', '--help'])).out);
  });
});

describe('typos', () => {
  it.each([
    [['pgmap', 'x.yaml'], "mmsim: unknown command 'pgmap' (did you mean pagemap?); see mmsim --help"],
    [['frob'], "mmsim: unknown command 'frob'; see mmsim --help"],
    [['pagemap', 'x.yaml', '--prc', 'a'], "mmsim: unknown option '--prc' (did you mean --proc?)"],
  ])('%j: one line, exit 2', async (argv, line) => {
    expect(usageError(await mmsim(argv))).toBe(line);
  });
});
