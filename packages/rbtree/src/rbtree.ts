// Intrusive red-black trees: a port of lib/rbtree.c, include/linux/rbtree.h and the erase half of
// include/linux/rbtree_augmented.h, Linux 6.18, without the augmentation callbacks.
//
// The kernel packs the parent pointer and the colour into one word, __rb_parent_color. Here they
// are two fields, rb_parent and rb_color, and every kernel helper that writes the word writes both,
// so the rotations, recolourings and the resulting tree shapes are the kernel's, step for step.
// The containing object is the node (there is no rb_entry()/container_of()): KSM's stable_node and
// rmap_item carry the four rb_* fields themselves and do their own descents, as mm/ksm.c does.
//
// Nothing here allocates. Every node of a kind should be created with the four fields first and in
// the same order (extend RbNodeBase) so the property accesses below stay monomorphic per kind.

import { VM_BUG_ON } from '@mmsim/core';

/** RB_RED (lib/rbtree.c): the colour bit clear. */
export const RB_RED = 0;
/** RB_BLACK (lib/rbtree.c): the colour bit set. */
export const RB_BLACK = 1;
export type RbColor = typeof RB_RED | typeof RB_BLACK;

/**
 * struct rb_node. `rb_parent` and `rb_color` together are the kernel's `__rb_parent_color`;
 * a node whose `rb_parent` is itself is RB_EMPTY_NODE (not on any tree).
 */
export interface RbNode {
  rb_parent: RbNode | null;
  rb_color: RbColor;
  rb_left: RbNode | null;
  rb_right: RbNode | null;
}

/** struct rb_root. `T` is the kind of node the tree holds, so descents need no casts. */
export interface RbRoot<T extends RbNode = RbNode> {
  rb_node: T | null;
}

/**
 * The rb_node fields to embed by inheritance: `class StableNode extends RbNodeBase<StableNode>`.
 * `T` types the links (the nodes a tree of this kind points at). A new node is in the state a
 * zeroed kernel allocation is in: no parent, red, no children; that is *not* RB_EMPTY_NODE —
 * call RB_CLEAR_NODE() where the kernel does.
 */
export class RbNodeBase<T extends RbNode = RbNode> implements RbNode {
  rb_parent: T | null = null;
  rb_color: RbColor = RB_RED;
  rb_left: T | null = null;
  rb_right: T | null = null;
}

/**
 * Reset a node's rb fields to the zeroed state (as kzalloc() leaves them), for objects that are
 * recycled or that declare the four fields themselves instead of extending RbNodeBase.
 */
export function rbNodeInit(node: RbNode): void {
  node.rb_parent = null;
  node.rb_color = RB_RED;
  node.rb_left = null;
  node.rb_right = null;
}

/** RB_ROOT: a new, empty tree. */
export function RB_ROOT<T extends RbNode = RbNode>(): RbRoot<T> {
  return { rb_node: null };
}

/** RB_EMPTY_ROOT(root): the tree has no nodes. */
export function RB_EMPTY_ROOT(root: RbRoot): boolean {
  return root.rb_node === null;
}

/** RB_EMPTY_NODE(node): the node was marked "not on a tree" by RB_CLEAR_NODE(). */
export function RB_EMPTY_NODE(node: RbNode): boolean {
  return node.rb_parent === node;
}

/**
 * RB_CLEAR_NODE(node): mark the node as not on a tree (parent points at itself). Like the kernel,
 * rb_erase() does not do this for you; callers that later test RB_EMPTY_NODE() must.
 */
export function RB_CLEAR_NODE(node: RbNode): void {
  node.rb_parent = node;
  node.rb_color = RB_RED;
}

/** rb_parent(node). */
export function rb_parent<T extends RbNode>(node: T): T | null {
  return node.rb_parent as T | null;
}

/** rb_is_red(node) (rbtree_augmented.h). */
export function rb_is_red(node: RbNode): boolean {
  return node.rb_color === RB_RED;
}

/** rb_is_black(node) (rbtree_augmented.h). */
export function rb_is_black(node: RbNode): boolean {
  return node.rb_color === RB_BLACK;
}

/**
 * rb_link_node(node, parent, rb_link): attach `node` as a red leaf at the slot a descent ended on.
 * The kernel's `struct rb_node **rb_link` is the pair (`parent`, `isLeft`): `&root->rb_node` when
 * `parent` is null (then `isLeft` is ignored), else `&parent->rb_left` or `&parent->rb_right`.
 * Follow with rb_insert_color(node, root). The slot must be empty (VM_BUG_ON otherwise: linking
 * over a subtree would silently drop it).
 */
