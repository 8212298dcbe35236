// ksm_scan_thread() (mm/ksm.c 6.18) over simulated wall time: ksmd runs ksm_do_scan(pages_to_scan)
// batches and sleeps sleep_millisecs between them, each batch taking the CPU time a cost model
// calibrated on a real kernel gives for the work the simulator counted in it. The sleep is the
// kernel's: wait_event_freezable_timeout(msecs_to_jiffies(sleep_millisecs)) on a timer-wheel
// timer, which fires on the tick after the one msecs_to_jiffies() ends on (kernel/time/timer.c
// calc_index() rounds a level-0 expiry up by one jiffy so that no timer fires early), and ksmd
// then runs after the scheduler's wake-up latency. That latency varies from one wake-up to the
// next (ksmd runs at nice 5 and waits for a CPU behind whatever else is runnable): it is drawn
// from an exponential distribution of the model's mean, at deterministic quantiles (a golden-ratio
// sequence), so that the share of sleeps whose batch ends past the next tick -- one jiffy more
// per cycle -- is the distribution's, not all or nothing as with one fixed latency.

import { PAGE_SIZE, VM_BUG_ON } from '@mmsim/core';
import type { Ksm } from './ksm.ts';
import { KsmdSteady, type SteadyBatch } from './ksmd_steady.ts';

const NS_PER_SEC = 1e9;
const NS_PER_MS = 1e6;
/** A replayed period must start its last batch this long before the fast-forward's end: the
 * look-ahead's sums may differ from the replay's in the last bit. */
const FIT_MARGIN_NS = NS_PER_MS;

/** The work a ksmd batch does that the cost model charges for (deterministic counters). */
export const KSMD_COST_FEATURES = [
  /** ksmd loop iterations: the wake-up, ksm_thread_mutex, the timer. */
  'batches',
  /** full scans completed (lru_add_drain_all() and the unstable tree reset at each start). */
  'scans',
  /** pages ksm_do_scan() handled (the walk, get_next_rmap_item(), cmp_and_merge_page()). */
  'pages',
  /** pages smart scan passed over (the walk, get_next_rmap_item(), should_skip_rmap_item() and
   * the removal from the unstable tree): most pages of a long-running steady workload. */
  'skipped',
  /** pages checksummed (calc_checksum(): xxhash of 4 KiB). */
  'hashed',
  /** memcmp_pages() calls in tree searches and merges (Counters.pagesCompared). */
  'compares',
  /** what memcmp_pages() read, in 4 KiB: each call reads both pages up to the first differing
   * 8-byte word (the whole page when they are equal; Counters.bytesCompared). */
  'compared',
  /** compares whose tree page the batch had not compared before (Counters.pagesComparedCold):
   * after ksmd's sleep, the tree's pages, struct pages and page tables are no longer in the CPU
   * cache, so a small batch pays a memory load for each node it first descends through, where a
   * long batch finds the top of the trees cached. */
  'cold',
  /** TLB flushes: write_protect_page() and replace_page() of merges. */
  'flushes',
  /** present pages that are not anonymous (the page cache of private file mappings: binaries,
   * libraries) the scan's walk looked at and passed over (ksmScanNonAnon): no rmap_item, not in
   * pages_scanned, but the walk's CPU. */
  'nonanon',
  /** VMAs the scan entered (Counters.ksmScanVmas): a real process has about a hundred
   * (binary, libraries, heaps, stacks, guards), and ksmd enters each once per full scan. */
  'vmas',
] as const;
export type KsmdCostFeature = (typeof KSMD_COST_FEATURES)[number];
export type KsmdWork = Record<KsmdCostFeature, number>;

/** What one ksmd batch costs on a given machine and kernel, and how its sleeps behave there. */
export interface KsmdCostModel {
  /** CPU nanoseconds per unit of each feature. */
  ns: KsmdWork;
  /** CONFIG_HZ of the kernel: the jiffy a sleep is rounded to. */
  hz: number;
  /** From the timer tick that ends a sleep to ksmd running, in nanoseconds: the mean of the
   * (exponential) wake-up latency. */
  wakeupLatencyNs: number;
}

