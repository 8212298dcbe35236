// Guest kernels under QEMU: the initramfs, the report channel's framing, memory sizing,
// and (with root, QEMU and the installed kernels) scenarios on Debian's 6.1 and 6.12.

import type { Report } from '@mmsim/scenario';
import { loadScenario } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { cpioNewc } from '../src/guest/cpio.ts';
import { buildInitramfs, parseChannel, qemuArgs } from '../src/guest/qemu.ts';
import { GUEST_BASE_MIB, guestMemoryMiB, guestUnavailable } from '../src/guest/scenarios.ts';
import { mmsim, scenario, usageError } from './helpers.ts';

/** The entries of a newc archive: [name, mode, data]. */
function readCpio(buf: Buffer): [string, number, Buffer][] {
  const out: [string, number, Buffer][] = [];
  let at = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    expect(buf.subarray(at, at + 6).toString()).toBe('070701');
    const field = (i: number): number =>
      Number.parseInt(buf.subarray(at + 6 + 8 * i, at + 14 + 8 * i).toString(), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const name = buf.subarray(at + 110, at + 110 + nameSize - 1).toString();
    const dataAt = align(at + 110 + nameSize);
    if (name === 'TRAILER!!!') return out;
    out.push([name, mode, buf.subarray(dataAt, dataAt + size)]);
    at = align(dataAt + size);
  }
}

describe('initramfs', () => {
  it('is a newc archive with directories, files and modes, 4-byte aligned, ending in the trailer', () => {
    const a = cpioNewc([{ path: 'd' }, { path: 'd/x', data: Buffer.from('hello'), mode: 0o755 }]);
    expect(a.length % 4).toBe(0);
    expect(readCpio(a)).toEqual([
      ['d', 0o040755, Buffer.alloc(0)],
      ['d/x', 0o100755, Buffer.from('hello')],
    ]);
  });

  it('holds /init, the manifest with settings and jobs, and each job stdin', () => {
    const a = buildInitramfs({
      init: Buffer.from('INIT'),
      files: [{ path: 'mmsim/bin' }],
      settings: [['/sys/kernel/mm/transparent_hugepage/enabled', 'madvise']],
      jobs: [
        { name: 'a', argv: ['/mmsim/bin/x', '--y'], stdin: Buffer.from('in'), timeoutSeconds: 7 },
        { name: 'b', argv: ['/mmsim/bin/x'], timeoutSeconds: 9 },
      ],
    });
    const e = new Map(readCpio(a).map(([n, m, d]) => [n, { m, d: d.toString() }]));
    expect(e.get('init')).toEqual({ m: 0o100755, d: 'INIT' });
    expect(e.get('mmsim/manifest')?.d).toBe(
      'set /sys/kernel/mm/transparent_hugepage/enabled madvise\n' +
        'job a 7 /mmsim/stdin/0 /mmsim/bin/x --y\n' +
        'job b 9 - /mmsim/bin/x\n',
    );
    expect(e.get('mmsim/stdin/0')?.d).toBe('in');
    expect(e.has('mmsim/stdin/1')).toBe(false);
  });

  it('refuses a manifest token with a space', () => {
    expect(() =>
      buildInitramfs({
        init: Buffer.alloc(0),
        files: [],
        settings: [],
        jobs: [{ name: 'a b', argv: ['/x'], timeoutSeconds: 1 }],
      }),
    ).toThrow(/holds a space/);
  });
});

describe('report channel', () => {
  it('frames stdout and stderr by length, so binary output and fake markers pass through', () => {
    const tricky = Buffer.from('line\n@@mmsim-done\n\u0000\r\n', 'utf8');
    const buf = Buffer.concat([
      Buffer.from('@@mmsim-guest 6.1.0-57-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3\n'),
      Buffer.from('@@mmsim-job s0 begin\n'),
      Buffer.from(`@@mmsim-stdout ${tricky.length}\n`),
      tricky,
      Buffer.from('@@mmsim-stderr 3\nerr'),
      Buffer.from('@@mmsim-job s0 end 2 1234\n'),
      Buffer.from('@@mmsim-job s1 begin\n@@mmsim-stdout 0\n'),
    ]);
    const p = parseChannel(buf);
    expect(p.release).toBe('6.1.0-57-cloud-amd64');
    expect(p.version).toBe('#1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3');
    expect(p.complete).toBe(false);
    expect(p.jobs[0]).toEqual({
      name: 's0',
      status: '2',
      ms: 1234,
      stdout: tricky,
      stderr: Buffer.from('err'),
    });
    expect(p.jobs[1]?.status).toBe('lost');
  });

  it('says complete only after @@mmsim-done', () => {
    expect(parseChannel(Buffer.from('@@mmsim-guest r v\n@@mmsim-done\n')).complete).toBe(true);
  });
});

