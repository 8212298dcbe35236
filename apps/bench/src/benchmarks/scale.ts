// scale: populate + merge (two ksmd full scans) + unmerge at 64 MiB, 256 MiB, 1 GiB and
// 4 GiB, to show how time and the simulator's memory grow with size. Each size is a variant in
// its own fresh process; every phase is timed, and the process's RSS is read after each phase.
//
// Memory is reported as RSS growth since before the Machine was created, split into page
// contents (the content storage PhysMem handed out: pooled slots of its arenas, never returned) and
// everything else per populated page: struct-page arrays, page tables, VMAs, rmap_items and the
// JS heap. The target: linear growth, at most 64 bytes of metadata per frame plus contents.

import { MiB, PAGE_SIZE } from '@mmsim/core';
import { Ksm } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, MADV_UNMERGEABLE, Machine, STRUCT_PAGE_BYTES } from '@mmsim/mmu';
import { type FillPattern, fillPage } from '@mmsim/scenario';
import { fmtMiB } from '../format.ts';
import type { BenchContext, Benchmark, CounterSample, Metric, RunResult, Sample, Variant } from '../types.ts';
import { mapAnon } from './anon.ts';
import { contentBytes, measuredStructPageBytes } from './memory.ts';

const SIZES_MIB = [64, 256, 1024, 4096];
/** The slope `derive` reports: RSS beyond contents gained per frame of simulated RAM added. */
const GROWTH_PER_FRAME = 'RSS beyond contents, growth per frame of simulated RAM';
const SIZES_MIB_QUICK = [64, 256, 1024];
/** 16 contents cycling: ksmd merges every page (max_page_sharing 256: chains of dups). */
const PATTERN: FillPattern = { kind: 'ids', count: 16, seed: 11 };
const PHASES = ['populate', 'merge', 'unmerge'] as const;
type Phase = (typeof PHASES)[number];
const PHASE_TITLE: Record<Phase, string> = {
  populate: 'populate (write every page)',
  merge: 'merge (MADV_MERGEABLE + 2 full scans)',
  unmerge: 'unmerge (MADV_UNMERGEABLE)',
};

/** The 16 distinct pages of PATTERN, so populating copies instead of recomputing. */
function contents(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let c = 0; c < 16; c++) {
    const b = new Uint8Array(PAGE_SIZE);
    fillPage(PATTERN, c, 16, b);
    out.push(b);
  }
  return out;
}

function run(ctx: BenchContext): RunResult {
  const mib = Number(/^(\d+)MiB$/.exec(ctx.variant)?.[1] ?? Number.NaN);
  if (!Number.isInteger(mib)) throw new Error(`scale: unknown variant '${ctx.variant}'`);
  const pages = (mib * MiB) / PAGE_SIZE;
  const bytes = mib * MiB;
  const pageData = contents();
  ctx.gc();
  const rss0 = ctx.rss();
  const m = new Machine({ memoryMiB: mib + Math.max(256, mib / 8) });
  const ksm = new Ksm(m);
  ksm.pages_to_scan = 1_000_000_000;
  const p = new Process(m, 'scale');
  const addr = mapAnon(p, bytes);

  const work: Record<Phase, () => void> = {
    populate: () => {
      for (let i = 0; i < pages; i++) p.writePage(addr + i * PAGE_SIZE, pageData[i % 16]!);
    },
    merge: () => {
      p.madvise(addr, bytes, MADV_MERGEABLE);
      ksm.runFullScans(2);
    },
    unmerge: () => p.madvise(addr, bytes, MADV_UNMERGEABLE),
  };
  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  const metrics: Metric[] = [];
  const curve = { x: mib, xUnit: 'MiB populated' };
  for (const phase of PHASES) {
    ctx.gc();
    const before = m.counters.snapshot();
    const seconds = ctx.time(work[phase]);
    const c = m.counters.since(before);
    ctx.gc();
    const rss = ctx.rss();
    const label = `${phase} ${fmtMiB(mib)}`;
    samples.push({ label, unit: 'page', ops: pages, seconds, series: phase, ...curve });
    counters.push({ label, unit: 'page', units: pages, counters: c });
    const growth = rss - rss0;
    const content = contentBytes(m);
    metrics.push(
      { name: 'simulator RSS', unit: 'MiB', value: rss / MiB, label, series: `RSS after ${phase}`, ...curve },
      {
        name: 'RSS beyond contents, per frame of simulated RAM',
        unit: 'bytes',
        value: (growth - content) / m.phys.nrFrames,
        label,
        series: `beyond contents per frame, after ${phase}`,
        ...curve,
      },
      {
        name: 'RSS beyond contents, per page mapped',
        unit: 'bytes',
        value: (growth - content) / pages,
        label,
      },
      { name: 'RSS beyond contents', unit: 'bytes', value: growth - content, label },
      { name: 'frames of simulated RAM', unit: 'frames', value: m.phys.nrFrames, label },
      { name: 'frames in use', unit: 'frames', value: m.phys.nrUsed, label },
      { name: 'content storage', unit: 'MiB', value: content / MiB, label },
    );
    if (phase === 'merge') {
      const k = ksm.counters();
      if (k.pages_shared + k.pages_sharing !== pages)
        throw new Error(`scale: ${k.pages_shared + k.pages_sharing} of ${pages} pages merged`);
      metrics.push({ name: 'KSM pages (pages_shared)', unit: 'pages', value: k.pages_shared, label });
    }
  }
  if (m.phys.nrUsed < pages) throw new Error(`scale: ${m.phys.nrUsed} frames in use after unmerge`);
  metrics.push(
    { name: 'struct page bytes/frame (STRUCT_PAGE_BYTES)', unit: 'bytes', value: STRUCT_PAGE_BYTES },
    { name: 'struct page bytes/frame (measured arrays)', unit: 'bytes', value: measuredStructPageBytes(m) },
  );
  return { samples, counters, metrics };
}

