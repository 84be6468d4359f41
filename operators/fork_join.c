/* SPDX-License-Identifier: MIT */
/* rill: fork_join(sources, n, fn, ctx) -- waits for every source to
 * complete and emits one value made of the last value of each, then
 * completes (RxJS forkJoin; Promise.all).
 *
 * Demand: every source is asked for everything at subscription (each
 * keeps only its last value: a newer one releases the one before).  The
 * combined value waits for downstream demand: once all sources have
 * completed it is held until requested, then emitted, then on_complete.
 * Time: none of its own; the sources are subscribed in order, at once.
 * Order: fn NULL gives an array (RILL_KIND_ARRAY) of the n last values in
 * source order, moved in (no copy, no extra reference); fn(ctx, values, n,
 * &out) gets them borrowed and they are released after it returns.
 * Errors: the first error of a source cancels every other source at once,
 * releases the values held, and goes downstream as it is.  The siblings
 * are cancelled before the error goes down (RxJS unsubscribes them right
 * after delivering it, in the same instant).  fn returning a
 * negative code fails the stream with it (stage "fork_join").
 * A source that completes without a value ends the whole at once: the
 * others are cancelled and the stream completes without a value (RxJS 7;
 * Promise.all has no such case).
 * n == 0 completes at once without a value, without any request (RxJS
 * forkJoin([]); Promise.all([]) would give an empty array instead).
 * Owns: the sources (with the recipe); per subscription the sources'
 * subscriptions, the last value of each and the combined value until it
 * goes downstream; each is released exactly once on every path (complete,
 * error, cancel, including a cancel from inside fn or on_next). */
#include <errno.h>

#include "kit/fan.h"

struct fork_join_args {
  struct rill__sources *sources;
  rill_combine_fn fn;
  void *ctx;
};

struct fork_join_state {
  struct rill__fan fan;
  rill_value_t *last; /* n values (NONE until a value arrives), or NULL */
  bool *has;          /* has[i]: last[i] holds source i's value */
  size_t remaining;   /* sources not yet completed */
  rill_value_t result;
  bool ready;     /* `result` waits for demand */
  bool requested; /* downstream asked for something */
};

/* Release what a subscription holds (values, sources); idempotent. */
static void fork_join_clear(struct fork_join_state *st, size_t n) {
  rill__fan_release(&st->fan);
  if (st->last != NULL) {
    for (size_t i = 0; i < n; i++)
      if (st->has[i])
        rill_value_release(st->last[i]);
    rill__free(st->last);
    st->last = NULL;
  }
  if (st->ready)
    rill_value_release(st->result);
  st->ready = false;
}

static size_t fork_join_n(const struct rill__op *op) {
  const struct fork_join_args *a = op->args;
  return a->sources->n;
}

/* The combined value goes down when it is ready and wanted. */
static void fork_join_try_emit(struct rill__op *op) {
  struct fork_join_state *st = op->state;
  if (!st->ready || !st->requested || rill__op_done(op))
    return;
  st->ready = false;
  rill__op_deliver(op, st->result);
  rill__op_complete(op); /* a no-op if on_next cancelled */
}

/* fn NULL: an array of the values, moved in. */
static int fork_join_array(rill_value_t *values, size_t n, rill_value_t *out) {
  rill_array_t *arr = rill_array_new(n);
  if (arr == NULL)
    return RILL_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    rill_array_push(arr, values[i]); /* cannot fail: capacity n */
    values[i] = (rill_value_t){0};
  }
  *out = rill_value_array(arr);
  return 0;
}