describe('QEMU command line', () => {
  const kernel = {
    name: '6.1',
    package: 'p',
    version: 'v',
    release: 'r',
    vmlinuz: '/k/vmlinuz',
    config: '/k/config',
  };
  const args = qemuArgs({
    kernel,
    initrd: '/t/initrd',
    channel: '/t/channel',
    memoryMiB: 1088,
    accel: 'tcg',
  });
  it('keeps guest RAM out of the host KSM (QEMU would madvise it MADV_MERGEABLE)', () => {
    expect(args[args.indexOf('-machine') + 1]).toMatch(/mem-merge=off/);
  });
  it('boots TCG on one CPU without cx16, the console on stdio and the channel on ttyS1', () => {
    expect(args.join(' ')).toContain(
      '-accel tcg -cpu max,cx16=off -smp 1 -m 1088 -kernel /k/vmlinuz -initrd /t/initrd',
    );
    expect(args.slice(-4)).toEqual(['-serial', 'stdio', '-serial', 'file:/t/channel']);
  });
});

describe('guest memory', () => {
  it('is the base plus twice the largest scenario, in 64 MiB steps', () => {
    const small = loadScenario(scenario('ksm-tests-merge.yaml'));
    const big = loadScenario(scenario('madv-collapse-ksm-fork.yaml')); // 2648 populated pages
    expect(guestMemoryMiB([small])).toBe(GUEST_BASE_MIB + 64);
    expect(guestMemoryMiB([small, big])).toBe(GUEST_BASE_MIB + 64);
    expect(guestMemoryMiB([big]) % 64).toBe(0);
  });
});

describe('mmsim kernel --kernel (usage)', () => {
  it('names the kernels it knows', async () => {
    const line = usageError(await mmsim(['kernel', '--kernel', '5.4', scenario('ksm-tests-merge.yaml')]));
    expect(line).toBe('mmsim: --kernel: expected one of 6.1, 6.12, 6.12.43, host, found "5.4"');
  });
  it('refuses --record for the live kernel', async () => {
    const line = usageError(await mmsim(['kernel', '--record', scenario('ksm-tests-merge.yaml')]));
    expect(line).toMatch(/--record: only with a guest --kernel/);
  });
});

const why61 = guestUnavailable('6.1');
const why612 = guestUnavailable('6.12');
if (why61 !== null) console.warn(`SKIPPED: Linux 6.1 guest tests: ${why61}`);
if (why612 !== null) console.warn(`SKIPPED: Linux 6.12 guest tests: ${why612}`);
const GUEST_TEST_TIMEOUT_MS = 600_000;

describe.skipIf(why61 !== null)(`Linux 6.1 under QEMU${why61 === null ? '' : ` (skipped: ${why61})`}`, () => {
  it(
    'merges ksm_tests -M on 6.1, whose sysfs has no ksm_zero_pages and whose prctl has no PR_SET_MEMORY_MERGE',
    async () => {
      const r = await mmsim([
        'kernel',
        '--kernel',
        '6.1',
        '--json',
        '--no-progress',
        scenario('ksm-tests-merge.yaml'),
        scenario('ksm-functional-prctl.yaml'),
      ]);
      const out = JSON.parse(r.out) as { release: string; results: { report: Report }[] };
      expect(out.release).toMatch(/^6\.1\.0-/);
      const merged = out.results[0]!.report;
      expect(merged.ok).toBe(true);
      expect(merged.reports[0]!.ksm).toEqual({
        full_scans: 2,
        pages_shared: 1,
        pages_sharing: 9,
        pages_unshared: 0,
        pages_volatile: 0,
        stable_node_chains: 0,
        stable_node_dups: 0,
      });
      expect(merged.reports[0]!.procs.a).toEqual({
        ksm_rmap_items: 10,
        ksm_merging_pages: 10,
        smaps: { Rss: 40, Anonymous: 40 },
      });
      const prctl = out.results[1]!.report;
      expect(prctl.failures[0]).toEqual({
        step: 1,
        op: 'prctl',
        message: 'failed with EINVAL (Invalid argument)',
      });
      expect(r.code).toBe(1);
    },
    GUEST_TEST_TIMEOUT_MS,
  );
});

describe.skipIf(why612 !== null)(
  `Linux 6.12 under QEMU${why612 === null ? '' : ` (skipped: ${why612})`}`,
  () => {
    it(
      'runs a batch in one boot; 6.12 has ksm_zero_pages and smart_scan',
      async () => {
        const r = await mmsim([
          'kernel',
          '--kernel',
          '6.12',
          '--json',
          '--no-progress',
          scenario('ksm-tests-merge.yaml'),
          scenario('ltp-ksm07-smart-scan.yaml'),
        ]);
        const out = JSON.parse(r.out) as { release: string; results: { report: Report }[] };
        expect(out.release).toMatch(/^6\.12\./);
        expect(out.results.map((x) => x.report.ok)).toEqual([true, true]);
        expect(out.results[0]!.report.reports[0]!.ksm.ksm_zero_pages).toBe(0);
        expect(r.code).toBe(0);
      },
      GUEST_TEST_TIMEOUT_MS,
    );
  },
);
