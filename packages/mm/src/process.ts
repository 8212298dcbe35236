// The system-call layer: a simulated process whose mmap/munmap/mprotect/madvise/prctl/fork/exit
// and user-space memory accesses enter the kernel code (@mmsim/mmu's mm/mmap.c, mm/mprotect.c,
// uaccess; madvise.ts here). Each call throws ErrnoError with the kernel's errno on failure.

import { EAGAIN, EINVAL, ENOMEM, ErrnoError, hex, offsetInPage, PAGE_SIZE, VM_BUG_ON } from '@mmsim/core';
import {
  do_mprotect_pkey,
  dup_mmap,
  MAP_POPULATE,
  type Machine,
  type MappedFile,
  MmStruct,
  mmput,
  type PagingLevels,
  PROT_WRITE,
  user_access_pfn,
  vm_mmap_pgoff,
  vm_munmap,
} from '@mmsim/mmu';
import { do_madvise } from './madvise.ts';

/** mmap(2)'s file descriptor and offset: a file of the machine and the first page it maps. */
export interface FileOffset {
  file: MappedFile;
  pgoff: number;
}

/** A simulated user process: its address space and the system calls that act on it. */
export class Process {
  readonly machine: Machine;
  readonly pid: number;
  readonly name: string;
  mm: MmStruct;
  exited = false;

  constructor(machine: Machine, name = '', levels?: PagingLevels, mm?: MmStruct) {
    this.machine = machine;
    this.pid = machine.nextPid++;
    this.name = name || `proc${this.pid}`;
    this.mm = mm ?? new MmStruct(machine, levels ?? machine.levels);
    this.mm.owner = this.name;
    machine.mms.add(this.mm);
  }

  private fail(errno: number, call: string, args: string): never {
    throw new ErrnoError(errno, call, args);
  }

  private alive(call: string): void {
    if (this.exited) this.fail(EINVAL, call, 'process has exited');
  }

  /** mmap(addr, len, prot, flags, -1, 0) for anonymous memory, or with `fd` (a regular file of
   * the machine, filemap_open(), and the page offset into it) mmap(addr, len, prot, flags, fd,
   * pgoff * PAGE_SIZE), MAP_PRIVATE. Returns the address. */
  mmap(addr: number | null, len: number, prot: number, flags: number, fd: FileOffset | null = null): number {
    const file = fd?.file ?? null;
    const pgoff = fd?.pgoff ?? 0;
    const fdArgs = file === null ? '-1, 0' : `${file.name}, ${pgoff * PAGE_SIZE}`;
    const args = `${addr === null ? 'NULL' : `0x${hex(addr)}`}, ${len}, ${prot}, 0x${hex(flags)}, ${fdArgs}`;
    this.alive('mmap');
    const start = vm_mmap_pgoff(this.mm, addr, len, prot, flags, file, pgoff);
    if (start < 0) this.fail(-start, 'mmap', args);
    // mm_populate(): MAP_POPULATE faults the new range in after the mmap lock is dropped.
    if ((flags & MAP_POPULATE) !== 0) {
      const end = start + len;
      for (let a = start; a < end; a += PAGE_SIZE) this.translate(a, (prot & PROT_WRITE) !== 0, 'populate');
    }
    return start;
  }

  /** munmap(addr, len). */
  munmap(addr: number, len: number): void {
    this.alive('munmap');
    const err = vm_munmap(this.mm, addr, len);
    if (err !== 0) this.fail(-err, 'munmap', `0x${hex(addr)}, ${len}`);
  }

  /** mprotect(addr, len, prot). */
  mprotect(addr: number, len: number, prot: number): void {
    this.alive('mprotect');
    const err = do_mprotect_pkey(this.mm, addr, len, prot);
    if (err !== 0) this.fail(-err, 'mprotect', `0x${hex(addr)}, ${len}, ${prot}`);
  }

  /** madvise(addr, len, advice). */
  madvise(addr: number, len: number, advice: number): void {
    this.alive('madvise');
    const err = do_madvise(this.mm, addr, len, advice);
    if (err !== 0) this.fail(-err, 'madvise', `0x${hex(addr)}, ${len}, ${advice}`);
  }

  /** fork(): a child process sharing every private page copy-on-write (dup_mm()). */
  fork(name = ''): Process {
    this.alive('fork');
    const m = this.machine;
    const parent = this.mm;
    // dup_mm(): mm_alloc_pgd() failing makes fork() fail with -ENOMEM.
    const pgd = m.phys.allocPageTable();
    if (pgd === 0) this.fail(ENOMEM, 'fork', '');
    const child = new Process(m, name, parent.levels, new MmStruct(m, parent.levels, pgd));
    if (dup_mmap(child.mm, parent) !== 0) {
      child.exit();
      this.fail(ENOMEM, 'fork', '');
    }
    return child;
  }

