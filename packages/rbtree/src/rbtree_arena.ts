// lib/rbtree.c (Linux 6.18) over nodes held in one typed array: the same algorithms as rbtree.ts,
// case for case (so the same rotations, recolourings and tree shapes), for trees whose nodes are
// integer ids instead of objects. A node is `stride` consecutive Int32 words of RbArena.w: its
// four rb words (struct rb_node: parent, colour, left, right) and then the owner's own fields, so
// that a descent reads one small, dense record per level (32 bytes with four words of payload)
// and a tree of millions of nodes is neither millions of objects for the garbage collector nor
// scattered over the heap. Node 0 is never handed out: 0 is NULL.

import { BUG, VM_BUG_ON } from '@mmsim/core';
import { RB_BLACK, RB_RED } from './rbtree.ts';

/** The NULL node id. */
export const RB_NULL = 0;
/** Word offsets of struct rb_node in a node's record (the kernel's __rb_parent_color is two). */
export const RB_PARENT = 0;
export const RB_COLOR = 1;
export const RB_LEFT = 2;
export const RB_RIGHT = 3;
/** The first word of a record free for the owner's fields. */
export const RB_ARENA_FIELDS = 4;

/** struct rb_root of an arena tree. */
export interface RbArenaRoot {
  rb_node: number;
}

/** RB_ROOT for an arena tree. */
export function RB_ARENA_ROOT(): RbArenaRoot {
  return { rb_node: RB_NULL };
}

/**
 * The nodes of any number of trees: records of `stride` Int32 words, handed out by alloc() (a
 * free list, then new records; the array doubles when full) and taken back by free(). free()
 * leaves the record as it was, like rb_erase() leaves an erased node: a tree that is dropped
 * wholesale (KSM's unstable tree, emptied by a new root) may still link it until the record is
 * handed out again. Reads and writes go straight to `w` at `node * stride + RB_...`.
 */
export class RbArena {
  /** The records; replaced (copied) when the arena grows: re-read it after alloc(). */
  w: Int32Array;
  readonly stride: number;
  /** Records handed out so far (the next new id). */
  private used = 1;
  private freelist: number[] = [];

  constructor(stride: number, capacity = 1024) {
    if (stride < RB_ARENA_FIELDS || !Number.isInteger(stride)) BUG(`RbArena: stride ${stride}`);
    this.stride = stride;
    this.w = new Int32Array(stride * Math.max(capacity, 2));
  }

  /** A record: one freed before, else a new (zeroed) one. Its words hold whatever they held. */
  alloc(): number {
    const n = this.freelist.pop();
    if (n !== undefined) return n;
    const id = this.used++;
    if ((id + 1) * this.stride > this.w.length) {
      const next = new Int32Array(this.w.length * 2);
      next.set(this.w);
      this.w = next;
    }
    return id;
  }

  /** Give a record back (its words are left as they are). */
  free(node: number): void {
    this.freelist.push(node);
  }

  /** Records handed out and not freed. */
  get size(): number {
    return this.used - 1 - this.freelist.length;
  }

  rb_parent(node: number): number {
    return this.w[node * this.stride + RB_PARENT];
  }

  rb_color(node: number): number {
    return this.w[node * this.stride + RB_COLOR];
  }

  rb_left(node: number): number {
    return this.w[node * this.stride + RB_LEFT];
  }

  rb_right(node: number): number {
    return this.w[node * this.stride + RB_RIGHT];
  }

  private setParent(node: number, parent: number): void {
    this.w[node * this.stride + RB_PARENT] = parent;
  }

  private setColor(node: number, color: number): void {
    this.w[node * this.stride + RB_COLOR] = color;
  }

  private setLeft(node: number, child: number): void {
    this.w[node * this.stride + RB_LEFT] = child;
  }

  private setRight(node: number, child: number): void {
    this.w[node * this.stride + RB_RIGHT] = child;
  }

  private rb_set_parent_color(node: number, parent: number, color: number): void {
    const o = node * this.stride;
    this.w[o + RB_PARENT] = parent;
    this.w[o + RB_COLOR] = color;
  }

