/* SPDX-License-Identifier: MIT */
/* rill: defer(factory) -- at each subscription, factory(ctx, &out) makes a
 * fresh observable and the subscriber is attached to it (RxJS defer).
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h) with one switch: requests
 * made before the made observable is subscribed (from on_subscribe) are
 * counted and handed to it when it is; after that they pass 1:1.
 * Time: synchronous, none of its own (the made observable may be timed).
 * Order: on_subscribe goes downstream first, then the factory runs, then
 * the made observable is subscribed through this stage's own node (as
 * concat subscribes its sources).  A subscriber that cancels inside
 * on_subscribe never calls the factory.
 * Failure: a negative return fails that subscription: on_error with that
 * code (stage "defer", a rill_fail() message if the factory attached one),
 * and an observable stored in *out anyway is freed.  A return >= 0 with
 * *out left NULL fails it with RILL_EINVAL.  *out is NULL when the factory
 * is called.
 * Owns: per subscription, the made observable (taken over, freed when the
 * subscription is released).  ctx is the caller's, borrowed for as long as
 * the observable lives.  A source: it has no upstream of its own.
 * RxJS difference: the factory reports failure by its result rather than by
 * throwing. */
#include <errno.h>

#include "kit/arbiter.h"

struct defer_args {
  rill_defer_fn factory;
  void *ctx;
};

struct defer_state {
  struct rill__arbiter arb;
  rill_observable_t *made; /* this subscription's observable */
  bool started;            /* on_subscribe went downstream */
};

/* Make this subscription's observable and subscribe it. */
static void defer_make(struct rill__op *op) {
  const struct defer_args *a = op->args;
  struct defer_state *st = op->state;
  rill_observable_t *made = NULL;
  int rc = a->factory(a->ctx, &made);
  st->made = made; /* ours now, whatever happened */
  if (rc < 0) {
    rill__op_fail_callback(op, rc, "factory failed");
    return;
  }
  if (made == NULL) {
    rill__op_fail(op, RILL_EINVAL, "factory made no observable");
    return;
  }
  if (!rill__op_done(op)) /* the factory may have cancelled */
    rill__arbiter_switch(op, &st->arb, made);
}

static void defer_on_subscribe(struct rill__op *op) {
  struct defer_state *st = op->state;
  if (st->started) { /* the made observable */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    defer_make(op);
}

static void defer_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct defer_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void defer_on_request(struct rill__op *op, int64_t n) {
  struct defer_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void defer_destroy(struct rill__op *op) {
  struct defer_state *st = op->state;
  rill_observable_free(st->made);
  st->made = NULL;
}

static const struct rill__op_ops defer_ops = {
    .name = "defer",
    .source = true,
    .args_size = sizeof(struct defer_args),
    .state_size = sizeof(struct defer_state),
    .on_subscribe = defer_on_subscribe,
    .on_next = defer_on_next,
    .on_request = defer_on_request,
    .destroy = defer_destroy,
};

rill_observable_t *rill_defer(rill_defer_fn factory, void *ctx) {
  if (factory == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct defer_args args = {.factory = factory, .ctx = ctx};
  return rill__op_create(NULL, &defer_ops, &args);
}
