// The system-call layer: a simulated process with mmap/munmap/mprotect/madvise/prctl/fork/
// exit and user-space memory access through the MMU and the fault path (mm/mmap.c, mm/vma.c,
// mm/mprotect.c, mm/madvise.c, kernel/fork.c, arch/x86/mm/fault.c). Each call checks its
// arguments with the kernel's errno and throws ErrnoError on failure.

import {
  alignDown,
  alignUp,
  EACCES,
  EAGAIN,
  EBADF,
  EFAULT,
  EINVAL,
  ENOMEM,
  ErrnoError,
  HPAGE_PMD_NR,
  hex,
  offsetInPage,
  PAGE_SIZE,
  PMD_SIZE,
  subpageIndex,
  VM_BUG_ON,
} from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_NX_HI,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  entry_pfn,
  entryOut,
  mk_pte,
  PAGE_NONE_LO,
  PAGE_READONLY_LO,
  PAGE_SHARED_LO,
  pmd_leaf,
  pte_present,
} from './arch.ts';
import { FAULT_FLAG_USER, FAULT_FLAG_WRITE, VM_FAULT_ERROR, VM_FAULT_OOM } from './fault.ts';
import { folio_maybe_mapped_shared, split_folio, split_huge_pmd } from './huge_memory.ts';
import { khugepaged_enter_vma, khugepaged_exit, khugepaged_fork, madvise_collapse } from './khugepaged.ts';
import type { Machine } from './machine.ts';
import { madvise_guard_install, madvise_guard_remove, madvise_remove } from './madvise.ts';
import {
  copy_page_range,
  free_all_pgtables,
  free_pgtables,
  handle_mm_fault,
  vm_normal_page,
  ZAP_FLAG_DROP_MARKER,
  zap_page_range,
} from './memory.ts';
import {
  MmStruct,
  VM_ACCOUNT,
  VM_DONTCOPY,
  VM_DONTDUMP,
  VM_EXEC,
  VM_HUGEPAGE,
  VM_HUGETLB,
  VM_IO,
  VM_LOCKED,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_NOHUGEPAGE,
  VM_NORESERVE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_WIPEONFORK,
  VM_WRITE,
  VmAreaStruct,
} from './mm.ts';
import {
  E,
  entryTable,
  type PagingLevels,
  pmd_index,
  pte_index,
  readEntry,
  setEntry,
  taskSizeMax,
} from './pgtable.ts';
import { PG_anon_exclusive, PG_lazyfree, PG_swapcache } from './physmem.ts';
import { ShmemObject, shmem_release } from './shmem.ts';
import { reclaim_folio } from './vmscan.ts';

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const PROT_EXEC = 4;

export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;
export const MAP_FIXED_NOREPLACE = 0x100000;

export const MADV_NORMAL = 0;
export const MADV_RANDOM = 1;
export const MADV_SEQUENTIAL = 2;
export const MADV_WILLNEED = 3;
export const MADV_DONTNEED = 4;
export const MADV_FREE = 8;
export const MADV_REMOVE = 9;
export const MADV_DONTFORK = 10;
export const MADV_DOFORK = 11;
export const MADV_MERGEABLE = 12;
export const MADV_UNMERGEABLE = 13;
export const MADV_HUGEPAGE = 14;
export const MADV_NOHUGEPAGE = 15;
export const MADV_DONTDUMP = 16;
export const MADV_DODUMP = 17;
export const MADV_WIPEONFORK = 18;
export const MADV_KEEPONFORK = 19;
export const MADV_COLD = 20;
export const MADV_PAGEOUT = 21;
export const MADV_POPULATE_READ = 22;
export const MADV_POPULATE_WRITE = 23;
export const MADV_DONTNEED_LOCKED = 24;
export const MADV_COLLAPSE = 25;
export const MADV_GUARD_INSTALL = 102;
export const MADV_GUARD_REMOVE = 103;

/** Advice names (the scenario format names them as the kernel does). */
export const MADV_BY_NAME: Record<string, number> = {
  MADV_NORMAL,
  MADV_RANDOM,
  MADV_SEQUENTIAL,
  MADV_WILLNEED,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_REMOVE,
  MADV_DONTFORK,
  MADV_DOFORK,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MADV_HUGEPAGE,
  MADV_NOHUGEPAGE,
  MADV_DONTDUMP,
  MADV_DODUMP,
  MADV_WIPEONFORK,
  MADV_KEEPONFORK,
  MADV_COLD,
  MADV_PAGEOUT,
  MADV_POPULATE_READ,
  MADV_POPULATE_WRITE,
  MADV_DONTNEED_LOCKED,
  MADV_COLLAPSE,
  MADV_GUARD_INSTALL,
  MADV_GUARD_REMOVE,
};

/** vm_get_page_prot(): the PTE protection for vm_flags (protection_map[], x86). */
export function vm_get_page_prot(flags: number): { lo: number; hi: number } {
  const acc = flags & (VM_READ | VM_WRITE | VM_EXEC);
  let lo: number;
  if (acc === 0) lo = PAGE_NONE_LO;
  else if ((flags & VM_SHARED) !== 0 && (flags & VM_WRITE) !== 0) lo = PAGE_SHARED_LO;
  else lo = PAGE_READONLY_LO; // PAGE_READONLY and PAGE_COPY are the same bits
  const hi = acc !== 0 && (flags & VM_EXEC) === 0 ? _PAGE_NX_HI : 0;
  return { lo, hi: hi >>> 0 };
}

