// Recorded kernel answers: a corrupted recording must fail the comparison (field by field, label by
// label), a recording is refused when two kernel runs differ, and the file round-trips.

import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatReportDiff,
  LABEL_NOT_PRESENT,
  LABEL_ZERO_PAGE,
  type Report,
  runOnSimulator,
  ScenarioError,
} from '../src/index.ts';
import {
  compareWithRecording,
  formatRecording,
  hostMemory,
  listScenarioFiles,
  loadRecording,
  loadRecordingFor,
  loadScenario,
  RECORDING_FORMAT,
  RECORDING_RUNS,
  type Recording,
  RecordingUnstableError,
  recordingPath,
  recordScenario,
  SCENARIOS_DIR,
  writeRecording,
} from '../src/node.ts';

const scenarioFile = (name: string) => join(SCENARIOS_DIR, name);
/** A scenario with KSM counters, two processes' ksm_stat and smaps, and zero-page labels. */
const RICH = 'thp-zero-chains.yaml';

/** The simulator's report of a scenario and a deep copy of its recording, to corrupt. */
function simAndCopy(name: string): { sim: Report; rec: Recording } {
  const loaded = loadScenario(scenarioFile(name));
  const rec = structuredClone(loadRecordingFor(loaded));
  return { sim: runOnSimulator(loaded, { host: rec.host }), rec };
}

function expectMismatch(sim: Report, rec: Recording, mentions: string): void {
  const diff = compareWithRecording(sim, rec);
  expect(diff.equal).toBe(false);
  expect(formatReportDiff(diff)).toContain(mentions);
}

describe('a corrupted recording fails the comparison', () => {
  it('the intact copy matches (the corruptions below are all that differs)', () => {
    const { sim, rec } = simAndCopy(RICH);
    expect(compareWithRecording(sim, rec).equal).toBe(true);
  });

  it('a KSM counter', () => {
    const { sim, rec } = simAndCopy(RICH);
    const e = rec.report.reports.at(-1)!;
    e.ksm.pages_sharing = e.ksm.pages_sharing! + 1;
    expectMismatch(sim, rec, 'pages_sharing');
  });

  it('a KSM counter the recording lacks', () => {
    const { sim, rec } = simAndCopy(RICH);
    delete rec.report.reports[0]!.ksm.full_scans;
    expectMismatch(sim, rec, 'full_scans');
  });

  it('a ksm_stat number, a ksm_stat flag and an smaps field', () => {
    for (const corrupt of [
      (p: Recording['report']['reports'][0]['procs'][string]) =>
        (p.ksm_zero_pages = (p.ksm_zero_pages ?? 0) + 1),
      (p: Recording['report']['reports'][0]['procs'][string]) => (p.ksm_mergeable = !p.ksm_mergeable),
      (p: Recording['report']['reports'][0]['procs'][string]) => p.smaps.Rss++,
    ]) {
      const { sim, rec } = simAndCopy(RICH);
      const procs = rec.report.reports.at(-1)!.procs;
      const name = Object.keys(procs)[0]!;
      corrupt(procs[name]!);
      expect(compareWithRecording(sim, rec).entries[0]!.procs[0]!.proc).toBe(name);
    }
  });

  it('a process the recording lacks', () => {
    const { sim, rec } = simAndCopy(RICH);
    const procs = rec.report.reports[0]!.procs;
    const name = Object.keys(procs)[0]!;
    delete procs[name];
    expectMismatch(sim, rec, `${name}`);
  });

  it('one sharing label, and a label array one page short', () => {
    {
      const { sim, rec } = simAndCopy(RICH);
      const sharing = rec.report.reports.at(-1)!.sharing;
      const key = Object.keys(sharing)[0]!;
      const labels = sharing[key]!;
      labels[labels.length - 1] = labels.at(-1) === LABEL_ZERO_PAGE ? LABEL_NOT_PRESENT : LABEL_ZERO_PAGE;
      const diff = compareWithRecording(sim, rec);
      expect(diff.equal).toBe(false);
      expect(diff.entries[0]!.sharing).toEqual([
        expect.objectContaining({
          key,
          differing: 1,
          first: [expect.objectContaining({ page: labels.length - 1 })],
        }),
      ]);
    }
    {
      const { sim, rec } = simAndCopy(RICH);
      const sharing = rec.report.reports[0]!.sharing;
      const key = Object.keys(sharing)[0]!;
      sharing[key]!.pop();
      expectMismatch(sim, rec, 'lengths');
    }
  });

  it('a report step the recording lacks, a renamed one, and a different ok', () => {
    {
      const { sim, rec } = simAndCopy(RICH);
      rec.report.reports.pop();
      expectMismatch(sim, rec, 'reports');
    }
    {
      const { sim, rec } = simAndCopy(RICH);
      rec.report.reports[0]!.label = 'renamed';
      expectMismatch(sim, rec, 'renamed');
    }
    {
      const { sim, rec } = simAndCopy(RICH);
      rec.report.ok = false;
      expectMismatch(sim, rec, 'ok');
    }
  });

  it('every scenario: one label or one counter changed in its last report is caught', () => {
    for (const file of listScenarioFiles()) {
      const { sim, rec } = simAndCopy(basename(file));
      const e = rec.report.reports.at(-1)!;
      const key = Object.keys(e.sharing)[0];
      if (key !== undefined) e.sharing[key]![0]! += 1;
      else e.ksm.full_scans = (e.ksm.full_scans ?? 0) + 1;
      expect(compareWithRecording(sim, rec).equal, basename(file)).toBe(false);
    }
  });
});

