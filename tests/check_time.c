/* rill tests: time sources and operators on the virtual scheduler, written
 * as marble timelines (tests/marble.h).  Expected timelines come from
 * RxJS 7.8.2's own cases (../shared/conformance/rxjs-marbles), cited by id. */
#include <stdlib.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static rill_sched_t *vs;

static void setup(void) { vs = rill_sched_virtual_new(); }
static void teardown(void) {
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}

/* ---- the marble helper itself -------------------------------------------------*/

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

/* ---- timer and interval ---------------------------------------------------------*/

START_TEST(timer_emits_zero_after_due_then_completes) {
  rill_observable_t *o = rill_timer(vs, 3);
  ck_assert_marble(vs, o, 0, "---(0|)");
  rill_observable_free(o);
}
END_TEST

START_TEST(interval_ticks_every_period_until_cancelled) {
  rill_observable_t *o = rill_take(rill_interval(vs, 2, RILL_OVERFLOW_DROP), 4);
  ck_assert_marble(vs, o, 0, "--0-1-2-(3|)");
  rill_observable_free(o);
  o = rill_interval(vs, 3, RILL_OVERFLOW_DROP);
  marble_result_t r;
  marble_run_cancel(vs, o, 20, 7, &r);
  ck_assert_str_eq(r.text, "---0--1");
  ck_assert_int_eq(r.active_after, 0); /* cancel stopped the timer */
  rill_observable_free(o);
}
END_TEST

/* ---- debounce ---------------------------------------------------------------------*/

static rill_observable_t *deb(const char *src, double due) {
  return rill_debounce(marble_cold(vs, src), vs, due, RILL_OVERFLOW_LATEST);
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
  ck_assert_str_eq(r.text, "");
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
}
END_TEST

Suite *time_suite(void) {
  Suite *s = suite_create("time");
  TCase *tc = tcase_create("marble");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, marble_cold_replays_its_timeline);
  suite_add_tcase(s, tc);
  tc = tcase_create("timer_interval");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, timer_emits_zero_after_due_then_completes);
  tcase_add_test(tc, interval_ticks_every_period_until_cancelled);
  suite_add_tcase(s, tc);
  tc = tcase_create("debounce");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, debounce_emits_after_silence);
  tcase_add_test(tc, debounce_flushes_pending_value_at_completion);
  tcase_add_test(tc, debounce_drops_pending_value_on_error);
  tcase_add_test(tc, debounce_cancel_while_pending_stops_the_timer);
  suite_add_tcase(s, tc);
  return s;
}
