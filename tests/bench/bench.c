/* SPDX-License-Identifier: MIT */
/* rill benchmarks (make bench).  Never part of make check.
 *
 * Each workload is measured beside hand-written C floors in the same run,
 * floor and rill rounds interleaved (RILL_BENCH_RUNS rounds, default 7),
 * and reported as the median ns/element and the ratio of the medians to the
 * floor, with heap allocations per element counted through rill's
 * allocator hook.  rill is measured through the shared library a user
 * links by default (checked at run time: a static link is a miss).
 *
 *   W1   range(0,10M) -> map(x*2) -> filter(x%3==0) -> sum, unbounded demand
 *   W1b  the same, the sink requesting in batches of 128
 *   W2   merge of 4 x range(2.5M) -> map(x*2) -> sum
 *        floor: a loop calling map and filter through function pointers
 *   W5   merge_map: N/1000 outer values, each mapped to range(x*1000, 1000),
 *        summed; unbounded and with max_concurrency 4.  Floor: nested C
 *        loops calling the project function and the sink through pointers
 *   W6   zip(range(0,10M), range(0,10M)) with fn = sum -> summing sink.
 *        Floor: a loop calling the same combining function through a
 *        pointer with the same two-value row
 *   GROUPBY  group_by(range(0,10M), x % 100) -> a count per group: each
 *        group subscribed, from the outer's on_next, by a counting
 *        subscriber (rill_observable_consume); and, for reference,
 *        merge_map of each group into reduce (RxJS's groupBy + mergeMap(g
 *        => g.pipe(count()))).  Floor: a loop calling the same key
 *        function through a pointer, an open-addressing lookup of the key
 *        (multiplicative hash, linear probing) and the count through a
 *        pointer; a second floor computes the key inline (a hash lookup
 *        and one function-pointer call per value).  Checksum: the sum of
 *        count * (key + 1).
 *   W3t  1M values pulled from a user function through throttle(10 ms,
 *        leading) on libev, in 10 bursts with the loop run and 11 ms let
 *        pass between bursts, so each burst opens a new window
 *        floor: the same pull loop calling a hand-written throttle that
 *        compares with ev_now()
 *   W3d  the same through debounce(10 ms); each burst's last value is due
 *        in the gap.  floor: a lazy-deadline debounce (store the deadline
 *        per push; one timer that re-checks it when it fires)
 *        W3 checksums are the count and the sum of the values emitted, so
 *        a throttle or debounce that emits the wrong values cannot match;
 *        the pauses between bursts are not timed.
 *   FD   1 GiB through from_fd -> counting sink over a pipe, beside a raw
 *        ev_io read loop with the same 64 KiB buffer (throughput ratio)
 *   SLOW a consumer slower than the writer that HOLDS what it received
 *        until it has processed it, asking for one more chunk per chunk
 *        processed: a source that reads ahead of demand makes the held
 *        buffers, and this process's RSS, grow.  Peak RSS growth and peak
 *        held bytes are both reported; /proc unreadable is a failure.
 *   RETRY N/10 synchronous retries (1M by default) of a source failing
 *        inside its own subscribe (rill_error) through retry with no
 *        delay and a should_retry predicate that stops after N/10; time
 *        per retry, allocations per retry, and the stack: the lowest
 *        frame of the predicate (run from inside the failing source's
 *        subscribe) over the run against the first attempt's.  floor: a
 *        loop calling a failing function and the predicate through
 *        pointers (for scale; no ratio target).
 *   REDIS_SRC  N/10 messages (1M by default) read from a Redis stream by
 *        rill_redis_source in a consumer group, each acknowledged, into a
 *        counting subscriber; floor: a hand-written hiredis + libev loop
 *        doing the same XREADGROUP COUNT 128 reads and pipelined XACKs
 *        (see the REDIS section below).  Throughput ratio.
 *   REDIS_SINK N/10 values XADDed through rill_redis_sink, 128 in flight;
 *        floor: a hand-written pipelined hiredis loop with the same window.
 *        Both run against a redis-server the bench starts on a unix socket
 *        in a temporary directory; without redis-server (or without
 *        hiredis) they are skipped with a message.  Besides messages/s,
 *        the client's CPU time per message (this process's user + system
 *        time), steadier than wall time on a loaded machine; no target.
 *   FANOUT a subject pushing N integers to 4 subscribers (unbounded
 *        demand, counting sinks).  floor: a loop calling the same counting
 *        function through four pointers per value.  RILL_BENCH_ONLY=fanout
 *        runs it alone.
 * Targets: W1 <= 1.5x, W1b <= 2x, W2 <= 3x, W5 <= 3x (at most 8
 * allocations per inner subscription), W6 <= 3x, GROUPBY <= 3x the floor
 * with the key function (no allocation per value), W3t/W3d <= 1.5x the
 * floor;
 * RETRY: the stack does not grow (0 bytes deeper than the first attempt)
 * and no allocation per retry; FANOUT <= 2x, no allocation per value;
 * FD >= 0.9x the raw throughput; REDIS_SRC, REDIS_SINK >= 0.8x the
 * floor's messages per second (and nothing left pending / every entry
 * added); SLOW RSS growth <= 4 MiB and never more
 * held than requested; 0 allocations per element.  Every target prints
 * its measured value, the target and met/MISSED; the exit status is 1 if
 * any was missed.  RILL_BENCH_N changes N, RILL_BENCH_FD_MB the feed size.
 * RILL_BENCH_ONLY runs only the named workloads, a comma-separated list of
 * fanout, w1 (W1 and W2), w2, w5, retry, w6, groupby, w3, fd, slow, redis_src,
 * redis_sink (redis: both) (e.g. RILL_BENCH_ONLY=w6 make bench); --count
 * honours it too (a key selects the rows whose name starts with it).
 *
 * Instruction counts (bench --count, run by make bench): each W1/W2
 * workload runs alone under valgrind --tool=callgrind at N and N/2
 * elements; (Ir(N) - Ir(N/2)) / (N/2) is the cost per element, setup
 * excluded.  Targets: W1 <= 36, W2 <= 27 instructions per element.
 * `bench count WORKLOAD N` is the single run that --count measures. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ev.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <rill.h>
#include <rill/ev.h>
#ifdef RILL_BENCH_HIREDIS
#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <stdarg.h>

#include <rill/redis.h>
#endif

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- allocation counting ------------------------------------------------*/
static long allocs;
static void *count_malloc(size_t n) {
  allocs++;
  return malloc(n);
}
static void *count_realloc(void *p, size_t n) {
  allocs++;
  return realloc(p, n);
}

/* ---- W1/W2 floors -------------------------------------------------------*/
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

/* ---- W1/W2 rill ---------------------------------------------------------*/
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
  if (p == NULL || rill_observable_consume(p, &sub, &sum, batch, NULL) != 0) {
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
  return rill_map(rill_merge(r, 4, 0, 0), rill_double, NULL);
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

/* ---- W5: merge_map, 1000 outer values each mapped to range(0, 1000) -------
 * The floor: nested C loops calling the two functions through pointers
 * (the project function per outer value, the sink per element). */
#define W5_INNER 1000
typedef int64_t (*outer_fn)(int64_t);
__attribute__((noinline)) static int64_t floor_project(int64_t o) {
  return o * W5_INNER;
}
__attribute__((noinline)) static void floor_sink(int64_t *sum, int64_t x) {
  *sum += x;
}
static outer_fn volatile floor_project_ptr = floor_project;
static void (*volatile floor_sink_ptr)(int64_t *, int64_t) = floor_sink;

static int64_t floor_w5(int64_t n) {
  outer_fn project = floor_project_ptr;
  void (*sink)(int64_t *, int64_t) = floor_sink_ptr;
  int64_t sum = 0;
  for (int64_t o = 0; o < n / W5_INNER; o++) {
    int64_t base = project(o);
    for (int64_t j = 0; j < W5_INNER; j++)
      sink(&sum, base + j);
  }
  return sum;
}

static int w5_project(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_range(v.as.i * W5_INNER, W5_INNER);
  return *out ? 0 : RILL_ENOMEM;
}

static int64_t rill_w5_limit(int64_t n, size_t max_concurrency) {
  rill_observable_t *p = rill_merge_map(rill_range(0, n / W5_INNER), w5_project,
                                        NULL, max_concurrency, 0);
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}
static int64_t rill_w5(int64_t n) {
  return rill_w5_limit(n, 0);
}
static int64_t rill_w5_4(int64_t n) {
  return rill_w5_limit(n, 4);
}

/* ---- W6: zip of two ranges, combined by a sum ------------------------------
 * The floor calls the same combining function through a pointer, with the
 * same two-value row, for i in 0..N; rill zips range(0, N) with itself
 * (two subscriptions) and sums the outputs in the sink. */
static int w6_sum(void *ctx, const rill_value_t *values, size_t n,
                  rill_value_t *out) {
  (void)ctx;
  (void)n;
  *out = rill_value_int(values[0].as.i + values[1].as.i);
  return 0;
}
static rill_combine_fn volatile w6_sum_ptr = w6_sum;

static int64_t floor_w6(int64_t n) {
  rill_combine_fn fn = w6_sum_ptr;
  int64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    rill_value_t row[2] = {rill_value_int(i), rill_value_int(i)};
    rill_value_t out;
    fn(NULL, row, 2, &out);
    sum += out.as.i;
  }
  return sum;
}

