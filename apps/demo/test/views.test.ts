// pagemap, smaps and ksm-stat: the /proc views at a report step.

import { describe, expect, it } from 'vitest';
import { fixture, mmsim, scenario, usageError } from './helpers.ts';

const merge = scenario('ksm-tests-merge.yaml');
const views = fixture('views.yaml');

describe('mmsim ksm-stat', () => {
  it("prints /proc/<pid>/ksm_stat in the kernel's format", async () => {
    const r = await mmsim(['ksm-stat', merge, '--proc', 'a']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchInlineSnapshot(`
      "ksm_rmap_items 10
      ksm_zero_pages 0
      ksm_merging_pages 10
      ksm_process_profit 40320
      ksm_merge_any: no
      ksm_mergeable: yes
      "
    `);
  });

  it('every process with a header each, at a report step', async () => {
    const r = await mmsim(['ksm-stat', views, '--at', 'forked']);
    expect(r.out).toMatchInlineSnapshot(`
      "==> /proc/1/ksm_stat (a) <==
      ksm_rmap_items 7
      ksm_zero_pages 0
      ksm_merging_pages 4
      ksm_process_profit 15936
      ksm_merge_any: no
      ksm_mergeable: yes
      ==> /proc/2/ksm_stat (b) <==
      ksm_rmap_items 0
      ksm_zero_pages 0
      ksm_merging_pages 0
      ksm_process_profit 0
      ksm_merge_any: no
      ksm_mergeable: yes
      "
    `);
  });

  it('--json', async () => {
    const one = JSON.parse((await mmsim(['ksm-stat', merge, '--proc', 'a', '--json'])).out);
    expect(one).toEqual({
      proc: 'a',
      pid: 1,
      ksm_rmap_items: 10,
      ksm_zero_pages: 0,
      ksm_merging_pages: 10,
      ksm_process_profit: 10 * 4096 - 10 * 64,
      ksm_merge_any: false,
      ksm_mergeable: true,
    });
    const all = JSON.parse((await mmsim(['ksm-stat', views, '--json'])).out);
    expect(all.map((s: { proc: string }) => s.proc)).toEqual(['a', 'b']);
  });
});

describe('mmsim smaps', () => {
  it("prints /proc/<pid>/smaps in the kernel's format", async () => {
    const r = await mmsim(['smaps', merge, '--proc', 'a']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchSnapshot();
  });

  it('--region keeps that region, --at stops early', async () => {
    const before = await mmsim(['smaps', views, '--proc', 'a', '--region', 'z', '--at', 'merged']);
    expect(before.out.match(/^[0-9a-f]+-[0-9a-f]+ /gm)).toEqual(['100000400000-100000402000 ']);
    expect(before.out).toMatch(/^Rss: +0 kB$/m); // zero-page mappings are not counted
  });

  it('--rollup', async () => {
    const r = await mmsim(['smaps', views, '--proc', 'b', '--rollup']);
    expect(r.out).toMatchSnapshot();
  });

  it('--json gives the fields per VMA', async () => {
    const r = JSON.parse((await mmsim(['smaps', views, '--proc', 'a', '--at', 'merged', '--json'])).out);
    expect(r.proc).toBe('a');
    const [vr, vz] = r.vmas;
    expect(vr.regions).toEqual(['r']);
    expect(vr.fields).toMatchObject({ Size: 32, Rss: 28, KSM: 16, Anonymous: 28 });
    expect(vz.regions).toEqual(['z']);
    expect(vz.fields).toMatchObject({ Size: 8, Rss: 0 });
  });
});

describe('mmsim pagemap', () => {
  it('one line per page: entry, flags, frame, kpageflags', async () => {
    const r = await mmsim(['pagemap', views, '--proc', 'a', '--region', 'r', '--at', 'merged']);
    expect(r.code).toBe(0);
    expect(r.out).toMatchInlineSnapshot(`
      "# flags: P present, S swapped, F file page or shared anon, G guard region, W uffd-wp, E exclusively mapped, D soft-dirty

      /proc/1/pagemap (a, region r: 0x100000000000-0x100000008000, 8 pages, at report "merged" (step 8))
      address       entry             flags    frame    kpageflags
      100000000000  8080000000000007  P-----D  pfn 0x7  DIRTY|ANON|KSM  count 4
      100000001000  8080000000000007  P-----D  pfn 0x7  DIRTY|ANON|KSM  count 4
      100000002000  8080000000000007  P-----D  pfn 0x7  DIRTY|ANON|KSM  count 4
      100000003000  8080000000000007  P-----D  pfn 0x7  DIRTY|ANON|KSM  count 4
      100000004000  818000000000000a  P----ED  pfn 0xa  ANON  count 1
      100000005000  818000000000000b  P----ED  pfn 0xb  ANON  count 1
      100000006000  818000000000000c  P----ED  pfn 0xc  ANON  count 1
      100000007000  0080000000000000  ------D  -
      "
    `);
  });

  it('swap, PROT_NONE, the zero page and fork (every process and region)', async () => {
    const r = await mmsim(['pagemap', views]);
    expect(r.out).toMatchSnapshot();
  });

  it('--json decodes every bit', async () => {
    const out = JSON.parse((await mmsim(['pagemap', views, '--proc', 'b', '--region', 'r', '--json'])).out);
    expect(out).toHaveLength(1);
    const e = out[0].entries;
    expect(e).toHaveLength(8);
    // b wrote page 0: its own exclusive anonymous page.
    expect(e[0]).toMatchObject({ present: true, exclusive: true, kpagecount: 1 });
    expect(e[0].kpageflags).toContain('ANON');
    // pages 1-3: still the KSM page.
    expect(e[1]).toMatchObject({ present: true, exclusive: false });
    expect(e[1].kpageflags).toContain('KSM');
    expect(e[2].pfn).toBe(e[1].pfn);
    // page 5 was paged out before the fork: a swap entry in both.
    expect(e[5]).toMatchObject({ present: false, swapped: true, swap_type: 0, swap_kind: 'swap' });
    // page 7 was never touched.
    expect(e[7]).toMatchObject({ present: false, swapped: false, pfn: null });
    expect(e[7].value).toBe('0x0080000000000000'); // soft-dirty: VM_SOFTDIRTY of a new VMA
  });
});

describe('view commands: user mistakes are one line and exit 2', () => {
  it.each([
    [['pagemap', views, '--proc', 'c'], 'no process "c" (the scenario has a, b)'],
    [
      ['pagemap', views, '--proc', 'b', '--at', 'merged'],
      'process "b" does not exist yet at report "merged" (step 8) (step 11 creates it)',
    ],
    [
      ['smaps', views, '--proc', 'a', '--region', 'q'],
      'process "a" has no region "q" at the end (it has r, z)',
    ],
    [['smaps', views, '--rollup', '--region', 'r'], 'takes no --region'],
    [['ksm-stat', views, '--at', 'nope'], 'no report step labelled "nope" (its reports are merged, forked)'],
    [['ksm-stat', views, '--region', 'r'], "unknown option '--region'"],
    [['pagemap', 'no/such/file.yaml'], 'no/such/file.yaml: $: expected a readable file, found ENOENT'],
    [['smaps'], "missing required argument 'scenario'"],
  ])('%j', async (argv, message) => {
    expect(usageError(await mmsim(argv))).toContain(message);
  });
});
