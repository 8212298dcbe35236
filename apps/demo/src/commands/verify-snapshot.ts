// mmsim verify --snapshot FILE --full-scans N: the live ksmd over a snapshot's very processes
// (kept stopped) against the prediction, count by count; with a command after --, the processes
// are started (merge-enabled copies), snapshotted into FILE and verified in one lock hold.

import { readFileSync } from 'node:fs';
import {
  captureSnapshot,
  KsmSession,
  PAGE,
  readSnapshot,
  restoreSnapshot,
  type Snapshot,
  SnapshotError,
  type VerifyStep,
  verifyAgainstLive,
} from '@mmsim/snapshot/node';
import { intOption } from '../command.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { launchCopies, MAX_COPIES, MAX_SETTLE_SECONDS, parseFullScans } from './snapshot.ts';

export interface VerifySnapshotOptions {
  fullScans?: string;
  copies?: string;
  settle?: string;
  withContents?: boolean;
  json?: boolean;
}

function stateOf(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return '';
  }
}

/** The snapshot's pids, each still there and stopped (the live ksmd must see the very pages the
 * snapshot holds), or a SnapshotError naming the first that is not. */
export function stoppedPids(snap: Snapshot, file: string): number[] {
  const pids = snap.meta.processes.map((p) => p.pid);
  for (const pid of pids) {
    const st = stateOf(pid);
    if (st === '') throw new SnapshotError(`pid ${pid} of ${file} no longer exists`);
    if (st !== 'T' && st !== 't')
      throw new SnapshotError(`pid ${pid} of ${file} is not stopped (take the snapshot with --keep-stopped)`);
  }
  return pids;
}

export async function verifySnapshotCommand(
  io: Io,
  file: string,
  command: string[],
  o: VerifySnapshotOptions,
): Promise<number> {
  if (o.fullScans === undefined) throw new UsageError('--snapshot needs --full-scans N');
  const scans = parseFullScans(o.fullScans);
  let steps: VerifyStep[];
  if (command.length > 0) {
    const copies = intOption('--copies', o.copies ?? '1', 1, MAX_COPIES);
    const settle = intOption('--settle', o.settle ?? '2', 0, MAX_SETTLE_SECONDS);
    const session = await KsmSession.open();
    try {
      const pids = await launchCopies(session, command, copies, settle);
      captureSnapshot(pids, file, { withContents: o.withContents === true, keepStopped: true });
      const ctx = restoreSnapshot(readSnapshot(file), file);
      steps = await verifyAgainstLive(ctx, session, scans);
    } finally {
      await session.close();
    }
  } else {
    if (o.copies !== undefined || o.settle !== undefined)
      throw new UsageError('--copies and --settle need a command after --');
    const snap = readSnapshot(file);
    const pids = stoppedPids(snap, file);
    const ctx = restoreSnapshot(snap, file);
    // processes with merged pages: ksmd's state is kept (restore rebuilt it as ksmd left it)
    const merged = snap.pageFlags.some((f) => (f & PAGE.KSM) !== 0);
    const session = await KsmSession.open(pids, undefined, merged);
    try {
      steps = await verifyAgainstLive(ctx, session, scans);
    } finally {
      await session.close();
    }
  }
  const equal = steps.every((s) => s.diffs.length === 0);
  if (o.json === true) printJson(io, { snapshot: file, equal, steps });
  else {
    const c = io.colors;
    for (const s of steps) {
      const k = s.predicted.ksm;
      const what = `pages_shared ${k.pages_shared}, pages_sharing ${k.pages_sharing}, pages_unshared ${k.pages_unshared}, pages_volatile ${k.pages_volatile}`;
      io.out(
        `${file}: after ${s.fullScans} full scans: ${s.diffs.length === 0 ? c.green('match') : c.red('MISMATCH')} (${what})\n`,
      );
      for (const d of s.diffs) io.out(`  ${d}\n`);
    }
  }
  return equal ? 0 : 1;
}