static int64_t rill_w6(int64_t n) {
  rill_observable_t *r[2] = {rill_range(0, n), rill_range(0, n)};
  rill_observable_t *p = rill_zip(r, 2, w6_sum_ptr, NULL);
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}

/* ---- GROUPBY: group_by over 100 keys, a count per group --------------------
 * The key function and the per-group count are the same user functions on
 * both sides, called through pointers. */
#define GB_KEYS 100
static int gb_key(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(v.as.i % GB_KEYS);
  return 0;
}
static rill_map_fn volatile gb_key_ptr = gb_key;
__attribute__((noinline)) static void gb_count(int64_t *count, int64_t w) {
  *count += w;
}
static void (*volatile gb_count_ptr)(int64_t *, int64_t) = gb_count;

struct gb_slot {
  int64_t key, count;
  bool used;
};
#define GB_SLOTS 256 /* a power of two, at most half full */
static struct gb_slot *gb_lookup(struct gb_slot *t, int64_t key) {
  uint32_t i = (uint32_t)(((uint64_t)key * 0x9e3779b97f4a7c15ULL) >> 56);
  while (t[i].used && t[i].key != key)
    i = (i + 1) & (GB_SLOTS - 1);
  if (!t[i].used) {
    t[i].used = true;
    t[i].key = key;
  }
  return &t[i];
}
static int64_t gb_checksum(const struct gb_slot *t) {
  int64_t sum = 0;
  for (int i = 0; i < GB_SLOTS; i++)
    sum += t[i].count;
  return sum;
}

static int64_t floor_gb(int64_t n) {
  struct gb_slot t[GB_SLOTS];
  memset(t, 0, sizeof(t));
  rill_map_fn key = gb_key_ptr;
  void (*count)(int64_t *, int64_t) = gb_count_ptr;
  for (int64_t i = 0; i < n; i++) {
    rill_value_t k;
    key(NULL, rill_value_int(i), &k);
    count(&gb_lookup(t, k.as.i)->count, k.as.i + 1);
  }
  return gb_checksum(t);
}

static int64_t floor_gb_inline_key(int64_t n) {
  struct gb_slot t[GB_SLOTS];
  memset(t, 0, sizeof(t));
  void (*count)(int64_t *, int64_t) = gb_count_ptr;
  for (int64_t i = 0; i < n; i++) {
    int64_t k = i % GB_KEYS;
    count(&gb_lookup(t, k)->count, k + 1);
  }
  return gb_checksum(t);
}

/* rill: each group subscribed by a counting subscriber from the outer's
 * on_next. */
struct gb_group_ctx {
  int64_t count, weight;
};
static struct gb_group_ctx gb_groups[GB_KEYS];
static void gb_group_next(void *ctx, rill_value_t v) {
  (void)v;
  struct gb_group_ctx *g = ctx;
  gb_count_ptr(&g->count, g->weight);
}
static void gb_outer_next(void *ctx, rill_value_t group) {
  (void)ctx;
  int64_t k = rill_group_key(group).as.i;
  gb_groups[k].weight = k + 1;
  rill_observable_t *g = rill_group_observable(group);
  rill_subscriber_t sub = {.on_next = gb_group_next};
  if (rill_observable_consume(g, &sub, &gb_groups[k], RILL_UNBOUNDED, NULL) !=
      0) {
    fprintf(stderr, "bench: group subscribe failed\n");
    exit(1);
  }
  rill_observable_free(g);
  rill_value_release(group);
}
static int64_t rill_gb(int64_t n) {
  memset(gb_groups, 0, sizeof(gb_groups));
  rill_observable_t *p =
      rill_group_by(rill_range(0, n), gb_key_ptr, NULL, NULL);
  rill_subscriber_t sub = {.on_next = gb_outer_next};
  if (p == NULL ||
      rill_observable_consume(p, &sub, NULL, RILL_UNBOUNDED, NULL) != 0) {
    fprintf(stderr, "bench: subscribe failed\n");
    exit(1);
  }
  rill_observable_free(p);
  int64_t sum = 0;
  for (int k = 0; k < GB_KEYS; k++)
    sum += gb_groups[k].count;
  return sum;
}

/* rill: merge_map of each group into reduce, the weight as its ctx. */
static int gb_reduce_count(void *ctx, rill_value_t acc, rill_value_t v,
                           rill_value_t *out) {
  (void)v;
  int64_t c = acc.as.i;
  gb_count_ptr(&c, (int64_t)(intptr_t)ctx);
  *out = rill_value_int(c);
  return 0;
}
static int gb_per_group(void *ctx, rill_value_t group,
                        rill_observable_t **out) {
  (void)ctx;
  rill_value_t seed = rill_value_int(0);
  *out = rill_reduce(rill_group_observable(group), gb_reduce_count,
                     (void *)(intptr_t)(rill_group_key(group).as.i + 1), &seed);
  return *out ? 0 : RILL_ENOMEM;
}
static int64_t rill_gb_reduce(int64_t n) {
  rill_observable_t *p =
      rill_merge_map(rill_group_by(rill_range(0, n), gb_key_ptr, NULL, NULL),
                     gb_per_group, NULL, 0, 0);
  int64_t s = run_rill(p, RILL_UNBOUNDED);
  rill_observable_free(p);
  return s;
}

/* ---- W3: time operators on libev ----------------------------------------
 * Values come from a user function (a pull through a pointer on both
 * sides); after every burst of n/W3_BURSTS values the producer lets 11 ms
 * pass and runs one loop iteration, so windows open and timers fire
 * deterministically.  That pause is not timed. */
#define W3_BURSTS 10
#define W3_WINDOW_MS 10.0

static struct ev_loop *bench_loop;
static rill_sched_t *bench_sched;
static double w3_paused_ns; /* time spent in pauses, subtracted */

/* Emitted values: the count and the sum, folded into one checksum. */
struct w3_out {
  int64_t count;
  int64_t sum;
};
static int64_t w3_check(const struct w3_out *o) {
  return o->sum * 1000003 + o->count;
}

static void w3_pause(void) {
  double t0 = now_ns();
  ev_sleep(W3_WINDOW_MS / 1000.0 + 0.001);
  ev_run(bench_loop, EVRUN_NOWAIT);
  w3_paused_ns += now_ns() - t0;
}

/* The producer, the same user function on both sides (rill calls it as
 * rill_generate's next): the value i, pausing before each new burst. */
struct w3_src {
  int64_t i, n, burst;
};
static int w3_produce(void *state, rill_value_t *out) {
  struct w3_src *s = state;
  if (s->i == s->n)
    return 0;
  if (s->i != 0 && s->i % s->burst == 0)
    w3_pause();
  *out = rill_value_int(s->i++);
  return 1;
}
static rill_generate_next_fn volatile w3_produce_ptr = w3_produce;

/* Floor throttle: leading edge, the window measured with ev_now(). */
struct floor_throttle {
  double window_end;
  struct w3_out out;
};
__attribute__((noinline)) static void
floor_throttle_push(struct floor_throttle *t, int64_t x) {
  double now = ev_now(bench_loop);
  if (now >= t->window_end) {
    t->out.count++;
    t->out.sum += x;
    t->window_end = now + W3_WINDOW_MS / 1000.0;
  }
}
static void (*volatile floor_throttle_ptr)(struct floor_throttle *,
                                           int64_t) = floor_throttle_push;

static int64_t floor_w3t(int64_t n) {
  struct floor_throttle t = {.window_end = -1};
  struct w3_src src = {.n = n, .burst = n / W3_BURSTS};
  rill_generate_next_fn produce = w3_produce_ptr;
  void (*push)(struct floor_throttle *, int64_t) = floor_throttle_ptr;
  rill_value_t x;
  ev_run(bench_loop, EVRUN_NOWAIT);
  while (produce(&src, &x))
    push(&t, x.as.i);
  return w3_check(&t.out);
}

/* Floor debounce, the lazy deadline: a push stores the value and its
 * deadline; one timer, started only when idle, re-checks the deadline
 * when it fires and re-arms for what is left. */
