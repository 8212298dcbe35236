// Every library package must run in a browser (apps/web bundles them): nothing reachable from a
// package's main entry may import a Node builtin or use Node's globals. Node-only code lives in
// the apps or behind a separate entry ('@mmsim/scenario/node'), which this check does not follow.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const PACKAGES = join(import.meta.dirname, '..', '..', '..', 'packages');
const BUILTINS = new Set(builtinModules);
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/g;
/** Node globals a browser lacks (a comment mentioning them is fine: comments are stripped). */
const NODE_GLOBALS = /\b(?:Buffer\.|process\.|__dirname|__filename|require\()/;

function mainEntry(pkgDir: string): string | null {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as {
    exports?: Record<string, Record<string, string>>;
  };
  const src = pkg.exports?.['.']?.['@mmsim/source'];
  return src === undefined ? null : resolve(pkgDir, src);
}

const packages = new Map<string, string>();
for (const d of readdirSync(PACKAGES)) {
  const dir = join(PACKAGES, d);
  if (!existsSync(join(dir, 'package.json'))) continue;
  const name = (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string }).name;
  packages.set(name, dir);
}

/** The files reachable from one package's main entry, with what each breaks (if anything). */
function problems(entry: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
    for (const m of code.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2]) as string;
      if (spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0] as string))
        out.push(`${file}: imports ${spec}`);
      else if (spec.startsWith('.')) queue.push(resolve(dirname(file), spec));
      else if (packages.has(spec)) {
        const e = mainEntry(packages.get(spec) as string);
        if (e !== null) queue.push(e);
      }
    }
    const g = NODE_GLOBALS.exec(code.replace(/'(?:[^'\\\n]|\\.)*'/g, "''"));
    if (g !== null) out.push(`${file}: uses Node's ${g[0]}`);
  }
  return out;
}

describe('library packages are browser-safe', () => {
  for (const [name, dir] of packages) {
    const entry = mainEntry(dir);
    if (entry === null) continue;
    it(`${name}: nothing reachable from its main entry needs Node`, () => {
      expect(problems(entry)).toEqual([]);
    });
  }

  it('the check sees a node: import and a Node global', () => {
    const found = problems(join(PACKAGES, 'scenario', 'src', 'node.ts'));
    expect(found.some((p) => p.includes('imports node:fs'))).toBe(true);
    expect(found.some((p) => p.includes("uses Node's"))).toBe(true);
  });
});
