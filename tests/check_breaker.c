/* SPDX-License-Identifier: MIT */
/* rill tests: the circuit breaker (rill_breaker_*, rill_circuit_breaker)
 * and the shared limiter (rill_limiter_*, rill_limit), on the virtual
 * scheduler: transitions at their exact instants, the consecutive and rate
 * rules, rejections, half-open trials, timeouts as failures, sharing
 * between pipelines, free order, cancels; permits across pipelines, FIFO
 * order, a full queue, cancels while waiting, demand carried across the
 * wait, a million queued subscriptions on a flat stack, a mutex; owned
 * values; allocation failure at every site. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/ev.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* ---- a call: one subscription, recorded with virtual times --------------*/

#define CALL_MAXV 16

struct call {
  rill_sched_t *s;
  rill_subscription_t *h;       /* our own handle (rill_subscription_free) */
  int64_t request_on_subscribe; /* 0: RILL_UNBOUNDED */
  int subscribes, terminals;
  enum rec_terminal terminal;
  rill_error_t err;
  double t_end;
  int64_t nexts;
  int64_t v[CALL_MAXV];
  int violations;
};

static void call_on_subscribe(void *ctx, rill_subscription_t *sub) {
  struct call *c = ctx;
  if (c->subscribes++ > 0)
    c->violations++;
  int64_t n = c->request_on_subscribe;
  if (n >= 0)
    rill_subscription_request(sub, n ? n : RILL_UNBOUNDED);
}

static void call_on_next(void *ctx, rill_value_t v) {
  struct call *c = ctx;
  if (c->terminals > 0 || c->subscribes == 0)
    c->violations++;
  if (c->nexts < CALL_MAXV)
    c->v[c->nexts] = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  c->nexts++;
  rill_value_release(v);
}

static void call_terminal(struct call *c, enum rec_terminal t) {
  if (c->terminals++ > 0 || c->subscribes == 0)
    c->violations++;
  c->terminal = t;
  c->t_end = rill_sched_now(c->s);
}

static void call_on_error(void *ctx, const rill_error_t *err) {
  struct call *c = ctx;
  call_terminal(c, REC_ERROR);
  c->err = *err;
}

static void call_on_complete(void *ctx) {
  call_terminal(ctx, REC_COMPLETE);
}

static const rill_subscriber_t call_sub = {.on_subscribe = call_on_subscribe,
                                           .on_next = call_on_next,
                                           .on_error = call_on_error,
                                           .on_complete = call_on_complete};

/* Subscribe (the recipe is not consumed); demand -1: none requested. */
static int call_start(struct call *c, rill_sched_t *s, rill_observable_t *obs,
                      int64_t demand) {
  memset(c, 0, sizeof(*c));
  c->s = s;
  c->request_on_subscribe = demand;
  return rill_observable_subscribe(obs, &call_sub, c, &c->h);
}

static void call_end(struct call *c) {
  ck_assert_int_eq(c->violations, 0);
  rill_subscription_free(c->h);
  c->h = NULL;
}

/* Subscribe, move the clock 1 ms at a time until the call has ended (so
 * the clock stops at its end, before a breaker's timer), free the handle. */
static void call_run(struct call *c, rill_sched_t *s, rill_observable_t *obs) {
  ck_assert_int_eq(call_start(c, s, obs, 0), 0);
  for (int i = 0; c->terminals == 0; i++) {
    ck_assert_int_lt(i, 10000);
    ck_assert_int_eq(rill_sched_advance_by(s, 1), 0);
  }
  call_end(c);
}

#define ck_assert_call_error(c, code_)                                         \
  do {                                                                         \
    ck_assert_int_eq((c)->terminal, REC_ERROR);                                \
    ck_assert_str_eq(rill_err_name((c)->err.code), rill_err_name(code_));      \
  } while (0)

/* ---- on_state, recorded -------------------------------------------------*/

struct trans {
  double at;
  rill_breaker_state_t from, to;
};

struct watch {
  rill_sched_t *s;
  struct trans t[32];
  int n;
};

static void watch_on_state(void *ctx, rill_breaker_state_t from,
                           rill_breaker_state_t to) {
  struct watch *w = ctx;
  ck_assert_int_lt(w->n, 32);
  w->t[w->n++] = (struct trans){rill_sched_now(w->s), from, to};
}

#define C RILL_BREAKER_CLOSED
#define O RILL_BREAKER_OPEN
#define H RILL_BREAKER_HALF_OPEN

static void assert_trans(const struct watch *w, int i, double at,
                         rill_breaker_state_t from, rill_breaker_state_t to) {
  ck_assert_int_gt(w->n, i);
  ck_assert_msg(w->t[i].at == at && w->t[i].from == from && w->t[i].to == to,
                "transition %d: %d->%d at %g, want %d->%d at %g", i,
                w->t[i].from, w->t[i].to, w->t[i].at, from, to, at);
}

static rill_breaker_t *watched(rill_sched_t *s, struct watch *w,
                               rill_breaker_opts_t o) {
  memset(w, 0, sizeof(*w));
  w->s = s;
  o.on_state = watch_on_state;
  o.ctx = w;
  rill_breaker_t *b = rill_breaker_new(s, &o);
  ck_assert_ptr_nonnull(b);
  return b;
}

static rill_breaker_stats_t stats_of(const rill_breaker_t *b) {
  rill_breaker_stats_t st;
  rill_breaker_stats(b, &st);
  return st;
}

#define ck_assert_bstats(b, calls_, ok_, fail_, rej_, trans_)                  \
  do {                                                                         \
    rill_breaker_stats_t st_ = stats_of(b);                                    \
    ck_assert_msg(                                                             \
        st_.calls == (calls_) && st_.successes == (ok_) &&                     \
            st_.failures == (fail_) && st_.rejections == (rej_) &&             \
            st_.transitions == (trans_),                                       \
        "stats: calls %llu ok %llu fail %llu rej %llu trans %llu",             \
        (unsigned long long)st_.calls, (unsigned long long)st_.successes,      \
        (unsigned long long)st_.failures, (unsigned long long)st_.rejections,  \
        (unsigned long long)st_.transitions);                                  \
  } while (0)

/* A call that fails `after` ms after subscription, or succeeds. */
static rill_observable_t *fails_in(rill_sched_t *s, const char *marbles,
                                   rill_breaker_t *b) {
  rill_observable_t *o = rill_circuit_breaker(marble_cold(s, marbles), b);
  ck_assert_ptr_nonnull(o);
  return o;
}

/* ---- breaker: the rules ---------------------------------------------------*/

