/* SPDX-License-Identifier: MIT */
/* rill tests: the protocol battery (TCK-like, our own).
 *
 * Every source and operator of the foundation is described by a factory
 * that builds an observable emitting exactly n elements then completing
 * (or, for never/error, a documented special shape).  Each scenario runs
 * against every factory (a Check loop test), through the recording
 * subscriber rec_t, which flags any protocol violation as it happens:
 *   demand under request(1), request(k) and unbounded (1.1, 1.2, 3.8);
 *   request(0) and negative (3.9); cancel before, during (from on_next and
 *   on_subscribe, twice) and after (3.5-3.7); exactly one terminal (1.7);
 *   bounded stack depth under request(1) per on_next (3.3); every owned
 *   value released once on complete, cancel and error paths; ENOMEM
 *   injected at each allocation site in turn (clean error, no leak). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* ---- element sources used under the operators
 * -------------------------------*/

struct counter {
  int64_t next, end;
  bool owned;
};

static int counter_init(void *ctx, void **state) {
  const struct counter *tmpl = ctx;
  struct counter *c = malloc(sizeof(*c));
  if (c == NULL)
    return RILL_ENOMEM;
  *c = *tmpl;
  *state = c;
  return 0;
}

static int counter_next(void *state, rill_value_t *out) {
  struct counter *c = state;
  if (c->next == c->end)
    return 0;
  int64_t x = c->next++;
  *out = c->owned ? tl_owned(x) : rill_value_int(x);
  return 1;
}

static void counter_fini(void *state) {
  free(state);
}

/* Templates live as long as the test (generate keeps the ctx pointer). */
static struct counter templates[64];
static int ntemplates;

/* 0..n-1, as owned values or plain ints. */
static rill_observable_t *elems(int64_t n, bool owned) {
  if (!owned)
    return rill_range(0, n);
  struct counter *t = &templates[ntemplates++ % 64];
  t->next = 0;
  t->end = n;
  t->owned = true;
  return rill_generate(counter_init, counter_next, counter_fini, t);
}

static int half(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  if (in.kind == RILL_KIND_OWNED)
    *out = tl_owned(tl_owned_int(in) / 2);
  else
    *out = rill_value_int(in.as.i / 2);
  return 0;
}

static int below(void *ctx, rill_value_t v) {
  int64_t x = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  return x < (int64_t)(intptr_t)ctx;
}

static rill_value_t elem(int64_t x, bool owned) {
  return owned ? tl_owned(x) : rill_value_int(x);
}

/* ---- factories: exactly n elements, then complete
 * ---------------------------*/

static rill_observable_t *f_range(int64_t n, bool owned) {
  (void)owned;
  return rill_range(10, n);
}
static rill_observable_t *f_from_array(int64_t n, bool owned) {
  rill_value_t *v = calloc((size_t)n + 1, sizeof(*v));
  for (int64_t i = 0; i < n; i++)
    v[i] = elem(i, owned);
  rill_observable_t *o = rill_from_array(v, (size_t)n);
  free(v);
  return o;
}
static rill_observable_t *f_just(int64_t n, bool owned) {
  switch (n) {
  case 0:
    return rill_just(0);
  case 1:
    return rill_just(1, elem(1, owned));
  case 2:
    return rill_just(2, elem(1, owned), elem(2, owned));
  default:
    return rill_just(3, elem(1, owned), elem(2, owned), elem(3, owned));
  }
}
static rill_observable_t *f_generate(int64_t n, bool owned) {
  struct counter *t = &templates[ntemplates++ % 64];
  t->next = 0;
  t->end = n;
  t->owned = owned;
  return rill_generate(counter_init, counter_next, counter_fini, t);
}
static rill_observable_t *f_empty(int64_t n, bool owned) {
  (void)n;
  (void)owned;
  return rill_empty();
}
static rill_observable_t *f_map(int64_t n, bool owned) {
  return rill_map(elems(n, owned), tl_double, NULL);
}
static rill_observable_t *f_filter(int64_t n, bool owned) {
  return rill_filter(elems(2 * n, owned), tl_is_even, NULL);
}
static int multiple_of_4(void *ctx, rill_value_t v) {
  (void)ctx;
  int64_t x = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  return x % 4 == 0;
}
static rill_observable_t *f_map_filter_map(int64_t n, bool owned) {
  return rill_map(rill_filter(rill_map(elems(2 * n, owned), tl_double, NULL),
                              multiple_of_4, NULL),
                  half, NULL);
}
static rill_observable_t *f_take(int64_t n, bool owned) {
  return rill_take(elems(n + 5, owned), n);
}
static rill_observable_t *f_skip(int64_t n, bool owned) {
  return rill_skip(elems(n + 3, owned), 3);
}
static rill_observable_t *f_take_while(int64_t n, bool owned) {
  return rill_take_while(elems(n + 5, owned), below, (void *)(intptr_t)n,
                         false);
}
static rill_observable_t *f_scan(int64_t n, bool owned) {
  rill_value_t seed = elem(0, owned);
  return rill_scan(elems(n, owned), tl_sum, NULL, &seed);
}
static rill_observable_t *f_reduce(int64_t n, bool owned) {
  /* n is 0 or 1 here: without a seed an empty source gives no value. */
  if (n == 0)
    return rill_reduce(elems(0, owned), tl_sum, NULL, NULL);
  return rill_reduce(elems(5, owned), tl_sum, NULL, NULL);
}
static rill_observable_t *f_distinct(int64_t n, bool owned) {
  return rill_distinct_until_changed(rill_map(elems(2 * n, owned), half, NULL),
                                     NULL, NULL);
}
static rill_observable_t *f_start_with(int64_t n, bool owned) {
  if (n == 0)
    return rill_start_with(elems(0, owned), 0);
  return rill_start_with(elems(n - 1, owned), 1, elem(-1, owned));
}
static rill_observable_t *f_buffer_count(int64_t n, bool owned) {
  return rill_buffer_count(elems(2 * n, owned), 2, 0);
}
static rill_observable_t *f_concat(int64_t n, bool owned) {
  rill_observable_t *parts[3] = {elems(n / 2, owned), rill_empty(),
                                 elems(n - n / 2, owned)};
  return rill_concat(parts, 3);
}
static rill_observable_t *f_merge(int64_t n, bool owned) {
  rill_observable_t *parts[3] = {elems(n / 2, owned), rill_empty(),
                                 elems(n - n / 2, owned)};
  return rill_merge(parts, 3, 0, 4);
}
static rill_observable_t *f_merge_default(int64_t n, bool owned) {
  rill_observable_t *parts[2] = {elems(n / 3, owned), elems(n - n / 3, owned)};
  return rill_merge(parts, 2, 0, 0);
}

