// Reverse mapping for anonymous memory (mm/rmap.c, Linux 6.18): anon_vma setup and fork,
// adding and removing folio mappings (with CONFIG_MM_ID's per-mm tracking of large folios), AnonExclusive sharing, and rmap_walk() to every (vma,
// address) that maps a folio. KSM folios are walked through the KSM hook (rmap_walk_ksm).

import { BUG, PAGE_SIZE } from '@mmsim/core';
import type { Machine } from './machine.ts';
import { AnonVma, type MmStruct, type VmAreaStruct } from './mm.ts';
import {
  MM_ID_DUMMY,
  PAGE_MAPPING_ANON,
  PG_anon_exclusive,
  PG_head,
  PG_tail,
  type PhysMem,
} from './physmem.ts';

/** anon_vma_prepare(): make sure the VMA has an anon_vma; false on allocation failure. */
export function anon_vma_prepare(vma: VmAreaStruct): boolean {
  if (vma.anon_vma !== null) return true;
  const m = vma.vm_mm.machine;
  const av = new AnonVma(m.nextAnonVmaId++, null);
  m.anonVmas.set(av.id, av);
  vma.anon_vma = av;
  vma.anon_vma_chain.push(av);
  av.vmas.push(vma);
  return true;
}

/** anon_vma_fork(): the child VMA links to every anon_vma of the parent and gets its own. */
export function anon_vma_fork(vma: VmAreaStruct, pvma: VmAreaStruct): void {
  if (pvma.anon_vma === null) return;
  for (const av of pvma.anon_vma_chain) {
    vma.anon_vma_chain.push(av);
    av.vmas.push(vma);
  }
  const m = vma.vm_mm.machine;
  const av = new AnonVma(m.nextAnonVmaId++, pvma.anon_vma);
  m.anonVmas.set(av.id, av);
  vma.anon_vma = av;
  vma.anon_vma_chain.push(av);
  av.vmas.push(vma);
}

/** linear_page_index(): the page index of addr in the VMA's mapping. */
export function linear_page_index(vma: VmAreaStruct, addr: number): number {
  return (addr - vma.vm_start) / PAGE_SIZE + vma.vm_pgoff;
}

/** vma_address(): where page index `index` is mapped in the VMA, or -1 if outside it. */
export function vma_address(vma: VmAreaStruct, index: number): number {
  const addr = vma.vm_start + (index - vma.vm_pgoff) * PAGE_SIZE;
  return addr >= vma.vm_start && addr < vma.vm_end ? addr : -1;
}

// ---- CONFIG_MM_ID: which mms map a large folio (include/linux/rmap.h, 6.18) --------------------
// Every mapping of a large folio is also counted in _large_mapcount and, when the mapping mm holds
// one of the folio's two slots (or gets a free one), in that slot's _mm_id_mapcount.
// FOLIO_MM_IDS_SHARED_BIT ("maybe mapped shared") is set when a second mm gets a slot or an mm
// maps the folio while others already do, and cleared only when one slot accounts for every
// mapping: a third mm (no slot) keeps it set even after the slot holders are gone. Counts here
// are biased by +1 (0 = the kernel's -1), as PhysMem keeps them.

/** folio_set_large_mapcount() for a new large folio: `mapcount` mappings, all by `mm_id`. */
function folio_set_large_mapcount(pm: PhysMem, folio: number, mapcount: number, mm_id: number): void {
  if (pm.folio_mm_id(folio, 0) !== MM_ID_DUMMY || pm.folio_mm_id(folio, 1) !== MM_ID_DUMMY)
    BUG(`folio_set_large_mapcount: ${folio} has mm-id slots in use`, () => pm.dumpPage(folio));
  pm.set_large_mapcount(folio, mapcount);
  pm.set_mm_id_mapcount(folio, 0, mapcount);
  pm.folio_set_mm_id(folio, 0, mm_id);
}

/** folio_add_return_large_mapcount(): `diff` more mappings of the large folio by `mm_id`;
 * returns the new folio_large_mapcount(). */
