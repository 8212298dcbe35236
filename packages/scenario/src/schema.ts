// The scenario format, version 1 (docs/scenario-format.md), as zod schemas. Everything is strict:
// an unknown key, op, pattern kind, advice, knob or counter is an error, never ignored. The schemas
// check each value on its own; the cross-checks that need the whole step list (a region used before
// its mmap, a process used before spawn or after exit, ranges past a region's end) live in
// validate.ts and run after these. The descriptions below are the ones editors show: the JSON
// Schema in scenario.schema.json is generated from these schemas (scenarioJsonSchema()).
import { errnoName, KERNEL_VERSIONS } from '@mmsim/core';
import { z } from 'zod';

/** The madvise(2) advice values by kernel name (include/uapi/asm-generic/mman-common.h, 6.18).
 * MADV_HWPOISON and MADV_SOFT_OFFLINE are left out on purpose: they poison or offline real
 * frames on the live kernel. */
export const MADVISE_ADVICE = {
  MADV_NORMAL: 0,
  MADV_RANDOM: 1,
  MADV_SEQUENTIAL: 2,
  MADV_WILLNEED: 3,
  MADV_DONTNEED: 4,
  MADV_FREE: 8,
  MADV_REMOVE: 9,
  MADV_DONTFORK: 10,
  MADV_DOFORK: 11,
  MADV_MERGEABLE: 12,
  MADV_UNMERGEABLE: 13,
  MADV_HUGEPAGE: 14,
  MADV_NOHUGEPAGE: 15,
  MADV_DONTDUMP: 16,
  MADV_DODUMP: 17,
  MADV_WIPEONFORK: 18,
  MADV_KEEPONFORK: 19,
  MADV_COLD: 20,
  MADV_PAGEOUT: 21,
  MADV_POPULATE_READ: 22,
  MADV_POPULATE_WRITE: 23,
  MADV_DONTNEED_LOCKED: 24,
  MADV_COLLAPSE: 25,
  MADV_GUARD_INSTALL: 102,
  MADV_GUARD_REMOVE: 103,
} as const;
export type MadviseAdvice = keyof typeof MADVISE_ADVICE;

/** prctl(2) options a scenario may use, by kernel name (include/uapi/linux/prctl.h). */
export const PRCTL_OPTIONS = { PR_SET_MEMORY_MERGE: 67, PR_GET_MEMORY_MERGE: 68 } as const;
export type PrctlOption = keyof typeof PRCTL_OPTIONS;

/** Writable files of /sys/kernel/mm/ksm and their kernel defaults (mm/ksm.c, 6.18). `run` has no
 * entry: it is only written by `knob` steps and by the engines themselves. */
export const KSM_KNOB_DEFAULTS = {
  pages_to_scan: 100,
  sleep_millisecs: 20,
  max_page_sharing: 256,
  merge_across_nodes: 1,
  use_zero_pages: 0,
  smart_scan: 1,
  stable_node_chains_prune_millisecs: 2000,
  advisor_mode: 'none',
  advisor_max_cpu: 70,
  advisor_min_pages_to_scan: 500,
  advisor_max_pages_to_scan: 30000,
  advisor_target_scan_time: 200,
} as const;
export type KsmInitialKnob = keyof typeof KSM_KNOB_DEFAULTS;
export const KSM_INITIAL_KNOBS: readonly KsmInitialKnob[] = Object.keys(
  KSM_KNOB_DEFAULTS,
) as KsmInitialKnob[];
/** Every knob a `knob` step may write. */
export const KSM_KNOBS: readonly KsmKnob[] = ['run', ...KSM_INITIAL_KNOBS];
export type KsmKnob = 'run' | KsmInitialKnob;

/** Writable files of /sys/kernel/mm/transparent_hugepage/khugepaged a scenario may set, and their
 * kernel defaults (khugepaged_init(), mm/khugepaged.c 6.18). The oracle holds khugepaged off
 * during a run (scan_sleep_millisecs and pages_to_scan are its own) and runs it only for
 * `khugepaged_scan` steps. */