static rill_observable_t *f_first(int64_t n, bool owned) {
  /* n is 0 or 1.  n == 0 is first over an empty source without a default:
   * it ends in on_error(RILL_EEMPTY) (the factory's zero_error), which is
   * what first does with nothing to emit (not take(0), which never runs
   * first at all). */
  if (n == 0)
    return rill_first(elems(0, owned), NULL, NULL, NULL);
  return rill_first(elems(5, owned), tl_is_even, NULL, NULL);
}
static rill_observable_t *f_last(int64_t n, bool owned) {
  if (n == 0) /* last over an empty source, no default: RILL_EEMPTY */
    return rill_last(elems(0, owned), NULL, NULL, NULL);
  rill_value_t dflt = elem(-1, owned);
  return rill_last(elems(5, owned), tl_is_even, NULL, &dflt);
}
static rill_observable_t *f_take_until(int64_t n, bool owned) {
  return rill_take_until(elems(n, owned), rill_never());
}

/* The higher-order family (their own suite is tests/check_flatten.c).
 * fn borrows the outer value; a one-value inner repeats it. */
static int fm_just_same(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_just(1, rill_value_retain(v));
  return *out ? 0 : RILL_ENOMEM;
}
static int64_t fm_int(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}
/* ctx = n * 2 + owned: outer value i (of 3) maps to elements
 * [i*n/3, (i+1)*n/3) of 0..n-1, several values per inner. */
static int fm_slice(void *ctx, rill_value_t v, rill_observable_t **out) {
  int64_t n = (int64_t)(intptr_t)ctx / 2, i = fm_int(v);
  struct counter *t = &templates[ntemplates++ % 64];
  t->next = i * n / 3;
  t->end = (i + 1) * n / 3;
  t->owned = (intptr_t)ctx % 2;
  *out = rill_generate(counter_init, counter_next, counter_fini, t);
  return *out ? 0 : RILL_ENOMEM;
}
/* switch_map: values 0 and 1 map to never (switched away), 2 to all n;
 * exhaust_map: value 0 maps to all n, the others to empty (dropped while
 * the first inner is busy). */
static int fm_switch(void *ctx, rill_value_t v, rill_observable_t **out) {
  int64_t n = (int64_t)(intptr_t)ctx / 2;
  *out = fm_int(v) < 2 ? rill_never() : elems(n, (intptr_t)ctx % 2);
  return *out ? 0 : RILL_ENOMEM;
}
static int fm_exhaust(void *ctx, rill_value_t v, rill_observable_t **out) {
  int64_t n = (int64_t)(intptr_t)ctx / 2;
  *out = fm_int(v) == 0 ? elems(n, (intptr_t)ctx % 2) : rill_empty();
  return *out ? 0 : RILL_ENOMEM;
}
static void *fm_ctx(int64_t n, bool owned) {
  return (void *)(intptr_t)(n * 2 + (owned ? 1 : 0));
}
static rill_observable_t *f_merge_map(int64_t n, bool owned) {
  return rill_merge_map(elems(n, owned), fm_just_same, NULL, 0, 0);
}
static rill_observable_t *f_merge_map_limited(int64_t n, bool owned) {
  return rill_merge_map(elems(n, owned), fm_just_same, NULL, 2, 1);
}
static rill_observable_t *f_concat_map(int64_t n, bool owned) {
  return rill_concat_map(elems(n, owned), fm_just_same, NULL);
}
static rill_observable_t *f_concat_map_slices(int64_t n, bool owned) {
  return rill_concat_map(elems(3, false), fm_slice, fm_ctx(n, owned));
}
static rill_observable_t *f_switch_map(int64_t n, bool owned) {
  return rill_switch_map(elems(3, owned), fm_switch, fm_ctx(n, owned));
}
static rill_observable_t *f_exhaust_map(int64_t n, bool owned) {
  return rill_exhaust_map(elems(3, owned), fm_exhaust, fm_ctx(n, owned));
}
static rill_observable_t *f_concat_map_eager(int64_t n, bool owned) {
  return rill_concat_map_eager(elems(n, owned), fm_just_same, NULL, 3, 2);
}
/* expand: 0 expands to 1, 1 to 2, ... up to n - 1 (one value per
 * expansion, a chain n long: the pagination shape). */
static int fm_next_page(void *ctx, rill_value_t v, rill_observable_t **out) {
  int64_t n = (int64_t)(intptr_t)ctx / 2, i = fm_int(v);
  bool owned = (intptr_t)ctx % 2;
  *out = i + 1 < n ? rill_just(1, elem(i + 1, owned)) : rill_empty();
  return *out ? 0 : RILL_ENOMEM;
}
static rill_observable_t *f_expand(int64_t n, bool owned) {
  if (n == 0)
    return rill_expand(rill_empty(), fm_next_page, fm_ctx(n, owned), 1);
  return rill_expand(rill_just(1, elem(0, owned)), fm_next_page,
                     fm_ctx(n, owned), 1);
}
static rill_observable_t *f_concat_map_eager_slices(int64_t n, bool owned) {
  return rill_concat_map_eager(elems(3, owned), fm_slice, fm_ctx(n, owned), 0,
                               0);
}

/* group_by (its own suite is tests/check_group_by.c): three keys, every
 * group merged back; and with a small prefetch and group queues, so values
 * wait in groups and the source is refilled as they drain. */
