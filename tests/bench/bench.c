/* rill benchmarks (make bench).  Never part of make check.
 *
 * Each workload is measured beside hand-written C floors in the same run,
 * and reported as ns/element and as a ratio to the function-pointer floor
 * (a loop calling map and filter through pointers the compiler cannot
 * inline), with heap allocations per element counted through rill's
 * allocator hook.  Best of RILL_BENCH_RUNS (default 5) runs.
 *
 *   W1   range(0,10M) -> map(x*2) -> filter(x%3==0) -> sum, unbounded demand
 *   W1b  the same, the sink requesting in batches of 128
 *   W2   merge of 4 x range(2.5M) -> map(x*2) -> sum
 *   W3t  1M synchronous pushes through throttle(10 ms) on libev, beside a
 *        hand-written libev loop comparing against ev_now()
 *   W3d  the same through debounce(10 ms), beside ev_timer_again() per push
 *   FD   1 GiB through from_fd -> counting sink over a pipe, beside a raw
 *        ev_io read loop with the same 64 KiB buffer (throughput ratio)
 *   SLOW the same 1 GiB feed into a consumer slower than the writer: peak
 *        RSS growth of this process
 * Targets: W1 <= 1.5x, W1b <= 2x, W2 <= 3x, W3t/W3d <= 1.5x the floor;
 * FD >= 0.9x the raw throughput; SLOW RSS growth <= 4 MiB; 0 allocations
 * per element.  RILL_BENCH_N changes N, RILL_BENCH_FD_MB the feed size. */
#define _DEFAULT_SOURCE
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rill.h>
#include <rill/ev.h>

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- allocation counting
 * ---------------------------------------------------*/
static long allocs;
static void *count_malloc(size_t n) {
  allocs++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  allocs++;
  return realloc(p, n);
}

/* ---- floors
 * ----------------------------------------------------------------*/
typedef int64_t (*int_map_fn)(int64_t);
typedef int (*int_pred_fn)(int64_t);
__attribute__((noinline)) static int64_t floor_double(int64_t x) {
  return x * 2;
}
__attribute__((noinline)) static int floor_mod3(int64_t x) {
  return x % 3 == 0;
}
/* volatile: the compiler cannot see through these, so it cannot inline */
static int_map_fn volatile floor_map = floor_double;
static int_pred_fn volatile floor_pred = floor_mod3;
static volatile int64_t sink_value;

static int64_t floor_plain_w1(int64_t n) {
  int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t x = i * 2;
    if (x % 3 == 0)
      sum += x;
  }
  return sum;
}

static int64_t floor_fnptr_w1(int64_t n) {
  int_map_fn m = floor_map;
  int_pred_fn p = floor_pred;
  int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t x = m(i);
    if (p(x))
      sum += x;
  }
  return sum;
}

static int64_t floor_fnptr_w2(int64_t n) {
  int_map_fn m = floor_map;
  int64_t sum = 0;
  for (int k = 0; k < 4; k++)
    for (int64_t i = 0; i < n / 4; i++)
      sum += m(i);
  return sum;
}

/* ---- rill
 * ------------------------------------------------------------------*/
static int rill_double(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(in.as.i * 2);
  return 0;
}
static int rill_mod3(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i % 3 == 0;
}
static void sum_next(void *ctx, rill_value_t v) {
  *(int64_t *)ctx += v.as.i;
}

static int64_t run_rill(rill_observable_t *p, int64_t batch) {
  int64_t sum = 0;
  rill_subscriber_t sub = {.on_next = sum_next};
  if (rill_observable_consume(p, &sub, &sum, batch, NULL) != 0) {
    fprintf(stderr, "bench: subscribe failed\n");
    exit(1);
  }
  return sum;
}

static rill_observable_t *build_w1(int64_t n) {
  return rill_filter(rill_map(rill_range(0, n), rill_double, NULL), rill_mod3,
                     NULL);
}

