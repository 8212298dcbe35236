import { KernelBug } from '@mmsim/core';
import { describe, expect, it } from 'vitest';
import {
  RB_BLACK,
  RB_CLEAR_NODE,
  RB_EMPTY_NODE,
  RB_EMPTY_ROOT,
  RB_RED,
  RB_ROOT,
  type RbNode,
  RbNodeBase,
  type RbRoot,
  rb_add,
  rb_erase,
  rb_find,
  rb_find_add,
  rb_first,
  rb_first_postorder,
  rb_insert_color,
  rb_is_black,
  rb_last,
  rb_link_node,
  rb_next,
  rb_next_postorder,
  rb_parent,
  rb_prev,
  rb_replace_node,
  rbNodeInit,
  rbtreeCheck,
} from '../src/index.ts';
import {
  cmpItems,
  describeItem,
  height,
  Item,
  inorder,
  insertItem,
  searchInsertEraseStale,
  shape,
} from './support.ts';

function build(keys: number[]): { root: RbRoot<Item>; nodes: Map<number, Item> } {
  const root = RB_ROOT<Item>();
  const nodes = new Map<number, Item>();
  for (const k of keys) {
    const n = new Item(k);
    expect(insertItem(root, n)).toBeNull();
    nodes.set(k, n);
  }
  return { root, nodes };
}

const valid = (root: RbRoot<Item>): string | null =>
  rbtreeCheck(root, cmpItems, { unique: true, describe: describeItem });

function* permutations(a: number[]): Generator<number[]> {
  if (a.length <= 1) {
    yield a.slice();
    return;
  }
  for (let i = 0; i < a.length; i++) {
    const rest = a.slice(0, i).concat(a.slice(i + 1));
    for (const p of permutations(rest)) yield [a[i], ...p];
  }
}

describe('empty trees and fresh nodes', () => {
  it('an empty root has no first, last or post-order node and is valid', () => {
    const root = RB_ROOT<Item>();
    expect(RB_EMPTY_ROOT(root)).toBe(true);
    expect(rb_first(root)).toBeNull();
    expect(rb_last(root)).toBeNull();
    expect(rb_first_postorder(root)).toBeNull();
    expect(rb_next_postorder(null)).toBeNull();
    expect(rbtreeCheck(root)).toBeNull();
  });

  it('a new node is zeroed like a kzalloc()ed rb_node: not RB_EMPTY_NODE until RB_CLEAR_NODE', () => {
    const n = new Item(1);
    expect([n.rb_parent, n.rb_color, n.rb_left, n.rb_right]).toEqual([null, RB_RED, null, null]);
    expect(Object.keys(n).slice(0, 4)).toEqual(['rb_parent', 'rb_color', 'rb_left', 'rb_right']);
    expect(RB_EMPTY_NODE(n)).toBe(false);
    RB_CLEAR_NODE(n);
    expect(RB_EMPTY_NODE(n)).toBe(true);
    expect(rb_next(n)).toBeNull();
    expect(rb_prev(n)).toBeNull();
    rbNodeInit(n);
    expect(RB_EMPTY_NODE(n)).toBe(false);
    expect(n.rb_parent).toBeNull();
  });

  it('an object that declares the four fields itself works as a node (no base class)', () => {
    class Bare implements RbNode {
      rb_parent: Bare | null = null;
      rb_color: 0 | 1 = RB_RED;
      rb_left: Bare | null = null;
      rb_right: Bare | null = null;
      readonly v: number;
      constructor(v: number) {
        this.v = v;
      }
    }
    const root = RB_ROOT<Bare>();
    for (const v of [3, 1, 2]) rb_add(new Bare(v), root, (a, b) => a.v < b.v);
    expect(rbtreeCheck(root, (a, b) => a.v - b.v)).toBeNull();
    expect(rb_first(root)?.v).toBe(1);
    expect(rb_last(root)?.v).toBe(3);
  });
});

describe('rb_link_node + rb_insert_color', () => {
  it('the first node becomes a black root with no parent', () => {
    const { root, nodes } = build([42]);
    const n = nodes.get(42)!;
    expect(root.rb_node).toBe(n);
    expect(rb_is_black(n)).toBe(true);
    expect(rb_parent(n)).toBeNull();
    expect(RB_EMPTY_ROOT(root)).toBe(false);
  });

  it('links as a red leaf and rebalances: 1,2,3 rotate into 2 over 1 and 3', () => {
    const { root } = build([1, 2, 3]);
    expect(shape(root.rb_node)).toBe('(2B (1r . .) (3r . .))');
  });

  it('keeps 1000 ascending inserts balanced and ordered, walkable both ways', () => {
    const keys = Array.from({ length: 1000 }, (_, i) => i);
    const { root } = build(keys);
    expect(valid(root)).toBeNull();
    expect(height(root.rb_node)).toBeLessThanOrEqual(2 * Math.log2(1001));
    expect(inorder(root).map((n) => n.key)).toEqual(keys);
    const back: number[] = [];
    for (let n = rb_last(root); n !== null; n = rb_prev(n)) back.push(n.key);
    expect(back).toEqual(keys.slice().reverse());
  });

  it('refuses to link over an occupied slot (that would drop a subtree)', () => {
    const { root, nodes } = build([2, 1]);
    expect(() => rb_link_node(new Item(0), nodes.get(2)!, true, root)).toThrow(KernelBug);
    expect(() => rb_link_node(new Item(0), null, true, root)).toThrow(KernelBug);
    expect(valid(root)).toBeNull();
  });

  it('stays valid for every insertion order of 7 keys, and for erasing them in every such order', () => {
    let trees = 0;
    for (const perm of permutations([1, 2, 3, 4, 5, 6, 7])) {
      const { root, nodes } = build(perm);
      expect(valid(root)).toBeNull();
      for (const k of perm) {
        rb_erase(nodes.get(k)!, root);
        const err = valid(root);
        if (err !== null) throw new Error(`insert ${perm}, erase ${k}: ${err}`);
      }
      expect(RB_EMPTY_ROOT(root)).toBe(true);
      trees++;
    }
    expect(trees).toBe(5040);
  });
});

