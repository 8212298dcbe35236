import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readSnapshot, SnapshotFormatError } from '../src/format.ts';
import { bytePage, tmpFile, writeTestSnapshot } from './helpers.ts';

const BASE = 0x7f0000000000;

function sample(withContents: boolean): string {
  return writeTestSnapshot(
    [{ pid: 100, vmas: [{ start: BASE, pages: [bytePage(1), bytePage(2), bytePage(1), 'zero', null] }] }],
    withContents,
  );
}

function expectOneLine(file: string, what: RegExp): void {
  let err: unknown;
  try {
    readSnapshot(file);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(SnapshotFormatError);
  const msg = (err as Error).message;
  expect(msg).toMatch(what);
  expect(msg).not.toContain('\n');
}

describe('snapshot file format', () => {
  it('reads back what was written: metadata, per-page and per-content arrays', () => {
    for (const withContents of [false, true]) {
      const s = readSnapshot(sample(withContents));
      expect(s.meta.pages).toBe(5);
      expect(s.meta.contents).toBe(2);
      expect(s.meta.processes[0].pid).toBe(100);
      expect(Array.from(s.pageContent)).toEqual([1, 2, 1, 0, 0]);
      expect(Array.from(s.rank)).toEqual([0, 1]); // 0x01... < 0x02...
      expect(s.bytes !== null).toBe(withContents);
    }
  });

  it('refuses a truncated file in one line', () => {
    const f = sample(true);
    const b = readFileSync(f);
    const t = tmpFile('cut.snap');
    writeFileSync(t, b.subarray(0, b.length - 10));
    expectOneLine(t, /truncated/);
    writeFileSync(t, b.subarray(0, 20));
    expectOneLine(t, /truncated/);
  });

  it('refuses a corrupted section, the header and the content bytes in one line', () => {
    const f = sample(true);
    const b = readFileSync(f);
    for (const [at, what] of [
      [b.length - 5, /checksum mismatch in the page contents/],
      [300, /checksum mismatch/],
      [40, /header checksum/],
    ] as const) {
      const c = Buffer.from(b);
      c[at] ^= 0xff;
      const t = tmpFile('bad.snap');
      writeFileSync(t, c);
      expectOneLine(t, what);
    }
  });

  it('refuses a foreign file, an empty file and a missing one', () => {
    const t = tmpFile('foreign.snap');
    writeFileSync(t, '{"scenario": "not a snapshot"}\n');
    expectOneLine(t, /not an mmsim snapshot/);
    writeFileSync(t, '');
    expectOneLine(t, /not an mmsim snapshot/);
    expectOneLine(`${t}.missing`, /cannot open: ENOENT/);
  });

  it('refuses a newer format version, naming both versions', () => {
    const b = readFileSync(sample(false));
    b.writeUInt32LE(2, 8);
    const t = tmpFile('new.snap');
    writeFileSync(t, b);
    expectOneLine(t, /format version 2 is newer than this mmsim reads \(1\)/);
  });
});
