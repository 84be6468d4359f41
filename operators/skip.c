/* SPDX-License-Identifier: MIT */
/* rill: skip(count) -- drops the first `count` values, emits the rest.
 *
 * Demand: the first downstream request is raised by `count` upstream
 * (saturating), so skipped values never eat downstream demand and no extra
 * round trip is needed per skipped value (RxJava's skip).
 * Time: synchronous, none of its own.
 * Owns: nothing; skipped values are released at once.
 * RxJS difference: a negative count is a bad argument here (NULL, errno
 * EINVAL, source released); RxJS treats it as skip(0). */
#include <errno.h>

#include "rill-internal.h"

struct skip_args {
  int64_t count;
};

struct skip_state {
  int64_t to_skip;
  bool requested;
};

static int skip_init(struct rill__op *op) {
  const struct skip_args *a = op->args;
  struct skip_state *st = op->state;
  st->to_skip = a->count;
  return 0;
}

static void skip_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct skip_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->to_skip > 0) {
    st->to_skip--;
    rill__drop(v);
    return;
  }
  rill__op_emit(op, v);
}

static void skip_on_request(struct rill__op *op, int64_t n) {
  const struct skip_args *a = op->args;
  struct skip_state *st = op->state;
  if (!st->requested) {
    st->requested = true;
    n = rill__demand_add(n, a->count);
  }
  rill__op_request_up(op, n);
}

static const struct rill__op_ops skip_ops = {
    .name = "skip",
    .args_size = sizeof(struct skip_args),
    .state_size = sizeof(struct skip_state),
    .init = skip_init,
    .on_next = skip_on_next,
    .on_request = skip_on_request,
};

rill_observable_t *rill_skip(rill_observable_t *src, int64_t count) {
  if (count < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct skip_args args = {.count = count};
  return rill__op_create(src, &skip_ops, &args);
}
