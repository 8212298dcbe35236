// User-space memory access as the CPU performs it: the MMU's translation of a user address
// (present and, for writes, writable entries; accessed/dirty bits set as the hardware does) and,
// when it faults, the x86 fault handler (arch/x86/mm/fault.c: do_user_addr_fault()'s
// access_error() + handle_mm_fault() under the mmap read lock). Kernel-style: PFNs or -errno.

import { EAGAIN, EFAULT, ENOMEM, PMD_SIZE, subpageIndex } from '@mmsim/core';
import { _PAGE_ACCESSED, _PAGE_DIRTY, _PAGE_PRESENT, _PAGE_RW, entry_pfn, pmd_leaf } from './arch.ts';
import { FAULT_FLAG_USER, FAULT_FLAG_WRITE, VM_FAULT_ERROR, VM_FAULT_OOM } from './fault.ts';
import { handle_mm_fault } from './memory.ts';
import { type MmStruct, VM_EXEC, VM_READ, VM_WRITE, type VmAreaStruct } from './mm.ts';
import { E, entryTable, pmd_index, pte_index, readEntry, setEntry } from './pgtable.ts';

/** Faults one user access may take before the access is given up (-EAGAIN). */
const MAX_USER_FAULT_RETRIES = 8;

/** do_user_addr_fault() for addr in vma: 0, -EFAULT (access_error(), SIGSEGV/SIGBUS) or -ENOMEM. */
export function do_user_addr_fault(vma: VmAreaStruct, addr: number, write: boolean): number {
  if (write ? (vma.vm_flags & VM_WRITE) === 0 : (vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0)
    return -EFAULT;
  const mm = vma.vm_mm;
  mm.mmap_read_lock();
  const ret = handle_mm_fault(vma, addr, FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0));
  mm.mmap_read_unlock();
  if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
  if ((ret & VM_FAULT_ERROR) !== 0) return -EFAULT;
  return 0;
}

/**
 * The PFN backing addr for a user access, faulting as the hardware would; sets the accessed
 * (and for writes dirty) bits as the MMU does. -EFAULT without a VMA or on a bad access, -ENOMEM,
 * -EAGAIN when the fault does not resolve.
 */
export function user_access_pfn(mm: MmStruct, addr: number, write: boolean): number {
  const pm = mm.machine.phys;
  const vma = mm.vma_lookup(addr);
  if (vma === null) return -EFAULT;
  for (let tries = 0; tries < MAX_USER_FAULT_RETRIES; tries++) {
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
    const r = do_user_addr_fault(vma, addr, write);
    if (r !== 0) return r;
  }
  return -EAGAIN;
}
