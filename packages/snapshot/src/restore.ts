// A snapshot's processes rebuilt in a simulated machine: the same VMAs (addresses, protections,
// VM_MERGEABLE, VM_HUGEPAGE/NOHUGEPAGE, merge-any), the zero-page mappings, the anonymous pages
// with their contents, and the PMD-mapped THPs, built through the ordinary syscall and fault paths
// so that every invariant holds and every later operation works.

import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { ENOENT, errnoName, MiB, PAGE_SIZE } from '@mmsim/core';
import { Ksm, ksmSysfsHas, ksmSysfsWrite, PR_GET_MEMORY_MERGE, PR_SET_MEMORY_MERGE } from '@mmsim/ksm';
import { Process } from '@mmsim/mm';
import {
  DIGEST_PREFIX_UNKNOWN,
  filemap_open,
  MADV_DONTNEED,
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
import { ZERO_PAGE_DIGEST } from './digest.ts';
import {
  CHUNK_PAGES,
  type ContentChunks,
  DIGEST_BYTES,
  PAGE,
  readSnapshot,
  type Snapshot,
  type SnapshotVma,
} from './format.ts';

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
  /** The cumulative KSM counters after restore (its priming scans, see restoreInto()): what
   * predictions count from. */
  start: { full_scans: number; pages_scanned: number; pages_skipped: number };
}

