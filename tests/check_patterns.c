/* SPDX-License-Identifier: MIT */
/* rill tests: the resilience and combination operators the way users
 * combine them (../shared/reference/async-patterns.md 1.B, 1.C, 3.C, 3.E,
 * 3.F): retry and circuit breaker in both orders, a hedged request, the
 * dashboard of five widgets, three CDN mirrors, combinators of nothing,
 * fork_join without zombies, scatter-gather with per-leg timeouts,
 * backoff with full jitter, one limiter shared by two call sites,
 * merge_map's bound over 10,000 calls, sequential calls that never
 * overlap what they hold, timeout's timer after success, a deadline
 * around retries, half-open trials, notifications through a merge,
 * finalize on the resilience paths, fallback chains, critical and
 * optional data, polling, typeahead, a GPS feed thinned out, requests
 * with the latest token; a keyed throttle per sensor stopped by SIGINT,
 * and cancelled from its downstream; and breaker + retry + timeout once
 * on libev.
 *
 * Virtual time.  The remote side is a "service": every subscription is
 * one call, which plays a marble script on its own timer (times in ms,
 * '<t>' for a far instant) and logs when it started, when it ended and
 * whether it was cancelled; a gauge shared by several services counts the
 * calls in flight and their high-water mark.  Values are owned
 * (tl_owned), so every test also proves each value released once. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rill/ev.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* Application error codes of the fake services. */
#define E_DOWN (RILL_EAPP_BASE - 503)  /* transient: worth a retry */
#define E_FATAL (RILL_EAPP_BASE - 400) /* permanent: retrying is useless */
#define E_A (RILL_EAPP_BASE - 1)
#define E_B (RILL_EAPP_BASE - 2)

/* ---- gauge: calls in flight across services -------------------------------*/

#define GAUGE_LOG 64

/* In flight: started, not yet answered (its terminal emitted) nor
 * cancelled.  Held: from start() to end(), i.e. until the source has let
 * go of what the call holds (a connection, a permit). */
struct gauge {
  int live, hwm;
  int held, held_hwm;
  int starts;
  int ids[GAUGE_LOG]; /* which service started, in order */
  double at[GAUGE_LOG];
};

/* ---- service: one call per subscription -----------------------------------*/

#define SVC_LOG 32
#define SVC_SCRIPTS 4
#define SVC_EVENTS 16

struct svc;
/* Events of call k (when the scripts are not enough); returns their count. */
typedef int (*svc_plan_fn)(struct svc *svc, int k, marble_event_t *ev);

struct svc {
  rill_sched_t *s;
  int id;                 /* logged in the gauge */
  int code;               /* of '#' */
  int codes[SVC_SCRIPTS]; /* per script, when not 0 */
  marble_event_t ev[SVC_SCRIPTS][SVC_EVENTS];
  int nev[SVC_SCRIPTS], nscripts; /* call k plays script min(k, n-1) */
  svc_plan_fn plan;
  struct gauge own, *g;
  int calls, ends, cancels, emitted;
  double start[SVC_LOG], stop[SVC_LOG];
  bool cancelled[SVC_LOG];
};

struct svc_call {
  struct svc *svc;
  int k, script;
  rill_emitter_t *e;
  rill_sched_timer_t *timer;
  marble_event_t ev[SVC_EVENTS];
  int nev, next;
  double t0;
  bool finished; /* ended by itself (else cancelled) */
};

static void svc_arm(struct svc_call *c) {
  if (c->next < c->nev)
    rill_sched_timer_start(c->timer, c->t0 + c->ev[c->next].at -
                                         rill_sched_now(c->svc->s));
}

static void svc_fire(rill_sched_timer_t *t, void *arg) {
  struct svc_call *c = arg;
  (void)t;
  double now = rill_sched_now(c->svc->s) - c->t0;
  while (c->next < c->nev && c->ev[c->next].at <= now) {
    const marble_event_t *ev = &c->ev[c->next++];
    if (ev->kind == 'n') {
      c->svc->emitted++;
      if (rill_emitter_next(c->e, tl_owned(ev->value)) == RILL_ECANCELED)
        return; /* end() ran and freed c */
      continue;
    }
    c->finished = true;
    c->svc->g->live--;
    if (ev->kind == '|') {
      rill_emitter_complete(c->e);
    } else {
      char msg[48];
      snprintf(msg, sizeof(msg), "call %d failed", c->k);
      int code = c->svc->codes[c->script];
      rill_emitter_error(c->e, code != 0 ? code : c->svc->code, msg);
    }
    return; /* c is gone */
  }
  svc_arm(c);
}

static void svc_start(void *ctx, rill_emitter_t *e) {
  struct svc *svc = ctx;
  struct svc_call *c = calloc(1, sizeof(*c));
  ck_assert_ptr_nonnull(c);
  c->svc = svc;
  c->k = svc->calls++;
  c->e = e;
  c->t0 = rill_sched_now(svc->s);
  if (c->k < SVC_LOG)
    svc->start[c->k] = c->t0;
  if (svc->plan != NULL) {
    c->nev = svc->plan(svc, c->k, c->ev);
  } else {
    int i = c->k < svc->nscripts ? c->k : svc->nscripts - 1;
    c->script = i;
    c->nev = svc->nev[i];
    memcpy(c->ev, svc->ev[i], sizeof(c->ev));
  }
  struct gauge *g = svc->g;
  if (++g->live > g->hwm)
    g->hwm = g->live;
  if (++g->held > g->held_hwm)
    g->held_hwm = g->held;
  if (g->starts < GAUGE_LOG) {
    g->ids[g->starts] = svc->id;
    g->at[g->starts] = c->t0;
  }
  g->starts++;
  c->timer = rill_sched_timer_new(svc->s, svc_fire, c);
  ck_assert_ptr_nonnull(c->timer);
  rill_emitter_set_data(e, c);
  svc_arm(c);
}

static void svc_end(void *ctx, rill_emitter_t *e) {
  struct svc *svc = ctx;
  struct svc_call *c = rill_emitter_data(e);
  svc->ends++;
  svc->cancels += !c->finished;
  if (c->k < SVC_LOG) {
    svc->stop[c->k] = rill_sched_now(svc->s);
    svc->cancelled[c->k] = !c->finished;
  }
  svc->g->held--;
  if (!c->finished)
    svc->g->live--;
  rill_sched_timer_free(c->timer);
  free(c);
}

/* A service whose calls play `scripts` (NULL-terminated, at most 4) in
 * turn, the last one for every later call; '#' fails with `code`. */
static rill_observable_t *svc_new(struct svc *svc, rill_sched_t *s, int code,
                                  const char *const *scripts) {
  memset(svc, 0, sizeof(*svc));
  svc->s = s;
  svc->code = code;
  svc->g = &svc->own;
  for (int i = 0; scripts != NULL && scripts[i] != NULL; i++) {
    ck_assert_int_lt(i, SVC_SCRIPTS);
    svc->nev[i] = marble_parse(scripts[i], svc->ev[i], SVC_EVENTS);
    ck_assert_int_ge(svc->nev[i], 0);
    svc->nscripts = i + 1;
  }
  rill_observable_t *o = rill_create(svc_start, svc_end, svc);
  ck_assert_ptr_nonnull(o);
  return o;
}

#define SCRIPTS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Call k of `svc`: started at `t0`, ended at `t1`, cancelled or not. */
#define ck_assert_call(svc, k, t0, t1, cancel)                                 \
  do {                                                                         \
    ck_assert_int_gt((svc)->calls, (k));                                       \
    ck_assert_msg((svc)->start[k] == (t0) && (svc)->stop[k] == (t1) &&         \
                      (svc)->cancelled[k] == (cancel),                         \
                  "%s call %d: %g..%g%s, want %g..%g%s", #svc, (k),            \
                  (svc)->start[k], (svc)->stop[k],                             \
                  (svc)->cancelled[k] ? " cancelled" : "", (double)(t0),       \
                  (double)(t1), (cancel) ? " cancelled" : "");                 \
  } while (0)

/* ---- out: the user's subscriber, with virtual times -----------------------*/

#define OUT_MAX 64

struct out {
  rill_sched_t *s;
  rill_subscription_t *h;   /* our handle (rill_subscription_free) */
  rill_subscription_t *sub; /* borrowed */
  int64_t demand;           /* asked in on_subscribe (0: nothing) */
  int subscribes, terminals;
  enum rec_terminal terminal;
  rill_error_t err;
  double end_at;
  int active_at_end; /* rill_sched_active() inside on_error/on_complete */
  int64_t n, requested;
  int64_t v[OUT_MAX];
  double at[OUT_MAX];
  bool keep; /* keep the values (out_end releases them) */
  rill_value_t kept[OUT_MAX];
  int violations;
};

static int64_t int_of(rill_value_t v) {
  if (v.kind == RILL_KIND_OWNED && rill_value_notification(v) == NULL)
    return tl_owned_int(v);
  return v.kind == RILL_KIND_INT ? v.as.i : -1;
}

static void out_on_subscribe(void *ctx, rill_subscription_t *sub) {
  struct out *o = ctx;
  if (o->subscribes++ > 0)
    o->violations++;
  o->sub = sub;
  if (o->demand > 0) {
    o->requested = o->demand;
    rill_subscription_request(sub, o->demand);
  }
}

static void out_on_next(void *ctx, rill_value_t v) {
  struct out *o = ctx;
  if (o->terminals > 0 || o->n >= o->requested)
    o->violations++;
  if (o->n < OUT_MAX) {
    o->v[o->n] = int_of(v);
    o->at[o->n] = rill_sched_now(o->s);
    if (o->keep) {
      o->kept[o->n++] = v;
      return;
    }
  }
  o->n++;
  rill_value_release(v);
}

static void out_terminal(struct out *o, enum rec_terminal t) {
  if (o->terminals++ > 0 || o->subscribes == 0)
    o->violations++;
  o->terminal = t;
  o->end_at = rill_sched_now(o->s);
  o->active_at_end = rill_sched_active(o->s);
}

static void out_on_error(void *ctx, const rill_error_t *err) {
  struct out *o = ctx;
  out_terminal(o, REC_ERROR);
  o->err = *err;
}

static void out_on_complete(void *ctx) {
  out_terminal(ctx, REC_COMPLETE);
}

static const rill_subscriber_t out_sub = {.on_subscribe = out_on_subscribe,
                                          .on_next = out_on_next,
                                          .on_error = out_on_error,
                                          .on_complete = out_on_complete};

/* Subscribe (the recipe is not consumed) asking for `demand` (0: none). */
static void out_start(struct out *o, rill_sched_t *s, rill_observable_t *obs,
                      int64_t demand) {
  ck_assert_ptr_nonnull(obs);
  memset(o, 0, sizeof(*o));
  o->s = s;
  o->demand = demand;
  ck_assert_int_eq(rill_observable_subscribe(obs, &out_sub, o, &o->h), 0);
  ck_assert_int_eq(o->subscribes, 1);
}

static void out_keep(struct out *o, rill_sched_t *s, rill_observable_t *obs) {
  memset(o, 0, sizeof(*o));
  o->keep = true;
  o->s = s;
  o->demand = RILL_UNBOUNDED;
  ck_assert_int_eq(rill_observable_subscribe(obs, &out_sub, o, &o->h), 0);
}

static void out_request(struct out *o, int64_t n) {
  o->requested += n;
  rill_subscription_request(o->h, n);
}

static void out_end(struct out *o) {
  ck_assert_int_eq(o->violations, 0);
  for (int64_t i = 0; o->keep && i < o->n && i < OUT_MAX; i++)
    rill_value_release(o->kept[i]);
  o->n = 0;
  rill_subscription_free(o->h);
  o->h = NULL;
}

#define ck_assert_next(o, i, t, val)                                           \
  do {                                                                         \
    ck_assert_int_gt((o)->n, (i));                                             \
    ck_assert_msg((o)->at[i] == (t) && (o)->v[i] == (val),                     \
                  "value %d: %lld at %g, want %lld at %g", (i),                \
                  (long long)(o)->v[i], (o)->at[i], (long long)(val),          \
                  (double)(t));                                                \
  } while (0)

