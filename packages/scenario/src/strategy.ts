// A break_ksm() strategy of one's own: loaded from a module file (`mmsim run --strategy
// ./my-strategy.ts`, `pnpm bench unmerge --strategy ./my-strategy.ts`) and checked against the
// built-in strategies before anything is run or timed with it: on the same workloads it must leave
// the same memory (page contents and which pages share a frame) and the same counters (KSM's,
// ksm_stat, smaps) as every built-in one. Node-only (it imports a file).

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PAGE_SIZE } from '@mmsim/core';
import { type BreakKsmStrategy, STRATEGIES } from '@mmsim/ksm';
import { describeValue, ScenarioError } from './errors.ts';
import { hostMemory } from './host.ts';
import { type LoadedScenario, parseScenario } from './parse.ts';
import type { Report } from './report.ts';
import { runOnSimulator, type SimulatorContext } from './simulator.ts';

/** A name of the built-in strategies, or else a module file to load. */
export function isBuiltinStrategy(nameOrFile: string): boolean {
  return Object.hasOwn(STRATEGIES, nameOrFile);
}

/**
 * Import the module `file` (resolved against `cwd`) and return its default export, checked to be
 * a BreakKsmStrategy named apart from the built-in ones. Throws a ScenarioError (one line) for a
 * file that cannot be loaded or does not export one.
 */
export async function loadBreakKsmStrategy(
  file: string,
  cwd: string = process.cwd(),
): Promise<BreakKsmStrategy> {
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (e) {
    throw new ScenarioError(file, '$', 'a module that loads', (e as Error).message);
  }
  const s = mod.default as Partial<BreakKsmStrategy> | undefined;
  if (s === null || typeof s !== 'object')
    throw new ScenarioError(
      file,
      'default',
      'a BreakKsmStrategy object as the default export',
      describeValue(s),
    );
  for (const key of ['name', 'kernel', 'description'] as const)
    if (typeof s[key] !== 'string' || s[key] === '')
      throw new ScenarioError(file, `default.${key}`, 'a non-empty string', describeValue(s[key]));
  if (typeof s.unmerge !== 'function')
    throw new ScenarioError(
      file,
      'default.unmerge',
      'a function (vma, start, end, lock_vma) => 0 or -errno',
      describeValue(s.unmerge),
    );
  if (isBuiltinStrategy(s.name!))
    throw new ScenarioError(file, 'default.name', 'a name apart from the built-in strategies', `"${s.name}"`);
  return s as BreakKsmStrategy;
}

/** The workloads every strategy is run on: merged pages in chains, KSM zero pages, a THP, holes,
 * a forked child, a partial MADV_UNMERGEABLE, prctl's unmerge, munmap mid-region and run=2. */
const WORKLOADS: { name: string; steps: unknown[]; ksm: Record<string, number> }[] = [
  {
    name: 'mix',
    ksm: { max_page_sharing: 4, use_zero_pages: 1 },
    steps: [
      { op: 'spawn', proc: 'a' },
      { op: 'mmap', proc: 'a', region: 'r', pages: 48 },
      { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'ids', count: 5, seed: 3 } },
      { op: 'fill', proc: 'a', region: 'r', from: 40, count: 8, pattern: { kind: 'zero' } },
      { op: 'mmap', proc: 'a', region: 't', pages: 512, thp: true },
      { op: 'fill', proc: 'a', region: 't', pattern: { kind: 'ids', count: 3, seed: 3 } },
      { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGEABLE' },
      { op: 'madvise', proc: 'a', region: 't', advice: 'MADV_MERGEABLE' },
      { op: 'spawn', proc: 'b' },
      { op: 'prctl', proc: 'b', option: 'PR_SET_MEMORY_MERGE', value: 1 },
      { op: 'mmap', proc: 'b', region: 'r', pages: 32 },
      { op: 'fill', proc: 'b', region: 'r', pattern: { kind: 'ids', count: 5, seed: 3, layout: 'blocked' } },
      { op: 'ksm_scan', full_scans: 2 },
      { op: 'fork', proc: 'a', child: 'c' },
      { op: 'madvise', proc: 'a', region: 'r', from: 3, count: 5, advice: 'MADV_DONTNEED' },
      { op: 'ksm_scan', full_scans: 2 },
      { op: 'report', label: 'merged' },
      { op: 'madvise', proc: 'a', region: 'r', from: 1, count: 30, advice: 'MADV_UNMERGEABLE' },
      { op: 'report', label: 'unmergeable' },
      { op: 'prctl', proc: 'b', option: 'PR_SET_MEMORY_MERGE', value: 0 },
      { op: 'munmap', proc: 'c', region: 'r', from: 10, count: 4 },
      { op: 'report', label: 'prctl-munmap' },
      { op: 'ksm_scan', full_scans: 2 },
      { op: 'ksm_unmerge_all' },
      { op: 'report', label: 'run2' },
    ],
  },
];

