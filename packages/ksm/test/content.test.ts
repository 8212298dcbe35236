// Content-addressed frames under KSM: every kind of content (fill patterns, interned pages,
// materialised pages, the zero page, digests) keeps the kernel's checksum and memcmp sign of its
// real bytes through merge, COW, unmerge, swap and migration, and memcmp_pages() counts the bytes
// the kernel's memcmp() reads of them.
import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  DIGEST_BYTES,
  E,
  entry_pfn,
  MADV_MERGEABLE,
  MADV_PAGEOUT,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  type Machine,
  memcmpBytesRead,
  migrate_folio,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  readEntry,
  xxh64Low32,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { checkAll, world } from './helpers.ts';

/** calc_checksum() over real bytes (the hash itself is checked against xxhash-wasm in @mmsim/mmu). */
const kernelChecksum = xxh64Low32;

const PAGES = 48;

function pfnAt(p: Process, addr: number): number {
  readEntry(p.machine.phys, p.mm.find_pte_table(addr), pte_index(addr));
  return entry_pfn(E.lo, E.hi);
}

function randomPage(seed: number): Uint8Array {
  const b = new Uint8Array(PAGE_SIZE);
  let x = seed + 1;
  for (let i = 0; i < PAGE_SIZE; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Page i of a process: six kinds of content, with equal contents across processes. */
function fill(p: Process, addr: number): void {
  const c = p.machine.phys.contents;
  for (let i = 0; i < PAGES; i++) {
    const at = addr + i * PAGE_SIZE;
    switch (i % 6) {
      case 0:
        p.writeContent(at, c.patternIds(7, i % 4));
        break;
      case 1:
        p.writeContent(at, c.patternByte(0x40 + (i % 3)));
        break;
      case 2:
        p.writePage(at, randomPage(i % 5));
        break;
      case 3: // materialised: a pattern, then one byte
        p.writeContent(at, c.patternIds(1000, i));
        p.writeByte(at + 100, 0);
        break;
      case 4: // an `ids` page written byte by byte: equal to the pattern page of case 0
        p.write(at, idsBytes(p.machine, 7, 2));
        break;
      default:
        p.touch(at); // the zero page
    }
  }
}

function idsBytes(m: Machine, seed: number, id: number): Uint8Array {
  const out = new Uint8Array(PAGE_SIZE);
  m.phys.contents.read(m.phys.contents.patternIds(seed, id), 0, out, 0, PAGE_SIZE);
  return out;
}

/** The bytes two pages agree on before the first that differs (PAGE_SIZE: equal). */
function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  while (i < PAGE_SIZE && a[i] === b[i]) i++;
  return i;
}

/** Every page's checksum and every pair's memcmp sign agree with the real bytes, and each compare
 * counts what memcmp() reads of them. */
function expectExact(procs: { p: Process; addr: number }[]): void {
  const pm = procs[0]!.p.machine.phys;
  const pages: { pfn: number; bytes: Uint8Array }[] = [];
  for (const { p, addr } of procs)
    for (let i = 0; i < PAGES; i++) {
      const bytes = p.read(addr + i * PAGE_SIZE, PAGE_SIZE); // faults swapped pages back in
      pages.push({ pfn: pfnAt(p, addr + i * PAGE_SIZE), bytes });
    }
  for (const x of pages) {
    expect(pm.calc_checksum(x.pfn)).toBe(kernelChecksum(x.bytes));
    expect(pm.isZeroFilled(x.pfn)).toBe(x.bytes.every((b) => b === 0));
  }
  for (let i = 0; i < pages.length; i += 5)
    for (let j = 0; j < pages.length; j += 3) {
      const x = pages[i]!;
      const y = pages[j]!;
      const before = procs[0]!.p.machine.counters.bytesCompared;
      expect(Math.sign(pm.memcmp_pages(x.pfn, y.pfn))).toBe(Math.sign(Buffer.compare(x.bytes, y.bytes)));
      expect(procs[0]!.p.machine.counters.bytesCompared - before).toBe(
        memcmpBytesRead(commonPrefix(x.bytes, y.bytes)),
      );
    }
}

describe('content-addressed frames under KSM', () => {
  it('patterns, interned, materialised and zero pages: exact through merge, COW, unmerge, swap and migration', () => {
    const { m, ksm } = world(256);
    const procs = ['a', 'b'].map((name) => {
      const p = new Process(m, name);
      const addr = p.mmap(null, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      fill(p, addr);
      p.madvise(addr, PAGES * PAGE_SIZE, MADV_MERGEABLE);
      return { p, addr };
    });
    const [a, b] = procs as [{ p: Process; addr: number }, { p: Process; addr: number }];
    expectExact(procs);
    const copied = m.counters.pagesCopied;

    // Merge: equal contents of every kind become KSM pages.
    ksm.converge();
    expect(ksm.pages_shared).toBeGreaterThan(10);
    expect(ksm.pages_sharing).toBeGreaterThan(ksm.pages_shared);
    expect(m.counters.pagesCopied).toBe(copied);
    checkAll(m, ksm);
    expectExact(procs);

    // COW of a KSM page by a write: a new reference, then a private page for that one write.
    const slots = m.phys.slotsInUse;
    a.p.writeByte(a.addr, 0xee);
    expect(m.phys.slotsInUse).toBe(slots + 1);
    expectExact(procs);

    // Unmerge: every sharer gets a page of its own, by reference (no slot added).
    const before = m.phys.slotsInUse;
    b.p.madvise(b.addr, PAGES * PAGE_SIZE, MADV_UNMERGEABLE);
    for (let i = 0; i < PAGES; i++) expect(m.phys.PageKsm(pfnAt(b.p, b.addr + i * PAGE_SIZE))).toBe(false);
    expect(m.phys.slotsInUse).toBe(before);
    checkAll(m, ksm);
    expectExact(procs);

    // Swap out and back in (expectExact reads every page).
    a.p.madvise(a.addr, PAGES * PAGE_SIZE, MADV_PAGEOUT);
    expect(m.swap.inuse).toBeGreaterThan(0);
    checkAll(m, ksm);
    expectExact(procs);

    // Merge again, then migrate a KSM page and an ordinary one.
    b.p.madvise(b.addr, PAGES * PAGE_SIZE, MADV_MERGEABLE);
    ksm.converge();
    checkAll(m, ksm);
    const kpage = pfnAt(b.p, b.addr + PAGE_SIZE);
    expect(m.phys.PageKsm(kpage)).toBe(true);
    expect(migrate_folio(m, kpage)).not.toBe(0);
    expect(migrate_folio(m, pfnAt(a.p, a.addr))).not.toBe(0);
    checkAll(m, ksm);
    expectExact(procs);
  });

  it('digest pages merge by identity, keep their checksum, and report that they hold no bytes', () => {
    const { m, ksm } = world(64);
    const c = m.phys.contents;
    const digest = (k: number) => new Uint8Array(DIGEST_BYTES).fill(k + 1);
    // Four digests with made-up checksums and memcmp ranks, as a snapshot would give them.
    const ids = [0, 1, 2, 3].map((k) => c.internDigest(digest(k), 0x1000 + k, k));
    const procs = ['a', 'b'].map((name) => {
      const p = new Process(m, name);
      const addr = p.mmap(null, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
      for (let i = 0; i < 16; i++) p.writeContent(addr + i * PAGE_SIZE, ids[i % 4]!);
      p.madvise(addr, 16 * PAGE_SIZE, MADV_MERGEABLE);
      return { p, addr };
    });
    ksm.converge();
    expect([ksm.pages_shared, ksm.pages_sharing]).toEqual([4, 28]);
    checkAll(m, ksm);
    const { p, addr } = procs[0]!;
    const pfn = pfnAt(p, addr + 2 * PAGE_SIZE);
    expect(m.phys.calc_checksum(pfn)).toBe(0x1002);
    expect(m.phys.hasBytes(pfn)).toBe(false);
    // Unmerge and swap keep references: the checksums stay the snapshot's.
    p.madvise(addr, 16 * PAGE_SIZE, MADV_UNMERGEABLE);
    p.madvise(addr, 16 * PAGE_SIZE, MADV_PAGEOUT);
    p.touch(addr + 3 * PAGE_SIZE);
    expect(m.phys.calc_checksum(pfnAt(p, addr + 3 * PAGE_SIZE))).toBe(0x1003);
    checkAll(m, ksm);
  });
});
