import { EFAULT, ErrnoError, PAGE_SIZE } from '@mmsim/core';
import {
  E,
  entry_pfn,
  filemap_get_folio,
  filemap_open,
  filemap_write_folio,
  MADV_DONTNEED,
  MADV_FREE,
  MADV_PAGEOUT,
  MADV_RANDOM,
  MADV_WIPEONFORK,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  type MappedFile,
  MM_ANONPAGES,
  MM_FILEPAGES,
  PG_filecache,
  PG_reclaim,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  pte_write,
  readEntry,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import type { Process } from '../src/index.ts';
import { check, setup } from './helpers.ts';

const FILE_PAGES = 64;
/** The byte every page `index` of the test file holds. */
const fileByte = (index: number): number => (index * 7 + 3) & 0xff;

function testFile(m: Machine, name = 'lib.so', pages = FILE_PAGES): MappedFile {
  return filemap_open(m, name, pages, (index) => m.phys.contents.patternByte(fileByte(index)));
}

function mapFile(p: Process, file: MappedFile, pages = file.nrPages, pgoff = 0): number {
  return p.mmap(null, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, { file, pgoff });
}

/** The PFN mapped at addr (0: none) and whether its PTE is writable. */
function mapped(p: Process, addr: number): { pfn: number; write: boolean } {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) return { pfn: 0, write: false };
  readEntry(p.machine.phys, t, pte_index(addr));
  if (E.lo === 0 && E.hi === 0) return { pfn: 0, write: false };
  return { pfn: entry_pfn(E.lo, E.hi), write: pte_write(E.lo) };
}

