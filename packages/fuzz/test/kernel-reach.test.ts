// The kernel campaign's generator reaches what single random steps rarely did (src/kernel.ts's
// recipes), and src/unreachable.ts names branches that exist. Deterministic: a fixed seed range.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Scenario, Step } from '@mmsim/scenario';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type FileCoverage, markUnreachable, unionCoverage } from '../src/coverage.ts';
import { REPO_ROOT } from '../src/inputs.ts';
import { buildKernelScenario, kernelCaseArbitrary } from '../src/kernel.ts';
import { MISSED_REASONS, REASONS, UNREACHABLE } from '../src/unreachable.ts';

const SEEDS = 400;
const PMD_PAGES = 512;

/** The scenarios of seeds 0..SEEDS-1 as a kernel campaign builds them. */
function scenarios(): Scenario[] {
  const arb = kernelCaseArbitrary();
  const out: Scenario[] = [];
  for (let seed = 0; seed < SEEDS; seed++)
    out.push(buildKernelScenario(fc.sample(arb, { seed, numRuns: 1 })[0]!));
  return out;
}

type Pred = (steps: Step[], i: number, thp: Set<string>, shared: Set<string>) => boolean;
const at = <T extends Step['op']>(s: Step, op: T): s is Extract<Step, { op: T }> => s.op === op;

const FEATURES: Record<string, Pred> = {
  // madvise over one whole THP of a THP region
  'whole-THP advice': (st, i, thp) => {
    const s = st[i]!;
    return at(s, 'madvise') && thp.has(s.region) && s.count === PMD_PAGES && (s.from ?? 0) % PMD_PAGES === 0;
  },
  // madvise over one whole page table of a region without THP
  'whole-table advice': (st, i, thp) => {
    const s = st[i]!;
    return at(s, 'madvise') && !thp.has(s.region) && s.count === PMD_PAGES && (s.from ?? 0) % PMD_PAGES === 0;
  },
  // run=2 after a fork that came before the parent's MADV_MERGEABLE and a scan
  'run=2 with a child KSM does not scan': (st, i) => {
    if (!at(st[i]!, 'ksm_unmerge_all')) return false;
    const f = st.slice(0, i).findLastIndex((x) => x.op === 'fork');
    const m = st.slice(0, i).findLastIndex((x) => x.op === 'madvise' && x.advice === 'MADV_MERGEABLE');
    return f >= 0 && m > f && st.slice(m, i).some((x) => x.op === 'ksm_scan');
  },
  // a small max_page_sharing, then a fork, then a scan
  'chains with forks': (st, i) => {
    const s = st[i]!;
    if (!at(s, 'knob') || s.name !== 'max_page_sharing' || Number(s.value) > 4) return false;
    const f = st.findIndex((x, j) => j > i && x.op === 'fork');
    return f > 0 && st.slice(f).some((x) => x.op === 'ksm_scan');
  },
  'smart_scan past the age limit (255 full scans)': (st, i) => {
    const s = st[i]!;
    return at(s, 'ksm_scan') && s.full_scans > 255;
  },
  'khugepaged scans': (st, i) => st[i]!.op === 'khugepaged_scan',
  'reclaim or hole punch of shared memory': (st, i, _t, shared) => {
    const s = st[i]!;
    return (
      at(s, 'madvise') && shared.has(s.region) && (s.advice === 'MADV_PAGEOUT' || s.advice === 'MADV_REMOVE')
    );
  },
  'knob writes the kernel refuses': (st, i) => {
    const s = st[i]!;
    return (
      at(s, 'knob') && ((s.name === 'max_page_sharing' && Number(s.value) < 2) || typeof s.value === 'string')
    );
  },
  'PR_SET_MEMORY_MERGE over MADV_MERGEABLE VMAs': (st, i) => {
    const s = st[i]!;
    return (
      at(s, 'prctl') &&
      s.value === 1 &&
      st.slice(0, i).some((x) => x.op === 'madvise' && x.proc === s.proc && x.advice === 'MADV_MERGEABLE')
    );
  },
  'the advisor switched on, then off before any scan': (st, i) => {
    const s = st[i]!;
    if (!at(s, 'knob') || s.name !== 'advisor_mode' || s.value !== 'scan-time') return false;
    const off = st.findIndex(
      (x, j) => j > i && at(x, 'knob') && x.name === 'advisor_mode' && x.value === 'none',
    );
    return off > i && !st.slice(i, off).some((x) => x.op === 'ksm_scan' || x.op === 'ksm_converge');
  },
  'merged pages made PROT_NONE': (st, i) => {
    const s = st[i]!;
    return at(s, 'mprotect') && s.prot === 'none' && st.slice(0, i).some((x) => x.op === 'ksm_scan');
  },
  'merge_across_nodes written after run=2': (st, i) =>
    at(st[i]!, 'knob') &&
    (st[i] as { name: string }).name === 'merge_across_nodes' &&
    st[i - 1]?.op === 'ksm_unmerge_all',
  MADV_DONTDUMP: (st, i) => at(st[i]!, 'madvise') && (st[i] as { advice: string }).advice === 'MADV_DONTDUMP',
  'MADV_FREE then MADV_PAGEOUT of a THP': (st, i, thp) => {
    const s = st[i]!;
    const p = st[i - 1];
    return (
      at(s, 'madvise') &&
      s.advice === 'MADV_PAGEOUT' &&
      thp.has(s.region) &&
      p?.op === 'madvise' &&
      p.advice === 'MADV_FREE'
    );
  },
};

