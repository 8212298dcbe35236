// mmsim snapshot: running processes into a snapshot file (@mmsim/snapshot); mmsim predict: what
// ksmd will do to them after N full scans, on the simulator.

import { basename } from 'node:path';
import type { Report } from '@mmsim/scenario';
import {
  captureSnapshot,
  KsmSession,
  predictFullScans,
  readSnapshot,
  restoreSnapshot,
} from '@mmsim/snapshot/node';
import type { Command } from 'commander';
import { examples, intOption, type Runner } from '../command.ts';
import { formatReport } from '../format.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { predictCommand as predictForCommand } from './predict.ts';

/** Largest --copies, --settle and --full-scans. */
export const MAX_COPIES = 64;
export const MAX_SETTLE_SECONDS = 600;
const MAX_FULL_SCANS = 1000;
const MS = 1000;

interface SnapshotOptions {
  pid?: string;
  output: string;
  copies?: string;
  settle?: string;
  withContents?: boolean;
  keepStopped?: boolean;
}

/** --pid 12,34: the pids, or a UsageError. */
export function parsePids(s: string): number[] {
  const parts = s.split(',');
  if (!parts.every((p) => /^\d+$/.test(p)))
    throw new UsageError(`--pid: expected PID[,PID...], found "${s}"`);
  return parts.map(Number);
}

/** --full-scans 3 or 1,2,3 (increasing counts). */
export function parseFullScans(s: string): number[] {
  const list = s.split(',').map((p) => intOption('--full-scans', p, 1, MAX_FULL_SCANS));
  for (let i = 1; i < list.length; i++)
    if (list[i] <= list[i - 1]) throw new UsageError(`--full-scans: counts must increase, found "${s}"`);
  return list;
}

/** --knob name=value, repeatable. */
function collectKnob(v: string, prev: Record<string, string>): Record<string, string> {
  const m = /^([a-z_]+)=(.+)$/.exec(v);
  if (m === null) throw new UsageError(`--knob: expected name=value, found "${v}"`);
  return { ...prev, [m[1]]: m[2] };
}

const sleep = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** Starts `copies` merge-enabled copies of argv under a live-ksmd session and waits `settle` s. */
export async function launchCopies(
  session: KsmSession,
  argv: string[],
  copies: number,
  settleSeconds: number,
): Promise<number[]> {
  const pids = await session.launch(copies, argv);
  await sleep(settleSeconds * MS);
  return pids;
}

async function snapshotCommand(io: Io, args: string[], o: SnapshotOptions): Promise<number> {
  const withContents = o.withContents === true;
  if (o.pid !== undefined) {
    if (args.length > 0) throw new UsageError('give either --pid or a command after --, not both');
    const st = captureSnapshot(parsePids(o.pid), o.output, {
      withContents,
      keepStopped: o.keepStopped === true,
    });
    io.out(
      `${o.output}: ${st.pages} pages, ${st.contents} distinct contents, ${(st.bytesRead / 2 ** 20).toFixed(1)} MiB read in ${st.ms} ms\n`,
    );
    return 0;
  }
  if (args.length === 0)
    throw new UsageError(
      'give --pid PID[,PID...] or a command after -- (mmsim snapshot -o FILE -- CMD ARGS...)',
    );
  if (o.keepStopped === true)
    throw new UsageError('--keep-stopped needs --pid: the copies of a command are killed after the snapshot');
  const copies = intOption('--copies', o.copies ?? '1', 1, MAX_COPIES);
  const settle = intOption('--settle', o.settle ?? '2', 0, MAX_SETTLE_SECONDS);
  const session = await KsmSession.open();
  try {
    const pids = await launchCopies(session, args, copies, settle);
    const st = captureSnapshot(pids, o.output, { withContents });
    io.out(
      `${o.output}: ${copies} copies of ${args[0]} (pids ${pids.join(',')}): ${st.pages} pages, ${st.contents} distinct contents in ${st.ms} ms\n`,
    );
  } finally {
    await session.close();
  }
  return 0;
}

interface PredictOptions {
  fullScans?: string;
  ksmdCpu?: string;
  json?: boolean;
  knob?: Record<string, string>;
  for?: string;
  advisor?: string;
  every?: string;
  model?: string;
  svg?: string;
  progress?: boolean;
}