function setProt(vma: VmAreaStruct): void {
  const p = vm_get_page_prot(vma.vm_flags);
  vma.protLo = p.lo;
  vma.protHi = p.hi;
}

/** A simulated user process: its address space and the system calls that act on it. */
export class Process {
  readonly machine: Machine;
  readonly pid: number;
  readonly name: string;
  mm: MmStruct;
  exited = false;

  constructor(machine: Machine, name = '', levels?: PagingLevels, mm?: MmStruct) {
    this.machine = machine;
    this.pid = machine.nextPid++;
    this.name = name || `proc${this.pid}`;
    this.mm = mm ?? new MmStruct(machine, levels ?? machine.levels);
    this.mm.owner = this.name;
    machine.mms.add(this.mm);
  }

  private fail(errno: number, call: string, args: string): never {
    throw new ErrnoError(errno, call, args);
  }

  private alive(call: string): void {
    if (this.exited) this.fail(EINVAL, call, 'process has exited');
  }

  // ---- mmap -------------------------------------------------------------------------------

  /** get_unmapped_area(): top-down from mmap_base, PMD-aligned for PMD-multiple anon lengths. */
  private getUnmappedArea(len: number, align: number): number {
    const mm = this.mm;
    let top = mm.mmap_base;
    for (let i = mm.vmas.length - 1; i >= -1; i--) {
      const lowBound = i >= 0 ? mm.vmas[i].vm_end : 0x10000;
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

  /** mmap(addr, len, prot, flags, -1, 0) for anonymous memory. Returns the address. */
  mmap(addr: number | null, len: number, prot: number, flags: number): number {
    const args = `${addr === null ? 'NULL' : `0x${hex(addr)}`}, ${len}, ${prot}, 0x${hex(flags)}, -1, 0`;
    this.alive('mmap');
    const mm = this.mm;
    if ((flags & MAP_ANONYMOUS) === 0) this.fail(EBADF, 'mmap', args);
    const type = flags & (MAP_SHARED | MAP_PRIVATE);
    if (type !== MAP_SHARED && type !== MAP_PRIVATE) this.fail(EINVAL, 'mmap', args);
    if (len <= 0 || !Number.isSafeInteger(len)) this.fail(EINVAL, 'mmap', args);
    if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) this.fail(EINVAL, 'mmap', args);
    len = alignUp(len, PAGE_SIZE);
    const tsz = taskSizeMax(mm.levels);
    if (len > tsz) this.fail(ENOMEM, 'mmap', args);
    let start: number;
    const fixed = (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) !== 0;
    if (fixed) {
      if (addr === null || addr % PAGE_SIZE !== 0) this.fail(EINVAL, 'mmap', args);
      if (addr + len > tsz) this.fail(ENOMEM, 'mmap', args);
      if ((flags & MAP_FIXED_NOREPLACE) !== 0 && mm.find_vma_intersection(addr, addr + len) !== null) {
        this.fail(17, 'mmap', args); // EEXIST
      }
      start = addr;
    } else {
      const hint = addr !== null ? alignDown(addr, PAGE_SIZE) : 0;
      if (
        hint !== 0 &&
        hint + len <= tsz &&
        mm.find_vma_intersection(hint, hint + len) === null &&
        hint >= 0x10000
      ) {
        start = hint;
      } else {
        const align = type === MAP_PRIVATE && len % PMD_SIZE === 0 && hint === 0 ? PMD_SIZE : PAGE_SIZE;
        start = this.getUnmappedArea(len, align);
        if (start < 0) this.fail(ENOMEM, 'mmap', args);
      }
    }
    mm.mmap_write_lock();
    try {
      if (fixed) this.doMunmap(start, len);
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
      setProt(vma);
      if (type === MAP_SHARED) {
        vma.shmem = new ShmemObject();
        vma.shmem.users = 1;
        vma.vm_pgoff = 0;
      }
      mm.insertVma(vma);
      this.machine.hooks.ksm_add_vma(vma);
      this.vmaMerge(vma);
    } finally {
      mm.mmap_write_unlock();
    }
    if ((flags & MAP_POPULATE) !== 0) this.populate(start, len, (prot & PROT_WRITE) !== 0);
    return start;
  }

  /** Fault in [start, start+len) (MAP_POPULATE, MADV_POPULATE_*). */
  private populate(start: number, len: number, write: boolean): void {
    for (let a = start; a < start + len; a += PAGE_SIZE) this.translate(a, write, 'populate');
  }

  /** Merge vma with its neighbours when they are compatible (vma_merge()). */
  private vmaMerge(vma: VmAreaStruct): VmAreaStruct {
    const mm = this.mm;
    const compatible = (a: VmAreaStruct, b: VmAreaStruct): boolean =>
      a.vm_end === b.vm_start &&
      a.vm_flags === b.vm_flags &&
      a.shmem === null &&
      b.shmem === null &&
      a.vm_pgoff + a.pages === b.vm_pgoff &&
      (a.anon_vma === null || b.anon_vma === null || a.anon_vma === b.anon_vma) &&
      (a.anon_vma === null || b.anon_vma === null
        ? a.anon_vma_chain.length <= 1 && b.anon_vma_chain.length <= 1
        : true);
    let i = mm.vmas.indexOf(vma);
    let merged = false;
    if (i > 0 && compatible(mm.vmas[i - 1], vma)) {
      const prev = mm.vmas[i - 1];
      this.absorb(prev, vma);
      vma = prev;
      i--;
      merged = true;
    }
    if (i + 1 < mm.vmas.length && compatible(vma, mm.vmas[i + 1])) {
      this.absorb(vma, mm.vmas[i + 1]);
      merged = true;
    }
    // vma_merge_existing_range() (mm/vma.c, 6.18): the merged VMA may now suit khugepaged.
    if (merged) khugepaged_enter_vma(vma, vma.vm_flags);
    return vma;
  }

  /** Extend `a` over its successor `b` and drop `b`. */
  private absorb(a: VmAreaStruct, b: VmAreaStruct): void {
    const mm = this.mm;
    if (a.anon_vma === null && b.anon_vma !== null) {
      a.anon_vma = b.anon_vma;
      for (const av of b.anon_vma_chain) {
        if (!a.anon_vma_chain.includes(av)) {
          a.anon_vma_chain.push(av);
          av.vmas.push(a);
        }
      }
    }
    a.vm_end = b.vm_end;
    mm.removeVma(b);
  }

  /** Split the VMA containing addr so that a VMA starts at addr (__split_vma()). */
  private splitAt(addr: number): void {
    const mm = this.mm;
    const vma = mm.vma_lookup(addr);
    if (vma === null || vma.vm_start === addr) return;
    const tail = new VmAreaStruct(
      mm,
      addr,
      vma.vm_end,
      vma.vm_flags,
      vma.vm_pgoff + (addr - vma.vm_start) / PAGE_SIZE,
      vma.name,
    );
    tail.protLo = vma.protLo;
    tail.protHi = vma.protHi;
    tail.anon_vma = vma.anon_vma;
    for (const av of vma.anon_vma_chain) {
      tail.anon_vma_chain.push(av);
      av.vmas.push(tail);
    }
    if (vma.shmem !== null) {
      tail.shmem = vma.shmem;
      vma.shmem.users++;
    }
    // A huge PMD straddling the split point is split (vma_adjust_trans_huge()).
    if (addr % PMD_SIZE !== 0) this.splitPmdAt(vma, addr);
    vma.vm_end = addr;
    mm.insertVma(tail);
  }

  private splitPmdAt(vma: VmAreaStruct, addr: number): void {
    const pmdT = this.mm.find_pmd_table(addr);
    if (pmdT === 0) return;
    const pi = pmd_index(addr);
    readEntry(this.machine.phys, pmdT, pi);
    if (pmd_leaf(E.lo)) split_huge_pmd(vma, addr, pmdT, pi);
  }

  /** The VMAs covering [start, end), split at both ends. */
  private vmasIn(start: number, end: number): VmAreaStruct[] {
    this.splitAt(start);
    this.splitAt(end);
    const out: VmAreaStruct[] = [];
    for (let v = this.mm.find_vma(start); v !== null && v.vm_start < end; v = this.mm.find_vma(v.vm_end))
      out.push(v);
    return out;
  }

  private doMunmap(start: number, len: number): void {
    const end = start + len;
    const vmas = this.vmasIn(start, end);
    for (const v of vmas) {
      zap_page_range(v, v.vm_start, v.vm_end, ZAP_FLAG_DROP_MARKER);
      this.mm.removeVma(v);
      shmem_release(v);
    }
    if (vmas.length > 0) free_pgtables(this.mm, start, end);
  }

  /** munmap(addr, len). */
  munmap(addr: number, len: number): void {
    const args = `0x${hex(addr)}, ${len}`;
    this.alive('munmap');
    if (addr % PAGE_SIZE !== 0 || len <= 0) this.fail(EINVAL, 'munmap', args);
    len = alignUp(len, PAGE_SIZE);
    if (addr + len > taskSizeMax(this.mm.levels)) this.fail(EINVAL, 'munmap', args);
    this.mm.mmap_write_lock();
    try {
      this.doMunmap(addr, len);
    } finally {
      this.mm.mmap_write_unlock();
    }
  }

  /** mprotect(addr, len, prot). */
  mprotect(addr: number, len: number, prot: number): void {
    const args = `0x${hex(addr)}, ${len}, ${prot}`;
    this.alive('mprotect');
    if (addr % PAGE_SIZE !== 0) this.fail(EINVAL, 'mprotect', args);
    if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) this.fail(EINVAL, 'mprotect', args);
    if (len === 0) return;
    len = alignUp(len, PAGE_SIZE);
    const end = addr + len;
    if (end <= addr) this.fail(ENOMEM, 'mprotect', args);
    const mm = this.mm;
    let err = 0;
    mm.mmap_write_lock();
    try {
      // do_mprotect_pkey() (mm/mprotect.c, 6.18): VMA by VMA from the first, which must cover
      // `addr`; a hole or a refused VMA ends the loop with the VMAs before it already changed.
      let v = mm.find_vma(addr);
      if (v === null || v.vm_start >= end || v.vm_start > addr) err = ENOMEM;
      else {
        let tmp = v.vm_start;
        let nstart = addr;
        for (; v !== null && v.vm_start < end; v = mm.find_vma(tmp)) {
          if (v.vm_start !== tmp) {
            err = ENOMEM;
            break;
          }
          if ((prot & PROT_WRITE) !== 0 && (v.vm_flags & VM_MAYWRITE) === 0) {
            err = EACCES;
            break;
          }
          let f = v.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC);
          if ((prot & PROT_READ) !== 0) f |= VM_READ;
          if ((prot & PROT_WRITE) !== 0) f |= VM_WRITE;
          if ((prot & PROT_EXEC) !== 0) f |= VM_EXEC;
          this.mprotectFixup(v, nstart, Math.min(v.vm_end, end), f >>> 0);
          // vma_iter_end(): the end of the VMA now there, which may have merged with the next.
          tmp = mm.find_vma(nstart)!.vm_end;
          nstart = tmp;
        }
        if (err === 0 && tmp < end) err = ENOMEM;
      }
    } finally {
      mm.mmap_write_unlock();
    }
    if (err !== 0) this.fail(err, 'mprotect', args);
  }

  /** mprotect_fixup(): give [start, end) of the VMA the new flags (split, then re-merged). */
  private mprotectFixup(vma: VmAreaStruct, start: number, end: number, flags: number): void {
    if (flags === vma.vm_flags) return;
    // Making private memory writable charges it (VM_ACCOUNT), and the charge stays when write
    // permission goes away again.
    if ((flags & VM_WRITE) !== 0 && (flags & (VM_SHARED | VM_NORESERVE)) === 0)
      flags = (flags | VM_ACCOUNT) >>> 0;
    for (const v of this.vmasIn(start, end)) {
      v.vm_flags = flags;
      setProt(v);
      this.changeProtection(v);
      this.vmaMerge(v);
    }
  }

  /** change_protection(): rewrite every present PTE/PMD of the VMA with its new protection. */
  private changeProtection(vma: VmAreaStruct): void {
    const pm = this.machine.phys;
    const mm = this.mm;
    const keepMask = ~(_PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PROTNONE) & 0xfff;
    const privateVma = (vma.vm_flags & VM_SHARED) === 0;
    for (let a = vma.vm_start; a < vma.vm_end; ) {
      const pmdT = mm.find_pmd_table(a);
      const next = Math.min(vma.vm_end, alignDown(a, PMD_SIZE) + PMD_SIZE);
      if (pmdT === 0) {
        a = next;
        continue;
      }
      const pi = pmd_index(a);
      readEntry(pm, pmdT, pi);
      if (E.lo === 0 && E.hi === 0) {
        a = next;
        continue;
      }
      if (pmd_leaf(E.lo)) {
        if (
          !pte_present(E.lo | (E.lo & _PAGE_PSE ? _PAGE_PRESENT : 0)) &&
          (E.lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0
        ) {
          a = next;
          continue;
        }
        const pfn = entry_pfn(E.lo, E.hi);
        let lo = (E.lo & keepMask) | vma.protLo | _PAGE_PSE;
        if (privateVma && (lo & _PAGE_RW) !== 0 && !(pm.PageAnonExclusive(pfn) && !pm.is_huge_zero_pfn(pfn)))
          lo &= ~_PAGE_RW;
        if (
          privateVma &&
          (vma.vm_flags & VM_WRITE) !== 0 &&
          pm.PageAnonExclusive(pfn) &&
          (E.lo & _PAGE_DIRTY) !== 0
        )
          lo |= _PAGE_RW;
        mk_pte(pfn, lo, vma.protHi);
        setEntry(pm, pmdT, pi, entryOut.lo, entryOut.hi);
        a = next;
        continue;
      }
      const pteT = mm.find_pte_table(a);
      for (; a < next; a += PAGE_SIZE) {
        const idx = pte_index(a);
        readEntry(pm, pteT, idx);
        if (!pte_present(E.lo)) continue;
        const pfn = entry_pfn(E.lo, E.hi);
        let lo = (E.lo & keepMask) | vma.protLo;
        // can_change_pte_writable(): only exclusive anon pages may become writable at once.
        const page = vm_normal_page(pm, E.lo, E.hi);
        if (privateVma && (lo & _PAGE_RW) !== 0) lo &= ~_PAGE_RW;
        if (
          privateVma &&
          (vma.vm_flags & VM_WRITE) !== 0 &&
          page !== 0 &&
          (pm.flags[page] & PG_anon_exclusive) !== 0 &&
          (E.lo & _PAGE_DIRTY) !== 0
        ) {
          lo |= _PAGE_RW;
        }
        if (!privateVma && (vma.vm_flags & VM_WRITE) !== 0) lo |= _PAGE_RW;
        mk_pte(pfn, lo, vma.protHi);
        setEntry(pm, pteT, idx, entryOut.lo, entryOut.hi);
      }
      this.machine.counters.tlbFlushes++;
    }
  }

  /** madvise(addr, len, advice). */
  madvise(addr: number, len: number, advice: number): void {
    const args = `0x${hex(addr)}, ${len}, ${advice}`;
    this.alive('madvise');
    if (!Object.values(MADV_BY_NAME).includes(advice)) this.fail(EINVAL, 'madvise', args);
    if (addr % PAGE_SIZE !== 0 || len < 0) this.fail(EINVAL, 'madvise', args);
    len = alignUp(len, PAGE_SIZE);
    const end = addr + len;
    if (end < addr) this.fail(EINVAL, 'madvise', args);
    if (end === addr) return;
    const mm = this.mm;
    const write =
      advice !== MADV_DONTNEED &&
      advice !== MADV_FREE &&
      advice !== MADV_COLD &&
      advice !== MADV_PAGEOUT &&
      advice !== MADV_WILLNEED &&
      advice !== MADV_COLLAPSE &&
      advice !== MADV_GUARD_INSTALL &&
      advice !== MADV_GUARD_REMOVE;
    if (advice === MADV_POPULATE_READ || advice === MADV_POPULATE_WRITE) {
      const err = this.madvisePopulate(addr, end, advice === MADV_POPULATE_WRITE);
      if (err !== 0) this.fail(-err, 'madvise', args);
      return;
    }
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
        err = this.madviseVma(v, s, e, advice, args, write);
        if (err !== 0) break;
        a = e;
      }
    } finally {
      if (write) mm.mmap_write_unlock();
      else mm.mmap_read_unlock();
    }
    if (err !== 0) this.fail(-err, 'madvise', args);
    if (unmapped) this.fail(ENOMEM, 'madvise', args);
  }

  /**
   * madvise_populate() (mm/madvise.c, 6.18): fault [start, end) in page by page, in address order
   * and across VMAs (faultin_page_range()); the first hole is ENOMEM and a VMA GUP refuses
   * (check_vma_flags()) EINVAL, with the pages before it left populated.
   */
  private madvisePopulate(start: number, end: number, write: boolean): number {
    const mm = this.mm;
    mm.mmap_read_lock();
    try {
      for (let a = start; a < end; a += PAGE_SIZE) {
        const v = mm.vma_lookup(a);
        if (v === null) return -ENOMEM;
        if ((v.vm_flags & (VM_IO | VM_PFNMAP)) !== 0 || (v.vm_flags & (write ? VM_WRITE : VM_READ)) === 0)
          return -EINVAL;
        const r = this.faultIn(v, a, write);
        if (r !== 0) return r;
      }
      return 0;
    } finally {
      mm.mmap_read_unlock();
    }
  }

  /** Set vm_flags on [s, e) of the VMA, splitting and re-merging as madvise_update_vma(). */
  private updateVmaFlags(v: VmAreaStruct, s: number, e: number, flags: number): void {
    flags >>>= 0;
    if (flags === v.vm_flags) return;
    for (const piece of this.vmasIn(s, e)) {
      piece.vm_flags = flags;
      setProt(piece);
      this.vmaMerge(piece);
    }
  }

  private madviseVma(
    v: VmAreaStruct,
    s: number,
    e: number,
    advice: number,
    _args: string,
    _write: boolean,
  ): number {
    const m = this.machine;
    switch (advice) {
      case MADV_DONTNEED:
      case MADV_DONTNEED_LOCKED:
        if ((v.vm_flags & (VM_PFNMAP | VM_HUGETLB)) !== 0) return -EINVAL;
        if (advice === MADV_DONTNEED && (v.vm_flags & VM_LOCKED) !== 0) return -EINVAL;
        zap_page_range(v, s, e);
        return 0;
      case MADV_FREE:
        if ((v.vm_flags & VM_SHARED) !== 0) return -EINVAL;
        this.splitPartialFolios(s, e);
        this.lazyFree(s, e);
        return 0;
      case MADV_PAGEOUT:
      case MADV_COLD:
        if ((v.vm_flags & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) !== 0) return -EINVAL; // can_madv_lru_vma()
        this.splitPartialFolios(s, e);
        if (advice === MADV_PAGEOUT) this.pageout(v, s, e);
        return 0;
      case MADV_WILLNEED:
      case MADV_NORMAL:
      case MADV_RANDOM:
      case MADV_SEQUENTIAL:
        return 0;
      case MADV_HUGEPAGE:
      case MADV_NOHUGEPAGE: {
        if ((v.vm_flags & VM_SHARED) !== 0 && advice === MADV_HUGEPAGE) {
          // shmem THP is governed by shmem_enabled; the flag is still set
        }
        const f =
          advice === MADV_HUGEPAGE
            ? (v.vm_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE
            : (v.vm_flags & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
        // hugepage_madvise(): the VMA, before the split, with its new flags.
        if (advice === MADV_HUGEPAGE) khugepaged_enter_vma(v, f);
        this.updateVmaFlags(v, s, e, f);
        return 0;
      }
      case MADV_MERGEABLE:
      case MADV_UNMERGEABLE: {
        const flags = { value: v.vm_flags };
        const err = m.hooks.ksm_madvise(v, s, e, advice, flags);
        if (err !== 0) return err;
        this.updateVmaFlags(v, s, e, flags.value);
        return 0;
      }
      case MADV_DONTFORK:
        this.updateVmaFlags(v, s, e, v.vm_flags | VM_DONTCOPY);
        return 0;
      case MADV_DOFORK:
        this.updateVmaFlags(v, s, e, v.vm_flags & ~VM_DONTCOPY);
        return 0;
      case MADV_WIPEONFORK:
        if ((v.vm_flags & VM_SHARED) !== 0) return -EINVAL;
        this.updateVmaFlags(v, s, e, v.vm_flags | VM_WIPEONFORK);
        return 0;
      case MADV_KEEPONFORK:
        this.updateVmaFlags(v, s, e, v.vm_flags & ~VM_WIPEONFORK);
        return 0;
      case MADV_DONTDUMP:
        this.updateVmaFlags(v, s, e, v.vm_flags | VM_DONTDUMP);
        return 0;
      case MADV_DODUMP:
        this.updateVmaFlags(v, s, e, v.vm_flags & ~VM_DONTDUMP);
        return 0;
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

  /**
   * The large-folio rule of madvise_cold_or_pageout_pte_range(), madvise_free_pte_range() and
   * madvise_free_huge_pmd() (mm/madvise.c, mm/huge_memory.c, 6.18): a THP that [s, e) covers only
   * in part is split (its zero-filled subpages then map the shared zero page) unless another mm
   * may map it; the huge zero page and THPs wholly inside stay as they are.
   */
  private splitPartialFolios(s: number, e: number): void {
    const m = this.machine;
    const pm = m.phys;
    const mm = this.mm;
    for (let a = s; a < e; ) {
      const next = Math.min(e, alignDown(a, PMD_SIZE) + PMD_SIZE);
      const pmdT = mm.find_pmd_table(a);
      if (pmdT === 0) {
        a = next;
        continue;
      }
      readEntry(pm, pmdT, pmd_index(a));
      if (E.lo === 0 && E.hi === 0) {
        a = next;
        continue;
      }
      if (pmd_leaf(E.lo)) {
        const folio = entry_pfn(E.lo, E.hi);
        if (next - a !== PMD_SIZE && !pm.is_huge_zero_pfn(folio)) this.splitUnshared(folio);
        a = next;
        continue;
      }
      const pteT = entryTable(E.lo, E.hi);
      while (a < next) {
        readEntry(pm, pteT, pte_index(a));
        const page = pte_present(E.lo) ? vm_normal_page(pm, E.lo, E.hi) : 0;
        if (page === 0 || !pm.folio_test_large(pm.folio(page))) {
          a += PAGE_SIZE;
          continue;
        }
        // madvise_folio_pte_batch(): the PTEs from here mapping consecutive pages of the folio.
        const folio = pm.folio(page);
        let nr = 1;
        while (a + nr * PAGE_SIZE < e && page + nr < folio + HPAGE_PMD_NR) {
          readEntry(pm, pteT, pte_index(a + nr * PAGE_SIZE));
          if (!pte_present(E.lo) || entry_pfn(E.lo, E.hi) !== page + nr) break;
          nr++;
        }
        if (nr < HPAGE_PMD_NR) this.splitUnshared(folio);
        a += nr * PAGE_SIZE;
      }
    }
  }

  /** split_folio() of a large folio this mm alone maps, holding a reference across it. */
  private splitUnshared(folio: number): void {
    const m = this.machine;
    if (folio_maybe_mapped_shared(m, folio)) return;
    m.phys.get_page(folio);
    split_folio(m, folio);
    m.phys.put_page(folio);
  }

  /**
   * madvise_free_pte_range() and madvise_free_huge_pmd() (mm/madvise.c, mm/huge_memory.c, 6.18),
   * after splitPartialFolios(): the PTEs (and whole PMDs of THPs no other mm maps) become clean
   * and old, and their anon folios lazyfree, so that reclaim discards them unless written again.
   * Folios in the swap cache are left alone (folio_free_swap() is not simulated).
   */
  private lazyFree(s: number, e: number): void {
    const pm = this.machine.phys;
    const mm = this.mm;
    const clean = ~(_PAGE_DIRTY | _PAGE_ACCESSED);
    for (let a = s; a < e; ) {
      const next = Math.min(e, alignDown(a, PMD_SIZE) + PMD_SIZE);
      const pmdT = mm.find_pmd_table(a);
      if (pmdT === 0) {
        a = next;
        continue;
      }
      const pi = pmd_index(a);
      readEntry(pm, pmdT, pi);
      if (E.lo === 0 && E.hi === 0) {
        a = next;
        continue;
      }
      if (pmd_leaf(E.lo)) {
        const folio = entry_pfn(E.lo, E.hi);
        if (!pm.is_huge_zero_pfn(folio) && !folio_maybe_mapped_shared(this.machine, folio)) {
          setEntry(pm, pmdT, pi, (E.lo & clean) >>> 0, E.hi);
          this.folioMarkLazyfree(folio);
        }
        a = next;
        continue;
      }
      const pteT = entryTable(E.lo, E.hi);
      for (; a < next; a += PAGE_SIZE) {
        const idx = pte_index(a);
        readEntry(pm, pteT, idx);
        if (!pte_present(E.lo)) continue;
        const page = vm_normal_page(pm, E.lo, E.hi);
        if (page === 0 || (pm.flags[pm.folio(page)] & PG_swapcache) !== 0) continue;
        setEntry(pm, pteT, idx, (E.lo & clean) >>> 0, E.hi);
        this.folioMarkLazyfree(pm.folio(page));
      }
    }
  }

  /** folio_mark_lazyfree(): anon, swap-backed, not in the swap cache (KSM pages are left alone). */
  private folioMarkLazyfree(folio: number): void {
    const pm = this.machine.phys;
    if (pm.PageAnon(folio) && !pm.PageKsm(folio) && (pm.flags[folio] & PG_swapcache) === 0)
      pm.flags[folio] |= PG_lazyfree;
  }

  /** MADV_PAGEOUT: reclaim the anon pages mapped only by this process. */
  private pageout(v: VmAreaStruct, s: number, e: number): void {
    const m = this.machine;
    const pm = m.phys;
    if ((v.vm_flags & VM_SHARED) !== 0) {
      this.pageoutShmem(v, s, e);
      return;
    }
    for (let a = s; a < e; a += PAGE_SIZE) {
      const pmdT = this.mm.find_pmd_table(a);
      if (pmdT === 0) continue;
      readEntry(pm, pmdT, pmd_index(a));
      let pfn = 0;
      if (pmd_leaf(E.lo)) {
        pfn = entry_pfn(E.lo, E.hi);
        if (pm.is_huge_zero_pfn(pfn)) continue;
      } else {
        const pteT = this.mm.find_pte_table(a);
        if (pteT === 0) continue;
        readEntry(pm, pteT, pte_index(a));
        if (!pte_present(E.lo)) continue;
        pfn = vm_normal_page(pm, E.lo, E.hi);
        if (pfn === 0) continue;
      }
      const folio = pm.folio(pfn);
      // folio_maybe_mapped_shared(): shared pages (KSM ones included) are left alone.
      if (pm.PageKsm(folio) || pm.folio_mapcount(folio) > pm.folio_nr_pages(folio)) continue;
      reclaim_folio(m, folio);
    }
  }

  /**
   * MADV_PAGEOUT of shared anonymous (shmem) pages: shrink_folio_list() unmaps every page only
   * this PTE maps (try_to_unmap()) before writing it out; without swap, shmem_writeout() keeps
   * it in the object (AOP_WRITEPAGE_ACTIVATE), and with swap the simulator keeps it there too
   * (shmem swap is not simulated): either way the process no longer maps it.
   */
  private pageoutShmem(v: VmAreaStruct, s: number, e: number): void {
    const pm = this.machine.phys;
    for (let a = s; a < e; a += PAGE_SIZE) {
      const pteT = this.mm.find_pte_table(a);
      if (pteT === 0) continue;
      readEntry(pm, pteT, pte_index(a));
      if (!pte_present(E.lo)) continue;
      const page = vm_normal_page(pm, E.lo, E.hi);
      // folio_mapcount() != folio_nr_pages(): mapped elsewhere too, left alone.
      if (page === 0 || pm.folio_mapcount(pm.folio(page)) !== pm.folio_nr_pages(pm.folio(page))) continue;
      zap_page_range(v, a, a + PAGE_SIZE);
    }
  }

  // ---- fork / exit / prctl ---------------------------------------------------------------------

  /** fork(): a child process sharing every private page copy-on-write (dup_mmap()). */
  fork(name = ''): Process {
    this.alive('fork');
    const m = this.machine;
    const parent = this.mm;
    // dup_mm(): mm_alloc_pgd() failing makes fork() fail with -ENOMEM.
    const pgd = m.phys.allocPageTable();
    if (pgd === 0) this.fail(ENOMEM, 'fork', '');
    const child = new Process(m, name, parent.levels, new MmStruct(m, parent.levels, pgd));
    const cmm = child.mm;
    parent.mmap_write_lock();
    try {
      cmm.flags = parent.flags & 0x2; // MMF_INIT_MASK carries MMF_VM_MERGE_ANY
      cmm.numaNode = parent.numaNode; // the mempolicy is inherited
      m.phys.allocNid = parent.numaNode;
      for (const v of parent.vmas) {
        if ((v.vm_flags & VM_DONTCOPY) !== 0) continue;
        const nv = new VmAreaStruct(cmm, v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.name);
        nv.protLo = v.protLo;
        nv.protHi = v.protHi;
        if (v.shmem !== null) {
          nv.shmem = v.shmem;
          v.shmem.users++;
        }
        cmm.insertVma(nv);
        if ((v.vm_flags & VM_WIPEONFORK) !== 0) continue;
        if (copy_page_range(nv, v) !== 0) {
          parent.mmap_write_unlock();
          child.exit();
          parent.mmap_write_lock();
          this.fail(ENOMEM, 'fork', '');
        }
      }
      khugepaged_fork(cmm, parent);
      if (m.hooks.ksm_fork(cmm, parent) !== 0) {
        parent.mmap_write_unlock();
        child.exit();
        parent.mmap_write_lock();
        this.fail(ENOMEM, 'fork', '');
      }
    } finally {
      parent.mmap_write_unlock();
    }
    return child;
  }

  /** exit(): tear the address space down (mmput(): ksm_exit(), then exit_mmap()). */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    const mm = this.mm;
    const m = this.machine;
    mm.mm_users = 0;
    m.hooks.ksm_exit(mm);
    khugepaged_exit(mm);
    mm.mmap_write_lock();
    for (const v of mm.vmas.slice()) {
      zap_page_range(v, v.vm_start, v.vm_end, ZAP_FLAG_DROP_MARKER);
      mm.removeVma(v);
      shmem_release(v);
    }
    free_all_pgtables(mm);
    mm.mmap_write_unlock();
    m.mms.delete(mm);
  }

  /** set_mempolicy(MPOL_BIND, {nid}): allocate this process's new pages on node `nid`. */
  set_mempolicy_node(nid: number): void {
    this.alive('set_mempolicy');
    if (!Number.isInteger(nid) || nid < 0 || nid >= this.machine.phys.nrNodes)
      this.fail(EINVAL, 'set_mempolicy', `MPOL_BIND, node ${nid}`);
    this.mm.numaNode = nid;
  }

  /** prctl(option, arg2, arg3, arg4, arg5): the options KSM provides; others -> EINVAL. */
  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    const args = `${option}, ${arg2}, ${arg3}, ${arg4}, ${arg5}`;
    this.alive('prctl');
    const r = this.machine.hooks.prctl(this.mm, option, arg2, arg3, arg4, arg5);
    if (r === undefined) this.fail(EINVAL, 'prctl', args);
    if (r < 0) this.fail(-r, 'prctl', args);
    return r;
  }

  // ---- user-space access -----------------------------------------------------------------------

  /** One fault for a user access (the arch fault handler's access_error() + handle_mm_fault()). */
  private faultIn(vma: VmAreaStruct, addr: number, write: boolean): number {
    if (write ? (vma.vm_flags & VM_WRITE) === 0 : (vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0)
      return -EFAULT;
    const mm = this.mm;
    mm.mmap_read_lock();
    const ret = handle_mm_fault(vma, addr, FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0));
    mm.mmap_read_unlock();
    if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
    if ((ret & VM_FAULT_ERROR) !== 0) return -EFAULT;
    return 0;
  }

  /**
   * The PFN backing addr for a user access, faulting as the hardware would; sets the accessed
   * (and for writes dirty) bits as the MMU does.
   */
  translate(addr: number, write: boolean, call: string): number {
    const m = this.machine;
    const pm = m.phys;
    const mm = this.mm;
    const vma = mm.vma_lookup(addr);
    if (vma === null) this.fail(EFAULT, call, `0x${hex(addr)}`);
    for (let tries = 0; tries < 8; tries++) {
      const pmdT = mm.find_pmd_table(addr);
      if (pmdT !== 0) {
        const pi = pmd_index(addr);
        readEntry(pm, pmdT, pi);
        if (pmd_leaf(E.lo) && (E.lo & _PAGE_PRESENT) !== 0 && (!write || (E.lo & _PAGE_RW) !== 0)) {
          if (write && (E.lo & _PAGE_DIRTY) === 0)
            setEntry(pm, pmdT, pi, (E.lo | _PAGE_DIRTY | _PAGE_ACCESSED) >>> 0, E.hi);
          return entry_pfn(E.lo, E.hi) + subpageIndex(addr, PMD_SIZE);
        }
        if (!pmd_leaf(E.lo) && (E.lo & _PAGE_PRESENT) !== 0) {
          const pteT = entryTable(E.lo, E.hi);
          const idx = pte_index(addr);
          readEntry(pm, pteT, idx);
          if ((E.lo & _PAGE_PRESENT) !== 0 && (!write || (E.lo & _PAGE_RW) !== 0)) {
            const want = (E.lo | _PAGE_ACCESSED | (write ? _PAGE_DIRTY : 0)) >>> 0;
            if (want !== E.lo) setEntry(pm, pteT, idx, want, E.hi);
            return entry_pfn(E.lo, E.hi);
          }
        }
      }
      const r = this.faultIn(vma, addr, write);
      if (r !== 0) this.fail(-r, call, `0x${hex(addr)}`);
    }
    this.fail(EAGAIN, call, `0x${hex(addr)}: fault did not resolve`);
  }

  /** Write bytes to user memory (like a store loop in the process). */
  write(addr: number, data: Uint8Array): void {
    this.alive('write');
    let off = 0;
    while (off < data.length) {
      const a = addr + off;
      const inPage = offsetInPage(a);
      const n = Math.min(PAGE_SIZE - inPage, data.length - off);
      const pfn = this.translate(a, true, 'write');
      this.machine.phys.writeBytes(pfn, inPage, data, off, n);
      off += n;
    }
  }

  /** Write one byte. */
  writeByte(addr: number, v: number): void {
    this.alive('write');
    const pfn = this.translate(addr, true, 'write');
    this.machine.phys.writeByte(pfn, offsetInPage(addr), v);
  }

  /** Overwrite a whole page (addr page-aligned) with 4096 bytes. */
  writePage(addr: number, page: Uint8Array): void {
    VM_BUG_ON(addr % PAGE_SIZE !== 0 || page.length !== PAGE_SIZE, 'writePage: unaligned or short page');
    this.alive('write');
    const pfn = this.translate(addr, true, 'write');
    this.machine.phys.writePage(pfn, page);
  }

  /** Read bytes from user memory. */
  read(addr: number, len: number): Uint8Array {
    this.alive('read');
    const out = new Uint8Array(len);
    let off = 0;
    while (off < len) {
      const a = addr + off;
      const inPage = offsetInPage(a);
      const n = Math.min(PAGE_SIZE - inPage, len - off);
      const pfn = this.translate(a, false, 'read');
      this.machine.phys.readBytes(pfn, inPage, out, off, n);
      off += n;
    }
    return out;
  }

  readByte(addr: number): number {
    this.alive('read');
    const pfn = this.translate(addr, false, 'read');
    return this.machine.phys.readByte(pfn, offsetInPage(addr));
  }

  /** Read one byte of the page (maps the zero page where nothing is mapped yet). */
  touch(addr: number): void {
    this.alive('read');
    this.translate(addr, false, 'read');
  }
}

export { VM_MAYSHARE };
