/*
 * mmsim-oracle: runs an mmsim scenario on the live kernel and prints its report as JSON.
 *
 * C11 + POSIX/Linux only, no third-party code. Build:
 *     cc -O2 -Wall -Wextra -o native/build/mmsim-oracle native/oracle.c
 *
 * Input (stdin) is the line-based instruction stream that @mmsim/scenario's oracle.ts writes from
 * a validated scenario (see native/README.md); this program has no JSON parser. Output (stdout) is
 * the report of docs/scenario-format.md with "engine": "kernel".
 *
 * Exit codes: 0 the report was printed (its "ok" says whether every step and expect passed);
 * 2 refused to run (not root, no KSM, another KSM user, memory too small...), message on stderr;
 * 1 internal or protocol error, message on stderr.
 *
 * Safety, because KSM is global to the machine:
 *  - one run at a time: flock(2) on a lock file (default /tmp/mmsim-ksm.lock) for the whole run;
 *    the kernel drops the lock when the process dies, however it dies;
 *  - every knob is saved before the first write, journaled into the lock file, and restored at the
 *    end, on failure, on SIGINT/SIGTERM/SIGHUP and from atexit(); if the process was SIGKILLed the
 *    next run finds the journal and restores from it first (or run with --restore);
 *  - refuses when another process uses KSM, when KSM counters stay non-zero after run=2, and when
 *    the memory the scenario populates does not fit in MemAvailable with a margin.
 *
 * Processes: one helper process per scenario process, forked from this orchestrator (spawn) or
 * from another helper (fork). Each has a command pipe and a reply pipe, all created before the
 * first fork; a helper keeps only its own channel and those of the processes that will be forked
 * from it (the fork tree is known from the stream), so a dead helper shows as EOF and a dead
 * orchestrator as EOF on every command pipe.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif
#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif
#ifndef MADV_UNMERGEABLE
#define MADV_UNMERGEABLE 13
#endif
#ifndef MADV_MERGEABLE
#define MADV_MERGEABLE 12
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PAGE 4096ULL
#define KSM_DIR "/sys/kernel/mm/ksm/"
/* khugepaged's knobs are named "khugepaged/<file>" everywhere in this program (the journal too):
 * no KSM knob has a '/', so one name space holds both. */
#define THP_DIR "/sys/kernel/mm/transparent_hugepage/"
#define KHUGEPAGED_PREFIX "khugepaged/"
/* DAMON's kdamonds (/sys/kernel/mm/damon/admin/kdamonds/<n>/state) are named "damon/<n>/state":
 * see hold_damon(). */
#define DAMON_DIR "/sys/kernel/mm/damon/admin/kdamonds/"
#define DAMON_PREFIX "damon/"
/* khugepaged held off: scan_sleep_millisecs as long as it can be (mm/khugepaged.c 6.18 stores an
 * unsigned int; msecs_to_jiffies() caps it at MAX_JIFFY_OFFSET, about 12 days at HZ=1000), and
 * pages_to_scan so large that one khugepaged_do_scan() from the list head is exactly one full
 * scan (it stops when it passes the head a second time). */
#define KHUGEPAGED_HOLD "4294967295"
#define KHUGEPAGED_STALL_MS 60000 /* a khugepaged pass taking longer is an error */
#define DEFAULT_LOCK "/tmp/mmsim-ksm.lock"
/* pages_to_scan while scanning: larger than any scenario, so a batch ends exactly at the end of
 * a full scan (ksm_do_scan() returns when scan_get_next_rmap_item() completes a scan). */
#define SCAN_BATCH "1000000000"
/* sleep_millisecs while scanning: ksmd is woken for each further scan by changing it, and must be
 * stopped within this time once the last scan has ended. Every write uses a value not written
 * before (SCAN_SLEEP_MS + a counter), see next_scan_sleep(). */
#define SCAN_SLEEP_MS 1000
#define SCAN_IDLE_MS 2200    /* no registered mm and ksmd not found: give up waiting after this */
#define SCAN_IDLE_MIN_MS 30  /* no scan: at least this long, and until ksmd slept again */
#define SCAN_STALL_MS 60000  /* ksmd busy: a scan taking longer is an error */

/* ------------------------------------------------------------------------------------------ */
/* small utilities                                                                             */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void refuse(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) die("out of memory (%zu bytes)", n);
  return p;
}

static char *xstrdup(const char *s) {
  char *d = strdup(s);
  if (!d) die("out of memory");
  return d;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

/* growable string */
struct sb {
  char *p;
  size_t len, cap;
};

static void sb_putn(struct sb *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->p = xrealloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

static void sb_puts(struct sb *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    sb_putn(b, tmp, (size_t)n);
    return;
  }
  char *big = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  sb_putn(b, big, (size_t)n);
  free(big);
}

static void sb_json_string(struct sb *b, const char *s) {
  sb_puts(b, "\"");
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"' || *c == '\\') {
      char e[3] = {'\\', (char)*c, 0};
      sb_puts(b, e);
    } else if (*c < 0x20) {
      sb_printf(b, "\\u%04x", *c);
    } else {
      sb_putn(b, (const char *)c, 1);
    }
  }
  sb_puts(b, "\"");
}

/* %XX-decoding of a stream token (names and labels are encoded by oracle.ts) */
static char *decode_token(const char *s) {
  size_t n = strlen(s);
  char *out = xmalloc(n + 1);
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
      char hex[3] = {s[i + 1], s[i + 2], 0};
      out[o++] = (char)strtol(hex, NULL, 16);
      i += 2;
    } else {
      out[o++] = s[i];
    }
  }
  out[o] = 0;
  return out;
}

static int write_full(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* /proc/<pid>/<file> read into buf (NUL-terminated): its length, or -1 with errno set
 * (an empty file reads as 0). */
static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t n) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t r = read(fd, buf, n - 1);
  int e = errno;
  close(fd);
  buf[r > 0 ? r : 0] = 0;
  errno = e;
  return r;
}

/* 1 on a full read, 0 on EOF, -1 on error */
static int read_full(int fd, void *buf, size_t n) {
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (r == 0) return 0;
    got += (size_t)r;
  }
  return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* fill patterns: byte-identical to packages/scenario/src/fill.ts                              */

enum { FILL_ZERO = 0, FILL_BYTE = 1, FILL_IDS = 2 };

static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}

/* Page i of n filled pages. ids: k content ids, seed, blocked layout or cyclic; word j of the page
 * with content id c is fmix32(seed ^ (c+1)*0x9E3779B1 ^ (j+1)*0x85EBCA77), little-endian. */
static void fill_page(int kind, uint32_t value_or_k, uint32_t seed, int blocked, uint64_t i, uint64_t n,
                      uint8_t *out) {
  if (kind == FILL_ZERO) {
    memset(out, 0, PAGE);
    return;
  }
  if (kind == FILL_BYTE) {
    memset(out, (int)(value_or_k & 0xff), PAGE);
    return;
  }
  uint64_t k = value_or_k;
  uint32_t c = (uint32_t)(blocked ? (i * k) / n : i % k);
  uint32_t base = seed ^ (uint32_t)(c + 1u) * 0x9E3779B1u;
  for (uint32_t j = 0; j < PAGE / 4; j++) {
    uint32_t w = fmix32(base ^ (j + 1u) * 0x85EBCA77u);
    out[4 * j] = (uint8_t)w;
    out[4 * j + 1] = (uint8_t)(w >> 8);
    out[4 * j + 2] = (uint8_t)(w >> 16);
    out[4 * j + 3] = (uint8_t)(w >> 24);
  }
}

