import { EFAULT, EINVAL, ENOMEM, ErrnoError, HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  E,
  entry_pfn,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  is_migration_entry,
  MADV_DONTNEED,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  MM_ANONPAGES,
  migrate_folio,
  migrate_folio_finish,
  migrate_folio_start,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  pte_write,
  readEntry,
  split_folio,
} from '@mmsim/mmu';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Process } from '../src/index.ts';
import { anon, check, pattern, setup } from './helpers.ts';

/** The PTE words for addr in p, or null when there is no PTE table. */
function pte(p: Process, addr: number): { lo: number; hi: number } | null {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return null;
  readEntry(p.machine.phys, t, pte_index(addr));
  return { lo: E.lo, hi: E.hi };
}

function pfnAt(p: Process, addr: number): number {
  const e = pte(p, addr);
  return e === null ? 0 : entry_pfn(e.lo, e.hi);
}

describe('anonymous faults', () => {
  it('maps the zero page on read and a private zeroed page on write', () => {
    const { m, p } = setup();
    const a = anon(p, 4);
    expect(p.readByte(a)).toBe(0);
    expect(pfnAt(p, a)).toBe(m.phys.zeroPfn);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    p.writeByte(a, 7);
    expect(pfnAt(p, a)).not.toBe(m.phys.zeroPfn);
    expect(p.readByte(a)).toBe(7);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.counters.faultZeroPage).toBe(1);
    expect(m.counters.faultWpCopy).toBe(1); // write to the zero page copies (wp_page_copy)
    check(m);
  });

  it('write to PROT_READ memory is EFAULT and read of PROT_NONE too', () => {
    const { m, p } = setup();
    const a = anon(p, 1, PROT_READ);
    expect(() => p.writeByte(a, 1)).toThrow(ErrnoError);
    const b = anon(p, 1, PROT_NONE);
    expect(() => p.readByte(b)).toThrowError(expect.objectContaining({ errno: EFAULT }));
    expect(() => p.readByte(0x1000)).toThrowError(expect.objectContaining({ code: 'EFAULT' }));
    check(m);
  });
});

describe('fork and COW', () => {
  it('keeps every process content through writes on both sides', () => {
    const { m, p } = setup();
    const n = 64;
    const a = anon(p, n);
    for (let i = 0; i < n; i++) p.writeByte(a + i * PAGE_SIZE, pattern(i, 1));
    const c = p.fork('c');
    check(m);
    expect(pfnAt(c, a)).toBe(pfnAt(p, a));
    expect(pte_write(pte(p, a)!.lo)).toBe(false);
    for (let i = 0; i < n; i += 2) c.writeByte(a + i * PAGE_SIZE, pattern(i, 2));
    for (let i = 1; i < n; i += 2) p.writeByte(a + i * PAGE_SIZE, pattern(i, 3));
    check(m);
    for (let i = 0; i < n; i++) {
      expect(p.readByte(a + i * PAGE_SIZE)).toBe(pattern(i, i % 2 === 0 ? 1 : 3));
      expect(c.readByte(a + i * PAGE_SIZE)).toBe(pattern(i, i % 2 === 0 ? 2 : 1));
    }
    // The last sharer of a page reuses it instead of copying (wp_can_reuse_anon_folio()):
    // the parent copied page 1, so the child's page 1 is its alone now.
    const copies = m.counters.faultWpCopy;
    const reuses = m.counters.faultWpReuse;
    c.writeByte(a + PAGE_SIZE, 9);
    p.writeByte(a + 2 * PAGE_SIZE, 9);
    expect(m.counters.faultWpCopy).toBe(copies);
    expect(m.counters.faultWpReuse).toBe(reuses + 2);
    c.exit();
    p.exit();
    check(m);
    expect(m.phys.nrUsed).toBe(1); // only the zero page is left
  });
});