export const KHUGEPAGED_KNOB_DEFAULTS = {
  max_ptes_none: 511,
  max_ptes_swap: 64,
  max_ptes_shared: 256,
} as const;
export type KhugepagedKnob = keyof typeof KHUGEPAGED_KNOB_DEFAULTS;
export const KHUGEPAGED_KNOBS: readonly KhugepagedKnob[] = Object.keys(
  KHUGEPAGED_KNOB_DEFAULTS,
) as KhugepagedKnob[];
/** A `knob` step's name: a file of /sys/kernel/mm/ksm, or "khugepaged/<file>" of
 * /sys/kernel/mm/transparent_hugepage/khugepaged. */
export type KnobName = KsmKnob | `khugepaged/${KhugepagedKnob}`;
export const KNOB_NAMES: readonly KnobName[] = [
  ...KSM_KNOBS,
  ...KHUGEPAGED_KNOBS.map((k) => `khugepaged/${k}` as const),
];
/** khugepaged's counters a report records (as the increase since the scenario started) when the
 * scenario uses khugepaged (see usesKhugepaged()). */
export const KHUGEPAGED_COUNTERS = ['full_scans', 'pages_collapsed'] as const;
export type KhugepagedCounter = (typeof KHUGEPAGED_COUNTERS)[number];

/** The read-only counters of /sys/kernel/mm/ksm a report records. `full_scans`, `pages_scanned`
 * and `pages_skipped` are reported as the increase since the scenario started. */
export const KSM_COUNTERS = [
  'full_scans',
  'general_profit',
  'ksm_zero_pages',
  'pages_scanned',
  'pages_shared',
  'pages_sharing',
  'pages_skipped',
  'pages_unshared',
  'pages_volatile',
  'stable_node_chains',
  'stable_node_dups',
] as const;
export type KsmCounter = (typeof KSM_COUNTERS)[number];
/** The counters `ksm_converge` compares between consecutive full scans. */
export const KSM_CONVERGE_COUNTERS: readonly KsmCounter[] = KSM_COUNTERS.filter(
  (c) => c !== 'full_scans' && c !== 'pages_scanned' && c !== 'pages_skipped' && c !== 'general_profit',
);

/** Numeric fields of /proc/<pid>/ksm_stat. */
export const KSM_STAT_NUMBERS = [
  'ksm_rmap_items',
  'ksm_zero_pages',
  'ksm_merging_pages',
  'ksm_process_profit',
] as const;
/** yes/no fields of /proc/<pid>/ksm_stat (booleans in reports). */
export const KSM_STAT_FLAGS = ['ksm_merge_any', 'ksm_mergeable'] as const;
/** The smaps fields a report sums over the scenario's regions, in kB. */
export const SMAPS_FIELDS = ['Rss', 'Anonymous', 'KSM'] as const;
export type SmapsField = (typeof SMAPS_FIELDS)[number];

/** Errno names a step's `expect_errno` may name (those @mmsim/core knows). */
export const ERRNO_NAMES: readonly string[] = (() => {
  const names: string[] = [];
  // 512 and above are kernel-internal (ERESTARTSYS...): user space never sees them.
  for (let n = 1; n < 512; n++) {
    const name = errnoName(n);
    if (!/^E\d+$/.test(name)) names.push(name);
  }
  return names;
})();

/** Largest region, in pages (1 TiB): keeps every page index and address exact. */
export const MAX_REGION_PAGES = 2 ** 28;
/** Largest `ids` count: content ids are 32-bit. */
export const MAX_IDS_COUNT = 2 ** 32 - 1;

const NAME_RE = /^[A-Za-z0-9_.-]+$/;
const nameError = 'a name of letters, digits, "_", "." or "-"';
const name = z.string().regex(NAME_RE, { error: nameError });
const u32 = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const pageIndex = z
  .number()
  .int()
  .min(0)
  .max(MAX_REGION_PAGES - 1);