/* Keep in sync with SELFTEST_PATTERNS in packages/scenario/src/fill.ts. */
static int selftest(void) {
  static uint8_t page[PAGE];
  fill_page(FILL_IDS, 1, 1, 0, 0, 1, page);
  printf("vector");
  for (int j = 0; j < 4; j++) {
    uint32_t w = (uint32_t)page[4 * j] | (uint32_t)page[4 * j + 1] << 8 | (uint32_t)page[4 * j + 2] << 16 |
                 (uint32_t)page[4 * j + 3] << 24;
    printf(" 0x%08" PRIx32, w);
  }
  printf("\n");
  static const struct {
    int kind;
    uint32_t a, seed;
    int blocked;
    uint64_t n;
  } pats[] = {
      {FILL_ZERO, 0, 0, 0, 2},
      {FILL_BYTE, 0xa5, 0, 0, 3},
      {FILL_IDS, 3, 1, 0, 7},
      {FILL_IDS, 3, 0xdeadbeefu, 1, 7},
      {FILL_IDS, 5, 42, 0, 5}, /* unique, seed 42, n = 5 */
      {FILL_IDS, 0xffffffffu, 0xffffffffu, 1, 3},
  };
  for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
    uint32_t h = 0x811c9dc5u;
    for (uint64_t i = 0; i < pats[p].n; i++) {
      fill_page(pats[p].kind, pats[p].a, pats[p].seed, pats[p].blocked, i, pats[p].n, page);
      for (size_t b = 0; b < PAGE; b++) h = (h ^ page[b]) * 0x01000193u;
    }
    printf("checksum %zu 0x%08" PRIx32 "\n", p, h);
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* sysfs                                                                                       */

static int ksm_path(char *buf, size_t n, const char *name) {
  int thp = strncmp(name, KHUGEPAGED_PREFIX, sizeof KHUGEPAGED_PREFIX - 1) == 0;
  int damon = strncmp(name, DAMON_PREFIX, sizeof DAMON_PREFIX - 1) == 0;
  int r = damon ? snprintf(buf, n, "%s%s", DAMON_DIR, name + sizeof DAMON_PREFIX - 1)
                : snprintf(buf, n, "%s%s", thp ? THP_DIR : KSM_DIR, name);
  return r > 0 && (size_t)r < n ? 0 : -1;
}

/* Reads a knob or counter; strips the newline; advisor_mode gives the bracketed choice. Returns 0
 * or an errno. Async-signal-safe. */
static int ksm_read(const char *name, char *out, size_t n) {
  char path[128];
  if (ksm_path(path, sizeof path, name)) return ENAMETOOLONG;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t r = read(fd, out, n - 1);
  int e = errno;
  close(fd);
  if (r < 0) return e;
  out[r] = 0;
  while (r > 0 && (out[r - 1] == '\n' || out[r - 1] == ' ')) out[--r] = 0;
  char *lb = strchr(out, '[');
  if (lb) {
    char *rb = strchr(lb, ']');
    if (rb) {
      size_t len = (size_t)(rb - lb - 1);
      memmove(out, lb + 1, len);
      out[len] = 0;
    }
  }
  return 0;
}

/* Writes a knob; returns 0 or the errno of the write. Async-signal-safe. */
static int ksm_write(const char *name, const char *value) {
  char path[128];
  if (ksm_path(path, sizeof path, name)) return ENAMETOOLONG;
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t w = write(fd, value, strlen(value));
  int e = errno;
  close(fd);
  return w < 0 ? e : 0;
}

static long long ksm_counter(const char *name) {
  char buf[64];
  int e = ksm_read(name, buf, sizeof buf);
  if (e) die("cannot read %s%s: %s", KSM_DIR, name, strerror(e));
  return strtoll(buf, NULL, 10);
}

/* The counters of a report, in the report's order. */
static const char *const COUNTERS[] = {
    "full_scans",     "general_profit", "ksm_zero_pages", "pages_scanned",      "pages_shared",     "pages_sharing",
    "pages_skipped",  "pages_unshared", "pages_volatile", "stable_node_chains", "stable_node_dups",
};
#define NCOUNTERS (sizeof COUNTERS / sizeof COUNTERS[0])
/* reported as the increase since the scenario started */
static int counter_is_delta(size_t i) { return i == 0 || i == 3 || i == 6; }
/* compared by ksm_converge */
static int counter_converges(size_t i) { return !(i == 0 || i == 1 || i == 3 || i == 6); }
/* must be zero before a scenario (after run=2) */
static int counter_must_be_zero(size_t i) { return i == 1 || i == 2 || i == 4 || i == 5 || i >= 7; }

/* Subtracted from what is read: the cumulative counters' values at the start, and a count of
 * KSM zero pages the kernel leaked before the scenario (see the start of main()). */
static long long counter_base[NCOUNTERS];
/* Counters this kernel has (6.1 lacks general_profit, ksm_zero_pages, pages_scanned and
 * pages_skipped): a missing one is left out of reports, and an expect on it fails. */
static int have_counter[NCOUNTERS];

static void find_counters(void) {
  char buf[64];
  for (size_t i = 0; i < NCOUNTERS; i++) have_counter[i] = ksm_read(COUNTERS[i], buf, sizeof buf) == 0;
}

static void read_counters(long long *out) {
  for (size_t i = 0; i < NCOUNTERS; i++) out[i] = have_counter[i] ? ksm_counter(COUNTERS[i]) - counter_base[i] : 0;
}

/* Knobs the oracle may change, in restore order: advisor parameters before advisor_mode, which
 * resets pages_to_scan; run last of KSM's. advisor_mode and pages_to_scan are handled specially.
 * Then khugepaged's, scan_sleep_millisecs last: writing it wakes khugepaged, which should then
 * scan with the restored pages_to_scan. Then the first kdamond's state (hold_damon()). */
static const char *const KNOBS[] = {
    "advisor_max_cpu",     "advisor_min_pages_to_scan",          "advisor_max_pages_to_scan",
    "advisor_target_scan_time", "max_page_sharing",               "merge_across_nodes",
    "use_zero_pages",      "smart_scan",                          "stable_node_chains_prune_millisecs",
    "sleep_millisecs",     "advisor_mode",                        "pages_to_scan",
    "run",
    "khugepaged/max_ptes_none", "khugepaged/max_ptes_swap", "khugepaged/max_ptes_shared",
    "khugepaged/pages_to_scan", "khugepaged/scan_sleep_millisecs",
    "damon/0/state",
};
#define NKNOBS (sizeof KNOBS / sizeof KNOBS[0])
#define K_ADVISOR_MODE 10
#define K_PAGES_TO_SCAN 11
#define K_RUN 12
#define K_KHUGEPAGED_PAGES_TO_SCAN 16
#define K_KHUGEPAGED_SCAN_SLEEP 17
#define K_DAMON_STATE 18

static char saved_knob[NKNOBS][64];
static int have_knob[NKNOBS];

/* ------------------------------------------------------------------------------------------ */
/* global state                                                                                */

struct region {
  char *name;
  uint64_t addr, pages;
  int owner, thp, shared;
  int file; /* index into files[] of the file it maps MAP_PRIVATE, or -1 (anonymous) */
};

/* A regular file regions map: written (so in the page cache) into a private directory before the
 * first step, removed by cleanup(). */
struct file {
  char *name;
  uint64_t pages;
  int kind, blocked;
  uint32_t value_or_k, seed;
  char path[96]; /* fixed: cleanup() unlinks it from a signal handler */
};

struct proc {
  char *name;
  int parent;
  pid_t pid;
  int alive, created, registered, spawned_by_us;
  int cmd_r, cmd_w, rep_r, rep_w;
  uint64_t **mapped; /* per region index: bitmap of mapped pages, NULL when not in this process */
  int *order;        /* region indices in mmap order (inherited first) */
  int norder;
};

struct step {
  int index, expect_errno, argc;
  char **argv; /* argv[0] is the op */
};

static char *scenario_name;
static uint64_t populate_pages, window_base, window_limit;
static struct proc *procs;
static int nprocs;
static struct region *regions;
static int nregions;
static struct file *files;
static int nfiles;
static char files_dir[64]; /* "" until created */
static struct step *steps;
static int nsteps;
static char **init_names, **init_values;
static int *init_explicit;
static int ninit;

static pid_t orchestrator_pid;
static int lock_fd = -1;
static pid_t sentinel_pid; /* keeps khugepaged's mm list non-empty, see start_sentinel() */
static pid_t khugepaged_pid = -1;
static int sentinel_thp;             /* the sentinel's PMD is a THP: no scan can collapse it */
static int khugepaged_report;        /* the stream asked for khugepaged's counters in reports */
static int khugepaged_hold;          /* the scenario uses THP: khugepaged must be held off */
static long long khugepaged_base;      /* khugepaged's full_scans when the scenario started */
static long long khugepaged_collapsed; /* THPs khugepaged made in the scenario's regions */
static volatile sig_atomic_t knobs_modified, cleanup_done;
static uint64_t zero_pfn, huge_zero_pfn; /* huge_zero_pfn 0: none seen */
static int pause_at = -1;
static int trace; /* MMSIM_ORACLE_TRACE set: step and scan timings on stderr */
/* --session --allow: someone else's processes the session may scan (see session()) */
static pid_t *allowed;
static int nallowed;

static int allowed_pid(pid_t pid) {
  for (int i = 0; i < nallowed; i++) {
    if (allowed[i] == pid) return 1;
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* cleanup: kill helpers, unmerge, restore knobs. Async-signal-safe: only syscalls.             */

static void kill_helpers(void) {
  for (int i = 0; i < nprocs; i++) {
    if (procs[i].created && procs[i].alive && procs[i].pid > 0) kill(procs[i].pid, SIGKILL);
  }
  for (int i = 0; i < nprocs; i++) procs[i].alive = 0;
  if (sentinel_pid > 0) kill(sentinel_pid, SIGKILL);
  sentinel_pid = 0;
  /* as child subreaper, every helper (or orphaned descendant) is reaped here */
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
}

static void say(const char *s) { (void)!write(2, s, strlen(s)); }

static int restore_knobs(void) {
  int bad = 0;
  char cur[64];
  /* unmerge everything: also clears stable nodes, so max_page_sharing/merge_across_nodes can be
   * written again */
  ksm_write("run", "2");
  ksm_write("run", "0");
  for (size_t i = 0; i < NKNOBS; i++) {
    if (!have_knob[i] || i == K_RUN) continue;
    if (i == K_ADVISOR_MODE) {
      /* pages_to_scan can only be written with the advisor off */
      if (ksm_read("advisor_mode", cur, sizeof cur) == 0 && strcmp(cur, "none") != 0) ksm_write("advisor_mode", "none");
      continue;
    }
    if (i == K_PAGES_TO_SCAN) {
      if (ksm_read(KNOBS[i], cur, sizeof cur) == 0 && strcmp(cur, saved_knob[i]) != 0) ksm_write(KNOBS[i], saved_knob[i]);
      if (have_knob[K_ADVISOR_MODE] && strcmp(saved_knob[K_ADVISOR_MODE], "none") != 0) {
        ksm_write("advisor_mode", saved_knob[K_ADVISOR_MODE]);
      }
      continue;
    }
    if (ksm_read(KNOBS[i], cur, sizeof cur) == 0 && strcmp(cur, saved_knob[i]) == 0) continue;
    ksm_write(KNOBS[i], saved_knob[i]);
  }
  if (have_knob[K_RUN]) ksm_write("run", saved_knob[K_RUN]);
  for (size_t i = 0; i < NKNOBS; i++) {
    if (!have_knob[i]) continue;
    if (i == K_PAGES_TO_SCAN && strcmp(saved_knob[K_ADVISOR_MODE], "none") != 0) continue;
    if (ksm_read(KNOBS[i], cur, sizeof cur) != 0 || strcmp(cur, saved_knob[i]) != 0) {
      say("mmsim-oracle: could not restore ");
      say(KNOBS[i]);
      say(" to ");
      say(saved_knob[i]);
      say("\n");
      bad = 1;
    }
  }
  return bad;
}

static int cleanup(void) {
  if (getpid() != orchestrator_pid || cleanup_done) return 0;
  cleanup_done = 1;
  kill_helpers();
  if (files_dir[0]) {
    for (int i = 0; i < nfiles; i++)
      if (files[i].path[0]) unlink(files[i].path);
    rmdir(files_dir);
    files_dir[0] = 0;
  }
  int bad = 0;
  if (knobs_modified) {
    bad = restore_knobs();
    if (!bad && lock_fd >= 0 && ftruncate(lock_fd, 0) < 0) bad = 1;
    knobs_modified = 0;
  }
  return bad;
}

static void cleanup_atexit(void) { cleanup(); }

static void on_signal(int sig) {
  if (getpid() != orchestrator_pid) _exit(128 + sig);
  say("mmsim-oracle: interrupted; restoring KSM knobs\n");
  cleanup();
  _exit(128 + sig);
}

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mmsim-oracle: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  if (getpid() != orchestrator_pid) _exit(1);
  exit(1); /* atexit -> cleanup() */
}

static void refuse(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "mmsim-oracle: refusing to run: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(2);
}

/* ------------------------------------------------------------------------------------------ */
/* lock and journal                                                                            */

static void take_lock(const char *path, int timeout_s) {
  lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) refuse("cannot open lock file %s: %s", path, strerror(errno));
  uint64_t start = now_ms();
  int said = 0;
  while (flock(lock_fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) refuse("cannot lock %s: %s", path, strerror(errno));
    if (!said) {
      fprintf(stderr, "mmsim-oracle: waiting for %s (another kernel-side run holds it)\n", path);
      said = 1;
    }
    if (now_ms() - start > (uint64_t)timeout_s * 1000) refuse("%s still locked after %d s", path, timeout_s);
    sleep_us(20000);
  }
}

/* Saved knobs of a run that died without restoring (SIGKILL): "name value" lines. */
static int read_journal(void) {
  char buf[4096];
  ssize_t n = pread(lock_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  int found = 0;
  for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
    char *sp = strchr(line, ' ');
    if (!sp) continue;
    *sp = 0;
    for (size_t i = 0; i < NKNOBS; i++) {
      if (strcmp(line, KNOBS[i]) == 0 && strlen(sp + 1) < sizeof saved_knob[i]) {
        strcpy(saved_knob[i], sp + 1);
        have_knob[i] = 1;
        found = 1;
      }
    }
  }
  return found;
}

static void write_journal(void) {
  struct sb b = {0};
  for (size_t i = 0; i < NKNOBS; i++) {
    if (have_knob[i]) sb_printf(&b, "%s %s\n", KNOBS[i], saved_knob[i]);
  }
  if (ftruncate(lock_fd, 0) < 0 || pwrite(lock_fd, b.p, b.len, 0) != (ssize_t)b.len) {
    die("cannot write the knob journal: %s", strerror(errno));
  }
  free(b.p);
}

static void save_knobs(void) {
  int journaled = read_journal();
  if (journaled) fprintf(stderr, "mmsim-oracle: a previous run died without restoring KSM knobs; restoring its saved values\n");
  /* Knobs the journal lacks (all of them without a journal; khugepaged's in the journal of an older
   * oracle, which did not touch them) are saved as they are now. */
  for (size_t i = 0; i < NKNOBS; i++) {
    if (!have_knob[i]) have_knob[i] = ksm_read(KNOBS[i], saved_knob[i], sizeof saved_knob[i]) == 0;
  }
  /* khugepaged found held off: a run killed with SIGKILL whose journal an older oracle (which
   * knows only the KSM knobs) restored and cleared. Save the kernel's defaults instead
   * (mm/khugepaged.c 6.18: HPAGE_PMD_NR * 8 pages every 10 s). */
  if (have_knob[K_KHUGEPAGED_SCAN_SLEEP] && !strcmp(saved_knob[K_KHUGEPAGED_SCAN_SLEEP], KHUGEPAGED_HOLD))
    strcpy(saved_knob[K_KHUGEPAGED_SCAN_SLEEP], "10000");
  if (have_knob[K_KHUGEPAGED_PAGES_TO_SCAN] && !strcmp(saved_knob[K_KHUGEPAGED_PAGES_TO_SCAN], KHUGEPAGED_HOLD))
    strcpy(saved_knob[K_KHUGEPAGED_PAGES_TO_SCAN], "4096");
  write_journal();
  if (journaled) knobs_modified = 1;
}

/* ------------------------------------------------------------------------------------------ */
/* checks before a run                                                                         */

static void check_environment(void) {
  if (geteuid() != 0) refuse("not root (euid %d): KSM knobs and pagemap PFNs need root", (int)geteuid());
  if (access(KSM_DIR "run", W_OK) != 0) refuse("%srun is not writable: %s (no KSM in this kernel?)", KSM_DIR, strerror(errno));
}

static void check_memory(void) {
  FILE *f = fopen("/proc/meminfo", "re");
  if (!f) refuse("cannot read /proc/meminfo: %s", strerror(errno));
  char line[256];
  long long avail_kb = -1;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "MemAvailable: %lld kB", &avail_kb) == 1) break;
  }
  fclose(f);
  if (avail_kb < 0) refuse("no MemAvailable in /proc/meminfo");
  long long margin_kb = 512 * 1024;
  long long limit_kb = avail_kb > margin_kb ? (avail_kb - margin_kb) / 4 * 3 : 0;
  long long need_kb = (long long)populate_pages * 4;
  if (need_kb > limit_kb) {
    refuse("the scenario populates up to %" PRIu64 " pages (%lld MiB); the limit is %lld MiB "
           "(3/4 of MemAvailable %lld MiB minus a 512 MiB margin)",
           populate_pages, need_kb / 1024, limit_kb / 1024, avail_kb / 1024);
  }
}

/* 1 when a VMA of pid is VM_MERGEABLE ("mg" in smaps' VmFlags): what ksm_stat's ksm_mergeable
 * says on kernels that have it (not 6.1). */
static int smaps_has_mergeable(pid_t pid) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/smaps", (int)pid);
  FILE *f = fopen(path, "re");
  if (!f) return 0;
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " mg")) found = 1;
  }
  fclose(f);
  return found;
}

/* Another process with KSM enabled (MADV_MERGEABLE or PR_SET_MEMORY_MERGE) would be scanned,
 * merged and counted with the scenario: refuse rather than report noise or unmerge its pages. */
/* 1 when pid has KSM enabled; its comm in comm[64]. */
static int uses_ksm(pid_t pid, char *comm) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  if (!strstr(buf, "ksm_mergeable: yes") && !strstr(buf, "ksm_merge_any: yes") &&
      (strstr(buf, "ksm_mergeable") || !smaps_has_mergeable(pid)))
    return 0;
  strcpy(comm, "?");
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    ssize_t c = read(fd, comm, 63);
    close(fd);
    comm[c > 0 ? c : 0] = 0;
    char *nl = strchr(comm, '\n');
    if (nl) *nl = 0;
  }
  return 1;
}

/* Another process with KSM enabled (MADV_MERGEABLE or PR_SET_MEMORY_MERGE) would be scanned,
 * merged and counted with the scenario: refuse rather than report noise or unmerge its pages.
 * Helpers of a run that was just killed ("mmsim-helper") are given two seconds to finish dying. */
static void check_other_users(void) {
  uint64_t start = now_ms();
  for (;;) {
    DIR *d = opendir("/proc");
    if (!d) refuse("cannot list /proc: %s", strerror(errno));
    struct dirent *e;
    pid_t found = 0;
    char comm[64] = "";
    while ((e = readdir(d))) {
      if (!isdigit((unsigned char)e->d_name[0])) continue;
      pid_t pid = (pid_t)atoi(e->d_name);
      if (pid != getpid() && !allowed_pid(pid) && uses_ksm(pid, comm)) {
        found = pid;
        break;
      }
    }
    closedir(d);
    if (!found) return;
    if (strcmp(comm, "mmsim-helper") != 0 || now_ms() - start > 2000) {
      refuse("another process uses KSM: pid %d (%s) has KSM enabled; KSM is machine-global", (int)found, comm);
    }
    sleep_us(20000);
  }
}

/* pid is the oracle's own: the orchestrator, the khugepaged sentinel or a scenario helper. */
static int own_pid(pid_t pid) {
  if (pid == orchestrator_pid || pid == sentinel_pid || allowed_pid(pid)) return 1;
  for (int i = 0; i < nprocs; i++) {
    if (procs[i].created && procs[i].pid == pid) return 1;
  }
  return 0;
}

/* A process of someone else's that uses KSM (its comm in comm[64]), or 0. */
static pid_t find_foreign_user(char *comm) {
  DIR *d = opendir("/proc");
  if (!d) refuse("cannot list /proc: %s", strerror(errno));
  struct dirent *e;
  pid_t found = 0;
  while (!found && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    pid_t pid = (pid_t)atoi(e->d_name);
    if (!own_pid(pid) && uses_ksm(pid, comm)) found = pid;
  }
  closedir(d);
  return found;
}

/* At the end of a run: refuse when a process of someone else's uses KSM (it started during the
 * run: ksmd scanned, merged and counted its pages with ours). */
