/* SPDX-License-Identifier: MIT */
/* rill tests: the sources -- range, just, from_array, empty, never, error,
 * generate.  Each source's own contract (operators/<name>.c top comment):
 * values and order, when completion arrives (with or without demand),
 * reuse of one observable by several subscriptions, ownership of the
 * values, and for generate the exact number of next()/init()/fini() calls.
 * RxJS cases cited by id come from rxjs-marbles/range.json (timing, i.e.
 * the concatMap/delay wrapper of those specs, is ignored: rill is
 * synchronous here). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* ---- helpers
 * ----------------------------------------------------------------*/

/* Values of r, which must be start, start+1, ..., start+n-1. */
static void assert_ints_from(const rec_t *r, int64_t start, int64_t n) {
  ck_assert_uint_eq(r->values.len, (size_t)n);
  for (int64_t i = 0; i < n; i++)
    ck_assert_int_eq(rec_int(r, (size_t)i), start + i);
}

/* A subscriber that keeps a handle (the `out` argument) and only counts,
 * for tests that look at a subscription after it has terminated. */
struct cnt {
  int subscribes;
  int nexts;
  int completes;
  int errors;
  rill_error_t err;
  rill_subscription_t *s;
};

static void cnt_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct cnt *c = ctx;
  c->subscribes++;
  c->s = s;
}
static void cnt_on_next(void *ctx, rill_value_t v) {
  struct cnt *c = ctx;
  c->nexts++;
  rill_value_release(v);
}
static void cnt_on_error(void *ctx, const rill_error_t *err) {
  struct cnt *c = ctx;
  c->errors++;
  c->err = *err;
}
static void cnt_on_complete(void *ctx) {
  struct cnt *c = ctx;
  c->completes++;
}
static const rill_subscriber_t cnt_sub = {
    .on_subscribe = cnt_on_subscribe,
    .on_next = cnt_on_next,
    .on_error = cnt_on_error,
    .on_complete = cnt_on_complete,
};

/* ---- a counting generator
 * ------------------------------------------------------
 *
 * Every subscription gets its own state from init (its own counter), so
 * two subscriptions are independent; the shared `struct gen` counts the
 * calls across all of them. */
struct gen {
  int64_t limit;   /* next() returns 0 after this many values; < 0: never */
  int64_t fail_at; /* next() call index (0-based) that fails; < 0: never */
  int fail_code;
  int init_rc; /* init() returns this when negative */
  bool owned;
  int64_t base;
  long calls; /* next() calls, all subscriptions */
  long inits; /* successful init() calls */
  long init_calls;
  long finis;
  long live_states;
};

struct gen_state {
  struct gen *g;
  int64_t i;
};

static void gen_setup(struct gen *g, int64_t limit) {
  memset(g, 0, sizeof(*g));
  g->limit = limit;
  g->fail_at = -1;
}

static int gen_init(void *ctx, void **state) {
  struct gen *g = ctx;
  g->init_calls++;
  if (g->init_rc < 0)
    return g->init_rc;
  struct gen_state *st = malloc(sizeof(*st));
  ck_assert_ptr_nonnull(st);
  st->g = g;
  st->i = 0;
  *state = st;
  g->inits++;
  g->live_states++;
  return 0;
}

static int gen_next(void *state, rill_value_t *out) {
  struct gen_state *st = state;
  struct gen *g = st->g;
  g->calls++;
  if (g->fail_at >= 0 && st->i == g->fail_at)
    return g->fail_code;
  if (g->limit >= 0 && st->i >= g->limit)
    return 0;
  int64_t x = g->base + st->i++;
  *out = g->owned ? tl_owned(x) : rill_value_int(x);
  return 1;
}

static void gen_fini(void *state) {
  struct gen_state *st = state;
  st->g->finis++;
  st->g->live_states--;
  free(st);
}

static rill_observable_t *gen_obs(struct gen *g) {
  return rill_generate(gen_init, gen_next, gen_fini, g);
}

/* ---- range
 * -----------------------------------------------------------------*/

