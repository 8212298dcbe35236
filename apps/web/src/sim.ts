// The simulator side of the app, as plain functions over a simulated world (the worker calls
// them; node tests call them too): run a scenario to a step, and turn what it built into the
// views' data. Nothing here is drawn, and nothing here is faked: the page states come from
// pagemap and kpageflags, the trees from the page tables and KSM's own trees, the costs from
// the machine's cost counters.

import {
  type Counters,
  ErrnoError,
  P4D_SHIFT,
  PAGE_SHIFT,
  PAGE_SIZE,
  PMD_SHIFT,
  PUD_SHIFT,
} from '@mmsim/core';
import { STRATEGIES } from '@mmsim/ksm';
import {
  decodeEntry,
  E,
  type EntryLevel,
  entryTable,
  MADV_UNMERGEABLE,
  type MmStruct,
  p4d_index,
  pgd_index,
  pgdirShift,
  pmd_index,
  pte_index,
  pud_index,
  readEntry,
} from '@mmsim/mmu';
import {
  decodePagemap,
  KPF_KSM,
  KPF_THP,
  KPF_ZERO_PAGE,
  kpageflags,
  kpfTest,
  PAGEMAP_FLAG_BITS,
  pagemap_read,
  vmFlagsString,
} from '@mmsim/proc';
import {
  collectReport,
  type HostMemory,
  KSM_COUNTERS,
  ksmTrees,
  type LoadedScenario,
  regionOf,
  runOnSimulator,
  type SimulatorContext,
  type Step,
} from '@mmsim/scenario';
import type {
  BreakKsmView,
  CostEvent,
  PageState,
  ProcView,
  ScanPoint,
  Snapshot,
  StepInfo,
  StrategyCost,
  TableView,
  VmaView,
  WalkLevel,
  WalkView,
} from './protocol.ts';
import { PAGE_STATES } from './protocol.ts';

/**
 * The simulated machine's size where a scenario gives none: a browser has no host to take it
 * from. The node tests that compare the page with `mmsim run` pass the same.
 */
export const BROWSER_HOST: HostMemory = { memoryMiB: 1024, swapMiB: 0 };

/** Pages per VMA the address view colours (a VMA larger than this shows its first pages). */
export const MAX_SHOWN_PAGES = 8192;
/** Counter increments of the animated strategy sent to the page. */
export const MAX_EVENTS = 4000;

/** A world stopped after step `step`, with ksmd's counters after every full scan so far. */
export interface Stopped {
  loaded: LoadedScenario;
  ctx: SimulatorContext;
  step: number;
  scans: ScanPoint[];
  failures: Snapshot['failures'];
}

/** Runs the scenario's steps 0..stopAfter (clamped) on a fresh machine. */
export function runTo(loaded: LoadedScenario, stopAfter: number, strategy?: string): Stopped {
  let ctx = null as SimulatorContext | null;
  let step = -1;
  const scans: ScanPoint[] = [];
  let stopTrace: (() => void) | null = null;
  const report = runOnSimulator(loaded, {
    host: BROWSER_HOST,
    stopAfter,
    ...(strategy !== undefined ? { strategy } : {}),
    beforeStep: (c) => {
      if (stopTrace !== null) return;
      stopTrace = c.machine.trace.on((name, data) => {
        if (name !== 'ksm_stop_scan') return;
        const all = c.ksm.counters() as unknown as Record<string, number>;
        const counters: Record<string, number> = {};
        for (const k of KSM_COUNTERS) counters[k] = all[k];
        scans.push({ seq: (data as { seq: number }).seq, counters });
      });
    },
    afterStep: (c, i) => {
      ctx = c;
      step = i;
    },
  });
  (stopTrace as (() => void) | null)?.();
  if (ctx === null) throw new Error(`${loaded.file}: the scenario has no steps`);
  return { loaded, ctx, step, scans, failures: report.failures };
}

export function stepText(s: Step): string {
  const rest = Object.entries(s)
    .filter(([k]) => k !== 'op')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  return `${s.op}${rest.length > 0 ? ` { ${rest.join(', ')} }` : ''}`;
}

export function stepInfos(loaded: LoadedScenario): StepInfo[] {
  return loaded.scenario.steps.map((s) => ({
    op: s.op,
    text: stepText(s),
    label: s.op === 'report' ? s.label : null,
  }));
}