/** The regions of steps[0..i) that map a file. */
function fileRegions(st: Step[], i: number): Set<string> {
  return new Set(st.slice(0, i).flatMap((s) => (at(s, 'mmap') && s.file !== undefined ? [s.region] : [])));
}
const writesTo = (s: Step, regions: Set<string>): boolean =>
  (at(s, 'write') || at(s, 'fill')) && regions.has(s.region);

Object.assign(FEATURES, {
  'a write to a private file mapping (do_cow_fault(), wp_page_copy())': (st, i) =>
    writesTo(st[i]!, fileRegions(st, i)),
  'MADV_PAGEOUT of a private file mapping': (st, i) => {
    const s = st[i]!;
    return at(s, 'madvise') && s.advice === 'MADV_PAGEOUT' && fileRegions(st, i).has(s.region);
  },
  'a fork over a file mapping no write gave an anon_vma yet': (st, i) => {
    if (!at(st[i]!, 'fork')) return false;
    const files = fileRegions(st, i);
    return files.size > 0 && !st.slice(0, i).some((x) => writesTo(x, files));
  },
  'a fork over a written file mapping': (st, i) =>
    at(st[i]!, 'fork') && st.slice(0, i).some((x) => writesTo(x, fileRegions(st, i))),
  'ksmd over MADV_MERGEABLE file mappings with anonymous copies': (st, i) => {
    if (!at(st[i]!, 'ksm_scan')) return false;
    const files = fileRegions(st, i);
    const m = st
      .slice(0, i)
      .filter((x) => at(x, 'madvise') && x.advice === 'MADV_MERGEABLE' && files.has(x.region));
    return m.length > 0 && st.slice(0, i).some((x) => writesTo(x, files));
  },
} satisfies Record<string, Pred>);

describe('the kernel campaign generator reaches', () => {
  const all = scenarios();
  const counts = new Map<string, number>();
  for (const sc of all) {
    const thp = new Set(sc.steps.flatMap((s) => (at(s, 'mmap') && s.thp === true ? [s.region] : [])));
    const shared = new Set(sc.steps.flatMap((s) => (at(s, 'mmap') && s.shared === true ? [s.region] : [])));
    for (const [name, pred] of Object.entries(FEATURES))
      if (sc.steps.some((_, i) => pred(sc.steps, i, thp, shared)))
        counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const name of Object.keys(FEATURES)) {
    it(`${name} (in some of seeds 0-${SEEDS - 1})`, () => {
      expect(counts.get(name) ?? 0).toBeGreaterThan(0);
    });
  }
  it('steers most scenarios through at least one recipe feature', () => {
    const steered = all.filter((sc) => {
      const thp = new Set(sc.steps.flatMap((s) => (at(s, 'mmap') && s.thp === true ? [s.region] : [])));
      const shared = new Set(sc.steps.flatMap((s) => (at(s, 'mmap') && s.shared === true ? [s.region] : [])));
      return Object.values(FEATURES).some((pred) => sc.steps.some((_, i) => pred(sc.steps, i, thp, shared)));
    }).length;
    expect(steered).toBeGreaterThan(SEEDS / 2);
  });
});

