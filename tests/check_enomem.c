/* SPDX-License-Identifier: MIT */
/* rill tests: allocation failure at every site, for the time sources and
 * operators the battery does not reach (throttle, debounce, sample, audit,
 * interval, timer, take_until; retry's timer and notifier, repeat's delay,
 * catch_error's timed continuation), for rill_create (issue 7, section 7),
 * and for the combining operators over timed sources (zip, combine_latest,
 * with_latest_from).
 *
 * Each sweep first runs the pipeline with no failure (the reference), then
 * fails allocation 0, 1, 2, ... in turn, each run on a fresh virtual
 * scheduler, until a run reaches no injected failure (that run must equal
 * the reference).  With allocation k failing, exactly one of these holds:
 *   - the constructor returned NULL with errno ENOMEM;
 *   - rill_observable_subscribe() returned RILL_ENOMEM (nothing called);
 *   - the stream ended with on_error(RILL_ENOMEM);
 *   - the failure was recoverable and the stream completed with exactly the
 *     reference values.
 * Never a hang (no terminal once the clock has run out of timers), never a
 * quiet completion with missing or extra values, never another error.
 * After every run: owned values balanced, the allocator's live count back
 * to its baseline, rill_sched_active() == 0, the scheduler frees. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

#define MAXV 64

struct outcome {
  bool ctor_null;     /* the constructor failed (errno ENOMEM) */
  int sub_rc;         /* rill_observable_subscribe's result */
  enum rec_terminal terminal;
  int code;           /* error code when terminal == REC_ERROR */
  size_t n;           /* values seen */
  int64_t v[MAXV];    /* their ints */
  double t[MAXV];     /* their virtual times */
  double t_end;       /* virtual time of the terminal */
  bool reached;       /* the injected failure was reached */
};

/* A map to owned values that reports a failed box as RILL_ENOMEM (a NONE
 * value would pass as data and look like a wrong value). */
static int owned_or_enomem(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  rill_value_t v = tl_owned(in.as.i);
  if (v.kind == RILL_KIND_NONE)
    return RILL_ENOMEM;
  *out = v;
  return 0;
}

static rill_observable_t *owned(rill_observable_t *src) {
  return rill_map(src, owned_or_enomem, NULL);
}

static void tr_on_subscribe(void *ctx, rill_subscription_t *sub);
static void tr_on_next(void *ctx, rill_value_t v);
static void tr_on_error(void *ctx, const rill_error_t *err);
static void tr_on_complete(void *ctx);
static const rill_subscriber_t tr_sub = {.on_subscribe = tr_on_subscribe,
                                         .on_next = tr_on_next,
                                         .on_error = tr_on_error,
                                         .on_complete = tr_on_complete};

/* A protocol-checking recorder that also notes the virtual time of each
 * signal (rec_t has no clock). */
struct sweep_rec {
  rill_sched_t *s;
  rill_subscription_t *sub;
  int subscribes;
  int64_t requested, nexts;
  int64_t request_on_subscribe, request_in_next;
  enum rec_terminal terminal;
  int terminals;
  int code;
  size_t n;
  int64_t v[MAXV];
  double t[MAXV];
  double t_end;
  int violations;
  char violation[128];
};

static void sr_violate(struct sweep_rec *r, const char *what) {
  if (r->violations++ == 0)
    snprintf(r->violation, sizeof(r->violation), "%s", what);
}

static void sr_request(struct sweep_rec *r, int64_t n) {
  if (r->terminal != REC_NONE || r->sub == NULL)
    return;
  r->requested = r->requested > INT64_MAX - n ? INT64_MAX : r->requested + n;
  rill_subscription_request(r->sub, n);
}

static void tr_on_subscribe(void *ctx, rill_subscription_t *sub) {
  struct sweep_rec *r = ctx;
  if (r->subscribes++ > 0)
    sr_violate(r, "second on_subscribe");
  r->sub = sub;
  if (r->request_on_subscribe > 0)
    sr_request(r, r->request_on_subscribe);
}

