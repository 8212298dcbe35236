// Physical memory: struct page as struct-of-arrays indexed by PFN (include/linux/mm_types.h,
// page-flags.h), an O(1) allocator for order-0 pages and PMD-order folios (mm/page_alloc.c's
// role), and each frame's content by reference (content.ts: patterns, interned and private byte
// pages, digests), with what KSM reads of it (calc_checksum, memcmp_pages, zero-ness) computed
// once per content. PFN 0 is never handed out.

import { BUG, type Counters, HPAGE_PMD_NR, HPAGE_PMD_ORDER, PAGE_SIZE } from '@mmsim/core';
import { ARENA_MASK, ARENA_SHIFT, Contents, WORDS_PER_PAGE, ZERO_CONTENT } from './content.ts';

// ---- page flags (bits of PhysMem.flags) — the kernel's enum pageflags names --------------
export const PG_locked = 1 << 0;
export const PG_referenced = 1 << 1;
export const PG_uptodate = 1 << 2;
export const PG_dirty = 1 << 3;
export const PG_lru = 1 << 4;
export const PG_head = 1 << 5;
export const PG_reserved = 1 << 6;
export const PG_swapcache = 1 << 7;
export const PG_anon_exclusive = 1 << 8;
export const PG_swapbacked = 1 << 9;
export const PG_mlocked = 1 << 10;
/** PageTable() (a page_type in the kernel). */
export const PG_table = 1 << 11;
/** A tail page of a compound page (the kernel encodes this in compound_head's low bit). */
export const PG_tail = 1 << 12;
/** On a free list (PageBuddy() in the kernel). */
export const PG_buddy = 1 << 13;
/** The page-table lock of this page-table page is held (split PTL, include/linux/mm.h). */
export const PG_ptl = 1 << 14;
/** On the active LRU list (folio_activate() once its batch is drained). */
export const PG_active = 1 << 15;
/** folio_mark_lazyfree(): an anon folio MADV_FREE cleaned, which reclaim may discard. The kernel
 * clears PG_swapbacked instead; mmu does not maintain that bit for mapped folios, so it keeps
 * its inverse. */
export const PG_lazyfree = 1 << 19;
/** A page-cache folio of a regular file (filemap.ts). The kernel tells these from shmem folios by
 * the absence of PG_swapbacked; mmu does not maintain that bit (see PG_lazyfree), so it marks
 * them instead. */
export const PG_filecache = 1 << 20;
/** PG_reclaim, which is PG_readahead too in the kernel (one bit, include/linux/page-flags.h):
 * reclaim set it on a dirty page-cache folio it could not write back; fault-around then skips the
 * folio (next_uptodate_folio()'s folio_test_readahead()) until a fault on it clears it
 * (page_cache_async_ra()). */
export const PG_reclaim = 1 << 21;

// page->mapping low bits (include/linux/page-flags.h).
export const PAGE_MAPPING_ANON = 0x1;
export const PAGE_MAPPING_MOVABLE = 0x2;
export const PAGE_MAPPING_KSM = PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE;
export const PAGE_MAPPING_FLAGS = PAGE_MAPPING_ANON | PAGE_MAPPING_MOVABLE;

const NONE = 0;

// CONFIG_MM_ID (include/linux/mm_types.h, 6.18): a large folio tracks the mms that map it in two
// slots. mm_id_t is 31 bits; the top bit of the second slot's id word is FOLIO_MM_IDS_SHARED_BIT
// (bit 63 of the kernel's unsigned long _mm_ids, which overlays _mm_id[2]).
/** MM_ID_DUMMY: a free slot. */
export const MM_ID_DUMMY = 0;
/** MM_ID_MIN: the first id mm_id_alloc() hands out. */
export const MM_ID_MIN = 1;
/** MM_ID_MASK: the id bits of a slot's word. */
export const MM_ID_MASK = 0x7fffffff;
/** FOLIO_MM_IDS_SHARED_BIT, as it sits in the second slot's id word. */
export const FOLIO_MM_IDS_SHARED_BIT = 0x80000000 | 0;

// Where a large folio's folio-level mapcount fields live: like the kernel, which keeps them in
// the first tail page's struct page, in fields a tail page does not use (entireMapcount and
// pincount are head-only), so struct page does not grow. Values are biased by +1 as `mapcount`
// is (0 = the kernel's -1: no mappings, a free slot).
/** folio + LARGE_MAPCOUNT_PAGE's entireMapcount: _large_mapcount + 1. */
const LARGE_MAPCOUNT_PAGE = 1;
/** folio + i's pincount: _mm_id[i] (slot 1's word also holds FOLIO_MM_IDS_SHARED_BIT). */
const MM_ID_PAGE = 1;
/** folio + MM_ID_MAPCOUNT_PAGE + i's entireMapcount: _mm_id_mapcount[i] + 1. */
const MM_ID_MAPCOUNT_PAGE = 2;

