// The snapshot file: a header with a magic, a version and a checksummed section table, then the
// sections (JSON metadata, per-page arrays, per-content digests/checksums/ranks, and optionally
// the contents' bytes compressed). docs/snapshot-format.md is the reference; this file is its
// only reader and writer.

import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { PAGE_SIZE } from '@mmsim/core';
import { DIGEST_BYTES } from '@mmsim/mmu';

export const SNAPSHOT_MAGIC = 'MMSIMSNP';
export const SNAPSHOT_VERSION = 2;
/** The first version with CONTENT_PREFIX and CONTENT_ZERO_PREFIX (version 1 files still load:
 * without them a compare of two digests counts whole pages read). */
const PREFIXES_VERSION = 2;
const HEADER_BYTES = 32;
const TABLE_ENTRY_BYTES = 32;
const CHECKSUM_BYTES = 8;
/** Sections a reader must understand (a newer writer's optional ones are skipped). */
const SECTION_REQUIRED = 1;
const MAX_SECTIONS = 64;
/** Pages per compressed chunk of contents. */
export const CHUNK_PAGES = 256;

/** Section kinds. */
export const SECTION = {
  META: 1,
  PAGE_FLAGS: 2,
  PAGE_CONTENT: 3,
  PAGE_FRAME: 4,
  CONTENT_DIGEST: 5,
  CONTENT_CHECKSUM: 6,
  CONTENT_RANK: 7,
  CONTENT_BYTES: 8,
  CONTENT_PREFIX: 9,
  CONTENT_ZERO_PREFIX: 10,
} as const;

/** Bits of a page's flags (Uint16): what pagemap and kpageflags said about it. */
export const PAGE = {
  /** pagemap bit 63 */
  PRESENT: 1 << 0,
  /** pagemap bit 62 */
  SWAPPED: 1 << 1,
  /** KPF_ANON: an anonymous page (in a private file mapping: a COW copy) */
  ANON: 1 << 2,
  /** KPF_ZERO_PAGE: the shared zero page (or the huge zero page with THP) */
  ZERO: 1 << 3,
  /** KPF_THP: part of a transparent huge page */
  THP: 1 << 4,
  /** the first page of a THP that is mapped by a PMD (smaps' AnonHugePages accounts for it) */
  PMD_MAPPED: 1 << 5,
  /** KPF_KSM: already a KSM page */
  KSM: 1 << 6,
  /** pagemap bit 56: exclusively mapped */
  EXCLUSIVE: 1 << 7,
  /** pagemap bit 55 */
  SOFT_DIRTY: 1 << 8,
  /** pagemap bit 57 */
  UFFD_WP: 1 << 9,
  /** pagemap bit 61: a file page or shared anonymous page */
  FILE: 1 << 10,
  /** kpagecount > 1: the frame is mapped more than once (fork sharing, shared mappings) */
  SHARED: 1 << 11,
  /** present but its contents could not be read */
  UNREAD: 1 << 12,
  /** the page lies inside a PMD-mapped THP (with PMD_MAPPED at its first page) */
  IN_PMD: 1 << 13,
} as const;

export interface SnapshotVma {
  start: number;
  end: number;
  /** PROT_READ | PROT_WRITE | PROT_EXEC bits */
  prot: number;
  /** MAP_SHARED ('s' in maps) */
  shared: boolean;
  /** the maps pathname field: '' for anonymous memory, '[heap]', '[stack]', a file path */
  name: string;
  /** backed by a file (inode != 0) */
  file: boolean;
  /** the maps offset field: where in the file the VMA starts, in bytes (absent in files written
   * before mmsim restored page-cache pages) */
  offset?: number;
  /** smaps VmFlags, as the kernel printed them */
  vmFlags: string[];
  /** index of the VMA's first page in the per-page sections */
  firstPage: number;
}

export interface SnapshotProcess {
  pid: number;
  comm: string;
  /** MMF_VM_MERGE_ANY (ksm_stat ksm_merge_any: PR_SET_MEMORY_MERGE) */
  mergeAny: boolean;
  vmas: SnapshotVma[];
}

export interface SnapshotMeta {
  created: string;
  /** uname release of the machine the snapshot was taken on */
  kernel: string;
  pageSize: number;
  /** /sys/kernel/mm/ksm knobs, as read */
  ksm: Record<string, string>;
  /** /sys/kernel/mm/transparent_hugepage: enabled (the selected word), use_zero_page */
  thp: { enabled: string; use_zero_page: string };
  processes: SnapshotProcess[];
  /** pages in the per-page sections */
  pages: number;
  /** distinct contents */
  contents: number;
  withContents: boolean;
}

