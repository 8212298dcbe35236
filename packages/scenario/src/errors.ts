// Bad user input is one line: `<file>: <json.path>: expected <what>, found <what>` (docs/design.md §4).

/** A scenario file that cannot be run: wrong syntax, shape or meaning. Apps exit with code 2. */
export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
  readonly file: string;
  /** JSON path of the offending value, e.g. `steps[3].pages`; `$` for the whole document. */
  readonly path: string;
  readonly expected: string;
  readonly found: string;
  /** The exit code apps use for bad input. */
  readonly exitCode = 2;

  constructor(file: string, path: string, expected: string, found: string) {
    super(oneLine(`${file}: ${path}: expected ${expected}, found ${found}`));
    this.file = file;
    this.path = path;
    this.expected = expected;
    this.found = found;
  }
}

/** `steps[3].pattern.kind` from zod's path array. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else {
      const k = String(key);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? (out === '' ? k : `.${k}`) : `[${JSON.stringify(k)}]`;
    }
  }
  return out === '' ? '$' : out;
}

/** What a value is, for the "found" half of a message. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return String(value);
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ');
}