/** Bytes of metadata per frame in the arrays below, the content reference included
 * (docs/design.md §3: at most 48). */
export const STRUCT_PAGE_BYTES = 4 + 4 + 4 + 4 + 8 + 4 + 1 + 4 + 4 + 4 + 4 + 1;

/** Slots of the table of recently compared tree pages (PhysMem.noteCompared()): far more than
 * a batch of ksmd at the default knobs compares, fewer than a full scan of a large machine in
 * one batch does, where a real cache also forgets. */
const COMPARED_SLOTS = 1 << 16;

/**
 * All physical frames of a simulated machine. Every per-frame array is indexed by PFN; a tail
 * page's folio-level fields live at its head, as in the kernel.
 */
export class PhysMem {
  /** Frames this machine has (including the never-used PFN 0). */
  readonly nrFrames: number;
  private readonly counters: Counters;

  // struct page, one entry per PFN.
  flags: Uint32Array;
  /** _refcount (folio-level: read at the head). */
  refcount: Int32Array;
  /** _mapcount + 1: PTE mappings of this page. */
  mapcount: Int32Array;
  /** page->mapping: handle << 2 | PAGE_MAPPING_* bits (0 = NULL). */
  mapping: Int32Array;
  /** page->index (the linear page index of the mapping). */
  index: Float64Array;
  /** compound_head: the head PFN of a tail page; free-list link while on a free list. */
  head: Int32Array;
  /** folio order (heads only). */
  order: Uint8Array;
  /** _entire_mapcount: PMD mappings of a large folio (heads only). */
  entireMapcount: Int32Array;
  /** _pincount: FOLL_PIN pins of the folio (heads). */
  pincount: Int32Array;
  /** The frame's content: ZERO_CONTENT (0), a shared content id (> 0), or ~slot (< 0) for bytes
   * of its own (a page written byte by byte, a page table). */
  content: Int32Array;
  /** page->private: the swap entry offset of a swap-cache page (a slot of the one swap device:
   * 32 bits hold 16 TiB of swap). */
  private: Uint32Array;
  /** NUMA node of the frame (page_to_nid()). */
  nid: Uint8Array;
  /** Simulated NUMA nodes. */
  nrNodes = 1;
  /** The node new allocations come from: the allocating task's policy (set_mempolicy(MPOL_BIND)
   * in the simulator's terms), set by the fault path before it allocates. */
  allocNid = 0;

  /** Frames handed out so far from the never-used range. */
  private highWater = 1;
  private free0 = NONE;
  private free9 = NONE;
  /** Frames currently allocated. */
  nrUsed = 0;
  /** Page-table pages currently allocated (NR_PAGETABLE). */
  nrPageTables = 0;
  /** Simulator only: KSM pages freed so far (their page->mapping cleared). KSM's dup memo
   * (packages/ksm README, "A chain's full dups") is valid only while this does not move: a freed
   * KSM page makes its stable node stale. */
  nrKsmPagesFreed = 0;
  /** Simulator only, for ksmd's cost model: moves when ksmd sleeps (Ksm.ksm_do_scan() starts a
   * batch), after which nothing a batch touched is taken to be in the CPU cache any more. */
  cacheEpoch = 1;
  /** Simulator only: the tree pages memcmp_pages() read in the current cache epoch
   * (Counters.pagesComparedCold), direct-mapped by PFN: allocated at the first compare. */
  private comparedPfn: Int32Array | null = null;
  private comparedEpoch: Uint32Array | null = null;
  /** Allocation failure injection: called before each allocation; true fails it. */
  failAlloc: ((order: number, kind: 'page' | 'table') => boolean) | null = null;

  /** The contents frames refer to, and the byte slots. */
  readonly contents: Contents = new Contents();
  /** The arenas' word views (contents.arenaWords), for the page-table accessors' one load. */
  private readonly arenaWords: Uint32Array[] = this.contents.arenaWords;

  /** The shared zero page (ZERO_PAGE(0)) and the huge zero folio, allocated lazily. */
  readonly zeroPfn: number;
  hugeZeroPfn = 0;

