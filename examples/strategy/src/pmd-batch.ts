// An example break_ksm() of one's own: "pmd_batch". range_walk (Linux 6.19) restarts
// walk_page_range_vma() from the top after every KSM page it unshares; this one lets its pmd_entry
// collect every KSM page of one PTE table under a single PTL hold, stops the walk, unshares the
// batch, and walks on from the same PMD (which it re-checks, so a page a fault could not break is
// found again, as range_walk would find it). Per PMD that holds KSM pages: two walks, one PTL
// hold per walk, one fault per page.
//
// Try it:   pnpm mmsim run scenarios/ksm-tests-unmerge.yaml --strategy ./examples/strategy/src/pmd-batch.ts
//           pnpm bench unmerge --quick --strategy ./examples/strategy/src/pmd-batch.ts
// Both check it against the built-in strategies first (same memory, same counters) and refuse it
// in one line if it differs.

import { ENOMEM, PAGE_SIZE, PTRS_PER_TABLE } from '@mmsim/core';
import type { BreakKsmStrategy } from '@mmsim/ksm';
import {
  _PAGE_PRESENT,
  entry_pfn,
  FAULT_FLAG_REMOTE,
  FAULT_FLAG_UNSHARE,
  handle_mm_fault,
  is_ksm_zero_pte,
  is_migration_entry,
  pmd_leaf,
  pte_index,
  pte_present,
  ptlLock,
  ptlUnlock,
  swp_offset,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  type VmAreaStruct,
  vm_normal_page,
} from '@mmsim/mmu';
import { type MmWalk, mmWalkOps, PGWALK_RDLOCK, PGWALK_WRLOCK, walk_page_range_vma } from '@mmsim/pagewalk';

/** Per-call state, handed to the callback through walk.private (never a module global: several
 * machines may run at once). */
class Batch {
  /** Addresses of the KSM pages found under one PMD. */
  readonly addrs = new Float64Array(PTRS_PER_TABLE);
  n = 0;
  /** The address the batch's PMD range starts at (where the next walk resumes). */
  from = 0;
}

/** pmd_entry: every KSM page (or KSM zero page, or migration entry of a KSM page) in [addr, next)
 * into the batch; 1 stops the walk when there is one. */
function collectPmdEntry(walk: MmWalk, addr: number, next: number): number {
  const batch = walk.private as Batch;
  const mm = walk.mm;
  if (mm.mm_users === 0) return 0;
  if (pmd_leaf(walk.lo) || (walk.lo & _PAGE_PRESENT) === 0) return 0; // THPs are never KSM pages
  const pm = mm.machine.phys;
  const c = mm.machine.counters;
  const pteT = entry_pfn(walk.lo, walk.hi);
  ptlLock(pm, c, pteT);
  const w = pm.tableWords(pteT);
  const base = pm.tableBase(pteT);
  batch.n = 0;
  for (let a = addr; a < next; a += PAGE_SIZE) {
    const o = base + pte_index(a) * 2;
    c.pteRead++;
    const lo = w[o];
    const hi = w[o + 1];
    if (lo === 0 && hi === 0) continue;
    let page = 0;
    if (pte_present(lo)) page = vm_normal_page(pm, lo, hi);
    else if (is_migration_entry(lo, hi)) page = swp_offset(lo, hi);
    if ((page !== 0 && pm.PageKsm(page)) || is_ksm_zero_pte(pm, lo, hi)) batch.addrs[batch.n++] = a;
  }
  ptlUnlock(pm, c, pteT);
  if (batch.n === 0) return 0;
  batch.from = addr;
  return 1;
}

const ops = mmWalkOps({ pmd_entry: collectPmdEntry, walk_lock: PGWALK_RDLOCK });
const opsLockVma = mmWalkOps({ pmd_entry: collectPmdEntry, walk_lock: PGWALK_WRLOCK });

const STOP = VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_OOM;

const pmdBatch: BreakKsmStrategy = {
  name: 'pmd_batch',
  kernel: 'example',
  description:
    'walk_page_range_vma() stopping at each PTE table with KSM pages, unsharing all of them, walking on',
  unmerge(vma: VmAreaStruct, start: number, end: number, lock_vma: boolean): number {
    const batch = new Batch();
    let addr = start;
    for (;;) {
      const r = walk_page_range_vma(vma, addr, end, lock_vma ? opsLockVma : ops, batch);
      if (r <= 0) return r;
      for (let i = 0; i < batch.n; i++) {
        const ret = handle_mm_fault(vma, batch.addrs[i], FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE);
        if ((ret & VM_FAULT_OOM) !== 0) return -ENOMEM;
        if ((ret & STOP) !== 0) return 0;
      }
      addr = batch.from;
    }
  },
};

export default pmdBatch;
