// KSM's stable tree (nodes, chains and their dups, each KSM page's rmap_items) and unstable tree
// of a simulated world, as plain data: what `mmsim tree` draws and the web app's KSM view shows
// (mm/ksm.c of Linux 6.18: root_stable_tree, stable_node_chain, root_unstable_tree).

import { PAGE_SIZE } from '@mmsim/core';
import type { KsmRmapItemView, KsmStableNode } from '@mmsim/ksm';
import { chainDups, hlistItems, STABLE_NODE_CHAIN, stableNodes, unstableItems } from '@mmsim/ksm';
import type { SimulatorContext } from './simulator.ts';

/** Bytes of a KSM page's content shown in a tree. */
const CONTENT_BYTES = 8;

/** The region (and page index) of `proc` holding `addr`, as "r+3", or "" outside every region. */
export function regionOf(ctx: SimulatorContext, proc: string, addr: number): string {
  for (const [name, r] of ctx.regions.get(proc) ?? []) {
    if (addr >= r.addr && addr < r.addr + r.pages * PAGE_SIZE)
      return `${name}+${(addr - r.addr) / PAGE_SIZE}`;
  }
  return '';
}

export interface TreeItem {
  proc: string;
  /** "region+page", or "" when the address is in no named region. */
  region: string;
  address: number;
}

export interface TreePage {
  kpfn: number;
  /** The first bytes of the KSM page, in hex. */
  content: string;
  rmap_items: TreeItem[];
}

export type TreeStableNode = ({ type: 'node' } & TreePage) | { type: 'chain'; dups: TreePage[] };

/** Both trees. */
export interface KsmTrees {
  stable: TreeStableNode[];
  unstable: (TreeItem & { checksum: number })[];
}

function item(ctx: SimulatorContext, it: KsmRmapItemView): TreeItem {
  const proc = it.mm.owner;
  return { proc, region: regionOf(ctx, proc, it.address), address: it.address };
}

function page(ctx: SimulatorContext, n: KsmStableNode): TreePage {
  const items = hlistItems(ctx.ksm, n).map((it) => item(ctx, it));
  const bytes = new Uint8Array(CONTENT_BYTES);
  ctx.machine.phys.readBytes(n.kpfn, 0, bytes, 0, CONTENT_BYTES);
  const content = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { kpfn: n.kpfn, content, rmap_items: items };
}

/** The trees of a simulated world, as data. */
export function ksmTrees(ctx: SimulatorContext): KsmTrees {
  const ksm = ctx.ksm;
  const stable: TreeStableNode[] = [];
  for (const n of stableNodes(ksm)) {
    if (n.rmap_hlist_len === STABLE_NODE_CHAIN) {
      const dups: TreePage[] = [];
      for (const d of chainDups(n)) dups.push(page(ctx, d));
      stable.push({ type: 'chain', dups });
    } else stable.push({ type: 'node', ...page(ctx, n) });
  }
  const unstable: KsmTrees['unstable'] = unstableItems(ksm).map((n) => ({
    ...item(ctx, n),
    checksum: n.oldchecksum,
  }));
  return { stable, unstable };
}