static void tr_on_next(void *ctx, rill_value_t v) {
  struct sweep_rec *r = ctx;
  if (r->terminal != REC_NONE)
    sr_violate(r, "on_next after terminal");
  if (r->nexts >= r->requested)
    sr_violate(r, "on_next beyond demand");
  r->nexts++;
  if (r->n < MAXV) {
    r->v[r->n] = v.kind == RILL_KIND_OWNED ? tl_owned_int(v)
                 : v.kind == RILL_KIND_INT ? v.as.i
                                           : INT64_MIN;
    r->t[r->n] = rill_sched_now(r->s);
    r->n++;
  }
  rill_value_release(v);
  if (r->request_in_next > 0)
    sr_request(r, r->request_in_next);
}

static void sr_terminal(struct sweep_rec *r, enum rec_terminal t) {
  if (r->terminal != REC_NONE)
    sr_violate(r, "second terminal");
  r->terminal = t;
  r->terminals++;
  r->t_end = rill_sched_now(r->s);
}

static void tr_on_error(void *ctx, const rill_error_t *err) {
  struct sweep_rec *r = ctx;
  sr_terminal(r, REC_ERROR);
  r->code = err->code;
}

static void tr_on_complete(void *ctx) {
  sr_terminal(ctx, REC_COMPLETE);
}

typedef rill_observable_t *(*mk_fn)(rill_sched_t *s);

/* Demand shapes: everything up front; one at a time from on_next; or
 * nothing until the clock has run 50 ms (values due meanwhile meet no
 * demand: the overflow policies' paths), then everything. */
enum { D_UNBOUNDED, D_ONE_BY_ONE, D_LATE };

/* One run with allocation `k` failing (-1: none).  Fails the test on a
 * broken invariant that holds whatever the outcome (protocol, leaks,
 * timers left armed, owned values). */
static void run_once(const char *name, mk_fn mk, int demand, long k,
                     struct outcome *out) {
  memset(out, 0, sizeof(*out));
  tl_owned_reset();
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_nonnull(s);
  tl_alloc_index = 0;
  tl_fail_at = k;
  errno = 0;
  rill_observable_t *o = mk(s);
  if (o == NULL) {
    ck_assert_msg(errno == ENOMEM, "%s: site %ld: NULL with errno %d", name, k,
                  errno);
    out->ctor_null = true;
  }
  struct sweep_rec r = {.s = s};
  r.request_on_subscribe = demand == D_UNBOUNDED    ? RILL_UNBOUNDED
                           : demand == D_ONE_BY_ONE ? 1
                                                    : 0;
  r.request_in_next = demand == D_ONE_BY_ONE ? 1 : 0;
  rill_subscription_t *h = NULL;
  out->sub_rc = o ? rill_observable_subscribe(o, &tr_sub, &r, &h) : 0;
  if (o != NULL && out->sub_rc == 0) {
    if (demand == D_LATE) {
      ck_assert_int_eq(rill_sched_advance_by(s, 50), 0);
      sr_request(&r, RILL_UNBOUNDED);
    }
    int rc = rill_sched_run(s, 100000);
    ck_assert_msg(rc == 0, "%s: site %ld: the scheduler never went idle", name,
                  k);
  }
  out->reached = tl_alloc_index > k;
  tl_fail_at = -1;
  if (o != NULL && out->sub_rc != 0) {
    ck_assert_msg(out->sub_rc == RILL_ENOMEM, "%s: site %ld: subscribe gave %s",
                  name, k, rill_err_name(out->sub_rc));
    ck_assert_msg(r.subscribes == 0 && r.terminals == 0,
                  "%s: site %ld: subscribe failed but called back", name, k);
  }
  ck_assert_msg(r.violations == 0, "%s: site %ld: protocol violation: %s",
                name, k, r.violation);
  out->terminal = r.terminal;
  out->code = r.code;
  out->n = r.n;
  memcpy(out->v, r.v, sizeof(r.v));
  memcpy(out->t, r.t, sizeof(r.t));
  out->t_end = r.t_end;
  bool hang = o != NULL && out->sub_rc == 0 && r.terminal == REC_NONE;
  if (h != NULL)
    rill_subscription_free(h); /* cancels a hung stream, so cleanup holds */
  rill_observable_free(o);
  ck_assert_msg(!hang,
                "%s: site %ld: no terminal signal once every timer had fired "
                "(a hang), after %zu values",
                name, k, r.n);
  ck_assert_msg(rill_sched_active(s) == 0, "%s: site %ld: %d timers left armed",
                name, k, rill_sched_active(s));
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "%s: site %ld: %ld blocks leaked", name, k,
                live - baseline);
  ck_assert_msg(tl_owned_made == tl_owned_released,
                "%s: site %ld: owned values: %ld made, %ld released", name, k,
                tl_owned_made, tl_owned_released);
}

