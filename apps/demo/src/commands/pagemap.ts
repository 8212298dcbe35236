// mmsim pagemap <scenario>: /proc/<pid>/pagemap of a simulated process, one line per page: the
// raw 64-bit entry and what its bits say (fs/proc/task_mmu.c through @mmsim/proc), with the
// page's /proc/kpageflags and /proc/kpagecount for present pages.

import { decodePagemap, PAGEMAP_FLAG_BITS, type PagemapEntry, pagemap_read } from '@mmsim/proc';
import type { Command } from 'commander';
import { AT_HELP, examples, PROC_HELP, type Runner } from '../command.ts';
import { table } from '../format.ts';
import { type Colors, type Io, printJson } from '../io.ts';
import { loadOrFail, pickProcs, pickRegions, simulateTo, whereStopped } from '../simulate.ts';

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

function flagLetters(hi: number, c: Colors): string {
  let s = '';
  for (const [letter, bit] of PAGEMAP_FLAG_BITS) s += (hi & bit) !== 0 ? c.bold(letter) : c.dim('-');
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
