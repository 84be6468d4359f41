/* SPDX-License-Identifier: MIT */
/* rill: retry(max_retries, opts) -- subscribes to the source again when it
 * fails, up to max_retries times, after a backoff delay (RxJS retry({count,
 * delay, resetOnSuccess}); the delays follow the AWS Architecture Blog's
 * "Exponential Backoff And Jitter").
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h): requests pass to the
 * current subscription of the source 1:1 and what downstream asked for
 * and did not get yet is counted; each new subscription is asked for
 * exactly that (request 3, one value then an error: the next attempt is
 * asked for 2).  Requests made during a delay are counted and go to the
 * next attempt.
 * Time: with opts->sched and initial_ms > 0, every retry waits its delay
 * on one scheduler timer (made per subscription, started per retry, so a
 * virtual clock sees each delay exactly; a jittered delay of 0 still goes
 * through the timer, so such a retry is never synchronous).  Without a
 * delay the source is subscribed again at once, through the arbiter's
 * trampolined switch: a synchronous source failing a million times
 * retries in constant stack.
 * Delay before retry k (k = 1, 2, ... since the last reset):
 *   base_k = min(max_ms, initial_ms * multiplier^(k-1))  (max_ms 0: no cap)
 *   NONE: base_k          FULL: random(0, base_k)
 *   EQUAL: base_k/2 + random(0, base_k/2)
 *   DECORRELATED: min(max_ms, random(initial_ms, 3 * previous delay)), the
 *   previous delay being initial_ms before the first retry
 * where random(a, b) = a + u * (b - a), u from opts->random in [0, 1) (a
 * result outside [0, 1) is clamped into it, NaN taken as 0).  The default
 * generator is rill's own splitmix64, seeded per subscription by mixing
 * the subscription's address, a per-thread subscription counter and the
 * scheduler's clock: different subscriptions (and, through address-space
 * randomisation, different processes) jitter differently, which is what
 * jitter is for; a test that needs exact delays injects opts->random.
 * Decision per error, in this order: the count (max_retries reached: the
 * error passes on), then opts->should_retry(err, k) (0: the error passes
 * on; negative: fail with that code, message "retry: should_retry
 * (...)"), then the delay.  Without a predicate every error is retried,
 * RILL_ENOMEM included (as RxJS retries every error): a pipeline that
 * must not retry an allocation failure says so in its predicate.
 * With opts->notifier (RxJS's delay function) there is no backoff: retry
 * k waits for the first value of the observable notifier(err, k) returns
 * (subscribed with a demand of 1, cancelled at that value); its
 * completion without a value completes the stream, its error fails it.
 * Reset: RILL_RETRY_RESET_ON_VALUE (the default) starts the count and the
 * delay sequence again at every value; RILL_RETRY_RESET_NEVER counts every
 * retry of the subscription.
 * Owns: the source recipe; per subscription, the timer or the notifier's
 * subscription.  A cancel during a delay stops the timer (cancels the
 * notifier); nothing else is pending then.
 * RxJS differences: the default reset is ON_VALUE, i.e. RxJS's
 * resetOnSuccess: true, whereas RxJS defaults to resetOnSuccess: false
 * (RILL_RETRY_RESET_NEVER): a stream that makes progress between failures
 * keeps being retried, which is what a long-lived connection wants.  The
 * delay is a backoff formula on a scheduler, or a notifier function; a
 * negative, NaN or (for the multiplier) below-1 number is a bad argument
 * (NULL, errno EINVAL) where RxJS reads a negative delay as none; a delay
 * without a scheduler is EINVAL too. */
#include <errno.h>
#include <math.h>

#include "kit/arbiter.h"
#include "kit/inner.h"

struct retry_args {
  rill_observable_t *src;
  int64_t max_retries; /* RILL_UNBOUNDED: no limit */
  rill_retry_opts_t o; /* multiplier resolved (0 -> 2) */
};

struct retry_state {
  struct rill__arbiter arb;
  rill_sched_timer_t *timer;    /* NULL: no delays */
  struct rill__inner *notifier; /* the delay notifier waited for */
  int64_t attempt;              /* retries since the last reset */
  double base;                  /* base_k of the next retry (min(cap, ...)) */
  double prev;                  /* the previous delay (DECORRELATED) */
  uint64_t rng;                 /* splitmix64 state */
  bool started;                 /* on_subscribe went downstream */
};

