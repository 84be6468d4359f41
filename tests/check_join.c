/* SPDX-License-Identifier: MIT */
/* rill tests: the operators that run all their sources at once and end
 * them together -- fork_join, all_settled, race, any (operators/, on the
 * kit's fan, src/kit/fan.h).
 *
 * Virtual time, 1 frame = 1 ms.  Sources are "spies": they play a marble
 * timeline and log their subscription (when subscribed, when it ended,
 * whether it ended by itself or was cancelled, what was asked of it), so
 * the tests assert the instant each sibling is cancelled, as RxJS's
 * subscription marbles do.  Owned values (tl_owned) prove that every value
 * is released exactly once on every path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* ---- spies ---------------------------------------------------------------*/

/* A spy pushes its timeline through rill_create on its own clock (values
 * pushed without demand wait in create's queue, and a completion behind
 * them; an error does not wait), like a cold RxJS test observable. */
struct spy {
  rill_sched_t *s;
  marble_event_t ev[32];
  int nev, next;
  bool owned;        /* values become tl_owned */
  int subs;          /* subscriptions */
  double sub_at;     /* when subscribed */
  double end_at;     /* when it ended (end() ran) */
  bool ended;        /* end() ran */
  bool finished;     /* it completed or failed by itself (else cancelled) */
  int64_t requested; /* asked of it, in all */
  rill_emitter_t *e;
  rill_sched_timer_t *timer;
};

static void spy_arm(struct spy *sp) {
  if (sp->next < sp->nev)
    rill_sched_timer_start(sp->timer, sp->sub_at + sp->ev[sp->next].at -
                                          rill_sched_now(sp->s));
}

static void spy_fire(rill_sched_timer_t *t, void *arg) {
  struct spy *sp = arg;
  (void)t;
  double now = rill_sched_now(sp->s) - sp->sub_at;
  while (sp->next < sp->nev && sp->ev[sp->next].at <= now) {
    const marble_event_t *ev = &sp->ev[sp->next++];
    if (ev->kind == 'n') {
      rill_emitter_next(sp->e, sp->owned ? tl_owned(ev->value)
                                         : rill_value_int(ev->value));
      if (sp->ended)
        return; /* cancelled from inside: end() freed the timer */
      continue;
    }
    sp->finished = true;
    if (ev->kind == '|')
      rill_emitter_complete(sp->e);
    else
      rill_emitter_error(sp->e, RILL_EUSER, "error");
    return;
  }
  spy_arm(sp);
}

static void spy_start(void *ctx, rill_emitter_t *e) {
  struct spy *sp = ctx;
  sp->subs++;
  sp->sub_at = rill_sched_now(sp->s);
  sp->e = e;
  sp->next = 0;
  sp->timer = rill_sched_timer_new(sp->s, spy_fire, sp);
  ck_assert_ptr_nonnull(sp->timer);
  spy_arm(sp);
}

static void spy_end(void *ctx, rill_emitter_t *e) {
  struct spy *sp = ctx;
  (void)e;
  sp->ended = true;
  sp->end_at = rill_sched_now(sp->s);
  rill_sched_timer_free(sp->timer);
  sp->timer = NULL;
}

static void spy_request(void *ctx, rill_emitter_t *e, int64_t n) {
  struct spy *sp = ctx;
  (void)e;
  sp->requested = n == RILL_UNBOUNDED || sp->requested > RILL_UNBOUNDED - n
                      ? RILL_UNBOUNDED
                      : sp->requested + n;
}

static rill_observable_t *spy_new(struct spy *sp, rill_sched_t *s,
                                  const char *marbles) {
  memset(sp, 0, sizeof(*sp));
  sp->s = s;
  sp->nev = marble_parse(marbles, sp->ev, 32);
  ck_assert_int_ge(sp->nev, 0);
  rill_create_opts_t opts = {.on_request = spy_request};
  return rill_create_with(spy_start, spy_end, sp, &opts);
}

/* Subscribed once at `sub`, cancelled at `cancel` (not ended by itself). */
#define ck_assert_cancelled_at(sp, sub, cancel)                                \
  do {                                                                         \
    ck_assert_int_eq((sp)->subs, 1);                                           \
    ck_assert_msg((sp)->ended && !(sp)->finished,                              \
                  "%s: ended %d, finished %d (want cancelled)", #sp,           \
                  (sp)->ended, (sp)->finished);                                \
    ck_assert_msg((sp)->sub_at == (sub) && (sp)->end_at == (cancel),           \
                  "%s: subscribed %g..%g, want %g..%g", #sp, (sp)->sub_at,     \
                  (sp)->end_at, (double)(sub), (double)(cancel));              \
  } while (0)

/* Subscribed once at `sub`, ended by itself at `end`. */
#define ck_assert_finished_at(sp, sub, end)                                    \
  do {                                                                         \
    ck_assert_int_eq((sp)->subs, 1);                                           \
    ck_assert_msg((sp)->ended && (sp)->finished,                               \
                  "%s: ended %d, finished %d (want finished)", #sp,            \
                  (sp)->ended, (sp)->finished);                                \
    ck_assert_msg((sp)->sub_at == (sub) && (sp)->end_at == (end),              \
                  "%s: subscribed %g..%g, want %g..%g", #sp, (sp)->sub_at,     \
                  (sp)->end_at, (double)(sub), (double)(end));                 \
  } while (0)

/* ---- helpers -------------------------------------------------------------*/

