// scan: ksmd full-scan throughput on 2 GiB of MADV_MERGEABLE memory, the first
// full scan (checksums only: no rmap_item had a checksum yet, so nothing enters the unstable
// tree) and the merging scan reported apart, for three content mixes, next to the live kernel's
// ksmd on the same workload in the same run.
//
// One variant per content mix, each in a fresh Node process. A run does the simulator side and
// then the kernel side (through @mmsim/scenario's oracle, native/oracle.c), so the two are paired
// repetition by repetition and the simulator/kernel ratio is taken per repetition. Page contents
// are the scenario fill patterns, byte-identical in TypeScript and C, and the kernel run checks
// the KSM counters the simulator reached after each scan (`expect` steps), so both engines do the
// same work.

import { MiB, PAGE_SIZE } from '@mmsim/core';
import { KSM_RUN_MERGE, Ksm, type KsmCounters } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, Machine } from '@mmsim/mmu';
import { type FillPattern, fillPage, type Scenario, validateScenario } from '@mmsim/scenario';
import { oracleAvailability } from '@mmsim/scenario/node';
import { fmtMiB } from '../format.ts';
import { runOnKernelTraced } from '../oracle-trace.ts';
import type { BenchContext, Benchmark, CounterSample, Metric, RunResult, Sample, Variant } from '../types.ts';
import { mapAnon } from './anon.ts';

const PAGES = 524_288; // 2 GiB
const PAGES_QUICK = 131_072; // 512 MiB
/** Pages of the JIT warm-up run before the measured one (32 MiB). */
const WARMUP_PAGES = 8192;
/** pages_to_scan "unlimited": one ksmd batch is one full scan (the oracle writes the same). */
const PAGES_TO_SCAN = 1_000_000_000;

const MIXES: Record<string, { pattern: FillPattern; title: string }> = {
  same: { pattern: { kind: 'byte', value: 0x5a }, title: 'all pages the same' },
  ids16: { pattern: { kind: 'ids', count: 16, seed: 7 }, title: '16 contents cycling' },
  unique: { pattern: { kind: 'unique', seed: 7 }, title: 'all pages unique' },
};

const SCANS = ['first scan', 'merging scan'] as const;
/** The KSM counters checked on both engines after each scan. */
const CHECKED = ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile'] as const;

function pagesFor(quick: boolean): number {
  return quick ? PAGES_QUICK : PAGES;
}

interface SimResult {
  seconds: number[];
  counters: Record<string, number>[];
  ksm: Pick<KsmCounters, (typeof CHECKED)[number]>[];
  rssMiB: number;
}

/** The simulator side: fill, MADV_MERGEABLE, two timed full scans. */
function simulate(ctx: BenchContext, pattern: FillPattern, pages: number): SimResult {
  const bytes = pages * PAGE_SIZE;
  const m = new Machine({ memoryMiB: bytes / MiB + 512 });
  const ksm = new Ksm(m);
  ksm.pages_to_scan = PAGES_TO_SCAN;
  ksm.run = KSM_RUN_MERGE;
  const buf = new Uint8Array(PAGE_SIZE);
  const populate = (name: string, n: number): Process => {
    const p = new Process(m, name);
    const addr = mapAnon(p, n * PAGE_SIZE);
    for (let i = 0; i < n; i++) {
      fillPage(pattern, i, n, buf);
      p.writePage(addr + i * PAGE_SIZE, buf);
    }
    p.madvise(addr, n * PAGE_SIZE, MADV_MERGEABLE);
    return p;
  };
  // Warm the JIT on the same scans first (the kernel's ksmd is compiled ahead of time), in a
  // process that exits, then one more full scan reaps its rmap_items and stable nodes, so the
  // measured scans start from KSM's initial state.
  const w = populate('warmup', WARMUP_PAGES);
  ksm.runFullScans(SCANS.length);
  w.exit();
  ksm.runFullScans(1);
  const reaped = ksm.counters();
  if (reaped.pages_shared + reaped.pages_sharing + reaped.pages_unshared !== 0 || ksm.rmap_items !== 0)
    throw new Error('scan: the warm-up left KSM state behind');
  populate('scan', pages);
  const out: SimResult = { seconds: [], counters: [], ksm: [], rssMiB: 0 };
  for (let s = 0; s < SCANS.length; s++) {
    ctx.gc();
    const before = m.counters.snapshot();
    out.seconds.push(ctx.time(() => ksm.runFullScans(1)));
    out.counters.push(m.counters.since(before));
    const c = ksm.counters();
    out.ksm.push({
      pages_shared: c.pages_shared,
      pages_sharing: c.pages_sharing,
      pages_unshared: c.pages_unshared,
      pages_volatile: c.pages_volatile,
    });
  }
  out.rssMiB = ctx.rss() / MiB;
  return out;
}

