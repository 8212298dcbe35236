// Imported first by the workspace's commands (apps/*/bin): run TypeScript source with no build,
// as `node --conditions=@mmsim/source --import tsx` does. tsx compiles the .ts files; the resolve
// hook adds the "@mmsim/source" export condition so workspace packages resolve to their src/.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register('./source-condition-hook.mjs', import.meta.url);