struct floor_debounce {
  ev_timer timer;
  double deadline;
  int64_t pending;
  int has;
  struct w3_out out;
};
static void floor_debounce_fired(struct ev_loop *loop, ev_timer *w,
                                 int revents) {
  (void)revents;
  struct floor_debounce *d = (struct floor_debounce *)w;
  double left = d->deadline - ev_now(loop);
  if (left > 0) {
    ev_timer_set(w, left, 0.);
    ev_timer_start(loop, w);
    return;
  }
  d->out.count++;
  d->out.sum += d->pending;
  d->has = 0;
}
__attribute__((noinline)) static void
floor_debounce_push(struct floor_debounce *d, int64_t x) {
  d->pending = x;
  d->has = 1;
  d->deadline = ev_now(bench_loop) + W3_WINDOW_MS / 1000.0;
  if (!ev_is_active(&d->timer)) {
    ev_timer_set(&d->timer, W3_WINDOW_MS / 1000.0, 0.);
    ev_timer_start(bench_loop, &d->timer);
  }
}
static void (*volatile floor_debounce_ptr)(struct floor_debounce *,
                                           int64_t) = floor_debounce_push;

static int64_t floor_w3d(int64_t n) {
  struct floor_debounce d = {.has = 0};
  struct w3_src src = {.n = n, .burst = n / W3_BURSTS};
  rill_generate_next_fn produce = w3_produce_ptr;
  void (*push)(struct floor_debounce *, int64_t) = floor_debounce_ptr;
  rill_value_t x;
  ev_init(&d.timer, floor_debounce_fired);
  ev_run(bench_loop, EVRUN_NOWAIT);
  while (produce(&src, &x))
    push(&d, x.as.i);
  ev_timer_stop(bench_loop, &d.timer);
  if (d.has) { /* completion emits the pending value */
    d.out.count++;
    d.out.sum += d.pending;
  }
  return w3_check(&d.out);
}

static void w3_sink_next(void *ctx, rill_value_t v) {
  struct w3_out *o = ctx;
  o->count++;
  o->sum += v.as.i;
}

static int64_t rill_w3(int64_t n, bool debounce) {
  struct w3_src src = {.n = n, .burst = n / W3_BURSTS};
  rill_observable_t *g = rill_generate(NULL, w3_produce_ptr, NULL, &src);
  rill_observable_t *p =
      debounce ? rill_debounce(g, bench_sched, W3_WINDOW_MS, NULL)
               : rill_throttle(g, bench_sched, W3_WINDOW_MS, NULL);
  if (p == NULL)
    return -1;
  struct w3_out out = {0, 0};
  rill_subscriber_t sub = {.on_next = w3_sink_next};
  ev_run(bench_loop, EVRUN_NOWAIT);
  if (rill_observable_consume(p, &sub, &out, RILL_UNBOUNDED, NULL) != 0)
    out.count = -1;
  rill_observable_free(p);
  return w3_check(&out);
}
static int64_t rill_w3t(int64_t n) {
  return rill_w3(n, false);
}
static int64_t rill_w3d(int64_t n) {
  return rill_w3(n, true);
}

/* ---- FD: a pipe fed by a child process ----------------------------------*/
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
  bool failed;
};

static void fd_count_next(void *ctx, rill_value_t v) {
  struct fd_count *c = ctx;
  c->bytes += rill_buf_len(v.as.buf);
  rill_value_release(v);
}

static void fd_count_error(void *ctx, const rill_error_t *err) {
  struct fd_count *c = ctx;
  c->failed = true;
  fprintf(stderr, "bench: from_fd: %s\n", err->message);
}

static double fd_rill(size_t total) {
  int fd;
  pid_t pid = spawn_writer(&fd, total);
  if (pid < 0)
    return -1;
  struct fd_count c = {0, false};
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
  rill_observable_consume(p, &sub, &c, 16, NULL);
  ev_run(bench_loop, 0);
  double t1 = now_ns();
  rill_observable_free(p);
  waitpid(pid, NULL, 0);
  return c.bytes == total && !c.failed ? (double)total / (t1 - t0) : -1;
}

/* ---- SLOW: a consumer that holds what it has not processed yet ----------*/
#define SLOW_WINDOW 4   /* chunks requested ahead */
#define SLOW_PER_TICK 2 /* chunks "processed" per tick */
#define SLOW_TICK_MS 1.0

/* Resident set size now, in KiB (/proc/self/statm); -1 if unreadable. */
static long rss_now_kib(void) {
  long pages = 0, resident = -1;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f == NULL)
    return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
    resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

struct slow {
  ev_timer tick;
  rill_subscription_t *sub;
  rill_value_t *held; /* received, not processed yet (a growable FIFO) */
  size_t head, len, cap;
  size_t held_bytes, peak_held_bytes;
  long requested, received, beyond; /* beyond: received over requested */
  size_t bytes;
  long rss_peak_kib;
  double t_start; /* the feed gives up after 60 s (a stalled source) */
  bool rss_failed;
  bool done, failed;
};

static void slow_sample_rss(struct slow *s) {
  long rss = rss_now_kib();
  if (rss < 0)
    s->rss_failed = true;
  else if (rss > s->rss_peak_kib)
    s->rss_peak_kib = rss;
}

static void slow_on_subscribe(void *ctx, rill_subscription_t *sub) {
  struct slow *s = ctx;
  s->sub = sub;
  s->requested = SLOW_WINDOW;
  rill_subscription_request(sub, SLOW_WINDOW);
}

static void slow_on_next(void *ctx, rill_value_t v) {
  struct slow *s = ctx;
  if (s->len == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    rill_value_t *q = malloc(cap * sizeof(*q));
    if (q == NULL) {
      rill_value_release(v);
      s->failed = true;
      return;
    }
    for (size_t i = 0; i < s->len; i++)
      q[i] = s->held[(s->head + i) % s->cap];
    free(s->held);
    s->held = q;
    s->head = 0;
    s->cap = cap;
  }
  s->held[(s->head + s->len++) % s->cap] = v;
  s->held_bytes += rill_buf_capacity(v.as.buf);
  if (s->held_bytes > s->peak_held_bytes)
    s->peak_held_bytes = s->held_bytes;
  if (++s->received > s->requested)
    s->beyond++;
  slow_sample_rss(s);
}

static void slow_on_error(void *ctx, const rill_error_t *err) {
  struct slow *s = ctx;
  s->failed = s->done = true;
  fprintf(stderr, "bench: slow consumer: %s\n", err->message);
}
static void slow_on_complete(void *ctx) {
  ((struct slow *)ctx)->done = true;
}

/* Process (release) a few held chunks, asking for one more per chunk. */
static void slow_tick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  struct slow *s = (struct slow *)w;
  slow_sample_rss(s);
  for (int k = 0; k < SLOW_PER_TICK && s->len > 0; k++) {
    rill_value_t v = s->held[s->head];
    s->head = (s->head + 1) % s->cap;
    s->len--;
    s->held_bytes -= rill_buf_capacity(v.as.buf);
    s->bytes += rill_buf_len(v.as.buf);
    rill_value_release(v);
    if (!s->done) {
      s->requested++;
      rill_subscription_request(s->sub, 1);
    }
  }
  if (!s->done && now_ns() - s->t_start > 60e9) {
    fprintf(stderr, "bench: slow consumer: stalled for 60 s\n");
    s->failed = s->done = true;
    rill_subscription_cancel(s->sub);
  }
  if (s->done && s->len == 0)
    ev_timer_stop(loop, w);
}

/* Returns GB/s or -1; *growth_kib the peak RSS growth (-1: unmeasurable). */
static double slow_rill(size_t total, struct slow *s, long *growth_kib) {
  int fd;
  *growth_kib = -1;
  pid_t pid = spawn_writer(&fd, total);
  if (pid < 0)
    return -1;
  rill_observable_t *p = rill_from_fd(bench_sched, fd, FD_CHUNK, RILL_FD_CLOSE);
  if (p == NULL) {
    close(fd);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
  }
  long rss0 = rss_now_kib();
  s->rss_peak_kib = rss0;
  if (rss0 < 0)
    s->rss_failed = true;
  rill_subscriber_t sub = {.on_subscribe = slow_on_subscribe,
                           .on_next = slow_on_next,
                           .on_error = slow_on_error,
                           .on_complete = slow_on_complete};
  ev_timer_init(&s->tick, slow_tick, SLOW_TICK_MS / 1e3, SLOW_TICK_MS / 1e3);
  ev_timer_start(bench_loop, &s->tick);
  double t0 = now_ns();
  s->t_start = t0;
  rill_observable_subscribe(p, &sub, s, NULL);
  ev_run(bench_loop, 0);
  double t1 = now_ns();
  ev_timer_stop(bench_loop, &s->tick);
  rill_observable_free(p);
  for (; s->len > 0; s->len--) {
    rill_value_release(s->held[s->head]);
    s->head = (s->head + 1) % s->cap;
  }
  free(s->held);
  s->held = NULL;
  kill(pid, SIGTERM); /* in case the stream failed early */
  waitpid(pid, NULL, 0);
  if (!s->rss_failed)
    *growth_kib = s->rss_peak_kib - rss0;
  return s->bytes == total && !s->failed ? (double)total / (t1 - t0) : -1;
}

/* ---- RETRY: a million synchronous retries --------------------------------*/
static int64_t retry_limit;
static uintptr_t retry_first_sp, retry_lowest_sp;