  /** rb_link_node(node, parent, rb_link): as rbtree.ts's, (`parent`, `isLeft`) for the link. */
  rb_link_node(node: number, parent: number, isLeft: boolean, root: RbArenaRoot): void {
    const w = this.w;
    const o = node * this.stride;
    w[o + RB_PARENT] = parent;
    w[o + RB_COLOR] = RB_RED;
    w[o + RB_LEFT] = RB_NULL;
    w[o + RB_RIGHT] = RB_NULL;
    if (parent === RB_NULL) {
      VM_BUG_ON(root.rb_node !== RB_NULL, 'rb_link_node: root slot is occupied');
      root.rb_node = node;
    } else if (isLeft) {
      VM_BUG_ON(this.rb_left(parent) !== RB_NULL, 'rb_link_node: parent->rb_left is occupied');
      this.setLeft(parent, node);
    } else {
      VM_BUG_ON(this.rb_right(parent) !== RB_NULL, 'rb_link_node: parent->rb_right is occupied');
      this.setRight(parent, node);
    }
  }

  /** __rb_change_child(). */
  private __rb_change_child(old: number, now: number, parent: number, root: RbArenaRoot): void {
    if (parent !== RB_NULL) {
      if (this.rb_left(parent) === old) this.setLeft(parent, now);
      else this.setRight(parent, now);
    } else {
      root.rb_node = now;
    }
  }

  /** __rb_rotate_set_parents(). */
  private __rb_rotate_set_parents(old: number, now: number, root: RbArenaRoot, color: number): void {
    const parent = this.rb_parent(old);
    this.rb_set_parent_color(now, parent, this.rb_color(old));
    this.rb_set_parent_color(old, now, color);
    this.__rb_change_child(old, now, parent, root);
  }

  /** rb_insert_color(node, root): __rb_insert() (see rbtree.ts for the cases). */
  rb_insert_color(node: number, root: RbArenaRoot): void {
    let parent = this.rb_parent(node);
    let gparent: number;
    let tmp: number;

    for (;;) {
      if (parent === RB_NULL) {
        this.rb_set_parent_color(node, RB_NULL, RB_BLACK);
        break;
      }
      if (this.rb_color(parent) === RB_BLACK) break;

      gparent = this.rb_parent(parent);
      tmp = this.rb_right(gparent);
      if (parent !== tmp) {
        if (tmp !== RB_NULL && this.rb_color(tmp) === RB_RED) {
          // Case 1: red uncle.
          this.rb_set_parent_color(tmp, gparent, RB_BLACK);
          this.rb_set_parent_color(parent, gparent, RB_BLACK);
          node = gparent;
          parent = this.rb_parent(node);
          this.rb_set_parent_color(node, parent, RB_RED);
          continue;
        }
        tmp = this.rb_right(parent);
        if (node === tmp) {
          // Case 2: left rotate at parent.
          tmp = this.rb_left(node);
          this.setRight(parent, tmp);
          this.setLeft(node, parent);
          if (tmp !== RB_NULL) this.rb_set_parent_color(tmp, parent, RB_BLACK);
          this.rb_set_parent_color(parent, node, RB_RED);
          parent = node;
          tmp = this.rb_right(node);
        }
        // Case 3: right rotate at gparent.
        this.setLeft(gparent, tmp);
        this.setRight(parent, gparent);
        if (tmp !== RB_NULL) this.rb_set_parent_color(tmp, gparent, RB_BLACK);
        this.__rb_rotate_set_parents(gparent, parent, root, RB_RED);
        break;
      } else {
        tmp = this.rb_left(gparent);
        if (tmp !== RB_NULL && this.rb_color(tmp) === RB_RED) {
          // Case 1: colour flips.
          this.rb_set_parent_color(tmp, gparent, RB_BLACK);
          this.rb_set_parent_color(parent, gparent, RB_BLACK);
          node = gparent;
          parent = this.rb_parent(node);
          this.rb_set_parent_color(node, parent, RB_RED);
          continue;
        }
        tmp = this.rb_left(parent);
        if (node === tmp) {
          // Case 2: right rotate at parent.
          tmp = this.rb_right(node);
          this.setLeft(parent, tmp);
          this.setRight(node, parent);
          if (tmp !== RB_NULL) this.rb_set_parent_color(tmp, parent, RB_BLACK);
          this.rb_set_parent_color(parent, node, RB_RED);
          parent = node;
          tmp = this.rb_left(node);
        }
        // Case 3: left rotate at gparent.
        this.setRight(gparent, tmp);
        this.setLeft(parent, gparent);
        if (tmp !== RB_NULL) this.rb_set_parent_color(tmp, gparent, RB_BLACK);
        this.__rb_rotate_set_parents(gparent, parent, root, RB_RED);
        break;
      }
    }
  }

