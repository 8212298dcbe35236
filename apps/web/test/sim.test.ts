// The worker's views of a simulated world, checked in Node: page states from pagemap and
// kpageflags, walks of 4 and 5 levels, and the break_ksm() replay adding up to the costs.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadedScenario, parseScenario } from '@mmsim/scenario';
import { describe, expect, it } from 'vitest';
import { PAGE_STATES, type PageState, type Snapshot } from '../src/protocol.ts';
import { breakKsm, COST_COUNTERS, runTo, snapshot, walkOf } from '../src/sim.ts';

const SCENARIOS = join(import.meta.dirname, '..', '..', '..', 'scenarios');
const bundled = (name: string): LoadedScenario =>
  parseScenario(readFileSync(join(SCENARIOS, `${name}.yaml`), 'utf8'), `${name}.yaml`);
const inline = (data: unknown): LoadedScenario => parseScenario(JSON.stringify(data), 't.json');
const end = (l: LoadedScenario): number => l.scenario.steps.length - 1;

function states(s: Snapshot): Set<PageState> {
  const out = new Set<PageState>();
  for (const p of s.procs) for (const v of p.vmas) for (const x of v.states) out.add(PAGE_STATES[x]);
  return out;
}

describe('the worker side of apps/web', () => {
  it('colours merged pages KSM, guard markers guard, read faults zero, huge folios THP', () => {
    expect([...states(snapshot(runTo(bundled('ksm-tests-merge'), 99)))]).toEqual(['ksm']);
    expect(states(snapshot(runTo(bundled('guard-regions'), 99))).has('guard')).toBe(true);
    expect(states(snapshot(runTo(bundled('zero-pages-mixed'), 99))).has('zero')).toBe(true);
    expect(states(snapshot(runTo(bundled('thp-regions'), 99))).has('thp')).toBe(true);
  });

  it('colours paged-out pages swapped when the machine has swap', () => {
    const l = inline({
      name: 'swap',
      machine: { memory_mib: 64, swap_mib: 16 },
      steps: [
        { op: 'spawn', proc: 'a' },
        { op: 'mmap', proc: 'a', region: 'r', pages: 8 },
        { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'unique', seed: 1 } },
        { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_PAGEOUT', from: 0, count: 4 },
      ],
    });
    const s = snapshot(runTo(l, end(l)));
    const v = s.procs[0].vmas[0];
    expect([...v.states].map((x) => PAGE_STATES[x])).toEqual([
      ...Array(4).fill('swapped'),
      ...Array(4).fill('private'),
    ]);
    const w = walkOf(runTo(l, end(l)), 'a', v.start);
    expect(w.levels.at(-1)?.decoded.kind).toBe('swap');
    expect(w.pagemap.swapped).toBe(true);
  });

  it('walks five levels under 5-level paging and stops at the first entry that is no table', () => {
    const l = inline({
      name: 'la57',
      arch: { levels: 5 },
      steps: [
        { op: 'spawn', proc: 'a' },
        { op: 'mmap', proc: 'a', region: 'r', pages: 2 },
        { op: 'touch', proc: 'a', region: 'r', from: 0, count: 1 },
      ],
    });
    const st = runTo(l, end(l));
    const s = snapshot(st);
    expect(s.levels).toBe(5);
    const start = s.procs[0].vmas[0].start;
    expect(walkOf(st, 'a', start).levels.map((x) => x.level)).toEqual(['pgd', 'p4d', 'pud', 'pmd', 'pte']);
    expect(walkOf(st, 'a', start).levels.at(-1)?.decoded.summary).toContain('4 KiB page');
    // The tree holds exactly the populated path: one entry per level down to the PTE.
    let t = s.procs[0].pgd;
    const path: string[] = [];
    for (;;) {
      path.push(`${t.level}:${t.entries.length}`);
      const child = t.entries[0]?.child;
      if (child === null || child === undefined) break;
      t = child;
    }
    expect(path).toEqual(['pgd:1', 'p4d:1', 'pud:1', 'pmd:1', 'pte:1']);
    expect(walkOf(st, 'a', 2 ** 50).levels.map((x) => x.decoded.kind)).toEqual(['none']);
  });

  it('replays the animated strategy increment by increment, adding up to its cost', () => {
    const l = bundled('ksm-tests-merge');
    for (const strategy of ['follow_page', 'walk_pmd', 'walk_fault']) {
      const v = breakKsm(l, end(l), strategy);
      expect(v.more).toBe(0);
      const cost = v.costs.find((c) => c.strategy === strategy);
      if (cost === undefined) throw new Error(strategy);
      for (const k of COST_COUNTERS) {
        const sum = v.events.filter((e) => e.counter === k).reduce((a, e) => a + e.delta, 0);
        expect(sum, `${strategy} ${k}`).toBe(cost.perPage[k] * cost.pages);
      }
    }
    const v = breakKsm(l, end(l), 'follow_page');
    const per = (s: string, k: string) => v.costs.find((c) => c.strategy === s)?.perPage[k];
    // The 2022 question: follow_page looks each page up once; walk_pmd walks twice per page
    // with a pmd_entry callback each time; every strategy breaks COW on every page once.
    expect(per('follow_page', 'followPage')).toBe(1);
    expect(per('walk_pmd', 'walks')).toBe(2);
    expect(per('walk_pmd', 'walkCallbacks')).toBe(2);
    for (const c of v.costs) expect(c.perPage.pagesCopied, c.strategy).toBe(1);
  });
});
