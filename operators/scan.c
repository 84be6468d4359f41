/* rill: scan(accumulator, seed) -- emits every intermediate accumulator.
 *
 * Demand: passes request(n) upstream 1:1 (one output per input).
 * Time: synchronous, none of its own.
 * Owns: the current accumulator (released at the end, on every path) and
 * the seed inside the recipe.  Each emitted accumulator is a new reference
 * (rill_value_retain), so downstream owns what it receives.
 * Without a seed the first value becomes the accumulator and is emitted
 * as is (RxJS).  A negative accumulator result cancels upstream and
 * delivers on_error. */
#include <errno.h>

#include "rill-internal.h"

struct scan_args {
  rill_reduce_fn fn;
  void *ctx;
  rill_value_t seed;
  bool has_seed;
};

struct scan_state {
  rill_value_t acc;
  bool has_acc;
};

static int scan_init(struct rill__op *op) {
  const struct scan_args *a = op->args;
  struct scan_state *st = op->state;
  if (a->has_seed) {
    st->acc = rill_value_retain(a->seed);
    st->has_acc = true;
  }
  return 0;
}

static void scan_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct scan_args *a = op->args;
  struct scan_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (!st->has_acc) {
    st->acc = v;
    st->has_acc = true;
  } else {
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
  rill__op_emit(op, rill_value_retain(st->acc));
}

static void scan_destroy(struct rill__op *op) {
  struct scan_state *st = op->state;
  if (st->has_acc)
    rill_value_release(st->acc);
  st->has_acc = false;
}

static void scan_args_release(void *args) {
  struct scan_args *a = args;
  if (a->has_seed)
    rill_value_release(a->seed);
}

static const struct rill__op_ops scan_ops = {
    .name = "scan",
    .args_size = sizeof(struct scan_args),
    .state_size = sizeof(struct scan_state),
    .init = scan_init,
    .on_next = scan_on_next,
    .destroy = scan_destroy,
    .args_release = scan_args_release,
};

rill_observable_t *rill_scan(rill_observable_t *src, rill_reduce_fn fn,
                             void *ctx, const rill_value_t *seed) {
  struct scan_args args = {.fn = fn, .ctx = ctx};
  if (seed != NULL) {
    args.seed = *seed;
    args.has_seed = true;
  }
  if (fn == NULL) {
    scan_args_release(&args);
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(src, &scan_ops, &args);
}
