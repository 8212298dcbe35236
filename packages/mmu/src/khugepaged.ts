// mm/khugepaged.c (Linux 6.18): MADV_COLLAPSE and the khugepaged daemon.
// madvise_collapse() -> hpage_collapse_scan_pmd() -> collapse_huge_page() with
// __collapse_huge_page_swapin/_isolate/_copy, for a non-khugepaged collapse (cc->is_khugepaged =
// false: no max_ptes_none/_swap/_shared limits, no young check); and khugepaged as a stepping
// machine (khugepaged_do_scan() over the mm_slots that khugepaged_enter_vma()/khugepaged_fork()
// registered, khugepaged_scan_mm_slot(), the same scan and collapse with cc->is_khugepaged), its
// state in Machine.khugepaged. The thread's sleeps (scan_sleep_millisecs, alloc_sleep_millisecs)
// are the caller's: one khugepaged_do_scan() is one wake-up.
// 6.18 no longer requires a writable PTE (SCAN_PAGE_RO is gone), which the live kernel confirms:
// a range holding only zero-page PTEs collapses as long as the VMA has an anon_vma. Older kernels
// (KernelProfile.mm.collapseNeedsWritable; Debian's 6.1.192 and 6.12.95 confirm) fail such a
// range, a read-only one and one of KSM pages with SCAN_PAGE_RO (EINVAL, the next range is tried).
// Shared anonymous (shmem) ranges go through a reduced collapse_file(): see collapse_shmem_pmd().

import {
  EAGAIN,
  EBUSY,
  EINVAL,
  ENOMEM,
  HPAGE_PMD_NR,
  HPAGE_PMD_ORDER,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  entry_pfn,
  entryOut,
  is_swap_pte,
  mk_pte,
  pmd_bad,
  pmd_present,
  pmd_trans_huge,
  pte_none,
  pte_present,
  pte_swp_uffd_wp,
  pte_uffd_wp,
  pte_write,
  pte_young,
} from './arch.ts';
import { VM_FAULT_ERROR } from './fault.ts';
import { folio_maybe_mapped_shared, pgtable_trans_huge_deposit } from './huge_memory.ts';
import type { Machine } from './machine.ts';
import { do_swap_page, vm_normal_page, zap_page_range } from './memory.ts';
import {
  MM_ANONPAGES,
  MM_SHMEMPAGES,
  MMF_VM_HUGEPAGE,
  type MmStruct,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_NOHUGEPAGE,
  VM_SPECIAL,
  VM_UFFD_MISSING,
  VM_UFFD_WP,
  VM_WRITE,
  type VmAreaStruct,
} from './mm.ts';
import {
  E,
  entryTable,
  pmd_index,
  populateEntry,
  pte_index,
  ptlLock,
  ptlUnlock,
  readEntry,
  setEntry,
} from './pgtable.ts';
import { PG_locked, PG_referenced, PG_swapcache } from './physmem.ts';
import { folio_add_new_anon_rmap, folio_remove_rmap_pte, linear_page_index } from './rmap.ts';
import { free_swap_cache } from './vmscan.ts';

/** enum scan_result (mm/khugepaged.c, 6.18; SCAN_PAGE_RO is gone since 6.18). */
export const SCAN_FAIL = 0;
export const SCAN_SUCCEED = 1;
export const SCAN_PMD_NULL = 2;
export const SCAN_PMD_NONE = 3;
export const SCAN_PMD_MAPPED = 4;
export const SCAN_EXCEED_NONE_PTE = 5;
export const SCAN_EXCEED_SWAP_PTE = 6;
export const SCAN_EXCEED_SHARED_PTE = 7;
export const SCAN_PTE_NON_PRESENT = 8;
export const SCAN_PTE_UFFD_WP = 9;
export const SCAN_PTE_MAPPED_HUGEPAGE = 10;
export const SCAN_LACK_REFERENCED_PAGE = 11;
export const SCAN_PAGE_NULL = 12;
export const SCAN_SCAN_ABORT = 13;
export const SCAN_PAGE_COUNT = 14;
export const SCAN_PAGE_LRU = 15;
export const SCAN_PAGE_LOCK = 16;
export const SCAN_PAGE_ANON = 17;
export const SCAN_PAGE_COMPOUND = 18;
export const SCAN_ANY_PROCESS = 19;
export const SCAN_VMA_NULL = 20;
export const SCAN_VMA_CHECK = 21;
export const SCAN_ADDRESS_RANGE = 22;
export const SCAN_DEL_PAGE_LRU = 23;
export const SCAN_ALLOC_HUGE_PAGE_FAIL = 24;
export const SCAN_CGROUP_CHARGE_FAIL = 25;
export const SCAN_TRUNCATED = 26;
export const SCAN_PAGE_HAS_PRIVATE = 27;
export const SCAN_STORE_FAILED = 28;
export const SCAN_COPY_MC = 29;
export const SCAN_PAGE_FILLED = 30;
/** No writable PTE in the range (before 6.18; numbered apart from 6.18's enum here). */
export const SCAN_PAGE_RO = 31;

