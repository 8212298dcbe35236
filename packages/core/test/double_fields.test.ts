import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Counters, doubleFields } from '../src/index.ts';

// V8's hidden classes are visible only through its natives syntax, so a child Node process reports
// whether storing a value past 2^30 kept the object's class (what the hot paths compiled against).
const COUNTERS = fileURLToPath(new URL('../src/counters.ts', import.meta.url));
const DOUBLE_FIELDS = fileURLToPath(new URL('../src/double_fields.ts', import.meta.url));

function classKept(script: string): string {
  return execFileSync(
    process.execPath,
    ['--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  ).trim();
}

describe('doubleFields', () => {
  it('keeps every value', () => {
    const o = { a: 0, b: 7, c: 2 ** 40, d: -3 };
    doubleFields(o, ['a', 'b', 'c', 'd']);
    expect(o).toEqual({ a: 0, b: 7, c: 2 ** 40, d: -3 });
    expect(Object.is(o.a, 0)).toBe(true);
    const c = new Counters();
    c.pteRead++;
    expect(c.snapshot()).toEqual({ ...new Counters().snapshot(), pteRead: 1 });
    expect(Object.values(new Counters().snapshot()).every((v) => Object.is(v, 0))).toBe(true);
  });

  it('a count passing 2^30 keeps the Counters hidden class', () => {
    const out = classKept(
      `const { Counters } = await import(${JSON.stringify(COUNTERS)});
       const a = new Counters(); const b = new Counters();
       a.bytesHashed += 2 ** 40;
       console.log(%HaveSameMap(a, b));`,
    );
    expect(out).toBe('true');
  });

  it('without doubleFields the same store changes the class (what the test above guards)', () => {
    const out = classKept(
      `const { doubleFields } = await import(${JSON.stringify(DOUBLE_FIELDS)});
       class Plain { n = 0; }
       class Doubled { n = 0; constructor() { doubleFields(this, ['n']); } }
       const p = new Plain(); const q = new Plain(); p.n += 2 ** 40;
       const d = new Doubled(); const e = new Doubled(); d.n += 2 ** 40;
       console.log(%HaveSameMap(p, q), %HaveSameMap(d, e));`,
    );
    expect(out).toBe('false true');
  });
});
