// Exact callback sequences of mm/pagewalk.c on crafted page tables (docs/kernel/pagewalk.md §1.6-§1.8).

import {
  DEFAULT_KERNEL_PROFILE,
  EFAULT,
  EINVAL,
  EIO,
  ENOMEM,
  GiB,
  KERNEL_PROFILES,
  type KernelProfile,
  MiB,
  PAGE_SIZE,
  PMD_SIZE,
  PUD_SIZE,
  TiB,
} from '@mmsim/core';
import {
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  E,
  entryOut,
  entryTable,
  MADV_HUGEPAGE,
  mk_entry,
  pmd_index,
  pmd_leaf,
  ptlHeld,
  pud_index,
  readEntry,
  setEntry,
  VM_HUGETLB,
  VM_PFNMAP,
  zap_page_range,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import {
  ACTION_AGAIN,
  ACTION_CONTINUE,
  mmWalkOps,
  walk_page_range,
  walk_page_range_novma,
  walk_page_range_vma,
  walk_page_vma,
} from '../src/index.ts';
import { check, failOnWarn, mapAt, setup, withRead, withWrite } from './helpers.ts';
import { recorder } from './record.ts';

failOnWarn();

const ALL = ['pgd', 'p4d', 'pud', 'pmd', 'pte', 'hole', 'test', 'pre', 'post'];

describe('holes at every level', () => {
  it('4-level: PMD, PUD and PGD holes; the folded P4D reports at depth 0 after a pgd_entry', () => {
    const { m, p } = setup(4);
    // The walk starts two pages before the end of a populated PMD, then meets an empty PMD, an
    // empty PUD and an empty top-level slot.
    const S = 511 * GiB - 2 * MiB - 2 * PAGE_SIZE;
    const E4 = 513 * GiB;
    mapAt(p, S, E4 - S);
    p.writeByte(S, 1);
    const r = recorder(ALL);
    const before = m.counters.snapshot();
    expect(withRead(p.mm, () => walk_page_range(p.mm, S, E4, r.ops))).toBe(0);
    expect(r.log).toEqual([
      'test 7fbfdfe000-8040000000',
      'pre 7fbfdfe000-8040000000',
      'pgd 7fbfdfe000-8000000000',
      'p4d 7fbfdfe000-8000000000',
      'pud 7fbfdfe000-7fc0000000',
      'pmd 7fbfdfe000-7fbfe00000',
      'pte 7fbfdfe000-7fbfdff000',
      'pte 7fbfdff000-7fbfe00000 none',
      'hole 7fbfe00000-7fc0000000 3',
      'hole 7fc0000000-8000000000 2',
      // pgd_none() is constant 0 without LA57: pgd_entry runs for the empty slot, whose
      // p4d_none() hole is reported at real_depth(1) == 0.
      'pgd 8000000000-8040000000',
      'hole 8000000000-8040000000 0',
      'post 7fbfdfe000-8040000000',
    ]);
    const d = m.counters.since(before);
    expect([d.walks, d.pgdRead, d.p4dRead, d.pudRead, d.pmdRead, d.pteRead]).toEqual([1, 2, 2, 2, 2, 2]);
    expect(d.walkCallbacks).toBe(r.log.length);
    expect([d.ptlLock, d.ptlUnlock]).toEqual([1, 1]);
    check(m);
  });

  it('5-level: holes at depths 3, 2, 1 and 0', () => {
    const { m, p } = setup(5);
    const S = 511 * 512 * GiB - GiB - 2 * MiB - 2 * PAGE_SIZE;
    const E5 = 256 * TiB + GiB;
    mapAt(p, S, E5 - S);
    p.writeByte(S, 1);
    const r = recorder(ALL);
    expect(withRead(p.mm, () => walk_page_range(p.mm, S, E5, r.ops))).toBe(0);
    expect(r.log).toEqual([
      'test ff7fbfdfe000-1000040000000',
      'pre ff7fbfdfe000-1000040000000',
      'pgd ff7fbfdfe000-1000000000000',
      'p4d ff7fbfdfe000-ff8000000000',
      'pud ff7fbfdfe000-ff7fc0000000',
      'pmd ff7fbfdfe000-ff7fbfe00000',
      'pte ff7fbfdfe000-ff7fbfdff000',
      'pte ff7fbfdff000-ff7fbfe00000 none',
      'hole ff7fbfe00000-ff7fc0000000 3',
      'hole ff7fc0000000-ff8000000000 2',
      'hole ff8000000000-1000000000000 1',
      'hole 1000000000000-1000040000000 0',
      'post ff7fbfdfe000-1000040000000',
    ]);
    check(m);
  });

  it('4-level: with only pte_hole an empty top-level slot is not reported (nothing to descend for)', () => {
    const { p } = setup(4);
    const S = 512 * GiB - PAGE_SIZE;
    mapAt(p, S, 2 * PAGE_SIZE);
    const r4 = recorder(['hole']);
    withRead(p.mm, () => walk_page_range(p.mm, S, S + 2 * PAGE_SIZE, r4.ops));
    expect(r4.log).toEqual([]);
    const { p: p5 } = setup(5);
    mapAt(p5, S, 2 * PAGE_SIZE);
    const r5 = recorder(['hole']);
    withRead(p5.mm, () => walk_page_range(p5.mm, S, S + 2 * PAGE_SIZE, r5.ops));
    expect(r5.log).toEqual(['hole 7ffffff000-8000001000 0']);
  });

  it('pte_entry sees every slot of the range under the PTE table lock; pmd_entry runs unlocked', () => {
    const { m, p } = setup();
    const a = mapAt(p, 0x40000000, 8 * PAGE_SIZE);
    p.writeByte(a + 2 * PAGE_SIZE, 1);
    p.readByte(a + 5 * PAGE_SIZE);
    const seen: string[] = [];
    const ops = mmWalkOps({
      pmd_entry: (w) => {
        seen.push(`pmd locked=${ptlHeld(m.phys, w.lo >>> 12)}`);
        return 0;
      },
      pte_entry: (w, addr) => {
        seen.push(`${(addr - a) / PAGE_SIZE}:${w.lo === 0 ? 'none' : 'mapped'}:${ptlHeld(m.phys, w.table)}`);
        return 0;
      },
    });
    withRead(p.mm, () => walk_page_range(p.mm, a, a + 8 * PAGE_SIZE, ops));
    expect(seen).toEqual([
      'pmd locked=false',
      '0:none:true',
      '1:none:true',
      '2:mapped:true',
      '3:none:true',
      '4:none:true',
      '5:mapped:true',
      '6:none:true',
      '7:none:true',
    ]);
    check(m);
  });
});

describe('VMAs and the gaps between them', () => {
  function twoVmas(kernel: KernelProfile = DEFAULT_KERNEL_PROFILE) {
    const { m, p } = setup(4, 64, kernel);
    const A = 0x40000000;
    const B = A + 3 * GiB;
    mapAt(p, A, PAGE_SIZE);
    mapAt(p, B, PAGE_SIZE);
    p.writeByte(A, 1);
    p.writeByte(B, 1);
    return { m, p, A, B };
  }

  it('6.1+: one pte_hole(-1) per gap, before, between and after the VMAs', () => {
    const { p, A, B } = twoVmas();
    const r = recorder(['hole', 'test', 'pre', 'post', 'pmd']);
    withRead(p.mm, () => walk_page_range(p.mm, A - PAGE_SIZE, B + 2 * PAGE_SIZE, r.ops));
    expect(r.log).toEqual([
      'hole 3ffff000-40000000 -1',
      'test 40000000-40001000',
      'pre 40000000-40001000',
      'pmd 40000000-40001000',
      'post 40000000-40001000',
      'hole 40001000-100000000 -1',
      'test 100000000-100001000',
      'pre 100000000-100001000',
      'pmd 100000000-100001000',
      'post 100000000-100001000',
      'hole 100001000-100002000 -1',
    ]);
  });

  it('6.0: gaps are walked with vma == NULL: upper entries, then one hole per PUD-sized chunk', () => {
    const { p, A, B } = twoVmas();
    const r = recorder(['pgd', 'p4d', 'pud', 'pmd', 'hole', 'pre', 'post']);
    withRead(p.mm, () => walk_page_range(p.mm, A + PAGE_SIZE, B, r.ops, null, KERNEL_PROFILES['6.0']));
    expect(r.log).toEqual([
      'pgd 40001000-100000000',
      'p4d 40001000-100000000',
      'hole 40001000-80000000 2',
      'hole 80000000-c0000000 2',
      'hole c0000000-100000000 2',
    ]);
    // Without pte_hole, 6.0 does not walk the gap at all.
    const q = recorder(['pgd', 'p4d', 'pud']);
    withRead(p.mm, () => walk_page_range(p.mm, A + PAGE_SIZE, B, q.ops, null, KERNEL_PROFILES['6.0']));
    expect(q.log).toEqual([]);
  });

  it("a walk without a profile behaves as its Machine's kernel", () => {
    const { p, A, B } = twoVmas(KERNEL_PROFILES['6.0']);
    const r = recorder(['hole', 'pmd']);
    withRead(p.mm, () => walk_page_range(p.mm, A + PAGE_SIZE, B, r.ops));
    expect(r.log).toEqual([
      'hole 40001000-80000000 2',
      'hole 80000000-c0000000 2',
      'hole c0000000-100000000 2',
    ]);
    // A profile passed by the call site wins over the Machine's.
    const q = recorder(['hole', 'pmd']);
    withRead(p.mm, () => walk_page_range(p.mm, A + PAGE_SIZE, B, q.ops, null, KERNEL_PROFILES['6.18']));
    expect(q.log).toEqual(['hole 40001000-100000000 -1']);
  });

  it('test_walk: 1 skips a VMA, a negative value aborts the walk', () => {
    const { p, A, B } = twoVmas();
    const skipFirst = recorder(['test', 'pre', 'pmd', 'post'], (kind, w) =>
      kind === 'test' && w.vma!.vm_start === A ? 1 : 0,
    );
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, skipFirst.ops))).toBe(0);
    expect(skipFirst.log).toEqual([
      'test 40000000-40001000',
      'test 100000000-100001000',
      'pre 100000000-100001000',
      'pmd 100000000-100001000',
      'post 100000000-100001000',
    ]);
    const abort = recorder(['test', 'pre'], (kind) => (kind === 'test' ? -EIO : 0));
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, abort.ops))).toBe(-EIO);
    expect(abort.log).toEqual(['test 40000000-40001000']);
  });

  it('pre_vma/post_vma pair up; a pre_vma error ends the walk without post_vma', () => {
    const { p, A, B } = twoVmas();
    const r = recorder(['pre', 'post', 'pte'], (kind, w) =>
      kind === 'pre' && w.vma!.vm_start === B ? -ENOMEM : 0,
    );
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, r.ops))).toBe(-ENOMEM);
    expect(r.log).toEqual([
      'pre 40000000-40001000',
      'pte 40000000-40001000',
      'post 40000000-40001000',
      'pre 100000000-100001000',
    ]);
  });

  it('post_vma runs even when the walk of its VMA failed', () => {
    const { p, A, B } = twoVmas();
    const r = recorder(['pre', 'post', 'pmd'], (kind) => (kind === 'pmd' ? -EFAULT : 0));
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, r.ops))).toBe(-EFAULT);
    expect(r.log).toEqual(['pre 40000000-40001000', 'pmd 40000000-40001000', 'post 40000000-40001000']);
  });

  it('a positive pte_hole result stops the walk and is returned', () => {
    const { p, A, B } = twoVmas();
    const r = recorder(['hole', 'pmd'], (kind) => (kind === 'hole' ? 42 : 0));
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, r.ops))).toBe(42);
    expect(r.log).toEqual(['pmd 40000000-40001000', 'hole 40001000-100000000 -1']);
  });

  it('VM_PFNMAP VMAs are skipped, reported to pte_hole at depth -1 when one is set', () => {
    const { p, A, B } = twoVmas();
    p.mm.vmas[0].vm_flags |= VM_PFNMAP;
    const r = recorder(['hole', 'pmd', 'pre']);
    withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, r.ops));
    expect(r.log).toEqual([
      'hole 40000000-40001000 -1',
      'hole 40001000-100000000 -1',
      'pre 100000000-100001000',
      'pmd 100000000-100001000',
    ]);
    const q = recorder(['pmd', 'pre']);
    withRead(p.mm, () => walk_page_range(p.mm, A, B + PAGE_SIZE, q.ops));
    expect(q.log).toEqual(['pre 100000000-100001000', 'pmd 100000000-100001000']);
    // A positive pte_hole value for the PFN map is a skip, not a result.
    const s = recorder(['hole', 'pmd'], (kind, _w, addr) => (kind === 'hole' && addr === A ? 5 : 0));
    expect(withRead(p.mm, () => walk_page_range(p.mm, A, A + PAGE_SIZE, s.ops))).toBe(0);
  });

  it('walk_page_vma() consults test_walk in 6.0/6.1 only', () => {
    const { p } = twoVmas();
    const vma = p.mm.vmas[0];
    for (const [name, expected] of [
      ['6.1', ['test 40000000-40001000']],
      ['6.2', ['pmd 40000000-40001000']],
      ['6.18', ['pmd 40000000-40001000']],
    ] as const) {
      const r = recorder(['test', 'pmd'], (kind) => (kind === 'test' ? 1 : 0));
      expect(withRead(p.mm, () => walk_page_vma(vma, r.ops, null, KERNEL_PROFILES[name]))).toBe(0);
      expect(r.log).toEqual(expected);
    }
  });

  it('argument errors are -EINVAL', () => {
    const { p, A } = twoVmas();
    const vma = p.mm.vmas[0];
    const ops = mmWalkOps({ pmd_entry: () => 0 });
    withRead(p.mm, () => {
      expect(walk_page_range(p.mm, A, A, ops)).toBe(-EINVAL);
      expect(walk_page_range(p.mm, A + PAGE_SIZE, A, ops)).toBe(-EINVAL);
      expect(walk_page_range(null, A, A + PAGE_SIZE, ops)).toBe(-EINVAL);
      expect(walk_page_range_vma(vma, A, A, ops)).toBe(-EINVAL);
      expect(walk_page_range_vma(vma, A - PAGE_SIZE, A + PAGE_SIZE, ops)).toBe(-EINVAL);
      expect(walk_page_range_vma(vma, A, A + 2 * PAGE_SIZE, ops)).toBe(-EINVAL);
      expect(walk_page_range_vma(vma, A, A + 1, ops)).toBe(0);
    });
  });
});

