// Reverse mapping for anonymous memory (mm/rmap.c, Linux 6.18): anon_vma setup and fork,
// adding and removing folio mappings, AnonExclusive sharing, and rmap_walk() to every (vma,
// address) that maps a folio. KSM folios are walked through the KSM hook (rmap_walk_ksm).

import { BUG, PAGE_SIZE } from '@mmsim/core';
import type { Machine } from './machine.ts';
import { AnonVma, type VmAreaStruct } from './mm.ts';
import { PAGE_MAPPING_ANON, PG_anon_exclusive, type PhysMem } from './physmem.ts';

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

/** folio_add_new_anon_rmap() for a freshly allocated folio mapped by PTE (`nr` pages) or PMD. */
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
  if (pmdMapped) pm.entireMapcount[folio]++;
  else pm.mapcount[folio]++;
}

/** folio_add_anon_rmap_pte(): one more PTE mapping of an existing anon page. */
export function folio_add_anon_rmap_pte(pm: PhysMem, pfn: number, exclusive: boolean): void {
  pm.mapcount[pfn]++;
  if (exclusive) pm.flags[pfn] |= PG_anon_exclusive;
}

/** folio_remove_rmap_pte(). */
export function folio_remove_rmap_pte(pm: PhysMem, pfn: number): void {
  if (pm.mapcount[pfn] <= 0) BUG(`folio_remove_rmap_pte: page ${pfn} not mapped`, () => pm.dumpPage(pfn));
  pm.mapcount[pfn]--;
}

/** folio_remove_rmap_pmd(). */
export function folio_remove_rmap_pmd(pm: PhysMem, folio: number): void {
  if (pm.entireMapcount[folio] <= 0) BUG(`folio_remove_rmap_pmd: ${folio} not PMD-mapped`);
  pm.entireMapcount[folio]--;
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
export function folio_try_share_anon_rmap_pte(pm: PhysMem, pfn: number): number {
  if (folio_maybe_dma_pinned(pm, pm.folio(pfn))) return -16;
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