#define ck_assert_completed_at(o, t)                                           \
  do {                                                                         \
    ck_assert_int_eq((o)->terminals, 1);                                       \
    ck_assert_msg((o)->terminal == REC_COMPLETE,                               \
                  "want completion, got error %s: %s",                         \
                  rill_err_name((o)->err.code), (o)->err.message);             \
    ck_assert_double_eq((o)->end_at, (t));                                     \
  } while (0)

#define ck_assert_failed_at(o, t, code_)                                       \
  do {                                                                         \
    ck_assert_int_eq((o)->terminals, 1);                                       \
    ck_assert_int_eq((o)->terminal, REC_ERROR);                                \
    ck_assert_int_eq((o)->err.code, (code_));                                  \
    ck_assert_double_eq((o)->end_at, (t));                                     \
  } while (0)

/* ---- breaker transitions --------------------------------------------------*/

struct trans {
  double at;
  rill_breaker_state_t from, to;
};

struct watch {
  rill_sched_t *s;
  struct trans t[16];
  int n;
};

static void watch_on_state(void *ctx, rill_breaker_state_t from,
                           rill_breaker_state_t to) {
  struct watch *w = ctx;
  ck_assert_int_lt(w->n, 16);
  w->t[w->n++] = (struct trans){rill_sched_now(w->s), from, to};
}

static rill_breaker_t *breaker_watched(rill_sched_t *s, struct watch *w,
                                       rill_breaker_opts_t o) {
  memset(w, 0, sizeof(*w));
  w->s = s;
  o.on_state = watch_on_state;
  o.ctx = w;
  rill_breaker_t *b = rill_breaker_new(s, &o);
  ck_assert_ptr_nonnull(b);
  return b;
}

#define C RILL_BREAKER_CLOSED
#define O RILL_BREAKER_OPEN
#define H RILL_BREAKER_HALF_OPEN

static void assert_trans(const struct watch *w, int i, double at,
                         rill_breaker_state_t from, rill_breaker_state_t to) {
  ck_assert_int_gt(w->n, i);
  ck_assert_msg(w->t[i].at == at && w->t[i].from == from && w->t[i].to == to,
                "transition %d: %d->%d at %g, want %d->%d at %g", i,
                w->t[i].from, w->t[i].to, w->t[i].at, from, to, at);
}

#define ck_assert_bstats(b, calls_, ok_, fail_, rej_)                          \
  do {                                                                         \
    rill_breaker_stats_t st_;                                                  \
    rill_breaker_stats((b), &st_);                                             \
    ck_assert_msg(                                                             \
        st_.calls == (calls_) && st_.successes == (ok_) &&                     \
            st_.failures == (fail_) && st_.rejections == (rej_),               \
        "breaker: calls %llu ok %llu fail %llu rej %llu",                      \
        (unsigned long long)st_.calls, (unsigned long long)st_.successes,      \
        (unsigned long long)st_.failures, (unsigned long long)st_.rejections); \
  } while (0)

/* ---- small pieces
 * ----------------------------------------------------------*/

static void begin(void) {
  tl_owned_reset();
}

static void finish(rill_sched_t *s) {
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ck_assert_owned_balanced();
}

/* The k-th element of an array value, as a notification (borrowed). */
static const rill_notification_t *settled_at(const struct out *o, size_t k) {
  ck_assert_int_eq(o->n, 1);
  ck_assert_int_eq(o->kept[0].kind, RILL_KIND_ARRAY);
  const rill_notification_t *nt =
      rill_value_notification(rill_array_at(o->kept[0].as.array, k));
  ck_assert_ptr_nonnull(nt);
  return nt;
}

#define ck_assert_settled_next(o, k, val)                                      \
  do {                                                                         \
    const rill_notification_t *nt_ = settled_at((o), (k));                     \
    ck_assert_int_eq(nt_->kind, RILL_NOTIFICATION_NEXT);                       \
    ck_assert_int_eq(int_of(nt_->value), (val));                               \
  } while (0)

#define ck_assert_settled_error(o, k, code_)                                   \
  do {                                                                         \
    const rill_notification_t *nt_ = settled_at((o), (k));                     \
    ck_assert_int_eq(nt_->kind, RILL_NOTIFICATION_ERROR);                      \
    ck_assert_int_eq(nt_->error.code, (code_));                                \
  } while (0)

/* ===========================================================================
 * 1. Retry and circuit breaker: which wraps which (003 Exercise 4; 1.C #25)
 * ========================================================================= */

/* breaker(retry(call)): the breaker sees the retry set as one call, so a
 * set that exhausts its retries is exactly one failure. */
START_TEST(retry_inside_a_breaker_counts_one_failure_per_exhausted_set) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *call = svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#"));
  struct watch w;
  rill_breaker_t *b = breaker_watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 2, .open_ms = 1000});
  rill_observable_t *req = rill_circuit_breaker(
      rill_retry(call, 2, &(rill_retry_opts_t){.sched = s, .initial_ms = 100}),
      b);
  struct out o;
  /* set 1: attempts at 0, 110 (+100), 320 (+200); gives up at 330 */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 329), 0);
  ck_assert_int_eq(o.terminals, 0);
  ck_assert_bstats(b, 1, 0, 0, 0); /* one call, still running */
  ck_assert_int_eq(rill_sched_advance_to(s, 330), 0);
  ck_assert_failed_at(&o, 330, E_DOWN);
  ck_assert_int_eq(svc.calls, 3);
  ck_assert_call(&svc, 0, 0, 10, false);
  ck_assert_call(&svc, 1, 110, 120, false);
  ck_assert_call(&svc, 2, 320, 330, false);
  ck_assert_bstats(b, 1, 0, 1, 0); /* three attempts, one failure */
  ck_assert_int_eq(w.n, 0);
  ck_assert_int_eq(rill_sched_active(s), 0);
  out_end(&o);
  /* set 2: attempts at 330, 440, 650; the second failure opens it */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 660), 0);
  ck_assert_failed_at(&o, 660, E_DOWN);
  ck_assert_int_eq(svc.calls, 6);
  ck_assert_call(&svc, 5, 650, 660, false);
  ck_assert_int_eq(w.n, 1);
  assert_trans(&w, 0, 660, C, O);
  ck_assert_bstats(b, 2, 0, 2, 0);
  out_end(&o);
  /* set 3: rejected at once, the service untouched, no retry inside */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_failed_at(&o, 660, RILL_EBREAKER_OPEN);
  ck_assert_str_eq(o.err.message,
                   "circuit_breaker: open; half-open at 1660 ms (in 1000 ms)");
  ck_assert_int_eq(svc.calls, 6);
  ck_assert_int_eq(rill_sched_active(s), 1); /* the breaker's own timer */
  ck_assert_bstats(b, 2, 0, 2, 1);
  out_end(&o);
  rill_observable_free(req);
  rill_breaker_free(b); /* the last reference: its timer goes */
  finish(s);
}
END_TEST

/* retry(breaker(call)): every attempt is a breaker call; once the breaker
 * opens, the retries meet RILL_EBREAKER_OPEN, and the last one is what the
 * user sees. */
START_TEST(breaker_inside_retry_counts_each_attempt_and_retry_meets_it_open) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *call = svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#"));
  struct watch w;
  rill_breaker_t *b = breaker_watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 3, .open_ms = 1000});
  rill_observable_t *req =
      rill_retry(rill_circuit_breaker(call, b), 3,
                 &(rill_retry_opts_t){.sched = s, .initial_ms = 100});
  struct out o;
  /* attempts at 0, 110, 320: the third failure (330) opens the breaker;
   * retry 3, at 330 + 400, is rejected and was the last */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 729), 0);
  ck_assert_int_eq(o.terminals, 0);
  assert_trans(&w, 0, 330, C, O);
  ck_assert_bstats(b, 3, 0, 3, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 730), 0);
  ck_assert_failed_at(&o, 730, RILL_EBREAKER_OPEN);
  ck_assert_str_eq(o.err.stage, "circuit_breaker");
  ck_assert_str_eq(o.err.message,
                   "circuit_breaker: open; half-open at 1330 ms (in 600 ms)");
  ck_assert_int_eq(svc.calls, 3);
  ck_assert_call(&svc, 2, 320, 330, false);
  ck_assert_bstats(b, 3, 0, 3, 1);
  ck_assert_int_eq(rill_sched_active(s), 1); /* the breaker's timer only */
  out_end(&o);
  rill_observable_free(req);
  /* at 1330 it half-opens; nothing else was left running */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_double_eq(rill_sched_now(s), 1330);
  assert_trans(&w, 1, 1330, O, H);
  rill_breaker_free(b);
  finish(s);
}
END_TEST

static int no_retry_when_open(void *ctx, const rill_error_t *err,
                              int64_t attempt) {
  int *calls = ctx;
  (void)attempt;
  (*calls)++;
  return err->code != RILL_EBREAKER_OPEN;
}

/* Without a delay, retry resubscribes from on_error and the breaker has
 * recorded the failure first: the remaining retries are spent on
 * rejections in the same instant -- unless should_retry stops at
 * RILL_EBREAKER_OPEN. */
START_TEST(immediate_retries_are_spent_against_an_open_breaker) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *call = svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#"));
  struct watch w;
  rill_breaker_t *b = breaker_watched(
      s, &w, (rill_breaker_opts_t){.consecutive_failures = 3, .open_ms = 1000});
  rill_observable_t *cb = rill_circuit_breaker(call, b);
  rill_observable_t *burn = rill_retry(rill_observable_ref(cb), 5, NULL);
  int asked = 0;
  rill_observable_t *stop =
      rill_retry(cb, 5,
                 &(rill_retry_opts_t){.should_retry = no_retry_when_open,
                                      .pred_ctx = &asked});
  struct out o;
  out_start(&o, s, burn, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 1000), 0);
  /* attempts at 0, 10, 20; open at 30; retries 3, 4, 5 rejected at 30 */
  ck_assert_failed_at(&o, 30, RILL_EBREAKER_OPEN);
  ck_assert_int_eq(svc.calls, 3);
  assert_trans(&w, 0, 30, C, O);
  ck_assert_bstats(b, 3, 0, 3, 3);
  out_end(&o);
  /* half-open at 1030: one trial (fails at 1040), then one rejection */
  ck_assert_int_eq(rill_sched_advance_to(s, 1030), 0);
  out_start(&o, s, stop, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 1040), 0);
  ck_assert_failed_at(&o, 1040, RILL_EBREAKER_OPEN);
  ck_assert_int_eq(asked, 2); /* E_DOWN: retry; EBREAKER_OPEN: stop */
  ck_assert_int_eq(svc.calls, 4);
  ck_assert_call(&svc, 3, 1030, 1040, false);
  assert_trans(&w, 2, 1040, H, O);
  ck_assert_bstats(b, 4, 0, 4, 4);
  out_end(&o);
  rill_observable_free(burn);
  rill_observable_free(stop);
  rill_breaker_free(b);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 2. Hedged request: any(primary, fallback subscribed 2 s later)
 *    (001 interview question; 1.B #18)
 * ========================================================================= */

static rill_observable_t *hedge(rill_observable_t *primary,
                                rill_observable_t *fallback, rill_sched_t *s) {
  rill_observable_t *both[2] = {primary,
                                rill_delay_subscription(fallback, s, 2000)};
  return rill_any(both, 2);
}

START_TEST(hedged_request_slow_primary_fast_fallback_answers_at_2500) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, f;
  rill_observable_t *req = hedge(svc_new(&p, s, E_A, SCRIPTS("<3000>(1|)")),
                                 svc_new(&f, s, E_B, SCRIPTS("<500>(2|)")), s);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 1999), 0);
  ck_assert_int_eq(f.calls, 0); /* not hedged yet */
  ck_assert_int_eq(rill_sched_advance_to(s, 2000), 0);
  ck_assert_int_eq(f.calls, 1);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_next(&o, 0, 2500, 2);
  ck_assert_completed_at(&o, 2500);
  ck_assert_int_eq(o.active_at_end, 0); /* the primary's timer is gone */
  ck_assert_call(&p, 0, 0, 2500, true);
  ck_assert_call(&f, 0, 2000, 2500, false);
  ck_assert_int_eq(p.emitted, 0);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

