import { PAGE_SIZE } from '@mmsim/core';
import {
  checkMmInvariants,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { setup as setupMachine } from '@mmsim/test-utils';
import { Process } from '../src/index.ts';

export function setup(opts: ConstructorParameters<typeof Machine>[0] = {}): { m: Machine; p: Process } {
  return setupMachine((m) => new Process(m, 'p'), opts);
}

export function anon(p: Process, pages: number, prot = PROT_READ | PROT_WRITE): number {
  return p.mmap(null, pages * PAGE_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS);
}

/** A recognisable byte for (page, offset, tag). */
export function pattern(page: number, tag: number): number {
  return (page * 31 + tag * 7 + 1) & 0xff;
}

export function check(m: Machine): void {
  checkMmInvariants(m);
}
