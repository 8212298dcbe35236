// memcmp()/memcpy() over byte arrays, in Node and in a browser. Under Node they are Buffer's
// compare() and copy() applied to plain Uint8Arrays: native calls, the fastest way JS has to
// compare two pages. A browser has no Buffer; there the same operations run in JS.

type NodeCompare = (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  targetEnd: number,
  sourceStart: number,
  sourceEnd: number,
) => number;
type NodeCopy = (
  this: Uint8Array,
  target: Uint8Array,
  targetStart: number,
  sourceStart: number,
  sourceEnd: number,
) => number;

const NodeBuffer = (globalThis as { Buffer?: { prototype: { compare: NodeCompare; copy: NodeCopy } } })
  .Buffer;
const nodeCompare = NodeBuffer?.prototype.compare;
const nodeCopy = NodeBuffer?.prototype.copy;

/** memcmp() of `len` bytes: a[aOff..] against b[bOff..]; -1, 0 or 1. */
export function compareBytes(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, len: number): number {
  if (nodeCompare !== undefined) return nodeCompare.call(a, b, bOff, bOff + len, aOff, aOff + len);
  for (let i = 0; i < len; i++) {
    const x = a[aOff + i];
    const y = b[bOff + i];
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** memcpy() of `len` bytes from src[srcOff..] to dst[dstOff..]. */
export function copyBytes(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  len: number,
): void {
  if (nodeCopy !== undefined) nodeCopy.call(src, dst, dstOff, srcOff, srcOff + len);
  else dst.set(src.subarray(srcOff, srcOff + len), dstOff);
}
