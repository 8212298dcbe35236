// Cross-checks that need the whole step list, and the plan both engines follow: which processes
// exist (in creation order, with their parents), where each region lives, and how much memory the
// scenario can populate at most.
import { ScenarioError } from './errors.ts';
import type { FillPattern, Scenario, Step } from './schema.ts';
import { MAX_REGION_PAGES, resolveRange } from './schema.ts';

const PAGE = 4096;
const PMD = 2 * 1024 * 1024;
const HPAGE_NR = 512;

/** Where regions are placed: from 16 TiB upwards, below every PIE/heap/mmap_base area. */
export const REGION_BASE = 2 ** 44;
/** Regions must end below this (80 TiB): x86-64 PIE binaries load at 0x55..., far above. */
export const REGION_LIMIT = 0x5000_0000_0000;
/** Unmapped gap after each region, so two regions never share a VMA. */
export const REGION_GAP = PMD;

/** One process of a scenario, in creation order (spawn or fork). */
export interface ProcPlan {
  /** Creation order: 0 for the first spawned or forked process. */
  index: number;
  name: string;
  /** Index of the process it was forked from, -1 when spawned. */
  parent: number;
  /** The step that creates it. */
  step: number;
}

/** One region, created by one mmap step; forked children inherit it under the same name. */
export interface RegionPlan {
  index: number;
  /** Name of the process that mmaps it. */
  proc: string;
  name: string;
  pages: number;
  /** Start address: 2 MiB aligned, at least REGION_GAP after the previous region. */
  addr: number;
  thp: boolean;
  shared: boolean;
  /** The FilePlan index it maps (MAP_PRIVATE), or -1 for anonymous memory. */
  file: number;
  step: number;
}

/** A regular file regions map: created by the first mmap naming it. */
export interface FilePlan {
  index: number;
  name: string;
  pages: number;
  pattern: FillPattern;
}

export interface ScenarioPlan {
  procs: ProcPlan[];
  regions: RegionPlan[];
  files: FilePlan[];
  /** For each step naming a region, the RegionPlan index it means (-1 for other steps). */
  stepRegion: number[];
  /** Upper bound of the pages the scenario populates: every filled, written or touched page, per
   * process (a forked child counts what it inherits again), whole 2 MiB blocks in THP regions. */
  populatedPages: number;
  /** The part of populatedPages `write` steps write a byte into, per process: a page that holds
   * bytes of its own, where a page filled with a pattern can be a reference to its content. */
  writtenPages: number;
  /** Distinct page contents the `fill` steps can create at most (per step: none for `zero`, one
   * for `byte`, the ids for `ids`, every page for `unique`). */
  fillContents: number;
  /** Pages mapped by all processes together (inherited regions counted per process). */
  mappedPages: number;
  /** Some step makes memory mergeable (MADV_MERGEABLE, PR_SET_MEMORY_MERGE): KSM may then hold
   * metadata for every populated page. */
  mergeable: boolean;
}

interface Interval {
  from: number;
  end: number;
}

interface ProcState {
  plan: ProcPlan;
  live: boolean;
  /** Region name -> region index, in mmap order (inherited first). */
  regions: Map<string, number>;
  /** Region index -> populated intervals. */
  populated: Map<number, Interval[]>;
  /** Pages this process writes with `write` steps (region index * MAX_REGION_PAGES + page). */
  written: Set<number>;
}