static void check_foreign_users(void) {
  char comm[64] = "";
  pid_t pid = find_foreign_user(comm);
  if (pid)
    refuse("another process used KSM during the run: pid %d (%s); its pages would be counted with the "
           "scenario's",
           (int)pid, comm);
}

static uint64_t pagemap_entry(int fd, uint64_t addr) {
  uint64_t e = 0;
  if (pread(fd, &e, sizeof e, (off_t)(addr / PAGE * 8)) != sizeof e) return 0;
  return e;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_GUARD (1ULL << 58)
#define PM_PFN_MASK ((1ULL << 55) - 1)

/* The zero page's PFN, from a fresh private anonymous mapping read once; and the huge zero page's
 * from a 2 MiB aligned MADV_HUGEPAGE one. Both mappings stay for the whole run, which keeps the
 * huge zero folio alive (and its PFN stable). */
static void probe_zero_pages(void) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) refuse("cannot open /proc/self/pagemap: %s", strerror(errno));
  volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap: %s", strerror(errno));
  (void)p[0];
  uint64_t e = pagemap_entry(fd, (uint64_t)(uintptr_t)p);
  if (!(e & PM_PRESENT) || !(e & PM_PFN_MASK)) refuse("pagemap shows no PFNs (entry 0x%" PRIx64 "): need CAP_SYS_ADMIN", e);
  zero_pfn = e & PM_PFN_MASK;
  size_t len = 4 << 20;
  uint8_t *q = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (q == MAP_FAILED) die("mmap: %s", strerror(errno));
  volatile uint8_t *h = (uint8_t *)(((uintptr_t)q + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
  if (madvise((void *)h, 2 << 20, MADV_HUGEPAGE) == 0) {
    (void)h[0];
    e = pagemap_entry(fd, (uint64_t)(uintptr_t)h);
    if ((e & PM_PRESENT) && (e & PM_PFN_MASK) != zero_pfn) huge_zero_pfn = e & PM_PFN_MASK;
  }
  close(fd);
}

/* ------------------------------------------------------------------------------------------ */
/* the instruction stream                                                                      */

static char **split(char *line, int *argc) {
  int cap = 8, n = 0;
  char **v = xmalloc(sizeof(char *) * (size_t)cap);
  for (char *t = strtok(line, " \t\r\n"); t; t = strtok(NULL, " \t\r\n")) {
    if (n + 1 >= cap) v = xrealloc(v, sizeof(char *) * (size_t)(cap *= 2));
    v[n++] = t;
  }
  v[n] = NULL;
  *argc = n;
  return v;
}

static long long num(const char *s, const char *what) {
  if (!s) die("stream: missing %s", what);
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 0);
  if (errno || *end) die("stream: bad %s \"%s\"", what, s);
  return v;
}

static uint64_t unum(const char *s, const char *what) {
  if (!s) die("stream: missing %s", what);
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || s[0] == '-') die("stream: bad %s \"%s\"", what, s);
  return v;
}

static void read_stream(FILE *in) {
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, ended = 0, header = 0;
  int proc_cap = 0, region_cap = 0, step_cap = 0, init_cap = 0;
  while (getline(&line, &cap, in) > 0) {
    lineno++;
    int argc;
    char *copy = xstrdup(line);
    char **v = split(copy, &argc);
    if (argc == 0) continue;
    const char *k = v[0];
    if (!header) {
      if (strcmp(k, "mmsim-oracle") != 0 || argc != 2 || strcmp(v[1], "1") != 0) {
        die("stream: line 1: expected \"mmsim-oracle 1\"");
      }
      header = 1;
    } else if (ended) {
      die("stream: line %d: text after \"end\"", lineno);
    } else if (!strcmp(k, "scenario") && argc == 2) {
      scenario_name = decode_token(v[1]);
    } else if (!strcmp(k, "populate") && argc == 2) {
      populate_pages = unum(v[1], "populate");
    } else if (!strcmp(k, "window") && argc == 3) {
      window_base = unum(v[1], "window base");
      window_limit = unum(v[2], "window limit");
    } else if (!strcmp(k, "proc") && argc == 4) {
      if (num(v[1], "proc index") != nprocs) die("stream: line %d: procs out of order", lineno);
      if (nprocs == proc_cap) procs = xrealloc(procs, sizeof *procs * (size_t)(proc_cap = proc_cap * 2 + 8));
      struct proc *p = &procs[nprocs];
      memset(p, 0, sizeof *p);
      p->name = decode_token(v[2]);
      p->parent = (int)num(v[3], "proc parent");
      if (p->parent < -1 || p->parent >= nprocs) die("stream: line %d: bad parent", lineno);
      nprocs++;
    } else if (!strcmp(k, "file") && (argc == 5 || argc == 6 || argc == 8)) {
      if (num(v[1], "file index") != nfiles) die("stream: line %d: files out of order", lineno);
      files = xrealloc(files, sizeof *files * (size_t)(nfiles + 1));
      struct file *f = &files[nfiles++];
      memset(f, 0, sizeof *f);
      f->name = decode_token(v[2]);
      f->pages = unum(v[3], "file pages");
      if (!strcmp(v[4], "zero") && argc == 5) f->kind = FILL_ZERO;
      else if (!strcmp(v[4], "byte") && argc == 6) f->kind = FILL_BYTE, f->value_or_k = (uint32_t)unum(v[5], "byte");
      else if (!strcmp(v[4], "ids") && argc == 8) {
        f->kind = FILL_IDS;
        uint64_t k = unum(v[5], "count"), seed = unum(v[6], "seed");
        if (k == 0 || k > 0xffffffffULL || seed > 0xffffffffULL) die("stream: line %d: bad ids", lineno);
        f->value_or_k = (uint32_t)k;
        f->seed = (uint32_t)seed;
        f->blocked = (int)num(v[7], "blocked");
      } else die("stream: line %d: bad file pattern", lineno);
    } else if (!strcmp(k, "region") && (argc == 8 || argc == 9)) {
      if (num(v[1], "region index") != nregions) die("stream: line %d: regions out of order", lineno);
      if (nregions == region_cap) regions = xrealloc(regions, sizeof *regions * (size_t)(region_cap = region_cap * 2 + 8));
      struct region *r = &regions[nregions++];
      r->owner = (int)num(v[2], "region proc");
      if (r->owner < 0 || r->owner >= nprocs) die("stream: line %d: bad region proc", lineno);
      r->name = decode_token(v[3]);
      r->addr = unum(v[4], "region addr");
      r->pages = unum(v[5], "region pages");
      r->thp = (int)num(v[6], "thp");
      r->shared = (int)num(v[7], "shared");
      r->file = argc == 9 ? (int)num(v[8], "region file") : -1;
      if (r->file >= nfiles || (r->file >= 0 && (r->shared || r->thp)))
        die("stream: line %d: bad region file", lineno);
      if (r->addr % (2 << 20) || r->addr < window_base || r->addr + r->pages * PAGE > window_limit) {
        die("stream: line %d: region outside the window", lineno);
      }
    } else if (!strcmp(k, "init") && argc == 4) {
      if (ninit == init_cap) {
        init_cap = init_cap * 2 + 8;
        init_names = xrealloc(init_names, sizeof(char *) * (size_t)init_cap);
        init_values = xrealloc(init_values, sizeof(char *) * (size_t)init_cap);
        init_explicit = xrealloc(init_explicit, sizeof(int) * (size_t)init_cap);
      }
      init_names[ninit] = xstrdup(v[1]);
      init_explicit[ninit] = (int)num(v[3], "init explicit");
      init_values[ninit++] = decode_token(v[2]);
    } else if (!strcmp(k, "step") && argc >= 4) {
      if (nsteps == step_cap) steps = xrealloc(steps, sizeof *steps * (size_t)(step_cap = step_cap * 2 + 16));
      struct step *s = &steps[nsteps++];
      s->index = (int)num(v[1], "step index");
      s->expect_errno = (int)num(v[2], "expect_errno");
      s->argv = v + 3;
      s->argc = argc - 3;
      continue; /* keeps copy/v alive */
    } else if (!strcmp(k, "khugepaged_report") && argc == 1) {
      khugepaged_report = 1;
    } else if (!strcmp(k, "khugepaged_hold") && argc == 1) {
      khugepaged_hold = 1;
    } else if (!strcmp(k, "end") && argc == 1) {
      ended = 1;
    } else {
      die("stream: line %d: unknown instruction \"%s\"", lineno, k);
    }
    free(v);
  }
  free(line);
  if (!header || !ended) die("stream: truncated (no \"end\" line)");
  if (!scenario_name) die("stream: no scenario line");
  if (!window_base || window_limit <= window_base) die("stream: no window line");
}

/* ------------------------------------------------------------------------------------------ */
/* helpers: the processes of the scenario                                                      */

enum { H_MMAP = 1, H_FILL, H_WRITE, H_TOUCH, H_MADVISE, H_MPROTECT, H_MUNMAP, H_PRCTL, H_FORK, H_EXIT };

struct cmd {
  int32_t op, child;
  uint64_t addr, len, a, b, c, d;
};

struct rep {
  int32_t err, pad;
  int64_t value;
};

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;

static void on_fault(int sig) {
  if (fault_armed) {
    fault_armed = 0;
    siglongjmp(fault_jmp, 1);
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static int is_descendant(int q, int p) {
  for (; q >= 0; q = procs[q].parent) {
    if (q == p) return 1;
  }
  return 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

/* In a new helper `self`: keep its own channel and those of its future descendants only. */
static void become_helper(int self) {
  prctl(PR_SET_NAME, "mmsim-helper");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &sa, NULL); /* children of helpers are reaped automatically */
  sigaction(SIGPIPE, &sa, NULL);
  sa.sa_handler = on_fault;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  if (lock_fd >= 0) close_fd(&lock_fd);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0); /* dup2 clears O_CLOEXEC on the copies */
    dup2(null, 1);
    close(null);
  }
  for (int q = 0; q < nprocs; q++) {
    close_fd(&procs[q].cmd_w);
    close_fd(&procs[q].rep_r);
    if (!is_descendant(q, self)) {
      close_fd(&procs[q].cmd_r);
      close_fd(&procs[q].rep_w);
    }
  }
}

/* After PR_SET_MEMORY_MERGE made every VMA mergeable: take the helper's own memory (stack, heap,
 * libc data, everything outside the region window) back out, so that KSM counters and ksm_stat
 * count the scenario's pages only. MADV_UNMERGEABLE clears VM_MERGEABLE per VMA even with
 * MMF_VM_MERGE_ANY set. */
static void unmerge_own_memory(void) {
  static char buf[1 << 16];
  int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t len = 0;
  ssize_t n;
  while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
  close(fd);
  buf[len] = 0;
  for (char *line = buf; line && *line;) {
    char *next = strchr(line, '\n');
    if (next) *next++ = 0;
    unsigned long long start, end;
    if (sscanf(line, "%llx-%llx", &start, &end) == 2 && (end <= window_base || start >= window_limit) &&
        !strstr(line, "[vsyscall]")) {
      madvise((void *)(uintptr_t)start, (size_t)(end - start), MADV_UNMERGEABLE);
    }
    line = next;
  }
}

static int prot_bits(uint64_t p) { return p == 2 ? PROT_READ | PROT_WRITE : p == 1 ? PROT_READ : PROT_NONE; }

static int helper_self; /* static: survives siglongjmp */

static void helper_loop(int self) {
  static uint8_t page[PAGE];
  helper_self = self;
  for (;;) {
    struct cmd c;
    if (read_full(procs[helper_self].cmd_r, &c, sizeof c) != 1) _exit(0);
    struct rep r = {0, 0, 0};
    switch (c.op) {
      case H_MMAP: {
        /* d = 1 + the file's index for a private file mapping, 0 for anonymous memory */
        int fd = -1, flags = MAP_FIXED_NOREPLACE;
        if (c.d) {
          fd = open(files[c.d - 1].path, O_RDONLY | O_CLOEXEC);
          if (fd < 0) {
            r.err = errno;
            break;
          }
          flags |= MAP_PRIVATE;
        } else {
          flags |= MAP_ANONYMOUS | (c.b ? MAP_SHARED : MAP_PRIVATE);
        }
        void *p = mmap((void *)(uintptr_t)c.addr, c.len, prot_bits(c.a), flags, fd, 0);
        if (fd >= 0) close(fd);
        if (p == MAP_FAILED) {
          r.err = errno;
        } else if ((uint64_t)(uintptr_t)p != c.addr) {
          munmap(p, c.len);
          r.err = EEXIST;
        } else if (c.c && madvise(p, c.len, MADV_HUGEPAGE) < 0) {
          r.err = errno;
        }
        break;
      }
      case H_FILL:
      case H_TOUCH:
      case H_WRITE: {
        volatile uint64_t i = 0;
        if (sigsetjmp(fault_jmp, 1)) {
          r.err = EFAULT;
          r.value = (int64_t)i;
          break;
        }
        fault_armed = 1;
        if (c.op == H_WRITE) {
          *(volatile uint8_t *)(uintptr_t)c.addr = (uint8_t)c.a;
        } else if (c.op == H_TOUCH) {
          for (i = 0; i < c.len; i++) (void)*(volatile uint8_t *)(uintptr_t)(c.addr + i * PAGE);
        } else {
          /* a = kind, b = value or k, c = seed, d = blocked */
          for (i = 0; i < c.len; i++) {
            uint8_t *dst = (uint8_t *)(uintptr_t)(c.addr + i * PAGE);
            if (c.a == FILL_IDS) {
              fill_page(FILL_IDS, (uint32_t)c.b, (uint32_t)c.c, (int)c.d, i, c.len, page);
              memcpy(dst, page, PAGE);
            } else {
              memset(dst, c.a == FILL_BYTE ? (int)(c.b & 0xff) : 0, PAGE);
            }
          }
        }
        fault_armed = 0;
        break;
      }
      case H_MADVISE:
        if (madvise((void *)(uintptr_t)c.addr, c.len, (int)c.a) < 0) r.err = errno;
        break;
      case H_MPROTECT:
        if (mprotect((void *)(uintptr_t)c.addr, c.len, prot_bits(c.a)) < 0) r.err = errno;
        break;
      case H_MUNMAP:
        if (munmap((void *)(uintptr_t)c.addr, c.len) < 0) r.err = errno;
        break;
      case H_PRCTL: {
        /* a = option, b..d = arg2..arg4, len = arg5 */
        int ret = prctl((int)c.a, (unsigned long)c.b, (unsigned long)c.c, (unsigned long)c.d, (unsigned long)c.len);
        if (ret < 0) {
          r.err = errno;
        } else {
          r.value = ret;
          if (c.a == PR_SET_MEMORY_MERGE && c.b) unmerge_own_memory();
        }
        break;
      }
      case H_FORK: {
        int child = c.child;
        pid_t pid = fork();
        if (pid < 0) {
          r.err = errno;
          break;
        }
        if (pid == 0) {
          become_helper(child);
          helper_self = child;
          r.value = getpid();
          break;
        }
        for (int q = 0; q < nprocs; q++) {
          if (is_descendant(q, child)) {
            close_fd(&procs[q].cmd_r);
            close_fd(&procs[q].rep_w);
          }
        }
        r.value = pid;
        break;
      }
      case H_EXIT:
        break;
      default:
        r.err = EINVAL;
    }
    if (write_full(procs[helper_self].rep_w, &r, sizeof r) < 0) _exit(0);
    if (c.op == H_EXIT) _exit(0);
  }
}

