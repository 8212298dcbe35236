// The Markdown report: one section per benchmark with the throughput table, targets,
// deterministic counters per unit, other metrics, notes and the chart links.

import type { BenchReport } from '../aggregate.ts';
import { fmtNum, fmtSeconds, perSecond, unitPlural } from '../format.ts';
import type { MachineInfo } from '../machine-info.ts';

export interface ChartLinks {
  throughput?: string;
  scaling?: string;
}

function table(head: string[], align: string[], rows: string[][]): string {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${align.join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function range(lo: number, hi: number): string {
  return `${fmtNum(lo)} – ${fmtNum(hi)}`;
}

function machineLine(m: MachineInfo, startedAt: string): string {
  return [
    `node ${m.node}`,
    `${m.cpuModel} × ${m.cpus}`,
    `${m.os} ${m.kernel}`,
    `${fmtNum(m.totalMemMiB)} MiB RAM`,
    `load ${m.loadAvg.join(' / ')}`,
    m.commit === '' ? 'no git commit' : `commit ${m.commit}`,
    startedAt,
  ].join(' · ');
}

export function benchMarkdown(
  r: BenchReport,
  machine: MachineInfo,
  startedAt: string,
  charts: ChartLinks = {},
  heading = true,
): string {
  const out: string[] = [];
  if (heading) out.push(`## ${r.name}`, '', r.description, '');
  out.push(
    `${r.reps} repetition${r.reps === 1 ? '' : 's'} of each variant, each in a fresh Node process${r.quick ? ' (--quick)' : ''}. ` +
      `${machineLine(machine, startedAt)}`,
    '',
  );
  const loads = r.raw.map((x) => x.loadAvg1);
  const maxLoad = loads.length > 0 ? Math.max(...loads) : 0;
  if (maxLoad > machine.cpus) {
    out.push(
      `> The machine was busy: 1-minute load average up to ${fmtNum(maxLoad)} on ${machine.cpus} CPUs while ` +
        'these ran (other work competes for the CPUs), so timings are pessimistic; per-run loads are in the JSON.',
      '',
    );
  }
  if (r.rows.length > 0) {
    out.push(
      table(
        ['variant', 'work', 'throughput (median)', 'min – max', '95% CI of median', 'time (median)'],
        ['---', '--:', '--:', '--:', '--:', '--:'],
        r.rows.map((row) => [
          row.label,
          `${fmtNum(row.ops)} ${unitPlural(row.unit)}`,
          `**${fmtNum(row.throughput.median)}** ${perSecond(row.unit)}`,
          range(row.throughput.min, row.throughput.max),
          range(row.throughput.ci95[0], row.throughput.ci95[1]),
          fmtSeconds(row.seconds.median),
        ]),
      ),
      '',
    );
  }
  if (r.targets.length > 0) {
    out.push(
      '**Targets**',
      '',
      table(
        ['target', 'goal', 'measured (median)', 'status'],
        ['---', '--:', '--:', '---'],
        r.targets.map((t) => {
          const goal = [
            t.atLeast !== undefined ? `≥ ${fmtNum(t.atLeast)}` : '',
            t.atMost !== undefined ? `≤ ${fmtNum(t.atMost)}` : '',
          ]
            .filter((s) => s !== '')
            .join(', ');
          return [
            `${t.name}${t.label !== undefined ? ` (${t.label})` : ''}${t.source !== undefined ? ` — ${t.source}` : ''}`,
            `${goal} ${t.unit}`,
            t.status === 'not measured' ? '—' : `${fmtNum(t.measured)} ${t.unit}`,
            t.status === 'missed' ? '**missed**' : t.status,
          ];
        }),
      ),
      '',
    );
  }
  if (r.counters.length > 0) {
    const names = Object.keys(r.counters[0].perUnit).filter((k) => r.counters.some((c) => c.total[k] !== 0));
    const allDet = r.counters.every((c) => c.deterministic);
    // Rows of different units (per walk, per page ...) say their unit in the column heading.
    const mixed = new Set(r.counters.map((c) => c.unit)).size > 1;
    const per = mixed ? 'unit of work' : r.counters[0].unit;
    out.push(
      `**Deterministic counters per ${per}** (machine.counters over the timed work; ` +
        `${allDet ? 'identical in every repetition' : '**differed between repetitions** — see JSON'})`,
      '',
      table(
        ['counter', ...r.counters.map((c) => (mixed ? `${c.label} (per ${c.unit})` : c.label))],
        ['---', ...r.counters.map(() => '--:')],
        names.map((k) => [k, ...r.counters.map((c) => fmtNum(c.perUnit[k] ?? 0))]),
      ),
      '',
    );
  }
  const global = r.metrics.filter((m) => m.label === undefined);
  const labelled = r.metrics.filter((m) => m.label !== undefined);
  if (r.metrics.length > 0) out.push('**Other measurements**', '');
  if (global.length > 0) {
    out.push(
      table(
        ['measurement', 'median', 'min – max'],
        ['---', '--:', '--:'],
        global.map((m) => [
          m.name,
          `${fmtNum(m.value.median)} ${m.unit}`,
          m.value.min === m.value.max ? '—' : `${range(m.value.min, m.value.max)} ${m.unit}`,
        ]),
      ),
      '',
    );
  }
  if (labelled.length > 0) {
    // One row per variant label, one column per measurement (medians; spreads are in the JSON).
    const cols = [...new Map(labelled.map((m) => [m.name, m.unit])).entries()];
    const labels = [...new Set(labelled.map((m) => m.label as string))];
    out.push(
      table(
        ['variant', ...cols.map(([name, unit]) => `${name} (${unit}, median)`)],
        ['---', ...cols.map(() => '--:')],
        labels.map((label) => [
          label,
          ...cols.map(([name]) => {
            const m = labelled.find((x) => x.label === label && x.name === name);
            return m === undefined ? '—' : fmtNum(m.value.median);
          }),
        ]),
      ),
      '',
    );
  }
  if (r.notes.length > 0) {
    out.push(...r.notes.map((n) => `- ${n}`), '');
  }
  const imgs = [
    charts.throughput !== undefined ? `![${r.name} throughput](${charts.throughput})` : '',
    charts.scaling !== undefined ? `![${r.name} scaling](${charts.scaling})` : '',
  ].filter((s) => s !== '');
  if (imgs.length > 0) out.push(imgs.join('\n'), '');
  return out.join('\n');
}
