// mm_struct, vm_area_struct and anon_vma (include/linux/mm_types.h, mm/mmap.c, mm/vma.c,
// mm/rmap.c): address spaces with VMAs ordered by address (find_vma in O(log n)), the vm_flags,
// the mmap_lock as an asserted reader/writer lock, and the page-table tree root.

import { BUG, PUD_SIZE, VM_BUG_ON } from '@mmsim/core';
import { _PAGE_PRESENT, p4d_bad, pmd_leaf, pud_leaf } from './arch.ts';
import type { MappedFile } from './filemap.ts';
import type { Machine } from './machine.ts';
import {
  E,
  entryTable,
  type PagingLevels,
  p4d_index,
  pgd_index,
  pmd_index,
  populateEntry,
  pud_index,
  readEntry,
} from './pgtable.ts';
import { MM_ID_MIN } from './physmem.ts';
import type { ShmemObject } from './shmem.ts';

// ---- vm_flags (include/linux/mm.h) ----------------------------------------------------------
export const VM_NONE = 0;
export const VM_READ = 0x1;
export const VM_WRITE = 0x2;
export const VM_EXEC = 0x4;
export const VM_SHARED = 0x8;
export const VM_MAYREAD = 0x10;
export const VM_MAYWRITE = 0x20;
export const VM_MAYEXEC = 0x40;
export const VM_MAYSHARE = 0x80;
export const VM_GROWSDOWN = 0x100;
export const VM_UFFD_MISSING = 0x200;
export const VM_PFNMAP = 0x400;
export const VM_UFFD_WP = 0x1000;
export const VM_LOCKED = 0x2000;
export const VM_IO = 0x4000;
export const VM_SEQ_READ = 0x8000;
export const VM_RAND_READ = 0x10000;
export const VM_DONTCOPY = 0x20000;
export const VM_DONTEXPAND = 0x40000;
export const VM_ACCOUNT = 0x100000;
export const VM_NORESERVE = 0x200000;
export const VM_HUGETLB = 0x400000;
export const VM_WIPEONFORK = 0x2000000;
export const VM_DONTDUMP = 0x4000000;
export const VM_SOFTDIRTY = 0x8000000;
export const VM_MIXEDMAP = 0x10000000;
export const VM_HUGEPAGE = 0x20000000;
export const VM_NOHUGEPAGE = 0x40000000;
/** Bit 31: use `(flags & VM_MERGEABLE) !== 0`, and `>>> 0` after setting it. */
export const VM_MERGEABLE = 0x80000000;
/** VM_SPECIAL: mappings KSM, THP and VMA merging stay away from. */
export const VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

// ---- mm flags (include/linux/sched/coredump.h / mm_types.h MMF_*) --------------------------
export const MMF_VM_MERGEABLE = 1 << 0;
export const MMF_VM_MERGE_ANY = 1 << 1;
export const MMF_VM_HUGEPAGE = 1 << 2;

// ---- rss counters (enum NR_MM_COUNTERS) ----------------------------------------------------
export const MM_FILEPAGES = 0;
export const MM_ANONPAGES = 1;
export const MM_SWAPENTS = 2;
export const MM_SHMEMPAGES = 3;

/** struct anon_vma: the root of an anon rmap tree; VMAs that may map its pages hang off it. */
export class AnonVma {
  readonly id: number;
  /** The anon_vma this one was forked from (anon_vma->parent); root points at the tree root. */
  readonly parent: AnonVma | null;
  readonly root: AnonVma;
  /** The VMAs linked through anon_vma_chain (the kernel's interval tree rb_root). */
  readonly vmas: VmAreaStruct[] = [];

  constructor(id: number, parent: AnonVma | null) {
    this.id = id;
    this.parent = parent;
    this.root = parent === null ? this : parent.root;
  }
}

let nextVmaId = 1;