/** userfaultfd_armed(): __VM_UFFD_FLAGS (MINOR is not simulated). */
function userfaultfd_armed(vma: VmAreaStruct): boolean {
  return (vma.vm_flags & (VM_UFFD_MISSING | VM_UFFD_WP)) !== 0;
}

/** thp_vma_suitable_order() for PMD order: the aligned PMD around addr fits in the VMA (and, for
 * shmem, the file offset is PMD-aligned with the address). */
function thp_vma_suitable_pmd(vma: VmAreaStruct, addr: number): boolean {
  if (!vma.vma_is_anonymous()) {
    const off = (vma.vm_pgoff - vma.vm_start / PAGE_SIZE) % HPAGE_PMD_NR;
    if (off !== 0) return false;
  }
  const haddr = addr - (addr % PMD_SIZE);
  return haddr >= vma.vm_start && haddr + PMD_SIZE <= vma.vm_end;
}

/** struct collapse_control, with hpage_collapse_scan_pmd()'s `*mmap_locked` out-parameter. */
interface CollapseControl {
  readonly is_khugepaged: boolean;
  /** False once the scan went on to collapse_huge_page(), which drops the mmap_lock. */
  mmap_locked: boolean;
}
const khugepaged_collapse_control: CollapseControl = { is_khugepaged: true, mmap_locked: true };
const madvise_collapse_control: CollapseControl = { is_khugepaged: false, mmap_locked: true };

/**
 * thp_vma_allowable_order(vma, vm_flags, type, PMD_ORDER) outside a page fault, for
 * TVA_KHUGEPAGED (`khugepaged`) or TVA_FORCED_COLLAPSE. Both refuse VM_NOHUGEPAGE,
 * VM_NO_KHUGEPAGED (VM_SPECIAL, hugetlb), a VMA without room for an aligned PMD and an anonymous
 * VMA without its anon_vma. khugepaged also obeys the sysfs `enabled` setting (VM_HUGEPAGE needed
 * under "madvise") and, for shmem, shmem_enabled, which the simulator holds at the kernel default
 * "never". A forced collapse takes shmem: shmem_allowable_huge_orders() with shmem_huge_force
 * returns the PMD order unless shmem_enabled is "deny" (not simulated).
 */
function thp_vma_allowable_order(vma: VmAreaStruct, vm_flags: number, khugepaged: boolean): boolean {
  if ((vm_flags & VM_NOHUGEPAGE) !== 0) return false;
  if ((vm_flags & (VM_SPECIAL | VM_HUGETLB)) !== 0) return false;
  // Page-cache THPs of regular files (CONFIG_READ_ONLY_THP_FOR_FS) are not simulated.
  if (vma.vm_file !== null) return false;
  if (khugepaged) {
    const enabled = vma.vm_mm.machine.thp.enabled;
    if (enabled === 'never' || !vma.vma_is_anonymous()) return false;
    if (enabled === 'madvise' && (vm_flags & VM_HUGEPAGE) === 0) return false;
  }
  if (!thp_vma_suitable_pmd(vma, vma.vm_end - PMD_SIZE)) return false;
  return !vma.vma_is_anonymous() || vma.anon_vma !== null;
}

/** thp_vma_allowable_order(vma, vma->vm_flags, TVA_FORCED_COLLAPSE, PMD_ORDER). */
export function thp_vma_allowable_forced_collapse(vma: VmAreaStruct): boolean {
  return thp_vma_allowable_order(vma, vma.vm_flags, false);
}

/** hugepage_vma_revalidate() after the mmap_lock was dropped. */
function hugepage_vma_revalidate(
  mm: MmStruct,
  address: number,
  expect_anon: boolean,
  cc: CollapseControl,
): number {
  if (mm.mm_users === 0) return SCAN_ANY_PROCESS;
  const vma = mm.find_vma(address);
  if (vma === null) return SCAN_VMA_NULL;
  if (!thp_vma_suitable_pmd(vma, address)) return SCAN_ADDRESS_RANGE;
  if (!thp_vma_allowable_order(vma, vma.vm_flags, cc.is_khugepaged)) return SCAN_VMA_CHECK;
  if (expect_anon && (vma.anon_vma === null || !vma.vma_is_anonymous())) return SCAN_PAGE_ANON;
  revalidated = vma;
  return SCAN_SUCCEED;
}

/** The VMA hugepage_vma_revalidate() found (its `*vmap`). */
let revalidated: VmAreaStruct | null = null;

/** Output of find_pmd_or_thp_or_none(): the PMD table and index (the kernel's `pmd_t *`). */
const pmdp = { table: 0, idx: 0 };

/** find_pmd_or_thp_or_none(). */
function find_pmd_or_thp_or_none(mm: MmStruct, address: number): number {
  const t = mm.find_pmd_table(address);
  if (t === 0) return SCAN_PMD_NULL; // mm_find_pmd(): no PMD table
  pmdp.table = t;
  pmdp.idx = pmd_index(address);
  readEntry(mm.machine.phys, t, pmdp.idx);
  if (E.lo === 0 && E.hi === 0) return SCAN_PMD_NONE;
  if (!pmd_present(E.lo)) return SCAN_PMD_NULL;
  if (pmd_trans_huge(E.lo)) return SCAN_PMD_MAPPED;
  if (pmd_bad(E.lo)) return SCAN_PMD_NULL;
  return SCAN_SUCCEED;
}