static int64_t int_of(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

/* Combine by digits: (2, 3, 5) -> 235. */
static int combine_digits(void *ctx, const rill_value_t *v, size_t n,
                          rill_value_t *out) {
  (void)ctx;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 10 + int_of(v[i]);
  *out = rill_value_int(x);
  return 0;
}

static int combine_fails(void *ctx, const rill_value_t *v, size_t n,
                         rill_value_t *out) {
  (void)ctx;
  (void)v;
  (void)n;
  (void)out;
  return rill_fail(RILL_EAPP_BASE - 7, "cannot combine %zu values", n);
}

/* The subscription, for a fn that cancels it. */
static rill_subscription_t *cancel_target;
static int combine_then_cancel(void *ctx, const rill_value_t *v, size_t n,
                               rill_value_t *out) {
  (void)ctx;
  rill_subscription_cancel(cancel_target);
  rill_subscription_cancel(cancel_target);
  /* the values are still readable after the cancel */
  *out = tl_owned(int_of(v[0]) + (int64_t)n);
  return 0;
}

static void set_target(void *ctx, rill_subscription_t *s) {
  rec_t *r = ctx;
  r->subscribes++;
  r->s = s;
  cancel_target = s;
  rec_request(r, RILL_UNBOUNDED);
}

static void plain_next(void *ctx, rill_value_t v) {
  rec_t *r = ctx;
  r->nexts++;
  rill_value_release(v);
}
static void plain_error(void *ctx, const rill_error_t *err) {
  rec_t *r = ctx;
  r->terminal = REC_ERROR;
  r->terminals++;
  r->err = *err;
}
static void plain_complete(void *ctx) {
  rec_t *r = ctx;
  r->terminal = REC_COMPLETE;
  r->terminals++;
}
static const rill_subscriber_t target_sub = {
    .on_subscribe = set_target,
    .on_next = plain_next,
    .on_error = plain_error,
    .on_complete = plain_complete,
};

/* An owned value from a synchronous source. */
static rill_observable_t *owned_just(int64_t x) {
  return rill_just(1, tl_owned(x));
}

/* A subscriber that notes, at its first signal, whether two spies had
 * already ended then (so "cancelled at once" means before the signal
 * arrives downstream, not later in the same instant). */
struct witness {
  const struct spy *watch[2];
  int signals;
  bool ended_before[2];
  int terminal;
  rill_subscription_t *s;
};
static void witness_note(struct witness *w) {
  if (w->signals++ == 0)
    for (int i = 0; i < 2; i++)
      w->ended_before[i] = w->watch[i]->ended;
}
static void w_subscribe(void *ctx, rill_subscription_t *s) {
  struct witness *w = ctx;
  w->s = s;
  rill_subscription_request(s, RILL_UNBOUNDED);
}
static void w_next(void *ctx, rill_value_t v) {
  witness_note(ctx);
  rill_value_release(v);
}
static void w_error(void *ctx, const rill_error_t *err) {
  struct witness *w = ctx;
  (void)err;
  witness_note(w);
  w->terminal = REC_ERROR;
}
static void w_complete(void *ctx) {
  struct witness *w = ctx;
  witness_note(w);
  w->terminal = REC_COMPLETE;
}
static const rill_subscriber_t witness_sub = {.on_subscribe = w_subscribe,
                                              .on_next = w_next,
                                              .on_error = w_error,
                                              .on_complete = w_complete};

/* Counts subscriptions: generate's init runs at each subscribe. */
static int subscribed_count;
static int count_init(void *ctx, void **state) {
  (void)ctx;
  subscribed_count++;
  *state = NULL;
  return 0;
}
static int count_next(void *state, rill_value_t *out) {
  (void)state;
  (void)out;
  return 0;
}
static rill_observable_t *counted(void) {
  return rill_generate(count_init, count_next, NULL, NULL);
}

/* Run until idle. */
static void settle(rill_sched_t *s) {
  ck_assert_int_eq(rill_sched_run(s, 100000), 0);
}

static void finish(rill_sched_t *s) {
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}

/* ---- fork_join -----------------------------------------------------------*/

START_TEST(fork_join_emits_the_last_values_when_all_have_completed) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "-1--2-|"),
                               spy_new(&b, s, "--3|"),
                               spy_new(&c, s, "---4--5--|")};
  rill_observable_t *o = rill_fork_join(src, 3, combine_digits, NULL);
  ck_assert_str_eq(rill_observable_name(o), "fork_join");
  ck_assert_marble(s, o, 0, "---------({235}|)");
  ck_assert_finished_at(&a, 0, 6);
  ck_assert_finished_at(&b, 0, 3);
  ck_assert_finished_at(&c, 0, 9);
  /* every source was asked for everything at once */
  ck_assert_int_eq(a.requested, RILL_UNBOUNDED);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_without_fn_moves_the_values_into_an_array) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1-2-3|"),
                               spy_new(&b, s, "--7-|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_uint_eq(r.values.len, 1);
  rill_value_t v = r.values.items[0];
  ck_assert_int_eq(v.kind, RILL_KIND_ARRAY);
  ck_assert_uint_eq(rill_array_len(v.as.array), 2);
  ck_assert_int_eq(tl_owned_int(rill_array_at(v.as.array, 0)), 3);
  ck_assert_int_eq(tl_owned_int(rill_array_at(v.as.array, 1)), 7);
  /* 1, 2 were released as newer values came; 3, 7 are in the array */
  ck_assert_int_eq(tl_owned_made - tl_owned_released, 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_holds_the_value_until_requested) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1|"), spy_new(&b, s, "--2|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_double_eq(rill_sched_now(s), 3);
  /* everything completed at 3, nothing requested: the array waits */
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_finished_at(&a, 0, 2);
  ck_assert_finished_at(&b, 0, 3);
  ck_assert_int_eq(tl_owned_made - tl_owned_released, 2);
  rill_sched_advance_by(s, 10);
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 1); /* value and completion now, at 13 */
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_cancel_while_holding_releases_the_value) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1|"), spy_new(&b, s, "--2|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  rec_cancel(&r);
  rec_cancel(&r);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_first_error_cancels_the_others_at_that_instant) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "-1----2|"),
                               spy_new(&b, s, "---#"),
                               spy_new(&c, s, "-5--------|")};
  a.owned = c.owned = true;
  rill_observable_t *o = rill_fork_join(src, 3, NULL, NULL);
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "---#");
  ck_assert_int_eq(mr.error_code, RILL_EUSER);
  ck_assert_cancelled_at(&a, 0, 3);
  ck_assert_finished_at(&b, 0, 3);
  ck_assert_cancelled_at(&c, 0, 3);
  ck_assert_owned_balanced(); /* 1 and 5 were held, then released */
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_error_keeps_code_and_message) {
  rill_observable_t *src[2] = {rill_range(0, 3),
                               rill_error(RILL_EAPP_BASE - 4, "disk on fire")};
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_EAPP_BASE - 4);
  ck_assert_str_eq(err.message, "disk on fire");
  ck_assert_uint_eq(got.len, 0);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

