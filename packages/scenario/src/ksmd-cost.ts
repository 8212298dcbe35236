// The ksmd cost model file on disk (Node only): where the repository keeps the one calibrated on
// the project machine, and reading one with its format checked.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ScenarioError } from './errors.ts';
import { type KsmdCostFile, ksmdCostFileSchema } from './predict.ts';

/** The cost model `pnpm --filter @mmsim/bench calibrate` wrote on the project machine. */
export const KSMD_COST_FILE: string = fileURLToPath(
  new URL('../calibration/ksmd-cost.json', import.meta.url),
);

/** Reads and checks a cost model file; a missing or malformed one is a ScenarioError (one line). */
export function loadKsmdCost(path: string = KSMD_COST_FILE): KsmdCostFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const why = e instanceof SyntaxError ? e.message : ((e as NodeJS.ErrnoException).code ?? String(e));
    throw new ScenarioError(path, '$', 'a readable ksmd cost model (JSON)', why);
  }
  const r = ksmdCostFileSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ScenarioError(
      path,
      `$.${issue.path.join('.')}`,
      'a ksmd cost model (mmsim-ksmd-cost-2)',
      issue.message,
    );
  }
  return r.data;
}
