export { do_madvise } from './madvise.ts';
export { Process } from './process.ts';
