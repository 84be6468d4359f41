/* SPDX-License-Identifier: MIT */
/* rill tests: the operators that shift values in time -- delay, timeout and
 * buffer_time -- on the virtual scheduler, written as marble timelines
 * (tests/marble.h).  Expected timelines come from RxJS 7.8.2's own cases
 * (../shared/conformance/rxjs-marbles), cited by id; "adapted" marks a case
 * whose RxJS form (an absolute date, `first`) rill does not have, rewritten
 * with a relative duration that gives the same timeline.  Hot sources are
 * subscribed at their first frame, so marble_hot() replays them.
 *
 * Beyond the RxJS cases: cancel while a timer is pending (the scheduler is
 * idle again), raw demand (delay never emits beyond it; timeout hands the
 * outstanding demand to its fallback; buffer_time's overflow policies),
 * owned values balanced on the complete, error, cancel and timeout paths,
 * one timer per operator, bad arguments and ENOMEM at every allocation. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static rill_sched_t *vs;

static void setup(void) {
  vs = rill_sched_virtual_new();
  tl_owned_reset();
}
static void teardown(void) {
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}

/* ---- helpers ------------------------------------------------------------*/

static int never_pass(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  return 0;
}

static int identity(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(in);
  return 0;
}

/* int -> owned value holding that int, and back. */
static int to_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = tl_owned(in.as.i);
  return 0;
}
static int from_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(tl_owned_int(in));
  return 0;
}

/* A marble source whose values are owned (tl_owned). */
static rill_observable_t *owned_marble(const char *m) {
  return rill_map(marble_cold(vs, m), to_owned, NULL);
}

/* Records the most timers ever armed at once, as values pass. */
struct probe {
  rill_sched_t *s;
  int max;
};
static int probe_fn(void *ctx, rill_value_t in, rill_value_t *out) {
  struct probe *p = ctx;
  if (rill_sched_active(p->s) > p->max)
    p->max = rill_sched_active(p->s);
  *out = rill_value_retain(in);
  return 0;
}

/* Run and compare, then free the observable. */
static void check_marble(rill_observable_t *o, double until, const char *want,
                         int want_error) {
  ck_assert_ptr_nonnull(o);
  marble_result_t r;
  marble_run(vs, o, until, &r);
  ck_assert_marble_result(&r, want);
  ck_assert_int_eq(r.error_code, want_error);
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
}

static void check_cancel(rill_observable_t *o, double until, double cancel_at,
                         const char *want) {
  ck_assert_ptr_nonnull(o);
  marble_result_t r;
  marble_run_cancel(vs, o, until, cancel_at, &r);
  ck_assert_marble_result(&r, want);
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
}

/* ---- a recorder for arrays ------------------------------------------------
 * The marble renderer shows ints only; buffer_time emits arrays, so this
 * recorder renders each signal as "time:item", space separated: an array
 * as "[a,b]" (ints 97..122 as the marble letters they came from, other
 * ints and owned values as numbers), "|" and "#".  Time is relative to the
 * subscription. */
struct arec {
  rill_subscription_t *sub; /* owned handle */
  double t0;
  char text[2048];
  size_t len;
  int64_t initial; /* request on subscribe; 0: none */
  int64_t requested;
  int64_t nexts;
  int terminals;
  int error_code;
  int violations; /* on_next beyond demand */
};

static void arec_put(struct arec *r, const char *s) {
  size_t n = strlen(s);
  if (r->len + n + 1 >= sizeof(r->text))
    return;
  memcpy(r->text + r->len, s, n + 1);
  r->len += n;
}

static void arec_stamp(struct arec *r) {
  char tmp[32];
  snprintf(tmp, sizeof(tmp), "%s%g:", r->len ? " " : "",
           rill_sched_now(vs) - r->t0);
  arec_put(r, tmp);
}

static void arec_elem(struct arec *r, rill_value_t v) {
  char tmp[32];
  int64_t x = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  if (v.kind == RILL_KIND_INT && x >= 'a' && x <= 'z')
    snprintf(tmp, sizeof(tmp), "%c", (char)x);
  else
    snprintf(tmp, sizeof(tmp), "%lld", (long long)x);
  arec_put(r, tmp);
}

static void arec_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct arec *r = ctx;
  if (r->initial > 0) {
    r->requested = r->initial;
    rill_subscription_request(s, r->initial);
  }
}

static void arec_on_next(void *ctx, rill_value_t v) {
  struct arec *r = ctx;
  if (++r->nexts > r->requested)
    r->violations++;
  arec_stamp(r);
  if (v.kind == RILL_KIND_ARRAY) {
    arec_put(r, "[");
    for (size_t i = 0; i < rill_array_len(v.as.array); i++) {
      if (i > 0)
        arec_put(r, ",");
      arec_elem(r, rill_array_at(v.as.array, i));
    }
    arec_put(r, "]");
  } else {
    arec_elem(r, v);
  }
  rill_value_release(v);
}

static void arec_on_error(void *ctx, const rill_error_t *err) {
  struct arec *r = ctx;
  r->terminals++;
  r->error_code = err->code;
  arec_stamp(r);
  arec_put(r, "#");
}

static void arec_on_complete(void *ctx) {
  struct arec *r = ctx;
  r->terminals++;
  arec_stamp(r);
  arec_put(r, "|");
}

