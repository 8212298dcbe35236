// The BenchContext a benchmark runs with. The only place (with the runner's process timing)
// where wall time is read.

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import type { BenchContext } from './types.ts';

/** ru_maxrss is in KiB. */
const KIB = 1024;
const gcFn: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

export interface ProfileOptions {
  /** Directory for the .cpuprofile files. */
  dir: string;
  /** File name prefix; timed regions are numbered: <prefix>.cpuprofile, <prefix>.2.cpuprofile, ... */
  prefix: string;
}

/** Post an inspector command; the in-thread session answers synchronously. */
function post(session: Session, method: string, params?: object): unknown {
  let out: unknown;
  let error: Error | null = null;
  let answered = false;
  session.post(method, params, (err, res) => {
    error = err;
    out = res;
    answered = true;
  });
  if (!answered) throw new Error(`inspector ${method}: no synchronous answer`);
  if (error !== null) throw error;
  return out;
}

/**
 * A context for one run. With `profile`, every time() call also records a V8 CPU profile of
 * exactly the timed function (started before, stopped after the clock reads).
 */
export function createContext(
  variant: string,
  rep: number,
  quick: boolean,
  simOnly: boolean,
  profile?: ProfileOptions,
): BenchContext {
  let regions = 0;
  let session: Session | null = null;
  return {
    quick,
    simOnly,
    variant,
    rep,
    time(fn: () => void): number {
      if (profile !== undefined && session === null) {
        session = new Session();
        session.connect();
        post(session, 'Profiler.enable');
        post(session, 'Profiler.setSamplingInterval', { interval: 100 });
      }
      if (session !== null) post(session, 'Profiler.start');
      const t0 = process.hrtime.bigint();
      fn();
      const t1 = process.hrtime.bigint();
      if (session !== null && profile !== undefined) {
        const res = post(session, 'Profiler.stop') as { profile: object };
        regions++;
        const name = `${profile.prefix}${regions === 1 ? '' : `.${regions}`}.cpuprofile`;
        writeFileSync(join(profile.dir, name), JSON.stringify(res.profile));
      }
      return Number(t1 - t0) / 1e9;
    },
    gc(): void {
      gcFn?.();
    },
    rss(): number {
      return process.memoryUsage.rss();
    },
    peakRss(): number {
      return process.resourceUsage().maxRSS * KIB;
    },
  };
}
