export {
  type BreakKsmStrategy,
  folioWalkStrategy,
  followPageStrategy,
  kernelStrategy,
  rangeWalkStrategy,
  STRATEGIES,
  walkFaultStrategy,
  walkPmdStrategy,
  walkPudPmdStrategy,
} from './break_ksm.ts';
export { checkKsmInvariants } from './check.ts';
export {
  EWMA_WEIGHT,
  KSM_ADVISOR_MIN_CPU,
  KSM_RUN_MERGE,
  KSM_RUN_STOP,
  KSM_RUN_UNMERGE,
  KSMD_CPU_NS_PER_PAGE,
  Ksm,
  type KsmCounters,
  type KsmdClock,
  type KsmStat,
  PR_GET_MEMORY_MERGE,
  PR_SET_MEMORY_MERGE,
  SIZEOF_RMAP_ITEM,
  vma_ksm_compatible,
} from './ksm.ts';
export {
  emptyKsmdWork,
  KSMD_COST_FEATURES,
  type KsmdCostFeature,
  type KsmdCostModel,
  KsmdThread,
  type KsmdWork,
  ksmdWorkNs,
  wakeupLatencyNs,
} from './ksmd.ts';
export {
  type KsmItemHandles,
  type KsmItemNodes,
  KsmRmapItems,
  type KsmRmapItemView,
  RMAP_ITEM_HOST_BYTES,
  UNSTABLE_NODE_HOST_BYTES,
} from './rmap_item.ts';
export { KNOBS, type KnobInfo, ksmSysfsHas, ksmSysfsRead, ksmSysfsWrite } from './sysfs.ts';
export {
  KsmMmSlot,
  KsmScan,
  KsmStableNode,
  STABLE_FLAG,
  STABLE_NODE_CHAIN,
  UNSTABLE_FLAG,
} from './types.ts';
export { chainDups, hlistItems, ksmSlots, rmapItemView, stableNodes, unstableItems } from './views.ts';
