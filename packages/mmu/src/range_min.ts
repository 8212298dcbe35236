// Range minimum over a fixed array of small numbers (a simulator structure: the common prefix of
// two snapshot contents is the least common prefix of the rank neighbours between them). Blocks
// of BLOCK values keep their prefix and suffix minima, and a sparse table over the blocks' minima
// answers whole runs of blocks: a query is O(1) but within one block (at most BLOCK - 1 loads).
// Memory: 6 bytes per value plus 2 * log2(n / BLOCK) bytes per block (a few M values: ~30 MB).

const BLOCK_SHIFT = 5;
const BLOCK = 1 << BLOCK_SHIFT;

export class RangeMin {
  private readonly values: Uint16Array;
  /** Per value: the least from its block's start to it, and from it to its block's end. */
  private readonly prefixMin: Uint16Array;
  private readonly suffixMin: Uint16Array;
  /** Level k at levelStart[k]: per block b, the least of blocks b .. b + 2^k - 1. */
  private readonly table: Uint16Array;
  private readonly levelStart: number[] = [];

  /** Takes `values` as is (it must not change afterwards). */
  constructor(values: Uint16Array) {
    const n = values.length;
    this.values = values;
    this.prefixMin = new Uint16Array(n);
    this.suffixMin = new Uint16Array(n);
    const nb = (n + BLOCK - 1) >>> BLOCK_SHIFT;
    for (let b = 0; b < nb; b++) {
      const start = b << BLOCK_SHIFT;
      const end = Math.min(start + BLOCK, n);
      let m = values[start];
      for (let i = start; i < end; i++) {
        if (values[i] < m) m = values[i];
        this.prefixMin[i] = m;
      }
      m = values[end - 1];
      for (let i = end - 1; i >= start; i--) {
        if (values[i] < m) m = values[i];
        this.suffixMin[i] = m;
      }
    }
    let size = 0;
    for (let len = 1; len <= nb; len *= 2) {
      this.levelStart.push(size);
      size += nb - len + 1;
    }
    this.table = new Uint16Array(size);
    for (let b = 0; b < nb; b++) this.table[b] = this.suffixMin[b << BLOCK_SHIFT];
    for (let k = 1; k < this.levelStart.length; k++) {
      const half = 1 << (k - 1);
      const at = this.levelStart[k];
      const below = this.levelStart[k - 1];
      for (let b = 0; b + 2 * half <= nb; b++)
        this.table[at + b] = Math.min(this.table[below + b], this.table[below + b + half]);
    }
  }

  /** The least of values[lo .. hi - 1] (lo < hi). */
  min(lo: number, hi: number): number {
    const last = hi - 1;
    const bl = lo >>> BLOCK_SHIFT;
    const br = last >>> BLOCK_SHIFT;
    if (bl === br) {
      let m = this.values[lo];
      for (let i = lo + 1; i <= last; i++) if (this.values[i] < m) m = this.values[i];
      return m;
    }
    let m = Math.min(this.suffixMin[lo], this.prefixMin[last]);
    const blocks = br - bl - 1;
    if (blocks > 0) {
      const k = 31 - Math.clz32(blocks);
      const at = this.levelStart[k];
      m = Math.min(m, this.table[at + bl + 1], this.table[at + br - (1 << k)]);
    }
    return m;
  }
}
