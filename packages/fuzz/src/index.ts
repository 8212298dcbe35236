export {
  type Action,
  type ActionOp,
  describeAction,
  FAULT_SITES,
  type FaultSite,
  INEXPRESSIBLE,
} from './actions.ts';
export {
  commandArbitraries,
  commandsArbitrary,
  FuzzCommand,
  MAX_PROCS,
  MAX_REGIONS,
  replayActions,
  resolve,
  runSequence,
  STRATEGY_NAMES,
  THP_PAGES,
  wholeStackProperty,
  worldOptions,
} from './commands.ts';
export { Injector, type InjectSpec } from './inject.ts';
export { Model, ModelProc, ModelRegion } from './model.ts';
export { FuzzStats, stats } from './stats.ts';
export {
  errnoOf,
  FuzzWorld,
  type LoggedAction,
  mappedPfn,
  peekPage,
  Violation,
  type WorldOptions,
} from './world.ts';
