// View 1: the scenario. Pick a bundled one or edit the text (validated by @mmsim/scenario's own
// validator as you type, its one-line error shown under the editor), step through it, play it,
// or jump to a report.

import { useEffect, useRef, useState } from 'preact/hooks';
import type { AppState, Invalid } from '../app.tsx';
import { type Completion, completionsAt } from '../complete.ts';
import type { Snapshot } from '../protocol.ts';
import { BUNDLED } from '../scenarios.ts';

/** Completions listed under the editor. */
const MAX_COMPLETIONS = 10;

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
  const editor = useRef<HTMLTextAreaElement>(null);
  const [caret, setCaret] = useState(0);
  const completions = completionsAt(p.draft, Math.min(caret, p.draft.length)).slice(0, MAX_COMPLETIONS);
  const track = (e: Event) => setCaret((e.target as HTMLTextAreaElement).selectionStart);
  const insert = (c: Completion) => {
    const at = Math.min(caret, p.draft.length);
    p.onEdit(p.draft.slice(0, at) + c.text + p.draft.slice(at));
    setCaret(at + c.text.length);
    requestAnimationFrame(() => {
      editor.current?.focus();
      editor.current?.setSelectionRange(at + c.text.length, at + c.text.length);
    });
  };
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
          ref={editor}
          value={p.draft}
          onInput={(e) => {
            track(e);
            p.onEdit((e.target as HTMLTextAreaElement).value);
          }}
          onKeyUp={track}
          onClick={track}
          onKeyDown={(e) => {
            // Ctrl+Space: take the first completion.
            if (e.key === ' ' && e.ctrlKey && completions[0] !== undefined) {
              e.preventDefault();
              insert(completions[0]);
            }
          }}
        />
        <div
          class="completions"
          title="completions from the scenario JSON Schema (Ctrl+Space takes the first)"
        >
          {completions.map((c) => (
            <button key={c.text} type="button" class="completion" title={c.hint} onClick={() => insert(c)}>
              <code>{c.text.replace(/^, /, '')}</code>
              {c.hint !== '' && <span class="dim"> {c.hint}</span>}
            </button>
          ))}
        </div>
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
