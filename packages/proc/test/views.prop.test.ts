// Property: over random address spaces, the views agree with the mm's own accounting and with
// each other — smaps_rollup Rss/Swap with the RSS counters, pagemap with a per-page lookup, and
// the Pss of all processes with the number of distinct pages mapped.

import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import type { Process } from '@mmsim/mm';
import {
  checkMmInvariants,
  entry_pfn,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_SHARED,
  MAX_SWAPFILES,
  MM_ANONPAGES,
  MM_SHMEMPAGES,
  MM_SWAPENTS,
  PROT_READ,
  PROT_WRITE,
  swp_type,
} from '@mmsim/mmu';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PM_PFRAME_MASK, PM_PRESENT, PM_SWAP, pagemap_read, smaps, smaps_rollup } from '../src/index.ts';
import { mapAt, pteAt, setup } from './helpers.ts';

type Op =
  | { kind: 'map'; slot: number; pages: number; shared: boolean }
  | { kind: 'touch'; vma: number; page: number; n: number; write: boolean; child: boolean }
  | { kind: 'thp'; vma: number }
  | { kind: 'fork' }
  | { kind: 'dontneed' | 'pageout'; vma: number; page: number; n: number };

const BASE = 0x40000000;

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('map' as const),
      slot: fc.nat(15),
      pages: fc.integer({ min: 1, max: 1024 }),
      shared: fc.boolean(),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('touch' as const),
      vma: fc.nat(),
      page: fc.nat(),
      n: fc.integer({ min: 1, max: 64 }),
      write: fc.boolean(),
      child: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('thp' as const), vma: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fork' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('dontneed' as const, 'pageout' as const),
      vma: fc.nat(),
      page: fc.nat(),
      n: fc.integer({ min: 1, max: 600 }),
    }),
  },
);

function run(parent: Process, ops: Op[]): Process[] {
  const procs = [parent];
  for (const op of ops) {
    if (op.kind === 'map') {
      const start = BASE + op.slot * 2 * PMD_SIZE;
      if (op.shared)
        parent.mmap(
          start,
          op.pages * PAGE_SIZE,
          PROT_READ | PROT_WRITE,
          MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
        );
      else mapAt(parent, start, op.pages * PAGE_SIZE);
      continue;
    }
    if (op.kind === 'fork') {
      if (procs.length < 3) procs.push(parent.fork());
      continue;
    }
    const p = op.kind === 'touch' && op.child ? procs[procs.length - 1] : parent;
    const vmas = p.mm.vmas;
    if (vmas.length === 0) continue;
    const vma = vmas[op.vma % vmas.length];
    if (op.kind === 'thp') {
      const h = Math.ceil(vma.vm_start / PMD_SIZE) * PMD_SIZE;
      if (h + PMD_SIZE > vma.vm_end || vma.shmem !== null) continue;
      p.madvise(h, PMD_SIZE, MADV_HUGEPAGE);
      p.translate(h, true, 'thp');
      continue;
    }
    const first = op.page % vma.pages;
    const n = Math.min(op.n, vma.pages - first);
    const a = vma.vm_start + first * PAGE_SIZE;
    if (op.kind === 'touch') for (let i = 0; i < n; i++) p.translate(a + i * PAGE_SIZE, op.write, 'touch');
    else p.madvise(a, n * PAGE_SIZE, op.kind === 'dontneed' ? MADV_DONTNEED : MADV_PAGEOUT);
  }
  return procs;
}

describe('views over random address spaces', () => {
  it('agree with the RSS counters, a per-page lookup and each other', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const { m, p } = setup(256);
        const procs = run(p, [{ kind: 'map', slot: 0, pages: 8, shared: false }, ...ops]);
        const pm = m.phys;
        const distinct = new Set<number>();
        let pssBytes = 0;
        for (const q of procs) {
          const mm = q.mm;
          const roll = smaps_rollup(mm);
          expect(roll.fields.Rss * 1024).toBe((mm.rss[MM_ANONPAGES] + mm.rss[MM_SHMEMPAGES]) * PAGE_SIZE);
          expect(roll.fields.Swap * 1024).toBe(mm.rss[MM_SWAPENTS] * PAGE_SIZE);
          expect(roll.fields.Rss).toBe(smaps(mm).reduce((s, e) => s + e.fields.Rss, 0));
          pssBytes += roll.mss.pss / 4096;
          for (const vma of mm.vmas) {
            const entries = pagemap_read(mm, vma.vm_start, vma.vm_end);
            entries.forEach((e, i) => {
              const addr = vma.vm_start + i * PAGE_SIZE;
              const pfn = Number(e & PM_PFRAME_MASK);
              if ((e & PM_PRESENT) !== 0n) {
                if (!pm.is_zero_pfn(pfn) && !pm.is_huge_zero_pfn(pfn)) distinct.add(pfn);
              }
              // Small pages: the entry tells exactly what the PTE holds.
              const pte = pteAt(mm, addr);
              if (pte === null) return;
              if (pte.lo === 0 && pte.hi === 0) expect(e & (PM_PRESENT | PM_SWAP)).toBe(0n);
              else if ((pte.lo & 1) !== 0) expect(pfn).toBe(entry_pfn(pte.lo, pte.hi));
              else {
                expect(e & PM_SWAP).toBe(PM_SWAP);
                expect(pfn % 32).toBe(swp_type(pte.lo, pte.hi));
                expect(swp_type(pte.lo, pte.hi) < MAX_SWAPFILES).toBe(true);
              }
            });
          }
        }
        // Each mapped page's Pss shares add up to one page (within the fixed-point rounding).
        expect(Math.abs(pssBytes - distinct.size * PAGE_SIZE)).toBeLessThanOrEqual(distinct.size * 3);
        checkMmInvariants(m);
      }),
      { numRuns: 100 },
    );
  });
});
