// Transparent huge pages for anonymous memory (mm/huge_memory.c, Linux 6.18): the PMD fault
// (huge zero page on read, a new PMD-order folio on write), write faults on huge PMDs, PMD
// splitting with the deposited page table, zap and fork of huge PMDs, and folio splitting.

import { alignDown, HPAGE_PMD_NR, HPAGE_PMD_ORDER, PMD_SIZE } from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  entry_pfn,
  entryOut,
  mk_pte,
  pmd_leaf,
} from './arch.ts';
import { FAULT_FLAG_UNSHARE, FAULT_FLAG_WRITE, VM_FAULT_FALLBACK, VM_FAULT_OOM } from './fault.ts';
import { khugepaged_enter_vma } from './khugepaged.ts';
import type { Machine } from './machine.ts';
import {
  MM_ANONPAGES,
  type MmStruct,
  VM_HUGEPAGE,
  VM_LOCKED,
  VM_NOHUGEPAGE,
  VM_SHARED,
  VM_WRITE,
  type VmAreaStruct,
} from './mm.ts';
import { page_vma_mapped_pte, page_vma_mapped_walk } from './page_vma_mapped.ts';
import {
  E,
  pmd_index,
  populateEntry,
  pte_index,
  ptlLock,
  ptlUnlock,
  readEntry,
  setEntry,
} from './pgtable.ts';
import { PG_anon_exclusive, PG_dirty, PG_lazyfree, PG_swapcache } from './physmem.ts';
import {
  anon_vma_prepare,
  folio_add_anon_rmap_ptes,
  folio_add_new_anon_rmap,
  folio_dup_rmap_pmd,
  folio_maybe_dma_pinned,
  folio_remove_rmap_pmd,
  folio_remove_rmap_pte,
  rmap_walk,
  vma_address,
} from './rmap.ts';

/** Deposited page tables (pgtable_trans_huge_deposit()), keyed by PMD table and index. */
function depositKey(pmdT: number, pi: number): number {
  return pmdT * 512 + pi;
}

/**
 * pgtable_trans_huge_deposit(): keep `pgtable` (already counted in mm.nrPtes) under the huge PMD
 * at (pmdT, pi) for a later split.
 */
export function pgtable_trans_huge_deposit(mm: MmStruct, pmdT: number, pi: number, pgtable: number): void {
  mm.deposited.set(depositKey(pmdT, pi), pgtable);
}

function deposit(mm: MmStruct, pmdT: number, pi: number): boolean {
  const t = mm.machine.phys.allocPageTable();
  if (t === 0) return false;
  mm.nrPtes++;
  pgtable_trans_huge_deposit(mm, pmdT, pi, t);
  return true;
}

function withdraw(mm: MmStruct, pmdT: number, pi: number): number {
  const k = depositKey(pmdT, pi);
  const t = mm.deposited.get(k) ?? 0;
  mm.deposited.delete(k);
  return t;
}

/** thp_vma_allowable_order() for a PMD-sized anonymous fault at addr. */
export function thp_vma_allowable(vma: VmAreaStruct, addr: number): boolean {
  const thp = vma.vm_mm.machine.thp;
  if (thp.enabled === 'never' || (vma.vm_flags & VM_NOHUGEPAGE) !== 0) return false;
  // create_huge_pmd(): a file without ->huge_fault (a regular file here) falls back to PTEs.
  if ((vma.vm_flags & VM_SHARED) !== 0 || vma.vm_file !== null) return false;
  if (thp.enabled === 'madvise' && (vma.vm_flags & VM_HUGEPAGE) === 0) return false;
  const haddr = alignDown(addr, PMD_SIZE);
  return haddr >= vma.vm_start && haddr + PMD_SIZE <= vma.vm_end;
}

