// Recorded kernel answers: the live kernel's full report for a scenario file, kept in the
// repository next to it (scenarios/expected/NAME.json) with the kernel release and the date, so the
// simulator is compared with Linux on any machine. Node-only (files, uname).
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { describeValue, formatPath, ScenarioError } from './errors.ts';
import { hostMemory } from './host.ts';
import { runOnKernel } from './oracle.ts';
import type { LoadedScenario } from './parse.ts';
import { compareReports, formatReportDiff, type Report, type ReportDiff, reportSchema } from './report.ts';
import type { HostMemory } from './simulator.ts';

/** The repository's scenarios/ directory (same depth from src/ and dist/). */
export const SCENARIOS_DIR: string = fileURLToPath(new URL('../../../scenarios/', import.meta.url));
/** The version of the recording file format. */
export const RECORDING_FORMAT = 1;
/** The directory, next to the scenario files, that holds their recordings. */
export const RECORDING_DIR = 'expected';
/** How many kernel runs a recording is made of; they must all be equal. */
export const RECORDING_RUNS = 2;

/** What the live kernel answered for one scenario file. */
export interface Recording {
  recording: typeof RECORDING_FORMAT;
  /** The scenario file's name (in its directory). */
  scenario: string;
  /** `uname -r` of the machine that answered. */
  kernel: string;
  /** When it was recorded (ISO 8601, UTC). */
  recorded: string;
  /** The recording machine's free memory and swap: the simulator is sized as that host when it is
   * compared with the recording (the swap size decides what MADV_PAGEOUT reclaims). */
  host: HostMemory;
  report: Report;
}

export const recordingSchema = z.strictObject({
  recording: z.literal(RECORDING_FORMAT),
  scenario: z.string(),
  kernel: z.string(),
  recorded: z.iso.datetime(),
  host: z.strictObject({
    memoryMiB: z.number().int().nonnegative(),
    swapMiB: z.number().int().nonnegative(),
  }),
  report: reportSchema,
});

/** The scenario files of a directory (.yaml, .yml, .json; not its subdirectories), sorted. */
export function listScenarioFiles(dir: string = SCENARIOS_DIR): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ya?ml|json)$/.test(e.name))
    .map((e) => join(dir, e.name))
    .sort();
}

/** scenarios/NAME.yaml -> scenarios/expected/NAME.json */
export function recordingPath(scenarioFile: string): string {
  const name = basename(scenarioFile, extname(scenarioFile));
  return join(dirname(scenarioFile), RECORDING_DIR, `${name}.json`);
}

/** Reads and validates a recording file; a missing or malformed one is a ScenarioError. */
export function loadRecording(path: string): Recording {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ScenarioError(path, '$', 'a recording (record it with `pnpm mmsim record <scenario>`)', code);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(path, '$', 'valid JSON', (e as Error).message);
  }
  const r = recordingSchema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    let found: unknown = data;
    for (const key of issue.path) found = (found as Record<PropertyKey, unknown> | undefined)?.[key];
    throw new ScenarioError(path, formatPath(issue.path), issue.message, describeValue(found));
  }
  return r.data as Recording;
}

/** The recording of a loaded scenario file (recordingPath(loaded.file)); a missing one is a
 * ScenarioError naming the command that makes it. */
export function loadRecordingFor(loaded: LoadedScenario): Recording {
  const path = recordingPath(loaded.file);
  if (!existsSync(path)) {
    const what = `the kernel's recorded answer for ${loaded.file} (record it as root: pnpm mmsim record ${loaded.file})`;
    throw new ScenarioError(path, '$', what, 'no such file');
  }
  return loadRecording(path);
}

/** A report compared with a recording exactly as `mmsim verify` compares it with a live run. */
export function compareWithRecording(report: Report, recording: Recording): ReportDiff {
  return compareReports(report, recording.report);
}

/** The kernel runs of a recording differ: the scenario is not deterministic on this kernel. */
export class RecordingUnstableError extends Error {
  override name = 'RecordingUnstableError';
  readonly diff: ReportDiff;
  constructor(file: string, diff: ReportDiff) {
    super(
      `${file}: two kernel runs differ, nothing recorded:\n${formatReportDiff(diff, ['run 1', 'run 2'])}`,
    );
    this.diff = diff;
  }
}

export interface RecordOptions {
  /** Passed to runOnKernel: the oracle's stderr lines. */
  onStderr?: (line: string) => void;
  /** The clock, release and host to stamp (tests); default now, os.release() and hostMemory(). */
  now?: Date;
  kernel?: string;
  host?: HostMemory;
  /** What runs the scenario (tests); default runOnKernel. */
  run?: typeof runOnKernel;
}

/**
 * Runs the scenario RECORDING_RUNS times on the live kernel and returns the recording when every
 * run equals the first; throws RecordingUnstableError otherwise. Writes nothing.
 */
export async function recordScenario(loaded: LoadedScenario, opts: RecordOptions = {}): Promise<Recording> {
  const kernelOpts = opts.onStderr !== undefined ? { onStderr: opts.onStderr } : {};
  const runKernel = opts.run ?? runOnKernel;
  const first = await runKernel(loaded.scenario, kernelOpts);
  for (let run = 2; run <= RECORDING_RUNS; run++) {
    const again = await runKernel(loaded.scenario, kernelOpts);
    const diff = compareReports(first, again);
    if (!diff.equal) throw new RecordingUnstableError(loaded.file, diff);
  }
  return {
    recording: RECORDING_FORMAT,
    scenario: basename(loaded.file),
    kernel: opts.kernel ?? release(),
    recorded: (opts.now ?? new Date()).toISOString(),
    host: opts.host ?? hostMemory(),
    report: first,
  };
}

/** Writes a recording to recordingPath(scenarioFile) (through a temporary file); returns the path. */
export function writeRecording(scenarioFile: string, recording: Recording): string {
  const path = recordingPath(scenarioFile);
  if (!existsSync(dirname(path))) mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, formatRecording(recording));
  renameSync(tmp, path);
  return path;
}

/** A recording as its file holds it: indented JSON with every label array on one line. */
export function formatRecording(recording: Recording): string {
  const text = JSON.stringify(recording, null, 1);
  return `${text.replace(/\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]/g, (_, nums: string) => `[${nums.replace(/\s+/g, '')}]`)}\n`;
}
