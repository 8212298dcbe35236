// /proc/<pid>/pagemap entries (fs/proc/task_mmu.c pagemap_read()).

import { KernelBug, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
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
  SWP_MIGRATION_READ_EXCLUSIVE,
  SWP_MIGRATION_WRITE,
  swp_offset,
  swp_type,
  taskSizeMax,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_PROC_CONFIG,
  PM_FILE,
  PM_MMAP_EXCLUSIVE,
  PM_PFRAME_MASK,
  PM_PRESENT,
  PM_SOFT_DIRTY,
  PM_SWAP,
  pagemap_read,
} from '../src/index.ts';
import { failOnWarn, mapAt, pteAt, setup } from './helpers.ts';

failOnWarn();

const A = 0x40000000;

describe('pagemap_read', () => {
  it('encodes present, zero-page, swap, migration and none entries as the kernel', () => {
    const { m, p } = setup();
    mapAt(p, A, 6 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.readByte(A + PAGE_SIZE);
    p.writeByte(A + 2 * PAGE_SIZE, 2);
    p.madvise(A + 2 * PAGE_SIZE, PAGE_SIZE, MADV_PAGEOUT);
    p.writeByte(A + 3 * PAGE_SIZE, 3);
    const anonPfn = p.translate(A, false, 't');
    const migPfn = p.translate(A + 3 * PAGE_SIZE, false, 't');
    const swp = pteAt(p.mm, A + 2 * PAGE_SIZE)!;
    const mig = migrate_folio_start(m, migPfn)!;
    const migPte = pteAt(p.mm, A + 3 * PAGE_SIZE)!;
    expect([SWP_MIGRATION_WRITE, SWP_MIGRATION_READ_EXCLUSIVE]).toContain(swp_type(migPte.lo, migPte.hi));
    const pm = pagemap_read(p.mm, A, A + 7 * PAGE_SIZE);
    const sd = PM_SOFT_DIRTY; // every VMA mmap creates is VM_SOFTDIRTY
    expect([...pm]).toEqual([
      PM_PRESENT | PM_MMAP_EXCLUSIVE | sd | BigInt(anonPfn),
      PM_PRESENT | sd | BigInt(m.phys.zeroPfn),
      PM_SWAP | sd | BigInt(swp_type(swp.lo, swp.hi) + swp_offset(swp.lo, swp.hi) * 32),
      // A migration entry shows the PFN as its offset; it is never "exclusively mapped".
      PM_SWAP | sd | BigInt(swp_type(migPte.lo, migPte.hi) + migPfn * 32),
      sd,
      sd,
      0n, // past the VMA
    ]);
    migrate_folio_finish(m, mig);
    checkMmInvariants(m);
  });

  it('follows the kernel configuration: no soft-dirty without CONFIG_MEM_SOFT_DIRTY, no PFNs without CAP_SYS_ADMIN', () => {
    const { p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    const noSd = pagemap_read(p.mm, A, A + 2 * PAGE_SIZE, { ...DEFAULT_PROC_CONFIG, memSoftDirty: false });
    expect(noSd[0] & ~PM_PFRAME_MASK).toBe(PM_PRESENT | PM_MMAP_EXCLUSIVE);
    expect(noSd[1]).toBe(0n);
    const user = pagemap_read(p.mm, A, A + PAGE_SIZE, { ...DEFAULT_PROC_CONFIG, showPfn: false });
    expect(user[0] & PM_PFRAME_MASK).toBe(0n);
  });

  it('clears PM_MMAP_EXCLUSIVE for pages shared with a child; shared anonymous memory is PM_FILE', () => {
    const { p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.writeByte(A + PAGE_SIZE, 1);
    const c = p.fork('c');
    c.writeByte(A + PAGE_SIZE, 2); // the child's copy; the parent's page is exclusive again
    const pm = pagemap_read(p.mm, A, A + 2 * PAGE_SIZE);
    expect(pm[0] & PM_MMAP_EXCLUSIVE).toBe(0n);
    expect(pm[1] & PM_MMAP_EXCLUSIVE).toBe(PM_MMAP_EXCLUSIVE);
    const S = 0x80000000;
    p.mmap(S, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    p.writeByte(S, 1);
    const sh = pagemap_read(p.mm, S, S + PAGE_SIZE)[0];
    expect(sh & (PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE)).toBe(PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE);
  });

  it('reports each page of a THP and of the huge zero page (PM_FILE: not anon)', () => {
    const { m, p } = setup();
    mapAt(p, A, 2 * PMD_SIZE);
    p.madvise(A, 2 * PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(A, 1);
    p.readByte(A + PMD_SIZE);
    const pm = pagemap_read(p.mm, A + PMD_SIZE - 2 * PAGE_SIZE, A + PMD_SIZE + 2 * PAGE_SIZE);
    const head = BigInt(p.translate(A, false, 't'));
    const flags = PM_PRESENT | PM_MMAP_EXCLUSIVE | PM_SOFT_DIRTY;
    const hz = BigInt(m.phys.hugeZeroPfn);
    expect([...pm]).toEqual([
      flags | (head + 510n),
      flags | (head + 511n),
      PM_PRESENT | PM_FILE | PM_SOFT_DIRTY | hz,
      PM_PRESENT | PM_FILE | PM_SOFT_DIRTY | (hz + 1n),
    ]);
  });

  it('marks holes outside VMAs 0 and stops at TASK_SIZE', () => {
    const { p } = setup();
    mapAt(p, A + PAGE_SIZE, PAGE_SIZE);
    expect([...pagemap_read(p.mm, A, A + 3 * PAGE_SIZE)]).toEqual([0n, PM_SOFT_DIRTY, 0n]);
    const top = taskSizeMax(4);
    expect(pagemap_read(p.mm, top - PAGE_SIZE, top + 2 * PAGE_SIZE).length).toBe(1);
    expect(pagemap_read(p.mm, top + PAGE_SIZE, top + 2 * PAGE_SIZE).length).toBe(0);
  });

  it('takes the mmap lock itself (a writer calling it would deadlock)', () => {
    const { p } = setup();
    mapAt(p, A, PAGE_SIZE);
    p.mm.mmap_write_lock();
    expect(() => pagemap_read(p.mm, A, A + PAGE_SIZE)).toThrow(KernelBug);
    p.mm.mmap_write_unlock();
  });
});
