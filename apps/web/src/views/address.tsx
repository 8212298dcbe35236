// View 2: the address space. Each process's VMAs with one cell per page coloured by what pagemap
// and kpageflags say it is; the page-table radix tree, expandable where populated; and for the
// selected address its walk, every entry decoded, with its pagemap entry and kpageflags.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { SimClient } from '../client.ts';
import { PAGE_STATES, type Snapshot, type TableView, type VmaView, type WalkView } from '../protocol.ts';

/** A colour per PAGE_STATES entry. */
export const STATE_COLOURS: readonly string[] = [
  '#e5e7eb', // none
  '#60a5fa', // private
  '#c026d3', // ksm
  '#9ca3af', // zero
  '#f59e0b', // thp
  '#16a34a', // swapped
  '#dc2626', // migration
  '#111827', // guard
  '#0d9488', // shared
];

const CELL = 9;
const COLUMNS = 64;
const PAGE = 4096;

const hex = (n: number) => `0x${n.toString(16)}`;

function PageGrid(props: {
  proc: string;
  vma: VmaView;
  selected: number | null;
  onSelect: (addr: number) => void;
}) {
  const { vma } = props;
  const canvas = useRef<HTMLCanvasElement>(null);
  const shown = vma.states.length;
  const rows = Math.ceil(shown / COLUMNS);
  const sel =
    props.selected !== null && props.selected >= vma.start && props.selected < vma.start + shown * PAGE
      ? Math.floor((props.selected - vma.start) / PAGE)
      : -1;
  useEffect(() => {
    const ctx = canvas.current?.getContext('2d');
    if (ctx === null || ctx === undefined) return;
    ctx.clearRect(0, 0, COLUMNS * CELL, rows * CELL);
    for (let i = 0; i < shown; i++) {
      ctx.fillStyle = STATE_COLOURS[vma.states[i]];
      ctx.fillRect((i % COLUMNS) * CELL, Math.floor(i / COLUMNS) * CELL, CELL - 1, CELL - 1);
    }
    if (sel >= 0) {
      ctx.strokeStyle = '#000';
      ctx.lineWidth = 2;
      ctx.strokeRect((sel % COLUMNS) * CELL, Math.floor(sel / COLUMNS) * CELL, CELL - 1, CELL - 1);
    }
  }, [vma, sel]);
  const pick = (i: number) => props.onSelect(vma.start + Math.min(shown - 1, Math.max(0, i)) * PAGE);
  const onKey = (e: KeyboardEvent) => {
    const cur = Math.max(sel, 0);
    const move: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: COLUMNS,
      ArrowUp: -COLUMNS,
    };
    if (e.key in move) pick(cur + move[e.key]);
    else if (e.key === 'Enter' || e.key === ' ') pick(cur);
    else return;
    e.preventDefault();
  };
  const counts = new Map<number, number>();
  for (const s of vma.states) counts.set(s, (counts.get(s) ?? 0) + 1);
  return (
    <div class="vma">
      <div class="vma-head">
        <code>
          {hex(vma.start)}-{hex(vma.end)}
        </code>{' '}
        {vma.pages} pages {vma.region !== '' && <span class="tag">{vma.region.replace(/\+\d+$/, '')}</span>}{' '}
        <span class="dim">{vma.flags}</span>
        <span class="dim">
          {' '}
          {[...counts.entries()].map(([s, n]) => `${PAGE_STATES[s]} ${n}`).join(' · ')}
          {shown < vma.pages ? ` (first ${shown} shown)` : ''}
        </span>
      </div>
      <canvas
        ref={canvas}
        class="pages"
        width={COLUMNS * CELL}
        height={rows * CELL}
        tabIndex={0}
        aria-label={`pages of ${props.proc} ${hex(vma.start)}: arrows move, Enter selects`}
        onKeyDown={onKey}
        onClick={(e) => {
          const r = (e.target as HTMLCanvasElement).getBoundingClientRect();
          const col = Math.floor((e.clientX - r.left) / CELL);
          const row = Math.floor((e.clientY - r.top) / CELL);
          if (col < COLUMNS) pick(row * COLUMNS + col);
        }}
      />
    </div>
  );
}

/** A <details> whose children are built only once it is opened (PTE tables hold 512 entries). */
function Branch(props: { open: boolean; summary: string; children: () => preact.ComponentChildren }) {
  const [open, setOpen] = useState(props.open);
  return (
    <details open={open} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
      <summary>{props.summary}</summary>
      {open && props.children()}
    </details>
  );
}

