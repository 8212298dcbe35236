// The fuzzer's world: a simulated machine with KSM, its processes, and the reference model, driven
// side by side by actions. Every action's errno is predicted from the model (with ENOMEM allowed
// where an armed fault injection may cause it); after every action every live process's memory
// must read back exactly what the model holds, and the mm and KSM invariant checkers must pass.

import {
  ErrnoError,
  KernelBug,
  lastWarning,
  PAGE_SIZE,
  PMD_SIZE,
  subpageIndex,
  warnCount,
} from '@mmsim/core';
import {
  chainDups,
  checkKsmInvariants,
  Ksm,
  type KsmStableNode,
  ksmSlots,
  ksmSysfsWrite,
  PR_SET_MEMORY_MERGE,
  STABLE_NODE_CHAIN,
  STRATEGIES,
  stableNodes,
} from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  _PAGE_PRESENT,
  checkMmInvariants,
  compareBytes,
  E,
  entry_pfn,
  entryTable,
  is_migration_type,
  linear_page_index,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  MAX_SWAPFILES,
  Machine,
  type MmStruct,
  migrate_folio,
  PAGE_MAPPING_KSM,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  pmd_index,
  pmd_leaf,
  pte_index,
  pte_present,
  readEntry,
  swp_offset,
  swp_type,
  VM_READ,
  VM_WRITE,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { fillPage, khugepagedFullScans, MADVISE_ADVICE } from '@mmsim/scenario';
import { type Action, describeAction, type Prot } from './actions.ts';
import { Injector } from './inject.ts';
import { canonical, Model, ModelProc, ModelRegion, P_NONE, P_R, protFromName, withByte } from './model.ts';
import { stats } from './stats.ts';

/** A disagreement between the simulator and the model, or a broken invariant. */
export class Violation extends Error {
  override readonly name = 'Violation';
}

export interface WorldOptions {
  levels?: 4 | 5;
  /** Simulated RAM (frames are allocated lazily; the default is far more than a sequence uses). */
  memoryMiB?: number;
  /** break_ksm() strategy name. */
  strategy?: string;
  /** Initial KSM knobs (sysfs names). */
  knobs?: Record<string, string | number>;
}

/** One executed action and its outcome. */
export interface LoggedAction {
  action: Action;
  /** The errno the model predicted without fault injection ('' = success). */
  expected: string;
  /** What happened ('' = success). */
  got: string;
  /** Faults injected while it ran. */
  injected: number;
}

const PROT_BITS: Record<Prot, number> = { rw: PROT_READ | PROT_WRITE, r: PROT_READ, none: PROT_NONE };
/** Advice whose only possible allocation failure is ENOMEM to the caller. */
const ENOMEM_ADVICE = new Set(['MADV_MERGEABLE', 'MADV_UNMERGEABLE']);

const pageBuf = new Uint8Array(PAGE_SIZE);
const peekBuf = new Uint8Array(PAGE_SIZE);

export class FuzzWorld {
  readonly m: Machine;
  readonly ksm: Ksm;
  readonly model: Model = new Model();
  readonly procs: Map<string, Process> = new Map();
  readonly log: LoggedAction[] = [];
  readonly options: Required<Pick<WorldOptions, 'levels' | 'memoryMiB'>> & WorldOptions;
  private pending: Injector | null = null;
  private pendingSpan = 0;
  private readonly warnBase: number;

  constructor(opts: WorldOptions = {}) {
    this.options = { levels: 4, memoryMiB: 512, ...opts };
    this.m = new Machine({ memoryMiB: this.options.memoryMiB, levels: this.options.levels });
    this.ksm = new Ksm(this.m);
    if (opts.strategy !== undefined) this.setStrategy(opts.strategy);
    for (const [k, v] of Object.entries(opts.knobs ?? {})) {
      const err = ksmSysfsWrite(this.ksm, k, String(v));
      if (err !== 0) throw new Violation(`initial knob ${k}=${v} refused (${err})`);
    }
    this.warnBase = warnCount();
  }

  private setStrategy(name: string): void {
    const s = STRATEGIES[name];
    if (s === undefined) throw new Violation(`unknown break_ksm strategy "${name}"`);
    this.ksm.strategy = s;
  }

