// Decoding and encoding x86-64 page-table entries (`mmsim pte`, the web app's walk view), on the
// two 32-bit words @mmsim/mmu keeps (arch/x86/include/asm/pgtable_types.h, pgtable_64.h; include/linux/swapops.h;
// Linux 6.18). Bit numbers are the entry's: bit n is bit n of `lo` for n < 32, bit n-32 of `hi`.

import {
  _PAGE_ACCESSED,
  _PAGE_DIRTY,
  _PAGE_GLOBAL,
  _PAGE_NX_HI,
  _PAGE_PCD,
  _PAGE_PRESENT,
  _PAGE_PROTNONE,
  _PAGE_PSE,
  _PAGE_PWT,
  _PAGE_RW,
  _PAGE_SOFT_DIRTY,
  _PAGE_SPECIAL,
  _PAGE_SWP_EXCLUSIVE,
  _PAGE_SWP_SOFT_DIRTY,
  _PAGE_SWP_UFFD_WP,
  _PAGE_TABLE,
  _PAGE_UFFD_WP,
  _PAGE_USER,
  entry_pfn,
  entryHex,
  entryOut,
  MAX_SWAPFILES,
  mk_entry,
  mk_swp_pte,
  PTE_MARKER_GUARD,
  PTE_MARKER_POISONED,
  PTE_MARKER_UFFD_WP,
  SWP_DEVICE_EXCLUSIVE,
  SWP_DEVICE_READ,
  SWP_DEVICE_WRITE,
  SWP_HWPOISON,
  SWP_MIGRATION_READ,
  SWP_MIGRATION_READ_EXCLUSIVE,
  SWP_MIGRATION_WRITE,
  SWP_OFFSET_BITS,
  SWP_PTE_MARKER,
  swp_offset,
  swp_type,
} from './arch.ts';

export const ENTRY_LEVELS = ['pte', 'pmd', 'pud', 'p4d', 'pgd'] as const;
export type EntryLevel = (typeof ENTRY_LEVELS)[number];

/** What one entry of each level maps when it is a leaf, and what its table spans. */
const LEAF_SIZE: Record<EntryLevel, string> = {
  pte: '4 KiB page',
  pmd: '2 MiB page',
  pud: '1 GiB page',
  p4d: '512 GiB',
  pgd: '',
};

/** _PAGE_BIT_PAT_LARGE: the PAT bit of a 2 MiB/1 GiB leaf (bit 7 is PSE there). */
const _PAGE_PAT_LARGE = 1 << 12;
/** PTE_PFN_MASK: bits 12-51. */
const PFN_FIELD_SPAN = 2 ** 40;
/** MAX_PHYSMEM_BITS: 46 with 4-level paging, 52 with 5-level (arch/x86/include/asm/sparsemem.h). */
export function maxPhysmemBits(levels: 4 | 5): number {
  return levels === 5 ? 52 : 46;
}

export type EntryKind =
  | 'none'
  | 'page'
  | 'huge page'
  | 'table'
  | 'protnone'
  | 'swap'
  | 'migration'
  | 'device'
  | 'hwpoison'
  | 'marker'
  | 'bad';

export interface DecodedEntry {
  /** 0x and 16 hex digits. */
  value: string;
  level: EntryLevel;
  levels: 4 | 5;
  kind: EntryKind;
  /** One line saying what the entry is. */
  summary: string;
  /** The names of the set bits (hardware and software), low to high. */
  bits: string[];
  /** The frame it maps or points to (a page table for a table entry), or the entry's PFN. */
  pfn: number | null;
  /** Swap-format entries: type and offset as __swp_type()/__swp_offset() give them. */
  swap: { type: number; offset: number } | null;
  /** Migration entries: which kind, and the A/D bits migration entries keep (6.1+). */
  migration: { kind: 'read' | 'read_exclusive' | 'write'; young: boolean; dirty: boolean } | null;
  /** PTE markers set in the entry. */
  markers: string[] | null;
  /** The protection key (bits 59-62) of a present leaf. */
  pkey: number;
  notes: string[];
}

