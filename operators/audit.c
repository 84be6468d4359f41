/* SPDX-License-Identifier: MIT */
/* rill: audit(window) -- a value that arrives when no window is open opens
 * one of `window_ms`; when it ends, the newest value is emitted (RxJS
 * auditTime).
 *
 * Emits: at the end of each window, the newest value received since it
 * opened (the one that opened it, or a later one).  Values arriving while
 * no window is open open the next one.
 * Demand: asks upstream for everything (audit exists to thin out a source
 * that runs at its own pace).  A value that is due when nothing is
 * requested follows the overflow policy (default LATEST: held and
 * delivered at the next request).
 * Time: one scheduler timer for the whole life, armed by the value that
 * opens a window; later values only replace the pending one and never
 * touch the timer.  Windows are closed at both ends: a value arriving at
 * the very instant a window ends still belongs to it, as on RxJS's virtual
 * clock (where the source's notifications for a frame run before the
 * window's timer).  To get that order, the timer, when it fires at the
 * window's end, re-arms itself once with 0 ms ("soon") so that whatever
 * else is due at that instant runs first; on libev that is one extra loop
 * iteration per window.  An infinite window never ends.
 * Completion: waits for an open window: its value goes out at the
 * window's end, then on_complete (RxJS 7: auditTime-001, -003, -004);
 * with no window open, at once.  Error: the pending value is dropped and
 * the error passes at once.
 * Owns: the timer, the pending value and a held value (released on every
 * path). */
#include <errno.h>
#include <math.h>

#include "rill-internal.h"

struct audit_args {
  rill_sched_t *sched;
  double window;
  rill_overflow_t policy;
};

struct audit_state {
  struct rill__timed t; /* first: the timer and the outbox */
  bool open;            /* a window is open */
  bool settling; /* the timer fired at the window's end; second phase due */
  bool closing;  /* the source completed; waiting for the window's end */
};

static void audit_fired(rill_sched_timer_t *t, void *arg) {
  struct rill__op *op = arg;
  struct audit_state *st = op->state;
  if (rill__op_done(op))
    return;
  if (!st->settling) {
    st->settling = true; /* let the rest of this instant run first */
    rill_sched_timer_start(t, 0);
    return;
  }
  st->settling = false;
  st->open = false;
  rill__timed_flush(op);
  if (st->closing && !rill__op_done(op))
    rill__outbox_complete(op, &st->t.out);
}

static int audit_init(struct rill__op *op) {
  const struct audit_args *a = op->args;
  return rill__timed_init(op, a->sched, audit_fired, a->policy);
}

static void audit_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct audit_args *a = op->args;
  struct audit_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__timed_keep(&st->t, v);
  if (!st->open) {
    st->open = true;
    if (isfinite(a->window))
      rill_sched_timer_start(st->t.timer, a->window);
  }
}

static void audit_on_error(struct rill__op *op, const rill_error_t *err) {
  struct audit_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__op_error(op, err);
}

static void audit_on_complete(struct rill__op *op) {
  struct audit_state *st = op->state;
  if (st->open) {
    st->closing = true; /* the pending value goes out at the window's end */
    return;
  }
  rill__outbox_complete(op, &st->t.out);
}

static const struct rill__op_ops audit_ops = {
    .name = "audit",
    .args_size = sizeof(struct audit_args),
    .state_size = sizeof(struct audit_state),
    .init = audit_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = audit_on_next,
    .on_error = audit_on_error,
    .on_complete = audit_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_audit(rill_observable_t *src, rill_sched_t *s,
                              double window_ms, const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(window_ms >= 0) ||
      policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct audit_args args = {.sched = s, .window = window_ms, .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &audit_ops, &args);
}
