// Colour and progress-bar decisions, and the progress bar itself on a pretend terminal.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.ts';
import { colorEnabled, type Io, makeColors } from '../src/io.ts';
import { startProgress } from '../src/progress.ts';
import { scenario } from './helpers.ts';

/** A stream that says it is an 80-column terminal and keeps what is written to it. */
function fakeTty(): Writable & { isTTY: boolean; columns: number; text: () => string } {
  let text = '';
  const w = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }) as Writable & { isTTY: boolean; columns: number; text: () => string };
  w.isTTY = true;
  w.columns = 80;
  w.text = () => text;
  return w;
}

function ttyIo(stream: NodeJS.WritableStream): Io & { stdout: () => string } {
  let out = '';
  return {
    out: (s) => {
      out += s;
    },
    err: () => {},
    colors: makeColors(false),
    progressStream: stream,
    env: {},
    stdin: () => '',
    stdout: () => out,
  };
}

describe('colour', () => {
  it.each([
    [{ isTTY: true }, {}, true],
    [{ isTTY: false }, {}, false],
    [{}, {}, false],
    [{ isTTY: true }, { NO_COLOR: '1' }, false],
    [{ isTTY: true }, { NO_COLOR: '' }, true], // NO_COLOR counts only when non-empty
    [{ isTTY: true }, { TERM: 'dumb' }, false],
    [{ isTTY: false }, { FORCE_COLOR: '1' }, true],
    [{ isTTY: false }, { FORCE_COLOR: '0' }, false],
    [{ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' }, false],
  ])('stream %j, env %j: %s', (stream, env, want) => {
    expect(colorEnabled(stream, env)).toBe(want);
  });

  it('styles are identity functions when off', () => {
    expect(makeColors(false).red('x')).toBe('x');
    expect(makeColors(true).red('x')).toBe('\x1b[31mx\x1b[39m');
  });
});

describe('progress bars', () => {
  it('draw on a terminal and are cleared when done', () => {
    const tty = fakeTty();
    const bar = startProgress(ttyIo(tty), 'mmsim run', 4);
    expect(bar.active).toBe(true);
    bar.update(4, 'step 3 report');
    bar.log('a line above the bar');
    bar.stop();
    const text = tty.text();
    expect(text).toContain('mmsim run');
    expect(text).toContain('a line above the bar');
    expect(text.endsWith('\x1b[2K')).toBe(true); // clearOnComplete: the bar line is erased
  });

  it('draw nothing without a terminal or when not wanted', () => {
    const lines: string[] = [];
    const io = { ...ttyIo(fakeTty()), progressStream: null, err: (s: string) => lines.push(s) };
    const bar = startProgress(io, 'x', 10);
    expect(bar.active).toBe(false);
    bar.update(1, 'y');
    bar.log('still said');
    bar.stop();
    expect(lines).toEqual(['still said\n']);
    expect(startProgress(ttyIo(fakeTty()), 'x', 10, false).active).toBe(false);
  });

  it('mmsim run moves the bar step by step, and --no-progress turns it off', async () => {
    const tty = fakeTty();
    const io = ttyIo(tty);
    expect(await main(['run', scenario('chains-fork.yaml')], io)).toBe(0);
    expect(tty.text()).toContain('mmsim run');
    expect(io.stdout()).toContain('scenario chains-fork on the simulator: ok');
    expect(io.stdout()).not.toContain('mmsim run'); // the bar stays on stderr
    const quiet = fakeTty();
    expect(await main(['run', scenario('chains-fork.yaml'), '--no-progress'], ttyIo(quiet))).toBe(0);
    expect(quiet.text()).toBe('');
  });
});
