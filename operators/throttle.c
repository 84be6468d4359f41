/* SPDX-License-Identifier: MIT */
/* rill: throttle(window) -- emits a value, then ignores values for
 * `window_ms` (RxJS throttleTime).
 *
 * Emits: with `leading` (the default), the first value that arrives
 * outside a window, at once; it opens a window.  With `trailing`, the
 * newest value seen inside a window is kept and emitted when the window
 * ends, and that emission opens a new window; without `leading`, a value
 * outside a window opens one and is kept as its trailing candidate.
 * RxJS difference: asking for neither edge is not possible (edges == 0 is
 * the default, leading); RxJS would emit nothing.
 * Demand: asks upstream for everything (throttle exists to thin out a
 * source that runs at its own pace).  A value that is due when nothing is
 * requested follows the overflow policy (default LATEST: held and
 * delivered at the next request).
 * Time: one scheduler timer for the whole life, used only with `trailing`;
 * no value ever touches it.  Without `trailing` a window is just its end
 * time: each value reads the clock (rill__sched_now(); on libev the loop
 * time, cached per iteration) and compares, so the window is exactly
 * [start, start + window] whatever the loop does, and no timer is armed.
 * With `trailing` the window lasts until its timer fires, and a value
 * inside it only replaces the kept one.
 * Windows are closed at both ends: a value arriving at the very instant a
 * window ends still belongs to it, as on RxJS's virtual clock (where the
 * source's notifications for a frame run before the window's timer;
 * throttleTime-003, -015).  Without `trailing` that is the compare
 * (now <= end).  With it, the timer, when it fires at the window's end,
 * re-arms itself once with 0 ms ("soon") so that whatever else is due at
 * that instant runs first; on libev that is one extra loop iteration per
 * window.  An infinite window never ends (its timer is not armed).
 * Completion: at once, unless `trailing` and a value is kept in an open
 * window: then completion waits for the window's end, where the kept value
 * goes out first (RxJS 7).  Error: a kept value is dropped and the error
 * passes at once.
 * Owns: the timer, the kept value and a held value (released on every
 * path). */
#include <errno.h>
#include <math.h>

#include "rill-internal.h"

struct throttle_args {
  rill_sched_t *sched;
  double window;
  bool leading;
  bool trailing;
  rill_overflow_t policy;
};

struct throttle_state {
  struct rill__timed t; /* first: the timer and the outbox */
  bool open;            /* trailing: a window is open (its timer is pending) */
  bool settling; /* the timer fired at the window's end; second phase due */
  bool closing;  /* the source completed; waiting for the window's end */
  double end;    /* leading only: when the current window ends */
};

/* Open a window of `window` ms from now (trailing mode). */
static void throttle_open(struct rill__op *op) {
  const struct throttle_args *a = op->args;
  struct throttle_state *st = op->state;
  st->open = true;
  st->settling = false;
  if (isfinite(a->window))
    rill_sched_timer_start(st->t.timer, a->window);
}

static void throttle_fired(rill_sched_timer_t *t, void *arg) {
  struct rill__op *op = arg;
  struct throttle_state *st = op->state;
  if (rill__op_done(op))
    return;
  if (!st->settling) {
    st->settling = true; /* let the rest of this instant run first */
    rill_sched_timer_start(t, 0);
    return;
  }
  st->settling = false;
  st->open = false;
  if (st->t.has_pending) { /* the trailing candidate */
    rill__timed_flush(op);
    if (!rill__op_done(op) && !st->closing)
      throttle_open(op);
  }
  if (st->closing && !rill__op_done(op))
    rill__outbox_complete(op, &st->t.out);
}

static int throttle_init(struct rill__op *op) {
  const struct throttle_args *a = op->args;
  struct throttle_state *st = op->state;
  st->t.out.policy = a->policy;
  st->end = -HUGE_VAL;
  st->t.timer = rill_sched_timer_new(a->sched, throttle_fired, op);
  return st->t.timer ? 0 : RILL_ENOMEM;
}

static void throttle_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct throttle_args *a = op->args;
  struct throttle_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (!a->trailing) {
    double now = rill__sched_now(a->sched);
    if (now <= st->end || !a->leading) {
      rill__drop(v); /* inside the window (or nothing is ever emitted) */
      return;
    }
    st->end = now + a->window;
    rill__outbox_offer(op, &st->t.out, v);
    return;
  }
  if (st->open) {
    rill__timed_keep(&st->t, v);
    return;
  }
  if (a->leading) {
    rill__outbox_offer(op, &st->t.out, v);
  } else {
    rill__timed_keep(&st->t, v);
  }
  if (!rill__op_done(op))
    throttle_open(op);
}

static void throttle_on_error(struct rill__op *op, const rill_error_t *err) {
  struct throttle_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__op_error(op, err);
}

static void throttle_on_complete(struct rill__op *op) {
  const struct throttle_args *a = op->args;
  struct throttle_state *st = op->state;
  if (a->trailing && st->t.has_pending && st->open) {
    st->closing = true; /* the kept value goes out at the window's end */
    return;
  }
  rill_sched_timer_stop(st->t.timer);
  rill__outbox_complete(op, &st->t.out);
}

static const struct rill__op_ops throttle_ops = {
    .name = "throttle",
    .args_size = sizeof(struct throttle_args),
    .state_size = sizeof(struct throttle_state),
    .init = throttle_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = throttle_on_next,
    .on_error = throttle_on_error,
    .on_complete = throttle_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_throttle(rill_observable_t *src, rill_sched_t *s,
                                 double window_ms,
                                 const rill_throttle_opts_t *opts) {
  static const rill_throttle_opts_t defaults = {0};
  const rill_throttle_opts_t *o = opts ? opts : &defaults;
  unsigned edges = o->edges ? o->edges : RILL_THROTTLE_LEADING;
  int policy = rill__overflow_pick(o->overflow, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(window_ms >= 0) || policy < 0 ||
      (edges & ~(unsigned)(RILL_THROTTLE_LEADING | RILL_THROTTLE_TRAILING))) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct throttle_args args = {
      .sched = s,
      .window = window_ms,
      .leading = (edges & RILL_THROTTLE_LEADING) != 0,
      .trailing = (edges & RILL_THROTTLE_TRAILING) != 0,
      .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &throttle_ops, &args);
}
