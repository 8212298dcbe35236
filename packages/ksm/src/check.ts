// KSM's invariant checker: tree order and colours, every counter recomputed from the items and
// nodes, every stable node's page really KSM and mapped read-only.

import { KernelBug } from '@mmsim/core';
import { E, entry_pfn, PAGE_MAPPING_KSM, pte_index, pte_present, pte_write, readEntry } from '@mmsim/mmu';
import { RB_NULL, rbArenaCheck, rbtreeCheck } from '@mmsim/rbtree';
import type { Ksm } from './ksm.ts';
import { UNODE_ITEM, UNODE_WORDS } from './rmap_item.ts';
import { type KsmStableNode, SEQNR_MASK, STABLE_FLAG, STABLE_NODE_CHAIN, UNSTABLE_FLAG } from './types.ts';
import { chainDups, ksmSlots, stableNodes } from './views.ts';

export function checkKsmInvariants(ksm: Ksm): void {
  const errors: string[] = [];
  const pm = ksm.m.phys;
  const ri = ksm.rmap_item_cache;
  for (const [nid, root] of ksm.root_stable_tree.entries()) {
    const bad = rbtreeCheck(root);
    if (bad !== null) errors.push(`stable tree ${nid}: ${bad}`);
  }
  // Mid-scan, every node of an unstable tree is its item's, marked UNSTABLE in that tree with this
  // scan's seqnr. Between two full scans the last scan's tree may still hold items that left it
  // (rb_erase() is for this scan's tree only; ksmd empties the old one when the next scan starts).
  const midScan = ksm.ksm_scan.mm_slot !== ksm.ksm_mm_head;
  const arena = ri.node.arena;
  const unstable = (n: number, nid: number): void => {
    if (n === RB_NULL) return;
    const it = arena.w[n * UNODE_WORDS + UNODE_ITEM];
    const aflags = ri.aflags[it];
    const inTree = it !== 0 && ri.node.get(it) === n && (aflags & UNSTABLE_FLAG) !== 0;
    const seqnrOk = !midScan || (aflags & SEQNR_MASK) === (ksm.ksm_scan.seqnr & SEQNR_MASK);
    if (inTree ? ri.nid[it] !== nid || !seqnrOk : midScan)
      errors.push(`unstable tree ${nid}: item 0x${ri.address[it].toString(16)} not marked in this tree`);
    unstable(arena.rb_left(n), nid);
    unstable(arena.rb_right(n), nid);
  };
  for (const [nid, root] of ksm.root_unstable_tree.entries()) {
    const bad = rbArenaCheck(arena, root);
    if (bad !== null) errors.push(`unstable tree ${nid}: ${bad}`);
    unstable(root.rb_node, nid);
  }
  let items = 0;
  let shared = 0;
  let sharing = 0;
  let unshared = 0;
  let chains = 0;
  let dups = 0;
  const perMm = new Map<unknown, { items: number; merging: number }>();
  for (const slot of ksmSlots(ksm)) {
    let prev = -1;
    const mm = slot.mm!;
    const rec = { items: 0, merging: 0 };
    perMm.set(mm, rec);
    for (let it = slot.rmap_list; it !== 0; it = ri.rmap_list[it]) {
      items++;
      rec.items++;
      const address = ri.address[it];
      if (ri.mm.get(it) !== mm) errors.push(`${mm.owner}: item 0x${address.toString(16)} of another mm`);
      if (address <= prev) errors.push(`${mm.owner}: rmap_list not sorted at 0x${address.toString(16)}`);
      prev = address;
      const aflags = ri.aflags[it];
      if ((aflags & UNSTABLE_FLAG) !== 0) unshared++;
      if ((aflags & UNSTABLE_FLAG) !== 0 && ri.node.get(it) === RB_NULL)
        errors.push(`${mm.owner}: item 0x${address.toString(16)} UNSTABLE_FLAG without an rb node`);
      if ((aflags & STABLE_FLAG) !== 0) {
        rec.merging++;
        if (ksm.nodeById(ri.head[it]) === undefined) errors.push(`${mm.owner}: stable item without node`);
      }
    }
  }
  // The simulator's memo of the scanned page's PTE (findPte()) while it is current: the PTE
  // table covers the address, and the entry maps the page.
  const scanPte = ksm.scan_pte_memo();
  if (scanPte !== null) {
    const { mm, addr, pte_table, page } = scanPte;
    if (mm.find_pte_table(addr) !== pte_table)
      errors.push(`scanned page PTE memo: 0x${addr.toString(16)} is not in PTE table ${pte_table}`);
    else {
      readEntry(pm, pte_table, pte_index(addr));
      if (!pte_present(E.lo) || entry_pfn(E.lo, E.hi) !== page)
        errors.push(`scanned page PTE memo: the PTE of 0x${addr.toString(16)} does not map pfn ${page}`);
    }
  }
  const epoch = ksm.dups_epoch();
  const pageIsOwn = (n: KsmStableNode): boolean =>
    n.kpfn !== 0 && pm.mapping[n.kpfn] === n.id * 4 + PAGE_MAPPING_KSM && pm.refcount[pm.folio(n.kpfn)] > 0;
  const checkNode = (n: KsmStableNode): void => {
    let len = 0;
    for (let it = n.hlist; it !== 0; it = ri.hnext[it]) {
      len++;
      if (ri.head[it] !== n.id) errors.push(`node ${n.id}: item head mismatch`);
      if (ri.hnext[it] !== 0) {
        sharing++;
        if (ri.hprev[ri.hnext[it]] !== it) errors.push(`node ${n.id}: hlist hprev mismatch`);
      } else shared++;
    }
    if (len !== n.rmap_hlist_len)
      errors.push(`node ${n.id}: rmap_hlist_len ${n.rmap_hlist_len} but ${len} items`);
    // A live node's page keeps the first word its node remembers (its bytes never change).
    if (
      pm.mapping[n.kpfn] === n.id * 4 + PAGE_MAPPING_KSM &&
      n.kfirstword !== pm.contents.firstWordOf(pm.content[n.kpfn])
    )
      errors.push(`node ${n.id}: kfirstword differs from its page's first word`);
    // The simulator's memo that the node's page is its own holds while the epoch does.
    if (n.pageEpoch === epoch && !pageIsOwn(n))
      errors.push(`node ${n.id}: pageEpoch is current but pfn ${n.kpfn} is not its page`);
    // A node whose page was freed is stale (its items stay until ksm_get_folio() prunes it);
    // a live node's page must be mapped read-only everywhere.
    if (len > 0 && pm.mapping[n.kpfn] === n.id * 4 + PAGE_MAPPING_KSM) {
      for (let it = n.hlist; it !== 0; it = ri.hnext[it]) {
        const mm = ri.mm.get(it)!;
        const address = ri.address[it];
        // An exited mm's items stay until ksmd frees them; its page tables are gone.
        if (mm.pgd === 0) continue;
        const pteT = mm.find_pte_table(address);
        if (pteT === 0) continue;
        readEntry(pm, pteT, pte_index(address));
        if (pte_present(E.lo) && entry_pfn(E.lo, E.hi) === n.kpfn && pte_write(E.lo))
          errors.push(`node ${n.id}: KSM page mapped writable at 0x${address.toString(16)}`);
      }
    }
  };
  for (const n of stableNodes(ksm)) {
    if (n.rmap_hlist_len === STABLE_NODE_CHAIN) {
      chains++;
      const list = chainDups(n);
      for (const d of list) {
        dups++;
        if (!d.isDup || d.chain !== n) errors.push(`chain ${n.id}: dup ${d.id} not linked back`);
        checkNode(d);
      }
      // The simulator's memo of the chain's full dups holds while the epoch does: from dupsFull
      // to the end of the list, dupsFullCount dups, each full and its page its own.
      if (n.dupsFullEpoch === epoch && n.dupsFullMax === ksm.max_page_sharing && n.dupsFull !== null) {
        const from = list.indexOf(n.dupsFull);
        const run = from < 0 ? [] : list.slice(from);
        if (
          from < 0 ||
          run.length !== n.dupsFullCount ||
          run.some((d) => d.rmap_hlist_len < n.dupsFullMax || !pageIsOwn(d))
        )
          errors.push(
            `chain ${n.id}: dupsFull memo is current but its ${n.dupsFullCount} dups are not all full`,
          );
      }
    } else checkNode(n);
  }
  for (const n of ksm.migrate_nodes) {
    if (!n.onMigrateList) errors.push(`node ${n.id}: on migrate_nodes but not marked`);
    checkNode(n);
  }
  if (items !== ksm.rmap_items) errors.push(`ksm_rmap_items ${ksm.rmap_items} but ${items} items listed`);
  if (shared !== ksm.pages_shared)
    errors.push(`pages_shared ${ksm.pages_shared} but ${shared} nodes with items`);
  if (sharing !== ksm.pages_sharing) errors.push(`pages_sharing ${ksm.pages_sharing} but ${sharing}`);
  if (unshared !== ksm.pages_unshared)
    errors.push(`pages_unshared ${ksm.pages_unshared} but ${unshared} unstable items`);
  if (chains !== ksm.stable_node_chains)
    errors.push(`stable_node_chains ${ksm.stable_node_chains} but ${chains}`);
  if (dups !== ksm.stable_node_dups) errors.push(`stable_node_dups ${ksm.stable_node_dups} but ${dups}`);
  // Kernels whose fork copies these per-mm counts from the parent (6.1, 6.12.43) keep them off
  // by what the child inherited; only the global counters are exact there.
  for (const [mm, rec] of ksm.m.kernel.ksm.forkResetsCounters ? perMm : []) {
    const m = mm as { owner: string; ksm_rmap_items: number; ksm_merging_pages: number };
    if (m.ksm_rmap_items !== rec.items)
      errors.push(`${m.owner}: ksm_rmap_items ${m.ksm_rmap_items} but ${rec.items}`);
    if (m.ksm_merging_pages !== rec.merging)
      errors.push(`${m.owner}: ksm_merging_pages ${m.ksm_merging_pages} but ${rec.merging}`);
  }
  if (errors.length > 0)
    throw new KernelBug(`KSM invariants violated (${errors.length})`, errors.slice(0, 20).join('\n'));
}
