// The lock assertions of the walker (docs/kernel/pagewalk.md §1.4, §1.9): mmap lock modes, per-VMA write
// locks, PTLs held by folio_walk.

import { KERNEL_PROFILES, KernelBug, PAGE_SIZE } from '@mmsim/core';
import { ptlHeld } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  FolioWalk,
  folio_walk_end,
  folio_walk_start,
  mmWalkOps,
  PGWALK_RDLOCK,
  PGWALK_WRLOCK,
  PGWALK_WRLOCK_VERIFY,
  walk_kernel_page_table_range,
  walk_page_range,
  walk_page_range_debug,
  walk_page_range_novma,
  walk_page_range_vma,
  walk_page_vma,
} from '../src/index.ts';
import { failOnWarn, mapAt, setup, withRead, withWrite } from './helpers.ts';

failOnWarn();

function world() {
  const { m, p } = setup();
  const a = mapAt(p, 0x40000000, 4 * PAGE_SIZE);
  p.writeByte(a, 1);
  return { m, p, a, vma: p.mm.vmas[0] };
}

const ops = (walk_lock: number) => mmWalkOps({ pmd_entry: () => 0, walk_lock });

describe('mmap_lock assertions', () => {
  it('every VMA walk needs the mmap lock', () => {
    const { p, a, vma } = world();
    expect(() => walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_RDLOCK))).toThrow(KernelBug);
    expect(() => walk_page_range_vma(vma, a, a + PAGE_SIZE, ops(PGWALK_RDLOCK))).toThrow(
      /mmap_lock not held/,
    );
    expect(() => walk_page_vma(vma, ops(PGWALK_RDLOCK))).toThrow(KernelBug);
    expect(() => folio_walk_start(new FolioWalk(), vma, a, 0)).toThrow(KernelBug);
    expect(withRead(p.mm, () => walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_RDLOCK)))).toBe(0);
    expect(withWrite(p.mm, () => walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_RDLOCK)))).toBe(0);
  });

  it('PGWALK_WRLOCK and PGWALK_WRLOCK_VERIFY need it for write (6.5+)', () => {
    const { p, a, vma } = world();
    for (const mode of [PGWALK_WRLOCK, PGWALK_WRLOCK_VERIFY]) {
      expect(() => withRead(p.mm, () => walk_page_range(p.mm, a, a + PAGE_SIZE, ops(mode)))).toThrow(
        /mmap_assert_write_locked/,
      );
      expect(() => withRead(p.mm, () => walk_page_range_vma(vma, a, a + PAGE_SIZE, ops(mode)))).toThrow(
        KernelBug,
      );
      expect(() => withRead(p.mm, () => walk_page_vma(vma, ops(mode)))).toThrow(KernelBug);
    }
    // Before 6.5 walk_lock did not exist: a read lock is enough whatever the field says.
    expect(
      withRead(p.mm, () =>
        walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_WRLOCK), null, KERNEL_PROFILES['6.2']),
      ),
    ).toBe(0);
    expect(vma.vmaWriteLocked).toBe(false);
  });

  it('PGWALK_WRLOCK write-locks each VMA walked; PGWALK_WRLOCK_VERIFY asserts it', () => {
    const { p, a, vma } = world();
    p.mm.mmap_write_lock();
    try {
      expect(() => walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_WRLOCK_VERIFY))).toThrow(
        /vma_assert_write_locked/,
      );
      expect(walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_WRLOCK))).toBe(0);
      expect(vma.vmaWriteLocked).toBe(true);
      expect(walk_page_range(p.mm, a, a + PAGE_SIZE, ops(PGWALK_WRLOCK_VERIFY))).toBe(0);
      expect(walk_page_range_vma(vma, a, a + PAGE_SIZE, ops(PGWALK_WRLOCK_VERIFY))).toBe(0);
    } finally {
      p.mm.mmap_write_unlock();
    }
    // mmap_write_unlock() drops the VMA write locks (vma_end_write_all()).
    expect(vma.vmaWriteLocked).toBe(false);
  });

  it('walk_page_range_novma: read lock in 6.0, write lock from 6.1; the 6.18 split', () => {
    const { p, a } = world();
    const o = ops(PGWALK_RDLOCK);
    expect(
      withRead(p.mm, () => walk_page_range_novma(p.mm, a, a + PAGE_SIZE, o, 0, null, KERNEL_PROFILES['6.0'])),
    ).toBe(0);
    expect(() => withRead(p.mm, () => walk_page_range_novma(p.mm, a, a + PAGE_SIZE, o))).toThrow(KernelBug);
    expect(withWrite(p.mm, () => walk_page_range_novma(p.mm, a, a + PAGE_SIZE, o))).toBe(0);
    expect(() => withRead(p.mm, () => walk_page_range_debug(p.mm, a, a + PAGE_SIZE, o))).toThrow(KernelBug);
    expect(withWrite(p.mm, () => walk_page_range_debug(p.mm, a, a + PAGE_SIZE, o))).toBe(0);
    // Kernel page tables only need init_mm's mmap lock for read.
    expect(withRead(p.mm, () => walk_kernel_page_table_range(p.mm, a, a + PAGE_SIZE, o))).toBe(0);
    expect(() => walk_kernel_page_table_range(p.mm, a, a + PAGE_SIZE, o)).toThrow(KernelBug);
  });
});

describe('page-table locks', () => {
  it('taking the PTE lock again inside pte_entry is a recursive-locking bug', async () => {
    const { m, p, a } = world();
    const { ptlLock } = await import('@mmsim/mmu');
    const bad = mmWalkOps({
      pte_entry: (w) => {
        ptlLock(m.phys, m.counters, w.table);
        return 0;
      },
    });
    expect(() => withRead(p.mm, () => walk_page_range(p.mm, a, a + PAGE_SIZE, bad))).toThrow(
      /recursive locking/,
    );
  });

  it('folio_walk_start() returns with the PTL held; folio_walk_end() releases it', () => {
    const { m, p, a, vma } = world();
    const fw = new FolioWalk();
    withRead(p.mm, () => {
      const folio = folio_walk_start(fw, vma, a, 0);
      expect(folio).not.toBe(0);
      expect(ptlHeld(m.phys, fw.ptl)).toBe(true);
      // Another lookup of the same table would deadlock.
      expect(() => folio_walk_start(new FolioWalk(), vma, a + PAGE_SIZE, 0)).toThrow(/recursive locking/);
      folio_walk_end(fw, vma);
      expect(ptlHeld(m.phys, fw.ptl)).toBe(false);
      // Nothing found: no lock left behind.
      expect(folio_walk_start(fw, vma, a + PAGE_SIZE, 0)).toBe(0);
      expect(ptlHeld(m.phys, fw.table)).toBe(false);
    });
  });
});
