// The example strategy loads through the loader `mmsim run --strategy` and `pnpm bench unmerge
// --strategy` use, passes their check against the built-in strategies, and unmerges as they do.

import { fileURLToPath } from 'node:url';
import { STRATEGIES } from '@mmsim/ksm';
import { runOnSimulator } from '@mmsim/scenario';
import { checkBreakKsmStrategy, hostMemory, loadBreakKsmStrategy, loadScenario } from '@mmsim/scenario/node';

const host = hostMemory();

import { describe, expect, it } from 'vitest';

const file = fileURLToPath(new URL('../src/pmd-batch.ts', import.meta.url));
const scenario = (name: string): string =>
  fileURLToPath(new URL(`../../../scenarios/${name}`, import.meta.url));

describe('examples/strategy: pmd_batch', () => {
  it('loads from its file and passes the check against the built-in strategies', async () => {
    const s = await loadBreakKsmStrategy(file);
    expect(s.name).toBe('pmd_batch');
    expect(checkBreakKsmStrategy(s)).toBeNull();
  });

  it('leaves what folio_walk leaves on the selftest scenarios, with fewer walks than range_walk', async () => {
    const s = await loadBreakKsmStrategy(file);
    for (const f of ['ksm-tests-unmerge.yaml', 'ksm-functional-unmerge.yaml', 'zero-pages-mixed.yaml']) {
      const loaded = loadScenario(scenario(f));
      const mine = runOnSimulator(loaded, { host, strategy: s });
      expect(mine.ok, f).toBe(true);
      expect(mine.reports, f).toEqual(runOnSimulator(loaded, { host, strategy: 'folio_walk' }).reports);
    }
    // Every walk of the run (ksmd's scan walks too, the same for both).
    const walks = (strategy: typeof s): number => {
      let n = 0;
      runOnSimulator(loadScenario(scenario('ksm-functional-unmerge.yaml')), {
        host,
        strategy,
        afterStep: (ctx) => {
          n = ctx.machine.counters.walks;
        },
      });
      return n;
    };
    expect(walks(s)).toBeLessThan(walks(STRATEGIES.range_walk!));
  });

  it('a strategy that does not unmerge is refused, saying where it differs', () => {
    const lazy = { name: 'lazy', kernel: 'none', description: 'unmerges nothing', unmerge: () => 0 };
    expect(checkBreakKsmStrategy(lazy)).toMatch(/^workload mix: lazy differs from folio_walk at report\./);
  });
});