START_TEST(range_emits_count_integers_from_start) {
  /* range-001: range(1, 10) -> 1..10|; range-003: range(0, 5) -> 0..4|. */
  static const struct {
    int64_t start, count;
  } cases[] = {{1, 10}, {0, 5}, {-3, 5}, {100, 1}};
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    rill_observable_t *obs = rill_range(cases[k].start, cases[k].count);
    ck_assert_ptr_nonnull(obs);
    ck_assert_str_eq(rill_observable_name(obs), "range");
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    assert_ints_from(&r, cases[k].start, cases[k].count);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(range_two_subscribers_each_get_every_value) {
  /* range-002: "should work for two subscribers": range(1, 5) twice. */
  rill_observable_t *obs = rill_range(1, 5);
  rec_t a, b;
  rec_init(&a);
  rec_init(&b);
  ck_assert_int_eq(rec_subscribe(&a, obs), 0);
  ck_assert_int_eq(rec_subscribe(&b, obs), 0);
  /* Interleave the two subscriptions' demand: they are independent. */
  rec_request(&a, 2);
  rec_request(&b, 4);
  rec_request(&a, 3);
  ck_assert_int_eq(a.terminal, REC_COMPLETE);
  ck_assert_int_eq(b.terminal, REC_NONE);
  rec_request(&b, 1);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  assert_ints_from(&a, 1, 5);
  assert_ints_from(&b, 1, 5);
  ck_assert_rec_ok(&a);
  ck_assert_rec_ok(&b);
  rec_clear(&a);
  rec_clear(&b);
  rill_observable_free(obs);
}
END_TEST

START_TEST(range_count_zero_completes_without_request) {
  static const int64_t starts[] = {0, -7, 42, INT64_MAX, INT64_MIN};
  for (size_t k = 0; k < sizeof(starts) / sizeof(starts[0]); k++) {
    rill_observable_t *obs = rill_range(starts[k], 0);
    ck_assert_ptr_nonnull(obs);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.requested, 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(range_rejects_negative_count_and_overflow) {
  static const struct {
    int64_t start, count;
  } bad[] = {{0, -1},
             {5, INT64_MIN},
             {1, INT64_MAX},
             {INT64_MAX, 1},
             {INT64_MAX - 10, 11},
             {INT64_MAX / 2 + 1, INT64_MAX / 2 + 1}};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    errno = 0;
    ck_assert_ptr_null(rill_range(bad[k].start, bad[k].count));
    ck_assert_int_eq(errno, EINVAL);
  }
}
END_TEST

START_TEST(range_accepts_the_extremes_of_int64) {
  /* start + count == INT64_MAX is the largest valid end. */
  rill_observable_t *obs = rill_range(INT64_MAX - 2, 2);
  ck_assert_ptr_nonnull(obs);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  assert_ints_from(&r, INT64_MAX - 2, 2);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(obs);

  obs = rill_range(INT64_MIN, 3);
  ck_assert_ptr_nonnull(obs);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  assert_ints_from(&r, INT64_MIN, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(obs);

  /* A huge (but valid) range from a negative start: take a few, cancel. */
  obs = rill_range(-5, INT64_MAX);
  ck_assert_ptr_nonnull(obs);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 3);
  assert_ints_from(&r, -5, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(range_request_one_steps_and_completes_after_last_value) {
  rill_observable_t *obs = rill_range(10, 4);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 0);
  for (int64_t i = 1; i <= 4; i++) {
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_request(&r, 1);
    ck_assert_int_eq(r.nexts, i);
    ck_assert_int_eq(rec_int(&r, (size_t)i - 1), 10 + i - 1);
  }
  /* Completion came with the last value, without a fifth request. */
  ck_assert_int_eq(r.requested, 4);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);

  /* Reused, with request(k) in chunks: 3, then 3 of which only 1 is left. */
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 3);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 4); /* range(10, 4) has only 4 */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(range_request_one_from_on_next_is_iterative) {
  int64_t n = tl_scaled(1000 * 1000);
  rill_observable_t *obs = rill_range(0, n);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.max_depth, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(range_cancel_inside_kth_on_next_stops_there) {
  static const int64_t ks[] = {1, 2, 17, 999};
  for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
    rill_observable_t *obs = rill_range(0, 1000);
    rec_t r;
    rec_init(&r);
    r.store = false;
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = ks[i];
    r.cancel_times = 2;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.nexts, ks[i]);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
  }
}
END_TEST

static int keep_mod3(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i % 3 == 0;
}

static int add_one(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(in.as.i + 1);
  return 0;
}

START_TEST(range_demand_counts_only_values_that_pass_fused_filters) {
  /* range has its own kernel for up to two fused steps and a generic path
   * for more: in both, a value a filter drops must not use up demand. */
  for (int steps = 2; steps <= 3; steps++) {
    rill_observable_t *obs = rill_filter(rill_range(0, 10), keep_mod3, NULL);
    obs = rill_map(obs, tl_double, NULL);
    if (steps == 3)
      obs = rill_map(obs, add_one, NULL);
    ck_assert_ptr_nonnull(obs);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    /* 0, 3, 6, 9 pass; one request(1) each. */
    for (int64_t i = 0; i < 4; i++) {
      rec_request(&r, 1);
      ck_assert_int_eq(r.nexts, i + 1);
      ck_assert_int_eq(rec_int(&r, (size_t)i), 3 * i * 2 + (steps == 3));
    }
    /* 9 was the last value of the range: complete with it. */
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
}
END_TEST

/* ---- just and from_array
 * ---------------------------------------------------*/

START_TEST(from_array_emits_in_order_and_completes_with_last_value) {
  rill_value_t vals[] = {rill_value_int(5), rill_value_int(-1),
                         rill_value_int(5), rill_value_int(9)};
  rill_observable_t *obs = rill_from_array(vals, 4);
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "from_array");
  vals[0] = rill_value_int(77); /* the array was copied */
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 1);
  rec_request(&r, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.requested, 4);
  ck_assert_int_eq(rec_int(&r, 0), 5);
  ck_assert_int_eq(rec_int(&r, 1), -1);
  ck_assert_int_eq(rec_int(&r, 2), 5);
  ck_assert_int_eq(rec_int(&r, 3), 9);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(just_emits_in_order_and_completes_with_last_value) {
  rill_observable_t *obs =
      rill_just(3, rill_value_int(3), rill_value_int(1), rill_value_int(2));
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "just");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_uint_eq(r.values.len, 3);
  ck_assert_int_eq(rec_int(&r, 0), 3);
  ck_assert_int_eq(rec_int(&r, 1), 1);
  ck_assert_int_eq(rec_int(&r, 2), 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  /* Mixed kinds pass through untouched. */
  static int target;
  obs = rill_just(3, rill_value_double(2.5), rill_value_bool(true),
                  rill_value_ptr(&target));
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 3);
  ck_assert_int_eq(got.items[0].kind, RILL_KIND_DOUBLE);
  ck_assert(got.items[0].as.d == 2.5);
  ck_assert_int_eq(got.items[1].kind, RILL_KIND_BOOL);
  ck_assert(got.items[1].as.b);
  ck_assert_ptr_eq(got.items[2].as.ptr, &target);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

