// mmsim ksm-stat <scenario>: /proc/<pid>/ksm_stat of the simulated processes.

import type { KsmStat } from '@mmsim/ksm';
import type { Command } from 'commander';
import { AT_HELP, examples, PROC_HELP, type Runner } from '../command.ts';
import { type Io, printJson } from '../io.ts';
import { loadOrFail, pickProcs, simulateTo } from '../simulate.ts';

/** proc_pid_ksm_stat() (fs/proc/base.c, Linux 6.18). */
function ksmStatText(s: KsmStat): string {
  return (
    `ksm_rmap_items ${s.ksm_rmap_items}\n` +
    `ksm_zero_pages ${s.ksm_zero_pages}\n` +
    `ksm_merging_pages ${s.ksm_merging_pages}\n` +
    `ksm_process_profit ${s.ksm_process_profit}\n` +
    `ksm_merge_any: ${s.ksm_merge_any ? 'yes' : 'no'}\n` +
    `ksm_mergeable: ${s.ksm_mergeable ? 'yes' : 'no'}\n`
  );
}

function ksmStatCommand(io: Io, file: string, o: { proc?: string; at?: string; json?: boolean }): number {
  const st = simulateTo(loadOrFail(file, io), o.at);
  const procs = pickProcs(st, o.proc);
  const stats = procs.map(([name, p]) => ({ proc: name, pid: p.pid, ...st.ctx.ksm.ksm_stat(p.mm) }));
  if (o.json === true) {
    printJson(io, o.proc !== undefined ? stats[0] : stats);
    return 0;
  }
  for (const s of stats) {
    if (o.proc === undefined) io.out(`${io.colors.dim(`==> /proc/${s.pid}/ksm_stat (${s.proc}) <==`)}\n`);
    io.out(ksmStatText(s));
  }
  return 0;
}

export function defineKsmStat(program: Command, r: Runner): void {
  program
    .command('ksm-stat')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .description("/proc/<pid>/ksm_stat of a simulated process, in the kernel's format")
    .option('--proc <name>', PROC_HELP)
    .option('--at <label>', AT_HELP)
    .option('--json', 'print the fields as JSON (an object with --proc, else an array)')
    .addHelpText(
      'after',
      examples([
        ['mmsim ksm-stat scenarios/ksm-tests-merge.yaml --proc a', 'after the last step'],
        ['mmsim ksm-stat scenarios/chains-fork.yaml --at chained', 'every process at a report step'],
      ]),
    )
    .action((file: string, o: { proc?: string; at?: string; json?: boolean }) => {
      r.code = ksmStatCommand(r.io, file, o);
    });
}
