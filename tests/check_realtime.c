/* SPDX-License-Identifier: MIT */
/* rill tests: the time operators on the REAL libev scheduler
 * (rill_sched_ev_new on a loop from ev_loop_new, driven by ev_run), not the
 * virtual clock.  tests/run_examples.sh only checks the shape of the
 * demo's output; these check behaviour against the wall clock.
 *
 * Machines are shared and noisy: every bound is generous and what is
 * asserted is the behaviour (how many values, which ones, never early),
 * not exact timing.  Each test stays under about half a second; a watchdog
 * stops a run that would hang. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rill/ev.h>

#include "check_rill.h"
#include "testlib.h"

#define RT_LIMIT_S 3.0 /* watchdog per loop run */

typedef struct rt {
  struct ev_loop *loop;
  rill_sched_t *s;
  ev_timer dog;
  bool timed_out;
  double t0; /* wall time at subscription, ms */
} rt_t;

/* Times are read from the loop's clock (ev_now, through rill_sched_now):
 * the real time sampled at the start of the iteration that delivers a
 * signal, which is what libev's timers are measured against.  Reading the
 * wall clock inside a callback instead would add the iteration's own
 * processing time, which under valgrind is several milliseconds and would
 * make a correct interval or delay look early. */
static double loop_ms(rt_t *f) {
  return rill_sched_now(f->s);
}

static void rt_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  ((rt_t *)w->data)->timed_out = true;
  ev_break(loop, EVBREAK_ALL);
}

static void rt_init(rt_t *f) {
  memset(f, 0, sizeof(*f));
  f->loop = ev_loop_new(EVFLAG_AUTO);
  ck_assert_ptr_nonnull(f->loop);
  f->s = rill_sched_ev_new(f->loop);
  ck_assert_ptr_nonnull(f->s);
  ev_timer_init(&f->dog, rt_dog, RT_LIMIT_S, 0.);
  f->dog.data = f;
  ev_timer_start(f->loop, &f->dog);
  ev_unref(f->loop); /* the watchdog alone does not keep ev_run() going */
}

/* Run until ev_run returns by itself (nothing left armed). */
static void rt_run(rt_t *f) {
  ev_run(f->loop, 0);
  ck_assert_msg(!f->timed_out, "the loop was still busy after %.0f s",
                RT_LIMIT_S);
}

static void rt_fini(rt_t *f) {
  ck_assert_int_eq(rill_sched_active(f->s), 0);
  ev_ref(f->loop);
  ev_timer_stop(f->loop, &f->dog);
  ck_assert_int_eq(rill_sched_free(f->s), 0);
  ev_loop_destroy(f->loop);
}

/* A recorder with wall-clock arrival times. */
#define RT_MAX 256
typedef struct rt_rec {
  rt_t *f;
  rill_subscription_t *sub;
  int64_t n;
  int64_t v[RT_MAX];
  double at[RT_MAX]; /* ms after f->t0, on the loop's clock */
  enum rec_terminal terminal;
  int terminals;
  int code;
  double end_at;
} rt_rec_t;

static void rr_subscribe(void *ctx, rill_subscription_t *s) {
  rt_rec_t *r = ctx;
  r->sub = s;
  rill_subscription_request(s, RILL_UNBOUNDED);
}
static void rr_next(void *ctx, rill_value_t v) {
  rt_rec_t *r = ctx;
  if (r->n < RT_MAX) {
    r->v[r->n] = v.kind == RILL_KIND_INT ? v.as.i : INT64_MIN;
    r->at[r->n] = loop_ms(r->f) - r->f->t0;
  }
  r->n++;
  rill_value_release(v);
}
static void rr_error(void *ctx, const rill_error_t *err) {
  rt_rec_t *r = ctx;
  r->terminal = REC_ERROR;
  r->terminals++;
  r->code = err->code;
  r->end_at = loop_ms(r->f) - r->f->t0;
}
static void rr_complete(void *ctx) {
  rt_rec_t *r = ctx;
  r->terminal = REC_COMPLETE;
  r->terminals++;
  r->end_at = loop_ms(r->f) - r->f->t0;
}
static const rill_subscriber_t rr_sub = {.on_subscribe = rr_subscribe,
                                         .on_next = rr_next,
                                         .on_error = rr_error,
                                         .on_complete = rr_complete};

