import {
  EEXIST,
  EFAULT,
  EHWPOISON,
  EINVAL,
  ENOMEM,
  GiB,
  HPAGE_PMD_NR,
  KERNEL_PROFILES,
  type KernelVersion,
  PAGE_SIZE,
  PMD_SIZE,
} from '@mmsim/core';
import {
  entry_pfn,
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_KILLABLE,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_UNSHARE,
  FAULT_FLAG_WRITE,
  GUP_PIN_COUNTING_BIAS,
  handle_mm_fault,
  is_migration_entry,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_POPULATE,
  MAP_PRIVATE,
  migrate_folio_start,
  PG_dirty,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  pmd_leaf,
  pte_write,
  VM_FAULT_COMPLETED,
  VM_FAULT_HWPOISON,
  VM_FAULT_HWPOISON_LARGE,
  VM_FAULT_OOM,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_IO,
  VM_MAYREAD,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_UFFD_WP,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  __get_user_pages,
  check_vma_flags,
  FOLL_ANON,
  FOLL_DUMP,
  FOLL_FAST_ONLY,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_LONGTERM,
  FOLL_MIGRATION,
  FOLL_NOFAULT,
  FOLL_NOWAIT,
  FOLL_PIN,
  FOLL_REMOTE,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_WRITE,
  faultin_page,
  get_dump_page,
  get_user_pages,
  get_user_pages_fast,
  get_user_pages_fast_only,
  get_user_pages_remote,
  get_user_pages_unlocked,
  gupFault,
  MMF_HAS_PINNED,
  page_maybe_dma_pinned,
  pin_user_pages,
  pin_user_pages_fast,
  pin_user_pages_fast_only,
  pin_user_pages_remote,
  pin_user_pages_unlocked,
  release_pages,
  unpin_user_page,
  unpin_user_pages,
  unpin_user_pages_dirty_lock,
  vm_fault_to_errno,
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

/** Record the fault flags GUP passes to handle_mm_fault, then run the real fault. */
function recordFaults(): number[] {
  const seen: number[] = [];
  gupFault.handle_mm_fault = (vma: VmAreaStruct, addr: number, flags: number) => {
    seen.push(flags);
    return handle_mm_fault(vma, addr, flags);
  };
  return seen;
}

describe('get_user_pages', () => {
  it.each(PROFILES)('%s: faults pages in and returns them with a reference each', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = anon(p, 8);
    p.writeByte(a, 1);
    const pages = new Int32Array(8);
    expect(get_user_pages(p.mm, a, 8, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(8);
    held.addAll(pages, 8);
    for (let i = 0; i < 8; i++) expect(pages[i]).toBe(pfnAt(p, a + i * PAGE_SIZE));
    expect(m.counters.faultAnon).toBe(8);
    expect(p.mm.mmapLocked).toBeNull();
    held.check();
    held.putAll(pages, 8);
    held.check();
  });

  it.each(PROFILES)('%s: read GUP of untouched memory maps the zero page', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 2);
    const pages = new Int32Array(2);
    expect(get_user_pages(p.mm, a, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(2);
    expect(pages[0]).toBe(m.phys.zeroPfn);
    release_pages(m.phys, pages, 2);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: without pages[] it only faults in (no references)', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 4);
    expect(get_user_pages(p.mm, a, 4, FOLL_WRITE, null, KERNEL_PROFILES[prof])).toBe(4);
    expect(m.counters.pageGet).toBe(0);
    for (let i = 0; i < 4; i++) expect(pfnAt(p, a + i * PAGE_SIZE)).not.toBe(0);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: stops at a hole: the pages before it, or -EFAULT', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = anon(p, 4);
    p.munmap(a + 2 * PAGE_SIZE, PAGE_SIZE);
    const pages = new Int32Array(4);
    expect(get_user_pages(p.mm, a, 4, 0, pages, KERNEL_PROFILES[prof])).toBe(2);
    held.addAll(pages, 2);
    held.putAll(pages, 2);
    expect(get_user_pages(p.mm, a + 2 * PAGE_SIZE, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(get_user_pages(p.mm, 0x1000, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    held.check();
  });

  it.each(PROFILES)('%s: spans VMAs with different flags, checking each', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 4);
    p.mprotect(a + 2 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ);
    expect(p.mm.vmas.length).toBe(2);
    const pages = new Int32Array(4);
    expect(get_user_pages(p.mm, a, 4, 0, pages, KERNEL_PROFILES[prof])).toBe(4);
    release_pages(m.phys, pages, 4);
    // A write stops at the read-only VMA.
    expect(get_user_pages(p.mm, a, 4, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(2);
    release_pages(m.phys, pages, 2);
    new Held(m).check();
  });

  it.each(PROFILES)(
    '%s: FOLL_PIN or FOLL_LONGTERM passed to get_user_pages() is -EINVAL with a warning',
    (prof) => {
      const { p } = setup();
      const a = anon(p, 1);
      const pages = new Int32Array(1);
      expect(expectWarn(() => get_user_pages(p.mm, a, 1, FOLL_PIN, pages, KERNEL_PROFILES[prof]))).toBe(
        -EINVAL,
      );
      expect(expectWarn(() => get_user_pages(p.mm, a, 1, FOLL_LONGTERM, pages, KERNEL_PROFILES[prof]))).toBe(
        -EINVAL,
      );
      expect(p.mm.mmapLocked).toBeNull();
    },
  );

  it('6.18 rejects internal flags (FOLL_TOUCH, FOLL_REMOTE, FOLL_TRIED) from callers; 6.0 takes them', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    for (const f of [FOLL_TOUCH, FOLL_REMOTE, FOLL_TRIED])
      expect(expectWarn(() => get_user_pages(p.mm, a, 1, f, pages, KERNEL_PROFILES['6.18']))).toBe(-EINVAL);
    expect(get_user_pages(p.mm, a, 1, FOLL_TOUCH | FOLL_REMOTE, pages, KERNEL_PROFILES['6.0'])).toBe(1);
    m.phys.put_page(pages[0]);
  });

  it.each(PROFILES)('%s: -EEXIST for a PFN map when pages[] are wanted; skipped when not', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 3);
    p.writeByte(a, 1);
    p.writeByte(a + 2 * PAGE_SIZE, 1);
    mapRawPfn(p, a + PAGE_SIZE);
    vmaAt(p, a).vm_flags |= VM_MIXEDMAP;
    const pages = new Int32Array(3);
    expect(get_user_pages(p.mm, a + PAGE_SIZE, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(-EEXIST);
    expect(get_user_pages(p.mm, a, 3, 0, pages, KERNEL_PROFILES[prof])).toBe(1); // stops before the PFN
    m.phys.put_page(pages[0]);
    expect(get_user_pages(p.mm, a, 3, 0, null, KERNEL_PROFILES[prof])).toBe(3);
    setPte(p, a + PAGE_SIZE, 0, 0);
    new Held(m).check();
  });
});

describe('check_vma_flags and the FOLL_* flags of the slow path', () => {
  it('check_vma_flags(): VM_IO/VM_PFNMAP, FOLL_ANON, write and read permissions', () => {
    const { p } = setup();
    const a = anon(p, 1, PROT_READ);
    const v = vmaAt(p, a);
    expect(check_vma_flags(v, 0)).toBe(0);
    expect(check_vma_flags(v, FOLL_WRITE)).toBe(-EFAULT);
    expect(check_vma_flags(v, FOLL_WRITE | FOLL_FORCE)).toBe(0); // a COW mapping
    v.vm_flags |= VM_IO;
    expect(check_vma_flags(v, 0)).toBe(-EFAULT);
    v.vm_flags = (v.vm_flags & ~VM_IO) | VM_PFNMAP;
    expect(check_vma_flags(v, 0)).toBe(-EFAULT);
    v.vm_flags &= ~VM_PFNMAP;
    const s = shared(p, 1, PROT_READ);
    const sv = vmaAt(p, s);
    expect(check_vma_flags(sv, FOLL_ANON)).toBe(-EFAULT);
    expect(check_vma_flags(v, FOLL_ANON)).toBe(0);
    expect(check_vma_flags(sv, FOLL_WRITE | FOLL_FORCE)).toBe(-EFAULT); // not COW
    const n = anon(p, 1, PROT_NONE);
    const nv = vmaAt(p, n);
    expect(check_vma_flags(nv, 0)).toBe(-EFAULT);
    expect(check_vma_flags(nv, FOLL_FORCE)).toBe(0); // VM_MAYREAD
    nv.vm_flags &= ~VM_MAYREAD;
    expect(check_vma_flags(nv, FOLL_FORCE)).toBe(-EFAULT);
  });

  it.each(PROFILES)('%s: FOLL_NOFAULT never faults', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 1);
    const pages = new Int32Array(2);
    expect(get_user_pages(p.mm, a + PAGE_SIZE, 1, FOLL_NOFAULT, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(get_user_pages(p.mm, a, 2, FOLL_NOFAULT, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(m.counters.faults).toBe(1); // the writeByte
    m.phys.put_page(pages[0]);
  });

  it.each(PROFILES)('%s: FOLL_ANON refuses shared memory', (prof) => {
    const { p } = setup();
    const s = shared(p, 1);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, s, 1, FOLL_ANON, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
  });

  it.each(PROFILES)(
    '%s: fault flags: WRITE, REMOTE, NOWAIT, TRIED, and ALLOW_RETRY when the lock may drop',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 8);
      const seen = recordFaults();
      const pages = new Int32Array(1);
      const newer = prof === '6.18';
      const put = (n: number) => release_pages(m.phys, pages, n);
      put(get_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof]));
      expect(seen.pop()).toBe(FAULT_FLAG_WRITE);
      put(get_user_pages_remote(p.mm, a + PAGE_SIZE, 1, 0, pages, null, KERNEL_PROFILES[prof]));
      expect(seen.pop()).toBe(FAULT_FLAG_REMOTE);
      put(get_user_pages(p.mm, a + 2 * PAGE_SIZE, 1, FOLL_NOWAIT, pages, KERNEL_PROFILES[prof]));
      expect(seen.pop()).toBe(FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_RETRY_NOWAIT);
      put(get_user_pages_unlocked(p.mm, a + 3 * PAGE_SIZE, 1, pages, 0, KERNEL_PROFILES[prof]));
      expect(seen.pop()).toBe(FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE);
      p.mm.mmap_read_lock();
      const locked = { value: 1 };
      put(get_user_pages_remote(p.mm, a + 4 * PAGE_SIZE, 1, 0, pages, locked, KERNEL_PROFILES[prof]));
      expect(seen.pop()).toBe(FAULT_FLAG_REMOTE | FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE);
      expect(locked.value).toBe(1);
      p.mm.mmap_read_unlock();
      if (!newer) {
        put(get_user_pages(p.mm, a + 5 * PAGE_SIZE, 1, FOLL_TRIED, pages, KERNEL_PROFILES[prof]));
        expect(seen.pop()).toBe(FAULT_FLAG_TRIED);
      }
      // A read-only pin of a shared page: an unshare fault.
      p.writeByte(a + 6 * PAGE_SIZE, 1);
      const c = p.fork('c');
      expect(pin_user_pages(p.mm, a + 6 * PAGE_SIZE, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(1);
      expect(seen.pop()).toBe(FAULT_FLAG_UNSHARE);
      unpin_user_pages(m.phys, pages, 1);
      c.exit();
      new Held(m).check();
    },
  );

  it.each(PROFILES)('%s: VM_FAULT_* errors become errnos; FOLL_HWPOISON picks -EHWPOISON', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    let ret = VM_FAULT_HWPOISON;
    gupFault.handle_mm_fault = () => ret;
    expect(get_user_pages(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(get_user_pages(p.mm, a, 1, FOLL_HWPOISON, pages, KERNEL_PROFILES[prof])).toBe(-EHWPOISON);
    ret = VM_FAULT_SIGBUS;
    expect(get_user_pages(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    ret = VM_FAULT_SIGSEGV;
    expect(get_user_pages(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(p.mm.mmapLocked).toBeNull();
    new Held(m).check();
  });

  it('vm_fault_to_errno()', () => {
    expect(vm_fault_to_errno(VM_FAULT_OOM, 0)).toBe(-ENOMEM);
    expect(vm_fault_to_errno(VM_FAULT_HWPOISON, 0)).toBe(-EFAULT);
    expect(vm_fault_to_errno(VM_FAULT_HWPOISON_LARGE, FOLL_HWPOISON)).toBe(-EHWPOISON);
    expect(vm_fault_to_errno(VM_FAULT_SIGBUS, 0)).toBe(-EFAULT);
    expect(vm_fault_to_errno(0, 0)).toBe(0);
  });

  it.each(PROFILES)('%s: an allocation failure in the fault is -ENOMEM', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 4);
    p.writeByte(a, 1); // tables exist
    m.phys.failAlloc = (_o, kind) => kind === 'page';
    const pages = new Int32Array(4);
    expect(get_user_pages(p.mm, a, 4, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
    m.phys.put_page(pages[0]);
    expect(get_user_pages(p.mm, a + PAGE_SIZE, 3, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(-ENOMEM);
    m.phys.failAlloc = null;
    new Held(m).check();
  });

  it.each(PROFILES)('%s: a uffd-wp write fault is SIGBUS → -EFAULT', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const v = vmaAt(p, a);
    v.vm_flags |= VM_UFFD_WP;
    const e = pte(p, a)!;
    const t = p.mm.find_pte_table(a);
    const w = m.phys.tableWords(t);
    const o = m.phys.tableBase(t) + 2 * ((a / PAGE_SIZE) % 512);
    w[o] = (e.lo & ~2) | 0x400; // R/O, _PAGE_UFFD_WP
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    w[o] = e.lo;
    v.vm_flags &= ~VM_UFFD_WP;
  });

  it.each(PROFILES)(
    '%s: VM_FAULT_RETRY drops the lock; the locked variants retry with FOLL_TRIED',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 4);
      const seen: number[] = [];
      let retries = 1;
      gupFault.handle_mm_fault = (vma, addr, flags) => {
        seen.push(flags);
        if ((flags & FAULT_FLAG_ALLOW_RETRY) !== 0 && (flags & FAULT_FLAG_TRIED) === 0 && retries > 0) {
          retries--;
          vma.vm_mm.mmap_read_unlock(); // the fault handler dropped the mmap_lock
          return VM_FAULT_RETRY;
        }
        return handle_mm_fault(vma, addr, flags);
      };
      const pages = new Int32Array(4);
      p.writeByte(a, 1);
      expect(get_user_pages_unlocked(p.mm, a, 4, pages, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(4);
      expect(p.mm.mmapLocked).toBeNull();
      // Page 0 was present; page 1 faulted with RETRY, then again with TRIED.
      expect(seen[0] & FAULT_FLAG_TRIED).toBe(0);
      expect(seen[1] & FAULT_FLAG_TRIED).toBe(FAULT_FLAG_TRIED);
      for (let i = 0; i < 4; i++) expect(pages[i]).toBe(pfnAt(p, a + i * PAGE_SIZE));
      release_pages(m.phys, pages, 4);
      // get_user_pages() cannot drop the lock: no ALLOW_RETRY, so the handler never retries.
      retries = 1;
      seen.length = 0;
      expect(get_user_pages(p.mm, a + 3 * PAGE_SIZE, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
      release_pages(m.phys, pages, 1);
      new Held(m).check();
    },
  );

  it.each(PROFILES)(
    '%s: VM_FAULT_COMPLETED (lock dropped, fault done) is -EAGAIN inside and retried',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 2);
      let once = true;
      gupFault.handle_mm_fault = (vma, addr, flags) => {
        const r = handle_mm_fault(vma, addr, flags);
        if (once && (flags & FAULT_FLAG_ALLOW_RETRY) !== 0) {
          once = false;
          vma.vm_mm.mmap_read_unlock();
          return r | VM_FAULT_COMPLETED;
        }
        return r;
      };
      const pages = new Int32Array(2);
      expect(get_user_pages_unlocked(p.mm, a, 2, pages, FOLL_WRITE, KERNEL_PROFILES[prof])).toBe(2);
      expect(p.mm.mmapLocked).toBeNull();
      release_pages(m.phys, pages, 2);
      // Called directly with a `locked` flag: returns 0 pages and reports the dropped lock.
      once = true;
      p.mm.mmap_read_lock();
      const locked = { value: 1 };
      const flags = FOLL_GET | FOLL_WRITE | (prof === '6.18' ? 0x400000 : 0); // FOLL_UNLOCKABLE
      p.madvise(a, 2 * PAGE_SIZE, 4); // MADV_DONTNEED
      expect(__get_user_pages(p.mm, a, 2, flags, pages, locked, KERNEL_PROFILES[prof])).toBe(0);
      expect(locked.value).toBe(0);
      expect(p.mm.mmapLocked).toBeNull();
      new Held(m).check();
    },
  );

  it('faultin_page(): FOLL_NOFAULT, unshare, and the errno mapping', () => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const c = p.fork('c');
    const v = vmaAt(p, a);
    p.mm.mmap_read_lock();
    expect(faultin_page(v, a, FOLL_NOFAULT, false, null)).toBe(-EFAULT);
    const old = pfnAt(p, a);
    expect(faultin_page(v, a, 0, true, null)).toBe(0);
    expect(pfnAt(p, a)).not.toBe(old);
    expect(m.counters.faultUnshare).toBe(1);
    expect(() => faultin_page(v, a, FOLL_WRITE, true, null)).toThrow(/UNSHARE/);
    p.mm.mmap_read_unlock();
    c.exit();
  });

  it('__get_user_pages() asserts the mmap_lock and that pages[] goes with GET/PIN', () => {
    const { p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    expect(() => __get_user_pages(p.mm, a, 1, FOLL_GET, pages, null)).toThrow(/mmap_lock not held/);
    p.mm.mmap_read_lock();
    expect(() => __get_user_pages(p.mm, a, 1, 0, pages, null)).toThrow(/pages iff/);
    expect(() => __get_user_pages(p.mm, a, 1, FOLL_GET, null, null)).toThrow(/pages iff/);
    expect(__get_user_pages(p.mm, a, 0, FOLL_GET, pages, null)).toBe(0);
    p.mm.mmap_read_unlock();
  });
});

describe('FOLL_FORCE writes to read-only private mappings (ptrace, /proc/pid/mem)', () => {
  it.each(PROFILES)('%s: an untouched page: a private anon page, still mapped read-only', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1, PROT_READ);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(
      get_user_pages_remote(p.mm, a, 1, FOLL_WRITE | FOLL_FORCE, pages, null, KERNEL_PROFILES[prof]),
    ).toBe(1);
    const pfn = pages[0];
    expect(pfn).toBe(pfnAt(p, a));
    expect(m.phys.PageAnonExclusive(pfn)).toBe(true);
    expect(pte_write(pte(p, a)!.lo)).toBe(false);
    m.phys.writeByte(pfn, 0, 0xcc); // the debugger's write
    expect(p.readByte(a)).toBe(0xcc);
    expect(() => p.writeByte(a, 1)).toThrow(/EFAULT/);
    m.phys.put_page(pfn);
    new Held(m).check();
  });

  it.each(PROFILES)(
    '%s: a page shared with a child is copied first; the child never sees the write',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 0x11);
      p.mprotect(a, PAGE_SIZE, PROT_READ);
      const c = p.fork('c');
      const orig = pfnAt(p, a);
      expect(pfnAt(c, a)).toBe(orig);
      const pages = new Int32Array(1);
      expect(
        get_user_pages_remote(p.mm, a, 1, FOLL_WRITE | FOLL_FORCE, pages, null, KERNEL_PROFILES[prof]),
      ).toBe(1);
      const held = new Held(m);
      held.add(pages[0]);
      expect(pages[0]).not.toBe(orig);
      expect(pfnAt(p, a)).toBe(pages[0]);
      expect(pfnAt(c, a)).toBe(orig);
      expect(m.counters.faultWpCopy).toBe(1);
      m.phys.writeByte(pages[0], 0, 0x22);
      expect(p.readByte(a)).toBe(0x22);
      expect(c.readByte(a)).toBe(0x11);
      held.check();
      held.put(pages[0]);
      c.exit();
      held.check();
    },
  );

  it.each(PROFILES)('%s: the zero page is replaced by a zeroed private page', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1, PROT_READ);
    p.readByte(a);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, a, 1, FOLL_WRITE | FOLL_FORCE, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(pages[0]).not.toBe(m.phys.zeroPfn);
    expect(pfnAt(p, a)).toBe(pages[0]);
    expect(m.phys.readByte(pages[0], 0)).toBe(0);
    m.phys.put_page(pages[0]);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: never into a shared mapping', (prof) => {
    const { p } = setup();
    const s = shared(p, 1, PROT_READ);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, s, 1, FOLL_WRITE | FOLL_FORCE, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
  });

  it.each(PROFILES)('%s: FOLL_FORCE reads PROT_NONE memory', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 0x5a);
    p.mprotect(a, PAGE_SIZE, PROT_NONE);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
    expect(get_user_pages(p.mm, a, 1, FOLL_FORCE, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(m.phys.readByte(pages[0], 0)).toBe(0x5a);
    m.phys.put_page(pages[0]);
  });
});

describe('GUP on a shared anon page (the KSM situation, made by fork)', () => {
  function sharedPage(): {
    m: ReturnType<typeof setup>['m'];
    p: ReturnType<typeof setup>['p'];
    c: ReturnType<typeof setup>['p'];
    a: number;
    orig: number;
  } {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 0x77);
    const c = p.fork('c');
    const orig = pfnAt(p, a);
    expect(pfnAt(c, a)).toBe(orig);
    expect(m.phys.PageAnonExclusive(orig)).toBe(false);
    return { m, p, c, a, orig };
  }

  it.each(PROFILES)(
    '%s: FOLL_WRITE GUP makes a COW copy; the shared page stays with the other mm',
    (prof) => {
      const { m, p, c, a, orig } = sharedPage();
      const held = new Held(m);
      const pages = new Int32Array(1);
      expect(get_user_pages(c.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
      held.add(pages[0]);
      expect(pages[0]).not.toBe(orig);
      expect(pfnAt(c, a)).toBe(pages[0]);
      expect(pfnAt(p, a)).toBe(orig);
      expect(m.phys.PageAnonExclusive(pages[0])).toBe(true);
      expect(m.phys.readByte(pages[0], 0)).toBe(0x77);
      expect(m.counters.faultWpCopy).toBe(1);
      held.check();
      held.put(pages[0]);
      held.check();
    },
  );

  it.each(PROFILES)('%s: a read-only FOLL_GET takes the shared page as it is', (prof) => {
    const { m, c, a, orig } = sharedPage();
    const pages = new Int32Array(1);
    expect(get_user_pages(c.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(pages[0]).toBe(orig);
    expect(m.counters.faults).toBe(1); // only the initial write
    m.phys.put_page(orig);
    new Held(m).check();
  });

  it.each(PROFILES)(
    '%s: a read-only pin unshares (-EMLINK → FAULT_FLAG_UNSHARE): the pinned page is exclusive',
    (prof) => {
      const { m, p, c, a, orig } = sharedPage();
      const seen = recordFaults();
      const pages = new Int32Array(1);
      expect(pin_user_pages(c.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(1);
      expect(seen).toEqual([FAULT_FLAG_UNSHARE]);
      const pinned = pages[0];
      expect(pinned).not.toBe(orig);
      expect(m.phys.PageAnonExclusive(pinned)).toBe(true);
      expect(pte_write(pte(c, a)!.lo)).toBe(false); // unsharing keeps the PTE read-only
      expect(pfnAt(p, a)).toBe(orig);
      expect(page_maybe_dma_pinned(m.phys, pinned)).toBe(true);
      expect(page_maybe_dma_pinned(m.phys, orig)).toBe(false);
      expect(m.phys.refcount[pinned]).toBe(1 + GUP_PIN_COUNTING_BIAS);
      expect(c.mm.flags & MMF_HAS_PINNED).toBe(MMF_HAS_PINNED);
      expect(m.counters.faultUnshare).toBe(1);
      new Held(m).check();
      unpin_user_page(m.phys, pinned);
      new Held(m).check();
    },
  );

  it.each(PROFILES)('%s: when the other sharer is gone, unsharing reuses the page', (prof) => {
    const { m, p, c, a, orig } = sharedPage();
    c.exit();
    const pages = new Int32Array(1);
    expect(pin_user_pages(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(pages[0]).toBe(orig);
    expect(m.phys.PageAnonExclusive(orig)).toBe(true);
    expect(m.counters.faultWpCopy).toBe(0);
    unpin_user_page(m.phys, orig);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: a shared THP is unshared one 4 KiB page at a time', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const c = p.fork('c');
    const pages = new Int32Array(2);
    expect(pin_user_pages(c.mm, a + PAGE_SIZE, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(2);
    expect(m.phys.folio_test_large(pages[0])).toBe(false);
    expect(pmd_leaf(pmd(c, a)!.lo)).toBe(false);
    expect(pfnAt(c, a + PAGE_SIZE)).toBe(pages[0]);
    new Held(m).check();
    unpin_user_pages(m.phys, pages, 2);
    c.exit();
    new Held(m).check();
  });
});

describe('pins and fork (the COW-on-pin rules)', () => {
  it.each(PROFILES)(
    '%s: a pinned exclusive page is copied for the child at fork; the parent keeps it writable',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 2);
      p.writeByte(a, 0x31);
      p.writeByte(a + PAGE_SIZE, 0x32);
      const pages = new Int32Array(1);
      expect(pin_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
      const pinned = pages[0];
      const unpinned = pfnAt(p, a + PAGE_SIZE);
      new Held(m).check();
      const c = p.fork('c');
      new Held(m).check();
      // The pinned page: the child got its own copy at fork, the parent's PTE is untouched.
      expect(pfnAt(p, a)).toBe(pinned);
      expect(pte_write(pte(p, a)!.lo)).toBe(true);
      const childCopy = pfnAt(c, a);
      expect(childCopy).not.toBe(pinned);
      expect(m.phys.readByte(childCopy, 0)).toBe(0x31);
      expect(m.phys.PageAnonExclusive(childCopy)).toBe(true);
      expect(m.phys.PageAnonExclusive(pinned)).toBe(true);
      // The unpinned page is COW-shared as usual.
      expect(pfnAt(c, a + PAGE_SIZE)).toBe(unpinned);
      expect(pte_write(pte(p, a + PAGE_SIZE)!.lo)).toBe(false);
      // The device writes through the pin: the parent sees it, the child does not.
      m.phys.writeByte(pinned, 0, 0x41);
      expect(p.readByte(a)).toBe(0x41);
      expect(c.readByte(a)).toBe(0x31);
      // Parent writes go to the pinned page without a fault.
      const faults = m.counters.faults;
      p.writeByte(a + 1, 0x42);
      expect(m.counters.faults).toBe(faults);
      expect(m.phys.readByte(pinned, 1)).toBe(0x42);
      new Held(m).check();
      unpin_user_page(m.phys, pinned);
      new Held(m).check();
      c.exit();
      new Held(m).check();
    },
  );

  it.each(PROFILES)('%s: a FOLL_GET reference does not make fork copy (no pin)', (prof) => {
    const { m, p } = setup();
    const held = new Held(m);
    const a = anon(p, 1);
    p.writeByte(a, 1);
    const pages = new Int32Array(1);
    expect(get_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
    held.add(pages[0]);
    const c = p.fork('c');
    expect(pfnAt(c, a)).toBe(pages[0]);
    held.check();
    held.put(pages[0]);
    c.exit();
    held.check();
  });

  it.each(PROFILES)('%s: a pinned THP is split at fork and every pinned subpage copied', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 9);
    const pages = new Int32Array(HPAGE_PMD_NR);
    expect(pin_user_pages(p.mm, a, HPAGE_PMD_NR, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(
      HPAGE_PMD_NR,
    );
    const folio = m.phys.folio(pages[0]);
    expect(m.phys.pincount[folio]).toBe(HPAGE_PMD_NR);
    new Held(m).check();
    const c = p.fork('c');
    new Held(m).check();
    expect(m.phys.folio(pfnAt(p, a + 100 * PAGE_SIZE))).toBe(folio);
    expect(m.phys.folio(pfnAt(c, a + 100 * PAGE_SIZE))).not.toBe(folio);
    expect(c.readByte(a)).toBe(9);
    unpin_user_pages(m.phys, pages, HPAGE_PMD_NR);
    expect(m.phys.pincount[folio]).toBe(0);
    new Held(m).check();
    c.exit();
    new Held(m).check();
  });
});

describe('pin_user_pages*', () => {
  it.each(PROFILES)('%s: argument checks: FOLL_GET, no pages[], LONGTERM', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    expect(expectWarn(() => pin_user_pages(p.mm, a, 1, FOLL_GET, pages, KERNEL_PROFILES[prof]))).toBe(
      -EINVAL,
    );
    expect(expectWarn(() => pin_user_pages(p.mm, a, 1, 0, null, KERNEL_PROFILES[prof]))).toBe(-EINVAL);
    expect(
      expectWarn(() => pin_user_pages_remote(p.mm, a, 1, FOLL_GET, pages, null, KERNEL_PROFILES[prof])),
    ).toBe(-EINVAL);
    expect(expectWarn(() => pin_user_pages_fast(p.mm, a, 1, FOLL_GET, pages, KERNEL_PROFILES[prof]))).toBe(
      -EINVAL,
    );
    expect(expectWarn(() => pin_user_pages_unlocked(p.mm, a, 1, null, 0, KERNEL_PROFILES[prof]))).toBe(
      -EINVAL,
    );
    expect(
      expectWarn(() => get_user_pages_unlocked(p.mm, a, 1, pages, FOLL_LONGTERM, KERNEL_PROFILES[prof])),
    ).toBe(-EINVAL);
    expect(pin_user_pages(p.mm, a, 1, FOLL_LONGTERM | FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
    unpin_user_page(m.phys, pages[0]);
    // FOLL_LONGTERM with a `locked` flag is refused (6.0-6.2: the fsdax check needs the VMAs).
    p.mm.mmap_read_lock();
    if (prof === '6.18') {
      expect(
        pin_user_pages_remote(p.mm, a, 1, FOLL_LONGTERM, pages, { value: 1 }, KERNEL_PROFILES[prof]),
      ).toBe(1);
      unpin_user_page(m.phys, pages[0]);
    } else {
      const r = expectWarn(() =>
        pin_user_pages_remote(p.mm, a, 1, FOLL_LONGTERM, pages, { value: 1 }, KERNEL_PROFILES[prof]),
      );
      expect(r).toBe(-EINVAL);
    }
    p.mm.mmap_read_unlock();
    new Held(m).check();
  });

  it('6.18 requires *locked == 1 when a locked flag is passed', () => {
    const { p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    expect(
      expectWarn(() => get_user_pages_remote(p.mm, a, 1, 0, pages, { value: 0 }, KERNEL_PROFILES['6.18'])),
    ).toBe(-EINVAL);
  });

  it.each(PROFILES)('%s: pin_user_pages_remote and _unlocked pin, touch and balance', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 4);
    const pages = new Int32Array(4);
    expect(pin_user_pages_remote(p.mm, a, 2, FOLL_WRITE, pages, null, KERNEL_PROFILES[prof])).toBe(2);
    expect(
      pin_user_pages_unlocked(
        p.mm,
        a + 2 * PAGE_SIZE,
        2,
        pages.subarray(2),
        FOLL_WRITE,
        KERNEL_PROFILES[prof],
      ),
    ).toBe(2);
    for (let i = 0; i < 4; i++) expect(m.phys.pincount[pages[i]]).toBe(1);
    new Held(m).check();
    unpin_user_pages_dirty_lock(m.phys, pages, 4, true);
    for (let i = 0; i < 4; i++) expect(m.phys.flags[pages[i]] & PG_dirty).toBe(PG_dirty);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: unpin_user_pages() releases consecutive subpages of a folio at once', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    const pages = new Int32Array(16);
    expect(pin_user_pages(p.mm, a + 8 * PAGE_SIZE, 16, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(16);
    const folio = m.phys.folio(pages[0]);
    expect(pages[15]).toBe(folio + 23);
    expect(m.phys.refcount[folio]).toBe(1 + 16);
    expect(m.phys.pincount[folio]).toBe(16);
    new Held(m).check();
    const puts = m.counters.pagePut;
    unpin_user_pages(m.phys, pages, 16);
    expect(m.counters.pagePut - puts).toBe(1);
    expect(m.phys.refcount[folio]).toBe(1);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: pins of a migrating page wait in the fault path, then pin the new page', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 3);
    const mig = migrate_folio_start(m, pfnAt(p, a))!;
    const e = pte(p, a)!;
    expect(is_migration_entry(e.lo, e.hi)).toBe(true);
    const pages = new Int32Array(1);
    expect(pin_user_pages(p.mm, a, 1, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
    expect(mig.done).toBe(true);
    expect(pages[0]).toBe(mig.dst);
    expect(m.counters.faultMigrationWait).toBe(1);
    unpin_user_page(m.phys, pages[0]);
    new Held(m).check();
  });

  it.each(['6.0', '6.1'] as KernelVersion[])(
    '%s: with FOLL_MIGRATION the lookup itself waits (no fault)',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 1);
      p.writeByte(a, 3);
      const mig = migrate_folio_start(m, pfnAt(p, a))!;
      const pages = new Int32Array(1);
      expect(get_user_pages(p.mm, a, 1, FOLL_MIGRATION | FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(1);
      expect(pages[0]).toBe(mig.dst);
      expect(m.counters.faultMigrationWait).toBe(0);
      m.phys.put_page(pages[0]);
      new Held(m).check();
    },
  );
});

describe('THP subpages and the version differences in __get_user_pages', () => {
  it.each(PROFILES)('%s: 512 subpages of one THP', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const pages = new Int32Array(HPAGE_PMD_NR);
    const before = m.counters.snapshot();
    expect(get_user_pages(p.mm, a, HPAGE_PMD_NR, 0, pages, KERNEL_PROFILES[prof])).toBe(HPAGE_PMD_NR);
    const d = m.counters.since(before);
    const folio = m.phys.folio(pages[0]);
    for (let i = 0; i < HPAGE_PMD_NR; i++) expect(pages[i]).toBe(folio + i);
    expect(m.phys.refcount[folio]).toBe(1 + HPAGE_PMD_NR);
    // 6.5+ looks the THP up once and takes the other 511 references in one go; older kernels
    // look every subpage up again when they fill pages[].
    expect(d.followPage).toBe(prof === '6.18' ? 1 : HPAGE_PMD_NR);
    const held = new Held(m);
    held.add(folio, HPAGE_PMD_NR);
    held.check();
    release_pages(m.phys, pages, HPAGE_PMD_NR);
    new Held(m).check();
    // Without pages[] every version skips the rest of the THP.
    const b2 = m.counters.snapshot();
    expect(get_user_pages(p.mm, a + 7 * PAGE_SIZE, 300, 0, null, KERNEL_PROFILES[prof])).toBe(300);
    expect(m.counters.since(b2).followPage).toBe(1);
  });

  it.each(PROFILES)('%s: a range starting inside a THP and crossing into small pages', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 2);
    p.writeByte(a, 1);
    p.writeByte(a + PMD_SIZE, 1);
    p.madvise(a + PMD_SIZE, PMD_SIZE, MADV_NOHUGEPAGE); // still a THP (already faulted)
    const pages = new Int32Array(20);
    const start = a + PMD_SIZE - 10 * PAGE_SIZE;
    expect(pin_user_pages(p.mm, start, 20, 0, pages, KERNEL_PROFILES[prof])).toBe(20);
    for (let i = 0; i < 20; i++) expect(pages[i]).toBe(pfnAt2(p, start + i * PAGE_SIZE));
    new Held(m).check();
    unpin_user_pages(m.phys, pages, 20);
    new Held(m).check();
  });
});

describe('get_user_pages_fast / pin_user_pages_fast', () => {
  function countLocks(p: ReturnType<typeof setup>['p']): { n: number } {
    const c = { n: 0 };
    const orig = p.mm.mmap_read_lock.bind(p.mm);
    p.mm.mmap_read_lock = () => {
      c.n++;
      orig();
    };
    return c;
  }

  it.each(PROFILES)('%s: present, writable pages: all from the lockless walk, no lock, no fault', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 16);
    for (let i = 0; i < 16; i++) p.writeByte(a + i * PAGE_SIZE, i);
    const locks = countLocks(p);
    const faults = m.counters.faults;
    const pages = new Int32Array(16);
    expect(get_user_pages_fast(p.mm, a, 16, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(16);
    expect(locks.n).toBe(0);
    expect(m.counters.faults).toBe(faults);
    expect(m.counters.followPage).toBe(0);
    const held = new Held(m);
    held.addAll(pages, 16);
    held.check();
    held.putAll(pages, 16);
    expect(pin_user_pages_fast(p.mm, a, 16, FOLL_WRITE | FOLL_LONGTERM, pages, KERNEL_PROFILES[prof])).toBe(
      16,
    );
    expect(locks.n).toBe(0);
    new Held(m).check();
    unpin_user_pages(m.phys, pages, 16);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: falls back to the slow path where a fault is needed', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 8);
    for (let i = 0; i < 4; i++) p.writeByte(a + i * PAGE_SIZE, 1);
    p.readByte(a + 4 * PAGE_SIZE); // zero page: special, slow path
    const locks = countLocks(p);
    const pages = new Int32Array(8);
    expect(get_user_pages_fast(p.mm, a, 8, 0, pages, KERNEL_PROFILES[prof])).toBe(8);
    expect(locks.n).toBe(1);
    expect(pages[4]).toBe(m.phys.zeroPfn);
    // The slow path takes over at the zero page: one lookup for it, two (before and after the
    // fault) for each of the three untouched pages.
    expect(m.counters.followPage).toBe(1 + 3 * 2);
    release_pages(m.phys, pages, 8);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: FOLL_FAST_ONLY returns what the lockless walk got', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 8);
    for (let i = 0; i < 3; i++) p.writeByte(a + i * PAGE_SIZE, 1);
    const pages = new Int32Array(8);
    expect(get_user_pages_fast_only(p.mm, a, 8, 0, pages, KERNEL_PROFILES[prof])).toBe(3);
    release_pages(m.phys, pages, 3);
    expect(pin_user_pages_fast_only(p.mm, a, 8, 0, pages, KERNEL_PROFILES[prof])).toBe(3);
    unpin_user_pages(m.phys, pages, 3);
    if (prof === '6.18') {
      // FOLL_FAST_ONLY is internal since 6.3: callers use the _fast_only() entry points.
      expect(
        expectWarn(() => get_user_pages_fast(p.mm, a, 8, FOLL_FAST_ONLY, pages, KERNEL_PROFILES[prof])),
      ).toBe(-EINVAL);
    } else {
      expect(get_user_pages_fast(p.mm, a, 8, FOLL_FAST_ONLY, pages, KERNEL_PROFILES[prof])).toBe(3);
      release_pages(m.phys, pages, 3);
    }
    new Held(m).check();
  });

  it.each(PROFILES)('%s: a read-only pin of a shared page leaves the fast path to unshare', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 2);
    p.writeByte(a, 1);
    p.writeByte(a + PAGE_SIZE, 1);
    const c = p.fork('c');
    p.writeByte(a, 2); // exclusive again (COW broken in the parent)
    const pages = new Int32Array(2);
    const orig = pfnAt(p, a + PAGE_SIZE);
    expect(pin_user_pages_fast_only(p.mm, a, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(1);
    unpin_user_pages(m.phys, pages, 1);
    expect(pin_user_pages_fast(p.mm, a, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(2);
    expect(pages[1]).not.toBe(orig);
    expect(m.phys.PageAnonExclusive(pages[1])).toBe(true);
    new Held(m).check();
    unpin_user_pages(m.phys, pages, 2);
    c.exit();
    new Held(m).check();
  });

  it.each(PROFILES)('%s: a THP goes in one grab from the lockless walk', (prof) => {
    const { m, p } = setup();
    const a = thpRegion(p, 1);
    p.writeByte(a, 1);
    const pages = new Int32Array(HPAGE_PMD_NR);
    const gets = m.counters.pageGet;
    expect(pin_user_pages_fast(p.mm, a, HPAGE_PMD_NR, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(
      HPAGE_PMD_NR,
    );
    expect(m.counters.pageGet - gets).toBe(1);
    const folio = m.phys.folio(pages[0]);
    expect(m.phys.pincount[folio]).toBe(HPAGE_PMD_NR);
    new Held(m).check();
    unpin_user_pages(m.phys, pages, HPAGE_PMD_NR);
    new Held(m).check();
  });

  it.each(PROFILES)('%s: flags the fast path does not take, and addresses beyond the user range', (prof) => {
    const { p } = setup();
    const a = anon(p, 1);
    const pages = new Int32Array(1);
    expect(expectWarn(() => get_user_pages_fast(p.mm, a, 1, FOLL_DUMP, pages, KERNEL_PROFILES[prof]))).toBe(
      -EINVAL,
    );
    expect(get_user_pages_fast(p.mm, 2 ** 47 - PAGE_SIZE, 2, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
  });

  it.each(PROFILES)('%s: PROT_NONE entries always go to the slow path', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 1);
    p.writeByte(a, 1);
    p.mprotect(a, PAGE_SIZE, PROT_NONE);
    const pages = new Int32Array(1);
    expect(get_user_pages_fast_only(p.mm, a, 1, FOLL_FORCE, pages, KERNEL_PROFILES[prof])).toBe(0);
    expect(get_user_pages_fast(p.mm, a, 1, 0, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT); // slow path: no VM_READ
    expect(get_user_pages_fast(p.mm, a, 1, FOLL_FORCE, pages, KERNEL_PROFILES[prof])).toBe(1);
    m.phys.put_page(pages[0]);
  });
});

describe('core dumps', () => {
  it.each(PROFILES)(
    '%s: get_dump_page(): holes and the zero page are 0; real pages come with a reference',
    (prof) => {
      const { m, p } = setup();
      const a = anon(p, 4);
      p.writeByte(a, 1);
      p.readByte(a + PAGE_SIZE);
      expect(get_dump_page(p.mm, a + PAGE_SIZE, KERNEL_PROFILES[prof])).toBe(0);
      expect(get_dump_page(p.mm, a + 2 * PAGE_SIZE, KERNEL_PROFILES[prof])).toBe(0);
      expect(m.counters.faults).toBe(2); // no fault for the dump
      const page = get_dump_page(p.mm, a, KERNEL_PROFILES[prof]);
      expect(page).toBe(pfnAt(p, a));
      m.phys.put_page(page);
      // Shared memory holes are faulted in (its fault handler would read the file).
      const s = shared(p, 1);
      const sp = get_dump_page(p.mm, s, KERNEL_PROFILES[prof]);
      expect(sp).toBe(pfnAt(p, s));
      m.phys.put_page(sp);
      expect(p.mm.mmapLocked).toBeNull();
      new Held(m).check();
    },
  );

  it.each(PROFILES)('%s: FOLL_DUMP GUP over a range stops at the first hole', (prof) => {
    const { m, p } = setup();
    const a = anon(p, 3);
    p.writeByte(a, 1);
    const pages = new Int32Array(3);
    expect(get_user_pages(p.mm, a, 3, FOLL_DUMP, pages, KERNEL_PROFILES[prof])).toBe(1);
    m.phys.put_page(pages[0]);
    expect(get_user_pages(p.mm, a + PAGE_SIZE, 2, FOLL_DUMP, pages, KERNEL_PROFILES[prof])).toBe(-EFAULT);
  });
});

describe('5-level paging and large addresses', () => {
  it.each(PROFILES)('%s: GUP above 2^47 with 5-level tables', (prof) => {
    const { m, p } = setup({ levels: 5 });
    const a = p.mmap(2 ** 52, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    expect(a).toBe(2 ** 52);
    const pages = new Int32Array(4);
    expect(get_user_pages(p.mm, a, 4, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(4);
    release_pages(m.phys, pages, 4);
    expect(get_user_pages_fast(p.mm, a, 4, FOLL_WRITE, pages, KERNEL_PROFILES[prof])).toBe(4);
    release_pages(m.phys, pages, 4);
    new Held(m).check();
    void GiB;
  });
});

/** The PFN mapped at addr by a PTE or a huge PMD. */
function pfnAt2(p: ReturnType<typeof setup>['p'], addr: number): number {
  const e = pmd(p, addr)!;
  if (pmd_leaf(e.lo)) return entry_pfn(e.lo, e.hi) + Math.floor((addr % PMD_SIZE) / PAGE_SIZE);
  return pfnAt(p, addr);
}
