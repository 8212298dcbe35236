// x86-64 page-table entry format (arch/x86/include/asm/pgtable_types.h, pgtable_64.h,
// pgtable_64_types.h; Linux 6.18). An entry is 64 bits; mmsim keeps it as two uint32 words,
// `lo` (bits 0-31) and `hi` (bits 32-63), never as a BigInt or an object.

import { doubleFields, PAGE_SHIFT } from '@mmsim/core';

// Bits of the low word.
export const _PAGE_BIT_PRESENT = 0;
export const _PAGE_BIT_RW = 1;
export const _PAGE_BIT_USER = 2;
export const _PAGE_BIT_PWT = 3;
export const _PAGE_BIT_PCD = 4;
export const _PAGE_BIT_ACCESSED = 5;
export const _PAGE_BIT_DIRTY = 6;
export const _PAGE_BIT_PSE = 7;
export const _PAGE_BIT_GLOBAL = 8;
export const _PAGE_BIT_SOFTW1 = 9;
export const _PAGE_BIT_SOFTW2 = 10;
export const _PAGE_BIT_SOFTW3 = 11;
export const _PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1;
export const _PAGE_BIT_UFFD_WP = _PAGE_BIT_SOFTW2;
export const _PAGE_BIT_SOFT_DIRTY = _PAGE_BIT_SOFTW3;
export const _PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL;

export const _PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT;
export const _PAGE_RW = 1 << _PAGE_BIT_RW;
export const _PAGE_USER = 1 << _PAGE_BIT_USER;
export const _PAGE_PWT = 1 << _PAGE_BIT_PWT;
export const _PAGE_PCD = 1 << _PAGE_BIT_PCD;
export const _PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED;
export const _PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY;
export const _PAGE_PSE = 1 << _PAGE_BIT_PSE;
export const _PAGE_GLOBAL = 1 << _PAGE_BIT_GLOBAL;
export const _PAGE_SPECIAL = 1 << _PAGE_BIT_SPECIAL;
export const _PAGE_UFFD_WP = 1 << _PAGE_BIT_UFFD_WP;
export const _PAGE_SOFT_DIRTY = 1 << _PAGE_BIT_SOFT_DIRTY;
export const _PAGE_PROTNONE = 1 << _PAGE_BIT_PROTNONE;

// Bits of the high word (bit n of the entry is bit n-32 of `hi`).
export const _PAGE_BIT_NX = 63;
export const _PAGE_NX_HI = 1 << (_PAGE_BIT_NX - 32);

/** Bits a swap-format (non-present) PTE keeps beside the entry: pgtable_types.h. */
export const _PAGE_SWP_SOFT_DIRTY = _PAGE_RW;
export const _PAGE_SWP_UFFD_WP = _PAGE_USER;
export const _PAGE_SWP_EXCLUSIVE = _PAGE_PWT;

/** _PAGE_TABLE: what a user page-table (non-leaf) entry carries beside the table's PFN. */
export const _PAGE_TABLE = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

/** Protections from protection_map[] (arch/x86/mm/pgprot.c): [lo flags, hi flags]. */
export const PAGE_NONE_LO = _PAGE_PROTNONE | _PAGE_ACCESSED;
export const PAGE_READONLY_LO = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_SHARED_LO = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;

/** PTE_PFN_MASK covers bits 12-51: 20 bits of `lo`, 20 bits of `hi`. */
const PFN_LO_BITS = 32 - PAGE_SHIFT;
const PFN_LO_SPAN = 2 ** PFN_LO_BITS;
const PFN_HI_MASK = 0xfffff;
/** The flag bits of an entry's low word (~PTE_PFN_MASK there: bits 0-11). */
const PTE_FLAGS_LO = (1 << PAGE_SHIFT) - 1;

// ---- entry construction --------------------------------------------------------------------

/** Output scratch for functions that build an entry: the two words of the last result (doubles:
 * entry words pass 2^30, see core's doubleFields()). */