export function folio_add_return_large_mapcount(
  pm: PhysMem,
  folio: number,
  diff: number,
  mm_id: number,
): number {
  const mapcount = pm.folio_large_mapcount(folio) + diff;
  pm.set_large_mapcount(folio, mapcount);
  if (pm.folio_mm_id(folio, 0) === mm_id) {
    pm.set_mm_id_mapcount(folio, 0, pm.mm_id_mapcount(folio, 0) + diff);
  } else if (pm.folio_mm_id(folio, 1) === mm_id) {
    pm.set_mm_id_mapcount(folio, 1, pm.mm_id_mapcount(folio, 1) + diff);
  } else if (pm.folio_mm_id(folio, 0) === MM_ID_DUMMY) {
    pm.folio_set_mm_id(folio, 0, mm_id);
    pm.set_mm_id_mapcount(folio, 0, diff);
    // We might have other mappings already.
    if (mapcount !== diff) pm.set_folio_mm_ids_shared(folio, true);
  } else if (pm.folio_mm_id(folio, 1) === MM_ID_DUMMY) {
    pm.folio_set_mm_id(folio, 1, mm_id);
    pm.set_mm_id_mapcount(folio, 1, diff);
    // Slot 0 certainly has mappings as well.
    pm.set_folio_mm_ids_shared(folio, true);
  }
  return mapcount;
}

/** folio_sub_return_large_mapcount(): `diff` fewer mappings of the large folio by `mm_id`;
 * returns the new folio_large_mapcount(). */
export function folio_sub_return_large_mapcount(
  pm: PhysMem,
  folio: number,
  diff: number,
  mm_id: number,
): number {
  const mapcount = pm.folio_large_mapcount(folio) - diff;
  if (mapcount < 0) BUG(`folio_sub_return_large_mapcount: ${folio} underflows`, () => pm.dumpPage(folio));
  pm.set_large_mapcount(folio, mapcount);
  // A slot may underflow (some mappings were added while no slot was free): it is freed then.
  for (let idx = 0; idx < 2; idx++) {
    if (pm.folio_mm_id(folio, idx) !== mm_id) continue;
    const slot = pm.mm_id_mapcount(folio, idx) - diff;
    if (slot > 0) {
      pm.set_mm_id_mapcount(folio, idx, slot);
      return mapcount;
    }
    pm.set_mm_id_mapcount(folio, idx, 0);
    pm.folio_set_mm_id(folio, idx, MM_ID_DUMMY);
    break;
  }
  // If one slot owns every mapping (or none is left), the folio is mapped exclusively.
  if (pm.mm_id_mapcount(folio, 0) === mapcount || pm.mm_id_mapcount(folio, 1) === mapcount)
    pm.set_folio_mm_ids_shared(folio, false);
  return mapcount;
}

/** Whether the page belongs to a large folio (its head or a tail). */
function page_in_large_folio(pm: PhysMem, pfn: number): boolean {
  return (pm.flags[pfn] & (PG_head | PG_tail)) !== 0;
}

/** folio_add_new_anon_rmap() for a freshly allocated folio: an order-0 one mapped by one PTE, or
 * a large one mapped by a PMD. */
export function folio_add_new_anon_rmap(
  pm: PhysMem,
  folio: number,
  vma: VmAreaStruct,
  addr: number,
  pmdMapped: boolean,
): void {
  const av = vma.anon_vma!;
  const nr = pm.folio_nr_pages(folio);
  pm.setMapping(folio, av.id, PAGE_MAPPING_ANON);
  const index = linear_page_index(vma, addr);
  for (let i = 0; i < nr; i++) {
    pm.index[folio + i] = index + i;
    pm.flags[folio + i] |= PG_anon_exclusive;
  }
  if (pm.folio_test_large(folio) !== pmdMapped)
    BUG(`folio_add_new_anon_rmap: only order-0 PTE and PMD mappings are simulated`, () => pm.dumpPage(folio));
  if (pmdMapped) {
    pm.entireMapcount[folio]++;
    folio_set_large_mapcount(pm, folio, 1, vma.vm_mm.mm_id);
  } else pm.mapcount[folio]++;
}

/** folio_add_anon_rmap_pte(): one more PTE mapping of an existing anon page, by `mm` (the kernel
 * passes the VMA; its vm_mm is what counts). */
export function folio_add_anon_rmap_pte(pm: PhysMem, pfn: number, exclusive: boolean, mm: MmStruct): void {
  pm.mapcount[pfn]++;
  if (page_in_large_folio(pm, pfn)) folio_add_return_large_mapcount(pm, pm.folio(pfn), 1, mm.mm_id);
  if (exclusive) pm.flags[pfn] |= PG_anon_exclusive;
}

/** folio_add_anon_rmap_ptes() without rmap flags: PTEs of `vma` now map the `nr` pages of the
 * large folio from `page` on (__split_huge_pmd_locked()). */
