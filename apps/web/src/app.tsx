// The app: one scenario, one simulated machine (in the worker), five views of it. The whole
// state lives in the URL, so a link reproduces what is on screen:
//   ?scenario=NAME      a bundled scenario (scenarios/NAME.yaml)
//   &src=...            an edited scenario's text (base64url of UTF-8), instead of NAME's
//   &at=LABEL           run to the report step LABEL   (or &step=N: run steps 0..N)
//   &view=V             scenario | address | ksm | break | bench
//   &proc=P&addr=0x...  the address whose walk is shown; &strategy=S the animated break_ksm()

import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { SimClient } from './client.ts';
import { KsmCounters, ProcCounters } from './counters.tsx';
import type { Snapshot } from './protocol.ts';
import { BUNDLED, DEFAULT_SCENARIO } from './scenarios.ts';
import { AddressView } from './views/address.tsx';
import { BenchView } from './views/bench.tsx';
import { BreakKsmView } from './views/break-ksm.tsx';
import { KsmView } from './views/ksm.tsx';
import { ScenarioView } from './views/scenario.tsx';

export const VIEWS = [
  ['scenario', 'Scenario'],
  ['address', 'Address space'],
  ['ksm', 'KSM'],
  ['break', 'break_ksm()'],
  ['bench', 'Bench'],
] as const;
export type ViewId = (typeof VIEWS)[number][0];

/** Milliseconds between two steps when playing. */
const PLAY_INTERVAL_MS = 700;
/** Milliseconds of quiet typing before the editor's text is validated and run. */
const EDIT_DEBOUNCE_MS = 300;

export interface AppState {
  scenario: string;
  /** Edited text, or null for the bundled scenario's own. */
  src: string | null;
  at: string | null;
  step: number | null;
  view: ViewId;
  proc: string | null;
  addr: number | null;
  strategy: string;
}

