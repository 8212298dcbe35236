// The JSON Schema editors use (scenario.schema.json) is generated from the zod schemas; the
// committed file must be what the generator writes now, and every scenario in the repository
// points its editor at it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, STEP_OPS, scenarioJsonSchema } from '../src/index.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const schemaFile = join(import.meta.dirname, '..', 'scenario.schema.json');
const scenarioDir = join(root, 'scenarios');
const header = '# yaml-language-server: $schema=../packages/scenario/scenario.schema.json';

describe('scenario.schema.json', () => {
  it('is up to date with src/schema.ts (regenerate: pnpm --filter @mmsim/scenario schema)', () => {
    expect(JSON.parse(readFileSync(schemaFile, 'utf8'))).toEqual(scenarioJsonSchema());
  });

  it('describes every op, with its fields closed to unknown keys', () => {
    const schema = scenarioJsonSchema() as {
      properties: {
        steps: { items: { oneOf: { properties: { op: { const: string } }; required: string[] }[] } };
      };
    };
    const variants = schema.properties.steps.items.oneOf;
    expect(variants.map((v) => v.properties.op.const)).toEqual(STEP_OPS);
    for (const v of variants) {
      expect(v).toMatchObject({ additionalProperties: false });
      expect(v.required).toContain('op');
    }
  });

  it('is referenced by every scenario in scenarios/', () => {
    const files = readdirSync(scenarioDir).filter((f) => /\.ya?ml$/.test(f));
    expect(files.length).toBeGreaterThan(0);
    const missing = files.filter((f) => readFileSync(join(scenarioDir, f), 'utf8').split('\n')[0] !== header);
    expect(missing).toEqual([]);
  });

  it('may be named by a JSON scenario in $schema', () => {
    const text = JSON.stringify({
      $schema: '../packages/scenario/scenario.schema.json',
      name: 't',
      steps: [],
    });
    expect(parseScenario(text, 't.json').scenario.name).toBe('t');
  });
});
