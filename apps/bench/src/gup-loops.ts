// The follow_page/GUP loops the walk benchmark times (simulator-only). Each takes a prepared
// address space and returns the number of pages it handled; the caller measures time and reads
// the machine's counters. No allocation per page.

import { type KernelProfile, PAGE_SIZE } from '@mmsim/core';
import {
  FOLL_GET,
  follow_page,
  get_user_pages,
  get_user_pages_fast,
  pin_user_pages,
  pin_user_pages_fast,
  release_pages,
  unpin_user_pages,
} from '@mmsim/gup';
import type { MmStruct, VmAreaStruct } from '@mmsim/mmu';

/**
 * follow_page(FOLL_GET | extraFlags) + put_page() for each of `nr_pages` pages from `start` in
 * `vma` (which must cover them), under the mmap read lock as break_ksm() and the KSM scanner
 * hold it. Returns how many lookups found a page.
 */
export function benchFollowPage(
  vma: VmAreaStruct,
  start: number,
  nr_pages: number,
  extraFlags = 0,
  kernel: KernelProfile = vma.vm_mm.machine.kernel,
): number {
  const mm = vma.vm_mm;
  const pm = mm.machine.phys;
  const flags = FOLL_GET | extraFlags;
  let found = 0;
  mm.mmap_read_lock();
  let addr = start;
  for (let i = 0; i < nr_pages; i++, addr += PAGE_SIZE) {
    const page = follow_page(vma, addr, flags, kernel);
    if (page > 0) {
      pm.put_page(page);
      found++;
    }
  }
  mm.mmap_read_unlock();
  return found;
}

/** Which entry point benchGup() drives. */
export type GupBenchKind =
  | 'get_user_pages'
  | 'pin_user_pages'
  | 'get_user_pages_fast'
  | 'pin_user_pages_fast';

/**
 * `nr_pages` pages from `start` through the chosen entry point in batches of `batch` pages (the
 * kernel's callers use 512-page batches at most), releasing each batch (put_page() or
 * unpin_user_pages()) before the next. `pages` must hold `batch` entries. Returns the pages done;
 * stops early at the first batch that comes back short or with an errno.
 */
export function benchGup(
  kind: GupBenchKind,
  mm: MmStruct,
  start: number,
  nr_pages: number,
  batch: number,
  gup_flags: number,
  pages: Int32Array,
  kernel: KernelProfile = mm.machine.kernel,
): number {
  const pm = mm.machine.phys;
  const pin = kind === 'pin_user_pages' || kind === 'pin_user_pages_fast';
  let done = 0;
  let addr = start;
  while (done < nr_pages) {
    const n = Math.min(batch, nr_pages - done);
    let got: number;
    if (kind === 'get_user_pages') got = get_user_pages(mm, addr, n, gup_flags, pages, kernel);
    else if (kind === 'pin_user_pages') got = pin_user_pages(mm, addr, n, gup_flags, pages, kernel);
    else if (kind === 'get_user_pages_fast') got = get_user_pages_fast(mm, addr, n, gup_flags, pages, kernel);
    else got = pin_user_pages_fast(mm, addr, n, gup_flags, pages, kernel);
    if (got <= 0) break;
    if (pin) unpin_user_pages(pm, pages, got);
    else release_pages(pm, pages, got);
    done += got;
    addr += got * PAGE_SIZE;
    if (got < n) break;
  }
  return done;
}
