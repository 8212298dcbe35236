import { readFileSync } from 'node:fs';
import { encodeInstructions, parseScenario } from './src/index.ts';
const f = process.argv[2]!;
process.stdout.write(encodeInstructions(parseScenario(readFileSync(f, 'utf8'), f).scenario));
