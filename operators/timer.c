/* SPDX-License-Identifier: MIT */
/* rill: timer(due) -- emits 0 once `due_ms` after subscription, then
 * completes (RxJS timer(dueTime)).
 *
 * Demand: without demand when the timer fires, the 0 is held and delivered
 * at the next request, then the stream completes (rule 1.1).
 * Time: one scheduler timer, started at subscribe, stopped by cancel.
 * Owns: the timer.  A source: it has no upstream. */
#include <errno.h>

#include "rill-internal.h"

struct timer_args {
  rill_sched_t *sched;
  double due;
};

struct timer_state {
  struct rill__timed t; /* first: the timer and the outbox */
};

static void timer_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  struct timer_state *st = op->state;
  if (rill__op_done(op))
    return;
  rill__outbox_offer(op, &st->t.out, rill_value_int(0));
  rill__outbox_complete(op, &st->t.out);
}

static int timer_init(struct rill__op *op) {
  const struct timer_args *a = op->args;
  return rill__timed_init(op, a->sched, timer_fired, RILL_OVERFLOW_LATEST);
}

static void timer_on_subscribe(struct rill__op *op) {
  const struct timer_args *a = op->args;
  struct timer_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    rill_sched_timer_start(st->t.timer, a->due);
}

static const struct rill__op_ops timer_ops = {
    .name = "timer",
    .source = true,
    .args_size = sizeof(struct timer_args),
    .state_size = sizeof(struct timer_state),
    .init = timer_init,
    .on_subscribe = timer_on_subscribe,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_timer(rill_sched_t *s, double due_ms) {
  if (s == NULL || !(due_ms >= 0)) {
    errno = EINVAL;
    return NULL;
  }
  struct timer_args args = {.sched = s, .due = due_ms};
  return rill__op_create(NULL, &timer_ops, &args);
}
