// The Node-only half of @mmsim/scenario ('@mmsim/scenario/node'): reading scenario files, the
// host's memory and swap sizes, the live-kernel oracle, and break_ksm() strategies from files. The package's main entry stays
// browser-safe (apps/web bundles it); everything here touches the file system or processes.

import { readFileSync } from 'node:fs';
import { ScenarioError } from './errors.ts';
import { type LoadedScenario, parseScenario } from './parse.ts';

export { hostMemory } from './host.ts';
export { KSMD_COST_FILE, loadKsmdCost } from './ksmd-cost.ts';
export {
  buildOracle,
  DEFAULT_LOCK_PATH,
  encodeInstructions,
  encodeToken,
  findCompiler,
  KSM_SYSFS,
  type KsmdForOptions,
  type KsmdSample,
  NATIVE_DIR,
  OFFLINE_ENV,
  ORACLE_BINARY,
  ORACLE_SOURCE,
  type OracleAvailability,
  OracleError,
  OracleRefusedError,
  OracleUnavailableError,
  oracleAvailability,
  parseKsmdSample,
  RESTORED_KNOBS,
  type RunOnKernelOptions,
  readKsmLocked,
  readKsmSysfs,
  runOnKernel,
} from './oracle.ts';
export {
  compareWithRecording,
  formatRecording,
  listScenarioFiles,
  loadRecording,
  loadRecordingFor,
  RECORDING_DIR,
  RECORDING_FORMAT,
  RECORDING_RUNS,
  type Recording,
  RecordingUnstableError,
  type RecordOptions,
  recordingPath,
  recordingSchema,
  recordScenario,
  SCENARIOS_DIR,
  writeRecording,
} from './recording.ts';
export {
  checkBreakKsmStrategy,
  isBuiltinStrategy,
  loadBreakKsmStrategy,
  resolveBreakKsmStrategy,
} from './strategy.ts';

/** Reads and validates a scenario file (.json, .yaml or .yml; other names are tried as JSON, then
 * YAML). Throws ScenarioError. */
export function loadScenario(path: string): LoadedScenario {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ScenarioError(path, '$', 'a readable file', (e as NodeJS.ErrnoException).code ?? String(e));
  }
  return parseScenario(text, path);
}
