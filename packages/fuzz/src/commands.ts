// fast-check commands over the whole stack. A command is generated blind (selectors, not names):
// check() and run() resolve it against the model of the moment into a concrete Action (the live
// process selector % live processes, the region selector % its regions, ...), so any subsequence
// fast-check shrinks to still runs.

import { STRATEGIES } from '@mmsim/ksm';
import type { FillPattern, MadviseAdvice } from '@mmsim/scenario';
import fc from 'fast-check';
import { type Action, describeAction, FAULT_SITES, type FaultSite, type Prot } from './actions.ts';
import type { Model, ModelProc, ModelRegion } from './model.ts';
import { stats } from './stats.ts';
import { FuzzWorld, type LoggedAction, type WorldOptions } from './world.ts';

/** Processes alive at once, mapped regions per process: small worlds find bugs fastest. */
export const MAX_PROCS = 4;
export const MAX_REGIONS = 6;
/** Pages of a THP-sized region (one PMD). */
export const THP_PAGES = 512;

interface RangeSel {
  from: number;
  count: number;
  whole: boolean;
}

type Gen =
  | { k: 'spawn' }
  | { k: 'mmap'; proc: number; pages: number; thp: boolean; shared: boolean; prot: Prot }
  | { k: 'fill'; proc: number; region: number; range: RangeSel; pattern: FillPattern }
  | { k: 'write'; proc: number; region: number; page: number; offset: number; value: number }
  | { k: 'touch'; proc: number; region: number; range: RangeSel }
  | { k: 'madvise'; proc: number; region: number; range: RangeSel; advice: MadviseAdvice }
  | { k: 'mprotect'; proc: number; region: number; range: RangeSel; prot: Prot }
  | { k: 'munmap'; proc: number; region: number; range: RangeSel }
  | { k: 'prctl'; proc: number; value: number }
  | { k: 'fork'; proc: number }
  | { k: 'exit'; proc: number }
  | { k: 'knob'; name: string; value: number }
  | { k: 'ksm_scan'; n: number }
  | { k: 'ksm_batch'; n: number }
  | { k: 'khugepaged_scan'; n: number }
  | { k: 'migrate'; proc: number; region: number; page: number }
  | { k: 'strategy'; name: string }
  | { k: 'inject'; sites: FaultSite[]; nth: number; prob: number; seed: number; span: number };

function pickProc(m: Model, sel: number): ModelProc | null {
  const live = m.liveProcs();
  return live.length === 0 ? null : live[sel % live.length];
}

function pickRegion(m: Model, p: ModelProc, sel: number): ModelRegion | null {
  const rs = m.mappedRegions(p);
  return rs.length === 0 ? null : rs[sel % rs.length];
}

function range(r: ModelRegion, s: RangeSel): { from: number; count: number } {
  if (s.whole) return { from: 0, count: r.pages };
  const from = s.from % r.pages;
  return { from, count: 1 + (s.count % Math.min(8, r.pages - from)) };
}

