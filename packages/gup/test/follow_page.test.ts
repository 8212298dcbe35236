import {
  EBUSY,
  EEXIST,
  EFAULT,
  EINVAL,
  EMLINK,
  ENOMEM,
  HPAGE_PMD_NR,
  KERNEL_PROFILES,
  type KernelVersion,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_SOFT_DIRTY,
  _PAGE_UFFD_WP,
  entry_pfn,
  entryOut,
  GUP_PIN_COUNTING_BIAS,
  is_migration_entry,
  MADV_PAGEOUT,
  migrate_folio,
  migrate_folio_finish,
  migrate_folio_start,
  mk_swp_pte,
  PG_dirty,
  PG_referenced,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  pmd_leaf,
  pte_write,
  SWP_MIGRATION_READ,
  VM_SOFTDIRTY,
  VM_UFFD_WP,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  FOLL_DUMP,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_LONGTERM,
  FOLL_MIGRATION,
  FOLL_NUMA,
  FOLL_PIN,
  FOLL_SPLIT_PMD,
  FOLL_TOUCH,
  FOLL_WRITE,
  type FollowPageContext,
  follow_page,
  follow_page_mask,
  unpin_user_page,
} from '../src/index.ts';
import {
  anon,
  expectWarn,
  Held,
  installWarnGuard,
  mapRawPfn,
  pfnAt,
  pmd,
  pte,
  setPte,
  setup,
  shared,
  thpRegion,
  vmaAt,
} from './helpers.ts';

installWarnGuard();

const PROFILES: KernelVersion[] = ['6.0', '6.1', '6.2', '6.18'];
const OLD: KernelVersion[] = ['6.0', '6.1'];
const NEW: KernelVersion[] = ['6.2', '6.18'];

