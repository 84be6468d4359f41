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
 * Targets: W1 <= 1.5x, W1b <= 2x, W2 <= 3x the floor; 0 allocations/element.
 * Set RILL_BENCH_N to change N. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rill.h>

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
  printf("bench: %s\n", ok ? "all targets met" : "some targets MISSED");
  return 0;
}
