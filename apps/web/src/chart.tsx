// Chart.js behind a small Preact component: a chart is rebuilt when its config changes. Chart.js
// draws on a canvas, sizes its axes to fit every tick label (we never let it skip or truncate
// them) and animates updates; only the parts used are registered, so the bundle stays small.

import * as chartjs from 'chart.js';
import { Chart, type ChartConfiguration } from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

// the parts the charts use, each named once (the bundler keeps only these)
Chart.register(
  chartjs.BarController,
  chartjs.BarElement,
  chartjs.CategoryScale,
  chartjs.Legend,
  chartjs.LinearScale,
  chartjs.LineController,
  chartjs.LineElement,
  chartjs.PointElement,
  chartjs.Title,
  chartjs.Tooltip,
);

/** Longest line of a tick label before it wraps onto the next line. */
const LABEL_LINE = 32;

/** A label broken into lines at spaces, so a long one wraps instead of being cut. */
export function wrapLabel(label: string): string | string[] {
  if (label.length <= LABEL_LINE) return label;
  const lines: string[] = [];
  let line = '';
  for (const word of label.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > LABEL_LINE) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

export function ChartView(props: { config: ChartConfiguration; height: number; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current === null) return;
    const chart = new Chart(canvas.current, props.config);
    return () => chart.destroy();
  }, [props.config]);
  return (
    <div class="chart" style={{ height: `${props.height}px` }}>
      <canvas ref={canvas} role="img" aria-label={props.label} />
    </div>
  );
}