/* Every source completed with a value: combine them. */
static void fork_join_combine(struct rill__op *op) {
  const struct fork_join_args *a = op->args;
  struct fork_join_state *st = op->state;
  size_t n = a->sources->n;
  /* The values leave the state first, so a cancel from inside fn (which
   * clears the state) cannot release what fn is reading. */
  rill_value_t *values = st->last;
  st->last = NULL;
  rill__fan_release(&st->fan); /* all ended: nothing left to cancel */
  rill_value_t out = {0};
  int rc;
  if (a->fn == NULL)
    rc = fork_join_array(values, n, &out);
  else
    rc = a->fn(a->ctx, values, n, &out); /* a failing fn sets no *out */
  for (size_t i = 0; i < n; i++)
    rill_value_release(values[i]); /* NONE once moved: a no-op */
  rill__free(values);
  if (rill__op_done(op)) { /* cancelled from inside fn */
    if (rc >= 0)
      rill_value_release(out);
    return;
  }
  if (rc < 0) {
    if (a->fn == NULL)
      rill__op_fail(op, rc, "cannot allocate the array");
    else
      rill__op_fail_callback(op, rc, "combining function failed");
    return;
  }
  st->result = out;
  st->ready = true;
  fork_join_try_emit(op);
}

/* ---- the sources (a kit fan, src/kit/fan.h) -------------------------------*/

static void fork_join_source_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct fork_join_state *st = op->state;
  size_t i = (size_t)in->index;
  rill_value_t old = st->last[i];
  bool had = st->has[i];
  st->last[i] = v;
  st->has[i] = true;
  if (had)
    rill_value_release(old);
}

static void fork_join_source_end(struct rill__inner *in,
                                 const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct fork_join_state *st = op->state;
  if (err != NULL || !st->has[in->index]) {
    /* An error, or a source without a value: the others are cancelled and
     * their values released before the terminal goes down. */
    fork_join_clear(st, fork_join_n(op));
    if (err != NULL)
      rill__op_error(op, err);
    else
      rill__op_complete(op);
    return;
  }
  if (--st->remaining == 0)
    fork_join_combine(op);
}

static const struct rill__inner_ops fork_join_source_ops = {
    .on_next = fork_join_source_next,
    .on_end = fork_join_source_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int fork_join_init(struct rill__op *op) {
  struct fork_join_state *st = op->state;
  size_t n = fork_join_n(op);
  st->remaining = n;
  if (n == 0)
    return 0;
  /* n values then n flags, in one block */
  st->last = rill__calloc(n, sizeof(rill_value_t) + sizeof(bool));
  if (st->last == NULL)
    return RILL_ENOMEM;
  st->has = (bool *)(st->last + n);
  return rill__fan_init(&st->fan, n, &fork_join_source_ops, op, RILL_UNBOUNDED);
}

static void fork_join_on_subscribe(struct rill__op *op) {
  const struct fork_join_args *a = op->args;
  struct fork_join_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (a->sources->n == 0) {
    rill__op_complete(op);
    return;
  }
  rill__fan_subscribe(&st->fan, op, a->sources->items);
}

static void fork_join_on_request(struct rill__op *op, int64_t n) {
  struct fork_join_state *st = op->state;
  (void)n;
  st->requested = true;
  fork_join_try_emit(op);
}

static void fork_join_on_cancel(struct rill__op *op) {
  fork_join_clear(op->state, fork_join_n(op));
}

static void fork_join_destroy(struct rill__op *op) {
  fork_join_clear(op->state, fork_join_n(op));
}

static void fork_join_args_release(void *args) {
  struct fork_join_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops fork_join_ops = {
    .name = "fork_join",
    .source = true,
    .args_size = sizeof(struct fork_join_args),
    .state_size = sizeof(struct fork_join_state),
    .init = fork_join_init,
    .on_subscribe = fork_join_on_subscribe,
    .on_request = fork_join_on_request,
    .on_cancel = fork_join_on_cancel,
    .destroy = fork_join_destroy,
    .args_release = fork_join_args_release,
};

rill_observable_t *rill_fork_join(rill_observable_t *const *sources, size_t n,
                                  rill_combine_fn fn, void *ctx) {
  struct fork_join_args args = {
      .sources = rill__sources_take(sources, n), .fn = fn, .ctx = ctx};
  if (args.sources == NULL)
    return NULL;
  return rill__op_create(NULL, &fork_join_ops, &args);
}
