// Model-based tests: random sequences of KSM-style inserts, erases (by node, as KSM holds its
// nodes), replacements, and searches that erase stale nodes mid-descent, run against a plain
// sorted array of the same nodes. After every step the tree must pass rbtreeCheck and walk
// (forwards, backwards, post-order) exactly the model's nodes. fast-check prints the seed and
// the shrunk command sequence on failure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  RB_EMPTY_NODE,
  RB_EMPTY_ROOT,
  RB_ROOT,
  type RbRoot,
  rb_erase,
  rb_first,
  rb_first_postorder,
  rb_last,
  rb_next_postorder,
  rb_prev,
  rb_replace_node,
  rbtreeCheck,
} from '../src/index.ts';
import { cmpItems, describeItem, Item, inorder, insertItem, searchInsertEraseStale } from './support.ts';

interface Model {
  /** The nodes in key order: the plain sorted array the tree is checked against. */
  nodes: Item[];
}
interface Real {
  root: RbRoot<Item>;
}

/** The largest tree any model run reached, to show the runs build non-trivial trees. */
let largest = 0;

function lowerBound(nodes: Item[], key: number): number {
  let lo = 0;
  let hi = nodes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (nodes[mid].key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkAgainstModel(m: Model, r: Real): void {
  largest = Math.max(largest, m.nodes.length);
  const err = rbtreeCheck(r.root, cmpItems, { unique: true, describe: describeItem });
  if (err !== null) throw new Error(`rbtreeCheck: ${err}`);
  // Plain comparisons rather than expect() per node: this runs after every command.
  const n = m.nodes.length;
  const fwd = inorder(r.root);
  if (fwd.length !== n) throw new Error(`tree has ${fwd.length} nodes, model ${n}`);
  for (let i = 0; i < n; i++) {
    if (fwd[i] !== m.nodes[i])
      throw new Error(`in-order #${i}: key ${fwd[i].key}, model has ${m.nodes[i].key}`);
  }
  let i = n;
  for (let x = rb_last(r.root); x !== null; x = rb_prev(x)) {
    if (x !== m.nodes[--i]) throw new Error(`reverse walk differs at #${i}`);
  }
  if (i !== 0) throw new Error(`reverse walk stopped at #${i}`);
  let post = 0;
  for (let x = rb_first_postorder(r.root); x !== null; x = rb_next_postorder(x)) post++;
  if (post !== n) throw new Error(`post-order walk saw ${post} nodes, model ${n}`);
  if (RB_EMPTY_ROOT(r.root) !== (n === 0)) throw new Error('RB_EMPTY_ROOT disagrees with the model');
  if (rb_first(r.root) !== (n === 0 ? null : m.nodes[0]))
    throw new Error('rb_first is not the model minimum');
}

class InsertCommand implements fc.Command<Model, Real> {
  readonly key: number;
  constructor(key: number) {
    this.key = key;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const node = new Item(this.key);
    const at = lowerBound(m.nodes, this.key);
    const existing = at < m.nodes.length && m.nodes[at].key === this.key ? m.nodes[at] : null;
    expect(insertItem(r.root, node)).toBe(existing);
    if (existing === null) m.nodes.splice(at, 0, node);
    checkAgainstModel(m, r);
  }
  toString(): string {
    return `insert(${this.key})`;
  }
}

class EraseCommand implements fc.Command<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check(m: Readonly<Model>): boolean {
    return m.nodes.length > 0;
  }
  run(m: Model, r: Real): void {
    const [victim] = m.nodes.splice(this.pick % m.nodes.length, 1);
    rb_erase(victim, r.root);
    checkAgainstModel(m, r);
  }
  toString(): string {
    return `erase(#${this.pick})`;
  }
}

class ReplaceCommand implements fc.Command<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check(m: Readonly<Model>): boolean {
    return m.nodes.length > 0;
  }
  run(m: Model, r: Real): void {
    const i = this.pick % m.nodes.length;
    const victim = m.nodes[i];
    const replacement = new Item(victim.key);
    rb_replace_node(victim, replacement, r.root);
    m.nodes[i] = replacement;
    checkAgainstModel(m, r);
  }
  toString(): string {
    return `replace(#${this.pick})`;
  }
}