START_TEST(hedged_request_fast_primary_never_starts_the_fallback) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, f;
  rill_observable_t *req = hedge(svc_new(&p, s, E_A, SCRIPTS("<1500>(1|)")),
                                 svc_new(&f, s, E_B, SCRIPTS("<500>(2|)")), s);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_next(&o, 0, 1500, 1);
  ck_assert_completed_at(&o, 1500);
  ck_assert_int_eq(o.active_at_end, 0); /* the hedge timer stopped */
  ck_assert_int_eq(f.calls, 0);
  ck_assert_double_eq(rill_sched_now(s), 1500);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* Both fail: one error, at the last failure, with the count and the
 * first failure (in time: the fallback's) -- Promise.any's AggregateError
 * reduced to its first reason. */
START_TEST(hedged_request_both_failing_is_one_error_naming_two) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, f;
  rill_observable_t *req = hedge(svc_new(&p, s, E_A, SCRIPTS("<3000>#")),
                                 svc_new(&f, s, E_B, SCRIPTS("<500>#")), s);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_failed_at(&o, 3000, E_B);
  ck_assert_str_eq(o.err.stage, "any");
  ck_assert_str_eq(o.err.message,
                   "any: all 2 sources failed; first: call 0 failed");
  ck_assert_call(&p, 0, 0, 3000, false);
  ck_assert_call(&f, 0, 2000, 2500, false);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* A hedge is not a failover: a primary failing early does not start the
 * fallback early; the fallback still starts at 2 s. */
START_TEST(hedged_request_early_primary_failure_waits_for_the_hedge) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, f;
  rill_observable_t *req = hedge(svc_new(&p, s, E_A, SCRIPTS("<1000>#")),
                                 svc_new(&f, s, E_B, SCRIPTS("<500>(2|)")), s);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_call(&p, 0, 0, 1000, false);
  ck_assert_call(&f, 0, 2000, 2500, false);
  ck_assert_next(&o, 0, 2500, 2);
  ck_assert_completed_at(&o, 2500);
  out_end(&o);
  rill_observable_free(req);
  /* both failing, the primary first: its code */
  req = hedge(svc_new(&p, s, E_A, SCRIPTS("<1000>#")),
              svc_new(&f, s, E_B, SCRIPTS("<500>#")), s);
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 5000, E_A);
  ck_assert_str_eq(o.err.message,
                   "any: all 2 sources failed; first: call 0 failed");
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* The user gives up at 2200 ms, both calls in flight: both are cancelled
 * then, with the hedge's timer long gone. */
START_TEST(hedged_request_cancelled_with_both_calls_in_flight) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, f;
  rill_observable_t *req = hedge(svc_new(&p, s, E_A, SCRIPTS("<3000>(1|)")),
                                 svc_new(&f, s, E_B, SCRIPTS("<500>(2|)")), s);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 2200), 0);
  ck_assert_int_eq(rill_sched_active(s), 2);
  rill_subscription_cancel(o.h);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_call(&p, 0, 0, 2200, true);
  ck_assert_call(&f, 0, 2000, 2200, true);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.terminals, 0);
  ck_assert_int_eq(o.n, 0);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 3. Combinators of alternatives and of everything (001 quizzes; 1.B)
 * ========================================================================= */

/* A dashboard of five widgets, #3 down: all_settled gives every outcome at
 * its own index, once the slowest has answered. */
START_TEST(all_settled_of_five_where_the_third_fails) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc w[5];
  const char *scripts[5] = {"<30>({100}|)", "<10>({101}|)", "<20>#",
                            "<50>({103}|)", "<40>({104}|)"};
  rill_observable_t *src[5];
  for (int i = 0; i < 5; i++)
    src[i] = svc_new(&w[i], s, E_DOWN, SCRIPTS(scripts[i]));
  rill_observable_t *dash = rill_all_settled(src, 5);
  struct out o;
  out_keep(&o, s, dash);
  ck_assert_int_eq(rill_sched_advance_to(s, 49), 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 50), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_double_eq(o.at[0], 50);
  ck_assert_completed_at(&o, 50);
  ck_assert_int_eq(rill_array_len(o.kept[0].as.array), 5);
  ck_assert_settled_next(&o, 0, 100);
  ck_assert_settled_next(&o, 1, 101);
  ck_assert_settled_error(&o, 2, E_DOWN);
  ck_assert_str_eq(settled_at(&o, 2)->error.message, "call 0 failed");
  ck_assert_settled_next(&o, 3, 103);
  ck_assert_settled_next(&o, 4, 104);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(w[i].cancels, 0);
  out_end(&o);
  rill_observable_free(dash);
  finish(s);
}
END_TEST

static rill_observable_t *mirrors(struct svc m[3], rill_sched_t *s, bool any) {
  rill_observable_t *src[3] = {
      svc_new(&m[0], s, E_A, SCRIPTS("<50>#")),
      svc_new(&m[1], s, E_B, SCRIPTS("<80>({2}|)")),
      svc_new(&m[2], s, E_B, SCRIPTS("<120>({3}|)")),
  };
  return any ? rill_any(src, 3) : rill_race(src, 3);
}

/* Three CDN mirrors; the fastest fails, the second answers: any() gives
 * the second's value, race() gives the first's error. */
START_TEST(cdn_mirrors_any_skips_the_fast_failure_race_returns_it) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc m[3];
  rill_observable_t *req = mirrors(m, s, true);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_next(&o, 0, 80, 2);
  ck_assert_completed_at(&o, 80);
  ck_assert_call(&m[0], 0, 0, 50, false);
  ck_assert_call(&m[1], 0, 0, 80, false);
  ck_assert_call(&m[2], 0, 0, 80, true);
  out_end(&o);
  rill_observable_free(req);
  req = mirrors(m, s, false);
  double t0 = rill_sched_now(s);
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_failed_at(&o, t0 + 50, E_A);
  ck_assert_str_eq(o.err.message, "call 0 failed");
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&m[1], 0, t0, t0 + 50, true);
  ck_assert_call(&m[2], 0, t0, t0 + 50, true);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* Mirrors behind one breaker that is open: its rejection is an error
 * like any other, so race() fails at once, while any() sets it aside and
 * waits for a mirror that answers. */
START_TEST(an_open_breaker_loses_race_for_everyone_but_not_any) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){.consecutive_failures = 1, .open_ms = 1000});
  struct svc down, m0, m1;
  struct out o;
  rill_observable_t *trip =
      rill_circuit_breaker(svc_new(&down, s, E_DOWN, SCRIPTS("#")), b);
  out_start(&o, s, trip, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 10), 0);
  out_end(&o);
  ck_assert_int_eq(rill_breaker_state(b), RILL_BREAKER_OPEN);
  for (int k = 0; k < 2; k++) {
    rill_observable_t *src[2] = {
        rill_circuit_breaker(svc_new(&m0, s, E_A, SCRIPTS("<30>({1}|)")), b),
        svc_new(&m1, s, E_A, SCRIPTS("<40>({2}|)"))};
    rill_observable_t *req = k == 0 ? rill_race(src, 2) : rill_any(src, 2);
    double t0 = rill_sched_now(s);
    out_start(&o, s, req, RILL_UNBOUNDED);
    ck_assert_int_eq(rill_sched_advance_to(s, t0 + 100), 0);
    ck_assert_int_eq(m0.calls, 0);
    if (k == 0) {
      ck_assert_failed_at(&o, t0, RILL_EBREAKER_OPEN);
      ck_assert_int_eq(m1.calls, 0); /* decided before it was subscribed */
    } else {
      ck_assert_next(&o, 0, t0 + 40, 2);
      ck_assert_completed_at(&o, t0 + 40);
    }
    out_end(&o);
    rill_observable_free(req);
  }
  ck_assert_bstats(b, 1, 0, 1, 2);
  rill_observable_free(trip);
  rill_breaker_free(b);
  finish(s);
}
END_TEST

/* Combinators of nothing, as rill.h documents them: race() completes at
 * once (RxJava; RxJS race() would never settle), any() fails with
 * RILL_EEMPTY,
 * fork_join() completes without a value and without a request, and
 * all_settled() gives an empty array when asked. */
