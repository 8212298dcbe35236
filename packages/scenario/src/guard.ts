// The host guard (docs/scenario-format.md, "Machine size and the host guard"): before a run, the
// host memory a scenario can need on the simulator, compared with what the host has; a run that
// would not fit is refused in one line (apps exit 2) instead of being killed by the OOM killer or
// crashing V8. Browser-safe: the host's numbers come from the caller (`hostMemory()` on Node).

import { MiB, PAGE_SIZE, PTRS_PER_TABLE } from '@mmsim/core';
import { RMAP_ITEM_HOST_BYTES, UNSTABLE_NODE_HOST_BYTES } from '@mmsim/ksm';
import { STRUCT_PAGE_BYTES } from '@mmsim/mmu';
import type { ScenarioPlan } from './validate.ts';

/** The simulated RAM where neither the scenario's `machine.memory_mib` nor a flag sets it: fixed,
 * so a scenario runs the same on every host. */
export const DEFAULT_MEMORY_MIB = 4096;
/** The largest simulated RAM: PhysMem keeps PFNs in 32-bit signed fields (compound_head, the
 * free-list links), so 2^31 frames of 4 KiB. */
export const MAX_MEMORY_MIB = 2 ** 31 / (2 ** 20 / PAGE_SIZE);
/** Most sharing labels one run may report (over all its reports): ~100 MB of JSON, 256 MB of JS
 * heap. Both engines refuse a scenario whose reports could hold more. */
export const MAX_REPORT_LABELS = 32 * 1024 * 1024;
/** As the oracle's check_memory(): a run may use 3/4 of the host's available memory after a
 * 512 MiB margin. */
export const HOST_MARGIN_MIB = 512;
const HOST_SHARE = 3 / 4;
/** PhysMem grows its struct-page arrays by doubling; while one grows, the old and the new arrays
 * are both alive: 1.5 times the new capacity. */
const GROW_PEAK = 1.5;
/** Host bytes of one content in the machine's content table at most: 22 bytes of table (kind,
 * flags, two words, references, checksum, first word) and 8 of lookup index, both doubled while
 * they grow. */
export const CONTENT_HOST_BYTES = 64;

/**
 * How the estimate counts page contents. 'kernel': every populated page and page table holds
 * PAGE_SIZE, as on the live kernel, so that the simulator refuses what the oracle refuses (the
 * default). 'simulator': what the simulator holds, frames referring to contents: PAGE_SIZE per
 * page a `write` step writes and per page table, CONTENT_HOST_BYTES per content the fills create,
 * nothing for touched pages (the zero content); for simulator-only runs far beyond what the host
 * could give the kernel (apps/bench's images workload).
 */
export type ContentEstimate = 'kernel' | 'simulator';
/** KSM's host memory per mergeable page at most: its rmap_item and an unstable-tree rb node. */
export const KSM_HOST_BYTES_PER_PAGE = RMAP_ITEM_HOST_BYTES + UNSTABLE_NODE_HOST_BYTES;
/** Bytes of JS heap per sharing label (a number in a JS array). */
const LABEL_HEAP_BYTES = 8;

/**
 * The host a run happens on: the simulator's swap default and the memory the guard may use. On
 * Node, `hostMemory()` of '@mmsim/scenario/node' reads this machine's.
 */
export interface HostMemory {
  /** Memory this process may still take (MiB): MemAvailable, or the cgroup's limit minus its
   * usage where lower. The guard's budget, not the simulated RAM. */
  memoryMiB: number;
  /** Swap size (MiB): the simulated swap device's default, as on the kernel side. */
  swapMiB: number;
  /** JS heap this process may still take (MiB), where known. */
  heapMiB?: number;
}

/** Host memory a run may need at most, in bytes, by where it lives. */
export interface HostEstimate {
  /** Frames the run can have allocated at once. */
  frames: number;
  /** struct page arrays (STRUCT_PAGE_BYTES per frame of capacity). */
  metadataBytes: number;
  /** Page contents (see ContentEstimate). */
  contentBytes: number;
  /** KSM metadata (KSM_HOST_BYTES_PER_PAGE per populated page, when some step makes memory
   * mergeable). */
  ksmBytes: number;
  /** JS heap: the reports' sharing labels. */
  heapBytes: number;
}

/** A run the host cannot hold, refused before it starts. Apps print the message and exit 2. */
export class HostMemoryError extends Error {
  override readonly name = 'HostMemoryError';
  /** The exit code apps use for a refused run. */
  readonly exitCode = 2;
}

/** Refuses a report set larger than MAX_REPORT_LABELS labels (both engines). */
export function checkReportLabels(plan: ScenarioPlan, reports: number): void {
  if (plan.mappedPages * reports > MAX_REPORT_LABELS)
    throw new HostMemoryError(
      `refusing to run: ${reports} reports of up to ${plan.mappedPages} mapped pages would hold more than ` +
        `${MAX_REPORT_LABELS} sharing labels`,
    );
}

