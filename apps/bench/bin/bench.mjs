#!/usr/bin/env node
// `pnpm bench` (package.json "bin"): the harness from its TypeScript source, with no build and
// nothing on the screen but its own output. The benchmarks run in fresh child processes
// (src/runner.ts).
import '../../../scripts/source-runtime.mjs';

await import('../src/cli.ts');
