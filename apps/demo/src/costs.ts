// What the chosen break_ksm() strategy cost on the user's own scenario: the machine's cost
// counters over every step that unmerges (MADV_UNMERGEABLE, run=2, PR_SET_MEMORY_MERGE 0), per
// 4 KiB page of what the step covers — the figures `pnpm bench unmerge` reports for ksm_tests -D,
// on any workload. The counters are deterministic: the same scenario and strategy give the same
// numbers on every machine.

import type { Counters } from '@mmsim/core';
import { resolveRange, type SimulatorContext, type SimulatorOptions, type Step } from '@mmsim/scenario';
import { table } from './format.ts';
import type { Colors } from './io.ts';

/** The columns, each a sum of Counters fields: what a kernel developer compares strategies by. */
const COST_COLUMNS = {
  /** Page-table entries read, every level. */
  entries: ['pgdRead', 'p4dRead', 'pudRead', 'pmdRead', 'pteRead'],
  /** walk_page_range*() / folio_walk_start() calls. */
  walks: ['walks'],
  /** mm_walk_ops callbacks. */
  callbacks: ['walkCallbacks'],
  /** follow_page() lookups. */
  lookups: ['followPage'],
  /** handle_mm_fault() calls (the COW breaks). */
  faults: ['faults'],
  /** 4 KiB pages copied. */
  copies: ['pagesCopied'],
} as const satisfies Record<string, readonly (keyof Counters)[]>;
export type CostColumn = keyof typeof COST_COLUMNS;

export interface StepCost {
  /** Index of the step in the scenario. */
  step: number;
  /** What the step unmerges, in a word or two ("a/r" for MADV_UNMERGEABLE on a's region r). */
  what: string;
  /** 4 KiB pages the step covers: its range, or every region of the live processes for run=2. */
  pages: number;
  /** Each column's total over the step. */
  total: Record<CostColumn, number>;
  /** Each column per page (total / pages). */
  perPage: Record<CostColumn, number>;
}

export interface StrategyCosts {
  strategy: string;
  /** The kernel that shipped the strategy ("6.12-6.18", "mmsim"). */
  kernel: string;
  steps: StepCost[];
}

/** Steps on which break_ksm() runs, and the pages each covers (null: not an unmerging step). */
function unmergePages(ctx: SimulatorContext, step: Step): number | null {
  const everyRegion = (): number => {
    let n = 0;
    for (const [proc, regions] of ctx.regions) {
      if (!ctx.procs.has(proc)) continue;
      for (const r of regions.values()) n += r.pages;
    }
    return n;
  };
  switch (step.op) {
    case 'madvise': {
      if (step.advice !== 'MADV_UNMERGEABLE') return null;
      const r = ctx.regions.get(step.proc)?.get(step.region);
      return r === undefined ? null : resolveRange(step, r.pages).count;
    }
    case 'ksm_unmerge_all':
      return everyRegion();
    case 'knob':
      return step.name === 'run' && String(step.value) === '2' ? everyRegion() : null;
    case 'prctl':
      return step.value === 0 || step.value === false ? everyRegion() : null;
    default:
      return null;
  }
}

function describeStep(step: Step): string {
  switch (step.op) {
    case 'madvise':
      return `${step.proc}/${step.region}`;
    case 'knob':
      return 'run=2';
    case 'prctl':
      return `prctl ${step.proc}`;
    default:
      return step.op;
  }
}

function sumColumns(delta: Record<string, number>): Record<CostColumn, number> {
  const out = {} as Record<CostColumn, number>;
  for (const [col, fields] of Object.entries(COST_COLUMNS) as [CostColumn, readonly string[]][]) {
    let n = 0;
    for (const f of fields) n += delta[f] ?? 0;
    out[col] = n;
  }
  return out;
}

/**
 * Hooks for runOnSimulator() that record the cost of every unmerging step, and the result once the
 * run is over. `chain` hooks (progress, tracing) still run.
 */
export function costRecorder(chain: Pick<SimulatorOptions, 'beforeStep' | 'afterStep'> = {}): {
  hooks: Required<Pick<SimulatorOptions, 'beforeStep' | 'afterStep'>>;
  result: () => StrategyCosts;
} {
  const steps: StepCost[] = [];
  let strategy = '';
  let kernel = '';
  let pending: { pages: number; before: Record<string, number> } | null = null;
  return {
    hooks: {
      beforeStep: (ctx, i, step) => {
        chain.beforeStep?.(ctx, i, step);
        strategy = ctx.ksm.strategy.name;
        kernel = ctx.ksm.strategy.kernel;
        const pages = unmergePages(ctx, step);
        pending = pages === null ? null : { pages, before: ctx.machine.counters.snapshot() };
      },
      afterStep: (ctx, i, step) => {
        if (pending !== null) {
          const total = sumColumns(ctx.machine.counters.since(pending.before));
          const perPage = {} as Record<CostColumn, number>;
          for (const col of Object.keys(total) as CostColumn[])
            perPage[col] = pending.pages === 0 ? 0 : total[col] / pending.pages;
          steps.push({ step: i, what: describeStep(step), pages: pending.pages, total, perPage });
          pending = null;
        }
        chain.afterStep?.(ctx, i, step);
      },
    },
    result: () => ({ strategy, kernel, steps }),
  };
}

/** Values below this print with two significant digits rather than two decimals. */
const SMALL = 0.1;

/** Per-page values: integers as they are, fractions to two decimals (two digits when small). */
function fmtPerPage(x: number): string {
  if (Number.isInteger(x)) return String(x);
  return x < SMALL ? x.toPrecision(2) : x.toFixed(2);
}

/** The cost table `mmsim run` and `mmsim trace` print: one row per unmerging step. */
export function formatCosts(c: StrategyCosts, colors: Colors): string {
  const head = `break_ksm() per 4 KiB page: ${c.strategy} (${c.kernel}), deterministic counters`;
  if (c.steps.length === 0)
    return `${colors.bold(head)}\nno step of this scenario unmerges (MADV_UNMERGEABLE, run=2 or\nPR_SET_MEMORY_MERGE 0): break_ksm() did not run\n`;
  const cols = Object.keys(COST_COLUMNS) as CostColumn[];
  const rows = [
    ['step', 'pages', ...cols],
    ...c.steps.map((s) => [
      `${s.step} ${s.what}`,
      String(s.pages),
      ...cols.map((k) => fmtPerPage(s.perPage[k])),
    ]),
  ];
  const right = [false, ...rows[0]!.slice(1).map(() => true)];
  return (
    `${colors.bold(head)}\n${table(rows, right)}\n` +
    colors.dim(
      'entries: page-table entries read; walks: page walks started; callbacks:\n' +
        'mm_walk_ops calls; lookups: follow_page() calls; faults: handle_mm_fault()\n' +
        'calls; copies: pages copied. Compare strategies with --strategy NAME;\n' +
        'pnpm bench unmerge times them.\n',
    )
  );
}
