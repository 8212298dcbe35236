// khugepaged as a stepping daemon (mm/khugepaged.c, Linux 6.18): registration of mms, full scans,
// max_ptes_none/_swap/_shared, the young check, pages_to_scan batches and the sysfs knobs.
import { EINVAL, HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  khugepaged_do_scan,
  khugepaged_sysfs_write,
  MADV_FREE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  type Machine,
  MMF_VM_HUGEPAGE,
  pmd_index,
  pmd_leaf,
  readEntry,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, pattern, setup } from './helpers.ts';

/** A 2 MiB-aligned range of one PMD inside a fresh 1024-page mapping. */
function pmdRange(p: Process): number {
  const a = anon(p, 2 * HPAGE_PMD_NR);
  return Math.ceil(a / PMD_SIZE) * PMD_SIZE;
}

function pmdMapped(p: Process, addr: number): boolean {
  const t = p.mm.find_pmd_table(addr);
  if (t === 0) return false;
  readEntry(p.machine.phys, t, pmd_index(addr));
  return pmd_leaf(E.lo);
}

/** Writes pages [from, to) of the range with recognisable bytes. */
function fill(p: Process, a: number, from: number, to: number): void {
  const page = new Uint8Array(PAGE_SIZE);
  for (let i = from; i < to; i++) {
    page.fill(pattern(i, 3));
    p.writePage(a + i * PAGE_SIZE, page);
  }
}

/** One full scan, as the scenario runner and the oracle drive it. */
function fullScan(m: Machine): void {
  const saved = m.khugepaged.pages_to_scan;
  m.khugepaged.pages_to_scan = 2 ** 32 - 1;
  khugepaged_do_scan(m);
  m.khugepaged.pages_to_scan = saved;
}

/** A PTE-mapped, MADV_HUGEPAGE range with pages [0, n) written. */
function populated(p: Process, n: number): number {
  const a = pmdRange(p);
  p.madvise(a, PMD_SIZE, MADV_NOHUGEPAGE); // the first faults map small pages
  fill(p, a, 0, n);
  p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
  return a;
}

describe('khugepaged', () => {
  it('registers an mm at its first huge fault or at MADV_HUGEPAGE of touched memory, and forks', () => {
    const { m, p } = setup();
    const a = pmdRange(p);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    // No anon_vma yet: khugepaged_enter_vma() does not take the VMA.
    expect(p.mm.flags & MMF_VM_HUGEPAGE).toBe(0);
    p.touch(a);
    expect(m.khugepaged.mm_head).toEqual([p.mm]);
    const child = p.fork('c');
    expect(m.khugepaged.mm_head).toEqual([p.mm, child.mm]);
    p.exit();
    expect(m.khugepaged.mm_head).toEqual([child.mm]);

    const q = setup().p;
    const b = populated(q, 1);
    expect(q.machine.khugepaged.mm_head).toEqual([q.mm]);
    expect(pmdMapped(q, b)).toBe(false);
    check(m);
  });

  it('a full scan collapses a PTE-mapped range with holes, keeping every byte', () => {
    const { m, p } = setup();
    const a = populated(p, 300);
    const before = p.read(a, PMD_SIZE);
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(true);
    expect(Buffer.compare(p.read(a, PMD_SIZE), before)).toBe(0);
    expect(m.khugepaged.pages_collapsed).toBe(1);
    expect(m.khugepaged.full_scans).toBe(1);
    fullScan(m); // PMD-mapped now: nothing more
    expect(m.khugepaged.pages_collapsed).toBe(1);
    expect(m.khugepaged.full_scans).toBe(2);
    check(m);
  });

  it('max_ptes_none, max_ptes_shared and max_ptes_swap refuse ranges beyond them', () => {
    const { m, p } = setup();
    expect(khugepaged_sysfs_write(m, 'max_ptes_none', '0')).toBe(0);
    const a = populated(p, HPAGE_PMD_NR - 1);
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(false);
    fill(p, a, HPAGE_PMD_NR - 1, HPAGE_PMD_NR);
    expect(khugepaged_sysfs_write(m, 'max_ptes_shared', '0')).toBe(0);
    const child = p.fork('c');
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(false);
    expect(pmdMapped(child, a)).toBe(false);
    child.exit();
    expect(khugepaged_sysfs_write(m, 'max_ptes_swap', '0')).toBe(0);
    p.madvise(a, PAGE_SIZE, MADV_PAGEOUT);
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(false);
    expect(khugepaged_sysfs_write(m, 'max_ptes_swap', '1')).toBe(0);
    // One swap entry and fewer than HPAGE_PMD_NR / 2 young pages would still refuse: all are young.
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(true);
    expect(m.khugepaged.pages_collapsed).toBe(1);
    check(m);
  });

  it('needs a young page: a range made old by MADV_FREE is left alone', () => {
    const { m, p } = setup();
    const a = populated(p, 10);
    p.madvise(a, PMD_SIZE, MADV_FREE);
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(false);
    p.touch(a); // the access makes its PTE young again
    fullScan(m);
    expect(pmdMapped(p, a)).toBe(true);
    check(m);
  });

  it('pages_to_scan splits a full scan into wake-ups; the sysfs stores check their ranges', () => {
    const { m, p } = setup();
    const x = populated(p, 1);
    const y = populated(p, 1);
    const [a, b] = x < y ? [x, y] : [y, x];
    expect(khugepaged_sysfs_write(m, 'pages_to_scan', String(HPAGE_PMD_NR))).toBe(0);
    khugepaged_do_scan(m); // the lower range, collapsed: the pass ends there
    expect([pmdMapped(p, a), pmdMapped(p, b), m.khugepaged.full_scans]).toEqual([true, false, 0]);
    khugepaged_do_scan(m);
    khugepaged_do_scan(m);
    expect(pmdMapped(p, b)).toBe(true);
    expect(m.khugepaged.full_scans).toBe(1);
    expect(khugepaged_sysfs_write(m, 'pages_to_scan', '0')).toBe(-EINVAL);
    expect(khugepaged_sysfs_write(m, 'max_ptes_none', String(HPAGE_PMD_NR))).toBe(-EINVAL);
    expect(khugepaged_sysfs_write(m, 'max_ptes_swap', 'x')).toBe(-EINVAL);
    expect(khugepaged_sysfs_write(m, 'full_scans', '1')).toBe(-EINVAL);
    check(m);
  });
});
