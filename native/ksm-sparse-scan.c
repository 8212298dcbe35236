/* How long ksmd takes for one full scan of a sparse mergeable VMA: 4 GiB mapped, one page of it
 * present. A kernel whose scan_get_next_rmap_item() looks up every address (follow_page() until
 * 6.11, folio_walk_start() in 6.12.43) visits 1 Mi addresses per full scan; one with "ksm: use
 * range-walk function to jump over holes in scan_get_next_rmap_item" (6.18-rc6, backported to
 * 6.12.95 and 6.1.192) walks the page tables and skips the empty ones. Run as root in a guest:
 *
 *   sudo pnpm mmsim kernels exec 6.12.43 native/ksm-sparse-scan.c
 *
 * Prints the milliseconds of each of SCANS full scans after a first one. Restores every KSM knob
 * it changes. Only for a machine whose KSM nobody else uses (a guest). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define KSM "/sys/kernel/mm/ksm/"
#define VMA_BYTES (4ULL << 30)
#define SCANS 5
#define PAGES_TO_SCAN "100"

static long read_knob(const char *name) {
  char path[128], buf[64];
  snprintf(path, sizeof path, KSM "%s", name);
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); exit(1); }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  buf[n > 0 ? n : 0] = 0;
  return atol(buf);
}

static void write_knob(const char *name, const char *value) {
  char path[128];
  snprintf(path, sizeof path, KSM "%s", name);
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) { perror(path); exit(1); }
  close(fd);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void wait_full_scans(long target) {
  while (read_knob("full_scans") < target) usleep(200);
}

int main(void) {
  char old_pages[32], old_sleep[32];
  snprintf(old_pages, sizeof old_pages, "%ld", read_knob("pages_to_scan"));
  snprintf(old_sleep, sizeof old_sleep, "%ld", read_knob("sleep_millisecs"));
  /* read-only: no overcommit charge; one page made writable and written gives the VMA its
   * anon_vma (ksmd skips a VMA without one), then it is read-only again and merges back */
  char *map = mmap(NULL, VMA_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) { perror("mmap"); return 1; }
  long page = sysconf(_SC_PAGESIZE);
  if (mprotect(map, page, PROT_READ | PROT_WRITE)) { perror("mprotect"); return 1; }
  map[0] = 1;
  if (mprotect(map, page, PROT_READ)) { perror("mprotect"); return 1; }
  if (madvise(map, VMA_BYTES, MADV_MERGEABLE)) { perror("madvise"); return 1; }
  write_knob("run", "0");
  write_knob("pages_to_scan", PAGES_TO_SCAN);
  write_knob("sleep_millisecs", "0");
  write_knob("run", "1");
  long base = read_knob("full_scans");
  wait_full_scans(base + 1);
  printf("one full scan of a 4 GiB VMA with 1 page present (pages_to_scan " PAGES_TO_SCAN "), ms:");
  for (int i = 0; i < SCANS; i++) {
    long at = read_knob("full_scans");
    double t = now_ms();
    wait_full_scans(at + 1);
    printf(" %.1f", now_ms() - t);
  }
  printf("\n");
  write_knob("run", "2");
  write_knob("pages_to_scan", old_pages);
  write_knob("sleep_millisecs", old_sleep);
  write_knob("run", "0");
  munmap(map, VMA_BYTES);
  return 0;
}
