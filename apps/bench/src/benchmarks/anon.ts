// The mapping every benchmark works on: private anonymous read-write memory, as the kernel
// selftests (ksm_tests, the fault loops) map it.

import type { Process } from '@mmsim/mm';
import { MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE } from '@mmsim/mmu';

/** mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS) in p: its address. */
export function mapAnon(p: Process, bytes: number): number {
  return p.mmap(null, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
}
