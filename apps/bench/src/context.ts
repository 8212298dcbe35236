// The BenchContext a benchmark runs with. The only place (with the runner's process timing)
// where wall time is read.

import type { BenchContext } from './types.ts';

const gcFn: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

export function createContext(variant: string, rep: number, quick: boolean): BenchContext {
  return {
    quick,
    variant,
    rep,
    time(fn: () => void): number {
      const t0 = process.hrtime.bigint();
      fn();
      const t1 = process.hrtime.bigint();
      return Number(t1 - t0) / 1e9;
    },
    gc(): void {
      gcFn?.();
    },
    rss(): number {
      return process.memoryUsage.rss();
    },
  };
}