  constructor(nrFrames: number, counters: Counters) {
    if (nrFrames < HPAGE_PMD_NR * 2) BUG(`PhysMem: ${nrFrames} frames is too small`);
    this.nrFrames = Math.floor(nrFrames);
    this.counters = counters;
    // Sized for the whole machine at once: the host commits an array's pages only when they are
    // first touched (large zeroed ArrayBuffers are mapped lazily), so a 256 GiB machine reserves
    // address space, not memory, and nothing is ever copied to grow.
    this.flags = new Uint32Array(this.nrFrames);
    this.refcount = new Int32Array(this.nrFrames);
    this.mapcount = new Int32Array(this.nrFrames);
    this.mapping = new Int32Array(this.nrFrames);
    this.index = new Float64Array(this.nrFrames);
    this.head = new Int32Array(this.nrFrames);
    this.order = new Uint8Array(this.nrFrames);
    this.entireMapcount = new Int32Array(this.nrFrames);
    this.pincount = new Int32Array(this.nrFrames);
    this.content = new Int32Array(this.nrFrames);
    this.private = new Uint32Array(this.nrFrames);
    this.nid = new Uint8Array(this.nrFrames);
    const z = this.alloc_pages(0);
    if (z === 0) BUG('no memory for the zero page');
    this.zeroPfn = z;
    this.flags[z] |= PG_reserved;
  }

  // ---- the allocator ---------------------------------------------------------------------

  /** One past the highest PFN ever handed out. */
  get highWaterMark(): number {
    return this.highWater;
  }

  /** Frames not allocated (free lists plus the never-used range). */
  get nrFree(): number {
    return this.nrFrames - 1 - this.nrUsed;
  }

  /** Take `n` never-used frames starting at an `align`-aligned PFN; 0 when memory is exhausted. */
  private takeFresh(n: number, align: number): number {
    let start = this.highWater;
    const r = start % align;
    if (r !== 0) start += align - r;
    if (start + n > this.nrFrames) return 0;
    // Frames skipped for alignment go to the order-0 free list.
    for (let p = this.highWater; p < start; p++) this.pushFree0(p);
    this.highWater = start + n;
    return start;
  }

  private pushFree0(pfn: number): void {
    this.flags[pfn] = PG_buddy;
    this.head[pfn] = this.free0;
    this.free0 = pfn;
  }

  /**
   * alloc_pages(order): an order-0 page or a PMD-order folio, refcount 1, contents zero.
   * Returns 0 (NULL) when no memory is left, as the kernel's allocator returns NULL.
   */
  alloc_pages(order: number): number {
    if (order !== 0 && order !== HPAGE_PMD_ORDER) BUG(`alloc_pages: unsupported order ${order}`);
    if (this.failAlloc?.(order, 'page')) return 0;
    let pfn: number;
    if (order === 0) {
      pfn = this.free0;
      if (pfn !== NONE) {
        this.free0 = this.head[pfn];
      } else {
        pfn = this.free9;
        if (pfn !== NONE) {
          // Break a free PMD-order block into order-0 pages.
          this.free9 = this.head[pfn];
          for (let p = pfn + HPAGE_PMD_NR - 1; p > pfn; p--) this.pushFree0(p);
        } else {
          pfn = this.takeFresh(1, 1);
          if (pfn === 0) return 0;
        }
      }
      this.initPage(pfn);
      this.nrUsed++;
      return pfn;
    }
    pfn = this.free9;
    if (pfn !== NONE) this.free9 = this.head[pfn];
    else {
      pfn = this.takeFresh(HPAGE_PMD_NR, HPAGE_PMD_NR);
      if (pfn === 0) return 0;
    }
    this.initPage(pfn);
    this.flags[pfn] = PG_head;
    this.order[pfn] = order;
    for (let p = pfn + 1; p < pfn + HPAGE_PMD_NR; p++) {
      this.initPage(p);
      this.flags[p] = PG_tail;
      this.head[p] = pfn;
      this.refcount[p] = 0;
    }
    this.nrUsed += HPAGE_PMD_NR;
    return pfn;
  }

  private initPage(pfn: number): void {
    this.nid[pfn] = this.allocNid;
    this.flags[pfn] = 0;
    this.refcount[pfn] = 1;
    this.mapcount[pfn] = 0;
    this.mapping[pfn] = 0;
    this.index[pfn] = 0;
    this.head[pfn] = 0;
    this.order[pfn] = 0;
    this.entireMapcount[pfn] = 0;
    this.pincount[pfn] = 0;
    this.private[pfn] = 0;
    if (this.content[pfn] !== ZERO_CONTENT) this.dropContent(pfn);
  }

