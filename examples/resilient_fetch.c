/* SPDX-License-Identifier: MIT */
/* rill example: 100 requests to a flaky service, on libev.  Each call has
 * a timeout and goes through a circuit breaker; a request retries with
 * exponential backoff and full jitter, then falls back to a default; at
 * most 4 requests run at once.  Then Promise.all / allSettled / race / any
 * over five calls.  In RxJS (the breaker is Resilience4j's):
 *
 *   const call = id => defer(() => service(id)).pipe(timeout(30));
 *   const request = id => breaker(call(id)).pipe(
 *     retry({count: 4, delay: (err, k) => timer(fullJitter(10, 200, k))}),
 *     catchError(() => of(-1 - id)));
 *   range(0, 100).pipe(mergeMap(request, 4)).subscribe(record);
 *   forkJoin(five()); allSettled(five()); race(five()); any(five());
 *
 * The service (seeded) answers after 2..35 ms; 20% of its calls fail, 90%
 * from 300 to 700 ms, which opens the breaker.  In part 2, calls 1 and 3
 * fail.  Usage: resilient_fetch [--seed S] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/ev.h>

#define N 100
#define DOWN (RILL_EAPP_BASE - 503)

static rill_sched_t *s;
static double start; /* the loop's clock is absolute: times are since this */
static unsigned seed = 1;
static bool part2;
static int calls, fallbacks, done, answers[N];
static double lat[N], t0[N];

static double since_start(void) {
  return rill_sched_now(s) - start;
}

static double uniform(void *ctx) { /* seeded: runs repeat */
  (void)ctx;
  return rand_r(&seed) / (RAND_MAX + 1.0);
}

/* ---- the service: a call is a timer, then a value or an error ------------*/

static int reply(void *ctx, rill_value_t tick, rill_observable_t **out) {
  (void)tick;
  intptr_t id = (intptr_t)ctx;
  double now = since_start(), p_fail = now > 300 && now < 700 ? 0.9 : 0.2;
  bool fail = part2 ? id % 2 == 1 : uniform(NULL) < p_fail;
  *out = fail ? rill_error(DOWN, "service unavailable")
              : rill_just(1, rill_value_int(id * 10));
  return 0;
}

static int call(void *ctx, rill_observable_t **out) { /* defer's factory */
  calls++;
  *out = rill_concat_map(rill_timer(s, 2 + 33 * uniform(NULL)), reply, ctx);
  return 0;
}

/* ---- one request: timeout, breaker, retry with backoff, fallback ---------*/

static rill_breaker_t *breaker;

static int request(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  intptr_t id = v.as.i;
  t0[id] = since_start();
  rill_observable_t *o =
      rill_timeout(rill_defer(call, (void *)id), s, 30, 30, NULL);
  o = rill_retry(rill_circuit_breaker(o, breaker), 4,
                 &(rill_retry_opts_t){.sched = s,
                                      .initial_ms = 10,
                                      .max_ms = 200,
                                      .jitter = RILL_JITTER_FULL,
                                      .random = uniform});
  *out = rill_on_error_return(o, rill_value_int(-1 - id));
  return *out != NULL ? 0 : RILL_ENOMEM;
}

static void record(void *ctx, rill_value_t v) {
  (void)ctx;
  int64_t id = v.as.i >= 0 ? v.as.i / 10 : -1 - v.as.i;
  fallbacks += v.as.i < 0;
  answers[id]++;
  lat[done++] = since_start() - t0[id];
}

static void on_state(void *ctx, rill_breaker_state_t from,
                     rill_breaker_state_t to) {
  static const char *name[] = {"CLOSED", "OPEN", "HALF_OPEN"};
  (void)ctx;
  printf("[%4.0f ms] breaker %s -> %s\n", since_start(), name[from], name[to]);
}

static int by_value(const void *a, const void *b) {
  return (*(const double *)a > *(const double *)b) ? 1 : -1;
}

/* ---- part 2: all / allSettled / race / any over five calls ---------------*/

static void show(rill_value_t v) { /* ints, arrays, settled records */
  const rill_notification_t *n = rill_value_notification(v);
  if (n != NULL && n->kind == RILL_NOTIFICATION_ERROR)
    printf(" failed");
  else if (n != NULL)
    show(n->value);
  else if (v.kind == RILL_KIND_ARRAY)
    for (size_t i = 0; i < rill_array_len(v.as.array); i++)
      show(rill_array_at(v.as.array, i));
  else
    printf(" %lld", (long long)v.as.i);
}

static void print_next(void *ctx, rill_value_t v) {
  printf("%-11s", (const char *)ctx), show(v), printf("\n");
  rill_value_release(v);
}

static void print_error(void *ctx, const rill_error_t *err) {
  printf("%-11s error: %s\n", (const char *)ctx, err->message);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--seed") == 0)
    seed = (unsigned)atoi(argv[2]);
  struct ev_loop *loop = ev_default_loop(0);
  s = rill_sched_ev_new(loop);
  start = rill_sched_now(s);
  breaker = rill_breaker_new(
      s, &(rill_breaker_opts_t){
             .consecutive_failures = 5, .open_ms = 100, .on_state = on_state});
  rill_observable_t *requests =
      rill_merge_map(rill_range(0, N), request, NULL, 4, 1);
  rill_subscriber_t recorder = {.on_next = record};
  rill_observable_consume(requests, &recorder, NULL, RILL_UNBOUNDED, NULL);
  rill_observable_free(requests);
  ev_run(loop, 0); /* returns when nothing is left to do */

  rill_breaker_stats_t st;
  rill_breaker_stats(breaker, &st);
  qsort(lat, done, sizeof(lat[0]), by_value);
  printf("%d requests: %d calls, %llu rejected by the breaker, %llu retries, "
         "%d fallbacks\n",
         done, calls, (unsigned long long)st.rejections,
         (unsigned long long)(calls + st.rejections - N), fallbacks);
  printf("latency ms: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f\n", lat[N / 2],
         lat[N * 9 / 10], lat[N * 99 / 100], lat[N - 1]);

  part2 = true;
  const char *names[] = {"all", "allSettled", "race", "any"};
  rill_subscriber_t printer = {.on_next = print_next, .on_error = print_error};
  for (int k = 0; k < 4; k++) {
    rill_observable_t *five[5];
    for (intptr_t id = 0; id < 5; id++)
      five[id] = rill_defer(call, (void *)id);
    rill_observable_t *o = k == 0   ? rill_fork_join(five, 5, NULL, NULL)
                           : k == 1 ? rill_all_settled(five, 5)
                           : k == 2 ? rill_race(five, 5)
                                    : rill_any(five, 5);
    rill_observable_consume(o, &printer, (void *)names[k], 1, NULL);
    rill_observable_free(o);
    ev_run(loop, 0);
  }
  rill_breaker_free(breaker);
  int once = 0;
  for (int i = 0; i < N; i++)
    once += answers[i] == 1; /* every request answered exactly once */
  bool ok = once == N && rill_sched_free(s) == 0;
  printf("resilient_fetch: %s (each request answered once: %d)\n",
         ok ? "ok" : "FAILED", once);
  return ok ? 0 : 1;
}
