// The host guard: the fixed default machine, the estimate, and the refusals before a run.

import { PAGE_SIZE } from '@mmsim/core';
import { STRUCT_PAGE_BYTES } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  CONTENT_HOST_BYTES,
  checkHostFits,
  DEFAULT_MEMORY_MIB,
  estimateHostMemory,
  type HostMemory,
  HostMemoryError,
  hostBudgetMiB,
  KSM_HOST_BYTES_PER_PAGE,
  MAX_MEMORY_MIB,
  MAX_REPORT_LABELS,
  MAX_YAML_CHARS,
  parseScenario,
  runOnSimulator,
  ScenarioError,
  type SimulatorContext,
} from '../src/index.ts';
import { hostMemory, runOnKernel } from '../src/node.ts';

const MIB = 2 ** 20;
/** A host with 2 GiB available: a budget of (2048 - 512) * 3/4 = 1152 MiB. */
const SMALL_HOST: HostMemory = { memoryMiB: 2048, swapMiB: 0 };

const scenario = (steps: unknown[], machine?: unknown) =>
  parseScenario(
    JSON.stringify({ name: 't', ...(machine !== undefined ? { machine } : {}), steps }),
    't.json',
  );
const filled = (pages: number, reports = 0) =>
  scenario([
    { op: 'spawn', proc: 'a' },
    { op: 'mmap', proc: 'a', region: 'r', pages },
    { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'unique', seed: 1 } },
    ...Array.from({ length: reports }, (_, i) => ({ op: 'report', label: `r${i}` })),
  ]);

describe('the simulated machine', () => {
  it('is DEFAULT_MEMORY_MIB (4 GiB) whatever the host, unless the scenario or the flag sets it', () => {
    const frames = (memoryMiB: number | undefined, machine?: unknown): number => {
      let ctx: SimulatorContext | undefined;
      runOnSimulator(scenario([{ op: 'spawn', proc: 'a' }], machine), {
        host: hostMemory(),
        ...(memoryMiB !== undefined ? { memoryMiB } : {}),
        afterStep: (c) => {
          ctx = c;
        },
      });
      return ctx!.machine.phys.nrFrames;
    };
    expect(DEFAULT_MEMORY_MIB).toBe(4096);
    expect(frames(undefined)).toBe((DEFAULT_MEMORY_MIB * MIB) / PAGE_SIZE);
    expect(frames(64)).toBe((64 * MIB) / PAGE_SIZE);
    expect(frames(64, { memory_mib: 32 })).toBe((32 * MIB) / PAGE_SIZE);
  });
});

describe('estimateHostMemory', () => {
  it('counts struct pages of the (doubling) capacity, contents of every populated page and table, labels', () => {
    const e = estimateHostMemory(filled(1000, 2).plan, 2, 4096);
    // 1000 pages + 2 page-table pages per 512 populated pages.
    expect(e.frames).toBe(1004);
    expect(e.metadataBytes).toBe(1024 * STRUCT_PAGE_BYTES * 1.5);
    expect(e.contentBytes).toBe(1004 * PAGE_SIZE);
    expect(e.ksmBytes).toBe(0);
    expect(e.heapBytes).toBe(2 * 1000 * 8);
  });

  it('counts KSM metadata for every populated page once some step makes memory mergeable', () => {
    const merged = (advice: string) =>
      scenario([
        { op: 'spawn', proc: 'a' },
        { op: 'mmap', proc: 'a', region: 'r', pages: 1000 },
        { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'unique', seed: 1 } },
        { op: 'madvise', proc: 'a', region: 'r', advice },
      ]).plan;
    expect(KSM_HOST_BYTES_PER_PAGE).toBe(45 + 64);
    expect(estimateHostMemory(merged('MADV_MERGEABLE'), 0, 4096).ksmBytes).toBe(
      1000 * KSM_HOST_BYTES_PER_PAGE,
    );
    expect(estimateHostMemory(merged('MADV_DONTNEED'), 0, 4096).ksmBytes).toBe(0);
    const prctl = scenario([
      { op: 'spawn', proc: 'a' },
      { op: 'prctl', proc: 'a', option: 'PR_SET_MEMORY_MERGE', value: 1 },
      { op: 'mmap', proc: 'a', region: 'r', pages: 10 },
      { op: 'touch', proc: 'a', region: 'r' },
    ]).plan;
    expect(estimateHostMemory(prctl, 0, 4096).ksmBytes).toBe(10 * KSM_HOST_BYTES_PER_PAGE);
  });

  it("'simulator' contents: written pages and tables PAGE_SIZE, each fill content CONTENT_HOST_BYTES", () => {
    const plan = scenario([
      { op: 'spawn', proc: 'a' },
      { op: 'mmap', proc: 'a', region: 'r', pages: 1000 },
      { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'ids', count: 4, seed: 1 }, count: 600 },
      { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'unique', seed: 1 }, from: 600, count: 300 },
      { op: 'touch', proc: 'a', region: 'r', from: 900 },
      { op: 'write', proc: 'a', region: 'r', page: 3, value: 1 },
      { op: 'write', proc: 'a', region: 'r', page: 3, offset: 9, value: 2 },
      { op: 'fork', proc: 'a', child: 'b' },
      { op: 'write', proc: 'b', region: 'r', page: 3, value: 3 },
    ]).plan;
    // One page written by each process; the child's other pages are the parent's until written.
    expect(plan.writtenPages).toBe(2);
    expect(plan.populatedPages).toBe(2000);
    // 4 ids + 300 unique pages; the touched pages are the zero content.
    expect(plan.fillContents).toBe(304);
    expect(estimateHostMemory(plan, 0, 4096, 'simulator').contentBytes).toBe(
      (2 + 8) * PAGE_SIZE + 304 * CONTENT_HOST_BYTES,
    );
    // 'kernel' (the default): every populated page and table holds PAGE_SIZE, as the oracle counts.
    expect(estimateHostMemory(plan, 0, 4096).contentBytes).toBe((2000 + 8) * PAGE_SIZE);
  });

  it('caps struct pages at the machine, never the contents (the oracle refuses the same bound)', () => {
    const e = estimateHostMemory(filled(2 ** 20).plan, 0, 64);
    expect(e.frames).toBe((64 * MIB) / PAGE_SIZE);
    expect(e.metadataBytes).toBe(((64 * MIB) / PAGE_SIZE) * STRUCT_PAGE_BYTES * 1.5);
    expect(e.contentBytes).toBe((2 ** 20 + 2 * 2048) * PAGE_SIZE);
  });
});

