// A module resolve hook (registered by source-runtime.mjs): resolve every import with the "@mmsim/source"
// condition, as `node --conditions=@mmsim/source` would.
const SOURCE_CONDITION = '@mmsim/source';

export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes(SOURCE_CONDITION)
    ? context.conditions
    : [SOURCE_CONDITION, ...context.conditions];
  return nextResolve(specifier, { ...context, conditions });
}