START_TEST(consecutive_failures_open_at_the_failing_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 3, .open_ms = 100});
  rill_observable_t *bad = fails_in(s, "--#", b);
  rill_observable_t *good = fails_in(s, "-a|", b);
  struct call c;
  /* fail, fail, success: the run is broken, still CLOSED */
  call_run(&c, s, bad);
  call_run(&c, s, bad);
  call_run(&c, s, good);
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  call_run(&c, s, bad);
  call_run(&c, s, bad);
  ck_assert_int_eq(w.n, 0);
  ck_assert_int_eq(rill_breaker_state(b), C);
  /* the third in a row opens it when it fails, at t = 12 */
  ck_assert_double_eq(rill_sched_now(s), 10);
  call_run(&c, s, bad);
  ck_assert_call_error(&c, RILL_EUSER); /* the failure itself passes on */
  ck_assert_int_eq(w.n, 1);
  assert_trans(&w, 0, 12, C, O);
  ck_assert_int_eq(rill_breaker_state(b), O);
  ck_assert_bstats(b, 6, 1, 5, 0, 1);
  rill_breaker_free(b);
  rill_observable_free(bad);
  rill_observable_free(good);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(open_rejects_at_once_then_half_opens_at_the_exact_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 100});
  rill_observable_t *bad = fails_in(s, "--#", b);
  rill_observable_t *good = fails_in(s, "-a|", b);
  struct call c;
  call_run(&c, s, bad); /* OPEN at 2, until 102 */
  assert_trans(&w, 0, 2, C, O);
  ck_assert_int_eq(rill_sched_active(s), 1); /* the breaker's timer */
  ck_assert_int_eq(rill_sched_advance_to(s, 50), 0);
  /* a rejected call: on_subscribe then on_error, src never subscribed */
  ck_assert_int_eq(call_start(&c, s, good, 0), 0);
  ck_assert_int_eq(c.subscribes, 1);
  ck_assert_call_error(&c, RILL_EBREAKER_OPEN);
  ck_assert_str_eq(c.err.stage, "circuit_breaker");
  ck_assert_str_eq(c.err.message,
                   "circuit_breaker: open; half-open at 102 ms (in 52 ms)");
  ck_assert_double_eq(c.t_end, 50);
  ck_assert_int_eq(c.nexts, 0);
  call_end(&c);
  ck_assert_int_eq(rill_sched_advance_to(s, 101.5), 0);
  ck_assert_int_eq(rill_breaker_state(b), O);
  ck_assert_int_eq(w.n, 1);
  /* the timer moves it at 102 sharp, with nothing else happening */
  ck_assert_int_eq(rill_sched_advance_to(s, 200), 0);
  ck_assert_int_eq(w.n, 2);
  assert_trans(&w, 1, 102, O, H);
  ck_assert_int_eq(rill_breaker_state(b), H);
  ck_assert_int_eq(rill_sched_active(s), 0);
  /* the trial succeeds: CLOSED when it completes */
  call_run(&c, s, good);
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  ck_assert_int_eq(c.nexts, 1);
  assert_trans(&w, 2, 202, H, C);
  ck_assert_bstats(b, 2, 1, 1, 1, 3);
  rill_observable_free(bad);
  rill_observable_free(good);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* The rate rule: window 4, at least 4 calls, 50 %; the consecutive rule
 * out of the way. */
static rill_breaker_opts_t rate_opts(void) {
  return (rill_breaker_opts_t){.consecutive_failures = INT64_MAX,
                               .window = 4,
                               .min_calls = 4,
                               .failure_rate = 0.5,
                               .open_ms = 10};
}

START_TEST(failure_rate_counts_once_min_calls_are_in_the_window) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(s, &w, rate_opts());
  rill_observable_t *bad = fails_in(s, "#", b);
  rill_observable_t *good = fails_in(s, "-|", b);
  struct call c;
  call_run(&c, s, bad);
  call_run(&c, s, bad);
  call_run(&c, s, good); /* 2 of 3 failed, but 3 < min_calls */
  ck_assert_int_eq(w.n, 0);
  /* the fourth call, a success, fills min_calls at 50 %: OPEN */
  call_run(&c, s, good);
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  ck_assert_int_eq(w.n, 1);
  assert_trans(&w, 0, 2, C, O);
  rill_observable_free(bad);
  rill_observable_free(good);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(failure_rate_slides_over_the_last_window_calls) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(s, &w, rate_opts());
  rill_observable_t *bad = fails_in(s, "#", b);
  rill_observable_t *good = fails_in(s, "-|", b);
  struct call c;
  /* F S S S S S F: the old failure has slid out; the window holds
   * S S S F (25 %) */
  call_run(&c, s, bad);
  for (int i = 0; i < 5; i++)
    call_run(&c, s, good);
  call_run(&c, s, bad);
  ck_assert_int_eq(w.n, 0);
  /* F: S S F F, 50 %: OPEN */
  call_run(&c, s, bad);
  ck_assert_int_eq(w.n, 1);
  assert_trans(&w, 0, 5, C, O);
  /* back through HALF_OPEN to CLOSED: the window starts afresh, so three
   * failures among the first three calls do not open it (3 < 4) */
  ck_assert_int_eq(rill_sched_advance_by(s, 10), 0);
  call_run(&c, s, good);
  ck_assert_int_eq(w.n, 3);
  assert_trans(&w, 2, 16, H, C);
  call_run(&c, s, bad);
  call_run(&c, s, bad);
  call_run(&c, s, bad);
  ck_assert_int_eq(w.n, 3);
  ck_assert_int_eq(rill_breaker_state(b), C);
  call_run(&c, s, good); /* 3 of 4: OPEN */
  ck_assert_int_eq(w.n, 4);
  assert_trans(&w, 3, 17, C, O);
  ck_assert_bstats(b, 13, 7, 6, 0, 4);
  rill_observable_free(bad);
  rill_observable_free(good);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Every half-open trial must succeed; the others are rejected meanwhile. */
START_TEST(half_open_admits_the_trials_and_closes_when_all_succeed) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(s, &w,
                              (rill_breaker_opts_t){.consecutive_failures = 1,
                                                    .open_ms = 10,
                                                    .half_open_trials = 2});
  rill_observable_t *bad = fails_in(s, "#", b);
  rill_observable_t *slow = fails_in(s, "----a|", b);
  rill_observable_t *slower = fails_in(s, "------|", b);
  struct call c, t1, t2, t3;
  call_run(&c, s, bad);
  ck_assert_int_eq(rill_sched_advance_to(s, 10), 0);
  assert_trans(&w, 1, 10, O, H);
  ck_assert_int_eq(call_start(&t1, s, slow, 0), 0);
  ck_assert_int_eq(call_start(&t2, s, slower, 0), 0);
  ck_assert_int_eq(call_start(&t3, s, slow, 0), 0); /* a third: rejected */
  ck_assert_call_error(&t3, RILL_EBREAKER_OPEN);
  ck_assert_str_eq(t3.err.message,
                   "circuit_breaker: half-open, 2 trial calls in flight");
  ck_assert_int_eq(rill_sched_advance_to(s, 15), 0);
  ck_assert_int_eq(t1.terminal, REC_COMPLETE);
  ck_assert_double_eq(t1.t_end, 15);
  ck_assert_int_eq(w.n, 2); /* one success is not enough */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(t2.terminal, REC_COMPLETE);
  assert_trans(&w, 2, 16, H, C);
  call_end(&t1);
  call_end(&t2);
  call_end(&t3);
  ck_assert_bstats(b, 3, 2, 1, 1, 3);
  rill_observable_free(bad);
  rill_observable_free(slow);
  rill_observable_free(slower);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(a_failed_trial_reopens_at_once_and_late_outcomes_steer_nothing) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(s, &w,
                              (rill_breaker_opts_t){.consecutive_failures = 1,
                                                    .open_ms = 10,
                                                    .half_open_trials = 2});
  rill_observable_t *bad = fails_in(s, "#", b);
  rill_observable_t *fail3 = fails_in(s, "---#", b);
  rill_observable_t *ok6 = fails_in(s, "------|", b);
  struct call c, t1, t2;
  call_run(&c, s, bad);
  ck_assert_int_eq(rill_sched_advance_to(s, 10), 0);
  ck_assert_int_eq(call_start(&t1, s, fail3, 0), 0);
  ck_assert_int_eq(call_start(&t2, s, ok6, 0), 0);
  /* t1 fails at 13: OPEN again, until 23; t2's success at 16 belongs to
   * the half-open period that is over: counted, but it closes nothing */
  ck_assert_int_eq(rill_sched_advance_to(s, 20), 0);
  ck_assert_int_eq(w.n, 3);
  assert_trans(&w, 2, 13, H, O);
  ck_assert_int_eq(t2.terminal, REC_COMPLETE);
  ck_assert_double_eq(t2.t_end, 16);
  ck_assert_int_eq(rill_breaker_state(b), O);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  assert_trans(&w, 3, 23, O, H);
  ck_assert_int_eq(w.n, 4);
  call_end(&t1);
  call_end(&t2);
  ck_assert_bstats(b, 3, 1, 2, 0, 4);
  rill_observable_free(bad);
  rill_observable_free(fail3);
  rill_observable_free(ok6);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A late outcome the other way round: a call admitted while CLOSED fails
 * after the breaker opened; it does not re-arm the timer. */