START_TEST(combinators_of_zero_sources_do_what_rill_h_says) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct out o;
  rill_observable_t *r = rill_race(NULL, 0);
  out_start(&o, s, r, 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_completed_at(&o, 0); /* at once, without a request */
  out_end(&o);
  ck_assert_int_eq(rill_sched_advance_to(s, 1000000), 0);
  rill_observable_free(r);

  r = rill_any(NULL, 0);
  out_start(&o, s, r, 0);
  ck_assert_failed_at(&o, 1000000, RILL_EEMPTY);
  ck_assert_str_eq(o.err.stage, "any");
  out_end(&o);
  rill_observable_free(r);

  r = rill_fork_join(NULL, 0, NULL, NULL);
  out_start(&o, s, r, 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_completed_at(&o, 1000000);
  out_end(&o);
  rill_observable_free(r);

  r = rill_all_settled(NULL, 0);
  memset(&o, 0, sizeof(o));
  o.s = s;
  o.keep = true;
  ck_assert_int_eq(rill_observable_subscribe(r, &out_sub, &o, &o.h), 0);
  ck_assert_int_eq(o.terminals, 0); /* waits for a request */
  out_request(&o, 1);
  ck_assert_int_eq(o.n, 1);
  ck_assert_int_eq(o.kept[0].kind, RILL_KIND_ARRAY);
  ck_assert_int_eq(rill_array_len(o.kept[0].as.array), 0);
  ck_assert_completed_at(&o, 1000000);
  out_end(&o);
  rill_observable_free(r);
  finish(s);
}
END_TEST

/* Promise.all without zombies: the first error cancels every sibling at
 * that instant (before the error is delivered), and their timers stop. */
START_TEST(fork_join_error_cancels_every_sibling_and_stops_its_timer) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc a, b, c, d;
  rill_observable_t *src[4] = {
      svc_new(&a, s, E_A, SCRIPTS("<500>({1}|)")),
      svc_new(&b, s, E_B, SCRIPTS("<150>#")),
      svc_new(&c, s, E_A, SCRIPTS("<300>({3}|)")),
      svc_new(&d, s, E_A, SCRIPTS("<100>({4}|)")),
  };
  rill_observable_t *all = rill_fork_join(src, 4, NULL, NULL);
  struct out o;
  out_start(&o, s, all, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_active(s), 4);
  ck_assert_int_eq(rill_sched_advance_to(s, 149), 0);
  ck_assert_int_eq(rill_sched_active(s), 3); /* d has answered */
  ck_assert_int_eq(rill_sched_advance_to(s, 150), 0);
  ck_assert_failed_at(&o, 150, E_B);
  ck_assert_int_eq(o.active_at_end, 0); /* cancelled before delivery */
  ck_assert_call(&a, 0, 0, 150, true);
  ck_assert_call(&b, 0, 0, 150, false);
  ck_assert_call(&c, 0, 0, 150, true);
  ck_assert_call(&d, 0, 0, 100, false);
  /* nothing runs on afterwards */
  ck_assert_int_eq(rill_sched_advance_to(s, 10000), 0);
  ck_assert_int_eq(a.emitted + c.emitted, 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_int_eq(o.terminals, 1);
  out_end(&o);
  rill_observable_free(all);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 4. Scatter-gather: 10 legs, each with a 100 ms timeout and a cached
 *    fallback (003 Real Companies: Netflix; 1.B #20)
 * ========================================================================= */

#define LEGS 10

/* Leg i answers i at 5 + 10 i ms, except the slow legs 3 (250 ms) and 7
 * (400 ms); each under timeout(100) + on_error_return(1000 + i). */
static void gather_legs(struct svc legs[LEGS], rill_sched_t *s,
                        rill_observable_t *out[LEGS]) {
  for (int i = 0; i < LEGS; i++) {
    char script[32];
    double t = i == 3 ? 250 : i == 7 ? 400 : 5 + 10 * i;
    snprintf(script, sizeof(script), "<%g>({%d}|)", t, i);
    rill_observable_t *leg = svc_new(&legs[i], s, E_DOWN, SCRIPTS(script));
    out[i] = rill_on_error_return(rill_timeout(leg, s, 100, INFINITY, NULL),
                                  tl_owned(1000 + i));
    ck_assert_ptr_nonnull(out[i]);
  }
}

START_TEST(scatter_gather_merged_slow_legs_get_the_cache_at_the_timeout) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc legs[LEGS];
  rill_observable_t *src[LEGS];
  gather_legs(legs, s, src);
  rill_observable_t *all = rill_merge(src, LEGS, 0, 0);
  struct out o;
  out_start(&o, s, all, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  const int64_t want[] = {0, 1, 2, 4, 5, 6, 8, 9, 1003, 1007};
  const double when[] = {5, 15, 25, 45, 55, 65, 85, 95, 100, 100};
  ck_assert_int_eq(o.n, LEGS);
  for (int i = 0; i < LEGS; i++)
    ck_assert_next(&o, i, when[i], want[i]);
  ck_assert_completed_at(&o, 100);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&legs[3], 0, 0, 100, true);
  ck_assert_call(&legs[7], 0, 0, 100, true);
  ck_assert_call(&legs[9], 0, 0, 95, false);
  out_end(&o);
  rill_observable_free(all);
  finish(s);
}
END_TEST

START_TEST(scatter_gather_fork_joined_is_one_array_at_the_timeout) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc legs[LEGS];
  rill_observable_t *src[LEGS];
  gather_legs(legs, s, src);
  rill_observable_t *all = rill_fork_join(src, LEGS, NULL, NULL);
  struct out o;
  out_keep(&o, s, all);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_double_eq(o.at[0], 100);
  ck_assert_completed_at(&o, 100);
  rill_array_t *arr = o.kept[0].as.array;
  ck_assert_int_eq(rill_array_len(arr), LEGS);
  for (int i = 0; i < LEGS; i++)
    ck_assert_int_eq(int_of(rill_array_at(arr, i)),
                     i == 3 || i == 7 ? 1000 + i : i);
  ck_assert_call(&legs[3], 0, 0, 100, true);
  ck_assert_call(&legs[7], 0, 0, 100, true);
  out_end(&o);
  rill_observable_free(all);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 5. Retry with backoff and full jitter (000; 003 Exercise 4; 3.F #4)
 * ========================================================================= */

struct rnd {
  double u[8];
  int i;
};

static double rnd_next(void *ctx) {
  struct rnd *r = ctx;
  ck_assert_int_lt(r->i, 8);
  return r->u[r->i++];
}

/* initial 100, x2, cap 1000, FULL: delay k = u_k * base_k, bases 100,
 * 200, 400, 800; u = .5, .25, .75, .1 -> 50, 50, 300, 80.  Each attempt
 * fails 10 ms in.  max_retries 4 = 5 attempts. */
START_TEST(retry_full_jitter_attempts_at_exact_instants) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  struct rnd r = {.u = {0.5, 0.25, 0.75, 0.1}};
  rill_observable_t *req =
      rill_retry(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#")), 4,
                 &(rill_retry_opts_t){.sched = s,
                                      .initial_ms = 100,
                                      .max_ms = 1000,
                                      .jitter = RILL_JITTER_FULL,
                                      .random = rnd_next,
                                      .random_ctx = &r});
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 530, E_DOWN);
  ck_assert_str_eq(o.err.message, "call 4 failed"); /* the last attempt's */
  ck_assert_int_eq(svc.calls, 5);
  const double at[5] = {0, 60, 120, 430, 520};
  for (int k = 0; k < 5; k++)
    ck_assert_call(&svc, k, at[k], at[k] + 10, false);
  ck_assert_int_eq(r.i, 4); /* one draw per retry */
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* max_retries 0: one attempt, no draw, no timer. */
START_TEST(retry_zero_retries_is_one_attempt) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  struct rnd r = {.u = {0.5}};
  rill_observable_t *req =
      rill_retry(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#")), 0,
                 &(rill_retry_opts_t){.sched = s,
                                      .initial_ms = 100,
                                      .jitter = RILL_JITTER_FULL,
                                      .random = rnd_next,
                                      .random_ctx = &r});
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 10, E_DOWN);
  ck_assert_int_eq(svc.calls, 1);
  ck_assert_int_eq(r.i, 0);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

struct pred_log {
  int calls;
  int64_t attempts[8];
};

static int retry_transient(void *ctx, const rill_error_t *err,
                           int64_t attempt) {
  struct pred_log *p = ctx;
  if (p->calls < 8)
    p->attempts[p->calls] = attempt;
  p->calls++;
  return err->code == E_DOWN;
}

/* should_retry: a non-retryable code passes on at once -- no delay, no
 * draw -- whether it comes first or after transient ones. */
START_TEST(retry_should_retry_rejects_a_permanent_error_at_once) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  struct rnd r = {.u = {0.5, 0.5, 0.5}};
  struct pred_log p = {0};
  rill_retry_opts_t opts = {.sched = s,
                            .initial_ms = 100,
                            .jitter = RILL_JITTER_FULL,
                            .random = rnd_next,
                            .random_ctx = &r,
                            .should_retry = retry_transient,
                            .pred_ctx = &p};
  rill_observable_t *req =
      rill_retry(svc_new(&svc, s, E_FATAL, SCRIPTS("<10>#")), 5, &opts);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 10, E_FATAL);
  ck_assert_int_eq(svc.calls, 1);
  ck_assert_int_eq(p.calls, 1);
  ck_assert_int_eq(p.attempts[0], 1);
  ck_assert_int_eq(r.i, 0);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  rill_observable_free(req);

  /* transient, transient, then permanent */
  r.i = 0;
  p.calls = 0;
  req = rill_retry(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#", "<10>#", "<10>#")),
                   5, &opts);
  svc.codes[2] = E_FATAL;
  double t0 = rill_sched_now(s);
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* delays 50 (u .5 of 100) and 100 (u .5 of 200) */
  ck_assert_int_eq(svc.calls, 3);
  ck_assert_call(&svc, 0, t0, t0 + 10, false);
  ck_assert_call(&svc, 1, t0 + 60, t0 + 70, false);
  ck_assert_call(&svc, 2, t0 + 170, t0 + 180, false);
  ck_assert_failed_at(&o, t0 + 180, E_FATAL);
  ck_assert_int_eq(p.calls, 3);
  for (int k = 0; k < 3; k++)
    ck_assert_int_eq(p.attempts[k], k + 1);
  ck_assert_int_eq(r.i, 2);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* An overall deadline around the whole retry set (timeout outside
 * retry): it expires during a backoff delay, and the retry's timer goes
 * with it. */
START_TEST(a_deadline_around_retries_cuts_the_backoff_short) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *req = rill_timeout(
      rill_retry(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#")), RILL_UNBOUNDED,
                 &(rill_retry_opts_t){.sched = s, .initial_ms = 100}),
      s, 500, INFINITY, NULL);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* attempts at 0, 110, 320; the next would be at 730 */
  ck_assert_failed_at(&o, 500, RILL_ETIMEDOUT);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_int_eq(svc.calls, 3);
  ck_assert_call(&svc, 2, 320, 330, false);
  ck_assert_double_eq(rill_sched_now(s), 500);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 6. Bounded concurrency: one limiter for two call sites (p-limit), and
 *    merge_map's own bound over 10,000 calls (000 Tip; 1.A #4; 3.F #3)
 * ========================================================================= */

#define REQS 10

struct site {
  rill_observable_t **calls; /* one per request id, not owned */
  rill_limiter_t *l;
};

static int through_limiter(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct site *site = ctx;
  *out = rill_limit(rill_observable_ref(site->calls[v.as.i]), site->l);
  return *out != NULL ? 0 : RILL_ENOMEM;
}

START_TEST(one_limiter_shared_by_two_pipelines_bounds_and_orders_the_calls) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_limiter_t *l = rill_limiter_new(3, 0);
  ck_assert_ptr_nonnull(l);
  struct gauge g = {0};
  struct svc svc[REQS];
  rill_observable_t *calls[REQS];
  const int dur[REQS] = {100, 50, 70, 30, 30, 30, 30, 30, 30, 30};
  for (int i = 0; i < REQS; i++) {
    char script[32];
    snprintf(script, sizeof(script), "<%d>({%d}|)", dur[i], i);
    calls[i] = svc_new(&svc[i], s, E_DOWN, SCRIPTS(script));
    svc[i].id = i;
    svc[i].g = &g;
  }
  struct site site = {calls, l};
  rill_observable_t *a =
      rill_merge_map(rill_range(0, 5), through_limiter, &site, 0, 0);
  rill_observable_t *b =
      rill_merge_map(rill_range(5, 5), through_limiter, &site, 0, 0);
  struct out oa, ob;
  out_start(&oa, s, a, RILL_UNBOUNDED);
  out_start(&ob, s, b, RILL_UNBOUNDED);
  rill_limiter_stats_t st;
  rill_limiter_stats(l, &st);
  ck_assert_int_eq(st.in_use, 3);
  ck_assert_int_eq(st.waiting, 7);
  ck_assert_int_eq(g.live, 3);
  ck_assert_int_eq(g.held, 3);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* FIFO: the calls start in the order they queued, each as a permit
   * comes back */
  const double start[REQS] = {0, 0, 0, 50, 70, 80, 100, 100, 110, 130};
  ck_assert_int_eq(g.starts, REQS);
  for (int i = 0; i < REQS; i++) {
    ck_assert_int_eq(g.ids[i], i);
    ck_assert_double_eq(g.at[i], start[i]);
    ck_assert_call(&svc[i], 0, start[i], start[i] + dur[i], false);
  }
  ck_assert_int_eq(g.hwm, 3);
  ck_assert_int_eq(g.held_hwm, 3); /* a permit returns once end() ran */
  ck_assert_int_eq(g.live, 0);
  ck_assert_int_eq(g.held, 0);
  ck_assert_next(&oa, 0, 50, 1);
  ck_assert_next(&oa, 1, 70, 2);
  ck_assert_next(&oa, 2, 80, 3);
  ck_assert_next(&oa, 3, 100, 0);
  ck_assert_next(&oa, 4, 100, 4);
  ck_assert_completed_at(&oa, 100);
  ck_assert_next(&ob, 0, 110, 5);
  ck_assert_next(&ob, 1, 130, 6);
  ck_assert_next(&ob, 2, 130, 7);
  ck_assert_next(&ob, 3, 140, 8);
  ck_assert_next(&ob, 4, 160, 9);
  ck_assert_completed_at(&ob, 160);
  rill_limiter_stats(l, &st);
  ck_assert_int_eq(st.in_use, 0);
  ck_assert_int_eq(st.waiting, 0);
  ck_assert_int_eq(st.rejected, 0);
  out_end(&oa);
  out_end(&ob);
  rill_observable_free(a);
  rill_observable_free(b);
  for (int i = 0; i < REQS; i++)
    rill_observable_free(calls[i]);
  rill_limiter_free(l);
  finish(s);
}
END_TEST

static int plan_10k(struct svc *svc, int k, marble_event_t *ev) {
  (void)svc;
  double at = 1 + (k * 7) % 13;
  ev[0] = (marble_event_t){at, 'n', k};
  ev[1] = (marble_event_t){at, '|', 0};
  return 2;
}

static int to_call(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = rill_observable_ref(ctx);
  return 0;
}

