// Page contents of the fill patterns, byte-identical to native/oracle.c (fill_page()). Page `i` of
// `n` filled pages; `ids` pages are 1024 little-endian 32-bit words,
//   word j = fmix32(seed ^ (c+1)*0x9E3779B1 ^ (j+1)*0x85EBCA77)   (all modulo 2^32)
// with content id c = i mod k (cyclic) or floor(i*k/n) (blocked); `unique` is `ids` with k = n.
// The simulator does not hold these bytes: a filled page refers to a pattern content
// (fillContent(), @mmsim/mmu's content.ts), whose bytes are generated where they are needed.
import { type Contents, fmix32, idsWord, ZERO_CONTENT } from '@mmsim/mmu';
import type { FillPattern } from './schema.ts';

export { fmix32, idsWord };

export const FILL_PAGE_SIZE = 4096;
const WORDS = FILL_PAGE_SIZE / 4;

/** The content id of page `i` of `n` under `ids` with `k` ids, exact for every i, k < 2^32. */
export function idsContentId(i: number, n: number, k: number, blocked: boolean): number {
  if (!blocked) return i % k;
  const prod = i * k;
  if (prod <= Number.MAX_SAFE_INTEGER) return Math.floor(prod / n);
  return Number((BigInt(i) * BigInt(k)) / BigInt(n));
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
      let o = offset;
      for (let j = 0; j < WORDS; j++) {
        const w = idsWord(seed, c, j);
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

/** The content (see @mmsim/mmu's Contents) of page `i` of `n` filled pages: the pattern by its
 * numbers, with the bytes fillPage() writes. No reference is taken. */
export function fillContent(contents: Contents, pattern: FillPattern, i: number, n: number): number {
  switch (pattern.kind) {
    case 'zero':
      return ZERO_CONTENT;
    case 'byte':
      return contents.patternByte(pattern.value);
    default:
      return contents.patternIds(pattern.seed >>> 0, contentIdOf(pattern, i, n));
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
