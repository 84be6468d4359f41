/* SPDX-License-Identifier: MIT */
/* rill tests: the higher-order family -- merge_map, concat_map,
 * switch_map, exhaust_map, concat_map_eager (src/flatten.c on src/kit/).
 *
 * What include/rill.h and operators/{merge_map,concat_map,switch_map,
 * exhaust_map,concat_map_eager}.c promise, checked here:
 *   - timing on the virtual clock as RxJS 7 (mergeMap, concatMap,
 *     switchMap, exhaustMap; Reactor flatMapSequential for the eager one):
 *     cases cited by id come from rxjs-marbles/{mergeMap,concatMap,
 *     switchMap}.json (there is no exhaustMap.json), including their
 *     subscription logs (when each inner was subscribed and let go);
 *   - errors: an outer or inner error, or fn failing (negative code, or 0
 *     without an observable), cancels everything else and is delivered
 *     once, at once, with fn's code and the operator's stage name;
 *   - cancel from on_next, from inside fn, twice: nothing afterwards, every
 *     timer gone (rill_sched_active() == 0), every source told;
 *   - ownership: owned values through the outer and the inners released
 *     exactly once on every path, including an inner switched away while
 *     it holds queued values;
 *   - demand: never more on_next than requested; the outer asked for at
 *     most max_concurrency plus one per ended inner; each inner asked for
 *     at most `prefetch` beyond what went downstream; no nested on_next;
 *   - a flat stack over a million synchronous inners;
 *   - ENOMEM at every allocation site.
 *
 * Sources: `tsrc` is a timed source scheduled like an RxJS TestScheduler
 * cold observable (every notification of a subscription is scheduled when
 * it is subscribed, so same-frame ties resolve as in RxJS), built on
 * rill_create and scheduler timers, and it logs each subscription (frame
 * subscribed, frame let go, cancelled or not).  `msrc` is a manual source
 * (rill_create) that the test pushes while reading the demand it sees.
 *
 * Tests that expose a library defect live in the "known_defects" case,
 * added only when RILL_TEST_KNOWN_DEFECTS is set in the environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* ---- the five operators --------------------------------------------------*/

enum op { OP_MERGE, OP_CONCAT, OP_SWITCH, OP_EXHAUST, OP_EAGER, NOPS };
static const char *const op_names[NOPS] = {
    "merge_map", "concat_map", "switch_map", "exhaust_map", "concat_map_eager"};

static rill_observable_t *op_make(int op, rill_observable_t *src,
                                  rill_flat_map_fn fn, void *ctx,
                                  size_t max_concurrency, size_t prefetch) {
  switch (op) {
  case OP_MERGE:
    return rill_merge_map(src, fn, ctx, max_concurrency, prefetch);
  case OP_CONCAT:
    return rill_concat_map(src, fn, ctx);
  case OP_SWITCH:
    return rill_switch_map(src, fn, ctx);
  case OP_EXHAUST:
    return rill_exhaust_map(src, fn, ctx);
  default:
    return rill_concat_map_eager(src, fn, ctx, max_concurrency, prefetch);
  }
}

static int64_t val_of(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

/* ---- tsrc: a timed source with a subscription log
 * --------------------------*/

#define TS_MAXEV 64
#define TS_MAXSUBS 16

struct tsrc;
struct tsub;
struct tev_arg {
  struct tsub *sub;
  int i;
};
struct tsub {
  struct tsrc *src;
  rill_emitter_t *e;
  rill_sched_timer_t *t[TS_MAXEV];
  struct tev_arg a[TS_MAXEV];
  double sub_at, end_at;
  bool ended, terminated, cancelled;
};
struct tsrc {
  rill_sched_t *s;
  marble_event_t ev[TS_MAXEV];
  int nev;
  bool owned; /* values as tl_owned */
  bool hot;   /* frames are absolute, not from the subscription */
  struct tsub subs[TS_MAXSUBS];
  int nsubs;
  rill_observable_t *obs;
};

static void tsub_stop(struct tsub *sub) {
  for (int i = 0; i < sub->src->nev; i++) {
    rill_sched_timer_free(sub->t[i]);
    sub->t[i] = NULL;
  }
}

static void tsrc_fire(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct tev_arg *a = arg;
  struct tsub *sub = a->sub;
  const marble_event_t *ev = &sub->src->ev[a->i];
  if (sub->ended)
    return;
  switch (ev->kind) {
  case 'n':
    rill_emitter_next(sub->e, sub->src->owned ? tl_owned(ev->value)
                                              : rill_value_int(ev->value));
    break;
  case '|':
    sub->terminated = true;
    rill_emitter_complete(sub->e);
    break;
  default:
    sub->terminated = true;
    rill_emitter_error(sub->e, RILL_EUSER, "error");
    break;
  }
}

static void tsrc_start(void *ctx, rill_emitter_t *e) {
  struct tsrc *src = ctx;
  ck_assert_int_lt(src->nsubs, TS_MAXSUBS);
  struct tsub *sub = &src->subs[src->nsubs++];
  memset(sub, 0, sizeof(*sub));
  sub->src = src;
  sub->e = e;
  double now = rill_sched_now(src->s);
  sub->sub_at = now;
  sub->end_at = -1;
  /* RxJS cold: all of a subscription's notifications are scheduled now,
   * in order (same-instant timers fire in the order they were started). */
  for (int i = 0; i < src->nev; i++) {
    double at = src->hot ? src->ev[i].at - now : src->ev[i].at;
    if (at < 0)
      continue;
    sub->a[i].sub = sub;
    sub->a[i].i = i;
    sub->t[i] = rill_sched_timer_new(src->s, tsrc_fire, &sub->a[i]);
    ck_assert_ptr_nonnull(sub->t[i]);
    rill_sched_timer_start(sub->t[i], at);
  }
}

static void tsrc_end(void *ctx, rill_emitter_t *e) {
  struct tsrc *src = ctx;
  for (int i = 0; i < src->nsubs; i++) {
    struct tsub *sub = &src->subs[i];
    if (sub->e == e && !sub->ended) {
      sub->ended = true;
      sub->cancelled = !sub->terminated;
      sub->end_at = rill_sched_now(src->s);
      tsub_stop(sub);
      return;
    }
  }
  ck_abort_msg("end() for an unknown emitter");
}

/* A source playing `marbles` (each value char is its int, as marble.h). */
static void tsrc_init(struct tsrc *src, rill_sched_t *s, const char *marbles,
                      bool owned) {
  memset(src, 0, sizeof(*src));
  src->s = s;
  src->owned = owned;
  src->nev = marble_parse(marbles, src->ev, TS_MAXEV);
  ck_assert_int_ge(src->nev, 0);
  src->obs = rill_create(tsrc_start, tsrc_end, src);
  ck_assert_ptr_nonnull(src->obs);
}

static void tsrc_fini(struct tsrc *src) {
  rill_observable_free(src->obs);
  src->obs = NULL;
}

/* RxJS subscription marbles: '^' subscribed, '!' let go; "(^!)" both in
 * one frame; "" never subscribed.  Checks subscription `i` of src. */
static void parse_subs(const char *m, double *sub, double *unsub) {
  double frame = 0, group = -1;
  *sub = *unsub = -1;
  for (const char *p = m; *p; p++) {
    double at = group >= 0 ? group : frame;
    switch (*p) {
    case ' ':
      continue;
    case '(':
      group = frame;
      break;
    case ')':
      group = -1;
      break;
    case '^':
      *sub = at;
      break;
    case '!':
      *unsub = at;
      break;
    default:
      break;
    }
    frame++; /* every character but ' ' is a frame, parentheses too */
  }
}

static void assert_subs(const struct tsrc *src, const char *name,
                        const char *const *want, int nwant) {
  int n = 0;
  for (int i = 0; i < nwant; i++)
    if (want[i][0] != '\0')
      n++;
  ck_assert_msg(src->nsubs == n, "%s: %d subscriptions, want %d", name,
                src->nsubs, n);
  for (int i = 0, k = 0; i < nwant; i++) {
    double sub, unsub;
    if (want[i][0] == '\0')
      continue;
    parse_subs(want[i], &sub, &unsub);
    const struct tsub *got = &src->subs[k++];
    ck_assert_msg(got->sub_at == sub,
                  "%s subscription %d: subscribed at %g, want %g (\"%s\")",
                  name, k - 1, got->sub_at, sub, want[i]);
    if (unsub >= 0)
      ck_assert_msg(got->ended && got->end_at == unsub,
                    "%s subscription %d: let go at %g, want %g (\"%s\")", name,
                    k - 1, got->ended ? got->end_at : -1.0, unsub, want[i]);
  }
}

#define ASSERT_SUBS(src, ...)                                                  \
  do {                                                                         \
    static const char *const want_[] = {__VA_ARGS__};                          \
    assert_subs((src), #src, want_, (int)(sizeof(want_) / sizeof(*want_)));    \
  } while (0)

/* fn for marble tests: a table from a value to a source. */
struct lookup {
  struct tsrc *by_value[128];
  struct tsrc *any; /* used for every value when set */
  int calls;
};

static int fn_lookup(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct lookup *l = ctx;
  l->calls++;
  int64_t x = val_of(v);
  struct tsrc *src = l->any;
  if (src == NULL && x >= 0 && x < 128)
    src = l->by_value[x];
  if (src == NULL)
    return RILL_EINVAL;
  *out = rill_observable_ref(src->obs);
  return 0;
}

/* Run op over outer with fn/lookup and compare. */
static void run_marble(rill_sched_t *s, rill_observable_t *obs,
                       const char *want, double cancel_at) {
  marble_result_t mr;
  if (cancel_at >= 0)
    marble_run_cancel(s, obs, 0, cancel_at, &mr);
  else
    marble_run(s, obs, 0, &mr);
  ck_assert_marble_result(&mr, want);
  ck_assert_int_le(mr.terminals, 1);
  ck_assert_int_eq(mr.active_after, 0);
}

/* ---- 1. virtual-time marbles --------------------------------------------*/

/* mergeMap-003: many outer values to many inner values, interleaved. */
START_TEST(merge_map_interleaves_timed_inners_mergeMap_003) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "----i---j---k---l---|", false);
  tsrc_init(&e1, s, "-a-------b-------c-------d-------|", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  run_marble(s, obs, "-----i---j---(ki)(lj)(ki)(lj)(ki)(lj)k---l---|", -1);
  ASSERT_SUBS(&x, "-^-------------------!", "---------^-------------------!",
              "-----------------^-------------------!",
              "-------------------------^-------------------!");
  ASSERT_SUBS(&e1, "^--------------------------------!");
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* mergeMap-011: concurrency 1 runs the inners one after the other. */
START_TEST(merge_map_concurrency_one_mergeMap_011) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "----i---j---k---l---|", false);
  tsrc_init(&e1, s, "-a-------b-------c---|", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 1, 0);
  run_marble(s, obs,
             "-----i---j---k---l-------i---j---k---l-------i---j---k---l---|",
             -1);
  ASSERT_SUBS(&x, "-^-------------------!",
              "---------------------^-------------------!",
              "-----------------------------------------^-------------------!");
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* mergeMap-012: concurrency 2 -- the third inner waits until one ends
 * (subscribed at frame 21, when the first completes). */
START_TEST(merge_map_concurrency_two_third_inner_waits_mergeMap_012) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "----i---j---k---l---|", false);
  tsrc_init(&e1, s, "-a-------b-------c---|", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 2, 0);
  run_marble(s, obs, "-----i---j---(ki)(lj)k---(li)j---k---l---|", -1);
  ASSERT_SUBS(&x, "-^-------------------!", "---------^-------------------!",
              "---------------------^-------------------!");
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* mergeMap-008: an inner throws while three others are live: all are let
 * go in that frame and the error arrives once. */
