// `pnpm --filter @mmsim/bench calibrate [--out FILE] [--quick]`: fits the ksmd cost model `mmsim
// predict` uses from the live kernel's ksmd (root). Two kinds of measurement, each run by the
// oracle (native/oracle.c, its lock and knob journal) on the same workload the simulator runs:
//
// - full scans in one batch each (pages_to_scan above the page count, sleep_millisecs long enough
//   to see ksmd asleep between them), for content mixes that exercise the checksum, the tree
//   searches and the merges differently, and compares whose memcmp() stops early or late (pages
//   that differ in their first word, and mostly-zero pages that differ only near their middle or
//   end, as real heaps do): ksmd's CPU time per full scan (/proc/<ksmd>/schedstat) against the
//   simulator's deterministic counters for the same scan;
// - ksmd at small batches over wall time: its CPU time for the pages it scanned (the per-batch
//   cost), and how many pages it got through (the wake-up latency after each sleep).
//
// The per-feature costs are a non-negative least-squares fit of relative errors; the wake-up
// latency is found by bisection so that the simulated ksmd scans as many pages in the same time.

import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg, release } from 'node:os';
import { PAGE_SIZE } from '@mmsim/core';
import {
  emptyKsmdWork,
  KSMD_COST_FEATURES,
  type KsmdCostModel,
  KsmdThread,
  type KsmdWork,
  ksmdWorkNs,
} from '@mmsim/ksm';
import {
  applyKnobs,
  type FillPattern,
  type KsmdCostFile,
  runOnSimulator,
  type Scenario,
  type SimulatorContext,
  validateScenario,
} from '@mmsim/scenario';
import { hostMemory, KSMD_COST_FILE, type KsmdSample, loadKsmdCost, runOnKernel } from '@mmsim/scenario/node';
import { Command } from 'commander';
import { fitCosts, type KsmdFitRow } from './ksmd-fit.ts';

/** One full scan per batch: a batch larger than any workload here. */
const ONE_BATCH = 1_000_000;
/** ksmd's sleep between the one-batch full scans: long enough to sample it asleep. */
const SCAN_SLEEP_MS = 300;
const SCAN_SAMPLE_MS = 25;
/** Full scans measured per mix (the first two differ: checksums only, then the merges; from the
 * fifth smart scan skips the pages that never merge). */
const SCANS = 6;
const NS_PER_MS = 1e6;
/** The timer frequency the kernel was built with (CONFIG_HZ): read from its config when there. */
const DEFAULT_HZ = 250;
/** Bisection steps for the wake-up latency, and its upper bound. */
const LATENCY_STEPS = 20;
const MAX_LATENCY_NS = 20 * NS_PER_MS;

/** The one-batch workloads: a content mix, its size (two sizes tell per-page from per-scan
 * costs), and the longest one of its full scans may take in wall time here (ksmd runs at nice 5:
 * on a loaded machine a 0.4 s scan of unique pages took 2.4 s). `file`: the region maps a file
 * of the pattern privately instead, read whole, with FILE_COW_PAGES of it written (an anon_vma,
 * so ksmd walks it): the walk over page-cache pages, as in every binary and library a real
 * process maps (`nonanon`). */
const MIXES: {
  mix: string;
  pattern: FillPattern;
  pages: number;
  scanMs: number;
  file?: boolean;
  prefixAt?: number;
}[] = [
  { mix: 'same', pattern: { kind: 'byte', value: 0x5a }, pages: 65_536, scanMs: 1000 },
  { mix: 'same', pattern: { kind: 'byte', value: 0x5a }, pages: 16_384, scanMs: 500 },
  { mix: 'zero', pattern: { kind: 'zero' }, pages: 32_768, scanMs: 800 },
  { mix: 'ids64', pattern: { kind: 'ids', count: 64, seed: 7 }, pages: 65_536, scanMs: 1200 },
  { mix: 'ids4096', pattern: { kind: 'ids', count: 4096, seed: 7 }, pages: 32_768, scanMs: 1200 },
  { mix: 'unique', pattern: { kind: 'unique', seed: 7 }, pages: 16_384, scanMs: 1500 },
  { mix: 'unique', pattern: { kind: 'unique', seed: 7 }, pages: 65_536, scanMs: 3000 },
  { mix: 'pagecache', pattern: { kind: 'byte', value: 0x3c }, pages: 65_536, scanMs: 800, file: true },
  { mix: 'pagecache', pattern: { kind: 'byte', value: 0x3c }, pages: 16_384, scanMs: 400, file: true },
  { mix: 'tail', pattern: { kind: 'zero' }, pages: 16_384, scanMs: 2000, prefixAt: PAGE_SIZE - 1 },
  { mix: 'middle', pattern: { kind: 'zero' }, pages: 16_384, scanMs: 1500, prefixAt: PAGE_SIZE / 2 },
  { mix: 'tail', pattern: { kind: 'zero' }, pages: 4096, scanMs: 800, prefixAt: PAGE_SIZE - 1 },
];
/** Distinct byte values a `prefixAt` mix writes at one offset (1..255) before moving one byte
 * down: the k-th content gets 1 + k % PREFIX_VALUES at prefixAt - floor(k / PREFIX_VALUES), so all
 * its pages differ, and any two agree on (about) their first prefixAt bytes. */
