// Differential fuzzing against the live kernel: random scenarios (docs/scenario-format.md) run on
// the simulator and through the oracle on the kernel of this machine, whose reports must be equal
// — every KSM counter, ksm_stat and smaps value and sharing label at every report step. The
// expected errno of each step is the simulator's, so a step the kernel answers differently ends the
// kernel run with a failure and shows as a difference too.
//
// A scenario is built from a list of choices (four numbers per step) interpreted against the
// scenario's state (live processes, their regions), so every scenario is valid and fast-check's
// shrinking of the choice list gives a smaller valid scenario.

import { mkdirSync, writeFileSync } from 'node:fs';
import {
  compareReports,
  type FillPattern,
  formatReportDiff,
  type MadviseAdvice,
  type Report,
  runOnSimulator,
  type Scenario,
  type Step,
  validateScenario,
} from '@mmsim/scenario';
import { hostMemory, OracleRefusedError, runOnKernel } from '@mmsim/scenario/node';
import fc from 'fast-check';

/** One step's choices: `kind` picks the op, the others its operands. */
export interface Choice {
  kind: number;
  a: number;
  b: number;
  c: number;
}

/** The initial knobs a scenario may start with (the rest stay at the kernel defaults). */
export interface InitialKnobs {
  use_zero_pages: number;
  max_page_sharing: number;
  smart_scan: number;
  merge_across_nodes: number;
  /** 0 prunes stale chain dups at every lookup on both engines; PRUNE_NEVER_MS never within a
   * case. Not the kernel's default 2000 ms: that interval is wall-clock time on the kernel and
   * virtual time on the simulator, and a long case on a loaded machine crosses it on one side only
   * (seed 203164: the kernel pruned 27 stale dups the simulator kept). */
  stable_node_chains_prune_millisecs: number;
}

/** khugepaged's initial knobs: small values make khugepaged refuse ranges with holes, swap
 * entries or pages shared with a fork. */
export interface InitialKhugepagedKnobs {
  max_ptes_none: number;
  max_ptes_swap: number;
  max_ptes_shared: number;
}

export interface KernelCase {
  knobs: InitialKnobs;
  /** null: the kernel defaults (and no khugepaged counters unless a step runs khugepaged). */
  khugepaged: InitialKhugepagedKnobs | null;
  /** The simulator's paging depth (the kernel side ignores it: both must give the same reports). */
  levels: 4 | 5;
  choices: Choice[];
}

/** At most this many live processes and regions per process. */
const MAX_LIVE_PROCS = 4;
const MAX_PROC_REGIONS = 4;
/** prctl steps by kind: PRCTL_CHOICES in all, the first PRCTL_GET_CHOICES PR_GET_MEMORY_MERGE;
 * the first of each kind has a nonzero argument the option wants zero. */
const PRCTL_CHOICES = 16;
const PRCTL_GET_CHOICES = 3;
/** Small regions (pages), one whole page table's worth, and the THP region sizes (whole PMDs). */
const REGION_PAGES = [1, 2, 3, 5, 8, 16, 33, 64, 100, 257, 512] as const;
const THP_REGION_PAGES = [512, 1024] as const;
/** Pages of one PMD: one page table's worth, one THP. */
const PMD_PAGES = 512;
/** A chain prune interval no case outlasts on either engine (10 minutes). */
const PRUNE_NEVER_MS = 600_000;
/** smart_scan's rmap_item age stops growing here (should_skip_rmap_item(), mm/ksm.c). */
const SMART_SCAN_AGE_MAX = 255;

const MADVICE: readonly MadviseAdvice[] = [
  'MADV_MERGEABLE',
  'MADV_MERGEABLE',
  'MADV_MERGEABLE',
  'MADV_MERGEABLE',
  'MADV_UNMERGEABLE',
  'MADV_UNMERGEABLE',
  'MADV_DONTNEED',
  'MADV_DONTNEED',
  'MADV_FREE',
  'MADV_PAGEOUT',
  'MADV_COLD',
  'MADV_WILLNEED',
  'MADV_HUGEPAGE',
  'MADV_NOHUGEPAGE',
  'MADV_POPULATE_READ',
  'MADV_POPULATE_WRITE',
  'MADV_DONTFORK',
  'MADV_DOFORK',
  'MADV_WIPEONFORK',
  'MADV_KEEPONFORK',
  'MADV_COLLAPSE',
  'MADV_GUARD_INSTALL',
  'MADV_GUARD_REMOVE',
  'MADV_REMOVE',
  'MADV_NORMAL',
  'MADV_RANDOM',
  'MADV_SEQUENTIAL',
  'MADV_DONTDUMP',
  'MADV_DODUMP',
  'MADV_DONTNEED_LOCKED',
];

/** Advice a THP recipe gives a populated THP (whole or in part). */
const THP_ADVICE: readonly MadviseAdvice[] = [
  'MADV_PAGEOUT',
  'MADV_COLD',
  'MADV_FREE',
  'MADV_DONTNEED',
  'MADV_MERGEABLE',
  'MADV_COLLAPSE',
  'MADV_GUARD_INSTALL',
  'MADV_GUARD_REMOVE',
  'MADV_POPULATE_WRITE',
  'MADV_WIPEONFORK',
];
/** Advice a file recipe gives a private file mapping (page-cache pages and their anonymous
 * copies; MADV_FREE/WIPEONFORK/REMOVE are EINVAL there, MADV_PAGEOUT reclaims page-cache pages
 * too, as root may write the file: can_do_file_pageout()). */
