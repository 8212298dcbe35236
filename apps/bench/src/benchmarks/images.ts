// images: the scale workload. A host of guests booted from one image: every process holds the
// same image (`ids`, IMAGE_IDS contents cycling, seed IMAGE_SEED) over 7/8 of its memory and its
// own data (`unique`, seed UNIQUE_SEED0 + k) over the rest, all MADV_MERGEABLE, max_page_sharing
// 256, and ksmd runs to convergence. The full size is 64 processes x 4 GiB (256 GiB simulated,
// 67,108,864 pages); smaller variants have fewer processes of the same shape. Every variant must
// end on the exact counters expectedCounters() derives from the kernel's rules (checked on the
// live kernel at 1/1024 of the size: scenarios/scale-images.yaml), and reports the simulator's
// host memory by structure (memoryBudget()) and seconds per full scan.
//
// The workload runs as a scenario on the simulator (runOnSimulator: the fills the `fill` step
// does, and the host guard before anything runs, counting contents as the simulator holds them),
// so a variant the host cannot hold is refused in one line (the child exits 2) instead of taking
// the machine.

import { GiB, MiB, PAGE_SIZE } from '@mmsim/core';
import type { Ksm, KsmCounters } from '@mmsim/ksm';
import { type Machine, PG_table } from '@mmsim/mmu';
import {
  DEFAULT_MEMORY_MIB,
  KSM_CONVERGE_COUNTERS,
  type LoadedScenario,
  parseScenario,
  runOnSimulator,
  type SimulatorContext,
} from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import type { BenchContext, Benchmark, CounterSample, Metric, RunResult, Sample, Variant } from '../types.ts';
import { measuredStructPageBytes } from './memory.ts';

/** One process of the full workload: a 4 GiB guest. */
const GUEST_PAGES = (4 * GiB) / PAGE_SIZE;
/** The image covers 7/8 of a guest (917,504 of 1,048,576 pages), its own data the rest. */
const IMAGE_EIGHTHS = 7;
const EIGHTHS = 8;
const IMAGE_IDS = 65536;
const IMAGE_SEED = 7;
const UNIQUE_SEED0 = 1000;
const MAX_PAGE_SHARING = 256;
/** ksmd full scans before a variant counts as not converging (Ksm.converge()'s default). */
const MAX_FULL_SCANS = 50;
/** Simulated RAM beyond the populated pages: page tables and slack, 1/64 of the populated size. */
const RAM_SLACK_DIVISOR = 64;

/** The workload's shape: `processes` guests of `pages` pages, the image over the first
 * `imagePages` (IMAGE_IDS contents cycling), unique data over the rest. */
export interface ImagesShape {
  processes: number;
  pages: number;
  imagePages: number;
  ids: number;
  maxPageSharing: number;
}

/** The variants: simulated GiB, and whether it runs only on request (--variant). */
const SIZES_GIB: readonly { gib: number; onRequest: boolean }[] = [
  { gib: 2, onRequest: false },
  { gib: 4, onRequest: true },
  { gib: 8, onRequest: true },
  { gib: 16, onRequest: false },
  { gib: 64, onRequest: true },
  { gib: 256, onRequest: true },
];

/** The shape of a size: size / 4 GiB guests; below one guest, one guest of that size (same
 * 7/8 image, so 2 GiB holds every image content 7 times instead of 14). */
export function imagesShape(gib: number): ImagesShape {
  const total = (gib * GiB) / PAGE_SIZE;
  const processes = Math.max(1, total / GUEST_PAGES);
  const pages = total / processes;
  return {
    processes,
    pages,
    imagePages: (pages * IMAGE_EIGHTHS) / EIGHTHS,
    ids: IMAGE_IDS,
    maxPageSharing: MAX_PAGE_SHARING,
  };
}

/** The workload as a scenario (the steps of scenarios/scale-images.yaml, for any shape): spawn,
 * mmap and fill every guest, then MADV_MERGEABLE on each. ksmd is run by the caller. */
