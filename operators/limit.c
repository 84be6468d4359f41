/* SPDX-License-Identifier: MIT */
/* rill: limit(l) -- subscribes to the source only while holding one of the
 * permits of the limiter `l` (src/limiter.c), shared by any number of
 * pipelines: at most `permits` subscriptions through `l` run at once, the
 * others wait in FIFO order (p-limit across call sites; a mutex with one
 * permit).  No RxJS operator: RxJS bounds concurrency only inside one
 * operator (mergeMap's `concurrent`), as does rill's merge_map.
 *
 * Order: on_subscribe goes downstream first; then a permit is taken, or
 * the subscription joins the queue, or -- with max_waiting subscriptions
 * already waiting -- it fails with RILL_ELIMIT_FULL (stage "limit",
 * counted in `rejected`).  The source is subscribed when the permit is
 * granted: at once, or when one comes back.
 * Demand: the kit's arbiter: what downstream requests while waiting is
 * remembered and asked of the source as soon as it is subscribed; then
 * requests pass 1:1.
 * Permits: the permit returns when the subscription has ended -- the
 * source terminated (the terminal goes downstream at once) or the
 * subscription was cancelled (the source is cancelled) -- and the
 * outermost rill call on the stack has returned, when rill releases the
 * stage: by then the source has fully unwound (a rill_create source's
 * end() has run, even when a take() downstream cancelled it from inside
 * its own rill_emitter_next), so the next holder never overlaps it.  A
 * subscriber that subscribes again from its on_complete therefore queues
 * behind those already waiting.  A cancel while waiting leaves the queue
 * at once.  Handing permits on is a loop in the limiter, so a million
 * synchronous subscriptions queued behind one permit, or a subscriber
 * resubscribing a million times from on_complete, run with a flat stack.
 * Time: none; a waiting subscription costs no timer and no allocation.
 * Owns: the source recipe and one reference to the limiter (the
 * recipe's), so rill_limiter_free() while pipelines still use it is
 * fine. */
#include <errno.h>
#include <stdio.h>

#include "kit/arbiter.h"

struct limit_args {
  rill_observable_t *src; /* subscribed once a permit is held */
  rill_limiter_t *l;      /* the recipe's reference */
};

struct limit_state {
  struct rill__arbiter arb;
  struct rill__limiter_waiter w; /* the queue node */
  struct rill__op *op;           /* back from the queue node */
  bool started;                  /* the dead node's on_subscribe has run */
  bool holding;                  /* a permit is ours */
};

static void limit_grant(struct rill__limiter_waiter *w) {
  struct limit_state *st = RILL__CONTAINER_OF(w, struct limit_state, w);
  const struct limit_args *a = st->op->args;
  st->holding = true;
  rill__subscribe(a->src, &st->op->node);
}

/* Leave the queue, or give the permit back. */
static void limit_let_go(struct rill__op *op) {
  const struct limit_args *a = op->args;
  struct limit_state *st = op->state;
  rill__limiter_leave(a->l, &st->w);
  if (!st->holding)
    return;
  st->holding = false;
  rill__limiter_release(a->l);
}

static int limit_init(struct rill__op *op) {
  struct limit_state *st = op->state;
  st->op = op;
  st->w.grant = limit_grant;
  return 0;
}

static void limit_on_subscribe(struct rill__op *op) {
  const struct limit_args *a = op->args;
  struct limit_state *st = op->state;
  if (st->started) { /* the source's: hand it what is owed */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  int rc = rill__limiter_acquire(a->l, &st->w);
  if (rc == RILL__LIMIT_GRANTED) {
    limit_grant(&st->w);
  } else if (rc < 0) {
    char msg[RILL_ERROR_MESSAGE_MAX];
    snprintf(msg, sizeof(msg), "%zu subscriptions already waiting",
             rill__limiter_max_waiting(a->l));
    rill__op_fail(op, RILL_ELIMIT_FULL, msg);
  }
}

static void limit_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct limit_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void limit_on_request(struct rill__op *op, int64_t n) {
  struct limit_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

/* A waiter leaves the queue at once; a holder's source is cancelled next
 * (by the generic operator) and its permit returns with the stage. */
static void limit_on_cancel(struct rill__op *op) {
  const struct limit_args *a = op->args;
  struct limit_state *st = op->state;
  rill__limiter_leave(a->l, &st->w);
}

/* The stage is released once the outermost rill call on the stack has
 * returned: whatever ended it (the source's terminal, a cancel), the
 * source has unwound by now, so the next holder never overlaps it. */
static void limit_destroy(struct rill__op *op) {
  limit_let_go(op);
}

static void limit_args_release(void *args) {
  struct limit_args *a = args;
  rill_observable_free(a->src);
  rill_limiter_free(a->l);
}

static const struct rill__op_ops limit_ops = {
    .name = "limit",
    .source = true,
    .args_size = sizeof(struct limit_args),
    .state_size = sizeof(struct limit_state),
    .init = limit_init,
    .on_subscribe = limit_on_subscribe,
    .on_next = limit_on_next,
    .on_request = limit_on_request,
    .on_cancel = limit_on_cancel,
    .destroy = limit_destroy,
    .args_release = limit_args_release,
};

rill_observable_t *rill_limit(rill_observable_t *src, rill_limiter_t *l) {
  if (src == NULL || l == NULL) {
    rill_observable_free(src);
    rill__errno_null_source();
    return NULL;
  }
  struct limit_args args = {.src = src, .l = rill__limiter_ref(l)};
  return rill__op_create(NULL, &limit_ops, &args);
}