/* Sends a command and waits for the reply; returns 0, or -1 when the helper is gone. */
static int helper_call(int p, struct cmd *c, struct rep *r) {
  if (write_full(procs[p].cmd_w, c, sizeof *c) < 0) return -1;
  return read_full(procs[p].rep_r, r, sizeof *r) == 1 ? 0 : -1;
}

static void create_channels(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)(4 * nprocs + 64)) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(4 * nprocs + 64)) refuse("%d processes need %d file descriptors", nprocs, 4 * nprocs + 64);
  }
  for (int i = 0; i < nprocs; i++) {
    int a[2], b[2];
    if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    procs[i].cmd_r = a[0];
    procs[i].cmd_w = a[1];
    procs[i].rep_r = b[0];
    procs[i].rep_w = b[1];
    procs[i].mapped = xmalloc(sizeof(uint64_t *) * (size_t)(nregions ? nregions : 1));
    procs[i].order = xmalloc(sizeof(int) * (size_t)(nregions ? nregions : 1));
  }
}

/* ------------------------------------------------------------------------------------------ */
/* reports                                                                                     */

static struct sb reports_json, failures_json;
static int nreports, nfailures;

static void add_failure(const struct step *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_failure(const struct step *s, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (nfailures++) sb_puts(&failures_json, ",");
  sb_printf(&failures_json, "{\"step\":%d,\"op\":", s->index);
  sb_json_string(&failures_json, s->argv[0]);
  sb_puts(&failures_json, ",\"message\":");
  sb_json_string(&failures_json, msg);
  sb_puts(&failures_json, "}");
}

/* ksm_stat fields a kernel may lack (6.1 has ksm_rmap_items only, ksm_merging_pages in a file of
 * its own): bits of ksm_stat.have */
#define ST_ZERO_PAGES 1
#define ST_MERGING_PAGES 2
#define ST_PROCESS_PROFIT 4
#define ST_MERGE_ANY 8
#define ST_MERGEABLE 16
#define ST_SMAPS_KSM 32 /* smaps has a "KSM:" line (not on 6.1) */

struct ksm_stat {
  long long rmap_items, zero_pages, merging_pages, process_profit;
  int merge_any, mergeable, have;
  long long rss, anon, ksm, thp; /* kB over the scenario's regions of the process (thp: AnonHugePages) */
};

static void read_ksm_stat(int p, struct ksm_stat *st) {
  memset(st, 0, sizeof *st);
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)procs[p].pid);
  FILE *f = fopen(path, "re");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  while (fgets(line, sizeof line, f)) {
    char key[64], val[64];
    if (sscanf(line, "%63[^: ]%*[: ]%63s", key, val) != 2) continue;
    if (!strcmp(key, "ksm_rmap_items")) st->rmap_items = atoll(val);
    else if (!strcmp(key, "ksm_zero_pages")) st->zero_pages = atoll(val), st->have |= ST_ZERO_PAGES;
    else if (!strcmp(key, "ksm_merging_pages")) st->merging_pages = atoll(val), st->have |= ST_MERGING_PAGES;
    else if (!strcmp(key, "ksm_process_profit")) st->process_profit = atoll(val), st->have |= ST_PROCESS_PROFIT;
    else if (!strcmp(key, "ksm_merge_any")) st->merge_any = !strcmp(val, "yes"), st->have |= ST_MERGE_ANY;
    else if (!strcmp(key, "ksm_mergeable")) st->mergeable = !strcmp(val, "yes"), st->have |= ST_MERGEABLE;
  }
  fclose(f);
  if (!(st->have & ST_MERGING_PAGES)) {
    snprintf(path, sizeof path, "/proc/%d/ksm_merging_pages", (int)procs[p].pid);
    f = fopen(path, "re");
    if (f) {
      if (fgets(line, sizeof line, f)) st->merging_pages = atoll(line), st->have |= ST_MERGING_PAGES;
      fclose(f);
    }
  }

  snprintf(path, sizeof path, "/proc/%d/smaps", (int)procs[p].pid);
  f = fopen(path, "re");
  if (!f) die("cannot open %s: %s", path, strerror(errno));
  int inside = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long long start, end;
    long long kb;
    if (sscanf(line, "%llx-%llx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
      /* a VMA header; regions are separated by gaps, so a VMA is inside one region or none */
      inside = 0;
      for (int k = 0; k < procs[p].norder; k++) {
        const struct region *r = &regions[procs[p].order[k]];
        if (start >= r->addr && end <= r->addr + r->pages * PAGE) inside = 1;
      }
    } else if (inside && sscanf(line, "Rss: %lld kB", &kb) == 1) {
      st->rss += kb;
    } else if (inside && sscanf(line, "Anonymous: %lld kB", &kb) == 1) {
      st->anon += kb;
    } else if (sscanf(line, "KSM: %lld kB", &kb) == 1) {
      st->have |= ST_SMAPS_KSM;
      if (inside) st->ksm += kb;
    } else if (inside && sscanf(line, "AnonHugePages: %lld kB", &kb) == 1) {
      st->thp += kb;
    }
  }
  fclose(f);
}

/* PFN -> ordinal, first seen first, over one report */
struct pfnmap {
  uint64_t *keys; /* pfn + 1; 0 = empty */
  int64_t *vals;
  size_t cap, n;
};

static int64_t pfn_ordinal(struct pfnmap *m, uint64_t pfn) {
  if (m->n * 2 >= m->cap) {
    struct pfnmap old = *m;
    m->cap = m->cap ? m->cap * 2 : 4096;
    m->keys = xmalloc(sizeof(uint64_t) * m->cap);
    m->vals = xmalloc(sizeof(int64_t) * m->cap);
    m->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
      if (!old.keys[i]) continue;
      size_t h = (old.keys[i] * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
      while (m->keys[h]) h = (h + 1) & (m->cap - 1);
      m->keys[h] = old.keys[i];
      m->vals[h] = old.vals[i];
      m->n++;
    }
    free(old.keys);
    free(old.vals);
  }
  uint64_t key = pfn + 1;
  size_t h = (key * 0x9E3779B97F4A7C15ULL) & (m->cap - 1);
  while (m->keys[h]) {
    if (m->keys[h] == key) return m->vals[h];
    h = (h + 1) & (m->cap - 1);
  }
  m->keys[h] = key;
  m->vals[h] = (int64_t)m->n;
  /* ordinals are assigned in insertion order: n counts insertions (rehash keeps it) */
  return (int64_t)m->n++;
}

static int64_t label_of(uint64_t e, struct pfnmap *m) {
  if (e & PM_PRESENT) {
    uint64_t pfn = e & PM_PFN_MASK;
    if (pfn == zero_pfn) return -2;
    if (huge_zero_pfn && pfn >= huge_zero_pfn && pfn < huge_zero_pfn + 512) return -2;
    return pfn_ordinal(m, pfn);
  }
  if (e & (PM_SWAP | PM_GUARD)) return -3;
  return -1;
}

static int bit_get(const uint64_t *bits, uint64_t i) { return (int)((bits[i / 64] >> (i % 64)) & 1); }

static void bits_set(uint64_t *bits, uint64_t from, uint64_t count, int v) {
  for (uint64_t i = from; i < from + count; i++) {
    if (v) bits[i / 64] |= 1ULL << (i % 64);
    else bits[i / 64] &= ~(1ULL << (i % 64));
  }
}

static void emit_sharing(struct sb *b) {
  struct pfnmap m = {0};
  const size_t chunk = 65536;
  uint64_t *buf = xmalloc(sizeof(uint64_t) * chunk);
  int first = 1;
  sb_puts(b, "\"sharing\":{");
  for (int p = 0; p < nprocs; p++) {
    if (!procs[p].alive) continue;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/pagemap", (int)procs[p].pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open %s: %s", path, strerror(errno));
    for (int k = 0; k < procs[p].norder; k++) {
      int ri = procs[p].order[k];
      const struct region *r = &regions[ri];
      const uint64_t *bits = procs[p].mapped[ri];
      char key[512];
      snprintf(key, sizeof key, "%s/%s", procs[p].name, r->name);
      if (!first) sb_puts(b, ",");
      first = 0;
      sb_json_string(b, key);
      sb_puts(b, ":[");
      for (uint64_t at = 0; at < r->pages; at += chunk) {
        uint64_t n = r->pages - at < chunk ? r->pages - at : chunk;
        ssize_t want = (ssize_t)(n * 8);
        if (pread(fd, buf, (size_t)want, (off_t)((r->addr / PAGE + at) * 8)) != want) {
          die("cannot read %s: %s", path, strerror(errno));
        }
        for (uint64_t i = 0; i < n; i++) {
          int64_t l = bit_get(bits, at + i) ? label_of(buf[i], &m) : -1;
          sb_printf(b, at + i ? ",%" PRId64 : "%" PRId64, l);
        }
      }
      sb_puts(b, "]");
    }
    close(fd);
  }
  sb_puts(b, "}");
  free(buf);
  free(m.keys);
  free(m.vals);
}

static void emit_report(const char *label) {
  struct sb *b = &reports_json;
  long long c[NCOUNTERS];
  read_counters(c);
  if (nreports++) sb_puts(b, ",");
  sb_puts(b, "{\"label\":");
  sb_json_string(b, label);
  sb_puts(b, ",\"ksm\":{");
  for (size_t i = 0, n = 0; i < NCOUNTERS; i++) {
    if (have_counter[i]) sb_printf(b, "%s\"%s\":%lld", n++ ? "," : "", COUNTERS[i], c[i]);
  }
  if (khugepaged_report) {
    sb_printf(b, "},\"khugepaged\":{\"full_scans\":%lld,\"pages_collapsed\":%lld",
              ksm_counter(KHUGEPAGED_PREFIX "full_scans") - khugepaged_base, khugepaged_collapsed);
  }
  sb_puts(b, "},\"procs\":{");
  int first = 1;
  for (int p = 0; p < nprocs; p++) {
    if (!procs[p].alive) continue;
    struct ksm_stat st;
    read_ksm_stat(p, &st);
    if (!first) sb_puts(b, ",");
    first = 0;
    sb_json_string(b, procs[p].name);
    /* fields this kernel's ksm_stat lacks are left out */
    sb_printf(b, ":{\"ksm_rmap_items\":%lld", st.rmap_items);
    if (st.have & ST_ZERO_PAGES) sb_printf(b, ",\"ksm_zero_pages\":%lld", st.zero_pages);
    if (st.have & ST_MERGING_PAGES) sb_printf(b, ",\"ksm_merging_pages\":%lld", st.merging_pages);
    if (st.have & ST_PROCESS_PROFIT) sb_printf(b, ",\"ksm_process_profit\":%lld", st.process_profit);
    if (st.have & ST_MERGE_ANY) sb_printf(b, ",\"ksm_merge_any\":%s", st.merge_any ? "true" : "false");
    if (st.have & ST_MERGEABLE) sb_printf(b, ",\"ksm_mergeable\":%s", st.mergeable ? "true" : "false");
    sb_printf(b, ",\"smaps\":{\"Rss\":%lld,\"Anonymous\":%lld", st.rss, st.anon);
    if (st.have & ST_SMAPS_KSM) sb_printf(b, ",\"KSM\":%lld", st.ksm);
    sb_puts(b, "}}");
  }
  sb_puts(b, "},");
  emit_sharing(b);
  sb_puts(b, "}");
}

/* ------------------------------------------------------------------------------------------ */
/* ksmd: exact full scans                                                                      */

/* The pid of the kernel thread named comm (a child of kthreadd: ksmd, khugepaged), 0 when not
 * found. */
static pid_t find_kthread(const char *comm) {
  char want[40];
  snprintf(want, sizeof want, "(%s) ", comm);
  size_t wn = strlen(want);
  DIR *d = opendir("/proc");
  if (!d) return 0;
  struct dirent *e;
  pid_t found = 0;
  while (!found && (e = readdir(d))) {
    if (!isdigit((unsigned char)e->d_name[0])) continue;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%.32s/stat", e->d_name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) continue;
    buf[n] = 0;
    char state;
    int ppid;
    if (!strncmp(strchr(buf, '(') ? strchr(buf, '(') : "", want, wn) &&
        sscanf(strstr(buf, ") ") + 2, "%c %d", &state, &ppid) == 2 && ppid == 2) {
      found = (pid_t)atoi(e->d_name);
    }
  }
  closedir(d);
  return found;
}

/* A kernel thread's scheduler state. ksmd is 'S' only in its two interruptible waits (between
 * batches, or stopped), khugepaged only in khugepaged_wait_work() (or khugepaged_alloc_sleep()
 * after a failed THP allocation); a batch runs as 'R' and blocks as 'D' (mmap lock, page lock,
 * reclaim, lru drain). */
