// SVG charts rendered headlessly with vega-lite -> vega -> View.toSVG() (pure JS, no canvas):
// throughput per sample label with error bars, and scaling curves over x (size, ...).

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchReport } from '../aggregate.ts';
import { perSecond } from '../format.ts';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * Horizontal bars of the median throughput per sample label, a black whisker for the bootstrap
 * 95% CI of the median, and one dot per repetition.
 */
export function throughputSpec(r: BenchReport): TopLevelSpec | null {
  if (r.rows.length === 0) return null;
  const unit = perSecond(r.rows[0].unit);
  const rows = r.rows.map((row) => ({
    label: row.label,
    series: row.series ?? row.label,
    median: row.throughput.median,
    lo: row.throughput.ci95[0],
    hi: row.throughput.ci95[1],
  }));
  const points = r.rows.flatMap((row) => row.values.map((value) => ({ label: row.label, value })));
  const y = { field: 'label', type: 'nominal', sort: null, title: null } as const;
  return {
    $schema: SCHEMA,
    title: {
      text: `${r.name}: throughput`,
      subtitle: `median of ${r.reps} fresh-process repetitions; whiskers: bootstrap 95% CI of the median; dots: repetitions`,
    },
    width: 520,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'bar' },
        encoding: {
          y,
          x: { field: 'median', type: 'quantitative', title: unit },
          color: { field: 'series', type: 'nominal', title: null },
        },
      },
      {
        data: { values: rows },
        mark: { type: 'rule', color: 'black', strokeWidth: 2 },
        encoding: { y, x: { field: 'lo', type: 'quantitative' }, x2: { field: 'hi' } },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, color: 'black', size: 20 },
        encoding: { y, x: { field: 'value', type: 'quantitative' } },
      },
    ],
  };
}

/** One line per series over x: throughput, then each metric that has x values. */
export function scalingSpec(r: BenchReport): TopLevelSpec | null {
  const curveRows = r.rows.filter((row) => row.x !== undefined);
  const panels: object[] = [];
  const xUnit = curveRows[0]?.xUnit ?? r.metrics.find((m) => m.x !== undefined)?.xUnit ?? '';
  const x = { field: 'x', type: 'quantitative', scale: { type: 'log', base: 2 }, title: xUnit } as const;
  const color = { field: 'series', type: 'nominal', title: null } as const;
  const panel = (title: string, yTitle: string, values: object[]): object => ({
    title,
    width: 420,
    height: 220,
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'median', type: 'quantitative', title: yTitle }, color },
      },
      { mark: 'rule', encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
    ],
  });
  if (curveRows.length > 0) {
    const unit = perSecond(curveRows[0].unit);
    panels.push(
      panel(
        `throughput (${unit}; whiskers: 95% CI)`,
        unit,
        curveRows.map((row) => ({
          series: row.series ?? row.label,
          x: row.x,
          median: row.throughput.median,
          lo: row.throughput.ci95[0],
          hi: row.throughput.ci95[1],
        })),
      ),
    );
  }
  const names = [...new Set(r.metrics.filter((m) => m.x !== undefined).map((m) => m.name))];
  for (const name of names) {
    const ms = r.metrics.filter((m) => m.name === name && m.x !== undefined);
    panels.push(
      panel(
        `${name} (${ms[0].unit})`,
        ms[0].unit,
        ms.map((m) => ({
          series: m.series ?? m.label ?? name,
          x: m.x,
          median: m.value.median,
          lo: m.value.ci95[0],
          hi: m.value.ci95[1],
        })),
      ),
    );
  }
  if (panels.length === 0) return null;
  return {
    $schema: SCHEMA,
    title: { text: `${r.name}: scaling`, subtitle: `median of ${r.reps} fresh-process repetitions` },
    columns: 2,
    concat: panels,
  } as TopLevelSpec;
}

/** Render a vega-lite spec to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
