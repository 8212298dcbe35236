// KSM as each kernel version has it (KsmProfile): what Debian's 6.1 and 6.12 kernels answered
// under QEMU (scenarios/expected/<kernel>/) in the simulator's own terms.

import { ENOENT, KERNEL_PROFILES, PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { MADV_UNMERGEABLE, Machine, MM_ANONPAGES, PROT_NONE } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { Ksm, ksmSysfsHas, ksmSysfsRead, ksmSysfsWrite, PR_SET_MEMORY_MERGE } from '../src/index.ts';
import { checkAll, knob, mergeableRegion } from './helpers.ts';

function world(version: keyof typeof KERNEL_PROFILES): { m: Machine; ksm: Ksm } {
  const m = new Machine({ memoryMiB: 64, kernel: KERNEL_PROFILES[version] });
  return { m, ksm: new Ksm(m) };
}

describe('KSM per kernel version', () => {
  it('6.1 has no smart_scan, advisor, general_profit, ksm_zero_pages, pages_scanned, pages_skipped', () => {
    const { ksm } = world('6.1');
    for (const f of ['smart_scan', 'advisor_mode', 'advisor_max_cpu', 'general_profit', 'ksm_zero_pages']) {
      expect(ksmSysfsRead(ksm, f)).toBeUndefined();
      expect(ksmSysfsHas(KERNEL_PROFILES['6.1'].ksm, f)).toBe(false);
    }
    expect(ksmSysfsWrite(ksm, 'smart_scan', '0')).toBe(-ENOENT);
    expect(ksmSysfsRead(ksm, 'pages_to_scan')).toBe('100');
    expect(ksm.smart_scan).toBe(false);
    const late = world('6.12.95').ksm;
    expect(ksmSysfsRead(late, 'smart_scan')).toBe('1');
    expect(ksmSysfsRead(late, 'advisor_mode')).toBe('[none] scan-time');
  });

  it('PR_SET_MEMORY_MERGE is EINVAL on 6.1, works on 6.12', () => {
    const p = new Process(world('6.1').m, 'p');
    expect(() => p.prctl(PR_SET_MEMORY_MERGE, 1)).toThrowError(expect.objectContaining({ code: 'EINVAL' }));
    expect(new Process(world('6.12').m, 'p').prctl(PR_SET_MEMORY_MERGE, 1)).toBe(0);
  });

  it('6.1 merges empty pages with the zero page without counting them, and unmerging leaves them', () => {
    for (const [version, counted] of [
      ['6.1', 0],
      ['6.12', 8],
    ] as const) {
      const { m, ksm } = world(version);
      knob(ksm, 'use_zero_pages', 1);
      const p = new Process(m, 'p');
      const a = mergeableRegion(p, 8, () => 0);
      ksm.runFullScans(3);
      expect(ksm.zero_pages).toBe(counted);
      expect(p.mm.ksm_zero_pages).toBe(counted);
      p.madvise(a, 8 * PAGE_SIZE, MADV_UNMERGEABLE);
      // 6.12 unshares KSM zero pages into fresh anonymous pages; 6.1 keeps the zero page mapped
      expect(p.mm.get_mm_counter(MM_ANONPAGES)).toBe(counted);
      checkAll(m, ksm);
    }
  });

  it('PROT_NONE pages: found by the scan from 6.1.161 on, merged from 6.5 on (and on 6.0)', () => {
    // scan_get_next_rmap_item()'s follow_page() (until 6.11, 6.1.y until 6.1.160) and
    // get_mergeable_page()'s (until 6.11) refuse PROT_NONE PTEs on 6.1-6.4; Debian's 6.1.192 finds
    // them with the backported range walk but cannot merge them (scenarios/expected/6.1/
    // ksm-tests-prot-none.json: 1 unshared, 9 volatile).
    for (const [version, items, counters] of [
      ['6.0', 10, [1, 9, 0, 0]],
      ['6.1.0', 0, [0, 0, 0, 0]],
      ['6.1', 10, [0, 0, 1, 9]],
      ['6.2', 0, [0, 0, 0, 0]],
      ['6.5', 10, [1, 9, 0, 0]],
      ['6.18', 10, [1, 9, 0, 0]],
    ] as const) {
      const { m, ksm } = world(version);
      knob(ksm, 'pages_to_scan', 10);
      const p = new Process(m, 'p');
      const a = mergeableRegion(p, 10, () => 42);
      p.mprotect(a, 10 * PAGE_SIZE, PROT_NONE);
      ksm.runFullScans(2);
      expect(p.mm.ksm_rmap_items, version).toBe(items);
      expect(
        ['pages_shared', 'pages_sharing', 'pages_unshared', 'pages_volatile'].map((f) =>
          Number(ksmSysfsRead(ksm, f)),
        ),
        version,
      ).toEqual(counters);
      checkAll(m, ksm);
    }
  });

  it("a forked child starts with its parent's ksm_rmap_items and ksm_merging_pages on 6.1 and 6.12.43, at 0 on 6.12.95", () => {
    for (const [version, inherited] of [
      ['6.1', true],
      ['6.12', true],
      ['6.12.95', false],
      ['6.18', false],
    ] as const) {
      const { m, ksm } = world(version);
      const p = new Process(m, 'p');
      mergeableRegion(p, 16, () => 7);
      ksm.runFullScans(2);
      expect(p.mm.ksm_rmap_items).toBe(16);
      const c = p.fork('c');
      expect([c.mm.ksm_rmap_items, c.mm.ksm_merging_pages]).toEqual(inherited ? [16, 16] : [0, 0]);
      checkAll(m, ksm);
    }
  });
});