static char thread_state(pid_t pid) {
  char buf[256];
  if (read_proc(pid, "stat", buf, sizeof buf) <= 0) return '?';
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

/* How many times a thread went to sleep (voluntary_ctxt_switches in /proc/<pid>/status), -1 when
 * unreadable. */
static long long thread_sleeps(pid_t pid) {
  char buf[2048];
  if (read_proc(pid, "status", buf, sizeof buf) <= 0) return -1;
  char *p = strstr(buf, "\nvoluntary_ctxt_switches:");
  return p ? strtoll(p + 26, NULL, 10) : -1;
}

/* A sleep_millisecs value ksmd cannot have read before: its wait ends when the value differs from
 * the one it read, so rewriting an old value (say a previous step's, which ksmd read just before
 * a stop it has not yet processed) would not wake it. Seeded per process, so a run right after
 * another does not start where that one stopped. */
static void next_scan_sleep(char *out, size_t n) {
  static uint64_t gen;
  if (!gen) gen = (uint64_t)getpid() * 7919 + now_ms();
  snprintf(out, n, "%llu", (unsigned long long)(SCAN_SLEEP_MS + gen++ % 100000));
}

/* 1 when pid has a VM_MERGEABLE VMA (ksm_stat "ksm_mergeable: yes"). */
static int has_mergeable_vma(pid_t pid) {
  char buf[512];
  if (read_proc(pid, "ksm_stat", buf, sizeof buf) <= 0) return 0;
  if (!strstr(buf, "ksm_mergeable")) return smaps_has_mergeable(pid);
  return strstr(buf, "ksm_mergeable: yes") != NULL;
}

/*
 * Whether ksmd has an mm to scan, i.e. will complete further full scans. A process that used
 * KSM but has no VM_MERGEABLE VMA left (MADV_UNMERGEABLE, PR_SET_MEMORY_MERGE 0, munmap) keeps
 * its mm_slot only until ksmd's next pass, which drops it (scan_get_next_rmap_item: no
 * VM_MERGEABLE VMA -> slot freed) and still ends promptly; after that ksmd_should_run() is false
 * and no full scan ever ends. (run=2 drops every mm_slot but leaves VM_MERGEABLE set, so this is
 * only an upper bound; ksmd_idle_again() is exact where ksmd can be watched.)
 */
static int any_registered(void) {
  for (int p = 0; p < nprocs; p++) {
    if (procs[p].alive && procs[p].registered && has_mergeable_vma(procs[p].pid)) return 1;
  }
  return 0;
}

/*
 * Whether ksmd, woken after it had gone to sleep `slept` times, has since been through its loop
 * and is asleep again: it then ran its batch (a whole full scan) if it had an mm to scan, so no
 * scan is still coming. Inside a scan ksmd sleeps only uninterruptibly (lru_add_drain_all(), the
 * mmap_lock, ksm_thread_mutex: state 'D'); 'S' is one of its two waits in ksm_scan_thread().
 */
static int ksmd_idle_again(pid_t ksmd, long long slept, uint64_t waited) {
  if (!ksmd || slept < 0) return !any_registered() && waited > SCAN_IDLE_MS;
  return waited >= SCAN_IDLE_MIN_MS && thread_sleeps(ksmd) > slept && thread_state(ksmd) == 'S';
}

/*
 * Runs ksmd for up to `max` more full scans (converge: stop earlier after the first scan whose
 * counters equal the previous scan's, at least two scans). pages_to_scan is raised so that one
 * batch is exactly one full scan, after which ksmd sleeps sleep_millisecs; each further scan is
 * started by changing sleep_millisecs (sleep_millisecs_store() wakes ksmd), and run=0 is written
 * while ksmd sleeps after the last one. The change is made only once ksmd is in its sleep (state
 * 'S' in /proc/<ksmd>/stat): changed earlier, ksmd would read the new value and sleep through it
 * (a lost wake-up, which only costs the sleep, but happens all the time on a busy machine).
 * Returns 0, or -1 with a message in err.
 */
static int ksm_scans(long max, int converge, long *done_out, int *converged, char *err, size_t errlen) {
  char ps[64], sm[64], mode[64];
  *done_out = 0;
  *converged = 0;
  if (ksm_read("advisor_mode", mode, sizeof mode) == 0 && strcmp(mode, "none") != 0) {
    snprintf(err, errlen, "exact full scans need advisor_mode=none on the kernel side (it is %s)", mode);
    return -1;
  }
  if (ksm_read("pages_to_scan", ps, sizeof ps) || ksm_read("sleep_millisecs", sm, sizeof sm)) {
    snprintf(err, errlen, "cannot read pages_to_scan/sleep_millisecs");
    return -1;
  }
  static pid_t ksmd = -1;
  if (ksmd < 0) ksmd = find_kthread("ksmd");
  ksm_write("run", "0"); /* a scenario's own "knob run 1" would make the count inexact */
  long long base = ksm_counter("full_scans");
  int e;
  char cur[32];
  next_scan_sleep(cur, sizeof cur);
  /* counted before the writes that wake ksmd: with nothing to scan it is asleep again at once */
  long long slept = ksmd ? thread_sleeps(ksmd) : -1;
  if ((e = ksm_write("pages_to_scan", SCAN_BATCH)) || (e = ksm_write("sleep_millisecs", cur)) ||
      (e = ksm_write("run", "1"))) {
    snprintf(err, errlen, "cannot start ksmd: %s", strerror(e));
    ksm_write("run", "0");
    return -1;
  }
  long long prev[NCOUNTERS], now[NCOUNTERS];
  long done = 0;
  int rc = 0;
  uint64_t since = now_ms();
  for (;;) {
    long long v = ksm_counter("full_scans") - base;
    if (v > done) {
      if (trace) fprintf(stderr, "mmsim-oracle: full scan %lld after %" PRIu64 " ms\n", v, now_ms() - since);
      if (v > done + 1) {
        snprintf(err, errlen, "ksmd ran %lld full scans where %ld were wanted", v, done + 1);
        rc = -1;
        break;
      }
      done++;
      if (converge) {
        read_counters(now);
        int same = done >= 2;
        for (size_t i = 0; same && i < NCOUNTERS; i++) {
          if (counter_converges(i) && now[i] != prev[i]) same = 0;
        }
        memcpy(prev, now, sizeof now);
        if (same) {
          *converged = 1;
          break;
        }
      }
      if (done >= max) break;
      uint64_t t = now_ms();
      while (ksmd && thread_state(ksmd) != 'S' && now_ms() - t < 2000) sleep_us(50);
      if (trace && now_ms() - t > 0) fprintf(stderr, "mmsim-oracle: ksmd asleep after %" PRIu64 " ms\n", now_ms() - t);
      next_scan_sleep(cur, sizeof cur);
      slept = ksmd ? thread_sleeps(ksmd) : -1;
      ksm_write("sleep_millisecs", cur);
      /* run=1 again wakes ksmd where the scan left it with nothing to scan (its other wait,
       * on ksm_thread_wait; run_store() wakes it on every write of 1), so that it is seen
       * going back to sleep */
      ksm_write("run", "1");
      since = now_ms();
      continue;
    }
    uint64_t waited = now_ms() - since;
    if (ksmd_idle_again(ksmd, slept, waited)) {
      /* nothing for ksmd to scan (no mm_slot: none registered, or run=2 removed them all); a
       * scan it had to make would have ended first */
      if (ksm_counter("full_scans") - base == done) break;
      continue;
    }
    if (waited > SCAN_STALL_MS) {
      snprintf(err, errlen, "ksmd made no full scan in %d s", SCAN_STALL_MS / 1000);
      rc = -1;
      break;
    }
    sleep_us(300);
  }
  ksm_write("run", "0");
  long long after = ksm_counter("full_scans") - base;
  if (rc == 0 && after != done) {
    snprintf(err, errlen, "ksmd ran %lld full scans where %ld were wanted (stopped too late)", after, done);
    rc = -1;
  }
  if (ksm_write("pages_to_scan", ps) || ksm_write("sleep_millisecs", sm)) {
    snprintf(err, errlen, "cannot restore pages_to_scan=%s sleep_millisecs=%s", ps, sm);
    rc = -1;
  }
  *done_out = done;
  return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* khugepaged: held off during a run, driven for exact full scans                              */

#define PMD_BYTES (2ULL << 20)

/* ------------------------------------------------------------------------------------------ */
/* ksmd over wall time (mmsim verify --for)                                                    */

/* ksmd's CPU time: utime + stime of /proc/<pid>/stat (clock ticks) and the scheduler's
 * sum_exec_runtime, the first field of /proc/<pid>/schedstat (ns; -1 without schedstats). */
static int ksmd_cpu(pid_t pid, long long *ticks, long long *runtime_ns) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return EIO;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  unsigned long long ut, st;
  /* after the comm: state(3) ... utime(14) stime(15) */
  if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return EIO;
  *ticks = (long long)(ut + st);
  *runtime_ns = -1;
  snprintf(path, sizeof path, "/proc/%d/schedstat", (int)pid);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n > 0) {
      buf[n] = 0;
      *runtime_ns = strtoll(buf, NULL, 10);
    }
  }
  return 0;
}

/* The counters a timed sample holds, in the sample line's order. */
static const char *const TIMED_COUNTERS[] = {"pages_shared",  "pages_sharing",  "pages_unshared",
                                             "pages_volatile", "full_scans",    "pages_scanned",
                                             "ksm_zero_pages", "general_profit", "pages_to_scan"};
#define NTIMED (sizeof TIMED_COUNTERS / sizeof TIMED_COUNTERS[0])

/*
 * Starts ksmd (run=1) with the knobs the scenario set and lets it run for `ms` milliseconds,
 * printing on stderr, just before run=1 is written (t 0) and every `sample` ms after, one line
 * "mmsim-oracle: sample <t_ms> <counters of TIMED_COUNTERS> <ksmd ticks> <ticks per second>
 * <ksmd runtime ns>" through `emit` (stderr in a scenario run, stdout in a session); then run=0.
 * The kernel's counters are printed as read (not relative).
 */
static int ksm_timed(long long ms, long long sample, void (*emit)(const char *), char *err, size_t errlen) {
  if (ms < 0 || sample <= 0) die("stream: ksm_timed: bad duration or sample interval");
  pid_t ksmd = find_kthread("ksmd");
  if (!ksmd) {
    snprintf(err, errlen, "ksmd not found in /proc");
    return 1;
  }
  long hz = sysconf(_SC_CLK_TCK);
  uint64_t t0 = now_ms();
  for (long long k = 0;; k++) {
    uint64_t due = t0 + (uint64_t)(k * sample);
    uint64_t now = now_ms();
    if (now < due) sleep_us((long)(due - now) * 1000);
    long long ticks = 0, runtime = -1;
    if (ksmd_cpu(ksmd, &ticks, &runtime)) {
      ksm_write("run", "0");
      snprintf(err, errlen, "cannot read ksmd's CPU time in /proc/%d", (int)ksmd);
      return 1;
    }
    struct sb line = {0};
    sb_printf(&line, "mmsim-oracle: sample %" PRIu64, now_ms() - t0);
    for (size_t i = 0; i < NTIMED; i++) {
      char buf[64];
      sb_printf(&line, " %lld", ksm_read(TIMED_COUNTERS[i], buf, sizeof buf) == 0 ? strtoll(buf, NULL, 10) : -1);
    }
    sb_printf(&line, " %lld %ld %lld\n", ticks, hz, runtime);
    emit(line.p);
    free(line.p);
    if (k * sample >= ms) break;
    if (k == 0) {
      int e = ksm_write("run", "1");
      if (e) {
        snprintf(err, errlen, "cannot start ksmd: %s", strerror(e));
        return 1;
      }
      t0 = now_ms();
    }
  }
  ksm_write("run", "0");
  return 0;
}

/*
 * Keeps khugepaged's mm list non-empty for the whole run: a process of the oracle's own (not an
 * ancestor of the scenario's processes, which khugepaged_fork() would register with it) faults a
 * THP in a MADV_HUGEPAGE VMA, and do_huge_pmd_anonymous_page() registers its mm. With an empty
 * list khugepaged waits for work without a timeout, and the first registration (__khugepaged_enter()
 * of a scenario process) would wake it for a scan at once; with a non-empty list it sleeps
 * scan_sleep_millisecs, which the oracle holds at its maximum. The PMD-mapped THP gives
 * SCAN_PMD_MAPPED, so a scan passes over it without collapsing anything (MADV_COLLAPSE makes it
 * a THP if the fault fell back to small pages).
 */
static void start_sentinel(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", strerror(errno));
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(p[0]);
    char ok = 0;
    char *m = mmap(NULL, 2 * PMD_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
      char *a = (char *)(((uintptr_t)m + PMD_BYTES - 1) & ~(uintptr_t)(PMD_BYTES - 1));
      if (madvise(a, PMD_BYTES, MADV_HUGEPAGE) == 0) {
        *(volatile char *)a = 1;
        ok = madvise(a, PMD_BYTES, MADV_COLLAPSE) == 0 ? 2 : 1;
      }
    }
    (void)!write(p[1], &ok, 1);
    for (;;) pause();
  }
  close(p[1]);
  char ok = 0;
  int r = read_full(p[0], &ok, 1);
  close(p[0]);
  sentinel_pid = pid;
  if (r != 1 || !ok) die("the khugepaged sentinel process failed");
  sentinel_thp = ok == 2;
}

/*
 * One khugepaged_do_scan(): wake khugepaged (scan_sleep_millisecs_store() clears
 * khugepaged_sleep_expire and wakes it) and wait until it is back in khugepaged_wait_work():
 * asleep ('S') after a voluntary switch since the write. Called only while it sleeps there, so
 * the wake-up is not lost. Returns 0, or -1 with a message in err.
 */
static int khugepaged_pass(char *err, size_t errlen) {
  if (khugepaged_pid < 0) khugepaged_pid = find_kthread("khugepaged");
  if (!khugepaged_pid) {
    snprintf(err, errlen, "no khugepaged thread (THP disabled?)");
    return -1;
  }
  long long slept = thread_sleeps(khugepaged_pid);
  int e = ksm_write(KHUGEPAGED_PREFIX "scan_sleep_millisecs", KHUGEPAGED_HOLD);
  if (e) {
    snprintf(err, errlen, "cannot write khugepaged/scan_sleep_millisecs: %s", strerror(e));
    return -1;
  }
  uint64_t t = now_ms();
  while (!(thread_sleeps(khugepaged_pid) > slept && thread_state(khugepaged_pid) == 'S')) {
    if (now_ms() - t > KHUGEPAGED_STALL_MS) {
      snprintf(err, errlen, "khugepaged did not finish a scan in %d s", KHUGEPAGED_STALL_MS / 1000);
      return -1;
    }
    sleep_us(200);
  }
  return 0;
}

