// write_protect_page()'s memo of the scanned page's PTE (findPte()): the scan's walk found the
// page in that PTE table, and while cmp_and_merge_page() runs for it in the same mergeable epoch,
// the table still covers the page's address and the entry maps the page. checkKsmInvariants()
// checks the memo whenever it is current; these tests change the page tables where the memo must
// not outlive the change (a race hook in a merge, after the page's merge) and require the checker
// to find nothing.

import { PAGE_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import { MADV_DONTNEED } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { checkKsmInvariants, KSM_RUN_MERGE } from '../src/index.ts';
import { checkAll, mergeableRegion, world } from './helpers.ts';

const PAGES = 4;

/** Four equal pages of one process, checksummed by a first full scan: the next scan merges. */
function checksummed() {
  const { m, ksm } = world(64);
  ksm.run = KSM_RUN_MERGE;
  ksm.pages_to_scan = 1_000_000;
  const p = new Process(m, 'p');
  const addr = mergeableRegion(p, PAGES, () => 0x5a);
  ksm.runFullScans(1);
  return { m, ksm, p, addr };
}

describe('write_protect_page(): the memo of the scanned page PTE table', () => {
  it('is used in a merging scan and never outlives its page', () => {
    const { m, ksm, p, addr } = checksummed();
    ksm.runFullScans(1);
    expect(ksm.counters()).toMatchObject({ pages_shared: 1, pages_sharing: PAGES - 1 });
    expect(ksm.scan_pte_memo()).toBeNull();
    // The region's page tables go away between batches: nothing may still claim them.
    p.munmap(addr, PAGES * PAGE_SIZE);
    expect(p.mm.find_pte_table(addr)).toBe(0);
    checkAll(m, ksm);
  });

  it.each([
    ['its PTE table is freed', 'munmap'],
    ['its PTE is zapped', 'dontneed'],
  ] as const)('is not current in a race hook, which may change the page tables: %s', (_, how) => {
    const { m, ksm, p, addr } = checksummed();
    const pfn = p.translate(addr + PAGE_SIZE, false, 'read');
    let checked = false;
    const arm = (): void =>
      m.at('ksm:after-checksum', (ctx) => {
        if ((ctx as { page: number }).page !== pfn) return arm();
        // The scanned page's PTE changes under ksmd: the memo must not be current.
        if (how === 'munmap') {
          p.munmap(addr, PAGES * PAGE_SIZE);
          expect(p.mm.find_pte_table(addr + PAGE_SIZE)).toBe(0);
        } else {
          p.madvise(addr + PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
          expect(p.mm.find_pte_table(addr + PAGE_SIZE)).not.toBe(0);
        }
        checkKsmInvariants(ksm);
        expect(ksm.scan_pte_memo()).toBeNull();
        checked = true;
      });
    arm();
    ksm.runFullScans(1);
    expect(checked).toBe(true);
    checkAll(m, ksm);
  });
});
