import { decodeEntry, encodeEntry } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { mmsim, usageError } from './helpers.ts';

describe('mmsim pte: decode', () => {
  it('a present user page', async () => {
    const r = await mmsim(['pte', '0x8000000012345067']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchInlineSnapshot(`
      "0x8000000012345067  pte (4-level paging)
        page       4 KiB page at pfn 0x12345, writable, no-exec
        bits       present rw user accessed dirty nx
        pfn        0x12345 (74565), physical address 0x12345000
      "
    `);
  });

  it('decimal input is the same entry', async () => {
    const hex = await mmsim(['pte', '0x8000000012345067', '--json']);
    const dec = await mmsim(['pte', String(0x8000000012345067n)]);
    expect(JSON.parse(hex.out).value).toBe('0x8000000012345067');
    expect(dec.out).toContain('0x8000000012345067');
  });

  it('a 2 MiB leaf PMD, and the same value read as a PTE', async () => {
    const pmd = JSON.parse((await mmsim(['pte', '0x80000000122000e7', '--level', 'pmd', '--json'])).out);
    expect(pmd).toMatchObject({ kind: 'huge page', pfn: 0x12200, level: 'pmd' });
    expect(pmd.bits).toContain('pse');
    const pte = JSON.parse((await mmsim(['pte', '0x80000000122000e7', '--json'])).out);
    expect(pte).toMatchObject({ kind: 'page', pfn: 0x12200 });
    expect(pte.bits).toContain('pat');
  });

  it('a table entry, and a bad one', async () => {
    expect(decodeEntry(0x1234067, 0, 'pmd')).toMatchObject({ kind: 'table', pfn: 0x1234 });
    expect(decodeEntry(0x1234065, 0, 'pud').kind).toBe('bad'); // no RW
    expect(decodeEntry(0x1234067, 0, 'pgd').summary).toContain('pud table'); // 4-level: p4d folded
    expect(decodeEntry(0x1234067, 0, 'pgd', 5).summary).toContain('p4d table');
  });

  it('the none entry', async () => {
    expect((await mmsim(['pte', '0'])).out).toMatchInlineSnapshot(`
      "0x0000000000000000  pte (4-level paging)
        none       pte_none(): nothing mapped
      "
    `);
  });

  it('a swap entry', async () => {
    const r = await mmsim(['pte', '0x07ffffffffff7a08']);
    expect(r.out).toMatchInlineSnapshot(`
      "0x07ffffffffff7a08  pte (4-level paging)
        swap       swap entry: slot 0x42 of swap file 0
        bits       swp_exclusive
        swap       type 0, offset 0x42 (66)
      "
    `);
  });

  it('a migration entry, its A/D bits where MAX_PHYSMEM_BITS puts them', async () => {
    const r = await mmsim(['pte', '0xcffffffffdb97400']);
    expect(r.out).toMatchInlineSnapshot(`
      "0xcffffffffdb97400  pte (4-level paging)
        migration  migration entry (read) for pfn 0x12345
        pfn        0x12345 (74565), physical address 0x12345000
        swap       type 25, offset 0x12345 (74565)
        a/d bits   young no, dirty no (SWP_MIG_YOUNG/DIRTY, bits 34-35 of the offset)
      "
    `);
    // young = offset bit SWP_PFN_BITS: 34 with 4-level paging, 40 with 5-level.
    const young4 = encodeEntry({ level: 'pte', levels: 4, flags: [], swapType: 0, offset: 2 ** 34 + 5 });
    if (typeof young4 === 'string') throw new Error(young4);
    // Re-type it as a migration entry: type bits are the top 5 of `hi`.
    const hi = ((young4.hi & 0x07ffffff) | (25 << 27)) >>> 0;
    expect(decodeEntry(young4.lo, hi, 'pte', 4).migration).toEqual({
      kind: 'read',
      young: true,
      dirty: false,
    });
    expect(decodeEntry(young4.lo, hi, 'pte', 5).migration).toEqual({
      kind: 'read',
      young: false,
      dirty: false,
    });
  });

  it('PTE markers', async () => {
    const r = JSON.parse((await mmsim(['pte', '0xfffffffffffff600', '--json'])).out);
    expect(r).toMatchObject({ kind: 'marker', markers: ['guard'] });
  });

  it('a PROT_NONE entry stores its PFN inverted', async () => {
    const r = JSON.parse((await mmsim(['pte', '0x000ffffffedcb124', '--json'])).out);
    expect(r).toMatchObject({ kind: 'protnone', pfn: 0x1234 });
  });
});

describe('mmsim pte --encode', () => {
  it('builds a present entry from flags', async () => {
    const r = await mmsim(['pte', '--encode', '--pfn', '0x1234', '--flags', 'present,rw,user,dirty']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe('0x0000000001234047  pte (4-level paging)');
  });

  it('round-trips every kind through decode', () => {
    const cases: [Parameters<typeof encodeEntry>[0], string][] = [
      [
        { level: 'pte', levels: 4, pfn: 0x1234, flags: ['present', 'rw', 'user', 'accessed', 'dirty', 'nx'] },
        'page',
      ],
      [{ level: 'pmd', levels: 4, pfn: 0x200, flags: ['present', 'rw', 'user', 'pse'] }, 'huge page'],
      [{ level: 'pud', levels: 4, pfn: 0x40000, flags: ['present', 'rw', 'user', 'pse'] }, 'huge page'],
      [{ level: 'pte', levels: 4, pfn: 0x1234, flags: ['protnone', 'user', 'accessed'] }, 'protnone'],
      [{ level: 'pte', levels: 4, flags: ['exclusive'], swapType: 3, offset: 0x12345 }, 'swap'],
      [{ level: 'pmd', levels: 4, flags: [], migration: 'write', pfn: 0x200 }, 'migration'],
      [
        { level: 'pte', levels: 5, flags: ['soft_dirty'], migration: 'read_exclusive', pfn: 0xffffff },
        'migration',
      ],
      [{ level: 'pte', levels: 4, flags: [], markers: ['uffd_wp', 'guard'] }, 'marker'],
    ];
    for (const [req, kind] of cases) {
      const w = encodeEntry(req);
      if (typeof w === 'string') throw new Error(w);
      const d = decodeEntry(w.lo, w.hi, req.level, req.levels);
      expect(d.kind).toBe(kind);
      if (req.pfn !== undefined) expect(d.pfn).toBe(req.pfn);
      if (req.offset !== undefined) expect(d.swap).toEqual({ type: req.swapType, offset: req.offset });
      if (req.migration !== undefined) expect(d.migration?.kind).toBe(req.migration);
    }
  });

  it('--json gives the decoded fields', async () => {
    const r = await mmsim([
      'pte',
      '--encode',
      '--swap-type',
      '0',
      '--offset',
      '0x42',
      '--flags',
      'exclusive',
      '--json',
    ]);
    expect(JSON.parse(r.out)).toMatchObject({
      value: '0x07ffffffffff7a08',
      kind: 'swap',
      swap: { type: 0, offset: 0x42 },
      bits: ['swp_exclusive'],
    });
  });
});

describe('mmsim pte: mistakes are one line and exit 2', () => {
  it.each([
    [['pte', 'zz'], 'bad entry value "zz"'],
    [['pte', '0x10000000000000000'], 'more than 64 bits'],
    [['pte', '-1'], 'bad entry value "-1"'],
    [['pte', '0x1', '--level', 'pte4'], "argument 'pte4' is invalid"],
    [['pte'], 'give an entry value'],
    [['pte', '0x1', '--pfn', '3'], '--pfn goes with --encode'],
    [['pte', '0x1', '--encode'], 'give no value'],
    [['pte', '--encode', '--flags', 'present,frob'], 'unknown flag "frob"'],
    [['pte', '--encode', '--pfn', '0x201', '--flags', 'present,pse', '--level', 'pmd'], 'multiple of 512'],
    [['pte', '--encode', '--pfn', '0x10000000000'], '40-bit PFN'],
    [['pte', '--encode', '--migration', 'sideways', '--pfn', '1'], '--migration: expected'],
    [['pte', '--encode', '--migration', 'read'], '--migration needs --pfn'],
    [['pte', '--encode', '--swap-type', '30'], '--swap-type: expected 0 to'],
    [['pte', '--encode', '--marker', 'frob'], '--marker: expected'],
    [['pte', '--encode', '--swap-type', '1', '--marker', 'guard'], 'give one of'],
    [['pte', '--encode', '--pfn', 'x12'], '--pfn: expected'],
    [['pte', '--encode', '--pfn', '1', '--pkey', '16'], '--pkey'],
  ])('%j', async (argv, message) => {
    expect(usageError(await mmsim(argv))).toContain(message);
  });
});
