/* SPDX-License-Identifier: MIT */
/* rill: delay_subscription(s, delay) -- subscribes to the source only
 * `delay_ms` after the subscription (RxJS delaySubscription(due); RxJava
 * delaySubscription).  The building block of a hedged request:
 * rill_any of a primary and a fallback whose subscription is delayed.
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h) with one switch: requests
 * made during the delay are counted and handed to the source when it is
 * subscribed; after that they pass 1:1.
 * Time: one scheduler timer per subscription, started at on_subscribe;
 * INFINITY never subscribes (the stream stays silent, as never()).  A
 * delay of 0 still waits for the scheduler's next turn (the source is
 * never subscribed inside subscribe).
 * Order: on_subscribe goes downstream at once; the source's own
 * on_subscribe is absorbed by this stage.
 * Owns: the source recipe; per subscription, the timer.  A cancel during
 * the delay stops the timer, and the source is never subscribed.
 * RxJS difference: no Date form (use rill_sched_now() to compute a delay)
 * and no notifier form (delayWhen-style subscription delays). */
#include <errno.h>

#include "kit/arbiter.h"

struct delay_subscription_args {
  rill_observable_t *src;
  rill_sched_t *sched;
  double delay;
};

struct delay_subscription_state {
  struct rill__arbiter arb;
  rill_sched_timer_t *timer;
  bool started; /* on_subscribe went downstream */
};

static void delay_subscription_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  const struct delay_subscription_args *a = op->args;
  struct delay_subscription_state *st = op->state;
  if (!rill__op_done(op))
    rill__arbiter_switch(op, &st->arb, a->src);
}

static int delay_subscription_init(struct rill__op *op) {
  const struct delay_subscription_args *a = op->args;
  struct delay_subscription_state *st = op->state;
  st->timer = rill_sched_timer_new(a->sched, delay_subscription_fired, op);
  return st->timer != NULL ? 0 : RILL_ENOMEM;
}

static void delay_subscription_on_subscribe(struct rill__op *op) {
  const struct delay_subscription_args *a = op->args;
  struct delay_subscription_state *st = op->state;
  if (st->started) { /* the source, once the delay is over */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    rill_sched_timer_start(st->timer, a->delay);
}

static void delay_subscription_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct delay_subscription_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void delay_subscription_on_request(struct rill__op *op, int64_t n) {
  struct delay_subscription_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void delay_subscription_on_cancel(struct rill__op *op) {
  struct delay_subscription_state *st = op->state;
  rill_sched_timer_stop(st->timer);
}

static void delay_subscription_destroy(struct rill__op *op) {
  struct delay_subscription_state *st = op->state;
  rill_sched_timer_free(st->timer);
  st->timer = NULL;
}

static void delay_subscription_args_release(void *args) {
  struct delay_subscription_args *a = args;
  rill_observable_free(a->src);
}

static const struct rill__op_ops delay_subscription_ops = {
    .name = "delay_subscription",
    .source = true,
    .args_size = sizeof(struct delay_subscription_args),
    .state_size = sizeof(struct delay_subscription_state),
    .init = delay_subscription_init,
    .on_subscribe = delay_subscription_on_subscribe,
    .on_next = delay_subscription_on_next,
    .on_request = delay_subscription_on_request,
    .on_cancel = delay_subscription_on_cancel,
    .destroy = delay_subscription_destroy,
    .args_release = delay_subscription_args_release,
};

rill_observable_t *rill_delay_subscription(rill_observable_t *src,
                                           rill_sched_t *s, double delay_ms) {
  /* NaN fails the comparison: a bad number like a negative one */
  if (src == NULL || s == NULL || !(delay_ms >= 0)) {
    if (src == NULL)
      rill__errno_null_source();
    else
      errno = EINVAL;
    rill_observable_free(src);
    return NULL;
  }
  struct delay_subscription_args args = {
      .src = src, .sched = s, .delay = delay_ms};
  return rill__op_create(NULL, &delay_subscription_ops, &args);
}
