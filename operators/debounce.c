/* SPDX-License-Identifier: MIT */
/* rill: debounce(due) -- emits a value only after `due_ms` have passed
 * without another value (RxJS debounceTime).
 *
 * Demand: asks upstream for everything (the source runs at its own pace;
 * debounce exists to thin it out).  A value that is due when nothing is
 * requested follows the overflow policy (default LATEST: held and
 * delivered at the next request).
 * Time: one scheduler timer for the whole life.  A new value does not touch
 * the timer: it records its arrival time, and when the timer fires early it
 * re-arms itself for the time left (libev manual, "Be smart about
 * timeouts", approach 3), so a burst costs no timer calls per value.
 * Completion: a pending value is emitted at the instant the source
 * completes, then on_complete (RxJS).  Error: the pending value is dropped
 * and the error passes at once.
 * Owns: the timer, the pending value and a held value (released on every
 * path). */
#include <errno.h>

#include "rill-internal.h"

struct debounce_args {
  rill_sched_t *sched;
  double due;
  rill_overflow_t policy;
};

struct debounce_state {
  struct rill__timed t; /* first: the timer and the outbox */
  bool armed;  /* the timer is running (a field, not a call, per value) */
  double last; /* arrival time of the pending value */
};

static void debounce_fired(rill_sched_timer_t *t, void *arg) {
  struct rill__op *op = arg;
  const struct debounce_args *a = op->args;
  struct debounce_state *st = op->state;
  st->armed = false;
  if (rill__op_done(op) || !st->t.has_pending)
    return;
  double left = st->last + a->due - rill__sched_now(a->sched);
  if (left > 0) {
    st->armed = true;
    rill_sched_timer_start(t, left);
    return;
  }
  rill__timed_flush(op);
}

static int debounce_init(struct rill__op *op) {
  const struct debounce_args *a = op->args;
  return rill__timed_init(op, a->sched, debounce_fired, a->policy);
}

static void debounce_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct debounce_args *a = op->args;
  struct debounce_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__timed_keep(&st->t, v);
  st->last = rill__sched_now(a->sched);
  if (!st->armed) {
    st->armed = true;
    rill_sched_timer_start(st->t.timer, a->due);
  }
}

static void debounce_on_error(struct rill__op *op, const rill_error_t *err) {
  struct debounce_state *st = op->state;
  st->armed = false;
  rill_sched_timer_stop(st->t.timer);
  rill__op_error(op, err);
}

static void debounce_on_complete(struct rill__op *op) {
  struct debounce_state *st = op->state;
  st->armed = false;
  rill_sched_timer_stop(st->t.timer);
  rill__timed_flush(op);
  if (!rill__op_done(op))
    rill__outbox_complete(op, &st->t.out);
}

static const struct rill__op_ops debounce_ops = {
    .name = "debounce",
    .args_size = sizeof(struct debounce_args),
    .state_size = sizeof(struct debounce_state),
    .init = debounce_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = debounce_on_next,
    .on_error = debounce_on_error,
    .on_complete = debounce_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_debounce(rill_observable_t *src, rill_sched_t *s,
                                 double due_ms, const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(due_ms >= 0) ||
      policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct debounce_args args = {.sched = s, .due = due_ms, .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &debounce_ops, &args);
}