/* Subscribe `o` (consumed) from inside a loop callback, run the loop to
 * idle, check the end state.  Inside a callback the scheduler's clock is
 * the iteration's (see the known defect below for subscribing outside). */
struct kick {
  ev_timer w;
  rt_t *f;
  rt_rec_t *r;
  rill_observable_t *o;
};

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct kick *k = w->data;
  k->f->t0 = loop_ms(k->f);
  ck_assert_int_eq(rill_observable_subscribe(k->o, &rr_sub, k->r, NULL), 0);
  rill_observable_free(k->o);
}

static void rt_go(rt_t *f, rt_rec_t *r, rill_observable_t *o) {
  ck_assert_ptr_nonnull(o);
  memset(r, 0, sizeof(*r));
  r->f = f;
  struct kick k = {.f = f, .r = r, .o = o};
  ev_timer_init(&k.w, kick_cb, 0., 0.);
  k.w.data = &k;
  ev_timer_start(f->loop, &k.w);
  rt_run(f);
  ck_assert_int_eq(r->terminals, 1);
  ck_assert_int_eq(rill_sched_active(f->s), 0);
}

/* The usual "build, subscribe, ev_run" order, after the application spent
 * time on its own setup, and called ev_now_update() as libev advises. */
static void rt_go_outside(rt_t *f, rt_rec_t *r, rill_observable_t *o) {
  ck_assert_ptr_nonnull(o);
  memset(r, 0, sizeof(*r));
  r->f = f;
  ev_now_update(f->loop);
  f->t0 = ev_now(f->loop) * 1000.0;
  ck_assert_int_eq(rill_observable_subscribe(o, &rr_sub, r, NULL), 0);
  rill_observable_free(o);
  rt_run(f);
  ck_assert_int_eq(r->terminals, 1);
  ck_assert_int_eq(rill_sched_active(f->s), 0);
}

START_TEST(interval_taken_five_takes_about_five_periods) {
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rt_go(&f, &r, rill_take(rill_interval(f.s, 10, NULL), 5));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 5);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(r.v[i], i);
  /* five periods of 10 ms: never before 50 ms on the loop's clock (libev
   * fires a timer once that clock has reached it), not absurdly late */
  ck_assert_msg(r.end_at >= 49.5 && r.end_at <= 400, "completed after %.1f ms",
                r.end_at);
  /* tick k is due k + 1 periods after subscription, never earlier (a late
   * tick is followed by the next on the ideal schedule, not a period
   * later: interval does not drift) */
  for (int i = 0; i < 5; i++)
    ck_assert_msg(r.at[i] >= 10.0 * (i + 1) - 0.5, "tick %d after %.1f ms", i,
                  r.at[i]);
  rt_fini(&f);
}
END_TEST

START_TEST(timer_fires_once_after_its_due_time) {
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rt_go(&f, &r, rill_timer(f.s, 30));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 1);
  ck_assert_int_eq(r.v[0], 0);
  ck_assert_msg(r.at[0] >= 29.5 && r.at[0] <= 300, "fired after %.1f ms",
                r.at[0]);
  rt_fini(&f);
}
END_TEST

START_TEST(throttle_lets_a_few_values_through_a_fast_interval) {
  /* throttle(50 ms) over interval(5 ms) for 300 ms: about 6 windows */
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rill_observable_t *o = rill_take_until(
      rill_throttle(rill_interval(f.s, 5, NULL), f.s, 50, NULL),
      rill_timer(f.s, 300));
  rt_go(&f, &r, o);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_msg(r.n >= 3 && r.n <= 8, "%lld values through throttle(50)",
                (long long)r.n);
  for (int64_t i = 1; i < r.n && i < RT_MAX; i++) {
    /* the interval counts every tick, emitted or not: increasing values,
     * emissions a window apart */
    ck_assert_msg(r.v[i] > r.v[i - 1], "values %lld then %lld",
                  (long long)r.v[i - 1], (long long)r.v[i]);
    ck_assert_msg(r.at[i] - r.at[i - 1] >= 49.5, "emissions %.1f ms apart",
                  r.at[i] - r.at[i - 1]);
  }
  ck_assert_msg(r.end_at >= 295 && r.end_at <= 800, "ended after %.1f ms",
                r.end_at);
  rt_fini(&f);
}
END_TEST

