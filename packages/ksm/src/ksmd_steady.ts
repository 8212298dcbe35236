// Simulator only: fast-forward of ksmd through steady full scans. A full scan is a deterministic
// function of the KSM state at its start (no clock is read by a scan while no stable node chain
// exists, but for the advisor's at the scan's start and end, which the replay recomputes on its
// own timeline; batches end at full-scan ends, so a scan always starts a batch).
// When the state at the start of scan k + P equals the state at the start of scan k, exactly,
// field by field, and nothing was merged in between, scans k + P, k + 2P, ... repeat scans k ..
// k + P - 1 batch by batch: the same pages, checksums, compares, skips and counters, and so the
// same CPU time per batch. Such a period is then replayed from its recorded batches instead of
// simulated page by page. Smart scan keeps the state from being a fixed point (ages grow, skips
// cycle), but from age 9 on skip_age() is 8 whatever the age: the state compares ages above 8 as
// equal, which makes the steady skip cycle (9 scans) a period; replay adds each period's age
// increments afterwards, so the machine ends exactly as a page-by-page run leaves it.

import type { Ksm } from './ksm.ts';
import { SEQNR_MASK, UNSTABLE_FLAG } from './types.ts';

/** The age from which should_skip_rmap_item() treats all ages alike (skip_age() is 8 above 8). */
const STEADY_AGE = 9;
const AGE_MAX = 255;
/** The longest period looked for, in full scans (smart scan's skip cycle is 9). */
export const MAX_PERIOD_SCANS = 16;
/** Numbers per rmap_item in the state vector (see collect()). */
const PER_ITEM = 13;
const TWO_32 = 2 ** 32;
const INITIAL_WORDS = 1 << 16;

/** The work counters a batch moves (the cost model's features). */
interface BatchWork {
  pages: number;
  skipped: number;
  bytesHashed: number;
  pagesCompared: number;
  bytesCompared: number;
  /** Compares of tree pages not compared before in the batch (Counters.pagesComparedCold). */
  pagesComparedCold: number;
  /** Non-anonymous pages the walk passed over (Counters.ksmScanNonAnon). */
  nonAnon: number;
  /** VMAs the scan entered (Counters.ksmScanVmas). */
  vmas: number;
}

/** One recorded batch: what it adds to the cumulative counters, and the counters it leaves. */
export interface SteadyBatch extends BatchWork {
  /** 1 when the batch ends a full scan. */
  scans: number;
  /** pages_unshared after the batch (the unstable tree grows during a scan). */
  pages_unshared: number;
  /** The pages_to_scan the batch ran with (the advisor changes it at each full-scan end). */
  pages_to_scan: number;
  /** 1 when the batch starts a full scan (the advisor notes the time). */
  startsScan: number;
}

/** The cumulative counters a batch moves, read before and after it. */
interface Cumulative extends BatchWork {
  tlbFlushes: number;
  seqnr: number;
}

/** FNV-1a over 32-bit words (two independent streams): a cheap filter before the exact compare. */
function hashWords(w: Uint32Array, n: number): string {
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < n; i++) {
    a = Math.imul(a ^ w[i], 0x01000193);
    b = Math.imul(b ^ w[i], 0x5bd1e995) ^ (b >>> 15);
  }
  return `${a >>> 0}:${b >>> 0}`;
}

/**
 * Finds and proves a period of ksmd's full scans, records its batches, and replays them. The
 * owner (KsmdThread) calls beforeBatch()/afterBatch() around each simulated batch and asks
 * `period` at each full-scan start.
 */
export class KsmdSteady {
  private readonly ksm: Ksm;
  /** The state vector at the latest full-scan start, and its length. */
  private cur = new Uint32Array(INITIAL_WORDS);
  private curLen = 0;
  /** Raw ages in scan order at the latest full-scan start, and how many. */
  private curAges = new Uint8Array(0);
  private curItems = 0;
  /** Hashes of the states at recent full-scan starts, by scan number. */
  private readonly hashes = new Map<number, string>();
  /** A candidate: the state at the start of scan `from`, which the state `p` scans later must equal. */
  private cand: {
    from: number;
    p: number;
    state: Uint32Array;
    ages: Uint8Array;
    batches: SteadyBatch[];
  } | null = null;
  private before: Cumulative = {
    pages: 0,
    skipped: 0,
    bytesHashed: 0,
    pagesCompared: 0,
    bytesCompared: 0,
    pagesComparedCold: 0,
    nonAnon: 0,
    vmas: 0,
    tlbFlushes: 0,
    seqnr: 0,
  };
  private merged = false;
  private beforeStarts = 0;
  private beforePagesToScan = 0;
  /** The proven period: its batches in order, and each item's age increase over one period (scan
   * order). Null until proven; dropped when the state leaves it (a knob was written). */
  period: { scans: number; batches: SteadyBatch[]; ageStep: Uint8Array; state: Uint32Array } | null = null;