export function imagesScenario(shape: ImagesShape): LoadedScenario {
  const steps: object[] = [];
  for (let k = 0; k < shape.processes; k++) steps.push({ op: 'spawn', proc: `p${k}` });
  const unique = shape.pages - shape.imagePages;
  for (let k = 0; k < shape.processes; k++) {
    const proc = `p${k}`;
    steps.push(
      { op: 'mmap', proc, region: 'ram', pages: shape.pages },
      {
        op: 'fill',
        proc,
        region: 'ram',
        from: 0,
        count: shape.imagePages,
        pattern: { kind: 'ids', count: shape.ids, seed: IMAGE_SEED },
      },
      {
        op: 'fill',
        proc,
        region: 'ram',
        from: shape.imagePages,
        count: unique,
        pattern: { kind: 'unique', seed: UNIQUE_SEED0 + k },
      },
    );
  }
  for (let k = 0; k < shape.processes; k++)
    steps.push({ op: 'madvise', proc: `p${k}`, region: 'ram', advice: 'MADV_MERGEABLE' });
  const populated = shape.processes * shape.pages;
  const memoryMiB = Math.max(
    DEFAULT_MEMORY_MIB,
    Math.ceil(((populated + populated / RAM_SLACK_DIVISOR) * PAGE_SIZE) / MiB),
  );
  const scenario = {
    name: 'scale-images',
    machine: { memory_mib: memoryMiB },
    ksm: { max_page_sharing: shape.maxPageSharing },
    steps,
  };
  return parseScenario(JSON.stringify(scenario), 'images.json');
}

/** The counters at convergence, from the kernel's rules: each image content has
 * n = processes * imagePages / ids pages; stable_node_dup() fills a dup to max_page_sharing
 * before a new one starts, so it ends in floor(n / M) full dups plus one of the remainder r when
 * r >= 2 (one page of r = 1 has nobody to pair with in the unstable tree and stays unshared); a
 * content of more than one dup is a chain. Every unique page stays unshared. */
export function expectedCounters(shape: ImagesShape): Record<string, number> {
  const n = (shape.processes * shape.imagePages) / shape.ids;
  const m = shape.maxPageSharing;
  const rem = n % m;
  const dups = Math.floor(n / m) + (rem >= 2 ? 1 : 0);
  const merged = n - (rem === 1 ? 1 : 0);
  const chained = dups > 1;
  return {
    pages_shared: shape.ids * dups,
    pages_sharing: shape.ids * (merged - dups),
    pages_unshared: shape.processes * (shape.pages - shape.imagePages) + shape.ids * (rem === 1 ? 1 : 0),
    pages_volatile: 0,
    stable_node_chains: chained ? shape.ids : 0,
    stable_node_dups: chained ? shape.ids * dups : 0,
  };
}

/** The settled counters Ksm.converge() compares scan to scan. */
function convergeKey(ksm: Ksm): string {
  const c = ksm.counters();
  return KSM_CONVERGE_COUNTERS.map((k) => c[k]).join(',');
}

/** Bytes of every typed array among `obj`'s own fields and those of its object fields (the
 * handle arrays of KsmItemHandles): a struct-of-arrays cache at its capacity (room reserved but
 * never written costs no host memory). */
function typedArrayBytes(obj: object, depth = 1): number {
  let bytes = 0;
  for (const v of Object.values(obj)) {
    if (ArrayBuffer.isView(v)) bytes += v.byteLength;
    else if (depth > 0 && v !== null && typeof v === 'object' && !Array.isArray(v))
      bytes += typedArrayBytes(v, depth - 1);
  }
  return bytes;
}

/** Host memory by structure, in bytes (what the simulator's arrays hold, measured), and the
 * counts of unstable-tree rb nodes and of what lives as JS objects in the heap (VMAs, mm_structs,
 * stable nodes, mm_slots). */
export function memoryBudget(m: Machine, ksm: Ksm): { name: string; unit: string; value: number }[] {
  const phys = m.phys;
  let tables = 0;
  const frames = phys.flags.length;
  for (let pfn = 1; pfn < frames; pfn++) if ((phys.flags[pfn] & PG_table) !== 0) tables++;
  const ri = ksm.rmap_item_cache;
  const k = ksm.counters();
  return [
    { name: 'struct page arrays (capacity)', unit: 'bytes', value: measuredStructPageBytes(m) * frames },
    { name: 'page tables (PTE and upper tables, 4 KiB each)', unit: 'bytes', value: tables * PAGE_SIZE },
    {
      name: 'page contents (content storage minus tables)',
      unit: 'bytes',
      value: phys.contentBytes - tables * PAGE_SIZE,
    },
    { name: 'rmap_items (typed arrays, capacity)', unit: 'bytes', value: typedArrayBytes(ri) },
    { name: 'JS heap used', unit: 'bytes', value: process.memoryUsage().heapUsed },
    { name: 'unstable-tree rb nodes (RbArena records)', unit: 'nodes', value: ri.node.size },
    { name: 'unstable-tree rb nodes (RbArena, capacity)', unit: 'bytes', value: ri.node.arena.w.byteLength },
    {
      name: 'stable nodes (JS objects: KSM pages, chain heads)',
      unit: 'nodes',
      value: k.pages_shared + k.stable_node_chains,
    },
  ];
}

