// Content-addressed frames through THP collapse and split: the collapsed folio's pages refer to
// the same contents (no bytes copied) and keep the kernel's checksum of their real bytes.
import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  entry_pfn,
  MADV_COLLAPSE,
  MADV_DONTNEED,
  pmd_index,
  pmd_leaf,
  readEntry,
  xxh64Low32,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { anon, check, setup } from './helpers.ts';

/** calc_checksum() over real bytes (the hash itself is checked against xxhash-wasm in @mmsim/mmu). */
const kernelChecksum = xxh64Low32;

function pmdMapped(p: Process, addr: number): boolean {
  const t = p.mm.find_pmd_table(addr);
  if (t === 0) return false;
  readEntry(p.machine.phys, t, pmd_index(addr));
  return pmd_leaf(E.lo);
}

describe('content-addressed frames through THP collapse and split', () => {
  it('a collapse refers to the small pages contents; checksums stay the real bytes', () => {
    const { m, p } = setup();
    const a = anon(p, 512);
    const c = m.phys.contents;
    for (let i = 0; i < 400; i++) {
      const at = a + i * PAGE_SIZE;
      if (i % 3 === 0) p.writeContent(at, c.patternIds(3, i % 7));
      else if (i % 3 === 1) p.writeContent(at, c.patternByte(i & 0xff));
      else p.writeByte(at + (i % PAGE_SIZE), 1); // a private page
    }
    const before = p.read(a, PMD_SIZE);
    const slots = m.phys.slotsInUse;
    const copied = m.counters.pagesCopied;
    p.madvise(a, PMD_SIZE, MADV_COLLAPSE);
    expect(pmdMapped(p, a)).toBe(true);
    expect(m.counters.pagesCopied - copied).toBe(400); // copy_highpage() per page, as the kernel
    expect(m.phys.slotsInUse).toBe(slots); // ... each a reference: no bytes stored twice
    const folio = entry_pfn(E.lo, E.hi);
    const bytes = p.read(a, PMD_SIZE);
    expect(Buffer.compare(bytes, before)).toBe(0);
    for (let i = 0; i < 512; i += 5)
      expect(m.phys.calc_checksum(folio + i)).toBe(
        kernelChecksum(bytes.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)),
      );
    check(m);
    // Split it (a partial MADV_DONTNEED), then write into pages of every kind.
    p.madvise(a + 10 * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
    expect(pmdMapped(p, a)).toBe(false);
    for (const i of [0, 1, 2, 450]) {
      p.writeByte(a + i * PAGE_SIZE + 7, 0xab);
      before[i * PAGE_SIZE + 7] = 0xab;
    }
    before.fill(0, 10 * PAGE_SIZE, 11 * PAGE_SIZE);
    expect(Buffer.compare(p.read(a, PMD_SIZE), before)).toBe(0);
    for (let i = 0; i < 512; i += 3) {
      if (i === 10) continue;
      expect(m.phys.calc_checksum(folio + i)).toBe(
        kernelChecksum(before.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)),
      );
    }
    check(m);
  });
});
