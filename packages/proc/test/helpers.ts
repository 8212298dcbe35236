import { Process } from '@mmsim/mm';
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, type Machine, PROT_READ, PROT_WRITE } from '@mmsim/mmu';
import { failOnWarn, pteAt, setup as setupMachine } from '@mmsim/test-utils';

export function setup(memoryMiB = 64): { m: Machine; p: Process } {
  return setupMachine((m) => new Process(m, 'p'), { memoryMiB });
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

/** The PTE words at addr, or null without a PTE table; failOnWarn(): any WARN_ON fails the test
 * (docs/design.md §4). */
export { failOnWarn, pteAt };