const pageCount = z.number().int().min(1).max(MAX_REGION_PAGES);
const prot = z.enum(['rw', 'r', 'none']);
export type Prot = z.infer<typeof prot>;
const errnoField = z.enum(ERRNO_NAMES as [string, ...string[]]);
/** A knob value: an integer, a boolean (written as 1/0) or a token such as "scan-time". */
const knobValue = z.union([
  z.number().int(),
  z.boolean(),
  z.string().regex(/^[\x21-\x7e]{1,64}$/, { error: 'a knob value without spaces' }),
]);
export type KnobValue = z.infer<typeof knobValue>;

export const fillPatternSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('zero') }),
  z.strictObject({ kind: z.literal('byte'), value: z.number().int().min(0).max(255) }),
  z.strictObject({
    kind: z.literal('ids'),
    count: z.number().int().min(1).max(MAX_IDS_COUNT),
    seed: u32,
    layout: z.enum(['cyclic', 'blocked']).optional(),
  }),
  z.strictObject({ kind: z.literal('unique'), seed: u32 }),
]);
/** A fill pattern; page `i` of `n` filled pages gets bytes defined in fill.ts. */
export type FillPattern = z.infer<typeof fillPatternSchema>;

const common = {
  expect_errno: errnoField.optional().describe('The step must fail with exactly this errno.'),
  note: z.string().optional().describe('Free text, ignored by both engines.'),
};
const range = {
  from: pageIndex.optional().describe('First page of the range (default 0).'),
  count: pageCount.optional().describe('Pages in the range (default: to the end of the region).'),
};
const procRegion = {
  proc: name.describe('The process, by the name its spawn or fork step gave it.'),
  region: name.describe('The region, by the name its mmap step gave it.'),
};

const smapsExpect = z.strictObject({
  Rss: z.number().int().optional(),
  Anonymous: z.number().int().optional(),
  KSM: z.number().int().optional(),
});
const procExpect = z.strictObject({
  ksm_rmap_items: z.number().int().optional(),
  ksm_zero_pages: z.number().int().optional(),
  ksm_merging_pages: z.number().int().optional(),
  ksm_process_profit: z.number().int().optional(),
  ksm_merge_any: z.boolean().optional(),
  ksm_mergeable: z.boolean().optional(),
  smaps: smapsExpect.optional(),
});
export type ProcExpect = z.infer<typeof procExpect>;
const ksmExpect = z.strictObject(
  Object.fromEntries(KSM_COUNTERS.map((c) => [c, z.number().int().optional()])) as Record<
    KsmCounter,
    z.ZodOptional<z.ZodNumber>
  >,
);

const khugepagedKnobs = z.strictObject(
  Object.fromEntries(KHUGEPAGED_KNOBS.map((k) => [k, z.number().int().min(0).optional()])) as Record<
    KhugepagedKnob,
    z.ZodOptional<z.ZodNumber>
  >,
);

const ksmKnobs = z.strictObject(
  Object.fromEntries(KSM_INITIAL_KNOBS.map((k) => [k, knobValue.optional()])) as Record<
    KsmInitialKnob,
    z.ZodOptional<typeof knobValue>
  >,
);

const spawnStep = z
  .strictObject({ op: z.literal('spawn'), proc: name, ...common })
  .describe('A new process with an empty address space.');
const mmapStep = z
  .strictObject({
    op: z.literal('mmap'),
    ...procRegion,
    pages: pageCount,
    thp: z.boolean().optional(),
    shared: z.boolean().optional(),
    prot: prot.optional(),
    file: name
      .optional()
      .describe(
        'Map this regular file MAP_PRIVATE from its start instead of anonymous memory: the same name is the same file (one page cache) in every process. The first mmap of a name creates it with `pages` pages of `file_fill`.',
      ),
    file_fill: fillPatternSchema
      .optional()
      .describe(
        "The file's contents, page i of `pages` as a fill step writes them (with `file`; default zero).",
      ),
    ...common,
  })
  .describe(
    'An anonymous mapping of `pages` 4 KiB pages (2 MiB aligned and MADV_HUGEPAGE when `thp`), or a private mapping of a file (`file`).',
  );