const FILE_ADVICE: readonly MadviseAdvice[] = [
  'MADV_DONTNEED',
  'MADV_DONTNEED',
  'MADV_FREE',
  'MADV_COLD',
  'MADV_PAGEOUT',
  'MADV_PAGEOUT',
  'MADV_WIPEONFORK',
  'MADV_DONTFORK',
  'MADV_MERGEABLE',
  'MADV_UNMERGEABLE',
  'MADV_POPULATE_READ',
  'MADV_POPULATE_WRITE',
  'MADV_WILLNEED',
  'MADV_REMOVE',
  'MADV_COLLAPSE',
  'MADV_GUARD_INSTALL',
];
/** Advice a shmem recipe gives shared anonymous memory. */
const SHMEM_ADVICE: readonly MadviseAdvice[] = [
  'MADV_PAGEOUT',
  'MADV_PAGEOUT',
  'MADV_REMOVE',
  'MADV_DONTNEED',
  'MADV_COLD',
  'MADV_FREE',
  'MADV_POPULATE_READ',
  'MADV_POPULATE_WRITE',
  'MADV_GUARD_INSTALL',
  'MADV_MERGEABLE',
];
/** Knob writes the kernel refuses (or that only make sense as errors) and run=2/0 while
 * processes ask for merging. */
const KNOB_ERRORS: readonly [Extract<Step, { op: 'knob' }>['name'], number | string][] = [
  ['max_page_sharing', 1],
  ['max_page_sharing', 0],
  ['use_zero_pages', 2],
  ['smart_scan', 'yes'],
  ['merge_across_nodes', 3],
  ['pages_to_scan', 'x'],
  ['run', 3],
  ['run', 2],
  ['run', 0],
  ['stable_node_chains_prune_millisecs', -1],
  ['khugepaged/max_ptes_none', 512],
  ['khugepaged/max_ptes_shared', 600],
  ['advisor_mode', 'bogus'],
];
/** The scan-time advisor's parameter writes (6.8; the kernel takes any unsigned long but a target
 * scan time of 0). */
const ADVISOR_KNOBS: readonly [Extract<Step, { op: 'knob' }>['name'], number][] = [
  ['advisor_max_cpu', 1],
  ['advisor_max_cpu', 100],
  ['advisor_min_pages_to_scan', 1000],
  ['advisor_max_pages_to_scan', 2000],
  ['advisor_target_scan_time', 1],
  ['advisor_target_scan_time', 0],
];

const nat = fc.nat({ max: 0xffff });
/** Choice kinds 0-99 are single steps; the kinds from RECIPE_KIND on are recipes (see RECIPES). */
const RECIPE_KIND = 100;
/** The recipes, each a short sequence steered at what single random steps rarely reach. */
export const RECIPES = [
  'merge',
  'chain-fork',
  'stale-node',
  'thp-advice',
  'shmem',
  'smart-scan',
  'knob-errors',
  'unmerge-partial',
  'merge-any',
  'advisor',
  'prot-none',
  'remove-nodes',
  'file',
] as const;
export type Recipe = (typeof RECIPES)[number];
/** How many kinds each recipe takes (its share of the choices). */
const RECIPE_WEIGHT: Record<Recipe, number> = {
  merge: 4,
  'chain-fork': 4,
  'stale-node': 3,
  'thp-advice': 4,
  shmem: 3,
  'smart-scan': 1,
  'knob-errors': 1,
  'unmerge-partial': 2,
  'merge-any': 2,
  advisor: 1,
  'prot-none': 2,
  'remove-nodes': 2,
  file: 4,
};
const RECIPE_OF_KIND: Recipe[] = RECIPES.flatMap((r) => Array<Recipe>(RECIPE_WEIGHT[r]).fill(r));
const choiceArbitrary: fc.Arbitrary<Choice> = fc.record({
  kind: fc.nat({ max: RECIPE_KIND + RECIPE_OF_KIND.length - 1 }),
  a: nat,
  b: nat,
  c: nat,
});

export function kernelCaseArbitrary(maxSteps = 40): fc.Arbitrary<KernelCase> {
  return fc.record({
    knobs: fc.record({
      use_zero_pages: fc.constantFrom(0, 0, 1),
      max_page_sharing: fc.constantFrom(256, 256, 2, 3, 5),
      smart_scan: fc.constantFrom(1, 1, 0),
      merge_across_nodes: fc.constantFrom(1, 1, 0),
      stable_node_chains_prune_millisecs: fc.constantFrom(PRUNE_NEVER_MS, PRUNE_NEVER_MS, 0),
    }),
    khugepaged: fc.option(
      fc.record({
        max_ptes_none: fc.constantFrom(511, 0, 64, 256, 510),
        max_ptes_swap: fc.constantFrom(64, 0, 1),
        max_ptes_shared: fc.constantFrom(256, 0, 1, 511),
      }),
      { freq: 3, nil: null },
    ),
    levels: fc.constantFrom<4 | 5>(4, 4, 5),
    choices: fc.array(choiceArbitrary, { minLength: 1, maxLength: maxSteps, size: 'max' }),
  });
}

interface Region {
  name: string;
  pages: number;
  shared: boolean;
  thp: boolean;
  /** The file it maps MAP_PRIVATE, or undefined for anonymous memory. */
  file?: string;
}
/** At most this many files per scenario. */
const MAX_FILES = 3;
interface Proc {
  name: string;
  regions: Region[];
}

