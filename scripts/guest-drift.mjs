#!/usr/bin/env node
// Drift check of a guest kernel: the reports of one `mmsim kernel --kernel K --json` batch against
// the answers recorded for K (scenarios/expected/<K>/NAME.json). Equal reports mean the kernel
// still answers what the offline tests compare the simulator with (apps/demo/test/guest-recorded
// .test.ts); a difference is drift (a different kernel, or a scenario changed without recording).
//
//   pnpm --silent mmsim kernel --kernel 6.1 --json --no-progress scenarios/*.yaml > out.json
//   node scripts/guest-drift.mjs 6.1 out.json
//
// Exit 0 when every recorded scenario is equal, 1 on drift; a scenario without a recording (one
// the kernel refuses, such as smart_scan on 6.1) is counted and skipped.

import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

const [kernel, file] = process.argv.slice(2);
if (kernel === undefined || file === undefined) {
  process.stderr.write('usage: node scripts/guest-drift.mjs KERNEL BATCH.json\n');
  process.exit(2);
}
const batch = JSON.parse(readFileSync(file, 'utf8'));
let equal = 0;
let unrecorded = 0;
const drift = [];
for (const { file: scenario, report } of batch.results) {
  const recorded = join(
    dirname(scenario),
    'expected',
    kernel,
    `${basename(scenario).replace(/\.(ya?ml|json)$/, '')}.json`,
  );
  if (!existsSync(recorded)) {
    unrecorded++;
    continue;
  }
  if (isDeepStrictEqual(JSON.parse(readFileSync(recorded, 'utf8')).report, report)) equal++;
  else drift.push(basename(scenario));
}
const bootS = (batch.bootMs / 1000).toFixed(1);
process.stdout.write(
  `guest kernel ${kernel} (Linux ${batch.release}, booted in ${bootS} s): ${equal} scenarios equal their recordings` +
    `${unrecorded > 0 ? `, ${unrecorded} not recorded` : ''}${drift.length > 0 ? `, DRIFT in ${drift.join(', ')}` : ''}\n`,
);
process.exit(drift.length > 0 ? 1 : 0);