const LOW_BITS: [number, string][] = [
  [_PAGE_PRESENT, 'present'],
  [_PAGE_RW, 'rw'],
  [_PAGE_USER, 'user'],
  [_PAGE_PWT, 'pwt'],
  [_PAGE_PCD, 'pcd'],
  [_PAGE_ACCESSED, 'accessed'],
  [_PAGE_DIRTY, 'dirty'],
];

/** The bits whose meaning every present entry shares, plus the level-dependent 7, 8 and 12. */
function presentBits(lo: number, hi: number, level: EntryLevel, leaf: boolean): string[] {
  const out: string[] = [];
  for (const [bit, name] of LOW_BITS) if ((lo & bit) !== 0) out.push(name);
  if ((lo & _PAGE_PSE) !== 0) out.push(level === 'pte' ? 'pat' : 'pse');
  if ((lo & _PAGE_GLOBAL) !== 0) out.push((lo & _PAGE_PRESENT) === 0 ? 'protnone' : 'global');
  if ((lo & _PAGE_SPECIAL) !== 0) out.push('special');
  if ((lo & _PAGE_UFFD_WP) !== 0) out.push('uffd_wp');
  if ((lo & _PAGE_SOFT_DIRTY) !== 0) out.push('soft_dirty');
  if (leaf && level !== 'pte' && (lo & _PAGE_PAT_LARGE) !== 0) out.push('pat_large');
  if ((hi & (1 << 25)) !== 0) out.push('softw4');
  if ((hi & (1 << 26)) !== 0) out.push('saved_dirty');
  if ((hi & _PAGE_NX_HI) !== 0) out.push('nx');
  return out;
}

/**
 * Decode an entry of `level` (default pte) in a `levels`-level page table. `lo` and `hi` are the
 * entry's low and high 32-bit words.
 */
