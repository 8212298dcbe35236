// fs/proc/task_mmu.c (Linux 6.18): /proc/<pid>/pagemap, /proc/<pid>/smaps and smaps_rollup, each
// computed by a page walk with the kernel's mm_walk_ops, and printed in the kernel's format.

import { HPAGE_PMD_NR, hex, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_SOFT_DIRTY,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_SWP_UFFD_WP,
  _PAGE_UFFD_WP,
  entry_pfn,
  MAX_SWAPFILES,
  type MmStruct,
  PG_dirty,
  PG_referenced,
  type PhysMem,
  PTE_MARKER_GUARD,
  PTE_MARKER_UFFD_WP,
  pmd_leaf,
  pmd_present,
  pte_index,
  pte_offset_map_lock,
  pte_present,
  pte_unmap_unlock,
  ptlLock,
  ptlUnlock,
  SWP_PTE_MARKER,
  swp_offset,
  swp_type,
  taskSizeMax,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_LOCKED,
  VM_MAYSHARE,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_SOFTDIRTY,
  type VmAreaStruct,
  vm_normal_page,
} from '@mmsim/mmu';
import {
  ACTION_AGAIN,
  type MmWalk,
  type MmWalkOps,
  mmWalkOps,
  PGWALK_RDLOCK,
  walk_page_range,
  walk_page_vma,
} from '@mmsim/pagewalk';
import { DEFAULT_PROC_CONFIG, type ProcConfig } from './config.ts';
import { folio_test_swapbacked } from './internal/folio.ts';

// ---- /proc/<pid>/pagemap ---------------------------------------------------------------------

/** Bits 0-54: the PFN, or for swap entries the type (bits 0-4) and offset (bits 5-54). */
export const PM_PFRAME_BITS = 55;
export const PM_PFRAME_MASK: bigint = (1n << 55n) - 1n;
export const PM_SOFT_DIRTY: bigint = 1n << 55n;
export const PM_MMAP_EXCLUSIVE: bigint = 1n << 56n;
export const PM_UFFD_WP: bigint = 1n << 57n;
export const PM_GUARD_REGION: bigint = 1n << 58n;
export const PM_FILE: bigint = 1n << 61n;
export const PM_SWAP: bigint = 1n << 62n;
export const PM_PRESENT: bigint = 1n << 63n;
/** MAX_SWAPFILES_SHIFT: where the swap offset starts in a swap entry's frame. */
const SWP_TYPE_SPAN = 32;

// The same flags as bits of an entry's high word (bit n of the entry = bit n - 32 of `hi`).
const HI_SOFT_DIRTY = 1 << 23;
const HI_MMAP_EXCLUSIVE = 1 << 24;
const HI_UFFD_WP = 1 << 25;
const HI_GUARD_REGION = 1 << 26;
const HI_FILE = 1 << 29;
const HI_SWAP = 1 << 30;
const HI_PRESENT = 1 << 31;
const FRAME_HI_MASK = (1 << 23) - 1;
const LO_SPAN = 2 ** 32;

/** PAGEMAP_WALK_SIZE: pagemap_read() walks one PMD-sized chunk per mmap_lock hold. */
const PAGEMAP_WALK_SIZE = PMD_SIZE;

/** struct pagemapread: the output words (lo, hi per entry) and the next entry to fill. */
interface PagemapRead {
  words: Uint32Array;
  pos: number;
  show_pfn: boolean;
  soft_dirty: boolean;
  pm: PhysMem;
}

function add_to_pagemap(p: PagemapRead, frame: number, hiFlags: number): void {
  const o = p.pos * 2;
  p.words[o] = frame % LO_SPAN;
  p.words[o + 1] = ((Math.floor(frame / LO_SPAN) & FRAME_HI_MASK) | hiFlags) >>> 0;
  p.pos++;
}