/*
 * Holds khugepaged off for the run: the sentinel keeps its list non-empty, pages_to_scan and
 * scan_sleep_millisecs go to KHUGEPAGED_HOLD (both journaled), and two passes leave it asleep
 * with its cursor at the list head: a scan already under way (woken by the sentinel's
 * registration, or by the previous run's restore) read the old pages_to_scan and may stop inside
 * the list, losing the first wake-up; the second pass then scans on from there to the head.
 * Nothing to hold where the kernel has no khugepaged.
 */
static void hold_khugepaged(void) {
  if (!have_knob[K_KHUGEPAGED_SCAN_SLEEP] || !have_knob[K_KHUGEPAGED_PAGES_TO_SCAN]) return;
  if (!find_kthread("khugepaged")) return;
  start_sentinel();
  char err[256];
  int e = ksm_write(KHUGEPAGED_PREFIX "pages_to_scan", KHUGEPAGED_HOLD);
  if (e) refuse("cannot write khugepaged/pages_to_scan: %s", strerror(e));
  if (khugepaged_pass(err, sizeof err) || khugepaged_pass(err, sizeof err)) refuse("cannot hold khugepaged off: %s", err);
  khugepaged_base = ksm_counter(KHUGEPAGED_PREFIX "full_scans");
}

/*
 * Holds DAMON's access sampling off for the run. A kdamond (this machine runs one from boot:
 * physical-address monitoring for a page-cache pageout scheme) samples random pages every sample
 * interval on its own clock, and each sample changes what the scenario's steps see:
 * damon_ptep_mkold() (mm/damon/ops-common.c 6.18) clears a young PTE and sets the folio's
 * PG_young instead, which khugepaged's young check counts (folio_test_young() in
 * hpage_collapse_scan_pmd()) even after the young PTEs are gone — seed 200169: a PTE-mapped THP
 * whose young mapping was zapped, left mapped by a forked child's old PTEs, was collapsed when a
 * sample had hit it (more often on a loaded machine, where the steps take longer) and refused
 * otherwise — and the folio reference a sample holds makes a concurrent split_huge_page() or
 * write_protect_page() of ksmd fail. Turning the kdamond off stops it (kthread_stop()); the
 * journal turns it on again after the run, which restarts its monitoring.
 */
static void hold_damon(void) {
  char cur[16];
  if (!have_knob[K_DAMON_STATE] || strcmp(saved_knob[K_DAMON_STATE], "on") != 0) return;
  /* already off: a killed run's hold, which the journal turns on again at the end (writing "off"
   * to a stopped kdamond is EPERM) */
  if (ksm_read(KNOBS[K_DAMON_STATE], cur, sizeof cur) == 0 && strcmp(cur, "off") == 0) return;
  int e = ksm_write(KNOBS[K_DAMON_STATE], "off");
  if (e) refuse("cannot turn DAMON's kdamond 0 off: %s", strerror(e));
}

/* kB of PMD-mapped THPs (AnonHugePages) in the scenario's regions of its live processes. */
static long long scenario_thp_kb(void) {
  long long kb = 0;
  for (int p = 0; p < nprocs; p++) {
    if (!procs[p].created || !procs[p].alive) continue;
    struct ksm_stat st;
    read_ksm_stat(p, &st);
    kb += st.thp;
  }
  return kb;
}

/*
 * `khugepaged_scan N`: N passes from the list head, each exactly one full scan. The collapses are
 * counted in the scenario's own regions (the growth of their AnonHugePages: the processes wait
 * while khugepaged runs, and khugepaged only ever adds PMD mappings), since pages_collapsed also
 * counts other processes' collapses, which a busy machine has (Node keeps MADV_HUGEPAGE heaps).
 */
static int khugepaged_scans(long n, char *err, size_t errlen) {
  if (!sentinel_pid) {
    snprintf(err, errlen, "khugepaged is not held off in this run (no khugepaged_hold in the stream)");
    return -1;
  }
  if (!sentinel_thp) {
    snprintf(err, errlen, "the oracle's khugepaged sentinel got no THP, so a scan could collapse it");
    return -1;
  }
  for (long i = 0; i < n; i++) {
    long long before = ksm_counter(KHUGEPAGED_PREFIX "full_scans");
    long long thp = scenario_thp_kb();
    if (khugepaged_pass(err, errlen)) return -1;
    khugepaged_collapsed += (scenario_thp_kb() - thp) / (long long)(PMD_BYTES / 1024);
    long long d = ksm_counter(KHUGEPAGED_PREFIX "full_scans") - before;
    if (d != 1) {
      snprintf(err, errlen, "khugepaged made %lld full scans where 1 was wanted (a THP allocation failed?)", d);
      return -1;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* running the steps                                                                           */

static const char *arg(const struct step *s, int i) {
  if (i >= s->argc) die("stream: step %d (%s): missing argument %d", s->index, s->argv[0], i);
  return s->argv[i];
}

static int proc_arg(const struct step *s, int i) {
  long long p = num(arg(s, i), "proc");
  if (p < 0 || p >= nprocs) die("stream: step %d: bad proc %lld", s->index, p);
  return (int)p;
}

static int region_arg(const struct step *s, int i) {
  long long r = num(arg(s, i), "region");
  if (r < 0 || r >= nregions) die("stream: step %d: bad region %lld", s->index, r);
  return (int)r;
}

static void need_live(const struct step *s, int p) {
  if (!procs[p].alive) die("stream: step %d: process %s is not alive", s->index, procs[p].name);
}

static void need_region(const struct step *s, int p, int r, uint64_t from, uint64_t count) {
  if (!procs[p].mapped[r]) die("stream: step %d: %s has no region %s", s->index, procs[p].name, regions[r].name);
  if (from + count > regions[r].pages || count == 0) die("stream: step %d: range outside region", s->index);
}

/* Checks the outcome against expect_errno; records a failure. Returns 0 to stop the run. */
static int outcome(const struct step *s, int err) {
  if (err == s->expect_errno) return 1;
  if (!s->expect_errno) {
    add_failure(s, "failed with %s (%s)", errname(err), strerror(err));
  } else if (!err) {
    add_failure(s, "expected errno %s, but the step succeeded", errname(s->expect_errno));
  } else {
    add_failure(s, "expected errno %s, got %s (%s)", errname(s->expect_errno), errname(err), strerror(err));
  }
  return 0;
}

/* Writes the scenario's files into a new private directory (under $TMPDIR or /tmp): every page
 * written, so every page is in the page cache when a region maps the file. */
static void create_files(void) {
  static uint8_t page[PAGE];
  if (nfiles == 0) return;
  const char *tmp = getenv("TMPDIR");
  snprintf(files_dir, sizeof files_dir, "%s/mmsim-oracle-XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
  if (!mkdtemp(files_dir)) {
    int e = errno;
    files_dir[0] = 0;
    die("mkdtemp: %s", strerror(e));
  }
  for (int i = 0; i < nfiles; i++) {
    struct file *f = &files[i];
    snprintf(f->path, sizeof f->path, "%s/f%d", files_dir, i);
    int fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) die("cannot create %s: %s", f->path, strerror(errno));
    for (uint64_t k = 0; k < f->pages; k++) {
      fill_page(f->kind, f->value_or_k, f->seed, f->blocked, k, f->pages, page);
      if (write_full(fd, page, PAGE) < 0) die("cannot write %s: %s", f->path, strerror(errno));
    }
    close(fd);
  }
}

static void spawn_proc(int p, struct rep *r) {
  pid_t pid = fork();
  if (pid < 0) {
    r->err = errno;
    return;
  }
  if (pid == 0) {
    become_helper(p);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != orchestrator_pid) _exit(0);
    helper_loop(p);
    _exit(0);
  }
  for (int q = 0; q < nprocs; q++) {
    if (is_descendant(q, p)) {
      close_fd(&procs[q].cmd_r);
      close_fd(&procs[q].rep_w);
    }
  }
  procs[p].pid = pid;
  procs[p].spawned_by_us = 1;
}

static void lost_helper(const struct step *s, int p) {
  die("step %d (%s): helper process for %s (pid %d) died", s->index, s->argv[0], procs[p].name, (int)procs[p].pid);
}

/* Runs one step; returns 0 when the run must stop. */
static int run_step(struct step *s) {
  const char *op = s->argv[0];
  struct cmd c;
  struct rep r = {0, 0, 0};
  memset(&c, 0, sizeof c);

  if (!strcmp(op, "spawn")) {
    int p = proc_arg(s, 1);
    if (procs[p].created || procs[p].parent != -1) die("stream: step %d: bad spawn", s->index);
    spawn_proc(p, &r);
    if (!r.err) procs[p].created = procs[p].alive = 1;
    return outcome(s, r.err);
  }
  if (!strcmp(op, "mmap")) {
    int p = proc_arg(s, 1), ri = region_arg(s, 2);
    need_live(s, p);
    struct region *reg = &regions[ri];
    c.op = H_MMAP;
    c.addr = reg->addr;
    c.len = reg->pages * PAGE;
    c.a = unum(arg(s, 3), "prot");
    c.b = (uint64_t)reg->shared;
    c.c = (uint64_t)reg->thp;
    c.d = (uint64_t)(reg->file + 1);
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    if (!r.err) {
      procs[p].mapped[ri] = xmalloc(sizeof(uint64_t) * (reg->pages / 64 + 1));
      bits_set(procs[p].mapped[ri], 0, reg->pages, 1);
      procs[p].order[procs[p].norder++] = ri;
    }
    return outcome(s, r.err);
  }
  if (!strcmp(op, "fill") || !strcmp(op, "touch") || !strcmp(op, "madvise") || !strcmp(op, "mprotect") ||
      !strcmp(op, "munmap")) {
    int p = proc_arg(s, 1), ri = region_arg(s, 2);
    uint64_t from = unum(arg(s, 3), "from"), count = unum(arg(s, 4), "count");
    need_live(s, p);
    need_region(s, p, ri, from, count);
    c.addr = regions[ri].addr + from * PAGE;
    c.len = count * PAGE;
    if (!strcmp(op, "fill")) {
      c.op = H_FILL;
      c.len = count; /* pages */
      const char *kind = arg(s, 5);
      if (!strcmp(kind, "zero")) c.a = FILL_ZERO;
      else if (!strcmp(kind, "byte")) {
        c.a = FILL_BYTE;
        c.b = unum(arg(s, 6), "byte");
      } else if (!strcmp(kind, "ids")) {
        c.a = FILL_IDS;
        c.b = unum(arg(s, 6), "count");
        c.c = unum(arg(s, 7), "seed");
        c.d = unum(arg(s, 8), "blocked");
        if (c.b == 0 || c.b > 0xffffffffULL || c.c > 0xffffffffULL) die("stream: step %d: bad ids", s->index);
      } else {
        die("stream: step %d: unknown pattern %s", s->index, kind);
      }
    } else if (!strcmp(op, "touch")) {
      c.op = H_TOUCH;
      c.len = count;
    } else if (!strcmp(op, "madvise")) {
      c.op = H_MADVISE;
      c.a = unum(arg(s, 5), "advice");
      if (c.a == 100 || c.a == 101) die("stream: step %d: MADV_HWPOISON/MADV_SOFT_OFFLINE are never run", s->index);
    } else if (!strcmp(op, "mprotect")) {
      c.op = H_MPROTECT;
      c.a = unum(arg(s, 5), "prot");
    } else {
      c.op = H_MUNMAP;
    }
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    if (!r.err) {
      if (c.op == H_MUNMAP) bits_set(procs[p].mapped[ri], from, count, 0);
      if (c.op == H_MADVISE && c.a == MADV_MERGEABLE) procs[p].registered = 1;
    }
    return outcome(s, r.err);
  }
  if (!strcmp(op, "write")) {
    int p = proc_arg(s, 1), ri = region_arg(s, 2);
    uint64_t page = unum(arg(s, 3), "page"), offset = unum(arg(s, 4), "offset");
    need_live(s, p);
    need_region(s, p, ri, page, 1);
    if (offset >= PAGE) die("stream: step %d: bad offset", s->index);
    c.op = H_WRITE;
    c.addr = regions[ri].addr + page * PAGE + offset;
    c.a = unum(arg(s, 5), "value");
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    return outcome(s, r.err);
  }
  if (!strcmp(op, "prctl")) {
    int p = proc_arg(s, 1);
    need_live(s, p);
    c.op = H_PRCTL;
    c.a = unum(arg(s, 2), "option");
    c.b = unum(arg(s, 3), "arg2");
    c.c = unum(arg(s, 4), "arg3");
    c.d = unum(arg(s, 5), "arg4");
    c.len = unum(arg(s, 6), "arg5");
    long long expect_value = num(arg(s, 7), "expect_value"); /* -1: none */
    if (c.a != PR_SET_MEMORY_MERGE && c.a != PR_GET_MEMORY_MERGE)
      die("stream: step %d: unsupported prctl %" PRIu64, s->index, c.a);
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    if (!r.err && c.a == PR_SET_MEMORY_MERGE && c.b) procs[p].registered = 1;
    if (!outcome(s, r.err)) return 0;
    /* As an errno other than the expected one, a wrong return value ends the run. */
    if (!r.err && expect_value >= 0 && r.value != expect_value) {
      add_failure(s, "returned %lld, expected %lld", (long long)r.value, expect_value);
      return 0;
    }
    return 1;
  }
  if (!strcmp(op, "fork")) {
    int p = proc_arg(s, 1), ch = proc_arg(s, 2);
    need_live(s, p);
    if (procs[ch].created || procs[ch].parent != p) die("stream: step %d: bad fork", s->index);
    c.op = H_FORK;
    c.child = ch;
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    if (!r.err) {
      struct rep cr;
      if (read_full(procs[ch].rep_r, &cr, sizeof cr) != 1) die("step %d: forked child did not report", s->index);
      struct proc *child = &procs[ch];
      child->pid = (pid_t)cr.value;
      child->created = child->alive = 1;
      child->registered = procs[p].registered;
      child->norder = procs[p].norder;
      memcpy(child->order, procs[p].order, sizeof(int) * (size_t)procs[p].norder);
      for (int k = 0; k < procs[p].norder; k++) {
        int ri = procs[p].order[k];
        size_t words = regions[ri].pages / 64 + 1;
        child->mapped[ri] = xmalloc(sizeof(uint64_t) * words);
        memcpy(child->mapped[ri], procs[p].mapped[ri], sizeof(uint64_t) * words);
      }
    }
    return outcome(s, r.err);
  }
  if (!strcmp(op, "exit")) {
    int p = proc_arg(s, 1);
    need_live(s, p);
    c.op = H_EXIT;
    if (helper_call(p, &c, &r)) lost_helper(s, p);
    /* EOF on the reply pipe: the helper's files are closed, so exit_mm() (and ksm_exit()) ran */
    for (;;) {
      char x;
      ssize_t n = read(procs[p].rep_r, &x, 1);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      break;
    }
    close_fd(&procs[p].cmd_w);
    close_fd(&procs[p].rep_r);
    if (procs[p].spawned_by_us) waitpid(procs[p].pid, NULL, 0);
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    procs[p].alive = 0;
    return outcome(s, 0);
  }
  if (!strcmp(op, "knob")) {
    const char *name = arg(s, 1);
    char *value = decode_token(arg(s, 2));
    int e = ksm_write(name, value);
    free(value);
    return outcome(s, e);
  }
  if (!strcmp(op, "ksm_scan") || !strcmp(op, "ksm_converge")) {
    int converge = !strcmp(op, "ksm_converge");
    long n = (long)num(arg(s, 1), "full scans");
    long done;
    int converged;
    char err[256];
    if (ksm_scans(n, converge, &done, &converged, err, sizeof err)) {
      add_failure(s, "%s", err);
      return 0;
    }
    if (converge && !converged && any_registered()) {
      add_failure(s, "counters still changing after %ld full scans", done);
    }
    return outcome(s, 0);
  }
  if (!strcmp(op, "ksm_timed")) {
    char err[256];
    if (ksm_timed(num(arg(s, 1), "duration ms"), num(arg(s, 2), "sample ms"), say, err, sizeof err)) {
      add_failure(s, "%s", err);
      return 0;
    }
    return outcome(s, 0);
  }
  if (!strcmp(op, "khugepaged_scan")) {
    char err[256];
    if (khugepaged_scans((long)num(arg(s, 1), "full scans"), err, sizeof err)) {
      add_failure(s, "%s", err);
      return 0;
    }
    return outcome(s, 0);
  }
  if (!strcmp(op, "ksm_unmerge_all")) {
    int e = ksm_write("run", "2");
    ksm_write("run", "0");
    return outcome(s, e);
  }
  if (!strcmp(op, "report")) {
    char *label = decode_token(arg(s, 1));
    emit_report(label);
    free(label);
    return outcome(s, 0);
  }
  if (!strcmp(op, "expect")) {
    /* tokens: "k <counter> <value>" and "p <proc> <field> <value>" */
    long long cnt[NCOUNTERS];
    read_counters(cnt);
    struct sb msg = {0};
    for (int i = 1; i < s->argc;) {
      if (!strcmp(s->argv[i], "k")) {
        const char *name = arg(s, i + 1);
        long long want = num(arg(s, i + 2), "value");
        size_t k = 0;
        while (k < NCOUNTERS && strcmp(COUNTERS[k], name)) k++;
        if (k == NCOUNTERS) die("stream: step %d: unknown counter %s", s->index, name);
        if (!have_counter[k]) sb_printf(&msg, "%sthis kernel has no %s", msg.len ? "; " : "", name);
        else if (cnt[k] != want) sb_printf(&msg, "%s%s: expected %lld, found %lld", msg.len ? "; " : "", name, want, cnt[k]);
        i += 3;
      } else if (!strcmp(s->argv[i], "p")) {
        int p = proc_arg(s, i + 1);
        const char *field = arg(s, i + 2);
        long long want = num(arg(s, i + 3), "value");
        need_live(s, p);
        struct ksm_stat st;
        read_ksm_stat(p, &st);
        long long got;
        int lacks = (!strcmp(field, "ksm_zero_pages") && !(st.have & ST_ZERO_PAGES)) ||
                    (!strcmp(field, "ksm_merging_pages") && !(st.have & ST_MERGING_PAGES)) ||
                    (!strcmp(field, "ksm_process_profit") && !(st.have & ST_PROCESS_PROFIT)) ||
                    (!strcmp(field, "ksm_merge_any") && !(st.have & ST_MERGE_ANY)) ||
                    (!strcmp(field, "ksm_mergeable") && !(st.have & ST_MERGEABLE)) ||
                    (!strcmp(field, "smaps.KSM") && !(st.have & ST_SMAPS_KSM));
        if (!strcmp(field, "ksm_rmap_items")) got = st.rmap_items;
        else if (!strcmp(field, "ksm_zero_pages")) got = st.zero_pages;
        else if (!strcmp(field, "ksm_merging_pages")) got = st.merging_pages;
        else if (!strcmp(field, "ksm_process_profit")) got = st.process_profit;
        else if (!strcmp(field, "ksm_merge_any")) got = st.merge_any;
        else if (!strcmp(field, "ksm_mergeable")) got = st.mergeable;
        else if (!strcmp(field, "smaps.Rss")) got = st.rss;
        else if (!strcmp(field, "smaps.Anonymous")) got = st.anon;
        else if (!strcmp(field, "smaps.KSM")) got = st.ksm;
        else die("stream: step %d: unknown field %s", s->index, field);
        if (lacks) {
          sb_printf(&msg, "%sthis kernel's %s has no %s", msg.len ? "; " : "",
                    strncmp(field, "smaps.", 6) ? "ksm_stat" : "smaps", strncmp(field, "smaps.", 6) ? field : field + 6);
        } else if (got != want) {
          sb_printf(&msg, "%s%s.%s: expected %lld, found %lld", msg.len ? "; " : "", procs[p].name, field, want, got);
        }
        i += 4;
      } else {
        die("stream: step %d: bad expect token %s", s->index, s->argv[i]);
      }
    }
    if (msg.len) add_failure(s, "%s", msg.p);
    free(msg.p);
    return outcome(s, 0);
  }
  die("stream: step %d: unknown op %s", s->index, op);
}

/* ------------------------------------------------------------------------------------------ */

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigfillset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &sa, NULL);
}

