// Page-table access for both paging modes (include/linux/pgtable.h, arch/x86/include/asm/
// pgtable*.h, mm/memory.c's __pXd_alloc). A table is a page-table frame; an entry pointer is the
// pair (table PFN, index). 4-level paging folds the P4D into the PGD (pgtable-nop4d semantics as
// x86 does at run time without LA57): the PGD entry *is* the P4D entry and pgd_none() is false.

import {
  BUG,
  type Counters,
  doubleFields,
  P4D_SHIFT,
  PAGE_SHIFT,
  PGDIR_SHIFT_LA57,
  PMD_SHIFT,
  PTRS_PER_TABLE,
  PUD_SHIFT,
  tableIndex,
} from '@mmsim/core';
import { _PAGE_PRESENT, _PAGE_PSE, _PAGE_TABLE, entry_pfn, entryOut, mk_entry, pmd_bad } from './arch.ts';
import { PG_ptl, PG_table, type PhysMem } from './physmem.ts';

/** Paging depth of an address space. */
export type PagingLevels = 4 | 5;

/** PGDIR_SHIFT for the paging mode. */
export function pgdirShift(levels: PagingLevels): number {
  return levels === 5 ? PGDIR_SHIFT_LA57 : P4D_SHIFT;
}

/** TASK_SIZE_MAX: 47 bits of user address space with 4 levels, 56 with 5 (minus a guard page). */
export function taskSizeMax(levels: PagingLevels): number {
  return (levels === 5 ? 2 ** 56 : 2 ** 47) - 4096;
}

/** The scratch entry the read helpers fill: the two words of the last entry read (doubles, as
 * entryOut's). */
export const E = { lo: 0, hi: 0 };
doubleFields(E, ['lo', 'hi']);

/** Read entry `idx` of `table` into E. */
export function readEntry(pm: PhysMem, table: number, idx: number): void {
  const w = pm.tableWords(table);
  const o = pm.tableBase(table) + idx * 2;
  E.lo = w[o];
  E.hi = w[o + 1];
}

/** set_pte_at()/set_pmd_at()/...: store an entry. */
export function setEntry(pm: PhysMem, table: number, idx: number, lo: number, hi: number): void {
  const w = pm.tableWords(table);
  const o = pm.tableBase(table) + idx * 2;
  w[o] = lo;
  w[o + 1] = hi;
}

export function clearEntry(pm: PhysMem, table: number, idx: number): void {
  setEntry(pm, table, idx, 0, 0);
}

/** Point entry idx of `table` at page-table page `child` (pmd_populate() and friends). */
export function populateEntry(pm: PhysMem, table: number, idx: number, child: number): void {
  mk_entry(child, _PAGE_TABLE, 0);
  setEntry(pm, table, idx, entryOut.lo, entryOut.hi);
}

/** The table a non-leaf entry points to (pmd_page()/pud_pgtable()...). */
export function entryTable(lo: number, hi: number): number {
  return entry_pfn(lo, hi);
}

/** True when every entry of a table is none. */
export function tableEmpty(pm: PhysMem, table: number): boolean {
  const w = pm.tableWords(table);
  const o = pm.tableBase(table);
  for (let i = 0; i < PTRS_PER_TABLE * 2; i++) if (w[o + i] !== 0) return false;
  return true;
}

// ---- locks -------------------------------------------------------------------------------

/**
 * spin_lock(ptl) for a page-table page's split lock (pte_lockptr()/pmd_lockptr()). Taking a
 * lock already held is the deadlock lockdep reports as "possible recursive locking detected".
 */
export function ptlLock(pm: PhysMem, counters: Counters, table: number): void {
  const f = pm.flags[table];
  if ((f & (PG_ptl | PG_table)) !== PG_table) ptlBug(f, table, true);
  pm.flags[table] = f | PG_ptl;
  counters.ptlLock++;
}

export function ptlUnlock(pm: PhysMem, counters: Counters, table: number): void {
  const f = pm.flags[table];
  if ((f & PG_ptl) === 0) ptlBug(f, table, false);
  pm.flags[table] = f & ~PG_ptl;
  counters.ptlUnlock++;
}

/** ptlLock()'s and ptlUnlock()'s failures, out of their line: they run several times per page a
 * scan merges, and V8 inlines them only while they are small. */
function ptlBug(flags: number, table: number, locking: boolean): never {
  if (!locking) BUG(`ptlUnlock: ptl of ${table} not held`);
  if ((flags & PG_ptl) !== 0) BUG(`possible recursive locking detected: ptl of page table ${table}`);
  BUG(`ptlLock: ${table} is not a page table`);
}

export function ptlHeld(pm: PhysMem, table: number): boolean {
  return (pm.flags[table] & PG_ptl) !== 0;
}

/**
 * pte_offset_map_lock() for a PMD entry (its two words, as a pmd_entry callback gets them): the
 * PTE table it points to, with that table's PTL taken; 0 (NULL, nothing locked) when the PMD is
 * none, huge, not present or bad, as __pte_offset_map() refuses those (6.5+).
 */
export function pte_offset_map_lock(pm: PhysMem, counters: Counters, pmdLo: number, pmdHi: number): number {
  if ((pmdLo & (_PAGE_PRESENT | _PAGE_PSE)) !== _PAGE_PRESENT || pmd_bad(pmdLo)) return 0;
  const t = entry_pfn(pmdLo, pmdHi);
  ptlLock(pm, counters, t);
  return t;
}

/** pte_unmap_unlock(). */
export function pte_unmap_unlock(pm: PhysMem, counters: Counters, pteTable: number): void {
  ptlUnlock(pm, counters, pteTable);
}

// ---- index helpers -------------------------------------------------------------------------

export function pte_index(addr: number): number {
  return tableIndex(addr, PAGE_SHIFT);
}
export function pmd_index(addr: number): number {
  return tableIndex(addr, PMD_SHIFT);
}
export function pud_index(addr: number): number {
  return tableIndex(addr, PUD_SHIFT);
}
export function p4d_index(addr: number): number {
  return tableIndex(addr, P4D_SHIFT);
}
export function pgd_index(levels: PagingLevels, addr: number): number {
  return tableIndex(addr, pgdirShift(levels));
}