START_TEST(merge_map_of_ten_thousand_calls_never_has_more_than_ten_live) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *call = svc_new(&svc, s, E_DOWN, NULL);
  svc.plan = plan_10k;
  const int64_t n = 10000;
  rill_observable_t *all =
      rill_merge_map(rill_range(0, n), to_call, call, 10, 0);
  struct out o;
  out_start(&o, s, all, RILL_UNBOUNDED);
  ck_assert_int_eq(svc.own.live, 10);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, n);
  ck_assert_int_eq(o.terminal, REC_COMPLETE);
  ck_assert_int_eq(svc.calls, n);
  ck_assert_int_eq(svc.ends, n);
  ck_assert_int_eq(svc.cancels, 0);
  ck_assert_int_eq(svc.own.hwm, 10);
  ck_assert_int_eq(svc.own.live, 0);
  ck_assert_int_eq(svc.own.held, 0);
  /* and never more than 10 held: a finished call's end() has run before
   * the next call starts (create runs end() before the terminal it was
   * given goes downstream) */
  ck_assert_int_eq(svc.own.held_hwm, 10);
  out_end(&o);
  rill_observable_free(all);
  rill_observable_free(call);
  finish(s);
}
END_TEST

static int to_ref(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = rill_observable_ref(ctx);
  return 0;
}

/* One call at a time means one held at a time: concat_map, concat,
 * repeat and an immediate retry start the next call only after the
 * previous one has let go (its end() ran), at the same instant. */
START_TEST(sequential_calls_never_overlap_what_they_hold) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc ok, bad;
  rill_observable_t *call = svc_new(&ok, s, E_DOWN, SCRIPTS("<5>({1}|)"));
  rill_observable_t *fail = svc_new(&bad, s, E_DOWN, SCRIPTS("<5>#"));
  rill_observable_t *three[3] = {rill_observable_ref(call),
                                 rill_observable_ref(call),
                                 rill_observable_ref(call)};
  rill_observable_t *ways[4] = {
      rill_concat_map(rill_range(0, 3), to_ref, call),
      rill_concat(three, 3),
      rill_repeat(rill_observable_ref(call), 3, NULL, 0),
      rill_on_error_return(rill_retry(fail, 2, NULL), tl_owned(1)),
  };
  for (int w = 0; w < 4; w++) {
    struct svc *sv = w == 3 ? &bad : &ok;
    sv->own = (struct gauge){0};
    int calls = sv->calls;
    double t0 = rill_sched_now(s);
    struct out o;
    out_start(&o, s, ways[w], RILL_UNBOUNDED);
    ck_assert_int_eq(rill_sched_run(s, 0), 0);
    ck_assert_completed_at(&o, t0 + 15);
    ck_assert_int_eq(o.n, w == 3 ? 1 : 3);
    ck_assert_int_eq(sv->calls - calls, 3);
    ck_assert_msg(sv->own.held_hwm == 1, "way %d: %d held at once", w,
                  sv->own.held_hwm);
    out_end(&o);
    rill_observable_free(ways[w]);
  }
  rill_observable_free(call);
  finish(s);
}
END_TEST

/* A producer that completes from its timer: its end() runs before the
 * subscriber's on_complete, and what end() tries to push is ignored (the
 * value released). */
struct tidy {
  rill_sched_t *s;
  rill_emitter_t *e;
  rill_sched_timer_t *t;
  bool fail;
  int ends;
  const struct out *o;
  int terminals_at_end;
};

static void tidy_fire(rill_sched_timer_t *t, void *arg) {
  struct tidy *td = arg;
  (void)t;
  if (td->fail)
    rill_emitter_error(td->e, E_A, "tidy failed");
  else
    rill_emitter_complete(td->e);
}

static void tidy_start(void *ctx, rill_emitter_t *e) {
  struct tidy *td = ctx;
  td->e = e;
  td->t = rill_sched_timer_new(td->s, tidy_fire, td);
  rill_sched_timer_start(td->t, 10);
}

static void tidy_end(void *ctx, rill_emitter_t *e) {
  struct tidy *td = ctx;
  td->ends++;
  td->terminals_at_end = td->o->terminals;
  ck_assert_int_eq(rill_emitter_next(e, tl_owned(99)), 0);
  rill_emitter_error(e, E_B, "from end");
  rill_emitter_complete(e);
  rill_sched_timer_free(td->t);
}

START_TEST(a_producer_ends_before_its_terminal_goes_downstream) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct out o;
  for (int k = 0; k < 2; k++) {
    struct tidy td = {.s = s, .fail = k == 1, .o = &o};
    rill_observable_t *src = rill_create(tidy_start, tidy_end, &td);
    double t0 = rill_sched_now(s);
    out_start(&o, s, src, RILL_UNBOUNDED);
    ck_assert_int_eq(rill_sched_run(s, 0), 0);
    if (k == 0) {
      ck_assert_completed_at(&o, t0 + 10);
    } else {
      ck_assert_failed_at(&o, t0 + 10, E_A);
      ck_assert_str_eq(o.err.message, "tidy failed");
    }
    ck_assert_int_eq(o.n, 0);
    ck_assert_int_eq(td.ends, 1);
    ck_assert_int_eq(td.terminals_at_end, 0);
    out_end(&o);
    rill_observable_free(src);
  }
  finish(s);
}
END_TEST

/* ===========================================================================
 * 7. Timeout's timer does not outlive the operation (3.F #2, withTimeout)
 * ========================================================================= */

START_TEST(timeout_leaves_no_timer_once_the_upstream_has_ended) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc ok, bad, slow, fb;
  rill_observable_t *t_ok = rill_timeout(
      svc_new(&ok, s, E_DOWN, SCRIPTS("<10>{1}<30>({2}|)")), s, 100, 100, NULL);
  rill_observable_t *t_bad = rill_timeout(
      svc_new(&bad, s, E_DOWN, SCRIPTS("<30>#")), s, 100, 100, NULL);
  rill_observable_t *t_fb = rill_timeout(
      svc_new(&slow, s, E_DOWN, SCRIPTS("<500>({1}|)")), s, 100, 100,
      &(rill_timeout_opts_t){
          .with = svc_new(&fb, s, E_DOWN, SCRIPTS("<20>({9}|)"))});
  struct out o;
  /* completes at 30: the timer (armed for 110) is stopped right then */
  out_start(&o, s, t_ok, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_active(s), 2); /* the call's and timeout's */
  ck_assert_int_eq(rill_sched_advance_to(s, 30), 0);
  ck_assert_next(&o, 0, 10, 1);
  ck_assert_next(&o, 1, 30, 2);
  ck_assert_completed_at(&o, 30);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_int_eq(rill_sched_active(s), 0);
  out_end(&o);
  /* fails at 60: stopped too */
  out_start(&o, s, t_bad, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 60), 0);
  ck_assert_failed_at(&o, 60, E_DOWN);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  /* times out at 160, the fallback answers at 180: nothing left */
  out_start(&o, s, t_fb, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 180), 0);
  ck_assert_next(&o, 0, 180, 9);
  ck_assert_completed_at(&o, 180);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&slow, 0, 60, 160, true);
  ck_assert_call(&fb, 0, 160, 180, false);
  out_end(&o);
  /* and the scheduler can go at once: nothing armed, nothing pending */
  rill_observable_free(t_ok);
  rill_observable_free(t_bad);
  rill_observable_free(t_fb);
  finish(s);
}
END_TEST

/* A timeout inside a retry: the timed-out attempt is cancelled, the next
 * one answers, and no timer of any attempt is left. */
START_TEST(timeout_inside_retry_leaves_no_timer_after_success) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  rill_observable_t *req =
      rill_retry(rill_timeout(svc_new(&svc, s, E_DOWN,
                                      SCRIPTS("<500>({1}|)", "<50>({2}|)")),
                              s, 100, INFINITY, NULL),
                 2, NULL);
  struct out o;
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 150), 0);
  ck_assert_next(&o, 0, 150, 2);
  ck_assert_completed_at(&o, 150);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&svc, 0, 0, 100, true);
  ck_assert_call(&svc, 1, 100, 150, false);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 8. Half-open admits exactly the configured trials (3.F #5)
 * ========================================================================= */

START_TEST(half_open_admits_exactly_the_trials_and_one_failed_probe_reopens) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct watch w;
  rill_breaker_t *b = breaker_watched(s, &w,
                                      (rill_breaker_opts_t){
                                          .consecutive_failures = 1,
                                          .open_ms = 100,
                                          .half_open_trials = 2,
                                      });
  struct svc bad, probe;
  rill_observable_t *trip =
      rill_circuit_breaker(svc_new(&bad, s, E_DOWN, SCRIPTS("<10>#")), b);
  /* call 0 fails at +10, call 1 succeeds at +20, later calls at +5 */
  rill_observable_t *p =
      svc_new(&probe, s, E_DOWN, SCRIPTS("<10>#", "<20>({7}|)", "<5>({8}|)"));
  struct out o;
  out_start(&o, s, trip, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 110), 0);
  ck_assert_failed_at(&o, 10, E_DOWN);
  out_end(&o);
  assert_trans(&w, 0, 10, C, O);
  assert_trans(&w, 1, 110, O, H);
  /* five concurrent calls at the half-open instant: two are trials */
  rill_observable_t *five[5];
  for (int i = 0; i < 5; i++)
    five[i] = rill_circuit_breaker(rill_observable_ref(p), b);
  rill_observable_t *all = rill_all_settled(five, 5);
  out_keep(&o, s, all);
  ck_assert_int_eq(probe.calls, 2);
  ck_assert_int_eq(rill_sched_advance_to(s, 130), 0);
  ck_assert_completed_at(&o, 130);
  ck_assert_settled_error(&o, 0, E_DOWN);
  ck_assert_settled_next(&o, 1, 7);
  for (int i = 2; i < 5; i++)
    ck_assert_settled_error(&o, i, RILL_EBREAKER_OPEN);
  out_end(&o);
  /* the failed probe reopened it at 120; the success at 130 is too late */
  ck_assert_int_eq(w.n, 3);
  assert_trans(&w, 2, 120, H, O);
  ck_assert_int_eq(rill_breaker_state(b), O);
  ck_assert_bstats(b, 3, 1, 2, 3);
  /* at 220, two trials that both succeed close it, at the second one */
  ck_assert_int_eq(rill_sched_advance_to(s, 220), 0);
  assert_trans(&w, 3, 220, O, H);
  struct out t1, t2, t3;
  rill_observable_t *one = rill_circuit_breaker(rill_observable_ref(p), b);
  out_start(&t1, s, one, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 222), 0);
  out_start(&t2, s, one, RILL_UNBOUNDED);
  out_start(&t3, s, one, RILL_UNBOUNDED);
  ck_assert_failed_at(&t3, 222, RILL_EBREAKER_OPEN);
  ck_assert_int_eq(rill_sched_advance_to(s, 225), 0);
  ck_assert_completed_at(&t1, 225);
  ck_assert_int_eq(rill_breaker_state(b), H); /* one of two */
  ck_assert_int_eq(rill_sched_advance_to(s, 227), 0);
  ck_assert_completed_at(&t2, 227);
  assert_trans(&w, 4, 227, H, C);
  ck_assert_int_eq(w.n, 5);
  ck_assert_int_eq(probe.calls, 4);
  out_end(&t1);
  out_end(&t2);
  out_end(&t3);
  rill_observable_free(one);
  rill_observable_free(all);
  rill_observable_free(trip);
  rill_observable_free(p);
  rill_breaker_free(b);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 9. Errors as data through a merge: materialize, dematerialize (1.D #34)
 * ========================================================================= */

static rill_observable_t *merged_notifications(struct svc *a, struct svc *b,
                                               rill_sched_t *s,
                                               const char *script_a) {
  rill_observable_t *two[2] = {
      rill_materialize(svc_new(a, s, E_A, SCRIPTS(script_a))),
      rill_materialize(svc_new(b, s, E_B, SCRIPTS("<20>{7}<50>{8}<60>|")))};
  return rill_merge(two, 2, 0, 0);
}

/* The first closing notification ends the round trip: the other source is
 * cancelled at that instant (RxJS does the same). */
START_TEST(materialize_merge_dematerialize_ends_at_the_first_end) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc a, b;
  rill_observable_t *rt = rill_dematerialize(
      merged_notifications(&a, &b, s, "<10>{1}<30>{2}<40>|"));
  struct out o;
  out_start(&o, s, rt, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 3);
  ck_assert_next(&o, 0, 10, 1);
  ck_assert_next(&o, 1, 20, 7);
  ck_assert_next(&o, 2, 30, 2);
  ck_assert_completed_at(&o, 40);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&b, 0, 0, 40, true);
  out_end(&o);
  rill_observable_free(rt);
  /* an error crosses the merge as data and comes back as itself */
  rt = rill_dematerialize(merged_notifications(&a, &b, s, "<10>{1}<40>#"));
  out_start(&o, s, rt, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 2);
  ck_assert_next(&o, 0, 50, 1);
  ck_assert_next(&o, 1, 60, 7);
  ck_assert_failed_at(&o, 80, E_A);
  ck_assert_str_eq(o.err.message, "call 0 failed");
  ck_assert_call(&b, 0, 40, 80, true);
  out_end(&o);
  rill_observable_free(rt);
  finish(s);
}
END_TEST

