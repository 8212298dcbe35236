// From raw runs (one per repetition and variant) to the report a reader needs: throughput
// summaries per sample label, counters per unit (checked to be identical in every repetition,
// since they are deterministic), metric summaries, and targets met or missed.

import { perSecond } from './format.ts';
import { type Summary, summarize } from './stats.ts';
import type { Benchmark, RawRun, Target } from './types.ts';

export interface ThroughputRow {
  label: string;
  unit: string;
  /** ops per run (the median if repetitions differed). */
  ops: number;
  series?: string;
  x?: number;
  xUnit?: string;
  /** ops per second. */
  throughput: Summary;
  /** seconds per run. */
  seconds: Summary;
  /** ops/s of each repetition, in run order. */
  values: number[];
}

export interface CounterRow {
  label: string;
  unit: string;
  units: number;
  /** Counter totals of the first repetition. */
  total: Record<string, number>;
  /** total / units. */
  perUnit: Record<string, number>;
  /** True when every repetition produced exactly the same counters, as it must. */
  deterministic: boolean;
}

export interface MetricRow {
  name: string;
  unit: string;
  label?: string;
  series?: string;
  x?: number;
  xUnit?: string;
  value: Summary;
  values: number[];
}

export interface TargetResult extends Target {
  /** The median compared (NaN when nothing matched the target's name). */
  measured: number;
  unit: string;
  /** 'not measured' when no row or metric of that name was run (e.g. filtered with --variant). */
  status: 'met' | 'missed' | 'not measured';
}

export interface BenchReport {
  name: string;
  description: string;
  quick: boolean;
  reps: number;
  variants: string[];
  notes: string[];
  rows: ThroughputRow[];
  counters: CounterRow[];
  metrics: MetricRow[];
  targets: TargetResult[];
  /** Every run as the benchmark returned it. */
  raw: RawRun[];
}

function keyOf(o: { label?: string; name?: string; series?: string; x?: number }): string {
  return JSON.stringify([o.name ?? '', o.label ?? '', o.series ?? '', o.x ?? null]);
}

function sameCounters(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k]) return false;
  return true;
}

/** Copy the optional curve fields that are present (exactOptionalPropertyTypes-friendly). */
function curveFields(o: { label?: string; series?: string; x?: number; xUnit?: string }): {
  label?: string;
  series?: string;
  x?: number;
  xUnit?: string;
} {
  const out: { label?: string; series?: string; x?: number; xUnit?: string } = {};
  if (o.label !== undefined) out.label = o.label;
  if (o.series !== undefined) out.series = o.series;
  if (o.x !== undefined) out.x = o.x;
  if (o.xUnit !== undefined) out.xUnit = o.xUnit;
  return out;
}

export interface AggregateOptions {
  quick: boolean;
  reps: number;
  variants: string[];
}

/** Summarise the raw runs of one benchmark. Row order follows first appearance. */
export function aggregate(bench: Benchmark, raw: RawRun[], opts: AggregateOptions): BenchReport {
  const rowMap = new Map<
    string,
    { first: RawRun['result']['samples'][number]; ops: number[]; secs: number[] }
  >();
  const ctrMap = new Map<string, CounterRow>();
  const metMap = new Map<string, { first: RawRun['result']['metrics'][number]; values: number[] }>();

  for (const run of raw) {
    for (const s of run.result.samples) {
      const k = s.label;
      let e = rowMap.get(k);
      if (e === undefined) rowMap.set(k, (e = { first: s, ops: [], secs: [] }));
      e.ops.push(s.ops);
      e.secs.push(s.seconds);
    }
    for (const c of run.result.counters) {
      const prev = ctrMap.get(c.label);
      if (prev === undefined) {
        const perUnit: Record<string, number> = {};
        for (const [name, v] of Object.entries(c.counters)) perUnit[name] = c.units > 0 ? v / c.units : 0;
        ctrMap.set(c.label, {
          label: c.label,
          unit: c.unit,
          units: c.units,
          total: { ...c.counters },
          perUnit,
          deterministic: true,
        });
      } else if (prev.units !== c.units || !sameCounters(prev.total, c.counters)) {
        prev.deterministic = false;
      }
    }
    for (const m of run.result.metrics) {
      const k = keyOf(m);
      let e = metMap.get(k);
      if (e === undefined) metMap.set(k, (e = { first: m, values: [] }));
      e.values.push(m.value);
    }
  }

  const rows: ThroughputRow[] = [];
  for (const { first, ops, secs } of rowMap.values()) {
    const values = ops.map((o, i) => o / secs[i]);
    const { label: _l, ...curve } = curveFields(first);
    rows.push({
      label: first.label,
      unit: first.unit,
      ops: summarize(ops).median,
      ...curve,
      throughput: summarize(values),
      seconds: summarize(secs),
      values,
    });
  }
  const metrics: MetricRow[] = [];
  for (const { first, values } of metMap.values()) {
    metrics.push({
      name: first.name,
      unit: first.unit,
      ...curveFields(first),
      value: summarize(values),
      values,
    });
  }

  const metric = (name: string, label: string): readonly number[] | undefined =>
    metrics.find((m) => m.name === name && m.label === label)?.values;
  for (const d of bench.derive?.(metric) ?? []) {
    metrics.push({
      name: d.name,
      unit: d.unit,
      ...(d.label !== undefined ? { label: d.label } : {}),
      value: summarize(d.values),
      values: d.values,
    });
  }

  for (const c of bench.comparisons ?? []) {
    const num = rows.find((r) => r.label === c.numerator);
    const den = rows.find((r) => r.label === c.denominator);
    if (num === undefined || den === undefined) continue;
    const ratio = num.throughput.median / den.throughput.median;
    metrics.push({ name: c.name, unit: 'x', value: summarize([ratio]), values: [ratio] });
  }

  const targets: TargetResult[] = [];
  for (const t of bench.targets ?? []) {
    const row = rows.find((r) => r.label === t.name);
    const matches: { measured: number; unit: string; label: string | undefined }[] = row
      ? [{ measured: row.throughput.median, unit: perSecond(row.unit), label: undefined }]
      : metrics
          .filter((m) => m.name === t.name && (t.label === undefined || m.label === t.label))
          .map((m) => ({ measured: m.value.median, unit: m.unit, label: m.label }));
    if (matches.length === 0) matches.push({ measured: Number.NaN, unit: '', label: t.label });
    for (const m of matches) {
      const status = Number.isNaN(m.measured)
        ? 'not measured'
        : (t.atLeast === undefined || m.measured >= t.atLeast) &&
            (t.atMost === undefined || m.measured <= t.atMost)
          ? 'met'
          : 'missed';
      targets.push({
        ...t,
        ...(m.label !== undefined ? { label: m.label } : {}),
        measured: m.measured,
        unit: m.unit,
        status,
      });
    }
  }

  return {
    name: bench.name,
    description: bench.description,
    quick: opts.quick,
    reps: opts.reps,
    variants: opts.variants,
    notes: bench.notes ?? [],
    rows,
    counters: [...ctrMap.values()],
    metrics,
    targets,
    raw,
  };
}