describe('unshare vs write faults', () => {
  it('UNSHARE copies a shared page read-only, WRITE maps it writable and dirty', () => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 1);
    p.writeByte(a + PAGE_SIZE, 2);
    const c = p.fork('c');
    const vma = c.mm.vma_lookup(a)!;
    c.mm.mmap_read_lock();
    expect(handle_mm_fault(vma, a, FAULT_FLAG_UNSHARE)).toBe(0);
    expect(handle_mm_fault(vma, a + PAGE_SIZE, FAULT_FLAG_WRITE)).toBe(0);
    // UNSHARE together with WRITE is refused (sanitize_fault_flags()).
    expect(handle_mm_fault(vma, a, FAULT_FLAG_UNSHARE | FAULT_FLAG_WRITE)).toBe(0x40);
    c.mm.mmap_read_unlock();
    const u = pte(c, a)!;
    const w = pte(c, a + PAGE_SIZE)!;
    expect(entry_pfn(u.lo, u.hi)).not.toBe(pfnAt(p, a));
    expect(pte_write(u.lo)).toBe(false);
    expect(pte_write(w.lo)).toBe(true);
    expect(m.phys.PageAnonExclusive(entry_pfn(u.lo, u.hi))).toBe(true);
    expect(c.readByte(a)).toBe(1);
    check(m);
  });
});

describe('THP', () => {
  it('faults a PMD-order folio in a MADV_HUGEPAGE region, splits the PMD and keeps the contents', () => {
    const { m, p } = setup();
    const a = p.mmap(null, 2 * PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(a % PMD_SIZE).toBe(0);
    p.madvise(a, 2 * PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(a, 5);
    expect(m.vmstat.thp_fault_alloc).toBe(1);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(HPAGE_PMD_NR);
    for (let i = 0; i < HPAGE_PMD_NR; i += 37) p.writeByte(a + i * PAGE_SIZE + 3, pattern(i, 4));
    check(m);
    // A read of the second PMD maps the huge zero page.
    expect(p.readByte(a + PMD_SIZE)).toBe(0);
    // Partial DONTNEED splits the PMD; the rest stays.
    p.madvise(a + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
    expect(m.vmstat.thp_split_pmd).toBe(1);
    check(m);
    expect(p.readByte(a)).toBe(5);
    expect(p.readByte(a + PAGE_SIZE + 3)).toBe(0);
    for (let i = 37; i < HPAGE_PMD_NR; i += 37) expect(p.readByte(a + i * PAGE_SIZE + 3)).toBe(pattern(i, 4));
    // Fork shares the second (huge zero) PMD; writes fault a THP in each.
    const c = p.fork('c');
    c.writeByte(a + PMD_SIZE, 1);
    p.writeByte(a + PMD_SIZE + 1, 2);
    expect(c.readByte(a + PMD_SIZE + 1)).toBe(0);
    expect(p.readByte(a + PMD_SIZE)).toBe(0);
    // do_huge_zero_wp_pmd() (6.13+): the write replaced the huge zero page by a whole THP.
    expect(m.vmstat.thp_fault_alloc).toBe(3);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(2 * HPAGE_PMD_NR - 1);
    check(m);
  });

  it('split_folio turns a PTE-mapped THP into order-0 pages and frees unmapped ones', () => {
    const { m, p } = setup();
    const a = p.mmap(null, PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(a + 10 * PAGE_SIZE, 3);
    p.madvise(a, PAGE_SIZE, MADV_DONTNEED);
    const f = m.phys.folio(pfnAt(p, a + 10 * PAGE_SIZE));
    const used = m.phys.nrUsed;
    m.phys.get_page(f);
    expect(split_folio(m, f)).toBe(0);
    m.phys.put_page(f);
    // The unmapped subpage went back to the allocator, and so did the 510 zero-filled ones:
    // the split maps them to the shared zero page (RMP_USE_SHARED_ZEROPAGE, Linux 6.12+).
    expect(m.phys.nrUsed).toBe(used - 511);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.vmstat.thp_split_page).toBe(1);
    expect(p.readByte(a + 10 * PAGE_SIZE)).toBe(3);
    expect(m.phys.is_zero_pfn(pfnAt(p, a + 11 * PAGE_SIZE))).toBe(true);
    expect(p.readByte(a + 11 * PAGE_SIZE)).toBe(0);
    check(m);
  });
});

describe('swap', () => {
  it('without swap (swapMiB 0) MADV_PAGEOUT reclaims no anonymous page', () => {
    const m = new Machine({ memoryMiB: 64, swapMiB: 0 });
    const p = new Process(m, 'p');
    const a = anon(p, 16);
    for (let i = 0; i < 16; i++) p.writeByte(a + i * PAGE_SIZE, 1);
    p.madvise(a, 16 * PAGE_SIZE, MADV_PAGEOUT);
    expect(m.vmstat.pswpout).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(16);
    check(m);
  });

  it('MADV_PAGEOUT swaps pages out and faults bring the same bytes back', () => {
    const { m, p } = setup();
    const a = anon(p, 16);
    for (let i = 0; i < 16; i++) p.writeByte(a + i * PAGE_SIZE + 100, pattern(i, 5));
    p.madvise(a, 16 * PAGE_SIZE, MADV_PAGEOUT);
    expect(m.vmstat.pswpout).toBe(16);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    check(m);
    for (let i = 0; i < 16; i++) expect(p.readByte(a + i * PAGE_SIZE + 100)).toBe(pattern(i, 5));
    expect(m.vmstat.pswpin).toBe(16);
    expect(m.swap.inuse).toBe(0);
    check(m);
  });

  it('swap entries shared by fork are read once and shared', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 42);
    const c = p.fork('c');
    c.madvise(a, PAGE_SIZE, MADV_PAGEOUT); // shared page: not reclaimed
    expect(m.vmstat.pswpout).toBe(0);
    c.exit();
    p.madvise(a, PAGE_SIZE, MADV_PAGEOUT);
    expect(m.vmstat.pswpout).toBe(1);
    const d = p.fork('d');
    expect(d.readByte(a)).toBe(42);
    expect(p.readByte(a)).toBe(42);
    expect(pfnAt(d, a)).toBe(pfnAt(p, a));
    check(m);
  });
});

describe('migration', () => {
  it('installs migration entries and a fault waits for the move to finish', () => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 11);
    const c = p.fork('c');
    const old = pfnAt(p, a);
    const mig = migrate_folio_start(m, old)!;
    const e = pte(p, a)!;
    expect(is_migration_entry(e.lo, e.hi)).toBe(true);
    check(m);
    // A read meets the migration entry: migration_entry_wait() lets the migration finish.
    expect(c.readByte(a)).toBe(11);
    expect(mig.done).toBe(true);
    expect(pfnAt(p, a)).toBe(mig.dst);
    expect(pfnAt(c, a)).toBe(mig.dst);
    check(m);
    migrate_folio_finish(m, mig); // idempotent
    const moved = migrate_folio(m, mig.dst);
    expect(moved).not.toBe(0);
    expect(p.readByte(a)).toBe(11);
    check(m);
  });
});