describe('rb_erase', () => {
  it('erases a leaf, a one-child node, a two-child node and the root', () => {
    const keys = [50, 25, 75, 10, 30, 60, 90, 5, 27, 65];
    const { root, nodes } = build(keys);
    const left = new Set(keys);
    for (const k of [5, 10, 75, root.rb_node!.key, 27]) {
      rb_erase(nodes.get(k)!, root);
      left.delete(k);
      expect(valid(root)).toBeNull();
      expect(inorder(root).map((n) => n.key)).toEqual([...left].sort((a, b) => a - b));
    }
  });

  it('leaves the erased node as it was, like the kernel; RB_CLEAR_NODE marks it off-tree', () => {
    const { root, nodes } = build([1, 2, 3]);
    const two = nodes.get(2)!;
    const before = [two.rb_parent, two.rb_color, two.rb_left, two.rb_right];
    rb_erase(two, root);
    expect([two.rb_parent, two.rb_color, two.rb_left, two.rb_right]).toEqual(before);
    expect(RB_EMPTY_NODE(two)).toBe(false);
    RB_CLEAR_NODE(two);
    expect(RB_EMPTY_NODE(two)).toBe(true);
    expect(inorder(root).map((n) => n.key)).toEqual([1, 3]);
  });

  it('erasing the only node empties the root', () => {
    const { root, nodes } = build([7]);
    rb_erase(nodes.get(7)!, root);
    expect(RB_EMPTY_ROOT(root)).toBe(true);
  });
});