START_TEST(fork_join_source_without_value_completes_the_whole_at_once) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "-1---2|"), spy_new(&b, s, "--|"),
                               spy_new(&c, s, "-")};
  a.owned = true;
  rill_observable_t *o = rill_fork_join(src, 3, combine_digits, NULL);
  ck_assert_marble(s, o, 0, "--|");
  ck_assert_cancelled_at(&a, 0, 2);
  ck_assert_finished_at(&b, 0, 2);
  ck_assert_cancelled_at(&c, 0, 2);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(fork_join_of_nothing_completes_at_once_without_request) {
  rill_observable_t *o = rill_fork_join(NULL, 0, combine_digits, NULL);
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(fork_join_fn_failing_is_on_error_and_releases_the_values) {
  tl_owned_reset();
  rill_observable_t *src[3] = {owned_just(1), owned_just(2), owned_just(3)};
  rill_observable_t *o = rill_fork_join(src, 3, combine_fails, NULL);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_EAPP_BASE - 7);
  ck_assert_str_eq(err.stage, "fork_join");
  ck_assert_msg(strstr(err.message, "cannot combine 3 values") != NULL, "%s",
                err.message);
  rill_values_clear(&got);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(fork_join_cancel_from_inside_fn) {
  tl_owned_reset();
  rill_observable_t *src[2] = {owned_just(4), owned_just(5)};
  rill_observable_t *o = rill_fork_join(src, 2, combine_then_cancel, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rill_observable_subscribe(o, &target_sub, &r, NULL), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminals, 0);
  rill_observable_free(o);
  ck_assert_owned_balanced(); /* fn's inputs and its result */
}
END_TEST

START_TEST(fork_join_cancel_from_inside_on_next) {
  tl_owned_reset();
  rill_observable_t *src[2] = {owned_just(4), owned_just(5)};
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 5;
  r.cancel_at = 1;
  r.cancel_times = 2;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_NONE); /* no completion after the cancel */
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(fork_join_cancel_before_anything_ends) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1-2---|"),
                               spy_new(&b, s, "--5----|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_fork_join(src, 2, NULL, NULL);
  marble_result_t mr;
  marble_run_cancel(s, o, 0, 4, &mr);
  ck_assert_marble_result(&mr, "");
  ck_assert_cancelled_at(&a, 0, 4);
  ck_assert_cancelled_at(&b, 0, 4);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

/* Many synchronous sources: subscribed in a loop, not recursively. */
START_TEST(fork_join_of_many_sources_keeps_a_flat_stack) {
  size_t n = (size_t)tl_scaled(100000);
  rill_observable_t **src = malloc(n * sizeof(*src));
  for (size_t i = 0; i < n; i++)
    src[i] = rill_just(1, rill_value_int((int64_t)i));
  rill_observable_t *o = rill_fork_join(src, n, NULL, NULL);
  free(src);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(o, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 1);
  ck_assert_uint_eq(rill_array_len(got.items[0].as.array), n);
  ck_assert_int_eq(rill_array_at(got.items[0].as.array, n - 1).as.i,
                   (int64_t)n - 1);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

/* ---- all_settled ---------------------------------------------------------*/

static const rill_notification_t *note_at(rill_value_t arr, size_t i) {
  ck_assert_int_eq(arr.kind, RILL_KIND_ARRAY);
  const rill_notification_t *nt =
      rill_value_notification(rill_array_at(arr.as.array, i));
  ck_assert_ptr_nonnull(nt);
  return nt;
}

START_TEST(all_settled_records_every_outcome) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c, d;
  rill_observable_t *src[5] = {spy_new(&a, s, "-1-2|"), spy_new(&b, s, "--4-#"),
                               spy_new(&c, s, "---|"),
                               rill_error(RILL_EAPP_BASE - 9, "quota exceeded"),
                               spy_new(&d, s, "------(8|)")};
  a.owned = b.owned = d.owned = true;
  rill_observable_t *o = rill_all_settled(src, 5);
  ck_assert_str_eq(rill_observable_name(o), "all_settled");
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_double_eq(rill_sched_now(s), 6);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_uint_eq(r.values.len, 1);
  rill_value_t arr = r.values.items[0];
  ck_assert_uint_eq(rill_array_len(arr.as.array), 5);
  const rill_notification_t *nt = note_at(arr, 0);
  ck_assert_int_eq(nt->kind, RILL_NOTIFICATION_NEXT);
  ck_assert_int_eq(tl_owned_int(nt->value), 2); /* the last value */
  nt = note_at(arr, 1);
  ck_assert_int_eq(nt->kind, RILL_NOTIFICATION_ERROR);
  ck_assert_int_eq(nt->error.code, RILL_EUSER);
  ck_assert_str_eq(nt->error.message, "error");
  ck_assert_int_eq(nt->value.kind, RILL_KIND_NONE); /* 4 was released */
  nt = note_at(arr, 2);
  ck_assert_int_eq(nt->kind, RILL_NOTIFICATION_COMPLETE);
  nt = note_at(arr, 3);
  ck_assert_int_eq(nt->kind, RILL_NOTIFICATION_ERROR);
  ck_assert_int_eq(nt->error.code, RILL_EAPP_BASE - 9);
  ck_assert_str_eq(nt->error.message, "quota exceeded");
  nt = note_at(arr, 4);
  ck_assert_int_eq(nt->kind, RILL_NOTIFICATION_NEXT);
  ck_assert_int_eq(tl_owned_int(nt->value), 8);
  /* a failure is data: nobody was cancelled */
  ck_assert_finished_at(&a, 0, 4);
  ck_assert_finished_at(&b, 0, 4);
  ck_assert_finished_at(&c, 0, 3);
  ck_assert_finished_at(&d, 0, 6);
  ck_assert_int_eq(tl_owned_made - tl_owned_released, 2); /* 2 and 8 */
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(all_settled_emits_at_the_last_end_and_waits_for_demand) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "--#"), spy_new(&b, s, "-1---|")};
  rill_observable_t *o = rill_all_settled(src, 2);
  /* with demand: one value and the completion at 5 */
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "-----({-1}|)");
  rill_observable_free(o);
  /* without: held until requested */
  src[0] = spy_new(&a, s, "--#");
  src[1] = spy_new(&b, s, "-1---|");
  o = rill_all_settled(src, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(all_settled_of_nothing_is_an_empty_array) {
  rill_observable_t *o = rill_all_settled(NULL, 0);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_NONE); /* waits for a request */
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_uint_eq(r.values.len, 1);
  ck_assert_int_eq(r.values.items[0].kind, RILL_KIND_ARRAY);
  ck_assert_uint_eq(rill_array_len(r.values.items[0].as.array), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(all_settled_cancel_releases_what_it_holds) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1-|"),
                               spy_new(&b, s, "--2--|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_all_settled(src, 2);
  marble_result_t mr;
  marble_run_cancel(s, o, 0, 4, &mr); /* a ended, b holds 2 */
  ck_assert_marble_result(&mr, "");
  ck_assert_finished_at(&a, 0, 3);
  ck_assert_cancelled_at(&b, 0, 4);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  /* and from inside on_next: the array and its values go once */
  rill_observable_t *src2[2] = {owned_just(1), rill_error(RILL_EUSER, "x")};
  o = rill_all_settled(src2, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  finish(s);
}
END_TEST

START_TEST(all_settled_source_out_of_memory_fails_the_whole) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1---|"),
                               rill_error(RILL_ENOMEM, "no memory")};
  a.owned = true;
  rill_observable_t *o = rill_all_settled(src, 2);
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "#");
  ck_assert_int_eq(mr.error_code, RILL_ENOMEM);
  ck_assert_cancelled_at(&a, 0, 0);
  ck_assert_owned_balanced();
  rill_observable_free(o);
  finish(s);
}
END_TEST