static void arec_start(struct arec *r, rill_observable_t *o, int64_t initial) {
  static const rill_subscriber_t sub = {
      .on_subscribe = arec_on_subscribe,
      .on_next = arec_on_next,
      .on_error = arec_on_error,
      .on_complete = arec_on_complete,
  };
  memset(r, 0, sizeof(*r));
  r->initial = initial;
  r->t0 = rill_sched_now(vs);
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(rill_observable_subscribe(o, &sub, r, &r->sub), 0);
}

static void arec_request(struct arec *r, int64_t n) {
  r->requested += n;
  rill_subscription_request(r->sub, n);
}

/* Cancel if still running and release the handle. */
static void arec_stop(struct arec *r) {
  rill_subscription_free(r->sub);
  r->sub = NULL;
  ck_assert_int_eq(r->violations, 0);
}

/* Subscribe with unbounded demand, run to `until` (0: idle), cancel at
 * `cancel_at` if >= 0, compare. */
static void check_arrays(rill_observable_t *o, double until, double cancel_at,
                         const char *want) {
  struct arec r;
  arec_start(&r, o, RILL_UNBOUNDED);
  if (cancel_at >= 0) {
    rill_sched_advance_to(vs, r.t0 + cancel_at);
    rill_subscription_cancel(r.sub);
  }
  if (until > 0)
    rill_sched_advance_to(vs, r.t0 + until);
  else
    ck_assert_int_eq(rill_sched_run(vs, 100000), 0);
  arec_stop(&r);
  ck_assert_msg(strcmp(r.text, want) == 0, "got \"%s\", want \"%s\"", r.text,
                want);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rill_observable_free(o);
}

/* ==== delay ================================================================*/

static rill_observable_t *dly(rill_observable_t *src, double ms) {
  return rill_delay(src, vs, ms);
}

/* ---- delay_subscription --------------------------------------------------*/

static rill_observable_t *dsub(rill_observable_t *src, double ms) {
  return rill_delay_subscription(src, vs, ms);
}

/* A cold source that counts its subscriptions (defer's factory). */
struct counted {
  const char *marbles;
  int subscribed;
};
static int counted_make(void *ctx, rill_observable_t **out) {
  struct counted *c = ctx;
  c->subscribed++;
  *out = marble_cold(vs, c->marbles);
  return *out != NULL ? 0 : RILL_ENOMEM;
}

START_TEST(delay_subscription_shifts_a_cold_source) {
  check_marble(dsub(marble_cold(vs, "-a-b|"), 3), 0, "----a-b|", 0);
  check_marble(dsub(marble_cold(vs, "-#"), 2), 0, "---#", RILL_EUSER);
  check_marble(dsub(marble_cold(vs, "(ab|)"), 0), 0, "(ab|)", 0);
}
END_TEST

START_TEST(delay_subscription_subscribes_once_at_the_instant) {
  struct counted c = {.marbles = "(a|)"};
  rill_observable_t *o = dsub(rill_defer(counted_make, &c), 5);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_advance_by(vs, 4.9), 0);
  ck_assert_int_eq(c.subscribed, 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(rill_sched_advance_by(vs, 0.1), 0);
  ck_assert_int_eq(c.subscribed, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(delay_subscription_cancel_during_the_delay) {
  struct counted c = {.marbles = "a|"};
  rill_observable_t *o = dsub(rill_defer(counted_make, &c), 5);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_active(vs), 1); /* the delay's timer */
  ck_assert_int_eq(rill_sched_advance_by(vs, 2), 0);
  rec_cancel(&r);
  rec_cancel(&r); /* twice: a no-op */
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_advance_by(vs, 10), 0);
  ck_assert_int_eq(c.subscribed, 0); /* never */
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(delay_subscription_hands_over_the_demand) {
  /* request(2) during the delay: the source is asked for exactly 2 */
  rill_observable_t *o = dsub(rill_range(0, 5), 5);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 2;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(rill_sched_advance_by(vs, 5), 0);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(delay_subscription_owned_values_and_infinity) {
  check_marble(rill_map(dsub(owned_marble("-1-2|"), 2), from_owned, NULL), 0,
               "---1-2|", 0);
  ck_assert_owned_balanced();
  ck_assert_int_eq(tl_owned_made, 2);
  struct counted c = {.marbles = "a|"};
  check_marble(dsub(rill_defer(counted_make, &c), INFINITY), 100, "", 0);
  ck_assert_int_eq(c.subscribed, 0);
}
END_TEST

START_TEST(delay_subscription_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_delay_subscription(NULL, vs, 1));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_delay_subscription(rill_range(0, 1), NULL, 1));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_delay_subscription(rill_range(0, 1), vs, -1));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_delay_subscription(rill_range(0, 1), vs, NAN));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(delay_shifts_each_value) {
  /* delay-001 */
  check_marble(dly(marble_hot(vs, "---a--b--|"), 2), 0, "-----a--b|", 0);
}
END_TEST

START_TEST(delay_zero_keeps_the_timeline) {
  /* delay-004, adapted: an absolute date in the past (no delay) as 0 ms */
  const char *m = "--a--a---a----a----a------------b---b---b---b--|";
  check_marble(dly(marble_hot(vs, m), 0), 0, m, 0);
}
END_TEST

