// KSM's lists and trees read out as arrays, for the CLI's views (mmsim tree, the tour), the
// invariant checker, the fuzzer and tests. Not kernel code: nothing here is on a scan or merge path,
// and ksm.ts stays the kernel's file.

import { RB_NULL } from '@mmsim/rbtree';
import type { Ksm } from './ksm.ts';
import { type KsmRmapItems, type KsmRmapItemView, UNODE_ITEM, UNODE_WORDS } from './rmap_item.ts';
import { type KsmMmSlot, type KsmStableNode, UNSTABLE_FLAG } from './types.ts';

/** Every registered mm, in scan-list order. */
export function ksmSlots(ksm: Ksm): KsmMmSlot[] {
  const out: KsmMmSlot[] = [];
  const head = ksm.ksm_mm_head;
  for (let s = head.next; s !== head; s = s.next) out.push(s);
  return out;
}

/** Every stable node (regular nodes, chains) of every node's tree, in tree order. */
export function stableNodes(ksm: Ksm): KsmStableNode[] {
  const out: KsmStableNode[] = [];
  const walk = (n: KsmStableNode | null): void => {
    if (n === null) return;
    walk(n.rb_left);
    out.push(n);
    walk(n.rb_right);
  };
  for (const root of ksm.root_stable_tree) walk(root.rb_node);
  return out;
}

/** A chain's dups, first to last (none for a node that is not a chain). */
export function chainDups(chain: KsmStableNode): KsmStableNode[] {
  const out: KsmStableNode[] = [];
  if (chain.dups === null) return out;
  for (let d = chain.dups.first; d !== null; d = d.next) out.push(d);
  return out;
}

/** One rmap_item read out of the arrays. */
export function rmapItemView(ri: KsmRmapItems, id: number): KsmRmapItemView {
  return {
    id,
    mm: ri.mm.get(id)!,
    address: ri.address[id],
    aflags: ri.aflags[id],
    oldchecksum: ri.oldchecksum[id],
    age: ri.age[id],
  };
}

/** Every rmap_item of the unstable trees (all nodes), in tree order; not the items that left the
 * previous scan's tree, which waits to be emptied when the next scan starts. */
export function unstableItems(ksm: Ksm): KsmRmapItemView[] {
  const ri = ksm.rmap_item_cache;
  const out: KsmRmapItemView[] = [];
  const arena = ri.node.arena;
  const walk = (n: number): void => {
    if (n === RB_NULL) return;
    walk(arena.rb_left(n));
    const it = arena.w[n * UNODE_WORDS + UNODE_ITEM];
    if (it !== 0 && ri.node.get(it) === n && (ri.aflags[it] & UNSTABLE_FLAG) !== 0)
      out.push(rmapItemView(ri, it));
    walk(arena.rb_right(n));
  };
  for (const root of ksm.root_unstable_tree) walk(root.rb_node);
  return out;
}

/** The rmap_items on a stable node's (or dup's) hlist, first to last. */
export function hlistItems(ksm: Ksm, node: KsmStableNode): KsmRmapItemView[] {
  const ri = ksm.rmap_item_cache;
  const out: KsmRmapItemView[] = [];
  for (let it = node.hlist; it !== 0; it = ri.hnext[it]) out.push(rmapItemView(ri, it));
  return out;
}
