// mmsim knobs: /sys/kernel/mm/ksm as the simulator shows it, with what each file does.

import { KNOBS, Ksm, ksmSysfsRead } from '@mmsim/ksm';
import { Machine } from '@mmsim/mmu';
import type { Command } from 'commander';
import { AT_HELP, examples, type Runner } from '../command.ts';
import { table } from '../format.ts';
import { type Io, printJson } from '../io.ts';
import { loadOrFail, simulateTo, whereStopped } from '../simulate.ts';

export interface KnobRow {
  name: string;
  value: string;
  writable: boolean;
  help: string;
}

function knobRows(ksm: Ksm): KnobRow[] {
  return KNOBS.map((k) => ({
    name: k.name,
    value: ksmSysfsRead(ksm, k.name) ?? '',
    writable: k.writable,
    help: k.help,
  }));
}

function knobsCommand(io: Io, file: string | undefined, o: { at?: string; json?: boolean }): number {
  let ksm: Ksm;
  let where = 'the defaults of a fresh boot (Linux 6.18)';
  if (file === undefined) {
    ksm = new Ksm(new Machine({ memoryMiB: 16 }));
  } else {
    const st = simulateTo(loadOrFail(file, io), o.at);
    ksm = st.ctx.ksm;
    where = `${st.loaded.scenario.name} ${whereStopped(st)}`;
  }
  const rows = knobRows(ksm);
  if (o.json === true) {
    printJson(io, rows);
    return 0;
  }
  const c = io.colors;
  io.out(`${c.bold('/sys/kernel/mm/ksm')}: ${where}\n\n`);
  const lines = [['file', 'value', '', 'what it does'].map((h) => c.dim(h))];
  for (const k of rows) lines.push([c.cyan(k.name), k.value, k.writable ? 'rw' : 'ro', k.help]);
  io.out(`${table(lines, [false, true, false, false])}\n`);
  return 0;
}

export function defineKnobs(program: Command, r: Runner): void {
  program
    .command('knobs')
    .argument('[scenario]', 'show the values at a point of this scenario instead of the defaults')
    .description('the KSM sysfs surface (/sys/kernel/mm/ksm): every file, its value and what it does')
    .option('--at <label>', AT_HELP)
    .option('--json', 'print [{name, value, writable, help}]')
    .addHelpText(
      'after',
      examples([
        ['mmsim knobs', 'the defaults'],
        ['mmsim knobs scenarios/chains-fork.yaml --at chained', 'knobs and counters at a report step'],
        ['mmsim knobs --json', 'as JSON'],
      ]),
    )
    .action((file: string | undefined, o: { at?: string; json?: boolean }) => {
      r.code = knobsCommand(r.io, file, o);
    });
}