describe('checkHostFits', () => {
  it('lets through what fits the budget and refuses, with the numbers, what does not', () => {
    expect(hostBudgetMiB(2048)).toBe(1152);
    expect(hostBudgetMiB(100)).toBe(0);
    // 256 MiB of contents fits in 1152 MiB; 2 GiB does not.
    expect(() => checkHostFits(filled(65536).plan, 0, 4096, SMALL_HOST)).not.toThrow();
    expect(() => checkHostFits(filled(524288).plan, 0, 4096, SMALL_HOST)).toThrow(
      /^refusing to run: the scenario needs up to 2125 MiB of host memory \(524288 pages populated, .*the limit is 1152 MiB \(3\/4 of 2048 MiB available minus a 512 MiB margin\)$/,
    );
  });

  it('refuses a machine beyond 2^31 frames and reports beyond MAX_REPORT_LABELS', () => {
    expect(() => checkHostFits(filled(16).plan, 0, MAX_MEMORY_MIB + 1, SMALL_HOST)).toThrow(HostMemoryError);
    expect(() => checkHostFits(filled(16).plan, 0, MAX_MEMORY_MIB, SMALL_HOST)).not.toThrow();
    const big = scenario([
      { op: 'spawn', proc: 'a' },
      { op: 'mmap', proc: 'a', region: 'r', pages: MAX_REPORT_LABELS / 2 },
      { op: 'report', label: 'x' },
      { op: 'report', label: 'y' },
      { op: 'report', label: 'z' },
    ]);
    expect(() => checkHostFits(big.plan, 2, 4096, SMALL_HOST)).not.toThrow();
    expect(() => checkHostFits(big.plan, 3, 4096, SMALL_HOST)).toThrow(/more than 33554432 sharing labels/);
  });

  it('refuses labels beyond the JS heap left', () => {
    const plan = filled(1 << 20, 1).plan;
    expect(() => checkHostFits(plan, 1, 4096, { memoryMiB: 1 << 20, swapMiB: 0, heapMiB: 8 })).toThrow(
      /need 8 MiB of JS heap for their sharing labels; the limit is 6 MiB/,
    );
  });

  it('runs before the simulator builds anything, and the kernel side refuses the same labels', async () => {
    let steps = 0;
    expect(() =>
      runOnSimulator(filled(524288), {
        host: SMALL_HOST,
        beforeStep: () => {
          steps++;
        },
      }),
    ).toThrow(HostMemoryError);
    expect(steps).toBe(0);
    const labels = scenario([
      { op: 'spawn', proc: 'a' },
      { op: 'mmap', proc: 'a', region: 'r', pages: 2 ** 28 },
      { op: 'report', label: 'x' },
    ]);
    await expect(runOnKernel(labels.scenario)).rejects.toThrow(/more than 33554432 sharing labels/);
  });
});

describe('YAML size', () => {
  it('refuses YAML text above MAX_YAML_CHARS in one line, and JSON of that size is read', () => {
    const yaml = `name: t\nsteps: []\n${'#'.repeat(MAX_YAML_CHARS)}\n`;
    expect(() => parseScenario(yaml, 'big.yaml')).toThrow(ScenarioError);
    expect(() => parseScenario(yaml, 'big.yaml')).toThrow(
      `big.yaml: $: expected YAML of at most ${MAX_YAML_CHARS} characters (write bigger scenarios as JSON), found ${yaml.length} characters`,
    );
    expect(
      parseScenario(`name: t\nsteps: []\n${'#'.repeat(MAX_YAML_CHARS - 32)}\n`, 'ok.yaml').scenario.name,
    ).toBe('t');
    const json = JSON.stringify({ name: 't', steps: [] }) + ' '.repeat(MAX_YAML_CHARS);
    expect(parseScenario(json, 'big.json').scenario.name).toBe('t');
  });
});