static _Thread_local uint64_t retry_seeds;

/* u in [0, 1): the user's generator, clamped, or ours. */
static double retry_uniform(const struct retry_args *a,
                            struct retry_state *st) {
  if (a->o.random == NULL)
    return rill__rng_uniform(&st->rng);
  double u = a->o.random(a->o.random_ctx);
  if (!(u > 0))
    return 0;                              /* negative and NaN */
  return u < 1 ? u : 0x1.fffffffffffffp-1; /* the largest double below 1 */
}

static double retry_cap(const struct retry_args *a, double d) {
  return a->o.max_ms > 0 && d > a->o.max_ms ? a->o.max_ms : d;
}

/* The delay before the next retry (see the top comment); base_k is kept
 * from one retry to the next (times the multiplier, capped), so no pow()
 * and no overflow past the cap. */
static double retry_delay(const struct retry_args *a, struct retry_state *st) {
  const rill_retry_opts_t *o = &a->o;
  double base = st->base;
  st->base = retry_cap(a, base * o->multiplier);
  switch (o->jitter) {
  case RILL_JITTER_FULL:
    return retry_uniform(a, st) * base;
  case RILL_JITTER_EQUAL:
    return base / 2 + retry_uniform(a, st) * (base / 2);
  case RILL_JITTER_DECORRELATED: {
    double lo = o->initial_ms, hi = 3 * st->prev;
    st->prev = retry_cap(a, lo + retry_uniform(a, st) * (hi - lo));
    return st->prev;
  }
  default:
    return base;
  }
}

static void retry_reset(const struct retry_args *a, struct retry_state *st) {
  st->attempt = 0;
  st->base = retry_cap(a, a->o.initial_ms);
  st->prev = a->o.initial_ms;
}

static void retry_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  if (!rill__op_done(op))
    rill__arbiter_switch(op, &st->arb, a->src);
}

/* ---- the delay notifier (opts->notifier; a kit inner) ---------------------*/

static void retry_notifier_drop(struct retry_state *st) {
  if (st->notifier != NULL)
    rill__inner_release(st->notifier);
  st->notifier = NULL;
}

static void notifier_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  rill__drop(v);
  retry_notifier_drop(st);
  if (!rill__op_done(op))
    rill__arbiter_switch(op, &st->arb, a->src);
}

static void notifier_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct retry_state *st = op->state;
  rill_error_t copy;
  if (err != NULL)
    copy = *err;
  retry_notifier_drop(st);
  if (err != NULL)
    rill__op_error(op, &copy);
  else
    rill__op_complete(op);
}

static const struct rill__inner_ops notifier_ops = {
    .on_next = notifier_next,
    .on_end = notifier_end,
};

/* Ask the user's function for the notifier of retry k and wait for it. */
static void retry_notify(struct rill__op *op, rill_error_t *err, int64_t k) {
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  rill_observable_t *obs = NULL;
  int rc = a->o.notifier(a->o.notifier_ctx, err, k, &obs);
  if (rill__op_done(op)) { /* it cancelled */
    rill_observable_free(obs);
    return;
  }
  if (rc >= 0 && obs == NULL)
    rc = RILL_EINVAL;
  if (rc < 0) {
    rill_observable_free(obs);
    rill__op_fail_callback(op, rc, "notifier");
    return;
  }
  st->notifier = rill__inner_new(&notifier_ops, op, 1);
  if (st->notifier == NULL) {
    rill_observable_free(obs);
    rill__op_fail(op, RILL_ENOMEM, NULL);
    return;
  }
  rill__inner_subscribe(st->notifier, obs);
  rill_observable_free(obs); /* the subscription keeps what it needs */
}

/* ---- the operator -------------------------------------------------------*/

static int retry_init(struct rill__op *op) {
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  uint64_t seed = (uint64_t)(uintptr_t)op ^ (++retry_seeds << 32);
  if (a->o.sched != NULL)
    seed ^= (uint64_t)rill__sched_now(a->o.sched);
  st->rng = rill__rng_next(&seed);
  retry_reset(a, st);
  if (a->o.sched != NULL && a->o.initial_ms > 0) {
    st->timer = rill_sched_timer_new(a->o.sched, retry_fired, op);
    if (st->timer == NULL)
      return RILL_ENOMEM;
  }
  return 0;
}

