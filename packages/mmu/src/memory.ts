// The fault path and page-table teardown/copy of mm/memory.c (Linux 6.18): handle_mm_fault()
// with sanitize_fault_flags(), do_anonymous_page(), do_fault() (do_read_fault() with
// do_fault_around(), do_cow_fault(), do_shared_fault()), do_wp_page()/wp_page_copy()/
// wp_page_reuse(), do_swap_page(), zap_page_range_single(), free_pgtables() and
// copy_page_range() for fork. THP entry points live in huge_memory.ts.

import {
  addrEnd,
  alignDown,
  BUG,
  P4D_SHIFT,
  PAGE_SHIFT,
  PAGE_SIZE,
  PMD_SHIFT,
  PMD_SIZE,
  PTRS_PER_TABLE,
  PUD_SHIFT,
  tableIndex,
} from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_UFFD_WP,
  entry_pfn,
  entryOut,
  is_guard_pte_marker,
  is_migration_type,
  MAX_SWAPFILES,
  mk_pte,
  mk_swp_pte,
  PTE_MARKER_GUARD,
  pmd_leaf,
  pte_dirty,
  pte_present,
  pte_soft_dirty,
  pte_special,
  pte_swp_exclusive,
  pte_uffd_wp,
  pte_write,
  SWP_MIGRATION_READ,
  SWP_MIGRATION_WRITE,
  SWP_PTE_MARKER,
  swp_offset,
  swp_type,
} from './arch.ts';
import {
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  VM_FAULT_FALLBACK,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
} from './fault.ts';
import { filemap_fault, mm_counter_file } from './filemap.ts';
import {
  copy_huge_pmd,
  do_huge_pmd_anonymous_page,
  do_huge_pmd_wp_page,
  split_huge_pmd,
  thp_vma_allowable,
  zap_huge_pmd,
} from './huge_memory.ts';
import { migration_entry_wait } from './migrate.ts';
import {
  is_cow_mapping,
  MM_ANONPAGES,
  MM_SWAPENTS,
  type MmStruct,
  VM_MAYWRITE,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  type VmAreaStruct,
} from './mm.ts';
import {
  E,
  entryTable,
  pgdirShift,
  pmd_index,
  pte_index,
  ptlLock,
  ptlUnlock,
  readEntry,
  setEntry,
  tableEmpty,
} from './pgtable.ts';
import {
  PAGE_MAPPING_ANON,
  PG_anon_exclusive,
  PG_dirty,
  PG_locked,
  PG_reclaim,
  PG_swapcache,
  type PhysMem,
} from './physmem.ts';
import { free_pte, reclaim_pt_is_enabled } from './pt_reclaim.ts';
import {
  anon_vma_fork,
  anon_vma_prepare,
  folio_add_anon_rmap_pte,
  folio_add_new_anon_rmap,
  folio_dup_rmap_pte,
  folio_maybe_dma_pinned,
  folio_remove_rmap_pte,
  linear_page_index,
} from './rmap.ts';
import { shmem_get_folio } from './shmem.ts';
import { free_swap_cache, swapcache_delete } from './vmscan.ts';

/**
 * vm_normal_page(): the struct page behind a present PTE, or 0 for special mappings (the shared
 * zero page, PFN maps).
 */
export function vm_normal_page(pm: PhysMem, lo: number, hi: number): number {
  if (pte_special(lo)) return 0;
  const pfn = entry_pfn(lo, hi);
  if (pm.is_zero_pfn(pfn)) return 0;
  return pfn;
}

/** is_ksm_zero_pte(): a zero-page PTE that KSM placed (KSM marks them dirty). */
export function is_ksm_zero_pte(pm: PhysMem, lo: number, hi: number): boolean {
  return pte_present(lo) && pm.is_zero_pfn(entry_pfn(lo, hi)) && pte_dirty(lo);
}

/** handle_mm_fault(): resolve a fault at `addr` in `vma`; returns a vm_fault_t. */
export function handle_mm_fault(vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  m.counters.faults++;
  m.vmstat.pgfault++;
  mm.mmap_assert_locked();
  // sanitize_fault_flags()
  if ((flags & FAULT_FLAG_UNSHARE) !== 0) {
    if ((flags & FAULT_FLAG_WRITE) !== 0) return VM_FAULT_SIGSEGV;
    if (!is_cow_mapping(vma.vm_flags)) flags &= ~FAULT_FLAG_UNSHARE;
  } else if ((flags & FAULT_FLAG_WRITE) !== 0) {
    if ((vma.vm_flags & VM_MAYWRITE) === 0) return VM_FAULT_SIGSEGV;
    if ((vma.vm_flags & VM_WRITE) === 0 && !is_cow_mapping(vma.vm_flags)) return VM_FAULT_SIGSEGV;
  }
  // The task's mempolicy decides where new pages come from.
  m.phys.allocNid = mm.numaNode;
  return __handle_mm_fault(vma, alignDown(addr, PAGE_SIZE), flags);
}

