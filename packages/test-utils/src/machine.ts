// A simulated machine with one process, the starting point of most tests.
import { Machine, type MachineOptions } from '@mmsim/mmu';

/** Default RAM of a test machine: room for a few THPs, small enough to stay fast. */
const TEST_MEMORY_MIB = 256;

export interface MachineAndProcess<P> {
  m: Machine;
  p: P;
}

/**
 * A machine (`opts` over TEST_MEMORY_MIB of RAM) and one process made by `makeProcess` (the
 * package's own Process: @mmsim/mm's, or a lower layer's stand-in), named "p" by convention.
 */
export function setup<P>(makeProcess: (m: Machine) => P, opts: MachineOptions = {}): MachineAndProcess<P> {
  const m = new Machine({ memoryMiB: TEST_MEMORY_MIB, ...opts });
  return { m, p: makeProcess(m) };
}
