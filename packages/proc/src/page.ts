// fs/proc/page.c (Linux 6.18): /proc/kpageflags and /proc/kpagecount for one PFN.

import {
  type Machine,
  PAGE_MAPPING_ANON,
  PAGE_MAPPING_FLAGS,
  PAGE_MAPPING_KSM,
  PG_anon_exclusive,
  PG_buddy,
  PG_dirty,
  PG_head,
  PG_locked,
  PG_lru,
  PG_mlocked,
  PG_referenced,
  PG_reserved,
  PG_swapbacked,
  PG_swapcache,
  PG_table,
  PG_uptodate,
} from '@mmsim/mmu';
import { folio_test_swapbacked, isMappedFolio } from './internal/folio.ts';

// include/uapi/linux/kernel-page-flags.h: bit numbers.
export const KPF_LOCKED = 0;
export const KPF_ERROR = 1;
export const KPF_REFERENCED = 2;
export const KPF_UPTODATE = 3;
export const KPF_DIRTY = 4;
export const KPF_LRU = 5;
export const KPF_ACTIVE = 6;
export const KPF_SLAB = 7;
export const KPF_WRITEBACK = 8;
export const KPF_RECLAIM = 9;
export const KPF_BUDDY = 10;
export const KPF_MMAP = 11;
export const KPF_ANON = 12;
export const KPF_SWAPCACHE = 13;
export const KPF_SWAPBACKED = 14;
export const KPF_COMPOUND_HEAD = 15;
export const KPF_COMPOUND_TAIL = 16;
export const KPF_HUGE = 17;
export const KPF_UNEVICTABLE = 18;
export const KPF_HWPOISON = 19;
export const KPF_NOPAGE = 20;
export const KPF_KSM = 21;
export const KPF_THP = 22;
export const KPF_OFFLINE = 23;
export const KPF_ZERO_PAGE = 24;
export const KPF_IDLE = 25;
export const KPF_PGTABLE = 26;
// Kernel-hacking flags (include/linux/kernel-page-flags.h), shown to every reader.
export const KPF_RESERVED = 32;
export const KPF_MLOCKED = 33;
/** PG_owner_2, which anon folios use as PG_anon_exclusive (formerly KPF_MAPPEDTODISK). */
export const KPF_OWNER_2 = 34;
export const KPF_PRIVATE = 35;
export const KPF_PRIVATE_2 = 36;
export const KPF_OWNER_PRIVATE = 37;
export const KPF_ARCH = 38;
export const KPF_SOFTDIRTY = 40;
export const KPF_ARCH_2 = 41;

/** True when bit `kpf` is set in a kpageflags() value (which may exceed 32 bits). */
export function kpfTest(flags: number, kpf: number): boolean {
  return Math.floor(flags / 2 ** kpf) % 2 === 1;
}

/** Names of the set bits, for messages ("ANON|MMAP|THP"). */
export function kpfNames(flags: number): string {
  const names: string[] = [];
  for (const [name, bit] of Object.entries(KPF_BITS)) if (kpfTest(flags, bit)) names.push(name);
  return names.join('|');
}

const KPF_BITS: Record<string, number> = {
  LOCKED: KPF_LOCKED,
  REFERENCED: KPF_REFERENCED,
  UPTODATE: KPF_UPTODATE,
  DIRTY: KPF_DIRTY,
  LRU: KPF_LRU,
  BUDDY: KPF_BUDDY,
  MMAP: KPF_MMAP,
  ANON: KPF_ANON,
  SWAPCACHE: KPF_SWAPCACHE,
  SWAPBACKED: KPF_SWAPBACKED,
  COMPOUND_HEAD: KPF_COMPOUND_HEAD,
  COMPOUND_TAIL: KPF_COMPOUND_TAIL,
  UNEVICTABLE: KPF_UNEVICTABLE,
  NOPAGE: KPF_NOPAGE,
  KSM: KPF_KSM,
  THP: KPF_THP,
  ZERO_PAGE: KPF_ZERO_PAGE,
  PGTABLE: KPF_PGTABLE,
  RESERVED: KPF_RESERVED,
  MLOCKED: KPF_MLOCKED,
  OWNER_2: KPF_OWNER_2,
};