/** The zero work record (a fresh object). */
export function emptyKsmdWork(): KsmdWork {
  return {
    batches: 0,
    scans: 0,
    pages: 0,
    skipped: 0,
    hashed: 0,
    compares: 0,
    compared: 0,
    cold: 0,
    flushes: 0,
    nonanon: 0,
    vmas: 0,
  };
}

/** The CPU time (ns) the model gives to `work`. */
export function ksmdWorkNs(model: KsmdCostModel, work: KsmdWork): number {
  let ns = 0;
  for (const f of KSMD_COST_FEATURES) ns += model.ns[f] * work[f];
  return ns;
}

/** The fractional part of the golden ratio: k * GOLDEN mod 1 spreads evenly over [0, 1). */
const GOLDEN = (Math.sqrt(5) - 1) / 2;

/** The k-th wake-up latency (k >= 0) of an exponential distribution with this mean: its quantile
 * at the k-th point of the golden-ratio sequence (never 1, so the latency is finite). */
export function wakeupLatencyNs(meanNs: number, k: number): number {
  if (meanNs === 0) return 0;
  const u = ((k + 1) * GOLDEN) % 1;
  return -meanNs * Math.log1p(-u);
}

/** msecs_to_jiffies() at the model's HZ. */
function msecs_to_jiffies(ms: number, hz: number): number {
  return Math.ceil((ms * hz) / 1000);
}

/**
 * ksmd over wall time for one Ksm. Time 0 is when run=1 was written: ksmd, woken by it, starts
 * its first batch at once. Call runUntil() with increasing times; read counters between calls.
 * While it exists it owns the Ksm's clocks (ksmd_clock, which the scan-time advisor reads, and the
 * machine's virtual clock, which chain pruning reads).
 */
export class KsmdThread {
  readonly ksm: Ksm;
  readonly model: KsmdCostModel;
  /** The work done since time 0 (cumulative). */
  readonly work: KsmdWork = emptyKsmdWork();
  /** When the next batch starts (ns); Infinity while ksmd waits for something to scan. */
  nextBatchNs = 0;
  /** The counters at time 0. */
  private readonly base: KsmdWork;
  /** The machine's jiffies at time 0 (its virtual clock is HZ=1000: a jiffy is a millisecond). */
  private readonly baseJiffies: number;
  /** Wake-ups after a timed sleep so far (the index into the latency sequence). */
  private wakeups = 0;
  private batchStartNs = 0;
  private batchStartCpu = 0;
  private readonly tickNs: number;
  /**
   * Simulator only: replay proven steady periods of full scans (ksmd_steady.ts) instead of
   * simulating them page by page, for periods whose last batch starts by this time (ns), so that
   * a run to it leaves the machine exactly as a page-by-page run. 0 (the default): simulate every
   * batch. No knob may be written while it is set (predictKsmd writes them before).
   */
  fastForwardUntilNs = 0;
  /** Batches replayed so far (simulator only: a counter of the fast-forward's use). */
  replayedBatches = 0;
  private steady: KsmdSteady | null = null;
  /** The batch of the period being replayed, or -1. */
  private replayAt = -1;

  /**
   * `runtimeBeforeNs`: ksmd's CPU time before time 0 (its sched_runtime since boot), which
   * task_sched_runtime() includes: the scan-time advisor's first decision after it is switched on
   * divides all of it by the first scan's time (advisor_ctx.cpu_time starts at 0), so on a
   * machine whose ksmd has run a while that first decision is pages_to_scan = 10.
   */
  constructor(ksm: Ksm, model: KsmdCostModel, runtimeBeforeNs = 0) {
    this.ksm = ksm;
    this.model = model;
    this.tickNs = NS_PER_SEC / model.hz;
    this.base = this.counted();
    this.baseJiffies = ksm.m.clock.jiffies;
    ksm.ksmd_clock = {
      ktime_ns: () => this.batchStartNs + (this.cpuNs() - this.batchStartCpu),
      sched_runtime_ns: () => runtimeBeforeNs + this.cpuNs(),
    };
  }

