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
  bool requested;       /* downstream asked for the result */
  bool upstream_closed; /* source completed; waiting for demand */
};

static int reduce_init(struct rill__op *op) {
  struct reduce_state *st = op->state;
  rill__acc_start(&st->acc, op->args);
  return 0;
}

static void reduce_on_subscribe(struct rill__op *op) {
  op->down->vt->on_subscribe(op->down, &op->node);
  rill__op_request_up(op, RILL_UNBOUNDED);
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
    rill__op_fail(op, rc, "accumulator failed");
}

/* Emit the result (if any) and complete. */
static void reduce_flush(struct rill__op *op) {
  struct reduce_state *st = op->state;
  /* A request made from inside on_next must not flush (and complete)
   * again, nested in that on_next (rule 1.3). */
  st->upstream_closed = false;
  if (st->acc.has) {
    rill_value_t v = st->acc.value;
    st->acc.has = false;
    rill__emit(op->down, v);
  }
  rill__op_complete(op);
}

static void reduce_on_complete(struct rill__op *op) {
  struct reduce_state *st = op->state;
  st->upstream_closed = true;
  if (st->requested || !st->acc.has)
    reduce_flush(op);
}

static void reduce_on_request(struct rill__op *op, int64_t n) {
  (void)n;
  struct reduce_state *st = op->state;
  st->requested = true;
  if (st->upstream_closed)
    reduce_flush(op);
}

static void reduce_destroy(struct rill__op *op) {
  struct reduce_state *st = op->state;
  rill__acc_clear(&st->acc);
}

static const struct rill__op_ops reduce_ops = {
    .name = "reduce",
    .args_size = sizeof(struct rill__acc_args),
    .state_size = sizeof(struct reduce_state),
    .init = reduce_init,
    .on_subscribe = reduce_on_subscribe,
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
