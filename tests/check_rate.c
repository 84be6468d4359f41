/* SPDX-License-Identifier: MIT */
/* rill tests: the rate operators -- throttle, sample, audit -- on the
 * virtual scheduler, written as marble timelines (tests/marble.h).
 *
 * Expected timelines come from RxJS 7.8.2's own cases (the rxjs-marbles
 * conformance data: throttleTime.json, sampleTime.json, auditTime.json),
 * cited by id next to each test.  Their sources are hot timelines
 * subscribed at '^' (or at frame 0 when there is no '^'), or cold ones.
 * The mergeMap((x) => of(x)) stages of the "unsubscription chains" cases
 * are identity maps here: what those cases check is that an explicit
 * unsubscribe reaches through the chain (here: no timer left armed).
 *
 * Beyond RxJS: cancel with a timer pending, error with a value pending,
 * the overflow policies under a subscriber that requests nothing, owned
 * values released exactly once on every path, one timer per operator
 * whatever the burst, and bad arguments. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
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

/* ---- helpers -------------------------------------------------------------*/

/* A hot timeline as RxJS places it: '^' is frame 0 and the character after
 * it frame 1 ("-a-^-b" puts b at 2).  Built as the cold timeline of what
 * follows the '^' (a '^' becomes a '-'), which places events exactly as
 * marble_hot() now does too. */
static rill_observable_t *hot(const char *m) {
  const char *at = strchr(m, '^');
  if (at == NULL)
    return marble_hot(vs, m); /* no '^': frame 0 is the first character */
  char buf[256];
  snprintf(buf, sizeof(buf), "-%s", at + 1);
  return marble_cold(vs, buf);
}

/* Run `o` (consumed) to idle (or `until`) and compare. */
static void expect(rill_observable_t *o, double until, const char *want) {
  ck_assert_ptr_nonnull(o);
  marble_result_t r;
  marble_run(vs, o, until, &r);
  ck_assert_marble_result(&r, want);
  ck_assert_int_eq(r.active_after, 0);
  if (strchr(want, '#') != NULL)
    ck_assert_int_eq(r.error_code, RILL_EUSER);
  rill_observable_free(o);
}

/* Run `o` (consumed), cancelling at `cancel_at`, and compare. */
static void expect_cancel(rill_observable_t *o, double until, double cancel_at,
                          const char *want) {
  ck_assert_ptr_nonnull(o);
  marble_result_t r;
  marble_run_cancel(vs, o, until, cancel_at, &r);
  ck_assert_marble_result(&r, want);
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(r.active_after, 0); /* the cancel stopped every timer */
  rill_observable_free(o);
}

static int identity(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(in);
  return 0;
}

/* ints <-> owned values, to run the marble cases with owned values. */
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
static rill_observable_t *owned_src(rill_observable_t *ints) {
  return rill_map(ints, to_owned, NULL);
}
static rill_observable_t *back_to_ints(rill_observable_t *owned) {
  return rill_map(owned, from_owned, NULL);
}

/* The largest rill_sched_active() seen by a value on its way in. */
static int max_active;
static int note_active(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  int a = rill_sched_active(vs);
  if (a > max_active)
    max_active = a;
  *out = rill_value_retain(in);
  return 0;
}

/* Two synchronous bursts of 1000 values, 3 ms apart, then completion 3 ms
 * later; every value passes note_active on its way. */
static rill_observable_t *bursts(void) {
  rill_observable_t *parts[4] = {rill_range(0, 1000), marble_cold(vs, "---|"),
                                 rill_range(1000, 1000),
                                 marble_cold(vs, "---|")};
  max_active = 0;
  return rill_map(rill_concat(parts, 4), note_active, NULL);
}

static const rill_throttle_opts_t LEAD = {.edges = RILL_THROTTLE_LEADING};
static const rill_throttle_opts_t BOTH = {
    .edges = RILL_THROTTLE_LEADING | RILL_THROTTLE_TRAILING};
static const rill_throttle_opts_t TRAIL = {.edges = RILL_THROTTLE_TRAILING};