describe('follow_page: what is mapped', () => {
  it.each(PROFILES)('%s: an anon page, with a reference only under FOLL_GET', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = anon(p, 4);
    p.writeByte(a, 1);
    const vma = vmaAt(p, a);
    const pfn = pfnAt(p, a);
    expect(follow_page(vma, a, 0, KERNEL_PROFILES[prof])).toBe(pfn);
    expect(m.phys.page_count(pfn)).toBe(1);
    held.check();
    const got = follow_page(vma, a + 123, FOLL_GET, KERNEL_PROFILES[prof]);
    expect(got).toBe(pfn);
    held.add(got);
    expect(m.phys.page_count(pfn)).toBe(2);
    held.check();
    held.put(got);
    held.check();
  });

  it('counts one lookup, one read per level, one PTL round trip, one reference', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const before = m.counters.snapshot();
    const pfn = follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES['6.1']);
    expect(m.counters.since(before)).toMatchObject({
      followPage: 1,
      pgdRead: 1,
      p4dRead: 1,
      pudRead: 1,
      pmdRead: 1,
      pteRead: 1,
      ptlLock: 1,
      ptlUnlock: 1,
      pageGet: 1,
      faults: 0,
    });
    m.phys.put_page(pfn);
  });

  it('walks 5-level page tables too', () => {
    const { m, p } = setup({ levels: 5 });
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const before = m.counters.snapshot();
    expect(follow_page(vmaAt(p, a), a, 0)).toBe(pfnAt(p, a));
    expect(m.counters.since(before)).toMatchObject({
      pgdRead: 1,
      p4dRead: 1,
      pudRead: 1,
      pmdRead: 1,
      pteRead: 1,
    });
  });

  it.each(PROFILES)('%s: none entries and missing tables are NULL', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1024);
    const vma = vmaAt(p, a);
    expect(follow_page(vma, a, FOLL_GET, KERNEL_PROFILES[prof])).toBe(0); // no tables at all
    p.writeByte(a, 1);
    expect(follow_page(vma, a + PAGE_SIZE, FOLL_GET, KERNEL_PROFILES[prof])).toBe(0); // none PTE
    expect(follow_page(vma, a + 600 * PAGE_SIZE, FOLL_GET, KERNEL_PROFILES[prof])).toBe(0); // none PMD
    expect(m.counters.pageGet).toBe(0);
  });

  it.each(PROFILES)('%s: the zero page is returned (with a reference under FOLL_GET)', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.readByte(a);
    const z = m.phys.zeroPfn;
    expect(pfnAt(p, a)).toBe(z);
    const rc = m.phys.refcount[z];
    expect(follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES[prof])).toBe(z);
    expect(m.phys.refcount[z]).toBe(rc + 1);
    m.phys.put_page(z);
    expect(follow_page(vmaAt(p, a), a, 0, KERNEL_PROFILES[prof])).toBe(z);
    expect(m.phys.refcount[z]).toBe(rc);
  });

  it.each(PROFILES)('%s: a THP yields the subpage and page_mask; the head holds the reference', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const e = pmd(p, a)!;
    expect(pmd_leaf(e.lo)).toBe(true);
    const ctx: FollowPageContext = { page_mask: 0 };
    const before = m.counters.snapshot();
    const page = follow_page_mask(vmaAt(p, a), a + 37 * PAGE_SIZE + 5, FOLL_GET, ctx, KERNEL_PROFILES[prof]);
    const folio = m.phys.folio(page);
    expect(page).toBe(folio + 37);
    expect(m.phys.folio_test_large(folio)).toBe(true);
    expect(ctx.page_mask).toBe(HPAGE_PMD_NR - 1);
    // The PMD is read locklessly and again under the PMD lock.
    expect(m.counters.since(before)).toMatchObject({ pmdRead: 2, pteRead: 0, ptlLock: 1, ptlUnlock: 1 });
    held.add(page);
    held.check();
    held.put(page);
    held.check();
  });

  it.each(PROFILES)('%s: the huge zero page is returned for reads; FOLL_DUMP refuses it', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.readByte(a);
    const hz = m.phys.hugeZeroPfn;
    expect(hz).not.toBe(0);
    const vma = vmaAt(p, a);
    expect(follow_page(vma, a + 3 * PAGE_SIZE, 0, KERNEL_PROFILES[prof])).toBe(hz + 3);
    expect(follow_page(vma, a, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(follow_page(vma, a, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(0); // needs a write fault
  });

  it.each(PROFILES)(
    '%s: a present PTE without a struct page is -EEXIST; FOLL_TOUCH makes it young',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 2);
      p.writeByte(a, 1); // the PTE table
      mapRawPfn(p, a + PAGE_SIZE);
      const vma = vmaAt(p, a);
      const lo0 = pte(p, a + PAGE_SIZE)!.lo & ~_PAGE_ACCESSED;
      setPte(p, a + PAGE_SIZE, lo0, pte(p, a + PAGE_SIZE)!.hi);
      expect(follow_page(vma, a + PAGE_SIZE, FOLL_GET, KERNEL_PROFILES[prof])).toBe(-EEXIST);
      expect(pte(p, a + PAGE_SIZE)!.lo).toBe(lo0);
      expect(follow_page(vma, a + PAGE_SIZE, FOLL_GET | FOLL_TOUCH, KERNEL_PROFILES[prof])).toBe(-EEXIST);
      expect(pte(p, a + PAGE_SIZE)!.lo & (_PAGE_ACCESSED | _PAGE_DIRTY)).toBe(_PAGE_ACCESSED);
      expect(follow_page(vma, a + PAGE_SIZE, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT);
      expect(m.counters.pageGet).toBe(0);
    },
  );

  it.each(PROFILES)('%s: swap entries are NULL (GUP would fault them in)', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 9);
    p.madvise(a, PAGE_SIZE, MADV_PAGEOUT);
    const e = pte(p, a)!;
    expect(e.lo & 1).toBe(0);
    expect(e.lo !== 0 || e.hi !== 0).toBe(true);
    expect(follow_page(vmaAt(p, a), a, FOLL_GET | FOLL_MIGRATION | FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(0);
    new Held(m).check();
  });
});