static int gb_key3(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(fm_int(v) % 3);
  return 0;
}
static int fm_group(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_group_observable(v);
  return *out ? 0 : RILL_EINVAL;
}
static rill_observable_t *f_group_by(int64_t n, bool owned) {
  return rill_merge_map(rill_group_by(elems(n, owned), gb_key3, NULL, NULL),
                        fm_group, NULL, 0, 0);
}
static rill_observable_t *f_group_by_small(int64_t n, bool owned) {
  rill_group_by_opts_t o = {.prefetch = 2, .group_buffer = 2};
  return rill_merge_map(rill_group_by(elems(n, owned), gb_key3, NULL, &o),
                        fm_group, NULL, 0, 1);
}

/* The combining operators (their own suite is tests/check_join.c). */
static rill_observable_t *f_race(int64_t n, bool owned) {
  rill_observable_t *src[2] = {elems(n, owned), rill_never()};
  return rill_race(src, 2);
}
static rill_observable_t *f_race_second(int64_t n, bool owned) {
  rill_observable_t *src[2] = {rill_never(), elems(n, owned)};
  return rill_race(src, 2);
}
/* n == 0: both fail (the empty one with RILL_EEMPTY), the first failure
 * (RILL_EUSER) names the error. */
static rill_observable_t *f_any(int64_t n, bool owned) {
  rill_observable_t *src[2] = {rill_error(RILL_EUSER, "lost"), elems(n, owned)};
  return rill_any(src, 2);
}
/* One array (n == 1), or a source without a value: nothing (n == 0). */
static rill_observable_t *f_fork_join(int64_t n, bool owned) {
  rill_observable_t *src[2] = {elems(n == 0 ? 0 : 3, owned), elems(5, owned)};
  return rill_fork_join(src, 2, NULL, NULL);
}
static int fj_sum(void *ctx, const rill_value_t *v, size_t n,
                  rill_value_t *out) {
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++)
    sum += v[i].kind == RILL_KIND_OWNED ? tl_owned_int(v[i]) : v[i].as.i;
  *out = ctx != NULL ? tl_owned(sum) : rill_value_int(sum);
  return out->kind == RILL_KIND_NONE ? RILL_ENOMEM : 0;
}
static rill_observable_t *f_fork_join_fn(int64_t n, bool owned) {
  rill_observable_t *src[3] = {elems(4, owned), elems(n == 0 ? 0 : 2, owned),
                               elems(3, owned)};
  return rill_fork_join(src, 3, fj_sum, owned ? (void *)1 : NULL);
}
/* Always one array (of three notifications). */
static rill_observable_t *f_all_settled(int64_t n, bool owned) {
  (void)n;
  rill_observable_t *src[3] = {elems(3, owned),
                               rill_error(RILL_EUSER, "settled"), rill_empty()};
  return rill_all_settled(src, 3);
}

/* Recovering (tests/check_recover.c is their own suite).  Only
 * RILL_EUSER is recovered from, so an injected ENOMEM still ends the
 * stream with ENOMEM.  retry: a source whose first two subscriptions
 * fail (generate's init refuses), then gives n and completes. */
struct flaky {
  struct counter c;
  int fails;
};
static struct flaky flaky_templates[64];
static int nflaky;
static int flaky_init(void *ctx, void **state) {
  struct flaky *f = ctx;
  if (f->fails > 0) {
    f->fails--;
    return RILL_EUSER;
  }
  return counter_init(&f->c, state);
}
static int only_euser(void *ctx, const rill_error_t *err, int64_t attempt) {
  (void)ctx;
  (void)attempt;
  return err->code == RILL_EUSER;
}
static rill_observable_t *f_retry(int64_t n, bool owned) {
  struct flaky *f = &flaky_templates[nflaky++ % 64];
  f->c = (struct counter){.next = 0, .end = n, .owned = owned};
  f->fails = 2;
  rill_retry_opts_t opts = {.should_retry = only_euser};
  return rill_retry(rill_generate(flaky_init, counter_next, counter_fini, f), 5,
                    &opts);
}
/* catch_error: the source fails at once; the selector continues with the
 * n elements (ctx = n * 2 + owned). */
static int catch_elems(void *ctx, const rill_error_t *err,
                       rill_observable_t **next) {
  int64_t n = (int64_t)(intptr_t)ctx / 2;
  if (err->code != RILL_EUSER)
    return 0;
  *next = elems(n, (intptr_t)ctx % 2);
  return *next ? 0 : RILL_ENOMEM;
}
static rill_observable_t *f_catch_error(int64_t n, bool owned) {
  return rill_catch_error(rill_error(RILL_EUSER, "first"), catch_elems,
                          fm_ctx(n, owned));
}
/* repeat: a 2-element source n/2 times, or a 1-element one n times. */
static rill_observable_t *f_repeat(int64_t n, bool owned) {
  if (n > 0 && n % 2 == 0)
    return rill_repeat(elems(2, owned), n / 2, NULL, 0);
  return rill_repeat(elems(1, owned), n, NULL, 0);
}

/* create: start() pushes n values at once (no demand yet: they queue)
 * and completes; delivered as requested. */
struct pushed {
  int64_t n;
  bool owned;
};
static struct pushed pushed_templates[64];
static int npushed;

static void push_all(void *ctx, rill_emitter_t *e) {
  const struct pushed *p = ctx;
  for (int64_t i = 0; i < p->n; i++)
    if (rill_emitter_next(e, elem(i, p->owned)) < 0)
      return; /* RILL_ENOMEM: the subscription has failed */
  rill_emitter_complete(e);
}

static rill_observable_t *f_create(int64_t n, bool owned) {
  struct pushed *t = &pushed_templates[npushed++ % 64];
  t->n = n;
  t->owned = owned;
  return rill_create(push_all, NULL, t);
}

/* Side effects and notifications (their own suite is
 * tests/check_effects.c).  tap with every hook set; finalize; defer making
 * the elements per subscription; materialize (n - 1 values and the
 * closing notification: n values), materialize cut by take, and the round
 * trip dematerialize(materialize(x)). */
