// Progress bars for long runs, drawn on stderr only when it is a terminal (cli-progress). Nothing
// is drawn in pipes, files or CI logs, and the bar is cleared when done so that what stays on the
// screen is the command's output.

import cliProgress from 'cli-progress';
import type { Io } from './io.ts';

export interface Progress {
  /** A bar is drawn (a terminal is there and the bar was wanted). */
  active: boolean;
  /** Move to `value` (of the total) and show `what` beside the bar. */
  update: (value: number, what: string) => void;
  /** Print a line above the bar (the bar redraws on the next update). */
  log: (line: string) => void;
  stop: () => void;
}

const none: Progress = {
  active: false,
  update: () => {},
  log: () => {},
  stop: () => {},
};

/** A bar of `total` units titled `title`, or a no-op when there is no terminal or `enabled` is false. */
export function startProgress(io: Io, title: string, total: number, enabled = true): Progress {
  const stream = io.progressStream;
  if (stream === null || !enabled || total <= 0) return { ...none, log: (line) => io.err(`${line}\n`) };
  const bar = new cliProgress.SingleBar({
    stream,
    format: `${title} {bar} {value}/{total} {what}`,
    barsize: 30,
    clearOnComplete: true,
    hideCursor: false,
    gracefulExit: false,
    fps: 10,
  });
  bar.start(total, 0, { what: '' });
  let active = true;
  return {
    active: true,
    update: (value, what) => {
      if (active) bar.update(value, { what });
    },
    log: (line) => {
      stream.write(`\r\x1b[K${line}\n`);
    },
    stop: () => {
      if (!active) return;
      active = false;
      bar.stop();
    },
  };
}
