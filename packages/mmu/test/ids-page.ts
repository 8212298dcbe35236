// The `ids` fill page (docs/scenario-format.md), spelled out independently of content.ts, for the
// tests that check the simulator's contents against real bytes.

import { PAGE_SIZE } from '@mmsim/core';

export function idsPage(seed: number, c: number): Uint8Array {
  const out = new Uint8Array(PAGE_SIZE);
  const dv = new DataView(out.buffer);
  for (let j = 0; j < PAGE_SIZE / 4; j++) {
    let h = (seed ^ Math.imul(c + 1, 0x9e3779b1) ^ Math.imul(j + 1, 0x85ebca77)) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    dv.setUint32(j * 4, h >>> 0, true);
  }
  return out;
}