export const entryOut = { lo: 0, hi: 0 };
doubleFields(entryOut, ['lo', 'hi']);

/** pfn_pte(pfn, prot): the two words of a present entry; `hiFlags` carries NX. */
export function mk_entry(pfn: number, loFlags: number, hiFlags: number): void {
  entryOut.lo = (((pfn % PFN_LO_SPAN) << PAGE_SHIFT) | (loFlags & PTE_FLAGS_LO)) >>> 0;
  entryOut.hi = ((Math.floor(pfn / PFN_LO_SPAN) & PFN_HI_MASK) | hiFlags) >>> 0;
}

const PFN_SPAN = 2 ** 40;

/** __pte_needs_invert(): x86 stores the PFN of a non-present, non-none entry inverted (L1TF). */
function needsInvert(lo: number, hi: number): boolean {
  return (lo & _PAGE_PRESENT) === 0 && (lo !== 0 || hi !== 0);
}

/** pte_pfn()/pmd_pfn(): the PFN of a present or PROT_NONE entry (protnone_mask() applied). */
export function entry_pfn(lo: number, hi: number): number {
  const raw = (lo >>> PAGE_SHIFT) + (hi & PFN_HI_MASK) * PFN_LO_SPAN;
  return needsInvert(lo, hi) ? PFN_SPAN - 1 - raw : raw;
}

/** pfn_pte(pfn, prot) into entryOut; a PROT_NONE protection gets the PFN inverted. */
export function mk_pte(pfn: number, protLo: number, protHi: number): void {
  const inv = (protLo & _PAGE_PRESENT) === 0 && protLo !== 0;
  mk_entry(inv ? PFN_SPAN - 1 - pfn : pfn, protLo, protHi);
}

// ---- predicates (the kernel's names; `lo`/`hi` are the entry's two words) -------------------

export function pte_none(lo: number, hi: number): boolean {
  return lo === 0 && hi === 0;
}

/** pte_present(): present, or PROT_NONE (still a mapping, just inaccessible). */
export function pte_present(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) !== 0;
}

export function pte_protnone(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE)) === _PAGE_PROTNONE;
}

export function pte_write(lo: number): boolean {
  return (lo & _PAGE_RW) !== 0;
}

export function pte_dirty(lo: number): boolean {
  return (lo & _PAGE_DIRTY) !== 0;
}

export function pte_young(lo: number): boolean {
  return (lo & _PAGE_ACCESSED) !== 0;
}

export function pte_special(lo: number): boolean {
  return (lo & _PAGE_SPECIAL) !== 0;
}

export function pte_soft_dirty(lo: number): boolean {
  return (lo & _PAGE_SOFT_DIRTY) !== 0;
}

export function pte_uffd_wp(lo: number): boolean {
  return (lo & _PAGE_UFFD_WP) !== 0;
}

/** pmd_present(): x86 also counts PSE (a huge PMD being split is briefly not _PAGE_PRESENT). */
export function pmd_present(lo: number): boolean {
  return (lo & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) !== 0;
}

/** pmd_leaf()/pud_leaf(): a huge mapping rather than a pointer to the next table. */
export function pmd_leaf(lo: number): boolean {
  return (lo & _PAGE_PSE) !== 0;
}

export const pud_leaf: (lo: number) => boolean = pmd_leaf;

/** pud_present()/p4d_present()/pgd_present() (5-level): _PAGE_PRESENT. */
export function pud_present(lo: number): boolean {
  return (lo & _PAGE_PRESENT) !== 0;
}
export const p4d_present: (lo: number) => boolean = pud_present;
export const pgd_present: (lo: number) => boolean = pud_present;

/** pud_bad()/p4d_bad(): flags beyond _KERNPG_TABLE | _PAGE_USER (NX, in the high word, is
 * ignored). mmsim uses it for a 5-level PGD entry too: its table entries always carry
 * _PAGE_TABLE's flags, where x86's pgd_bad() and p4d_bad() agree. */
