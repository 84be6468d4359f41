/* SPDX-License-Identifier: MIT */
/* rill tests: combining sources -- zip, combine_latest, with_latest_from.
 *
 * What the three operator files promise, checked on the virtual clock at
 * exact times (tests/marble.h) and on synchronous sources:
 *   zip              rows at the time of their last value; each source
 *                    asked for 128 values and refilled by halves, never
 *                    more; never an output without demand; completion as
 *                    soon as a completed source's queue is empty (with or
 *                    without demand), the others cancelled then; n == 0
 *                    completes at once; zip(range, range) runs (flat
 *                    stack) and allocates nothing per output.  Polled
 *                    sources (synchronous fusion: range, from_array,
 *                    just, generate, map/filter over them): polled one
 *                    row ahead of demand at most, alone or beside queued
 *                    sources; a polled failure after its rows; cancels
 *                    and requests from inside fn, on_next and a poll.
 *   combine_latest   a combination per value once every source has one;
 *                    one value in flight per source, a combination due
 *                    without demand is held and coalesced (latest wins);
 *                    completion when every source has completed (RxJS 7:
 *                    also when one completed without a value).
 *   with_latest_from the others first, asked for everything; src's values
 *                    before every other has one are dropped, and src is
 *                    asked for one more each time.
 * For each: an error (a source's, or the function's) cancels the other
 * sources at that instant (the "spy" below logs when a source's
 * subscription ended and how); cancel from inside the function and from
 * inside on_next; owned values released exactly once on every path,
 * including values held in queues or as the latest when a sibling fails;
 * NULL arguments.  The battery (check_battery.c) and the ENOMEM sweeps
 * (check_enomem.c) cover the protocol and allocation failures. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* ---- the spy: a source whose subscription is logged ---------------------
 *
 * spy(s, inner) relays `inner` (taken over) through rill_create_with and
 * records when the relayed subscription started and ended (virtual time,
 * and a global sequence number for order), how it ended (completed,
 * failed, or cancelled by its subscriber) and the demand it was given. */

enum {
  SPY_LIVE = 0,
  SPY_COMPLETED = 'C',
  SPY_FAILED = 'E',
  SPY_CANCELLED = 'X'
};

struct spy {
  rill_sched_t *s;
  rill_observable_t *inner;
  rill_emitter_t *e;
  rill_subscription_t *sub;
  int starts, ends;
  int seq_start; /* order of the start among all spies */
  double t_start, t_end;
  int how;
  int64_t requested; /* saturating */
};

#define MAX_SPIES 8
static struct spy spies[MAX_SPIES];
static int nspies, spy_seq;

static double spy_now(const struct spy *sp) {
  return sp->s != NULL ? rill_sched_now(sp->s) : 0;
}

static void spy_in_subscribe(void *ctx, rill_subscription_t *s) {
  struct spy *sp = ctx;
  sp->sub = s;
}
static void spy_in_next(void *ctx, rill_value_t v) {
  struct spy *sp = ctx;
  if (sp->e == NULL) {
    rill_value_release(v);
    return;
  }
  rill_emitter_next(sp->e, v);
}
static void spy_in_error(void *ctx, const rill_error_t *err) {
  struct spy *sp = ctx;
  sp->how = SPY_FAILED;
  if (sp->e != NULL)
    rill_emitter_error(sp->e, err->code, err->message);
}
static void spy_in_complete(void *ctx) {
  struct spy *sp = ctx;
  sp->how = SPY_COMPLETED;
  if (sp->e != NULL)
    rill_emitter_complete(sp->e);
}
static const rill_subscriber_t spy_in_sub = {
    .on_subscribe = spy_in_subscribe,
    .on_next = spy_in_next,
    .on_error = spy_in_error,
    .on_complete = spy_in_complete,
};

static void spy_start(void *ctx, rill_emitter_t *e) {
  struct spy *sp = ctx;
  sp->e = e;
  sp->starts++;
  sp->seq_start = ++spy_seq;
  sp->t_start = spy_now(sp);
  rill_subscription_t *h = NULL;
  ck_assert_int_eq(rill_observable_subscribe(sp->inner, &spy_in_sub, sp, &h),
                   0);
  sp->sub = h;
}

static void spy_request(void *ctx, rill_emitter_t *e, int64_t n) {
  struct spy *sp = ctx;
  (void)e;
  sp->requested =
      sp->requested > RILL_UNBOUNDED - n ? RILL_UNBOUNDED : sp->requested + n;
  if (sp->sub != NULL)
    rill_subscription_request(sp->sub, n);
}

static void spy_end(void *ctx, rill_emitter_t *e) {
  struct spy *sp = ctx;
  (void)e;
  sp->ends++;
  sp->t_end = spy_now(sp);
  if (sp->how == SPY_LIVE)
    sp->how = SPY_CANCELLED;
  sp->e = NULL;
  rill_subscription_t *h = sp->sub;
  sp->sub = NULL;
  rill_subscription_free(h); /* cancels the relayed one if still live */
}

static void spy_free_inner(void *ctx) {
  struct spy *sp = ctx;
  rill_observable_free(sp->inner);
  sp->inner = NULL;
}

static rill_observable_t *spy(rill_sched_t *s, rill_observable_t *inner,
                              struct spy **out) {
  ck_assert_int_lt(nspies, MAX_SPIES);
  ck_assert_ptr_nonnull(inner);
  struct spy *sp = &spies[nspies++];
  memset(sp, 0, sizeof(*sp));
  sp->s = s;
  sp->inner = inner;
  *out = sp;
  rill_create_opts_t opts = {.on_request = spy_request,
                             .ctx_free = spy_free_inner};
  return rill_create_with(spy_start, spy_end, sp, &opts);
}

static void spies_reset(void) {
  memset(spies, 0, sizeof(spies));
  nspies = 0;
  spy_seq = 0;
}

#define ck_assert_spy(sp, want_how, want_end)                                  \
  do {                                                                         \
    ck_assert_msg((sp)->starts == 1 && (sp)->ends == 1,                        \
                  "spy: %d starts, %d ends", (sp)->starts, (sp)->ends);        \
    ck_assert_msg((sp)->how == (want_how), "spy: ended '%c', want '%c'",       \
                  (sp)->how ? (sp)->how : '-', (want_how));                    \
    ck_assert_msg((sp)->t_end == (want_end), "spy: ended at %g, want %g",      \
                  (sp)->t_end, (double)(want_end));                            \
  } while (0)

/* ---- combining functions ------------------------------------------------*/

static int64_t ival(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

/* The decimal digits of the inputs, in order: (1, 4) -> 14. */
struct fnctl {
  long calls;
  long fail_at;   /* this call (1-based) fails */
  int fail_code;  /* ... with this code */
  long cancel_at; /* this call cancels the subscriber's handle */
  rec_t *rec;
  long released_seen[16]; /* tl_owned_released at each call */
  bool owned_out;         /* make an owned output */
};
static struct fnctl fc;

static void fc_reset(void) {
  memset(&fc, 0, sizeof(fc));
}

static int fn_digits(void *ctx, const rill_value_t *v, size_t n,
                     rill_value_t *out) {
  struct fnctl *c = ctx ? ctx : &fc;
  long k = ++c->calls;
  if (k <= 16)
    c->released_seen[k - 1] = tl_owned_released;
  if (k == c->cancel_at && c->rec != NULL) {
    rill_subscription_cancel(c->rec->s);
    rill_subscription_cancel(c->rec->s);
    c->rec->cancelled = true;
  }
  if (k == c->fail_at)
    return c->fail_code;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 10 + ival(v[i]);
  *out = c->owned_out ? tl_owned(x) : rill_value_int(x);
  return 0;
}

static int fn_sum(void *ctx, const rill_value_t *v, size_t n,
                  rill_value_t *out) {
  (void)ctx;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++)
    x += v[i].as.i;
  *out = rill_value_int(x);
  return 0;
}