function predictCommand(io: Io, file: string, o: PredictOptions & { fullScans: string }): number {
  const scans = parseFullScans(o.fullScans);
  const snap = readSnapshot(file);
  const ctx = restoreSnapshot(snap, file, { knobs: o.knob ?? {} });
  const report: Report = {
    scenario: basename(file),
    engine: 'simulator',
    reports: [],
    ok: true,
    failures: [],
  };
  let done = 0;
  for (const n of scans) {
    report.reports.push(predictFullScans(ctx, n - done, ctx.start, `after ${n} full scans`));
    done = n;
  }
  if (o.json === true) printJson(io, report);
  else io.out(`${formatReport(report, io.colors)}\n`);
  return 0;
}

export function defineSnapshot(program: Command, r: Runner): void {
  program
    .command('snapshot')
    .argument('[command...]', 'with -- : a command to start (N copies, KSM enabled before exec) and snapshot')
    .description(
      'snapshot running processes (root): VMAs, page states, sharing, THP layout and per-content digests and checksums into FILE',
    )
    .requiredOption('-o, --output <file>', 'the snapshot file to write')
    .option('--pid <pids>', 'the processes: PID[,PID...] (stopped while read, then resumed)')
    .option('--copies <n>', 'with a command: how many copies to start (default 1)')
    .option('--settle <seconds>', 'with a command: wait this long before the snapshot (default 2)')
    .option('--with-contents', 'store each distinct page once, compressed (needed to restore writes exactly)')
    .option('--keep-stopped', 'leave the processes stopped (for mmsim verify --snapshot)')
    .addHelpText(
      'after',
      examples([
        ['sudo mmsim snapshot --pid 1234,1240 -o app.snap', 'two running processes, digests only'],
        [
          'sudo mmsim snapshot -o py.snap --copies 4 --settle 3 -- python3 -c "import json; input()"',
          '4 copies with PR_SET_MEMORY_MERGE',
        ],
        [
          'sudo mmsim snapshot --pid 1234 --keep-stopped --with-contents -o a.snap',
          'then mmsim verify --snapshot a.snap',
        ],
      ]),
    )
    .action(async (args: string[], o: SnapshotOptions) => {
      r.code = await snapshotCommand(r.io, args, o);
    });
  program
    .command('predict')
    .argument('<file>', 'a snapshot file (mmsim snapshot), or with --for also a scenario file')
    .description(
      "what ksmd will do to a snapshot's processes: the report after exactly N full scans (--full-scans), or over wall time (--for: a timeline of the KSM counters and ksmd's CPU time from a cost model calibrated on a real kernel, the time to 50/90/99% of the final saving, the profit per process)",
    )
    .option('--full-scans <n>', 'full scans: N, or increasing counts N1,N2,... (a report after each)')
    .option('--for <duration>', 'ksmd over wall time for that long: 90s, 30m, 1h')
    .option('--advisor <mode>', 'with --for: scan-time lets the scan-time advisor set pages_to_scan')
    .option('--every <duration>', 'with --for: sampling interval of the timeline (default 1s)')
    .option('--model <file>', 'with --for: the ksmd cost model (default the calibrated one)')
    .option(
      '--ksmd-cpu <duration>',
      "with --for: ksmd's CPU time before it starts (its runtime since boot, /proc/<ksmd>/schedstat; default 0): the scan-time advisor's first decision divides it by the first scan's time",
    )
    .option('--svg <file>', 'with --for: write a chart of the timeline (SVG)')
    .option('--no-progress', 'with --for: no progress bar (it is drawn on a terminal only)')
    .option(
      '--knob <name=value>',
      "a KSM knob instead of the snapshot machine's (repeatable)",
      collectKnob,
      {},
    )
    .option('--json', 'print the report as JSON (the shape of mmsim run --json, processes by pid)')
    .addHelpText(
      'after',
      examples([
        ['mmsim predict app.snap --full-scans 2 --json', 'counters, ksm_stat and smaps per pid'],
        [
          'mmsim predict app.snap --full-scans 1,2,3 --knob use_zero_pages=1',
          'three reports, zero pages merged',
        ],
        [
          'mmsim predict app.snap --for 30m --svg app.svg',
          "ksmd over half an hour at the snapshot machine's knobs",
        ],
      ]),
    )
    .action(async (file: string, o: PredictOptions) => {
      if (o.for !== undefined) {
        if (o.fullScans !== undefined) throw new UsageError('--for and --full-scans: one or the other');
        const knob = Object.entries(o.knob ?? {}).map(([k, v]) => `${k}=${v}`);
        r.code = await predictForCommand(r.io, file, { ...o, knob });
        return;
      }
      if (o.fullScans === undefined) throw new UsageError('predict needs --full-scans N or --for DURATION');
      r.code = predictCommand(r.io, file, { ...o, fullScans: o.fullScans });
    });
}