function Tree(props: { t: TableView; levels: 4 | 5; onSelect: (addr: number) => void }) {
  const { t } = props;
  return (
    <ul class="tree">
      {t.entries.map((e) =>
        e.child !== null ? (
          <li key={e.index}>
            <Branch
              open={t.level === 'pgd' || t.level === 'p4d'}
              summary={`${t.level}[${e.index}] ${hex(e.va)} → ${e.child.level} table pfn ${hex(e.child.pfn)} (${e.child.entries.length} populated)`}
            >
              {() => <Tree t={e.child as TableView} levels={props.levels} onSelect={props.onSelect} />}
            </Branch>
          </li>
        ) : (
          <li key={e.index}>
            <button type="button" class="link" onClick={() => props.onSelect(e.va)}>
              {t.level}[{e.index}] <code>{hex(e.va)}</code>{' '}
              <code class="dim">
                {hex(e.hi)}:{e.lo.toString(16).padStart(8, '0')}
              </code>
            </button>
          </li>
        ),
      )}
    </ul>
  );
}

function Walk(props: { w: WalkView }) {
  const { w } = props;
  const pm = w.pagemap;
  return (
    <section class="panel walk" aria-label="walk">
      <h3>
        Walk of <code>{hex(w.address)}</code> in {w.proc}
      </h3>
      <table>
        <thead>
          <tr>
            <th>level</th>
            <th>table pfn</th>
            <th>index</th>
            <th>entry</th>
            <th>kind</th>
            <th>what it says</th>
            <th>bits</th>
          </tr>
        </thead>
        <tbody>
          {w.levels.map((l) => (
            <tr key={l.level}>
              <td>{l.level}</td>
              <td>{hex(l.table)}</td>
              <td>{l.index}</td>
              <td>
                <code>{l.decoded.value}</code>
              </td>
              <td>{l.decoded.kind}</td>
              <td>
                {l.decoded.summary}
                {l.decoded.notes.map((n) => (
                  <div key={n} class="dim">
                    {n}
                  </div>
                ))}
              </td>
              <td>{l.decoded.bits.join(' ')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>pagemap</h3>
      <p>
        <code>{pm.value}</code>{' '}
        {(['present', 'swapped', 'file_or_shared_anon', 'guard_region', 'exclusive', 'soft_dirty'] as const)
          .filter((k) => pm[k])
          .join(' ')}
        {pm.pfn !== null && ` · pfn ${hex(pm.pfn)}`}
        {pm.swap_kind !== null && ` · ${pm.swap_kind} ${pm.swap_type}:${hex(pm.swap_offset ?? 0)}`}
      </p>
      {pm.kpageflags !== null && (
        <p>
          kpageflags <code>{pm.kpageflags.join(' ')}</code> · kpagecount {pm.kpagecount}
        </p>
      )}
    </section>
  );
}

export function AddressView(props: {
  snap: Snapshot;
  client: SimClient;
  proc: string | null;
  addr: number | null;
  onSelect: (proc: string, addr: number) => void;
}) {
  const { snap } = props;
  const [walk, setWalk] = useState<WalkView | null>(null);
  useEffect(() => {
    if (props.proc === null || props.addr === null || !snap.procs.some((p) => p.name === props.proc)) {
      setWalk(null);
      return;
    }
    void props.client.request({ type: 'walk', proc: props.proc, address: props.addr }).then((r) => {
      if (r !== null && r.type === 'walk') setWalk(r.walk);
    });
  }, [snap, props.proc, props.addr]);
  return (
    <div class="address-view">
      <div class="legend">
        {PAGE_STATES.map((s, i) => (
          <span key={s}>
            <i style={{ background: STATE_COLOURS[i] }} /> {s}
          </span>
        ))}
      </div>
      {walk !== null && <Walk w={walk} />}
      {snap.procs.length === 0 && <p>No live process at this step.</p>}
      {snap.procs.map((p) => (
        <section key={p.name} class="panel proc" aria-label={`process ${p.name}`}>
          <h2>
            {p.name} <span class="dim">pid {p.pid}</span>
          </h2>
          {p.vmas.length === 0 && <p class="dim">no VMAs</p>}
          {p.vmas.map((v) => (
            <PageGrid
              key={v.start}
              proc={p.name}
              vma={v}
              selected={props.proc === p.name ? props.addr : null}
              onSelect={(a) => props.onSelect(p.name, a)}
            />
          ))}
          <details class="pgtable">
            <summary>
              page tables ({snap.levels} levels): pgd pfn {hex(p.pgd.pfn)}, {p.pgd.entries.length} populated
            </summary>
            <Tree t={p.pgd} levels={snap.levels} onSelect={(a) => props.onSelect(p.name, a)} />
          </details>
        </section>
      ))}
    </div>
  );
}