static void check_reuse(rill_observable_t *obs, int64_t n) {
  /* Two live subscriptions of one observable, interleaved. */
  rec_t a, b;
  rec_init(&a);
  rec_init(&b);
  ck_assert_int_eq(rec_subscribe(&a, obs), 0);
  ck_assert_int_eq(rec_subscribe(&b, obs), 0);
  rec_request(&a, 1);
  rec_request(&b, 2);
  rec_request(&a, n);
  ck_assert_int_eq(a.terminal, REC_COMPLETE);
  rec_request(&b, n);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.nexts, n);
  ck_assert_int_eq(b.nexts, n);
  for (int64_t i = 0; i < n; i++) {
    ck_assert_int_eq(rec_int(&a, (size_t)i), i * 10);
    ck_assert_int_eq(rec_int(&b, (size_t)i), i * 10);
  }
  ck_assert_rec_ok(&a);
  ck_assert_rec_ok(&b);
  rec_clear(&a);
  rec_clear(&b);
  /* And a third one after both ended. */
  rec_init(&a);
  a.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&a, obs), 0);
  ck_assert_int_eq(a.nexts, n);
  ck_assert_int_eq(a.terminal, REC_COMPLETE);
  ck_assert_int_eq(rec_int(&a, (size_t)n - 1), (n - 1) * 10);
  rec_clear(&a);
}

START_TEST(from_array_and_just_reused_give_each_subscription_everything) {
  rill_value_t vals[5];
  for (int i = 0; i < 5; i++)
    vals[i] = rill_value_int(i * 10);
  rill_observable_t *obs = rill_from_array(vals, 5);
  check_reuse(obs, 5);
  rill_observable_free(obs);

  obs = rill_just(4, rill_value_int(0), rill_value_int(10), rill_value_int(20),
                  rill_value_int(30));
  check_reuse(obs, 4);
  rill_observable_free(obs);
}
END_TEST