/** The concrete action a generated command means in this model state, or null (not runnable). */
export function resolve(g: Gen, m: Model): Action | null {
  switch (g.k) {
    case 'spawn':
      return m.liveProcs().length >= MAX_PROCS ? null : { op: 'spawn', proc: `p${m.nextProc}` };
    case 'knob':
      return { op: 'knob', name: g.name, value: g.value };
    case 'ksm_scan':
      return { op: 'ksm_scan', full_scans: g.n };
    case 'ksm_batch':
      return { op: 'ksm_batch', batches: g.n };
    case 'khugepaged_scan':
      return { op: 'khugepaged_scan', full_scans: g.n };
    case 'strategy':
      return { op: 'strategy', name: g.name };
    case 'inject':
      return { op: 'inject', sites: g.sites, nth: g.nth, prob: g.prob, seed: g.seed, span: g.span };
    default:
      break;
  }
  const p = pickProc(m, g.proc);
  // Nothing to act on yet: start a process (keeps sequences dense; shrinking still works).
  if (p === null) return m.liveProcs().length >= MAX_PROCS ? null : { op: 'spawn', proc: `p${m.nextProc}` };
  switch (g.k) {
    case 'mmap':
      if (m.mappedRegions(p).length >= MAX_REGIONS) return null;
      return {
        op: 'mmap',
        proc: p.name,
        region: `r${m.nextRegion}`,
        pages: g.pages,
        thp: g.thp,
        shared: g.shared,
        prot: g.prot,
      };
    case 'prctl':
      return { op: 'prctl', proc: p.name, value: g.value };
    case 'fork':
      return m.liveProcs().length >= MAX_PROCS ? null : { op: 'fork', proc: p.name, child: `p${m.nextProc}` };
    case 'exit':
      return { op: 'exit', proc: p.name };
    default:
      break;
  }
  const r = pickRegion(m, p, g.region);
  if (r === null) {
    const pages = 1 + (g.region % 16);
    return {
      op: 'mmap',
      proc: p.name,
      region: `r${m.nextRegion}`,
      pages,
      thp: false,
      shared: false,
      prot: 'rw',
    };
  }
  const base = { proc: p.name, region: r.name };
  switch (g.k) {
    case 'fill':
      return { op: 'fill', ...base, ...range(r, g.range), pattern: g.pattern };
    case 'write':
      return { op: 'write', ...base, page: g.page % r.pages, offset: g.offset, value: g.value };
    case 'touch':
      return { op: 'touch', ...base, ...range(r, g.range) };
    case 'madvise':
      return { op: 'madvise', ...base, ...range(r, g.range), advice: g.advice };
    case 'mprotect':
      return { op: 'mprotect', ...base, ...range(r, g.range), prot: g.prot };
    case 'munmap':
      return { op: 'munmap', ...base, ...range(r, g.range) };
    case 'migrate':
      return { op: 'migrate', ...base, page: g.page % r.pages };
  }
}

/** One fast-check command: resolves its Gen, executes it on the world. */
export class FuzzCommand implements fc.Command<Model, FuzzWorld> {
  readonly gen: Gen;
  constructor(gen: Gen) {
    this.gen = gen;
  }

  check(m: Readonly<Model>): boolean {
    return resolve(this.gen, m as Model) !== null;
  }

  run(_m: Model, w: FuzzWorld): void {
    const a = resolve(this.gen, w.model);
    if (a === null) return;
    w.exec(a);
  }

  /** The generated values (what fast-check replays); the resolved actions of a failing run are
   * in the SequenceFailure message. */
  toString(): string {
    const { k, ...rest } = this.gen;
    return `${k}(${JSON.stringify(rest).slice(1, -1)})`;
  }
}

// ---- arbitraries ---------------------------------------------------------------------------------