  /** exit(): tear the address space down (mmput()). */
  exit(): void {
    if (this.exited) return;
    this.exited = true;
    mmput(this.mm);
  }

  /** set_mempolicy(MPOL_BIND, {nid}): allocate this process's new pages on node `nid`. */
  set_mempolicy_node(nid: number): void {
    this.alive('set_mempolicy');
    if (!Number.isInteger(nid) || nid < 0 || nid >= this.machine.phys.nrNodes)
      this.fail(EINVAL, 'set_mempolicy', `MPOL_BIND, node ${nid}`);
    this.mm.numaNode = nid;
  }

  /** prctl(option, arg2, arg3, arg4, arg5): the options KSM provides; others -> EINVAL. */
  prctl(option: number, arg2 = 0, arg3 = 0, arg4 = 0, arg5 = 0): number {
    const args = `${option}, ${arg2}, ${arg3}, ${arg4}, ${arg5}`;
    this.alive('prctl');
    const r = this.machine.hooks.prctl(this.mm, option, arg2, arg3, arg4, arg5);
    if (r === undefined) this.fail(EINVAL, 'prctl', args);
    if (r < 0) this.fail(-r, 'prctl', args);
    return r;
  }

  // ---- user-space access -----------------------------------------------------------------------

  /**
   * The PFN backing addr for a user access, faulting as the hardware would; sets the accessed
   * (and for writes dirty) bits as the MMU does.
   */
  translate(addr: number, write: boolean, call: string): number {
    const r = user_access_pfn(this.mm, addr, write);
    if (r === -EAGAIN) this.fail(EAGAIN, call, `0x${hex(addr)}: fault did not resolve`);
    if (r < 0) this.fail(-r, call, `0x${hex(addr)}`);
    return r;
  }

  /** Write bytes to user memory (like a store loop in the process). */
  write(addr: number, data: Uint8Array): void {
    this.alive('write');
    let off = 0;
    while (off < data.length) {
      const a = addr + off;
      const inPage = offsetInPage(a);
      const n = Math.min(PAGE_SIZE - inPage, data.length - off);
      const pfn = this.translate(a, true, 'write');
      this.machine.phys.writeBytes(pfn, inPage, data, off, n);
      off += n;
    }
  }

  /** Write one byte. */
  writeByte(addr: number, v: number): void {
    this.alive('write');
    const pfn = this.translate(addr, true, 'write');
    this.machine.phys.writeByte(pfn, offsetInPage(addr), v);
  }

  /** Overwrite a whole page (addr page-aligned) with 4096 bytes. */
  writePage(addr: number, page: Uint8Array): void {
    VM_BUG_ON(addr % PAGE_SIZE !== 0 || page.length !== PAGE_SIZE, 'writePage: unaligned or short page');
    this.alive('write');
    const pfn = this.translate(addr, true, 'write');
    this.machine.phys.writePage(pfn, page);
  }

  /** Overwrite a whole page (addr page-aligned) with a content of @mmsim/mmu's Contents (a fill
   * pattern, an interned page, a digest): the page refers to it, no bytes are written. */
  writeContent(addr: number, content: number): void {
    VM_BUG_ON(addr % PAGE_SIZE !== 0, 'writeContent: unaligned page');
    this.alive('write');
    const pfn = this.translate(addr, true, 'write');
    this.machine.phys.setFrameContent(pfn, content);
  }

  /** Read bytes from user memory. */
  read(addr: number, len: number): Uint8Array {
    this.alive('read');
    const out = new Uint8Array(len);
    let off = 0;
    while (off < len) {
      const a = addr + off;
      const inPage = offsetInPage(a);
      const n = Math.min(PAGE_SIZE - inPage, len - off);
      const pfn = this.translate(a, false, 'read');
      this.machine.phys.readBytes(pfn, inPage, out, off, n);
      off += n;
    }
    return out;
  }

  readByte(addr: number): number {
    this.alive('read');
    const pfn = this.translate(addr, false, 'read');
    return this.machine.phys.readByte(pfn, offsetInPage(addr));
  }

  /** Read one byte of the page (maps the zero page where nothing is mapped yet). */
  touch(addr: number): void {
    this.alive('read');
    this.translate(addr, false, 'read');
  }
}
