// soak: 4 GiB of simulated memory in 64 forked processes, ten
// merge/unmerge cycles. Nothing may leak: after every cycle the free-frame count is back where it
// was before the first merge, and after every process exits it is back to the boot value. The
// simulator's RSS must stay within 10% of page contents + 64 bytes per frame.
//
// One variant (4 GiB, or 1 GiB with --quick). A run takes minutes: run it with --reps 1 or 3.

import { MiB, PAGE_SIZE } from '@mmsim/core';
import { checkKsmInvariants, Ksm } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import { checkMmInvariants, MADV_MERGEABLE, MADV_UNMERGEABLE, Machine } from '@mmsim/mmu';
import { type FillPattern, fillPage } from '@mmsim/scenario';
import { fmtMiB } from '../format.ts';
import type { BenchContext, Benchmark, CounterSample, Metric, RunResult, Sample, Variant } from '../types.ts';
import { mapAnon } from './anon.ts';
import { contentBytes } from './memory.ts';

const PROCS = 64;
const CYCLES = 10;
const TOTAL_MIB = 4096;
const TOTAL_MIB_QUICK = 1024;
/** Page i of every process has content i % IDS (mergeable across processes), except every
 * UNIQUE_EVERY-th page, which carries the process and page number (never merges). */
const IDS = 64;
const UNIQUE_EVERY = 8;
const PATTERN: FillPattern = { kind: 'ids', count: IDS, seed: 9 };
/** What the RSS is held to: page contents plus this much per frame (the kernel's struct page). */
const META_PER_FRAME = 64;

function totalFor(quick: boolean): number {
  return quick ? TOTAL_MIB_QUICK : TOTAL_MIB;
}

function fail(msg: string): never {
  throw new Error(`soak: ${msg}`);
}

/** Fill every page of `p`'s region: shared ids, and every 8th page unique to (k, i). */
function populate(p: Process, addr: number, pages: number, k: number, ids: Uint8Array[]): void {
  const buf = new Uint8Array(PAGE_SIZE);
  const dv = new DataView(buf.buffer);
  for (let i = 0; i < pages; i++) {
    if (i % UNIQUE_EVERY === UNIQUE_EVERY - 1) {
      buf.set(ids[i % IDS]!);
      dv.setUint32(0, k, true);
      dv.setUint32(4, i, true);
      p.writePage(addr + i * PAGE_SIZE, buf);
    } else p.writePage(addr + i * PAGE_SIZE, ids[i % IDS]!);
  }
}

