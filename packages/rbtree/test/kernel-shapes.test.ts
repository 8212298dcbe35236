// Differential check against the kernel: test/fixtures/kernel-shapes.json holds the tree shapes
// (structure and colours) that Linux 6.18's lib/rbtree.c produced for fixed operation sequences.
// A faithful port makes the same rotations and recolourings, so it must produce the same shapes,
// not merely some valid red-black tree.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RB_ROOT, rb_erase, rbtreeCheck } from '../src/index.ts';
import { cmpItems, Item, insertItem, shape } from './support.ts';

interface ShapeCase {
  name: string;
  ops: string;
  hashes: string;
  fullIndex: number;
  full: string;
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/kernel-shapes.json', import.meta.url), 'utf8'),
) as {
  cases: ShapeCase[];
};

const hash12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);

describe('tree shapes match Linux lib/rbtree.c', () => {
  it('has the fixture cases', () => {
    expect(fixture.cases.length).toBe(10);
  });

  for (const c of fixture.cases) {
    it(c.name, () => {
      const expected = c.hashes.split(' ');
      const root = RB_ROOT<Item>();
      const nodes = new Map<number, Item>();
      const tokens = c.ops.split(' ');
      let recorded = 0;
      for (let i = 0; i < tokens.length; i++) {
        const op = tokens[i];
        if (op === 'p') {
          const s = shape(root.rb_node);
          if (hash12(s) !== expected[recorded]) {
            throw new Error(
              `shape #${recorded} (before token ${i}, after "${tokens.slice(Math.max(0, i - 2), i).join(' ')}") differs from the kernel's; ours: ${s}`,
            );
          }
          if (recorded === c.fullIndex) expect(s).toBe(c.full);
          recorded++;
          continue;
        }
        const key = Number(tokens[++i]);
        if (op === 'i') {
          const n = new Item(key);
          nodes.set(key, n);
          expect(insertItem(root, n)).toBeNull();
        } else if (op === 'e') {
          rb_erase(nodes.get(key)!, root);
          nodes.delete(key);
        } else {
          throw new Error(`bad op ${op}`);
        }
      }
      expect(recorded).toBe(expected.length);
      expect(rbtreeCheck(root, cmpItems, { unique: true })).toBeNull();
    });
  }
});
