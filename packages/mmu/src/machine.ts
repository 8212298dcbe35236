// A simulated machine: physical memory, the swap device, the virtual clock, counters,
// tracepoints, global knobs (THP), and the hook registry through which higher layers (KSM)
// are called from the mm core, as the kernel calls ksm_fork()/ksm_exit()/ksm_madvise().

import {
  Counters,
  DEFAULT_KERNEL_PROFILE,
  HPAGE_PMD_NR,
  type KernelProfile,
  TraceBus,
  VirtualClock,
} from '@mmsim/core';
import type { MappedFile } from './filemap.ts';
import { CpuFbatches } from './lru.ts';
import type { Migration } from './migrate.ts';
import type { AnonVma, MmStruct, VmAreaStruct } from './mm.ts';
import type { PagingLevels } from './pgtable.ts';
import { PhysMem } from './physmem.ts';
import { SwapDevice } from './swap.ts';

/** THP policy (/sys/kernel/mm/transparent_hugepage/enabled, defrag, use_zero_page). */
export interface ThpSettings {
  enabled: 'always' | 'madvise' | 'never';
  use_zero_page: boolean;
}

/**
 * khugepaged's globals (mm/khugepaged.c, 6.18): its sysfs knobs and counters, and struct
 * khugepaged_scan (the registered mms in list order and the cursor). The code is khugepaged.ts.
 */
export interface KhugepagedState {
  pages_to_scan: number;
  max_ptes_none: number;
  max_ptes_swap: number;
  max_ptes_shared: number;
  pages_collapsed: number;
  full_scans: number;
  /** khugepaged_scan.mm_head: the mm_slots, in list order. */
  readonly mm_head: MmStruct[];
  /** khugepaged_scan.mm_slot: the mm being scanned, null at the list head. */
  mm_slot: MmStruct | null;
  /** khugepaged_scan.address: the next address to scan in mm_slot. */
  address: number;
}

/** Callbacks from the mm core into KSM (mm/ksm.h's hooks). Every field is always present. */
export interface MmHooks {
  /** ksm_fork(): 0 or -ENOMEM. */
  ksm_fork: (child: MmStruct, parent: MmStruct) => number;
  /** ksm_exit(): the mm is being torn down. */
  ksm_exit: (mm: MmStruct) => void;
  /** ksm_madvise(): MADV_MERGEABLE/UNMERGEABLE on one VMA range; returns 0 or -errno and may
   * update `flags.value` (the VMA's new vm_flags). */
  ksm_madvise: (
    vma: VmAreaStruct,
    start: number,
    end: number,
    advice: number,
    flags: { value: number },
  ) => number;
  /** ksm_add_vma(): a new VMA in an MMF_VM_MERGE_ANY mm. */
  ksm_add_vma: (vma: VmAreaStruct) => void;
  /** prctl() options KSM owns (PR_SET/GET_MEMORY_MERGE); undefined = not a KSM option. */
  prctl: (
    mm: MmStruct,
    option: number,
    arg2: number,
    arg3: number,
    arg4: number,
    arg5: number,
  ) => number | undefined;
  /** rmap_walk_ksm(): visit every (vma, address) mapping a KSM folio. */
  rmap_walk_ksm: (folio: number, visit: (vma: VmAreaStruct, addr: number) => boolean) => void;
  /** folio_migrate_ksm(): a KSM page moved from `oldPfn` to `newPfn`. */
  folio_migrate_ksm: (newPfn: number, oldPfn: number) => void;
  /** ksm_might_unmap_zero_page(): a KSM-placed zero page PTE (dirty zero-pfn PTE) goes away. */
  ksm_might_unmap_zero_page: (mm: MmStruct, lo: number) => void;
}

const noHooks: MmHooks = {
  ksm_fork: () => 0,
  ksm_exit: () => {},
  ksm_madvise: () => 0,
  ksm_add_vma: () => {},
  prctl: () => undefined,
  rmap_walk_ksm: () => {},
  folio_migrate_ksm: () => {},
  ksm_might_unmap_zero_page: () => {},
};

/**
 * Named points where a test can run code in the middle of a kernel operation (scripted
 * interleavings): e.g. 'migrate:unmapped' runs after try_to_migrate() installed the migration
 * entries and before the copy. A hook is called with the operation's context.
 */
export type InterleavePoint =
  | 'migrate:unmapped'
  | 'fault:before-pte-lock'
  | 'ksm:after-checksum'
  | 'ksm:before-merge'
  | 'walk:pte-table'
  /** The walker read a PMD entry and is about to call pmd_entry() with it (walk.lo/hi). */
  | 'walk:pmd-entry';

export interface MachineOptions {
  /** Simulated RAM in MiB (default 4096). Frames are allocated lazily. */
  memoryMiB?: number;
  /** Paging depth for new address spaces (default 4). */
  levels?: PagingLevels;
  /** Simulated NUMA nodes (default 1): frames carry the node of the task that allocated them. */
  nodes?: number;
  /** Swap device size in MiB (default: as large as RAM). */
  swapMiB?: number;
  thp?: Partial<ThpSettings>;
  /** The kernel version to imitate (default: the live kernel's, 6.18): KERNEL_PROFILES[v] or
   * kernelProfile(v) of @mmsim/core. */
  kernel?: KernelProfile;
}

