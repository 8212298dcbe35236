// docs/scenario-format.md is tested: its example scenario runs on the simulator with every expect
// passing, and the example of every op in its step table is a valid step.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseScenario, runOnSimulator, STEP_OPS, stepSchema } from '../src/index.ts';
import { hostMemory } from '../src/node.ts';

const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'scenario-format.md'), 'utf8');

describe('docs/scenario-format.md', () => {
  it('has an example scenario that runs with every expect passing', () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .filter((b) => b.includes('steps:') && !b.includes('op: restore')); // restore: packages/snapshot's test
    expect(blocks.length).toBe(1);
    const report = runOnSimulator(parseScenario(blocks[0]!, 'example.yaml'), { host: hostMemory() });
    expect(report.failures).toEqual([]);
    expect(report.reports[0]!.ksm.pages_sharing).toBe(124);
  });

  it('shows a valid example of every op', () => {
    const rows = doc.split('\n').filter((l) => l.includes('| `{ op: '));
    const examples = rows.map((l) => l.slice(l.lastIndexOf('| `{') + 3, l.lastIndexOf('}`') + 1));
    const steps = examples.map((e) => stepSchema.parse(parse(e)));
    expect(steps.map((s) => s.op)).toEqual(STEP_OPS);
  });
});