describe('actions and results', () => {
  it('ACTION_AGAIN calls pud_entry/pmd_entry again for the same entry', () => {
    const { p } = setup();
    const a = mapAt(p, 0x40000000, 4 * PAGE_SIZE);
    p.writeByte(a, 1);
    let pudAgain = 1;
    let pmdAgain = 2;
    const r = recorder(['pud', 'pmd', 'pte'], (kind, w) => {
      if (kind === 'pud' && pudAgain-- > 0) w.action = ACTION_AGAIN;
      if (kind === 'pmd' && pmdAgain-- > 0) w.action = ACTION_AGAIN;
      return 0;
    });
    withRead(p.mm, () => walk_page_range(p.mm, a, a + 2 * PAGE_SIZE, r.ops));
    expect(r.log).toEqual([
      'pud 40000000-40002000',
      'pud 40000000-40002000',
      'pmd 40000000-40002000',
      'pmd 40000000-40002000',
      'pmd 40000000-40002000',
      'pte 40000000-40001000',
      'pte 40001000-40002000 none',
    ]);
  });

  it('ACTION_CONTINUE skips the subtree; pte_entry results stop the walk and keep no lock', () => {
    const { m, p } = setup();
    const a = mapAt(p, 0x40000000, 2 * PMD_SIZE);
    p.writeByte(a, 1);
    p.writeByte(a + PMD_SIZE, 1);
    const r = recorder(['pmd', 'pte'], (kind, w, addr) => {
      if (kind === 'pmd' && addr === a) w.action = ACTION_CONTINUE;
      if (kind === 'pte' && addr === a + PMD_SIZE + 2 * PAGE_SIZE) return 7;
      return 0;
    });
    expect(withRead(p.mm, () => walk_page_range(p.mm, a, a + 2 * PMD_SIZE, r.ops))).toBe(7);
    expect(r.log).toEqual([
      'pmd 40000000-40200000',
      'pmd 40200000-40400000',
      'pte 40200000-40201000',
      'pte 40201000-40202000 none',
      'pte 40202000-40203000 none',
    ]);
    check(m);
  });

  it('walk_page_range_vma(addr, addr + 1) runs one level iteration each and one callback', () => {
    const { m, p } = setup();
    const a = mapAt(p, 0x40000000, 16 * PAGE_SIZE);
    p.writeByte(a + 3 * PAGE_SIZE, 1);
    const r = recorder(['pmd']);
    const before = m.counters.snapshot();
    const ret = withRead(p.mm, () =>
      walk_page_range_vma(p.mm.vmas[0], a + 3 * PAGE_SIZE, a + 3 * PAGE_SIZE + 1, r.ops),
    );
    expect(ret).toBe(0);
    expect(r.log).toEqual(['pmd 40003000-40003001']);
    const d = m.counters.since(before);
    expect([d.walks, d.pgdRead, d.p4dRead, d.pudRead, d.pmdRead, d.pteRead, d.walkCallbacks]).toEqual([
      1, 1, 1, 1, 1, 0, 1,
    ]);
  });
});

