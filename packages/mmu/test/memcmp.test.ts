// What memcmp_pages() counts: the calls, and the bytes the kernel's memcmp() reads of each page,
// checked against lib/string.c's loop run over the pages' real bytes, for every kind of content
// and through copies and writes; and the digests' common prefixes from their rank neighbours.

import { Counters, PAGE_SIZE } from '@mmsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIGEST_BYTES, memcmpBytesRead, PhysMem } from '../src/index.ts';
import { RangeMin } from '../src/range_min.ts';
import { idsPage } from './ids-page.ts';

const WORD = 8;

/** lib/string.c memcmp() (6.18, CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS), spelled out over real
 * bytes: unsigned longs while they are equal, then bytes. Returns the sign and the bytes its
 * word loop read of each page. */
function kernelMemcmp(a: Uint8Array, b: Uint8Array): { sign: number; read: number } {
  const va = new DataView(a.buffer, a.byteOffset, PAGE_SIZE);
  const vb = new DataView(b.buffer, b.byteOffset, PAGE_SIZE);
  let count = PAGE_SIZE;
  let off = 0;
  let read = 0;
  do {
    read += WORD;
    if (va.getBigUint64(off, true) !== vb.getBigUint64(off, true)) break;
    off += WORD;
    count -= WORD;
  } while (count >= WORD);
  for (; count > 0; off++, count--) {
    const d = a[off] - b[off];
    if (d !== 0) return { sign: Math.sign(d), read };
  }
  return { sign: 0, read };
}

/** How a frame gets its content, and the bytes it must then hold. */
type Make =
  | { kind: 'zero' }
  | { kind: 'byte'; v: number }
  | { kind: 'ids'; seed: number; c: number }
  | { kind: 'intern'; base: number; writes: [number, number][] }
  | { kind: 'private'; writes: [number, number][] }
  | { kind: 'copy'; of: number; writes: [number, number][] };

/** Writes cluster near a few offsets so that pages share long prefixes and differ late. */
const offset = fc.oneof(
  fc.integer({ min: 0, max: 15 }),
  fc.integer({ min: 4080, max: PAGE_SIZE - 1 }),
  fc.integer({ min: 0, max: PAGE_SIZE - 1 }),
);
const writes = fc.array(fc.tuple(offset, fc.integer({ min: 0, max: 3 })), { maxLength: 3 });
const make: fc.Arbitrary<Make> = fc.oneof(
  fc.constant({ kind: 'zero' as const }),
  fc.record({ kind: fc.constant('byte' as const), v: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('ids' as const),
    seed: fc.integer({ min: 0, max: 1 }),
    c: fc.integer({ min: 0, max: 2 }),
  }),
  fc.record({ kind: fc.constant('intern' as const), base: fc.integer({ min: 0, max: 3 }), writes }),
  fc.record({ kind: fc.constant('private' as const), writes }),
  fc.record({ kind: fc.constant('copy' as const), of: fc.nat(), writes }),
);

/** Builds the frames; returns each frame and its expected bytes. */
function build(pm: PhysMem, makes: Make[]): { pfn: number; bytes: Uint8Array }[] {
  const c = pm.contents;
  const out: { pfn: number; bytes: Uint8Array }[] = [];
  const apply = (pfn: number, bytes: Uint8Array, ws: [number, number][]): void => {
    for (const [off, v] of ws) {
      pm.writeByte(pfn, off, v);
      bytes[off] = v;
    }
  };
  for (const m of makes) {
    const pfn = pm.alloc_pages(0);
    let bytes: Uint8Array;
    switch (m.kind) {
      case 'zero':
        bytes = new Uint8Array(PAGE_SIZE);
        break;
      case 'byte':
        bytes = new Uint8Array(PAGE_SIZE).fill(m.v);
        pm.setFrameContent(pfn, c.patternByte(m.v));
        break;
      case 'ids':
        bytes = idsPage(m.seed, m.c);
        pm.setFrameContent(pfn, c.patternIds(m.seed, m.c));
        break;
      case 'intern': {
        // mostly zero, one word set near the start or the end: long common prefixes
        bytes = new Uint8Array(PAGE_SIZE);
        bytes[m.base < 2 ? 8 * m.base : PAGE_SIZE - 8 * (m.base - 1)] = 1;
        pm.writePage(pfn, bytes);
        bytes = bytes.slice();
        apply(pfn, bytes, m.writes);
        break;
      }
      case 'private':
        bytes = new Uint8Array(PAGE_SIZE);
        apply(pfn, bytes, m.writes);
        break;
      case 'copy': {
        if (out.length === 0) {
          bytes = new Uint8Array(PAGE_SIZE);
          break;
        }
        const src = out[m.of % out.length];
        pm.copy_page(pfn, src.pfn);
        bytes = src.bytes.slice();
        apply(pfn, bytes, m.writes);
        break;
      }
    }
    out.push({ pfn, bytes });
  }
  return out;
}

