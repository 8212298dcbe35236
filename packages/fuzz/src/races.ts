// Races by scripted interleaving (machine.at(point, fn)): each runs a kernel operation, stops it at
// a named point, runs another operation there, lets the first one finish, and then checks the
// world against the model exactly as the property test does.

import { PMD_SIZE } from '@mmsim/core';
import { STRATEGIES } from '@mmsim/ksm';
import {
  _PAGE_PRESENT,
  E,
  type InterleavePoint,
  migrate_folio_finish,
  migrate_folio_start,
  pmd_index,
  pmd_leaf,
  readEntry,
  reclaim_folio,
  split_huge_pmd,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { ACTION_AGAIN, type MmWalk, mmWalkOps, walk_page_range } from '@mmsim/pagewalk';
import type { Action } from './actions.ts';
import { stats } from './stats.ts';
import { FuzzWorld, mappedPfn, Violation } from './world.ts';

export interface Race {
  /** The interleaving, named: "<operation> | <point> | <what runs there>". */
  readonly name: string;
  /** Runs it; throws Violation when it breaks anything. */
  run(): void;
}

function fail(msg: string): never {
  throw new Violation(msg);
}

/** Two processes, `pages` pages each of byte `value`, mergeable; returns the world and regions. */
function twoMergeable(strategy: string, pages = 1, value = 0x5a): FuzzWorld {
  const w = new FuzzWorld({ levels: 4, memoryMiB: 64, strategy });
  const acts: Action[] = [
    { op: 'spawn', proc: 'a' },
    { op: 'spawn', proc: 'b' },
    { op: 'mmap', proc: 'a', region: 'ra', pages, thp: false, shared: false, prot: 'rw' },
    { op: 'mmap', proc: 'b', region: 'rb', pages, thp: false, shared: false, prot: 'rw' },
    { op: 'fill', proc: 'a', region: 'ra', from: 0, count: pages, pattern: { kind: 'byte', value } },
    { op: 'fill', proc: 'b', region: 'rb', from: 0, count: pages, pattern: { kind: 'byte', value } },
    { op: 'madvise', proc: 'a', region: 'ra', from: 0, count: pages, advice: 'MADV_MERGEABLE' },
    { op: 'madvise', proc: 'b', region: 'rb', from: 0, count: pages, advice: 'MADV_MERGEABLE' },
  ];
  for (const a of acts) w.exec(a);
  return w;
}

function addrOf(w: FuzzWorld, proc: string, region: string, page = 0): number {
  return w.model.procs.get(proc)!.regions.get(region)!.pageAddr(page);
}

function pfnOf(w: FuzzWorld, proc: string, region: string, page = 0): number {
  return mappedPfn(w.m, w.procs.get(proc)!.mm, addrOf(w, proc, region, page));
}

/** Arm `point`; the hook runs `fn` once, the first time `when(ctx)` holds. */
function armWhen(
  w: FuzzWorld,
  point: InterleavePoint,
  when: (ctx: unknown) => boolean,
  fn: (ctx: unknown) => void,
) {
  let fired = false;
  const hook = (ctx: unknown): void => {
    if (!fired && when(ctx)) {
      fired = true;
      fn(ctx);
    } else w.m.at(point, hook);
  };
  w.m.at(point, hook);
  return { fired: () => fired, disarm: () => w.m.at(point, () => {}) };
}

// ---- KSM: a write between the checks and the merge -------------------------------------------

function writeBetweenChecksumAndMerge(
  point: 'ksm:after-checksum' | 'ksm:before-merge',
  target: 'scanned' | 'tree',
): Race {
  return {
    name: `cmp_and_merge_page | ${point} | the ${target} page is written (never merge different contents)`,
    run() {
      stats.racesScripted++;
      const w = twoMergeable('folio_walk');
      w.exec({ op: 'ksm_scan', full_scans: 1 }); // checksums recorded
      const armed = armWhen(
        w,
        point,
        (ctx) =>
          point === 'ksm:after-checksum' || ((ctx as { kpage: number }).kpage !== 0) === (target === 'tree'),
        (ctx) => {
          const c = ctx as { page: number; vma?: VmAreaStruct; mm?: unknown };
          const inB = (c.vma !== undefined ? c.vma.vm_mm : c.mm) === w.procs.get('b')!.mm;
          const proc = inB ? 'b' : 'a';
          const region = inB ? 'rb' : 'ra';
          w.execInterleaved({ op: 'write', proc, region, page: 0, offset: 100, value: 0x77 });
        },
      );
      w.exec({ op: 'ksm_scan', full_scans: 3 });
      armed.disarm();
      if (!armed.fired()) fail(`${point} was never reached`);
      w.exec({ op: 'touch', proc: 'a', region: 'ra', from: 0, count: 1 });
      w.exec({ op: 'touch', proc: 'b', region: 'rb', from: 0, count: 1 });
      if (pfnOf(w, 'a', 'ra') === pfnOf(w, 'b', 'rb')) fail('pages with different contents share a frame');
      w.teardown();
    },
  };
}

// ---- break_ksm() meets a migration or a swap-out of the KSM page --------------------------------

function mergedPair(strategy: string): { w: FuzzWorld; kpage: number } {
  const w = twoMergeable(strategy);
  w.exec({ op: 'ksm_scan', full_scans: 3 });
  const kpage = pfnOf(w, 'a', 'ra');
  if (kpage === 0 || kpage !== pfnOf(w, 'b', 'rb') || !w.m.phys.PageKsm(kpage))
    fail('setup: pages did not merge');
  return { w, kpage };
}

function migrationUnderBreakKsm(strategy: string): Race {
  return {
    name: `break_ksm (${strategy}) | migrate_folio_start() before MADV_UNMERGEABLE, migrate_folio_finish() after | the KSM page is under migration`,
    run() {
      stats.racesScripted++;
      const { w, kpage } = mergedPair(strategy);
      const mig = migrate_folio_start(w.m, kpage);
      if (mig === null) fail('setup: migration did not start');
      // break_ksm() meets the migration entries: it waits (finishing the migration), then unshares.
      w.execInterleaved({
        op: 'madvise',
        proc: 'a',
        region: 'ra',
        from: 0,
        count: 1,
        advice: 'MADV_UNMERGEABLE',
      });
      migrate_folio_finish(w.m, mig);
      w.check('migration under break_ksm');
      const pm = w.m.phys;
      if (pm.PageKsm(pfnOf(w, 'a', 'ra'))) fail('a still maps a KSM page after MADV_UNMERGEABLE');
      if (pfnOf(w, 'b', 'rb') !== mig.dst || !pm.PageKsm(mig.dst))
        fail('b does not map the migrated KSM page');
      w.teardown();
    },
  };
}

function swapUnderBreakKsm(strategy: string): Race {
  return {
    name: `break_ksm (${strategy}) | fault:before-pte-lock | the KSM page is swapped out (reclaim_folio())`,
    run() {
      stats.racesScripted++;
      const { w, kpage } = mergedPair(strategy);
      const armed = armWhen(
        w,
        'fault:before-pte-lock',
        () => true,
        () => {
          // follow_page() holds a reference (FOLL_GET): the folio is unmapped but stays in the swap
          // cache, as the kernel's reclaim leaves a folio it cannot freeze.
          reclaim_folio(w.m, kpage);
          if (w.m.phys.folio_mapped(kpage)) fail('the KSM page is still mapped after reclaim');
        },
      );
      w.exec({ op: 'madvise', proc: 'a', region: 'ra', from: 0, count: 1, advice: 'MADV_UNMERGEABLE' });
      armed.disarm();
      if (!armed.fired()) fail('break_ksm never faulted');
      // Both are swap entries now; reading swaps in private copies.
      w.exec({ op: 'touch', proc: 'a', region: 'ra', from: 0, count: 1 });
      w.exec({ op: 'touch', proc: 'b', region: 'rb', from: 0, count: 1 });
      // (With follow_page the folio stayed in the swap cache as a KSM folio with its stable node,
      // so swap-in maps it again read-only: ksm_might_need_to_copy() does not copy those.)
      w.teardown();
    },
  };
}

// ---- fork while ksmd holds a page -------------------------------------------------------------

/** At 'ksm:after-checksum' ksmd holds only a reference on the page: its own process forks. At
 * 'ksm:before-merge' ksmd also holds that mm's mmap_lock (fork would wait for it), so the other
 * process — whose page ksmd holds too, as the tree page or the KSM page — forks. */
function forkWhileKsmdHolds(point: 'ksm:after-checksum' | 'ksm:before-merge'): Race {
  return {
    name: `ksmd cmp_and_merge_page | ${point} | ${point === 'ksm:after-checksum' ? "the page's" : 'the other'} process forks`,
    run() {
      stats.racesScripted++;
      const w = twoMergeable('folio_walk', 2);
      let forked: [string, string] = ['c', 'ra'];
      w.exec({ op: 'ksm_scan', full_scans: 1 });
      const armed = armWhen(
        w,
        point,
        () => true,
        (ctx) => {
          const c = ctx as { mm?: unknown; vma?: VmAreaStruct };
          const held = c.vma !== undefined ? c.vma.vm_mm : c.mm;
          const mine = held === w.procs.get('a')!.mm;
          const forker = point === 'ksm:after-checksum' ? mine : !mine;
          w.execInterleaved({ op: 'fork', proc: forker ? 'a' : 'b', child: 'c' });
          forked = forker ? ['c', 'ra'] : ['c', 'rb'];
        },
      );
      w.exec({ op: 'ksm_scan', full_scans: 2 });
      armed.disarm();
      if (!armed.fired()) fail(`${point} was never reached`);
      // The child and the parent write their copies; nobody sees the other's bytes.
      w.exec({ op: 'write', proc: forked[0], region: forked[1], page: 0, offset: 1, value: 1 });
      w.exec({ op: 'write', proc: 'a', region: 'ra', page: 1, offset: 2, value: 2 });
      w.exec({ op: 'ksm_scan', full_scans: 3 });
      for (const [p, r] of [['a', 'ra'], ['b', 'rb'], forked] as const)
        w.exec({ op: 'touch', proc: p, region: r, from: 0, count: 2 });
      w.teardown();
    },
  };
}

// ---- a PMD split under a page walker ------------------------------------------------------------

const splitRace = {
  name: 'walk_page_range | walk:pmd-entry | the huge PMD is split before pmd_entry() takes pmd_trans_huge_lock() (ACTION_AGAIN)',
  run() {
    stats.racesScripted++;
    const w = new FuzzWorld({ levels: 4, memoryMiB: 64 });
    w.exec({ op: 'spawn', proc: 'a' });
    w.exec({ op: 'mmap', proc: 'a', region: 'r', pages: 512, thp: true, shared: false, prot: 'rw' });
    w.exec({
      op: 'fill',
      proc: 'a',
      region: 'r',
      from: 0,
      count: 3,
      pattern: { kind: 'ids', count: 3, seed: 1 },
    });
    const p = w.procs.get('a')!;
    const mm = p.mm;
    const start = addrOf(w, 'a', 'r');
    const pm = w.m.phys;
    const pmdT = mm.find_pmd_table(start);
    readEntry(pm, pmdT, pmd_index(start));
    if (!pmd_leaf(E.lo)) fail('setup: no THP');
    let pmdCalls = 0;
    let leafSeen = 0;
    let again = 0;
    const seen = new Map<number, number>();
    const ops = mmWalkOps({
      pmd_entry: (walk: MmWalk) => {
        pmdCalls++;
        // pmd_trans_huge_lock(): the callback re-reads the PMD under its lock.
        readEntry(pm, walk.table, walk.index);
        if (pmd_leaf(walk.lo)) {
          leafSeen++;
          if (!pmd_leaf(E.lo)) {
            again++;
            walk.action = ACTION_AGAIN; // it is no longer huge: look again
          }
        }
        return 0;
      },
      pte_entry: (walk: MmWalk, addr: number) => {
        seen.set(addr, (seen.get(addr) ?? 0) + 1);
        if ((walk.lo & _PAGE_PRESENT) === 0)
          fail(`pte_entry at 0x${addr.toString(16)}: not present after the split`);
        return 0;
      },
    });
    w.m.at('walk:pmd-entry', (ctx) => {
      const walk = ctx as MmWalk;
      split_huge_pmd(walk.vma!, start, walk.table, walk.index); // another thread splits it
    });
    mm.mmap_read_lock();
    const r = walk_page_range(mm, start, start + PMD_SIZE, ops, null);
    mm.mmap_read_unlock();
    if (r !== 0) fail(`walk returned ${r}`);
    if (pmdCalls !== 2 || leafSeen !== 1 || again !== 1)
      fail(`pmd_entry calls ${pmdCalls}, leaf ${leafSeen}, again ${again}`);
    if (seen.size !== 512) fail(`pte_entry saw ${seen.size} of 512 pages`);
    for (const [a, n] of seen) if (n !== 1) fail(`pte_entry saw 0x${a.toString(16)} ${n} times`);
    w.check('PMD split under a walker');
    w.exec({ op: 'touch', proc: 'a', region: 'r', from: 0, count: 4 });
    w.teardown();
  },
};

/** Every scripted race, by name. */
export const RACES: readonly Race[] = [
  writeBetweenChecksumAndMerge('ksm:after-checksum', 'scanned'),
  writeBetweenChecksumAndMerge('ksm:before-merge', 'scanned'),
  writeBetweenChecksumAndMerge('ksm:before-merge', 'tree'),
  ...Object.keys(STRATEGIES).map(migrationUnderBreakKsm),
  ...Object.keys(STRATEGIES).map(swapUnderBreakKsm),
  forkWhileKsmdHolds('ksm:after-checksum'),
  forkWhileKsmdHolds('ksm:before-merge'),
  splitRace,
];
