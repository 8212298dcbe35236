// The chart of `mmsim predict --svg`: vega-lite compiled to vega and rendered to SVG headlessly
// (View.toSVG(), no canvas), as apps/bench draws its charts.

import type { Prediction } from '@mmsim/scenario';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const MiB = 1024 * 1024;
const MS_PER_MIN = 60_000;
/** Points per line at most: longer timelines are thinned evenly. */
const MAX_POINTS = 600;
const WIDTH = 560;
const HEIGHT = 170;
const PERCENT = 100;

/** The vega-lite spec: the page counters, general_profit, and ksmd's CPU share per interval. */
export function predictionSpec(name: string, p: Prediction): TopLevelSpec {
  const step = Math.max(1, Math.ceil(p.samples.length / MAX_POINTS));
  const pages: { min: number; counter: string; pages: number }[] = [];
  const profit: { min: number; MiB: number }[] = [];
  const cpu: { min: number; percent: number }[] = [];
  for (let i = 0; i < p.samples.length; i += step) {
    const s = p.samples[i]!;
    const min = s.ms / MS_PER_MIN;
    for (const k of ['pages_sharing', 'pages_shared', 'pages_unshared', 'pages_volatile'] as const)
      pages.push({ min, counter: k, pages: s[k] });
    profit.push({ min, MiB: s.general_profit / MiB });
    const prev = p.samples[Math.max(0, i - step)]!;
    if (i > 0) cpu.push({ min, percent: ((s.cpuMs - prev.cpuMs) / (s.ms - prev.ms)) * PERCENT });
  }
  const x = { field: 'min', type: 'quantitative', title: 'minutes since run=1' } as const;
  const knobs = Object.entries(p.knobs)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return {
    $schema: SCHEMA,
    title: { text: `mmsim predict: ksmd on ${name}`, subtitle: knobs },
    vconcat: [
      {
        width: WIDTH,
        height: HEIGHT,
        data: { values: pages },
        mark: { type: 'line' },
        encoding: {
          x,
          y: { field: 'pages', type: 'quantitative', title: 'pages' },
          color: { field: 'counter', type: 'nominal', title: null },
        },
      },
      {
        width: WIDTH,
        height: HEIGHT,
        data: { values: profit },
        mark: { type: 'line', color: '#2a7' },
        encoding: { x, y: { field: 'MiB', type: 'quantitative', title: 'general_profit (MiB)' } },
      },
      {
        width: WIDTH,
        height: HEIGHT / 2,
        data: { values: cpu },
        mark: { type: 'line', color: '#c44', interpolate: 'step-before' },
        encoding: { x, y: { field: 'percent', type: 'quantitative', title: 'ksmd CPU (% of one CPU)' } },
      },
    ],
  } as TopLevelSpec;
}

/** The chart as an SVG document. */
export async function predictionSvg(name: string, p: Prediction): Promise<string> {
  const view = new vega.View(vega.parse(compile(predictionSpec(name, p)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