/** A PFN with a struct page in mmsim (pfn_to_online_page()); PFN 0 is NULL there. */
function validPfn(m: Machine, pfn: number): boolean {
  return Number.isSafeInteger(pfn) && pfn > 0 && pfn < m.phys.nrFrames;
}

/**
 * stable_page_flags(): the /proc/kpageflags value for `pfn`, as an exact double (bits up to 41;
 * test bits with kpfTest()). Flags come from the folio, as in 6.18. mmu keeps no LRU and marks
 * nothing uptodate or swap-backed, so those bits are derived for allocated anon/KSM/shmem folios,
 * which the kernel keeps uptodate, swap-backed and on the LRU. Frames mmsim has not handed out yet
 * are free (buddy) pages. The huge zero folio is not PG_reserved in the kernel (mmu uses the bit
 * to keep it allocated).
 */
export function kpageflags(m: Machine, pfn: number): number {
  if (!validPfn(m, pfn)) return 2 ** KPF_NOPAGE;
  const pm = m.phys;
  if (pfn >= pm.highWaterMark) return 2 ** KPF_BUDDY;
  const folio = pm.folio(pfn);
  const k = pm.flags[folio];
  let u = 0;
  const set = (bit: number): void => {
    u += 2 ** bit;
  };
  if ((pm.flags[pfn] & PG_buddy) !== 0) return 2 ** KPF_BUDDY;
  if (pm.folio_mapped(folio)) set(KPF_MMAP);
  const mapping = pm.mapping[folio];
  if ((mapping & PAGE_MAPPING_ANON) !== 0) {
    set(KPF_ANON);
    if ((mapping & PAGE_MAPPING_FLAGS) === PAGE_MAPPING_KSM) set(KPF_KSM);
  }
  if (pfn === folio) {
    if ((k & PG_head) !== 0) set(KPF_COMPOUND_HEAD);
  } else set(KPF_COMPOUND_TAIL);
  const hugeZero = pm.is_huge_zero_pfn(pfn);
  if (pm.folio_test_large(folio) && !hugeZero) set(KPF_THP);
  else if (hugeZero) {
    set(KPF_ZERO_PAGE);
    set(KPF_THP);
  } else if (pm.is_zero_pfn(pfn)) set(KPF_ZERO_PAGE);
  if ((k & PG_table) !== 0) set(KPF_PGTABLE);
  const mapped = isMappedFolio(pm, folio);
  if ((k & PG_locked) !== 0) set(KPF_LOCKED);
  if ((k & PG_dirty) !== 0) set(KPF_DIRTY);
  if ((k & PG_uptodate) !== 0 || mapped) set(KPF_UPTODATE);
  if ((k & PG_lru) !== 0 || mapped) set(KPF_LRU);
  if ((k & PG_referenced) !== 0) set(KPF_REFERENCED);
  const swapbacked = (k & PG_swapbacked) !== 0 || (mapped && folio_test_swapbacked(pm, folio));
  if (swapbacked && (k & PG_swapcache) !== 0) set(KPF_SWAPCACHE);
  if (swapbacked) set(KPF_SWAPBACKED);
  if ((k & PG_mlocked) !== 0) {
    set(KPF_UNEVICTABLE);
    set(KPF_MLOCKED);
  }
  if ((k & PG_reserved) !== 0 && !hugeZero) set(KPF_RESERVED);
  if ((k & PG_anon_exclusive) !== 0 && (mapping & PAGE_MAPPING_ANON) !== 0) set(KPF_OWNER_2);
  return u;
}

/**
 * /proc/kpagecount: folio_precise_page_mapcount() (CONFIG_PAGE_MAPCOUNT): the page's PTE
 * mappings plus its folio's PMD mappings; 0 for the zero pages, page tables and free pages.
 */
export function kpagecount(m: Machine, pfn: number): number {
  if (!validPfn(m, pfn)) return 0;
  const pm = m.phys;
  if (pfn >= pm.highWaterMark || (pm.flags[pfn] & (PG_buddy | PG_table)) !== 0) return 0;
  return pm.page_mapcount(pfn);
}
