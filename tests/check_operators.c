/* SPDX-License-Identifier: MIT */
/* rill tests: operators -- map, filter (and their fusion), take, skip,
 * take_while, scan, reduce, distinct_until_changed, start_with,
 * buffer_count, concat.
 *
 * Expected results follow RxJS 7's own marble cases (the rxjs-marbles
 * conformance data; case ids such as take-001 are cited next to each
 * test), read without timing: a cold "--1--2--|" is from_array 1,2 and
 * complete, "#" is an error.  Every operator is also driven through:
 *   - a negative user-callback code (where it takes a callback): on_error
 *     carries that code and the operator's stage name, and upstream is
 *     cancelled (a counting rill_generate source proves it: fini ran and
 *     next() was not called again);
 *   - owned values (tl_owned) on the complete, error, cancel-from-on_next
 *     and drop paths, checked with ck_assert_owned_balanced(). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* A user callback's own error code: it must reach on_error unchanged. */
#define USER_CODE (-4242)

/* ---- showing values as text --------------------------------------------
 * Results are compared as strings ("1,2,3", "[1,2],[3]"), which keeps the
 * expectations short and the failure messages readable. */

static char show_buf[16384];

static void show_put(size_t *at, const char *s) {
  size_t n = strlen(s);
  if (*at + n >= sizeof(show_buf))
    n = sizeof(show_buf) - 1 - *at;
  memcpy(show_buf + *at, s, n);
  *at += n;
  show_buf[*at] = '\0';
}

static void show_value(size_t *at, rill_value_t v) {
  char tmp[64];
  switch (v.kind) {
  case RILL_KIND_INT:
    snprintf(tmp, sizeof(tmp), "%lld", (long long)v.as.i);
    show_put(at, tmp);
    break;
  case RILL_KIND_OWNED:
    snprintf(tmp, sizeof(tmp), "%lld", (long long)tl_owned_int(v));
    show_put(at, tmp);
    break;
  case RILL_KIND_DOUBLE:
    snprintf(tmp, sizeof(tmp), "%gd", v.as.d);
    show_put(at, tmp);
    break;
  case RILL_KIND_BUF: {
    size_t len = rill_buf_len(v.as.buf);
    if (len > sizeof(tmp) - 3)
      len = sizeof(tmp) - 3;
    tmp[0] = '\'';
    memcpy(tmp + 1, rill_buf_data(v.as.buf), len);
    tmp[len + 1] = '\'';
    tmp[len + 2] = '\0';
    show_put(at, tmp);
    break;
  }
  case RILL_KIND_ARRAY:
    show_put(at, "[");
    for (size_t i = 0; i < rill_array_len(v.as.array); i++) {
      if (i > 0)
        show_put(at, ",");
      show_value(at, rill_array_at(v.as.array, i));
    }
    show_put(at, "]");
    break;
  default:
    snprintf(tmp, sizeof(tmp), "?kind%d", (int)v.kind);
    show_put(at, tmp);
    break;
  }
}

static const char *show(const rill_value_t *items, size_t len) {
  size_t at = 0;
  show_buf[0] = '\0';
  for (size_t i = 0; i < len; i++) {
    if (i > 0)
      show_put(&at, ",");
    show_value(&at, items[i]);
  }
  return show_buf;
}

#define SHOW_GOT(v) show((v)->items, (v)->len)
#define SHOW_REC(r) show((r)->values.items, (r)->values.len)

/* ---- values and sources ------------------------------------------------*/

/* The integer inside an int or owned value. */
static int64_t xi(rill_value_t v) {
  if (v.kind == RILL_KIND_OWNED)
    return tl_owned_int(v);
  ck_assert_int_eq(v.kind, RILL_KIND_INT);
  return v.as.i;
}

static rill_value_t mkv(int64_t x, bool owned) {
  return owned ? tl_owned(x) : rill_value_int(x);
}

/* A new value holding x, owned if `like` is owned. */
static rill_value_t mk_like(int64_t x, rill_value_t like) {
  return mkv(x, like.kind == RILL_KIND_OWNED);
}

/* "1,2,3" -> {1,2,3}; "" -> nothing. */
static size_t parse_list(const char *s, int64_t *out, size_t max) {
  size_t n = 0;
  while (*s != '\0') {
    char *end;
    long long x = strtoll(s, &end, 10);
    ck_assert_ptr_ne(end, s);
    ck_assert_uint_lt(n, max);
    out[n++] = x;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

/* from_array of the listed integers, as ints or as owned values. */
static rill_observable_t *vals_src(bool owned, const char *list) {
  int64_t xs[128];
  rill_value_t vs[128];
  size_t n = parse_list(list, xs, 128);
  for (size_t i = 0; i < n; i++)
    vs[i] = mkv(xs[i], owned);
  rill_observable_t *obs = rill_from_array(vs, n);
  ck_assert_ptr_nonnull(obs);
  return obs;
}

/* A counting pull source (rill_generate): a list, or start, start+1, ...
 * (endless when limit < 0); the fail_at-th next() call (0-based) of a
 * subscription returns fail_code.  Counts init/next/fini calls, so a test can
 * prove that a stage was (not) subscribed, never ran ahead of demand, and was
 * cancelled (fini ran, next() not called again). */
struct gen {
  int64_t xs[128];
  size_t n;
  bool list;
  int64_t start;
  int64_t limit;
  int64_t fail_at;
  int fail_code;
  bool owned;
  int64_t pos;   /* next() calls in this subscription */
  int64_t calls; /* next() calls in all subscriptions */
  int inits;
  int finis;
};

static void gen_count(struct gen *g, bool owned, int64_t start, int64_t limit) {
  memset(g, 0, sizeof(*g));
  g->owned = owned;
  g->start = start;
  g->limit = limit;
  g->fail_at = -1;
}

static void gen_list(struct gen *g, bool owned, const char *list) {
  gen_count(g, owned, 0, -1);
  g->list = true;
  g->n = parse_list(list, g->xs, 128);
}

/* After the listed values (or at call `at`), next() fails with `code`. */
static void gen_fail(struct gen *g, int64_t at, int code) {
  g->fail_at = at;
  g->fail_code = code;
}

static int gen_init_cb(void *ctx, void **state) {
  struct gen *g = ctx;
  g->inits++;
  g->pos = 0;
  *state = g;
  return 0;
}

static int gen_next_cb(void *state, rill_value_t *out) {
  struct gen *g = state;
  int64_t i = g->pos++;
  g->calls++;
  if (g->fail_at >= 0 && i == g->fail_at)
    return g->fail_code;
  int64_t x;
  if (g->list) {
    if ((size_t)i >= g->n)
      return 0;
    x = g->xs[i];
  } else {
    if (g->limit >= 0 && i >= g->limit)
      return 0;
    x = g->start + i;
  }
  *out = mkv(x, g->owned);
  return 1;
}

static void gen_fini_cb(void *state) {
  struct gen *g = state;
  g->finis++;
}

static rill_observable_t *gen_obs(struct gen *g) {
  rill_observable_t *obs =
      rill_generate(gen_init_cb, gen_next_cb, gen_fini_cb, g);
  ck_assert_ptr_nonnull(obs);
  return obs;
}

/* Collect with unbounded demand; returns collect's result. */
static int collect(rill_observable_t *obs, rill_values_t *got,
                   rill_error_t *err) {
  ck_assert_ptr_nonnull(obs);
  memset(got, 0, sizeof(*got));
  memset(err, 0, sizeof(*err));
  return rill_observable_collect(obs, got, err);
}

/* ---- user callbacks ------------------------------------------------------
 * One context for all: counts calls, and the fail_at-th call (1-based)
 * returns `code`. */
struct cb {
  int64_t calls;
  int64_t fail_at;
  int code;
  int64_t k;
  int npairs;
  int64_t pairs[32][2]; /* comparator arguments, in call order */
};

static bool cb_enter(struct cb *c) {
  c->calls++;
  return c->fail_at > 0 && c->calls == c->fail_at;
}

static int m_times10(void *ctx, rill_value_t in, rill_value_t *out) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  *out = mk_like(xi(in) * 10, in);
  return 0;
}

static int p_odd(void *ctx, rill_value_t v) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return xi(v) % 2 != 0;
}

static int p_even(void *ctx, rill_value_t v) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return xi(v) % 2 == 0;
}

static int p_prime(void *ctx, rill_value_t v) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  int64_t x = xi(v);
  if (x <= 1)
    return 0;
  for (int64_t j = 2; j * j <= x; j++)
    if (x % j == 0)
      return 0;
  return 1;
}

static int p_true(void *ctx, rill_value_t v) {
  (void)v;
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return 1;
}

static int p_false(void *ctx, rill_value_t v) {
  (void)v;
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return 0;
}

/* x < k */
static int p_lt(void *ctx, rill_value_t v) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return xi(v) < c->k;
}

/* x != k */
static int p_ne(void *ctx, rill_value_t v) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  return xi(v) != c->k;
}

static int r_sum(void *ctx, rill_value_t acc, rill_value_t v,
                 rill_value_t *out) {
  struct cb *c = ctx;
  if (cb_enter(c))
    return c->code;
  bool owned = acc.kind == RILL_KIND_OWNED || v.kind == RILL_KIND_OWNED;
  *out = mkv(xi(acc) + xi(v), owned);
  return 0;
}

static void cb_pair(struct cb *c, rill_value_t a, rill_value_t b) {
  if (c->npairs < 32) {
    c->pairs[c->npairs][0] = xi(a);
    c->pairs[c->npairs][1] = xi(b);
    c->npairs++;
  }
}

/* Equal by integer. */
static int e_int(void *ctx, rill_value_t a, rill_value_t b) {
  struct cb *c = ctx;
  cb_pair(c, a, b);
  if (cb_enter(c))
    return c->code;
  return xi(a) == xi(b);
}

static int e_true(void *ctx, rill_value_t a, rill_value_t b) {
  struct cb *c = ctx;
  cb_pair(c, a, b);
  if (cb_enter(c))
    return c->code;
  return 1;
}

static int e_false(void *ctx, rill_value_t a, rill_value_t b) {
  struct cb *c = ctx;
  cb_pair(c, a, b);
  if (cb_enter(c))
    return c->code;
  return 0;
}

/* distinctUntilChanged-018: (x, y) => y % 2 === 0 */
static int e_cur_even(void *ctx, rill_value_t a, rill_value_t b) {
  struct cb *c = ctx;
  cb_pair(c, a, b);
  if (cb_enter(c))
    return c->code;
  return xi(b) % 2 == 0;
}

/* distinctUntilChanged-020: keys x % 2, comparator (x, y) => y % 2 === 1
 * on the keys, i.e. "equal" when the current value is odd. */
static int e_cur_key_odd(void *ctx, rill_value_t a, rill_value_t b) {
  struct cb *c = ctx;
  cb_pair(c, a, b);
  if (cb_enter(c))
    return c->code;
  return (xi(b) % 2) % 2 == 1;
}

/* ============================================================================
 * map
 * ==========================================================================*/

/* map-001 */
START_TEST(map_projects_every_value_in_order) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_map(vals_src(false, "1,2,3"), m_times10, &c);
  ck_assert_str_eq(rill_observable_name(obs), "map");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "10,20,30");
  ck_assert_int_eq(c.calls, 3);
  rill_values_clear(&got);
  rill_observable_free(obs);

  /* The same over range (its own fused kernel). */
  obs = rill_map(rill_range(1, 3), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "10,20,30");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* map-007 */