const fillStep = z
  .strictObject({
    op: z.literal('fill'),
    ...procRegion,
    pattern: fillPatternSchema,
    ...range,
    ...common,
  })
  .describe('Write a fill pattern to pages [from, from + count) of a region (default: all).');
const writeStep = z
  .strictObject({
    op: z.literal('write'),
    ...procRegion,
    page: pageIndex,
    offset: z.number().int().min(0).max(4095).optional(),
    value: z.number().int().min(0).max(255),
    ...common,
  })
  .describe('Write one byte (`value`) at `offset` of page `page`.');
const touchStep = z
  .strictObject({ op: z.literal('touch'), ...procRegion, ...range, ...common })
  .describe('Read one byte of each page of the range (maps the zero page where nothing was written).');
const madviseStep = z
  .strictObject({
    op: z.literal('madvise'),
    ...procRegion,
    advice: z.enum(Object.keys(MADVISE_ADVICE) as [MadviseAdvice, ...MadviseAdvice[]]),
    ...range,
    ...common,
  })
  .describe('madvise(2) over the range, advice by kernel name.');
const mprotectStep = z
  .strictObject({
    op: z.literal('mprotect'),
    ...procRegion,
    prot,
    ...range,
    ...common,
  })
  .describe('mprotect(2) over the range.');
const munmapStep = z
  .strictObject({ op: z.literal('munmap'), ...procRegion, ...range, ...common })
  .describe('munmap(2) of the range.');
const prctlStep = z
  .strictObject({
    op: z.literal('prctl'),
    proc: name,
    option: z.enum(Object.keys(PRCTL_OPTIONS) as [PrctlOption, ...PrctlOption[]]),
    value: z
      .union([u32, z.boolean()])
      .optional()
      .describe(
        'arg2 (required for PR_SET_MEMORY_MERGE: 1 on, 0 off; PR_GET_MEMORY_MERGE wants 0, the default).',
      ),
    arg3: u32.optional().describe('arg3 (default 0; nonzero: EINVAL).'),
    arg4: u32.optional().describe('arg4 (default 0; nonzero: EINVAL).'),
    arg5: u32.optional().describe('arg5 (default 0; nonzero: EINVAL).'),
    expect_value: z
      .number()
      .int()
      .optional()
      .describe('The value prctl(2) must return (PR_GET_MEMORY_MERGE: 1 when merge-any is on, else 0).'),
    ...common,
  })
  .describe('prctl(2) on the process: PR_SET_MEMORY_MERGE or PR_GET_MEMORY_MERGE.');
const forkStep = z
  .strictObject({ op: z.literal('fork'), proc: name, child: name, ...common })
  .describe('fork(2): the child inherits every region under the same names.');
const exitStep = z
  .strictObject({ op: z.literal('exit'), proc: name, ...common })
  .describe('The process exits; its memory is released.');
const knobStep = z
  .strictObject({
    op: z.literal('knob'),
    name: z.enum(KNOB_NAMES as [KnobName, ...KnobName[]]),
    value: knobValue,
    ...common,
  })
  .describe(
    'Write /sys/kernel/mm/ksm/<name>, or /sys/kernel/mm/transparent_hugepage/khugepaged/<file> for khugepaged/<file>.',
  );
const ksmScanStep = z
  .strictObject({
    op: z.literal('ksm_scan'),
    full_scans: z.number().int().min(1).max(100_000),
    ...common,
  })
  .describe('Run ksmd for exactly `full_scans` more full scans, then stop it.');
const khugepagedScanStep = z
  .strictObject({
    op: z.literal('khugepaged_scan'),
    full_scans: z.number().int().min(1).max(100_000),
    ...common,
  })
  .describe('Run khugepaged for exactly `full_scans` full scans of its mm list (it never runs otherwise).');
const ksmConvergeStep = z
  .strictObject({
    op: z.literal('ksm_converge'),
    max_full_scans: z.number().int().min(1).max(100_000).optional(),
    ...common,
  })
  .describe(
    'Run ksmd full scan by full scan until the counters stop changing (at most `max_full_scans`, default 50), then stop it.',
  );