/** The scenario a case means: spawn, the interpreted steps, then two full scans and a report. */
export function buildKernelScenario(c: KernelCase, name = 'kernel-fuzz'): Scenario {
  const steps: Step[] = [];
  const procs: Proc[] = [];
  let nextProc = 0;
  let nextRegion = 0;
  let reports = 0;
  /** The scenario's files: name -> pages (fixed by the first mmap of the name). */
  const files = new Map<string, number>();
  const spawn = (): void => {
    const p = { name: `p${nextProc++}`, regions: [] };
    procs.push(p);
    steps.push({ op: 'spawn', proc: p.name });
  };
  const newRegion = (p: Proc, pages: number, thp: boolean, shared: boolean, prot?: 'r' | 'none'): Region => {
    const r = { name: `r${nextRegion++}`, pages, shared, thp };
    p.regions.push(r);
    const step: Step = { op: 'mmap', proc: p.name, region: r.name, pages };
    if (thp) step.thp = true;
    if (shared) step.shared = true;
    if (prot !== undefined) step.prot = prot;
    steps.push(step);
    return r;
  };
  const mmap = (p: Proc, a: number, b: number): void => {
    if (a % 6 === 5) {
      mmapFile(p, b, a >> 3, a % 17 === 2 ? 'r' : a % 17 === 3 ? 'none' : undefined);
      return;
    }
    const thp = a % 10 === 0;
    const pages = thp ? THP_REGION_PAGES[b % 2]! : REGION_PAGES[b % REGION_PAGES.length]!;
    newRegion(p, pages, thp, a % 13 === 1, a % 17 === 2 ? 'r' : a % 17 === 3 ? 'none' : undefined);
  };
  /** A region of p for a recipe: an existing one of the wanted kind, else a new one (if p has
   * room for it), else undefined. */
  const regionFor = (p: Proc, x: number, want: { shared: boolean; thp?: boolean }): Region | undefined => {
    const fit = p.regions.filter(
      (r) => r.shared === want.shared && (want.thp === undefined || r.thp === want.thp),
    );
    if (fit.length > 0 && x % 3 !== 0) return fit[x % fit.length];
    if (p.regions.length >= MAX_PROC_REGIONS) return fit[x % Math.max(1, fit.length)];
    const thp = want.thp ?? false;
    const pages = thp ? THP_REGION_PAGES[x % 2]! : REGION_PAGES[3 + (x % (REGION_PAGES.length - 3))]!;
    return newRegion(p, pages, thp, want.shared);
  };
  /** Contents that merge: every page one of 1-3 contents (or zero-filled). */
  const dupPattern = (x: number): FillPattern =>
    x % 5 === 0
      ? { kind: 'zero' }
      : {
          kind: 'ids',
          count: 1 + (x % 3),
          seed: 1 + ((x >> 2) % 3),
          ...(x % 7 === 1 ? { layout: 'blocked' as const } : {}),
        };
  const scan = (n: number): void => {
    steps.push({ op: 'ksm_scan', full_scans: n });
  };
  const fill = (
    p: Proc,
    r: Region,
    pattern: FillPattern,
    rg: { from?: number; count?: number } = {},
  ): void => {
    steps.push({ op: 'fill', proc: p.name, region: r.name, pattern, ...rg });
  };
  const write = (p: Proc, r: Region, page: number, offset: number, value: number): void => {
    steps.push({ op: 'write', proc: p.name, region: r.name, page, offset, value });
  };
  /** A private mapping of a file: an existing one (at most its length) or a new one with a fill
   * pattern (duplicate contents, so that KSM may merge the anonymous copies). */
  const mmapFile = (p: Proc, x: number, y: number, prot?: 'r' | 'none'): Region => {
    const known = [...files.keys()];
    let file: string;
    let pages: number;
    const step: Step = { op: 'mmap', proc: p.name, region: `r${nextRegion}`, pages: 0 };
    if (known.length > 0 && (known.length >= MAX_FILES || x % 3 !== 0)) {
      file = known[(x >> 2) % known.length]!;
      const size = files.get(file)!;
      pages = y % 3 === 0 ? size : 1 + (y % size);
    } else {
      file = `f${files.size}`;
      pages = REGION_PAGES[y % REGION_PAGES.length]!;
      files.set(file, pages);
      const fillChoice = (y >> 4) % 4;
      if (fillChoice !== 0)
        step.file_fill = fillChoice === 1 ? { kind: 'byte', value: 1 + ((y >> 6) % 2) } : dupPattern(y >> 6);
    }
    const r = { name: `r${nextRegion++}`, pages, shared: false, thp: false, file };
    p.regions.push(r);
    step.pages = pages;
    step.file = file;
    if (prot !== undefined) step.prot = prot;
    steps.push(step);
    return r;
  };
  /** A page range of r: the whole region one time in four, one whole PMD's worth (a page table,
   * or a THP) of a large region one time in four, else [from, from+count). */
  const range = (r: Region, x: number, y: number): { from?: number; count?: number } => {
    if (x % 4 === 0) return {};
    if (x % 4 === 1 && r.pages >= PMD_PAGES) {
      const from = PMD_PAGES * ((x >> 2) % Math.floor(r.pages / PMD_PAGES));
      return { from, count: PMD_PAGES };
    }
    const from = x % r.pages;
    return { from, count: 1 + (y % (r.pages - from)) };
  };
  const fork = (p: Proc): Proc => {
    const child = { name: `p${nextProc++}`, regions: p.regions.map((x) => ({ ...x })) };
    procs.push(child);
    steps.push({ op: 'fork', proc: p.name, child: child.name });
    return child;
  };
  const recipe = (which: Recipe, p: Proc, a: number, b: number, cc: number): void => {
    switch (which) {
      case 'merge': {
        // Duplicate contents over a whole region, a whole PMD or a sub-range, merged.
        const r = regionFor(p, b, { shared: false });
        if (r === undefined) return;
        const rg = range(r, b >> 4, cc);
        fill(p, r, dupPattern(cc >> 3), rg);
        steps.push({
          op: 'madvise',
          proc: p.name,
          region: r.name,
          advice: 'MADV_MERGEABLE',
          ...(cc % 3 === 0 ? rg : {}),
        });
        scan(1 + (cc % 3));
        if (cc % 4 === 1) write(p, r, (cc >> 2) % r.pages, 0, 1);
        return;
      }
      case 'chain-fork': {
        // A small max_page_sharing makes stable node chains; forked children that KSM scans
        // bring KSM pages already mapped more than once, and the dups fill up and get pruned.
        steps.push({ op: 'knob', name: 'max_page_sharing', value: 2 + (cc % 3) });
        if (cc % 4 === 0) steps.push({ op: 'knob', name: 'stable_node_chains_prune_millisecs', value: 0 });
        const r = regionFor(p, b, { shared: false, thp: false });
        if (r === undefined) return;
        fill(p, r, { kind: 'ids', count: 1 + (cc % 2), seed: 1 });
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        scan(2);
        let child = p;
        for (let i = 0; i < 1 + (cc % 3) && procs.length < MAX_LIVE_PROCS; i++) child = fork(child);
        if (child !== p && cc % 2 === 0) write(child, r, (cc >> 3) % r.pages, 8, 2);
        scan(1 + ((cc >> 2) % 3));
        if (cc % 3 === 1)
          steps.push({ op: 'munmap', proc: p.name, region: r.name, ...range(r, cc >> 5, cc >> 9) });
        if (cc % 3 === 2 && child !== p) {
          procs.splice(procs.indexOf(child), 1);
          steps.push({ op: 'exit', proc: child.name });
        }
        scan(1 + ((cc >> 4) % 2));
        return;
      }
      case 'stale-node': {
        // A KSM page freed under its stable node (its sharers unmapped it), found stale by the
        // next search or insert of the same contents.
        const r = regionFor(p, b, { shared: false, thp: false });
        if (r === undefined) return;
        const pattern = dupPattern(1 + 5 * (cc % 7));
        fill(p, r, pattern);
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        scan(2);
        steps.push({
          op: 'madvise',
          proc: p.name,
          region: r.name,
          advice: cc % 2 === 0 ? 'MADV_DONTNEED' : 'MADV_UNMERGEABLE',
          ...range(r, cc >> 2, cc >> 6),
        });
        const q = procs[(a >> 3) % procs.length]!;
        const r2 = regionFor(q, cc >> 1, { shared: false, thp: false });
        if (r2 === undefined) return;
        fill(q, r2, pattern);
        steps.push({ op: 'madvise', proc: q.name, region: r2.name, advice: 'MADV_MERGEABLE' });
        scan(1 + (cc % 3));
        return;
      }
      case 'thp-advice': {
        // A THP populated (written, or read: the huge zero page), maybe shared with a child,
        // then advice over the whole THP or part of it.
        const r = regionFor(p, b, { shared: false, thp: true });
        if (r === undefined) return;
        if (cc % 4 === 0) steps.push({ op: 'touch', proc: p.name, region: r.name });
        else
          fill(
            p,
            r,
            cc % 4 === 1 ? { kind: 'zero' } : dupPattern(cc >> 2),
            cc % 3 === 0 ? range(r, 1, 0) : {},
          );
        const variant = (cc >> 12) % 4;
        if (variant === 1) {
          // PTE-map the THP (mprotect of part of it splits the PMD; the folio stays large).
          steps.push({
            op: 'mprotect',
            proc: p.name,
            region: r.name,
            prot: 'r',
            from: 1 + (cc % 100),
            count: 3,
          });
          steps.push({ op: 'mprotect', proc: p.name, region: r.name, prot: 'rw' });
          // A hole in the PTE-mapped THP: the folio's PTE batch ends there.
          if (cc % 2 === 0)
            steps.push({
              op: 'madvise',
              proc: p.name,
              region: r.name,
              advice: 'MADV_DONTNEED',
              from: 5 + (cc % 200),
              count: 1,
            });
        } else if (variant === 2 && procs.length < MAX_LIVE_PROCS) {
          // A THP written after its only sharer left, with one page still mapped: a copy, not a
          // reuse (the rest of the folio can go).
          const child = fork(p);
          procs.splice(procs.indexOf(child), 1);
          steps.push({ op: 'exit', proc: child.name });
          steps.push({
            op: 'madvise',
            proc: p.name,
            region: r.name,
            advice: 'MADV_DONTNEED',
            from: 1,
            count: PMD_PAGES - 1,
          });
          write(p, r, 0, 0, 1);
          return;
        }
        let who = p;
        if ((cc >> 2) % 3 === 0 && procs.length < MAX_LIVE_PROCS) {
          // The advice from the child or from the parent: either way the THP is shared.
          const child = fork(p);
          if ((cc >> 4) % 2 === 0) who = child;
        }
        const advice = THP_ADVICE[(cc >> 5) % THP_ADVICE.length]!;
        const whole = (cc >> 8) % 2 === 0;
        const rg = whole ? range(r, 1, 0) : range(r, 2 + 4 * (cc >> 9), cc >> 3);
        steps.push({ op: 'madvise', proc: who.name, region: r.name, advice, ...rg });
        if (advice === 'MADV_MERGEABLE') scan(1 + (cc % 2));
        // Lazyfree pages reclaimed: a clean THP is discarded whole.
        if (advice === 'MADV_FREE' && (variant === 3 || (cc >> 10) % 2 === 0))
          steps.push({ op: 'madvise', proc: who.name, region: r.name, advice: 'MADV_PAGEOUT', ...rg });
        steps.push({ op: 'touch', proc: who.name, region: r.name, ...range(r, cc >> 6, cc >> 10) });
        return;
      }
      case 'shmem': {
        // Shared anonymous memory: pages read and written, a child sharing them, then reclaim,
        // hole punch or zap from one side and faults from the other.
        const r = regionFor(p, b, { shared: true });
        if (r === undefined) return;
        steps.push({ op: 'touch', proc: p.name, region: r.name, ...range(r, cc, cc >> 4) });
        if (cc % 2 === 0) write(p, r, (cc >> 3) % r.pages, 0, 1);
        let who = p;
        if ((cc >> 1) % 3 === 0 && procs.length < MAX_LIVE_PROCS) {
          who = fork(p);
          steps.push({ op: 'touch', proc: who.name, region: r.name, ...range(r, cc >> 2, cc >> 7) });
        }
        const advice = SHMEM_ADVICE[(cc >> 4) % SHMEM_ADVICE.length]!;
        steps.push({
          op: 'madvise',
          proc: (cc >> 6) % 2 === 0 ? who.name : p.name,
          region: r.name,
          advice,
          ...range(r, cc >> 5, cc >> 8),
        });
        if (cc % 5 === 1)
          steps.push({ op: 'munmap', proc: p.name, region: r.name, ...range(r, cc >> 9, cc) });
        steps.push({ op: 'touch', proc: who.name, region: r.name, ...range(r, cc >> 7, cc >> 3) });
        return;
      }
      case 'smart-scan': {
        // Pages that never merge scanned again and again: smart_scan's skip ages grow.
        steps.push({ op: 'knob', name: 'smart_scan', value: 1 });
        const r = regionFor(p, b, { shared: false, thp: false });
        if (r === undefined) return;
        fill(p, r, { kind: 'unique', seed: 1 + (cc % 3) });
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        // One time in 16 past the age where the skip age saturates (255 full scans).
        scan(cc % 16 === 7 ? SMART_SCAN_AGE_MAX + 5 : 10 + (cc % 20));
        if (cc % 2 === 0) {
          fill(p, r, dupPattern(cc >> 1));
          scan(4 + (cc % 6));
        }
        return;
      }
      case 'knob-errors': {
        // Values the knobs refuse (EINVAL), and run=2 while processes ask for merging.
        const [name, value] = KNOB_ERRORS[cc % KNOB_ERRORS.length]!;
        steps.push({ op: 'knob', name, value });
        return;
      }
      case 'unmerge-partial': {
        // run=2 with KSM pages a forked child (which KSM does not scan) still maps: the stable
        // nodes whose page is still mapped stay (remove_all_stable_nodes()), chains included.
        if (procs.length >= MAX_LIVE_PROCS) return;
        if (cc % 2 === 0) steps.push({ op: 'knob', name: 'max_page_sharing', value: 2 + (cc % 3) });
        const r = regionFor(p, b, { shared: false, thp: false });
        if (r === undefined) return;
        fill(p, r, dupPattern(cc >> 1));
        const child = fork(p);
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        scan(1 + (cc % 3));
        if ((cc >> 2) % 2 === 0) write(child, r, (cc >> 3) % r.pages, 0, 2);
        if ((cc >> 3) % 2 === 0) steps.push({ op: 'report', label: `r${reports++}` });
        steps.push({ op: 'ksm_unmerge_all' });
        return;
      }
      case 'merge-any': {
        // prctl(PR_SET_MEMORY_MERGE) over VMAs already MADV_MERGEABLE, new mappings of a
        // merge-any process, and turning it off with merged pages.
        const r = regionFor(p, b, { shared: false });
        if (r === undefined) return;
        fill(p, r, dupPattern(cc));
        if (cc % 2 === 0)
          steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        steps.push({ op: 'prctl', proc: p.name, option: 'PR_SET_MEMORY_MERGE', value: 1 });
        if (p.regions.length < MAX_PROC_REGIONS) {
          const r2 = newRegion(p, REGION_PAGES[(cc >> 2) % REGION_PAGES.length]!, false, false);
          fill(p, r2, dupPattern(cc >> 1));
        }
        scan(1 + (cc % 3));
        if ((cc >> 3) % 2 === 0 && procs.length < MAX_LIVE_PROCS) fork(p);
        steps.push({
          op: 'prctl',
          proc: p.name,
          option: 'PR_SET_MEMORY_MERGE',
          value: (cc >> 4) % 3 === 0 ? 1 : 0,
        });
        scan(1);
        return;
      }
      case 'advisor': {
        // The scan-time advisor's knobs: parameters (one refused), the mode on, pages_to_scan
        // refused under it, and the mode off again — full scans need it off on both engines
        // (the oracle's exact scans write pages_to_scan).
        for (let i = 0; i < 1 + (cc % 3); i++) {
          const [name, value] = ADVISOR_KNOBS[(cc >> (2 + 3 * i)) % ADVISOR_KNOBS.length]!;
          steps.push({ op: 'knob', name, value });
        }
        steps.push({ op: 'knob', name: 'advisor_mode', value: 'scan-time' });
        if ((cc >> 11) % 2 === 0) steps.push({ op: 'knob', name: 'pages_to_scan', value: 100 });
        if ((cc >> 12) % 2 === 0) steps.push({ op: 'knob', name: 'advisor_mode', value: 'scan-time' });
        steps.push({ op: 'knob', name: 'advisor_mode', value: 'none' });
        return;
      }
      case 'prot-none': {
        // Merged pages made PROT_NONE (ksmd skips them, break_ksm() and faults meet them), then
        // unmerged, made accessible again, written or forked.
        const r = regionFor(p, b, { shared: false });
        if (r === undefined) return;
        fill(p, r, dupPattern(cc));
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        scan(2);
        const rg = range(r, cc >> 2, cc >> 5);
        steps.push({ op: 'mprotect', proc: p.name, region: r.name, prot: 'none', ...rg });
        if ((cc >> 1) % 2 === 0 && procs.length < MAX_LIVE_PROCS) fork(p);
        scan(1 + ((cc >> 8) % 2));
        if ((cc >> 9) % 3 === 0)
          steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_UNMERGEABLE', ...rg });
        else if ((cc >> 9) % 3 === 1) steps.push({ op: 'ksm_unmerge_all' });
        steps.push({ op: 'mprotect', proc: p.name, region: r.name, prot: 'rw', ...rg });
        write(p, r, rg.from ?? 0, 0, 3);
        scan(1);
        return;
      }
      case 'file': {
        // A private file mapping: read faults map page-cache pages (fault-around), writes map
        // anonymous copies (do_cow_fault(), wp_page_copy()) that KSM may merge while ksmd passes
        // over the page cache; a fork before any write (no anon_vma: the child faults its own
        // pages in) or after (the page tables copied); then advice, mprotect or a partial munmap
        // from either side, and faults again.
        const own = p.regions.filter((x) => x.file !== undefined);
        let r: Region;
        if (own.length > 0 && cc % 3 !== 0) r = own[cc % own.length]!;
        else if (p.regions.length < MAX_PROC_REGIONS) r = mmapFile(p, b, cc >> 2);
        else return;
        if (cc % 3 === 1 || (cc >> 2) % 4 === 0)
          steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        let who = p;
        const forkFirst = (cc >> 4) % 4 === 0 && procs.length < MAX_LIVE_PROCS;
        if (forkFirst) who = fork(p);
        steps.push({ op: 'touch', proc: p.name, region: r.name, ...range(r, b >> 2, cc >> 3) });
        if ((cc >> 6) % 2 === 0) fill(p, r, dupPattern(cc >> 7), range(r, b >> 5, cc >> 5));
        else for (let i = 0; i < 1 + ((cc >> 7) % 3); i++) write(p, r, (b + 7 * i) % r.pages, i, 1);
        if (!forkFirst && (cc >> 9) % 3 === 0 && procs.length < MAX_LIVE_PROCS) who = fork(p);
        if (who !== p) {
          if ((cc >> 11) % 2 === 0) steps.push({ op: 'touch', proc: who.name, region: r.name });
          write(who, r, (b >> 3) % r.pages, 0, 2);
        }
        if ((cc >> 12) % 2 === 0) scan(1 + ((cc >> 13) % 2));
        const actor = (cc >> 14) % 2 === 0 ? who : p;
        const rg = range(r, a >> 2, a >> 6);
        const act = (a >> 1) % 8;
        if (act < 5) {
          const advice = FILE_ADVICE[(a >> 4) % FILE_ADVICE.length]!;
          steps.push({ op: 'madvise', proc: actor.name, region: r.name, advice, ...rg });
          if (advice === 'MADV_MERGEABLE' || advice === 'MADV_UNMERGEABLE') scan(1 + ((a >> 8) % 2));
          if (advice === 'MADV_WIPEONFORK' || advice === 'MADV_DONTFORK')
            if (procs.length < MAX_LIVE_PROCS) fork(actor);
        } else if (act < 7) {
          const prot = (['r', 'none', 'rw'] as const)[(a >> 4) % 3]!;
          steps.push({ op: 'mprotect', proc: actor.name, region: r.name, prot, ...rg });
          if ((a >> 6) % 2 === 0)
            steps.push({ op: 'mprotect', proc: actor.name, region: r.name, prot: 'rw' });
        } else steps.push({ op: 'munmap', proc: actor.name, region: r.name, ...rg });
        steps.push({ op: 'touch', proc: actor.name, region: r.name, ...range(r, a >> 3, b >> 1) });
        if ((a >> 9) % 2 === 0) write(actor, r, (a >> 10) % r.pages, 3, 1);
        return;
      }
      case 'remove-nodes': {
        // Knobs that remove every stable node (merge_across_nodes, max_page_sharing) written
        // where the kernel allows it — after run=2, ksmd stopped — while a child KSM does not
        // scan may still map KSM pages (EBUSY), chains included; use_zero_pages changed with
        // zero-filled pages merged.
        if (procs.length >= MAX_LIVE_PROCS) return;
        if (cc % 2 === 0) steps.push({ op: 'knob', name: 'max_page_sharing', value: 2 + (cc % 3) });
        steps.push({ op: 'knob', name: 'use_zero_pages', value: (cc >> 1) % 2 });
        const r = regionFor(p, b, { shared: false, thp: false });
        if (r === undefined) return;
        fill(p, r, dupPattern(cc >> 2));
        if ((cc >> 5) % 2 === 0) fork(p);
        steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
        scan(1 + ((cc >> 6) % 3));
        steps.push({ op: 'knob', name: 'use_zero_pages', value: (cc >> 8) % 2 });
        steps.push({ op: 'ksm_unmerge_all' });
        if ((cc >> 9) % 2 === 0)
          steps.push({ op: 'knob', name: 'merge_across_nodes', value: (cc >> 10) % 2 });
        else steps.push({ op: 'knob', name: 'max_page_sharing', value: [2, 3, 256][(cc >> 10) % 3]! });
        if ((cc >> 12) % 2 === 0) steps.push({ op: 'report', label: `r${reports++}` });
        scan(1 + ((cc >> 13) % 2));
        return;
      }
    }
  };
  spawn();
  for (const ch of c.choices) {
    const { kind, a, b, c: cc } = ch;
    const p = procs[a % procs.length];
    if (p === undefined) {
      spawn();
      continue;
    }
    const r = p.regions.length === 0 ? undefined : p.regions[b % p.regions.length]!;
    if (kind >= RECIPE_KIND) recipe(RECIPE_OF_KIND[kind - RECIPE_KIND]!, p, a, b, cc);
    else if (kind < 5 && procs.length < MAX_LIVE_PROCS) spawn();
    else if (kind < 15 || r === undefined) {
      if (p.regions.length < MAX_PROC_REGIONS) mmap(p, b, cc);
    } else if (kind < 31) {
      const seed = 1 + (cc % 3);
      const v = cc >> 4;
      const pattern =
        v % 10 < 2
          ? { kind: 'zero' as const }
          : v % 10 < 4
            ? { kind: 'byte' as const, value: (v >> 4) % 3 }
            : v % 10 < 8
              ? {
                  kind: 'ids' as const,
                  count: 1 + ((v >> 4) % 8),
                  seed,
                  ...((v >> 8) % 2 === 1 ? { layout: 'blocked' as const } : {}),
                }
              : { kind: 'unique' as const, seed };
      fill(p, r, pattern, range(r, b >> 4, cc >> 8));
    } else if (kind < 37) {
      write(p, r, (b >> 4) % r.pages, cc % 4096, (cc >> 12) % 3);
    } else if (kind < 41) {
      steps.push({ op: 'touch', proc: p.name, region: r.name, ...range(r, b >> 4, cc) });
    } else if (kind < 58) {
      const advice = MADVICE[cc % MADVICE.length]!;
      steps.push({ op: 'madvise', proc: p.name, region: r.name, advice, ...range(r, b >> 4, cc >> 5) });
    } else if (kind < 62) {
      const prot = (['rw', 'r', 'none'] as const)[cc % 3]!;
      steps.push({ op: 'mprotect', proc: p.name, region: r.name, prot, ...range(r, b >> 4, cc >> 2) });
    } else if (kind < 65) {
      steps.push({ op: 'munmap', proc: p.name, region: r.name, ...range(r, b >> 4, cc) });
    } else if (kind < 69) {
      // Mostly PR_SET_MEMORY_MERGE; now and then PR_GET_MEMORY_MERGE (its value compared: the
      // simulator's answer becomes expect_value, see withSimulatorErrnos) or a nonzero arg2-arg5
      // where the option wants zero (EINVAL).
      const sub = (cc >> 1) % PRCTL_CHOICES;
      const set = sub >= PRCTL_GET_CHOICES;
      const bad = sub === 0 || sub === PRCTL_GET_CHOICES;
      const badArg = (['value', 'arg3', 'arg4', 'arg5'] as const)[
        (set ? 1 : 0) + ((cc >> 6) % (set ? 3 : 4))
      ]!;
      steps.push({
        op: 'prctl',
        proc: p.name,
        ...(set
          ? { option: 'PR_SET_MEMORY_MERGE' as const, value: cc % 2 }
          : { option: 'PR_GET_MEMORY_MERGE' as const, expect_value: 0 }),
        ...(bad ? { [badArg]: 1 } : {}),
      });
    } else if (kind < 73) {
      if (procs.length >= MAX_LIVE_PROCS) continue;
      fork(p);
    } else if (kind < 76) {
      if (procs.length === 1) continue;
      procs.splice(procs.indexOf(p), 1);
      steps.push({ op: 'exit', proc: p.name });
    } else if (kind < 80) {
      const knob = cc % 5;
      if (knob === 0) steps.push({ op: 'knob', name: 'use_zero_pages', value: (cc >> 3) % 2 });
      else if (knob === 1)
        steps.push({ op: 'knob', name: 'max_page_sharing', value: [2, 3, 256][(cc >> 3) % 3]! });
      else if (knob === 2) steps.push({ op: 'knob', name: 'smart_scan', value: (cc >> 3) % 2 });
      else if (knob === 3) steps.push({ op: 'knob', name: 'merge_across_nodes', value: (cc >> 3) % 2 });
      else {
        const name = (
          ['khugepaged/max_ptes_none', 'khugepaged/max_ptes_swap', 'khugepaged/max_ptes_shared'] as const
        )[(cc >> 3) % 3]!;
        steps.push({ op: 'knob', name, value: [0, 1, 64, 256, 511][(cc >> 5) % 5]! });
      }
    } else if (kind < 88) {
      // Long runs of scans let smart_scan's skip ages grow and chains get pruned.
      if (cc % 5 === 0) steps.push({ op: 'ksm_converge', max_full_scans: 12 });
      else steps.push({ op: 'ksm_scan', full_scans: cc % 7 === 1 ? 4 + (cc % 6) : 1 + (cc % 3) });
    } else if (kind < 90) {
      steps.push({ op: 'ksm_unmerge_all' });
    } else if (kind < 93) {
      steps.push({ op: 'khugepaged_scan', full_scans: 1 + (cc % 2) });
    } else if (kind < 95) {
      // run=2 while KSM pages are still mapped by a process KSM does not scan: a child forked
      // before its parent asked for merging keeps the parent's pages mapped.
      if (procs.length >= MAX_LIVE_PROCS) continue;
      fork(p);
      steps.push({ op: 'madvise', proc: p.name, region: r.name, advice: 'MADV_MERGEABLE' });
      steps.push({ op: 'ksm_scan', full_scans: 1 + (cc % 3) });
      if (cc % 2 === 0) steps.push({ op: 'report', label: `r${reports++}` });
      steps.push({ op: 'ksm_unmerge_all' });
    } else {
      steps.push({ op: 'report', label: `r${reports++}` });
    }
  }
  steps.push({ op: 'ksm_scan', full_scans: 2 });
  steps.push({ op: 'report', label: 'end' });
  return {
    name,
    ...(c.levels === 5 ? { arch: { levels: 5 as const } } : {}),
    ksm: { ...c.knobs },
    ...(c.khugepaged === null ? {} : { khugepaged: { ...c.khugepaged } }),
    steps,
  };
}