static rill_observable_t *thr(rill_observable_t *src, double w,
                              const rill_throttle_opts_t *cfg) {
  return rill_throttle(src, vs, w, cfg);
}
static rill_observable_t *smp(rill_observable_t *src, double period) {
  return rill_sample(src, vs, period, OVF(RILL_OVERFLOW_LATEST));
}
static rill_observable_t *aud(rill_observable_t *src, double w) {
  return rill_audit(src, vs, w, OVF(RILL_OVERFLOW_LATEST));
}

/* ---- throttle: RxJS cases ------------------------------------------------*/

START_TEST(throttle_first_value_in_each_window) {
  /* throttleTime-001 */
  expect(thr(hot("-a-x-y----b---x-cx---|"), 5, NULL), 0,
         "-a--------b-----c----|");
}
END_TEST

START_TEST(throttle_mirrors_a_slow_source) {
  /* throttleTime-002 */
  expect(thr(hot("-a--------b-----c----|"), 5, NULL), 0,
         "-a--------b-----c----|");
}
END_TEST

START_TEST(throttle_busy_producer) {
  /* throttleTime-003: the value at the window's last instant (f at 5) is
   * inside the window. */
  expect(thr(hot("abcdefabcdefabcdefabcdefa|"), 5, NULL), 0,
         "a-----a-----a-----a-----a|");
}
END_TEST

START_TEST(throttle_silent_source_completes) {
  /* throttleTime-004 */
  expect(thr(hot("-----|"), 5, NULL), 0, "-----|");
}
END_TEST

START_TEST(throttle_silent_source_errors) {
  /* throttleTime-005 */
  expect(thr(hot("-----#"), 10, NULL), 0, "-----#");
}
END_TEST

START_TEST(throttle_empty_never_throw) {
  /* throttleTime-006 */
  expect(thr(marble_cold(vs, "|"), 30, NULL), 0, "|");
  /* throttleTime-007 */
  expect(thr(marble_cold(vs, "-"), 30, NULL), 100, "-");
  /* throttleTime-008 */
  expect(thr(marble_cold(vs, "#"), 30, NULL), 0, "#");
}
END_TEST

START_TEST(throttle_unsubscribed_explicitly) {
  /* throttleTime-009 */
  expect_cancel(thr(hot("-a--(bc)-------d----------------"), 5, NULL), 40, 31,
                "-a-------------d----------------");
  /* throttleTime-010 (identity maps for the mergeMap stages) */
  rill_observable_t *o = rill_map(
      thr(rill_map(hot("-a--(bc)-------d----------------"), identity, NULL), 5,
          NULL),
      identity, NULL);
  expect_cancel(o, 40, 31, "-a-------------d----------------");
}
END_TEST

START_TEST(throttle_until_error) {
  /* throttleTime-011 */
  expect(thr(hot("-a--(bc)-------d---------------#"), 5, NULL), 0,
         "-a-------------d---------------#");
}
END_TEST

START_TEST(throttle_leading_and_trailing) {
  /* throttleTime-012: the trailing value opens a new window; completion
   * waits for the last trailing value. */
  expect(thr(hot("-a-xy-----b--x--cxxx--|"), 4, &BOTH), 0,
         "-a---y----b---x---x---(x|)");
}
END_TEST

START_TEST(throttle_leading_and_trailing_single_value) {
  /* throttleTime-013 */
  expect(thr(hot("-a--------------------|"), 4, &BOTH), 0,
         "-a--------------------|");
}
END_TEST

START_TEST(throttle_trailing_only) {
  /* throttleTime-014 */
  expect(thr(hot("-a-xy-----b--x--cxxx--|"), 4, &TRAIL), 0,
         "-----y--------x---x---(x|)");
}
END_TEST

START_TEST(throttle_trailing_only_value_at_window_end) {
  /* throttleTime-015: x at 18 arrives as the window 14..18 ends; it is that
   * window's trailing value, so nothing is left at completion. */
  expect(thr(hot("-a-xy-----b--x--cxx-|"), 4, &TRAIL), 0,
         "-----y--------x---x-|");
}
END_TEST