/** A snapshot in memory. Per page: flags, content index + 1 (0: none), frame number + 1 (0: none;
 * equal numbers are the same physical frame). Per content: digest, checksum, memcmp rank. */
export interface Snapshot {
  meta: SnapshotMeta;
  pageFlags: Uint16Array;
  pageContent: Uint32Array;
  pageFrame: Uint32Array;
  digest: Uint8Array;
  checksum: Uint32Array;
  rank: Uint32Array;
  /** By rank: the longest common prefix (bytes) of the contents of ranks r and r + 1 (the last
   * entry 0). Null in a version 1 file. */
  rankPrefix: Uint16Array | null;
  /** Per content: its leading zero bytes (where memcmp() against the zero page stops). Null in a
   * version 1 file. */
  zeroPrefix: Uint16Array | null;
  /** The compressed contents (with --with-contents): where they are in the file. */
  bytes: ContentChunks | null;
}

/** The CONTENT_BYTES section: chunk i holds contents [i * CHUNK_PAGES, ...), deflate-raw. */
export interface ContentChunks {
  file: string;
  /** file offset and compressed length of each chunk */
  offsets: number[];
  lengths: number[];
}

/** What writeSnapshot() takes: a snapshot of this version (its common prefixes known), without
 * the content chunks (passed apart). */
export type SnapshotToWrite = Omit<Snapshot, 'bytes' | 'rankPrefix' | 'zeroPrefix'> & {
  rankPrefix: Uint16Array;
  zeroPrefix: Uint16Array;
};

/** A file that is not a readable snapshot: one line for the user. */
export class SnapshotFormatError extends Error {
  constructor(file: string, what: string) {
    super(`${file}: ${what}`);
    this.name = 'SnapshotFormatError';
  }
}

const WORD_BYTES = 4;
const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

/** The length of the longest common prefix of two byte ranges (CONTENT_PREFIX): by 32-bit words
 * where both are aligned, then by bytes. */
export function commonPrefix(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  if (a.byteOffset % WORD_BYTES === 0 && b.byteOffset % WORD_BYTES === 0) {
    const words = Math.floor(n / WORD_BYTES);
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    let w = 0;
    while (w < words && wa[w] === wb[w]) w++;
    i = w * WORD_BYTES;
  }
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** A page's leading zero bytes (CONTENT_ZERO_PREFIX). */
export function zeroPrefixOf(page: Uint8Array): number {
  return commonPrefix(page, ZERO_PAGE.subarray(0, page.length));
}

function sum8(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest().subarray(0, CHECKSUM_BYTES);
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

interface SectionOut {
  kind: number;
  flags: number;
  /** the body, in parts (written one after another) */
  parts: Uint8Array[];
}

/** Writes a snapshot; `chunks` are the compressed content chunks (with --with-contents). */
export function writeSnapshot(path: string, snap: SnapshotToWrite, chunks: Uint8Array[] | null): void {
  const meta = Buffer.from(JSON.stringify(snap.meta));
  const sections: SectionOut[] = [
    { kind: SECTION.META, flags: SECTION_REQUIRED, parts: [meta] },
    { kind: SECTION.PAGE_FLAGS, flags: SECTION_REQUIRED, parts: [bytesOf(snap.pageFlags)] },
    { kind: SECTION.PAGE_CONTENT, flags: SECTION_REQUIRED, parts: [bytesOf(snap.pageContent)] },
    { kind: SECTION.PAGE_FRAME, flags: SECTION_REQUIRED, parts: [bytesOf(snap.pageFrame)] },
    { kind: SECTION.CONTENT_DIGEST, flags: SECTION_REQUIRED, parts: [snap.digest] },
    { kind: SECTION.CONTENT_CHECKSUM, flags: SECTION_REQUIRED, parts: [bytesOf(snap.checksum)] },
    { kind: SECTION.CONTENT_RANK, flags: SECTION_REQUIRED, parts: [bytesOf(snap.rank)] },
    { kind: SECTION.CONTENT_PREFIX, flags: SECTION_REQUIRED, parts: [bytesOf(snap.rankPrefix)] },
    { kind: SECTION.CONTENT_ZERO_PREFIX, flags: SECTION_REQUIRED, parts: [bytesOf(snap.zeroPrefix)] },
  ];
  if (chunks !== null) {
    const index = new Uint32Array(1 + chunks.length);
    index[0] = chunks.length;
    for (let i = 0; i < chunks.length; i++) index[1 + i] = chunks[i].length;
    sections.push({
      kind: SECTION.CONTENT_BYTES,
      flags: SECTION_REQUIRED,
      parts: [bytesOf(index), ...chunks],
    });
  }
  const table = Buffer.alloc(sections.length * TABLE_ENTRY_BYTES);
  let offset = HEADER_BYTES + table.length;
  sections.forEach((s, i) => {
    const len = s.parts.reduce((n, p) => n + p.length, 0);
    const e = i * TABLE_ENTRY_BYTES;
    table.writeUInt32LE(s.kind, e);
    table.writeUInt32LE(s.flags, e + 4);
    table.writeBigUInt64LE(BigInt(offset), e + 8);
    table.writeBigUInt64LE(BigInt(len), e + 16);
    sum8(...s.parts).copy(table, e + 24);
    offset += len;
  });
  const header = Buffer.alloc(HEADER_BYTES);
  header.write(SNAPSHOT_MAGIC, 0, 'latin1');
  header.writeUInt32LE(SNAPSHOT_VERSION, 8);
  header.writeUInt32LE(sections.length, 12);
  header.writeBigUInt64LE(BigInt(offset), 16);
  sum8(header.subarray(0, 24), table).copy(header, 24);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    writeSync(fd, table);
    for (const s of sections) for (const p of s.parts) writeSync(fd, p);
  } finally {
    closeSync(fd);
  }
}

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const n = readSync(fd, b, got, len - got, pos + got);
    if (n === 0) break;
    got += n;
  }
  return got === len ? b : b.subarray(0, got);
}

