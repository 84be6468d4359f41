/* rill: create(start, end, ctx) -- a source pushed by the caller, like
 * RxJS `new Observable(subscriber => ...)`: tests and adapters drive it
 * from their own callbacks (timers, a test scheduler, foreign events).
 *
 * Demand: values pushed without demand wait in a FIFO and are delivered as
 * requests arrive; complete waits behind them, error does not (it drops
 * them).  The caller decides what to push; rill never asks it, but
 * rill_emitter_demand() tells it how much it may push without queueing,
 * which is how an adapter honours backpressure (the FIFO itself is not
 * bounded: a producer that ignores the demand grows it).
 * Time: none of its own.
 * Pairs: end() runs exactly once for every start(), and never without
 * one: a subscription cancelled inside on_subscribe calls neither.
 * Owns: the queued values.  A source: it has no upstream. */
#include <errno.h>
#include <stdlib.h>

#include "rill-internal.h"

struct create_args {
  rill_create_fn start;
  rill_create_fn end;
  void *ctx;
};

struct create_state {
  rill_value_t *q;
  size_t head, len, cap;
  int64_t demand;
  bool closing;
  bool draining;
  bool started; /* start() was called: end() is owed */
  bool ended;   /* end() has run */
};

static void create_end(struct rill__op *op) {
  const struct create_args *a = op->args;
  struct create_state *st = op->state;
  if (st->ended)
    return;
  st->ended = true;
  if (a->end != NULL && st->started)
    a->end(a->ctx, (rill_emitter_t *)op);
}

static void create_drain(struct rill__op *op) {
  struct create_state *st = op->state;
  if (st->draining)
    return;
  st->draining = true;
  while (!rill__op_done(op) && st->len > 0 && st->demand > 0) {
    rill_value_t v = st->q[st->head];
    st->head = (st->head + 1) % st->cap;
    st->len--;
    if (rill__emit(op->down, v) && st->demand != RILL_UNBOUNDED)
      st->demand--;
  }
  st->draining = false;
  if (st->closing && st->len == 0 && !rill__op_done(op)) {
    create_end(op);
    rill__op_complete(op);
  }
}

static int create_push(struct create_state *st, rill_value_t v) {
  if (st->len == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 8;
    rill_value_t *q = rill__malloc(cap * sizeof(*q));
    if (q == NULL) {
      rill_value_release(v);
      return RILL_ENOMEM;
    }
    for (size_t i = 0; i < st->len; i++)
      q[i] = st->q[(st->head + i) % st->cap];
    rill__free(st->q);
    st->q = q;
    st->head = 0;
    st->cap = cap;
  }
  st->q[(st->head + st->len) % st->cap] = v;
  st->len++;
  return 0;
}

static int emitter_next(rill_emitter_t *e, rill_value_t v) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL) {
    rill_value_release(v);
    return RILL_EINVAL;
  }
  struct create_state *st = op->state;
  if (rill__op_done(op) || st->closing) {
    rill_value_release(v);
    return 0;
  }
  int rc = create_push(st, v);
  if (rc < 0) {
    create_end(op);
    rill__op_fail(op, rc, NULL);
    return rc;
  }
  create_drain(op);
  return 0;
}

int64_t rill_emitter_demand(const rill_emitter_t *e) {
  const struct rill__op *op = (const struct rill__op *)e;
  if (op == NULL || rill__op_done(op))
    return 0;
  const struct create_state *st = op->state;
  if (st->demand == RILL_UNBOUNDED)
    return RILL_UNBOUNDED;
  return st->demand > (int64_t)st->len ? st->demand - (int64_t)st->len : 0;
}

static void emitter_complete(rill_emitter_t *e) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL || rill__op_done(op))
    return;
  struct create_state *st = op->state;
  st->closing = true;
  create_drain(op);
}

static void emitter_error(rill_emitter_t *e, int code, const char *message) {
  struct rill__op *op = (struct rill__op *)e;
  if (op == NULL || rill__op_done(op))
    return;
  create_end(op);
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

/* The emitter calls are public entry points, made from the application's
 * own callbacks: like every entry point they run inside rill's dispatch
 * guard, so whatever they end is freed only when they return. */
int rill_emitter_next(rill_emitter_t *e, rill_value_t v) {
  rill__enter();
  int rc = emitter_next(e, v);
  rill__leave();
  return rc;
}

void rill_emitter_complete(rill_emitter_t *e) {
  rill__enter();
  emitter_complete(e);
  rill__leave();
}

void rill_emitter_error(rill_emitter_t *e, int code, const char *message) {
  rill__enter();
  emitter_error(e, code, message);
  rill__leave();
}

/* start() and end() come in pairs: a subscriber that cancels inside
 * on_subscribe gets neither, so a resource opened in start() and closed in
 * end() is never closed without having been opened. */
static void create_on_subscribe(struct rill__op *op) {
  const struct create_args *a = op->args;
  struct create_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->started = true;
  a->start(a->ctx, (rill_emitter_t *)op);
}

static void create_on_request(struct rill__op *op, int64_t n) {
  struct create_state *st = op->state;
  st->demand = rill__demand_add(st->demand, n);
  create_drain(op);
}

static void create_on_cancel(struct rill__op *op) {
  create_end(op);
}

static void create_destroy(struct rill__op *op) {
  struct create_state *st = op->state;
  for (size_t i = 0; i < st->len; i++)
    rill_value_release(st->q[(st->head + i) % st->cap]);
  rill__free(st->q);
}

static const struct rill__op_ops create_ops = {
    .name = "create",
    .source = true,
    .args_size = sizeof(struct create_args),
    .state_size = sizeof(struct create_state),
    .on_subscribe = create_on_subscribe,
    .on_request = create_on_request,
    .on_cancel = create_on_cancel,
    .destroy = create_destroy,
};

rill_observable_t *rill_create(rill_create_fn start, rill_create_fn end,
                               void *ctx) {
  if (start == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct create_args args = {.start = start, .end = end, .ctx = ctx};
  return rill__op_create(NULL, &create_ops, &args);
}