/** The same workload as a scenario for the live kernel, with the simulator's counters expected. */
function kernelScenario(mix: string, pattern: FillPattern, pages: number, sim: SimResult): Scenario {
  const steps: unknown[] = [
    { op: 'spawn', proc: 'a' },
    { op: 'mmap', proc: 'a', region: 'r', pages },
    { op: 'fill', proc: 'a', region: 'r', pattern },
    { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
  ];
  for (const k of sim.ksm) steps.push({ op: 'ksm_scan', full_scans: 1 }, { op: 'expect', ksm: k });
  return validateScenario({ name: `bench-scan-${mix}`, steps }, `scan ${mix}`).scenario;
}

/** Kernel runs per repetition at most, when the kernel's counters differ from the simulator's. */
const KERNEL_ATTEMPTS = 3;

const SCAN_LINE = /^mmsim-oracle: full scan (\d+) after (\d+) ms$/;

/** The kernel side: one oracle run with MMSIM_ORACLE_TRACE=1; each scan's time from its trace. */
async function onKernel(scenario: Scenario): Promise<{ seconds: number[]; failures: string[] }> {
  const seconds: number[] = [];
  const report = await runOnKernelTraced(scenario, (line) => {
    const m = SCAN_LINE.exec(line.trim());
    // Each ksm_scan step runs exactly one full scan, reported as "full scan 1".
    if (m !== null && m[1] === '1') seconds.push(Number(m[2]) / 1000);
  });
  return { seconds, failures: report.failures.map((f) => `step ${f.step} ${f.op}: ${f.message}`) };
}

const availability = oracleAvailability();

async function run(ctx: BenchContext): Promise<RunResult> {
  const mix = ctx.variant;
  const spec = MIXES[mix];
  if (spec === undefined) throw new Error(`scan: unknown variant '${mix}'`);
  const pages = pagesFor(ctx.quick);
  ctx.gc();
  const sim = simulate(ctx, spec.pattern, pages);
  ctx.gc();

  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  const metrics: Metric[] = [
    { name: 'simulator RSS after the scans', unit: 'MiB', value: sim.rssMiB, label: `simulator ${mix}` },
  ];
  SCANS.forEach((scan, s) => {
    const label = `simulator ${mix}: ${scan}`;
    samples.push({ label, unit: 'page', ops: pages, seconds: sim.seconds[s]! });
    counters.push({ label, unit: 'page', units: pages, counters: sim.counters[s]! });
  });
  if (availability.available && !ctx.simOnly) {
    // A kernel run whose counters differ from the simulator's is run again: on a live machine
    // ksmd can meet a page briefly held elsewhere (one page left pages_volatile was seen once in
    // many runs). A difference that repeats KERNEL_ATTEMPTS times fails the benchmark.
    let k = await onKernel(kernelScenario(mix, spec.pattern, pages, sim));
    let retries = 0;
    while (k.failures.length > 0 && retries < KERNEL_ATTEMPTS - 1) {
      process.stderr.write(
        `scan ${mix}: kernel counters differ (${k.failures.join('; ')}); running the kernel side again\n`,
      );
      retries++;
      k = await onKernel(kernelScenario(mix, spec.pattern, pages, sim));
    }
    if (k.failures.length > 0) {
      throw new Error(
        `scan ${mix}: the kernel's counters differ from the simulator's in ${KERNEL_ATTEMPTS} runs: ${k.failures.join('; ')}`,
      );
    }
    if (k.seconds.length !== SCANS.length) {
      throw new Error(
        `scan: the oracle's trace gave ${k.seconds.length} scan timings, expected ${SCANS.length}`,
      );
    }
    metrics.push({
      name: 'kernel runs repeated for a counter difference',
      unit: 'runs',
      value: retries,
      label: `kernel ${mix}`,
    });
    SCANS.forEach((scan, s) => {
      samples.push({ label: `kernel ${mix}: ${scan}`, unit: 'page', ops: pages, seconds: k.seconds[s]! });
      metrics.push({
        name: 'simulator/kernel',
        unit: 'x',
        value: k.seconds[s]! / sim.seconds[s]!,
        label: `${mix}: ${scan}`,
      });
    });
  }
  return { samples, counters, metrics };
}

const scan: Benchmark = {
  name: 'scan',
  description:
    'ksmd full-scan throughput (pages/s) on 2 GiB of MADV_MERGEABLE anonymous memory (one process, 4 KiB ' +
    'pages, pages_to_scan unlimited so one batch is one full scan, max_page_sharing 256, use_zero_pages 0, ' +
    'smart_scan 1): the first full scan (checksums only) and the merging scan apart, for three content mixes, ' +
    "next to the live kernel's ksmd on the same workload in the same run.",
  variants({ quick }): Variant[] {
    return Object.entries(MIXES).map(([id, m]) => ({
      id,
      description: `${fmtMiB((pagesFor(quick) * PAGE_SIZE) / MiB)}, ${m.title}`,
    }));
  },
  targets: [
    { name: 'simulator/kernel', atLeast: 3, source: 'at least 3x the live kernel, scan by scan (issue 16)' },
  ],
  notes: [
    'Contents: same = every byte 0x5a; ids16 = 16 distinct pages cycling (scenario pattern ids, count 16); ' +
      'unique = every page different (pattern unique). The bytes are the scenario fill patterns, identical in ' +
      "the simulator and in the oracle's C program.",
    'first scan: every page gets an rmap_item and a checksum (xxh64) and, having no previous checksum, stays ' +
      'out of the unstable tree. merging scan: the checksum is recomputed, equal, so each page is searched in ' +
      'the stable and unstable trees and merged (same, ids16) or left unshared (unique).',
    'The simulator side runs first in the process; the kernel side then runs the same workload as a scenario ' +
      'through native/oracle.c with MMSIM_ORACLE_TRACE=1 and each scan is timed from its trace line ' +
      "('full scan 1 after N ms': from waking ksmd to the full_scans counter moving, polled every 0.3 ms, so ±1 ms). " +
      'After each scan the kernel run expects the KSM counters (pages_shared, pages_sharing, pages_unshared, ' +
      'pages_volatile) the simulator reached; a mismatch fails the benchmark.',
    "What the simulator's timed scans do not include: the simulator stores a written page's bytes once per " +
      'distinct content, found by its xxh64, which it computes when the page is written (here while populating, ' +
      "untimed) and keeps with the content as the page's checksum, so its calc_checksum() in the first scan reads " +
      'that cached value (bytesHashed still counts 4 KiB per page, as the kernel hashes). The kernel computes it ' +
      'in the first scan (xxh64 over 4 KiB, a large part of its first-scan time per page), and again in the merging scan, ' +
      'where the simulator reads its cache again.',
    'simulator/kernel: the kernel scan time divided by the simulator scan time, per repetition (> 1: the ' +
      'simulator is faster). Measured on these machines before: first scan ~750,000 pages/s, merging scan ' +
      '~150,000 pages/s for one content and ~100,000 for all-unique pages.',
    availability.available
      ? 'Kernel side: available (root, /sys/kernel/mm/ksm writable).'
      : `Kernel side: **skipped** — ${availability.reason}.`,
    `--quick uses ${fmtMiB((PAGES_QUICK * PAGE_SIZE) / MiB)} (${PAGES_QUICK.toLocaleString('en-US')} pages) instead of 2 GiB on both sides.`,
  ],
  run,
};

export default scan;