describe('syscall argument errors', () => {
  it('returns the kernel errno for each bad argument', () => {
    const { m, p } = setup();
    const err = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return (e as ErrnoError).code;
      }
      return 'none';
    };
    expect(err(() => p.mmap(null, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS))).toBe('EINVAL');
    expect(err(() => p.mmap(null, 4096, PROT_READ, MAP_ANONYMOUS))).toBe('EINVAL');
    expect(err(() => p.mmap(null, 4096, PROT_READ, MAP_PRIVATE))).toBe('EBADF');
    expect(err(() => p.mmap(0x1001, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED))).toBe(
      'EINVAL',
    );
    expect(err(() => p.munmap(0x1001, 4096))).toBe('EINVAL');
    expect(err(() => p.munmap(0x1000, 0))).toBe('EINVAL');
    const a = anon(p, 4);
    expect(err(() => p.madvise(a + 1, 4096, MADV_DONTNEED))).toBe('EINVAL');
    expect(err(() => p.madvise(a, 4096, 999))).toBe('EINVAL');
    expect(err(() => p.madvise(a, 8 * PAGE_SIZE, MADV_DONTNEED))).toBe('ENOMEM');
    expect(err(() => p.mprotect(a, 8 * PAGE_SIZE, PROT_READ))).toBe('ENOMEM');
    expect(err(() => p.mprotect(a + 1, 4096, PROT_READ))).toBe('EINVAL');
    expect(err(() => p.prctl(12345))).toBe('EINVAL');
    const s = p.mmap(null, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS);
    expect(s).toBeGreaterThan(0);
    void EINVAL;
    void ENOMEM;
    check(m);
  });

  it('mprotect and munmap split VMAs and keep contents', () => {
    const { m, p } = setup();
    const a = anon(p, 8);
    for (let i = 0; i < 8; i++) p.writeByte(a + i * PAGE_SIZE, i + 1);
    p.mprotect(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ);
    expect(p.mm.vmas.length).toBe(3);
    expect(() => p.writeByte(a + 2 * PAGE_SIZE, 1)).toThrow(ErrnoError);
    p.mprotect(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE);
    expect(p.mm.vmas.length).toBe(1); // merged back
    p.writeByte(a + 2 * PAGE_SIZE, 33);
    p.munmap(a + 4 * PAGE_SIZE, PAGE_SIZE);
    expect(p.mm.vmas.length).toBe(2);
    expect(() => p.readByte(a + 4 * PAGE_SIZE)).toThrow(ErrnoError);
    expect(p.readByte(a + 5 * PAGE_SIZE)).toBe(6);
    expect(p.readByte(a + 2 * PAGE_SIZE)).toBe(33);
    p.munmap(a, 8 * PAGE_SIZE);
    check(m);
    expect(p.mm.nrPtes).toBe(1); // only the PGD is left
  });
});