  /** The counters behind each feature, read now. */
  private counted(): KsmdWork {
    const c = this.ksm.m.counters;
    return {
      batches: 0,
      scans: this.ksm.ksm_scan.seqnr,
      pages: this.ksm.pages_scanned,
      skipped: this.ksm.pages_skipped,
      hashed: c.bytesHashed / PAGE_SIZE,
      compares: c.pagesCompared,
      compared: c.bytesCompared / PAGE_SIZE,
      cold: c.pagesComparedCold,
      flushes: c.tlbFlushes,
      nonanon: c.ksmScanNonAnon,
      vmas: c.ksmScanVmas,
    };
  }

  /** Brings `work` up to date with the counters. */
  private update(): void {
    const now = this.counted();
    const w = this.work;
    w.scans = now.scans - this.base.scans;
    w.pages = now.pages - this.base.pages;
    w.skipped = now.skipped - this.base.skipped;
    w.hashed = now.hashed - this.base.hashed;
    w.compares = now.compares - this.base.compares;
    w.compared = now.compared - this.base.compared;
    w.cold = now.cold - this.base.cold;
    w.flushes = now.flushes - this.base.flushes;
    w.nonanon = now.nonanon - this.base.nonanon;
    w.vmas = now.vmas - this.base.vmas;
  }

  /** ksmd's CPU time since time 0 (ns), including the batch in progress. */
  cpuNs(): number {
    this.update();
    return ksmdWorkNs(this.model, this.work);
  }

  /** When a sleep of sleep_millisecs started at `t` lets ksmd run again (each call is the next
   * wake-up: the next latency of the sequence). */
  wakeAfterSleep(t: number, sleep_millisecs: number): number {
    const j = msecs_to_jiffies(sleep_millisecs, this.model.hz);
    // wait_event_freezable_timeout() with a zero timeout does not sleep.
    if (j === 0) return t;
    const expires = Math.floor(t / this.tickNs) + j + 1;
    return expires * this.tickNs + wakeupLatencyNs(this.model.wakeupLatencyNs, this.wakeups++);
  }

  /** Runs every batch that starts at or before `t` (ns). A batch is not cut: the counters may
   * include a batch that ends after `t`. `resumed`: nothing but this thread changed the machine
   * since the previous call (its caller only read it), so what the last batch remembered still
   * holds (see Ksm.ksm_do_scan()). */
  runUntil(t: number, resumed = false): void {
    const ksm = this.ksm;
    // whether nothing but this thread ran since its previous batch
    let ksmdOnly = resumed;
    while (this.nextBatchNs <= t) {
      // ksm_scan_thread(): the batch when ksmd_should_run(), then the timed sleep; otherwise
      // wait (untimed) until there is something to scan, which nothing here provides.
      if (!ksm.ksmd_should_run()) {
        this.nextBatchNs = Number.POSITIVE_INFINITY;
        return;
      }
      if (this.replayAt >= 0) {
        this.replayBatch();
        ksmdOnly = false;
        continue;
      }
      const start = this.nextBatchNs;
      this.batchStartNs = start;
      this.batchStartCpu = this.cpuNs();
      this.work.batches++;
      ksm.m.clock.jiffies = this.baseJiffies + Math.floor(start / NS_PER_MS);
      const seqnr = ksm.ksm_scan.seqnr;
      const steady = this.fastForwardUntilNs > 0 ? (this.steady ??= new KsmdSteady(ksm)) : null;
      steady?.beforeBatch();
      ksm.ksm_do_scan(ksm.pages_to_scan, ksmdOnly);
      ksmdOnly = true;
      steady?.afterBatch();
      const end = start + (this.cpuNs() - this.batchStartCpu);
      this.nextBatchNs = ksm.ksmd_should_run()
        ? this.wakeAfterSleep(end, ksm.sleep_millisecs)
        : Number.POSITIVE_INFINITY;
      if (this.nextBatchNs <= start)
        throw new RangeError(
          'ksmd would not advance in time: the cost model gives a batch no CPU time and sleep_millisecs is 0',
        );
      if (steady !== null && ksm.ksm_scan.seqnr !== seqnr) this.atScanStart(steady);
    }
  }

  /** At a full-scan start: replay the next period when one is proven and ends in time. */
  private atScanStart(steady: KsmdSteady): void {
    const p = steady.atScanStart();
    if (p !== null && this.periodEndsBy(p.batches, this.fastForwardUntilNs)) this.replayAt = 0;
  }