const PREFIX_VALUES = 255;
/** Page i holds the (i * PREFIX_STRIDE mod pages)-th content (odd: a permutation of the
 * power-of-two page counts), so that the unstable tree is filled in scattered memcmp order, as
 * the `unique` mix's is: the same tree shape and cache misses per compare, only the bytes
 * memcmp() reads differ (in memcmp order the tree's right spine stays hot and compares cost
 * less). */
const PREFIX_STRIDE = 40_503;
/** Pages of a `file` mix written (anonymous COW copies, identical: they merge). */
const FILE_COW_PAGES = 16;
/** Pages per process of the mixed workload's wall-time runs (`--quick` too: what a small batch
 * costs depends on the trees it searches, so their size is what predictions meet). */
const MIXED_PAGES_PER_PROC = 16_384;
/** Pages per process of the `a full scan every batch` run: four processes, 256 pages. */
const SMALL_PAGES_PER_PROC = 64;

/** A layout of processes laid out as real ones: processes, VMAs each (separated by a PROT_NONE
 * page, as a real process's mappings are by guards and holes), and pages per VMA. */
type Scattered = Record<'procs' | 'vmas' | 'pages', number>;
/** About the anonymous memory of three Node.js or Python interpreters, which ksmd scans fully
 * every 50 batches at the default knobs, so that from the fourth scan smart scan skips most pages. */
const SCATTERED: Scattered = { procs: 3, vmas: 32, pages: 56 };
/** As many pages in VMAs of five pages: what entering a VMA costs (`vmas`; a real process has
 * about a hundred, most of them small). */
const MANY_VMAS: Scattered = { procs: 3, vmas: 384, pages: 5 };
/** Processes of the `heap of alternating pages` run, and pages per process. */
const ALTERNATING_PROCS = 3;
const ALTERNATING_PAGES = 4096;
/** Distinct contents of its shared pages. */
const ALTERNATING_SHARED = 16;
/** Its permutation's seed. */
const SCATTER_SEED = 1;
/** Distinct contents of its shared (`ids`) VMAs. */
const SCATTERED_IDS = 64;

/** Small-batch runs over wall time: knobs, and the workload (pages per process of the mixed
 * workload, `pagesPerProc` overriding the default size; or `scattered`: processes laid out as real
 * ones). */
