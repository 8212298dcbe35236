// Reclaim of a lazyfree (MADV_FREE) THP by MADV_PAGEOUT, where kernels differ
// (KernelProfile.mm.lazyfreePmdDiscard): 6.11 to 6.12.116 drop a clean one at PMD level
// (unmap_huge_pmd_locked()), leaving the PMD none; 6.1 and the live 6.18.44 split the PMD and
// leave an empty PTE table. Checked on the real kernels by scenarios/versions-lazyfree-thp.yaml.
import { HPAGE_PMD_NR, KERNEL_PROFILES, type KernelVersion, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  entry_pfn,
  entryTable,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MM_ANONPAGES,
  PG_lazyfree,
  pmd_index,
  pmd_leaf,
  pte_index,
  readEntry,
  tableEmpty,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, setup } from './helpers.ts';

/** A MADV_HUGEPAGE THP written all over, then MADV_FREE; returns its address and folio. */
function lazyfreeThp(p: Process): { a: number; folio: number } {
  const a = anon(p, HPAGE_PMD_NR);
  p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
  for (let i = 0; i < HPAGE_PMD_NR; i++) p.writeByte(a + i * PAGE_SIZE, 3);
  readEntry(p.machine.phys, p.mm.find_pmd_table(a), pmd_index(a));
  expect(pmd_leaf(E.lo)).toBe(true);
  const folio = entry_pfn(E.lo, E.hi);
  p.madvise(a, PMD_SIZE, MADV_FREE);
  expect(p.machine.phys.flags[folio]! & PG_lazyfree).not.toBe(0);
  return { a, folio };
}

/** The PMD entry of addr, in E.lo/E.hi. */
function readPmd(p: Process, a: number): void {
  readEntry(p.machine.phys, p.mm.find_pmd_table(a), pmd_index(a));
}

describe('MADV_PAGEOUT of a clean lazyfree THP', () => {
  it('6.12.43 and 6.12.95 discard it at PMD level: the PMD is none, its deposited table freed', () => {
    for (const v of ['6.12', '6.12.95'] as const) {
      const { m, p } = setup({ kernel: KERNEL_PROFILES[v] });
      const { a } = lazyfreeThp(p);
      const tables = p.mm.nrPtes;
      const splits = m.vmstat.thp_split_pmd;
      p.madvise(a, PMD_SIZE, MADV_PAGEOUT);
      readPmd(p, a);
      expect([E.lo, E.hi]).toEqual([0, 0]);
      expect(p.mm.nrPtes).toBe(tables - 1);
      expect(m.vmstat.thp_split_pmd).toBe(splits);
      expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(0);
      // A read faults the huge zero page in again.
      expect(p.readByte(a + 7 * PAGE_SIZE)).toBe(0);
      readPmd(p, a);
      expect(pmd_leaf(E.lo) && m.phys.is_huge_zero_pfn(entry_pfn(E.lo, E.hi))).toBe(true);
      check(m);
    }
  });

  it('6.1 and the live 6.18 split the PMD first: an empty PTE table is left', () => {
    for (const v of ['6.1', '6.18'] as const satisfies readonly KernelVersion[]) {
      const { m, p } = setup({ kernel: KERNEL_PROFILES[v] });
      const { a } = lazyfreeThp(p);
      const splits = m.vmstat.thp_split_pmd;
      p.madvise(a, PMD_SIZE, MADV_PAGEOUT);
      readPmd(p, a);
      expect(pmd_leaf(E.lo)).toBe(false);
      expect(tableEmpty(m.phys, entryTable(E.lo, E.hi))).toBe(true);
      expect(m.vmstat.thp_split_pmd).toBe(splits + 1);
      expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(0);
      // A read maps one zero-page PTE.
      expect(p.readByte(a + 7 * PAGE_SIZE)).toBe(0);
      readPmd(p, a);
      const pteT = entryTable(E.lo, E.hi);
      readEntry(m.phys, pteT, pte_index(a + 7 * PAGE_SIZE));
      expect(entry_pfn(E.lo, E.hi)).toBe(m.phys.zeroPfn);
      check(m);
    }
  });

  it('6.12.95: a THP written since MADV_FREE, or held by someone else, is split and kept', () => {
    for (const held of [false, true]) {
      const { m, p } = setup({ kernel: KERNEL_PROFILES['6.12.95'] });
      const { a, folio } = lazyfreeThp(p);
      if (held) m.phys.get_page(folio);
      else p.writeByte(a + 5 * PAGE_SIZE, 9);
      p.madvise(a, PMD_SIZE, MADV_PAGEOUT);
      readPmd(p, a);
      expect(pmd_leaf(E.lo)).toBe(false);
      expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(HPAGE_PMD_NR);
      expect(m.phys.flags[folio]! & PG_lazyfree).toBe(0); // folio_set_swapbacked()
      expect(p.readByte(a + 5 * PAGE_SIZE)).toBe(held ? 3 : 9);
      if (held) m.phys.put_page(folio);
      check(m);
    }
  });
});
