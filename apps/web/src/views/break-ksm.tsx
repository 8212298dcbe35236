// View 4: break_ksm(). Every strategy of the kernel's history on identical state (the scenario
// rerun to this step for each), MADV_UNMERGEABLE over every region: the cost counters per page
// as bars. Then one strategy's run replayed increment by increment, as the machine's cost
// counters saw them: which table levels it reads, which walker callbacks run, where it faults.

import type { ChartConfiguration } from 'chart.js';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ChartView } from '../chart.tsx';
import type { SimClient } from '../client.ts';
import type { Snapshot, BreakKsmView as View } from '../protocol.ts';

/** What each counter means, in the kernel's words. */
const MEANING: Record<string, string> = {
  pgdRead: 'pgd entry read',
  p4dRead: 'p4d entry read',
  pudRead: 'pud entry read',
  pmdRead: 'pmd entry read',
  pteRead: 'pte entries read',
  walks: 'walk_page_range*() / folio_walk_start() call',
  walkCallbacks: 'mm_walk_ops callback',
  followPage: 'follow_page() lookup',
  faults: 'handle_mm_fault(): fault',
  pagesCopied: 'page copied (COW break)',
  ptlLock: 'page-table lock taken',
};

const STRATEGY_COLOURS = ['#2563eb', '#dc2626', '#f59e0b', '#16a34a', '#c026d3', '#0d9488'];
/** The counters drawn as bars (the table has them all). */
const BARS = ['pmdRead', 'pteRead', 'walks', 'walkCallbacks', 'followPage', 'faults'];
/** The last events listed (the totals count them all). */
const SHOWN_EVENTS = 40;
/** Milliseconds per animation frame. */
const FRAME_MS = 120;

export function BreakKsmView(props: {
  snap: Snapshot;
  client: SimClient;
  strategy: string;
  onStrategy: (s: string) => void;
}) {
  const [view, setView] = useState<View | null>(null);
  const [frame, setFrame] = useState(0);
  const [playing, setPlaying] = useState(false);
  const list = useRef<HTMLOListElement>(null);
  // The newest event stays in sight.
  useEffect(() => {
    if (list.current !== null) list.current.scrollTop = list.current.scrollHeight;
  }, [frame]);
  useEffect(() => {
    setView(null);
    void props.client.request({ type: 'breakKsm', strategy: props.strategy }).then((r) => {
      if (r !== null && r.type === 'breakKsm') {
        setView(r.view);
        setFrame(0);
      }
    });
  }, [props.snap, props.strategy]);
  useEffect(() => {
    if (!playing || view === null) return;
    if (frame >= view.events.length) {
      setPlaying(false);
      return;
    }
    const t = setTimeout(() => setFrame((f) => f + 1), FRAME_MS);
    return () => clearTimeout(t);
  }, [playing, frame, view]);
  const config = useMemo<ChartConfiguration | null>(
    () =>
      view === null
        ? null
        : {
            type: 'bar',
            data: {
              labels: BARS,
              datasets: view.costs.map((c, i) => ({
                label: `${c.strategy} (${c.kernel})`,
                data: BARS.map((k) => c.perPage[k] ?? 0),
                backgroundColor: STRATEGY_COLOURS[i % STRATEGY_COLOURS.length],
              })),
            },
            options: {
              responsive: true,
              maintainAspectRatio: false,
              animation: false,
              plugins: {
                title: { display: true, text: 'MADV_UNMERGEABLE: cost per 4 KiB page of the regions' },
              },
              scales: {
                x: { ticks: { autoSkip: false } },
                y: { beginAtZero: true, title: { display: true, text: 'per page' } },
              },
            },
          },
    [view],
  );
  if (view === null) return <p class="dim">running every strategy on identical state…</p>;
  const shown = view.events.slice(0, frame);
  const first = Math.max(0, frame - SHOWN_EVENTS);
  const totals = new Map<string, number>();
  for (const e of shown) totals.set(e.counter, (totals.get(e.counter) ?? 0) + e.delta);
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowRight') setFrame((f) => Math.min(view.events.length, f + 1));
    else if (e.key === 'ArrowLeft') setFrame((f) => Math.max(0, f - 1));
    else if (e.key === ' ') setPlaying((p) => !p);
    else return;
    e.preventDefault();
  };
  return (
    <div class="break-view">
      <section class="panel" aria-label="cost per page">
        {config !== null && <ChartView config={config} height={300} label="break_ksm cost per page" />}
        <table class="numbers">
          <thead>
            <tr>
              <th>strategy</th>
              <th>kernel</th>
              <th>pages</th>
              {Object.keys(MEANING).map((k) => (
                <th key={k}>{k}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {view.costs.map((c) => (
              <tr key={c.strategy}>
                <td>{c.strategy}</td>
                <td>{c.kernel}</td>
                <td>{c.pages}</td>
                {Object.keys(MEANING).map((k) => (
                  <td key={k} data-counter={`break_ksm.${c.strategy}.${k}_per_page`}>
                    {(c.perPage[k] ?? 0).toFixed(3)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section class="panel" aria-label="animation: arrows step, space plays" onKeyDown={onKey}>
        <div class="row controls">
          <label>
            animate{' '}
            <select
              id="strategy"
              value={props.strategy}
              onChange={(e) => props.onStrategy((e.target as HTMLSelectElement).value)}
            >
              {view.costs.map((c) => (
                <option key={c.strategy} value={c.strategy}>
                  {c.strategy} ({c.kernel})
                </option>
              ))}
            </select>
          </label>
          <button type="button" id="anim-play" onClick={() => setPlaying((p) => !p)} aria-pressed={playing}>
            {playing ? 'pause' : 'play ▶▶'}
          </button>
          <button
            type="button"
            id="anim-step"
            onClick={() => setFrame((f) => Math.min(view.events.length, f + 1))}
          >
            next ▶
          </button>
          <button type="button" onClick={() => setFrame(view.events.length)}>
            to the end
          </button>
          <span data-frame={frame}>
            {frame} / {view.events.length} events
            {view.more > 0 ? ` (${view.more} later increments not shown)` : ''}
          </span>
        </div>
        <div class="totals">
          {Object.keys(MEANING).map((k) => (
            <span key={k} class={view.events[frame - 1]?.counter === k ? 'tag hot' : 'tag'}>
              {k} <b data-counter={`replay.${k}`}>{totals.get(k) ?? 0}</b>
            </span>
          ))}
        </div>
        <ol ref={list} class="events" aria-label="counter increments" start={first + 1}>
          {shown.slice(first).map((e, i) => (
            <li key={first + i} class={`ev ev-${e.counter}`}>
              {MEANING[e.counter] ?? e.counter}
              {e.delta > 1 ? ` ×${e.delta}` : ''}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
