// Page digests off the main thread (Node-only): a worker thread computes the SHA-256 of a batch of
// pages in shared memory while capture reads the next batch from /proc/<pid>/mem. Capture is
// synchronous, so the hand-over is Atomics.wait/notify on one control word per buffer: two
// buffers, filled and digested in turn.

import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { PAGE_SIZE } from '@mmsim/core';
import { DIGEST_BYTES } from './format.ts';

/** The digest: the first DIGEST_BYTES of this hash of the page (docs/snapshot-format.md). */
export const DIGEST_HASH = 'sha256';

/** The digest of an all-zero page. */
export const ZERO_PAGE_DIGEST: Buffer = createHash(DIGEST_HASH)
  .update(new Uint8Array(PAGE_SIZE))
  .digest()
  .subarray(0, DIGEST_BYTES);

// control words: per buffer its state and its page count
const IDLE = 0;
const SUBMITTED = 1;
const DONE = 2;
const QUIT = 3;
const BUFFERS = 2;
const STATE = 0;
const COUNT = BUFFERS;
/** How long a digest may take before the worker is taken for dead. */
const WORKER_TIMEOUT_MS = 60_000;

/** The worker (CommonJS, evaluated: no loader needed for TypeScript). */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { hash } = require('node:crypto');
const { ctrl, pages, digests, bufferPages, pageSize, digestBytes, algo } = workerData;
const bytes = new Uint8Array(pages);
const out = new Uint8Array(digests);
for (let b = 0; ; b = (b + 1) % ${BUFFERS}) {
  let st;
  while ((st = Atomics.load(ctrl, ${STATE} + b)) !== ${SUBMITTED} && st !== ${QUIT}) Atomics.wait(ctrl, ${STATE} + b, st);
  if (st === ${QUIT}) break;
  const n = ctrl[${COUNT} + b];
  for (let i = b * bufferPages, end = i + n; i < end; i++) {
    const d = hash(algo, bytes.subarray(i * pageSize, (i + 1) * pageSize), 'buffer');
    out.set(d.subarray(0, digestBytes), i * digestBytes);
  }
  Atomics.store(ctrl, ${STATE} + b, ${DONE});
  Atomics.notify(ctrl, ${STATE} + b);
}
`;

/** Two page buffers of `bufferPages` pages and a worker digesting them. */
export class PageDigester {
  readonly bufferPages: number;
  /** the pages of both buffers: buffer b holds pages [b * bufferPages, (b + 1) * bufferPages) */
  readonly bytes: Uint8Array;
  /** DIGEST_BYTES per page, in the same order */
  readonly digests: Uint8Array;
  private readonly ctrl: Int32Array;
  private readonly worker: Worker;

  constructor(bufferPages: number) {
    this.bufferPages = bufferPages;
    const pages = new SharedArrayBuffer(BUFFERS * bufferPages * PAGE_SIZE);
    const digests = new SharedArrayBuffer(BUFFERS * bufferPages * DIGEST_BYTES);
    this.ctrl = new Int32Array(new SharedArrayBuffer(2 * BUFFERS * Int32Array.BYTES_PER_ELEMENT));
    this.bytes = new Uint8Array(pages);
    this.digests = new Uint8Array(digests);
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ctrl: this.ctrl,
        pages,
        digests,
        bufferPages,
        pageSize: PAGE_SIZE,
        digestBytes: DIGEST_BYTES,
        algo: DIGEST_HASH,
      },
    });
    this.worker.unref();
  }

  /** Digests the first `n` pages of buffer `b` (in the background). */
  submit(b: number, n: number): void {
    this.ctrl[COUNT + b] = n;
    Atomics.store(this.ctrl, STATE + b, SUBMITTED);
    Atomics.notify(this.ctrl, STATE + b);
  }

  /** Waits until buffer `b`'s digests are there (immediately when none was submitted). */
  wait(b: number): void {
    while (Atomics.load(this.ctrl, STATE + b) === SUBMITTED) {
      if (Atomics.wait(this.ctrl, STATE + b, SUBMITTED, WORKER_TIMEOUT_MS) === 'timed-out')
        throw new Error('the page digest worker stopped answering');
    }
    Atomics.store(this.ctrl, STATE + b, IDLE);
  }

  close(): void {
    // the worker waits on the buffer after the last one it digested; none is submitted now
    for (let b = 0; b < BUFFERS; b++) {
      Atomics.store(this.ctrl, STATE + b, QUIT);
      Atomics.notify(this.ctrl, STATE + b);
    }
    void this.worker.terminate();
  }
}
