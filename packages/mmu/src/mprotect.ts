// mprotect(2) (mm/mprotect.c, Linux 6.18): do_mprotect_pkey() VMA by VMA, mprotect_fixup()
// (split, new flags, re-merge) and change_protection(), the kernel's own hand loop over the
// page tables. Kernel-style: 0 or a negative errno.

import { alignDown, alignUp, EACCES, EINVAL, ENOMEM, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  _PAGE_DIRTY,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  entry_pfn,
  entryOut,
  mk_pte,
  pmd_leaf,
  pte_present,
} from './arch.ts';
import { vm_normal_page } from './memory.ts';
import {
  type MmStruct,
  VM_ACCOUNT,
  VM_EXEC,
  VM_MAYWRITE,
  VM_NORESERVE,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type VmAreaStruct,
} from './mm.ts';
import { PROT_EXEC, PROT_READ, PROT_WRITE } from './mman.ts';
import { E, pmd_index, pte_index, readEntry, setEntry } from './pgtable.ts';
import { PG_anon_exclusive } from './physmem.ts';
import { vma_merge, vma_set_page_prot, vma_split_range } from './vma.ts';

/** do_mprotect_pkey() without protection keys: takes the mmap lock for write. */
export function do_mprotect_pkey(mm: MmStruct, addr: number, len: number, prot: number): number {
  if (addr % PAGE_SIZE !== 0) return -EINVAL;
  if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) !== 0) return -EINVAL;
  if (len === 0) return 0;
  len = alignUp(len, PAGE_SIZE);
  const end = addr + len;
  if (end <= addr) return -ENOMEM;
  let err = 0;
  mm.mmap_write_lock();
  try {
    // VMA by VMA from the first, which must cover `addr`; a hole or a refused VMA ends the loop
    // with the VMAs before it already changed.
    let v = mm.find_vma(addr);
    if (v === null || v.vm_start >= end || v.vm_start > addr) err = -ENOMEM;
    else {
      let tmp = v.vm_start;
      let nstart = addr;
      for (; v !== null && v.vm_start < end; v = mm.find_vma(tmp)) {
        if (v.vm_start !== tmp) {
          err = -ENOMEM;
          break;
        }
        if ((prot & PROT_WRITE) !== 0 && (v.vm_flags & VM_MAYWRITE) === 0) {
          err = -EACCES;
          break;
        }
        let f = v.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC);
        if ((prot & PROT_READ) !== 0) f |= VM_READ;
        if ((prot & PROT_WRITE) !== 0) f |= VM_WRITE;
        if ((prot & PROT_EXEC) !== 0) f |= VM_EXEC;
        mprotect_fixup(mm, v, nstart, Math.min(v.vm_end, end), f >>> 0);
        // vma_iter_end(): the end of the VMA now there, which may have merged with the next.
        tmp = mm.find_vma(nstart)!.vm_end;
        nstart = tmp;
      }
      if (err === 0 && tmp < end) err = -ENOMEM;
    }
  } finally {
    mm.mmap_write_unlock();
  }
  return err;
}

/** mprotect_fixup(): give [start, end) of the VMA the new flags (split, then re-merged). */
function mprotect_fixup(mm: MmStruct, vma: VmAreaStruct, start: number, end: number, flags: number): void {
  if (flags === vma.vm_flags) return;
  // Making private memory writable charges it (VM_ACCOUNT), and the charge stays when write
  // permission goes away again.
  if ((flags & VM_WRITE) !== 0 && (flags & (VM_SHARED | VM_NORESERVE)) === 0)
    flags = (flags | VM_ACCOUNT) >>> 0;
  for (const v of vma_split_range(mm, start, end)) {
    v.vm_flags = flags;
    vma_set_page_prot(v);
    change_protection(v);
    vma_merge(mm, v);
  }
}

/** change_protection(): rewrite every present PTE/PMD of the VMA with its new protection. */
export function change_protection(vma: VmAreaStruct): void {
  const mm = vma.vm_mm;
  const pm = mm.machine.phys;
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
    mm.machine.counters.tlbFlushes++;
  }
}
