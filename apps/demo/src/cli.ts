#!/usr/bin/env node

// The mmsim command. User mistakes (bad files, bad flags) get one line and exit code 2.

import {
  compareReports,
  formatReportDiff,
  loadScenario,
  oracleAvailability,
  type Report,
  runOnKernel,
  runOnSimulator,
  ScenarioError,
} from '@mmsim/scenario';
import { Command, CommanderError } from 'commander';
import { runTour } from './tour.ts';

function fail(message: string): never {
  process.stderr.write(`mmsim: ${message}\n`);
  process.exit(2);
}

function printReport(r: Report, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  process.stdout.write(`scenario ${r.scenario} on the ${r.engine}: ${r.ok ? 'ok' : 'FAILED'}\n`);
  for (const e of r.reports) {
    process.stdout.write(`\n[${e.label}]\n`);
    const rows = Object.entries(e.ksm).map(([k, v]) => `  ${k.padEnd(20)} ${v}`);
    process.stdout.write(`${rows.join('\n')}\n`);
    for (const [p, pr] of Object.entries(e.procs)) {
      process.stdout.write(
        `  ${p}: rmap_items ${pr.ksm_rmap_items}, merging ${pr.ksm_merging_pages}, zero ${pr.ksm_zero_pages}, profit ${pr.ksm_process_profit}, Rss ${pr.smaps.Rss} kB, KSM ${pr.smaps.KSM} kB\n`,
      );
    }
  }
  for (const f of r.failures) process.stdout.write(`step ${f.step} (${f.op}): ${f.message}\n`);
}

function load(file: string) {
  try {
    return loadScenario(file);
  } catch (e) {
    if (e instanceof ScenarioError) fail(e.message);
    throw e;
  }
}

const program = new Command();
program
  .name('mmsim')
  .description('A simulator of Linux memory management: page tables, faults, the page walker, GUP and KSM')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('demo', { isDefault: true })
  .description('the break_ksm() story on a live simulation')
  .option('--size <pages>', 'pages per process', '2048')
  .option('--json', 'print the data instead of prose')
  .action((o: { size: string; json?: boolean }) => {
    const size = Number(o.size);
    if (!Number.isInteger(size) || size < 16 || size > 1 << 20)
      fail(`--size: expected an integer from 16 to 1048576, found "${o.size}"`);
    runTour(size, o.json === true);
  });

program
  .command('run <file>')
  .description('run a scenario on the simulator (exit 1 when an expect fails)')
  .option('--json', 'print the report object')
  .option('--strategy <name>', 'break_ksm() strategy')
  .action((file: string, o: { json?: boolean; strategy?: string }) => {
    const r = runOnSimulator(load(file), o.strategy !== undefined ? { strategy: o.strategy } : {});
    printReport(r, o.json === true);
    process.exitCode = r.ok ? 0 : 1;
  });

program
  .command('kernel <file>')
  .description('run a scenario on the live kernel through the oracle')
  .option('--json', 'print the report object')
  .action(async (file: string, o: { json?: boolean }) => {
    const loaded = load(file);
    const av = oracleAvailability();
    if (!av.available) fail(`the live kernel is not available: ${av.reason}`);
    const r = await runOnKernel(loaded.scenario);
    printReport(r, o.json === true);
    process.exitCode = r.ok ? 0 : 1;
  });

program
  .command('verify <file>')
  .description('run on the simulator and the live kernel and compare every report')
  .option('--json', 'print the diff object')
  .action(async (file: string, o: { json?: boolean }) => {
    const loaded = load(file);
    const av = oracleAvailability();
    if (!av.available) fail(`the live kernel is not available: ${av.reason}`);
    const sim = runOnSimulator(loaded);
    const kern = await runOnKernel(loaded.scenario);
    const diff = compareReports(sim, kern);
    if (o.json === true) process.stdout.write(`${JSON.stringify(diff, null, 2)}\n`);
    else process.stdout.write(`${formatReportDiff(diff)}\n`);
    process.exitCode = diff.equal ? 0 : 1;
  });

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  throw e;
}
