import { PAGE_SIZE } from '@mmsim/core';
import { KSM_RUN_MERGE, Ksm } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import { MADV_MERGEABLE, MAP_ANONYMOUS, MAP_PRIVATE, Machine, PROT_READ, PROT_WRITE } from '@mmsim/mmu';
import { fillPage, type FillPattern } from '@mmsim/scenario';
const mix = process.argv[2] ?? 'unique';
const pages = Number(process.argv[3] ?? 131072);
const pattern: FillPattern = mix === 'same' ? { kind: 'byte', value: 0x5a } : mix === 'ids16' ? { kind: 'ids', count: 16, seed: 7 } : { kind: 'unique', seed: 7 };
const m = new Machine({ memoryMiB: (pages * 4096) / 2 ** 20 + 512 });
const ksm = new Ksm(m);
ksm.pages_to_scan = 1e9;
ksm.run = KSM_RUN_MERGE;
const buf = new Uint8Array(PAGE_SIZE);
const p = new Process(m, 'a');
const addr = p.mmap(null, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
let t = performance.now();
for (let i = 0; i < pages; i++) { fillPage(pattern, i, pages, buf); p.writePage(addr + i * PAGE_SIZE, buf); }
console.log('fill', (performance.now() - t).toFixed(0), 'ms');
p.madvise(addr, pages * PAGE_SIZE, MADV_MERGEABLE);
for (let s = 0; s < 3; s++) {
  t = performance.now();
  ksm.runFullScans(1);
  const dt = performance.now() - t;
  console.log('scan', s, dt.toFixed(0), 'ms', Math.round(pages / dt * 1000), 'pages/s', JSON.stringify(ksm.counters()).slice(0, 120));
}