static int not_complete(void *ctx, rill_value_t v) {
  (void)ctx;
  const rill_notification_t *n = rill_value_notification(v);
  return n == NULL || n->kind != RILL_NOTIFICATION_COMPLETE;
}

/* Keep the completions out, and the merged stream ends when both have:
 * values of both, then the merge's own completion. */
START_TEST(materialize_merge_dematerialize_without_completions_merges_all) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc a, b;
  rill_observable_t *rt = rill_dematerialize(
      rill_filter(merged_notifications(&a, &b, s, "<10>{1}<30>{2}<40>|"),
                  not_complete, NULL));
  struct out o;
  out_start(&o, s, rt, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 4);
  ck_assert_next(&o, 0, 10, 1);
  ck_assert_next(&o, 1, 20, 7);
  ck_assert_next(&o, 2, 30, 2);
  ck_assert_next(&o, 3, 50, 8);
  ck_assert_completed_at(&o, 60);
  ck_assert_call(&a, 0, 0, 40, false);
  ck_assert_call(&b, 0, 0, 60, false);
  out_end(&o);
  rill_observable_free(rt);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 10. finalize on the resilience paths (1.D #28)
 * ========================================================================= */

struct fin {
  rill_sched_t *s;
  const struct out *o; /* the subscriber, to see what it had got by then */
  int runs;
  double at[8];
  int terminals_then[8];
};

static void fin_run(void *ctx) {
  struct fin *f = ctx;
  if (f->runs < 8) {
    f->at[f->runs] = rill_sched_now(f->s);
    f->terminals_then[f->runs] = f->o != NULL ? f->o->terminals : -1;
  }
  f->runs++;
}

START_TEST(finalize_runs_once_when_a_retry_gives_up) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  struct out o;
  struct fin attempt = {.s = s}, whole = {.s = s, .o = &o};
  rill_observable_t *req = rill_finalize(
      rill_retry(rill_finalize(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#")),
                               fin_run, &attempt),
                 2, &(rill_retry_opts_t){.sched = s, .initial_ms = 100}),
      fin_run, &whole);
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 330, E_DOWN);
  ck_assert_int_eq(attempt.runs, 3); /* once per attempt, as each ends */
  ck_assert_double_eq(attempt.at[0], 10);
  ck_assert_double_eq(attempt.at[1], 120);
  ck_assert_double_eq(attempt.at[2], 330);
  ck_assert_int_eq(whole.runs, 1);
  ck_assert_double_eq(whole.at[0], 330);
  ck_assert_int_eq(whole.terminals_then[0], 1); /* after on_error */
  out_end(&o);
  ck_assert_int_eq(whole.runs, 1);
  rill_observable_free(req);
  finish(s);
}
END_TEST

START_TEST(finalize_runs_once_when_cancelled_during_a_backoff_delay) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc svc;
  struct out o;
  struct fin attempt = {.s = s}, whole = {.s = s, .o = &o};
  rill_observable_t *req = rill_finalize(
      rill_retry(rill_finalize(svc_new(&svc, s, E_DOWN, SCRIPTS("<10>#")),
                               fin_run, &attempt),
                 2, &(rill_retry_opts_t){.sched = s, .initial_ms = 100}),
      fin_run, &whole);
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 50), 0);
  ck_assert_int_eq(rill_sched_active(s), 1); /* the backoff timer */
  ck_assert_int_eq(whole.runs, 0);
  rill_subscription_cancel(o.h);
  ck_assert_int_eq(whole.runs, 1);
  ck_assert_double_eq(whole.at[0], 50);
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_subscription_cancel(o.h);
  ck_assert_int_eq(rill_sched_advance_to(s, 1000), 0);
  ck_assert_int_eq(svc.calls, 1);
  ck_assert_int_eq(attempt.runs, 1);
  ck_assert_int_eq(whole.runs, 1);
  ck_assert_int_eq(o.terminals, 0);
  out_end(&o);
  rill_observable_free(req);
  finish(s);
}
END_TEST

START_TEST(finalize_runs_once_when_a_waiting_limited_call_is_cancelled) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_limiter_t *l = rill_limiter_new(1, 0);
  struct svc first, second;
  rill_observable_t *holder =
      rill_limit(svc_new(&first, s, E_DOWN, SCRIPTS("<500>({1}|)")), l);
  struct out oh, ow;
  struct fin inner = {.s = s}, outer = {.s = s, .o = &ow};
  rill_observable_t *waiter =
      rill_finalize(rill_limit(rill_finalize(svc_new(&second, s, E_DOWN,
                                                     SCRIPTS("<10>({2}|)")),
                                             fin_run, &inner),
                               l),
                    fin_run, &outer);
  out_start(&oh, s, holder, RILL_UNBOUNDED);
  out_start(&ow, s, waiter, RILL_UNBOUNDED);
  rill_limiter_stats_t st;
  rill_limiter_stats(l, &st);
  ck_assert_int_eq(st.in_use, 1);
  ck_assert_int_eq(st.waiting, 1);
  ck_assert_int_eq(rill_sched_advance_to(s, 100), 0);
  rill_subscription_cancel(ow.h);
  ck_assert_int_eq(outer.runs, 1);
  ck_assert_double_eq(outer.at[0], 100);
  rill_limiter_stats(l, &st);
  ck_assert_int_eq(st.waiting, 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_completed_at(&oh, 500);
  ck_assert_int_eq(second.calls, 0); /* never started */
  ck_assert_int_eq(inner.runs, 0);   /* nothing to finalize inside */
  ck_assert_int_eq(outer.runs, 1);
  rill_limiter_stats(l, &st);
  ck_assert_int_eq(st.in_use, 0);
  out_end(&oh);
  out_end(&ow);
  rill_observable_free(holder);
  rill_observable_free(waiter);
  rill_limiter_free(l);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 11. Fallback chains and graceful degradation (1.B #19, 1.C #26, 1.A #7)
 * ========================================================================= */

struct chain {
  rill_observable_t *secondary; /* a reference handed out per failure */
  int calls;
  int code_seen;
};

/* A transient failure moves to the secondary; a permanent one passes. */
static int to_secondary(void *ctx, const rill_error_t *err,
                        rill_observable_t **next) {
  struct chain *c = ctx;
  c->calls++;
  c->code_seen = err->code;
  if (err->code == E_DOWN)
    *next = rill_observable_ref(c->secondary);
  return 0;
}

/* primary -> secondary -> cached: each step only after the previous one
 * failed, at the instant it failed. */
START_TEST(fallback_chain_primary_secondary_then_cache) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc p, sec;
  struct chain c = {0};
  c.secondary = svc_new(&sec, s, E_B, SCRIPTS("<20>#", "<20>({2}|)"));
  rill_observable_t *req = rill_on_error_return(
      rill_catch_error(svc_new(&p, s, E_DOWN, SCRIPTS("<10>#")), to_secondary,
                       &c),
      tl_owned(99));
  struct out o;
  /* both fail: the cache at 30 */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_next(&o, 0, 30, 99);
  ck_assert_completed_at(&o, 30);
  ck_assert_call(&p, 0, 0, 10, false);
  ck_assert_call(&sec, 0, 10, 30, false);
  ck_assert_int_eq(c.calls, 1); /* the secondary's error is not caught */
  out_end(&o);
  /* the secondary answers: its value, no cache */
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_next(&o, 0, 60, 2);
  ck_assert_completed_at(&o, 60);
  ck_assert_call(&sec, 1, 40, 60, false);
  out_end(&o);
  rill_observable_free(req);
  /* a permanent error skips the secondary (and the cache, if it is kept
   * out of the chain: on_error_complete turns it into an empty answer) */
  struct svc f;
  req = rill_on_error_complete(rill_catch_error(
      svc_new(&f, s, E_FATAL, SCRIPTS("<10>#")), to_secondary, &c));
  out_start(&o, s, req, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_completed_at(&o, 70);
  ck_assert_int_eq(c.code_seen, E_FATAL);
  ck_assert_int_eq(sec.calls, 2);
  out_end(&o);
  rill_observable_free(req);
  rill_observable_free(c.secondary);
  finish(s);
}
END_TEST

/* A page: critical data (user, settings) must all arrive, optional data
 * (ads, recommendations) may fail: fork_join(fork_join(critical),
 * all_settled(optional)).  An optional failure degrades; a critical one
 * fails the page at its instant and cancels everything still running. */
START_TEST(critical_and_optional_data_nested_combinators) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc user, settings, ads, recs;
  rill_observable_t *crit[2] = {
      svc_new(&user, s, E_A, SCRIPTS("<30>({1}|)", "<30>#")),
      svc_new(&settings, s, E_A, SCRIPTS("<50>({2}|)"))};
  rill_observable_t *opt[2] = {svc_new(&ads, s, E_B, SCRIPTS("<20>#")),
                               svc_new(&recs, s, E_B, SCRIPTS("<80>({4}|)"))};
  rill_observable_t *parts[2] = {rill_fork_join(crit, 2, NULL, NULL),
                                 rill_all_settled(opt, 2)};
  rill_observable_t *page = rill_fork_join(parts, 2, NULL, NULL);
  struct out o;
  out_keep(&o, s, page);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_double_eq(o.at[0], 80);
  ck_assert_completed_at(&o, 80);
  rill_array_t *both = o.kept[0].as.array;
  rill_array_t *c = rill_array_at(both, 0).as.array;
  rill_array_t *x = rill_array_at(both, 1).as.array;
  ck_assert_int_eq(int_of(rill_array_at(c, 0)), 1);
  ck_assert_int_eq(int_of(rill_array_at(c, 1)), 2);
  ck_assert_int_eq(rill_value_notification(rill_array_at(x, 0))->kind,
                   RILL_NOTIFICATION_ERROR);
  const rill_notification_t *r = rill_value_notification(rill_array_at(x, 1));
  ck_assert_int_eq(r->kind, RILL_NOTIFICATION_NEXT);
  ck_assert_int_eq(int_of(r->value), 4);
  out_end(&o);
  /* the user call fails this time: the page fails at +30, settings and
   * recommendations are cancelled then */
  out_start(&o, s, page, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_failed_at(&o, 110, E_A);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_call(&settings, 1, 80, 110, true);
  ck_assert_call(&recs, 1, 80, 110, true);
  ck_assert_call(&ads, 1, 80, 100, false);
  out_end(&o);
  rill_observable_free(page);
  finish(s);
}
END_TEST

/* What a user sees who degrades optional data with on_error_complete
 * inside a fork_join: an empty source ends the whole without a value
 * (RxJS 7 forkJoin), at the instant it fails.  on_error_return(default)
 * is the operator for that job. */
START_TEST(fork_join_with_on_error_complete_inside_completes_empty) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc crit, opt;
  rill_observable_t *two[2] = {
      svc_new(&crit, s, E_A, SCRIPTS("<50>({1}|)")),
      rill_on_error_complete(svc_new(&opt, s, E_B, SCRIPTS("<20>#")))};
  rill_observable_t *page = rill_fork_join(two, 2, NULL, NULL);
  struct out o;
  out_start(&o, s, page, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 0);
  ck_assert_completed_at(&o, 20);
  ck_assert_call(&crit, 0, 0, 20, true); /* the critical call is lost */
  out_end(&o);
  rill_observable_free(page);
  two[0] = svc_new(&crit, s, E_A, SCRIPTS("<50>({1}|)"));
  two[1] = rill_on_error_return(svc_new(&opt, s, E_B, SCRIPTS("<20>#")),
                                tl_owned(0));
  page = rill_fork_join(two, 2, NULL, NULL);
  out_keep(&o, s, page);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 1);
  ck_assert_double_eq(o.at[0], 70);
  ck_assert_int_eq(int_of(rill_array_at(o.kept[0].as.array, 0)), 1);
  ck_assert_int_eq(int_of(rill_array_at(o.kept[0].as.array, 1)), 0);
  out_end(&o);
  rill_observable_free(page);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 12. Polling, typeahead, rate shaping (003 Ex3; 1.E)
 * ========================================================================= */

struct poll {
  rill_observable_t *check;
  int made;
};

static int poll_make(void *ctx, rill_observable_t **out) {
  struct poll *p = ctx;
  p->made++;
  *out = rill_observable_ref(p->check);
  return 0;
}

static int not_ready(void *ctx, rill_value_t v) {
  (void)ctx;
  return int_of(v) != 3; /* 3: the job is done */
}

/* Poll a job's status every second until it is done: repeat (forever,
 * 1000 ms between polls) of a deferred check, take_while the status is
 * not "done" (inclusive).  The poll loop stops with its delay timer. */
START_TEST(polling_with_repeat_stops_when_the_job_is_done) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc job;
  struct poll p = {
      .check = svc_new(&job, s, E_DOWN,
                       SCRIPTS("<50>({1}|)", "<50>({2}|)", "<50>({3}|)"))};
  rill_observable_t *status = rill_take_while(
      rill_repeat(rill_defer(poll_make, &p), RILL_UNBOUNDED, s, 1000),
      not_ready, NULL, true);
  struct out o;
  out_start(&o, s, status, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 3);
  ck_assert_next(&o, 0, 50, 1);
  ck_assert_next(&o, 1, 1100, 2);
  ck_assert_next(&o, 2, 2150, 3);
  ck_assert_completed_at(&o, 2150);
  ck_assert_int_eq(o.active_at_end, 0);
  ck_assert_int_eq(p.made, 3);
  ck_assert_call(&job, 2, 2100, 2150, true); /* its completion never needed */
  out_end(&o);
  rill_observable_free(status);
  rill_observable_free(p.check);
  finish(s);
}
END_TEST