  constructor(ksm: Ksm) {
    this.ksm = ksm;
  }

  /** Whether the scan can be a function of its start state alone (see the file comment). */
  eligible(): boolean {
    const k = this.ksm;
    return k.stable_node_chains === 0 && k.migrate_nodes.size === 0;
  }

  private cumulative(): Cumulative {
    const k = this.ksm;
    const c = k.m.counters;
    return {
      pages: k.pages_scanned,
      skipped: k.pages_skipped,
      bytesHashed: c.bytesHashed,
      pagesCompared: c.pagesCompared,
      bytesCompared: c.bytesCompared,
      pagesComparedCold: c.pagesComparedCold,
      nonAnon: c.ksmScanNonAnon,
      vmas: c.ksmScanVmas,
      tlbFlushes: c.tlbFlushes,
      seqnr: k.ksm_scan.seqnr,
    };
  }

  beforeBatch(): void {
    if (this.cand === null) return;
    const k = this.ksm;
    this.before = this.cumulative();
    this.beforeStarts = k.ksm_scan.mm_slot === k.ksm_mm_head ? 1 : 0;
    this.beforePagesToScan = k.pages_to_scan;
  }

  afterBatch(): void {
    if (this.cand === null) return;
    const a = this.cumulative();
    const b = this.before;
    if (a.tlbFlushes !== b.tlbFlushes) this.merged = true;
    this.cand.batches.push({
      pages: a.pages - b.pages,
      skipped: a.skipped - b.skipped,
      bytesHashed: a.bytesHashed - b.bytesHashed,
      pagesCompared: a.pagesCompared - b.pagesCompared,
      bytesCompared: a.bytesCompared - b.bytesCompared,
      pagesComparedCold: a.pagesComparedCold - b.pagesComparedCold,
      nonAnon: a.nonAnon - b.nonAnon,
      vmas: a.vmas - b.vmas,
      scans: a.seqnr - b.seqnr,
      pages_unshared: this.ksm.pages_unshared,
      pages_to_scan: this.beforePagesToScan,
      startsScan: this.beforeStarts,
    });
  }

  /**
   * At the start of full scan `seqnr` (between batches): compares the state with the candidate
   * (proving a period), or with recent states (making a candidate). Returns the proven period.
   */
  atScanStart(): KsmdSteady['period'] {
    const k = this.ksm;
    const seqnr = k.ksm_scan.seqnr;
    if (!this.eligible()) {
      this.reset();
      return null;
    }
    this.collect();
    if (this.period !== null) {
      if (this.equalTo(this.period.state)) return this.period;
      this.reset();
      this.collect();
    }
    const c = this.cand;
    if (c !== null && seqnr - c.from === c.p) {
      if (!this.merged && this.equalTo(c.state)) {
        // equal states hold the same items in the same order: ages only grow (a reset one
        // would differ, clamped, from its old self)
        const ageStep = new Uint8Array(c.ages.length);
        for (let i = 0; i < ageStep.length; i++) ageStep[i] = this.curAges[i] - c.ages[i];
        this.period = { scans: c.p, batches: c.batches, ageStep, state: c.state };
        this.cand = null;
        return this.period;
      }
      this.cand = null;
    }
    const h = hashWords(this.cur, this.curLen);
    this.hashes.delete(seqnr - MAX_PERIOD_SCANS - 1);
    if (this.cand === null) {
      for (let p = 1; p <= MAX_PERIOD_SCANS; p++) {
        if (this.hashes.get(seqnr - p) !== h) continue;
        this.cand = {
          from: seqnr,
          p,
          state: this.cur.slice(0, this.curLen),
          ages: this.curAges.slice(0, this.curItems),
          batches: [],
        };
        this.merged = false;
        break;
      }
    }
    this.hashes.set(seqnr, h);
    return null;
  }

  /** Forgets every candidate and period (the state changed outside a scan, or may change). */
  reset(): void {
    this.hashes.clear();
    this.cand = null;
    this.period = null;
  }

