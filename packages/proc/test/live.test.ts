// The live kernel as oracle: the same layout built by a real process (test/native/layout.c,
// compiled here with the system C compiler) and by a simulated one at the same addresses must
// give the same pagemap flag bits, the same PFN sharing structure, the same kpageflags and
// kpagecount, and the same smaps blocks. Needs root (PFNs, /proc/kpageflags) and cc; skipped with
// the reason otherwise.
//
// Known differences, normalised below: shmem inode
// numbers; kpageflags LRU/ACTIVE/REFERENCED/IDLE (LRU batching and reclaim state mmsim does not
// model — a page faulted a moment ago may still sit in a per-CPU LRU batch); kpageflags of the
// shmem region (the kernel dirties shmem folios on write faults; mmu keeps the dirtiness in PTEs).

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { afterAll, describe, expect, it } from 'vitest';
import {
  KPF_ACTIVE,
  KPF_IDLE,
  KPF_LRU,
  KPF_REFERENCED,
  kpagecount,
  kpageflags,
  type ProcConfig,
  pagemap_read,
  show_smap,
} from '../src/index.ts';

const here = dirname(fileURLToPath(import.meta.url));

function skipReason(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid !== 'function' || process.getuid() !== 0)
    return 'not root (pagemap hides PFNs, /proc/kpageflags unreadable)';
  if (spawnSync('cc', ['--version']).status !== 0) return 'no C compiler (cc)';
  if (!existsSync('/proc/kpageflags')) return 'no /proc/kpageflags';
  return null;
}

const reason = skipReason();
if (reason !== null) console.warn(`[@mmsim/proc live-kernel comparison] SKIPPED: ${reason}`);

interface Region {
  name: string;
  start: number;
  pages: number;
  pagemap: bigint[];
  kflags: bigint[];
  kcount: number[];
  smaps: string;
}

function parse(out: string): { base: number; regions: Map<string, Region> } {
  const regions = new Map<string, Region>();
  let base = 0;
  let cur: Region | null = null;
  let inSmaps = false;
  for (const line of out.split('\n')) {
    if (inSmaps) {
      if (line === 'smaps-end') inSmaps = false;
      else cur!.smaps += `${line}\n`;
      continue;
    }
    const f = line.split(' ');
    if (f[0] === 'base') base = Number.parseInt(f[1], 16);
    else if (f[0] === 'region') {
      cur = {
        name: f[1],
        start: Number.parseInt(f[2], 16),
        pages: Number(f[3]),
        pagemap: [],
        kflags: [],
        kcount: [],
        smaps: '',
      };
      regions.set(cur.name, cur);
    } else if (f[0] === 'pm') {
      cur!.pagemap.push(BigInt(`0x${f[2]}`));
      cur!.kflags.push(BigInt(`0x${f[3]}`));
      cur!.kcount.push(Number(f[4]));
    } else if (f[0] === 'smaps-begin') inSmaps = true;
  }
  return { base, regions };
}

function liveConfig(regions: Map<string, Region>): ProcConfig {
  let softDirty: boolean;
  if (existsSync('/proc/config.gz')) {
    const cfg = gunzipSync(readFileSync('/proc/config.gz')).toString();
    softDirty = /^CONFIG_MEM_SOFT_DIRTY=y$/m.test(cfg);
  } else {
    // A fresh VMA is VM_SOFTDIRTY exactly when the kernel tracks soft-dirty: bit 55 of an
    // untouched page of region a.
    softDirty = ((regions.get('a')!.pagemap[15] >> 55n) & 1n) === 1n;
  }
  const pkeys = readFileSync('/proc/self/smaps', 'utf8').includes('ProtectionKey:');
  return { memSoftDirty: softDirty, protectionKeys: pkeys, showPfn: true };
}