START_TEST(throttle_trailing_only_single_value) {
  /* throttleTime-016 */
  expect(thr(hot("-a--------------------|"), 4, &TRAIL), 0,
         "-----a----------------|");
}
END_TEST

/* ---- throttle: beyond RxJS's cases ---------------------------------------*/

START_TEST(throttle_zero_window_and_default_edges) {
  /* A 0 ms window still swallows the rest of its own instant. */
  expect(thr(marble_cold(vs, "-(ab)-c-|"), 0, NULL), 0, "-a----c-|");
  /* edges == 0 is the documented default, leading (it used to be
   * impossible to ask for a default through a zeroed options struct). */
  rill_throttle_opts_t zero = {0};
  expect(thr(marble_cold(vs, "-a-b-c-|"), 2, &zero), 0, "-a---c-|");
  /* An infinite window: only the first value. */
  expect(thr(marble_cold(vs, "-a-b-c-|"), INFINITY, NULL), 0, "-a-----|");
}
END_TEST

START_TEST(throttle_trailing_complete_without_kept_value_is_immediate) {
  /* The window is open at completion but holds no trailing value. */
  expect(thr(marble_cold(vs, "-a-|"), 10, &BOTH), 0, "-a-|");
}
END_TEST

START_TEST(throttle_cancel_with_trailing_value_pending) {
  expect_cancel(thr(marble_cold(vs, "-a-b-----|"), 5, &BOTH), 20, 3, "-a");
  expect_cancel(thr(marble_cold(vs, "-a-b-----|"), 5, &TRAIL), 20, 3, "");
}
END_TEST

START_TEST(throttle_error_drops_trailing_value) {
  expect(thr(marble_cold(vs, "-a-b-#"), 5, &BOTH), 0, "-a---#");
  expect(thr(marble_cold(vs, "-a-b-#"), 5, &TRAIL), 0, "-----#");
}
END_TEST

START_TEST(throttle_leading_arms_no_timer) {
  /* Without trailing a window is only a time to compare with. */
  rill_observable_t *o = thr(bursts(), 10, &LEAD);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "0-----|");
  ck_assert_int_eq(max_active, 0);
  rill_observable_free(o);
}
END_TEST

START_TEST(throttle_trailing_burst_uses_one_timer) {
  rill_observable_t *o = thr(bursts(), 2, &BOTH);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  /* 0 leads; 999 trails at 2 (opening 2..4); 1999 (at 3) trails at 4. */
  ck_assert_marble_result(&r, "0-{999}-{1999}-|");
  ck_assert_int_eq(max_active, 1);
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
}
END_TEST

/* ---- sample: RxJS cases --------------------------------------------------*/

START_TEST(sample_on_a_period) {
  /* sampleTime-001 */
  expect(smp(hot("a---b-c---------d--e---f-g-h--|"), 7), 0,
         "-------c-------------e------h-|");
}
END_TEST

START_TEST(sample_nothing_without_a_new_value) {
  /* sampleTime-002 */
  expect(smp(hot("----a-^--b----c--------------f----|"), 11), 0,
         "-----------c----------------|");
}
END_TEST

START_TEST(sample_a_repeated_value) {
  /* sampleTime-003 */
  expect(smp(hot("----a-^--b----c----------c---f----|"), 11), 0,
         "-----------c----------c-----|");
}
END_TEST

START_TEST(sample_nothing_before_the_first_value) {
  /* sampleTime-004 */
  expect(smp(hot("----a-^-------------b-------------|"), 11), 0,
         "----------------------b-----|");
}
END_TEST

START_TEST(sample_error_passes) {
  /* sampleTime-005 */
  expect(smp(hot("----a-^--b----c----d----#"), 11), 0, "-----------c------#");
}
END_TEST

START_TEST(sample_unsubscribed_explicitly) {
  /* sampleTime-006 */
  expect_cancel(smp(hot("----a-^--b----c----d----e----f----|"), 11), 40, 16,
                "-----------c-----");
  /* sampleTime-007 (identity maps for the mergeMap stages) */
  rill_observable_t *o = rill_map(
      smp(rill_map(hot("----a-^--b----c----d----e----f----|"), identity, NULL),
          11),
      identity, NULL);
  expect_cancel(o, 40, 16, "-----------c-----");
}
END_TEST

