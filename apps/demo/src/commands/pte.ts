// mmsim pte <value>: decode an x86-64 page-table entry; mmsim pte --encode: build one.

import {
  type DecodedEntry,
  decodeEntry,
  ENTRY_LEVELS,
  type EntryLevel,
  encodeEntry,
  entryFromBigInt,
  maxPhysmemBits,
} from '@mmsim/mmu';
import { type Command, Option } from 'commander';
import { examples, type Runner } from '../command.ts';
import { type Colors, type Io, printJson, UsageError } from '../io.ts';

/** A 64-bit entry value from the command line: 0x-prefixed hex or decimal. */
function parseEntryValue(text: string): { lo: number; hi: number } {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t))
    throw new UsageError(
      `bad entry value "${text}": expected 0x-prefixed hex or decimal (e.g. 0x8000000012345067)`,
    );
  const v = BigInt(t); // the one BigInt: parsing a 64-bit argument
  if (v >= 1n << 64n) throw new UsageError(`bad entry value "${text}": more than 64 bits`);
  return entryFromBigInt(v);
}

/** A number option (hex or decimal) below 2^53. */
function parseNumber(name: string, text: string): number {
  const t = text.trim().replace(/_/g, '');
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(t))
    throw new UsageError(`${name}: expected 0x-prefixed hex or decimal, found "${text}"`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new UsageError(`${name}: "${text}" is too large`);
  return n;
}

