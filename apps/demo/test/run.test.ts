// run, kernel and verify, in-process.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_KERNEL_PROFILE } from '@mmsim/core';
import { kernelStrategy, STRATEGIES } from '@mmsim/ksm';
import { oracleAvailability } from '@mmsim/scenario/node';
import { describe, expect, it, vi } from 'vitest';
import { fixture, mmsim, root, scenario, usageError } from './helpers.ts';

const kernel = oracleAvailability();
const noKernel = kernel.available ? '' : kernel.reason;
if (noKernel !== '') console.log(`apps/demo: live-kernel tests skipped: ${noKernel}`);

describe('mmsim run', () => {
  it('a table: one column per report step, then each process', async () => {
    const r = await mmsim(['run', scenario('chains-fork.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatchSnapshot();
  });

  it('--json is the report object', async () => {
    const r = await mmsim(['run', fixture('views.yaml'), '--json']);
    const rep = JSON.parse(r.out);
    expect(rep).toMatchObject({ scenario: 'views', engine: 'simulator', ok: true, failures: [] });
    expect(rep.reports.map((e: { label: string }) => e.label)).toEqual(['merged', 'forked']);
    // Ordinals count frames in first-seen order over the report (a/r, a/z, then b/r): b's
    // page 0 is its own copy; 1-3 still the KSM page; 5 swapped (-3); 6 PROT_NONE but mapped.
    expect(rep.reports[1].sharing['a/z']).toEqual([-2, -2]);
    expect(rep.reports[1].sharing['b/r']).toEqual([3, 0, 0, 0, 1, -3, 2, -1]);
  });

  it('a failed expect: exit 1 and the failure in the table', async () => {
    const f = join(mkdtempSync(join(tmpdir(), 'mmsim-')), 'wrong.yaml');
    writeFileSync(
      f,
      'name: wrong\nsteps:\n  - { op: spawn, proc: a }\n  - { op: expect, ksm: { pages_shared: 1 } }\n',
    );
    const bad = await mmsim(['run', f]);
    expect(bad.code).toBe(1);
    expect(bad.out).toContain('FAILED');
    expect(bad.out).toContain('failed: step 1 (expect): ksm.pages_shared: expected 1, got 0');
  });

  it('--strategy picks the break_ksm() implementation: only that one runs, with the same report', async () => {
    // MADV_UNMERGEABLE over 512 merged pages: unmerge_ksm_pages() calls the strategy's unmerge().
    const file = scenario('ksm-functional-unmerge.yaml');
    const calls = (names: string[]) => {
      const spies = names.map((n) => vi.spyOn(STRATEGIES[n]!, 'unmerge'));
      return () => {
        const out = Object.fromEntries(names.map((n, i) => [n, spies[i]!.mock.calls.length]));
        vi.restoreAllMocks();
        return out;
      };
    };
    const names = Object.keys(STRATEGIES);
    const byKernel = kernelStrategy(DEFAULT_KERNEL_PROFILE).name;
    const none = Object.fromEntries(names.map((n) => [n, 0]));
    const stopDefault = calls(names);
    const byDefault = await mmsim(['run', file, '--json']);
    const used = stopDefault();
    expect(used[byKernel]).toBeGreaterThan(0);
    expect(used).toEqual({ ...none, [byKernel]: used[byKernel] });
    for (const name of names) {
      const stop = calls(names);
      const r = await mmsim(['run', file, '--strategy', name, '--json']);
      const n = stop();
      expect(r.code, name).toBe(0);
      expect(n[name], name).toBeGreaterThan(0);
      expect(n, name).toEqual({ ...none, [name]: n[name] });
      // Every strategy unmerges the same pages: only their cost differs.
      expect(JSON.parse(r.out).reports, name).toEqual(JSON.parse(byDefault.out).reports);
    }
  });

  it('--strategy loads a strategy of your own from a file, after checking it', async () => {
    const own = join(root, 'examples', 'strategy', 'src', 'pmd-batch.ts');
    const r = await mmsim(['run', scenario('ksm-functional-unmerge.yaml'), '--strategy', own, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).ok).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-'));
    const lazy = join(dir, 'lazy.mjs');
    writeFileSync(
      lazy,
      "export default { name: 'lazy', kernel: 'none', description: 'unmerges nothing', unmerge: () => 0 };\n",
    );
    expect(usageError(await mmsim(['run', scenario('ksm-tests-merge.yaml'), '--strategy', lazy]))).toMatch(
      /lazy\.mjs: default: expected a strategy that acts as the built-in ones, found workload mix: lazy differs from folio_walk at report\./,
    );
    const clash = join(dir, 'clash.mjs');
    writeFileSync(
      clash,
      "export default { name: 'folio_walk', kernel: 'x', description: 'y', unmerge: () => 0 };\n",
    );
    expect(usageError(await mmsim(['run', scenario('ksm-tests-merge.yaml'), '--strategy', clash]))).toContain(
      'default.name: expected a name apart from the built-in strategies, found "folio_walk"',
    );
    expect(
      usageError(await mmsim(['run', scenario('ksm-tests-merge.yaml'), '--strategy', join(dir, 'none.ts')])),
    ).toContain('none.ts: $: expected a module that loads');
  });

  it('colour only when asked for (a terminal, no NO_COLOR)', async () => {
    const plain = await mmsim(['run', scenario('ksm-tests-merge.yaml')]);
    expect(plain.out).not.toContain('\x1b[');
    const color = await mmsim(['run', scenario('ksm-tests-merge.yaml')], { color: true });
    expect(color.out).toContain('\x1b[32mok\x1b[39m');
  });

  it('mistakes: one line, exit 2', async () => {
    expect(usageError(await mmsim(['run', scenario('ksm-tests-merge.yaml'), '--strategy', 'x']))).toContain(
      "argument 'x' is invalid",
    );
    expect(usageError(await mmsim(['run']))).toContain("missing required argument 'file'");
    expect(usageError(await mmsim(['run', 'a.yaml', 'b.yaml']))).toContain('too many arguments');
  });
});

describe.skipIf(noKernel !== '')('mmsim kernel and verify on the live kernel', () => {
  it('verify: a full match', async () => {
    const r = await mmsim(['verify', scenario('ksm-tests-merge.yaml')]);
    // stderr may say the oracle waits for another kernel-side run's lock.
    expect(r.out).toContain('simulator vs live kernel: match');
    expect(r.code).toBe(0);
    const j = JSON.parse((await mmsim(['verify', scenario('ksm-tests-merge.yaml'), '--json'])).out);
    expect(j.equal).toBe(true);
  });

  it('kernel --json: the same report shape, engine kernel', async () => {
    const r = await mmsim(['kernel', scenario('ksm-tests-merge.yaml'), '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ engine: 'kernel', ok: true });
  });
});
