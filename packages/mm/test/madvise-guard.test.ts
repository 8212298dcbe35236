// MADV_GUARD_INSTALL / MADV_GUARD_REMOVE (mm/madvise.c, Linux 6.18) at the syscall layer.
import { EFAULT, EINVAL, ENOMEM, PAGE_SIZE } from '@mmsim/core';
import {
  E,
  is_guard_pte_marker,
  MADV_DONTNEED,
  MADV_GUARD_INSTALL,
  MADV_GUARD_REMOVE,
  MAP_ANONYMOUS,
  MAP_SHARED,
  MM_ANONPAGES,
  MM_SHMEMPAGES,
  PROT_READ,
  PROT_WRITE,
  readEntry,
  VM_LOCKED,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, setup } from './helpers.ts';

/** Whether the PTE of addr holds a guard marker. */
function guarded(p: Process, addr: number): boolean {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return false;
  readEntry(p.machine.phys, t, (addr / PAGE_SIZE) % 512);
  return is_guard_pte_marker(E.lo, E.hi);
}

const errno = (n: number) => expect.objectContaining({ errno: n });

describe('guard regions', () => {
  it('install zaps what is mapped, faults with EFAULT, and survives MADV_DONTNEED', () => {
    const { m, p } = setup();
    const a = anon(p, 8);
    for (let i = 0; i < 8; i++) p.writeByte(a + i * PAGE_SIZE, i + 1);
    p.madvise(a + 2 * PAGE_SIZE, 3 * PAGE_SIZE, MADV_GUARD_INSTALL);
    expect([0, 1, 2, 3, 4, 5].map((i) => guarded(p, a + i * PAGE_SIZE))).toEqual([
      false,
      false,
      true,
      true,
      true,
      false,
    ]);
    expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(5);
    expect(() => p.readByte(a + 3 * PAGE_SIZE)).toThrowError(errno(EFAULT));
    expect(() => p.writeByte(a + 4 * PAGE_SIZE, 9)).toThrowError(errno(EFAULT));
    p.madvise(a, 8 * PAGE_SIZE, MADV_DONTNEED);
    expect(guarded(p, a + 2 * PAGE_SIZE)).toBe(true);
    expect(p.readByte(a + 5 * PAGE_SIZE)).toBe(0);
    // Installing again over markers and zero-page mappings leaves one marker per page.
    p.madvise(a, 8 * PAGE_SIZE, MADV_GUARD_INSTALL);
    for (let i = 0; i < 8; i++) expect(guarded(p, a + i * PAGE_SIZE)).toBe(true);
    p.madvise(a + PAGE_SIZE, PAGE_SIZE, MADV_GUARD_REMOVE);
    expect(guarded(p, a + PAGE_SIZE)).toBe(false);
    expect(p.readByte(a + PAGE_SIZE)).toBe(0);
    check(m);
  });

  it('munmap and exit drop the markers and free the tables', () => {
    const { m, p } = setup();
    const tables = p.mm.nrPtes;
    const a = anon(p, 4);
    p.madvise(a, 4 * PAGE_SIZE, MADV_GUARD_INSTALL);
    expect(p.mm.nrPtes).toBeGreaterThan(tables);
    p.munmap(a, 4 * PAGE_SIZE);
    expect(p.mm.nrPtes).toBe(tables);
    const b = anon(p, 2);
    p.madvise(b, 2 * PAGE_SIZE, MADV_GUARD_INSTALL);
    p.exit();
    check(m);
  });

  it('fork copies the markers, and a shared mapping with markers has its PTEs copied too', () => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.madvise(a, PAGE_SIZE, MADV_GUARD_INSTALL);
    const s = p.mmap(null, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS);
    for (let i = 0; i < 4; i++) p.writeByte(s + i * PAGE_SIZE, 0x40 + i);
    const unguarded = p.fork('u');
    expect(unguarded.mm.get_mm_counter(MM_SHMEMPAGES)).toBe(0); // faulted in from the object
    p.madvise(s + 3 * PAGE_SIZE, PAGE_SIZE, MADV_GUARD_INSTALL);
    const c = p.fork('c');
    expect(guarded(c, a)).toBe(true);
    expect(guarded(c, s + 3 * PAGE_SIZE)).toBe(true);
    expect(c.mm.get_mm_counter(MM_SHMEMPAGES)).toBe(3);
    expect(c.readByte(s + 2 * PAGE_SIZE)).toBe(0x42);
    expect(() => c.readByte(a)).toThrowError(errno(EFAULT));
    c.exit();
    unguarded.exit();
    check(m);
  });

  it('refuses VM_LOCKED for install only, and reports holes with ENOMEM after guarding the rest', () => {
    const { m, p } = setup();
    const a = anon(p, 4);
    p.munmap(a + PAGE_SIZE, PAGE_SIZE);
    expect(() => p.madvise(a, 4 * PAGE_SIZE, MADV_GUARD_INSTALL)).toThrowError(errno(ENOMEM));
    expect([0, 2, 3].map((i) => guarded(p, a + i * PAGE_SIZE))).toEqual([true, true, true]);
    const v = p.mm.find_vma(a)!;
    v.vm_flags |= VM_LOCKED; // no mlock() in the simulator
    expect(() => p.madvise(a, PAGE_SIZE, MADV_GUARD_INSTALL)).toThrowError(errno(EINVAL));
    p.madvise(a, PAGE_SIZE, MADV_GUARD_REMOVE);
    expect(guarded(p, a)).toBe(false);
    check(m);
  });
});