START_TEST(merge_map_inner_error_cancels_live_inners_mergeMap_008) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "----i---j---k---l-------#", false);
  tsrc_init(&e1, s, "-a-------b-------c-------d", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  run_marble(s, obs, "-----i---j---(ki)(lj)(ki)#", -1);
  ASSERT_SUBS(&x, "-^-----------------------!", "---------^---------------!",
              "-----------------^-------!", "-------------------------(^!)");
  ASSERT_SUBS(&e1, "^------------------------!");
  for (int i = 1; i < 4; i++)
    ck_assert(x.subs[i].cancelled);
  ck_assert(e1.subs[0].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* mergeMap-009: the outer throws while inners are live. */
START_TEST(merge_map_outer_error_cancels_inners_mergeMap_009) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "----i---j---k---l---|", false);
  tsrc_init(&e1, s, "-a-------b-------c-------d-------#", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  run_marble(s, obs, "-----i---j---(ki)(lj)(ki)(lj)(ki)#", -1);
  ASSERT_SUBS(&x, "-^-------------------!", "---------^-------------------!",
              "-----------------^---------------!",
              "-------------------------^-------!");
  ck_assert(x.subs[2].cancelled && x.subs[3].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* concatMap-003: inners in order, one at a time. */
START_TEST(concat_map_order_concatMap_003) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc inner, e1;
  tsrc_init(&e1, s, "-a---b---c---d---|", false);
  tsrc_init(&inner, s, "--i-j-k-l-|", false);
  struct lookup l = {.any = &inner};
  rill_observable_t *obs =
      rill_concat_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "---i-j-k-l---i-j-k-l---i-j-k-l---i-j-k-l-|", -1);
  ASSERT_SUBS(&inner, "-^---------!", "-----------^---------!",
              "---------------------^---------!",
              "-------------------------------^---------!");
  /* concat_map asks its outer 32 values ahead (operators/concat_map.c), so
   * it lets go of e1 at its completion, 17, as RxJS does. */
  ASSERT_SUBS(&e1, "^----------------!");
  rill_observable_free(obs);
  tsrc_fini(&inner);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* concatMap-013: the inner throws. */
START_TEST(concat_map_inner_error_concatMap_013) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc inner, e1;
  tsrc_init(&e1, s, "-a---b---c---d---|", false);
  tsrc_init(&inner, s, "--i-j-k-l-#", false);
  struct lookup l = {.any = &inner};
  rill_observable_t *obs =
      rill_concat_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "---i-j-k-l-#", -1);
  ASSERT_SUBS(&inner, "-^---------!");
  ASSERT_SUBS(&e1, "^----------!");
  ck_assert(e1.subs[0].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&inner);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* concatMap-014: the outer throws while an inner is live. */
START_TEST(concat_map_outer_error_concatMap_014) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc inner, e1;
  tsrc_init(&e1, s, "-a---b---c---d---#", false);
  tsrc_init(&inner, s, "--i-j-k-l-|", false);
  struct lookup l = {.any = &inner};
  rill_observable_t *obs =
      rill_concat_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "---i-j-k-l---i-j-#", -1);
  ASSERT_SUBS(&inner, "-^---------!", "-----------^-----!");
  ck_assert(inner.subs[1].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&inner);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* switchMap-002: a new outer value cancels the current inner (its source
 * sees the cancel at frame 19). */
START_TEST(switch_map_cancels_current_inner_switchMap_002) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, y, e1;
  tsrc_init(&x, s, "--a--b--c--d--e--|", false);
  tsrc_init(&y, s, "---f---g---h---i--|", false);
  tsrc_init(&e1, s, "---------x---------y---------|", false);
  struct lookup l = {0};
  l.by_value['x'] = &x;
  l.by_value['y'] = &y;
  rill_observable_t *obs =
      rill_switch_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "-----------a--b--c----f---g---h---i--|", -1);
  ASSERT_SUBS(&x, "---------^---------!");
  ASSERT_SUBS(&y, "-------------------^-----------------!");
  ASSERT_SUBS(&e1, "^----------------------------!");
  ck_assert(x.subs[0].cancelled);
  ck_assert(!y.subs[0].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&y);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* switchMap-004: the result is unsubscribed at frame 21. */
START_TEST(switch_map_unsubscribed_early_switchMap_004) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, y, e1;
  tsrc_init(&x, s, "--a--b--c--d--e--|", false);
  tsrc_init(&y, s, "---f---g---h---i--|", false);
  tsrc_init(&e1, s, "---------x---------y---------|", false);
  struct lookup l = {0};
  l.by_value['x'] = &x;
  l.by_value['y'] = &y;
  rill_observable_t *obs =
      rill_switch_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "-----------a--b--c----", 21);
  ASSERT_SUBS(&x, "---------^---------!");
  ASSERT_SUBS(&y, "-------------------^-!");
  ASSERT_SUBS(&e1, "^--------------------!");
  ck_assert(y.subs[0].cancelled && e1.subs[0].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&y);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* switchMap-008: the current inner throws; y is never subscribed. */
START_TEST(switch_map_inner_error_switchMap_008) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, y, e1;
  tsrc_init(&x, s, "--a--b--#--d--e--|", false);
  tsrc_init(&y, s, "---f---g---h---i--", false);
  tsrc_init(&e1, s, "---------x---------y---------|", false);
  struct lookup l = {0};
  l.by_value['x'] = &x;
  l.by_value['y'] = &y;
  rill_observable_t *obs =
      rill_switch_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "-----------a--b--#", -1);
  ASSERT_SUBS(&x, "---------^-------!");
  ASSERT_SUBS(&y, "");
  ASSERT_SUBS(&e1, "^----------------!");
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&y);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* exhaustMap (no RxJS case file): b and c arrive while x runs and are
 * dropped without calling fn; d, after x has completed, starts y. */
START_TEST(exhaust_map_drops_outer_values_while_inner_runs) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, y, e1;
  tsrc_init(&x, s, "--1--2--|", false);
  tsrc_init(&y, s, "-3-4|", false);
  /* frames:   a at 1, b at 3, c at 6 (x runs 1..9), d at 11 */
  tsrc_init(&e1, s, "-a-b--c----d-----|", false);
  struct lookup l = {0};
  l.by_value['a'] = &x;
  l.by_value['b'] = &y;
  l.by_value['c'] = &y;
  l.by_value['d'] = &y;
  rill_observable_t *obs =
      rill_exhaust_map(rill_observable_ref(e1.obs), fn_lookup, &l);
  run_marble(s, obs, "---1--2-----3-4--|", -1);
  ck_assert_int_eq(l.calls, 2); /* a and d only */
  ASSERT_SUBS(&x, "-^-------!");
  ASSERT_SUBS(&y, "-----------^---!");
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&y);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* concat_map_eager: both inners subscribed at once (frame 0), the second
 * finishes first, yet its value waits for the first inner: outer order.
 * merge_map on the same input gives arrival order. */
