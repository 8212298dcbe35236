// One measured region of a benchmark: a full GC, then `fn` timed by the harness, with the
// machine's deterministic counters over exactly that region.

import type { Counters } from '@mmsim/core';
import type { BenchContext } from './types.ts';

export interface Measured {
  seconds: number;
  /** counters.since() over the timed region. */
  counters: Record<string, number>;
}

/** Runs `fn` once after a full GC: its wall time and the counters it moved. */
export function measure(ctx: BenchContext, counters: Counters, fn: () => void): Measured {
  ctx.gc();
  const before = counters.snapshot();
  const seconds = ctx.time(fn);
  return { seconds, counters: counters.since(before) };
}
