// walk: the page walker and follow_page/GUP micro-benchmarks.
//
//   pte-walk     walk_page_range() with a pte_entry callback over 1 GiB fully populated
//                (PTE visits/s; target: at least 50 million/s)
//   single-walk  walk_page_range_vma() over one page, page after page (walks/s; target: at least
//                5 million/s), with a pte_entry callback and with a pmd_entry callback
//   sparse-4, sparse-5
//                walk_page_range() over a 32 TiB VMA with one populated page, 4- and 5-level
//                paging (target: under 10 ms)
//   follow-page  follow_page(FOLL_GET) + put_page() per page over 1 GiB (lookups/s)
//   gup          get_user_pages() / pin_user_pages() (and their _fast forms) of 1 GiB in 512-page
//                batches (pages/s)
//
// Every variant runs in its own fresh process. The loops are warmed up (one untimed pass) before
// the timed passes, as these are steady-state rates of hot kernel paths; the sparse walk also
// reports its very first call in the fresh process.

import { GiB, KERNEL_PROFILES, type KernelVersion, PAGE_SIZE, TiB } from '@mmsim/core';
import { FOLL_WRITE } from '@mmsim/gup';
import { Process } from '@mmsim/mm';
import {
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { type MmWalk, mmWalkOps, walk_page_range, walk_page_range_vma } from '@mmsim/pagewalk';
import { benchFollowPage, benchGup, type GupBenchKind } from '../gup-loops.ts';
import { measure } from '../measure.ts';
import type { BenchContext, Benchmark, CounterSample, Metric, RunResult, Sample, Variant } from '../types.ts';

const NR_1G = GiB / PAGE_SIZE;
const SPARSE_LEN = 32 * TiB;

/** A process with 1 GiB of anonymous memory write-faulted in (MAP_POPULATE: 4 KiB pages, no
 * content written, so the frames need no content storage). */
function populated1G(): { m: Machine; p: Process; addr: number; vma: VmAreaStruct } {
  const m = new Machine({ memoryMiB: 1024 + 256 });
  const p = new Process(m, 'walk');
  const addr = p.mmap(null, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE);
  const vma = p.mm.vma_lookup(addr);
  if (vma === null) throw new Error('walk: no VMA after mmap');
  if (m.phys.nrUsed < NR_1G) throw new Error(`walk: only ${m.phys.nrUsed} frames populated`);
  return { m, p, addr, vma };
}

// Callback state at module scope: the callbacks are created once, as kernel ops tables are.
let present = 0;
let holes = 0;
const countPte = (walk: MmWalk): number => {
  if ((walk.lo & 1) !== 0) present++;
  return 0;
};
const countHole = (): number => {
  holes++;
  return 0;
};
const PTE_OPS = mmWalkOps({ pte_entry: countPte });
const PTE_HOLE_OPS = mmWalkOps({ pte_entry: countPte, pte_hole: countHole });
const PMD_OPS = mmWalkOps({
  pmd_entry: (walk: MmWalk): number => {
    if ((walk.lo & 1) !== 0) present++;
    return 0;
  },
});

function check(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`walk: ${what}: ${got}, expected ${want}`);
}

function pteWalk(ctx: BenchContext): RunResult {
  const { m, p, addr } = populated1G();
  const passes = ctx.quick ? 5 : 10;
  p.mm.mmap_read_lock();
  walk_page_range(p.mm, addr, addr + GiB, PTE_OPS); // warm-up
  present = 0;
  const { seconds, counters } = measure(ctx, m.counters, () => {
    for (let i = 0; i < passes; i++) walk_page_range(p.mm, addr, addr + GiB, PTE_OPS);
  });
  p.mm.mmap_read_unlock();
  check('present PTEs visited', present, passes * NR_1G);
  const label = 'pte_entry range walk, 1 GiB';
  const visits = passes * NR_1G;
  return {
    samples: [{ label, unit: 'PTE visit', ops: visits, seconds }],
    counters: [{ label, unit: 'PTE', units: visits, counters }],
    metrics: [],
  };
}