START_TEST(a_call_from_before_the_trip_failing_later_changes_nothing) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 10});
  rill_observable_t *bad = fails_in(s, "-#", b);
  rill_observable_t *late = fails_in(s, "-----#", b);
  struct call c1, c2;
  ck_assert_int_eq(call_start(&c2, s, late, 0), 0);
  ck_assert_int_eq(call_start(&c1, s, bad, 0), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_call_error(&c2, RILL_EUSER);
  ck_assert_double_eq(c2.t_end, 5);
  assert_trans(&w, 0, 1, C, O);
  assert_trans(&w, 1, 11, O, H); /* not 15 */
  ck_assert_int_eq(w.n, 2);
  ck_assert_bstats(b, 2, 0, 2, 0, 2);
  call_end(&c1);
  call_end(&c2);
  rill_observable_free(bad);
  rill_observable_free(late);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A call that arrives at the very instant OPEN ends, from a timer that
 * fires before the breaker's own (started earlier, due at the same time),
 * is admitted as a trial: the admission makes the move itself. */
START_TEST(a_call_at_the_instant_open_ends_is_a_trial) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 10});
  rill_observable_t *parts[2] = {
      rill_timer(s, 10),
      rill_circuit_breaker(rill_just(1, rill_value_int(5)), b)};
  rill_observable_t *later = rill_concat(parts, 2);
  rill_observable_t *bad =
      rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  struct call c, t;
  ck_assert_int_eq(call_start(&t, s, later, 0), 0); /* its timer first */
  call_run(&c, s, bad);
  assert_trans(&w, 0, 0, C, O);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(t.terminal, REC_COMPLETE);
  ck_assert_int_eq(t.nexts, 2);
  ck_assert_int_eq(t.v[1], 5);
  ck_assert_int_eq(w.n, 3);
  assert_trans(&w, 1, 10, O, H);
  assert_trans(&w, 2, 10, H, C);
  ck_assert_bstats(b, 2, 1, 1, 0, 3);
  call_end(&t);
  rill_observable_free(later);
  rill_observable_free(bad);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Without its timer (its allocation failed at the trip), the breaker still
 * half-opens: at the next state query or admission once the time has come
 * (so on_state runs then, not at the instant). */
START_TEST(without_its_timer_the_breaker_half_opens_at_the_next_look) {
  bool seen = false;
  for (long k = 0; k < 64 && !seen; k++) {
    tl_alloc_install();
    rill_sched_t *s = rill_sched_virtual_new();
    struct watch w;
    rill_breaker_t *b = watched(
        s, &w, (rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 10});
    rill_observable_t *bad =
        rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
    ck_assert_ptr_nonnull(bad);
    struct call c;
    tl_alloc_index = 0;
    tl_fail_at = k;
    int rc = call_start(&c, s, bad, 0);
    tl_fail_at = -1;
    if (rc == 0 && c.terminal == REC_ERROR && c.err.code == RILL_EUSER &&
        rill_sched_active(s) == 0) {
      /* the failure counted, the breaker opened, no timer was armed */
      seen = true;
      assert_trans(&w, 0, 0, C, O);
      ck_assert_int_eq(rill_sched_advance_to(s, 13), 0);
      ck_assert_int_eq(w.n, 1);
      ck_assert_int_eq(rill_breaker_state(b), H);
      assert_trans(&w, 1, 13, O, H);
    }
    if (rc == 0)
      call_end(&c);
    rill_observable_free(bad);
    rill_breaker_free(b);
    ck_assert_int_eq(rill_sched_free(s), 0);
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_int_eq(live, 0);
  }
  ck_assert(seen);
}
END_TEST

START_TEST(a_timeout_inside_the_breaker_is_a_failure) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 2, .open_ms = 50});
  rill_observable_t *slow = rill_circuit_breaker(
      rill_timeout(marble_cold(s, "--------a|"), s, 3, INFINITY, NULL), b);
  ck_assert_ptr_nonnull(slow);
  struct call c;
  call_run(&c, s, slow);
  ck_assert_call_error(&c, RILL_ETIMEDOUT);
  ck_assert_double_eq(c.t_end, 3);
  call_run(&c, s, slow);
  ck_assert_call_error(&c, RILL_ETIMEDOUT);
  assert_trans(&w, 0, 6, C, O);
  ck_assert_bstats(b, 2, 0, 2, 0, 1);
  ck_assert_int_eq(rill_sched_advance_by(s, 10), 0);
  call_run(&c, s, slow);
  ck_assert_call_error(&c, RILL_EBREAKER_OPEN);
  rill_observable_free(slow);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(two_pipelines_share_one_breaker) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 2, .open_ms = 20});
  /* two different pipelines, both through b */
  rill_observable_t *p1 = rill_map(
      rill_circuit_breaker(marble_cold(s, "-a-#"), b), tl_double, NULL);
  rill_observable_t *p2 =
      rill_take(rill_circuit_breaker(marble_cold(s, "-1-2-3|"), b), 5);
  struct call a, c;
  call_run(&a, s, p1);
  ck_assert_int_eq(a.nexts, 1);
  call_run(&c, s, p2); /* a success in between breaks the run */
  ck_assert_int_eq(c.nexts, 3);
  call_run(&a, s, p1);
  call_run(&a, s, p1); /* two in a row: OPEN, for both pipelines */
  assert_trans(&w, 0, 15, C, O);
  call_run(&c, s, p2);
  ck_assert_call_error(&c, RILL_EBREAKER_OPEN);
  call_run(&a, s, p1);
  ck_assert_call_error(&a, RILL_EBREAKER_OPEN);
  ck_assert_bstats(b, 4, 1, 3, 2, 1);
  rill_observable_free(p1);
  rill_observable_free(p2);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* The user's reference may go first: the pipelines keep the breaker (and
 * its armed timer) until the last of them is freed. */
START_TEST(freeing_the_breaker_while_a_pipeline_uses_it_is_fine) {
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 5});
  rill_observable_t *bad = fails_in(s, "-#", b);
  struct call c;
  ck_assert_int_eq(call_start(&c, s, bad, 0), 0);
  rill_breaker_free(b); /* a live subscription and the recipe hold it */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  assert_trans(&w, 0, 1, C, O);
  assert_trans(&w, 1, 6, O, H);
  call_end(&c);
  call_run(&c, s, bad); /* HALF_OPEN trial fails: OPEN, timer armed */
  assert_trans(&w, 2, 7, H, O);
  ck_assert_int_eq(rill_sched_active(s), 1);
  ck_assert_int_eq(rill_sched_free(s), RILL_EBUSY); /* the breaker's timer */
  rill_observable_free(bad); /* the last reference: breaker and timer go */
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(w.n, 3);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, baseline);
}
END_TEST

/* on_state may drop the last outside reference, and may make a call. */
struct freeing_watch {
  rill_breaker_t *b;
  rill_observable_t *probe;
  struct call c;
  rill_sched_t *s;
  int calls;
};

static void freeing_on_state(void *ctx, rill_breaker_state_t from,
                             rill_breaker_state_t to) {
  struct freeing_watch *f = ctx;
  (void)from;
  f->calls++;
  if (to == RILL_BREAKER_OPEN) {
    /* a call from inside the transition sees the new state */
    ck_assert_int_eq(call_start(&f->c, f->s, f->probe, 0), 0);
    ck_assert_call_error(&f->c, RILL_EBREAKER_OPEN);
    rill_subscription_free(f->c.h);
    rill_breaker_free(f->b); /* the user's reference, from in here */
    f->b = NULL;
  }
}

