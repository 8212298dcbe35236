// The editor's completions come from the scenario JSON Schema.
import { describe, expect, it } from 'vitest';
import { completionsAt } from '../src/complete.ts';

const at = (text: string) => completionsAt(text, text.indexOf('|')).map((c) => c.text);

describe('editor completion from scenario.schema.json', () => {
  it('offers every op on a new step line, and the rest of a started one', () => {
    expect(at('steps:\n  - { |\n')).toContain('op: ksm_scan');
    expect(at('steps:\n  - { op: ksm_c|')).toEqual(['onverge']);
  });

  it("offers an op's fields not written yet, with their allowed values", () => {
    const c = completionsAt('  - { op: madvise, proc: a| }', '  - { op: madvise, proc: a'.length);
    const texts = c.map((x) => x.text);
    expect(texts).toContain(', region: ');
    expect(texts).toContain(', advice: ');
    expect(texts).not.toContain(', proc: ');
    expect(c.find((x) => x.text === ', advice: ')?.hint).toContain('MADV_MERGEABLE');
  });

  it('offers the top-level fields a scenario lacks', () => {
    expect(at('name: x\n|')).toEqual(expect.arrayContaining(['steps: ', 'ksm: ', 'machine: ']));
    expect(at('name: x\n|')).not.toContain('name: ');
  });
});