/* The first input, kept (the battery's shape). */
static int fn_first(void *ctx, const rill_value_t *v, size_t n,
                    rill_value_t *out) {
  (void)ctx;
  (void)n;
  *out = rill_value_retain(v[0]);
  return 0;
}

/* x[0..n) as owned values made afresh for each subscription (a generator),
 * so that tl_owned_released counts what the pipeline released. */
struct owned_list {
  const int64_t *x;
  size_t n, next;
};
static struct owned_list owned_lists[16];
static int nowned_lists;

static int ol_init(void *ctx, void **state) {
  struct owned_list *l = malloc(sizeof(*l));
  ck_assert_ptr_nonnull(l);
  *l = *(const struct owned_list *)ctx;
  *state = l;
  return 0;
}
static int ol_next(void *state, rill_value_t *out) {
  struct owned_list *l = state;
  if (l->next == l->n)
    return 0;
  *out = tl_owned(l->x[l->next++]);
  return 1;
}
static void ol_fini(void *state) {
  free(state);
}

static rill_observable_t *owned_array(const int64_t *x, size_t n) {
  struct owned_list *l = &owned_lists[nowned_lists++ % 16];
  l->x = x;
  l->n = n;
  l->next = 0;
  return rill_generate(ol_init, ol_next, ol_fini, l);
}

/* ---- zip ------------------------------------------------------------------*/

START_TEST(zip_rows_go_out_at_the_time_of_their_last_value) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  fc_reset();
  struct spy *a, *b;
  rill_observable_t *src[2] = {spy(s, marble_cold(s, "-1-2-3-|"), &a),
                               spy(s, marble_cold(s, "--4--5--6--7|"), &b)};
  rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
  /* a completes at 7 with 3 still queued: the stream goes on until that
   * value has gone out with b's 6, then completes at once, b cancelled */
  ck_assert_marble(s, z, 0, "--{14}--{25}--({36}|)");
  ck_assert_spy(a, SPY_COMPLETED, 7);
  ck_assert_spy(b, SPY_CANCELLED, 8);
  ck_assert(a->t_start == 0 && b->t_start == 0 && a->seq_start < b->seq_start);
  rill_observable_free(z);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* RxJS zip-002, with digits. */
START_TEST(zip_ends_once_a_completed_source_has_nothing_queued) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *e1, *e2, *e3;
  rill_observable_t *src[3] = {
      spy(s, marble_cold(s, "---1--2--3--|"), &e1),
      spy(s, marble_cold(s, "------4----5----6--------|"), &e2),
      spy(s, marble_cold(s, "--------7----8----9---------"), &e3)};
  rill_observable_t *z = rill_zip(src, 3, fn_digits, NULL);
  ck_assert_marble(s, z, 0, "<8>{147}<13>{258}<18>({369}|)");
  ck_assert_spy(e1, SPY_COMPLETED, 12);
  ck_assert_spy(e2, SPY_CANCELLED, 18);
  ck_assert_spy(e3, SPY_CANCELLED, 18);
  rill_observable_free(z);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(zip_without_function_emits_arrays_of_the_values) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *src[2] = {marble_cold(s, "-1-2|"),
                               marble_cold(s, "--3-4-5|")};
  rill_observable_t *z = rill_zip(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(rill_sched_run(s, 1000), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.values.len, 2);
  for (size_t i = 0; i < 2; i++) {
    rill_value_t v = r.values.items[i];
    ck_assert_int_eq(v.kind, RILL_KIND_ARRAY);
    ck_assert_int_eq(rill_array_len(v.as.array), 2);
    ck_assert_int_eq(rill_array_at(v.as.array, 0).as.i, (int64_t)i + 1);
    ck_assert_int_eq(rill_array_at(v.as.array, 1).as.i, (int64_t)i + 3);
  }
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Each source is asked for 128 values at subscription, before any
 * downstream request, and for 64 more each time 64 rows have gone out: it
 * never has more than 128 values asked for and not consumed. */
START_TEST(zip_asks_each_source_for_a_bounded_prefetch) {
  spies_reset();
  struct spy *a, *b;
  rill_observable_t *src[2] = {spy(NULL, rill_range(0, 1000), &a),
                               spy(NULL, rill_range(0, 1000), &b)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rec_t r;
  rec_init(&r);
  r.store = false;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(a->requested, 128);
  ck_assert_int_eq(b->requested, 128);
  rec_request(&r, 10);
  ck_assert_int_eq(r.nexts, 10);
  ck_assert_int_eq(a->requested, 128);
  rec_request(&r, 53);
  ck_assert_int_eq(r.nexts, 63);
  ck_assert_int_eq(a->requested, 128);
  rec_request(&r, 1); /* the 64th row: refill by half */
  ck_assert_int_eq(a->requested, 192);
  ck_assert_int_eq(b->requested, 192);
  for (int k = 0; k < 500; k++) {
    rec_request(&r, 3);
    ck_assert_int_le(a->requested - r.nexts, 128);
    ck_assert_int_le(b->requested - r.nexts, 128);
  }
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.nexts, 1000);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
}
END_TEST

/* Rows wait for demand; a source that completed with values queued keeps
 * the stream open until they are out, and then it completes at once. */
START_TEST(zip_waits_for_demand_and_completes_with_the_last_row) {
  spies_reset();
  struct spy *b;
  rill_observable_t *src[2] = {rill_range(0, 2),
                               spy(NULL, rill_range(10, 1000), &b)};
  rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 10); /* digits of (0, 10) */
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 21);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_spy(b, SPY_CANCELLED, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
}
END_TEST

/* A source that completes empty ends the stream with no request at all;
 * the sources after it are never subscribed (RxJS), one before it is
 * cancelled. */