const FAILED_WITH = /^failed with (E[A-Z0-9]+)$/;
const RETURNED = /^returned (-?\d+), expected -?\d+$/;

/**
 * The scenario with each step's `expect_errno` (and a prctl's `expect_value`) set to the
 * simulator's outcome (steps whose other
 * failures end a simulator run — a `ksm_converge` that does not converge — are dropped), and the
 * simulator's report of it.
 */
export function withSimulatorErrnos(s: Scenario): { scenario: Scenario; simulator: Report } {
  const steps = s.steps.map((x) => ({ ...x }));
  for (;;) {
    const scenario: Scenario = { ...s, steps };
    const simulator = runOnSimulator(validateScenario(scenario, `${s.name}.yaml`), { host: hostMemory() });
    const f = simulator.failures[0];
    if (f === undefined) return { scenario, simulator };
    const m = FAILED_WITH.exec(f.message);
    const v = RETURNED.exec(f.message);
    const step = steps[f.step]!;
    if (m !== null && step.expect_errno === undefined) step.expect_errno = m[1]!;
    else if (v !== null && step.op === 'prctl') step.expect_value = Number(v[1]);
    else steps.splice(f.step, 1);
  }
}

export interface KernelComparison {
  scenario: Scenario;
  simulator: Report;
  kernel: Report;
  equal: boolean;
  /** The difference in words (formatReportDiff), '' when equal. */
  diff: string;
}

