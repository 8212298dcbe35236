// The tour `pnpm start` runs: two processes with partly identical memory, ksmd merging them,
// a write breaking COW, and MADV_UNMERGEABLE with every break_ksm() strategy on identical state.

import { PAGE_SIZE } from '@mmsim/core';
import { Ksm, STRATEGIES } from '@mmsim/ksm';
import {
  E,
  entry_pfn,
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
  Process,
  pte_index,
  readEntry,
} from '@mmsim/mmu';

interface World {
  m: Machine;
  ksm: Ksm;
  a: Process;
  b: Process;
  addr: number;
}

/** Two processes; page i holds content i % 16 in both for the first half, unique content after. */
function build(pages: number): World {
  const m = new Machine({ memoryMiB: Math.max(256, Math.ceil((pages * 2 * 4096) / 2 ** 20) * 2) });
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

function pfnOf(p: Process, addr: number): number {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return 0;
  readEntry(p.machine.phys, t, pte_index(addr));
  return E.lo === 0 && E.hi === 0 ? 0 : entry_pfn(E.lo, E.hi);
}

export function runTour(pages: number, json: boolean): void {
  const out: Record<string, unknown> = { pages };
  const say = (s = ''): void => {
    if (!json) process.stdout.write(`${s}\n`);
  };
  say('mmsim: the story of break_ksm()');
  say('================================');
  say(`Two processes, ${pages} pages each. The first half of each holds 16 contents cycling,`);
  say('identical in both; the second half is unique. Both regions are MADV_MERGEABLE.');
  const w = build(pages);
  const show = [0, 1, 16, pages - 1];
  say('\nPFNs before ksmd (page: a / b):');
  for (const i of show)
    say(
      `  page ${String(i).padStart(5)}: ${pfnOf(w.a, w.addr + i * PAGE_SIZE)} / ${pfnOf(w.b, w.addr + i * PAGE_SIZE)}`,
    );
  say('\nksmd, full scan by full scan (a page needs two scans: checksum first, then merge):');
  const scans: unknown[] = [];
  for (let s = 1; s <= 3; s++) {
    w.ksm.runFullScans(1);
    const c = w.ksm.counters();
    scans.push(c);
    say(
      `  scan ${s}: shared ${c.pages_shared}, sharing ${c.pages_sharing}, unshared ${c.pages_unshared}, volatile ${c.pages_volatile}`,
    );
  }
  out.scans = scans;
  say('\nPFNs after merging (identical pages now map one KSM page, read-only):');
  for (const i of show) {
    const pa = pfnOf(w.a, w.addr + i * PAGE_SIZE);
    say(
      `  page ${String(i).padStart(5)}: ${pa} / ${pfnOf(w.b, w.addr + i * PAGE_SIZE)}${w.m.phys.PageKsm(pa) ? '  KPF_KSM' : ''}`,
    );
  }
  w.b.writeByte(w.addr, 0xff);
  say(
    `\nb writes to page 0: COW breaks the KSM page (cow_ksm = ${w.m.vmstat.cow_ksm}); b now has its own page ${pfnOf(w.b, w.addr)}.`,
  );
  say("\nMADV_UNMERGEABLE over a's region, every break_ksm() strategy on identical state:");
  const rows: unknown[] = [];
  for (const s of Object.values(STRATEGIES)) {
    const x = build(pages);
    x.ksm.strategy = s;
    x.ksm.runFullScans(3);
    const before = x.m.counters.snapshot();
    const t0 = performance.now();
    x.a.madvise(x.addr, pages * PAGE_SIZE, MADV_UNMERGEABLE);
    const ms = performance.now() - t0;
    const d = x.m.counters.since(before);
    const per = (k: string): string => ((d[k] ?? 0) / pages).toFixed(2);
    rows.push({ strategy: s.name, kernel: s.kernel, ms, counters: d });
    say(
      `  ${s.name.padEnd(13)} ${s.kernel.padEnd(26)} ${ms.toFixed(1).padStart(7)} ms  per page: walks ${per('walks')}, lookups ${per('followPage')}, callbacks ${per('walkCallbacks')}, PTEs read ${per('pteRead')}, faults ${per('faults')}, copies ${per('pagesCopied')}`,
    );
  }
  out.unmerge = rows;
  say('\nEvery strategy leaves the same memory; they differ in what they cost per page.');
  say('The live kernel (6.18) uses folio_walk; `mmsim verify <scenario>` compares with it.');
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}
