// Running the mmsim command in-process: main() with an Io that collects what it prints.

import { join } from 'node:path';
import { main } from '../src/cli.ts';
import { memoryIo } from '../src/io.ts';

export const root = join(import.meta.dirname, '..', '..', '..');
export const scenario = (name: string): string => join(root, 'scenarios', name);
export const fixture = (name: string): string => join(import.meta.dirname, 'fixtures', name);

export interface Result {
  code: number;
  out: string;
  err: string;
}

/** `mmsim ...argv` in this process; colour off unless `color`; `stdin` is standard input. */
export async function mmsim(argv: string[], opts: { color?: boolean; stdin?: string } = {}): Promise<Result> {
  const io = memoryIo({
    ...(opts.color === true ? { color: true } : {}),
    ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
  });
  const code = await main(argv, io);
  return { code, out: io.stdout(), err: io.stderr() };
}

/** The run must have failed as a user mistake: exit 2 and exactly one line on stderr. */
export function usageError(r: Result): string {
  if (r.code !== 2) throw new Error(`expected exit code 2, got ${r.code}; stderr: ${r.err}`);
  const lines = r.err.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got:\n${r.err}`);
  if (r.out !== '') throw new Error(`expected nothing on stdout, got:\n${r.out}`);
  return lines[0];
}
