// fault: write-fault anonymous memory, one byte per 4 KiB page, through
// Process.writeByte -> handle_mm_fault -> do_anonymous_page, in a fresh @mmsim/mmu Machine.
//
// Two states of the simulator's process, each a separate variant in its own fresh Node process:
//   cold: nothing was allocated before the timed loop, so every content slot is new memory the
//         OS must fault in (about 18 µs per 4 KiB page on our VMs, docs/design.md §3);
//   warm: the same size was faulted and freed (process exit) once first in the same Machine, so
//         the timed loop reuses pooled frames and content slots, as the kernel reuses freed pages.

import { MiB, PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { HashedMemory, Machine, STRUCT_PAGE_BYTES } from '@mmsim/mmu';
import { fmtMiB } from '../format.ts';
import { measure } from '../measure.ts';
import type { BenchContext, Benchmark, Metric, RunResult, Variant } from '../types.ts';
import { mapAnon } from './anon.ts';
import { measuredStructPageBytes } from './memory.ts';

/** Simulated RAM: room for the largest size twice over (warm-up plus the timed address space). */
const MEMORY_MIB = 2048;
const SIZES_MIB = [16, 64, 256, 1024];
const SIZES_MIB_QUICK = [64, 1024];
const MODES = ['cold', 'warm', 'floor'] as const;
type Mode = (typeof MODES)[number];

/** A point on a scaling curve: its series and x. */
interface Curve {
  series: string;
  x: number;
  xUnit: string;
}

/** The RSS after faulting `pages` pages, and its growth per page, on one curve of the charts. */
function rssMetrics(label: string, curve: Curve, rssStart: number, rssEnd: number, pages: number): Metric[] {
  return [
    { name: 'simulator RSS after faulting', unit: 'MiB', value: rssEnd / MiB, label, ...curve },
    {
      name: 'RSS growth per faulted page',
      unit: 'bytes',
      value: (rssEnd - rssStart) / pages,
      label,
      ...curve,
    },
  ];
}

/** The timed loop: one write per page. Shared by warm-up and measurement. */
function touch(p: Process, addr: number, pages: number): void {
  for (let i = 0; i < pages; i++) p.writeByte(addr + i * PAGE_SIZE, 1);
}

/**
 * The environment's floor for the cold case: no simulator, just what PhysMem's content storage
 * costs the OS. A fresh WebAssembly memory (what PhysMem's content arenas are), one byte written
 * per 4 KiB page.
 */
function floorRun(ctx: BenchContext, label: string, mib: number, pages: number): RunResult {
  ctx.gc();
  const rssStart = ctx.rss();
  const held: Uint8Array[] = [];
  const seconds = ctx.time(() => {
    const b = new HashedMemory(pages * PAGE_SIZE).bytes;
    held.push(b);
    for (let off = 0; off < pages * PAGE_SIZE; off += PAGE_SIZE) b[off] = 1;
  });
  const rssEnd = ctx.rss();
  const curve = { series: 'floor', x: mib, xUnit: 'MiB mapped' };
  return {
    samples: [{ label, unit: 'page', ops: pages, seconds, ...curve }],
    counters: [],
    metrics: [...rssMetrics(label, curve, rssStart, rssEnd, pages)],
  };
}

function parseVariant(id: string): { mode: Mode; mib: number } {
  const m = /^(cold|warm|floor)-(\d+)MiB$/.exec(id);
  if (m === null) throw new Error(`fault: unknown variant '${id}'`);
  return { mode: m[1] as Mode, mib: Number(m[2]) };
}

function run(ctx: BenchContext): RunResult {
  const { mode, mib } = parseVariant(ctx.variant);
  const label = `${mode} ${fmtMiB(mib)}`;
  const bytes = mib * MiB;
  const pages = bytes / PAGE_SIZE;
  if (mode === 'floor') return floorRun(ctx, label, mib, pages);
  ctx.gc();
  const rssStart = ctx.rss();

  const m = new Machine({ memoryMiB: MEMORY_MIB });
  if (mode === 'warm') {
    const w = new Process(m, 'warmup');
    touch(w, mapAnon(w, bytes), pages);
    w.exit();
  }
  const p = new Process(m, 'fault');
  const addr = mapAnon(p, bytes);
  const { seconds, counters } = measure(ctx, m.counters, () => touch(p, addr, pages));
  const rssEnd = ctx.rss();
  if (m.phys.nrUsed < pages)
    throw new Error(`fault: only ${m.phys.nrUsed} frames in use after faulting ${pages} pages`);

  const curve = { series: mode, x: mib, xUnit: 'MiB mapped' };
  const metrics: Metric[] = [
    { name: 'struct page bytes/frame (STRUCT_PAGE_BYTES)', unit: 'bytes', value: STRUCT_PAGE_BYTES },
    { name: 'struct page bytes/frame (measured arrays)', unit: 'bytes', value: measuredStructPageBytes(m) },
    ...rssMetrics(label, curve, rssStart, rssEnd, pages),
  ];
  return {
    samples: [{ label, unit: 'page', ops: pages, seconds, ...curve }],
    counters: [{ label, unit: 'page', units: pages, counters }],
    metrics,
  };
}

const fault: Benchmark = {
  name: 'fault',
  description:
    'Write-fault anonymous memory (MAP_PRIVATE|MAP_ANONYMOUS, one writeByte per 4 KiB page) in a fresh ' +
    `@mmsim/mmu Machine (${MEMORY_MIB} MiB RAM, 4-level paging, THP 'madvise' and not advised, so 4 KiB ` +
    'do_anonymous_page faults), cold and warm, next to the bare-JS floor.',
  variants({ quick }): Variant[] {
    const sizes = quick ? SIZES_MIB_QUICK : SIZES_MIB;
    const out: Variant[] = [];
    for (const mode of MODES) {
      for (const mib of sizes) {
        out.push({
          id: `${mode}-${mib}MiB`,
          description:
            mode === 'cold'
              ? `${fmtMiB(mib)} in a fresh process: every content slot is new memory`
              : mode === 'warm'
                ? `${fmtMiB(mib)} after faulting and freeing ${fmtMiB(mib)} once in the same Machine`
                : `no simulator: ${fmtMiB(mib)} of fresh WebAssembly memory, one byte written per 4 KiB`,
        });
      }
    }
    return out;
  },
  targets: [
    { name: 'warm 1 GiB', atLeast: 1_000_000 },
    { name: 'cold 1 GiB', atLeast: 1_000_000 },
    {
      name: 'struct page bytes/frame (measured arrays)',
      atMost: 64,
      source: "the kernel's struct page size",
    },
  ],
  notes: [
    'cold: the timed loop runs in a fresh Node process on a new Machine, so every content slot (in the WebAssembly-memory arenas of PhysMem) is memory ' +
      'the process has never touched and the OS must fault in (docs/design.md §3 measured ~18 µs per 4 KiB page for ' +
      'guest memory the VM had never used; the floor rows show what it cost in this run).',
    'warm: the same size was write-faulted and freed (Process.exit) once in the same Machine before timing; the ' +
      'timed loop reuses the pooled frames and content slots, as the kernel reuses freed pages. JIT is warm too.',
    'floor: no simulator at all, the same fresh-process memory as cold (a fresh WebAssembly memory, one byte ' +
      'written per 4 KiB page): what the OS charges for first touch on this machine, a ceiling for cold. Its ' +
      "cost depends on the VM's history: guest pages never touched since boot cost far more than recycled ones.",
    'RSS growth per faulted page: (RSS after the timed loop − RSS before the Machine was created) / pages.',
  ],
  run,
};

export default fault;
