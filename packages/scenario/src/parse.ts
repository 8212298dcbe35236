// Reading scenario files: JSON or YAML text -> zod validation -> cross-checks. Any problem is one
// ScenarioError line naming the file, the JSON path, what was expected and what was found; nothing
// is returned half-checked.
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { describeValue, formatPath, ScenarioError } from './errors.ts';
import { KNOWN_KEYS, type Scenario, STEP_OPS, scenarioSchema } from './schema.ts';
import { planScenario, type ScenarioPlan } from './validate.ts';

/** Largest YAML scenario text (characters): the YAML parser builds a node per scalar, and a
 * 100 MB file exhausts V8's heap; bigger scenarios are written as JSON (JSON.parse reads them in
 * a fraction of the memory). */
export const MAX_YAML_CHARS = 8 * 2 ** 20;

/** A parsed, validated scenario with its plan (process order, region layout, memory bound). */
export interface LoadedScenario {
  scenario: Scenario;
  plan: ScenarioPlan;
  file: string;
}

/** Validates scenario text; `fileName` names it in errors and picks JSON or YAML by extension. */
export function parseScenario(text: string, fileName = '<scenario>'): LoadedScenario {
  const data = parseText(text, fileName);
  const scenario = validateData(data, fileName);
  return { scenario, plan: planScenario(scenario, fileName), file: fileName };
}

/** Validates an already parsed value (e.g. built in code). Throws ScenarioError. */
export function validateScenario(data: unknown, fileName = '<scenario>'): LoadedScenario {
  const scenario = validateData(data, fileName);
  return { scenario, plan: planScenario(scenario, fileName), file: fileName };
}

function parseText(text: string, file: string): unknown {
  const lower = file.toLowerCase();
  const isYaml = lower.endsWith('.yaml') || lower.endsWith('.yml');
  if (!isYaml) {
    try {
      return JSON.parse(text);
    } catch (e) {
      if (lower.endsWith('.json')) throw new ScenarioError(file, '$', 'valid JSON', (e as Error).message);
    }
  }
  if (text.length > MAX_YAML_CHARS)
    throw new ScenarioError(
      file,
      '$',
      `YAML of at most ${MAX_YAML_CHARS} characters (write bigger scenarios as JSON)`,
      `${text.length} characters`,
    );
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const { line, col } = lineCol(text, err.pos[0]);
    const where = ` at line ${line}, column ${col}`;
    const what = err.message.split('\n')[0]!.replace(/ at line \d+, column \d+.*$/, '');
    throw new ScenarioError(file, '$', 'valid YAML', `${what}${where}`);
  }
  try {
    return doc.toJS();
  } catch (e) {
    // Errors that only resolving the document finds: an alias to no anchor, too many aliases.
    throw new ScenarioError(file, '$', 'valid YAML', (e as Error).message.split('\n')[0]!);
  }
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let start = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

function validateData(data: unknown, file: string): Scenario {
  const r = scenarioSchema.safeParse(data, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const { path, expected, found } = explainIssue(issue, data);
  throw new ScenarioError(file, formatPath(path), expected, found);
}

type Issue = z.core.$ZodIssue;

function explainIssue(issue: Issue, root: unknown): { path: PropertyKey[]; expected: string; found: string } {
  const path = [...issue.path];
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      return { path, expected: typeName(issue.expected), found: describeValue(input) };
    case 'invalid_union': {
      if ('discriminator' in issue && issue.discriminator !== undefined) {
        // zod puts the discriminator key on the path already; the input is the whole object.
        const key = issue.discriminator;
        const value = (input as Record<string, unknown> | undefined)?.[key];
        const options =
          key === 'op' ? STEP_OPS : ((issue as { options?: unknown[] }).options ?? []).map(String);
        const what = key === 'op' ? 'op' : key;
        return { path, expected: `${what} to be one of ${options.join(', ')}`, found: describeValue(value) };
      }
      return { path, expected: unionExpectation(path), found: describeValue(input) };
    }
    case 'unrecognized_keys': {
      const key = issue.keys[0]!;
      const known = knownKeys(path, root);
      const where = known.label;
      return {
        path: [...path, key],
        expected: `${where}: one of ${known.keys.join(', ')}`,
        found: `"${key}"`,
      };
    }
    case 'too_small':
    case 'too_big': {
      const op =
        issue.code === 'too_small'
          ? issue.inclusive === false
            ? '>'
            : '>='
          : issue.inclusive === false
            ? '<'
            : '<=';
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const kind =
        issue.origin === 'string'
          ? 'a string of length'
          : issue.origin === 'array'
            ? 'an array of length'
            : 'a number';
      if (issue.origin === 'string' && issue.code === 'too_small' && Number(bound) === 1) {
        return { path, expected: 'a non-empty string', found: describeValue(input) };
      }
      return { path, expected: `${kind} ${op} ${String(bound)}`, found: describeValue(input) };
    }
    case 'invalid_value':
      return {
        path,
        expected:
          issue.values.length === 1
            ? JSON.stringify(issue.values[0])
            : `one of ${issue.values.map(String).join(', ')}`,
        found: describeValue(input),
      };
    case 'invalid_format':
      return { path, expected: issue.message, found: describeValue(input) };
    default:
      return {
        path,
        expected: issue.message.replace(/^Invalid input: expected /i, ''),
        found: describeValue(input),
      };
  }
}

function typeName(t: string): string {
  switch (t) {
    case 'int':
      return 'an integer';
    case 'object':
    case 'array':
      return `an ${t}`;
    case 'string':
    case 'number':
    case 'boolean':
      return `a ${t}`;
    default:
      return t;
  }
}

function unionExpectation(path: PropertyKey[]): string {
  const last = path[path.length - 1];
  if (last === 'value' || path[0] === 'ksm') return 'an integer, a boolean or a knob value string';
  if (last === 'levels') return '4 or 5';
  return 'a value of the allowed forms';
}

function at(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function knownKeys(path: PropertyKey[], root: unknown): { label: string; keys: readonly string[] } {
  if (path.length === 0) return { label: 'a scenario field', keys: KNOWN_KEYS.top };
  const [head] = path;
  if (head === 'arch') return { label: 'an arch field', keys: KNOWN_KEYS.arch };
  if (head === 'machine') return { label: 'a machine field', keys: KNOWN_KEYS.machine };
  if (head === 'ksm') return { label: 'a KSM knob', keys: KNOWN_KEYS.ksm };
  if (head === 'khugepaged') return { label: 'a khugepaged knob', keys: KNOWN_KEYS.khugepaged };
  if (head === 'steps') {
    const step = at(root, path.slice(0, 2)) as { op?: string } | undefined;
    if (path.length === 2) {
      const keys = KNOWN_KEYS.step[step?.op as keyof typeof KNOWN_KEYS.step] ?? [];
      return { label: `a field of op ${step?.op ?? '?'}`, keys };
    }
    const sub = path[2];
    if (sub === 'pattern') {
      const kind = (at(root, path) as { kind?: string } | undefined)?.kind ?? '?';
      return { label: `a field of pattern kind ${kind}`, keys: KNOWN_KEYS.pattern[kind] ?? [] };
    }
    if (sub === 'ksm') return { label: 'a KSM counter', keys: KNOWN_KEYS.counters };
    if (sub === 'proc' && path.length === 4)
      return { label: 'a ksm_stat field or smaps', keys: KNOWN_KEYS.procExpect };
    if (sub === 'proc') return { label: 'an smaps field', keys: KNOWN_KEYS.smaps };
  }
  return { label: 'a known field', keys: [] };
}
