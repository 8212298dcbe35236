// The Node-only half of @mmsim/scenario ('@mmsim/scenario/node'): reading scenario files, the
// host's memory and swap sizes, and the live-kernel oracle. The package's main entry stays
// browser-safe (apps/web bundles it); everything here touches the file system or processes.

import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { ScenarioError } from './errors.ts';
import { type LoadedScenario, parseScenario } from './parse.ts';
import type { HostMemory } from './simulator.ts';

export {
  buildOracle,
  DEFAULT_LOCK_PATH,
  encodeInstructions,
  encodeToken,
  findCompiler,
  KSM_SYSFS,
  MAX_REPORT_LABELS,
  NATIVE_DIR,
  ORACLE_BINARY,
  ORACLE_SOURCE,
  type OracleAvailability,
  OracleError,
  OracleRefusedError,
  OracleUnavailableError,
  oracleAvailability,
  RESTORED_KNOBS,
  type RunOnKernelOptions,
  readKsmLocked,
  readKsmSysfs,
  runOnKernel,
} from './oracle.ts';

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

/** This machine's free memory and swap size (SwapTotal in /proc/meminfo; 0 where it cannot be
 * read): the simulated machine's defaults, so that `mmsim run` and the oracle see the same host. */
export function hostMemory(): HostMemory {
  let swapMiB = 0;
  try {
    const m = /^SwapTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
    if (m !== null) swapMiB = Math.floor(Number(m[1]) / 1024);
  } catch {
    // No /proc/meminfo: no swap.
  }
  return { memoryMiB: Math.floor(freemem() / 2 ** 20), swapMiB };
}