/** is_refcount_suitable(): no references beyond the mappings (and the swap cache's). */
function is_refcount_suitable(m: Machine, folio: number): boolean {
  const pm = m.phys;
  let expected = pm.folio_test_large(folio) ? pm.folio_large_mapcount(folio) : pm.mapcount[folio];
  if ((pm.flags[folio] & PG_swapcache) !== 0) expected += pm.folio_nr_pages(folio);
  return pm.refcount[folio] === expected;
}

/**
 * Whether khugepaged counts the page as referenced: pte_young() or folio_test_referenced() (page
 * idle tracking and MMU notifiers are not simulated).
 */
function khugepaged_referenced(m: Machine, lo: number, folio: number): boolean {
  return pte_young(lo) || (m.phys.flags[folio] & PG_referenced) !== 0;
}

/**
 * hpage_collapse_scan_pmd(): check the PTE table of the PMD at `address` and collapse it when
 * every entry allows it; for khugepaged within max_ptes_none/_swap/_shared and with enough young
 * pages. Enters with the mmap_lock read-held and returns with it read-held (the kernel returns
 * with it dropped after collapse_huge_page(), telling so in cc.mmap_locked; this port re-takes it
 * there so the caller does not have to track it).
 */
function hpage_collapse_scan_pmd(
  mm: MmStruct,
  vma: VmAreaStruct,
  address: number,
  cc: CollapseControl,
): number {
  const m = mm.machine;
  const pm = m.phys;
  const kh = m.khugepaged;
  let result = find_pmd_or_thp_or_none(mm, address);
  if (result !== SCAN_SUCCEED) return result;
  readEntry(pm, pmdp.table, pmdp.idx);
  const pteT = entryTable(E.lo, E.hi);
  ptlLock(pm, m.counters, pteT);
  let unmapped = 0;
  let none_or_zero = 0;
  let shared = 0;
  let referenced = 0;
  let writable = false;
  result = SCAN_SUCCEED;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    readEntry(pm, pteT, i);
    const lo = E.lo;
    const hi = E.hi;
    if (is_swap_pte(lo, hi)) {
      // Swap entries, and in 6.18 every other non-present entry (migration entries, guard
      // markers) too, count as swap PTEs; __collapse_huge_page_swapin() faults them in.
      ++unmapped;
      if (!cc.is_khugepaged || unmapped <= kh.max_ptes_swap) {
        if (pte_swp_uffd_wp(lo)) {
          result = SCAN_PTE_UFFD_WP;
          break;
        }
        continue;
      }
      result = SCAN_EXCEED_SWAP_PTE;
      break;
    }
    if (pte_none(lo, hi) || pm.is_zero_pfn(entry_pfn(lo, hi))) {
      ++none_or_zero;
      if (!userfaultfd_armed(vma) && (!cc.is_khugepaged || none_or_zero <= kh.max_ptes_none)) continue;
      result = SCAN_EXCEED_NONE_PTE;
      break;
    }
    if (pte_uffd_wp(lo)) {
      result = SCAN_PTE_UFFD_WP;
      break;
    }
    if (pte_write(lo)) writable = true;
    const page = vm_normal_page(pm, lo, hi);
    if (page === 0) {
      result = SCAN_PAGE_NULL;
      break;
    }
    const folio = pm.folio(page);
    if (!pm.PageAnon(folio)) {
      result = SCAN_PAGE_ANON;
      break;
    }
    // A page counts as shared when any part of its folio may be mapped by another mm.
    if (folio_maybe_mapped_shared(m, folio)) {
      ++shared;
      if (cc.is_khugepaged && shared > kh.max_ptes_shared) {
        result = SCAN_EXCEED_SHARED_PTE;
        break;
      }
    }
    if ((pm.flags[folio] & PG_locked) !== 0) {
      result = SCAN_PAGE_LOCK;
      break;
    }
    // Extra references (GUP pins) keep the page: the collapse cannot take it away.
    if (!is_refcount_suitable(m, folio)) {
      result = SCAN_PAGE_COUNT;
      break;
    }
    if (cc.is_khugepaged && khugepaged_referenced(m, lo, folio)) referenced++;
  }
  // 6.18 collapses read-only ranges too (SCAN_PAGE_RO is gone); khugepaged wants young pages.
  if (result === SCAN_SUCCEED && !writable && m.kernel.mm.collapseNeedsWritable) result = SCAN_PAGE_RO;
  else if (
    result === SCAN_SUCCEED &&
    cc.is_khugepaged &&
    (referenced === 0 || (unmapped > 0 && referenced < HPAGE_PMD_NR / 2))
  )
    result = SCAN_LACK_REFERENCED_PAGE;
  ptlUnlock(pm, m.counters, pteT);
  if (result === SCAN_SUCCEED) {
    cc.mmap_locked = false;
    result = collapse_huge_page(mm, address, unmapped, cc);
  }
  return result;
}

