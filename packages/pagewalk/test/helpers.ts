import {
  alignDown,
  DEFAULT_KERNEL_PROFILE,
  type KernelProfile,
  offsetInPage,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  checkMmInvariants,
  E,
  entry_pfn,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  type Machine,
  MmStruct,
  type PagingLevels,
  PROT_READ,
  PROT_WRITE,
  pmd_index,
  pmd_leaf,
  pte_index,
  pte_present,
  readEntry,
  reclaim_folio,
  split_folio,
  user_access_pfn,
  VM_HUGEPAGE,
  VM_NOHUGEPAGE,
  vm_mmap_pgoff,
  vm_munmap,
  vm_normal_page,
  vma_modify_flags,
  zap_page_range,
} from '@mmsim/mmu';
import { failOnWarn, setup as setupMachine } from '@mmsim/test-utils';

/**
 * A user process reduced to what the walker's tests need, built on @mmsim/mmu's kernel calls
 * (the Process syscall API lives above the walker, in @mmsim/mm). Kernel errors throw here.
 */
export class TestProcess {
  readonly machine: Machine;
  readonly mm: MmStruct;

  constructor(machine: Machine, levels: PagingLevels) {
    this.machine = machine;
    this.mm = new MmStruct(machine, levels);
    machine.mms.add(this.mm);
  }

  private ok(r: number, call: string): number {
    if (r < 0) throw new Error(`${call}: errno ${-r}`);
    return r;
  }

  mmap(addr: number | null, len: number, prot: number, flags: number): number {
    return this.ok(vm_mmap_pgoff(this.mm, addr, len, prot, flags), 'mmap');
  }

  munmap(addr: number, len: number): void {
    this.ok(vm_munmap(this.mm, addr, len), 'munmap');
  }

  /** MADV_HUGEPAGE, MADV_DONTNEED (zap) and MADV_PAGEOUT (reclaim of the unshared folios). */
  madvise(addr: number, len: number, advice: number): void {
    const mm = this.mm;
    const end = addr + len;
    const vma = mm.vma_lookup(addr);
    if (vma === null || vma.vm_end < end) throw new Error('madvise: not one VMA');
    if (advice === MADV_HUGEPAGE) {
      mm.mmap_write_lock();
      vma_modify_flags(mm, vma, addr, end, (vma.vm_flags & ~VM_NOHUGEPAGE) | VM_HUGEPAGE);
      mm.mmap_write_unlock();
    } else if (advice === MADV_DONTNEED) {
      mm.mmap_read_lock();
      zap_page_range(vma, addr, end);
      mm.mmap_read_unlock();
    } else if (advice === MADV_PAGEOUT) {
      mm.mmap_read_lock();
      for (let a = addr; a < end; a += PAGE_SIZE) this.pageout(a, end);
      mm.mmap_read_unlock();
    } else throw new Error(`madvise: advice ${advice} not simulated in the walker's tests`);
  }

  private pageout(a: number, end: number): void {
    const m = this.machine;
    const pm = m.phys;
    const pmdT = this.mm.find_pmd_table(a);
    if (pmdT === 0) return;
    readEntry(pm, pmdT, pmd_index(a));
    let page: number;
    if (pmd_leaf(E.lo)) {
      page = entry_pfn(E.lo, E.hi);
      if (pm.is_huge_zero_pfn(page)) return;
      if (a !== alignDown(a, PMD_SIZE) || end - a < PMD_SIZE) split_folio(m, page);
      else {
        reclaim_folio(m, page);
        return;
      }
    }
    const pteT = this.mm.find_pte_table(a);
    if (pteT === 0) return;
    readEntry(pm, pteT, pte_index(a));
    if (!pte_present(E.lo)) return;
    page = vm_normal_page(pm, E.lo, E.hi);
    if (page === 0) return;
    const folio = pm.folio(page);
    if (!pm.PageKsm(folio) && pm.folio_mapcount(folio) <= pm.folio_nr_pages(folio)) reclaim_folio(m, folio);
  }

  translate(addr: number, write: boolean, call: string): number {
    return this.ok(user_access_pfn(this.mm, addr, write), call);
  }

  writeByte(addr: number, v: number): void {
    this.machine.phys.writeByte(this.translate(addr, true, 'write'), offsetInPage(addr), v);
  }

  readByte(addr: number): number {
    return this.machine.phys.readByte(this.translate(addr, false, 'read'), offsetInPage(addr));
  }
}

export function setup(
  levels: PagingLevels = 4,
  memoryMiB = 64,
  kernel: KernelProfile = DEFAULT_KERNEL_PROFILE,
): { m: Machine; p: TestProcess } {
  return setupMachine((m) => new TestProcess(m, levels), { memoryMiB, levels, kernel });
}

/** mmap(start, len, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE). */
export function mapAt(p: TestProcess, start: number, len: number, prot = PROT_READ | PROT_WRITE): number {
  return p.mmap(start, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE);
}

export function withRead<T>(mm: MmStruct, fn: () => T): T {
  mm.mmap_read_lock();
  try {
    return fn();
  } finally {
    mm.mmap_read_unlock();
  }
}

export function withWrite<T>(mm: MmStruct, fn: () => T): T {
  mm.mmap_write_lock();
  try {
    return fn();
  } finally {
    mm.mmap_write_unlock();
  }
}

/** Fail the running test on any WARN_ON (docs/design.md §4). */
export { failOnWarn };

export function check(m: Machine): void {
  checkMmInvariants(m);
}