  /** After a replayed period: what its scans did to the items that no counter shows -- ages and
   * the scan number tagging unstable-tree items -- as the simulated scans would have. */
  applyPeriod(): void {
    const p = this.period!;
    const k = this.ksm;
    const ri = k.rmap_item_cache;
    const head = k.ksm_mm_head;
    let j = 0;
    for (let slot = head.next; slot !== head; slot = slot.next)
      for (let it = slot.rmap_list; it !== 0; it = ri.rmap_list[it], j++) {
        ri.age[it] = Math.min(AGE_MAX, ri.age[it] + p.ageStep[j]);
        const f = ri.aflags[it];
        if ((f & UNSTABLE_FLAG) !== 0) ri.aflags[it] = (f & ~SEQNR_MASK) | ((f + p.scans) & SEQNR_MASK);
      }
  }

  private equalTo(state: Uint32Array): boolean {
    if (state.length !== this.curLen) return false;
    const cur = this.cur;
    for (let i = 0; i < state.length; i++) if (cur[i] !== state[i]) return false;
    return true;
  }

  /** The state vector: the knobs and counters a scan depends on, then each mm and its rmap_items
   * in scan order (every field; ages above STEADY_AGE as STEADY_AGE, an unstable item's scan tag
   * relative to the current scan). */
  private collect(): void {
    const k = this.ksm;
    const ri = k.rmap_item_cache;
    const head = k.ksm_mm_head;
    const seqnr = k.ksm_scan.seqnr;
    const need = 16 + PER_ITEM * k.rmap_items + 2 * 64;
    let w = this.cur;
    if (w.length < need + 64) {
      w = new Uint32Array(Math.max(need * 2, INITIAL_WORDS));
      this.cur = w;
    }
    if (this.curAges.length < k.rmap_items) this.curAges = new Uint8Array(k.rmap_items);
    const ages = this.curAges;
    let n = 0;
    const globals = [
      k.pages_to_scan,
      k.max_page_sharing,
      k.merge_across_nodes,
      k.use_zero_pages ? 1 : 0,
      k.smart_scan ? 1 : 0,
      k.run,
      k.rmap_items,
      k.pages_shared,
      k.pages_sharing,
      k.pages_unshared,
      k.zero_pages,
      k.stable_node_dups,
      k.advisor_mode === 'none' ? 0 : 1,
      k.advisor_max_cpu,
      k.advisor_min_pages_to_scan,
      k.advisor_max_pages_to_scan,
      k.advisor_target_scan_time,
      k.advisorCtx.change,
      k.advisorCtx.scan_time,
    ];
    for (const g of globals) w[n++] = g;
    let j = 0;
    for (let slot = head.next; slot !== head; slot = slot.next) {
      if (n + 2 > w.length) {
        this.grow(need);
        return;
      }
      w[n++] = slot.mm!.id;
      w[n++] = 0xffffffff;
      for (let it = slot.rmap_list; it !== 0; it = ri.rmap_list[it]) {
        if (n + PER_ITEM > w.length || j >= ages.length) {
          this.grow(need);
          return;
        }
        const addr = ri.address[it];
        const f = ri.aflags[it];
        const age = ri.age[it];
        ages[j++] = age;
        w[n++] = it;
        w[n++] = addr % TWO_32;
        w[n++] = Math.floor(addr / TWO_32);
        w[n++] = (f & UNSTABLE_FLAG) !== 0 ? (f & ~SEQNR_MASK) | ((seqnr - f) & SEQNR_MASK) : f;
        w[n++] = ri.oldchecksum[it];
        w[n++] = Math.min(age, STEADY_AGE);
        w[n++] = ri.remaining_skips[it];
        w[n++] = ri.nid[it];
        w[n++] = ri.head[it];
        w[n++] = ri.hnext[it];
        w[n++] = ri.hprev[it];
        w[n++] = ri.mm.handle[it];
        w[n++] = ri.anon_vma.handle[it];
      }
    }
    // every live item is on its mm's list: a count that differs means the lists are not the state
    if (j !== k.rmap_items) w[n++] = 0xfffffffe;
    this.curLen = n;
    this.curItems = j;
  }

  private grow(need: number): void {
    this.cur = new Uint32Array(Math.max(this.cur.length * 2, need * 2));
    this.curAges = new Uint8Array(Math.max(this.curAges.length * 2, this.ksm.rmap_items + 1));
    this.collect();
  }
}