static int tap_next(void *ctx, rill_value_t v) {
  (void)v;
  (*(int64_t *)ctx)++;
  return 0;
}
static void tap_error(void *ctx, const rill_error_t *err) {
  (void)err;
  (*(int64_t *)ctx)++;
}
static void tap_signal(void *ctx) {
  (*(int64_t *)ctx)++;
}
static void tap_request(void *ctx, int64_t n) {
  (void)n;
  (*(int64_t *)ctx)++;
}
static int64_t tap_calls;
static rill_observable_t *f_tap(int64_t n, bool owned) {
  static const rill_tap_hooks_t hooks = {.on_next = tap_next,
                                         .on_error = tap_error,
                                         .on_complete = tap_signal,
                                         .on_cancel = tap_signal,
                                         .on_request = tap_request};
  return rill_tap(elems(n, owned), &hooks, &tap_calls);
}
static rill_observable_t *f_finalize(int64_t n, bool owned) {
  return rill_finalize(elems(n, owned), tap_signal, &tap_calls);
}
static int defer_elems(void *ctx, rill_observable_t **out) {
  *out = elems((intptr_t)ctx / 2, (intptr_t)ctx % 2);
  return *out ? 0 : RILL_ENOMEM;
}
static rill_observable_t *f_defer(int64_t n, bool owned) {
  return rill_defer(defer_elems, fm_ctx(n, owned));
}
static rill_observable_t *f_materialize(int64_t n, bool owned) {
  return rill_materialize(elems(n - 1, owned)); /* n >= 1 */
}
static rill_observable_t *f_materialize_take(int64_t n, bool owned) {
  return rill_take(rill_materialize(elems(n, owned)), n);
}
static rill_observable_t *f_dematerialize(int64_t n, bool owned) {
  return rill_dematerialize(rill_materialize(elems(n, owned)));
}

/* circuit_breaker with a fresh breaker (never advanced, never tripped:
 * the battery's sources complete), and limit with a fresh limiter; the
 * recipe keeps the object after the factory drops its reference.  The
 * breaker's clock is made once, in battery_suite(). */
static rill_sched_t *battery_sched;
static rill_observable_t *f_circuit_breaker(int64_t n, bool owned) {
  rill_breaker_t *b = rill_breaker_new(battery_sched, NULL);
  rill_observable_t *o = rill_circuit_breaker(elems(n, owned), b);
  rill_breaker_free(b);
  return o;
}
static rill_observable_t *f_limit(int64_t n, bool owned) {
  rill_limiter_t *l = rill_limiter_new(1, 0);
  rill_observable_t *o = rill_limit(elems(n, owned), l);
  rill_limiter_free(l);
  return o;
}

/* A channel pre-filled with n values, then closed; the recipe keeps the
 * channel after the factory drops its reference.  A send refused for
 * lack of memory hands the value back: the factory fails with ENOMEM. */
static rill_observable_t *f_channel(int64_t n, bool owned) {
  rill_channel_t *ch = rill_channel_new(n > 0 ? (size_t)n : 1, NULL);
  if (ch == NULL)
    return NULL;
  for (int64_t i = 0; i < n; i++) {
    rill_value_t v = elem(i, owned);
    int rc = rill_channel_send(ch, v);
    if (rc < 0) {
      rill_value_release(v);
      rill_channel_free(ch);
      errno = ENOMEM;
      return NULL;
    }
  }
  rill_channel_close(ch);
  rill_observable_t *o = rill_channel_observable(ch);
  rill_channel_free(ch);
  return o;
}

/* Hot sources (their own suite is tests/check_subject.c).  share with one
 * subscriber: the connection is its own (the default prefetch; the
 * smallest; a grace period on the battery's clock, never advanced, so a
 * cancelled subscription leaves the connection to the recipe, which
 * disconnects when it is freed).  A replay subject holding the n values,
 * completed: each subscription replays them, then completes. */
static rill_observable_t *f_share(int64_t n, bool owned) {
  return rill_share(elems(n, owned), NULL);
}
static rill_observable_t *f_share_prefetch1(int64_t n, bool owned) {
  return rill_share(elems(n, owned), &(rill_share_opts_t){.prefetch = 1});
}
static rill_observable_t *f_share_grace(int64_t n, bool owned) {
  return rill_share(
      elems(n, owned),
      &(rill_share_opts_t){.sched = battery_sched, .grace_ms = 10});
}
static rill_observable_t *f_replay_subject(int64_t n, bool owned) {
  rill_subject_t *subj = rill_subject_replay_new(0, NULL, INFINITY, NULL);
  for (int64_t i = 0; i < n; i++)
    rill_subject_next(subj, elem(i, owned));
  rill_subject_complete(subj);
  rill_observable_t *o = rill_subject_observable(subj);
  rill_subject_free(subj);
  return o;
}

/* A subject pushed by a driver that honours rill_subject_demand(), told
 * by on_demand: a fresh subject and driver per subscription (defer). */
struct driven {
  int64_t n, next;
  bool owned, done;
};
static struct driven driven_pool[64];
static int ndriven;
static void driven_on_demand(void *ctx, rill_subject_t *subj) {
  struct driven *d = ctx;
  while (d->next < d->n && rill_subject_demand(subj) > 0)
    if (rill_subject_next(subj, elem(d->next++, d->owned)) < 0)
      return; /* RILL_ENOMEM: that subscriber has failed */
  if (d->next == d->n && !d->done) {
    d->done = true;
    rill_subject_complete(subj);
  }
}
static int driven_make(void *ctx, rill_observable_t **out) {
  struct driven *d = &driven_pool[ndriven++ % 64];
  *d = (struct driven){.n = (intptr_t)ctx / 2, .owned = (intptr_t)ctx % 2};
  rill_subject_t *subj = rill_subject_new(
      &(rill_subject_opts_t){.on_demand = driven_on_demand, .ctx = d});
  *out = rill_subject_observable(subj);
  rill_subject_free(subj);
  return *out ? 0 : RILL_ENOMEM;
}
static rill_observable_t *f_driven_subject(int64_t n, bool owned) {
  return rill_defer(driven_make, fm_ctx(n, owned));
}

/* Combining sources (their own suite is tests/check_combine.c).  fn keeps
 * one of the values it borrows; the others are released by the operator. */
