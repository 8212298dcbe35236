// Memory accounting helpers shared by the benchmarks that report the simulator's footprint.

import type { Machine } from '@mmsim/mmu';

/**
 * Bytes per frame of the struct-page arrays, measured from what PhysMem actually allocated: every
 * typed array on it as long as the frame capacity. The contents frames refer to (m.phys.contents)
 * are per content, not per frame, and are not counted here.
 */
export function measuredStructPageBytes(m: Machine): number {
  const frames = m.phys.flags.length;
  let bytes = 0;
  for (const v of Object.values(m.phys)) {
    if (!ArrayBuffer.isView(v) || v instanceof DataView) continue;
    const per = (v as Uint8Array).BYTES_PER_ELEMENT;
    if (v.byteLength / per === frames) bytes += per;
  }
  return bytes;
}

/** Bytes of content storage PhysMem handed out (page contents and page tables; pooled, never
 * returned to the OS). */
export function contentBytes(m: Machine): number {
  return m.phys.contentBytes;
}