export function folio_add_anon_rmap_ptes(pm: PhysMem, page: number, nr: number, mm: MmStruct): void {
  for (let p = page; p < page + nr; p++) pm.mapcount[p]++;
  folio_add_return_large_mapcount(pm, pm.folio(page), nr, mm.mm_id);
}

/** __folio_dup_rmap() for one PTE (fork: folio_try_dup_anon_rmap_pte() once it may share the
 * page, folio_dup_file_rmap_pte()): the child's mm `dst` maps the page too. */
export function folio_dup_rmap_pte(pm: PhysMem, pfn: number, dst: MmStruct): void {
  pm.mapcount[pfn]++;
  if (page_in_large_folio(pm, pfn)) folio_add_return_large_mapcount(pm, pm.folio(pfn), 1, dst.mm_id);
}

/** __folio_dup_rmap() for a PMD (folio_try_dup_anon_rmap_pmd()): the child's mm `dst` maps the
 * large folio by a PMD too. */
export function folio_dup_rmap_pmd(pm: PhysMem, folio: number, dst: MmStruct): void {
  pm.entireMapcount[folio]++;
  folio_add_return_large_mapcount(pm, folio, 1, dst.mm_id);
}

/** folio_remove_rmap_pte(): a PTE of `mm` no longer maps the page. */
export function folio_remove_rmap_pte(pm: PhysMem, pfn: number, mm: MmStruct): void {
  if (pm.mapcount[pfn] <= 0) BUG(`folio_remove_rmap_pte: page ${pfn} not mapped`, () => pm.dumpPage(pfn));
  pm.mapcount[pfn]--;
  if (page_in_large_folio(pm, pfn)) folio_sub_return_large_mapcount(pm, pm.folio(pfn), 1, mm.mm_id);
}

/** folio_remove_rmap_pmd(): a PMD of `mm` no longer maps the large folio. */
export function folio_remove_rmap_pmd(pm: PhysMem, folio: number, mm: MmStruct): void {
  if (pm.entireMapcount[folio] <= 0) BUG(`folio_remove_rmap_pmd: ${folio} not PMD-mapped`);
  pm.entireMapcount[folio]--;
  folio_sub_return_large_mapcount(pm, folio, 1, mm.mm_id);
}

/** GUP_PIN_COUNTING_BIAS (include/linux/mm.h). */
export const GUP_PIN_COUNTING_BIAS = 1024;

/** folio_maybe_dma_pinned(). */
export function folio_maybe_dma_pinned(pm: PhysMem, folio: number): boolean {
  if (pm.folio_test_large(folio)) return pm.pincount[folio] > 0;
  return pm.refcount[folio] >= GUP_PIN_COUNTING_BIAS;
}

/**
 * folio_try_share_anon_rmap_pte(): clear PageAnonExclusive before the page may be shared
 * (fork, KSM's write_protect_page); fails (-EBUSY) while the folio may be pinned.
 */
export function folio_try_share_anon_rmap_pte(pm: PhysMem, folio: number, pfn: number): number {
  if (folio_maybe_dma_pinned(pm, folio)) return -16;
  pm.flags[pfn] &= ~PG_anon_exclusive;
  return 0;
}

/**
 * rmap_walk() for an anon or KSM folio: call `visit(vma, addr)` for every VMA that may map it,
 * until visit returns false. The visitor must check the page table itself (the kernel's
 * page_vma_mapped_walk()).
 */
export function rmap_walk(
  m: Machine,
  folio: number,
  visit: (vma: VmAreaStruct, addr: number) => boolean,
): void {
  const pm = m.phys;
  if (pm.PageKsm(folio)) {
    m.hooks.rmap_walk_ksm(folio, visit);
    return;
  }
  if (!pm.PageAnon(folio)) return;
  const av = m.anonVmas.get(pm.mappingHandle(folio));
  if (av === undefined) return;
  const index = pm.index[folio];
  const nr = pm.folio_nr_pages(folio);
  // The anon_vma's interval tree holds every VMA linked to it, its own and forked children's.
  const vmas = av.vmas.slice();
  for (const vma of vmas) {
    const first = vma_address(vma, index);
    const last = vma_address(vma, index + nr - 1);
    if (first < 0 && last < 0) continue;
    if (!visit(vma, first >= 0 ? first : vma.vm_start)) return;
  }
}
