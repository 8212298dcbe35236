// mmsim pagemap <scenario>: /proc/<pid>/pagemap of a simulated process, one line per page: the
// raw 64-bit entry and what its bits say (fs/proc/task_mmu.c through @mmsim/proc), with the
// page's /proc/kpageflags and /proc/kpagecount for present pages.

import type { Machine } from '@mmsim/mmu';
import {
  MAX_SWAPFILES,
  SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE,
  SWP_MIGRATION_WRITE,
  SWP_PTE_MARKER,
} from '@mmsim/mmu';
import { kpagecount, kpageflags, kpfNames, pagemap_read } from '@mmsim/proc';
import type { Command } from 'commander';
import { AT_HELP, examples, PROC_HELP, type Runner } from '../command.ts';
import { table } from '../format.ts';
import { type Colors, type Io, printJson } from '../io.ts';
import { loadOrFail, pickProcs, pickRegions, simulateTo, whereStopped } from '../simulate.ts';

// pagemap bits 55-63 as bits of the entry's high word (bit n = bit n-32 of hi).
const FLAG_BITS: [string, number, string][] = [
  ['P', 1 << 31, 'present'],
  ['S', 1 << 30, 'swapped'],
  ['F', 1 << 29, 'file_or_shared_anon'],
  ['G', 1 << 26, 'guard_region'],
  ['W', 1 << 25, 'uffd_wp'],
  ['E', 1 << 24, 'exclusive'],
  ['D', 1 << 23, 'soft_dirty'],
];
const LEGEND =
  'flags: P present, S swapped, F file page or shared anon, G guard region, W uffd-wp, E exclusively mapped, D soft-dirty';
/** The kpageflags worth a column; the JSON has them all. */
const SHOWN_KPF = new Set([
  'ANON',
  'KSM',
  'THP',
  'ZERO_PAGE',
  'COMPOUND_HEAD',
  'COMPOUND_TAIL',
  'SWAPCACHE',
  'DIRTY',
]);

export interface PagemapEntry {
  address: number;
  /** The raw entry: 0x and 16 hex digits. */
  value: string;
  present: boolean;
  swapped: boolean;
  file_or_shared_anon: boolean;
  guard_region: boolean;
  uffd_wp: boolean;
  exclusive: boolean;
  soft_dirty: boolean;
  /** Present: the PFN; else null. */
  pfn: number | null;
  /** Swapped: swap type (bits 0-4) and offset (bits 5-54); for migration entries the offset is the PFN. */
  swap_type: number | null;
  swap_offset: number | null;
  /** What a swap-format entry is: swap, migration_read, migration_read_exclusive, migration_write, marker, ... */
  swap_kind: string | null;
  /** Present pages: /proc/kpageflags names and /proc/kpagecount. */
  kpageflags: string[] | null;
  kpagecount: number | null;
}

function swapKind(type: number): string {
  if (type < MAX_SWAPFILES) return 'swap';
  if (type === SWP_MIGRATION_READ) return 'migration_read';
  if (type === SWP_MIGRATION_READ_EXCLUSIVE) return 'migration_read_exclusive';
  if (type === SWP_MIGRATION_WRITE) return 'migration_write';
  if (type === SWP_PTE_MARKER) return 'marker';
  return type === MAX_SWAPFILES ? 'hwpoison' : 'device';
}

/** Decode one pagemap entry (given as its two 32-bit words). */
export function decodePagemap(m: Machine, address: number, lo: number, hi: number): PagemapEntry {
  const frame = lo + (hi & 0x7fffff) * 2 ** 32; // bits 0-54
  const e: PagemapEntry = {
    address,
    value: `0x${hi.toString(16).padStart(8, '0')}${lo.toString(16).padStart(8, '0')}`,
    present: false,
    swapped: false,
    file_or_shared_anon: false,
    guard_region: false,
    uffd_wp: false,
    exclusive: false,
    soft_dirty: false,
    pfn: null,
    swap_type: null,
    swap_offset: null,
    swap_kind: null,
    kpageflags: null,
    kpagecount: null,
  };
  const flags = e as unknown as Record<string, boolean>;
  for (const [, bit, name] of FLAG_BITS) flags[name] = (hi & bit) !== 0;
  if (e.present) {
    e.pfn = frame;
    const k = kpageflags(m, frame);
    e.kpageflags = kpfNames(k) === '' ? [] : kpfNames(k).split('|');
    e.kpagecount = kpagecount(m, frame);
  } else if (e.swapped) {
    e.swap_type = frame % 32;
    e.swap_offset = Math.floor(frame / 32);
    e.swap_kind = swapKind(e.swap_type);
  }
  return e;
}