describe('huge leaves', () => {
  function thp() {
    const { m, p } = setup(4, 64);
    const a = mapAt(p, 0x40000000, PMD_SIZE);
    p.madvise(a, PMD_SIZE, MADV_HUGEPAGE);
    p.writeByte(a, 1);
    const t = p.mm.find_pmd_table(a);
    readEntry(m.phys, t, pmd_index(a));
    expect(pmd_leaf(E.lo)).toBe(true);
    return { m, p, a };
  }

  it('a THP reaches pmd_entry as a leaf and is not split without pte_entry', () => {
    const { m, p, a } = thp();
    let leaf = false;
    const ops = mmWalkOps({
      pmd_entry: (w) => {
        leaf = pmd_leaf(w.lo);
        return 0;
      },
    });
    withRead(p.mm, () => walk_page_range(p.mm, a, a + PMD_SIZE, ops));
    expect(leaf).toBe(true);
    expect(m.counters.pmdSplits).toBe(0);
    check(m);
  });

  it('with pte_entry and ACTION_SUBTREE the THP is split first; ACTION_CONTINUE prevents it', () => {
    const { m, p, a } = thp();
    const cont = recorder(['pmd', 'pte'], (kind, w) => {
      if (kind === 'pmd') w.action = ACTION_CONTINUE;
      return 0;
    });
    withRead(p.mm, () => walk_page_range(p.mm, a, a + PMD_SIZE, cont.ops));
    expect(cont.log).toEqual(['pmd 40000000-40200000']);
    expect(m.counters.pmdSplits).toBe(0);
    const r = recorder(['pmd', 'pte']);
    withRead(p.mm, () => walk_page_range(p.mm, a, a + PMD_SIZE, r.ops));
    expect(m.counters.pmdSplits).toBe(1);
    expect(r.log.length).toBe(1 + 512);
    expect(r.log[1]).toBe('pte 40000000-40001000');
    expect(r.log.filter((l) => l.endsWith('none'))).toEqual([]);
    check(m);
  });

  it('no_vma walks neither split nor descend into leaves', () => {
    const { m, p, a } = thp();
    const r = recorder(['pmd', 'pte', 'hole']);
    expect(withWrite(p.mm, () => walk_page_range_novma(p.mm, a, a + PMD_SIZE, r.ops))).toBe(0);
    expect(r.log).toEqual(['pmd 40000000-40200000']);
    expect(m.counters.pmdSplits).toBe(0);
  });

  function pudLeaf() {
    const { m, p } = setup();
    const a = mapAt(p, 2 * GiB, 2 * GiB);
    p.writeByte(a + GiB, 1); // the PUD table exists; the slot for `a` stays empty
    p.mm.find_pmd_table(a + GiB);
    // A 1 GiB leaf (a DAX/PFN-map style mapping; mmsim's anonymous memory never has them).
    mk_entry(0x40000, _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_PSE, 0);
    setEntry(m.phys, p.mm.found_pud_table(), pud_index(a), entryOut.lo, entryOut.hi);
    return { m, p, a };
  }

  it('a PUD leaf goes to pud_entry; below it there is nothing to walk without a VMA', () => {
    const { p, a } = pudLeaf();
    const r = recorder(['pud', 'pmd', 'pte', 'hole']);
    withWrite(p.mm, () => walk_page_range_novma(p.mm, a, a + PUD_SIZE + PMD_SIZE, r.ops));
    expect(r.log).toEqual([
      'pud 80000000-c0000000',
      'pud c0000000-c0200000',
      'pmd c0000000-c0200000',
      'pte c0000000-c0001000',
      ...Array.from(
        { length: 511 },
        (_, i) =>
          `pte ${(0xc0001000 + i * PAGE_SIZE).toString(16)}-${(0xc0002000 + i * PAGE_SIZE).toString(16)} none`,
      ),
    ]);
  });

  it('under a VMA, descending splits (zaps) a PUD leaf and the slot is retried as a hole', () => {
    const { p, a } = pudLeaf();
    const r = recorder(['pud', 'pmd', 'hole']);
    withRead(p.mm, () => walk_page_range(p.mm, a, a + PUD_SIZE, r.ops));
    expect(r.log).toEqual(['pud 80000000-c0000000', 'hole 80000000-c0000000 2']);
  });

  it('hugetlb VMAs go to hugetlb_entry per huge page, or are skipped without one', () => {
    const { m, p } = setup();
    const a = mapAt(p, GiB - PMD_SIZE, 2 * PMD_SIZE);
    p.writeByte(GiB - PMD_SIZE, 1); // gives the first huge page a PMD table
    const vma = p.mm.vmas[0];
    vma.vm_flags |= VM_HUGETLB;
    const log: string[] = [];
    const ops = mmWalkOps({
      hugetlb_entry: (w, hsz, addr, next) => {
        log.push(`huge ${addr.toString(16)}-${next.toString(16)} ${hsz} ${w.table !== 0}`);
        return 0;
      },
      pte_hole: (addr, next, depth) => {
        log.push(`hole ${addr.toString(16)}-${next.toString(16)} ${depth}`);
        return 0;
      },
      pmd_entry: () => {
        log.push('pmd');
        return 0;
      },
    });
    withRead(p.mm, () => walk_page_range(p.mm, a, a + 2 * PMD_SIZE, ops));
    expect(log).toEqual(['huge 3fe00000-40000000 2097152 true', 'hole 40000000-40200000 -1']);
    const q = recorder(['pmd', 'pte', 'pre', 'post']);
    withRead(p.mm, () => walk_page_range(p.mm, a, a + 2 * PMD_SIZE, q.ops));
    expect(q.log).toEqual(['pre 3fe00000-40200000', 'post 3fe00000-40200000']);
    vma.vm_flags &= ~VM_HUGETLB;
    void m;
  });
});

describe('the 6.5+ pte_offset_map_lock() failure', () => {
  it('a PMD that vanishes before its PTE table is mapped is retried (ACTION_AGAIN) and seen as a hole', () => {
    const { m, p } = setup();
    const a = mapAt(p, 0x40000000, 4 * PAGE_SIZE);
    p.writeByte(a, 1);
    m.at('walk:pte-table', () => {
      // Meanwhile the PTE table was emptied and freed (as khugepaged's retract_page_tables()).
      const pmdT = p.mm.find_pmd_table(a);
      zap_page_range(p.mm.vmas[0], a, a + 4 * PAGE_SIZE);
      readEntry(m.phys, pmdT, pmd_index(a));
      const pteT = entryTable(E.lo, E.hi);
      setEntry(m.phys, pmdT, pmd_index(a), 0, 0);
      m.phys.freePageTable(pteT);
      p.mm.nrPtes--;
    });
    const r = recorder(['pmd', 'pte', 'hole']);
    withRead(p.mm, () => walk_page_range(p.mm, a, a + 2 * PAGE_SIZE, r.ops));
    expect(r.log).toEqual(['pmd 40000000-40002000', 'hole 40000000-40002000 3']);
    check(m);
  });
});