START_TEST(concat_map_eager_keeps_outer_order_with_concurrent_inners) {
  for (int eager = 0; eager < 2; eager++) {
    rill_sched_t *s = rill_sched_virtual_new();
    struct tsrc slow, fast, e1;
    tsrc_init(&slow, s, "----1|", false);
    tsrc_init(&fast, s, "-2|", false);
    tsrc_init(&e1, s, "(ab|)", false);
    struct lookup l = {0};
    l.by_value['a'] = &slow;
    l.by_value['b'] = &fast;
    rill_observable_t *obs =
        eager
            ? rill_concat_map_eager(rill_observable_ref(e1.obs), fn_lookup, &l,
                                    0, 0)
            : rill_merge_map(rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
    run_marble(s, obs, eager ? "----1(2|)" : "-2--1|", -1);
    ASSERT_SUBS(&slow, "^----!");
    ASSERT_SUBS(&fast, "^-!");
    rill_observable_free(obs);
    tsrc_fini(&slow);
    tsrc_fini(&fast);
    tsrc_fini(&e1);
    ck_assert_int_eq(rill_sched_free(s), 0);
  }
}
END_TEST

/* concat_map_eager with max_concurrency 2: the third inner is subscribed
 * only when one of the first two has ended and drained. */
START_TEST(concat_map_eager_limit_two_third_inner_waits) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc slow, fast, third, e1;
  tsrc_init(&slow, s, "----1|", false);
  tsrc_init(&fast, s, "-2|", false);
  tsrc_init(&third, s, "-3|", false);
  tsrc_init(&e1, s, "(abc|)", false);
  struct lookup l = {0};
  l.by_value['a'] = &slow;
  l.by_value['b'] = &fast;
  l.by_value['c'] = &third;
  rill_observable_t *obs =
      rill_concat_map_eager(rill_observable_ref(e1.obs), fn_lookup, &l, 2, 0);
  /* fast ends at 2 but its value waits for slow (frame 5): only then are
   * both retired and c subscribed; 3 at 6, complete at 7. */
  run_marble(s, obs, "----123|", -1);
  ASSERT_SUBS(&slow, "^----!");
  ASSERT_SUBS(&fast, "^-!");
  ASSERT_SUBS(&third, "-----^-!");
  rill_observable_free(obs);
  tsrc_fini(&slow);
  tsrc_fini(&fast);
  tsrc_fini(&third);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- msrc: manual sources and a recorder with a hook --------------------*/

#define TAG 1000000 /* inner i pushes i * TAG + k */
#define MS_MAX 512

struct msrc {
  rill_emitter_t *e;
  int id;
  int starts, ends;
  bool live;
  bool completed; /* we completed or failed it */
  bool owned;
  int64_t pushed;
  int64_t got;            /* of its values, how many went downstream */
  int64_t max_excess;     /* max of outstanding + queued - prefetch seen */
  long released_at_start; /* tl_owned_released when start() ran */
};

static void msrc_start(void *ctx, rill_emitter_t *e) {
  struct msrc *m = ctx;
  m->e = e;
  m->starts++;
  m->live = true;
  m->released_at_start = tl_owned_released;
}

static void msrc_end(void *ctx, rill_emitter_t *e) {
  (void)e;
  struct msrc *m = ctx;
  m->ends++;
  m->live = false;
  m->e = NULL;
}

static rill_observable_t *msrc_obs(struct msrc *m, int id, bool owned) {
  memset(m, 0, sizeof(*m));
  m->id = id;
  m->owned = owned;
  rill_observable_t *o = rill_create(msrc_start, msrc_end, m);
  return o;
}

/* What the source may push now (outstanding demand; 0 once ended). */
static int64_t msrc_demand(const struct msrc *m) {
  return m->live ? rill_emitter_demand(m->e) : 0;
}

static void msrc_push(struct msrc *m, int64_t x) {
  ck_assert(m->live);
  m->pushed++;
  rill_emitter_next(m->e, m->owned ? tl_owned(x) : rill_value_int(x));
}

static void msrc_push_tagged(struct msrc *m) {
  msrc_push(m, (int64_t)m->id * TAG + m->pushed);
}

static void msrc_complete(struct msrc *m) {
  ck_assert(m->live);
  m->completed = true;
  rill_emitter_complete(m->e);
}

static void msrc_error(struct msrc *m, int code) {
  ck_assert(m->live);
  m->completed = true;
  rill_emitter_error(m->e, code, "inner failed");
}

/* The world of a manual test: one outer, the inners fn made. */
struct world {
  struct msrc outer;
  struct msrc inner[MS_MAX];
  int ninner;
  int fn_calls;
  bool owned;
  int64_t fail_on;    /* fn fails on this outer value; -1: never */
  int fail_code;      /* < 0: return it; 0: return 0 without an observable */
  bool fail_with_obs; /* store an observable before failing */
  int64_t cancel_on;  /* fn cancels on this value; -1 never */
  rill_subscription_t **cancel_s; /* ... through this handle, twice */
  bool *cancelled_flag;
};

static void world_init(struct world *w, bool owned) {
  memset(w, 0, sizeof(*w));
  w->owned = owned;
  w->fail_on = -1;
  w->cancel_on = -1;
}

static int fn_world(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct world *w = ctx;
  int64_t x = val_of(v);
  w->fn_calls++;
  if (x == w->cancel_on && w->cancel_s != NULL) {
    rill_subscription_cancel(*w->cancel_s);
    rill_subscription_cancel(*w->cancel_s);
    if (w->cancelled_flag)
      *w->cancelled_flag = true;
  }
  if (x == w->fail_on) {
    if (w->fail_with_obs)
      *out = rill_never();
    return w->fail_code;
  }
  ck_assert_int_lt(w->ninner, MS_MAX);
  int id = w->ninner++;
  *out = msrc_obs(&w->inner[id], id, w->owned);
  return *out ? 0 : RILL_ENOMEM;
}

/* A recorder with the checks of testlib's rec_t (it is one, first member,
 * so rec_request/rec_cancel work) plus a hook run inside on_next. */
typedef struct frec {
  rec_t r;
  struct world *w;
  void (*hook)(struct frec *f, int64_t x);
  int64_t last_of[MS_MAX]; /* per inner, the last index seen (order) */
  int order_errors;
  int64_t last_tag; /* eager: the inner of the last value */
  bool eager_order;
} frec_t;

static void f_violate(rec_t *r, const char *what) {
  if (r->violations++ == 0)
    snprintf(r->violation, sizeof(r->violation), "%s", what);
}

static void f_on_subscribe(void *ctx, rill_subscription_t *s) {
  frec_t *f = ctx;
  rec_t *r = &f->r;
  if (r->subscribes++ > 0)
    f_violate(r, "second on_subscribe (1.9)");
  r->s = s;
  if (r->cancel_on_subscribe) {
    rill_subscription_cancel(s);
    r->cancelled = true;
    return;
  }
  /* three requests in a row: additive, re-entrant (3.2) */
  if (r->request_on_subscribe > 0)
    for (int i = 0; i < 3; i++)
      rec_request(r, r->request_on_subscribe);
}

static void f_on_next(void *ctx, rill_value_t v) {
  frec_t *f = ctx;
  rec_t *r = &f->r;
  int here;
  uintptr_t at = (uintptr_t)&here;
  if (r->stack_lo == 0 || at < r->stack_lo)
    r->stack_lo = at;
  if (at > r->stack_hi)
    r->stack_hi = at;
  if (r->terminal != REC_NONE)
    f_violate(r, "on_next after terminal (1.7)");
  if (r->cancelled)
    f_violate(r, "on_next after cancel returned");
  if (r->nexts >= r->requested)
    f_violate(r, "on_next beyond demand (1.1)");
  if (r->depth > 0)
    f_violate(r, "on_next nested in on_next (1.3/3.3)");
  r->depth++;
  if (r->depth > r->max_depth)
    r->max_depth = r->depth;
  r->nexts++;
  int64_t x = val_of(v);
  if (f->w != NULL && x >= 0) {
    int64_t id = x / TAG, k = x % TAG;
    if (id < f->w->ninner) {
      f->w->inner[id].got++;
      if (k != f->last_of[id])
        f->order_errors++;
      f->last_of[id] = k + 1;
      if (f->eager_order && id < f->last_tag)
        f->order_errors++;
      f->last_tag = id;
    }
  }
  if (r->store) {
    if (r->values.len == r->values.cap) {
      size_t cap = r->values.cap ? r->values.cap * 2 : 64;
      r->values.items = realloc(r->values.items, cap * sizeof(rill_value_t));
      r->values.cap = cap;
    }
    r->values.items[r->values.len++] = v;
  } else {
    rill_value_release(v);
  }
  if (f->hook)
    f->hook(f, x);
  if (r->cancel_at > 0 && r->nexts == r->cancel_at) {
    int times = r->cancel_times > 0 ? r->cancel_times : 1;
    for (int i = 0; i < times; i++)
      rill_subscription_cancel(r->s);
    rill_subscription_request(r->s, 1);
    r->cancelled = true;
  } else if (r->request_in_next > 0) {
    rec_request(r, r->request_in_next);
  }
  r->depth--;
}

static void f_terminal(rec_t *r, enum rec_terminal t) {
  if (r->terminal != REC_NONE)
    f_violate(r, "second terminal signal (1.7)");
  if (r->depth > 0)
    f_violate(r, "terminal signal nested in on_next (1.3)");
  if (r->cancelled)
    f_violate(r, "terminal signal after cancel");
  r->terminal = t;
  r->terminals++;
}

static void f_on_error(void *ctx, const rill_error_t *err) {
  frec_t *f = ctx;
  f_terminal(&f->r, REC_ERROR);
  f->r.err = *err;
}

static void f_on_complete(void *ctx) {
  frec_t *f = ctx;
  f_terminal(&f->r, REC_COMPLETE);
}

static const rill_subscriber_t frec_sub = {
    .on_subscribe = f_on_subscribe,
    .on_next = f_on_next,
    .on_error = f_on_error,
    .on_complete = f_on_complete,
};

static void frec_init(frec_t *f, struct world *w) {
  memset(f, 0, sizeof(*f));
  rec_init(&f->r);
  f->w = w;
}

static int frec_subscribe(frec_t *f, rill_observable_t *obs) {
  return rill_observable_subscribe(obs, &frec_sub, f, NULL);
}

/* ---- 2. errors
 * --------------------------------------------------------------*/

/* How many inners may run at once under op (for these tests). */
static int live_inners(int op) {
  return op == OP_MERGE || op == OP_EAGER ? 3 : 1;
}

/* An inner error while the outer and other inners are live, with owned
 * values queued (no demand): on_error at once, once; every other source
 * let go (cancelled, not completed); every owned value released. */
START_TEST(inner_error_cancels_everything_and_arrives_at_once) {
  int op = _i;
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  int k = live_inners(op);
  for (int i = 0; i < k; i++)
    msrc_push(&w.outer, i);
  ck_assert_int_eq(w.ninner, k);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < 3; j++)
      msrc_push_tagged(&w.inner[i]);
  ck_assert_int_eq(f.r.nexts, 0);
  msrc_error(&w.inner[k - 1], RILL_EAPP_BASE - 5); /* the newest inner */
  ck_assert_int_eq(f.r.terminal, REC_ERROR);
  ck_assert_int_eq(f.r.terminals, 1);
  ck_assert_int_eq(f.r.err.code, RILL_EAPP_BASE - 5);
  ck_assert_int_eq(f.r.nexts, 0);
  ck_assert_int_eq(w.outer.ends, 1);
  ck_assert(!w.outer.live);
  for (int i = 0; i < k - 1; i++)
    ck_assert_msg(w.inner[i].ends == 1 && !w.inner[i].completed,
                  "%s: inner %d not cancelled", op_names[op], i);
  /* every queued value released at the error, not at the free */
  ck_assert_owned_balanced();
  rec_request(&f.r, 10);
  ck_assert_int_eq(f.r.nexts, 0);
  ck_assert_int_eq(f.r.terminals, 1);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* The outer fails while inners are live and hold queued values. */
START_TEST(outer_error_cancels_inners_and_arrives_at_once) {
  int op = _i;
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  rec_request(&f.r, 1);
  int k = live_inners(op);
  for (int i = 0; i < k; i++)
    msrc_push(&w.outer, i);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < 3; j++)
      msrc_push_tagged(&w.inner[i]);
  ck_assert_int_eq(f.r.nexts, 1);
  msrc_error(&w.outer, RILL_EUSER);
  ck_assert_int_eq(f.r.terminal, REC_ERROR);
  ck_assert_int_eq(f.r.err.code, RILL_EUSER);
  ck_assert_int_eq(f.r.nexts, 1);
  for (int i = 0; i < k; i++)
    ck_assert_msg(w.inner[i].ends == 1 && !w.inner[i].completed,
                  "%s: inner %d not cancelled", op_names[op], i);
  rec_clear(&f.r);
  ck_assert_owned_balanced();
  ck_assert_rec_ok(&f.r);
  rill_observable_free(obs);
}
END_TEST

/* fn fails (a negative code; with or without an observable stored first;
 * or 0 without an observable) on the second outer value, while the first
 * inner is live where the operator allows it: the error carries fn's code
 * and the stage name, the failing outer value is released, the live inner
 * and the outer are cancelled, nothing leaks. */
START_TEST(fn_failure_carries_code_and_stage_and_releases_the_value) {
  int op = _i % NOPS;
  int variant = _i / NOPS; /* 0: code; 1: code + observable; 2: 0, none */
  tl_alloc_install();
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  w.fail_on = 1;
  w.fail_code = variant == 2 ? 0 : RILL_EAPP_BASE - 42;
  w.fail_with_obs = variant == 1;
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  ck_assert_ptr_nonnull(obs);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  msrc_push(&w.outer, 0);
  ck_assert_int_eq(w.ninner, 1);
  bool inner_live = op == OP_MERGE || op == OP_EAGER || op == OP_SWITCH;
  if (!inner_live)
    msrc_complete(&w.inner[0]);
  ck_assert_int_gt(msrc_demand(&w.outer), 0);
  long released = tl_owned_released;
  msrc_push(&w.outer, 1);
  ck_assert_int_eq(w.fn_calls, 2);
  ck_assert_int_eq(f.r.terminal, REC_ERROR);
  ck_assert_int_eq(f.r.terminals, 1);
  if (variant == 2)
    ck_assert_int_lt(f.r.err.code, 0);
  else
    ck_assert_int_eq(f.r.err.code, RILL_EAPP_BASE - 42);
  ck_assert_str_eq(f.r.err.stage, op_names[op]);
  ck_assert_msg(strstr(f.r.err.message, op_names[op]) != NULL, "message \"%s\"",
                f.r.err.message);
  ck_assert_int_eq(tl_owned_released, released + 1); /* the outer value */
  ck_assert_int_eq(w.outer.ends, 1);
  ck_assert_int_eq(w.inner[0].ends, 1);
  if (inner_live)
    ck_assert(!w.inner[0].completed);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == 0, "%s: %ld blocks leaked", op_names[op], live);
}
END_TEST

/* The first outer value fails fn (nothing live yet). */
START_TEST(fn_failure_on_the_first_value) {
  int op = _i;
  tl_owned_reset();
  rill_value_t vals[3] = {tl_owned(0), tl_owned(1), tl_owned(2)};
  static struct world w;
  world_init(&w, true);
  w.fail_on = 0;
  w.fail_code = RILL_EAPP_BASE - 1;
  rill_observable_t *obs =
      op_make(op, rill_from_array(vals, 3), fn_world, &w, 0, 0);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(obs, &got, &err),
                   RILL_EAPP_BASE - 1);
  ck_assert_str_eq(err.stage, op_names[op]);
  ck_assert_int_eq(got.len, 0);
  ck_assert_int_eq(w.fn_calls, 1);
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* A null fn is EINVAL at construction, and the source is released. */
START_TEST(null_fn_is_einval_and_releases_the_source) {
  int op = _i;
  tl_alloc_install();
  errno = 0;
  ck_assert_ptr_null(op_make(op, rill_range(0, 3), NULL, NULL, 0, 0));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(op_make(op, NULL, fn_world, NULL, 0, 0));
  ck_assert(errno == EINVAL || errno == ENOMEM);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, 0);
}
END_TEST

/* ---- 3. cancel mid-flight -----------------------------------------------*/

/* Timed outer and inners; the subscriber cancels twice inside its second
 * on_next: nothing more is signalled, every timer is gone, every source
 * (outer and live inners) was let go. */
