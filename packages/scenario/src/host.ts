// The host a run happens on (Node only): the memory the guard may let it take, and the swap size
// the simulated machine defaults to.

import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { KiB, MiB } from '@mmsim/core';
import type { HostMemory } from './guard.ts';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** What the cgroup (v2) this process runs in still lets it take, in bytes; Infinity without a
 * limit. */
function cgroupAvailable(): number {
  const self = readText('/proc/self/cgroup');
  const m = self === undefined ? null : /^0::(.*)$/m.exec(self);
  if (m === null) return Number.POSITIVE_INFINITY;
  const dir = `/sys/fs/cgroup${m[1] === '/' ? '' : m[1]}`;
  const max = readText(`${dir}/memory.max`)?.trim();
  const current = readText(`${dir}/memory.current`)?.trim();
  if (max === undefined || max === 'max' || current === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, Number(max) - Number(current));
}

/** This machine: MemAvailable (free memory where /proc/meminfo lacks it), lowered to the cgroup's
 * remaining limit; SwapTotal (0 where it cannot be read); and the JS heap V8 still allows. */
export function hostMemory(): HostMemory {
  const meminfo = readText('/proc/meminfo') ?? '';
  const kb = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(meminfo);
    return m === null ? undefined : Number(m[1]) * KiB;
  };
  const available = Math.min(kb('MemAvailable') ?? freemem(), cgroupAvailable());
  const heap = getHeapStatistics();
  return {
    memoryMiB: Math.floor(available / MiB),
    swapMiB: Math.floor((kb('SwapTotal') ?? 0) / MiB),
    heapMiB: Math.floor((heap.heap_size_limit - heap.used_heap_size) / MiB),
  };
}