export function decodeEntry(
  lo: number,
  hi: number,
  level: EntryLevel = 'pte',
  levels: 4 | 5 = 4,
): DecodedEntry {
  lo >>>= 0;
  hi >>>= 0;
  const d: DecodedEntry = {
    value: `0x${entryHex(lo, hi)}`,
    level,
    levels,
    kind: 'none',
    summary: '',
    bits: [],
    pfn: null,
    swap: null,
    migration: null,
    markers: null,
    pkey: 0,
    notes: [],
  };
  if (lo === 0 && hi === 0) {
    d.summary = `${level}_none(): nothing mapped`;
    return d;
  }
  const upper = level === 'p4d' || level === 'pgd';
  if (upper && levels === 4 && level === 'p4d')
    d.notes.push('with 4-level paging the p4d is folded into the pgd: this is the pgd entry');
  const leaf = (level === 'pmd' || level === 'pud') && (lo & _PAGE_PSE) !== 0;
  // pte_present()/pmd_present(): PRESENT or PROTNONE (and PSE for a PMD being split).
  const presentMask =
    level === 'pte'
      ? _PAGE_PRESENT | _PAGE_PROTNONE
      : leaf
        ? _PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE
        : _PAGE_PRESENT;
  if ((lo & presentMask) !== 0) {
    d.bits = presentBits(lo, hi, level, leaf || level === 'pte');
    const notPresent = (lo & _PAGE_PRESENT) === 0;
    const protnone = notPresent && (lo & _PAGE_PROTNONE) !== 0;
    let pfn = entry_pfn(lo, hi); // protnone_mask(): a non-present entry's PFN is stored inverted
    if (leaf) {
      const span = level === 'pmd' ? 512 : 512 * 512;
      pfn -= pfn % span; // pmd_pfn_mask(): bit 12 of a huge entry is PAT_LARGE, the rest reserved
      const reserved = level === 'pmd' ? (lo >>> 13) & 0xff : (lo >>> 13) & 0x1ffff;
      if (!notPresent && reserved !== 0)
        d.notes.push(
          `reserved bits 13-${level === 'pmd' ? 20 : 29} are set: a ${LEAF_SIZE[level]} is naturally aligned`,
        );
    }
    if (level === 'pte' || leaf) d.pkey = (hi >>> 27) & 0xf;
    d.pfn = pfn;
    const at = `pfn 0x${pfn.toString(16)}`;
    if (level === 'pte' || leaf) {
      d.kind = protnone ? 'protnone' : leaf ? 'huge page' : 'page';
      const access = `${(lo & _PAGE_RW) !== 0 ? 'writable' : 'read-only'}${(hi & _PAGE_NX_HI) !== 0 ? ', no-exec' : ''}`;
      if (protnone)
        d.summary = `PROT_NONE ${LEAF_SIZE[level]} at ${at} (pte_protnone(): mapped, no access; the PFN is stored inverted)`;
      else if (notPresent)
        d.summary = `invalidated ${LEAF_SIZE[level]} at ${at} (pmd_mkinvalid(): a huge PMD being split; pmd_present() is still true)`;
      else d.summary = `${LEAF_SIZE[level]} at ${at}, ${access}`;
    } else if (upper && (lo & _PAGE_PSE) !== 0) {
      d.kind = 'bad';
      d.summary = `${level} with PSE: x86-64 has no ${level}-level huge pages (${level}_bad())`;
    } else {
      d.kind = 'table';
      const next = level === 'pgd' && levels === 4 ? 'pud' : ENTRY_LEVELS[ENTRY_LEVELS.indexOf(level) - 1];
      d.summary = `points to the ${next} table at ${at}`;
      const must = _PAGE_TABLE & ~(_PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY);
      if ((lo & 0xfff & ~(_PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY)) !== must) {
        d.kind = 'bad';
        d.summary += `; ${level}_bad(): a user table entry carries exactly _PAGE_TABLE's flags`;
      }
    }
    return d;
  }
  if (level !== 'pte' && level !== 'pmd') {
    d.kind = 'bad';
    d.bits = presentBits(lo, hi, level, false);
    d.summary = `not present and not none: x86-64 keeps no swap entries in a ${level}`;
    return d;
  }
  // A swap-format entry: type in bits 59-63, the offset inverted in bits 9-58 (L1TF).
  const type = swp_type(lo, hi);
  const offset = swp_offset(lo, hi);
  d.swap = { type, offset };
  if ((lo & _PAGE_SWP_SOFT_DIRTY) !== 0) d.bits.push('swp_soft_dirty');
  if ((lo & _PAGE_SWP_UFFD_WP) !== 0) d.bits.push('swp_uffd_wp');
  if ((lo & _PAGE_SWP_EXCLUSIVE) !== 0) d.bits.push('swp_exclusive');
  const pfnBits = maxPhysmemBits(levels) - 12; // SWP_PFN_BITS
  const pfn = offset % 2 ** pfnBits;
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const where = level === 'pmd' ? 'PMD (THP) ' : '';
  if (type < MAX_SWAPFILES) {
    d.kind = 'swap';
    d.summary = `${where}swap entry: slot ${hex(offset)} of swap file ${type}`;
  } else if (type === SWP_HWPOISON) {
    d.kind = 'hwpoison';
    d.pfn = pfn;
    d.summary = `hwpoison entry: poisoned pfn ${hex(pfn)}`;
  } else if (type >= SWP_MIGRATION_READ && type <= SWP_MIGRATION_WRITE) {
    d.kind = 'migration';
    d.pfn = pfn;
    const kind =
      type === SWP_MIGRATION_READ ? 'read' : type === SWP_MIGRATION_WRITE ? 'write' : 'read_exclusive';
    const young = Math.floor(offset / 2 ** pfnBits) % 2 === 1;
    const dirty = Math.floor(offset / 2 ** (pfnBits + 1)) % 2 === 1;
    d.migration = { kind, young, dirty };
    d.summary = `${where}migration entry (${kind}) for pfn ${hex(pfn)}${young ? ', young' : ''}${dirty ? ', dirty' : ''}`;
    if (offset >= 2 ** (pfnBits + 2))
      d.notes.push(
        `offset bits above SWP_PFN_BITS + 2 (${pfnBits + 2}) are set: not a valid migration entry`,
      );
  } else if (type >= SWP_DEVICE_WRITE && type <= SWP_DEVICE_EXCLUSIVE) {
    d.kind = 'device';
    d.pfn = pfn;
    const kind =
      type === SWP_DEVICE_WRITE
        ? 'device private, writable'
        : type === SWP_DEVICE_READ
          ? 'device private, read-only'
          : 'device exclusive';
    d.summary = `${kind} entry for pfn ${hex(pfn)}`;
  } else if (type === SWP_PTE_MARKER) {
    d.kind = 'marker';
    const m: string[] = [];
    if ((offset & PTE_MARKER_UFFD_WP) !== 0) m.push('uffd_wp');
    if ((offset & PTE_MARKER_POISONED) !== 0) m.push('poisoned');
    if ((offset & PTE_MARKER_GUARD) !== 0) m.push('guard');
    const unknown = offset - (offset & (PTE_MARKER_UFFD_WP | PTE_MARKER_POISONED | PTE_MARKER_GUARD));
    if (unknown !== 0) m.push(`unknown ${hex(unknown)}`);
    d.markers = m;
    d.summary = `PTE marker: ${m.length === 0 ? 'none set' : m.join(', ')}${m.includes('guard') ? ' (MADV_GUARD_INSTALL)' : ''}`;
  }
  if ((lo & 0x1ff & ~(_PAGE_SWP_SOFT_DIRTY | _PAGE_SWP_UFFD_WP | _PAGE_SWP_EXCLUSIVE)) !== 0)
    d.notes.push('bits 4-8 of a swap entry are set: the kernel never writes such an entry');
  return d;
}

