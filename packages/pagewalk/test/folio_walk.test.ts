// folio_walk_start() against a naive per-address lookup, for every kind of entry (docs/kernel/pagewalk.md
// §1.10): none, no table, zero page, anon page, THP, huge zero page, swap and migration entries.

import { PAGE_SIZE, PMD_SIZE, PUD_SIZE } from '@mmsim/core';
import {
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  E,
  entry_pfn,
  entryOut,
  is_migration_entry,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  type Machine,
  migrate_folio_finish,
  migrate_folio_start,
  mk_entry,
  pmd_index,
  pmd_leaf,
  pte_index,
  pte_present,
  pud_index,
  readEntry,
  setEntry,
  swp_offset,
  vm_normal_page,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  FolioWalk,
  FW_LEVEL_PMD,
  FW_LEVEL_PTE,
  FW_LEVEL_PUD,
  FW_MIGRATION,
  FW_PTL_MM,
  FW_ZEROPAGE,
  folio_walk_end,
  folio_walk_start,
} from '../src/index.ts';
import type { TestProcess } from './helpers.ts';
import { check, failOnWarn, mapAt, setup, withRead } from './helpers.ts';

failOnWarn();

interface Expect {
  folio: number;
  page: number;
  level: number;
  lo: number;
  hi: number;
}

/** What folio_walk_start() must find, by reading the tables level by level. */
function naive(m: Machine, p: TestProcess, addr: number, flags: number): Expect {
  const pm = m.phys;
  const none: Expect = { folio: 0, page: 0, level: -1, lo: 0, hi: 0 };
  const pmdT = p.mm.find_pmd_table(addr);
  if (pmdT === 0) return none;
  readEntry(pm, pmdT, pmd_index(addr));
  const plo = E.lo;
  const phi = E.hi;
  if (plo === 0 && phi === 0) return none;
  if (pmd_leaf(plo)) {
    const pfn = entry_pfn(plo, phi);
    if (pm.is_huge_zero_pfn(pfn))
      return (flags & FW_ZEROPAGE) !== 0
        ? { folio: pfn, page: 0, level: FW_LEVEL_PMD, lo: plo, hi: phi }
        : none;
    const page = pfn + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
    return { folio: pm.folio(pfn), page, level: FW_LEVEL_PMD, lo: plo, hi: phi };
  }
  const pteT = entry_pfn(plo, phi);
  readEntry(pm, pteT, pte_index(addr));
  const { lo, hi } = E;
  if (pte_present(lo)) {
    const page = vm_normal_page(pm, lo, hi);
    if (page !== 0) return { folio: pm.folio(page), page, level: FW_LEVEL_PTE, lo, hi };
    if ((flags & FW_ZEROPAGE) !== 0 && pm.is_zero_pfn(entry_pfn(lo, hi)))
      return { folio: pm.zeroPfn, page: 0, level: FW_LEVEL_PTE, lo, hi };
    return none;
  }
  if ((flags & FW_MIGRATION) !== 0 && is_migration_entry(lo, hi))
    return { folio: pm.folio(swp_offset(lo, hi)), page: 0, level: FW_LEVEL_PTE, lo, hi };
  return none;
}

describe('folio_walk_start', () => {
  it('agrees with a naive lookup for every entry kind and flag combination', () => {
    const { m, p } = setup(4, 64);
    const base = 0x40000000;
    mapAt(p, base, 4 * PMD_SIZE);
    const a = base; // small pages
    p.writeByte(a, 1); // anon
    p.readByte(a + PAGE_SIZE); // zero page
    p.writeByte(a + 2 * PAGE_SIZE, 2);
    p.madvise(a + 2 * PAGE_SIZE, PAGE_SIZE, MADV_PAGEOUT); // swap entry
    p.writeByte(a + 3 * PAGE_SIZE, 3); // to be migrating
    // a + 4 pages: none in an existing PTE table
    const thp = base + PMD_SIZE;
    p.madvise(thp, 2 * PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(thp, 1); // THP
    p.readByte(thp + PMD_SIZE); // huge zero page
    // base + 3 PMDs: no PTE table at all
    const migPfn = p.translate(a + 3 * PAGE_SIZE, false, 'test');
    const mig = migrate_folio_start(m, migPfn);
    expect(mig).not.toBeNull();
    const addrs = [
      a,
      a + PAGE_SIZE,
      a + 2 * PAGE_SIZE,
      a + 3 * PAGE_SIZE,
      a + 4 * PAGE_SIZE,
      thp,
      thp + 77 * PAGE_SIZE + 123,
      thp + PMD_SIZE + 5 * PAGE_SIZE,
      base + 3 * PMD_SIZE,
    ];
    const fw = new FolioWalk();
    let found = 0;
    withRead(p.mm, () => {
      for (const addr of addrs) {
        for (const flags of [0, FW_MIGRATION, FW_ZEROPAGE, FW_MIGRATION | FW_ZEROPAGE]) {
          const want = naive(m, p, addr, flags);
          const vma = p.mm.vma_lookup(addr)!;
          const folio = folio_walk_start(fw, vma, addr, flags);
          const where = `addr ${addr.toString(16)} flags ${flags}`;
          expect(folio, where).toBe(want.folio);
          if (folio === 0) continue;
          found++;
          expect([fw.level, fw.page, fw.lo, fw.hi], where).toEqual([want.level, want.page, want.lo, want.hi]);
          expect(fw.ptl, where).toBe(fw.table);
          folio_walk_end(fw, vma);
        }
      }
    });
    // anon x4, zero x2, migration x2, THP x8, huge zero x2
    expect(found).toBe(18);
    migrate_folio_finish(m, mig!);
    check(m);
  });

  it('reports PUD leaves at FW_LEVEL_PUD under mm->page_table_lock', () => {
    const { m, p } = setup();
    const a = mapAt(p, 2 * PUD_SIZE, 2 * PUD_SIZE);
    p.writeByte(a + PUD_SIZE, 1);
    p.mm.find_pmd_table(a + PUD_SIZE);
    const leafPfn = 0x40000;
    mk_entry(leafPfn, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PSE, 0);
    setEntry(m.phys, p.mm.found_pud_table(), pud_index(a), entryOut.lo, entryOut.hi);
    const fw = new FolioWalk();
    withRead(p.mm, () => {
      const folio = folio_walk_start(fw, p.mm.vmas[0], a + 3 * PAGE_SIZE, 0);
      expect(folio).toBe(leafPfn);
      expect([fw.level, fw.page, fw.ptl, p.mm.pageTableLocked]).toEqual([
        FW_LEVEL_PUD,
        leafPfn + 3,
        FW_PTL_MM,
        true,
      ]);
      folio_walk_end(fw, p.mm.vmas[0]);
      expect(p.mm.pageTableLocked).toBe(false);
    });
  });

  it('warns about an address outside the VMA', () => {
    const { p } = setup();
    const a = mapAt(p, 0x40000000, PAGE_SIZE);
    expect(() =>
      withRead(p.mm, () => folio_walk_start(new FolioWalk(), p.mm.vmas[0], a + PAGE_SIZE, 0)),
    ).toThrow(/WARN_ON/);
  });
});
