// Load the example strategy from its file the way `mmsim run --strategy` and `pnpm bench unmerge
// --strategy` do, check it against the six built-in strategies (same memory, same counters), and
// exit non-zero unless it passes.
import { fileURLToPath } from 'node:url';
import { checkBreakKsmStrategy, loadBreakKsmStrategy } from '@mmsim/scenario/node';

const file = fileURLToPath(new URL('./src/pmd-batch.ts', import.meta.url));
const s = await loadBreakKsmStrategy(file);
const bad = checkBreakKsmStrategy(s);
if (bad !== null) {
  console.error(`${s.name}: ${bad}`);
  process.exit(1);
}
console.log(`${s.name} (${s.kernel}): leaves the same memory and counters as every built-in strategy`);
