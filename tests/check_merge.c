/* SPDX-License-Identifier: MIT */
/* rill tests: merge(sources, n, prefetch).
 *
 * What operators/merge.c promises: every value of every source, each
 * source's values in their order; completion once, after every source has
 * completed and every buffer is empty (at once for zero sources); never
 * more on_next than downstream asked for (rule 1.1), never an on_next
 * nested in another (1.3), each source asked for at most `prefetch` values
 * beyond what downstream consumed; the first error cancels the other
 * sources, drops buffered values and is delivered at once, even without
 * demand; cancel releases everything; with unbounded demand it switches
 * to a "wired" path where sources deliver downstream directly.
 * RxJS cases cited by id come from rxjs-marbles/merge.json; rill's sources
 * are synchronous, so their timing collapses (a source subscribed first
 * emits first when there is demand). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* Values of source `id` are id * TAG + 0, 1, 2, ... */
#define TAG 1000000
#define MAXSRC 8

/* ---- a counting generator (see check_sources.c)
 * -----------------------------*/

struct gen {
  int64_t limit;   /* next() returns 0 after this many values; < 0: never */
  int64_t fail_at; /* next() call index (0-based) that fails; < 0: never */
  int fail_code;
  bool owned;
  int64_t base;
  long calls; /* next() calls, all subscriptions */
  long inits;
  long finis;
};

struct gen_state {
  struct gen *g;
  int64_t i;
};

static void gen_setup(struct gen *g, int id, int64_t limit) {
  memset(g, 0, sizeof(*g));
  g->limit = limit;
  g->fail_at = -1;
  g->base = (int64_t)id * TAG;
}

static int gen_init(void *ctx, void **state) {
  struct gen *g = ctx;
  struct gen_state *st = malloc(sizeof(*st));
  ck_assert_ptr_nonnull(st);
  st->g = g;
  st->i = 0;
  *state = st;
  g->inits++;
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
  free(st);
}

static rill_observable_t *gen_obs(struct gen *g) {
  return rill_generate(gen_init, gen_next, gen_fini, g);
}

/* ---- helpers
 * ------------------------------------------------------------------*/

