// Regressions found by the input fuzzer (@mmsim/fuzz): bad input ends in a one-line ScenarioError.
import { describe, expect, it } from 'vitest';
import { parseScenario, runOnSimulator, ScenarioError } from '../src/index.ts';
import { hostMemory } from '../src/node.ts';

function error(fn: () => unknown): ScenarioError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    expect((e as Error).message).not.toContain('\n');
    return e as ScenarioError;
  }
  throw new Error('no error');
}

const steps = 'steps:\n  - { op: spawn, proc: a }\n';

describe('fuzzer regressions', () => {
  it('a YAML alias without its anchor is a ScenarioError, not a ReferenceError', () => {
    const e = error(() => parseScenario(`name: x\n${steps}  - { op: exit, proc: *1 }\n`, 'x.yaml'));
    expect(e.path).toBe('$');
    expect(e.message).toContain('x.yaml: $: expected valid YAML');
  });

  it('an initial knob the simulator refuses is a ScenarioError naming ksm.<knob>', () => {
    const loaded = parseScenario(
      `name: x\nmachine: { memory_mib: 64 }\nksm: { pages_to_scan: -1 }\n${steps}`,
      'x.yaml',
    );
    const e = error(() => runOnSimulator(loaded, { host: hostMemory() }));
    expect(e.path).toBe('ksm.pages_to_scan');
  });

  it('a machine below the simulator minimum is a ScenarioError, not a BUG', () => {
    const loaded = parseScenario(`name: x\nmachine: { memory_mib: 1 }\n${steps}`, 'x.yaml');
    const e = error(() => runOnSimulator(loaded, { host: hostMemory() }));
    expect(e.path).toBe('machine.memory_mib');
  });
});