function pagemap_pte_hole(start: number, end: number, _depth: number, walk: MmWalk): number {
  const p = walk.private as PagemapRead;
  let addr = start;
  while (addr < end) {
    const vma = walk.mm.find_vma(addr);
    // End of address space hole, which we mark as non-present.
    const holeEnd = vma !== null ? Math.min(end, vma.vm_start) : end;
    for (; addr < holeEnd; addr += PAGE_SIZE) add_to_pagemap(p, 0, 0);
    if (vma === null) break;
    const flags = p.soft_dirty && (vma.vm_flags & VM_SOFTDIRTY) !== 0 ? HI_SOFT_DIRTY : 0;
    const vEnd = Math.min(end, vma.vm_end);
    for (; addr < vEnd; addr += PAGE_SIZE) add_to_pagemap(p, 0, flags);
  }
  return 0;
}

/** is_pfn_swap_entry(): migration, device-private/exclusive and hwpoison entries carry a PFN. */
function is_pfn_swap_type(type: number): boolean {
  return type >= MAX_SWAPFILES && type !== SWP_PTE_MARKER;
}

/** pte_to_pagemap_entry() straight into the output. */
function pte_to_pagemap_entry(p: PagemapRead, vma: VmAreaStruct, lo: number, hi: number): void {
  const pm = p.pm;
  let frame = 0;
  let flags = 0;
  let page = 0;
  if (pte_present(lo)) {
    if (p.show_pfn) frame = entry_pfn(lo, hi);
    flags |= HI_PRESENT;
    page = vm_normal_page(pm, lo, hi);
    if (p.soft_dirty && (lo & _PAGE_SOFT_DIRTY) !== 0) flags |= HI_SOFT_DIRTY;
    if ((lo & _PAGE_UFFD_WP) !== 0) flags |= HI_UFFD_WP;
  } else if (lo !== 0 || hi !== 0) {
    if (p.soft_dirty && (lo & _PAGE_SWP_SOFT_DIRTY) !== 0) flags |= HI_SOFT_DIRTY;
    if ((lo & _PAGE_SWP_UFFD_WP) !== 0) flags |= HI_UFFD_WP;
    const type = swp_type(lo, hi);
    const offset = swp_offset(lo, hi);
    // For PFN swap entries the offset field is the PFN (swp_offset_pfn()).
    if (p.show_pfn) frame = type + offset * SWP_TYPE_SPAN;
    flags |= HI_SWAP;
    if (is_pfn_swap_type(type)) page = offset;
    if (type === SWP_PTE_MARKER) {
      if ((offset & PTE_MARKER_UFFD_WP) !== 0) flags |= HI_UFFD_WP;
      if ((offset & PTE_MARKER_GUARD) !== 0) flags |= HI_GUARD_REGION;
    }
  }
  if (page !== 0) {
    if (!pm.PageAnon(page)) flags |= HI_FILE;
    // __folio_page_mapped_exclusively() with CONFIG_PAGE_MAPCOUNT: mapped exactly once.
    if ((flags & HI_PRESENT) !== 0 && pm.page_mapcount(page) === 1) flags |= HI_MMAP_EXCLUSIVE;
  }
  if (p.soft_dirty && (vma.vm_flags & VM_SOFTDIRTY) !== 0) flags |= HI_SOFT_DIRTY;
  add_to_pagemap(p, frame, flags);
}

