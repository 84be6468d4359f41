/* SPDX-License-Identifier: MIT */
/* rill: the circuit breaker object -- a state machine shared by any number
 * of pipelines (operators/circuit_breaker.c makes each subscription one
 * call through it; the comparison with Resilience4j is there).
 *
 * CLOSED counts outcomes: `consecutive` failures in a row, and a sliding
 * window of the last `window` outcomes (a ring of bytes with its failure
 * count, subtract-on-evict); either rule trips it OPEN.  OPEN rejects every
 * call until `open_until` on the scheduler's clock; a timer fires at that
 * instant and moves it to HALF_OPEN, so on_state runs when the time comes
 * (the timer does not keep ev_run alive: a breaker is no reason for a
 * program to keep running).  Should the timer be missing (it is made at the
 * first trip, and that may fail with ENOMEM) or late (a call arriving in the
 * same libev iteration before it fires), the next admission or state query
 * makes the same move.  HALF_OPEN admits `trials` calls; all of them
 * succeeding closes it (window and counters start afresh), one failing
 * opens it again.
 *
 * Each transition starts a new epoch.  A call remembers the epoch it was
 * admitted in; an outcome from an earlier epoch (a slow call admitted while
 * CLOSED that ends after the breaker opened) is counted in the stats but
 * steers nothing.
 *
 * on_state runs after the state has changed, with a temporary reference
 * held: it may use the breaker (a call made from there sees the new state,
 * and may cause a further, nested, on_state) and may free it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "rill-internal.h"

struct rill_breaker_s {
  uint32_t refs;
  rill_breaker_state_t state;
  uint64_t epoch;
  rill_sched_t *sched;
  rill_sched_timer_t *timer; /* OPEN -> HALF_OPEN; made at the first trip */
  rill_breaker_opts_t o;     /* with the defaults filled in */
  double open_until;         /* OPEN: when HALF_OPEN begins */
  /* CLOSED */
  int64_t consecutive; /* failures in a row */
  uint8_t *ring;       /* the last `window` outcomes, 1 = failure */
  int64_t ring_len, ring_pos, ring_fails;
  /* HALF_OPEN */
  int64_t trials_taken; /* admitted and not cancelled */
  int64_t trials_ok;
  rill_breaker_stats_t stats;
};

rill_breaker_t *rill__breaker_ref(rill_breaker_t *b) {
  b->refs++;
  return b;
}

static void breaker_unref(rill_breaker_t *b) {
  if (--b->refs != 0)
    return;
  rill_sched_timer_free(b->timer);
  rill__free(b->ring);
  rill__free(b);
}

static void breaker_window_reset(rill_breaker_t *b) {
  b->consecutive = 0;
  b->ring_len = b->ring_pos = b->ring_fails = 0;
}

static void breaker_timer_fired(rill_sched_timer_t *t, void *arg);

/* OPEN until now + open_ms: arm the timer, making it at the first trip. */
static void breaker_arm(rill_breaker_t *b) {
  double now = rill_sched_now(b->sched);
  b->open_until = now + b->o.open_ms;
  if (b->timer == NULL) {
    b->timer = rill_sched_timer_new(b->sched, breaker_timer_fired, b);
    if (b->timer == NULL)
      return; /* ENOMEM: the next admission polls the clock instead */
    rill_sched_timer_keepalive(b->timer, false);
  }
  rill_sched_timer_start(b->timer, b->o.open_ms);
}

static void breaker_to(rill_breaker_t *b, rill_breaker_state_t to) {
  rill_breaker_state_t from = b->state;
  b->state = to;
  b->epoch++;
  b->stats.transitions++;
  if (to == RILL_BREAKER_OPEN) {
    breaker_arm(b);
  } else {
    rill_sched_timer_stop(b->timer);
    b->trials_taken = b->trials_ok = 0;
    if (to == RILL_BREAKER_CLOSED)
      breaker_window_reset(b);
  }
  if (b->o.on_state == NULL)
    return;
  b->refs++; /* on_state may drop the last outside reference */
  b->o.on_state(b->o.ctx, from, to);
  breaker_unref(b);
}

/* An OPEN breaker whose time has come goes HALF_OPEN (the timer's job,
 * done here when it has not run yet). */
static void breaker_poll(rill_breaker_t *b) {
  if (b->state == RILL_BREAKER_OPEN &&
      rill_sched_now(b->sched) >= b->open_until)
    breaker_to(b, RILL_BREAKER_HALF_OPEN);
}

static void breaker_timer_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  breaker_poll(arg);
}

