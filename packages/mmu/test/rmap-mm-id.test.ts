// CONFIG_MM_ID's tracking of the mms mapping a large folio (include/linux/rmap.h, 6.18):
// folio_add_return_large_mapcount() / folio_sub_return_large_mapcount() on a THP's two mm-id
// slots and its "maybe mapped shared" bit, and mm_id_alloc()'s ids.

import { HPAGE_PMD_NR, HPAGE_PMD_ORDER, KERNEL_PROFILES } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import {
  folio_add_return_large_mapcount,
  folio_maybe_mapped_shared,
  folio_sub_return_large_mapcount,
  Machine,
  MM_ID_DUMMY,
  MmStruct,
  mmput,
  type PhysMem,
} from '../src/index.ts';

const A = 1;
const B = 2;
const C = 3;

function slots(pm: PhysMem, f: number) {
  return {
    ids: [pm.folio_mm_id(f, 0), pm.folio_mm_id(f, 1)],
    counts: [pm.mm_id_mapcount(f, 0), pm.mm_id_mapcount(f, 1)],
    total: pm.folio_large_mapcount(f),
    shared: pm.folio_mm_ids_shared(f),
  };
}

function thp(kernel = KERNEL_PROFILES['6.18']): { m: Machine; pm: PhysMem; f: number } {
  const m = new Machine({ memoryMiB: 64, kernel });
  const f = m.phys.alloc_pages(HPAGE_PMD_ORDER);
  expect(f).not.toBe(0);
  return { m, pm: m.phys, f };
}

