// Bad input never crashes: random and mutated scenario texts must end in a LoadedScenario or a
// one-line ScenarioError, a loaded one must run on the simulator to a report (or a ScenarioError),
// and the `mmsim run` command must exit 0/1, or 2 with one line on stderr — never a stack trace.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelBug } from '@mmsim/core';
import { parseScenario, runOnSimulator, ScenarioError } from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import fc from 'fast-check';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { stats } from './stats.ts';
import { Violation } from './world.ts';

/** The repository root (packages/fuzz/src -> ../../..). */
export const REPO_ROOT: string = join(import.meta.dirname, '..', '..', '..');

/** Scenario texts to mutate: the repository's scenarios and a few small hand-written ones. */
export function scenarioCorpus(): { text: string; file: string }[] {
  const out: { text: string; file: string }[] = [];
  const dir = join(REPO_ROOT, 'scenarios');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /\.(ya?ml|json)$/.test(n));
  } catch {
    names = [];
  }
  for (const n of names.sort()) out.push({ text: readFileSync(join(dir, n), 'utf8'), file: n });
  out.push({
    file: 'small.yaml',
    text: [
      'name: small',
      'arch: { levels: 5 }',
      'machine: { memory_mib: 64 }',
      'ksm: { pages_to_scan: 50, use_zero_pages: 1 }',
      'steps:',
      '  - { op: spawn, proc: a }',
      '  - { op: mmap, proc: a, region: r, pages: 8 }',
      '  - { op: fill, proc: a, region: r, pattern: { kind: ids, count: 2, seed: 1 } }',
      '  - { op: madvise, proc: a, region: r, advice: MADV_MERGEABLE }',
      '  - { op: fork, proc: a, child: b }',
      '  - { op: write, proc: b, region: r, page: 3, offset: 9, value: 255 }',
      '  - { op: ksm_scan, full_scans: 2 }',
      '  - { op: knob, name: max_page_sharing, value: 3, expect_errno: EBUSY }',
      '  - { op: report, label: merged }',
      '  - { op: expect, ksm: { pages_shared: 2 } }',
      '  - { op: madvise, proc: a, region: r, advice: MADV_PAGEOUT, from: 1, count: 2 }',
      '  - { op: touch, proc: a, region: r }',
      '  - { op: mprotect, proc: b, region: r, prot: r, from: 0, count: 4 }',
      '  - { op: munmap, proc: b, region: r, from: 4 }',
      '  - { op: ksm_unmerge_all }',
      '  - { op: exit, proc: b }',
      '',
    ].join('\n'),
  });
  out.push({
    file: 'small.json',
    text: JSON.stringify({
      name: 'small-json',
      steps: [
        { op: 'spawn', proc: 'p' },
        { op: 'mmap', proc: 'p', region: 'x', pages: 4, shared: true },
        { op: 'fill', proc: 'p', region: 'x', pattern: { kind: 'byte', value: 3 } },
        { op: 'prctl', proc: 'p', option: 'PR_SET_MEMORY_MERGE', value: true },
        { op: 'ksm_converge', max_full_scans: 4 },
      ],
    }),
  });
  return out;
}

const WEIRD_VALUES: unknown[] = [
  -1,
  0,
  1,
  2,
  4095,
  4096,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  -(2 ** 53),
  1.5,
  Number.POSITIVE_INFINITY,
  1e300,
  'x',
  '',
  '0x10',
  'scan-time',
  null,
  true,
  false,
  [],
  {},
  { kind: 'zero' },
  'MADV_MERGEABLE',
  'EFAULT',
];

/** A structural mutation: one value somewhere in the parsed document replaced, deleted or
 * duplicated, written back as YAML or JSON. */
function mutateStructure(doc: unknown, picks: number[], replacement: unknown): unknown {
  const paths: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        paths.push({ parent: v, key: i });
        visit(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        paths.push({ parent: v as Record<string, unknown>, key: k });
        visit(x);
      }
    }
  };
  visit(doc);
  if (paths.length === 0) return replacement;
  for (const pick of picks) {
    const { parent, key } = paths[pick % paths.length];
    const mode = pick % 4;
    if (mode === 0 && Array.isArray(parent)) parent.splice(key as number, 1);
    else if (mode === 0) delete (parent as Record<string, unknown>)[key as string];
    else if (mode === 1 && Array.isArray(parent)) parent.splice(key as number, 0, parent[key as number]);
    else (parent as Record<string, unknown>)[key as string] = replacement;
  }
  return doc;
}

/** A textual mutation: cut, duplicate, or overwrite a slice of the text. */
function mutateText(text: string, at: number, len: number, insert: string, mode: number): string {
  const i = text.length === 0 ? 0 : at % text.length;
  const j = Math.min(text.length, i + len);
  if (mode === 0) return text.slice(0, i) + text.slice(j);
  if (mode === 1) return text.slice(0, j) + text.slice(i, j) + text.slice(j);
  return text.slice(0, i) + insert + text.slice(j);
}

