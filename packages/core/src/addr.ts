// Address math that stays exact above 2^32 (addresses are doubles < 2^53). JavaScript's bitwise
// operators truncate to 32 bits, so every helper here divides and takes remainders instead.

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
/** PAGE_MASK is ~(PAGE_SIZE - 1); use pageAlignDown() rather than masking a full address. */
export const PAGE_OFFSET_MASK = PAGE_SIZE - 1;

/** Entries per table at every x86-64 level (PTRS_PER_PTE/PMD/PUD, and PGD/P4D when not folded). */
export const PTRS_PER_TABLE = 512;
export const PMD_SHIFT = 21;
export const PUD_SHIFT = 30;
export const P4D_SHIFT = 39;
/** PGDIR_SHIFT with 5-level paging (LA57); with 4 levels it is P4D_SHIFT (the P4D is folded). */
export const PGDIR_SHIFT_LA57 = 48;
export const PMD_SIZE = 2 ** PMD_SHIFT;
export const PUD_SIZE = 2 ** PUD_SHIFT;
export const P4D_SIZE = 2 ** P4D_SHIFT;
export const PGDIR_SIZE_LA57 = 2 ** PGDIR_SHIFT_LA57;
/** HPAGE_PMD_ORDER / HPAGE_PMD_NR: a PMD-mapped THP. */
export const HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT;
export const HPAGE_PMD_NR = 2 ** HPAGE_PMD_ORDER;

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** Largest value where the double arithmetic below stays exact. */
const MAX_EXACT = 2 ** 53;

// Addresses are non-negative doubles. The helpers divide by a power of two (exact) and round,
// instead of using `%`: a double modulo is a C call in V8, ~10 ns, and these run per page.

/** addr rounded down to a multiple of `size` (a power of two). */
export function alignDown(addr: number, size: number): number {
  return Math.floor(addr / size) * size;
}

/** addr rounded up to a multiple of `size` (a power of two). */
export function alignUp(addr: number, size: number): number {
  return Math.ceil(addr / size) * size;
}

export function isAligned(addr: number, size: number): boolean {
  return Math.floor(addr / size) * size === addr;
}

export function pageAlignDown(addr: number): number {
  return Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
}

export function pageAlignUp(addr: number): number {
  return alignUp(addr, PAGE_SIZE);
}

/** The page offset of an address (addr & ~PAGE_MASK). */
export function offsetInPage(addr: number): number {
  return addr - Math.floor(addr / PAGE_SIZE) * PAGE_SIZE;
}

/** The index of addr's page inside the naturally aligned `size` block holding it, e.g. the
 * subpage of a PMD-mapped THP: (addr & (size - 1)) >> PAGE_SHIFT. `size` is a power of two from
 * PAGE_SIZE to 2^43 (the page index then fits the 32 bits ToUint32 keeps; see tableIndex()). */
export function subpageIndex(addr: number, size: number): number {
  return ((addr / PAGE_SIZE) >>> 0) & (size / PAGE_SIZE - 1);
}

/** Virtual page number: addr >> PAGE_SHIFT. */
export function addrToPfn(addr: number): number {
  return Math.floor(addr / PAGE_SIZE);
}

/** 2^-shift for every shift tableIndex() is given: multiplying by it is exact. */
const INV_POW2 = Float64Array.from({ length: 64 }, (_, shift) => 2 ** -shift);
/** The index bits of an entry's position in its table. */
const TABLE_INDEX_MASK = PTRS_PER_TABLE - 1;

/**
 * The index of addr in a table whose entries each map 2^shift bytes: (addr >> shift) & 511, the
 * kernel's pte_index()/pmd_index()/... addr * 2^-shift is exact (addr < 2^53), and `>>> 0`
 * (ToUint32) takes its integer part modulo 2^32, whose low 9 bits are the index. Kept this small
 * (in bytecode) so that V8 inlines it at every call site, whatever is left of the caller's
 * inlining budget: the walkers and the fault path call it per entry.
 */
export function tableIndex(addr: number, shift: number): number {
  return ((addr * INV_POW2[shift]!) >>> 0) & TABLE_INDEX_MASK;
}

/**
 * The kernel's *_addr_end(addr, end): the end of the entry covering addr, or `end` if that comes
 * first. `size` is the entry size (PMD_SIZE, PUD_SIZE, ...).
 */
export function addrEnd(addr: number, end: number, size: number): number {
  const boundary = Math.floor(addr / size) * size + size;
  return boundary - 1 < end - 1 ? boundary : end;
}

/** True when x is an integer the helpers above handle exactly. */
export function isExactAddress(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0 && x < MAX_EXACT;
}

/** Hex formatting of an address or entry value, like the kernel's %lx. */
export function hex(x: number, width = 0): string {
  const s = x.toString(16);
  return width > s.length ? '0'.repeat(width - s.length) + s : s;
}
