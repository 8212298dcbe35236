// The least-squares fit of ksmd's per-operation CPU costs (calibrate.ts): kernel measurements
// paired with the simulator's counted work for the same scans.

import { emptyKsmdWork, KSMD_COST_FEATURES, type KsmdWork } from '@mmsim/ksm';

/** One measurement: what the simulator counted and the CPU time the kernel's ksmd took for it. */
export interface KsmdFitRow {
  what: string;
  work: KsmdWork;
  kernelNs: number;
  /** How much the row counts in the fit (default 1). */
  weight?: number;
}

/** Descent sweeps at most, and the change below which the fit has converged. */
const MAX_SWEEPS = 200_000;
const CONVERGED = 1e-12;

/**
 * Non-negative least squares of relative errors (projected coordinate descent on the normal
 * equations): minimises sum over rows of weight * ((model(work) - kernel) / kernel)^2 with every
 * coefficient >= 0.
 */
export function fitCosts(rows: KsmdFitRow[]): KsmdWork {
  const f = KSMD_COST_FEATURES;
  const n = f.length;
  // Features scaled so the descent is well conditioned.
  const scale = f.map((k) => Math.max(...rows.map((r) => r.work[k] / r.kernelNs)) || 1);
  // Weighted: each row scaled by the square root of its weight, its target (1) too.
  const sw = rows.map((r) => Math.sqrt(r.weight ?? 1));
  const a = rows.map((r, ri) => f.map((k, j) => (r.work[k] / r.kernelNs / scale[j]!) * sw[ri]!));
  const ata = Array.from({ length: n }, (_, i) =>
    Array.from({ length: n }, (_, j) => a.reduce((s, r) => s + r[i]! * r[j]!, 0)),
  );
  const atb = Array.from({ length: n }, (_, i) => a.reduce((s, r, ri) => s + r[i]! * sw[ri]!, 0));
  const x = new Array<number>(n).fill(0);
  for (let iter = 0; iter < MAX_SWEEPS; iter++) {
    let moved = 0;
    for (let i = 0; i < n; i++) {
      if (ata[i]![i]! === 0) continue;
      let g = atb[i]!;
      for (let j = 0; j < n; j++) if (j !== i) g -= ata[i]![j]! * x[j]!;
      const v = Math.max(0, g / ata[i]![i]!);
      moved = Math.max(moved, Math.abs(v - x[i]!));
      x[i] = v;
    }
    if (moved < CONVERGED) break;
  }
  const out = emptyKsmdWork();
  f.forEach((k, j) => {
    out[k] = x[j]! / scale[j]!;
  });
  return out;
}