/**
 * Host memory a scenario can need on the simulator. Every page it can populate (plan.populatedPages:
 * filled, written or touched, per process and fork — the bound the oracle's check_memory() refuses
 * on) and its page tables may hold PAGE_SIZE of content: not capped by the simulated RAM, so that
 * the simulator refuses what the kernel side refuses, and a scenario that overcommits a small
 * machine by more than the host holds ends before it starts rather than after gigabytes. The
 * struct page arrays hold STRUCT_PAGE_BYTES per frame of their (doubling) capacity, at most the
 * machine's frames. Where some step makes memory mergeable, KSM may keep an rmap_item and an
 * unstable-tree node for every populated page.
 */
export function estimateHostMemory(
  plan: ScenarioPlan,
  reports: number,
  memoryMiB: number,
  contents: ContentEstimate = 'kernel',
): HostEstimate {
  const machineFrames = Math.floor((memoryMiB * MiB) / PAGE_SIZE);
  // Every PTRS_PER_TABLE populated pages need a PTE table (and a PMD table per PTRS_PER_TABLE of
  // those, which the estimate rounds into the same term).
  const tables = Math.ceil(plan.populatedPages / PTRS_PER_TABLE) * 2;
  const wanted = plan.populatedPages + tables;
  const frames = Math.min(machineFrames, wanted);
  const capacity = Math.min(machineFrames, 2 ** Math.ceil(Math.log2(Math.max(frames, 1))));
  return {
    frames,
    metadataBytes: Math.ceil(capacity * STRUCT_PAGE_BYTES * GROW_PEAK),
    contentBytes:
      contents === 'kernel'
        ? wanted * PAGE_SIZE
        : (plan.writtenPages + tables) * PAGE_SIZE + plan.fillContents * CONTENT_HOST_BYTES,
    ksmBytes: plan.mergeable ? plan.populatedPages * KSM_HOST_BYTES_PER_PAGE : 0,
    heapBytes: plan.mappedPages * reports * LABEL_HEAP_BYTES,
  };
}

/** The part of `availableMiB` a run may take (as the oracle: 3/4 after a 512 MiB margin). */
export function hostBudgetMiB(availableMiB: number): number {
  return Math.max(0, Math.floor((availableMiB - HOST_MARGIN_MIB) * HOST_SHARE));
}

/** Refuses `what` when `needBytes` exceed the host's budget; `detail` says what was counted. */
export function checkHostBudget(what: string, needBytes: number, host: HostMemory, detail: string): void {
  const limit = hostBudgetMiB(host.memoryMiB);
  const need = Math.ceil(needBytes / MiB);
  if (need > limit)
    throw new HostMemoryError(
      `refusing to run: ${what} needs up to ${need} MiB of host memory (${detail}); the limit is ` +
        `${limit} MiB (3/4 of ${host.memoryMiB} MiB available minus a ${HOST_MARGIN_MIB} MiB margin)`,
    );
}

/**
 * The guard of a simulator run: the machine size within MAX_MEMORY_MIB, the reports within
 * MAX_REPORT_LABELS, and the estimate within the host's memory and JS heap. Throws HostMemoryError.
 */
export function checkHostFits(
  plan: ScenarioPlan,
  reports: number,
  memoryMiB: number,
  host: HostMemory,
  contents: ContentEstimate = 'kernel',
): HostEstimate {
  if (memoryMiB > MAX_MEMORY_MIB)
    throw new HostMemoryError(
      `refusing to run: a machine of ${memoryMiB} MiB; the simulator holds at most ${MAX_MEMORY_MIB} MiB (2^31 frames)`,
    );
  checkReportLabels(plan, reports);
  const e = estimateHostMemory(plan, reports, memoryMiB, contents);
  const contentsDetail =
    contents === 'kernel'
      ? `(${PAGE_SIZE} B/page)`
      : `(${plan.writtenPages} pages written and page tables of ${PAGE_SIZE} B, ${plan.fillContents} contents of ${CONTENT_HOST_BYTES} B)`;
  const ksm =
    e.ksmBytes > 0
      ? ` + ${Math.ceil(e.ksmBytes / MiB)} MiB of KSM metadata (${KSM_HOST_BYTES_PER_PAGE} B/page)`
      : '';
  checkHostBudget(
    'the scenario',
    e.metadataBytes + e.contentBytes + e.ksmBytes,
    host,
    `${plan.populatedPages} pages populated, ${e.frames} frames on a ${memoryMiB} MiB machine: ` +
      `${Math.ceil(e.metadataBytes / MiB)} MiB of struct pages (${STRUCT_PAGE_BYTES} B/frame) + ` +
      `${Math.ceil(e.contentBytes / MiB)} MiB of contents ${contentsDetail}${ksm}`,
  );
  if (host.heapMiB !== undefined && e.heapBytes > host.heapMiB * MiB * HOST_SHARE)
    throw new HostMemoryError(
      `refusing to run: ${reports} reports of ${plan.mappedPages} mapped pages need ` +
        `${Math.ceil(e.heapBytes / MiB)} MiB of JS heap for their sharing labels; the limit is ` +
        `${Math.floor(host.heapMiB * HOST_SHARE)} MiB (3/4 of the ${host.heapMiB} MiB heap left)`,
    );
  return e;
}
