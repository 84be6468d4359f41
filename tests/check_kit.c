/* SPDX-License-Identifier: MIT */
/* rill tests: the operator kit's blocks on their own (src/kit/): ring,
 * drain, demand, inner (and the synchronous fusion it offers).  These are
 * internal interfaces, so the test includes the internal headers (the library
 * is linked statically into nothing here: the kit's functions are hidden in the
 * shared library, so this suite compiles the kit's sources into itself). */
#include <stdlib.h>

#include "check_rill.h"
#include "kit/kit.h"
#include "testlib.h"

/* ---- ring
 * -------------------------------------------------------------------*/

START_TEST(ring_is_fifo_grows_to_its_bound_and_refuses_more) {
  tl_owned_reset();
  struct rill__ring r;
  rill__ring_init(&r, 10);
  ck_assert(rill__ring_empty(&r));
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(rill__ring_push(&r, tl_owned(i)), 0);
  ck_assert_uint_eq(rill__ring_len(&r), 10);
  ck_assert_int_eq(rill__ring_push(&r, tl_owned(10)), RILL_EOVERFLOW);
  ck_assert_int_eq(tl_owned_released, 1); /* the refused value */
  for (int i = 0; i < 4; i++) {
    rill_value_t v = rill__ring_pop(&r);
    ck_assert_int_eq(tl_owned_int(v), i);
    rill_value_release(v);
  }
  /* wrap around the storage */
  for (int i = 11; i < 15; i++)
    ck_assert_int_eq(rill__ring_push(&r, tl_owned(i)), 0);
  int want[] = {4, 5, 6, 7, 8, 9, 11, 12, 13, 14};
  for (int i = 0; i < 10; i++) {
    rill_value_t v = rill__ring_pop(&r);
    ck_assert_int_eq(tl_owned_int(v), want[i]);
    rill_value_release(v);
  }
  ck_assert(rill__ring_empty(&r));
  rill__ring_clear(&r);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(ring_clear_releases_each_value_once) {
  tl_owned_reset();
  struct rill__ring r;
  rill__ring_init(&r, 100);
  for (int i = 0; i < 37; i++)
    rill__ring_push(&r, tl_owned(i));
  rill__ring_clear(&r);
  ck_assert_int_eq(tl_owned_made, 37);
  ck_assert_owned_balanced();
  /* usable again after clear */
  ck_assert_int_eq(rill__ring_push(&r, tl_owned(1)), 0);
  rill__ring_clear(&r);
  rill__ring_clear(&r); /* twice: nothing left to release */
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(ring_growth_failure_is_enomem_and_releases_the_value) {
  tl_owned_reset();
  struct rill__ring r;
  rill__ring_init(&r, 64);
  rill_value_t v = tl_owned(1);
  tl_alloc_install();
  tl_fail_at = 0; /* the first growth fails */
  int rc = rill__ring_push(&r, v);
  tl_alloc_uninstall();
  ck_assert_int_eq(rc, RILL_ENOMEM);
  ck_assert_owned_balanced();
  /* reserve grows ahead of time, so pushes up to it cannot fail */
  ck_assert_int_eq(rill__ring_reserve(&r, 20), 0);
  rill_value_t vals[20];
  for (int i = 0; i < 20; i++)
    vals[i] = tl_owned(i);
  tl_alloc_install();
  tl_fail_at = 0; /* any allocation would fail now */
  for (int i = 0; i < 20; i++)
    ck_assert_int_eq(rill__ring_push(&r, vals[i]), 0);
  ck_assert_int_eq(tl_alloc_index, 0); /* none was tried */
  tl_alloc_uninstall();
  rill__ring_clear(&r);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- drain
 * --------------------------------------------------------------------*/

/* A scripted loop: each pass emits what is queued; an emission may make
 * new work arrive (as on_next calling request or pushing). */
struct script {
  struct rill__drain drain;
  int queued;
  int passes;
  int depth, max_depth;
  int reentries; /* work to add from inside the next emissions */
  int emitted;
};

static void script_drain(struct script *s);

static void script_emit(struct script *s) {
  s->depth++;
  if (s->depth > s->max_depth)
    s->max_depth = s->depth;
  s->emitted++;
  if (s->reentries > 0) {
    s->reentries--;
    s->queued++;     /* new work arrives... */
    script_drain(s); /* ...and its signal calls drain, re-entrantly */
  }
  s->depth--;
}

static void script_drain(struct script *s) {
  if (!rill__drain_enter(&s->drain))
    return;
  do {
    s->passes++;
    while (s->queued > 0) {
      s->queued--;
      script_emit(s);
    }
  } while (rill__drain_again(&s->drain));
}

START_TEST(drain_never_nests_and_serves_missed_work) {
  struct script s = {.queued = 3, .reentries = 1000};
  script_drain(&s);
  ck_assert_int_eq(s.emitted, 1003);
  ck_assert_int_eq(s.max_depth, 1); /* no emission inside another */
  ck_assert_int_eq(s.drain.wip, 0);
  ck_assert(!rill__drain_running(&s.drain));
  /* Work that arrives after the inner loop finished its queue but
   * before the bracket is left is not lost: it counts as missed. */
  struct script t = {0};
  ck_assert(rill__drain_enter(&t.drain));
  ck_assert(!rill__drain_enter(&t.drain)); /* a signal meanwhile */
  ck_assert(rill__drain_again(&t.drain));  /* run once more */
  ck_assert(!rill__drain_again(&t.drain)); /* then leave */
  ck_assert(!rill__drain_running(&t.drain));
}
END_TEST

/* ---- demand
 * -------------------------------------------------------------------*/

static int drop_odd(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i % 2 == 0;
}

static int64_t seen_demand;
static int64_t *watched;
static void next_records_demand(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  seen_demand = *watched; /* what the producer has left, seen from on_next */
}

START_TEST(demand_saturates_counts_and_gives_back_dropped_values) {
  int64_t r = 0;
  rill__demand_more(&r, 5);
  rill__demand_produced(&r, 2);
  ck_assert_int_eq(r, 3);
  rill__demand_more(&r, RILL_UNBOUNDED - 1);
  ck_assert_int_eq(r, RILL_UNBOUNDED);
  rill__demand_produced(&r, 7);
  ck_assert_int_eq(r, RILL_UNBOUNDED); /* unbounded never decreases */
  /* emit and account, from a stage to a node with a fused filter step */
  struct rill__node down;
  rill__node_init(&down, NULL, next_records_demand);
  struct rill__step filter = {.kind = RILL__STEP_FILTER, .fn.pred = drop_odd};
  down.steps = &filter;
  down.steps_owner = &down; /* a fused node owns its steps */
  down.nsteps = 1;
  struct rill__op op;
  memset(&op, 0, sizeof(op));
  op.down = &down;
  int64_t d = 2;
  watched = &d;
  ck_assert(rill__demand_emit(&op, &d, rill_value_int(2)));
  ck_assert_int_eq(seen_demand, 1); /* taken before on_next ran */
  ck_assert_int_eq(d, 1);
  ck_assert(!rill__demand_emit(&op, &d, rill_value_int(3)));
  ck_assert_int_eq(d, 1); /* dropped: given back */
  /* dropped after a request made the demand unbounded: not overflowed */
  d = RILL_UNBOUNDED;
  ck_assert(!rill__demand_emit(&op, &d, rill_value_int(5)));
  ck_assert_int_eq(d, RILL_UNBOUNDED);
}
END_TEST

/* ---- inner
 * ----------------------------------------------------------------------*/

struct owner {
  int nexts, ends;
  bool errored;
  rill_values_t got;
};

static void owner_next(struct rill__inner *in, rill_value_t v) {
  struct owner *o = in->owner;
  o->nexts++;
  rill__ring_push(&in->queue, v); /* the owner queues, then drains */
}

static void owner_end(struct rill__inner *in, const rill_error_t *err) {
  struct owner *o = in->owner;
  o->ends++;
  o->errored = err != NULL;
}

static const struct rill__inner_ops owner_ops = {.on_next = owner_next,
                                                 .on_end = owner_end};

/* A source that records the demand it receives. */
struct probe {
  rill_emitter_t *e;
  int64_t requested;
  bool cancelled;
};
static void probe_start(void *ctx, rill_emitter_t *e) {
  ((struct probe *)ctx)->e = e;
}
static void probe_end(void *ctx, rill_emitter_t *e) {
  (void)e;
  ((struct probe *)ctx)->cancelled = true;
}

START_TEST(inner_prefetches_refills_by_half_and_cancel_releases) {
  tl_owned_reset();
  struct probe p = {0};
  rill_observable_t *src = rill_create(probe_start, probe_end, &p);
  struct owner o = {0};
  rill__enter();
  struct rill__inner *in = rill__inner_new(&owner_ops, &o, 8);
  ck_assert_ptr_nonnull(in);
  rill__inner_subscribe(in, src);
  ck_assert_ptr_nonnull(p.e);
  ck_assert_int_eq(rill_emitter_demand(p.e), 8); /* prefetch */
  for (int i = 0; i < 8; i++)
    rill_emitter_next(p.e, tl_owned(i));
  ck_assert_int_eq(o.nexts, 8);
  ck_assert_int_eq(rill_emitter_demand(p.e), 0);
  /* the owner hands 3 downstream: not yet half */
  for (int i = 0; i < 3; i++) {
    rill_value_release(rill__ring_pop(&in->queue));
    rill__inner_consumed(in, 1);
  }
  ck_assert_int_eq(rill_emitter_demand(p.e), 0);
  rill_value_release(rill__ring_pop(&in->queue));
  rill__inner_consumed(in, 1); /* the fourth: half of 8, refill 4 */
  ck_assert_int_eq(rill_emitter_demand(p.e), 4);
  /* cancel: upstream sees it, queued values are released */
  rill__inner_release(in);
  ck_assert(p.cancelled);
  ck_assert_int_eq(o.ends, 0); /* a cancel is not an end signal */
  rill__leave();
  rill_observable_free(src);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(inner_reports_complete_and_error_once) {
  struct owner o = {0};
  rill__enter();
  struct rill__inner *in = rill__inner_new(&owner_ops, &o, RILL_UNBOUNDED);
  rill_observable_t *src = rill_range(0, 5);
  rill__inner_subscribe(in, src);
  ck_assert_int_eq(o.nexts, 5);
  ck_assert_int_eq(o.ends, 1);
  ck_assert(!o.errored);
  ck_assert(in->done);
  rill__inner_release(in);
  rill_observable_free(src);
  in = rill__inner_new(&owner_ops, &o, 4);
  src = rill_error(RILL_EUSER, "boom");
  rill__inner_subscribe(in, src);
  ck_assert_int_eq(o.ends, 2);
  ck_assert(o.errored);
  rill__inner_release(in);
  rill__leave();
  rill_observable_free(src);
}
END_TEST

/* ---- synchronous fusion (core/node.h) through an inner ---------------------
 * An owner whose on_upstream asks for fusion: a pollable source (range,
 * from_array, generate, map/filter over them) is then polled, never asked
 * and never signalling; any other source works as before. */
static bool fuse_answer;
static void owner_fuse(struct rill__inner *in) {
  fuse_answer = rill__inner_fuse(in);
}
static const struct rill__inner_ops fusing_ops = {
    .on_next = owner_next, .on_end = owner_end, .on_upstream = owner_fuse};

struct kgen {
  int64_t n, next;
  int fail_at;
  int finis;
};
static int kgen_next(void *state, rill_value_t *out) {
  struct kgen *g = state;
  if (g->next == g->fail_at)
    return RILL_EAPP_BASE - 1;
  if (g->next == g->n)
    return 0;
  *out = tl_owned(g->next++);
  return 1;
}
static void kgen_fini(void *state) {
  ((struct kgen *)state)->finis++;
}

START_TEST(inner_polls_a_fusable_source_in_columns_and_learns_its_end) {
  tl_owned_reset();
  struct owner o = {0};
  rill_value_t buf[32];
  size_t n = 0;
  rill_error_t err;
  rill__enter();
  /* range: batches, then the rest with the end */
  struct rill__inner *in = rill__inner_new(&fusing_ops, &o, 8);
  rill_observable_t *src = rill_range(0, 10);
  rill__inner_subscribe(in, src);
  ck_assert(fuse_answer && in->polled);
  ck_assert_int_eq(o.nexts + o.ends, 0);
  ck_assert_int_eq(rill__inner_poll(in, buf, 1, 4, &n, &err), 1);
  ck_assert_uint_eq(n, 4);
  ck_assert_int_eq(buf[3].as.i, 3);
  ck_assert_int_eq(rill__inner_poll(in, buf, 2, 16, &n, &err), 0);
  ck_assert_uint_eq(n, 6); /* at buf[0], buf[2], ... */
  ck_assert_int_eq(buf[10].as.i, 9);
  ck_assert(in->done && in->up == NULL);
  ck_assert_int_eq(o.nexts + o.ends, 0);
  rill__inner_release(in);
  rill_observable_free(src);
  /* from_array of owned values: an exact batch tells the end too */
  rill_value_t v[3] = {tl_owned(1), tl_owned(2), tl_owned(3)};
  src = rill_from_array(v, 3);
  in = rill__inner_new(&fusing_ops, &o, 8);
  rill__inner_subscribe(in, src);
  ck_assert(in->polled);
  ck_assert_int_eq(rill__inner_poll(in, buf, 1, 3, &n, &err), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_int_eq(tl_owned_int(buf[2]), 3);
  for (size_t i = 0; i < n; i++)
    rill_value_release(buf[i]);
  rill__inner_release(in);
  rill_observable_free(src);
  /* a generator failing after 2 values, under a map and a filter */
  struct kgen g = {.n = 10, .fail_at = 2};
  src = rill_filter(
      rill_map(rill_generate(NULL, kgen_next, kgen_fini, &g), tl_double, NULL),
      tl_is_even, NULL);
  in = rill__inner_new(&fusing_ops, &o, 8);
  rill__inner_subscribe(in, src);
  ck_assert(in->polled);
  int rc = rill__inner_poll(in, buf, 1, 8, &n, &err);
  ck_assert_int_eq(rc, RILL_EAPP_BASE - 1);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(err.stage, "generate");
  ck_assert(in->done);
  for (size_t i = 0; i < n; i++)
    rill_value_release(buf[i]);
  rill__inner_release(in);
  rill_observable_free(src);
  /* cancelled before its end: the generator's state goes */
  struct kgen h = {.n = 10, .fail_at = -1};
  src = rill_generate(NULL, kgen_next, kgen_fini, &h);
  in = rill__inner_new(&fusing_ops, &o, 8);
  rill__inner_subscribe(in, src);
  ck_assert_int_eq(rill__inner_poll(in, buf, 1, 1, &n, &err), 1);
  rill_value_release(buf[0]);
  rill__inner_release(in);
  rill__leave();
  rill_observable_free(src);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_int_eq(h.finis, 1);
  ck_assert_int_eq(h.next, 1); /* nothing polled ahead */
  /* a source that cannot be polled: prefetch and signals as before */
  struct probe p = {0};
  src = rill_create(probe_start, probe_end, &p);
  rill__enter();
  in = rill__inner_new(&fusing_ops, &o, 8);
  rill__inner_subscribe(in, src);
  ck_assert(!fuse_answer && !in->polled);
  ck_assert_int_eq(rill_emitter_demand(p.e), 8);
  rill__inner_release(in);
  rill__leave();
  rill_observable_free(src);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- arbiter (through concat, its plainest user)
 * ---------------------------*/

struct switched {
  rill_emitter_t *e;
  int64_t asked; /* the demand this source was given when it started */
};
static void switched_start(void *ctx, rill_emitter_t *e) {
  struct switched *s = ctx;
  s->e = e;
}

START_TEST(arbiter_carries_owed_demand_over_a_switch) {
  struct switched a = {0}, b = {0};
  rill_observable_t *srcs[2] = {rill_create(switched_start, NULL, &a),
                                rill_create(switched_start, NULL, &b)};
  rill_observable_t *o = rill_concat(srcs, 2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 5;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_emitter_demand(a.e), 5);
  rill_emitter_next(a.e, rill_value_int(1));
  rill_emitter_next(a.e, rill_value_int(2));
  rill_emitter_complete(a.e); /* switch: 3 are still owed */
  ck_assert_ptr_nonnull(b.e);
  ck_assert_int_eq(rill_emitter_demand(b.e), 3); /* not lost, not doubled */
  rec_request(&r, 2); /* later requests go to the new source */
  ck_assert_int_eq(rill_emitter_demand(b.e), 5);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(arbiter_switches_synchronous_sources_on_a_flat_stack) {
  size_t n = (size_t)tl_scaled(1000000);
  rill_observable_t **srcs = malloc(n * sizeof(*srcs));
  ck_assert_ptr_nonnull(srcs);
  rill_observable_t *e = rill_empty();
  for (size_t i = 0; i + 1 < n; i++)
    srcs[i] = rill_observable_ref(e);
  srcs[n - 1] = rill_just(1, rill_value_int(7));
  rill_observable_free(e); /* the n - 1 references in srcs remain */
  rill_observable_t *o = rill_concat(srcs, n);
  free(srcs);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0); /* would overflow if nested */
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

Suite *kit_suite(void) {
  Suite *s = suite_create("kit");
  TCase *tc = tcase_create("ring");
  tcase_add_test(tc, ring_is_fifo_grows_to_its_bound_and_refuses_more);
  tcase_add_test(tc, ring_clear_releases_each_value_once);
  tcase_add_test(tc, ring_growth_failure_is_enomem_and_releases_the_value);
  suite_add_tcase(s, tc);
  tc = tcase_create("drain");
  tcase_add_test(tc, drain_never_nests_and_serves_missed_work);
  suite_add_tcase(s, tc);
  tc = tcase_create("demand");
  tcase_add_test(tc, demand_saturates_counts_and_gives_back_dropped_values);
  suite_add_tcase(s, tc);
  tc = tcase_create("arbiter");
  tcase_add_test(tc, arbiter_carries_owed_demand_over_a_switch);
  tcase_add_test(tc, arbiter_switches_synchronous_sources_on_a_flat_stack);
  suite_add_tcase(s, tc);
  tc = tcase_create("inner");
  tcase_add_test(tc, inner_prefetches_refills_by_half_and_cancel_releases);
  tcase_add_test(tc, inner_reports_complete_and_error_once);
  tcase_add_test(tc,
                 inner_polls_a_fusable_source_in_columns_and_learns_its_end);
  suite_add_tcase(s, tc);
  return s;
}
