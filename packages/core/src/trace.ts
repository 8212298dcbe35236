// Tracepoints: typed events that subscribers record. Zero cost when nobody listens: call sites
// test `trace.enabled` before building an event. Packages add their events by augmenting
// TraceEventMap (declare module '@mmsim/core' { interface TraceEventMap { ... } }).

/** Event name -> payload. Augmented by the packages that emit events. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by module augmentation
export interface TraceEventMap {}

export type TraceEventName = keyof TraceEventMap & string;

export interface TraceRecord {
  /** Sequence number within the bus. */
  seq: number;
  /** Virtual time (jiffies) when the event fired. */
  jiffies: number;
  name: string;
  data: unknown;
}

type Listener = (name: string, data: unknown, jiffies: number) => void;

export class TraceBus {
  /** True while at least one listener is attached. */
  enabled = false;
  private listeners: Listener[] = [];
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  emit<N extends TraceEventName>(name: N, data: TraceEventMap[N]): void {
    if (!this.enabled) return;
    const j = this.now();
    for (const l of this.listeners) l(name, data, j);
  }

  /** Subscribe; returns the function that unsubscribes. */
  on(listener: Listener): () => void {
    this.listeners.push(listener);
    this.enabled = true;
    return () => {
      this.listeners = this.listeners.filter((x) => x !== listener);
      this.enabled = this.listeners.length > 0;
    };
  }

  /** Record every event into an array until the returned stop function is called. */
  record(): { events: TraceRecord[]; stop: () => void } {
    const events: TraceRecord[] = [];
    let seq = 0;
    const stop = this.on((name, data, jiffies) => {
      events.push({ seq: seq++, jiffies, name, data });
    });
    return { events, stop };
  }
}
