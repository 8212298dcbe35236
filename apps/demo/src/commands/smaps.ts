// mmsim smaps <scenario>: /proc/<pid>/smaps (or smaps_rollup) of a simulated process, as
// fs/proc/task_mmu.c prints it (@mmsim/proc).

import { type SmapsEntry, smaps, smaps_rollup } from '@mmsim/proc';
import type { Command } from 'commander';
import { AT_HELP, examples, PROC_HELP, type Runner } from '../command.ts';
import { type Io, printJson, UsageError } from '../io.ts';
import { loadOrFail, pickProcs, pickRegions, type RegionRef, simulateTo } from '../simulate.ts';

export interface SmapsOptions {
  proc?: string;
  region?: string;
  at?: string;
  rollup?: boolean;
  json?: boolean;
}

function overlaps(e: SmapsEntry, r: RegionRef): boolean {
  return e.vma.vm_start < r.addr + r.pages * 4096 && e.vma.vm_end > r.addr;
}

function smapsCommand(io: Io, file: string, o: SmapsOptions): number {
  if (o.rollup === true && o.region !== undefined)
    throw new UsageError('--rollup sums every VMA of the process: it takes no --region');
  const st = simulateTo(loadOrFail(file, io), o.at);
  const procs = pickProcs(st, o.proc);
  const out: unknown[] = [];
  for (const [name, p] of procs) {
    const regions = pickRegions(st, name, o.region);
    const header = (what: string): void => {
      if (o.proc === undefined && o.json !== true)
        io.out(`${io.colors.dim(`==> /proc/${p.pid}/${what} (${name}) <==`)}\n`);
    };
    if (o.rollup === true) {
      const r = smaps_rollup(p.mm);
      if (o.json === true) out.push({ proc: name, pid: p.pid, start: r.start, end: r.end, fields: r.fields });
      else {
        header('smaps_rollup');
        io.out(r.text);
      }
      continue;
    }
    const entries = smaps(p.mm).filter((e) => o.region === undefined || regions.some((r) => overlaps(e, r)));
    if (o.json === true) {
      out.push({
        proc: name,
        pid: p.pid,
        vmas: entries.map((e) => ({
          start: e.vma.vm_start,
          end: e.vma.vm_end,
          regions: regions.filter((r) => overlaps(e, r)).map((r) => r.name),
          fields: e.fields,
        })),
      });
    } else {
      header('smaps');
      for (const e of entries) io.out(e.text);
    }
  }
  if (o.json === true) printJson(io, o.proc !== undefined ? out[0] : out);
  return 0;
}

export function defineSmaps(program: Command, r: Runner): void {
  program
    .command('smaps')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .description("/proc/<pid>/smaps of a simulated process, in the kernel's format")
    .option('--proc <name>', PROC_HELP)
    .option('--region <name>', 'only the VMAs of this region (default: every VMA)')
    .option('--at <label>', AT_HELP)
    .option('--rollup', '/proc/<pid>/smaps_rollup instead')
    .option('--json', 'print the fields as JSON (kB)')
    .addHelpText(
      'after',
      examples([
        ['mmsim smaps scenarios/ksm-tests-merge.yaml --proc a', 'every VMA after the last step'],
        ['mmsim smaps scenarios/thp-zero-chains.yaml --proc a --region h --at before', 'one region, mid-way'],
        ['mmsim smaps scenarios/chains-fork.yaml --rollup', 'smaps_rollup of every process'],
      ]),
    )
    .action((file: string, o: SmapsOptions) => {
      r.code = smapsCommand(r.io, file, o);
    });
}
