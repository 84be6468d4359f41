/* SPDX-License-Identifier: MIT */
/* rill: take_until(notifier) -- emits the source's values until the
 * notifier emits its first value, then completes and cancels both (RxJS
 * takeUntil).
 *
 * Demand: passes requests to the source 1:1; asks the notifier for one
 * value.  A notifier that completes without a value changes nothing; a
 * notifier error ends the stream with that error.
 * Time: none of its own (the notifier may be timed).
 * Order: the notifier is subscribed first, as in RxJS; if it fires at once,
 * the stream completes right after on_subscribe without asking the source
 * for anything.
 * Owns: the notifier recipe (taken over) and, per subscription, the
 * notifier's subscription, which every ending of this stage cancels. */
#include <errno.h>

#include "kit/inner.h"

struct take_until_args {
  rill_observable_t *notifier;
};

struct take_until_state {
  struct rill__inner *notifier; /* the kit's inner subscription */
  bool fired;   /* the notifier emitted */
  bool started; /* on_subscribe went downstream */
  bool failed;  /* the notifier failed before on_subscribe */
  rill_error_t err;
};

/* ---- the notifier side (a kit inner, src/kit/inner.h) ---------------------*/

static void notifier_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct take_until_state *st = op->state;
  rill__drop(v);
  rill__inner_cancel(in);
  st->fired = true;
  if (st->started)
    rill__op_complete(op); /* also cancels the source */
}

static void notifier_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct take_until_state *st = op->state;
  if (err == NULL)
    return; /* RxJS 7: completion without a value stops nothing */
  if (st->started) {
    rill__op_error(op, err);
    return;
  }
  st->failed = true;
  st->err = *err;
}

static const struct rill__inner_ops notifier_ops = {
    .on_next = notifier_next,
    .on_end = notifier_end,
};

static void take_until_release_notifier(struct take_until_state *st) {
  if (st->notifier != NULL)
    rill__inner_release(st->notifier);
  st->notifier = NULL;
}

/* ---- the stage ----------------------------------------------------------*/

static int take_until_init(struct rill__op *op) {
  const struct take_until_args *a = op->args;
  struct take_until_state *st = op->state;
  st->notifier = rill__inner_new(&notifier_ops, op, 1);
  if (st->notifier == NULL)
    return RILL_ENOMEM;
  rill__inner_subscribe(st->notifier, a->notifier);
  return 0;
}

static void take_until_on_subscribe(struct rill__op *op) {
  struct take_until_state *st = op->state;
  st->started = true;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (st->failed)
    rill__op_error(op, &st->err);
  else if (st->fired)
    rill__op_complete(op);
}

static void take_until_on_error(struct rill__op *op, const rill_error_t *err) {
  take_until_release_notifier(op->state);
  rill__op_error(op, err);
}

static void take_until_on_complete(struct rill__op *op) {
  take_until_release_notifier(op->state);
  rill__op_complete(op);
}

/* Once the notifier has ended the stream (fired or failed, perhaps before
 * on_subscribe went down), nothing more is asked of the source: the stage
 * is about to deliver that ending, and a source allowed to run first could
 * complete and so lose the notifier's error. */
static void take_until_on_request(struct rill__op *op, int64_t n) {
  struct take_until_state *st = op->state;
  if (!st->fired && !st->failed)
    rill__op_request_up(op, n);
}

static void take_until_on_cancel(struct rill__op *op) {
  take_until_release_notifier(op->state);
}

static void take_until_destroy(struct rill__op *op) {
  take_until_release_notifier(op->state); /* one that never started */
}

static void take_until_args_release(void *args) {
  struct take_until_args *a = args;
  rill_observable_free(a->notifier);
}

static const struct rill__op_ops take_until_ops = {
    .name = "take_until",
    .args_size = sizeof(struct take_until_args),
    .state_size = sizeof(struct take_until_state),
    .init = take_until_init,
    .on_subscribe = take_until_on_subscribe,
    .on_error = take_until_on_error,
    .on_complete = take_until_on_complete,
    .on_request = take_until_on_request,
    .on_cancel = take_until_on_cancel,
    .destroy = take_until_destroy,
    .args_release = take_until_args_release,
};

rill_observable_t *rill_take_until(rill_observable_t *src,
                                   rill_observable_t *notifier) {
  if (notifier == NULL) {
    rill_observable_free(src);
    rill__errno_null_source();
    return NULL;
  }
  struct take_until_args args = {.notifier = notifier};
  return rill__op_create(src, &take_until_ops, &args);
}
