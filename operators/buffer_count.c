/* SPDX-License-Identifier: MIT */
/* rill: buffer_count(size, every) -- collects values into arrays of `size`
 * values, opening a new array every `every` values (every == size: plain
 * chunks; every < size: overlapping windows; every > size: gaps).
 *
 * Demand: one downstream item is one array.  A request for n arrays asks
 * upstream for n * every values (plus size - every the first time when the
 * windows overlap), RxJava's arithmetic, saturating.  Full arrays wait in
 * order for downstream demand, so rule 1.1 holds even if the arithmetic is
 * outrun by a filter downstream.
 * Time: synchronous, none of its own.
 * Owns: the open arrays (each holds a reference to its values).  At
 * completion every non-empty open array is emitted, in order, as demand
 * allows, then on_complete (RxJS).  On error or cancel they are released.
 * Emits RILL_KIND_ARRAY values; read them with rill_array_len/at. */
#include <errno.h>

#include "kit/kit.h"

struct buffer_args {
  size_t size;
  size_t every;
};

struct buffer_state {
  struct rill__ring arrays; /* open or full arrays, oldest first */
  struct rill__drain flush;
  uint64_t seen;  /* values received */
  int64_t demand; /* downstream demand not yet met */
  bool requested; /* first request made */
  bool closing;   /* upstream completed: flush, then complete */
};

static rill_array_t *array_at(const struct buffer_state *st, uint32_t i) {
  return rill__ring_at(&st->arrays, i).as.array;
}

/* Room for the arrays that can be open at once, reserved at subscription
 * (ENOMEM there, not per value); full arrays waiting for demand beyond
 * that (a downstream filter outrunning the arithmetic) grow the ring. */
static int buffer_init(struct rill__op *op) {
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  rill__ring_init(&st->arrays, UINT32_MAX / 2);
  size_t open = (a->size + a->every - 1) / a->every + 1;
  return rill__ring_reserve(&st->arrays,
                            open < UINT32_MAX / 2 ? (uint32_t)open : 1);
}

/* Emit ready arrays (full ones; any non-empty one when closing). */
static void buffer_pass(struct rill__op *op) {
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  while (!rill__op_done(op) && !rill__ring_empty(&st->arrays) &&
         st->demand > 0) {
    size_t len = rill_array_len(array_at(st, 0));
    if (!(len == a->size || (st->closing && len > 0)))
      break;
    if (!rill__demand_emit(op, &st->demand, rill__ring_pop(&st->arrays)) &&
        !st->closing)
      /* A filter downstream dropped it: the demand is still there, so ask
       * upstream for one more array's worth of values. */
      rill__op_request_up(op, (int64_t)a->every);
  }
  if (rill__op_done(op) || !st->closing)
    return;
  /* Drop empty open arrays; complete once nothing is left to send. */
  while (!rill__ring_empty(&st->arrays) &&
         rill_array_len(array_at(st, 0)) == 0)
    rill_value_release(rill__ring_pop(&st->arrays));
  if (rill__ring_empty(&st->arrays))
    rill__op_complete(op);
}

static void buffer_flush(struct rill__op *op) {
  struct buffer_state *st = op->state;
  if (!rill__drain_enter(&st->flush))
    return;
  do
    buffer_pass(op);
  while (rill__drain_again(&st->flush));
}

static void buffer_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->seen++ % a->every == 0) {
    rill_array_t *arr = rill_array_new(a->size);
    if (arr == NULL ||
        rill__ring_push(&st->arrays, rill_value_array(arr)) < 0) {
      rill__drop(v); /* a failed push released the array */
      rill__op_fail(op, RILL_ENOMEM, NULL);
      return;
    }
  }
  for (uint32_t i = 0; i < rill__ring_len(&st->arrays); i++) {
    rill_array_t *arr = array_at(st, i);
    if (rill_array_len(arr) < a->size &&
        rill_array_push(arr, rill_value_retain(v)) < 0) {
      rill__drop(v);
      rill__op_fail(op, RILL_ENOMEM, NULL);
      return;
    }
  }
  rill__drop(v);
  buffer_flush(op);
}

static void buffer_on_complete(struct rill__op *op) {
  struct buffer_state *st = op->state;
  st->closing = true;
  buffer_flush(op);
}

static void buffer_on_request(struct rill__op *op, int64_t n) {
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  rill__demand_more(&st->demand, n);
  int64_t up = rill__demand_mul(n, (int64_t)a->every);
  if (!st->requested) {
    st->requested = true;
    if (a->size > a->every)
      up = rill__demand_add(up, (int64_t)(a->size - a->every));
  }
  buffer_flush(op);
  rill__op_request_up(op, up);
}

static void buffer_destroy(struct rill__op *op) {
  struct buffer_state *st = op->state;
  rill__ring_clear(&st->arrays);
}

static const struct rill__op_ops buffer_ops = {
    .name = "buffer_count",
    .args_size = sizeof(struct buffer_args),
    .state_size = sizeof(struct buffer_state),
    .init = buffer_init,
    .on_next = buffer_on_next,
    .on_complete = buffer_on_complete,
    .on_request = buffer_on_request,
    .destroy = buffer_destroy,
};

rill_observable_t *rill_buffer_count(rill_observable_t *src, size_t size,
                                     size_t every) {
  if (every == 0)
    every = size;
  if (size == 0 || size > INT64_MAX / 2 || every > INT64_MAX / 2) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct buffer_args args = {.size = size, .every = every};
  return rill__op_create(src, &buffer_ops, &args);
}