static bool same_values(const struct outcome *a, const struct outcome *b) {
  if (a->n != b->n)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i] != b->v[i] || a->t[i] != b->t[i])
      return false;
  return true;
}

static void render(const struct outcome *o, char *buf, size_t cap) {
  size_t at = 0;
  at += (size_t)snprintf(buf + at, cap - at, "[");
  for (size_t i = 0; i < o->n && at < cap - 32; i++)
    at += (size_t)snprintf(buf + at, cap - at, "%s%lld@%g", i ? " " : "",
                           (long long)o->v[i], o->t[i]);
  snprintf(buf + at, cap - at, "] %s",
           o->ctor_null          ? "ctor NULL"
           : o->sub_rc           ? rill_err_name(o->sub_rc)
           : o->terminal == REC_COMPLETE ? "complete"
           : o->terminal == REC_ERROR    ? rill_err_name(o->code)
                                         : "none");
}

/* Returns how many sites were swept. */
static long sweep(const char *name, mk_fn mk, int demand) {
  struct outcome ref;
  run_once(name, mk, demand, -1, &ref);
  ck_assert_msg(ref.terminal == REC_COMPLETE &&
                    (ref.n > 0 || demand == D_LATE),
                "%s (demand %d): the reference run did not complete with "
                "values",
                name, demand);
  char want[512], got[512];
  render(&ref, want, sizeof(want));
  long k;
  for (k = 0;; k++) {
    struct outcome x;
    run_once(name, mk, demand, k, &x);
    render(&x, got, sizeof(got));
    if (!x.reached) {
      ck_assert_msg(x.terminal == REC_COMPLETE && same_values(&x, &ref) &&
                        x.t_end == ref.t_end,
                    "%s: site %ld (none injected): got %s, want %s", name, k,
                    got, want);
      break;
    }
    if (x.ctor_null || x.sub_rc == RILL_ENOMEM)
      continue;
    if (x.terminal == REC_ERROR) {
      ck_assert_msg(x.code == RILL_ENOMEM, "%s: site %ld: got %s, want ENOMEM",
                    name, k, got);
      continue;
    }
    /* completed although an allocation failed: only with every value */
    ck_assert_msg(same_values(&x, &ref),
                  "%s: site %ld: completed quietly with %s, want %s or ENOMEM",
                  name, k, got, want);
  }
  ck_assert_int_gt(k, 0);
  return k;
}

/* ---- the pipelines ------------------------------------------------------*/

static const char *const busy = "-a-b-c---d-e-------f-g|";

