// Reclaim of empty PTE tables by MADV_DONTNEED (mm/pt_reclaim.c, CONFIG_PT_RECLAIM, Linux 6.18),
// checked against the live kernel by scenarios/pt-reclaim-dontneed.yaml.
import { HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  MADV_COLD,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_GUARD_INSTALL,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  MM_ANONPAGES,
  PROT_READ,
  PROT_WRITE,
  pmd_index,
  pmd_leaf,
  readEntry,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, setup } from './helpers.ts';

/** The PMD entry of addr in E.lo/E.hi; false without a PMD table. */
function pmdOf(p: Process, addr: number): boolean {
  const t = p.mm.find_pmd_table(addr);
  if (t === 0) return false;
  readEntry(p.machine.phys, t, pmd_index(addr));
  return true;
}

const pmdNone = (p: Process, addr: number): boolean => !pmdOf(p, addr) || (E.lo === 0 && E.hi === 0);

/** A MADV_HUGEPAGE block faulted in as a THP and split by MADV_COLD over part of it. */
function splitThp(p: Process): number {
  const a = anon(p, 2 * HPAGE_PMD_NR);
  p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
  for (let i = 0; i < HPAGE_PMD_NR; i++) p.writeByte(a + i * PAGE_SIZE, 1 + (i % 200));
  expect(pmdOf(p, a) && pmd_leaf(E.lo)).toBe(true);
  p.madvise(a + 10 * PAGE_SIZE, 2 * PAGE_SIZE, MADV_COLD);
  expect(pmdOf(p, a) && !pmd_leaf(E.lo)).toBe(true);
  return a;
}

describe('MADV_DONTNEED frees the PTE tables it empties (CONFIG_PT_RECLAIM)', () => {
  it('a whole block: the table goes (nr_ptes, frames), and the next write faults a THP again', () => {
    const { m, p } = setup();
    const a = splitThp(p);
    const tables = p.mm.nrPtes;
    const used = m.phys.nrUsed;
    p.madvise(a, PMD_SIZE, MADV_DONTNEED);
    expect(pmdNone(p, a)).toBe(true);
    expect(p.mm.nrPtes).toBe(tables - 1);
    expect(m.phys.nrUsed).toBe(used - HPAGE_PMD_NR - 1);
    check(m);
    p.writeByte(a + 5 * PAGE_SIZE, 7);
    expect(pmdOf(p, a) && pmd_leaf(E.lo)).toBe(true);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    expect(p.readByte(a + 5 * PAGE_SIZE)).toBe(7);
    check(m);
  });

  it('MADV_DONTNEED_LOCKED does it too; an already empty table in the range goes as well', () => {
    const { m, p } = setup();
    const a = splitThp(p);
    p.madvise(a, 100 * PAGE_SIZE, MADV_DONTNEED);
    p.madvise(a + 100 * PAGE_SIZE, PMD_SIZE - 100 * PAGE_SIZE, MADV_DONTNEED);
    expect(pmdOf(p, a) && !pmd_leaf(E.lo) && E.lo !== 0).toBe(true); // neither covered the table
    const tables = p.mm.nrPtes;
    p.madvise(a, PMD_SIZE, MADV_DONTNEED_LOCKED);
    expect(pmdNone(p, a)).toBe(true);
    expect(p.mm.nrPtes).toBe(tables - 1);
    check(m);
  });

  it('keeps the table when the range covers only part of it, or a guard marker stays in it', () => {
    const { m, p } = setup();
    const a = splitThp(p);
    p.madvise(a, PMD_SIZE - PAGE_SIZE, MADV_DONTNEED);
    expect(pmdNone(p, a)).toBe(false);
    const b = splitThp(p);
    p.madvise(b + 300 * PAGE_SIZE, PAGE_SIZE, MADV_GUARD_INSTALL);
    const tables = p.mm.nrPtes;
    p.madvise(b, PMD_SIZE, MADV_DONTNEED);
    expect(pmdNone(p, b)).toBe(false);
    expect(p.mm.nrPtes).toBe(tables);
    // Both refault 4 KiB pages into the kept tables.
    p.writeByte(a + 5 * PAGE_SIZE, 7);
    p.writeByte(b + 5 * PAGE_SIZE, 7);
    expect(pmdOf(p, a) && !pmd_leaf(E.lo)).toBe(true);
    expect(pmdOf(p, b) && !pmd_leaf(E.lo)).toBe(true);
    check(m);
  });

  it('a block cut by a VMA boundary is zapped per VMA, never whole: the table stays', () => {
    const { m, p } = setup();
    const a = splitThp(p);
    p.mprotect(a + PMD_SIZE / 2, PMD_SIZE / 2, PROT_READ);
    p.madvise(a, PMD_SIZE, MADV_DONTNEED);
    expect(pmdNone(p, a)).toBe(false);
    check(m);
  });

  it('other zaps keep their tables: MADV_FREE, and a plain MADV_DONTNEED of a THP left whole', () => {
    const { m, p } = setup();
    const a = splitThp(p);
    const tables = p.mm.nrPtes;
    p.madvise(a, PMD_SIZE, MADV_FREE);
    expect(p.mm.nrPtes).toBe(tables);
    const b = anon(p, HPAGE_PMD_NR);
    p.writeByte(b, 1); // not MADV_HUGEPAGE: 4 KiB pages
    p.madvise(b, PAGE_SIZE, MADV_DONTNEED);
    expect(pmdNone(p, b)).toBe(false);
    check(m);
  });

  it('any VMA: shared anonymous memory and COW-shared pages after fork lose the table too', () => {
    const { m, p } = setup();
    const s = p.mmap(null, PMD_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    expect(s % PMD_SIZE).toBe(0);
    for (let i = 0; i < HPAGE_PMD_NR; i += 64) p.writeByte(s + i * PAGE_SIZE, 1);
    const a = anon(p, HPAGE_PMD_NR);
    for (let i = 0; i < HPAGE_PMD_NR; i += 64) p.writeByte(a + i * PAGE_SIZE, 2);
    const c = p.fork('c');
    const tables = p.mm.nrPtes;
    p.madvise(s, PMD_SIZE, MADV_DONTNEED);
    p.madvise(a, PMD_SIZE, MADV_DONTNEED);
    expect(p.mm.nrPtes).toBe(tables - 2);
    expect(pmdNone(p, s) && pmdNone(p, a)).toBe(true);
    // The child keeps its own tables and pages; the shared object keeps its pages.
    expect(c.readByte(a + 64 * PAGE_SIZE)).toBe(2);
    expect(c.readByte(s + 64 * PAGE_SIZE)).toBe(1);
    expect(p.readByte(s + 64 * PAGE_SIZE)).toBe(1);
    check(m);
  });
});