/** struct vm_area_struct. */
export class VmAreaStruct {
  readonly id: number = nextVmaId++;
  vm_mm: MmStruct;
  vm_start: number;
  vm_end: number;
  vm_flags: number;
  /** Offset in pages: for anonymous VMAs, vm_start >> PAGE_SHIFT at creation. */
  vm_pgoff: number;
  /** vm_page_prot: the PTE protection bits (low and high words). */
  protLo = 0;
  protHi = 0;
  anon_vma: AnonVma | null = null;
  /** anon_vma_chain: every anon_vma whose pages this VMA may map (its own and its ancestors'). */
  anon_vma_chain: AnonVma[] = [];
  /** The shmem object behind a shared anonymous mapping. */
  shmem: ShmemObject | null = null;
  /** vm_file: the regular file a private file mapping maps (its page cache); null otherwise. */
  vm_file: MappedFile | null = null;
  /** Per-VMA lock state (CONFIG_PER_VMA_LOCK): write-locked during the current mmap_lock hold. */
  vmaWriteLocked = false;
  /** Simulator-side label (the scenario's region name), carried over by splits. */
  name: string;

  constructor(mm: MmStruct, start: number, end: number, flags: number, pgoff: number, name: string) {
    this.vm_mm = mm;
    this.vm_start = start;
    this.vm_end = end;
    this.vm_flags = flags >>> 0;
    this.vm_pgoff = pgoff;
    this.name = name;
  }

  /** vma_is_anonymous(): private anonymous (shared anonymous memory is shmem-backed). */
  vma_is_anonymous(): boolean {
    return this.shmem === null && this.vm_file === null;
  }

  /** vma_pages(). */
  get pages(): number {
    return (this.vm_end - this.vm_start) / 4096;
  }
}

/** An mmap_lock mode for assertions. */
export type LockMode = 'read' | 'write';

let nextMmId = 1;

/** mm_id_alloc() (kernel/fork.c, 6.15+): the lowest id from MM_ID_MIN that no live mm has
 * (ida_alloc_range()); large folios record which mms map them by it (rmap.ts). */
export function mm_id_alloc(m: Machine): number {
  let id = MM_ID_MIN;
  while (m.mmIdsInUse.has(id)) id++;
  m.mmIdsInUse.add(id);
  return id;
}

/** mm_id_free() (__mmdrop()). */
export function mm_id_free(m: Machine, id: number): void {
  m.mmIdsInUse.delete(id);
}

/** struct mm_struct. */
export class MmStruct {
  readonly id: number = nextMmId++;
  readonly machine: Machine;
  readonly levels: PagingLevels;
  /** mm->mm_id (CONFIG_MM_ID): this mm's id in large folios' mm-id slots. */
  readonly mm_id: number;
  /** The PGD page (mm->pgd). */
  pgd: number;
  /** VMAs sorted by vm_start (the maple tree's order). */
  vmas: VmAreaStruct[] = [];
  flags = 0;
  /** mm_users: 0 once the owner exited (ksm_test_exit()). */
  mm_users = 1;
  /** rss_stat: MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES (in pages). */
  readonly rss = new Float64Array(4);
  /** Page-table pages of this mm (pgtables_bytes / PAGE_SIZE). */
  nrPtes = 0;
  /** The node this process allocates from (a bound mempolicy, set_mempolicy()). */
  numaNode = 0;
  /** KSM's per-mm statistics (mm_struct's ksm fields). */
  ksm_merging_pages = 0;
  ksm_rmap_items = 0;
  ksm_zero_pages = 0;
  /** mmap_lock state. */
  private readers = 0;
  private writer = false;
  /** Page tables deposited under huge PMDs (pgtable_trans_huge_deposit()). */
  readonly deposited: Map<number, number> = new Map();
  /** find_pmd_table()'s cache (simulator-only). */
  private pmdCacheRegion = -1;
  private pmdCachePud = 0;
  private pmdCachePmd = 0;
  /** mm->page_table_lock held. */
  pageTableLocked = false;
  /** mmap_base for the top-down allocator. */
  mmap_base: number;
  /** The KSM slot attached by ksm_enter (owned by @mmsim/ksm). */
  ksmSlot: unknown = null;
  /** Owner label for dumps. */
  owner = '';

  /** `pgd`: a page-table page the caller already allocated (fork: dup_mm() fails with -ENOMEM
   * when mm_alloc_pgd() does), else one is allocated here. */
  constructor(machine: Machine, levels: PagingLevels, pgd: number = machine.phys.allocPageTable()) {
    this.machine = machine;
    this.levels = levels;
    if (pgd === 0) BUG('mm_alloc_pgd: out of memory');
    this.pgd = pgd;
    this.nrPtes = 1;
    this.mm_id = mm_id_alloc(machine);
    // A fixed mmap_base (no ASLR): just below the 47-bit limit minus a stack gap, as
    // mm/util.c's mmap_base() computes for the default 8 MiB stack rlimit.
    this.mmap_base = 2 ** 47 - 128 * 2 ** 20 - 4096 * 2 ** 10;
  }