START_TEST(delay_passes_error_at_once) {
  /* delay-006 */
  check_marble(dly(marble_hot(vs, "---a---b---#"), 3), 0, "------a---b#",
               RILL_EUSER);
}
END_TEST

START_TEST(delay_error_drops_queued_values) {
  /* delay-007, adapted: new Date(20) as 20 ms (every value still queued) */
  check_marble(dly(marble_hot(vs, "--a--a---a-----#"), 20), 0,
               "---------------#", RILL_EUSER);
}
END_TEST

START_TEST(delay_empty_source_completes_at_once) {
  /* delay-009 */
  check_marble(dly(marble_hot(vs, "----|"), 3), 0, "----|", 0);
  /* delay-010 */
  check_marble(dly(marble_cold(vs, "|"), 3), 0, "|", 0);
}
END_TEST

START_TEST(delay_completion_waits_for_the_last_value) {
  /* delay-011 */
  check_marble(dly(marble_cold(vs, "-a-|"), 3), 0, "----(a|)", 0);
}
END_TEST

START_TEST(delay_cancel_while_values_wait) {
  /* delay-012: unsubscribed at 16 */
  check_cancel(dly(marble_hot(vs, "---a---b---------"), 3), 20, 16,
               "------a---b");
  /* delay-013, with identity maps for mergeMap(of): b is queued at 8 */
  rill_observable_t *o =
      rill_map(dly(rill_map(marble_hot(vs, "---a---b----"), identity, NULL), 3),
               identity, NULL);
  check_cancel(o, 20, 8, "------a");
}
END_TEST

START_TEST(delay_never_source_never_completes) {
  /* delay-014 */
  check_marble(dly(marble_cold(vs, "-"), 3), 30, "", 0);
}
END_TEST

START_TEST(delay_completion_by_composition) {
  /* delay-015: concat(e1.pipe(delay(2)), of(undefined).pipe(delay(2),
   * ignoreElements())) */
  rill_observable_t *parts[2] = {
      dly(marble_hot(vs, "---a--b---|"), 2),
      rill_filter(dly(rill_just(1, rill_value_int(0)), 2), never_pass, NULL)};
  check_marble(rill_concat(parts, 2), 0, "-----a--b---|", 0);
}
END_TEST

START_TEST(delay_synchronous_burst_arrives_together) {
  check_marble(dly(rill_range(1, 3), 2), 0, "--(123|)", 0);
}
END_TEST

START_TEST(delay_uses_one_timer_for_a_burst) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  rill_observable_t *o = dly(rill_range(0, 100), 5);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(rill_sched_active(vs), 1); /* 100 queued, one timer */
  rill_sched_advance_by(vs, 4);
  ck_assert_int_eq(r.nexts, 0);
  rill_sched_advance_by(vs, 1);
  ck_assert_int_eq(r.nexts, 100);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  for (int i = 0; i < 100; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), i);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  /* over a timed source: never more than the source's timer and delay's */
  struct probe p = {vs, 0};
  o = rill_map(dly(marble_cold(vs, "-a-b-c-d-e-f-|"), 3), probe_fn, &p);
  check_marble(o, 0, "----a-b-c-d-e-(f|)", 0);
  ck_assert_int_le(p.max, 2);
}
END_TEST

START_TEST(delay_never_emits_beyond_demand) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  rill_observable_t *o = dly(rill_range(0, 10), 5);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_by(vs, 20);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rill_sched_active(vs), 0); /* nothing queued, no timer */
  /* The source was asked ahead (delay's prefetch), so 1 and 2 have been
   * due since frame 5: a request takes them at once, and no more. */
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 3);
  rill_sched_advance_by(vs, 50);
  ck_assert_int_eq(r.nexts, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), i);
  /* one at a time from on_next, to the end */
  r.request_in_next = 1;
  rec_request(&r, 1);
  ck_assert_int_eq(rill_sched_run(vs, 0), 0);
  ck_assert_int_eq(r.nexts, 10);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(delay_rerequests_what_a_filter_drops) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 2;
  rill_observable_t *o =
      rill_filter(dly(rill_range(0, 10), 5), tl_is_even, NULL);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  /* 0 passes, 1 is dropped (its demand given back), 2 passes: all due at
   * frame 5, since the source was asked ahead (delay's prefetch). */
  rill_sched_advance_by(vs, 5);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 0), 0);
  ck_assert_int_eq(rec_int(&r, 1), 2);
  rill_sched_advance_by(vs, 50);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(delay_owned_values_balanced) {
  /* complete */
  rill_observable_t *o =
      rill_map(dly(owned_marble("-1-2-(34)-|"), 3), from_owned, NULL);
  /* 1, 2, (34) at 4, 6, 8; the source completes at 10 (the group at 5 is
   * 4 frames wide), nothing is queued then, so completion is at 10: a
   * frame RxJS's grammar cannot write after a group at 8, hence <10>. */
  check_marble(o, 0, "----1-2-(34)<10>|", 0);
  ck_assert_owned_balanced();
  /* error while 3 and 4 are queued */
  o = rill_map(dly(owned_marble("-1-2-(34)#"), 5), from_owned, NULL);
  check_marble(o, 0, "------1-2#", RILL_EUSER);
  ck_assert_owned_balanced();
  /* cancel while 3 and 4 are queued */
  o = rill_map(dly(owned_marble("-1-2-(34)--|"), 3), from_owned, NULL);
  check_cancel(o, 20, 7, "----1-2");
  ck_assert_owned_balanced();
  /* a fused map after delay fails on 1 while 2 is queued */
  o = rill_map(dly(owned_marble("-12--|"), 2), tl_fail_map, NULL);
  check_marble(o, 0, "---#", RILL_ECALLBACK);
  ck_assert_owned_balanced();
  ck_assert_int_gt(tl_owned_made, 0);
}
END_TEST

