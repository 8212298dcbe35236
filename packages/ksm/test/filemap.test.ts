import { KERNEL_PROFILES, PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  filemap_open,
  MADV_MERGEABLE,
  MAP_PRIVATE,
  Machine,
  MM_ANONPAGES,
  MM_FILEPAGES,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { emptyKsmdWork, Ksm, KsmdThread, PR_SET_MEMORY_MERGE } from '../src/index.ts';
import { checkAll, world } from './helpers.ts';

const PAGES = 32;
const COPIED = 8;

/** Two processes mapping one file privately, MADV_MERGEABLE: all of it read, its first COPIED pages
 * written with the same byte (anonymous copies, identical across the two). */
function filePair(m: Machine): Process[] {
  const f = filemap_open(m, 'app', PAGES, () => m.phys.contents.patternByte(0x42));
  return ['a', 'b'].map((name) => {
    const p = new Process(m, name);
    const a = p.mmap(null, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, { file: f, pgoff: 0 });
    p.madvise(a, PAGES * PAGE_SIZE, MADV_MERGEABLE);
    for (let i = 0; i < PAGES; i++) p.readByte(a + i * PAGE_SIZE);
    for (let i = 0; i < COPIED; i++) p.writeByte(a + i * PAGE_SIZE + 1, 7);
    return p;
  });
}

describe('KSM on private file mappings', () => {
  it('merges the anonymous COW copies and passes over the page-cache pages, counting them', () => {
    const { m, ksm } = world();
    const [a, b] = filePair(m);
    expect(a!.mm.rss[MM_FILEPAGES]).toBe(PAGES - COPIED);
    expect(a!.mm.rss[MM_ANONPAGES]).toBe(COPIED);
    ksm.runFullScans(3);
    const c = ksm.counters();
    // 16 identical copies: one KSM page, 15 sharing it; page-cache pages get no rmap_item
    expect(c.pages_shared).toBe(1);
    expect(c.pages_sharing).toBe(2 * COPIED - 1);
    expect(ksm.rmap_items).toBe(2 * COPIED);
    expect(m.counters.ksmScanNonAnon).toBe(3 * 2 * (PAGES - COPIED));
    expect(b!.mm.rss[MM_FILEPAGES]).toBe(PAGES - COPIED);
    checkAll(m, ksm);
  });

  it('a private file VMA without anon_vma is not walked at all', () => {
    const { m, ksm } = world();
    const f = filemap_open(m, 'ro', PAGES, () => m.phys.contents.patternByte(1));
    const p = new Process(m, 'p');
    p.prctl(PR_SET_MEMORY_MERGE, 1);
    const a = p.mmap(null, PAGES * PAGE_SIZE, PROT_READ, MAP_PRIVATE, { file: f, pgoff: 0 });
    for (let i = 0; i < PAGES; i++) p.readByte(a + i * PAGE_SIZE);
    ksm.runFullScans(2);
    expect(m.counters.ksmScanNonAnon).toBe(0);
    expect(ksm.rmap_items).toBe(0);
    checkAll(m, ksm);
  });

  it('the follow_page scan (6.1) counts the page-cache pages it passes over too', () => {
    const m = new Machine({ memoryMiB: 256, kernel: KERNEL_PROFILES['6.1'] });
    const ksm = new Ksm(m);
    filePair(m);
    ksm.runFullScans(1);
    expect(m.counters.ksmScanNonAnon).toBe(2 * (PAGES - COPIED));
    checkAll(m, ksm);
  });

  it("charges ksmd's cost model for the page-cache pages its walk passes over (nonanon)", () => {
    const { m, ksm } = world();
    filePair(m);
    const t = new KsmdThread(ksm, { ns: { ...emptyKsmdWork(), nonanon: 100 }, hz: 250, wakeupLatencyNs: 0 });
    ksm.run = 1;
    t.runUntil(0);
    expect(t.work.nonanon).toBe(2 * (PAGES - COPIED));
    expect(t.cpuNs()).toBe(100 * 2 * (PAGES - COPIED));
    checkAll(m, ksm);
  });
});
