/* SPDX-License-Identifier: MIT */
/* rill: last(predicate, default) -- emits the last value (for which the
 * predicate holds, when one is given) when the source completes (RxJS
 * last).
 *
 * Demand: asks upstream for everything (it must see the end); its one
 * value waits for a downstream request (rule 1.1).
 * Time: synchronous, none of its own.
 * Owns: the newest matching value (released on every path) and the
 * recipe's default.  No match and no default: on_error(RILL_EEMPTY).  A
 * negative predicate result cancels upstream and delivers on_error.
 * RxJS difference: the predicate gets no index argument. */
#include <errno.h>

#include "rill-internal.h"

struct last_args {
  rill_pred_fn fn;
  void *ctx;
  rill_value_t fallback;
  bool has_fallback;
};

struct last_state {
  rill_value_t kept;
  bool has_kept;
  struct rill__outbox out; /* the result waits here for a request */
};

static void last_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct last_args *a = op->args;
  struct last_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  int rc = a->fn ? a->fn(a->ctx, v) : 1;
  if (rc <= 0) {
    rill__drop(v);
    if (rc < 0)
      rill__op_fail_callback(op, rc, "predicate failed");
    return;
  }
  if (st->has_kept)
    rill_value_release(st->kept);
  st->kept = v;
  st->has_kept = true;
}

static void last_on_complete(struct rill__op *op) {
  const struct last_args *a = op->args;
  struct last_state *st = op->state;
  if (st->has_kept) {
    st->has_kept = false;
    rill__outbox_offer(op, &st->out, st->kept);
  } else if (a->has_fallback) {
    rill__outbox_offer(op, &st->out, rill_value_retain(a->fallback));
  } else {
    rill__op_fail(op, RILL_EEMPTY, "no value matched");
    return;
  }
  rill__outbox_complete(op, &st->out);
}

static void last_on_request(struct rill__op *op, int64_t n) {
  struct last_state *st = op->state;
  rill__outbox_request(op, &st->out, n);
}

static void last_destroy(struct rill__op *op) {
  struct last_state *st = op->state;
  if (st->has_kept)
    rill_value_release(st->kept);
  st->has_kept = false;
  rill__outbox_clear(&st->out);
}

static void last_args_release(void *args) {
  struct last_args *a = args;
  if (a->has_fallback)
    rill_value_release(a->fallback);
}

static const struct rill__op_ops last_ops = {
    .name = "last",
    .args_size = sizeof(struct last_args),
    .state_size = sizeof(struct last_state),
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = last_on_next,
    .on_complete = last_on_complete,
    .on_request = last_on_request,
    .destroy = last_destroy,
    .args_release = last_args_release,
};

rill_observable_t *rill_last(rill_observable_t *src, rill_pred_fn fn, void *ctx,
                             const rill_value_t *default_value) {
  struct last_args args = {.fn = fn, .ctx = ctx};
  if (default_value != NULL) {
    args.fallback = *default_value;
    args.has_fallback = true;
  }
  return rill__op_create(src, &last_ops, &args);
}
