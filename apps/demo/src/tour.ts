// The tour `pnpm start` runs: two processes with partly identical memory; their page tables and
// pagemap entries; ksmd merging them scan by scan; the KSM trees; a write breaking COW; and
// MADV_UNMERGEABLE with every break_ksm() strategy on identical state, side by side.

import { createInterface } from 'node:readline/promises';
import { PAGE_SIZE } from '@mmsim/core';
import { chainDups, Ksm, type KsmCounters, STRATEGIES, stableNodes, unstableItems } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  E,
  entry_pfn,
  entryHex,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  readEntry,
} from '@mmsim/mmu';
import {
  KPF_KSM,
  kpageflags,
  kpfNames,
  kpfTest,
  PM_MMAP_EXCLUSIVE,
  PM_PRESENT,
  pagemap_read,
} from '@mmsim/proc';
import { type FillPattern, fillContent } from '@mmsim/scenario';
import { SingleBar } from 'cli-progress';
import { table } from './format.ts';
import type { Colors } from './io.ts';

export interface TourOptions {
  pages: number;
  json: boolean;
  /** Wider than 80 columns: raw entries and every flag in the tables. */
  wide: boolean;
  /** Pause for Enter between chapters (interactive terminals only). */
  step: boolean;
}

interface World {
  m: Machine;
  ksm: Ksm;
  a: Process;
  b: Process;
  addr: number;
}

/** Host memory the tour takes per page of `--size`, measured with fill-pattern contents (the
 * pages hold no bytes): peak RSS of `/usr/bin/time -v mmsim demo --size N --json` on Node 20 at
 * N = 16384, 65536, 262144 and 1048576: 157, 228, 434 and 1,314 MiB, i.e. 1.1 to 1.5 KiB more
 * per page (two worlds alive at once, each 2 processes with their struct pages, page tables and
 * KSM rmap items, and garbage not yet collected), rounded up. Measure again when the tour or the
 * per-frame metadata changes. */
export const TOUR_HOST_BYTES_PER_PAGE = 2 * 1024;
/** Host memory the tour takes at any size (Node, the modules, the first world). */
export const TOUR_HOST_BASE_BYTES = 256 * 2 ** 20;

/** Contents of the shared half: 16 `byte` patterns cycling (the first is the zero page). */
const SHARED: readonly FillPattern[] = Array.from({ length: 16 }, (_, v) => ({ kind: 'byte', value: v }));
/** Seed of process k's unique half (`unique` pattern, seed UNIQUE_SEED + k). */
const UNIQUE_SEED = 1000;

/** Two processes; the first half of each holds 16 contents cycling, identical in both; the
 * second half is unique per process and page. The pages refer to fill-pattern contents
 * (@mmsim/scenario's fill patterns, as a scenario's `fill` writes them): the simulator holds no
 * bytes for them, so a large --size costs struct pages, page tables and KSM's items, not 4 KiB
 * per page. */
function build(pages: number): World {
  const m = new Machine({ memoryMiB: Math.max(256, Math.ceil((pages * 2 * PAGE_SIZE) / 2 ** 20) * 2) });
  const ksm = new Ksm(m);
  ksm.pages_to_scan = pages * 4;
  const a = new Process(m, 'a');
  const b = new Process(m, 'b');
  const len = pages * PAGE_SIZE;
  const addr = a.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  b.mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const contents = m.phys.contents;
  for (const [pi, p] of [a, b].entries()) {
    const unique: FillPattern = { kind: 'unique', seed: UNIQUE_SEED + pi };
    for (let i = 0; i < pages; i++) {
      const pattern = i < pages / 2 ? SHARED[i % SHARED.length]! : unique;
      p.writeContent(addr + i * PAGE_SIZE, fillContent(contents, pattern, i, pages));
    }
    p.madvise(addr, len, MADV_MERGEABLE);
  }
  return { m, ksm, a, b, addr };
}