describe('follow_page: flags', () => {
  it.each(PROFILES)(
    '%s: FOLL_PIN is refused (NULL); follow_page_mask() with FOLL_GET|FOLL_PIN is -EINVAL',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 1);
      const vma = vmaAt(p, a);
      expect(follow_page(vma, a, FOLL_PIN, KERNEL_PROFILES[prof])).toBe(0);
      expect(m.counters.followPage).toBe(0);
      const r = expectWarn(() =>
        follow_page_mask(vma, a, FOLL_GET | FOLL_PIN, { page_mask: 0 }, KERNEL_PROFILES[prof]),
      );
      expect(r).toBe(-EINVAL);
    },
  );

  it.each(PROFILES)('%s: FOLL_DUMP: holes in anonymous memory and the zero page are -EFAULT', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1024);
    const vma = vmaAt(p, a);
    expect(follow_page(vma, a, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT); // no tables
    p.readByte(a);
    expect(follow_page(vma, a, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT); // zero page
    expect(follow_page(vma, a + PAGE_SIZE, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT); // none PTE
    expect(follow_page(vma, a + 700 * PAGE_SIZE, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT); // none PMD
    p.writeByte(a + 2 * PAGE_SIZE, 1);
    expect(follow_page(vma, a + 2 * PAGE_SIZE, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(
      pfnAt(p, a + 2 * PAGE_SIZE),
    );
    // A shared (shmem) mapping has a fault handler: its holes are NULL, not errors.
    const s = shared(p, 2);
    expect(follow_page(vmaAt(p, s), s, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(0);
    void m;
  });

  it.each(PROFILES)('%s: FOLL_WRITE needs a writable PTE', (prof) => {
    const { p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 1);
    const c = p.fork('c');
    const vma = vmaAt(p, a);
    expect(pte_write(pte(p, a)!.lo)).toBe(false); // COW-shared after fork
    expect(follow_page(vma, a, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(0);
    expect(follow_page(vma, a, 0, KERNEL_PROFILES[prof])).toBe(pfnAt(p, a));
    p.writeByte(a + PAGE_SIZE, 2);
    expect(follow_page(vma, a + PAGE_SIZE, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(pfnAt(p, a + PAGE_SIZE));
    c.exit();
  });

  it.each(PROFILES)(
    '%s: FOLL_FORCE|FOLL_WRITE follows a R/O PTE only to an exclusive anon page of a R/O private mapping',
    (prof) => {
      const { p } = setup();
      const a = anon(p, 3, PROT_READ);
      const vma = vmaAt(p, a);
      p.readByte(a); // the zero page: not anon
      expect(follow_page(vma, a, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(0);
      // An exclusive anon page, R/O because the VMA is (as after a FOLL_FORCE COW).
      p.mprotect(a, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE);
      p.writeByte(a + PAGE_SIZE, 7);
      p.mprotect(a, 3 * PAGE_SIZE, PROT_READ);
      const pfn = pfnAt(p, a + PAGE_SIZE);
      expect(pte_write(pte(p, a + PAGE_SIZE)!.lo)).toBe(false);
      expect(follow_page(vma, a + PAGE_SIZE, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(0);
      expect(follow_page(vmaAt(p, a), a + PAGE_SIZE, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(
        pfn,
      );
      // Soft-dirty tracking on (VM_SOFTDIRTY cleared) and the PTE clean: a write fault is needed.
      const v = vmaAt(p, a);
      v.vm_flags &= ~VM_SOFTDIRTY;
      const e = pte(p, a + PAGE_SIZE)!;
      setPte(p, a + PAGE_SIZE, e.lo & ~_PAGE_SOFT_DIRTY, e.hi);
      expect(follow_page(v, a + PAGE_SIZE, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(0);
      setPte(p, a + PAGE_SIZE, e.lo | _PAGE_SOFT_DIRTY, e.hi);
      expect(follow_page(v, a + PAGE_SIZE, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(pfn);
      // uffd-wp protected: no.
      v.vm_flags |= VM_UFFD_WP;
      setPte(p, a + PAGE_SIZE, e.lo | _PAGE_SOFT_DIRTY | _PAGE_UFFD_WP, e.hi);
      expect(follow_page(v, a + PAGE_SIZE, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(0);
      v.vm_flags = (v.vm_flags & ~VM_UFFD_WP) | VM_SOFTDIRTY;
      setPte(p, a + PAGE_SIZE, e.lo, e.hi);
    },
  );

  it.each(PROFILES)('%s: FOLL_FORCE has no effect on shared mappings or writable ones', (prof) => {
    const { p } = setup();
    const s = shared(p, 1, PROT_READ | PROT_WRITE);
    p.writeByte(s, 1);
    p.mprotect(s, PAGE_SIZE, PROT_READ);
    expect(follow_page(vmaAt(p, s), s, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(0);
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const c = p.fork('c'); // R/O now, VM_WRITE set: a write fault is needed, not FOLL_FORCE
    expect(follow_page(vmaAt(p, a), a, FOLL_WRITE | FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(0);
    c.exit();
  });

  it.each(PROFILES)(
    '%s: FOLL_TOUCH marks the page accessed, and dirty for a write to a clean PTE',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 1);
      const pfn = pfnAt(p, a);
      const pm = m.phys;
      pm.flags[pfn] &= ~(PG_referenced | PG_dirty);
      follow_page(vmaAt(p, a), a, 0, KERNEL_PROFILES[prof]);
      expect(pm.flags[pfn] & PG_referenced).toBe(0);
      follow_page(vmaAt(p, a), a, FOLL_TOUCH, KERNEL_PROFILES[prof]);
      expect(pm.flags[pfn] & (PG_referenced | PG_dirty)).toBe(PG_referenced);
      // The PTE is dirty: the page need not be.
      follow_page(vmaAt(p, a), a, FOLL_TOUCH | FOLL_WRITE, KERNEL_PROFILES[prof]);
      expect(pm.flags[pfn] & PG_dirty).toBe(0);
      const e = pte(p, a)!;
      setPte(p, a, e.lo & ~_PAGE_DIRTY, e.hi);
      follow_page(vmaAt(p, a), a, FOLL_TOUCH | FOLL_WRITE, KERNEL_PROFILES[prof]);
      expect(pm.flags[pfn] & PG_dirty).toBe(PG_dirty);
    },
  );

  it.each(PROFILES)('%s: FOLL_TOUCH on a THP makes the PMD young, and dirty for writes', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const t = p.mm.find_pmd_table(a);
    const e = pmd(p, a)!;
    setPmdRaw(p, t, a, e.lo & ~(_PAGE_ACCESSED | _PAGE_DIRTY), e.hi);
    const page = follow_page(vmaAt(p, a), a, FOLL_TOUCH, KERNEL_PROFILES[prof]);
    expect(pmd(p, a)!.lo & (_PAGE_ACCESSED | _PAGE_DIRTY)).toBe(_PAGE_ACCESSED);
    follow_page(vmaAt(p, a), a, FOLL_TOUCH | FOLL_WRITE, KERNEL_PROFILES[prof]);
    expect(pmd(p, a)!.lo & (_PAGE_ACCESSED | _PAGE_DIRTY)).toBe(_PAGE_ACCESSED | _PAGE_DIRTY);
    expect(page).toBe(m.phys.folio(page));
  });

  it.each(PROFILES)('%s: FOLL_SPLIT_PMD splits a THP and answers from the PTE table', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const ctx: FollowPageContext = { page_mask: 0 };
    const page = follow_page_mask(
      vmaAt(p, a),
      a + 5 * PAGE_SIZE,
      FOLL_GET | FOLL_SPLIT_PMD,
      ctx,
      KERNEL_PROFILES[prof],
    );
    expect(m.counters.pmdSplits).toBe(1);
    expect(pmd_leaf(pmd(p, a)!.lo)).toBe(false);
    expect(pfnAt(p, a + 5 * PAGE_SIZE)).toBe(page);
    expect(ctx.page_mask).toBe(0);
    held.add(page);
    held.check();
    held.put(page);
  });

  it.each(PROFILES)('%s: FOLL_SPLIT_PMD on the huge zero page leaves zero-page PTEs', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.readByte(a);
    const r = follow_page(vmaAt(p, a), a + PAGE_SIZE, FOLL_SPLIT_PMD, KERNEL_PROFILES[prof]);
    // -EBUSY would need the PMD to be unstable after the split, which mmsim's split never leaves.
    expect(r).not.toBe(-EBUSY);
    expect(r).toBe(m.phys.zeroPfn);
    expect(pfnAt(p, a + PAGE_SIZE)).toBe(m.phys.zeroPfn);
  });
});

describe('follow_page: PROT_NONE entries across versions', () => {
  function protnone(): { p: ReturnType<typeof setup>['p']; a: number; pfn: number } {
    const { p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 3);
    const pfn = pfnAt(p, a);
    p.mprotect(a, PAGE_SIZE, PROT_NONE);
    expect(pte(p, a)!.lo & 1).toBe(0);
    return { p, a, pfn };
  }

  it('6.0: followed unless FOLL_NUMA', () => {
    const { p, a, pfn } = protnone();
    expect(follow_page(vmaAt(p, a), a, 0, KERNEL_PROFILES['6.0'])).toBe(pfn);
    expect(follow_page(vmaAt(p, a), a, FOLL_NUMA, KERNEL_PROFILES['6.0'])).toBe(0);
  });

  it.each(['6.1', '6.2'] as KernelVersion[])(
    '%s: followed only with FOLL_FORCE (gup_can_follow_protnone)',
    (prof) => {
      const { p, a, pfn } = protnone();
      expect(follow_page(vmaAt(p, a), a, 0, KERNEL_PROFILES[prof])).toBe(0);
      expect(follow_page(vmaAt(p, a), a, FOLL_FORCE, KERNEL_PROFILES[prof])).toBe(pfn);
    },
  );

  it('6.18: followed (follow_page never sets FOLL_HONOR_NUMA_FAULT; the VMA is inaccessible anyway)', () => {
    const { p, a, pfn } = protnone();
    expect(follow_page(vmaAt(p, a), a, 0, KERNEL_PROFILES['6.18'])).toBe(pfn);
  });

  it('a PROT_NONE THP follows the same rules at the PMD', () => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    p.mprotect(a, PMD_SIZE, PROT_NONE);
    const e = pmd(p, a)!;
    expect(pmd_leaf(e.lo)).toBe(true);
    const vma = vmaAt(p, a);
    const head = follow_page(vma, a, 0, KERNEL_PROFILES['6.0']);
    expect(m.phys.folio_test_large(head)).toBe(true);
    expect(follow_page(vma, a, FOLL_NUMA, KERNEL_PROFILES['6.0'])).toBe(0);
    expect(follow_page(vma, a, 0, KERNEL_PROFILES['6.1'])).toBe(0);
    expect(follow_page(vma, a, FOLL_FORCE, KERNEL_PROFILES['6.1'])).toBe(head);
    expect(follow_page(vma, a, 0, KERNEL_PROFILES['6.18'])).toBe(head);
  });
});

describe('follow_page: migration entries (the scripted interleaving)', () => {
  function migrating(): {
    m: ReturnType<typeof setup>['m'];
    p: ReturnType<typeof setup>['p'];
    a: number;
    old: number;
    mig: NonNullable<ReturnType<typeof migrate_folio_start>>;
  } {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 42);
    const old = pfnAt(p, a);
    const mig = migrate_folio_start(m, old)!;
    expect(mig).not.toBeNull();
    const e = pte(p, a)!;
    expect(is_migration_entry(e.lo, e.hi)).toBe(true);
    return { m, p, a, old, mig };
  }

  it.each(OLD)('%s: FOLL_MIGRATION waits for the migration and returns the new page', (prof) => {
    const { m, p, a, old, mig } = migrating();
    const held = new Held(m);
    held.check();
    const before = m.counters.snapshot();
    const page = follow_page(vmaAt(p, a), a, FOLL_GET | FOLL_MIGRATION, KERNEL_PROFILES[prof]);
    expect(mig.done).toBe(true);
    expect(page).toBe(mig.dst);
    expect(page).not.toBe(old);
    expect(m.phys.readByte(page, 0)).toBe(42);
    // One lookup, two PTE reads (the migration entry, then the new page), two PTL round trips of
    // the lookup plus the one remove_migration_ptes() takes in the waiter.
    expect(m.counters.since(before)).toMatchObject({ followPage: 1, pteRead: 2, ptlLock: 3, faults: 0 });
    held.add(page);
    held.check();
    held.put(page);
    held.check();
  });

  it.each(PROFILES)(
    '%s: without FOLL_MIGRATION a migration entry is NULL and the migration stays pending',
    (prof) => {
      const { m, p, a, mig } = migrating();
      expect(follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES[prof])).toBe(0);
      expect(mig.done).toBe(false);
      new Held(m).check();
      migrate_folio_finish(m, mig);
      const page = follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES[prof]);
      expect(page).toBe(mig.dst);
      m.phys.put_page(page);
      new Held(m).check();
    },
  );

  it.each(NEW)('%s: FOLL_MIGRATION no longer exists: the entry is NULL', (prof) => {
    const { m, p, a, mig } = migrating();
    expect(follow_page(vmaAt(p, a), a, FOLL_GET | FOLL_MIGRATION, KERNEL_PROFILES[prof])).toBe(0);
    expect(mig.done).toBe(false);
    migrate_folio_finish(m, mig);
  });

  it.each(OLD)('%s: a lookup interleaved after try_to_migrate() waits inside migrate_folio()', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 5);
    const c = p.fork('c'); // a shared (KSM-like) page: both mappings get migration entries
    const old = pfnAt(p, a);
    let seen = -1;
    let entry = false;
    m.at('migrate:unmapped', () => {
      const e = pte(c, a)!;
      entry = is_migration_entry(e.lo, e.hi);
      seen = follow_page(vmaAt(c, a), a, FOLL_GET | FOLL_MIGRATION, KERNEL_PROFILES[prof]);
    });
    const dst = migrate_folio(m, old);
    expect(entry).toBe(true);
    expect(seen).toBe(dst);
    expect(pfnAt(p, a)).toBe(dst);
    expect(pfnAt(c, a)).toBe(dst);
    const held = new Held(m);
    held.add(seen);
    held.check();
    held.put(seen);
    c.exit();
    held.check();
  });

  it.each(PROFILES)('%s: without FOLL_MIGRATION the interleaved lookup sees NULL', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 5);
    let seen = -1;
    m.at('migrate:unmapped', () => {
      seen = follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES[prof]);
    });
    const dst = migrate_folio(m, pfnAt(p, a));
    expect(seen).toBe(0);
    expect(pfnAt(p, a)).toBe(dst);
    new Held(m).check();
  });
});

describe('follow_page_mask: unsharing and grabbing', () => {
  it.each(PROFILES)(
    '%s: a R/O pin of a shared anon page is -EMLINK; a write lookup or FOLL_GET is not',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 1);
      const c = p.fork('c');
      const vma = vmaAt(p, a);
      const ctx = { page_mask: 0 };
      expect(follow_page_mask(vma, a, FOLL_PIN, ctx, KERNEL_PROFILES[prof])).toBe(-EMLINK);
      expect(follow_page_mask(vma, a, FOLL_PIN | FOLL_WRITE, ctx, KERNEL_PROFILES[prof])).toBe(0);
      const g = follow_page_mask(vma, a, FOLL_GET, ctx, KERNEL_PROFILES[prof]);
      expect(g).toBe(pfnAt(p, a));
      m.phys.put_page(g);
      c.exit();
    },
  );

  it.each(PROFILES)(
    '%s: FOLL_PIN on an exclusive page adds GUP_PIN_COUNTING_BIAS (and mmsim pincount)',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 1);
      const pfn = pfnAt(p, a);
      const page = follow_page_mask(vmaAt(p, a), a, FOLL_PIN, { page_mask: 0 }, KERNEL_PROFILES[prof]);
      expect(page).toBe(pfn);
      expect(m.phys.refcount[pfn]).toBe(1 + GUP_PIN_COUNTING_BIAS);
      expect(m.phys.pincount[pfn]).toBe(1);
      new Held(m).check();
      unpin_user_page(m.phys, page);
      expect(m.phys.refcount[pfn]).toBe(1);
      new Held(m).check();
    },
  );

  it.each(PROFILES)('%s: a R/O FOLL_LONGTERM pin of the zero page', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.readByte(a);
    const z = m.phys.zeroPfn;
    const r = follow_page_mask(
      vmaAt(p, a),
      a,
      FOLL_PIN | FOLL_LONGTERM,
      { page_mask: 0 },
      KERNEL_PROFILES[prof],
    );
    if (prof === '6.0' || prof === '6.1') {
      // Before 6.2 only anon pages were unshared: the zero page itself is pinned.
      expect(r).toBe(z);
      expect(m.phys.pincount[z]).toBe(1);
      unpin_user_page(m.phys, z);
      expect(m.phys.pincount[z]).toBe(0);
    } else expect(r).toBe(-EMLINK); // 6.2+: anything in a COW mapping is unshared for R/O long-term pins
  });

  it.each(PROFILES)('%s: the zero page pin accounting', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.readByte(a);
    const z = m.phys.zeroPfn;
    const rc = m.phys.refcount[z];
    expect(follow_page_mask(vmaAt(p, a), a, FOLL_PIN, { page_mask: 0 }, KERNEL_PROFILES[prof])).toBe(z);
    // 6.5+ never pins the shared zero page.
    expect(m.phys.refcount[z]).toBe(prof === '6.18' ? rc : rc + GUP_PIN_COUNTING_BIAS);
    unpin_user_page(m.phys, z);
    expect(m.phys.refcount[z]).toBe(rc);
  });

  it.each(PROFILES)('%s: a refcount that cannot take another reference is -ENOMEM', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const pfn = pfnAt(p, a);
    const saved = m.phys.refcount[pfn];
    m.phys.refcount[pfn] = 0x7fffffff - 100;
    const r = expectWarn(() =>
      follow_page_mask(vmaAt(p, a), a, FOLL_PIN, { page_mask: 0 }, KERNEL_PROFILES[prof]),
    );
    expect(r).toBe(-ENOMEM);
    m.phys.refcount[pfn] = saved;
    new Held(m).check();
  });
});

/** Store a PMD entry directly (the table is the one find_pmd_table() returned). */
function setPmdRaw(p: ReturnType<typeof setup>['p'], t: number, addr: number, lo: number, hi: number): void {
  const w = p.machine.phys.tableWords(t);
  const o = p.machine.phys.tableBase(t) + Math.floor((addr % 2 ** 30) / PMD_SIZE) * 2;
  w[o] = lo >>> 0;
  w[o + 1] = hi >>> 0;
}

describe('follow_pmd_mask: THP migration entries', () => {
  // mmsim splits large folios before migrating them, so a PMD migration entry is built by hand
  // here, with a stand-in Migration whose completion restores the PMD (or clears it, as a racing
  // MADV_DONTNEED would).
  function pmdMigration(restore: 'huge' | 'none') {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const t = p.mm.find_pmd_table(a);
    const orig = pmd(p, a)!;
    const head = entry_pfn(orig.lo, orig.hi);
    mk_swp_pte(SWP_MIGRATION_READ, head, 0);
    setPmdRaw(p, t, a, entryOut.lo, entryOut.hi);
    expect(is_migration_entry(pmd(p, a)!.lo, pmd(p, a)!.hi)).toBe(true);
    let waits = 0;
    const mig = {
      src: head,
      dst: head,
      get done(): boolean {
        // migrate_folio_finish() looks here first: the migration "completes" now.
        waits++;
        m.migrations.delete(head);
        if (restore === 'huge') setPmdRaw(p, t, a, orig.lo, orig.hi);
        else setPmdRaw(p, t, a, 0, 0);
        return true;
      },
      set done(_v: boolean) {},
    };
    m.migrations.set(head, mig);
    const undo = () => {
      m.migrations.delete(head);
      setPmdRaw(p, t, a, orig.lo, orig.hi);
    };
    return { m, p, a, head, undo, waits: () => waits };
  }

  it.each(PROFILES)('%s: without FOLL_MIGRATION: no_page_table() (so -EFAULT with FOLL_DUMP)', (prof) => {
    const { p, a, undo } = pmdMigration('huge');
    expect(follow_page(vmaAt(p, a), a, FOLL_GET, KERNEL_PROFILES[prof])).toBe(0);
    expect(follow_page(vmaAt(p, a), a, FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    undo();
  });

  it.each(NEW)('%s: FOLL_MIGRATION is gone: no_page_table()', (prof) => {
    const { p, a, undo, waits } = pmdMigration('huge');
    expect(follow_page(vmaAt(p, a), a, FOLL_GET | FOLL_MIGRATION, KERNEL_PROFILES[prof])).toBe(0);
    expect(waits()).toBe(0);
    undo();
  });

  it.each(OLD)('%s: FOLL_MIGRATION waits (pmd_migration_entry_wait) and retries', (prof) => {
    const { m, p, a, head, waits } = pmdMigration('huge');
    const page = follow_page(
      vmaAt(p, a),
      a + 2 * PAGE_SIZE,
      FOLL_GET | FOLL_MIGRATION,
      KERNEL_PROFILES[prof],
    );
    expect(waits()).toBe(1);
    expect(page).toBe(head + 2);
    m.phys.put_page(page);
    new Held(m).check();
  });

  it.each(OLD)(
    '%s: a PMD cleared while waiting (MADV_DONTNEED under the read lock) is no_page_table()',
    (prof) => {
      const { p, a, waits, undo } = pmdMigration('none');
      expect(follow_page(vmaAt(p, a), a, FOLL_GET | FOLL_MIGRATION | FOLL_DUMP, KERNEL_PROFILES[prof])).toBe(
        -EFAULT,
      );
      expect(waits()).toBe(1);
      undo();
    },
  );
});