const PM_PRESENT_HI = PAGEMAP_FLAG_BITS[0][1];
const PM_SWAP_HI = PAGEMAP_FLAG_BITS[1][1];
const PM_FILE_HI = PAGEMAP_FLAG_BITS[2][1];
const PM_GUARD_HI = PAGEMAP_FLAG_BITS[3][1];
const STATE: Record<PageState, number> = Object.fromEntries(PAGE_STATES.map((s, i) => [s, i])) as Record<
  PageState,
  number
>;

/** What pagemap (and, for present pages, kpageflags) says a page is. */
function pageState(st: Stopped, lo: number, hi: number): number {
  if ((hi & PM_GUARD_HI) !== 0) return STATE.guard;
  if ((hi & PM_PRESENT_HI) !== 0) {
    const pfn = lo + (hi & 0x7fffff) * 2 ** 32;
    const k = kpageflags(st.ctx.machine, pfn);
    if (kpfTest(k, KPF_ZERO_PAGE)) return STATE.zero;
    if (kpfTest(k, KPF_KSM)) return STATE.ksm;
    if (kpfTest(k, KPF_THP)) return STATE.thp;
    return (hi & PM_FILE_HI) !== 0 ? STATE.shared : STATE.private;
  }
  if ((hi & PM_SWAP_HI) !== 0) {
    const e = decodePagemap(st.ctx.machine, 0, lo, hi);
    return e.swap_kind?.startsWith('migration') === true ? STATE.migration : STATE.swapped;
  }
  return STATE.none;
}

function vmaViews(st: Stopped, name: string, mm: MmStruct): VmaView[] {
  return mm.vmas.map((v) => {
    const pages = (v.vm_end - v.vm_start) / PAGE_SIZE;
    const shown = Math.min(pages, MAX_SHOWN_PAGES);
    const words = new Uint32Array(pagemap_read(mm, v.vm_start, v.vm_start + shown * PAGE_SIZE).buffer);
    const states = new Uint8Array(shown);
    for (let i = 0; i < shown; i++) states[i] = pageState(st, words[2 * i], words[2 * i + 1]);
    return {
      start: v.vm_start,
      end: v.vm_end,
      flags: vmFlagsString(v.vm_flags),
      region: regionOf(st.ctx, name, v.vm_start),
      states,
      pages,
    };
  });
}

/** The levels a walk goes through, top down, with the shift of what one entry spans. */
function levelShifts(levels: 4 | 5): [EntryLevel, number][] {
  const upper: [EntryLevel, number][] =
    levels === 5
      ? [
          ['pgd', pgdirShift(5)],
          ['p4d', P4D_SHIFT],
        ]
      : [['pgd', pgdirShift(4)]];
  return [...upper, ['pud', PUD_SHIFT], ['pmd', PMD_SHIFT], ['pte', PAGE_SHIFT]];
}

function entryIndex(level: EntryLevel, levels: 4 | 5, addr: number): number {
  switch (level) {
    case 'pgd':
      return pgd_index(levels, addr);
    case 'p4d':
      return p4d_index(addr);
    case 'pud':
      return pud_index(addr);
    case 'pmd':
      return pmd_index(addr);
    default:
      return pte_index(addr);
  }
}

const ENTRIES_PER_TABLE = 512;

/**
 * The populated part of a page-table radix tree, read entry by entry (a viewer: it takes no
 * lock and counts nothing, like `mmsim pte`).
 */
function tableView(st: Stopped, levels: 4 | 5, depth: number, pfn: number, base: number): TableView {
  const shifts = levelShifts(levels);
  const [level, shift] = shifts[depth];
  const pm = st.ctx.machine.phys;
  const t: TableView = { level, pfn, entries: [] };
  for (let i = 0; i < ENTRIES_PER_TABLE; i++) {
    readEntry(pm, pfn, i);
    const lo = E.lo;
    const hi = E.hi;
    if (lo === 0 && hi === 0) continue;
    const va = base + i * 2 ** shift;
    const table = depth < shifts.length - 1 && decodeEntry(lo, hi, level, levels).kind === 'table';
    t.entries.push({
      index: i,
      va,
      lo,
      hi,
      child: table ? tableView(st, levels, depth + 1, entryTable(lo, hi), va) : null,
    });
  }
  return t;
}