function pagemap_pmd_range(walk: MmWalk, addr: number, end: number): number {
  const p = walk.private as PagemapRead;
  const vma = walk.vma!;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  if (pmd_leaf(walk.lo)) {
    // pmd_trans_huge_lock()
    ptlLock(pm, c, walk.table);
    const lo = walk.lo;
    const hi = walk.hi;
    let flags = p.soft_dirty && (vma.vm_flags & VM_SOFTDIRTY) !== 0 ? HI_SOFT_DIRTY : 0;
    let page = 0;
    let frame = 0;
    let idx = Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
    if (pmd_present(lo)) {
      page = entry_pfn(lo, hi); // pmd_page(): the huge zero folio too
      flags |= HI_PRESENT;
      if (p.soft_dirty && (lo & _PAGE_SOFT_DIRTY) !== 0) flags |= HI_SOFT_DIRTY;
      if ((lo & _PAGE_UFFD_WP) !== 0) flags |= HI_UFFD_WP;
      if (p.show_pfn) frame = page + idx;
    }
    if (page !== 0 && !pm.PageAnon(page)) flags |= HI_FILE;
    for (; addr !== end; addr += PAGE_SIZE, idx++) {
      let cur = flags;
      if (page !== 0 && (flags & HI_PRESENT) !== 0 && pm.page_mapcount(page + idx) === 1)
        cur |= HI_MMAP_EXCLUSIVE;
      add_to_pagemap(p, frame, cur);
      if (p.show_pfn && (flags & HI_PRESENT) !== 0) frame++;
    }
    ptlUnlock(pm, c, walk.table);
    return 0;
  }
  const pteT = pte_offset_map_lock(pm, c, walk.lo, walk.hi);
  if (pteT === 0) {
    walk.action = ACTION_AGAIN;
    return 0;
  }
  const w = pm.tableWords(pteT);
  let o = pm.tableBase(pteT) + pte_index(addr) * 2;
  for (; addr < end; addr += PAGE_SIZE, o += 2) pte_to_pagemap_entry(p, vma, w[o], w[o + 1]);
  pte_unmap_unlock(pm, c, pteT);
  return 0;
}

const pagemap_ops: MmWalkOps = mmWalkOps({
  pmd_entry: pagemap_pmd_range,
  pte_hole: pagemap_pte_hole,
  walk_lock: PGWALK_RDLOCK,
});

/**
 * pagemap_read(): the /proc/<pid>/pagemap entries for the pages of [start, end) (addresses are
 * rounded out to pages), one 64-bit entry per page as the kernel returns them: PFN (or swap type
 * and offset) in bits 0-54, then PM_SOFT_DIRTY, PM_MMAP_EXCLUSIVE, PM_UFFD_WP, PM_GUARD_REGION,
 * PM_FILE, PM_SWAP, PM_PRESENT. Pages at or above TASK_SIZE are not returned. Takes the mmap lock
 * for read around each PMD-sized chunk, as the kernel does; the caller must not hold it for write.
 */
export function pagemap_read(
  mm: MmStruct,
  start: number,
  end: number,
  config: ProcConfig = DEFAULT_PROC_CONFIG,
): BigUint64Array {
  const taskSize = taskSizeMax(mm.levels);
  let s = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
  const e = Math.min(Math.ceil(end / PAGE_SIZE) * PAGE_SIZE, taskSize);
  const n = e > s ? (e - s) / PAGE_SIZE : 0;
  const out = new BigUint64Array(n);
  const p: PagemapRead = {
    words: new Uint32Array(out.buffer),
    pos: 0,
    show_pfn: config.showPfn,
    soft_dirty: config.memSoftDirty,
    pm: mm.machine.phys,
  };
  const first = s;
  while (s < e) {
    const chunkEnd = Math.min(e, Math.floor(s / PAGEMAP_WALK_SIZE) * PAGEMAP_WALK_SIZE + PAGEMAP_WALK_SIZE);
    mm.mmap_read_lock();
    try {
      walk_page_range(mm, s, chunkEnd, pagemap_ops, p);
    } finally {
      mm.mmap_read_unlock();
    }
    // Entries a walk does not produce (hugetlb VMAs, which mmsim lacks) stay zero.
    p.pos = (chunkEnd - first) / PAGE_SIZE;
    s = chunkEnd;
  }
  return out;
}

// ---- /proc/<pid>/smaps -----------------------------------------------------------------------

/** PSS is kept in fixed point: bytes << PSS_SHIFT. */
export const PSS_SHIFT = 12;
const PSS_ONE = 2 ** PSS_SHIFT;

/** struct mem_size_stats: sizes in bytes; pss* in bytes << PSS_SHIFT. */
export class MemSizeStats {
  resident = 0;
  shared_clean = 0;
  shared_dirty = 0;
  private_clean = 0;
  private_dirty = 0;
  referenced = 0;
  anonymous = 0;
  lazyfree = 0;
  anonymous_thp = 0;
  shmem_thp = 0;
  file_thp = 0;
  swap = 0;
  shared_hugetlb = 0;
  private_hugetlb = 0;
  ksm = 0;
  pss = 0;
  pss_anon = 0;
  pss_file = 0;
  pss_shmem = 0;
  pss_dirty = 0;
  pss_locked = 0;
  swap_pss = 0;
}