describe('src/unreachable.ts', () => {
  it('names functions and lines that exist in the targets', () => {
    const src = new Map<string, string>();
    const path = {
      'ksm.ts': 'packages/ksm/src/ksm.ts',
      'memory.ts': 'packages/mmu/src/memory.ts',
      'madvise.ts': 'packages/mm/src/madvise.ts',
    } as const;
    for (const [name, p] of Object.entries(path)) src.set(name, readFileSync(resolve(REPO_ROOT, p), 'utf8'));
    for (const e of UNREACHABLE) {
      const text = src.get(e.file);
      expect(text, e.file).toBeDefined();
      expect(new RegExp(`\\b${e.fn.replace(/\$/g, '\\$')}\\(`).test(text!), `${e.file} ${e.fn}`).toBe(true);
      const joined = text!
        .split('\n')
        .map((l) => l.trim())
        .join('\n');
      expect(joined.includes(e.text), `${e.file} ${e.fn}: ${e.text}`).toBe(true);
      expect({ ...REASONS, ...MISSED_REASONS }[e.reason]).toBeDefined();
    }
  });

  it('marks an uncovered branch by function and line text, and leaves the others', () => {
    const files: FileCoverage[] = [
      {
        file: 'packages/ksm/src/ksm.ts',
        branches: 3,
        covered: 0,
        uncovered: [
          { line: 2, kind: 'if', fn: 'runBatch' },
          { line: 4, kind: 'if', fn: 'alloc_rmap_item' },
          { line: 4, kind: 'if', fn: 'cmp_and_merge_page' },
        ],
      },
    ];
    const source = [
      'x',
      'if (this.ksmd_should_run()) this.ksm_do_scan(1);',
      'y',
      'if (this.failAlloc?.(1)) return 0;',
    ].join('\n');
    const n = markUnreachable(files, () => source);
    expect(n.get('packages/ksm/src/ksm.ts')).toBe(2);
    expect(files[0]!.uncovered.map((u) => u.unreachable)).toEqual(['harness', 'alloc', undefined]);
  });

  it('names the reason of a reachable branch no scenario reaches, and counts it as missed', () => {
    const files: FileCoverage[] = [
      {
        file: 'packages/ksm/src/ksm.ts',
        branches: 2,
        covered: 0,
        uncovered: [
          { line: 1, kind: 'if', fn: 'advisor_stop_scan' },
          { line: 2, kind: 'if', fn: 'alloc_rmap_item' },
        ],
      },
    ];
    const source = [
      "if (this.advisor_mode !== 'scan-time') return;",
      'if (this.failAlloc?.(1)) return 0;',
    ].join('\n');
    expect(markUnreachable(files, () => source).get('packages/ksm/src/ksm.ts')).toBe(1);
    expect(files[0]!.uncovered.map((u) => u.unreachable)).toEqual(['advisor', 'alloc']);
  });

  it('unions campaigns: a branch stays uncovered only when every campaign missed it', () => {
    const f = (uncovered: FileCoverage['uncovered']): FileCoverage[] => [
      { file: 'packages/ksm/src/ksm.ts', branches: 10, covered: 10 - uncovered.length, uncovered },
    ];
    const a = { line: 1, kind: 'if', fn: 'x' };
    const b = { line: 2, kind: 'if', fn: 'y' };
    const [u] = unionCoverage([f([a, b, a]), f([a, a])]);
    expect(u!.uncovered).toEqual([a, a]);
    expect(u!.covered).toBe(8);
  });
});
