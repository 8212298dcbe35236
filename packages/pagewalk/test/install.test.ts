// install_pte and walk_page_range_mm() (mm/pagewalk.c, 6.13+; as 6.18's madvise_guard_install()
// uses them): PTEs installed into none slots, page tables allocated on the way, the public entry
// points refusing install_pte.

import { EINVAL, GiB, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  entryOut,
  is_guard_pte_marker,
  make_pte_marker,
  PTE_MARKER_GUARD,
  readEntry,
  VM_HUGETLB,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  type MmWalk,
  mmWalkOps,
  walk_page_range,
  walk_page_range_mm,
  walk_page_range_novma,
  walk_page_range_vma,
  walk_page_vma,
} from '../src/index.ts';
import { check, failOnWarn, mapAt, setup, withRead, withWrite } from './helpers.ts';

failOnWarn();

interface Seen {
  installed: number;
  populated: number;
}

const installOps = mmWalkOps({
  pte_entry: (walk) => {
    (walk.private as Seen).populated++;
    return 0;
  },
  install_pte: (_addr, _next, walk: MmWalk) => {
    make_pte_marker(PTE_MARKER_GUARD);
    walk.lo = entryOut.lo;
    walk.hi = entryOut.hi;
    (walk.private as Seen).installed++;
    return 0;
  },
});

describe('walk_page_range_mm() with install_pte', () => {
  it('allocates the missing tables and installs into every none PTE; pte_entry sees the others', () => {
    const { m, p } = setup(4);
    // Two PMDs, across a PUD boundary, nothing populated yet but one page.
    const start = GiB - PMD_SIZE;
    mapAt(p, start, 2 * PMD_SIZE);
    p.writeByte(start + 3 * PAGE_SIZE, 1);
    const seen: Seen = { installed: 0, populated: 0 };
    const tablesBefore = p.mm.nrPtes;
    const before = m.counters.snapshot();
    expect(
      withRead(p.mm, () => walk_page_range_mm(p.mm, start, start + 2 * PMD_SIZE, installOps, seen)),
    ).toBe(0);
    expect(seen).toEqual({ installed: 1023, populated: 1 });
    // The second PMD's PMD table and PTE table were allocated (the first PMD's existed).
    expect(p.mm.nrPtes - tablesBefore).toBe(2);
    const d = m.counters.since(before);
    expect(d.walks).toBe(1);
    expect(d.pteRead).toBe(1024);
    expect(d.walkCallbacks).toBe(1024);
    for (let a = start; a < start + 2 * PMD_SIZE; a += PAGE_SIZE) {
      readEntry(m.phys, p.mm.find_pte_table(a), Math.floor(a / PAGE_SIZE) % 512);
      expect(is_guard_pte_marker(E.lo, E.hi)).toBe(a !== start + 3 * PAGE_SIZE);
    }
    check(m);
  });

  it('a non-zero install_pte stops the walk with its value, nothing stored for that PTE', () => {
    const { m, p } = setup(4);
    const start = 4 * GiB;
    mapAt(p, start, PMD_SIZE);
    let n = 0;
    const ops = mmWalkOps({
      pte_entry: () => 0,
      install_pte: (_a, _n, walk) => {
        if (++n === 3) return 7;
        walk.lo = 0;
        walk.hi = 0;
        return 0;
      },
    });
    expect(withRead(p.mm, () => walk_page_range_mm(p.mm, start, start + PMD_SIZE, ops))).toBe(7);
    expect(n).toBe(3);
    check(m);
  });

  it('the public entry points refuse install_pte (check_ops_valid()); hugetlb VMAs are -EINVAL', () => {
    const { p } = setup(4);
    const start = 8 * GiB;
    mapAt(p, start, PMD_SIZE);
    const vma = p.mm.vma_lookup(start)!;
    const seen: Seen = { installed: 0, populated: 0 };
    withWrite(p.mm, () => {
      expect(walk_page_range(p.mm, start, start + PMD_SIZE, installOps, seen)).toBe(-EINVAL);
      expect(walk_page_range_vma(vma, start, start + PMD_SIZE, installOps, seen)).toBe(-EINVAL);
      expect(walk_page_vma(vma, installOps, seen)).toBe(-EINVAL);
      expect(walk_page_range_novma(p.mm, start, start + PMD_SIZE, installOps, 0, seen)).toBe(-EINVAL);
      vma.vm_flags |= VM_HUGETLB;
      expect(walk_page_range_mm(p.mm, start, start + PMD_SIZE, installOps, seen)).toBe(-EINVAL);
      vma.vm_flags &= ~VM_HUGETLB;
    });
    expect(seen.installed).toBe(0);
    expect(p.mm.find_pmd_table(start)).toBe(0);
  });
});
