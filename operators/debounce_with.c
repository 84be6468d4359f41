/* SPDX-License-Identifier: MIT */
/* rill: debounce_with(fn) -- a value is emitted when the duration
 * observable fn gives for it emits, unless a newer value arrived first
 * (RxJS debounce(durationSelector)).
 *
 * Emits: when the current duration emits its first value, the value it
 * was made for.  A newer value cancels the current duration (its value is
 * released) and starts its own.  A duration that completes without a
 * value emits nothing: its value stays pending until a newer value
 * replaces it or the source completes (RxJS 7: debounce-023, -025, -026).
 * A duration that emits while fn's observable is being subscribed (of(x))
 * emits the value at once.
 * Demand: asks upstream for everything (debounce exists to thin out a
 * source that runs at its own pace); each duration is asked for one
 * value.  A value that is due when nothing is requested follows the
 * overflow policy (default LATEST: held and delivered at the next
 * request), through the timed operators' outbox.
 * Time: none of its own: the durations say when.
 * Order: the previous duration is cancelled before fn is called (RxJS).
 * Completion: a pending value is emitted at the instant the source
 * completes, then on_complete.  Errors of the source or of a duration
 * pass at once (the pending value is released); fn returning a negative
 * code (or no observable) fails the stream with it.
 * Owns: the pending value, a held value and the current duration's
 * subscription (released on every path); not ctx.
 * RxJS difference: none known (demand aside: RxJS has no backpressure). */
#include <errno.h>

#include "kit/inner.h"

struct debounce_with_args {
  rill_flat_map_fn fn;
  void *ctx;
  rill_overflow_t policy;
};

struct debounce_with_state {
  struct rill__timed t; /* first: the outbox, the pending value, trigger */
};

/* ---- the duration (a kit inner, src/kit/inner.h) -------------------------*/

static void duration_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct rill__timed *t = op->state;
  rill__drop(v);
  if (in != t->trigger || rill__op_done(op))
    return;
  rill__timed_untrigger(t); /* only its first value counts */
  rill__timed_flush(op);
}

static void duration_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct rill__timed *t = op->state;
  if (in != t->trigger)
    return;
  rill__timed_untrigger(t);
  if (err != NULL)
    rill__op_error(op, err);
  /* completed without a value: the value stays pending (RxJS 7) */
}

static const struct rill__inner_ops duration_ops = {
    .on_next = duration_next,
    .on_end = duration_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int debounce_with_init(struct rill__op *op) {
  const struct debounce_with_args *a = op->args;
  struct debounce_with_state *st = op->state;
  st->t.out.policy = a->policy;
  return 0;
}

static void debounce_with_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct debounce_with_args *a = op->args;
  struct debounce_with_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__timed_untrigger(&st->t);
  rill_observable_t *d = rill__timed_select(op, a->fn, a->ctx, v);
  if (d == NULL) { /* fn failed or cancelled: the stage is over */
    rill__drop(v);
    return;
  }
  rill__timed_keep(&st->t, v);
  rill__timed_trigger(op, &duration_ops, 1, d);
}

static void debounce_with_on_error(struct rill__op *op,
                                   const rill_error_t *err) {
  struct debounce_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_drop(&st->t);
  rill__op_error(op, err);
}

static void debounce_with_on_complete(struct rill__op *op) {
  struct debounce_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_flush(op);
  if (!rill__op_done(op))
    rill__outbox_complete(op, &st->t.out);
}

static const struct rill__op_ops debounce_with_ops = {
    .name = "debounce_with",
    .args_size = sizeof(struct debounce_with_args),
    .state_size = sizeof(struct debounce_with_state),
    .init = debounce_with_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = debounce_with_on_next,
    .on_error = debounce_with_on_error,
    .on_complete = debounce_with_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_debounce_with(rill_observable_t *src,
                                      rill_flat_map_fn fn, void *ctx,
                                      const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (fn == NULL || policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct debounce_with_args args = {
      .fn = fn, .ctx = ctx, .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &debounce_with_ops, &args);
}
