// mincore(2) on the walker (mm/mincore.c).

import { EFAULT, EINVAL, ENOMEM, ErrnoError, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  checkMmInvariants,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_SHARED,
  migrate_folio_finish,
  migrate_folio_start,
  PROT_READ,
  PROT_WRITE,
  taskSizeMax,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { mincore, sys_mincore } from '../src/index.ts';
import { failOnWarn, mapAt, setup } from './helpers.ts';

failOnWarn();

const A = 0x40000000;

describe('mincore', () => {
  it('reports resident pages: mapped, zero page, THP, migrating; not: none, swapped out', () => {
    const { m, p } = setup();
    mapAt(p, A, 8 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.readByte(A + PAGE_SIZE);
    p.writeByte(A + 2 * PAGE_SIZE, 1);
    p.madvise(A + 2 * PAGE_SIZE, PAGE_SIZE, MADV_PAGEOUT);
    p.writeByte(A + 3 * PAGE_SIZE, 1);
    const mig = migrate_folio_start(m, p.translate(A + 3 * PAGE_SIZE, false, 't'))!;
    expect([...mincore(p.mm, A, 8 * PAGE_SIZE)]).toEqual([1, 1, 0, 1, 0, 0, 0, 0]);
    migrate_folio_finish(m, mig);
    const T = A + 2 * PMD_SIZE;
    mapAt(p, T, PMD_SIZE);
    p.madvise(T, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(T, 1);
    expect(mincore(p.mm, T, PMD_SIZE).every((v) => v === 1)).toBe(true);
    // A range with no page tables at all is a hole.
    const H = A + 8 * PMD_SIZE;
    mapAt(p, H, 3 * PAGE_SIZE);
    expect([...mincore(p.mm, H, 3 * PAGE_SIZE - 1)]).toEqual([0, 0, 0]);
    checkMmInvariants(m);
  });

  it('shared anonymous pages are resident while in the shmem object, mapped here or not', () => {
    const { p } = setup();
    p.mmap(A, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    const c = p.fork('c');
    c.writeByte(A, 1);
    expect([...mincore(p.mm, A, 2 * PAGE_SIZE)]).toEqual([1, 0]);
  });

  it('errors: EINVAL unaligned, ENOMEM unmapped or beyond TASK_SIZE, EFAULT short vector', () => {
    const { p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    mapAt(p, A + 3 * PAGE_SIZE, PAGE_SIZE);
    p.writeByte(A, 1);
    p.writeByte(A + 3 * PAGE_SIZE, 1);
    expect(sys_mincore(p.mm, A + 1, PAGE_SIZE, new Uint8Array(1))).toBe(-EINVAL);
    expect(sys_mincore(p.mm, A - PAGE_SIZE, PAGE_SIZE, new Uint8Array(1))).toBe(-ENOMEM);
    expect(sys_mincore(p.mm, taskSizeMax(4) - PAGE_SIZE, 2 * PAGE_SIZE, new Uint8Array(2))).toBe(-ENOMEM);
    expect(sys_mincore(p.mm, A, 2 * PAGE_SIZE, new Uint8Array(1))).toBe(-EFAULT);
    // The pages before the gap are filled before ENOMEM is returned.
    const vec = new Uint8Array(4).fill(9);
    expect(sys_mincore(p.mm, A, 4 * PAGE_SIZE, vec)).toBe(-ENOMEM);
    expect([...vec]).toEqual([1, 0, 9, 9]);
    expect(() => mincore(p.mm, A, 4 * PAGE_SIZE)).toThrow(ErrnoError);
    expect(() => mincore(p.mm, A + 1, 1)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(mincore(p.mm, A, 0).length).toBe(0);
  });

  it('walks large ranges in batches of PAGE_SIZE pages', () => {
    const { p } = setup(128);
    const n = 5000;
    mapAt(p, A, n * PAGE_SIZE);
    for (const i of [0, 4095, 4096, 4999]) p.writeByte(A + i * PAGE_SIZE, 1);
    const v = mincore(p.mm, A, n * PAGE_SIZE);
    expect(v.reduce((s, x) => s + x, 0)).toBe(4);
    expect([v[0], v[4095], v[4096], v[4999], v[1]]).toEqual([1, 1, 1, 1, 0]);
  });
});