static int check_mode(void) {
  check_environment();
  probe_zero_pages();
  printf("ok\n");
  return 0;
}

/* Test helper: take the lock (so no other run starts meanwhile), then become a KSM user
 * (16 identical mergeable pages) until stdin closes. */
static int hold_ksm_user(const char *lock_path, int timeout_s) {
  take_lock(lock_path, timeout_s);
  size_t len = 16 * PAGE;
  uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 1;
  memset(p, 0x5a, len);
  if (madvise(p, len, MADV_MERGEABLE) < 0) {
    fprintf(stderr, "madvise: %s\n", strerror(errno));
    return 1;
  }
  printf("ready %d\n", (int)getpid());
  fflush(stdout);
  char buf[64];
  while (read(0, buf, sizeof buf) > 0) {
  }
  return 0;
}

/* Prints every file of /sys/kernel/mm/ksm as "name value", read while holding the lock, so the
 * values are never those of a run in progress. */
static int read_ksm_locked(const char *lock_path, int timeout_s) {
  take_lock(lock_path, timeout_s);
  DIR *d = opendir(KSM_DIR);
  if (!d) refuse("cannot list %s: %s", KSM_DIR, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char v[256];
    if (ksm_read(e->d_name, v, sizeof v) == 0) printf("%s %s\n", e->d_name, v);
  }
  closedir(d);
  char j[8];
  printf("journal %s\n", pread(lock_fd, j, sizeof j, 0) > 0 ? "yes" : "no");
  return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* session: live ksmd over processes that are not a scenario's (mmsim snapshot/verify)          */

/*
 * `--session [--allow PID,...] [--keep]`: holds the lock, saves and journals the knobs and cleans KSM's
 * state (run=2, run=0, zero counters) as a scenario run does, holds khugepaged off, then serves
 * one command per stdin line, one reply line each on stdout ("error <reason>" on failure):
 *   launch <copies> <arg>...   start copies of a command (tokens %XX-encoded) with
 *                              PR_SET_MEMORY_MERGE set before exec, one after the other (each
 *                              has exec'd before the next starts: ksm_execve() registers the mms
 *                              in that order); reply "pids P...". They die with the session.
 *   knob <name> <value>        write a KSM knob (restored at the end); reply "ok"
 *   scan <n>                   n exact full scans (ksm_scans()); reply one JSON object: the
 *                              counters and, per launched or allowed pid, ksm_stat and
 *                              smaps_rollup's Rss/Anonymous/KSM/AnonHugePages in kB
 *   read                       the same JSON object without scanning
 *   adopt <pid>                a descendant of a launched process (a child it forked, KSM
 *                              inherited) is reported and killed as the launched ones; reply "ok"
 *   timed <ms> <sample>        ksmd (run=1) for ms milliseconds at the knobs set: a line
 *                              "mmsim-oracle: sample ..." every sample ms (ksm_timed()), then "ok"
 *   quit (or EOF)              kill the launched processes, restore the knobs, release the lock
 * Allowed pids are someone else's processes (stopped, KSM enabled): they are neither refused as
 * other KSM users nor killed. Without --keep they must have no merged pages yet (the clean slate's
 * run=2 would unmerge them); with --keep the clean slate is left out: ksmd's state (stable tree,
 * rmap_items, the merged pages of the allowed processes) is kept, the cumulative counters are
 * counted from the session's start. The session's end (run=2) unmerges them either way.
 */

/* The clean slate of a run: run=2, run=0, and every must-be-zero counter at zero (a count of KSM
 * zero pages the kernel leaked is taken as the base instead, see below); bases of the deltas. */
static void clean_slate(void) {
  int e = ksm_write("run", "2");
  if (e) refuse("writing run=2 failed: %s", strerror(e));
  ksm_write("run", "0");
  /* ksm_zero_pages can stay above zero with no KSM user left: Linux 6.18 loses the decrement of
   * some unmapped KSM zero pages (seen after fork/exit mixes of use_zero_pages workloads). With
   * no rmap_item left (general_profit is exactly those pages), such a leaked count is taken as
   * the scenario's base for ksm_zero_pages and general_profit instead of refused. Early 6.12.y
   * (6.12.43) underflows it instead: a forked child's copied mm->ksm_zero_pages was never added
   * to the global count but is taken away as the child unmaps them, so it can go negative. */
  long long leaked = have_counter[2] && have_counter[1] ? ksm_counter("ksm_zero_pages") : 0;
  if (leaked != 0 && ksm_counter("general_profit") == leaked * (long long)sysconf(_SC_PAGESIZE)) {
    fprintf(stderr, "mmsim-oracle: ksm_zero_pages is %lld with no KSM user (%s by the kernel); "
                    "ksm_zero_pages and general_profit are reported relative to it\n", leaked,
            leaked > 0 ? "leaked" : "underflowed");
    counter_base[1] = leaked * (long long)sysconf(_SC_PAGESIZE);
    counter_base[2] = leaked;
  }
  for (size_t i = 0; i < NCOUNTERS; i++) {
    if (!have_counter[i]) continue;
    long long v = ksm_counter(COUNTERS[i]);
    if (counter_is_delta(i)) counter_base[i] = v;
    if (counter_must_be_zero(i) && v != counter_base[i])
      refuse("KSM counter %s is %lld after run=2 (another KSM user?)", COUNTERS[i], v);
  }
}

/* --keep: ksmd's state as it is (no run=2); the cumulative counters count from here. */
static void keep_slate(void) {
  ksm_write("run", "0");
  for (size_t i = 0; i < NCOUNTERS; i++)
    if (have_counter[i] && counter_is_delta(i)) counter_base[i] = ksm_counter(COUNTERS[i]);
}

static void session_reply(const char *s) {
  if (write_full(1, s, strlen(s)) < 0) exit(1);
}

static void session_launch(int argc, char **argv) {
  long copies = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (copies < 1 || copies > 64 || argc < 3) {
    session_reply("error launch: need 1..64 copies and a command\n");
    return;
  }
  char **args = xmalloc(sizeof(char *) * (size_t)(argc - 1));
  for (int i = 2; i < argc; i++) args[i - 2] = decode_token(argv[i]);
  args[argc - 2] = NULL;
  struct sb out = {0};
  sb_puts(&out, "pids");
  for (long c = 0; c < copies; c++) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != orchestrator_pid) _exit(127);
      close(p[0]);
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
      }
      signal(SIGPIPE, SIG_DFL);
      int err = 0;
      if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) < 0) err = errno;
      else {
        execvp(args[0], args);
        err = errno;
      }
      (void)!write(p[1], &err, sizeof err);
      _exit(127);
    }
    close(p[1]);
    int err = 0;
    int r = read_full(p[0], &err, sizeof err);
    close(p[0]);
    if (r == (int)sizeof err && err) {
      waitpid(pid, NULL, 0);
      sb_printf(&out, "\n");
      free(out.p);
      char msg[512];
      snprintf(msg, sizeof msg, "error cannot start %s: %s\n", args[0], strerror(err));
      session_reply(msg);
      return;
    }
    procs = xrealloc(procs, sizeof *procs * (size_t)(nprocs + 1));
    memset(&procs[nprocs], 0, sizeof procs[nprocs]);
    procs[nprocs].name = args[0];
    procs[nprocs].pid = pid;
    procs[nprocs].created = procs[nprocs].alive = procs[nprocs].registered = 1;
    nprocs++;
    sb_printf(&out, " %d", (int)pid);
  }
  sb_puts(&out, "\n");
  session_reply(out.p);
  free(out.p);
}

