/* SPDX-License-Identifier: MIT */
/* rill tests: recovering from errors and repeating -- catch_error,
 * on_error_return, on_error_complete, retry (backoff, jitter, predicate,
 * reset) and repeat.  Timed cases run on the virtual scheduler and assert
 * exact times; the delays expected under each jitter mode are computed
 * here, from the formulas, independently of retry.c. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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
  ck_assert_owned_balanced();
}

/* ---- a probe source -------------------------------------------------------
 * Each subscription records when it started and the demand it had at its
 * start, pushes `fail_values` owned values and fails with `code` (the
 * first `fail_times` subscriptions), or pushes `final_values` owned values
 * and completes (the later ones). */
#define PROBE_MAX 64
struct probe {
  int subs, ends;
  double at[PROBE_MAX];
  int64_t demand[PROBE_MAX];
  int fail_times; /* INT32_MAX: always */
  int fail_values, final_values;
  int code;
};

static void probe_start(void *ctx, rill_emitter_t *e) {
  struct probe *p = ctx;
  int i = p->subs++;
  if (i < PROBE_MAX) {
    p->at[i] = rill_sched_now(vs);
    p->demand[i] = rill_emitter_demand(e);
  }
  bool fail = i < p->fail_times;
  int n = fail ? p->fail_values : p->final_values;
  for (int k = 0; k < n; k++)
    if (rill_emitter_next(e, tl_owned(k)) < 0)
      return; /* cancelled from on_next: end() ran */
  if (fail)
    rill_emitter_error(e, p->code, "probe");
  else
    rill_emitter_complete(e);
}

static void probe_end(void *ctx, rill_emitter_t *e) {
  (void)e;
  struct probe *p = ctx;
  p->ends++;
}

static rill_observable_t *probe(struct probe *p) {
  return rill_create(probe_start, probe_end, p);
}

/* ---- an injected random source ------------------------------------------*/
struct seq {
  const double *u;
  int n, i;
};
static double seq_next(void *ctx) {
  struct seq *q = ctx;
  return q->u[q->i++ % q->n];
}

/* ---- catch_error
 * -----------------------------------------------------------*/

struct catcher {
  int calls;
  int code_seen;
  int mode; /* 0 pass, 1 continue with `with`, 2 fail, 3 resubscribe */
  int resubscribe_times;   /* mode 3: then pass */
  rill_observable_t *with; /* handed over once */
  rec_t *cancel;           /* cancel this subscriber from inside */
  uintptr_t lo, hi;        /* stack span of the calls */
};

static int catcher_fn(void *ctx, const rill_error_t *err,
                      rill_observable_t **next) {
  struct catcher *c = ctx;
  uintptr_t at = (uintptr_t)&at;
  if (c->lo == 0 || at < c->lo)
    c->lo = at;
  if (at > c->hi)
    c->hi = at;
  c->calls++;
  c->code_seen = err->code;
  if (c->cancel != NULL)
    rec_cancel(c->cancel);
  switch (c->mode) {
  case 1:
    *next = c->with;
    c->with = NULL;
    return 0;
  case 2:
    return RILL_EPROTO;
  case 3:
    return c->calls <= c->resubscribe_times ? RILL_CATCH_RESUBSCRIBE : 0;
  default:
    return 0;
  }
}