const TIMED: {
  what: string;
  knobs: Record<string, number>;
  seconds: number;
  pagesPerProc?: number;
  scattered?: Scattered;
  /** Or processes whose pages alternate page by page (alternatingScenario()): pages per process. */
  alternating?: number;
  /** How much more than the other wall-time runs it counts in the fit (default 1). */
  weight?: number;
}[] = [
  { what: 'default knobs', knobs: { pages_to_scan: 100, sleep_millisecs: 20 }, seconds: 30 },
  { what: 'pages_to_scan 1000', knobs: { pages_to_scan: 1000, sleep_millisecs: 20 }, seconds: 20 },
  // what a batch costs beyond its pages (the wake-up, the mutex, the timer): the scan-time
  // advisor starts at 10 pages a batch on a machine whose ksmd has run before
  { what: 'pages_to_scan 10', knobs: { pages_to_scan: 10, sleep_millisecs: 20 }, seconds: 20 },
  // what a full scan's start and end cost beyond its pages (lru_add_drain_all(), the unstable
  // tree's reset): a workload smaller than a batch, so every batch is a full scan, as for small
  // processes (a few Node.js or Python interpreters take a full scan every ten batches)
  {
    what: 'a full scan every batch',
    knobs: { pages_to_scan: 300, sleep_millisecs: 20 },
    seconds: 20,
    pagesPerProc: SMALL_PAGES_PER_PROC,
  },
  // what ksmd does to most real processes: an unstable tree searched 100 pages at a time after
  // each sleep, most pages skipped by smart scan from the fourth full scan, in several processes
  // of many VMAs over frames in no physical order; where a batch pays for the trees it finds
  // cold (`cold`), and for the pages it passes over (`skipped`) away from one-batch scans' caches
  {
    what: 'small processes laid out as real ones',
    knobs: { pages_to_scan: 100, sleep_millisecs: 20 },
    seconds: 30,
    scattered: SCATTERED,
    // the run most like the processes predictions are made for (fitted at 1, the model was
    // 9% low on it and 7% low on three copies of a C program, Node.js and Python)
    weight: 4,
  },
  // as many pages in small VMAs: 2,300 VMAs entered per full scan, where the run above enters 190
  {
    what: 'small processes of many small VMAs',
    knobs: { pages_to_scan: 100, sleep_millisecs: 20 },
    seconds: 30,
    scattered: MANY_VMAS,
    weight: 2,
  },
  // a heap whose pages alternate: each batch mixes unstable-tree searches with merged pages
  {
    what: 'a heap of alternating pages',
    knobs: { pages_to_scan: 100, sleep_millisecs: 20 },
    seconds: 30,
    alternating: ALTERNATING_PAGES,
    weight: 2,
  },
];

