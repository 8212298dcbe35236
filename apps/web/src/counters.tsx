// Counters on screen: each carries data-counter="NAME" with its value as its text, so a link or
// a test can read exactly what the page shows.

import type { ProcReport } from '@mmsim/scenario';

export function Counter(props: { name: string; value: number | boolean; label?: string }) {
  return (
    <div class="counter">
      <span class="counter-name">{props.label ?? props.name}</span>
      <span class="counter-value" data-counter={props.name}>
        {String(props.value)}
      </span>
    </div>
  );
}

export function KsmCounters(props: { ksm: Record<string, number> }) {
  return (
    <div class="counters">
      {Object.entries(props.ksm).map(([k, v]) => (
        <Counter key={k} name={k} value={v} />
      ))}
    </div>
  );
}

/** ksm_stat and the smaps sums of one process: data-counter="PROC.FIELD", "PROC.smaps.FIELD". */
export function ProcCounters(props: { proc: string; report: ProcReport }) {
  const { smaps, ...stat } = props.report;
  return (
    <div class="counters">
      {Object.entries(stat).map(([k, v]) => (
        <Counter key={k} name={`${props.proc}.${k}`} label={k} value={v as number | boolean} />
      ))}
      {Object.entries(smaps).map(([k, v]) => (
        <Counter key={k} name={`${props.proc}.smaps.${k}`} label={`${k} (kB)`} value={v} />
      ))}
    </div>
  );
}
