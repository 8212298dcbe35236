// The usage example in this package's README runs as written, from the repository root.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

const pkg = join(import.meta.dirname, '..');
const root = join(pkg, '..', '..');

it('README example runs and prints each report', () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
  // The repository root has no dependency on the package: import it by file instead of by name.
  const entry = pathToFileURL(join(pkg, 'src', 'index.ts')).href;
  const nodeEntry = pathToFileURL(join(pkg, 'src', 'node.ts')).href;
  const code = /```ts\n([\s\S]*?)```/
    .exec(readme)![1]!
    .replace("'@mmsim/scenario/node'", `'${nodeEntry}'`)
    .replace("'@mmsim/scenario'", `'${entry}'`);
  expect(code).toContain(entry);
  const out = execFileSync(
    process.execPath,
    ['--conditions=@mmsim/source', '--import', 'tsx', '--input-type=module', '-e', code],
    { cwd: root, encoding: 'utf8' },
  );
  expect(out).toMatch(/^chained: 8 sharing\nforked: \d+ sharing\n/);
});
