/* SPDX-License-Identifier: MIT */
/* rill tests: time sources and operators on the virtual scheduler, written
 * as marble timelines (tests/marble.h).  Expected timelines come from
 * RxJS 7.8.2's own cases (../shared/conformance/rxjs-marbles), cited by id. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static rill_sched_t *vs;

static int to_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = tl_owned(in.as.i);
  return 0;
}

static void setup(void) {
  vs = rill_sched_virtual_new();
}
static void teardown(void) {
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}

/* ---- the marble helper itself
 * -------------------------------------------------*/

START_TEST(marble_cold_replays_its_timeline) {
  rill_observable_t *o = marble_cold(vs, "-a--b-(cd)-|");
  ck_assert_marble(vs, o, 0, "-a--b-(cd)-|");
  rill_observable_free(o);
  o = marble_cold(vs, "--1--#");
  ck_assert_marble(vs, o, 0, "--1--#");
  rill_observable_free(o);
  o = marble_cold(vs, "---");
  ck_assert_marble(vs, o, 10, "");
  rill_observable_free(o);
}
END_TEST

START_TEST(marble_compares_frames_not_text) {
  marble_event_t ev[8];
  /* RxJS's frame rules: a group sits at the frame of '(' and is as wide as
   * its text; '^' is frame 0 */
  ck_assert_int_eq(marble_parse("-a-(bc)-|", ev, 8), 4);
  ck_assert(ev[1].at == 3 && ev[2].at == 3 && ev[3].at == 8);
  ck_assert_int_eq(marble_parse("--^-a|", ev, 8), 2);
  ck_assert(ev[0].at == 2 && ev[1].at == 3);
  ck_assert_int_eq(marble_parse("-{42}<7>|", ev, 8), 2);
  ck_assert(ev[0].value == 42 && ev[0].at == 1 && ev[1].at == 7);
  ck_assert_int_eq(marble_parse("(a", ev, 8), -1);
  /* completion at 10, 11 and 12 after a group at 8 all used to render
   * "----1-2-(34)|"; they are three timelines */
  ck_assert(marble_equal("----1-2-(34)|", "----1-2-(34)<12>|"));
  ck_assert(!marble_equal("----1-2-(34)|", "----1-2-(34)<10>|"));
  ck_assert(!marble_equal("----1-2-(34)<11>|", "----1-2-(34)<10>|"));
  ck_assert(marble_equal("-a--|", "-a-- | --"));
  /* a run is compared by its events, and renders so that it parses back */
  rill_observable_t *o =
      rill_delay(marble_cold(vs, "-1-2-(34)-|"), vs, 3); /* | at 10 */
  marble_result_t r;
  char msg[1024];
  marble_run(vs, o, 0, &r);
  ck_assert_str_eq(r.text, "----1-2-(34)<10>|");
  ck_assert(!marble_match(&r, "----1-2-(34)|", msg, sizeof(msg)));
  ck_assert_msg(strstr(msg, "event 4: want '|' at 12, got '|' at 10") != NULL,
                "%s", msg);
  ck_assert(marble_match(&r, "----1-2-(34)<10>|", msg, sizeof(msg)));
  ck_assert(marble_match(&r, r.text, msg, sizeof(msg)));
  rill_observable_free(o);
}
END_TEST

/* ---- timer and interval
 * ---------------------------------------------------------*/

START_TEST(timer_emits_zero_after_due_then_completes) {
  rill_observable_t *o = rill_timer(vs, 3);
  ck_assert_marble(vs, o, 0, "---(0|)");
  rill_observable_free(o);
}
END_TEST