export function rb_link_node(node: RbNode, parent: RbNode | null, isLeft: boolean, root: RbRoot): void {
  node.rb_parent = parent;
  node.rb_color = RB_RED;
  node.rb_left = null;
  node.rb_right = null;
  if (parent === null) {
    VM_BUG_ON(root.rb_node !== null, 'rb_link_node: root slot is occupied');
    root.rb_node = node;
  } else if (isLeft) {
    VM_BUG_ON(parent.rb_left !== null, 'rb_link_node: parent->rb_left is occupied');
    parent.rb_left = node;
  } else {
    VM_BUG_ON(parent.rb_right !== null, 'rb_link_node: parent->rb_right is occupied');
    parent.rb_right = node;
  }
}

function rb_set_parent_color(node: RbNode, parent: RbNode | null, color: RbColor): void {
  node.rb_parent = parent;
  node.rb_color = color;
}

/** __rb_change_child(): make whatever pointed at `old` (parent's link or the root) point at `now`. */
function __rb_change_child(old: RbNode, now: RbNode | null, parent: RbNode | null, root: RbRoot): void {
  if (parent !== null) {
    if (parent.rb_left === old) parent.rb_left = now;
    else parent.rb_right = now;
  } else {
    root.rb_node = now;
  }
}

/**
 * __rb_rotate_set_parents(): `now` takes over `old`'s parent, colour and place; `old` hangs under
 * `now` with `color`.
 */
function __rb_rotate_set_parents(old: RbNode, now: RbNode, root: RbRoot, color: RbColor): void {
  const parent = old.rb_parent;
  now.rb_parent = parent;
  now.rb_color = old.rb_color;
  old.rb_parent = now;
  old.rb_color = color;
  __rb_change_child(old, now, parent, root);
}

/**
 * rb_insert_color(node, root): rebalance after rb_link_node(). __rb_insert() in lib/rbtree.c;
 * case numbers follow its comments (uncles and parents are named as there).
 */
export function rb_insert_color(node: RbNode, root: RbRoot): void {
  // rb_red_parent(): node is red, so the word is the parent pointer.
  let parent = node.rb_parent;
  let gparent: RbNode;
  let tmp: RbNode | null;

  for (;;) {
    // Loop invariant: node is red.
    if (parent === null) {
      // node is the root: the first node, or Case 1 recursed up to it.
      rb_set_parent_color(node, null, RB_BLACK);
      break;
    }
    // A black parent: done. Otherwise fix the red-red pair.
    if (parent.rb_color === RB_BLACK) break;

    // parent is red, so it is not the root and gparent exists.
    gparent = parent.rb_parent!;
    tmp = gparent.rb_right;
    if (parent !== tmp) {
      // parent === gparent.rb_left
      if (tmp !== null && tmp.rb_color === RB_RED) {
        // Case 1: red uncle. Flip colours and recurse at gparent.
        rb_set_parent_color(tmp, gparent, RB_BLACK);
        rb_set_parent_color(parent, gparent, RB_BLACK);
        node = gparent;
        parent = node.rb_parent;
        rb_set_parent_color(node, parent, RB_RED);
        continue;
      }
      tmp = parent.rb_right;
      if (node === tmp) {
        // Case 2: black uncle, node is a right child: left rotate at parent, fall into Case 3.
        tmp = node.rb_left;
        parent.rb_right = tmp;
        node.rb_left = parent;
        if (tmp !== null) rb_set_parent_color(tmp, parent, RB_BLACK);
        rb_set_parent_color(parent, node, RB_RED);
        parent = node;
        tmp = node.rb_right;
      }
      // Case 3: black uncle, node is a left child: right rotate at gparent.
      gparent.rb_left = tmp; // == parent.rb_right
      parent.rb_right = gparent;
      if (tmp !== null) rb_set_parent_color(tmp, gparent, RB_BLACK);
      __rb_rotate_set_parents(gparent, parent, root, RB_RED);
      break;
    } else {
      tmp = gparent.rb_left;
      if (tmp !== null && tmp.rb_color === RB_RED) {
        // Case 1: colour flips.
        rb_set_parent_color(tmp, gparent, RB_BLACK);
        rb_set_parent_color(parent, gparent, RB_BLACK);
        node = gparent;
        parent = node.rb_parent;
        rb_set_parent_color(node, parent, RB_RED);
        continue;
      }
      tmp = parent.rb_left;
      if (node === tmp) {
        // Case 2: right rotate at parent.
        tmp = node.rb_right;
        parent.rb_left = tmp;
        node.rb_right = parent;
        if (tmp !== null) rb_set_parent_color(tmp, parent, RB_BLACK);
        rb_set_parent_color(parent, node, RB_RED);
        parent = node;
        tmp = node.rb_left;
      }
      // Case 3: left rotate at gparent.
      gparent.rb_right = tmp; // == parent.rb_left
      parent.rb_left = gparent;
      if (tmp !== null) rb_set_parent_color(tmp, gparent, RB_BLACK);
      __rb_rotate_set_parents(gparent, parent, root, RB_RED);
      break;
    }
  }
}