/**
 * __collapse_huge_page_swapin(): fault every swap-format PTE in with do_swap_page(). A guard
 * marker or other fatal entry fails the collapse with SCAN_FAIL. Returns with the mmap_lock held
 * on success and dropped on failure, as the kernel does.
 */
function __collapse_huge_page_swapin(
  mm: MmStruct,
  vma: VmAreaStruct,
  haddr: number,
  pmdT: number,
  pi: number,
): number {
  const pm = mm.machine.phys;
  for (let i = 0, addr = haddr; i < HPAGE_PMD_NR; i++, addr += PAGE_SIZE) {
    readEntry(pm, pmdT, pi);
    if (pmd_trans_huge(E.lo) || (E.lo & _PAGE_PRESENT) === 0) {
      mm.mmap_read_unlock();
      return SCAN_PMD_NULL;
    }
    const pteT = entryTable(E.lo, E.hi);
    readEntry(pm, pteT, i);
    if (!is_swap_pte(E.lo, E.hi)) continue;
    const ret = do_swap_page(vma, addr, 0, pteT, i, E.lo, E.hi);
    if ((ret & VM_FAULT_ERROR) !== 0) {
      mm.mmap_read_unlock();
      return SCAN_FAIL;
    }
  }
  return SCAN_SUCCEED;
}

/** The compound_pagelist of one collapse (large folios isolated once for all their PTEs). */
const compoundPagelist: number[] = [];

/** release_pte_folio(): unlock, and folio_putback_lru() drops the isolation reference. */
function release_pte_folio(m: Machine, folio: number): void {
  m.phys.unlock_page(folio);
  m.phys.put_page(folio);
}

/** release_pte_pages(): unlock what __collapse_huge_page_isolate() locked before entry `upto`. */
function release_pte_pages(m: Machine, pteT: number, upto: number): void {
  const pm = m.phys;
  for (let i = upto - 1; i >= 0; i--) {
    readEntry(pm, pteT, i);
    if (pte_none(E.lo, E.hi)) continue;
    const pfn = entry_pfn(E.lo, E.hi);
    if (pm.is_zero_pfn(pfn)) continue;
    if (pm.folio_test_large(pm.folio(pfn))) continue;
    release_pte_folio(m, pfn);
  }
  for (let i = 0; i < compoundPagelist.length; i++) release_pte_folio(m, compoundPagelist[i]);
  compoundPagelist.length = 0;
}

/**
 * __collapse_huge_page_isolate(): lock (and, in the kernel, LRU-isolate) every page the PTE table
 * maps. An order-0 folio mapped twice in the range (a KSM page) fails its second trylock:
 * SCAN_PAGE_LOCK, as in the kernel. khugepaged checks max_ptes_none/_shared again and wants one
 * young page at least.
 */
function __collapse_huge_page_isolate(
  m: Machine,
  vma: VmAreaStruct,
  pteT: number,
  cc: CollapseControl,
): number {
  const pm = m.phys;
  const kh = m.khugepaged;
  compoundPagelist.length = 0;
  let i = 0;
  let none_or_zero = 0;
  let shared = 0;
  let referenced = 0;
  let writable = false;
  let result = SCAN_SUCCEED;
  for (; i < HPAGE_PMD_NR; i++) {
    readEntry(pm, pteT, i);
    const lo = E.lo;
    const hi = E.hi;
    if (pte_none(lo, hi) || (pte_present(lo) && pm.is_zero_pfn(entry_pfn(lo, hi)))) {
      ++none_or_zero;
      if (!userfaultfd_armed(vma) && (!cc.is_khugepaged || none_or_zero <= kh.max_ptes_none)) continue;
      result = SCAN_EXCEED_NONE_PTE;
      break;
    }
    if (!pte_present(lo)) {
      result = SCAN_PTE_NON_PRESENT;
      break;
    }
    if (pte_uffd_wp(lo)) {
      result = SCAN_PTE_UFFD_WP;
      break;
    }
    const page = vm_normal_page(pm, lo, hi);
    if (page === 0) {
      result = SCAN_PAGE_NULL;
      break;
    }
    const folio = pm.folio(page);
    if (folio_maybe_mapped_shared(m, folio)) {
      ++shared;
      if (cc.is_khugepaged && shared > kh.max_ptes_shared) {
        result = SCAN_EXCEED_SHARED_PTE;
        break;
      }
    }
    if (!pm.folio_test_large(folio) || !compoundPagelist.includes(folio)) {
      if (!pm.trylock_page(folio)) {
        result = SCAN_PAGE_LOCK;
        break;
      }
      if (!is_refcount_suitable(m, folio)) {
        pm.unlock_page(folio);
        result = SCAN_PAGE_COUNT;
        break;
      }
      pm.get_page(folio); // folio_isolate_lru() holds a reference until the putback
      if (pm.folio_test_large(folio)) compoundPagelist.push(folio);
    }
    if (cc.is_khugepaged && khugepaged_referenced(m, lo, folio)) referenced++;
    if (pte_write(lo)) writable = true;
  }
  if (result === SCAN_SUCCEED && !writable && m.kernel.mm.collapseNeedsWritable) result = SCAN_PAGE_RO;
  else if (result === SCAN_SUCCEED && cc.is_khugepaged && referenced === 0)
    result = SCAN_LACK_REFERENCED_PAGE;
  if (result !== SCAN_SUCCEED) release_pte_pages(m, pteT, i);
  return result;
}