static rill_observable_t *build_w2(int64_t n) {
  rill_observable_t *r[4];
  for (int k = 0; k < 4; k++)
    r[k] = rill_range(0, n / 4);
  return rill_map(rill_merge(r, 4, 0), rill_double, NULL);
}

static int64_t rill_w1(int64_t n) {
  rill_observable_t *p = build_w1(n);
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}
static int64_t rill_w1b(int64_t n) {
  rill_observable_t *p = build_w1(n);
  int64_t s = run_rill(p, 128);
  rill_observable_free(p);
  return s;
}
static int64_t rill_w2(int64_t n) {
  rill_observable_t *p = build_w2(n);
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}

/* ---- W3: time operators on libev ------------------------------------------*/
static struct ev_loop *bench_loop;
static rill_sched_t *bench_sched;

static int64_t floor_w3t(int64_t n) {
  struct ev_loop *loop = bench_loop;
  double window_end = -1;
  int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    double now = ev_now(loop);
    if (now >= window_end) {
      sum += i;
      window_end = now + 0.010;
    }
  }
  return sum;
}

static void w3d_fired(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)w;
  (void)revents;
}

static int64_t floor_w3d(int64_t n) {
  struct ev_loop *loop = bench_loop;
  ev_timer t;
  ev_init(&t, w3d_fired);
  t.repeat = 0.010;
  int64_t pending = -1;
  for (int64_t i = 0; i < n; i++) {
    pending = i;
    ev_timer_again(loop, &t);
  }
  ev_timer_stop(loop, &t);
  return pending; /* the value a debounce emits at completion */
}

static int64_t rill_w3t(int64_t n) {
  rill_observable_t *p = rill_throttle(rill_range(0, n), bench_sched, 10, NULL);
  if (p == NULL)
    return -1;
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}

static int64_t rill_w3d(int64_t n) {
  rill_observable_t *p =
      rill_debounce(rill_range(0, n), bench_sched, 10, NULL);
  if (p == NULL)
    return -1;
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}

/* ---- FD: a pipe fed by a child process
 * ---------------------------------------*/
#define FD_CHUNK (64 * 1024)

static pid_t spawn_writer(int *read_fd, size_t total) {
  int p[2];
  *read_fd = -1;
  if (pipe(p) != 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return -1;
  }
  if (pid == 0) {
    close(p[0]);
    static char buf[FD_CHUNK];
    size_t left = total;
    while (left > 0) {
      ssize_t k = write(p[1], buf, left < sizeof(buf) ? left : sizeof(buf));
      if (k <= 0)
        _exit(1);
      left -= (size_t)k;
    }
    _exit(0);
  }
  close(p[1]);
  *read_fd = p[0];
  return pid;
}

struct raw_reader {
  ev_io io;
  size_t bytes;
  char buf[FD_CHUNK];
};

static void raw_readable(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct raw_reader *r = (struct raw_reader *)w;
  ssize_t k = read(w->fd, r->buf, sizeof(r->buf));
  if (k > 0) {
    r->bytes += (size_t)k;
    return;
  }
  ev_io_stop(loop, w);
}

static double fd_floor(size_t total) {
  int fd;
  pid_t pid = spawn_writer(&fd, total);
  if (pid < 0)
    return -1;
  static struct raw_reader r;
  r.bytes = 0;
  double t0 = now_ns();
  ev_io_init(&r.io, raw_readable, fd, EV_READ);
  ev_io_start(bench_loop, &r.io);
  ev_run(bench_loop, 0);
  double t1 = now_ns();
  close(fd);
  waitpid(pid, NULL, 0);
  return r.bytes == total ? (double)total / (t1 - t0) : -1; /* GB/s */
}

struct fd_count {
  size_t bytes;
  int spin_us;
  bool failed;
  long chunks;
  long peak_rss_kib; /* sampled while the feed runs */
};