function list(text: string | undefined): string[] {
  if (text === undefined) return [];
  return text
    .split(/[,|\s]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
}

export interface PteOptions {
  level: EntryLevel;
  '5level'?: boolean;
  json?: boolean;
  encode?: boolean;
  pfn?: string;
  flags?: string;
  swapType?: string;
  offset?: string;
  migration?: string;
  marker?: string;
  pkey?: string;
}

function pteCommand(io: Io, value: string | undefined, o: PteOptions): number {
  const levels = o['5level'] === true ? 5 : 4;
  let words: { lo: number; hi: number };
  const encodeOnly = ['pfn', 'flags', 'swapType', 'offset', 'migration', 'marker', 'pkey'] as const;
  if (o.encode === true) {
    if (value !== undefined) throw new UsageError('--encode builds an entry from options: give no value');
    const pkey = o.pkey === undefined ? undefined : parseNumber('--pkey', o.pkey);
    if (pkey !== undefined && pkey > 15) throw new UsageError('--pkey: expected 0 to 15');
    const res = encodeEntry({
      level: o.level,
      levels,
      flags: list(o.flags),
      ...(o.pfn !== undefined ? { pfn: parseNumber('--pfn', o.pfn) } : {}),
      ...(o.swapType !== undefined ? { swapType: parseNumber('--swap-type', o.swapType) } : {}),
      ...(o.offset !== undefined ? { offset: parseNumber('--offset', o.offset) } : {}),
      ...(o.migration !== undefined ? { migration: o.migration } : {}),
      ...(o.marker !== undefined ? { markers: list(o.marker) } : {}),
      ...(pkey !== undefined ? { pkey } : {}),
    });
    if (typeof res === 'string') throw new UsageError(res);
    words = res;
  } else {
    if (value === undefined)
      throw new UsageError('give an entry value to decode, or --encode with --pfn/--flags');
    const stray = encodeOnly.find((k) => o[k] !== undefined);
    if (stray !== undefined)
      throw new UsageError(`--${stray.replace(/[A-Z]/g, (m) => `-${m.toLowerCase()}`)} goes with --encode`);
    words = parseEntryValue(value);
  }
  const d = decodeEntry(words.lo, words.hi, o.level, levels);
  if (o.json === true) printJson(io, d);
  else io.out(formatDecoded(d, io.colors));
  return 0;
}

export function definePte(program: Command, r: Runner): void {
  program
    .command('pte')
    .argument('[value]', 'the 64-bit entry: 0x-prefixed hex or decimal')
    .description(
      'decode an x86-64 page-table entry (present bits, PFN, swap type/offset, migration entry, PTE markers), or build one with --encode',
    )
    .addOption(
      new Option('--level <level>', 'the table level the entry sits in').choices(ENTRY_LEVELS).default('pte'),
    )
    .option('--5level', '5-level paging (MAX_PHYSMEM_BITS 52: migration entries keep their A/D bits higher)')
    .option('--json', 'print the decoded fields as JSON')
    .option(
      '--encode',
      'build an entry from --pfn/--flags, --swap-type/--offset, --migration/--pfn or --marker',
    )
    .option('--pfn <n>', 'with --encode: the page frame number (hex or decimal)')
    .option(
      '--flags <list>',
      'with --encode: comma-separated bits: present,rw,user,pwt,pcd,accessed,dirty,pse,global,protnone,special,uffd_wp,soft_dirty,pat_large,nx (swap entries: soft_dirty,uffd_wp,exclusive)',
    )
    .option('--swap-type <n>', 'with --encode: a swap entry of this swap file')
    .option('--offset <n>', 'with --swap-type: the slot in the swap file')
    .option('--migration <kind>', 'with --encode and --pfn: a migration entry: read, read_exclusive or write')
    .option('--marker <list>', 'with --encode: a PTE marker: uffd_wp,poisoned,guard')
    .option('--pkey <n>', 'with --encode: protection key 0-15 (bits 59-62)')
    .addHelpText(
      'after',
      examples([
        ['mmsim pte 0x8000000012345067', 'a present, dirty, no-exec user page'],
        ['mmsim pte 0x80000000122000e7 --level pmd', 'a 2 MiB THP mapping'],
        ['mmsim pte 0xcffffffffdb97400', 'a swap-format entry: migration (read) of pfn 0x12345'],
        ['mmsim pte --encode --pfn 0x1234 --flags present,rw,user,dirty', 'build an entry'],
        ['mmsim pte --encode --migration write --pfn 0x1234', 'a writable migration entry'],
        ['mmsim pte --encode --marker guard', 'the MADV_GUARD_INSTALL marker'],
        ['mmsim pte --encode --swap-type 0 --offset 0x42 --flags exclusive --json', 'a swap entry, as JSON'],
      ]),
    )
    .action((value: string | undefined, o: PteOptions) => {
      r.code = pteCommand(r.io, value, o);
    });
}

/** The text `mmsim pte` prints for a decoded entry. */
function formatDecoded(d: DecodedEntry, c: Colors): string {
  const lines: string[] = [];
  const hex = (n: number): string => `0x${n.toString(16)}`;
  lines.push(`${c.bold(d.value)}  ${d.level} (${d.levels}-level paging)`);
  lines.push(`  ${c.cyan(d.kind.padEnd(10))} ${d.summary}`);
  if (d.bits.length > 0) lines.push(`  bits       ${d.bits.join(' ')}`);
  if (d.pfn !== null)
    lines.push(`  pfn        ${hex(d.pfn)} (${d.pfn}), physical address ${hex(d.pfn * 4096)}`);
  if (d.swap !== null)
    lines.push(`  swap       type ${d.swap.type}, offset ${hex(d.swap.offset)} (${d.swap.offset})`);
  if (d.migration !== null)
    lines.push(
      `  a/d bits   young ${d.migration.young ? 'yes' : 'no'}, dirty ${d.migration.dirty ? 'yes' : 'no'} (SWP_MIG_YOUNG/DIRTY, bits ${maxPhysmemBits(d.levels) - 12}-${maxPhysmemBits(d.levels) - 11} of the offset)`,
    );
  if (d.markers !== null) lines.push(`  markers    ${d.markers.length === 0 ? '-' : d.markers.join(' ')}`);
  if (d.pkey !== 0) lines.push(`  pkey       ${d.pkey}`);
  for (const n of d.notes) lines.push(`  ${c.yellow('note')}       ${n}`);
  return `${lines.join('\n')}\n`;
}
