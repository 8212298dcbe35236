// The tour `pnpm start` runs: two processes with partly identical memory; their page tables and
// pagemap entries; ksmd merging them scan by scan; the KSM trees; a write breaking COW; and
// MADV_UNMERGEABLE with every break_ksm() strategy on identical state, side by side.

import { createInterface } from 'node:readline/promises';
import { PAGE_SIZE } from '@mmsim/core';
import { Ksm, type KsmCounters, STRATEGIES } from '@mmsim/ksm';
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
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import pc from 'picocolors';

export interface TourOptions {
  pages: number;
  json: boolean;
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

/** Two processes; the first half of each holds 16 contents cycling, identical in both; the
 * second half is unique per process and page. */
function build(pages: number): World {
  const m = new Machine({ memoryMiB: Math.max(256, Math.ceil((pages * 2 * PAGE_SIZE) / 2 ** 20) * 2) });
  const ksm = new Ksm(m);
  ksm.pages_to_scan = pages * 4;
  const a = new Process(m, 'a');
  const b = new Process(m, 'b');
  const len = pages * PAGE_SIZE;
  const addr = a.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  b.mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const buf = new Uint8Array(PAGE_SIZE);
  for (const [pi, p] of [a, b].entries()) {
    for (let i = 0; i < pages; i++) {
      const shared = i < pages / 2;
      buf.fill(shared ? i % 16 : 0x80 + ((i * 7 + pi * 131) % 127));
      buf[0] = shared ? 0 : pi;
      buf[1] = shared ? 0 : i & 0xff;
      buf[2] = shared ? 0 : (i >> 8) & 0xff;
      p.writePage(addr + i * PAGE_SIZE, buf);
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

function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: process.stdout.isTTY ? ['cyan'] : [], border: [] } });
  for (const r of rows) t.push(r);
  return t.toString();
}

/** A compact picture of the stable tree: each node (or chain with its dups) and its mappings. */
function stableTreeLines(ksm: Ksm, max: number): string[] {
  const lines: string[] = [];
  const nodes = ksm.stableNodes();
  for (const n of nodes.slice(0, max)) {
    if (n.rmap_hlist_len < 0) {
      let dups = 0;
      for (let d = n.dups; d !== null; d = d.dupNext) dups++;
      lines.push(`  chain #${n.id}: ${dups} dups`);
    } else {
      lines.push(`  node #${n.id}: KSM page pfn ${n.kpfn}, ${n.rmap_hlist_len} mappings`);
    }
  }
  if (nodes.length > max) lines.push(`  ... ${nodes.length - max} more nodes`);
  return lines;
}