static rill_observable_t *p_throttle_leading(rill_sched_t *s) {
  return rill_throttle(owned(marble_cold(s, busy)), s, 3, NULL);
}
static rill_observable_t *p_throttle_trailing(rill_sched_t *s) {
  return rill_throttle(
      owned(marble_cold(s, busy)), s, 3,
      &(rill_throttle_opts_t){.edges = RILL_THROTTLE_LEADING |
                                       RILL_THROTTLE_TRAILING});
}
static rill_observable_t *p_debounce(rill_sched_t *s) {
  return rill_debounce(owned(marble_cold(s, busy)), s, 3, NULL);
}
static rill_observable_t *p_sample(rill_sched_t *s) {
  return rill_sample(owned(marble_cold(s, busy)), s, 3, NULL);
}
static rill_observable_t *p_audit(rill_sched_t *s) {
  return rill_audit(owned(marble_cold(s, busy)), s, 3, NULL);
}
static rill_observable_t *p_interval(rill_sched_t *s) {
  return rill_take(owned(rill_interval(s, 2, NULL)), 5);
}
static rill_observable_t *p_interval_latest(rill_sched_t *s) {
  return rill_take(owned(rill_interval(s, 2, OVF(RILL_OVERFLOW_LATEST))), 5);
}
static rill_observable_t *p_timer(rill_sched_t *s) {
  return owned(rill_timer(s, 3));
}
static rill_observable_t *p_take_until(rill_sched_t *s) {
  rill_observable_t *notifier = rill_timer(s, 7);
  if (notifier == NULL)
    return rill_take_until(NULL, NULL); /* both NULL: EINVAL or ENOMEM */
  return rill_take_until(owned(rill_interval(s, 2, NULL)), notifier);
}
static rill_observable_t *p_take_until_marble(rill_sched_t *s) {
  rill_observable_t *notifier = marble_cold(s, "--------x|");
  if (notifier == NULL)
    return rill_take_until(NULL, NULL);
  return rill_take_until(owned(marble_cold(s, busy)), notifier);
}

/* Recovering (issue 9): the timer and notifier paths of retry and repeat,
 * and a timed continuation of catch_error.  Only RILL_EUSER is recovered
 * from, so an injected ENOMEM still ends the stream with ENOMEM. */
static rill_sched_t *recover_s;
static int flaky_count;

/* Fails its first two subscriptions, completes the later ones. */
static void flaky_start(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  if (flaky_count++ < 2)
    rill_emitter_error(e, RILL_EUSER, "flaky");
  else
    rill_emitter_complete(e);
}
static rill_observable_t *flaky_timed(rill_sched_t *s) {
  flaky_count = 0;
  rill_observable_t *parts[2] = {owned(marble_cold(s, "-1-2-|")),
                                 rill_create(flaky_start, NULL, NULL)};
  return rill_concat(parts, 2);
}
static int only_euser(void *ctx, const rill_error_t *err, int64_t attempt) {
  (void)ctx;
  (void)attempt;
  return err->code == RILL_EUSER;
}
static double half_random(void *ctx) {
  (void)ctx;
  return 0.5;
}
static rill_observable_t *p_delay_subscription(rill_sched_t *s) {
  return rill_delay_subscription(owned(marble_cold(s, "-1-2|")), s, 3);
}
static rill_observable_t *p_retry_backoff(rill_sched_t *s) {
  rill_retry_opts_t opts = {.sched = s,
                            .initial_ms = 5,
                            .jitter = RILL_JITTER_FULL,
                            .random = half_random,
                            .should_retry = only_euser};
  return rill_retry(flaky_timed(s), 3, &opts);
}
static int timer_notifier(void *ctx, const rill_error_t *err, int64_t k,
                          rill_observable_t **out) {
  (void)ctx;
  (void)err;
  *out = rill_timer(recover_s, 3.0 * (double)k);
  return *out ? 0 : RILL_ENOMEM;
}
static rill_observable_t *p_retry_notifier(rill_sched_t *s) {
  recover_s = s;
  rill_retry_opts_t opts = {.should_retry = only_euser,
                            .notifier = timer_notifier};
  return rill_retry(flaky_timed(s), 3, &opts);
}
static rill_observable_t *p_repeat_delay(rill_sched_t *s) {
  return rill_repeat(owned(marble_cold(s, "-1-2|")), 3, s, 4);
}
static int catch_timed(void *ctx, const rill_error_t *err,
                       rill_observable_t **next) {
  (void)ctx;
  if (err->code != RILL_EUSER)
    return 0;
  *next = owned(marble_cold(recover_s, "--3-4|"));
  return *next ? 0 : RILL_ENOMEM;
}
static rill_observable_t *p_catch_error(rill_sched_t *s) {
  recover_s = s;
  return rill_catch_error(owned(marble_cold(s, "-1-2#")), catch_timed, NULL);
}