/** Runs a case on both engines and compares the reports. */
export function compareWithKernel(c: KernelCase, name?: string): Promise<KernelComparison> {
  return compareScenario(buildKernelScenario(c, name));
}

/** How long a case waits for the oracle to run while it refuses (another KSM or khugepaged user on
 * the machine, such as a QEMU guest: its pages would be counted with the scenario's). */
const REFUSED_RETRY_MS = 30 * 60_000;
const REFUSED_PAUSE_MS = 2000;

/** runOnKernel(), run again while the oracle refuses because of another user of KSM/khugepaged. */
async function runOnKernelPatiently(scenario: Scenario): Promise<Report> {
  const deadline = Date.now() + REFUSED_RETRY_MS;
  for (;;) {
    try {
      return await runOnKernel(scenario);
    } catch (e) {
      if (!(e instanceof OracleRefusedError) || !/another process/.test(e.message) || Date.now() > deadline)
        throw e;
      await new Promise((r) => setTimeout(r, REFUSED_PAUSE_MS));
    }
  }
}

/** Runs a scenario on both engines (each step's errno the simulator's) and compares the reports. */
async function compareScenario(built: Scenario): Promise<KernelComparison> {
  const { scenario, simulator } = withSimulatorErrnos(built);
  const kernel = await runOnKernelPatiently(scenario);
  const d = compareReports(kernel, simulator);
  let diff = '';
  if (!d.equal) {
    diff = formatReportDiff(d, ['kernel', 'simulator']);
    if (!kernel.ok)
      diff += `\nkernel failures: ${kernel.failures.map((f) => `step ${f.step} ${f.op}: ${f.message}`).join('; ')}`;
  }
  return { scenario, simulator, kernel, equal: d.equal, diff };
}

