import { Counters, PAGE_SIZE } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { DIGEST_BYTES, PhysMem, ZERO_CHECKSUM, ZERO_CONTENT } from '../src/index.ts';
import { idsPage } from './ids-page.ts';

const { h64Raw } = await xxhash();
/** The kernel's calc_checksum() over real bytes, by an independent xxh64. */
const kernelChecksum = (b: Uint8Array): number => Number(h64Raw(b, 0n) & 0xffffffffn);
const memcmpSign = (a: Uint8Array, b: Uint8Array): number => Math.sign(Buffer.compare(a, b));

function randomPage(seed: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  let x = seed;
  for (let i = 0; i < PAGE_SIZE; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** A machine's worth of frames, and one frame per kind of content with the bytes it must hold. */
function setUp() {
  const pm = new PhysMem(4096, new Counters());
  const c = pm.contents;
  const frames: { name: string; pfn: number; bytes: Uint8Array }[] = [];
  const add = (name: string, bytes: Uint8Array, set: (pfn: number) => void): number => {
    const pfn = pm.alloc_pages(0);
    set(pfn);
    frames.push({ name, pfn, bytes });
    return pfn;
  };
  add('zero (never written)', new Uint8Array(PAGE_SIZE), () => {});
  add('byte 0x5a', new Uint8Array(PAGE_SIZE).fill(0x5a), (p) => pm.setFrameContent(p, c.patternByte(0x5a)));
  add('byte 0x01', new Uint8Array(PAGE_SIZE).fill(1), (p) => pm.setFrameContent(p, c.patternByte(1)));
  add('ids seed 7 id 3', idsPage(7, 3), (p) => pm.setFrameContent(p, c.patternIds(7, 3)));
  add('ids seed 7 id 4', idsPage(7, 4), (p) => pm.setFrameContent(p, c.patternIds(7, 4)));
  add('unique seed 1000 page 123456', idsPage(1000, 123456), (p) =>
    pm.setFrameContent(p, c.patternIds(1000, 123456)),
  );
  add('interned', randomPage(1), (p) => pm.writePage(p, randomPage(1)));
  const late = randomPage(2);
  late[4000] = 0;
  add('interned, differs late from a materialised copy', late, (p) => pm.writePage(p, late));
  const mat = randomPage(2);
  mat[4000] = 1;
  add('materialised (interned, then a byte written)', mat, (p) => {
    pm.writePage(p, randomPage(2));
    pm.writeByte(p, 4000, 1);
  });
  const matIds = idsPage(7, 3);
  matIds[0] = 0;
  add('materialised (pattern, then a byte written)', matIds, (p) => {
    pm.setFrameContent(p, c.patternIds(7, 3));
    pm.writeByte(p, 0, 0);
  });
  const written = new Uint8Array(PAGE_SIZE);
  written[17] = 9;
  add('private (written byte by byte)', written, (p) => pm.writeByte(p, 17, 9));
  return { pm, frames };
}

function expectExact(pm: PhysMem, frames: { name: string; pfn: number; bytes: Uint8Array }[]): void {
  const out = new Uint8Array(PAGE_SIZE);
  for (const f of frames) {
    pm.readBytes(f.pfn, 0, out, 0, PAGE_SIZE);
    expect(out, f.name).toEqual(f.bytes);
    expect(pm.calc_checksum(f.pfn), f.name).toBe(kernelChecksum(f.bytes));
    expect(pm.isZeroFilled(f.pfn), f.name).toBe(f.bytes.every((b) => b === 0));
    expect(pm.readByte(f.pfn, 4000), f.name).toBe(f.bytes[4000]);
    for (const g of frames)
      expect(Math.sign(pm.memcmp_pages(f.pfn, g.pfn)), `${f.name} vs ${g.name}`).toBe(
        memcmpSign(f.bytes, g.bytes),
      );
  }
}

describe('content-addressed frames', () => {
  it('every kind of content gives the kernel checksum, zero-ness and memcmp sign of its real bytes', () => {
    const { pm, frames } = setUp();
    expectExact(pm, frames);
  });

  it('the same pattern or the same bytes are one content; the cost counters still count every call', () => {
    const counters = new Counters();
    const pm = new PhysMem(4096, counters);
    const a = pm.alloc_pages(0);
    const b = pm.alloc_pages(0);
    pm.writePage(a, idsPage(9, 1));
    pm.writePage(b, idsPage(9, 1));
    expect(pm.content[a]).toBe(pm.content[b]);
    expect(pm.slotsInUse).toBe(1); // one interned page for both frames
    pm.setFrameContent(a, pm.contents.patternIds(9, 1));
    expect(pm.contents.patternIds(9, 1)).toBe(pm.content[a]);
    expect(pm.memcmp_pages(a, b)).toBe(0); // a pattern and an interned page with equal bytes
    pm.calc_checksum(a);
    pm.calc_checksum(a);
    expect(counters.bytesHashed).toBe(2 * PAGE_SIZE);
    expect(counters.bytesCompared).toBe(PAGE_SIZE);
    // Writing zeros interns nothing.
    pm.writePage(b, new Uint8Array(PAGE_SIZE));
    expect(pm.content[b]).toBe(ZERO_CONTENT);
    expect(pm.slotsInUse).toBe(0);
    expect(pm.calc_checksum(b)).toBe(ZERO_CHECKSUM);
  });

  it('a COW copy is a new reference; a write materialises that one page only', () => {
    const { pm, frames } = setUp();
    const slots = pm.slotsInUse;
    const copies = frames.map((f) => {
      const pfn = pm.alloc_pages(0);
      pm.copy_page(pfn, f.pfn);
      return { name: `copy of ${f.name}`, pfn, bytes: f.bytes };
    });
    // Private pages were frozen into shared contents: no 4 KiB copied, no slot added.
    expect(pm.slotsInUse).toBe(slots);
    for (let i = 0; i < frames.length; i++) expect(pm.memcmp_pages(frames[i]!.pfn, copies[i]!.pfn)).toBe(0);
    expectExact(pm, [...frames, ...copies]);
    // Write every copy: each gets a private page; the originals keep their bytes.
    for (const c of copies) {
      pm.writeByte(c.pfn, 100, 0xee);
      c.bytes = c.bytes.slice();
      c.bytes[100] = 0xee;
    }
    expectExact(pm, [...frames, ...copies]);
    // The last reference of a frozen page takes its slot back when written: no copy.
    const f = frames.find((x) => x.name.startsWith('private'))!;
    const before = pm.slotsInUse;
    pm.writeByte(f.pfn, 18, 1);
    f.bytes = f.bytes.slice();
    f.bytes[18] = 1;
    expect(pm.slotsInUse).toBe(before);
    expectExact(pm, frames);
    // Freeing every frame frees every content and slot.
    for (const x of [...frames, ...copies]) pm.put_page(x.pfn);
    expect(pm.slotsInUse).toBe(0);
    expect(pm.contents.nrContents).toBe(0);
  });

  it('digest contents: the given checksum, memcmp by rank, above the zero page, no bytes to write', () => {
    const pm = new PhysMem(4096, new Counters());
    const c = pm.contents;
    const d = (k: number) => new Uint8Array(DIGEST_BYTES).fill(k);
    const lo = c.internDigest(d(1), 0x1234, 10);
    const hi = c.internDigest(d(2), 0xabcd, 20);
    expect(c.internDigest(d(1), 0x1234, 10)).toBe(lo);
    expect(c.digestOf(hi)).toEqual(d(2));
    const [x, y, z, zero] = [pm.alloc_pages(0), pm.alloc_pages(0), pm.alloc_pages(0), pm.alloc_pages(0)];
    pm.setFrameContent(x, lo);
    pm.setFrameContent(y, hi);
    pm.setFrameContent(z, lo);
    expect(pm.calc_checksum(x)).toBe(0x1234);
    expect(pm.calc_checksum(y)).toBe(0xabcd);
    expect(pm.memcmp_pages(x, z)).toBe(0);
    expect(Math.sign(pm.memcmp_pages(x, y))).toBe(-1);
    expect(Math.sign(pm.memcmp_pages(y, x))).toBe(1);
    expect(Math.sign(pm.memcmp_pages(zero, y))).toBe(-1);
    expect(pm.isZeroFilled(x)).toBe(false);
    expect(pm.hasBytes(x)).toBe(false);
    expect(pm.hasBytes(zero)).toBe(true);
    expect(() => pm.writeByte(x, 0, 1)).toThrow(/digest/);
    const w = pm.alloc_pages(0);
    pm.writeByte(w, 0, 1);
    expect(() => pm.memcmp_pages(w, x)).toThrow(/digest/);
    // A COW copy of a digest page is a reference.
    const copy = pm.alloc_pages(0);
    pm.copy_page(copy, y);
    expect(pm.memcmp_pages(copy, y)).toBe(0);
    expect(c.refcount(hi)).toBe(2);
    pm.put_page(y);
    pm.put_page(copy);
    expect(c.internDigest(d(2), 0xabcd, 20)).not.toBe(0); // freed, interned anew
  });
});