START_TEST(from_array_and_just_reused_with_owned_values) {
  /* Owned values: each subscription gets its own references; the recipe
   * keeps its own until rill_observable_free; every value is released
   * exactly once in the end, whatever each subscription did. */
  for (int which = 0; which < 2; which++) {
    tl_owned_reset();
    rill_observable_t *obs;
    if (which == 0) {
      rill_value_t vals[5];
      for (int i = 0; i < 5; i++)
        vals[i] = tl_owned(i * 10);
      obs = rill_from_array(vals, 5);
    } else {
      obs = rill_just(5, tl_owned(0), tl_owned(10), tl_owned(20), tl_owned(30),
                      tl_owned(40));
    }
    ck_assert_ptr_nonnull(obs);
    ck_assert_int_eq(tl_owned_made, 5);
    check_reuse(obs, 5);
    /* All subscriptions' references were released by rec_clear; the
     * recipe still holds the values. */
    ck_assert_int_eq(tl_owned_released, 0);

    /* A subscription cancelled half-way, one whose values are released in
     * on_next, and one cancelled before any request. */
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_request(&r, 2);
    rec_cancel(&r);
    ck_assert_int_eq(tl_owned_int(r.values.items[1]), 10);
    rec_clear(&r);
    rec_init(&r);
    r.store = false;
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_cancel(&r);
    ck_assert_int_eq(tl_owned_released, 0);

    rill_observable_free(obs);
    ck_assert_int_eq(tl_owned_released, 5);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(from_array_empty_completes_at_once) {
  rill_value_t one = rill_value_int(1);
  rill_observable_t *obs[3] = {rill_from_array(NULL, 0),
                               rill_from_array(&one, 0), rill_just(0)};
  for (int k = 0; k < 3; k++) {
    ck_assert_ptr_nonnull(obs[k]);
    for (int again = 0; again < 2; again++) {
      rec_t r;
      rec_init(&r);
      ck_assert_int_eq(rec_subscribe(&r, obs[k]), 0);
      ck_assert_int_eq(r.requested, 0);
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 0);
      ck_assert_rec_ok(&r);
    }
    rill_observable_free(obs[k]);
  }
}
END_TEST

START_TEST(from_array_null_with_count_is_einval) {
  errno = 0;
  ck_assert_ptr_null(rill_from_array(NULL, 3));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(from_array_and_just_enomem_release_the_values) {
  /* "Copies the array and takes over the owned values in it (also on
   * failure)": make each allocation of the constructor fail in turn.  The
   * owned values are made after the counting allocator is installed (their
   * boxes come from it too), and before the failure is armed. */
  for (long fail = 0; fail < 4; fail++) {
    tl_alloc_install();
    tl_owned_reset();
    rill_value_t vals[3] = {tl_owned(1), tl_owned(2), tl_owned(3)};
    tl_alloc_index = 0;
    tl_fail_at = fail;
    errno = 0;
    rill_observable_t *a = rill_from_array(vals, 3);
    long attempted = tl_alloc_index;
    tl_fail_at = -1;
    if (a == NULL) {
      ck_assert_int_eq(errno, ENOMEM);
      ck_assert_int_eq(tl_owned_released, 3);
    } else {
      ck_assert_int_le(attempted, fail);
      ck_assert_int_eq(tl_owned_released, 0);
      rill_observable_free(a);
    }
    ck_assert_int_eq(tl_live, 0);
    ck_assert_owned_balanced();

    tl_owned_reset();
    rill_value_t x = tl_owned(1), y = tl_owned(2), z = tl_owned(3);
    tl_alloc_index = 0;
    tl_fail_at = fail;
    errno = 0;
    rill_observable_t *b = rill_just(3, x, y, z);
    attempted = tl_alloc_index;
    tl_fail_at = -1;
    if (b == NULL) {
      ck_assert_int_eq(errno, ENOMEM);
      ck_assert_int_eq(tl_owned_released, 3);
    } else {
      ck_assert_int_le(attempted, fail);
      ck_assert_int_eq(tl_owned_released, 0);
      rill_observable_free(b);
    }
    ck_assert_int_eq(tl_live, 0);
    ck_assert_owned_balanced();
    tl_alloc_uninstall();
  }
}
END_TEST

START_TEST(from_array_subscribe_enomem_is_on_subscribe_then_on_error) {
  tl_alloc_install();
  tl_owned_reset();
  rill_value_t vals[2] = {tl_owned(1), tl_owned(2)};
  rill_observable_t *obs = rill_from_array(vals, 2);
  ck_assert_ptr_nonnull(obs);
  /* Allocation 0 of subscribe is the subscription, 1 the source node. */
  for (long fail = 0; fail < 3; fail++) {
    tl_alloc_index = 0;
    tl_fail_at = fail;
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    int rc = rec_subscribe(&r, obs);
    tl_fail_at = -1;
    if (rc == RILL_ENOMEM) {
      ck_assert_int_eq(fail, 0);
      ck_assert_int_eq(r.subscribes, 0); /* nothing called */
    } else if (r.terminal == REC_ERROR) {
      ck_assert_int_eq(rc, 0);
      ck_assert_int_eq(r.subscribes, 1);
      ck_assert_int_eq(r.err.code, RILL_ENOMEM);
      ck_assert_int_eq(r.nexts, 0);
    } else {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 2);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(obs);
  ck_assert_int_eq(tl_live, 0);
  tl_alloc_uninstall();
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(from_array_subscription_outlives_the_observable) {
  /* "Subscribing does not consume the reference: a running subscription
   * keeps what it needs": free the observable half-way. */
  tl_owned_reset();
  rill_value_t vals[4] = {tl_owned(0), tl_owned(1), tl_owned(2), tl_owned(3)};
  rill_observable_t *obs = rill_from_array(vals, 4);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  rill_observable_free(obs);
  ck_assert_int_eq(tl_owned_released, 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  for (int64_t i = 0; i < 4; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), i);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_owned_balanced();

  /* Same for generate: its ctx and functions stay in use. */
  struct gen g;
  gen_setup(&g, 3);
  obs = gen_obs(&g);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rill_observable_free(obs);
  rec_request(&r, 10);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  assert_ints_from(&r, 0, 3);
  ck_assert_int_eq(g.finis, 1);
  rec_clear(&r);
}
END_TEST

/* ---- empty, never, error
 * ---------------------------------------------------*/

START_TEST(empty_completes_without_request) {
  rill_observable_t *obs = rill_empty();
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "empty");
  for (int again = 0; again < 3; again++) {
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.subscribes, 1);
    ck_assert_int_eq(r.requested, 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
  }
  /* With a handle: done, and requests/cancels after it are no-ops. */
  struct cnt c = {0};
  rill_subscription_t *s;
  ck_assert_int_eq(rill_observable_subscribe(obs, &cnt_sub, &c, &s), 0);
  ck_assert_int_eq(c.completes, 1);
  ck_assert(rill_subscription_done(s));
  ck_assert_int_eq(rill_subscription_request(s, 5), 0);
  ck_assert_int_eq(rill_subscription_cancel(s), 0);
  ck_assert_int_eq(c.completes, 1);
  ck_assert_int_eq(c.errors, 0);
  rill_subscription_free(s);
  rill_observable_free(obs);
}
END_TEST

START_TEST(never_signals_nothing_and_cancel_works) {
  rill_observable_t *obs = rill_never();
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "never");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);

  struct cnt c = {0};
  rill_subscription_t *s;
  ck_assert_int_eq(rill_observable_subscribe(obs, &cnt_sub, &c, &s), 0);
  ck_assert_int_eq(rill_subscription_request(s, 100), 0);
  ck_assert(!rill_subscription_done(s));
  ck_assert_int_eq(rill_subscription_cancel(s), 0);
  ck_assert(rill_subscription_done(s));
  ck_assert_int_eq(rill_subscription_cancel(s), 0);
  ck_assert_int_eq(rill_subscription_request(s, 1), 0);
  ck_assert_int_eq(c.subscribes, 1);
  ck_assert_int_eq(c.nexts + c.completes + c.errors, 0);
  rill_subscription_free(s);

  /* Freed without a cancel: rill_subscription_free cancels it. */
  ck_assert_int_eq(rill_observable_subscribe(obs, &cnt_sub, &c, &s), 0);
  rill_subscription_free(s);
  ck_assert_int_eq(c.nexts + c.completes + c.errors, 0);
  rill_observable_free(obs);
}
END_TEST

START_TEST(error_signals_on_error_without_request) {
  rill_observable_t *obs = rill_error(RILL_EUSER, "boom");
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "error");
  for (int again = 0; again < 2; again++) {
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.subscribes, 1);
    ck_assert_int_eq(r.requested, 0);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(r.err.code, RILL_EUSER);
    ck_assert_int_eq(r.err.sys_errno, 0);
    ck_assert_str_eq(r.err.stage, "error");
    ck_assert_str_eq(r.err.message, "boom");
    ck_assert_rec_ok(&r);
  }
  rill_observable_free(obs);

  /* A user code outside the RILL_E* table is passed through. */
  obs = rill_error(-4242, "custom");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.err.code, -4242);
  ck_assert_str_eq(r.err.message, "custom");
  rill_observable_free(obs);
}
END_TEST

