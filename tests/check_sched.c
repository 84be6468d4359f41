/* SPDX-License-Identifier: MIT */
/* rill tests: the scheduler.  One battery of behaviour runs against both
 * implementations (virtual clock and libev on a fresh ev_loop_new loop);
 * a few virtual-only tests cover the manual clock's API. */
#include <math.h>
#include <rill/ev.h>
#include <stdlib.h>

#include "check_rill.h"
#include "testlib.h"

/* ---- a driver that advances either kind of scheduler
 * ------------------------*/

struct drive {
  rill_sched_t *s;
  struct ev_loop *loop; /* NULL for virtual */
};

static struct drive drive_new(int kind) {
  struct drive d = {0};
  if (kind == 0) {
    d.s = rill_sched_virtual_new();
  } else {
    d.loop = ev_loop_new(EVFLAG_AUTO);
    d.s = rill_sched_ev_new(d.loop);
  }
  ck_assert_ptr_nonnull(d.s);
  return d;
}

/* Run until nothing is armed (libev: ev_run returns by itself). */
static void drive_idle(struct drive *d) {
  if (d->loop)
    ev_run(d->loop, 0);
  else
    ck_assert_int_eq(rill_sched_run(d->s, 0), 0);
}

static void drive_free(struct drive *d) {
  ck_assert_int_eq(rill_sched_free(d->s), 0);
  if (d->loop)
    ev_loop_destroy(d->loop);
}

struct log {
  char order[64];
  int n;
  double at[64];
  rill_sched_t *s;
  rill_sched_timer_t *other; /* stopped/freed from a callback */
};

static void log_fire(rill_sched_timer_t *t, void *arg, char tag) {
  (void)t;
  struct log *l = arg;
  l->at[l->n] = rill_sched_now(l->s);
  l->order[l->n++] = tag;
}
static void fire_a(rill_sched_timer_t *t, void *arg) {
  log_fire(t, arg, 'a');
}
static void fire_b(rill_sched_timer_t *t, void *arg) {
  log_fire(t, arg, 'b');
}
static void fire_c(rill_sched_timer_t *t, void *arg) {
  log_fire(t, arg, 'c');
}
static void fire_stop_other(rill_sched_timer_t *t, void *arg) {
  struct log *l = arg;
  log_fire(t, arg, 's');
  rill_sched_timer_stop(l->other);
}
static void fire_rearm_once(rill_sched_timer_t *t, void *arg) {
  struct log *l = arg;
  log_fire(t, arg, 'r');
  if (l->n < 3)
    rill_sched_timer_start(t, 1);
}

START_TEST(timers_fire_in_due_order) {
  struct drive d = drive_new(_i);
  struct log l = {.s = d.s};
  rill_sched_timer_t *a = rill_sched_timer_new(d.s, fire_a, &l);
  rill_sched_timer_t *b = rill_sched_timer_new(d.s, fire_b, &l);
  rill_sched_timer_t *c = rill_sched_timer_new(d.s, fire_c, &l);
  double t0 = rill_sched_now(d.s);
  rill_sched_timer_start(a, 30);
  rill_sched_timer_start(b, 10);
  rill_sched_timer_start(c, 20);
  ck_assert_int_eq(rill_sched_active(d.s), 3);
  drive_idle(&d);
  l.order[l.n] = '\0';
  ck_assert_str_eq(l.order, "bca");
  ck_assert(l.at[0] - t0 >= 9.0);
  ck_assert(l.at[2] - t0 >= 29.0);
  ck_assert_int_eq(rill_sched_active(d.s), 0);
  ck_assert_int_eq(rill_sched_free(d.s), RILL_EBUSY); /* timers alive */
  rill_sched_timer_free(a);
  rill_sched_timer_free(b);
  rill_sched_timer_free(c);
  drive_free(&d);
}
END_TEST