struct typeahead {
  rill_sched_t *s;
  rill_observable_t *search;
};

static int quiet_300(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct typeahead *ta = ctx;
  (void)v;
  *out = rill_timer(ta->s, 300);
  return 0;
}

static int search_for(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct typeahead *ta = ctx;
  (void)v;
  *out = rill_observable_ref(ta->search);
  return 0;
}

/* Search as you type: keys debounced by 300 ms of quiet
 * (debounce_with), each query switched to (a newer one cancels the
 * stale request).  Keys at 0, 100, 200 and 600, 700; queries at 500 and
 * 1000; the first search (700 ms) is cancelled at 1000, the second
 * answers at 1700. */
START_TEST(typeahead_debounces_and_cancels_the_stale_search) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc keys, search;
  struct typeahead ta = {
      .s = s, .search = svc_new(&search, s, E_DOWN, SCRIPTS("<700>({9}|)"))};
  rill_observable_t *ui = rill_switch_map(
      rill_debounce_with(svc_new(&keys, s, E_DOWN,
                                 SCRIPTS("{1}<100>{2}<200>{3}<600>{4}<700>{5}"
                                         "<1200>|")),
                         quiet_300, &ta, NULL),
      search_for, &ta);
  struct out o;
  out_start(&o, s, ui, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(search.calls, 2);
  ck_assert_call(&search, 0, 500, 1000, true);
  ck_assert_call(&search, 1, 1000, 1700, false);
  ck_assert_int_eq(o.n, 1);
  ck_assert_next(&o, 0, 1700, 9);
  ck_assert_completed_at(&o, 1700);
  out_end(&o);
  rill_observable_free(ui);
  rill_observable_free(ta.search);
  finish(s);
}
END_TEST

struct window {
  rill_sched_t *s;
  double ms;
};

static int window_of(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct window *w = ctx;
  (void)v;
  *out = rill_timer(w->s, w->ms);
  return 0;
}

static rill_observable_t *gps_feed(struct svc *gps, rill_sched_t *s) {
  return svc_new(gps, s, E_DOWN,
                 SCRIPTS("{0}<100>{1}<200>{2}<300>{3}<400>{4}<500>{5}<600>{6}"
                         "<700>{7}<800>{8}<900>{9}<950>|"));
}

/* 003 Exercise 3: a GPS feed at 10/s rendered at most 2/s.  Leading
 * throttle with 500 ms windows (throttle_with, the window a timer): the
 * first fix of each window; a fix arriving at the very instant a window
 * closes (500) passes -- the window's timer, started earlier, fires
 * first.  (At an instant shared by two timers, the one armed earlier
 * fires first: that decides ties here and in the sampled form.) */
START_TEST(gps_feed_throttled_to_two_per_second) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc gps;
  struct window w = {s, 500};
  rill_observable_t *shown =
      rill_throttle_with(gps_feed(&gps, s), window_of, &w, NULL);
  struct out o;
  out_start(&o, s, shown, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 2);
  ck_assert_next(&o, 0, 0, 0);
  ck_assert_next(&o, 1, 500, 5);
  ck_assert_completed_at(&o, 950);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  rill_observable_free(shown);
  /* sampled every 250 ms instead (sample_with(interval)): the newest fix
   * at each tick; the feed's end stops the sampler */
  shown =
      rill_sample_with(gps_feed(&gps, s), rill_interval(s, 250, NULL), NULL);
  double t0 = rill_sched_now(s);
  out_start(&o, s, shown, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 3);
  ck_assert_next(&o, 0, t0 + 250, 2);
  ck_assert_next(&o, 1, t0 + 500, 4); /* the tick first: armed earlier */
  ck_assert_next(&o, 2, t0 + 750, 7);
  ck_assert_completed_at(&o, t0 + 950);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  rill_observable_free(shown);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 13. Combining live feeds (zip, combine_latest, with_latest_from)
 * ========================================================================= */

/* Each request goes out with the newest auth token (with_latest_from);
 * a request before the first token is dropped.  The token is refreshed
 * by a poll (repeat of a call).  Requests and their answers pair up in
 * order (zip), and a status line shows the latest of both
 * (combine_latest). */
static int pair_digits(void *ctx, const rill_value_t *v, size_t n,
                       rill_value_t *out) {
  (void)ctx;
  int64_t x = 0;
  for (size_t i = 0; i < n; i++)
    x = x * 100 + int_of(v[i]);
  *out = tl_owned(x);
  return 0;
}

START_TEST(requests_take_the_latest_token_and_pair_with_answers) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc clicks, token;
  /* tokens 1 at 100, 2 at 1100 (+1000 after each), 3 at 2100 ... */
  rill_observable_t *tokens =
      rill_repeat(svc_new(&token, s, E_DOWN,
                          SCRIPTS("<100>({1}|)", "<100>({2}|)", "<100>({3}|)")),
                  3, s, 900);
  rill_observable_t *others[1] = {tokens};
  rill_observable_t *sent = rill_with_latest_from(
      svc_new(&clicks, s, E_DOWN,
              SCRIPTS("{10}<500>{11}<1000>{12}<1500>{13}<2500>{14}<2600>|")),
      others, 1, pair_digits, NULL);
  struct out o;
  out_start(&o, s, sent, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 4); /* the click at 0 had no token */
  ck_assert_next(&o, 0, 500, 1101);
  ck_assert_next(&o, 1, 1000, 1201);
  ck_assert_next(&o, 2, 1500, 1302);
  ck_assert_next(&o, 3, 2500, 1403);
  ck_assert_completed_at(&o, 2600);
  ck_assert_int_eq(o.active_at_end, 0);
  out_end(&o);
  rill_observable_free(sent);

  struct svc req, ans;
  double t0 = rill_sched_now(s);
  rill_observable_t *two[2] = {
      svc_new(&req, s, E_DOWN, SCRIPTS("{1}<10>{2}<20>{3}<30>|")),
      svc_new(&ans, s, E_DOWN, SCRIPTS("<15>{11}<40>{12}<45>{13}<50>|"))};
  rill_observable_t *pairs = rill_zip(two, 2, pair_digits, NULL);
  out_start(&o, s, pairs, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 3);
  ck_assert_next(&o, 0, t0 + 15, 111);
  ck_assert_next(&o, 1, t0 + 40, 212);
  ck_assert_next(&o, 2, t0 + 45, 313);
  /* the requests are over and every one is answered: done, without
   * waiting for the answers' own end */
  ck_assert_completed_at(&o, t0 + 45);
  ck_assert_call(&ans, 0, t0, t0 + 45, true);
  out_end(&o);
  rill_observable_free(pairs);

  t0 = rill_sched_now(s);
  two[0] = svc_new(&req, s, E_DOWN, SCRIPTS("{1}<10>{2}<20>{3}<30>|"));
  two[1] = svc_new(&ans, s, E_DOWN, SCRIPTS("<15>{11}<40>{12}<45>{13}<50>|"));
  rill_observable_t *status = rill_combine_latest(two, 2, pair_digits, NULL);
  out_start(&o, s, status, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(o.n, 4);
  ck_assert_next(&o, 0, t0 + 15, 211);
  ck_assert_next(&o, 1, t0 + 20, 311);
  ck_assert_next(&o, 2, t0 + 40, 312);
  ck_assert_next(&o, 3, t0 + 45, 313);
  ck_assert_completed_at(&o, t0 + 50);
  out_end(&o);
  rill_observable_free(status);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 14. A keyed feed: group_by(sensor) + merge_map + a throttle per sensor
 *     (leading and trailing), stopped by SIGINT (issue 11, the sensor
 *     gateway's shape on the virtual clock)
 * ========================================================================= */

/* Readings are sensor * 100 + n, owned.  Sensor 1: 101@0 102@3 103@12
 * 104@24; sensor 2: 201@1 202@5 203@22; then 105@30, 205@31 and the end
 * at 40, which the tests below never reach.  No reading falls on a
 * window's end, so no tie decides anything. */
static rill_observable_t *sensor_feed(struct svc *feed, rill_sched_t *s) {
  return svc_new(feed, s, E_DOWN,
                 SCRIPTS("{101}<1>{201}<3>{102}<5>{202}<12>{103}<22>{203}"
                         "<24>{104}<30>{105}<31>{205}<40>|"));
}

static int sensor_of_reading(void *ctx, rill_value_t v, rill_value_t *key) {
  (void)ctx;
  *key = rill_value_int(tl_owned_int(v) / 100);
  return 0;
}

static int throttle_both_edges(void *ctx, rill_value_t group,
                               rill_observable_t **out) {
  *out =
      rill_throttle(rill_group_observable(group), ctx, 10,
                    &(rill_throttle_opts_t){.edges = RILL_THROTTLE_LEADING |
                                                     RILL_THROTTLE_TRAILING});
  return *out ? 0 : RILL_ENOMEM;
}

/* take_until(signal) upstream of group_by: the shutdown recipe. */
static rill_observable_t *keyed_gateway(struct svc *feed, rill_sched_t *s) {
  rill_observable_t *in =
      rill_take_until(sensor_feed(feed, s), rill_signal(s, SIGINT));
  return rill_merge_map(rill_group_by(in, sensor_of_reading, NULL, NULL),
                        throttle_both_edges, s, 0, 0);
}

/* Each sensor is throttled on its own: sensor 1's windows [0,10] [10,20]
 * [20,30] each end with the newest reading kept, sensor 2's [1,11] too,
 * while [11,21] ends empty and 203 opens a new window.  SIGINT at 25
 * cancels the feed at once; sensor 2 has nothing kept and completes,
 * sensor 1's 104 goes out when its window ends, at 30, and the stream
 * completes then, with every reading released and nothing armed. */
START_TEST(keyed_throttle_flushes_each_sensor_at_sigint) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc feed;
  rill_observable_t *obs = keyed_gateway(&feed, s);
  struct out o;
  out_start(&o, s, obs, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_advance_to(s, 25), 0);
  ck_assert_int_eq(o.n, 6);
  ck_assert_int_eq(rill_sched_raise(s, SIGINT), 1);
  ck_assert_call(&feed, 0, 0, 25, true); /* cancelled at the signal */
  ck_assert_int_eq(o.terminals, 0);      /* 104 is still held */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  static const int64_t want[][2] = {{0, 101},  {1, 201},  {10, 102}, {11, 202},
                                    {20, 103}, {22, 203}, {30, 104}};
  ck_assert_int_eq(o.n, 7);
  for (int i = 0; i < 7; i++)
    ck_assert_next(&o, i, want[i][0], want[i][1]);
  ck_assert_completed_at(&o, 30);
  ck_assert_int_eq(o.active_at_end, 0); /* the signal watcher is gone too */
  ck_assert_int_eq(rill_sched_raise(s, SIGINT), 0);
  out_end(&o);
  rill_observable_free(obs);
  finish(s); /* 105 and 205 were never made; the rest released once */
}
END_TEST

/* A subscriber that cancels from inside its on_next of value `at_n`. */
struct out_cancel {
  struct out o; /* first: the out_* callbacks get it */
  int64_t at_n;
};

static void cancel_on_next(void *ctx, rill_value_t v) {
  struct out_cancel *c = ctx;
  out_on_next(&c->o, v);
  if (c->o.n == c->at_n)
    rill_subscription_cancel(c->o.sub);
}

/* Cancelled from the downstream of sensor 1's throttle, inside its
 * trailing emission at 10 (a timer callback), while sensor 2's throttle
 * holds 202 and an armed timer: 202 is released, both throttles' timers
 * and the signal watcher stop, the feed is cancelled at 10, and nothing
 * else arrives. */
START_TEST(keyed_throttle_cancelled_from_downstream_releases_what_it_holds) {
  begin();
  rill_sched_t *s = rill_sched_virtual_new();
  struct svc feed;
  rill_observable_t *obs = keyed_gateway(&feed, s);
  struct out_cancel c;
  memset(&c, 0, sizeof(c));
  c.o.s = s;
  c.o.demand = RILL_UNBOUNDED;
  c.at_n = 3;
  static const rill_subscriber_t sub = {.on_subscribe = out_on_subscribe,
                                        .on_next = cancel_on_next,
                                        .on_error = out_on_error,
                                        .on_complete = out_on_complete};
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, &c, &c.o.h), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(c.o.n, 3);
  ck_assert_next(&c.o, 2, 10, 102);
  ck_assert_int_eq(c.o.terminals, 0);
  ck_assert_call(&feed, 0, 0, 10, true);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_raise(s, SIGINT), 0);
  ck_assert_int_eq(tl_owned_made, 4); /* 101 201 102 202 */
  out_end(&c.o);
  rill_observable_free(obs);
  finish(s);
}
END_TEST

