// The mm invariant checker tests run after every step: refcounts and mapcounts agree with the
// page tables, the swap cache and the shmem objects; RSS and page-table counters match what
// the tables hold; no lock is left held; no frame is leaked.

import { HPAGE_PMD_NR, KernelBug } from '@mmsim/core';
import {
  entry_pfn,
  is_migration_type,
  MAX_SWAPFILES,
  pmd_leaf,
  pte_present,
  swp_offset,
  swp_type,
} from './arch.ts';
import { mm_counter_file } from './filemap.ts';
import type { Machine } from './machine.ts';
import { vm_normal_page } from './memory.ts';
import { MM_ANONPAGES, MM_FILEPAGES, MM_SHMEMPAGES, MM_SWAPENTS, type MmStruct } from './mm.ts';
import { E, entryTable, readEntry } from './pgtable.ts';
import { PG_buddy, PG_ptl, PG_reserved, PG_swapcache, PG_table, PG_tail } from './physmem.ts';
import { GUP_PIN_COUNTING_BIAS } from './rmap.ts';

export interface CheckOptions {
  /** References tests hold on purpose (FOLL_GET results not yet put): pfn -> count. */
  extraRefs?: Map<number, number>;
}

/** Check every invariant of the machine's memory; throws KernelBug listing the violations. */
export function checkMmInvariants(m: Machine, opts: CheckOptions = {}): void {
  const pm = m.phys;
  const errors: string[] = [];
  const n = pm.highWaterMark;
  const pteMaps = new Int32Array(n);
  const pmdMaps = new Int32Array(n);
  const reachedTables = new Uint8Array(n);
  const swapRefs = new Map<number, number>();
  for (const mm of m.mms) {
    if (mm.pgd === 0) continue;
    const counts = { anon: 0, file: 0, shmem: 0, swap: 0, tables: 1 };
    reachedTables[mm.pgd] = 1;
    walkTables(m, mm, mm.pgd, mm.levels === 5 ? 4 : 3, 0, counts, {
      pteMaps,
      pmdMaps,
      reachedTables,
      swapRefs,
    });
    for (const t of mm.deposited.values()) {
      reachedTables[t] = 1;
      counts.tables++;
    }
    if (counts.anon !== mm.rss[MM_ANONPAGES])
      errors.push(`${mm.owner}: MM_ANONPAGES ${mm.rss[MM_ANONPAGES]} but ${counts.anon} anon pages mapped`);
    if (counts.swap !== mm.rss[MM_SWAPENTS])
      errors.push(`${mm.owner}: MM_SWAPENTS ${mm.rss[MM_SWAPENTS]} but ${counts.swap} swap entries`);
    if (counts.file !== mm.rss[MM_FILEPAGES])
      errors.push(`${mm.owner}: MM_FILEPAGES ${mm.rss[MM_FILEPAGES]} but ${counts.file} file pages`);
    if (counts.shmem !== mm.rss[MM_SHMEMPAGES])
      errors.push(`${mm.owner}: MM_SHMEMPAGES ${mm.rss[MM_SHMEMPAGES]} but ${counts.shmem} shmem pages`);
    if (counts.tables !== mm.nrPtes)
      errors.push(`${mm.owner}: nr_ptes ${mm.nrPtes} but ${counts.tables} page tables`);
    if (mm.mmapLocked !== null) errors.push(`${mm.owner}: mmap_lock left held (${mm.mmapLocked})`);
  }
  const shmemRefs = new Int32Array(n);
  for (const mm of m.mms)
    for (const v of mm.vmas) if (v.shmem !== null) for (const p of v.shmem.pages.values()) shmemRefs[p] = 1;
  // a file's page cache holds one reference on each of its pages, mapped or not
  for (const f of m.files.values()) for (const p of f.pages.values()) shmemRefs[p] = 1;
  // A migration holds the source's isolation reference and the destination's allocation one.
  const migrating = new Int32Array(n);
  for (const mig of m.migrations.values()) {
    migrating[mig.src]++;
    migrating[mig.dst]++;
  }
  // The lru_activate batch holds a reference on each folio in it (lru.ts).
  const batched = new Int32Array(n);
  const fbatch = m.cpu_fbatches.lru_activate;
  for (let i = 0; i < fbatch.nr; i++) batched[fbatch.folios[i]]++;
  let tables = 0;
  let used = 0;
  for (let pfn = 1; pfn < n; pfn++) {
    const f = pm.flags[pfn];
    if ((f & PG_buddy) !== 0) continue;
    used++;
    if ((f & PG_table) !== 0) {
      tables++;
      if ((f & PG_ptl) !== 0) errors.push(`page table ${pfn}: PTL left held`);
      if (reachedTables[pfn] === 0) errors.push(`page table ${pfn}: leaked (not reachable from any mm)`);
      continue;
    }
    if ((f & PG_tail) !== 0) continue;
    if ((f & PG_reserved) !== 0) continue;
    const nr = pm.folio_nr_pages(pfn);
    let maps = 0;
    for (let p = pfn; p < pfn + nr; p++) {
      // Migration entries stand for mappings try_to_migrate() removed: no mapcount, no ref.
      if (pm.mapcount[p] !== pteMaps[p])
        errors.push(`page ${p}: mapcount ${pm.mapcount[p]} but ${pteMaps[p]} PTE mappings`);
      maps += pteMaps[p];
    }
    if (pm.entireMapcount[pfn] !== pmdMaps[pfn])
      errors.push(`folio ${pfn}: entire_mapcount ${pm.entireMapcount[pfn]} but ${pmdMaps[pfn]} PMD mappings`);
    maps += pmdMaps[pfn];
    // _large_mapcount: every PTE mapping and every PMD mapping once; the mm-id slots account for
    // no more than that.
    if (nr > 1) {
      if (pm.folio_large_mapcount(pfn) !== maps)
        errors.push(`folio ${pfn}: large_mapcount ${pm.folio_large_mapcount(pfn)} but ${maps} mappings`);
      if (pm.mm_id_mapcount(pfn, 0) + pm.mm_id_mapcount(pfn, 1) > maps)
        errors.push(
          `folio ${pfn}: mm-id slots account for more than its ${maps} mappings: ${pm.dumpPage(pfn)}`,
        );
    }
    const pins = pm.pincount[pfn] * (nr > 1 ? 1 : GUP_PIN_COUNTING_BIAS);
    const expected =
      maps +
      ((f & PG_swapcache) !== 0 ? 1 : 0) +
      shmemRefs[pfn] +
      pins +
      (opts.extraRefs?.get(pfn) ?? 0) +
      migrating[pfn] +
      batched[pfn];
    if (pm.refcount[pfn] !== expected)
      errors.push(`folio ${pfn}: refcount ${pm.refcount[pfn]}, expected ${expected} (${maps} mappings)`);
    if (expected === 0) errors.push(`folio ${pfn}: allocated but unused (leaked)`);
  }
  if (tables !== pm.nrPageTables) errors.push(`NR_PAGETABLE ${pm.nrPageTables} but ${tables} table pages`);
  if (used !== pm.nrUsed) errors.push(`nrUsed ${pm.nrUsed} but ${used} frames in use`);
  for (const [off, refs] of swapRefs)
    if (m.swap.swapCount(off) !== refs)
      errors.push(`swap slot ${off}: count ${m.swap.swapCount(off)} but ${refs} swap PTEs`);
  for (const [off, folio] of m.swap.cache)
    if (pm.private[folio] !== off || (pm.flags[folio] & PG_swapcache) === 0)
      errors.push(`swap cache ${off} -> ${folio} inconsistent`);
  if (errors.length > 0)
    throw new KernelBug(`mm invariants violated (${errors.length})`, errors.slice(0, 20).join('\n'));
}

