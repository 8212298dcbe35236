// Runs a scenario on the simulator: the same steps, at the same addresses, as the kernel oracle,
// producing the same Report shape (engine "simulator").

import {
  DEFAULT_KERNEL_PROFILE,
  ENOMEM,
  ErrnoError,
  errnoName,
  KernelBug,
  type KernelProfile,
  type KsmProfile,
  kernelProfile,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  type BreakKsmStrategy,
  Ksm,
  type KsmCounters,
  ksmSysfsHas,
  ksmSysfsWrite,
  STRATEGIES,
} from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  filemap_open,
  filemap_write_folio,
  khugepaged_do_scan,
  khugepaged_sysfs_write,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  type MappedFile,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { PM_PFRAME_MASK, PM_PRESENT, PM_SWAP, pagemap_read, smaps } from '@mmsim/proc';
import { ScenarioError } from './errors.ts';
import { fillContent } from './fill.ts';
import { type ContentEstimate, checkHostFits, DEFAULT_MEMORY_MIB, type HostMemory } from './guard.ts';
import type { LoadedScenario } from './parse.ts';
import {
  type Failure,
  LABEL_NOT_PRESENT,
  LABEL_OTHER,
  LABEL_ZERO_PAGE,
  type ProcReport,
  type Report,
  type ReportEntry,
} from './report.ts';
import {
  KSM_CONVERGE_COUNTERS,
  KSM_COUNTERS,
  knobString,
  MADVISE_ADVICE,
  type Prot,
  prctlArgs,
  resolveRange,
  type Step,
  usesKhugepaged,
} from './schema.ts';
import type { FilePlan, ScenarioPlan } from './validate.ts';

export interface SimulatorOptions {
  /** break_ksm() strategy: a built-in one's name or a strategy (default: the live kernel's). */
  strategy?: string | BreakKsmStrategy;
  /** The kernel to imitate (default: the scenario's `kernel`, else the live kernel's, 6.18). */
  kernel?: KernelProfile;
  /** Called before every step (tools attach tracers and progress here). */
  beforeStep?: (ctx: SimulatorContext, index: number, step: Step) => void;
  /** Called after every step (tests run invariant checkers here). */
  afterStep?: (ctx: SimulatorContext, index: number, step: Step) => void;
  /** The host: its swap size is the machine's where the scenario gives none, and its memory
   * bounds what the run may take (`hostMemory()` of '@mmsim/scenario/node' reads this machine's). */
  host: HostMemory;
  /** Simulated RAM (MiB) where the scenario's `machine.memory_mib` gives none (a flag); default
   * DEFAULT_MEMORY_MIB. */
  memoryMiB?: number;
  /** Stop after the step with this index has run (default: run every step). */
  stopAfter?: number;
  /** How the host guard counts page contents (default 'kernel': as the oracle, 4 KiB a page). */
  contentEstimate?: ContentEstimate;
  /** Runs a `restore` step: builds the snapshot file's processes in `ctx` (Node-only, reading a
   * file: @mmsim/snapshot's restoreInto(), which mmsim passes). The file is resolved against the
   * scenario file's directory. Without it a restore step is refused. */
  restore?: (ctx: SimulatorContext, file: string, names: string[] | undefined) => void;
}

/** The simulated world a scenario runs in. */
export interface SimulatorContext {
  machine: Machine;
  ksm: Ksm;
  procs: Map<string, Process>;
  /** proc name -> region name -> start address and pages */
  regions: Map<string, Map<string, { addr: number; pages: number }>>;
  /** Reports hold khugepaged's counters (the scenario uses khugepaged). */
  khugepagedReport?: boolean;
  /** Why no byte may be written any more (a digest-only snapshot was restored: its pages hold no
   * bytes to compare a written page with); write and fill steps are refused with it. */
  noWrites?: string;
}

