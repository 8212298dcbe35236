// The red-black invariant checker used by tests and by the invariant checkers of trees built on
// @mmsim/rbtree (KSM's stable and unstable trees). Simulator-only: it is not in lib/rbtree.c.

import { RB_BLACK, RB_RED, type RbColor, type RbNode, type RbRoot } from './rbtree.ts';
import { RB_NULL, type RbArena, type RbArenaRoot } from './rbtree_arena.ts';

export interface RbtreeCheckOptions<T extends RbNode> {
  /** With `cmp`: equal neighbours are a violation too (the in-order walk must strictly increase). */
  unique?: boolean;
  /** Names a node in violation messages (e.g. a stable node's kpfn). */
  describe?: (node: T) => string;
}

// A red-black tree of n < 2^53 nodes is at most 2*log2(n+1) < 108 levels deep. Deeper means a
// corrupted tree; stopping there also keeps the recursion off the stack limit.
const MAX_DEPTH = 128;

/**
 * Check every invariant of the tree under `root`: parent links agree with child links (which also
 * rules out cycles and shared subtrees), colours are RB_RED or RB_BLACK, the root is black, no red
 * node has a red child, every path from the root to a leaf crosses the same number of black nodes,
 * and, given `cmp`, the in-order walk is sorted (strictly with `options.unique`).
 * Returns a description of the first violation found (with the node's path from the root,
 * e.g. `root.L.R`), or null when the tree is valid.
 */
export function rbtreeCheck<T extends RbNode>(
  root: RbRoot<T>,
  cmp?: (a: T, b: T) => number,
  options?: RbtreeCheckOptions<T>,
): string | null {
  const top = root.rb_node;
  if (top === null) return null;
  const unique = options?.unique === true;
  const describe = options?.describe;
  const path: string[] = [];
  let blackHeight = -1;
  let prev: RbNode | null = null;

  const where = (node: RbNode | null): string => {
    const at = path.length === 0 ? 'root' : `root.${path.join('.')}`;
    return node !== null && describe !== undefined ? `${at} (${describe(node as T)})` : at;
  };

  const visit = (node: RbNode, parent: RbNode | null, blacks: number): string | null => {
    if (node.rb_parent !== parent) {
      if (node.rb_parent === node)
        return `${where(node)}: RB_EMPTY_NODE (cleared) node is linked in the tree`;
      return `${where(node)}: rb_parent does not point at the node that links to it`;
    }
    if (node.rb_color !== RB_RED && node.rb_color !== RB_BLACK) {
      return `${where(node)}: rb_color is ${String(node.rb_color)}, not RB_RED (0) or RB_BLACK (1)`;
    }
    if (parent === null && node.rb_color !== RB_BLACK) return `${where(node)}: the root is red`;
    if (parent !== null && node.rb_color === RB_RED && parent.rb_color === RB_RED) {
      return `${where(node)}: red node has a red parent`;
    }
    if (path.length >= MAX_DEPTH) return `${where(node)}: deeper than ${MAX_DEPTH} levels`;
    if (node.rb_left !== null && node.rb_left === node.rb_right) {
      return `${where(node)}: rb_left and rb_right are the same node`;
    }
    if (node.rb_color === RB_BLACK) blacks++;

    const left = node.rb_left;
    const right = node.rb_right;
    if (left !== null) {
      path.push('L');
      const err = visit(left, node, blacks);
      if (err !== null) return err;
      path.pop();
    } else if (blackHeight === -1) {
      blackHeight = blacks;
    } else if (blacks !== blackHeight) {
      return `${where(node)}: left leaf path has ${blacks} black nodes, the first leaf path had ${blackHeight}`;
    }

    if (cmp !== undefined && prev !== null) {
      const c = cmp(prev as T, node as T);
      if (c > 0 || (unique && c === 0)) {
        const what = c > 0 ? 'sorts before its in-order predecessor' : 'compares equal to its predecessor';
        const prevName = describe !== undefined ? ` (${describe(prev as T)})` : '';
        return `${where(node)}: ${what}${prevName}`;
      }
    }
    prev = node;

    if (right !== null) {
      path.push('R');
      const err = visit(right, node, blacks);
      if (err !== null) return err;
      path.pop();
    } else if (blacks !== blackHeight) {
      return `${where(node)}: right leaf path has ${blacks} black nodes, the first leaf path had ${blackHeight}`;
    }
    return null;
  };

  return visit(top, null, 0);
}

/**
 * rbtreeCheck() for a tree of an RbArena: the nodes reachable from `root` (at most MAX_DEPTH
 * levels, so a corrupted, cyclic tree ends) are read out as RbNode objects, with the parent each
 * record names (another object when that is not the node linking to it), and checked as above.
 * `cmp` and `describe` take node ids.
 */
export function rbArenaCheck(
  arena: RbArena,
  root: RbArenaRoot,
  cmp?: (a: number, b: number) => number,
  options?: { unique?: boolean; describe?: (node: number) => string },
): string | null {
  interface Copy extends RbNode {
    id: number;
  }
  const copies = new Map<number, Copy>();
  const copy = (id: number, depth: number): Copy | null => {
    if (id === RB_NULL || depth > MAX_DEPTH) return null;
    const c: Copy = {
      id,
      rb_parent: null,
      rb_color: arena.rb_color(id) as RbColor,
      rb_left: null,
      rb_right: null,
    };
    copies.set(id, c);
    c.rb_left = copy(arena.rb_left(id), depth + 1);
    c.rb_right = copy(arena.rb_right(id), depth + 1);
    return c;
  };
  const top = copy(root.rb_node, 0);
  const elsewhere: Copy = { id: RB_NULL, rb_parent: null, rb_color: RB_BLACK, rb_left: null, rb_right: null };
  for (const c of copies.values()) {
    const p = arena.rb_parent(c.id);
    c.rb_parent = p === RB_NULL ? null : p === c.id ? c : (copies.get(p) ?? elsewhere);
  }
  const describe = options?.describe;
  return rbtreeCheck<Copy>({ rb_node: top }, cmp === undefined ? undefined : (a, b) => cmp(a.id, b.id), {
    unique: options?.unique === true,
    ...(describe === undefined ? {} : { describe: (n: Copy) => describe(n.id) }),
  });
}
