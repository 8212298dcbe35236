// Property: over random address spaces, walk_page_range() visits exactly the entries a naive
// per-address lookup finds, and its callbacks tile the walked range, for both paging depths.

import { GiB, MiB, PAGE_SIZE, PMD_SIZE, TiB } from '@mmsim/core';
import {
  checkMmInvariants,
  E,
  entry_pfn,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  type Machine,
  type PagingLevels,
  pmd_index,
  pmd_leaf,
  pte_index,
  readEntry,
} from '@mmsim/mmu';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACTION_CONTINUE, mmWalkOps, walk_page_range } from '../src/index.ts';
import type { TestProcess } from './helpers.ts';
import { mapAt, setup, withRead } from './helpers.ts';

type Op =
  | { kind: 'map'; anchor: number; off: number; pages: number }
  | { kind: 'touch'; vma: number; page: number; n: number; write: boolean }
  | { kind: 'thp'; vma: number; write: boolean }
  | { kind: 'dontneed' | 'pageout' | 'unmap'; vma: number; page: number; n: number };

const ANCHORS: Record<PagingLevels, number[]> = {
  4: [GiB, 512 * GiB, TiB - PMD_SIZE, 0x7f0000000000],
  5: [GiB, 512 * GiB, 256 * TiB, 2 ** 52 - 4 * MiB, 0x7f0000000000],
};

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('map' as const),
    anchor: fc.nat(9),
    off: fc.integer({ min: -1536, max: 1536 }),
    pages: fc.integer({ min: 1, max: 1200 }),
  }),
  fc.record({
    kind: fc.constant('touch' as const),
    vma: fc.nat(),
    page: fc.nat(),
    n: fc.integer({ min: 1, max: 40 }),
    write: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('thp' as const), vma: fc.nat(), write: fc.boolean() }),
  fc.record({
    kind: fc.constantFrom('dontneed' as const, 'pageout' as const, 'unmap' as const),
    vma: fc.nat(),
    page: fc.nat(),
    n: fc.integer({ min: 1, max: 600 }),
  }),
);

function apply(p: TestProcess, levels: PagingLevels, ops: Op[]): void {
  const mm = p.mm;
  for (const op of ops) {
    if (op.kind === 'map') {
      const anchors = ANCHORS[levels];
      const start = Math.max(0x10000, anchors[op.anchor % anchors.length] + op.off * PAGE_SIZE);
      mapAt(p, start, op.pages * PAGE_SIZE);
      continue;
    }
    if (mm.vmas.length === 0) continue;
    const vma = mm.vmas[op.vma % mm.vmas.length];
    const pages = vma.pages;
    if (op.kind === 'thp') {
      const h = Math.ceil(vma.vm_start / PMD_SIZE) * PMD_SIZE;
      if (h + PMD_SIZE > vma.vm_end) continue;
      p.madvise(h, PMD_SIZE, MADV_HUGEPAGE);
      p.translate(h, op.write, 'thp');
      continue;
    }
    const first = op.page % pages;
    const n = Math.min(op.n, pages - first);
    const a = vma.vm_start + first * PAGE_SIZE;
    if (op.kind === 'touch') for (let i = 0; i < n; i++) p.translate(a + i * PAGE_SIZE, op.write, 'touch');
    else if (op.kind === 'dontneed') p.madvise(a, n * PAGE_SIZE, MADV_DONTNEED);
    else if (op.kind === 'pageout') p.madvise(a, n * PAGE_SIZE, MADV_PAGEOUT);
    else p.munmap(a, n * PAGE_SIZE);
  }
}

/** Per-address lookup: "pte addr lo hi" for non-none PTEs, "pmd addr lo hi" per huge PMD. */
function naive(m: Machine, p: TestProcess, start: number, end: number): string[] {
  const out: string[] = [];
  for (const vma of p.mm.vmas) {
    const s = Math.max(start, vma.vm_start);
    const e = Math.min(end, vma.vm_end);
    for (let a = s; a < e; a += PAGE_SIZE) {
      const pmdT = p.mm.find_pmd_table(a);
      if (pmdT === 0) continue;
      readEntry(m.phys, pmdT, pmd_index(a));
      if (E.lo === 0 && E.hi === 0) continue;
      if (pmd_leaf(E.lo)) {
        if (a === s || a % PMD_SIZE === 0) out.push(`pmd ${a} ${E.lo} ${E.hi}`);
        continue;
      }
      readEntry(m.phys, entry_pfn(E.lo, E.hi), pte_index(a));
      if (E.lo !== 0 || E.hi !== 0) out.push(`pte ${a} ${E.lo} ${E.hi}`);
    }
  }
  return out;
}

function walked(p: TestProcess, start: number, end: number, withPmd: boolean) {
  const seen: string[] = [];
  const spans: [number, number][] = [];
  const ops = mmWalkOps({
    pmd_entry: withPmd
      ? (w, addr, next) => {
          if (pmd_leaf(w.lo)) {
            seen.push(`pmd ${addr} ${w.lo} ${w.hi}`);
            spans.push([addr, next]);
            w.action = ACTION_CONTINUE;
          }
          return 0;
        }
      : null,
    pte_entry: (w, addr, next) => {
      if (w.lo !== 0 || w.hi !== 0) seen.push(`pte ${addr} ${w.lo} ${w.hi}`);
      spans.push([addr, next]);
      return 0;
    },
    pte_hole: (addr, next) => {
      spans.push([addr, next]);
      return 0;
    },
  });
  const ret = withRead(p.mm, () => walk_page_range(p.mm, start, end, ops));
  return { ret, seen, spans };
}

function tiles(spans: [number, number][], start: number, end: number): boolean {
  let at = start;
  for (const [a, b] of spans) {
    if (a !== at || b <= a) return false;
    at = b;
  }
  return at === end;
}

function bounds(p: TestProcess): [number, number] {
  const v = p.mm.vmas;
  return [Math.max(0, v[0].vm_start - 3 * PAGE_SIZE), v[v.length - 1].vm_end + 3 * PAGE_SIZE];
}

describe.each([4, 5] as const)('random address spaces, %i-level paging', (levels) => {
  it('visits exactly the populated entries, and its callbacks tile the range', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
        const { m, p } = setup(levels, 256);
        apply(p, levels, [{ kind: 'map', anchor: 0, off: 0, pages: 16 }, ...ops]);
        if (p.mm.vmas.length === 0) return;
        const [start, end] = bounds(p);
        const w = walked(p, start, end, true);
        expect(w.ret).toBe(0);
        expect(w.seen).toEqual(naive(m, p, start, end));
        expect(tiles(w.spans, start, end)).toBe(true);
        // Without the pmd_entry that stops at huge PMDs, pte_entry makes the walker split them;
        // the PTEs then map what the PMDs mapped, page by page.
        const inner = [start + PAGE_SIZE, end - PAGE_SIZE] as const;
        const w2 = walked(p, inner[0], inner[1], false);
        expect(w2.seen).toEqual(naive(m, p, inner[0], inner[1]));
        expect(tiles(w2.spans, inner[0], inner[1])).toBe(true);
        checkMmInvariants(m);
      }),
      { numRuns: 150 },
    );
  });
});