/** What one run of a workload leaves: its report, and every page's first bytes per region. */
interface Outcome {
  report: Report;
  memory: string;
}

function runWorkload(loaded: LoadedScenario, strategy: BreakKsmStrategy): Outcome {
  let ctx: SimulatorContext | null = null;
  const report = runOnSimulator(loaded, {
    host: hostMemory(),
    strategy,
    beforeStep: (c) => {
      ctx = c;
    },
  });
  const memory: string[] = [];
  const c = ctx as SimulatorContext | null;
  if (c !== null) {
    for (const [proc, p] of c.procs) {
      for (const [region, r] of c.regions.get(proc) ?? []) {
        const bytes: number[] = [];
        for (let i = 0; i < r.pages; i++) {
          const addr = r.addr + i * PAGE_SIZE;
          bytes.push(p.mm.vma_lookup(addr) === null ? -1 : p.readByte(addr));
        }
        memory.push(`${proc}/${region}:${bytes.join(',')}`);
      }
    }
  }
  return { report, memory: memory.join(';') };
}

/** The first difference between two JSON-able values, as "path: a vs b", or null. */
function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null)
    return Object.is(a, b) ? null : `${path}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
      `${path}.${k}`,
    );
    if (d !== null) return d;
  }
  return null;
}

/**
 * Run `strategy` and every built-in one on the check workloads. null when it leaves exactly what
 * they leave (they agree with each other), else one line saying where it differs first.
 */
export function checkBreakKsmStrategy(strategy: BreakKsmStrategy): string | null {
  for (const w of WORKLOADS) {
    const loaded = parseScenario(
      JSON.stringify({ name: `strategy-check-${w.name}`, ksm: w.ksm, steps: w.steps }),
      `${w.name}.json`,
    );
    const reference = runWorkload(loaded, STRATEGIES.folio_walk!);
    for (const [name, s] of [...Object.entries(STRATEGIES), [strategy.name, strategy] as const]) {
      let got: Outcome;
      try {
        got = runWorkload(loaded, s);
      } catch (e) {
        return `workload ${w.name}: ${name} threw ${(e as Error).message.split('\n')[0]}`;
      }
      const d =
        firstDifference(reference.report, got.report, 'report') ??
        (reference.memory === got.memory ? null : 'memory: page contents differ');
      if (d !== null) return `workload ${w.name}: ${name} differs from folio_walk at ${d}`;
    }
  }
  return null;
}

/**
 * `--strategy <name or file>`: a built-in strategy by name, or a strategy module file loaded and
 * checked (checkBreakKsmStrategy()). Throws a ScenarioError (one line) when the file cannot be
 * used.
 */
export async function resolveBreakKsmStrategy(
  nameOrFile: string,
  cwd: string = process.cwd(),
): Promise<BreakKsmStrategy> {
  const builtin = STRATEGIES[nameOrFile];
  if (builtin !== undefined && isBuiltinStrategy(nameOrFile)) return builtin;
  if (!/[/\\]|\.[cm]?[jt]s$/.test(nameOrFile))
    throw new ScenarioError(
      '--strategy',
      '$',
      `one of ${Object.keys(STRATEGIES).join(', ')}, or a module file (./my-strategy.ts)`,
      `"${nameOrFile}"`,
    );
  const s = await loadBreakKsmStrategy(nameOrFile, cwd);
  const bad = checkBreakKsmStrategy(s);
  if (bad !== null)
    throw new ScenarioError(nameOrFile, 'default', `a strategy that acts as the built-in ones`, bad);
  return s;
}
