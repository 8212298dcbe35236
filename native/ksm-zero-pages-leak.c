/*
 * ksm-zero-pages-leak.c: minimal reproducer of a ksm_zero_pages accounting leak
 * (docs/ksm-zero-pages-leak.md). Root; changes /sys/kernel/mm/ksm and restores it.
 *
 * One process maps one anonymous page, writes zeroes to it, marks it MADV_MERGEABLE and
 * MADV_DONTFORK, and lets ksmd (use_zero_pages=1) replace it with the shared zero page: the
 * global ksm_zero_pages becomes 1. It then forks. The child maps nothing of that VMA
 * (MADV_DONTFORK), yet ksm_fork() copies mm->ksm_zero_pages into it and adds it to the global
 * count. When both processes are gone, the global ksm_zero_pages should be back where it started;
 * a kernel with the leak keeps the child's credit forever (one page per fork).
 *
 * Output: one "name value" line per observation, then "verdict leak N" or "verdict no-leak", or
 * "verdict not-applicable <why>" on kernels without KSM zero-page accounting (before ~6.6).
 * Exit code 0 in every case but errors (1).
 *
 * Build: cc -O2 -Wall -Wextra -o ksm-zero-pages-leak ksm-zero-pages-leak.c   (-static for a guest)
 * Run beside mmsim's oracle only under its lock: flock /tmp/mmsim-ksm.lock ./ksm-zero-pages-leak
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KSM "/sys/kernel/mm/ksm/"
#define SCANS 3
#define SCAN_TIMEOUT_S 60

static const char *const saved_names[] = {"run", "use_zero_pages", "pages_to_scan", "sleep_millisecs"};
#define NSAVED (sizeof saved_names / sizeof saved_names[0])
static char saved[NSAVED][32];

static int knob_read(const char *name, char *buf, size_t n) {
  char path[128];
  snprintf(path, sizeof path, KSM "%s", name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -errno;
  ssize_t r = read(fd, buf, n - 1);
  close(fd);
  if (r < 0) return -errno;
  buf[r] = 0;
  buf[strcspn(buf, "\n")] = 0;
  return 0;
}

static void knob_write(const char *name, const char *value) {
  char path[128];
  snprintf(path, sizeof path, KSM "%s", name);
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) {
    fprintf(stderr, "write %s=%s: %s\n", path, value, strerror(errno));
    exit(1);
  }
  close(fd);
}

static long counter(const char *name) {
  char buf[64];
  if (knob_read(name, buf, sizeof buf) != 0) return -1;
  return atol(buf);
}

/* ksm_zero_pages of /proc/<pid>/ksm_stat, -1 when absent. */
static long stat_zero_pages(pid_t pid) {
  char path[64], line[128];
  snprintf(path, sizeof path, "/proc/%d/ksm_stat", (int)pid);
  FILE *f = fopen(path, "r");
  long v = -1;
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, "ksm_zero_pages", 14) == 0) v = atol(line + 15);
  }
  if (f) fclose(f);
  return v;
}

static void wait_scans(int n) {
  long start = counter("full_scans");
  time_t t0 = time(NULL);
  while (counter("full_scans") < start + n) {
    if (time(NULL) - t0 > SCAN_TIMEOUT_S) {
      fprintf(stderr, "ksmd did not complete %d full scans in %d s\n", n, SCAN_TIMEOUT_S);
      exit(1);
    }
    usleep(10000);
  }
}

static void restore(void) {
  knob_write("run", "2");
  for (size_t i = 1; i < NSAVED; i++) knob_write(saved_names[i], saved[i]);
  knob_write("run", saved[0]);
}

int main(void) {
  char release[128] = "?";
  FILE *u = fopen("/proc/sys/kernel/osrelease", "r");
  if (u && fgets(release, sizeof release, u)) release[strcspn(release, "\n")] = 0;
  if (u) fclose(u);
  printf("kernel %s\n", release);
  if (counter("ksm_zero_pages") < 0) {
    printf("verdict not-applicable this kernel has no %sksm_zero_pages (no KSM zero-page accounting)\n", KSM);
    return 0;
  }
  for (size_t i = 0; i < NSAVED; i++) {
    if (knob_read(saved_names[i], saved[i], sizeof saved[i]) != 0) {
      fprintf(stderr, "cannot read %s%s\n", KSM, saved_names[i]);
      return 1;
    }
  }
  knob_write("run", "2"); /* a clean slate */
  knob_write("run", "0");
  knob_write("use_zero_pages", "1");
  knob_write("pages_to_scan", "1000");
  knob_write("sleep_millisecs", "0");
  long base = counter("ksm_zero_pages");
  printf("ksm_zero_pages.before %ld\n", base);

  long page = sysconf(_SC_PAGESIZE);
  char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return perror("mmap"), restore(), 1;
  memset(p, 0, page); /* a real anonymous page holding zeroes */
  if (madvise(p, page, MADV_MERGEABLE) || madvise(p, page, MADV_DONTFORK)) return perror("madvise"), restore(), 1;
  knob_write("run", "1");
  wait_scans(SCANS);
  knob_write("run", "0");
  printf("ksm_zero_pages.merged %ld\n", counter("ksm_zero_pages"));
  printf("parent.ksm_stat.ksm_zero_pages %ld\n", stat_zero_pages(getpid()));

  int pipefd[2];
  if (pipe(pipefd)) return perror("pipe"), restore(), 1;
  pid_t child = fork();
  if (child < 0) return perror("fork"), restore(), 1;
  if (child == 0) {
    char c;
    close(pipefd[1]);
    (void)!read(pipefd[0], &c, 1); /* stay until the parent has looked */
    _exit(0);
  }
  close(pipefd[0]);
  printf("ksm_zero_pages.forked %ld\n", counter("ksm_zero_pages"));
  printf("child.ksm_stat.ksm_zero_pages %ld\n", stat_zero_pages(child));
  close(pipefd[1]);
  waitpid(child, NULL, 0);
  printf("ksm_zero_pages.child-exited %ld\n", counter("ksm_zero_pages"));
  munmap(p, page);
  long after = counter("ksm_zero_pages");
  printf("ksm_zero_pages.unmapped %ld\n", after);
  if (after > base) printf("verdict leak %ld\n", after - base);
  else printf("verdict no-leak\n");
  restore();
  return 0;
}