describe('rb_replace_node', () => {
  it('puts the replacement in the victim’s place and colour, neighbours pointing at it', () => {
    const { root, nodes } = build([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const k of [root.rb_node!.key, 1, 6]) {
      const victim = nodes.get(k)!;
      const saved = [victim.rb_parent, victim.rb_color, victim.rb_left, victim.rb_right];
      const repl = new Item(k);
      rb_replace_node(victim, repl, root);
      nodes.set(k, repl);
      expect([repl.rb_parent, repl.rb_color, repl.rb_left, repl.rb_right]).toEqual(saved);
      expect([victim.rb_parent, victim.rb_color, victim.rb_left, victim.rb_right]).toEqual(saved);
      expect(valid(root)).toBeNull();
      expect(inorder(root)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((x) => nodes.get(x)));
    }
  });
});

describe('post-order walk', () => {
  it('visits every node once, children before their parent', () => {
    const { root } = build(Array.from({ length: 200 }, (_, i) => (i * 37) % 200));
    const seen = new Set<Item>();
    for (let n = rb_first_postorder(root); n !== null; n = rb_next_postorder(n)) {
      if (n.rb_left !== null) expect(seen.has(n.rb_left)).toBe(true);
      if (n.rb_right !== null) expect(seen.has(n.rb_right)).toBe(true);
      expect(seen.has(n)).toBe(false);
      seen.add(n);
    }
    expect(seen.size).toBe(200);
  });

  it('can tear a tree down, clearing each node after stepping past it (the _safe pattern)', () => {
    const { root } = build([4, 2, 6, 1, 3, 5, 7]);
    const freed: number[] = [];
    let next: Item | null;
    for (let n = rb_first_postorder(root); n !== null; n = next) {
      next = rb_next_postorder(n);
      RB_CLEAR_NODE(n);
      freed.push(n.key);
    }
    root.rb_node = null;
    expect(freed.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('rb_find, rb_find_add, rb_add (include/linux/rbtree.h helpers)', () => {
  it('rb_find_add inserts new keys and returns the existing node for a duplicate', () => {
    const root = RB_ROOT<Item>();
    const a = new Item(5);
    expect(rb_find_add(a, root, cmpItems)).toBeNull();
    expect(rb_find_add(new Item(3), root, cmpItems)).toBeNull();
    expect(rb_find_add(new Item(5), root, cmpItems)).toBe(a);
    expect(rb_find(5, root, (k: number, n: Item) => k - n.key)).toBe(a);
    expect(rb_find(4, root, (k: number, n: Item) => k - n.key)).toBeNull();
    expect(valid(root)).toBeNull();
  });

  it('rb_add keeps equal keys in insertion order (equals go right)', () => {
    const root = RB_ROOT<Item>();
    const added: Item[] = [];
    for (const k of [2, 1, 2, 3, 2, 1]) {
      const n = new Item(k);
      added.push(n);
      rb_add(n, root, (x, y) => x.key < y.key);
    }
    expect(rbtreeCheck(root, cmpItems)).toBeNull();
    expect(rbtreeCheck(root, cmpItems, { unique: true })).toMatch(/compares equal/);
    expect(inorder(root)).toEqual([added[1], added[5], added[0], added[2], added[4], added[3]]);
  });
});

describe('erasing stale nodes in the middle of a descent (stable_tree_search)', () => {
  it('erases each stale node it walks over, restarts from the root, and inserts where the last descent ended', () => {
    const keys = Array.from({ length: 64 }, (_, i) => i * 2);
    const { root, nodes } = build(keys);
    // Stale: the root and a few nodes on the path to 33, plus some off the path.
    const stale = [root.rb_node!.key, 32, 34, 36, 0, 126];
    for (const k of stale) nodes.get(k)!.stale = true;
    const node = new Item(33);
    const { found, erased } = searchInsertEraseStale(root, node);
    expect(found).toBeNull();
    expect(erased.length).toBeGreaterThan(0);
    for (const n of erased) {
      expect(n.stale).toBe(true);
      expect(RB_EMPTY_NODE(n)).toBe(true);
    }
    expect(valid(root)).toBeNull();
    const expected = keys.filter((k) => !erased.some((n) => n.key === k)).concat(33);
    expect(inorder(root).map((n) => n.key)).toEqual(expected.sort((a, b) => a - b));
    // A second search for 33 walks a path with no stale nodes left on it.
    const again = searchInsertEraseStale(root, new Item(33));
    expect(again.found).toBe(node);
    expect(again.erased).toEqual([]);
  });
});

describe('rbtreeCheck', () => {
  const fresh = () => build([1, 2, 3, 4, 5, 6, 7, 8]);

  it('accepts valid trees', () => {
    expect(valid(fresh().root)).toBeNull();
  });

  it('reports a red root', () => {
    const { root } = fresh();
    root.rb_node!.rb_color = RB_RED;
    expect(rbtreeCheck(root)).toMatch(/^root: the root is red/);
  });

  it('reports a red node with a red parent, naming its path and describing it', () => {
    const { root, nodes } = build([2, 1, 3]);
    nodes.get(1)!.rb_color = RB_RED;
    const one = nodes.get(1)!;
    const child = new Item(0);
    one.rb_left = child;
    child.rb_parent = one;
    expect(rbtreeCheck(root, cmpItems, { describe: describeItem })).toBe(
      'root.L.L (key 0): red node has a red parent',
    );
  });

  it('reports unequal black heights', () => {
    const { root } = build([2, 1, 3]);
    root.rb_node!.rb_left!.rb_color = RB_BLACK;
    expect(rbtreeCheck(root)).toMatch(/black nodes, the first leaf path had 2/);
  });

  it('reports a parent pointer that disagrees with the child link, and a linked cleared node', () => {
    const { root, nodes } = fresh();
    nodes.get(1)!.rb_parent = nodes.get(8)!;
    expect(rbtreeCheck(root)).toMatch(/rb_parent does not point/);
    const t = fresh();
    RB_CLEAR_NODE(t.nodes.get(8)!);
    expect(rbtreeCheck(t.root)).toMatch(/RB_EMPTY_NODE/);
  });

  it('reports cycles and shared children instead of looping', () => {
    const { root } = build([1]);
    const r = root.rb_node!;
    r.rb_left = r;
    expect(rbtreeCheck(root)).toMatch(/^root.L: rb_parent/);
    const t = build([2, 1]).root;
    t.rb_node!.rb_right = t.rb_node!.rb_left;
    expect(rbtreeCheck(t)).toMatch(/same node/);
  });

  it('reports a bad colour value', () => {
    const { root } = fresh();
    (root.rb_node as { rb_color: number }).rb_color = 2;
    expect(rbtreeCheck(root)).toMatch(/rb_color is 2/);
  });

  it('reports in-order disorder with cmp', () => {
    const { root, nodes } = fresh();
    nodes.get(5)!.key = 100;
    expect(rbtreeCheck(root)).toBeNull();
    expect(rbtreeCheck(root, cmpItems, { describe: describeItem })).toMatch(
      /\(key 6\): sorts before its in-order predecessor \(key 100\)/,
    );
  });

  it('works on any node kind extending RbNodeBase', () => {
    class Other extends RbNodeBase<Other> {}
    const root = RB_ROOT<Other>();
    const a = new Other();
    rb_link_node(a, null, false, root);
    rb_insert_color(a, root);
    expect(rbtreeCheck(root)).toBeNull();
  });
});