  /** Whether replaying `batches` from now would start the last of them by `t` and, with the
   * advisor on, give each batch the pages_to_scan it was recorded with: the same arithmetic as
   * the replay, on copies (the advisor's state is put back). */
  private periodEndsBy(batches: SteadyBatch[], t: number): boolean {
    const ksm = this.ksm;
    const work = { ...this.work };
    const wakeups = this.wakeups;
    const ctx = { ...ksm.advisorCtx };
    const pages_to_scan = ksm.pages_to_scan;
    const advisor = ksm.advisor_mode === 'scan-time';
    let next = this.nextBatchNs;
    let fits = true;
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!;
      if (next > t - FIT_MARGIN_NS || b.pages_to_scan !== ksm.pages_to_scan) {
        fits = false;
        break;
      }
      const before = ksmdWorkNs(this.model, work);
      work.batches++;
      if (advisor && b.startsScan === 1)
        ksm.advisorCtx.start_scan = next + (ksmdWorkNs(this.model, work) - before);
      addBatch(work, b);
      const cpu = ksmdWorkNs(this.model, work);
      const end = next + (cpu - before);
      if (advisor && b.scans === 1) ksm.scan_time_advisor(end, cpu);
      if (i < batches.length - 1) next = this.wakeAfterSleep(end, ksm.sleep_millisecs);
    }
    this.wakeups = wakeups;
    ksm.advisorCtx = ctx;
    ksm.pages_to_scan = pages_to_scan;
    return fits;
  }

  /** One batch of the steady period, from its record: the counters it moves, its CPU time. */
  private replayBatch(): void {
    const ksm = this.ksm;
    const steady = this.steady!;
    const p = steady.period!;
    const b = p.batches[this.replayAt]!;
    // the look-ahead checked every batch's pages_to_scan before the replay began
    VM_BUG_ON(
      b.pages_to_scan !== ksm.pages_to_scan,
      'ksmd replay: pages_to_scan differs from the record',
      () => `pages_to_scan ${ksm.pages_to_scan}, recorded ${b.pages_to_scan}`,
    );
    const advisor = ksm.advisor_mode === 'scan-time';
    const start = this.nextBatchNs;
    this.batchStartNs = start;
    this.batchStartCpu = this.cpuNs();
    this.work.batches++;
    ksm.m.clock.jiffies = this.baseJiffies + Math.floor(start / NS_PER_MS);
    // advisor_start_scan() and scan_time_advisor() read ksmd_clock where the scan would
    if (advisor && b.startsScan === 1)
      ksm.advisorCtx.start_scan = start + (this.cpuNs() - this.batchStartCpu);
    ksm.pages_scanned += b.pages;
    ksm.pages_skipped += b.skipped;
    ksm.m.counters.bytesHashed += b.bytesHashed;
    ksm.m.counters.pagesCompared += b.pagesCompared;
    ksm.m.counters.bytesCompared += b.bytesCompared;
    ksm.m.counters.pagesComparedCold += b.pagesComparedCold;
    ksm.m.counters.ksmScanNonAnon += b.nonAnon;
    ksm.m.counters.ksmScanVmas += b.vmas;
    ksm.ksm_scan.seqnr += b.scans;
    ksm.pages_unshared = b.pages_unshared;
    this.replayedBatches++;
    const end = start + (this.cpuNs() - this.batchStartCpu);
    if (advisor && b.scans === 1) ksm.scan_time_advisor(end, this.cpuNs());
    this.nextBatchNs = this.wakeAfterSleep(end, ksm.sleep_millisecs);
    if (++this.replayAt < p.batches.length) return;
    this.replayAt = -1;
    steady.applyPeriod();
    this.atScanStart(steady);
  }
}

/** Adds a recorded batch's counts to a work record (as the counters behind it would move). */
function addBatch(w: KsmdWork, b: SteadyBatch): void {
  w.pages += b.pages;
  w.skipped += b.skipped;
  w.hashed += b.bytesHashed / PAGE_SIZE;
  w.compares += b.pagesCompared;
  w.compared += b.bytesCompared / PAGE_SIZE;
  w.cold += b.pagesComparedCold;
  w.nonanon += b.nonAnon;
  w.vmas += b.vmas;
  w.scans += b.scans;
}