/**
 * __collapse_huge_page_copy() and __collapse_huge_page_copy_succeeded(): copy every page into the
 * new folio (none and zero-page entries become zeroed subpages, which the folio already is), then
 * clear the PTEs and drop the old pages. MM_ANONPAGES gains one per none/zero entry, so that it
 * ends up counting the 512 pages of the new folio.
 */
function __collapse_huge_page_copy(mm: MmStruct, pteT: number, folio: number): void {
  const m = mm.machine;
  const pm = m.phys;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    readEntry(pm, pteT, i);
    if (pte_none(E.lo, E.hi) || pm.is_zero_pfn(entry_pfn(E.lo, E.hi))) continue; // clear_user_highpage()
    pm.copy_page(folio + i, entry_pfn(E.lo, E.hi));
  }
  ptlLock(pm, m.counters, pteT);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    readEntry(pm, pteT, i);
    const lo = E.lo;
    const hi = E.hi;
    if (pte_none(lo, hi)) {
      mm.add_mm_counter(MM_ANONPAGES, 1);
      continue;
    }
    const pfn = entry_pfn(lo, hi);
    setEntry(pm, pteT, i, 0, 0); // ptep_clear()
    if (pm.is_zero_pfn(pfn)) {
      mm.add_mm_counter(MM_ANONPAGES, 1);
      m.hooks.ksm_might_unmap_zero_page(mm, lo);
      continue;
    }
    const src = pm.folio(pfn);
    if (!pm.folio_test_large(src)) release_pte_folio(m, src);
    folio_remove_rmap_pte(pm, pfn, mm);
    // free_page_and_swap_cache()
    free_swap_cache(m, src);
    pm.put_page(pfn);
  }
  ptlUnlock(pm, m.counters, pteT);
  for (let i = 0; i < compoundPagelist.length; i++) {
    const src = compoundPagelist[i];
    pm.unlock_page(src);
    free_swap_cache(m, src);
    pm.put_page(src); // folio_putback_lru()
  }
  compoundPagelist.length = 0;
}

/**
 * collapse_huge_page(): allocate the THP, swap in, take the mmap_lock for writing, unhook the PTE
 * table (pmdp_collapse_flush()), isolate and copy, then map the new folio by the PMD with the old
 * PTE table deposited under it. Called with the mmap_lock read-held; returns with it read-held.
 */
function collapse_huge_page(mm: MmStruct, address: number, unmapped: number, cc: CollapseControl): number {
  mm.mmap_read_unlock();
  const result = collapse_huge_page_unlocked(mm, address, unmapped, cc);
  mm.mmap_read_lock();
  return result;
}