static int64_t val_of(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

/* r holds, for each source id < nsrc, exactly counts[id] values
 * id*TAG + 0 .. counts[id]-1, in that order (interleaving is free).
 * Check's assertions are not free (each one marks a point through a pipe
 * in fork mode), so the loops test plainly and assert once. */
static void assert_merged(const rec_t *r, int nsrc, const int64_t *counts) {
  int64_t next[MAXSRC] = {0};
  int64_t total = 0;
  ck_assert_int_le(nsrc, MAXSRC);
  for (size_t i = 0; i < r->values.len; i++) {
    rill_value_t x = r->values.items[i];
    bool ok_kind = x.kind == RILL_KIND_INT || x.kind == RILL_KIND_OWNED;
    int64_t v = val_of(x);
    int64_t id = v / TAG, idx = v % TAG;
    if (!ok_kind || id < 0 || id >= nsrc || idx != next[id])
      ck_abort_msg("value %zu: kind %d, %lld (source %lld, expected index "
                   "%lld)",
                   i, (int)x.kind, (long long)v, (long long)id,
                   (long long)(id >= 0 && id < nsrc ? next[id] : -1));
    next[id]++;
  }
  for (int id = 0; id < nsrc; id++) {
    ck_assert_msg(next[id] == counts[id], "source %d: %lld of %lld values", id,
                  (long long)next[id], (long long)counts[id]);
    total += counts[id];
  }
  ck_assert_int_eq((int64_t)r->values.len, total);
}

/* How many values of source `id` r has received. */
static int64_t delivered_from(const rec_t *r, int id) {
  int64_t n = 0;
  for (size_t i = 0; i < r->values.len; i++)
    if (val_of(r->values.items[i]) / TAG == id)
      n++;
  return n;
}

static rill_observable_t *tagged_range(int id, int64_t n) {
  return rill_range((int64_t)id * TAG, n);
}

static rill_observable_t *tagged_array(int id, int64_t n, bool owned) {
  rill_value_t vals[64];
  ck_assert_int_le(n, 64);
  for (int64_t i = 0; i < n; i++)
    vals[i] = owned ? tl_owned((int64_t)id * TAG + i)
                    : rill_value_int((int64_t)id * TAG + i);
  return rill_from_array(vals, (size_t)n);
}

static rill_observable_t *merge_of(rill_observable_t **srcs, size_t n,
                                   size_t prefetch) {
  rill_observable_t *m = rill_merge(srcs, n, 0, prefetch);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(rill_observable_name(m), "merge");
  return m;
}

/* ---- values and completion
 * -------------------------------------------------------*/

/* The demand shapes the tests run under. */
enum demand {
  D_UNBOUNDED,      /* request(MAX) in on_subscribe */
  D_ONE_IN_NEXT,    /* request(1) in on_subscribe and in every on_next */
  D_THREE_IN_NEXT,  /* request(3) in on_subscribe and in every on_next */
  D_OUTER_ONE,      /* request(1) from outside, repeatedly */
  D_OUTER_SEVEN,    /* request(7) from outside, repeatedly */
  D_LATE_UNBOUNDED, /* request(5) from outside, then MAX */
  D_NEXT_UNBOUNDED, /* request(2), and MAX from inside every on_next */
  D_COUNT
};

/* Still running: no terminal and not cancelled by rec's cancel_at (after
 * either, r->s may be gone and must not be used). */
static bool rec_live(const rec_t *r) {
  return r->terminal == REC_NONE &&
         !(r->cancel_at > 0 && r->nexts >= r->cancel_at);
}

/* Request `k` at a time from outside while live (bounded loop). */
static void request_while_live(rec_t *r, int64_t k, int64_t max_rounds) {
  for (int64_t i = 0; i < max_rounds && rec_live(r); i++)
    rec_request(r, k);
}

static void demand_setup(rec_t *r, enum demand d) {
  switch (d) {
  case D_UNBOUNDED:
    r->request_on_subscribe = RILL_UNBOUNDED;
    break;
  case D_ONE_IN_NEXT:
    r->request_on_subscribe = 1;
    r->request_in_next = 1;
    break;
  case D_THREE_IN_NEXT:
    r->request_on_subscribe = 3;
    r->request_in_next = 3;
    break;
  case D_NEXT_UNBOUNDED:
    r->request_on_subscribe = 2;
    r->request_in_next = RILL_UNBOUNDED;
    break;
  default:
    break;
  }
}

static void demand_drive(rec_t *r, rill_observable_t *obs, enum demand d) {
  ck_assert_int_eq(rec_subscribe(r, obs), 0);
  switch (d) {
  case D_OUTER_ONE:
    request_while_live(r, 1, 10 * 1000 * 1000);
    break;
  case D_OUTER_SEVEN:
    request_while_live(r, 7, 10 * 1000 * 1000);
    break;
  case D_LATE_UNBOUNDED:
    if (rec_live(r))
      rec_request(r, 5);
    if (rec_live(r)) {
      ck_assert_int_eq(r->nexts, 5);
      rec_request(r, RILL_UNBOUNDED);
    }
    break;
  default:
    break;
  }
}

static void run_demand(rec_t *r, rill_observable_t *obs, enum demand d) {
  rec_init(r);
  demand_setup(r, d);
  demand_drive(r, obs, d);
}

START_TEST(merge_emits_every_value_and_completes_once) {
  static const size_t prefetches[] = {0, 1, 2, 3, 4, 16};
  for (size_t p = 0; p < sizeof(prefetches) / sizeof(prefetches[0]); p++) {
    for (int d = 0; d < D_COUNT; d++) {
      struct gen g;
      gen_setup(&g, 3, 37);
      rill_observable_t *srcs[5] = {
          tagged_range(0, 300), tagged_array(1, 40, false),
          rill_just(2, rill_value_int(2 * TAG), rill_value_int(2 * TAG + 1)),
          gen_obs(&g), tagged_range(4, 0)};
      rill_observable_t *m = merge_of(srcs, 5, prefetches[p]);
      rec_t r;
      run_demand(&r, m, d);
      ck_assert_msg(r.terminal == REC_COMPLETE,
                    "prefetch %zu demand %d: terminal %d after %lld values",
                    prefetches[p], d, r.terminal, (long long)r.nexts);
      ck_assert_int_eq(r.terminals, 1);
      static const int64_t counts[5] = {300, 40, 2, 37, 0};
      assert_merged(&r, 5, counts);
      ck_assert_msg(r.max_depth == 1, "prefetch %zu demand %d: depth %d",
                    prefetches[p], d, r.max_depth);
      ck_assert_rec_ok(&r);
      ck_assert_int_eq(g.finis, 1);
      rec_clear(&r);
      rill_observable_free(m);
    }
  }
}
END_TEST

START_TEST(merge_single_array_source) {
  /* merge-018: merge(["foo", "bar"]) -> (fb|). */
  rill_observable_t *srcs[1] = {tagged_array(0, 2, false)};
  rill_observable_t *m = merge_of(srcs, 1, 0);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_uint_eq(r.values.len, 2);
  ck_assert_int_eq(rec_int(&r, 0), 0);
  ck_assert_int_eq(rec_int(&r, 1), 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_unbounded_interleaves_cold_sources_in_subscription_order) {
  /* merge-001/-004 with the time collapsed: synchronous cold sources under
   * unbounded demand run to completion one after the other. */
  rill_observable_t *srcs[2] = {tagged_range(0, 3), tagged_range(1, 3)};
  rill_observable_t *m = merge_of(srcs, 2, 0);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  static const int64_t want[6] = {0, 1, 2, TAG, TAG + 1, TAG + 2};
  ck_assert_uint_eq(r.values.len, 6);
  for (size_t i = 0; i < 6; i++)
    ck_assert_int_eq(rec_int(&r, i), want[i]);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_completes_only_after_every_source_and_buffer) {
  /* Both sources complete during subscribe, but their values wait in the
   * buffers: completion comes with the last buffered value, not before,
   * and without a further request. */
  rill_observable_t *srcs[2] = {tagged_range(0, 5), tagged_array(1, 5, false)};
  rill_observable_t *m = merge_of(srcs, 2, 8);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 9);
  ck_assert_int_eq(r.nexts, 9);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 10);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.requested, 10);
  static const int64_t counts[2] = {5, 5};
  assert_merged(&r, 2, counts);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);

  /* A generate source completes only when asked past its end: merge must
   * wait for it even though the range finished at once. */
  struct gen g;
  gen_setup(&g, 1, 2);
  rill_observable_t *srcs2[2] = {tagged_range(0, 3), gen_obs(&g)};
  m = merge_of(srcs2, 2, 2);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  request_while_live(&r, 1, 100);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  static const int64_t counts2[2] = {3, 2};
  assert_merged(&r, 2, counts2);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);

  /* merge(range, never): every value, but no completion (merge-007). */
  rill_observable_t *srcs3[2] = {tagged_range(0, 4), rill_never()};
  m = merge_of(srcs3, 2, 0);
  for (int d = 0; d < 2; d++) {
    rec_init(&r);
    r.request_on_subscribe = d == 0 ? RILL_UNBOUNDED : 4;
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.nexts, 4);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_request(&r, 10);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_cancel(&r);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_of_zero_sources_completes_without_request) {
  rill_observable_t *none[1] = {NULL};
  rill_observable_t *ms[2] = {rill_merge(NULL, 0, 0, 0), rill_merge(none, 0, 0, 4)};
  for (int k = 0; k < 2; k++) {
    ck_assert_ptr_nonnull(ms[k]);
    for (int again = 0; again < 2; again++) {
      rec_t r;
      rec_init(&r);
      ck_assert_int_eq(rec_subscribe(&r, ms[k]), 0);
      ck_assert_int_eq(r.requested, 0);
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 0);
      ck_assert_rec_ok(&r);
    }
    rill_observable_free(ms[k]);
  }
}
END_TEST

START_TEST(merge_of_empties_completes_without_request) {
  /* merge-005 (empty, empty) and merge-006 (three empties): "|". */
  for (size_t n = 1; n <= 3; n++) {
    rill_observable_t *srcs[3] = {rill_empty(), rill_from_array(NULL, 0),
                                  rill_range(7, 0)};
    for (size_t i = n; i < 3; i++)
      rill_observable_free(srcs[i]);
    rill_observable_t *m = merge_of(srcs, n, 0);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(m);
  }
}
END_TEST