START_TEST(rearming_moves_a_timer_and_stop_cancels_it) {
  struct drive d = drive_new(_i);
  struct log l = {.s = d.s};
  rill_sched_timer_t *a = rill_sched_timer_new(d.s, fire_a, &l);
  rill_sched_timer_t *b = rill_sched_timer_new(d.s, fire_b, &l);
  rill_sched_timer_start(a, 5);
  rill_sched_timer_start(b, 10);
  rill_sched_timer_start(a, 20); /* moved after b */
  rill_sched_timer_stop(b);
  rill_sched_timer_stop(b); /* twice is fine */
  ck_assert(!rill_sched_timer_active(b));
  drive_idle(&d);
  l.order[l.n] = '\0';
  ck_assert_str_eq(l.order, "a");
  rill_sched_timer_free(a);
  rill_sched_timer_free(b);
  drive_free(&d);
}
END_TEST

START_TEST(callbacks_may_stop_other_timers_and_rearm_themselves) {
  struct drive d = drive_new(_i);
  struct log l = {.s = d.s};
  rill_sched_timer_t *s1 = rill_sched_timer_new(d.s, fire_stop_other, &l);
  rill_sched_timer_t *victim = rill_sched_timer_new(d.s, fire_a, &l);
  rill_sched_timer_t *r = rill_sched_timer_new(d.s, fire_rearm_once, &l);
  l.other = victim;
  rill_sched_timer_start(s1, 1);
  rill_sched_timer_start(victim, 5);
  rill_sched_timer_start(r, 2);
  drive_idle(&d);
  l.order[l.n] = '\0';
  ck_assert_str_eq(l.order, "srr");
  rill_sched_timer_free(s1);
  rill_sched_timer_free(victim);
  rill_sched_timer_free(r);
  drive_free(&d);
}
END_TEST

START_TEST(zero_delay_runs_soon_after_what_is_due) {
  struct drive d = drive_new(_i);
  struct log l = {.s = d.s};
  rill_sched_timer_t *a = rill_sched_timer_new(d.s, fire_a, &l);
  rill_sched_timer_t *b = rill_sched_timer_new(d.s, fire_b, &l);
  rill_sched_timer_start(a, 0);
  rill_sched_timer_start(b, -3); /* negative counts as 0, after a */
  drive_idle(&d);
  l.order[l.n] = '\0';
  ck_assert_str_eq(l.order, "ab");
  rill_sched_timer_free(a);
  rill_sched_timer_free(b);
  drive_free(&d);
}
END_TEST

START_TEST(bad_arguments_are_rejected) {
  struct drive d = drive_new(_i);
  ck_assert_ptr_null(rill_sched_timer_new(NULL, fire_a, NULL));
  ck_assert_ptr_null(rill_sched_timer_new(d.s, NULL, NULL));
  ck_assert_ptr_null(rill_sched_io_new(d.s, -1, NULL, NULL));
  rill_sched_timer_start(NULL, 1);
  rill_sched_timer_stop(NULL);
  rill_sched_timer_free(NULL);
  ck_assert_int_eq(rill_sched_free(NULL), RILL_EINVAL);
  drive_free(&d);
}
END_TEST

/* ---- virtual clock only
 * -------------------------------------------------------*/

START_TEST(virtual_clock_moves_only_when_told) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct log l = {.s = s};
  rill_sched_timer_t *a = rill_sched_timer_new(s, fire_a, &l);
  ck_assert(rill_sched_now(s) == 0);
  rill_sched_timer_start(a, 10);
  ck_assert_int_eq(rill_sched_advance_by(s, 9), 0);
  ck_assert_int_eq(l.n, 0);
  ck_assert(rill_sched_now(s) == 9);
  ck_assert_int_eq(rill_sched_advance_to(s, 10), 0);
  ck_assert_int_eq(l.n, 1);
  ck_assert(l.at[0] == 10);
  ck_assert_int_eq(rill_sched_advance_to(s, 5), RILL_EINVAL);
  ck_assert_int_eq(rill_sched_advance_by(s, -1), RILL_EINVAL);
  rill_sched_timer_free(a);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

static void fire_forever(rill_sched_timer_t *t, void *arg) {
  (void)arg;
  rill_sched_timer_start(t, 1);
}