/** Bytes hashed per read when checking the content section. */
const VERIFY_PIECE = 16 << 20;

/** Reads and checks a snapshot (every section's checksum). Throws SnapshotFormatError. */
export function readSnapshot(path: string): Snapshot {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new SnapshotFormatError(path, `cannot open: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const size = fstatSync(fd).size;
    const header = readAt(fd, 0, HEADER_BYTES);
    if (header.length < 8 || header.toString('latin1', 0, 8) !== SNAPSHOT_MAGIC)
      throw new SnapshotFormatError(path, 'not an mmsim snapshot (no MMSIMSNP magic)');
    if (header.length < HEADER_BYTES) throw new SnapshotFormatError(path, 'truncated (header)');
    const version = header.readUInt32LE(8);
    if (version > SNAPSHOT_VERSION)
      throw new SnapshotFormatError(
        path,
        `snapshot format version ${version} is newer than this mmsim reads (${SNAPSHOT_VERSION}); update mmsim`,
      );
    if (version === 0) throw new SnapshotFormatError(path, 'corrupted (format version 0)');
    const n = header.readUInt32LE(12);
    const total = Number(header.readBigUInt64LE(16));
    if (n === 0 || n > MAX_SECTIONS) throw new SnapshotFormatError(path, `corrupted (${n} sections)`);
    const table = readAt(fd, HEADER_BYTES, n * TABLE_ENTRY_BYTES);
    if (table.length < n * TABLE_ENTRY_BYTES || size < total)
      throw new SnapshotFormatError(path, `truncated (${size} bytes, the header says ${total})`);
    if (!sum8(header.subarray(0, 24), table).equals(header.subarray(24, 32)))
      throw new SnapshotFormatError(path, 'corrupted (header checksum mismatch)');
    const bodies = new Map<number, Buffer>();
    let chunks: ContentChunks | null = null;
    for (let i = 0; i < n; i++) {
      const e = i * TABLE_ENTRY_BYTES;
      const kind = table.readUInt32LE(e);
      const flags = table.readUInt32LE(e + 4);
      const off = Number(table.readBigUInt64LE(e + 8));
      const len = Number(table.readBigUInt64LE(e + 16));
      const want = table.subarray(e + 24, e + 32);
      if (off + len > total) throw new SnapshotFormatError(path, `corrupted (section ${kind} past the end)`);
      const known = kind >= SECTION.META && kind <= SECTION.CONTENT_ZERO_PREFIX;
      if (!known) {
        if ((flags & SECTION_REQUIRED) !== 0)
          throw new SnapshotFormatError(path, `needs a newer mmsim (unknown required section ${kind})`);
        continue;
      }
      if (kind === SECTION.CONTENT_BYTES) {
        const h = createHash('sha256');
        for (let p = 0; p < len; p += VERIFY_PIECE)
          h.update(readAt(fd, off + p, Math.min(VERIFY_PIECE, len - p)));
        if (!h.digest().subarray(0, CHECKSUM_BYTES).equals(want))
          throw new SnapshotFormatError(path, 'corrupted (checksum mismatch in the page contents)');
        const head = readAt(fd, off, 4);
        const nChunks = head.readUInt32LE(0);
        const idx = readAt(fd, off + 4, nChunks * 4);
        const lens = new Uint32Array(idx.buffer.slice(idx.byteOffset, idx.byteOffset + idx.byteLength));
        const offsets: number[] = [];
        const lengths: number[] = [];
        let at = off + 4 + nChunks * 4;
        for (let c = 0; c < nChunks; c++) {
          offsets.push(at);
          lengths.push(lens[c]);
          at += lens[c];
        }
        if (at !== off + len) throw new SnapshotFormatError(path, 'corrupted (content chunk index)');
        chunks = { file: path, offsets, lengths };
        continue;
      }
      const body = readAt(fd, off, len);
      if (!sum8(body).equals(want))
        throw new SnapshotFormatError(path, `corrupted (checksum mismatch in section ${kind})`);
      bodies.set(kind, body);
    }
    return decode(path, version, bodies, chunks);
  } finally {
    closeSync(fd);
  }
}

function typed<T>(body: Buffer | undefined, make: (b: ArrayBuffer) => T, path: string, what: string): T {
  if (body === undefined) throw new SnapshotFormatError(path, `corrupted (no ${what} section)`);
  // copied: a Buffer may share a pool at an unaligned offset
  return make(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer);
}

function decode(
  path: string,
  version: number,
  bodies: Map<number, Buffer>,
  bytes: ContentChunks | null,
): Snapshot {
  const metaBody = bodies.get(SECTION.META);
  if (metaBody === undefined) throw new SnapshotFormatError(path, 'corrupted (no metadata section)');
  let meta: SnapshotMeta;
  try {
    meta = JSON.parse(metaBody.toString('utf8')) as SnapshotMeta;
  } catch {
    throw new SnapshotFormatError(path, 'corrupted (metadata is not JSON)');
  }
  if (!Array.isArray(meta.processes) || !Number.isInteger(meta.pages) || !Number.isInteger(meta.contents))
    throw new SnapshotFormatError(path, 'corrupted (metadata lacks processes, pages or contents)');
  if (meta.pageSize !== PAGE_SIZE)
    throw new SnapshotFormatError(path, `page size ${meta.pageSize}; mmsim simulates ${PAGE_SIZE}`);
  const snap: Snapshot = {
    meta,
    pageFlags: typed(bodies.get(SECTION.PAGE_FLAGS), (b) => new Uint16Array(b), path, 'page flags'),
    pageContent: typed(bodies.get(SECTION.PAGE_CONTENT), (b) => new Uint32Array(b), path, 'page contents'),
    pageFrame: typed(bodies.get(SECTION.PAGE_FRAME), (b) => new Uint32Array(b), path, 'page frames'),
    digest: typed(bodies.get(SECTION.CONTENT_DIGEST), (b) => new Uint8Array(b), path, 'digests'),
    checksum: typed(bodies.get(SECTION.CONTENT_CHECKSUM), (b) => new Uint32Array(b), path, 'checksums'),
    rank: typed(bodies.get(SECTION.CONTENT_RANK), (b) => new Uint32Array(b), path, 'ranks'),
    rankPrefix:
      version >= PREFIXES_VERSION
        ? typed(bodies.get(SECTION.CONTENT_PREFIX), (b) => new Uint16Array(b), path, 'common prefixes')
        : null,
    zeroPrefix:
      version >= PREFIXES_VERSION
        ? typed(bodies.get(SECTION.CONTENT_ZERO_PREFIX), (b) => new Uint16Array(b), path, 'zero prefixes')
        : null,
    bytes,
  };
  const p = meta.pages;
  const c = meta.contents;
  if (
    snap.pageFlags.length !== p ||
    snap.pageContent.length !== p ||
    snap.pageFrame.length !== p ||
    snap.digest.length !== c * DIGEST_BYTES ||
    snap.checksum.length !== c ||
    snap.rank.length !== c ||
    (snap.rankPrefix !== null && snap.rankPrefix.length !== c) ||
    (snap.zeroPrefix !== null && snap.zeroPrefix.length !== c)
  )
    throw new SnapshotFormatError(path, 'corrupted (section sizes disagree with the metadata)');
  if (meta.withContents !== (bytes !== null))
    throw new SnapshotFormatError(path, 'corrupted (content bytes section and metadata disagree)');
  for (let i = 0; i < p; i++)
    if (snap.pageContent[i] > c)
      throw new SnapshotFormatError(path, `corrupted (page ${i} refers to content ${snap.pageContent[i]})`);
  return snap;
}

export { DIGEST_BYTES };