  /** Return a folio's frames to the allocator (free_unref_folios()/__free_pages()). */
  private freeFolioFrames(pfn: number): void {
    const order = (this.flags[pfn] & PG_head) !== 0 ? this.order[pfn] : 0;
    const n = order === 0 ? 1 : HPAGE_PMD_NR;
    for (let p = pfn; p < pfn + n; p++) {
      if (this.content[p] !== ZERO_CONTENT) this.dropContent(p);
      if ((this.mapping[p] & PAGE_MAPPING_FLAGS) === PAGE_MAPPING_KSM) this.nrKsmPagesFreed++;
      // free_pages_prepare(): page->mapping is cleared, so stale PFN holders (KSM's stable
      // nodes) see the page is no longer theirs.
      this.mapping[p] = 0;
    }
    this.nrUsed -= n;
    if (order === 0) {
      this.pushFree0(pfn);
    } else {
      for (let p = pfn; p < pfn + n; p++) this.flags[p] = PG_buddy;
      this.head[pfn] = this.free9;
      this.free9 = pfn;
    }
  }

  // ---- folios, references and mapcounts ---------------------------------------------------

  /** page_folio()/compound_head(): the head PFN of the folio containing pfn. */
  folio(pfn: number): number {
    return (this.flags[pfn] & PG_tail) !== 0 ? this.head[pfn] : pfn;
  }

  folio_order(folio: number): number {
    return (this.flags[folio] & PG_head) !== 0 ? this.order[folio] : 0;
  }

  folio_nr_pages(folio: number): number {
    return (this.flags[folio] & PG_head) !== 0 ? 2 ** this.order[folio] : 1;
  }

  folio_test_large(folio: number): boolean {
    return (this.flags[folio] & PG_head) !== 0;
  }

  /** get_page()/folio_get(). */
  get_page(pfn: number): void {
    const f = this.folio(pfn);
    const r = this.refcount[f];
    if (r <= 0) this.pageBug('get_page on a free page', pfn);
    this.refcount[f] = r + 1;
    this.counters.pageGet++;
  }

  /** get_page()'s, folio_put()'s and unlock_page()'s BUG, out of their line: they run several
   * times per page a scan merges, and V8 inlines them only while they are small. */
  private pageBug(what: string, pfn: number): never {
    BUG(`${what} ${pfn}`, () => this.dumpPage(pfn));
  }

  /** folio_ref_add(): take `n` references at once (pins use GUP_PIN_COUNTING_BIAS). */
  folio_ref_add(folio: number, n: number): void {
    this.refcount[folio] += n;
  }

  /** get_page_unless_zero(). */
  get_page_unless_zero(pfn: number): boolean {
    const f = this.folio(pfn);
    if (this.refcount[f] <= 0) return false;
    this.refcount[f]++;
    this.counters.pageGet++;
    return true;
  }

  /** put_page()/folio_put(): drop a reference; the last one frees the folio (__folio_put()). */
  put_page(pfn: number): void {
    const f = this.folio(pfn);
    this.counters.pagePut++;
    const r = this.refcount[f] - 1;
    this.refcount[f] = r;
    if (r <= 0) this.__folio_put(f, pfn, r);
  }

  /** __folio_put(): the last reference is gone, the folio is freed (`r`, the refcount now, is 0:
   * below 0 is a BUG). */
  private __folio_put(f: number, pfn: number, r: number): void {
    if (r < 0) this.pageBug('put_page: refcount underflow on pfn', pfn);
    if ((this.flags[f] & PG_reserved) !== 0) BUG(`freeing reserved page ${f}`);
    if (this.folio_mapcount(f) !== 0) BUG(`freeing mapped folio ${f}`, () => this.dumpPage(f));
    // free_tail_page_prepare() (CONFIG_MM_ID): no mapping may be left accounted to a slot.
    if (
      (this.flags[f] & PG_head) !== 0 &&
      (this.folio_large_mapcount(f) !== 0 ||
        this.mm_id_mapcount(f, 0) !== 0 ||
        this.mm_id_mapcount(f, 1) !== 0)
    )
      BUG(`freeing folio ${f} with a large mapcount or an mm-id slot in use`, () => this.dumpPage(f));
    if ((this.flags[f] & PG_swapcache) !== 0) BUG(`freeing swap-cache folio ${f}`);
    if ((this.flags[f] & PG_table) !== 0) this.nrPageTables--;
    this.freeFolioFrames(f);
  }

  /** folio_ref_count(). */
  folio_ref_count(folio: number): number {
    return this.refcount[folio];
  }

  /** page_count() of the folio. */
  page_count(pfn: number): number {
    return this.folio_ref_count(this.folio(pfn));
  }

