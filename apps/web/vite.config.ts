// The web app: a static site with relative asset paths (any static host, any sub-path), the
// workspace packages read from their TypeScript source, the simulator in a module Web Worker.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  resolve: { conditions: ['@mmsim/source', 'browser', 'module', 'import', 'default'] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  worker: { format: 'es' },
  build: { target: 'es2023', chunkSizeWarningLimit: 2048 },
  server: { fs: { allow: ['../..'] } },
});
