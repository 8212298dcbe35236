// The page's side of the worker: one request at a time per kind, answered by promise; an answer
// to a request superseded by a newer one of the same kind is dropped.

import type { Request, Response } from './protocol.ts';

type Body = Request extends infer R ? (R extends Request ? Omit<R, 'id'> : never) : never;

export class SimClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, (r: Response) => void>();
  private readonly latest = new Map<string, number>();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (ev: MessageEvent<Response>) => {
      const done = this.pending.get(ev.data.id);
      this.pending.delete(ev.data.id);
      done?.(ev.data);
    };
  }

  /** Resolves with the answer, or null when a newer request of the same type was sent since. */
  request(body: Body): Promise<Response | null> {
    const id = this.nextId++;
    this.latest.set(body.type, id);
    return new Promise((resolve) => {
      this.pending.set(id, (r) => resolve(this.latest.get(body.type) === id ? r : null));
      this.worker.postMessage({ ...body, id } as Request);
    });
  }
}