async function run(ctx: BenchContext): Promise<RunResult> {
  const totalMiB = totalFor(ctx.quick);
  const perProcMiB = totalMiB / PROCS;
  const bytes = perProcMiB * MiB;
  const pages = bytes / PAGE_SIZE;
  const totalPages = pages * PROCS;
  const ids: Uint8Array[] = [];
  for (let c = 0; c < IDS; c++) {
    const b = new Uint8Array(PAGE_SIZE);
    fillPage(PATTERN, c, IDS, b);
    ids.push(b);
  }

  ctx.gc();
  const rss0 = ctx.rss();
  const m = new Machine({ memoryMiB: totalMiB + totalMiB / 4 });
  const ksm = new Ksm(m);
  ksm.pages_to_scan = 1_000_000_000;
  // smart_scan would skip pages that stayed unmerged for a few scans: rmap_item ages are never
  // reset, so from the 5th cycle on every page is skipped and nothing merges (as in the kernel).
  ksm.smart_scan = false;
  const bootFree = m.phys.nrFree;

  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  const metrics: Metric[] = [];
  const procs: Process[] = [];
  let addr = 0;

  // Populate: the parent writes its region, forks 63 children, and each child rewrites its copy
  // (COW breaks), so all 64 processes end up with private pages.
  const popSeconds = ctx.time(() => {
    const parent = new Process(m, 'soak-0');
    addr = mapAnon(parent, bytes);
    populate(parent, addr, pages, 0, ids);
    procs.push(parent);
    for (let k = 1; k < PROCS; k++) {
      const child = parent.fork(`soak-${k}`);
      populate(child, addr, pages, k, ids);
      procs.push(child);
    }
  });
  samples.push({ label: 'populate + fork', unit: 'page', ops: totalPages, seconds: popSeconds });
  const startFree = m.phys.nrFree;
  const framesInUse = m.phys.nrUsed;
  if (framesInUse < totalPages) fail(`${framesInUse} frames in use after populating ${totalPages} pages`);

  const rssRatio = (when: string, label: string): void => {
    ctx.gc();
    const growth = ctx.rss() - rss0;
    const budget = m.phys.nrUsed * PAGE_SIZE + m.phys.nrUsed * META_PER_FRAME;
    // Held to the frames in use at the peak (the populated state): pooled content slots are kept.
    const peakBudget = framesInUse * (PAGE_SIZE + META_PER_FRAME);
    metrics.push(
      { name: `simulator RSS growth ${when}`, unit: 'MiB', value: growth / MiB, label },
      {
        name: `RSS growth / (contents + ${META_PER_FRAME} B per frame) ${when}`,
        unit: 'x',
        value: growth / Math.max(budget, peakBudget),
        label,
      },
    );
  };
  rssRatio('after populating', 'populated');

  /** Times one phase of a cycle over every page: a throughput sample each cycle, its counters in
   * the first and the last cycle. */
  const timePhase = (label: string, what: string, cycle: number, fn: () => void): void => {
    const before = m.counters.snapshot();
    const seconds = ctx.time(fn);
    samples.push({ label, unit: 'page', ops: totalPages, seconds });
    if (cycle === 1 || cycle === CYCLES) {
      const c = m.counters.since(before);
      counters.push({ label: `${what}, cycle ${cycle}`, unit: 'page', units: totalPages, counters: c });
    }
  };

  let merged = -1;
  let worstRatio = 0;
  for (let cycle = 1; cycle <= CYCLES; cycle++) {
    timePhase('merge (MADV_MERGEABLE ×64 + 2 full scans)', 'merge', cycle, () => {
      for (const p of procs) p.madvise(addr, bytes, MADV_MERGEABLE);
      ksm.runFullScans(2);
    });
    const k = ksm.counters();
    const nowMerged = k.pages_shared + k.pages_sharing;
    if (merged >= 0 && nowMerged !== merged)
      fail(`cycle ${cycle} merged ${nowMerged} pages, cycle 1 ${merged}`);
    merged = nowMerged;
    const mergedFree = m.phys.nrFree;
    timePhase('unmerge (MADV_UNMERGEABLE ×64)', 'unmerge', cycle, () => {
      for (const p of procs) p.madvise(addr, bytes, MADV_UNMERGEABLE);
    });
    if (m.phys.nrFree !== startFree)
      fail(`cycle ${cycle}: ${m.phys.nrFree} free frames after unmerge, ${startFree} before the first merge`);
    if (cycle === 1) {
      metrics.push(
        { name: 'pages merged per cycle (pages_shared + pages_sharing)', unit: 'pages', value: merged },
        { name: 'frames freed by merging', unit: 'frames', value: mergedFree - startFree },
      );
    }
    ctx.gc();
    const growth = ctx.rss() - rss0;
    worstRatio = Math.max(worstRatio, growth / (framesInUse * (PAGE_SIZE + META_PER_FRAME)));
  }
  rssRatio('after 10 cycles', 'after 10 cycles');
  metrics.push({
    name: `worst RSS growth / (contents + ${META_PER_FRAME} B per frame) over the cycles`,
    unit: 'x',
    value: worstRatio,
  });
  checkMmInvariants(m);
  checkKsmInvariants(ksm);

  // Everything exits: every frame must come back.
  for (const p of procs) p.exit();
  ksm.runFullScans(1);
  const leaked = bootFree - m.phys.nrFree;
  if (leaked !== 0) fail(`${leaked} frames not freed after every process exited`);
  const kc = ksm.counters();
  if (kc.pages_shared + kc.pages_sharing + kc.pages_unshared + kc.pages_volatile !== 0)
    fail(`KSM counters not zero after exit: ${JSON.stringify(kc)}`);
  metrics.push(
    { name: 'frames in use when populated', unit: 'frames', value: framesInUse },
    { name: 'free-frame drift after each cycle', unit: 'frames', value: 0 },
    { name: 'frames leaked after exit', unit: 'frames', value: leaked },
    { name: 'content storage', unit: 'MiB', value: contentBytes(m) / MiB },
  );
  return { samples, counters, metrics };
}

const soak: Benchmark = {
  name: 'soak',
  description:
    'Scale and soak: 4 GiB of simulated memory in 64 forked processes (64 MiB each), ten merge/unmerge ' +
    'cycles; the free-frame count must return to its starting value after every cycle and to the boot value ' +
    'after exit, and the RSS stay within 10% of contents + 64 bytes per frame.',
  variants({ quick }): Variant[] {
    const mib = totalFor(quick);
    return [{ id: 'default', description: `${fmtMiB(mib)} in ${PROCS} processes, ${CYCLES} cycles` }];
  },
  targets: [
    {
      name: `worst RSS growth / (contents + ${META_PER_FRAME} B per frame) over the cycles`,
      atMost: 1.1,
      source: 'memory stays within 10% of what the contents and metadata need',
    },
    { name: 'frames leaked after exit', atMost: 0 },
  ],
  notes: [
    'Each process maps 64 MiB (--quick: 16 MiB, 1 GiB in all). Page i holds one of 64 contents (i mod 64), ' +
      'the same in every process, except every 8th page, stamped with its process and page number (unique). ' +
      'The parent writes its pages and forks 63 children, each of which rewrites its whole region (COW), so ' +
      'all 64 processes hold private frames.',
    'A cycle: MADV_MERGEABLE in every process, two ksmd full scans (pages_to_scan unlimited, smart_scan 0), ' +
      'MADV_UNMERGEABLE ' +
      'in every process (folio_walk). Throughput rows aggregate the 10 cycles of every repetition. The run ' +
      'fails (no report) if a cycle merges a different number of pages than the first, if the free-frame ' +
      'count after an unmerge differs from before the first merge, if the mm or KSM invariant checkers fail ' +
      'after the last cycle, or if any frame is still in use after every process exited.',
    'RSS growth is measured from before the Machine existed, after a full GC; it is held to the frames in use ' +
      'when populated × (4096 + 64) bytes (content slots are pooled, so RSS stays at that peak while merged).',
    'smart_scan is off: with it, rmap_item ages (never reset, as in mm/ksm.c) pass the skip threshold after a ' +
      'few cycles, and from the 5th cycle on ksmd skips every page and nothing merges.',
    'A repetition takes minutes: `pnpm bench soak --reps 1`.',
  ],
  run,
};

export default soak;