function smaps_page_accumulate(
  mss: MemSizeStats,
  pm: PhysMem,
  folio: number,
  size: number,
  pss: number,
  dirty: boolean,
  locked: boolean,
  priv: boolean,
): void {
  mss.pss += pss;
  if (pm.PageAnon(folio)) mss.pss_anon += pss;
  else if (folio_test_swapbacked(pm, folio)) mss.pss_shmem += pss;
  else mss.pss_file += pss;
  if (locked) mss.pss_locked += pss;
  if (dirty || (pm.flags[folio] & PG_dirty) !== 0) {
    mss.pss_dirty += pss;
    if (priv) mss.private_dirty += size;
    else mss.shared_dirty += size;
  } else if (priv) mss.private_clean += size;
  else mss.shared_clean += size;
}

/** smaps_account(): one page, or a whole PMD-mapped folio (`compound`). */
function smaps_account(
  mss: MemSizeStats,
  pm: PhysMem,
  page: number,
  compound: boolean,
  young: boolean,
  dirty: boolean,
  locked: boolean,
  present: boolean,
): void {
  const folio = pm.folio(page);
  const nr = compound ? pm.folio_nr_pages(folio) : 1;
  const size = nr * PAGE_SIZE;
  const folioDirty = (pm.flags[folio] & PG_dirty) !== 0;
  // Quantities that depend only on the size and the type of the folio.
  if (pm.PageAnon(folio)) {
    mss.anonymous += size;
    if (!folio_test_swapbacked(pm, folio) && !dirty && !folioDirty) mss.lazyfree += size;
  }
  if (pm.PageKsm(folio)) mss.ksm += size;
  mss.resident += size;
  if (young || (pm.flags[folio] & PG_referenced) !== 0) mss.referenced += size;
  // refcount == 1 for a present entry: mapped exactly once. Non-present entries (migration)
  // count as "maybe shared".
  if (pm.refcount[folio] === 1 || !present) {
    smaps_page_accumulate(mss, pm, folio, size, size * PSS_ONE, dirty, locked, present);
    return;
  }
  for (let i = 0; i < nr; i++) {
    // folio_precise_page_mapcount() (CONFIG_PAGE_MAPCOUNT)
    const mapcount = pm.page_mapcount(page + i);
    let pss = PAGE_SIZE * PSS_ONE;
    if (mapcount >= 2) pss = Math.floor(pss / mapcount);
    smaps_page_accumulate(mss, pm, folio, PAGE_SIZE, pss, dirty, locked, mapcount < 2);
  }
}

function smaps_pte_entry(mss: MemSizeStats, pm: PhysMem, vma: VmAreaStruct, lo: number, hi: number): void {
  const locked = (vma.vm_flags & VM_LOCKED) !== 0;
  let page = 0;
  let present = false;
  let young = false;
  let dirty = false;
  if (pte_present(lo)) {
    page = vm_normal_page(pm, lo, hi); // not the zero page
    young = (lo & _PAGE_ACCESSED) !== 0;
    dirty = (lo & _PAGE_DIRTY) !== 0;
    present = true;
  } else if (lo !== 0 || hi !== 0) {
    const type = swp_type(lo, hi);
    if (type < MAX_SWAPFILES) {
      mss.swap += PAGE_SIZE;
      const mapcount = swapCount(vma, swp_offset(lo, hi));
      if (mapcount >= 2) mss.swap_pss += Math.floor((PAGE_SIZE * PSS_ONE) / mapcount);
      else mss.swap_pss += PAGE_SIZE * PSS_ONE;
    } else if (is_pfn_swap_type(type)) {
      page = swp_offset(lo, hi);
    }
  }
  // A none PTE: the shmem swap lookup (smaps_pte_hole_lookup()) has nothing to find in mmsim.
  if (page === 0) return;
  smaps_account(mss, pm, page, false, young, dirty, locked, present);
}