export async function runTour(o: TourOptions): Promise<void> {
  const { pages, json } = o;
  const out: Record<string, unknown> = { pages };
  const say = (s = ''): void => {
    if (!json) process.stdout.write(`${s}\n`);
  };
  const interactive = o.step && process.stdin.isTTY && !json;
  const rl = interactive ? createInterface({ input: process.stdin, output: process.stdout }) : null;
  const chapter = async (title: string): Promise<void> => {
    if (rl !== null) await rl.question(pc.dim('\n[Enter] '));
    say(`\n${pc.bold(title)}\n${'-'.repeat(title.length)}`);
  };

  say(pc.bold('mmsim: the story of break_ksm()'));
  say(`Two processes, a and b, ${pages} pages each. In the first half both hold the same 16 contents`);
  say('cycling; the second half is different in every page. Both regions are MADV_MERGEABLE.');
  const w = build(pages);
  const show = [0, 1, 16, pages - 1];

  await chapter('1. Page tables and /proc/<pid>/pagemap before ksmd');
  const before = pageRows(w, show);
  out.before = before;
  say(
    table(
      ['page', 'proc', 'PTE', 'bits', 'PFN', 'pagemap', 'kpageflags'],
      before.map((r) => [
        r.page as number,
        r.proc as string,
        r.pte as string,
        r.bits as string,
        r.pfn as number,
        r.pagemap as string,
        r.kpageflags as string,
      ]),
    ),
  );
  say('Every page is private: its own PFN, writable, PM_MMAP_EXCLUSIVE in pagemap.');

  await chapter('2. ksmd, full scan by full scan');
  say('A page needs two scans: the first stores its checksum (volatile), the second compares it.');
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
    table(
      ['scan', 'shared', 'sharing', 'unshared', 'volatile', 'chains', 'dups'],
      scans.map((c, i) => [
        i + 1,
        c.pages_shared,
        c.pages_sharing,
        c.pages_unshared,
        c.pages_volatile,
        c.stable_node_chains,
        c.stable_node_dups,
      ]),
    ),
  );

  await chapter('3. The stable tree (the unstable tree is rebuilt at every scan start)');
  for (const l of stableTreeLines(w.ksm, 8)) say(l);
  say(`  unstable tree: ${w.ksm.unstableItems().length} pages waiting for a twin (the unique half)`);
  out.stableNodes = w.ksm.stableNodes().length;

  await chapter('4. The same pages now share KSM pages');
  const after = pageRows(w, show);
  out.after = after;
  say(
    table(
      ['page', 'proc', 'PTE', 'bits', 'PFN', 'KSM'],
      after.map((r) => [
        r.page as number,
        r.proc as string,
        r.pte as string,
        r.bits as string,
        r.pfn as number,
        r.ksm ? pc.green('KPF_KSM') : '',
      ]),
    ),
  );
  say('Identical pages map one read-only KSM page (KPF_KSM); the unique half stays private.');

  await chapter('5. A write breaks COW');
  w.b.writeByte(w.addr, 0xff);
  say(
    `b writes to page 0: do_wp_page() copies the KSM page (cow_ksm = ${w.m.vmstat.cow_ksm}); b now maps its own page ${entry_pfn(pteOf(w.b, w.addr).lo, pteOf(w.b, w.addr).hi)}.`,
  );
  out.cowKsm = w.m.vmstat.cow_ksm;

  await chapter("6. MADV_UNMERGEABLE over a's region: every break_ksm() on identical state");
  const rows: { strategy: string; kernel: string; ms: number; counters: Record<string, number> }[] = [];
  for (const s of Object.values(STRATEGIES)) {
    const x = build(pages);
    x.ksm.strategy = s;
    x.ksm.runFullScans(3);
    const c0 = x.m.counters.snapshot();
    const t0 = performance.now();
    x.a.madvise(x.addr, pages * PAGE_SIZE, MADV_UNMERGEABLE);
    const ms = performance.now() - t0;
    rows.push({ strategy: s.name, kernel: s.kernel, ms, counters: x.m.counters.since(c0) });
  }
  out.unmerge = rows;
  const per = (r: (typeof rows)[number], k: string): string => ((r.counters[k] ?? 0) / pages).toFixed(2);
  say(
    table(
      [
        'strategy',
        'kernel',
        'ms',
        'walks',
        'follow_page',
        'callbacks',
        'PMDs read',
        'PTEs read',
        'faults',
        'copies',
      ],
      rows.map((r) => [
        r.strategy,
        r.kernel,
        r.ms.toFixed(1),
        per(r, 'walks'),
        per(r, 'followPage'),
        per(r, 'walkCallbacks'),
        per(r, 'pmdRead'),
        per(r, 'pteRead'),
        per(r, 'faults'),
        per(r, 'pagesCopied'),
      ]),
    ),
  );
  say('(costs per page of the region; half the pages were merged)');

  await chapter('Summary');
  say('Every strategy leaves the same memory; they differ only in what they cost per page. The');
  say('follow_page() of 6.0/6.1 looks each address up from the top; the 2022 walker conversion added');
  say("a second lookup and callbacks (the 4% of the thread); 6.19 walks the range once; mmsim's");
  say('walk_fault also breaks COW from inside the walk and never restarts it.');
  say('The live kernel here (6.18) uses folio_walk. Try: pnpm mmsim verify scenarios/chains-fork.yaml');
  rl?.close();
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