describe('recordScenario', () => {
  const loaded = loadScenario(scenarioFile('ksm-tests-merge.yaml'));
  const kernelLike = (): Report => ({ ...runOnSimulator(loaded, { host: hostMemory() }), engine: 'kernel' });

  it(`runs the kernel ${RECORDING_RUNS} times and stamps the release and the date`, async () => {
    let runs = 0;
    const rec = await recordScenario(loaded, {
      run: async () => {
        runs++;
        return kernelLike();
      },
      now: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
      kernel: '6.18.0-test',
      host: { memoryMiB: 1024, swapMiB: 0 },
    });
    expect(runs).toBe(RECORDING_RUNS);
    expect(rec).toMatchObject({
      recording: RECORDING_FORMAT,
      scenario: 'ksm-tests-merge.yaml',
      kernel: '6.18.0-test',
      recorded: '2026-01-02T03:04:05.000Z',
      host: { memoryMiB: 1024, swapMiB: 0 },
      report: { engine: 'kernel' },
    });
  });

  it('refuses when two kernel runs differ, and says where', async () => {
    let runs = 0;
    const unstable = recordScenario(loaded, {
      run: async () => {
        const r = kernelLike();
        if (++runs === 2) r.reports[0]!.ksm.pages_sharing! -= 1;
        return r;
      },
    });
    await expect(unstable).rejects.toThrow(RecordingUnstableError);
    await expect(unstable).rejects.toThrow(/two kernel runs differ, nothing recorded:[\s\S]*pages_sharing/);
  });
});

describe('recording files', () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'mmsim-rec-'));

  it('written next to the scenario in expected/, read back equal, label arrays on one line', () => {
    const dir = tmp();
    const file = join(dir, 'ksm-tests-merge.yaml');
    copyFileSync(scenarioFile('ksm-tests-merge.yaml'), file);
    const rec = loadRecordingFor(loadScenario(scenarioFile('ksm-tests-merge.yaml')));
    const path = writeRecording(file, rec);
    expect(path).toBe(join(dir, 'expected', 'ksm-tests-merge.json'));
    expect(loadRecording(path)).toEqual(rec);
    expect(readFileSync(path, 'utf8')).toContain('"a/r": [0,0,0,0,0,0,0,0,0,0]');
    expect(formatRecording(rec)).toBe(
      readFileSync(recordingPath(scenarioFile('ksm-tests-merge.yaml')), 'utf8'),
    );
  });

  it('a scenario without a recording is an error naming the command that records it', () => {
    const dir = tmp();
    const file = join(dir, 'new.yaml');
    copyFileSync(scenarioFile('ksm-tests-merge.yaml'), file);
    expect(existsSync(recordingPath(file))).toBe(false);
    expect(() => loadRecordingFor(loadScenario(file))).toThrow(ScenarioError);
    expect(() => loadRecordingFor(loadScenario(file))).toThrow(`pnpm mmsim record ${file}`);
  });

  it('a malformed recording: one line naming the file and the field', () => {
    const dir = tmp();
    const path = join(dir, 'bad.json');
    const rec = structuredClone(loadRecordingFor(loadScenario(scenarioFile('ksm-tests-merge.yaml'))));
    delete (rec as Partial<Recording>).kernel;
    writeFileSync(path, JSON.stringify(rec));
    expect(() => loadRecording(path)).toThrow(ScenarioError);
    expect(() => loadRecording(path)).toThrow(/bad\.json: kernel: expected/);
    writeFileSync(path, '{');
    expect(() => loadRecording(path)).toThrow(/bad\.json: \$: expected valid JSON/);
  });
});