START_TEST(catch_error_continues_with_the_selector_observable) {
  /* RxJS catchError-001: the continuation starts where the error was */
  struct catcher c = {.mode = 1, .with = marble_cold(vs, "-1-2-3-|")};
  rill_observable_t *o =
      rill_catch_error(marble_cold(vs, "--a--b--#"), catcher_fn, &c);
  ck_assert_marble(vs, o, 0, "--a--b---1-2-3-|");
  ck_assert_int_eq(c.calls, 1);
  ck_assert_int_eq(c.code_seen, RILL_EUSER);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_passes_the_error_or_fails_with_the_code) {
  struct catcher c = {.mode = 0};
  rill_observable_t *o =
      rill_catch_error(marble_cold(vs, "--a--#"), catcher_fn, &c);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "--a--#");
  ck_assert_int_eq(r.error_code, RILL_EUSER);
  rill_observable_free(o);
  c = (struct catcher){.mode = 2};
  o = rill_catch_error(marble_cold(vs, "--a--#"), catcher_fn, &c);
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "--a--#");
  ck_assert_int_eq(r.error_code, RILL_EPROTO);
  rill_observable_free(o);
  /* a completing source never calls the selector */
  c = (struct catcher){.mode = 2};
  o = rill_catch_error(marble_cold(vs, "-a-|"), catcher_fn, &c);
  ck_assert_marble(vs, o, 0, "-a-|");
  ck_assert_int_eq(c.calls, 0);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_does_not_catch_the_continuation) {
  struct catcher c = {.mode = 1, .with = marble_cold(vs, "-x-#")};
  rill_observable_t *o =
      rill_catch_error(marble_cold(vs, "-a#"), catcher_fn, &c);
  ck_assert_marble(vs, o, 0, "-a-x-#");
  ck_assert_int_eq(c.calls, 1);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_resubscribe_is_caught_again) {
  /* RxJS catchError-009: `return caught` twice, then the error passes */
  struct catcher c = {.mode = 3, .resubscribe_times = 2};
  rill_observable_t *o =
      rill_catch_error(marble_cold(vs, "--a--b--#"), catcher_fn, &c);
  ck_assert_marble(vs, o, 0, "--a--b----a--b----a--b--#");
  ck_assert_int_eq(c.calls, 3);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_carries_the_demand_over) {
  /* request 3; the source emits 1 and fails; the continuation is asked for
   * exactly 2 */
  struct probe src = {
      .fail_times = INT32_MAX, .fail_values = 1, .code = RILL_EUSER};
  struct probe with = {.final_values = 5};
  struct catcher c = {.mode = 1, .with = probe(&with)};
  rill_observable_t *o = rill_catch_error(probe(&src), catcher_fn, &c);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 3;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(src.demand[0], 3);
  ck_assert_int_eq(with.subs, 1);
  ck_assert_int_eq(with.demand[0], 2);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 10);
  ck_assert_int_eq(r.nexts, 6);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_cancel_from_inside_the_selector) {
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  struct probe src = {
      .fail_times = INT32_MAX, .fail_values = 2, .code = RILL_EUSER};
  /* the continuation it hands back holds an owned value: released */
  struct catcher c = {
      .mode = 1, .with = rill_just(1, tl_owned(9)), .cancel = &r};
  rill_observable_t *o = rill_catch_error(probe(&src), catcher_fn, &c);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(c.calls, 1);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_int_eq(src.ends, 1);
}
END_TEST

START_TEST(catch_error_cancel_from_inside_on_next) {
  struct probe src = {
      .fail_times = INT32_MAX, .fail_values = 2, .code = RILL_EUSER};
  struct probe with = {.final_values = 5};
  struct catcher c = {.mode = 1, .with = probe(&with)};
  rill_observable_t *o = rill_catch_error(probe(&src), catcher_fn, &c);
  /* in the source, then in the continuation */
  for (int at = 1; at <= 4; at += 3) {
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    r.cancel_at = at;
    r.cancel_times = 2;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    ck_assert_int_eq(r.nexts, at);
    ck_assert_int_eq(r.terminal, REC_NONE);
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    if (at == 1)
      ck_assert_int_eq(c.calls, 0);
    c.with = c.with ? c.with : probe(&with);
  }
  ck_assert_int_eq(c.calls, 1);
  ck_assert_int_eq(with.subs, 1);
  ck_assert_int_eq(with.ends, 1);
  rill_observable_free(c.with);
  rill_observable_free(o);
}
END_TEST

START_TEST(catch_error_resubscribes_a_million_times_in_flat_stack) {
  int64_t n = tl_scaled(1000000);
  struct catcher c = {.mode = 3, .resubscribe_times = (int)n};
  rill_observable_t *o =
      rill_catch_error(rill_error(RILL_EUSER, "again"), catcher_fn, &c);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(c.calls, n + 1);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_msg(c.hi - c.lo < 1024, "selector frames spread over %lu bytes",
                (unsigned long)(c.hi - c.lo));
  rill_observable_free(o);
}
END_TEST

START_TEST(on_error_return_emits_the_value_then_completes) {
  rill_observable_t *o =
      rill_on_error_return(marble_cold(vs, "-1-2-#"), rill_value_int(7));
  ck_assert_marble(vs, o, 0, "-1-2-(7|)");
  /* a second subscription gets the value too */
  ck_assert_marble(vs, o, 0, "-1-2-(7|)");
  rill_observable_free(o);
  o = rill_on_error_complete(marble_cold(vs, "-1-2-#"));
  ck_assert_marble(vs, o, 0, "-1-2-|");
  rill_observable_free(o);
  o = rill_on_error_complete(marble_cold(vs, "-1-2-|"));
  ck_assert_marble(vs, o, 0, "-1-2-|");
  rill_observable_free(o);
}
END_TEST

