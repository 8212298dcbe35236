/*
 * guest-init.c: /init of the initramfs mmsim boots Debian's kernels with under QEMU
 * (`mmsim kernel --kernel 6.1 ...`, apps/demo/src/guest/). Statically linked; no shell, no busybox.
 *
 * It mounts proc, sysfs, devtmpfs and a tmpfs on /tmp, applies the `set` lines of /mmsim/manifest
 * (the host's THP settings), runs each `job` line's program with its stdin file, and sends every
 * job's stdout and stderr to the host on the second serial port (/dev/ttyS1, raw), framed as
 *
 *   @@mmsim-guest <release> <version>          once, first
 *   @@mmsim-job <name> begin
 *   @@mmsim-stdout <n>\n<n bytes>
 *   @@mmsim-stderr <n>\n<n bytes>
 *   @@mmsim-job <name> end <status> <milliseconds>   status: exit code, or signal-N, or timeout
 *   @@mmsim-done                                     once, last
 *
 * then powers the machine off. Progress lines go to the console (ttyS0). Manifest lines (tokens
 * separated by single spaces, none holding a space):
 *
 *   set <path> <value>                       write value to a sysfs file
 *   job <name> <timeout-seconds> <stdin-path or -> <program> <args...>
 *
 * Build: cc -static -O2 -Wall -Wextra -o native/build/mmsim-guest-init native/guest-init.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST "/mmsim/manifest"
#define CHANNEL "/dev/ttyS1"
#define MAX_ARGS 64
#define KILL_GRACE_SECONDS 5

static int channel = -1;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mmsim-guest: ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  fflush(stdout);
  va_end(ap);
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      say("write to the report channel failed: %s", strerror(errno));
      return;
    }
    p += w;
    n -= (size_t)w;
  }
}

static void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void send_line(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n > sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  write_all(channel, buf, (size_t)n);
}

/* Sends a file's bytes framed as `@@mmsim-<what> <n>\n` + bytes. */
static void send_file(const char *what, const char *path) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    send_line("@@mmsim-%s 0", what);
    if (fd >= 0) close(fd);
    return;
  }
  send_line("@@mmsim-%s %lld", what, (long long)st.st_size);
  char buf[65536];
  long long left = st.st_size;
  while (left > 0) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) break;
    write_all(channel, buf, (size_t)r);
    left -= r;
  }
  /* keep the framing exact even if the file shrank */
  memset(buf, '\n', sizeof buf);
  while (left > 0) {
    size_t n = left > (long long)sizeof buf ? sizeof buf : (size_t)left;
    write_all(channel, buf, n);
    left -= (long long)n;
  }
  close(fd);
}

static void mount_or_say(const char *src, const char *dst, const char *type) {
  mkdir(dst, 0755);
  if (mount(src, dst, type, 0, NULL) != 0 && errno != EBUSY) say("mount %s on %s: %s", type, dst, strerror(errno));
}

static void set_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, value, strlen(value)) < 0) say("set %s %s: %s", path, value, strerror(errno));
  if (fd >= 0) close(fd);
}

static volatile sig_atomic_t alarmed;
static void on_alarm(int sig) {
  (void)sig;
  alarmed = 1;
}

/* Runs one job; returns its status as text in `status`. */
static void run_job(char **argv, const char *stdin_path, unsigned timeout_s, char *status, size_t len) {
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(status, len, "fork-failed");
    return;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int in = open(strcmp(stdin_path, "-") == 0 ? "/dev/null" : stdin_path, O_RDONLY);
    int out = open("/tmp/job.stdout", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open("/tmp/job.stderr", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    execv(argv[0], argv);
    dprintf(2, "mmsim-guest: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  setpgid(pid, pid);
  alarmed = 0;
  alarm(timeout_s);
  int ws;
  int timed_out = 0;
  for (;;) {
    pid_t w = waitpid(pid, &ws, 0);
    if (w == pid) break;
    if (w < 0 && errno == EINTR && alarmed) {
      if (!timed_out) {
        timed_out = 1;
        kill(-pid, SIGTERM);
        alarmed = 0;
        alarm(KILL_GRACE_SECONDS);
      } else {
        kill(-pid, SIGKILL);
        alarmed = 0;
      }
    }
  }
  alarm(0);
  kill(-pid, SIGKILL); /* whatever the job left behind */
  if (timed_out) snprintf(status, len, "timeout");
  else if (WIFEXITED(ws)) snprintf(status, len, "%d", WEXITSTATUS(ws));
  else snprintf(status, len, "signal-%d", WTERMSIG(ws));
}

/* Reaps orphans re-parented to init (helpers of a killed job). */
static void reap(void) {
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  mount_or_say("proc", "/proc", "proc");
  mount_or_say("sysfs", "/sys", "sysfs");
  mount_or_say("devtmpfs", "/dev", "devtmpfs");
  mount_or_say("tmpfs", "/tmp", "tmpfs");
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;
  sigaction(SIGALRM, &sa, NULL);

  channel = open(CHANNEL, O_WRONLY | O_NOCTTY);
  if (channel < 0) {
    say("cannot open %s: %s; powering off", CHANNEL, strerror(errno));
    reboot(RB_POWER_OFF);
  }
  struct termios t;
  if (tcgetattr(channel, &t) == 0) {
    cfmakeraw(&t);
    cfsetospeed(&t, B115200);
    tcsetattr(channel, TCSANOW, &t);
  }
  struct utsname u;
  uname(&u);
  send_line("@@mmsim-guest %s %s", u.release, u.version);
  say("Linux %s up", u.release);

  FILE *m = fopen(MANIFEST, "r");
  if (!m) say("cannot open %s: %s", MANIFEST, strerror(errno));
  char line[4096];
  while (m && fgets(line, sizeof line, m)) {
    line[strcspn(line, "\n")] = 0;
    char *tok[MAX_ARGS + 5];
    int n = 0;
    for (char *s = strtok(line, " "); s && n < MAX_ARGS + 4; s = strtok(NULL, " ")) tok[n++] = s;
    tok[n] = NULL;
    if (n == 3 && strcmp(tok[0], "set") == 0) {
      set_file(tok[1], tok[2]);
    } else if (n >= 5 && strcmp(tok[0], "job") == 0) {
      char status[32];
      say("job %s", tok[1]);
      send_line("@@mmsim-job %s begin", tok[1]);
      uint64_t t0 = now_ms();
      run_job(&tok[4], tok[3], (unsigned)strtoul(tok[2], NULL, 10), status, sizeof status);
      uint64_t ms = now_ms() - t0;
      reap();
      send_file("stdout", "/tmp/job.stdout");
      send_file("stderr", "/tmp/job.stderr");
      send_line("@@mmsim-job %s end %s %llu", tok[1], status, (unsigned long long)ms);
      say("job %s: %s after %llu ms", tok[1], status, (unsigned long long)ms);
    } else if (n > 0) {
      say("bad manifest line starting with '%s'", tok[0]);
    }
  }
  if (m) fclose(m);
  send_line("@@mmsim-done");
  tcdrain(channel);
  fsync(channel);
  sync();
  say("done; powering off");
  reboot(RB_POWER_OFF);
  return 0;
}