static int retry_pred(void *ctx, const rill_error_t *err, int64_t attempt) {
  (void)ctx;
  (void)err;
  volatile char here;
  uintptr_t sp = (uintptr_t)&here;
  if (attempt == 1)
    retry_first_sp = retry_lowest_sp = sp;
  if (sp < retry_lowest_sp)
    retry_lowest_sp = sp;
  return attempt <= retry_limit;
}

static int64_t rill_retry_w(int64_t n) {
  retry_limit = n;
  rill_retry_opts_t opts = {.should_retry = retry_pred};
  rill_observable_t *p =
      rill_retry(rill_error(RILL_EUSER, "down"), RILL_UNBOUNDED, &opts);
  rill_values_t got = {0};
  int rc = rill_observable_collect(p, &got, NULL);
  rill_values_clear(&got);
  rill_observable_free(p);
  return rc == RILL_EUSER ? n : -1;
}

static int floor_fail(void) {
  return RILL_EUSER;
}
static int (*volatile floor_fail_ptr)(void) = floor_fail;
static int (*volatile floor_pred_ptr)(void *, const rill_error_t *,
                                      int64_t) = retry_pred;

static int64_t floor_retry(int64_t n) {
  retry_limit = n;
  rill_error_t err = {.code = RILL_EUSER};
  int64_t k = 0;
  while (floor_fail_ptr() < 0 && floor_pred_ptr(NULL, &err, k + 1))
    k++;
  return k;
}

/* ---- FANOUT: a subject pushing to four counting subscribers ----------------
 * Both sides call the same counting function through a pointer, with the
 * same arguments: the floor four times per value in a loop, rill once per
 * subscriber from the subject's fan-out. */
#define FANOUT_SUBS 4
struct fan_count {
  int64_t n, sum;
};
static void fanout_count(void *ctx, rill_value_t v) {
  struct fan_count *c = ctx;
  c->n++;
  c->sum += v.as.i;
}
static void (*volatile fanout_count_ptr)(void *, rill_value_t) = fanout_count;

static int64_t fanout_check(const struct fan_count *c) {
  int64_t x = 0;
  for (int k = 0; k < FANOUT_SUBS; k++)
    x += c[k].n * 1000003 + c[k].sum;
  return x;
}

static int64_t floor_fanout(int64_t n) {
  void (*fn[FANOUT_SUBS])(void *, rill_value_t);
  struct fan_count c[FANOUT_SUBS];
  for (int k = 0; k < FANOUT_SUBS; k++) {
    fn[k] = fanout_count_ptr;
    c[k] = (struct fan_count){0, 0};
  }
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < FANOUT_SUBS; k++)
      fn[k](&c[k], rill_value_int(i));
  return fanout_check(c);
}

static int64_t rill_fanout(int64_t n) {
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  struct fan_count c[FANOUT_SUBS];
  rill_subscription_t *h[FANOUT_SUBS];
  rill_subscriber_t sub = {.on_next = fanout_count_ptr};
  for (int k = 0; k < FANOUT_SUBS; k++) {
    c[k] = (struct fan_count){0, 0};
    if (obs == NULL ||
        rill_observable_consume(obs, &sub, &c[k], RILL_UNBOUNDED, &h[k]) != 0) {
      fprintf(stderr, "bench: subscribe failed\n");
      exit(1);
    }
  }
  for (int64_t i = 0; i < n; i++)
    rill_subject_next(subj, rill_value_int(i));
  rill_subject_complete(subj);
  for (int k = 0; k < FANOUT_SUBS; k++)
    rill_subscription_free(h[k]);
  rill_observable_free(obs);
  rill_subject_free(subj);
  return fanout_check(c);
}

/* ---- harness ------------------------------------------------------------*/
static int runs = 7;

/* RILL_BENCH_ONLY unset, or one of its items is a prefix of `key` (see
 * the top comment). */
static int bench_wants(const char *key) {
  const char *only = getenv("RILL_BENCH_ONLY");
  if (only == NULL || *only == '\0')
    return 1;
  for (const char *p = only; *p != '\0';) {
    size_t len = strcspn(p, ",");
    if (len != 0 && strncasecmp(key, p, len) == 0)
      return 1;
    p += len + (p[len] == ',');
  }
  return 0;
}

struct series {
  const char *name;
  int64_t (*fn)(int64_t);
  int64_t n;
  double ns[64];
  double allocs_per;
  int64_t check;
};

static void run_once(struct series *s, int round) {
  allocs = 0;
  w3_paused_ns = 0;
  double t0 = now_ns();
  int64_t c = s->fn(s->n);
  double t1 = now_ns();
  sink_value = c;
  if (round > 0 && c != s->check) {
    fprintf(stderr, "bench: %s: checksum changed between rounds\n", s->name);
    exit(1);
  }
  s->check = c;
  s->ns[round] = (t1 - t0 - w3_paused_ns) / (double)s->n;
  s->allocs_per = (double)allocs / (double)s->n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
static double median(const struct series *s) {
  double v[64];
  memcpy(v, s->ns, sizeof(double) * (size_t)runs);
  qsort(v, (size_t)runs, sizeof(double), cmp_double);
  return runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
}

/* Interleaved: round r measures every series once. */
static void measure_all(struct series *ss, int count) {
  for (int r = 0; r < runs; r++)
    for (int i = 0; i < count; i++)
      run_once(&ss[i], r);
}

static int report(const struct series *s, const struct series *floor,
                  double target) {
  double m = median(s), ratio = m / median(floor);
  int ok = (target <= 0 || ratio <= target) && s->allocs_per < 1e-4;
  printf("  %-32s %8.2f ns/elem  %6.2fx floor  %.6f allocs/elem", s->name, m,
         ratio, s->allocs_per);
  if (target > 0)
    printf("  target <= %.1fx: %s", target, ok ? "met" : "MISSED");
  printf("\n");
  return ok;
}

/* W5 allows allocations per inner subscription (its range and its
 * subscription), none per element: at most 8 per inner, counted. */
static int report_w5(const struct series *s, const struct series *floor) {
  double m = median(s), ratio = m / median(floor);
  double per_inner = s->allocs_per * W5_INNER;
  int ok = ratio <= 3.0 && per_inner <= 8;
  printf("  %-32s %8.2f ns/elem  %6.2fx floor  %.2f allocs/inner"
         "  target <= 3.0x, no allocation per element: %s\n",
         s->name, m, ratio, per_inner, ok ? "met" : "MISSED");
  return ok;
}

static int check_eq(const struct series *a, const struct series *b) {
  if (a->check == b->check)
    return 1;
  printf("  %s: checksum %lld differs from %s's %lld: MISSED\n", a->name,
         (long long)a->check, b->name, (long long)b->check);
  return 0;
}

/* Where rill_range comes from: the shared library, not this program. */
static int check_shared(void) {
  Dl_info info;
  char self[PATH_MAX];
  ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
  self[k > 0 ? k : 0] = '\0';
  if (dladdr((void *)rill_range, &info) == 0 || info.dli_fname == NULL) {
    printf("rill library: cannot tell (dladdr failed): MISSED\n");
    return 0;
  }
  int shared = strstr(info.dli_fname, ".so") != NULL &&
               strcmp(info.dli_fname, self) != 0;
  printf("rill library: %s (%s)\n", info.dli_fname,
         shared ? "shared, as users link it" : "static: MISSED");
  return shared;
}

/* ---- instruction counts (bench --count) -----------------------------------*/
static const struct {
  const char *name;
  int64_t (*fn)(int64_t);
} count_workloads[] = {
    {"w1-floor", floor_fnptr_w1},
    {"w1", rill_w1},
    {"w1b", rill_w1b},
    {"w2-floor", floor_fnptr_w2},
    {"w2", rill_w2},
    {"w5-floor", floor_w5},
    {"w5", rill_w5},
    {"w5-4", rill_w5_4},
    {"w6-floor", floor_w6},
    {"w6", rill_w6},
    {"groupby-floor", floor_gb},
    {"groupby", rill_gb},
    {"groupby-reduce", rill_gb_reduce},
    {"fanout-floor", floor_fanout},
    {"fanout", rill_fanout},
};

static int count_one(const char *name, int64_t n) {
  for (size_t i = 0; i < sizeof(count_workloads) / sizeof(count_workloads[0]);
       i++)
    if (strcmp(count_workloads[i].name, name) == 0) {
      printf("%lld\n", (long long)count_workloads[i].fn(n));
      return 0;
    }
  fprintf(stderr, "bench: no workload %s\n", name);
  return 2;
}

/* Total instructions of `bench count name n` under callgrind, or -1. */
static double callgrind_ir(const char *self, const char *name, int64_t n) {
  char out[] = "/tmp/rill-bench-cg.XXXXXX";
  int fd = mkstemp(out);
  if (fd < 0)
    return -1;
  close(fd);
  char cmd[PATH_MAX * 2 + 256];
  snprintf(cmd, sizeof(cmd),
           "valgrind --tool=callgrind --callgrind-out-file=%s '%s' count %s "
           "%lld >/dev/null 2>&1",
           out, self, name, (long long)n);
  double ir = -1;
  if (system(cmd) == 0) {
    FILE *f = fopen(out, "r");
    char line[256];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
      if (strncmp(line, "summary:", 8) == 0)
        ir = atof(line + 8);
    if (f != NULL)
      fclose(f);
  }
  unlink(out);
  return ir;
}

static int count_all(void) {
  char self[PATH_MAX];
  ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (k <= 0) {
    printf("bench --count: cannot find this program: MISSED\n");
    return 1;
  }
  self[k] = '\0';
  if (system("valgrind --version >/dev/null 2>&1") != 0) {
    printf("bench --count: valgrind not found, instructions not counted: "
           "MISSED\n");
    return 1;
  }
  const int64_t n = 200000;
  const struct {
    const char *name, *label;
    double target;
  } rows[] = {
      {"w1-floor", "W1 floor (function pointers)", 0},
      {"w1", "W1 range|map|filter|sum", 36},
      {"w1b", "W1 batch 128", 0},
      {"w2-floor", "W2 floor (function pointers)", 0},
      {"w2", "W2 merge(4)|map|sum", 27},
      {"w5-floor", "W5 floor (nested loops)", 0},
      {"w5", "W5 merge_map unbounded", 0},
      {"w5-4", "W5 merge_map max 4", 0},
      {"w6-floor", "W6 floor (function pointer)", 0},
      {"w6", "W6 zip(range, range) sum", 0},
      {"groupby-floor", "GROUPBY floor (key fn, lookup, count)", 0},
      {"groupby", "GROUPBY group_by | count per group", 0},
      {"groupby-reduce", "GROUPBY merge_map(reduce)", 0},
      {"fanout-floor", "FANOUT floor (4 pointers/value)", 0},
      {"fanout", "FANOUT subject to 4 subscribers", 0},
  };
  int ok = 1;
  printf("instructions per element (callgrind, (Ir(%lld) - Ir(%lld)) / "
         "%lld):\n",
         (long long)n, (long long)n / 2, (long long)n / 2);
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    if (!bench_wants(rows[i].name))
      continue;
    double a = callgrind_ir(self, rows[i].name, n);
    double b = callgrind_ir(self, rows[i].name, n / 2);
    if (a < 0 || b < 0) {
      printf("  %-32s not measured (callgrind failed): MISSED\n",
             rows[i].label);
      ok = 0;
      continue;
    }
    double per = (a - b) / (double)(n / 2);
    printf("  %-32s %6.2f instr/elem", rows[i].label, per);
    if (rows[i].target > 0) {
      int met = per <= rows[i].target;
      ok &= met;
      printf("  target <= %.0f: %s", rows[i].target, met ? "met" : "MISSED");
    }
    printf("\n");
  }
  printf("bench --count: %s\n", ok ? "all targets met" : "some targets MISSED");
  return ok ? 0 : 1;
}