START_TEST(on_state_may_call_through_the_breaker_and_free_it) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct freeing_watch f = {.s = s};
  f.b = rill_breaker_new(s, &(rill_breaker_opts_t){.consecutive_failures = 1,
                                                   .open_ms = 5,
                                                   .on_state = freeing_on_state,
                                                   .ctx = &f});
  rill_observable_t *bad =
      rill_circuit_breaker(rill_error(RILL_EUSER, "x"), f.b);
  f.probe = rill_circuit_breaker(rill_empty(), f.b);
  struct call c;
  call_run(&c, s, bad);
  ck_assert_call_error(&c, RILL_EUSER);
  ck_assert_ptr_null(f.b);
  ck_assert_int_eq(f.calls, 1);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(f.calls, 2); /* HALF_OPEN at 5, the recipes keep it */
  rill_observable_free(bad);
  rill_observable_free(f.probe);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* With no pipeline left, the user's reference is the last: freeing it
 * from on_state, run by the breaker's own timer, frees the timer from
 * inside its callback -- and the scheduler can go. */
static void free_on_half_open(void *ctx, rill_breaker_state_t from,
                              rill_breaker_state_t to) {
  rill_breaker_t **bp = ctx;
  (void)from;
  if (to == RILL_BREAKER_HALF_OPEN) {
    rill_breaker_free(*bp);
    *bp = NULL;
  }
}

START_TEST(the_last_reference_may_go_from_on_state_in_the_timer) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_breaker_t *b = NULL;
  b = rill_breaker_new(s, &(rill_breaker_opts_t){.consecutive_failures = 1,
                                                 .open_ms = 5,
                                                 .on_state = free_on_half_open,
                                                 .ctx = &b});
  rill_observable_t *bad =
      rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  struct call c;
  call_run(&c, s, bad);
  rill_observable_free(bad); /* only the user's reference is left */
  ck_assert_int_eq(rill_sched_active(s), 1);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_ptr_null(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* The outcome is recorded before the signal goes downstream: a subscriber
 * that tries again from its on_error (what retry() does) finds the breaker
 * already open. */
struct again {
  rill_observable_t *obs;
  rill_sched_t *s;
  struct call second;
  int errors;
};

static void again_subscribe(void *ctx, rill_subscription_t *sub) {
  (void)ctx;
  rill_subscription_request(sub, 1);
}

static void again_error(void *ctx, const rill_error_t *err) {
  struct again *a = ctx;
  (void)err;
  if (a->errors++ == 0)
    ck_assert_int_eq(call_start(&a->second, a->s, a->obs, 0), 0);
}

START_TEST(the_outcome_is_recorded_before_the_error_goes_downstream) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 5});
  struct again a = {.s = s};
  a.obs = rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  rill_breaker_free(b);
  static const rill_subscriber_t sub = {.on_subscribe = again_subscribe,
                                        .on_error = again_error};
  ck_assert_int_eq(rill_observable_subscribe(a.obs, &sub, &a, NULL), 0);
  ck_assert_int_eq(a.errors, 1);
  ck_assert_call_error(&a.second, RILL_EBREAKER_OPEN);
  call_end(&a.second);
  rill_observable_free(a.obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(a_cancelled_call_is_neither_success_nor_failure) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = watched(s, &w,
                              (rill_breaker_opts_t){.consecutive_failures = 1,
                                                    .window = 2,
                                                    .min_calls = 1,
                                                    .failure_rate = 1,
                                                    .open_ms = 10});
  rill_observable_t *slow = fails_in(s, "-----a|", b);
  rill_observable_t *slow_bad = fails_in(s, "-----#", b);
  rill_observable_t *good = fails_in(s, "|", b);
  struct call c;
  /* cancelled before its failure: no failure counted, still CLOSED */
  ck_assert_int_eq(call_start(&c, s, slow_bad, 0), 0);
  ck_assert_int_eq(rill_sched_advance_by(s, 2), 0);
  call_end(&c); /* frees the handle: cancels */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(rill_breaker_state(b), C);
  ck_assert_bstats(b, 1, 0, 0, 0, 0);
  /* cancelled from inside on_subscribe (no request yet): also neither */
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, slow), 0);
  ck_assert_rec_ok(&r);
  ck_assert_bstats(b, 2, 0, 0, 0, 0);
  /* open it, half-open it: a cancelled trial gives its slot back */
  rill_observable_t *bad = fails_in(s, "#", b);
  call_run(&c, s, bad);
  rill_observable_free(bad);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(rill_breaker_state(b), H);
  struct call t;
  ck_assert_int_eq(call_start(&t, s, slow, 0), 0);
  ck_assert_int_eq(call_start(&c, s, good, 0), 0);
  ck_assert_call_error(&c, RILL_EBREAKER_OPEN); /* the one slot is taken */
  call_end(&c);
  call_end(&t); /* cancel the trial */
  ck_assert_int_eq(rill_breaker_state(b), H);
  ck_assert_int_eq(call_start(&c, s, good, 0), 0); /* the slot is free */
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  call_end(&c);
  ck_assert_int_eq(rill_breaker_state(b), C);
  ck_assert_bstats(b, 5, 1, 1, 1, 3);
  rill_observable_free(slow);
  rill_observable_free(slow_bad);
  rill_observable_free(good);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(breaker_arguments_are_checked) {
  rill_sched_t *s = rill_sched_virtual_new();
  static const rill_breaker_opts_t bad[] = {
      {.consecutive_failures = -1},
      {.window = -1},
      {.window = 4, .min_calls = 5},
      {.min_calls = 1},
      {.failure_rate = 1.5},
      {.failure_rate = -0.1},
      {.failure_rate = NAN},
      {.open_ms = -1},
      {.open_ms = NAN},
      {.half_open_trials = -2},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    ck_assert_ptr_null(rill_breaker_new(s, &bad[i]));
    ck_assert_int_eq(errno, EINVAL);
  }
  errno = 0;
  ck_assert_ptr_null(rill_breaker_new(NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  rill_breaker_t *b = rill_breaker_new(s, NULL); /* all defaults */
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(rill_breaker_state(b), C);
  /* NULL sources and breakers: NULL, EINVAL, the source released */
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_circuit_breaker(rill_just(1, tl_owned(1)), NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  errno = 0;
  ck_assert_ptr_null(rill_circuit_breaker(NULL, b));
  ck_assert_int_eq(errno, EINVAL);
  errno = ENOMEM; /* a failed constructor's reason is kept */
  ck_assert_ptr_null(rill_circuit_breaker(NULL, b));
  ck_assert_int_eq(errno, ENOMEM);
  rill_breaker_stats_t st;
  rill_breaker_stats(NULL, &st);
  ck_assert_int_eq(st.calls, 0);
  rill_breaker_free(NULL);
  /* defaults: five failures in a row open it, for 30 s */
  rill_observable_t *bad5 =
      rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  struct call c;
  for (int i = 0; i < 4; i++)
    call_run(&c, s, bad5);
  ck_assert_int_eq(rill_breaker_state(b), C);
  call_run(&c, s, bad5);
  ck_assert_int_eq(rill_breaker_state(b), O);
  call_run(&c, s, bad5);
  ck_assert_str_eq(
      c.err.message,
      "circuit_breaker: open; half-open at 30000 ms (in 30000 ms)");
  rill_observable_free(bad5);
  rill_breaker_free(b);
  /* open_ms INFINITY: open for good, no timer armed */
  b = rill_breaker_new(s, &(rill_breaker_opts_t){.consecutive_failures = 1,
                                                 .open_ms = INFINITY});
  bad5 = rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  call_run(&c, s, bad5);
  call_run(&c, s, bad5);
  ck_assert_str_eq(c.err.message,
                   "circuit_breaker: open for good (open_ms is infinite)");
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_observable_free(bad5);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Owned values go once on every path: delivered, cancelled mid-way, and
 * rejected (the source is never subscribed; the recipe frees them). */
START_TEST(breaker_releases_owned_values_once_on_every_path) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 5});
  rill_observable_t *vals = rill_circuit_breaker(
      rill_just(3, tl_owned(1), tl_owned(2), tl_owned(3)), b);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, vals), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(rec_int(&r, 2), 3);
  rec_clear(&r);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, vals), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_t *bad =
      rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  struct call c;
  call_run(&c, s, bad);
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, vals), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EBREAKER_OPEN);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(vals);
  rill_observable_free(bad);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ck_assert_owned_balanced();
}
END_TEST