START_TEST(sample_empty_throw_never) {
  /* sampleTime-008 */
  expect(smp(marble_cold(vs, "|"), 5), 0, "|");
  /* sampleTime-009 */
  expect(smp(marble_cold(vs, "#"), 5), 0, "#");
  /* sampleTime-010 */
  expect_cancel(smp(marble_cold(vs, "--------"), 5), 20, 7, "--------");
}
END_TEST

/* ---- sample: beyond RxJS's cases -----------------------------------------*/

START_TEST(sample_value_at_a_tick_is_sampled) {
  /* RxJS's order: a frame's source values come before the tick.  c at 6
   * is sampled by the tick at 6 although the tick's timer was armed (at 3)
   * before the source's timer for c (at 5). */
  expect(smp(marble_cold(vs, "---a--b-|"), 3), 0, "---a--b-|");
  expect(smp(marble_cold(vs, "---a-bc-|"), 3), 0, "---a--c-|");
}
END_TEST

START_TEST(sample_no_final_sample_at_completion) {
  expect(smp(marble_cold(vs, "-a-b|"), 5), 0, "----|");
}
END_TEST

START_TEST(sample_burst_uses_one_timer) {
  rill_observable_t *o = smp(bursts(), 2);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  /* Ticks at 2, 4, 6: 999 (burst at 0), 1999 (burst at 3), then nothing. */
  ck_assert_marble_result(&r, "--{999}-{1999}-|");
  ck_assert_int_eq(max_active, 1);
  rill_observable_free(o);
}
END_TEST

/* ---- audit: RxJS cases ---------------------------------------------------*/

START_TEST(audit_last_value_in_each_window) {
  /* auditTime-001 */
  expect(aud(hot("-a-x-y----b---x-cx---|"), 5), 0, "------y--------x-----(x|)");
}
END_TEST

START_TEST(audit_multiple_times) {
  /* auditTime-002 */
  expect(aud(hot("-012-----01234---|"), 5), 0, "------2-------4--|");
}
END_TEST

START_TEST(audit_delays_a_slow_source) {
  /* auditTime-003 */
  expect(aud(hot("-a--------b-----c----|"), 5), 0, "------a--------b-----(c|)");
}
END_TEST

START_TEST(audit_busy_producer_completion_waits) {
  /* auditTime-004: completion at 25 waits for the window ending at 29. */
  expect(aud(hot("abcdefabcdefabcdefabcdefa|"), 5), 0,
         "-----f-----f-----f-----f-----(a|)");
}
END_TEST

START_TEST(audit_silent_source) {
  /* auditTime-005 */
  expect(aud(hot("-----|"), 2), 0, "-----|");
  /* auditTime-006 */
  expect(aud(hot("-----#"), 2), 0, "-----#");
}
END_TEST

START_TEST(audit_empty_never_throw) {
  /* auditTime-007 */
  expect(aud(marble_cold(vs, "|"), 3), 0, "|");
  /* auditTime-008 */
  expect(aud(marble_cold(vs, "-"), 2), 100, "-");
  /* auditTime-009 */
  expect(aud(marble_cold(vs, "#"), 3), 0, "#");
}
END_TEST

START_TEST(audit_unsubscribed_explicitly) {
  /* auditTime-010 */
  expect_cancel(aud(hot("-a--(bc)-------d----------------"), 5), 40, 31,
                "------c-------------d-----------");
  /* auditTime-011 (identity maps for the mergeMap stages) */
  rill_observable_t *o = rill_map(
      aud(rill_map(hot("-a--(bc)-------d----------------"), identity, NULL), 5),
      identity, NULL);
  expect_cancel(o, 40, 31, "------c-------------d-----------");
}
END_TEST

START_TEST(audit_until_error) {
  /* auditTime-012 */
  expect(aud(hot("-a--(bc)-------d---------------#"), 5), 0,
         "------c-------------d----------#");
}
END_TEST

/* ---- audit: beyond RxJS's cases ------------------------------------------*/

