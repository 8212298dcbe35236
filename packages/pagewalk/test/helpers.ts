import { resetWarnings, setWarnHandler } from '@mmsim/core';
import {
  checkMmInvariants,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  Machine,
  type MmStruct,
  type PagingLevels,
  PROT_READ,
  PROT_WRITE,
  Process,
} from '@mmsim/mmu';
import { afterEach, beforeEach } from 'vitest';

export function setup(levels: PagingLevels = 4, memoryMiB = 64): { m: Machine; p: Process } {
  const m = new Machine({ memoryMiB, levels });
  return { m, p: new Process(m, 'p') };
}

/** mmap(start, len, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE). */
export function mapAt(p: Process, start: number, len: number, prot = PROT_READ | PROT_WRITE): number {
  return p.mmap(start, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE);
}

export function withRead<T>(mm: MmStruct, fn: () => T): T {
  mm.mmap_read_lock();
  try {
    return fn();
  } finally {
    mm.mmap_read_unlock();
  }
}

export function withWrite<T>(mm: MmStruct, fn: () => T): T {
  mm.mmap_write_lock();
  try {
    return fn();
  } finally {
    mm.mmap_write_unlock();
  }
}

/** Fail the running test on any WARN_ON (docs/design.md §4). */
export function failOnWarn(): void {
  beforeEach(() => {
    resetWarnings();
    setWarnHandler((msg) => {
      throw new Error(`WARN_ON: ${msg}`);
    });
  });
  afterEach(() => setWarnHandler(null));
}

export function check(m: Machine): void {
  checkMmInvariants(m);
}