START_TEST(cancel_twice_from_on_next_with_timed_inners) {
  int op = _i;
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tl_owned_reset();
  tsrc_init(&x, s, "-1-2-3-4|", true);
  tsrc_init(&e1, s, "-a-b-c-|", true);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      op_make(op, rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  frec_t f;
  frec_init(&f, NULL);
  f.r.request_on_subscribe = RILL_UNBOUNDED;
  f.r.cancel_at = 2;
  f.r.cancel_times = 2;
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(f.r.nexts, 2);
  ck_assert_int_eq(f.r.terminal, REC_NONE);
  ck_assert_int_eq(rill_sched_active(s), 0);
  for (int i = 0; i < x.nsubs; i++)
    ck_assert_msg(x.subs[i].ended, "%s: inner %d not let go", op_names[op], i);
  ck_assert(e1.subs[0].ended && e1.subs[0].cancelled);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* fn cancels the subscription (twice) from inside, on the second outer
 * value, then returns an observable: it is released, nothing more is
 * signalled, no timer is left, nothing leaks. */
static rill_subscription_t *cancel_handle;
static bool cancel_done;
static struct tsrc *cancel_inner;
static int fn_cancel_on_b(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  if (val_of(v) == 'b') {
    rill_subscription_cancel(cancel_handle);
    rill_subscription_cancel(cancel_handle);
    cancel_done = true;
  }
  *out = rill_observable_ref(cancel_inner->obs);
  return 0;
}
static void ch_on_subscribe(void *ctx, rill_subscription_t *s) {
  cancel_handle = s;
  rec_t *r = ctx;
  r->subscribes++;
  r->s = s;
  rill_subscription_request(s, RILL_UNBOUNDED);
}
static void ch_on_next(void *ctx, rill_value_t v) {
  rec_t *r = ctx;
  if (cancel_done)
    r->violations++;
  r->nexts++;
  rill_value_release(v);
}
static void ch_on_error(void *ctx, const rill_error_t *e) {
  (void)e;
  ((rec_t *)ctx)->terminals++;
}
static void ch_on_complete(void *ctx) {
  ((rec_t *)ctx)->terminals++;
}
START_TEST(cancel_twice_from_inside_fn) {
  int op = _i;
  tl_alloc_install();
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "-1-2-3-4|", true);
  tsrc_init(&e1, s, "-a----------b-c-|", true);
  cancel_inner = &x;
  cancel_done = false;
  rill_observable_t *obs =
      op_make(op, rill_observable_ref(e1.obs), fn_cancel_on_b, NULL, 0, 0);
  static const rill_subscriber_t sub = {.on_subscribe = ch_on_subscribe,
                                        .on_next = ch_on_next,
                                        .on_error = ch_on_error,
                                        .on_complete = ch_on_complete};
  rec_t r;
  memset(&r, 0, sizeof(r));
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, &r, NULL), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert(cancel_done);
  ck_assert_int_eq(r.nexts, 4); /* the first inner ran to its end */
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(r.violations, 0);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(x.nsubs, 1); /* fn's observable never subscribed */
  ck_assert(e1.subs[0].ended && e1.subs[0].cancelled);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ck_assert_owned_balanced();
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == 0, "%s: %ld blocks leaked", op_names[op], live);
}
END_TEST

/* The same with an inner still live when fn cancels (merge, eager,
 * switch): the live inner is let go too. */
START_TEST(cancel_from_fn_lets_live_inners_go) {
  static const int ops[] = {OP_MERGE, OP_EAGER, OP_SWITCH};
  int op = ops[_i];
  tl_alloc_install();
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  frec_t f;
  frec_init(&f, &w);
  w.cancel_on = 1;
  w.cancel_s = &f.r.s;
  w.cancelled_flag = &f.r.cancelled;
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  msrc_push(&w.outer, 0);
  msrc_push_tagged(&w.inner[0]); /* queued: no demand */
  msrc_push(&w.outer, 1);
  ck_assert(f.r.cancelled);
  ck_assert_int_eq(w.outer.ends, 1);
  ck_assert_int_eq(w.inner[0].ends, 1);
  ck_assert_int_eq(w.inner[1].starts, 0); /* fn's observable: released */
  ck_assert_int_eq(f.r.nexts, 0);
  ck_assert_int_eq(f.r.terminals, 0);
  ck_assert_owned_balanced(); /* queued value released at the cancel */
  ck_assert_rec_ok(&f.r);
  rill_observable_free(obs);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == 0, "%s: %ld blocks leaked", op_names[op], live);
}
END_TEST

/* Cancel from outside while inners hold queued owned values: released at
 * the cancel; later pushes and requests change nothing. */
START_TEST(cancel_releases_queued_values_at_once) {
  int op = _i;
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  int k = live_inners(op);
  for (int i = 0; i < k; i++)
    msrc_push(&w.outer, i);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < 5; j++)
      msrc_push_tagged(&w.inner[i]);
  ck_assert_int_gt(tl_owned_made, tl_owned_released);
  rec_cancel(&f.r);
  ck_assert_owned_balanced();
  ck_assert_int_eq(w.outer.ends, 1);
  for (int i = 0; i < k; i++)
    ck_assert_int_eq(w.inner[i].ends, 1);
  ck_assert_int_eq(f.r.nexts, 0);
  ck_assert_int_eq(f.r.terminals, 0);
  rill_observable_free(obs);
}
END_TEST

/* Cancel through a handle the application keeps (rill_observable_subscribe's
 * `out`): by the time cancel returns, every inner and the outer have been
 * let go and no timer is left, although the handle is still held. */