START_TEST(debounce_emits_only_the_last_value_of_a_burst) {
  /* a burst of 10 values, then silence: debounce(30) emits 9 alone, once
   * 30 ms have passed; the stream is then ended by take_until at 150 ms */
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rill_observable_t *burst[2] = {rill_range(0, 10), rill_never()};
  rill_observable_t *o =
      rill_take_until(rill_debounce(rill_concat(burst, 2), f.s, 30, NULL),
                      rill_timer(f.s, 150));
  rt_go(&f, &r, o);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 1);
  ck_assert_int_eq(r.v[0], 9);
  ck_assert_msg(r.at[0] >= 29.5 && r.at[0] <= 145, "emitted after %.1f ms",
                r.at[0]);
  rt_fini(&f);
}
END_TEST

START_TEST(debounce_emits_the_last_value_of_each_timed_burst) {
  /* two bursts of interval(2 ms) ticks separated by a long silence: each
   * burst's last value only.  Ticks are 2 ms apart, far below 100 ms, so
   * only a stall of the whole machine could split a burst. */
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rill_observable_t *parts[3] = {rill_take(rill_interval(f.s, 2, NULL), 5),
                                 rill_filter(rill_timer(f.s, 250),
                                             tl_fail_pred_never, NULL),
                                 rill_take(rill_interval(f.s, 2, NULL), 4)};
  rt_go(&f, &r, rill_debounce(rill_concat(parts, 3), f.s, 100, NULL));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_msg(r.n == 2, "%lld values", (long long)r.n);
  ck_assert_int_eq(r.v[0], 4);
  ck_assert_int_eq(r.v[1], 3); /* flushed at completion */
  ck_assert_msg(r.at[0] >= 99 && r.at[0] < r.at[1],
                "first burst's value after %.1f ms", r.at[0]);
  rt_fini(&f);
}
END_TEST

START_TEST(timeout_fires_on_a_silent_source) {
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rt_go(&f, &r, rill_timeout(rill_never(), f.s, 50, 50, NULL));
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.code, RILL_ETIMEDOUT);
  ck_assert_int_eq(r.n, 0);
  ck_assert_msg(r.end_at >= 49.5 && r.end_at <= 400, "timed out after %.1f ms",
                r.end_at);
  rt_fini(&f);
}
END_TEST

START_TEST(timeout_lets_a_punctual_source_through) {
  /* interval(10) taken 5 under timeout(first 200, each 200): no expiry */
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rt_go(&f, &r,
        rill_timeout(rill_take(rill_interval(f.s, 10, NULL), 5), f.s, 200, 200,
                     NULL));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 5);
  rt_fini(&f);
}
END_TEST

/* Wall-clock time at which each value left the source (before delay). */
static double emitted_at[16];
static int tap_emission(void *ctx, rill_value_t in, rill_value_t *out) {
  rt_t *f = ctx;
  if (in.as.i >= 0 && in.as.i < 16)
    emitted_at[in.as.i] = loop_ms(f) - f->t0;
  *out = in;
  return 0;
}

START_TEST(delay_shifts_each_value_by_at_least_its_delay) {
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  for (int i = 0; i < 16; i++)
    emitted_at[i] = NAN;
  rill_observable_t *o = rill_delay(
      rill_map(rill_take(rill_interval(f.s, 15, NULL), 4), tap_emission, &f),
      f.s, 20);
  rt_go(&f, &r, o);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 4);
  for (int i = 0; i < 4; i++) {
    ck_assert_int_eq(r.v[i], i);
    double shift = r.at[i] - emitted_at[i];
    /* >= 20 ms (0.5 for rounding), not absurdly more */
    ck_assert_msg(shift >= 19.5 && shift <= 300,
                  "value %d shifted by %.2f ms", i, shift);
  }
  /* completion waits for the last delayed value */
  ck_assert(r.end_at >= r.at[3]);
  rt_fini(&f);
}
END_TEST