/* ===========================================================================
 * 15. The same on libev, once: breaker + retry + timeout on a real loop
 *     (the realtime suite's style: generous bounds, a watchdog)
 * ========================================================================= */

struct ev_case {
  rill_sched_t *s;
  int made;
};

/* The first call hangs (the timeout fails it), later ones answer after
 * 5 ms. */
static int ev_call(void *ctx, rill_observable_t **out) {
  struct ev_case *c = ctx;
  *out = c->made++ == 0 ? rill_never() : rill_timer(c->s, 5);
  return 0;
}

static void ev_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  *(bool *)w->data = true;
  ev_break(loop, EVBREAK_ALL);
}

/* Subscribe, then ev_run until it returns by itself; the time the stream
 * took to end, and in *back the time ev_run took to return. */
static double ev_go(struct ev_loop *loop, rill_sched_t *s, struct out *o,
                    rill_observable_t *obs, double *back) {
  ev_now_update(loop);
  double t0 = rill_sched_now(s);
  out_start(o, s, obs, RILL_UNBOUNDED);
  bool hung = false;
  ev_timer dog;
  ev_timer_init(&dog, ev_dog, 3.0, 0.);
  dog.data = &hung;
  ev_timer_start(loop, &dog);
  ev_unref(loop); /* the watchdog alone does not keep ev_run going */
  ev_run(loop, 0);
  ev_ref(loop);
  ev_timer_stop(loop, &dog);
  ck_assert_msg(!hung, "ev_run still busy after 3 s");
  ev_now_update(loop);
  *back = ev_now(loop) * 1000.0 - t0;
  ck_assert_int_eq(o->terminals, 1);
  return o->end_at - t0;
}

START_TEST(breaker_retry_timeout_on_libev_and_ev_run_returns_by_itself) {
  begin();
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  ck_assert_ptr_nonnull(loop);
  rill_sched_t *s = rill_sched_ev_new(loop);
  ck_assert_ptr_nonnull(s);
  rill_breaker_t *b = rill_breaker_new(
      s, &(rill_breaker_opts_t){.consecutive_failures = 2, .open_ms = 1000});
  struct ev_case c = {.s = s};
  rill_retry_opts_t backoff = {.sched = s, .initial_ms = 5};
  /* hangs, times out at 20 ms; retried 5 ms later, answers 5 ms after */
  rill_observable_t *req =
      rill_retry(rill_circuit_breaker(
                     rill_timeout(rill_defer(ev_call, &c), s, 20, 20, NULL), b),
                 2, &backoff);
  struct out o;
  double back, took = ev_go(loop, s, &o, req, &back);
  ck_assert_int_eq(o.n, 1);
  ck_assert_int_eq(o.v[0], 0);
  ck_assert_int_eq(o.terminal, REC_COMPLETE);
  ck_assert_msg(took >= 29.5 && took < 400, "took %.1f ms", took);
  ck_assert_msg(back < 400, "ev_run returned after %.1f ms", back);
  ck_assert_int_eq(c.made, 2);
  ck_assert_bstats(b, 2, 1, 1, 0);
  ck_assert_int_eq(rill_sched_active(s), 0); /* no watcher left */
  out_end(&o);
  rill_observable_free(req);
  /* two hanging calls open the breaker: its OPEN timer (1 s) is armed
   * but does not hold the loop, which returns once the error is out */
  rill_observable_t *hang = rill_retry(
      rill_circuit_breaker(rill_timeout(rill_never(), s, 10, 10, NULL), b), 1,
      &backoff);
  took = ev_go(loop, s, &o, hang, &back);
  ck_assert_int_eq(o.terminal, REC_ERROR);
  ck_assert_int_eq(o.err.code, RILL_ETIMEDOUT);
  ck_assert_msg(took >= 24.5 && took < 400, "took %.1f ms", took);
  ck_assert_msg(back < 400, "ev_run returned after %.1f ms", back);
  ck_assert_int_eq(rill_breaker_state(b), RILL_BREAKER_OPEN);
  ck_assert_int_eq(rill_sched_active(s), 1); /* the breaker's timer only */
  out_end(&o);
  rill_observable_free(hang);
  rill_breaker_free(b);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ev_loop_destroy(loop);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- the suite -----------------------------------------------------------*/

Suite *patterns_suite(void) {
  Suite *su = suite_create("patterns");
  TCase *tc = tcase_create("retry_and_breaker");
  tcase_add_test(tc,
                 retry_inside_a_breaker_counts_one_failure_per_exhausted_set);
  tcase_add_test(
      tc, breaker_inside_retry_counts_each_attempt_and_retry_meets_it_open);
  tcase_add_test(tc, immediate_retries_are_spent_against_an_open_breaker);
  tcase_add_test(
      tc, half_open_admits_exactly_the_trials_and_one_failed_probe_reopens);
  suite_add_tcase(su, tc);

  tc = tcase_create("hedge");
  tcase_add_test(tc, hedged_request_slow_primary_fast_fallback_answers_at_2500);
  tcase_add_test(tc, hedged_request_fast_primary_never_starts_the_fallback);
  tcase_add_test(tc, hedged_request_both_failing_is_one_error_naming_two);
  tcase_add_test(tc, hedged_request_early_primary_failure_waits_for_the_hedge);
  tcase_add_test(tc, hedged_request_cancelled_with_both_calls_in_flight);
  suite_add_tcase(su, tc);

  tc = tcase_create("combinators");
  tcase_add_test(tc, all_settled_of_five_where_the_third_fails);
  tcase_add_test(tc, cdn_mirrors_any_skips_the_fast_failure_race_returns_it);
  tcase_add_test(tc, an_open_breaker_loses_race_for_everyone_but_not_any);
  tcase_add_test(tc, combinators_of_zero_sources_do_what_rill_h_says);
  tcase_add_test(tc, fork_join_error_cancels_every_sibling_and_stops_its_timer);
  suite_add_tcase(su, tc);

  tc = tcase_create("scatter_gather");
  tcase_add_test(tc,
                 scatter_gather_merged_slow_legs_get_the_cache_at_the_timeout);
  tcase_add_test(tc, scatter_gather_fork_joined_is_one_array_at_the_timeout);
  suite_add_tcase(su, tc);

  tc = tcase_create("backoff");
  tcase_add_test(tc, retry_full_jitter_attempts_at_exact_instants);
  tcase_add_test(tc, retry_zero_retries_is_one_attempt);
  tcase_add_test(tc, retry_should_retry_rejects_a_permanent_error_at_once);
  tcase_add_test(tc, a_deadline_around_retries_cuts_the_backoff_short);
  suite_add_tcase(su, tc);

  tc = tcase_create("bounded");
  tcase_add_test(
      tc, one_limiter_shared_by_two_pipelines_bounds_and_orders_the_calls);
  tcase_add_test(tc,
                 merge_map_of_ten_thousand_calls_never_has_more_than_ten_live);
  tcase_add_test(tc, sequential_calls_never_overlap_what_they_hold);
  tcase_add_test(tc, a_producer_ends_before_its_terminal_goes_downstream);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(su, tc);

  tc = tcase_create("timeout");
  tcase_add_test(tc, timeout_leaves_no_timer_once_the_upstream_has_ended);
  tcase_add_test(tc, timeout_inside_retry_leaves_no_timer_after_success);
  suite_add_tcase(su, tc);

  tc = tcase_create("notifications");
  tcase_add_test(tc, materialize_merge_dematerialize_ends_at_the_first_end);
  tcase_add_test(
      tc, materialize_merge_dematerialize_without_completions_merges_all);
  suite_add_tcase(su, tc);

  tc = tcase_create("finalize");
  tcase_add_test(tc, finalize_runs_once_when_a_retry_gives_up);
  tcase_add_test(tc, finalize_runs_once_when_cancelled_during_a_backoff_delay);
  tcase_add_test(tc,
                 finalize_runs_once_when_a_waiting_limited_call_is_cancelled);
  suite_add_tcase(su, tc);

  tc = tcase_create("degradation");
  tcase_add_test(tc, fallback_chain_primary_secondary_then_cache);
  tcase_add_test(tc, critical_and_optional_data_nested_combinators);
  tcase_add_test(tc, fork_join_with_on_error_complete_inside_completes_empty);
  suite_add_tcase(su, tc);

  tc = tcase_create("shaping");
  tcase_add_test(tc, polling_with_repeat_stops_when_the_job_is_done);
  tcase_add_test(tc, typeahead_debounces_and_cancels_the_stale_search);
  tcase_add_test(tc, gps_feed_throttled_to_two_per_second);
  tcase_add_test(tc, requests_take_the_latest_token_and_pair_with_answers);
  suite_add_tcase(su, tc);

  tc = tcase_create("keyed");
  tcase_add_test(tc, keyed_throttle_flushes_each_sensor_at_sigint);
  tcase_add_test(
      tc, keyed_throttle_cancelled_from_downstream_releases_what_it_holds);
  suite_add_tcase(su, tc);

  tc = tcase_create("libev");
  tcase_add_test(tc,
                 breaker_retry_timeout_on_libev_and_ev_run_returns_by_itself);
  suite_add_tcase(su, tc);
  return su;
}
