import { PAGE_SIZE } from '@mmsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import xxhash from 'xxhash-wasm';
import { Machine, ZERO_CHECKSUM } from '../src/index.ts';
import { xxh64Low32, xxh64Low32Words } from '../src/xxh64.ts';

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

  it('equals xxhash-wasm on random 4 KiB pages read as words at any offset', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 3 * PAGE_SIZE, maxLength: 3 * PAGE_SIZE }),
        fc.nat(2),
        (bytes, k) => {
          const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
          const page = bytes.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
          expect(xxh64Low32Words(words, k * 1024, 1024)).toBe(reference(page));
        },
      ),
      { numRuns: 50 },
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

  it('refuses lengths that are not a non-zero multiple of 32', () => {
    expect(() => xxh64Low32(new Uint8Array(0))).toThrow(RangeError);
    expect(() => xxh64Low32(new Uint8Array(33))).toThrow(RangeError);
  });
});
