// Failing cases `pnpm fuzz` wrote, replayed exactly: each must now pass every check.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { replayActions } from '../src/commands.ts';
import type { FailureRecord } from '../src/scenario.ts';

const dir = join(import.meta.dirname, 'regressions');

describe('pnpm fuzz failures, replayed', () => {
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.actions.json'))
    .sort()) {
    const rec = JSON.parse(readFileSync(join(dir, f), 'utf8')) as FailureRecord;
    it(`${f}: ${rec.message.split('\n')[0]}`, () => {
      replayActions(rec.options, rec.actions);
    });
  }
});
