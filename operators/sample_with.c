/* SPDX-License-Identifier: MIT */
/* rill: sample_with(notifier) -- each value of the notifier emits the
 * newest value of the source, if one arrived since the previous sample
 * (RxJS sample(notifier)).
 *
 * Emits: at each notifier value, the newest source value received since
 * the previous one (even if equal to the one emitted before); nothing
 * when none arrived.
 * Demand: asks the source and the notifier for everything (both run at
 * their own pace; sample exists to thin out the source).  A sample that
 * is due when nothing is requested follows the overflow policy (default
 * LATEST: held and delivered at the next request), through the timed
 * operators' outbox.
 * Time: none of its own: the notifier says when.
 * Order: the source is asked first, then the notifier is subscribed (RxJS
 * subscribes the source first).  A source that completes while it is
 * asked (a synchronous one) ends the stream before the notifier is
 * subscribed.
 * Completion: the source's completion completes at once; a value not yet
 * sampled is released (no final sample, RxJS 7: sample-004, -006).  A
 * sample already held for lack of demand is still delivered first.  The
 * notifier completing changes nothing (sample-005).  Errors of either
 * pass at once and cancel the other.
 * Owns: the notifier recipe (taken over) and, per subscription, its
 * subscription, the newest value and a held value (released on every
 * path). */
#include <errno.h>

#include "kit/inner.h"

struct sample_with_args {
  rill_observable_t *notifier;
  rill_overflow_t policy;
};

struct sample_with_state {
  struct rill__timed t; /* first: outbox, newest value, trigger (notifier) */
};

/* ---- the notifier (a kit inner, src/kit/inner.h) -------------------------*/

static void notifier_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct rill__timed *t = op->state;
  rill__drop(v);
  if (in != t->trigger || rill__op_done(op))
    return;
  rill__timed_flush(op); /* the newest value since the previous sample */
}

static void notifier_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct rill__timed *t = op->state;
  if (in != t->trigger)
    return;
  rill__timed_untrigger(t);
  if (err != NULL)
    rill__op_error(op, err);
  /* completed: no more samples, the source still decides the end */
}

/* Every notifier value is handled as it arrives: ask for all of them. */
static void notifier_upstream(struct rill__inner *in) {
  in->prefetch = RILL_UNBOUNDED;
}

static const struct rill__inner_ops notifier_ops = {
    .on_next = notifier_next,
    .on_end = notifier_end,
    .on_upstream = notifier_upstream,
};

/* ---- the stage ----------------------------------------------------------*/

static int sample_with_init(struct rill__op *op) {
  const struct sample_with_args *a = op->args;
  struct sample_with_state *st = op->state;
  st->t.out.policy = a->policy;
  return 0;
}

static void sample_with_on_subscribe(struct rill__op *op) {
  const struct sample_with_args *a = op->args;
  rill__op_subscribe_unbounded(op);
  if (!rill__op_done(op))
    rill__timed_trigger(op, &notifier_ops, RILL_UNBOUNDED,
                        rill_observable_ref(a->notifier));
}

static void sample_with_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct sample_with_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__timed_keep(&st->t, v);
}

static void sample_with_on_error(struct rill__op *op, const rill_error_t *err) {
  struct sample_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_drop(&st->t);
  rill__op_error(op, err);
}

static void sample_with_on_complete(struct rill__op *op) {
  struct sample_with_state *st = op->state;
  rill__timed_untrigger(&st->t);
  rill__timed_drop(&st->t); /* no final sample */
  rill__outbox_complete(op, &st->t.out);
}

static void sample_with_args_release(void *args) {
  struct sample_with_args *a = args;
  rill_observable_free(a->notifier);
}

static const struct rill__op_ops sample_with_ops = {
    .name = "sample_with",
    .args_size = sizeof(struct sample_with_args),
    .state_size = sizeof(struct sample_with_state),
    .init = sample_with_init,
    .on_subscribe = sample_with_on_subscribe,
    .on_next = sample_with_on_next,
    .on_error = sample_with_on_error,
    .on_complete = sample_with_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = rill__timed_destroy,
    .args_release = sample_with_args_release,
};

rill_observable_t *rill_sample_with(rill_observable_t *src,
                                    rill_observable_t *notifier,
                                    const rill_time_opts_t *opts) {
  int policy = rill__overflow_pick(
      opts ? opts->overflow : RILL_OVERFLOW_DEFAULT, RILL_OVERFLOW_LATEST);
  if (notifier == NULL || policy < 0) {
    rill_observable_free(src);
    rill_observable_free(notifier);
    if (notifier == NULL)
      rill__errno_null_source();
    else
      errno = EINVAL;
    return NULL;
  }
  struct sample_with_args args = {.notifier = notifier,
                                  .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &sample_with_ops, &args);
}
