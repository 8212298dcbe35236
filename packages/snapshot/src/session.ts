// The live side: a `mmsim-oracle --session` (native/oracle.c) holds the KSM lock, journals and
// restores the knobs, starts merge-enabled copies of a command (they and the children they fork,
// once adopted, die with it) and runs exact full scans of the live ksmd over them or over given
// processes.

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import {
  buildOracle,
  DEFAULT_LOCK_PATH,
  encodeToken,
  type KsmdSample,
  OracleRefusedError,
  OracleUnavailableError,
  oracleAvailability,
  parseKsmdSample,
} from '@mmsim/scenario/node';
import { SnapshotError } from './capture.ts';

/** What the session reports after a `scan`: the counters and, per pid, ksm_stat and smaps_rollup. */
export interface LiveScan {
  ksm: Record<string, number>;
  procs: Record<string, Record<string, number | boolean | Record<string, number>>>;
}

export class KsmSession {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: ((line: string | null) => void)[] = [];
  private readonly queued: string[] = [];
  private stderr = '';
  private closed = false;

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    this.lines = createInterface({ input: child.stdout });
    this.lines.on('line', (l) => {
      const w = this.pending.shift();
      if (w !== undefined) w(l);
      else this.queued.push(l);
    });
    this.lines.on('close', () => {
      this.closed = true;
      for (const w of this.pending.splice(0)) w(null);
    });
    child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
  }

  /**
   * Starts a session (waits for the lock). `allow`: someone else's stopped processes to scan.
   * `keep`: ksmd's state is kept as it is (their merged pages, stable tree and rmap_items: no
   * run=2 at the start), for processes that already have merged pages.
   */
  static async open(allow: number[] = [], lockPath = DEFAULT_LOCK_PATH, keep = false): Promise<KsmSession> {
    const avail = oracleAvailability();
    if (!avail.available)
      throw new OracleUnavailableError(`the live ksmd cannot be driven here: ${avail.reason}`);
    const args = ['--session', '--lock', lockPath];
    if (allow.length > 0) args.push('--allow', allow.join(','));
    if (keep) args.push('--keep');
    const s = new KsmSession(spawn(buildOracle(), args, { stdio: ['pipe', 'pipe', 'pipe'] }));
    const ready = await s.next();
    if (ready !== 'ready') throw s.failure(ready);
    return s;
  }

  private next(): Promise<string | null> {
    const q = this.queued.shift();
    if (q !== undefined) return Promise.resolve(q);
    if (this.closed) return Promise.resolve(null);
    return new Promise((res) => this.pending.push(res));
  }

  private failure(line: string | null): Error {
    if (line?.startsWith('error ') === true) return new SnapshotError(`live ksmd: ${line.slice(6)}`);
    const last = this.stderr.trim().split('\n').pop() ?? '';
    return new OracleRefusedError(
      last.replace(/^mmsim-oracle: /, '') || 'the oracle session ended',
      2,
      this.stderr,
    );
  }

  private async call(cmd: string): Promise<string> {
    this.child.stdin.write(`${cmd}\n`);
    const line = await this.next();
    if (line === null || line.startsWith('error ')) throw this.failure(line);
    return line;
  }

  /** Starts `copies` copies of argv with PR_SET_MEMORY_MERGE set before exec; their pids. */
  async launch(copies: number, argv: string[]): Promise<number[]> {
    const line = await this.call(`launch ${copies} ${argv.map(encodeToken).join(' ')}`);
    return line.split(' ').slice(1).map(Number);
  }

  /** A process a launched one forked (merge-any inherited): reported and killed as theirs. */
  async adopt(pid: number): Promise<void> {
    await this.call(`adopt ${pid}`);
  }

  async knob(name: string, value: string): Promise<void> {
    await this.call(`knob ${name} ${encodeToken(value)}`);
  }

  /** `n` more exact full scans of the live ksmd; what it reports after them. */
  async scan(n: number): Promise<LiveScan> {
    return JSON.parse(await this.call(`scan ${n}`)) as LiveScan;
  }

  /** What the kernel reports now, without scanning (the reply of `scan`). */
  async read(): Promise<LiveScan> {
    return JSON.parse(await this.call('read')) as LiveScan;
  }

  /** ksmd (run=1) over wall time for `ms` at the knobs set, sampled every `sampleMs` from the
   * instant run=1 is written (native/oracle.c ksm_timed()); run=0 after. */
  async timed(ms: number, sampleMs: number, onSample: (s: KsmdSample) => void): Promise<void> {
    this.child.stdin.write(`timed ${ms} ${sampleMs}\n`);
    for (;;) {
      const line = await this.next();
      if (line === 'ok') return;
      const s = line === null ? null : parseKsmdSample(line);
      if (s === null) throw this.failure(line);
      onSample(s);
    }
  }

  /** Kills the launched processes, restores the knobs, releases the lock. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const done = new Promise<number | null>((res) => this.child.on('exit', (c) => res(c)));
    this.child.stdin.end('quit\n');
    const code = await done;
    if (code !== 0)
      throw new SnapshotError(`live ksmd session: ${this.stderr.trim().split('\n').pop() ?? `exit ${code}`}`);
  }
}