function run(ctx: BenchContext): RunResult {
  const gib = Number(/^(\d+)GiB$/.exec(ctx.variant)?.[1] ?? Number.NaN);
  if (!SIZES_GIB.some((s) => s.gib === gib)) throw new Error(`images: unknown variant '${ctx.variant}'`);
  const shape = imagesShape(gib);
  const pages = shape.processes * shape.pages;
  const loaded = imagesScenario(shape);
  const host = hostMemory();
  ctx.gc();
  const rss0 = ctx.rss();
  let sim: SimulatorContext | undefined;
  const samples: Sample[] = [];
  const metrics: Metric[] = [];
  const counters: CounterSample[] = [];
  const curve = { x: gib, xUnit: 'GiB simulated' };
  const label = (what: string) => `${what} ${gib} GiB`;
  // Populate: the guard first (HostMemoryError before anything is allocated), then every fill.
  const populateSeconds = ctx.time(() => {
    runOnSimulator(loaded, {
      host,
      // Frames refer to contents: the guard counts what the simulator holds, not the 4 KiB per
      // page the kernel side would need (this workload is far beyond any host's kernel side).
      contentEstimate: 'simulator',
      afterStep: (c) => {
        sim = c;
      },
    });
  });
  if (sim === undefined) throw new Error('images: the scenario ran no step');
  const { machine: m, ksm } = sim;
  samples.push({ label: label('populate'), unit: 'page', ops: pages, seconds: populateSeconds });
  ctx.gc();
  const rssPopulated = ctx.rss();
  // ksmd to convergence, one timed full scan at a time (exact scans, as the scenario op).
  ksm.pages_to_scan = pages + 1;
  const before = m.counters.snapshot();
  let scans = 0;
  let convergeSeconds = 0;
  const scanSeconds: number[] = [];
  let prev = '';
  for (;;) {
    const seconds = ctx.time(() => ksm.runFullScans(1));
    convergeSeconds += seconds;
    scanSeconds.push(seconds);
    scans++;
    const key = convergeKey(ksm);
    if (scans >= 2 && key === prev) break;
    if (scans === MAX_FULL_SCANS) throw new Error(`images: not converged after ${scans} full scans`);
    prev = key;
  }
  const scanCounters = m.counters.since(before);
  const got = ksm.counters();
  const want = expectedCounters(shape);
  for (const [k, v] of Object.entries(want)) {
    if (got[k as keyof KsmCounters] !== v)
      throw new Error(`images ${gib} GiB: ${k} is ${got[k as keyof KsmCounters]}, expected ${v}`);
  }
  samples.push({
    label: label('converge'),
    unit: 'page',
    ops: pages * scans,
    seconds: convergeSeconds,
    series: 'converge (pages scanned/s)',
    ...curve,
  });
  counters.push({ label: label('converge'), unit: 'page', units: pages * scans, counters: scanCounters });
  ctx.gc();
  const rssConverged = ctx.rss();
  // One more full scan of the converged machine: the steady state ksmd then stays in.
  const steadySeconds = ctx.time(() => ksm.runFullScans(1));
  samples.push({
    label: label('steady scan'),
    unit: 'page',
    ops: pages,
    seconds: steadySeconds,
    series: 'steady full scan (pages scanned/s)',
    ...curve,
  });
  const peak = ctx.peakRss();
  metrics.push(
    { name: 'full scans to converge', unit: 'scans', value: scans, label: label('converge') },
    {
      name: 'seconds per full scan (converging)',
      unit: 's',
      value: convergeSeconds / scans,
      label: label('converge'),
      series: 'converging',
      ...curve,
    },
    {
      name: 'seconds per full scan (converged)',
      unit: 's',
      value: steadySeconds,
      label: label('steady scan'),
      series: 'converged',
      ...curve,
    },
    { name: 'converge seconds', unit: 's', value: convergeSeconds, label: label('converge') },
    // Each converging scan apart: the first only checksums, the last already finds the converged
    // state (what the steady scan repeats).
    ...scanSeconds.map((value, k) => ({
      name: `seconds of converging full scan ${k + 1}`,
      unit: 's',
      value,
      label: label('converge'),
    })),
    {
      name: 'peak RSS',
      unit: 'MiB',
      value: peak / MiB,
      label: label('converge'),
      series: 'peak RSS',
      ...curve,
    },
    { name: 'RSS after populate', unit: 'MiB', value: rssPopulated / MiB, label: label('populate') },
    { name: 'RSS after converge', unit: 'MiB', value: rssConverged / MiB, label: label('converge') },
    {
      name: 'RSS beyond the process at start, per simulated page',
      unit: 'bytes',
      value: (Math.max(rssPopulated, rssConverged) - rss0) / pages,
      label: label('converge'),
    },
    { name: 'simulated pages', unit: 'pages', value: pages, label: label('converge') },
  );
  for (const k of Object.keys(want))
    metrics.push({ name: k, unit: 'pages', value: got[k as keyof KsmCounters], label: label('converge') });
  for (const b of memoryBudget(m, ksm)) {
    if (b.unit !== 'bytes') {
      metrics.push({ ...b, label: label('converge') });
      continue;
    }
    metrics.push(
      { name: b.name, unit: 'MiB', value: b.value / MiB, label: label('converge') },
      {
        name: `${b.name}, per simulated page`,
        unit: 'bytes',
        value: b.value / pages,
        label: label('converge'),
      },
    );
  }
  return { samples, counters, metrics };
}