  /** page_mapcount(): PTE mappings of this page plus PMD mappings of its folio. */
  page_mapcount(pfn: number): number {
    const f = this.folio(pfn);
    return this.mapcount[pfn] + (f !== pfn || (this.flags[f] & PG_head) !== 0 ? this.entireMapcount[f] : 0);
  }

  /** folio_mapcount(): every mapping of every page of the folio. */
  folio_mapcount(f: number): number {
    return (this.flags[f] & PG_head) === 0 ? this.mapcount[f] : this.large_folio_mapcount(f);
  }

  /** folio_mapcount() of a large folio (out of its line: the order-0 case is most calls', and V8
   * inlines folio_mapcount() only while it is small). */
  private large_folio_mapcount(f: number): number {
    let n = 0;
    for (let p = f; p < f + HPAGE_PMD_NR; p++) n += this.mapcount[p];
    return n + this.entireMapcount[f] * HPAGE_PMD_NR;
  }

  /** folio_large_mapcount(), the kernel's folio_mapcount() of a large folio (6.18): every PTE
   * mapping of a page and every PMD mapping of the folio once (_large_mapcount + 1). */
  folio_large_mapcount(f: number): number {
    return this.entireMapcount[f + LARGE_MAPCOUNT_PAGE];
  }

  /** Set the large folio's _large_mapcount + 1 (rmap.ts keeps it, with the mm-id slots). */
  set_large_mapcount(f: number, n: number): void {
    this.entireMapcount[f + LARGE_MAPCOUNT_PAGE] = n;
  }

  /** folio_mm_id(folio, idx) (include/linux/rmap.h, 6.18). */
  folio_mm_id(f: number, idx: number): number {
    return this.pincount[f + MM_ID_PAGE + idx] & MM_ID_MASK;
  }

  /** folio_set_mm_id(folio, idx, id): the slot's id, the shared bit kept. */
  folio_set_mm_id(f: number, idx: number, id: number): void {
    const p = f + MM_ID_PAGE + idx;
    this.pincount[p] = (this.pincount[p] & ~MM_ID_MASK) | id;
  }

  /** _mm_id_mapcount[idx] + 1: the mappings slot idx accounts (0 when free). */
  mm_id_mapcount(f: number, idx: number): number {
    return this.entireMapcount[f + MM_ID_MAPCOUNT_PAGE + idx];
  }

  set_mm_id_mapcount(f: number, idx: number, n: number): void {
    this.entireMapcount[f + MM_ID_MAPCOUNT_PAGE + idx] = n;
  }

  /** test_bit(FOLIO_MM_IDS_SHARED_BITNUM, &folio->_mm_ids). */
  folio_mm_ids_shared(f: number): boolean {
    return (this.pincount[f + MM_ID_PAGE + 1] & FOLIO_MM_IDS_SHARED_BIT) !== 0;
  }

  /** Set or clear FOLIO_MM_IDS_SHARED_BIT. */
  set_folio_mm_ids_shared(f: number, shared: boolean): void {
    const p = f + MM_ID_PAGE + 1;
    this.pincount[p] = shared ? this.pincount[p] | FOLIO_MM_IDS_SHARED_BIT : this.pincount[p] & MM_ID_MASK;
  }

  /** The large-folio fields kept in tail pages go back to what an order-0 page has (split). */
  private clear_large_mapcount_fields(f: number): void {
    this.entireMapcount[f + LARGE_MAPCOUNT_PAGE] = 0;
    this.pincount[f + MM_ID_PAGE] = 0;
    this.pincount[f + MM_ID_PAGE + 1] = 0;
    this.entireMapcount[f + MM_ID_MAPCOUNT_PAGE] = 0;
    this.entireMapcount[f + MM_ID_MAPCOUNT_PAGE + 1] = 0;
  }

  /** folio_mapped(). */
  folio_mapped(f: number): boolean {
    if ((this.flags[f] & PG_head) === 0) return this.mapcount[f] > 0;
    if (this.entireMapcount[f] > 0) return true;
    for (let p = f; p < f + HPAGE_PMD_NR; p++) if (this.mapcount[p] > 0) return true;
    return false;
  }

  PageAnon(pfn: number): boolean {
    return (this.mapping[this.folio(pfn)] & PAGE_MAPPING_ANON) !== 0;
  }

  /** PageKsm(): the page's folio is a KSM folio. */
  PageKsm(pfn: number): boolean {
    return this.folio_test_ksm(this.folio(pfn));
  }

  /** folio_test_ksm(): mapping low bits are PAGE_MAPPING_KSM (`folio` a head, as the kernel's
   * folio is: no compound_head() here). */
  folio_test_ksm(folio: number): boolean {
    return (this.mapping[folio] & PAGE_MAPPING_FLAGS) === PAGE_MAPPING_KSM;
  }

