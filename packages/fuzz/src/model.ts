// The naive reference model the simulator is checked against: each process is a set of named
// regions at the addresses the scenario planner gives them, each page either unmapped or mapped
// with a protection and plain bytes (null = all zero). Private pages are copied on fork (a copy of
// the array of page references: contents are never modified in place); shared pages live in one
// array every sharer points at. Nothing here knows about frames, tables, swap or KSM: contents
// never depend on them.

import { PAGE_SIZE, PMD_SIZE } from '@mmsim/core';
import { REGION_BASE, REGION_GAP } from '@mmsim/scenario';

/** Page protection in the model: PROT_NONE, read-only, read-write. */
export const P_NONE = 0;
export const P_R = 1;
export const P_RW = 3;

export type ModelProt = typeof P_NONE | typeof P_R | typeof P_RW;

export function protFromName(p: 'none' | 'r' | 'rw' | undefined): ModelProt {
  return p === 'none' ? P_NONE : p === 'r' ? P_R : P_RW;
}

/** One region of one process. A forked child gets its own ModelRegion under the same name. */
export class ModelRegion {
  readonly name: string;
  readonly addr: number;
  readonly pages: number;
  readonly shared: boolean;
  readonly thp: boolean;
  /** 1 where the page is mapped. */
  readonly mapped: Uint8Array;
  readonly prot: Uint8Array;
  /** Page contents (null = zero). Shared regions: the shmem object's array, shared by all. */
  readonly data: (Uint8Array | null)[];

  constructor(
    name: string,
    addr: number,
    pages: number,
    shared: boolean,
    thp: boolean,
    mapped: Uint8Array,
    prot: Uint8Array,
    data: (Uint8Array | null)[],
  ) {
    this.name = name;
    this.addr = addr;
    this.pages = pages;
    this.shared = shared;
    this.thp = thp;
    this.mapped = mapped;
    this.prot = prot;
    this.data = data;
  }

  static create(name: string, addr: number, pages: number, shared: boolean, thp: boolean, prot: ModelProt) {
    const data: (Uint8Array | null)[] = new Array(pages).fill(null);
    return new ModelRegion(
      name,
      addr,
      pages,
      shared,
      thp,
      new Uint8Array(pages).fill(1),
      new Uint8Array(pages).fill(prot),
      data,
    );
  }

  /** The child's copy at fork: private contents copied (by reference: they are immutable). */
  forkCopy(): ModelRegion {
    return new ModelRegion(
      this.name,
      this.addr,
      this.pages,
      this.shared,
      this.thp,
      this.mapped.slice(),
      this.prot.slice(),
      this.shared ? this.data : this.data.slice(),
    );
  }

  anyMapped(): boolean {
    for (let i = 0; i < this.pages; i++) if (this.mapped[i] !== 0) return true;
    return false;
  }

  /** True when every page of [from, from+count) is mapped. */
  allMapped(from: number, count: number): boolean {
    for (let i = from; i < from + count; i++) if (this.mapped[i] === 0) return false;
    return true;
  }

  pageAddr(i: number): number {
    return this.addr + i * PAGE_SIZE;
  }
}

export class ModelProc {
  readonly name: string;
  /** Regions in mmap order (inherited ones first, as the planner orders them). */
  readonly regions: Map<string, ModelRegion>;
  alive = true;

  constructor(name: string, regions: Map<string, ModelRegion> = new Map()) {
    this.name = name;
    this.regions = regions;
  }
}

/** The whole model: processes by name, and the planner's region cursor. */
export class Model {
  readonly procs: Map<string, ModelProc> = new Map();
  /** Next region start, as planScenario() lays regions out (2 MiB aligned, REGION_GAP apart). */
  cursor: number = REGION_BASE;
  /** Counters for fresh names. */
  nextProc = 0;
  nextRegion = 0;

  liveProcs(): ModelProc[] {
    const out: ModelProc[] = [];
    for (const p of this.procs.values()) if (p.alive) out.push(p);
    return out;
  }

  /** Place a new region exactly as planScenario() does. */
  placeRegion(pages: number): number {
    const r = this.cursor % PMD_SIZE;
    const addr = r === 0 ? this.cursor : this.cursor + (PMD_SIZE - r);
    this.cursor = addr + pages * PAGE_SIZE + REGION_GAP;
    return addr;
  }

  /** Regions of a live process that still map at least one page. */
  mappedRegions(p: ModelProc): ModelRegion[] {
    const out: ModelRegion[] = [];
    for (const r of p.regions.values()) if (r.anyMapped()) out.push(r);
    return out;
  }
}

/** A page of `bytes` written at `offset` into a copy of `page` (null = zero). */
export function withByte(page: Uint8Array | null, offset: number, value: number): Uint8Array | null {
  if (page === null && value === 0) return null;
  const out = page === null ? new Uint8Array(PAGE_SIZE) : page.slice();
  out[offset] = value;
  return canonical(out);
}

/** null for an all-zero page (the model's canonical form), else the bytes. */
export function canonical(bytes: Uint8Array): Uint8Array | null {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return bytes;
  return null;
}