  /** ____rb_erase_color() (see rbtree.ts for the cases). */
  private ____rb_erase_color(parent: number, root: RbArenaRoot): void {
    let node = RB_NULL;
    let sibling: number;
    let tmp1: number;
    let tmp2: number;

    for (;;) {
      const right = this.rb_right(parent);
      if (node !== right) {
        sibling = right;
        if (this.rb_color(sibling) === RB_RED) {
          // Case 1: left rotate at parent.
          tmp1 = this.rb_left(sibling);
          this.setRight(parent, tmp1);
          this.setLeft(sibling, parent);
          this.rb_set_parent_color(tmp1, parent, RB_BLACK);
          this.__rb_rotate_set_parents(parent, sibling, root, RB_RED);
          sibling = tmp1;
        }
        tmp1 = this.rb_right(sibling);
        if (tmp1 === RB_NULL || this.rb_color(tmp1) === RB_BLACK) {
          tmp2 = this.rb_left(sibling);
          if (tmp2 === RB_NULL || this.rb_color(tmp2) === RB_BLACK) {
            // Case 2: sibling colour flip.
            this.rb_set_parent_color(sibling, parent, RB_RED);
            if (this.rb_color(parent) === RB_RED) {
              this.setColor(parent, RB_BLACK);
            } else {
              node = parent;
              const up = this.rb_parent(node);
              if (up !== RB_NULL) {
                parent = up;
                continue;
              }
            }
            break;
          }
          // Case 3: right rotate at sibling.
          tmp1 = this.rb_right(tmp2);
          this.setLeft(sibling, tmp1);
          this.setRight(tmp2, sibling);
          this.setRight(parent, tmp2);
          if (tmp1 !== RB_NULL) this.rb_set_parent_color(tmp1, sibling, RB_BLACK);
          tmp1 = sibling;
          sibling = tmp2;
        }
        // Case 4: left rotate at parent + colour flips.
        tmp2 = this.rb_left(sibling);
        this.setRight(parent, tmp2);
        this.setLeft(sibling, parent);
        this.rb_set_parent_color(tmp1, sibling, RB_BLACK);
        if (tmp2 !== RB_NULL) this.setParent(tmp2, parent);
        this.__rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
        break;
      } else {
        sibling = this.rb_left(parent);
        if (this.rb_color(sibling) === RB_RED) {
          // Case 1: right rotate at parent.
          tmp1 = this.rb_right(sibling);
          this.setLeft(parent, tmp1);
          this.setRight(sibling, parent);
          this.rb_set_parent_color(tmp1, parent, RB_BLACK);
          this.__rb_rotate_set_parents(parent, sibling, root, RB_RED);
          sibling = tmp1;
        }
        tmp1 = this.rb_left(sibling);
        if (tmp1 === RB_NULL || this.rb_color(tmp1) === RB_BLACK) {
          tmp2 = this.rb_right(sibling);
          if (tmp2 === RB_NULL || this.rb_color(tmp2) === RB_BLACK) {
            // Case 2: sibling colour flip.
            this.rb_set_parent_color(sibling, parent, RB_RED);
            if (this.rb_color(parent) === RB_RED) {
              this.setColor(parent, RB_BLACK);
            } else {
              node = parent;
              const up = this.rb_parent(node);
              if (up !== RB_NULL) {
                parent = up;
                continue;
              }
            }
            break;
          }
          // Case 3: left rotate at sibling.
          tmp1 = this.rb_left(tmp2);
          this.setRight(sibling, tmp1);
          this.setLeft(tmp2, sibling);
          this.setLeft(parent, tmp2);
          if (tmp1 !== RB_NULL) this.rb_set_parent_color(tmp1, sibling, RB_BLACK);
          tmp1 = sibling;
          sibling = tmp2;
        }
        // Case 4: right rotate at parent + colour flips.
        tmp2 = this.rb_right(sibling);
        this.setLeft(parent, tmp2);
        this.setRight(sibling, parent);
        this.rb_set_parent_color(tmp1, sibling, RB_BLACK);
        if (tmp2 !== RB_NULL) this.setParent(tmp2, parent);
        this.__rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
        break;
      }
    }
  }

