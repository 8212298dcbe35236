import { KNOBS } from '@mmsim/ksm';
import { describe, expect, it } from 'vitest';
import { mmsim, scenario, usageError } from './helpers.ts';

describe('mmsim knobs', () => {
  it('the defaults, with what each file does', async () => {
    const r = await mmsim(['knobs']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchSnapshot();
  });

  it('--json: every sysfs file', async () => {
    const rows = JSON.parse((await mmsim(['knobs', '--json'])).out);
    expect(rows.map((k: { name: string }) => k.name)).toEqual(KNOBS.map((k) => k.name));
    expect(rows.find((k: { name: string }) => k.name === 'max_page_sharing')).toEqual({
      name: 'max_page_sharing',
      value: '256',
      writable: true,
      help: expect.stringContaining('chains'),
    });
  });

  it('the values at a report step of a scenario', async () => {
    const rows = JSON.parse(
      (await mmsim(['knobs', scenario('chains-fork.yaml'), '--at', 'chained', '--json'])).out,
    );
    const v = Object.fromEntries(rows.map((k: { name: string; value: string }) => [k.name, k.value]));
    expect(v).toMatchObject({
      max_page_sharing: '4',
      pages_shared: '3',
      pages_sharing: '8',
      stable_node_dups: '3',
    });
  });

  it('a bad scenario or label is one line, exit 2', async () => {
    expect(usageError(await mmsim(['knobs', 'nope.yaml']))).toContain('nope.yaml');
    expect(usageError(await mmsim(['knobs', scenario('chains-fork.yaml'), '--at', 'x']))).toContain('"x"');
  });
});
