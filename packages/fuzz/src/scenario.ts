// Failing sequences as files: the exact action list (JSON, replayed by `pnpm fuzz --replay`) and a
// scenario file (docs/scenario-format.md) holding every action the format can express, so that
// `mmsim run` reproduces what the format can say. Ops without a step (ksmd batches, migration,
// strategy switches, fault injection) become YAML comments at their place.

import {
  type LoadedScenario,
  type MADVISE_ADVICE,
  type MadviseAdvice,
  prctlArg2,
  resolveRange,
  type Step,
} from '@mmsim/scenario';
import { type Action, describeAction, INEXPRESSIBLE } from './actions.ts';
import type { LoggedAction, WorldOptions } from './world.ts';

/** What a failure file holds: enough to replay it exactly. */
export interface FailureRecord {
  /** fast-check's seed and path, when the failure came from a property run. */
  seed?: number;
  path?: string;
  message: string;
  options: WorldOptions;
  actions: Action[];
}

/** The scenario step for an action, or null when the format cannot express it. */
function actionToStep(a: Action, expectedErrno: string): Record<string, unknown> | null {
  if (INEXPRESSIBLE.has(a.op)) return null;
  const errno = expectedErrno === '' ? {} : { expect_errno: expectedErrno };
  switch (a.op) {
    case 'mmap': {
      const step: Record<string, unknown> = { op: 'mmap', proc: a.proc, region: a.region, pages: a.pages };
      if (a.thp) step.thp = true;
      if (a.shared) step.shared = true;
      if (a.prot !== 'rw') step.prot = a.prot;
      return { ...step, ...errno };
    }
    case 'knob':
      return { op: 'knob', name: a.name, value: a.value, ...errno };
    case 'prctl':
      return { op: 'prctl', proc: a.proc, option: 'PR_SET_MEMORY_MERGE', value: a.value, ...errno };
    default:
      return { ...a, ...errno };
  }
}

/** A scenario (YAML; every step one JSON flow line) for a logged sequence. */
export function toScenarioYaml(
  name: string,
  options: WorldOptions,
  log: readonly LoggedAction[],
  header: string[],
): string {
  const out: string[] = [];
  for (const h of header) out.push(`# ${h}`);
  const inexpressible = log.filter((l) => INEXPRESSIBLE.has(l.action.op)).length;
  const strategies = new Set(
    log.flatMap((l) => (l.action.op === 'strategy' ? [l.action.name] : [])).concat(options.strategy ?? []),
  );
  out.push(`name: ${JSON.stringify(name)}`);
  out.push(
    `description: ${JSON.stringify(
      `Written by pnpm fuzz. break_ksm strategy ${[...strategies].join(' then ') || 'default'} (mmsim run --strategy). ${
        inexpressible === 0
          ? 'Every action is a step.'
          : `${inexpressible} actions the format cannot express are comments: replay them exactly with pnpm fuzz --replay.`
      }`,
    )}`,
  );
  out.push(`arch: { levels: ${options.levels ?? 4} }`);
  out.push(`machine: { memory_mib: ${options.memoryMiB ?? 512} }`);
  const anyStep = log.some((l) => actionToStep(l.action, l.expected) !== null);
  out.push(anyStep ? 'steps:' : 'steps: []');
  for (const l of log) {
    const step = actionToStep(l.action, l.expected);
    const faults = l.injected > 0 ? `  # ${l.injected} injected faults: ${l.got || 'succeeded'}` : '';
    if (step === null) out.push(`  # not expressible: ${describeAction(l.action)}`);
    else out.push(`  - ${JSON.stringify(step)}${faults}`);
  }
  return `${out.join('\n')}\n`;
}

/** A prctl or knob value written as a boolean: the 1 or 0 the kernel takes (others as they are). */
function boolToNumber<T>(v: boolean | T): number | T {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** The actions a scenario's steps mean (ranges resolved as the format defines them). */
export function scenarioToActions(loaded: LoadedScenario): { options: WorldOptions; actions: Action[] } {
  const { scenario } = loaded;
  const options: WorldOptions = {
    levels: scenario.arch?.levels ?? 4,
    memoryMiB: scenario.machine?.memory_mib ?? 512,
  };
  const knobs: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(scenario.ksm ?? {})) {
    if (v !== undefined) knobs[k] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  if (Object.keys(knobs).length > 0) options.knobs = knobs;
  const pages = new Map<string, number>();
  const actions: Action[] = [];
  for (const s of scenario.steps as Step[]) {
    const key = (p: string, r: string) => `${p}/${r}`;
    const span = (st: {
      proc: string;
      region: string;
      from?: number | undefined;
      count?: number | undefined;
    }) => resolveRange(st, pages.get(key(st.proc, st.region)) ?? 0);
    switch (s.op) {
      case 'spawn':
        actions.push({ op: 'spawn', proc: s.proc });
        break;
      case 'mmap':
        pages.set(key(s.proc, s.region), s.pages);
        actions.push({
          op: 'mmap',
          proc: s.proc,
          region: s.region,
          pages: s.pages,
          thp: s.thp === true,
          shared: s.shared === true,
          prot: s.prot ?? 'rw',
        });
        break;
      case 'fill':
        actions.push({ op: 'fill', proc: s.proc, region: s.region, ...span(s), pattern: s.pattern });
        break;
      case 'write':
        actions.push({
          op: 'write',
          proc: s.proc,
          region: s.region,
          page: s.page,
          offset: s.offset ?? 0,
          value: s.value,
        });
        break;
      case 'touch':
      case 'munmap':
        actions.push({ op: s.op, proc: s.proc, region: s.region, ...span(s) });
        break;
      case 'madvise':
        actions.push({
          op: 'madvise',
          proc: s.proc,
          region: s.region,
          ...span(s),
          advice: s.advice as MadviseAdvice & keyof typeof MADVISE_ADVICE,
        });
        break;
      case 'mprotect':
        actions.push({ op: 'mprotect', proc: s.proc, region: s.region, ...span(s), prot: s.prot });
        break;
      case 'prctl':
        // PR_GET_MEMORY_MERGE, and a nonzero arg3-arg5 (EINVAL), change nothing.
        if (s.option === 'PR_SET_MEMORY_MERGE' && !s.arg3 && !s.arg4 && !s.arg5)
          actions.push({ op: 'prctl', proc: s.proc, value: prctlArg2(s) });
        break;
      case 'fork':
        for (const [k, v] of [...pages]) {
          if (k.startsWith(`${s.proc}/`)) pages.set(`${s.child}/${k.slice(s.proc.length + 1)}`, v);
        }
        actions.push({ op: 'fork', proc: s.proc, child: s.child });
        break;
      case 'exit':
        actions.push({ op: 'exit', proc: s.proc });
        break;
      case 'knob':
        actions.push({ op: 'knob', name: s.name, value: boolToNumber(s.value) });
        break;
      case 'ksm_scan':
        actions.push({ op: 'ksm_scan', full_scans: s.full_scans });
        break;
      case 'ksm_converge':
        actions.push({ op: 'ksm_converge', max_full_scans: s.max_full_scans ?? 50 });
        break;
      case 'ksm_unmerge_all':
        actions.push({ op: 'ksm_unmerge_all' });
        break;
      case 'khugepaged_scan':
        actions.push({ op: 'khugepaged_scan', full_scans: s.full_scans });
        break;
      case 'report':
      case 'expect':
        break;
    }
  }
  return { options, actions };
}