const ksmUnmergeAllStep = z
  .strictObject({ op: z.literal('ksm_unmerge_all'), ...common })
  .describe('Write run=2 (unmerge everything), then run=0.');
const restoreStep = z
  .strictObject({
    op: z.literal('restore'),
    snapshot: z.string().min(1).describe('A snapshot file (mmsim snapshot), relative to the scenario file.'),
    procs: z
      .array(name)
      .min(1)
      .optional()
      .describe("Names for the snapshot's processes, in its order (default: each one's pid)."),
    ...common,
  })
  .describe(
    "Build a snapshot's processes in the simulated machine: its VMAs, page states, THP layout and contents (by reference). Simulator only; later steps may name the processes (fork, exit, prctl, expect), but no byte may be written after a digest-only snapshot.",
  );
const reportStep = z
  .strictObject({ op: z.literal('report'), label: z.string().min(1), ...common })
  .describe(
    "Record the KSM counters, each process's ksm_stat and smaps, and the sharing structure under `label`.",
  );
const expectStep = z
  .strictObject({
    op: z.literal('expect'),
    ksm: ksmExpect.optional(),
    proc: z.record(name, procExpect).optional(),
    ...common,
  })
  .describe("Fail the run (exit 1) if a KSM counter or a process's value differs from the one given.");

export const stepSchema = z.discriminatedUnion('op', [
  spawnStep,
  mmapStep,
  fillStep,
  writeStep,
  touchStep,
  madviseStep,
  mprotectStep,
  munmapStep,
  prctlStep,
  forkStep,
  exitStep,
  knobStep,
  ksmScanStep,
  ksmConvergeStep,
  ksmUnmergeAllStep,
  khugepagedScanStep,
  restoreStep,
  reportStep,
  expectStep,
]);
export type Step = z.infer<typeof stepSchema>;
export type StepOp = Step['op'];
export type SpawnStep = z.infer<typeof spawnStep>;
export type MmapStep = z.infer<typeof mmapStep>;
export type FillStep = z.infer<typeof fillStep>;
export type WriteStep = z.infer<typeof writeStep>;
export type TouchStep = z.infer<typeof touchStep>;
export type MadviseStep = z.infer<typeof madviseStep>;
export type MprotectStep = z.infer<typeof mprotectStep>;
export type MunmapStep = z.infer<typeof munmapStep>;
export type PrctlStep = z.infer<typeof prctlStep>;
export type ForkStep = z.infer<typeof forkStep>;
export type ExitStep = z.infer<typeof exitStep>;
export type KnobStep = z.infer<typeof knobStep>;
export type KsmScanStep = z.infer<typeof ksmScanStep>;
export type KsmConvergeStep = z.infer<typeof ksmConvergeStep>;
export type KsmUnmergeAllStep = z.infer<typeof ksmUnmergeAllStep>;
export type KhugepagedScanStep = z.infer<typeof khugepagedScanStep>;
export type RestoreStep = z.infer<typeof restoreStep>;
export type ReportStep = z.infer<typeof reportStep>;
export type ExpectStep = z.infer<typeof expectStep>;

/** The ops in the format's order. */
export const STEP_OPS: readonly StepOp[] = stepSchema.options.map((o) => o.shape.op.value);

