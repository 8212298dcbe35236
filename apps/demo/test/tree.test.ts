import { describe, expect, it } from 'vitest';
import { fixture, mmsim, scenario, usageError } from './helpers.ts';

describe('mmsim tree', () => {
  it('draws a chain of dups with their rmap_items', async () => {
    const r = await mmsim(['tree', scenario('chains-fork.yaml'), '--at', 'chained']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchInlineSnapshot(`
      "# chains-fork at report "chained" (step 5)
      root_stable_tree: 1 node (1 chain holding 3 dups), 11 rmap_items
      \`-- chain: 3 dups
          |-- dup kpfn 0xf  3 mappings  content 0707070707070707...
          |   |-- rmap_item a 0x10000000a000 (r+10)
          |   |-- rmap_item a 0x100000009000 (r+9)
          |   \`-- rmap_item a 0x100000008000 (r+8)
          |-- dup kpfn 0xb  4 mappings  content 0707070707070707...
          |   |-- rmap_item a 0x100000007000 (r+7)
          |   |-- rmap_item a 0x100000006000 (r+6)
          |   |-- rmap_item a 0x100000005000 (r+5)
          |   \`-- rmap_item a 0x100000004000 (r+4)
          \`-- dup kpfn 0x7  4 mappings  content 0707070707070707...
              |-- rmap_item a 0x100000003000 (r+3)
              |-- rmap_item a 0x100000002000 (r+2)
              |-- rmap_item a 0x100000001000 (r+1)
              \`-- rmap_item a 0x100000000000 (r+0)

      root_unstable_tree: 0 rmap_items
      "
    `);
  });

  it('stable nodes and the unstable tree; --max shortens every list', async () => {
    const r = await mmsim(['tree', fixture('views.yaml'), '--at', 'merged', '--max', '2']);
    expect(r.out).toMatchInlineSnapshot(`
      "# views at report "merged" (step 8)
      root_stable_tree: 1 node (0 chains holding 0 dups), 4 rmap_items
      \`-- stable_node kpfn 0x7  4 mappings  content 0505050505050505...
          |-- rmap_item a 0x100000003000 (r+3)
          |-- rmap_item a 0x100000002000 (r+2)
          \`-- ... 2 more

      root_unstable_tree: 3 rmap_items
      |-- rmap_item a 0x100000004000 (r+4)  checksum 0xccaab9bb
      |-- rmap_item a 0x100000005000 (r+5)  checksum 0x335388e5
      \`-- ... 1 more
      "
    `);
  });

  it('--json lists every rmap_item', async () => {
    const d = JSON.parse(
      (await mmsim(['tree', scenario('thp-zero-chains.yaml'), '--at', 'after', '--json'])).out,
    );
    expect(d.at).toBe('after');
    expect(d.stable.map((n: { type: string }) => n.type)).toEqual(['chain', 'chain']);
    const dups = d.stable.flatMap((n: { dups: { rmap_items: unknown[] }[] }) => n.dups);
    expect(dups).toHaveLength(258); // stable_node_dups
    expect(dups.every((p: { rmap_items: unknown[] }) => p.rmap_items.length === 2)).toBe(true); // max_page_sharing 2
    expect(d.unstable).toHaveLength(1); // pages_unshared
    expect(d.unstable[0]).toMatchObject({ proc: 'a', region: 'c+6' });
  });

  it('an empty tree', async () => {
    const d = JSON.parse(
      (await mmsim(['tree', scenario('thp-zero-chains.yaml'), '--at', 'before', '--json'])).out,
    );
    expect(d).toMatchObject({ stable: [], unstable: [] });
  });

  it('bad --max and --at are one line, exit 2', async () => {
    expect(usageError(await mmsim(['tree', fixture('views.yaml'), '--max', 'lots']))).toContain('--max');
    expect(usageError(await mmsim(['tree', fixture('views.yaml'), '--at', 'x']))).toContain('labelled "x"');
  });
});