/** do_huge_pmd_anonymous_page(). */
export function do_huge_pmd_anonymous_page(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pmdT: number,
  pi: number,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const haddr = alignDown(addr, PMD_SIZE);
  if (!anon_vma_prepare(vma)) return VM_FAULT_OOM;
  khugepaged_enter_vma(vma, vma.vm_flags);
  if ((flags & FAULT_FLAG_WRITE) === 0 && m.thp.use_zero_page) {
    const zf = pm.get_huge_zero_folio();
    if (zf === 0) return VM_FAULT_FALLBACK;
    if (!deposit(mm, pmdT, pi)) return VM_FAULT_OOM;
    mk_pte(zf, (vma.protLo & ~_PAGE_RW) | _PAGE_PSE, vma.protHi);
    setEntry(pm, pmdT, pi, entryOut.lo, entryOut.hi);
    m.counters.faultZeroPage++;
    return 0;
  }
  const folio = pm.alloc_pages(HPAGE_PMD_ORDER);
  if (folio === 0) return VM_FAULT_FALLBACK;
  if (!deposit(mm, pmdT, pi)) {
    pm.put_page(folio);
    return VM_FAULT_OOM;
  }
  let lo = vma.protLo | _PAGE_PSE;
  if ((vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
  mk_pte(folio, lo, vma.protHi);
  folio_add_new_anon_rmap(pm, folio, vma, haddr, true);
  mm.add_mm_counter(MM_ANONPAGES, HPAGE_PMD_NR);
  setEntry(pm, pmdT, pi, entryOut.lo, entryOut.hi);
  m.vmstat.thp_fault_alloc++;
  m.counters.faultThp++;
  return 0;
}

/** do_huge_pmd_wp_page(): reuse an exclusive THP, otherwise split and fall back to PTEs. */
export function do_huge_pmd_wp_page(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pmdT: number,
  pi: number,
): number {
  const m = vma.vm_mm.machine;
  const pm = m.phys;
  readEntry(pm, pmdT, pi);
  const lo = E.lo;
  const hi = E.hi;
  const pfn = entry_pfn(lo, hi);
  if (pm.is_huge_zero_pfn(pfn)) {
    // do_huge_zero_wp_pmd() (6.13+): replace the huge zero page by a new zeroed PMD-mapped THP;
    // only when no THP can be allocated, fall back to splitting the PMD. Before 6.13 always the
    // fallback (KernelProfile.mm.hugeZeroWpThp).
    const folio = m.kernel.mm.hugeZeroWpThp ? pm.alloc_pages(HPAGE_PMD_ORDER) : 0;
    if (folio !== 0) {
      const haddr = alignDown(addr, PMD_SIZE);
      m.counters.tlbFlushes++; // pmdp_huge_clear_flush()
      // map_anon_folio_pmd(): the deposited page table of the zero PMD stays deposited.
      let nlo = vma.protLo | _PAGE_PSE | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
      if ((vma.vm_flags & VM_WRITE) !== 0) nlo |= _PAGE_RW;
      mk_pte(folio, nlo, vma.protHi);
      folio_add_new_anon_rmap(pm, folio, vma, haddr, true);
      vma.vm_mm.add_mm_counter(MM_ANONPAGES, HPAGE_PMD_NR);
      setEntry(pm, pmdT, pi, entryOut.lo, entryOut.hi);
      m.vmstat.thp_fault_alloc++;
      m.counters.faultThp++;
      return 0;
    }
  } else {
    const folio = pm.folio(pfn);
    let reuse = pm.PageAnonExclusive(folio);
    if (!reuse && !pm.PageKsm(folio) && pm.refcount[folio] === 1 && (pm.flags[folio] & PG_swapcache) === 0) {
      for (let p = folio; p < folio + HPAGE_PMD_NR; p++) pm.flags[p] |= PG_anon_exclusive;
      reuse = true;
    }
    if (reuse) {
      if ((flags & FAULT_FLAG_UNSHARE) !== 0) return 0;
      let nlo = lo | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
      if ((vma.vm_flags & VM_WRITE) !== 0) nlo |= _PAGE_RW;
      setEntry(pm, pmdT, pi, nlo >>> 0, hi);
      m.counters.faultWpReuse++;
      return 0;
    }
  }
  split_huge_pmd(vma, addr, pmdT, pi);
  return VM_FAULT_FALLBACK;
}

/**
 * __split_huge_pmd_locked(): replace a huge PMD by the deposited PTE table mapping the same
 * pages (the huge zero page becomes 512 zero-page PTEs). The folio stays large.
 */
export function split_huge_pmd(vma: VmAreaStruct, _addr: number, pmdT: number, pi: number): void {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  readEntry(pm, pmdT, pi);
  const lo = E.lo;
  const hi = E.hi;
  if (!pmd_leaf(lo)) return;
  const pteT = withdraw(mm, pmdT, pi);
  const pfn = entry_pfn(lo, hi);
  const flagsLo =
    lo & (_PAGE_RW | _PAGE_DIRTY | _PAGE_ACCESSED | _PAGE_SOFT_DIRTY | 0x1 | 0x4 | 0x100 | 0x400);
  ptlLock(pm, m.counters, pteT);
  if (pm.is_huge_zero_pfn(pfn)) {
    for (let i = 0; i < 512; i++) {
      mk_pte(pm.zeroPfn, (flagsLo & ~_PAGE_RW) | _PAGE_SPECIAL, hi & 0x80000000);
      setEntry(pm, pteT, i, entryOut.lo, entryOut.hi);
    }
  } else {
    const folio = pm.folio(pfn);
    for (let i = 0; i < 512; i++) {
      mk_pte(folio + i, flagsLo, hi & 0x80000000);
      setEntry(pm, pteT, i, entryOut.lo, entryOut.hi);
    }
    folio_add_anon_rmap_ptes(pm, folio, HPAGE_PMD_NR, mm);
    folio_remove_rmap_pmd(pm, folio, mm);
    pm.folio_ref_add(folio, HPAGE_PMD_NR - 1);
  }
  ptlUnlock(pm, m.counters, pteT);
  populateEntry(pm, pmdT, pi, pteT);
  m.counters.tlbFlushes++;
  m.counters.pmdSplits++;
  m.vmstat.thp_split_pmd++;
}

/** zap_huge_pmd(). */
export function zap_huge_pmd(vma: VmAreaStruct, _addr: number, pmdT: number, pi: number): void {
  const mm = vma.vm_mm;
  const pm = mm.machine.phys;
  readEntry(pm, pmdT, pi);
  const pfn = entry_pfn(E.lo, E.hi);
  setEntry(pm, pmdT, pi, 0, 0);
  const t = withdraw(mm, pmdT, pi);
  if (t !== 0) {
    pm.freePageTable(t);
    mm.nrPtes--;
  }
  mm.machine.counters.tlbFlushes++;
  if (pm.is_huge_zero_pfn(pfn)) return;
  const folio = pm.folio(pfn);
  folio_remove_rmap_pmd(pm, folio, mm);
  mm.add_mm_counter(MM_ANONPAGES, -HPAGE_PMD_NR);
  pm.put_page(folio);
}

/**
 * unmap_huge_pmd_locked() with __discard_anon_folio_pmd_locked() (mm/huge_memory.c, 6.11 until
 * "mm/rmap: don't discard lazyfree THPs at PMD level"; KernelProfile.mm.lazyfreePmdDiscard):
 * reclaim drops a lazyfree anon THP mapped by the huge PMD at (pmdT, pi) whole, unless the folio
 * or the PMD was dirtied since MADV_FREE or someone besides the isolating caller and the mappings
 * holds a reference. The PMD is left none and its deposited table freed. Returns whether it was.
 */
function unmap_huge_pmd_locked(
  vma: VmAreaStruct,
  addr: number,
  pmdT: number,
  pi: number,
  folio: number,
): boolean {
  const pm = vma.vm_mm.machine.phys;
  if ((pm.flags[folio] & PG_lazyfree) === 0) return false;
  readEntry(pm, pmdT, pi);
  if ((pm.flags[folio] & PG_dirty) !== 0 || (E.lo & _PAGE_DIRTY) !== 0) return false;
  // The kernel's folio_mapcount() of a large folio counts a PMD mapping once.
  if (pm.refcount[folio] !== pm.folio_large_mapcount(folio) + 1) return false;
  zap_huge_pmd(vma, addr, pmdT, pi);
  return true;
}

/**
 * copy_huge_pmd(): share a huge PMD with the child. Returns 0 when copied, 1 when the source
 * PMD was split instead (pinned folio: the caller copies the PTEs), or -ENOMEM.
 */
export function copy_huge_pmd(
  dst: VmAreaStruct,
  src: VmAreaStruct,
  addr: number,
  dpmdT: number,
  spmdT: number,
  pi: number,
): number {
  const dmm = dst.vm_mm;
  const m = dmm.machine;
  const pm = m.phys;
  readEntry(pm, spmdT, pi);
  let lo = E.lo;
  const hi = E.hi;
  const pfn = entry_pfn(lo, hi);
  if (!pm.is_huge_zero_pfn(pfn)) {
    const folio = pm.folio(pfn);
    if (folio_maybe_dma_pinned(pm, folio)) {
      split_huge_pmd(src, addr, spmdT, pi);
      return 1;
    }
    if (!deposit(dmm, dpmdT, pi)) return -12;
    for (let p = folio; p < folio + HPAGE_PMD_NR; p++) pm.flags[p] &= ~PG_anon_exclusive;
    pm.get_page(folio);
    folio_dup_rmap_pmd(pm, folio, dmm);
    dmm.add_mm_counter(MM_ANONPAGES, HPAGE_PMD_NR);
    lo = (lo & ~_PAGE_RW) >>> 0;
    setEntry(pm, spmdT, pi, lo, hi);
  } else if (!deposit(dmm, dpmdT, pi)) return -12;
  setEntry(pm, dpmdT, pi, (lo & ~_PAGE_ACCESSED) >>> 0, hi);
  return 0;
}

/** Split every PMD mapping of a folio (the first half of split_huge_page()'s unmap, and
 * try_to_unmap()'s TTU_SPLIT_HUGE_PMD); with `discardLazyfree`, try_to_unmap_one() of a
 * kernel with KernelProfile.mm.lazyfreePmdDiscard: a mapping unmap_huge_pmd_locked() drops
 * is not split. */
export function split_folio_pmds(m: Machine, folio: number, discardLazyfree = false): void {
  const pm = m.phys;
  rmap_walk(m, folio, (vma, addr) => {
    const haddr = alignDown(addr, PMD_SIZE);
    if (haddr < vma.vm_start) return true;
    const pmdT = vma.vm_mm.find_pmd_table(haddr);
    if (pmdT === 0) return true;
    const pi = pmd_index(haddr);
    readEntry(pm, pmdT, pi);
    if (!pmd_leaf(E.lo) || entry_pfn(E.lo, E.hi) !== folio) return true;
    if (!discardLazyfree || !unmap_huge_pmd_locked(vma, haddr, pmdT, pi, folio))
      split_huge_pmd(vma, haddr, pmdT, pi);
    return true;
  });
}

/**
 * split_huge_page()/split_folio(): turn a large anon folio into order-0 pages. The caller holds
 * one reference (and usually the page lock). Returns 0, or -EAGAIN when extra references
 * (pins, GUP) keep it from being split, as can_split_folio() decides.
 */
export function split_folio(m: Machine, folio: number, page: number = folio): number {
  const pm = m.phys;
  if (!pm.folio_test_large(folio)) return 0;
  split_folio_pmds(m, folio);
  const swapcache = (pm.flags[folio] & PG_swapcache) !== 0 ? HPAGE_PMD_NR : 0;
  if (pm.refcount[folio] !== pm.folio_mapcount(folio) + 1 + swapcache) return -11;
  pm.splitFolio(folio, page);
  m.vmstat.thp_split_page++;
  // __folio_split() remaps a split anon folio with RMP_USE_SHARED_ZEROPAGE (6.12+): every
  // zero-filled subpage is mapped to the shared zero page instead of itself.
  if (!m.kernel.mm.splitMapsZeroPage) return 0;
  for (let p = folio; p < folio + HPAGE_PMD_NR; p++) {
    if (pm.mapcount[p] > 0 && pm.pages_identical(p, pm.zeroPfn)) map_unused_to_zeropage(m, p);
  }
  return 0;
}

/**
 * folio_maybe_mapped_shared() (include/linux/mm.h, 6.18): whether the folio may be mapped by more
 * than one mm. The kernel's large mapcount counts a PMD mapping once; with CONFIG_MM_ID
 * (KernelProfile.mm.mmId) a large folio answers with its "maybe mapped shared" bit (rmap.ts).
 * Without, mmsim answers exactly: shared when PTEs of two mms map it.
 */
export function folio_maybe_mapped_shared(m: Machine, folio: number): boolean {
  const pm = m.phys;
  if (!pm.folio_test_large(folio)) return pm.mapcount[folio] > 1;
  const mapcount = pm.folio_large_mapcount(folio);
  // A single mapping implies "mapped exclusively", whatever the bit says.
  if (mapcount <= 1) return false;
  if (m.kernel.mm.mmId) return pm.folio_mm_ids_shared(folio);
  if (pm.entireMapcount[folio] > 0 || mapcount > HPAGE_PMD_NR) return true;
  let owner: MmStruct | null = null;
  let shared = false;
  rmap_walk(m, folio, (vma) => {
    if (!maps_folio_pte(vma, folio)) return true;
    if (owner === null) owner = vma.vm_mm;
    else if (owner !== vma.vm_mm) shared = true;
    return !shared;
  });
  return shared;
}

/** Whether a PTE of the VMA maps a page of the large folio (page_vma_mapped_walk() over it). */
function maps_folio_pte(vma: VmAreaStruct, folio: number): boolean {
  const pm = vma.vm_mm.machine.phys;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const addr = vma_address(vma, pm.index[folio] + i);
    if (addr < 0) continue;
    if (page_vma_mapped_pte(vma.vm_mm, addr, folio + i) !== 0) return true;
  }
  return false;
}

/**
 * try_to_map_unused_to_zeropage() (mm/migrate.c), for every PTE mapping the just-split subpage
 * `page`, which is zero-filled: the PTE becomes a special zero-page PTE with the VMA's
 * protection (not dirty: not a KSM zero page), MM_ANONPAGES drops, and the mapping's reference
 * goes. The kernel does this while restoring the split's migration entries, so the subpage is
 * simply not remapped; it is freed unless someone else (the splitting caller, e.g. KSM holding the
 * page it wanted to merge) still has a reference. Not for VM_LOCKED VMAs (mm_forbids_zeropage()
 * is false on x86; mlocked folios are not simulated).
 */
function map_unused_to_zeropage(m: Machine, page: number): void {
  const pm = m.phys;
  const maps: { vma: VmAreaStruct; addr: number }[] = [];
  rmap_walk(m, page, (vma, addr) => {
    maps.push({ vma, addr });
    return true;
  });
  for (const { vma, addr } of maps) {
    if ((vma.vm_flags & VM_LOCKED) !== 0) continue;
    const pteT = page_vma_mapped_walk(vma.vm_mm, addr, page);
    if (pteT === 0) continue;
    const idx = pte_index(addr);
    mk_pte(pm.zeroPfn, vma.protLo & ~_PAGE_RW, vma.protHi);
    setEntry(pm, pteT, idx, (entryOut.lo | _PAGE_SPECIAL) >>> 0, entryOut.hi);
    folio_remove_rmap_pte(pm, page, vma.vm_mm);
    vma.vm_mm.add_mm_counter(MM_ANONPAGES, -1);
    ptlUnlock(pm, m.counters, pteT);
    m.counters.tlbFlushes++;
    pm.put_page(page);
  }
}
