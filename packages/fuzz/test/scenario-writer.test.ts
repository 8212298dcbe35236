// A failing sequence written as a scenario file parses, plans the same addresses, and replays to
// the same actions (the expressible ones); pnpm fuzz --replay runs scenario files under the model.

import { parseScenario } from '@mmsim/scenario';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { replayActions } from '../src/commands.ts';
import { commandsArbitrary, type FuzzWorld, INEXPRESSIBLE, runSequence, worldOptions } from '../src/index.ts';
import { scenarioToActions, toScenarioYaml } from '../src/scenario.ts';

describe('failing cases as scenario files', () => {
  it('every logged sequence round-trips through the scenario format', () => {
    fc.assert(
      fc.property(worldOptions, commandsArbitrary(40, true), (opts, cmds) => {
        const w: FuzzWorld = runSequence(opts, cmds);
        const yaml = toScenarioYaml('rt', opts, w.log, ['round trip']);
        const loaded = parseScenario(yaml, 'rt.yaml');
        const { actions } = scenarioToActions(loaded);
        const expressible = w.log.map((l) => l.action).filter((a) => !INEXPRESSIBLE.has(a.op));
        expect(actions).toEqual(expressible);
        // Region addresses: the planner's layout is the model's.
        const addrs = loaded.plan.regions.map((r) => r.addr);
        const mmaps = w.log.filter((l) => l.action.op === 'mmap').length;
        expect(addrs).toHaveLength(mmaps);
      }),
      { seed: 7, numRuns: 60 },
    );
  });

  it("replaying a scenario's actions under the model passes for the hand-written corpus", () => {
    const text = [
      'name: replay',
      'machine: { memory_mib: 64 }',
      'steps:',
      '  - { op: spawn, proc: a }',
      '  - { op: mmap, proc: a, region: r, pages: 6 }',
      '  - { op: fill, proc: a, region: r, pattern: { kind: ids, count: 2, seed: 3 } }',
      '  - { op: madvise, proc: a, region: r, advice: MADV_MERGEABLE }',
      '  - { op: fork, proc: a, child: b }',
      '  - { op: ksm_converge }',
      '  - { op: write, proc: b, region: r, page: 2, value: 9 }',
      '  - { op: madvise, proc: a, region: r, advice: MADV_PAGEOUT }',
      '  - { op: touch, proc: a, region: r }',
      '  - { op: ksm_unmerge_all }',
      '',
    ].join('\n');
    const { options, actions } = scenarioToActions(parseScenario(text, 'replay.yaml'));
    replayActions(options, actions);
  });
});