  /** Execute one action, then check everything. Throws Violation (or KernelBug) on a failure. */
  exec(a: Action): void {
    // A new process is exec()'s business, not modelled as failing: spawn runs uninjected.
    const inj = a.op === 'spawn' ? null : this.pending;
    if (this.pending !== null && --this.pendingSpan <= 0) this.pending = null;
    if (a.op === 'inject') {
      this.pending = new Injector(a);
      this.pendingSpan = Math.max(1, a.span);
      this.log.push({ action: a, expected: '', got: '', injected: 0 });
      return;
    }
    stats.commands++;
    stats.byOp[a.op] = (stats.byOp[a.op] ?? 0) + 1;
    const before = inj?.injected ?? 0;
    if (inj !== null) {
      stats.faultArms++;
      inj.install(this.m, this.ksm);
    }
    const entry: LoggedAction = { action: a, expected: '', got: '', injected: 0 };
    this.log.push(entry);
    try {
      this.apply(a, entry, inj !== null);
    } finally {
      if (inj !== null) {
        Injector.uninstall(this.m, this.ksm);
        entry.injected = inj.injected - before;
        stats.faultsInjected += entry.injected;
      }
    }
    this.check(describeAction(a));
  }

  /** Execute an action from inside a scripted interleaving (a kernel operation is half done,
   * locks may be held): the simulator and the model are updated, the checks wait for the end. */
  execInterleaved(a: Action): void {
    const entry: LoggedAction = { action: a, expected: '', got: '', injected: 0 };
    this.log.push(entry);
    stats.commands++;
    this.apply(a, entry, false);
  }

  // ---- outcome checking ---------------------------------------------------------------------

  private outcome(
    entry: LoggedAction,
    what: string,
    expected: string,
    got: string,
    injected: boolean,
    enomemOk: boolean,
  ): void {
    entry.expected = expected;
    entry.got = got;
    if (got === expected) return;
    if (injected && enomemOk && got === 'ENOMEM') return;
    throw new Violation(`${what}: expected ${expected || 'success'}, got ${got || 'success'}`);
  }

  private proc(name: string): { p: Process; mp: ModelProc } {
    const p = this.procs.get(name);
    const mp = this.model.procs.get(name);
    if (p === undefined || mp === undefined || !mp.alive) throw new Violation(`no live process ${name}`);
    return { p, mp };
  }

  private region(mp: ModelProc, name: string): ModelRegion {
    const r = mp.regions.get(name);
    if (r === undefined) throw new Violation(`${mp.name} has no region ${name}`);
    return r;
  }

  // ---- the actions ----------------------------------------------------------------------------

