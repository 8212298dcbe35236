// View 1: the scenario. Pick a bundled one or edit the text (validated by @mmsim/scenario's own
// validator as you type, its one-line error shown under the editor), step through it, play it,
// or jump to a report.

import { useEffect, useRef } from 'preact/hooks';
import type { AppState, Invalid } from '../app.tsx';
import type { Snapshot } from '../protocol.ts';
import { BUNDLED } from '../scenarios.ts';

export interface ScenarioProps {
  state: AppState;
  snap: Snapshot | null;
  draft: string;
  invalid: Invalid | null;
  playing: boolean;
  onPick: (name: string) => void;
  onEdit: (text: string) => void;
  onStep: (step: number) => void;
  onAt: (label: string) => void;
  onPlay: () => void;
}

export function ScenarioView(p: ScenarioProps) {
  const snap = p.snap;
  const last = snap === null ? 0 : snap.steps.length - 1;
  const step = snap?.step ?? -1;
  const labels = snap?.steps.filter((s) => s.label !== null).map((s) => s.label as string) ?? [];
  const list = useRef<HTMLDivElement>(null);
  useEffect(() => {
    list.current?.querySelector('.current')?.scrollIntoView({ block: 'nearest' });
  }, [step, snap]);
  const onKey = (e: KeyboardEvent) => {
    if (snap === null) return;
    if (e.key === 'ArrowRight' || e.key === 'j') p.onStep(Math.min(last, step + 1));
    else if (e.key === 'ArrowLeft' || e.key === 'k') p.onStep(Math.max(0, step - 1));
    else if (e.key === 'Home') p.onStep(0);
    else if (e.key === 'End') p.onStep(last);
    else return;
    e.preventDefault();
  };
  return (
    <div class="scenario-view">
      <section class="panel editor-panel" aria-label="scenario editor">
        <div class="row">
          <label>
            Scenario{' '}
            <select
              id="scenario-pick"
              value={p.state.scenario}
              onChange={(e) => p.onPick((e.target as HTMLSelectElement).value)}
            >
              {BUNDLED.map((b) => (
                <option key={b.name} value={b.name}>
                  {b.name}
                </option>
              ))}
            </select>
          </label>
          {p.state.src !== null && <span class="tag">edited</span>}
        </div>
        <textarea
          id="scenario-text"
          spellcheck={false}
          aria-label="scenario text (YAML or JSON)"
          aria-invalid={p.invalid !== null}
          aria-describedby="scenario-error"
          value={p.draft}
          onInput={(e) => p.onEdit((e.target as HTMLTextAreaElement).value)}
        />
        <div id="scenario-error" class={p.invalid === null ? 'valid' : 'error'} role="status">
          {p.invalid === null ? (
            'valid scenario'
          ) : (
            <>
              <strong>{p.invalid.path}</strong>: {p.invalid.message}
            </>
          )}
        </div>
      </section>
      <section class="panel steps-panel" aria-label="steps">
        <div class="row controls">
          <button type="button" id="step-first" onClick={() => p.onStep(0)} disabled={snap === null}>
            first
          </button>
          <button
            type="button"
            id="step-back"
            onClick={() => p.onStep(Math.max(0, step - 1))}
            disabled={step <= 0}
          >
            ◀ back
          </button>
          <button
            type="button"
            id="step-next"
            onClick={() => p.onStep(step + 1)}
            disabled={snap === null || step >= last}
          >
            step ▶
          </button>
          <button
            type="button"
            id="play"
            onClick={p.onPlay}
            disabled={snap === null}
            aria-pressed={p.playing}
          >
            {p.playing ? 'pause' : 'play ▶▶'}
          </button>
          <label>
            jump to report{' '}
            <select
              id="jump"
              value={snap?.at ?? ''}
              onChange={(e) => p.onAt((e.target as HTMLSelectElement).value)}
            >
              <option value="" disabled>
                —
              </option>
              {labels.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div
          ref={list}
          class="steps"
          role="listbox"
          tabIndex={0}
          aria-label="steps: arrows move, Home/End jump"
          aria-activedescendant={step >= 0 ? `step-${step}` : undefined}
          onKeyDown={onKey}
        >
          {snap?.steps.map((s, i) => (
            // biome-ignore lint/a11y/useKeyWithClickEvents: the listbox handles the keys for every step
            <div
              key={`${i}-${s.text}`}
              id={`step-${i}`}
              role="option"
              tabIndex={-1}
              aria-selected={i === step}
              class={i === step ? 'current' : i < step ? 'done' : ''}
              onClick={() => p.onStep(i)}
            >
              <code>{s.text}</code>
              {snap.failures
                .filter((f) => f.step === i)
                .map((f) => (
                  <div key={f.message} class="error">
                    {f.message}
                  </div>
                ))}
            </div>
          ))}
        </div>
      </section>
    </div>
  );
}
