// A quick local measurement of the benchmark kernels over 1 GiB (apps/bench owns the real
// harness with bootstrap statistics). Run: node --conditions=@mmsim/source --import tsx scripts/rates.ts
import { GiB, KERNEL_PROFILES, type KernelVersion, PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { benchFollowPage, benchGup, FOLL_WRITE, type GupBenchKind } from '../src/index.ts';

const NR = GiB / PAGE_SIZE;
const REPS = Number(process.env.REPS ?? 5);

function space(thp: boolean): { m: Machine; p: Process; a: number } {
  const m = new Machine({ memoryMiB: 2048 + 64 });
  const p = new Process(m, 'bench');
  const a = p.mmap(null, GiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  if (thp) p.madvise(a, GiB, MADV_HUGEPAGE);
  // Write-fault every page in (no contents are written: frames stay without content slots).
  p.munmap(a, GiB);
  const b = p.mmap(
    a,
    GiB,
    PROT_READ | PROT_WRITE,
    MAP_PRIVATE | MAP_ANONYMOUS | 0x10 | (thp ? 0 : MAP_POPULATE),
  );
  if (thp) {
    p.madvise(b, GiB, MADV_HUGEPAGE);
    for (let x = b; x < b + GiB; x += 2 * 2 ** 20) p.writeByte(x, 1);
  }
  return { m, p, a: b };
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function time(fn: () => number): { rate: number; n: number } {
  fn(); // warm-up
  const rates: number[] = [];
  let n = 0;
  for (let r = 0; r < REPS; r++) {
    const t0 = process.hrtime.bigint();
    n = fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    rates.push(n / dt);
  }
  return { rate: median(rates), n };
}

const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M`;

for (const thp of [false, true]) {
  const { m, p, a } = space(thp);
  const vma = p.mm.vma_lookup(a)!;
  const label = thp ? '1 GiB of THPs' : '1 GiB of 4 KiB pages';
  for (const prof of ['6.1', '6.18'] as KernelVersion[]) {
    const before = m.counters.snapshot();
    const r = time(() => benchFollowPage(vma, a, NR, 0, KERNEL_PROFILES[prof]));
    const per = m.counters.since(before);
    const runs = REPS + 1;
    console.log(
      `${label} | follow_page(FOLL_GET)+put_page [${prof}] | ${fmt(r.rate)} lookups/s | found ${r.n}/${NR} | ` +
        `per lookup: ptlLock ${(per.ptlLock / (NR * runs)).toFixed(3)} pmdRead ${(per.pmdRead / (NR * runs)).toFixed(3)}`,
    );
  }
  const pages = new Int32Array(512);
  for (const kind of [
    'get_user_pages',
    'pin_user_pages',
    'get_user_pages_fast',
    'pin_user_pages_fast',
  ] as GupBenchKind[]) {
    for (const prof of ['6.1', '6.18'] as KernelVersion[]) {
      const before = m.counters.snapshot();
      const r = time(() => benchGup(kind, p.mm, a, NR, 512, FOLL_WRITE, pages, KERNEL_PROFILES[prof]));
      const per = m.counters.since(before);
      console.log(
        `${label} | ${kind}(FOLL_WRITE) x512 [${prof}] | ${fmt(r.rate)} pages/s | done ${r.n}/${NR} | ` +
          `lookups/page ${(per.followPage / (NR * (REPS + 1))).toFixed(4)}`,
      );
    }
  }
}
