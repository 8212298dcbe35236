// Regressions found by the whole-stack fuzzer (@mmsim/fuzz).
import { ErrnoError, PAGE_SIZE } from '@mmsim/core';
import { MADV_PAGEOUT, migrate_folio } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { anon, check, setup } from './helpers.ts';

describe('fuzzer regressions', () => {
  it('fork() fails with ENOMEM, not a BUG, when the child pgd cannot be allocated (dup_mm)', () => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 7);
    m.phys.failAlloc = (_order, kind) => kind === 'table';
    let err: unknown = null;
    try {
      p.fork('child');
    } catch (e) {
      err = e;
    }
    m.phys.failAlloc = null;
    expect(err).toBeInstanceOf(ErrnoError);
    expect((err as ErrnoError).code).toBe('ENOMEM');
    expect(m.mms.size).toBe(1);
    expect(p.readByte(a)).toBe(7);
    check(m);
  });

  it('a swap-cache folio whose last mapping and last swap PTE go away leaves the cache (free_swap_cache)', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    p.madvise(a, PAGE_SIZE, MADV_PAGEOUT);
    const child = p.fork('child');
    // The child swaps the page in; the parent's swap PTE still references the slot, so the
    // folio stays in the swap cache.
    expect(child.readByte(a)).toBe(1);
    expect(m.swap.cache.size).toBe(1);
    p.exit(); // the slot loses its last reference while the child maps the folio
    child.exit(); // the last mapping goes: the folio must leave the swap cache and be freed
    check(m);
    expect(m.swap.cache.size).toBe(0);
    expect(m.swap.inuse).toBe(0);
    expect(m.phys.nrUsed).toBe(1); // the zero page
  });

  it('migrating a swap-cache folio moves the swap cache entry to the new folio (folio_migrate_mapping)', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 3);
    p.madvise(a, PAGE_SIZE, MADV_PAGEOUT);
    const child = p.fork('child');
    expect(child.readByte(a)).toBe(3); // swapped in: mapped and in the swap cache
    p.exit(); // no swap PTE references the slot any more
    const [[off, folio]] = [...m.swap.cache];
    const dst = migrate_folio(m, folio);
    expect(dst).not.toBe(0);
    expect(m.swap.cache.get(off)).toBe(dst);
    check(m);
    child.exit();
    check(m);
    expect(m.swap.cache.size).toBe(0);
    expect(m.swap.inuse).toBe(0);
    expect(m.phys.nrUsed).toBe(1);
  });
});
