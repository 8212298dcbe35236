// Properties: follow_page()/follow_page_mask() answer, for every page-table state a process can
// reach (none, zero page, anon pages exclusive or shared with a child, swap and migration
// entries, PROT_NONE, read-only, PFN maps, THPs and the huge zero page) and every flag set and
// version, what a naive table read says the kernel's rules give — and take exactly the
// reference or pin they report. A second property compares follow_page() with folio_walk
// (@mmsim/pagewalk, a dev dependency: an import that breaks fails this file, it never skips).

import {
  EEXIST,
  EFAULT,
  EMLINK,
  KERNEL_PROFILES,
  type KernelVersion,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import type { Process } from '@mmsim/mm';
import {
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_UFFD_WP,
  checkMmInvariants,
  E,
  entry_pfn,
  GUP_PIN_COUNTING_BIAS,
  is_cow_mapping,
  is_migration_entry,
  MADV_DONTNEED,
  MADV_PAGEOUT,
  type Machine,
  migrate_folio_start,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  pmd_index,
  pte_index,
  readEntry,
  swp_offset,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_SHARED,
  VM_SOFTDIRTY,
  VM_UFFD_WP,
  VM_WRITE,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { FolioWalk, FW_ZEROPAGE, folio_walk_end, folio_walk_start } from '@mmsim/pagewalk';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_MIGRATION,
  FOLL_NUMA,
  FOLL_PIN,
  FOLL_REMOTE,
  FOLL_TOUCH,
  FOLL_WRITE,
  follow_page,
  follow_page_mask,
  unpin_user_page,
} from '../src/index.ts';
import { anon, installWarnGuard, mapRawPfn, setup, shared, thpRegion } from './helpers.ts';

installWarnGuard();

const N = 12;

type Op =
  | { k: 'write'; i: number; v: number }
  | { k: 'read'; i: number }
  | { k: 'fork' }
  | { k: 'childWrite'; i: number }
  | { k: 'childExit' }
  | { k: 'pageout'; i: number }
  | { k: 'dontneed'; i: number }
  | { k: 'migrate'; i: number }
  | { k: 'prot'; i: number; prot: number }
  | { k: 'raw'; i: number }
  | { k: 'thp'; write: boolean }
  | { k: 'uffd'; i: number }
  | { k: 'softdirty'; i: number };

const idx = fc.integer({ min: 0, max: N - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({ k: fc.constant('write' as const), i: idx, v: fc.integer({ min: 1, max: 255 }) }),
    weight: 6,
  },
  { arbitrary: fc.record({ k: fc.constant('read' as const), i: idx }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('fork' as const) }), weight: 3 },
  { arbitrary: fc.record({ k: fc.constant('childWrite' as const), i: idx }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('childExit' as const) }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('pageout' as const), i: idx }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('dontneed' as const), i: idx }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('migrate' as const), i: idx }), weight: 3 },
  {
    arbitrary: fc.record({
      k: fc.constant('prot' as const),
      i: idx,
      prot: fc.constantFrom(PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ k: fc.constant('raw' as const), i: idx }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('thp' as const), write: fc.boolean() }), weight: 2 },
  { arbitrary: fc.record({ k: fc.constant('uffd' as const), i: idx }), weight: 1 },
  { arbitrary: fc.record({ k: fc.constant('softdirty' as const), i: idx }), weight: 1 },
);

const FLAG_POOL = [
  FOLL_GET,
  FOLL_PIN,
  FOLL_WRITE,
  FOLL_FORCE,
  FOLL_DUMP,
  FOLL_TOUCH,
  FOLL_MIGRATION,
  FOLL_NUMA,
  FOLL_LONGTERM,
  FOLL_REMOTE,
];
const flagsArb = fc.subarray(FLAG_POOL).map((fs) => {
  let f = 0;
  for (const x of fs) f |= x;
  if ((f & FOLL_GET) !== 0) f &= ~FOLL_PIN; // GET|PIN is a WARN + -EINVAL, tested elsewhere
  return f;
});

interface Query {
  where: 'small' | 'thp' | 'shared';
  i: number;
  flags: number;
  profile: KernelVersion;
  api: 'follow_page' | 'follow_page_mask';
}