/** swp_swapcount(): the swap PTEs referencing the slot. */
function swapCount(vma: VmAreaStruct, off: number): number {
  return vma.vm_mm.machine.swap.swapCount(off);
}

function smaps_pmd_entry(mss: MemSizeStats, pm: PhysMem, vma: VmAreaStruct, lo: number, hi: number): void {
  if (!pmd_present(lo)) return;
  const pfn = entry_pfn(lo, hi);
  if (pm.is_huge_zero_pfn(pfn)) return; // vm_normal_page_pmd()
  const folio = pm.folio(pfn);
  const thp = HPAGE_PMD_NR * PAGE_SIZE;
  if (pm.PageAnon(folio)) mss.anonymous_thp += thp;
  else if (folio_test_swapbacked(pm, folio)) mss.shmem_thp += thp;
  else mss.file_thp += thp;
  smaps_account(
    mss,
    pm,
    pfn,
    true,
    (lo & _PAGE_ACCESSED) !== 0,
    (lo & _PAGE_DIRTY) !== 0,
    (vma.vm_flags & VM_LOCKED) !== 0,
    true,
  );
}

/** smaps_pte_range(), the pmd_entry of smaps_walk_ops. */
function smaps_pte_range(walk: MmWalk, addr: number, end: number): number {
  const mss = walk.private as MemSizeStats;
  const vma = walk.vma!;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  if (pmd_leaf(walk.lo)) {
    ptlLock(pm, c, walk.table); // pmd_trans_huge_lock()
    smaps_pmd_entry(mss, pm, vma, walk.lo, walk.hi);
    ptlUnlock(pm, c, walk.table);
    return 0;
  }
  const pteT = pte_offset_map_lock(pm, c, walk.lo, walk.hi);
  if (pteT === 0) {
    walk.action = ACTION_AGAIN;
    return 0;
  }
  const w = pm.tableWords(pteT);
  let o = pm.tableBase(pteT) + pte_index(addr) * 2;
  for (; addr !== end; addr += PAGE_SIZE, o += 2) smaps_pte_entry(mss, pm, vma, w[o], w[o + 1]);
  pte_unmap_unlock(pm, c, pteT);
  return 0;
}

const smaps_walk_ops: MmWalkOps = mmWalkOps({ pmd_entry: smaps_pte_range, walk_lock: PGWALK_RDLOCK });

/**
 * smap_gather_stats(): add the VMA's memory (from `start`, 0 = all of it) to `mss`. The caller
 * holds the mmap lock for read. mmsim's shared anonymous memory never swaps, so the shmem swap
 * accounting of the kernel has nothing to add.
 */
export function smap_gather_stats(vma: VmAreaStruct, mss: MemSizeStats, start = 0): void {
  if (start >= vma.vm_end) return;
  if (start === 0) walk_page_vma(vma, smaps_walk_ops, mss);
  else walk_page_range(vma.vm_mm, start, vma.vm_end, smaps_walk_ops, mss);
}

/** The smaps fields, in kB (THPeligible 0/1; Pss_Anon/File/Shmem are printed by smaps_rollup only). */
export interface SmapsFields {
  Rss: number;
  Pss: number;
  Pss_Dirty: number;
  Pss_Anon: number;
  Pss_File: number;
  Pss_Shmem: number;
  Shared_Clean: number;
  Shared_Dirty: number;
  Private_Clean: number;
  Private_Dirty: number;
  Referenced: number;
  Anonymous: number;
  KSM: number;
  LazyFree: number;
  AnonHugePages: number;
  ShmemPmdMapped: number;
  FilePmdMapped: number;
  Shared_Hugetlb: number;
  Private_Hugetlb: number;
  Swap: number;
  SwapPss: number;
  Locked: number;
}

/** One VMA of /proc/<pid>/smaps. */
export interface SmapsVmaFields extends SmapsFields {
  Size: number;
  KernelPageSize: number;
  MMUPageSize: number;
  THPeligible: number;
  VmFlags: string;
}