describe('allocation failure', () => {
  it('leaves state consistent: the access fails with ENOMEM and nothing leaks', () => {
    const { m, p } = setup();
    const a = anon(p, 8);
    p.writeByte(a, 1);
    let calls = 0;
    m.phys.failAlloc = () => ++calls % 2 === 0;
    let failures = 0;
    for (let i = 1; i < 8; i++) {
      try {
        p.writeByte(a + i * PAGE_SIZE, i);
      } catch (e) {
        expect((e as ErrnoError).code).toBe('ENOMEM');
        failures++;
      }
      check(m);
    }
    expect(failures).toBeGreaterThan(0);
    m.phys.failAlloc = null;
    p.exit();
    check(m);
    expect(m.phys.nrUsed).toBe(1);
  });

  it('running out of frames is ENOMEM, not a crash', () => {
    const m = new Machine({ memoryMiB: 8, swapMiB: 0 });
    const p = new Process(m, 'p');
    const a = anon(p, 4096);
    expect(() => {
      for (let i = 0; i < 4096; i++) p.writeByte(a + i * PAGE_SIZE, 1);
    }).toThrowError(expect.objectContaining({ code: 'ENOMEM' }));
    check(m);
  });
});

describe('4-level and 5-level paging', () => {
  it('give identical contents and counters for the same workload', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('w' as const), page: fc.nat(63), v: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ k: fc.constant('r' as const), page: fc.nat(63) }),
      fc.record({ k: fc.constant('dontneed' as const), page: fc.nat(63), n: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ k: fc.constant('fork' as const) }),
      fc.record({ k: fc.constant('pageout' as const), page: fc.nat(63) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const run = (levels: 4 | 5) => {
          const m = new Machine({ memoryMiB: 64, levels });
          const procs = [new Process(m, 'p')];
          const a = anon(procs[0], 64);
          const out: number[] = [];
          for (const o of ops) {
            const p = procs[procs.length - 1];
            if (o.k === 'w') p.writeByte(a + o.page * PAGE_SIZE, o.v);
            else if (o.k === 'r') out.push(p.readByte(a + o.page * PAGE_SIZE));
            else if (o.k === 'dontneed')
              p.madvise(a + o.page * PAGE_SIZE, Math.min(o.n, 64 - o.page) * PAGE_SIZE, MADV_DONTNEED);
            else if (o.k === 'fork' && procs.length < 4) procs.push(p.fork());
            else if (o.k === 'pageout') p.madvise(a + o.page * PAGE_SIZE, PAGE_SIZE, MADV_PAGEOUT);
          }
          checkAll(m);
          for (const p of procs) for (let i = 0; i < 64; i++) out.push(p.readByte(a + i * PAGE_SIZE));
          const c = m.counters;
          return {
            out,
            rss: procs.map((p) => p.mm.rss[MM_ANONPAGES]),
            faults: c.faults,
            copies: c.pagesCopied,
            used: m.phys.nrUsed - m.phys.nrPageTables,
          };
        };
        expect(run(5)).toEqual(run(4));
      }),
      { numRuns: 60 },
    );
  });

  it('maps addresses above 47 bits only with 5 levels', () => {
    const m = new Machine({ memoryMiB: 64, levels: 5 });
    const p = new Process(m, 'p');
    const high = 2 ** 52;
    const a = p.mmap(high, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    p.writeByte(a, 9);
    expect(p.readByte(a)).toBe(9);
    expect(p.mm.nrPtes).toBe(5);
    check(m);
    const q = new Process(new Machine({ memoryMiB: 64 }), 'q');
    expect(() => q.mmap(high, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)).toThrowError(
      expect.objectContaining({ code: 'ENOMEM' }),
    );
  });
});

function checkAll(m: Machine): void {
  check(m);
}
