// Capture of running processes: SIGSTOP, then /proc/<pid>/smaps (VMAs, VmFlags), pagemap,
// /proc/kpageflags and kpagecount (per frame), /proc/<pid>/mem (the anonymous pages' contents,
// each frame read once), then SIGCONT — always, also on errors and signals, unless the caller
// keeps them stopped. fs/proc/task_mmu.c and fs/proc/page.c (6.18) define what is read.

import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { release } from 'node:os';
import { deflateRawSync } from 'node:zlib';
import { HPAGE_PMD_NR, PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { HashedMemory } from '@mmsim/mmu';
import { KPF_ANON, KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL, KPF_KSM, KPF_THP, KPF_ZERO_PAGE } from '@mmsim/proc';
import { PageDigester } from './digest.ts';
import {
  CHUNK_PAGES,
  commonPrefix,
  DIGEST_BYTES,
  PAGE,
  type SnapshotMeta,
  type SnapshotProcess,
  type SnapshotToWrite,
  type SnapshotVma,
  writeSnapshot,
  zeroPrefixOf,
} from './format.ts';

/** A user mistake or an impossible capture: one line for the user. */
export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SnapshotError';
  }
}

// pagemap entry bits 32..63, as bits of the entry's high word (Documentation/admin-guide/mm/pagemap.rst)
const PM_HI_SOFT_DIRTY = 1 << (55 - 32);
const PM_HI_EXCLUSIVE = 1 << (56 - 32);
const PM_HI_UFFD_WP = 1 << (57 - 32);
const PM_HI_FILE = 1 << (61 - 32);
const PM_HI_SWAP = 1 << (62 - 32);
const PM_HI_PRESENT = 2 ** (63 - 32);
/** PFN bits 0..54: the high word's low 23 bits */
const PM_HI_PFN_MASK = (1 << (55 - 32)) - 1;
const PF_KTHREAD = 0x00200000;
const KB = 1024;
/** Frame ids PageReader has room for at first (it grows by doubling). */
const INITIAL_FRAMES = 1 << 16;
/** Pages looked at (pagemap, kpageflags) and read from /proc/<pid>/mem at once; also the size
 * of each of the digester's two buffers. */
const READ_PAGES = 512;
/** Bytes of each content kept for ordering; equal prefixes are compared on the full pages. */
const PREFIX_BYTES = 64;
/** How long a SIGSTOP may take to show as state T. */
const STOP_TIMEOUT_MS = 5000;
/** VmFlags of mappings whose pages are no memory of the process's (PFN maps, I/O, vDSO-like). */
const SPECIAL_VMFLAGS = ['pf', 'io', 'mm'];
/** User addresses end below this (x86-64, 5-level paging included); [vsyscall] lies above. */
const USER_ADDR_LIMIT = 2 ** 56;
/** Deflate effort for --with-contents: fast, since 4 GiB must stay practical. */
const DEFLATE_LEVEL = 1;

export interface CaptureOptions {
  /** Store each distinct page's bytes, compressed. */
  withContents?: boolean;
  /** Leave the processes stopped afterwards. */
  keepStopped?: boolean;
}

export interface CaptureStats {
  pages: number;
  contents: number;
  /** bytes of anonymous memory read */
  bytesRead: number;
  ms: number;
}

/** Page ranges from /proc/<pid>/smaps with the fields capture needs. */
interface SmapsVma {
  vma: SnapshotVma;
  anonHugeKb: number;
}

function procState(pid: number): { state: string; flags: number } | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields after comm: state(3) ppid(4) ... flags(9)
  return { state: rest[0], flags: Number(rest[6]) };
}

function readProcText(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'latin1');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH')
      throw new SnapshotError(`pid ${pid} exited during the snapshot`);
    throw new SnapshotError(`cannot read /proc/${pid}/${file}: ${code ?? String(e)}`);
  }
}

