export {
  type CaptureOptions,
  type CaptureStats,
  captureSnapshot,
  checkPids,
  SnapshotError,
} from './capture.ts';
export { ZERO_PAGE_DIGEST } from './digest.ts';
export {
  CHUNK_PAGES,
  type ContentChunks,
  PAGE,
  readSnapshot,
  SECTION,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  type Snapshot,
  SnapshotFormatError,
  type SnapshotMeta,
  type SnapshotProcess,
  type SnapshotVma,
  writeSnapshot,
} from './format.ts';
export { predictFullScans } from './predict.ts';
export {
  type Restored,
  type RestoreOptions,
  type RestoreSkipped,
  restoreInto,
  restoreMemoryMiB,
  restoreSnapshot,
  restoreStepFromFile,
} from './restore.ts';
export { KsmSession, type LiveScan } from './session.ts';
export { compareLive, type VerifyStep, verifyAgainstLive } from './verify.ts';
