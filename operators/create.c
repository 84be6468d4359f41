/* SPDX-License-Identifier: MIT */
/* rill: create(start, end, ctx, opts) -- a source pushed by the caller,
 * like RxJS `new Observable(subscriber => ...)`: tests and adapters drive
 * it from their own callbacks (timers, a test scheduler, foreign events).
 *
 * Demand: values pushed without demand wait in a FIFO (the kit's ring,
 * src/kit/ring.h) and are delivered as requests arrive; complete waits
 * behind them, error does not (it drops them).  The caller decides what to
 * push; rill never asks it, but it can learn of demand as it arrives
 * (opts->on_request) or ask (rill_emitter_demand()), which is how an
 * adapter honours backpressure (the FIFO itself is not bounded: a producer
 * that ignores the demand grows it).  Flow control is the kit's drain
 * loop: a push or a request made from inside on_next is served by the loop
 * already on the stack.
 * Time: none of its own.
 * Pairs: end() runs exactly once for every start(), and never without
 * one: a subscription cancelled inside on_subscribe calls neither.  start
 * and end are the per-subscription init/fini pair; rill_emitter_set_data()
 * keeps that subscription's state.
 * Re-entrancy: end() and on_request never run while one of the caller's
 * create callbacks (start, on_request) or emitter calls is on the stack:
 * a downstream cancel made from inside rill_emitter_next() (a first() or a
 * take() downstream) runs end() just before the outermost of them returns,
 * and the emitter call then returns RILL_ECANCELED, so the producer knows
 * to stop before it touches what end() freed.  The producer's own
 * terminal, given from an emitter call that is its only call on the stack
 * (from a timer, from another source's callback), runs end() inside that
 * call before the terminal goes downstream (create_end_by_terminal): an
 * operator that subscribes the next call from on_complete/on_error (retry,
 * repeat, concat, merge_map) then never overlaps the two, as RxJS runs
 * the teardown before its subscriber's finalizer.  Emitter calls from
 * inside end() are ignored.
 * Owns: the queued values; opts->ctx_free(ctx) runs when the observable is
 * freed.  A source: it has no upstream. */
#include <errno.h>

#include "kit/kit.h"

struct create_args {
  rill_create_fn start;
  rill_create_fn end;
  void *ctx;
  rill_create_request_fn on_request;
  void (*ctx_free)(void *ctx);
};

struct create_state {
  struct rill__ring queue;
  struct rill__drain drain;
  int64_t demand;       /* downstream's, not yet produced */
  int64_t to_tell;      /* demand not yet told to on_request */
  void *data;           /* rill_emitter_set_data */
  uint32_t in_user;     /* create callbacks and emitter calls on the stack */
  uint32_t in_emitter;  /* of those, emitter calls */
  bool closing;         /* complete asked: after the queued values */
  bool started;         /* start() was called: end() is owed */
  bool end_due;         /* the subscription ended inside a user call */
  bool ended;           /* end() has run */
};

/* ---- the user's side: brackets, end(), on_request ---------------------------*/

static void create_run_end(struct rill__op *op) {
  const struct create_args *a = op->args;
  struct create_state *st = op->state;
  st->end_due = false;
  if (st->ended)
    return;
  st->ended = true;
  if (a->end != NULL && st->started)
    a->end(a->ctx, (rill_emitter_t *)op);
}

/* The subscription ended: end() now, or when the user's call returns. */
static void create_end(struct rill__op *op) {
  struct create_state *st = op->state;
  if (st->in_user > 0)
    st->end_due = true;
  else
    create_run_end(op);
}

/* The subscription ends by its own terminal (the producer's complete, once
 * the queue is empty, or its error): when the only user call on the stack
 * is the emitter call that ended it, end() runs now, before the terminal
 * goes downstream, so the producer has let go of what the subscription
 * held before anyone downstream reacts -- a retry, concat or merge_map
 * that subscribes the next call from on_complete/on_error never overlaps
 * it (RxJS runs the teardown first too).  Otherwise as create_end(). */