/** A scenario as YAML, one JSON flow line per step, with `#` header lines. */
function kernelScenarioYaml(s: Scenario, header: readonly string[]): string {
  const out = header.map((h) => `# ${h}`);
  out.push(`name: ${JSON.stringify(s.name)}`);
  if (s.arch !== undefined) out.push(`arch: ${JSON.stringify(s.arch)}`);
  if (s.ksm !== undefined) out.push(`ksm: ${JSON.stringify(s.ksm)}`);
  if (s.khugepaged !== undefined) out.push(`khugepaged: ${JSON.stringify(s.khugepaged)}`);
  out.push('steps:');
  for (const step of s.steps) out.push(`  - ${JSON.stringify(step)}`);
  return `${out.join('\n')}\n`;
}

/** How long one difference may be shrunk (each attempt runs the kernel). */
const SHRINK_MS = 4 * 60_000;

/** How long deleteSteps() may go on. */
const DELETE_STEPS_MS = 3 * 60_000;

/**
 * The second shrinking stage: where fast-check's shrinking of the choices stalls (a choice removed
 * reinterprets every later one), delete the scenario's steps one at a time, last first, keeping
 * each deletion after which the engines still differ (each step's errno taken anew from the
 * simulator; a scenario the deletion makes invalid is skipped).
 */
