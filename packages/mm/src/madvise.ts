// madvise(2) (mm/madvise.c, Linux 6.18): do_madvise() over the VMAs of the range and each
// advice on one VMA (madvise_vma_behavior()): flags updates; MADV_DONTNEED, which zaps with
// zap_details.reclaim_pt (the PTE tables it empties are freed, mm/pt_reclaim.c); MADV_FREE and
// MADV_COLD/PAGEOUT through the page walker with the kernel's pmd_entry callbacks;
// MADV_POPULATE_*; MADV_COLLAPSE; MADV_REMOVE on shared anonymous memory (madvise_remove() with
// shmem_fallocate()'s hole punch); and guard regions: MADV_GUARD_INSTALL (walk_page_range_mm()
// with install_pte) puts a PTE_MARKER_GUARD marker in every PTE of the range, so that any access
// faults with SIGSEGV (handle_pte_marker()); the markers survive MADV_DONTNEED and are copied at
// fork, and only munmap/exit (ZAP_FLAG_DROP_MARKER) or MADV_GUARD_REMOVE drop them.

import {
  alignUp,
  BUG,
  EACCES,
  EINVAL,
  ENOMEM,
  HPAGE_PMD_NR,
  type KernelProfile,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  anon_vma_prepare,
  do_user_addr_fault,
  E,
  entry_pfn,
  entryOut,
  entryTable,
  filemap_remove_folio,
  folio_maybe_mapped_shared,
  is_guard_pte_marker,
  khugepaged_enter_vma,
  linear_page_index,
  MADV_BY_NAME,
  MADV_COLD,
  MADV_COLLAPSE,
  MADV_DODUMP,
  MADV_DOFORK,
  MADV_DONTDUMP,
  MADV_DONTFORK,
  MADV_DONTNEED,
  MADV_DONTNEED_LOCKED,
  MADV_FREE,
  MADV_GUARD_INSTALL,
  MADV_GUARD_REMOVE,
  MADV_HUGEPAGE,
  MADV_KEEPONFORK,
  MADV_MERGEABLE,
  MADV_NOHUGEPAGE,
  MADV_NORMAL,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_RANDOM,
  MADV_REMOVE,
  MADV_SEQUENTIAL,
  MADV_UNMERGEABLE,
  MADV_WILLNEED,
  MADV_WIPEONFORK,
  type Machine,
  type MmStruct,
  madvise_collapse,
  make_pte_marker,
  PG_dirty,
  PG_lazyfree,
  PG_reclaim,
  PG_referenced,
  PG_swapcache,
  type PhysMem,
  PTE_MARKER_GUARD,
  pmd_index,
  pmd_leaf,
  pmd_trans_huge,
  pte_index,
  pte_present,
  readEntry,
  reclaim_folio,
  setEntry,
  split_folio,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_PFNMAP,
  VM_RAND_READ,
  VM_READ,
  VM_SEQ_READ,
  VM_SHARED,
  VM_SPECIAL,
  VM_WIPEONFORK,
  VM_WRITE,
  type VmAreaStruct,
  vm_normal_page,
  vma_modify_flags,
  zap_page_range,
} from '@mmsim/mmu';
import {
  ACTION_CONTINUE,
  type MmWalk,
  type MmWalkOps,
  mmWalkOps,
  PGWALK_RDLOCK,
  walk_page_range_mm,
  walk_page_range_vma,
} from '@mmsim/pagewalk';

/** Every advice value madvise() knows (madvise_behavior_valid()). */
const MADV_VALUES: readonly number[] = Object.values(MADV_BY_NAME);

/**
 * do_madvise(): apply `advice` to [start, start + len) VMA by VMA (madvise_walk_vmas()), with the
 * mmap lock taken for read or write as the advice needs. 0 or a negative errno; a gap in the
 * range is -ENOMEM after the VMAs around it were advised.
 */