/* ---- race ----------------------------------------------------------------*/

START_TEST(race_first_value_wins_and_losers_are_cancelled_at_that_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "------x----|"),
                               spy_new(&b, s, "---1--2--3|"),
                               spy_new(&c, s, "-----#")};
  rill_observable_t *o = rill_race(src, 3);
  ck_assert_str_eq(rill_observable_name(o), "race");
  ck_assert_marble(s, o, 0, "---1--2--3|");
  ck_assert_cancelled_at(&a, 0, 3);
  ck_assert_finished_at(&b, 0, 10);
  ck_assert_cancelled_at(&c, 0, 3);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(race_a_completion_or_an_error_wins_too) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  /* RxJS race-007: a completion wins */
  rill_observable_t *src[2] = {spy_new(&a, s, "-----|"),
                               spy_new(&b, s, "------x-----y|")};
  rill_observable_t *o = rill_race(src, 2);
  ck_assert_marble(s, o, 0, "-----|");
  ck_assert_finished_at(&a, 0, 5);
  ck_assert_cancelled_at(&b, 0, 5);
  rill_observable_free(o);
  finish(s);
  /* RxJS race-012: an error before any value wins */
  s = rill_sched_virtual_new();
  src[0] = spy_new(&a, s, "---#");
  src[1] = spy_new(&b, s, "------x-----y|");
  o = rill_race(src, 2);
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "---#");
  ck_assert_int_eq(mr.error_code, RILL_EUSER);
  ck_assert_finished_at(&a, 0, 3);
  ck_assert_cancelled_at(&b, 0, 3);
  rill_observable_free(o);
  finish(s);
}
END_TEST

/* Demand (RxJava amb): before a winner every request reaches every source;
 * after, the winner alone. */
START_TEST(race_demand_goes_to_all_then_to_the_winner) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "----1234|"),
                               spy_new(&b, s, "--5678|")};
  rill_observable_t *o = rill_race(src, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 2;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(a.requested, 2);
  ck_assert_int_eq(b.requested, 2);
  rec_request(&r, 1);
  ck_assert_int_eq(a.requested, 3);
  ck_assert_int_eq(b.requested, 3);
  rill_sched_advance_to(s, 2); /* b wins with 5 */
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_cancelled_at(&a, 0, 2);
  rec_request(&r, 4);
  ck_assert_int_eq(a.requested, 3);
  ck_assert_int_eq(b.requested, 7);
  settle(s);
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(rec_int(&r, 0), 5);
  ck_assert_int_eq(rec_int(&r, 3), 8);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(race_without_demand_a_terminal_still_wins) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "-1-2|"), spy_new(&b, s, "---|")};
  rill_observable_t *o = rill_race(src, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  /* a's values wait for demand (nothing signalled); b's completion wins */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_cancelled_at(&a, 0, 3);
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(race_won_during_subscribe_leaves_later_sources_unsubscribed) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy b;
  /* with demand up front, range emits inside its subscribe and wins */
  rill_observable_t *src[2] = {rill_range(1, 3), spy_new(&b, s, "-9|")};
  rill_observable_t *o = rill_race(src, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(b.subs, 0);
  rec_clear(&r);
  rill_observable_free(o);
  /* an empty source completes inside its subscribe, without demand */
  src[0] = rill_empty();
  src[1] = spy_new(&b, s, "-9|");
  o = rill_race(src, 2);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(b.subs, 0);
  rill_observable_free(o);
  /* without demand, range waits: the next source is subscribed */
  src[0] = rill_range(1, 3);
  src[1] = spy_new(&b, s, "-9|");
  o = rill_race(src, 2);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(b.subs, 1);
  rec_request(&r, 1); /* range, asked first, wins */
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 1);
  ck_assert_cancelled_at(&b, 0, 0);
  rec_request(&r, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(race_of_one_is_that_source_and_of_none_completes) {
  rill_observable_t *only = rill_range(0, 3);
  rill_observable_t *src[1] = {only};
  ck_assert_ptr_eq(rill_race(src, 1), only);
  rill_observable_free(only);
  rill_observable_t *o = rill_race(NULL, 0);
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE); /* at once, not a hang */
  ck_assert_int_eq(r.nexts, 0);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(race_cancel_from_inside_on_next_and_explicitly) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "--1-2-3|"),
                               spy_new(&b, s, "---4|")};
  a.owned = b.owned = true;
  rill_observable_t *o = rill_race(src, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  r.cancel_times = 2;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_cancelled_at(&a, 0, 4);
  ck_assert_cancelled_at(&b, 0, 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  finish(s);
  /* RxJS race-008: unsubscribed at 12 by the subscriber */
  s = rill_sched_virtual_new();
  src[0] = spy_new(&a, s, "---a-----b-----c----|");
  src[1] = spy_new(&b, s, "------x-----y-----z----|");
  o = rill_race(src, 2);
  marble_result_t mr;
  marble_run_cancel(s, o, 0, 12, &mr);
  ck_assert_marble_result(&mr, "---a-----b---");
  ck_assert_cancelled_at(&a, 0, 12);
  ck_assert_cancelled_at(&b, 0, 3);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  finish(s);
}
END_TEST

/* A fused filter downstream that drops the winner's value: the winner is
 * asked for one more, so the filter still gets what it asked for. */
static int is_odd(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i % 2 != 0;
}

START_TEST(race_a_value_dropped_downstream_is_asked_for_again) {
  rill_observable_t *src[2] = {rill_range(0, 10), rill_never()};
  rill_observable_t *o = rill_filter(rill_race(src, 2), is_odd, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 0), 1);
  ck_assert_int_eq(rec_int(&r, 1), 3);
  rec_request(&r, 10);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  /* the same through any */
  rill_observable_t *src2[2] = {rill_error(RILL_EUSER, "x"), rill_range(0, 10)};
  o = rill_filter(rill_any(src2, 2), is_odd, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 3);
  rec_request(&r, 10);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

/* ---- any -----------------------------------------------------------------*/

START_TEST(any_first_value_wins_errors_before_it_are_set_aside) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "-#"), spy_new(&b, s, "---5-6|"),
                               spy_new(&c, s, "-----7|")};
  rill_observable_t *o = rill_any(src, 3);
  ck_assert_str_eq(rill_observable_name(o), "any");
  ck_assert_marble(s, o, 0, "---5-6|");
  ck_assert_finished_at(&a, 0, 1);
  ck_assert_finished_at(&b, 0, 6);
  ck_assert_cancelled_at(&c, 0, 3);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_when_all_fail_one_error_says_how_many_and_the_first) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[3] = {
      spy_new(&a, s, "--#"), spy_new(&b, s, "-|"),
      rill_error(RILL_EAPP_BASE - 2, "mirror 3 refused")};
  rill_observable_t *o = rill_any(src, 3);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rill_sched_advance_to(s, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rill_sched_advance_to(s, 2); /* the last failure */
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 2); /* the first in time */
  ck_assert_str_eq(r.err.stage, "any");
  ck_assert_str_eq(r.err.message,
                   "any: all 3 sources failed; first: mirror 3 refused");
  ck_assert_finished_at(&a, 0, 2);
  ck_assert_finished_at(&b, 0, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_an_empty_completion_is_a_failure_with_eempty) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "---#"), spy_new(&b, s, "-|")};
  rill_observable_t *o = rill_any(src, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  settle(s);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EEMPTY);
  ck_assert_str_eq(r.err.message,
                   "any: all 2 sources failed; first: source 1 completed "
                   "without a value");
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_aggregated_message_is_cut_to_fit) {
  char longmsg[RILL_ERROR_MESSAGE_MAX];
  memset(longmsg, 'x', sizeof(longmsg) - 1);
  longmsg[sizeof(longmsg) - 1] = '\0';
  rill_observable_t *src[2] = {rill_error(RILL_ETIMEDOUT, longmsg),
                               rill_empty()};
  rill_observable_t *o = rill_any(src, 2);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_ETIMEDOUT);
  ck_assert_uint_eq(strlen(err.message), RILL_ERROR_MESSAGE_MAX - 1);
  ck_assert_msg(
      strncmp(err.message, "any: all 2 sources failed; first: xxx", 37) == 0,
      "%s", err.message);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