/** The flag names `--flags` accepts for a present entry, and their low-word bits. */
const PRESENT_FLAGS: Record<string, number> = {
  present: _PAGE_PRESENT,
  rw: _PAGE_RW,
  user: _PAGE_USER,
  pwt: _PAGE_PWT,
  pcd: _PAGE_PCD,
  accessed: _PAGE_ACCESSED,
  dirty: _PAGE_DIRTY,
  pse: _PAGE_PSE,
  pat: _PAGE_PSE,
  global: _PAGE_GLOBAL,
  protnone: _PAGE_PROTNONE,
  special: _PAGE_SPECIAL,
  uffd_wp: _PAGE_UFFD_WP,
  soft_dirty: _PAGE_SOFT_DIRTY,
  pat_large: _PAGE_PAT_LARGE,
};
/** Flags of the high word. */
const PRESENT_FLAGS_HI: Record<string, number> = {
  nx: _PAGE_NX_HI,
  softw4: 1 << 25,
  saved_dirty: 1 << 26,
};
/** The flag names `--flags` accepts with --swap-type/--migration/--marker. */
const SWAP_FLAGS: Record<string, number> = {
  soft_dirty: _PAGE_SWP_SOFT_DIRTY,
  uffd_wp: _PAGE_SWP_UFFD_WP,
  exclusive: _PAGE_SWP_EXCLUSIVE,
};
const PTE_MARKER_NAMES: Record<string, number> = {
  uffd_wp: PTE_MARKER_UFFD_WP,
  poisoned: PTE_MARKER_POISONED,
  guard: PTE_MARKER_GUARD,
};
const MIGRATION_TYPES: Record<string, number> = {
  read: SWP_MIGRATION_READ,
  read_exclusive: SWP_MIGRATION_READ_EXCLUSIVE,
  write: SWP_MIGRATION_WRITE,
};

export interface EncodeRequest {
  level: EntryLevel;
  levels: 4 | 5;
  pfn?: number;
  flags: string[];
  swapType?: number;
  offset?: number;
  migration?: string;
  markers?: string[];
  pkey?: number;
}

/**
 * Build an entry: present (pfn + flags), swap (type + offset), migration (kind + pfn) or marker.
 * Returns the two words, or a message saying what is wrong with the request.
 */
