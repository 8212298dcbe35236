// Decoding /proc/<pid>/pagemap entries (Documentation/admin-guide/mm/pagemap.rst, fs/proc/task_mmu.c
// of Linux 6.18), with the frame's /proc/kpageflags and /proc/kpagecount for present pages: what
// `mmsim pagemap` prints and the web app's address view shows.

import {
  MAX_SWAPFILES,
  type Machine,
  SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE,
  SWP_MIGRATION_WRITE,
  SWP_PTE_MARKER,
} from '@mmsim/mmu';
import { kpagecount, kpageflags, kpfNames } from './page.ts';

// pagemap bits 55-63 as bits of the entry's high word (bit n = bit n-32 of hi).
/** Letter, bit of the high word, field name. */
export const PAGEMAP_FLAG_BITS: [string, number, string][] = [
  ['P', 1 << 31, 'present'],
  ['S', 1 << 30, 'swapped'],
  ['F', 1 << 29, 'file_or_shared_anon'],
  ['G', 1 << 26, 'guard_region'],
  ['W', 1 << 25, 'uffd_wp'],
  ['E', 1 << 24, 'exclusive'],
  ['D', 1 << 23, 'soft_dirty'],
];
export interface PagemapEntry {
  address: number;
  /** The raw entry: 0x and 16 hex digits. */
  value: string;
  present: boolean;
  swapped: boolean;
  file_or_shared_anon: boolean;
  guard_region: boolean;
  uffd_wp: boolean;
  exclusive: boolean;
  soft_dirty: boolean;
  /** Present: the PFN; else null. */
  pfn: number | null;
  /** Swapped: swap type (bits 0-4) and offset (bits 5-54); for migration entries the offset is the PFN. */
  swap_type: number | null;
  swap_offset: number | null;
  /** What a swap-format entry is: swap, migration_read, migration_read_exclusive, migration_write, marker, ... */
  swap_kind: string | null;
  /** Present pages: /proc/kpageflags names and /proc/kpagecount. */
  kpageflags: string[] | null;
  kpagecount: number | null;
}

function swapKind(type: number): string {
  if (type < MAX_SWAPFILES) return 'swap';
  if (type === SWP_MIGRATION_READ) return 'migration_read';
  if (type === SWP_MIGRATION_READ_EXCLUSIVE) return 'migration_read_exclusive';
  if (type === SWP_MIGRATION_WRITE) return 'migration_write';
  if (type === SWP_PTE_MARKER) return 'marker';
  return type === MAX_SWAPFILES ? 'hwpoison' : 'device';
}

/** Decode one pagemap entry (given as its two 32-bit words). */
export function decodePagemap(m: Machine, address: number, lo: number, hi: number): PagemapEntry {
  const frame = lo + (hi & 0x7fffff) * 2 ** 32; // bits 0-54
  const e: PagemapEntry = {
    address,
    value: `0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`,
    present: false,
    swapped: false,
    file_or_shared_anon: false,
    guard_region: false,
    uffd_wp: false,
    exclusive: false,
    soft_dirty: false,
    pfn: null,
    swap_type: null,
    swap_offset: null,
    swap_kind: null,
    kpageflags: null,
    kpagecount: null,
  };
  const flags = e as unknown as Record<string, boolean>;
  for (const [, bit, name] of PAGEMAP_FLAG_BITS) flags[name] = (hi & bit) !== 0;
  if (e.present) {
    e.pfn = frame;
    const k = kpageflags(m, frame);
    e.kpageflags = kpfNames(k) === '' ? [] : kpfNames(k).split('|');
    e.kpagecount = kpagecount(m, frame);
  } else if (e.swapped) {
    e.swap_type = frame % 32;
    e.swap_offset = Math.floor(frame / 32);
    e.swap_kind = swapKind(e.swap_type);
  }
  return e;
}