function singleWalk(ctx: BenchContext): RunResult {
  const { m, p, addr, vma } = populated1G();
  const passes = ctx.quick ? 2 : 4;
  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  p.mm.mmap_read_lock();
  for (const [name, ops] of [
    ['pte_entry', PTE_OPS],
    ['pmd_entry', PMD_OPS],
  ] as const) {
    const walkAll = (): void => {
      let a = addr;
      for (let i = 0; i < NR_1G; i++, a += PAGE_SIZE) walk_page_range_vma(vma, a, a + PAGE_SIZE, ops);
    };
    walkAll(); // warm-up
    present = 0;
    const { seconds, counters: c } = measure(ctx, m.counters, () => {
      for (let i = 0; i < passes; i++) walkAll();
    });
    check(`single-page walks (${name}) finding a present entry`, present, passes * NR_1G);
    const label = `single-page walk_page_range_vma (${name})`;
    samples.push({ label, unit: 'walk', ops: passes * NR_1G, seconds });
    counters.push({ label, unit: 'walk', units: passes * NR_1G, counters: c });
  }
  p.mm.mmap_read_unlock();
  return { samples, counters, metrics: [] };
}

function sparseWalk(ctx: BenchContext, levels: 4 | 5): RunResult {
  const m = new Machine({ memoryMiB: 64, levels });
  const p = new Process(m, 'sparse');
  // Above 2^47 in 5-level mode, so the VMA sits where only a 5-level address space reaches.
  const base = levels === 4 ? 64 * TiB : 256 * TiB;
  const addr = p.mmap(
    base,
    SPARSE_LEN,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
  );
  // One page populated, in the middle.
  p.writeByte(addr + SPARSE_LEN / 2 + 12_345 * PAGE_SIZE, 1);
  const walks = ctx.quick ? 10 : 20;
  p.mm.mmap_read_lock();
  present = 0;
  holes = 0;
  const first = ctx.time(() => walk_page_range(p.mm, addr, addr + SPARSE_LEN, PTE_HOLE_OPS));
  check('present PTEs in the first walk', present, 1);
  const holesPerWalk = holes;
  present = 0;
  const { seconds, counters } = measure(ctx, m.counters, () => {
    for (let i = 0; i < walks; i++) walk_page_range(p.mm, addr, addr + SPARSE_LEN, PTE_HOLE_OPS);
  });
  p.mm.mmap_read_unlock();
  check('present PTEs', present, walks);
  const label = `walk_page_range, 32 TiB VMA with one page, ${levels}-level`;
  const metrics: Metric[] = [
    { name: 'time per walk', unit: 'ms', value: (seconds / walks) * 1000, label },
    { name: 'first walk in a fresh process', unit: 'ms', value: first * 1000, label },
    { name: 'pte_hole calls per walk', unit: 'calls', value: holesPerWalk, label },
  ];
  return {
    samples: [{ label, unit: 'walk', ops: walks, seconds }],
    counters: [{ label, unit: 'walk', units: walks, counters }],
    metrics,
  };
}

const FOLLOW_PROFILES: KernelVersion[] = ['6.1', '6.18'];

function followPage(ctx: BenchContext): RunResult {
  const { m, addr, vma } = populated1G();
  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  for (const prof of FOLLOW_PROFILES) {
    benchFollowPage(vma, addr, NR_1G, 0, KERNEL_PROFILES[prof]); // warm-up
    ctx.gc();
    const before = m.counters.snapshot();
    let found = 0;
    const seconds = ctx.time(() => {
      found = benchFollowPage(vma, addr, NR_1G, 0, KERNEL_PROFILES[prof]);
    });
    const c = m.counters.since(before);
    check(`follow_page hits (${prof})`, found, NR_1G);
    const label = `follow_page(FOLL_GET) + put_page, 1 GiB [${prof}]`;
    samples.push({ label, unit: 'lookup', ops: NR_1G, seconds });
    counters.push({ label, unit: 'lookup', units: NR_1G, counters: c });
  }
  return { samples, counters, metrics: [] };
}

const GUP_KINDS: GupBenchKind[] = [
  'get_user_pages',
  'pin_user_pages',
  'get_user_pages_fast',
  'pin_user_pages_fast',
];

