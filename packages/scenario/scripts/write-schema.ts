// Writes scenario.schema.json, the JSON Schema of the scenario format, from the zod schemas in
// src/schema.ts (the one source). test/json-schema.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { scenarioJsonSchema } from '../src/schema.ts';

const target = new URL('../scenario.schema.json', import.meta.url);
writeFileSync(target, `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target.pathname}`);
