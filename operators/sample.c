/* SPDX-License-Identifier: MIT */
/* rill: sample(period) -- every `period_ms` from subscription, emits the
 * newest value if one arrived since the previous tick (RxJS sampleTime).
 *
 * Emits: at each tick, the newest value received since the previous tick
 * (even if equal to the one emitted before); nothing when none arrived.
 * Demand: asks upstream for everything (sample exists to thin out a source
 * that runs at its own pace).  A sample that is due when nothing is
 * requested follows the overflow policy (default LATEST: held and
 * delivered at the next request).
 * Time: one scheduler timer for the whole life, started at subscription
 * and re-armed from its own callback against the ideal schedule
 * start + k * period, so it does not drift when callbacks run late (ticks
 * missed by a late callback are skipped, not bunched).  A value never
 * touches the timer: it only replaces the newest one.  A value arriving at
 * the very instant of a tick is part of that tick's sample, as on RxJS's
 * virtual clock (where the source's notifications for a frame run before
 * the interval's tick): the timer, when it fires at a tick, re-arms itself
 * once with 0 ms ("soon") so that whatever else is due at that instant
 * runs first; on libev that is one extra loop iteration per tick.  An
 * infinite period never ticks.
 * Completion: at once; a value not yet sampled is dropped (no final
 * sample, RxJS 7).  A sample already held for lack of demand is still
 * delivered first (rule 1.1 through the outbox).  Error: passes at once,
 * the unsampled value is dropped.
 * Owns: the timer, the newest value and a held value (released on every
 * path). */
#include <errno.h>
#include <math.h>

#include "rill-internal.h"

struct sample_args {
  rill_sched_t *sched;
  double period;
  rill_overflow_t policy;
};

struct sample_state {
  struct rill__timed t; /* first: the timer and the outbox */
  bool settling;        /* the timer fired at a tick; second phase due */
  double next_due;      /* when the coming tick is due */
};

static void sample_arm(struct rill__op *op) {
  const struct sample_args *a = op->args;
  struct sample_state *st = op->state;
  double now = rill__sched_now(a->sched);
  st->next_due += a->period;
  if (st->next_due <= now) { /* late: skip the ticks already missed */
    double missed = (now - st->next_due) / a->period + 1;
    if (missed < 4e18)
      st->next_due += a->period * (double)(int64_t)missed;
    else
      st->next_due = now + a->period;
  }
  if (isfinite(st->next_due))
    rill_sched_timer_start(st->t.timer, st->next_due - now);
}

static void sample_fired(rill_sched_timer_t *t, void *arg) {
  struct rill__op *op = arg;
  struct sample_state *st = op->state;
  if (rill__op_done(op))
    return;
  if (!st->settling) {
    st->settling = true; /* let the rest of this instant run first */
    rill_sched_timer_start(t, 0);
    return;
  }
  st->settling = false;
  rill__timed_flush(op); /* the newest value since the previous tick */
  if (!rill__op_done(op))
    sample_arm(op);
}

static int sample_init(struct rill__op *op) {
  const struct sample_args *a = op->args;
  return rill__timed_init(op, a->sched, sample_fired, a->policy);
}

static void sample_on_subscribe(struct rill__op *op) {
  const struct sample_args *a = op->args;
  struct sample_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->next_due = rill__sched_now(a->sched);
  sample_arm(op);
  rill__op_request_up(op, RILL_UNBOUNDED);
}

static void sample_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct sample_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__timed_keep(&st->t, v);
}

static void sample_on_error(struct rill__op *op, const rill_error_t *err) {
  struct sample_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__op_error(op, err);
}

static void sample_on_complete(struct rill__op *op) {
  struct sample_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__timed_drop(&st->t); /* no final sample */
  rill__outbox_complete(op, &st->t.out);
}

static const struct rill__op_ops sample_ops = {
    .name = "sample",
    .args_size = sizeof(struct sample_args),
    .state_size = sizeof(struct sample_state),
    .init = sample_init,
    .on_subscribe = sample_on_subscribe,
    .on_next = sample_on_next,
    .on_error = sample_on_error,
    .on_complete = sample_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_sample(rill_observable_t *src, rill_sched_t *s,
                               double period_ms, const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(period_ms > 0) ||
      policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct sample_args args = {.sched = s, .period = period_ms, .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &sample_ops, &args);
}
