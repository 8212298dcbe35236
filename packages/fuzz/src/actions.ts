// The concrete operations the fuzzer executes: the scenario format's steps (with every range
// resolved) plus the few things the format cannot say (ksmd batches, page migration, switching
// the break_ksm strategy, fault injection). A failing sequence is written as these actions (exact
// replay) and as a scenario file (the expressible part).

import type { FillPattern, MadviseAdvice } from '@mmsim/scenario';

export type Prot = 'rw' | 'r' | 'none';

/** Allocation sites fault injection can fail. */
export const FAULT_SITES = ['page', 'table', 'swap', 'rmap_item', 'stable_node'] as const;
export type FaultSite = (typeof FAULT_SITES)[number];

export type Action =
  | { op: 'spawn'; proc: string }
  | {
      op: 'mmap';
      proc: string;
      region: string;
      pages: number;
      thp: boolean;
      shared: boolean;
      prot: Prot;
    }
  | { op: 'fill'; proc: string; region: string; from: number; count: number; pattern: FillPattern }
  | { op: 'write'; proc: string; region: string; page: number; offset: number; value: number }
  /** Read every page of the range through the fault path and compare it with the model
   * (the scenario's `touch`: one read fault per page). */
  | { op: 'touch'; proc: string; region: string; from: number; count: number }
  | { op: 'madvise'; proc: string; region: string; from: number; count: number; advice: MadviseAdvice }
  | { op: 'mprotect'; proc: string; region: string; from: number; count: number; prot: Prot }
  | { op: 'munmap'; proc: string; region: string; from: number; count: number }
  | { op: 'prctl'; proc: string; value: number }
  | { op: 'fork'; proc: string; child: string }
  | { op: 'exit'; proc: string }
  | { op: 'knob'; name: string; value: number | string }
  | { op: 'ksm_scan'; full_scans: number }
  | { op: 'ksm_converge'; max_full_scans: number }
  | { op: 'ksm_unmerge_all' }
  /** khugepaged for exactly that many full scans (khugepaged_do_scan() with pages_to_scan above
   * every mm, as the oracle drives it). */
  | { op: 'khugepaged_scan'; full_scans: number }
  // ---- not expressible in the scenario format ----
  /** ksmd batches (runBatch(): pages_to_scan pages, only while run=1). */
  | { op: 'ksm_batch'; batches: number }
  /** migrate_folio() of the folio mapped at the page (no-op where none is). */
  | { op: 'migrate'; proc: string; region: string; page: number }
  /** Switch the break_ksm() strategy. */
  | { op: 'strategy'; name: string }
  /** Arm fault injection for the next `span` actions: fail the nth call (1-based) to the sites,
   * or each call with probability prob (nth 0), from a PRNG seeded with seed. */
  | { op: 'inject'; sites: FaultSite[]; nth: number; prob: number; seed: number; span: number };

export type ActionOp = Action['op'];

/** Ops the scenario format has no step for. */
export const INEXPRESSIBLE: ReadonlySet<ActionOp> = new Set(['ksm_batch', 'migrate', 'strategy', 'inject']);

/** One line for logs and fast-check counterexamples. */
export function describeAction(a: Action): string {
  const { op, ...rest } = a;
  const fields = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' ');
  return fields === '' ? op : `${op} ${fields}`;
}