/* With libev, an open breaker's timer does not keep ev_run() alive. */
START_TEST(the_open_timer_does_not_hold_the_loop) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  rill_sched_t *s = rill_sched_ev_new(loop);
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 60000});
  rill_observable_t *bad =
      rill_circuit_breaker(rill_error(RILL_EUSER, NULL), b);
  struct call c;
  ck_assert_int_eq(call_start(&c, s, bad, 0), 0);
  call_end(&c);
  ck_assert_int_eq(rill_breaker_state(b), O);
  ck_assert_int_eq(rill_sched_active(s), 1);
  ev_run(loop, 0); /* returns at once: nothing holds the loop */
  ck_assert_int_eq(rill_breaker_state(b), O);
  rill_observable_free(bad);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ev_loop_destroy(loop);
}
END_TEST

/* ---- limiter ------------------------------------------------------------*/

/* A job source: each subscription runs `d` ms (or d_of[i] for the i-th
 * started) then emits its start order and completes; `live` counts the
 * subscriptions running at the source. */
struct jobs {
  rill_sched_t *s;
  double d;
  const double *d_of;
  int live, max_live, started, ended;
  double started_at[64];
};

struct job {
  struct jobs *j;
  rill_emitter_t *e;
  rill_sched_timer_t *t;
  int id;
};

/* A subscription runs at the source from start() to end() (which
 * rill_create runs once the subscription has ended and the outermost
 * emitter call has returned). */
static void job_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct job *job = arg;
  rill_emitter_t *e = job->e;
  if (rill_emitter_next(e, rill_value_int(job->id)) == 0)
    rill_emitter_complete(e); /* end() runs: job is gone */
}

static void job_start(void *ctx, rill_emitter_t *e) {
  struct jobs *j = ctx;
  struct job *job = calloc(1, sizeof(*job));
  ck_assert_ptr_nonnull(job);
  job->j = j;
  job->e = e;
  job->id = j->started++;
  if (job->id < 64)
    j->started_at[job->id] = rill_sched_now(j->s);
  if (++j->live > j->max_live)
    j->max_live = j->live;
  rill_emitter_set_data(e, job);
  job->t = rill_sched_timer_new(j->s, job_fired, job);
  ck_assert_ptr_nonnull(job->t);
  rill_sched_timer_start(job->t, j->d_of ? j->d_of[job->id] : j->d);
}

static void job_end(void *ctx, rill_emitter_t *e) {
  struct jobs *j = ctx;
  struct job *job = rill_emitter_data(e);
  j->live--;
  j->ended++;
  rill_sched_timer_free(job->t);
  free(job);
}

static rill_observable_t *job_source(struct jobs *j) {
  rill_observable_t *o = rill_create(job_start, job_end, j);
  ck_assert_ptr_nonnull(o);
  return o;
}

static rill_limiter_stats_t lstats(const rill_limiter_t *l) {
  rill_limiter_stats_t st;
  rill_limiter_stats(l, &st);
  return st;
}

#define ck_assert_lstats(l, in_use_, waiting_, rejected_)                      \
  do {                                                                         \
    rill_limiter_stats_t st_ = lstats(l);                                      \
    ck_assert_msg(st_.in_use == (in_use_) && st_.waiting == (waiting_) &&      \
                      st_.rejected == (rejected_),                             \
                  "limiter: in_use %zu waiting %zu rejected %llu", st_.in_use, \
                  st_.waiting, (unsigned long long)st_.rejected);              \
  } while (0)