export interface SmapsEntry {
  vma: VmAreaStruct;
  mss: MemSizeStats;
  fields: SmapsVmaFields;
  /** The VMA's block of the smaps file, header line included. */
  text: string;
}

export interface SmapsRollup {
  start: number;
  end: number;
  mss: MemSizeStats;
  fields: SmapsFields;
  text: string;
}

const kB = (bytes: number): number => Math.floor(bytes / 1024);
const pssKB = (pss: number): number => Math.floor(Math.floor(pss / PSS_ONE) / 1024);

/** The shared fields of a mem_size_stats, in kB, as __show_smap() prints them. */
export function smapsFields(mss: MemSizeStats): SmapsFields {
  return {
    Rss: kB(mss.resident),
    Pss: pssKB(mss.pss),
    Pss_Dirty: pssKB(mss.pss_dirty),
    Pss_Anon: pssKB(mss.pss_anon),
    Pss_File: pssKB(mss.pss_file),
    Pss_Shmem: pssKB(mss.pss_shmem),
    Shared_Clean: kB(mss.shared_clean),
    Shared_Dirty: kB(mss.shared_dirty),
    Private_Clean: kB(mss.private_clean),
    Private_Dirty: kB(mss.private_dirty),
    Referenced: kB(mss.referenced),
    Anonymous: kB(mss.anonymous),
    KSM: kB(mss.ksm),
    LazyFree: kB(mss.lazyfree),
    AnonHugePages: kB(mss.anonymous_thp),
    ShmemPmdMapped: kB(mss.shmem_thp),
    FilePmdMapped: kB(mss.file_thp),
    Shared_Hugetlb: kB(mss.shared_hugetlb),
    Private_Hugetlb: kB(mss.private_hugetlb),
    Swap: kB(mss.swap),
    SwapPss: pssKB(mss.swap_pss),
    Locked: pssKB(mss.pss_locked),
  };
}

/** seq_put_decimal_ull_width(): `label` then the value right-aligned in `width`. */
function dec(label: string, value: number, width = 8): string {
  return label + String(value).padStart(width, ' ');
}

/** __show_smap(): the lines shared by smaps and smaps_rollup. */
function show_smap_common(f: SmapsFields, rollup: boolean): string {
  let s = dec('Rss:            ', f.Rss);
  s += dec(' kB\nPss:            ', f.Pss);
  s += dec(' kB\nPss_Dirty:      ', f.Pss_Dirty);
  if (rollup) {
    s += dec(' kB\nPss_Anon:       ', f.Pss_Anon);
    s += dec(' kB\nPss_File:       ', f.Pss_File);
    s += dec(' kB\nPss_Shmem:      ', f.Pss_Shmem);
  }
  s += dec(' kB\nShared_Clean:   ', f.Shared_Clean);
  s += dec(' kB\nShared_Dirty:   ', f.Shared_Dirty);
  s += dec(' kB\nPrivate_Clean:  ', f.Private_Clean);
  s += dec(' kB\nPrivate_Dirty:  ', f.Private_Dirty);
  s += dec(' kB\nReferenced:     ', f.Referenced);
  s += dec(' kB\nAnonymous:      ', f.Anonymous);
  s += dec(' kB\nKSM:            ', f.KSM);
  s += dec(' kB\nLazyFree:       ', f.LazyFree);
  s += dec(' kB\nAnonHugePages:  ', f.AnonHugePages);
  s += dec(' kB\nShmemPmdMapped: ', f.ShmemPmdMapped);
  s += dec(' kB\nFilePmdMapped:  ', f.FilePmdMapped);
  s += dec(' kB\nShared_Hugetlb: ', f.Shared_Hugetlb);
  s += dec(' kB\nPrivate_Hugetlb: ', f.Private_Hugetlb, 7);
  s += dec(' kB\nSwap:           ', f.Swap);
  s += dec(' kB\nSwapPss:        ', f.SwapPss);
  s += dec(' kB\nLocked:         ', f.Locked);
  return `${s} kB\n`;
}

