// The follow_page/GUP loops the walk benchmark times: every page handled, every reference taken
// released, the counters exactly what one lookup per page costs.
import { KERNEL_PROFILES, type KernelVersion, PAGE_SIZE } from '@mmsim/core';
import { FOLL_WRITE } from '@mmsim/gup';
import { Process } from '@mmsim/mm';
import {
  checkMmInvariants,
  MAP_ANONYMOUS,
  MAP_POPULATE,
  MAP_PRIVATE,
  Machine,
  PROT_READ,
  PROT_WRITE,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { benchFollowPage, benchGup, type GupBenchKind } from '../src/gup-loops.ts';

const PROFILES: KernelVersion[] = ['6.0', '6.1', '6.2', '6.18'];
const KINDS: GupBenchKind[] = [
  'get_user_pages',
  'pin_user_pages',
  'get_user_pages_fast',
  'pin_user_pages_fast',
];
/** Three PMDs' worth of 4 KiB pages, populated. */
const PAGES = 1536;
/** The batch the kernel's callers use at most. */
const BATCH = 512;

describe('benchmark loops', () => {
  it.each(PROFILES)(
    '%s: benchFollowPage and benchGup handle every page, balance references, count exactly',
    (prof) => {
      const m = new Machine({ memoryMiB: 256 });
      const p = new Process(m, 'p');
      const a = p.mmap(
        null,
        PAGES * PAGE_SIZE,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
      );
      const vma = p.mm.vma_lookup(a)!;
      let before = m.counters.snapshot();
      expect(benchFollowPage(vma, a, PAGES, 0, KERNEL_PROFILES[prof])).toBe(PAGES);
      expect(m.counters.since(before)).toMatchObject({
        followPage: PAGES,
        pteRead: PAGES,
        ptlLock: PAGES,
        pageGet: PAGES,
        pagePut: PAGES,
      });
      expect(p.mm.mmapLocked).toBeNull();
      const pages = new Int32Array(BATCH);
      for (const kind of KINDS) {
        before = m.counters.snapshot();
        expect(benchGup(kind, p.mm, a, PAGES, BATCH, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(PAGES);
        const d = m.counters.since(before);
        expect(d.followPage).toBe(kind.endsWith('fast') ? 0 : PAGES);
        expect(d.pageGet).toBe(d.pagePut);
        expect(d.faults).toBe(0);
        checkMmInvariants(m);
      }
    },
  );
});