START_TEST(permits_hold_across_pipelines) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct jobs j = {.s = s, .d = 10};
  rill_limiter_t *l = rill_limiter_new(3, 0);
  /* three pipelines of different shapes through one limiter */
  rill_observable_t *p[3] = {
      rill_limit(job_source(&j), l),
      rill_map(rill_limit(job_source(&j), l), tl_double, NULL),
      rill_take(rill_limit(job_source(&j), l), 1)};
  rill_limiter_free(l); /* the recipes keep it */
  struct call c[10];
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(call_start(&c[i], s, p[i % 3], 0), 0);
  ck_assert_int_eq(j.live, 3);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(j.max_live, 3);
  ck_assert_int_eq(j.started, 10);
  ck_assert_int_eq(j.live, 0);
  for (int i = 0; i < 10; i++) {
    ck_assert_int_eq(c[i].terminal, REC_COMPLETE);
    ck_assert_double_eq(c[i].t_end, 10 * (i / 3 + 1));
    call_end(&c[i]);
  }
  for (int i = 0; i < 3; i++)
    rill_observable_free(p[i]);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(waiters_get_their_permit_in_fifo_order) {
  rill_sched_t *s = rill_sched_virtual_new();
  static const double d_of[] = {5, 1, 7, 2, 3};
  struct jobs j = {.s = s, .d_of = d_of};
  rill_limiter_t *l = rill_limiter_new(2, 0);
  rill_observable_t *a = rill_limit(job_source(&j), l);
  rill_observable_t *b =
      rill_limit(rill_map(job_source(&j), tl_double, NULL), l);
  struct call c[5];
  rill_observable_t *order[5] = {a, b, b, a, b};
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(call_start(&c[i], s, order[i], 0), 0);
  ck_assert_lstats(l, 2, 3, 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* subscriber i got the i-th start: 0 and 1 at 0; 2 when 1 ends (1);
   * 3 when 0 ends (5); 4 when 3 ends (7) */
  static const double start[] = {0, 0, 1, 5, 7};
  for (int i = 0; i < 5; i++) {
    int64_t got = c[i].v[0] / (order[i] == b ? 2 : 1);
    ck_assert_int_eq(got, i);
    ck_assert_double_eq(j.started_at[i], start[i]);
    ck_assert_double_eq(c[i].t_end, start[i] + d_of[i]);
    call_end(&c[i]);
  }
  ck_assert_int_eq(j.max_live, 2);
  ck_assert_lstats(l, 0, 0, 0);
  rill_observable_free(a);
  rill_observable_free(b);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(a_full_queue_fails_at_once) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct jobs j = {.s = s, .d = 4};
  rill_limiter_t *l = rill_limiter_new(1, 2);
  rill_observable_t *p = rill_limit(job_source(&j), l);
  struct call c[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(call_start(&c[i], s, p, 0), 0);
  ck_assert_lstats(l, 1, 2, 1);
  ck_assert_int_eq(c[3].subscribes, 1);
  ck_assert_call_error(&c[3], RILL_ELIMIT_FULL);
  ck_assert_str_eq(c[3].err.stage, "limit");
  ck_assert_str_eq(c[3].err.message, "limit: 2 subscriptions already waiting");
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(c[i].terminal, REC_COMPLETE);
    call_end(&c[i]);
  }
  call_end(&c[3]);
  ck_assert_int_eq(j.started, 3);
  /* room again */
  ck_assert_int_eq(call_start(&c[0], s, p, 0), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(c[0].terminal, REC_COMPLETE);
  call_end(&c[0]);
  ck_assert_lstats(l, 0, 0, 1);
  rill_observable_free(p);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(cancel_while_waiting_leaves_the_queue) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct jobs j = {.s = s, .d = 10};
  rill_limiter_t *l = rill_limiter_new(1, 3);
  rill_observable_t *p = rill_limit(job_source(&j), l);
  struct call c[4];
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(call_start(&c[i], s, p, 0), 0);
  ck_assert_lstats(l, 1, 3, 0);
  call_end(&c[2]); /* cancel a waiter in the middle */
  ck_assert_lstats(l, 1, 2, 0);
  call_end(&c[3]); /* and the last */
  ck_assert_lstats(l, 1, 1, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 5), 0);
  /* cancel the holder: its source is cancelled (ended), then the next
   * waiter starts, never two at once */
  call_end(&c[0]);
  ck_assert_int_eq(j.ended, 1);
  ck_assert_int_eq(j.started, 2);
  ck_assert_double_eq(j.started_at[1], 5);
  ck_assert_int_eq(j.max_live, 1);
  ck_assert_lstats(l, 1, 0, 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(c[1].terminal, REC_COMPLETE);
  ck_assert_double_eq(c[1].t_end, 15);
  call_end(&c[1]);
  ck_assert_int_eq(j.started, 2);
  ck_assert_lstats(l, 0, 0, 0);
  rill_observable_free(p);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A waiter cancelled from a callback, in the very dispatch that frees a
 * permit, leaves the queue there and then: the permit goes past it. */
struct canceller {
  struct call c; /* first: the call_* callbacks see a struct call */
  struct call *victim;
  const rill_limiter_t *l;
  rill_limiter_stats_t seen;
};

static void canceller_complete(void *ctx) {
  struct canceller *k = ctx;
  call_on_complete(&k->c);
  rill_subscription_cancel(k->victim->h);
  rill_limiter_stats(k->l, &k->seen);
}

START_TEST(a_waiter_cancelled_from_a_callback_never_starts) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct jobs j = {.s = s, .d = 10};
  rill_limiter_t *l = rill_limiter_new(1, 0);
  rill_observable_t *p = rill_limit(job_source(&j), l);
  static const rill_subscriber_t sub = {.on_subscribe = call_on_subscribe,
                                        .on_next = call_on_next,
                                        .on_error = call_on_error,
                                        .on_complete = canceller_complete};
  struct canceller a = {.c = {.s = s}, .l = l};
  struct call b, c;
  ck_assert_int_eq(rill_observable_subscribe(p, &sub, &a, &a.c.h), 0);
  ck_assert_int_eq(call_start(&b, s, p, 0), 0);
  ck_assert_int_eq(call_start(&c, s, p, 0), 0);
  a.victim = &b;
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* inside A's on_complete: B has left, A still holds its permit */
  ck_assert_int_eq(a.seen.waiting, 1);
  ck_assert_int_eq(a.seen.in_use, 1);
  ck_assert_int_eq(j.started, 2); /* A and C: B's source never ran */
  ck_assert_int_eq(b.terminals, 0);
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  ck_assert_double_eq(c.t_end, 20);
  call_end(&a.c);
  call_end(&b);
  call_end(&c);
  ck_assert_lstats(l, 0, 0, 0);
  rill_observable_free(p);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(an_error_returns_the_permit) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_limiter_t *l = rill_limiter_new(1, 0);
  rill_observable_t *bad = rill_limit(marble_cold(s, "--#"), l);
  rill_observable_t *good = rill_limit(marble_cold(s, "-a|"), l);
  struct call c1, c2;
  ck_assert_int_eq(call_start(&c1, s, bad, 0), 0);
  ck_assert_int_eq(call_start(&c2, s, good, 0), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_call_error(&c1, RILL_EUSER);
  ck_assert_double_eq(c1.t_end, 2);
  ck_assert_int_eq(c2.terminal, REC_COMPLETE);
  ck_assert_double_eq(c2.t_end, 4);
  call_end(&c1);
  call_end(&c2);
  ck_assert_lstats(l, 0, 0, 0);
  rill_observable_free(bad);
  rill_observable_free(good);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(demand_requested_while_waiting_is_carried_over) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_limiter_t *l = rill_limiter_new(1, 0);
  rill_observable_t *hold = rill_limit(rill_never(), l);
  rill_observable_t *p = rill_limit(rill_range(100, 10), l);
  struct call h, c;
  ck_assert_int_eq(call_start(&h, s, hold, 0), 0);
  ck_assert_int_eq(call_start(&c, s, p, 2), 0); /* waits, asks for 2 */
  rill_subscription_request(c.h, 1);            /* and 1 more */
  ck_assert_int_eq(c.nexts, 0);
  call_end(&h); /* the permit comes: exactly 3 values */
  ck_assert_int_eq(c.nexts, 3);
  ck_assert_int_eq(c.v[2], 102);
  ck_assert_int_eq(c.terminal, REC_NONE);
  rill_subscription_request(c.h, 7); /* then 1:1 */
  ck_assert_int_eq(c.nexts, 10);
  ck_assert_int_eq(c.terminal, REC_COMPLETE);
  call_end(&c);
  /* and nothing is asked of the source while waiting with no demand */
  ck_assert_int_eq(call_start(&h, s, hold, 0), 0);
  ck_assert_int_eq(call_start(&c, s, p, -1), 0);
  call_end(&h);
  ck_assert_int_eq(c.nexts, 0);
  ck_assert_lstats(l, 1, 0, 0);
  rill_subscription_request(c.h, RILL_UNBOUNDED);
  ck_assert_int_eq(c.nexts, 10);
  call_end(&c);
  ck_assert_lstats(l, 0, 0, 0);
  rill_observable_free(hold);
  rill_observable_free(p);
  rill_limiter_free(l);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A light subscriber for the big runs: counts, and notes the stack span
 * of its on_next frames. */
struct tally {
  int64_t subscribes, nexts, completes, errors;
  uintptr_t lo, hi;
  /* resubscribe from on_complete, this many more times */
  int64_t again;
  rill_observable_t *obs;
};

static void stack_note(struct tally *t) {
  int here;
  uintptr_t at = (uintptr_t)&here;
  if (t->lo == 0 || at < t->lo)
    t->lo = at;
  if (at > t->hi)
    t->hi = at;
}

static void tally_on_subscribe(void *ctx, rill_subscription_t *sub) {
  struct tally *t = ctx;
  t->subscribes++;
  rill_subscription_request(sub, RILL_UNBOUNDED);
}
static void tally_on_next(void *ctx, rill_value_t v) {
  struct tally *t = ctx;
  stack_note(t);
  t->nexts++;
  rill_value_release(v);
}
static void tally_on_error(void *ctx, const rill_error_t *err) {
  (void)err;
  ((struct tally *)ctx)->errors++;
}
static const rill_subscriber_t tally_sub = {.on_subscribe = tally_on_subscribe,
                                            .on_next = tally_on_next,
                                            .on_error = tally_on_error};

START_TEST(a_million_queued_synchronous_subscriptions_keep_the_stack_flat) {
  int64_t n = tl_scaled(1000000);
  rill_limiter_t *l = rill_limiter_new(1, (size_t)n);
  rill_observable_t *hold = rill_limit(rill_never(), l);
  rill_observable_t *p = rill_limit(rill_just(1, rill_value_int(7)), l);
  rill_subscription_t *h;
  struct tally t = {0};
  ck_assert_int_eq(rill_observable_subscribe(hold, &tally_sub, &t, &h), 0);
  for (int64_t i = 0; i < n; i++)
    ck_assert_int_eq(rill_observable_subscribe(p, &tally_sub, &t, NULL), 0);
  ck_assert_lstats(l, 1, (size_t)n, 0);
  ck_assert_int_eq(t.nexts, 0);
  rill_subscription_free(h); /* the permit goes down the whole queue */
  ck_assert_int_eq(t.nexts, n);
  ck_assert_lstats(l, 0, 0, 0);
  ck_assert_msg(t.hi - t.lo < 4096, "on_next frames spread over %lu bytes",
                (unsigned long)(t.hi - t.lo));
  rill_observable_free(hold);
  rill_observable_free(p);
  rill_limiter_free(l);
}
END_TEST

/* A mutex: one permit.  A subscriber that subscribes again from its own
 * on_complete, many times over, with a synchronous source: the limiter's
 * loop runs them one after another (flat stack), never two at once. */
static void again_on_complete(void *ctx);
static const rill_subscriber_t again_sub = {.on_subscribe = tally_on_subscribe,
                                            .on_next = tally_on_next,
                                            .on_error = tally_on_error,
                                            .on_complete = again_on_complete};
static int mutex_live, mutex_max;
static void again_on_complete(void *ctx) {
  struct tally *t = ctx;
  t->completes++;
  if (t->again-- > 0)
    ck_assert_int_eq(rill_observable_subscribe(t->obs, &again_sub, t, NULL), 0);
}

static int section_enter(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = in;
  return 0;
}

static void mutex_start(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  if (++mutex_live > mutex_max)
    mutex_max = mutex_live;
  if (rill_emitter_next(e, rill_value_int(mutex_live)) == 0)
    rill_emitter_complete(e);
}
static void mutex_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  (void)e;
  mutex_live--;
}

START_TEST(one_permit_is_a_mutex) {
  rill_sched_t *s = rill_sched_virtual_new();
  /* timed: two pipelines, sections never overlap */
  struct jobs j = {.s = s, .d = 3};
  rill_limiter_t *m = rill_limiter_new(1, 0);
  rill_observable_t *a = rill_limit(job_source(&j), m);
  rill_observable_t *b =
      rill_map(rill_limit(job_source(&j), m), section_enter, NULL);
  struct call c[6];
  for (int i = 0; i < 6; i++)
    ck_assert_int_eq(call_start(&c[i], s, i % 2 ? b : a, 0), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(j.max_live, 1);
  for (int i = 0; i < 6; i++) {
    ck_assert_double_eq(c[i].t_end, 3 * (i + 1));
    call_end(&c[i]);
  }
  /* synchronous, resubscribing from on_complete */
  int64_t n = tl_scaled(200000);
  rill_observable_t *sync =
      rill_limit(rill_create(mutex_start, mutex_end, NULL), m);
  struct tally t = {.again = n - 1, .obs = sync};
  mutex_live = mutex_max = 0;
  ck_assert_int_eq(rill_observable_subscribe(sync, &again_sub, &t, NULL), 0);
  ck_assert_int_eq(t.completes, n);
  ck_assert_int_eq(t.nexts, n);
  ck_assert_int_eq(mutex_max, 1);
  ck_assert_msg(t.hi - t.lo < 4096, "on_next frames spread over %lu bytes",
                (unsigned long)(t.hi - t.lo));
  ck_assert_lstats(m, 0, 0, 0);
  rill_observable_free(sync);
  rill_observable_free(a);
  rill_observable_free(b);
  rill_limiter_free(m);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(limiter_arguments_are_checked) {
  errno = 0;
  ck_assert_ptr_null(rill_limiter_new(0, 0));
  ck_assert_int_eq(errno, EINVAL);
  rill_limiter_t *l = rill_limiter_new(1, 0);
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_limit(rill_just(1, tl_owned(1)), NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  errno = 0;
  ck_assert_ptr_null(rill_limit(NULL, l));
  ck_assert_int_eq(errno, EINVAL);
  errno = ENOMEM;
  ck_assert_ptr_null(rill_limit(NULL, l));
  ck_assert_int_eq(errno, ENOMEM);
  rill_limiter_stats_t st;
  rill_limiter_stats(NULL, &st);
  ck_assert_int_eq(st.in_use, 0);
  rill_limiter_free(NULL);
  rill_limiter_free(l);
}
END_TEST

START_TEST(limit_releases_owned_values_once_on_every_path) {
  tl_owned_reset();
  rill_limiter_t *l = rill_limiter_new(1, 1);
  rill_observable_t *hold = rill_limit(rill_never(), l);
  rill_observable_t *vals =
      rill_limit(rill_just(3, tl_owned(1), tl_owned(2), tl_owned(3)), l);
  rill_subscription_t *h;
  struct tally t = {0};
  ck_assert_int_eq(rill_observable_subscribe(hold, &tally_sub, &t, &h), 0);
  rec_t r1, r2, r3;
  rec_init(&r1); /* waits, then is cancelled from on_next */
  r1.request_on_subscribe = RILL_UNBOUNDED;
  r1.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r1, vals), 0);
  rec_init(&r2); /* the queue is full */
  ck_assert_int_eq(rec_subscribe(&r2, vals), 0);
  ck_assert_int_eq(r2.err.code, RILL_ELIMIT_FULL);
  rill_subscription_free(h);
  ck_assert_int_eq(r1.nexts, 2);
  ck_assert_rec_ok(&r1);
  rec_init(&r3); /* waits and is cancelled while waiting */
  ck_assert_int_eq(rill_observable_subscribe(hold, &tally_sub, &t, &h), 0);
  ck_assert_int_eq(rec_subscribe(&r3, vals), 0);
  rec_cancel(&r3);
  rill_subscription_free(h);
  ck_assert_int_eq(r3.nexts, 0);
  rec_clear(&r1);
  rec_clear(&r2);
  rec_clear(&r3);
  rill_observable_free(vals);
  rill_observable_free(hold);
  rill_limiter_free(l);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- allocation failure at every site -------------------------------------
 *
 * A scenario drives a few subscriptions through a breaker or a limiter on
 * a fresh virtual scheduler, with allocation k failing (k = -1: none, the
 * reference).  Whatever k, every subscription that started ends with one
 * terminal -- the reference's (with the same values and time) or
 * RILL_ENOMEM -- and afterwards nothing leaks: blocks, owned values, timers;
 * the scheduler frees. */

#define SWEEP_CALLS 4

struct sweep_out {
  bool ctor_null;
  int sub_rc[SWEEP_CALLS];
  struct call c[SWEEP_CALLS];
};

typedef void (*scenario_fn)(rill_sched_t *s, struct sweep_out *o);

static rill_observable_t *owned_cold(rill_sched_t *s, const char *m);

/* A breaker with one failure to open, 10 ms open: a failure at 2, a call
 * rejected at 3, a trial at 12 that succeeds at 14. */
static void scenario_breaker(rill_sched_t *s, struct sweep_out *o) {
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){
             .consecutive_failures = 1, .window = 3, .open_ms = 10});
  rill_observable_t *bad = rill_circuit_breaker(marble_cold(s, "--#"), b);
  rill_observable_t *ok = rill_circuit_breaker(owned_cold(s, "-a-b|"), b);
  rill_breaker_free(b);
  if (bad == NULL || ok == NULL) {
    ck_assert_int_eq(errno, ENOMEM);
    o->ctor_null = true;
  } else {
    o->sub_rc[0] = call_start(&o->c[0], s, bad, 0);
    ck_assert_int_eq(rill_sched_advance_to(s, 3), 0);
    o->sub_rc[1] = call_start(&o->c[1], s, ok, 0);
    ck_assert_int_eq(rill_sched_advance_to(s, 12), 0);
    o->sub_rc[2] = call_start(&o->c[2], s, ok, 0);
    ck_assert_int_eq(rill_sched_run(s, 0), 0);
  }
  rill_observable_free(bad);
  rill_observable_free(ok);
}

/* A limiter with one permit and room for two: three subscriptions in turn,
 * the second cancelled while waiting, a fourth refused. */
static void scenario_limiter(rill_sched_t *s, struct sweep_out *o) {
  rill_limiter_t *l = rill_limiter_new(1, 2);
  rill_observable_t *p = rill_limit(owned_cold(s, "-a-b|"), l);
  rill_limiter_free(l);
  if (p == NULL) {
    ck_assert_int_eq(errno, ENOMEM);
    o->ctor_null = true;
    return;
  }
  for (int i = 0; i < SWEEP_CALLS; i++)
    o->sub_rc[i] = call_start(&o->c[i], s, p, 0);
  if (o->sub_rc[1] == 0)
    rill_subscription_cancel(o->c[1].h);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  rill_observable_free(p);
}

static int owned_or_enomem(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  rill_value_t v = tl_owned(in.as.i);
  if (v.kind == RILL_KIND_NONE)
    return RILL_ENOMEM;
  *out = v;
  return 0;
}

static rill_observable_t *owned_cold(rill_sched_t *s, const char *m) {
  return rill_map(marble_cold(s, m), owned_or_enomem, NULL);
}

/* Returns whether allocation k was reached. */
static bool sweep_once(const char *name, scenario_fn fn, long k,
                       struct sweep_out *o) {
  memset(o, 0, sizeof(*o));
  tl_owned_reset();
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_nonnull(s);
  tl_alloc_index = 0;
  tl_fail_at = k;
  errno = 0;
  fn(s, o);
  bool reached = tl_alloc_index > k;
  tl_fail_at = -1;
  for (int i = 0; i < SWEEP_CALLS; i++) {
    ck_assert_msg(o->c[i].violations == 0, "%s: site %ld: call %d: protocol",
                  name, k, i);
    if (o->c[i].h != NULL)
      rill_subscription_free(o->c[i].h);
  }
  ck_assert_msg(rill_sched_active(s) == 0, "%s: site %ld: timers left", name,
                k);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "%s: site %ld: %ld blocks leaked", name, k,
                live - baseline);
  ck_assert_msg(tl_owned_made == tl_owned_released,
                "%s: site %ld: owned values: %ld made, %ld released", name, k,
                tl_owned_made, tl_owned_released);
  return reached;
}

static void sweep(const char *name, scenario_fn fn) {
  struct sweep_out ref, x;
  sweep_once(name, fn, -1, &ref);
  ck_assert(!ref.ctor_null);
  long k;
  for (k = 0;; k++) {
    bool reached = sweep_once(name, fn, k, &x);
    if (x.ctor_null) {
      ck_assert(reached);
      continue;
    }
    /* Once a call has met ENOMEM, the shared object saw something else
     * (a call missing, a failure more): later calls only have to end. */
    bool deviated = false;
    for (int i = 0; i < SWEEP_CALLS; i++) {
      const struct call *want = &ref.c[i], *got = &x.c[i];
      if (x.sub_rc[i] != 0) {
        ck_assert_msg(x.sub_rc[i] == RILL_ENOMEM && got->subscribes == 0,
                      "%s: site %ld: call %d: subscribe gave %d", name, k, i,
                      x.sub_rc[i]);
        deviated = true;
        continue;
      }
      if (ref.sub_rc[i] != 0)
        continue;
      if (got->terminal == REC_ERROR && got->err.code == RILL_ENOMEM) {
        ck_assert_msg(reached, "%s: ENOMEM with no injected failure", name);
        deviated = true;
        continue;
      }
      if (deviated) {
        ck_assert_msg(got->terminals == 1 || want->terminals == 0,
                      "%s: site %ld: call %d never ended", name, k, i);
        continue;
      }
      ck_assert_msg(
          got->terminal == want->terminal && got->nexts == want->nexts &&
              got->t_end == want->t_end &&
              (got->terminal != REC_ERROR || got->err.code == want->err.code),
          "%s: site %ld: call %d ended %d (%s) at %g with %lld "
          "values; want %d (%s) at %g with %lld",
          name, k, i, got->terminal,
          got->terminal == REC_ERROR ? rill_err_name(got->err.code) : "-",
          got->t_end, (long long)got->nexts, want->terminal,
          want->terminal == REC_ERROR ? rill_err_name(want->err.code) : "-",
          want->t_end, (long long)want->nexts);
      for (int64_t v = 0; v < got->nexts && v < CALL_MAXV; v++)
        ck_assert_int_eq(got->v[v], want->v[v]);
    }
    if (!reached)
      break;
  }
  ck_assert_int_gt(k, 5);
}

START_TEST(breaker_fails_cleanly_at_every_allocation) {
  sweep("breaker", scenario_breaker);
}
END_TEST

START_TEST(limiter_fails_cleanly_at_every_allocation) {
  sweep("limiter", scenario_limiter);
}
END_TEST

Suite *breaker_suite(void) {
  Suite *s = suite_create("breaker");
  TCase *tc = tcase_create("breaker");
  tcase_add_test(tc, consecutive_failures_open_at_the_failing_instant);
  tcase_add_test(tc, open_rejects_at_once_then_half_opens_at_the_exact_instant);
  tcase_add_test(tc, failure_rate_counts_once_min_calls_are_in_the_window);
  tcase_add_test(tc, failure_rate_slides_over_the_last_window_calls);
  tcase_add_test(tc, half_open_admits_the_trials_and_closes_when_all_succeed);
  tcase_add_test(
      tc, a_failed_trial_reopens_at_once_and_late_outcomes_steer_nothing);
  tcase_add_test(tc, a_call_from_before_the_trip_failing_later_changes_nothing);
  tcase_add_test(tc, a_call_at_the_instant_open_ends_is_a_trial);
  tcase_add_test(tc, without_its_timer_the_breaker_half_opens_at_the_next_look);
  tcase_add_test(tc, a_timeout_inside_the_breaker_is_a_failure);
  tcase_add_test(tc, two_pipelines_share_one_breaker);
  tcase_add_test(tc, freeing_the_breaker_while_a_pipeline_uses_it_is_fine);
  tcase_add_test(tc, on_state_may_call_through_the_breaker_and_free_it);
  tcase_add_test(tc, the_last_reference_may_go_from_on_state_in_the_timer);
  tcase_add_test(tc, the_outcome_is_recorded_before_the_error_goes_downstream);
  tcase_add_test(tc, a_cancelled_call_is_neither_success_nor_failure);
  tcase_add_test(tc, breaker_arguments_are_checked);
  tcase_add_test(tc, breaker_releases_owned_values_once_on_every_path);
  tcase_add_test(tc, the_open_timer_does_not_hold_the_loop);
  suite_add_tcase(s, tc);
  tc = tcase_create("limiter");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, permits_hold_across_pipelines);
  tcase_add_test(tc, waiters_get_their_permit_in_fifo_order);
  tcase_add_test(tc, a_full_queue_fails_at_once);
  tcase_add_test(tc, cancel_while_waiting_leaves_the_queue);
  tcase_add_test(tc, a_waiter_cancelled_from_a_callback_never_starts);
  tcase_add_test(tc, an_error_returns_the_permit);
  tcase_add_test(tc, demand_requested_while_waiting_is_carried_over);
  tcase_add_test(
      tc, a_million_queued_synchronous_subscriptions_keep_the_stack_flat);
  tcase_add_test(tc, one_permit_is_a_mutex);
  tcase_add_test(tc, limiter_arguments_are_checked);
  tcase_add_test(tc, limit_releases_owned_values_once_on_every_path);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, breaker_fails_cleanly_at_every_allocation);
  tcase_add_test(tc, limiter_fails_cleanly_at_every_allocation);
  suite_add_tcase(s, tc);
  return s;
}
