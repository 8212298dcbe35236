// VMA splitting and merging (mm/vma.c, Linux 6.18, reduced to anonymous memory): vma_merge()
// of compatible neighbours, __split_vma() with vma_adjust_trans_huge(), and vma_modify_flags()
// for the callers that change a range's vm_flags (mprotect_fixup(), madvise_update_vma()).
// The caller holds the mmap lock for write.

import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { _PAGE_NX_HI, PAGE_NONE_LO, PAGE_READONLY_LO, PAGE_SHARED_LO, pmd_leaf } from './arch.ts';
import { split_huge_pmd } from './huge_memory.ts';
import { khugepaged_enter_vma } from './khugepaged.ts';
import { type MmStruct, VM_EXEC, VM_READ, VM_SHARED, VM_WRITE, VmAreaStruct } from './mm.ts';
import { E, pmd_index, readEntry } from './pgtable.ts';

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

/** vma_set_page_prot(): vm_page_prot from the VMA's vm_flags. */
export function vma_set_page_prot(vma: VmAreaStruct): void {
  const p = vm_get_page_prot(vma.vm_flags);
  vma.protLo = p.lo;
  vma.protHi = p.hi;
}

/** Whether `b` can be merged onto the end of `a` (is_mergeable_vma(), is_mergeable_anon_vma()). */
function can_vma_merge(a: VmAreaStruct, b: VmAreaStruct): boolean {
  return (
    a.vm_end === b.vm_start &&
    a.vm_flags === b.vm_flags &&
    a.shmem === null &&
    b.shmem === null &&
    a.vm_file === b.vm_file &&
    a.vm_pgoff + a.pages === b.vm_pgoff &&
    (a.anon_vma === null || b.anon_vma === null || a.anon_vma === b.anon_vma) &&
    (a.anon_vma === null || b.anon_vma === null
      ? a.anon_vma_chain.length <= 1 && b.anon_vma_chain.length <= 1
      : true)
  );
}

/** vma_merge(): merge vma with its neighbours when they are compatible; the VMA left there. */
export function vma_merge(mm: MmStruct, vma: VmAreaStruct): VmAreaStruct {
  let i = mm.vmas.indexOf(vma);
  let merged = false;
  if (i > 0 && can_vma_merge(mm.vmas[i - 1], vma)) {
    const prev = mm.vmas[i - 1];
    vma_expand(mm, prev, vma);
    vma = prev;
    i--;
    merged = true;
  }
  if (i + 1 < mm.vmas.length && can_vma_merge(vma, mm.vmas[i + 1])) {
    vma_expand(mm, vma, mm.vmas[i + 1]);
    merged = true;
  }
  // vma_merge_existing_range() (mm/vma.c, 6.18): the merged VMA may now suit khugepaged.
  if (merged) khugepaged_enter_vma(vma, vma.vm_flags);
  return vma;
}

/** vma_expand(): extend `a` over its successor `b` and drop `b`. */
function vma_expand(mm: MmStruct, a: VmAreaStruct, b: VmAreaStruct): void {
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

/** split_vma(): split the VMA containing addr so that a VMA starts at addr (__split_vma()). */
export function split_vma(mm: MmStruct, addr: number): void {
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
  tail.vm_file = vma.vm_file;
  if (vma.shmem !== null) {
    tail.shmem = vma.shmem;
    vma.shmem.users++;
  }
  if (addr % PMD_SIZE !== 0) vma_adjust_trans_huge(vma, addr);
  vma.vm_end = addr;
  mm.insertVma(tail);
}

/** vma_adjust_trans_huge(): a huge PMD straddling the split point is split. */
function vma_adjust_trans_huge(vma: VmAreaStruct, addr: number): void {
  const pmdT = vma.vm_mm.find_pmd_table(addr);
  if (pmdT === 0) return;
  const pi = pmd_index(addr);
  readEntry(vma.vm_mm.machine.phys, pmdT, pi);
  if (pmd_leaf(E.lo)) split_huge_pmd(vma, addr, pmdT, pi);
}

/** The VMAs covering [start, end), split at both ends (vma_modify()'s splits). */
export function vma_split_range(mm: MmStruct, start: number, end: number): VmAreaStruct[] {
  split_vma(mm, start);
  split_vma(mm, end);
  const out: VmAreaStruct[] = [];
  for (let v = mm.find_vma(start); v !== null && v.vm_start < end; v = mm.find_vma(v.vm_end)) out.push(v);
  return out;
}

/** vma_modify_flags(): set vm_flags on [start, end) of the VMA, splitting and re-merging. */
export function vma_modify_flags(
  mm: MmStruct,
  vma: VmAreaStruct,
  start: number,
  end: number,
  flags: number,
): void {
  flags >>>= 0;
  if (flags === vma.vm_flags) return;
  for (const piece of vma_split_range(mm, start, end)) {
    piece.vm_flags = flags;
    vma_set_page_prot(piece);
    vma_merge(mm, piece);
  }
}