  // ---- mmap_lock ---------------------------------------------------------------------------
  mmap_read_lock(): void {
    VM_BUG_ON(this.writer, 'mmap_read_lock: write-locked by this context (deadlock)');
    this.readers++;
  }
  mmap_read_unlock(): void {
    VM_BUG_ON(this.readers <= 0, 'mmap_read_unlock: not read-locked');
    this.readers--;
  }
  mmap_write_lock(): void {
    VM_BUG_ON(this.writer || this.readers > 0, 'mmap_write_lock: already locked (deadlock)');
    this.writer = true;
  }
  mmap_write_unlock(): void {
    VM_BUG_ON(!this.writer, 'mmap_write_unlock: not write-locked');
    this.writer = false;
    for (const v of this.vmas) v.vmaWriteLocked = false;
  }
  /** mmap_write_downgrade(). */
  mmap_write_downgrade(): void {
    this.mmap_write_unlock();
    this.readers++;
  }
  mmap_assert_locked(): void {
    if (!this.writer && this.readers === 0) BUG('mmap_assert_locked: mmap_lock not held');
  }
  mmap_assert_write_locked(): void {
    if (!this.writer) BUG('mmap_assert_write_locked: mmap_lock not held for write');
  }
  get mmapLocked(): LockMode | null {
    return this.writer ? 'write' : this.readers > 0 ? 'read' : null;
  }

  // ---- VMAs --------------------------------------------------------------------------------

  /** Index of the first VMA with vm_end > addr (binary search). */
  vmaIndexAfter(addr: number): number {
    let lo = 0;
    let hi = this.vmas.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.vmas[mid].vm_end > addr) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** find_vma(): the first VMA with vm_end > addr, or null. */
  find_vma(addr: number): VmAreaStruct | null {
    const i = this.vmaIndexAfter(addr);
    return i < this.vmas.length ? this.vmas[i] : null;
  }

  /** vma_lookup(): the VMA containing addr, or null. */
  vma_lookup(addr: number): VmAreaStruct | null {
    const v = this.find_vma(addr);
    return v !== null && v.vm_start <= addr ? v : null;
  }

  /** find_vma_intersection(). */
  find_vma_intersection(start: number, end: number): VmAreaStruct | null {
    const v = this.find_vma(start);
    return v !== null && v.vm_start < end ? v : null;
  }

  insertVma(vma: VmAreaStruct): void {
    const i = this.vmaIndexAfter(vma.vm_start);
    VM_BUG_ON(i < this.vmas.length && this.vmas[i].vm_start < vma.vm_end, 'insertVma: overlap');
    this.vmas.splice(i, 0, vma);
  }

  removeVma(vma: VmAreaStruct): void {
    const i = this.vmas.indexOf(vma);
    VM_BUG_ON(i < 0, 'removeVma: not in mm');
    this.vmas.splice(i, 1);
    for (const av of vma.anon_vma_chain) {
      const j = av.vmas.indexOf(vma);
      if (j >= 0) av.vmas.splice(j, 1);
    }
  }

  // ---- page-table tree ---------------------------------------------------------------------

  /**
   * The PMD table covering addr, or 0 where a level is missing; found_pud_table() is then the
   * PUD table above a non-zero one.
   */
  find_pmd_table(addr: number): number {
    // A one-entry cache of the last PMD table found, keyed by the 1 GiB region: upper-level
    // tables only go away in free_pgtables() and at exit, which drop it (pmdCacheDrop()).
    const region = Math.floor(addr / PUD_SIZE);
    if (region === this.pmdCacheRegion) return this.pmdCachePmd;
    return this.find_pmd_table_slow(addr, region);
  }