START_TEST(audit_cancel_with_value_pending) {
  expect_cancel(aud(marble_cold(vs, "-a-b-----|"), 5), 20, 3, "");
}
END_TEST

START_TEST(audit_error_drops_pending_value) {
  expect(aud(marble_cold(vs, "-a-b-#"), 5), 0, "-----#");
}
END_TEST

START_TEST(audit_zero_window) {
  /* A 0 ms window ends at the same instant, after the rest of it. */
  expect(aud(marble_cold(vs, "-(ab)-c-|"), 0), 0, "-b----c-|");
}
END_TEST

START_TEST(audit_burst_uses_one_timer) {
  rill_observable_t *o = aud(bursts(), 2);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "--{999}--{1999}|");
  ck_assert_int_eq(max_active, 1);
  rill_observable_free(o);
}
END_TEST

/* ---- owned values: released once on complete, error and cancel ------------*/

/* Run `o` (consumed) with owned values inside the operator and compare;
 * then every owned value made must have been released. */
static void expect_owned(rill_observable_t *o, double until, double cancel_at,
                         const char *want) {
  ck_assert_ptr_nonnull(o);
  marble_result_t r;
  if (cancel_at >= 0)
    marble_run_cancel(vs, o, until, cancel_at, &r);
  else
    marble_run(vs, o, until, &r);
  ck_assert_marble_result(&r, want);
  ck_assert_int_eq(r.active_after, 0);
  rill_observable_free(o);
  ck_assert_int_gt(tl_owned_made, 0);
  ck_assert_owned_balanced();
}

START_TEST(throttle_owned_values_balanced) {
  /* throttleTime-012 with owned values (complete with a kept value). */
  expect_owned(
      back_to_ints(thr(owned_src(hot("-a-xy-----b--x--cxxx--|")), 4, &BOTH)), 0,
      -1, "-a---y----b---x---x---(x|)");
  /* throttleTime-001: dropped values */
  expect_owned(
      back_to_ints(thr(owned_src(hot("-a-x-y----b---x-cx---|")), 5, NULL)), 0,
      -1, "-a--------b-----c----|");
  /* error with a kept value */
  expect_owned(
      back_to_ints(thr(owned_src(marble_cold(vs, "-a-b-#")), 5, &TRAIL)), 0, -1,
      "-----#");
  /* cancel with a kept value */
  expect_owned(
      back_to_ints(thr(owned_src(marble_cold(vs, "-a-b-----|")), 5, &BOTH)), 20,
      3, "-a");
}
END_TEST

START_TEST(sample_owned_values_balanced) {
  /* sampleTime-001 with owned values (replaced and dropped at completion) */
  expect_owned(
      back_to_ints(smp(owned_src(hot("a---b-c---------d--e---f-g-h--|")), 7)),
      0, -1, "-------c-------------e------h-|");
  /* sampleTime-005: error with a value not sampled yet */
  expect_owned(
      back_to_ints(smp(owned_src(hot("----a-^--b----c----d----#")), 11)), 0, -1,
      "-----------c------#");
  /* sampleTime-006: cancel with a value not sampled yet */
  expect_owned(back_to_ints(smp(
                   owned_src(hot("----a-^--b----c----d----e----f----|")), 11)),
               40, 16, "-----------c-----");
}
END_TEST

START_TEST(audit_owned_values_balanced) {
  /* auditTime-004 with owned values (completion waits for the window) */
  expect_owned(
      back_to_ints(aud(owned_src(hot("abcdefabcdefabcdefabcdefa|")), 5)), 0, -1,
      "-----f-----f-----f-----f-----(a|)");
  /* auditTime-012: error with a value pending */
  expect_owned(
      back_to_ints(aud(owned_src(hot("-a--(bc)-------d---------------#")), 5)),
      0, -1, "------c-------------d----------#");
  /* auditTime-010: cancel (here with a value pending, at 17) */
  expect_owned(
      back_to_ints(aud(owned_src(hot("-a--(bc)-------d----------------")), 5)),
      40, 17, "------c");
}
END_TEST