function collapse_huge_page_unlocked(
  mm: MmStruct,
  address: number,
  unmapped: number,
  cc: CollapseControl,
): number {
  const m = mm.machine;
  const pm = m.phys;
  // alloc_charge_folio(): GFP_TRANSHUGE for MADV_COLLAPSE; NUMA target is the task's node here.
  pm.allocNid = mm.numaNode;
  const folio = pm.alloc_pages(HPAGE_PMD_ORDER);
  if (folio === 0) return SCAN_ALLOC_HUGE_PAGE_FAIL;
  mm.mmap_read_lock();
  let result = hugepage_vma_revalidate(mm, address, true, cc);
  if (result === SCAN_SUCCEED) result = find_pmd_or_thp_or_none(mm, address);
  if (result !== SCAN_SUCCEED) {
    mm.mmap_read_unlock();
    pm.put_page(folio);
    return result;
  }
  let vma = revalidated!;
  if (unmapped > 0) {
    result = __collapse_huge_page_swapin(mm, vma, address, pmdp.table, pmdp.idx);
    if (result !== SCAN_SUCCEED) {
      pm.put_page(folio); // the mmap_lock is already dropped
      return result;
    }
  }
  mm.mmap_read_unlock();
  mm.mmap_write_lock();
  try {
    result = hugepage_vma_revalidate(mm, address, true, cc);
    if (result !== SCAN_SUCCEED) {
      pm.put_page(folio);
      return result;
    }
    vma = revalidated!;
    const pmdT = pmdp.table;
    const pi = pmdp.idx;
    // check_pmd_still_valid()
    result = find_pmd_or_thp_or_none(mm, address);
    if (result === SCAN_SUCCEED && (pmdp.table !== pmdT || pmdp.idx !== pi)) result = SCAN_FAIL;
    if (result !== SCAN_SUCCEED) {
      pm.put_page(folio);
      return result;
    }
    // pmdp_collapse_flush(): GUP-fast and the hardware no longer see the PTE table.
    readEntry(pm, pmdT, pi);
    const pteT = entryTable(E.lo, E.hi);
    setEntry(pm, pmdT, pi, 0, 0);
    m.counters.tlbFlushes++;
    ptlLock(pm, m.counters, pteT);
    result = __collapse_huge_page_isolate(m, vma, pteT, cc);
    ptlUnlock(pm, m.counters, pteT);
    if (result !== SCAN_SUCCEED) {
      populateEntry(pm, pmdT, pi, pteT); // pmd_populate() back the original table
      pm.put_page(folio);
      return result;
    }
    __collapse_huge_page_copy(mm, pteT, folio);
    // mk_huge_pmd(vma->vm_page_prot), pmd_mkdirty(), maybe_pmd_mkwrite().
    let lo = vma.protLo | _PAGE_PSE | _PAGE_DIRTY | _PAGE_SOFT_DIRTY;
    if ((vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW;
    mk_pte(folio, lo, vma.protHi);
    folio_add_new_anon_rmap(pm, folio, vma, address, true);
    pgtable_trans_huge_deposit(mm, pmdT, pi, pteT);
    setEntry(pm, pmdT, pi, entryOut.lo, entryOut.hi);
    m.vmstat.thp_collapse_alloc++;
    return SCAN_SUCCEED;
  } finally {
    mm.mmap_write_unlock();
  }
}

/**
 * A reduced hpage_collapse_scan_file() + collapse_file() + collapse_pte_mapped_thp() for a shared
 * anonymous mapping. The kernel replaces the object's 512 pages by one new THP (holes zero-filled),
 * unmaps the old pages from every mapping and maps the THP by PMD in this VMA. The simulator keeps
 * shmem order-0: the range gets 512 new pages (copies, holes zeroed) replacing the old ones in the
 * object, unmapped everywhere, and mapped here by PTEs. What the reports see (RSS, sharing labels)
 * is the kernel's; the PMD mapping and the folio being one THP are not modelled.
 */
function collapse_shmem_pmd(mm: MmStruct, vma: VmAreaStruct, address: number): number {
  const m = mm.machine;
  const pm = m.phys;
  const obj = vma.shmem!;
  const start = linear_page_index(vma, address);
  let present = 0;
  for (let i = 0; i < HPAGE_PMD_NR; i++) if (obj.pages.has(start + i)) present++;
  // collapse_file(): a range with nothing in the page cache is SCAN_TRUNCATED.
  if (present === 0) return SCAN_TRUNCATED;
  const fresh: number[] = [];
  pm.allocNid = mm.numaNode;
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const p = pm.alloc_pages(0);
    if (p === 0) {
      for (let j = 0; j < fresh.length; j++) pm.put_page(fresh[j]);
      return SCAN_ALLOC_HUGE_PAGE_FAIL;
    }
    fresh.push(p);
  }
  // Unmap the old pages from every mapping of the object (try_to_unmap() in collapse_file()).
  for (const omm of m.mms) {
    for (const v of omm.vmas) {
      if (v.shmem !== obj) continue;
      const s = Math.max(v.vm_start, v.vm_start + (start - v.vm_pgoff) * PAGE_SIZE);
      const e = Math.min(v.vm_end, v.vm_start + (start + HPAGE_PMD_NR - v.vm_pgoff) * PAGE_SIZE);
      if (s < e) zap_page_range(v, s, e);
    }
  }
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const old = obj.pages.get(start + i);
    const p = fresh[i];
    pm.setMapping(p, obj.id, 0);
    pm.index[p] = start + i;
    if (old !== undefined) {
      pm.copy_page(p, old);
      pm.put_page(old);
    }
    obj.pages.set(start + i, p);
  }
  // collapse_pte_mapped_thp(install_pmd = true), as PTEs: every page mapped with vm_page_prot.
  const pmdT = mm.pmd_alloc(address);
  if (pmdT === 0 || !mm.pte_alloc(pmdT, pmd_index(address))) return SCAN_FAIL;
  readEntry(pm, pmdT, pmd_index(address));
  const pteT = entryTable(E.lo, E.hi);
  ptlLock(pm, m.counters, pteT);
  for (let i = 0; i < HPAGE_PMD_NR; i++) {
    const idx = pte_index(address + i * PAGE_SIZE);
    readEntry(pm, pteT, idx);
    if (!pte_none(E.lo, E.hi)) continue; // a guard marker stays
    mk_pte(fresh[i], vma.protLo, vma.protHi);
    setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
    pm.get_page(fresh[i]);
    pm.mapcount[fresh[i]]++;
    mm.add_mm_counter(MM_SHMEMPAGES, 1);
  }
  ptlUnlock(pm, m.counters, pteT);
  // The allocation's reference becomes the object's.
  return SCAN_SUCCEED;
}

/** madvise_collapse_errno(): what the last failure tells the caller. */
export function madvise_collapse_errno(r: number): number {
  switch (r) {
    case SCAN_ALLOC_HUGE_PAGE_FAIL:
      return -ENOMEM;
    case SCAN_CGROUP_CHARGE_FAIL:
    case SCAN_EXCEED_NONE_PTE:
      return -EBUSY;
    case SCAN_PAGE_COUNT:
    case SCAN_PAGE_LOCK:
    case SCAN_PAGE_LRU:
    case SCAN_DEL_PAGE_LRU:
    case SCAN_PAGE_FILLED:
      return -EAGAIN;
    default:
      return -EINVAL;
  }
}

