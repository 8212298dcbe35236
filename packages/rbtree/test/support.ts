// Shared by the rbtree tests: a keyed node kind and KSM-style descents written the way
// mm/ksm.c writes them (compare, go left or right, link at the slot the descent ended on).
import {
  RB_BLACK,
  RB_CLEAR_NODE,
  RbNodeBase,
  type RbRoot,
  rb_erase,
  rb_first,
  rb_insert_color,
  rb_link_node,
  rb_next,
} from '../src/index.ts';

export class Item extends RbNodeBase<Item> {
  key: number;
  /** Stands for a KSM stable node whose page went away: erase it when a descent walks over it. */
  stale = false;
  constructor(key: number) {
    super();
    this.key = key;
  }
}

export const cmpItems = (a: Item, b: Item): number => a.key - b.key;
export const describeItem = (n: Item): string => `key ${n.key}`;

/** Search for `key`; link `node` where the descent ended when absent. Returns the existing node or null. */
export function insertItem(root: RbRoot<Item>, node: Item): Item | null {
  let parent: Item | null = null;
  let cur = root.rb_node;
  let isLeft = false;
  while (cur !== null) {
    parent = cur;
    if (node.key < cur.key) {
      isLeft = true;
      cur = cur.rb_left;
    } else if (node.key > cur.key) {
      isLeft = false;
      cur = cur.rb_right;
    } else {
      return cur;
    }
  }
  rb_link_node(node, parent, isLeft, root);
  rb_insert_color(node, root);
  return null;
}

/**
 * stable_tree_search()'s shape: descend towards `node.key`; a stale node met on the way is erased
 * (and RB_CLEAR_NODE()d) and the search restarts from the root; when the key is absent, `node` is
 * linked at the slot the last descent ended on. Returns the existing node (or null) and the nodes
 * it erased, in order.
 */
export function searchInsertEraseStale(
  root: RbRoot<Item>,
  node: Item,
): { found: Item | null; erased: Item[] } {
  const erased: Item[] = [];
  again: for (;;) {
    let parent: Item | null = null;
    let cur = root.rb_node;
    let isLeft = false;
    while (cur !== null) {
      if (cur.stale) {
        rb_erase(cur, root);
        RB_CLEAR_NODE(cur);
        erased.push(cur);
        continue again;
      }
      parent = cur;
      if (node.key < cur.key) {
        isLeft = true;
        cur = cur.rb_left;
      } else if (node.key > cur.key) {
        isLeft = false;
        cur = cur.rb_right;
      } else {
        return { found: cur, erased };
      }
    }
    rb_link_node(node, parent, isLeft, root);
    rb_insert_color(node, root);
    return { found: null, erased };
  }
}

export function inorder(root: RbRoot<Item>): Item[] {
  const out: Item[] = [];
  for (let n = rb_first(root); n !== null; n = rb_next(n)) out.push(n);
  return out;
}

/** "(K c left right)" in pre-order, c = B or r, "." for an empty link: the kernel fixtures' format. */
export function shape(node: Item | null): string {
  if (node === null) return '.';
  return `(${node.key}${node.rb_color === RB_BLACK ? 'B' : 'r'} ${shape(node.rb_left)} ${shape(node.rb_right)})`;
}

export function height(node: Item | null): number {
  return node === null ? 0 : 1 + Math.max(height(node.rb_left), height(node.rb_right));
}