START_TEST(periodic_timer_ticks_after_its_due_then_every_period) {
  /* RxJS timer(3, 2) taken 4 (cf. timer-004) */
  rill_observable_t *o = rill_take(rill_timer_periodic(vs, 3, 2, NULL), 4);
  ck_assert_marble(vs, o, 0, "---0-1-2-(3|)");
  rill_observable_free(o);
  /* due 0: the first tick at the subscription's instant */
  o = rill_take(rill_timer_periodic(vs, 0, 5, NULL), 2);
  ck_assert_marble(vs, o, 0, "0----(1|)");
  rill_observable_free(o);
  o = rill_timer_periodic(vs, 1, 1, NULL);
  ck_assert_str_eq(rill_observable_name(o), "timer");
  rill_observable_free(o);
  errno = 0;
  ck_assert_ptr_null(rill_timer_periodic(vs, -1, 1, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_timer_periodic(vs, 1, -1, NULL));
  ck_assert_ptr_null(rill_timer_periodic(NULL, 1, 1, NULL));
}
END_TEST

START_TEST(interval_ticks_every_period_until_cancelled) {
  rill_observable_t *o = rill_take(rill_interval(vs, 2, OVF(RILL_OVERFLOW_DROP)), 4);
  ck_assert_marble(vs, o, 0, "--0-1-2-(3|)");
  rill_observable_free(o);
  o = rill_interval(vs, 3, OVF(RILL_OVERFLOW_DROP));
  marble_result_t r;
  marble_run_cancel(vs, o, 20, 7, &r);
  ck_assert_marble_result(&r, "---0--1");
  ck_assert_int_eq(r.active_after, 0); /* cancel stopped the timer */
  rill_observable_free(o);
}
END_TEST

START_TEST(interval_zero_ticks_at_the_same_instant_in_order) {
  /* interval-002: interval(0).pipe(take(7)) gives (0123456|) */
  rill_observable_t *o = rill_take(rill_interval(vs, 0, OVF(RILL_OVERFLOW_DROP)), 7);
  ck_assert_marble(vs, o, 0, "(0123456|)");
  rill_observable_free(o);
  ck_assert_ptr_null(rill_interval(vs, -1, OVF(RILL_OVERFLOW_DROP)));
}
END_TEST

/* Issue 7, defect 9: interval's documented default (DROP) could not be
 * asked for, because LATEST was 0.  NULL, a zeroed struct and DEFAULT now
 * mean DROP; LATEST is its own choice. */
static int64_t interval_after_gap(const rill_time_opts_t *opts) {
  rill_observable_t *o = rill_interval(vs, 2, opts);
  rec_t r;
  rec_init(&r);
  r.store = true;
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_by(vs, 7); /* ticks 0 (delivered), 1, 2 (no demand) */
  rec_request(&r, 1);           /* LATEST: 2 now; DROP: 3 one ms later */
  rill_sched_advance_by(vs, 1);
  ck_assert_int_eq(r.nexts, 2);
  int64_t second = rec_int(&r, 1);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(o);
  return second;
}

START_TEST(interval_options_default_to_drop) {
  ck_assert_int_eq(interval_after_gap(NULL), 3);
  ck_assert_int_eq(interval_after_gap(&(rill_time_opts_t){0}), 3);
  ck_assert_int_eq(interval_after_gap(OVF(RILL_OVERFLOW_DEFAULT)), 3);
  ck_assert_int_eq(interval_after_gap(OVF(RILL_OVERFLOW_DROP)), 3);
  ck_assert_int_eq(interval_after_gap(OVF(RILL_OVERFLOW_LATEST)), 2);
  errno = 0;
  ck_assert_ptr_null(rill_interval(vs, 2, OVF((rill_overflow_t)9)));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Issue 8 §3 (found by the fuzzer's family of cases): a subscriber whose
 * on_next makes the source push and complete got a second on_next nested
 * inside the first from debounce and buffer_time, beyond its request(1),
 * and the demand counter went to -1, swallowing the next request. */
struct nester {
  rill_emitter_t *e;
  rill_subscription_t *s;
  int depth, max_depth, nexts, completes;
  int pushes; /* pushes left to make from on_next */
};
static void nester_start(void *ctx, rill_emitter_t *e) {
  ((struct nester *)ctx)->e = e;
}
static void nester_subscribe(void *ctx, rill_subscription_t *s) {
  ((struct nester *)ctx)->s = s;
  rill_subscription_request(s, 1);
}
static void nester_next(void *ctx, rill_value_t v) {
  struct nester *n = ctx;
  rill_value_release(v);
  if (++n->depth > n->max_depth)
    n->max_depth = n->depth;
  n->nexts++;
  if (n->pushes > 0) {
    n->pushes--;
    rill_emitter_next(n->e, rill_value_int(99));
    rill_emitter_complete(n->e);
  }
  n->depth--;
}
static void nester_complete(void *ctx) {
  ((struct nester *)ctx)->completes++;
}

static void push_from_on_next_is_not_nested(int which) {
  struct nester n = {.pushes = 1};
  rill_observable_t *src = rill_create(nester_start, NULL, &n);
  rill_observable_t *o = which == 0 ? rill_debounce(src, vs, 5, NULL)
                                    : rill_buffer_time(src, vs, 5, NULL);
  rill_subscriber_t sub = {.on_subscribe = nester_subscribe,
                           .on_next = nester_next,
                           .on_complete = nester_complete};
  rill_subscription_t *h;
  ck_assert_int_eq(rill_observable_subscribe(o, &sub, &n, &h), 0);
  rill_emitter_next(n.e, rill_value_int(1));
  rill_sched_advance_by(vs, 5); /* emits; its on_next pushes and completes */
  ck_assert_int_eq(n.nexts, 1); /* only what was requested */
  ck_assert_int_eq(n.max_depth, 1);
  ck_assert_int_eq(n.completes, 0); /* the held value goes first */
  rill_subscription_request(h, 1); /* not swallowed */
  ck_assert_int_eq(n.nexts, 2);
  ck_assert_int_eq(n.completes, 1);
  ck_assert_int_eq(n.max_depth, 1);
  rill_subscription_free(h);
  rill_observable_free(o);
}

START_TEST(debounce_push_from_on_next_is_not_nested) {
  push_from_on_next_is_not_nested(0);
}
END_TEST

START_TEST(buffer_time_push_from_on_next_is_not_nested) {
  push_from_on_next_is_not_nested(1);
}
END_TEST

START_TEST(delay_until_holds_values_to_an_absolute_time) {
  /* delay-003: delay(new Date(20)) */
  rill_observable_t *o = rill_delay_until(
      marble_cold(vs, "--a--a---a----a----a------------b---b---b---b--|"), vs,
      20);
  ck_assert_marble(vs, o, 0,
                   "--------------------(aaaaa)-----b---b---b---b--|");
  rill_observable_free(o);
  /* delay-004: a time in the past does not delay at all */
  o = rill_delay_until(marble_cold(vs, "--a--a--|"), vs, -10000);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "--a--a--|");
  rill_observable_free(o);
}
END_TEST

/* ---- debounce
 * ---------------------------------------------------------------------*/

static rill_observable_t *deb(const char *src, double due) {
  return rill_debounce(marble_cold(vs, src), vs, due, OVF(RILL_OVERFLOW_LATEST));
}

START_TEST(debounce_emits_after_silence) {
  /* debounceTime-001 */
  rill_observable_t *o = deb("-a--bc--d---|", 2);
  ck_assert_marble(vs, o, 0, "---a---c--d-|");
  rill_observable_free(o);
}
END_TEST

START_TEST(debounce_flushes_pending_value_at_completion) {
  /* debounceTime: "should emit last value when source completes" */
  rill_observable_t *o = deb("-a-b-|", 3);
  ck_assert_marble(vs, o, 0, "-----(b|)");
  rill_observable_free(o);
}
END_TEST

START_TEST(debounce_drops_pending_value_on_error) {
  rill_observable_t *o = deb("-a-b-#", 3);
  ck_assert_marble(vs, o, 0, "-----#");
  rill_observable_free(o);
}
END_TEST

START_TEST(debounce_cancel_while_pending_stops_the_timer) {
  rill_observable_t *o = deb("-a-b-----|", 5);
  marble_result_t r;
  marble_run_cancel(vs, o, 20, 4, &r);
  ck_assert_marble_result(&r, "");
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
}
END_TEST

/* ---- demand: nothing is emitted without a request (rule 1.1)
 * -------------------*/

static rec_t *raw_subscribe(rill_observable_t *o) {
  rec_t *r = calloc(1, sizeof(*r));
  rec_init(r);
  ck_assert_int_eq(rec_subscribe(r, o), 0);
  return r;
}

static void raw_done(rec_t *r, rill_observable_t *o) {
  rec_cancel(r);
  ck_assert_rec_ok(r);
  rec_clear(r);
  free(r);
  rill_observable_free(o);
}

START_TEST(timer_holds_its_value_until_requested) {
  rill_observable_t *o = rill_timer(vs, 5);
  rec_t *r = raw_subscribe(o);
  rill_sched_advance_to(vs, 50);
  ck_assert_int_eq(r->nexts, 0);
  ck_assert_int_eq(r->terminal, REC_NONE);
  rec_request(r, 1);
  ck_assert_int_eq(r->nexts, 1);
  ck_assert_int_eq(r->terminal, REC_COMPLETE);
  raw_done(r, o);
}
END_TEST

START_TEST(interval_drop_policy_skips_unrequested_ticks) {
  rill_observable_t *o = rill_interval(vs, 10, OVF(RILL_OVERFLOW_DROP));
  rec_t *r = raw_subscribe(o);
  rill_sched_advance_to(vs, 35); /* ticks 0,1,2 dropped */
  ck_assert_int_eq(r->nexts, 0);
  rec_request(r, 2);
  rill_sched_advance_to(vs, 60); /* ticks 3,4 delivered, 5 dropped */
  ck_assert_int_eq(r->nexts, 2);
  ck_assert_int_eq(rec_int(r, 0), 3);
  ck_assert_int_eq(rec_int(r, 1), 4);
  raw_done(r, o);
}
END_TEST

START_TEST(interval_latest_policy_keeps_the_newest_tick) {
  rill_observable_t *o = rill_interval(vs, 10, OVF(RILL_OVERFLOW_LATEST));
  rec_t *r = raw_subscribe(o);
  rill_sched_advance_to(vs, 35);
  rec_request(r, 1);
  ck_assert_int_eq(r->nexts, 1);
  ck_assert_int_eq(rec_int(r, 0), 2);
  raw_done(r, o);
}
END_TEST

START_TEST(interval_error_policy_fails_on_an_unrequested_tick) {
  rill_observable_t *o = rill_interval(vs, 10, OVF(RILL_OVERFLOW_ERROR));
  rec_t *r = raw_subscribe(o);
  rec_request(r, 1);
  rill_sched_advance_to(vs, 25);
  ck_assert_int_eq(r->nexts, 1);
  ck_assert_int_eq(r->terminal, REC_ERROR);
  ck_assert_int_eq(r->err.code, RILL_EOVERFLOW);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  raw_done(r, o);
}
END_TEST

START_TEST(debounce_holds_a_due_value_until_requested) {
  rill_observable_t *o = rill_debounce(marble_cold(vs, "-a-b------c---|"), vs,
                                       2, OVF(RILL_OVERFLOW_LATEST));
  rec_t *r = raw_subscribe(o);
  rill_sched_advance_to(vs, 8); /* b was due at 5 */
  ck_assert_int_eq(r->nexts, 0);
  rec_request(r, 1);
  ck_assert_int_eq(r->nexts, 1);
  ck_assert_int_eq(rec_int(r, 0), 'b');
  rec_request(r, 5);
  rill_sched_run(vs, 0);
  ck_assert_int_eq(r->nexts, 2);
  ck_assert_int_eq(rec_int(r, 1), 'c');
  ck_assert_int_eq(r->terminal, REC_COMPLETE);
  raw_done(r, o);
}
END_TEST

START_TEST(debounce_releases_owned_values_on_every_path) {
  static const char *tl[] = {"-a-b-c-|", "-a-b-#", "-a-bcd--e--f-|"};
  for (int path = 0; path < 4; path++) {
    tl_owned_reset();
    rill_observable_t *o =
        rill_debounce(rill_map(marble_cold(vs, tl[path % 3]), to_owned, NULL),
                      vs, 2, OVF(RILL_OVERFLOW_LATEST));
    marble_result_t res;
    if (path == 3)
      marble_run_cancel(vs, o, 30, 5, &res);
    else
      marble_run(vs, o, 0, &res);
    rill_observable_free(o);
    ck_assert_owned_balanced();
  }
}
END_TEST

Suite *time_suite(void) {
  Suite *s = suite_create("time");
  TCase *tc = tcase_create("marble");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, marble_cold_replays_its_timeline);
  tcase_add_test(tc, marble_compares_frames_not_text);
  suite_add_tcase(s, tc);
  tc = tcase_create("timer_interval");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, timer_emits_zero_after_due_then_completes);
  tcase_add_test(tc, interval_ticks_every_period_until_cancelled);
  tcase_add_test(tc, periodic_timer_ticks_after_its_due_then_every_period);
  tcase_add_test(tc, interval_zero_ticks_at_the_same_instant_in_order);
  tcase_add_test(tc, interval_options_default_to_drop);
  tcase_add_test(tc, debounce_push_from_on_next_is_not_nested);
  tcase_add_test(tc, buffer_time_push_from_on_next_is_not_nested);
  tcase_add_test(tc, delay_until_holds_values_to_an_absolute_time);
  suite_add_tcase(s, tc);
  tc = tcase_create("debounce");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, debounce_emits_after_silence);
  tcase_add_test(tc, debounce_flushes_pending_value_at_completion);
  tcase_add_test(tc, debounce_drops_pending_value_on_error);
  tcase_add_test(tc, debounce_cancel_while_pending_stops_the_timer);
  tcase_add_test(tc, debounce_releases_owned_values_on_every_path);
  suite_add_tcase(s, tc);
  tc = tcase_create("demand");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, timer_holds_its_value_until_requested);
  tcase_add_test(tc, interval_drop_policy_skips_unrequested_ticks);
  tcase_add_test(tc, interval_latest_policy_keeps_the_newest_tick);
  tcase_add_test(tc, interval_error_policy_fails_on_an_unrequested_tick);
  tcase_add_test(tc, debounce_holds_a_due_value_until_requested);
  suite_add_tcase(s, tc);
  return s;
}
