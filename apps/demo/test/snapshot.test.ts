// mmsim snapshot / predict / verify --snapshot: user mistakes are one line and exit 2; predict's
// report has run --json's shape.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mmsim, usageError } from './helpers.ts';

const isRoot = process.getuid?.() === 0;
const tmp = (name: string): string => join(mkdtempSync(join(tmpdir(), 'mmsim-snap-cli-')), name);

function state(pid: number): string {
  const s = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return s.slice(s.lastIndexOf(')') + 2, s.lastIndexOf(')') + 3);
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('mmsim snapshot: bad inputs', () => {
  it('without root: one line, exit 2', async () => {
    vi.spyOn(process, 'getuid').mockReturnValue(1000);
    expect(usageError(await mmsim(['snapshot', '--pid', '1', '-o', tmp('a.snap')]))).toMatch(/needs root/);
  });

  it('flags: no pid nor command, bad pid list, --keep-stopped with a command', async () => {
    expect(usageError(await mmsim(['snapshot', '-o', tmp('a.snap')]))).toMatch(/--pid/);
    expect(usageError(await mmsim(['snapshot', '--pid', '12,x', '-o', tmp('a.snap')]))).toMatch(/PID\[,PID/);
    expect(
      usageError(await mmsim(['snapshot', '--keep-stopped', '-o', tmp('a.snap'), '--', 'true'])),
    ).toMatch(/--keep-stopped needs --pid/);
  });

  it.skipIf(!isRoot)(
    `no such pid, a kernel thread, a zombie${isRoot ? '' : ' (skipped: not root)'}`,
    async () => {
      expect(
        usageError(await mmsim(['snapshot', '--pid', String(2 ** 22 + 11), '-o', tmp('a.snap')])),
      ).toMatch(/no such process/);
      expect(usageError(await mmsim(['snapshot', '--pid', '2', '-o', tmp('a.snap')]))).toMatch(
        /kernel thread/,
      );
      const z = spawn('true');
      await new Promise((r) => z.once('exit', r));
      // reaped by Node at once: gone, or still a zombie for an instant
      expect(usageError(await mmsim(['snapshot', '--pid', String(z.pid), '-o', tmp('a.snap')]))).toMatch(
        /no such process|zombie/,
      );
    },
  );

  it.skipIf(!isRoot)(
    `an unwritable output: one line, exit 2, the process resumed${isRoot ? '' : ' (skipped: not root)'}`,
    async () => {
      const child = spawn('sleep', ['30']);
      try {
        await new Promise((r) => setTimeout(r, 100));
        const r = await mmsim(['snapshot', '--pid', String(child.pid), '-o', '/nonexistent-dir/a.snap']);
        expect(r.code).toBe(2);
        expect(state(child.pid as number)).not.toBe('T');
      } finally {
        child.kill('SIGKILL');
      }
    },
  );
});

describe('mmsim predict and verify --snapshot: bad inputs', () => {
  it('bad files: missing, foreign, truncated: one line, exit 2', async () => {
    expect(usageError(await mmsim(['predict', tmp('none.snap'), '--full-scans', '1']))).toMatch(/ENOENT/);
    const f = tmp('foreign.snap');
    writeFileSync(f, 'hello');
    expect(usageError(await mmsim(['predict', f, '--full-scans', '1']))).toMatch(/not an mmsim snapshot/);
    writeFileSync(f, 'MMSIMSNP');
    expect(usageError(await mmsim(['predict', f, '--full-scans', '1']))).toMatch(/truncated/);
    expect(usageError(await mmsim(['verify', '--snapshot', f, '--full-scans', '1']))).toMatch(/truncated/);
  });

  it('flags: --full-scans missing, not increasing; --knob malformed', async () => {
    const f = tmp('x.snap');
    expect(usageError(await mmsim(['verify', '--snapshot', f]))).toMatch(/--full-scans/);
    expect(usageError(await mmsim(['predict', f, '--full-scans', '2,1']))).toMatch(/must increase/);
    expect(usageError(await mmsim(['predict', f, '--full-scans', '1', '--knob', 'x']))).toMatch(/name=value/);
  });
});

describe.skipIf(!isRoot)(`mmsim snapshot + predict${isRoot ? '' : ' (skipped: not root)'}`, () => {
  it('predict --json has run --json shape, keyed by pid', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)']);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const f = tmp('n.snap');
      const s = await mmsim(['snapshot', '--pid', String(child.pid), '-o', f]);
      expect(s.code, s.err).toBe(0);
      const r = await mmsim(['predict', f, '--full-scans', '1,2', '--json']);
      expect(r.code, r.err).toBe(0);
      const rep = JSON.parse(r.out);
      expect(rep.engine).toBe('simulator');
      expect(rep.reports.map((e: { label: string }) => e.label)).toEqual([
        'after 1 full scans',
        'after 2 full scans',
      ]);
      const p = rep.reports[1].procs[String(child.pid)];
      expect(p.smaps.Anonymous).toBeGreaterThan(0);
      // not merge-enabled: ksmd has nothing to scan
      expect(p.ksm_mergeable).toBe(false);
      expect(rep.reports[1].ksm.pages_sharing).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