export function pud_bad(lo: number): boolean {
  return (lo & PTE_FLAGS_LO & ~_PAGE_TABLE) !== 0;
}
export const p4d_bad: (lo: number) => boolean = pud_bad;
export const pgd_bad: (lo: number) => boolean = pud_bad;
export const pmd_trans_huge: (lo: number) => boolean = pmd_leaf;

/** pmd_bad(): a table entry whose flags are not _PAGE_TABLE's (ignoring ACCESSED/DIRTY/NX). */
export function pmd_bad(lo: number): boolean {
  return (
    (lo & PTE_FLAGS_LO & ~(_PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY)) !==
    (_PAGE_TABLE & ~(_PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY))
  );
}

/** is_swap_pte(): not none and not present — swap, migration, device or marker entries. */
export function is_swap_pte(lo: number, hi: number): boolean {
  return !pte_none(lo, hi) && !pte_present(lo);
}

// ---- swap-format entries -------------------------------------------------------------------
// x86-64 (pgtable_64.h): the type lives in bits 59-63 and the offset, inverted, in bits 9-58:
// __swp_entry(type, offset) = (~offset << SWP_OFFSET_SHIFT >> SWP_TYPE_BITS) | type << 59.

export const SWP_TYPE_BITS = 5;
export const SWP_OFFSET_FIRST_BIT = _PAGE_BIT_PROTNONE + 1;
/** Bits available for the offset: 9..58. */
export const SWP_OFFSET_BITS = 64 - SWP_TYPE_BITS - SWP_OFFSET_FIRST_BIT;
const SWP_OFFSET_LO_BITS = 32 - SWP_OFFSET_FIRST_BIT; // 23
const SWP_OFFSET_LO_SPAN = 2 ** SWP_OFFSET_LO_BITS;
const SWP_OFFSET_HI_BITS = SWP_OFFSET_BITS - SWP_OFFSET_LO_BITS; // 27
const SWP_OFFSET_HI_MASK = 2 ** SWP_OFFSET_HI_BITS - 1;
const SWP_OFFSET_SPAN = 2 ** SWP_OFFSET_BITS;

/** Encode a swap-format entry into entryOut; `loFlags` may carry _PAGE_SWP_* bits. */
export function mk_swp_pte(type: number, offset: number, loFlags: number): void {
  const inv = SWP_OFFSET_SPAN - 1 - offset; // ~offset within the 50 offset bits
  const invLo = inv % SWP_OFFSET_LO_SPAN;
  const invHi = Math.floor(inv / SWP_OFFSET_LO_SPAN);
  entryOut.lo =
    ((invLo << SWP_OFFSET_FIRST_BIT) | (loFlags & 0x1ff & ~_PAGE_PRESENT & ~_PAGE_PROTNONE)) >>> 0;
  entryOut.hi = ((invHi & SWP_OFFSET_HI_MASK) | (type << (32 - SWP_TYPE_BITS))) >>> 0;
}

/** __swp_type() of a swap-format entry. */
export function swp_type(_lo: number, hi: number): number {
  return hi >>> (32 - SWP_TYPE_BITS);
}

/** __swp_offset() of a swap-format entry. */
export function swp_offset(lo: number, hi: number): number {
  const invLo = lo >>> SWP_OFFSET_FIRST_BIT;
  const invHi = hi & SWP_OFFSET_HI_MASK;
  return SWP_OFFSET_SPAN - 1 - (invHi * SWP_OFFSET_LO_SPAN + invLo);
}