static int cb_first(void *ctx, const rill_value_t *v, size_t n,
                    rill_value_t *out) {
  (void)ctx;
  (void)n;
  *out = rill_value_retain(v[0]);
  return 0;
}
static int cb_last(void *ctx, const rill_value_t *v, size_t n,
                   rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(v[n - 1]);
  return 0;
}
/* zip: n elements beside a range that outlasts them. */
static rill_observable_t *f_zip(int64_t n, bool owned) {
  rill_observable_t *src[2] = {elems(n, owned), rill_range(0, INT64_MAX / 2)};
  return rill_zip(src, 2, cb_first, NULL);
}
/* zip with a polled source beside a queued one (take is not pollable). */
static rill_observable_t *f_zip_mixed(int64_t n, bool owned) {
  rill_observable_t *src[2] = {
      rill_take(rill_range(0, INT64_MAX / 2), INT64_MAX / 2), elems(n, owned)};
  return rill_zip(src, 2, cb_last, NULL);
}
/* zip polling through fused map/filter steps. */
static int keep_value(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(in);
  return 0;
}
static rill_observable_t *f_zip_steps(int64_t n, bool owned) {
  rill_observable_t *src[2] = {
      rill_map(elems(n, owned), keep_value, NULL),
      rill_filter(rill_range(0, INT64_MAX / 2), tl_is_even, NULL)};
  return rill_zip(src, 2, cb_first, NULL);
}
/* zip without a function: arrays (owned or not, the array is). */
static rill_observable_t *f_zip_arrays(int64_t n, bool owned) {
  rill_observable_t *src[2] = {elems(n + 3, owned), elems(n, owned)};
  return rill_zip(src, 2, NULL, NULL);
}
static rill_observable_t *f_combine_latest(int64_t n, bool owned) {
  rill_observable_t *src[1] = {elems(n, owned)};
  return rill_combine_latest(src, 1, cb_first, NULL);
}
/* A one-value source first: each element combines with it. */
static rill_observable_t *f_combine_latest2(int64_t n, bool owned) {
  rill_observable_t *src[2] = {rill_just(1, elem(100, owned)), elems(n, owned)};
  return rill_combine_latest(src, 2, cb_last, NULL);
}
static rill_observable_t *f_with_latest_from(int64_t n, bool owned) {
  rill_observable_t *other[1] = {rill_just(1, elem(7, owned))};
  return rill_with_latest_from(elems(n, owned), other, 1, cb_first, NULL);
}
static rill_observable_t *f_with_latest_from_arrays(int64_t n, bool owned) {
  rill_observable_t *other[2] = {rill_just(1, elem(7, owned)), elems(2, owned)};
  return rill_with_latest_from(elems(n, owned), other, 2, NULL, NULL);
}

struct factory {
  const char *name;
  rill_observable_t *(*make)(int64_t n, bool owned);
  int64_t max_n; /* largest n it can produce */
  int64_t min_n;
  bool owned_ok;  /* can carry owned values */
  int zero_error; /* at n == 0: ends with on_error(this), 0: completes */
};

static const struct factory factories[] = {
    {"range", f_range, INT64_MAX, 0, false, 0},
    {"from_array", f_from_array, 1 << 20, 0, true, 0},
    {"just", f_just, 3, 0, true, 0},
    {"generate", f_generate, INT64_MAX, 0, true, 0},
    {"empty", f_empty, 0, 0, false, 0},
    {"create", f_create, 1 << 20, 0, true, 0},
    {"map", f_map, INT64_MAX, 0, true, 0},
    {"filter", f_filter, INT64_MAX / 4, 0, true, 0},
    {"map_filter_map", f_map_filter_map, INT64_MAX / 4, 0, true, 0},
    {"take", f_take, INT64_MAX / 2, 0, true, 0},
    {"skip", f_skip, INT64_MAX / 2, 0, true, 0},
    {"take_while", f_take_while, INT64_MAX / 2, 0, true, 0},
    {"scan", f_scan, INT64_MAX, 0, true, 0},
    {"reduce", f_reduce, 1, 0, true, 0},
    {"first", f_first, 1, 0, true, RILL_EEMPTY},
    {"last", f_last, 1, 0, true, RILL_EEMPTY},
    {"take_until", f_take_until, INT64_MAX, 0, true, 0},
    {"distinct_until_changed", f_distinct, INT64_MAX / 4, 0, true, 0},
    {"start_with", f_start_with, INT64_MAX, 0, true, 0},
    {"buffer_count", f_buffer_count, INT64_MAX / 4, 0, true, 0},
    {"concat", f_concat, INT64_MAX, 0, true, 0},
    {"merge", f_merge, INT64_MAX, 0, true, 0},
    {"merge_default_prefetch", f_merge_default, INT64_MAX, 0, true, 0},
    {"merge_map", f_merge_map, INT64_MAX, 0, true, 0},
    {"merge_map_limited", f_merge_map_limited, INT64_MAX, 0, true, 0},
    {"concat_map", f_concat_map, INT64_MAX, 0, true, 0},
    {"concat_map_slices", f_concat_map_slices, INT64_MAX / 8, 0, true, 0},
    {"switch_map", f_switch_map, INT64_MAX / 4, 0, true, 0},
    {"exhaust_map", f_exhaust_map, INT64_MAX / 4, 0, true, 0},
    {"concat_map_eager", f_concat_map_eager, INT64_MAX, 0, true, 0},
    {"expand", f_expand, 1 << 20, 0, true, 0},
    {"concat_map_eager_slices", f_concat_map_eager_slices, INT64_MAX / 8, 0,
     true, 0},
    {"group_by", f_group_by, INT64_MAX, 0, true, 0},
    {"group_by_small", f_group_by_small, INT64_MAX, 0, true, 0},
    {"tap", f_tap, INT64_MAX, 0, true, 0},
    {"finalize", f_finalize, INT64_MAX, 0, true, 0},
    {"defer", f_defer, INT64_MAX / 4, 0, true, 0},
    {"materialize", f_materialize, INT64_MAX, 1, true, 0},
    {"materialize_take", f_materialize_take, INT64_MAX, 0, true, 0},
    {"dematerialize", f_dematerialize, INT64_MAX, 0, true, 0},
    {"race", f_race, INT64_MAX, 0, true, 0},
    {"race_second", f_race_second, INT64_MAX, 0, true, 0},
    {"any", f_any, INT64_MAX, 0, true, RILL_EUSER},
    {"fork_join", f_fork_join, 1, 0, true, 0},
    {"fork_join_fn", f_fork_join_fn, 1, 0, true, 0},
    {"all_settled", f_all_settled, 1, 1, true, 0},
    {"retry", f_retry, INT64_MAX, 0, true, 0},
    {"catch_error", f_catch_error, INT64_MAX, 0, true, 0},
    {"repeat", f_repeat, 1 << 20, 0, true, 0},
    {"circuit_breaker", f_circuit_breaker, INT64_MAX, 0, true, 0},
    {"limit", f_limit, INT64_MAX, 0, true, 0},
    {"channel", f_channel, 1 << 20, 0, true, 0},
    {"share", f_share, INT64_MAX, 0, true, 0},
    {"share_prefetch1", f_share_prefetch1, INT64_MAX, 0, true, 0},
    {"share_grace", f_share_grace, INT64_MAX, 0, true, 0},
    {"replay_subject", f_replay_subject, 1 << 20, 0, true, 0},
    {"driven_subject", f_driven_subject, INT64_MAX / 4, 0, true, 0},
    {"zip", f_zip, INT64_MAX / 4, 0, true, 0},
    {"zip_arrays", f_zip_arrays, INT64_MAX / 4, 0, true, 0},
    {"zip_mixed", f_zip_mixed, INT64_MAX / 4, 0, true, 0},
    {"zip_steps", f_zip_steps, INT64_MAX / 4, 0, true, 0},
    {"combine_latest", f_combine_latest, INT64_MAX, 0, true, 0},
    {"combine_latest2", f_combine_latest2, INT64_MAX, 0, true, 0},
    {"with_latest_from", f_with_latest_from, INT64_MAX, 0, true, 0},
    {"with_latest_from_arrays", f_with_latest_from_arrays, INT64_MAX, 0, true,
     0},
};
#define NFACTORIES ((int)(sizeof(factories) / sizeof(factories[0])))