START_TEST(error_message_is_copied_defaulted_and_truncated) {
  char msg[] = "original";
  rill_observable_t *obs = rill_error(RILL_EINVAL, msg);
  memcpy(msg, "changed!", 8);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(r.err.message, "original");
  rill_observable_free(obs);

  obs = rill_error(RILL_ETIMEDOUT, NULL);
  ck_assert_ptr_nonnull(obs);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.err.code, RILL_ETIMEDOUT);
  ck_assert_str_eq(r.err.message, "error: timed out (RILL_ETIMEDOUT)");
  rill_observable_free(obs);

  char long_msg[300];
  memset(long_msg, 'x', sizeof(long_msg) - 1);
  long_msg[sizeof(long_msg) - 1] = '\0';
  obs = rill_error(RILL_EUSER, long_msg);
  ck_assert_ptr_nonnull(obs);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_uint_eq(strlen(r.err.message), RILL_ERROR_MESSAGE_MAX - 1);
  ck_assert_int_eq(r.err.message[0], 'x');
  rill_observable_free(obs);
}
END_TEST

START_TEST(error_rejects_non_negative_codes) {
  static const int codes[] = {0, 1, 12345};
  for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
    errno = 0;
    ck_assert_ptr_null(rill_error(codes[k], "no"));
    ck_assert_int_eq(errno, EINVAL);
  }
}
END_TEST

/* ---- cancel inside on_subscribe, every source
 * ---------------------------------*/

static struct gen cancel_gen;

static rill_observable_t *make_source(int k) {
  switch (k) {
  case 0:
    return rill_range(0, 10);
  case 1:
    return rill_range(0, 0);
  case 2:
    return rill_just(2, tl_owned(1), tl_owned(2));
  case 3:
    return rill_from_array(NULL, 0);
  case 4:
    return rill_empty();
  case 5:
    return rill_never();
  case 6:
    return rill_error(RILL_EUSER, "x");
  default:
    gen_setup(&cancel_gen, 5);
    cancel_gen.owned = true;
    return gen_obs(&cancel_gen);
  }
}

