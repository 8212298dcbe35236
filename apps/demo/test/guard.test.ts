// The host guard through the real command: inputs that would take the host (or crash V8) end in
// one line on stderr and exit 2, before any work.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHostBudget, MAX_YAML_CHARS } from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { checkTourFits } from '../src/commands/demo.ts';
import { TOUR_HOST_BASE_BYTES, TOUR_HOST_BYTES_PER_PAGE } from '../src/tour.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const cli = join(root, 'apps', 'demo', 'src', 'cli.ts');
const mmsim = (...args: string[]) =>
  spawnSync(process.execPath, ['--conditions=@mmsim/source', '--import', 'tsx', cli, ...args], {
    cwd: root,
    encoding: 'utf8',
  });
const dir = mkdtempSync(join(tmpdir(), 'mmsim-guard-'));
const file = (name: string, text: string): string => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};

/** Exit 2, nothing on stdout, one line on stderr; returns the line. */
function refused(r: ReturnType<typeof mmsim>): string {
  expect(r.status).toBe(2);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0]!;
}

const BIG = 268435456;
const head = `name: big\nsteps:\n  - {op: spawn, proc: a}\n  - {op: mmap, proc: a, region: r, pages: ${BIG}}\n`;

describe('the host guard', () => {
  it('a scenario touching 268435456 pages is refused with the numbers', () => {
    const line = refused(mmsim('run', file('touch.yaml', `${head}  - {op: touch, proc: a, region: r}\n`)));
    expect(line).toMatch(
      /^mmsim: refusing to run: the scenario needs up to \d+ MiB of host memory \(268435456 pages populated, 1048576 frames on a 4096 MiB machine: \d+ MiB of struct pages \(\d+ B\/frame\) \+ \d+ MiB of contents \(4096 B\/page\)\); the limit is \d+ MiB \(3\/4 of \d+ MiB available minus a 512 MiB margin\)$/,
    );
  });

  it('a scenario filling 268435456 pages is refused (trace too)', () => {
    const f = file(
      'fill.yaml',
      `${head}  - {op: fill, proc: a, region: r, pattern: {kind: byte, value: 1}}\n`,
    );
    expect(refused(mmsim('run', f))).toMatch(/^mmsim: refusing to run: the scenario needs up to/);
    expect(refused(mmsim('trace', f))).toMatch(/^mmsim: refusing to run: the scenario needs up to/);
  });

  it('a report of 268435456 mapped pages is refused: sharing labels are bounded', () => {
    const line = refused(mmsim('run', file('report.yaml', `${head}  - {op: report, label: x}\n`)));
    expect(line).toBe(
      'mmsim: refusing to run: 1 reports of up to 268435456 mapped pages would hold more than 33554432 sharing labels',
    );
  });

  it('a machine beyond what the simulator addresses is refused', () => {
    const f = file(
      'huge.yaml',
      'name: huge\nmachine: {memory_mib: 1000000000}\nsteps:\n  - {op: spawn, proc: a}\n',
    );
    expect(refused(mmsim('run', f))).toBe(
      'mmsim: refusing to run: a machine of 1000000000 MiB; the simulator holds at most 8388608 MiB (2^31 frames)',
    );
  });

  it('YAML above the documented size is refused; --memory-mib is checked', () => {
    const f = file('big.yaml', `name: t\nsteps: []\n${'#'.repeat(MAX_YAML_CHARS)}\n`);
    expect(refused(mmsim('run', f))).toMatch(
      new RegExp(`^mmsim: .*big\\.yaml: \\$: expected YAML of at most ${MAX_YAML_CHARS} characters`),
    );
    expect(refused(mmsim('run', join(root, 'scenarios', 'tour.yaml'), '--memory-mib', '9999999999'))).toMatch(
      /^mmsim: --memory-mib: expected an integer from 4 to 8388608/,
    );
  });

  it('the tour guard: demo --size 1048576 needs about 2.3 GiB; a host with less is refused with the numbers', () => {
    const need = Math.ceil((TOUR_HOST_BASE_BYTES + 1048576 * TOUR_HOST_BYTES_PER_PAGE) / 2 ** 20);
    expect(need).toBe(2304);
    const host = (memoryMiB: number) => ({ memoryMiB, swapMiB: 0, heapMiB: 4096 });
    // hostBudgetMiB(): 3/4 of what is available beyond a 512 MiB margin.
    expect(() => checkTourFits(1048576, host(3584))).not.toThrow();
    expect(() => checkTourFits(1048576, host(3583))).toThrow(
      'refusing to run: demo --size 1048576 needs up to 2304 MiB of host memory (2 KiB per page of --size, measured); the limit is 2303 MiB (3/4 of 3583 MiB available minus a 512 MiB margin)',
    );
  });

  it('demo --size 1048576 is refused in one line, exit 2, where the host cannot hold it', (ctx) => {
    const need = TOUR_HOST_BASE_BYTES + 1048576 * TOUR_HOST_BYTES_PER_PAGE;
    let fits = true;
    try {
      checkHostBudget('demo', need, hostMemory(), '');
    } catch {
      fits = false;
    }
    if (fits)
      ctx.skip(`this host holds ${Math.ceil(need / 2 ** 20)} MiB: the demo would run, not be refused`);
    expect(refused(mmsim('demo', '--size', '1048576'))).toMatch(
      /^mmsim: refusing to run: demo --size 1048576 needs up to 2304 MiB of host memory \(2 KiB per page of --size, measured\); the limit is \d+ MiB/,
    );
  });
});
