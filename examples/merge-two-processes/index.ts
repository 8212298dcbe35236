// Two processes with the same contents in part of their memory: ksmd merges them, and the KSM
// counters of /sys/kernel/mm/ksm say how much memory that saved. Uses the packages as a user
// of @mmsim/* would: their public API, as built (dist/).
import { PAGE_SIZE } from '@mmsim/core';
import { Ksm } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from '@mmsim/mmu';

/** Pages per process: the first half holds CONTENTS distinct pages cycling, the rest is unique. */
const PAGES = 1024;
const CONTENTS = 8;

const m = new Machine({ memoryMiB: 64 });
const ksm = new Ksm(m);

function populate(name: string, tag: number): Process {
  const p = new Process(m, name);
  const len = PAGES * PAGE_SIZE;
  const addr = p.mmap(null, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  const page = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGES; i++) {
    const same = i < PAGES / 2;
    page.fill(same ? i % CONTENTS : 0);
    if (!same) {
      page[0] = tag; // unique: the process and the page number
      page[1] = i % 256;
      page[2] = Math.floor(i / 256);
    }
    p.writePage(addr + i * PAGE_SIZE, page);
  }
  p.madvise(addr, len, MADV_MERGEABLE);
  return p;
}

populate('a', 1);
populate('b', 2);
// The first full scan records each page's checksum; the second merges the pages whose checksum
// held still (mm/ksm.c, cmp_and_merge_page()).
ksm.runFullScans(2);
const c = ksm.counters();

const rows: [string, number][] = [
  ['pages_shared', c.pages_shared],
  ['pages_sharing', c.pages_sharing],
  ['pages_unshared', c.pages_unshared],
  ['pages_volatile', c.pages_volatile],
  ['full_scans', c.full_scans],
];
for (const [name, value] of rows) console.log(`${name.padEnd(16)}${String(value).padStart(8)}`);
const savedMiB = (c.pages_sharing * PAGE_SIZE) / 2 ** 20;
console.log(`saved: ${savedMiB} MiB of ${(2 * PAGES * PAGE_SIZE) / 2 ** 20} MiB`);

// What Linux answers for this workload: one KSM page per content, every other copy sharing it.
const expected = { pages_shared: CONTENTS, pages_sharing: PAGES - CONTENTS, pages_unshared: PAGES };
for (const [k, v] of Object.entries(expected)) {
  if (c[k as keyof typeof c] !== v) {
    console.error(`merge-two-processes: ${k} is ${c[k as keyof typeof c]}, expected ${v}`);
    process.exit(1);
  }
}