function gup(ctx: BenchContext): RunResult {
  const { m, p, addr } = populated1G();
  const pages = new Int32Array(512);
  const samples: Sample[] = [];
  const counters: CounterSample[] = [];
  for (const kind of GUP_KINDS) {
    benchGup(kind, p.mm, addr, NR_1G, 512, FOLL_WRITE, pages); // warm-up
    ctx.gc();
    const before = m.counters.snapshot();
    let done = 0;
    const seconds = ctx.time(() => {
      done = benchGup(kind, p.mm, addr, NR_1G, 512, FOLL_WRITE, pages);
    });
    const c = m.counters.since(before);
    check(`${kind} pages`, done, NR_1G);
    const label = `${kind}(FOLL_WRITE), 1 GiB in 512-page batches`;
    samples.push({ label, unit: 'page', ops: NR_1G, seconds });
    counters.push({ label, unit: 'page', units: NR_1G, counters: c });
  }
  return { samples, counters, metrics: [] };
}

function run(ctx: BenchContext): RunResult {
  switch (ctx.variant) {
    case 'pte-walk':
      return pteWalk(ctx);
    case 'single-walk':
      return singleWalk(ctx);
    case 'sparse-4':
      return sparseWalk(ctx, 4);
    case 'sparse-5':
      return sparseWalk(ctx, 5);
    case 'follow-page':
      return followPage(ctx);
    case 'gup':
      return gup(ctx);
    default:
      throw new Error(`walk: unknown variant '${ctx.variant}'`);
  }
}

const walk: Benchmark = {
  name: 'walk',
  description:
    'The page walker (@mmsim/pagewalk) and follow_page/GUP (@mmsim/gup) micro-benchmarks: ' +
    'range and single-page walks over 1 GiB of populated 4 KiB pages, a 32 TiB sparse walk in 4- and ' +
    '5-level mode, follow_page(FOLL_GET)+put_page and get/pin_user_pages in 512-page batches.',
  variants(): Variant[] {
    return [
      { id: 'pte-walk', description: 'walk_page_range with pte_entry over 1 GiB populated' },
      { id: 'single-walk', description: 'walk_page_range_vma over one page, for each page of 1 GiB' },
      { id: 'sparse-4', description: 'walk_page_range over a 32 TiB VMA with one populated page, 4-level' },
      { id: 'sparse-5', description: 'the same in 5-level mode' },
      { id: 'follow-page', description: 'follow_page(FOLL_GET)+put_page per page over 1 GiB, 6.1 and 6.18' },
      { id: 'gup', description: 'get/pin_user_pages(_fast) of 1 GiB in 512-page batches' },
    ];
  },
  targets: [
    { name: 'pte_entry range walk, 1 GiB', atLeast: 50e6 },
    { name: 'single-page walk_page_range_vma (pte_entry)', atLeast: 5e6 },
    { name: 'single-page walk_page_range_vma (pmd_entry)', atLeast: 5e6 },
    { name: 'time per walk', atMost: 10, source: 'a 32 TiB sparse walk under 10 ms' },
  ],
  notes: [
    '1 GiB populated = mmap(MAP_POPULATE) of 262,144 4 KiB anonymous pages (THP not advised), write-faulted in ' +
      'without content being written. The pte_entry callback counts present PTEs and the benchmark checks ' +
      'the count; the pmd_entry callback of the single-page walk only tests the PMD (as break_ksm v1 did).',
    'Steady state: each loop runs once untimed (JIT warm-up), then is timed over several passes (pte-walk: 10 ' +
      'walks of 1 GiB, --quick 5; single-walk: 4 passes of 262,144 walks, --quick 2; follow-page and gup: one ' +
      'pass of 1 GiB).',
    'Sparse walk: a MAP_FIXED|MAP_NORESERVE 32 TiB VMA at 64 TiB (4-level) or 256 TiB (5-level, above the ' +
      '4-level limit), one page written in its middle; pte_entry and pte_hole callbacks. "time per walk" is ' +
      'the mean of 20 walks (--quick 10) after the first; "first walk in a fresh process" includes JIT ' +
      'compilation of the walker.',
    'follow_page [6.1] is the lookup break_ksm() used up to 6.1; [6.18] follows the 6.18 profile of ' +
      '@mmsim/gup. GUP uses FOLL_WRITE on already-written pages (no faults), releasing each batch ' +
      '(put_page or unpin_user_pages) before the next.',
    'Simulated RAM: 1,280 MiB for the 1 GiB variants, 64 MiB for the sparse ones (page tables and one page).',
  ],
  run,
};

export default walk;
