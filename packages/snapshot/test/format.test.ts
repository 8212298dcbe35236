import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { PAGE_SIZE } from '@mmsim/core';
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
    b.writeUInt32LE(3, 8);
    const t = tmpFile('new.snap');
    writeFileSync(t, b);
    expectOneLine(t, /format version 3 is newer than this mmsim reads \(2\)/);
  });

  it('keeps the common prefix of rank neighbours and the leading zeros (version 2)', () => {
    const late = new Uint8Array(PAGE_SIZE);
    late[4000] = 1;
    const later = late.slice();
    later[4001] = 1;
    const f = writeTestSnapshot(
      [{ pid: 1, vmas: [{ start: BASE, pages: [bytePage(2), later, late] }] }],
      false,
    );
    const s = readSnapshot(f);
    // ranks: late < later < bytePage(2); late and later agree on their first 4001 bytes
    expect(Array.from(s.rank)).toEqual([2, 1, 0]);
    expect(Array.from(s.rankPrefix ?? [])).toEqual([4001, 0, 0]);
    expect(Array.from(s.zeroPrefix ?? [])).toEqual([0, 4000, 4000]);
  });

  it('still reads version 1 (no common prefixes)', () => {
    const b = readFileSync(sample(false));
    // drop the two sections version 2 added (the last ones of a file without contents)
    const n = b.readUInt32LE(12);
    const keep = n - 2;
    const end = Number(b.readBigUInt64LE(32 + keep * 32 + 8));
    for (let i = keep; i < n; i++) expect(b.readUInt32LE(32 + i * 32)).toBeGreaterThan(8);
    const sections = b.subarray(32 + n * 32, end);
    const table = Buffer.from(b.subarray(32, 32 + keep * 32));
    const shift = (n - keep) * 32;
    for (let i = 0; i < keep; i++)
      table.writeBigUInt64LE(table.readBigUInt64LE(i * 32 + 8) - BigInt(shift), i * 32 + 8);
    const header = Buffer.from(b.subarray(0, 32));
    header.writeUInt32LE(1, 8);
    header.writeUInt32LE(keep, 12);
    header.writeBigUInt64LE(BigInt(32 + table.length + sections.length), 16);
    createHash('sha256').update(header.subarray(0, 24)).update(table).digest().copy(header, 24, 0, 8);
    const t = tmpFile('v1.snap');
    writeFileSync(t, Buffer.concat([header, table, sections]));
    const s = readSnapshot(t);
    expect(s.rankPrefix).toBeNull();
    expect(s.zeroPrefix).toBeNull();
    expect(Array.from(s.pageContent)).toEqual([1, 2, 1, 0, 0]);
  });
});