async function deleteSteps(found: KernelComparison, log: (line: string) => void): Promise<KernelComparison> {
  const deadline = Date.now() + DELETE_STEPS_MS;
  let best = found;
  for (let changed = true; changed && Date.now() < deadline; ) {
    changed = false;
    for (let i = best.scenario.steps.length - 2; i >= 0 && Date.now() < deadline; i--) {
      const steps = best.scenario.steps
        .filter((_, j) => j !== i)
        .map(({ expect_errno: _e, ...rest }) => rest as Step);
      let cmp: KernelComparison;
      try {
        cmp = await compareScenario({ ...best.scenario, steps });
      } catch {
        continue;
      }
      if (cmp.equal) continue;
      best = cmp;
      changed = true;
      log(`  ${best.scenario.steps.length} steps (step deleted)`);
    }
  }
  return best;
}

export interface KernelCampaignOptions {
  seed: number;
  minutes: number;
  /** Stop after this many cases (0: only the minutes limit). */
  cases?: number;
  maxSteps: number;
  /** Run each scenario on the simulator only (no kernel, no comparison): the same scenarios as a
   * kernel campaign of the same seeds, so that --coverage measures what that campaign reaches. */
  simulatorOnly?: boolean;
  /** Where shrunk divergences are written as scenario files. */
  out: string;
  /** Progress lines. */
  log: (line: string) => void;
}

