// Shared anonymous memory (mm/shmem.c, reduced to what MAP_SHARED|MAP_ANONYMOUS needs): an
// object holding one page per offset, shared by every VMA (and forked child) that maps it.
// KSM never merges these pages (VM_SHARED is refused by ksm_compatible()).

import { newMappingId } from './filemap.ts';
import type { VmAreaStruct } from './mm.ts';
import type { PhysMem } from './physmem.ts';

export class ShmemObject {
  readonly id: number = newMappingId();
  /** page index -> PFN; the object holds one reference on each page. */
  readonly pages: Map<number, number> = new Map();
  /** VMAs mapping this object. */
  users = 0;
}

/** shmem_get_folio(): the object's page at `index`, allocated (zeroed) on first use; 0 on OOM. */
export function shmem_get_folio(vma: VmAreaStruct, index: number): number {
  const obj = vma.shmem!;
  let pfn = obj.pages.get(index);
  if (pfn !== undefined) return pfn;
  const pm = vma.vm_mm.machine.phys;
  pfn = pm.alloc_pages(0);
  if (pfn === 0) return 0;
  pm.setMapping(pfn, obj.id, 0);
  pm.index[pfn] = index;
  obj.pages.set(index, pfn);
  return pfn;
}

/**
 * filemap_remove_folio() (mm/filemap.c): the object no longer holds its page at `index`, and
 * drops its reference (a hole punch, or reclaim of a clean page).
 */
export function filemap_remove_folio(
  obj: { readonly pages: Map<number, number> },
  pm: PhysMem,
  index: number,
): void {
  const pfn = obj.pages.get(index);
  if (pfn === undefined) return;
  obj.pages.delete(index);
  pm.put_page(pfn);
}

/** Drop a VMA's use of the object; the last user frees its pages. */
export function shmem_release(vma: VmAreaStruct): void {
  const obj = vma.shmem;
  if (obj === null) return;
  vma.shmem = null;
  if (--obj.users > 0) return;
  const pm = vma.vm_mm.machine.phys;
  for (const pfn of obj.pages.values()) pm.put_page(pfn);
  obj.pages.clear();
}