  private apply(a: Action, entry: LoggedAction, inj: boolean): void {
    const what = describeAction(a);
    const model = this.model;
    switch (a.op) {
      case 'spawn': {
        if (model.procs.has(a.proc)) throw new Violation(`${what}: name in use`);
        this.procs.set(a.proc, new Process(this.m, a.proc));
        model.procs.set(a.proc, new ModelProc(a.proc));
        model.nextProc++;
        return;
      }
      case 'mmap': {
        const { p, mp } = this.proc(a.proc);
        const addr = model.placeRegion(a.pages);
        const flags = (a.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED;
        const got = errnoOf(() => {
          p.mmap(addr, a.pages * PAGE_SIZE, PROT_BITS[a.prot], flags);
          if (a.thp) p.madvise(addr, a.pages * PAGE_SIZE, MADV_HUGEPAGE);
        });
        this.outcome(entry, what, '', got, inj, false);
        mp.regions.set(
          a.region,
          ModelRegion.create(a.region, addr, a.pages, a.shared, a.thp, protFromName(a.prot)),
        );
        model.nextRegion++;
        return;
      }
      case 'fill': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        for (let i = 0; i < a.count; i++) {
          const page = a.from + i;
          const expected = r.mapped[page] === 0 || r.prot[page] !== 3 ? 'EFAULT' : '';
          fillPage(a.pattern, i, a.count, pageBuf, 0);
          const got = errnoOf(() => p.writePage(r.pageAddr(page), pageBuf));
          this.outcome(entry, `${what} (page ${page})`, expected, got, inj, true);
          if (got !== '') return;
          r.data[page] = canonical(pageBuf.slice());
        }
        return;
      }
      case 'write': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        const expected = r.mapped[a.page] === 0 || r.prot[a.page] !== 3 ? 'EFAULT' : '';
        const got = errnoOf(() => p.writeByte(r.pageAddr(a.page) + a.offset, a.value));
        this.outcome(entry, what, expected, got, inj, true);
        if (got === '') r.data[a.page] = withByte(r.data[a.page], a.offset, a.value);
        return;
      }
      case 'touch': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        for (let page = a.from; page < a.from + a.count; page++) {
          const expected = r.mapped[page] === 0 || r.prot[page] === P_NONE ? 'EFAULT' : '';
          let bytes: Uint8Array | null = null;
          const got = errnoOf(() => {
            bytes = p.read(r.pageAddr(page), PAGE_SIZE);
          });
          this.outcome(entry, `${what} (page ${page})`, expected, got, inj, true);
          if (got !== '') return;
          comparePage(`${what}: read of ${a.proc}/${a.region} page ${page}`, r.data[page], bytes!);
        }
        return;
      }
      case 'madvise': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        const expected = r.allMapped(a.from, a.count) ? '' : 'ENOMEM';
        const got = errnoOf(() =>
          p.madvise(r.pageAddr(a.from), a.count * PAGE_SIZE, MADVISE_ADVICE[a.advice]),
        );
        this.outcome(entry, what, expected, got, inj, ENOMEM_ADVICE.has(a.advice));
        if (a.advice === 'MADV_DONTNEED' && !r.shared) {
          for (let i = a.from; i < a.from + a.count; i++) if (r.mapped[i] !== 0) r.data[i] = null;
        }
        return;
      }
      case 'mprotect': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        const expected = r.allMapped(a.from, a.count) ? '' : 'ENOMEM';
        const got = errnoOf(() => p.mprotect(r.pageAddr(a.from), a.count * PAGE_SIZE, PROT_BITS[a.prot]));
        this.outcome(entry, what, expected, got, inj, false);
        // do_mprotect_pkey(): the pages before the first hole change even when it fails.
        let end = a.from;
        while (end < a.from + a.count && r.mapped[end] !== 0) end++;
        r.prot.fill(protFromName(a.prot), a.from, end);
        return;
      }
      case 'munmap': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        const got = errnoOf(() => p.munmap(r.pageAddr(a.from), a.count * PAGE_SIZE));
        this.outcome(entry, what, '', got, inj, false);
        for (let i = a.from; i < a.from + a.count; i++) {
          r.mapped[i] = 0;
          if (!r.shared) r.data[i] = null;
        }
        return;
      }
      case 'prctl': {
        const { p } = this.proc(a.proc);
        const got = errnoOf(() => p.prctl(PR_SET_MEMORY_MERGE, a.value));
        this.outcome(entry, what, '', got, inj, true);
        return;
      }
      case 'fork': {
        const { p, mp } = this.proc(a.proc);
        if (model.procs.has(a.child)) throw new Violation(`${what}: name in use`);
        model.nextProc++;
        let child: Process | null = null;
        const got = errnoOf(() => {
          child = p.fork(a.child);
        });
        this.outcome(entry, what, '', got, inj, true);
        if (got !== '') return;
        this.procs.set(a.child, child!);
        const regions = new Map<string, ModelRegion>();
        for (const [n, r] of mp.regions) regions.set(n, r.forkCopy());
        model.procs.set(a.child, new ModelProc(a.child, regions));
        return;
      }
      case 'exit': {
        const { p, mp } = this.proc(a.proc);
        const got = errnoOf(() => p.exit());
        this.outcome(entry, what, '', got, inj, false);
        mp.alive = false;
        model.procs.delete(a.proc);
        this.procs.delete(a.proc);
        return;
      }
      case 'knob': {
        let expected = '';
        // max_page_sharing_store(): -EBUSY while any KSM page is shared or a stable node's page
        // is still mapped (remove_stable_node(): a sharer forked before ksmd merged it).
        if (a.name === 'max_page_sharing' && Number(a.value) !== this.ksm.max_page_sharing) {
          if (this.ksm.pages_shared !== 0 || this.stableNodeMapped()) expected = 'EBUSY';
        }
        const err = ksmSysfsWrite(this.ksm, a.name, String(a.value));
        this.outcome(entry, what, expected, errnoName(err), inj, a.name === 'run');
        return;
      }
      case 'ksm_scan':
        this.ksm.runFullScans(a.full_scans);
        return;
      case 'ksm_converge':
        this.ksm.converge(a.max_full_scans);
        return;
      case 'ksm_unmerge_all': {
        const err = ksmSysfsWrite(this.ksm, 'run', '2');
        this.outcome(entry, what, '', errnoName(err), inj, true);
        ksmSysfsWrite(this.ksm, 'run', '0');
        return;
      }
      case 'ksm_batch':
        for (let i = 0; i < a.batches; i++) this.ksm.runBatch();
        return;
      case 'khugepaged_scan':
        khugepagedFullScans(this.m, a.full_scans);
        return;
      case 'migrate': {
        const { p, mp } = this.proc(a.proc);
        const r = this.region(mp, a.region);
        const pfn = mappedPfn(this.m, p.mm, r.pageAddr(a.page));
        const pm = this.m.phys;
        if (pfn !== 0 && pm.PageAnon(pfn) && !pm.is_zero_pfn(pfn) && !pm.is_huge_zero_pfn(pfn)) {
          if (migrate_folio(this.m, pm.folio(pfn)) !== 0) stats.migrations++;
        }
        return;
      }
      case 'strategy':
        this.setStrategy(a.name);
        return;
    }
  }

  /** Is the page of some stable node (or dup) still mapped? */
  private stableNodeMapped(): boolean {
    const pm = this.m.phys;
    const live = (n: KsmStableNode): boolean =>
      pm.mapping[n.kpfn] === n.id * 4 + PAGE_MAPPING_KSM && pm.folio_mapped(n.kpfn);
    for (const n of stableNodes(this.ksm)) {
      if (n.rmap_hlist_len === STABLE_NODE_CHAIN) {
        for (const d of chainDups(n)) if (live(d)) return true;
      } else if (live(n)) return true;
    }
    return false;
  }

  // ---- checks -----------------------------------------------------------------------------------

  /** Every check, after every action. */
  check(after = 'start'): void {
    const m = this.m;
    if (warnCount() !== this.warnBase) throw new Violation(`after ${after}: WARN_ON fired: ${lastWarning()}`);
    try {
      checkMmInvariants(m);
      checkKsmInvariants(this.ksm);
    } catch (e) {
      if (e instanceof KernelBug) throw new Violation(`after ${after}: ${e.message}\n${e.stack ?? ''}`);
      throw e;
    }
    const live = this.model.liveProcs();
    if (m.mms.size !== live.length)
      throw new Violation(`after ${after}: ${m.mms.size} address spaces but ${live.length} live processes`);
    for (const mp of live) {
      const p = this.procs.get(mp.name)!;
      for (const r of mp.regions.values()) this.checkRegion(after, p, r);
    }
  }

  private checkRegion(after: string, p: Process, r: ModelRegion): void {
    const mm = p.mm;
    for (let i = 0; i < r.pages; i++) {
      const addr = r.pageAddr(i);
      const vma = mm.vma_lookup(addr);
      const where = `after ${after}: ${p.name}/${r.name} page ${i}`;
      if ((vma !== null) !== (r.mapped[i] !== 0))
        throw new Violation(`${where}: ${vma !== null ? 'mapped' : 'unmapped'}, model says otherwise`);
      if (vma === null) continue;
      const rw = vma.vm_flags & (VM_READ | VM_WRITE);
      const want = r.prot[i] === P_NONE ? 0 : r.prot[i] === P_R ? VM_READ : VM_READ | VM_WRITE;
      if (rw !== want) throw new Violation(`${where}: vm_flags prot ${rw}, model ${want}`);
      const nonzero = peekPage(this.m, vma, addr, peekBuf, where);
      const expect = r.data[i];
      if (expect === null) {
        if (nonzero)
          throw new Violation(`${where}: holds data, model says zero (${firstDiff(null, peekBuf)})`);
      } else if (!nonzero) {
        throw new Violation(`${where}: reads zero, model holds data (${firstDiff(expect, null)})`);
      } else if (compareBytes(expect, 0, peekBuf, 0, PAGE_SIZE) !== 0) {
        throw new Violation(`${where}: contents differ (${firstDiff(expect, peekBuf)})`);
      }
    }
  }

  /** End of a sequence: exit everyone, let ksmd drop what it held, and require that every frame,
   * page table, swap slot and rmap_item came back. Returns the frames leaked (0, or it throws). */
  teardown(): number {
    for (const mp of this.model.liveProcs()) this.exec({ op: 'exit', proc: mp.name });
    this.ksm.runFullScans(1);
    this.check('teardown');
    const m = this.m;
    const pm = m.phys;
    const baseline = 1 + (pm.hugeZeroPfn !== 0 ? 512 : 0);
    const leaked = pm.nrUsed - baseline;
    const problems: string[] = [];
    if (leaked !== 0) problems.push(`${leaked} frames leaked`);
    if (pm.nrPageTables !== 0) problems.push(`${pm.nrPageTables} page tables left`);
    if (m.swap.inuse !== 0) problems.push(`${m.swap.inuse} swap slots left`);
    if (m.swap.cache.size !== 0) problems.push(`${m.swap.cache.size} swap cache entries left`);
    if (m.migrations.size !== 0) problems.push(`${m.migrations.size} migrations unfinished`);
    if (this.ksm.rmap_items !== 0) problems.push(`${this.ksm.rmap_items} rmap_items left`);
    if (this.ksm.pages_shared + this.ksm.pages_sharing !== 0) problems.push('KSM pages left');
    const slots = ksmSlots(this.ksm).length;
    if (slots !== 0) problems.push(`${slots} mm_slots left`);
    if (problems.length > 0) {
      stats.framesLeaked += Math.max(0, leaked);
      throw new Violation(`teardown: ${problems.join(', ')}`);
    }
    return leaked;
  }
}