/* Resident set size now, in KiB (/proc/self/statm). */
static long rss_now_kib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void fd_count_next(void *ctx, rill_value_t v) {
  struct fd_count *c = ctx;
  c->bytes += rill_buf_len(v.as.buf);
  rill_value_release(v);
  if (++c->chunks % 64 == 0) {
    long rss = rss_now_kib();
    if (rss > c->peak_rss_kib)
      c->peak_rss_kib = rss;
  }
  if (c->spin_us > 0) { /* a consumer slower than the writer */
    double until = now_ns() + c->spin_us * 1000.0;
    while (now_ns() < until)
      ;
  }
}

static void fd_count_error(void *ctx, const rill_error_t *err) {
  struct fd_count *c = ctx;
  c->failed = true;
  fprintf(stderr, "bench: from_fd: %s\n", err->message);
}

static long fd_peak_rss_kib;

static double fd_rill(size_t total, int spin_us, int64_t batch) {
  int fd;
  pid_t pid = spawn_writer(&fd, total);
  if (pid < 0)
    return -1;
  struct fd_count c = {.spin_us = spin_us};
  rill_observable_t *p = rill_from_fd(bench_sched, fd, FD_CHUNK, RILL_FD_CLOSE);
  if (p == NULL) {
    close(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
  }
  rill_subscriber_t sub = {.on_next = fd_count_next,
                           .on_error = fd_count_error};
  double t0 = now_ns();
  rill_observable_consume(p, &sub, &c, batch, NULL);
  ev_run(bench_loop, 0);
  double t1 = now_ns();
  rill_observable_free(p);
  waitpid(pid, NULL, 0);
  fd_peak_rss_kib = c.peak_rss_kib;
  return c.bytes == total && !c.failed ? (double)total / (t1 - t0) : -1;
}


/* ---- harness
 * ---------------------------------------------------------------*/
struct result {
  double ns_per;
  double allocs_per;
  int64_t check;
};

static int runs = 5;

static struct result measure(int64_t (*fn)(int64_t), int64_t n) {
  struct result r = {1e30, 0, 0};
  for (int i = 0; i < runs; i++) {
    allocs = 0;
    double t0 = now_ns();
    int64_t s = fn(n);
    double t1 = now_ns();
    sink_value = s;
    r.check = s;
    double per = (t1 - t0) / (double)n;
    if (per < r.ns_per)
      r.ns_per = per;
    r.allocs_per = (double)allocs / (double)n;
  }
  return r;
}

static int report(const char *name, struct result r, struct result floor,
                  double target) {
  double ratio = r.ns_per / floor.ns_per;
  int ok = (target <= 0 || ratio <= target) && r.allocs_per < 1e-4;
  printf("%-34s %8.2f ns/elem  %6.2fx floor  %.6f allocs/elem", name, r.ns_per,
         ratio, r.allocs_per);
  if (target > 0)
    printf("  target <= %.1fx: %s", target, ok ? "met" : "MISSED");
  printf("\n");
  return ok;
}

int main(void) {
  const char *e = getenv("RILL_BENCH_N");
  int64_t n = e ? atoll(e) : 10 * 1000 * 1000;
  const char *rs = getenv("RILL_BENCH_RUNS");
  if (rs)
    runs = atoi(rs) > 0 ? atoi(rs) : 1;
  rill_allocator_set(count_malloc, count_realloc, free);
  printf("rill bench: N = %lld, best of %d runs\n", (long long)n, runs);

  struct result plain1 = measure(floor_plain_w1, n);
  struct result fp1 = measure(floor_fnptr_w1, n);
  struct result fp2 = measure(floor_fnptr_w2, n);
  struct result w1 = measure(rill_w1, n);
  struct result w1b = measure(rill_w1b, n);
  struct result w2 = measure(rill_w2, n);
  if (w1.check != fp1.check || w1b.check != fp1.check ||
      w2.check != fp2.check || plain1.check != fp1.check) {
    fprintf(stderr, "bench: results differ from the floors\n");
    return 1;
  }
  int ok = 1;
  printf("W1 floors:\n");
  report("  plain fused loop", plain1, fp1, 0);
  report("  function-pointer loop", fp1, fp1, 0);
  printf("W1 rill:\n");
  ok &= report("  W1 unbounded", w1, fp1, 1.5);
  ok &= report("  W1 batch 128", w1b, fp1, 2.0);
  printf("W2 floor:\n");
  report("  function-pointer loop", fp2, fp2, 0);
  printf("W2 rill:\n");
  ok &= report("  W2 merge(4) | map", w2, fp2, 3.0);
  /* W3: time operators, 1M pushes, on a libev loop that is not running. */
  bench_loop = ev_loop_new(EVFLAG_AUTO);
  bench_sched = rill_sched_ev_new(bench_loop);
  int64_t n3 = n / 10;
  struct result f3t = measure(floor_w3t, n3);
  struct result f3d = measure(floor_w3d, n3);
  struct result w3t = measure(rill_w3t, n3);
  struct result w3d = measure(rill_w3d, n3);
  printf("W3 floors (libev, %lld pushes):\n", (long long)n3);
  report("  throttle: compare with ev_now", f3t, f3t, 0);
  report("  debounce: ev_timer_again", f3d, f3d, 0);
  printf("W3 rill:\n");
  if (w3t.check != f3t.check || w3d.check != f3d.check) {
    printf("  W3 not available or wrong (throttle %lld/%lld, debounce "
           "%lld/%lld)\n",
           (long long)w3t.check, (long long)f3t.check, (long long)w3d.check,
           (long long)f3d.check);
    ok = 0;
  } else {
    ok &= report("  W3t throttle(10ms)", w3t, f3t, 1.5);
    ok &= report("  W3d debounce(10ms)", w3d, f3d, 1.5);
  }

  /* FD: 1 GiB through a pipe. */
  const char *mb = getenv("RILL_BENCH_FD_MB");
  size_t total = (size_t)(mb ? atol(mb) : 1024) * 1024 * 1024;
  /* Interleaved rounds, best of each: a pipe between two processes on a
   * shared 2-core machine is noisy, and both sides see the same noise. */
  double raw = -1, via = -1;
  bool fd_failed = false;
  for (int round = 0; round < 3; round++) {
    double r1 = fd_floor(total);
    double r2 = fd_rill(total, 0, 16);
    if (r1 > raw)
      raw = r1;
    if (r2 < 0)
      fd_failed = true;
    else if (r2 > via)
      via = r2;
  }
  if (fd_failed)
    via = -1;
  printf("FD (%zu MiB through a pipe, 64 KiB reads, best of 3 rounds):\n",
         total >> 20);
  printf("  raw ev_io read loop                %6.2f GB/s\n", raw);
  if (via < 0) {
    printf("  from_fd: not available or failed\n");
    ok = 0;
  } else {
    int fd_ok = via >= 0.9 * raw;
    ok &= fd_ok;
    printf("  from_fd -> counting sink           %6.2f GB/s  %5.2fx raw  "
           "target >= 0.9x: %s\n",
           via, via / raw, fd_ok ? "met" : "MISSED");
  }
  long rss0 = rss_now_kib();
  double slow = fd_rill(total, 30, 4);
  long growth = fd_peak_rss_kib - rss0;
  if (growth < 0)
    growth = 0;
  if (slow < 0) {
    printf("  slow consumer: not available or failed\n");
    ok = 0;
  } else {
    int rss_ok = growth <= 4 * 1024;
    ok &= rss_ok;
    printf("  slow consumer (30 us per chunk)    %6.2f GB/s  RSS %ld KiB before, "
           "peak growth %ld KiB  target <= 4096 KiB: %s\n",
           slow, rss0, growth, rss_ok ? "met" : "MISSED");
  }
  rill_sched_free(bench_sched);
  ev_loop_destroy(bench_loop);

  printf("bench: %s\n", ok ? "all targets met" : "some targets MISSED");
  return 0;
}