function flagLetters(hi: number, c: Colors): string {
  let s = '';
  for (const [letter, bit] of FLAG_BITS) s += (hi & bit) !== 0 ? c.bold(letter) : c.dim('-');
  return s;
}

function frameText(e: PagemapEntry, c: Colors): [string, string] {
  if (e.pfn !== null) {
    const k = (e.kpageflags ?? []).filter((n) => SHOWN_KPF.has(n));
    const tags = k.map((n) => (n === 'KSM' ? c.magenta(n) : n === 'ZERO_PAGE' ? c.blue(n) : n)).join('|');
    return [`pfn 0x${e.pfn.toString(16)}`, `${tags === '' ? '-' : tags}  count ${e.kpagecount}`];
  }
  if (e.swap_type !== null && e.swap_offset !== null) {
    if (e.swap_kind === 'swap') return [`swap ${e.swap_type}:0x${e.swap_offset.toString(16)}`, ''];
    if (e.swap_kind?.startsWith('migration') === true)
      return [`pfn 0x${e.swap_offset.toString(16)}`, c.yellow(e.swap_kind.replace('_', ' '))];
    return [`${e.swap_kind} 0x${e.swap_offset.toString(16)}`, ''];
  }
  return ['-', ''];
}

export interface PagemapOptions {
  proc?: string;
  region?: string;
  at?: string;
  json?: boolean;
}

export function pagemapCommand(io: Io, file: string, o: PagemapOptions): number {
  const st = simulateTo(loadOrFail(file, io), o.at);
  const m = st.ctx.machine;
  const c = io.colors;
  const json: unknown[] = [];
  let first = true;
  for (const [name, p] of pickProcs(st, o.proc)) {
    for (const r of pickRegions(st, name, o.region)) {
      const end = r.addr + r.pages * 4096;
      const words = new Uint32Array(pagemap_read(p.mm, r.addr, end).buffer);
      const entries: PagemapEntry[] = [];
      for (let i = 0; i < r.pages; i++)
        entries.push(decodePagemap(m, r.addr + i * 4096, words[2 * i], words[2 * i + 1]));
      if (o.json === true) {
        json.push({ proc: name, pid: p.pid, region: r.name, start: r.addr, pages: r.pages, entries });
        continue;
      }
      if (first) io.out(`${c.dim(`# ${LEGEND}`)}\n`);
      first = false;
      io.out(
        `\n${c.bold(`/proc/${p.pid}/pagemap`)} (${name}, region ${r.name}: 0x${r.addr.toString(16)}-0x${end.toString(16)}, ${r.pages} page${r.pages === 1 ? '' : 's'}, ${whereStopped(st)})\n`,
      );
      const rows = [['address', 'entry', 'flags', 'frame', 'kpageflags'].map((h) => c.dim(h))];
      entries.forEach((e, i) => {
        rows.push([
          e.address.toString(16),
          e.value.slice(2),
          flagLetters(words[2 * i + 1], c),
          ...frameText(e, c),
        ]);
      });
      io.out(`${table(rows)}\n`);
    }
  }
  if (o.json === true) printJson(io, json);
  return 0;
}

export function definePagemap(program: Command, r: Runner): void {
  program
    .command('pagemap')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .description(
      "/proc/<pid>/pagemap of a simulated process: each page's raw 64-bit entry, its bits decoded, and the frame's kpageflags/kpagecount",
    )
    .option('--proc <name>', PROC_HELP)
    .option('--region <name>', 'one region (default: every region of the process)')
    .option('--at <label>', AT_HELP)
    .option('--json', 'print [{proc, pid, region, start, pages, entries: [...]}]')
    .addHelpText(
      'after',
      examples([
        ['mmsim pagemap scenarios/ksm-tests-merge.yaml --proc a', 'ten pages sharing one KSM page'],
        ['mmsim pagemap scenarios/chains-fork.yaml --proc b --at forked', "the child's view after fork"],
        ['mmsim pagemap scenarios/thp-zero-chains.yaml --proc a --region c --at before --json', 'as JSON'],
      ]),
    )
    .action((file: string, o: PagemapOptions) => {
      r.code = pagemapCommand(r.io, file, o);
    });
}
