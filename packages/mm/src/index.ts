export { do_madvise } from './madvise.ts';
export { type FileOffset, Process } from './process.ts';