/**
 * ____rb_erase_color(): restore property 5 after a black node left the subtree under `parent`
 * on the side where `node` now is (null on the first iteration).
 */
function ____rb_erase_color(parent: RbNode, root: RbRoot): void {
  let node: RbNode | null = null;
  let sibling: RbNode;
  let tmp1: RbNode | null;
  let tmp2: RbNode | null;

  for (;;) {
    // Loop invariants: node is black (or null at first); node is not the root; every leaf path
    // through parent and node has one black node fewer than the other leaf paths.
    const right = parent.rb_right;
    if (node !== right) {
      // node === parent.rb_left; the sibling side is a black node deeper, so it is not empty.
      sibling = right!;
      if (sibling.rb_color === RB_RED) {
        // Case 1: red sibling: left rotate at parent.
        tmp1 = sibling.rb_left!;
        parent.rb_right = tmp1;
        sibling.rb_left = parent;
        rb_set_parent_color(tmp1, parent, RB_BLACK);
        __rb_rotate_set_parents(parent, sibling, root, RB_RED);
        sibling = tmp1;
      }
      tmp1 = sibling.rb_right;
      if (tmp1 === null || tmp1.rb_color === RB_BLACK) {
        tmp2 = sibling.rb_left;
        if (tmp2 === null || tmp2.rb_color === RB_BLACK) {
          // Case 2: sibling colour flip; push the deficit up unless parent was red.
          rb_set_parent_color(sibling, parent, RB_RED);
          if (parent.rb_color === RB_RED) {
            parent.rb_color = RB_BLACK;
          } else {
            node = parent;
            const up = node.rb_parent;
            if (up !== null) {
              parent = up;
              continue;
            }
          }
          break;
        }
        // Case 3: right rotate at sibling (sl becomes the sibling; Case 4 fixes the colours).
        tmp1 = tmp2.rb_right;
        sibling.rb_left = tmp1;
        tmp2.rb_right = sibling;
        parent.rb_right = tmp2;
        if (tmp1 !== null) rb_set_parent_color(tmp1, sibling, RB_BLACK);
        tmp1 = sibling;
        sibling = tmp2;
      }
      // Case 4: left rotate at parent + colour flips.
      tmp2 = sibling.rb_left;
      parent.rb_right = tmp2;
      sibling.rb_left = parent;
      rb_set_parent_color(tmp1, sibling, RB_BLACK);
      if (tmp2 !== null) tmp2.rb_parent = parent;
      __rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
      break;
    } else {
      sibling = parent.rb_left!;
      if (sibling.rb_color === RB_RED) {
        // Case 1: right rotate at parent.
        tmp1 = sibling.rb_right!;
        parent.rb_left = tmp1;
        sibling.rb_right = parent;
        rb_set_parent_color(tmp1, parent, RB_BLACK);
        __rb_rotate_set_parents(parent, sibling, root, RB_RED);
        sibling = tmp1;
      }
      tmp1 = sibling.rb_left;
      if (tmp1 === null || tmp1.rb_color === RB_BLACK) {
        tmp2 = sibling.rb_right;
        if (tmp2 === null || tmp2.rb_color === RB_BLACK) {
          // Case 2: sibling colour flip.
          rb_set_parent_color(sibling, parent, RB_RED);
          if (parent.rb_color === RB_RED) {
            parent.rb_color = RB_BLACK;
          } else {
            node = parent;
            const up = node.rb_parent;
            if (up !== null) {
              parent = up;
              continue;
            }
          }
          break;
        }
        // Case 3: left rotate at sibling.
        tmp1 = tmp2.rb_left;
        sibling.rb_right = tmp1;
        tmp2.rb_left = sibling;
        parent.rb_left = tmp2;
        if (tmp1 !== null) rb_set_parent_color(tmp1, sibling, RB_BLACK);
        tmp1 = sibling;
        sibling = tmp2;
      }
      // Case 4: right rotate at parent + colour flips.
      tmp2 = sibling.rb_right;
      parent.rb_left = tmp2;
      sibling.rb_right = parent;
      rb_set_parent_color(tmp1, sibling, RB_BLACK);
      if (tmp2 !== null) tmp2.rb_parent = parent;
      __rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
      break;
    }
  }
}

