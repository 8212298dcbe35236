import { PAGE_SIZE } from '@mmsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { Machine, ZERO_CHECKSUM } from '../src/index.ts';
import { HashedMemory, xxh64Low32 } from '../src/xxh64.ts';

const { h64Raw } = await xxhash();
const reference = (b: Uint8Array): number => Number(h64Raw(b, 0n) & 0xffffffffn);

describe('xxh64Low32 (the hand-assembled calc_checksum hash)', () => {
  it('equals xxhash-wasm on random inputs of every supported length', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 256 })
          .chain((n) => fc.uint8Array({ minLength: n * 32, maxLength: n * 32 })),
        (bytes) => {
          expect(xxh64Low32(bytes)).toBe(reference(bytes));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('equals xxhash-wasm on random stripes hashed in place anywhere in a HashedMemory', () => {
    const mem = new HashedMemory(2 * 65536);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: PAGE_SIZE, maxLength: PAGE_SIZE }),
        fc.integer({ min: 1, max: PAGE_SIZE / 32 }),
        fc.integer({ min: 0, max: (2 * 65536 - PAGE_SIZE) / 8 }),
        (bytes, stripes, off8) => {
          const len = stripes * 32;
          mem.bytes.set(bytes.subarray(0, len), off8 * 8);
          expect(mem.xxh64Low32(off8 * 8, len)).toBe(reference(bytes.subarray(0, len)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('gives the zero page the checksum xxhash-wasm gives it', () => {
    expect(ZERO_CHECKSUM).toBe(reference(new Uint8Array(PAGE_SIZE)));
    expect(xxh64Low32(new Uint8Array(PAGE_SIZE))).toBe(ZERO_CHECKSUM);
  });

  it('is what PhysMem.calc_checksum returns for a written page', () => {
    const m = new Machine({ memoryMiB: 16 });
    const pfn = m.phys.alloc_pages(0);
    const page = new Uint8Array(PAGE_SIZE);
    for (let i = 0; i < PAGE_SIZE; i++) page[i] = (i * 31 + 7) & 0xff;
    m.phys.writePage(pfn, page);
    expect(m.phys.calc_checksum(pfn)).toBe(reference(page));
  });

  it('refuses lengths that are not a non-zero multiple of 32, and ranges outside the memory', () => {
    expect(() => xxh64Low32(new Uint8Array(0))).toThrow(RangeError);
    expect(() => xxh64Low32(new Uint8Array(33))).toThrow(RangeError);
    expect(() => xxh64Low32(new Uint8Array(65536 + 32))).toThrow(RangeError);
    const mem = new HashedMemory(65536);
    expect(() => mem.xxh64Low32(65536 - 32, 64)).toThrow(RangeError);
    expect(() => mem.xxh64Low32(4, 32)).toThrow(RangeError);
    expect(() => new HashedMemory(1000)).toThrow(RangeError);
  });
});