START_TEST(zip_completes_at_once_on_an_empty_source) {
  spies_reset();
  struct spy *before, *after;
  rill_observable_t *src[3] = {spy(NULL, rill_never(), &before), rill_empty(),
                               spy(NULL, rill_never(), &after)};
  rill_observable_t *z = rill_zip(src, 3, NULL, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_spy(before, SPY_CANCELLED, 0);
  ck_assert_int_eq(after->starts, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
}
END_TEST

START_TEST(zip_of_no_source_completes_at_once) {
  rill_observable_t *z = rill_zip(NULL, 0, NULL, NULL);
  ck_assert_ptr_nonnull(z);
  ck_assert_str_eq(rill_observable_name(z), "zip");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
}
END_TEST

START_TEST(zip_error_cancels_the_other_sources_at_that_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *a, *b, *c;
  rill_observable_t *src[3] = {spy(s, marble_cold(s, "-1--#"), &a),
                               spy(s, marble_cold(s, "--2-3-4-5-6|"), &b),
                               spy(s, marble_cold(s, "0---------"), &c)};
  rill_observable_t *z = rill_zip(src, 3, fn_digits, NULL);
  marble_result_t mr;
  marble_run(s, z, 0, &mr);
  ck_assert_marble_result(&mr, "--{120}-#");
  ck_assert_int_eq(mr.error_code, RILL_EUSER);
  ck_assert_spy(a, SPY_FAILED, 4);
  ck_assert_spy(b, SPY_CANCELLED, 4);
  ck_assert_spy(c, SPY_CANCELLED, 4);
  rill_observable_free(z);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A subscriber that notes, when the error arrives, how many owned values
 * had been released by then. */
struct err_probe {
  rill_subscription_t *s;
  int terminal;
  int code;
  long released_at_error;
  int64_t nexts;
  const struct spy *watch; /* a sibling: how it had ended by then */
  int watch_how_at_error;
};
static void ep_subscribe(void *ctx, rill_subscription_t *s) {
  struct err_probe *p = ctx;
  p->s = s;
  rill_subscription_request(s, RILL_UNBOUNDED);
}
static void ep_next(void *ctx, rill_value_t v) {
  struct err_probe *p = ctx;
  p->nexts++;
  rill_value_release(v);
}
static void ep_error(void *ctx, const rill_error_t *err) {
  struct err_probe *p = ctx;
  p->terminal = REC_ERROR;
  p->code = err->code;
  p->released_at_error = tl_owned_released;
  if (p->watch != NULL)
    p->watch_how_at_error = p->watch->how;
}
static void ep_complete(void *ctx) {
  struct err_probe *p = ctx;
  p->terminal = REC_COMPLETE;
}
static const rill_subscriber_t err_probe_sub = {
    .on_subscribe = ep_subscribe,
    .on_next = ep_next,
    .on_error = ep_error,
    .on_complete = ep_complete,
};

/* The values zip holds when a sibling fails are released at once, and
 * the siblings cancelled, before the error goes downstream. */
START_TEST(zip_error_releases_every_value_it_holds) {
  rill_sched_t *s = rill_sched_virtual_new();
  tl_owned_reset();
  spies_reset();
  struct spy *a, *b;
  static const int64_t x[3] = {1, 2, 3};
  rill_observable_t *parts[2] = {owned_array(x, 3), rill_never()};
  rill_observable_t *src[2] = {spy(s, rill_concat(parts, 2), &a),
                               spy(s, marble_cold(s, "---#"), &b)};
  rill_observable_t *z = rill_zip(src, 2, NULL, NULL);
  struct err_probe p = {.watch = a};
  ck_assert_int_eq(rill_observable_subscribe(z, &err_probe_sub, &p, NULL), 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 2), 0);
  ck_assert_int_eq(tl_owned_released, 0); /* queued in zip */
  ck_assert_int_eq(rill_sched_run(s, 100), 0);
  ck_assert_int_eq(p.terminal, REC_ERROR);
  ck_assert_int_eq(p.code, RILL_EUSER);
  ck_assert_int_eq(p.nexts, 0);
  ck_assert_int_eq(p.released_at_error, 3);
  ck_assert_int_eq(p.watch_how_at_error, SPY_CANCELLED);
  ck_assert_spy(a, SPY_CANCELLED, 3);
  ck_assert_spy(b, SPY_FAILED, 3);
  rill_observable_free(z);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* fn NULL: a row's values move into the array (nothing released until
 * the arrays are); fn given: they are borrowed, then released by zip. */
START_TEST(zip_moves_values_into_arrays_and_releases_what_fn_borrowed) {
  static const int64_t x[2] = {1, 2}, y[3] = {3, 4, 5};
  tl_owned_reset();
  rill_observable_t *src[2] = {owned_array(x, 2), owned_array(y, 3)};
  rill_observable_t *z = rill_zip(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.values.len, 2);
  rill_observable_free(z);
  /* y was cancelled before its 5 was made; the 4 others are in the
   * arrays, released only with them */
  ck_assert_int_eq(tl_owned_made, 4);
  ck_assert_int_eq(tl_owned_released, 0);
  rill_array_t *row = r.values.items[1].as.array;
  ck_assert_int_eq(rill_array_at(row, 0).kind, RILL_KIND_OWNED);
  ck_assert_int_eq(tl_owned_int(rill_array_at(row, 0)), 2);
  ck_assert_int_eq(tl_owned_int(rill_array_at(row, 1)), 4);
  rec_clear(&r);
  ck_assert_owned_balanced();

  /* with fn: call k sees the 2 * (k - 1) values of the rows before
   * released already */
  tl_owned_reset();
  fc_reset();
  src[0] = owned_array(x, 2);
  src[1] = owned_array(y, 3);
  z = rill_zip(src, 2, fn_digits, NULL);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(fc.calls, 2);
  ck_assert_int_eq(fc.released_seen[0], 0);
  ck_assert_int_eq(fc.released_seen[1], 2);
  ck_assert_int_eq(rec_int(&r, 0), 13);
  ck_assert_int_eq(rec_int(&r, 1), 24);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(zip_function_failure_ends_the_stream_with_its_code) {
  rill_sched_t *s = rill_sched_virtual_new();
  tl_owned_reset();
  spies_reset();
  fc_reset();
  fc.fail_at = 2;
  fc.fail_code = RILL_EAPP_BASE - 7;
  struct spy *a, *b;
  static const int64_t x[4] = {1, 2, 3, 4};
  rill_observable_t *src[2] = {spy(s, owned_array(x, 4), &a),
                               spy(s, marble_cold(s, "-5-6-7-8|"), &b)};
  rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(rill_sched_run(s, 100), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 7);
  ck_assert_str_eq(r.err.stage, "zip");
  ck_assert_int_eq(r.values.len, 1);
  ck_assert_int_eq(rec_int(&r, 0), 15);
  ck_assert_spy(a, SPY_COMPLETED, 0); /* from_array had completed */
  ck_assert_spy(b, SPY_CANCELLED, 3);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(zip_cancel_from_inside_the_function) {
  tl_owned_reset();
  spies_reset();
  fc_reset();
  rec_t r;
  rec_init(&r);
  fc.cancel_at = 3;
  fc.rec = &r;
  fc.owned_out = true;
  struct spy *a, *b;
  static const int64_t x[5] = {1, 2, 3, 4, 5};
  rill_observable_t *src[2] = {spy(NULL, owned_array(x, 5), &a),
                               spy(NULL, rill_range(0, 1000), &b)};
  rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(fc.calls, 3);
  ck_assert_spy(b, SPY_CANCELLED, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced(); /* queued values and fn's output too */
}
END_TEST

START_TEST(zip_cancel_from_inside_on_next) {
  tl_owned_reset();
  spies_reset();
  struct spy *a, *b;
  static const int64_t x[5] = {1, 2, 3, 4, 5};
  rill_observable_t *src[2] = {spy(NULL, owned_array(x, 5), &a),
                               spy(NULL, rill_range(0, 1000), &b)};
  rill_observable_t *z = rill_zip(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 2;
  r.cancel_times = 2;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_spy(b, SPY_CANCELLED, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();
}
END_TEST

/* Both sources synchronous: the first fills its queue, the second's values
 * complete the rows; a million rows, one request per on_next, flat. */
START_TEST(zip_of_synchronous_sources_runs_in_a_flat_stack) {
  int64_t n = tl_scaled(1000000);
  rill_observable_t *src[2] = {rill_range(0, n), rill_range(0, n)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rill_values_t got = {0};
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < 4096, "on_next frames over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
  /* uneven lengths, either way round */
  for (int flip = 0; flip < 2; flip++) {
    src[flip] = rill_range(0, 1000);
    src[1 - flip] = rill_range(100, 10);
    z = rill_zip(src, 2, fn_sum, NULL);
    ck_assert_int_eq(rill_observable_collect(z, &got, NULL), 0);
    ck_assert_int_eq(got.len, 10);
    ck_assert_int_eq(got.items[9].as.i, 9 + 109);
    rill_values_clear(&got);
    rill_observable_free(z);
  }
}
END_TEST

static long allocs_for_zip(int64_t n) {
  tl_alloc_install();
  rill_observable_t *src[2] = {rill_range(0, n), rill_range(0, n)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rill_subscriber_t sub = {0};
  ck_assert_int_eq(rill_observable_consume(z, &sub, NULL, RILL_UNBOUNDED, NULL),
                   0);
  rill_observable_free(z);
  long allocs = tl_allocs;
  ck_assert_int_eq(tl_live, 0);
  tl_alloc_uninstall();
  return allocs;
}

START_TEST(zip_of_scalars_allocates_nothing_per_output) {
  long small = allocs_for_zip(1000), big = allocs_for_zip(100000);
  ck_assert_msg(small == big, "%ld allocations for 1000 rows, %ld for 100000",
                small, big);
}
END_TEST

/* ---- zip over polled sources (synchronous fusion) ---------------------------
 *
 * range, from_array, just, generate and a map/filter over one of them are
 * polled by zip (core/node.h): no request, no queue; a batch of rows when
 * every source is polled, one row at a time beside a queued source, and
 * one row ahead when no row may go out.  `pgen` is a generator that
 * counts its calls (how far ahead zip polls) and can fail, cancel or
 * request from inside next() -- a user function run inside a poll. */
struct pgen {
  int64_t start, n;
  bool owned;
  long fail_at; /* this call (1-based) returns fail_code */
  int fail_code;
  long cancel_at;  /* this call cancels rec's subscription */
  long request_at; /* from this call on, each requests 1 through rec */
  rec_t *rec;
  long calls, finis, inside, nested;
  int64_t next;
};

static int pg_init(void *ctx, void **state) {
  struct pgen *p = ctx;
  p->next = 0;
  *state = p;
  return 0;
}
static int pg_next(void *state, rill_value_t *out) {
  struct pgen *p = state;
  long k = ++p->calls;
  if (p->inside++ != 0)
    p->nested++;
  int rc = 1;
  if (k == p->cancel_at) { /* twice: the second is a no-op */
    rill_subscription_cancel(p->rec->s);
    rill_subscription_cancel(p->rec->s);
    p->rec->cancelled = true;
  }
  if (p->request_at != 0 && k >= p->request_at)
    rec_request(p->rec, 1);
  if (k == p->fail_at)
    rc = p->fail_code;
  else if (p->next == p->n)
    rc = 0;
  else {
    int64_t x = p->start + p->next++;
    *out = p->owned ? tl_owned(x) : rill_value_int(x);
  }
  p->inside--;
  return rc;
}
static void pg_fini(void *state) {
  ((struct pgen *)state)->finis++;
}
static rill_observable_t *pgen(struct pgen *p) {
  return rill_generate(pg_init, pg_next, pg_fini, p);
}

/* from_array of tl_owned(x[i]) (the recipe holds them until freed). */
static rill_observable_t *owned_from_array(const int64_t *x, size_t n) {
  rill_value_t v[16];
  ck_assert_uint_le(n, 16);
  for (size_t i = 0; i < n; i++)
    v[i] = tl_owned(x[i]);
  return rill_from_array(v, n);
}

/* A map that keeps the value (owned values pass through). */
static int keep(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(in);
  return 0;
}
/* A map that fails at its k-th call (ctx: long[2] = {k, calls}). */
static int fail_at_map(void *ctx, rill_value_t in, rill_value_t *out) {
  long *c = ctx;
  if (++c[1] == c[0])
    return RILL_EAPP_BASE - 3;
  *out = rill_value_retain(in);
  return 0;
}

/* A zip of generators polls them: nothing is asked for, and next() runs
 * one row ahead of the rows that may go out, never more (a queued source
 * would have been asked for 128 at once). */
START_TEST(zip_polls_synchronous_sources_one_row_ahead_of_demand) {
  struct pgen a = {.start = 0, .n = 100}, b = {.start = 10, .n = 200};
  rill_observable_t *src[2] = {pgen(&a), pgen(&b)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(a.calls, 1); /* the row ahead */
  ck_assert_int_eq(b.calls, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 10);
  ck_assert_int_eq(a.calls, 2);
  ck_assert_int_eq(b.calls, 2);
  rec_request(&r, 5);
  ck_assert_int_eq(r.nexts, 6);
  ck_assert_int_eq(a.calls, 7);
  ck_assert_int_eq(b.calls, 7);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.nexts, 100);
  ck_assert_int_eq(rec_int(&r, 99), 99 + 109);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.calls, 101); /* the 101st told the end */
  ck_assert_int_le(b.calls, 101);
  ck_assert_int_eq(a.finis, 1);
  ck_assert_int_eq(b.finis, 1); /* cancelled */
  ck_assert_int_eq(a.nested + b.nested, 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
}
END_TEST

/* The shorter polled source completes the stream as soon as its last row
 * is out, with no further request, whichever side it is on; a generator
 * (which learns its end one call later) too. */
START_TEST(zip_of_polled_sources_completes_with_the_shorter_at_once) {
  for (int flip = 0; flip < 4; flip++) {
    struct pgen g = {.start = 0, .n = 3};
    rill_observable_t *src[2];
    src[flip & 1] = flip < 2 ? rill_range(0, 3) : pgen(&g);
    src[1 - (flip & 1)] = rill_range(10, 100);
    rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    rec_request(&r, 2);
    ck_assert_int_eq(r.nexts, 2);
    ck_assert_int_eq(r.terminal, REC_NONE);
    rec_request(&r, 1);
    ck_assert_int_eq(r.nexts, 3);
    ck_assert_int_eq(rec_int(&r, 2), 14);
    ck_assert_msg(r.terminal == REC_COMPLETE, "flip %d: not completed", flip);
    if (flip >= 2)
      ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(z);
    /* and with everything asked for at once */
    src[flip & 1] = flip < 2 ? rill_range(0, 3) : pgen(&g);
    src[1 - (flip & 1)] = rill_range(10, 100);
    z = rill_zip(src, 2, fn_sum, NULL);
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    rec_request(&r, 3);
    ck_assert_int_eq(r.nexts, 3);
    ck_assert_msg(r.terminal == REC_COMPLETE, "flip %d: not completed", flip);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(z);
  }
}
END_TEST

/* A polled source beside a queued one (a timed source, through a spy):
 * rows at the time of the queued value, completion as soon as the
 * shorter has nothing left, in both orders; and a queued shorter. */
START_TEST(zip_mixes_polled_and_queued_sources) {
  for (int flip = 0; flip < 2; flip++) {
    rill_sched_t *s = rill_sched_virtual_new();
    spies_reset();
    fc_reset();
    struct spy *q;
    rill_observable_t *src[2];
    src[flip] = rill_range(1, 3);
    src[1 - flip] = spy(s, marble_cold(s, "-4-5-6-7|"), &q);
    rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
    ck_assert_marble(s, z, 0,
                     flip == 0 ? "-{14}-{25}-({36}|)" : "-{41}-{52}-({63}|)");
    ck_assert_spy(q, SPY_CANCELLED, 5);
    rill_observable_free(z);
    ck_assert_int_eq(rill_sched_free(s), 0);
  }
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *q;
  struct pgen g = {.start = 1, .n = 1000};
  rill_observable_t *src[2] = {pgen(&g), spy(s, marble_cold(s, "-4-5|"), &q)};
  rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
  ck_assert_marble(s, z, 0, "-{14}-{25}|");
  ck_assert_spy(q, SPY_COMPLETED, 4);
  ck_assert_int_eq(g.calls, 3); /* two rows, one ahead */
  ck_assert_int_eq(g.finis, 1);
  rill_observable_free(z);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Owned values polled out of from_array (and just) are released exactly
 * once: borrowed by fn, moved into arrays, held in rows when the stream
 * is cancelled from on_next, and the recipe's with the recipe. */
START_TEST(zip_of_polled_owned_values_releases_each_once) {
  static const int64_t x[5] = {1, 2, 3, 4, 5};
  for (int shape = 0; shape < 4; shape++) {
    tl_owned_reset();
    fc_reset();
    fc.owned_out = true;
    rill_observable_t *src[3] = {
        owned_from_array(x, 5), rill_range(0, 1000),
        rill_just(3, tl_owned(6), tl_owned(7), tl_owned(8))};
    rill_observable_t *z = rill_zip(src, 3, shape & 1 ? NULL : fn_digits, NULL);
    rec_t r;
    rec_init(&r);
    if (shape < 2) {
      r.request_on_subscribe = RILL_UNBOUNDED;
    } else {
      r.request_on_subscribe = 2;
      r.request_in_next = 1;
      r.cancel_at = 2;
      r.cancel_times = 2;
    }
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    if (shape < 2) {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.nexts, 3);
    } else {
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_int_eq(r.nexts, 2);
    }
    if (shape == 0) {
      ck_assert_int_eq(tl_owned_int(r.values.items[0]), 106);
      ck_assert_int_eq(tl_owned_int(r.values.items[2]), 328);
    }
    if (shape == 1) {
      rill_array_t *row = r.values.items[2].as.array;
      ck_assert_int_eq(tl_owned_int(rill_array_at(row, 0)), 3);
      ck_assert_int_eq(rill_array_at(row, 1).as.i, 2);
      ck_assert_int_eq(tl_owned_int(rill_array_at(row, 2)), 8);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(z);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* A polled generator that fails after k values: its k rows go out (as
 * demand allows), then the error, with no further request; the other
 * sources cancelled, everything released.  Failing at its first call, it
 * ends the stream while subscribed: the sources after it never start. */
START_TEST(zip_polled_generator_failing_at_row_k) {
  for (int bounded = 0; bounded < 2; bounded++) {
    tl_owned_reset();
    struct pgen g = {.start = 0,
                     .n = 100,
                     .owned = true,
                     .fail_at = 4,
                     .fail_code = RILL_EAPP_BASE - 9};
    static const int64_t x[6] = {10, 20, 30, 40, 50, 60};
    rill_observable_t *src[3] = {rill_range(0, 100), pgen(&g),
                                 owned_from_array(x, 6)};
    rill_observable_t *z = rill_zip(src, 3, fn_first, NULL);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = bounded ? 2 : RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    if (bounded) {
      ck_assert_int_eq(r.nexts, 2);
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_int_eq(g.calls, 3); /* one row ahead */
      rec_request(&r, 1);           /* the third row; the next call fails */
    }
    ck_assert_int_eq(r.nexts, 3);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 9);
    ck_assert_str_eq(r.err.stage, "generate");
    ck_assert_int_eq(g.calls, 4);
    ck_assert_int_eq(g.finis, 1);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(z);
    ck_assert_owned_balanced();
  }
  spies_reset();
  struct spy *after;
  struct pgen g = {.fail_at = 1, .fail_code = RILL_EUSER};
  rill_observable_t *src[2] = {pgen(&g), spy(NULL, rill_never(), &after)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_int_eq(after->starts, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
}
END_TEST

/* Cancel from inside fn at row 3 and from inside on_next at row 2, on
 * rows of scalars and of owned values, with unbounded and bounded demand,
 * with and without fused steps downstream (each a loop of its own): the
 * loop stops at once, nothing more is
 * signalled, fn is not called again, everything is released. */
START_TEST(zip_polled_cancel_from_inside_fn_and_on_next) {
  static const int64_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  for (int shape = 0; shape < 16; shape++) {
    tl_owned_reset();
    fc_reset();
    rec_t r;
    rec_init(&r);
    bool owned = shape & 1, bounded = shape & 2, in_fn = shape & 4;
    bool steps = shape & 8; /* a fused map downstream */
    rill_observable_t *src[2] = {
        owned ? owned_from_array(x, 8) : rill_range(1, 8), rill_range(0, 1000)};
    rill_observable_t *z = rill_zip(src, 2, fn_digits, NULL);
    if (steps)
      z = rill_map(z, keep, NULL);
    r.request_on_subscribe = bounded ? 6 : RILL_UNBOUNDED;
    if (in_fn) {
      fc.cancel_at = 3;
      fc.rec = &r;
      fc.owned_out = true;
    } else {
      r.cancel_at = 2;
      r.cancel_times = 2;
    }
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    ck_assert_int_eq(r.nexts, 2);
    ck_assert_int_eq(fc.calls, in_fn ? 3 : 2);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(z);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* A user function run inside a poll (generate's next) cancels the stream
 * or requests more: the cancel stops everything at once (the values
 * polled so far released); the request only adds demand -- the poll is
 * never re-entered and on_next never nests. */
START_TEST(zip_polled_cancel_and_request_from_inside_a_poll) {
  tl_owned_reset();
  rec_t r;
  rec_init(&r);
  struct pgen g = {.start = 0, .n = 100, .owned = true, .cancel_at = 3};
  g.rec = &r;
  static const int64_t x[4] = {7, 8, 9, 10};
  rill_observable_t *src[2] = {owned_from_array(x, 4), pgen(&g)};
  rill_observable_t *z = rill_zip(src, 2, fn_first, NULL);
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 2); /* the third row was being polled */
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();

  /* in the middle of a batch: the values polled before it go too */
  rec_init(&r);
  struct pgen g2 = {.start = 0, .n = 100, .owned = true, .cancel_at = 4};
  g2.rec = &r;
  src[0] = pgen(&g2);
  src[1] = rill_range(0, 100);
  z = rill_zip(src, 2, fn_first, NULL);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 1); /* the row polled ahead at subscription */
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(g2.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();

  rec_init(&r);
  r.store = false;
  struct pgen h = {.start = 0, .n = 1000, .request_at = 1};
  h.rec = &r;
  src[0] = rill_range(0, 1000);
  src[1] = pgen(&h);
  z = rill_zip(src, 2, fn_sum, NULL);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 1000);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(h.nested, 0);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(z);
}
END_TEST

/* One request per on_next, polled and mixed: a flat stack. */
START_TEST(zip_polled_and_mixed_request_one_per_on_next_stay_flat) {
  int64_t n = tl_scaled(200000);
  for (int mixed = 0; mixed < 2; mixed++) {
    struct pgen g = {.start = 0, .n = n};
    rill_observable_t *src[2] = {
        pgen(&g), mixed ? rill_take(rill_range(0, n), n) : rill_range(0, n)};
    rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
    rec_t r;
    rec_init(&r);
    r.store = false;
    r.request_on_subscribe = 1;
    r.request_in_next = 1;
    ck_assert_int_eq(rec_subscribe(&r, z), 0);
    ck_assert_int_eq(r.nexts, n);
    ck_assert_int_eq(r.terminal, REC_COMPLETE);
    ck_assert_int_le(r.max_depth, 1);
    ck_assert_msg(r.stack_hi - r.stack_lo < 4096,
                  "on_next frames over %lu bytes",
                  (unsigned long)(r.stack_hi - r.stack_lo));
    ck_assert_int_le(g.calls, n + 1);
    ck_assert_rec_ok(&r);
    rill_observable_free(z);
  }
}
END_TEST

/* Fused map/filter steps over a pollable source are polled through: the
 * values are the steps' (a filter's drops pulled past), a map failing at
 * its k-th value fails the stream after k - 1 rows (stage "map"), owned
 * values pass through and are released once; and a generator under a map
 * is still polled one row ahead. */
START_TEST(zip_polls_through_fused_map_and_filter) {
  rill_observable_t *src[2] = {
      rill_map(rill_range(0, 10), tl_double, NULL),
      rill_filter(rill_range(0, 100), tl_is_even, NULL)};
  rill_observable_t *z = rill_zip(src, 2, fn_sum, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(z, &got, NULL), 0);
  ck_assert_int_eq(got.len, 10);
  for (size_t i = 0; i < 10; i++)
    ck_assert_int_eq(got.items[i].as.i, 4 * (int64_t)i);
  rill_values_clear(&got);
  rill_observable_free(z);

  tl_owned_reset();
  long ctl[2] = {4, 0};
  static const int64_t x[6] = {1, 2, 3, 4, 5, 6}, y[6] = {7, 8, 9, 10, 11, 12};
  src[0] = rill_map(owned_from_array(x, 6), keep, NULL);
  src[1] = rill_map(owned_from_array(y, 6), fail_at_map, ctl);
  z = rill_zip(src, 2, fn_first, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(tl_owned_int(r.values.items[2]), 3);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 3);
  ck_assert_str_eq(r.err.stage, "map");
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
  ck_assert_owned_balanced();

  struct pgen g = {.start = 0, .n = 100};
  src[0] = rill_filter(rill_map(pgen(&g), tl_double, NULL), tl_is_even, NULL);
  src[1] = rill_range(0, 100);
  z = rill_zip(src, 2, fn_sum, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, z), 0);
  ck_assert_int_eq(g.calls, 1);
  rec_request(&r, 4);
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(rec_int(&r, 3), 9);
  ck_assert_int_eq(g.calls, 5);
  rec_cancel(&r);
  ck_assert_int_eq(g.finis, 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(z);
}
END_TEST

/* ---- combine_latest -------------------------------------------------------*/

/* RxJS combineLatest-033 ("should combine events from two cold
 * observables"), with digits. */
START_TEST(combine_latest_combines_each_value_with_the_latest_of_the_other) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *a, *b;
  rill_observable_t *src[2] = {spy(s, marble_cold(s, "-1--2-----3-4-5-|"), &a),
                               spy(s, marble_cold(s, "--6--7-8-9---|"), &b)};
  rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
  ck_assert_marble(s, c, 0,
                   "<2>{16}<4>{26}<5>{27}<7>{28}<9>{29}<10>{39}<12>{49}<14>{59}"
                   "<16>|");
  ck_assert_spy(a, SPY_COMPLETED, 16);
  ck_assert_spy(b, SPY_COMPLETED, 13);
  rill_observable_free(c);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A push source that the test drives by hand: what it pushes without
 * demand waits in rill_create's queue. */
struct pusher {
  rill_emitter_t *e;
  bool ended;
};
static void pusher_start(void *ctx, rill_emitter_t *e) {
  ((struct pusher *)ctx)->e = e;
}
static void pusher_end(void *ctx, rill_emitter_t *e) {
  (void)e;
  ((struct pusher *)ctx)->ended = true;
}

/* One value in flight per source; a combination due without demand waits,
 * and a newer value of another source replaces its slot in it. */
START_TEST(combine_latest_holds_one_combination_and_the_latest_wins) {
  struct pusher pa = {0}, pb = {0};
  rill_observable_t *src[2] = {rill_create(pusher_start, pusher_end, &pa),
                               rill_create(pusher_start, pusher_end, &pb)};
  rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, c), 0);
  ck_assert_int_eq(rill_emitter_demand(pa.e), 1);
  ck_assert_int_eq(rill_emitter_demand(pb.e), 1);
  rill_emitter_next(pa.e, rill_value_int(1));
  ck_assert_int_eq(rill_emitter_demand(pa.e), 1); /* b has none yet */
  rill_emitter_next(pb.e, rill_value_int(5));     /* (1, 5) is due */
  ck_assert_int_eq(rill_emitter_demand(pb.e), 0);
  rill_emitter_next(pa.e, rill_value_int(2)); /* now (2, 5) */
  ck_assert_int_eq(rill_emitter_demand(pa.e), 0);
  rill_emitter_next(pa.e, rill_value_int(3)); /* wait in a's queue */
  rill_emitter_next(pb.e, rill_value_int(6)); /* and in b's */
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 25); /* (1, 5) was never emitted */
  /* both were asked again and delivered: (3, 6) waits */
  rill_emitter_complete(pa.e);
  rill_emitter_complete(pb.e);
  ck_assert_int_eq(r.terminal, REC_NONE); /* the pending one goes first */
  rec_request(&r, 5);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 36);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert(pa.ended && pb.ended);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(c);
}
END_TEST

/* RxJS 7: a source that completes without a value does not end the
 * stream; it emits nothing and completes once all have (combineLatest-006
 * "empty and never" never completes; -008 completes with the last). */
START_TEST(combine_latest_completes_when_every_source_has) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *src[2] = {marble_cold(s, "-|"), marble_cold(s, "--1-2|")};
  rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
  ck_assert_marble(s, c, 0, "<5>|");
  rill_observable_free(c);
  src[0] = rill_empty();
  src[1] = rill_never();
  c = rill_combine_latest(src, 2, NULL, NULL);
  marble_result_t mr;
  marble_run_cancel(s, c, 100, 50, &mr);
  ck_assert_int_eq(mr.n, 0);
  rill_observable_free(c);
  c = rill_combine_latest(NULL, 0, NULL, NULL);
  ck_assert_marble(s, c, 0, "|");
  rill_observable_free(c);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(combine_latest_error_cancels_the_others_at_that_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  tl_owned_reset();
  spies_reset();
  struct spy *a, *b;
  rill_observable_t *src[2] = {spy(s, marble_cold(s, "-1---#"), &a),
                               spy(s, marble_cold(s, "--2-3-4|"), &b)};
  rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
  marble_result_t mr;
  marble_run(s, c, 0, &mr);
  ck_assert_marble_result(&mr, "--{12}-{13}#");
  ck_assert_spy(a, SPY_FAILED, 5);
  ck_assert_spy(b, SPY_CANCELLED, 5);
  rill_observable_free(c);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* The latest values are owned by combine_latest: released when replaced,
 * and at once when a sibling fails. */
START_TEST(combine_latest_releases_the_latest_values_on_every_path) {
  rill_sched_t *s = rill_sched_virtual_new();
  tl_owned_reset();
  fc_reset();
  static const int64_t x[3] = {1, 2, 3};
  /* x's three values arrive first: 1 and 2 are replaced (released) */
  struct spy *a;
  rill_observable_t *parts[2] = {owned_array(x, 3), rill_never()};
  rill_observable_t *src[2] = {spy(s, rill_concat(parts, 2), &a),
                               marble_cold(s, "--#")};
  rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
  struct err_probe p = {.watch = a};
  ck_assert_int_eq(rill_observable_subscribe(c, &err_probe_sub, &p, NULL), 0);
  ck_assert_int_eq(tl_owned_released, 2);
  ck_assert_int_eq(rill_sched_run(s, 100), 0);
  ck_assert_int_eq(p.terminal, REC_ERROR);
  ck_assert_int_eq(p.released_at_error, 3);
  ck_assert_int_eq(p.watch_how_at_error, SPY_CANCELLED);
  rill_observable_free(c);
  ck_assert_owned_balanced();

  /* arrays hold references: the latest values stay until released */
  tl_owned_reset();
  src[0] = owned_array(x, 2);
  src[1] = owned_array(x + 2, 1);
  c = rill_combine_latest(src, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, c), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.values.len, 1);
  rill_array_t *row = r.values.items[0].as.array;
  ck_assert_int_eq(tl_owned_int(rill_array_at(row, 0)), 2);
  ck_assert_int_eq(tl_owned_int(rill_array_at(row, 1)), 3);
  rill_observable_free(c);
  ck_assert_int_eq(tl_owned_released, 1); /* 1, replaced by 2 */
  rec_clear(&r);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(combine_latest_function_failure_and_cancel_inside_it) {
  tl_owned_reset();
  spies_reset();
  for (int mode = 0; mode < 3; mode++) {
    fc_reset();
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    if (mode == 0) {
      fc.fail_at = 2;
      fc.fail_code = RILL_EAPP_BASE - 3;
    } else if (mode == 1) {
      fc.cancel_at = 2;
      fc.rec = &r;
      fc.owned_out = true;
    } else {
      r.cancel_at = 2; /* from inside on_next */
    }
    spies_reset();
    struct spy *a, *b;
    static const int64_t x[2] = {1, 2}, y[3] = {3, 4, 5};
    rill_observable_t *src[2] = {spy(NULL, owned_array(x, 2), &a),
                                 spy(NULL, owned_array(y, 3), &b)};
    rill_observable_t *c = rill_combine_latest(src, 2, fn_digits, NULL);
    ck_assert_int_eq(rec_subscribe(&r, c), 0);
    /* rows: (2, 3) (2, 4) (2, 5) */
    if (mode == 0) {
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 3);
      ck_assert_str_eq(r.err.stage, "combine_latest");
      ck_assert_int_eq(r.values.len, 1);
    } else {
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_int_eq(r.values.len, mode == 1 ? 1 : 2);
    }
    ck_assert_int_eq(rec_int(&r, 0), 23);
    ck_assert_spy(b, SPY_CANCELLED, 0);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(c);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(combine_latest_of_synchronous_sources) {
  rill_observable_t *src[2] = {rill_range(0, 3), rill_range(10, 3)};
  rill_observable_t *c = rill_combine_latest(src, 2, NULL, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(c, &got, NULL), 0);
  ck_assert_int_eq(got.len, 3); /* [2, 10] [2, 11] [2, 12] (RxJS) */
  for (size_t i = 0; i < 3; i++) {
    ck_assert_int_eq(rill_array_at(got.items[i].as.array, 0).as.i, 2);
    ck_assert_int_eq(rill_array_at(got.items[i].as.array, 1).as.i,
                     10 + (int64_t)i);
  }
  rill_values_clear(&got);
  rill_observable_free(c);
  /* one source: each value alone, one at a time, in a flat stack */
  int64_t n = tl_scaled(200000);
  src[0] = rill_range(0, n);
  c = rill_combine_latest(src, 1, fn_first, NULL);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, c), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_msg(r.stack_hi - r.stack_lo < 4096, "on_next frames over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rill_observable_free(c);
}
END_TEST

/* ---- with_latest_from -----------------------------------------------------*/

START_TEST(with_latest_from_drops_values_until_every_other_has_one) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *src, *o;
  rill_observable_t *others[1] = {spy(s, marble_cold(s, "--5---6------|"), &o)};
  rill_observable_t *w =
      rill_with_latest_from(spy(s, marble_cold(s, "-1--2--3--4-|"), &src),
                            others, 1, fn_digits, NULL);
  ck_assert_marble(s, w, 0, "<4>{25}<7>{36}<10>{46}<12>|");
  ck_assert_spy(src, SPY_COMPLETED, 12);
  ck_assert_spy(o, SPY_CANCELLED, 12);
  ck_assert(o->seq_start < src->seq_start); /* the others first */
  ck_assert_int_eq(o->requested, RILL_UNBOUNDED);
  rill_observable_free(w);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* Demand goes to src; each dropped value is asked for again. */
START_TEST(with_latest_from_asks_src_again_for_each_dropped_value) {
  spies_reset();
  struct pusher po = {0};
  struct spy *src;
  rill_observable_t *others[1] = {rill_create(pusher_start, pusher_end, &po)};
  rill_observable_t *w = rill_with_latest_from(
      spy(NULL, rill_range(0, 10), &src), others, 1, fn_digits, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, w), 0);
  ck_assert_int_eq(src->requested, 0);
  ck_assert_int_eq(rill_emitter_demand(po.e), RILL_UNBOUNDED);
  rec_request(&r, 2);
  /* 2, then one more per drop until the range has ended */
  ck_assert_int_eq(src->requested, 10);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert(po.ended);
  ck_assert_rec_ok(&r);
  rill_observable_free(w);

  /* with a value: 2 requested, 2 out, then 2 more */
  spies_reset();
  memset(&po, 0, sizeof(po));
  others[0] = rill_create(pusher_start, pusher_end, &po);
  w = rill_with_latest_from(spy(NULL, rill_range(1, 10), &src), others, 1,
                            fn_digits, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, w), 0);
  rill_emitter_next(po.e, rill_value_int(7));
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 27);
  rill_emitter_next(po.e, rill_value_int(8));
  rec_request(&r, 1);
  ck_assert_int_eq(rec_int(&r, 2), 38);
  ck_assert_int_eq(src->requested, 3);
  ck_assert_rec_ok(&r);
  rec_cancel(&r);
  ck_assert(po.ended);
  rec_clear(&r);
  rill_observable_free(w);
}
END_TEST

START_TEST(with_latest_from_other_error_cancels_src_at_that_instant) {
  rill_sched_t *s = rill_sched_virtual_new();
  spies_reset();
  struct spy *src, *o;
  rill_observable_t *others[1] = {spy(s, marble_cold(s, "5---#"), &o)};
  rill_observable_t *w = rill_with_latest_from(
      spy(s, marble_cold(s, "-1-2-3-4|"), &src), others, 1, fn_digits, NULL);
  ck_assert_marble(s, w, 0, "-{15}-{25}#");
  ck_assert_spy(o, SPY_FAILED, 4);
  ck_assert_spy(src, SPY_CANCELLED, 4);
  rill_observable_free(w);
  /* an other that completes changes nothing */
  spies_reset();
  others[0] = spy(s, marble_cold(s, "5|"), &o);
  w = rill_with_latest_from(spy(s, marble_cold(s, "-1-2|"), &src), others, 1,
                            fn_digits, NULL);
  ck_assert_marble(s, w, 0, "-{15}-{25}|");
  ck_assert_spy(o, SPY_COMPLETED, 1 + 4); /* the clock moved on by 4 */
  rill_observable_free(w);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* An other that fails while it is subscribed: on_subscribe, then the
 * error; src is subscribed but never asked for anything. */
START_TEST(with_latest_from_other_failing_at_once) {
  spies_reset();
  struct spy *src;
  rill_observable_t *others[2] = {rill_never(),
                                  rill_error(RILL_EUSER, "at once")};
  rill_observable_t *w = rill_with_latest_from(
      spy(NULL, rill_range(0, 3), &src), others, 2, NULL, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, w), 0);
  ck_assert_int_eq(r.subscribes, 1);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_str_eq(r.err.message, "at once");
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(src->requested, 0);
  ck_assert_rec_ok(&r);
  rill_observable_free(w);
  /* a synchronous src, asked for nothing, cannot complete first */
  others[0] = rill_error(RILL_EUSER, "at once");
  w = rill_with_latest_from(rill_range(0, 3), others, 1, NULL, NULL);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, w), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_rec_ok(&r);
  rill_observable_free(w);
}
END_TEST

START_TEST(with_latest_from_owned_values_failure_and_cancels) {
  for (int mode = 0; mode < 4; mode++) {
    tl_owned_reset();
    spies_reset();
    fc_reset();
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    if (mode == 1) {
      fc.fail_at = 2;
      fc.fail_code = RILL_EAPP_BASE - 9;
    } else if (mode == 2) {
      fc.cancel_at = 2;
      fc.rec = &r;
      fc.owned_out = true;
    } else if (mode == 3) {
      r.cancel_at = 2;
    }
    static const int64_t x[3] = {1, 2, 3}, y[2] = {5, 6};
    struct spy *o;
    /* the other's 5 is replaced by 6 before src starts */
    rill_observable_t *others[1] = {
        spy(NULL,
            rill_concat(
                (rill_observable_t *[]){owned_array(y, 2), rill_never()}, 2),
            &o)};
    rill_observable_t *w = rill_with_latest_from(
        owned_array(x, 3), others, 1, mode == 0 ? NULL : fn_digits, NULL);
    ck_assert_int_eq(rec_subscribe(&r, w), 0);
    ck_assert_spy(o, SPY_CANCELLED, 0);
    if (mode == 0) {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_eq(r.values.len, 3);
      rill_array_t *row = r.values.items[2].as.array;
      ck_assert_int_eq(tl_owned_int(rill_array_at(row, 0)), 3);
      ck_assert_int_eq(tl_owned_int(rill_array_at(row, 1)), 6);
    } else if (mode == 1) {
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 9);
      ck_assert_str_eq(r.err.stage, "with_latest_from");
      ck_assert_int_eq(rec_int(&r, 0), 16);
    } else {
      ck_assert_int_eq(r.terminal, REC_NONE);
      ck_assert_int_eq(r.values.len, mode == 2 ? 1 : 2);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_observable_free(w);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* A map over the other source that cancels the subscription at its first
 * call (the handle, got in on_subscribe, is that of `r`). */
static rec_t *cancel_rec;
static int cancel_calls;
static int map_cancel_first(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  if (++cancel_calls == 1)
    rec_cancel(cancel_rec);
  *out = in;
  return 0;
}
static int catch_pass(void *ctx, const rill_error_t *err,
                      rill_observable_t **next) {
  (void)ctx;
  (void)err;
  (void)next;
  return 0;
}

/* Fuzz seed 65668 (tests/fuzz.c): the others ran before on_subscribe went
 * down, so a cancel from a callback of theirs (made through the handle of
 * a stage above that had passed on_subscribe on: catch_error) could not
 * reach them and their source went on calling the map after the cancel. */
START_TEST(with_latest_from_cancel_while_the_others_run) {
  for (int wrapped = 0; wrapped < 2; wrapped++) {
    tl_owned_reset();
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    cancel_rec = &r;
    cancel_calls = 0;
    rill_observable_t *others[1] = {
        rill_map(rill_range(0, 10), map_cancel_first, NULL)};
    rill_observable_t *w =
        rill_with_latest_from(rill_just(1, tl_owned(1)), others, 1, NULL, NULL);
    if (wrapped)
      w = rill_catch_error(w, catch_pass, NULL);
    ck_assert_int_eq(rec_subscribe(&r, w), 0);
    ck_assert_int_eq(r.subscribes, 1);
    ck_assert_int_eq(cancel_calls, 1); /* nothing after the cancel */
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(w);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(with_latest_from_no_other_combines_each_value_alone) {
  rill_observable_t *w =
      rill_with_latest_from(rill_range(4, 3), NULL, 0, fn_digits, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(w, &got, NULL), 0);
  ck_assert_int_eq(got.len, 3);
  ck_assert_int_eq(got.items[2].as.i, 6);
  rill_values_clear(&got);
  rill_observable_free(w);
}
END_TEST

/* ---- arguments ------------------------------------------------------------*/

START_TEST(null_arguments_give_null_and_release_the_sources) {
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_zip(NULL, 2, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_combine_latest(NULL, 1, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  rill_observable_t *src[2] = {rill_just(1, tl_owned(1)), NULL};
  errno = 0;
  ck_assert_ptr_null(rill_zip(src, 2, fn_sum, NULL));
  ck_assert_int_eq(errno, EINVAL);
  src[0] = rill_just(1, tl_owned(2));
  ck_assert_ptr_null(rill_combine_latest(src, 2, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  /* a NULL left by a constructor that ran out of memory keeps ENOMEM */
  src[0] = rill_just(1, tl_owned(3));
  errno = ENOMEM;
  ck_assert_ptr_null(rill_zip(src, 2, NULL, NULL));
  ck_assert_int_eq(errno, ENOMEM);
  /* with_latest_from: src NULL releases the others, others NULL src */
  src[0] = rill_just(1, tl_owned(4));
  errno = 0;
  ck_assert_ptr_null(rill_with_latest_from(NULL, src, 1, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(
      rill_with_latest_from(rill_just(1, tl_owned(5)), NULL, 1, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  src[0] = rill_just(1, tl_owned(6));
  src[1] = NULL;
  ck_assert_ptr_null(
      rill_with_latest_from(rill_just(1, tl_owned(7)), src, 2, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  ck_assert_int_eq(tl_owned_made, 7);
  /* n == 0 takes no array */
  rill_observable_t *o = rill_combine_latest(NULL, 0, fn_sum, NULL);
  ck_assert_ptr_nonnull(o);
  ck_assert_str_eq(rill_observable_name(o), "combine_latest");
  rill_observable_free(o);
}
END_TEST

/* Every test starts from a clean slate (the suite also runs unforked,
 * under valgrind). */
static void combine_setup(void) {
  fc_reset();
  spies_reset();
  tl_owned_reset();
}

Suite *combine_suite(void) {
  Suite *s = suite_create("combine");
  TCase *tc = tcase_create("zip");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, zip_rows_go_out_at_the_time_of_their_last_value);
  tcase_add_test(tc, zip_ends_once_a_completed_source_has_nothing_queued);
  tcase_add_test(tc, zip_without_function_emits_arrays_of_the_values);
  tcase_add_test(tc, zip_asks_each_source_for_a_bounded_prefetch);
  tcase_add_test(tc, zip_waits_for_demand_and_completes_with_the_last_row);
  tcase_add_test(tc, zip_completes_at_once_on_an_empty_source);
  tcase_add_test(tc, zip_of_no_source_completes_at_once);
  tcase_add_test(tc, zip_error_cancels_the_other_sources_at_that_instant);
  tcase_add_test(tc, zip_error_releases_every_value_it_holds);
  tcase_add_test(tc,
                 zip_moves_values_into_arrays_and_releases_what_fn_borrowed);
  tcase_add_test(tc, zip_function_failure_ends_the_stream_with_its_code);
  tcase_add_test(tc, zip_cancel_from_inside_the_function);
  tcase_add_test(tc, zip_cancel_from_inside_on_next);
  tcase_add_test(tc, zip_of_synchronous_sources_runs_in_a_flat_stack);
  tcase_add_test(tc, zip_of_scalars_allocates_nothing_per_output);
  tcase_add_checked_fixture(tc, combine_setup, NULL);
  suite_add_tcase(s, tc);
  tc = tcase_create("zip_polled");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, zip_polls_synchronous_sources_one_row_ahead_of_demand);
  tcase_add_test(tc, zip_of_polled_sources_completes_with_the_shorter_at_once);
  tcase_add_test(tc, zip_mixes_polled_and_queued_sources);
  tcase_add_test(tc, zip_of_polled_owned_values_releases_each_once);
  tcase_add_test(tc, zip_polled_generator_failing_at_row_k);
  tcase_add_test(tc, zip_polled_cancel_from_inside_fn_and_on_next);
  tcase_add_test(tc, zip_polled_cancel_and_request_from_inside_a_poll);
  tcase_add_test(tc, zip_polled_and_mixed_request_one_per_on_next_stay_flat);
  tcase_add_test(tc, zip_polls_through_fused_map_and_filter);
  tcase_add_checked_fixture(tc, combine_setup, NULL);
  suite_add_tcase(s, tc);
  tc = tcase_create("combine_latest");
  tcase_set_timeout(tc, 120);
  tcase_add_test(
      tc, combine_latest_combines_each_value_with_the_latest_of_the_other);
  tcase_add_test(tc, combine_latest_holds_one_combination_and_the_latest_wins);
  tcase_add_test(tc, combine_latest_completes_when_every_source_has);
  tcase_add_test(tc, combine_latest_error_cancels_the_others_at_that_instant);
  tcase_add_test(tc, combine_latest_releases_the_latest_values_on_every_path);
  tcase_add_test(tc, combine_latest_function_failure_and_cancel_inside_it);
  tcase_add_test(tc, combine_latest_of_synchronous_sources);
  tcase_add_checked_fixture(tc, combine_setup, NULL);
  suite_add_tcase(s, tc);
  tc = tcase_create("with_latest_from");
  tcase_add_test(tc, with_latest_from_drops_values_until_every_other_has_one);
  tcase_add_test(tc, with_latest_from_asks_src_again_for_each_dropped_value);
  tcase_add_test(tc, with_latest_from_other_error_cancels_src_at_that_instant);
  tcase_add_test(tc, with_latest_from_other_failing_at_once);
  tcase_add_test(tc, with_latest_from_owned_values_failure_and_cancels);
  tcase_add_test(tc, with_latest_from_no_other_combines_each_value_alone);
  tcase_add_test(tc, with_latest_from_cancel_while_the_others_run);
  tcase_add_checked_fixture(tc, combine_setup, NULL);
  suite_add_tcase(s, tc);
  tc = tcase_create("arguments");
  tcase_add_test(tc, null_arguments_give_null_and_release_the_sources);
  tcase_add_checked_fixture(tc, combine_setup, NULL);
  suite_add_tcase(s, tc);
  return s;
}
