// Differential fuzzing against the live kernel (src/kernel.ts): the generator's scenarios are
// valid and run on the simulator; where the kernel side is available, a fixed set of random
// scenarios must give equal reports on both engines.
import { oracleAvailability } from '@mmsim/scenario/node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildKernelScenario,
  compareWithKernel,
  kernelCaseArbitrary,
  withSimulatorErrnos,
} from '../src/kernel.ts';

const kernel = oracleAvailability();
if (!kernel.available) console.log(`SKIPPED: kernel differential fuzzing: ${kernel.reason}`);

describe('kernel scenario generator', () => {
  it('builds valid scenarios that run on the simulator once each errno is the simulator’s', () => {
    const ops = new Set<string>();
    const advice = new Set<string>();
    let withErrno = 0;
    for (const c of fc.sample(kernelCaseArbitrary(), { seed: 7, numRuns: 60 })) {
      const built = buildKernelScenario(c);
      expect(built.steps.at(-1)).toEqual({ op: 'report', label: 'end' });
      const { scenario, simulator } = withSimulatorErrnos(built);
      expect(simulator.ok, JSON.stringify(simulator.failures)).toBe(true);
      for (const s of scenario.steps) {
        ops.add(s.op);
        if (s.op === 'madvise') advice.add(s.advice);
        if (s.expect_errno !== undefined) withErrno++;
      }
    }
    // Every op the format has except `expect` (the kernel's values are what is compared).
    expect([...ops].sort()).toEqual(
      [
        'exit',
        'fill',
        'fork',
        'khugepaged_scan',
        'knob',
        'ksm_converge',
        'ksm_scan',
        'ksm_unmerge_all',
        'madvise',
        'mmap',
        'mprotect',
        'munmap',
        'prctl',
        'report',
        'spawn',
        'touch',
        'write',
      ].sort(),
    );
    expect(advice.size).toBeGreaterThan(15);
    expect(withErrno).toBeGreaterThan(0);
    // 60 whole scenarios on the simulator: about 20 s alone, several times that beside the suite
  }, 240_000);

  it('shrinks to valid scenarios: any prefix of the choices is a case too', () => {
    const [c] = fc.sample(kernelCaseArbitrary(), { seed: 3, numRuns: 1 });
    for (let n = 0; n <= c!.choices.length; n += 5) {
      const { simulator } = withSimulatorErrnos(
        buildKernelScenario({ ...c!, choices: c!.choices.slice(0, n) }),
      );
      expect(simulator.ok).toBe(true);
    }
  });
});

describe('the simulator against the live kernel', () => {
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  for (const seed of seeds) {
    it.skipIf(!kernel.available)(
      `random scenario (seed ${seed}) gives the kernel's reports${kernel.available ? '' : ` (skipped: ${kernel.reason})`}`,
      async () => {
        const [c] = fc.sample(kernelCaseArbitrary(), { seed, numRuns: 1 });
        const r = await compareWithKernel(c!, `kernel-${seed}`);
        expect(r.equal, r.diff).toBe(true);
      },
      120_000,
    );
  }
});