/* Combining sources (tests/check_combine.c): timed sources of owned
 * values, combined into an owned value (a failed box is RILL_ENOMEM) or
 * into arrays. */
static int owned_sum(void *ctx, const rill_value_t *v, size_t n,
                     rill_value_t *out) {
  (void)ctx;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 10 + tl_owned_int(v[i]);
  *out = tl_owned(x);
  return out->kind == RILL_KIND_NONE ? RILL_ENOMEM : 0;
}
static rill_observable_t *p_combining(rill_sched_t *s, int which, bool arrays) {
  /* no two sources signal in the same frame */
  rill_observable_t *src[3] = {owned(marble_cold(s, "-1--2--3--4|")),
                               owned(marble_cold(s, "--5--6--7|")),
                               owned(marble_cold(s, "9--8--7--6--|"))};
  rill_combine_fn fn = arrays ? NULL : owned_sum;
  if (which == 0)
    return rill_zip(src, 3, fn, NULL);
  if (which == 1)
    return rill_combine_latest(src, 3, fn, NULL);
  return rill_with_latest_from(src[0], src + 1, 2, fn, NULL);
}
static rill_observable_t *p_zip(rill_sched_t *s) {
  return p_combining(s, 0, false);
}
static rill_observable_t *p_zip_arrays(rill_sched_t *s) {
  return p_combining(s, 0, true);
}
static rill_observable_t *p_combine_latest(rill_sched_t *s) {
  return p_combining(s, 1, false);
}
static rill_observable_t *p_combine_latest_arrays(rill_sched_t *s) {
  return p_combining(s, 1, true);
}
static rill_observable_t *p_with_latest_from(rill_sched_t *s) {
  return p_combining(s, 2, false);
}
static rill_observable_t *p_with_latest_from_arrays(rill_sched_t *s) {
  return p_combining(s, 2, true);
}

struct pipeline {
  const char *name;
  mk_fn mk;
};

static const struct pipeline pipelines[] = {
    {"throttle", p_throttle_leading},
    {"throttle_trailing", p_throttle_trailing},
    {"debounce", p_debounce},
    {"sample", p_sample},
    {"audit", p_audit},
    {"interval", p_interval},
    {"interval_latest", p_interval_latest},
    {"timer", p_timer},
    {"take_until", p_take_until},
    {"take_until_marble", p_take_until_marble},
    {"retry_backoff", p_retry_backoff},
    {"retry_notifier", p_retry_notifier},
    {"repeat_delay", p_repeat_delay},
    {"catch_error", p_catch_error},
    {"delay_subscription", p_delay_subscription},
    {"zip", p_zip},
    {"zip_arrays", p_zip_arrays},
    {"combine_latest", p_combine_latest},
    {"combine_latest_arrays", p_combine_latest_arrays},
    {"with_latest_from", p_with_latest_from},
    {"with_latest_from_arrays", p_with_latest_from_arrays},
};
#define NPIPELINES ((int)(sizeof(pipelines) / sizeof(pipelines[0])))

START_TEST(time_operator_fails_cleanly_at_every_allocation) {
  const struct pipeline *p = &pipelines[_i];
  long a = sweep(p->name, p->mk, D_UNBOUNDED);
  long b = sweep(p->name, p->mk, D_ONE_BY_ONE);
  long c = sweep(p->name, p->mk, D_LATE);
  ck_assert_int_gt(a + b + c, 3);
}
END_TEST

/* ---- the notifier forms and buffer_time's options (check_notifier.c) ---
 * The duration functions allocate (a marble timeline per value): a failure
 * there is the function's RILL_ENOMEM, which fails the stream with it. */
