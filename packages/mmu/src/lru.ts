// The LRU side of mm/swap.c (Linux 6.18): folio_mark_accessed(), folio_activate() and its
// per-CPU lru_activate folio batch, lru_add_drain_all().
//
// A folio added to a per-CPU batch carries a reference (folio_get()) until the batch fills
// (profile.mm.folioBatchSize folios) or is drained; only then is it moved to the active list and
// the reference dropped (folios_put()), which frees a folio nobody else holds. KSM sees this: a
// KSM page unmapped while its folio waits in the batch is still a KSM page to ksm_get_folio(),
// so run=2 finds its stable node alive (issue 20, fuzz seed 314172). The model has one CPU's
// batches: the CPU ksmd runs on, the only context here that activates folios (gup's FOLL_TOUCH
// only sets PG_referenced). Of the other batches (lru_add, rotate, deactivate, lazyfree) none is
// modelled: a folio is on the LRU from its fault on.

import { PG_active, PG_mlocked, PG_referenced, type PhysMem } from './physmem.ts';

/** folio_test_unevictable(): an mlocked folio sits on the unevictable list. */
const PG_unevictable = PG_mlocked;

/** struct folio_batch: head PFNs, each holding one reference. */
class FolioBatch {
  readonly folios: Int32Array;
  nr = 0;

  constructor(size: number) {
    this.folios = new Int32Array(size);
  }
}

/** struct cpu_fbatches of ksmd's CPU: the batches the model has. */
export class CpuFbatches {
  readonly lru_activate: FolioBatch;
  /** lru_gen_enabled(): the multi-gen LRU takes accesses without batches. */
  readonly lru_gen_enabled: boolean;

  constructor(size: number, lruGenEnabled: boolean) {
    this.lru_activate = new FolioBatch(size);
    this.lru_gen_enabled = lruGenEnabled;
  }
}

/** folio_batch_move_lru() with lru_activate(): activate each folio still on the LRU, then drop
 * the batch's references (the last one frees the folio). */
function folio_batch_move_lru(pm: PhysMem, fbatch: FolioBatch): void {
  const folios = fbatch.folios;
  const nr = fbatch.nr;
  for (let i = 0; i < nr; i++) {
    const folio = folios[i];
    // lru_activate(): an unevictable or already active folio is left where it is.
    if ((pm.flags[folio] & (PG_active | PG_unevictable)) === 0) pm.flags[folio] |= PG_active;
  }
  fbatch.nr = 0;
  for (let i = 0; i < nr; i++) pm.put_page(folios[i]);
}

/** folio_activate(): queue an inactive folio for the active list (a reference until drained). */
function folio_activate(pm: PhysMem, fbatches: CpuFbatches, folio: number): void {
  if ((pm.flags[folio] & (PG_active | PG_unevictable)) !== 0) return;
  pm.get_page(folio);
  const fbatch = fbatches.lru_activate;
  fbatch.folios[fbatch.nr++] = folio;
  // folio_batch_add() returns the space left: a full batch is moved at once, as is a large folio.
  if (fbatch.nr === fbatch.folios.length || pm.folio_test_large(folio)) folio_batch_move_lru(pm, fbatch);
}

/** folio_mark_accessed(): inactive,unreferenced -> inactive,referenced -> active (through the
 * lru_activate batch), clearing PG_referenced again. */
export function folio_mark_accessed(pm: PhysMem, fbatches: CpuFbatches, folio: number): void {
  const flags = pm.flags[folio];
  // lru_gen_inc_refs(): the first access sets PG_referenced; later ones count in bits not modelled.
  if (fbatches.lru_gen_enabled) {
    pm.flags[folio] = flags | PG_referenced;
    return;
  }
  if ((flags & PG_referenced) === 0) {
    pm.flags[folio] = flags | PG_referenced;
  } else if ((flags & (PG_active | PG_unevictable)) === 0) {
    folio_activate(pm, fbatches, folio);
    pm.flags[folio] &= ~PG_referenced;
  }
}

/** lru_add_drain_all(): empty every CPU's batches (ksmd at the start of each full scan). */
export function lru_add_drain_all(pm: PhysMem, fbatches: CpuFbatches): void {
  const fbatch = fbatches.lru_activate;
  if (fbatch.nr !== 0) folio_batch_move_lru(pm, fbatch);
}