function protBits(p: Prot | undefined): number {
  if (p === 'r') return PROT_READ;
  if (p === 'none') return PROT_NONE;
  return PROT_READ | PROT_WRITE;
}

/** Smallest `machine.memory_mib` the simulator runs. */
export const MIN_MEMORY_MIB = 4;

/** Run a validated scenario on a fresh simulated machine. Throws ScenarioError when the simulator
 * cannot run it as written (a machine too small, an initial knob value the knob refuses), and
 * HostMemoryError, before anything runs, when the host cannot hold it (checkHostFits()). The swap
 * device defaults to the host's swap size: on a machine without swap, MADV_PAGEOUT cannot reclaim
 * anonymous pages on the kernel, so the simulator must not swap them out either. */
export function runOnSimulator(loaded: LoadedScenario, opts: SimulatorOptions): Report {
  const { scenario, plan } = loaded;
  const memoryMiB = scenario.machine?.memory_mib ?? opts.memoryMiB ?? DEFAULT_MEMORY_MIB;
  // The simulator's smallest machine holds two PMD-sized folios (1024 frames).
  if (memoryMiB < MIN_MEMORY_MIB)
    throw new ScenarioError(
      loaded.file,
      'machine.memory_mib',
      `at least ${MIN_MEMORY_MIB} on the simulator`,
      String(memoryMiB),
    );
  const swapMiB = scenario.machine?.swap_mib ?? opts.host.swapMiB;
  const nrReports = scenario.steps.filter((s) => s.op === 'report').length;
  checkHostFits(plan, nrReports, memoryMiB, opts.host, opts.contentEstimate);
  const kernel =
    opts.kernel ?? (scenario.kernel === undefined ? DEFAULT_KERNEL_PROFILE : kernelProfile(scenario.kernel));
  const m = new Machine({ memoryMiB, swapMiB, levels: scenario.arch?.levels ?? 4, kernel });
  const ksm = new Ksm(m);
  if (typeof opts.strategy === 'string') {
    const s = STRATEGIES[opts.strategy];
    if (s === undefined) throw new Error(`unknown break_ksm strategy "${opts.strategy}"`);
    ksm.strategy = s;
  } else if (opts.strategy !== undefined) ksm.strategy = opts.strategy;
  for (const [k, v] of Object.entries(scenario.khugepaged ?? {})) {
    if (v === undefined) continue;
    const err = khugepaged_sysfs_write(m, k, String(v));
    if (err !== 0) throw knobRefused(loaded.file, `khugepaged.${k}`, String(v), err);
  }
  for (const [k, v] of Object.entries(scenario.ksm ?? {})) {
    if (v === undefined) continue;
    if (!ksmSysfsHas(kernel.ksm, k)) {
      // what the oracle does: the value that turns the feature off is what this kernel does
      if ((k === 'smart_scan' && knobString(v) === '0') || (k === 'advisor_mode' && v === 'none')) continue;
      throw new ScenarioError(loaded.file, `ksm.${k}`, `a knob Linux ${kernel.name} has`, `${k} (ENOENT)`);
    }
    const err = ksmSysfsWrite(ksm, k, knobString(v));
    if (err !== 0) throw knobRefused(loaded.file, `ksm.${k}`, knobString(v), err);
  }
  const ctx: SimulatorContext = {
    machine: m,
    ksm,
    procs: new Map(),
    regions: new Map(),
    khugepagedReport: usesKhugepaged(scenario),
  };
  if (ctx.khugepagedReport) khugepagedSentinel(m);
  const reports: ReportEntry[] = [];
  const failures: Failure[] = [];
  const start = { full_scans: 0, pages_scanned: 0, pages_skipped: 0 };
  const last = Math.min(scenario.steps.length - 1, opts.stopAfter ?? Number.POSITIVE_INFINITY);
  for (let i = 0; i <= last; i++) {
    const step = scenario.steps[i];
    let errno = '';
    let stop = false;
    opts.beforeStep?.(ctx, i, step);
    try {
      if (step.op === 'restore') restoreStep(ctx, loaded, i, step.snapshot, step.procs, opts);
      else if ((step.op === 'write' || step.op === 'fill') && ctx.noWrites !== undefined)
        throw new ScenarioError(loaded.file, `steps[${i}]`, 'no byte writes', `${step.op}: ${ctx.noWrites}`);
      stop = runStep(ctx, step, i, plan.stepRegion[i] ?? -1, plan, reports, failures, start) === STOP;
    } catch (e) {
      if (e instanceof ErrnoError) errno = e.code;
      else throw e;
    }
    const want = step.expect_errno ?? '';
    if (errno !== want) {
      failures.push({
        step: i,
        op: step.op,
        message:
          want === ''
            ? `failed with ${errno}`
            : `expected ${want}, ${errno === '' ? 'succeeded' : `failed with ${errno}`}`,
      });
      stop = true;
    }
    opts.afterStep?.(ctx, i, step);
    // As the oracle (run_step() returning 0): a step with the wrong outcome ends the run, later
    // steps depend on it.
    if (stop) break;
  }
  return { scenario: scenario.name, engine: 'simulator', reports, ok: failures.length === 0, failures };
}

