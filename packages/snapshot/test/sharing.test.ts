// Existing sharing restored as the kernel holds it: fork-shared anonymous frames through fork(),
// KSM pages as KSM pages with their stable nodes and rmap_items.

import { PAGE_SIZE } from '@mmsim/core';
import { checkKsmInvariants } from '@mmsim/ksm';
import { checkMmInvariants, MM_ANONPAGES } from '@mmsim/mmu';
import { predictKsmd } from '@mmsim/scenario';
import { KSMD_COST_FILE, loadKsmdCost } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { readSnapshot } from '../src/format.ts';
import { predictFullScans } from '../src/predict.ts';
import { type Restored, restoreSnapshot } from '../src/restore.ts';
import { bytePage, type TestPage, writeTestSnapshot } from './helpers.ts';

const BASE = 0x7f0000000000;
const OTHER = 0x7f0000100000;

function unique(pid: number, i: number): Uint8Array {
  const p = new Uint8Array(PAGE_SIZE);
  new DataView(p.buffer).setUint32(0, pid * 1000 + i + 1);
  return p;
}

function pfn(ctx: Restored, pid: number, addr: number): number {
  return ctx.procs.get(String(pid))!.translate(addr, false, 'test');
}

function restore(file: string, knobs: Record<string, string> = {}): Restored {
  const ctx = restoreSnapshot(readSnapshot(file), file, { knobs });
  checkMmInvariants(ctx.machine);
  checkKsmInvariants(ctx.ksm);
  return ctx;
}

/** A parent and its child: two frames shared through fork, one page each of their own, and a VMA
 * only the child has. `shared`: the frames are shared (else the same bytes in frames of their own). */
function forked(shared: boolean, withContents: boolean): string {
  const page = (i: number): TestPage =>
    shared ? { bytes: bytePage(0x40 + i), frame: `f${i}` } : bytePage(0x40 + i);
  return writeTestSnapshot(
    [
      { pid: 300, vmas: [{ start: BASE, pages: [page(0), page(1), unique(300, 0)] }] },
      {
        pid: 301,
        vmas: [
          { start: BASE, pages: [page(0), page(1), unique(301, 0)] },
          { start: OTHER, pages: [unique(301, 1)] },
        ],
      },
    ],
    withContents,
  );
}

describe('fork-shared anonymous pages', () => {
  it('restore as one frame mapped by both processes, copy-on-write, in one anon_vma tree', () => {
    const ctx = restore(forked(true, true));
    const pm = ctx.machine.phys;
    for (const i of [0, 1]) {
      const f = pfn(ctx, 300, BASE + i * PAGE_SIZE);
      expect(pfn(ctx, 301, BASE + i * PAGE_SIZE)).toBe(f);
      expect(pm.folio_mapcount(f)).toBe(2);
    }
    expect(pfn(ctx, 301, BASE + 2 * PAGE_SIZE)).not.toBe(pfn(ctx, 300, BASE + 2 * PAGE_SIZE));
    expect(ctx.procs.get('301')!.read(BASE + 2 * PAGE_SIZE, 4)).toEqual(unique(301, 0).subarray(0, 4));
    const parentVma = ctx.procs.get('300')!.mm.find_vma(BASE)!;
    const childVma = ctx.procs.get('301')!.mm.find_vma(BASE)!;
    expect(childVma.anon_vma!.root).toBe(parentVma.anon_vma!.root);
    expect(ctx.procs.get('301')!.mm.find_vma(OTHER)!.vm_start).toBe(OTHER);
    // a write in the child copies the page; the parent keeps its bytes
    ctx.procs.get('301')!.writeByte(BASE, 1);
    expect(pfn(ctx, 301, BASE)).not.toBe(pfn(ctx, 300, BASE));
    expect(ctx.procs.get('300')!.readByte(BASE)).toBe(0x40);
    expect(ctx.start.full_scans).toBe(0);
    checkMmInvariants(ctx.machine);
  });

  it('ksmd treats them as the kernel does: a forked page is no merge candidate of itself', () => {
    const shared = predictFullScans(restore(forked(true, false)), 2, {
      full_scans: 0,
      pages_scanned: 0,
      pages_skipped: 0,
    });
    const copies = predictFullScans(restore(forked(false, false)), 2, {
      full_scans: 0,
      pages_scanned: 0,
      pages_skipped: 0,
    });
    expect(shared.ksm.pages_sharing).toBe(0);
    expect(shared.procs['300'].smaps.Rss).toBe(3 * 4);
    expect(copies.ksm.pages_shared).toBe(2);
    expect(copies.ksm.pages_sharing).toBe(2);
  });
});