START_TEST(cancel_inside_on_subscribe_gives_no_further_signals) {
  for (int k = 0; k < 8; k++) {
    tl_owned_reset();
    rill_observable_t *obs = make_source(k);
    ck_assert_ptr_nonnull(obs);
    rec_t r;
    rec_init(&r);
    r.cancel_on_subscribe = true; /* cancels twice */
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_msg(r.subscribes == 1 && r.nexts == 0 && r.terminals == 0,
                  "source %d: %d subscribes, %lld nexts, %d terminals", k,
                  r.subscribes, (long long)r.nexts, r.terminals);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
  /* generate: init ran, fini ran once, next never. */
  ck_assert_int_eq(cancel_gen.inits, 1);
  ck_assert_int_eq(cancel_gen.finis, 1);
  ck_assert_int_eq(cancel_gen.calls, 0);
}
END_TEST

/* ---- generate
 * --------------------------------------------------------------*/

START_TEST(generate_calls_next_once_per_requested_item) {
  struct gen g;
  gen_setup(&g, -1); /* infinite */
  rill_observable_t *obs = gen_obs(&g);
  ck_assert_ptr_nonnull(obs);
  ck_assert_str_eq(rill_observable_name(obs), "generate");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(g.inits, 1);
  ck_assert_int_eq(g.calls, 0); /* nothing ahead of demand */
  rec_request(&r, 1);
  ck_assert_int_eq(g.calls, 1);
  ck_assert_int_eq(r.nexts, 1);
  rec_request(&r, 3);
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(r.nexts, 4);
  rec_request(&r, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(g.calls, 6);
  rec_request(&r, 100);
  ck_assert_int_eq(g.calls, 106);
  ck_assert_int_eq(r.nexts, 106);
  assert_ints_from(&r, 0, 106);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.finis, 0);
  rec_cancel(&r);
  ck_assert_int_eq(g.calls, 106);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_int_eq(g.live_states, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(generate_request_from_on_next_calls_next_in_step) {
  /* request(1) from every on_next: still exactly one call per item, no
   * nesting, and the stack does not grow. */
  struct gen g;
  int64_t n = tl_scaled(200 * 1000);
  gen_setup(&g, n);
  rill_observable_t *obs = gen_obs(&g);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(g.calls, n + 1); /* the last call said "done" */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.max_depth, 1);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(generate_completion_arrives_in_answer_to_a_request) {
  struct gen g;
  gen_setup(&g, 3);
  rill_observable_t *obs = gen_obs(&g);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(g.calls, 3);
  /* Unlike range, generate cannot know it is finished yet. */
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.finis, 0);
  rec_request(&r, 1);
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);

  /* An empty generator: subscribing alone completes nothing ... */
  gen_setup(&g, 0);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 0);
  /* ... the first request asks next() once and completes. */
  rec_request(&r, 5);
  ck_assert_int_eq(g.calls, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(g.finis, 1);
  rill_observable_free(obs);
}
END_TEST

START_TEST(generate_negative_next_is_on_error_with_that_code) {
  static const int codes[] = {RILL_EUSER, RILL_ECALLBACK, -777};
  for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
    struct gen g;
    gen_setup(&g, -1);
    g.fail_at = 2;
    g.fail_code = codes[k];
    g.owned = true;
    tl_owned_reset();
    rill_observable_t *obs = gen_obs(&g);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_request(&r, 2);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_request(&r, 10);
    ck_assert_int_eq(g.calls, 3);
    ck_assert_int_eq(r.nexts, 2);
    ck_assert_int_eq(tl_owned_int(r.values.items[1]), 1);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.err.code, codes[k]);
    ck_assert_str_eq(r.err.stage, "generate");
    ck_assert_int_eq(g.finis, 1);
    ck_assert_int_eq(g.live_states, 0);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(generate_init_runs_per_subscription) {
  struct gen g;
  gen_setup(&g, 4);
  g.base = 100;
  rill_observable_t *obs = gen_obs(&g);
  rec_t a, b;
  rec_init(&a);
  rec_init(&b);
  ck_assert_int_eq(rec_subscribe(&a, obs), 0);
  ck_assert_int_eq(rec_subscribe(&b, obs), 0);
  ck_assert_int_eq(g.inits, 2);
  ck_assert_int_eq(g.live_states, 2);
  rec_request(&a, 2);
  rec_request(&b, 1);
  rec_request(&a, 1);
  rec_request(&b, 3);
  /* Each subscription has its own counter: both see 100, 101, ... */
  assert_ints_from(&a, 100, 3);
  assert_ints_from(&b, 100, 4);
  ck_assert_int_eq(b.terminal, REC_NONE);
  rec_request(&b, 1);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_int_eq(a.terminal, REC_NONE);
  rec_request(&a, 2);
  assert_ints_from(&a, 100, 4);
  ck_assert_int_eq(a.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.finis, 2);
  ck_assert_int_eq(g.live_states, 0);
  ck_assert_int_eq(g.calls, 10); /* 4 values + 1 "done" per subscription */
  ck_assert_rec_ok(&a);
  ck_assert_rec_ok(&b);
  rec_clear(&a);
  rec_clear(&b);
  rill_observable_free(obs);
}
END_TEST

static int null_init_next(void *state, rill_value_t *out) {
  int64_t *left = state;
  if (*left == 0)
    return 0;
  *out = rill_value_int((*left)--);
  return 1;
}

START_TEST(generate_without_init_uses_ctx_as_state) {
  int64_t left = 3;
  rill_observable_t *obs = rill_generate(NULL, null_init_next, NULL, &left);
  ck_assert_ptr_nonnull(obs);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_uint_eq(r.values.len, 3);
  ck_assert_int_eq(rec_int(&r, 0), 3);
  ck_assert_int_eq(rec_int(&r, 2), 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(left, 0);
  rec_clear(&r);
  rill_observable_free(obs);

  errno = 0;
  ck_assert_ptr_null(rill_generate(gen_init, NULL, gen_fini, NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(generate_fini_runs_once_on_complete_error_and_cancel) {
  enum { COMPLETE, ERROR, CANCEL, CANCEL_IN_NEXT, BAD_REQUEST, FREE_HANDLE };
  for (int path = COMPLETE; path <= FREE_HANDLE; path++) {
    struct gen g;
    gen_setup(&g, path == COMPLETE ? 2 : -1);
    if (path == ERROR) {
      g.fail_at = 1;
      g.fail_code = RILL_EUSER;
    }
    g.owned = true;
    tl_owned_reset();
    rill_observable_t *obs = gen_obs(&g);
    rec_t r;
    rec_init(&r);
    if (path == CANCEL_IN_NEXT)
      r.cancel_at = 2;
    if (path == FREE_HANDLE) {
      struct cnt c = {0};
      rill_subscription_t *s;
      ck_assert_int_eq(rill_observable_subscribe(obs, &cnt_sub, &c, &s), 0);
      ck_assert_int_eq(rill_subscription_request(s, 3), 0);
      ck_assert_int_eq(c.nexts, 3);
      ck_assert_int_eq(g.finis, 0);
      rill_subscription_free(s); /* cancels */
      ck_assert_int_eq(c.completes + c.errors, 0);
    } else {
      ck_assert_int_eq(rec_subscribe(&r, obs), 0);
      if (path == BAD_REQUEST) {
        rec_request(&r, 1);
        rill_subscription_request(r.s, 0); /* rule 3.9: error, cancel */
        ck_assert_int_eq(r.terminal, REC_ERROR);
        ck_assert_int_eq(r.err.code, RILL_EINVAL);
      } else {
        rec_request(&r, 5);
      }
      if (path == CANCEL)
        rec_cancel(&r);
    }
    ck_assert_msg(g.finis == 1, "path %d: fini ran %ld times", path, g.finis);
    ck_assert_int_eq(g.inits, 1);
    ck_assert_int_eq(g.live_states, 0);
    /* Later signals must not run it again. */
    ck_assert_int_eq(g.finis, 1);
    switch (path) {
    case COMPLETE:
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      break;
    case ERROR:
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.nexts, 1);
      break;
    case CANCEL:
      ck_assert_int_eq(r.nexts, 5);
      /* fall through */
    case CANCEL_IN_NEXT:
      ck_assert_int_eq(r.terminal, REC_NONE);
      break;
    default:
      break;
    }
    if (path == CANCEL_IN_NEXT) {
      ck_assert_int_eq(r.nexts, 2);
      ck_assert_int_eq(g.calls, 2);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(generate_init_failure_is_on_subscribe_then_on_error) {
  static const int codes[] = {RILL_ENOMEM, RILL_EUSER, -99};
  for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
    struct gen g;
    gen_setup(&g, -1);
    g.init_rc = codes[k];
    rill_observable_t *obs = gen_obs(&g);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = 4;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.subscribes, 1);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.err.code, codes[k]);
    ck_assert_str_eq(r.err.stage, "generate");
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(g.init_calls, 1);
    ck_assert_int_eq(g.calls, 0);
    /* No state was made, so there is nothing to finalize; never twice. */
    ck_assert_int_le(g.finis, 1);
    ck_assert_int_eq(g.live_states, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(generate_unbounded_then_cancel_in_kth_on_next) {
  static const int64_t ks[] = {1, 2, 3, 64, 1000};
  for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
    struct gen g;
    gen_setup(&g, -1);
    g.owned = (i % 2) == 0;
    tl_owned_reset();
    rill_observable_t *obs = gen_obs(&g);
    rec_t r;
    rec_init(&r);
    r.store = false;
    r.request_on_subscribe = INT64_MAX;
    r.cancel_at = ks[i];
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.nexts, ks[i]);
    ck_assert_int_eq(g.calls, ks[i]);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(generate_owned_values_balanced_with_consume_batches) {
  /* The prefetch/refill sink policy never makes generate run ahead of
   * what the sink asked for, and every value is released. */
  struct gen g;
  int64_t n = tl_scaled(20000);
  gen_setup(&g, n);
  g.owned = true;
  tl_owned_reset();
  rill_observable_t *obs = gen_obs(&g);
  struct cnt c = {0};
  ck_assert_int_eq(rill_observable_consume(obs, &cnt_sub, &c, 16, NULL), 0);
  ck_assert_int_eq(c.nexts, n);
  ck_assert_int_eq(c.completes, 1);
  ck_assert_int_eq(g.calls, n + 1);
  ck_assert_int_eq(g.finis, 1);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- create: a source pushed by the caller
 * -----------------------------------*/

struct pusher {
  rill_emitter_t *e;
  int starts, ends;
};

static void pusher_start(void *ctx, rill_emitter_t *e) {
  struct pusher *p = ctx;
  p->e = e;
  p->starts++;
}

static void pusher_end(void *ctx, rill_emitter_t *e) {
  struct pusher *p = ctx;
  ck_assert_ptr_eq(e, p->e);
  p->ends++;
  p->e = NULL;
}

START_TEST(create_delivers_pushed_values_under_demand) {
  struct pusher p = {0};
  tl_owned_reset();
  rill_observable_t *o = rill_create(pusher_start, pusher_end, &p);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.starts, 1);
  ck_assert_int_eq(rill_emitter_demand(p.e), 0);
  ck_assert_int_eq(rill_emitter_next(p.e, tl_owned(1)), 0); /* queued */
  ck_assert_int_eq(rill_emitter_next(p.e, tl_owned(2)), 0);
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rill_emitter_demand(p.e), 1);
  rill_emitter_complete(p.e); /* nothing queued: completes now */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(p.ends, 1);
  ck_assert_int_eq(tl_owned_int(r.values.items[1]), 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(create_completion_waits_behind_queued_values) {
  struct pusher p = {0};
  rill_observable_t *o = rill_create(pusher_start, pusher_end, &p);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_emitter_next(p.e, rill_value_int(7));
  rill_emitter_complete(p.e);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(p.ends, 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(p.ends, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(create_error_drops_queued_values_and_cancel_ends_it) {
  struct pusher p = {0};
  tl_owned_reset();
  rill_observable_t *o = rill_create(pusher_start, pusher_end, &p);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rill_emitter_next(p.e, tl_owned(1));
  rill_emitter_error(p.e, RILL_EUSER, "feed broke");
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(p.ends, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  /* cancel: end() runs once, pushes after it are not allowed (p.e NULL) */
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.starts, 2);
  rill_emitter_next(p.e, tl_owned(2));
  rec_cancel(&r);
  ck_assert_int_eq(p.ends, 2);
  ck_assert_ptr_null(p.e);
  ck_assert_int_eq(rill_emitter_next(NULL, rill_value_int(1)), RILL_EINVAL);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  ck_assert_ptr_null(rill_create(NULL, NULL, NULL));
}
END_TEST

/* Issue 8 §5: end() never runs inside an emitter call.  A producer whose
 * end() frees its state, pushing in a loop into first(), used to have
 * end() run inside rill_emitter_next and then read freed memory. */
struct looper {
  rill_emitter_t *e;
  int *calls_in_flight; /* lives outside the freed struct */
  int *end_inside;
};
static int in_flight, end_inside, ends_run;
static void looper_start(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  struct looper *l = malloc(sizeof(*l));
  l->e = e;
  l->calls_in_flight = &in_flight;
  l->end_inside = &end_inside;
  rill_emitter_set_data(e, l);
  for (int i = 0; i < 10; i++) {
    in_flight++;
    int rc = rill_emitter_next(l->e, tl_owned(i));
    in_flight--;
    if (rc != 0) { /* ended: end() ran and freed l; touch nothing */
      ck_assert_int_eq(rc, RILL_ECANCELED);
      return;
    }
  }
}
static void looper_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  struct looper *l = rill_emitter_data(e);
  if (*l->calls_in_flight > 0)
    (*l->end_inside)++;
  ends_run++;
  free(l);
}

START_TEST(create_end_never_runs_inside_an_emitter_call) {
  tl_owned_reset();
  in_flight = end_inside = ends_run = 0;
  rill_observable_t *o =
      rill_first(rill_create(looper_start, looper_end, NULL), NULL, NULL, NULL);
  rill_values_t vals = {0};
  ck_assert_int_eq(rill_observable_collect(o, &vals, NULL), 0);
  ck_assert_uint_eq(vals.len, 1);
  ck_assert_int_eq(ends_run, 1);
  ck_assert_int_eq(end_inside, 0);
  rill_values_clear(&vals);
  rill_observable_free(o);
  ck_assert_owned_balanced(); /* valgrind/ASan: and no use after free */
}
END_TEST

/* Issue 8 §5: on_request tells the producer of demand as it arrives (never
 * nested in its own calls); ctx_free runs once with the observable. */
struct teller {
  rill_emitter_t *e;
  int64_t told;
  int calls, depth, max_depth;
  int frees;
  int pushed;
};
static void teller_start(void *ctx, rill_emitter_t *e) {
  ((struct teller *)ctx)->e = e;
}
static void teller_request(void *ctx, rill_emitter_t *e, int64_t n) {
  struct teller *t = ctx;
  if (++t->depth > t->max_depth)
    t->max_depth = t->depth;
  t->calls++;
  t->told = n == RILL_UNBOUNDED || t->told == RILL_UNBOUNDED
                ? RILL_UNBOUNDED
                : t->told + n;
  for (int64_t i = 0; i < n && t->pushed < 20; i++) /* pushes from inside */
    rill_emitter_next(e, rill_value_int(t->pushed++));
  if (t->pushed == 20)
    rill_emitter_complete(e);
  t->depth--;
}
static void teller_free(void *ctx) {
  ((struct teller *)ctx)->frees++;
}

START_TEST(create_on_request_and_ctx_free) {
  struct teller t = {0};
  rill_create_opts_t opts = {.on_request = teller_request,
                             .ctx_free = teller_free};
  rill_observable_t *o = rill_create_with(teller_start, NULL, &t, &opts);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 2;
  r.request_in_next = 1; /* each on_next asks again, inside the push */
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_ge(t.calls, 2);
  ck_assert_int_eq(t.max_depth, 1); /* never nested */
  ck_assert_int_eq(r.nexts, 20);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  /* told what was requested while the stream was live: 2, then 1 from
   * each on_next (the last ones arrive after the completion) */
  ck_assert_int_ge(t.told, 20);
  ck_assert_int_le(t.told, r.requested);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_int_eq(t.frees, 0);
  rill_observable_free(o);
  ck_assert_int_eq(t.frees, 1);
  /* a failing call frees ctx at once */
  ck_assert_ptr_null(rill_create_with(NULL, NULL, &t, &opts));
  ck_assert_int_eq(t.frees, 2);
}
END_TEST

/* Issue 7, defect 7: a subscriber that cancels in on_subscribe used to get
 * end() without start(). */
START_TEST(create_start_and_end_come_in_pairs) {
  struct pusher p = {0};
  rill_observable_t *o = rill_create(pusher_start, pusher_end, &p);
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.starts, 0);
  ck_assert_int_eq(p.ends, 0);
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.starts, 1);
  ck_assert_int_eq(p.ends, 0);
  rec_cancel(&r);
  ck_assert_int_eq(p.ends, 1);
  rill_observable_free(o);
}
END_TEST

Suite *sources_suite(void) {
  Suite *s = suite_create("sources");
  TCase *tc = tcase_create("range");
  tcase_add_test(tc, range_emits_count_integers_from_start);
  tcase_add_test(tc, range_two_subscribers_each_get_every_value);
  tcase_add_test(tc, range_count_zero_completes_without_request);
  tcase_add_test(tc, range_rejects_negative_count_and_overflow);
  tcase_add_test(tc, range_accepts_the_extremes_of_int64);
  tcase_add_test(tc, range_request_one_steps_and_completes_after_last_value);
  tcase_add_test(tc, range_request_one_from_on_next_is_iterative);
  tcase_add_test(tc, range_cancel_inside_kth_on_next_stops_there);
  tcase_add_test(tc, range_demand_counts_only_values_that_pass_fused_filters);
  suite_add_tcase(s, tc);

  tc = tcase_create("just_from_array");
  tcase_add_test(tc, from_array_emits_in_order_and_completes_with_last_value);
  tcase_add_test(tc, just_emits_in_order_and_completes_with_last_value);
  tcase_add_test(tc,
                 from_array_and_just_reused_give_each_subscription_everything);
  tcase_add_test(tc, from_array_and_just_reused_with_owned_values);
  tcase_add_test(tc, from_array_empty_completes_at_once);
  tcase_add_test(tc, from_array_null_with_count_is_einval);
  tcase_add_test(tc, from_array_and_just_enomem_release_the_values);
  tcase_add_test(tc, from_array_subscribe_enomem_is_on_subscribe_then_on_error);
  tcase_add_test(tc, from_array_subscription_outlives_the_observable);
  suite_add_tcase(s, tc);

  tc = tcase_create("empty_never_error");
  tcase_add_test(tc, empty_completes_without_request);
  tcase_add_test(tc, never_signals_nothing_and_cancel_works);
  tcase_add_test(tc, error_signals_on_error_without_request);
  tcase_add_test(tc, error_message_is_copied_defaulted_and_truncated);
  tcase_add_test(tc, error_rejects_non_negative_codes);
  tcase_add_test(tc, cancel_inside_on_subscribe_gives_no_further_signals);
  suite_add_tcase(s, tc);

  tc = tcase_create("generate");
  tcase_add_test(tc, generate_calls_next_once_per_requested_item);
  tcase_add_test(tc, generate_request_from_on_next_calls_next_in_step);
  tcase_add_test(tc, generate_completion_arrives_in_answer_to_a_request);
  tcase_add_test(tc, generate_negative_next_is_on_error_with_that_code);
  tcase_add_test(tc, generate_init_runs_per_subscription);
  tcase_add_test(tc, generate_without_init_uses_ctx_as_state);
  tcase_add_test(tc, generate_fini_runs_once_on_complete_error_and_cancel);
  tcase_add_test(tc, generate_init_failure_is_on_subscribe_then_on_error);
  tcase_add_test(tc, generate_unbounded_then_cancel_in_kth_on_next);
  tcase_add_test(tc, generate_owned_values_balanced_with_consume_batches);
  suite_add_tcase(s, tc);
  tc = tcase_create("create");
  tcase_add_test(tc, create_delivers_pushed_values_under_demand);
  tcase_add_test(tc, create_completion_waits_behind_queued_values);
  tcase_add_test(tc, create_error_drops_queued_values_and_cancel_ends_it);
  tcase_add_test(tc, create_start_and_end_come_in_pairs);
  tcase_add_test(tc, create_end_never_runs_inside_an_emitter_call);
  tcase_add_test(tc, create_on_request_and_ctx_free);
  suite_add_tcase(s, tc);
  return s;
}
