// What the page and the simulator worker say to each other. Everything here is plain data
// (structured-clone safe): the worker owns the simulated machine, the page only draws.

import type { DecodedEntry, EntryLevel } from '@mmsim/mmu';
import type { PagemapEntry } from '@mmsim/proc';
import type { Failure, KsmTrees, ProcReport } from '@mmsim/scenario';

/** A page's state, as the address view colours it. */
export const PAGE_STATES = [
  'none',
  'private',
  'ksm',
  'zero',
  'thp',
  'swapped',
  'migration',
  'guard',
  'shared',
] as const;
export type PageState = (typeof PAGE_STATES)[number];

/** One step of the scenario, for the step list. */
export interface StepInfo {
  op: string;
  /** The step as one line of text. */
  text: string;
  label: string | null;
}

export interface VmaView {
  start: number;
  end: number;
  /** VmFlags of smaps (mr mw me ac mg ...). */
  flags: string;
  /** The scenario region it lies in ("r+0"), or "". */
  region: string;
  /** Index into PAGE_STATES per page, for the first `shown` pages. */
  states: Uint8Array;
  pages: number;
}

/** One populated entry of a page table and, when it points to a table, that table. */
export interface TableEntryView {
  index: number;
  /** First virtual address it maps. */
  va: number;
  lo: number;
  hi: number;
  child: TableView | null;
}

export interface TableView {
  level: EntryLevel;
  pfn: number;
  entries: TableEntryView[];
}

export interface ProcView {
  name: string;
  pid: number;
  vmas: VmaView[];
  pgd: TableView;
}

/** ksmd's counters after one full scan. */
export interface ScanPoint {
  seq: number;
  counters: Record<string, number>;
}

export interface Snapshot {
  scenario: string;
  levels: 4 | 5;
  steps: StepInfo[];
  /** Index of the last step run (-1: none). */
  step: number;
  /** The report label of that step, when it is a report. */
  at: string | null;
  /** The counters now: the KSM counters and, per live process, ksm_stat and smaps sums. */
  ksm: Record<string, number>;
  procReports: Record<string, ProcReport>;
  failures: Failure[];
  scans: ScanPoint[];
  procs: ProcView[];
  trees: KsmTrees;
}

/** One level of a walk: the entry read and what it says. */
export interface WalkLevel {
  level: EntryLevel;
  table: number;
  index: number;
  decoded: DecodedEntry;
}

export interface WalkView {
  proc: string;
  address: number;
  levels: WalkLevel[];
  pagemap: PagemapEntry;
}

/** Per page of the unmerged ranges, what one break_ksm() strategy cost. */
export interface StrategyCost {
  strategy: string;
  kernel: string;
  pages: number;
  perPage: Record<string, number>;
}

/** One counter increment seen during the animated strategy's MADV_UNMERGEABLE. */
export interface CostEvent {
  counter: string;
  delta: number;
}

export interface BreakKsmView {
  costs: StrategyCost[];
  strategy: string;
  events: CostEvent[];
  /** Increments left out after the first MAX_EVENTS runs of one counter. */
  more: number;
}

export type Request =
  /** Run to the report labelled `at`, else to step `stopAfter`, else to the end. */
  | { id: number; type: 'load'; text: string; file: string; at: string | null; stopAfter: number | null }
  | { id: number; type: 'walk'; proc: string; address: number }
  | { id: number; type: 'breakKsm'; strategy: string };

export type Response =
  | { id: number; type: 'snapshot'; snapshot: Snapshot }
  | { id: number; type: 'invalid'; message: string; path: string }
  | { id: number; type: 'walk'; walk: WalkView }
  | { id: number; type: 'breakKsm'; view: BreakKsmView }
  | { id: number; type: 'error'; message: string };