/* ---- REDIS_SRC, REDIS_SINK: the Redis Streams connector -----------------
 * Against a redis-server this program starts on a unix socket in a
 * temporary directory (skipped, with a message, without one).  The floors
 * are what a libev program would write by hand with hiredis' async API
 * and its libev adapter, on the same loop and the same kind of
 * connection:
 *   source: XREADGROUP GROUP g c COUNT 128 BLOCK 2000 STREAMS key > on one
 *     connection; each reply's entries counted, the next read sent, then
 *     one XACK of the batch's ids on a second connection, never waited
 *     for (rill_redis_source: the same read, one XACK per loop iteration
 *     on its ack connection); the run ends when every XACK was answered.
 *     rill: rill_redis_source (batch 128, no claims) -> a counting
 *     subscriber that requests 256 and tops up by 128, releasing each
 *     message (the ack) -- cancelled after the n-th.
 *     Between rounds the group is destroyed and created again at 0, so
 *     each round reads the same n entries; after each round nothing may
 *     be pending (every message acked).
 *   sink: XADD key * data <i> for i in 0..n-1, 128 in flight, one more
 *     per reply.  rill: range(0, n) -> rill_redis_sink (window 128; an
 *     integer is one field "data" in decimal).  The stream is deleted
 *     before each round; after it, XLEN must be n. */
#ifdef RILL_BENCH_HIREDIS
#define RB_BATCH 128
#define RB_SRC_KEY "bench:src"
#define RB_SINK_KEY "bench:sink"
#define RB_GROUP "g"

static struct {
  pid_t pid;
  char dir[64];
  char sock[96];
  redisContext *admin; /* synchronous, for set-up and checks */
  bool failed;         /* a round went wrong: MISSED */
} rb;

static const char *rb_server_path(void) {
  static char found[512];
  const char *env = getenv("RILL_REDIS_SERVER");
  if (env != NULL && *env != '\0')
    return access(env, X_OK) == 0 ? env : NULL;
  const char *path = getenv("PATH");
  for (const char *p = path ? path : "/usr/bin:/bin"; *p != '\0';) {
    size_t n = strcspn(p, ":");
    if (n > 0 && n < sizeof(found) - 16) {
      snprintf(found, sizeof(found), "%.*s/redis-server", (int)n, p);
      if (access(found, X_OK) == 0)
        return found;
    }
    p += n + (p[n] == ':');
  }
  return access("/usr/sbin/redis-server", X_OK) == 0 ? "/usr/sbin/redis-server"
                                                     : NULL;
}

static void rb_stop(void) {
  if (rb.admin != NULL)
    redisFree(rb.admin);
  rb.admin = NULL;
  if (rb.pid > 0) {
    kill(rb.pid, SIGTERM);
    waitpid(rb.pid, NULL, 0);
    rb.pid = 0;
  }
  if (rb.dir[0] != '\0') {
    char path[128];
    snprintf(path, sizeof(path), "%s/redis.log", rb.dir);
    unlink(path);
    unlink(rb.sock);
    rmdir(rb.dir);
    rb.dir[0] = '\0';
  }
}

/* Start redis-server; NULL or why not. */
static const char *rb_start(void) {
  const char *bin = rb_server_path();
  if (bin == NULL)
    return "redis-server not found (Debian package redis-server)";
  snprintf(rb.dir, sizeof(rb.dir), "/tmp/rill-bench-redis-XXXXXX");
  if (mkdtemp(rb.dir) == NULL) {
    rb.dir[0] = '\0';
    return "cannot make a temporary directory";
  }
  snprintf(rb.sock, sizeof(rb.sock), "%s/redis.sock", rb.dir);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return "fork failed";
  if (pid == 0) {
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the bench */
#endif
    char log[128];
    snprintf(log, sizeof(log), "%s/redis.log", rb.dir);
    if (freopen(log, "a", stdout) != NULL)
      dup2(STDOUT_FILENO, STDERR_FILENO);
    execl(bin, "redis-server", "--port", "0", "--unixsocket", rb.sock,
          "--unixsocketperm", "700", "--dir", rb.dir, "--save", "",
          "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
          (char *)NULL);
    _exit(127);
  }
  rb.pid = pid;
  for (int i = 0; i < 500; i++) {
    redisContext *c = redisConnectUnix(rb.sock);
    redisReply *r = c && c->err == 0 ? redisCommand(c, "PING") : NULL;
    bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
    if (r != NULL)
      freeReplyObject(r);
    if (ok) {
      rb.admin = c;
      return NULL;
    }
    if (c != NULL)
      redisFree(c);
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      rb.pid = 0;
      return "redis-server exited at start";
    }
    usleep(10000);
  }
  return "redis-server did not answer within 5 s";
}

/* Set-up and checks are not timed: run_once subtracts w3_paused_ns. */
/* This process's CPU time (user + system), ns: the client's share of a
 * round, steadier than wall time on a loaded machine. */
static double cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}
static double rb_cpu_ns; /* of the last round's timed part */

static void rb_untimed_end(double since) {
  w3_paused_ns += now_ns() - since;
}

/* A command on the admin connection; its integer reply, or -1. */
static long long rb_cmd(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(rb.admin, fmt, ap);
  va_end(ap);
  long long v = -1;
  if (r != NULL && r->type == REDIS_REPLY_INTEGER)
    v = r->integer;
  else if (r != NULL && r->type == REDIS_REPLY_STATUS)
    v = 0;
  if (r != NULL)
    freeReplyObject(r);
  return v;
}

/* XADD key * data <i> for i in 0..n-1, pipelined 1000 at a time. */
static bool rb_fill(const char *key, int64_t n) {
  for (int64_t i = 0; i < n; i += 1000) {
    int64_t m = n - i < 1000 ? n - i : 1000;
    for (int64_t k = 0; k < m; k++)
      redisAppendCommand(rb.admin, "XADD %s * data %lld", key,
                         (long long)(i + k));
    for (int64_t k = 0; k < m; k++) {
      redisReply *r;
      if (redisGetReply(rb.admin, (void **)&r) != REDIS_OK)
        return false;
      bool ok = r->type == REDIS_REPLY_STRING;
      freeReplyObject(r);
      if (!ok)
        return false;
    }
  }
  return true;
}

