// Writing a run's reports: <name>.json (raw samples, counters, machine info), <name>.md and
// the SVG charts, into the output directory.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from '../aggregate.ts';
import type { MachineInfo } from '../machine-info.ts';
import { benchMarkdown, type ChartLinks } from './markdown.ts';

export const REPORT_SCHEMA = 'mmsim-bench/1';

/** What --json prints and <name>.json holds. */
export interface RunReport {
  schema: typeof REPORT_SCHEMA;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: { quick: boolean; reps: number; argv: string[] };
  benchmarks: BenchReport[];
}

/** Write one benchmark's files; returns the paths written. */
export async function writeBenchReport(dir: string, run: RunReport, r: BenchReport): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  const put = (file: string, text: string): void => {
    const p = join(dir, file);
    writeFileSync(p, text);
    written.push(p);
  };
  put(`${r.name}.json`, `${JSON.stringify({ ...run, benchmarks: [r] }, null, 2)}\n`);
  // vega is loaded only when a report is written: `pnpm bench --help` and --list stay instant.
  const { renderSvg, scalingSpec, throughputSpec } = await import('./charts.ts');
  const charts: ChartLinks = {};
  const t = throughputSpec(r);
  if (t !== null) {
    charts.throughput = `${r.name}.throughput.svg`;
    put(charts.throughput, await renderSvg(t));
  }
  const s = scalingSpec(r);
  if (s !== null) {
    charts.scaling = `${r.name}.scaling.svg`;
    put(charts.scaling, await renderSvg(s));
  }
  put(`${r.name}.md`, benchMarkdown(r, run.machine, run.startedAt, charts));
  return written;
}