/** Runs the cross-checks and lays out the scenario; throws ScenarioError on the first problem. */
export function planScenario(scenario: Scenario, file = '<scenario>'): ScenarioPlan {
  const procs = new Map<string, ProcState>();
  const planProcs: ProcPlan[] = [];
  const regions: RegionPlan[] = [];
  const stepRegion: number[] = [];
  let cursor = REGION_BASE;
  let mappedPages = 0;
  const files: FilePlan[] = [];
  let filePages = 0;
  let mergeable = false;
  let fillContents = 0;
  const steps = scenario.steps;

  const fail = (i: number, field: string, expected: string, found: string): never => {
    throw new ScenarioError(file, `steps[${i}]${field === '' ? '' : `.${field}`}`, expected, found);
  };
  const liveProc = (i: number, field: string, name: string): ProcState => {
    const p = procs.get(name);
    if (p === undefined) {
      const known = [...procs.values()].filter((s) => s.live).map((s) => s.plan.name);
      return fail(i, field, `a spawned process${listOf(known)}`, `"${name}", never spawned before this step`);
    }
    if (!p.live) return fail(i, field, 'a live process', `"${name}", which exited before this step`);
    return p;
  };
  const newProc = (i: number, field: string, name: string, parent: number): ProcState => {
    const old = procs.get(name);
    if (old !== undefined) {
      fail(i, field, 'a new process name', `"${name}", already created at steps[${old.plan.step}]`);
    }
    const plan: ProcPlan = { index: planProcs.length, name, parent, step: i };
    planProcs.push(plan);
    const st: ProcState = { plan, live: true, regions: new Map(), populated: new Map(), written: new Set() };
    procs.set(name, st);
    return st;
  };
  const regionOf = (i: number, p: ProcState, name: string): RegionPlan => {
    const r = p.regions.get(name);
    if (r === undefined) {
      return fail(
        i,
        'region',
        `a region mmapped by "${p.plan.name}" before this step${listOf([...p.regions.keys()])}`,
        `"${name}"`,
      );
    }
    return regions[r]!;
  };
  const checkRange = (
    i: number,
    step: { from?: number | undefined; count?: number | undefined },
    r: RegionPlan,
  ): Interval => {
    const { from, count } = resolveRange(step, r.pages);
    if (from >= r.pages)
      fail(i, 'from', `a page index < ${r.pages} (pages of region "${r.name}")`, String(from));
    if (from + count > r.pages) {
      fail(i, 'count', `from + count <= ${r.pages} (pages of region "${r.name}")`, `${from} + ${count}`);
    }
    return { from, end: from + count };
  };
  const populate = (p: ProcState, r: RegionPlan, iv: Interval): void => {
    let { from, end } = iv;
    if (r.thp) {
      // A THP fault populates the whole 2 MiB block; the region starts 2 MiB aligned.
      from = Math.floor(from / HPAGE_NR) * HPAGE_NR;
      end = Math.min(r.pages, Math.ceil(end / HPAGE_NR) * HPAGE_NR);
    }
    let list = p.populated.get(r.index);
    if (list === undefined) p.populated.set(r.index, (list = []));
    addInterval(list, { from, end });
  };

  for (let i = 0; i < steps.length; i++) {
    const step: Step = steps[i]!;
    stepRegion.push(-1);
    switch (step.op) {
      case 'spawn':
        newProc(i, 'proc', step.proc, -1);
        break;
      case 'mmap': {
        const p = liveProc(i, 'proc', step.proc);
        if (p.regions.has(step.region)) {
          fail(
            i,
            'region',
            `a region name new to process "${step.proc}"`,
            `"${step.region}", already mapped`,
          );
        }
        const addr = alignUp(cursor, PMD);
        const end = addr + step.pages * PAGE;
        if (end > REGION_LIMIT) {
          fail(
            i,
            'pages',
            `regions that fit the ${(REGION_LIMIT - REGION_BASE) / 2 ** 40} TiB region window`,
            `${step.pages} pages ending at 0x${end.toString(16)}`,
          );
        }
        cursor = end + REGION_GAP;
        let file = -1;
        if (step.file !== undefined) {
          if (step.shared === true || step.thp === true)
            fail(
              i,
              'file',
              'a file mapped without `shared` and `thp` (MAP_PRIVATE, no THP)',
              `"${step.file}"`,
            );
          const known = files.find((f) => f.name === step.file);
          if (known === undefined) {
            file = files.length;
            const pattern = step.file_fill ?? { kind: 'zero' };
            files.push({ index: file, name: step.file, pages: step.pages, pattern });
            fillContents += patternContents(pattern, step.pages);
            filePages += step.pages;
          } else {
            file = known.index;
            if (step.pages > known.pages)
              fail(
                i,
                'pages',
                `at most ${known.pages} (the pages of file "${known.name}")`,
                String(step.pages),
              );
            if (
              step.file_fill !== undefined &&
              JSON.stringify(step.file_fill) !== JSON.stringify(known.pattern)
            )
              fail(
                i,
                'file_fill',
                `the fill file "${known.name}" was created with, or none`,
                JSON.stringify(step.file_fill),
              );
          }
        } else if (step.file_fill !== undefined) {
          fail(i, 'file_fill', 'a `file` to fill', 'file_fill without file');
        }
        const r: RegionPlan = {
          index: regions.length,
          proc: step.proc,
          name: step.region,
          pages: step.pages,
          addr,
          thp: step.thp === true,
          shared: step.shared === true,
          file,
          step: i,
        };
        regions.push(r);
        p.regions.set(step.region, r.index);
        stepRegion[i] = r.index;
        mappedPages += step.pages;
        break;
      }
      case 'fill':
      case 'touch':
      case 'madvise':
      case 'mprotect':
      case 'munmap': {
        const p = liveProc(i, 'proc', step.proc);
        const r = regionOf(i, p, step.region);
        stepRegion[i] = r.index;
        const iv = checkRange(i, step, r);
        const advice = step.op === 'madvise' ? step.advice : '';
        if (step.op === 'fill' || step.op === 'touch' || advice === 'MADV_POPULATE_WRITE') populate(p, r, iv);
        if (step.op === 'fill') fillContents += patternContents(step.pattern, iv.end - iv.from);
        if (advice === 'MADV_MERGEABLE') mergeable = true;
        break;
      }
      case 'write': {
        const p = liveProc(i, 'proc', step.proc);
        const r = regionOf(i, p, step.region);
        stepRegion[i] = r.index;
        if (step.page >= r.pages) {
          fail(i, 'page', `a page index < ${r.pages} (pages of region "${r.name}")`, String(step.page));
        }
        populate(p, r, { from: step.page, end: step.page + 1 });
        p.written.add(r.index * MAX_REGION_PAGES + step.page);
        break;
      }
      case 'prctl':
        liveProc(i, 'proc', step.proc);
        if (step.option === 'PR_SET_MEMORY_MERGE') {
          if (step.value === undefined)
            fail(i, 'value', 'a value for PR_SET_MEMORY_MERGE (0/1 or boolean)', 'none');
          mergeable = true;
        }
        break;
      case 'fork': {
        const parent = liveProc(i, 'proc', step.proc);
        const child = newProc(i, 'child', step.child, parent.plan.index);
        for (const [name, r] of parent.regions) {
          child.regions.set(name, r);
          mappedPages += regions[r]!.pages;
        }
        for (const [r, list] of parent.populated)
          child.populated.set(
            r,
            list.map((iv) => ({ ...iv })),
          );
        break;
      }
      case 'exit':
        liveProc(i, 'proc', step.proc).live = false;
        break;
      case 'expect': {
        if (step.ksm === undefined && step.proc === undefined) {
          fail(i, '', 'an expect step with "ksm" or "proc" values', 'neither');
        }
        for (const name of Object.keys(step.proc ?? {})) liveProc(i, `proc.${name}`, name);
        break;
      }
      case 'restore':
        // The snapshot is read when the step runs (a Node-only file); the names given here are
        // its processes for the steps after it.
        for (const [k, n] of (step.procs ?? []).entries()) newProc(i, `procs.${k}`, n, -1);
        break;
      case 'knob':
      case 'ksm_scan':
      case 'ksm_converge':
      case 'ksm_unmerge_all':
      case 'khugepaged_scan':
      case 'report':
        break;
    }
  }

  // a file's pages are all in its page cache (written when it was created)
  let populatedPages = filePages;
  let writtenPages = 0;
  for (const p of procs.values()) {
    for (const list of p.populated.values()) for (const iv of list) populatedPages += iv.end - iv.from;
    writtenPages += p.written.size;
  }
  return {
    procs: planProcs,
    regions,
    files,
    stepRegion,
    populatedPages,
    writtenPages,
    fillContents,
    mappedPages,
    mergeable,
  };
}

/** Distinct contents a fill of `pages` pages with `pattern` creates at most. */
function patternContents(pattern: FillPattern, pages: number): number {
  switch (pattern.kind) {
    case 'zero':
      return 0;
    case 'byte':
      return 1;
    case 'ids':
      return Math.min(pages, pattern.count);
    case 'unique':
      return pages;
  }
}

function listOf(names: string[]): string {
  return names.length === 0 ? ' (there are none)' : ` (${names.map((n) => `"${n}"`).join(', ')})`;
}

function alignUp(x: number, size: number): number {
  const r = x % size;
  return r === 0 ? x : x + (size - r);
}

/** Adds [from, end) to a sorted list of disjoint intervals, merging overlaps. */
function addInterval(list: Interval[], iv: Interval): void {
  let { from, end } = iv;
  const out: Interval[] = [];
  let placed = false;
  for (const cur of list) {
    if (cur.end < from) out.push(cur);
    else if (cur.from > end) {
      if (!placed) {
        out.push({ from, end });
        placed = true;
      }
      out.push(cur);
    } else {
      from = Math.min(from, cur.from);
      end = Math.max(end, cur.end);
    }
  }
  if (!placed) out.push({ from, end });
  list.length = 0;
  for (const x of out) list.push(x);
}