/* ksm_stat's fields and smaps_rollup's sizes of one process as a JSON object. */
static void session_proc_json(struct sb *b, pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)pid);
  FILE *f = fopen(path, "re");
  sb_printf(b, "\"%d\":{", (int)pid);
  int first = 1;
  if (f) {
    while (fgets(line, sizeof line, f)) {
      char key[64], val[64];
      if (sscanf(line, "%63[^: ]%*[: ]%63s", key, val) != 2) continue;
      int yes = !strcmp(val, "yes"), no = !strcmp(val, "no");
      sb_printf(b, "%s\"%s\":", first ? "" : ",", key);
      if (yes || no) sb_puts(b, yes ? "true" : "false");
      else sb_printf(b, "%lld", atoll(val));
      first = 0;
    }
    fclose(f);
  }
  sb_printf(b, "%s\"smaps\":{", first ? "" : ",");
  snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
  f = fopen(path, "re");
  first = 1;
  if (f) {
    while (fgets(line, sizeof line, f)) {
      char key[64];
      long long kb;
      if (sscanf(line, "%63[^:]: %lld kB", key, &kb) != 2) continue;
      if (strcmp(key, "Rss") && strcmp(key, "Anonymous") && strcmp(key, "KSM") && strcmp(key, "AnonHugePages")) continue;
      sb_printf(b, "%s\"%s\":%lld", first ? "" : ",", key, kb);
      first = 0;
    }
    fclose(f);
  }
  sb_puts(b, "}}");
}

static void session_report(void);

static void session_scan(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
  if (n < 1 || n > 1000) {
    session_reply("error scan: need 1..1000 full scans\n");
    return;
  }
  char err[256], comm[64] = "";
  long done = 0;
  int converged = 0;
  /* a child a launched process forked inherits MMF_VM_MERGE_ANY: ksmd would scan it too */
  pid_t other = find_foreign_user(comm);
  if (other) {
    char msg[256];
    snprintf(msg, sizeof msg, "error pid %d (%s) uses KSM too (a child of a launched process?); its pages would be counted\n",
             (int)other, comm);
    session_reply(msg);
    return;
  }
  if (ksm_scans(n, 0, &done, &converged, err, sizeof err) || done != n) {
    char msg[400];
    snprintf(msg, sizeof msg, "error %s\n", done != n && !err[0] ? "ksmd made fewer full scans than asked" : err);
    session_reply(msg);
    return;
  }
  session_report();
}

/* pid's parent from /proc/<pid>/stat, 0 when it cannot be read. */
static pid_t ppid_of(pid_t pid) {
  char buf[512];
  if (read_proc(pid, "stat", buf, sizeof buf) <= 0) return 0;
  char state;
  int ppid;
  const char *end = strrchr(buf, ')');
  if (!end || sscanf(end + 2, "%c %d", &state, &ppid) != 2) return 0;
  return (pid_t)ppid;
}

/* Process-tree depth searched for a launched ancestor of an adopted pid. */
#define ADOPT_MAX_DEPTH 64

static void session_adopt(int argc, char **argv) {
  pid_t pid = argc == 2 ? (pid_t)atoi(argv[1]) : 0;
  int launched = 0;
  for (pid_t p = pid, depth = 0; p > 1 && depth < ADOPT_MAX_DEPTH && !launched; depth++) {
    p = ppid_of(p);
    for (int i = 0; i < nprocs; i++)
      if (procs[i].created && procs[i].alive && procs[i].pid == p) launched = 1;
  }
  if (pid <= 0 || !launched) {
    session_reply("error adopt: not a descendant of a launched process\n");
    return;
  }
  procs = xrealloc(procs, sizeof *procs * (size_t)(nprocs + 1));
  memset(&procs[nprocs], 0, sizeof procs[nprocs]);
  procs[nprocs].name = "(forked)";
  procs[nprocs].pid = pid;
  procs[nprocs].created = procs[nprocs].alive = procs[nprocs].registered = 1;
  nprocs++;
  session_reply("ok\n");
}

/* The reply of `scan` and `read`: the counters and each launched or allowed pid's ksm_stat/smaps. */
static void session_report(void) {
  struct sb b = {0};
  long long c[NCOUNTERS];
  read_counters(c);
  sb_puts(&b, "{\"ksm\":{");
  int first = 1;
  for (size_t i = 0; i < NCOUNTERS; i++) {
    if (!have_counter[i]) continue;
    sb_printf(&b, "%s\"%s\":%lld", first ? "" : ",", COUNTERS[i], c[i]);
    first = 0;
  }
  sb_puts(&b, "},\"procs\":{");
  first = 1;
  for (int p = 0; p < nprocs; p++) {
    if (!procs[p].alive) continue;
    if (!first) sb_puts(&b, ",");
    session_proc_json(&b, procs[p].pid);
    first = 0;
  }
  for (int i = 0; i < nallowed; i++) {
    if (!first) sb_puts(&b, ",");
    session_proc_json(&b, allowed[i]);
    first = 0;
  }
  sb_puts(&b, "}}\n");
  session_reply(b.p);
  free(b.p);
}

/* timed <ms> <sample>: ksmd over wall time on the session's processes (mmsim verify --snapshot
 * --for), with the knobs as the session set them: ksm_timed()'s sample lines on stdout, then "ok". */
static void session_timed(int argc, char **argv) {
  long long ms = argc > 1 ? strtoll(argv[1], NULL, 10) : -1, sample = argc > 2 ? strtoll(argv[2], NULL, 10) : 0;
  if (argc != 3 || ms < 0 || sample <= 0) {
    session_reply("error timed: need <ms> <sample ms>\n");
    return;
  }
  char comm[64] = "", err[256] = "";
  pid_t other = find_foreign_user(comm);
  if (other) {
    char msg[256];
    snprintf(msg, sizeof msg, "error pid %d (%s) uses KSM too; its pages would be counted\n", (int)other, comm);
    session_reply(msg);
    return;
  }
  if (ksm_timed(ms, sample, session_reply, err, sizeof err)) {
    char msg[300];
    snprintf(msg, sizeof msg, "error %s\n", err);
    session_reply(msg);
    return;
  }
  session_reply("ok\n");
}

static int session(const char *lock_path, int timeout_s, int keep) {
  install_signals();
  atexit(cleanup_atexit);
  take_lock(lock_path, timeout_s);
  for (int i = 0; i < nallowed && !keep; i++) {
    char buf[512];
    if (read_proc(allowed[i], "ksm_stat", buf, sizeof buf) < 0)
      refuse("pid %d: %s", (int)allowed[i], strerror(errno));
    char *m = strstr(buf, "ksm_merging_pages ");
    if (m && atoll(m + 18) > 0)
      refuse("pid %d already has merged KSM pages; run=2 would unmerge them (--keep keeps them)", (int)allowed[i]);
  }
  check_other_users();
  save_knobs();
  knobs_modified = 1;
  find_counters();
  if (keep) keep_slate();
  else clean_slate();
  hold_khugepaged();
  /* a DAMON sample's folio reference makes ksmd's write_protect_page() fail at random, which left
   * a KSM page mapped once where a merge's second half failed (snapshot's live test, under load) */
  hold_damon();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  session_reply("ready\n");
  char *line = NULL;
  size_t cap = 0;
  while (getline(&line, &cap, stdin) > 0) {
    int argc;
    char **argv = split(line, &argc);
    if (argc == 0) continue;
    if (!strcmp(argv[0], "quit")) break;
    if (!strcmp(argv[0], "launch")) session_launch(argc, argv);
    else if (!strcmp(argv[0], "scan")) session_scan(argc, argv);
    else if (!strcmp(argv[0], "read") && argc == 1) session_report();
    else if (!strcmp(argv[0], "adopt")) session_adopt(argc, argv);
    else if (!strcmp(argv[0], "timed")) session_timed(argc, argv);
    else if (!strcmp(argv[0], "knob") && argc == 3) {
      char *v = decode_token(argv[2]);
      int e = ksm_write(argv[1], v);
      free(v);
      if (e) {
        char msg[256];
        snprintf(msg, sizeof msg, "error knob %s: %s\n", argv[1], strerror(e));
        session_reply(msg);
      } else session_reply("ok\n");
    } else session_reply("error unknown command\n");
    free(argv);
  }
  free(line);
  int bad = cleanup();
  if (bad) fprintf(stderr, "mmsim-oracle: KSM knobs were not all restored (see above)\n");
  return bad;
}

static void usage(void) {
  fprintf(stderr,
          "usage: mmsim-oracle [--lock PATH] [--lock-timeout SECONDS] < instructions   run a scenario\n"
          "       mmsim-oracle --selftest      print the fill-pattern test vector and checksums\n"
          "       mmsim-oracle --check         check that a kernel-side run is possible\n"
          "       mmsim-oracle --restore       restore knobs journaled by a run that was killed\n"
          "       mmsim-oracle --read-ksm      print /sys/kernel/mm/ksm, read under the lock\n"
          "       mmsim-oracle --hold-ksm-user (tests) hold the lock and 16 mergeable pages until stdin closes\n"
          "       mmsim-oracle --session [--allow PID,...] [--keep]  live ksmd over launched or given processes\n"
          "       --pause-at STEP              (tests) stop before that step until a signal\n");
}

/*
 * Run the scenario's processes on one CPU (the oracle's current one; forked helpers inherit the
 * affinity). A page just faulted in waits in that CPU's LRU batch (folio_batch) until drained,
 * and MADV_PAGEOUT/MADV_COLD skip folios not on the LRU yet: madvise drains only the calling
 * CPU's batch, so a process that moved between CPUs would leave some pages out at random. The
 * simulator has every folio on the LRU at once, which one CPU gives the kernel too.
 */
static void pin_to_one_cpu(void) {
  int cpu = sched_getcpu();
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu < 0 ? 0 : cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0 && trace)
    fprintf(stderr, "mmsim-oracle: cannot pin to CPU %d: %s\n", cpu, strerror(errno));
}

int main(int argc, char **argv) {
  const char *lock_path = DEFAULT_LOCK;
  int lock_timeout = 600, restore_only = 0, hold = 0, read_ksm = 0, session_mode = 0, keep = 0;
  orchestrator_pid = getpid();
  trace = getenv("MMSIM_ORACLE_TRACE") != NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--selftest")) return selftest();
    if (!strcmp(argv[i], "--check")) return check_mode();
    if (!strcmp(argv[i], "--hold-ksm-user")) hold = 1;
    else if (!strcmp(argv[i], "--read-ksm")) read_ksm = 1;
    else if (!strcmp(argv[i], "--restore")) restore_only = 1;
    else if (!strcmp(argv[i], "--session")) session_mode = 1;
    else if (!strcmp(argv[i], "--keep")) keep = 1;
    else if (!strcmp(argv[i], "--allow") && i + 1 < argc) {
      for (char *t = strtok(argv[++i], ","); t; t = strtok(NULL, ",")) {
        allowed = xrealloc(allowed, sizeof *allowed * (size_t)(nallowed + 1));
        allowed[nallowed++] = (pid_t)atoi(t);
      }
    }
    else if (!strcmp(argv[i], "--lock") && i + 1 < argc) lock_path = argv[++i];
    else if (!strcmp(argv[i], "--lock-timeout") && i + 1 < argc) lock_timeout = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--pause-at") && i + 1 < argc) pause_at = atoi(argv[++i]);
    else {
      usage();
      return 1;
    }
  }

  check_environment();
  if (hold) return hold_ksm_user(lock_path, lock_timeout);
  if (read_ksm) return read_ksm_locked(lock_path, lock_timeout);
  if (session_mode) return session(lock_path, lock_timeout, keep);
  if (restore_only) {
    take_lock(lock_path, lock_timeout);
    if (read_journal()) {
      knobs_modified = 1;
      int bad = cleanup();
      fprintf(stderr, "mmsim-oracle: restored the knobs of a killed run%s\n", bad ? " (with errors)" : "");
      return bad;
    }
    fprintf(stderr, "mmsim-oracle: nothing to restore\n");
    return 0;
  }

  read_stream(stdin);
  pin_to_one_cpu();
  check_memory();
  install_signals();
  atexit(cleanup_atexit);
  take_lock(lock_path, lock_timeout);
  check_other_users();
  save_knobs();
  knobs_modified = 1;
  find_counters();

  /* A clean slate: unmerge whatever an earlier (killed) run left, then require zero counters. */
  clean_slate();
  /* the scenario's initial knobs (kernel defaults unless it sets them), in the order given; a
   * default for a knob this kernel lacks (merge_across_nodes without NUMA...) is skipped, and so
   * is a knob set to the value that turns its feature off (smart_scan 0, advisor_mode none) on a
   * kernel without the feature (6.1): that kernel behaves so already */
  for (int i = 0; i < ninit; i++) {
    char cur[64];
    int have = ksm_read(init_names[i], cur, sizeof cur) == 0;
    if (!have && !init_explicit[i]) continue;
    if (!have && ((!strcmp(init_names[i], "smart_scan") && !strcmp(init_values[i], "0")) ||
                  (!strcmp(init_names[i], "advisor_mode") && !strcmp(init_values[i], "none"))))
      continue;
    if (have && !strcmp(cur, init_values[i])) continue;
    int e = ksm_write(init_names[i], init_values[i]);
    if (e) refuse("the scenario's ksm.%s = %s cannot be written: %s", init_names[i], init_values[i], strerror(e));
  }

  uint64_t t_hold = now_ms();
  hold_khugepaged();
  hold_damon();
  if (trace) fprintf(stderr, "mmsim-oracle: khugepaged held off in %" PRIu64 " ms\n", now_ms() - t_hold);
  probe_zero_pages();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  create_channels();
  create_files();
  fflush(stdout);
  fflush(stderr);

  for (int i = 0; i < nsteps; i++) {
    uint64_t t0 = now_ms();
    if (steps[i].index == pause_at) {
      fprintf(stderr, "mmsim-oracle: paused before step %d\n", pause_at);
      for (;;) pause();
    }
    int go = run_step(&steps[i]);
    if (trace) fprintf(stderr, "mmsim-oracle: step %d %s: %" PRIu64 " ms\n", steps[i].index, steps[i].argv[0], now_ms() - t0);
    if (!go) break;
  }

  struct sb out = {0};
  sb_puts(&out, "{\"scenario\":");
  sb_json_string(&out, scenario_name);
  sb_puts(&out, ",\"engine\":\"kernel\",\"reports\":[");
  if (reports_json.len) sb_puts(&out, reports_json.p);
  sb_printf(&out, "],\"ok\":%s,\"failures\":[", nfailures ? "false" : "true");
  if (failures_json.len) sb_puts(&out, failures_json.p);
  sb_puts(&out, "]}\n");
  check_foreign_users();
  int bad = cleanup();
  if (write_full(1, out.p, out.len) < 0) return 1;
  if (bad) {
    fprintf(stderr, "mmsim-oracle: KSM knobs were not all restored (see above)\n");
    return 1;
  }
  return 0;
}