  /** The handle stored in page->mapping (anon_vma id or KSM stable node id). */
  mappingHandle(pfn: number): number {
    return this.folioMappingHandle(this.folio(pfn));
  }

  /** mappingHandle() of a folio (its head). */
  folioMappingHandle(folio: number): number {
    return this.mapping[folio] >>> 2;
  }

  setMapping(folio: number, handle: number, bits: number): void {
    this.mapping[folio] = handle * 4 + bits;
  }

  PageAnonExclusive(pfn: number): boolean {
    return (this.flags[pfn] & PG_anon_exclusive) !== 0;
  }

  trylock_page(pfn: number): boolean {
    const f = this.folio(pfn);
    if ((this.flags[f] & PG_locked) !== 0) return false;
    this.flags[f] |= PG_locked;
    return true;
  }

  unlock_page(pfn: number): void {
    const f = this.folio(pfn);
    const flags = this.flags[f];
    if ((flags & PG_locked) === 0) this.pageBug('unlock_page: not locked: page', pfn);
    this.flags[f] = flags & ~PG_locked;
  }

  is_zero_pfn(pfn: number): boolean {
    return pfn === this.zeroPfn;
  }

  is_huge_zero_pfn(pfn: number): boolean {
    return this.hugeZeroPfn !== 0 && pfn >= this.hugeZeroPfn && pfn < this.hugeZeroPfn + HPAGE_PMD_NR;
  }

  /** mm_get_huge_zero_folio(): the huge zero folio, allocated on first use (0 on failure). */
  get_huge_zero_folio(): number {
    if (this.hugeZeroPfn === 0) {
      const f = this.alloc_pages(HPAGE_PMD_ORDER);
      if (f === 0) return 0;
      this.flags[f] |= PG_reserved;
      this.hugeZeroPfn = f;
    }
    return this.hugeZeroPfn;
  }

  /**
   * The refcount/flag side of __split_huge_page(): a PTE-mapped large folio becomes
   * HPAGE_PMD_NR order-0 folios. Each subpage keeps the references its own PTE mappings hold;
   * every extra reference (the caller's) goes to `keep`, the page the caller split through
   * (split_huge_page(page)). Unmapped subpages without references are freed.
   */
  splitFolio(f: number, keep: number = f): void {
    if ((this.flags[f] & PG_head) === 0) BUG(`splitFolio: ${f} is not a large folio`);
    if (this.entireMapcount[f] !== 0) BUG(`splitFolio: ${f} is still PMD-mapped`);
    let tailMaps = 0;
    for (let p = f + 1; p < f + HPAGE_PMD_NR; p++) tailMaps += this.mapcount[p];
    const mapping = this.mapping[f];
    const index = this.index[f];
    const inherit =
      this.flags[f] &
      (PG_dirty | PG_swapbacked | PG_lazyfree | PG_uptodate | PG_lru | PG_referenced | PG_active);
    this.flags[f] &= ~PG_head;
    this.order[f] = 0;
    const extra = this.refcount[f] - tailMaps - this.mapcount[f];
    if (extra < 0) BUG(`splitFolio: refcount below mapcount`, () => this.dumpPage(f));
    this.clear_large_mapcount_fields(f);
    this.refcount[f] = this.mapcount[f] + (keep === f ? extra : 0);
    const headFree = this.refcount[f] === 0;
    for (let p = f + 1; p < f + HPAGE_PMD_NR; p++) {
      this.flags[p] = (this.flags[p] & ~PG_tail) | inherit;
      this.head[p] = 0;
      this.mapping[p] = mapping;
      this.index[p] = index + (p - f);
      this.refcount[p] = this.mapcount[p] + (p === keep ? extra : 0);
      if (this.refcount[p] === 0) this.freeFolioFrames(p);
    }
    // split_huge_page_to_list_to_order(): the caller's lock ends on the after-split folio holding
    // its page; every other one is unlocked (and may be freed).
    if ((this.flags[f] & PG_locked) !== 0 && keep !== f) {
      this.flags[f] &= ~PG_locked;
      this.flags[keep] |= PG_locked;
    }
    if (headFree) this.freeFolioFrames(f);
  }

  // ---- page-table pages ------------------------------------------------------------------

  /** pte_alloc_one()/pmd_alloc_one()...: a zeroed page-table page, or 0. */
  allocPageTable(): number {
    if (this.failAlloc?.(0, 'table')) return 0;
    const saved = this.failAlloc;
    this.failAlloc = null;
    const pfn = this.alloc_pages(0);
    this.failAlloc = saved;
    if (pfn === 0) return 0;
    this.flags[pfn] |= PG_table;
    this.content[pfn] = ~this.contents.allocSlot();
    this.nrPageTables++;
    this.counters.ptAlloc++;
    return pfn;
  }

