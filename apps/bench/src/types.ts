// The benchmark interface and the shapes of what a run produces. A benchmark is a module whose
// default export is a `Benchmark`; the harness runs `run()` once per (repetition, variant) in a
// fresh Node process, so every measurement starts from the same cold process state, and owns
// every clock read (the simulator never reads wall time).

/** What a benchmark gets for one run (one variant, one repetition, one fresh process). */
export interface BenchContext {
  /** --quick: fewer repetitions; a benchmark may also shrink its workload (say so in a note). */
  readonly quick: boolean;
  /** --sim-only: skip the live kernel side (no oracle run, no kernel rows or ratios). */
  readonly simOnly: boolean;
  /** The variant this process runs (one of `Benchmark.variants()`, or 'default'). */
  readonly variant: string;
  /** Repetition number, from 1. */
  readonly rep: number;
  /** Run `fn` once and return its wall time in seconds (process.hrtime, read by the harness). */
  time(fn: () => void): number;
  /** A full garbage collection (the harness starts children with --expose-gc). */
  gc(): void;
  /** The process's resident set size in bytes. */
  rss(): number;
  /** The largest resident set size the process had so far, in bytes (getrusage's ru_maxrss). */
  peakRss(): number;
}

/** One timed piece of work: `ops` units done in `seconds`. Reported as ops/s. */
export interface Sample {
  /** Row label, unique within the benchmark, e.g. 'warm 1 GiB' or 'follow_page'. */
  label: string;
  /** Unit of `ops`, singular ('page'); throughput is reported per second in its plural (`perSecond`: 'pages/s', 'MiB/s'). */
  unit: string;
  ops: number;
  seconds: number;
  /** For scaling curves: the curve this sample belongs to and its x value (with its unit). */
  series?: string;
  x?: number;
  xUnit?: string;
}

/** Deterministic cost counters (machine.counters.since()) over `units` units of work. */
export interface CounterSample {
  /** The Sample label these counters belong to. */
  label: string;
  /** Unit the counters are divided by ('page'). */
  unit: string;
  units: number;
  counters: Record<string, number>;
}

/** Any other measured number: RSS, metadata bytes per frame, ... */
export interface Metric {
  name: string;
  unit: string;
  value: number;
  /** Sample label it belongs to (omit for benchmark-wide values). */
  label?: string;
  /** For scaling curves, as in Sample. */
  series?: string;
  x?: number;
  xUnit?: string;
}

/** What one run returns. */
export interface RunResult {
  samples: Sample[];
  counters: CounterSample[];
  metrics: Metric[];
}

/** A configuration measured in its own fresh process (e.g. 'cold-1024MiB'). */
export interface Variant {
  id: string;
  description?: string;
  /** The variant only runs the live kernel: --sim-only drops it. */
  kernelOnly?: boolean;
  /** Too slow or too large for routine runs: it runs only when named with --variant. */
  onRequest?: boolean;
}

/** A goal checked against the median: a Sample label (throughput) or a Metric name. */
export interface Target {
  /** Sample label (compares throughput, ops/s) or Metric name (compares the metric). */
  name: string;
  /** Restrict a metric target to the metric rows of this label. */
  label?: string;
  atLeast?: number;
  atMost?: number;
  /** What the target stands for ("the kernel's struct page size"), shown beside its name. */
  source?: string;
}

export interface Benchmark {
  /** The CLI name: `pnpm bench <name>`. */
  name: string;
  /** One line for --list and the report heading. */
  description: string;
  /** Configurations, each measured in a separate fresh process; default one 'default' run. */
  variants?: (opts: { quick: boolean }) => Variant[];
  /** Goals the report marks as met or missed. */
  targets?: Target[];
  /** Ratios of two rows' median throughputs, reported as metrics (unit 'x') a target may check:
   * e.g. a strategy against follow_page, or the simulator against the live kernel. */
  comparisons?: { name: string; numerator: string; denominator: string }[];
  /** Free-text notes printed under the report's table (what cold/warm mean, simplifications). */
  notes?: string[];
  /** Metrics computed across variants once every run is in, from the per-repetition values of
   * others (`metric(name, label)`, undefined when not run): e.g. a slope between two sizes. A
   * target may check them. */
  derive?: (metric: (name: string, label: string) => readonly number[] | undefined) => DerivedMetric[];
  run(ctx: BenchContext): RunResult | Promise<RunResult>;
}

/** A metric `Benchmark.derive` computes: one value per repetition, summarised like the others. */
export interface DerivedMetric {
  name: string;
  unit: string;
  label?: string;
  values: number[];
}

/** One run's raw output as the harness recorded it. */
export interface RawRun {
  variant: string;
  rep: number;
  /** Wall time of the whole child process (spawn to exit), seconds; 0 when run in-process. */
  processSeconds: number;
  /** 1-minute load average when the run started. */
  loadAvg1: number;
  result: RunResult;
}

/** The environment variable `--strategy <file>` sets for the unmerge benchmark, in the harness and
 * in every child process: the absolute path of the strategy module (already checked). */
export const BENCH_STRATEGY_ENV = 'MMSIM_BENCH_STRATEGY';
