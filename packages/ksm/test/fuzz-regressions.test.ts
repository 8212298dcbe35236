// Regressions found by the whole-stack fuzzer (@mmsim/fuzz).
import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  E,
  entry_pfn,
  MADV_HUGEPAGE,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  migrate_folio,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  readEntry,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { checkKsmInvariants, PR_SET_MEMORY_MERGE } from '../src/index.ts';
import { checkAll, mergeableRegion, world } from './helpers.ts';

function pfnAt(p: Process, addr: number): number {
  readEntry(p.machine.phys, p.mm.find_pte_table(addr), pte_index(addr));
  return entry_pfn(E.lo, E.hi);
}

describe('fuzzer regressions', () => {
  it('rmap_walk_ksm() visits every address of one VMA: migrating a KSM page moves all its mappings', () => {
    const { m, ksm } = world(64);
    const proc = new Process(m, 'p');
    const a = mergeableRegion(proc, 4, () => 9);
    ksm.converge();
    const kpage = pfnAt(proc, a);
    expect(m.phys.PageKsm(kpage)).toBe(true);
    for (let i = 1; i < 4; i++) expect(pfnAt(proc, a + i * PAGE_SIZE)).toBe(kpage);
    const dst = migrate_folio(m, kpage);
    expect(dst).not.toBe(0);
    for (let i = 0; i < 4; i++) {
      expect(pfnAt(proc, a + i * PAGE_SIZE)).toBe(dst);
      expect(proc.readByte(a + i * PAGE_SIZE)).toBe(9);
    }
    checkAll(m, ksm);
  });

  it('a KSM page still mapped by a parent the rmap walk cannot reach is not migrated (undo, as migrate_pages_batch)', () => {
    const { m, ksm } = world(64);
    const parent = new Process(m, 'parent');
    const a = mergeableRegion(parent, 2, () => 5);
    // Not mergeable in the parent: only the child's pages are scanned, and they are still the
    // parent's pages (shared copy-on-write), so the child's first page becomes a KSM page that
    // the parent maps too — through an anon_vma the child's rmap_items do not know.
    parent.madvise(a, 2 * PAGE_SIZE, MADV_UNMERGEABLE);
    const child = parent.fork('child');
    child.madvise(a, 2 * PAGE_SIZE, MADV_MERGEABLE);
    ksm.converge();
    const kpage = pfnAt(child, a);
    expect(m.phys.PageKsm(kpage)).toBe(true);
    // The KSM page is one of the parent's two pages (the one ksmd scanned second).
    const shared = pfnAt(parent, a) === kpage ? a : a + PAGE_SIZE;
    expect(pfnAt(parent, shared)).toBe(kpage);
    expect(migrate_folio(m, kpage)).toBe(0);
    expect(pfnAt(parent, shared)).toBe(kpage);
    expect(pfnAt(child, a)).toBe(kpage);
    checkAll(m, ksm);
    // ...and the KSM checker copes with items of an mm that exited before ksmd freed them.
    child.exit();
    checkKsmInvariants(ksm);
    expect(parent.readByte(a)).toBe(5);
    checkAll(m, ksm);
  });

  it('splitting a zero-filled THP whose subpages pair in the unstable tree leaves the page lock on the kept subpage', () => {
    // The split maps zero-filled subpages to the shared zero page and frees them, the former
    // head included: the lock must have moved to the subpage ksmd holds (split_huge_page()).
    const { m, ksm } = world(64);
    const p = new Process(m, 'p');
    p.prctl(PR_SET_MEMORY_MERGE, 1);
    const a = p.mmap(null, PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(a, 0);
    expect(m.vmstat.thp_fault_alloc).toBe(1);
    ksm.runFullScans(2);
    checkAll(m, ksm);
    for (let i = 0; i < 512; i += 97) expect(p.readByte(a + i * PAGE_SIZE)).toBe(0);
  });
});