START_TEST(merge_of_never_and_empty_or_never_signals_nothing) {
  /* merge-007 (never, empty): "-"; merge-008 (never, never): "-". */
  for (int k = 0; k < 2; k++) {
    rill_observable_t *srcs[2] = {rill_never(),
                                  k == 0 ? rill_empty() : rill_never()};
    rill_observable_t *m = merge_of(srcs, 2, 0);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_cancel(&r);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rill_observable_free(m);
  }
}
END_TEST

START_TEST(merge_rejects_null_sources_and_releases_the_others) {
  tl_owned_reset();
  rill_observable_t *srcs[3] = {tagged_range(0, 3), NULL,
                                tagged_array(2, 3, true)};
  errno = 0;
  ck_assert_ptr_null(rill_merge(srcs, 3, 0, 0));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced(); /* the from_array was taken over and freed */
  errno = 0;
  ck_assert_ptr_null(rill_merge(NULL, 2, 0, 0));
  ck_assert_int_eq(errno, EINVAL);
  /* An absurd prefetch is EINVAL too, and the sources are released. */
  rill_observable_t *one[1] = {tagged_array(0, 2, true)};
  errno = 0;
  ck_assert_ptr_null(rill_merge(one, 1, 0, SIZE_MAX));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- demand and prefetch
 * ---------------------------------------------------------*/

START_TEST(merge_never_emits_beyond_demand_on_many_sources) {
  /* Larger volumes under every demand shape; rec_t checks rule 1.1 on each
   * on_next and nesting (1.3) on each delivery. */
  int64_t n = tl_scaled(20000);
  for (int d = 0; d < D_COUNT; d++) {
    struct gen g1, g2;
    gen_setup(&g1, 1, n);
    gen_setup(&g2, 3, n / 2);
    rill_observable_t *srcs[4] = {tagged_range(0, n), gen_obs(&g1),
                                  tagged_range(2, n / 3), gen_obs(&g2)};
    rill_observable_t *m = merge_of(srcs, 4, 32);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    const int64_t counts[4] = {n, n, n / 3, n / 2};
    assert_merged(&r, 4, counts);
    ck_assert_int_eq(r.max_depth, 1);
    ck_assert_rec_ok(&r);
    ck_assert_int_eq(g1.finis, 1);
    ck_assert_int_eq(g2.finis, 1);
    /* Exactly one next() per value, plus the one that said "done". */
    ck_assert_int_eq(g1.calls, n + 1);
    ck_assert_int_eq(g2.calls, n / 2 + 1);
    rec_clear(&r);
    rill_observable_free(m);
  }
}
END_TEST

START_TEST(merge_prefetch_bounds_what_each_source_is_asked_for) {
  static const size_t prefetches[] = {1, 2, 4, 5, 16};
  static const int64_t steps[] = {1, 3, 7};
  for (size_t p = 0; p < sizeof(prefetches) / sizeof(prefetches[0]); p++) {
    for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
      const int64_t pf = (int64_t)prefetches[p];
      struct gen g[3];
      rill_observable_t *srcs[3];
      for (int i = 0; i < 3; i++) {
        gen_setup(&g[i], i, -1); /* infinite */
        srcs[i] = gen_obs(&g[i]);
      }
      rill_observable_t *m = merge_of(srcs, 3, prefetches[p]);
      rec_t r;
      rec_init(&r);
      ck_assert_int_eq(rec_subscribe(&r, m), 0);
      /* Nothing consumed yet: each source was asked for at most pf. */
      for (int i = 0; i < 3; i++)
        ck_assert_int_le(g[i].calls, pf);
      for (int round = 0; round < 60; round++) {
        rec_request(&r, steps[k]);
        ck_assert_int_eq(r.nexts, r.requested); /* infinite sources */
        for (int i = 0; i < 3; i++) {
          int64_t got = delivered_from(&r, i);
          ck_assert_msg(g[i].calls <= got + pf,
                        "prefetch %lld, request(%lld) round %d: source %d "
                        "called %ld times, %lld consumed",
                        (long long)pf, (long long)steps[k], round, i,
                        g[i].calls, (long long)got);
        }
      }
      /* Every source made progress: merge drains them all. */
      for (int i = 0; i < 3; i++)
        ck_assert_int_gt(delivered_from(&r, i), 0);
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_rec_ok(&r);
      rec_cancel(&r);
      for (int i = 0; i < 3; i++)
        ck_assert_int_eq(g[i].finis, 1);
      rec_clear(&r);
      rill_observable_free(m);
    }
  }
}
END_TEST