/** A `restore` step through the Node side's hook (SimulatorOptions.restore). */
function restoreStep(
  ctx: SimulatorContext,
  loaded: LoadedScenario,
  index: number,
  file: string,
  names: string[] | undefined,
  opts: SimulatorOptions,
): void {
  if (opts.restore === undefined)
    throw new ScenarioError(
      loaded.file,
      `steps[${index}]`,
      'a restore step run by mmsim (Node)',
      'no snapshot reader here',
    );
  const dir = loaded.file.includes('/') ? loaded.file.slice(0, loaded.file.lastIndexOf('/') + 1) : '';
  opts.restore(ctx, file.startsWith('/') ? file : `${dir}${file}`, names);
}

function proc(ctx: SimulatorContext, name: string): Process {
  const p = ctx.procs.get(name);
  if (p === undefined)
    throw new KernelBug(`scenario: unknown process ${name} (the validator should have caught it)`);
  return p;
}

function region(ctx: SimulatorContext, p: string, r: string): { addr: number; pages: number } {
  const reg = ctx.regions.get(p)?.get(r);
  if (reg === undefined) throw new KernelBug(`scenario: unknown region ${p}/${r}`);
  return reg;
}

/**
 * The scenario's file, created on its first mmap as the oracle writes it before the steps: every
 * page written, so in the page cache and dirty (page i of its pages holds the fill's page i).
 */
function openFile(ctx: SimulatorContext, f: FilePlan): MappedFile {
  const m = ctx.machine;
  const known = m.files.get(f.name);
  if (known !== undefined) return known;
  const contents = m.phys.contents;
  const file = filemap_open(m, f.name, f.pages, (i) => fillContent(contents, f.pattern, i, f.pages));
  for (let i = 0; i < f.pages; i++)
    if (filemap_write_folio(m.phys, file, i) === 0) throw new ErrnoError(ENOMEM, 'write', f.name);
  return file;
}

/** runStep()'s answer when the run must end after a failure recorded in `failures`. */
const STOP = 'stop';

