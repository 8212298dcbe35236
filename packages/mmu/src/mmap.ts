// mmap(2) and munmap(2) of anonymous memory and the teardown of an address space (mm/mmap.c,
// mm/vma.c, Linux 6.18): get_unmapped_area() top-down from mmap_base, vm_mmap_pgoff(),
// do_vmi_munmap() with free_pgtables(), dup_mmap() for fork (in mm/mmap.c since 6.16), exit_mmap(). Kernel-style: 0/an address or a negative errno.

import { alignDown, alignUp, EBADF, EEXIST, EINVAL, ENOMEM, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import type { MappedFile } from './filemap.ts';
import { khugepaged_exit, khugepaged_fork } from './khugepaged.ts';
import {
  copy_page_range,
  free_all_pgtables,
  free_pgtables,
  ZAP_FLAG_DROP_MARKER,
  zap_page_range,
} from './memory.ts';
import {
  MMF_VM_MERGE_ANY,
  type MmStruct,
  mm_id_free,
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_EXEC,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_WIPEONFORK,
  VM_WRITE,
  VmAreaStruct,
} from './mm.ts';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  PROT_EXEC,
  PROT_READ,
  PROT_WRITE,
} from './mman.ts';
import { taskSizeMax } from './pgtable.ts';
import { ShmemObject, shmem_release } from './shmem.ts';
import { vma_merge, vma_set_page_prot, vma_split_range } from './vma.ts';

/** mmap_min_addr: the lowest address a hint or the allocator may hand out. */
const MMAP_MIN_ADDR = 0x10000;

/** get_unmapped_area(): top-down from mmap_base, `align`-aligned; the address or -ENOMEM. */
function get_unmapped_area(mm: MmStruct, len: number, align: number): number {
  let top = mm.mmap_base;
  for (let i = mm.vmas.length - 1; i >= -1; i--) {
    const lowBound = i >= 0 ? mm.vmas[i].vm_end : MMAP_MIN_ADDR;
    if (lowBound >= top) {
      if (i >= 0) top = Math.min(top, mm.vmas[i].vm_start);
      continue;
    }
    const start = alignDown(top - len, align);
    if (start >= lowBound && top - len >= lowBound) return start;
    if (i >= 0) top = Math.min(top, mm.vmas[i].vm_start);
  }
  return -ENOMEM;
}

/**
 * vm_mmap_pgoff() of anonymous memory (fd -1, offset 0), or MAP_PRIVATE of a regular file
 * (`file`, at page offset `pgoff`; shared file mappings are not simulated: -EINVAL): checks the
 * arguments, takes the mmap lock for write and maps the range (do_mmap()); the start address or
 * a negative errno. PMD-multiple private anonymous lengths without a hint are PMD-aligned
 * (thp_get_unmapped_area()). The MAP_POPULATE faults are the caller's (mm_populate() runs after
 * the lock is dropped).
 */
export function vm_mmap_pgoff(
  mm: MmStruct,
  addr: number | null,
  len: number,
  prot: number,
  flags: number,
  file: MappedFile | null = null,
  pgoff = 0,
): number {
  if (((flags & MAP_ANONYMOUS) === 0) === (file === null)) return -EBADF;
  const type = flags & (MAP_SHARED | MAP_PRIVATE);
  if (type !== MAP_SHARED && type !== MAP_PRIVATE) return -EINVAL;
  if (file !== null && (type !== MAP_PRIVATE || !Number.isSafeInteger(pgoff) || pgoff < 0)) return -EINVAL;
  if (len <= 0 || !Number.isSafeInteger(len)) return -EINVAL;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return -EINVAL;
  len = alignUp(len, PAGE_SIZE);
  const tsz = taskSizeMax(mm.levels);
  if (len > tsz) return -ENOMEM;
  let start: number;
  const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
  if (fixed) {
    if (addr === null || addr % PAGE_SIZE !== 0) return -EINVAL;
    if (addr + len > tsz) return -ENOMEM;
    if ((flags & MAP_FIXED_NOREPLACE) !== 0 && mm.find_vma_intersection(addr, addr + len) !== null)
      return -EEXIST;
    start = addr;
  } else {
    const hint = addr !== null ? alignDown(addr, PAGE_SIZE) : 0;
    if (
      hint !== 0 &&
      hint + len <= tsz &&
      mm.find_vma_intersection(hint, hint + len) === null &&
      hint >= MMAP_MIN_ADDR
    ) {
      start = hint;
    } else {
      const align =
        type === MAP_PRIVATE && file === null && len % PMD_SIZE === 0 && hint === 0 ? PMD_SIZE : PAGE_SIZE;
      start = get_unmapped_area(mm, len, align);
      if (start < 0) return start;
    }
  }
  mm.mmap_write_lock();
  try {
    if (fixed) do_vmi_munmap(mm, start, len);
    let vmFlags = VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SOFTDIRTY;
    if ((prot & PROT_READ) !== 0) vmFlags |= VM_READ;
    if ((prot & PROT_WRITE) !== 0) vmFlags |= VM_WRITE;
    if ((prot & PROT_EXEC) !== 0) vmFlags |= VM_EXEC;
    if (type === MAP_SHARED) vmFlags |= VM_SHARED | VM_MAYSHARE;
    if ((flags & MAP_NORESERVE) !== 0) vmFlags |= VM_NORESERVE;
    // accountable_mapping(): private writable memory is charged to overcommit (VM_ACCOUNT).
    if (type === MAP_PRIVATE && (prot & PROT_WRITE) !== 0 && (flags & MAP_NORESERVE) === 0)
      vmFlags |= VM_ACCOUNT;
    const vma = new VmAreaStruct(mm, start, start + len, vmFlags, start / PAGE_SIZE, '');
    vma_set_page_prot(vma);
    if (type === MAP_SHARED) {
      vma.shmem = new ShmemObject();
      vma.shmem.users = 1;
      vma.vm_pgoff = 0;
    }
    if (file !== null) {
      vma.vm_file = file;
      vma.vm_pgoff = pgoff;
    }
    mm.insertVma(vma);
    mm.machine.hooks.ksm_add_vma(vma);
    vma_merge(mm, vma);
  } finally {
    mm.mmap_write_unlock();
  }
  return start;
}