describe('private file mappings (page cache)', () => {
  it('a read fault maps the page-cache page read-only, and fault-around its cached neighbours', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f);
    expect(p.readByte(a + 5 * PAGE_SIZE)).toBe(fileByte(5));
    // nothing was cached before: only the faulting page is read and mapped
    expect(p.mm.rss[MM_FILEPAGES]).toBe(1);
    expect(f.pages.size).toBe(1);
    const pfn = f.pages.get(5)!;
    expect(mapped(p, a + 5 * PAGE_SIZE)).toEqual({ pfn, write: false });
    expect(m.phys.PageAnon(pfn)).toBe(false);
    expect(m.phys.flags[pfn] & PG_filecache).not.toBe(0);
    // with the whole file cached, a read maps the aligned 16-page window (fault_around_bytes)
    for (let i = 0; i < FILE_PAGES; i++) filemap_get_folio(m.phys, f, i);
    p.readByte(a + 20 * PAGE_SIZE);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(1 + 16);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    check(m);
  });

  it('fault_around_bytes = PAGE_SIZE maps the faulting page only', () => {
    const { m, p } = setup();
    const f = testFile(m);
    for (let i = 0; i < FILE_PAGES; i++) filemap_get_folio(m.phys, f, i);
    m.fault_around_bytes = PAGE_SIZE;
    const a = mapFile(p, f);
    p.readByte(a + 20 * PAGE_SIZE);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(1);
    check(m);
  });

  it('processes mapping the same file share its page-cache pages', () => {
    const { m, p } = setup();
    const q = new (p.constructor as typeof Process)(m, 'q');
    const f = testFile(m);
    const a = mapFile(p, f);
    const b = mapFile(q, f, 8, 4); // pages 4..11 of the file
    p.readByte(a + 6 * PAGE_SIZE);
    q.readByte(b + 2 * PAGE_SIZE);
    expect(mapped(q, b + 2 * PAGE_SIZE).pfn).toBe(mapped(p, a + 6 * PAGE_SIZE).pfn);
    expect(m.phys.mapcount[f.pages.get(6)!]).toBe(2);
    check(m);
  });

  it('a write to an unmapped page maps an anonymous copy; the cache keeps the original (do_cow_fault)', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f);
    p.writeByte(a + 3 * PAGE_SIZE + 1, 0xee);
    const { pfn, write } = mapped(p, a + 3 * PAGE_SIZE);
    expect(write).toBe(true);
    expect(m.phys.PageAnon(pfn)).toBe(true);
    expect(p.readByte(a + 3 * PAGE_SIZE)).toBe(fileByte(3)); // copied from the file
    expect(p.readByte(a + 3 * PAGE_SIZE + 1)).toBe(0xee);
    const cached = f.pages.get(3)!;
    expect(m.phys.mapcount[cached]).toBe(0);
    expect(m.phys.readByte(cached, 1)).toBe(fileByte(3));
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(0);
    expect(p.mm.vmas[0]!.anon_vma).not.toBeNull();
    check(m);
  });

  it('a write to a mapped page-cache page copies it (wp_page_copy), moving it from file to anon RSS', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f);
    p.readByte(a);
    const cached = mapped(p, a).pfn;
    p.writeByte(a, 0x11);
    const now = mapped(p, a);
    expect(now.pfn).not.toBe(cached);
    expect(m.phys.PageAnon(now.pfn)).toBe(true);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(0);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(m.phys.mapcount[cached]).toBe(0);
    expect(f.pages.get(0)).toBe(cached);
    // MADV_DONTNEED drops the copy: the next read finds the file's page again
    p.madvise(a, PAGE_SIZE, MADV_DONTNEED);
    expect(p.readByte(a)).toBe(fileByte(0));
    expect(mapped(p, a).pfn).toBe(cached);
    check(m);
  });

  it('fork copies no PTEs of a VMA without anon_vma; the child faults the cache in later', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f, 16);
    p.readByte(a);
    const c = p.fork('c');
    expect(c.mm.rss[MM_FILEPAGES]).toBe(0);
    expect(c.readByte(a + PAGE_SIZE)).toBe(fileByte(1));
    expect(mapped(c, a + PAGE_SIZE).pfn).toBe(f.pages.get(1));
    check(m);
  });

  it('fork copies every PTE of a VMA with an anon_vma, page-cache pages included (vma_needs_copy)', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f, 16);
    p.readByte(a);
    p.writeByte(a + PAGE_SIZE, 1); // anon_vma_prepare()
    const fileRss = p.mm.rss[MM_FILEPAGES];
    const c = p.fork('c');
    expect(c.mm.rss[MM_FILEPAGES]).toBe(fileRss);
    expect(c.mm.rss[MM_ANONPAGES]).toBe(1);
    expect(mapped(c, a).pfn).toBe(mapped(p, a).pfn);
    check(m);
    c.exit();
    p.exit();
    // the page cache outlives every mapping
    expect(f.pages.size).toBeGreaterThan(0);
    for (const pfn of f.pages.values()) expect(m.phys.refcount[pfn]).toBe(1);
    check(m);
  });

  it('munmap leaves the page cache; a fault past the end of the file is SIGBUS (EFAULT here)', () => {
    const { m, p } = setup();
    const f = testFile(m, 'small', 2);
    const a = p.mmap(null, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, { file: f, pgoff: 0 });
    p.readByte(a + PAGE_SIZE);
    let err = 0;
    try {
      p.readByte(a + 2 * PAGE_SIZE);
    } catch (e) {
      err = (e as ErrnoError).errno;
    }
    expect(err).toBe(EFAULT);
    p.munmap(a, 4 * PAGE_SIZE);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(0);
    expect(f.pages.size).toBe(1);
    check(m);
  });

  it('refuses a shared file mapping and a file with MAP_ANONYMOUS', () => {
    const { m, p } = setup();
    const f = testFile(m);
    expect(() => p.mmap(null, PAGE_SIZE, PROT_READ, MAP_SHARED, { file: f, pgoff: 0 })).toThrow(ErrnoError);
    expect(() =>
      p.mmap(null, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, { file: f, pgoff: 0 }),
    ).toThrow(ErrnoError);
    check(m);
  });

  it('MADV_FREE and MADV_WIPEONFORK are EINVAL; MADV_PAGEOUT drops the clean page-cache pages only it maps', () => {
    const { m, p } = setup();
    const f = testFile(m);
    const a = mapFile(p, f, 16);
    p.readByte(a); // fault-around maps 16 pages: only the first was cached, so just it
    for (let i = 1; i < 16; i++) p.readByte(a + i * PAGE_SIZE);
    p.writeByte(a + 4 * PAGE_SIZE, 1); // an anonymous copy
    expect(() => p.madvise(a, 16 * PAGE_SIZE, MADV_FREE)).toThrow(ErrnoError);
    // MADV_WIPEONFORK is for anonymous memory only (madvise_vma_behavior(): vma->vm_file)
    expect(() => p.madvise(a, 16 * PAGE_SIZE, MADV_WIPEONFORK)).toThrow(ErrnoError);
    const child = p.fork(); // the page tables are copied (an anon_vma): every page is mapped twice
    p.madvise(a, 16 * PAGE_SIZE, MADV_PAGEOUT);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(15);
    child.exit();
    p.madvise(a, 8 * PAGE_SIZE, MADV_PAGEOUT);
    // the 7 clean pages left the cache (__remove_mapping()); the copy went to swap
    expect(p.mm.rss[MM_FILEPAGES]).toBe(8);
    expect(f.pages.size).toBe(16 - 7);
    expect(p.mm.rss[MM_ANONPAGES]).toBe(0);
    expect(p.readByte(a + 4 * PAGE_SIZE)).toBe(1);
    expect(p.readByte(a + 2 * PAGE_SIZE)).toBe(fileByte(2)); // read again from the file
    expect(f.pages.size).toBe(16 - 6);
    check(m);
  });

  it('MADV_PAGEOUT keeps a dirty page-cache page marked PG_reclaim: fault-around skips it until a fault clears it', () => {
    const { m, p } = setup();
    const f = testFile(m, 'written', 16);
    for (let i = 0; i < 16; i++) filemap_write_folio(m.phys, f, i); // write(2): dirty, not written back
    const a = mapFile(p, f);
    p.readByte(a);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(16);
    p.madvise(a, 8 * PAGE_SIZE, MADV_PAGEOUT);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(8);
    expect(f.pages.size).toBe(16);
    expect(m.phys.flags[f.pages.get(3)!] & PG_reclaim).toBe(PG_reclaim);
    // a read maps the faulting page alone (next_uptodate_folio() passes over PG_readahead)
    p.readByte(a + 3 * PAGE_SIZE);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(9);
    expect(m.phys.flags[f.pages.get(3)!] & PG_reclaim).toBe(0);
    // under MADV_RANDOM the fault leaves the mark (no async readahead)
    p.madvise(a, 16 * PAGE_SIZE, MADV_RANDOM);
    p.readByte(a + 5 * PAGE_SIZE);
    expect(m.phys.flags[f.pages.get(5)!] & PG_reclaim).toBe(PG_reclaim);
    expect(p.mm.rss[MM_FILEPAGES]).toBe(10);
    check(m);
  });
});