static void retry_on_subscribe(struct rill__op *op) {
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  if (st->started) { /* a new attempt */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    rill__arbiter_switch(op, &st->arb, a->src);
}

static void retry_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  if (a->o.reset == RILL_RETRY_RESET_ON_VALUE)
    retry_reset(a, st);
  rill__arbiter_emit(op, &st->arb, v);
}

static void retry_on_error(struct rill__op *op, const rill_error_t *err) {
  const struct retry_args *a = op->args;
  struct retry_state *st = op->state;
  if (a->max_retries != RILL_UNBOUNDED && st->attempt >= a->max_retries) {
    rill__op_error(op, err);
    return;
  }
  int64_t k = st->attempt + 1;
  if (a->o.should_retry != NULL) {
    rill_error_t copy = *err;
    int rc = a->o.should_retry(a->o.pred_ctx, &copy, k);
    if (rill__op_done(op)) /* the predicate cancelled */
      return;
    if (rc < 0) {
      rill__op_fail_callback(op, rc, "should_retry");
      return;
    }
    if (rc == 0) {
      rill__op_error(op, &copy);
      return;
    }
  }
  st->attempt = k;
  if (a->o.notifier != NULL) {
    rill_error_t copy = *err;
    retry_notify(op, &copy, k);
    return;
  }
  if (st->timer != NULL) {
    double d = retry_delay(a, st);
    /* 0 * an uncapped base grown to infinity: that base is "never" too */
    rill_sched_timer_start(st->timer, d == d ? d : (double)INFINITY);
    return;
  }
  rill__arbiter_switch(op, &st->arb, a->src);
}

static void retry_on_request(struct rill__op *op, int64_t n) {
  struct retry_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void retry_on_cancel(struct rill__op *op) {
  struct retry_state *st = op->state;
  if (st->timer != NULL)
    rill_sched_timer_stop(st->timer);
  retry_notifier_drop(st);
}

static void retry_destroy(struct rill__op *op) {
  struct retry_state *st = op->state;
  rill_sched_timer_free(st->timer);
  st->timer = NULL;
  retry_notifier_drop(st);
}

static void retry_args_release(void *args) {
  struct retry_args *a = args;
  rill_observable_free(a->src);
}

static const struct rill__op_ops retry_ops = {
    .name = "retry",
    .source = true,
    .args_size = sizeof(struct retry_args),
    .state_size = sizeof(struct retry_state),
    .init = retry_init,
    .on_subscribe = retry_on_subscribe,
    .on_next = retry_on_next,
    .on_error = retry_on_error,
    .on_request = retry_on_request,
    .on_cancel = retry_on_cancel,
    .destroy = retry_destroy,
    .args_release = retry_args_release,
};

/* NaN fails every comparison: each test is written to pass only for a
 * good number. */
static bool retry_opts_ok(const rill_retry_opts_t *o) {
  return o->initial_ms >= 0 && o->max_ms >= 0 &&
         (o->multiplier == 0 || o->multiplier >= 1) &&
         (o->initial_ms == 0 || o->sched != NULL) &&
         (o->initial_ms == 0 || o->notifier == NULL) &&
         o->jitter >= RILL_JITTER_NONE &&
         o->jitter <= RILL_JITTER_DECORRELATED &&
         (o->reset == RILL_RETRY_RESET_ON_VALUE ||
          o->reset == RILL_RETRY_RESET_NEVER);
}

rill_observable_t *rill_retry(rill_observable_t *src, int64_t max_retries,
                              const rill_retry_opts_t *opts) {
  struct retry_args args = {.src = src, .max_retries = max_retries};
  if (opts != NULL)
    args.o = *opts;
  if (src == NULL || max_retries < 0 || !retry_opts_ok(&args.o)) {
    if (src == NULL)
      rill__errno_null_source();
    else
      errno = EINVAL;
    rill_observable_free(src);
    return NULL;
  }
  if (args.o.multiplier == 0)
    args.o.multiplier = 2;
  return rill__op_create(NULL, &retry_ops, &args);
}
