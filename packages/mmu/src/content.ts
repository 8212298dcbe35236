// Content-addressed page contents (a simulator concept; the kernel keeps 4 KiB per frame). A
// frame refers to a content by a number; what a content is:
//   - a pattern: a scenario fill page (`byte` value v, or an `ids`/`unique` page (seed, id)),
//     described by its numbers, its bytes generated on demand only where bytes are needed;
//   - an interned byte page: 4 KiB stored once in a slot of the WebAssembly-memory arenas,
//     reference-counted and shared by every frame (and swap slot) with the same bytes;
//   - a frozen private page: the slot of a page a COW copy or swap-out shared, no longer written;
//   - a digest: a page of a snapshot of a real machine, without bytes: a 128-bit digest, the
//     kernel's checksum and the page's memcmp rank among the snapshot's contents.
// Content 0 is the zero page's content (every byte zero). Every value derived from the bytes
// (calc_checksum, zero-ness, the first word, memcmp order) is computed once per content and
// cached with it. Frames that hold bytes of their own (pages written byte by byte, page tables)
// keep them in a private slot, also here, with the same caches per slot.

import { BUG, PAGE_SIZE } from '@mmsim/core';
import { compareBytes, copyBytes } from './bytes.ts';
import { RangeMin } from './range_min.ts';
import { HashedMemory, xxh64Low32 } from './xxh64.ts';

/** The content of an all-zero page. */
export const ZERO_CONTENT = 0;

/** Content kinds. */
const K_FREE = 0;
const K_BYTE = 1;
const K_IDS = 2;
const K_BYTES = 3;
const K_DIGEST = 4;

/** Cache bits of a content or a private slot (Contents.cflags, Contents.slotFlags). A content's
 * first word is known from its creation (C_FIRST_WORD is a private slot's bit only). */
const C_CSUM = 1;
const C_ZERO_VALID = 2;
const C_ZERO = 4;
const C_FIRST_WORD = 8;
/** A content found by lookup (patterns, interned pages, digests); frozen pages are not. */
const C_INDEXED = 16;
/** What a frozen page keeps of its slot's cached values (its first word is kept apart). */
const C_CACHES = C_CSUM | C_ZERO_VALID | C_ZERO;

/**
 * Slot = arena << ARENA_SHIFT | page index in the arena. Arena k is a fixed-size WebAssembly
 * memory (never grown, so views of it stay valid) of ARENA0_PAGES << k pages, at most
 * ARENA_MAX_PAGES: 16 MiB, 32 MiB, ... 1 GiB, 1 GiB, ... so a small machine reserves little and a
 * large one needs few arenas.
 */
export const ARENA_SHIFT = 18;
const ARENA_MAX_PAGES = 1 << ARENA_SHIFT;
export const ARENA_MASK = ARENA_MAX_PAGES - 1;
const ARENA0_SHIFT = 12;
const ARENA0_PAGES = 1 << ARENA0_SHIFT;
export const WORDS_PER_PAGE = PAGE_SIZE / 4;
/** Words memcmp compares itself before handing equal-so-far pages to a native compare (pages
 * that differ mostly differ early, and the native call costs more than a few loads); also the
 * most words it searches itself for the first that differs once native compares have narrowed
 * it down. */
const MEMCMP_PREFIX_WORDS = 16;
/**
 * sizeof(unsigned long): lib/string.c memcmp() (6.18; x86-64 has no __HAVE_ARCH_MEMCMP and
 * selects CONFIG_HAVE_EFFICIENT_UNALIGNED_ACCESS) compares words of this size while they are
 * equal, then the bytes of the first word that differs: it reads each page up to and including
 * the word of the first differing byte, the whole page when the pages are equal.
 */
const MEMCMP_WORD_BYTES = 8;

/** The bytes memcmp() reads of each of two pages whose first differing byte is at `prefix`
 * (PAGE_SIZE: equal pages). The bytes of the differing word it then compares one by one are not
 * counted again. */
export function memcmpBytesRead(prefix: number): number {
  return prefix >= PAGE_SIZE ? PAGE_SIZE : (Math.floor(prefix / MEMCMP_WORD_BYTES) + 1) * MEMCMP_WORD_BYTES;
}

/** memcmpBytesRead() for pages whose first differing 32-bit word is word `i` (little-endian
 * words: the differing byte lies in the same 8-byte word as word i). */
function bytesReadToWord(i: number): number {
  return ((i >>> 1) + 1) * MEMCMP_WORD_BYTES;
}

/** A digest content's leading zero bytes when the snapshot did not say: memcmp() against the
 * zero page is counted as reading the whole page. */
export const DIGEST_PREFIX_UNKNOWN = PAGE_SIZE;
/** Bytes of a 128-bit digest. */
export const DIGEST_BYTES = 16;
const DIGEST_WORDS = DIGEST_BYTES / 4;
const INITIAL_CONTENTS = 1024;
const INITIAL_INDEX = 2048;

