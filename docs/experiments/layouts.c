/* The layouts of docs/predict-verify.md ("Which order matters"): 16 MiB (or MiB) of anonymous
 * memory, a quarter each zero-filled, 0x5a, seven contents and unique pages, laid out as LAYOUT;
 * prints "ready" and sleeps until killed. Usage: layouts MiB LAYOUT, LAYOUT one of
 *   blocks                     the four kinds in four blocks, written in address order
 *   blocks-scattered           the same, each unique page faulted between three pages unmapped
 *                              again, so no unique page's frame is next to its neighbour's
 *   alternating                page i is of kind i % 4, written in address order (pages.c's order)
 *   alternating-unique-first   the same, the unique pages written first (their frames in order)
 *   alternating-random         alternating, the unique pages of random bytes (a 64-bit xorshift)
 * cc -O2 -o layouts layouts.c; sudo pnpm mmsim verify --snapshot l.snap --for 30s --copies 3 -- ./layouts 16 blocks */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PAGE 4096
enum { ZERO, SAME, SEVEN, UNIQUE, RANDOM };

static void fill(uint8_t *q, size_t i, int kind) {
  uint64_t *w = (uint64_t *)q;
  uint64_t x = (uint64_t)getpid() * 1000003u + i * 131u;
  switch (kind) {
  case ZERO: memset(q, 0, PAGE); break;
  case SAME: memset(q, 0x5a, PAGE); break;
  case SEVEN: memset(q, (int)(i / 4 % 7) + 1, PAGE); break;
  case UNIQUE: for (size_t k = 0; k < PAGE / 8; k++) w[k] = x + k; break;
  default:
    x++;
    for (size_t k = 0; k < PAGE / 8; k++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w[k] = x;
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: layouts MiB LAYOUT\n");
    return 2;
  }
  size_t n = (size_t)atol(argv[1]) * 256;
  const char *l = argv[2];
  int blocks = strncmp(l, "blocks", 6) == 0;
  uint8_t *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (n == 0 || p == MAP_FAILED) return 1;
#define KIND(i) (blocks ? (int)((i) * 4 / n) : (int)((i) % 4))
  if (strcmp(l, "blocks-scattered") == 0) {
    uint8_t *junk = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (junk == MAP_FAILED) return 1;
    for (size_t i = n * 3 / 4, j = 0; i < n; i++) {
      fill(p + i * PAGE, i, UNIQUE);
      for (int k = 0; k < 3; k++) junk[j++ * PAGE] = 1;
    }
    munmap(junk, n * PAGE);
    for (size_t i = 0; i < n * 3 / 4; i++) fill(p + i * PAGE, i, KIND(i));
  } else if (strcmp(l, "alternating-unique-first") == 0) {
    for (size_t i = 3; i < n; i += 4) fill(p + i * PAGE, i, UNIQUE);
    for (size_t i = 0; i < n; i++)
      if (i % 4 != 3) fill(p + i * PAGE, i, KIND(i));
  } else if (strcmp(l, "blocks") == 0 || strcmp(l, "alternating") == 0 ||
             strcmp(l, "alternating-random") == 0) {
    int random = strcmp(l, "alternating-random") == 0;
    for (size_t i = 0; i < n; i++) fill(p + i * PAGE, i, random && KIND(i) == UNIQUE ? RANDOM : KIND(i));
  } else {
    fprintf(stderr, "layouts: no layout '%s'\n", l);
    return 2;
  }
  (void)!write(1, "ready\n", 6);
  for (;;) pause();
}