export const scenarioSchema = z.strictObject({
  name: z.string().min(1).describe('A short identifier.'),
  description: z.string().optional().describe('Free text: what the scenario mirrors or shows.'),
  kernel: z
    .enum(KERNEL_VERSIONS as [string, ...string[]])
    .optional()
    .describe(
      "The kernel version the scenario is about (default the live kernel's, 6.18): the simulator imitates it, mmsim kernel/verify boot it under QEMU.",
    ),
  arch: z
    .strictObject({ levels: z.union([z.literal(4), z.literal(5)]) })
    .optional()
    .describe('Paging depth, 4 (default) or 5 levels; the kernel side ignores it.'),
  machine: z
    .strictObject({
      memory_mib: z
        .number()
        .int()
        .min(1)
        .optional()
        .describe('Simulated RAM in MiB (default: 4096, on every host; at most 8388608).'),
      swap_mib: z
        .number()
        .int()
        .min(0)
        .optional()
        .describe("Simulated swap in MiB (default: the host's SwapTotal)."),
    })
    .optional(),
  ksm: ksmKnobs
    .optional()
    .describe(
      'Initial /sys/kernel/mm/ksm knobs by their sysfs names; unspecified ones get the kernel defaults.',
    ),
  khugepaged: khugepagedKnobs
    .optional()
    .describe(
      'Initial /sys/kernel/mm/transparent_hugepage/khugepaged knobs; unspecified ones get the kernel defaults.',
    ),
  steps: z.array(stepSchema).describe('The steps, run in order.'),
  $schema: z.string().optional().describe('The JSON Schema this file follows (for editors; ignored).'),
});
/** A validated scenario, as written (defaults are not filled in; see `resolveRange`). */
export type Scenario = z.infer<typeof scenarioSchema>;

/** Keys an object at a given place may have, for "unknown key" messages. */
export const KNOWN_KEYS = {
  top: Object.keys(scenarioSchema.shape),
  arch: ['levels'],
  machine: ['memory_mib', 'swap_mib'],
  ksm: KSM_INITIAL_KNOBS as readonly string[],
  khugepaged: KHUGEPAGED_KNOBS as readonly string[],
  counters: KSM_COUNTERS as readonly string[],
  procExpect: Object.keys(procExpect.shape),
  smaps: SMAPS_FIELDS as readonly string[],
  step: Object.fromEntries(stepSchema.options.map((o) => [o.shape.op.value, Object.keys(o.shape)])) as Record<
    StepOp,
    string[]
  >,
  pattern: Object.fromEntries(
    fillPatternSchema.options.map((o) => [o.shape.kind.value, Object.keys(o.shape)]),
  ),
};

/** `[from, from + count)` of a region of `pages` pages with the format's defaults (all pages
 * from `from`). */
export function resolveRange(
  step: { from?: number | undefined; count?: number | undefined },
  pages: number,
): { from: number; count: number } {
  const from = step.from ?? 0;
  return { from, count: step.count ?? pages - from };
}

/** A knob value as written to sysfs. */
export function knobString(value: KnobValue): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  return String(value);
}

/** Whether a scenario uses khugepaged (initial knobs, a khugepaged knob or a `khugepaged_scan`):
 * its reports then hold khugepaged's counters. */
export function usesKhugepaged(s: Scenario): boolean {
  return (
    s.khugepaged !== undefined ||
    s.steps.some((x) => x.op === 'khugepaged_scan' || (x.op === 'knob' && x.name.startsWith('khugepaged/')))
  );
}

/** The scenario format as a JSON Schema (draft 2020-12), generated from `scenarioSchema` so that
 * editors validate and complete scenario files; `scenario.schema.json` at the package root is this
 * value, kept up to date by `pnpm --filter @mmsim/scenario schema` (a test checks it). The
 * cross-checks of validate.ts (a region used before its mmap, ranges past a region's end) are not
 * expressible in it: `mmsim run` reports those. */
export function scenarioJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(scenarioSchema, { io: 'input', reused: 'inline' }),
    title: 'mmsim scenario, format version 1',
    description:
      'One workload that runs unchanged on the simulator and on the live kernel (docs/scenario-format.md).',
  };
}

/** A prctl step's arg2: its `value` as a number (a boolean as 1 or 0), 0 when it has none. */
export function prctlArg2(step: PrctlStep): number {
  const v = step.value;
  return v === undefined ? 0 : typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** The five arguments of a prctl step's prctl(2) call: option, arg2 to arg5. */
export function prctlArgs(step: PrctlStep): [number, number, number, number, number] {
  return [PRCTL_OPTIONS[step.option], prctlArg2(step), step.arg3 ?? 0, step.arg4 ?? 0, step.arg5 ?? 0];
}