/** show_smap_vma_flags() mnemonics by bit (x86-64; the protection-key bits print nothing). */
const MNEMONICS: readonly (string | null)[] = [
  'rd', // VM_READ
  'wr', // VM_WRITE
  'ex', // VM_EXEC
  'sh', // VM_SHARED
  'mr', // VM_MAYREAD
  'mw', // VM_MAYWRITE
  'me', // VM_MAYEXEC
  'ms', // VM_MAYSHARE
  'gd', // VM_GROWSDOWN
  'um', // VM_UFFD_MISSING
  'pf', // VM_PFNMAP
  null, // (unused)
  'uw', // VM_UFFD_WP
  'lo', // VM_LOCKED
  'io', // VM_IO
  'sr', // VM_SEQ_READ
  'rr', // VM_RAND_READ
  'dc', // VM_DONTCOPY
  'de', // VM_DONTEXPAND
  'lf', // VM_LOCKONFAULT
  'ac', // VM_ACCOUNT
  'nr', // VM_NORESERVE
  'ht', // VM_HUGETLB
  'sf', // VM_SYNC
  'ar', // VM_ARCH_1
  'wf', // VM_WIPEONFORK
  'dd', // VM_DONTDUMP
  'sd', // VM_SOFTDIRTY (CONFIG_MEM_SOFT_DIRTY)
  'mm', // VM_MIXEDMAP
  'hg', // VM_HUGEPAGE
  'nh', // VM_NOHUGEPAGE
  'mg', // VM_MERGEABLE
];

/** The "VmFlags:" value: each set flag's mnemonic followed by a space. */
export function vmFlagsString(flags: number, config: ProcConfig = DEFAULT_PROC_CONFIG): string {
  let s = '';
  for (let bit = 0; bit < MNEMONICS.length; bit++) {
    const name = MNEMONICS[bit];
    if (name === null || (flags & (1 << bit)) === 0) continue;
    if (1 << bit === VM_SOFTDIRTY && !config.memSoftDirty) continue;
    s += `${name} `;
  }
  return s;
}

/** Column where show_map_vma() starts the name: seq_setwidth(25 + sizeof(void *) * 6 - 1). */
const NAME_COLUMN = 25 + 8 * 6 - 1;

/** show_vma_header_prefix(): "start-end perms offset dev inode ". */
function header_prefix(
  start: number,
  end: number,
  flags: number,
  pgoff: number,
  dev: string,
  ino: number,
): string {
  const perms =
    ((flags & 0x1) !== 0 ? 'r' : '-') +
    ((flags & 0x2) !== 0 ? 'w' : '-') +
    ((flags & 0x4) !== 0 ? 'x' : '-') +
    ((flags & VM_MAYSHARE) !== 0 ? 's' : 'p');
  return `${hex(start, 8)}-${hex(end, 8)} ${perms} ${hex(pgoff, 8)} ${dev} ${ino} `;
}

function pad(line: string): string {
  return line.length < NAME_COLUMN ? line + ' '.repeat(NAME_COLUMN - line.length) : line;
}

/**
 * show_map_vma(): the maps/smaps header line. Private anonymous memory has no name; shared
 * anonymous memory is the shmem file "/dev/zero (deleted)" on device 00:01 (mmsim uses the shmem
 * object id as its inode number).
 */
export function show_map_vma(vma: VmAreaStruct): string {
  if (vma.shmem !== null) {
    const head = header_prefix(
      vma.vm_start,
      vma.vm_end,
      vma.vm_flags,
      vma.vm_pgoff * PAGE_SIZE,
      '00:01',
      vma.shmem.id,
    );
    return `${pad(head)} /dev/zero (deleted)\n`;
  }
  if (vma.vm_file !== null) {
    // a regular file: mmsim has no devices; the file's page-cache id stands for its inode number
    const head = header_prefix(
      vma.vm_start,
      vma.vm_end,
      vma.vm_flags,
      vma.vm_pgoff * PAGE_SIZE,
      '00:00',
      vma.vm_file.id,
    );
    return `${pad(head)} ${vma.vm_file.name}\n`;
  }
  return `${header_prefix(vma.vm_start, vma.vm_end, vma.vm_flags, 0, '00:00', 0)}\n`;
}

