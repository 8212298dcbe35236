#!/usr/bin/env node

// The mmsim command: one module per subcommand in commands/, wired here. `main()` runs in-process
// (the tests call it); run as a script, this file is the command. User mistakes (bad files, flags,
// names, values) are one line on stderr and exit code 2, never a stack trace.

import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HostMemoryError, ScenarioError } from '@mmsim/scenario';
import { OracleError, OracleRefusedError, OracleUnavailableError } from '@mmsim/scenario/node';
import { SnapshotError, SnapshotFormatError } from '@mmsim/snapshot/node';
import { Command, CommanderError } from 'commander';
import type { Runner } from './command.ts';
import { defineDemo } from './commands/demo.ts';
import { defineKernels } from './commands/guest.ts';
import { defineKernel } from './commands/kernel.ts';
import { defineKnobs } from './commands/knobs.ts';
import { defineKsmStat } from './commands/ksm-stat.ts';
import { definePagemap } from './commands/pagemap.ts';
import { definePte } from './commands/pte.ts';
import { defineRecord } from './commands/record.ts';
import { defineRun } from './commands/run.ts';
import { defineSmaps } from './commands/smaps.ts';
import { defineSnapshot } from './commands/snapshot.ts';
import { defineTrace } from './commands/trace.ts';
import { defineTree } from './commands/tree.ts';
import { defineVerify } from './commands/verify.ts';
import { type Io, processIo, UsageError } from './io.ts';

/** This command's version: the @mmsim/demo package's. */
export function mmsimVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** The commander program, every subcommand defined, output going to `r.io`. */
function buildProgram(r: Runner): Command {
  const program = new Command();
  program
    .name('mmsim')
    .description(
      'A simulator of Linux memory management (page tables, faults, the page walker, GUP, KSM) and tools to look inside it',
    )
    .version(`mmsim ${mmsimVersion()}`, '-V, --version', 'print the version and exit')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => r.io.out(s),
      writeErr: (s) => r.io.err(s),
      // One line: "mmsim: unknown option '--prc' (did you mean --proc?)".
      outputError: (s, write) =>
        write(
          `mmsim: ${s.replace(/^error: /, '').replace(/\n\(Did you mean (.*)\?\)/, ' (did you mean $1?)')}`,
        ),
    });
  defineDemo(program, r);
  defineRun(program, r);
  defineVerify(program, r);
  defineSnapshot(program, r);
  defineKernel(program, r);
  defineKernels(program, r);
  defineRecord(program, r);
  definePagemap(program, r);
  defineSmaps(program, r);
  defineKsmStat(program, r);
  definePte(program, r);
  defineTree(program, r);
  defineTrace(program, r);
  defineKnobs(program, r);
  program.addHelpText(
    'after',
    `
Every command takes --help (with examples) and --json. Scenario files: scenarios/*.yaml, the
format in docs/scenario-format.md. Exit codes: 0 done, 1 an expect or a comparison failed, 2 a usage
error (bad flag, file, process, region, label or value).`,
  );
  return program;
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * `demo` is the default command, so commander would take an unknown command for demo's
 * arguments ("too many arguments for 'demo'"); name it as what it is instead.
 */
function unknownCommand(program: Command, argv: string[]): string | null {
  const first = argv[0];
  if (first === undefined || first.startsWith('-')) return null;
  const names = ['help', ...program.commands.flatMap((c) => [c.name(), ...c.aliases()])];
  if (names.includes(first)) return null;
  const near = names.filter((n) => distance(n, first) <= Math.max(1, Math.floor(n.length / 3)));
  return `unknown command '${first}'${near.length > 0 ? ` (did you mean ${near.join(' or ')}?)` : ''}; see mmsim --help`;
}

/** Run the mmsim command on `argv` (without node and the script); returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  const r: Runner = { io, code: 0 };
  try {
    const program = buildProgram(r);
    const unknown = unknownCommand(program, argv);
    if (unknown !== null) throw new UsageError(unknown);
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (
      e instanceof UsageError ||
      e instanceof ScenarioError ||
      e instanceof HostMemoryError ||
      e instanceof SnapshotError ||
      e instanceof SnapshotFormatError
    ) {
      io.err(`mmsim: ${e.message}\n`);
      return 2;
    }
    if (e instanceof OracleError) {
      io.err(`mmsim: ${e.message}\n`);
      return e instanceof OracleRefusedError || e instanceof OracleUnavailableError ? 2 : 1;
    }
    throw e;
  }
  return r.code;
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

/** Run as the process's command (the `mmsim` bin, or this file run by node). */
export async function runAsCommand(): Promise<void> {
  // An EPIPE (`mmsim pagemap ... | head`) ends the command quietly, as it would a C tool.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  process.exitCode = await main(process.argv.slice(2), processIo());
}

if (isEntryPoint()) await runAsCommand();