  /** __rb_erase_augmented() without callbacks (see rbtree.ts). */
  private __rb_erase_augmented(node: number, root: RbArenaRoot): number {
    const child = this.rb_right(node);
    let tmp = this.rb_left(node);
    let parent: number;
    let rebalance: number;

    if (tmp === RB_NULL) {
      // Case 1: at most one child (the right).
      parent = this.rb_parent(node);
      this.__rb_change_child(node, child, parent, root);
      if (child !== RB_NULL) {
        this.rb_set_parent_color(child, parent, this.rb_color(node));
        rebalance = RB_NULL;
      } else {
        rebalance = this.rb_color(node) === RB_BLACK ? parent : RB_NULL;
      }
    } else if (child === RB_NULL) {
      // Still Case 1, the only child being the left one.
      parent = this.rb_parent(node);
      this.rb_set_parent_color(tmp, parent, this.rb_color(node));
      this.__rb_change_child(node, tmp, parent, root);
      rebalance = RB_NULL;
    } else {
      let successor = child;
      let child2: number;
      tmp = this.rb_left(child);
      if (tmp === RB_NULL) {
        // Case 2: node's successor is its right child.
        parent = successor;
        child2 = this.rb_right(successor);
      } else {
        // Case 3: node's successor is the leftmost node under its right child.
        do {
          parent = successor;
          successor = tmp;
          tmp = this.rb_left(tmp);
        } while (tmp !== RB_NULL);
        child2 = this.rb_right(successor);
        this.setLeft(parent, child2);
        this.setRight(successor, child);
        this.setParent(child, successor);
      }

      const left = this.rb_left(node);
      this.setLeft(successor, left);
      this.setParent(left, successor);

      const nodeParent = this.rb_parent(node);
      this.__rb_change_child(node, successor, nodeParent, root);
      if (child2 !== RB_NULL) {
        this.rb_set_parent_color(successor, nodeParent, this.rb_color(node));
        this.rb_set_parent_color(child2, parent, RB_BLACK);
        rebalance = RB_NULL;
      } else {
        const successorColor = this.rb_color(successor);
        this.rb_set_parent_color(successor, nodeParent, this.rb_color(node));
        rebalance = successorColor === RB_BLACK ? parent : RB_NULL;
      }
    }
    return rebalance;
  }

  /** rb_erase(node, root): the erased node's words are left as they were. */
  rb_erase(node: number, root: RbArenaRoot): void {
    const rebalance = this.__rb_erase_augmented(node, root);
    if (rebalance !== RB_NULL) this.____rb_erase_color(rebalance, root);
  }

  /** rb_first(root): the leftmost node, or RB_NULL. */
  rb_first(root: RbArenaRoot): number {
    let n = root.rb_node;
    if (n === RB_NULL) return RB_NULL;
    while (this.rb_left(n) !== RB_NULL) n = this.rb_left(n);
    return n;
  }

  /** rb_next(node): the in-order successor, or RB_NULL. */
  rb_next(node: number): number {
    let n = node;
    let r = this.rb_right(n);
    if (r !== RB_NULL) {
      while (this.rb_left(r) !== RB_NULL) r = this.rb_left(r);
      return r;
    }
    let parent = this.rb_parent(n);
    while (parent !== RB_NULL && n === this.rb_right(parent)) {
      n = parent;
      parent = this.rb_parent(n);
    }
    return parent;
  }
}
