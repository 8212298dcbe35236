// Synthetic snapshots for the tests: processes with VMAs whose pages are given as bytes, built into
// the same arrays capture fills (digests, checksums, ranks, and compressed chunks on request).

import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { PAGE_SIZE } from '@mmsim/core';
import { HashedMemory } from '@mmsim/mmu';
import {
  CHUNK_PAGES,
  commonPrefix,
  PAGE,
  type SnapshotMeta,
  type SnapshotToWrite,
  writeSnapshot,
  zeroPrefixOf,
} from '../src/format.ts';

/** A page mapped by several pages of the snapshot: the same `frame` key is the same physical
 * frame (kpagecount > 1); `ksm`: a KSM page. */
export interface SharedTestPage {
  bytes: Uint8Array;
  frame: string;
  ksm?: boolean;
}

/** A page: its bytes (anonymous), 'zero' (the zero page), a shared frame, 'cache' (a page-cache
 * page of the VMA's file: one frame per file offset), or null (not present). */
export type TestPage = Uint8Array | 'zero' | 'cache' | SharedTestPage | null;

export interface TestVma {
  start: number;
  pages: TestPage[];
  vmFlags?: string[];
  prot?: number;
  /** a private mapping of this file, from this byte offset (`offset` absent: as written before
   * snapshots recorded it) */
  file?: { name: string; offset?: number };
}

export function tmpFile(name: string): string {
  return join(mkdtempSync(join(tmpdir(), 'mmsim-snapshot-')), name);
}

export function bytePage(v: number): Uint8Array {
  return new Uint8Array(PAGE_SIZE).fill(v);
}

/** Writes a snapshot of `procs` to a new temporary file and returns its path. */
export function writeTestSnapshot(
  procs: { pid: number; mergeAny?: boolean; vmas: TestVma[] }[],
  withContents: boolean,
  ksm: Record<string, string> = {},
): string {
  const mem = new HashedMemory(PAGE_SIZE * 16);
  const flags: number[] = [];
  const content: number[] = [];
  const frame: number[] = [];
  const byDigest = new Map<string, number>();
  const pages: Uint8Array[] = [];
  const digests: Buffer[] = [];
  const checksums: number[] = [];
  const sharedFrames = new Map<string, number>();
  const meta: SnapshotMeta = {
    created: '2026-01-01T00:00:00.000Z',
    kernel: '6.18.0-test',
    pageSize: PAGE_SIZE,
    ksm: { max_page_sharing: '256', use_zero_pages: '0', smart_scan: '1', ...ksm },
    thp: { enabled: 'madvise', use_zero_page: '1' },
    processes: [],
    pages: 0,
    contents: 0,
    withContents,
  };
  for (const p of procs) {
    const sp = {
      pid: p.pid,
      comm: 'test',
      mergeAny: p.mergeAny === true,
      vmas: [] as SnapshotMeta['processes'][0]['vmas'],
    };
    for (const v of p.vmas) {
      sp.vmas.push({
        start: v.start,
        end: v.start + v.pages.length * PAGE_SIZE,
        prot: v.prot ?? 3,
        shared: false,
        name: v.file?.name ?? '',
        file: v.file !== undefined,
        ...(v.file?.offset !== undefined ? { offset: v.file.offset } : {}),
        vmFlags: v.vmFlags ?? ['rd', 'wr', 'mr', 'mw', 'me', 'ac', 'mg'],
        firstPage: flags.length,
      });
      for (const [k, pg] of v.pages.entries()) {
        if (pg === null) {
          flags.push(0);
          content.push(0);
          frame.push(0);
          continue;
        }
        frame.push(frame.length + 1);
        if (pg === 'zero') {
          flags.push(PAGE.PRESENT | PAGE.ZERO | PAGE.SHARED);
          content.push(0);
          continue;
        }
        if (pg === 'cache') {
          const key = `file ${v.file!.name} ${(v.file!.offset ?? 0) / PAGE_SIZE + k}`;
          const id = sharedFrames.get(key) ?? frame[frame.length - 1];
          sharedFrames.set(key, id);
          frame[frame.length - 1] = id;
          flags.push(PAGE.PRESENT | PAGE.FILE);
          content.push(0);
          continue;
        }
        let bytes: Uint8Array;
        if (pg instanceof Uint8Array) {
          bytes = pg;
          flags.push(PAGE.PRESENT | PAGE.ANON | PAGE.EXCLUSIVE);
        } else {
          bytes = pg.bytes;
          const id = sharedFrames.get(pg.frame) ?? frame[frame.length - 1];
          sharedFrames.set(pg.frame, id);
          frame[frame.length - 1] = id;
          flags.push(PAGE.PRESENT | PAGE.ANON | PAGE.SHARED | (pg.ksm === true ? PAGE.KSM : 0));
        }
        const d = createHash('sha256').update(bytes).digest().subarray(0, 16);
        const key = d.toString('hex');
        let c = byDigest.get(key);
        if (c === undefined) {
          c = pages.length;
          byDigest.set(key, c);
          pages.push(bytes);
          digests.push(d);
          mem.bytes.set(bytes, 0);
          checksums.push(mem.xxh64Low32(0, PAGE_SIZE));
        }
        content.push(c + 1);
      }
    }
    meta.processes.push(sp);
  }
  meta.pages = flags.length;
  meta.contents = pages.length;
  const order = pages.map((_, i) => i).sort((a, b) => Buffer.compare(pages[a], pages[b]));
  const rank = new Uint32Array(pages.length);
  order.forEach((c, r) => {
    rank[c] = r;
  });
  const digest = new Uint8Array(pages.length * 16);
  digests.forEach((d, i) => {
    digest.set(d, i * 16);
  });
  const rankPrefix = new Uint16Array(pages.length);
  for (let r = 0; r + 1 < order.length; r++)
    rankPrefix[r] = commonPrefix(pages[order[r]], pages[order[r + 1]]);
  const snap: SnapshotToWrite = {
    meta,
    pageFlags: Uint16Array.from(flags),
    pageContent: Uint32Array.from(content),
    pageFrame: Uint32Array.from(frame),
    digest,
    checksum: Uint32Array.from(checksums),
    rank,
    rankPrefix,
    zeroPrefix: Uint16Array.from(pages, zeroPrefixOf),
  };
  let chunks: Uint8Array[] | null = null;
  if (withContents) {
    chunks = [];
    for (let i = 0; i < pages.length; i += CHUNK_PAGES) {
      const n = Math.min(CHUNK_PAGES, pages.length - i);
      const buf = new Uint8Array(n * PAGE_SIZE);
      for (let k = 0; k < n; k++) buf.set(pages[i + k], k * PAGE_SIZE);
      chunks.push(deflateRawSync(buf));
    }
  }
  const file = tmpFile('test.snap');
  writeSnapshot(file, snap, chunks);
  return file;
}