function encodeText(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decodeText(b64: string): string {
  const bin = atob(b64.replace(/-/g, '+').replace(/_/g, '/'));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

export function readUrl(search: string): AppState {
  const q = new URLSearchParams(search);
  const view = q.get('view');
  const step = q.get('step');
  const addr = q.get('addr');
  let src: string | null = null;
  try {
    src = q.has('src') ? decodeText(q.get('src') ?? '') : null;
  } catch {
    src = null;
  }
  return {
    scenario: q.get('scenario') ?? DEFAULT_SCENARIO,
    src,
    at: q.get('at'),
    step: step !== null && /^\d+$/.test(step) ? Number(step) : null,
    view: VIEWS.some(([v]) => v === view) ? (view as ViewId) : 'scenario',
    proc: q.get('proc'),
    addr: addr !== null && /^0x[0-9a-f]+$/i.test(addr) ? Number.parseInt(addr.slice(2), 16) : null,
    strategy: q.get('strategy') ?? 'follow_page',
  };
}

export function writeUrl(s: AppState): string {
  const q = new URLSearchParams();
  q.set('scenario', s.scenario);
  if (s.src !== null) q.set('src', encodeText(s.src));
  if (s.at !== null) q.set('at', s.at);
  else if (s.step !== null) q.set('step', String(s.step));
  if (s.view !== 'scenario') q.set('view', s.view);
  if (s.proc !== null && s.addr !== null) {
    q.set('proc', s.proc);
    q.set('addr', `0x${s.addr.toString(16)}`);
  }
  if (s.strategy !== 'follow_page') q.set('strategy', s.strategy);
  return `?${q.toString()}`;
}

export function scenarioText(s: AppState): { text: string; file: string } {
  if (s.src !== null) return { text: s.src, file: `${s.scenario}.yaml` };
  const b = BUNDLED.find((x) => x.name === s.scenario);
  return b === undefined ? { text: '', file: `${s.scenario}.yaml` } : { text: b.text, file: b.file };
}

export interface Invalid {
  message: string;
  path: string;
}

export function App() {
  const client = useRef<SimClient | null>(null);
  if (client.current === null) client.current = new SimClient();
  const [state, setState] = useState<AppState>(() => readUrl(location.search));
  const [snap, setSnap] = useState<Snapshot | null>(null);
  const [invalid, setInvalid] = useState<Invalid | null>(null);
  const [busy, setBusy] = useState(false);
  const [playing, setPlaying] = useState(false);
  const [draft, setDraft] = useState<string>(() => scenarioText(state).text);

  const update = useCallback((patch: Partial<AppState>) => {
    setState((s) => {
      const next = { ...s, ...patch };
      history.replaceState(null, '', writeUrl(next));
      return next;
    });
  }, []);

  // Run the scenario whenever what decides the machine changes.
  useEffect(() => {
    const { text, file } = scenarioText(state);
    if (text === '') {
      setInvalid({ message: `no bundled scenario named "${state.scenario}"`, path: '$' });
      return;
    }
    setBusy(true);
    const t0 = performance.now();
    void client.current
      ?.request({ type: 'load', text, file, at: state.at, stopAfter: state.step })
      .then((r) => {
        if (r === null) return;
        setBusy(false);
        if (r.type === 'snapshot') {
          setInvalid(null);
          setSnap(r.snapshot);
          document.body.dataset.runMs = String(Math.round(performance.now() - t0));
          document.body.dataset.step = String(r.snapshot.step);
        } else if (r.type === 'invalid') setInvalid({ message: r.message, path: r.path });
        else if (r.type === 'error') setInvalid({ message: r.message, path: '$' });
      });
  }, [state.scenario, state.src, state.at, state.step]);

  // Play: one step further every PLAY_INTERVAL_MS until the last step.
  useEffect(() => {
    if (!playing || snap === null || busy) return;
    // The machine shown is not yet the one asked for.
    if (state.step !== null && state.step !== snap.step) return;
    if (snap.step >= snap.steps.length - 1) {
      setPlaying(false);
      return;
    }
    const t = setTimeout(() => update({ at: null, step: snap.step + 1 }), PLAY_INTERVAL_MS);
    return () => clearTimeout(t);
  }, [playing, snap, busy, state.step]);

  // The editor: validated and run after a pause in typing.
  const editTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const onEdit = (text: string) => {
    setDraft(text);
    if (editTimer.current !== null) clearTimeout(editTimer.current);
    editTimer.current = setTimeout(() => update({ src: text, at: null, step: null }), EDIT_DEBOUNCE_MS);
  };
  const pick = (name: string) => {
    const b = BUNDLED.find((x) => x.name === name);
    setDraft(b?.text ?? '');
    setPlaying(false);
    update({ scenario: name, src: null, at: null, step: null, proc: null, addr: null });
  };

  const goTo = (step: number) => update({ at: null, step });
  const play = () => {
    // Play from the start when at the end.
    if (!playing && snap !== null && snap.step >= snap.steps.length - 1) goTo(0);
    setPlaying((p) => !p);
  };

  return (
    <div class="app">
      <header>
        <h1>mmsim</h1>
        <span class="subtitle">Linux mm, simulated in your browser: page tables, KSM, break_ksm()</span>
        <span class="status" aria-live="polite" data-busy={busy ? 'yes' : 'no'}>
          {busy
            ? 'running…'
            : snap !== null
              ? `${snap.scenario}: step ${snap.step + 1} of ${snap.steps.length}${snap.at !== null ? `, report "${snap.at}"` : ''}`
              : ''}
        </span>
      </header>
      <div class="tabs" role="tablist" aria-label="views">
        {VIEWS.map(([id, title]) => (
          <button
            key={id}
            type="button"
            role="tab"
            id={`tab-${id}`}
            aria-selected={state.view === id}
            class={state.view === id ? 'tab active' : 'tab'}
            onClick={() => update({ view: id })}
          >
            {title}
          </button>
        ))}
      </div>
      <main>
        {state.view === 'scenario' && (
          <ScenarioView
            state={state}
            snap={snap}
            draft={draft}
            invalid={invalid}
            playing={playing}
            onPick={pick}
            onEdit={onEdit}
            onStep={goTo}
            onAt={(at) => update({ at, step: null })}
            onPlay={play}
          />
        )}
        {state.view !== 'scenario' && invalid !== null && (
          <p class="error" role="alert">
            {invalid.message}
          </p>
        )}
        {state.view === 'address' && snap !== null && (
          <AddressView
            snap={snap}
            client={client.current}
            proc={state.proc}
            addr={state.addr}
            onSelect={(proc, addr) => update({ proc, addr })}
          />
        )}
        {state.view === 'ksm' && snap !== null && <KsmView snap={snap} />}
        {state.view === 'break' && snap !== null && (
          <BreakKsmView
            snap={snap}
            client={client.current}
            strategy={state.strategy}
            onStrategy={(strategy) => update({ strategy })}
          />
        )}
        {state.view === 'bench' && <BenchView />}
        {snap !== null && state.view !== 'bench' && (
          <section class="panel" aria-label="counters">
            <h2>Counters now</h2>
            <KsmCounters ksm={snap.ksm} />
            {Object.entries(snap.procReports).map(([p, r]) => (
              <div key={p}>
                <h3>process {p}</h3>
                <ProcCounters proc={p} report={r} />
              </div>
            ))}
          </section>
        )}
      </main>
    </div>
  );
}
