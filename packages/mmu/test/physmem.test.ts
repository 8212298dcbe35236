import { Counters, PAGE_SIZE } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { PhysMem } from '../src/index.ts';

const { h64Raw } = await xxhash();
const reference = (b: Uint8Array): number => Number(h64Raw(b, 0n) & 0xffffffffn);

/** Page i's bytes: distinct per page, none all-zero. */
function pageBytes(i: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  for (let j = 0; j < PAGE_SIZE; j += 4) {
    const w = Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca77);
    b[j] = w & 0xff;
    b[j + 1] = (w >>> 8) & 0xff;
    b[j + 2] = (w >>> 16) & 0xff;
    b[j + 3] = (w >>> 24) | 1;
  }
  return b;
}

describe('PhysMem content arenas', () => {
  it('keeps, hashes and compares contents across arena boundaries (16 MiB, then 32 MiB, then 64 MiB)', () => {
    // 16 MiB + 32 MiB of content slots fill the first two arenas; the pages after them live in the third.
    const n = 4096 + 8192 + 64;
    const pm = new PhysMem(n + 1024, new Counters());
    const pfns: number[] = [];
    for (let i = 0; i < n; i++) {
      const pfn = pm.alloc_pages(0);
      expect(pfn).not.toBe(0);
      pm.writePage(pfn, pageBytes(i));
      pfns.push(pfn);
    }
    expect(pm.slotsInUse).toBe(n);
    expect(pm.contentBytes).toBe(n * PAGE_SIZE);
    const out = new Uint8Array(PAGE_SIZE);
    for (const i of [0, 4095, 4096, 4097, 4096 + 8191, 4096 + 8192, n - 1]) {
      const pfn = pfns[i]!;
      pm.readBytes(pfn, 0, out, 0, PAGE_SIZE);
      expect(out).toEqual(pageBytes(i));
      expect(pm.calc_checksum(pfn)).toBe(reference(pageBytes(i)));
    }
    // Across arenas: memcmp_pages orders as memcmp() does, both ways, and copy_page copies.
    const a = pfns[10]!;
    const b = pfns[n - 10]!;
    const sign = Math.sign(Buffer.compare(Buffer.from(pageBytes(10)), Buffer.from(pageBytes(n - 10))));
    expect(Math.sign(pm.memcmp_pages(a, b))).toBe(sign);
    expect(Math.sign(pm.memcmp_pages(b, a))).toBe(-sign);
    pm.copy_page(a, b); // a new reference to b's content: a's own bytes are freed
    expect(pm.slotsInUse).toBe(n - 1);
    expect(pm.memcmp_pages(a, b)).toBe(0);
    expect(pm.calc_checksum(a)).toBe(reference(pageBytes(n - 10)));
    // A freed slot is reused zeroed.
    pm.put_page(pfns[4096]!);
    expect(pm.slotsInUse).toBe(n - 2);
    const c = pm.alloc_pages(0);
    pm.writeByte(c, 1, 7);
    pm.readBytes(c, 0, out, 0, PAGE_SIZE);
    expect(out[1]).toBe(7);
    expect(out.reduce((s, v) => s + v, 0)).toBe(7);
    expect(pm.contentBytes).toBe(n * PAGE_SIZE);
  });

  it('memcmp_pages orders pages by their first differing byte, early or late in the page', () => {
    const pm = new PhysMem(1024, new Counters());
    const x = pm.alloc_pages(0);
    const y = pm.alloc_pages(0);
    const zero = pm.alloc_pages(0); // never written: no slot, reads as zeros
    for (const off of [0, 1, 3, 63, 64, 65, 4095]) {
      pm.writeByte(x, off, 0x80);
      pm.writeByte(y, off, 0x7f);
      if (off !== 4095) pm.writeByte(y, off + 1, 0xff); // a later, larger byte must not decide
      expect(pm.memcmp_pages(x, y)).toBeGreaterThan(0);
      expect(pm.memcmp_pages(y, x)).toBeLessThan(0);
      expect(pm.memcmp_pages(zero, x)).toBeLessThan(0);
      expect(pm.memcmp_pages(x, zero)).toBeGreaterThan(0);
      pm.writeByte(y, off, 0x80);
      if (off !== 4095) pm.writeByte(y, off + 1, 0);
      expect(pm.memcmp_pages(x, y)).toBe(0);
      pm.writeByte(x, off, 0);
      pm.writeByte(y, off, 0);
      expect(pm.memcmp_pages(x, zero)).toBe(0);
    }
  });

  it("memcmp_pages' cached first words follow every write, copy and reuse of a frame", () => {
    const pm = new PhysMem(1024, new Counters());
    const bytes = (pfn: number): Buffer => {
      const b = Buffer.alloc(PAGE_SIZE);
      pm.readBytes(pfn, 0, b, 0, PAGE_SIZE);
      return b;
    };
    const check = (a: number, b: number): void => {
      const want = Math.sign(Buffer.compare(bytes(a), bytes(b)));
      expect(Math.sign(pm.memcmp_pages(a, b))).toBe(want);
      expect(Math.sign(pm.memcmp_pages(b, a))).toBe(want === 0 ? 0 : -want);
    };
    const x = pm.alloc_pages(0);
    let y = pm.alloc_pages(0);
    pm.writePage(x, pageBytes(1));
    pm.writePage(y, pageBytes(2));
    check(x, y);
    pm.writeBytes(y, 0, pageBytes(1), 0, 4); // first words now equal, the pages still differ
    check(x, y);
    pm.writeByte(x, 2, 0);
    check(x, y);
    pm.writePage(y, pageBytes(3));
    check(x, y);
    pm.copy_page(y, x);
    check(x, y);
    pm.writeByte(x, 0, 0xff);
    check(x, y);
    pm.put_page(y);
    y = pm.alloc_pages(0); // the freed frame again: all zero, its cached word gone
    check(x, y);
    pm.writeByte(y, 0, 0xff);
    check(x, y);
  });
});
