// WARN_ON() in tests: an unexpected kernel warning fails the test that raised it (docs/design.md
// §4); a test that provokes one on purpose says so with expectWarn().
import { resetWarnings, setWarnHandler, warnCount } from '@mmsim/core';
import { afterEach, beforeEach, expect } from 'vitest';

let allowWarnings = false;

/**
 * For every test of the calling file: reset the warning count before, fail on any WARN_ON not
 * inside expectWarn(), and remove the handler after (then run `cleanup`, e.g. restoring a hook a
 * test replaced). Call it at the top level of a test file.
 */
export function failOnWarn(cleanup?: () => void): void {
  beforeEach(() => {
    resetWarnings();
    allowWarnings = false;
    setWarnHandler((msg) => {
      if (!allowWarnings) throw new Error(`unexpected WARN_ON: ${msg}`);
    });
  });
  afterEach(() => {
    setWarnHandler(null);
    allowWarnings = false;
    cleanup?.();
  });
}

/** Runs `fn`, which must raise at least one WARN_ON (under failOnWarn(), those are allowed here);
 * returns what `fn` returned. */
export function expectWarn<T>(fn: () => T): T {
  const before = warnCount();
  allowWarnings = true;
  try {
    return fn();
  } finally {
    allowWarnings = false;
    expect(warnCount(), 'a WARN_ON was expected').toBeGreaterThan(before);
  }
}
