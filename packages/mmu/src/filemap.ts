// The page cache of a regular file (mm/filemap.c, Linux 6.18, reduced to what a MAP_PRIVATE
// mapping of it needs): the file's pages by index, each read from "disk" (a_ops->read_folio())
// once and shared by every process mapping the file. Its folios are not anonymous: KSM never
// merges them (scan_get_next_rmap_item() passes over !folio_test_anon() pages), and a write to a
// private mapping of the file puts an anonymous copy in its place (do_cow_fault(),
// wp_page_copy()). The cache outlives the mappings, as a file's does: its pages stay until the
// machine goes away unless reclaim drops a clean one (MADV_PAGEOUT); no writeback, readahead or
// truncation of regular files is simulated.

import type { Machine } from './machine.ts';
import { MM_FILEPAGES, MM_SHMEMPAGES, VM_RAND_READ } from './mm.ts';
import { PG_dirty, PG_filecache, PG_reclaim, PG_uptodate, type PhysMem } from './physmem.ts';

let nextMappingId = 1;

/** A handle for page->mapping of a page-cache or shmem object, unique in the process. */
export function newMappingId(): number {
  return nextMappingId++;
}

/** struct file with its inode's address_space (i_pages, i_size), for a regular file. */
export class MappedFile {
  readonly id: number = newMappingId();
  /** The name processes open it by (a scenario's `file`, a snapshot's maps path). */
  readonly name: string;
  /** i_size in pages: a fault past it is SIGBUS. */
  readonly nrPages: number;
  /** page index -> PFN (i_pages); the cache holds one reference on each page. */
  readonly pages: Map<number, number> = new Map();
  /** a_ops->read_folio(): the content (a Contents id) of page `index` on disk. */
  readonly read_folio: (index: number) => number;

  constructor(name: string, nrPages: number, read_folio: (index: number) => number) {
    this.name = name;
    this.nrPages = nrPages;
    this.read_folio = read_folio;
  }
}

/**
 * The machine's file `name` (open(2) of an existing file), created with `nrPages` pages whose
 * contents `read_folio` gives when it does not exist yet.
 */
export function filemap_open(
  m: Machine,
  name: string,
  nrPages: number,
  read_folio: (index: number) => number,
): MappedFile {
  let file = m.files.get(name);
  if (file === undefined) {
    file = new MappedFile(name, nrPages, read_folio);
    m.files.set(name, file);
  }
  return file;
}

/**
 * filemap_get_folio() with FGP_CREAT, then filemap_read_folio(): the cached page at `index`, read
 * into a new page when it is not cached; 0 when no memory is left. No reference is taken for the
 * caller (the cache's keeps it alive). Readahead is not simulated: a miss reads one page.
 */
export function filemap_get_folio(pm: PhysMem, file: MappedFile, index: number): number {
  let pfn = file.pages.get(index);
  if (pfn !== undefined) return pfn;
  pfn = pm.alloc_pages(0);
  if (pfn === 0) return 0;
  pm.setMapping(pfn, file.id, 0);
  pm.index[pfn] = index;
  pm.flags[pfn] |= PG_filecache | PG_uptodate;
  pm.setFrameContent(pfn, file.read_folio(index));
  file.pages.set(index, pfn);
  return pfn;
}

/**
 * filemap_fault()'s page (mm/filemap.c, 6.18) for a fault at `index` of a VMA with `vm_flags`:
 * filemap_get_folio(), then do_async_mmap_readahead(), which on a folio marked PG_readahead starts
 * async readahead and clears the mark (page_cache_async_ra(); not under MADV_RANDOM's
 * VM_RAND_READ). The readahead itself is not simulated. The PFN, 0 when no memory is left.
 */
export function filemap_fault(pm: PhysMem, file: MappedFile, index: number, vm_flags: number): number {
  const pfn = filemap_get_folio(pm, file, index);
  if (pfn !== 0 && (vm_flags & VM_RAND_READ) === 0) pm.flags[pfn] &= ~PG_reclaim;
  return pfn;
}

/**
 * write(2) of page `index` of the file (generic_perform_write(), mm/filemap.c 6.18): its page in
 * the cache (read first on a miss), then folio_mark_dirty(). A dirty page stays in the cache until
 * written back, which the simulator never does: reclaim unmaps it and keeps it (shrink_folio_list()
 * does not write file pages back outside kswapd). The PFN, 0 when no memory is left.
 */
export function filemap_write_folio(pm: PhysMem, file: MappedFile, index: number): number {
  const pfn = filemap_get_folio(pm, file, index);
  if (pfn !== 0) pm.flags[pfn] |= PG_dirty;
  return pfn;
}

/** mm_counter_file() (include/linux/mm.h): the RSS counter of a mapped non-anonymous folio. */
export function mm_counter_file(pm: PhysMem, folio: number): number {
  return (pm.flags[folio] & PG_filecache) !== 0 ? MM_FILEPAGES : MM_SHMEMPAGES;
}
