// Two break_ksm() strategies on a layout of your own: the same merged state is built twice, each
// strategy unmerges it (MADV_UNMERGEABLE), and the machine's cost counters say what each did per
// page. Both must leave exactly the same memory behind.
import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { Ksm, STRATEGIES } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  MADV_MERGEABLE,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';

/** The layout: a 16 MiB region where only every fourth 2 MiB block is populated, all of it with
 * one content (so the populated pages merge), and a hole-free tail of 512 unique pages. */
const REGION = 16 * 2 ** 20;
const BLOCK_STRIDE = 4;
const TAIL_PAGES = 512;
const PAGES = REGION / PAGE_SIZE + TAIL_PAGES;
const COMPARED = ['folio_walk', 'walk_fault'] as const;

interface Outcome {
  counters: Record<string, number>;
  bytes: Uint8Array;
}

function run(strategy: string): Outcome {
  const m = new Machine({ memoryMiB: 128 });
  const ksm = new Ksm(m);
  ksm.strategy = STRATEGIES[strategy]!;
  const p = new Process(m, 'p');
  const len = PAGES * PAGE_SIZE;
  const addr = p.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const page = new Uint8Array(PAGE_SIZE);
  for (let block = 0; block < REGION / PMD_SIZE; block += BLOCK_STRIDE) {
    page.fill(0x2a);
    for (let off = 0; off < PMD_SIZE; off += PAGE_SIZE) p.writePage(addr + block * PMD_SIZE + off, page);
  }
  for (let i = 0; i < TAIL_PAGES; i++) {
    page.fill(i % 251);
    page[0] = i % 256;
    page[1] = Math.floor(i / 256);
    p.writePage(addr + REGION + i * PAGE_SIZE, page);
  }
  p.madvise(addr, len, MADV_MERGEABLE);
  ksm.runFullScans(2);
  const before = m.counters.snapshot();
  p.madvise(addr, len, MADV_UNMERGEABLE);
  const counters = m.counters.since(before);
  return { counters, bytes: p.read(addr, len) };
}

const outcomes = COMPARED.map(run);
const fields = [
  'walks',
  'walkCallbacks',
  'followPage',
  'pgdRead',
  'pudRead',
  'pmdRead',
  'pteRead',
  'faults',
  'pagesCopied',
];
console.log(`MADV_UNMERGEABLE over ${PAGES} pages, per page:`);
console.log(['counter'.padEnd(14), ...COMPARED.map((s) => s.padStart(12))].join(''));
for (const f of fields) {
  const cells = outcomes.map((o) => ((o.counters[f] ?? 0) / PAGES).toFixed(4).padStart(12));
  console.log([f.padEnd(14), ...cells].join(''));
}

// Every strategy must leave the same memory: same bytes, same pages copied out of KSM pages.
const [x, y] = outcomes as [Outcome, Outcome];
if (x.counters.pagesCopied !== y.counters.pagesCopied || !x.bytes.every((b, i) => b === y.bytes[i])) {
  console.error('compare-strategies: the two strategies left different memory');
  process.exit(1);
}
// They must differ in what they cost, or the comparison shows nothing.
if (x.counters.walks === y.counters.walks && x.counters.pteRead === y.counters.pteRead) {
  console.error('compare-strategies: the two strategies did the same work');
  process.exit(1);
}
console.log(
  `same memory after both; ${COMPARED[1]} read ${y.counters.pteRead} PTEs, ${COMPARED[0]} ${x.counters.pteRead}`,
);
