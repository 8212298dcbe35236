// Linux errno values (include/uapi/asm-generic/errno-base.h, errno.h; x86-64, Linux 6.18).
// Kernel-mirroring functions return these negated; the syscall-like API throws ErrnoError.

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const ENOSYS = 38;
export const EMLINK = 31;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;
export const EHWPOISON = 133;
/** Kernel-internal: a system call should be restarted after a signal (include/linux/errno.h). */
export const ERESTARTSYS = 512;

const NAMES: Record<number, [code: string, message: string]> = {
  [EPERM]: ['EPERM', 'Operation not permitted'],
  [ENOENT]: ['ENOENT', 'No such file or directory'],
  [ESRCH]: ['ESRCH', 'No such process'],
  [EINTR]: ['EINTR', 'Interrupted system call'],
  [EIO]: ['EIO', 'Input/output error'],
  [ENXIO]: ['ENXIO', 'No such device or address'],
  [E2BIG]: ['E2BIG', 'Argument list too long'],
  [EBADF]: ['EBADF', 'Bad file descriptor'],
  [ECHILD]: ['ECHILD', 'No child processes'],
  [EAGAIN]: ['EAGAIN', 'Resource temporarily unavailable'],
  [ENOMEM]: ['ENOMEM', 'Cannot allocate memory'],
  [EACCES]: ['EACCES', 'Permission denied'],
  [EFAULT]: ['EFAULT', 'Bad address'],
  [EBUSY]: ['EBUSY', 'Device or resource busy'],
  [EEXIST]: ['EEXIST', 'File exists'],
  [ENODEV]: ['ENODEV', 'No such device'],
  [EINVAL]: ['EINVAL', 'Invalid argument'],
  [ENOSPC]: ['ENOSPC', 'No space left on device'],
  [EMLINK]: ['EMLINK', 'Too many links'],
  [ERANGE]: ['ERANGE', 'Numerical result out of range'],
  [ENOSYS]: ['ENOSYS', 'Function not implemented'],
  [EOVERFLOW]: ['EOVERFLOW', 'Value too large for defined data type'],
  [EOPNOTSUPP]: ['EOPNOTSUPP', 'Operation not supported'],
  [EHWPOISON]: ['EHWPOISON', 'Memory page has hardware error'],
  [ERESTARTSYS]: ['ERESTARTSYS', 'Interrupted system call (restart)'],
};

/** The symbolic name of an errno value ("EINVAL"); accepts the negated form too. */
export function errnoName(errno: number): string {
  return NAMES[Math.abs(errno)]?.[0] ?? `E${Math.abs(errno)}`;
}

/** strerror(3): the C library's message for an errno value; accepts the negated form too. */
export function strerror(errno: number): string {
  return NAMES[Math.abs(errno)]?.[1] ?? `Unknown error ${Math.abs(errno)}`;
}

/** The errno value for a symbolic name, or undefined. */
export function errnoFromName(code: string): number | undefined {
  for (const key of Object.keys(NAMES)) {
    const n = Number(key);
    if (NAMES[n]![0] === code) return n;
  }
  return undefined;
}

/**
 * A failed system call, shaped like Node's system errors: `.errno` (positive), `.code` ("EINVAL"),
 * `.syscall`, and the call's arguments in the message.
 */
export class ErrnoError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;

  constructor(errno: number, syscall: string, args = '') {
    const e = Math.abs(errno);
    super(`${syscall}(${args}): ${errnoName(e)} (${strerror(e)})`);
    this.name = 'ErrnoError';
    this.errno = e;
    this.code = errnoName(e);
    this.syscall = syscall;
  }
}

/** Throws ErrnoError when a kernel-style result is a negative errno; returns it otherwise. */
export function checkErrno(ret: number, syscall: string, args = ''): number {
  if (ret < 0) throw new ErrnoError(-ret, syscall, args);
  return ret;
}
