/* SPDX-License-Identifier: MIT */
/* rill: combine_latest(sources, n, fn, ctx) -- once every source has a
 * value, each new value combines with the latest of the others (RxJS
 * combineLatest and combineLatestWith).
 *
 * Demand: never emits beyond downstream demand.  Each source is a kit
 * inner asked for one value at a time, and its value is a latest-wins slot:
 *   - until every source has a value, a source is asked for its next value
 *     as soon as one arrives (a value that arrives replaces the older
 *     one: only the latest counts, as in RxJS);
 *   - once every source has one, a value makes a combination due, and
 *     that source is asked for its next value only when the combination
 *     has gone downstream.  With demand, that is at once, and every value
 *     gives one combination, as in RxJS.  Without demand the combination
 *     stays pending; a value that meanwhile arrives from another source
 *     (each source has at most one value in flight) replaces that
 *     source's slot, so the pending combination is always the latest one
 *     (coalesced: the older combination is not emitted), and the next
 *     request emits it.
 * So a source never runs ahead of downstream by more than one value, and
 * no combination is queued: the memory is n slots.
 * Order: the sources are subscribed in order (RxJS); one that ends the
 * stream while it is subscribed (a synchronous error) leaves the rest
 * unsubscribed.  Synchronous sources work (flat stack).
 * Time: none of its own.
 * Completion: when every source has completed, after a pending
 * combination has gone out.  A source that completes without a value does
 * not end the stream early: the stream then emits nothing and completes
 * when the others have (RxJS 7 does the same; RxJava completes at once).
 * n == 0 completes at once (RxJS combineLatest([])).
 * Errors: the first error of a source, or fn returning a negative code,
 * cancels every source at once and is delivered; the held values are
 * released (RxJS).
 * Owns: the sources (with the recipe); per subscription, the inners and
 * the latest value of each source, released when replaced and when the
 * stream ends.  fn borrows the n latest values (in source order); with fn
 * NULL each output is an array holding a reference to each of them.
 * Deviations: RxJS asks its sources for everything and emits every
 * combination at once; rill backpressures its sources one value at a time
 * and, without downstream demand, coalesces (with demand the output is
 * RxJS's).  No dictionary form (combineLatest({a, b}) emits objects): the
 * values come in source order. */
#include <errno.h>

#include "kit/kit.h"

struct cl_args {
  struct rill__sources *sources;
  rill_combine_fn fn;
  void *ctx;
};

struct cl_slot {
  rill_value_t v; /* the latest value, when `has` */
  bool has;
  bool owed; /* its value made the pending combination: ask again after */
};

struct cl_state {
  struct rill__drain drain;
  int64_t demand;
  struct rill__inner **in; /* one per source, in source order */
  struct cl_slot *slot;    /* one per source */
  rill_value_t *row;       /* the values handed to fn */
  size_t missing;          /* sources without a value yet */
  size_t live;             /* sources not yet completed */
  bool pending;            /* a combination is due */
  bool failed;
  rill_error_t err;
};

static void cl_drain(struct rill__op *op);

static size_t cl_n(const struct rill__op *op) {
  const struct cl_args *a = op->args;
  return a->sources->n;
}

/* Cancel every source and let go of every value held. */
static void cl_release_all(struct rill__op *op) {
  struct cl_state *st = op->state;
  size_t n = cl_n(op);
  rill__inners_cancel(st->in, n);
  for (size_t i = 0; st->slot != NULL && i < n; i++) {
    if (st->slot[i].has)
      rill_value_release(st->slot[i].v);
    st->slot[i].has = false;
  }
  st->pending = false;
}

static void cl_fail(struct rill__op *op, const rill_error_t *err) {
  struct cl_state *st = op->state;
  if (!st->failed && !rill__op_done(op)) {
    st->failed = true;
    st->err = *err;
    cl_release_all(op);
  }
  cl_drain(op);
}

/* The combination of the latest values (borrowed by fn, or referenced by
 * the array).  0, or a negative code with the error filled in. */
static int cl_combine(struct rill__op *op, rill_value_t *out,
                      rill_error_t *err) {
  const struct cl_args *a = op->args;
  struct cl_state *st = op->state;
  size_t n = a->sources->n;
  if (a->fn == NULL) {
    rill_array_t *arr = rill_array_new(n);
    for (size_t i = 0; arr != NULL && i < n; i++)
      (void)rill_array_push(arr, rill_value_retain(st->slot[i].v));
    if (arr == NULL || rill_array_len(arr) != n) {
      if (arr != NULL)
        rill_array_unref(arr);
      rill__error_init(err, RILL_ENOMEM, 0, op->ops->name,
                       "%s: cannot allocate an array", op->ops->name);
      return RILL_ENOMEM;
    }
    *out = rill_value_array(arr);
    return 0;
  }
  /* fn's inputs are references of their own: a source that pushes from
   * inside fn (or a cancel made there) releases only the slot's. */
  for (size_t i = 0; i < n; i++)
    st->row[i] = rill_value_retain(st->slot[i].v);
  int rc = a->fn(a->ctx, st->row, n, out);
  for (size_t i = 0; i < n; i++)
    rill_value_release(st->row[i]);
  if (rc < 0)
    rill__error_callback(err, op->ops->name, rc, "function failed");
  return rc < 0 ? rc : 0;
}