START_TEST(merge_prefetch_four_request_one_calls_each_source_at_most_four) {
  struct gen g[2];
  rill_observable_t *srcs[2];
  for (int i = 0; i < 2; i++) {
    gen_setup(&g[i], i, -1);
    srcs[i] = gen_obs(&g[i]);
  }
  rill_observable_t *m = merge_of(srcs, 2, 4);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_le(g[0].calls, 4);
  ck_assert_int_le(g[1].calls, 4);
  /* Request(1) from inside on_next: still bounded at every step. */
  r.request_in_next = 1;
  r.cancel_at = 50;
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 50);
  for (int i = 0; i < 2; i++)
    ck_assert_int_le(g[i].calls, delivered_from(&r, i) + 4);
  ck_assert_int_eq(r.max_depth, 1);
  ck_assert_int_eq(g[0].finis, 1);
  ck_assert_int_eq(g[1].finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_default_prefetch_asks_each_source_for_128) {
  struct gen g[2];
  rill_observable_t *srcs[2];
  for (int i = 0; i < 2; i++) {
    gen_setup(&g[i], i, -1);
    srcs[i] = gen_obs(&g[i]);
  }
  rill_observable_t *m = merge_of(srcs, 2, 0);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_int_eq(g[0].calls, 128);
  ck_assert_int_eq(g[1].calls, 128);
  for (int round = 0; round < 40; round++) {
    rec_request(&r, 13);
    ck_assert_int_eq(r.nexts, r.requested);
    for (int i = 0; i < 2; i++)
      ck_assert_int_le(g[i].calls, delivered_from(&r, i) + 128);
  }
  rec_cancel(&r);
  ck_assert_int_eq(g[0].finis + g[1].finis, 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_nested_in_merge_under_every_demand_shape) {
  struct gen g;
  gen_setup(&g, 3, 25);
  rill_observable_t *inner1[2] = {tagged_range(0, 30),
                                  tagged_array(1, 20, false)};
  rill_observable_t *inner2[2] = {gen_obs(&g), tagged_range(4, 10)};
  rill_observable_t *srcs[3] = {merge_of(inner1, 2, 2), tagged_range(2, 15),
                                merge_of(inner2, 2, 3)};
  rill_observable_t *m = merge_of(srcs, 3, 4);
  for (int d = 0; d < D_COUNT; d++) {
    gen_setup(&g, 3, 25);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    static const int64_t counts[5] = {30, 20, 15, 25, 10};
    assert_merged(&r, 5, counts);
    ck_assert_int_eq(r.max_depth, 1);
    ck_assert_rec_ok(&r);
    ck_assert_int_eq(g.finis, 1);
    rec_clear(&r);
  }
  rill_observable_free(m);
}
END_TEST

/* ---- errors
 * ---------------------------------------------------------------------*/

START_TEST(merge_first_error_cancels_the_other_sources) {
  for (int d = 0; d < D_COUNT; d++) {
    struct gen a, b, c;
    gen_setup(&a, 0, 50); /* finite: unbounded demand would run it forever */
    gen_setup(&b, 1, -1);
    gen_setup(&c, 2, -1);
    b.fail_at = 6;
    b.fail_code = RILL_EUSER;
    a.owned = c.owned = true;
    tl_owned_reset();
    rill_observable_t *srcs[3] = {gen_obs(&a), gen_obs(&b), gen_obs(&c)};
    rill_observable_t *m = merge_of(srcs, 3, 4);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_msg(r.terminal == REC_ERROR, "demand %d: terminal %d", d,
                  r.terminal);
    ck_assert_int_eq(r.terminals, 1);
    ck_assert_int_eq(r.err.code, RILL_EUSER);
    ck_assert_str_eq(r.err.stage, "generate");
    /* Every source ended, each exactly once. */
    ck_assert_int_eq(a.finis, a.inits);
    ck_assert_int_eq(b.finis, 1);
    ck_assert_int_eq(c.finis, c.inits);
    ck_assert_int_eq(b.calls, 7);
    /* b's values were delivered in order; at most the 6 before the error. */
    ck_assert_int_le(delivered_from(&r, 1), 6);
    /* The others were never pulled beyond their prefetch. */
    ck_assert_int_le(a.calls, delivered_from(&r, 0) + 4);
    ck_assert_int_le(c.calls, delivered_from(&r, 2) + 4);
    ck_assert_rec_ok(&r); /* nothing after the error (1.7) */
    rec_clear(&r);
    rill_observable_free(m);
    ck_assert_owned_balanced(); /* buffered values were released */
  }
}
END_TEST

START_TEST(merge_error_is_delivered_without_demand_ahead_of_buffers) {
  /* merge-010 (values then "#" at frame 0 -> "#"): with no demand the
   * range's values sit in the buffer; the error goes out at once and the
   * buffered values are dropped (released). */
  tl_owned_reset();
  struct gen a;
  gen_setup(&a, 0, -1);
  a.owned = true;
  rill_observable_t *srcs[3] = {tagged_array(1, 5, true), gen_obs(&a),
                                rill_error(RILL_ECANCELED, "late")};
  rill_observable_t *m = merge_of(srcs, 3, 8);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_int_eq(r.requested, 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_ECANCELED);
  ck_assert_str_eq(r.err.message, "late");
  ck_assert_str_eq(r.err.stage, "error");
  ck_assert_int_eq(a.inits, 1);
  ck_assert_int_le(a.calls, 8);
  ck_assert_int_eq(a.finis, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(m);
  ck_assert_owned_balanced();

  /* An error that comes later, from a top-up, also without demand left. */
  struct gen b;
  gen_setup(&a, 0, -1);
  gen_setup(&b, 1, -1);
  b.fail_at = 3;
  b.fail_code = -500;
  rill_observable_t *srcs2[2] = {gen_obs(&a), gen_obs(&b)};
  m = merge_of(srcs2, 2, 2);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  /* Nothing failed yet: b was asked for its 2 prefetched values only. */
  ck_assert_int_eq(r.terminal, REC_NONE);
  request_while_live(&r, 1, 100);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, -500);
  ck_assert_int_le(delivered_from(&r, 1), 3);
  ck_assert_int_eq(a.finis, 1);
  ck_assert_int_eq(b.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_source_failing_during_subscribe) {
  /* merge-009 (empty, throw) "#", merge-011 (never, throw) "#". */
  for (int k = 0; k < 2; k++) {
    rill_observable_t *srcs[2] = {k == 0 ? rill_empty() : rill_never(),
                                  rill_error(RILL_EUSER, "error")};
    rill_observable_t *m = merge_of(srcs, 2, 0);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EUSER);
    ck_assert_str_eq(r.err.message, "error");
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(m);
  }

  /* The error source first: the sources after it are not subscribed, or
   * if they are, they are cancelled (fini == init). */
  for (int d = 0; d < D_COUNT; d++) {
    struct gen g;
    gen_setup(&g, 2, -1);
    rill_observable_t *srcs[3] = {rill_error(RILL_EUSER, "first"),
                                  tagged_range(1, 5), gen_obs(&g)};
    rill_observable_t *m = merge_of(srcs, 3, 4);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_str_eq(r.err.message, "first");
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_int_eq(g.finis, g.inits);
    ck_assert_rec_ok(&r);
    rill_observable_free(m);
  }

  /* A synchronous source before the error: with unbounded demand its
   * values are out before the error source is even subscribed; with none
   * they are buffered and dropped. */
  for (int d = 0; d < 2; d++) {
    tl_owned_reset();
    struct gen g;
    gen_setup(&g, 2, -1);
    rill_observable_t *srcs[3] = {tagged_array(0, 3, true),
                                  rill_error(RILL_EUSER, "mid"), gen_obs(&g)};
    rill_observable_t *m = merge_of(srcs, 3, 4);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = d == 0 ? RILL_UNBOUNDED : 0;
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.nexts, d == 0 ? 3 : 0);
    ck_assert_int_eq(g.finis, g.inits);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(m);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(merge_error_after_values_like_hot_and_error) {
  /* merge-013 "--a--b-#": values of one source, then the other's error. */
  struct gen g;
  gen_setup(&g, 1, -1);
  g.fail_at = 0;
  g.fail_code = RILL_EUSER;
  rill_observable_t *srcs[2] = {tagged_array(0, 2, false), gen_obs(&g)};
  rill_observable_t *m = merge_of(srcs, 2, 0);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_uint_eq(r.values.len, 2);
  ck_assert_int_eq(rec_int(&r, 0), 0);
  ck_assert_int_eq(rec_int(&r, 1), 1);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

/* ---- cancel
 * ----------------------------------------------------------------------*/

START_TEST(merge_cancel_from_on_next_stops_everything_and_releases) {
  static const int64_t ks[] = {1, 2, 5, 40};
  for (int d = 0; d < D_COUNT; d++) {
    for (size_t k = 0; k < sizeof(ks) / sizeof(ks[0]); k++) {
      tl_owned_reset();
      struct gen g[3];
      rill_observable_t *srcs[4];
      for (int i = 0; i < 3; i++) {
        gen_setup(&g[i], i, i == 2 ? 10 : -1);
        g[i].owned = true;
        srcs[i] = gen_obs(&g[i]);
      }
      srcs[3] = tagged_array(3, 30, true);
      rill_observable_t *m = merge_of(srcs, 4, 8);
      rec_t r;
      rec_init(&r);
      demand_setup(&r, d);
      r.cancel_at = ks[k];
      r.cancel_times = 2;
      demand_drive(&r, m, d);
      ck_assert_msg(r.nexts == ks[k], "demand %d cancel at %lld: %lld values",
                    d, (long long)ks[k], (long long)r.nexts);
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_rec_ok(&r);
      for (int i = 0; i < 3; i++)
        ck_assert_msg(g[i].finis == g[i].inits,
                      "demand %d: source %d init %ld fini %ld", d, i,
                      g[i].inits, g[i].finis);
      /* What was left in the buffers is released: only the generated
       * values rec holds, and the from_array recipe's 30 (which its
       * subscription only shared), are still alive. */
      ck_assert_int_eq(tl_owned_made - tl_owned_released,
                       (long)(delivered_from(&r, 0) + delivered_from(&r, 1) +
                              delivered_from(&r, 2)) +
                           30);
      rec_clear(&r);
      rill_observable_free(m);
      ck_assert_owned_balanced();
    }
  }
}
END_TEST

START_TEST(merge_cancel_between_requests_releases_buffers) {
  /* merge-024: unsubscribe explicitly and early, here from outside. */
  tl_owned_reset();
  struct gen g[2];
  rill_observable_t *srcs[2];
  for (int i = 0; i < 2; i++) {
    gen_setup(&g[i], i, -1);
    g[i].owned = true;
    srcs[i] = gen_obs(&g[i]);
  }
  rill_observable_t *m = merge_of(srcs, 2, 16);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  rec_request(&r, 3);
  ck_assert_int_eq(r.nexts, 3);
  /* Both buffers hold values now. */
  ck_assert_int_gt(tl_owned_made - tl_owned_released, 3);
  rec_cancel(&r);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g[0].finis, 1);
  ck_assert_int_eq(g[1].finis, 1);
  ck_assert_int_eq(tl_owned_made - tl_owned_released, 3);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(merge_with_map_around_it_unsubscribes_early) {
  /* merge-025: e1.pipe(map, mergeWith(e2), map), unsubscribed early. */
  for (int d = 0; d < D_COUNT; d++) {
    struct gen g[2];
    for (int i = 0; i < 2; i++)
      gen_setup(&g[i], i, -1);
    rill_observable_t *srcs[2] = {rill_map(gen_obs(&g[0]), tl_double, NULL),
                                  gen_obs(&g[1])};
    rill_observable_t *m = rill_map(merge_of(srcs, 2, 4), tl_double, NULL);
    ck_assert_ptr_nonnull(m);
    rec_t r;
    rec_init(&r);
    demand_setup(&r, d);
    r.cancel_at = 4;
    demand_drive(&r, m, d);
    ck_assert_int_eq(r.nexts, 4);
    ck_assert_int_eq(r.terminal, REC_NONE);
    for (size_t i = 0; i < r.values.len; i++) {
      int64_t v = rec_int(&r, i);
      /* source 0 (0, 1, ...) went through two doublings, source 1
       * (TAG, TAG + 1, ...) through one. */
      if (v >= 2 * TAG)
        ck_assert(v % 2 == 0 && v / 2 - TAG < TAG);
      else
        ck_assert(v % 4 == 0);
    }
    ck_assert_int_eq(g[0].finis, g[0].inits);
    ck_assert_int_eq(g[1].finis, g[1].inits);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(m);
  }
}
END_TEST

/* ---- unbounded demand: the wired fast path
 * ---------------------------------------*/

START_TEST(merge_unbounded_gives_correct_totals) {
  int64_t n = tl_scaled(250000);
  struct gen g;
  gen_setup(&g, 4, n);
  rill_observable_t *srcs[5] = {tagged_range(0, n), tagged_range(1, n / 2),
                                tagged_range(2, 1), tagged_range(3, n),
                                gen_obs(&g)};
  rill_observable_t *m = merge_of(srcs, 5, 0);
  const int64_t counts[5] = {n, n / 2, 1, n, n};
  for (int d = 0; d < D_COUNT; d++) {
    if (d == D_OUTER_ONE || d == D_OUTER_SEVEN || d == D_ONE_IN_NEXT ||
        d == D_THREE_IN_NEXT)
      continue; /* bounded shapes are covered elsewhere */
    gen_setup(&g, 4, n);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.terminals, 1);
    assert_merged(&r, 5, counts);
    ck_assert_int_eq(r.max_depth, 1);
    ck_assert_int_eq(g.calls, n + 1);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  /* Through collect (an unbounded sink of its own). */
  gen_setup(&g, 4, n);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(m, &got, NULL), 0);
  ck_assert_uint_eq(got.len, (size_t)(3 * n + n / 2 + 1));
  int64_t sum = 0, want = 0;
  for (size_t i = 0; i < got.len; i++)
    sum += got.items[i].as.i;
  for (int id = 0; id < 5; id++)
    want += (int64_t)id * TAG * counts[id] + counts[id] * (counts[id] - 1) / 2;
  ck_assert_int_eq(sum, want);
  rill_values_clear(&got);
  ck_assert_int_eq(g.finis, 1);
  rill_observable_free(m);
}
END_TEST

static int keep_mod3(void *ctx, rill_value_t v) {
  (void)ctx;
  return val_of(v) % 3 == 0;
}

START_TEST(merge_followed_by_map_and_filter) {
  /* filter(map(merge(...))): the fused stage is merge's downstream, and
   * on the wired path the sources run its steps themselves. */
  int64_t n = tl_scaled(30000);
  struct gen g;
  rill_observable_t *srcs[3] = {tagged_range(0, n), tagged_range(1, n),
                                gen_obs(&g)};
  rill_observable_t *m = rill_filter(
      rill_map(merge_of(srcs, 3, 16), tl_double, NULL), keep_mod3, NULL);
  ck_assert_ptr_nonnull(m);
  int64_t expect[3] = {0, 0, 0};
  for (int id = 0; id < 3; id++)
    for (int64_t i = 0; i < n; i++)
      expect[id] += (2 * ((int64_t)id * TAG + i)) % 3 == 0;
  for (int d = 0; d < D_COUNT; d++) {
    gen_setup(&g, 2, n);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    int64_t count[3] = {0, 0, 0}, last[3] = {-1, -1, -1};
    for (size_t i = 0; i < r.values.len; i++) {
      int64_t w = val_of(r.values.items[i]);
      int64_t v = w / 2, id = v / TAG;
      /* doubled, a multiple of 3, from a source, in that source's order */
      if (w % 6 != 0 || id < 0 || id >= 3 || v <= last[id])
        ck_abort_msg("value %zu: %lld", i, (long long)w);
      last[id] = v;
      count[id]++;
    }
    for (int id = 0; id < 3; id++)
      ck_assert_int_eq(count[id], expect[id]);
    ck_assert_int_eq(r.max_depth, 1);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(m);
}
END_TEST

static int fail_at_value(void *ctx, rill_value_t v) {
  const int64_t *at = ctx;
  return val_of(v) == *at ? RILL_ECALLBACK : 1;
}

START_TEST(merge_followed_by_failing_filter_cancels_the_sources) {
  static const int64_t at = TAG + 20; /* the 21st value of source 1 */
  for (int d = 0; d < D_COUNT; d++) {
    struct gen g[3];
    rill_observable_t *srcs[3];
    tl_owned_reset();
    for (int i = 0; i < 3; i++) {
      gen_setup(&g[i], i, -1);
      g[i].owned = i != 1;
      srcs[i] = gen_obs(&g[i]);
    }
    rill_observable_t *m =
        rill_filter(merge_of(srcs, 3, 8), fail_at_value, (void *)&at);
    ck_assert_ptr_nonnull(m);
    rec_t r;
    rec_init(&r);
    demand_setup(&r, d);
    if (d == D_UNBOUNDED || d == D_LATE_UNBOUNDED || d == D_NEXT_UNBOUNDED) {
      /* Source 0 is infinite and, under unbounded demand, may run alone
       * forever: let it stop after a while by itself. */
      g[0].limit = 100;
    }
    demand_drive(&r, m, d);
    ck_assert_msg(r.terminal == REC_ERROR, "demand %d: terminal %d", d,
                  r.terminal);
    ck_assert_int_eq(r.err.code, RILL_ECALLBACK);
    ck_assert_str_eq(r.err.stage, "filter");
    ck_assert_int_eq(delivered_from(&r, 1), 20);
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(g[i].finis, g[i].inits);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(m);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(merge_inside_merge_unbounded_totals) {
  int64_t n = tl_scaled(50000);
  struct gen g;
  gen_setup(&g, 3, n);
  rill_observable_t *deep[2] = {tagged_range(4, n), tagged_range(5, 7)};
  rill_observable_t *inner1[2] = {tagged_range(0, n),
                                  tagged_array(1, 20, false)};
  rill_observable_t *inner2[3] = {gen_obs(&g), merge_of(deep, 2, 3),
                                  rill_empty()};
  rill_observable_t *srcs[3] = {merge_of(inner1, 2, 0), tagged_range(2, n),
                                merge_of(inner2, 3, 5)};
  rill_observable_t *m = merge_of(srcs, 3, 0);
  const int64_t counts[6] = {n, 20, n, n, n, 7};
  for (int d = 0; d < D_COUNT; d++) {
    gen_setup(&g, 3, n);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.terminals, 1);
    assert_merged(&r, 6, counts);
    ck_assert_int_eq(r.max_depth, 1);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_unbounded_cancel_in_kth_on_next) {
  /* Infinite sources under unbounded demand: the wired path must still
   * stop at once when on_next cancels. */
  static const int64_t ks[] = {1, 3, 1000};
  for (size_t k = 0; k < sizeof(ks) / sizeof(ks[0]); k++) {
    tl_owned_reset();
    struct gen g[3];
    rill_observable_t *srcs[3];
    for (int i = 0; i < 3; i++) {
      gen_setup(&g[i], i, -1);
      g[i].owned = true;
      srcs[i] = gen_obs(&g[i]);
    }
    rill_observable_t *m = merge_of(srcs, 3, 0);
    rec_t r;
    rec_init(&r);
    r.store = false;
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = ks[k];
    ck_assert_int_eq(rec_subscribe(&r, m), 0);
    ck_assert_int_eq(r.nexts, ks[k]);
    ck_assert_int_eq(r.terminal, REC_NONE);
    long calls = 0;
    for (int i = 0; i < 3; i++) {
      ck_assert_int_eq(g[i].finis, g[i].inits);
      calls += g[i].calls;
    }
    /* Nothing was produced and thrown away behind the cancel. */
    ck_assert_int_eq(calls, ks[k]);
    ck_assert_rec_ok(&r);
    rill_observable_free(m);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(merge_then_take_cancels_every_source) {
  for (int d = 0; d < D_COUNT; d++) {
    tl_owned_reset();
    struct gen g[2];
    rill_observable_t *srcs[2];
    for (int i = 0; i < 2; i++) {
      gen_setup(&g[i], i, -1);
      g[i].owned = true;
      srcs[i] = gen_obs(&g[i]);
    }
    rill_observable_t *m = rill_take(merge_of(srcs, 2, 4), 10);
    ck_assert_ptr_nonnull(m);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.nexts, 10);
    for (int i = 0; i < 2; i++)
      ck_assert_int_eq(g[i].finis, g[i].inits);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(m);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(merge_owned_values_balanced_on_completion) {
  for (int d = 0; d < D_COUNT; d++) {
    for (int store = 0; store < 2; store++) {
      tl_owned_reset();
      struct gen g;
      gen_setup(&g, 0, 50);
      g.owned = true;
      rill_observable_t *srcs[3] = {gen_obs(&g), tagged_array(1, 40, true),
                                    rill_just(1, tl_owned(2 * TAG))};
      rill_observable_t *m = merge_of(srcs, 3, 4);
      rec_t r;
      rec_init(&r);
      r.store = store != 0;
      demand_setup(&r, d);
      demand_drive(&r, m, d);
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 91);
      if (store) {
        const int64_t counts[3] = {50, 40, 1};
        assert_merged(&r, 3, counts);
      }
      ck_assert_rec_ok(&r);
      rec_clear(&r);
      rill_observable_free(m);
      ck_assert_owned_balanced();
    }
  }
}
END_TEST

START_TEST(merge_switches_to_unbounded_with_sources_still_open) {
  /* Bounded first, then unbounded while one source has completed and
   * another (never) stays open: the switch must skip the closed one and
   * completion must still wait for the open one. */
  struct gen g;
  gen_setup(&g, 2, 6);
  rill_observable_t *srcs[3] = {tagged_range(0, 3), rill_never(), gen_obs(&g)};
  rill_observable_t *m = merge_of(srcs, 3, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  rec_request(&r, 4);
  ck_assert_int_eq(r.nexts, 4);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.nexts, 9);
  const int64_t counts[3] = {3, 0, 6};
  assert_merged(&r, 3, counts);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_int_eq(r.terminal, REC_NONE); /* never is still open */
  rec_request(&r, 1);
  rec_cancel(&r);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_cancel_inside_on_subscribe_subscribes_nothing) {
  struct gen g;
  gen_setup(&g, 0, -1);
  rill_observable_t *srcs[2] = {gen_obs(&g), tagged_range(1, 5)};
  rill_observable_t *m = merge_of(srcs, 2, 4);
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(g.inits, g.finis);
  ck_assert_int_eq(g.calls, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_of_the_same_observable_twice) {
  /* Cold sources: each inner subscription runs the recipe anew. */
  struct gen g;
  gen_setup(&g, 0, 10);
  rill_observable_t *src = gen_obs(&g);
  rill_observable_t *srcs[3] = {src, rill_observable_ref(src),
                                rill_observable_ref(src)};
  rill_observable_t *m = merge_of(srcs, 3, 3);
  for (int d = 0; d < D_COUNT; d++) {
    gen_setup(&g, 0, 10);
    rec_t r;
    run_demand(&r, m, d);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_eq(r.nexts, 30);
    int seen[10] = {0};
    for (size_t i = 0; i < r.values.len; i++)
      seen[val_of(r.values.items[i])]++;
    for (int i = 0; i < 10; i++)
      ck_assert_int_eq(seen[i], 3);
    ck_assert_int_eq(g.inits, 3);
    ck_assert_int_eq(g.finis, 3);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(m);
}
END_TEST

START_TEST(merge_subscription_outlives_the_observable) {
  /* Rule 1 of rill.h: a running subscription keeps what it needs. */
  tl_owned_reset();
  rill_observable_t *srcs[2] = {tagged_array(0, 6, true), tagged_range(1, 6)};
  rill_observable_t *m = merge_of(srcs, 2, 2);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, m), 0);
  rec_request(&r, 3);
  rill_observable_free(m);
  request_while_live(&r, 2, 100);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  const int64_t counts[2] = {6, 6};
  assert_merged(&r, 2, counts);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- allocation failure
 * -------------------------------------------------------------*/

START_TEST(merge_subscribe_enomem_at_every_allocation_is_clean) {
  tl_alloc_install();
  for (int d = 0; d < 2; d++) {
    bool triggered = true;
    for (long fail = 0; triggered && fail < 500; fail++) {
      struct gen g;
      gen_setup(&g, 2, 5);
      rill_observable_t *inner[2] = {tagged_range(3, 4), rill_empty()};
      rill_observable_t *srcs[4] = {tagged_range(0, 6),
                                    tagged_array(1, 3, false), gen_obs(&g),
                                    rill_merge(inner, 2, 0, 2)};
      rill_observable_t *m = merge_of(srcs, 4, 2);
      tl_alloc_index = 0;
      tl_fail_at = fail;
      rec_t r;
      rec_init(&r);
      demand_setup(&r, d == 0 ? D_UNBOUNDED : D_ONE_IN_NEXT);
      int rc = rec_subscribe(&r, m);
      triggered = tl_alloc_index > fail;
      tl_fail_at = -1;
      if (rc == RILL_ENOMEM) {
        ck_assert_int_eq(r.subscribes, 0);
      } else {
        ck_assert_int_eq(rc, 0);
        if (triggered) {
          ck_assert_msg(r.terminal == REC_ERROR,
                        "fail at %ld: terminal %d after %lld values", fail,
                        r.terminal, (long long)r.nexts);
          ck_assert_int_eq(r.err.code, RILL_ENOMEM);
        } else {
          ck_assert_int_eq(r.terminal, REC_COMPLETE);
          const int64_t counts[4] = {6, 3, 5, 4};
          assert_merged(&r, 4, counts);
        }
      }
      ck_assert_int_eq(g.finis, g.inits);
      ck_assert_rec_ok(&r);
      rec_clear(&r);
      rill_observable_free(m);
      ck_assert_msg(tl_live == 0, "fail at %ld: %ld blocks leaked", fail,
                    tl_live);
    }
    ck_assert(!triggered);
  }
  tl_alloc_uninstall();
}
END_TEST

/* Issue 8 §3: with unbounded demand, merge wired its inners straight
 * downstream, so a value from A whose on_next made B push was delivered
 * inside A's on_next (rule 1.3).  Only pull-only inners are wired now, and
 * only while merge holds its drain bracket. */
struct two_pushers {
  rill_emitter_t *a, *b;
  int depth, max_depth, nexts;
  bool pushed;
};
static void tp_start_a(void *ctx, rill_emitter_t *e) {
  ((struct two_pushers *)ctx)->a = e;
}
static void tp_start_b(void *ctx, rill_emitter_t *e) {
  ((struct two_pushers *)ctx)->b = e;
}
static void tp_next(void *ctx, rill_value_t v) {
  struct two_pushers *t = ctx;
  rill_value_release(v);
  if (++t->depth > t->max_depth)
    t->max_depth = t->depth;
  t->nexts++;
  if (!t->pushed) {
    t->pushed = true;
    rill_emitter_next(t->b, rill_value_int(2)); /* B pushes from A's value */
    rill_emitter_next(t->b, rill_value_int(3));
  }
  t->depth--;
}

START_TEST(merge_never_nests_when_on_next_makes_another_source_push) {
  for (int mc = 0; mc < 2; mc++) {
    struct two_pushers t = {0};
    rill_observable_t *srcs[2] = {rill_create(tp_start_a, NULL, &t),
                                  rill_create(tp_start_b, NULL, &t)};
    rill_observable_t *m = rill_merge(srcs, 2, (size_t)mc * 2, 0);
    rill_subscriber_t sub = {.on_next = tp_next};
    rill_subscription_t *h;
    ck_assert_int_eq(rill_observable_consume(m, &sub, &t, RILL_UNBOUNDED, &h),
                     0);
    rill_emitter_next(t.a, rill_value_int(1));
    ck_assert_int_eq(t.nexts, 3);
    ck_assert_int_eq(t.max_depth, 1);
    rill_subscription_free(h);
    rill_observable_free(m);
  }
}
END_TEST

/* merge's concurrency limit: at most k sources subscribed at once, the next
 * as one completes (RxJS merge(..., concurrent)). */
struct live_probe {
  int live, max_live, subscribed;
};
static void lp_start(void *ctx, rill_emitter_t *e) {
  struct live_probe *p = ctx;
  p->subscribed++;
  if (++p->live > p->max_live)
    p->max_live = p->live;
  rill_emitter_next(e, rill_value_int(p->subscribed));
  p->live--;
  rill_emitter_complete(e);
}

START_TEST(merge_max_concurrency_limits_live_sources) {
  struct live_probe p = {0};
  rill_observable_t *srcs[6];
  for (int i = 0; i < 6; i++)
    srcs[i] = rill_create(lp_start, NULL, &p);
  rill_observable_t *m = rill_merge(srcs, 6, 2, 0);
  rill_values_t vals = {0};
  ck_assert_int_eq(rill_observable_collect(m, &vals, NULL), 0);
  ck_assert_uint_eq(vals.len, 6);
  ck_assert_int_eq(p.subscribed, 6);
  ck_assert_int_le(p.max_live, 2);
  for (size_t i = 0; i < vals.len; i++) /* one after another, in order */
    ck_assert_int_eq(vals.items[i].as.i, (int64_t)i + 1);
  rill_values_clear(&vals);
  rill_observable_free(m);
}
END_TEST

Suite *merge_suite(void) {
  Suite *s = suite_create("merge");
  TCase *tc = tcase_create("values");
  tcase_add_test(tc, merge_emits_every_value_and_completes_once);
  tcase_add_test(tc, merge_single_array_source);
  tcase_add_test(
      tc, merge_unbounded_interleaves_cold_sources_in_subscription_order);
  tcase_add_test(tc, merge_completes_only_after_every_source_and_buffer);
  tcase_add_test(tc, merge_of_zero_sources_completes_without_request);
  tcase_add_test(tc, merge_of_empties_completes_without_request);
  tcase_add_test(tc, merge_of_never_and_empty_or_never_signals_nothing);
  tcase_add_test(tc, merge_rejects_null_sources_and_releases_the_others);
  suite_add_tcase(s, tc);

  tc = tcase_create("demand");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, merge_never_emits_beyond_demand_on_many_sources);
  tcase_add_test(tc, merge_prefetch_bounds_what_each_source_is_asked_for);
  tcase_add_test(
      tc, merge_prefetch_four_request_one_calls_each_source_at_most_four);
  tcase_add_test(tc, merge_default_prefetch_asks_each_source_for_128);
  tcase_add_test(tc, merge_nested_in_merge_under_every_demand_shape);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, merge_first_error_cancels_the_other_sources);
  tcase_add_test(tc, merge_error_is_delivered_without_demand_ahead_of_buffers);
  tcase_add_test(tc, merge_source_failing_during_subscribe);
  tcase_add_test(tc, merge_error_after_values_like_hot_and_error);
  suite_add_tcase(s, tc);

  tc = tcase_create("cancel");
  tcase_add_test(tc, merge_cancel_from_on_next_stops_everything_and_releases);
  tcase_add_test(tc, merge_cancel_between_requests_releases_buffers);
  tcase_add_test(tc, merge_with_map_around_it_unsubscribes_early);
  suite_add_tcase(s, tc);

  tc = tcase_create("unbounded");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, merge_unbounded_gives_correct_totals);
  tcase_add_test(tc, merge_followed_by_map_and_filter);
  tcase_add_test(tc, merge_followed_by_failing_filter_cancels_the_sources);
  tcase_add_test(tc, merge_inside_merge_unbounded_totals);
  tcase_add_test(tc, merge_unbounded_cancel_in_kth_on_next);
  tcase_add_test(tc, merge_then_take_cancels_every_source);
  tcase_add_test(tc, merge_owned_values_balanced_on_completion);
  tcase_add_test(tc, merge_switches_to_unbounded_with_sources_still_open);
  tcase_add_test(tc, merge_cancel_inside_on_subscribe_subscribes_nothing);
  tcase_add_test(tc, merge_of_the_same_observable_twice);
  tcase_add_test(tc, merge_subscription_outlives_the_observable);
  tcase_add_test(tc, merge_never_nests_when_on_next_makes_another_source_push);
  tcase_add_test(tc, merge_max_concurrency_limits_live_sources);
  suite_add_tcase(s, tc);

  tc = tcase_create("enomem");
  tcase_add_test(tc, merge_subscribe_enomem_at_every_allocation_is_clean);
  suite_add_tcase(s, tc);
  return s;
}
