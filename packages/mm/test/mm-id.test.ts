// CONFIG_MM_ID at the syscall layer (Linux 6.18): a PTE-mapped THP forked twice stays "maybe
// mapped shared" for the last child once the parent and the first child exited, so a write copies
// the page instead of reusing it in place (__wp_can_reuse_large_anon_folio()); forked once, the
// survivor's slot holds every mapping and the write reuses it.
import { HPAGE_PMD_NR, KERNEL_PROFILES, type KernelProfile, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { folio_maybe_mapped_shared, MADV_HUGEPAGE, PROT_READ, PROT_WRITE, user_access_pfn } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, pattern, setup } from './helpers.ts';

/** A written, PTE-mapped THP (mprotect of one page and back) forked `children` times; the parent
 * and every child but the last exit. Returns the survivor and the THP's address. */
function survivor(kernel: KernelProfile, children: number): { p: Process; a: number } {
  const { p } = setup({ kernel });
  const r = anon(p, 2 * HPAGE_PMD_NR);
  const a = Math.ceil(r / PMD_SIZE) * PMD_SIZE;
  p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
  for (let i = 0; i < HPAGE_PMD_NR; i++) p.writeByte(a + i * PAGE_SIZE, pattern(i, 1));
  p.mprotect(a + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ);
  p.mprotect(a + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE);
  const kids: Process[] = [];
  for (let k = 0; k < children; k++) kids.push(p.fork(`c${k}`));
  for (const c of kids.slice(0, -1)) c.exit();
  p.exit();
  return { p: kids[kids.length - 1], a };
}

/** Write page 300 of the THP: whether the write reused the page in place, and whether the folio
 * was "maybe mapped shared" before. */
function writeReuses(p: Process, a: number): { reused: boolean; maybeShared: boolean } {
  const addr = a + 300 * PAGE_SIZE;
  const before = user_access_pfn(p.mm, addr, false);
  const pm = p.machine.phys;
  expect(pm.folio_test_large(pm.folio(before))).toBe(true);
  const maybeShared = folio_maybe_mapped_shared(p.machine, pm.folio(before));
  p.writeByte(addr, 9);
  check(p.machine);
  return { reused: user_access_pfn(p.mm, addr, false) === before, maybeShared };
}

describe('CONFIG_MM_ID: the write fault on a large folio', () => {
  it('6.18: forked twice, the last child alone still finds it maybe shared and copies', () => {
    const { p, a } = survivor(KERNEL_PROFILES['6.18'], 2);
    expect(writeReuses(p, a)).toEqual({ reused: false, maybeShared: true });
  });

  it('6.18: forked once, the child holds the only slot in use and reuses the page', () => {
    const { p, a } = survivor(KERNEL_PROFILES['6.18'], 1);
    expect(writeReuses(p, a)).toEqual({ reused: true, maybeShared: false });
  });

  it('6.12: no mm-id bit (the answer is exact), and no reuse of a large folio at all', () => {
    const { p, a } = survivor(KERNEL_PROFILES['6.12'], 2);
    expect(writeReuses(p, a)).toEqual({ reused: false, maybeShared: false });
  });
});