/* ---- demand: a subscriber that requests nothing --------------------------*/

enum which { THROTTLE, SAMPLE, AUDIT };

/* Values 1 then 2 are each due (at 1 and 5: throttle leading, window 2;
 * at 4 and 8: sample period 4 and audit window 3); the source completes
 * at 10.  Nothing is requested until `request_at`. */
static rill_observable_t *due_twice(enum which w, rill_overflow_t policy,
                                    bool owned) {
  rill_observable_t *src = marble_cold(vs, "-1---2----|");
  if (owned)
    src = owned_src(src);
  switch (w) {
  case THROTTLE: {
    rill_throttle_opts_t cfg = {.overflow = policy};
    return rill_throttle(src, vs, 2, &cfg);
  }
  case SAMPLE:
    return rill_sample(src, vs, 4, OVF(policy));
  default:
    return rill_audit(src, vs, 3, OVF(policy));
  }
}

static void demand_latest(enum which w, bool owned) {
  rill_observable_t *o = due_twice(w, RILL_OVERFLOW_LATEST, owned);
  rec_t r;
  rec_init(&r);
  double t0 = rill_sched_now(vs);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(vs, t0 + 20);
  /* Both were due without demand: nothing came, and the source's
   * completion waits for the held value. */
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 2); /* the newest: 1 was replaced */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}

static void demand_latest_then_live(enum which w) {
  /* The held value comes at the request; later values flow live. */
  rill_observable_t *o = due_twice(w, RILL_OVERFLOW_LATEST, false);
  rec_t r;
  rec_init(&r);
  double t0 = rill_sched_now(vs);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(vs, t0 + 2);
  ck_assert_int_eq(r.nexts, 0);
  rill_sched_advance_to(vs, t0 + 4); /* sample and audit: 1 due at 4 */
  rec_request(&r, 5);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 1);
  rill_sched_advance_to(vs, t0 + 20);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 2);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}

static void demand_drop(enum which w, bool owned) {
  rill_observable_t *o = due_twice(w, RILL_OVERFLOW_DROP, owned);
  rec_t r;
  rec_init(&r);
  double t0 = rill_sched_now(vs);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(vs, t0 + 20);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE); /* nothing held back */
  rec_request(&r, 1);                         /* a no-op now */
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}

static void demand_error(enum which w, bool owned) {
  rill_observable_t *o = due_twice(w, RILL_OVERFLOW_ERROR, owned);
  rec_t r;
  rec_init(&r);
  double t0 = rill_sched_now(vs);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(vs, t0 + 20);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EOVERFLOW);
  ck_assert_int_eq(rill_sched_active(vs), 0); /* upstream cancelled */
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}

START_TEST(throttle_demand_policies) {
  demand_latest(THROTTLE, false);
  demand_latest(THROTTLE, true);
  demand_drop(THROTTLE, false);
  demand_drop(THROTTLE, true);
  demand_error(THROTTLE, false);
  demand_error(THROTTLE, true);
}
END_TEST

START_TEST(throttle_demand_held_then_live) {
  demand_latest_then_live(THROTTLE);
}
END_TEST

