// MADV_COLLAPSE (mm/khugepaged.c, Linux 6.18) at the syscall layer: contents, counters, errnos.
import { EAGAIN, EINVAL, ENOMEM, HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  _PAGE_RW,
  checkMmInvariants,
  E,
  entry_pfn,
  GUP_PIN_COUNTING_BIAS,
  MADV_COLLAPSE,
  MADV_DONTNEED,
  MADV_GUARD_INSTALL,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_PAGEOUT,
  MM_ANONPAGES,
  MM_SWAPENTS,
  PROT_READ,
  pmd_index,
  pmd_leaf,
  readEntry,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, pattern, setup } from './helpers.ts';

const errno = (n: number) => expect.objectContaining({ errno: n });

/** The PMD entry of addr (E.lo/E.hi), or false when there is no PMD table. */
function pmdOf(p: Process, addr: number): boolean {
  const t = p.mm.find_pmd_table(addr);
  if (t === 0) return false;
  readEntry(p.machine.phys, t, pmd_index(addr));
  return true;
}

function pmdMapped(p: Process, addr: number): boolean {
  return pmdOf(p, addr) && pmd_leaf(E.lo);
}

describe('MADV_COLLAPSE', () => {
  it('collapses a partly populated range byte for byte, zero-filling holes and zero pages', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    const page = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < 300; i++) {
      for (let j = 0; j < PAGE_SIZE; j += 512) page[j] = pattern(i, j);
      p.writePage(a + i * PAGE_SIZE, page);
    }
    for (let i = 400; i < 410; i++) p.touch(a + i * PAGE_SIZE);
    const before = p.read(a, PMD_SIZE);
    const used = m.phys.nrUsed;
    const tables = p.mm.nrPtes;
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    expect(E.lo & _PAGE_RW).toBe(_PAGE_RW); // maybe_pmd_mkwrite() on a writable VMA
    const folio = entry_pfn(E.lo, E.hi);
    expect(m.phys.folio_test_large(folio)).toBe(true);
    expect(m.phys.PageAnonExclusive(folio)).toBe(true);
    expect(Buffer.compare(p.read(a, PMD_SIZE), before)).toBe(0);
    expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(HPAGE_PMD_NR);
    // 300 small pages freed, one THP allocated; the PTE table is deposited, not freed.
    expect(m.phys.nrUsed).toBe(used - 300 + HPAGE_PMD_NR);
    expect(p.mm.nrPtes).toBe(tables);
    expect(p.mm.deposited.size).toBe(1);
    expect(m.vmstat.thp_collapse_alloc).toBe(1);
    check(m);
    // The deposited table serves a later split.
    p.madvise(a, PAGE_SIZE, MADV_DONTNEED);
    expect(pmdMapped(p, a)).toBe(false);
    expect(p.readByte(a + PAGE_SIZE)).toBe(before[PAGE_SIZE]);
    check(m);
  });

  it('maps the THP read-only in a read-only VMA (6.18: no SCAN_PAGE_RO)', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    p.writeByte(a, 9);
    p.mprotect(a, PMD_SIZE, PROT_READ);
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    expect(E.lo & _PAGE_RW).toBe(0);
    expect(p.readByte(a)).toBe(9);
    check(m);
  });

  it('collapses only whole PMD ranges: none is 0, hstart > hend is EINVAL', () => {
    const { m, p } = setup();
    const a = anon(p, 1024);
    for (let i = 0; i < 1024; i++) p.writeByte(a + i * PAGE_SIZE, 1);
    p.madvise(a, 100 * PAGE_SIZE, MADV_COLLAPSE); // hstart == hend
    expect(() => p.madvise(a + 10 * PAGE_SIZE, 100 * PAGE_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    expect(pmdMapped(p, a)).toBe(false);
    p.madvise(a + PAGE_SIZE, 1023 * PAGE_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(false);
    expect(pmdMapped(p, a + PMD_SIZE)).toBe(true);
    check(m);
  });

  it('counts an already PMD-mapped range as collapsed', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(a, 1);
    expect(pmdMapped(p, a)).toBe(true);
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(m.vmstat.thp_collapse_alloc).toBe(0);
  });

  it('copies a PTE-mapped THP into a new one and frees the old folio', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    for (let i = 0; i < 512; i++) p.writeByte(a + i * PAGE_SIZE, pattern(i, 3));
    pmdOf(p, a);
    const old = entry_pfn(E.lo, E.hi);
    p.madvise(a + 100 * PAGE_SIZE, 10 * PAGE_SIZE, MADV_DONTNEED);
    const used = m.phys.nrUsed;
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    expect(entry_pfn(E.lo, E.hi)).not.toBe(old);
    expect(m.phys.nrUsed).toBe(used); // one THP for another
    for (let i = 0; i < 512; i++)
      expect(p.readByte(a + i * PAGE_SIZE)).toBe(i >= 100 && i < 110 ? 0 : pattern(i, 3));
    check(m);
  });

  it('refuses VM_NOHUGEPAGE, a too small VMA and a VMA without anon_vma with EINVAL', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    p.writeByte(a, 1);
    p.madvise(a, PMD_SIZE, MADV_NOHUGEPAGE);
    expect(() => p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    const s = anon(p, 10);
    p.writeByte(s, 1);
    expect(() => p.madvise(s, 10 * PAGE_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    const z = anon(p, 512);
    for (let i = 0; i < 512; i++) p.touch(z + i * PAGE_SIZE);
    expect(() => p.madvise(z, PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    check(m);
  });

  it('stops at a none PMD with EINVAL after collapsing the ranges before it', () => {
    const { m, p } = setup();
    const a = anon(p, 1536);
    p.writeByte(a, 1);
    p.writeByte(a + PMD_SIZE, 2);
    expect(() => p.madvise(a, 3 * PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    expect(pmdMapped(p, a)).toBe(true);
    expect(pmdMapped(p, a + PMD_SIZE)).toBe(true);
    const b = anon(p, 1024);
    p.writeByte(b + PMD_SIZE, 2);
    expect(() => p.madvise(b, 2 * PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    expect(pmdMapped(p, b + PMD_SIZE)).toBe(false);
    check(m);
  });

  it('fails with EAGAIN on a pinned page and leaves the range as it was', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    for (let i = 0; i < 512; i++) p.writeByte(a + i * PAGE_SIZE, 5);
    const pfn = p.translate(a + 7 * PAGE_SIZE, false, 'pin');
    m.phys.folio_ref_add(pfn, GUP_PIN_COUNTING_BIAS);
    expect(() => p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EAGAIN));
    expect(pmdMapped(p, a)).toBe(false);
    checkMmInvariants(m, { extraRefs: new Map([[pfn, GUP_PIN_COUNTING_BIAS]]) });
    m.phys.folio_ref_add(pfn, -GUP_PIN_COUNTING_BIAS);
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    check(m);
  });

  it('fails with EAGAIN when one order-0 page is mapped twice in the range (SCAN_PAGE_LOCK)', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    for (let i = 0; i < 512; i++) p.writeByte(a + i * PAGE_SIZE, 5);
    // Make PTE 1 map the page of PTE 0, as KSM does for two identical pages.
    const pteT = p.mm.find_pte_table(a);
    readEntry(m.phys, pteT, 0);
    const lo = E.lo;
    const hi = E.hi;
    const page0 = entry_pfn(lo, hi);
    readEntry(m.phys, pteT, 1);
    const page1 = entry_pfn(E.lo, E.hi);
    expect(page0).not.toBe(page1);
    const words = m.phys.tableWords(pteT);
    const base = m.phys.tableBase(pteT);
    words[base + 2] = lo;
    words[base + 3] = hi;
    m.phys.mapcount[page1]--;
    m.phys.put_page(page1);
    m.phys.mapcount[page0]++;
    m.phys.get_page(page0);
    check(m);
    expect(() => p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EAGAIN));
    expect(pmdMapped(p, a)).toBe(false);
    check(m);
  });

  it('swaps swapped-out pages in and collapses them', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    for (let i = 0; i < 512; i++) p.writeByte(a + i * PAGE_SIZE, pattern(i, 1));
    p.madvise(a, 50 * PAGE_SIZE, MADV_PAGEOUT);
    expect(p.mm.get_mm_counter(MM_SWAPENTS)).toBe(50);
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    expect(p.mm.get_mm_counter(MM_SWAPENTS)).toBe(0);
    expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(HPAGE_PMD_NR);
    for (let i = 0; i < 512; i++) expect(p.readByte(a + i * PAGE_SIZE)).toBe(pattern(i, 1));
    expect(m.swap.cache.size).toBe(0);
    check(m);
  });

  it('fails on a guard marker with EINVAL and stops before the next range', () => {
    const { m, p } = setup();
    const a = anon(p, 1024);
    p.writeByte(a, 1);
    p.writeByte(a + PMD_SIZE, 2);
    p.madvise(a + 10 * PAGE_SIZE, 2 * PAGE_SIZE, MADV_GUARD_INSTALL);
    expect(() => p.madvise(a, 2 * PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(EINVAL));
    expect(pmdMapped(p, a)).toBe(false);
    expect(pmdMapped(p, a + PMD_SIZE)).toBe(false);
    check(m);
  });

  it('is ENOMEM when no THP can be allocated, and for a hole in the range', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    p.writeByte(a, 1);
    m.phys.failAlloc = (order) => order !== 0;
    expect(() => p.madvise(a, PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(ENOMEM));
    m.phys.failAlloc = null;
    check(m);
    const b = anon(p, 1024);
    p.writeByte(b, 1);
    p.munmap(b + PMD_SIZE, PMD_SIZE);
    expect(() => p.madvise(b, 2 * PMD_SIZE, MADV_COLLAPSE)).toThrow(errno(ENOMEM));
    expect(pmdMapped(p, b)).toBe(true);
    check(m);
  });
});