describe('CONFIG_MM_ID slots of a large folio', () => {
  it('a second mm takes the free slot and sets the bit; the bit clears when one slot holds every mapping', () => {
    const { pm, f } = thp();
    expect(folio_add_return_large_mapcount(pm, f, HPAGE_PMD_NR, A)).toBe(HPAGE_PMD_NR);
    expect(slots(pm, f)).toEqual({ ids: [A, MM_ID_DUMMY], counts: [512, 0], total: 512, shared: false });
    folio_add_return_large_mapcount(pm, f, 1, B);
    expect(slots(pm, f)).toEqual({ ids: [A, B], counts: [512, 1], total: 513, shared: true });
    expect(folio_sub_return_large_mapcount(pm, f, 1, B)).toBe(HPAGE_PMD_NR);
    expect(slots(pm, f)).toEqual({ ids: [A, MM_ID_DUMMY], counts: [512, 0], total: 512, shared: false });
  });

  it('a third mm gets no slot, and keeps the folio "maybe shared" after both slot holders leave', () => {
    const { m, pm, f } = thp();
    folio_add_return_large_mapcount(pm, f, HPAGE_PMD_NR, A);
    folio_add_return_large_mapcount(pm, f, HPAGE_PMD_NR, B);
    folio_add_return_large_mapcount(pm, f, HPAGE_PMD_NR, C);
    expect(slots(pm, f)).toEqual({ ids: [A, B], counts: [512, 512], total: 1536, shared: true });
    for (let i = 0; i < HPAGE_PMD_NR; i++) folio_sub_return_large_mapcount(pm, f, 1, B);
    expect(slots(pm, f)).toEqual({ ids: [A, MM_ID_DUMMY], counts: [512, 0], total: 1024, shared: true });
    for (let i = 0; i < HPAGE_PMD_NR; i++) folio_sub_return_large_mapcount(pm, f, 1, A);
    expect(slots(pm, f)).toEqual({
      ids: [MM_ID_DUMMY, MM_ID_DUMMY],
      counts: [0, 0],
      total: 512,
      shared: true,
    });
    // C alone maps it, but folio_maybe_mapped_shared() answers with the bit (6.18).
    expect(folio_maybe_mapped_shared(m, f)).toBe(true);
  });

  it('a slot taken after unslotted mappings underflows and is freed; the last unmap clears the bit', () => {
    const { pm, f } = thp();
    folio_add_return_large_mapcount(pm, f, 10, A);
    folio_add_return_large_mapcount(pm, f, 10, B);
    folio_add_return_large_mapcount(pm, f, 10, C); // no slot free
    for (let i = 0; i < 10; i++) folio_sub_return_large_mapcount(pm, f, 1, A);
    // C maps one more page: it takes slot 0, though it has other mappings (bit stays set).
    folio_add_return_large_mapcount(pm, f, 1, C);
    expect(slots(pm, f)).toEqual({ ids: [C, B], counts: [1, 10], total: 21, shared: true });
    // Its second unmap underflows slot 0: freed. B's slot does not hold all 19 mappings.
    folio_sub_return_large_mapcount(pm, f, 1, C);
    folio_sub_return_large_mapcount(pm, f, 1, C);
    expect(slots(pm, f)).toEqual({ ids: [MM_ID_DUMMY, B], counts: [0, 10], total: 19, shared: true });
    for (let i = 0; i < 9; i++) folio_sub_return_large_mapcount(pm, f, 1, C);
    // B's slot now holds every mapping: exclusive again.
    expect(slots(pm, f)).toEqual({ ids: [MM_ID_DUMMY, B], counts: [0, 10], total: 10, shared: false });
    for (let i = 0; i < 10; i++) folio_sub_return_large_mapcount(pm, f, 1, B);
    expect(slots(pm, f)).toEqual({
      ids: [MM_ID_DUMMY, MM_ID_DUMMY],
      counts: [0, 0],
      total: 0,
      shared: false,
    });
  });

  it('a mapping arriving while others exist sets the bit even into slot 0', () => {
    const { pm, f } = thp();
    folio_add_return_large_mapcount(pm, f, 2, A);
    folio_add_return_large_mapcount(pm, f, 2, B);
    folio_add_return_large_mapcount(pm, f, 2, C);
    folio_sub_return_large_mapcount(pm, f, 2, A);
    folio_sub_return_large_mapcount(pm, f, 2, B);
    // Only C's two mappings are left; no slot accounts for them: the bit stays.
    expect(slots(pm, f).shared).toBe(true);
    folio_sub_return_large_mapcount(pm, f, 1, C);
    expect(slots(pm, f)).toEqual({ ids: [MM_ID_DUMMY, MM_ID_DUMMY], counts: [0, 0], total: 1, shared: true });
  });

  it('folio_maybe_mapped_shared(): one mapping is exclusive whatever the bit; without CONFIG_MM_ID the bit is not read', () => {
    for (const [kernel, expected] of [
      [KERNEL_PROFILES['6.18'], true],
      [KERNEL_PROFILES['6.12'], false],
    ] as const) {
      const { m, pm, f } = thp(kernel);
      folio_add_return_large_mapcount(pm, f, 1, A);
      folio_add_return_large_mapcount(pm, f, 2, B);
      folio_add_return_large_mapcount(pm, f, 2, C);
      folio_sub_return_large_mapcount(pm, f, 1, A);
      folio_sub_return_large_mapcount(pm, f, 2, B);
      expect(pm.folio_mm_ids_shared(f)).toBe(true);
      // 6.12: mmsim's exact answer (an rmap walk: this folio has no mapping to walk).
      expect(folio_maybe_mapped_shared(m, f)).toBe(expected);
      folio_sub_return_large_mapcount(pm, f, 1, C);
      expect(folio_maybe_mapped_shared(m, f)).toBe(false);
    }
  });

  it('splitting a large folio leaves its former tail pages as order-0 pages with no pins', () => {
    const { pm, f } = thp();
    folio_add_return_large_mapcount(pm, f, 1, A);
    folio_add_return_large_mapcount(pm, f, 1, B);
    folio_sub_return_large_mapcount(pm, f, 1, A);
    folio_sub_return_large_mapcount(pm, f, 1, B);
    pm.refcount[f] = 1 + HPAGE_PMD_NR - 1; // the caller's reference and one per tail to keep them
    for (let p = f + 1; p < f + HPAGE_PMD_NR; p++) pm.mapcount[p] = 1;
    pm.splitFolio(f);
    for (let p = f; p < f + 4; p++) {
      expect(pm.pincount[p]).toBe(0);
      expect(pm.entireMapcount[p]).toBe(0);
    }
  });
});

describe('mm_id_alloc()', () => {
  it('hands out the lowest free id, and an exited mm gives its id back', () => {
    const m = new Machine({ memoryMiB: 64 });
    const a = new MmStruct(m, 4);
    const b = new MmStruct(m, 4);
    expect([a.mm_id, b.mm_id]).toEqual([1, 2]);
    m.mms.add(a);
    mmput(a);
    expect(new MmStruct(m, 4).mm_id).toBe(1);
  });
});
