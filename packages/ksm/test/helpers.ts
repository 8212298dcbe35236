import { PAGE_SIZE } from '@mmsim/core';
import type { Process } from '@mmsim/mm';
import {
  checkMmInvariants,
  MADV_MERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { checkKsmInvariants, Ksm, ksmSysfsWrite } from '../src/index.ts';

export function world(memoryMiB = 1024): { m: Machine; ksm: Ksm } {
  const m = new Machine({ memoryMiB });
  const ksm = new Ksm(m);
  return { m, ksm };
}

/** mmap `pages` pages, fill page i with byte value(i), MADV_MERGEABLE. */
export function mergeableRegion(p: Process, pages: number, value: (i: number) => number): number {
  const a = p.mmap(null, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < pages; i++) {
    buf.fill(value(i));
    p.writePage(a + i * PAGE_SIZE, buf);
  }
  p.madvise(a, pages * PAGE_SIZE, MADV_MERGEABLE);
  return a;
}

export function knob(ksm: Ksm, name: string, value: string | number): void {
  const err = ksmSysfsWrite(ksm, name, String(value));
  if (err !== 0) throw new Error(`knob ${name}=${value}: ${err}`);
}

export function checkAll(m: Machine, ksm: Ksm): void {
  checkMmInvariants(m);
  checkKsmInvariants(ksm);
}

/** The counters the selftests compare: [shared, sharing]. */
export function sharedSharing(ksm: Ksm): [number, number] {
  return [ksm.pages_shared, ksm.pages_sharing];
}
