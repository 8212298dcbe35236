// mmsim verify --recorded and mmsim record: the simulator against the kernel's recorded answer on
// any machine, and recording refused where the kernel is not there.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OFFLINE_ENV, type Recording, recordingPath } from '@mmsim/scenario/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { mmsim, scenario, usageError } from './helpers.ts';

/** A copy of a scenario and its recording in a fresh directory; `corrupt` edits the recording. */
function copyWithRecording(name: string, corrupt: (r: Recording) => void = () => {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'mmsim-verify-'));
  const file = join(dir, name);
  copyFileSync(scenario(name), file);
  const rec = JSON.parse(readFileSync(recordingPath(scenario(name)), 'utf8')) as Recording;
  corrupt(rec);
  mkdirSync(join(dir, 'expected'));
  writeFileSync(recordingPath(file), JSON.stringify(rec));
  return file;
}

describe('mmsim verify --recorded', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('a full match with the recording: exit 0, offline', async () => {
    vi.stubEnv(OFFLINE_ENV, '1');
    const r = await mmsim(['verify', '--recorded', scenario('chains-fork.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/simulator vs kernel recorded \(Linux .*\): match\nfull match \(2 reports\)/);
  });

  it('a recording that differs by one label: exit 1 and the page named', async () => {
    const file = copyWithRecording('chains-fork.yaml', (rec) => {
      const e = rec.report.reports[0]!;
      const key = Object.keys(e.sharing)[0]!;
      e.sharing[key]![0]! += 1;
    });
    const r = await mmsim(['verify', '--recorded', file]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('MISMATCH');
    expect(r.out).toMatch(/1 pages differ, first: 0/);
    const json = await mmsim(['verify', '--recorded', file, '--json']);
    expect(JSON.parse(json.out).equal).toBe(false);
  });

  it('no recording: one line naming the record command, exit 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-verify-'));
    const file = join(dir, 'new.yaml');
    copyFileSync(scenario('chains-fork.yaml'), file);
    expect(usageError(await mmsim(['verify', '--recorded', file]))).toContain(`pnpm mmsim record ${file}`);
  });
});

describe('mmsim record', () => {
  afterEach(() => vi.unstubAllEnvs());

  it('without the live kernel: one line, exit 2, nothing written', async () => {
    vi.stubEnv(OFFLINE_ENV, '1');
    const dir = mkdtempSync(join(tmpdir(), 'mmsim-record-'));
    const file = join(dir, 'x.yaml');
    copyFileSync(scenario('chains-fork.yaml'), file);
    expect(usageError(await mmsim(['record', file]))).toContain('the live kernel is not available');
    expect(() => readFileSync(recordingPath(file))).toThrow();
  });

  it('--missing with every file recorded has nothing to do', async () => {
    vi.stubEnv(OFFLINE_ENV, '1');
    const r = await mmsim(['record', '--missing', copyWithRecording('chains-fork.yaml')]);
    expect(r).toEqual({ code: 0, out: 'nothing to record\n', err: '' });
  });

  it('a bad file is refused before any kernel run', async () => {
    expect(usageError(await mmsim(['record', scenario('no-such.yaml')]))).toContain('no-such.yaml');
  });
});