interface Tally {
  pteMaps: Int32Array;
  pmdMaps: Int32Array;
  reachedTables: Uint8Array;
  swapRefs: Map<number, number>;
}

const SHIFTS = [12, 21, 30, 39, 48];

function walkTables(
  m: Machine,
  mm: MmStruct,
  table: number,
  lvl: number,
  base: number,
  c: { anon: number; file: number; shmem: number; swap: number; tables: number },
  t: Tally,
): void {
  const pm = m.phys;
  const size = 2 ** SHIFTS[lvl];
  for (let i = 0; i < 512; i++) {
    readEntry(pm, table, i);
    const lo = E.lo;
    const hi = E.hi;
    if (lo === 0 && hi === 0) continue;
    const addr = base + i * size;
    if (lvl === 0) {
      if (pte_present(lo)) {
        const page = vm_normal_page(pm, lo, hi);
        if (page === 0) continue;
        t.pteMaps[page]++;
        if (pm.PageAnon(page)) c.anon++;
        else if (mm_counter_file(pm, page) === MM_FILEPAGES) c.file++;
        else c.shmem++;
      } else {
        const type = swp_type(lo, hi);
        const off = swp_offset(lo, hi);
        if (type < MAX_SWAPFILES) {
          c.swap++;
          t.swapRefs.set(off, (t.swapRefs.get(off) ?? 0) + 1);
        } else if (is_migration_type(type)) {
          // A migration entry keeps its RSS but no mapcount or reference (try_to_migrate()).
          c.anon++;
        }
      }
      continue;
    }
    if (lvl === 1 && pmd_leaf(lo)) {
      const pfn = entry_pfn(lo, hi);
      if (!pm.is_huge_zero_pfn(pfn)) {
        t.pmdMaps[pm.folio(pfn)]++;
        c.anon += HPAGE_PMD_NR;
      }
      continue;
    }
    const child = entryTable(lo, hi);
    if (child >= t.reachedTables.length || (pm.flags[child] & PG_table) === 0) {
      throw new KernelBug(
        `${mm.owner}: entry at 0x${addr.toString(16)} level ${lvl} points at non-table ${child}`,
      );
    }
    t.reachedTables[child] = 1;
    c.tables++;
    walkTables(m, mm, child, lvl - 1, addr, c, t);
  }
}
