import { emptyKsmdWork, type KsmdWork, ksmdWorkNs } from '@mmsim/ksm';
import { describe, expect, it } from 'vitest';
import { fitCosts, type KsmdFitRow } from '../src/ksmd-fit.ts';

const truth: KsmdWork = {
  batches: 3000,
  scans: 50_000,
  pages: 300,
  skipped: 200,
  hashed: 700,
  compares: 90,
  compared: 250,
  cold: 160,
  flushes: 450,
  nonanon: 120,
  vmas: 900,
};
const model = { ns: truth, hz: 250, wakeupLatencyNs: 0 };

/** Work records with enough variety to tell every feature apart. */
function rows(noise: (i: number) => number = () => 1): KsmdFitRow[] {
  const out: KsmdFitRow[] = [];
  let i = 0;
  for (const pages of [16_384, 65_536])
    for (const hashed of [0, pages])
      for (const [compares, compared, cold] of [
        [0, 0, 0],
        [pages * 4, pages / 2, pages],
        [pages * 4, pages * 5, pages * 3],
        [pages * 10, pages / 100, pages / 2],
      ] as const)
        for (const flushes of [0, pages / 3])
          for (const [skipped, nonanon, vmas] of [
            [0, 0, 3],
            [pages * 2, 0, pages / 8],
            [0, pages * 3, 40],
            [pages, pages, pages / 64],
          ] as const) {
            for (const [batches, scans] of [
              [1, 1],
              [pages / 100, 1],
            ] as const) {
              const work = {
                ...emptyKsmdWork(),
                batches,
                scans,
                pages,
                skipped,
                hashed,
                compares,
                compared,
                cold,
                flushes,
                nonanon,
                vmas,
              };
              out.push({ what: `row ${i}`, work, kernelNs: ksmdWorkNs(model, work) * noise(i++) });
            }
          }
  return out;
}

describe('fitCosts', () => {
  it('recovers the per-feature costs from exact measurements', () => {
    const fit = fitCosts(rows());
    for (const k of Object.keys(truth) as (keyof KsmdWork)[]) expect(fit[k]).toBeCloseTo(truth[k], 0);
  });

  it('stays non-negative, and within the noise, on measurements with +-10% errors', () => {
    const fit = fitCosts(rows((i) => 1 + ((i * 7919) % 21) / 100 - 0.1));
    for (const k of Object.keys(truth) as (keyof KsmdWork)[]) expect(fit[k]).toBeGreaterThanOrEqual(0);
    for (const r of rows()) {
      const got = ksmdWorkNs({ ...model, ns: fit }, r.work);
      expect(Math.abs(got - r.kernelNs) / r.kernelNs).toBeLessThan(0.15);
    }
  });

  it('a feature no row has gets cost 0', () => {
    const rs = rows().map((r) => ({ ...r, work: { ...r.work, flushes: 0 } }));
    expect(fitCosts(rs).flushes).toBe(0);
  });

  it('weights pull the fit towards the heavier rows', () => {
    const work = { ...emptyKsmdWork(), pages: 1000 };
    const rs = (w: number): KsmdFitRow[] => [
      { what: 'a', work, kernelNs: 1_000_000 },
      { what: 'b', work, kernelNs: 2_000_000, weight: w },
    ];
    // relative errors: (u - 1)^2 + w (u/2 - 1)^2 is least at u = (1 + w/2) / (1 + w/4)
    expect(fitCosts(rs(1)).pages).toBeCloseTo(1200, 3);
    expect(fitCosts(rs(100)).pages).toBeCloseTo((51 / 26) * 1000, 3);
  });
});