// The fill patterns' words (docs/scenario-format.md "Fill patterns"; native/oracle.c fill_page()).
const FILL_GOLDEN = 0x9e3779b1;
const FILL_MIX = 0x85ebca77;
/** Byte replicated into the four bytes of a word. */
const BYTE_TO_WORD = 0x01010101;

/** MurmurHash3's 32-bit finalizer; returns an unsigned 32-bit value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Word `j` of the `ids` fill page with seed `seed` and content id `c` (little-endian). */
export function idsWord(seed: number, c: number, j: number): number {
  return fmix32((seed ^ Math.imul((c + 1) >>> 0, FILL_GOLDEN) ^ Math.imul(j + 1, FILL_MIX)) >>> 0);
}

/** memcmp()'s sign for two differing little-endian words: their lowest differing byte decides. */
function byte_diff(x: number, y: number): number {
  const d = x ^ y;
  const shift = (31 - Math.clz32(d & -d)) & ~7;
  return ((x >>> shift) & 0xff) - ((y >>> shift) & 0xff);
}

/** The little-endian 32-bit word at b[off..off+4). */
function wordAt(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** A 32-bit mix of two numbers for the lookup index. */
function mix2(a: number, b: number): number {
  return fmix32((Math.imul(a, FILL_GOLDEN) ^ b) >>> 0);
}

const ZERO_BUF = new Uint8Array(PAGE_SIZE);

/** calc_checksum() of an all-zero page (mm/ksm.c zero_checksum). */
export const ZERO_CHECKSUM: number = xxh64Low32(ZERO_BUF);

/**
 * The contents of one machine, and the byte slots (private pages, page tables, interned pages).
 * Content ids are small positive integers (0 is ZERO_CONTENT); a content lives while references
 * to it (frames, swap slots) are held.
 */
export class Contents {
  // ---- byte slots ----------------------------------------------------------------------------
  /** The arenas, and their byte and word views (indexed by slot >>> ARENA_SHIFT). */
  readonly arenas: HashedMemory[] = [];
  readonly arenaBytes: Uint8Array[] = [];
  readonly arenaWords: Uint32Array[] = [];
  private freeSlots: Int32Array = new Int32Array(1024);
  private nrFreeSlots = 0;
  /** The newest arena: its pages, and how many of them were handed out. */
  private arenaPages = 0;
  private arenaUsed = 0;
  /** Per slot: cache bits, calc_checksum(), first word. */
  private slotFlags: Uint8Array = new Uint8Array(0);
  private slotChecksum: Uint32Array = new Uint32Array(0);
  private slotFirstWord: Uint32Array = new Uint32Array(0);

  // ---- the content table (struct of arrays, indexed by content id) ---------------------------
  private kind: Uint8Array = new Uint8Array(INITIAL_CONTENTS);
  private cflags: Uint8Array = new Uint8Array(INITIAL_CONTENTS);
  /** Byte value (K_BYTE), seed (K_IDS), slot (K_BYTES); free-list link of a free id. */
  private a: Uint32Array = new Uint32Array(INITIAL_CONTENTS);
  /** The ids content id (K_IDS). */
  private b: Uint32Array = new Uint32Array(INITIAL_CONTENTS);
  private refs: Int32Array = new Int32Array(INITIAL_CONTENTS);
  private checksum: Uint32Array = new Uint32Array(INITIAL_CONTENTS);
  /** The first 32-bit word (little-endian) of every content but a digest: memcmp of differing
   * pages is mostly decided by it without reading either page. */
  private firstWord: Uint32Array = new Uint32Array(INITIAL_CONTENTS);
  /** Digests (K_DIGEST only; allocated with the first): 4 words per content, the rank, and the
   * count of leading zero bytes (DIGEST_PREFIX_UNKNOWN when the snapshot did not say). */
  private digest: Uint32Array | null = null;
  private rank: Uint32Array | null = null;
  private zeroPrefix: Uint16Array | null = null;
  /** The common prefix (bytes) of the digest contents of ranks r and r + 1, as a range minimum:
   * the common prefix of any two is the least over the neighbours between them. Null when the
   * snapshot did not say: then a compare of digests reads whole pages. */
  private rankPrefix: RangeMin | null = null;
  /** The snapshot the digests held come from (useDigestSpace()). */
  private digestSpace = '';
  /** Ids handed out (one past the highest), free ids (a list through `a`), live contents. */
  private nextId = 1;
  private freeId = 0;
  /** Contents alive (ZERO_CONTENT not counted), digests among them. */
  nrContents = 0;
  private nrDigests = 0;
  /** What the last compare() (or a compareFirstWord() that decided) read of each page, as
   * memcmpBytesRead() counts it: memcmp_pages() adds it to Counters.bytesCompared. */
  memcmpBytes = 0;
  /** The lookup index: open addressing over content ids (0 = empty), linear probing. */
  private index: Int32Array = new Int32Array(INITIAL_INDEX);
  private nrIndexed = 0;

  /** One page of WebAssembly memory where bytes held elsewhere (patterns) are hashed; and two
   * pages where pattern bytes are generated for comparison. */
  private readonly scratch = new HashedMemory(65536);
  private readonly genA = new Uint32Array(WORDS_PER_PAGE);
  private readonly genB = new Uint32Array(WORDS_PER_PAGE);
  private readonly genABytes = new Uint8Array(this.genA.buffer);
  private readonly genBBytes = new Uint8Array(this.genB.buffer);
  private readonly zeroWords = new Uint32Array(WORDS_PER_PAGE);

  // ---- slots -----------------------------------------------------------------------------------

  /** A zeroed slot with no cached values. */
  allocSlot(): number {
    let s: number;
    if (this.nrFreeSlots > 0) {
      s = this.freeSlots[--this.nrFreeSlots];
      const w = (s & ARENA_MASK) * WORDS_PER_PAGE;
      this.arenaWords[s >>> ARENA_SHIFT].fill(0, w, w + WORDS_PER_PAGE);
    } else {
      if (this.arenaUsed === this.arenaPages) this.addArena();
      s = ((this.arenas.length - 1) << ARENA_SHIFT) | this.arenaUsed++; // fresh memory is zeroed
      const i = this.slotIndex(s);
      if (i >= this.slotFlags.length) this.growSlotCaches(i + 1);
    }
    this.slotFlags[this.slotIndex(s)] = 0;
    return s;
  }

  /** Dense index of a slot (arenas are consecutive in slot-index space). */
  private slotIndex(s: number): number {
    const k = s >>> ARENA_SHIFT;
    // Arena k starts after arenas 0..k-1: ARENA0_PAGES * (2^k - 1) while they double.
    const doubling = ARENA_SHIFT - ARENA0_SHIFT;
    const start =
      k <= doubling
        ? ARENA0_PAGES * (2 ** k - 1)
        : ARENA0_PAGES * (2 ** doubling - 1) + (k - doubling) * ARENA_MAX_PAGES;
    return start + (s & ARENA_MASK);
  }

  private growSlotCaches(min: number): void {
    let n = Math.max(ARENA0_PAGES, this.slotFlags.length);
    while (n < min) n *= 2;
    const f = new Uint8Array(n);
    f.set(this.slotFlags);
    this.slotFlags = f;
    const c = new Uint32Array(n);
    c.set(this.slotChecksum);
    this.slotChecksum = c;
    const w = new Uint32Array(n);
    w.set(this.slotFirstWord);
    this.slotFirstWord = w;
  }

  private addArena(): void {
    const k = this.arenas.length;
    this.arenaPages = k < ARENA_SHIFT - ARENA0_SHIFT ? ARENA0_PAGES << k : ARENA_MAX_PAGES;
    const mem = new HashedMemory(this.arenaPages * PAGE_SIZE);
    this.arenas.push(mem);
    this.arenaBytes.push(mem.bytes);
    this.arenaWords.push(mem.words);
    this.arenaUsed = 0;
  }

  freeSlot(s: number): void {
    if (this.nrFreeSlots === this.freeSlots.length) {
      const n = new Int32Array(this.freeSlots.length * 2);
      n.set(this.freeSlots);
      this.freeSlots = n;
    }
    this.freeSlots[this.nrFreeSlots++] = s;
  }

  /** Slots in use (private pages, page tables, interned and frozen pages). */
  get slotsInUse(): number {
    return this.contentBytes / PAGE_SIZE - this.nrFreeSlots;
  }

  /** Bytes of slot storage ever handed out (freed slots are pooled, never returned to the OS). */
  get contentBytes(): number {
    let pages = 0;
    for (let k = 0; k < this.arenas.length - 1; k++) pages += this.arenaBytes[k].length / PAGE_SIZE;
    pages += this.arenaUsed;
    return pages * PAGE_SIZE;
  }

  /** A slot's bytes changed: drop its cached values. */
  slotWritten(s: number): void {
    this.slotFlags[this.slotIndex(s)] = 0;
  }

  slotByteOffset(s: number): number {
    return (s & ARENA_MASK) * PAGE_SIZE;
  }

  slotBytes(s: number): Uint8Array {
    return this.arenaBytes[s >>> ARENA_SHIFT];
  }

  // ---- contents: creation and references ------------------------------------------------------

  private newId(kind: number): number {
    let id = this.freeId;
    if (id !== 0) this.freeId = this.a[id];
    else {
      id = this.nextId++;
      if (id >= this.kind.length) this.growContents(id + 1);
    }
    this.kind[id] = kind;
    this.cflags[id] = 0;
    this.a[id] = 0;
    this.b[id] = 0;
    this.refs[id] = 0;
    this.nrContents++;
    return id;
  }

  private growContents(min: number): void {
    let n = this.kind.length;
    while (n < min) n *= 2;
    const g8 = (x: Uint8Array): Uint8Array => {
      const y = new Uint8Array(n);
      y.set(x);
      return y;
    };
    const g32 = (x: Uint32Array): Uint32Array => {
      const y = new Uint32Array(n);
      y.set(x);
      return y;
    };
    this.kind = g8(this.kind);
    this.cflags = g8(this.cflags);
    this.a = g32(this.a);
    this.b = g32(this.b);
    const r = new Int32Array(n);
    r.set(this.refs);
    this.refs = r;
    this.checksum = g32(this.checksum);
    this.firstWord = g32(this.firstWord);
    if (this.digest !== null && this.rank !== null) this.growDigests(n);
  }

  private growDigests(n: number): void {
    const d = new Uint32Array(n * DIGEST_WORDS);
    if (this.digest !== null) d.set(this.digest);
    this.digest = d;
    const r = new Uint32Array(n);
    if (this.rank !== null) r.set(this.rank);
    this.rank = r;
    const z = new Uint16Array(n);
    if (this.zeroPrefix !== null) z.set(this.zeroPrefix);
    this.zeroPrefix = z;
  }

  /** Take a reference to content `id` (ZERO_CONTENT needs none). */
  get(id: number): void {
    if (id !== ZERO_CONTENT) this.refs[id]++;
  }

  /** Drop a reference; the last one frees the content (and an interned page's slot). */
  put(id: number): void {
    if (id === ZERO_CONTENT) return;
    const r = --this.refs[id];
    if (r > 0) return;
    if (r < 0 || this.kind[id] === K_FREE) BUG(`content ${id}: reference underflow`);
    this.release(id, true);
  }

  /** End content `id`; `withSlot`: an interned or frozen page's slot is freed with it. */
  private release(id: number, withSlot: boolean): void {
    if ((this.cflags[id] & C_INDEXED) !== 0) this.unindex(id);
    if (withSlot && this.kind[id] === K_BYTES) this.freeSlot(this.a[id]);
    if (this.kind[id] === K_DIGEST) this.nrDigests--;
    this.kind[id] = K_FREE;
    this.a[id] = this.freeId;
    this.freeId = id;
    this.nrContents--;
  }

  /** References held to content `id`. */
  refcount(id: number): number {
    return this.refs[id];
  }

  /** A `byte` fill page: every byte `v` (ZERO_CONTENT for 0). No reference is taken. */
  patternByte(v: number): number {
    if (v === 0) return ZERO_CONTENT;
    const h = mix2(K_BYTE, v);
    for (let i = h & (this.index.length - 1); ; i = (i + 1) & (this.index.length - 1)) {
      const id = this.index[i];
      if (id === 0) break;
      if (this.kind[id] === K_BYTE && this.a[id] === v) return id;
    }
    const id = this.newId(K_BYTE);
    this.a[id] = v;
    this.firstWord[id] = Math.imul(v, BYTE_TO_WORD) >>> 0;
    this.insert(id);
    return id;
  }

  /** An `ids` (or `unique`) fill page: seed and content id (both 32-bit). No reference is taken. */
  patternIds(seed: number, c: number): number {
    const h = this.hashIds(seed, c);
    for (let i = h & (this.index.length - 1); ; i = (i + 1) & (this.index.length - 1)) {
      const id = this.index[i];
      if (id === 0) break;
      if (this.kind[id] === K_IDS && this.a[id] === seed && this.b[id] === c) return id;
    }
    const id = this.newId(K_IDS);
    this.a[id] = seed;
    this.b[id] = c;
    this.firstWord[id] = idsWord(seed, c, 0);
    this.insert(id);
    return id;
  }

  private hashIds(seed: number, c: number): number {
    return mix2(seed ^ K_IDS, c);
  }

  /**
   * The content of a 4 KiB page of bytes (src[off, off + 4096)): the interned page with the
   * same bytes, or a new one; ZERO_CONTENT for zeros. The kernel's checksum, computed here to
   * find it, is cached with it. No reference is taken.
   */
  intern(src: Uint8Array, off: number): number {
    const sc = this.scratch;
    copyBytes(sc.bytes, 0, src, off, PAGE_SIZE);
    const csum = sc.xxh64Low32(0, PAGE_SIZE);
    if (csum === ZERO_CHECKSUM && compareBytes(sc.bytes, 0, ZERO_BUF, 0, PAGE_SIZE) === 0)
      return ZERO_CONTENT;
    for (let i = csum & (this.index.length - 1); ; i = (i + 1) & (this.index.length - 1)) {
      const id = this.index[i];
      if (id === 0) break;
      if (this.kind[id] === K_BYTES && this.checksum[id] === csum) {
        const s = this.a[id];
        if (compareBytes(this.slotBytes(s), this.slotByteOffset(s), sc.bytes, 0, PAGE_SIZE) === 0) return id;
      }
    }
    const s = this.allocSlot();
    copyBytes(this.slotBytes(s), this.slotByteOffset(s), sc.bytes, 0, PAGE_SIZE);
    const id = this.newId(K_BYTES);
    this.a[id] = s;
    this.checksum[id] = csum;
    this.firstWord[id] = sc.words[0];
    this.cflags[id] = C_CSUM | C_ZERO_VALID;
    this.insert(id);
    return id;
  }

  /**
   * A page of a snapshot, without its bytes: `digest` (16 bytes) names it, `checksum` is the
   * kernel's calc_checksum() of its bytes, `rank` its memcmp order among the snapshot's
   * contents (memcmp(x, y) has the sign of rank(x) - rank(y); equal ranks only for equal
   * bytes). Equal digests give the same content. A digest page is never all zero (snapshot the
   * zero page as ZERO_CONTENT), its bytes cannot be read or written (see PhysMem.hasBytes()),
   * and it compares only with other digests and the zero page. `zeroPrefix`: its leading zero
   * bytes (what memcmp() reads against the zero page), DIGEST_PREFIX_UNKNOWN when not known. No
   * reference is taken.
   */
  internDigest(
    digest: Uint8Array,
    checksum: number,
    rank: number,
    zeroPrefix: number = DIGEST_PREFIX_UNKNOWN,
  ): number {
    if (digest.length !== DIGEST_BYTES)
      BUG(`internDigest: a digest is ${DIGEST_BYTES} bytes, not ${digest.length}`);
    if (this.digest === null) this.growDigests(this.kind.length);
    const d = this.digest as Uint32Array;
    const h = mix2(K_DIGEST, wordAt(digest, 0));
    for (let i = h & (this.index.length - 1); ; i = (i + 1) & (this.index.length - 1)) {
      const id = this.index[i];
      if (id === 0) break;
      if (this.kind[id] === K_DIGEST && this.digestEquals(id, digest)) return id;
    }
    const id = this.newId(K_DIGEST);
    this.nrDigests++;
    for (let w = 0; w < DIGEST_WORDS; w++) d[id * DIGEST_WORDS + w] = wordAt(digest, w * 4);
    (this.rank as Uint32Array)[id] = rank;
    (this.zeroPrefix as Uint16Array)[id] = zeroPrefix;
    this.checksum[id] = checksum >>> 0;
    this.cflags[id] = C_CSUM | C_ZERO_VALID;
    this.insert(id);
    return id;
  }

  /**
   * The common prefixes of the digests' rank neighbours: prefix[r] is the length (bytes) of the
   * longest common prefix of the contents of ranks r and r + 1 (the snapshot's CONTENT_PREFIX),
   * so that a compare of two digests counts the bytes memcmp() reads. Without it (an older
   * snapshot) such a compare counts whole pages.
   */
  setDigestRankPrefixes(prefix: Uint16Array): void {
    this.rankPrefix = new RangeMin(prefix);
  }

  /**
   * Digests compare by their snapshot's memcmp ranks, so the digests held at one time must all come
   * from one snapshot, named by `space`: true when they do (or none are held), and `space` is
   * then the one in use; false for a second snapshot while the first one's digests are held.
   */
  useDigestSpace(space: string): boolean {
    if (this.nrDigests !== 0 && this.digestSpace !== space) return false;
    this.digestSpace = space;
    return true;
  }

  private digestEquals(id: number, digest: Uint8Array): boolean {
    const d = this.digest as Uint32Array;
    for (let w = 0; w < DIGEST_WORDS; w++)
      if (d[id * DIGEST_WORDS + w] !== wordAt(digest, w * 4)) return false;
    return true;
  }

  /** The 16 bytes of digest content `id`. */
  digestOf(id: number): Uint8Array {
    if (this.kind[id] !== K_DIGEST || this.digest === null) BUG(`content ${id} is not a digest`);
    return new Uint8Array(this.digest.buffer, id * DIGEST_BYTES, DIGEST_BYTES).slice();
  }

  /** True for a digest content (no bytes held). */
  isDigest(id: number): boolean {
    return this.kind[id] === K_DIGEST;
  }

  /** The content of a private slot that is no longer written (a COW copy or swap-out shares it):
   * the slot and its cached values move to a new, unindexed content. No reference is taken. */
  freeze(s: number): number {
    const id = this.newId(K_BYTES);
    const si = this.slotIndex(s);
    this.a[id] = s;
    this.firstWord[id] = this.slotFirstWordOf(s);
    this.cflags[id] = this.slotFlags[si] & C_CACHES;
    this.checksum[id] = this.slotChecksum[si];
    return id;
  }

  /**
   * A private slot holding content `id`'s bytes, for a writer, in exchange for the caller's
   * reference: the content's own slot when that was the only reference (the content ends), else
   * a new slot with a copy of the bytes. ZERO_CONTENT: a zeroed slot. Digests hold no bytes: a
   * KernelBug (callers refuse first).
   */
  materialise(id: number): number {
    if (id === ZERO_CONTENT) return this.allocSlot();
    const k = this.kind[id];
    if (k === K_DIGEST) BUG(`content ${id} is a digest: it has no bytes to write`);
    if (k === K_BYTES && this.refs[id] === 1) {
      const s = this.a[id];
      this.slotWritten(s); // the caller writes it next
      this.refs[id] = 0;
      this.release(id, false); // the slot is the caller's now
      return s;
    }
    const s = this.allocSlot();
    this.copyOut(id, this.slotBytes(s), this.slotByteOffset(s));
    this.put(id);
    return s;
  }

  /** Read `len` bytes of content `id` from `off` into dst[dstOff..]. */
  read(id: number, off: number, dst: Uint8Array, dstOff: number, len: number): void {
    if (id === ZERO_CONTENT) dst.fill(0, dstOff, dstOff + len);
    else if (this.kind[id] === K_BYTES) {
      const s = this.a[id];
      copyBytes(dst, dstOff, this.slotBytes(s), this.slotByteOffset(s) + off, len);
    } else {
      this.copyOut(id, this.genABytes, 0);
      copyBytes(dst, dstOff, this.genABytes, off, len);
    }
  }

  /** Write content `id`'s 4 KiB into dst[off..]. */
  private copyOut(id: number, dst: Uint8Array, off: number): void {
    if (id === ZERO_CONTENT) {
      dst.fill(0, off, off + PAGE_SIZE);
      return;
    }
    switch (this.kind[id]) {
      case K_BYTES:
        copyBytes(dst, off, this.slotBytes(this.a[id]), this.slotByteOffset(this.a[id]), PAGE_SIZE);
        return;
      case K_BYTE:
        dst.fill(this.a[id], off, off + PAGE_SIZE);
        return;
      case K_IDS:
        this.generate(id, this.genA);
        copyBytes(dst, off, this.genABytes, 0, PAGE_SIZE);
        return;
      default:
        BUG(`content ${id} (kind ${this.kind[id]}) has no bytes`);
    }
  }

  /** Fill `out` with the words of pattern `id`. */
  private generate(id: number, out: Uint32Array): void {
    if (this.kind[id] === K_BYTE) {
      out.fill(Math.imul(this.a[id], BYTE_TO_WORD) >>> 0);
      return;
    }
    const base = (this.a[id] ^ Math.imul((this.b[id] + 1) >>> 0, FILL_GOLDEN)) >>> 0;
    for (let j = 0; j < WORDS_PER_PAGE; j++) out[j] = fmix32((base ^ Math.imul(j + 1, FILL_MIX)) >>> 0);
  }

  /** Byte `off` of content `id`. */
  byteOf(id: number, off: number): number {
    if (id === ZERO_CONTENT) return 0;
    switch (this.kind[id]) {
      case K_BYTES:
        return this.slotBytes(this.a[id])[this.slotByteOffset(this.a[id]) + off];
      case K_BYTE:
        return this.a[id];
      case K_IDS:
        return (idsWord(this.a[id], this.b[id], off >>> 2) >>> ((off & 3) * 8)) & 0xff;
      default:
        return BUG(`content ${id} (kind ${this.kind[id]}) has no bytes`);
    }
  }

  // ---- derived values ----------------------------------------------------------------------

  /** calc_checksum() of content `id` (cached with it). */
  checksumOf(id: number): number {
    if (id === ZERO_CONTENT) return ZERO_CHECKSUM;
    if ((this.cflags[id] & C_CSUM) !== 0) return this.checksum[id];
    this.copyOut(id, this.scratch.bytes, 0);
    const c = this.scratch.xxh64Low32(0, PAGE_SIZE);
    this.checksum[id] = c;
    this.cflags[id] |= C_CSUM;
    return c;
  }

  /** calc_checksum() of private slot `s` (cached until the slot is written). */
  slotChecksumOf(s: number): number {
    const si = this.slotIndex(s);
    if ((this.slotFlags[si] & C_CSUM) !== 0) return this.slotChecksum[si];
    const c = this.arenas[s >>> ARENA_SHIFT].xxh64Low32(this.slotByteOffset(s), PAGE_SIZE);
    this.slotChecksum[si] = c;
    this.slotFlags[si] |= C_CSUM;
    return c;
  }

  /** Every byte of content `id` is zero (cached). */
  isZero(id: number): boolean {
    if (id === ZERO_CONTENT) return true;
    const f = this.cflags[id];
    if ((f & C_ZERO_VALID) !== 0) return (f & C_ZERO) !== 0;
    let z: boolean;
    if (this.kind[id] === K_BYTES) {
      const s = this.a[id];
      z = compareBytes(this.slotBytes(s), this.slotByteOffset(s), ZERO_BUF, 0, PAGE_SIZE) === 0;
    } else {
      this.generate(id, this.genA);
      z = compareBytes(this.genABytes, 0, ZERO_BUF, 0, PAGE_SIZE) === 0;
    }
    this.cflags[id] |= C_ZERO_VALID | (z ? C_ZERO : 0);
    return z;
  }

  /** Every byte of private slot `s` is zero (cached until it is written). */
  slotIsZero(s: number): boolean {
    const si = this.slotIndex(s);
    const f = this.slotFlags[si];
    if ((f & C_ZERO_VALID) !== 0) return (f & C_ZERO) !== 0;
    const z = compareBytes(this.slotBytes(s), this.slotByteOffset(s), ZERO_BUF, 0, PAGE_SIZE) === 0;
    this.slotFlags[si] |= C_ZERO_VALID | (z ? C_ZERO : 0);
    return z;
  }

  private slotFirstWordOf(s: number): number {
    const si = this.slotIndex(s);
    if ((this.slotFlags[si] & C_FIRST_WORD) !== 0) return this.slotFirstWord[si];
    const w = this.arenaWords[s >>> ARENA_SHIFT][(s & ARENA_MASK) * WORDS_PER_PAGE];
    this.slotFirstWord[si] = w;
    this.slotFlags[si] |= C_FIRST_WORD;
    return w;
  }

  /** The first 32-bit word (little-endian) of a frame's content reference (as compare() takes),
   * as a signed 32-bit integer (a small integer to V8, never boxed). */
  firstWordOf(x: number): number {
    return (x > 0 ? this.firstWord[x] : x === ZERO_CONTENT ? 0 : this.slotFirstWordOf(~x)) | 0;
  }

  /**
   * memcmp()'s sign as far as the first words tell it: that of compare(x, y) for a page y whose
   * first word is fy (firstWordOf()) when they differ, 0 when they cannot tell (equal first words,
   * or digests, which compare by rank): then compare() decides.
   */
  compareFirstWord(x: number, fy: number): number {
    if (this.nrDigests !== 0) return 0;
    const fx = this.firstWordOf(x);
    if (fx === fy) return 0;
    this.memcmpBytes = MEMCMP_WORD_BYTES;
    return byte_diff(fx, fy);
  }

  /**
   * memcmp() of two frames' contents, each given as a frame's content reference (see
   * PhysMem.content: ZERO_CONTENT, a content id > 0, or ~slot for a private slot): < 0, 0, > 0.
   * Sets memcmpBytes to what memcmp() read of each page.
   */
  compare(x: number, y: number): number {
    // the same content (or the same private slot): equal without reading it; memcmp() reads both
    this.memcmpBytes = PAGE_SIZE;
    if (x === y) return 0;
    if (this.nrDigests !== 0) {
      const dx = x > 0 && this.kind[x] === K_DIGEST;
      const dy = y > 0 && this.kind[y] === K_DIGEST;
      if (dx || dy) return this.compareDigests(x, y, dx, dy);
    }
    const fx = this.firstWordOf(x);
    const fy = this.firstWordOf(y);
    if (fx !== fy) {
      this.memcmpBytes = MEMCMP_WORD_BYTES;
      return byte_diff(fx, fy);
    }
    if (x === ZERO_CONTENT && y > 0 && this.isZero(y)) return 0;
    if (y === ZERO_CONTENT && x > 0 && this.isZero(x)) return 0;
    // Both pages' words: in their slots, generated (patterns), or the zero page's.
    let wx: Uint32Array = this.zeroWords;
    let ox = 0;
    let bx: Uint8Array = ZERO_BUF;
    let s = x < 0 ? ~x : x > 0 && this.kind[x] === K_BYTES ? this.a[x] : -1;
    if (s >= 0) {
      wx = this.arenaWords[s >>> ARENA_SHIFT];
      bx = this.arenaBytes[s >>> ARENA_SHIFT];
      ox = (s & ARENA_MASK) * WORDS_PER_PAGE;
    } else if (x > 0) {
      this.generate(x, this.genA);
      wx = this.genA;
      bx = this.genABytes;
    }
    let wy: Uint32Array = this.zeroWords;
    let oy = 0;
    let by: Uint8Array = ZERO_BUF;
    s = y < 0 ? ~y : y > 0 && this.kind[y] === K_BYTES ? this.a[y] : -1;
    if (s >= 0) {
      wy = this.arenaWords[s >>> ARENA_SHIFT];
      by = this.arenaBytes[s >>> ARENA_SHIFT];
      oy = (s & ARENA_MASK) * WORDS_PER_PAGE;
    } else if (y > 0) {
      this.generate(y, this.genB);
      wy = this.genB;
      by = this.genBBytes;
    }
    // The first words here (pages mostly differ early); the rest by one native compare, and where
    // it differs, halved by native compares down to the words searched here for the first that
    // differs.
    for (let i = 1; i < MEMCMP_PREFIX_WORDS; i++) {
      const a = wx[ox + i];
      const b = wy[oy + i];
      if (a !== b) {
        this.memcmpBytes = bytesReadToWord(i);
        return byte_diff(a, b);
      }
    }
    let from = MEMCMP_PREFIX_WORDS;
    let to = WORDS_PER_PAGE;
    if (compareBytes(bx, (ox + from) * 4, by, (oy + from) * 4, (to - from) * 4) === 0) return 0;
    while (to - from > MEMCMP_PREFIX_WORDS) {
      const mid = (from + to) >>> 1;
      if (compareBytes(bx, (ox + from) * 4, by, (oy + from) * 4, (mid - from) * 4) !== 0) to = mid;
      else from = mid;
    }
    for (let i = from; ; i++) {
      const a = wx[ox + i];
      const b = wy[oy + i];
      if (a !== b) {
        this.memcmpBytes = bytesReadToWord(i);
        return byte_diff(a, b);
      }
    }
  }

  /** memcmp() where a digest takes part: by rank between digests; a digest page is above the
   * zero page (it is not all zero); with bytes held there is nothing to compare against. What it
   * read: the common prefix of the ranks between (or the digest's leading zeros), when known. */
  private compareDigests(x: number, y: number, dx: boolean, dy: boolean): number {
    const rank = this.rank as Uint32Array;
    if (dx && dy) {
      const rx = rank[x];
      const ry = rank[y];
      if (this.rankPrefix !== null)
        this.memcmpBytes = memcmpBytesRead(
          rx < ry ? this.rankPrefix.min(rx, ry) : this.rankPrefix.min(ry, rx),
        );
      return Math.sign(rx - ry);
    }
    const z = this.zeroPrefix as Uint16Array;
    if (x === ZERO_CONTENT) {
      this.memcmpBytes = memcmpBytesRead(z[y]);
      return -1;
    }
    if (y === ZERO_CONTENT) {
      this.memcmpBytes = memcmpBytesRead(z[x]);
      return 1;
    }
    return BUG(`memcmp of a digest page (no bytes) with a page of bytes: contents ${x}, ${y}`);
  }

  // ---- the lookup index -----------------------------------------------------------------------

  private home(id: number): number {
    switch (this.kind[id]) {
      case K_BYTE:
        return mix2(K_BYTE, this.a[id]);
      case K_IDS:
        return this.hashIds(this.a[id], this.b[id]);
      case K_BYTES:
        return this.checksum[id];
      default: {
        const d = this.digest as Uint32Array;
        return mix2(K_DIGEST, d[id * DIGEST_WORDS]);
      }
    }
  }

  private insert(id: number): void {
    if ((this.nrIndexed + 1) * 2 > this.index.length) this.rehash(this.index.length * 2);
    const mask = this.index.length - 1;
    let i = this.home(id) & mask;
    while (this.index[i] !== 0) i = (i + 1) & mask;
    this.index[i] = id;
    this.nrIndexed++;
    this.cflags[id] |= C_INDEXED;
  }

  private rehash(size: number): void {
    const old = this.index;
    this.index = new Int32Array(size);
    const mask = size - 1;
    for (let k = 0; k < old.length; k++) {
      const id = old[k];
      if (id === 0) continue;
      let i = this.home(id) & mask;
      while (this.index[i] !== 0) i = (i + 1) & mask;
      this.index[i] = id;
    }
  }

  /** Remove `id` from the index (backward-shift deletion keeps every probe chain whole). */
  private unindex(id: number): void {
    const mask = this.index.length - 1;
    let i = this.home(id) & mask;
    while (this.index[i] !== id) {
      if (this.index[i] === 0) BUG(`content ${id} is not in the index`);
      i = (i + 1) & mask;
    }
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const e = this.index[j];
      if (e === 0) break;
      const k = this.home(e) & mask;
      // e may move to the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      this.index[i] = e;
      i = j;
    }
    this.index[i] = 0;
    this.nrIndexed--;
    this.cflags[id] &= ~C_INDEXED;
  }
}
