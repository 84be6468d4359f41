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
 * accumulator. */
#include <errno.h>

#include "rill-internal.h"

struct reduce_args {
  rill_reduce_fn fn;
  void *ctx;
  rill_value_t seed;
  bool has_seed;
};

struct reduce_state {
  rill_value_t acc;
  bool has_acc;
  bool requested;       /* downstream asked for the result */
  bool upstream_closed; /* source completed; waiting for demand */
};

static int reduce_init(struct rill__op *op) {
  const struct reduce_args *a = op->args;
  struct reduce_state *st = op->state;
  if (a->has_seed) {
    st->acc = rill_value_retain(a->seed);
    st->has_acc = true;
  }
  return 0;
}

static void reduce_on_subscribe(struct rill__op *op) {
  op->down->vt->on_subscribe(op->down, &op->node);
  rill__op_request_up(op, RILL_UNBOUNDED);
}

static void reduce_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct reduce_args *a = op->args;
  struct reduce_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (!st->has_acc) {
    st->acc = v;
    st->has_acc = true;
    return;
  }
  rill_value_t out;
  int rc = a->fn(a->ctx, st->acc, v, &out);
  rill__drop(v);
  if (rc < 0) {
    rill__op_fail(op, rc, "accumulator failed");
    return;
  }
  rill_value_release(st->acc);
  st->acc = out;
}

static void reduce_flush(struct rill__op *op) {
  struct reduce_state *st = op->state;
  if (st->has_acc) {
    rill_value_t v = st->acc;
    st->has_acc = false;
    rill__emit(op->down, v);
  }
  rill__op_complete(op);
}

static void reduce_on_complete(struct rill__op *op) {
  struct reduce_state *st = op->state;
  st->upstream_closed = true;
  if (st->requested || !st->has_acc)
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
  if (st->has_acc)
    rill_value_release(st->acc);
  st->has_acc = false;
}

static void reduce_args_release(void *args) {
  struct reduce_args *a = args;
  if (a->has_seed)
    rill_value_release(a->seed);
}

static const struct rill__op_ops reduce_ops = {
    .name = "reduce",
    .args_size = sizeof(struct reduce_args),
    .state_size = sizeof(struct reduce_state),
    .init = reduce_init,
    .on_subscribe = reduce_on_subscribe,
    .on_next = reduce_on_next,
    .on_complete = reduce_on_complete,
    .on_request = reduce_on_request,
    .destroy = reduce_destroy,
    .args_release = reduce_args_release,
};

rill_observable_t *rill_reduce(rill_observable_t *src, rill_reduce_fn fn,
                               void *ctx, const rill_value_t *seed) {
  struct reduce_args args = {.fn = fn, .ctx = ctx};
  if (seed != NULL) {
    args.seed = *seed;
    args.has_seed = true;
  }
  if (fn == NULL) {
    reduce_args_release(&args);
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(src, &reduce_ops, &args);
}