export function snapshot(st: Stopped): Snapshot {
  const { ctx, loaded } = st;
  const levels = loaded.scenario.arch?.levels ?? 4;
  const now = collectReport(ctx, '', { full_scans: 0, pages_scanned: 0, pages_skipped: 0 });
  const steps = stepInfos(loaded);
  const procs: ProcView[] = [];
  for (const [name, p] of ctx.procs) {
    procs.push({
      name,
      pid: p.pid,
      vmas: vmaViews(st, name, p.mm),
      pgd: tableView(st, levels, 0, p.mm.pgd, 0),
    });
  }
  return {
    scenario: loaded.scenario.name,
    levels,
    steps,
    step: st.step,
    at: steps[st.step]?.label ?? null,
    ksm: now.ksm,
    procReports: now.procs,
    failures: st.failures,
    scans: st.scans,
    procs,
    trees: ksmTrees(ctx),
  };
}

/** The walk to `address` in `proc`: every entry read, decoded, then its pagemap entry. */
export function walkOf(st: Stopped, proc: string, address: number): WalkView {
  const p = st.ctx.procs.get(proc);
  if (p === undefined) throw new Error(`no process ${proc}`);
  const levels = st.loaded.scenario.arch?.levels ?? 4;
  const pm = st.ctx.machine.phys;
  const out: WalkLevel[] = [];
  let table = p.mm.pgd;
  for (const [level] of levelShifts(levels)) {
    const index = entryIndex(level, levels, address);
    readEntry(pm, table, index);
    const decoded = decodeEntry(E.lo, E.hi, level, levels);
    out.push({ level, table, index, decoded });
    if (decoded.kind !== 'table') break;
    table = entryTable(E.lo, E.hi);
  }
  const words = new Uint32Array(pagemap_read(p.mm, address, address + PAGE_SIZE).buffer);
  return { proc, address, levels: out, pagemap: decodePagemap(st.ctx.machine, address, words[0], words[1]) };
}

/** The cost counters a break_ksm() comparison reports, per page. */
export const COST_COUNTERS = [
  'pgdRead',
  'p4dRead',
  'pudRead',
  'pmdRead',
  'pteRead',
  'walks',
  'walkCallbacks',
  'followPage',
  'faults',
  'pagesCopied',
  'ptlLock',
] as const;

/** MADV_UNMERGEABLE over every region of every live process; returns the pages advised. */
function unmergeAll(ctx: SimulatorContext): number {
  let pages = 0;
  for (const [name, p] of ctx.procs) {
    for (const r of ctx.regions.get(name)?.values() ?? []) {
      try {
        p.madvise(r.addr, r.pages * PAGE_SIZE, MADV_UNMERGEABLE);
      } catch (e) {
        // A region partly unmapped by the scenario: madvise() still advised the mapped part.
        if (!(e instanceof ErrnoError)) throw e;
      }
      pages += r.pages;
    }
  }
  return pages;
}

/**
 * Records every increment of the cost counters, in order, by turning them into accessors on
 * this one machine's Counters (which the hot paths bump as usual).
 */
function recordIncrements(c: Counters, events: CostEvent[]): { dropped: () => number } {
  let dropped = 0;
  const fields = c as unknown as Record<string, number>;
  for (const name of COST_COUNTERS) {
    let value = fields[name];
    Object.defineProperty(c, name, {
      get: () => value,
      set: (v: number) => {
        if (v > value) {
          const last = events[events.length - 1];
          if (last !== undefined && last.counter === name) last.delta += v - value;
          else if (events.length < MAX_EVENTS) events.push({ counter: name, delta: v - value });
          else dropped++;
        }
        value = v;
      },
      configurable: true,
      enumerable: true,
    });
  }
  return { dropped: () => dropped };
}

/**
 * Every break_ksm() strategy on identical state (the scenario run to `stopAfter` afresh for each),
 * MADV_UNMERGEABLE over every region: the cost counters per page; and for `animate`, the
 * counter increments in the order they happened.
 */
export function breakKsm(loaded: LoadedScenario, stopAfter: number, animate: string): BreakKsmView {
  const costs: StrategyCost[] = [];
  const events: CostEvent[] = [];
  let more = 0;
  for (const [name, s] of Object.entries(STRATEGIES)) {
    const st = runTo(loaded, stopAfter, name);
    const c = st.ctx.machine.counters;
    const rec = name === animate ? recordIncrements(c, events) : null;
    const before = c.snapshot();
    const pages = unmergeAll(st.ctx);
    const d = c.since(before);
    const perPage: Record<string, number> = {};
    for (const k of COST_COUNTERS) perPage[k] = pages === 0 ? 0 : d[k] / pages;
    costs.push({ strategy: name, kernel: s.kernel, pages, perPage });
    if (rec !== null) more = rec.dropped();
  }
  return { costs, strategy: animate, events, more };
}
