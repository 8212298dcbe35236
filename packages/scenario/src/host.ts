// The host the simulated machine is sized after where a scenario gives no size (Node only).

import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import type { HostMemory } from './simulator.ts';

/** This machine's free memory and swap size (SwapTotal in /proc/meminfo; 0 where it cannot be
 * read): the simulated machine's defaults, so that `mmsim run` and the oracle see the same host. */
export function hostMemory(): HostMemory {
  let swapMiB = 0;
  try {
    const m = /^SwapTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m !== null) swapMiB = Math.floor(Number(m[1]) / 1024);
  } catch {
    // No /proc/meminfo: no swap.
  }
  return { memoryMiB: Math.floor(freemem() / 2 ** 20), swapMiB };
}
