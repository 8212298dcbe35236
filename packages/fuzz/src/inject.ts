// Fault injection: make the allocation sites of the mm core (frames, page tables, swap slots) and
// of KSM (rmap_items/mm_slots, stable nodes) fail on the nth call or at random, for one action.

import { mulberry32 } from '@mmsim/core';
import type { Ksm } from '@mmsim/ksm';
import type { Machine } from '@mmsim/mmu';
import type { FaultSite } from './actions.ts';

export interface InjectSpec {
  sites: readonly FaultSite[];
  /** Fail the nth call (1-based) to any of the sites; 0 = random with `prob`. */
  nth: number;
  prob: number;
  seed: number;
}

/** An armed injector: counts the calls to its sites and the failures it caused. */
export class Injector {
  readonly spec: InjectSpec;
  calls = 0;
  injected = 0;
  private readonly rng: () => number;

  constructor(spec: InjectSpec) {
    this.spec = spec;
    this.rng = mulberry32(spec.seed);
  }

  decide(site: FaultSite): boolean {
    if (!this.spec.sites.includes(site)) return false;
    this.calls++;
    const fail = this.spec.nth > 0 ? this.calls === this.spec.nth : this.rng() < this.spec.prob;
    if (fail) this.injected++;
    return fail;
  }

  /** Install the failAlloc hooks on the machine and KSM. */
  install(m: Machine, ksm: Ksm): void {
    m.phys.failAlloc = (_order, kind) => this.decide(kind === 'table' ? 'table' : 'page');
    m.swap.failAlloc = () => this.decide('swap');
    ksm.failAlloc = (what) => this.decide(what);
  }

  static uninstall(m: Machine, ksm: Ksm): void {
    m.phys.failAlloc = null;
    m.swap.failAlloc = null;
    ksm.failAlloc = null;
  }
}