/** Run fn; '' when it returned, the errno code when it threw ErrnoError (other errors propagate). */
export function errnoOf(fn: () => void): string {
  try {
    fn();
    return '';
  } catch (e) {
    if (e instanceof ErrnoError) return e.code;
    throw e;
  }
}

function errnoName(negErr: number): string {
  if (negErr === 0) return '';
  return new ErrnoError(-negErr, 'knob', '').code;
}

/** The PFN mapped (present, PTE or PMD) at addr, or 0. */
export function mappedPfn(m: Machine, mm: MmStruct, addr: number): number {
  const pm = m.phys;
  const pmdT = mm.find_pmd_table(addr);
  if (pmdT === 0) return 0;
  readEntry(pm, pmdT, pmd_index(addr));
  if (pmd_leaf(E.lo)) return entry_pfn(E.lo, E.hi) + subpageIndex(addr, PMD_SIZE);
  if ((E.lo & _PAGE_PRESENT) === 0) return 0;
  readEntry(pm, entryTable(E.lo, E.hi), pte_index(addr));
  if (!pte_present(E.lo)) return 0;
  return entry_pfn(E.lo, E.hi);
}

/**
 * The contents at addr without touching anything (no fault, no accessed bit): the mapped frame,
 * the swap cache folio or swap slot behind a swap entry, the source of a migration entry, or the
 * shmem object's page. Copies them to `out` and returns true, or returns false for zero.
 */