export interface KernelCampaignResult {
  cases: number;
  /** The scenario files written, one per divergence. */
  divergences: string[];
}

/**
 * Random cases (seeds `seed`, `seed+1`, ...) until the time is up. A case whose reports differ is
 * shrunk by fast-check (every attempt runs on both engines), run once more on the kernel to tell
 * a kernel that does not repeat itself from a simulator that is wrong, and written as a scenario
 * that `mmsim verify` replays.
 */
export async function kernelCampaign(o: KernelCampaignOptions): Promise<KernelCampaignResult> {
  const arb = kernelCaseArbitrary(o.maxSteps);
  const deadline = Date.now() + o.minutes * 60_000;
  const divergences: string[] = [];
  let cases = 0;
  for (
    let seed = o.seed;
    Date.now() < deadline && (!o.cases || cases < o.cases);
    seed = (seed + 1) % 2 ** 31
  ) {
    const c = fc.sample(arb, { seed, numRuns: 1 })[0]!;
    const name = `kernel-${seed}`;
    if (o.simulatorOnly) {
      const { scenario } = withSimulatorErrnos(buildKernelScenario(c, name));
      cases++;
      o.log(`seed ${seed}: ${scenario.steps.length} steps, simulator only`);
      continue;
    }
    const first = await compareWithKernel(c, name);
    cases++;
    if (first.equal) {
      o.log(`seed ${seed}: ${first.scenario.steps.length} steps, equal`);
      continue;
    }
    o.log(`seed ${seed}: DIFFERENT; shrinking`);
    let shrunk = first;
    const r = await fc.check(
      fc.asyncProperty(arb, async (x) => {
        const cmp = await compareWithKernel(x, name);
        if (!cmp.equal && cmp.scenario.steps.length < shrunk.scenario.steps.length) {
          shrunk = cmp;
          o.log(`  ${cmp.scenario.steps.length} steps`);
        }
        return cmp.equal;
      }),
      { examples: [[c]], numRuns: 1, seed, interruptAfterTimeLimit: SHRINK_MS, markInterruptAsFailure: true },
    );
    if (!r.failed) o.log(`seed ${seed}: the difference did not repeat; written as found`);
    else shrunk = await deleteSteps(shrunk, o.log);
    const again = await runOnKernelPatiently(shrunk.scenario);
    const repeats = compareReports(again, shrunk.kernel).equal;
    const file = `${o.out}/${name}.yaml`;
    const header = [
      `pnpm fuzz --kernel --seed ${seed}: the simulator and the live kernel differ (${shrunk.scenario.steps.length} steps after shrinking).`,
      repeats
        ? 'A second kernel run gave the same report.'
        : 'A second kernel run gave a different report: the kernel side may not be deterministic here.',
      `replay: pnpm mmsim verify ${file}`,
      ...shrunk.diff.split('\n'),
    ];
    mkdirSync(o.out, { recursive: true });
    writeFileSync(file, kernelScenarioYaml(shrunk.scenario, header));
    divergences.push(file);
    o.log(`seed ${seed}: wrote ${file}\n${shrunk.diff}`);
  }
  return { cases, divergences };
}
