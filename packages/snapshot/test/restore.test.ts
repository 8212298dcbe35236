import { PAGE_SIZE } from '@mmsim/core';
import { checkMmInvariants } from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { readSnapshot } from '../src/format.ts';
import { predictFullScans } from '../src/predict.ts';
import { restoreInto, restoreSnapshot } from '../src/restore.ts';
import { bytePage, type TestPage, writeTestSnapshot } from './helpers.ts';

const BASE = 0x7f0000000000;
const START = { full_scans: 0, pages_scanned: 0, pages_skipped: 0 };

function unique(pid: number, i: number): Uint8Array {
  const p = new Uint8Array(PAGE_SIZE);
  new DataView(p.buffer).setUint32(0, pid * 1000 + i);
  return p;
}

/** Two processes: 4 identical pages each, 3 unique, 2 zero-page mappings, 1 hole, 1 written zero page. */
function twoProcesses(withContents: boolean): string {
  const procs = [200, 201].map((pid) => {
    const pages: TestPage[] = [];
    for (let i = 0; i < 4; i++) pages.push(bytePage(0x5a));
    for (let i = 0; i < 3; i++) pages.push(unique(pid, i));
    pages.push('zero', 'zero', null, new Uint8Array(PAGE_SIZE));
    return { pid, mergeAny: pid === 201, vmas: [{ start: BASE, pages }] };
  });
  return writeTestSnapshot(procs, withContents);
}

