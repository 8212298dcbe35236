// /proc/kpageflags and /proc/kpagecount (fs/proc/page.c).

import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { MADV_HUGEPAGE, PAGE_MAPPING_KSM, PG_swapcache } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  KPF_ANON,
  KPF_BUDDY,
  KPF_COMPOUND_HEAD,
  KPF_COMPOUND_TAIL,
  KPF_KSM,
  KPF_LRU,
  KPF_MMAP,
  KPF_NOPAGE,
  KPF_OWNER_2,
  KPF_PGTABLE,
  KPF_RESERVED,
  KPF_SWAPBACKED,
  KPF_SWAPCACHE,
  KPF_THP,
  KPF_UPTODATE,
  KPF_ZERO_PAGE,
  kpagecount,
  kpageflags,
  kpfNames,
  kpfTest,
} from '../src/index.ts';
import { failOnWarn, mapAt, setup } from './helpers.ts';

failOnWarn();

const A = 0x40000000;
const bits = (...b: number[]): number => b.reduce((s, x) => s + 2 ** x, 0);
const ANON_PAGE = [KPF_UPTODATE, KPF_LRU, KPF_MMAP, KPF_ANON, KPF_SWAPBACKED];

describe('kpageflags / kpagecount', () => {
  it('anon pages, exclusive then shared with a child', () => {
    const { m, p } = setup();
    mapAt(p, A, PAGE_SIZE);
    p.writeByte(A, 1);
    const pfn = p.translate(A, false, 't');
    expect(kpageflags(m, pfn)).toBe(bits(...ANON_PAGE, KPF_OWNER_2));
    expect(kpfNames(kpageflags(m, pfn))).toBe('UPTODATE|LRU|MMAP|ANON|SWAPBACKED|OWNER_2');
    expect(kpagecount(m, pfn)).toBe(1);
    p.fork('c');
    expect(kpageflags(m, pfn)).toBe(bits(...ANON_PAGE));
    expect(kpagecount(m, pfn)).toBe(2);
  });

  it('the zero page, THPs and the huge zero folio', () => {
    const { m, p } = setup();
    mapAt(p, A, 2 * PMD_SIZE);
    p.madvise(A, 2 * PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(A, 1);
    p.readByte(A + PMD_SIZE);
    expect(kpageflags(m, m.phys.zeroPfn)).toBe(bits(KPF_ZERO_PAGE, KPF_RESERVED));
    expect(kpagecount(m, m.phys.zeroPfn)).toBe(0);
    const head = p.translate(A, false, 't');
    expect(kpageflags(m, head)).toBe(bits(...ANON_PAGE, KPF_COMPOUND_HEAD, KPF_THP, KPF_OWNER_2));
    expect(kpageflags(m, head + 7)).toBe(bits(...ANON_PAGE, KPF_COMPOUND_TAIL, KPF_THP, KPF_OWNER_2));
    expect(kpagecount(m, head + 7)).toBe(1);
    const hz = m.phys.hugeZeroPfn;
    expect(kpageflags(m, hz)).toBe(bits(KPF_COMPOUND_HEAD, KPF_THP, KPF_ZERO_PAGE));
    expect(kpageflags(m, hz + 1)).toBe(bits(KPF_COMPOUND_TAIL, KPF_THP, KPF_ZERO_PAGE));
    expect(kpagecount(m, hz + 1)).toBe(0);
  });

  it('page tables, free frames, holes and KSM / swap-cache pages', () => {
    const { m, p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.writeByte(A + PAGE_SIZE, 1);
    expect(kpageflags(m, p.mm.find_pte_table(A))).toBe(bits(KPF_PGTABLE));
    expect(kpageflags(m, p.mm.pgd)).toBe(bits(KPF_PGTABLE));
    const pfn = p.translate(A, false, 't');
    m.phys.setMapping(pfn, 1, PAGE_MAPPING_KSM);
    expect(kpfTest(kpageflags(m, pfn), KPF_KSM)).toBe(true);
    expect(kpfTest(kpageflags(m, pfn), KPF_ANON)).toBe(true);
    const other = p.translate(A + PAGE_SIZE, false, 't');
    m.phys.flags[other] |= PG_swapcache;
    expect(kpfTest(kpageflags(m, other), KPF_SWAPCACHE)).toBe(true);
    m.phys.flags[other] &= ~PG_swapcache;
    p.munmap(A + PAGE_SIZE, PAGE_SIZE);
    expect(kpageflags(m, other)).toBe(bits(KPF_BUDDY));
    expect(kpagecount(m, other)).toBe(0);
    expect(kpageflags(m, m.phys.nrFrames - 1)).toBe(bits(KPF_BUDDY)); // never handed out
    expect(kpageflags(m, 0)).toBe(bits(KPF_NOPAGE));
    expect(kpageflags(m, m.phys.nrFrames)).toBe(bits(KPF_NOPAGE));
    expect(kpfTest(2 ** 34 + 1, 34)).toBe(true);
    expect(kpfTest(2 ** 34 + 1, 33)).toBe(false);
  });
});