/* ==== timeout ==============================================================*/

static rill_observable_t *tmo(rill_observable_t *src, double each,
                              rill_observable_t *fallback) {
  return rill_timeout(src, vs, each, each,
                      &(rill_timeout_opts_t){.with = fallback});
}

START_TEST(timeout_fails_when_the_first_value_is_late) {
  /* timeout-001, timeout-008 */
  check_marble(tmo(marble_cold(vs, "-------a--b--|"), 5, NULL), 0, "-----#",
               RILL_ETIMEDOUT);
}
END_TEST

START_TEST(timeout_passes_a_source_within_time) {
  /* timeout-003, timeout-010 */
  const char *m = "--a--b--c--d--e--|";
  check_marble(tmo(marble_hot(vs, m), 5, NULL), 0, m, 0);
  /* timeout-002, timeout-009, adapted: first: new Date(20) as each 20 */
  check_marble(tmo(marble_hot(vs, m), 20, NULL), 0, m, 0);
}
END_TEST

START_TEST(timeout_unsubscribe_early) {
  /* timeout-004, timeout-011: unsubscribed at 10 */
  check_cancel(tmo(marble_hot(vs, "--a--b--c---d--e--|"), 5, NULL), 30, 10,
               "--a--b--c");
  /* timeout-005, timeout-012, with identity maps for mergeMap(of) */
  rill_observable_t *o = rill_map(
      tmo(rill_map(marble_hot(vs, "--a--b--c---d--e--|"), identity, NULL), 5,
          NULL),
      identity, NULL);
  check_cancel(o, 30, 10, "--a--b--c");
}
END_TEST

START_TEST(timeout_fails_between_values) {
  /* timeout-006, timeout-013 */
  check_marble(tmo(marble_hot(vs, "---a---b---c------d---e---|"), 5, NULL), 0,
               "---a---b---c----#", RILL_ETIMEDOUT);
}
END_TEST

START_TEST(timeout_fails_a_silent_source) {
  /* timeout-007, -014, -015, adapted: first: 10 (or new Date(10)) on a
   * source that never emits is each 10 */
  check_marble(tmo(marble_cold(vs, "-"), 10, NULL), 0, "----------#",
               RILL_ETIMEDOUT);
}
END_TEST

START_TEST(timeout_switches_to_the_fallback) {
  /* timeout-019 */
  check_marble(
      tmo(marble_cold(vs, "-------a--b--|"), 5, marble_cold(vs, "x-y-z-|")), 0,
      "-----x-y-z-|", 0);
  /* timeout-020, adapted: first: new Date(10) on a silent source */
  check_marble(tmo(marble_cold(vs, "-"), 10, marble_cold(vs, "--x--y--z--|")),
               0, "------------x--y--z--|", 0);
}
END_TEST

START_TEST(timeout_switches_between_values) {
  /* timeout-021 */
  check_marble(
      tmo(marble_hot(vs, "---a---b------c---|"), 4, marble_cold(vs, "-x-y-|")),
      0, "---a---b----x-y-|", 0);
}
END_TEST

START_TEST(timeout_unsubscribe_during_the_fallback) {
  /* timeout-022: unsubscribed at 14 */
  check_cancel(
      tmo(marble_hot(vs, "---a---b-----c----|"), 4, marble_cold(vs, "-x---y|")),
      30, 14, "---a---b----x");
  /* timeout-023, with identity maps for mergeMap(of) */
  rill_observable_t *o = rill_map(
      tmo(rill_map(marble_hot(vs, "---a---b-----c----|"), identity, NULL), 4,
          marble_cold(vs, "-x---y|")),
      identity, NULL);
  check_cancel(o, 30, 14, "---a---b----x");
}
END_TEST

START_TEST(timeout_unsubscribe_before_the_switch) {
  /* timeout-024: unsubscribed at 5, the fallback is never subscribed */
  rill_observable_t *o = rill_map(
      tmo(rill_map(marble_cold(vs, "---a------b------"), identity, NULL), 5,
          marble_cold(vs, "i---j---|")),
      identity, NULL);
  check_cancel(o, 30, 5, "---a");
}
END_TEST

START_TEST(timeout_switches_on_a_silent_source) {
  /* timeout-025 */
  check_marble(
      tmo(marble_hot(vs, "-------------|"), 10, marble_cold(vs, "----x----|")),
      0, "--------------x----|", 0);
  /* timeout-027: the source's later error is not seen */
  check_marble(
      tmo(marble_hot(vs, "-------------#"), 10, marble_cold(vs, "----x----|")),
      0, "--------------x----|", 0);
}
END_TEST