const queryArb: fc.Arbitrary<Query> = fc.record({
  where: fc.constantFrom(
    'small' as const,
    'small' as const,
    'small' as const,
    'thp' as const,
    'shared' as const,
  ),
  i: fc.integer({ min: 0, max: N - 1 }),
  flags: flagsArb,
  profile: fc.constantFrom<KernelVersion>('6.0', '6.1', '6.2', '6.18'),
  api: fc.constantFrom('follow_page' as const, 'follow_page_mask' as const),
});

interface World {
  m: Machine;
  p: Process;
  child: Process | null;
  small: number;
  thp: number;
  shm: number;
  raw: Set<number>;
}

/** A world: N small pages (all written first when `populate`), a THP region, a shared region,
 * then the ops. */
function build(ops: Op[], populate: boolean): World {
  const { m, p } = setup({ memoryMiB: 64 });
  const w: World = {
    m,
    p,
    child: null,
    small: anon(p, N),
    thp: thpRegion(p, 1),
    shm: shared(p, 2),
    raw: new Set(),
  };
  if (populate) for (let i = 0; i < N; i++) p.writeByte(w.small + i * PAGE_SIZE, i + 1);
  for (const op of ops) apply(w, op);
  return w;
}

const opsArb = fc.array(opArb, { minLength: 4, maxLength: 60 });

function pteSlot(p: Process, addr: number): { t: number; o: number } | null {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return null;
  return { t, o: p.machine.phys.tableBase(t) + pte_index(addr) * 2 };
}

function apply(w: World, op: Op): void {
  const { m, p } = w;
  const pm = m.phys;
  const addr = 'i' in op ? w.small + op.i * PAGE_SIZE : 0;
  try {
    switch (op.k) {
      case 'write':
        w.raw.delete(addr);
        p.writeByte(addr, op.v);
        return;
      case 'read':
        p.readByte(addr);
        return;
      case 'fork':
        if (w.child === null) w.child = p.fork('c');
        return;
      case 'childWrite':
        if (w.child !== null) {
          w.child.writeByte(addr, 0x5c);
          w.raw.delete(addr);
        }
        return;
      case 'childExit':
        if (w.child !== null) {
          clearRaw(w, w.child);
          w.child.exit();
          w.child = null;
        }
        return;
      case 'pageout':
        p.madvise(addr, PAGE_SIZE, MADV_PAGEOUT);
        return;
      case 'dontneed':
        p.madvise(addr, PAGE_SIZE, MADV_DONTNEED);
        w.raw.delete(addr);
        return;
      case 'migrate': {
        const s = pteSlot(p, addr);
        if (s === null) return;
        const words = pm.tableWords(s.t);
        const lo = words[s.o];
        if ((lo & _PAGE_PRESENT) === 0 || (lo & _PAGE_SPECIAL) !== 0) return;
        const pfn = entry_pfn(lo, words[s.o + 1]);
        if (pm.is_zero_pfn(pfn) || !pm.PageAnon(pfn) || m.migrations.has(pfn)) return;
        migrate_folio_start(m, pfn);
        return;
      }
      case 'prot':
        p.mprotect(addr, PAGE_SIZE, op.prot);
        return;
      case 'raw': {
        // A PFN map entry: only over a none PTE (as a driver would insert it).
        const s = pteSlot(p, addr);
        if (s === null) return;
        const words = pm.tableWords(s.t);
        if (words[s.o] !== 0 || words[s.o + 1] !== 0) return;
        mapRawPfn(p, addr);
        w.raw.add(addr);
        return;
      }
      case 'thp':
        if (op.write) p.writeByte(w.thp + 3 * PAGE_SIZE, 1);
        else p.readByte(w.thp);
        return;
      case 'uffd': {
        // Write-protect the PTE for userfaultfd (the VMA gets VM_UFFD_WP).
        const s = pteSlot(p, addr);
        if (s === null) return;
        const words = pm.tableWords(s.t);
        if ((words[s.o] & _PAGE_PRESENT) === 0) return;
        p.mm.vma_lookup(addr)!.vm_flags |= VM_UFFD_WP;
        words[s.o] = ((words[s.o] & ~_PAGE_RW) | _PAGE_UFFD_WP) >>> 0;
        return;
      }
      case 'softdirty': {
        // clear_refs 4: soft-dirty tracking on, the PTE clean and write-protected.
        const s = pteSlot(p, addr);
        if (s === null) return;
        const words = pm.tableWords(s.t);
        if ((words[s.o] & _PAGE_PRESENT) === 0) return;
        p.mm.vma_lookup(addr)!.vm_flags &= ~VM_SOFTDIRTY;
        words[s.o] = (words[s.o] & ~(_PAGE_RW | _PAGE_SOFT_DIRTY)) >>> 0;
        return;
      }
    }
  } catch (e) {
    // Accesses to PROT_NONE / read-only memory fail as they would in a process.
    if (!(e instanceof Error) || e.name !== 'ErrnoError') throw e;
  }
}

