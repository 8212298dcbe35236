import { Counters } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import {
  CpuFbatches,
  folio_mark_accessed,
  lru_add_drain_all,
  PG_active,
  PG_referenced,
  PhysMem,
} from '../src/index.ts';

const BATCH = 4;
const FRAMES = 4096;

function setup(lruGen = false): { pm: PhysMem; fb: CpuFbatches; pages: number[] } {
  const pm = new PhysMem(FRAMES, new Counters());
  const pages: number[] = [];
  for (let i = 0; i < BATCH + 1; i++) pages.push(pm.alloc_pages(0));
  return { pm, fb: new CpuFbatches(BATCH, lruGen), pages };
}

describe('folio_mark_accessed() and the lru_activate batch (mm/swap.c)', () => {
  it('references first, then activates through the batch, which holds a reference until drained', () => {
    const { pm, fb, pages } = setup();
    const p = pages[0];
    folio_mark_accessed(pm, fb, p);
    expect(pm.flags[p] & PG_referenced).not.toBe(0);
    expect(pm.refcount[p]).toBe(1);
    folio_mark_accessed(pm, fb, p);
    // queued: referenced cleared, not active yet, one more reference
    expect(pm.flags[p] & (PG_referenced | PG_active)).toBe(0);
    expect(pm.refcount[p]).toBe(2);
    // the last mapping goes: the batch keeps the folio alive
    pm.put_page(p);
    expect(pm.refcount[p]).toBe(1);
    lru_add_drain_all(pm, fb);
    expect(pm.refcount[p]).toBe(0);
    expect(fb.lru_activate.nr).toBe(0);
  });

  it('moves a full batch at once: active, references dropped', () => {
    const { pm, fb, pages } = setup();
    for (const p of pages) pm.flags[p] |= PG_referenced;
    for (let i = 0; i < BATCH - 1; i++) folio_mark_accessed(pm, fb, pages[i]);
    expect(fb.lru_activate.nr).toBe(BATCH - 1);
    folio_mark_accessed(pm, fb, pages[BATCH - 1]);
    expect(fb.lru_activate.nr).toBe(0);
    for (let i = 0; i < BATCH; i++) {
      expect(pm.flags[pages[i]] & PG_active).not.toBe(0);
      expect(pm.refcount[pages[i]]).toBe(1);
    }
    // an active folio is not queued again
    pm.flags[pages[0]] |= PG_referenced;
    folio_mark_accessed(pm, fb, pages[0]);
    expect(fb.lru_activate.nr).toBe(0);
  });

  it('with the multi-gen LRU only counts the reference', () => {
    const { pm, fb, pages } = setup(true);
    folio_mark_accessed(pm, fb, pages[0]);
    folio_mark_accessed(pm, fb, pages[0]);
    expect(pm.flags[pages[0]] & PG_referenced).not.toBe(0);
    expect(fb.lru_activate.nr).toBe(0);
    expect(pm.refcount[pages[0]]).toBe(1);
  });
});