/**
 * madvise_collapse(): collapse every whole PMD range inside [start, end) of the VMA into a THP.
 * Called with the mmap_lock read-held (returns with it held). Returns 0 when every PMD range is
 * PMD-mapped afterwards, else the errno of the last failure; a range with hstart > hend (no
 * aligned PMD, start past the first boundary) is -EINVAL, as the kernel's unsigned arithmetic gives.
 */
export function madvise_collapse(vma: VmAreaStruct, start: number, end: number): number {
  const mm = vma.vm_mm;
  if (!thp_vma_allowable_forced_collapse(vma)) return -EINVAL;
  const hstart = Math.ceil(start / PMD_SIZE) * PMD_SIZE;
  let hend = Math.floor(end / PMD_SIZE) * PMD_SIZE;
  let thps = 0;
  let last_fail = SCAN_FAIL;
  for (let addr = hstart; addr < hend; addr += PMD_SIZE) {
    if (addr !== hstart) {
      // The mmap_lock may have been dropped: the kernel revalidates the VMA.
      const r = hugepage_vma_revalidate(mm, addr, false, madvise_collapse_control);
      if (r !== SCAN_SUCCEED) {
        last_fail = r;
        break;
      }
      vma = revalidated!;
      hend = Math.min(hend, Math.floor(vma.vm_end / PMD_SIZE) * PMD_SIZE);
    }
    const result = vma.vma_is_anonymous()
      ? hpage_collapse_scan_pmd(mm, vma, addr, madvise_collapse_control)
      : collapse_shmem_pmd(mm, vma, addr);
    if (result === SCAN_SUCCEED || result === SCAN_PMD_MAPPED) {
      thps++;
      continue;
    }
    last_fail = result;
    // Whitelisted results: go on with the next PMD range.
    if (
      result === SCAN_PMD_NULL ||
      result === SCAN_PTE_NON_PRESENT ||
      result === SCAN_PTE_UFFD_WP ||
      result === SCAN_PAGE_RO ||
      result === SCAN_LACK_REFERENCED_PAGE ||
      result === SCAN_PAGE_NULL ||
      result === SCAN_PAGE_COUNT ||
      result === SCAN_PAGE_LOCK ||
      result === SCAN_PAGE_COMPOUND ||
      result === SCAN_PAGE_LRU ||
      result === SCAN_DEL_PAGE_LRU
    )
      continue;
    break;
  }
  if (hend < hstart) return madvise_collapse_errno(last_fail);
  return thps === (hend - hstart) / PMD_SIZE ? 0 : madvise_collapse_errno(last_fail);
}

// ---- the khugepaged daemon ---------------------------------------------------------------------

/** hugepage_pmd_enabled(): PMD-sized anonymous THPs are enabled (the per-size control inherits
 * the global one in the simulator). */
function hugepage_pmd_enabled(m: Machine): boolean {
  return m.thp.enabled !== 'never';
}

/** __khugepaged_enter(): register the mm at the list's tail (MMF_VM_HUGEPAGE). */
function __khugepaged_enter(mm: MmStruct): void {
  if ((mm.flags & MMF_VM_HUGEPAGE) !== 0) return;
  mm.flags |= MMF_VM_HUGEPAGE;
  mm.machine.khugepaged.mm_head.push(mm);
}

/**
 * khugepaged_enter_vma(): register the VMA's mm with khugepaged when, with `vm_flags`, the VMA is
 * one khugepaged may collapse (called by MADV_HUGEPAGE with the new flags, and by the huge page
 * fault). An anonymous VMA without its anon_vma does not qualify yet: a MADV_HUGEPAGE on memory
 * never touched registers nothing, the first fault does.
 */
export function khugepaged_enter_vma(vma: VmAreaStruct, vm_flags: number): void {
  const mm = vma.vm_mm;
  if ((mm.flags & MMF_VM_HUGEPAGE) !== 0 || !hugepage_pmd_enabled(mm.machine)) return;
  if (thp_vma_allowable_order(vma, vm_flags, true)) __khugepaged_enter(mm);
}

/** khugepaged_fork(): a child of a registered mm is registered too (dup_mmap()). */
export function khugepaged_fork(mm: MmStruct, oldmm: MmStruct): void {
  if ((oldmm.flags & MMF_VM_HUGEPAGE) !== 0) __khugepaged_enter(mm);
}

/**
 * khugepaged_exit() from __mmput(): the mm_slot goes, unless khugepaged's cursor is on it; then
 * khugepaged_scan_mm_slot() frees it when it next runs (collect_mm_slot()).
 */
export function khugepaged_exit(mm: MmStruct): void {
  if ((mm.flags & MMF_VM_HUGEPAGE) === 0) return;
  const kh = mm.machine.khugepaged;
  if (kh.mm_slot === mm) return;
  kh.mm_head.splice(kh.mm_head.indexOf(mm), 1);
  mm.flags &= ~MMF_VM_HUGEPAGE;
}

/** The largest value of an unsigned int sysfs knob (kstrtouint()). */
const UINT_MAX = 2 ** 32 - 1;