  /** pte_free()/pmd_free()...: the table must be empty of references by now. */
  freePageTable(pfn: number): void {
    if ((this.flags[pfn] & PG_table) === 0) BUG(`freePageTable: ${pfn} is not a page table`);
    if ((this.flags[pfn] & PG_ptl) !== 0) BUG(`freePageTable: ${pfn} has its PTL held`);
    this.counters.ptFree++;
    this.put_page(pfn);
  }

  /** The words of a page-table page: entry i is at [base + 2i] (lo) and [base + 2i + 1] (hi). */
  tableWords(pfn: number): Uint32Array {
    return this.arenaWords[~this.content[pfn] >>> ARENA_SHIFT];
  }

  tableBase(pfn: number): number {
    return (~this.content[pfn] & ARENA_MASK) * WORDS_PER_PAGE;
  }

  // ---- contents ----------------------------------------------------------------------------

  /** Drop the frame's content (the frame is freed, or gets another content). */
  private dropContent(pfn: number): void {
    const c = this.content[pfn];
    if (c < 0) this.contents.freeSlot(~c);
    else this.contents.put(c);
    this.content[pfn] = ZERO_CONTENT;
  }

  /** Byte slots in use (private pages, page tables, interned and frozen pages). */
  get slotsInUse(): number {
    return this.contents.slotsInUse;
  }

  /** Bytes of slot storage ever handed out (freed slots are pooled, never returned to the OS). */
  get contentBytes(): number {
    return this.contents.contentBytes;
  }

  /**
   * setFrameContent(): the frame holds content `id` from now on (ZERO_CONTENT, a pattern, an
   * interned page or a digest; see Contents), taking a reference to it.
   */
  setFrameContent(pfn: number, id: number): void {
    this.contents.get(id);
    if (this.content[pfn] !== ZERO_CONTENT) this.dropContent(pfn);
    this.content[pfn] = id;
  }

  /**
   * The frame's content as a shared content, with a reference for the caller (a swap slot keeps
   * it after the frame is gone; Contents.put() drops it). A page with bytes of its own is frozen
   * into a content first, shared from then on until one holder writes.
   */
  getFrameContent(pfn: number): number {
    let c = this.content[pfn];
    if (c < 0) {
      c = this.contents.freeze(~c);
      this.contents.get(c);
      this.content[pfn] = c;
    }
    this.contents.get(c);
    return c;
  }

  /** False for a page of a snapshot held as a digest: its bytes can be neither read nor written
   * (a caller about to write refuses first). */
  hasBytes(pfn: number): boolean {
    const c = this.content[pfn];
    return c <= 0 || !this.contents.isDigest(c);
  }

  /** The frame's own slot, for a writer: a shared content is materialised into a private copy. */
  private writable(pfn: number): number {
    const c = this.content[pfn];
    if (c < 0) return ~c;
    const s = this.contents.materialise(c);
    this.content[pfn] = ~s;
    return s;
  }

  readByte(pfn: number, off: number): number {
    const c = this.content[pfn] | 0; // a raw PFN beyond the frames handed out reads as zeros
    if (c >= 0) return this.contents.byteOf(c, off);
    return this.contents.arenaBytes[~c >>> ARENA_SHIFT][(~c & ARENA_MASK) * PAGE_SIZE + off];
  }

  writeByte(pfn: number, off: number, v: number): void {
    const s = this.writable(pfn);
    this.contents.arenaBytes[s >>> ARENA_SHIFT][(s & ARENA_MASK) * PAGE_SIZE + off] = v;
    this.contents.slotWritten(s);
  }

  /** Copy `len` bytes of src (from srcOff) into the page at `off`. */
  writeBytes(pfn: number, off: number, src: Uint8Array, srcOff: number, len: number): void {
    const s = this.writable(pfn);
    this.contents.arenaBytes[s >>> ARENA_SHIFT].set(
      src.subarray(srcOff, srcOff + len),
      (s & ARENA_MASK) * PAGE_SIZE + off,
    );
    this.contents.slotWritten(s);
  }

  /** Read `len` bytes from the page at `off` into dst at dstOff. */
  readBytes(pfn: number, off: number, dst: Uint8Array, dstOff: number, len: number): void {
    const c = this.content[pfn] | 0; // as readByte()
    if (c >= 0) {
      this.contents.read(c, off, dst, dstOff, len);
      return;
    }
    const base = (~c & ARENA_MASK) * PAGE_SIZE + off;
    dst.set(this.contents.arenaBytes[~c >>> ARENA_SHIFT].subarray(base, base + len), dstOff);
  }

