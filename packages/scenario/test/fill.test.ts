import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  contentIdOf,
  FILL_PAGE_SIZE,
  fillChecksum,
  fillPage,
  fmix32,
  idsWord,
  SELFTEST_PATTERNS,
} from '../src/index.ts';
import { buildOracle, findCompiler } from '../src/node.ts';

/** The format's test vector: the first four words of `ids` content id 0 with seed 1. */
const VECTOR = [0x99757dc4, 0xec26c62b, 0xe623d511, 0xd4b0ea95];

const words = (page: Uint8Array, n: number): number[] => {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  return Array.from({ length: n }, (_, j) => dv.getUint32(4 * j, true));
};

describe('fill patterns (TypeScript side)', () => {
  it('fmix32 is MurmurHash3 fmix32', () => {
    expect(fmix32(0)).toBe(0);
    expect(fmix32(1)).toBe(0x514e28b7);
    expect(fmix32(0xffffffff)).toBe(0x81f16f39);
  });

  it('the ids test vector: content id 0, seed 1', () => {
    const page = new Uint8Array(FILL_PAGE_SIZE);
    fillPage({ kind: 'ids', count: 1, seed: 1 }, 0, 1, page);
    expect(words(page, 4)).toEqual(VECTOR);
    expect([0, 1, 2, 3].map((j) => idsWord(1, 0, j))).toEqual(VECTOR);
  });

  it('cyclic and blocked content ids; unique is ids with k = n', () => {
    const cyc = { kind: 'ids', count: 3, seed: 9 } as const;
    const blk = { kind: 'ids', count: 3, seed: 9, layout: 'blocked' } as const;
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => contentIdOf(cyc, i, 7))).toEqual([0, 1, 2, 0, 1, 2, 0]);
    expect([0, 1, 2, 3, 4, 5, 6].map((i) => contentIdOf(blk, i, 7))).toEqual([0, 0, 0, 1, 1, 2, 2]);
    const a = new Uint8Array(FILL_PAGE_SIZE);
    const b = new Uint8Array(FILL_PAGE_SIZE);
    fillPage({ kind: 'unique', seed: 9 }, 4, 10, a);
    fillPage({ kind: 'ids', count: 10, seed: 9 }, 4, 10, b);
    expect(a).toEqual(b);
    // blocked with i*k past 2^53 stays exact
    expect(
      contentIdOf({ kind: 'ids', count: 0xffffffff, seed: 0, layout: 'blocked' }, 2 ** 27, 2 ** 28),
    ).toBe(Math.floor(0xffffffff / 2));
  });

  it('zero and byte pages; writes only its own 4096 bytes at the offset', () => {
    const buf = new Uint8Array(3 * FILL_PAGE_SIZE).fill(0xee);
    fillPage({ kind: 'byte', value: 0x11 }, 0, 1, buf, FILL_PAGE_SIZE);
    expect(buf[FILL_PAGE_SIZE - 1]).toBe(0xee);
    expect(buf[FILL_PAGE_SIZE]).toBe(0x11);
    expect(buf[2 * FILL_PAGE_SIZE - 1]).toBe(0x11);
    expect(buf[2 * FILL_PAGE_SIZE]).toBe(0xee);
    fillPage({ kind: 'zero' }, 0, 1, buf, 0);
    expect(buf.subarray(0, FILL_PAGE_SIZE).every((x) => x === 0)).toBe(true);
  });

  it('pages with different ids differ, equal ids are equal', () => {
    const p = { kind: 'ids', count: 2, seed: 3 } as const;
    const x = new Uint8Array(FILL_PAGE_SIZE);
    const y = new Uint8Array(FILL_PAGE_SIZE);
    fillPage(p, 0, 4, x);
    fillPage(p, 2, 4, y);
    expect(x).toEqual(y);
    fillPage(p, 1, 4, y);
    expect(x).not.toEqual(y);
  });
});

const cc = findCompiler();
if (cc === undefined)
  console.warn('SKIPPED: C-side fill vector check: no C compiler (cc) to build native/oracle.c');

describe.skipIf(cc === undefined)('fill patterns: C and TypeScript produce the same bytes', () => {
  it('mmsim-oracle --selftest prints the same vector and page checksums', () => {
    const out = execFileSync(buildOracle(), ['--selftest'], { encoding: 'utf8' }).trim().split('\n');
    const hex = (x: number) => `0x${x.toString(16).padStart(8, '0')}`;
    expect(out[0]).toBe(`vector ${VECTOR.map(hex).join(' ')}`);
    expect(out.slice(1)).toEqual(
      SELFTEST_PATTERNS.map((p, i) => `checksum ${i} ${hex(fillChecksum(p.pattern, p.n))}`),
    );
  });
});