/**
 * __rb_erase_augmented() without callbacks: unlink `node`, splicing in its successor when it has
 * two children. Returns the node to rebalance from, or null when colours were fixed locally.
 */
function __rb_erase_augmented(node: RbNode, root: RbRoot): RbNode | null {
  const child = node.rb_right;
  let tmp = node.rb_left;
  let parent: RbNode | null;
  let rebalance: RbNode | null;

  if (tmp === null) {
    // Case 1: at most one child (the right). If there is one it is red and node is black
    // (property 5), so the child takes node's parent and colour and nothing needs rebalancing.
    parent = node.rb_parent;
    __rb_change_child(node, child, parent, root);
    if (child !== null) {
      child.rb_parent = parent;
      child.rb_color = node.rb_color;
      rebalance = null;
    } else {
      rebalance = node.rb_color === RB_BLACK ? parent : null;
    }
  } else if (child === null) {
    // Still Case 1, the only child being the left one.
    parent = node.rb_parent;
    tmp.rb_parent = parent;
    tmp.rb_color = node.rb_color;
    __rb_change_child(node, tmp, parent, root);
    rebalance = null;
  } else {
    let successor: RbNode = child;
    let child2: RbNode | null;
    tmp = child.rb_left;
    if (tmp === null) {
      // Case 2: node's successor is its right child.
      parent = successor;
      child2 = successor.rb_right;
    } else {
      // Case 3: node's successor is the leftmost node under its right child.
      do {
        parent = successor;
        successor = tmp;
        tmp = tmp.rb_left;
      } while (tmp !== null);
      child2 = successor.rb_right;
      parent.rb_left = child2;
      successor.rb_right = child;
      child.rb_parent = successor;
    }

    const left = node.rb_left!;
    successor.rb_left = left;
    left.rb_parent = successor;

    const nodeParent = node.rb_parent;
    __rb_change_child(node, successor, nodeParent, root);
    if (child2 !== null) {
      successor.rb_parent = nodeParent;
      successor.rb_color = node.rb_color;
      rb_set_parent_color(child2, parent, RB_BLACK);
      rebalance = null;
    } else {
      const successorColor = successor.rb_color;
      successor.rb_parent = nodeParent;
      successor.rb_color = node.rb_color;
      rebalance = successorColor === RB_BLACK ? parent : null;
    }
  }
  return rebalance;
}

/**
 * rb_erase(node, root): remove `node` from the tree and rebalance. Like the kernel, it leaves the
 * erased node's own fields stale; RB_CLEAR_NODE() it if RB_EMPTY_NODE() will be asked later.
 * Erasing in the middle of a descent is fine as long as the descent restarts from the root.
 */
export function rb_erase(node: RbNode, root: RbRoot): void {
  const rebalance = __rb_erase_augmented(node, root);
  if (rebalance !== null) ____rb_erase_color(rebalance, root);
}

/**
 * rb_replace_node(victim, new, root): put `replacement` in `victim`'s place (same position and
 * colour) without rebalancing; the caller guarantees it sorts the same. `victim`'s fields are left
 * as they were.
 */
export function rb_replace_node(victim: RbNode, replacement: RbNode, root: RbRoot): void {
  const parent = victim.rb_parent;
  const left = victim.rb_left;
  const right = victim.rb_right;
  replacement.rb_parent = parent;
  replacement.rb_color = victim.rb_color;
  replacement.rb_left = left;
  replacement.rb_right = right;
  if (left !== null) left.rb_parent = replacement;
  if (right !== null) right.rb_parent = replacement;
  __rb_change_child(victim, replacement, parent, root);
}

/** rb_first(root): the leftmost (smallest) node, or null. */
export function rb_first<T extends RbNode>(root: RbRoot<T>): T | null {
  let n: RbNode | null = root.rb_node;
  if (n === null) return null;
  while (n.rb_left !== null) n = n.rb_left;
  return n as T;
}

/** rb_last(root): the rightmost (largest) node, or null. */
export function rb_last<T extends RbNode>(root: RbRoot<T>): T | null {
  let n: RbNode | null = root.rb_node;
  if (n === null) return null;
  while (n.rb_right !== null) n = n.rb_right;
  return n as T;
}

