// Capture of real processes and the live ksmd against the prediction (root, KSM, a C compiler).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findCompiler, oracleAvailability } from '@mmsim/scenario/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureSnapshot, SnapshotError } from '../src/capture.ts';
import { PAGE, readSnapshot } from '../src/format.ts';
import { predictFullScans } from '../src/predict.ts';
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
let forkerBinary = '';
/** Children the forker workload forks; full scans before its snapshot (merged pages, settled). */
const FORKED = 2;
const PRE_MERGE_SCANS = 2;
const CHILD_WAIT_MS = 10_000;

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

/** The `count` children of pid, once they all exist (from /proc/PID/stat's ppid). */
async function childrenOf(pid: number, count: number): Promise<number[]> {
  const t0 = Date.now();
  for (;;) {
    const kids: number[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const s = readFileSync(`/proc/${e}/stat`, 'latin1');
        if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]) === pid) kids.push(Number(e));
      } catch {
        // it exited
      }
    }
    // each child has written its pages once it sleeps
    if (kids.length === count && kids.every((k) => state(k) === 'S')) return kids.sort((a, b) => a - b);
    if (Date.now() - t0 > CHILD_WAIT_MS) throw new Error(`pid ${pid}: ${kids.length} of ${count} children`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGUSR1 to a forker child: it writes its late pages (its RssAnon grows). */
async function lateWrite(pid: number): Promise<void> {
  const rss = (): string => /RssAnon:\s*(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))?.[1] ?? '';
  const n = rss();
  process.kill(pid, 'SIGUSR1');
  const t0 = Date.now();
  while (rss() === n || state(pid) !== 'S') {
    if (Date.now() - t0 > CHILD_WAIT_MS) throw new Error(`pid ${pid} did not write its late pages`);
    await new Promise((r) => setTimeout(r, 20));
  }
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
      forkerBinary = tmpFile('forker');
      execFileSync(cc as string, [
        '-O2',
        '-o',
        forkerBinary,
        join(import.meta.dirname, 'fixtures', 'forker.c'),
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

    it(
      'processes that forked after filling memory and have merged pages: restored as the kernel holds them, equal after 1, 2 and 3 full scans',
      async () => {
        const file = tmpFile('f.snap');
        const session = await KsmSession.open();
        let steps: Awaited<ReturnType<typeof verifyAgainstLive>>;
        let before: Awaited<ReturnType<KsmSession['read']>>;
        let ctx: ReturnType<typeof restoreSnapshot>;
        let restored: ReturnType<typeof predictFullScans>;
        try {
          // the kernel's per-page smart-scan ages are not in a snapshot: without them, no skips
          await session.knob('smart_scan', '0');
          // chains are pruned at every lookup: the default 2000 ms is wall-clock time on the kernel,
          // which a loaded machine's scans outlast or not, and virtual time in the restored model
          await session.knob('stable_node_chains_prune_millisecs', '0');
          const [parent] = await session.launch(1, [forkerBinary, String(WORKLOAD_MIB), String(FORKED)]);
          const kids = await childrenOf(parent, FORKED);
          for (const k of kids) await session.adopt(k);
          await session.scan(PRE_MERGE_SCANS);
          // pages written after ksmd merged: one scan records their checksums, the next merges them
          for (const k of kids) await lateWrite(k);
          await session.scan(1);
          before = await session.read();
          captureSnapshot([parent, ...kids], file, { keepStopped: true });
          ctx = restoreSnapshot(readSnapshot(file), file);
          restored = predictFullScans(ctx, 0, ctx.start);
          steps = await verifyAgainstLive(ctx, session, SCANS);
        } finally {
          await session.close();
        }
        const snap = ctx.snapshot;
        expect(snap.pageFlags.some((f) => (f & PAGE.KSM) !== 0)).toBe(true);
        // fork sharing came back as fork sharing, KSM pages as KSM pages
        expect(ctx.skipped.ksmUnmerged).toBe(0);
        const big = snap.meta.processes[0].vmas.find((v) => v.end - v.start === WORKLOAD_MIB * 2 ** 20)!;
        const [p0, ...kids] = [...ctx.procs.values()];
        const root = p0.mm.find_vma(big.start)!.anon_vma!.root;
        for (const k of kids) expect(k.mm.find_vma(big.start)!.anon_vma!.root).toBe(root);
        expect(ctx.start.full_scans).toBeGreaterThan(0);
        // the merged pages as the kernel holds them (the unstable tree is rebuilt by the next scan)
        for (const k of ['pages_shared', 'pages_sharing', 'stable_node_chains', 'stable_node_dups'] as const)
          expect(restored.ksm[k], k).toBe(before.ksm[k]);
        for (const [pid, p] of Object.entries(restored.procs))
          expect(p.ksm_merging_pages, pid).toBe(before.procs[pid].ksm_merging_pages);
        for (const s of steps) expect(s.diffs, `after ${s.fullScans} full scans`).toEqual([]);
        // the late pages merge in the first scan after the snapshot, as the kernel's did
        expect(steps[0].live.ksm.pages_sharing).toBeGreaterThan(before.ksm.pages_sharing);
      },
      LIVE_TIMEOUT_MS,
    );
  },
);