static long long rb_pending(void) {
  redisReply *r =
      redisCommand(rb.admin, "XPENDING %s %s", RB_SRC_KEY, RB_GROUP);
  long long n = -1;
  if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
      r->element[0]->type == REDIS_REPLY_INTEGER)
    n = r->element[0]->integer;
  if (r != NULL)
    freeReplyObject(r);
  return n;
}

/* Untimed, before each source round: the group at 0 again, nothing
 * pending. */
static void rb_src_reset(void) {
  rb_cmd("XGROUP DESTROY %s %s", RB_SRC_KEY, RB_GROUP);
  if (rb_cmd("XGROUP CREATE %s %s 0", RB_SRC_KEY, RB_GROUP) != 0)
    rb.failed = true;
}

/* Untimed, after each source round: every message acked. */
static void rb_src_check(const char *who) {
  long long p = rb_pending();
  if (p != 0) {
    printf("  %s: %lld messages still pending after the round: MISSED\n", who,
           p);
    rb.failed = true;
  }
}

/* The hand-written source. */
struct fsrc {
  redisAsyncContext *rd, *ack;
  int64_t n, count;
  int acks_out;
  bool failed;
};

static void fsrc_read(struct fsrc *f);

static void fsrc_end_if_done(struct fsrc *f) {
  if ((f->count >= f->n || f->failed) && f->acks_out == 0 && f->rd != NULL) {
    redisAsyncDisconnect(f->rd);
    redisAsyncDisconnect(f->ack);
    f->rd = f->ack = NULL;
  }
}

/* A connection lost (a NULL reply: hiredis frees it): close the other. */
static void fsrc_lost(struct fsrc *f) {
  f->failed = true;
  if (f->rd != NULL) {
    redisAsyncContext *rd = f->rd, *ack = f->ack;
    f->rd = f->ack = NULL;
    redisAsyncDisconnect(rd);
    redisAsyncDisconnect(ack);
  }
}

static void fsrc_ack_reply(redisAsyncContext *c, void *r, void *priv) {
  (void)c;
  struct fsrc *f = priv;
  const redisReply *reply = r;
  f->acks_out--;
  if (reply == NULL) {
    fsrc_lost(f);
    return;
  }
  if (reply->type != REDIS_REPLY_INTEGER)
    f->failed = true;
  fsrc_end_if_done(f);
}

static void fsrc_read_reply(redisAsyncContext *c, void *r, void *priv) {
  (void)c;
  struct fsrc *f = priv;
  const redisReply *reply = r;
  if (reply == NULL) {
    fsrc_lost(f);
    return;
  }
  if (f->rd == NULL)
    return;
  if (reply->type == REDIS_REPLY_NIL) { /* BLOCK expired */
    fsrc_read(f);
    return;
  }
  const redisReply *entries = NULL;
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
      reply->element[0]->type == REDIS_REPLY_ARRAY &&
      reply->element[0]->elements == 2)
    entries = reply->element[0]->element[1];
  if (entries == NULL || entries->type != REDIS_REPLY_ARRAY ||
      entries->elements > RB_BATCH) {
    f->failed = true;
    fsrc_end_if_done(f);
    return;
  }
  const char *argv[3 + RB_BATCH] = {"XACK", RB_SRC_KEY, RB_GROUP};
  size_t lens[3 + RB_BATCH] = {4, strlen(RB_SRC_KEY), strlen(RB_GROUP)};
  size_t k = 3;
  for (size_t i = 0; i < entries->elements; i++) {
    const redisReply *e = entries->element[i];
    argv[k] = e->element[0]->str;
    lens[k++] = e->element[0]->len;
    f->count++;
  }
  if (f->count < f->n)
    fsrc_read(f);
  if (k > 3) {
    redisAsyncCommandArgv(f->ack, fsrc_ack_reply, f, (int)k, argv, lens);
    f->acks_out++;
  }
}

static void fsrc_read(struct fsrc *f) {
  char count[24];
  int64_t left = f->n - f->count;
  snprintf(count, sizeof(count), "%lld",
           (long long)(left < RB_BATCH ? left : RB_BATCH));
  const char *argv[] = {"XREADGROUP", "GROUP",    RB_GROUP, "c",
                        "COUNT",      count,      "BLOCK",  "2000",
                        "STREAMS",    RB_SRC_KEY, ">"};
  redisAsyncCommandArgv(f->rd, fsrc_read_reply, f, 11, argv, NULL);
}

static int64_t floor_redis_src(int64_t n) {
  double u0 = now_ns();
  rb_src_reset();
  struct fsrc f = {.n = n};
  f.rd = redisAsyncConnectUnix(rb.sock);
  f.ack = redisAsyncConnectUnix(rb.sock);
  if (f.rd == NULL || f.ack == NULL || f.rd->err || f.ack->err) {
    rb.failed = true;
    return -1;
  }
  redisLibevAttach(bench_loop, f.rd);
  redisLibevAttach(bench_loop, f.ack);
  rb_untimed_end(u0);
  double c0 = cpu_ns();
  fsrc_read(&f);
  ev_run(bench_loop, 0);
  double u1 = now_ns();
  rb_cpu_ns = cpu_ns() - c0;
  rb_src_check("hiredis source loop");
  rb_untimed_end(u1);
  return f.failed ? -1 : f.count;
}

/* The rill source: a counting subscriber. */
struct rsrc {
  rill_subscription_t *sub;
  int64_t n, count, since;
  bool failed;
};

static void rsrc_subscribe(void *ctx, rill_subscription_t *s) {
  struct rsrc *c = ctx;
  c->sub = s;
  rill_subscription_request(s, 2 * RB_BATCH);
}

static void rsrc_next(void *ctx, rill_value_t v) {
  struct rsrc *c = ctx;
  rill_value_release(v); /* processed: acked */
  if (++c->count == c->n) {
    rill_subscription_cancel(c->sub);
    return;
  }
  if (++c->since == RB_BATCH) {
    c->since = 0;
    rill_subscription_request(c->sub, RB_BATCH);
  }
}

static void rsrc_error(void *ctx, const rill_error_t *err) {
  struct rsrc *c = ctx;
  c->failed = true;
  fprintf(stderr, "bench: redis source: %s\n", err->message);
}

static int64_t rill_redis_src(int64_t n) {
  double u0 = now_ns();
  rb_src_reset();
  rill_redis_conn_t conn = {.address = rb.sock};
  rill_redis_source_opts_t opts = {
      .batch = RB_BATCH, .block_ms = 2000, .claim_idle_ms = INFINITY};
  rill_observable_t *p =
      rill_redis_source(bench_sched, &conn, RB_SRC_KEY, RB_GROUP, "c", &opts);
  struct rsrc c = {.n = n};
  rill_subscriber_t sub = {.on_subscribe = rsrc_subscribe,
                           .on_next = rsrc_next,
                           .on_error = rsrc_error};
  rb_untimed_end(u0);
  double c0 = cpu_ns();
  if (p == NULL || rill_observable_subscribe(p, &sub, &c, NULL) != 0)
    c.failed = true;
  ev_run(bench_loop, 0); /* until the last XACK was answered */
  double u1 = now_ns();
  rb_cpu_ns = cpu_ns() - c0;
  rill_observable_free(p);
  rb_src_check("rill_redis_source");
  rb_untimed_end(u1);
  return c.failed ? -1 : c.count;
}

/* The hand-written sink. */
struct fsink {
  redisAsyncContext *c;
  int64_t n, sent, replied;
  bool failed;
};

static void fsink_send(struct fsink *f);

static void fsink_reply(redisAsyncContext *c, void *r, void *priv) {
  (void)c;
  struct fsink *f = priv;
  const redisReply *reply = r;
  if (reply == NULL || f->c == NULL)
    return;
  if (reply->type != REDIS_REPLY_STRING)
    f->failed = true;
  if (++f->replied == f->n || f->failed) {
    redisAsyncDisconnect(f->c);
    f->c = NULL;
    return;
  }
  if (f->sent < f->n)
    fsink_send(f);
}

static void fsink_send(struct fsink *f) {
  char num[24];
  snprintf(num, sizeof(num), "%lld", (long long)f->sent++);
  const char *argv[] = {"XADD", RB_SINK_KEY, "*", "data", num};
  redisAsyncCommandArgv(f->c, fsink_reply, f, 5, argv, NULL);
}

static int64_t rb_sink_check(const char *who, int64_t n) {
  long long len = rb_cmd("XLEN %s", RB_SINK_KEY);
  if (len != n) {
    printf("  %s: the stream has %lld entries, not %lld: MISSED\n", who, len,
           (long long)n);
    rb.failed = true;
  }
  return len;
}

