/* SPDX-License-Identifier: MIT */
/* rill: first(predicate, default) -- emits the first value (for which the
 * predicate holds, when one is given), then completes and cancels
 * upstream (RxJS first).
 *
 * Demand: passes requests upstream until the value is found; values the
 * predicate rejects are released and asked for again.  A default emitted at
 * completion waits for a downstream request (rule 1.1).
 * Time: synchronous, none of its own.
 * Owns: the default value inside the recipe (each subscription emits its
 * own reference).  A source that completes with no match and no default
 * gives on_error(RILL_EEMPTY), RxJS's EmptyError.  A negative predicate
 * result cancels upstream and delivers on_error.
 * RxJS difference: the predicate gets no index argument. */
#include <errno.h>

#include "rill-internal.h"

struct first_args {
  rill_pred_fn fn;
  void *ctx;
  rill_value_t fallback;
  bool has_fallback;
};

struct first_state {
  struct rill__outbox out; /* a default waits here for a request */
};

static void first_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct first_args *a = op->args;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  int rc = a->fn ? a->fn(a->ctx, v) : 1;
  if (rc < 0) {
    rill__drop(v);
    rill__op_fail_callback(op, rc, "predicate failed");
    return;
  }
  if (rc == 0) {
    rill__drop(v);
    rill__op_request_up(op, 1);
    return;
  }
  rill__op_emit(op, v);
  rill__op_complete(op);
}

static void first_on_complete(struct rill__op *op) {
  const struct first_args *a = op->args;
  struct first_state *st = op->state;
  if (!a->has_fallback) {
    rill__op_fail(op, RILL_EEMPTY, "no value matched");
    return;
  }
  rill__outbox_offer(op, &st->out, rill_value_retain(a->fallback));
  rill__outbox_complete(op, &st->out);
}

static void first_on_request(struct rill__op *op, int64_t n) {
  struct first_state *st = op->state;
  rill__outbox_request(op, &st->out, n); /* for a default, if it comes */
  rill__op_request_up(op, n);
}

static void first_destroy(struct rill__op *op) {
  struct first_state *st = op->state;
  rill__outbox_clear(&st->out);
}

static void first_args_release(void *args) {
  struct first_args *a = args;
  if (a->has_fallback)
    rill_value_release(a->fallback);
}

static const struct rill__op_ops first_ops = {
    .name = "first",
    .args_size = sizeof(struct first_args),
    .state_size = sizeof(struct first_state),
    .on_next = first_on_next,
    .on_complete = first_on_complete,
    .on_request = first_on_request,
    .destroy = first_destroy,
    .args_release = first_args_release,
};

rill_observable_t *rill_first(rill_observable_t *src, rill_pred_fn fn,
                              void *ctx, const rill_value_t *default_value) {
  struct first_args args = {.fn = fn, .ctx = ctx};
  if (default_value != NULL) {
    args.fallback = *default_value;
    args.has_fallback = true;
  }
  return rill__op_create(src, &first_ops, &args);
}
