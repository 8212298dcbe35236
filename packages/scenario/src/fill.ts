// Page contents of the fill patterns, byte-identical to native/oracle.c (fill_page()). Page `i` of
// `n` filled pages; `ids` pages are 1024 little-endian 32-bit words,
//   word j = fmix32(seed ^ (c+1)*0x9E3779B1 ^ (j+1)*0x85EBCA77)   (all modulo 2^32)
// with content id c = i mod k (cyclic) or floor(i*k/n) (blocked); `unique` is `ids` with k = n.
import type { FillPattern } from './schema.ts';

export const FILL_PAGE_SIZE = 4096;
const WORDS = FILL_PAGE_SIZE / 4;
const GOLDEN = 0x9e3779b1;
const MIX = 0x85ebca77;

/** MurmurHash3's 32-bit finalizer; returns an unsigned 32-bit value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The content id of page `i` of `n` under `ids` with `k` ids, exact for every i, k < 2^32. */
export function idsContentId(i: number, n: number, k: number, blocked: boolean): number {
  if (!blocked) return i % k;
  const prod = i * k;
  if (prod <= Number.MAX_SAFE_INTEGER) return Math.floor(prod / n);
  return Number((BigInt(i) * BigInt(k)) / BigInt(n));
}

/** Word `j` of the `ids` page with content id `c`. */
export function idsWord(seed: number, c: number, j: number): number {
  return fmix32((seed ^ Math.imul((c + 1) >>> 0, GOLDEN) ^ Math.imul(j + 1, MIX)) >>> 0);
}

/**
 * Writes page `i` of `n` filled pages into `out[offset, offset+4096)`. Allocates nothing.
 * The content id an `ids`/`unique` page gets is `contentIdOf(pattern, i, n)`; `zero` and `byte`
 * pages have no id (-1).
 */
export function fillPage(pattern: FillPattern, i: number, n: number, out: Uint8Array, offset = 0): void {
  switch (pattern.kind) {
    case 'zero':
      out.fill(0, offset, offset + FILL_PAGE_SIZE);
      return;
    case 'byte':
      out.fill(pattern.value, offset, offset + FILL_PAGE_SIZE);
      return;
    case 'ids':
    case 'unique': {
      const seed = pattern.seed >>> 0;
      const c = contentIdOf(pattern, i, n);
      const base = (seed ^ Math.imul((c + 1) >>> 0, GOLDEN)) >>> 0;
      let o = offset;
      for (let j = 0; j < WORDS; j++) {
        const w = fmix32(base ^ Math.imul(j + 1, MIX));
        out[o] = w & 0xff;
        out[o + 1] = (w >>> 8) & 0xff;
        out[o + 2] = (w >>> 16) & 0xff;
        out[o + 3] = w >>> 24;
        o += 4;
      }
      return;
    }
  }
}

/** The content id of page `i` of `n` (`ids`, `unique`), or -1 for `zero` and `byte`. Two pages
 * of one pattern have equal bytes exactly when their ids are equal. */
export function contentIdOf(pattern: FillPattern, i: number, n: number): number {
  switch (pattern.kind) {
    case 'ids':
      return idsContentId(i, n, pattern.count, pattern.layout === 'blocked');
    case 'unique':
      return i;
    default:
      return -1;
  }
}

/** FNV-1a (32-bit) over the pages [0, n) of a pattern: the check the oracle's `--selftest`
 * prints for the same patterns (see selfTestPatterns). */
export function fillChecksum(
  pattern: FillPattern,
  n: number,
  scratch: Uint8Array = new Uint8Array(FILL_PAGE_SIZE),
): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) {
    fillPage(pattern, i, n, scratch, 0);
    for (let b = 0; b < FILL_PAGE_SIZE; b++) h = Math.imul(h ^ scratch[b]!, 0x01000193);
  }
  return h >>> 0;
}

/** The patterns (with their page counts) whose checksums `mmsim-oracle --selftest` prints, in
 * that order. Keep in sync with selftest() in native/oracle.c. */
export const SELFTEST_PATTERNS: readonly { pattern: FillPattern; n: number }[] = [
  { pattern: { kind: 'zero' }, n: 2 },
  { pattern: { kind: 'byte', value: 0xa5 }, n: 3 },
  { pattern: { kind: 'ids', count: 3, seed: 1 }, n: 7 },
  { pattern: { kind: 'ids', count: 3, seed: 0xdeadbeef, layout: 'blocked' }, n: 7 },
  { pattern: { kind: 'unique', seed: 42 }, n: 5 },
  { pattern: { kind: 'ids', count: 0xffffffff, seed: 0xffffffff, layout: 'blocked' }, n: 3 },
];
