// Where the mmsim command writes, and how. Commands never touch process.stdout directly: they get
// an Io, so tests run them in-process and read what they printed.

import { readFileSync } from 'node:fs';
import pc from 'picocolors';

type Formatter = (input: string | number) => string;

/** The few styles the commands use; identity functions when colour is off. */
export interface Colors {
  bold: Formatter;
  dim: Formatter;
  red: Formatter;
  green: Formatter;
  yellow: Formatter;
  blue: Formatter;
  magenta: Formatter;
  cyan: Formatter;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Styles for stdout: real ones only on a terminal and without NO_COLOR. */
  colors: Colors;
  /** The terminal progress bars draw on (stderr), or null when it is not a terminal. */
  progressStream: NodeJS.WritableStream | null;
  /** The environment (MMSIM_ORACLE_TRACE is set through it for kernel progress). */
  env: NodeJS.ProcessEnv;
  /** All of standard input, as text (a scenario given as `-`). */
  stdin: () => string;
}

/** A user mistake: the command prints `mmsim: <message>` on stderr and exits with code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

/**
 * Colour on a terminal only: NO_COLOR (any non-empty value, https://no-color.org) turns it off,
 * FORCE_COLOR (non-empty, not "0") turns it on elsewhere, TERM=dumb turns it off.
 */
export function colorEnabled(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if ((env.NO_COLOR ?? '') !== '') return false;
  const force = env.FORCE_COLOR ?? '';
  if (force !== '' && force !== '0') return true;
  return stream.isTTY === true && env.TERM !== 'dumb';
}

export function makeColors(enabled: boolean): Colors {
  const c = pc.createColors(enabled);
  return {
    bold: c.bold,
    dim: c.dim,
    red: c.red,
    green: c.green,
    yellow: c.yellow,
    blue: c.blue,
    magenta: c.magenta,
    cyan: c.cyan,
  };
}

/** The real process: stdout, stderr, colour and progress decided by what they are connected to. */
export function processIo(): Io {
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    colors: makeColors(colorEnabled(process.stdout, process.env)),
    progressStream: process.stderr.isTTY === true && process.env.TERM !== 'dumb' ? process.stderr : null,
    env: process.env,
    stdin: () => readStdin(),
  };
}

/** Standard input to its end; a terminal (nothing piped) is a usage error, not a wait. */
function readStdin(): string {
  if (process.stdin.isTTY === true)
    throw new UsageError('- reads the scenario from standard input: pipe or redirect one');
  try {
    return readFileSync(0, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read standard input: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** An Io that collects output, for tests. */
export function memoryIo(opts: { color?: boolean; env?: NodeJS.ProcessEnv; stdin?: string } = {}): Io & {
  stdout: () => string;
  stderr: () => string;
} {
  let out = '';
  let err = '';
  return {
    out: (s) => {
      out += s;
    },
    err: (s) => {
      err += s;
    },
    colors: makeColors(opts.color === true),
    progressStream: null,
    env: opts.env ?? {},
    stdin: () => opts.stdin ?? '',
    stdout: () => out,
    stderr: () => err,
  };
}

/** Print a value as the JSON every `--json` prints: two-space indented, one trailing newline. */
export function printJson(io: Io, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