/** vmstat events the simulator keeps (/proc/vmstat names). */
export interface VmEvents {
  pgfault: number;
  cow_ksm: number;
  ksm_swpin_copy: number;
  pswpin: number;
  pswpout: number;
  thp_fault_alloc: number;
  thp_collapse_alloc: number;
  thp_split_pmd: number;
  thp_split_page: number;
  pgmigrate_success: number;
}

/** fault_around_bytes' default (mm/memory.c): 64 KiB. */
export const DEFAULT_FAULT_AROUND_BYTES = 65536;

export class Machine {
  readonly counters: Counters = new Counters();
  readonly clock: VirtualClock = new VirtualClock();
  readonly trace: TraceBus;
  readonly phys: PhysMem;
  readonly swap: SwapDevice;
  readonly levels: PagingLevels;
  readonly thp: ThpSettings;
  /** With khugepaged_init()'s defaults. */
  readonly khugepaged: KhugepagedState = {
    pages_to_scan: HPAGE_PMD_NR * 8,
    max_ptes_none: HPAGE_PMD_NR - 1,
    max_ptes_swap: HPAGE_PMD_NR / 8,
    max_ptes_shared: HPAGE_PMD_NR / 2,
    pages_collapsed: 0,
    full_scans: 0,
    mm_head: [],
    mm_slot: null,
    address: 0,
  };
  /** The kernel version this machine imitates, chosen once: every walk, GUP call and ksmd on it
   * behaves as this profile's switches say unless a call site passes its own profile. */
  readonly kernel: KernelProfile;
  hooks: MmHooks = { ...noHooks };
  /** The per-CPU folio batches of the CPU ksmd runs on (lru.ts). */
  readonly cpu_fbatches: CpuFbatches;
  readonly vmstat: VmEvents = {
    pgfault: 0,
    cow_ksm: 0,
    ksm_swpin_copy: 0,
    pswpin: 0,
    pswpout: 0,
    thp_fault_alloc: 0,
    thp_collapse_alloc: 0,
    thp_split_pmd: 0,
    thp_split_page: 0,
    pgmigrate_success: 0,
  };
  /** anon_vma handles stored in page->mapping. */
  readonly anonVmas: Map<number, AnonVma> = new Map();
  nextAnonVmaId = 1;
  /** Every live address space (for the invariant checker and /proc views). */
  readonly mms: Set<MmStruct> = new Set();
  /** The regular files processes map (filemap.ts), by name: their page caches. */
  readonly files: Map<string, MappedFile> = new Map();
  /** /sys/kernel/debug/fault_around_bytes: the window do_fault_around() maps (PAGE_SIZE: off). */
  fault_around_bytes = DEFAULT_FAULT_AROUND_BYTES;
  /** mm_id_ida: the CONFIG_MM_ID ids in use (mm.ts mm_id_alloc()). */
  readonly mmIdsInUse: Set<number> = new Set();
  nextPid = 1;
  /** Migrations between try_to_migrate() and remove_migration_ptes(), by source PFN. */
  readonly migrations: Map<number, Migration> = new Map();
  private interleave: Map<InterleavePoint, (ctx: unknown) => void> = new Map();

  constructor(opts: MachineOptions = {}) {
    const mib = opts.memoryMiB ?? 4096;
    this.phys = new PhysMem(Math.floor((mib * 2 ** 20) / 4096), this.counters);
    this.swap = new SwapDevice(Math.floor(((opts.swapMiB ?? mib) * 2 ** 20) / 4096), this.phys.contents);
    this.levels = opts.levels ?? 4;
    this.kernel = opts.kernel ?? DEFAULT_KERNEL_PROFILE;
    this.cpu_fbatches = new CpuFbatches(this.kernel.mm.folioBatchSize, this.kernel.mm.lruGenEnabled);
    this.phys.nrNodes = Math.max(1, Math.min(64, Math.floor(opts.nodes ?? 1)));
    this.thp = { enabled: 'madvise', use_zero_page: true, ...opts.thp };
    this.trace = new TraceBus(() => this.clock.jiffies);
  }

  /** Run `fn` when the kernel reaches `point` (once per arming). */
  at(point: InterleavePoint, fn: (ctx: unknown) => void): void {
    this.interleave.set(point, fn);
  }

  /** Whether a hook waits at `point`: kernel code on a per-page path asks first, so that it builds
   * the context object for reach() only when someone will see it. */
  armed(point: InterleavePoint): boolean {
    return this.interleave.size !== 0 && this.interleave.has(point);
  }

  /** Called by kernel code at an interleaving point. */
  reach(point: InterleavePoint, ctx: unknown): void {
    if (this.interleave.size === 0) return;
    const fn = this.interleave.get(point);
    if (fn !== undefined) {
      this.interleave.delete(point);
      fn(ctx);
    }
  }
}