describe('restore and predict', () => {
  for (const withContents of [true, false]) {
    it(`rebuilds the processes and predicts the merges (${withContents ? 'with contents' : 'digests only'})`, () => {
      const file = twoProcesses(withContents);
      const ctx = restoreSnapshot(readSnapshot(file), file);
      expect([...ctx.procs.keys()]).toEqual(['200', '201']);
      expect(ctx.digestOnly).toBe(!withContents);
      checkMmInvariants(ctx.machine);
      const first = predictFullScans(ctx, 1, START);
      // scan 1 records checksums only
      expect(first.ksm.pages_volatile).toBe(16);
      expect(first.ksm.pages_sharing).toBe(0);
      const second = predictFullScans(ctx, 1, START);
      // 8 pages of 0x5a: one KSM page and 7 sharers; the two written zero pages: one and 1 sharer
      expect(second.ksm.pages_shared).toBe(2);
      expect(second.ksm.pages_sharing).toBe(8);
      expect(second.ksm.pages_unshared).toBe(6);
      expect(second.ksm.full_scans).toBe(2);
      const p = second.procs['200'];
      expect(p.ksm_rmap_items).toBe(8);
      // the zero page is not in Rss (vm_normal_page() is NULL for it)
      expect(p.smaps.Rss).toBe(8 * 4);
      expect(second.procs['201'].ksm_merge_any).toBe(true);
      checkMmInvariants(ctx.machine);
    });
  }

  it('digest-only and with-contents snapshots predict the same report', () => {
    const reports = [true, false].map((w) => {
      const file = twoProcesses(w);
      const ctx = restoreSnapshot(readSnapshot(file), file);
      return predictFullScans(ctx, 3, START);
    });
    expect(reports[1]).toEqual(reports[0]);
  });

  it('digest-only and with-contents snapshots count the same memcmp() work (calls and bytes read)', () => {
    // mostly-zero pages with a byte set late (long common prefixes), some of them in both processes
    const late = (pid: number, i: number): Uint8Array => {
      const p = new Uint8Array(PAGE_SIZE);
      p[PAGE_SIZE - 1 - ((i * 37) % 900)] = 1 + (pid % 2) * (i % 3);
      p[(i * 131) % PAGE_SIZE] = 2;
      return p;
    };
    const counts = [true, false].map((w) => {
      const procs = [300, 301].map((pid) => ({
        pid,
        vmas: [{ start: BASE, pages: Array.from({ length: 40 }, (_, i) => late(pid, i)), vmFlags: ['mg'] }],
      }));
      const file = writeTestSnapshot(procs, w);
      const ctx = restoreSnapshot(readSnapshot(file), file);
      const c = ctx.machine.counters;
      const before = { calls: c.pagesCompared, bytes: c.bytesCompared };
      const r = predictFullScans(ctx, 3, START);
      return {
        calls: c.pagesCompared - before.calls,
        bytes: c.bytesCompared - before.bytes,
        sharing: r.ksm.pages_sharing,
      };
    });
    expect(counts[1]).toEqual(counts[0]);
    expect(counts[0].sharing).toBeGreaterThan(0);
    // long prefixes: far more than a word per call, less than whole pages
    expect(counts[0].bytes).toBeGreaterThan(counts[0].calls * 1024);
    expect(counts[0].bytes).toBeLessThan(counts[0].calls * PAGE_SIZE);
  });

  it('takes --knob values over the snapshot machine knobs', () => {
    const file = twoProcesses(false);
    const ctx = restoreSnapshot(readSnapshot(file), file, { knobs: { use_zero_pages: '1' } });
    const r = predictFullScans(ctx, 2, START);
    expect(r.ksm.ksm_zero_pages).toBe(2);
    expect(() => restoreSnapshot(readSnapshot(file), file, { knobs: { no_such_knob: '1' } })).toThrow(
      /no such KSM knob/,
    );
  });

  it('restores the page cache of private file mappings: shared between processes, walked, never merged', () => {
    const lib = { name: '/usr/lib/libtest.so', offset: 2 * PAGE_SIZE };
    const procs = [300, 301].map((pid) => ({
      pid,
      mergeAny: true,
      vmas: [
        // text: page cache only (no anon_vma: ksmd skips the VMA)
        {
          start: BASE,
          prot: 5,
          file: { name: lib.name, offset: 0 },
          pages: ['cache', 'cache'] as TestPage[],
        },
        // data: page cache and two identical COW copies
        {
          start: BASE + 4 * PAGE_SIZE,
          prot: 3,
          file: lib,
          pages: ['cache', bytePage(0x33), 'cache', bytePage(0x33), null] as TestPage[],
        },
      ],
    }));
    const file = writeTestSnapshot(procs, false);
    const ctx = restoreSnapshot(readSnapshot(file), file);
    checkMmInvariants(ctx.machine);
    expect(ctx.skipped.pageCache).toBe(0);
    const f = ctx.machine.files.get(lib.name)!;
    // offsets 0, 1 (text) and 2, 4 (data) are mapped by both processes; 3 and 5 were read by the
    // writes of the copies (do_cow_fault()) and are mapped by none
    expect([...f.pages.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    const mapcounts = [0, 1, 2, 3, 4, 5].map((i) => ctx.machine.phys.mapcount[f.pages.get(i)!]);
    expect(mapcounts).toEqual([2, 2, 2, 0, 2, 0]);
    const a = ctx.procs.get('300')!;
    expect(a.mm.vmas.map((v) => v.anon_vma !== null)).toEqual([false, true]);
    const before = ctx.machine.counters.ksmScanNonAnon;
    const r = predictFullScans(ctx, 2, START);
    // the data VMA's page-cache pages are walked (2 per process per scan), the text's are not
    expect(ctx.machine.counters.ksmScanNonAnon - before).toBe(2 * 2 * 2);
    expect(r.ksm.pages_shared).toBe(1);
    expect(r.ksm.pages_sharing).toBe(3);
    expect(r.procs['300'].smaps.Rss).toBe(6 * 4);
    expect(r.procs['300'].smaps.Anonymous).toBe(2 * 4);
    checkMmInvariants(ctx.machine);
  });

  it('refuses a second digest-only snapshot in one machine: ranks of two snapshots do not compare', () => {
    const a = twoProcesses(false);
    const ctx = restoreSnapshot(readSnapshot(a), a);
    const b = writeTestSnapshot(
      [{ pid: 400, vmas: [{ start: BASE, pages: [unique(400, 0), bytePage(0x11)] }] }],
      false,
    );
    expect(() => restoreInto(ctx, readSnapshot(b), b, ['b'])).toThrow(/another digest-only snapshot/);
    // the same snapshot again (one rank order) is restored, under other names
    restoreInto(ctx, readSnapshot(a), a, ['c', 'd']);
    expect([...ctx.procs.keys()]).toEqual(['200', '201', 'c', 'd']);
    // 16 pages of 0x5a (15 sharers), 4 written zero pages (3), and each unique page with its copy (6)
    expect(predictFullScans(ctx, 2, START).ksm.pages_sharing).toBe(24);
  });

  it('without recorded offsets each VMA gets a range of its file of its own', () => {
    const procs = [310, 311].map((pid) => ({
      pid,
      vmas: [{ start: BASE, prot: 1, file: { name: '/bin/old' }, pages: ['cache', null] as TestPage[] }],
    }));
    const file = writeTestSnapshot(procs, false);
    const ctx = restoreSnapshot(readSnapshot(file), file);
    expect(ctx.machine.files.get('/bin/old')!.pages.size).toBe(2);
    expect(ctx.procs.get('310')!.mm.rss[0]).toBe(1);
    checkMmInvariants(ctx.machine);
  });
});
