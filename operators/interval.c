/* SPDX-License-Identifier: MIT */
/* rill: interval(period, opts) -- emits 0, 1, 2, ... every `period_ms`,
 * starting one period after subscription; never completes.  Also
 * timer(due, period, opts), RxJS timer(dueTime, period): the first tick
 * `due_ms` after subscription, then one every period (same stage, named
 * "timer"; the one-shot timer(due) is operators/timer.c).
 *
 * Demand: a tick with no demand follows the overflow policy: DROP (the
 * default for interval: the tick is lost but the count advances, so the
 * gap is visible), LATEST (hold the newest tick for the next request) or
 * ERROR (on_error RILL_EOVERFLOW).
 * Time: one scheduler timer for the whole life, re-armed from its own
 * callback against the ideal schedule start + k * period, so it does not
 * drift when callbacks run late.
 * Owns: the timer.  A source: it has no upstream. */
#include <errno.h>

#include "rill-internal.h"

struct interval_args {
  rill_sched_t *sched;
  double first; /* the first tick, from subscription */
  double period;
  rill_overflow_t policy;
};

struct interval_state {
  struct rill__timed t; /* first: the timer and the outbox */
  int64_t count;
  double next_due;
};

/* Arm for next_due (an infinite one: never). */
static void interval_arm(struct rill__op *op) {
  const struct interval_args *a = op->args;
  struct interval_state *st = op->state;
  rill_sched_timer_start(st->t.timer, st->next_due - rill__sched_now(a->sched));
}

static void interval_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  struct interval_state *st = op->state;
  if (rill__op_done(op))
    return;
  const struct interval_args *a = op->args;
  rill__outbox_offer(op, &st->t.out, rill_value_int(st->count++));
  if (!rill__op_done(op)) {
    st->next_due += a->period;
    interval_arm(op);
  }
}

static int interval_init(struct rill__op *op) {
  const struct interval_args *a = op->args;
  return rill__timed_init(op, a->sched, interval_fired, a->policy);
}

static void interval_on_subscribe(struct rill__op *op) {
  const struct interval_args *a = op->args;
  struct interval_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->next_due = rill__sched_now(a->sched) + a->first;
  interval_arm(op);
}

/* The same stage under two names: interval and the periodic timer. */
#define INTERVAL_OPS(stage_name)                                               \
  {                                                                            \
    .name = (stage_name), .source = true,                                      \
    .args_size = sizeof(struct interval_args),                                 \
    .state_size = sizeof(struct interval_state), .init = interval_init,        \
    .on_subscribe = interval_on_subscribe,                                     \
    .on_request = rill__timed_on_request, .on_cancel = rill__timed_on_cancel,  \
    .destroy = rill__timed_destroy                                             \
  }
static const struct rill__op_ops interval_ops = INTERVAL_OPS("interval");
static const struct rill__op_ops periodic_timer_ops = INTERVAL_OPS("timer");

static rill_observable_t *interval_create(const struct rill__op_ops *ops,
                                          rill_sched_t *s, double first_ms,
                                          double period_ms,
                                          const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_DROP);
  if (s == NULL || !(first_ms >= 0) || !(period_ms >= 0) || policy < 0) {
    errno = EINVAL;
    return NULL;
  }
  struct interval_args args = {.sched = s,
                               .first = first_ms,
                               .period = period_ms,
                               .policy = (rill_overflow_t)policy};
  return rill__op_create(NULL, ops, &args);
}

rill_observable_t *rill_interval(rill_sched_t *s, double period_ms,
                                 const rill_time_opts_t *opts) {
  return interval_create(&interval_ops, s, period_ms, period_ms, opts);
}

rill_observable_t *rill_timer_periodic(rill_sched_t *s, double due_ms,
                                       double period_ms,
                                       const rill_time_opts_t *opts) {
  return interval_create(&periodic_timer_ops, s, due_ms, period_ms, opts);
}
