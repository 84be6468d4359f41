/* SPDX-License-Identifier: MIT */
/* rill: distinct_until_changed(compare) -- drops a value equal to the one
 * before it.
 *
 * Demand: passes request(n) upstream 1:1 and asks for one more per dropped
 * value, so downstream demand is always met.
 * Time: synchronous, none of its own.
 * Owns: a reference to the last emitted value (released on every path);
 * dropped values are released at once.  compare NULL uses
 * rill_value_equal(); a negative compare result cancels upstream and
 * delivers on_error.
 * RxJS difference: no keySelector argument (compare can look at keys). */
#include <errno.h>

#include "rill-internal.h"

struct distinct_args {
  rill_equal_fn fn;
  void *ctx;
};

struct distinct_state {
  rill_value_t last;
  bool has_last;
};

static int distinct_equal(const struct distinct_args *a, rill_value_t x,
                          rill_value_t y) {
  if (a->fn == NULL)
    return rill_value_equal(x, y) ? 1 : 0;
  return a->fn(a->ctx, x, y);
}

static void distinct_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct distinct_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->has_last) {
    int rc = distinct_equal(op->args, st->last, v);
    if (rc != 0) {
      rill__drop(v);
      if (rc < 0)
        rill__op_fail_callback(op, rc, "comparator failed");
      else
        rill__op_request_up(op, 1);
      return;
    }
    rill_value_release(st->last);
  }
  st->last = rill_value_retain(v);
  st->has_last = true;
  rill__op_emit(op, v);
}

static void distinct_destroy(struct rill__op *op) {
  struct distinct_state *st = op->state;
  if (st->has_last)
    rill_value_release(st->last);
  st->has_last = false;
}

static const struct rill__op_ops distinct_ops = {
    .name = "distinct_until_changed",
    .args_size = sizeof(struct distinct_args),
    .state_size = sizeof(struct distinct_state),
    .on_next = distinct_on_next,
    .destroy = distinct_destroy,
};

rill_observable_t *rill_distinct_until_changed(rill_observable_t *src,
                                               rill_equal_fn fn, void *ctx) {
  struct distinct_args args = {.fn = fn, .ctx = ctx};
  return rill__op_create(src, &distinct_ops, &args);
}
