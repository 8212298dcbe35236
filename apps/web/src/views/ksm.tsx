// View 3: KSM. ksmd's counters after every full scan so far, as a chart; the stable tree with
// its chains, their dups and how many mappings each KSM page holds; the unstable tree;
// ksm_stat per process (in the counters panel under every view).

import type { ChartConfiguration } from 'chart.js';
import { useMemo } from 'preact/hooks';
import { ChartView } from '../chart.tsx';
import type { Snapshot } from '../protocol.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

/** The counters drawn scan by scan, with their colours. */
const SCAN_SERIES: [string, string][] = [
  ['pages_shared', '#c026d3'],
  ['pages_sharing', '#2563eb'],
  ['pages_unshared', '#f59e0b'],
  ['pages_volatile', '#dc2626'],
  ['stable_node_chains', '#16a34a'],
  ['stable_node_dups', '#0d9488'],
  ['ksm_zero_pages', '#6b7280'],
];

/** Rows of a tree list shown before "N more". */
const MAX_ROWS = 64;

export function KsmView(props: { snap: Snapshot }) {
  const { snap } = props;
  const config = useMemo<ChartConfiguration>(
    () => ({
      type: 'line',
      data: {
        labels: snap.scans.map((s) => `scan ${s.seq}`),
        datasets: SCAN_SERIES.map(([k, colour]) => ({
          label: k,
          data: snap.scans.map((s) => s.counters[k] ?? 0),
          borderColor: colour,
          backgroundColor: colour,
          tension: 0,
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { title: { display: true, text: 'KSM counters after each full scan' } },
        scales: {
          x: { ticks: { autoSkip: false } },
          y: { beginAtZero: true, title: { display: true, text: 'pages' } },
        },
      },
    }),
    [snap],
  );
  const { stable, unstable } = snap.trees;
  const chains = stable.filter((n) => n.type === 'chain').length;
  return (
    <div class="ksm-view">
      <section class="panel" aria-label="scans">
        {snap.scans.length === 0 ? (
          <p class="dim">ksmd has not run a full scan yet at this step.</p>
        ) : (
          <ChartView config={config} height={280} label="KSM counters per full scan" />
        )}
      </section>
      <section class="panel" aria-label="stable tree">
        <h2>
          root_stable_tree: {stable.length} nodes, {chains} chains
        </h2>
        <ul class="tree">
          {stable.slice(0, MAX_ROWS).map((n, i) =>
            n.type === 'chain' ? (
              <li key={i}>
                <details open>
                  <summary>
                    <span class="tag chain">chain</span> {n.dups.length} dups
                  </summary>
                  <ul>
                    {n.dups.map((d) => (
                      <li key={d.kpfn}>
                        dup kpfn <code>{hex(d.kpfn)}</code>: {d.rmap_items.length} mappings{' '}
                        <span class="dim">content {d.content}…</span>
                      </li>
                    ))}
                  </ul>
                </details>
              </li>
            ) : (
              <li key={n.kpfn}>
                <details>
                  <summary>
                    stable_node kpfn <code>{hex(n.kpfn)}</code>: {n.rmap_items.length} mappings{' '}
                    <span class="dim">content {n.content}…</span>
                  </summary>
                  <ul>
                    {n.rmap_items.slice(0, MAX_ROWS).map((it) => (
                      <li key={`${it.proc}-${it.address}`}>
                        rmap_item {it.proc} <code>{hex(it.address)}</code> {it.region}
                      </li>
                    ))}
                  </ul>
                </details>
              </li>
            ),
          )}
          {stable.length > MAX_ROWS && <li class="dim">… {stable.length - MAX_ROWS} more</li>}
        </ul>
      </section>
      <section class="panel" aria-label="unstable tree">
        <h2>root_unstable_tree: {unstable.length} rmap_items</h2>
        <ul class="tree">
          {unstable.slice(0, MAX_ROWS).map((it) => (
            <li key={`${it.proc}-${it.address}`}>
              rmap_item {it.proc} <code>{hex(it.address)}</code> {it.region}{' '}
              <span class="dim">checksum {hex(it.checksum)}</span>
            </li>
          ))}
          {unstable.length > MAX_ROWS && <li class="dim">… {unstable.length - MAX_ROWS} more</li>}
        </ul>
      </section>
    </div>
  );
}