/** PFN-map entries must go before their process exits (zap would treat them as pages). */
function clearRaw(w: World, proc: Process): void {
  for (const addr of w.raw) {
    const s = pteSlot(proc, addr);
    if (s === null) continue;
    const words = proc.machine.phys.tableWords(s.t);
    if (
      (words[s.o] & _PAGE_SPECIAL) !== 0 &&
      !proc.machine.phys.is_zero_pfn(entry_pfn(words[s.o], words[s.o + 1]))
    ) {
      words[s.o] = 0;
      words[s.o + 1] = 0;
    }
  }
}

// ---- the naive model -----------------------------------------------------------------------

type Expect = { kind: 'value'; value: number } | { kind: 'wait'; pfn: number };

function protnoneFollowed(flags: number, profile: KernelVersion): boolean {
  if (profile === '6.0') return (flags & FOLL_NUMA) === 0;
  if (profile === '6.18') return true; // follow_page never honors NUMA faults; PROT_NONE VMAs are inaccessible
  return (flags & FOLL_FORCE) !== 0;
}

function forceWriteOk(m: Machine, vma: VmAreaStruct, lo: number, page: number): boolean {
  const f = vma.vm_flags;
  if ((f & (VM_SHARED | VM_MAYSHARE)) !== 0 || (f & VM_MAYWRITE) === 0 || (f & VM_WRITE) !== 0) return false;
  if (page === 0 || !m.phys.PageAnon(page) || !m.phys.PageAnonExclusive(page)) return false;
  if ((f & VM_SOFTDIRTY) === 0 && (lo & _PAGE_SOFT_DIRTY) === 0) return false;
  return !((f & VM_UFFD_WP) !== 0 && (lo & _PAGE_UFFD_WP) !== 0);
}

function unshareNeeded(
  m: Machine,
  vma: VmAreaStruct,
  flags: number,
  page: number,
  profile: KernelVersion,
): boolean {
  if ((flags & FOLL_PIN) === 0 || (flags & FOLL_WRITE) !== 0) return false;
  if (m.phys.PageAnon(page)) return !m.phys.PageAnonExclusive(page);
  return (
    profile !== '6.0' && profile !== '6.1' && (flags & FOLL_LONGTERM) !== 0 && is_cow_mapping(vma.vm_flags)
  );
}

function naive(w: World, p: Process, addr: number, q: Query): Expect {
  const m = w.m;
  const pm = m.phys;
  const flags = q.flags;
  const val = (value: number): Expect => ({ kind: 'value', value });
  if (q.api === 'follow_page' && (flags & FOLL_PIN) !== 0) return val(0);
  const vma = p.mm.vma_lookup(addr)!;
  const hole = val((flags & FOLL_DUMP) !== 0 && vma.shmem === null ? -EFAULT : 0);
  const pmdT = p.mm.find_pmd_table(addr);
  if (pmdT === 0) return hole;
  readEntry(pm, pmdT, pmd_index(addr));
  let lo = E.lo;
  let hi = E.hi;
  if (lo === 0 && hi === 0) return hole;
  const protnone = (l: number) => (l & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;
  if ((lo & _PAGE_PSE) !== 0) {
    if (protnone(lo) && !protnoneFollowed(flags, q.profile)) return hole;
    const head = entry_pfn(lo, hi);
    const hz = pm.is_huge_zero_pfn(head);
    if ((flags & FOLL_WRITE) !== 0 && (lo & _PAGE_RW) === 0) {
      if ((flags & FOLL_FORCE) === 0 || !forceWriteOk(m, vma, lo, hz ? 0 : head)) return val(0);
    }
    if ((flags & FOLL_DUMP) !== 0 && hz) return val(-EFAULT);
    if ((lo & _PAGE_RW) === 0 && unshareNeeded(m, vma, flags, head, q.profile)) return val(-EMLINK);
    return val(head + Math.floor((addr % PMD_SIZE) / PAGE_SIZE));
  }
  readEntry(pm, entry_pfn(lo, hi), pte_index(addr));
  lo = E.lo;
  hi = E.hi;
  if (lo === 0 && hi === 0) return hole;
  if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0) {
    if (
      (q.profile === '6.0' || q.profile === '6.1') &&
      (flags & FOLL_MIGRATION) !== 0 &&
      is_migration_entry(lo, hi)
    )
      return { kind: 'wait', pfn: swp_offset(lo, hi) };
    return val(0);
  }
  if (protnone(lo) && !protnoneFollowed(flags, q.profile)) return val(0);
  const pfn = entry_pfn(lo, hi);
  const normal = (lo & _PAGE_SPECIAL) === 0 && !pm.is_zero_pfn(pfn);
  if ((flags & FOLL_WRITE) !== 0 && (lo & _PAGE_RW) === 0) {
    if ((flags & FOLL_FORCE) === 0 || !forceWriteOk(m, vma, lo, normal ? pfn : 0)) return val(0);
  }
  if (!normal) {
    if ((flags & FOLL_DUMP) !== 0) return val(-EFAULT);
    if (!pm.is_zero_pfn(pfn)) return val(-EEXIST);
    // The zero page goes on as the page: a R/O long-term pin may still have to unshare it.
  }
  if ((lo & _PAGE_RW) === 0 && unshareNeeded(m, vma, flags, pfn, q.profile)) return val(-EMLINK);
  return val(pfn);
}

