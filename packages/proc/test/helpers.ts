import { resetWarnings, setWarnHandler } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  E,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  Machine,
  type MmStruct,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  readEntry,
} from '@mmsim/mmu';
import { afterEach, beforeEach } from 'vitest';

export function setup(memoryMiB = 64): { m: Machine; p: Process } {
  const m = new Machine({ memoryMiB });
  return { m, p: new Process(m, 'p') };
}

/** mmap(start, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra). */
export function mapAt(
  p: Process,
  start: number,
  len: number,
  extra = 0,
  prot = PROT_READ | PROT_WRITE,
): number {
  return p.mmap(start, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | extra);
}

/** The PTE words at addr, or null without a PTE table. */
export function pteAt(mm: MmStruct, addr: number): { lo: number; hi: number } | null {
  const t = mm.find_pte_table(addr);
  if (t === 0) return null;
  readEntry(mm.machine.phys, t, pte_index(addr));
  return { lo: E.lo, hi: E.hi };
}

/** Fail the running test on any WARN_ON (DESIGN.md §4). */
export function failOnWarn(): void {
  beforeEach(() => {
    resetWarnings();
    setWarnHandler((msg) => {
      throw new Error(`WARN_ON: ${msg}`);
    });
  });
  afterEach(() => setWarnHandler(null));
}