START_TEST(timeout_fallback_that_never_completes) {
  /* timeout-026 */
  check_marble(tmo(marble_hot(vs, "--a--b--------c--d--|"), 4,
                   marble_cold(vs, "------------")),
               40, "--a--b", 0);
  /* timeout-028 */
  check_marble(
      tmo(marble_hot(vs, "-------------|"), 11, marble_cold(vs, "----x----")),
      40, "---------------x", 0);
}
END_TEST

START_TEST(timeout_source_ends_in_time_with_a_fallback) {
  /* timeout-029 */
  check_marble(tmo(marble_hot(vs, "-----|"), 10, marble_cold(vs, "----x----")),
               0, "-----|", 0);
  /* timeout-030 */
  check_marble(tmo(marble_hot(vs, "-----#"), 10, marble_cold(vs, "----x----|")),
               0, "-----#", RILL_EUSER);
  /* timeout-031 */
  check_marble(tmo(marble_hot(vs, "--a--b--c--d--e--|"), 5,
                   marble_cold(vs, "----x----|")),
               0, "--a--b--c--d--e--|", 0);
  /* timeout-033, adapted: first: new Date(10) as each 10 */
  check_marble(tmo(marble_hot(vs, "---a---#"), 10, marble_cold(vs, "--x--|")),
               0, "---a---#", RILL_EUSER);
}
END_TEST

START_TEST(timeout_error_names_the_stage) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  rill_observable_t *o = tmo(rill_never(), 3, NULL);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_active(vs), 1);
  rill_sched_advance_by(vs, 3);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_ETIMEDOUT);
  ck_assert_str_eq(r.err.stage, "timeout");
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(timeout_uses_one_timer) {
  /* a value every ms for 30 ms under a 5 ms timeout: only the source's
   * timer and timeout's are ever armed */
  struct probe p = {vs, 0};
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  rill_observable_t *o =
      rill_map(tmo(rill_interval(vs, 1, OVF(RILL_OVERFLOW_DROP)), 5, NULL),
               probe_fn, &p);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  for (int i = 0; i < 30; i++) {
    ck_assert_int_eq(rill_sched_active(vs), 2);
    rill_sched_advance_by(vs, 1);
  }
  ck_assert_int_eq(r.nexts, 30);
  ck_assert_int_le(p.max, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(timeout_hands_outstanding_demand_to_the_fallback) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 3;
  rill_observable_t *o =
      tmo(marble_cold(vs, "7------"), 3, rill_range(10, 100));
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  rill_sched_advance_by(vs, 3); /* switch: 2 still requested */
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(rec_int(&r, 0), 7);
  ck_assert_int_eq(rec_int(&r, 1), 10);
  ck_assert_int_eq(rec_int(&r, 2), 11);
  ck_assert_int_eq(rill_sched_active(vs), 0); /* source cancelled */
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(rec_int(&r, 4), 13);
  r.request_in_next = 1;
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 101);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(timeout_switch_with_no_demand_left) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  rill_observable_t *o = tmo(marble_cold(vs, "7------"), 3, rill_range(10, 3));
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_by(vs, 10);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_NONE); /* range waits for demand */
  rec_request(&r, 5);
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(timeout_owned_values_balanced) {
  /* complete, no timeout */
  rill_observable_t *o = rill_map(
      tmo(owned_marble("-1-2-3|"), 5, owned_marble("5|")), from_owned, NULL);
  check_marble(o, 0, "-1-2-3|", 0);
  ck_assert_owned_balanced();
  /* timeout error */
  o = rill_map(tmo(owned_marble("-1-2------3|"), 3, NULL), from_owned, NULL);
  check_marble(o, 0, "-1-2--#", RILL_ETIMEDOUT);
  ck_assert_owned_balanced();
  /* switch to an owned fallback */
  o = rill_map(tmo(owned_marble("-1-2------3|"), 3, owned_marble("-5(67)|")),
               from_owned, NULL);
  check_marble(o, 0, "-1-2---5(67)|", 0);
  ck_assert_owned_balanced();
  /* cancel in the fallback */
  o = rill_map(tmo(owned_marble("-1-2------3|"), 3, owned_marble("-5--6|")),
               from_owned, NULL);
  check_cancel(o, 30, 9, "-1-2---5");
  ck_assert_owned_balanced();
  /* source error */
  o = rill_map(tmo(owned_marble("-1-2#"), 3, owned_marble("5|")), from_owned,
               NULL);
  check_marble(o, 0, "-1-2#", RILL_EUSER);
  ck_assert_owned_balanced();
  ck_assert_int_gt(tl_owned_made, 0);
}
END_TEST

/* ==== buffer_time ==========================================================*/

/* buffer_time's options with an overflow policy. */
#define BT_OVF(policy) (&(rill_buffer_time_opts_t){.overflow = (policy)})

static rill_observable_t *bt(rill_observable_t *src, double span) {
  return rill_buffer_time(src, vs, span, BT_OVF(RILL_OVERFLOW_LATEST));
}

START_TEST(buffer_time_emits_every_span) {
  /* bufferTime-001 */
  check_arrays(bt(marble_hot(vs, "---a---b---c---d---e---f---g-----|"), 10), 0,
               -1, "10:[a,b] 20:[c,d,e] 30:[f,g] 33:[] 33:|");
  /* bufferTime-002 */
  check_arrays(
      bt(marble_hot(vs, "---------a---------b---------c---------d---------e"
                        "---------g--------|"),
         32),
      0, -1, "32:[a,b,c] 64:[d,e,g] 68:[] 68:|");
}
END_TEST