/** The PTE words mapping addr (0, 0 when there is none). */
function pteOf(p: Process, addr: number): { lo: number; hi: number } {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return { lo: 0, hi: 0 };
  readEntry(p.machine.phys, t, pte_index(addr));
  return { lo: E.lo, hi: E.hi };
}

function pteBits(lo: number): string {
  const bits: string[] = ['present'];
  if ((lo & _PAGE_RW) !== 0) bits.push('rw');
  else bits.push('ro');
  if ((lo & _PAGE_DIRTY) !== 0) bits.push('dirty');
  if ((lo & _PAGE_ACCESSED) !== 0) bits.push('accessed');
  if ((lo & _PAGE_SOFT_DIRTY) !== 0) bits.push('soft-dirty');
  if ((lo & _PAGE_SPECIAL) !== 0) bits.push('special');
  return bits.join(' ');
}

/** One row per shown page: PTE, PFN, pagemap entry and kpageflags, for both processes. */
function pageRows(w: World, show: number[]) {
  const rows: Record<string, unknown>[] = [];
  for (const i of show) {
    const addr = w.addr + i * PAGE_SIZE;
    for (const p of [w.a, w.b]) {
      const { lo, hi } = pteOf(p, addr);
      const pfn = entry_pfn(lo, hi);
      const pm = pagemap_read(p.mm, addr, addr + PAGE_SIZE)[0];
      const kpf = kpageflags(w.m, pfn);
      rows.push({
        page: i,
        proc: p.name,
        pte: entryHex(lo, hi),
        bits: pteBits(lo),
        pfn,
        pagemap: pm.toString(16).padStart(16, '0'),
        exclusive: (pm & PM_MMAP_EXCLUSIVE) !== 0n,
        present: (pm & PM_PRESENT) !== 0n,
        kpageflags: kpfNames(kpf),
        ksm: kpfTest(kpf, KPF_KSM),
      });
    }
  }
  return rows;
}

/** A compact picture of the stable tree: each node (or chain with its dups) and its mappings. */
function stableTreeLines(ksm: Ksm, max: number): string[] {
  const lines: string[] = [];
  const nodes = stableNodes(ksm);
  for (const n of nodes.slice(0, max)) {
    if (n.rmap_hlist_len < 0) {
      lines.push(`  chain #${n.id}: ${chainDups(n).length} dups`);
    } else {
      lines.push(`  node #${n.id}: KSM page pfn ${n.kpfn}, ${n.rmap_hlist_len} mappings`);
    }
  }
  if (nodes.length > max) lines.push(`  ... ${nodes.length - max} more nodes`);
  return lines;
}

/** The terminal width the tour fits by default; `--wide` lifts it. */
export const TOUR_COLUMNS = 80;

/**
 * Every kernel term the tour uses, with the explanation printed the first time it appears. The
 * key is the term as it is printed; a test checks each is explained in the chapter that first
 * shows it.
 */