START_TEST(any_the_winner_is_mirrored_errors_included) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b;
  rill_observable_t *src[2] = {spy_new(&a, s, "--1-#"),
                               spy_new(&b, s, "-----2|")};
  rill_observable_t *o = rill_any(src, 2);
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "--1-#");
  ck_assert_int_eq(mr.error_code, RILL_EUSER); /* as it is, not aggregated */
  ck_assert_cancelled_at(&b, 0, 2);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_without_demand_nothing_wins_but_failures_count) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a, b, c;
  rill_observable_t *src[3] = {spy_new(&a, s, "-#"), spy_new(&b, s, "--1-|"),
                               spy_new(&c, s, "--2-|")};
  rill_observable_t *o = rill_any(src, 3);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_sched_advance_to(s, 3);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(b.requested, 0);
  rec_request(&r, 1); /* b, asked first, wins with its waiting value */
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 1);
  ck_assert_int_eq(c.requested, 0); /* b won inside its request */
  ck_assert_cancelled_at(&c, 0, 3);
  rec_request(&r, 1);
  settle(s);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_of_nothing_fails_at_once_with_eempty) {
  rill_observable_t *o = rill_any(NULL, 0);
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EEMPTY);
  ck_assert_str_eq(r.err.stage, "any");
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(any_source_out_of_memory_fails_the_whole) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct spy a;
  rill_observable_t *src[2] = {spy_new(&a, s, "--1|"),
                               rill_error(RILL_ENOMEM, "no memory")};
  rill_observable_t *o = rill_any(src, 2);
  marble_result_t mr;
  marble_run(s, o, 0, &mr);
  ck_assert_marble_result(&mr, "#");
  ck_assert_int_eq(mr.error_code, RILL_ENOMEM);
  ck_assert_cancelled_at(&a, 0, 0);
  rill_observable_free(o);
  finish(s);
}
END_TEST

START_TEST(any_of_many_failing_sources_keeps_a_flat_stack) {
  size_t n = (size_t)tl_scaled(100000);
  rill_observable_t **src = malloc((n + 1) * sizeof(*src));
  for (size_t i = 0; i < n; i++)
    src[i] = rill_error(RILL_EUSER, "no");
  src[n] = rill_just(1, rill_value_int(42));
  rill_observable_t *o = rill_any(src, n + 1);
  free(src);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(o, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 1);
  ck_assert_int_eq(got.items[0].as.i, 42);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

/* A filter predicate that, at its first call, asks the subscription (of
 * `req_rec`) for one more, then drops the value. */
static rec_t *req_rec;
static int req_calls;
static int pred_request_once(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  if (++req_calls == 1)
    rec_request(req_rec, 1);
  return 0;
}

/* Fuzz seed 107580 (tests/fuzz.c, --new 70): a request that reaches the
 * sources while an earlier request is being handed to them (made from a
 * callback of the first source) let the second source win inside it; the
 * outer request then stopped at the winner without asking it: the winner
 * had been asked for 1 of the unbounded demand and the stream stalled. */
START_TEST(race_and_any_a_winner_inside_a_nested_request_gets_it_all) {
  for (int which = 0; which < 2; which++) {
    rill_observable_t *src[2] = {
        rill_filter(rill_range(18, 5), pred_request_once, NULL),
        rill_range(100, 5)};
    rill_observable_t *o = which ? rill_any(src, 2) : rill_race(src, 2);
    rec_t r;
    rec_init(&r);
    req_rec = &r;
    req_calls = 0;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    rec_request(&r, RILL_UNBOUNDED);
    ck_assert_int_eq(r.nexts, 5); /* 100..104: all of the winner */
    ck_assert_int_eq(rec_int(&r, 4), 104);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(o);
  }
}
END_TEST

/* A create whose emitter a tap on_cancel hook (of a sibling) pushes into. */
static rill_emitter_t *hook_em;
static void hook_start(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  hook_em = e;
}
static void hook_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  (void)e;
  hook_em = NULL;
}
static void hook_push(void *ctx) {
  (void)ctx;
  if (hook_em != NULL)
    rill_emitter_next(hook_em, tl_owned(6));
}