START_TEST(buffer_time_empty_source) {
  /* bufferTime-011 */
  check_arrays(bt(marble_cold(vs, "|"), 10), 0, -1, "0:[] 0:|");
}
END_TEST

START_TEST(buffer_time_never_source_emits_empty_arrays) {
  /* bufferTime-012: unsubscribed at 44 */
  check_arrays(bt(marble_cold(vs, "-"), 10), 60, 44, "10:[] 20:[] 30:[] 40:[]");
}
END_TEST

START_TEST(buffer_time_error_drops_the_current_array) {
  /* bufferTime-013 */
  check_arrays(bt(rill_error(RILL_EUSER, "haha"), 10), 0, -1, "0:#");
  /* bufferTime-014 */
  check_arrays(bt(marble_hot(vs, "---a---b---c---#"), 10), 0, -1,
               "10:[a,b] 15:#");
}
END_TEST

START_TEST(buffer_time_then_take) {
  /* bufferTime-016 */
  check_arrays(
      rill_take(bt(marble_hot(vs, "---a---b---c---d---e---f---g-----|"), 10),
                2),
      0, -1, "10:[a,b] 20:[c,d,e] 20:|");
  /* bufferTime-017: maxBufferSize 10 is never reached by 5 ms spans */
  check_arrays(
      rill_take(bt(rill_interval(vs, 1, OVF(RILL_OVERFLOW_DROP)), 5), 5), 0, -1,
      "5:[0,1,2,3] 10:[4,5,6,7,8] 15:[9,10,11,12,13] 20:[14,15,16,17,18] "
      "25:[19,20,21,22,23] 25:|");
}
END_TEST