function __handle_mm_fault(vma: VmAreaStruct, addr: number, flags: number): number {
  const mm = vma.vm_mm;
  const pm = mm.machine.phys;
  const pmdT = mm.pmd_alloc(addr);
  if (pmdT === 0) return VM_FAULT_OOM;
  const pi = pmd_index(addr);
  readEntry(pm, pmdT, pi);
  if (E.lo === 0 && E.hi === 0) {
    if (thp_vma_allowable(vma, addr)) {
      const ret = do_huge_pmd_anonymous_page(vma, addr, flags, pmdT, pi);
      if ((ret & VM_FAULT_FALLBACK) === 0) return ret;
    }
  } else if (pmd_leaf(E.lo)) {
    if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) !== 0 && (E.lo & _PAGE_RW) === 0) {
      const ret = do_huge_pmd_wp_page(vma, addr, flags, pmdT, pi);
      if ((ret & VM_FAULT_FALLBACK) === 0) return ret;
    } else {
      return 0;
    }
  }
  return handle_pte_fault(vma, addr, flags, pmdT, pi);
}

function handle_pte_fault(vma: VmAreaStruct, addr: number, flags: number, pmdT: number, pi: number): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  if (!mm.pte_alloc(pmdT, pi)) return VM_FAULT_OOM;
  readEntry(pm, pmdT, pi);
  const pteT = entryTable(E.lo, E.hi);
  const idx = pte_index(addr);
  readEntry(pm, pteT, idx);
  const lo = E.lo;
  const hi = E.hi;
  if (lo === 0 && hi === 0) {
    if (vma.vma_is_anonymous()) return do_anonymous_page(vma, addr, flags, pteT, idx);
    return do_fault(vma, addr, flags, pteT, idx);
  }
  if (!pte_present(lo)) return do_swap_page(vma, addr, flags, pteT, idx, lo, hi);
  if (m.armed('fault:before-pte-lock')) m.reach('fault:before-pte-lock', { vma, addr });
  ptlLock(pm, m.counters, pteT);
  readEntry(pm, pteT, idx);
  if (E.lo !== lo || E.hi !== hi) {
    ptlUnlock(pm, m.counters, pteT);
    return 0; // the PTE changed under us: the caller retries (spurious fault)
  }
  if ((flags & (FAULT_FLAG_WRITE | FAULT_FLAG_UNSHARE)) !== 0) {
    if (!pte_write(lo)) {
      return do_wp_page(vma, addr, flags, pteT, idx, lo, hi);
    }
    if ((flags & FAULT_FLAG_WRITE) !== 0) {
      setEntry(pm, pteT, idx, (lo | _PAGE_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_ACCESSED) >>> 0, hi);
    }
  } else {
    setEntry(pm, pteT, idx, (lo | _PAGE_ACCESSED) >>> 0, hi);
  }
  ptlUnlock(pm, m.counters, pteT);
  return 0;
}