function parseSmaps(pid: number, text: string): SmapsVma[] {
  const out: SmapsVma[] = [];
  let cur: SmapsVma | null = null;
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([-r][-w][-x][sp]) ([0-9a-f]+) [0-9a-f:]+ (\d+)\s*(.*)$/.exec(line);
    if (m !== null) {
      const perms = m[3];
      cur = {
        vma: {
          start: Number.parseInt(m[1], 16),
          end: Number.parseInt(m[2], 16),
          prot: (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0),
          shared: perms[3] === 's',
          name: m[6],
          file: m[5] !== '0',
          offset: Number.parseInt(m[4], 16),
          vmFlags: [],
          firstPage: 0,
        },
        anonHugeKb: 0,
      };
      out.push(cur);
      continue;
    }
    if (cur === null) continue;
    if (line.startsWith('VmFlags:')) cur.vma.vmFlags = line.slice(8).trim().split(/\s+/);
    else if (line.startsWith('AnonHugePages:')) cur.anonHugeKb = Number.parseInt(line.slice(14), 10);
  }
  if (out.length === 0) throw new SnapshotError(`pid ${pid} has no memory mappings (a kernel thread?)`);
  return out;
}

function isSpecial(v: SnapshotVma): boolean {
  return v.end > USER_ADDR_LIMIT || v.vmFlags.some((f) => SPECIAL_VMFLAGS.includes(f));
}

/** The distinct contents found so far. */
class ContentTable {
  readonly byDigest = new Map<string, number>();
  digests: Uint8Array = new Uint8Array(DIGEST_BYTES * 1024);
  checksums: Uint32Array = new Uint32Array(1024);
  /** leading zero bytes of each content */
  zeroPrefixes: Uint16Array = new Uint16Array(1024);
  prefixes: Uint8Array = new Uint8Array(PREFIX_BYTES * 1024);
  /** where to read the content again: process index and address */
  where: Float64Array = new Float64Array(2 * 1024);
  n = 0;
  /** --with-contents: the chunk being filled and the finished ones */
  chunk: Uint8Array | null;
  chunkPages = 0;
  readonly chunks: Uint8Array[] = [];

  /** the digester's digests as a Buffer: their map keys without a copy */
  private readonly keys: Buffer;

  constructor(withContents: boolean, d: PageDigester) {
    this.chunk = withContents ? new Uint8Array(CHUNK_PAGES * PAGE_SIZE) : null;
    this.keys = Buffer.from(d.digests.buffer, d.digests.byteOffset, d.digests.byteLength);
  }

  private grow(): void {
    const cap = this.checksums.length * 2;
    const g = <T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(
      a: T,
      make: (n: number) => T,
      per: number,
    ): T => {
      const b = make(cap * per);
      b.set(a as never);
      return b;
    };
    this.digests = g(this.digests, (k) => new Uint8Array(k), DIGEST_BYTES);
    this.checksums = g(this.checksums, (k) => new Uint32Array(k), 1);
    this.zeroPrefixes = g(this.zeroPrefixes, (k) => new Uint16Array(k), 1);
    this.prefixes = g(this.prefixes, (k) => new Uint8Array(k), PREFIX_BYTES);
    this.where = g(this.where, (k) => new Float64Array(k), 2);
  }

  /** The content index of page `k` of the digester (its bytes and digest), added if new;
   * `mem`: where its checksum is computed. */
  intern(d: PageDigester, k: number, mem: HashedMemory, proc: number, addr: number): number {
    const key = this.keys.toString('latin1', k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES);
    const found = this.byDigest.get(key);
    if (found !== undefined) return found;
    if (this.n === this.checksums.length) this.grow();
    const i = this.n++;
    this.byDigest.set(key, i);
    const page = d.bytes.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
    this.digests.set(d.digests.subarray(k * DIGEST_BYTES, (k + 1) * DIGEST_BYTES), i * DIGEST_BYTES);
    mem.bytes.set(page, 0);
    this.checksums[i] = mem.xxh64Low32(0, PAGE_SIZE);
    this.zeroPrefixes[i] = zeroPrefixOf(page);
    this.prefixes.set(page.subarray(0, PREFIX_BYTES), i * PREFIX_BYTES);
    this.where[2 * i] = proc;
    this.where[2 * i + 1] = addr;
    if (this.chunk !== null) {
      this.chunk.set(page, this.chunkPages * PAGE_SIZE);
      if (++this.chunkPages === CHUNK_PAGES) this.flush();
    }
    return i;
  }

  flush(): void {
    if (this.chunk === null || this.chunkPages === 0) return;
    this.chunks.push(
      deflateRawSync(this.chunk.subarray(0, this.chunkPages * PAGE_SIZE), { level: DEFLATE_LEVEL }),
    );
    this.chunkPages = 0;
  }
}