  /** Overwrite a whole page from a 4 KiB buffer: the page refers to the interned content of
   * those bytes. */
  writePage(pfn: number, src: Uint8Array): void {
    this.setFrameContent(pfn, this.contents.intern(src, 0));
  }

  /** copy_highpage()/folio_copy() for one page: the copy is a new reference to the source's
   * content (a page with bytes of its own is frozen into a shared content first); bytes are
   * copied only when one of them is written. */
  copy_page(dst: number, src: number): void {
    this.counters.pagesCopied++;
    let c = this.content[src];
    if (c < 0) {
      c = this.contents.freeze(~c);
      this.contents.get(c);
      this.content[src] = c;
    }
    this.setFrameContent(dst, c);
  }

  /** memcmp_pages(): < 0, 0, > 0 as memcmp() over the two pages (the same content is equal
   * without reading it; see Contents.compare()). Counts the call and the bytes the kernel's
   * memcmp() reads of each page (up to the first differing word; the whole page when equal). */
  memcmp_pages(a: number, b: number): number {
    const r = this.contents.compare(this.content[a], this.content[b]);
    this.counters.pagesCompared++;
    this.counters.bytesCompared += this.contents.memcmpBytes;
    this.noteCompared(b);
    return r;
  }

  /** Counts a compare's second page as cold when it was not compared earlier in this cache
   * epoch. A table slot holds the last PFN that hashed to it, as a direct-mapped cache does. */
  private noteCompared(pfn: number): void {
    if (this.comparedPfn === null) {
      this.comparedPfn = new Int32Array(COMPARED_SLOTS);
      this.comparedEpoch = new Uint32Array(COMPARED_SLOTS);
    }
    const i = pfn & (COMPARED_SLOTS - 1);
    const e = this.comparedEpoch!;
    if (this.comparedPfn[i] === pfn && e[i] === this.cacheEpoch) return;
    this.comparedPfn[i] = pfn;
    e[i] = this.cacheEpoch;
    this.counters.pagesComparedCold++;
  }

  /**
   * memcmp_pages(a, b) for a caller that remembers b's first word (contents.firstWordOf() of
   * content[b], read while b's bytes were what they are now): the same result and counts, without
   * loading b's content when the first words decide.
   */
  memcmp_pages_remembered(a: number, b: number, bFirstWord: number): number {
    let c = this.contents.compareFirstWord(this.content[a], bFirstWord);
    if (c === 0) c = this.contents.compare(this.content[a], this.content[b]);
    this.counters.pagesCompared++;
    this.counters.bytesCompared += this.contents.memcmpBytes;
    this.noteCompared(b);
    return c;
  }

  /** pages_identical(). */
  pages_identical(a: number, b: number): boolean {
    return this.memcmp_pages(a, b) === 0;
  }

  /** True when every byte of the page is zero (cached with the content). */
  isZeroFilled(pfn: number): boolean {
    const c = this.content[pfn];
    return c >= 0 ? this.contents.isZero(c) : this.contents.slotIsZero(~c);
  }

  /** calc_checksum() (mm/ksm.c): the low 32 bits of xxh64(page, seed 0), cached with the
   * content. */
  calc_checksum(pfn: number): number {
    this.counters.bytesHashed += PAGE_SIZE;
    const c = this.content[pfn];
    return c >= 0 ? this.contents.checksumOf(c) : this.contents.slotChecksumOf(~c);
  }

  /** A printable description of a page, for KernelBug dumps. */
  dumpPage(pfn: number): string {
    const f = this.folio(pfn);
    return (
      `page:${pfn} folio:${f} refcount:${this.refcount[f]} mapcount:${this.mapcount[pfn]} ` +
      `entire_mapcount:${this.entireMapcount[f]} mapping:${this.mapping[f].toString(16)} ` +
      `index:${this.index[pfn]} flags:${this.flags[pfn].toString(16)} order:${this.folio_order(f)}` +
      ((this.flags[f] & PG_head) !== 0
        ? ` large_mapcount:${this.folio_large_mapcount(f)} mm_ids:${this.folio_mm_id(f, 0)}/${this.folio_mm_id(f, 1)}` +
          ` mm_id_mapcounts:${this.mm_id_mapcount(f, 0)}/${this.mm_id_mapcount(f, 1)} shared:${this.folio_mm_ids_shared(f)}`
        : '')
    );
  }
}