const scale: Benchmark = {
  name: 'scale',
  description:
    'populate + merge (MADV_MERGEABLE, 2 ksmd full scans) + unmerge (MADV_UNMERGEABLE) of 64 MiB to 4 GiB of ' +
    'anonymous memory in one process (16 contents cycling, so every page merges): time per phase, simulator ' +
    'RSS and metadata per frame as size grows.',
  variants({ quick }): Variant[] {
    return (quick ? SIZES_MIB_QUICK : SIZES_MIB).map((mib) => ({
      id: `${mib}MiB`,
      description: `${fmtMiB(mib)}: ${PHASES.map((ph) => PHASE_TITLE[ph]).join(', ')}`,
    }));
  },
  derive(metric) {
    // The growth per frame between the smallest and the largest size run: what a frame more of
    // simulated RAM costs, without the simulator's fixed footprint (code, heap) that the
    // per-size values spread over their frames.
    const at = (name: string, mib: number) => metric(name, `populate ${fmtMiB(mib)}`);
    const run = SIZES_MIB.filter((mib) => at('RSS beyond contents', mib) !== undefined);
    if (run.length < 2) return [];
    const lo = run[0]!;
    const hi = run[run.length - 1]!;
    const bLo = at('RSS beyond contents', lo)!;
    const bHi = at('RSS beyond contents', hi)!;
    const fLo = at('frames of simulated RAM', lo)!;
    const fHi = at('frames of simulated RAM', hi)!;
    const values = bLo.slice(0, bHi.length).map((b, i) => (bHi[i]! - b) / (fHi[i]! - fLo[i]!));
    return [
      { name: GROWTH_PER_FRAME, unit: 'bytes', label: `populate ${fmtMiB(lo)} to ${fmtMiB(hi)}`, values },
    ];
  },
  targets: [
    {
      name: GROWTH_PER_FRAME,
      atMost: 64,
      source: 'memory grows linearly, ≤ 64 bytes of metadata per frame',
    },
    {
      name: 'RSS beyond contents, per frame of simulated RAM',
      label: 'populate 4 GiB',
      atMost: 64,
      source: '≤ 64 bytes of metadata per frame',
    },
    {
      name: 'struct page bytes/frame (measured arrays)',
      atMost: 64,
      source: "the kernel's struct page size",
    },
  ],
  notes: [
    `Phases, each timed: ${PHASES.map((ph) => PHASE_TITLE[ph]).join('; ')}. Throughput is pages of the ` +
      'mapping per second for every phase (merge: two full scans of every page).',
    'Contents: 16 distinct pages cycling (scenario pattern ids, count 16), copied into each page with ' +
      'Process.writePage. After the merge every page is a KSM page or a sharer (max_page_sharing 256: ' +
      'pages/256 KSM pages); unmerge copies every page back (folio_walk, the 6.18 strategy).',
    'Memory: "simulator RSS" is the process RSS after each phase (after a full GC). "RSS beyond contents" ' +
      '= RSS − RSS before the Machine existed − bytes of content storage handed out (page contents and page ' +
      'tables): the struct-page arrays, VMAs, rmap_items and stable nodes, the JS heap. It is given per frame ' +
      "of the Machine's simulated RAM (the mapping plus max(256 MiB, 1/8)) — the kernel's struct page too " +
      'exists for every frame of RAM, used or not; the struct-page arrays grow with the frames handed out, up ' +
      `to ${STRUCT_PAGE_BYTES} bytes/frame — and per page mapped. Content slots are pooled and never returned to the OS, so the ` +
      'pages merging frees stay resident as free slots; the rise after the merge is KSM metadata (one ' +
      'rmap_item per page scanned).',
    "The per-size values include the simulator process's fixed footprint beyond the Machine (compiled code, " +
      'heap: about 7 MB), which weighs most at small sizes. "Growth per frame" is the slope between the ' +
      'smallest and the largest size run, per repetition: what one more frame of simulated RAM costs, which ' +
      'is what "grows linearly, at most 64 bytes of metadata per frame" asks for.',
    '--quick stops at 1 GiB.',
  ],
  run,
};

export default scale;