export function do_madvise(mm: MmStruct, start: number, len: number, advice: number): number {
  if (!madvise_behavior_valid(advice, mm.machine.kernel)) return -EINVAL;
  if (start % PAGE_SIZE !== 0 || len < 0) return -EINVAL;
  len = alignUp(len, PAGE_SIZE);
  const end = start + len;
  if (end < start) return -EINVAL;
  if (end === start) return 0;
  const addr = start;
  const write =
    advice !== MADV_DONTNEED &&
    advice !== MADV_FREE &&
    advice !== MADV_COLD &&
    advice !== MADV_PAGEOUT &&
    advice !== MADV_WILLNEED &&
    advice !== MADV_COLLAPSE &&
    advice !== MADV_GUARD_INSTALL &&
    advice !== MADV_GUARD_REMOVE &&
    advice !== MADV_POPULATE_READ &&
    advice !== MADV_POPULATE_WRITE;
  if (
    (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE) &&
    mm.machine.kernel.mm.populateWholeRange
  )
    return madvise_populate(mm, addr, end, advice === MADV_POPULATE_WRITE);
  if (write) mm.mmap_write_lock();
  else mm.mmap_read_lock();
  let err = 0;
  let unmapped = false;
  try {
    // madvise_walk_vmas(): apply to every VMA piece; a gap yields ENOMEM at the end.
    let a = addr;
    while (a < end) {
      const v = mm.find_vma(a);
      if (v === null || v.vm_start >= end) {
        unmapped = true;
        break;
      }
      if (v.vm_start > a) {
        unmapped = true;
        a = v.vm_start;
      }
      const s = a;
      const e = Math.min(end, v.vm_end);
      err = madvise_vma_behavior(v, s, e, advice);
      if (err !== 0) break;
      a = e;
    }
  } finally {
    if (write) mm.mmap_write_unlock();
    else mm.mmap_read_unlock();
  }
  if (err !== 0) return err;
  return unmapped ? -ENOMEM : 0;
}

/**
 * madvise_populate() (mm/madvise.c, 6.18): fault [start, end) in page by page, in address order
 * and across VMAs (faultin_page_range()); the first hole is ENOMEM and a VMA GUP refuses
 * (check_vma_flags()) EINVAL, with the pages before it left populated.
 */
function madvise_populate(mm: MmStruct, start: number, end: number, write: boolean): number {
  mm.mmap_read_lock();
  try {
    return faultin_page_range(mm, start, end, write);
  } finally {
    mm.mmap_read_unlock();
  }
}

/** faultin_page_range() under the caller's mmap read lock: fault [start, end) in page by page;
 * a hole is ENOMEM, a VMA GUP refuses EINVAL. */
function faultin_page_range(mm: MmStruct, start: number, end: number, write: boolean): number {
  for (let a = start; a < end; a += PAGE_SIZE) {
    const v = mm.vma_lookup(a);
    if (v === null) return -ENOMEM;
    if ((v.vm_flags & (VM_IO | VM_PFNMAP)) !== 0 || (v.vm_flags & (write ? VM_WRITE : VM_READ)) === 0)
      return -EINVAL;
    const r = do_user_addr_fault(v, a, write);
    if (r !== 0) return r;
    foll_touch_pte(mm, a);
  }
  return 0;
}

/**
 * follow_page_pte()'s FOLL_TOUCH (mm/gup.c, 6.18), which GUP does for every page it populates:
 * folio_mark_accessed() of a PTE-mapped page (set PG_referenced, as the gup package models it); a
 * huge PMD is only made young (follow_huge_pmd()). khugepaged's young check counts the page
 * afterwards, also for a child that maps it with old PTEs (seed 311214).
 */
function foll_touch_pte(mm: MmStruct, addr: number): void {
  const pm = mm.machine.phys;
  const pmdT = mm.find_pmd_table(addr);
  if (pmdT === 0) return;
  readEntry(pm, pmdT, pmd_index(addr));
  if (pmd_leaf(E.lo) || (E.lo & _PAGE_PRESENT) === 0) return;
  readEntry(pm, entryTable(E.lo, E.hi), pte_index(addr));
  if (!pte_present(E.lo)) return;
  const page = vm_normal_page(pm, E.lo, E.hi);
  if (page !== 0) pm.flags[pm.folio(page)] |= PG_referenced;
}