function queryAddr(w: World, q: Query): number {
  if (q.where === 'thp') return w.thp + q.i * 37 * PAGE_SIZE;
  if (q.where === 'shared') return w.shm + (q.i % 2) * PAGE_SIZE;
  return w.small + q.i * PAGE_SIZE;
}

/** The reference a successful lookup must have taken on `page`'s folio. */
function expectedRefDelta(m: Machine, page: number, flags: number, profile: KernelVersion): number {
  const pm = m.phys;
  if ((flags & FOLL_GET) !== 0) return 1;
  if ((flags & FOLL_PIN) === 0) return 0;
  if (pm.is_zero_pfn(page)) return profile === '6.18' ? 0 : GUP_PIN_COUNTING_BIAS;
  return pm.folio_test_large(pm.folio(page)) ? 1 : GUP_PIN_COUNTING_BIAS;
}

function runQuery(w: World, q: Query, who: Process): void {
  const m = w.m;
  const pm = m.phys;
  const addr = queryAddr(w, q);
  const vma = who.mm.vma_lookup(addr)!;
  const kind = stateKind(w, who, addr);
  let want = naive(w, who, addr, q);
  const waits = want.kind === 'wait';
  const ctx = { page_mask: 0 };
  const got =
    q.api === 'follow_page'
      ? follow_page(vma, addr, q.flags, KERNEL_PROFILES[q.profile])
      : follow_page_mask(vma, addr, q.flags, ctx, KERNEL_PROFILES[q.profile]);
  if (want.kind === 'wait') {
    // follow_page waited: the migration is done and the lookup saw the new page.
    expect(m.migrations.has(want.pfn)).toBe(false);
    want = naive(w, who, addr, q);
    expect(want.kind).toBe('value');
  }
  const value = want.kind === 'value' ? want.value : Number.NaN;
  const outcome = waits ? 'waited' : got > 0 ? 'page' : String(got);
  COVERAGE.set(`${kind}:${outcome}`, (COVERAGE.get(`${kind}:${outcome}`) ?? 0) + 1);
  expect(got, `${q.api}(${q.where}[${q.i}], 0x${q.flags.toString(16)}, ${q.profile})`).toBe(value);
  if (got > 0) {
    const folio = pm.folio(got);
    const delta = expectedRefDelta(m, got, q.flags, q.profile);
    // Releasing what the lookup says it took must drop exactly that (the checker catches any
    // reference taken beyond it).
    const rc = pm.refcount[folio];
    if ((q.flags & FOLL_GET) !== 0) pm.put_page(got);
    else if ((q.flags & FOLL_PIN) !== 0) unpin_user_page(pm, got);
    expect(rc - pm.refcount[folio]).toBe(delta);
    if (q.api === 'follow_page_mask')
      expect(ctx.page_mask).toBe(kind === 'thp' || kind === 'hugezero' ? 511 : 0);
  }
}

