// A snapshot's processes rebuilt in a simulated machine: the same VMAs (addresses, protections,
// VM_MERGEABLE, VM_HUGEPAGE/NOHUGEPAGE, merge-any), the zero-page mappings, the anonymous pages
// with their contents, and the PMD-mapped THPs, built through the ordinary syscall and fault paths
// so that every invariant holds and every later operation works.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { ENOENT, errnoName, PAGE_SIZE } from '@mmsim/core';
import { Ksm, ksmSysfsHas, ksmSysfsWrite, PR_SET_MEMORY_MERGE } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  MADV_HUGEPAGE,
  MADV_MERGEABLE,
  MADV_NOHUGEPAGE,
  MADV_UNMERGEABLE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_PRIVATE,
  MAP_SHARED,
  Machine,
  PROT_READ,
  PROT_WRITE,
  ZERO_CONTENT,
} from '@mmsim/mmu';
import type { SimulatorContext } from '@mmsim/scenario';
import { RESTORED_KNOBS, SnapshotError } from './capture.ts';
import {
  CHUNK_PAGES,
  type ContentChunks,
  DIGEST_BYTES,
  PAGE,
  readSnapshot,
  type Snapshot,
  type SnapshotVma,
} from './format.ts';

const MIB = 1 << 20;
/** Simulated RAM beyond the restored pages: page tables, KSM's copies, later operations. */
const MEMORY_SLACK = 1.25;
const MEMORY_BASE_MIB = 64;

export interface RestoreOptions {
  /** Knob values overriding the snapshot's (`--knob name=value`). */
  knobs?: Record<string, string>;
}

/** What restore built: the scenario runner's context, plus each process's VMA ranges (by pid). */
export interface Restored extends SimulatorContext {
  snapshot: Snapshot;
  /** The pages are digests without bytes: no byte may be written in this machine. */
  digestOnly: boolean;
  /** pages of the snapshot left out of the simulated machine, by reason */
  skipped: RestoreSkipped;
}

/** Decompressed chunks kept (64 MiB): pages refer back to early contents all the time. */
const CHUNK_CACHE = 64;

/** The digest capture gives an all-zero page (format.ts: the first 16 bytes of its SHA-256). */
const ZERO_PAGE_DIGEST = createHash('sha256')
  .update(new Uint8Array(PAGE_SIZE))
  .digest()
  .subarray(0, DIGEST_BYTES);

