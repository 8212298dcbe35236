// Statistics over repeated measurements. With the handful of repetitions a benchmark can
// afford (3-5 fresh processes), the median is the robust centre and the bootstrap gives an
// honest interval for it without assuming a distribution. The bootstrap is seeded, so the
// same samples always give the same report.

import { mulberry32 } from '@mmsim/core';

/** Summary of one measured quantity over its repetitions. */
export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  mean: number;
  /** Percentile-bootstrap 95% confidence interval of the median [low, high]. */
  ci95: [number, number];
}

function sorted(xs: readonly number[]): number[] {
  return xs.slice().sort((a, b) => a - b);
}

function medianOfSorted(s: readonly number[]): number {
  const n = s.length;
  const mid = n >> 1;
  return n % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** The median (mean of the two middle values for an even count). NaN for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  return medianOfSorted(sorted(xs));
}

/** Linear-interpolated quantile q in [0, 1] of sorted values (type 7, as R and NumPy default). */
export function quantileSorted(s: readonly number[], q: number): number {
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export interface BootstrapOptions {
  /** Resamples drawn (default 10,000). */
  resamples?: number;
  /** Confidence level (default 0.95). */
  confidence?: number;
  /** PRNG seed (default fixed, so reports are reproducible). */
  seed?: number;
}

/**
 * Percentile-bootstrap confidence interval of the median: resample the values with
 * replacement, take each resample's median, and return the (1-c)/2 and (1+c)/2 quantiles of
 * those medians. With few values the interval can only span observed values, so it is never
 * wider than min-max; with one value it collapses to that value.
 */
export function bootstrapMedianCI(xs: readonly number[], opts: BootstrapOptions = {}): [number, number] {
  const n = xs.length;
  if (n === 0) return [Number.NaN, Number.NaN];
  if (n === 1) return [xs[0], xs[0]];
  const resamples = opts.resamples ?? 10_000;
  const confidence = opts.confidence ?? 0.95;
  const rand = mulberry32(opts.seed ?? 0x6d6d7369);
  const meds = new Float64Array(resamples);
  const draw = new Float64Array(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) draw[i] = xs[Math.floor(rand() * n)];
    draw.sort();
    const mid = n >> 1;
    meds[r] = n % 2 === 1 ? draw[mid] : (draw[mid - 1] + draw[mid]) / 2;
  }
  meds.sort();
  const s = Array.from(meds);
  const alpha = (1 - confidence) / 2;
  return [quantileSorted(s, alpha), quantileSorted(s, 1 - alpha)];
}

/** Median, min, max, mean and the bootstrap 95% CI of the median. */
export function summarize(xs: readonly number[], opts: BootstrapOptions = {}): Summary {
  const s = sorted(xs);
  const n = s.length;
  let sum = 0;
  for (const x of s) sum += x;
  return {
    n,
    median: n === 0 ? Number.NaN : medianOfSorted(s),
    min: n === 0 ? Number.NaN : s[0],
    max: n === 0 ? Number.NaN : s[n - 1],
    mean: n === 0 ? Number.NaN : sum / n,
    ci95: bootstrapMedianCI(xs, opts),
  };
}
