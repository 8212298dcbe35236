// Child process entry: run one benchmark variant once and write its RunResult as JSON to the
// file the parent named. Spawned by runner.ts; not meant to be run by hand.

import { writeFileSync } from 'node:fs';
import { HostMemoryError } from '@mmsim/scenario';
import { Command } from 'commander';
import { createContext } from './context.ts';
import { loadBenchmark } from './load.ts';

const program = new Command('bench-child')
  .requiredOption('--module <url>', 'benchmark module URL')
  .requiredOption('--variant <id>', 'variant to run')
  .requiredOption('--rep <n>', 'repetition number', (v) => Number.parseInt(v, 10))
  .requiredOption('--result <file>', 'where to write the RunResult JSON')
  .option('--quick', 'quick mode', false)
  .option('--sim-only', 'skip the live kernel side', false)
  .option('--cpu-prof-dir <dir>', 'write a CPU profile of every timed region into dir')
  .parse();

const o = program.opts<{
  module: string;
  variant: string;
  rep: number;
  result: string;
  quick: boolean;
  simOnly: boolean;
  cpuProfDir?: string;
}>();
const bench = await loadBenchmark(o.module);
const profile =
  o.cpuProfDir === undefined
    ? undefined
    : { dir: o.cpuProfDir, prefix: `${bench.name}.${o.variant}.rep${o.rep}` };
try {
  const result = await bench.run(createContext(o.variant, o.rep, o.quick, o.simOnly, profile));
  writeFileSync(o.result, JSON.stringify(result));
} catch (e) {
  // The host guard refused the variant before it started: one line, exit 2, as the apps do.
  if (!(e instanceof HostMemoryError)) throw e;
  process.stderr.write(`bench: ${bench.name} ${o.variant}: ${e.message}\n`);
  process.exitCode = e.exitCode;
}