/** do_anonymous_page(): the zero page for reads, a new zeroed exclusive page for writes. */
function do_anonymous_page(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pteT: number,
  idx: number,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  if ((flags & FAULT_FLAG_WRITE) === 0) {
    mk_pte(pm.zeroPfn, vma.protLo & ~_PAGE_RW, vma.protHi);
    ptlLock(pm, m.counters, pteT);
    setEntry(pm, pteT, idx, (entryOut.lo | _PAGE_SPECIAL) >>> 0, entryOut.hi);
    ptlUnlock(pm, m.counters, pteT);
    m.counters.faultZeroPage++;
    return 0;
  }
  if (!anon_vma_prepare(vma)) return VM_FAULT_OOM;
  const folio = pm.alloc_pages(0);
  if (folio === 0) return VM_FAULT_OOM;
  m.counters.faultAnon++;
  let lo = vma.protLo;
  if ((vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
  mk_pte(folio, lo, vma.protHi);
  ptlLock(pm, m.counters, pteT);
  folio_add_new_anon_rmap(pm, folio, vma, addr, false);
  mm.add_mm_counter(MM_ANONPAGES, 1);
  setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
  ptlUnlock(pm, m.counters, pteT);
  return 0;
}

/**
 * do_fault() (mm/memory.c, 6.18): a fault on an empty PTE of a VMA backed by an object (shmem or
 * a regular file). A read maps the object's page (do_read_fault(), after do_fault_around()); a
 * write to a private mapping maps an anonymous copy of it (do_cow_fault()), to a shared one the
 * page itself, writable (do_shared_fault()).
 */
function do_fault(vma: VmAreaStruct, addr: number, flags: number, pteT: number, idx: number): number {
  if ((flags & FAULT_FLAG_WRITE) === 0) {
    // do_read_fault(): map what the object already has around the address first.
    if (vma.vm_mm.machine.fault_around_bytes > PAGE_SIZE && do_fault_around(vma, addr, pteT)) return 0;
    return finish_fault(vma, addr, flags, __do_fault(vma, addr), pteT, idx);
  }
  if ((vma.vm_flags & VM_SHARED) === 0) return do_cow_fault(vma, addr, flags, pteT, idx);
  return finish_fault(vma, addr, flags, __do_fault(vma, addr), pteT, idx);
}

/** A page __do_fault() could not give: past the end of the file (SIGBUS). */
const FAULT_PAST_EOF = -1;

/**
 * __do_fault(): vma->vm_ops->fault, the object's page at `addr` (shmem_fault(): allocated on first
 * use; filemap_fault(): read into the page cache on a miss). The PFN, 0 when no memory is left, or
 * FAULT_PAST_EOF.
 */
function __do_fault(vma: VmAreaStruct, addr: number): number {
  const index = linear_page_index(vma, addr);
  if (vma.shmem !== null) return shmem_get_folio(vma, index);
  const file = vma.vm_file!;
  if (index >= file.nrPages) return FAULT_PAST_EOF;
  return filemap_fault(vma.vm_mm.machine.phys, file, index, vma.vm_flags);
}

/**
 * do_fault_around() with filemap_map_pages() (mm/memory.c, mm/filemap.c, 6.18): map every page
 * the object already holds in the aligned window of fault_around_bytes around `addr` (clamped to
 * the VMA and the PTE table) whose PTE is none, read-only in a private mapping (vm_page_prot).
 * True when that mapped `addr` itself (VM_FAULT_NOPAGE).
 */
function do_fault_around(vma: VmAreaStruct, addr: number, pteT: number): boolean {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const cache = vma.shmem !== null ? vma.shmem.pages : vma.vm_file!.pages;
  const window = m.fault_around_bytes / PAGE_SIZE;
  const pteOff = pte_index(addr);
  const vmaOff = (addr - vma.vm_start) / PAGE_SIZE;
  const from = Math.max(alignDown(pteOff, window), pteOff - Math.min(pteOff, vmaOff));
  const to = Math.min(
    from + window,
    PTRS_PER_TABLE,
    pteOff + (vma.vm_end - vma.vm_start) / PAGE_SIZE - vmaOff,
  );
  let mapped = false;
  ptlLock(pm, m.counters, pteT);
  for (let i = from; i < to; i++) {
    const a = addr + (i - pteOff) * PAGE_SIZE;
    const pfn = cache.get(linear_page_index(vma, a));
    // next_uptodate_folio(): a folio marked PG_readahead (PG_reclaim) is left to the fault path
    if (pfn === undefined || (pm.flags[pfn] & PG_reclaim) !== 0) continue;
    readEntry(pm, pteT, i);
    if (E.lo !== 0 || E.hi !== 0) continue;
    mk_pte(pfn, vma.protLo, vma.protHi);
    pm.get_page(pfn);
    pm.mapcount[pfn]++;
    mm.add_mm_counter(mm_counter_file(pm, pfn), 1);
    setEntry(pm, pteT, i, entryOut.lo, entryOut.hi);
    if (i === pteOff) mapped = true;
  }
  ptlUnlock(pm, m.counters, pteT);
  return mapped;
}

/**
 * finish_fault() with set_pte_range() (mm/memory.c, 6.18): map `page`, the object's page
 * (__do_fault()) or, for a write to a private mapping, its anonymous copy (vmf->cow_page,
 * do_cow_fault()). Only a write fault maps it dirty (pte_mkdirty()), writable where the VMA is
 * (maybe_mkwrite()); a page only read stays clean, and reclaim drops a clean shmem page from its
 * object (madvise_pageout_shmem()). The copy becomes a new exclusive anonymous folio
 * (folio_add_new_anon_rmap(), MM_ANONPAGES); the object's page gains a file mapping
 * (folio_add_file_rmap_ptes(), mm_counter_file()).
 */
function finish_fault(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  page: number,
  pteT: number,
  idx: number,
): number {
  if (page === 0) return VM_FAULT_OOM;
  if (page === FAULT_PAST_EOF) return VM_FAULT_SIGBUS;
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  const is_cow = write && (vma.vm_flags & VM_SHARED) === 0;
  let lo = vma.protLo;
  if (write) {
    lo |= _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
    if ((vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW;
  }
  mk_pte(page, lo, vma.protHi);
  ptlLock(pm, m.counters, pteT);
  if (is_cow) {
    folio_add_new_anon_rmap(pm, page, vma, addr, false);
    mm.add_mm_counter(MM_ANONPAGES, 1);
  } else {
    pm.get_page(page);
    pm.mapcount[page]++;
    mm.add_mm_counter(mm_counter_file(pm, page), 1);
  }
  setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
  ptlUnlock(pm, m.counters, pteT);
  return 0;
}

/**
 * do_cow_fault() (mm/memory.c, 6.18): a write to an empty PTE of a private file mapping maps an
 * anonymous copy of the file's page (read into the page cache first, which keeps it unmapped):
 * __do_fault(), copy_mc_user_highpage(), finish_fault().
 */
function do_cow_fault(vma: VmAreaStruct, addr: number, flags: number, pteT: number, idx: number): number {
  const pm = vma.vm_mm.machine.phys;
  if (!anon_vma_prepare(vma)) return VM_FAULT_OOM;
  const cow = pm.alloc_pages(0);
  if (cow === 0) return VM_FAULT_OOM;
  const page = __do_fault(vma, addr);
  if (page === 0 || page === FAULT_PAST_EOF) {
    pm.put_page(cow);
    return page === 0 ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
  }
  pm.copy_page(cow, page); // copy_mc_user_highpage()
  return finish_fault(vma, addr, flags, cow, pteT, idx);
}

/**
 * wp_can_reuse_anon_folio(): may a write to a read-only mapped anon folio reuse it in place
 * (it is not shared with anyone)? KSM folios never are.
 */
function wp_can_reuse_anon_folio(pm: PhysMem, folio: number, vma: VmAreaStruct): boolean {
  // before ~6.15 (KernelProfile.mm.reuseLargeAnonFolio) a large folio is never reused
  if (pm.folio_test_large(folio))
    return vma.vm_mm.machine.kernel.mm.reuseLargeAnonFolio && wp_can_reuse_large_anon_folio(pm, folio, vma);
  if (pm.PageKsm(folio) || pm.refcount[folio] > 3) return false;
  const swapcache = (pm.flags[folio] & PG_swapcache) !== 0 ? 1 : 0;
  if (pm.refcount[folio] > 1 + swapcache) return false;
  if ((pm.flags[folio] & PG_locked) !== 0) return false;
  if (swapcache === 1) swapcache_delete(vma.vm_mm.machine, folio);
  if (pm.PageKsm(folio) || pm.refcount[folio] !== 1) return false;
  // folio_move_anon_rmap(): the folio now belongs to this VMA's anon_vma alone.
  pm.setMapping(folio, vma.anon_vma!.id, PAGE_MAPPING_ANON);
  return true;
}

/**
 * __wp_can_reuse_large_anon_folio() (mm/memory.c, 6.18): a PTE-mapped large folio is reused when
 * its CONFIG_MM_ID "maybe mapped shared" bit is clear (one mm-id slot, this mm's, holds every
 * mapping) and every reference is a mapping, unless only one page of it is still mapped (then the
 * copy lets the rest of it go). The swap cache never holds a large folio here (reclaim splits
 * them first).
 */
function wp_can_reuse_large_anon_folio(pm: PhysMem, folio: number, vma: VmAreaStruct): boolean {
  const mapcount = pm.folio_large_mapcount(folio);
  if (mapcount <= 1) return false;
  if (pm.folio_mm_ids_shared(folio)) return false;
  if ((pm.flags[folio] & PG_swapcache) !== 0) return false;
  if (mapcount !== pm.refcount[folio]) return false;
  if (pm.folio_mm_id(folio, 0) !== vma.vm_mm.mm_id && pm.folio_mm_id(folio, 1) !== vma.vm_mm.mm_id)
    BUG(`wp reuse: folio ${folio} is not mapped by this mm`, () => pm.dumpPage(folio));
  return true;
}

/**
 * do_wp_page(): a write (or unshare) fault on a read-only present PTE. Exclusive anon pages are
 * reused; everything else — KSM pages always — is copied (wp_page_copy()).
 * Called with the PTL held; releases it.
 */
function do_wp_page(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pteT: number,
  idx: number,
  lo: number,
  hi: number,
): number {
  const m = vma.vm_mm.machine;
  const pm = m.phys;
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  if (!unshare && pte_uffd_wp(lo) && (vma.vm_flags & VM_UFFD_WP) !== 0) {
    // handle_userfault() without a userfaultfd reader: the simulator has none -> SIGBUS,
    // as for a fault without FAULT_FLAG_ALLOW_RETRY.
    ptlUnlock(pm, m.counters, pteT);
    return VM_FAULT_SIGBUS;
  }
  const page = vm_normal_page(pm, lo, hi);
  const folio = page !== 0 ? pm.folio(page) : 0;
  if (
    folio !== 0 &&
    pm.PageAnon(folio) &&
    (pm.PageAnonExclusive(page) || wp_can_reuse_anon_folio(pm, folio, vma))
  ) {
    pm.flags[page] |= PG_anon_exclusive;
    if (unshare) {
      ptlUnlock(pm, m.counters, pteT);
      return 0;
    }
    // wp_page_reuse()
    m.counters.faultWpReuse++;
    let nlo = lo | _PAGE_ACCESSED | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
    if ((vma.vm_flags & VM_WRITE) !== 0) nlo |= _PAGE_RW;
    setEntry(pm, pteT, idx, nlo >>> 0, hi);
    ptlUnlock(pm, m.counters, pteT);
    return 0;
  }
  if (folio !== 0) pm.get_page(folio);
  ptlUnlock(pm, m.counters, pteT);
  if (folio !== 0 && pm.PageKsm(folio)) {
    m.counters.cowKsm++;
    m.vmstat.cow_ksm++;
  }
  return wp_page_copy(vma, addr, flags, pteT, idx, lo, hi, page);
}

/** wp_page_copy(): map a private copy (or, for the zero page, a zeroed page) in place. */
function wp_page_copy(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pteT: number,
  idx: number,
  lo: number,
  hi: number,
  old: number,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const unshare = (flags & FAULT_FLAG_UNSHARE) !== 0;
  m.counters.faultWpCopy++;
  if (unshare) m.counters.faultUnshare++;
  if (!anon_vma_prepare(vma)) {
    if (old !== 0) pm.put_page(old);
    return VM_FAULT_OOM;
  }
  const nf = pm.alloc_pages(0);
  if (nf === 0) {
    if (old !== 0) pm.put_page(old);
    return VM_FAULT_OOM;
  }
  if (old !== 0) pm.copy_page(nf, old);
  ptlLock(pm, m.counters, pteT);
  readEntry(pm, pteT, idx);
  if (E.lo !== lo || E.hi !== hi) {
    // Someone changed the PTE meanwhile: back out and let the caller retry.
    ptlUnlock(pm, m.counters, pteT);
    pm.put_page(nf);
    if (old !== 0) pm.put_page(old);
    return 0;
  }
  if (old === 0) {
    mm.add_mm_counter(MM_ANONPAGES, 1);
    if (pte_dirty(lo) && pm.is_zero_pfn(entry_pfn(lo, hi))) m.hooks.ksm_might_unmap_zero_page(mm, lo);
  } else if (!pm.PageAnon(old)) {
    // A page-cache page of a private file mapping gives way to its anonymous copy.
    mm.add_mm_counter(mm_counter_file(pm, old), -1);
    mm.add_mm_counter(MM_ANONPAGES, 1);
  }
  let nlo = vma.protLo | _PAGE_ACCESSED;
  if (unshare) {
    nlo &= ~_PAGE_RW;
    if (pte_soft_dirty(lo)) nlo |= _PAGE_SOFT_DIRTY;
    if (pte_uffd_wp(lo)) nlo |= _PAGE_UFFD_WP;
  } else {
    nlo |= _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
    if ((vma.vm_flags & VM_WRITE) !== 0) nlo |= _PAGE_RW;
  }
  mk_pte(nf, nlo, vma.protHi);
  m.counters.tlbFlushes++; // ptep_clear_flush()
  folio_add_new_anon_rmap(pm, nf, vma, addr, false);
  setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
  if (old !== 0) folio_remove_rmap_pte(pm, old, vma.vm_mm);
  ptlUnlock(pm, m.counters, pteT);
  if (old !== 0) {
    free_swap_cache(m, pm.folio(old));
    pm.put_page(old); // the mapping's reference
    pm.put_page(old); // do_wp_page()'s reference
  }
  return 0;
}

/** handle_pte_marker() (mm/memory.c, 6.18): touching a guard region is always fatal. */
function handle_pte_marker(marker: number): number {
  return (marker & PTE_MARKER_GUARD) !== 0 ? VM_FAULT_SIGSEGV : VM_FAULT_SIGBUS;
}

/**
 * do_swap_page(): a fault on a non-present PTE: swap-in, or wait for a migration to finish.
 * Exported for khugepaged's __collapse_huge_page_swapin(), which calls it directly.
 */
export function do_swap_page(
  vma: VmAreaStruct,
  addr: number,
  flags: number,
  pteT: number,
  idx: number,
  lo: number,
  hi: number,
): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  const type = swp_type(lo, hi);
  const off = swp_offset(lo, hi);
  if (is_migration_type(type)) {
    m.counters.faultMigrationWait++;
    migration_entry_wait(m, off);
    return 0;
  }
  if (type === SWP_PTE_MARKER) return handle_pte_marker(off);
  if (type >= MAX_SWAPFILES) return VM_FAULT_SIGBUS; // hwpoison, device entries
  m.counters.faultSwapIn++;
  if (!anon_vma_prepare(vma)) return VM_FAULT_OOM;
  let folio = m.swap.cache.get(off) ?? 0;
  let exclusive = pte_swp_exclusive(lo);
  if (folio === 0) {
    // swap_read_folio() into a new folio; the swap cache keeps the allocation's reference.
    folio = pm.alloc_pages(0);
    if (folio === 0) return VM_FAULT_OOM;
    pm.setFrameContent(folio, m.swap.read(off));
    m.vmstat.pswpin++;
    pm.flags[folio] |= PG_swapcache;
    pm.private[folio] = off;
    m.swap.cache.set(off, folio);
    pm.setMapping(folio, vma.anon_vma!.id, PAGE_MAPPING_ANON);
    pm.index[folio] = linear_page_index(vma, addr);
  }
  pm.get_page(folio); // the mapping's reference
  if (pm.PageKsm(folio)) exclusive = false;
  else {
    // ksm_might_need_to_copy(): a swap-cache folio of another anon_vma tree (e.g. a KSM page
    // swapped out and read back by one of its sharers) must be copied for this VMA.
    const av = m.anonVmas.get(pm.mappingHandle(folio));
    if (
      av === undefined ||
      av.root !== vma.anon_vma!.root ||
      pm.index[folio] !== linear_page_index(vma, addr)
    ) {
      const copy = pm.alloc_pages(0);
      if (copy === 0) {
        pm.put_page(folio);
        return VM_FAULT_OOM;
      }
      pm.copy_page(copy, folio);
      m.vmstat.ksm_swpin_copy++;
      pm.put_page(folio);
      folio = copy;
      pm.setMapping(folio, vma.anon_vma!.id, PAGE_MAPPING_ANON);
      pm.index[folio] = linear_page_index(vma, addr);
      exclusive = true;
    }
  }
  ptlLock(pm, m.counters, pteT);
  let nlo = vma.protLo | _PAGE_ACCESSED;
  if ((lo & 0x2) !== 0) nlo |= _PAGE_SOFT_DIRTY; // _PAGE_SWP_SOFT_DIRTY
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (exclusive && write && (vma.vm_flags & VM_WRITE) !== 0) nlo |= _PAGE_RW | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
  mk_pte(folio, nlo, vma.protHi);
  folio_add_anon_rmap_pte(pm, folio, exclusive, mm);
  setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
  mm.add_mm_counter(MM_ANONPAGES, 1);
  mm.add_mm_counter(MM_SWAPENTS, -1);
  ptlUnlock(pm, m.counters, pteT);
  m.swap.free(off);
  // should_try_to_free_swap(): drop the swap-cache copy once no swap PTE refers to it.
  const cached = m.swap.cache.get(off);
  if (cached !== undefined && m.swap.swapCount(off) === 0) swapcache_delete(m, cached);
  if (!pte_write(entryOut.lo) && write) {
    // A write fault on a page we could not map writable: do the COW now.
    return handle_mm_fault(vma, addr, flags);
  }
  return 0;
}

// ---- teardown -------------------------------------------------------------------------------

/** zap_details.zap_flags: unmap_vmas() (munmap, exit) drops PTE markers, other zaps keep them. */
export const ZAP_FLAG_DROP_MARKER = 1;

/**
 * Unmap one present or swap PTE (zap_present_ptes()/zap_nonpresent_ptes()). PTL held. Returns
 * true when the entry was left in place (any_skipped: a guard marker an ordinary zap keeps).
 */
function zap_pte(mm: MmStruct, pteT: number, idx: number, lo: number, hi: number, zapFlags: number): boolean {
  const m = mm.machine;
  const pm = m.phys;
  // zap_nonpresent_ptes(): ordinary zapping leaves guard markers in place.
  if ((zapFlags & ZAP_FLAG_DROP_MARKER) === 0 && is_guard_pte_marker(lo, hi)) return true;
  setEntry(pm, pteT, idx, 0, 0);
  if (pte_present(lo)) {
    const page = vm_normal_page(pm, lo, hi);
    if (page === 0) {
      if (is_ksm_zero_pte(pm, lo, hi)) m.hooks.ksm_might_unmap_zero_page(mm, lo);
      return false;
    }
    m.counters.tlbFlushes++;
    folio_remove_rmap_pte(pm, page, mm);
    if (pm.PageAnon(page)) mm.add_mm_counter(MM_ANONPAGES, -1);
    else {
      // zap_present_folio_ptes(): a file folio keeps the dirty bit of the PTE (folio_mark_dirty()).
      if (pte_dirty(lo)) pm.flags[pm.folio(page)] |= PG_dirty;
      mm.add_mm_counter(mm_counter_file(pm, page), -1);
    }
    free_swap_cache(m, pm.folio(page)); // free_pages_and_swap_cache() of the TLB batch
    pm.put_page(page);
    return false;
  }
  const type = swp_type(lo, hi);
  const off = swp_offset(lo, hi);
  if (type < MAX_SWAPFILES) {
    mm.add_mm_counter(MM_SWAPENTS, -1);
    m.swap.free(off);
    const f = m.swap.cache.get(off);
    if (f !== undefined && m.swap.swapCount(off) === 0 && !pm.folio_mapped(f)) swapcache_delete(m, f);
  } else if (is_migration_type(type)) {
    // The page under migration loses this mapping; remove_migration_ptes() will skip it.
    mm.add_mm_counter(MM_ANONPAGES, -1);
  }
  return false;
}

/**
 * zap_page_range_single(): unmap every page in [start, end) of the VMA. `zapFlags`
 * ZAP_FLAG_DROP_MARKER (unmap_vmas()) also clears PTE markers. Page tables stay, except with
 * `reclaim_pt` (zap_details.reclaim_pt, MADV_DONTNEED): a PTE table the range covers whole and
 * leaves empty is freed (mm/pt_reclaim.c).
 */
export function zap_page_range(
  vma: VmAreaStruct,
  start: number,
  end: number,
  zapFlags = 0,
  reclaim_pt = false,
): void {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  let addr = start;
  while (addr < end) {
    const next = addrEnd(addr, end, PMD_SIZE);
    const pmdT = mm.find_pmd_table(addr);
    if (pmdT === 0) {
      addr = next;
      continue;
    }
    const pi = pmd_index(addr);
    readEntry(pm, pmdT, pi);
    if (E.lo === 0 && E.hi === 0) {
      addr = next;
      continue;
    }
    if (pmd_leaf(E.lo)) {
      if (addr % PMD_SIZE === 0 && next - addr === PMD_SIZE) {
        zap_huge_pmd(vma, addr, pmdT, pi);
        addr = next;
        continue;
      }
      split_huge_pmd(vma, addr, pmdT, pi);
      readEntry(pm, pmdT, pi);
    }
    // zap_pte_range()
    const pteT = entryTable(E.lo, E.hi);
    let can_reclaim_pt = reclaim_pt_is_enabled(addr, next, reclaim_pt);
    ptlLock(pm, m.counters, pteT);
    for (let a = addr; a < next; a += PAGE_SIZE) {
      const idx = pte_index(a);
      readEntry(pm, pteT, idx);
      if ((E.lo !== 0 || E.hi !== 0) && zap_pte(mm, pteT, idx, E.lo, E.hi, zapFlags)) can_reclaim_pt = false;
    }
    ptlUnlock(pm, m.counters, pteT);
    if (can_reclaim_pt) free_pte(mm, pmdT, pi, pteT);
    addr = next;
  }
}

/**
 * free_pgtables() for [start, end): free page-table pages that map nothing any more and whose
 * span no other VMA overlaps (the kernel's floor/ceiling rule).
 */
export function free_pgtables(mm: MmStruct, start: number, end: number): void {
  const pm = mm.machine.phys;
  const overlaps = (lo: number, hi: number): boolean => mm.find_vma_intersection(lo, hi) !== null;
  freeLevel(mm, pm, mm.pgd, mm.levels === 5 ? 4 : 3, start, end, overlaps);
}

const LEVEL_SHIFT = [PAGE_SHIFT, PMD_SHIFT, PUD_SHIFT, P4D_SHIFT, pgdirShift(5)];
const LEVEL_SIZE = LEVEL_SHIFT.map((shift) => 2 ** shift);

/** Free empty child tables of `table` (a level-`lvl` table: 1 = PMD ... 4 = PGD in 5-level). */
function freeLevel(
  mm: MmStruct,
  pm: PhysMem,
  table: number,
  lvl: number,
  start: number,
  end: number,
  overlaps: (a: number, b: number) => boolean,
): void {
  const size = LEVEL_SIZE[lvl];
  let addr = start;
  while (addr < end) {
    const next = addrEnd(addr, end, size);
    const idx = tableIndex(addr, LEVEL_SHIFT[lvl]);
    readEntry(pm, table, idx);
    if ((E.lo !== 0 || E.hi !== 0) && !(lvl <= 2 && pmd_leaf(E.lo))) {
      const child = entryTable(E.lo, E.hi);
      if (lvl > 1) freeLevel(mm, pm, child, lvl - 1, addr, next, overlaps);
      const lo = alignDown(addr, size);
      if (tableEmpty(pm, child) && !overlaps(lo, lo + size)) {
        setEntry(pm, table, idx, 0, 0);
        pm.freePageTable(child);
        mm.nrPtes--;
        mm.pmdCacheDrop();
      }
    }
    addr = next;
  }
}

/** Free every page table of an exiting mm (free_pgd_range over the whole space). */
export function free_all_pgtables(mm: MmStruct): void {
  const pm = mm.machine.phys;
  freeLevel(mm, pm, mm.pgd, mm.levels === 5 ? 4 : 3, 0, mm.levels === 5 ? 2 ** 57 : 2 ** 48, () => false);
  pm.freePageTable(mm.pgd);
  mm.nrPtes--;
  mm.pgd = 0;
  mm.pmdCacheDrop();
}

// ---- fork ---------------------------------------------------------------------------------

/**
 * copy_page_range(): share the parent's anonymous pages with the child copy-on-write. Returns
 * 0 or -ENOMEM. Pinned exclusive pages are copied at once (copy_present_page()).
 */
export function copy_page_range(dst: VmAreaStruct, src: VmAreaStruct): number {
  // vma_needs_copy(): without an anon_vma the child's faults fill the PTEs in (shared and private
  // file mappings from their object); a shared mapping has one only where guard markers were
  // installed, a private file mapping once a write put an anonymous copy in it.
  if (src.anon_vma === null) return 0;
  anon_vma_fork(dst, src);
  const smm = src.vm_mm;
  const dmm = dst.vm_mm;
  const m = smm.machine;
  const pm = m.phys;
  const cow = is_cow_mapping(src.vm_flags);
  let addr = src.vm_start;
  const end = src.vm_end;
  while (addr < end) {
    const next = addrEnd(addr, end, PMD_SIZE);
    const spmdT = smm.find_pmd_table(addr);
    if (spmdT === 0) {
      addr = next;
      continue;
    }
    const pi = pmd_index(addr);
    readEntry(pm, spmdT, pi);
    if (E.lo === 0 && E.hi === 0) {
      addr = next;
      continue;
    }
    const huge = pmd_leaf(E.lo);
    const dpmdT = dmm.pmd_alloc(addr);
    if (dpmdT === 0) return -12;
    if (huge) {
      const r = copy_huge_pmd(dst, src, addr, dpmdT, spmdT, pi);
      if (r === 0) {
        addr = next;
        continue;
      }
      if (r < 0) return r;
      // split: copy the PTE table below
    }
    readEntry(pm, spmdT, pi);
    const spteT = entryTable(E.lo, E.hi);
    if (!dmm.pte_alloc(dpmdT, pi)) return -12;
    readEntry(pm, dpmdT, pi);
    const dpteT = entryTable(E.lo, E.hi);
    for (let a = addr; a < next; a += PAGE_SIZE) {
      const idx = pte_index(a);
      readEntry(pm, spteT, idx);
      let lo = E.lo;
      let hi = E.hi;
      if (lo === 0 && hi === 0) continue;
      if (!pte_present(lo)) {
        // copy_nonpresent_pte()
        const type = swp_type(lo, hi);
        const off = swp_offset(lo, hi);
        if (type < MAX_SWAPFILES) {
          m.swap.duplicate(off);
          dmm.add_mm_counter(MM_SWAPENTS, 1);
          if (pte_swp_exclusive(lo)) {
            lo = (lo & ~_PAGE_SWP_EXCLUSIVE) >>> 0;
            setEntry(pm, spteT, idx, lo, hi);
          }
        } else if (is_migration_type(type)) {
          if (type === SWP_MIGRATION_WRITE || type === SWP_MIGRATION_READ + 1) {
            mk_swp_pte(SWP_MIGRATION_READ, off, lo & 0x1ff);
            lo = entryOut.lo;
            hi = entryOut.hi;
            setEntry(pm, spteT, idx, lo, hi);
          }
          dmm.add_mm_counter(MM_ANONPAGES, 1);
        }
        setEntry(pm, dpteT, idx, lo, hi);
        continue;
      }
      const page = vm_normal_page(pm, lo, hi);
      if (page !== 0) {
        const folio = pm.folio(page);
        if (pm.PageAnonExclusive(page) && folio_maybe_dma_pinned(pm, folio)) {
          // copy_present_page(): the child gets its own copy right away.
          if (!anon_vma_prepare(dst)) return -12;
          const nf = pm.alloc_pages(0);
          if (nf === 0) return -12;
          pm.copy_page(nf, page);
          folio_add_new_anon_rmap(pm, nf, dst, a, false);
          dmm.add_mm_counter(MM_ANONPAGES, 1);
          // copy_present_page(): vm_page_prot, made dirty and (with VM_WRITE) writable.
          let clo = dst.protLo | _PAGE_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_ACCESSED;
          if ((dst.vm_flags & VM_WRITE) !== 0) clo |= _PAGE_RW;
          mk_pte(nf, clo, dst.protHi);
          setEntry(pm, dpteT, idx, entryOut.lo, entryOut.hi);
          continue;
        }
        pm.get_page(page);
        folio_dup_rmap_pte(pm, page, dmm);
        if (pm.PageAnon(page)) {
          pm.flags[page] &= ~PG_anon_exclusive; // folio_try_dup_anon_rmap_pte()
          dmm.add_mm_counter(MM_ANONPAGES, 1);
        } else dmm.add_mm_counter(mm_counter_file(pm, page), 1); // folio_dup_file_rmap_pte()
      }
      if (cow && pte_write(lo)) {
        lo = (lo & ~_PAGE_RW) >>> 0; // ptep_set_wrprotect() in the parent, too
        setEntry(pm, spteT, idx, lo, hi);
        m.counters.tlbFlushes++;
      }
      // The child's PTE starts old (pte_mkold()), and clean in a shared mapping (pte_mkclean()).
      const clear = cow ? _PAGE_ACCESSED : _PAGE_ACCESSED | _PAGE_DIRTY;
      setEntry(pm, dpteT, idx, (lo & ~clear) >>> 0, hi);
    }
    addr = next;
  }
  return 0;
}
