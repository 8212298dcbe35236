// Bad input never crashes: the scenario parser on random and mutated texts, and `mmsim run` on
// mutated files and random arguments.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  checkScenarioInput,
  cliArgsArbitrary,
  fuzzCliOnce,
  scenarioCorpus,
  scenarioParserProperty,
  scenarioTextArbitrary,
} from '../src/inputs.ts';

const corpus = scenarioCorpus();

describe('bad input never crashes', () => {
  it('the scenario parser: random, textually and structurally mutated files end in a scenario or a one-line ScenarioError', () => {
    fc.assert(scenarioParserProperty(corpus), { numRuns: 3000 });
  });

  it('every scenario of the corpus loads and runs', () => {
    for (const { text, file } of corpus) checkScenarioInput(text, file);
  });

  it('mmsim run on mutated files with random arguments: exit 0/1, or 2 with one line — never a stack trace', () => {
    fc.assert(
      fc.property(scenarioTextArbitrary(corpus), cliArgsArbitrary, ({ text, file }, args) => {
        fuzzCliOnce(text, file, args);
      }),
      { numRuns: Number(process.env.MMSIM_FUZZ_CLI_RUNS ?? 24) },
    );
  }, 300_000);
});