/** The simulated twin of layout.c, at the live process's addresses. */
function simulate(base: number, thpEnabled: 'always' | 'madvise' | 'never', config: ProcConfig) {
  const m = new Machine({ memoryMiB: 256, thp: { enabled: thpEnabled } });
  const p = new Process(m, 'layout');
  const HP = PMD_SIZE;
  const RW = PROT_READ | PROT_WRITE;
  p.mmap(base, 17 * HP, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED);
  const mapAt = (addr: number, len: number, type: number): number =>
    p.mmap(addr, len, RW, type | MAP_ANONYMOUS | MAP_FIXED);
  const regions = new Map<string, Region>();
  const dump = (name: string, start: number, pages: number): void => {
    const pm = pagemap_read(p.mm, start, start + pages * PAGE_SIZE, config);
    const r: Region = { name, start, pages, pagemap: [...pm], kflags: [], kcount: [], smaps: '' };
    for (const e of pm) {
      const present = e >> 63n !== 0n;
      const pfn = Number(e & ((1n << 55n) - 1n));
      r.kflags.push(present ? BigInt(kpageflags(m, pfn)) : 0n);
      r.kcount.push(present ? kpagecount(m, pfn) : 0);
    }
    p.mm.mmap_read_lock();
    r.smaps = show_smap(p.mm.vma_lookup(start)!, config).text;
    p.mm.mmap_read_unlock();
    regions.set(name, r);
  };
  const a = mapAt(base + HP, 16 * PAGE_SIZE, MAP_PRIVATE);
  for (let i = 0; i < 4; i++) p.write(a + i * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(i + 1));
  for (let i = 4; i < 8; i++) p.readByte(a + i * PAGE_SIZE);
  const b = mapAt(base + 4 * HP, HP, MAP_PRIVATE);
  p.madvise(b, HP, MADV_HUGEPAGE);
  p.writeByte(b, 1);
  const c = mapAt(base + 8 * HP, HP, MAP_PRIVATE);
  p.madvise(c, HP, MADV_HUGEPAGE);
  p.readByte(c);
  const e = mapAt(base + 14 * HP, 4 * PAGE_SIZE, MAP_SHARED);
  p.writeByte(e, 1);
  p.writeByte(e + PAGE_SIZE, 2);
  dump('a', a, 16);
  dump('b', b, 512);
  dump('c', c, 512);
  dump('e', e, 4);
  const d = mapAt(base + 12 * HP, 8 * PAGE_SIZE, MAP_PRIVATE);
  for (let i = 0; i < 8; i++) p.write(d + i * PAGE_SIZE, new Uint8Array(PAGE_SIZE).fill(0x40 + i));
  p.fork('child');
  dump('d', d, 8);
  return regions;
}

const PFN_MASK = (1n << 55n) - 1n;
const UNMODELLED =
  (1n << BigInt(KPF_LRU)) |
  (1n << BigInt(KPF_ACTIVE)) |
  (1n << BigInt(KPF_REFERENCED)) |
  (1n << BigInt(KPF_IDLE));

/** Which entries share a PFN, and each entry's PFN offset from the region's first present one. */
function pfnShape(r: Region): string[] {
  const present = r.pagemap.filter((e) => e >> 63n !== 0n);
  if (present.length === 0) return [];
  const first = present[0] & PFN_MASK;
  const firstSeen = new Map<bigint, number>();
  return r.pagemap.map((e, i) => {
    if (e >> 63n === 0n) return '-';
    const pfn = e & PFN_MASK;
    if (!firstSeen.has(pfn)) firstSeen.set(pfn, i);
    const delta = pfn - first;
    // Offsets only mean something inside one folio (THP); elsewhere report equality classes.
    return r.pages === 512 ? `+${delta}` : `#${firstSeen.get(pfn)}`;
  });
}

/** Normalise what mmsim deliberately does not reproduce (see the file comment). */
function normSmaps(text: string): string {
  return text.replace(/ 00:01 \d+ +\/dev\/zero \(deleted\)$/m, ' 00:01 INODE /dev/zero (deleted)');
}

describe('pagemap, kpageflags and smaps against the live kernel', () => {
  let tmp = '';
  afterAll(() => {
    if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(reason !== null)(
    `the same layout gives the same views${reason === null ? '' : ` (skipped: ${reason})`}`,
    () => {
      tmp = mkdtempSync(join(tmpdir(), 'mmsim-proc-live-'));
      const exe = join(tmp, 'layout');
      execFileSync('cc', ['-O1', '-Wall', '-o', exe, join(here, 'native', 'layout.c')]);
      const live = parse(execFileSync(exe, { encoding: 'utf8' }));
      const thpSetting = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
      const thp = (/\[(\w+)\]/.exec(thpSetting)?.[1] ?? 'madvise') as 'always' | 'madvise' | 'never';
      const config = liveConfig(live.regions);
      const sim = simulate(live.base, thp, config);
      for (const name of ['a', 'b', 'c', 'e', 'd']) {
        const l = live.regions.get(name)!;
        const s = sim.get(name)!;
        expect(s.start, name).toBe(l.start);
        expect(
          s.pagemap.map((e) => (e >> 55n).toString(16)),
          `${name}: pagemap flag bits 55-63`,
        ).toEqual(l.pagemap.map((e) => (e >> 55n).toString(16)));
        expect(pfnShape(s), `${name}: PFN sharing`).toEqual(pfnShape(l));
        expect(s.kcount, `${name}: kpagecount`).toEqual(l.kcount);
        if (name !== 'e') {
          expect(
            s.kflags.map((f) => (f & ~UNMODELLED).toString(16)),
            `${name}: kpageflags`,
          ).toEqual(l.kflags.map((f) => (f & ~UNMODELLED).toString(16)));
        }
        expect(normSmaps(s.smaps), `${name}: smaps`).toBe(normSmaps(l.smaps));
      }
    },
    60_000,
  );
});
