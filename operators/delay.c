/* SPDX-License-Identifier: MIT */
/* rill: delay(d) -- emits each value `delay_ms` after it arrived (RxJS
 * delay with a number).
 *
 * Demand: asks the source for DELAY_PREFETCH (128) values ahead and tops
 * it up by halves as values go out, so the queue never holds more than 128
 * values whatever downstream requested (unbounded demand over an endless
 * synchronous source used to queue everything).  A value that falls due
 * without downstream demand waits at the head for a request, and holds
 * the source back.  Flow control is the kit's (src/kit/): one drain loop
 * emits, from the timer and from requests; a request made from on_next is
 * served by the loop on the stack.
 * Time: one scheduler timer for the whole life, armed for the head of a
 * FIFO of (due time, value); values arrive in order and share one delay, so
 * due times never decrease and the head is always the next one due.  A
 * burst of values costs no timer calls after the first.  One drain emits
 * at most the values that were queued when it began; values that arrive
 * meanwhile (a synchronous upstream answering the top-up) wait for the
 * next turn of the scheduler, so delay(0) on an endless synchronous source
 * cannot spin in one callback.
 * Completion: at once if nothing is queued, else right after the last
 * queued value is out (RxJS: delay-009/-010 against -011).  Error: passes
 * at once; queued values are dropped.
 * Owns: the timer and the queued values (released on every path).
 * RxJS differences: a negative or NaN delay is a bad argument (NULL, errno
 * EINVAL, source released); RxJS treats a negative delay as 0.  An absolute
 * date (RxJS delay(new Date(...))) is rill_delay_until(), a separate
 * constructor on the same stage.  An infinite delay never emits (the
 * timer is not armed). */
#include <errno.h>
#include <math.h>

#include "kit/kit.h"

/* Values asked of the source ahead of their emission: the queue never
 * holds more than this many values, whatever downstream requested. */
#define DELAY_PREFETCH 128

struct delay_args {
  rill_sched_t *sched;
  double delay; /* relative: due = arrival + delay */
  double until; /* absolute (rill_delay_until): due = max(arrival, until) */
  bool absolute;
};

struct delay_state {
  rill_sched_timer_t *timer;
  struct rill__ring queue; /* (due, value) pairs: a double, then the value */
  struct rill__drain drain;
  int64_t demand;   /* downstream's, not yet produced */
  int64_t consumed; /* emitted since the source was last topped up */
  bool closing;     /* upstream completed: complete once the queue is empty */
};

/* Emit what is due while there is demand and budget; top the source up
 * by halves; complete after the last value; otherwise arm the timer for
 * the head (0 ms when the budget ran out: the next turn). */
static void delay_pass(struct rill__op *op, uint32_t *budget) {
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  double now = rill__sched_now(a->sched);
  while (st->demand > 0 && *budget > 0 && !rill__ring_empty(&st->queue) &&
         rill__ring_peek(&st->queue).as.d <= now) {
    --*budget;
    rill__ring_pop(&st->queue); /* the due time */
    rill__demand_emit(op, &st->demand, rill__ring_pop(&st->queue));
    if (rill__op_done(op))
      return;
    if (++st->consumed >= DELAY_PREFETCH / 2) {
      rill__op_request_up(op, st->consumed);
      st->consumed = 0;
    }
  }
  if (rill__ring_empty(&st->queue)) {
    if (st->closing)
      rill__op_complete(op);
    return;
  }
  double left = rill__ring_peek(&st->queue).as.d - now;
  if (left > 0)
    rill_sched_timer_start(st->timer, left); /* INFINITY: never */
  else if (st->demand > 0) /* due, requested, out of budget: next turn */
    rill_sched_timer_start(st->timer, 0);
  /* else: due, and waiting for a request */
}

static void delay_drain(struct rill__op *op) {
  struct delay_state *st = op->state;
  if (!rill__drain_enter(&st->drain))
    return;
  uint32_t budget = rill__ring_len(&st->queue) / 2; /* queued values now */
  do
    if (!rill__op_done(op))
      delay_pass(op, &budget);
  while (rill__drain_again(&st->drain));
}

static void delay_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  delay_drain(arg);
}

static int delay_init(struct rill__op *op) {
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  rill__ring_init(&st->queue, 2 * DELAY_PREFETCH);
  st->timer = rill_sched_timer_new(a->sched, delay_fired, op);
  return st->timer ? 0 : RILL_ENOMEM;
}

static void delay_on_subscribe(struct rill__op *op) {
  op->down->vt->on_subscribe(op->down, &op->node);
  rill__op_request_up(op, DELAY_PREFETCH);
}

static void delay_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  double now = rill__sched_now(a->sched);
  double due = a->absolute ? (now > a->until ? now : a->until) : now + a->delay;
  bool was_empty = rill__ring_empty(&st->queue);
  int rc = rill__ring_push(&st->queue, rill_value_double(due));
  if (rc == 0)
    rc = rill__ring_push(&st->queue, v);
  else
    rill__drop(v);
  if (rc < 0) {
    rill_sched_timer_stop(st->timer);
    rill__ring_clear(&st->queue);
    rill__op_fail(op, rc == RILL_EOVERFLOW ? RILL_EPROTO : rc,
                  rc == RILL_EOVERFLOW ? "the source sent more than requested"
                                       : NULL);
    return;
  }
  if (was_empty) /* the head changed: emit it or arm for it */
    delay_drain(op);
}

static void delay_on_error(struct rill__op *op, const rill_error_t *err) {
  struct delay_state *st = op->state;
  rill_sched_timer_stop(st->timer);
  rill__ring_clear(&st->queue);
  rill__op_error(op, err);
}

static void delay_on_complete(struct rill__op *op) {
  struct delay_state *st = op->state;
  st->closing = true;
  delay_drain(op);
}

static void delay_on_request(struct rill__op *op, int64_t n) {
  struct delay_state *st = op->state;
  rill__demand_more(&st->demand, n);
  delay_drain(op);
}

static void delay_on_cancel(struct rill__op *op) {
  struct delay_state *st = op->state;
  rill_sched_timer_stop(st->timer);
}

static void delay_destroy(struct rill__op *op) {
  struct delay_state *st = op->state;
  rill_sched_timer_free(st->timer);
  st->timer = NULL;
  rill__ring_clear(&st->queue);
}

static const struct rill__op_ops delay_ops = {
    .name = "delay",
    .args_size = sizeof(struct delay_args),
    .state_size = sizeof(struct delay_state),
    .init = delay_init,
    .on_subscribe = delay_on_subscribe,
    .on_next = delay_on_next,
    .on_error = delay_on_error,
    .on_complete = delay_on_complete,
    .on_request = delay_on_request,
    .on_cancel = delay_on_cancel,
    .destroy = delay_destroy,
};

rill_observable_t *rill_delay(rill_observable_t *src, rill_sched_t *s,
                              double delay_ms) {
  if (s == NULL || !(delay_ms >= 0)) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct delay_args args = {.sched = s, .delay = delay_ms};
  return rill__op_create(src, &delay_ops, &args);
}

rill_observable_t *rill_delay_until(rill_observable_t *src, rill_sched_t *s,
                                    double at_ms) {
  if (s == NULL || isnan(at_ms)) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct delay_args args = {.sched = s, .until = at_ms, .absolute = true};
  return rill__op_create(src, &delay_ops, &args);
}
