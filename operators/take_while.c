/* SPDX-License-Identifier: MIT */
/* rill: take_while(predicate, inclusive) -- emits values while the
 * predicate holds; at the first value that fails it, emits that value too
 * when `inclusive`, then completes and cancels upstream.
 *
 * Demand: passes request(n) upstream 1:1.
 * Time: synchronous, none of its own.
 * Owns: nothing; the failing value is released when not inclusive.  A
 * negative predicate result cancels upstream and delivers on_error. */
#include <errno.h>

#include "rill-internal.h"

struct take_while_args {
  rill_pred_fn fn;
  void *ctx;
  bool inclusive;
};

static void take_while_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct take_while_args *a = op->args;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  int rc = a->fn(a->ctx, v);
  if (rc < 0) {
    rill__drop(v);
    rill__op_fail_callback(op, rc, "predicate failed");
    return;
  }
  if (rc > 0) {
    rill__op_emit(op, v);
    return;
  }
  if (a->inclusive)
    rill__op_emit(op, v);
  else
    rill__drop(v);
  rill__op_complete(op);
}

static const struct rill__op_ops take_while_ops = {
    .name = "take_while",
    .args_size = sizeof(struct take_while_args),
    .on_next = take_while_on_next,
};

rill_observable_t *rill_take_while(rill_observable_t *src, rill_pred_fn fn,
                                   void *ctx, bool inclusive) {
  if (fn == NULL) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct take_while_args args = {.fn = fn, .ctx = ctx, .inclusive = inclusive};
  return rill__op_create(src, &take_while_ops, &args);
}