START_TEST(on_error_return_owned_value_released_once_per_path) {
  struct probe src = {
      .fail_times = INT32_MAX, .fail_values = 1, .code = RILL_EUSER};
  rill_observable_t *o = rill_on_error_return(probe(&src), tl_owned(42));
  /* delivered */
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 42);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  /* waiting for demand, then cancelled: dropped */
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  rec_clear(&r);
  /* the demand arrives late (create drops the value it queued when it
   * fails): the fallback value waits for it */
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), 42);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_int_eq(src.subs, 3);
  rill_observable_free(o);
  /* never subscribed */
  rill_observable_free(rill_on_error_return(rill_never(), tl_owned(1)));
}
END_TEST

START_TEST(catch_error_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_catch_error(NULL, catcher_fn, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_catch_error(rill_never(), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_on_error_return(NULL, tl_owned(1)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_on_error_complete(NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* ---- retry
 * ------------------------------------------------------------------*/

START_TEST(retry_resubscribes_up_to_the_count) {
  /* RxJS retry-001 (RxJS counts every retry: RESET_NEVER) */
  rill_retry_opts_t never = {.reset = RILL_RETRY_RESET_NEVER};
  rill_observable_t *o = rill_retry(marble_cold(vs, "--1-2-3-#"), 2, &never);
  ck_assert_marble(vs, o, 0, "--1-2-3---1-2-3---1-2-3-#");
  rill_observable_free(o);
  /* rill's default resets the count at each value: still retrying */
  o = rill_retry(marble_cold(vs, "--1-2-3-#"), 2, NULL);
  ck_assert_marble(vs, o, 40, "--1-2-3---1-2-3---1-2-3---1-2-3---1-2-3-");
  rill_observable_free(o);
  /* a source failing without a value: 2 retries either way */
  o = rill_retry(marble_cold(vs, "--#"), 2, NULL);
  ck_assert_marble(vs, o, 0, "------#");
  rill_observable_free(o);
  /* retry-010: 0 retries is the source as it is */
  o = rill_retry(marble_cold(vs, "--1-2-3-#"), 0, NULL);
  ck_assert_marble(vs, o, 0, "--1-2-3-#");
  rill_observable_free(o);
  /* unbounded: stopped by take */
  o = rill_take(rill_retry(marble_cold(vs, "-1#"), RILL_UNBOUNDED, NULL), 5);
  ck_assert_marble(vs, o, 0, "-1-1-1-1-(1|)");
  rill_observable_free(o);
}
END_TEST

/* One retry run with a source failing at once; returns the subscription
 * times in p (p->subs of them). */
static void run_backoff(rill_retry_opts_t *opts, int64_t max_retries,
                        struct probe *p) {
  memset(p, 0, sizeof(*p));
  p->fail_times = INT32_MAX;
  p->code = RILL_EUSER;
  rill_observable_t *o = rill_retry(probe(p), max_retries, opts);
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_run(vs, 1000), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EUSER);
  ck_assert_int_eq(p->subs, max_retries + 1);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}

static const double us[] = {0.5, 0.25, 0.75, 0.125, 0.875, 0.0, 0.999};
#define NUS ((int)(sizeof(us) / sizeof(us[0])))

/* The expected delay before retry k (1-based), from the header's
 * formulas, with u = us[k-1]; *prev is DECORRELATED's previous delay. */
static double want_delay(rill_jitter_t j, double init, double mult, double cap,
                         int k, double *prev) {
  double base = init * pow(mult, k - 1);
  if (cap > 0 && base > cap)
    base = cap;
  double u = us[(k - 1) % NUS];
  switch (j) {
  case RILL_JITTER_NONE:
    return base;
  case RILL_JITTER_FULL:
    return u * base;
  case RILL_JITTER_EQUAL:
    return base / 2 + u * base / 2;
  default: {
    double d = init + u * (3 * *prev - init);
    if (cap > 0 && d > cap)
      d = cap;
    *prev = d;
    return d;
  }
  }
}

START_TEST(retry_delays_are_exact_for_every_jitter_mode) {
  const rill_jitter_t modes[] = {RILL_JITTER_NONE, RILL_JITTER_FULL,
                                 RILL_JITTER_EQUAL, RILL_JITTER_DECORRELATED};
  const double mults[] = {3, 0 /* 2 */, 1.5};
  for (size_t m = 0; m < 4; m++)
    for (size_t x = 0; x < 3; x++) {
      struct seq q = {.u = us, .n = NUS};
      rill_retry_opts_t opts = {.sched = vs,
                                .initial_ms = 10,
                                .multiplier = mults[x],
                                .max_ms = 200,
                                .jitter = modes[m],
                                .random = seq_next,
                                .random_ctx = &q};
      struct probe p;
      double t0 = rill_sched_now(vs);
      run_backoff(&opts, 7, &p);
      double t = t0, prev = 10;
      double mult = mults[x] == 0 ? 2 : mults[x];
      ck_assert_double_eq(p.at[0], t0);
      for (int k = 1; k <= 7; k++) {
        t += want_delay(modes[m], 10, mult, 200, k, &prev);
        ck_assert_msg(fabs(p.at[k] - t) < 1e-9,
                      "jitter %d, multiplier %g: retry %d at %.17g, want "
                      "%.17g",
                      (int)modes[m], mult, k, p.at[k] - t0, t - t0);
      }
      /* the generator is drawn once per retry, and only with jitter */
      ck_assert_int_eq(q.i, modes[m] == RILL_JITTER_NONE ? 0 : 7);
    }
}
END_TEST

static double bad_random(void *ctx) {
  int *i = ctx;
  const double v[] = {-1.0, NAN, 1.0, 5.0};
  return v[(*i)++ % 4];
}

START_TEST(retry_clamps_the_injected_random_and_seeds_its_own) {
  /* below 0 and NaN: 0; 1 and above: just below 1 */
  int i = 0;
  rill_retry_opts_t opts = {.sched = vs,
                            .initial_ms = 8,
                            .multiplier = 1,
                            .jitter = RILL_JITTER_FULL,
                            .random = bad_random,
                            .random_ctx = &i};
  struct probe p;
  run_backoff(&opts, 4, &p);
  ck_assert_double_eq(p.at[1], p.at[0]);
  ck_assert_double_eq(p.at[2], p.at[1]);
  ck_assert(p.at[3] - p.at[2] > 7.999 && p.at[3] - p.at[2] < 8);
  ck_assert(p.at[4] - p.at[3] > 7.999 && p.at[4] - p.at[3] < 8);
  /* rill's own generator: every delay inside its bounds, and not all the
   * same (two subscriptions draw differently) */
  opts = (rill_retry_opts_t){.sched = vs,
                             .initial_ms = 100,
                             .multiplier = 1,
                             .jitter = RILL_JITTER_EQUAL};
  double first[2];
  for (int run = 0; run < 2; run++) {
    run_backoff(&opts, 10, &p);
    for (int k = 1; k <= 10; k++) {
      double d = p.at[k] - p.at[k - 1];
      ck_assert_msg(d >= 50 && d < 100, "delay %g outside [50, 100)", d);
    }
    first[run] = p.at[1] - p.at[0];
  }
  ck_assert(first[0] != first[1]);
}
END_TEST

struct pred {
  int calls;
  int64_t attempts[16];
  int answer_from; /* attempt at which `answer` replaces 1 */
  int answer;
  rec_t *cancel;
  uintptr_t lo, hi;
  int64_t limit; /* retry while attempt <= limit (the million test) */
};

static int pred_fn(void *ctx, const rill_error_t *err, int64_t attempt) {
  struct pred *p = ctx;
  uintptr_t at = (uintptr_t)&at;
  if (p->lo == 0 || at < p->lo)
    p->lo = at;
  if (at > p->hi)
    p->hi = at;
  ck_assert_int_eq(err->code, RILL_EUSER);
  if (p->calls < 16)
    p->attempts[p->calls] = attempt;
  p->calls++;
  if (p->cancel != NULL)
    rec_cancel(p->cancel);
  if (p->limit > 0)
    return attempt <= p->limit;
  return attempt >= p->answer_from ? p->answer : 1;
}

START_TEST(retry_asks_the_predicate_per_error) {
  /* 0: the error passes on, at the third error */
  struct pred pr = {.answer_from = 3, .answer = 0};
  rill_retry_opts_t opts = {.should_retry = pred_fn, .pred_ctx = &pr};
  rill_observable_t *o = rill_retry(marble_cold(vs, "--#"), 10, &opts);
  marble_result_t r;
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "------#");
  ck_assert_int_eq(r.error_code, RILL_EUSER);
  ck_assert_int_eq(pr.calls, 3);
  rill_observable_free(o);
  /* the default reset: each value starts the count again (attempt 1) */
  pr = (struct pred){.answer_from = 3, .answer = 0};
  o = rill_take(rill_retry(marble_cold(vs, "-a#"), 10, &opts), 4);
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "-a-a-a-(a|)");
  ck_assert_int_eq(pr.calls, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(pr.attempts[i], 1);
  rill_observable_free(o);
  /* counted across values with RESET_NEVER: attempts 1, 2, 3 */
  pr = (struct pred){.answer_from = 3, .answer = 0};
  opts.reset = RILL_RETRY_RESET_NEVER;
  o = rill_retry(marble_cold(vs, "-a#"), 10, &opts);
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "-a-a-a#");
  ck_assert_int_eq(pr.calls, 3);
  ck_assert_int_eq(pr.attempts[0], 1);
  ck_assert_int_eq(pr.attempts[1], 2);
  ck_assert_int_eq(pr.attempts[2], 3);
  rill_observable_free(o);
  /* negative: fail with that code */
  pr = (struct pred){.answer_from = 2, .answer = RILL_EPROTO};
  o = rill_retry(marble_cold(vs, "-a#"), 10, &opts);
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "-a-a#");
  ck_assert_int_eq(r.error_code, RILL_EPROTO);
  rill_observable_free(o);
  /* the count is checked before the predicate */
  pr = (struct pred){.answer_from = 100};
  o = rill_retry(marble_cold(vs, "-a#"), 2, &opts);
  marble_run(vs, o, 0, &r);
  ck_assert_marble_result(&r, "-a-a-a#");
  ck_assert_int_eq(pr.calls, 2);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_reset_modes_count_and_delay) {
  /* a source that emits one value then fails, retries at most 2 in a row,
   * delays 10, 20, 40... */
  rill_retry_opts_t opts = {.sched = vs, .initial_ms = 10};
  /* ON_VALUE: never exhausted, and every delay is the first one */
  rill_observable_t *o =
      rill_take(rill_retry(marble_cold(vs, "-a#"), 2, &opts), 4);
  ck_assert_marble(vs, o, 0, "-a-----------a-----------a-----------(a|)");
  rill_observable_free(o);
  /* NEVER: two retries, growing delays, then the error */
  opts.reset = RILL_RETRY_RESET_NEVER;
  o = rill_retry(marble_cold(vs, "-a#"), 2, &opts);
  /* a@1 #@2, +10 -> a@13 #@14, +20 -> a@35 #@36 */
  ck_assert_marble(vs, o, 0, "-a<13>a<35>a#");
  rill_observable_free(o);
  /* a source failing without a value is not reset by ON_VALUE */
  opts.reset = RILL_RETRY_RESET_ON_VALUE;
  o = rill_retry(marble_cold(vs, "--#"), 2, &opts);
  /* #@2, +10 -> #@14, +20 -> #@36 */
  ck_assert_marble(vs, o, 0, "<36>#");
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_carries_the_demand_over) {
  /* request 3; the source emits 1 then fails; the retry is asked for
   * exactly 2, and (after a delay) requests made meanwhile are added */
  struct probe p = {.fail_times = 1,
                    .fail_values = 1,
                    .final_values = 10,
                    .code = RILL_EUSER};
  rill_observable_t *o = rill_retry(probe(&p), 3, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 3;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.subs, 2);
  ck_assert_int_eq(p.demand[0], 3);
  ck_assert_int_eq(p.demand[1], 2);
  ck_assert_int_eq(r.nexts, 3);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.nexts, 11);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  /* with a delay */
  p = (struct probe){.fail_times = 1,
                     .fail_values = 1,
                     .final_values = 10,
                     .code = RILL_EUSER};
  rill_retry_opts_t opts = {.sched = vs, .initial_ms = 5};
  o = rill_retry(probe(&p), 3, &opts);
  rec_init(&r);
  r.request_on_subscribe = 3;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.subs, 1);
  rec_request(&r, 4);
  ck_assert_int_eq(rill_sched_advance_by(vs, 5), 0);
  ck_assert_int_eq(p.subs, 2);
  ck_assert_int_eq(p.demand[1], 6);
  ck_assert_int_eq(r.nexts, 7);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_cancel_during_the_delay_stops_the_timer) {
  struct probe p = {
      .fail_times = INT32_MAX, .fail_values = 2, .code = RILL_EUSER};
  rill_retry_opts_t opts = {.sched = vs, .initial_ms = 50};
  rill_observable_t *o = rill_retry(probe(&p), RILL_UNBOUNDED, &opts);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_active(vs), 1);
  ck_assert_int_eq(rill_sched_advance_by(vs, 20), 0);
  rec_cancel(&r);
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_run(vs, 100), 0);
  ck_assert_int_eq(p.subs, 1);
  ck_assert_int_eq(p.ends, 1);
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_cancel_from_inside_on_next_and_the_predicate) {
  /* from on_next, in the second attempt (after a delay) */
  struct probe p = {
      .fail_times = INT32_MAX, .fail_values = 2, .code = RILL_EUSER};
  rill_retry_opts_t opts = {.sched = vs, .initial_ms = 3};
  rill_observable_t *o = rill_retry(probe(&p), RILL_UNBOUNDED, &opts);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 3;
  r.cancel_times = 2;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_run(vs, 100), 0);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(p.subs, 2);
  ck_assert_int_eq(p.ends, 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
  /* from the predicate: no retry, no terminal, no timer */
  memset(&p, 0, sizeof(p));
  p.fail_times = INT32_MAX;
  p.fail_values = 1;
  p.code = RILL_EUSER;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  struct pred pr = {.answer_from = 100, .cancel = &r};
  opts.should_retry = pred_fn;
  opts.pred_ctx = &pr;
  o = rill_retry(probe(&p), RILL_UNBOUNDED, &opts);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(pr.calls, 1);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(p.subs, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_owned_values_released_once) {
  /* delivered, dropped by a cancel, and through a failed retry */
  struct probe p = {
      .fail_times = 2, .fail_values = 3, .final_values = 4, .code = RILL_EUSER};
  rill_observable_t *o = rill_retry(probe(&p), 5, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 10);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rec_init(&r);
  r.request_on_subscribe = 4; /* the rest waits in create's queue */
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(retry_one_request_per_on_next_never_nests) {
  /* the source fails from inside the loop that serves a request made in
   * on_next: the retry subscribes again, and nothing nests */
  rill_observable_t *parts[2] = {rill_range(0, 2),
                                 rill_error(RILL_EUSER, "late")};
  rill_retry_opts_t never = {.reset = RILL_RETRY_RESET_NEVER};
  rill_observable_t *o = rill_retry(rill_concat(parts, 2), 1000, &never);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 2002);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < 1024,
                "on_next frames spread over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_a_million_synchronous_failures_in_flat_stack) {
  int64_t n = tl_scaled(1000000);
  struct pred pr = {.limit = n};
  rill_retry_opts_t opts = {.should_retry = pred_fn, .pred_ctx = &pr};
  rill_observable_t *o =
      rill_retry(rill_error(RILL_EUSER, "down"), RILL_UNBOUNDED, &opts);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(pr.calls, n + 1);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_msg(pr.hi - pr.lo < 1024, "predicate frames spread over %lu bytes",
                (unsigned long)(pr.hi - pr.lo));
  rill_observable_free(o);
  /* and by the count */
  o = rill_retry(rill_error(RILL_EUSER, "down"), n, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  rill_observable_free(o);
}
END_TEST

/* The delay notifier: timer(k) for retries 1 and 2, then `last`. */
struct notif {
  int calls;
  int last; /* 0 empty, 1 error, 2 negative return, 3 NULL out, 4 never */
  rec_t *cancel;
};

static int notif_fn(void *ctx, const rill_error_t *err, int64_t k,
                    rill_observable_t **out) {
  struct notif *nf = ctx;
  ck_assert_int_eq(err->code, RILL_EUSER);
  nf->calls++;
  if (nf->cancel != NULL) {
    rec_cancel(nf->cancel);
    *out = rill_just(1, tl_owned(1));
    return 0;
  }
  if (k <= 2) {
    *out = rill_timer(vs, (double)k);
    return 0;
  }
  switch (nf->last) {
  case 0:
    *out = rill_empty();
    return 0;
  case 1:
    *out = rill_error(RILL_EPROTO, "notifier");
    return 0;
  case 2:
    return RILL_EEOF;
  case 3:
    return 0;
  default:
    *out = rill_never();
    return 0;
  }
}

START_TEST(retry_notifier_times_each_retry) {
  /* RxJS retry-017: the notifier's completion completes */
  struct notif nf = {.last = 0};
  rill_retry_opts_t opts = {.notifier = notif_fn,
                            .notifier_ctx = &nf,
                            .reset = RILL_RETRY_RESET_NEVER};
  rill_observable_t *o =
      rill_retry(marble_cold(vs, "---a---b---#"), RILL_UNBOUNDED, &opts);
  ck_assert_marble(vs, o, 0, "---a---b-------a---b--------a---b---|");
  ck_assert_int_eq(nf.calls, 3);
  rill_observable_free(o);
  /* its error fails the stream; so does a negative return, or no
   * observable (EINVAL) */
  const int want[] = {RILL_EPROTO, RILL_EEOF, RILL_EINVAL};
  for (int last = 1; last <= 3; last++) {
    nf = (struct notif){.last = last};
    o = rill_retry(marble_cold(vs, "-a#"), RILL_UNBOUNDED, &opts);
    marble_result_t r;
    marble_run(vs, o, 0, &r);
    ck_assert_marble_result(&r, "-a--a---a#");
    ck_assert_int_eq(r.error_code, want[last - 1]);
    rill_observable_free(o);
  }
  /* a notifier with an initial delay is ambiguous: EINVAL */
  opts.sched = vs;
  opts.initial_ms = 1;
  errno = 0;
  ck_assert_ptr_null(rill_retry(rill_never(), 1, &opts));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(retry_notifier_cancelled_while_waiting_or_from_inside) {
  struct notif nf = {.last = 4};
  rill_retry_opts_t opts = {.notifier = notif_fn,
                            .notifier_ctx = &nf,
                            .reset = RILL_RETRY_RESET_NEVER};
  struct probe p = {
      .fail_times = INT32_MAX, .fail_values = 1, .code = RILL_EUSER};
  rill_observable_t *o = rill_retry(probe(&p), RILL_UNBOUNDED, &opts);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_active(vs), 1); /* timer(1) */
  ck_assert_int_eq(rill_sched_run(vs, 100), 0);
  ck_assert_int_eq(p.subs, 3);
  ck_assert_int_eq(nf.calls, 3); /* waiting for never() */
  rec_cancel(&r);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_clear(&r);
  /* cancelled from inside the notifier function: what it returned is
   * released */
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  nf = (struct notif){.cancel = &r};
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(nf.calls, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(retry_bad_arguments) {
  struct {
    rill_retry_opts_t o;
    int64_t max;
  } bad[] = {
      {{.sched = NULL, .initial_ms = 1}, 1},
      {{.sched = vs, .initial_ms = -1}, 1},
      {{.sched = vs, .initial_ms = NAN}, 1},
      {{.sched = vs, .initial_ms = 1, .multiplier = 0.5}, 1},
      {{.sched = vs, .initial_ms = 1, .multiplier = -2}, 1},
      {{.sched = vs, .initial_ms = 1, .multiplier = NAN}, 1},
      {{.sched = vs, .initial_ms = 1, .max_ms = -1}, 1},
      {{.sched = vs, .initial_ms = 1, .max_ms = NAN}, 1},
      {{.sched = vs, .jitter = (rill_jitter_t)7}, 1},
      {{.reset = (rill_retry_reset_t)9}, 1},
      {{0}, -1},
      {{0}, INT64_MIN},
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    ck_assert_ptr_null(rill_retry(rill_never(), bad[i].max, &bad[i].o));
    ck_assert_msg(errno == EINVAL, "case %zu: errno %d", i, errno);
  }
  errno = 0;
  ck_assert_ptr_null(rill_retry(NULL, 1, NULL));
  ck_assert_int_eq(errno, EINVAL);
  /* good edges: a scheduler without a delay; infinite cap; multiplier 1 */
  rill_retry_opts_t ok = {.sched = vs, .max_ms = INFINITY, .multiplier = 1};
  rill_observable_t *o = rill_retry(rill_never(), 0, &ok);
  ck_assert_ptr_nonnull(o);
  rill_observable_free(o);
}
END_TEST

/* ---- repeat
 * -------------------------------------------------------------------*/

START_TEST(repeat_subscribes_count_times) {
  rill_observable_t *o = rill_repeat(marble_cold(vs, "--a-b|"), 3, NULL, 0);
  ck_assert_marble(vs, o, 0, "--a-b--a-b--a-b|");
  rill_observable_free(o);
  /* with a delay between subscriptions (none after the last) */
  o = rill_repeat(marble_cold(vs, "--a-b|"), 3, vs, 4);
  ck_assert_marble(vs, o, 0, "--a-b<11>a-b<20>a-b|");
  rill_observable_free(o);
  /* 0: completes at once, the source is never subscribed */
  struct probe p = {.final_values = 1};
  o = rill_repeat(probe(&p), 0, NULL, 0);
  ck_assert_marble(vs, o, 0, "|");
  ck_assert_int_eq(p.subs, 0);
  rill_observable_free(o);
  /* forever, stopped by take */
  o = rill_take(rill_repeat(marble_cold(vs, "-a|"), RILL_UNBOUNDED, vs, 1), 3);
  ck_assert_marble(vs, o, 0, "-a--a--(a|)");
  rill_observable_free(o);
  /* an error ends it */
  o = rill_repeat(marble_cold(vs, "-a#"), 3, NULL, 0);
  ck_assert_marble(vs, o, 0, "-a#");
  rill_observable_free(o);
}
END_TEST

START_TEST(repeat_carries_the_demand_over_and_cancels_in_the_delay) {
  struct probe p = {.final_values = 2};
  rill_observable_t *o = rill_repeat(probe(&p), 5, vs, 10);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 3;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(p.demand[0], 3);
  ck_assert_int_eq(rill_sched_advance_by(vs, 10), 0);
  ck_assert_int_eq(p.subs, 2);
  ck_assert_int_eq(p.demand[1], 1);
  ck_assert_int_eq(r.nexts, 3);
  rec_request(&r, 1); /* the second subscription completes: a delay */
  ck_assert_int_eq(rill_sched_active(vs), 1);
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(p.ends, 2);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  /* cancel from on_next */
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 3;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(rill_sched_run(vs, 100), 0);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(repeat_a_million_synchronous_times_in_flat_stack) {
  int64_t n = tl_scaled(1000000);
  rill_observable_t *o =
      rill_repeat(rill_just(1, rill_value_int(5)), n, NULL, 0);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_msg(r.stack_hi - r.stack_lo < 1024,
                "on_next frames spread over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
  /* one at a time from on_next */
  o = rill_repeat(rill_just(1, rill_value_int(5)), tl_scaled(100000), NULL, 0);
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, tl_scaled(100000));
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_rec_ok(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(repeat_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_repeat(NULL, 1, NULL, 0));
  ck_assert_int_eq(errno, EINVAL);
  const struct {
    int64_t count;
    rill_sched_t *s;
    double delay;
  } bad[] = {{-1, NULL, 0},
             {2, NULL, 1},
             {2, (rill_sched_t *)1, -1},
             {2, (rill_sched_t *)1, NAN}};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    rill_sched_t *s = bad[i].s ? vs : NULL;
    ck_assert_ptr_null(
        rill_repeat(rill_never(), bad[i].count, s, bad[i].delay));
    ck_assert_msg(errno == EINVAL, "case %zu: errno %d", i, errno);
  }
}
END_TEST

Suite *recover_suite(void) {
  Suite *s = suite_create("recover");
  TCase *tc = tcase_create("catch_error");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, catch_error_continues_with_the_selector_observable);
  tcase_add_test(tc, catch_error_passes_the_error_or_fails_with_the_code);
  tcase_add_test(tc, catch_error_does_not_catch_the_continuation);
  tcase_add_test(tc, catch_error_resubscribe_is_caught_again);
  tcase_add_test(tc, catch_error_carries_the_demand_over);
  tcase_add_test(tc, catch_error_cancel_from_inside_the_selector);
  tcase_add_test(tc, catch_error_cancel_from_inside_on_next);
  tcase_add_test(tc, catch_error_resubscribes_a_million_times_in_flat_stack);
  tcase_add_test(tc, on_error_return_emits_the_value_then_completes);
  tcase_add_test(tc, on_error_return_owned_value_released_once_per_path);
  tcase_add_test(tc, catch_error_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("retry");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, retry_resubscribes_up_to_the_count);
  tcase_add_test(tc, retry_delays_are_exact_for_every_jitter_mode);
  tcase_add_test(tc, retry_clamps_the_injected_random_and_seeds_its_own);
  tcase_add_test(tc, retry_asks_the_predicate_per_error);
  tcase_add_test(tc, retry_reset_modes_count_and_delay);
  tcase_add_test(tc, retry_carries_the_demand_over);
  tcase_add_test(tc, retry_cancel_during_the_delay_stops_the_timer);
  tcase_add_test(tc, retry_cancel_from_inside_on_next_and_the_predicate);
  tcase_add_test(tc, retry_owned_values_released_once);
  tcase_add_test(tc, retry_one_request_per_on_next_never_nests);
  tcase_add_test(tc, retry_a_million_synchronous_failures_in_flat_stack);
  tcase_add_test(tc, retry_notifier_times_each_retry);
  tcase_add_test(tc, retry_notifier_cancelled_while_waiting_or_from_inside);
  tcase_add_test(tc, retry_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("repeat");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, repeat_subscribes_count_times);
  tcase_add_test(tc, repeat_carries_the_demand_over_and_cancels_in_the_delay);
  tcase_add_test(tc, repeat_a_million_synchronous_times_in_flat_stack);
  tcase_add_test(tc, repeat_bad_arguments);
  suite_add_tcase(s, tc);
  return s;
}
