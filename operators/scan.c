/* SPDX-License-Identifier: MIT */
/* rill: scan(accumulator, seed) -- emits every intermediate accumulator.
 *
 * Demand: passes request(n) upstream 1:1 (one output per input).
 * Time: synchronous, none of its own.
 * Owns: the current accumulator (released at the end, on every path) and
 * the seed inside the recipe.  Each emitted accumulator is a new reference
 * (rill_value_retain), so downstream owns what it receives.
 * Without a seed the first value becomes the accumulator and is emitted
 * as is (RxJS).  A negative accumulator result cancels upstream and
 * delivers on_error.  The fold itself is shared with reduce
 * (src/accumulate.c). */
#include "rill-internal.h"

struct scan_state {
  struct rill__acc acc;
};

static int scan_init(struct rill__op *op) {
  struct scan_state *st = op->state;
  rill__acc_start(&st->acc, op->args);
  return 0;
}

static void scan_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct scan_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  int rc = rill__acc_add(&st->acc, op->args, v);
  if (rc < 0) {
    rill__op_fail_callback(op, rc, "accumulator failed");
    return;
  }
  rill__op_emit(op, rill_value_retain(st->acc.value));
}

static void scan_destroy(struct rill__op *op) {
  struct scan_state *st = op->state;
  rill__acc_clear(&st->acc);
}

static const struct rill__op_ops scan_ops = {
    .name = "scan",
    .args_size = sizeof(struct rill__acc_args),
    .state_size = sizeof(struct scan_state),
    .init = scan_init,
    .on_next = scan_on_next,
    .destroy = scan_destroy,
    .args_release = rill__acc_args_release,
};

rill_observable_t *rill_scan(rill_observable_t *src, rill_reduce_fn fn,
                             void *ctx, const rill_value_t *seed) {
  return rill__acc_create(src, &scan_ops, fn, ctx, seed);
}
