// View 5: bench. Open a JSON report of `pnpm bench` (apps/bench writes bench-results/<name>.json)
// and see each benchmark's median throughput per row, coloured by engine: the simulator, or the
// live kernel the same run measured. Labels wrap onto more lines instead of being cut.

import type { ChartConfiguration } from 'chart.js';
import { useState } from 'preact/hooks';
import { ChartView, wrapLabel } from '../chart.tsx';

/** The part of apps/bench's RunReport ('mmsim-bench/1') this view reads. */
export interface BenchFile {
  schema: string;
  benchmarks: {
    name: string;
    description: string;
    rows: { label: string; unit: string; throughput: { median: number } }[];
  }[];
}

export const ENGINE_COLOURS = { simulator: '#2563eb', kernel: '#dc2626' } as const;

/** Rows measured on the live kernel are labelled so by apps/bench ('live kernel (...)'). */
export function engineOf(label: string): keyof typeof ENGINE_COLOURS {
  return /\bkernel\b/i.test(label) ? 'kernel' : 'simulator';
}

/** Height of one bar row, in pixels, and room for the title and axis. */
const ROW_PX = 34;
const CHART_FRAME_PX = 90;

export function parseBench(text: string): BenchFile {
  const data = JSON.parse(text) as Partial<BenchFile>;
  if (data.schema !== 'mmsim-bench/1' || !Array.isArray(data.benchmarks))
    throw new Error(
      `not a bench report: expected schema "mmsim-bench/1", found ${JSON.stringify(data.schema)}`,
    );
  return data as BenchFile;
}

function chartOf(b: BenchFile['benchmarks'][number]): ChartConfiguration {
  const unit = b.rows.length > 0 ? `${b.rows[0].unit}s/s` : '';
  return {
    type: 'bar',
    data: {
      labels: b.rows.map((r) => wrapLabel(r.label)),
      datasets: [
        {
          label: `${b.name}: median throughput`,
          data: b.rows.map((r) => r.throughput.median),
          backgroundColor: b.rows.map((r) => ENGINE_COLOURS[engineOf(r.label)]),
        },
      ],
    },
    options: {
      indexAxis: 'y',
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        title: { display: true, text: `${b.name}: ${b.description}` },
        legend: { display: false },
      },
      scales: {
        y: { ticks: { autoSkip: false } },
        x: { beginAtZero: true, title: { display: true, text: unit } },
      },
    },
  };
}

export function BenchView() {
  const [file, setFile] = useState<BenchFile | null>(null);
  const [error, setError] = useState<string | null>(null);
  const open = async (f: File | undefined) => {
    if (f === undefined) return;
    try {
      setFile(parseBench(await f.text()));
      setError(null);
    } catch (e) {
      setError(`${f.name}: ${(e as Error).message}`);
    }
  };
  return (
    <div class="bench-view">
      <section
        class="panel"
        aria-label="open a bench report"
        onDragOver={(e) => e.preventDefault()}
        onDrop={(e) => {
          e.preventDefault();
          void open(e.dataTransfer?.files[0]);
        }}
      >
        <label>
          Open a bench JSON (bench-results/NAME.json from <code>pnpm bench NAME --json</code>), or drop it
          here:{' '}
          <input
            id="bench-file"
            type="file"
            accept=".json,application/json"
            onChange={(e) => void open((e.target as HTMLInputElement).files?.[0])}
          />
        </label>
        <div class="legend">
          {Object.entries(ENGINE_COLOURS).map(([k, c]) => (
            <span key={k}>
              <i style={{ background: c }} /> {k}
            </span>
          ))}
        </div>
        {error !== null && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </section>
      {file?.benchmarks.map((b) => (
        <section key={b.name} class="panel" aria-label={`bench ${b.name}`}>
          <ChartView
            config={chartOf(b)}
            height={CHART_FRAME_PX + ROW_PX * Math.max(1, b.rows.length)}
            label={`${b.name} throughput`}
          />
        </section>
      ))}
    </div>
  );
}
