// RbArena runs lib/rbtree.c's algorithms on typed-array records: driven by the same random
// inserts and erases as the object tree (rbtree.ts), it must end every step in the same shape and
// colours, pass rbArenaCheck, and hold its payload words untouched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RB_ARENA_FIELDS,
  RB_ARENA_ROOT,
  RB_NULL,
  RB_PARENT,
  RB_ROOT,
  RbArena,
  type RbArenaRoot,
  type RbRoot,
  rb_erase,
  rbArenaCheck,
} from '../src/index.ts';
import { Item, insertItem } from './support.ts';

const STRIDE = 8;
const KEY = RB_ARENA_FIELDS;

/** The KSM-style descent of insertItem(), over arena records keyed by their KEY word. */
function insertArena(a: RbArena, root: RbArenaRoot, node: number): void {
  const key = a.w[node * STRIDE + KEY];
  let parent = RB_NULL;
  let cur = root.rb_node;
  let isLeft = false;
  while (cur !== RB_NULL) {
    parent = cur;
    const k = a.w[cur * STRIDE + KEY];
    if (key === k) throw new Error(`key ${key} inserted twice`);
    isLeft = key < k;
    cur = isLeft ? a.rb_left(cur) : a.rb_right(cur);
  }
  a.rb_link_node(node, parent, isLeft, root);
  a.rb_insert_color(node, root);
}

/** Both trees as one string: key, colour and subtrees, pre-order. */
function shapeOf(n: Item | null): string {
  return n === null ? '.' : `(${n.key}${n.rb_color} ${shapeOf(n.rb_left)} ${shapeOf(n.rb_right)})`;
}
function arenaShapeOf(a: RbArena, n: number): string {
  return n === RB_NULL
    ? '.'
    : `(${a.w[n * STRIDE + KEY]}${a.rb_color(n)} ${arenaShapeOf(a, a.rb_left(n))} ${arenaShapeOf(a, a.rb_right(n))})`;
}

const cmpKeys = (a: RbArena) => (x: number, y: number) => a.w[x * STRIDE + KEY] - a.w[y * STRIDE + KEY];

describe('RbArena', () => {
  it('takes the object tree’s shapes through random inserts and erases', () => {
    let largest = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 3 }).map((x) => x !== 0),
            fc.integer({ min: 0, max: 200 }),
          ),
          { minLength: 1, maxLength: 300, size: 'max' },
        ),
        (ops) => {
          const root: RbRoot<Item> = RB_ROOT();
          const items = new Map<number, Item>();
          const a = new RbArena(STRIDE, 2); // small, so alloc() grows it
          const aroot = RB_ARENA_ROOT();
          const ids = new Map<number, number>();
          for (const [insert, key] of ops) {
            if (insert && !items.has(key)) {
              const it = new Item(key);
              insertItem(root, it);
              items.set(key, it);
              const n = a.alloc();
              a.w[n * STRIDE + KEY] = key;
              a.w[n * STRIDE + KEY + 1] = ~key;
              insertArena(a, aroot, n);
              ids.set(key, n);
            } else if (!insert && items.has(key)) {
              rb_erase(items.get(key)!, root);
              items.delete(key);
              const n = ids.get(key)!;
              a.rb_erase(n, aroot);
              a.free(n);
              ids.delete(key);
            }
            const err = rbArenaCheck(a, aroot, cmpKeys(a), { unique: true });
            if (err !== null) throw new Error(err);
            if (arenaShapeOf(a, aroot.rb_node) !== shapeOf(root.rb_node)) throw new Error('shapes differ');
            largest = Math.max(largest, items.size);
          }
          expect(a.size).toBe(items.size);
          for (const [key, n] of ids) expect(a.w[n * STRIDE + KEY + 1]).toBe(~key);
          const inorder: number[] = [];
          for (let n = a.rb_first(aroot); n !== RB_NULL; n = a.rb_next(n))
            inorder.push(a.w[n * STRIDE + KEY]);
          expect(inorder).toEqual([...items.keys()].sort((x, y) => x - y));
        },
      ),
      { numRuns: 200 },
    );
    expect(largest).toBeGreaterThan(50);
  });

  it('hands freed records out again before new ones', () => {
    const a = new RbArena(STRIDE);
    const [x, y] = [a.alloc(), a.alloc()];
    expect([x, y]).toEqual([1, 2]);
    a.free(x);
    expect(a.size).toBe(1);
    expect(a.alloc()).toBe(x);
    expect(a.alloc()).toBe(3);
  });

  it('rbArenaCheck names a broken tree', () => {
    const a = new RbArena(STRIDE);
    const root = RB_ARENA_ROOT();
    const n = [a.alloc(), a.alloc(), a.alloc()];
    n.forEach((id, i) => {
      a.w[id * STRIDE + KEY] = i;
    });
    for (const id of n) insertArena(a, root, id);
    expect(rbArenaCheck(a, root, cmpKeys(a), { unique: true })).toBe(null);
    a.w[n[0]! * STRIDE + KEY] = 5; // the left child now sorts after the root
    expect(rbArenaCheck(a, root, cmpKeys(a), { unique: true })).toMatch(
      /sorts before its in-order predecessor/,
    );
    a.w[n[0]! * STRIDE + KEY] = 0;
    a.w[n[2]! * STRIDE + RB_PARENT] = n[0]!; // the right child's parent word names the left one
    expect(rbArenaCheck(a, root)).toMatch(/rb_parent does not point/);
  });
});