static int64_t clamp_n(const struct factory *f, int64_t n) {
  if (n > f->max_n)
    n = f->max_n;
  if (n < f->min_n)
    n = f->min_n;
  return n;
}

static void release_checked(rec_t *r, rill_observable_t *obs) {
  rec_clear(r);
  rill_observable_free(obs);
}

/* The recorder's callbacks, for tests that want their own handle. */
static void b_on_subscribe(void *ctx, rill_subscription_t *s) {
  rec_t *r = ctx;
  r->subscribes++;
  r->s = s;
}
static void b_on_next(void *ctx, rill_value_t v) {
  rec_t *r = ctx;
  r->nexts++;
  rill_value_release(v);
}
static void b_on_error(void *ctx, const rill_error_t *err) {
  rec_t *r = ctx;
  r->terminal = REC_ERROR;
  r->terminals++;
  r->err = *err;
}
static void b_on_complete(void *ctx) {
  rec_t *r = ctx;
  r->terminal = REC_COMPLETE;
  r->terminals++;
}
static const rill_subscriber_t battery_rec_sub = {
    .on_subscribe = b_on_subscribe,
    .on_next = b_on_next,
    .on_error = b_on_error,
    .on_complete = b_on_complete,
};

/* ---- scenarios
 * -------------------------------------------------------------*/

START_TEST(request_one_at_a_time_gives_exactly_n_then_complete) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 5);
  rill_observable_t *obs = f->make(n, false);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  if (n > 0)
    ck_assert_msg(r.nexts == 0 && r.terminal == REC_NONE,
                  "%s signalled before any request", f->name);
  for (int64_t i = 1; i <= n; i++) {
    rec_request(&r, 1);
    ck_assert_msg(r.nexts == i, "%s: %lld values after %lld requests", f->name,
                  (long long)r.nexts, (long long)i);
  }
  if (r.terminal == REC_NONE)
    rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(request_k_is_additive_and_may_end_early) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 5);
  rill_observable_t *obs = f->make(n, false);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, n < 2 ? n : 2);
  rec_request(&r, 1);
  rec_request(&r, 10); /* 1.2: a source may end short of demand */
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_request(&r, 10); /* 1.7: nothing after the terminal */
  ck_assert_int_eq(r.terminals, 1);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(unbounded_demand_delivers_everything) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 1000);
  rill_observable_t *obs = f->make(n, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

/* A subscriber that makes one bad request from inside on_subscribe, while
 * the subscription is certainly live (an empty source completes only after
 * on_subscribe returns). */
static int64_t bad_request_value;
static void bad_on_subscribe(void *ctx, rill_subscription_t *s) {
  b_on_subscribe(ctx, s);
  rill_subscription_request(s, bad_request_value);
}
static const rill_subscriber_t bad_request_sub = {
    .on_subscribe = bad_on_subscribe,
    .on_next = b_on_next,
    .on_error = b_on_error,
    .on_complete = b_on_complete,
};

START_TEST(non_positive_request_signals_einval_once) {
  const struct factory *f = &factories[_i];
  static const int64_t bad[] = {0, -1, INT64_MIN};
  for (size_t b = 0; b < 3; b++) {
    int64_t n = clamp_n(f, 5);
    /* 1. from inside on_subscribe: live for every factory, empty ones too */
    rill_observable_t *obs = f->make(n, false);
    rec_t r;
    rec_init(&r);
    bad_request_value = bad[b];
    ck_assert_int_eq(rill_observable_subscribe(obs, &bad_request_sub, &r, NULL),
                     0);
    ck_assert_msg(r.terminal == REC_ERROR && r.err.code == RILL_EINVAL,
                  "%s: request(%lld) in on_subscribe: terminal %d (%s)",
                  f->name, (long long)bad[b], r.terminal,
                  r.terminal == REC_ERROR ? rill_err_name(r.err.code) : "-");
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.nexts, 0);
    release_checked(&r, obs);
    /* 2. after subscribe, before any positive request (our own handle:
     * the borrowed one may be gone once the stream has ended) */
    obs = f->make(n, false);
    rec_init(&r);
    rill_subscription_t *h;
    ck_assert_int_eq(rill_observable_subscribe(obs, &battery_rec_sub, &r, &h),
                     0);
    if (r.terminal != REC_NONE) {
      /* an empty source finished at subscribe: the bad request is on a
       * terminated subscription, a no-op (1.6), not a second terminal */
      ck_assert_int_eq(r.terminal, f->zero_error ? REC_ERROR : REC_COMPLETE);
      rill_subscription_request(h, bad[b]);
    } else {
      rill_subscription_request(h, bad[b]);
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EINVAL);
      ck_assert_int_eq(r.nexts, 0);
    }
    ck_assert_int_eq(r.terminals, 1);
    rill_subscription_free(h);
    release_checked(&r, obs);
    /* 3. after some values, while still live */
    obs = f->make(n, false);
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    if (n >= 2) {
      rec_request(&r, 1);
      ck_assert_int_eq(r.nexts, 1);
      ck_assert_msg(r.terminal == REC_NONE, "%s: ended after 1 of %lld",
                    f->name, (long long)n);
      rill_subscription_request(r.s, bad[b]);
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EINVAL);
      ck_assert_int_eq(r.nexts, 1);
      ck_assert_int_eq(r.terminals, 1);
    }
    ck_assert_rec_ok(&r);
    rec_cancel(&r); /* n < 2: still live, unrequested */
    release_checked(&r, obs);
  }
}
END_TEST