static int enomem_duration(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = marble_cold(ctx, "--x");
  return *out ? 0 : RILL_ENOMEM;
}
static rill_observable_t *p_debounce_with(rill_sched_t *s) {
  return rill_debounce_with(owned(marble_cold(s, busy)), enomem_duration, s,
                            NULL);
}
static rill_observable_t *p_throttle_with(rill_sched_t *s) {
  return rill_throttle_with(owned(marble_cold(s, busy)), enomem_duration, s,
                            NULL);
}
static rill_observable_t *p_throttle_with_trailing(rill_sched_t *s) {
  return rill_throttle_with(
      owned(marble_cold(s, busy)), enomem_duration, s,
      &(rill_throttle_opts_t){.edges = RILL_THROTTLE_LEADING |
                                       RILL_THROTTLE_TRAILING});
}
static rill_observable_t *p_sample_with(rill_sched_t *s) {
  rill_observable_t *notifier = marble_cold(s, "--x--x--x--x--x--x--x--x|");
  if (notifier == NULL)
    return rill_sample_with(NULL, NULL, NULL); /* EINVAL or ENOMEM */
  return rill_sample_with(owned(marble_cold(s, busy)), notifier, NULL);
}
static rill_observable_t *p_buffer_time_overlapping(rill_sched_t *s) {
  return rill_buffer_time(
      owned(marble_cold(s, busy)), s, 5,
      &(rill_buffer_time_opts_t){.creation_ms = 2, .max_size = 3});
}
static rill_observable_t *p_buffer_time_max_size(rill_sched_t *s) {
  return rill_buffer_time(owned(marble_cold(s, busy)), s, 4,
                          &(rill_buffer_time_opts_t){.max_size = 2});
}

static const struct pipeline notifier_pipelines[] = {
    {"debounce_with", p_debounce_with},
    {"throttle_with", p_throttle_with},
    {"throttle_with_trailing", p_throttle_with_trailing},
    {"sample_with", p_sample_with},
    {"buffer_time_overlapping", p_buffer_time_overlapping},
    {"buffer_time_max_size", p_buffer_time_max_size},
};
#define NNOTIFIER                                                              \
  ((int)(sizeof(notifier_pipelines) / sizeof(notifier_pipelines[0])))

START_TEST(notifier_form_fails_cleanly_at_every_allocation) {
  const struct pipeline *p = &notifier_pipelines[_i];
  long a = sweep(p->name, p->mk, D_UNBOUNDED);
  long b = sweep(p->name, p->mk, D_ONE_BY_ONE);
  long c = sweep(p->name, p->mk, D_LATE);
  ck_assert_int_gt(a + b + c, 3);
}
END_TEST

/* The NULL-notifier guard above must not hide a failed constructor:
 * rill_take_until(NULL, NULL) keeps errno ENOMEM from the failed timer. */
START_TEST(take_until_null_sources_keep_enomem) {
  errno = ENOMEM;
  ck_assert_ptr_null(rill_take_until(NULL, NULL));
  ck_assert_int_eq(errno, ENOMEM);
}
END_TEST

/* ---- rill_create --------------------------------------------------------*/

struct pusher {
  int count;       /* values to push from start() */
  bool ended;      /* end() ran: the emitter is off limits */
  int push_failed; /* rill_emitter_next's first failure */
  rill_emitter_t *e;
};

static struct pusher the_pusher;

static void pusher_start(void *ctx, rill_emitter_t *e) {
  struct pusher *p = ctx;
  p->e = e;
  for (int i = 0; i < p->count && !p->ended; i++) {
    rill_value_t v = tl_owned(i);
    if (v.kind == RILL_KIND_NONE) {
      rill_emitter_error(e, RILL_ENOMEM, "no box");
      return;
    }
    int rc = rill_emitter_next(e, v);
    if (rc < 0) {
      ck_assert_int_eq(rc, RILL_ENOMEM);
      p->push_failed = rc;
      return; /* the subscription has failed: end() ran */
    }
  }
  if (!p->ended)
    rill_emitter_complete(e);
}