const sel = fc.nat({ max: 1000 });
const rangeSel: fc.Arbitrary<RangeSel> = fc.record({
  from: fc.nat({ max: 600 }),
  count: fc.nat({ max: 16 }),
  whole: fc.boolean(),
});
const prot: fc.Arbitrary<Prot> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<Prot>('rw') },
  { weight: 2, arbitrary: fc.constant<Prot>('r') },
  { weight: 1, arbitrary: fc.constant<Prot>('none') },
);
/** Few distinct contents, so that KSM finds many duplicates. */
const pattern: fc.Arbitrary<FillPattern> = fc.oneof(
  fc.constant<FillPattern>({ kind: 'zero' }),
  fc.constantFrom(1, 2, 0xff).map((value): FillPattern => ({ kind: 'byte', value })),
  fc
    .record({ count: fc.integer({ min: 1, max: 3 }), seed: fc.nat({ max: 2 }) })
    .map(({ count, seed }): FillPattern => ({ kind: 'ids', count, seed })),
);
const advice: fc.Arbitrary<MadviseAdvice> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<MadviseAdvice>('MADV_MERGEABLE') },
  { weight: 2, arbitrary: fc.constant<MadviseAdvice>('MADV_UNMERGEABLE') },
  { weight: 2, arbitrary: fc.constant<MadviseAdvice>('MADV_DONTNEED') },
  { weight: 3, arbitrary: fc.constant<MadviseAdvice>('MADV_PAGEOUT') },
  { weight: 1, arbitrary: fc.constant<MadviseAdvice>('MADV_HUGEPAGE') },
);
const knob = fc.oneof(
  fc.record({ name: fc.constant('use_zero_pages'), value: fc.constantFrom(0, 1) }),
  fc.record({ name: fc.constant('smart_scan'), value: fc.constantFrom(0, 1) }),
  fc.record({ name: fc.constant('max_page_sharing'), value: fc.constantFrom(2, 3, 256) }),
  fc.record({ name: fc.constant('run'), value: fc.constantFrom(0, 1, 2) }),
  fc.record({ name: fc.constant('pages_to_scan'), value: fc.constantFrom(1, 7, 100, 1000) }),
);
export const STRATEGY_NAMES: string[] = Object.keys(STRATEGIES);

const g = <T extends Gen>(a: fc.Arbitrary<T>): fc.Arbitrary<FuzzCommand> => a.map((x) => new FuzzCommand(x));

/** Every command, weighted. */
export function commandArbitraries(opts: { faults?: boolean } = {}): fc.Arbitrary<FuzzCommand>[] {
  const w = (weight: number, arbitrary: fc.Arbitrary<FuzzCommand>) => ({ weight, arbitrary });
  const list = [
    w(2, g(fc.constant({ k: 'spawn' as const }))),
    w(
      4,
      g(
        fc.record({
          k: fc.constant('mmap' as const),
          proc: sel,
          pages: fc.oneof(
            { weight: 6, arbitrary: fc.integer({ min: 1, max: 16 }) },
            { weight: 1, arbitrary: fc.constant(THP_PAGES) },
          ),
          thp: fc.boolean(),
          shared: fc.oneof(
            { weight: 8, arbitrary: fc.constant(false) },
            { weight: 1, arbitrary: fc.constant(true) },
          ),
          prot,
        }),
      ),
    ),
    w(8, g(fc.record({ k: fc.constant('fill' as const), proc: sel, region: sel, range: rangeSel, pattern }))),
    w(
      5,
      g(
        fc.record({
          k: fc.constant('write' as const),
          proc: sel,
          region: sel,
          page: fc.nat({ max: 600 }),
          offset: fc.constantFrom(0, 1, 2048, 4095),
          value: fc.constantFrom(0, 1, 2, 0xff),
        }),
      ),
    ),
    w(5, g(fc.record({ k: fc.constant('touch' as const), proc: sel, region: sel, range: rangeSel }))),
    w(
      8,
      g(fc.record({ k: fc.constant('madvise' as const), proc: sel, region: sel, range: rangeSel, advice })),
    ),
    w(
      2,
      g(fc.record({ k: fc.constant('mprotect' as const), proc: sel, region: sel, range: rangeSel, prot })),
    ),
    w(2, g(fc.record({ k: fc.constant('munmap' as const), proc: sel, region: sel, range: rangeSel }))),
    w(2, g(fc.record({ k: fc.constant('prctl' as const), proc: sel, value: fc.constantFrom(0, 1) }))),
    w(3, g(fc.record({ k: fc.constant('fork' as const), proc: sel }))),
    w(2, g(fc.record({ k: fc.constant('exit' as const), proc: sel }))),
    w(3, g(knob.map(({ name, value }) => ({ k: 'knob' as const, name, value })))),
    w(5, g(fc.record({ k: fc.constant('ksm_scan' as const), n: fc.integer({ min: 1, max: 3 }) }))),
    w(4, g(fc.record({ k: fc.constant('ksm_batch' as const), n: fc.integer({ min: 1, max: 3 }) }))),
    w(3, g(fc.record({ k: fc.constant('khugepaged_scan' as const), n: fc.integer({ min: 1, max: 2 }) }))),
    w(
      3,
      g(
        fc.record({ k: fc.constant('migrate' as const), proc: sel, region: sel, page: fc.nat({ max: 600 }) }),
      ),
    ),
    w(2, g(fc.record({ k: fc.constant('strategy' as const), name: fc.constantFrom(...STRATEGY_NAMES) }))),
  ];
  if (opts.faults !== false) {
    list.push(
      w(
        4,
        g(
          fc.record({
            k: fc.constant('inject' as const),
            sites: fc.subarray([...FAULT_SITES], { minLength: 1 }),
            nth: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant(0)),
            prob: fc.constantFrom(0.1, 0.3, 0.6),
            seed: fc.nat(),
            span: fc.integer({ min: 1, max: 4 }),
          }),
        ),
      ),
    );
  }
  return list.map((x) => fc.oneof(x));
}