export const GLOSSARY: Record<string, string> = {
  PTE: 'page-table entry: the 64-bit x86-64 entry that maps one 4 KiB page of a process',
  PFN: 'page frame number: which 4 KiB frame of physical memory (physical address / 4096)',
  pagemap:
    '/proc/<pid>/pagemap: 64 bits per virtual page, for user space: present (bit 63), PM_MMAP_EXCLUSIVE (56), soft-dirty (55), the PFN (bits 0-54)',
  'soft-dirty':
    'a PTE bit the kernel sets on every write, so a tool (CRIU) can clear it and later see which pages changed',
  PM_MMAP_EXCLUSIVE: 'pagemap bit 56: the page is mapped by this process only',
  kpageflags: "/proc/kpageflags: one 64-bit word of flags per PFN, the kernel's view of the frame",
  ksmd: 'the kernel thread of KSM: it scans MADV_MERGEABLE memory and merges pages with equal contents',
  OWNER_2:
    'kpageflags bit 34 (PG_owner_2): on anonymous pages it is PG_anon_exclusive, the page belongs to one process and may be written without a copy',
  volatile:
    'pages_volatile: pages whose checksum changed since the last scan (or was seen for the first time)',
  shared: 'pages_shared: KSM pages in use, one frame each however many map it',
  sharing: 'pages_sharing: further mappings of KSM pages, i.e. frames saved',
  unshared: 'pages_unshared: pages whose checksum held still but that found no twin yet',
  chains: 'stable_node_chains: KSM pages with more than max_page_sharing mappings, split into "dups"',
  'stable tree': 'the red-black tree of KSM pages, sorted by content (memcmp)',
  'unstable tree': 'candidate pages of this scan, sorted by content; emptied when a full scan starts',
  KPF_KSM: 'kpageflags bit 21: the frame is a KSM page, mapped read-only by every sharer',
  COW: 'copy on write: a write to a shared read-only page faults, and the writer gets its own copy',
  'do_wp_page()': 'the write-protect fault handler of mm/memory.c: copy the page, or reuse it if exclusive',
  cow_ksm: 'the vmstat counter of KSM pages copied by a write fault',
  'break_ksm()':
    'what MADV_UNMERGEABLE runs over a range: find each KSM page, then fault it (FAULT_FLAG_UNSHARE) so the process gets a private copy; its strategy changed four times since 2022',
  walks: 'page walks started (walk_page_range_vma() or folio_walk_start())',
  lookups: 'follow_page() lookups, each from the top-level table down',
  callbacks: 'mm_walk_ops callbacks (pud_entry, pmd_entry, ...) the walker calls, indirectly',
};

interface TourIo {
  out: (s: string) => void;
  colors: Colors;
}

/** Words of `text` filled to `width` columns; the first line starts with `first`, the others
 * with `indent`. */
export function wrap(text: string, width: number, first = '', indent = ''): string {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(/\s+/)) {
    if (word === '') continue;
    if (!empty && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else line = empty ? line + word : `${line} ${word}`;
    empty = false;
  }
  if (!empty) lines.push(line);
  return lines.join('\n');
}

/** A borderless table: header, a dashed rule, the rows; numbers right-aligned. */
function grid(head: string[], rows: (string | number)[][], c: Colors): string {
  const cells = rows.map((r) => r.map(String));
  const right = head.map((_, i) => rows.length > 0 && cells.every((r) => /^-?[\d.]+$/.test(r[i]!)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => visibleLength(r[i]!))));
  const body = table([head, widths.map((n) => '-'.repeat(n)), ...cells], right).split('\n');
  return [c.bold(body[0]!), ...body.slice(1)].join('\n');
}

