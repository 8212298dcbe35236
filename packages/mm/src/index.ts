export { do_madvise, madvise_guard_install, madvise_guard_remove, madvise_remove } from './madvise.ts';
export { Process } from './process.ts';
