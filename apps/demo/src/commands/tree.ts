// mmsim tree <scenario>: KSM's stable tree (nodes, chains and their dups, each KSM page's
// rmap_items) and unstable tree, drawn as an ASCII tree.

import { type KsmTrees, ksmTrees, type TreeItem, type TreePage } from '@mmsim/scenario';
import type { Command } from 'commander';
import { AT_HELP, examples, intOption, type Runner } from '../command.ts';
import { type Io, printJson } from '../io.ts';
import { loadOrFail, type Stopped, simulateTo, whereStopped } from '../simulate.ts';

export interface TreeData extends KsmTrees {
  scenario: string;
  at: string | null;
}

/** The trees of the stopped world, as data. */
export function treeData(st: Stopped): TreeData {
  return { scenario: st.loaded.scenario.name, at: st.label, ...ksmTrees(st.ctx) };
}

interface Drawn {
  label: string;
  children: Drawn[];
}

/** ASCII branches, as `tree --charset=ascii` draws them. */
export function drawTree(nodes: Drawn[], prefix = ''): string {
  let s = '';
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    s += `${prefix}${last ? '`-- ' : '|-- '}${n.label}\n`;
    s += drawTree(n.children, prefix + (last ? '    ' : '|   '));
  });
  return s;
}

export function treeText(d: TreeData, io: Io, max: number): string {
  const c = io.colors;
  const hex = (n: number): string => `0x${n.toString(16)}`;
  const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  /** At most `max` entries of a list, then a line saying how many were left out. */
  const limit = <T>(list: T[], draw: (t: T) => Drawn): Drawn[] => {
    const n = max > 0 ? Math.min(max, list.length) : list.length;
    const out = list.slice(0, n).map(draw);
    if (n < list.length) out.push({ label: c.dim(`... ${list.length - n} more`), children: [] });
    return out;
  };
  const itemLabel = (it: TreeItem): string =>
    `rmap_item ${c.cyan(it.proc)} ${hex(it.address)}${it.region === '' ? '' : ` (${it.region})`}`;
  const items = (list: TreeItem[]): Drawn[] => limit(list, (it) => ({ label: itemLabel(it), children: [] }));
  const pageNode = (what: string, p: TreePage): Drawn => ({
    label: `${what} ${c.magenta(`kpfn ${hex(p.kpfn)}`)}  ${plural(p.rmap_items.length, 'mapping')}  ${c.dim(`content ${p.content}...`)}`,
    children: items(p.rmap_items),
  });
  const stable = limit(d.stable, (n) =>
    n.type === 'chain'
      ? {
          label: c.yellow(`chain: ${plural(n.dups.length, 'dup')}`),
          children: limit(n.dups, (p) => pageNode('dup', p)),
        }
      : pageNode('stable_node', n),
  );
  let chains = 0;
  let dups = 0;
  let mapped = 0;
  for (const n of d.stable) {
    if (n.type === 'node') mapped += n.rmap_items.length;
    else {
      chains++;
      dups += n.dups.length;
      for (const p of n.dups) mapped += p.rmap_items.length;
    }
  }
  let s = `${c.bold('root_stable_tree')}: ${plural(d.stable.length, 'node')} (${plural(chains, 'chain')} holding ${plural(dups, 'dup')}), ${plural(mapped, 'rmap_item')}\n`;
  s += drawTree(stable);
  s += `\n${c.bold('root_unstable_tree')}: ${plural(d.unstable.length, 'rmap_item')}\n`;
  s += drawTree(
    limit(d.unstable, (it) => ({
      label: `${itemLabel(it)}  ${c.dim(`checksum ${hex(it.checksum)}`)}`,
      children: [],
    })),
  );
  return s;
}

export function treeCommand(io: Io, file: string, o: { at?: string; json?: boolean; max: string }): number {
  const max = intOption('--max', o.max, 0, Number.MAX_SAFE_INTEGER);
  const st = simulateTo(loadOrFail(file, io), o.at);
  const d = treeData(st);
  if (o.json === true) printJson(io, d);
  else io.out(`${io.colors.dim(`# ${d.scenario} ${whereStopped(st)}`)}\n${treeText(d, io, max)}`);
  return 0;
}

export function defineTree(program: Command, r: Runner): void {
  program
    .command('tree')
    .argument('<scenario>', 'scenario file (YAML or JSON)')
    .description(
      'draw the KSM stable tree (nodes, chains and dups with their kpfn and rmap_items) and the unstable tree',
    )
    .option('--at <label>', AT_HELP)
    .option('--max <n>', 'entries shown per list: nodes, dups, rmap_items (0: all; --json has all)', '16')
    .option('--json', 'print {stable: [...], unstable: [...]} (every rmap_item)')
    .addHelpText(
      'after',
      examples([
        ['mmsim tree scenarios/chains-fork.yaml --at chained', 'a chain of three dups (max_page_sharing 4)'],
        ['mmsim tree scenarios/thp-zero-chains.yaml --at after --max 2', 'a big tree, shortened'],
        ['mmsim tree scenarios/ksm-tests-merge.yaml --json', 'as JSON'],
      ]),
    )
    .action((file: string, o: { at?: string; json?: boolean; max: string }) => {
      r.code = treeCommand(r.io, file, o);
    });
}