START_TEST(cancel_through_a_kept_handle_stops_everything_at_once) {
  int op = _i;
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tl_owned_reset();
  tsrc_init(&x, s, "-1-2-3-4-5-6|", true);
  tsrc_init(&e1, s, "-a-b-c-----|", true);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      op_make(op, rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  frec_t f;
  frec_init(&f, NULL);
  rill_subscription_t *handle = NULL;
  ck_assert_int_eq(rill_observable_subscribe(obs, &frec_sub, &f, &handle), 0);
  rec_request(&f.r, 3); /* values wait in the operator */
  ck_assert_int_eq(rill_sched_advance_to(s, 8), 0);
  ck_assert_int_gt(x.nsubs, 0);
  ck_assert_int_eq(rill_subscription_cancel(handle), 0);
  f.r.cancelled = true;
  ck_assert_int_eq(rill_sched_active(s), 0);
  for (int i = 0; i < x.nsubs; i++)
    ck_assert_msg(x.subs[i].ended, "%s: inner %d still live after cancel",
                  op_names[op], i);
  ck_assert(e1.subs[0].ended);
  /* queued values released; only those the recorder holds are left */
  ck_assert_int_eq(tl_owned_made - tl_owned_released, (long)f.r.values.len);
  ck_assert_int_eq(rill_sched_advance_by(s, 50), 0);
  ck_assert_int_eq(f.r.terminals, 0);
  ck_assert_rec_ok(&f.r);
  rill_subscription_free(handle);
  rec_clear(&f.r);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- 4. ownership ---------------------------------------------------------*/

/* Owned outer values, each mapped to three owned inner values. */
static int fn_owned_triple(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  int64_t x = val_of(v);
  rill_value_t vals[3];
  for (int j = 0; j < 3; j++) {
    vals[j] = tl_owned(x * 10 + j);
    if (vals[j].kind == RILL_KIND_NONE) {
      for (int k = 0; k < j; k++)
        rill_value_release(vals[k]);
      return RILL_ENOMEM;
    }
  }
  *out = rill_from_array(vals, 3);
  return *out ? 0 : RILL_ENOMEM;
}

static rill_observable_t *owned_outer(int n) {
  rill_value_t vals[16];
  for (int i = 0; i < n; i++)
    vals[i] = tl_owned(i);
  return rill_from_array(vals, (size_t)n);
}

START_TEST(owned_values_released_once_on_complete_cancel_error) {
  int op = _i;
  for (int path = 0; path < 4; path++) {
    tl_owned_reset();
    rill_observable_t *outer = owned_outer(5);
    if (path == 2) { /* error after the values */
      rill_observable_t *parts[2] = {outer, rill_error(RILL_EUSER, "late")};
      outer = rill_concat(parts, 2);
    }
    rill_observable_t *obs = op_make(op, outer, fn_owned_triple, NULL, 2, 2);
    frec_t f;
    frec_init(&f, NULL);
    switch (path) {
    case 0: /* complete, unbounded */
    case 2:
      f.r.request_on_subscribe = RILL_UNBOUNDED;
      break;
    case 1: /* cancel in the 4th on_next, values queued */
      f.r.request_on_subscribe = 2;
      f.r.request_in_next = 1;
      f.r.cancel_at = 4;
      break;
    default: /* complete, request(1) at a time from outside */
      break;
    }
    ck_assert_int_eq(frec_subscribe(&f, obs), 0);
    for (int i = 0; path == 3 && i < 100 && f.r.terminal == REC_NONE; i++)
      rec_request(&f.r, 1);
    if (path == 0 || path == 3) {
      ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
      /* switch/exhaust over a synchronous outer keep only some inners:
       * the count is checked elsewhere; merge, concat, eager: all 15 */
      if (op == OP_MERGE || op == OP_CONCAT || op == OP_EAGER)
        ck_assert_int_eq(f.r.nexts, 15);
    } else if (path == 1) {
      ck_assert_int_eq(f.r.nexts, 4);
    } else {
      ck_assert_int_eq(f.r.terminal, REC_ERROR);
    }
    ck_assert_rec_ok(&f.r);
    rec_clear(&f.r);
    rill_observable_free(obs);
    ck_assert_msg(tl_owned_made == tl_owned_released,
                  "%s path %d: %ld made, %ld released", op_names[op], path,
                  tl_owned_made, tl_owned_released);
  }
}
END_TEST

/* concat_map and eager keep outer order (eager with 3 inners subscribed
 * at once, each holding at most 1); values are exact on completion. */
START_TEST(ordered_values_exact) {
  static const int ops[] = {OP_CONCAT, OP_EAGER, OP_EAGER};
  int op = ops[_i];
  tl_owned_reset();
  rill_observable_t *obs = op_make(op, owned_outer(6), fn_owned_triple, NULL,
                                   _i == 2 ? 0 : 3, _i == 2 ? 0 : 1);
  frec_t f;
  frec_init(&f, NULL);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  for (int i = 0; i < 100 && f.r.terminal == REC_NONE; i++)
    rec_request(&f.r, 1);
  ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(f.r.values.len, 18);
  for (int i = 0; i < 18; i++)
    ck_assert_int_eq(rec_int(&f.r, (size_t)i), (i / 3) * 10 + i % 3);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* switch_map cancels an inner that holds queued owned values (downstream
 * demand 0): they are released at the switch, the old inner's source sees
 * the cancel, and only the new inner's values are delivered afterwards. */
START_TEST(switch_map_switch_releases_the_old_inners_queue) {
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      rill_switch_map(msrc_obs(&w.outer, -1, true), fn_world, &w);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  ck_assert_int_eq(msrc_demand(&w.outer), RILL_UNBOUNDED);
  msrc_push(&w.outer, 0);
  for (int j = 0; j < 5; j++)
    msrc_push_tagged(&w.inner[0]);
  long released = tl_owned_released;
  msrc_push(&w.outer, 1);
  ck_assert_int_eq(w.inner[0].ends, 1);
  ck_assert(!w.inner[0].completed);
  ck_assert_int_eq(tl_owned_released, released + 1 + 5); /* outer + queue */
  /* released at the switch itself, before the new inner starts (not later,
   * when the call returns) */
  ck_assert_int_eq(w.inner[1].released_at_start, released + 1 + 5);
  msrc_push_tagged(&w.inner[1]);
  msrc_push_tagged(&w.inner[1]);
  rec_request(&f.r, 10);
  ck_assert_int_eq(f.r.nexts, 2);
  ck_assert_int_eq(w.inner[0].got, 0);
  ck_assert_int_eq(w.inner[1].got, 2);
  msrc_complete(&w.inner[1]);
  msrc_complete(&w.outer);
  ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(f.order_errors, 0);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* switch_map: the old inner's cancel (at the switch) runs a tap on_cancel
 * hook that cancels the whole subscription; the new inner, already made by
 * fn, must then not be subscribed (its callbacks never run). */
static rec_t *sw_rec;
static int sw_inner_calls;
static void sw_cancel_hook(void *ctx) {
  (void)ctx;
  rec_cancel(sw_rec);
}
static int sw_inner_map(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  sw_inner_calls++;
  *out = in;
  return 0;
}
static int sw_fn(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  if (v.as.i == 1) {
    rill_tap_hooks_t h = {.on_cancel = sw_cancel_hook};
    *out = rill_tap(rill_never(), &h, NULL);
  } else {
    *out = rill_map(rill_just(1, tl_owned(5)), sw_inner_map, NULL);
  }
  return 0;
}

/* Fuzz (tests/fuzz.c --new 60, seed 2189041, minimised). */
START_TEST(switch_map_cancel_from_the_old_inners_cancel) {
  tl_owned_reset();
  sw_inner_calls = 0;
  rill_observable_t *obs = rill_switch_map(rill_range(1, 2), sw_fn, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  sw_rec = &r;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(sw_inner_calls, 0); /* nothing after the cancel */
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* exhaust_map: outer values arriving while the inner is live (also while
 * it has ended but its values still wait for demand) are released unused,
 * without calling fn. */
START_TEST(exhaust_map_drops_and_releases_while_busy) {
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      rill_exhaust_map(msrc_obs(&w.outer, -1, true), fn_world, &w);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  msrc_push(&w.outer, 0);
  msrc_push_tagged(&w.inner[0]);
  msrc_push(&w.outer, 1); /* live: dropped */
  msrc_complete(&w.inner[0]);
  msrc_push(&w.outer, 2); /* ended, value queued: still busy */
  ck_assert_int_eq(w.fn_calls, 1);
  ck_assert_int_eq(tl_owned_released, 3); /* outer values 0, 1, 2 */
  rec_request(&f.r, 1);
  ck_assert_int_eq(f.r.nexts, 1);
  msrc_push(&w.outer, 3); /* idle now: a new inner */
  ck_assert_int_eq(w.fn_calls, 2);
  msrc_complete(&w.inner[1]);
  msrc_complete(&w.outer);
  ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- 5. demand ------------------------------------------------------------*/

static uint64_t rng_state;
static uint32_t rng(void) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(rng_state >> 33);
}

struct drive_cfg {
  int op;
  size_t maxc;     /* as given to the operator */
  size_t prefetch; /* as given */
  int64_t limit;   /* effective outer limit (RILL_UNBOUNDED: none) */
  int64_t pf;      /* effective prefetch */
};

/* Check, at a quiet point, what every source has been asked for. */
static void check_demand_bounds(const struct drive_cfg *c,
                                const struct world *w) {
  /* the outer: at most `limit` plus one per ended inner */
  int64_t od = msrc_demand(&w->outer);
  if (c->limit != RILL_UNBOUNDED && w->outer.live) {
    int ended = 0;
    for (int i = 0; i < w->ninner; i++)
      ended += w->inner[i].ends;
    ck_assert_msg(w->outer.pushed + od <= c->limit + ended,
                  "%s: outer asked for %lld in all, limit %lld + %d ended",
                  op_names[c->op], (long long)(w->outer.pushed + od),
                  (long long)c->limit, ended);
  }
  /* each inner: outstanding + held by the operator <= prefetch */
  for (int i = 0; i < w->ninner; i++) {
    const struct msrc *m = &w->inner[i];
    if (!m->live)
      continue;
    int64_t d = msrc_demand(m);
    int64_t held = m->pushed - m->got;
    if (c->pf != RILL_UNBOUNDED)
      ck_assert_msg(d + held <= c->pf,
                    "%s: inner %d asked for %lld with %lld held, prefetch "
                    "%lld",
                    op_names[c->op], i, (long long)d, (long long)held,
                    (long long)c->pf);
  }
}

/* A random schedule of pushes, completions and requests, honouring every
 * demand, with the bounds checked after every step; then everything is
 * drained and must arrive exactly once, in order per inner (and across
 * inners for concat/eager). */
static void drive_random(const struct drive_cfg *c, unsigned seed) {
  static struct world w;
  tl_owned_reset();
  world_init(&w, seed % 2 == 0);
  rng_state = seed;
  rill_observable_t *obs = op_make(c->op, msrc_obs(&w.outer, -1, w.owned),
                                   fn_world, &w, c->maxc, c->prefetch);
  static frec_t f;
  frec_init(&f, &w);
  f.eager_order = c->op == OP_CONCAT || c->op == OP_EAGER;
  if (seed % 3 == 0)
    f.r.request_in_next = 1;
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  int outer_values = 12;
  for (int step = 0; step < 400; step++) {
    uint32_t a = rng() % 10;
    if (a < 2) {
      if (w.outer.pushed < outer_values && msrc_demand(&w.outer) > 0)
        msrc_push(&w.outer, w.outer.pushed);
    } else if (a < 6) {
      if (w.ninner > 0) {
        struct msrc *m = &w.inner[rng() % (uint32_t)w.ninner];
        if (m->live && !m->completed && msrc_demand(m) > 0)
          msrc_push_tagged(m);
      }
    } else if (a < 7) {
      if (w.ninner > 0) {
        struct msrc *m = &w.inner[rng() % (uint32_t)w.ninner];
        if (m->live && !m->completed && m->pushed >= 3)
          msrc_complete(m);
      }
    } else {
      rec_request(&f.r, 1 + rng() % 3);
    }
    check_demand_bounds(c, &w);
    ck_assert_msg(f.r.violations == 0, "%s seed %u step %d: %s",
                  op_names[c->op], seed, step, f.r.violation);
  }
  /* finish: everything requested, every source completed */
  rec_request(&f.r, RILL_UNBOUNDED);
  for (int round = 0; round < 100 && f.r.terminal == REC_NONE; round++) {
    if (w.outer.live && !w.outer.completed) {
      if (w.outer.pushed < outer_values && msrc_demand(&w.outer) > 0)
        msrc_push(&w.outer, w.outer.pushed);
      else if (w.outer.pushed >= outer_values)
        msrc_complete(&w.outer);
    }
    for (int i = 0; i < w.ninner; i++)
      if (w.inner[i].live && !w.inner[i].completed) {
        if (w.inner[i].pushed < 3 && msrc_demand(&w.inner[i]) > 0)
          msrc_push_tagged(&w.inner[i]);
        else
          msrc_complete(&w.inner[i]);
      }
    check_demand_bounds(c, &w);
  }
  ck_assert_msg(f.r.terminal == REC_COMPLETE, "%s seed %u: not complete",
                op_names[c->op], seed);
  int64_t pushed = 0;
  for (int i = 0; i < w.ninner; i++) {
    /* switch: an inner switched away loses what it queued (released) */
    bool may_lose = c->op == OP_SWITCH && i < w.ninner - 1;
    ck_assert_msg(may_lose ? w.inner[i].got <= w.inner[i].pushed
                           : w.inner[i].got == w.inner[i].pushed,
                  "%s seed %u: inner %d pushed %lld, delivered %lld",
                  op_names[c->op], seed, i, (long long)w.inner[i].pushed,
                  (long long)w.inner[i].got);
    pushed += w.inner[i].got;
  }
  if (c->op == OP_MERGE || c->op == OP_CONCAT || c->op == OP_EAGER)
    ck_assert_int_eq(w.ninner, outer_values);
  ck_assert_int_eq(f.r.nexts, pushed);
  ck_assert_int_eq(f.order_errors, 0);
  ck_assert_int_le(f.r.max_depth, 1);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}

static const struct drive_cfg drive_cfgs[] = {
    {OP_MERGE, 2, 4, 2, 4},
    {OP_MERGE, 3, 1, 3, 1},
    {OP_MERGE, 0, 2, RILL_UNBOUNDED, 2},
    {OP_MERGE, 1, 0, 1, 128},
    /* concat_map: 32 outer values asked ahead, topped up by halves as
     * they are used: at most 32 + 1 per ended inner + the running one */
    {OP_CONCAT, 0, 0, 33, 128},
    {OP_SWITCH, 0, 0, RILL_UNBOUNDED, 128},
    {OP_EXHAUST, 0, 0, RILL_UNBOUNDED, 128},
    {OP_EAGER, 2, 3, 2, 3},
    {OP_EAGER, 0, 1, RILL_UNBOUNDED, 1},
    {OP_EAGER, 4, 2, 4, 2},
};
#define NDRIVE ((int)(sizeof(drive_cfgs) / sizeof(*drive_cfgs)))

START_TEST(random_schedules_respect_every_demand) {
  const struct drive_cfg *c = &drive_cfgs[_i];
  for (unsigned seed = 1; seed <= (unsigned)tl_scaled(60); seed++)
    drive_random(c, seed);
}
END_TEST

/* The outer is asked for exactly max_concurrency at first, and for one
 * more as each inner ends (merge_map, eager); switch/exhaust for
 * everything.  concat_map: see concat_map_asks_its_outer_ahead. */
START_TEST(outer_demand_is_limit_then_one_per_ended_inner) {
  static const struct {
    int op;
    size_t maxc;
    int64_t first;
  } cases[] = {{OP_MERGE, 3, 3},
               {OP_EAGER, 3, 3},
               {OP_MERGE, 0, RILL_UNBOUNDED},
               {OP_SWITCH, 0, RILL_UNBOUNDED},
               {OP_EXHAUST, 0, RILL_UNBOUNDED}};
  int op = cases[_i].op;
  static struct world w;
  world_init(&w, false);
  rill_observable_t *obs = op_make(op, msrc_obs(&w.outer, -1, false), fn_world,
                                   &w, cases[_i].maxc, 4);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  ck_assert_int_eq(msrc_demand(&w.outer), cases[_i].first);
  if (cases[_i].first != RILL_UNBOUNDED) {
    int64_t k = cases[_i].first;
    for (int64_t i = 0; i < k; i++)
      msrc_push(&w.outer, i);
    ck_assert_int_eq(msrc_demand(&w.outer), 0);
    /* an inner that ends with values still queued keeps its slot */
    msrc_push_tagged(&w.inner[0]);
    msrc_complete(&w.inner[0]);
    ck_assert_int_eq(msrc_demand(&w.outer), 0);
    rec_request(&f.r, 1);
    ck_assert_int_eq(msrc_demand(&w.outer), 1);
    msrc_push(&w.outer, k);
    ck_assert_int_eq(msrc_demand(&w.outer), 0);
    /* an empty inner that ends frees its slot at once */
    msrc_complete(&w.inner[w.ninner - 1]);
    if (op != OP_EAGER) /* eager: retired only when it is the oldest */
      ck_assert_int_eq(msrc_demand(&w.outer), 1);
  }
  rec_cancel(&f.r);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
}
END_TEST

/* concat_map asks its outer 32 values ahead (Reactor's prefetch), keeps
 * them until the running inner ends, and tops the outer up by 16 once 16
 * have been used. */
START_TEST(concat_map_asks_its_outer_ahead) {
  static struct world w;
  world_init(&w, false);
  rill_observable_t *obs =
      rill_concat_map(msrc_obs(&w.outer, -1, false), fn_world, &w);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  ck_assert_int_eq(msrc_demand(&w.outer), 32);
  for (int i = 0; i < 32; i++)
    msrc_push(&w.outer, i);
  ck_assert_int_eq(msrc_demand(&w.outer), 0);
  ck_assert_int_eq(w.ninner, 1); /* one inner at a time */
  for (int i = 0; i < 14; i++)
    msrc_complete(&w.inner[i]); /* 15 outer values used */
  ck_assert_int_eq(w.ninner, 15);
  ck_assert_int_eq(msrc_demand(&w.outer), 0);
  msrc_complete(&w.inner[14]); /* the 16th: top-up */
  ck_assert_int_eq(w.ninner, 16);
  ck_assert_int_eq(msrc_demand(&w.outer), 16);
  rec_cancel(&f.r);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
}
END_TEST

/* Each inner is asked for `prefetch` at subscription, and refilled by
 * what went downstream once half of it has. */
START_TEST(inner_asked_for_prefetch_then_refilled_by_half) {
  static const int ops[] = {OP_MERGE, OP_EAGER};
  int op = ops[_i];
  static struct world w;
  world_init(&w, false);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, false), fn_world, &w, 2, 4);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  msrc_push(&w.outer, 0);
  ck_assert_int_eq(msrc_demand(&w.inner[0]), 4);
  for (int i = 0; i < 4; i++)
    msrc_push_tagged(&w.inner[0]);
  ck_assert_int_eq(msrc_demand(&w.inner[0]), 0);
  rec_request(&f.r, 1);
  ck_assert_int_eq(msrc_demand(&w.inner[0]), 0);
  rec_request(&f.r, 1);
  ck_assert_int_eq(msrc_demand(&w.inner[0]), 2);
  rec_request(&f.r, 5);
  ck_assert_int_eq(msrc_demand(&w.inner[0]), 4);
  ck_assert_int_eq(f.r.nexts, 4);
  /* the default prefetch is 128 */
  static struct world w2;
  world_init(&w2, false);
  rill_observable_t *obs2 =
      op_make(op, msrc_obs(&w2.outer, -1, false), fn_world, &w2, 2, 0);
  frec_t f2;
  frec_init(&f2, &w2);
  ck_assert_int_eq(frec_subscribe(&f2, obs2), 0);
  msrc_push(&w2.outer, 0);
  ck_assert_int_eq(msrc_demand(&w2.inner[0]), 128);
  rec_cancel(&f2.r);
  rec_cancel(&f.r);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rec_clear(&f2.r);
  rill_observable_free(obs);
  rill_observable_free(obs2);
}
END_TEST

/* Several requests before any value: exactly their sum is delivered. */
START_TEST(several_requests_before_any_value) {
  int op = _i;
  static struct world w;
  world_init(&w, false);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, false), fn_world, &w, 0, 0);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  rec_request(&f.r, 2);
  rec_request(&f.r, 3);
  msrc_push(&w.outer, 0);
  for (int i = 0; i < 10; i++)
    msrc_push_tagged(&w.inner[0]);
  ck_assert_int_eq(f.r.nexts, 5);
  rec_request(&f.r, 1);
  ck_assert_int_eq(f.r.nexts, 6);
  rec_request(&f.r, RILL_UNBOUNDED);
  ck_assert_int_eq(f.r.nexts, 10);
  msrc_complete(&w.inner[0]);
  msrc_complete(&w.outer);
  ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(f.order_errors, 0);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
}
END_TEST

/* A subscriber whose on_next makes inners push (and the outer too) and
 * requests one more: nothing nests, nothing goes beyond demand. */
static int push_op;
static void push_some(struct world *w) {
  bool busy = false;
  for (int i = 0; i < w->ninner; i++) {
    struct msrc *m = &w->inner[i];
    if (m->live && !m->completed && msrc_demand(m) > 0) {
      msrc_push_tagged(m); /* may re-enter push_some through on_next */
      if (m->pushed >= 6 && m->live && !m->completed)
        msrc_complete(m);
    }
    busy |= m->live && !m->completed;
  }
  /* switch/exhaust: a new outer value only once the inner is done, so
   * that inners get to emit */
  if ((push_op == OP_SWITCH || push_op == OP_EXHAUST) && busy)
    return;
  if (w->outer.live && !w->outer.completed && msrc_demand(&w->outer) > 0 &&
      w->outer.pushed < 8)
    msrc_push(&w->outer, w->outer.pushed);
}
static void push_from_next(frec_t *f, int64_t x) {
  (void)x;
  if (f->r.nexts <= 200)
    push_some(f->w);
}
START_TEST(on_next_that_makes_inners_push_does_not_nest) {
  int op = _i;
  static struct world w;
  world_init(&w, true);
  tl_owned_reset();
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 2, 2);
  frec_t f;
  frec_init(&f, &w);
  f.hook = push_from_next;
  f.r.request_in_next = 1;
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  push_op = op;
  rec_request(&f.r, 1);
  msrc_push(&w.outer, 0);
  /* kicks from outside when the chain inside on_next stalls */
  for (int i = 0; i < 50 && f.r.nexts < 30; i++)
    push_some(&w);
  ck_assert_int_ge(f.r.nexts, op == OP_EXHAUST ? 12 : 30);
  ck_assert_int_eq(f.r.max_depth, 1);
  ck_assert_int_eq(f.order_errors, 0);
  ck_assert_rec_ok(&f.r);
  rec_cancel(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* request() from inside on_next while synchronous inners run: depth 1. */
START_TEST(request_one_per_on_next_over_synchronous_inners) {
  int op = _i;
  tl_owned_reset();
  rill_observable_t *obs =
      op_make(op, owned_outer(8), fn_owned_triple, NULL, 2, 1);
  frec_t f;
  frec_init(&f, NULL);
  f.r.request_on_subscribe = 1; /* three times: 3 */
  f.r.request_in_next = 1;
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
  if (op == OP_MERGE || op == OP_CONCAT || op == OP_EAGER)
    ck_assert_int_eq(f.r.nexts, 24);
  ck_assert_int_eq(f.r.max_depth, 1);
  ck_assert_rec_ok(&f.r);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- 5b. signals from inside on_next
 * ----------------------------------------*/

/* on_next makes the outer emit (a switch away from the inner that is
 * emitting, for switch_map), completes the emitting inner, or fails an
 * inner: the library must cope with its inner being released inside its
 * own emission, deliver a terminal only after on_next returns, and release
 * every owned value once. */
static int reentry_mode; /* 0: outer value every 2nd value; 1: complete the
                            emitting inner + outer value; 2: fail an inner */
static void reentry_hook(frec_t *f, int64_t x) {
  struct world *w = f->w;
  int64_t id = x / TAG;
  if (reentry_mode == 2) {
    if (f->r.nexts == 3) {
      for (int i = w->ninner - 1; i >= 0; i--)
        if (w->inner[i].live && !w->inner[i].completed) {
          msrc_error(&w->inner[i], RILL_EAPP_BASE - 9);
          break;
        }
    }
    return;
  }
  if (reentry_mode == 1 && id >= 0 && id < w->ninner && w->inner[id].live &&
      !w->inner[id].completed)
    msrc_complete(&w->inner[id]);
  if ((f->r.nexts % 2 == 0 || reentry_mode == 1) && w->outer.live &&
      !w->outer.completed && msrc_demand(&w->outer) > 0 && w->outer.pushed < 20)
    msrc_push(&w->outer, w->outer.pushed);
}

START_TEST(signals_from_inside_on_next) {
  int op = _i % NOPS;
  reentry_mode = _i / NOPS;
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 2, 2);
  frec_t f;
  frec_init(&f, &w);
  f.hook = reentry_hook;
  f.eager_order = op == OP_CONCAT || op == OP_EAGER;
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  rec_request(&f.r, RILL_UNBOUNDED);
  msrc_push(&w.outer, 0);
  for (int round = 0; round < 60 && f.r.terminal == REC_NONE; round++) {
    /* push into every inner that can take a value, from outside */
    for (int i = 0; i < w.ninner; i++)
      if (w.inner[i].live && !w.inner[i].completed &&
          msrc_demand(&w.inner[i]) > 0)
        msrc_push_tagged(&w.inner[i]);
    if (round % 3 == 2 && round < 40 && w.outer.live && !w.outer.completed &&
        msrc_demand(&w.outer) > 0 && w.outer.pushed < 20)
      msrc_push(&w.outer, w.outer.pushed);
    if (round == 40 && w.outer.live && !w.outer.completed)
      msrc_complete(&w.outer);
    if (round == 50)
      for (int i = 0; i < w.ninner; i++)
        if (w.inner[i].live && !w.inner[i].completed)
          msrc_complete(&w.inner[i]);
  }
  ck_assert_msg(f.r.violations == 0, "%s mode %d: %s", op_names[op],
                reentry_mode, f.r.violation);
  ck_assert_int_eq(f.order_errors, 0);
  ck_assert_int_eq(f.r.max_depth, 1);
  ck_assert_int_eq(f.r.terminals, 1);
  if (reentry_mode == 2) {
    ck_assert_int_eq(f.r.terminal, REC_ERROR);
    ck_assert_int_eq(f.r.err.code, RILL_EAPP_BASE - 9);
    ck_assert_int_eq(f.r.nexts, 3);
  } else {
    ck_assert_int_eq(f.r.terminal, REC_COMPLETE);
    ck_assert_int_gt(f.r.nexts, 5);
  }
  /* every inner was let go, no value of a cancelled inner came late */
  for (int i = 0; i < w.ninner; i++) {
    ck_assert_int_eq(w.inner[i].ends, w.inner[i].starts);
    ck_assert_int_le(w.inner[i].got, w.inner[i].pushed);
  }
  ck_assert_int_eq(w.outer.ends, 1);
  rec_clear(&f.r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* Synchronous inner shapes (concatMap-007/008/009 in spirit): every inner
 * empty completes with nothing; every inner never never ends; an error
 * inner fails the stream after the values before it. */
static int inner_shape;
static int fn_shape(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  int64_t x = val_of(v);
  switch (inner_shape) {
  case 0:
    *out = rill_empty();
    break;
  case 1:
    *out = rill_never();
    break;
  default:
    *out = x == 1 ? rill_error(RILL_EAPP_BASE - 3, "inner")
                  : rill_just(2, tl_owned(x * 10), tl_owned(x * 10 + 1));
    break;
  }
  return 0;
}
START_TEST(synchronous_inner_shapes) {
  int op = _i % NOPS;
  inner_shape = _i / NOPS;
  tl_owned_reset();
  rill_observable_t *obs = op_make(op, owned_outer(3), fn_shape, NULL, 0, 0);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  switch (inner_shape) {
  case 0:
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.nexts, 0);
    break;
  case 1:
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(r.nexts, 0);
    rec_cancel(&r);
    break;
  default:
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 3);
    if (op != OP_SWITCH && op != OP_EXHAUST) {
      ck_assert_int_eq(r.nexts, 2);
      ck_assert_int_eq(rec_int(&r, 0), 0);
      ck_assert_int_eq(rec_int(&r, 1), 1);
    }
    break;
  }
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* request(0) / request(-1) while inners are live and hold values: one
 * on_error(EINVAL), everything cancelled and released. */
START_TEST(bad_request_with_live_inners) {
  int op = _i % NOPS;
  int64_t bad = _i / NOPS ? -1 : 0;
  tl_owned_reset();
  static struct world w;
  world_init(&w, true);
  rill_observable_t *obs =
      op_make(op, msrc_obs(&w.outer, -1, true), fn_world, &w, 0, 0);
  frec_t f;
  frec_init(&f, &w);
  ck_assert_int_eq(frec_subscribe(&f, obs), 0);
  rec_request(&f.r, 1);
  msrc_push(&w.outer, 0);
  for (int j = 0; j < 4; j++)
    msrc_push_tagged(&w.inner[0]);
  ck_assert_int_eq(f.r.nexts, 1);
  rill_subscription_request(f.r.s, bad);
  ck_assert_int_eq(f.r.terminal, REC_ERROR);
  ck_assert_int_eq(f.r.err.code, RILL_EINVAL);
  ck_assert_int_eq(f.r.terminals, 1);
  ck_assert_int_eq(w.outer.ends, 1);
  ck_assert_int_eq(w.inner[0].ends, 1);
  rec_clear(&f.r);
  ck_assert_owned_balanced();
  ck_assert_rec_ok(&f.r);
  rill_observable_free(obs);
}
END_TEST

/* One recipe, two subscriptions at once (cold): each gets everything. */
START_TEST(two_subscriptions_of_one_recipe) {
  int op = _i;
  rill_sched_t *s = rill_sched_virtual_new();
  struct tsrc x, e1;
  tsrc_init(&x, s, "-1-2|", false);
  tsrc_init(&e1, s, "-a-------b|", false);
  struct lookup l = {.any = &x};
  rill_observable_t *obs =
      op_make(op, rill_observable_ref(e1.obs), fn_lookup, &l, 0, 0);
  frec_t f1, f2;
  frec_init(&f1, NULL);
  frec_init(&f2, NULL);
  f1.r.request_on_subscribe = RILL_UNBOUNDED;
  f2.r.request_on_subscribe = 1;
  f2.r.request_in_next = 1;
  ck_assert_int_eq(frec_subscribe(&f1, obs), 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 3), 0);
  ck_assert_int_eq(frec_subscribe(&f2, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(f1.r.nexts, 4);
  ck_assert_int_eq(f2.r.nexts, 4);
  ck_assert_int_eq(f1.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(f2.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(x.nsubs, 4);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_rec_ok(&f1.r);
  ck_assert_rec_ok(&f2.r);
  rec_clear(&f1.r);
  rec_clear(&f2.r);
  rill_observable_free(obs);
  tsrc_fini(&x);
  tsrc_fini(&e1);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- 5c. synchronous inners delivering straight downstream ----------------*/

static int fn_range_1000(void *ctx, rill_value_t v, rill_observable_t **out);

/* Inners that are plain synchronous sources (range, generate) with
 * unbounded demand may deliver downstream directly.  A cancel from on_next
 * in the middle of such an inner stops it at once; an error in one ends
 * the stream once; a fused filter or a take() after the operator keeps the
 * count exact. */
static int fn_range_10(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_range(val_of(v) * 100, 10);
  return *out ? 0 : RILL_ENOMEM;
}

struct failing_gen {
  int64_t i, fail_at;
};
static int fg_init(void *ctx, void **state) {
  struct failing_gen *g = malloc(sizeof(*g));
  if (g == NULL)
    return RILL_ENOMEM;
  g->i = 0;
  g->fail_at = (int64_t)(intptr_t)ctx;
  *state = g;
  return 0;
}
static int fg_next(void *state, rill_value_t *out) {
  struct failing_gen *g = state;
  if (g->i == g->fail_at)
    return RILL_EAPP_BASE - 11;
  if (g->i == 10)
    return 0;
  *out = tl_owned(g->i++);
  return 1;
}
static void fg_fini(void *state) {
  free(state);
}
static int fn_gen_fail_on_1(void *ctx, rill_value_t v,
                            rill_observable_t **out) {
  (void)ctx;
  *out = rill_generate(fg_init, fg_next, fg_fini,
                       (void *)(intptr_t)(val_of(v) == 1 ? 5 : -1));
  return *out ? 0 : RILL_ENOMEM;
}

START_TEST(cancel_in_the_middle_of_a_synchronous_inner) {
  int op = _i;
  rill_observable_t *obs =
      op_make(op, rill_range(0, 3), fn_range_1000, NULL, 0, 0);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1500;
  r.cancel_times = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 1500); /* inners of 1000 end in turn */
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(error_in_a_synchronous_inner) {
  int op = _i;
  tl_owned_reset();
  rill_observable_t *obs =
      op_make(op, rill_range(0, 3), fn_gen_fail_on_1, NULL, 0, 0);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.terminals, 1);
  ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 11);
  ck_assert_int_eq(r.nexts, 15);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(fused_filter_and_take_after_the_operator) {
  int op = _i % NOPS;
  bool take = _i / NOPS;
  rill_observable_t *obs = op_make(op, rill_range(0, 4), fn_range_10, NULL,
                                   _i % 2 ? 2 : 0, _i % 3 ? 0 : 3);
  obs = take ? rill_take(obs, 7) : rill_filter(obs, tl_is_even, NULL);
  for (int demand = 0; demand < 2; demand++) {
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = demand ? RILL_UNBOUNDED : 1;
    r.request_in_next = demand ? 0 : 1;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    if (op == OP_MERGE || op == OP_CONCAT || op == OP_EAGER ||
        (op == OP_SWITCH && demand)) {
      ck_assert_int_eq(r.nexts, take ? 7 : 20);
      if (op != OP_MERGE)
        for (size_t i = 0; i < r.values.len; i++) {
          int64_t want =
              take ? (int64_t)i : (int64_t)(i / 5) * 100 + (int64_t)(i % 5) * 2;
          ck_assert_int_eq(rec_int(&r, i), want);
        }
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(obs);
}
END_TEST

/* ---- 6. stack -------------------------------------------------------------*/

static int fn_just_same(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_just(1, rill_value_retain(v));
  return *out ? 0 : RILL_ENOMEM;
}

static int fn_range_1000(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  (void)v;
  *out = rill_range(0, 1000);
  return *out ? 0 : RILL_ENOMEM;
}

#define STACK_SPAN_MAX (64 * 1024)

/* concat_map / merge_map over range(0, N) with synchronous one-value
 * inners: N values, one completion, a flat stack -- with unbounded demand
 * and with request(1) from every on_next. */
START_TEST(million_synchronous_inners_keep_the_stack_flat) {
  int variant = _i; /* 0 concat unbounded, 1 concat req1, 2 merge unb, 3
                       merge(8) req1, 4 eager(8) req1 */
  int64_t n = tl_scaled(1000000);
  rill_observable_t *src = rill_range(0, n);
  rill_observable_t *obs =
      variant < 2 ? rill_concat_map(src, fn_just_same, NULL)
      : variant == 4
          ? rill_concat_map_eager(src, fn_just_same, NULL, 8, 0)
          : rill_merge_map(src, fn_just_same, NULL, variant == 2 ? 0 : 8, 0);
  rec_t r;
  rec_init(&r);
  r.store = false;
  bool req1 = variant == 1 || variant >= 3;
  r.request_on_subscribe = req1 ? 1 : RILL_UNBOUNDED;
  r.request_in_next = req1 ? 1 : 0;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < STACK_SPAN_MAX,
                "variant %d: on_next frames spread over %lu bytes", variant,
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* switch_map / merge_map / concat_map whose inner is range(0, 1000) per
 * outer value: every value, a flat stack. */
START_TEST(range_inners_keep_the_stack_flat) {
  int variant = _i; /* 0 switch, 1 merge(0), 2 merge(2) req1, 3 switch req1,
                       4 exhaust, 5 concat req1 */
  int64_t n = tl_scaled(2000);
  rill_observable_t *src = rill_range(0, n);
  rill_observable_t *obs;
  switch (variant) {
  case 0:
  case 3:
    obs = rill_switch_map(src, fn_range_1000, NULL);
    break;
  case 1:
    obs = rill_merge_map(src, fn_range_1000, NULL, 0, 0);
    break;
  case 2:
    obs = rill_merge_map(src, fn_range_1000, NULL, 2, 16);
    break;
  case 4:
    obs = rill_exhaust_map(src, fn_range_1000, NULL);
    break;
  default:
    obs = rill_concat_map(src, fn_range_1000, NULL);
    break;
  }
  rec_t r;
  rec_init(&r);
  r.store = false;
  bool req1 = variant == 2 || variant == 3 || variant == 5;
  r.request_on_subscribe = req1 ? 1 : RILL_UNBOUNDED;
  r.request_in_next = req1 ? 1 : 0;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n * 1000);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < STACK_SPAN_MAX,
                "variant %d: on_next frames spread over %lu bytes", variant,
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* ---- 7. ENOMEM at every allocation site
 * ------------------------------------*/

/* The outer: owned values 0..n-1 made in next() (ENOMEM reported). */
static int og_init(void *ctx, void **state) {
  int64_t *i = malloc(2 * sizeof(*i));
  if (i == NULL)
    return RILL_ENOMEM;
  i[0] = 0;
  i[1] = (int64_t)(intptr_t)ctx;
  *state = i;
  return 0;
}
static int og_next(void *state, rill_value_t *out) {
  int64_t *i = state;
  if (i[0] == i[1])
    return 0;
  rill_value_t v = tl_owned(i[0]);
  if (v.kind == RILL_KIND_NONE)
    return RILL_ENOMEM;
  i[0]++;
  *out = v;
  return 1;
}
static void og_fini(void *state) {
  free(state);
}

static rill_observable_t *enomem_pipeline(int op) {
  rill_observable_t *src =
      rill_generate(og_init, og_next, og_fini, (void *)(intptr_t)5);
  return op_make(op, src, fn_owned_triple, NULL, 2, 2);
}

/* mode 0: unbounded; 1: request(1) from outside; 2: request(1) from
 * on_next.  Returns the terminal; values in f. */
static int enomem_run(int op, int mode, frec_t *f, bool *null_obs) {
  rill_observable_t *obs = enomem_pipeline(op);
  *null_obs = obs == NULL;
  frec_init(f, NULL);
  if (obs == NULL) {
    ck_assert_msg(errno == ENOMEM, "%s: NULL with errno %d", op_names[op],
                  errno);
    return REC_ERROR;
  }
  f->r.request_on_subscribe = mode == 0 ? RILL_UNBOUNDED : mode == 2 ? 1 : 0;
  f->r.request_in_next = mode == 2 ? 1 : 0;
  int rc = frec_subscribe(f, obs);
  if (rc == RILL_ENOMEM) {
    rill_observable_free(obs);
    *null_obs = true;
    return REC_ERROR;
  }
  ck_assert_int_eq(rc, 0);
  for (int i = 0; mode == 1 && i < 200 && f->r.terminal == REC_NONE; i++)
    rec_request(&f->r, 1);
  rill_observable_free(obs);
  return f->r.terminal;
}

START_TEST(enomem_at_every_allocation_site) {
  int op = _i % NOPS;
  int mode = _i / NOPS;
  /* the run without failures gives the reference values */
  int64_t want[64];
  size_t nwant;
  bool null_obs;
  frec_t f;
  tl_alloc_install();
  tl_owned_reset();
  ck_assert_int_eq(enomem_run(op, mode, &f, &null_obs), REC_COMPLETE);
  nwant = f.r.values.len;
  ck_assert_uint_le(nwant, 64);
  for (size_t i = 0; i < nwant; i++)
    want[i] = rec_int(&f.r, i);
  rec_clear(&f.r);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, 0);
  ck_assert_owned_balanced();
  for (long k = 0;; k++) {
    tl_alloc_install();
    tl_owned_reset();
    tl_fail_at = k;
    errno = 0;
    int t = enomem_run(op, mode, &f, &null_obs);
    bool reached = tl_alloc_index > k;
    ck_assert_msg(t != REC_NONE, "%s mode %d: site %ld: no terminal (hang)",
                  op_names[op], mode, k);
    ck_assert_msg(f.r.violations == 0, "%s mode %d site %ld: %s", op_names[op],
                  mode, k, f.r.violation);
    if (t == REC_ERROR && !null_obs)
      ck_assert_msg(f.r.err.code == RILL_ENOMEM,
                    "%s mode %d: site %ld gave %s (%s)", op_names[op], mode, k,
                    rill_err_name(f.r.err.code), f.r.err.message);
    if (t == REC_COMPLETE) {
      /* a completion must carry every value */
      ck_assert_msg(f.r.values.len == nwant,
                    "%s mode %d: site %ld: completed with %zu of %zu values",
                    op_names[op], mode, k, f.r.values.len, nwant);
      for (size_t i = 0; i < nwant; i++)
        ck_assert_int_eq(rec_int(&f.r, i), want[i]);
    }
    rec_clear(&f.r);
    live = tl_live;
    tl_alloc_uninstall();
    ck_assert_msg(live == 0, "%s mode %d: %ld blocks leaked at site %ld",
                  op_names[op], mode, live, k);
    ck_assert_msg(tl_owned_made == tl_owned_released,
                  "%s mode %d site %ld: owned %ld made, %ld released",
                  op_names[op], mode, k, tl_owned_made, tl_owned_released);
    if (!reached) {
      ck_assert_int_eq(t, REC_COMPLETE);
      break;
    }
    ck_assert_msg(t == REC_ERROR, "%s mode %d: site %ld: failure not reported",
                  op_names[op], mode, k);
  }
}
END_TEST

/* ---- regression: O(1) bookkeeping per value
 * ----------------------------------*/

/* With no concurrency limit, n inners each holding a queued value (the
 * subscriber had no demand when the synchronous outer ran), then
 * request(1) from each on_next.  Before 86aa745 every drain pass walked all
 * live inners (and so did subscribing each inner): O(n^2), 40,000 values
 * took ~4.6 s and 100,000 about 100 s (the protocol battery's stack
 * scenario timed out on merge_map with no limit).  Linear: ~0.1 s for
 * 100,000.  Same for concat_map_eager with no limit. */
START_TEST(unbounded_concurrency_request_one_is_linear) {
  int64_t n = tl_scaled(100000);
  rill_observable_t *obs =
      _i == 0
          ? rill_merge_map(rill_range(0, n), fn_just_same, NULL, 0, 0)
          : rill_concat_map_eager(rill_range(0, n), fn_just_same, NULL, 0, 0);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0); /* n inners, n queued values */
  rec_request(&r, 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs =
      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_msg(secs < 5.0, "%s: %lld values one at a time took %.1f s",
                _i == 0 ? "merge_map" : "concat_map_eager", (long long)n, secs);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* Found by the fuzzer: concat_map starts its next backlog value from the
 * drain loop's retire step, where (1) a failing fn became on_complete,
 * (2) a cancel meanwhile crashed, and (3) an outer value pushed by fn
 * started a second inner at once, fn nested in fn. */
static rill_emitter_t *bk_outer, *bk_inner;
static int bk_depth, bk_nested, bk_calls;
static void bk_start_outer(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  bk_outer = e;
}
static void bk_start_inner(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  bk_inner = e;
}
static int bk_fn(void *ctx, rill_value_t v, rill_observable_t **out) {
  int mode = *(int *)ctx;
  bk_calls++;
  bk_nested |= bk_depth > 0;
  bk_depth++;
  int rc = 0;
  if (v.as.i == 1) {
    *out = rill_create(bk_start_inner, NULL, NULL);
  } else if (v.as.i == 2 && mode == 0) {
    rc = RILL_EAPP_BASE - 7; /* fails on the backlog value */
  } else if (v.as.i == 2) {
    rill_emitter_next(bk_outer, rill_value_int(3)); /* arrives inside fn */
    rill_value_t a[2] = {rill_value_int(20), rill_value_int(21)};
    *out = rill_from_array(a, 2);
  } else {
    *out = rill_range(30, 3);
  }
  bk_depth--;
  return rc;
}

START_TEST(concat_map_backlog_projection_fails_and_never_nests) {
  for (int mode = 0; mode < 2; mode++) {
    bk_depth = bk_nested = bk_calls = 0;
    rill_observable_t *o =
        rill_concat_map(rill_create(bk_start_outer, NULL, NULL), bk_fn, &mode);
    rec_t r;
    rec_init(&r);
    r.store = true;
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    rill_emitter_next(bk_outer, rill_value_int(1));
    rill_emitter_next(bk_outer, rill_value_int(2)); /* waits: one at a time */
    rill_emitter_complete(bk_inner); /* retire: fn(2) from the backlog */
    if (mode == 0) {
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 7);
    } else {
      rill_emitter_complete(bk_outer);
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 5);
      int64_t want[] = {20, 21, 30, 31, 32};
      for (int i = 0; i < 5; i++)
        ck_assert_int_eq(rec_int(&r, (size_t)i), want[i]);
      ck_assert_int_eq(bk_calls, 3);
    }
    ck_assert_int_eq(bk_nested, 0);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(o);
  }
}
END_TEST

/* ---- expand ---------------------------------------------------------------*/

/* Each value v < limit expands to 2v+1 and 2v+2 (a binary tree): every
 * node is emitted once, whatever the concurrency. */
static int64_t tree_limit;
static int tree_live, tree_max_live;
static void tree_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  (void)e;
  tree_live--;
}
static void tree_start(void *ctx, rill_emitter_t *e) {
  int64_t v = (int64_t)(intptr_t)ctx;
  if (++tree_live > tree_max_live)
    tree_max_live = tree_live;
  rill_emitter_next(e, rill_value_int(2 * v + 1));
  rill_emitter_next(e, rill_value_int(2 * v + 2));
  rill_emitter_complete(e);
}
static int fn_tree(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = 2 * v.as.i + 2 < tree_limit
             ? rill_create(tree_start, tree_end, (void *)(intptr_t)v.as.i)
             : rill_empty();
  return 0;
}

START_TEST(expand_emits_every_node_once_within_its_concurrency) {
  static const size_t limits[] = {1, 2, 5, 0};
  for (int k = 0; k < 4; k++) {
    tree_limit = 1000;
    tree_live = tree_max_live = 0;
    rill_observable_t *o =
        rill_expand(rill_just(1, rill_value_int(0)), fn_tree, NULL, limits[k]);
    rec_t r;
    rec_init(&r);
    r.store = true;
    r.request_on_subscribe = 3;
    r.request_in_next = 1; /* demand one at a time */
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    /* 0 .. 998: node v has children while 2v + 2 < 1000 */
    ck_assert_int_eq(r.nexts, 999);
    static bool seen[1000];
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < r.values.len; i++) {
      int64_t x = rec_int(&r, i);
      ck_assert(x >= 0 && x < 999 && !seen[x]);
      seen[x] = true;
    }
    if (limits[k] != 0)
      ck_assert_int_le(tree_max_live, (int)limits[k]);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(o);
  }
}
END_TEST

static int fn_chain(void *ctx, rill_value_t v, rill_observable_t **out) {
  int64_t n = *(int64_t *)ctx;
  *out =
      v.as.i + 1 < n ? rill_just(1, rill_value_int(v.as.i + 1)) : rill_empty();
  return 0;
}

START_TEST(expand_synchronous_recursion_keeps_the_stack_flat) {
  int64_t n = tl_scaled(1000000);
  rill_observable_t *o =
      rill_expand(rill_just(1, rill_value_int(0)), fn_chain, &n, 1);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < 64 * 1024, "stack span %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

static int fn_chain_fails(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  if (v.as.i == 3)
    return RILL_EAPP_BASE - 1;
  *out = rill_just(1, rill_value_int(v.as.i + 1));
  return 0;
}

START_TEST(expand_fn_failure_and_cancel) {
  rill_observable_t *o =
      rill_expand(rill_just(1, rill_value_int(0)), fn_chain_fails, NULL, 2);
  rill_values_t vals = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &vals, &err), RILL_EAPP_BASE - 1);
  ck_assert_str_eq(err.stage, "expand");
  ck_assert_uint_eq(vals.len, 4); /* 0 1 2 3, then 3 fails to expand */
  rill_values_clear(&vals);
  rill_observable_free(o);
  /* cancel in the 5th on_next of an endless chain */
  int64_t n = INT64_MAX;
  o = rill_expand(rill_just(1, rill_value_int(0)), fn_chain, &n, 1);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 5;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

/* ---- the suite ------------------------------------------------------------*/

Suite *flatten_suite(void) {
  Suite *s = suite_create("flatten");
  TCase *tc = tcase_create("marbles");
  tcase_add_test(tc, merge_map_interleaves_timed_inners_mergeMap_003);
  tcase_add_test(tc, merge_map_concurrency_one_mergeMap_011);
  tcase_add_test(tc, merge_map_concurrency_two_third_inner_waits_mergeMap_012);
  tcase_add_test(tc, merge_map_inner_error_cancels_live_inners_mergeMap_008);
  tcase_add_test(tc, merge_map_outer_error_cancels_inners_mergeMap_009);
  tcase_add_test(tc, concat_map_order_concatMap_003);
  tcase_add_test(tc, concat_map_inner_error_concatMap_013);
  tcase_add_test(tc, concat_map_outer_error_concatMap_014);
  tcase_add_test(tc, switch_map_cancels_current_inner_switchMap_002);
  tcase_add_test(tc, switch_map_unsubscribed_early_switchMap_004);
  tcase_add_test(tc, switch_map_inner_error_switchMap_008);
  tcase_add_test(tc, exhaust_map_drops_outer_values_while_inner_runs);
  tcase_add_test(tc, concat_map_eager_keeps_outer_order_with_concurrent_inners);
  tcase_add_test(tc, concat_map_eager_limit_two_third_inner_waits);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_loop_test(tc, inner_error_cancels_everything_and_arrives_at_once, 0,
                      NOPS);
  tcase_add_loop_test(tc, outer_error_cancels_inners_and_arrives_at_once, 0,
                      NOPS);
  tcase_add_loop_test(tc,
                      fn_failure_carries_code_and_stage_and_releases_the_value,
                      0, 3 * NOPS);
  tcase_add_loop_test(tc, fn_failure_on_the_first_value, 0, NOPS);
  tcase_add_loop_test(tc, null_fn_is_einval_and_releases_the_source, 0, NOPS);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel");
  tcase_add_loop_test(tc, cancel_twice_from_on_next_with_timed_inners, 0, NOPS);
  tcase_add_loop_test(tc, cancel_twice_from_inside_fn, 0, NOPS);
  tcase_add_loop_test(tc, cancel_from_fn_lets_live_inners_go, 0, 3);
  tcase_add_loop_test(tc, cancel_releases_queued_values_at_once, 0, NOPS);
  tcase_add_loop_test(tc, cancel_through_a_kept_handle_stops_everything_at_once,
                      0, NOPS);
  suite_add_tcase(s, tc);

  tc = tcase_create("ownership");
  tcase_add_loop_test(tc, owned_values_released_once_on_complete_cancel_error,
                      0, NOPS);
  tcase_add_loop_test(tc, ordered_values_exact, 0, 3);
  tcase_add_test(tc, switch_map_switch_releases_the_old_inners_queue);
  tcase_add_test(tc, switch_map_cancel_from_the_old_inners_cancel);
  tcase_add_test(tc, exhaust_map_drops_and_releases_while_busy);
  suite_add_tcase(s, tc);

  tc = tcase_create("demand");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, random_schedules_respect_every_demand, 0, NDRIVE);
  tcase_add_loop_test(tc, outer_demand_is_limit_then_one_per_ended_inner, 0, 5);
  tcase_add_test(tc, concat_map_asks_its_outer_ahead);
  tcase_add_test(tc, concat_map_backlog_projection_fails_and_never_nests);
  tcase_add_test(tc, expand_emits_every_node_once_within_its_concurrency);
  tcase_add_test(tc, expand_synchronous_recursion_keeps_the_stack_flat);
  tcase_add_test(tc, expand_fn_failure_and_cancel);
  tcase_add_loop_test(tc, inner_asked_for_prefetch_then_refilled_by_half, 0, 2);
  tcase_add_loop_test(tc, several_requests_before_any_value, 0, NOPS);
  tcase_add_loop_test(tc, on_next_that_makes_inners_push_does_not_nest, 0,
                      NOPS);
  tcase_add_loop_test(tc, request_one_per_on_next_over_synchronous_inners, 0,
                      NOPS);
  tcase_add_loop_test(tc, signals_from_inside_on_next, 0, 3 * NOPS);
  tcase_add_loop_test(tc, synchronous_inner_shapes, 0, 3 * NOPS);
  tcase_add_loop_test(tc, bad_request_with_live_inners, 0, 2 * NOPS);
  tcase_add_loop_test(tc, two_subscriptions_of_one_recipe, 0, NOPS);
  tcase_add_loop_test(tc, cancel_in_the_middle_of_a_synchronous_inner, 0, NOPS);
  tcase_add_loop_test(tc, error_in_a_synchronous_inner, 0, NOPS);
  tcase_add_loop_test(tc, fused_filter_and_take_after_the_operator, 0,
                      2 * NOPS);
  suite_add_tcase(s, tc);

  tc = tcase_create("stack");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, million_synchronous_inners_keep_the_stack_flat, 0, 5);
  tcase_add_loop_test(tc, range_inners_keep_the_stack_flat, 0, 6);
  tcase_add_loop_test(tc, unbounded_concurrency_request_one_is_linear, 0, 2);
  suite_add_tcase(s, tc);

  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, enomem_at_every_allocation_site, 0, 3 * NOPS);
  suite_add_tcase(s, tc);

  if (getenv("RILL_TEST_KNOWN_DEFECTS") != NULL) {
    tc = tcase_create("known_defects");
    suite_add_tcase(s, tc);
  }
  return s;
}
