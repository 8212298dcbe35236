// `pnpm build` step: compiles native/oracle.c into native/build/mmsim-oracle with the system C
// compiler ($CC or cc), the same command buildOracle() in src/oracle.ts runs when a kernel-side
// run finds the binary missing or stale. Without a compiler it says so and succeeds.
// Standalone on purpose: it must not need the workspace's other packages built.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const native = fileURLToPath(new URL('../../../native/', import.meta.url));
const cc = process.env.CC?.trim() || 'cc';
const found = cc.includes('/')
  ? [cc]
  : (process.env.PATH ?? '')
      .split(delimiter)
      .filter((d) => d !== '')
      .map((d) => join(d, cc));
const compiler = found.find((p) => {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
});

if (compiler === undefined) {
  console.log('mmsim-oracle: no C compiler (cc) found; the live-kernel oracle is not built');
} else {
  const out = join(native, 'build', 'mmsim-oracle');
  const tmp = `${out}.${process.pid}.tmp`;
  mkdirSync(join(native, 'build'), { recursive: true });
  execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-o', tmp, join(native, 'oracle.c')], {
    stdio: 'inherit',
  });
  renameSync(tmp, out);
  console.log(`mmsim-oracle: built ${out}`);
}