function mixScenario(
  mix: string,
  pattern: FillPattern,
  pages: number,
  knobs: Record<string, number>,
  file = false,
  prefixAt?: number,
): Scenario {
  const populate: unknown[] = file
    ? [
        { op: 'mmap', proc: 'a', region: 'r', pages, file: mix, file_fill: pattern },
        { op: 'touch', proc: 'a', region: 'r' },
        { op: 'fill', proc: 'a', region: 'r', count: FILE_COW_PAGES, pattern: { kind: 'byte', value: 1 } },
      ]
    : [
        { op: 'mmap', proc: 'a', region: 'r', pages },
        { op: 'fill', proc: 'a', region: 'r', pattern },
      ];
  if (prefixAt !== undefined)
    for (let i = 0; i < pages; i++) {
      const k = (i * PREFIX_STRIDE) % pages;
      populate.push({
        op: 'write',
        proc: 'a',
        region: 'r',
        page: i,
        offset: prefixAt - Math.floor(k / PREFIX_VALUES),
        value: 1 + (k % PREFIX_VALUES),
      });
    }
  return validateScenario(
    {
      name: `calibrate-${mix}`,
      ksm: knobs,
      steps: [
        { op: 'spawn', proc: 'a' },
        ...populate,
        { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
      ],
    },
    `calibrate ${mix}`,
  ).scenario;
}

/** Processes laid out as real ones: `vmas` mappings each, a PROT_NONE page between two (so that
 * they stay apart VMAs), every page first written in a random order (a seeded permutation over
 * the process), so that the page allocator hands frames out in no order relative to addresses.
 * Of every eight VMAs five hold unique pages, two contents all processes share, one zero pages. */
function scatteredScenario(knobs: Record<string, number>, layout: Scattered): Scenario {
  const { procs, vmas, pages } = layout;
  let seed = SCATTER_SEED;
  const steps: unknown[] = [];
  for (let p = 0; p < procs; p++) {
    const proc = `p${p}`;
    steps.push({ op: 'spawn', proc });
    const order: [string, number][] = [];
    for (let v = 0; v < vmas; v++) {
      steps.push(
        { op: 'mmap', proc, region: `r${v}`, pages },
        { op: 'mmap', proc, region: `g${v}`, pages: 1, prot: 'none' },
      );
      for (let i = 0; i < pages; i++) order.push([`r${v}`, i]);
    }
    for (let i = order.length - 1; i > 0; i--) {
      // a 32-bit LCG (Numerical Recipes): deterministic, and enough to scatter frames
      seed = (Math.imul(seed, 1_664_525) + 1_013_904_223) >>> 0;
      const j = seed % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    for (const [region, page] of order) steps.push({ op: 'write', proc, region, page, value: 1 });
    for (let v = 0; v < vmas; v++) {
      const kind = v % 8;
      const pattern: FillPattern =
        kind < 5
          ? { kind: 'unique', seed: 100 * p + v }
          : kind < 7
            ? { kind: 'ids', count: SCATTERED_IDS, seed: v }
            : { kind: 'zero' };
      steps.push(
        { op: 'fill', proc, region: `r${v}`, pattern },
        { op: 'madvise', proc, region: `r${v}`, advice: 'MADV_MERGEABLE' },
      );
    }
  }
  return validateScenario({ name: 'calibrate-scattered', ksm: knobs, steps }, 'calibrate scattered').scenario;
}

/** ALTERNATING_PROCS processes whose pages alternate page by page as a heap's do, written in address order:
 * unique, zero, shared (one of ALTERNATING_SHARED contents), unique, zero, ... */
function alternatingScenario(knobs: Record<string, number>, pages: number): Scenario {
  const steps: unknown[] = [];
  for (let p = 0; p < ALTERNATING_PROCS; p++) {
    const proc = `p${p}`;
    steps.push(
      { op: 'spawn', proc },
      { op: 'mmap', proc, region: 'h', pages },
      { op: 'fill', proc, region: 'h', pattern: { kind: 'unique', seed: 200 + p } },
    );
    for (let i = 1; i < pages; i += 3) {
      const shared = { kind: 'byte', value: 1 + (Math.floor(i / 3) % ALTERNATING_SHARED) };
      steps.push(
        { op: 'fill', proc, region: 'h', from: i, count: 1, pattern: { kind: 'zero' } },
        { op: 'fill', proc, region: 'h', from: i + 1, count: 1, pattern: shared },
      );
    }
    steps.push({ op: 'madvise', proc, region: 'h', advice: 'MADV_MERGEABLE' });
  }
  return validateScenario({ name: 'calibrate-alternating', ksm: knobs, steps }, 'calibrate alternating')
    .scenario;
}

/** A workload of several processes with shared, unique and zero pages, as `mmsim predict` sees. */
function mixedScenario(pagesPerProc: number, knobs: Record<string, number>): Scenario {
  const steps: unknown[] = [];
  const procs = ['a', 'b', 'c', 'd'];
  for (const p of procs) steps.push({ op: 'spawn', proc: p });
  procs.forEach((p, i) => {
    const z = pagesPerProc / 8;
    const u = pagesPerProc / 4;
    const s = pagesPerProc - z - u;
    steps.push(
      { op: 'mmap', proc: p, region: 'z', pages: z },
      { op: 'fill', proc: p, region: 'z', pattern: { kind: 'zero' } },
      { op: 'mmap', proc: p, region: 's', pages: s },
      { op: 'fill', proc: p, region: 's', pattern: { kind: 'ids', count: s / 8, seed: 3 } },
      { op: 'mmap', proc: p, region: 'u', pages: u },
      { op: 'fill', proc: p, region: 'u', pattern: { kind: 'unique', seed: 11 + i } },
    );
  });
  for (const p of procs)
    for (const r of ['z', 's', 'u'])
      steps.push({ op: 'madvise', proc: p, region: r, advice: 'MADV_MERGEABLE' });
  return validateScenario({ name: 'calibrate-mixed', ksm: knobs, steps }, 'calibrate mixed').scenario;
}

/** The scenario on the simulator: its context at the end. */
function simulate(scenario: Scenario): SimulatorContext {
  let ctx: SimulatorContext | null = null;
  runOnSimulator(validateScenario(scenario, scenario.name), {
    host: hostMemory(),
    afterStep: (c) => {
      ctx = c;
    },
  });
  return ctx as unknown as SimulatorContext;
}

async function kernelSamples(scenario: Scenario, ms: number, sampleMs: number): Promise<KsmdSample[]> {
  const samples: KsmdSample[] = [];
  const report = await runOnKernel(scenario, {
    ksmdFor: { ms, sampleMs, onSample: (s) => samples.push(s) },
  });
  if (!report.ok) throw new Error(`${scenario.name}: ${report.failures.map((f) => f.message).join('; ')}`);
  if (samples.length === 0 || samples[0]!.runtimeNs < 0)
    throw new Error(`${scenario.name}: no ksmd CPU samples (schedstat missing?)`);
  return samples;
}

/** ksmd's CPU time of each full scan: between the samples where full_scans first reached k-1 and k. */
function perScanNs(samples: KsmdSample[]): number[] {
  const base = samples[0]!.full_scans;
  const at = new Map<number, number>();
  for (const s of samples) if (!at.has(s.full_scans - base)) at.set(s.full_scans - base, s.runtimeNs);
  const out: number[] = [];
  for (let k = 1; at.has(k); k++) out.push(at.get(k)! - at.get(k - 1)!);
  return out;
}

/** The simulator's work for each of `n` full scans of one batch each. */
function simulatedScans(scenario: Scenario, n: number): KsmdWork[] {
  const ksm = simulate(scenario).ksm;
  applyKnobs(ksm, { pages_to_scan: String(ONE_BATCH) });
  const t = new KsmdThread(ksm, { ns: emptyKsmdWork(), hz: DEFAULT_HZ, wakeupLatencyNs: 0 });
  const out: KsmdWork[] = [];
  for (let k = 0; k < n; k++) {
    const before = { ...t.work };
    ksm.ksm_do_scan(ksm.pages_to_scan);
    t.cpuNs();
    const w = emptyKsmdWork();
    for (const f of KSMD_COST_FEATURES) w[f] = t.work[f] - before[f];
    out.push({ ...w, batches: 1 });
  }
  return out;
}

/** The simulator's work for as many pages as the kernel's ksmd scanned at these knobs. */
function simulatedPages(scenario: Scenario, pages: number, model: KsmdCostModel): KsmdWork {
  const ctx = simulate(scenario);
  ctx.ksm.run = 1;
  const t = new KsmdThread(ctx.ksm, model);
  while (t.work.pages < pages && Number.isFinite(t.nextBatchNs)) {
    t.runUntil(t.nextBatchNs);
    t.cpuNs();
  }
  return { ...t.work };
}

/** Pages the simulated ksmd scans in `ms` with this model. */
function simulatedPagesIn(scenario: Scenario, ms: number, model: KsmdCostModel): number {
  const ctx = simulate(scenario);
  ctx.ksm.run = 1;
  const t = new KsmdThread(ctx.ksm, model);
  t.runUntil(ms * NS_PER_MS);
  return ctx.ksm.pages_scanned;
}

function configHz(): number {
  try {
    const text = readFileSync(`/boot/config-${release()}`, 'utf8');
    const m = /^CONFIG_HZ=(\d+)$/m.exec(text);
    if (m !== null) return Number(m[1]);
  } catch {}
  return DEFAULT_HZ;
}

async function main(): Promise<void> {
  const program = new Command('calibrate')
    .description("fit mmsim predict's ksmd cost model on the live kernel (root)")
    .option('--out <file>', 'where to write the model', KSMD_COST_FILE)
    .option('--quick', 'one-batch scans of quarter-size workloads, wall-time runs half as long', false)
    .option(
      '--refit <files...>',
      "fit again on earlier calibrations' kernel measurements (each measurement's mean over the files), without running the kernel: after the simulator counts a new feature, or to average out a noisy machine",
    )
    .parse();
  const o = program.opts<{ out: string; quick: boolean; refit?: string[] }>();
  const hz = configHz();
  const rows: KsmdFitRow[] = [];
  const earlierFiles = (o.refit ?? []).map((f) => loadKsmdCost(f));
  const earlier = earlierFiles[0] ?? null;
  /** The earlier calibrations' mean of a measurement (its kernel time and the pages the kernel
   * scanned in it), by its name. */
  const recorded = (what: string): { kernelNs: number; pages: number } | undefined => {
    const found = earlierFiles.flatMap((e) => e.fit.filter((r) => r.what === what));
    if (found.length === 0) return undefined;
    const mean = (f: (r: (typeof found)[number]) => number): number =>
      found.reduce((a, r) => a + f(r), 0) / found.length;
    return { kernelNs: mean((r) => r.kernelNs), pages: Math.round(mean((r) => r.work.pages!)) };
  };
  for (const { mix, pattern, pages: size, scanMs, file, prefixAt } of MIXES) {
    const n = o.quick ? size / 4 : size;
    const knobs = { pages_to_scan: ONE_BATCH, sleep_millisecs: SCAN_SLEEP_MS };
    const sc = mixScenario(mix, pattern, n, knobs, file, prefixAt);
    const kernel =
      earlier === null
        ? perScanNs(await kernelSamples(sc, SCANS * (SCAN_SLEEP_MS + scanMs), SCAN_SAMPLE_MS))
        : Array.from(
            { length: SCANS },
            (_, k) => recorded(`${mix} ${n} pages: full scan ${k + 1}`)?.kernelNs,
          ).filter((ns) => ns !== undefined);
    const sim = simulatedScans(sc, Math.min(SCANS, kernel.length));
    sim.forEach((work, k) => {
      rows.push({ what: `${mix} ${n} pages: full scan ${k + 1}`, work, kernelNs: kernel[k]! });
    });
    process.stderr.write(
      `calibrate: ${mix} ${n}: ${kernel.map((ns) => (ns / NS_PER_MS).toFixed(1)).join(' ')} ms\n`,
    );
  }
  const timed: { sc: Scenario; ms: number; pages: number; what: string; weight: number }[] = [];
  for (const t of TIMED) {
    const sc = t.scattered
      ? scatteredScenario(t.knobs, t.scattered)
      : t.alternating !== undefined
        ? alternatingScenario(t.knobs, t.alternating)
        : mixedScenario(t.pagesPerProc ?? MIXED_PAGES_PER_PROC, t.knobs);
    const ms = (o.quick ? t.seconds / 2 : t.seconds) * 1000;
    const what = `${t.what}, ${ms / 1000} s`;
    let kernelNs: number;
    let scanned: number;
    let lastMs = ms;
    if (earlier === null) {
      const s = await kernelSamples(sc, ms, 1000);
      const first = s[0]!;
      const last = s[s.length - 1]!;
      scanned = last.pages_scanned - first.pages_scanned;
      kernelNs = last.runtimeNs - first.runtimeNs;
      lastMs = last.ms;
    } else {
      const row = recorded(what);
      if (row === undefined) continue;
      // the simulator ran as many pages as the kernel scanned
      scanned = row.pages;
      kernelNs = row.kernelNs;
    }
    const probe: KsmdCostModel = { ns: emptyKsmdWork(), hz, wakeupLatencyNs: 0 };
    const work = simulatedPages(sc, scanned, probe);
    rows.push({ what, work, kernelNs });
    timed.push({ sc, ms: lastMs, pages: scanned, what: t.what, weight: t.weight ?? 1 });
    process.stderr.write(
      `calibrate: ${t.what}: ${scanned} pages, ${(kernelNs / NS_PER_MS).toFixed(0)} ms CPU\n`,
    );
  }
  // The wall-time runs are what predictions are made of (small batches, each after a sleep, with
  // its caches gone cold): they count as much as all the one-batch scans together.
  const scanRows = rows.length - timed.length;
  rows.slice(scanRows).forEach((r, i) => {
    r.weight = (scanRows / timed.length) * timed[i]!.weight;
  });
  const ns = fitCosts(rows);
  // The wake-up latency: the one at which the simulated ksmd scans as many pages as the kernel's
  // did, on the default-knob run (the one whose sleeps dominate).
  const t0 = timed[0]!;
  let lo = 0;
  let hi = MAX_LATENCY_NS;
  for (let i = 0; i < LATENCY_STEPS; i++) {
    const mid = (lo + hi) / 2;
    const got = simulatedPagesIn(t0.sc, t0.ms, { ns, hz, wakeupLatencyNs: mid });
    if (got > t0.pages) lo = mid;
    else hi = mid;
  }
  const model: KsmdCostModel = { ns, hz, wakeupLatencyNs: Math.round((lo + hi) / 2) };
  const c = cpus();
  const file: KsmdCostFile = {
    format: 'mmsim-ksmd-cost-2',
    // a refit keeps where and when its measurements were taken
    machine: earlier?.machine ?? {
      kernel: release(),
      cpu: c[0]?.model.trim() ?? 'unknown',
      cores: c.length,
      hostname: hostname(),
      load: Number(loadavg()[0]!.toFixed(2)),
    },
    measuredAt: earlier?.measuredAt ?? new Date().toISOString(),
    model,
    fit: rows.map((r) => ({
      what: r.what,
      work: { ...r.work },
      kernelNs: r.kernelNs,
      modelNs: Math.round(ksmdWorkNs(model, r.work)),
    })),
  };
  writeFileSync(o.out, `${JSON.stringify(file, null, 2)}\n`);
  process.stderr.write(`calibrate: wrote ${o.out}\n`);
  for (const r of file.fit) {
    const err = ((r.modelNs - r.kernelNs) / r.kernelNs) * 100;
    process.stderr.write(
      `  ${r.what.padEnd(40)} kernel ${(r.kernelNs / NS_PER_MS).toFixed(2)} ms  model ${(r.modelNs / NS_PER_MS).toFixed(2)} ms  ${err >= 0 ? '+' : ''}${err.toFixed(1)}%\n`,
    );
  }
  process.stderr.write(`  ${JSON.stringify(model)}\n`);
}

await main();