/** Per-page arrays, grown as VMAs are added. */
class PageArrays {
  flags: Uint16Array = new Uint16Array(4096);
  content: Uint32Array = new Uint32Array(4096);
  frame: Uint32Array = new Uint32Array(4096);
  n = 0;

  reserve(more: number): void {
    if (this.n + more <= this.flags.length) return;
    let cap = this.flags.length;
    while (cap < this.n + more) cap *= 2;
    const f = new Uint16Array(cap);
    f.set(this.flags);
    const c = new Uint32Array(cap);
    c.set(this.content);
    const r = new Uint32Array(cap);
    r.set(this.frame);
    this.flags = f;
    this.content = c;
    this.frame = r;
  }
}

function openOrExit(path: string, pid: number): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH')
      throw new SnapshotError(`pid ${pid} exited during the snapshot`);
    throw new SnapshotError(`cannot open ${path}: ${code ?? String(e)}`);
  }
}

/** pread of len bytes into buf; short only at EOF or on an error (returns bytes read). */
function preadFull(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  let got = 0;
  while (got < len) {
    let n: number;
    try {
      n = readSync(fd, buf, off + got, len - got, pos + got);
    } catch {
      break;
    }
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** kpageflags and kpagecount of a set of PFNs, read in runs of consecutive PFNs. */
class FrameInfo {
  private readonly flagsFd: number;
  private readonly countFd: number;
  private readonly buf = new Uint8Array(8 * 512);
  private readonly view = new DataView(this.buf.buffer);
  constructor() {
    this.flagsFd = openSync('/proc/kpageflags', 'r');
    this.countFd = openSync('/proc/kpagecount', 'r');
  }
  close(): void {
    closeSync(this.flagsFd);
    closeSync(this.countFd);
  }
  /** Fills flagsLo (bits 0..31 of kpageflags) and count for pfns[0..n). */
  read(pfns: Float64Array, n: number, flagsLo: Uint32Array, count: Uint32Array): void {
    let i = 0;
    while (i < n) {
      if (pfns[i] === 0) {
        i++;
        continue;
      }
      let j = i + 1;
      while (j < n && j - i < 512 && pfns[j] === pfns[j - 1] + 1) j++;
      const len = (j - i) * 8;
      preadFull(this.flagsFd, this.buf, 0, len, pfns[i] * 8);
      for (let k = i; k < j; k++) flagsLo[k] = this.view.getUint32((k - i) * 8, true);
      preadFull(this.countFd, this.buf, 0, len, pfns[i] * 8);
      for (let k = i; k < j; k++) count[k] = this.view.getUint32((k - i) * 8, true);
      i = j;
    }
  }
}

/** Knobs a snapshot carries that the simulated ksmd takes (run stays 0 there: scans are driven;
 * advisor_mode is recorded for the reader). */
export const RESTORED_KNOBS = [
  'max_page_sharing',
  'merge_across_nodes',
  'use_zero_pages',
  'smart_scan',
  'stable_node_chains_prune_millisecs',
  'pages_to_scan',
  'sleep_millisecs',
];

function readKnobs(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of [...RESTORED_KNOBS, 'advisor_mode', 'run']) {
    try {
      const v = readFileSync(`${dir}/${name}`, 'latin1').trim();
      // a choice knob (advisor_mode) shows its value in brackets among the others
      out[name] = /\[(\S+)\]/.exec(v)?.[1] ?? v;
    } catch {
      // a knob this kernel lacks
    }
  }
  return out;
}

function readThp(): { enabled: string; use_zero_page: string } {
  const dir = '/sys/kernel/mm/transparent_hugepage';
  try {
    const enabled = /\[(\w+)\]/.exec(readFileSync(`${dir}/enabled`, 'latin1'))?.[1] ?? 'never';
    const use_zero_page = readFileSync(`${dir}/use_zero_page`, 'latin1').trim();
    return { enabled, use_zero_page };
  } catch {
    return { enabled: 'never', use_zero_page: '0' };
  }
}

/** Checks that pids name snapshottable processes: root, alive, not kernel threads, not us. */
export function checkPids(pids: number[]): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    throw new SnapshotError('snapshot needs root (pagemap PFNs, /proc/kpageflags, /proc/<pid>/mem)');
  if (pids.length === 0) throw new SnapshotError('no pid given');
  const seen = new Set<number>();
  for (const pid of pids) {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new SnapshotError(`bad pid ${pid}`);
    if (seen.has(pid)) throw new SnapshotError(`pid ${pid} given twice`);
    seen.add(pid);
    if (pid === process.pid) throw new SnapshotError(`pid ${pid} is this mmsim process`);
    const st = procState(pid);
    if (st === null) throw new SnapshotError(`no such process: ${pid}`);
    if ((st.flags & PF_KTHREAD) !== 0)
      throw new SnapshotError(`pid ${pid} is a kernel thread (no user memory)`);
    if (st.state === 'Z' || st.state === 'X')
      throw new SnapshotError(`pid ${pid} is a zombie (no memory left)`);
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** SIGSTOP every pid and wait until each shows state T (stopped). */
function stopAll(pids: number[], stopped: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGSTOP');
    } catch {
      throw new SnapshotError(`pid ${pid} exited during the snapshot`);
    }
    stopped.push(pid);
  }
  const t0 = Date.now();
  for (const pid of pids) {
    for (;;) {
      const st = procState(pid);
      if (st === null || st.state === 'Z' || st.state === 'X')
        throw new SnapshotError(`pid ${pid} exited during the snapshot`);
      if (st.state === 'T' || st.state === 't') break;
      if (Date.now() - t0 > STOP_TIMEOUT_MS)
        throw new SnapshotError(`pid ${pid} did not stop (state ${st.state})`);
      sleepMs(1);
    }
  }
}

function resumeAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // it exited: nothing to resume
    }
  }
}

/**
 * Snapshots processes into `file` (see docs/snapshot-format.md). The processes are stopped for
 * the capture and resumed afterwards, even when it fails or mmsim is interrupted
 * (`keepStopped` leaves them stopped). Throws SnapshotError for every user-facing failure.
 */
export function captureSnapshot(pids: number[], file: string, opts: CaptureOptions = {}): CaptureStats {
  checkPids(pids);
  const t0 = Date.now();
  const stopped: number[] = [];
  const onSignal = (sig: NodeJS.Signals): void => {
    resumeAll(stopped);
    process.stderr.write(`mmsim snapshot: interrupted (${sig}); processes resumed\n`);
    process.exit(2);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  try {
    stopAll(pids, stopped);
    const snap = capture(pids, opts.withContents === true);
    try {
      writeSnapshot(file, snap.snapshot, snap.chunks);
    } catch (e) {
      throw new SnapshotError(`cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
    return { ...snap.stats, ms: Date.now() - t0 };
  } finally {
    if (opts.keepStopped !== true) resumeAll(stopped);
    for (const s of signals) process.off(s, onSignal);
  }
}

/**
 * Pages read from /proc/<pid>/mem, digested by the worker while the next ones are read, then
 * interned in read order. A frame is read once: a page whose frame is waiting for its digest
 * takes that page's content when it is interned.
 */
class PageReader {
  private readonly d: PageDigester;
  private readonly contents: ContentTable;
  private readonly pages: PageArrays;
  /** checksums are computed here */
  private readonly mem = new HashedMemory(PAGE_SIZE * 16);
  /** the buffer being filled, its pages so far */
  private cur = 0;
  private fill = 0;
  /** per buffer slot: page index, process index, address of the page read there */
  private readonly slotPage: Int32Array;
  private readonly slotProc: Int32Array;
  private readonly slotAddr: Float64Array;
  /** pages submitted per buffer */
  private readonly submitted = [0, 0];
  /** per frame id (PAGE_FRAME): its content index + 1 once interned, -1 - the page index while in
   * flight, 0 when not read */
  private frameState = new Int32Array(INITIAL_FRAMES);
  /** pages whose frame was in flight: page index, and the page that was read */
  private deferred: number[] = [];
  bytesRead = 0;

  constructor(contents: ContentTable, pages: PageArrays, d: PageDigester) {
    this.d = d;
    this.contents = contents;
    this.pages = pages;
    const slots = 2 * d.bufferPages;
    this.slotPage = new Int32Array(slots);
    this.slotProc = new Int32Array(slots);
    this.slotAddr = new Float64Array(slots);
  }

  /** The content (index + 1) frame `id` has: 0 when not read yet; -1 - page index when it is in
   * flight. */
  known(id: number): number {
    if (id >= this.frameState.length) {
      const grown = new Int32Array(Math.max(id + 1, 2 * this.frameState.length));
      grown.set(this.frameState);
      this.frameState = grown;
    }
    return this.frameState[id];
  }

  /** A page takes the content of a page in flight (known() < 0) once that one is interned. */
  defer(idx: number, known: number): void {
    this.deferred.push(idx, -1 - known);
  }

  /** Reads pages first..first+n (consecutive addresses from `addr`) of process `proc`. */
  read(fd: number, proc: number, addr: number, first: number, n: number): void {
    if (this.fill + n > this.d.bufferPages) this.rotate();
    const b = this.cur * this.d.bufferPages + this.fill;
    const got = preadFull(fd, this.d.bytes, b * PAGE_SIZE, n * PAGE_SIZE, addr);
    this.bytesRead += got;
    for (let k = 0; k < n; k++) {
      const idx = first + k;
      if ((k + 1) * PAGE_SIZE > got) {
        this.pages.flags[idx] |= PAGE.UNREAD;
        continue;
      }
      const s = this.cur * this.d.bufferPages + this.fill++;
      this.slotPage[s] = idx;
      this.slotProc[s] = proc;
      this.slotAddr[s] = addr + k * PAGE_SIZE;
      this.frameState[this.pages.frame[idx]] = -1 - idx;
    }
  }

  /** Submits the buffer being filled; interns the other one once digested and fills it next. */
  private rotate(): void {
    this.d.submit(this.cur, this.fill);
    this.submitted[this.cur] = this.fill;
    this.cur = (this.cur + 1) % 2;
    this.fill = 0;
    this.internBuffer(this.cur);
  }

  private internBuffer(b: number): void {
    this.d.wait(b);
    const base = b * this.d.bufferPages;
    for (let s = base; s < base + this.submitted[b]; s++) {
      const c = this.contents.intern(this.d, s, this.mem, this.slotProc[s], this.slotAddr[s]) + 1;
      this.pages.content[this.slotPage[s]] = c;
      this.frameState[this.pages.frame[this.slotPage[s]]] = c;
    }
    this.submitted[b] = 0;
  }

  /** Digests and interns everything read, then the deferred pages. */
  finish(): void {
    this.rotate();
    this.rotate();
    const p = this.pages;
    for (let k = 0; k < this.deferred.length; k += 2) {
      const [idx, src] = [this.deferred[k], this.deferred[k + 1]];
      p.content[idx] = p.content[src];
      if (p.content[src] === 0) p.flags[idx] |= PAGE.UNREAD;
    }
    this.deferred = [];
  }
}

function capture(
  pids: number[],
  withContents: boolean,
): { snapshot: SnapshotToWrite; chunks: Uint8Array[] | null; stats: Omit<CaptureStats, 'ms'> } {
  const pm = new Uint8Array(READ_PAGES * 8);
  const pmView = new DataView(pm.buffer);
  const pfns = new Float64Array(READ_PAGES);
  const kflags = new Uint32Array(READ_PAGES);
  const kcount = new Uint32Array(READ_PAGES);
  const digester = new PageDigester(READ_PAGES);
  const contents = new ContentTable(withContents, digester);
  const pages = new PageArrays();
  const reader = new PageReader(contents, pages, digester);
  const frameIds = new Map<number, number>();
  const frames = new FrameInfo();
  const processes: SnapshotProcess[] = [];
  const memFds: number[] = [];
  try {
    for (let pi = 0; pi < pids.length; pi++) {
      const pid = pids[pi];
      const comm = readProcText(pid, 'comm').trim();
      const stat = readProcText(pid, 'ksm_stat');
      const mergeAny = /ksm_merge_any:\s*yes/.test(stat);
      const vmas = parseSmaps(pid, readProcText(pid, 'smaps'));
      const pmFd = openOrExit(`/proc/${pid}/pagemap`, pid);
      const memFd = openOrExit(`/proc/${pid}/mem`, pid);
      memFds.push(memFd);
      const proc: SnapshotProcess = { pid, comm, mergeAny, vmas: [] };
      for (const { vma, anonHugeKb } of vmas) {
        vma.firstPage = pages.n;
        proc.vmas.push(vma);
        if (isSpecial(vma)) continue;
        const nPages = (vma.end - vma.start) / PAGE_SIZE;
        pages.reserve(nPages);
        const first = pages.n;
        pages.n += nPages;
        let thpHeads = 0;
        for (let done = 0; done < nPages; done += READ_PAGES) {
          const n = Math.min(READ_PAGES, nPages - done);
          const base = vma.start + done * PAGE_SIZE;
          if (preadFull(pmFd, pm, 0, n * 8, (base / PAGE_SIZE) * 8) !== n * 8)
            throw new SnapshotError(`pid ${pid} exited during the snapshot (pagemap unreadable)`);
          let present = false;
          for (let k = 0; k < n; k++) {
            const lo = pmView.getUint32(k * 8, true);
            const hi = pmView.getUint32(k * 8 + 4, true);
            let f = 0;
            if (hi >= PM_HI_PRESENT) f |= PAGE.PRESENT;
            if ((hi & PM_HI_SWAP) !== 0) f |= PAGE.SWAPPED;
            if ((hi & PM_HI_FILE) !== 0) f |= PAGE.FILE;
            if ((hi & PM_HI_EXCLUSIVE) !== 0) f |= PAGE.EXCLUSIVE;
            if ((hi & PM_HI_SOFT_DIRTY) !== 0) f |= PAGE.SOFT_DIRTY;
            if ((hi & PM_HI_UFFD_WP) !== 0) f |= PAGE.UFFD_WP;
            pfns[k] = (f & PAGE.PRESENT) !== 0 ? (hi & PM_HI_PFN_MASK) * 2 ** 32 + lo : 0;
            if (pfns[k] !== 0) present = true;
            pages.flags[first + done + k] = f;
            kflags[k] = 0;
            kcount[k] = 0;
          }
          if (!present) continue;
          frames.read(pfns, n, kflags, kcount);
          // contents: runs of present anonymous non-zero pages whose frame was not read before
          let runStart = -1;
          for (let k = 0; k <= n; k++) {
            let wanted = false;
            if (k < n && pfns[k] !== 0) {
              const idx = first + done + k;
              const pfn = pfns[k];
              const kf = kflags[k];
              let f = pages.flags[idx];
              if ((kf & (1 << KPF_ANON)) !== 0) f |= PAGE.ANON;
              if ((kf & (1 << KPF_ZERO_PAGE)) !== 0) f |= PAGE.ZERO;
              if ((kf & (1 << KPF_THP)) !== 0) f |= PAGE.THP;
              if ((kf & (1 << KPF_KSM)) !== 0) f |= PAGE.KSM;
              if (kcount[k] > 1) f |= PAGE.SHARED;
              pages.flags[idx] = f;
              let id = frameIds.get(pfn);
              if (id === undefined) {
                id = frameIds.size + 1;
                frameIds.set(pfn, id);
              }
              pages.frame[idx] = id;
              // a PMD-mapped THP: a head at a 2 MiB boundary followed by its 511 tails
              const addr = base + k * PAGE_SIZE;
              if (
                (kf & (1 << KPF_THP)) !== 0 &&
                (kf & (1 << KPF_COMPOUND_HEAD)) !== 0 &&
                (kf & (1 << KPF_COMPOUND_TAIL)) === 0 &&
                addr % PMD_SIZE === 0 &&
                pfn % HPAGE_PMD_NR === 0 &&
                addr + PMD_SIZE <= vma.end
              )
                thpHeads++;
              if ((f & PAGE.ANON) !== 0 && (f & PAGE.ZERO) === 0) {
                const known = reader.known(id);
                if (known > 0) pages.content[idx] = known;
                else if (known < 0) reader.defer(idx, known);
                else wanted = true;
              }
            }
            if (wanted && runStart < 0) runStart = k;
            if (!wanted && runStart >= 0) {
              reader.read(memFd, pi, base + runStart * PAGE_SIZE, first + done + runStart, k - runStart);
              runStart = -1;
            }
          }
        }
        markPmdMapped(pages, vma, first, nPages, thpHeads, anonHugeKb);
      }
      closeSync(pmFd);
      processes.push(proc);
    }
    reader.finish();
    const { rank, rankPrefix } = rankContents(contents, pids, memFds);
    contents.flush();
    const meta: SnapshotMeta = {
      created: new Date().toISOString(),
      kernel: release(),
      pageSize: PAGE_SIZE,
      ksm: readKnobs('/sys/kernel/mm/ksm'),
      thp: readThp(),
      processes,
      pages: pages.n,
      contents: contents.n,
      withContents,
    };
    return {
      snapshot: {
        meta,
        pageFlags: pages.flags.slice(0, pages.n),
        pageContent: pages.content.slice(0, pages.n),
        pageFrame: pages.frame.slice(0, pages.n),
        digest: contents.digests.slice(0, contents.n * DIGEST_BYTES),
        checksum: contents.checksums.slice(0, contents.n),
        rank,
        rankPrefix,
        zeroPrefix: contents.zeroPrefixes.slice(0, contents.n),
      },
      chunks: withContents ? contents.chunks : null,
      stats: { pages: pages.n, contents: contents.n, bytesRead: reader.bytesRead },
    };
  } finally {
    digester.close();
    frames.close();
    for (const fd of memFds) closeSync(fd);
  }
}

/**
 * Marks PMD-mapped THPs: smaps' AnonHugePages counts PMD mappings only, so when it equals the
 * candidates (a THP head at a 2 MiB boundary) they are all PMD-mapped; otherwise some are mapped
 * by PTEs and none is marked (restored as small pages).
 */
function markPmdMapped(
  pages: PageArrays,
  vma: SnapshotVma,
  first: number,
  nPages: number,
  heads: number,
  anonHugeKb: number,
): void {
  if (heads === 0 || anonHugeKb !== (heads * PMD_SIZE) / KB) return;
  for (let k = 0; k + HPAGE_PMD_NR <= nPages; k++) {
    const addr = vma.start + k * PAGE_SIZE;
    if (addr % PMD_SIZE !== 0 || (pages.flags[first + k] & PAGE.THP) === 0) continue;
    if (pages.frame[first + k] === 0) continue;
    pages.flags[first + k] |= PAGE.PMD_MAPPED;
    for (let j = 0; j < HPAGE_PMD_NR; j++) pages.flags[first + k + j] |= PAGE.IN_PMD;
    k += HPAGE_PMD_NR - 1;
  }
}

/** memcmp ranks of the contents: by their first PREFIX_BYTES, ties by the whole pages, read again
 * from the stopped processes; and the common prefix of each two rank neighbours (within
 * PREFIX_BYTES when their first bytes differ, else on the whole pages). */
function rankContents(
  t: ContentTable,
  pids: number[],
  memFds: number[],
): { rank: Uint32Array; rankPrefix: Uint16Array } {
  const n = t.n;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const pre = Buffer.from(t.prefixes.buffer, t.prefixes.byteOffset, n * PREFIX_BYTES);
  const cmpPrefix = (a: number, b: number): number =>
    pre.compare(pre, b * PREFIX_BYTES, (b + 1) * PREFIX_BYTES, a * PREFIX_BYTES, (a + 1) * PREFIX_BYTES);
  const sorted = Array.from(order).sort(cmpPrefix);
  // resolve runs of equal prefixes on the full pages
  const rank = new Uint32Array(n);
  const rankPrefix = new Uint16Array(n);
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && cmpPrefix(sorted[i], sorted[j]) === 0) j++;
    if (j - i > 1) {
      const full = new Map<number, Buffer>();
      for (let k = i; k < j; k++) {
        const c = sorted[k];
        const b = Buffer.alloc(PAGE_SIZE);
        const pi = t.where[2 * c];
        if (preadFull(memFds[pi], b, 0, PAGE_SIZE, t.where[2 * c + 1]) !== PAGE_SIZE)
          throw new SnapshotError(`pid ${pids[pi]} exited during the snapshot`);
        full.set(c, b);
      }
      const group = sorted.slice(i, j).sort((a, b) => Buffer.compare(full.get(a)!, full.get(b)!));
      for (let k = i; k < j; k++) sorted[k] = group[k - i];
      for (let k = i; k + 1 < j; k++)
        rankPrefix[k] = commonPrefix(full.get(sorted[k])!, full.get(sorted[k + 1])!);
    }
    // the last of the run and the next content differ within PREFIX_BYTES
    if (j < n)
      rankPrefix[j - 1] = commonPrefix(
        t.prefixes.subarray(sorted[j - 1] * PREFIX_BYTES, (sorted[j - 1] + 1) * PREFIX_BYTES),
        t.prefixes.subarray(sorted[j] * PREFIX_BYTES, (sorted[j] + 1) * PREFIX_BYTES),
      );
    i = j;
  }
  for (let k = 0; k < n; k++) rank[sorted[k]] = k;
  return { rank, rankPrefix };
}
