// Capture of real processes and the live ksmd against the prediction (root, KSM, a C compiler).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCompiler, oracleAvailability } from '@mmsim/scenario/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureSnapshot, SnapshotError } from '../src/capture.ts';
import { PAGE, readSnapshot } from '../src/format.ts';
import { restoreSnapshot } from '../src/restore.ts';
import { KsmSession } from '../src/session.ts';
import { verifyAgainstLive } from '../src/verify.ts';
import { tmpFile } from './helpers.ts';

const avail = oracleAvailability();
const cc = findCompiler();
const skipReason = !avail.available ? avail.reason : cc === undefined ? 'no C compiler' : '';
const WORKLOAD_MIB = 4;
const SCANS = [1, 2, 3];
const LIVE_TIMEOUT_MS = 180_000;

let pagesBinary = '';

function state(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
}

function startPages(mib: number): Promise<ChildProcess> {
  const child = spawn(pagesBinary, [String(mib)], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    child.stdout?.once('data', () => res(child));
    child.once('exit', (c) => rej(new Error(`pages exited with ${c}`)));
  });
}

/** The python3 interpreter itself (a shim such as pyenv's would fork merge-enabled helpers). */
function python(): string | null {
  try {
    return execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

describe.skipIf(skipReason !== '')(
  `snapshots of live processes${skipReason === '' ? '' : ` (skipped: ${skipReason})`}`,
  () => {
    beforeAll(() => {
      pagesBinary = tmpFile('pages');
      execFileSync(cc as string, [
        '-O2',
        '-o',
        pagesBinary,
        join(import.meta.dirname, 'fixtures', 'pages.c'),
      ]);
    });
    const children: ChildProcess[] = [];
    afterAll(() => {
      for (const c of children) c.kill('SIGKILL');
    });

    it('captures a process: its pages, the zero page, distinct contents; resumes it', async () => {
      const child = await startPages(WORKLOAD_MIB);
      children.push(child);
      const pid = child.pid as number;
      const file = tmpFile('c.snap');
      const st = captureSnapshot([pid], file);
      expect(state(pid)).not.toBe('T');
      const snap = readSnapshot(file);
      const big = snap.meta.processes[0].vmas.find((v) => v.end - v.start === WORKLOAD_MIB * 2 ** 20);
      expect(big).toBeDefined();
      const n = WORKLOAD_MIB * 256;
      const flags = snap.pageFlags.subarray(big!.firstPage, big!.firstPage + n);
      expect(flags.every((f) => (f & (PAGE.PRESENT | PAGE.ANON)) === (PAGE.PRESENT | PAGE.ANON))).toBe(true);
      const zeroMapping = snap.meta.processes[0].vmas.find(
        (v) => v.end - v.start === 64 * 4096 && v.prot === 1,
      );
      expect(zeroMapping).toBeDefined();
      expect(snap.pageFlags[zeroMapping!.firstPage] & PAGE.ZERO).toBe(PAGE.ZERO);
      // zero-filled, 0x5a, seven repeating and n/4 unique contents at least
      expect(st.contents).toBeGreaterThanOrEqual(1 + 1 + 7 + n / 4);
      // the MADV_HUGEPAGE region's two PMD-mapped THPs (none where THP is off)
      const thpOn = !readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1').includes(
        '[never]',
      );
      const heads = snap.pageFlags.filter((f) => (f & PAGE.PMD_MAPPED) !== 0).length;
      expect(heads).toBe(thpOn ? 2 : 0);
      expect(snap.bytes).toBeNull();
    });

    it('--keep-stopped leaves the process stopped; a failure after stopping resumes it', async () => {
      const child = await startPages(1);
      children.push(child);
      const pid = child.pid as number;
      captureSnapshot([pid], tmpFile('k.snap'), { keepStopped: true });
      expect(state(pid)).toBe('T');
      process.kill(pid, 'SIGCONT');
      expect(() => captureSnapshot([pid], '/nonexistent-dir/x.snap')).toThrow();
      expect(state(pid)).not.toBe('T');
    });

    it('refuses a kernel thread, a missing process and itself in one line', () => {
      expect(() => captureSnapshot([2], tmpFile('x.snap'))).toThrow(/kernel thread/);
      expect(() => captureSnapshot([2 ** 22 + 7], tmpFile('x.snap'))).toThrow(/no such process/);
      expect(() => captureSnapshot([process.pid], tmpFile('x.snap'))).toThrow(SnapshotError);
    });

    const workloads: [string, () => string[] | null][] = [
      [
        'a C program with zero, identical and unique pages and THPs',
        () => [pagesBinary, String(WORKLOAD_MIB)],
      ],
      [
        'Node.js programs',
        () => [process.execPath, '-e', "require('http'); require('zlib'); setInterval(() => {}, 1e6)"],
      ],
      [
        'Python interpreters with standard modules loaded',
        () => {
          const py = python();
          return py === null
            ? null
            : [py, '-c', 'import json, re, collections, decimal, time; time.sleep(1e6)'];
        },
      ],
    ];
    for (const [what, argv] of workloads) {
      it(
        `3 copies of ${what}: the live ksmd equals the prediction after 1, 2 and 3 full scans`,
        async (ctx) => {
          const cmd = argv();
          if (cmd === null) return ctx.skip('python3 not installed');
          const file = tmpFile('w.snap');
          const session = await KsmSession.open();
          let steps: Awaited<ReturnType<typeof verifyAgainstLive>>;
          try {
            const pids = await session.launch(3, cmd);
            await new Promise((r) => setTimeout(r, 2000));
            captureSnapshot(pids, file, { keepStopped: true });
            steps = await verifyAgainstLive(restoreSnapshot(readSnapshot(file), file), session, SCANS);
          } finally {
            await session.close();
          }
          expect(steps.map((s) => s.fullScans)).toEqual(SCANS);
          for (const s of steps) expect(s.diffs, `after ${s.fullScans} full scans`).toEqual([]);
          // something was merged, and the live counters are those predicted
          expect(steps[2].live.ksm.pages_sharing).toBeGreaterThan(0);
          expect(steps[2].live.ksm.pages_sharing).toBe(steps[2].predicted.ksm.pages_sharing);
        },
        LIVE_TIMEOUT_MS,
      );
    }
  },
);
