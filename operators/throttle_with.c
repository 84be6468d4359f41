/* SPDX-License-Identifier: MIT */
/* rill: throttle_with(fn) -- a value opens a window that lasts until the
 * duration observable fn gives for it emits or completes; values inside
 * the window are ignored (RxJS throttle(durationSelector, {leading,
 * trailing})).
 *
 * Emits: with `leading` (the default), the value that arrives when no
 * window is open, at once; fn is then called with it and its duration is
 * the window.  With `trailing`, the newest value seen inside a window is
 * kept and emitted when the window's duration emits, and that value opens
 * the next window; a duration that completes without a value closes its
 * window without a trailing emission (RxJS 7).  Without `leading`, a value
 * arriving when no window is open is kept as the trailing candidate and
 * opens a window (fn is called with it).  A duration that ends while it is
 * being subscribed (of(x), EMPTY) opens no window: every value passes.
 * RxJS difference: asking for neither edge is not possible (edges == 0 is
 * the default, leading); RxJS would emit nothing.
 * Demand: asks upstream for everything (throttle exists to thin out a
 * source that runs at its own pace); each duration is asked for one
 * value.  A value that is due when nothing is requested follows the
 * overflow policy (default LATEST: held and delivered at the next
 * request), through the timed operators' outbox.
 * Time: none of its own: the durations say when.
 * Order: with `leading`, fn is called after its value went downstream (so
 * fn failing still lets that value out first: throttle-014); a window's
 * duration is cancelled as soon as it emits, before the trailing value
 * goes out and the next window opens.
 * Completion: at once (a value kept without `trailing` is released),
 * unless `trailing` and a value is kept in an open window: completion
 * then waits for the window's duration: its value sends the kept value
 * then completes, its completion completes without it (RxJS 7:
 * throttle-022, -024, -025).  Errors of the source or of a duration pass
 * at once; fn returning a negative code (or no observable) fails the
 * stream with it.
 * Owns: the kept value, a held value and the current duration's
 * subscription (released on every path); not ctx. */
#include <errno.h>

#include "kit/inner.h"

struct throttle_with_args {
  rill_flat_map_fn fn;
  void *ctx;
  bool leading;
  bool trailing;
  rill_overflow_t policy;
};

struct throttle_with_state {
  struct rill__timed t; /* first: outbox, kept value, trigger (the window) */
  bool closing;         /* the source completed; waiting for the window */
};

static const struct rill__inner_ops duration_ops;

/* Open a window: the duration of v (borrowed). */
static void throttle_with_open(struct rill__op *op, rill_value_t v) {
  const struct throttle_with_args *a = op->args;
  rill_observable_t *d = rill__timed_select(op, a->fn, a->ctx, v);
  if (d != NULL)
    rill__timed_trigger(op, &duration_ops, 1, d);
}

/* Emit the kept value, then open a window with it (unless the source has
 * completed).  The value goes downstream before fn sees it, so fn gets a
 * reference of its own. */
static void throttle_with_send(struct rill__op *op) {
  struct throttle_with_state *st = op->state;
  if (!st->t.has_pending)
    return;
  rill_value_t v = st->t.pending;
  st->t.has_pending = false;
  rill_value_t ref = rill_value_retain(v);
  rill__outbox_offer(op, &st->t.out, v);
  if (!st->closing && !rill__op_done(op))
    throttle_with_open(op, ref);
  rill_value_release(ref);
}

static void throttle_with_finish(struct rill__op *op) {
  struct throttle_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_drop(&st->t);
  rill__outbox_complete(op, &st->t.out);
}

/* ---- the duration (a kit inner, src/kit/inner.h) -------------------------*/

static void duration_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  const struct throttle_with_args *a = op->args;
  struct throttle_with_state *st = op->state;
  rill__drop(v);
  if (in != st->t.trigger || rill__op_done(op))
    return;
  rill__timed_untrigger(&st->t); /* the window ends */
  if (!a->trailing)
    return;
  throttle_with_send(op);
  if (st->closing && !rill__op_done(op))
    throttle_with_finish(op);
}

static void duration_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct throttle_with_state *st = op->state;
  if (in != st->t.trigger)
    return;
  rill__timed_untrigger(&st->t); /* the window ends, with no trailing */
  if (err != NULL)
    rill__op_error(op, err);
  else if (st->closing)
    throttle_with_finish(op);
}

static const struct rill__inner_ops duration_ops = {
    .on_next = duration_next,
    .on_end = duration_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int throttle_with_init(struct rill__op *op) {
  const struct throttle_with_args *a = op->args;
  struct throttle_with_state *st = op->state;
  st->t.out.policy = a->policy;
  return 0;
}

static void throttle_with_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct throttle_with_args *a = op->args;
  struct throttle_with_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->t.trigger != NULL) { /* inside a window */
    if (a->trailing)
      rill__timed_keep(&st->t, v);
    else
      rill__drop(v); /* never sent: a newer value replaces it first */
    return;
  }
  rill__timed_keep(&st->t, v);
  if (a->leading) {
    throttle_with_send(op);
  } else {
    rill_value_t ref = rill_value_retain(v); /* fn may replace the kept one */
    throttle_with_open(op, ref);
    rill_value_release(ref);
  }
}

static void throttle_with_on_error(struct rill__op *op,
                                   const rill_error_t *err) {
  struct throttle_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_drop(&st->t);
  rill__op_error(op, err);
}

static void throttle_with_on_complete(struct rill__op *op) {
  const struct throttle_with_args *a = op->args;
  struct throttle_with_state *st = op->state;
  st->closing = true;
  if (a->trailing && st->t.has_pending && st->t.trigger != NULL)
    return; /* the kept value waits for the window's end */
  throttle_with_finish(op);
}

static const struct rill__op_ops throttle_with_ops = {
    .name = "throttle_with",
    .args_size = sizeof(struct throttle_with_args),
    .state_size = sizeof(struct throttle_with_state),
    .init = throttle_with_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = throttle_with_on_next,
    .on_error = throttle_with_on_error,
    .on_complete = throttle_with_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
};

rill_observable_t *rill_throttle_with(rill_observable_t *src,
                                      rill_flat_map_fn fn, void *ctx,
                                      const rill_throttle_opts_t *opts) {
  static const rill_throttle_opts_t defaults = {0};
  const rill_throttle_opts_t *o = opts ? opts : &defaults;
  unsigned edges = o->edges ? o->edges : RILL_THROTTLE_LEADING;
  int policy = rill__overflow_pick(o->overflow, RILL_OVERFLOW_LATEST);
  if (fn == NULL || policy < 0 ||
      (edges & ~(unsigned)(RILL_THROTTLE_LEADING | RILL_THROTTLE_TRAILING))) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct throttle_with_args args = {
      .fn = fn,
      .ctx = ctx,
      .leading = (edges & RILL_THROTTLE_LEADING) != 0,
      .trailing = (edges & RILL_THROTTLE_TRAILING) != 0,
      .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &throttle_with_ops, &args);
}