/** Decompresses content chunks on demand, keeping the most recently used ones. */
class ChunkReader {
  private readonly chunks: ContentChunks;
  private readonly fd: number;
  private readonly cache = new Map<number, Uint8Array>();
  constructor(chunks: ContentChunks) {
    this.chunks = chunks;
    this.fd = openSync(chunks.file, 'r');
  }
  page(content: number): Uint8Array {
    const c = Math.floor(content / CHUNK_PAGES);
    let bytes = this.cache.get(c);
    if (bytes === undefined) {
      const len = this.chunks.lengths[c];
      const buf = Buffer.allocUnsafe(len);
      readSync(this.fd, buf, 0, len, this.chunks.offsets[c]);
      bytes = inflateRawSync(buf);
      if (this.cache.size >= CHUNK_CACHE) this.cache.delete(this.cache.keys().next().value as number);
    } else this.cache.delete(c);
    this.cache.set(c, bytes);
    const off = (content % CHUNK_PAGES) * PAGE_SIZE;
    return bytes.subarray(off, off + PAGE_SIZE);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/**
 * A digest-only snapshot's contents as the simulator's digest contents (created on first use):
 * pages refer to them, with the kernel's checksum and the memcmp rank; an all-zero page is the
 * simulator's ZERO_CONTENT (a digest content is never all zero).
 */
class DigestContents {
  private readonly ids: Int32Array;
  private readonly snap: Snapshot;
  private readonly m: Machine;
  constructor(snap: Snapshot, m: Machine) {
    this.snap = snap;
    this.m = m;
    this.ids = new Int32Array(snap.meta.contents).fill(-1);
  }
  id(content: number): number {
    let id = this.ids[content];
    if (id >= 0) return id;
    const d = this.snap.digest.subarray(content * DIGEST_BYTES, (content + 1) * DIGEST_BYTES);
    id = ZERO_PAGE_DIGEST.equals(d)
      ? ZERO_CONTENT
      : this.m.phys.contents.internDigest(d, this.snap.checksum[content], this.snap.rank[content]);
    this.ids[content] = id;
    return id;
  }
}

function has(v: SnapshotVma, flag: string): boolean {
  return v.vmFlags.includes(flag);
}

/** Special mappings (PFN maps, I/O, vDSO) and [vsyscall]: capture read no pages there. */
function special(v: SnapshotVma): boolean {
  return v.end > 2 ** 56 || has(v, 'pf') || has(v, 'io') || has(v, 'mm');
}

/** Simulated RAM for a snapshot: its anonymous pages, with room to spare. */
export function restoreMemoryMiB(snap: Snapshot): number {
  let pages = 0;
  for (let i = 0; i < snap.meta.pages; i++) if ((snap.pageFlags[i] & PAGE.ANON) !== 0) pages++;
  return Math.ceil((pages * PAGE_SIZE * MEMORY_SLACK) / MIB) + MEMORY_BASE_MIB;
}

/** What restoreInto() left out of the simulated machine (pages of the snapshot, by reason). */
export interface RestoreSkipped {
  pageCache: number;
  swapped: number;
  unread: number;
  special: number;
}

/**
 * Builds the snapshot's processes in an existing simulated machine (the `restore` scenario step),
 * named `names` (default: each pid as a string) in snapshot order, which is the
 * order ksmd's mm list has them. A --with-contents snapshot's pages get their bytes; a digest-only
 * one's refer to digest contents, which hold no bytes: no byte may be written in that machine
 * afterwards (`ctx.noWrites` says why). Not restored (counted in the result): page-cache pages
 * (the simulator has no page cache; KSM never merges them), swapped-out pages, pages whose
 * contents were unreadable, special mappings; KSM pages come back as ordinary anonymous pages, and
 * anonymous pages shared between processes as one copy per process.
 */
export function restoreInto(
  ctx: SimulatorContext,
  snap: Snapshot,
  file: string,
  names?: string[],
): RestoreSkipped {
  const procs = snap.meta.processes;
  if (names !== undefined && names.length !== procs.length)
    throw new SnapshotError(`${file}: ${procs.length} processes, but ${names.length} names given`);
  const m = ctx.machine;
  const skipped: RestoreSkipped = { pageCache: 0, swapped: 0, unread: 0, special: 0 };
  const reader = snap.bytes !== null ? new ChunkReader(snap.bytes) : null;
  const digests = snap.bytes === null ? new DigestContents(snap, m) : null;
  const thpWas = m.thp.enabled;
  try {
    for (const [k, sp] of procs.entries()) {
      const name = names?.[k] ?? String(sp.pid);
      if (ctx.procs.has(name)) throw new SnapshotError(`${file}: a process named ${name} exists already`);
      const p = new Process(m, name);
      ctx.procs.set(name, p);
      const regions = new Map<string, { addr: number; pages: number }>();
      ctx.regions.set(name, regions);
      if (sp.mergeAny) p.prctl(PR_SET_MEMORY_MERGE, 1);
      const live = sp.vmas.filter((v) => !special(v));
      for (const v of sp.vmas) if (special(v)) skipped.special += (v.end - v.start) / PAGE_SIZE;
      for (const v of live) {
        const len = v.end - v.start;
        p.mmap(
          v.start,
          len,
          PROT_READ | PROT_WRITE,
          MAP_FIXED | MAP_ANONYMOUS | (v.shared ? MAP_SHARED : MAP_PRIVATE),
        );
        if (has(v, 'hg')) p.madvise(v.start, len, MADV_HUGEPAGE);
        if (has(v, 'nh')) p.madvise(v.start, len, MADV_NOHUGEPAGE);
        const mergeable = has(v, 'mg');
        if (mergeable && !sp.mergeAny) p.madvise(v.start, len, MADV_MERGEABLE);
        if (!mergeable && sp.mergeAny && !v.shared) p.madvise(v.start, len, MADV_UNMERGEABLE);
        regions.set(`${v.start.toString(16)}`, { addr: v.start, pages: len / PAGE_SIZE });
      }
      // PMD-mapped THPs first, with THP on (a huge fault at the head, then the other subpages),
      // then everything else with THP off, so that no small page becomes part of a THP.
      m.thp.enabled = 'always';
      for (const v of live) restorePages(snap, skipped, p, v, reader, digests, true);
      m.thp.enabled = 'never';
      for (const v of live) restorePages(snap, skipped, p, v, reader, digests, false);
      for (const v of live)
        if (v.prot !== (PROT_READ | PROT_WRITE)) p.mprotect(v.start, v.end - v.start, v.prot);
    }
  } finally {
    m.thp.enabled = thpWas;
    reader?.close();
  }
  if (snap.bytes === null)
    ctx.noWrites = `${file} is a digest-only snapshot: its pages hold no bytes (take it with --with-contents to write)`;
  return skipped;
}

/**
 * A new simulated machine holding the snapshot's processes (restoreInto(), named by pid), with the
 * snapshot machine's KSM knobs and THP setting, `opts.knobs` taking precedence.
 */
export function restoreSnapshot(snap: Snapshot, file: string, opts: RestoreOptions = {}): Restored {
  const enabled = snap.meta.thp.enabled;
  const m = new Machine({
    memoryMiB: restoreMemoryMiB(snap),
    swapMiB: 0,
    thp: {
      enabled: enabled === 'always' || enabled === 'madvise' ? enabled : 'never',
      use_zero_page: snap.meta.thp.use_zero_page === '1',
    },
  });
  const ksm = new Ksm(m);
  const knobs = { ...snap.meta.ksm, ...opts.knobs };
  for (const [k, v] of Object.entries(knobs)) {
    const fromUser = opts.knobs?.[k] !== undefined;
    if (!fromUser && !RESTORED_KNOBS.includes(k)) continue;
    if (!ksmSysfsHas(m.kernel.ksm, k)) {
      if (fromUser) throw new SnapshotError(`--knob ${k}: no such KSM knob`);
      continue;
    }
    const err = ksmSysfsWrite(ksm, k, v);
    if (err === -ENOENT) throw new SnapshotError(`--knob ${k}: no such KSM knob`);
    if (err !== 0) throw new SnapshotError(`knob ${k}=${v}: ${errnoName(err)}`);
  }
  const ctx: SimulatorContext = { machine: m, ksm, procs: new Map(), regions: new Map() };
  const skipped = restoreInto(ctx, snap, file);
  return { ...ctx, snapshot: snap, digestOnly: snap.bytes === null, skipped };
}

/** SimulatorOptions.restore for the `restore` scenario step: reads the file and restores it. */
export function restoreStepFromFile(ctx: SimulatorContext, file: string, names: string[] | undefined): void {
  restoreInto(ctx, readSnapshot(file), file, names);
}

function restorePages(
  snap: Snapshot,
  skipped: RestoreSkipped,
  p: Process,
  v: SnapshotVma,
  reader: ChunkReader | null,
  digests: DigestContents | null,
  thp: boolean,
): void {
  const n = (v.end - v.start) / PAGE_SIZE;
  for (let k = 0; k < n; k++) {
    const i = v.firstPage + k;
    const f = snap.pageFlags[i];
    if (((f & PAGE.IN_PMD) !== 0) !== thp) continue;
    const addr = v.start + k * PAGE_SIZE;
    if ((f & PAGE.PRESENT) === 0) {
      if (!thp && (f & PAGE.SWAPPED) !== 0) skipped.swapped++;
      continue;
    }
    if ((f & PAGE.ZERO) !== 0) {
      // the zero page (or with a PMD: the huge zero page): a read fault maps it
      if (!thp || (f & PAGE.PMD_MAPPED) !== 0) p.touch(addr);
      continue;
    }
    if ((f & PAGE.ANON) === 0) {
      skipped.pageCache++;
      continue;
    }
    if ((f & PAGE.UNREAD) !== 0 || snap.pageContent[i] === 0) {
      skipped.unread++;
      continue;
    }
    if (reader !== null) p.writePage(addr, reader.page(snap.pageContent[i] - 1));
    else p.writeContent(addr, (digests as DigestContents).id(snap.pageContent[i] - 1));
  }
}
