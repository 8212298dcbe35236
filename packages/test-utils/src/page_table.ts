// Reading one page-table entry in a test, without a walk (and without counting one).
import { E, type MmStruct, pmd_index, pte_index, readEntry } from '@mmsim/mmu';

/** The PTE words mapping `addr` in `mm`, or null when it has no PTE table there. */
export function pteAt(mm: MmStruct, addr: number): { lo: number; hi: number } | null {
  const t = mm.find_pte_table(addr);
  if (t === 0) return null;
  readEntry(mm.machine.phys, t, pte_index(addr));
  return { lo: E.lo, hi: E.hi };
}

/** The PMD words covering `addr` in `mm`, or null when it has no PMD table there. */
export function pmdAt(mm: MmStruct, addr: number): { lo: number; hi: number } | null {
  const t = mm.find_pmd_table(addr);
  if (t === 0) return null;
  readEntry(mm.machine.phys, t, pmd_index(addr));
  return { lo: E.lo, hi: E.hi };
}
