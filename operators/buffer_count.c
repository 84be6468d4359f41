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

#include "rill-internal.h"

struct buffer_args {
  size_t size;
  size_t every;
};

struct buffer_state {
  rill_array_t **ring; /* open or full arrays, oldest first */
  size_t cap;
  size_t head;
  size_t len;
  uint64_t seen;  /* values received */
  int64_t demand; /* downstream demand not yet met */
  bool requested; /* first request made */
  bool closing;   /* upstream completed: flush, then complete */
  bool flushing;  /* the flush loop is on the stack */
};

static int buffer_init(struct rill__op *op) {
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  st->cap = (a->size + a->every - 1) / a->every + 1;
  st->ring = rill__calloc(st->cap, sizeof(rill_array_t *));
  return st->ring ? 0 : RILL_ENOMEM;
}

static rill_array_t *ring_at(struct buffer_state *st, size_t i) {
  return st->ring[(st->head + i) % st->cap];
}

static void ring_pop(struct buffer_state *st) {
  st->ring[st->head] = NULL;
  st->head = (st->head + 1) % st->cap;
  st->len--;
}

/* Full arrays wait for demand; if a downstream filter outruns the demand
 * arithmetic, make room rather than fail. */
static int ring_grow(struct buffer_state *st) {
  size_t cap = st->cap * 2;
  rill_array_t **ring = rill__calloc(cap, sizeof(*ring));
  if (ring == NULL)
    return RILL_ENOMEM;
  for (size_t i = 0; i < st->len; i++)
    ring[i] = ring_at(st, i);
  rill__free(st->ring);
  st->ring = ring;
  st->cap = cap;
  st->head = 0;
  return 0;
}

/* Emit ready arrays (full ones; any non-empty one when closing). */
static void buffer_flush(struct rill__op *op) {
  const struct buffer_args *a = op->args;
  struct buffer_state *st = op->state;
  if (st->flushing)
    return;
  st->flushing = true;
  while (!rill__op_done(op) && st->len > 0 && st->demand > 0) {
    rill_array_t *head = ring_at(st, 0);
    bool ready = rill_array_len(head) == a->size ||
                 (st->closing && rill_array_len(head) > 0);
    if (!ready)
      break;
    ring_pop(st);
    if (!rill__op_deliver(op, rill_value_array(head))) {
      /* A filter downstream dropped it: the demand is still there, so
       * ask upstream for one more array's worth of values. */
      if (!st->closing)
        rill__op_request_up(op, (int64_t)a->every);
    } else if (st->demand != RILL_UNBOUNDED) {
      st->demand--;
    }
  }
  st->flushing = false;
  if (rill__op_done(op) || !st->closing)
    return;
  /* Drop empty open arrays; complete once nothing is left to send. */
  while (st->len > 0 && rill_array_len(ring_at(st, 0)) == 0) {
    rill_array_unref(ring_at(st, 0));
    ring_pop(st);
  }
  if (st->len == 0)
    rill__op_complete(op);
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
    rill_array_t *arr = NULL;
    if (st->len < st->cap || ring_grow(st) == 0)
      arr = rill_array_new(a->size);
    if (arr == NULL) {
      rill__drop(v);
      rill__op_fail(op, RILL_ENOMEM, NULL);
      return;
    }
    st->ring[(st->head + st->len++) % st->cap] = arr;
  }
  for (size_t i = 0; i < st->len; i++) {
    rill_array_t *arr = ring_at(st, i);
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
  st->demand = rill__demand_add(st->demand, n);
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
  while (st->ring != NULL && st->len > 0) {
    rill_array_unref(ring_at(st, 0));
    ring_pop(st);
  }
  rill__free(st->ring);
  st->ring = NULL;
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
