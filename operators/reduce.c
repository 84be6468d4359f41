/* SPDX-License-Identifier: MIT */
/* rill: reduce(accumulator, seed) -- emits the final accumulator when the
 * source completes.
 *
 * Demand: requests everything upstream at subscribe (it must see every
 * value); emits its single value only once downstream has requested, so a
 * completion that arrives before any request waits for one (rule 1.1).
 * Time: synchronous, none of its own.
 * Owns: the accumulator (released on every path) and the recipe's seed.
 * Without a seed, an empty source completes without a value (RxJS); with a
 * seed, it emits the seed.  Errors pass through at once, dropping the
 * accumulator.  The fold itself is shared with scan (src/accumulate.c). */
#include "rill-internal.h"

struct reduce_state {
  struct rill__acc acc;
  struct rill__outbox out; /* the result waits here for a request */
};

static int reduce_init(struct rill__op *op) {
  struct reduce_state *st = op->state;
  rill__acc_start(&st->acc, op->args);
  return 0;
}

static void reduce_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct reduce_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  int rc = rill__acc_add(&st->acc, op->args, v);
  if (rc < 0)
    rill__op_fail_callback(op, rc, "accumulator failed");
}

static void reduce_on_complete(struct rill__op *op) {
  struct reduce_state *st = op->state;
  if (st->acc.has) {
    st->acc.has = false;
    rill__outbox_offer(op, &st->out, st->acc.value);
  }
  rill__outbox_complete(op, &st->out);
}

static void reduce_on_request(struct rill__op *op, int64_t n) {
  struct reduce_state *st = op->state;
  rill__outbox_request(op, &st->out, n);
}

static void reduce_destroy(struct rill__op *op) {
  struct reduce_state *st = op->state;
  rill__acc_clear(&st->acc);
  rill__outbox_clear(&st->out);
}

static const struct rill__op_ops reduce_ops = {
    .name = "reduce",
    .args_size = sizeof(struct rill__acc_args),
    .state_size = sizeof(struct reduce_state),
    .init = reduce_init,
    .on_subscribe = rill__op_subscribe_unbounded,
    .on_next = reduce_on_next,
    .on_complete = reduce_on_complete,
    .on_request = reduce_on_request,
    .destroy = reduce_destroy,
    .args_release = rill__acc_args_release,
};

rill_observable_t *rill_reduce(rill_observable_t *src, rill_reduce_fn fn,
                               void *ctx, const rill_value_t *seed) {
  return rill__acc_create(src, &reduce_ops, fn, ctx, seed);
}
