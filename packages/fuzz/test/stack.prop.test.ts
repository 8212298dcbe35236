// The whole stack against the reference model: 1,000 sequences of up to 100 commands, every
// command followed by the read-back, mm and KSM invariant checks; the seed is printed on failure
// (fast-check's report) and the actions as they ran are in the SequenceFailure message.
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { stats, wholeStackProperty } from '../src/index.ts';

const SEED = Number(process.env.MMSIM_FUZZ_SEED ?? 20251);

describe('whole stack vs the reference model', () => {
  afterAll(() => {
    console.log(`whole stack, no injection: ${stats.summary()}`);
  });
  it('1,000 sequences of up to 100 commands, no fault injection', () => {
    fc.assert(wholeStackProperty(100, false), { seed: SEED, numRuns: 1000 });
  }, 600_000);
});