/* Fuzz (tests/fuzz.c --new 80, seed 5179025, minimised): cancelling
 * race/any cancels the sources in order; a hook of the first that makes
 * the second emit (before its own cancel) made it win and its value went
 * downstream after the cancel. */
START_TEST(race_and_any_nothing_after_a_cancel_whatever_the_sources_do) {
  for (int which = 0; which < 2; which++) {
    tl_owned_reset();
    hook_em = NULL;
    rill_tap_hooks_t h = {.on_cancel = hook_push};
    rill_observable_t *src[2] = {rill_tap(rill_never(), &h, NULL),
                                 rill_create(hook_start, hook_end, NULL)};
    rill_observable_t *o = which ? rill_any(src, 2) : rill_race(src, 2);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    ck_assert_ptr_nonnull(hook_em);
    rec_cancel(&r);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_ptr_null(hook_em); /* both sources ended */
    ck_assert_rec_ok(&r);
    rill_observable_free(o);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(siblings_are_cancelled_before_the_signal_goes_downstream) {
  /* fork_join: b's error at 3; race and any: b's value at 3 */
  for (int which = 0; which < 3; which++) {
    rill_sched_t *s = rill_sched_virtual_new();
    struct spy a, b, c;
    rill_observable_t *src[3] = {spy_new(&a, s, "----1|"),
                                 spy_new(&b, s, which == 0 ? "---#" : "---9|"),
                                 spy_new(&c, s, "-------2|")};
    rill_observable_t *o = which == 0   ? rill_fork_join(src, 3, NULL, NULL)
                           : which == 1 ? rill_race(src, 3)
                                        : rill_any(src, 3);
    struct witness w = {.watch = {&a, &c}};
    ck_assert_int_eq(rill_observable_subscribe(o, &witness_sub, &w, NULL), 0);
    settle(s);
    ck_assert_int_ge(w.signals, 1);
    ck_assert_msg(w.ended_before[0] && w.ended_before[1],
                  "case %d: at the first signal a ended %d, c ended %d", which,
                  w.ended_before[0], w.ended_before[1]);
    ck_assert_cancelled_at(&a, 0, 3);
    ck_assert_cancelled_at(&c, 0, 3);
    rill_observable_free(o);
    finish(s);
  }
}
END_TEST

/* A value inside its subscribe (given demand), then nothing. */
static rill_observable_t *five_then_never(void) {
  rill_observable_t *parts[2] = {rill_just(1, rill_value_int(5)), rill_never()};
  return rill_concat(parts, 2);
}

START_TEST(a_synchronous_winner_leaves_later_sources_never_subscribed) {
  /* race: empty wins inside its subscribe, without a request */
  subscribed_count = 0;
  rill_observable_t *src[3] = {rill_empty(), counted(), counted()};
  rill_observable_t *o = rill_race(src, 3);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(subscribed_count, 0);
  rill_observable_free(o);
  /* race and any: a value inside its subscribe (demand up front), and the
   * winner goes on */
  for (int which = 0; which < 2; which++) {
    rill_observable_t *src2[3] = {rill_error(RILL_EUSER, "x"),
                                  five_then_never(), counted()};
    if (which == 0) { /* race: the error would win; put it last */
      rill_observable_free(src2[0]);
      src2[0] = five_then_never();
    }
    o = which == 0 ? rill_race(src2, 3) : rill_any(src2, 3);
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(r.nexts, 1);
    ck_assert_int_eq(subscribed_count, 0);
    rec_cancel(&r);
    rec_clear(&r);
    rill_observable_free(o);
  }
  /* fork_join: an error inside its subscribe */
  rill_observable_t *src3[3] = {rill_range(0, 2), rill_error(RILL_EUSER, "x"),
                                counted()};
  o = rill_fork_join(src3, 3, NULL, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(subscribed_count, 0);
  rill_observable_free(o);
}
END_TEST

/* ---- arguments -----------------------------------------------------------*/

typedef rill_observable_t *(*make_fn)(rill_observable_t *const *src, size_t n);
static rill_observable_t *mk_fork_join(rill_observable_t *const *src,
                                       size_t n) {
  return rill_fork_join(src, n, NULL, NULL);
}
static const make_fn makers[] = {mk_fork_join, rill_all_settled, rill_race,
                                 rill_any};

START_TEST(null_arguments_are_einval_and_release_the_sources) {
  make_fn mk = makers[_i];
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(mk(NULL, 2));
  ck_assert_int_eq(errno, EINVAL);
  /* one NULL among the sources: the others are released */
  rill_observable_t *one[1] = {NULL};
  errno = 0;
  ck_assert_ptr_null(mk(one, 1));
  ck_assert_int_eq(errno, EINVAL);
  rill_observable_t *two[2] = {owned_just(1), NULL};
  errno = 0;
  ck_assert_ptr_null(mk(two, 2));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  rill_observable_t *three[3] = {owned_just(1), NULL, owned_just(3)};
  errno = 0;
  ck_assert_ptr_null(mk(three, 3));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  /* a failed constructor's ENOMEM is kept */
  rill_observable_t *src[2] = {owned_just(1), NULL};
  errno = ENOMEM;
  ck_assert_ptr_null(mk(src, 2));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_owned_balanced();
  /* built and freed unsubscribed: the sources go with the recipe */
  rill_observable_t *src2[2] = {owned_just(1), owned_just(2)};
  rill_observable_free(mk(src2, 2));
  ck_assert_owned_balanced();
}
END_TEST

/* ---- ENOMEM at every allocation site --------------------------------------
 * Each pipeline runs on the virtual clock, first with no failure (the
 * reference: any terminal), then with allocation 0, 1, 2, ... failing in
 * turn.  Each run either fails with RILL_ENOMEM (NULL + errno, subscribe's
 * result, or on_error) or gives exactly the reference (values, times,
 * terminal and code); never a leak, an owned value unbalanced, a timer
 * left armed, or a protocol violation. */

#define SWEEP_MAXV 16

struct sweep {
  rill_sched_t *s;
  rill_subscription_t *sub;
  int64_t request_in_next; /* 0: unbounded up front */
  int64_t requested, nexts;
  size_t n;
  int64_t v[SWEEP_MAXV];
  double t[SWEEP_MAXV];
  int terminal; /* REC_* */
  int terminals;
  int code;
  double t_end;
  int violations;
};

static void sw_request(struct sweep *w, int64_t n) {
  if (w->terminal != REC_NONE)
    return;
  w->requested = w->requested > INT64_MAX - n ? INT64_MAX : w->requested + n;
  rill_subscription_request(w->sub, n);
}
static void sw_subscribe(void *ctx, rill_subscription_t *s) {
  struct sweep *w = ctx;
  w->sub = s;
  sw_request(w, w->request_in_next > 0 ? 1 : RILL_UNBOUNDED);
}
/* Arrays of ints (fork_join) and of notifications (all_settled) become
 * one int each, so that a value records what it carried. */
static int64_t sw_digest(rill_value_t v) {
  if (v.kind != RILL_KIND_ARRAY)
    return int_of(v);
  int64_t x = 7;
  for (size_t i = 0; i < rill_array_len(v.as.array); i++) {
    rill_value_t e = rill_array_at(v.as.array, i);
    const rill_notification_t *nt = rill_value_notification(e);
    int64_t d = nt == NULL ? int_of(e)
                : nt->kind == RILL_NOTIFICATION_NEXT
                    ? int_of(nt->value)
                    : (int64_t)nt->kind * 1000 + nt->error.code;
    x = x * 31 + d;
  }
  return x;
}
static void sw_next(void *ctx, rill_value_t v) {
  struct sweep *w = ctx;
  if (w->terminal != REC_NONE || w->nexts >= w->requested)
    w->violations++;
  w->nexts++;
  if (w->n < SWEEP_MAXV) {
    w->v[w->n] = sw_digest(v);
    w->t[w->n] = rill_sched_now(w->s);
    w->n++;
  }
  rill_value_release(v);
  if (w->request_in_next > 0)
    sw_request(w, w->request_in_next);
}
static void sw_end(struct sweep *w, int terminal, int code) {
  if (w->terminal != REC_NONE)
    w->violations++;
  w->terminal = terminal;
  w->terminals++;
  w->code = code;
  w->t_end = rill_sched_now(w->s);
}
static void sw_error(void *ctx, const rill_error_t *err) {
  sw_end(ctx, REC_ERROR, err->code);
}
static void sw_complete(void *ctx) {
  sw_end(ctx, REC_COMPLETE, 0);
}
static const rill_subscriber_t sweep_sub = {.on_subscribe = sw_subscribe,
                                            .on_next = sw_next,
                                            .on_error = sw_error,
                                            .on_complete = sw_complete};

/* Owned ints, reporting a failed box as RILL_ENOMEM. */
static int to_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  rill_value_t v = tl_owned(in.as.i);
  if (v.kind == RILL_KIND_NONE)
    return RILL_ENOMEM;
  *out = v;
  return 0;
}
static rill_observable_t *om(rill_sched_t *s, const char *marbles) {
  return rill_map(marble_cold(s, marbles), to_owned, NULL);
}

static rill_observable_t *sw_fork_join(rill_sched_t *s) {
  rill_observable_t *src[3] = {om(s, "-1-2|"), om(s, "--3|"), om(s, "---4-5|")};
  return rill_fork_join(src, 3, NULL, NULL);
}
static rill_observable_t *sw_fork_join_fn(rill_sched_t *s) {
  rill_observable_t *src[2] = {om(s, "-1-2|"), om(s, "--3|")};
  return rill_fork_join(src, 2, combine_digits, NULL);
}
static rill_observable_t *sw_fork_join_error(rill_sched_t *s) {
  rill_observable_t *src[3] = {om(s, "-1----2|"), om(s, "---#"),
                               om(s, "-5-----|")};
  return rill_fork_join(src, 3, NULL, NULL);
}
static rill_observable_t *sw_all_settled(rill_sched_t *s) {
  rill_observable_t *src[4] = {om(s, "-1-2|"), om(s, "--4#"), om(s, "---|"),
                               rill_error(RILL_EAPP_BASE - 1, "x")};
  return rill_all_settled(src, 4);
}
static rill_observable_t *sw_race(rill_sched_t *s) {
  rill_observable_t *src[3] = {om(s, "----1|"), om(s, "--2-3-4|"),
                               om(s, "---#")};
  return rill_race(src, 3);
}
static rill_observable_t *sw_race_error(rill_sched_t *s) {
  rill_observable_t *src[2] = {om(s, "----1|"), om(s, "---#")};
  return rill_race(src, 2);
}
static rill_observable_t *sw_any(rill_sched_t *s) {
  rill_observable_t *src[3] = {om(s, "-#"), om(s, "---5-6|"), om(s, "----7|")};
  return rill_any(src, 3);
}
static rill_observable_t *sw_any_all_fail(rill_sched_t *s) {
  rill_observable_t *src[3] = {om(s, "-#"), om(s, "--|"),
                               rill_error(RILL_EAPP_BASE - 3, "x")};
  return rill_any(src, 3);
}

struct sweep_case {
  const char *name;
  rill_observable_t *(*mk)(rill_sched_t *s);
};
static const struct sweep_case sweeps[] = {
    {"fork_join", sw_fork_join},
    {"fork_join_fn", sw_fork_join_fn},
    {"fork_join_error", sw_fork_join_error},
    {"all_settled", sw_all_settled},
    {"race", sw_race},
    {"race_error", sw_race_error},
    {"any", sw_any},
    {"any_all_fail", sw_any_all_fail},
};
#define NSWEEPS ((int)(sizeof(sweeps) / sizeof(sweeps[0])))

struct sweep_out {
  bool ctor_null;
  int sub_rc;
  struct sweep w;
  bool reached;
};

static void sweep_once(const struct sweep_case *c, int64_t one_by_one, long k,
                       struct sweep_out *out) {
  memset(out, 0, sizeof(*out));
  tl_owned_reset();
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_nonnull(s);
  tl_alloc_index = 0;
  tl_fail_at = k;
  errno = 0;
  rill_observable_t *o = c->mk(s);
  out->w.s = s;
  out->w.request_in_next = one_by_one;
  rill_subscription_t *h = NULL;
  if (o == NULL) {
    ck_assert_msg(errno == ENOMEM, "%s: site %ld: NULL with errno %d", c->name,
                  k, errno);
    out->ctor_null = true;
  } else {
    out->sub_rc = rill_observable_subscribe(o, &sweep_sub, &out->w, &h);
    if (out->sub_rc == 0)
      ck_assert_int_eq(rill_sched_run(s, 100000), 0);
    else
      ck_assert_int_eq(out->sub_rc, RILL_ENOMEM);
  }
  out->reached = tl_alloc_index > k;
  tl_fail_at = -1;
  bool hang = o != NULL && out->sub_rc == 0 && out->w.terminal == REC_NONE;
  if (h != NULL)
    rill_subscription_free(h);
  rill_observable_free(o);
  ck_assert_msg(!hang, "%s: site %ld: no terminal (a hang)", c->name, k);
  ck_assert_msg(out->w.violations == 0, "%s: site %ld: protocol violation",
                c->name, k);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "%s: site %ld: %ld blocks leaked", c->name, k,
                live - baseline);
  ck_assert_msg(tl_owned_made == tl_owned_released,
                "%s: site %ld: owned values: %ld made, %ld released", c->name,
                k, tl_owned_made, tl_owned_released);
}

static bool same_run(const struct sweep *a, const struct sweep *b) {
  if (a->n != b->n || a->terminal != b->terminal || a->code != b->code ||
      a->t_end != b->t_end)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i] != b->v[i] || a->t[i] != b->t[i])
      return false;
  return true;
}

