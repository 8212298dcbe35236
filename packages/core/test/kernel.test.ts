import { describe, expect, it } from 'vitest';
import { DEFAULT_KERNEL_PROFILE, KERNEL_PROFILES, KERNEL_VERSIONS, kernelProfile } from '../src/index.ts';

describe('kernel profiles', () => {
  it('one frozen profile per version, every switch present', () => {
    const keys = (o: object) => Object.keys(o).sort();
    const ref = KERNEL_PROFILES['6.18'];
    for (const v of KERNEL_VERSIONS) {
      const p = KERNEL_PROFILES[v];
      expect(p.name).toBe(v);
      expect(
        Object.isFrozen(p) && Object.isFrozen(p.walk) && Object.isFrozen(p.gup) && Object.isFrozen(p.ksm),
      ).toBe(true);
      expect(keys(p.walk)).toEqual(keys(ref.walk));
      expect(keys(p.gup)).toEqual(keys(ref.gup));
      expect(keys(p.ksm)).toEqual(keys(ref.ksm));
    }
    expect(DEFAULT_KERNEL_PROFILE).toBe(ref);
  });

  it('switches follow the version each change landed in', () => {
    const on = (f: (v: (typeof KERNEL_PROFILES)['6.0']) => boolean) =>
      KERNEL_VERSIONS.filter((v) => f(KERNEL_PROFILES[v]));
    expect(on((p) => p.walk.gapWalk)).toEqual(['6.0']);
    expect(on((p) => p.walk.walkPageVmaTest)).toEqual(['6.0', '6.1.0', '6.1']);
    expect(on((p) => p.walk.walkLock)).toEqual(['6.5', '6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.gup.migration)).toEqual(['6.0', '6.1.0', '6.1']);
    expect(on((p) => p.gup.numa)).toEqual(['6.0']);
    expect(on((p) => p.gup.validArgs)).toEqual(['6.5', '6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.gup.followHugePmd)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    expect(KERNEL_VERSIONS.map((v) => KERNEL_PROFILES[v].ksm.breakKsm)).toEqual([
      'follow_page',
      'follow_page',
      'follow_page',
      'walk_pmd',
      'walk_pmd',
      'folio_walk',
      'folio_walk',
      'folio_walk',
      'range_walk',
    ]);
    // the range walk of 6.18-rc6 with its stable backports: Debian's 6.1.192 (from 6.1.161) and
    // 6.12.95 have it, 6.12.43 and v6.1 to 6.1.160 ('6.1.0') do not
    expect(KERNEL_VERSIONS.map((v) => KERNEL_PROFILES[v].ksm.scanWalk)).toEqual([
      'follow_page',
      'follow_page',
      'range_walk',
      'follow_page',
      'follow_page',
      'folio_walk',
      'range_walk',
      'range_walk',
      'range_walk',
    ]);
    expect(on((p) => p.ksm.mergeAny)).toEqual(['6.5', '6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.ksm.smartScan)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.ksm.statMergeFlags)).toEqual(['6.18', '6.19']);
    expect(on((p) => p.ksm.forkResetsCounters)).toEqual(['6.12.95', '6.18', '6.19']);
    // Debian's 6.1.192: PROT_NONE pages never merge, a chain of one full dup stays a chain
    expect(on((p) => p.ksm.mergeableFollowPage)).toEqual(['6.0', '6.1.0', '6.1', '6.2', '6.5']);
    expect(on((p) => p.ksm.chainCollapseFull)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    // mm: what Debian's 6.1.192 and 6.12.95 answered where the live 6.18 differs
    expect(on((p) => p.mm.guardRegions)).toEqual(['6.18', '6.19']);
    expect(on((p) => p.mm.populateWholeRange)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.mm.collapseNeedsWritable)).toEqual([
      '6.0',
      '6.1.0',
      '6.1',
      '6.2',
      '6.5',
      '6.12',
      '6.12.95',
    ]);
    expect(on((p) => p.mm.splitMapsZeroPage)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.mm.hugeZeroWpThp)).toEqual(['6.18', '6.19']);
    expect(on((p) => p.mm.reuseLargeAnonFolio)).toEqual(['6.18', '6.19']);
    expect(on((p) => p.mm.mmId)).toEqual(['6.18', '6.19']);
    // 6.11 to 6.12.116 and mainline until 2026; the live 6.18.44 has the stable removal
    expect(on((p) => p.mm.lazyfreePmdDiscard)).toEqual(['6.12', '6.12.95', '6.19']);
    // "mm: increase folio batch size" (6.10); Debian's 6.12 builds enable the multi-gen LRU
    expect(on((p) => p.mm.folioBatchSize === 31)).toEqual(['6.12', '6.12.95', '6.18', '6.19']);
    expect(on((p) => p.mm.lruGenEnabled)).toEqual(['6.12', '6.12.95']);
  });

  it('kernelProfile() resolves a user-typed version or names the known ones', () => {
    expect(kernelProfile('6.12')).toBe(KERNEL_PROFILES['6.12']);
    expect(() => kernelProfile('5.15')).toThrow(
      /unknown kernel version '5.15' \(6.0, 6.1.0, 6.1, 6.2, 6.5, 6.12, 6.12.95, 6.18, 6.19\)/,
    );
    expect(() => kernelProfile('toString')).toThrow(RangeError);
  });
});