export function encodeEntry(req: EncodeRequest): { lo: number; hi: number } | string {
  const kinds = [req.swapType !== undefined, req.migration !== undefined, req.markers !== undefined];
  if (kinds.filter(Boolean).length > 1) return 'give one of --swap-type, --migration and --marker';
  const swapLike = kinds.some(Boolean);
  if (swapLike) {
    if (req.level !== 'pte' && req.level !== 'pmd') return `x86-64 keeps no swap entries in a ${req.level}`;
    let lo = 0;
    for (const f of req.flags) {
      const bit = SWAP_FLAGS[f];
      if (bit === undefined)
        return `--flags: "${f}" is not a swap-entry flag (${Object.keys(SWAP_FLAGS).join(', ')})`;
      lo |= bit;
    }
    let type: number;
    let offset: number;
    if (req.swapType !== undefined) {
      if (req.swapType >= MAX_SWAPFILES)
        return `--swap-type: expected 0 to ${MAX_SWAPFILES - 1} (swap files)`;
      if (req.pfn !== undefined) return '--pfn does not go with --swap-type (use --offset)';
      type = req.swapType;
      offset = req.offset ?? 0;
    } else if (req.migration !== undefined) {
      const t = MIGRATION_TYPES[req.migration];
      if (t === undefined)
        return `--migration: expected ${Object.keys(MIGRATION_TYPES).join(', ')}, found "${req.migration}"`;
      if (req.pfn === undefined) return '--migration needs --pfn';
      if (req.pfn >= 2 ** (maxPhysmemBits(req.levels) - 12))
        return `--pfn: beyond MAX_PHYSMEM_BITS (${maxPhysmemBits(req.levels)}) with ${req.levels}-level paging`;
      type = t;
      offset = req.pfn;
    } else {
      type = SWP_PTE_MARKER;
      offset = 0;
      for (const m of req.markers ?? []) {
        const bit = PTE_MARKER_NAMES[m];
        if (bit === undefined)
          return `--marker: expected ${Object.keys(PTE_MARKER_NAMES).join(', ')}, found "${m}"`;
        offset |= bit;
      }
      if (offset === 0) return '--marker: name at least one marker';
    }
    if (offset >= 2 ** SWP_OFFSET_BITS) return `--offset: the swap offset has ${SWP_OFFSET_BITS} bits`;
    mk_swp_pte(type, offset, lo);
    return { lo: entryOut.lo, hi: entryOut.hi };
  }
  if (req.offset !== undefined) return '--offset goes with --swap-type';
  let lo = 0;
  let hi = 0;
  for (const f of req.flags) {
    const bit = PRESENT_FLAGS[f];
    const hbit = PRESENT_FLAGS_HI[f];
    if (bit !== undefined) lo |= bit;
    else if (hbit !== undefined) hi |= hbit;
    else
      return `--flags: unknown flag "${f}" (${[...Object.keys(PRESENT_FLAGS), ...Object.keys(PRESENT_FLAGS_HI)].join(', ')})`;
  }
  const pfn = req.pfn ?? 0;
  if (pfn >= PFN_FIELD_SPAN) return '--pfn: an entry holds a 40-bit PFN (bits 12-51)';
  const huge = (req.level === 'pmd' || req.level === 'pud') && (lo & _PAGE_PSE) !== 0;
  if (huge) {
    const span = req.level === 'pmd' ? 512 : 512 * 512;
    if (pfn % span !== 0) return `--pfn: a ${LEAF_SIZE[req.level]} needs a PFN that is a multiple of ${span}`;
  }
  if ((lo & _PAGE_PAT_LARGE) !== 0 && !huge)
    return '--flags: pat_large is bit 12 of a huge pmd/pud (with pse)';
  if (req.pkey !== undefined) hi |= req.pkey << 27;
  // A PROT_NONE entry stores its PFN inverted (pfn_pte() with protnone_mask()).
  const inv = (lo & _PAGE_PRESENT) === 0 && lo !== 0;
  mk_entry(inv ? PFN_FIELD_SPAN - 1 - pfn : pfn, lo & 0xfff, hi);
  let outLo = entryOut.lo;
  if ((lo & _PAGE_PAT_LARGE) !== 0) outLo = (outLo | _PAGE_PAT_LARGE) >>> 0;
  return { lo: outLo, hi: (entryOut.hi | hi) >>> 0 };
}