function runStep(
  ctx: SimulatorContext,
  step: Step,
  index: number,
  regionIndex: number,
  scenarioPlan: ScenarioPlan,
  reports: ReportEntry[],
  failures: Failure[],
  start: { full_scans: number; pages_scanned: number; pages_skipped: number },
): typeof STOP | undefined {
  const { ksm } = ctx;
  switch (step.op) {
    case 'spawn': {
      ctx.procs.set(step.proc, new Process(ctx.machine, step.proc));
      ctx.regions.set(step.proc, new Map());
      return;
    }
    case 'mmap': {
      const p = proc(ctx, step.proc);
      const plan = scenarioPlan.regions[regionIndex]!;
      const len = step.pages * PAGE_SIZE;
      ctx.regions.get(step.proc)!.set(step.region, { addr: plan.addr, pages: step.pages });
      if (plan.file >= 0) {
        p.mmap(plan.addr, len, protBits(step.prot), MAP_PRIVATE | MAP_FIXED, {
          file: openFile(ctx, scenarioPlan.files[plan.file]!),
          pgoff: 0,
        });
        return;
      }
      const flags = (step.shared === true ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED;
      p.mmap(plan.addr, len, protBits(step.prot), flags);
      if (step.thp === true) p.madvise(plan.addr, len, MADV_HUGEPAGE);
      return;
    }
    case 'fill': {
      const p = proc(ctx, step.proc);
      const reg = region(ctx, step.proc, step.region);
      const { from, count } = resolveRange(step, reg.pages);
      const contents = ctx.machine.phys.contents;
      for (let i = 0; i < count; i++)
        p.writeContent(reg.addr + (from + i) * PAGE_SIZE, fillContent(contents, step.pattern, i, count));
      return;
    }
    case 'write': {
      const reg = region(ctx, step.proc, step.region);
      proc(ctx, step.proc).writeByte(reg.addr + step.page * PAGE_SIZE + (step.offset ?? 0), step.value);
      return;
    }
    case 'touch': {
      const p = proc(ctx, step.proc);
      const reg = region(ctx, step.proc, step.region);
      const { from, count } = resolveRange(step, reg.pages);
      for (let i = 0; i < count; i++) p.touch(reg.addr + (from + i) * PAGE_SIZE);
      return;
    }
    case 'madvise': {
      const reg = region(ctx, step.proc, step.region);
      const { from, count } = resolveRange(step, reg.pages);
      proc(ctx, step.proc).madvise(
        reg.addr + from * PAGE_SIZE,
        count * PAGE_SIZE,
        MADVISE_ADVICE[step.advice],
      );
      return;
    }
    case 'mprotect': {
      const reg = region(ctx, step.proc, step.region);
      const { from, count } = resolveRange(step, reg.pages);
      proc(ctx, step.proc).mprotect(reg.addr + from * PAGE_SIZE, count * PAGE_SIZE, protBits(step.prot));
      return;
    }
    case 'munmap': {
      const reg = region(ctx, step.proc, step.region);
      const { from, count } = resolveRange(step, reg.pages);
      proc(ctx, step.proc).munmap(reg.addr + from * PAGE_SIZE, count * PAGE_SIZE);
      return;
    }
    case 'prctl': {
      const got = proc(ctx, step.proc).prctl(...prctlArgs(step));
      // As an errno other than the expected one, a wrong return value ends the run.
      if (step.expect_value !== undefined && got !== step.expect_value) {
        failures.push({
          step: index,
          op: 'prctl',
          message: `returned ${got}, expected ${step.expect_value}`,
        });
        return STOP;
      }
      return;
    }
    case 'fork': {
      const child = proc(ctx, step.proc).fork(step.child);
      ctx.procs.set(step.child, child);
      ctx.regions.set(step.child, new Map(ctx.regions.get(step.proc)));
      return;
    }
    case 'exit': {
      proc(ctx, step.proc).exit();
      ctx.procs.delete(step.proc);
      ctx.regions.delete(step.proc);
      return;
    }
    case 'knob': {
      if (step.name.startsWith(KHUGEPAGED_KNOB_PREFIX)) {
        const err = khugepaged_sysfs_write(
          ctx.machine,
          step.name.slice(KHUGEPAGED_KNOB_PREFIX.length),
          knobString(step.value),
        );
        if (err !== 0)
          throw new ErrnoError(-err, 'write', `/sys/kernel/mm/transparent_hugepage/${step.name}`);
        return;
      }
      const err = ksmSysfsWrite(ksm, step.name, knobString(step.value));
      if (err !== 0) throw new ErrnoError(-err, 'write', `/sys/kernel/mm/ksm/${step.name}`);
      return;
    }
    case 'khugepaged_scan':
      khugepagedFullScans(ctx.machine, step.full_scans);
      return;
    case 'ksm_scan':
      if (advisorBlocksScans(ksm, index, step.op, failures)) return STOP;
      exactScans(ksm, () => ksm.runFullScans(step.full_scans));
      return;
    case 'ksm_converge': {
      if (advisorBlocksScans(ksm, index, step.op, failures)) return STOP;
      const max = step.max_full_scans ?? 50;
      let converged = false;
      exactScans(ksm, () => {
        converged = convergeScans(ksm, max);
      });
      // The oracle fails a converge that runs out of scans while ksmd has work: some live
      // process has a VM_MERGEABLE VMA (ksm_stat's ksm_mergeable).
      if (!converged && [...ctx.procs.values()].some((p) => ksm.ksm_stat(p.mm).ksm_mergeable))
        failures.push({
          step: index,
          op: step.op,
          message: `counters still changing after ${max} full scans`,
        });
      return;
    }
    case 'ksm_unmerge_all': {
      const err = ksmSysfsWrite(ksm, 'run', '2');
      if (err !== 0) throw new ErrnoError(-err, 'write', '/sys/kernel/mm/ksm/run');
      ksmSysfsWrite(ksm, 'run', '0');
      return;
    }
    case 'restore':
      return; // done by restoreStep() before runStep()
    case 'report':
      reports.push(collectReport(ctx, step.label, start));
      return;
    case 'expect': {
      const now = collectReport(ctx, `expect@${index}`, start);
      for (const [k, want] of Object.entries(step.ksm ?? {})) {
        const got = now.ksm[k as keyof KsmCounters];
        if (got !== want)
          failures.push({ step: index, op: 'expect', message: `ksm.${k}: expected ${want}, got ${got}` });
      }
      for (const [pname, fields] of Object.entries(step.proc ?? {})) {
        const pr = now.procs[pname];
        if (pr === undefined) {
          failures.push({ step: index, op: 'expect', message: `proc ${pname}: not alive` });
          continue;
        }
        for (const [f, want] of Object.entries(fields)) {
          if (f === 'smaps') {
            for (const [sf, sw] of Object.entries(want as Record<string, number>)) {
              const got = pr.smaps[sf as keyof ProcReport['smaps']];
              if (got !== sw)
                failures.push({
                  step: index,
                  op: 'expect',
                  message: `${pname}.smaps.${sf}: expected ${sw}, got ${got}`,
                });
            }
          } else {
            const got = pr[f as keyof ProcReport];
            if (got !== want)
              failures.push({
                step: index,
                op: 'expect',
                message: `${pname}.${f}: expected ${want}, got ${got}`,
              });
          }
        }
      }
      return;
    }
  }
}

/** Larger than any scenario's page count: one ksmd batch (one khugepaged_do_scan()) is then
 * exactly one full scan. */
const SCAN_BATCH = 1_000_000_000;

/** A scenario's initial knob value that the knob's store function refused with `err`. */
function knobRefused(file: string, field: string, value: string, err: number): ScenarioError {
  return new ScenarioError(file, field, 'a value the knob accepts', `${value} (${errnoName(err)})`);
}

/**
 * Exact full scans as the kernel oracle runs them (native/oracle.c ksm_scans()): pages_to_scan is
 * raised for the duration so that each batch is one whole full scan, whatever the scenario set
 * (pages_to_scan 0 included: the scans still run), then restored; ksmd is left stopped (run=0),
 * as the oracle writes run=0 after the last scan. The virtual clock advances one sleep per scan.
 */
function exactScans(ksm: Ksm, scans: () => void): void {
  const saved = ksm.pages_to_scan;
  ksm.pages_to_scan = SCAN_BATCH;
  try {
    scans();
  } finally {
    ksm.pages_to_scan = saved;
    ksmSysfsWrite(ksm, 'run', '0');
  }
}

/** `khugepaged_scan`: exactly `scans` full scans of khugepaged's mm list, as the oracle drives
 * them (native/oracle.c khugepaged_scans()): pages_to_scan is raised above any scenario for the
 * duration, so each wake-up (khugepaged_do_scan()) from the list head is one full scan, then
 * restored. */
export function khugepagedFullScans(m: Machine, scans: number): void {
  const kh = m.khugepaged;
  const saved = kh.pages_to_scan;
  kh.pages_to_scan = SCAN_BATCH;
  try {
    for (let i = 0; i < scans; i++) khugepaged_do_scan(m);
  } finally {
    kh.pages_to_scan = saved;
  }
}

/** With the scan-time advisor on, pages_to_scan cannot be written: the oracle refuses exact scans
 * with a failure (not an errno), and so does the simulator. */
function advisorBlocksScans(ksm: Ksm, step: number, op: string, failures: Failure[]): boolean {
  if (ksm.advisor_mode === 'none') return false;
  failures.push({
    step,
    op,
    message: `exact full scans need advisor_mode=none on the kernel side (it is ${ksm.advisor_mode})`,
  });
  return true;
}

/** Ksm.converge()'s loop, also telling whether the counters settled within `max` full scans. */
function convergeScans(ksm: Ksm, max: number): boolean {
  const key = (): string => {
    const c = ksm.counters() as unknown as Record<string, number>;
    return KSM_CONVERGE_COUNTERS.map((k) => c[k]).join(',');
  };
  let prev = '';
  for (let i = 1; i <= max; i++) {
    ksm.runFullScans(1);
    const k = key();
    if (i >= 2 && k === prev) return true;
    prev = k;
  }
  return false;
}

/** ksm_stat and smaps as the kernel shows them: without the fields it lacks (6.1: ksm_stat holds
 * ksm_rmap_items only, ksm_merging_pages is a file of its own, smaps has no KSM line). */
function kernelProcReport(
  profile: KsmProfile,
  st: Omit<ProcReport, 'smaps'>,
  smaps: { Rss: number; Anonymous: number; KSM: number },
): ProcReport {
  const r: ProcReport = {
    ksm_rmap_items: st.ksm_rmap_items,
    smaps: { Rss: smaps.Rss, Anonymous: smaps.Anonymous },
  };
  if (profile.zeroPages && st.ksm_zero_pages !== undefined) r.ksm_zero_pages = st.ksm_zero_pages;
  if (st.ksm_merging_pages !== undefined) r.ksm_merging_pages = st.ksm_merging_pages;
  if (profile.mergeAny && st.ksm_process_profit !== undefined) r.ksm_process_profit = st.ksm_process_profit;
  if (profile.statMergeFlags) {
    if (st.ksm_merge_any !== undefined) r.ksm_merge_any = st.ksm_merge_any;
    if (st.ksm_mergeable !== undefined) r.ksm_mergeable = st.ksm_mergeable;
  }
  if (profile.smapsKsm) r.smaps.KSM = smaps.KSM;
  return r;
}

/** How collectReport() reads the processes: smaps summed over the scenario's regions (as the
 * oracle does) or over every VMA, and with or without the per-page sharing labels. */
export interface CollectOptions {
  /** 'regions' (default): the VMAs inside the process's regions; 'all': every VMA. */
  smaps?: 'regions' | 'all';
  /** The sharing labels of every region (default true). */
  sharing?: boolean;
}

/** One report: counters, ksm_stat + smaps per live process, and the sharing labels. */
export function collectReport(
  ctx: SimulatorContext,
  label: string,
  start: { full_scans: number; pages_scanned: number; pages_skipped: number },
  opts: CollectOptions = {},
): ReportEntry {
  const { ksm, machine } = ctx;
  const pm = machine.phys;
  const c = ksm.counters() as unknown as Record<string, number>;
  const counters: Record<string, number> = {};
  const profile = machine.kernel.ksm;
  for (const k of KSM_COUNTERS) {
    if (!ksmSysfsHas(profile, k)) continue; // what the kernel's sysfs lacks, its report lacks
    counters[k] = k in start ? c[k] - start[k as keyof typeof start] : c[k];
  }
  const procs: Record<string, ProcReport> = {};
  const sharing: Record<string, number[]> = {};
  const ordinal = new Map<number, number>();
  for (const [name, p] of ctx.procs) {
    // What the oracle reads: /proc/<pid>/ksm_stat, smaps summed over the regions, pagemap.
    const vmas = smaps(p.mm);
    const sum = { Rss: 0, Anonymous: 0, KSM: 0 };
    if (opts.smaps === 'all') {
      for (const e of vmas) {
        sum.Rss += e.fields.Rss;
        sum.Anonymous += e.fields.Anonymous;
        sum.KSM += e.fields.KSM;
      }
    }
    for (const [rname, reg] of ctx.regions.get(name) ?? []) {
      if (opts.smaps === 'all' && opts.sharing === false) break;
      const end = reg.addr + reg.pages * PAGE_SIZE;
      for (const e of opts.smaps === 'all' ? [] : vmas) {
        if (e.vma.vm_start < reg.addr || e.vma.vm_end > end) continue;
        sum.Rss += e.fields.Rss;
        sum.Anonymous += e.fields.Anonymous;
        sum.KSM += e.fields.KSM;
      }
      if (opts.sharing === false) continue;
      const entries = pagemap_read(p.mm, reg.addr, end);
      const labels: number[] = new Array(reg.pages);
      for (let i = 0; i < reg.pages; i++) {
        const e = entries[i];
        if ((e & PM_PRESENT) !== 0n) {
          const pfn = Number(e & PM_PFRAME_MASK);
          let k = ordinal.get(pfn);
          if (pm.is_zero_pfn(pfn) || pm.is_huge_zero_pfn(pfn)) k = LABEL_ZERO_PAGE;
          else if (k === undefined) {
            k = ordinal.size;
            ordinal.set(pfn, k);
          }
          labels[i] = k;
        } else labels[i] = (e & PM_SWAP) !== 0n ? LABEL_OTHER : LABEL_NOT_PRESENT;
      }
      sharing[`${name}/${rname}`] = labels;
    }
    procs[name] = kernelProcReport(profile, ksm.ksm_stat(p.mm), sum);
  }
  const entry: ReportEntry = { label, ksm: counters, procs, sharing };
  if (ctx.khugepagedReport) {
    const kh = machine.khugepaged;
    entry.khugepaged = { full_scans: kh.full_scans, pages_collapsed: kh.pages_collapsed };
  }
  return entry;
}

/**
 * The oracle's khugepaged sentinel (native/oracle.c start_sentinel()): a process outside the
 * scenario whose one THP, in a MADV_HUGEPAGE VMA, keeps khugepaged's list non-empty, so that every
 * `khugepaged_scan` pass is a full scan even before a scenario process joins the list. It is the
 * list's first mm, as on the kernel side, and a scan passes over its PMD mapping.
 */
function khugepagedSentinel(m: Machine): void {
  const p = new Process(m, 'khugepaged-sentinel');
  const a = p.mmap(null, 2 * PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const thp = Math.ceil(a / PMD_SIZE) * PMD_SIZE;
  p.madvise(thp, PMD_SIZE, MADV_HUGEPAGE);
  p.touch(thp);
}

/** A knob step's name prefix for /sys/kernel/mm/transparent_hugepage/khugepaged files. */
const KHUGEPAGED_KNOB_PREFIX = 'khugepaged/';