/* Emit the pending combination, then ask the sources that made it for
 * their next values.  false: the stream ended meanwhile. */
static bool cl_emit(struct rill__op *op) {
  struct cl_state *st = op->state;
  rill_value_t out;
  rill_error_t err;
  st->pending = false;
  if (cl_combine(op, &out, &err) < 0) {
    cl_fail(op, &err);
    return false;
  }
  if (rill__op_done(op) || st->failed) { /* fn cancelled */
    rill__drop(out);
    return false;
  }
  rill__demand_emit(op, &st->demand, out);
  size_t n = cl_n(op);
  for (size_t i = 0; i < n && !rill__op_done(op) && !st->failed; i++) {
    if (st->slot[i].owed) {
      st->slot[i].owed = false;
      rill__inner_consumed(st->in[i], 1); /* one more value */
    }
  }
  return !rill__op_done(op) && !st->failed;
}

static void cl_pass(struct rill__op *op) {
  struct cl_state *st = op->state;
  if (rill__op_done(op)) { /* cancelled */
    cl_release_all(op);
    return;
  }
  if (st->failed) {
    rill__op_error(op, &st->err);
    return;
  }
  while (st->pending && st->demand > 0) {
    if (!cl_emit(op)) {
      rill__drain_miss(&st->drain); /* one more pass ends the stream */
      return;
    }
  }
  if (st->live == 0 && !st->pending) {
    cl_release_all(op);
    rill__op_complete(op);
  }
}

static void cl_drain(struct rill__op *op) {
  struct cl_state *st = op->state;
  if (!rill__drain_enter(&st->drain))
    return;
  do
    cl_pass(op);
  while (rill__drain_again(&st->drain));
}

/* ---- the sources (kit inners, one value at a time) ----------------------*/

static void cl_inner_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct cl_state *st = op->state;
  if (rill__op_done(op) || st->failed) {
    rill__drop(v);
    return;
  }
  struct cl_slot *s = &st->slot[in->index];
  if (s->has)
    rill_value_release(s->v);
  else
    st->missing--;
  s->v = v;
  s->has = true;
  if (st->missing > 0) {
    rill__inner_consumed(in, 1); /* not combinable yet: the next one */
    return;
  }
  s->owed = true;
  st->pending = true;
  cl_drain(op);
}

static void cl_inner_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct cl_state *st = op->state;
  if (err != NULL) {
    cl_fail(op, err);
    return;
  }
  st->live--;
  cl_drain(op);
}

static const struct rill__inner_ops cl_inner_ops = {
    .on_next = cl_inner_next,
    .on_end = cl_inner_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int cl_init(struct rill__op *op) {
  struct cl_state *st = op->state;
  size_t n = cl_n(op);
  st->missing = st->live = n;
  st->in = rill__inners_new(n, &cl_inner_ops, op, 1);
  st->slot = rill__calloc(n ? n : 1, sizeof(*st->slot));
  st->row = rill__calloc(n ? n : 1, sizeof(*st->row));
  return st->in && st->slot && st->row ? 0 : RILL_ENOMEM;
}

static void cl_on_subscribe(struct rill__op *op) {
  const struct cl_args *a = op->args;
  struct cl_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  for (size_t i = 0; i < a->sources->n; i++) {
    if (rill__op_done(op) || st->failed)
      break;
    rill__inner_subscribe(st->in[i], a->sources->items[i]);
  }
  cl_drain(op); /* n == 0, or what the subscriptions left to do */
}

static void cl_on_request(struct rill__op *op, int64_t n) {
  struct cl_state *st = op->state;
  rill__demand_more(&st->demand, n);
  cl_drain(op);
}

static void cl_on_cancel(struct rill__op *op) {
  struct cl_state *st = op->state;
  cl_release_all(op);
  if (rill__drain_running(&st->drain))
    rill__drain_miss(&st->drain);
}

static void cl_destroy(struct rill__op *op) {
  struct cl_state *st = op->state;
  cl_release_all(op);
  rill__inners_release(st->in, cl_n(op));
  rill__free(st->slot);
  rill__free(st->row);
}

static void cl_args_release(void *args) {
  struct cl_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops cl_ops = {
    .name = "combine_latest",
    .source = true,
    .args_size = sizeof(struct cl_args),
    .state_size = sizeof(struct cl_state),
    .init = cl_init,
    .on_subscribe = cl_on_subscribe,
    .on_request = cl_on_request,
    .on_cancel = cl_on_cancel,
    .destroy = cl_destroy,
    .args_release = cl_args_release,
};

rill_observable_t *rill_combine_latest(rill_observable_t *const *sources,
                                       size_t n, rill_combine_fn fn,
                                       void *ctx) {
  struct rill__sources *s = rill__sources_take(sources, n);
  if (s == NULL)
    return NULL;
  struct cl_args args = {.sources = s, .fn = fn, .ctx = ctx};
  return rill__op_create(NULL, &cl_ops, &args);
}