// Swap types beyond the swap files (include/linux/swap.h, with CONFIG_MIGRATION,
// CONFIG_MEMORY_FAILURE, CONFIG_DEVICE_PRIVATE and PTE markers, as on distribution kernels).
export const MAX_SWAPFILES_SHIFT = 5;
export const SWP_DEVICE_NUM = 3;
export const SWP_MIGRATION_NUM = 3;
export const SWP_HWPOISON_NUM = 1;
export const SWP_PTE_MARKER_NUM = 1;
export const MAX_SWAPFILES =
  (1 << MAX_SWAPFILES_SHIFT) - SWP_DEVICE_NUM - SWP_MIGRATION_NUM - SWP_HWPOISON_NUM - SWP_PTE_MARKER_NUM;
export const SWP_HWPOISON = MAX_SWAPFILES;
export const SWP_MIGRATION_READ = MAX_SWAPFILES + SWP_HWPOISON_NUM;
export const SWP_MIGRATION_READ_EXCLUSIVE = MAX_SWAPFILES + SWP_HWPOISON_NUM + 1;
export const SWP_MIGRATION_WRITE = MAX_SWAPFILES + SWP_HWPOISON_NUM + 2;
export const SWP_DEVICE_WRITE = MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM;
export const SWP_DEVICE_READ = SWP_DEVICE_WRITE + 1;
export const SWP_DEVICE_EXCLUSIVE = SWP_DEVICE_WRITE + 2;
export const SWP_PTE_MARKER = MAX_SWAPFILES + SWP_HWPOISON_NUM + SWP_MIGRATION_NUM + SWP_DEVICE_NUM;

/** PTE marker bits (include/linux/swapops.h). */
export const PTE_MARKER_UFFD_WP = 1 << 0;
export const PTE_MARKER_POISONED = 1 << 1;
export const PTE_MARKER_GUARD = 1 << 2;

export function is_migration_type(type: number): boolean {
  return type >= SWP_MIGRATION_READ && type <= SWP_MIGRATION_WRITE;
}

/** is_migration_entry() for a non-present, non-none entry. */
export function is_migration_entry(lo: number, hi: number): boolean {
  return is_swap_pte(lo, hi) && is_migration_type(swp_type(lo, hi));
}

export function is_writable_migration_type(type: number): boolean {
  return type === SWP_MIGRATION_WRITE;
}

/** A real swap-device entry (not migration, device, hwpoison or marker). */
export function is_swap_device_entry(lo: number, hi: number): boolean {
  return is_swap_pte(lo, hi) && swp_type(lo, hi) < MAX_SWAPFILES;
}

export function is_pte_marker(lo: number, hi: number): boolean {
  return is_swap_pte(lo, hi) && swp_type(lo, hi) === SWP_PTE_MARKER;
}

/** make_pte_marker(): a marker entry (swp_entry(SWP_PTE_MARKER, marker)) into entryOut. */
export function make_pte_marker(marker: number): void {
  mk_swp_pte(SWP_PTE_MARKER, marker, 0);
}

/** is_guard_pte_marker(): a PTE_MARKER_GUARD marker (MADV_GUARD_INSTALL). */
export function is_guard_pte_marker(lo: number, hi: number): boolean {
  return is_pte_marker(lo, hi) && (swp_offset(lo, hi) & PTE_MARKER_GUARD) !== 0;
}

/** pte_swp_exclusive(): the swapped or migrating anon page was exclusive to this mapping. */
export function pte_swp_exclusive(lo: number): boolean {
  return (lo & _PAGE_SWP_EXCLUSIVE) !== 0;
}

export function pte_swp_soft_dirty(lo: number): boolean {
  return (lo & _PAGE_SWP_SOFT_DIRTY) !== 0;
}

export function pte_swp_uffd_wp(lo: number): boolean {
  return (lo & _PAGE_SWP_UFFD_WP) !== 0;
}

/** Render an entry as the kernel prints pte_val(): 16 hex digits. */
export function entryHex(lo: number, hi: number): string {
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/** Parse a 64-bit value (decimal or 0x-hex string, or bigint) into its two words. */
export function entryFromBigInt(v: bigint): { lo: number; hi: number } {
  return { lo: Number(v & 0xffffffffn), hi: Number((v >> 32n) & 0xffffffffn) };
}