START_TEST(throttle_trailing_completion_waits_for_demand) {
  /* A trailing value due at completion, without demand: held, then
   * delivered and completed at the request. */
  rill_observable_t *o =
      rill_throttle(owned_src(marble_cold(vs, "-1-2-|")), vs, 5, &TRAIL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(vs, 20);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 2);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(sample_demand_policies) {
  demand_latest(SAMPLE, false);
  demand_latest(SAMPLE, true);
  demand_drop(SAMPLE, false);
  demand_drop(SAMPLE, true);
  demand_error(SAMPLE, false);
  demand_error(SAMPLE, true);
}
END_TEST

START_TEST(sample_demand_held_then_live) {
  demand_latest_then_live(SAMPLE);
}
END_TEST

START_TEST(audit_demand_policies) {
  demand_latest(AUDIT, false);
  demand_latest(AUDIT, true);
  demand_drop(AUDIT, false);
  demand_drop(AUDIT, true);
  demand_error(AUDIT, false);
  demand_error(AUDIT, true);
}
END_TEST

START_TEST(audit_demand_held_then_live) {
  demand_latest_then_live(AUDIT);
}
END_TEST

START_TEST(cancel_from_on_next_with_values_kept) {
  /* The subscriber cancels inside the first on_next while the operator
   * keeps a value: it is released, and no timer is left armed. */
  rill_observable_t *srcs[3] = {
      thr(owned_src(marble_cold(vs, "-1-2-3-4-|")), 5, &BOTH),
      smp(owned_src(marble_cold(vs, "-1-2-3-4-|")), 2),
      aud(owned_src(marble_cold(vs, "-1-2-3-4-|")), 1)};
  for (int i = 0; i < 3; i++) {
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = 1;
    ck_assert_int_eq(rec_subscribe(&r, srcs[i]), 0);
    rill_sched_advance_to(vs, rill_sched_now(vs) + 20);
    ck_assert_int_eq(r.nexts, 1);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(rill_sched_active(vs), 0);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(srcs[i]);
  }
  ck_assert_owned_balanced();
}
END_TEST

/* ---- bad arguments
 * ---------------------------------------------------------*/

/* A source whose recipe owns one value: released iff the recipe is. */
static rill_observable_t *owning_src(void) {
  rill_observable_t *o = rill_just(1, tl_owned(7));
  ck_assert_ptr_nonnull(o);
  return o;
}

#define ck_assert_einval(expr)                                                 \
  do {                                                                         \
    long released_ = tl_owned_released;                                        \
    errno = 0;                                                                 \
    ck_assert_ptr_null(expr);                                                  \
    ck_assert_int_eq(errno, EINVAL);                                           \
    ck_assert_int_eq(tl_owned_released, released_ + 1);                        \
  } while (0)

START_TEST(bad_arguments_are_einval_and_release_the_source) {
  rill_throttle_opts_t bad_policy = {.overflow = (rill_overflow_t)7};
  rill_throttle_opts_t bad_edges = {.edges = 4};
  ck_assert_einval(rill_throttle(owning_src(), vs, 5, &bad_edges));
  ck_assert_einval(rill_throttle(owning_src(), NULL, 5, NULL));
  ck_assert_einval(rill_throttle(owning_src(), vs, -1, NULL));
  ck_assert_einval(rill_throttle(owning_src(), vs, NAN, &BOTH));
  ck_assert_einval(rill_throttle(owning_src(), vs, 5, &bad_policy));
  ck_assert_einval(rill_sample(owning_src(), NULL, 5, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_einval(rill_sample(owning_src(), vs, 0, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_einval(rill_sample(owning_src(), vs, -3, OVF(RILL_OVERFLOW_DROP)));
  ck_assert_einval(rill_sample(owning_src(), vs, NAN, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_einval(rill_sample(owning_src(), vs, 5, OVF((rill_overflow_t)7)));
  ck_assert_einval(rill_audit(owning_src(), NULL, 5, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_einval(rill_audit(owning_src(), vs, -1, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_einval(rill_audit(owning_src(), vs, NAN, OVF(RILL_OVERFLOW_ERROR)));
  ck_assert_einval(rill_audit(owning_src(), vs, 5, OVF((rill_overflow_t)7)));
  /* A NULL source. */
  errno = 0;
  ck_assert_ptr_null(rill_throttle(NULL, vs, 5, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_sample(NULL, vs, 5, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_audit(NULL, vs, 5, OVF(RILL_OVERFLOW_LATEST)));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  /* Good arguments name their stage. */
  rill_observable_t *o = rill_throttle(rill_never(), vs, 0, NULL);
  ck_assert_str_eq(rill_observable_name(o), "throttle");
  rill_observable_free(o);
  o = rill_sample(rill_never(), vs, 1, OVF(RILL_OVERFLOW_LATEST));
  ck_assert_str_eq(rill_observable_name(o), "sample");
  rill_observable_free(o);
  o = rill_audit(rill_never(), vs, 0, OVF(RILL_OVERFLOW_LATEST));
  ck_assert_str_eq(rill_observable_name(o), "audit");
  rill_observable_free(o);
}
END_TEST

/* ---- the suite
 * -------------------------------------------------------------*/

static TCase *tcase(Suite *s, const char *name) {
  TCase *tc = tcase_create(name);
  tcase_add_checked_fixture(tc, setup, teardown);
  suite_add_tcase(s, tc);
  return tc;
}

Suite *rate_suite(void) {
  Suite *s = suite_create("rate");
  TCase *tc = tcase(s, "throttle");
  tcase_add_test(tc, throttle_first_value_in_each_window);
  tcase_add_test(tc, throttle_mirrors_a_slow_source);
  tcase_add_test(tc, throttle_busy_producer);
  tcase_add_test(tc, throttle_silent_source_completes);
  tcase_add_test(tc, throttle_silent_source_errors);
  tcase_add_test(tc, throttle_empty_never_throw);
  tcase_add_test(tc, throttle_unsubscribed_explicitly);
  tcase_add_test(tc, throttle_until_error);
  tcase_add_test(tc, throttle_leading_and_trailing);
  tcase_add_test(tc, throttle_leading_and_trailing_single_value);
  tcase_add_test(tc, throttle_trailing_only);
  tcase_add_test(tc, throttle_trailing_only_value_at_window_end);
  tcase_add_test(tc, throttle_trailing_only_single_value);
  tcase_add_test(tc, throttle_zero_window_and_default_edges);
  tcase_add_test(tc,
                 throttle_trailing_complete_without_kept_value_is_immediate);
  tcase_add_test(tc, throttle_cancel_with_trailing_value_pending);
  tcase_add_test(tc, throttle_error_drops_trailing_value);
  tcase_add_test(tc, throttle_leading_arms_no_timer);
  tcase_add_test(tc, throttle_trailing_burst_uses_one_timer);
  tcase_add_test(tc, throttle_owned_values_balanced);
  tcase_add_test(tc, throttle_demand_policies);
  tcase_add_test(tc, throttle_demand_held_then_live);
  tcase_add_test(tc, throttle_trailing_completion_waits_for_demand);

  tc = tcase(s, "sample");
  tcase_add_test(tc, sample_on_a_period);
  tcase_add_test(tc, sample_nothing_without_a_new_value);
  tcase_add_test(tc, sample_a_repeated_value);
  tcase_add_test(tc, sample_nothing_before_the_first_value);
  tcase_add_test(tc, sample_error_passes);
  tcase_add_test(tc, sample_unsubscribed_explicitly);
  tcase_add_test(tc, sample_empty_throw_never);
  tcase_add_test(tc, sample_value_at_a_tick_is_sampled);
  tcase_add_test(tc, sample_no_final_sample_at_completion);
  tcase_add_test(tc, sample_burst_uses_one_timer);
  tcase_add_test(tc, sample_owned_values_balanced);
  tcase_add_test(tc, sample_demand_policies);
  tcase_add_test(tc, sample_demand_held_then_live);

  tc = tcase(s, "audit");
  tcase_add_test(tc, audit_last_value_in_each_window);
  tcase_add_test(tc, audit_multiple_times);
  tcase_add_test(tc, audit_delays_a_slow_source);
  tcase_add_test(tc, audit_busy_producer_completion_waits);
  tcase_add_test(tc, audit_silent_source);
  tcase_add_test(tc, audit_empty_never_throw);
  tcase_add_test(tc, audit_unsubscribed_explicitly);
  tcase_add_test(tc, audit_until_error);
  tcase_add_test(tc, audit_cancel_with_value_pending);
  tcase_add_test(tc, audit_error_drops_pending_value);
  tcase_add_test(tc, audit_zero_window);
  tcase_add_test(tc, audit_burst_uses_one_timer);
  tcase_add_test(tc, audit_owned_values_balanced);
  tcase_add_test(tc, audit_demand_policies);
  tcase_add_test(tc, audit_demand_held_then_live);

  tc = tcase(s, "shared");
  tcase_add_test(tc, cancel_from_on_next_with_values_kept);
  tcase_add_test(tc, bad_arguments_are_einval_and_release_the_source);
  return s;
}
