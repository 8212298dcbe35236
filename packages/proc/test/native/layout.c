/*
 * Live-kernel side of @mmsim/proc's comparison test: builds a small anonymous-memory layout in
 * this process and prints, for each region, its /proc/self/pagemap entries with the
 * /proc/kpageflags and /proc/kpagecount of each present page, and its /proc/self/smaps block.
 * Compiled at test time into a temporary directory (never committed as a binary).
 *
 * Regions (all inside a PROT_NONE reservation, 2 MiB aligned, so none of them merge):
 *   a: 16 private pages: pages 0-3 written, 4-7 read (zero page), 8-15 untouched
 *   b: 2 MiB private, MADV_HUGEPAGE, one byte written (a THP)
 *   c: 2 MiB private, MADV_HUGEPAGE, one byte read (the huge zero page)
 *   e: 4 shared anonymous pages, pages 0-1 written
 *   d: 8 private pages written, then shared with a forked child (dumped after the fork)
 *
 * Output lines: "base <hex>", "region <name> <start hex> <pages>", "pm <index> <pagemap hex>
 * <kpageflags hex> <kpagecount>", the smaps block between "smaps-begin" and "smaps-end".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PS 4096UL
#define HP (2UL << 20)

static int pagemap_fd, kflags_fd, kcount_fd;

static void dump(const char *name, uintptr_t start, size_t pages) {
  char key[32], line[512];
  FILE *f;
  int on = 0;

  printf("region %s %lx %zu\n", name, (unsigned long)start, pages);
  for (size_t i = 0; i < pages; i++) {
    uint64_t e = 0, fl = 0, cnt = 0;
    if (pread(pagemap_fd, &e, 8, (start / PS + i) * 8) != 8) exit(2);
    if (e >> 63) {
      uint64_t pfn = e & ((1ULL << 55) - 1);
      if (pread(kflags_fd, &fl, 8, pfn * 8) != 8) exit(3);
      if (pread(kcount_fd, &cnt, 8, pfn * 8) != 8) exit(4);
    }
    printf("pm %zu %016llx %016llx %llu\n", i, (unsigned long long)e, (unsigned long long)fl,
           (unsigned long long)cnt);
  }
  snprintf(key, sizeof key, "%lx-", (unsigned long)start);
  f = fopen("/proc/self/smaps", "r");
  if (!f) exit(5);
  printf("smaps-begin\n");
  while (fgets(line, sizeof line, f)) {
    if (!on && strncmp(line, key, strlen(key)) == 0) on = 1;
    if (on) fputs(line, stdout);
    if (on && strncmp(line, "VmFlags:", 8) == 0) break;
  }
  printf("smaps-end\n");
  fclose(f);
  fflush(stdout);
}

static void *map_at(uintptr_t addr, size_t len, int flags) {
  void *p = mmap((void *)addr, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) exit(6);
  return p;
}

int main(void) {
  volatile char sink = 0;
  int pipefd[2];
  char *res, *a, *b, *c, *d, *e;
  uintptr_t base;
  pid_t child;

  pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
  kflags_fd = open("/proc/kpageflags", O_RDONLY);
  kcount_fd = open("/proc/kpagecount", O_RDONLY);
  if (pagemap_fd < 0 || kflags_fd < 0 || kcount_fd < 0) return 7;

  res = mmap(NULL, 18 * HP, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (res == MAP_FAILED) return 8;
  base = ((uintptr_t)res + HP - 1) & ~(HP - 1);
  printf("base %lx\n", (unsigned long)base);

  a = map_at(base + HP, 16 * PS, MAP_PRIVATE);
  for (int i = 0; i < 4; i++) memset(a + i * PS, i + 1, PS);
  for (int i = 4; i < 8; i++) sink += a[i * PS];
  b = map_at(base + 4 * HP, HP, MAP_PRIVATE);
  madvise(b, HP, MADV_HUGEPAGE);
  b[0] = 1;
  c = map_at(base + 8 * HP, HP, MAP_PRIVATE);
  madvise(c, HP, MADV_HUGEPAGE);
  sink += c[0];
  e = map_at(base + 14 * HP, 4 * PS, MAP_SHARED);
  e[0] = 1;
  e[PS] = 2;

  dump("a", (uintptr_t)a, 16);
  dump("b", (uintptr_t)b, 512);
  dump("c", (uintptr_t)c, 512);
  dump("e", (uintptr_t)e, 4);

  d = map_at(base + 12 * HP, 8 * PS, MAP_PRIVATE);
  for (int i = 0; i < 8; i++) memset(d + i * PS, 0x40 + i, PS);
  if (pipe(pipefd) != 0) return 9;
  child = fork();
  if (child < 0) return 10;
  if (child == 0) {
    char ch;
    close(pipefd[1]);
    if (read(pipefd[0], &ch, 1) < 0) _exit(1);
    _exit(0);
  }
  close(pipefd[0]);
  dump("d", (uintptr_t)d, 8);
  if (write(pipefd[1], "x", 1) != 1) return 11;
  waitpid(child, NULL, 0);
  (void)sink;
  return 0;
}
