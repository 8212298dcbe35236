// What every command module shares: the Io, the exit code it sets, the help examples block.

import type { Io } from './io.ts';
import { UsageError } from './io.ts';

/** Handed to each command's definition: where to print, and the exit code its action sets. */
export interface Runner {
  io: Io;
  code: number;
}

/** The "Examples:" block `--help` prints after the options: [command line, what it does]. */
export function examples(lines: [string, string][]): string {
  const width = Math.max(...lines.map(([c]) => c.length));
  return `\nExamples:\n${lines.map(([c, what]) => `  $ ${c.padEnd(width)}  # ${what}`).join('\n')}\n`;
}

/** An integer option value in [min, max], or a UsageError naming the option. */
export function intOption(name: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(`${name}: expected an integer from ${min} to ${max}, found "${value}"`);
  return n;
}

/** The option help for --at, shared by the commands that show state. */
export const AT_HELP = 'stop after the report step with this label (default: run to the end)';
export const PROC_HELP = 'the process (default: every live process)';