/* Every factory at n == 0: no value, exactly one terminal (on_complete, or
 * the factory's zero_error), with or without a request; a bad request,
 * more requests and a double cancel afterwards change nothing. */
START_TEST(zero_elements_end_with_one_terminal) {
  const struct factory *f = &factories[_i];
  if (f->min_n > 0)
    return;
  for (int owned = 0; owned < 2; owned++) {
    if (owned && !f->owned_ok)
      continue;
    tl_owned_reset();
    rill_observable_t *obs = f->make(0, owned);
    ck_assert_ptr_nonnull(obs);
    rill_subscription_t *s;
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rill_observable_subscribe(obs, &battery_rec_sub, &r, &s),
                     0);
    if (r.terminal == REC_NONE)
      ck_assert_int_eq(rill_subscription_request(s, 1), 0);
    ck_assert_msg(r.terminal == (f->zero_error ? REC_ERROR : REC_COMPLETE),
                  "%s: n = 0 ended with terminal %d", f->name, r.terminal);
    if (f->zero_error)
      ck_assert_int_eq(r.err.code, f->zero_error);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(rill_subscription_request(s, 0), 0);
    ck_assert_int_eq(rill_subscription_request(s, 5), 0);
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.nexts, 0);
    rill_subscription_free(s);
    release_checked(&r, obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(cancel_before_request_then_requests_give_nothing) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 5);
  rill_observable_t *obs = f->make(n, false);
  rill_subscription_t *s;
  rec_t r;
  rec_init(&r);
  /* Hold our own handle so calls after the cancel are well defined. */
  ck_assert_int_eq(rill_observable_subscribe(obs, &battery_rec_sub, &r, &s), 0);
  bool was_done = r.terminal != REC_NONE;
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rill_subscription_request(s, 1), 0);
  ck_assert_int_eq(rill_subscription_request(s, 0), 0); /* no 3.9 now */
  ck_assert_int_eq(r.nexts, 0);
  if (!was_done)
    ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rill_subscription_free(s);
  release_checked(&r, obs);
}
END_TEST