static void create_end_by_terminal(struct rill__op *op) {
  struct create_state *st = op->state;
  if (st->in_user == 1 && st->in_emitter == 1)
    create_run_end(op);
  else
    create_end(op);
}

static void create_user_enter(struct rill__op *op) {
  struct create_state *st = op->state;
  st->in_user++;
}

static void create_tell(struct rill__op *op);

static void create_user_leave(struct rill__op *op) {
  struct create_state *st = op->state;
  if (--st->in_user != 0)
    return;
  if (st->end_due)
    create_run_end(op);
  else
    create_tell(op);
}

/* Tell on_request what was requested, outside any user call. */
static void create_tell(struct rill__op *op) {
  const struct create_args *a = op->args;
  struct create_state *st = op->state;
  if (a->on_request == NULL || st->in_user > 0 || st->ended ||
      !st->started || rill__op_done(op))
    return;
  /* The loop runs inside the user bracket itself, so demand that arrives
   * during on_request is told by this loop, not by a nested call. */
  st->in_user++;
  while (st->to_tell > 0 && !st->end_due && !rill__op_done(op)) {
    int64_t n = st->to_tell;
    st->to_tell = 0;
    a->on_request(a->ctx, (rill_emitter_t *)op, n);
  }
  st->in_user--;
  if (st->end_due)
    create_run_end(op);
}

/* ---- the drain loop -----------------------------------------------------------*/

static void create_pass(struct rill__op *op) {
  struct create_state *st = op->state;
  while (st->demand > 0 && !rill__ring_empty(&st->queue)) {
    rill__demand_emit(op, &st->demand, rill__ring_pop(&st->queue));
    if (rill__op_done(op))
      return;
  }
  if (st->closing && rill__ring_empty(&st->queue)) {
    create_end_by_terminal(op);
    rill__op_complete(op);
  }
}

static void create_drain(struct rill__op *op) {
  struct create_state *st = op->state;
  if (!rill__drain_enter(&st->drain))
    return;
  do
    if (!rill__op_done(op))
      create_pass(op);
  while (rill__drain_again(&st->drain));
}

/* ---- the emitter ----------------------------------------------------------------*/

static int emitter_next(struct rill__op *op, rill_value_t v) {
  struct create_state *st = op->state;
  if (rill__op_done(op) || st->closing || st->ended) {
    rill_value_release(v);
    return rill__op_done(op) ? RILL_ECANCELED : 0;
  }
  int rc = rill__ring_push(&st->queue, v);
  if (rc < 0) {
    create_end(op);
    rill__op_fail(op, rc, "cannot queue a pushed value");
    return rc;
  }
  create_drain(op);
  return rill__op_done(op) ? RILL_ECANCELED : 0;
}

int64_t rill_emitter_demand(const rill_emitter_t *e) {
  const struct rill__op *op = (const struct rill__op *)e;
  if (op == NULL || rill__op_done(op))
    return 0;
  const struct create_state *st = op->state;
  if (st->demand == RILL_UNBOUNDED)
    return RILL_UNBOUNDED;
  int64_t queued = (int64_t)rill__ring_len(&st->queue);
  return st->demand > queued ? st->demand - queued : 0;
}

static void emitter_complete(struct rill__op *op) {
  struct create_state *st = op->state;
  if (rill__op_done(op) || st->ended) /* ended: a call from inside end() */
    return;
  st->closing = true;
  create_drain(op);
}

static void emitter_error(struct rill__op *op, int code, const char *message) {
  struct create_state *st = op->state;
  if (rill__op_done(op) || st->ended) /* ended: a call from inside end() */
    return;
  create_end_by_terminal(op);
  rill_error_t err;
  if (code >= 0) /* a misuse, not one of rule 3.9's EINVAL */
    rill__error_init(&err, RILL_EUSER, 0, "create",
                     "create: rill_emitter_error with code %d >= 0%s%s", code,
                     message ? ": " : "", message ? message : "");
  else if (message != NULL) /* the user's words, kept as they are */
    rill__error_init(&err, code, 0, "create", "%s", message);
  else
    rill__error_callback(&err, "create", code, "emitter error");
  rill__op_error(op, &err);
}