START_TEST(virtual_run_reports_a_schedule_that_never_idles) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_sched_timer_t *a = rill_sched_timer_new(s, fire_forever, NULL);
  rill_sched_timer_start(a, 1);
  ck_assert_int_eq(rill_sched_run(s, 50), RILL_EAGAIN);
  ck_assert(rill_sched_now(s) == 50);
  rill_sched_timer_free(a);
  ck_assert_int_eq(rill_sched_run(s, 50), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Issue 7, defect 2: interval(s, 0) re-arms at the same instant for ever;
 * advance used to loop without end.  It now gives up with RILL_EAGAIN. */
START_TEST(virtual_advance_returns_on_a_zero_period_interval) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *o = rill_interval(s, 0, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_advance_by(s, 10), RILL_EAGAIN);
  ck_assert(rill_sched_now(s) == 0); /* stuck at the instant, not moved */
  ck_assert_int_ge(r.nexts, 1000000);
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_advance_by(s, 10), 0);
  ck_assert(rill_sched_now(s) == 10);
  ck_assert_rec_ok(&r);
  rec_clear(&r); /* a million stored ticks (LeakSanitizer) */
  rill_observable_free(o);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Issue 7, defect 4: freeing the scheduler from inside one of its timer
 * callbacks used to succeed, and the advance on the stack then read freed
 * memory.  It is refused while the dispatch runs. */
static int free_rc;
static void free_my_scheduler(rill_sched_timer_t *t, void *arg) {
  rill_sched_t *s = arg;
  rill_sched_timer_free(t); /* nothing is left alive on s */
  free_rc = rill_sched_free(s);
}

START_TEST(sched_free_inside_its_own_callback_is_refused) {
  for (int kind = 0; kind < 2; kind++) {
    struct drive d = drive_new(kind);
    rill_sched_timer_t *t = rill_sched_timer_new(d.s, free_my_scheduler, d.s);
    rill_sched_timer_start(t, 1);
    free_rc = 1;
    drive_idle(&d);
    ck_assert_int_eq(free_rc, RILL_EBUSY);
    drive_free(&d); /* after the dispatch it succeeds */
  }
}
END_TEST

/* Issue 7, defect 8: one rule for infinite durations -- never.  timer(s,
 * INFINITY) used to fire under rill_sched_run with the clock at +inf. */
START_TEST(an_infinite_timer_never_fires_and_is_not_armed) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *o = rill_timer(s, INFINITY);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert(rill_sched_now(s) == 0);
  ck_assert_int_eq(rill_sched_advance_by(s, 1e12), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, INFINITY), RILL_EINVAL);
  rec_cancel(&r);
  rill_observable_free(o);
  /* A raw timer started with INFINITY is stopped, not armed. */
  rill_sched_timer_t *t = rill_sched_timer_new(s, fire_forever, NULL);
  rill_sched_timer_start(t, 5);
  rill_sched_timer_start(t, INFINITY);
  ck_assert(!rill_sched_timer_active(t));
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_sched_timer_free(t);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

static void io_noop(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  (void)arg;
}