/** rb_next(node): the in-order successor, or null (also for an RB_EMPTY_NODE). */
export function rb_next<T extends RbNode>(node: T): T | null {
  let n: RbNode = node;
  if (n.rb_parent === n) return null;
  if (n.rb_right !== null) {
    n = n.rb_right;
    while (n.rb_left !== null) n = n.rb_left;
    return n as T;
  }
  // Climb while we are a right child; the first ancestor we reach from its left is next.
  let parent = n.rb_parent;
  while (parent !== null && n === parent.rb_right) {
    n = parent;
    parent = n.rb_parent;
  }
  return parent as T | null;
}

/** rb_prev(node): the in-order predecessor, or null (also for an RB_EMPTY_NODE). */
export function rb_prev<T extends RbNode>(node: T): T | null {
  let n: RbNode = node;
  if (n.rb_parent === n) return null;
  if (n.rb_left !== null) {
    n = n.rb_left;
    while (n.rb_right !== null) n = n.rb_right;
    return n as T;
  }
  let parent = n.rb_parent;
  while (parent !== null && n === parent.rb_left) {
    n = parent;
    parent = n.rb_parent;
  }
  return parent as T | null;
}

function rb_left_deepest_node(node: RbNode): RbNode {
  for (;;) {
    if (node.rb_left !== null) node = node.rb_left;
    else if (node.rb_right !== null) node = node.rb_right;
    else return node;
  }
}

/**
 * rb_first_postorder(root): the first node of a post-order walk (children before parents), for
 * tearing a tree down without rebalancing. The walk reads only the visited node's parent and the
 * parent's links, so a node may be dropped (even RB_CLEAR_NODE()d) once rb_next_postorder() has
 * been called on it — the rbtree_postorder_for_each_entry_safe() pattern.
 */
export function rb_first_postorder<T extends RbNode>(root: RbRoot<T>): T | null {
  if (root.rb_node === null) return null;
  return rb_left_deepest_node(root.rb_node) as T;
}

/** rb_next_postorder(node): the next node of a post-order walk, or null at the end. */
export function rb_next_postorder<T extends RbNode>(node: T | null): T | null {
  if (node === null) return null;
  const parent = node.rb_parent;
  // Coming up from the left with a right subtree to do: its left-deepest node is next.
  if (parent !== null && node === parent.rb_left && parent.rb_right !== null) {
    return rb_left_deepest_node(parent.rb_right) as T;
  }
  return parent as T | null;
}

/**
 * rb_add(node, tree, less) (include/linux/rbtree.h): insert `node`, equal keys going right
 * (after existing equals).
 */
export function rb_add<T extends RbNode>(node: T, root: RbRoot<T>, less: (a: T, b: T) => boolean): void {
  let parent: RbNode | null = null;
  let cur: RbNode | null = root.rb_node;
  let isLeft = false;
  while (cur !== null) {
    parent = cur;
    isLeft = less(node, cur as T);
    cur = isLeft ? cur.rb_left : cur.rb_right;
  }
  rb_link_node(node, parent, isLeft, root);
  rb_insert_color(node, root);
}

/**
 * rb_find_add(node, tree, cmp) (include/linux/rbtree.h): insert `node` unless a node comparing
 * equal exists; returns that node, or null when `node` was inserted.
 */
export function rb_find_add<T extends RbNode>(
  node: T,
  root: RbRoot<T>,
  cmp: (a: T, b: T) => number,
): T | null {
  let parent: RbNode | null = null;
  let cur: RbNode | null = root.rb_node;
  let isLeft = false;
  while (cur !== null) {
    parent = cur;
    const c = cmp(node, cur as T);
    if (c < 0) {
      isLeft = true;
      cur = cur.rb_left;
    } else if (c > 0) {
      isLeft = false;
      cur = cur.rb_right;
    } else {
      return cur as T;
    }
  }
  rb_link_node(node, parent, isLeft, root);
  rb_insert_color(node, root);
  return null;
}

/** rb_find(key, tree, cmp) (include/linux/rbtree.h): a node comparing equal to `key`, or null. */
export function rb_find<K, T extends RbNode>(
  key: K,
  root: RbRoot<T>,
  cmp: (key: K, node: T) => number,
): T | null {
  let cur: RbNode | null = root.rb_node;
  while (cur !== null) {
    const c = cmp(key, cur as T);
    if (c < 0) cur = cur.rb_left;
    else if (c > 0) cur = cur.rb_right;
    else return cur as T;
  }
  return null;
}