static void create_emitter_enter(struct rill__op *op) {
  struct create_state *st = op->state;
  st->in_emitter++;
  create_user_enter(op);
}

static void create_emitter_leave(struct rill__op *op) {
  struct create_state *st = op->state;
  st->in_emitter--;
  create_user_leave(op);
}

/* The emitter calls are public entry points, made from the application's
 * own callbacks: like every entry point they run inside rill's dispatch
 * guard (so whatever they end is freed only when they return) and inside
 * the user bracket (so end() and on_request wait for them). */
int rill_emitter_next(rill_emitter_t *e, rill_value_t v) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL) {
    rill_value_release(v);
    return RILL_EINVAL;
  }
  rill__enter();
  create_emitter_enter(op);
  int rc = emitter_next(op, v);
  create_emitter_leave(op);
  rill__leave();
  return rc;
}

void rill_emitter_complete(rill_emitter_t *e) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL)
    return;
  rill__enter();
  create_emitter_enter(op);
  emitter_complete(op);
  create_emitter_leave(op);
  rill__leave();
}

void rill_emitter_error(rill_emitter_t *e, int code, const char *message) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL)
    return;
  rill__enter();
  create_emitter_enter(op);
  emitter_error(op, code, message);
  create_emitter_leave(op);
  rill__leave();
}

void rill_emitter_set_data(rill_emitter_t *e, void *data) {
  struct rill__op *op = (struct rill__op *)e;
  if (op != NULL)
    ((struct create_state *)op->state)->data = data;
}

void *rill_emitter_data(const rill_emitter_t *e) {
  const struct rill__op *op = (const struct rill__op *)e;
  return op != NULL ? ((const struct create_state *)op->state)->data : NULL;
}

/* ---- handlers -------------------------------------------------------------------*/

static int create_init(struct rill__op *op) {
  struct create_state *st = op->state;
  rill__ring_init(&st->queue, UINT32_MAX / 2); /* documented: unbounded */
  return 0;
}

static void create_on_subscribe(struct rill__op *op) {
  const struct create_args *a = op->args;
  struct create_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return; /* cancelled in on_subscribe: neither start nor end */
  st->started = true;
  create_user_enter(op);
  a->start(a->ctx, (rill_emitter_t *)op);
  create_user_leave(op); /* tells on_request what arrived meanwhile */
}

static void create_on_request(struct rill__op *op, int64_t n) {
  struct create_state *st = op->state;
  rill__demand_more(&st->demand, n);
  rill__demand_more(&st->to_tell, n);
  create_drain(op);
  create_tell(op);
}

static void create_on_cancel(struct rill__op *op) {
  create_end(op);
}

static void create_destroy(struct rill__op *op) {
  struct create_state *st = op->state;
  rill__ring_clear(&st->queue);
}

static void create_args_release(void *args) {
  struct create_args *a = args;
  if (a->ctx_free != NULL)
    a->ctx_free(a->ctx);
}

static const struct rill__op_ops create_ops = {
    .name = "create",
    .source = true,
    .args_size = sizeof(struct create_args),
    .state_size = sizeof(struct create_state),
    .init = create_init,
    .on_subscribe = create_on_subscribe,
    .on_request = create_on_request,
    .on_cancel = create_on_cancel,
    .destroy = create_destroy,
    .args_release = create_args_release,
};

rill_observable_t *rill_create_with(rill_create_fn start, rill_create_fn end,
                                    void *ctx, const rill_create_opts_t *opts) {
  struct create_args args = {.start = start, .end = end, .ctx = ctx};
  if (opts != NULL) {
    args.on_request = opts->on_request;
    args.ctx_free = opts->ctx_free;
  }
  if (start == NULL) {
    if (args.ctx_free != NULL)
      args.ctx_free(ctx);
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(NULL, &create_ops, &args);
}

rill_observable_t *rill_create(rill_create_fn start, rill_create_fn end,
                               void *ctx) {
  return rill_create_with(start, end, ctx, NULL);
}