START_TEST(virtual_scheduler_has_no_io) {
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_null(rill_sched_io_new(s, 0, io_noop, NULL));
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(many_timers_keep_order_at_the_same_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  enum { N = 40 };
  struct log l = {.s = s};
  rill_sched_timer_t *t[N];
  for (int i = 0; i < N; i++) {
    t[i] = rill_sched_timer_new(s, i % 2 ? fire_b : fire_a, &l);
    rill_sched_timer_start(t[i], 7);
  }
  rill_sched_run(s, 0);
  for (int i = 0; i < N; i++)
    ck_assert_int_eq(l.order[i], i % 2 ? 'b' : 'a');
  for (int i = 0; i < N; i++)
    rill_sched_timer_free(t[i]);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- libev only: loop liveness
 * ----------------------------------------------------*/

START_TEST(unref_timer_does_not_keep_ev_run_alive) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  rill_sched_t *s = rill_sched_ev_new(loop);
  struct log l = {.s = s};
  rill_sched_timer_t *bg = rill_sched_timer_new(s, fire_a, &l);
  rill_sched_timer_keepalive(bg, false);
  rill_sched_timer_start(bg, 60000); /* a minute: ev_run must not wait */
  ev_run(loop, 0);
  ck_assert_int_eq(l.n, 0);
  ck_assert(rill_sched_timer_active(bg));
  rill_sched_timer_free(bg);
  ck_assert_ptr_eq(rill_sched_ev_loop(s), loop);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ev_loop_destroy(loop);
}
END_TEST

struct bg_count {
  int n;
};
static void bg_next(void *ctx, rill_value_t v) {
  ((struct bg_count *)ctx)->n++;
  rill_value_release(v);
}
static void stop_loop(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

START_TEST(background_scheduler_sources_do_not_keep_ev_run_alive) {
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  rill_sched_t *fg = rill_sched_ev_new(loop);
  rill_sched_t *bg = rill_sched_ev_new(loop);
  ck_assert_int_eq(rill_sched_keepalive(bg, false), 0);
  ck_assert_int_eq(rill_sched_keepalive(NULL, false), RILL_EINVAL);
  struct bg_count heartbeat = {0}, work = {0};
  rill_observable_t *hb = rill_interval(bg, 1, OVF(RILL_OVERFLOW_DROP));
  rill_observable_t *job =
      rill_take(rill_interval(fg, 5, OVF(RILL_OVERFLOW_DROP)), 3);
  rill_subscriber_t s1 = {.on_next = bg_next}, s2 = {.on_next = bg_next};
  rill_subscription_t *hb_sub;
  ck_assert_int_eq(
      rill_observable_consume(hb, &s1, &heartbeat, RILL_UNBOUNDED, &hb_sub), 0);
  ck_assert_int_eq(
      rill_observable_consume(job, &s2, &work, RILL_UNBOUNDED, NULL), 0);
  ev_timer guard; /* fail safe: never hang the suite */
  ev_timer_init(&guard, stop_loop, 5.0, 0);
  ev_timer_start(loop, &guard);
  ev_unref(loop);
  ev_run(loop, 0); /* returns when the foreground job is done */
  ev_ref(loop);
  ev_timer_stop(loop, &guard);
  ck_assert_int_eq(work.n, 3);
  ck_assert_int_gt(heartbeat.n, 0); /* it ran meanwhile */
  ck_assert_int_eq(rill_sched_active(fg), 0);
  ck_assert_int_eq(rill_sched_active(bg), 1); /* still armed, unref'd */
  rill_subscription_free(hb_sub);
  ck_assert_int_eq(rill_sched_active(bg), 0);
  rill_observable_free(hb);
  rill_observable_free(job);
  ck_assert_int_eq(rill_sched_free(fg), 0);
  ck_assert_int_eq(rill_sched_free(bg), 0);
  ev_loop_destroy(loop);
}
END_TEST

Suite *sched_suite(void) {
  Suite *s = suite_create("sched");
  TCase *tc = tcase_create("shared"); /* 0: virtual, 1: libev */
  tcase_add_loop_test(tc, timers_fire_in_due_order, 0, 2);
  tcase_add_loop_test(tc, rearming_moves_a_timer_and_stop_cancels_it, 0, 2);
  tcase_add_loop_test(tc, callbacks_may_stop_other_timers_and_rearm_themselves,
                      0, 2);
  tcase_add_loop_test(tc, zero_delay_runs_soon_after_what_is_due, 0, 2);
  tcase_add_loop_test(tc, bad_arguments_are_rejected, 0, 2);
  suite_add_tcase(s, tc);
  tc = tcase_create("virtual");
  tcase_add_test(tc, virtual_clock_moves_only_when_told);
  tcase_add_test(tc, virtual_run_reports_a_schedule_that_never_idles);
  tcase_add_test(tc, virtual_scheduler_has_no_io);
  tcase_add_test(tc, many_timers_keep_order_at_the_same_instant);
  tcase_add_test(tc, virtual_advance_returns_on_a_zero_period_interval);
  tcase_add_test(tc, sched_free_inside_its_own_callback_is_refused);
  tcase_add_test(tc, an_infinite_timer_never_fires_and_is_not_armed);
  suite_add_tcase(s, tc);
  tc = tcase_create("libev");
  tcase_add_test(tc, unref_timer_does_not_keep_ev_run_alive);
  tcase_add_test(tc, background_scheduler_sources_do_not_keep_ev_run_alive);
  suite_add_tcase(s, tc);
  return s;
}