/** do_vmi_munmap(): unmap [start, start + len) and free the page tables only it used. */
export function do_vmi_munmap(mm: MmStruct, start: number, len: number): void {
  const end = start + len;
  const vmas = vma_split_range(mm, start, end);
  for (const v of vmas) {
    zap_page_range(v, v.vm_start, v.vm_end, ZAP_FLAG_DROP_MARKER);
    mm.removeVma(v);
    shmem_release(v);
  }
  if (vmas.length > 0) free_pgtables(mm, start, end);
}

/** munmap(2) (__vm_munmap()): 0 or a negative errno. */
export function vm_munmap(mm: MmStruct, addr: number, len: number): number {
  if (addr % PAGE_SIZE !== 0 || len <= 0) return -EINVAL;
  len = alignUp(len, PAGE_SIZE);
  if (addr + len > taskSizeMax(mm.levels)) return -EINVAL;
  mm.mmap_write_lock();
  try {
    do_vmi_munmap(mm, addr, len);
  } finally {
    mm.mmap_write_unlock();
  }
  return 0;
}

/** mmput()'s teardown of the last user: ksm_exit(), khugepaged_exit(), then exit_mmap(). */
export function mmput(mm: MmStruct): void {
  const m = mm.machine;
  mm.mm_users = 0;
  m.hooks.ksm_exit(mm);
  khugepaged_exit(mm);
  exit_mmap(mm);
  m.mms.delete(mm);
  mm_id_free(m, mm.mm_id);
}

/** exit_mmap(): unmap every VMA and free every page table. */
function exit_mmap(mm: MmStruct): void {
  mm.mmap_write_lock();
  for (const v of mm.vmas.slice()) {
    zap_page_range(v, v.vm_start, v.vm_end, ZAP_FLAG_DROP_MARKER);
    mm.removeVma(v);
    shmem_release(v);
  }
  free_all_pgtables(mm);
  mm.mmap_write_unlock();
}

/** MMF_INIT_MASK: the mm flags a child inherits (of those simulated, MMF_VM_MERGE_ANY). */
const MMF_INIT_MASK = MMF_VM_MERGE_ANY;

/**
 * dup_mmap(): give the new `mm` a copy of every VMA of `oldmm` but VM_DONTCOPY ones, and share
 * their private pages copy-on-write (copy_page_range(); none for VM_WIPEONFORK), then
 * khugepaged_fork() and ksm_fork(). Takes oldmm's mmap lock for write. 0 or -ENOMEM (the caller tears `mm` down).
 */
export function dup_mmap(mm: MmStruct, oldmm: MmStruct): number {
  const m = oldmm.machine;
  oldmm.mmap_write_lock();
  try {
    mm.flags = oldmm.flags & MMF_INIT_MASK;
    mm.numaNode = oldmm.numaNode; // the mempolicy is inherited
    m.phys.allocNid = oldmm.numaNode;
    for (const v of oldmm.vmas) {
      if ((v.vm_flags & VM_DONTCOPY) !== 0) continue;
      const nv = new VmAreaStruct(mm, v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.name);
      nv.protLo = v.protLo;
      nv.protHi = v.protHi;
      nv.vm_file = v.vm_file;
      if (v.shmem !== null) {
        nv.shmem = v.shmem;
        v.shmem.users++;
      }
      mm.insertVma(nv);
      if ((v.vm_flags & VM_WIPEONFORK) !== 0) continue;
      if (copy_page_range(nv, v) !== 0) return -ENOMEM;
    }
    khugepaged_fork(mm, oldmm);
    if (m.hooks.ksm_fork(mm, oldmm) !== 0) return -ENOMEM;
    return 0;
  } finally {
    oldmm.mmap_write_unlock();
  }
}