export function peekPage(
  m: Machine,
  vma: VmAreaStruct,
  addr: number,
  out: Uint8Array,
  where: string,
): boolean {
  const pm = m.phys;
  const mm = vma.vm_mm;
  let pfn = 0;
  const pmdT = mm.find_pmd_table(addr);
  if (pmdT !== 0) {
    readEntry(pm, pmdT, pmd_index(addr));
    const lo = E.lo;
    const hi = E.hi;
    if (pmd_leaf(lo)) {
      pfn = entry_pfn(lo, hi) + subpageIndex(addr, PMD_SIZE);
    } else if (lo !== 0 || hi !== 0) {
      if ((lo & _PAGE_PRESENT) === 0) throw new Violation(`${where}: non-present, non-leaf PMD ${hi}:${lo}`);
      readEntry(pm, entryTable(lo, hi), pte_index(addr));
      const plo = E.lo;
      const phi = E.hi;
      if (plo !== 0 || phi !== 0) {
        if (pte_present(plo)) pfn = entry_pfn(plo, phi);
        else {
          const type = swp_type(plo, phi);
          const off = swp_offset(plo, phi);
          if (type < MAX_SWAPFILES) {
            pfn = m.swap.cache.get(off) ?? 0;
            if (pfn === 0) {
              const content = m.swap.read(off);
              if (pm.contents.isZero(content)) return false;
              pm.contents.read(content, 0, out, 0, PAGE_SIZE);
              return canonical(out) !== null;
            }
          } else if (is_migration_type(type)) pfn = off;
          else throw new Violation(`${where}: unexpected swap-format entry type ${type}`);
        }
      }
    }
  }
  if (pfn === 0 && vma.shmem !== null) pfn = vma.shmem.pages.get(linear_page_index(vma, addr)) ?? 0;
  if (pfn === 0 || pm.is_zero_pfn(pfn) || pm.is_huge_zero_pfn(pfn)) return false;
  if (pm.isZeroFilled(pfn)) return false;
  pm.readBytes(pfn, 0, out, 0, PAGE_SIZE);
  return true;
}

function comparePage(where: string, expect: Uint8Array | null, got: Uint8Array): void {
  if (expect === null) {
    if (canonical(got) !== null)
      throw new Violation(`${where}: holds data, model says zero (${firstDiff(null, got)})`);
  } else if (compareBytes(expect, 0, got, 0, PAGE_SIZE) !== 0) {
    throw new Violation(`${where}: contents differ (${firstDiff(expect, got)})`);
  }
}

function firstDiff(expect: Uint8Array | null, got: Uint8Array | null): string {
  for (let i = 0; i < PAGE_SIZE; i++) {
    const e = expect === null ? 0 : expect[i];
    const g = got === null ? 0 : got[i];
    if (e !== g) return `byte ${i}: expected ${e}, got ${g}`;
  }
  return 'no byte differs';
}
