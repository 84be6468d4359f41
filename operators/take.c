/* SPDX-License-Identifier: MIT */
/* rill: take(count) -- emits the first `count` values, then completes and
 * cancels upstream.
 *
 * Demand: forwards downstream requests, but never asks upstream for more
 * than the values still wanted (RxJava's take), so a source is not made to
 * produce values that would be thrown away.
 * Time: synchronous, none of its own.
 * Owns: nothing.  take(0) completes at once without subscribing upstream
 * (RxJS: EMPTY).
 * RxJS difference: a negative count is a bad argument here (NULL, errno
 * EINVAL, source released); RxJS treats it as take(0). */
#include <errno.h>

#include "rill-internal.h"

struct take_args {
  int64_t count;
};

struct take_state {
  int64_t remaining; /* values still to emit */
  int64_t asked;     /* requested upstream so far, <= count */
};

static int take_init(struct rill__op *op) {
  const struct take_args *a = op->args;
  struct take_state *st = op->state;
  st->remaining = a->count;
  return 0;
}

static void take_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct take_state *st = op->state;
  if (rill__op_done(op) || st->remaining == 0) {
    rill__drop(v);
    return;
  }
  st->remaining--;
  bool consumed = rill__op_deliver(op, v);
  if (rill__op_done(op))
    return;
  if (st->remaining == 0)
    rill__op_complete(op);
  else if (!consumed)
    rill__op_request_up(op, 1);
}

static void take_on_request(struct rill__op *op, int64_t n) {
  const struct take_args *a = op->args;
  struct take_state *st = op->state;
  int64_t left = a->count - st->asked;
  if (n > left)
    n = left;
  if (n <= 0)
    return;
  st->asked += n;
  rill__op_request_up(op, n);
}

static const struct rill__op_ops take_ops = {
    .name = "take",
    .args_size = sizeof(struct take_args),
    .state_size = sizeof(struct take_state),
    .init = take_init,
    .on_next = take_on_next,
    .on_request = take_on_request,
};

rill_observable_t *rill_take(rill_observable_t *src, int64_t count) {
  if (src == NULL) {
    rill__errno_null_source();
    return NULL;
  }
  if (count < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  if (count == 0) {
    rill_observable_free(src);
    return rill_empty();
  }
  struct take_args args = {.count = count};
  return rill__op_create(src, &take_ops, &args);
}