/** Length on screen (colour escapes take none). */
function visibleLength(s: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colour escapes
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

/** Per-page costs in the unmerge table: integers as they are, fractions to two decimals. */
function perPage(x: number, pages: number): string {
  const v = x / pages;
  if (Number.isInteger(v)) return String(v);
  return v < SMALL ? v.toPrecision(2) : v.toFixed(2);
}

/** Per-page values below this print with two significant digits rather than two decimals. */
const SMALL = 0.1;

export async function runTour(o: TourOptions, io: TourIo): Promise<void> {
  const { pages, json } = o;
  const width = o.wide ? Number.POSITIVE_INFINITY : TOUR_COLUMNS;
  const c = io.colors;
  const out: Record<string, unknown> = { pages };
  const say = (s = ''): void => {
    if (!json) io.out(`${s}\n`);
  };
  const para = (s: string): void => say(wrap(s, width));
  const explained = new Set<string>();
  /** The glossary lines of the terms not explained yet, after the table or text that shows them. */
  const explain = (...terms: string[]): void => {
    for (const t of terms) {
      if (explained.has(t)) continue;
      explained.add(t);
      say(c.dim(wrap(`${t}: ${GLOSSARY[t]}`, width, '  ', '      ')));
    }
  };
  const interactive = o.step && process.stdin.isTTY && !json;
  const rl = interactive ? createInterface({ input: process.stdin, output: process.stdout }) : null;
  const chapter = async (title: string): Promise<void> => {
    if (rl !== null) await rl.question(c.dim('\n[Enter] '));
    say(`\n${c.bold(title)}\n${'-'.repeat(title.length)}`);
  };

  say(c.bold('mmsim: the story of break_ksm()'));
  para(
    `Two processes, a and b, ${pages} pages each. In the first half both hold the same 16 contents cycling; the second half is different in every page. Both regions are MADV_MERGEABLE: KSM, the kernel's samepage merging, may merge their identical pages.`,
  );
  explain('ksmd', 'break_ksm()');
  const w = build(pages);
  const show = [0, 1, 16, pages - 1];

  await chapter('1. Page tables and /proc/<pid>/pagemap before ksmd');
  const before = pageRows(w, show);
  out.before = before;
  const head1 = o.wide
    ? ['page', 'proc', 'PTE', 'bits', 'PFN', 'pagemap', 'kpageflags']
    : ['page', 'proc', 'PTE', 'PFN', 'pagemap'];
  say(
    grid(
      head1,
      before.map((r) =>
        o.wide
          ? ([r.page, r.proc, r.pte, r.bits, r.pfn, r.pagemap, r.kpageflags] as (string | number)[])
          : ([r.page, r.proc, r.pte, r.pfn, r.pagemap] as (string | number)[]),
      ),
      c,
    ),
  );
  const r0 = before[0]!;
  explain('PTE', 'PFN', 'pagemap');
  para(
    `a's page 0: the PTE ${r0.pte} maps PFN ${r0.pfn} with the bits ${r0.bits}; its frame's kpageflags are ${r0.kpageflags}.`,
  );
  explain('soft-dirty', 'kpageflags', 'OWNER_2');
  para('Every page is private: its own PFN, writable, PM_MMAP_EXCLUSIVE in pagemap.');
  explain('PM_MMAP_EXCLUSIVE');

  await chapter('2. ksmd, full scan by full scan');
  para('A page needs two scans: the first stores its checksum (volatile), the second compares it.');
  const scans: KsmCounters[] = [];
  const bar =
    !json && process.stdout.isTTY
      ? new SingleBar({ format: '  scanning {bar} {value}/{total} pages', hideCursor: true })
      : null;
  for (let s = 1; s <= 3; s++) {
    bar?.start(pages * 2, 0);
    const scanned0 = w.ksm.pages_scanned;
    // One batch per progress step: batches end at a full scan's end.
    w.ksm.pages_to_scan = Math.max(64, Math.floor(pages / 8));
    const target = w.ksm.counters().full_scans + 1;
    while (w.ksm.counters().full_scans < target) {
      w.ksm.ksm_do_scan(w.ksm.pages_to_scan);
      bar?.update(w.ksm.pages_scanned - scanned0);
    }
    bar?.stop();
    scans.push(w.ksm.counters());
  }
  out.scans = scans;
  say(
    grid(
      ['scan', 'shared', 'sharing', 'unshared', 'volatile', 'chains', 'dups'],
      scans.map((k, i) => [
        i + 1,
        k.pages_shared,
        k.pages_sharing,
        k.pages_unshared,
        k.pages_volatile,
        k.stable_node_chains,
        k.stable_node_dups,
      ]),
      c,
    ),
  );
  explain('volatile', 'shared', 'sharing', 'unshared', 'chains');

  await chapter('3. The stable tree and the unstable tree');
  for (const l of stableTreeLines(w.ksm, 8)) say(l);
  say(`  unstable tree: ${unstableItems(w.ksm).length} pages waiting for a twin (the unique half)`);
  explain('stable tree', 'unstable tree');
  out.stableNodes = stableNodes(w.ksm).length;

  await chapter('4. The same pages now share KSM pages');
  const after = pageRows(w, show);
  out.after = after;
  say(
    grid(
      o.wide ? ['page', 'proc', 'PTE', 'bits', 'PFN', 'KSM'] : ['page', 'proc', 'bits', 'PFN', 'KSM'],
      after.map((r) => {
        const ksm = r.ksm ? c.green('KPF_KSM') : '';
        const row = o.wide
          ? [r.page, r.proc, r.pte, r.bits, r.pfn, ksm]
          : [r.page, r.proc, r.bits, r.pfn, ksm];
        return row as (string | number)[];
      }),
      c,
    ),
  );
  para('Identical pages map one read-only KSM page (KPF_KSM); the unique half stays private.');
  explain('KPF_KSM');

  await chapter('5. A write breaks COW');
  w.b.writeByte(w.addr, 0xff);
  const own = pteOf(w.b, w.addr);
  para(
    `b writes to page 0: do_wp_page() copies the KSM page (cow_ksm = ${w.m.vmstat.cow_ksm}); b now maps its own page, PFN ${entry_pfn(own.lo, own.hi)}.`,
  );
  explain('COW', 'do_wp_page()', 'cow_ksm');
  out.cowKsm = w.m.vmstat.cow_ksm;

  await chapter("6. MADV_UNMERGEABLE over a's region: every break_ksm()");
  para(
    'The same state is built once per strategy; each unmerges the region. Costs per page of the region (half of it was merged), from the deterministic counters:',
  );
  const rows: { strategy: string; kernel: string; counters: Record<string, number> }[] = [];
  for (const s of Object.values(STRATEGIES)) {
    const x = build(pages);
    x.ksm.strategy = s;
    x.ksm.runFullScans(3);
    const c0 = x.m.counters.snapshot();
    x.a.madvise(x.addr, pages * PAGE_SIZE, MADV_UNMERGEABLE);
    rows.push({ strategy: s.name, kernel: s.kernel, counters: x.m.counters.since(c0) });
  }
  out.unmerge = rows;
  const n = (r: (typeof rows)[number], k: string): string => perPage(r.counters[k] ?? 0, pages);
  say(
    grid(
      ['strategy', 'kernel', 'walks', 'lookups', 'callbacks', 'PMDs', 'PTEs', 'faults', 'copies'],
      rows.map((r) => [
        r.strategy,
        o.wide ? r.kernel : r.kernel.replace(/ \(.*\)$/, ''),
        n(r, 'walks'),
        n(r, 'followPage'),
        n(r, 'walkCallbacks'),
        n(r, 'pmdRead'),
        n(r, 'pteRead'),
        n(r, 'faults'),
        n(r, 'pagesCopied'),
      ]),
      c,
    ),
  );
  explain('walks', 'lookups', 'callbacks');
  para(
    'PMDs and PTEs: page-table entries read at those levels. walk_pud_pmd is v1 6/7 of the 2022 series, never merged. For time, not counters: pnpm bench unmerge (fresh processes, repetitions, confidence intervals, and the live kernel on the same workload).',
  );

  await chapter('Summary');
  para(
    "Every strategy leaves the same memory; they differ only in what they cost per page. The follow_page() of 6.0/6.1 looks each address up from the top; the 2022 walker conversion added a second lookup and callbacks (the 4% of the thread); 6.19 walks the range once; mmsim's walk_fault also breaks COW from inside the walk and never restarts it.",
  );
  para(
    'The live kernel here (6.18) uses folio_walk. To compare the simulator with it: sudo pnpm mmsim verify scenarios/chains-fork.yaml (needs root and the live kernel: /sys/kernel/mm/ksm writable, and a C compiler for the oracle).',
  );
  rl?.close();
  if (json) io.out(`${JSON.stringify(out, null, 2)}\n`);
}