START_TEST(map_does_not_call_project_on_an_empty_source) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_map(rill_empty(), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  obs = rill_map(rill_range(5, 0), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  ck_assert_int_eq(c.calls, 0);
}
END_TEST

/* map-005, map-006 */
START_TEST(map_passes_a_source_error_after_the_mapped_values) {
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "10,20");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_map(rill_error(RILL_EUSER, "too bad"), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  ck_assert_str_eq(err.message, "too bad");
  ck_assert_str_eq(err.stage, "error");
  rill_observable_free(obs);
  ck_assert_int_eq(c.calls, 2);
}
END_TEST

/* map-004 */
START_TEST(map_project_error_reports_code_and_stage_and_cancels_source) {
  struct cb c = {.fail_at = 3, .code = USER_CODE};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_count(&g, false, 1, -1); /* endless */
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_int_eq(err.code, USER_CODE);
  ck_assert_str_eq(err.stage, "map");
  ck_assert_str_eq(SHOW_GOT(&got), "10,20");
  ck_assert_int_eq(g.calls, 3); /* nothing pulled after the failure */
  ck_assert_int_eq(g.finis, 1); /* upstream cancelled */
  rill_values_clear(&got);
  rill_observable_free(obs);

  /* range's fused kernel, and a raw subscriber. */
  c = (struct cb){.fail_at = 3, .code = USER_CODE};
  obs = rill_map(rill_range(1, 1000), m_times10, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, USER_CODE);
  ck_assert_str_eq(r.err.stage, "map");
  ck_assert_str_eq(SHOW_REC(&r), "10,20");
  ck_assert_int_eq(c.calls, 3);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(map_passes_demand_upstream_one_to_one) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(g.calls, 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "0,10");
  ck_assert_int_eq(g.calls, 2);
  rec_request(&r, 3);
  ck_assert_str_eq(SHOW_REC(&r), "0,10,20,30,40");
  ck_assert_int_eq(g.calls, 5);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* map-008 */
START_TEST(map_cancel_from_on_next_stops_the_source) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 1, -1);
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "10,20");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 2);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(map_releases_owned_values_on_complete) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2,3");
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "10,20,30");
  ck_assert_int_eq(got.items[0].kind, RILL_KIND_OWNED);
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_map(vals_src(true, "4,5"), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "40,50");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(map_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  /* Source error. */
  gen_list(&g, true, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_map(gen_obs(&g), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* Project error: the borrowed input is still released. */
  c = (struct cb){.fail_at = 2, .code = USER_CODE};
  gen_count(&g, true, 1, -1);
  obs = rill_map(gen_obs(&g), m_times10, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(SHOW_GOT(&got), "10");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(map_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct cb c = {0};
  rill_observable_t *obs = rill_map(vals_src(true, "1,2,3,4"), m_times10, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "10,20");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(map_rejects_a_null_project_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_map(vals_src(true, "1,2"), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  errno = 0;
  ck_assert_ptr_null(rill_map(NULL, m_times10, NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(map_observable_is_cold_and_reusable) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_map(rill_range(1, 3), m_times10, &c);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "10,20,30");
    rill_values_clear(&got);
  }
  rill_observable_free(obs);
}
END_TEST

/* ============================================================================
 * filter
 * ==========================================================================*/

/* filter-001, filter-002 */
START_TEST(filter_keeps_only_values_matching_the_predicate) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_filter(vals_src(false, "0,1,2,3,4"), p_odd, &c);
  ck_assert_str_eq(rill_observable_name(obs), "filter");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3");
  ck_assert_int_eq(c.calls, 5);
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_filter(rill_range(3, 7), p_prime, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "3,5,7");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* filter-003, filter-004, filter-017, filter-018 */
START_TEST(filter_always_true_passes_all_and_always_false_completes_empty) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_filter(rill_range(3, 7), p_true, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "3,4,5,6,7,8,9");
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_filter(vals_src(false, "3,4,5,6,7,8,9"), p_false, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);

  obs = rill_filter(rill_empty(), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);

  obs = rill_filter(rill_never(), p_odd, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(r.nexts, 0);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* filter-016, filter-019 */
START_TEST(filter_passes_a_source_error_after_the_kept_values) {
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "0,1,2,3,4");
  gen_fail(&g, 5, RILL_EUSER);
  rill_observable_t *obs = rill_filter(gen_obs(&g), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_filter(rill_error(RILL_EUSER, "error"), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* filter-007 */
START_TEST(filter_predicate_error_reports_code_and_stage_and_cancels_source) {
  struct cb c = {.fail_at = 4, .code = USER_CODE};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_count(&g, false, 3, -1); /* 3, 4, 5, 6, ... */
  rill_observable_t *obs = rill_filter(gen_obs(&g), p_prime, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_int_eq(err.code, USER_CODE);
  ck_assert_str_eq(err.stage, "filter");
  ck_assert_str_eq(SHOW_GOT(&got), "3,5");
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(g.finis, 1);
  rill_values_clear(&got);
  rill_observable_free(obs);

  /* range's fused kernel. */
  c = (struct cb){.fail_at = 4, .code = USER_CODE};
  obs = rill_filter(rill_range(3, 1000), p_prime, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(err.stage, "filter");
  ck_assert_str_eq(SHOW_GOT(&got), "3,5");
  ck_assert_int_eq(c.calls, 4);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(filter_dropped_values_do_not_consume_demand) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_filter(gen_obs(&g), p_even, &c);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "0,2");
  ck_assert_int_eq(g.calls, 3);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "0,2,4");
  ck_assert_int_eq(g.calls, 5);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  /* Same over range. */
  obs = rill_filter(rill_range(0, 100), p_even, &c);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 3);
  ck_assert_str_eq(SHOW_REC(&r), "0,2,4");
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "0,2,4,6");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(filter_releases_owned_values_kept_and_dropped_on_complete) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "0,1,2,3,4,5");
  rill_observable_t *obs = rill_filter(gen_obs(&g), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3,5");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_filter(vals_src(true, "0,1,2,3"), p_even, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "0,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(filter_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "0,1,2");
  gen_fail(&g, 3, RILL_EUSER);
  rill_observable_t *obs = rill_filter(gen_obs(&g), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  c = (struct cb){.fail_at = 3, .code = USER_CODE};
  gen_count(&g, true, 0, -1);
  obs = rill_filter(gen_obs(&g), p_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(filter_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct cb c = {0};
  rill_observable_t *obs =
      rill_filter(vals_src(true, "0,1,2,3,4,5,6"), p_odd, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,3");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(c.calls, 4); /* 0..3 */
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(filter_rejects_a_null_predicate_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_filter(vals_src(true, "1,2"), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * map/filter fusion: a chain of maps and filters is one stage; it must give
 * exactly what the same chain of separate stages gives.
 * ==========================================================================*/

struct step {
  char letter;
  bool is_map;
  int64_t (*m)(int64_t);
  bool (*p)(int64_t);
  bool own;        /* map result is always an owned value */
  int64_t fail_on; /* fail when the input is this value */
  int code;
};

static int64_t f_add1(int64_t x) {
  return x + 1;
}
static int64_t f_times3(int64_t x) {
  return x * 3;
}
static int64_t f_square(int64_t x) {
  return x * x;
}
static int64_t f_id(int64_t x) {
  return x;
}
static bool f_even(int64_t x) {
  return x % 2 == 0;
}
static bool f_mult3(int64_t x) {
  return x % 3 == 0;
}
static bool f_not5(int64_t x) {
  return x % 5 != 0;
}
static bool f_gt10(int64_t x) {
  return x > 10;
}

static int step_map(void *ctx, rill_value_t in, rill_value_t *out) {
  const struct step *s = ctx;
  int64_t x = xi(in);
  if (x == s->fail_on)
    return s->code;
  int64_t y = s->m(x);
  *out = s->own ? tl_owned(y) : mk_like(y, in);
  return 0;
}

static int step_pred(void *ctx, rill_value_t v) {
  const struct step *s = ctx;
  int64_t x = xi(v);
  if (x == s->fail_on)
    return s->code;
  return s->p(x) ? 1 : 0;
}

/* Letters: maps a(+1) t(*3) q(square) o(to owned); filters e(even)
 * m(multiple of 3) f(not a multiple of 5) g(> 10). */
static size_t steps_parse(const char *chain, struct step *s) {
  size_t n = 0;
  for (; *chain != '\0'; chain++, n++) {
    struct step st = {.letter = *chain, .fail_on = INT64_MIN};
    switch (*chain) {
    case 'a':
      st.is_map = true;
      st.m = f_add1;
      break;
    case 't':
      st.is_map = true;
      st.m = f_times3;
      break;
    case 'q':
      st.is_map = true;
      st.m = f_square;
      break;
    case 'o':
      st.is_map = true;
      st.m = f_id;
      st.own = true;
      break;
    case 'e':
      st.p = f_even;
      break;
    case 'm':
      st.p = f_mult3;
      break;
    case 'f':
      st.p = f_not5;
      break;
    case 'g':
      st.p = f_gt10;
      break;
    default:
      ck_abort_msg("bad step letter %c", *chain);
    }
    s[n] = st;
  }
  return n;
}

/* Apply the steps; `unfused` puts a skip(0) between stages, which is not
 * a map/filter, so every step becomes its own stage. */
static rill_observable_t *steps_apply(rill_observable_t *src, struct step *s,
                                      size_t n, bool unfused) {
  for (size_t i = 0; i < n; i++) {
    if (unfused && i > 0)
      src = rill_skip(src, 0);
    src = s[i].is_map ? rill_map(src, step_map, &s[i])
                      : rill_filter(src, step_pred, &s[i]);
  }
  ck_assert_ptr_nonnull(src);
  return src;
}

/* The reference: what RxJS's unfused operators do, one value at a time.
 * Returns the outputs (as text); *fail_step is the failing step or -1, and
 * *consumed the number of inputs taken (including the failing one). */
static const char *steps_reference(const int64_t *in, size_t nin,
                                   const struct step *s, size_t ns,
                                   int *fail_step, size_t *consumed,
                                   int64_t firsts[][2]) {
  rill_value_t outs[256];
  size_t nout = 0;
  int seen[16] = {0};
  *fail_step = -1;
  *consumed = nin;
  for (size_t i = 0; i < nin && *fail_step < 0; i++) {
    int64_t x = in[i];
    bool kept = true;
    for (size_t j = 0; j < ns && kept; j++) {
      if (firsts != NULL && seen[j] < 2)
        firsts[j][seen[j]++] = x;
      if (x == s[j].fail_on) {
        *fail_step = (int)j;
        *consumed = i + 1;
        kept = false;
      } else if (s[j].is_map) {
        x = s[j].m(x);
      } else {
        kept = s[j].p(x);
      }
    }
    if (kept && *fail_step < 0)
      outs[nout++] = rill_value_int(x);
  }
  return show(outs, nout);
}

enum src_kind { SRC_RANGE, SRC_ARRAY, SRC_ARRAY_OWNED, SRC_GEN, SRC_GEN_OWNED };
#define SRC_KINDS 5

/* 0..n-1 from one kind of source. */
static rill_observable_t *src_make(enum src_kind k, int64_t n, struct gen *g) {
  char list[1024];
  size_t at = 0;
  list[0] = '\0';
  for (int64_t i = 0; i < n && k != SRC_RANGE; i++)
    at += (size_t)snprintf(list + at, sizeof(list) - at, i ? ",%lld" : "%lld",
                           (long long)i);
  switch (k) {
  case SRC_RANGE:
    return rill_range(0, n);
  case SRC_ARRAY:
    return vals_src(false, list);
  case SRC_ARRAY_OWNED:
    return vals_src(true, list);
  case SRC_GEN:
    gen_count(g, false, 0, n);
    return gen_obs(g);
  case SRC_GEN_OWNED:
    gen_count(g, true, 0, n);
    return gen_obs(g);
  }
  return NULL;
}

static const char *const fusion_chains[] = {
    "a",    "e",    "at",    "em",     "ea",     "ae",    "ee",
    "tt",   "oe",   "oa",    "eo",     "ema",    "eate",  "eamt",
    "aemt", "oeat", "aqfeg", "qfgeam", "taeafm", "oaeaea"};

START_TEST(fused_chains_give_the_same_results_as_separate_stages) {
  const int64_t n = 40;
  int64_t in[40];
  for (int64_t i = 0; i < n; i++)
    in[i] = i;
  for (size_t ci = 0; ci < sizeof(fusion_chains) / sizeof(*fusion_chains);
       ci++) {
    for (int k = 0; k < SRC_KINDS; k++) {
      tl_owned_reset();
      struct step s[16];
      size_t ns = steps_parse(fusion_chains[ci], s);
      int fail_step;
      size_t consumed;
      char want[4096];
      snprintf(
          want, sizeof(want), "%s",
          steps_reference(in, (size_t)n, s, ns, &fail_step, &consumed, NULL));
      for (int unfused = 0; unfused < 2; unfused++) {
        struct gen g;
        rill_values_t got;
        rill_error_t err;
        rill_observable_t *obs =
            steps_apply(src_make((enum src_kind)k, n, &g), s, ns, unfused);
        ck_assert_msg(collect(obs, &got, &err) == 0,
                      "chain %s source %d unfused %d: error %d (%s)",
                      fusion_chains[ci], k, unfused, err.code, err.message);
        ck_assert_msg(strcmp(SHOW_GOT(&got), want) == 0,
                      "chain %s source %d unfused %d: got %s, want %s",
                      fusion_chains[ci], k, unfused, SHOW_GOT(&got), want);
        rill_values_clear(&got);
        rill_observable_free(obs);
      }
      ck_assert_msg(tl_owned_made == tl_owned_released,
                    "chain %s source %d: owned %ld made, %ld released",
                    fusion_chains[ci], k, tl_owned_made, tl_owned_released);
      ck_assert_owned_balanced();
    }
  }
}
END_TEST

/* filter-013: two filters keep the multiples of six. */
START_TEST(filter_twice_keeps_values_passing_both) {
  struct step s[2];
  steps_parse("em", s);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_filter(
      rill_filter(vals_src(false, "3,4,5,6,7,8,9"), step_pred, &s[0]),
      step_pred, &s[1]);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "6");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* filter-015: filter then map; map-013: two maps each run once per value. */
START_TEST(filter_then_map_and_map_then_map_compose) {
  struct step s[2];
  steps_parse("eq", s);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_map(
      rill_filter(rill_range(3, 7), step_pred, &s[0]), step_map, &s[1]);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "16,36,64");
  rill_values_clear(&got);
  rill_observable_free(obs);

  struct cb c1 = {0}, c2 = {0};
  obs = rill_map(rill_map(vals_src(false, "2,3,4,5,6,7,8"), m_times10, &c1),
                 m_times10, &c2);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "200,300,400,500,600,700,800");
  ck_assert_int_eq(c1.calls, 7);
  ck_assert_int_eq(c2.calls, 7);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* A failing step anywhere in a fused chain: its own code and its own stage
 * name, the values before it, and upstream cancelled. */
START_TEST(fused_chain_error_names_the_failing_step_and_cancels_upstream) {
  static const char *const chains[] = {"a",  "e",    "ae",    "ea",   "eo",
                                       "oe", "eamt", "ematg", "oeaqe"};
  const int64_t n = 40;
  int64_t in[40];
  for (int64_t i = 0; i < n; i++)
    in[i] = i;
  for (size_t ci = 0; ci < sizeof(chains) / sizeof(*chains); ci++) {
    struct step s[16];
    size_t ns = steps_parse(chains[ci], s);
    int64_t firsts[16][2];
    for (size_t j = 0; j < 16; j++)
      firsts[j][0] = firsts[j][1] = INT64_MIN;
    int fail_step;
    size_t consumed;
    steps_reference(in, (size_t)n, s, ns, &fail_step, &consumed, firsts);
    for (size_t j = 0; j < ns; j++) {
      for (int k = 0; k < SRC_KINDS; k++) {
        tl_owned_reset();
        steps_parse(chains[ci], s);
        ck_assert_int_ne(firsts[j][1], INT64_MIN);
        s[j].fail_on = firsts[j][1]; /* the 2nd value step j sees */
        s[j].code = USER_CODE - (int)j;
        char want[4096];
        snprintf(
            want, sizeof(want), "%s",
            steps_reference(in, (size_t)n, s, ns, &fail_step, &consumed, NULL));
        ck_assert_int_eq(fail_step, (int)j);
        struct gen g;
        rill_values_t got;
        rill_error_t err;
        rill_observable_t *obs =
            steps_apply(src_make((enum src_kind)k, n, &g), s, ns, false);
        int rc = collect(obs, &got, &err);
        ck_assert_msg(rc == USER_CODE - (int)j && err.code == rc,
                      "chain %s step %zu source %d: rc %d", chains[ci], j, k,
                      rc);
        ck_assert_msg(strcmp(err.stage, s[j].is_map ? "map" : "filter") == 0,
                      "chain %s step %zu source %d: stage %s", chains[ci], j, k,
                      err.stage);
        ck_assert_msg(strcmp(SHOW_GOT(&got), want) == 0,
                      "chain %s step %zu source %d: got %s, want %s",
                      chains[ci], j, k, SHOW_GOT(&got), want);
        if (k == SRC_GEN || k == SRC_GEN_OWNED) {
          ck_assert_int_eq(g.calls, (int64_t)consumed);
          ck_assert_int_eq(g.finis, 1);
        }
        rill_values_clear(&got);
        rill_observable_free(obs);
        ck_assert_msg(tl_owned_made == tl_owned_released,
                      "chain %s step %zu source %d: owned %ld made, %ld "
                      "released",
                      chains[ci], j, k, tl_owned_made, tl_owned_released);
      }
    }
  }
}
END_TEST

START_TEST(fused_chain_respects_demand_when_filters_drop) {
  static const char *const chains[] = {"e", "ea", "eamt", "oeamt"};
  for (size_t ci = 0; ci < sizeof(chains) / sizeof(*chains); ci++) {
    for (int k = 0; k < SRC_KINDS; k++) {
      tl_owned_reset();
      struct step s[16];
      size_t ns = steps_parse(chains[ci], s);
      int64_t in[60];
      for (int i = 0; i < 60; i++)
        in[i] = i;
      int fs;
      size_t consumed;
      rill_value_t want_v[60];
      int64_t want_x[60];
      size_t nw = parse_list(
          steps_reference(in, 60, s, ns, &fs, &consumed, NULL), want_x, 60);
      ck_assert_uint_ge(nw, 4);
      for (size_t i = 0; i < nw; i++)
        want_v[i] = rill_value_int(want_x[i]);
      char want3[256], want4[256];
      snprintf(want3, sizeof(want3), "%s", show(want_v, 3));
      snprintf(want4, sizeof(want4), "%s", show(want_v, 4));
      struct gen g;
      rill_observable_t *obs =
          steps_apply(src_make((enum src_kind)k, 60, &g), s, ns, false);
      rec_t r;
      rec_init(&r);
      ck_assert_int_eq(rec_subscribe(&r, obs), 0);
      rec_request(&r, 3);
      ck_assert_msg(strcmp(SHOW_REC(&r), want3) == 0,
                    "chain %s source %d: got %s want %s", chains[ci], k,
                    SHOW_REC(&r), want3);
      rec_request(&r, 1);
      ck_assert_str_eq(SHOW_REC(&r), want4);
      ck_assert_int_eq(r.terminal, REC_NONE);
      rec_cancel(&r);
      ck_assert_rec_ok(&r);
      rec_clear(&r);
      rill_observable_free(obs);
      ck_assert_owned_balanced();
    }
  }
}
END_TEST

START_TEST(fused_chain_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct step s[16];
  size_t ns = steps_parse("eamt", s);
  struct gen g;
  gen_count(&g, true, 0, -1);
  rill_observable_t *obs = steps_apply(gen_obs(&g), s, ns, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  /* even -> +1 -> multiple of 3 -> *3: 2->3->9, 8->9->27 */
  ck_assert_str_eq(SHOW_REC(&r), "9,27");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_int_eq(g.calls, 9);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(fusion_leaves_a_shared_prefix_unchanged) {
  struct step s[3];
  steps_parse("aet", s);
  rill_observable_t *a = rill_map(rill_range(0, 5), step_map, &s[0]);
  rill_observable_t *b = rill_filter(rill_observable_ref(a), step_pred, &s[1]);
  rill_observable_t *c = rill_map(rill_observable_ref(a), step_map, &s[2]);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(b, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "2,4");
  rill_values_clear(&got);
  ck_assert_int_eq(collect(c, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "3,6,9,12,15");
  rill_values_clear(&got);
  ck_assert_int_eq(collect(a, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,4,5");
  rill_values_clear(&got);
  rill_observable_free(b);
  rill_observable_free(a);
  ck_assert_int_eq(collect(c, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "3,6,9,12,15");
  rill_values_clear(&got);
  rill_observable_free(c);
}
END_TEST

/* A projection returns 0 or a negative code; only a negative code is an
 * error (rill.h: "return 0 / a boolean, or a negative error code: then
 * downstream gets on_error").  A projection that returns a positive value
 * must behave the same whatever the source is. */
static int m_returns_one(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(xi(in) + 100);
  return 1;
}

START_TEST(map_positive_return_is_not_an_error_on_any_source) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_map(vals_src(false, "0,1,2"), m_returns_one, NULL);
  int rc_array = collect(obs, &got, &err);
  char from_array[256];
  snprintf(from_array, sizeof(from_array), "%s", SHOW_GOT(&got));
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_map(rill_range(0, 3), m_returns_one, NULL);
  int rc_range = collect(obs, &got, &err);
  char from_range[256];
  snprintf(from_range, sizeof(from_range), "%s", SHOW_GOT(&got));
  rill_values_clear(&got);
  rill_observable_free(obs); /* before asserting: clean under CK_FORK=no */
  ck_assert_msg(rc_range == rc_array && strcmp(from_range, from_array) == 0,
                "range gives rc %d values '%s' (code %d, stage %s); "
                "from_array gives rc %d values '%s'",
                rc_range, from_range, err.code, err.stage, rc_array,
                from_array);
  ck_assert_int_eq(rc_range, 0);
  ck_assert_str_eq(from_range, "100,101,102");
}
END_TEST

/* ---- issue 8 §3: a cancel made inside a fused user callback --------------
 * Nothing may reach on_next after the cancel (not even the value in
 * flight, which is released instead), and the source must stop at once,
 * also when a filter dropped the value it cancelled on. */

struct cx {
  rill_subscription_t *sub;
  int64_t cancel_on; /* the value whose callback cancels */
  int cancel_step;   /* which step cancels: 0 map, 1 filter, 2 last map */
  bool pass_after;   /* filter result for the cancelling value */
  bool owned_out;    /* maps produce owned values */
  int64_t request;   /* demand asked in on_subscribe */
  long calls[3];     /* calls of step 0, 1, 2 */
  long nexts;
  long nexts_after_cancel;
  long terminals;
  bool cancelled;
  char got[256];
};

static int64_t cx_int(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

static void cx_cancel(struct cx *c) {
  c->cancelled = true;
  rill_subscription_cancel(c->sub);
}

static int cx_map(struct cx *c, int step, rill_value_t in, rill_value_t *out) {
  int64_t x = cx_int(in);
  c->calls[step]++;
  if (c->cancel_step == step && x == c->cancel_on)
    cx_cancel(c);
  *out = c->owned_out ? tl_owned(x) : rill_value_int(x);
  return 0;
}
static int cx_map0(void *ctx, rill_value_t in, rill_value_t *out) {
  return cx_map(ctx, 0, in, out);
}
static int cx_map2(void *ctx, rill_value_t in, rill_value_t *out) {
  return cx_map(ctx, 2, in, out);
}
static int cx_pred1(void *ctx, rill_value_t v) {
  struct cx *c = ctx;
  c->calls[1]++;
  if (c->cancel_step == 1 && cx_int(v) == c->cancel_on) {
    cx_cancel(c);
    return c->pass_after;
  }
  /* After a cancel, pass nothing: a source that keeps pulling would call
   * this again and again (the hang of issue 8). */
  return !c->cancelled;
}

static void cx_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct cx *c = ctx;
  c->sub = s;
  rill_subscription_request(s, c->request);
}
static void cx_on_next(void *ctx, rill_value_t v) {
  struct cx *c = ctx;
  c->nexts++;
  if (c->cancelled)
    c->nexts_after_cancel++;
  size_t at = strlen(c->got);
  snprintf(c->got + at, sizeof(c->got) - at, "%s%lld", at ? "," : "",
           (long long)cx_int(v));
  rill_value_release(v);
}
static void cx_on_error(void *ctx, const rill_error_t *err) {
  (void)err;
  ((struct cx *)ctx)->terminals++;
}
static void cx_on_complete(void *ctx) {
  ((struct cx *)ctx)->terminals++;
}

enum cx_src {
  CX_RANGE,
  CX_ARRAY,
  CX_OWNED_ARRAY,
  CX_MERGE,
  CX_GENERATE,
  CX_NSRC
};
static const char *const cx_src_name[] = {
    "range", "from_array", "from_array(owned)", "merge", "generate"};

/* generate: 0, 1, ... n-1 from a counter (state: a malloc'd pair). */
static int cx_gen_init(void *ctx, void **state) {
  int64_t *st = malloc(2 * sizeof(int64_t));
  if (st == NULL)
    return RILL_ENOMEM;
  st[0] = 0;
  st[1] = *(int64_t *)ctx;
  *state = st;
  return 0;
}
static int cx_gen_next(void *state, rill_value_t *out) {
  int64_t *st = state;
  if (st[0] == st[1])
    return 0;
  *out = rill_value_int(st[0]++);
  return 1;
}
static void cx_gen_fini(void *state) {
  free(state);
}

static rill_observable_t *cx_source(enum cx_src k, int64_t n) {
  if (k == CX_RANGE)
    return rill_range(0, n);
  if (k == CX_MERGE) { /* wired straight through under unbounded demand */
    rill_observable_t *r[2] = {rill_range(0, n), rill_range(n, n)};
    return rill_merge(r, 2, 0, 0);
  }
  if (k == CX_GENERATE) {
    static int64_t count; /* read by init, at subscribe */
    count = n;
    return rill_generate(cx_gen_init, cx_gen_next, cx_gen_fini, &count);
  }
  rill_value_t *v = calloc((size_t)n, sizeof(*v));
  for (int64_t i = 0; i < n; i++)
    v[i] = k == CX_OWNED_ARRAY ? tl_owned(i) : rill_value_int(i);
  rill_observable_t *o = rill_from_array(v, (size_t)n);
  free(v);
  return o;
}

/* Subscribe `obs` with `c`, free it, and check what every cancel test
 * checks: values 0..cancel_on-1 arrived, nothing after, no terminal. */
static void cx_run(struct cx *c, rill_observable_t *obs, const char *what) {
  rill_subscriber_t sub = {.on_subscribe = cx_on_subscribe,
                           .on_next = cx_on_next,
                           .on_error = cx_on_error,
                           .on_complete = cx_on_complete};
  ck_assert_ptr_nonnull(obs);
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, c, NULL), 0);
  rill_observable_free(obs);
  ck_assert_msg(c->cancelled, "%s: the callback never cancelled", what);
  ck_assert_msg(c->nexts_after_cancel == 0,
                "%s: %ld value(s) delivered after cancel (got %s)", what,
                c->nexts_after_cancel, c->got);
  ck_assert_msg(c->nexts == c->cancel_on, "%s: %ld values before (got %s)",
                what, c->nexts, c->got);
  ck_assert_msg(c->terminals == 0, "%s: a terminal after cancel", what);
}

static void cx_demands(int64_t *d) {
  d[0] = RILL_UNBOUNDED;
  d[1] = 100; /* bounded: range's counting loop, merge's queued path */
}

START_TEST(map_cancel_inside_project_delivers_nothing_more) {
  int64_t demand[2];
  cx_demands(demand);
  for (int k = 0; k < CX_NSRC; k++)
    for (int d = 0; d < 2; d++) {
      struct cx c = {.cancel_on = 3, .cancel_step = 0, .request = demand[d]};
      char what[64];
      snprintf(what, sizeof(what), "%s, demand %lld", cx_src_name[k],
               (long long)demand[d]);
      cx_run(&c, rill_map(cx_source((enum cx_src)k, 10), cx_map0, &c), what);
      ck_assert_str_eq(c.got, "0,1,2");
      ck_assert_msg(c.calls[0] == 4, "%s: project called %ld times", what,
                    c.calls[0]);
    }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(filter_cancel_inside_predicate_delivers_nothing_more) {
  int64_t demand[2];
  cx_demands(demand);
  for (int k = 0; k < CX_NSRC; k++)
    for (int d = 0; d < 2; d++) {
      /* The predicate passes the value it cancelled on. */
      struct cx c = {.cancel_on = 3,
                     .cancel_step = 1,
                     .pass_after = true,
                     .request = demand[d]};
      char what[64];
      snprintf(what, sizeof(what), "%s, demand %lld", cx_src_name[k],
               (long long)demand[d]);
      cx_run(&c, rill_filter(cx_source((enum cx_src)k, 10), cx_pred1, &c),
             what);
      ck_assert_str_eq(c.got, "0,1,2");
      ck_assert_msg(c.calls[1] == 4, "%s: predicate called %ld times", what,
                    c.calls[1]);
    }
  ck_assert_owned_balanced();
}
END_TEST

/* The hang of issue 8: the predicate cancels on the first value and drops
 * it; range used to go on calling it for the other 10^8 values. */
START_TEST(filter_cancel_while_dropping_stops_the_source_at_once) {
  const int64_t n = 100000000;
  for (int k = 0; k < CX_NSRC; k++) {
    if (k == CX_ARRAY || k == CX_OWNED_ARRAY)
      continue; /* 10^8 values in an array: checked below with fewer */
    struct cx c = {.cancel_on = 0,
                   .cancel_step = 1,
                   .pass_after = false,
                   .request = RILL_UNBOUNDED};
    cx_run(&c, rill_filter(cx_source((enum cx_src)k, n), cx_pred1, &c),
           cx_src_name[k]);
    ck_assert_msg(c.calls[1] == 1, "%s: predicate called %ld times",
                  cx_src_name[k], c.calls[1]);
  }
  for (int k = CX_ARRAY; k <= CX_OWNED_ARRAY; k++) {
    struct cx c = {.cancel_on = 0, .cancel_step = 1, .request = 7};
    cx_run(&c, rill_filter(cx_source((enum cx_src)k, 1000), cx_pred1, &c),
           cx_src_name[k]);
    ck_assert_int_eq(c.calls[1], 1);
  }
  ck_assert_owned_balanced();
}
END_TEST

/* map -> filter -> map, the filter (the middle step) cancels and passes:
 * the last map is not called for that value and nothing is delivered; with
 * owned values, the one in flight is released exactly once. */
START_TEST(fused_chain_cancel_in_the_middle_step_delivers_nothing_more) {
  int64_t demand[2];
  cx_demands(demand);
  for (int owned = 0; owned < 2; owned++)
    for (int k = 0; k < CX_NSRC; k++)
      for (int d = 0; d < 2; d++) {
        struct cx c = {.cancel_on = 5,
                       .cancel_step = 1,
                       .pass_after = true,
                       .owned_out = owned,
                       .request = demand[d]};
        char what[80];
        snprintf(what, sizeof(what), "%s, demand %lld, %s maps", cx_src_name[k],
                 (long long)demand[d], owned ? "owned" : "int");
        rill_observable_t *obs = rill_map(
            rill_filter(rill_map(cx_source((enum cx_src)k, 10), cx_map0, &c),
                        cx_pred1, &c),
            cx_map2, &c);
        cx_run(&c, obs, what);
        ck_assert_str_eq(c.got, "0,1,2,3,4");
        ck_assert_msg(c.calls[0] == 6 && c.calls[1] == 6 && c.calls[2] == 5,
                      "%s: steps called %ld, %ld, %ld times", what, c.calls[0],
                      c.calls[1], c.calls[2]);
        ck_assert_msg(tl_owned_made == tl_owned_released,
                      "%s: owned values: %ld made, %ld released", what,
                      tl_owned_made, tl_owned_released);
      }
}
END_TEST

/* Two-step shapes (range's specialised loops) with owned values: a map
 * cancels, its owned output is the value in flight; then a filter cancels
 * and passes (map -> filter) or drops (map -> filter, filter -> map). */
START_TEST(fused_cancel_releases_the_owned_value_in_flight_once) {
  int64_t demand[2];
  cx_demands(demand);
  for (int k = 0; k < CX_NSRC; k++)
    for (int d = 0; d < 2; d++)
      for (int shape = 0; shape < 5; shape++) {
        struct cx c = {.cancel_on = 4,
                       .owned_out = true,
                       .pass_after = shape != 2,
                       .request = demand[d]};
        rill_observable_t *src = cx_source((enum cx_src)k, 10), *obs;
        switch (shape) {
        case 0: /* map (cancels) */
          obs = rill_map(src, cx_map0, &c);
          break;
        case 1: /* map (cancels) -> map */
          obs = rill_map(rill_map(src, cx_map0, &c), cx_map2, &c);
          break;
        case 2: /* map -> filter (cancels, drops) */
        case 3: /* map -> filter (cancels, passes) */
          c.cancel_step = 1;
          obs = rill_filter(rill_map(src, cx_map0, &c), cx_pred1, &c);
          break;
        default: /* filter -> map (cancels) */
          c.cancel_step = 2;
          obs = rill_map(rill_filter(src, cx_pred1, &c), cx_map2, &c);
          break;
        }
        char what[80];
        snprintf(what, sizeof(what), "%s, demand %lld, shape %d",
                 cx_src_name[k], (long long)demand[d], shape);
        cx_run(&c, obs, what);
        ck_assert_str_eq(c.got, "0,1,2,3");
        ck_assert_msg(tl_owned_made == tl_owned_released,
                      "%s: owned values: %ld made, %ld released", what,
                      tl_owned_made, tl_owned_released);
      }
}
END_TEST

/* ============================================================================
 * take
 * ==========================================================================*/

/* take-001 */
START_TEST(take_completes_after_count_and_cancels_upstream) {
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_count(&g, false, 0, -1); /* endless */
  rill_observable_t *obs = rill_take(gen_obs(&g), 2);
  ck_assert_str_eq(rill_observable_name(obs), "take");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "0,1");
  ck_assert_int_eq(g.calls, 2);
  ck_assert_int_eq(g.finis, 1);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* take-004 */
START_TEST(take_zero_completes_without_subscribing_upstream) {
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_take(gen_obs(&g), 0);
  ck_assert_ptr_nonnull(obs);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0); /* no request at all */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(g.inits, 0);
  ck_assert_int_eq(g.calls, 0);
  ck_assert_int_eq(g.finis, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(take_never_requests_more_than_count_upstream) {
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_take(gen_obs(&g), 3);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "0,1,2");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.calls, 3);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  /* In pieces, asking for more than count in total. */
  gen_count(&g, false, 0, -1);
  obs = rill_take(gen_obs(&g), 3);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_int_eq(g.calls, 2);
  rec_request(&r, 100);
  ck_assert_int_eq(g.calls, 3);
  ck_assert_str_eq(SHOW_REC(&r), "0,1,2");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* take-006, take-007 */
START_TEST(take_completes_with_the_last_wanted_value_without_more_demand) {
  rill_observable_t *obs = rill_take(vals_src(false, "7"), 1);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "7");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  struct gen g;
  gen_count(&g, false, 0, -1);
  obs = rill_take(gen_obs(&g), 2);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "0");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "0,1");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.calls, 2);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* take-002, take-008 */
START_TEST(take_more_than_available_passes_all_then_completes) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_take(rill_empty(), 42);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  obs = rill_take(vals_src(false, "1,2,3"), 42);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_take(rill_range(0, 3), 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "0,1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* take-009, take-010, take-012 */
START_TEST(take_passes_a_source_error) {
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_take(gen_obs(&g), 42);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_take(rill_error(RILL_EUSER, "error"), 42);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  ck_assert_str_eq(err.stage, "error");
  rill_observable_free(obs);
}
END_TEST

/* take-003 */
START_TEST(take_of_a_never_source_does_not_terminate) {
  rill_observable_t *obs = rill_take(rill_never(), 42);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* take-011 */
START_TEST(take_cancel_from_on_next_stops_the_source) {
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_take(gen_obs(&g), 42);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "0,1");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 2);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* take counts values before a filter downstream of it. */
START_TEST(take_counts_source_values_even_when_a_later_filter_drops_them) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_filter(rill_take(gen_obs(&g), 4), p_even, &c);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "0");
  rec_request(&r, 5);
  ck_assert_str_eq(SHOW_REC(&r), "0,2");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(take_releases_owned_values_on_complete_including_unused_ones) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_take(vals_src(true, "1,2,3,4,5"), 2);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  gen_count(&g, true, 0, -1);
  obs = rill_take(gen_obs(&g), 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "0,1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(take_releases_owned_values_on_error) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_take(gen_obs(&g), 5);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(take_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  rill_observable_t *obs = rill_take(vals_src(true, "1,2,3,4,5"), 4);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,2");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* rill deviates from RxJS here: take(-42) and skip(-42) are EINVAL, where
 * RxJS gives EMPTY (take-005) and no skipping (skip-005). */
START_TEST(take_rejects_a_negative_count_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_take(vals_src(true, "1,2"), -42));
  ck_assert_int_eq(errno, EINVAL);
  /* take(0) releases its source too. */
  rill_observable_t *obs = rill_take(vals_src(true, "1,2"), 0);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * skip
 * ==========================================================================*/

/* skip-001 */
START_TEST(skip_drops_the_first_count_values) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_skip(vals_src(false, "1,2,3,4,5"), 3);
  ck_assert_str_eq(rill_observable_name(obs), "skip");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "4,5");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_skip(rill_range(1, 5), 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "4,5");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* skip-002, skip-003, skip-004, skip-011 */
START_TEST(skip_of_all_values_completes_empty_and_skip_zero_passes_all) {
  static const struct {
    int64_t count;
    const char *want;
  } cases[] = {{6, ""}, {5, ""}, {0, "1,2,3,4,5"}, {1, "2,3,4,5"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    rill_values_t got;
    rill_error_t err;
    rill_observable_t *obs =
        rill_skip(vals_src(false, "1,2,3,4,5"), cases[i].count);
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), cases[i].want);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_skip(rill_empty(), 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* skip-008, skip-009, skip-010, skip-016 */
START_TEST(skip_passes_a_source_error) {
  static const struct {
    int64_t count;
    const char *want;
  } cases[] = {{6, ""}, {4, ""}, {3, "4"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, false, "1,2,3,4");
    gen_fail(&g, 4, RILL_EUSER);
    rill_observable_t *obs = rill_skip(gen_obs(&g), cases[i].count);
    ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
    ck_assert_str_eq(SHOW_GOT(&got), cases[i].want);
    ck_assert_str_eq(err.stage, "generate");
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_skip(rill_error(RILL_EUSER, "error"), 3);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_observable_free(obs);
}
END_TEST

/* skip-012 */
START_TEST(skip_of_a_never_source_does_not_terminate) {
  rill_observable_t *obs = rill_skip(rill_never(), 3);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(skip_skipped_values_do_not_consume_downstream_demand) {
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_skip(gen_obs(&g), 3);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(g.calls, 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "3,4");
  ck_assert_int_eq(g.calls, 5);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "3,4,5");
  ck_assert_int_eq(g.calls, 6);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* skip-006 */
START_TEST(skip_cancel_from_on_next_stops_the_source) {
  struct gen g;
  gen_list(&g, false, "1,2,3,4,5");
  rill_observable_t *obs = rill_skip(gen_obs(&g), 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "3");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 3);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(skip_releases_owned_values_kept_and_skipped_on_complete) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2,3,4,5");
  rill_observable_t *obs = rill_skip(gen_obs(&g), 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "4,5");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_skip(vals_src(true, "1,2,3"), 5);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(skip_releases_owned_values_on_error) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2,3,4");
  gen_fail(&g, 4, RILL_EUSER);
  rill_observable_t *obs = rill_skip(gen_obs(&g), 2);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "3,4");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(skip_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  rill_observable_t *obs = rill_skip(vals_src(true, "1,2,3,4,5"), 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "3");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(skip_rejects_a_negative_count_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_skip(vals_src(true, "1,2"), -42));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * take_while
 * ==========================================================================*/

/* takeWhile-001, takeWhile-015 */
START_TEST(take_while_emits_until_the_predicate_fails_then_completes) {
  struct cb c = {.k = 4};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "2,3,4,5,6");
  rill_observable_t *obs = rill_take_while(gen_obs(&g), p_lt, &c, false);
  ck_assert_str_eq(rill_observable_name(obs), "take_while");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "2,3");
  ck_assert_int_eq(c.calls, 3); /* not called after the first false */
  ck_assert_int_eq(g.calls, 3); /* upstream cancelled at once */
  ck_assert_int_eq(g.finis, 1);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* takeWhile-006, takeWhile-007 */
START_TEST(take_while_inclusive_also_emits_the_failing_value) {
  struct cb c = {.k = 4};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_take_while(vals_src(false, "2,3,4,5,6"), p_ne, &c, true);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "2,3,4");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_take_while(rill_range(2, 5), p_ne, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "2,3");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* takeWhile-002, takeWhile-004, takeWhile-010, takeWhile-011 */
START_TEST(take_while_always_true_passes_all_and_false_first_completes_empty) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_take_while(vals_src(false, "1,2,3,4"), p_true, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,4");
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_take_while(vals_src(false, "1,2,3,4"), p_false, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);

  obs = rill_take_while(vals_src(false, "1,2,3,4"), p_false, &c, true);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  rill_values_clear(&got);
  rill_observable_free(obs);

  obs = rill_take_while(rill_empty(), p_true, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* takeWhile-009 */
START_TEST(take_while_of_a_never_source_does_not_terminate) {
  struct cb c = {0};
  rill_observable_t *obs = rill_take_while(rill_never(), p_true, &c, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* takeWhile-013, takeWhile-014 */
START_TEST(take_while_passes_a_source_error) {
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "2,3,4,5");
  gen_fail(&g, 4, RILL_EUSER);
  rill_observable_t *obs = rill_take_while(gen_obs(&g), p_true, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "2,3,4,5");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_take_while(rill_error(RILL_EUSER, "error"), p_true, &c, true);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* takeWhile-016 */
START_TEST(take_while_predicate_error_reports_code_stage_and_cancels) {
  for (int inclusive = 0; inclusive < 2; inclusive++) {
    struct cb c = {.fail_at = 2, .code = USER_CODE};
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_count(&g, false, 1, -1);
    rill_observable_t *obs =
        rill_take_while(gen_obs(&g), p_true, &c, inclusive);
    ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
    ck_assert_int_eq(err.code, USER_CODE);
    ck_assert_str_eq(err.stage, "take_while");
    ck_assert_str_eq(SHOW_GOT(&got), "1");
    ck_assert_int_eq(g.calls, 2);
    ck_assert_int_eq(g.finis, 1);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(take_while_respects_demand_inclusive_or_not) {
  for (int inclusive = 0; inclusive < 2; inclusive++) {
    struct cb c = {.k = 3};
    struct gen g;
    gen_list(&g, false, "1,2,3,4");
    rill_observable_t *obs = rill_take_while(gen_obs(&g), p_lt, &c, inclusive);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_request(&r, 2);
    ck_assert_str_eq(SHOW_REC(&r), "1,2");
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(g.calls, 2);
    rec_request(&r, 1);
    ck_assert_str_eq(SHOW_REC(&r), inclusive ? "1,2,3" : "1,2");
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(g.calls, 3);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
}
END_TEST

/* takeWhile-017 */
START_TEST(take_while_cancel_from_on_next_stops_the_source) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 0, -1);
  rill_observable_t *obs = rill_take_while(gen_obs(&g), p_true, &c, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "0,1");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 2);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(take_while_releases_owned_values_on_complete_and_the_failing_one) {
  tl_owned_reset();
  for (int inclusive = 0; inclusive < 2; inclusive++) {
    struct cb c = {.k = 3};
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, true, "1,2,3,4");
    rill_observable_t *obs = rill_take_while(gen_obs(&g), p_lt, &c, inclusive);
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), inclusive ? "1,2,3" : "1,2");
    rill_values_clear(&got);
    rill_observable_free(obs);
    obs = rill_take_while(vals_src(true, "1,2,3,4"), p_lt, &c, inclusive);
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(take_while_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_take_while(gen_obs(&g), p_true, &c, false);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_values_clear(&got);
  rill_observable_free(obs);
  c = (struct cb){.fail_at = 2, .code = USER_CODE};
  gen_count(&g, true, 1, -1);
  obs = rill_take_while(gen_obs(&g), p_true, &c, true);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(take_while_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct cb c = {0};
  rill_observable_t *obs =
      rill_take_while(vals_src(true, "1,2,3,4"), p_true, &c, true);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,2");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(take_while_rejects_a_null_predicate_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_take_while(vals_src(true, "1"), NULL, NULL, false));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * scan
 * ==========================================================================*/

/* scan-001 */
START_TEST(scan_with_seed_emits_every_accumulator) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(0);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_scan(vals_src(false, "1,3,5"), r_sum, &c, &seed);
  ck_assert_str_eq(rill_observable_name(obs), "scan");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,4,9");
  ck_assert_int_eq(c.calls, 3);
  rill_values_clear(&got);
  rill_observable_free(obs);
  seed = rill_value_int(100);
  obs = rill_scan(rill_range(1, 3), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "101,103,106");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* scan-004 */
START_TEST(scan_without_seed_starts_from_the_first_value) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_scan(vals_src(false, "1,2,3"), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3,6");
  ck_assert_int_eq(c.calls, 2); /* the first value is not accumulated */
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* scan-007, scan-008 */
START_TEST(scan_of_an_empty_source_completes_without_values) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(7);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_scan(rill_empty(), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  obs = rill_scan(rill_empty(), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
  ck_assert_int_eq(c.calls, 0);

  obs = rill_scan(rill_never(), r_sum, &c, &seed);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(r.nexts, 0);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* scan-005, scan-009 */
START_TEST(scan_passes_a_source_error_after_the_accumulators) {
  struct cb c = {0};
  struct gen g;
  rill_value_t seed = rill_value_int(0);
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "1,2,3");
  gen_fail(&g, 3, RILL_EUSER);
  rill_observable_t *obs = rill_scan(gen_obs(&g), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3,6");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_scan(rill_error(RILL_EUSER, "error"), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* scan-006 */
START_TEST(scan_accumulator_error_reports_code_and_stage_and_cancels) {
  for (int seeded = 0; seeded < 2; seeded++) {
    struct cb c = {.fail_at = 3, .code = USER_CODE};
    struct gen g;
    rill_value_t seed = rill_value_int(0);
    rill_values_t got;
    rill_error_t err;
    gen_count(&g, false, 1, -1);
    rill_observable_t *obs =
        rill_scan(gen_obs(&g), r_sum, &c, seeded ? &seed : NULL);
    ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
    ck_assert_int_eq(err.code, USER_CODE);
    ck_assert_str_eq(err.stage, "scan");
    /* seeded: 1, 3, then the 3rd call fails on 3; unseeded: 1, 3, 6, then
     * the 3rd call fails on 4. */
    ck_assert_str_eq(SHOW_GOT(&got), seeded ? "1,3" : "1,3,6");
    ck_assert_int_eq(g.calls, seeded ? 3 : 4);
    ck_assert_int_eq(g.finis, 1);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(scan_restarts_from_the_seed_for_each_subscription) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(10);
  rill_observable_t *obs = rill_scan(rill_range(1, 3), r_sum, &c, &seed);
  for (int i = 0; i < 2; i++) {
    rill_values_t got;
    rill_error_t err;
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "11,13,16");
    rill_values_clear(&got);
  }
  rill_observable_free(obs);
}
END_TEST

START_TEST(scan_passes_demand_upstream_one_to_one) {
  struct cb c = {0};
  struct gen g;
  gen_count(&g, false, 1, -1);
  rill_observable_t *obs = rill_scan(gen_obs(&g), r_sum, &c, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "1,3");
  ck_assert_int_eq(g.calls, 2);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "1,3,6");
  ck_assert_int_eq(g.calls, 3);
  rec_cancel(&r);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* scan-010 */
START_TEST(scan_cancel_from_on_next_stops_the_source) {
  struct cb c = {0};
  struct gen g;
  rill_value_t seed = rill_value_int(0);
  gen_count(&g, false, 1, -1);
  rill_observable_t *obs = rill_scan(gen_obs(&g), r_sum, &c, &seed);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 4;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,3,6,10");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(scan_releases_owned_seed_accumulators_and_values_on_complete) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  rill_value_t seed = tl_owned(0);
  gen_list(&g, true, "1,3,5");
  rill_observable_t *obs = rill_scan(gen_obs(&g), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,4,9");
  rill_values_clear(&got);
  ck_assert_int_eq(collect(obs, &got, &err), 0); /* second subscription */
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_scan(vals_src(true, "1,2,3"), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3,6");
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* A seed that is never used. */
  seed = tl_owned(0);
  obs = rill_scan(rill_empty(), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(scan_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  rill_value_t seed = tl_owned(0);
  gen_list(&g, true, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_scan(gen_obs(&g), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_values_clear(&got);
  rill_observable_free(obs);
  c = (struct cb){.fail_at = 2, .code = USER_CODE};
  gen_count(&g, true, 1, -1);
  obs = rill_scan(gen_obs(&g), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(scan_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct cb c = {0};
  rill_value_t seed = tl_owned(0);
  rill_observable_t *obs =
      rill_scan(vals_src(true, "1,2,3,4"), r_sum, &c, &seed);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,3");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(scan_rejects_a_null_accumulator_and_releases_seed_and_source) {
  tl_owned_reset();
  rill_value_t seed = tl_owned(0);
  errno = 0;
  ck_assert_ptr_null(rill_scan(vals_src(true, "1,2"), NULL, NULL, &seed));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * reduce
 * ==========================================================================*/

/* reduce-001, reduce-002 */
START_TEST(reduce_with_seed_emits_the_final_accumulator) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(0);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_reduce(vals_src(false, "1,3,5"), r_sum, &c, &seed);
  ck_assert_str_eq(rill_observable_name(obs), "reduce");
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "9");
  ck_assert_int_eq(c.calls, 3);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* reduce-004 */
START_TEST(reduce_without_seed_folds_from_the_first_value) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_reduce(rill_range(1, 4), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "10");
  ck_assert_int_eq(c.calls, 3);
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* One value: emitted as is, the accumulator never runs. */
  c = (struct cb){0};
  obs = rill_reduce(vals_src(false, "42"), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "42");
  ck_assert_int_eq(c.calls, 0);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* reduce-016 */
START_TEST(reduce_of_an_empty_source_without_seed_completes_with_no_value) {
  struct cb c = {0};
  rill_observable_t *obs = rill_reduce(rill_empty(), r_sum, &c, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0); /* no request needed */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* reduce-005 */
START_TEST(reduce_of_an_empty_source_with_seed_emits_the_seed) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(42);
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_reduce(rill_empty(), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "42");
  ck_assert_int_eq(c.calls, 0);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(reduce_result_waits_for_downstream_demand) {
  for (int seeded = 0; seeded < 2; seeded++) {
    struct cb c = {0};
    struct gen g;
    rill_value_t seed = rill_value_int(100);
    gen_count(&g, false, 1, 4); /* 1..4 */
    rill_observable_t *obs =
        rill_reduce(gen_obs(&g), r_sum, &c, seeded ? &seed : NULL);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0); /* no request */
    /* The source has run to completion... */
    ck_assert_int_eq(g.calls, 5);
    ck_assert_int_eq(g.finis, 1);
    /* ...but the result waits for demand (rule 1.1). */
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_request(&r, 1);
    ck_assert_str_eq(SHOW_REC(&r), seeded ? "110" : "10");
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
}
END_TEST

/* reduce-009, reduce-010, reduce-017, reduce-018 */
START_TEST(reduce_passes_a_source_error_without_a_value) {
  for (int seeded = 0; seeded < 2; seeded++) {
    struct cb c = {0};
    struct gen g;
    rill_value_t seed = rill_value_int(42);
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, false, "1,2");
    gen_fail(&g, 2, RILL_EUSER);
    rill_observable_t *obs =
        rill_reduce(gen_obs(&g), r_sum, &c, seeded ? &seed : NULL);
    ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
    ck_assert_uint_eq(got.len, 0);
    ck_assert_str_eq(err.stage, "generate");
    rill_observable_free(obs);
    obs = rill_reduce(rill_error(RILL_EUSER, "error"), r_sum, &c,
                      seeded ? &seed : NULL);
    ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
    ck_assert_uint_eq(got.len, 0);
    rill_observable_free(obs);
  }
}
END_TEST

/* reduce-006, reduce-011 */
START_TEST(reduce_accumulator_error_reports_code_and_stage_and_cancels) {
  for (int seeded = 0; seeded < 2; seeded++) {
    struct cb c = {.fail_at = 1, .code = USER_CODE};
    struct gen g;
    rill_value_t seed = rill_value_int(0);
    rill_values_t got;
    rill_error_t err;
    gen_count(&g, false, 1, -1); /* endless: only cancel stops it */
    rill_observable_t *obs =
        rill_reduce(gen_obs(&g), r_sum, &c, seeded ? &seed : NULL);
    ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
    ck_assert_int_eq(err.code, USER_CODE);
    ck_assert_str_eq(err.stage, "reduce");
    ck_assert_uint_eq(got.len, 0);
    /* seeded: the first value is accumulated; unseeded: the second. */
    ck_assert_int_eq(g.calls, seeded ? 1 : 2);
    ck_assert_int_eq(g.finis, 1);
    rill_observable_free(obs);
  }
}
END_TEST

/* reduce-012 .. reduce-015 */
START_TEST(reduce_of_a_source_that_never_completes_emits_nothing) {
  struct cb c = {0};
  rill_value_t seed = rill_value_int(1);
  struct gen g;
  gen_count(&g, false, 1, -1);
  rill_observable_t *parts[2] = {rill_take(gen_obs(&g), 2), rill_never()};
  rill_observable_t *obs = rill_reduce(rill_concat(parts, 2), r_sum, &c, &seed);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(c.calls, 2);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(reduce_cancel_from_on_next_suppresses_the_completion) {
  struct cb c = {0};
  rill_observable_t *obs = rill_reduce(rill_range(1, 4), r_sum, &c, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "10");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(reduce_releases_owned_seed_accumulators_and_values_on_complete) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  rill_value_t seed = tl_owned(0);
  gen_list(&g, true, "1,3,5");
  rill_observable_t *obs = rill_reduce(gen_obs(&g), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "9");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_reduce(vals_src(true, "1,2,3"), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "6");
  rill_values_clear(&got);
  rill_observable_free(obs);
  seed = tl_owned(5);
  obs = rill_reduce(rill_empty(), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "5");
  rill_values_clear(&got);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(reduce_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  rill_value_t seed = tl_owned(0);
  gen_list(&g, true, "1,2");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_reduce(gen_obs(&g), r_sum, &c, &seed);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_observable_free(obs);
  c = (struct cb){.fail_at = 2, .code = USER_CODE};
  gen_count(&g, true, 1, -1);
  obs = rill_reduce(gen_obs(&g), r_sum, &c, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(reduce_releases_owned_values_on_cancel) {
  tl_owned_reset();
  struct cb c = {0};
  /* Cancel from on_next of the result. */
  rill_observable_t *obs =
      rill_reduce(vals_src(true, "1,2,3"), r_sum, &c, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "6");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  /* Cancel while the finished result waits for demand. */
  rill_value_t seed = tl_owned(0);
  obs = rill_reduce(vals_src(true, "1,2,3"), r_sum, &c, &seed);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 0);
  rec_cancel(&r);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(reduce_rejects_a_null_accumulator_and_releases_seed_and_source) {
  tl_owned_reset();
  rill_value_t seed = tl_owned(0);
  errno = 0;
  ck_assert_ptr_null(rill_reduce(vals_src(true, "1,2"), NULL, NULL, &seed));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * distinct_until_changed
 * ==========================================================================*/

/* distinctUntilChanged-001, -002, -008, -012, -015 */
START_TEST(distinct_drops_values_equal_to_the_previous_one) {
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"1,2,2,1,3", "1,2,1,3"},       {"1,1,1,2,2,1", "1,2,1"}, {"1", "1"},
      {"1,2,3,4,5,6", "1,2,3,4,5,6"}, {"1,1,1,1,1,1", "1"},     {"", ""}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    rill_values_t got;
    rill_error_t err;
    rill_observable_t *obs =
        rill_distinct_until_changed(vals_src(false, cases[i].in), NULL, NULL);
    ck_assert_str_eq(rill_observable_name(obs), "distinct_until_changed");
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), cases[i].want);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
}
END_TEST

/* distinctUntilChanged-010, -011 */
START_TEST(distinct_passes_a_source_error) {
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "1,1");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *obs = rill_distinct_until_changed(gen_obs(&g), NULL, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  ck_assert_str_eq(err.stage, "generate");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs =
      rill_distinct_until_changed(rill_error(RILL_EUSER, "error"), NULL, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  rill_observable_free(obs);
}
END_TEST

/* distinctUntilChanged-016, -017 */
START_TEST(distinct_comparator_always_true_or_always_false) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_distinct_until_changed(vals_src(false, "1,2,3,4,5,6"), e_true, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  ck_assert_int_eq(c.calls, 5);
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs =
      rill_distinct_until_changed(vals_src(false, "1,1,1,1,1,1"), e_false, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,1,1,1,1,1");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* distinctUntilChanged-018: compare(previous emitted, current). */
START_TEST(distinct_comparator_gets_the_last_emitted_then_the_current) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_distinct_until_changed(
      vals_src(false, "1,2,3,4,5,6"), e_cur_even, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,3,5");
  static const int64_t pairs[5][2] = {{1, 2}, {1, 3}, {3, 4}, {3, 5}, {5, 6}};
  ck_assert_int_eq(c.npairs, 5);
  for (int i = 0; i < 5; i++) {
    ck_assert_int_eq(c.pairs[i][0], pairs[i][0]);
    ck_assert_int_eq(c.pairs[i][1], pairs[i][1]);
  }
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* distinctUntilChanged-020, -021: a comparator can compare keys. */
START_TEST(distinct_comparator_can_compare_keys) {
  struct cb c = {0};
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_distinct_until_changed(
      vals_src(false, "1,2,3,4,5,6"), e_cur_key_odd, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,4,6");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* distinctUntilChanged-019 */
START_TEST(distinct_comparator_error_reports_code_and_stage_and_cancels) {
  struct cb c = {.fail_at = 3, .code = USER_CODE};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_count(&g, false, 1, -1); /* 1, 2, 3, 4 (compare fails on 4) ... */
  rill_observable_t *obs = rill_distinct_until_changed(gen_obs(&g), e_int, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_int_eq(err.code, USER_CODE);
  ck_assert_str_eq(err.stage, "distinct_until_changed");
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3");
  ck_assert_int_eq(g.calls, 4);
  ck_assert_int_eq(g.finis, 1);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(distinct_dropped_values_do_not_consume_demand) {
  struct gen g;
  gen_list(&g, false, "1,1,1,2,2,3");
  rill_observable_t *obs = rill_distinct_until_changed(gen_obs(&g), NULL, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "1,2");
  ck_assert_int_eq(g.calls, 4);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "1,2,3");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(distinct_default_equality_follows_rill_value_equal) {
  rill_value_t vs[6];
  vs[0] = rill_value_buf(rill_buf_from("ab", 2));
  vs[1] = rill_value_buf(rill_buf_from("ab", 2)); /* same bytes: dropped */
  vs[2] = rill_value_buf(rill_buf_from("cd", 2));
  vs[3] = rill_value_int(1);
  vs[4] = rill_value_double(1.0); /* another kind: kept */
  vs[5] = rill_value_double(1.0);
  rill_observable_t *obs =
      rill_distinct_until_changed(rill_from_array(vs, 6), NULL, NULL);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "'ab','cd',1,1d");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(distinct_default_equality_compares_owned_values_by_address) {
  tl_owned_reset();
  rill_value_t a = tl_owned(1);
  rill_value_t vs[4] = {a, rill_value_retain(a), tl_owned(1), tl_owned(1)};
  rill_observable_t *obs =
      rill_distinct_until_changed(rill_from_array(vs, 4), NULL, NULL);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,1,1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(distinct_releases_owned_values_kept_and_dropped_on_complete) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,1,2,2,2,3,1");
  rill_observable_t *obs = rill_distinct_until_changed(gen_obs(&g), e_int, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_distinct_until_changed(vals_src(true, "5,5,5"), e_int, &c);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "5");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(distinct_releases_owned_values_on_error) {
  tl_owned_reset();
  struct cb c = {0};
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,1,2");
  gen_fail(&g, 3, RILL_EUSER);
  rill_observable_t *obs = rill_distinct_until_changed(gen_obs(&g), e_int, &c);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  c = (struct cb){.fail_at = 2, .code = USER_CODE};
  gen_count(&g, true, 1, -1);
  obs = rill_distinct_until_changed(gen_obs(&g), e_int, &c);
  ck_assert_int_eq(collect(obs, &got, &err), USER_CODE);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(distinct_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  struct cb c = {0};
  rill_observable_t *obs =
      rill_distinct_until_changed(vals_src(true, "1,1,2,2,3,3"), e_int, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,2");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * start_with
 * ==========================================================================*/

/* startWith-001, startWith-002 */
START_TEST(start_with_emits_the_values_before_the_source) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_start_with(vals_src(false, "1,2,3"), 1, rill_value_int(0));
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "0,1,2,3");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* startWith-008, startWith-015 */
START_TEST(start_with_emits_several_values_in_the_given_order) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_start_with(
      rill_range(1, 2), 2, rill_value_int(9), rill_value_int(8));
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "9,8,1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* startWith-006, startWith-007, startWith-013 */
START_TEST(start_with_of_an_empty_source_emits_the_values_and_completes) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_start_with(rill_empty(), 1, rill_value_int(5));
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "5");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_start_with(vals_src(false, "1"), 1, rill_value_int(5));
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "5,1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* No values: just the source. */
  obs = rill_start_with(vals_src(false, "1,2"), 0);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* startWith-009, startWith-010 */
START_TEST(start_with_emits_the_values_then_passes_a_source_error) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_start_with(rill_error(RILL_EUSER, "error"), 1, rill_value_int(5));
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "5");
  ck_assert_str_eq(err.stage, "error");
  ck_assert_str_eq(err.message, "error");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* startWith-004 */
START_TEST(start_with_of_a_never_source_emits_the_values_only) {
  rill_observable_t *obs = rill_start_with(rill_never(), 1, rill_value_int(5));
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "5");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(start_with_respects_demand_and_subscribes_source_after_values) {
  struct gen g;
  gen_list(&g, false, "1,2");
  rill_observable_t *obs =
      rill_start_with(gen_obs(&g), 2, rill_value_int(8), rill_value_int(9));
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "8");
  ck_assert_int_eq(g.inits, 0); /* not subscribed yet */
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "8,9,1");
  ck_assert_int_eq(g.inits, 1);
  ck_assert_int_eq(g.calls, 1);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "8,9,1,2");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* startWith-011 */
START_TEST(start_with_cancel_during_the_values_never_subscribes_the_source) {
  struct gen g;
  gen_list(&g, false, "1,2");
  rill_observable_t *obs =
      rill_start_with(gen_obs(&g), 2, rill_value_int(8), rill_value_int(9));
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "8");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.inits, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  /* Cancel in the source part. */
  gen_list(&g, false, "1,2,3");
  obs = rill_start_with(gen_obs(&g), 1, rill_value_int(8));
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "8,1");
  ck_assert_int_eq(g.calls, 1);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(start_with_observable_is_cold_and_reusable) {
  rill_observable_t *obs =
      rill_start_with(rill_range(1, 2), 1, rill_value_int(0));
  for (int i = 0; i < 2; i++) {
    rill_values_t got;
    rill_error_t err;
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "0,1,2");
    rill_values_clear(&got);
  }
  rill_observable_free(obs);
}
END_TEST

START_TEST(start_with_releases_owned_values_on_complete) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1,2");
  rill_observable_t *obs =
      rill_start_with(gen_obs(&g), 2, tl_owned(8), tl_owned(9));
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "8,9,1,2");
    rill_values_clear(&got);
  }
  rill_observable_free(obs);
  /* Never subscribed. */
  obs = rill_start_with(vals_src(true, "1"), 1, tl_owned(8));
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(start_with_releases_owned_values_on_error) {
  tl_owned_reset();
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, true, "1");
  gen_fail(&g, 1, RILL_EUSER);
  rill_observable_t *obs =
      rill_start_with(gen_obs(&g), 2, tl_owned(8), tl_owned(9));
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "8,9,1");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(start_with_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  for (int at = 1; at <= 4; at++) {
    rill_observable_t *obs =
        rill_start_with(vals_src(true, "1,2,3"), 2, tl_owned(8), tl_owned(9));
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = at;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.nexts, at);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(start_with_rejects_a_null_source_and_releases_the_values) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_start_with(NULL, 2, tl_owned(1), tl_owned(2)));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * buffer_count
 * ==========================================================================*/

/* bufferCount-002 */
START_TEST(buffer_count_with_size_equal_to_every_emits_consecutive_chunks) {
  static const size_t everys[] = {0, 2};
  for (size_t i = 0; i < 2; i++) {
    rill_values_t got;
    rill_error_t err;
    rill_observable_t *obs =
        rill_buffer_count(vals_src(false, "1,2,3,4,5,6"), 2, everys[i]);
    ck_assert_str_eq(rill_observable_name(obs), "buffer_count");
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "[1,2],[3,4],[5,6]");
    ck_assert_int_eq(got.items[0].kind, RILL_KIND_ARRAY);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
}
END_TEST

/* bufferCount-001, bufferCount-008 */
START_TEST(buffer_count_with_every_below_size_emits_overlapping_buffers) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_buffer_count(rill_range(1, 9), 3, 2);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2,3],[3,4,5],[5,6,7],[7,8,9],[9]");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_buffer_count(vals_src(false, "1,2,3,4,5"), 3, 1);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2,3],[2,3,4],[3,4,5],[4,5],[5]");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* bufferCount-009 */
START_TEST(buffer_count_with_every_above_size_leaves_gaps) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_buffer_count(vals_src(false, "1,2,3,4,5"), 2, 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2],[4,5]");
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* The source ends inside a gap: nothing partial to emit. */
  obs = rill_buffer_count(vals_src(false, "1,2,3,4,5,6"), 2, 3);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2],[4,5]");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* bufferCount-003, bufferCount-004 */
START_TEST(buffer_count_emits_a_partial_buffer_at_completion) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs = rill_buffer_count(vals_src(false, "1,2,3,4"), 5, 0);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2,3,4]");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_buffer_count(vals_src(false, "2,3,4,5"), 3, 0);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[2,3,4],[5]");
  rill_values_clear(&got);
  rill_observable_free(obs);
  obs = rill_buffer_count(rill_empty(), 3, 0);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(obs);
}
END_TEST

/* bufferCount-007 */
START_TEST(buffer_count_drops_open_buffers_on_error) {
  struct gen g;
  rill_values_t got;
  rill_error_t err;
  gen_list(&g, false, "1,2,3,4");
  gen_fail(&g, 4, RILL_EUSER);
  rill_observable_t *obs = rill_buffer_count(gen_obs(&g), 5, 0);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 0);
  ck_assert_str_eq(err.stage, "generate");
  rill_observable_free(obs);
  /* Full buffers before the error still go out. */
  gen_list(&g, false, "1,2,3");
  gen_fail(&g, 3, RILL_EUSER);
  obs = rill_buffer_count(gen_obs(&g), 2, 0);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "[1,2]");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(buffer_count_respects_demand_one_array_per_request) {
  static const struct {
    size_t size, every;
    const char *one, *three;
    int64_t calls_one, calls_three;
  } cases[] = {
      {3, 0, "[0,1,2]", "[0,1,2],[3,4,5],[6,7,8]", 3, 9},
      {3, 1, "[0,1,2]", "[0,1,2],[1,2,3],[2,3,4]", 3, 5},
      {2, 3, "[0,1]", "[0,1],[3,4],[6,7]", 3, 9},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct gen g;
    gen_count(&g, false, 0, -1);
    rill_observable_t *obs =
        rill_buffer_count(gen_obs(&g), cases[i].size, cases[i].every);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_request(&r, 1);
    ck_assert_str_eq(SHOW_REC(&r), cases[i].one);
    ck_assert_int_eq(g.calls, cases[i].calls_one);
    rec_request(&r, 2);
    ck_assert_str_eq(SHOW_REC(&r), cases[i].three);
    ck_assert_int_eq(g.calls, cases[i].calls_three);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_cancel(&r);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(buffer_count_partial_buffers_at_completion_wait_for_demand) {
  rill_observable_t *obs = rill_buffer_count(vals_src(false, "1,2,3"), 2, 0);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2]");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2],[3]");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);

  obs = rill_buffer_count(vals_src(false, "1,2,3"), 3, 1);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2,3]");
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2,3],[2,3]");
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 5);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2,3],[2,3],[3]");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

static int p_array_first_gt2(void *ctx, rill_value_t v) {
  (void)ctx;
  ck_assert_int_eq(v.kind, RILL_KIND_ARRAY);
  return xi(rill_array_at(v.as.array, 0)) > 2;
}

/* RxJS: range(1, 6).pipe(bufferCount(2), filter(b => b[0] > 2)) emits
 * [3,4], [5,6].  Under Reactive Streams demand, request(1) must get the
 * first array that passes the filter (rule 1.1 bounds it; nothing may be
 * left waiting forever while the source still has values). */
START_TEST(buffer_count_followed_by_a_filter_still_meets_demand) {
  rill_values_t got;
  rill_error_t err;
  rill_observable_t *obs =
      rill_filter(rill_buffer_count(vals_src(false, "1,2,3,4,5,6"), 2, 0),
                  p_array_first_gt2, NULL);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "[3,4],[5,6]");
  rill_values_clear(&got);

  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  if (strcmp(SHOW_REC(&r), "[3,4]") != 0) {
    char after1[256];
    snprintf(after1, sizeof(after1), "%s", SHOW_REC(&r));
    int terminal = (int)r.terminal;
    rec_cancel(&r); /* clean up first: no leak under CK_FORK=no */
    rec_clear(&r);
    rill_observable_free(obs);
    ck_abort_msg("request(1) delivered '%s' (terminal %d), want [3,4]", after1,
                 terminal);
  }
  rec_request(&r, 1);
  ck_assert_str_eq(SHOW_REC(&r), "[3,4],[5,6]");
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* bufferCount-005 */
START_TEST(buffer_count_cancel_from_on_next_stops_the_source) {
  struct gen g;
  gen_count(&g, false, 1, -1);
  rill_observable_t *obs = rill_buffer_count(gen_obs(&g), 3, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "[1,2,3],[3,4,5]");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.calls, 5);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(buffer_count_releases_owned_values_on_complete_including_gaps) {
  tl_owned_reset();
  static const size_t sizes[][2] = {{2, 0}, {3, 1}, {2, 3}, {5, 0}};
  for (size_t i = 0; i < 4; i++) {
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, true, "1,2,3,4,5,6,7");
    rill_observable_t *obs =
        rill_buffer_count(gen_obs(&g), sizes[i][0], sizes[i][1]);
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_uint_gt(got.len, 0);
    rill_values_clear(&got);
    rill_observable_free(obs);
    obs = rill_buffer_count(vals_src(true, "1,2,3,4,5,6,7"), sizes[i][0],
                            sizes[i][1]);
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_count_releases_owned_values_of_dropped_buffers_on_error) {
  tl_owned_reset();
  static const size_t sizes[][2] = {{2, 0}, {3, 1}, {2, 3}, {5, 0}};
  for (size_t i = 0; i < 4; i++) {
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, true, "1,2,3,4,5,6,7");
    gen_fail(&g, 7, RILL_EUSER);
    rill_observable_t *obs =
        rill_buffer_count(gen_obs(&g), sizes[i][0], sizes[i][1]);
    ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
    rill_values_clear(&got);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_count_releases_owned_values_of_open_buffers_on_cancel) {
  tl_owned_reset();
  static const size_t sizes[][2] = {{2, 0}, {3, 1}, {2, 3}, {3, 2}};
  for (size_t i = 0; i < 4; i++) {
    rill_observable_t *obs = rill_buffer_count(
        vals_src(true, "1,2,3,4,5,6,7,8,9"), sizes[i][0], sizes[i][1]);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = 2;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.nexts, 2);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
    /* Cancel while a finished buffer waits for demand. */
    obs = rill_buffer_count(vals_src(true, "1,2,3"), sizes[i][0], sizes[i][1]);
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    rec_request(&r, 1);
    rec_cancel(&r);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_count_rejects_size_zero_and_releases_the_source) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_buffer_count(vals_src(true, "1"), 0, 0));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * concat
 * ==========================================================================*/

/* concat-001 */
START_TEST(concat_emits_each_source_in_turn) {
  rill_observable_t *parts[3] = {vals_src(false, "1,2,3"),
                                 vals_src(false, "4,5"), rill_range(6, 4)};
  rill_observable_t *obs = rill_concat(parts, 3);
  ck_assert_str_eq(rill_observable_name(obs), "concat");
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,4,5,6,7,8,9");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* concat-002, concat-027 */
START_TEST(concat_of_the_same_cold_observable_repeats_it) {
  rill_observable_t *inner = rill_range(1, 3);
  rill_observable_t *parts[4] = {inner, rill_observable_ref(inner),
                                 rill_observable_ref(inner),
                                 rill_observable_ref(inner)};
  rill_observable_t *obs = rill_concat(parts, 4);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,1,2,3,1,2,3,1,2,3");
  rill_values_clear(&got);
  rill_observable_free(obs);
  parts[0] = vals_src(false, "7");
  obs = rill_concat(parts, 1);
  ck_assert_int_eq(collect(obs, &got, &err), 0);
  ck_assert_str_eq(SHOW_GOT(&got), "7");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(concat_carries_outstanding_demand_across_sources) {
  struct gen g;
  gen_list(&g, false, "4,5,6");
  rill_observable_t *parts[2] = {vals_src(false, "1,2,3"), gen_obs(&g)};
  rill_observable_t *obs = rill_concat(parts, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 4);
  ck_assert_str_eq(SHOW_REC(&r), "1,2,3,4");
  ck_assert_int_eq(g.inits, 1);
  ck_assert_int_eq(g.calls, 1); /* got the 1 left, not more */
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "1,2,3,4,5,6");
  ck_assert_int_eq(g.calls, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* concat-013, concat-016 */
START_TEST(concat_subscribes_a_source_only_after_the_previous_completes) {
  struct gen g1, g2;
  gen_list(&g1, false, "1,2");
  gen_list(&g2, false, "3");
  rill_observable_t *parts[2] = {gen_obs(&g1), gen_obs(&g2)};
  rill_observable_t *obs = rill_concat(parts, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(g1.inits, 1);
  ck_assert_int_eq(g2.inits, 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "1,2");
  ck_assert_int_eq(g2.inits, 0); /* g1 does not know it is done yet */
  rec_request(&r, 1);
  ck_assert_int_eq(g1.finis, 1);
  ck_assert_int_eq(g2.inits, 1);
  ck_assert_str_eq(SHOW_REC(&r), "1,2,3");
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(g2.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* concat-010, concat-011, concat-018, concat-024 */
START_TEST(concat_error_in_a_source_ends_the_stream_at_once) {
  struct gen g1, g2;
  gen_list(&g1, false, "1,2");
  gen_fail(&g1, 2, RILL_EUSER);
  gen_list(&g2, false, "3");
  rill_observable_t *parts[2] = {gen_obs(&g1), gen_obs(&g2)};
  rill_observable_t *obs = rill_concat(parts, 2);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2");
  ck_assert_str_eq(err.stage, "generate");
  ck_assert_int_eq(g2.inits, 0);
  rill_values_clear(&got);
  rill_observable_free(obs);

  rill_observable_t *e = rill_error(RILL_EUSER, "first");
  parts[0] = e;
  parts[1] = rill_error(RILL_ECALLBACK, "second");
  obs = rill_concat(parts, 2);
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(err.message, "first");
  rill_observable_free(obs);
}
END_TEST

/* concat-009, concat-019 */
START_TEST(concat_error_in_a_later_source_follows_the_earlier_values) {
  rill_observable_t *parts[3] = {vals_src(false, "1"), rill_empty(),
                                 rill_error(RILL_EUSER, "error")};
  rill_observable_t *obs = rill_concat(parts, 3);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1");
  ck_assert_str_eq(err.stage, "error");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* concat-005, concat-023 */
START_TEST(concat_of_empty_sources_completes_without_values) {
  rill_observable_t *parts[2] = {rill_empty(), rill_empty()};
  rill_observable_t *obs = rill_concat(parts, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0); /* no request needed */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
  obs = rill_concat(NULL, 0);
  ck_assert_ptr_nonnull(obs);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
}
END_TEST

/* concat-006, concat-007, concat-014, concat-015 */
START_TEST(concat_waits_forever_on_a_source_that_never_completes) {
  struct gen g;
  gen_list(&g, false, "1");
  rill_observable_t *parts[3] = {vals_src(false, "0"), rill_never(),
                                 gen_obs(&g)};
  rill_observable_t *obs = rill_concat(parts, 3);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "0");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.inits, 0);
  rec_cancel(&r);
  ck_assert_int_eq(g.inits, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* concat-017 */
START_TEST(concat_cancel_from_on_next_cancels_the_current_source_only) {
  struct gen g1, g2, g3;
  gen_list(&g1, false, "1,2");
  gen_list(&g2, false, "3,4,5");
  gen_list(&g3, false, "6");
  rill_observable_t *parts[3] = {gen_obs(&g1), gen_obs(&g2), gen_obs(&g3)};
  rill_observable_t *obs = rill_concat(parts, 3);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 4;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(SHOW_REC(&r), "1,2,3,4");
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g1.finis, 1);
  ck_assert_int_eq(g2.calls, 2);
  ck_assert_int_eq(g2.finis, 1);
  ck_assert_int_eq(g3.inits, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* A filter after concat drops values without stalling concat's demand. */
START_TEST(concat_followed_by_a_filter_still_meets_demand) {
  struct cb c = {0};
  rill_observable_t *parts[2] = {vals_src(false, "1,3,5,6"),
                                 vals_src(false, "7,8,9,10")};
  rill_observable_t *obs = rill_filter(rill_concat(parts, 2), p_even, &c);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  ck_assert_str_eq(SHOW_REC(&r), "6,8");
  rec_request(&r, 5);
  ck_assert_str_eq(SHOW_REC(&r), "6,8,10");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* Many synchronous sources, run on a small stack: the trampoline must keep
 * the depth constant whatever the number of sources. */
struct many {
  int64_t n;
  bool empties;
  int rc;
  rec_t r;
};

static void *many_run(void *arg) {
  struct many *m = arg;
  rill_observable_t **parts = malloc((size_t)m->n * sizeof(*parts));
  ck_assert_ptr_nonnull(parts);
  for (int64_t i = 0; i < m->n; i++)
    parts[i] = m->empties ? rill_empty() : rill_range(i, 1);
  rill_observable_t *obs = rill_concat(parts, (size_t)m->n);
  free(parts);
  rec_init(&m->r);
  m->r.store = false;
  m->r.request_on_subscribe = m->empties ? 0 : 1;
  m->r.request_in_next = 1;
  m->rc = rec_subscribe(&m->r, obs);
  rill_observable_free(obs);
  return NULL;
}

static void run_on_small_stack(void *(*fn)(void *), void *arg) {
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
#if defined(__SANITIZE_ADDRESS__)
  pthread_attr_setstacksize(&attr, 1024 * 1024);
#else
  pthread_attr_setstacksize(&attr, 256 * 1024);
#endif
  ck_assert_int_eq(pthread_create(&t, &attr, fn, arg), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&attr);
}

START_TEST(concat_of_100000_empty_sources_completes_without_stack_overflow) {
  struct many m = {.n = tl_scaled(100000), .empties = true};
  run_on_small_stack(many_run, &m);
  ck_assert_int_eq(m.rc, 0);
  ck_assert_int_eq(m.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(m.r.nexts, 0);
  ck_assert_rec_ok(&m.r);
}
END_TEST

START_TEST(concat_of_100000_one_value_sources_runs_in_constant_stack) {
  struct many m = {.n = tl_scaled(100000), .empties = false};
  run_on_small_stack(many_run, &m);
  ck_assert_int_eq(m.rc, 0);
  ck_assert_int_eq(m.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(m.r.nexts, m.n);
  ck_assert_int_eq(m.r.max_depth, 1);
  ck_assert_uint_lt(m.r.stack_hi - m.r.stack_lo, 4096);
  ck_assert_rec_ok(&m.r);
}
END_TEST

START_TEST(concat_releases_owned_values_on_complete) {
  tl_owned_reset();
  struct gen g;
  gen_list(&g, true, "3,4");
  rill_observable_t *parts[3] = {vals_src(true, "1,2"), gen_obs(&g),
                                 vals_src(true, "5")};
  rill_observable_t *obs = rill_concat(parts, 3);
  rill_values_t got;
  rill_error_t err;
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(collect(obs, &got, &err), 0);
    ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,4,5");
    rill_values_clear(&got);
  }
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(concat_releases_owned_values_on_error) {
  tl_owned_reset();
  struct gen g;
  gen_list(&g, true, "3,4");
  gen_fail(&g, 2, RILL_EUSER);
  rill_observable_t *parts[3] = {vals_src(true, "1,2"), gen_obs(&g),
                                 vals_src(true, "5")};
  rill_observable_t *obs = rill_concat(parts, 3);
  rill_values_t got;
  rill_error_t err;
  ck_assert_int_eq(collect(obs, &got, &err), RILL_EUSER);
  ck_assert_str_eq(SHOW_GOT(&got), "1,2,3,4");
  rill_values_clear(&got);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(concat_releases_owned_values_on_cancel_from_on_next) {
  tl_owned_reset();
  for (int at = 1; at <= 5; at++) {
    rill_observable_t *parts[3] = {vals_src(true, "1,2"), vals_src(true, "3,4"),
                                   vals_src(true, "5")};
    rill_observable_t *obs = rill_concat(parts, 3);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = at;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_int_eq(r.nexts, at);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
  }
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(concat_rejects_a_null_source_and_releases_the_others) {
  tl_owned_reset();
  rill_observable_t *parts[3] = {vals_src(true, "1"), NULL,
                                 vals_src(true, "2")};
  errno = 0;
  ck_assert_ptr_null(rill_concat(parts, 3));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ============================================================================
 * all operators: the same protocol checks for each one
 * ==========================================================================*/

struct built {
  const char *name;
  rill_observable_t *(*make)(rill_observable_t *src, struct cb *c);
};

static rill_observable_t *mk_map(rill_observable_t *s, struct cb *c) {
  return rill_map(s, m_times10, c);
}
static rill_observable_t *mk_filter(rill_observable_t *s, struct cb *c) {
  return rill_filter(s, p_odd, c);
}
static rill_observable_t *mk_fused(rill_observable_t *s, struct cb *c) {
  return rill_map(
      rill_filter(rill_map(rill_filter(s, p_odd, c), m_times10, c), p_true, c),
      m_times10, c);
}
static rill_observable_t *mk_take(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_take(s, 5);
}
static rill_observable_t *mk_take0(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_take(s, 0);
}
static rill_observable_t *mk_skip(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_skip(s, 3);
}
static rill_observable_t *mk_take_while(rill_observable_t *s, struct cb *c) {
  c->k = 6;
  return rill_take_while(s, p_lt, c, false);
}
static rill_observable_t *mk_take_while_incl(rill_observable_t *s,
                                             struct cb *c) {
  c->k = 6;
  return rill_take_while(s, p_lt, c, true);
}
static rill_observable_t *mk_scan(rill_observable_t *s, struct cb *c) {
  rill_value_t seed = tl_owned(1000);
  return rill_scan(s, r_sum, c, &seed);
}
static rill_observable_t *mk_scan_noseed(rill_observable_t *s, struct cb *c) {
  return rill_scan(s, r_sum, c, NULL);
}
static rill_observable_t *mk_reduce(rill_observable_t *s, struct cb *c) {
  rill_value_t seed = tl_owned(1000);
  return rill_reduce(s, r_sum, c, &seed);
}
static rill_observable_t *mk_reduce_noseed(rill_observable_t *s, struct cb *c) {
  return rill_reduce(s, r_sum, c, NULL);
}
static rill_observable_t *mk_distinct(rill_observable_t *s, struct cb *c) {
  return rill_distinct_until_changed(s, e_int, c);
}
static rill_observable_t *mk_start_with(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_start_with(s, 2, tl_owned(-1), tl_owned(-2));
}
static rill_observable_t *mk_buffer(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_buffer_count(s, 3, 0);
}
static rill_observable_t *mk_buffer_overlap(rill_observable_t *s,
                                            struct cb *c) {
  (void)c;
  return rill_buffer_count(s, 3, 1);
}
static rill_observable_t *mk_buffer_gaps(rill_observable_t *s, struct cb *c) {
  (void)c;
  return rill_buffer_count(s, 2, 3);
}
static rill_observable_t *mk_concat(rill_observable_t *s, struct cb *c) {
  (void)c;
  rill_observable_t *parts[3] = {vals_src(true, "-5,-6"), s,
                                 vals_src(true, "-7")};
  return rill_concat(parts, 3);
}

static const struct built all_ops[] = {
    {"map", mk_map},
    {"filter", mk_filter},
    {"filter/map/filter/map", mk_fused},
    {"take", mk_take},
    {"take(0)", mk_take0},
    {"skip", mk_skip},
    {"take_while", mk_take_while},
    {"take_while inclusive", mk_take_while_incl},
    {"scan", mk_scan},
    {"scan without seed", mk_scan_noseed},
    {"reduce", mk_reduce},
    {"reduce without seed", mk_reduce_noseed},
    {"distinct_until_changed", mk_distinct},
    {"start_with", mk_start_with},
    {"buffer_count", mk_buffer},
    {"buffer_count overlapping", mk_buffer_overlap},
    {"buffer_count with gaps", mk_buffer_gaps},
    {"concat", mk_concat},
};
#define ALL_OPS (sizeof(all_ops) / sizeof(*all_ops))
#define ALL_OPS_INPUT "1,1,2,3,3,3,4,5,5,6,7,8,8,9"

START_TEST(every_operator_gives_the_same_values_one_request_at_a_time) {
  for (size_t i = 0; i < ALL_OPS; i++) {
    for (int from_gen = 0; from_gen < 2; from_gen++) {
      tl_owned_reset();
      struct cb c = {0};
      struct gen g;
      rill_values_t got;
      rill_error_t err;
      gen_list(&g, true, ALL_OPS_INPUT);
      rill_observable_t *src =
          from_gen ? gen_obs(&g) : vals_src(true, ALL_OPS_INPUT);
      rill_observable_t *obs = all_ops[i].make(src, &c);
      ck_assert_ptr_nonnull(obs);
      ck_assert_int_eq(collect(obs, &got, &err), 0);
      char want[1024];
      snprintf(want, sizeof(want), "%s", SHOW_GOT(&got));
      rill_values_clear(&got);

      rec_t r;
      rec_init(&r);
      r.request_on_subscribe = 1;
      r.request_in_next = 1;
      ck_assert_int_eq(rec_subscribe(&r, obs), 0);
      ck_assert_msg(strcmp(SHOW_REC(&r), want) == 0,
                    "%s (%s): one at a time '%s', unbounded '%s'",
                    all_ops[i].name, from_gen ? "generate" : "from_array",
                    SHOW_REC(&r), want);
      ck_assert_msg(r.terminal == REC_COMPLETE, "%s: terminal %d",
                    all_ops[i].name, (int)r.terminal);
      ck_assert_msg(r.max_depth <= 1, "%s: on_next nested", all_ops[i].name);
      ck_assert_msg(r.violations == 0, "%s: %s", all_ops[i].name, r.violation);
      ck_assert_rec_ok(&r);
      rec_clear(&r);
      rill_observable_free(obs);
      ck_assert_msg(tl_owned_made == tl_owned_released,
                    "%s: owned %ld made, %ld released", all_ops[i].name,
                    tl_owned_made, tl_owned_released);
      ck_assert_owned_balanced();
    }
  }
}
END_TEST

START_TEST(every_operator_cancelled_in_on_subscribe_cancels_its_source) {
  for (size_t i = 0; i < ALL_OPS; i++) {
    tl_owned_reset();
    struct cb c = {0};
    struct gen g;
    gen_list(&g, true, ALL_OPS_INPUT);
    rill_observable_t *obs = all_ops[i].make(gen_obs(&g), &c);
    rec_t r;
    rec_init(&r);
    r.cancel_on_subscribe = true;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    ck_assert_msg(r.nexts == 0 && r.terminal == REC_NONE,
                  "%s: %lld values, terminal %d after cancel in on_subscribe",
                  all_ops[i].name, (long long)r.nexts, (int)r.terminal);
    ck_assert_msg(g.calls == 0, "%s: source pulled %lld times", all_ops[i].name,
                  (long long)g.calls);
    ck_assert_msg(g.finis == g.inits, "%s: source inited %d, finished %d",
                  all_ops[i].name, g.inits, g.finis);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* A source error reaches a subscriber that has requested nothing (rule
 * 1.4: on_error needs no demand), unchanged, through every operator. */
START_TEST(every_operator_passes_a_source_error_without_demand) {
  for (size_t i = 0; i < ALL_OPS; i++) {
    tl_owned_reset();
    struct cb c = {0};
    rill_observable_t *obs =
        all_ops[i].make(rill_error(RILL_EUSER, "boom"), &c);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    if (strcmp(all_ops[i].name, "take(0)") == 0) {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
    } else if (strncmp(all_ops[i].name, "start_with", 10) == 0 ||
               strcmp(all_ops[i].name, "concat") == 0) {
      /* The error source is subscribed after values that need demand. */
      ck_assert_int_eq(r.terminal, REC_NONE);
      rec_request(&r, 10);
      ck_assert_msg(r.terminal == REC_ERROR, "%s: terminal %d", all_ops[i].name,
                    (int)r.terminal);
    } else {
      ck_assert_msg(r.terminal == REC_ERROR, "%s: terminal %d", all_ops[i].name,
                    (int)r.terminal);
    }
    if (r.terminal == REC_ERROR) {
      ck_assert_int_eq(r.err.code, RILL_EUSER);
      ck_assert_str_eq(r.err.stage, "error");
      ck_assert_str_eq(r.err.message, "boom");
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* Keeps every second value it sees (any kind), so it drops values whatever
 * the operator before it emits. */
static int p_every_second(void *ctx, rill_value_t v) {
  (void)v;
  struct cb *c = ctx;
  return ++c->calls % 2 == 0;
}

/* An operator followed by a filter: values the filter drops do not count
 * against demand, so the operator must keep producing until the demand is
 * met (or its source ends); asking one value at a time must give what
 * unbounded demand gives, and terminate. */
START_TEST(every_operator_then_a_filter_meets_demand_one_at_a_time) {
  char failed[2048] = "";
  size_t at = 0;
  for (size_t i = 0; i < ALL_OPS; i++) {
    tl_owned_reset();
    struct cb c = {0}, keep1 = {0}, keep2 = {0};
    struct gen g;
    rill_values_t got;
    rill_error_t err;
    gen_list(&g, true, ALL_OPS_INPUT);
    rill_observable_t *obs = all_ops[i].make(gen_obs(&g), &c);
    rill_observable_t *f1 =
        rill_filter(rill_observable_ref(obs), p_every_second, &keep1);
    ck_assert_int_eq(collect(f1, &got, &err), 0);
    char want[1024];
    snprintf(want, sizeof(want), "%s", SHOW_GOT(&got));
    rill_values_clear(&got);
    rill_observable_free(f1);

    rill_observable_t *f2 = rill_filter(obs, p_every_second, &keep2);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = 1;
    r.request_in_next = 1;
    ck_assert_int_eq(rec_subscribe(&r, f2), 0);
    if (strcmp(SHOW_REC(&r), want) != 0 || r.terminal != REC_COMPLETE) {
      char line[512];
      snprintf(line, sizeof(line),
               "\n  %.40s: one at a time '%.150s' (terminal %d), "
               "unbounded '%.150s'",
               all_ops[i].name, SHOW_REC(&r), (int)r.terminal, want);
      size_t n = strlen(line);
      if (at + n < sizeof(failed)) {
        memcpy(failed + at, line, n + 1);
        at += n;
      }
      rec_cancel(&r);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(f2);
    ck_assert_msg(tl_owned_made == tl_owned_released,
                  "%s: owned %ld made, %ld released", all_ops[i].name,
                  tl_owned_made, tl_owned_released);
  }
  ck_assert_msg(at == 0, "demand not met after a filter:%s", failed);
}
END_TEST

/* ============================================================================
 * the suite
 * ==========================================================================*/

/* Every test starts with fresh owned-value counters. */
static void reset_owned(void) {
  tl_owned_reset();
}

/* ---- first, last, take_until
 * --------------------------------------------------*/

START_TEST(first_emits_the_first_match_then_completes_and_cancels) {
  rill_observable_t *o =
      rill_first(rill_range(1, 1000000), tl_is_even, NULL, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(o, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 1);
  ck_assert_int_eq(got.items[0].as.i, 2);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

START_TEST(first_and_last_of_nothing_fail_with_eempty_or_give_the_default) {
  rill_error_t err;
  rill_values_t got = {0};
  rill_observable_t *o = rill_first(rill_empty(), NULL, NULL, NULL);
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_EEMPTY);
  ck_assert_str_eq(err.stage, "first");
  rill_observable_free(o);
  o = rill_last(rill_range(1, 5), tl_fail_pred_never, NULL, NULL);
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_EEMPTY);
  rill_observable_free(o);
  tl_owned_reset();
  rill_value_t d = tl_owned(42);
  o = rill_last(rill_empty(), NULL, NULL, &d);
  ck_assert_int_eq(rill_observable_collect(o, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 1);
  ck_assert_int_eq(tl_owned_int(got.items[0]), 42);
  rill_values_clear(&got);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(last_waits_for_demand_before_emitting) {
  rill_observable_t *o = rill_last(rill_range(1, 3), NULL, NULL, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(take_until_stops_when_the_notifier_fires) {
  rill_observable_t *o =
      rill_take_until(rill_range(0, 5), rill_just(1, rill_value_int(0)));
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0); /* the notifier fired first (RxJS order) */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  /* a notifier that only completes changes nothing */
  o = rill_take_until(rill_range(0, 5), rill_empty());
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(o);
  /* a failing notifier fails the stream */
  o = rill_take_until(rill_never(), rill_error(RILL_EUSER, "stop"));
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_ptr_null(rill_take_until(rill_range(0, 1), NULL));
}
END_TEST

/* Issue 7, defect 1: a notifier error at subscribe, with a subscriber that
 * requests in on_subscribe and a synchronous source, used to give the
 * source's 5 values and on_complete; collect() returned 0. */
START_TEST(take_until_notifier_error_at_subscribe_is_not_lost) {
  rill_observable_t *o =
      rill_take_until(rill_range(0, 5), rill_error(RILL_EUSER, "stop"));
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_values_t vals = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &vals, &err), RILL_EUSER);
  ck_assert_uint_eq(vals.len, 0);
  rill_values_clear(&vals);
  rill_observable_free(o);
}
END_TEST

/* Issue 8 §3: cancel from inside an operator's user callback still
 * delivered the value in flight (scan, take_while, distinct_until_changed's
 * comparator, first's predicate).  Nothing may follow a cancel. */
static rill_subscription_t *cancel_target;
static int cancel_calls;
static int cancel_in_pred(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  cancel_calls++;
  rill_subscription_cancel(cancel_target);
  return 1;
}
static int cancel_in_equal(void *ctx, rill_value_t a, rill_value_t b) {
  (void)ctx;
  (void)a;
  (void)b;
  cancel_calls++;
  rill_subscription_cancel(cancel_target);
  return 0; /* "different": the value would pass */
}
static int cancel_in_acc(void *ctx, rill_value_t acc, rill_value_t v,
                         rill_value_t *out) {
  (void)ctx;
  (void)acc;
  cancel_calls++;
  rill_subscription_cancel(cancel_target);
  *out = rill_value_retain(v);
  return 0;
}

static void cancel_in_callback_case(rill_observable_t *(*make)(void),
                                    int64_t want_nexts) {
  tl_owned_reset();
  rill_observable_t *o = make();
  rec_t r;
  rec_init(&r);
  cancel_calls = 0;
  ck_assert_int_eq(rec_subscribe(&r, o), 0); /* no request yet */
  cancel_target = r.s; /* the borrowed handle, valid until the cancel */
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(cancel_calls, 1);
  ck_assert_int_eq(r.nexts, want_nexts);
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}

static rill_observable_t *owned_range(int n) {
  rill_value_t vals[4];
  for (int i = 0; i < n; i++)
    vals[i] = tl_owned(i);
  return rill_from_array(vals, (size_t)n);
}
static rill_observable_t *cancel_mk_scan(void) {
  return rill_scan(owned_range(3), cancel_in_acc, NULL, NULL);
}
static rill_observable_t *cancel_mk_take_while(void) {
  return rill_take_while(owned_range(3), cancel_in_pred, NULL, false);
}
static rill_observable_t *cancel_mk_distinct(void) {
  return rill_distinct_until_changed(owned_range(3), cancel_in_equal, NULL);
}
static rill_observable_t *cancel_mk_first(void) {
  return rill_first(owned_range(3), cancel_in_pred, NULL, NULL);
}

START_TEST(cancel_inside_an_operator_callback_delivers_nothing_more) {
  /* scan's first value is the seed-less accumulator, taken without a call;
   * the call comes with the second value. */
  cancel_in_callback_case(cancel_mk_scan, 1);
  cancel_in_callback_case(cancel_mk_take_while, 0);
  cancel_in_callback_case(cancel_mk_distinct, 1); /* first value: no comparison */
  cancel_in_callback_case(cancel_mk_first, 0);
}
END_TEST

/* Found by the fuzzer: a terminal reached while a stage's on_next is on
 * the stack (a take_until notifier fired from on_next, an emitter error
 * raised from on_next) was delivered nested in that on_next.  Terminals
 * now wait for the emission bracket (rill__op_deliver). */
static rill_emitter_t *notify_e;
static void notify_start(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  notify_e = e;
}
struct nest_rec {
  int depth, nexts, terminals;
  bool nested_terminal;
  int how; /* 0: fire the notifier; 1: notifier error; 2: emitter error */
};
static void nr_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, 10);
}
static void nr_next(void *ctx, rill_value_t v) {
  struct nest_rec *r = ctx;
  rill_value_release(v);
  r->depth++;
  r->nexts++;
  if (r->nexts == 2) {
    if (r->how == 0)
      rill_emitter_next(notify_e, rill_value_int(0));
    else
      rill_emitter_error(notify_e, RILL_EUSER, "stop");
  }
  r->depth--;
}
static void nr_terminal(struct nest_rec *r) {
  r->terminals++;
  r->nested_terminal |= r->depth > 0;
}
static void nr_complete(void *ctx) {
  nr_terminal(ctx);
}
static void nr_error(void *ctx, const rill_error_t *err) {
  (void)err;
  nr_terminal(ctx);
}

START_TEST(terminals_reached_inside_on_next_wait_for_it) {
  for (int how = 0; how < 3; how++) {
    notify_e = NULL;
    rill_observable_t *o =
        how < 2 ? rill_take_until(rill_range(1, 5),
                                  rill_create(notify_start, NULL, NULL))
                : rill_map(rill_create(notify_start, NULL, NULL), tl_double,
                           NULL);
    struct nest_rec r = {.how = how};
    rill_subscriber_t sub = {.on_subscribe = nr_subscribe,
                             .on_next = nr_next,
                             .on_error = nr_error,
                             .on_complete = nr_complete};
    rill_subscription_t *h;
    ck_assert_int_eq(rill_observable_subscribe(o, &sub, &r, &h), 0);
    if (how == 2) { /* the source itself: values pushed from outside */
      rill_emitter_next(notify_e, rill_value_int(1));
      rill_emitter_next(notify_e, rill_value_int(2));
    }
    ck_assert_int_eq(r.nexts, 2);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_msg(!r.nested_terminal, "how %d: terminal nested in on_next",
                  how);
    rill_subscription_free(h);
    rill_observable_free(o);
  }
}
END_TEST

Suite *operators_suite(void) {
  Suite *s = suite_create("operators");
  TCase *tc;

  tc = tcase_create("map");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, map_projects_every_value_in_order);
  tcase_add_test(tc, map_does_not_call_project_on_an_empty_source);
  tcase_add_test(tc, map_passes_a_source_error_after_the_mapped_values);
  tcase_add_test(tc,
                 map_project_error_reports_code_and_stage_and_cancels_source);
  tcase_add_test(tc, map_passes_demand_upstream_one_to_one);
  tcase_add_test(tc, map_cancel_from_on_next_stops_the_source);
  tcase_add_test(tc, map_releases_owned_values_on_complete);
  tcase_add_test(tc, map_releases_owned_values_on_error);
  tcase_add_test(tc, map_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, map_rejects_a_null_project_and_releases_the_source);
  tcase_add_test(tc, map_observable_is_cold_and_reusable);
  suite_add_tcase(s, tc);

  tc = tcase_create("filter");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, filter_keeps_only_values_matching_the_predicate);
  tcase_add_test(
      tc, filter_always_true_passes_all_and_always_false_completes_empty);
  tcase_add_test(tc, filter_passes_a_source_error_after_the_kept_values);
  tcase_add_test(
      tc, filter_predicate_error_reports_code_and_stage_and_cancels_source);
  tcase_add_test(tc, filter_dropped_values_do_not_consume_demand);
  tcase_add_test(tc, filter_releases_owned_values_kept_and_dropped_on_complete);
  tcase_add_test(tc, filter_releases_owned_values_on_error);
  tcase_add_test(tc, filter_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, filter_rejects_a_null_predicate_and_releases_the_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("map_filter_fusion");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, fused_chains_give_the_same_results_as_separate_stages);
  tcase_add_test(tc, filter_twice_keeps_values_passing_both);
  tcase_add_test(tc, filter_then_map_and_map_then_map_compose);
  tcase_add_test(tc,
                 fused_chain_error_names_the_failing_step_and_cancels_upstream);
  tcase_add_test(tc, fused_chain_respects_demand_when_filters_drop);
  tcase_add_test(tc, fused_chain_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, fusion_leaves_a_shared_prefix_unchanged);
  tcase_add_test(tc, map_positive_return_is_not_an_error_on_any_source);
  tcase_add_test(tc, map_cancel_inside_project_delivers_nothing_more);
  tcase_add_test(tc, filter_cancel_inside_predicate_delivers_nothing_more);
  tcase_add_test(tc, filter_cancel_while_dropping_stops_the_source_at_once);
  tcase_add_test(tc,
                 fused_chain_cancel_in_the_middle_step_delivers_nothing_more);
  tcase_add_test(tc, fused_cancel_releases_the_owned_value_in_flight_once);
  suite_add_tcase(s, tc);

  tc = tcase_create("take");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, take_completes_after_count_and_cancels_upstream);
  tcase_add_test(tc, take_zero_completes_without_subscribing_upstream);
  tcase_add_test(tc, take_never_requests_more_than_count_upstream);
  tcase_add_test(tc,
                 take_completes_with_the_last_wanted_value_without_more_demand);
  tcase_add_test(tc, take_more_than_available_passes_all_then_completes);
  tcase_add_test(tc, take_passes_a_source_error);
  tcase_add_test(tc, take_of_a_never_source_does_not_terminate);
  tcase_add_test(tc, take_cancel_from_on_next_stops_the_source);
  tcase_add_test(tc,
                 take_counts_source_values_even_when_a_later_filter_drops_them);
  tcase_add_test(tc,
                 take_releases_owned_values_on_complete_including_unused_ones);
  tcase_add_test(tc, take_releases_owned_values_on_error);
  tcase_add_test(tc, take_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, take_rejects_a_negative_count_and_releases_the_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("skip");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, skip_drops_the_first_count_values);
  tcase_add_test(tc,
                 skip_of_all_values_completes_empty_and_skip_zero_passes_all);
  tcase_add_test(tc, skip_passes_a_source_error);
  tcase_add_test(tc, skip_of_a_never_source_does_not_terminate);
  tcase_add_test(tc, skip_skipped_values_do_not_consume_downstream_demand);
  tcase_add_test(tc, skip_cancel_from_on_next_stops_the_source);
  tcase_add_test(tc, skip_releases_owned_values_kept_and_skipped_on_complete);
  tcase_add_test(tc, skip_releases_owned_values_on_error);
  tcase_add_test(tc, skip_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, skip_rejects_a_negative_count_and_releases_the_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("take_while");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, take_while_emits_until_the_predicate_fails_then_completes);
  tcase_add_test(tc, take_while_inclusive_also_emits_the_failing_value);
  tcase_add_test(
      tc, take_while_always_true_passes_all_and_false_first_completes_empty);
  tcase_add_test(tc, take_while_of_a_never_source_does_not_terminate);
  tcase_add_test(tc, take_while_passes_a_source_error);
  tcase_add_test(tc, take_while_predicate_error_reports_code_stage_and_cancels);
  tcase_add_test(tc, take_while_respects_demand_inclusive_or_not);
  tcase_add_test(tc, take_while_cancel_from_on_next_stops_the_source);
  tcase_add_test(
      tc, take_while_releases_owned_values_on_complete_and_the_failing_one);
  tcase_add_test(tc, take_while_releases_owned_values_on_error);
  tcase_add_test(tc, take_while_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc,
                 take_while_rejects_a_null_predicate_and_releases_the_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("scan");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, scan_with_seed_emits_every_accumulator);
  tcase_add_test(tc, scan_without_seed_starts_from_the_first_value);
  tcase_add_test(tc, scan_of_an_empty_source_completes_without_values);
  tcase_add_test(tc, scan_passes_a_source_error_after_the_accumulators);
  tcase_add_test(tc, scan_accumulator_error_reports_code_and_stage_and_cancels);
  tcase_add_test(tc, scan_restarts_from_the_seed_for_each_subscription);
  tcase_add_test(tc, scan_passes_demand_upstream_one_to_one);
  tcase_add_test(tc, scan_cancel_from_on_next_stops_the_source);
  tcase_add_test(tc,
                 scan_releases_owned_seed_accumulators_and_values_on_complete);
  tcase_add_test(tc, scan_releases_owned_values_on_error);
  tcase_add_test(tc, scan_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc,
                 scan_rejects_a_null_accumulator_and_releases_seed_and_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("reduce");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, reduce_with_seed_emits_the_final_accumulator);
  tcase_add_test(tc, reduce_without_seed_folds_from_the_first_value);
  tcase_add_test(
      tc, reduce_of_an_empty_source_without_seed_completes_with_no_value);
  tcase_add_test(tc, reduce_of_an_empty_source_with_seed_emits_the_seed);
  tcase_add_test(tc, reduce_result_waits_for_downstream_demand);
  tcase_add_test(tc, reduce_passes_a_source_error_without_a_value);
  tcase_add_test(tc,
                 reduce_accumulator_error_reports_code_and_stage_and_cancels);
  tcase_add_test(tc, reduce_of_a_source_that_never_completes_emits_nothing);
  tcase_add_test(tc, reduce_cancel_from_on_next_suppresses_the_completion);
  tcase_add_test(
      tc, reduce_releases_owned_seed_accumulators_and_values_on_complete);
  tcase_add_test(tc, reduce_releases_owned_values_on_error);
  tcase_add_test(tc, reduce_releases_owned_values_on_cancel);
  tcase_add_test(
      tc, reduce_rejects_a_null_accumulator_and_releases_seed_and_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("distinct_until_changed");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, distinct_drops_values_equal_to_the_previous_one);
  tcase_add_test(tc, distinct_passes_a_source_error);
  tcase_add_test(tc, distinct_comparator_always_true_or_always_false);
  tcase_add_test(tc,
                 distinct_comparator_gets_the_last_emitted_then_the_current);
  tcase_add_test(tc, distinct_comparator_can_compare_keys);
  tcase_add_test(tc,
                 distinct_comparator_error_reports_code_and_stage_and_cancels);
  tcase_add_test(tc, distinct_dropped_values_do_not_consume_demand);
  tcase_add_test(tc, distinct_default_equality_follows_rill_value_equal);
  tcase_add_test(tc,
                 distinct_default_equality_compares_owned_values_by_address);
  tcase_add_test(tc,
                 distinct_releases_owned_values_kept_and_dropped_on_complete);
  tcase_add_test(tc, distinct_releases_owned_values_on_error);
  tcase_add_test(tc, distinct_releases_owned_values_on_cancel_from_on_next);
  suite_add_tcase(s, tc);

  tc = tcase_create("start_with");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc, start_with_emits_the_values_before_the_source);
  tcase_add_test(tc, start_with_emits_several_values_in_the_given_order);
  tcase_add_test(tc,
                 start_with_of_an_empty_source_emits_the_values_and_completes);
  tcase_add_test(tc, start_with_emits_the_values_then_passes_a_source_error);
  tcase_add_test(tc, start_with_of_a_never_source_emits_the_values_only);
  tcase_add_test(tc,
                 start_with_respects_demand_and_subscribes_source_after_values);
  tcase_add_test(
      tc, start_with_cancel_during_the_values_never_subscribes_the_source);
  tcase_add_test(tc, start_with_observable_is_cold_and_reusable);
  tcase_add_test(tc, start_with_releases_owned_values_on_complete);
  tcase_add_test(tc, start_with_releases_owned_values_on_error);
  tcase_add_test(tc, start_with_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, start_with_rejects_a_null_source_and_releases_the_values);
  suite_add_tcase(s, tc);

  tc = tcase_create("buffer_count");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(
      tc, buffer_count_with_size_equal_to_every_emits_consecutive_chunks);
  tcase_add_test(tc,
                 buffer_count_with_every_below_size_emits_overlapping_buffers);
  tcase_add_test(tc, buffer_count_with_every_above_size_leaves_gaps);
  tcase_add_test(tc, buffer_count_emits_a_partial_buffer_at_completion);
  tcase_add_test(tc, buffer_count_drops_open_buffers_on_error);
  tcase_add_test(tc, buffer_count_respects_demand_one_array_per_request);
  tcase_add_test(tc,
                 buffer_count_partial_buffers_at_completion_wait_for_demand);
  tcase_add_test(tc, buffer_count_followed_by_a_filter_still_meets_demand);
  tcase_add_test(tc, buffer_count_cancel_from_on_next_stops_the_source);
  tcase_add_test(tc,
                 buffer_count_releases_owned_values_on_complete_including_gaps);
  tcase_add_test(
      tc, buffer_count_releases_owned_values_of_dropped_buffers_on_error);
  tcase_add_test(tc,
                 buffer_count_releases_owned_values_of_open_buffers_on_cancel);
  tcase_add_test(tc, buffer_count_rejects_size_zero_and_releases_the_source);
  suite_add_tcase(s, tc);

  tc = tcase_create("concat");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, concat_emits_each_source_in_turn);
  tcase_add_test(tc, concat_of_the_same_cold_observable_repeats_it);
  tcase_add_test(tc, concat_carries_outstanding_demand_across_sources);
  tcase_add_test(tc,
                 concat_subscribes_a_source_only_after_the_previous_completes);
  tcase_add_test(tc, concat_error_in_a_source_ends_the_stream_at_once);
  tcase_add_test(tc, concat_error_in_a_later_source_follows_the_earlier_values);
  tcase_add_test(tc, concat_of_empty_sources_completes_without_values);
  tcase_add_test(tc, concat_waits_forever_on_a_source_that_never_completes);
  tcase_add_test(tc,
                 concat_cancel_from_on_next_cancels_the_current_source_only);
  tcase_add_test(tc, concat_followed_by_a_filter_still_meets_demand);
  tcase_add_test(
      tc, concat_of_100000_empty_sources_completes_without_stack_overflow);
  tcase_add_test(tc, concat_of_100000_one_value_sources_runs_in_constant_stack);
  tcase_add_test(tc, concat_releases_owned_values_on_complete);
  tcase_add_test(tc, concat_releases_owned_values_on_error);
  tcase_add_test(tc, concat_releases_owned_values_on_cancel_from_on_next);
  tcase_add_test(tc, concat_rejects_a_null_source_and_releases_the_others);
  suite_add_tcase(s, tc);

  tc = tcase_create("all_operators");
  tcase_add_checked_fixture(tc, reset_owned, NULL);
  tcase_add_test(tc,
                 every_operator_gives_the_same_values_one_request_at_a_time);
  tcase_add_test(tc,
                 every_operator_cancelled_in_on_subscribe_cancels_its_source);
  tcase_add_test(tc, every_operator_passes_a_source_error_without_demand);
  tcase_add_test(tc, every_operator_then_a_filter_meets_demand_one_at_a_time);
  suite_add_tcase(s, tc);
  tc = tcase_create("first_last_take_until");
  tcase_add_test(tc, first_emits_the_first_match_then_completes_and_cancels);
  tcase_add_test(
      tc, first_and_last_of_nothing_fail_with_eempty_or_give_the_default);
  tcase_add_test(tc, last_waits_for_demand_before_emitting);
  tcase_add_test(tc, take_until_stops_when_the_notifier_fires);
  tcase_add_test(tc, take_until_notifier_error_at_subscribe_is_not_lost);
  tcase_add_test(tc, cancel_inside_an_operator_callback_delivers_nothing_more);
  tcase_add_test(tc, terminals_reached_inside_on_next_wait_for_it);
  suite_add_tcase(s, tc);
  return s;
}