/** A whole sequence's machine: paging depth and the break_ksm() strategy it starts with. */
export const worldOptions: fc.Arbitrary<WorldOptions> = fc.record({
  levels: fc.constantFrom<4 | 5>(4, 5),
  strategy: fc.constantFrom(...STRATEGY_NAMES),
});

export function commandsArbitrary(
  maxCommands = 100,
  faults = true,
): fc.Arbitrary<Iterable<fc.Command<Model, FuzzWorld>>> {
  return fc.commands(commandArbitraries({ faults }), { maxCommands, size: 'max' });
}

/** Run one generated sequence on a fresh world; tears down and checks for leaks at the end. */
export function runSequence(opts: WorldOptions, cmds: Iterable<fc.Command<Model, FuzzWorld>>): FuzzWorld {
  const w = new FuzzWorld(opts);
  try {
    w.check();
    fc.modelRun(() => ({ model: w.model, real: w }), cmds);
    w.teardown();
  } catch (e) {
    lastFailure = { options: opts, actions: w.log.map((l) => l.action) };
    throw new SequenceFailure(e, opts, w.log);
  }
  stats.sequences++;
  return w;
}

/** The options and actions of the last sequence that failed (what `pnpm fuzz` writes out). */
export let lastFailure: { options: WorldOptions; actions: Action[] } | null = null;

/** A failed sequence: the cause, and the actions as they really ran (resolved, in order). */
export class SequenceFailure extends Error {
  override readonly name = 'SequenceFailure';
  readonly options: WorldOptions;
  readonly log: readonly LoggedAction[];

  constructor(cause: unknown, options: WorldOptions, log: readonly LoggedAction[]) {
    const lines = log.map((l) => {
      const out = l.got === l.expected ? '' : ` -> ${l.got || 'ok'} (model: ${l.expected || 'ok'})`;
      return `  ${describeAction(l.action)}${l.injected > 0 ? ` [${l.injected} faults]` : ''}${out}`;
    });
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(`${msg}\nworld ${JSON.stringify(options)}, actions as run:\n${lines.join('\n')}`, { cause });
    this.options = options;
    this.log = log;
  }
}

/** The property: any sequence of commands keeps the simulator equal to the model. */
export function wholeStackProperty(maxCommands = 100, faults = true) {
  return fc.property(worldOptions, commandsArbitrary(maxCommands, faults), (opts, cmds) => {
    runSequence(opts, cmds);
  });
}

/** Replay a logged action list (from a failing run) on a fresh world. */
export function replayActions(opts: WorldOptions, actions: readonly Action[]): FuzzWorld {
  const w = new FuzzWorld(opts);
  w.check();
  for (const a of actions) w.exec(a);
  w.teardown();
  return w;
}
