// The shared helpers do what the packages' tests rely on: an unexpected WARN_ON fails a test, an
// expected one is required, and the page-table reads see what a fault installed.
import { PAGE_SIZE, WARN_ON, warnCount } from '@mmsim/core';
import {
  entry_pfn,
  FAULT_FLAG_WRITE,
  handle_mm_fault,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MmStruct,
  PROT_READ,
  PROT_WRITE,
  vm_mmap_pgoff,
} from '@mmsim/mmu';
import { describe, expect, it } from 'vitest';
import { expectWarn, failOnWarn, pmdAt, pteAt, setup } from '../src/index.ts';

failOnWarn();

describe('failOnWarn and expectWarn', () => {
  it('an unexpected WARN_ON throws', () => {
    expect(() => WARN_ON(true, 'boom')).toThrow(/unexpected WARN_ON: .*boom/);
  });

  it('expectWarn allows one and returns the value', () => {
    const value = expectWarn(() => {
      WARN_ON(true, 'expected');
      return 7;
    });
    expect(value).toBe(7);
    expect(warnCount()).toBe(1);
  });

  it('expectWarn fails when nothing warned', () => {
    expect(() => expectWarn(() => 0)).toThrow(/a WARN_ON was expected/);
  });

  it('the count starts from zero in every test', () => {
    expect(warnCount()).toBe(0);
  });
});

describe('setup, pteAt and pmdAt', () => {
  it('a machine with one process; the entries of a written page', () => {
    const { m, p } = setup((machine) => new MmStruct(machine, 4), { memoryMiB: 64 });
    expect(m.phys.nrFrames).toBe((64 * 2 ** 20) / PAGE_SIZE);
    const a = vm_mmap_pgoff(p, null, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    expect(pteAt(p, a)).toBeNull();
    expect(pmdAt(p, a)).toBeNull();
    p.mmap_read_lock();
    expect(handle_mm_fault(p.vma_lookup(a)!, a, FAULT_FLAG_WRITE)).toBe(0);
    p.mmap_read_unlock();
    const pte = pteAt(p, a)!;
    expect(entry_pfn(pte.lo, pte.hi)).toBeGreaterThan(0);
    expect(pmdAt(p, a)).not.toBeNull();
  });
});