describe('memcmp_pages() counts what memcmp() reads', () => {
  it('memcmpBytesRead: whole words to the one that differs, the whole page when equal', () => {
    expect(memcmpBytesRead(0)).toBe(8);
    expect(memcmpBytesRead(7)).toBe(8);
    expect(memcmpBytesRead(8)).toBe(16);
    expect(memcmpBytesRead(PAGE_SIZE - 1)).toBe(PAGE_SIZE);
    expect(memcmpBytesRead(PAGE_SIZE)).toBe(PAGE_SIZE);
  });

  it("every kind of content pair, through copies and writes: the sign and the bytes of lib/string.c's loop", () => {
    fc.assert(
      fc.property(fc.array(make, { minLength: 1, maxLength: 8 }), (makes) => {
        const counters = new Counters();
        const pm = new PhysMem(4096, counters);
        const frames = build(pm, makes);
        for (const f of frames)
          for (const g of frames) {
            const want = kernelMemcmp(f.bytes, g.bytes);
            const calls = counters.pagesCompared;
            const before = counters.bytesCompared;
            expect(Math.sign(pm.memcmp_pages(f.pfn, g.pfn))).toBe(want.sign);
            expect(counters.bytesCompared - before).toBe(want.read);
            expect(counters.pagesCompared - calls).toBe(1);
            // the remembered first word counts the same
            const mid = counters.bytesCompared;
            const fw = pm.contents.firstWordOf(pm.content[g.pfn]);
            expect(Math.sign(pm.memcmp_pages_remembered(f.pfn, g.pfn, fw))).toBe(want.sign);
            expect(counters.bytesCompared - mid).toBe(want.read);
            expect(counters.pagesCompared - calls).toBe(2);
          }
      }),
      { numRuns: 200 },
    );
  });

  it('pages that differ in one byte anywhere: each offset, in the prefix and in every run narrowed to', () => {
    const counters = new Counters();
    const pm = new PhysMem(4096, counters);
    const base = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < PAGE_SIZE; i++) base[i] = (i * 13) & 0xff;
    const a = pm.alloc_pages(0);
    const b = pm.alloc_pages(0);
    pm.writeBytes(a, 0, base, 0, PAGE_SIZE);
    for (let off = 0; off < PAGE_SIZE; off += off < 80 || off > 4000 ? 1 : 29) {
      const other = base.slice();
      other[off] ^= 0x80;
      pm.writeBytes(b, 0, other, 0, PAGE_SIZE);
      const want = kernelMemcmp(base, other);
      const before = counters.bytesCompared;
      expect(Math.sign(pm.memcmp_pages(a, b)), `offset ${off}`).toBe(want.sign);
      expect(counters.bytesCompared - before, `offset ${off}`).toBe(want.read);
    }
  });

  it('the same content compared with itself reads both pages whole', () => {
    const counters = new Counters();
    const pm = new PhysMem(4096, counters);
    const a = pm.alloc_pages(0);
    pm.setFrameContent(a, pm.contents.patternIds(1, 2));
    pm.memcmp_pages(a, a);
    expect(counters.bytesCompared).toBe(PAGE_SIZE);
  });
});

/** Pages sharing prefixes of many lengths: zero pages with one byte set at offsets near the start,
 * the middle and the end. */
function prefixPages(n: number, seed: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    const p = new Uint8Array(PAGE_SIZE);
    for (let k = 0; k < 3; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      p[(x >>> 8) % PAGE_SIZE] = 1 + (x & 1);
    }
    out.push(p);
  }
  return out;
}

describe('digest contents count memcmp() from their rank neighbours', () => {
  it("a digest pair's common prefix is the least over the rank neighbours between them", () => {
    for (const withPrefixes of [true, false]) {
      const counters = new Counters();
      const pm = new PhysMem(4096, counters);
      const c = pm.contents;
      const pages = prefixPages(100, 3);
      const order = pages.map((_, i) => i).sort((a, b) => Buffer.compare(pages[a], pages[b]));
      const rank = new Uint32Array(pages.length);
      order.forEach((p, r) => {
        rank[p] = r;
      });
      const neighbours = new Uint16Array(pages.length);
      for (let r = 0; r + 1 < order.length; r++) {
        const a = pages[order[r]];
        const b = pages[order[r + 1]];
        let k = 0;
        while (k < PAGE_SIZE && a[k] === b[k]) k++;
        neighbours[r] = k;
      }
      if (withPrefixes) c.setDigestRankPrefixes(neighbours);
      const frames = pages.map((bytes, i) => {
        const pfn = pm.alloc_pages(0);
        const d = new Uint8Array(DIGEST_BYTES);
        new DataView(d.buffer).setUint32(0, i + 1, true);
        let zeros = 0;
        while (bytes[zeros] === 0) zeros++;
        pm.setFrameContent(pfn, c.internDigest(d, 0, rank[i], withPrefixes ? zeros : undefined));
        return { pfn, bytes };
      });
      frames.push({ pfn: pm.alloc_pages(0), bytes: new Uint8Array(PAGE_SIZE) }); // the zero page's content
      for (const f of frames)
        for (const g of frames) {
          const want = kernelMemcmp(f.bytes, g.bytes);
          const before = counters.bytesCompared;
          expect(Math.sign(pm.memcmp_pages(f.pfn, g.pfn))).toBe(want.sign);
          expect(counters.bytesCompared - before).toBe(withPrefixes ? want.read : PAGE_SIZE);
        }
    }
  });
});

describe('RangeMin', () => {
  it('equals a brute-force minimum on every range', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: PAGE_SIZE }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 50 }),
        (values, queries) => {
          const v = Uint16Array.from(values);
          const rm = new RangeMin(v);
          for (const [a, b] of queries) {
            const lo = a % v.length;
            const hi = lo + 1 + (b % (v.length - lo));
            let m = v[lo];
            for (let i = lo; i < hi; i++) m = Math.min(m, v[i]);
            expect(rm.min(lo, hi)).toBe(m);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
