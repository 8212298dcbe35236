/* The time constants the kernel selftests take from the kernel tree's include/vdso/time64.h, for
 * building them outside it (mmsim runs ksm_tests in guest kernels; docs/guest-kernels.md). */
#ifndef MMSIM_SHIM_VDSO_TIME64_H
#define MMSIM_SHIM_VDSO_TIME64_H
#define MSEC_PER_SEC 1000L
#define USEC_PER_MSEC 1000L
#define NSEC_PER_USEC 1000L
#define NSEC_PER_MSEC 1000000L
#define USEC_PER_SEC 1000000L
#define NSEC_PER_SEC 1000000000L
#define PSEC_PER_SEC 1000000000000LL
#define FSEC_PER_SEC 1000000000000000LL
#endif
