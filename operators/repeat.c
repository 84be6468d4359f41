/* SPDX-License-Identifier: MIT */
/* rill: repeat(count, s, delay_ms) -- subscribes to the source again each
 * time it completes, `count` subscriptions in all, waiting delay_ms
 * between them (RxJS repeat({count, delay})).
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h): requests pass to the
 * current subscription 1:1 and what downstream asked for and did not get
 * yet is counted; each new subscription is asked for exactly that.
 * Requests made during a delay go to the next subscription.
 * Time: with delay_ms > 0, one scheduler timer per subscription, started
 * at each completion but the last.  Without a delay the source is
 * subscribed again at once, through the arbiter's trampolined switch: a
 * synchronous source repeated a million times runs in constant stack.
 * Order: the last subscription's completion completes the stream; an
 * error of any subscription ends it at once.
 * Owns: the source recipe; per subscription, the timer.  A cancel during
 * a delay stops the timer.
 * RxJS differences: count RILL_UNBOUNDED is repeat() (forever); count 0
 * completes at once, as RxJS's repeat(0) (EMPTY) does; a negative count
 * is a bad argument (NULL, errno EINVAL) where RxJS reads it as 0.  The
 * delay is a duration on a scheduler, not a notifier function; a negative
 * or NaN delay, or a delay without a scheduler, is EINVAL. */
#include <errno.h>

#include "kit/arbiter.h"

struct repeat_args {
  rill_observable_t *src;
  int64_t count; /* RILL_UNBOUNDED: forever */
  rill_sched_t *sched;
  double delay;
};

struct repeat_state {
  struct rill__arbiter arb;
  rill_sched_timer_t *timer; /* NULL: no delay */
  int64_t subscribed;        /* subscriptions made so far */
  bool started;              /* on_subscribe went downstream */
};

static void repeat_again(struct rill__op *op) {
  const struct repeat_args *a = op->args;
  struct repeat_state *st = op->state;
  st->subscribed++;
  rill__arbiter_switch(op, &st->arb, a->src);
}

static void repeat_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  if (!rill__op_done(op))
    repeat_again(op);
}

static int repeat_init(struct rill__op *op) {
  const struct repeat_args *a = op->args;
  struct repeat_state *st = op->state;
  if (a->delay > 0 && a->count > 1) {
    st->timer = rill_sched_timer_new(a->sched, repeat_fired, op);
    if (st->timer == NULL)
      return RILL_ENOMEM;
  }
  return 0;
}

static void repeat_on_subscribe(struct rill__op *op) {
  const struct repeat_args *a = op->args;
  struct repeat_state *st = op->state;
  if (st->started) { /* one more subscription of the source */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (a->count == 0)
    rill__op_complete(op);
  else
    repeat_again(op);
}

static void repeat_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct repeat_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void repeat_on_complete(struct rill__op *op) {
  const struct repeat_args *a = op->args;
  struct repeat_state *st = op->state;
  if (a->count != RILL_UNBOUNDED && st->subscribed >= a->count)
    rill__op_complete(op);
  else if (st->timer != NULL)
    rill_sched_timer_start(st->timer, a->delay);
  else
    repeat_again(op);
}

static void repeat_on_request(struct rill__op *op, int64_t n) {
  struct repeat_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void repeat_on_cancel(struct rill__op *op) {
  struct repeat_state *st = op->state;
  if (st->timer != NULL)
    rill_sched_timer_stop(st->timer);
}

static void repeat_destroy(struct rill__op *op) {
  struct repeat_state *st = op->state;
  rill_sched_timer_free(st->timer);
  st->timer = NULL;
}

static void repeat_args_release(void *args) {
  struct repeat_args *a = args;
  rill_observable_free(a->src);
}

static const struct rill__op_ops repeat_ops = {
    .name = "repeat",
    .source = true,
    .args_size = sizeof(struct repeat_args),
    .state_size = sizeof(struct repeat_state),
    .init = repeat_init,
    .on_subscribe = repeat_on_subscribe,
    .on_next = repeat_on_next,
    .on_complete = repeat_on_complete,
    .on_request = repeat_on_request,
    .on_cancel = repeat_on_cancel,
    .destroy = repeat_destroy,
    .args_release = repeat_args_release,
};

rill_observable_t *rill_repeat(rill_observable_t *src, int64_t count,
                               rill_sched_t *s, double delay_ms) {
  /* NaN fails the comparison: a bad number like a negative one */
  if (src == NULL || count < 0 || !(delay_ms >= 0) ||
      (delay_ms > 0 && s == NULL)) {
    if (src == NULL)
      rill__errno_null_source();
    else
      errno = EINVAL;
    rill_observable_free(src);
    return NULL;
  }
  struct repeat_args args = {
      .src = src, .count = count, .sched = s, .delay = delay_ms};
  return rill__op_create(NULL, &repeat_ops, &args);
}