/** Decompressed chunks kept (64 MiB): pages refer back to early contents all the time. */
const CHUNK_CACHE = 64;

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
  constructor(snap: Snapshot, m: Machine, file: string) {
    this.snap = snap;
    this.m = m;
    this.ids = new Int32Array(snap.meta.contents).fill(-1);
    // The snapshot's contents, named by their digests (the ranks order exactly these).
    const space = createHash('sha256').update(snap.digest).digest('hex');
    if (!m.phys.contents.useDigestSpace(space))
      throw new SnapshotError(
        `${file}: the machine already holds another digest-only snapshot's pages, and digests of two snapshots cannot be compared (take them with --with-contents)`,
      );
    if (snap.rankPrefix !== null) m.phys.contents.setDigestRankPrefixes(snap.rankPrefix);
  }
  id(content: number): number {
    let id = this.ids[content];
    if (id >= 0) return id;
    const d = this.snap.digest.subarray(content * DIGEST_BYTES, (content + 1) * DIGEST_BYTES);
    id = ZERO_PAGE_DIGEST.equals(d)
      ? ZERO_CONTENT
      : this.m.phys.contents.internDigest(
          d,
          this.snap.checksum[content],
          this.snap.rank[content],
          this.snap.zeroPrefix?.[content] ?? DIGEST_PREFIX_UNKNOWN,
        );
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

/** Simulated RAM for a snapshot: its anonymous and page-cache pages, with room to spare. */
export function restoreMemoryMiB(snap: Snapshot): number {
  let pages = 0;
  for (let i = 0; i < snap.meta.pages; i++) if ((snap.pageFlags[i] & PAGE.PRESENT) !== 0) pages++;
  return Math.ceil((pages * PAGE_SIZE * MEMORY_SLACK) / MiB) + MEMORY_BASE_MIB;
}

/** What restoreInto() left out of the simulated machine (pages of the snapshot, by reason). */
export interface RestoreSkipped {
  /** page-cache pages of shared file mappings (those of private ones are restored) */
  pageCache: number;
  swapped: number;
  unread: number;
  special: number;
  /** mappings of KSM pages that are not KSM pages after restore (a KSM page mapped once: no
   * second page to merge it with) */
  ksmUnmerged: number;
}

// What restore does with each page (planRestore()), step by step: pages fork gave a process are
// not written again; frames a forked child shares are written before the fork; the mappings of
// KSM pages are written as copies and merged by the priming scans; the others afterwards.
const STEP_REST = 0;
const STEP_INHERITED = 1;
const STEP_PRE_FORK = 2;
const STEP_KSM = 3;

/** ksm_do_scan() ends a batch at the end of a full scan: an unbounded batch is one full scan. */
const FULL_SCAN_BATCH = Number.MAX_SAFE_INTEGER;
/** Full scans that merge every KSM page's copies: checksums, then unstable tree and stable tree
 * (mm/ksm.c cmp_and_merge_page(), 6.18). */
const PRIME_MERGE_SCANS = 2;
/** The full scan after which every other page has its rmap_item and checksum, as ksmd left them. */
const PRIME_CHECKSUM_SCANS = 1;

interface RestorePlan {
  /** per process: the index of the process it is forked from, or -1 */
  parent: Int32Array;
  /** per page: STEP_* */
  step: Uint8Array;
  /** per page of a parent: the page whose frame its address holds when children are forked (the
   * page itself for STEP_PRE_FORK and STEP_INHERITED; a child's page where the parent wrote its
   * own page after the forks: the children share the parent's old frame), -1 for none */
  forkPage: Int32Array;
  /** mappings of KSM pages */
  ksmPages: number;
}

/** A private anonymous page in a frame of its own or a KSM page (not the zero page): what fork
 * shares. */
function anonFrame(f: number): boolean {
  const m = PAGE.PRESENT | PAGE.ANON | PAGE.ZERO | PAGE.UNREAD;
  return (f & m) === (PAGE.PRESENT | PAGE.ANON);
}

/**
 * The sharing the snapshot shows, as restore rebuilds it: a process that maps, at the same address,
 * an anonymous non-KSM frame an earlier process maps is forked from the earliest such process
 * (fork() leaves one frame mapped by both, with the child's anon_vma chained to the parent's, COW
 * on both sides); the frames it shares with that parent at the same addresses, KSM pages included,
 * are written there before the fork. A KSM page shared that way is merged in the parent and
 * found by the child's scan, as ksmd does after a fork: its stable node may then hold more than
 * max_page_sharing rmap_items, as the kernel's do. Sharing fork cannot express (another address,
 * a frame first mapped by a process other than the parent, KSM pages between processes that
 * share no other frame) is restored as copies, KSM pages merged again by content.
 */
function planRestore(snap: Snapshot, live: SnapshotVma[][]): RestorePlan {
  const flags = snap.pageFlags;
  const frames = snap.pageFrame;
  const step = new Uint8Array(snap.meta.pages);
  const parent = new Int32Array(live.length).fill(-1);
  let maxFrame = 0;
  for (let i = 0; i < frames.length; i++) if (frames[i] > maxFrame) maxFrame = frames[i];
  // each frame's first mapping: process (-1: none yet), address, page
  const firstProc = new Int32Array(maxFrame + 1).fill(-1);
  const firstAddr = new Float64Array(maxFrame + 1);
  const firstPage = new Int32Array(maxFrame + 1);
  const forkPage = new Int32Array(snap.meta.pages).fill(-1);
  let ksmPages = 0;
  for (let k = 0; k < live.length; k++) {
    for (const v of live[k]) {
      const n = (v.end - v.start) / PAGE_SIZE;
      for (let o = 0; o < n; o++) {
        const i = v.firstPage + o;
        const f = flags[i];
        if (!anonFrame(f)) continue;
        const ksm = (f & PAGE.KSM) !== 0;
        if (ksm) {
          step[i] = STEP_KSM;
          ksmPages++;
        }
        const fr = frames[i];
        const addr = v.start + o * PAGE_SIZE;
        if (firstProc[fr] < 0) {
          firstProc[fr] = k;
          firstAddr[fr] = addr;
          firstPage[fr] = i;
        } else if (
          // only a shared anonymous page is evidence of a fork: KSM pages are shared by merging
          !ksm &&
          firstProc[fr] !== k &&
          firstAddr[fr] === addr &&
          (parent[k] < 0 || firstProc[fr] < parent[k])
        )
          parent[k] = firstProc[fr];
      }
    }
  }
  // the frames a child maps where its parent maps them, in VMAs both have: fork gives them
  for (let k = 0; k < live.length; k++) {
    const pk = parent[k];
    if (pk < 0) continue;
    const parentVmas = new Map(live[pk].map((v) => [v.start, v]));
    const siblings: Map<number, SnapshotVma>[] = [];
    for (let e = 0; e < k; e++)
      if (parent[e] === pk) siblings.push(new Map(live[e].map((v) => [v.start, v])));
    for (const v of live[k]) {
      const pv = parentVmas.get(v.start);
      if (pv === undefined || pv.end !== v.end || pv.shared !== v.shared) continue;
      const n = (v.end - v.start) / PAGE_SIZE;
      for (let o = 0; o < n; o++) {
        const i = v.firstPage + o;
        const j = pv.firstPage + o;
        if (!anonFrame(flags[i])) continue;
        const fr = frames[i];
        if (fr === frames[j] && (forkPage[j] < 0 || forkPage[j] === j) && anonFrame(flags[j])) {
          step[i] = STEP_INHERITED;
          forkPage[i] = i;
          // present in the parent at the fork: written there, or inherited itself
          if (step[j] !== STEP_INHERITED) step[j] = STEP_PRE_FORK;
          forkPage[j] = j;
          continue;
        }
        // A frame an earlier child of the same parent maps at this address, where the parent maps
        // another one (or none): both children got it by fork, and the parent wrote its page after.
        if (forkPage[j] >= 0 && forkPage[j] !== j && frames[forkPage[j]] === fr) {
          step[i] = STEP_INHERITED;
          forkPage[i] = i;
          continue;
        }
        if (forkPage[j] >= 0) continue;
        for (const sv of siblings) {
          const w = sv.get(v.start);
          if (w === undefined || w.end !== v.end || w.shared !== v.shared) continue;
          const t = w.firstPage + o;
          if (frames[t] !== fr || (step[t] !== STEP_REST && step[t] !== STEP_KSM)) continue;
          forkPage[j] = t;
          step[t] = STEP_INHERITED;
          forkPage[t] = t;
          step[i] = STEP_INHERITED;
          forkPage[i] = i;
          break;
        }
      }
    }
  }
  // A KSM page ksmd builds again from at least two pages: one frame only its parent and children
  // map (fork-shared, no other copy) is no merge candidate of itself; its mappings become copies.
  const written = new Int32Array(maxFrame + 1);
  for (let i = 0; i < step.length; i++) {
    if ((flags[i] & PAGE.KSM) !== 0 && (step[i] === STEP_KSM || step[i] === STEP_PRE_FORK))
      written[frames[i]]++;
    const s = forkPage[i];
    if (s >= 0 && s !== i && (flags[s] & PAGE.KSM) !== 0) written[frames[s]]++;
  }
  for (let i = 0; i < step.length; i++) {
    const s = forkPage[i];
    if (s >= 0 && s !== i && (flags[s] & PAGE.KSM) !== 0 && written[frames[s]] < 2) forkPage[i] = -1;
  }
  for (let i = 0; i < step.length; i++) {
    if ((flags[i] & PAGE.KSM) === 0 || !anonFrame(flags[i]) || written[frames[i]] >= 2) continue;
    if (forkPage[i] === i) forkPage[i] = -1;
    step[i] = STEP_KSM;
  }
  return { parent, step, forkPage, ksmPages };
}

/** A private file mapping: its page-cache pages are restored (into its file's page cache). */
function privateFile(v: SnapshotVma): boolean {
  return v.file && !v.shared;
}

/**
 * The files private file VMAs map, by maps path, and where each VMA maps its file. A VMA's page
 * index is its maps offset (so that the page-cache frames processes share stay shared); a
 * snapshot written before offsets were recorded gives each VMA a range of its own instead.
 */
class RestoreFiles {
  private readonly m: Machine;
  private readonly pgoff = new Map<SnapshotVma, number>();
  private readonly size = new Map<string, number>();

  constructor(m: Machine, procs: SnapshotVma[][]) {
    this.m = m;
    const next = new Map<string, number>();
    for (const vmas of procs)
      for (const v of vmas) {
        if (!privateFile(v)) continue;
        const pages = (v.end - v.start) / PAGE_SIZE;
        const pgoff = v.offset !== undefined ? v.offset / PAGE_SIZE : (next.get(v.name) ?? 0);
        next.set(v.name, Math.max(next.get(v.name) ?? 0, pgoff + pages));
        this.pgoff.set(v, pgoff);
      }
    for (const [name, end] of next) this.size.set(name, end);
  }

  /** mmap() of a private file VMA: read-write while restore writes its anonymous pages, else with
   * its own protection, so that VMAs restore wrote into are never merged with those it did not
   * (a merged VMA's anon_vma would outlive the split, and KSM walks only VMAs with one). */
  mmap(p: Process, v: SnapshotVma, written: boolean): void {
    // the contents of page-cache pages are not in the snapshot: a restored one holds zeroes
    const file = filemap_open(this.m, v.name, this.size.get(v.name)!, () => ZERO_CONTENT);
    const prot = written ? PROT_READ | PROT_WRITE : v.prot;
    p.mmap(v.start, v.end - v.start, prot, MAP_FIXED | MAP_PRIVATE, { file, pgoff: this.pgoff.get(v)! });
  }
}

/** Whether restore writes anonymous pages into this VMA of the snapshot. */
function hasAnonPages(snap: Snapshot, v: SnapshotVma): boolean {
  const end = v.firstPage + (v.end - v.start) / PAGE_SIZE;
  for (let i = v.firstPage; i < end; i++) if (anonFrame(snap.pageFlags[i])) return true;
  return false;
}

/** mmap() of a VMA of the snapshot (anonymous or a private file mapping, read-write until the end
 * of restore). */
function mmapVma(snap: Snapshot, files: RestoreFiles, p: Process, v: SnapshotVma): void {
  if (privateFile(v)) {
    files.mmap(p, v, hasAnonPages(snap, v));
    return;
  }
  p.mmap(
    v.start,
    v.end - v.start,
    PROT_READ | PROT_WRITE,
    MAP_FIXED | MAP_ANONYMOUS | (v.shared ? MAP_SHARED : MAP_PRIVATE),
  );
}

/** The madvise() flags of a VMA of the snapshot: VM_HUGEPAGE/NOHUGEPAGE, VM_MERGEABLE or not. */
function adviseVma(p: Process, v: SnapshotVma, mergeAny: boolean): void {
  const len = v.end - v.start;
  if (has(v, 'hg')) p.madvise(v.start, len, MADV_HUGEPAGE);
  if (has(v, 'nh')) p.madvise(v.start, len, MADV_NOHUGEPAGE);
  const mergeable = has(v, 'mg');
  if (mergeable && !mergeAny) p.madvise(v.start, len, MADV_MERGEABLE);
  // merge-any (or the parent's VMA, through fork) made it mergeable
  if (!mergeable && !v.shared) p.madvise(v.start, len, MADV_UNMERGEABLE);
}

/**
 * fork() of a process of the snapshot from its planned parent, then the child's own layout: the
 * parent's VMAs the child lacks unmapped, the pages fork gave it that it does not share dropped
 * (MADV_DONTNEED), its other VMAs mapped.
 */
function forkChild(
  snap: Snapshot,
  files: RestoreFiles,
  plan: RestorePlan,
  parent: Process,
  parentVmas: SnapshotVma[],
  vmas: SnapshotVma[],
  name: string,
): Process {
  const c = parent.fork(name);
  const byStart = new Map(vmas.map((v) => [v.start, v]));
  const kept = new Set<SnapshotVma>();
  for (const pv of parentVmas) {
    const cv = byStart.get(pv.start);
    if (cv === undefined || cv.end !== pv.end || cv.shared !== pv.shared) {
      c.munmap(pv.start, pv.end - pv.start);
      continue;
    }
    kept.add(cv);
    const n = (pv.end - pv.start) / PAGE_SIZE;
    let run = -1;
    for (let o = 0; o <= n; o++) {
      const j = pv.firstPage + o;
      const s = o < n ? plan.forkPage[j] : -1;
      const drop =
        s >= 0 &&
        (plan.step[cv.firstPage + o] !== STEP_INHERITED ||
          snap.pageFrame[cv.firstPage + o] !== snap.pageFrame[s]);
      if (drop && run < 0) run = o;
      if (!drop && run >= 0) {
        c.madvise(pv.start + run * PAGE_SIZE, (o - run) * PAGE_SIZE, MADV_DONTNEED);
        run = -1;
      }
    }
  }
  for (const v of vmas) if (!kept.has(v)) mmapVma(snap, files, c, v);
  return c;
}

/**
 * After the forks: a parent's pages that held its children's frames only for the fork
 * (planRestore()'s forkPage) go where the parent has no page of its own to write over them.
 */
function dropForkOnly(snap: Snapshot, plan: RestorePlan, p: Process, vmas: SnapshotVma[]): void {
  for (const v of vmas) {
    const n = (v.end - v.start) / PAGE_SIZE;
    for (let o = 0; o < n; o++) {
      const j = v.firstPage + o;
      const fp = plan.forkPage[j];
      if (fp < 0 || fp === j || (anonFrame(snap.pageFlags[j]) && snap.pageContent[j] !== 0)) continue;
      p.madvise(v.start + o * PAGE_SIZE, PAGE_SIZE, MADV_DONTNEED);
    }
  }
}

/** Full scans of the simulated ksmd with smart scan off (no page skipped while priming). */
function primeKsm(ksm: Ksm, scans: number): void {
  const smart = ksm.smart_scan;
  ksm.smart_scan = false;
  try {
    for (let s = 0; s < scans; s++) ksm.ksm_do_scan(FULL_SCAN_BATCH);
  } finally {
    ksm.smart_scan = smart;
  }
}

/**
 * Builds the snapshot's processes in an existing simulated machine (the `restore` scenario step),
 * named `names` (default: each pid as a string) in snapshot order, which is the
 * order ksmd's mm list has them. A --with-contents snapshot's pages get their bytes; a digest-only
 * one's refer to digest contents, which hold no bytes: no byte may be written in that machine
 * afterwards (`ctx.noWrites` says why).
 *
 * Sharing comes back as the kernel holds it: anonymous frames shared between processes through
 * fork (planRestore()), and KSM pages as KSM pages: each mapping is written as a copy, then the
 * simulated ksmd merges them (full scans with smart scan off, before the other pages exist), and
 * a last full scan gives every other page of a mergeable VMA its rmap_item and checksum — the
 * state ksmd leaves after scanning memory that did not change since. Those priming scans count in
 * the KSM counters (full_scans, pages_scanned): `restoreSnapshot()` reports them as its start; in
 * a scenario's machine they also scan the processes registered with KSM before.
 * Without KSM pages no scan runs (a never-scanned state, as after run=2).
 *
 * Page-cache pages of private file mappings come back as page-cache pages of one file per maps
 * path (a page per file offset, so frames processes share stay shared), mapped read-only, never
 * merged, counted in smaps Rss and walked by ksmd's scan as the kernel's are; their contents are
 * not in the snapshot (a restored one holds zeroes).
 * Not restored (counted in the result): page-cache pages of shared file mappings, swapped-out
 * pages, pages whose contents were unreadable, special mappings.
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
  const skipped: RestoreSkipped = { pageCache: 0, swapped: 0, unread: 0, special: 0, ksmUnmerged: 0 };
  const src: PageSource = {
    reader: snap.bytes !== null ? new ChunkReader(snap.bytes) : null,
    digests: snap.bytes === null ? new DigestContents(snap, m, file) : null,
  };
  const live = procs.map((sp) => sp.vmas.filter((v) => !special(v)));
  const plan = planRestore(snap, live);
  const files = new RestoreFiles(m, live);
  const built: Process[] = [];
  const thpWas = m.thp.enabled;
  // each page-cache page is mapped by a read fault of its own (no fault-around neighbours)
  const faultAroundWas = m.fault_around_bytes;
  m.fault_around_bytes = PAGE_SIZE;
  try {
    for (const [k, sp] of procs.entries()) {
      const name = names?.[k] ?? String(sp.pid);
      if (ctx.procs.has(name)) throw new SnapshotError(`${file}: a process named ${name} exists already`);
      for (const v of sp.vmas) if (special(v)) skipped.special += (v.end - v.start) / PAGE_SIZE;
      const pk = plan.parent[k];
      let p: Process;
      if (pk >= 0) {
        p = forkChild(snap, files, plan, built[pk], live[pk], live[k], name);
        if ((p.prctl(PR_GET_MEMORY_MERGE) === 1) !== sp.mergeAny)
          p.prctl(PR_SET_MEMORY_MERGE, sp.mergeAny ? 1 : 0);
      } else {
        p = new Process(m, name);
        if (sp.mergeAny) p.prctl(PR_SET_MEMORY_MERGE, 1);
        for (const v of live[k]) mmapVma(snap, files, p, v);
      }
      built.push(p);
      ctx.procs.set(name, p);
      const regions = new Map<string, { addr: number; pages: number }>();
      ctx.regions.set(name, regions);
      for (const v of live[k]) {
        adviseVma(p, v, sp.mergeAny);
        regions.set(`${v.start.toString(16)}`, { addr: v.start, pages: (v.end - v.start) / PAGE_SIZE });
      }
      restoreStep(snap, plan, skipped, p, live[k], src, STEP_PRE_FORK);
    }
    for (const [k, p] of built.entries()) dropForkOnly(snap, plan, p, live[k]);
    for (const [k, p] of built.entries()) restoreStep(snap, plan, skipped, p, live[k], src, STEP_KSM);
    if (plan.ksmPages > 0) {
      primeKsm(ctx.ksm, PRIME_MERGE_SCANS);
      let merged = 0;
      for (const p of built) merged += p.mm.ksm_merging_pages;
      skipped.ksmUnmerged = Math.max(0, plan.ksmPages - merged);
    }
    for (const [k, p] of built.entries()) restoreStep(snap, plan, skipped, p, live[k], src, STEP_REST);
    if (plan.ksmPages > 0) primeKsm(ctx.ksm, PRIME_CHECKSUM_SCANS);
    for (const [k, p] of built.entries())
      for (const v of live[k])
        if (v.prot !== (PROT_READ | PROT_WRITE)) p.mprotect(v.start, v.end - v.start, v.prot);
  } finally {
    m.thp.enabled = thpWas;
    m.fault_around_bytes = faultAroundWas;
    src.reader?.close();
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
  const c = ksm.counters();
  const start = { full_scans: c.full_scans, pages_scanned: c.pages_scanned, pages_skipped: c.pages_skipped };
  return { ...ctx, snapshot: snap, digestOnly: snap.bytes === null, skipped, start };
}

/** SimulatorOptions.restore for the `restore` scenario step: reads the file and restores it. */
export function restoreStepFromFile(ctx: SimulatorContext, file: string, names: string[] | undefined): void {
  restoreInto(ctx, readSnapshot(file), file, names);
}

/** Where page contents come from: the bytes of a --with-contents snapshot, or its digests. */
interface PageSource {
  reader: ChunkReader | null;
  digests: DigestContents | null;
}

/**
 * One step of the plan for a process: its PMD-mapped THPs first, with THP on (a huge fault at the
 * head, then the other subpages), then everything else with THP off, so that no small page
 * becomes part of a THP.
 */
function restoreStep(
  snap: Snapshot,
  plan: RestorePlan,
  skipped: RestoreSkipped,
  p: Process,
  vmas: SnapshotVma[],
  src: PageSource,
  step: number,
): void {
  const m = p.machine;
  m.thp.enabled = 'always';
  for (const v of vmas) restorePages(snap, plan, skipped, p, v, src, step, true);
  m.thp.enabled = 'never';
  for (const v of vmas) restorePages(snap, plan, skipped, p, v, src, step, false);
}

function restorePages(
  snap: Snapshot,
  plan: RestorePlan,
  skipped: RestoreSkipped,
  p: Process,
  v: SnapshotVma,
  src: PageSource,
  step: number,
  thp: boolean,
): void {
  const n = (v.end - v.start) / PAGE_SIZE;
  for (let k = 0; k < n; k++) {
    // the page whose contents go here: before the forks, what the address holds then
    let i = v.firstPage + k;
    if (step === STEP_PRE_FORK) {
      const fp = plan.forkPage[i];
      if (fp < 0 || (fp === i && plan.step[i] !== STEP_PRE_FORK)) continue;
      i = fp;
    } else if (plan.step[i] !== step) continue;
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
      // a page-cache page: a read fault maps it (read-only) from its file's page cache
      if (privateFile(v)) p.touch(addr);
      else skipped.pageCache++;
      continue;
    }
    if ((f & PAGE.UNREAD) !== 0 || snap.pageContent[i] === 0) {
      skipped.unread++;
      continue;
    }
    if (src.reader !== null) p.writePage(addr, src.reader.page(snap.pageContent[i] - 1));
    else p.writeContent(addr, (src.digests as DigestContents).id(snap.pageContent[i] - 1));
  }
}