START_TEST(buffer_time_latest_holds_the_newest_array) {
  struct arec r;
  rill_observable_t *o = rill_buffer_time(owned_marble("-1--2--3------"), vs, 3,
                                          BT_OVF(RILL_OVERFLOW_LATEST));
  arec_start(&r, o, 0);
  rill_sched_advance_to(vs, 10); /* [1] at 3, [2] at 6, [3] at 9: newest */
  ck_assert_str_eq(r.text, "");
  ck_assert_int_eq(rill_sched_active(vs), 1); /* the source has none left */
  arec_request(&r, 1);
  ck_assert_str_eq(r.text, "10:[3]");
  arec_request(&r, 1);
  rill_sched_advance_to(vs, 13); /* [] at 12 */
  ck_assert_str_eq(r.text, "10:[3] 12:[]");
  rill_sched_advance_to(vs, 16); /* [] at 15, held */
  arec_stop(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_time_latest_completion_waits_for_demand) {
  struct arec r;
  rill_observable_t *o = rill_buffer_time(owned_marble("-1-2--3|"), vs, 4,
                                          BT_OVF(RILL_OVERFLOW_LATEST));
  arec_start(&r, o, 0);
  ck_assert_int_eq(rill_sched_run(vs, 0), 0);
  /* [1,2] at 4 is held, then replaced by the final [3] at 7 */
  ck_assert_int_eq(r.terminals, 0); /* completion waits for it */
  rill_sched_advance_to(vs, 10);
  arec_request(&r, 1);
  ck_assert_str_eq(r.text, "10:[3] 10:|");
  arec_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_time_drop_and_error_policies) {
  struct arec r;
  rill_observable_t *o = rill_buffer_time(owned_marble("-1--2--3--|"), vs, 3,
                                          BT_OVF(RILL_OVERFLOW_DROP));
  arec_start(&r, o, 1);
  ck_assert_int_eq(rill_sched_run(vs, 0), 0);
  /* [1] at 3 takes the one request, [2], [3] and the final [] are lost */
  ck_assert_str_eq(r.text, "3:[1] 10:|");
  arec_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  o = rill_buffer_time(owned_marble("-1--2--3--|"), vs, 3,
                       BT_OVF(RILL_OVERFLOW_ERROR));
  arec_start(&r, o, 1);
  ck_assert_int_eq(rill_sched_run(vs, 0), 0);
  ck_assert_str_eq(r.text, "3:[1] 6:#");
  ck_assert_int_eq(r.error_code, RILL_EOVERFLOW);
  arec_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_time_owned_values_balanced) {
  /* complete */
  check_arrays(bt(owned_marble("-1-2-(34)-|"), 4), 0, -1,
               "4:[1,2] 8:[3,4] 10:[] 10:|");
  ck_assert_owned_balanced();
  /* error with values in the current array */
  check_arrays(bt(owned_marble("-1-2-5-#"), 4), 0, -1, "4:[1,2] 7:#");
  ck_assert_owned_balanced();
  /* cancel with values in the current array */
  check_arrays(bt(owned_marble("-1-2-(34)---|"), 4), 20, 7, "4:[1,2]");
  ck_assert_owned_balanced();
  ck_assert_int_gt(tl_owned_made, 0);
}
END_TEST

START_TEST(buffer_time_uses_one_timer) {
  struct arec r;
  rill_observable_t *o = bt(rill_range(0, 5), 5);
  arec_start(&r, o, RILL_UNBOUNDED);
  ck_assert_str_eq(r.text, "0:[0,1,2,3,4] 0:|");
  ck_assert_int_eq(rill_sched_active(vs), 0);
  arec_stop(&r);
  rill_observable_free(o);
  o = bt(rill_never(), 5);
  arec_start(&r, o, RILL_UNBOUNDED);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(rill_sched_active(vs), 1);
    rill_sched_advance_by(vs, 1);
  }
  ck_assert_int_eq(r.nexts, 4);
  arec_stop(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rill_observable_free(o);
}
END_TEST

/* ==== arguments and allocation failure =====================================*/

/* A source whose release is visible: it holds an owned value. */
static rill_observable_t *owned_src(void) {
  return rill_just(1, tl_owned(1));
}

START_TEST(bad_arguments_give_einval_and_release_sources) {
  /* delay-002: RxJS treats a negative delay as 0; rill refuses it */
  double bad[] = {-1, NAN, -INFINITY};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    ck_assert_ptr_null(rill_delay(owned_src(), vs, bad[i]));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(
        rill_timeout(owned_src(), vs, bad[i], bad[i],
                     &(rill_timeout_opts_t){.with = owned_src()}));
    ck_assert_int_eq(errno, EINVAL);
    errno = 0;
    ck_assert_ptr_null(rill_buffer_time(owned_src(), vs, bad[i],
                                        BT_OVF(RILL_OVERFLOW_LATEST)));
    ck_assert_int_eq(errno, EINVAL);
  }
  errno = 0;
  ck_assert_ptr_null(
      rill_buffer_time(owned_src(), vs, 0, BT_OVF(RILL_OVERFLOW_DROP)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(
      rill_buffer_time(owned_src(), vs, 5, BT_OVF((rill_overflow_t)7)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_delay(owned_src(), NULL, 1));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_timeout(owned_src(), NULL, 1, 1,
                                  &(rill_timeout_opts_t){.with = owned_src()}));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(
      rill_buffer_time(owned_src(), NULL, 1, BT_OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_int_eq(errno, EINVAL);
  /* a NULL source: EINVAL, and the fallback is released */
  errno = 0;
  ck_assert_ptr_null(rill_timeout(NULL, vs, 1, 1,
                                  &(rill_timeout_opts_t){.with = owned_src()}));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_delay(NULL, vs, 1));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(
      rill_buffer_time(NULL, vs, 1, BT_OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_gt(tl_owned_made, 0);
  ck_assert_owned_balanced();
  /* good arguments: 0 ms is fine for delay and timeout */
  rill_observable_t *o = rill_delay(owned_src(), vs, 0);
  ck_assert_ptr_nonnull(o);
  rill_observable_free(o);
  o = rill_timeout(owned_src(), vs, 0, 0,
                   &(rill_timeout_opts_t){.with = owned_src()});
  ck_assert_ptr_nonnull(o);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  o = rill_delay(rill_never(), vs, 1);
  ck_assert_str_eq(rill_observable_name(o), "delay");
  rill_observable_free(o);
}
END_TEST

static rill_observable_t *enomem_pipeline(int which, rill_sched_t *s) {
  switch (which) {
  case 0:
    return rill_delay(rill_range(0, 20), s, 1);
  case 1: {
    /* a NULL fallback means "fail on timeout": do not let a failed
     * constructor turn into one */
    rill_observable_t *fallback = rill_range(0, 20);
    if (fallback == NULL)
      return NULL;
    return rill_timeout(rill_never(), s, 1, 1,
                        &(rill_timeout_opts_t){.with = fallback});
  }
  default:
    return rill_buffer_time(rill_range(0, 20), s, 1,
                            BT_OVF(RILL_OVERFLOW_LATEST));
  }
}

START_TEST(enomem_at_every_allocation_is_clean) {
  static const int64_t want_nexts[3] = {20, 20, 1};
  for (int which = 0; which < 3; which++) {
    for (long k = 0;; k++) {
      tl_alloc_install();
      rill_sched_t *s = rill_sched_virtual_new();
      ck_assert_ptr_nonnull(s);
      tl_alloc_index = 0;
      tl_fail_at = k;
      errno = 0;
      rill_observable_t *o = enomem_pipeline(which, s);
      rec_t r;
      rec_init(&r);
      r.request_on_subscribe = RILL_UNBOUNDED;
      int rc = o ? rec_subscribe(&r, o) : RILL_ENOMEM;
      if (o == NULL)
        ck_assert_int_eq(errno, ENOMEM);
      if (rc == 0)
        rill_sched_run(s, 0);
      bool reached = tl_alloc_index > k;
      tl_fail_at = -1;
      if (rc != 0)
        ck_assert_int_eq(rc, RILL_ENOMEM);
      /* Issue 7 section 7: a hang (no terminal once no timer is left) or a
       * quiet completion with missing values is a failure, not a pass. */
      bool hang = o != NULL && rc == 0 && r.terminal == REC_NONE;
      if (hang)
        rec_cancel(&r); /* clean up, then fail below */
      ck_assert_msg(!hang, "pipeline %d: site %ld: no terminal (a hang)", which,
                    k);
      if (rc == 0 && r.terminal == REC_ERROR)
        ck_assert_msg(r.err.code == RILL_ENOMEM,
                      "pipeline %d: site %ld: %s, want RILL_ENOMEM", which, k,
                      rill_err_name(r.err.code));
      if (rc == 0 && r.terminal == REC_COMPLETE) {
        /* complete only if the failure was recoverable: every value */
        ck_assert_msg(r.nexts == want_nexts[which],
                      "pipeline %d: site %ld: completed with %lld values, "
                      "want %lld or RILL_ENOMEM",
                      which, k, (long long)r.nexts,
                      (long long)want_nexts[which]);
        if (which < 2)
          for (size_t i = 0; i < r.values.len; i++)
            ck_assert_int_eq(rec_int(&r, i), (int64_t)i);
        else
          ck_assert_uint_eq(rill_array_len(r.values.items[0].as.array), 20);
      }
      if (!reached) {
        ck_assert_int_eq(r.terminal, REC_COMPLETE);
        ck_assert_int_eq(r.nexts, want_nexts[which]);
      }
      ck_assert_rec_ok(&r);
      rec_clear(&r);
      rill_observable_free(o);
      ck_assert_int_eq(rill_sched_active(s), 0);
      ck_assert_int_eq(rill_sched_free(s), 0);
      long live = tl_live;
      tl_alloc_uninstall();
      ck_assert_msg(live == 0, "pipeline %d: %ld blocks leaked at site %ld",
                    which, live, k);
      if (!reached)
        break;
    }
  }
}
END_TEST

Suite *shift_suite(void) {
  Suite *s = suite_create("shift");
  TCase *tc = tcase_create("delay");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, delay_shifts_each_value);
  tcase_add_test(tc, delay_zero_keeps_the_timeline);
  tcase_add_test(tc, delay_passes_error_at_once);
  tcase_add_test(tc, delay_error_drops_queued_values);
  tcase_add_test(tc, delay_empty_source_completes_at_once);
  tcase_add_test(tc, delay_completion_waits_for_the_last_value);
  tcase_add_test(tc, delay_cancel_while_values_wait);
  tcase_add_test(tc, delay_never_source_never_completes);
  tcase_add_test(tc, delay_subscription_shifts_a_cold_source);
  tcase_add_test(tc, delay_subscription_subscribes_once_at_the_instant);
  tcase_add_test(tc, delay_subscription_cancel_during_the_delay);
  tcase_add_test(tc, delay_subscription_hands_over_the_demand);
  tcase_add_test(tc, delay_subscription_owned_values_and_infinity);
  tcase_add_test(tc, delay_subscription_bad_arguments);
  tcase_add_test(tc, delay_completion_by_composition);
  tcase_add_test(tc, delay_synchronous_burst_arrives_together);
  tcase_add_test(tc, delay_uses_one_timer_for_a_burst);
  tcase_add_test(tc, delay_never_emits_beyond_demand);
  tcase_add_test(tc, delay_rerequests_what_a_filter_drops);
  tcase_add_test(tc, delay_owned_values_balanced);
  suite_add_tcase(s, tc);
  tc = tcase_create("timeout");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, timeout_fails_when_the_first_value_is_late);
  tcase_add_test(tc, timeout_passes_a_source_within_time);
  tcase_add_test(tc, timeout_unsubscribe_early);
  tcase_add_test(tc, timeout_fails_between_values);
  tcase_add_test(tc, timeout_fails_a_silent_source);
  tcase_add_test(tc, timeout_switches_to_the_fallback);
  tcase_add_test(tc, timeout_switches_between_values);
  tcase_add_test(tc, timeout_unsubscribe_during_the_fallback);
  tcase_add_test(tc, timeout_unsubscribe_before_the_switch);
  tcase_add_test(tc, timeout_switches_on_a_silent_source);
  tcase_add_test(tc, timeout_fallback_that_never_completes);
  tcase_add_test(tc, timeout_source_ends_in_time_with_a_fallback);
  tcase_add_test(tc, timeout_error_names_the_stage);
  tcase_add_test(tc, timeout_uses_one_timer);
  tcase_add_test(tc, timeout_hands_outstanding_demand_to_the_fallback);
  tcase_add_test(tc, timeout_switch_with_no_demand_left);
  tcase_add_test(tc, timeout_owned_values_balanced);
  suite_add_tcase(s, tc);
  tc = tcase_create("buffer_time");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, buffer_time_emits_every_span);
  tcase_add_test(tc, buffer_time_empty_source);
  tcase_add_test(tc, buffer_time_never_source_emits_empty_arrays);
  tcase_add_test(tc, buffer_time_error_drops_the_current_array);
  tcase_add_test(tc, buffer_time_then_take);
  tcase_add_test(tc, buffer_time_latest_holds_the_newest_array);
  tcase_add_test(tc, buffer_time_latest_completion_waits_for_demand);
  tcase_add_test(tc, buffer_time_drop_and_error_policies);
  tcase_add_test(tc, buffer_time_owned_values_balanced);
  tcase_add_test(tc, buffer_time_uses_one_timer);
  suite_add_tcase(s, tc);
  tc = tcase_create("arguments");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bad_arguments_give_einval_and_release_sources);
  tcase_add_test(tc, enomem_at_every_allocation_is_clean);
  suite_add_tcase(s, tc);
  return s;
}
