#!/usr/bin/env node
// The `mmsim` command (package.json "bin"): runs the TypeScript source, so it works straight
// after `pnpm install` with no build.
import '../../../scripts/source-runtime.mjs';

const { runAsCommand } = await import('../src/cli.ts');
await runAsCommand();
