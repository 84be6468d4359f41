/* SPDX-License-Identifier: MIT */
/* rill: buffer_time(span) -- every `span_ms` from subscription, emits an
 * array (RILL_KIND_ARRAY) of the values received during that span,
 * possibly empty (RxJS bufferTime(span)).
 *
 * Demand: asks upstream for everything (the spans, not the consumer, set
 * the pace).  One downstream item is one array.  An array that is due when
 * nothing is requested follows the overflow policy (default LATEST: the
 * newest array is held, an older held one is released, and it is
 * delivered at the next request).
 * Time: one scheduler timer for the whole life, re-armed from its own
 * callback against the ideal schedule start + k * span, so it does not
 * drift when callbacks run late.  Values cost no timer calls.
 * Completion: the current array (even an empty one) is emitted at the
 * instant the source completes, then on_complete, after a held array is
 * delivered (RxJS bufferTime-001, -011).  Error: the current array is
 * dropped and the error passes at once (bufferTime-014).
 * Owns: the timer, the current array and a held array (released on every
 * path).  Read the arrays with rill_array_len/at.
 * RxJS differences: bufferCreationInterval and maxBufferSize are not
 * supported.  A span that is 0, negative or NaN is a bad argument (NULL,
 * errno EINVAL, source released).  An infinite span emits one array, at
 * completion. */
#include <errno.h>
#include <math.h>

#include "rill-internal.h"

struct buffer_time_args {
  rill_sched_t *sched;
  double span;
  rill_overflow_t policy;
};

struct buffer_time_state {
  struct rill__timed t; /* first: the timer and the outbox */
  rill_array_t *cur;    /* values of the current span; NULL while empty */
  double next_due;      /* when the current span ends */
};

static void buffer_time_arm(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  st->next_due += a->span;
  if (st->next_due < HUGE_VAL)
    rill_sched_timer_start(st->t.timer,
                           st->next_due - rill__sched_now(a->sched));
}

/* Hand the current array (an empty one if nothing arrived) to the outbox. */
static void buffer_time_flush(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill_array_t *arr = st->cur;
  st->cur = NULL;
  if (arr == NULL && (arr = rill_array_new(0)) == NULL) {
    rill_sched_timer_stop(st->t.timer);
    rill__op_fail(op, RILL_ENOMEM, NULL);
    return;
  }
  rill__outbox_offer(op, &st->t.out, rill_value_array(arr));
}

static void buffer_time_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  if (rill__op_done(op))
    return;
  buffer_time_flush(op);
  if (!rill__op_done(op))
    buffer_time_arm(op);
}

static int buffer_time_init(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  return rill__timed_init(op, a->sched, buffer_time_fired, a->policy);
}

static void buffer_time_on_subscribe(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->next_due = rill__sched_now(a->sched);
  buffer_time_arm(op);
  rill__op_request_up(op, RILL_UNBOUNDED);
}

static void buffer_time_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct buffer_time_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->cur == NULL && (st->cur = rill_array_new(0)) == NULL) {
    rill__drop(v);
  } else if (rill_array_push(st->cur, v) == 0) {
    return;
  }
  /* out of memory; v is released */
  rill_sched_timer_stop(st->t.timer);
  rill__op_fail(op, RILL_ENOMEM, NULL);
}

static void buffer_time_on_error(struct rill__op *op, const rill_error_t *err) {
  struct buffer_time_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill_array_unref(st->cur);
  st->cur = NULL;
  rill__op_error(op, err);
}

static void buffer_time_on_complete(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  buffer_time_flush(op);
  if (!rill__op_done(op))
    rill__outbox_complete(op, &st->t.out);
}

static void buffer_time_destroy(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill_array_unref(st->cur);
  st->cur = NULL;
  rill__timed_destroy(op);
}

static const struct rill__op_ops buffer_time_ops = {
    .name = "buffer_time",
    .args_size = sizeof(struct buffer_time_args),
    .state_size = sizeof(struct buffer_time_state),
    .init = buffer_time_init,
    .on_subscribe = buffer_time_on_subscribe,
    .on_next = buffer_time_on_next,
    .on_error = buffer_time_on_error,
    .on_complete = buffer_time_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = buffer_time_destroy,
};

rill_observable_t *rill_buffer_time(rill_observable_t *src, rill_sched_t *s,
                                    double span_ms, const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(span_ms > 0) ||
      policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct buffer_time_args args = {
      .sched = s, .span = span_ms, .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &buffer_time_ops, &args);
}