static int64_t floor_redis_sink(int64_t n) {
  double u0 = now_ns();
  rb_cmd("DEL %s", RB_SINK_KEY);
  struct fsink f = {.n = n};
  f.c = redisAsyncConnectUnix(rb.sock);
  if (f.c == NULL || f.c->err) {
    rb.failed = true;
    return -1;
  }
  redisLibevAttach(bench_loop, f.c);
  rb_untimed_end(u0);
  double c0 = cpu_ns();
  while (f.sent < n && f.sent < RB_BATCH)
    fsink_send(&f);
  ev_run(bench_loop, 0);
  double u1 = now_ns();
  rb_cpu_ns = cpu_ns() - c0;
  int64_t len = f.failed ? -1 : rb_sink_check("hiredis XADD loop", n);
  rb_untimed_end(u1);
  return len;
}

struct rsink {
  bool done, failed;
};

static void rsink_done(void *ctx, const rill_error_t *err) {
  struct rsink *c = ctx;
  c->done = true;
  if (err != NULL) {
    c->failed = true;
    fprintf(stderr, "bench: redis sink: %s\n", err->message);
  }
}

static int64_t rill_redis_sink_w(int64_t n) {
  double u0 = now_ns();
  rb_cmd("DEL %s", RB_SINK_KEY);
  rill_redis_conn_t conn = {.address = rb.sock};
  rill_redis_sink_opts_t opts = {.window = RB_BATCH};
  struct rsink c = {false, false};
  rill_observable_t *src = rill_range(0, n);
  rb_untimed_end(u0);
  double c0 = cpu_ns();
  if (rill_redis_sink(src, bench_sched, &conn, RB_SINK_KEY, &opts, rsink_done,
                      &c, NULL) != 0)
    c.failed = true;
  ev_run(bench_loop, 0);
  double u1 = now_ns();
  rb_cpu_ns = cpu_ns() - c0;
  rill_observable_free(src);
  int64_t len = c.failed || !c.done ? -1 : rb_sink_check("rill_redis_sink", n);
  rb_untimed_end(u1);
  return len;
}

/* Rounds interleaved as measure_all, with each round's client CPU time
 * per message kept in cpu[i] (a series, for median()). */
static void rb_measure(struct series *ss, struct series *cpu, int count) {
  for (int r = 0; r < runs; r++)
    for (int i = 0; i < count; i++) {
      run_once(&ss[i], r);
      cpu[i].ns[r] = rb_cpu_ns / (double)ss[i].n;
    }
}

/* Throughput (messages/s) from a series' median ns per message. */
static int report_redis(const struct series *s, const struct series *floor,
                        const struct series *cpu) {
  double tput = 1e9 / median(s), ftput = 1e9 / median(floor);
  double ratio = tput / ftput;
  int ok = ratio >= 0.8;
  printf("  %-40s %9.0f msgs/s  %5.2fx floor  client CPU %4.0f ns/msg  "
         "%.2f allocs/msg  target >= 0.8x: %s\n",
         s->name, tput, ratio, median(cpu), s->allocs_per,
         ok ? "met" : "MISSED");
  return ok;
}

static void report_redis_floor(const struct series *s,
                               const struct series *cpu) {
  printf("  %-40s %9.0f msgs/s               client CPU %4.0f ns/msg\n",
         s->name, 1e9 / median(s), median(cpu));
}