/** khugepaged_scan_mm_slot()'s `*result`: the last PMD range's scan result. */
const scanResult = { result: SCAN_SUCCEED };

/** collect_mm_slot(): free the slot of an mm that exited. */
function collect_mm_slot(mm: MmStruct): void {
  if (mm.mm_users !== 0) return;
  const kh = mm.machine.khugepaged;
  kh.mm_head.splice(kh.mm_head.indexOf(mm), 1);
}

/**
 * khugepaged_scan_mm_slot(): scan the cursor's mm (the list's first when the cursor is at the
 * head) from khugepaged_scan.address, PMD range by PMD range of each VMA khugepaged may collapse,
 * until `pages` is used up or a collapse was tried (it dropped the mmap_lock: the caller comes
 * back to the same place). Having scanned every VMA, the cursor moves to the next mm, or to the
 * head, which ends a full scan. Returns the progress: one per mm and per VMA skipped,
 * HPAGE_PMD_NR per PMD range scanned.
 */
function khugepaged_scan_mm_slot(m: Machine, pages: number): number {
  const kh = m.khugepaged;
  const cc = khugepaged_collapse_control;
  if (kh.mm_slot === null) {
    kh.mm_slot = kh.mm_head[0];
    kh.address = 0;
  }
  const mm = kh.mm_slot;
  scanResult.result = SCAN_FAIL;
  let progress = 1;
  let done = mm.mm_users === 0; // hpage_collapse_test_exit_or_disable(): nothing to scan
  if (!done) {
    mm.mmap_read_lock();
    done = true; // for_each_vma() ran to its end unless a break below says otherwise
    scan: for (let vma = mm.find_vma(kh.address); vma !== null; vma = mm.find_vma(vma.vm_end)) {
      if (!thp_vma_allowable_order(vma, vma.vm_flags, true)) {
        progress++;
        continue;
      }
      const hstart = Math.ceil(vma.vm_start / PMD_SIZE) * PMD_SIZE;
      const hend = Math.floor(vma.vm_end / PMD_SIZE) * PMD_SIZE;
      if (kh.address > hend) {
        progress++;
        continue;
      }
      if (kh.address < hstart) kh.address = hstart;
      while (kh.address < hend) {
        cc.mmap_locked = true;
        const result = hpage_collapse_scan_pmd(mm, vma, kh.address, cc);
        scanResult.result = result;
        if (result === SCAN_SUCCEED) kh.pages_collapsed++;
        kh.address += PMD_SIZE;
        progress += HPAGE_PMD_NR;
        if (!cc.mmap_locked || progress >= pages) {
          done = false;
          break scan;
        }
      }
    }
    mm.mmap_read_unlock();
  }
  if (done) {
    // Release the cursor's mm_slot: this mm is gone, or every VMA of it was scanned.
    const next = kh.mm_head.indexOf(mm) + 1;
    if (next < kh.mm_head.length) {
      kh.mm_slot = kh.mm_head[next];
      kh.address = 0;
    } else {
      kh.mm_slot = null;
      kh.full_scans++;
    }
    collect_mm_slot(mm);
  }
  return progress;
}

/**
 * khugepaged_do_scan(): one wake-up of khugepaged, scanning up to pages_to_scan pages from the
 * cursor and stopping at the list head the second time it reaches it: started at the head with
 * pages_to_scan larger than every mm, one call is exactly one full scan. After a failed THP
 * allocation it sleeps alloc_sleep_millisecs (the caller's clock) and goes on; a second failure
 * ends the pass.
 */
export function khugepaged_do_scan(m: Machine): void {
  const kh = m.khugepaged;
  const pages = kh.pages_to_scan;
  let progress = 0;
  let pass_through_head = 0;
  let wait = true;
  while (progress < pages) {
    if (kh.mm_slot === null) pass_through_head++;
    if (kh.mm_head.length === 0 || !hugepage_pmd_enabled(m) || pass_through_head >= 2) break;
    progress += khugepaged_scan_mm_slot(m, pages - progress);
    if (progress < pages && scanResult.result === SCAN_ALLOC_HUGE_PAGE_FAIL) {
      if (!wait) break;
      wait = false; // khugepaged_alloc_sleep()
    }
  }
}

/** Writes a file of /sys/kernel/mm/transparent_hugepage/khugepaged/ as its store function does;
 * returns 0 or -EINVAL (a value out of range, not a number, or a read-only file). */
export function khugepaged_sysfs_write(m: Machine, name: string, value: string): number {
  const kh = m.khugepaged;
  if (!/^\d+$/.test(value.trim())) return -EINVAL; // kstrtoul()/kstrtouint()
  const v = Number(value.trim());
  switch (name) {
    case 'pages_to_scan':
      if (v === 0 || v > UINT_MAX) return -EINVAL;
      kh.pages_to_scan = v;
      return 0;
    case 'max_ptes_none':
    case 'max_ptes_swap':
    case 'max_ptes_shared':
      if (v > HPAGE_PMD_NR - 1) return -EINVAL;
      kh[name] = v;
      return 0;
    default:
      return -EINVAL;
  }
}