int rill__breaker_admit(rill_breaker_t *b, struct rill__breaker_call *call,
                        char *msg, size_t cap) {
  breaker_poll(b);
  switch (b->state) {
  case RILL_BREAKER_CLOSED:
    break;
  case RILL_BREAKER_HALF_OPEN:
    if (b->trials_taken < b->o.half_open_trials)
      break;
    b->stats.rejections++;
    snprintf(msg, cap, "half-open, %lld trial call%s in flight",
             (long long)b->trials_taken, b->trials_taken == 1 ? "" : "s");
    return RILL_EBREAKER_OPEN;
  case RILL_BREAKER_OPEN:
  default: {
    b->stats.rejections++;
    double now = rill_sched_now(b->sched);
    if (isinf(b->open_until))
      snprintf(msg, cap, "open for good (open_ms is infinite)");
    else
      snprintf(msg, cap, "open; half-open at %.15g ms (in %.15g ms)",
               b->open_until, b->open_until - now);
    return RILL_EBREAKER_OPEN;
  }
  }
  call->epoch = b->epoch;
  call->trial = b->state == RILL_BREAKER_HALF_OPEN;
  if (call->trial)
    b->trials_taken++;
  b->stats.calls++;
  return 0;
}

static bool breaker_rate_reached(const rill_breaker_t *b) {
  if (b->o.window == 0 || b->ring_len < b->o.min_calls)
    return false;
  return (double)b->ring_fails / (double)b->ring_len >= b->o.failure_rate;
}

static void breaker_push(rill_breaker_t *b, bool failed) {
  if (b->o.window == 0)
    return;
  if (b->ring_len == b->o.window)
    b->ring_fails -= b->ring[b->ring_pos]; /* the oldest leaves */
  else
    b->ring_len++;
  b->ring[b->ring_pos] = failed;
  b->ring_fails += failed;
  if (++b->ring_pos == b->o.window)
    b->ring_pos = 0;
}

void rill__breaker_record(rill_breaker_t *b,
                          const struct rill__breaker_call *call,
                          enum rill__call_outcome outcome) {
  if (outcome == RILL__CALL_SUCCESS)
    b->stats.successes++;
  else if (outcome == RILL__CALL_FAILURE)
    b->stats.failures++;
  if (call->epoch != b->epoch)
    return; /* admitted in an earlier period: steers nothing now */
  if (call->trial) {
    if (outcome == RILL__CALL_CANCEL)
      b->trials_taken--; /* the slot goes to another call */
    else if (outcome == RILL__CALL_FAILURE)
      breaker_to(b, RILL_BREAKER_OPEN);
    else if (++b->trials_ok == b->o.half_open_trials)
      breaker_to(b, RILL_BREAKER_CLOSED);
    return;
  }
  if (outcome == RILL__CALL_CANCEL)
    return;
  bool failed = outcome == RILL__CALL_FAILURE;
  b->consecutive = failed ? b->consecutive + 1 : 0;
  breaker_push(b, failed);
  /* The rate counts after a success too: the call that brings the window
   * to min_calls may be one (Resilience4j checks after every outcome). */
  if (b->consecutive >= b->o.consecutive_failures || breaker_rate_reached(b))
    breaker_to(b, RILL_BREAKER_OPEN);
}

/* ---- public -------------------------------------------------------------*/

/* Fill in the defaults; false for a bad option. */
static bool breaker_opts_fill(rill_breaker_opts_t *o) {
  if (o->consecutive_failures < 0 || o->window < 0 || o->min_calls < 0 ||
      o->half_open_trials < 0 || !(o->failure_rate >= 0) ||
      o->failure_rate > 1 || !(o->open_ms >= 0))
    return false;
  if (o->consecutive_failures == 0)
    o->consecutive_failures = 5;
  if (o->min_calls == 0)
    o->min_calls = o->window;
  if (o->min_calls > o->window)
    return false;
  if (o->failure_rate == 0)
    o->failure_rate = 0.5;
  if (o->open_ms == 0)
    o->open_ms = 30000;
  if (o->half_open_trials == 0)
    o->half_open_trials = 1;
  return true;
}

rill_breaker_t *rill_breaker_new(rill_sched_t *s,
                                 const rill_breaker_opts_t *opts) {
  rill_breaker_opts_t o = {0};
  if (opts != NULL)
    o = *opts;
  if (s == NULL || !breaker_opts_fill(&o)) {
    errno = EINVAL;
    return NULL;
  }
  rill_breaker_t *b = rill__calloc(1, sizeof(*b));
  if (b != NULL && o.window > 0) {
    b->ring = rill__calloc((size_t)o.window, 1);
    if (b->ring == NULL) {
      rill__free(b);
      b = NULL;
    }
  }
  if (b == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  b->refs = 1;
  b->state = RILL_BREAKER_CLOSED;
  b->sched = s;
  b->o = o;
  return b;
}

void rill_breaker_free(rill_breaker_t *b) {
  if (b != NULL)
    breaker_unref(b);
}

rill_breaker_state_t rill_breaker_state(rill_breaker_t *b) {
  if (b == NULL)
    return RILL_BREAKER_CLOSED;
  b->refs++; /* on_state, run by the poll, may drop the caller's */
  breaker_poll(b);
  rill_breaker_state_t st = b->state;
  breaker_unref(b);
  return st;
}

void rill_breaker_stats(const rill_breaker_t *b, rill_breaker_stats_t *out) {
  if (out == NULL)
    return;
  if (b == NULL) {
    memset(out, 0, sizeof(*out));
    return;
  }
  *out = b->stats;
}
