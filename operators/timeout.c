/* SPDX-License-Identifier: MIT */
/* rill: timeout(first, each, {with}) -- fails with RILL_ETIMEDOUT, or
 * switches to `with`, when `first_ms` pass after subscription without a
 * value, or `each_ms` after a value without the next one (RxJS
 * timeout({first, each, with})).
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h): requests pass upstream
 * 1:1 and what is still owed is counted; on a switch the fallback is
 * subscribed through this same node (as concat subscribes its sources one
 * after another) and is asked for exactly what is owed, then for later
 * requests.
 * Time: one scheduler timer for the whole life, armed at subscription.  A
 * value does not touch the timer: it records its arrival time, and when the
 * timer fires early it re-arms itself for the time left (as debounce does),
 * so a fast source costs no timer calls per value.  After a switch the
 * fallback runs without a timeout (RxJS).
 * On timeout: upstream is cancelled first, then either on_error
 * (RILL_ETIMEDOUT, stage "timeout") or the fallback is subscribed.
 * Completion and error of the source (or of the fallback) pass at once and
 * stop the timer.
 * Owns: the timer; the recipe owns the fallback observable.
 * RxJS differences: `first` and `each` are durations (for an absolute
 * `first` date pass at - now, 0 if it has passed), `with` is an observable
 * rather than a factory, and there is no `meta`.  The error is
 * RILL_ETIMEDOUT rather than a TimeoutError object.  A negative or NaN duration is a bad
 * argument (NULL, errno EINVAL, source and fallback released).  each_ms ==
 * 0 times out at the first turn of the scheduler unless the source
 * completes synchronously; an infinite limit never expires. */
#include <errno.h>
#include <math.h>

#include "kit/arbiter.h"

struct timeout_args {
  rill_sched_t *sched;
  double first;                /* limit for the first value (HUGE_VAL: none) */
  double each;                 /* limit between later values (HUGE_VAL: none) */
  rill_observable_t *fallback; /* owned by the recipe; NULL: fail */
};

struct timeout_state {
  rill_sched_timer_t *timer;
  struct rill__arbiter arb; /* the source, then the fallback */
  double last;    /* subscription time, then the last value's arrival */
  double due;     /* when the armed timer fires (HUGE_VAL: not armed) */
  bool got_value; /* `each` applies from now on, not `first` */
  bool switched;  /* timed out: the fallback is (being) subscribed */
};

static void timeout_arm(struct rill__op *op, double left) {
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  st->due = HUGE_VAL;
  if (left < HUGE_VAL) {
    st->due = rill__sched_now(a->sched) + left;
    rill_sched_timer_start(st->timer, left);
  }
}

/* Cancel the source and continue with the fallback, or fail. */
static void timeout_expire(struct rill__op *op) {
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  if (a->fallback == NULL) {
    rill__op_fail(op, RILL_ETIMEDOUT, "no value within the timeout");
    return;
  }
  st->switched = true;
  rill__arbiter_switch(op, &st->arb, a->fallback);
}

static void timeout_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  st->due = HUGE_VAL;
  if (rill__op_done(op) || st->switched)
    return;
  double limit = st->got_value ? a->each : a->first;
  double left = st->last + limit - rill__sched_now(a->sched);
  if (left > 0) {
    timeout_arm(op, left);
    return;
  }
  timeout_expire(op);
}

static int timeout_init(struct rill__op *op) {
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  st->timer = rill_sched_timer_new(a->sched, timeout_fired, op);
  return st->timer ? 0 : RILL_ENOMEM;
}

static void timeout_on_subscribe(struct rill__op *op) {
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  if (st->switched) { /* the fallback: hand it what is still owed */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->last = rill__sched_now(a->sched);
  timeout_arm(op, a->first);
  op->down->vt->on_subscribe(op->down, &op->node);
}

static void timeout_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct timeout_args *a = op->args;
  struct timeout_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (!st->switched) {
    st->last = rill__sched_now(a->sched);
    if (!st->got_value) {
      /* From now on `each` applies; move the timer only if that deadline
       * comes before the one it is armed for. */
      st->got_value = true;
      if (st->last + a->each < st->due)
        timeout_arm(op, a->each);
    }
  }
  rill__arbiter_emit(op, &st->arb, v);
}

static void timeout_on_error(struct rill__op *op, const rill_error_t *err) {
  struct timeout_state *st = op->state;
  rill_sched_timer_stop(st->timer);
  rill__op_error(op, err);
}

static void timeout_on_complete(struct rill__op *op) {
  struct timeout_state *st = op->state;
  rill_sched_timer_stop(st->timer);
  rill__op_complete(op);
}

static void timeout_on_request(struct rill__op *op, int64_t n) {
  struct timeout_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void timeout_on_cancel(struct rill__op *op) {
  struct timeout_state *st = op->state;
  rill_sched_timer_stop(st->timer);
}

static void timeout_destroy(struct rill__op *op) {
  struct timeout_state *st = op->state;
  rill_sched_timer_free(st->timer);
  st->timer = NULL;
}

static void timeout_args_release(void *args) {
  struct timeout_args *a = args;
  rill_observable_free(a->fallback);
  a->fallback = NULL;
}

static const struct rill__op_ops timeout_ops = {
    .name = "timeout",
    .args_size = sizeof(struct timeout_args),
    .state_size = sizeof(struct timeout_state),
    .init = timeout_init,
    .on_subscribe = timeout_on_subscribe,
    .on_next = timeout_on_next,
    .on_error = timeout_on_error,
    .on_complete = timeout_on_complete,
    .on_request = timeout_on_request,
    .on_cancel = timeout_on_cancel,
    .destroy = timeout_destroy,
    .args_release = timeout_args_release,
};

rill_observable_t *rill_timeout(rill_observable_t *src, rill_sched_t *s,
                                double first_ms, double each_ms,
                                const rill_timeout_opts_t *opts) {
  rill_observable_t *fallback = opts ? opts->with : NULL;
  /* NaN and negative limits are bad arguments; INFINITY means none. */
  if (s == NULL || !(first_ms >= 0) || !(each_ms >= 0)) {
    rill_observable_free(src);
    rill_observable_free(fallback);
    errno = EINVAL;
    return NULL;
  }
  struct timeout_args args = {
      .sched = s, .first = first_ms, .each = each_ms, .fallback = fallback};
  return rill__op_create(src, &timeout_ops, &args);
}