/** How often each (state, outcome) pair was checked: printed once, to show what was covered. */
const COVERAGE: Map<string, number> = new Map();

/** The kind of entry mapping addr: what the property's coverage line counts. */
function stateKind(w: World, p: Process, addr: number): string {
  const pm = w.m.phys;
  const pmdT = p.mm.find_pmd_table(addr);
  if (pmdT === 0) return 'nopmd';
  readEntry(pm, pmdT, pmd_index(addr));
  if (E.lo === 0 && E.hi === 0) return 'pmdnone';
  if ((E.lo & _PAGE_PSE) !== 0) return pm.is_huge_zero_pfn(entry_pfn(E.lo, E.hi)) ? 'hugezero' : 'thp';
  readEntry(pm, entry_pfn(E.lo, E.hi), pte_index(addr));
  const lo = E.lo;
  if (lo === 0 && E.hi === 0) return 'none';
  if ((lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === 0)
    return is_migration_entry(lo, E.hi) ? 'migration' : 'swap';
  if ((lo & _PAGE_PRESENT) === 0) return 'protnone';
  const pfn = entry_pfn(lo, E.hi);
  if (pm.is_zero_pfn(pfn)) return 'zero';
  if ((lo & _PAGE_SPECIAL) !== 0) return 'raw';
  return (pm.PageAnonExclusive(pfn) ? 'excl' : 'shared') + ((lo & _PAGE_RW) !== 0 ? '-rw' : '-ro');
}

afterAll(() => {
  const parts = [...COVERAGE.entries()].sort().map(([k, n]) => `${k}=${n}`);
  console.log(`[gup] follow_page property coverage (state:outcome=checks): ${parts.join(' ')}`);
});

describe('follow_page matches a naive page-table read', () => {
  it('for random states, flags and versions', () => {
    fc.assert(
      fc.property(
        opsArb,
        fc.array(queryArb, { minLength: 8, maxLength: 40 }),
        fc.boolean(),
        fc.boolean(),
        (ops, queries, inChild, populate) => {
          const w = build(ops, populate);
          for (const q of queries) runQuery(w, q, inChild && w.child !== null ? w.child : w.p);
          checkMmInvariants(w.m);
          clearRaw(w, w.p);
          if (w.child !== null) {
            clearRaw(w, w.child);
            w.child.exit();
          }
          w.p.exit();
          checkMmInvariants(w.m);
        },
      ),
      { numRuns: 300 },
    );
  });
});

// ---- folio_walk (6.12+, @mmsim/pagewalk) against follow_page ---------------------------------

describe('folio_walk answers as follow_page (6.12 "replace follow_page() by folio_walk")', () => {
  it('for random states: the same page where follow_page returns one, nothing where it does not', () => {
    fc.assert(
      fc.property(
        opsArb,
        fc.array(fc.record({ where: queryArb.map((q) => q.where), i: idx, zero: fc.boolean() }), {
          minLength: 4,
          maxLength: 24,
        }),
        fc.boolean(),
        (ops, qs, populate) => {
          const w = build(ops, populate);
          const pm = w.m.phys;
          w.p.mm.mmap_read_lock();
          for (const q of qs) {
            const addr = queryAddr(w, {
              where: q.where,
              i: q.i,
              flags: 0,
              profile: '6.18',
              api: 'follow_page',
            });
            const vma = w.p.mm.vma_lookup(addr)!;
            const fp = follow_page(vma, addr, 0, KERNEL_PROFILES['6.18']);
            const fw = new FolioWalk();
            const folio = folio_walk_start(fw, vma, addr, q.zero ? FW_ZEROPAGE : 0);
            const zero = fp > 0 && (pm.is_zero_pfn(fp) || pm.is_huge_zero_pfn(fp));
            if (fp > 0 && (!zero || q.zero)) {
              expect(folio).toBe(pm.folio(fp));
              // fw.page is the page itself, except for the zero pages (no struct page exposed).
              expect(fw.page).toBe(zero ? 0 : fp);
            } else expect(folio).toBe(0);
            if (folio !== 0) folio_walk_end(fw, vma);
          }
          w.p.mm.mmap_read_unlock();
          checkMmInvariants(w.m);
          clearRaw(w, w.p);
          if (w.child !== null) {
            clearRaw(w, w.child);
            w.child.exit();
          }
          w.p.exit();
        },
      ),
      { numRuns: 150 },
    );
  });
});
