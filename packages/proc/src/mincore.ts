// mm/mincore.c (Linux 6.18): mincore(2) as a page walk.

import { EFAULT, EINVAL, ENOMEM, ErrnoError, hex, PAGE_SIZE } from '@mmsim/core';
import {
  is_pte_marker,
  MAX_SWAPFILES,
  type MmStruct,
  pmd_leaf,
  pte_index,
  pte_offset_map_lock,
  pte_present,
  pte_unmap_unlock,
  ptlLock,
  ptlUnlock,
  swp_offset,
  swp_type,
  taskSizeMax,
  type VmAreaStruct,
} from '@mmsim/mmu';
import {
  ACTION_AGAIN,
  type MmWalk,
  type MmWalkOps,
  mmWalkOps,
  PGWALK_RDLOCK,
  walk_page_range,
} from '@mmsim/pagewalk';

/** The walk's output cursor (the kernel advances walk->private, an unsigned char *). */
interface MincoreVec {
  vec: Uint8Array;
  pos: number;
}

/** __mincore_unmapped_range(): anonymous memory is not resident; shmem and file pages may be
 * cached. */
function mincore_unmapped(vma: VmAreaStruct, addr: number, end: number, v: MincoreVec): void {
  const nr = (end - addr) / PAGE_SIZE;
  const obj = vma.shmem ?? vma.vm_file;
  for (let i = 0; i < nr; i++) {
    let present = 0;
    if (obj !== null) {
      // mincore_page(): is the page in the object's page cache?
      const index = (addr - vma.vm_start) / PAGE_SIZE + vma.vm_pgoff + i;
      present = obj.pages.has(index) ? 1 : 0;
    }
    v.vec[v.pos + i] = present;
  }
  v.pos += nr;
}

function mincore_unmapped_range(addr: number, end: number, _depth: number, walk: MmWalk): number {
  mincore_unmapped(walk.vma!, addr, end, walk.private as MincoreVec);
  return 0;
}

function mincore_pte_range(walk: MmWalk, addr: number, end: number): number {
  const v = walk.private as MincoreVec;
  const vma = walk.vma!;
  const m = walk.mm.machine;
  const pm = m.phys;
  const c = m.counters;
  const nr = (end - addr) / PAGE_SIZE;
  if (pmd_leaf(walk.lo)) {
    ptlLock(pm, c, walk.table); // pmd_trans_huge_lock()
    v.vec.fill(1, v.pos, v.pos + nr);
    ptlUnlock(pm, c, walk.table);
    v.pos += nr;
    return 0;
  }
  const pteT = pte_offset_map_lock(pm, c, walk.lo, walk.hi);
  if (pteT === 0) {
    walk.action = ACTION_AGAIN;
    return 0;
  }
  const w = pm.tableWords(pteT);
  let o = pm.tableBase(pteT) + pte_index(addr) * 2;
  for (; addr !== end; addr += PAGE_SIZE, o += 2) {
    const lo = w[o];
    const hi = w[o + 1];
    if ((lo === 0 && hi === 0) || is_pte_marker(lo, hi)) {
      // pte_none_mostly(): look the page up as for a hole.
      mincore_unmapped(vma, addr, addr + PAGE_SIZE, v);
      continue;
    }
    if (pte_present(lo)) v.vec[v.pos] = 1;
    else {
      const type = swp_type(lo, hi);
      // Migration and hwpoison entries are always uptodate; a swapped page is resident while
      // it is still in the swap cache (mincore_swap()).
      v.vec[v.pos] = type >= MAX_SWAPFILES || m.swap.cache.has(swp_offset(lo, hi)) ? 1 : 0;
    }
    v.pos++;
  }
  pte_unmap_unlock(pm, c, pteT);
  return 0;
}

const mincore_walk_ops: MmWalkOps = mmWalkOps({
  pmd_entry: mincore_pte_range,
  pte_hole: mincore_unmapped_range,
  walk_lock: PGWALK_RDLOCK,
});

/** do_mincore(): one batch from `addr`; the number of pages filled, or -errno. */
function do_mincore(mm: MmStruct, addr: number, pages: number, v: MincoreVec): number {
  const vma = mm.vma_lookup(addr);
  if (vma === null) return -ENOMEM;
  const end = Math.min(vma.vm_end, addr + pages * PAGE_SIZE);
  // can_do_mincore(): anonymous memory always; the shmem file too for its owner (root here).
  const err = walk_page_range(mm, addr, end, mincore_walk_ops, v);
  if (err < 0) return err;
  return (end - addr) / PAGE_SIZE;
}

/**
 * sys_mincore(): fill vec[i] with 1 when page i of [start, start + len) is resident, 0 otherwise.
 * Returns 0, -EINVAL for an unaligned start, -ENOMEM when the range leaves TASK_SIZE or meets
 * unmapped memory (pages before it are filled), -EFAULT when vec is too short. Takes the mmap lock
 * for read per batch of PAGE_SIZE pages, as the kernel does.
 */
export function sys_mincore(mm: MmStruct, start: number, len: number, vec: Uint8Array): number {
  if (start % PAGE_SIZE !== 0) return -EINVAL;
  const limit = taskSizeMax(mm.levels);
  // access_ok()
  if (len > limit || start > limit - len) return -ENOMEM;
  let pages = Math.ceil(len / PAGE_SIZE);
  if (vec.length < pages) return -EFAULT;
  const v: MincoreVec = { vec, pos: 0 };
  let filled = 0;
  while (pages > 0) {
    v.pos = filled;
    mm.mmap_read_lock();
    let ret: number;
    try {
      ret = do_mincore(mm, start, Math.min(pages, PAGE_SIZE), v);
    } finally {
      mm.mmap_read_unlock();
    }
    if (ret <= 0) return ret;
    pages -= ret;
    filled += ret;
    start += ret * PAGE_SIZE;
  }
  return 0;
}

/** mincore(2) for the syscall-like API: the residency vector, or ErrnoError. */
export function mincore(mm: MmStruct, start: number, len: number): Uint8Array {
  const vec = new Uint8Array(Math.ceil(Math.max(0, len) / PAGE_SIZE));
  const ret = sys_mincore(mm, start, len, vec);
  if (ret < 0) throw new ErrnoError(-ret, 'mincore', `0x${hex(start)}, ${len}, vec`);
  return vec;
}