START_TEST(every_allocation_failure_is_clean) {
  const struct sweep_case *c = &sweeps[_i];
  for (int64_t one_by_one = 0; one_by_one <= 1; one_by_one++) {
    struct sweep_out ref, x;
    sweep_once(c, one_by_one, -1, &ref);
    ck_assert_msg(ref.w.terminal != REC_NONE, "%s: no reference terminal",
                  c->name);
    long k;
    for (k = 0;; k++) {
      sweep_once(c, one_by_one, k, &x);
      if (!x.reached) {
        ck_assert_msg(same_run(&x.w, &ref.w), "%s: site %ld (none injected)",
                      c->name, k);
        break;
      }
      if (x.ctor_null || x.sub_rc == RILL_ENOMEM)
        continue;
      if (x.w.terminal == REC_ERROR && x.w.code == RILL_ENOMEM)
        continue;
      ck_assert_msg(same_run(&x.w, &ref.w),
                    "%s: site %ld: neither ENOMEM nor the reference (terminal "
                    "%d, code %s, %zu values)",
                    c->name, k, x.w.terminal, rill_err_name(x.w.code), x.w.n);
    }
    ck_assert_int_gt(k, 5);
  }
}
END_TEST

Suite *join_suite(void) {
  Suite *s = suite_create("join");
  TCase *tc = tcase_create("fork_join");
  tcase_add_test(tc, fork_join_emits_the_last_values_when_all_have_completed);
  tcase_add_test(tc, fork_join_without_fn_moves_the_values_into_an_array);
  tcase_add_test(tc, fork_join_holds_the_value_until_requested);
  tcase_add_test(tc, fork_join_cancel_while_holding_releases_the_value);
  tcase_add_test(tc, fork_join_first_error_cancels_the_others_at_that_instant);
  tcase_add_test(tc, fork_join_error_keeps_code_and_message);
  tcase_add_test(tc,
                 fork_join_source_without_value_completes_the_whole_at_once);
  tcase_add_test(tc, fork_join_of_nothing_completes_at_once_without_request);
  tcase_add_test(tc, fork_join_fn_failing_is_on_error_and_releases_the_values);
  tcase_add_test(tc, fork_join_cancel_from_inside_fn);
  tcase_add_test(tc, fork_join_cancel_from_inside_on_next);
  tcase_add_test(tc, fork_join_cancel_before_anything_ends);
  tcase_add_test(tc, fork_join_of_many_sources_keeps_a_flat_stack);
  suite_add_tcase(s, tc);
  tc = tcase_create("all_settled");
  tcase_add_test(tc, all_settled_records_every_outcome);
  tcase_add_test(tc, all_settled_emits_at_the_last_end_and_waits_for_demand);
  tcase_add_test(tc, all_settled_of_nothing_is_an_empty_array);
  tcase_add_test(tc, all_settled_cancel_releases_what_it_holds);
  tcase_add_test(tc, all_settled_source_out_of_memory_fails_the_whole);
  suite_add_tcase(s, tc);
  tc = tcase_create("race");
  tcase_add_test(
      tc, race_first_value_wins_and_losers_are_cancelled_at_that_instant);
  tcase_add_test(tc, race_a_completion_or_an_error_wins_too);
  tcase_add_test(tc, race_demand_goes_to_all_then_to_the_winner);
  tcase_add_test(tc, race_without_demand_a_terminal_still_wins);
  tcase_add_test(tc,
                 race_won_during_subscribe_leaves_later_sources_unsubscribed);
  tcase_add_test(tc, race_of_one_is_that_source_and_of_none_completes);
  tcase_add_test(tc, race_cancel_from_inside_on_next_and_explicitly);
  tcase_add_test(tc, race_a_value_dropped_downstream_is_asked_for_again);
  suite_add_tcase(s, tc);
  tc = tcase_create("any");
  tcase_add_test(tc, any_first_value_wins_errors_before_it_are_set_aside);
  tcase_add_test(tc, any_when_all_fail_one_error_says_how_many_and_the_first);
  tcase_add_test(tc, any_an_empty_completion_is_a_failure_with_eempty);
  tcase_add_test(tc, any_aggregated_message_is_cut_to_fit);
  tcase_add_test(tc, any_the_winner_is_mirrored_errors_included);
  tcase_add_test(tc, any_without_demand_nothing_wins_but_failures_count);
  tcase_add_test(tc, any_of_nothing_fails_at_once_with_eempty);
  tcase_add_test(tc, any_source_out_of_memory_fails_the_whole);
  tcase_add_test(tc, any_of_many_failing_sources_keeps_a_flat_stack);
  suite_add_tcase(s, tc);
  tc = tcase_create("together");
  tcase_add_test(tc, siblings_are_cancelled_before_the_signal_goes_downstream);
  tcase_add_test(tc, race_and_any_a_winner_inside_a_nested_request_gets_it_all);
  tcase_add_test(tc,
                 race_and_any_nothing_after_a_cancel_whatever_the_sources_do);
  tcase_add_test(tc,
                 a_synchronous_winner_leaves_later_sources_never_subscribed);
  suite_add_tcase(s, tc);
  tc = tcase_create("arguments");
  tcase_add_loop_test(tc, null_arguments_are_einval_and_release_the_sources, 0,
                      4);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, every_allocation_failure_is_clean, 0, NSWEEPS);
  suite_add_tcase(s, tc);
  return s;
}