/** Scenario texts: random, textually mutated, structurally mutated; named .yaml, .json or neither. */
export function scenarioTextArbitrary(
  corpus = scenarioCorpus(),
): fc.Arbitrary<{ text: string; file: string }> {
  const base = fc.constantFrom(...corpus);
  const ext = fc.constantFrom('.yaml', '.yml', '.json', '.txt', '');
  const random = fc
    .tuple(
      fc.oneof(
        fc.string({ maxLength: 200 }),
        fc.json({ maxDepth: 4 }),
        fc.string({ unit: 'binary', maxLength: 100 }),
      ),
      ext,
    )
    .map(([text, e]) => ({ text, file: `random${e}` }));
  const textual = fc
    .tuple(
      base,
      fc.array(fc.tuple(fc.nat(), fc.nat({ max: 40 }), fc.string({ maxLength: 12 }), fc.nat({ max: 2 })), {
        minLength: 1,
        maxLength: 4,
      }),
    )
    .map(([b, edits]) => {
      let t = b.text;
      for (const [at, len, ins, mode] of edits) t = mutateText(t, at, len, ins, mode);
      return { text: t, file: b.file };
    });
  const structural = fc
    .tuple(
      base,
      fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      fc.oneof(fc.constantFrom(...WEIRD_VALUES), fc.anything({ maxDepth: 2 })),
      fc.boolean(),
    )
    .map(([b, picks, repl, asJson]) => {
      const doc = mutateStructure(parseYaml(b.text) as unknown, picks, repl);
      return asJson
        ? { text: JSON.stringify(doc) ?? 'null', file: b.file.replace(/\.\w+$/, '.json') }
        : { text: stringifyYaml(doc), file: b.file.replace(/\.\w+$/, '.yaml') };
    });
  return fc.oneof(random, textual, { weight: 2, arbitrary: structural });
}

/** Largest scenario the in-process check runs on the simulator (populated pages). */
const RUN_LIMIT_PAGES = 20_000;

/** One input: parse it; if it loads and is small, run it. Throws Violation for anything else. */
export function checkScenarioInput(text: string, file: string): 'error' | 'loaded' | 'ran' {
  stats.inputsFuzzed++;
  let loaded: ReturnType<typeof parseScenario>;
  try {
    loaded = parseScenario(text, file);
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw new Violation(`parser threw ${describe(e)} on ${file}`);
    if (e.message.includes('\n')) throw new Violation(`multi-line ScenarioError: ${e.message}`);
    return 'error';
  }
  const mem = loaded.scenario.machine?.memory_mib;
  if (
    loaded.plan.populatedPages > RUN_LIMIT_PAGES ||
    loaded.plan.mappedPages > 2 ** 22 ||
    mem === undefined ||
    mem > 1024
  )
    return 'loaded';
  try {
    runOnSimulator(loaded, { host: hostMemory() });
  } catch (e) {
    if (e instanceof ScenarioError && !e.message.includes('\n')) return 'loaded';
    throw new Violation(`a valid scenario crashed the simulator: ${describe(e)}`);
  }
  return 'ran';
}

function describe(e: unknown): string {
  if (e instanceof KernelBug || e instanceof Error) return `${e.name}: ${e.message.split('\n')[0]}`;
  return String(e);
}

/** The parser property. */
export function scenarioParserProperty(corpus = scenarioCorpus()) {
  return fc.property(scenarioTextArbitrary(corpus), ({ text, file }) => {
    checkScenarioInput(text, file);
  });
}

// ---- the CLI ------------------------------------------------------------------------------------

export const CLI: string = join(REPO_ROOT, 'apps', 'demo', 'src', 'cli.ts');

/** Arguments after `mmsim run` (never the kernel-side commands: they drive the live KSM). */
export const cliArgsArbitrary: fc.Arbitrary<string[]> = fc.array(
  fc.oneof(
    fc.constantFrom(
      '--json',
      '--strategy',
      'folio_walk',
      'follow_page',
      'nope',
      '--frob',
      '-x',
      '--',
      '-',
      '--help',
    ),
    fc.string({ maxLength: 8 }).filter((s) => !s.startsWith('-') || s.length > 1),
  ),
  { maxLength: 3 },
);

export interface CliOutcome {
  status: number | null;
  stderr: string;
  stdout: string;
}

/** Run `mmsim run <file> ...args` in a fresh node. */
function runCli(args: string[], timeoutMs = 60_000): CliOutcome {
  const r = spawnSync(process.execPath, ['--conditions=@mmsim/source', '--import', 'tsx', CLI, ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return { status: r.status, stderr: r.stderr ?? '', stdout: r.stdout ?? '' };
}

const STACK_LINE = /^\s+at .+(\(|:\d+)/m;

/** Exit 0/1 with no stack trace, or 2 with exactly one line on stderr. */
function checkCliOutcome(what: string, o: CliOutcome): void {
  stats.inputsFuzzed++;
  if (o.status === 2) {
    const lines = o.stderr.trim().split('\n');
    if (lines.length !== 1)
      throw new Violation(
        `${what}: exit 2 with ${lines.length} lines on stderr:\n${o.stderr.slice(0, 2000)}`,
      );
    if (STACK_LINE.test(o.stderr))
      throw new Violation(`${what}: stack trace on stderr:\n${o.stderr.slice(0, 2000)}`);
    return;
  }
  if (o.status !== 0 && o.status !== 1)
    throw new Violation(`${what}: exit ${o.status}:\n${o.stderr.slice(0, 2000)}`);
  if (STACK_LINE.test(o.stderr))
    throw new Violation(`${what}: stack trace on stderr:\n${o.stderr.slice(0, 2000)}`);
}

/** Write `text` to a temporary file named `file` and run `mmsim run` on it with `args`. */
export function fuzzCliOnce(text: string, file: string, args: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'mmsim-fuzz-'));
  try {
    const path = join(dir, file.replace(/[^\w.-]/g, '_') || 'x');
    writeFileSync(path, text);
    checkCliOutcome(`mmsim run ${file} ${args.join(' ')}`, runCli(['run', path, ...args]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