/**
 * THPeligible: thp_vma_allowable_orders(vma, TVA_SMAPS | TVA_ENFORCE_SYSFS) for mmsim's PMD-sized
 * anonymous THPs: the sysfs policy allows it ("always", or "madvise" with VM_HUGEPAGE), the VMA
 * is not VM_NOHUGEPAGE, and it holds at least one PMD-aligned 2 MiB range. Shared anonymous
 * (shmem) VMAs follow shmem_enabled, which is "never" by default.
 */
export function thpEligible(vma: VmAreaStruct): number {
  const thp = vma.vm_mm.machine.thp;
  if ((vma.vm_flags & (VM_SHARED | VM_HUGETLB)) !== 0 || !vma.vma_is_anonymous()) return 0;
  if (thp.enabled === 'never' || (vma.vm_flags & VM_NOHUGEPAGE) !== 0) return 0;
  if (thp.enabled === 'madvise' && (vma.vm_flags & VM_HUGEPAGE) === 0) return 0;
  const haddr = Math.floor((vma.vm_end - PMD_SIZE) / PMD_SIZE) * PMD_SIZE;
  return haddr >= vma.vm_start && haddr + PMD_SIZE <= vma.vm_end ? 1 : 0;
}

/** show_smap(): one VMA's block. The caller holds the mmap lock for read. */
export function show_smap(vma: VmAreaStruct, config: ProcConfig = DEFAULT_PROC_CONFIG): SmapsEntry {
  const mss = new MemSizeStats();
  smap_gather_stats(vma, mss, 0);
  const common = smapsFields(mss);
  const fields: SmapsVmaFields = {
    Size: kB(vma.vm_end - vma.vm_start),
    KernelPageSize: 4,
    MMUPageSize: 4,
    ...common,
    THPeligible: thpEligible(vma),
    VmFlags: vmFlagsString(vma.vm_flags, config),
  };
  let text = show_map_vma(vma);
  text += dec('Size:           ', fields.Size);
  text += dec(' kB\nKernelPageSize: ', fields.KernelPageSize);
  text += dec(' kB\nMMUPageSize:    ', fields.MMUPageSize);
  text += ' kB\n';
  text += show_smap_common(common, false);
  text += `THPeligible:    ${String(fields.THPeligible).padStart(8, ' ')}\n`;
  if (config.protectionKeys) text += `ProtectionKey:  ${String(0).padStart(8, ' ')}\n`;
  text += `VmFlags: ${fields.VmFlags}\n`;
  return { vma, mss, fields, text };
}

/** /proc/<pid>/smaps: one entry per VMA. Takes the mmap lock for read. */
export function smaps(mm: MmStruct, config: ProcConfig = DEFAULT_PROC_CONFIG): SmapsEntry[] {
  mm.mmap_read_lock();
  try {
    return mm.vmas.map((vma) => show_smap(vma, config));
  } finally {
    mm.mmap_read_unlock();
  }
}

/** The whole /proc/<pid>/smaps file. */
export function smapsText(mm: MmStruct, config: ProcConfig = DEFAULT_PROC_CONFIG): string {
  return smaps(mm, config)
    .map((e) => e.text)
    .join('');
}

/**
 * /proc/<pid>/smaps_rollup: every VMA's memory in one block headed by the span from the first
 * VMA's start to the last one's end. Takes the mmap lock for read.
 */
export function smaps_rollup(mm: MmStruct): SmapsRollup {
  const mss = new MemSizeStats();
  let start = 0;
  let end = 0;
  mm.mmap_read_lock();
  try {
    const vmas = mm.vmas;
    if (vmas.length > 0) start = vmas[0].vm_start;
    for (const vma of vmas) {
      smap_gather_stats(vma, mss, 0);
      end = vma.vm_end;
    }
  } finally {
    mm.mmap_read_unlock();
  }
  const fields = smapsFields(mss);
  const text = `${pad(header_prefix(start, end, 0, 0, '00:00', 0))} [rollup]\n${show_smap_common(fields, true)}`;
  return { start, end, mss, fields, text };
}
