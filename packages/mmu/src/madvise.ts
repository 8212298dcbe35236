// MADV_REMOVE on shared anonymous memory (madvise_remove() with shmem_fallocate()'s hole punch)
// and guard regions (mm/madvise.c, Linux 6.18: madvise_guard_install(), madvise_guard_remove()):
// MADV_GUARD_INSTALL puts a PTE_MARKER_GUARD marker in every PTE of the range, so that any access
// faults with SIGSEGV (handle_pte_marker()); the markers survive MADV_DONTNEED and are copied at
// fork, and only munmap/exit (ZAP_FLAG_DROP_MARKER) or MADV_GUARD_REMOVE drop them.

import { addrEnd, BUG, EACCES, EINVAL, ENOMEM, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { entryOut, is_guard_pte_marker, make_pte_marker, PTE_MARKER_GUARD, pmd_trans_huge } from './arch.ts';
import { zap_page_range } from './memory.ts';
import { VM_HUGETLB, VM_LOCKED, VM_MAYWRITE, VM_SHARED, VM_SPECIAL, type VmAreaStruct } from './mm.ts';
import { E, entryTable, pmd_index, pte_index, ptlLock, ptlUnlock, readEntry, setEntry } from './pgtable.ts';
import { anon_vma_prepare, linear_page_index } from './rmap.ts';

/**
 * madvise_remove(): free the range's backing store. Only a shared writable mapping of an object
 * can (anonymous private memory has no file: EINVAL); shmem_fallocate(FALLOC_FL_PUNCH_HOLE)
 * unmaps the pages from every process mapping them (unmap_mapping_range()) and drops them from
 * the object (shmem_truncate_range()). 0 or a negative errno.
 */
export function madvise_remove(vma: VmAreaStruct, start: number, end: number): number {
  if ((vma.vm_flags & VM_LOCKED) !== 0) return -EINVAL;
  const obj = vma.shmem;
  if (obj === null) return -EINVAL;
  if ((vma.vm_flags & (VM_SHARED | VM_MAYWRITE)) !== (VM_SHARED | VM_MAYWRITE)) return -EACCES;
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
  for (let index = first; index < last; index++) {
    const pfn = obj.pages.get(index);
    if (pfn === undefined) continue;
    obj.pages.delete(index);
    m.phys.put_page(pfn);
  }
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
 * The guard_install_walk_ops walk of [start, end): a marker into every none PTE (page tables are
 * allocated where missing, as the walk's install_pte does), 0 when the whole range is guarded,
 * 1 at the first huge PMD or populated PTE (the caller zaps and retries), -ENOMEM.
 */
function guard_install_walk(vma: VmAreaStruct, start: number, end: number): number {
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  make_pte_marker(PTE_MARKER_GUARD);
  const mlo = entryOut.lo;
  const mhi = entryOut.hi;
  for (let addr = start; addr < end; ) {
    const next = addrEnd(addr, end, PMD_SIZE);
    const pmdT = mm.pmd_alloc(addr);
    if (pmdT === 0) return -ENOMEM;
    const pi = pmd_index(addr);
    readEntry(pm, pmdT, pi);
    if (E.lo === 0 && E.hi === 0) {
      if (!mm.pte_alloc(pmdT, pi)) return -ENOMEM;
      readEntry(pm, pmdT, pi);
    } else if (pmd_trans_huge(E.lo)) return 1; // guard_install_pmd_entry()
    const pteT = entryTable(E.lo, E.hi);
    ptlLock(pm, m.counters, pteT);
    for (; addr < next; addr += PAGE_SIZE) {
      const idx = pte_index(addr);
      readEntry(pm, pteT, idx);
      if (E.lo === 0 && E.hi === 0)
        setEntry(pm, pteT, idx, mlo, mhi); // guard_install_set_pte()
      else if (!is_guard_pte_marker(E.lo, E.hi)) {
        ptlUnlock(pm, m.counters, pteT);
        return 1; // guard_install_pte_entry(): populated
      }
    }
    ptlUnlock(pm, m.counters, pteT);
  }
  return 0;
}

/** madvise_guard_install(): 0 or a negative errno. */
export function madvise_guard_install(vma: VmAreaStruct, start: number, end: number): number {
  if (!is_valid_guard_vma(vma, false)) return -EINVAL;
  // With markers the range is no longer empty: an anon_vma makes fork copy the page tables.
  if (!anon_vma_prepare(vma)) return -ENOMEM;
  for (let i = 0; i < MAX_MADVISE_GUARD_RETRIES; i++) {
    const err = guard_install_walk(vma, start, end);
    if (err <= 0) return err;
    // Some of the range is populated: zap it (existing markers stay) and try again.
    zap_page_range(vma, start, end);
  }
  // Only racing faults can get here in the kernel (restart_syscall()); nothing races here.
  BUG('madvise_guard_install: range still populated after zapping it');
}

/** madvise_guard_remove(): clear the guard markers of [start, end); huge PMDs have none. */
export function madvise_guard_remove(vma: VmAreaStruct, start: number, end: number): number {
  if (!is_valid_guard_vma(vma, true)) return -EINVAL;
  const mm = vma.vm_mm;
  const m = mm.machine;
  const pm = m.phys;
  for (let addr = start; addr < end; ) {
    const next = addrEnd(addr, end, PMD_SIZE);
    const pmdT = mm.find_pmd_table(addr);
    if (pmdT === 0) {
      addr = next;
      continue;
    }
    readEntry(pm, pmdT, pmd_index(addr));
    if ((E.lo === 0 && E.hi === 0) || pmd_trans_huge(E.lo)) {
      addr = next;
      continue;
    }
    const pteT = entryTable(E.lo, E.hi);
    ptlLock(pm, m.counters, pteT);
    for (; addr < next; addr += PAGE_SIZE) {
      const idx = pte_index(addr);
      readEntry(pm, pteT, idx);
      if (is_guard_pte_marker(E.lo, E.hi)) setEntry(pm, pteT, idx, 0, 0);
    }
    ptlUnlock(pm, m.counters, pteT);
  }
  return 0;
}