/** madvise_behavior_valid(): an advice this kernel knows (guard regions from 6.13). */
function madvise_behavior_valid(advice: number, kernel: KernelProfile): boolean {
  if (!MADV_VALUES.includes(advice)) return false;
  if (advice === MADV_GUARD_INSTALL || advice === MADV_GUARD_REMOVE) return kernel.mm.guardRegions;
  return true;
}

/** madvise_update_vma(): set vm_flags on [s, e) of the VMA, splitting and re-merging. */
function madvise_update_vma(v: VmAreaStruct, s: number, e: number, flags: number): void {
  vma_modify_flags(v.vm_mm, v, s, e, flags);
}

/** madvise_vma_behavior(): one advice on [s, e) of one VMA; 0 or a negative errno. */
function madvise_vma_behavior(v: VmAreaStruct, s: number, e: number, advice: number): number {
  const m = v.vm_mm.machine;
  switch (advice) {
    case MADV_DONTNEED:
    case MADV_DONTNEED_LOCKED:
      if ((v.vm_flags & (VM_PFNMAP | VM_HUGETLB)) !== 0) return -EINVAL;
      if (advice === MADV_DONTNEED && (v.vm_flags & VM_LOCKED) !== 0) return -EINVAL;
      // madvise_dontneed_single_vma(): zap_details.reclaim_pt frees the PTE tables it empties.
      zap_page_range(v, s, e, 0, true);
      return 0;
    case MADV_FREE:
      // madvise_free_single_vma(): anonymous memory only (not shmem, not a file)
      if (!v.vma_is_anonymous()) return -EINVAL;
      return walk_page_range_vma(v, s, e, madvise_free_walk_ops);
    case MADV_PAGEOUT:
    case MADV_COLD:
      if ((v.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) !== 0) return -EINVAL; // can_madv_lru_vma()
      // madvise_cold() / madvise_pageout()
      return walk_page_range_vma(
        v,
        s,
        e,
        cold_walk_ops,
        advice === MADV_PAGEOUT ? PAGEOUT_PRIVATE : COLD_PRIVATE,
      );
    case MADV_WILLNEED:
      return 0;
    // The read-ahead hints are VMA flags (mm/madvise.c 6.18): the VMA splits at the range, so a
    // part too small for a PMD no longer gets a THP on a fault (seed 999004).
    case MADV_NORMAL:
      madvise_update_vma(v, s, e, v.vm_flags & ~(VM_RAND_READ | VM_SEQ_READ));
      return 0;
    case MADV_SEQUENTIAL:
      madvise_update_vma(v, s, e, (v.vm_flags & ~VM_RAND_READ) | VM_SEQ_READ);
      return 0;
    case MADV_RANDOM:
      madvise_update_vma(v, s, e, (v.vm_flags & ~VM_SEQ_READ) | VM_RAND_READ);
      return 0;
    case MADV_HUGEPAGE:
    case MADV_NOHUGEPAGE: {
      // On shared memory the flag is set too (shmem THP is governed by shmem_enabled).
      const f =
        advice === MADV_HUGEPAGE
          ? (v.vm_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
          : (v.vm_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
      // hugepage_madvise(): the VMA, before the split, with its new flags.
      if (advice === MADV_HUGEPAGE) khugepaged_enter_vma(v, f);
      madvise_update_vma(v, s, e, f);
      return 0;
    }
    case MADV_MERGEABLE:
    case MADV_UNMERGEABLE: {
      const flags = { value: v.vm_flags };
      const err = m.hooks.ksm_madvise(v, s, e, advice, flags);
      if (err !== 0) return err;
      madvise_update_vma(v, s, e, flags.value);
      return 0;
    }
    case MADV_DONTFORK:
      madvise_update_vma(v, s, e, v.vm_flags | VM_DONTCOPY);
      return 0;
    case MADV_DOFORK:
      madvise_update_vma(v, s, e, v.vm_flags & ~VM_DONTCOPY);
      return 0;
    case MADV_WIPEONFORK:
      // only anonymous memory: not shared, not a file mapping
      if (v.vm_file !== null || (v.vm_flags & VM_SHARED) !== 0) return -EINVAL;
      madvise_update_vma(v, s, e, v.vm_flags | VM_WIPEONFORK);
      return 0;
    case MADV_KEEPONFORK:
      madvise_update_vma(v, s, e, v.vm_flags & ~VM_WIPEONFORK);
      return 0;
    case MADV_DONTDUMP:
      madvise_update_vma(v, s, e, v.vm_flags | VM_DONTDUMP);
      return 0;
    case MADV_DODUMP:
      madvise_update_vma(v, s, e, v.vm_flags & ~VM_DONTDUMP);
      return 0;
    case MADV_POPULATE_READ:
    case MADV_POPULATE_WRITE:
      // before 6.10: madvise_populate() of one VMA, from madvise_walk_vmas() (mm/madvise.c 6.1)
      return faultin_page_range(v.vm_mm, s, e, advice === MADV_POPULATE_WRITE);
    case MADV_COLLAPSE:
      return madvise_collapse(v, s, e);
    case MADV_GUARD_INSTALL:
      return madvise_guard_install(v, s, e);
    case MADV_GUARD_REMOVE:
      return madvise_guard_remove(v, s, e);
    case MADV_REMOVE:
      return madvise_remove(v, s, e);
    default:
      return -EINVAL;
  }
}

/** The walk's private state of madvise_cold_or_pageout_pte_range() (struct madvise_walk_private). */
interface MadviseWalkPrivate {
  pageout: boolean;
}

const COLD_PRIVATE: MadviseWalkPrivate = { pageout: false };
const PAGEOUT_PRIVATE: MadviseWalkPrivate = { pageout: true };

/**
 * The large-folio rule of madvise_cold_or_pageout_pte_range(), madvise_free_pte_range() and
 * madvise_free_huge_pmd() (mm/madvise.c, mm/huge_memory.c, 6.18) for the PMD entry the walk is
 * at, covering [addr, next): a THP the range covers only in part is split (its zero-filled
 * subpages then map the shared zero page) unless another mm may map it; the huge zero page and
 * THPs wholly inside stay as they are.
 */
function madvise_split_partial_folios(walk: MmWalk, addr: number, next: number): void {
  const m = walk.mm.machine;
  const pm = m.phys;
  if (pmd_leaf(walk.lo)) {
    const folio = entry_pfn(walk.lo, walk.hi);
    if (next - addr !== PMD_SIZE && !pm.is_huge_zero_pfn(folio)) split_unshared_folio(m, folio);
    return;
  }
  const pteT = entryTable(walk.lo, walk.hi);
  for (let a = addr; a < next; ) {
    readEntry(pm, pteT, pte_index(a));
    const page = pte_present(E.lo) ? vm_normal_page(pm, E.lo, E.hi) : 0;
    if (page === 0 || !pm.folio_test_large(pm.folio(page))) {
      a += PAGE_SIZE;
      continue;
    }
    const folio = pm.folio(page);
    const nr = madvise_folio_pte_batch(pm, pteT, a, next, page);
    if (nr < HPAGE_PMD_NR) split_unshared_folio(m, folio);
    a += nr * PAGE_SIZE;
  }
}

/** madvise_folio_pte_batch(): how many PTEs from `a` (before `next`) map consecutive pages of
 * the large folio from `page` on. */
function madvise_folio_pte_batch(pm: PhysMem, pteT: number, a: number, next: number, page: number): number {
  const folio = pm.folio(page);
  let nr = 1;
  while (a + nr * PAGE_SIZE < next && page + nr < folio + HPAGE_PMD_NR) {
    readEntry(pm, pteT, pte_index(a + nr * PAGE_SIZE));
    if (!pte_present(E.lo) || entry_pfn(E.lo, E.hi) !== page + nr) break;
    nr++;
  }
  return nr;
}

/** The PTE loops after the large-folio rule: the PTEs from `a` map part of a large folio that
 * was not split (another mm may map it, or the split failed), which the kernel skips
 * (`continue` past the batch). 0, or the batch's length in pages. */
function unsplit_partial_folio_batch(
  pm: PhysMem,
  pteT: number,
  a: number,
  next: number,
  page: number,
): number {
  if (!pm.folio_test_large(pm.folio(page))) return 0;
  const nr = madvise_folio_pte_batch(pm, pteT, a, next, page);
  return nr < HPAGE_PMD_NR ? nr : 0;
}

/** split_folio() of a large folio this mm alone maps, holding a reference across it. */
function split_unshared_folio(m: Machine, folio: number): void {
  if (folio_maybe_mapped_shared(m, folio)) return;
  m.phys.get_page(folio);
  split_folio(m, folio);
  m.phys.put_page(folio);
}

/**
 * madvise_free_pte_range() (with madvise_free_huge_pmd()), the pmd_entry of MADV_FREE's walk:
 * after the large-folio rule, the PTEs (and whole PMDs of THPs no other mm maps) become clean
 * and old, and their anon folios lazyfree, so that reclaim discards them unless written again.
 * Folios in the swap cache are left alone (folio_free_swap() is not simulated).
 */
function madvise_free_pte_range(walk: MmWalk, addr: number, next: number): number {
  const m = walk.mm.machine;
  const pm = m.phys;
  madvise_split_partial_folios(walk, addr, next);
  const clean = ~(_PAGE_DIRTY | _PAGE_ACCESSED);
  // The split may have turned a huge PMD into a PTE table: read the entry again.
  readEntry(pm, walk.table, walk.index);
  if (pmd_leaf(E.lo)) {
    const folio = entry_pfn(E.lo, E.hi);
    if (!pm.is_huge_zero_pfn(folio) && !folio_maybe_mapped_shared(m, folio)) {
      pm.flags[folio] &= ~PG_dirty; // madvise_free_huge_pmd(): folio_clear_dirty()
      setEntry(pm, walk.table, walk.index, (E.lo & clean) >>> 0, E.hi);
      folio_mark_lazyfree(pm, folio);
    }
    return 0;
  }
  const pteT = entryTable(E.lo, E.hi);
  for (let a = addr; a < next; a += PAGE_SIZE) {
    const idx = pte_index(a);
    readEntry(pm, pteT, idx);
    if (!pte_present(E.lo)) continue;
    const page = vm_normal_page(pm, E.lo, E.hi);
    if (page === 0 || (pm.flags[pm.folio(page)] & PG_swapcache) !== 0) continue;
    const skip = unsplit_partial_folio_batch(pm, pteT, a, next, page);
    if (skip !== 0) {
      a += (skip - 1) * PAGE_SIZE;
      continue;
    }
    // A large folio here is mapped whole by the batch: clear_young_dirty_ptes() over all of its
    // PTEs, then the loop moves past them (seed 500078: a PTE-mapped THP freed whole).
    const folio = pm.folio(page);
    const nr = pm.folio_test_large(folio) ? madvise_folio_pte_batch(pm, pteT, a, next, page) : 1;
    if ((pm.flags[folio] & PG_dirty) !== 0) {
      // Only a folio this mm maps alone can be cleaned; a dirty shared one is left as it is.
      if (pm.folio_mapcount(folio) !== pm.folio_nr_pages(folio)) {
        a += (nr - 1) * PAGE_SIZE;
        continue;
      }
      pm.flags[folio] &= ~PG_dirty; // folio_clear_dirty()
    }
    for (let i = 0; i < nr; i++) {
      readEntry(pm, pteT, idx + i);
      setEntry(pm, pteT, idx + i, (E.lo & clean) >>> 0, E.hi);
    }
    folio_mark_lazyfree(pm, folio);
    a += (nr - 1) * PAGE_SIZE;
  }
  return 0;
}

/** madvise_free_walk_ops. */
const madvise_free_walk_ops: MmWalkOps = mmWalkOps({
  pmd_entry: madvise_free_pte_range,
  walk_lock: PGWALK_RDLOCK,
});

/** folio_mark_lazyfree(): anon, swap-backed, not in the swap cache (KSM pages are left alone). */
function folio_mark_lazyfree(pm: PhysMem, folio: number): void {
  if (pm.PageAnon(folio) && !pm.PageKsm(folio) && (pm.flags[folio] & PG_swapcache) === 0)
    pm.flags[folio] |= PG_lazyfree;
}

/**
 * madvise_cold_or_pageout_pte_range(), the pmd_entry of MADV_COLD's and MADV_PAGEOUT's walk:
 * the large-folio rule, then for MADV_PAGEOUT the reclaim of the folios only this mm maps
 * (deactivation, all MADV_COLD does besides, has no LRU to act on here).
 */
function madvise_cold_or_pageout_pte_range(walk: MmWalk, addr: number, next: number): number {
  madvise_split_partial_folios(walk, addr, next);
  if (!(walk.private as MadviseWalkPrivate).pageout) return 0;
  const vma = walk.vma!;
  if ((vma.vm_flags & VM_SHARED) !== 0) madvise_pageout_shmem(walk, vma, addr, next);
  else madvise_pageout_anon(walk, addr, next);
  return 0;
}

/** cold_walk_ops. */
const cold_walk_ops: MmWalkOps = mmWalkOps({
  pmd_entry: madvise_cold_or_pageout_pte_range,
  walk_lock: PGWALK_RDLOCK,
});

/** MADV_PAGEOUT of private memory: reclaim_pages() of the anon folios mapped only by this mm.
 * A large folio is isolated once (the kernel's huge-PMD path, or its PTE batch): one that reclaim
 * kept whole (a lazyfree THP written again) is not tried again at its next address. */
function madvise_pageout_anon(walk: MmWalk, addr: number, next: number): void {
  const m = walk.mm.machine;
  const pm = m.phys;
  let large = 0;
  for (let a = addr; a < next; a += PAGE_SIZE) {
    // Reclaim splits a THP: the PMD entry is read again at every address.
    readEntry(pm, walk.table, walk.index);
    let pfn = 0;
    if (pmd_leaf(E.lo)) {
      pfn = entry_pfn(E.lo, E.hi);
      if (pm.is_huge_zero_pfn(pfn)) continue;
    } else {
      if ((E.lo === 0 && E.hi === 0) || (E.lo & _PAGE_PRESENT) === 0) continue;
      const pteT = entryTable(E.lo, E.hi);
      readEntry(pm, pteT, pte_index(a));
      if (!pte_present(E.lo)) continue;
      pfn = vm_normal_page(pm, E.lo, E.hi);
      if (pfn === 0) continue;
      const skip = unsplit_partial_folio_batch(pm, pteT, a, next, pfn);
      if (skip !== 0) {
        a += (skip - 1) * PAGE_SIZE;
        continue;
      }
    }
    const folio = pm.folio(pfn);
    if (!pm.PageAnon(folio)) {
      madvise_pageout_file(walk.vma!, a, folio);
      continue;
    }
    // folio_maybe_mapped_shared(): shared pages (KSM ones included) are left alone.
    if (pm.PageKsm(folio) || pm.folio_mapcount(folio) > pm.folio_nr_pages(folio)) continue;
    if (folio === large && pm.folio_test_large(folio)) continue;
    if (pm.folio_test_large(folio)) large = folio;
    reclaim_folio(m, folio);
  }
}

/**
 * MADV_PAGEOUT of a page-cache page of a private file mapping (the caller may write the file, as
 * root may: can_do_file_pageout(), mm/madvise.c 6.18): a folio only this PTE maps is unmapped
 * (try_to_unmap()). shrink_folio_list() (mm/vmscan.c) then keeps a dirty one in the cache (only
 * kswapd writes file pages back) marked PG_reclaim, which fault-around skips, and drops a clean
 * one nothing else holds (__remove_mapping()).
 */
function madvise_pageout_file(vma: VmAreaStruct, addr: number, folio: number): void {
  const pm = vma.vm_mm.machine.phys;
  if (pm.folio_mapcount(folio) !== pm.folio_nr_pages(folio)) return;
  zap_page_range(vma, addr, addr + PAGE_SIZE);
  if ((pm.flags[folio] & PG_dirty) !== 0) pm.flags[folio] |= PG_reclaim;
  else if (pm.refcount[folio] === 1) filemap_remove_folio(vma.vm_file!, pm, pm.index[folio]);
}

/**
 * MADV_PAGEOUT of shared anonymous (shmem) pages: shrink_folio_list() (mm/vmscan.c, 6.18) unmaps
 * every page only this PTE maps (try_to_unmap(), which moves the PTE's dirty bit to the folio).
 * A dirty folio goes to pageout(): without swap, shmem_writeout() keeps it in the object
 * (AOP_WRITEPAGE_ACTIVATE), and with swap the simulator keeps it there too (shmem swap is not
 * simulated). A clean one — faulted in by reads only, all zeroes — is dropped from the object
 * (__remove_mapping()) when nothing else holds it. Either way the process no longer maps it.
 */
function madvise_pageout_shmem(walk: MmWalk, vma: VmAreaStruct, addr: number, next: number): void {
  const pm = walk.mm.machine.phys;
  for (let a = addr; a < next; a += PAGE_SIZE) {
    readEntry(pm, walk.table, walk.index);
    if ((E.lo === 0 && E.hi === 0) || pmd_leaf(E.lo) || (E.lo & _PAGE_PRESENT) === 0) continue;
    readEntry(pm, entryTable(E.lo, E.hi), pte_index(a));
    if (!pte_present(E.lo)) continue;
    const page = vm_normal_page(pm, E.lo, E.hi);
    // folio_mapcount() != folio_nr_pages(): mapped elsewhere too, left alone.
    if (page === 0 || pm.folio_mapcount(pm.folio(page)) !== pm.folio_nr_pages(pm.folio(page))) continue;
    const folio = pm.folio(page);
    zap_page_range(vma, a, a + PAGE_SIZE);
    // __remove_mapping(): only the object's reference is left (folio_ref_freeze()).
    if ((pm.flags[folio] & PG_dirty) === 0 && pm.refcount[folio] === 1)
      filemap_remove_folio(vma.shmem!, pm, pm.index[folio]);
  }
}

/**
 * madvise_remove(): free the range's backing store. Only a shared writable mapping of an object
 * can (anonymous private memory has no file: EINVAL); shmem_fallocate(FALLOC_FL_PUNCH_HOLE)
 * unmaps the pages from every process mapping them (unmap_mapping_range()) and drops them from
 * the object (shmem_truncate_range()). 0 or a negative errno.
 */
function madvise_remove(vma: VmAreaStruct, start: number, end: number): number {
  if ((vma.vm_flags & VM_LOCKED) !== 0) return -EINVAL;
  // mm/madvise.c 6.18: anonymous memory has no file to punch (EINVAL); a private mapping of a
  // file (a regular one here) is not writable to it (!vma_is_shared_maywrite(): EACCES).
  if (vma.shmem === null && vma.vm_file === null) return -EINVAL;
  if ((vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) !== (VM_SHARED | VM_MAYWRITE)) return -EACCES;
  const obj = vma.shmem;
  if (obj === null) BUG('MADV_REMOVE: a shared mapping of a regular file (not simulated)');
  const first = linear_page_index(vma, start);
  const last = linear_page_index(vma, end);
  const m = vma.vm_mm.machine;
  for (const mm of m.mms) {
    for (const v of mm.vmas) {
      if (v.shmem !== obj) continue;
      const s = Math.max(v.vm_start, v.vm_start + (first - v.vm_pgoff) * PAGE_SIZE);
      const e = Math.min(v.vm_end, v.vm_start + (last - v.vm_pgoff) * PAGE_SIZE);
      if (s < e) zap_page_range(v, s, e);
    }
  }
  for (let index = first; index < last; index++) filemap_remove_folio(obj, m.phys, index);
  return 0;
}

/** MAX_MADVISE_GUARD_RETRIES: install attempts, each after zapping what was in the way. */
const MAX_MADVISE_GUARD_RETRIES = 3;

/** is_valid_guard_vma(): no special, hugetlb or (for installing) mlocked mappings. */
function is_valid_guard_vma(vma: VmAreaStruct, allow_locked: boolean): boolean {
  let disallowed = VM_SPECIAL | VM_HUGETLB;
  if (!allow_locked) disallowed |= VM_LOCKED;
  return (vma.vm_flags & disallowed) === 0;
}

/**
 * guard_install_pud_entry() and guard_install_pmd_entry(): a huge entry aborts the walk (> 0) so
 * that the range is zapped (pud_trans_huge() tests the same _PAGE_PSE bit as pmd_trans_huge()).
 */
function guard_install_huge_entry(walk: MmWalk): number {
  return pmd_trans_huge(walk.lo) ? 1 : 0;
}

/** guard_install_pte_entry(): a guard marker is already there; anything else aborts (> 0). */
function guard_install_pte_entry(walk: MmWalk): number {
  return is_guard_pte_marker(walk.lo, walk.hi) ? 0 : 1;
}

/** guard_install_set_pte(): a none PTE gets a PTE_MARKER_GUARD marker (the walker stores it). */
function guard_install_set_pte(_addr: number, _next: number, walk: MmWalk): number {
  make_pte_marker(PTE_MARKER_GUARD);
  walk.lo = entryOut.lo;
  walk.hi = entryOut.hi;
  return 0;
}

/** guard_install_walk_ops: for walk_page_range_mm(), which allocates page tables where missing. */
const guard_install_walk_ops: MmWalkOps = mmWalkOps({
  pud_entry: guard_install_huge_entry,
  pmd_entry: guard_install_huge_entry,
  pte_entry: guard_install_pte_entry,
  install_pte: guard_install_set_pte,
  walk_lock: PGWALK_RDLOCK,
});

/** madvise_guard_install(): 0 or a negative errno. */
function madvise_guard_install(vma: VmAreaStruct, start: number, end: number): number {
  if (!is_valid_guard_vma(vma, false)) return -EINVAL;
  // With markers the range is no longer empty: an anon_vma makes fork copy the page tables.
  if (!anon_vma_prepare(vma)) return -ENOMEM;
  for (let i = 0; i < MAX_MADVISE_GUARD_RETRIES; i++) {
    const err = walk_page_range_mm(vma.vm_mm, start, end, guard_install_walk_ops);
    if (err <= 0) return err;
    // Some of the range is populated: zap it (existing markers stay) and try again.
    zap_page_range(vma, start, end);
  }
  // Only racing faults can get here in the kernel (restart_syscall()); nothing races here.
  BUG('madvise_guard_install: range still populated after zapping it');
}

/** guard_remove_pud_entry() / guard_remove_pmd_entry(): huge entries hold no markers: skip. */
function guard_remove_huge_entry(walk: MmWalk): number {
  if (pmd_trans_huge(walk.lo)) walk.action = ACTION_CONTINUE;
  return 0;
}

/** guard_remove_pte_entry(): clear a guard marker (pte_clear_not_present_full()). */
function guard_remove_pte_entry(walk: MmWalk): number {
  if (is_guard_pte_marker(walk.lo, walk.hi)) setEntry(walk.mm.machine.phys, walk.table, walk.index, 0, 0);
  return 0;
}

/** guard_remove_walk_ops. */
const guard_remove_walk_ops: MmWalkOps = mmWalkOps({
  pud_entry: guard_remove_huge_entry,
  pmd_entry: guard_remove_huge_entry,
  pte_entry: guard_remove_pte_entry,
  walk_lock: PGWALK_RDLOCK,
});

/** madvise_guard_remove(): clear the guard markers of [start, end); huge PMDs have none. */
function madvise_guard_remove(vma: VmAreaStruct, start: number, end: number): number {
  if (!is_valid_guard_vma(vma, true)) return -EINVAL;
  return walk_page_range_vma(vma, start, end, guard_remove_walk_ops);
}
