import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError, STEP_OPS, validateScenario } from '../src/index.ts';
import { loadScenario } from '../src/node.ts';

const base = (steps: unknown[], extra: Record<string, unknown> = {}) => ({ name: 't', ...extra, steps });
const spawnA = { op: 'spawn', proc: 'a' };
const mmapR = { op: 'mmap', proc: 'a', region: 'r', pages: 8 };

/** The one-line message validating `data` gives (as file t.json). */
function errorOf(data: unknown, file = 't.json'): string {
  try {
    parseScenario(JSON.stringify(data), file);
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    const msg = (e as Error).message;
    expect(msg).not.toContain('\n');
    expect((e as ScenarioError).exitCode).toBe(2);
    return msg;
  }
  throw new Error('expected a ScenarioError');
}

describe('parser errors: one line, file, JSON path, expected, found', () => {
  it('unknown op', () => {
    expect(errorOf(base([spawnA, { op: 'mmapp', proc: 'a' }]))).toBe(
      `t.json: steps[1].op: expected op to be one of ${STEP_OPS.join(', ')}, found "mmapp"`,
    );
  });

  it('missing op', () => {
    expect(errorOf(base([{ proc: 'a' }]))).toMatch(
      /^t\.json: steps\[0\]\.op: expected op to be one of spawn, .*, found nothing$/,
    );
  });

  it('wrong type', () => {
    expect(errorOf(base([spawnA, { ...mmapR, pages: '8' }]))).toBe(
      't.json: steps[1].pages: expected a number, found "8"',
    );
    expect(errorOf(base([spawnA, { ...mmapR, pages: 1.5 }]))).toBe(
      't.json: steps[1].pages: expected an integer, found 1.5',
    );
    expect(errorOf({ name: 't', steps: {} })).toBe('t.json: steps: expected an array, found an object');
    expect(errorOf({ steps: [] })).toBe('t.json: name: expected a string, found nothing');
  });

  it('missing region (never mapped by that process)', () => {
    expect(
      errorOf(base([spawnA, mmapR, { op: 'fill', proc: 'a', region: 'q', pattern: { kind: 'zero' } }])),
    ).toBe('t.json: steps[2].region: expected a region mmapped by "a" before this step ("r"), found "q"');
    expect(errorOf(base([spawnA, { op: 'touch', proc: 'a', region: 'r' }, mmapR]))).toBe(
      't.json: steps[1].region: expected a region mmapped by "a" before this step (there are none), found "r"',
    );
  });

  it('pages <= 0', () => {
    expect(errorOf(base([spawnA, { ...mmapR, pages: 0 }]))).toBe(
      't.json: steps[1].pages: expected a number >= 1, found 0',
    );
    expect(errorOf(base([spawnA, { ...mmapR, pages: -3 }]))).toBe(
      't.json: steps[1].pages: expected a number >= 1, found -3',
    );
  });

  it('unknown advice', () => {
    const msg = errorOf(
      base([spawnA, mmapR, { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_MERGE' }]),
    );
    expect(msg).toMatch(
      /^t\.json: steps\[2\]\.advice: expected one of MADV_NORMAL, .*MADV_MERGEABLE.*, found "MADV_MERGE"$/,
    );
    // never run on the live kernel: they poison or offline real frames
    expect(
      errorOf(base([spawnA, mmapR, { op: 'madvise', proc: 'a', region: 'r', advice: 'MADV_HWPOISON' }])),
    ).toContain('found "MADV_HWPOISON"');
  });

  it('unknown knob', () => {
    expect(errorOf(base([{ op: 'knob', name: 'pages_to_scn', value: 5 }]))).toMatch(
      /^t\.json: steps\[0\]\.name: expected one of run, pages_to_scan, .*, found "pages_to_scn"$/,
    );
    expect(errorOf(base([], { ksm: { sleep_ms: 5 } }))).toMatch(
      /^t\.json: ksm\.sleep_ms: expected a KSM knob: one of pages_to_scan, sleep_millisecs, .*, found "sleep_ms"$/,
    );
    // run is not an initial knob: the engines drive ksmd
    expect(errorOf(base([], { ksm: { run: 1 } }))).toContain('t.json: ksm.run: expected a KSM knob');
  });

  it('unknown keys, counters, pattern kinds and errno names', () => {
    expect(errorOf(base([{ ...spawnA, pages: 3 }]))).toBe(
      't.json: steps[0].pages: expected a field of op spawn: one of op, proc, expect_errno, note, found "pages"',
    );
    expect(errorOf(base([{ op: 'expect', ksm: { pages_shard: 1 } }]))).toMatch(
      /^t\.json: steps\[0\]\.ksm\.pages_shard: expected a KSM counter: one of full_scans, .*, found "pages_shard"$/,
    );
    expect(
      errorOf(base([spawnA, mmapR, { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'random' } }])),
    ).toBe(
      't.json: steps[2].pattern.kind: expected kind to be one of zero, byte, ids, unique, found "random"',
    );
    expect(errorOf(base([{ ...spawnA, expect_errno: 'EWHAT' }]))).toMatch(
      /^t\.json: steps\[0\]\.expect_errno: expected one of EPERM, .*EINVAL.*, found "EWHAT"$/,
    );
    expect(errorOf({ name: 't', steps: [], extra: 1 })).toMatch(
      /^t\.json: extra: expected a scenario field: one of name, /,
    );
  });

  it('process lifetime: used before spawn, after exit, spawned twice', () => {
    expect(errorOf(base([mmapR]))).toBe(
      't.json: steps[0].proc: expected a spawned process (there are none), found "a", never spawned before this step',
    );
    expect(errorOf(base([spawnA, { op: 'exit', proc: 'a' }, mmapR]))).toBe(
      't.json: steps[2].proc: expected a live process, found "a", which exited before this step',
    );
    expect(errorOf(base([spawnA, spawnA]))).toBe(
      't.json: steps[1].proc: expected a new process name, found "a", already created at steps[0]',
    );
    expect(errorOf(base([spawnA, { op: 'fork', proc: 'a', child: 'a' }]))).toBe(
      't.json: steps[1].child: expected a new process name, found "a", already created at steps[0]',
    );
    expect(errorOf(base([spawnA, { op: 'expect', proc: { b: { ksm_rmap_items: 0 } } }]))).toContain(
      't.json: steps[1].proc.b: expected a spawned process ("a"), found "b"',
    );
  });

  it('ranges inside the region', () => {
    const fill = { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'zero' } };
    expect(errorOf(base([spawnA, mmapR, { ...fill, from: 6, count: 3 }]))).toBe(
      't.json: steps[2].count: expected from + count <= 8 (pages of region "r"), found 6 + 3',
    );
    expect(errorOf(base([spawnA, mmapR, { ...fill, from: 8 }]))).toBe(
      't.json: steps[2].from: expected a page index < 8 (pages of region "r"), found 8',
    );
    expect(errorOf(base([spawnA, mmapR, { ...fill, count: 0 }]))).toBe(
      't.json: steps[2].count: expected a number >= 1, found 0',
    );
    expect(errorOf(base([spawnA, mmapR, { op: 'write', proc: 'a', region: 'r', page: 8, value: 1 }]))).toBe(
      't.json: steps[2].page: expected a page index < 8 (pages of region "r"), found 8',
    );
    expect(errorOf(base([spawnA, mmapR, { op: 'write', proc: 'a', region: 'r', page: 0, value: 256 }]))).toBe(
      't.json: steps[2].value: expected a number <= 255, found 256',
    );
    expect(errorOf(base([spawnA, mmapR, mmapR]))).toBe(
      't.json: steps[2].region: expected a region name new to process "a", found "r", already mapped',
    );
  });

  it('bad JSON and bad YAML', () => {
    expect(() => parseScenario('{"name": ', 'x.json')).toThrow(/^x\.json: \$: expected valid JSON, found /);
    const yamlMsg = (() => {
      try {
        parseScenario('name: t\nsteps:\n  - op: spawn\n   proc: a\n', 'x.yaml');
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(yamlMsg).toMatch(/^x\.yaml: \$: expected valid YAML, found .* at line \d+, column \d+$/);
    expect(yamlMsg).not.toContain('\n');
    expect(() => parseScenario('name: t\nname: u\nsteps: []\n', 'dup.yml')).toThrow(
      /^dup\.yml: \$: expected valid YAML/,
    );
  });

  it('YAML and JSON give the same scenario; defaults stay unset', () => {
    const yaml = [
      'name: demo',
      'ksm: { max_page_sharing: 2, advisor_mode: none, use_zero_pages: true }',
      'steps:',
      '  - { op: spawn, proc: a }',
      '  - { op: mmap, proc: a, region: r, pages: 4, thp: false }',
      '  - { op: fill, proc: a, region: r, pattern: { kind: ids, count: 2, seed: 7, layout: blocked } }',
      '  - { op: madvise, proc: a, region: r, advice: MADV_MERGEABLE }',
      '  - { op: fork, proc: a, child: b }',
      '  - { op: write, proc: b, region: r, page: 3, offset: 17, value: 255 }',
      '  - { op: prctl, proc: b, option: PR_SET_MEMORY_MERGE, value: 1 }',
      '  - { op: knob, name: max_page_sharing, value: 1, expect_errno: EINVAL }',
      '  - { op: ksm_scan, full_scans: 2 }',
      '  - { op: ksm_converge }',
      '  - { op: report, label: end }',
      '  - { op: expect, ksm: { pages_shared: 2 }, proc: { b: { ksm_merge_any: true, smaps: { KSM: 8 } } } }',
      '  - { op: ksm_unmerge_all }',
      '  - { op: munmap, proc: a, region: r, from: 1, count: 2 }',
      '  - { op: exit, proc: a }',
    ].join('\n');
    const y = parseScenario(yaml, 'demo.yaml');
    const j = parseScenario(JSON.stringify(y.scenario), 'demo.json');
    expect(j.scenario).toEqual(y.scenario);
    expect(y.scenario.steps[1]).toEqual({ op: 'mmap', proc: 'a', region: 'r', pages: 4, thp: false });
    expect(y.plan.procs.map((p) => [p.name, p.parent])).toEqual([
      ['a', -1],
      ['b', 0],
    ]);
    expect(y.plan.regions[0]!.addr % (2 * 1024 * 1024)).toBe(0);
  });

  it('loadScenario reads files and names them in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-scn-'));
    const good = join(dir, 'good.yml');
    writeFileSync(good, 'name: g\nsteps:\n  - op: spawn\n    proc: a\n');
    expect(loadScenario(good).scenario.steps).toEqual([{ op: 'spawn', proc: 'a' }]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify(base([{ op: 'ksm_scan', full_scans: 0 }])));
    expect(() => loadScenario(bad)).toThrow(`${bad}: steps[0].full_scans: expected a number >= 1, found 0`);
    expect(() => loadScenario(join(dir, 'missing.json'))).toThrow(
      /missing\.json: \$: expected a readable file, found ENOENT/,
    );
  });
});

describe('plan', () => {
  it('lays regions out 2 MiB aligned with gaps, and bounds populated memory per process', () => {
    const { plan } = validateScenario(
      base([
        spawnA,
        { op: 'mmap', proc: 'a', region: 'r', pages: 3 },
        { op: 'mmap', proc: 'a', region: 'h', pages: 1024, thp: true },
        { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'zero' } },
        { op: 'fill', proc: 'a', region: 'r', pattern: { kind: 'byte', value: 1 }, from: 1 },
        { op: 'touch', proc: 'a', region: 'h', from: 600, count: 1 },
        { op: 'fork', proc: 'a', child: 'b' },
        { op: 'write', proc: 'b', region: 'r', page: 0, value: 1 },
      ]),
    );
    const [r, h] = plan.regions;
    expect(h!.addr - r!.addr).toBe(4 * 1024 * 1024); // 12 KiB + 2 MiB gap, rounded up to 2 MiB
    // a: 3 pages + one 512-page THP block; b inherits the same again
    expect(plan.populatedPages).toBe(2 * (3 + 512));
    expect(plan.mappedPages).toBe(2 * (3 + 1024));
    expect(plan.stepRegion).toEqual([-1, 0, 1, 0, 0, 1, -1, 0]);
  });
});