static int bench_redis(int64_t n) {
  const char *why = rb_start();
  if (why != NULL) {
    printf("REDIS: skipped: %s\n", why);
    rb_stop();
    return 1;
  }
  int ok = 1;
  int runs_saved = runs;
  if (runs > 5)
    runs = 5; /* each round moves n messages through a real server */
  if (bench_wants("redis_src")) {
    rb_cmd("DEL %s", RB_SRC_KEY);
    if (!rb_fill(RB_SRC_KEY, n)) {
      printf("REDIS_SRC: cannot fill the stream: MISSED\n");
      ok = 0;
    } else {
      struct series ss[] = {
          {.name = "hiredis loop: XREADGROUP COUNT + XACK",
           .fn = floor_redis_src,
           .n = n},
          {.name = "rill_redis_source -> counting sink",
           .fn = rill_redis_src,
           .n = n},
      };
      struct series cpu[2];
      rb_measure(ss, cpu, 2);
      printf("REDIS_SRC (%lld messages \"data <i>\" read with acks, COUNT "
             "%d, a unix socket, median of %d rounds):\n",
             (long long)n, RB_BATCH, runs);
      report_redis_floor(&ss[0], &cpu[0]);
      ok &= check_eq(&ss[1], &ss[0]);
      ok &= report_redis(&ss[1], &ss[0], &cpu[1]);
    }
    rb_cmd("DEL %s", RB_SRC_KEY);
  }
  if (bench_wants("redis_sink")) {
    struct series ss[] = {
        {.name = "hiredis loop: XADD pipelined",
         .fn = floor_redis_sink,
         .n = n},
        {.name = "range -> rill_redis_sink", .fn = rill_redis_sink_w, .n = n},
    };
    struct series cpu[2];
    rb_measure(ss, cpu, 2);
    printf("REDIS_SINK (%lld XADD \"data <i>\", %d in flight, a unix "
           "socket, median of %d rounds):\n",
           (long long)n, RB_BATCH, runs);
    report_redis_floor(&ss[0], &cpu[0]);
    ok &= check_eq(&ss[1], &ss[0]);
    ok &= report_redis(&ss[1], &ss[0], &cpu[1]);
    rb_cmd("DEL %s", RB_SINK_KEY);
  }
  runs = runs_saved;
  if (rb.failed) {
    printf("REDIS: a round failed (see above): MISSED\n");
    ok = 0;
  }
  rb_stop();
  return ok;
}
#endif /* RILL_BENCH_HIREDIS */

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "count") == 0)
    return count_one(argv[2], atoll(argv[3]));
  if (argc == 2 && strcmp(argv[1], "--count") == 0)
    return count_all();
  if (argc != 1) {
    fprintf(stderr, "usage: bench [--count | count WORKLOAD N]\n");
    return 2;
  }
  const char *e = getenv("RILL_BENCH_N");
  int64_t n = e ? atoll(e) : 10 * 1000 * 1000;
  const char *rs = getenv("RILL_BENCH_RUNS");
  if (rs)
    runs = atoi(rs) > 0 ? (atoi(rs) < 64 ? atoi(rs) : 63) : 1;
  rill_allocator_set(count_malloc, count_realloc, free);
  printf("rill bench: N = %lld, median of %d interleaved rounds\n",
         (long long)n, runs);
  int ok = check_shared();

  if (bench_wants("fanout")) {
    /* FANOUT: a subject pushing to 4 subscribers. */
    struct series sf[] = {
        {.name = "FANOUT 4 function pointers/value",
         .fn = floor_fanout,
         .n = n},
        {.name = "FANOUT subject -> 4 subscribers", .fn = rill_fanout, .n = n},
    };
    measure_all(sf, 2);
    printf("FANOUT floor (ns/elem is per value pushed, 4 calls):\n");
    report(&sf[0], &sf[0], 0);
    printf("FANOUT rill:\n");
    ok &= check_eq(&sf[1], &sf[0]);
    ok &= report(&sf[1], &sf[0], 2.0);
  }

  if (bench_wants("w1") || bench_wants("w2")) {
    /* W1, W2: every round runs floors and rill once each. */
    struct series s12[] = {
        {.name = "plain fused loop", .fn = floor_plain_w1, .n = n},
        {.name = "W1 function-pointer loop", .fn = floor_fnptr_w1, .n = n},
        {.name = "W1 unbounded", .fn = rill_w1, .n = n},
        {.name = "W1 batch 128", .fn = rill_w1b, .n = n},
        {.name = "W2 function-pointer loop", .fn = floor_fnptr_w2, .n = n},
        {.name = "W2 merge(4) | map", .fn = rill_w2, .n = n},
    };
    measure_all(s12, 6);
    printf("W1 floors:\n");
    report(&s12[0], &s12[1], 0);
    report(&s12[1], &s12[1], 0);
    printf("W1 rill:\n");
    ok &= check_eq(&s12[2], &s12[1]) & check_eq(&s12[3], &s12[1]) &
          check_eq(&s12[0], &s12[1]);
    ok &= report(&s12[2], &s12[1], 1.5);
    ok &= report(&s12[3], &s12[1], 2.0);
    printf("W2 floor:\n");
    report(&s12[4], &s12[4], 0);
    printf("W2 rill:\n");
    ok &= check_eq(&s12[5], &s12[4]);
    ok &= report(&s12[5], &s12[4], 3.0);
  }

  if (bench_wants("w5")) {
    /* W5: merge_map, unbounded and with 4 inners at a time. */
    struct series s5[] = {
        {.name = "W5 nested loops", .fn = floor_w5, .n = n},
        {.name = "W5 merge_map unbounded", .fn = rill_w5, .n = n},
        {.name = "W5 merge_map max 4", .fn = rill_w5_4, .n = n},
    };
    measure_all(s5, 3);
    printf("W5 floor (%lld x range(0, %d)):\n", (long long)(n / W5_INNER),
           W5_INNER);
    report(&s5[0], &s5[0], 0);
    printf("W5 rill:\n");
    ok &= check_eq(&s5[1], &s5[0]) & check_eq(&s5[2], &s5[0]);
    ok &= report_w5(&s5[1], &s5[0]);
    ok &= report_w5(&s5[2], &s5[0]);
  }

  if (bench_wants("retry")) {
    /* RETRY: N/10 synchronous retries. */
    struct series sr[] = {
        {.name = "a failing call and a predicate",
         .fn = floor_retry,
         .n = n / 10},
        {.name = "RETRY retry(error)", .fn = rill_retry_w, .n = n / 10},
    };
    measure_all(sr, 2);
    printf("RETRY floor (%lld retries; ns/elem is per retry):\n",
           (long long)sr[0].n);
    report(&sr[0], &sr[0], 0);
    printf("RETRY rill:\n");
    ok &= check_eq(&sr[1], &sr[0]);
    ok &= report(&sr[1], &sr[0], 0);
    long deeper = (long)(retry_first_sp - retry_lowest_sp);
    int flat = deeper <= 0;
    ok &= flat;
    printf("  stack: lowest predicate frame %ld bytes below the first "
           "attempt's  target 0: %s\n",
           deeper, flat ? "met" : "MISSED");
  }

  if (bench_wants("w6")) {
    /* W6: zip of two ranges with a combining function. */
    struct series s6[] = {
        {.name = "W6 function-pointer loop", .fn = floor_w6, .n = n},
        {.name = "W6 zip(range, range) | sum", .fn = rill_w6, .n = n},
    };
    measure_all(s6, 2);
    printf("W6 floor (the combining function through a pointer):\n");
    report(&s6[0], &s6[0], 0);
    printf("W6 rill (allocations per output must be ~0):\n");
    ok &= check_eq(&s6[1], &s6[0]);
    ok &= report(&s6[1], &s6[0], 3.0);
  }

  if (bench_wants("groupby")) {
    /* GROUPBY: group_by over 100 keys, a count per group. */
    struct series sg[] = {
        {.name = "GROUPBY key fn, lookup, count", .fn = floor_gb, .n = n},
        {.name = "GROUPBY inline key, lookup, count",
         .fn = floor_gb_inline_key,
         .n = n},
        {.name = "GROUPBY group_by | count/group", .fn = rill_gb, .n = n},
        {.name = "GROUPBY merge_map(reduce)", .fn = rill_gb_reduce, .n = n},
    };
    measure_all(sg, 4);
    printf("GROUPBY floors (%d keys):\n", GB_KEYS);
    report(&sg[0], &sg[0], 0);
    report(&sg[1], &sg[0], 0);
    printf("GROUPBY rill (ratios to the floor with the key function):\n");
    ok &= check_eq(&sg[2], &sg[0]) & check_eq(&sg[3], &sg[0]) &
          check_eq(&sg[1], &sg[0]);
    ok &= report(&sg[2], &sg[0], 3.0);
    report(&sg[3], &sg[0], 0);
    printf("  (to the inline-key floor: %.2fx and %.2fx)\n",
           median(&sg[2]) / median(&sg[1]), median(&sg[3]) / median(&sg[1]));
  }

  bench_loop = ev_loop_new(EVFLAG_AUTO);
  bench_sched = rill_sched_ev_new(bench_loop);
  const char *mb = getenv("RILL_BENCH_FD_MB");
  size_t total = (size_t)(mb ? atol(mb) : 1024) * 1024 * 1024;

  /* W3: time operators on libev, 1M values in 10 bursts. */
  if (bench_wants("w3")) {
    int64_t n3 = n / 10 / W3_BURSTS * W3_BURSTS;
    struct series s3[] = {
        {.name = "throttle: compare with ev_now", .fn = floor_w3t, .n = n3},
        {.name = "W3t throttle(10ms)", .fn = rill_w3t, .n = n3},
        {.name = "debounce: lazy deadline", .fn = floor_w3d, .n = n3},
        {.name = "W3d debounce(10ms)", .fn = rill_w3d, .n = n3},
    };
    int runs12 = runs;
    if (runs > 5)
      runs = 5; /* each W3 run pauses 10 x 11 ms */
    measure_all(s3, 4);
    printf("W3 floors (libev, %lld values in %d bursts):\n", (long long)n3,
           W3_BURSTS);
    report(&s3[0], &s3[0], 0);
    report(&s3[2], &s3[2], 0);
    printf("W3 rill (checksums: count %lld / %lld emitted):\n",
           (long long)(s3[0].check % 1000003),
           (long long)(s3[2].check % 1000003));
    ok &= check_eq(&s3[1], &s3[0]) & check_eq(&s3[3], &s3[2]);
    if (s3[0].check % 1000003 != W3_BURSTS ||
        s3[2].check % 1000003 != W3_BURSTS) {
      printf("  W3 floors emitted a count other than one per burst: the pauses "
             "did not open windows: MISSED\n");
      ok = 0;
    }
    ok &= report(&s3[1], &s3[0], 1.5);
    ok &= report(&s3[3], &s3[2], 1.5);
    runs = runs12;
  }

  if (bench_wants("fd")) {
    /* FD: 1 GiB through a pipe. */
    /* Interleaved rounds, median of each: a pipe between two processes on a
     * shared 2-core machine is noisy, and both sides see the same noise. */
    struct series fd[2] = {{.name = "raw"}, {.name = "from_fd"}};
    bool fd_failed = false;
    int fd_rounds = 3;
    for (int round = 0; round < fd_rounds; round++) {
      fd[0].ns[round] = fd_floor(total);
      fd[1].ns[round] = fd_rill(total);
      if (fd[0].ns[round] < 0 || fd[1].ns[round] < 0)
        fd_failed = true;
    }
    int runs_saved = runs;
    runs = fd_rounds;
    double raw = median(&fd[0]), via = median(&fd[1]);
    runs = runs_saved;
    printf("FD (%zu MiB through a pipe, 64 KiB reads, median of %d rounds):\n",
           total >> 20, fd_rounds);
    printf("  raw ev_io read loop                %6.2f GB/s\n", raw);
    if (fd_failed) {
      printf("  from_fd: failed or not available: MISSED\n");
      ok = 0;
    } else {
      int fd_ok = via >= 0.9 * raw;
      ok &= fd_ok;
      printf("  from_fd -> counting sink           %6.2f GB/s  %5.2fx raw  "
             "target >= 0.9x: %s\n",
             via, via / raw, fd_ok ? "met" : "MISSED");
    }
  }

  if (bench_wants("slow")) {
    /* SLOW: 128 MiB at most into a consumer that holds what it has not
     * processed: two 64 KiB chunks per 1 ms tick (128 MB/s). */
    size_t slow_total = total < ((size_t)128 << 20) ? total : (size_t)128 << 20;
    struct slow s = {.requested = 0};
    long growth;
    double slow = slow_rill(slow_total, &s, &growth);
    printf("SLOW (%zu MiB, a consumer that asks for %d chunks ahead, holds "
           "them, and processes %d per %.0f ms):\n",
           slow_total >> 20, SLOW_WINDOW, SLOW_PER_TICK, SLOW_TICK_MS);
    if (slow < 0) {
      printf("  slow consumer: the stream failed or fell short (%zu of %zu "
             "bytes): MISSED\n",
             s.bytes, slow_total);
      ok = 0;
    }
    if (growth < 0) {
      printf("  slow consumer: cannot read /proc/self/statm, RSS not "
             "measured: MISSED\n");
      ok = 0;
    } else {
      int rss_ok = growth <= 4 * 1024;
      ok &= rss_ok;
      printf("  peak RSS growth                    %8ld KiB  target <= 4096 "
             "KiB: %s\n",
             growth, rss_ok ? "met" : "MISSED");
    }
    int held_ok = s.beyond == 0;
    ok &= held_ok;
    printf("  peak held %zu KiB; values beyond demand: %ld  target 0: %s\n",
           s.peak_held_bytes >> 10, s.beyond, held_ok ? "met" : "MISSED");
  }

  if (bench_wants("redis_src") || bench_wants("redis_sink")) {
    /* REDIS_SRC, REDIS_SINK: N/10 messages (1M by default). */
#ifdef RILL_BENCH_HIREDIS
    ok &= bench_redis(n / 10);
#else
    printf("REDIS: skipped: rill was built without hiredis\n");
#endif
  }

  rill_sched_free(bench_sched);
  ev_loop_destroy(bench_loop);

  printf("bench: %s\n", ok ? "all targets met" : "some targets MISSED");
  return ok ? 0 : 1;
}