START_TEST(delay_of_a_synchronous_burst_waits_its_delay) {
  rt_t f;
  rt_init(&f);
  rt_rec_t r;
  rt_go(&f, &r, rill_delay(rill_range(0, 3), f.s, 20));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_msg(r.at[i] >= 19.5 && r.at[i] <= 300,
                  "value %d after %.2f ms", i, r.at[i]);
  rt_fini(&f);
}
END_TEST

/* KNOWN DEFECT (issue 7 section 7, found by this suite; see the report):
 * the libev scheduler's clock (rill_sched_now) is a copy of ev_now taken
 * at each loop iteration, so when a pipeline is subscribed outside a loop
 * callback after time has passed since the scheduler's last iteration --
 * the usual "set up, subscribe, ev_run" order, even after ev_now_update()
 * -- interval schedules its ticks at start + k * period from that stale
 * start, while libev arms the first timer from the fresh clock: after the
 * first period every remaining overdue tick fires at once.  Here 60 ms of
 * setup make interval(10) deliver its 5 ticks within one iteration.  (The
 * same stale start shortens sample's second period.) */
START_TEST(interval_subscribed_after_setup_work_keeps_its_period) {
  rt_t f;
  rt_init(&f);
  /* the application's own setup work */
  nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 60 * 1000 * 1000}, NULL);
  rt_rec_t r;
  rt_go_outside(&f, &r, rill_take(rill_interval(f.s, 10, NULL), 5));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 5);
  for (int i = 0; i < 5; i++)
    ck_assert_msg(r.at[i] >= 10.0 * (i + 1) - 0.5,
                  "tick %d after %.1f ms (ticks at %.1f %.1f %.1f %.1f %.1f "
                  "ms)",
                  i, r.at[i], r.at[0], r.at[1], r.at[2], r.at[3], r.at[4]);
  ck_assert_msg(r.end_at >= 49.5, "completed after %.1f ms", r.end_at);
  rt_fini(&f);
}
END_TEST

/* KNOWN DEFECT, same cause: buffer_time's spans are scheduled from the
 * stale start too; after 60 ms of setup, take(3) of buffer_time(30) gets
 * its three (empty) arrays together at 30 ms instead of at 30, 60, 90. */
START_TEST(buffer_time_subscribed_after_setup_work_keeps_its_span) {
  rt_t f;
  rt_init(&f);
  nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 60 * 1000 * 1000}, NULL);
  rt_rec_t r;
  rt_go_outside(&f, &r,
                rill_take(rill_buffer_time(rill_never(), f.s, 30, NULL), 3));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.n, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_msg(r.at[i] >= 30.0 * (i + 1) - 0.5,
                  "array %d after %.1f ms (at %.1f %.1f %.1f ms)", i, r.at[i],
                  r.at[0], r.at[1], r.at[2]);
  rt_fini(&f);
}
END_TEST

Suite *realtime_suite(void) {
  Suite *s = suite_create("realtime");
  TCase *tc = tcase_create("libev");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, interval_taken_five_takes_about_five_periods);
  tcase_add_test(tc, timer_fires_once_after_its_due_time);
  tcase_add_test(tc, throttle_lets_a_few_values_through_a_fast_interval);
  tcase_add_test(tc, debounce_emits_only_the_last_value_of_a_burst);
  tcase_add_test(tc, debounce_emits_the_last_value_of_each_timed_burst);
  tcase_add_test(tc, timeout_fires_on_a_silent_source);
  tcase_add_test(tc, timeout_lets_a_punctual_source_through);
  tcase_add_test(tc, delay_shifts_each_value_by_at_least_its_delay);
  tcase_add_test(tc, delay_of_a_synchronous_burst_waits_its_delay);
  suite_add_tcase(s, tc);
  /* A stale clock after the application's ev_now_update() (fixed: a timer
   * takes the backend's clock when it is made). */
  tc = tcase_create("stale_clock");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, interval_subscribed_after_setup_work_keeps_its_period);
  tcase_add_test(tc, buffer_time_subscribed_after_setup_work_keeps_its_span);
  suite_add_tcase(s, tc);
  return s;
}