START_TEST(cancel_twice_inside_on_next_stops_at_once) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 10);
  rill_observable_t *obs = f->make(n, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  if (n == 0) {
    /* no on_next to cancel from: cancel twice in on_subscribe, before the
     * empty source's completion (the recorder cancels twice there) */
    r.cancel_on_subscribe = true;
  } else {
    /* the third value, or the last one when there are fewer: for a single
     * value (reduce, first, last) the completion that would follow it in
     * the same call must not come */
    r.cancel_at = n < 3 ? n : 3;
    r.cancel_times = 2;
  }
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n < 3 ? n : 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(cancel_inside_on_subscribe_gives_no_signal) {
  const struct factory *f = &factories[_i];
  rill_observable_t *obs = f->make(clamp_n(f, 5), false);
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(cancel_after_complete_is_a_noop) {
  const struct factory *f = &factories[_i];
  rill_observable_t *obs = f->make(clamp_n(f, 3), false);
  rill_subscription_t *s;
  rill_subscriber_t sub = {0};
  ck_assert_int_eq(rill_observable_consume(obs, &sub, NULL, RILL_UNBOUNDED, &s),
                   0);
  ck_assert(rill_subscription_done(s));
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
    ck_assert_int_eq(rill_subscription_request(s, 1), 0);
  }
  rill_subscription_free(s);
  rill_observable_free(obs);
}
END_TEST

START_TEST(request_one_per_on_next_keeps_depth_and_stack_bounded) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, tl_scaled(200000));
  rill_observable_t *obs = f->make(n, false);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  if (n > 1)
    ck_assert_msg(r.stack_hi - r.stack_lo < 4096,
                  "%s: on_next frames spread over %lu bytes", f->name,
                  (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(owned_values_released_once_on_complete_cancel_and_error) {
  const struct factory *f = &factories[_i];
  if (!f->owned_ok)
    return;
  int64_t n = clamp_n(f, 7);
  /* complete */
  tl_owned_reset();
  rill_observable_t *obs = f->make(n, true);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  release_checked(&r, obs);
  ck_assert_owned_balanced();
  /* cancel from on_next, with values held in the pipeline */
  tl_owned_reset();
  obs = f->make(n, true);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = n > 2 ? 2 : 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  release_checked(&r, obs);
  ck_assert_owned_balanced();
  /* error after some values: the operator over concat(values, error) */
  tl_owned_reset();
  obs = f->make(n, true);
  rill_observable_t *parts[2] = {obs, rill_error(RILL_EUSER, "late")};
  rill_observable_t *failing = rill_concat(parts, 2);
  rill_values_t got = {0};
  int rc = rill_observable_collect(failing, &got, NULL);
  ck_assert_int_eq(rc, RILL_EUSER);
  rill_values_clear(&got);
  rill_observable_free(failing);
  ck_assert_owned_balanced();
  /* subscribe and drop: building and freeing unsubscribed leaks nothing */
  tl_owned_reset();
  rill_observable_free(f->make(n, true));
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(enomem_at_every_allocation_site_is_clean) {
  const struct factory *f = &factories[_i];
  int64_t n = clamp_n(f, 6);
  for (long k = 0;; k++) {
    tl_alloc_install();
    tl_fail_at = k;
    errno = 0;
    rill_observable_t *obs = f->make(n, false);
    int rc;
    rill_values_t got = {0};
    if (obs == NULL) {
      ck_assert_msg(errno == ENOMEM, "%s: NULL with errno %d at site %ld",
                    f->name, errno, k);
      rc = RILL_ENOMEM;
    } else {
      rill_error_t err;
      rc = rill_observable_collect(obs, &got, &err);
      if (rc < 0)
        ck_assert_msg(rc == RILL_ENOMEM, "%s: site %ld gave %s (%s)", f->name,
                      k, rill_err_name(rc), err.message);
      /* materialize reports a failure above it as its last value */
      const rill_notification_t *last =
          rc == 0 && got.len > 0
              ? rill_value_notification(got.items[got.len - 1])
              : NULL;
      if (last != NULL && last->kind == RILL_NOTIFICATION_ERROR)
        rc = last->error.code;
      rill_values_clear(&got);
      rill_observable_free(obs);
    }
    bool reached = tl_alloc_index > k;
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_msg(live == 0, "%s: %ld blocks leaked with ENOMEM at site %ld",
                  f->name, live, k);
    if (!reached) {
      ck_assert_msg(rc == 0, "%s: failed without an injected failure", f->name);
      break;
    }
    ck_assert_msg(rc == RILL_ENOMEM, "%s: site %ld: failure not reported",
                  f->name, k);
  }
}
END_TEST

/* ---- the special shapes: never and error
 * ----------------------------------------*/

START_TEST(never_signals_nothing_and_cancels_cleanly) {
  rill_observable_t *obs = rill_never();
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  release_checked(&r, obs);
}
END_TEST

START_TEST(error_source_fails_without_request_through_every_operator) {
  /* A failed publisher (TCK spec104/109): on_subscribe then on_error, with
   * no request, seen through each single-source operator as well. */
  for (int wrap = 0; wrap < 9; wrap++) {
    rill_observable_t *obs = rill_error(RILL_EUSER, "failed publisher");
    switch (wrap) {
    case 1:
      obs = rill_map(obs, tl_double, NULL);
      break;
    case 2:
      obs = rill_filter(obs, tl_is_even, NULL);
      break;
    case 3:
      obs = rill_take(obs, 3);
      break;
    case 4:
      obs = rill_skip(obs, 1);
      break;
    case 5:
      obs = rill_scan(obs, tl_sum, NULL, NULL);
      break;
    case 6:
      obs = rill_reduce(obs, tl_sum, NULL, NULL);
      break;
    case 7:
      obs = rill_buffer_count(obs, 2, 0);
      break;
    case 8:
      obs = rill_distinct_until_changed(obs, NULL, NULL);
      break;
    default:
      break;
    }
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.subscribes, 1);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EUSER);
    ck_assert_str_eq(r.err.message, "failed publisher");
    ck_assert_rec_ok(&r);
    release_checked(&r, obs);
  }
}
END_TEST

static void no_timer(rill_sched_timer_t *t, void *arg) {
  (void)t;
  (void)arg;
}

Suite *battery_suite(void) {
  battery_sched = rill_sched_virtual_new();
  /* The clock's own timer storage, grown once here: a factory that makes
   * a timer on it (share_grace) must not count it as a leak. */
  rill_sched_timer_free(rill_sched_timer_new(battery_sched, no_timer, NULL));
  Suite *s = suite_create("battery");
  TCase *tc = tcase_create("demand");
  tcase_add_loop_test(tc, request_one_at_a_time_gives_exactly_n_then_complete,
                      0, NFACTORIES);
  tcase_add_loop_test(tc, request_k_is_additive_and_may_end_early, 0,
                      NFACTORIES);
  tcase_add_loop_test(tc, unbounded_demand_delivers_everything, 0, NFACTORIES);
  tcase_add_loop_test(tc, non_positive_request_signals_einval_once, 0,
                      NFACTORIES);
  tcase_add_loop_test(tc, zero_elements_end_with_one_terminal, 0, NFACTORIES);
  suite_add_tcase(s, tc);
  tc = tcase_create("cancel");
  tcase_add_loop_test(tc, cancel_before_request_then_requests_give_nothing, 0,
                      NFACTORIES);
  tcase_add_loop_test(tc, cancel_twice_inside_on_next_stops_at_once, 0,
                      NFACTORIES);
  tcase_add_loop_test(tc, cancel_inside_on_subscribe_gives_no_signal, 0,
                      NFACTORIES);
  tcase_add_loop_test(tc, cancel_after_complete_is_a_noop, 0, NFACTORIES);
  tcase_add_test(tc, never_signals_nothing_and_cancels_cleanly);
  tcase_add_test(tc, error_source_fails_without_request_through_every_operator);
  suite_add_tcase(s, tc);
  tc = tcase_create("stack");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, request_one_per_on_next_keeps_depth_and_stack_bounded,
                      0, NFACTORIES);
  suite_add_tcase(s, tc);
  tc = tcase_create("ownership");
  tcase_add_loop_test(tc,
                      owned_values_released_once_on_complete_cancel_and_error,
                      0, NFACTORIES);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 600);
  tcase_add_loop_test(tc, enomem_at_every_allocation_site_is_clean, 0,
                      NFACTORIES);
  suite_add_tcase(s, tc);
  return s;
}
