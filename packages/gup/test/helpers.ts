import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { Process } from '@mmsim/mm';
import {
  _PAGE_ACCESSED,
  _PAGE_PRESENT,
  _PAGE_SPECIAL,
  _PAGE_USER,
  checkMmInvariants,
  entry_pfn,
  entryOut,
  MADV_HUGEPAGE,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  type Machine,
  type MachineOptions,
  mk_pte,
  PROT_READ,
  PROT_WRITE,
  pte_index,
  setEntry,
  type VmAreaStruct,
} from '@mmsim/mmu';
import { expectWarn, failOnWarn, pmdAt, pteAt, setup as setupMachine } from '@mmsim/test-utils';
import { expect } from 'vitest';
import { resetGupFault } from '../src/index.ts';

/** A machine with one process. THP is 'madvise' unless the options say otherwise. */
export function setup(opts: MachineOptions = {}): { m: Machine; p: Process } {
  return setupMachine((m) => new Process(m, 'p'), opts);
}

export function anon(p: Process, pages: number, prot = PROT_READ | PROT_WRITE): number {
  return p.mmap(null, pages * PAGE_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS);
}

export function shared(p: Process, pages: number, prot = PROT_READ | PROT_WRITE): number {
  return p.mmap(null, pages * PAGE_SIZE, prot, MAP_SHARED | MAP_ANONYMOUS);
}

/** A PMD-aligned MADV_HUGEPAGE region of `pmds` PMDs. */
export function thpRegion(p: Process, pmds: number): number {
  const a = p.mmap(null, pmds * PMD_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  expect(a % PMD_SIZE).toBe(0);
  p.madvise(a, pmds * PMD_SIZE, MADV_HUGEPAGE);
  return a;
}

export function vmaAt(p: Process, addr: number): VmAreaStruct {
  const v = p.mm.vma_lookup(addr);
  if (v === null) throw new Error(`no VMA at 0x${addr.toString(16)}`);
  return v;
}

/** The PTE words at addr, or null without a PTE table. */
export function pte(p: Process, addr: number): { lo: number; hi: number } | null {
  return pteAt(p.mm, addr);
}

/** The PMD words at addr, or null without a PMD table. */
export function pmd(p: Process, addr: number): { lo: number; hi: number } | null {
  return pmdAt(p.mm, addr);
}

/** The PFN a PTE maps at addr (0 when none). */
export function pfnAt(p: Process, addr: number): number {
  const e = pte(p, addr);
  return e === null || (e.lo === 0 && e.hi === 0) ? 0 : entry_pfn(e.lo, e.hi);
}

/** Overwrite the PTE at addr (its table must exist). */
export function setPte(p: Process, addr: number, lo: number, hi: number): void {
  const t = p.mm.find_pte_table(addr);
  if (t === 0) throw new Error('no PTE table');
  setEntry(p.machine.phys, t, pte_index(addr), lo >>> 0, hi >>> 0);
}

/** Map a PFN without a struct page at addr (as a VM_MIXEDMAP driver's vmf_insert_pfn() would):
 * a special PTE to a frame the allocator never handed out. Returns the PFN. */
export function mapRawPfn(p: Process, addr: number, extraLo = 0): number {
  const pfn = p.machine.phys.nrFrames - 7;
  mk_pte(pfn, _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | extraLo, 0);
  setPte(p, addr, entryOut.lo | _PAGE_SPECIAL, entryOut.hi);
  return pfn;
}

/**
 * References a test holds on purpose (FOLL_GET results not yet put), by folio, for
 * checkMmInvariants()'s extraRefs. Pins need no entry: the checker counts them from pincount.
 */
export class Held {
  readonly refs: Map<number, number> = new Map();
  readonly m: Machine;
  constructor(m: Machine) {
    this.m = m;
  }
  add(page: number, n = 1): void {
    const f = this.m.phys.folio(page);
    this.refs.set(f, (this.refs.get(f) ?? 0) + n);
  }
  addAll(pages: ArrayLike<number>, n: number): void {
    for (let i = 0; i < n; i++) this.add(pages[i]);
  }
  put(page: number): void {
    const f = this.m.phys.folio(page);
    const left = (this.refs.get(f) ?? 0) - 1;
    if (left < 0) throw new Error(`Held.put: no reference on ${page}`);
    if (left === 0) this.refs.delete(f);
    else this.refs.set(f, left);
    this.m.phys.put_page(page);
  }
  putAll(pages: ArrayLike<number>, n: number): void {
    for (let i = 0; i < n; i++) this.put(pages[i]);
  }
  check(): void {
    checkMmInvariants(this.m, { extraRefs: this.refs });
  }
}

// ---- warnings: unexpected ones fail the test; expected ones are asserted ----------------------

/** failOnWarn() for a GUP test file; every test also gets the real fault handler back. */
export function installWarnGuard(): void {
  failOnWarn(resetGupFault);
}

export { expectWarn };
