// Completion for the scenario editor from the format's JSON Schema (@mmsim/scenario's
// scenario.schema.json, generated from its zod schemas): what may be written at the caret, for
// the flow-style lines the bundled scenarios use (`- { op: madvise, proc: a, ... }`).

import schema from '@mmsim/scenario/scenario.schema.json';

interface Prop {
  const?: string;
  enum?: string[];
  description?: string;
}
interface Obj {
  properties: Record<string, Prop>;
}

const root = schema as unknown as Obj & { properties: { steps: { items: { oneOf: Obj[] } } } };
const variants = root.properties.steps.items.oneOf;
const STEP_OPS = variants.map((v) => v.properties.op?.const ?? '').filter((op) => op !== '');
const KNOBS = Object.keys((root.properties as unknown as Record<string, Obj>).ksm?.properties ?? {});

export interface Completion {
  /** What is inserted at the caret. */
  text: string;
  /** What it is, for the list. */
  hint: string;
}

function enumHint(p: Prop): string {
  if (p.enum !== undefined) return p.enum.join(' | ');
  return p.description ?? '';
}

/** The completions at `caret` in `text`. */
export function completionsAt(text: string, caret: number): Completion[] {
  const start = text.lastIndexOf('\n', caret - 1) + 1;
  const line = text.slice(start, caret);
  const full = text.slice(start, text.indexOf('\n', caret) < 0 ? text.length : text.indexOf('\n', caret));
  if (/^\s*-\s*\{?\s*(op:\s*\w*)?$/.test(line) || /op:\s*\w*$/.test(line)) {
    const typed = /op:\s*(\w*)$/.exec(line)?.[1] ?? '';
    return STEP_OPS.filter((op) => op.startsWith(typed)).map((op) => ({
      text: /op:\s*\w*$/.test(line) ? op.slice(typed.length) : `op: ${op}`,
      hint: 'step op',
    }));
  }
  const op = /op:\s*(\w+)/.exec(full)?.[1];
  const variant = variants.find((v) => v.properties.op?.const === op);
  if (variant !== undefined) {
    const present = new Set([...full.matchAll(/(\w+):/g)].map((m) => m[1]));
    return Object.entries(variant.properties)
      .filter(([k]) => k !== 'op' && !present.has(k))
      .map(([k, p]) => ({ text: `, ${k}: `, hint: enumHint(p) }));
  }
  if (/^\s*ksm:/.test(full) || /^\s{2}\w*$/.test(line))
    return KNOBS.map((k) => ({ text: `${k}: `, hint: 'KSM knob' }));
  if (/^\w*$/.test(line))
    return Object.keys(root.properties)
      .filter((k) => k !== '$schema' && !new RegExp(`^${k}:`, 'm').test(text))
      .map((k) => ({ text: `${k}: `, hint: enumHint(root.properties[k] as Prop) }));
  return [];
}
