// Every scenario in scenarios/ runs on the simulator (its expects must pass) and, where the live
// kernel is available, through `verify`: the two engines' reports must be equal.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkKsmInvariants } from '@mmsim/ksm';
import { checkMmInvariants } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { compareReports, formatReportDiff, runOnSimulator } from '../src/index.ts';
import { hostMemory, loadScenario, oracleAvailability, runOnKernel } from '../src/node.ts';

const dir = join(import.meta.dirname, '..', '..', '..', 'scenarios');
const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));
const kernel = oracleAvailability();
if (!kernel.available) console.log(`scenario verify tests skipped: ${kernel.reason}`);

describe('scenarios/', () => {
  it('holds scenarios', () => expect(files.length).toBeGreaterThan(0));

  for (const f of files) {
    it(`${f} runs on the simulator with every invariant holding after every step`, () => {
      const loaded = loadScenario(join(dir, f));
      const r = runOnSimulator(loaded, {
        host: hostMemory(),
        afterStep: (ctx) => {
          checkMmInvariants(ctx.machine);
          checkKsmInvariants(ctx.ksm);
        },
      });
      expect(r.failures).toEqual([]);
    });

    it.skipIf(!kernel.available)(
      `${f}: verify against the live kernel${kernel.available ? '' : ` (skipped: ${kernel.available ? '' : kernel.reason})`}`,
      async () => {
        const loaded = loadScenario(join(dir, f));
        const sim = runOnSimulator(loaded, { host: hostMemory() });
        const kern = await runOnKernel(loaded.scenario);
        const diff = compareReports(sim, kern);
        expect(diff.equal, formatReportDiff(diff)).toBe(true);
      },
      120_000,
    );
  }
});
