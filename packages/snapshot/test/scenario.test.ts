// The `restore` scenario step, with the example of docs/scenario-format.md.

import { copyFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PAGE_SIZE } from '@mmsim/core';
import { parseScenario, runOnSimulator, ScenarioError } from '@mmsim/scenario';
import { hostMemory } from '@mmsim/scenario/node';
import { describe, expect, it } from 'vitest';
import { restoreStepFromFile } from '../src/restore.ts';
import { bytePage, type TestPage, writeTestSnapshot } from './helpers.ts';

const BASE = 0x7f0000000000;
const doc = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'scenario-format.md'), 'utf8');
const example = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)]
  .map((m) => m[1]!)
  .find((b) => b.includes('op: restore'));

/** The docs' app.snap: two processes with 4 pages of 0x5a and 2 unique pages each. */
function appSnapshot(withContents: boolean): string {
  return writeTestSnapshot(
    [300, 301].map((pid) => {
      const pages: TestPage[] = [];
      for (let i = 0; i < 4; i++) pages.push(bytePage(0x5a));
      for (let i = 0; i < 2; i++) {
        const p = new Uint8Array(PAGE_SIZE);
        p[0] = pid % 256;
        p[1] = i + 1;
        pages.push(p);
      }
      return { pid, vmas: [{ start: BASE, pages }] };
    }),
    withContents,
  );
}

function scenarioNextTo(snapshot: string, yaml: string, name: string): ReturnType<typeof parseScenario> {
  const file = join(dirname(snapshot), name);
  copyFileSync(snapshot, join(dirname(snapshot), 'app.snap'));
  return parseScenario(yaml, file);
}

describe('the restore step', () => {
  it('runs the example of docs/scenario-format.md', () => {
    expect(example).toBeDefined();
    for (const withContents of [false, true]) {
      const loaded = scenarioNextTo(appSnapshot(withContents), example!, 'restored.yaml');
      const r = runOnSimulator(loaded, { host: hostMemory(), restore: restoreStepFromFile });
      expect(r.failures).toEqual([]);
      const merged = r.reports[0]!;
      expect(Object.keys(merged.procs)).toEqual(['a', 'b']);
      expect(merged.ksm.pages_shared).toBe(1);
      expect(merged.ksm.pages_sharing).toBe(7);
      expect(merged.ksm.pages_unshared).toBe(4);
      const after = r.reports[1]!;
      expect(Object.keys(after.procs)).toEqual(['a', 'c']);
      // the child shares a's KSM pages; b's four are gone
      expect(after.procs.c!.ksm_merging_pages).toBe(4);
      expect(after.ksm.pages_sharing).toBe(7);
    }
  });

  it('refuses byte writes after a digest-only snapshot in one line, takes them after --with-contents', () => {
    const yaml = `name: w
steps:
  - { op: restore, snapshot: app.snap, procs: [a, b] }
  - { op: spawn, proc: n }
  - { op: mmap, proc: n, region: r, pages: 1 }
  - { op: write, proc: n, region: r, page: 0, value: 1 }
`;
    const digest = scenarioNextTo(appSnapshot(false), yaml, 'w.yaml');
    expect(() => runOnSimulator(digest, { host: hostMemory(), restore: restoreStepFromFile })).toThrow(
      /digest-only snapshot: its pages hold no bytes/,
    );
    try {
      runOnSimulator(digest, { host: hostMemory(), restore: restoreStepFromFile });
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      expect((e as Error).message).not.toContain('\n');
    }
    const bytes = scenarioNextTo(appSnapshot(true), yaml, 'w.yaml');
    expect(runOnSimulator(bytes, { host: hostMemory(), restore: restoreStepFromFile }).failures).toEqual([]);
  });

  it('needs the Node reader, and as many names as processes', () => {
    const loaded = scenarioNextTo(appSnapshot(false), example!, 'restored.yaml');
    expect(() => runOnSimulator(loaded, { host: hostMemory() })).toThrow(/restore step run by mmsim/);
    const three = scenarioNextTo(
      appSnapshot(false),
      'name: x\nsteps:\n  - { op: restore, snapshot: app.snap, procs: [a, b, c] }\n',
      'x.yaml',
    );
    expect(() => runOnSimulator(three, { host: hostMemory(), restore: restoreStepFromFile })).toThrow(
      /2 processes, but 3 names/,
    );
  });
});