const images: Benchmark = {
  name: 'images',
  description:
    'the scale workload: guests of 4 GiB booted from one image (7/8 of each guest one ids image, 1/8 its own ' +
    'unique data), MADV_MERGEABLE, max_page_sharing 256, ksmd to convergence at 2 to 256 GiB simulated: exact ' +
    'counters, seconds per full scan and host memory as size grows.',
  variants({ quick }): Variant[] {
    return SIZES_GIB.filter((s) => !quick || s.gib === SIZES_GIB[0].gib).map((s) => {
      const shape = imagesShape(s.gib);
      return {
        id: `${s.gib}GiB`,
        description: `${shape.processes} x ${(shape.pages * PAGE_SIZE) / GiB} GiB guests`,
        ...(s.onRequest ? { onRequest: true } : {}),
      };
    });
  },
  targets: [
    {
      name: 'peak RSS',
      label: 'converge 256 GiB',
      atMost: 8 * 1024,
      source: 'host RSS at most 8 GiB at 256 GiB',
    },
    {
      name: 'converge seconds',
      label: 'converge 256 GiB',
      atMost: 600,
      source: 'converged in at most 10 minutes on 2 cores',
    },
  ],
  notes: [
    'Shape per guest (4 GiB, 1,048,576 pages): pages 0-917,503 the image (ids, 65,536 contents cycling, seed 7: ' +
      '14 pages of each), pages 917,504-1,048,575 its own data (unique, seed 1000 + k for guest k). Size / 4 GiB ' +
      'guests; the 2 GiB variant is one guest of 2 GiB with the same 7/8 image (7 pages of each content).',
    'Each variant runs as a scenario on the simulator (the `fill` steps, the host guard first: a size the host ' +
      'cannot hold is refused in one line and the child exits 2), then ksmd full scan by full scan until the ' +
      'counters settle (as the ksm_converge op). It fails unless the counters equal the formula of ' +
      'expectedCounters() (scenarios/scale-images.yaml checks it on the live kernel at 64 MiB).',
    '"converge" throughput is pages scanned per second over every converging scan (first scan: checksums; ' +
      'then merging scans); "steady scan" is one more full scan of the converged machine. Peak RSS is the ' +
      "child's ru_maxrss; the per-structure rows are measured from the simulator's arrays at the end.",
    '4, 8, 64 and 256 GiB run only on request (`pnpm bench images --variant 256GiB`); --quick runs 2 GiB ' +
      'only. A variant the host guard refuses is skipped with its line on stderr.',
  ],
  run,
};

export default images;
