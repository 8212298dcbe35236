// run and trace show what the chosen break_ksm() strategy cost, per page, on the user's scenario.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mmsim, scenario } from './helpers.ts';

const unmerge = scenario('ksm-functional-unmerge.yaml');

interface Costs {
  strategy: string;
  steps: { step: number; what: string; pages: number; perPage: Record<string, number> }[];
}

async function costsOf(strategy: string): Promise<Costs> {
  const r = await mmsim(['run', unmerge, '--json', '--strategy', strategy]);
  expect(r.code).toBe(0);
  return (JSON.parse(r.out) as { costs: Costs }).costs;
}

describe('break_ksm() costs', () => {
  it('run --json: the MADV_UNMERGEABLE step per page, different for each strategy', async () => {
    const follow = await costsOf('follow_page');
    const folio = await costsOf('folio_walk');
    expect(follow.strategy).toBe('follow_page');
    // ksm-functional-unmerge: 512 merged pages of a's region r, unmerged by step 7.
    expect(follow.steps[0]).toMatchObject({ step: 7, what: 'a/r', pages: 512 });
    // follow_page (6.0): one lookup reading all five levels, then the write fault, per page.
    expect(follow.steps[0]!.perPage).toEqual({
      entries: 5,
      walks: 0,
      callbacks: 0,
      lookups: 1,
      faults: 1,
      copies: 1,
    });
    // folio_walk (6.12-6.18): two walks per KSM page (one to find it, one to confirm the unshare).
    expect(folio.steps[0]!.perPage).toEqual({
      entries: 10,
      walks: 2,
      callbacks: 0,
      lookups: 0,
      faults: 1,
      copies: 1,
    });
  });

  it('run prints the cost table under the report when a step unmerges', async () => {
    const r = await mmsim(['run', unmerge, '--strategy', 'walk_pmd']);
    expect(r.out).toContain('break_ksm() per 4 KiB page: walk_pmd (6.2-6.11)');
    expect(r.out).toMatch(/^7 a\/r +512 +10 +2 +2 +0 +1 +1$/m);
    for (const line of r.out.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
  });

  it('run prints no cost table for a scenario that never unmerges, unless a strategy is named', async () => {
    const plain = await mmsim(['run', scenario('ksm-tests-merge.yaml')]);
    expect(plain.out).not.toContain('break_ksm() per 4 KiB page');
    const named = await mmsim(['run', scenario('ksm-tests-merge.yaml'), '--strategy', 'walk_fault']);
    expect(named.out).toContain('no step of this scenario unmerges');
  });

  it('trace --strategy: the costs in the summary and in the trace file', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mmsim-trace-')), 't.json');
    const r = await mmsim(['trace', unmerge, '-o', out, '--json', '--strategy', 'follow_page']);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out) as { costs: Costs };
    expect(summary.costs.steps[0]!.perPage.lookups).toBe(1);
    const trace = JSON.parse(readFileSync(out, 'utf8')) as { otherData: { costs: Costs } };
    expect(trace.otherData.costs).toEqual(summary.costs);
  });
});