  /** find_pmd_table() past its cache: kept apart so the hit path above stays small enough for
   * V8 to inline into the walkers. */
  private find_pmd_table_slow(addr: number, region: number): number {
    const pm = this.machine.phys;
    let t = this.pgd;
    if (this.levels === 5) {
      readEntry(pm, t, pgd_index(5, addr));
      if (E.lo === 0 && E.hi === 0) return 0;
      t = entryTable(E.lo, E.hi);
    }
    readEntry(pm, t, p4d_index(addr));
    // A bad P4D is no table: the caller's own walk finds it (and clears it, as the walker does).
    if ((E.lo === 0 && E.hi === 0) || p4d_bad(E.lo)) return 0;
    const pudT = entryTable(E.lo, E.hi);
    readEntry(pm, pudT, pud_index(addr));
    if ((E.lo === 0 && E.hi === 0) || pud_leaf(E.lo)) return 0;
    const pmdT = entryTable(E.lo, E.hi);
    this.pmdCacheRegion = region;
    this.pmdCachePud = pudT;
    this.pmdCachePmd = pmdT;
    return pmdT;
  }

  /** The PUD table above the PMD table find_pmd_table() last returned (non-zero). */
  found_pud_table(): number {
    return this.pmdCachePud;
  }

  /** Forget the cached PMD table (an upper-level table was freed). */
  pmdCacheDrop(): void {
    this.pmdCacheRegion = -1;
  }

  /** The PTE table covering addr, or 0 when the PMD is none or a huge leaf. */
  find_pte_table(addr: number): number {
    const pmdT = this.find_pmd_table(addr);
    if (pmdT === 0) return 0;
    readEntry(this.machine.phys, pmdT, pmd_index(addr));
    if ((E.lo === 0 && E.hi === 0) || pmd_leaf(E.lo) || (E.lo & _PAGE_PRESENT) === 0) return 0;
    return entryTable(E.lo, E.hi);
  }

  /** Allocate one page-table page for this mm (pXd_alloc_one()); 0 on failure. */
  private allocTable(): number {
    const t = this.machine.phys.allocPageTable();
    if (t !== 0) this.nrPtes++;
    return t;
  }

  /**
   * The PMD table for addr, allocating every missing level (__p4d_alloc/__pud_alloc/
   * __pmd_alloc); 0 when a page-table allocation fails.
   */
  pmd_alloc(addr: number): number {
    // Every level down to the PMD table is there when find_pmd_table()'s cache has it.
    if (Math.floor(addr / PUD_SIZE) === this.pmdCacheRegion) return this.pmdCachePmd;
    let t = this.pgd;
    if (this.levels === 5) {
      t = this.table_alloc(t, pgd_index(5, addr)); // p4d_alloc()
      if (t === 0) return 0;
    }
    t = this.table_alloc(t, p4d_index(addr)); // pud_alloc()
    if (t === 0) return 0;
    const n = this.table_alloc(t, pud_index(addr));
    VM_BUG_ON(n !== 0 && pud_leaf(E.lo), 'pmd_alloc: PUD leaf in an anonymous mm');
    return n;
  }

  /** The table entry `idx` of `table` points at, given a new (empty) table first if it is none
   * (__p4d_alloc(), __pud_alloc(), __pmd_alloc()); 0 when that allocation fails. The entry's
   * words stay in E. */
  private table_alloc(table: number, idx: number): number {
    const pm = this.machine.phys;
    readEntry(pm, table, idx);
    if (E.lo !== 0 || E.hi !== 0) return entryTable(E.lo, E.hi);
    const n = this.allocTable();
    if (n !== 0) populateEntry(pm, table, idx, n);
    return n;
  }

  /** __pte_alloc(): give the PMD entry at (pmdTable, idx) a PTE table; false on failure. */
  pte_alloc(pmdTable: number, idx: number): boolean {
    const pm = this.machine.phys;
    readEntry(pm, pmdTable, idx);
    if (E.lo !== 0 || E.hi !== 0) return true;
    const n = this.allocTable();
    if (n === 0) return false;
    populateEntry(pm, pmdTable, idx, n);
    return true;
  }

  get_mm_counter(member: number): number {
    return this.rss[member];
  }

  add_mm_counter(member: number, value: number): void {
    this.rss[member] += value;
  }
}

/** is_cow_mapping(): private and may become writable. */
export function is_cow_mapping(flags: number): boolean {
  return (flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE;
}