static void pusher_end(void *ctx, rill_emitter_t *e) {
  struct pusher *p = ctx;
  ck_assert_ptr_eq(e, p->e);
  p->ended = true;
}

/* Push 20 owned values then complete, with demand given up front
 * (`demand` > 0) or only after everything was queued (demand 0: the queue
 * grows with no request, then one unbounded request drains it). */
static void create_sweep(int64_t demand, int64_t later) {
  for (long k = -1;; k++) {
    tl_owned_reset();
    tl_alloc_install();
    long baseline = tl_live;
    tl_fail_at = k;
    errno = 0;
    memset(&the_pusher, 0, sizeof(the_pusher));
    the_pusher.count = 20;
    rill_observable_t *o = rill_create(pusher_start, pusher_end, &the_pusher);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = demand;
    int rc = RILL_ENOMEM;
    if (o == NULL)
      ck_assert_int_eq(errno, ENOMEM);
    else
      rc = rec_subscribe(&r, o);
    if (rc == 0 && later > 0)
      rec_request(&r, later);
    bool reached = k >= 0 && tl_alloc_index > k;
    tl_fail_at = -1;
    ck_assert_rec_ok(&r);
    if (rc != 0) {
      ck_assert_int_eq(rc, RILL_ENOMEM);
      ck_assert_int_eq(r.subscribes, 0);
    } else {
      ck_assert_msg(r.terminal != REC_NONE,
                    "create: site %ld: no terminal (%lld values)", k,
                    (long long)r.nexts);
      /* end() pairs with start(): it runs once the subscription that
       * started has ended (a subscription that failed before start() has
       * neither) */
      ck_assert_msg(the_pusher.e == NULL || the_pusher.ended,
                    "create: site %ld: start() ran, end() never did", k);
      if (r.terminal == REC_ERROR) {
        ck_assert_msg(r.err.code == RILL_ENOMEM, "create: site %ld: %s", k,
                      rill_err_name(r.err.code));
        ck_assert_msg(reached, "create: failed with no injected failure");
      } else {
        ck_assert_msg(r.values.len == 20,
                      "create: site %ld: completed with %zu values of 20", k,
                      r.values.len);
        for (size_t i = 0; i < 20; i++)
          ck_assert_int_eq(rec_int(&r, i), (int64_t)i);
        ck_assert_int_eq(the_pusher.push_failed, 0);
      }
    }
    rec_clear(&r);
    rill_observable_free(o);
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_msg(live == baseline, "create: site %ld: %ld blocks leaked", k,
                  live - baseline);
    ck_assert_owned_balanced();
    if (k >= 0 && !reached) {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_int_gt(k, 2);
      break;
    }
  }
}

START_TEST(create_push_with_demand_fails_cleanly_at_every_allocation) {
  create_sweep(RILL_UNBOUNDED, 0);
}
END_TEST

START_TEST(create_push_without_demand_fails_cleanly_at_every_allocation) {
  create_sweep(0, RILL_UNBOUNDED);
}
END_TEST

START_TEST(create_push_with_some_demand_fails_cleanly_at_every_allocation) {
  create_sweep(3, RILL_UNBOUNDED);
}
END_TEST

Suite *enomem_suite(void) {
  Suite *s = suite_create("enomem");
  TCase *tc = tcase_create("time");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, time_operator_fails_cleanly_at_every_allocation, 0,
                      NPIPELINES);
  tcase_add_test(tc, take_until_null_sources_keep_enomem);
  tcase_add_loop_test(tc, notifier_form_fails_cleanly_at_every_allocation, 0,
                      NNOTIFIER);
  suite_add_tcase(s, tc);
  tc = tcase_create("create");
  tcase_add_test(tc, create_push_with_demand_fails_cleanly_at_every_allocation);
  tcase_add_test(tc,
                 create_push_without_demand_fails_cleanly_at_every_allocation);
  tcase_add_test(
      tc, create_push_with_some_demand_fails_cleanly_at_every_allocation);
  suite_add_tcase(s, tc);
  return s;
}