class MarkStaleCommand implements fc.Command<Model, Real> {
  readonly pick: number;
  constructor(pick: number) {
    this.pick = pick;
  }
  check(m: Readonly<Model>): boolean {
    return m.nodes.length > 0;
  }
  run(m: Model): void {
    m.nodes[this.pick % m.nodes.length].stale = true;
  }
  toString(): string {
    return `markStale(#${this.pick})`;
  }
}

/** stable_tree_search(): stale nodes met on the way are erased and the descent restarts. */
class SearchEraseStaleCommand implements fc.Command<Model, Real> {
  readonly key: number;
  constructor(key: number) {
    this.key = key;
  }
  check(): boolean {
    return true;
  }
  run(m: Model, r: Real): void {
    const node = new Item(this.key);
    const { found, erased } = searchInsertEraseStale(r.root, node);
    for (const e of erased) {
      expect(e.stale).toBe(true);
      expect(RB_EMPTY_NODE(e)).toBe(true);
      const at = m.nodes.indexOf(e);
      expect(at).toBeGreaterThanOrEqual(0);
      m.nodes.splice(at, 1);
    }
    const at = lowerBound(m.nodes, this.key);
    const existing = at < m.nodes.length && m.nodes[at].key === this.key ? m.nodes[at] : null;
    expect(found).toBe(existing);
    if (found !== null) expect(found.stale).toBe(false);
    else m.nodes.splice(at, 0, node);
    checkAgainstModel(m, r);
    // The path to the key is now free of stale nodes: searching again erases nothing.
    expect(searchInsertEraseStale(r.root, new Item(this.key)).erased).toEqual([]);
  }
  toString(): string {
    return `searchEraseStale(${this.key})`;
  }
}

function commands(maxKey: number) {
  const key = fc.integer({ min: 0, max: maxKey });
  const pick = fc.nat();
  return [
    key.map((k) => new InsertCommand(k)),
    key.map((k) => new InsertCommand(k)),
    pick.map((p) => new EraseCommand(p)),
    pick.map((p) => new ReplaceCommand(p)),
    pick.map((p) => new MarkStaleCommand(p)),
    key.map((k) => new SearchEraseStaleCommand(k)),
  ];
}

function runModel(maxKey: number, maxCommands: number, numRuns: number): void {
  fc.assert(
    fc.property(fc.commands(commands(maxKey), { maxCommands, size: 'max' }), (cmds) => {
      fc.modelRun(() => ({ model: { nodes: [] }, real: { root: RB_ROOT<Item>() } }), cmds);
    }),
    { numRuns },
  );
}

describe('rbtree against a sorted-array model', () => {
  it('small key space: many duplicates, erases and stale nodes', () => {
    largest = 0;
    runModel(31, 200, 200);
    expect(largest).toBeGreaterThanOrEqual(20);
  });

  it('wide key space: trees of a few hundred nodes', () => {
    largest = 0;
    runModel(1_000_000, 800, 60);
    expect(largest).toBeGreaterThanOrEqual(150);
  });
});

describe('erase during descent (KSM stable_tree_search)', () => {
  it('erases exactly stale nodes, only those walked over, and leaves a valid tree holding the key', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ key: fc.integer({ min: 0, max: 10_000 }), stale: fc.boolean() }), {
          selector: (x) => x.key,
          minLength: 1,
          maxLength: 300,
          size: 'max',
        }),
        fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 1, maxLength: 20 }),
        (items, searches) => {
          const root = RB_ROOT<Item>();
          const nodes = items.map(({ key, stale }) => {
            const n = new Item(key);
            n.stale = stale;
            expect(insertItem(root, n)).toBeNull();
            return n;
          });
          const gone = new Set<Item>();
          for (const k of searches) {
            const before = inorder(root);
            const { found, erased } = searchInsertEraseStale(root, new Item(k));
            for (const e of erased) {
              expect(e.stale).toBe(true);
              expect(before.includes(e)).toBe(true);
              gone.add(e);
            }
            const err = rbtreeCheck(root, cmpItems, { unique: true, describe: describeItem });
            if (err !== null) throw new Error(`after searching ${k}: ${err}`);
            const after = inorder(root);
            const expected = before.filter((n) => !erased.includes(n));
            if (found === null) {
              expect(after.length).toBe(expected.length + 1);
              expect(after.filter((n) => n.key !== k)).toEqual(expected);
            } else {
              expect(found.key).toBe(k);
              expect(after).toEqual(expected);
            }
          }
          for (const n of nodes) if (!n.stale) expect(gone.has(n)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