describe('frames only the children share', () => {
  it('restore through the fork, the parent writing its own page after it', () => {
    const file = writeTestSnapshot(
      [
        { pid: 600, vmas: [{ start: BASE, pages: [bytePage(1), { bytes: bytePage(2), frame: 'f' }, null] }] },
        ...[601, 602].map((pid) => ({
          pid,
          vmas: [
            {
              start: BASE,
              pages: [
                { bytes: bytePage(3), frame: 's' },
                { bytes: bytePage(2), frame: 'f' },
                { bytes: bytePage(4), frame: 't' },
              ] as TestPage[],
            },
          ],
        })),
      ],
      true,
    );
    const ctx = restore(file);
    const pm = ctx.machine.phys;
    for (const i of [0, 2]) {
      const s = pfn(ctx, 601, BASE + i * PAGE_SIZE);
      expect(pfn(ctx, 602, BASE + i * PAGE_SIZE)).toBe(s);
      expect(pm.folio_mapcount(s)).toBe(2);
    }
    expect(pfn(ctx, 600, BASE)).not.toBe(pfn(ctx, 601, BASE));
    expect(ctx.procs.get('600')!.readByte(BASE)).toBe(1);
    expect(ctx.procs.get('602')!.readByte(BASE)).toBe(3);
    expect(pm.folio_mapcount(pfn(ctx, 600, BASE + PAGE_SIZE))).toBe(3);
    // the parent has no page at the third address
    expect(ctx.procs.get('600')!.mm.get_mm_counter(MM_ANONPAGES)).toBe(2);
    checkMmInvariants(ctx.machine);
  });
});

/** Three merge-any processes mapping one KSM page (and a second one mapped by two of them), each
 * with unique pages and a pair of equal pages in two of them that ksmd has not merged yet. */
function withKsm(withContents: boolean): string {
  const procs = [400, 401, 402].map((pid, k) => {
    const pages: TestPage[] = [{ bytes: bytePage(0x77), frame: 'k1', ksm: true }];
    pages.push(k < 2 ? { bytes: bytePage(0x78), frame: 'k2', ksm: true } : null);
    pages.push(unique(pid, 0), unique(pid, 1));
    pages.push(k < 2 ? bytePage(0x79) : 'zero');
    return { pid, mergeAny: true, vmas: [{ start: BASE, pages }] };
  });
  return writeTestSnapshot(procs, withContents, { smart_scan: '0' });
}

describe('KSM pages', () => {
  for (const withContents of [true, false]) {
    it(`restore as KSM pages with their stable nodes (${withContents ? 'with contents' : 'digests only'})`, () => {
      const ctx = restore(withKsm(withContents));
      const pm = ctx.machine.phys;
      const k1 = pfn(ctx, 400, BASE);
      expect(pm.PageKsm(k1)).toBe(true);
      expect(pfn(ctx, 401, BASE)).toBe(k1);
      expect(pfn(ctx, 402, BASE)).toBe(k1);
      expect(pm.PageKsm(pfn(ctx, 401, BASE + PAGE_SIZE))).toBe(true);
      expect(pm.PageKsm(pfn(ctx, 400, BASE + 4 * PAGE_SIZE))).toBe(false);
      expect(ctx.skipped.ksmUnmerged).toBe(0);
      const c = ctx.ksm.counters();
      expect([c.pages_shared, c.pages_sharing]).toEqual([2, 3]);
      // every present page of the mergeable VMAs has its rmap_item, as ksmd left them
      expect(c.full_scans).toBe(ctx.start.full_scans);
      const stat = ctx.ksm.ksm_stat(ctx.procs.get('400')!.mm);
      expect(stat.ksm_merging_pages).toBe(2);
      expect(stat.ksm_rmap_items).toBe(5);
      expect(ctx.ksm.ksm_stat(ctx.procs.get('402')!.mm).ksm_rmap_items).toBe(3);
    });
  }

  it('a full scan goes on from there: checksums known, the equal pair merges at once', () => {
    const ctx = restore(withKsm(false));
    const r = predictFullScans(ctx, 1, ctx.start);
    expect(r.ksm.full_scans).toBe(1);
    expect(r.ksm.pages_shared).toBe(3);
    expect(r.ksm.pages_sharing).toBe(4);
    // the six unique pages stay in the unstable tree
    expect(r.ksm.pages_unshared).toBe(6);
    expect(r.ksm.pages_volatile).toBe(0);
    expect(r.procs['401'].ksm_merging_pages).toBe(3);
    expect(r.procs['401'].smaps.KSM).toBe(3 * 4);
    const again = predictFullScans(ctx, 2, ctx.start);
    expect(again.ksm.pages_sharing).toBe(4);
    checkKsmInvariants(ctx.ksm);
  });

  it("a prediction over wall time counts full_scans from the restore's start", () => {
    const { model } = loadKsmdCost(KSMD_COST_FILE);
    const predict = (fromStart: boolean) => {
      const ctx = restore(withKsm(false));
      const fullScansBefore = fromStart ? ctx.start.full_scans : 0;
      return {
        ctx,
        p: predictKsmd(ctx.ksm, ctx.procs, {
          forMs: 2000,
          sampleMs: 1000,
          knobs: {},
          model,
          fullScansBefore,
        }),
      };
    };
    const from = predict(true);
    const raw = predict(false);
    expect(from.ctx.start.full_scans).toBeGreaterThan(0);
    expect(from.p.samples.map((s) => s.full_scans + from.ctx.start.full_scans)).toEqual(
      raw.p.samples.map((s) => s.full_scans),
    );
    expect(from.p.samples.at(-1)!.full_scans).toBe(
      from.ctx.ksm.counters().full_scans - from.ctx.start.full_scans,
    );
  });

  it('a KSM page mapped once cannot be rebuilt by merging: counted as unmerged', () => {
    const file = writeTestSnapshot(
      [{ pid: 500, vmas: [{ start: BASE, pages: [{ bytes: bytePage(1), frame: 'k', ksm: true }] }] }],
      false,
    );
    const ctx = restoreSnapshot(readSnapshot(file), file);
    expect(ctx.skipped.ksmUnmerged).toBe(1);
  });
});
