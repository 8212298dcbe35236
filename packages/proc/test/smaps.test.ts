// /proc/<pid>/smaps and smaps_rollup: the kernel's text format and the values for simple layouts.

import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import {
  filemap_open,
  MADV_DONTDUMP,
  MADV_HUGEPAGE,
  MADV_PAGEOUT,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  PAGE_MAPPING_KSM,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  VM_LOCKED,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PROC_CONFIG, show_map_vma, smaps, smaps_rollup, smapsText } from '../src/index.ts';
import { failOnWarn, mapAt, setup } from './helpers.ts';

failOnWarn();

const A = 0x7f0000000000;

describe('smaps', () => {
  it('prints a VMA block in the kernel format and order', () => {
    const { p } = setup();
    mapAt(p, A, 16 * PAGE_SIZE);
    for (let i = 0; i < 4; i++) p.writeByte(A + i * PAGE_SIZE, i + 1);
    for (let i = 4; i < 8; i++) p.readByte(A + i * PAGE_SIZE); // the zero page is not counted
    const [e] = smaps(p.mm);
    expect(e.text).toBe(
      [
        '7f0000000000-7f0000010000 rw-p 00000000 00:00 0 ',
        'Size:                 64 kB',
        'KernelPageSize:        4 kB',
        'MMUPageSize:           4 kB',
        'Rss:                  16 kB',
        'Pss:                  16 kB',
        'Pss_Dirty:            16 kB',
        'Shared_Clean:          0 kB',
        'Shared_Dirty:          0 kB',
        'Private_Clean:         0 kB',
        'Private_Dirty:        16 kB',
        'Referenced:           16 kB',
        'Anonymous:            16 kB',
        'KSM:                   0 kB',
        'LazyFree:              0 kB',
        'AnonHugePages:         0 kB',
        'ShmemPmdMapped:        0 kB',
        'FilePmdMapped:         0 kB',
        'Shared_Hugetlb:        0 kB',
        'Private_Hugetlb:       0 kB',
        'Swap:                  0 kB',
        'SwapPss:               0 kB',
        'Locked:                0 kB',
        'THPeligible:           0',
        'VmFlags: rd wr mr mw me ac sd ',
        '',
      ].join('\n'),
    );
    expect(e.fields).toMatchObject({ Size: 64, Rss: 16, Pss: 16, Anonymous: 16, KSM: 0, THPeligible: 0 });
    expect(smapsText(p.mm)).toBe(e.text);
  });

  it('VmFlags follow the VMA flags and the kernel configuration; ProtectionKey with pkeys', () => {
    const { p } = setup();
    mapAt(p, A, PMD_SIZE);
    p.madvise(A, PMD_SIZE, MADV_HUGEPAGE);
    p.madvise(A, PMD_SIZE, MADV_DONTDUMP);
    mapAt(p, A + 2 * PMD_SIZE, PAGE_SIZE, 0, PROT_NONE);
    const noSd = { ...DEFAULT_PROC_CONFIG, memSoftDirty: false, protectionKeys: true };
    const [huge, none] = smaps(p.mm, noSd);
    expect(huge.fields.VmFlags).toBe('rd wr mr mw me ac dd hg ');
    expect(huge.fields.THPeligible).toBe(1);
    expect(huge.text).toContain(
      'THPeligible:           1\nProtectionKey:         0\nVmFlags: rd wr mr mw me ac dd hg \n',
    );
    expect(none.fields.VmFlags).toBe('mr mw me ');
    expect(none.text.split('\n')[0]).toBe('7f0000400000-7f0000401000 ---p 00000000 00:00 0 ');
  });

  it('splits shared pages: Pss halves with a child, Shared_Dirty, and back to private after COW', () => {
    const { p } = setup();
    mapAt(p, A, 4 * PAGE_SIZE);
    for (let i = 0; i < 4; i++) p.writeByte(A + i * PAGE_SIZE, 1);
    const c = p.fork('c');
    c.writeByte(A, 9);
    const f = smaps(p.mm)[0].fields;
    expect([f.Rss, f.Pss, f.Shared_Dirty, f.Private_Dirty, f.Pss_Dirty]).toEqual([16, 4 + 6, 12, 4, 10]);
    expect(smaps(c.mm)[0].fields.Pss).toBe(10);
  });

  it('counts swap entries in Swap and SwapPss, shared swap slots proportionally', () => {
    const { p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.writeByte(A + PAGE_SIZE, 1);
    p.madvise(A, 2 * PAGE_SIZE, MADV_PAGEOUT);
    expect(smaps(p.mm)[0].fields).toMatchObject({ Rss: 0, Swap: 8, SwapPss: 8 });
    const c = p.fork('c');
    expect(smaps(p.mm)[0].fields).toMatchObject({ Swap: 8, SwapPss: 4 });
    expect(smaps(c.mm)[0].fields).toMatchObject({ Swap: 8, SwapPss: 4 });
  });

  it('KSM, Locked and AnonHugePages', () => {
    const { m, p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    // A page KSM merged (page->mapping tagged PAGE_MAPPING_KSM): counted in KSM and Anonymous.
    const pfn = p.translate(A, false, 't');
    m.phys.setMapping(pfn, 1, PAGE_MAPPING_KSM);
    p.mm.vmas[0].vm_flags |= VM_LOCKED;
    const f = smaps(p.mm)[0].fields;
    expect([f.KSM, f.Anonymous, f.Locked]).toEqual([4, 4, 4]);
    expect(smaps(p.mm)[0].fields.VmFlags).toBe('rd wr mr mw me lo ac sd ');
    const T = A + 2 * PMD_SIZE;
    mapAt(p, T, PMD_SIZE);
    p.madvise(T, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(T, 1);
    const t = smaps(p.mm).find((e) => e.vma.vm_start === T)!.fields;
    expect([t.Rss, t.AnonHugePages, t.Private_Dirty, t.Pss]).toEqual([2048, 2048, 2048, 2048]);
  });

  it('shared anonymous memory is the shmem file /dev/zero (deleted)', () => {
    const { p } = setup();
    p.mmap(A, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    p.writeByte(A, 1);
    const [e] = smaps(p.mm);
    const head = show_map_vma(e.vma);
    expect(head).toMatch(/^7f0000000000-7f0000004000 rw-s 00000000 00:01 \d+ +\/dev\/zero \(deleted\)\n$/);
    expect(head.indexOf('/dev/zero')).toBe(73);
    expect([e.fields.Rss, e.fields.Anonymous, e.fields.Private_Dirty, e.fields.VmFlags]).toEqual([
      4,
      0,
      4,
      'rd wr sh mr mw me ms sd ',
    ]);
  });

  it('smaps_rollup sums every VMA under one header spanning them', () => {
    const { p } = setup();
    mapAt(p, A, 2 * PAGE_SIZE);
    p.writeByte(A, 1);
    p.mmap(A + PMD_SIZE, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED);
    p.writeByte(A + PMD_SIZE, 1);
    const r = smaps_rollup(p.mm);
    expect(r.text.split('\n').slice(0, 7)).toEqual([
      `7f0000000000-7f0000201000 ---p 00000000 00:00 0${' '.repeat(26)}[rollup]`,
      'Rss:                   8 kB',
      'Pss:                   8 kB',
      'Pss_Dirty:             8 kB',
      'Pss_Anon:              4 kB',
      'Pss_File:              0 kB',
      'Pss_Shmem:             4 kB',
    ]);
    expect(r.text.endsWith('Locked:                0 kB\n')).toBe(true);
    expect(r.text).not.toContain('THPeligible');
  });

  it('counts the page cache of a private file mapping in Rss, not in Anonymous', () => {
    const { m, p } = setup();
    const f = filemap_open(m, '/usr/lib/libx.so', 16, () => m.phys.contents.patternByte(9));
    p.mmap(A, 16 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, { file: f, pgoff: 2 });
    for (let i = 0; i < 8; i++) p.readByte(A + i * PAGE_SIZE);
    p.writeByte(A, 1); // an anonymous copy in place of the first page
    const [e] = smaps(p.mm);
    expect(e.text.split('\n')[0]).toMatch(
      new RegExp(`^7f0000000000-7f0000010000 rw-p 00002000 00:00 ${f.id} +/usr/lib/libx.so$`),
    );
    expect(e.fields).toMatchObject({
      Rss: 32,
      Anonymous: 4,
      Private_Clean: 28,
      Private_Dirty: 4,
      THPeligible: 0,
    });
  });
});
