/* SPDX-License-Identifier: MIT */
/* rill: zip(sources, n, fn, ctx) -- the k-th output combines the k-th
 * value of every source (RxJS zip and zipWith, RxJava zip).
 *
 * Demand: never emits beyond downstream demand.  Each source is a kit
 * inner (kit/inner.h) asked for ZIP_PREFETCH (128, RxJava's bufferSize)
 * values at subscription and refilled by halves as its values leave in
 * rows, so no queue ever holds more than 128 values and a fast source runs
 * at most 128 values ahead of the slowest.  The prefetch is asked for
 * before any downstream request (RxJava does the same).
 * Order: the sources are subscribed in order (RxJS); one that ends the
 * stream while it is subscribed (a synchronous error, or a synchronous
 * completion with nothing queued) leaves the rest unsubscribed.
 * Synchronous sources work: zip(range, range) runs in a flat stack (the
 * first fills its queue, the second's values complete rows as they come).
 * Time: none of its own.
 * Completion: as soon as a source has completed and its queue is empty,
 * no further row can be made: the others are cancelled and the stream
 * completes, with or without demand (RxJS).  n == 0 completes at once
 * (RxJS zip([]) is EMPTY).
 * Errors: the first error of a source, or fn returning a negative code,
 * cancels every source at once, releases every queued value and is
 * delivered (RxJS; no delayError).
 * Owns: the sources (with the recipe); per subscription, the inners and
 * their queued values.  A row leaves the queues when it goes out: with fn
 * NULL its values move into the array (no copy); with fn they are borrowed
 * by fn and released by zip right after it, whatever fn returns.
 * Allocation: none per output when fn returns a scalar (the row and the
 * queues are allocated once; a queue grows to its bound and stays).
 * Re-entrancy (rule 1.3): one drain loop emits; a value that completes a
 * row while nothing drains goes out at once inside the drain bracket,
 * without being queued (the fast path).  The terminal goes out only from
 * the drain loop, never during an emission, so emissions skip the
 * operator's emission bracket (rill__demand_emit_drained).
 * Cost: each inner's node delivers straight to zip_value (the kit's
 * inner_on_next is bypassed: its checks are made on the slow path), so a
 * value that joins its queue is one store.  zip(range, range) with a sum
 * costs about 200 instructions per output (bench W6), against 18 for a
 * loop calling the same function: each output takes two values, each a
 * source's loop step and a call into zip.
 * Deviations: none in what is emitted and when (RxJS's conformance cases
 * pass); RxJS's zip buffers without bound, rill's by 128 per source. */
#include <errno.h>

#include "kit/kit.h"

/* A power of two: a queue's storage then never outgrows its bound, so
 * "room in the storage" is "room in the queue" on the hot path. */
enum { ZIP_PREFETCH = 128, ZIP_REFILL = ZIP_PREFETCH / 2 };

#if defined(__GNUC__)
#define ZIP_NOINLINE __attribute__((noinline))
#else
#define ZIP_NOINLINE
#endif

struct zip_args {
  struct rill__sources *sources;
  rill_combine_fn fn;
  void *ctx;
};

struct zip_state {
  struct rill__drain drain;
  int64_t demand;
  struct rill__inner **in; /* one per source, in source order */
  rill_value_t *row;       /* the values of the row going out */
  size_t empty;            /* inners whose queue is empty */
  size_t ended;            /* inners whose source completed */
  uint32_t taken;          /* rows out since the last refill */
  bool stopped;            /* failed, cancelled or ended */
  bool failed;
  rill_error_t err;
};

static void zip_drain(struct rill__op *op);

static size_t zip_n(const struct rill__op *op) {
  const struct zip_args *a = op->args;
  return a->sources->n;
}

/* The first error wins: every source is cancelled now (their queues
 * released), and the drain loop delivers it. */
static void zip_fail(struct rill__op *op, const rill_error_t *err) {
  struct zip_state *st = op->state;
  if (!st->stopped) {
    st->stopped = st->failed = true;
    st->err = *err;
    rill__inners_cancel(st->in, zip_n(op));
  }
  zip_drain(op);
}

static void zip_fail_code(struct rill__op *op, int code, const char *what) {
  rill_error_t err;
  if (code == RILL_EOVERFLOW)
    rill__error_init(&err, RILL_EPROTO, 0, op->ops->name,
                     "%s: a source sent more than requested (rule 1.1)",
                     op->ops->name);
  else
    rill__error_init(&err, code, 0, op->ops->name, "%s: cannot %s",
                     op->ops->name, what);
  zip_fail(op, &err);
}

/* fn NULL: the row's values move into a new array. */
static int zip_array(rill_value_t *row, size_t n, rill_value_t *out) {
  rill_array_t *arr = rill_array_new(n);
  for (size_t i = 0; i < n; i++) {
    if (arr == NULL || rill_array_push(arr, row[i]) < 0) {
      if (arr == NULL)
        rill_value_release(row[i]);
      for (size_t j = i + 1; j < n; j++)
        rill_value_release(row[j]);
      if (arr != NULL)
        rill_array_unref(arr);
      return RILL_ENOMEM;
    }
  }
  *out = rill_value_array(arr);
  return 0;
}

/* Every source's values went out in ZIP_REFILL rows: ask each for as many
 * (a synchronous source pushes into its queue from here). */
static void zip_refill(struct rill__op *op) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  st->taken = 0;
  for (size_t i = 0; i < n && !st->stopped; i++)
    rill__inner_consumed(st->in[i], ZIP_REFILL);
}

/* Combine the row (its values are zip's) and emit the result, inside the
 * drain bracket.  false: the stream ended (fn failed or cancelled, or
 * downstream cancelled). */
static RILL__ALWAYS_INLINE bool zip_combine_emit(struct rill__op *op) {
  const struct zip_args *a = op->args;
  struct zip_state *st = op->state;
  size_t n = a->sources->n;
  rill_value_t out;
  if (a->fn == NULL) {
    int rc = zip_array(st->row, n, &out);
    if (RILL__UNLIKELY(rc < 0)) {
      zip_fail_code(op, rc, "allocate an array");
      return false;
    }
  } else {
    int rc = a->fn(a->ctx, st->row, n, &out);
    for (size_t i = 0; i < n; i++)
      rill_value_release(st->row[i]);
    if (RILL__UNLIKELY(rc < 0)) {
      rill_error_t err;
      rill__error_callback(&err, op->ops->name, rc, "function failed");
      zip_fail(op, &err);
      return false;
    }
  }
  if (RILL__UNLIKELY(st->stopped)) { /* fn cancelled */
    rill__drop(out);
    return false;
  }
  /* Emitted only inside the drain bracket, and the terminal goes out only
   * from zip_pass: no emission bracket is needed (kit/demand.h). */
  rill__demand_emit_drained(op, &st->demand, out);
  if (RILL__UNLIKELY(st->stopped))
    return false;
  if (++st->taken == ZIP_REFILL)
    zip_refill(op);
  return !st->stopped;
}

/* A source that completed with nothing queued: no row can be made. */
static bool zip_exhausted(const struct rill__op *op) {
  const struct zip_state *st = op->state;
  size_t n = zip_n(op);
  if (n == 0)
    return true;
  for (size_t i = 0; st->ended != 0 && i < n; i++)
    if (st->in[i]->done && rill__ring_empty(&st->in[i]->queue))
      return true;
  return false;
}

static void zip_pass(struct rill__op *op) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  if (rill__op_done(op)) { /* cancelled, or the terminal went out */
    rill__inners_cancel(st->in, n);
    return;
  }
  if (st->failed) {
    rill__op_error(op, &st->err);
    return;
  }
  for (;;) {
    if (zip_exhausted(op)) {
      st->stopped = true;
      rill__inners_cancel(st->in, n);
      rill__op_complete(op);
      return;
    }
    if (st->demand == 0 || st->empty != 0)
      return;
    for (size_t i = 0; i < n; i++) { /* every queue's oldest value */
      struct rill__ring *q = &st->in[i]->queue;
      st->row[i] = rill__ring_pop(q);
      if (rill__ring_empty(q))
        st->empty++;
    }
    if (!zip_combine_emit(op)) {
      st->drain.wip++; /* one more pass ends the stream */
      return;
    }
  }
}

static void zip_drain(struct rill__op *op) {
  struct zip_state *st = op->state;
  if (!rill__drain_enter(&st->drain))
    return;
  do
    zip_pass(op);
  while (rill__drain_again(&st->drain));
}

/* ---- the sources (kit inners) -------------------------------------------*/

/* A value that the hot path (zip_value) did not take: a queue to grow, a
 * stream that is ending, a row that must wait. */
static ZIP_NOINLINE void zip_value_slow(struct rill__inner *in,
                                        rill_value_t v) {
  struct rill__op *op = in->owner;
  struct zip_state *st = op->state;
  if (in->cancelled || in->done) {
    rill__drop(v);
    return;
  }
  bool was_empty = rill__ring_empty(&in->queue);
  int rc = rill__ring_push(&in->queue, v);
  if (rc < 0) {
    zip_fail_code(op, rc, "queue a value");
    return;
  }
  if (was_empty) {
    st->empty--;
    zip_drain(op);
  }
}

/* v completes a row (every other queue has a value, `in`'s is empty,
 * there is demand, nothing drains): it goes out unqueued, inside the drain
 * bracket, and the loop runs only if something is left to do. */
static ZIP_NOINLINE void zip_fast_row(struct rill__op *op,
                                      struct rill__inner *in, rill_value_t v) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  st->drain.wip = 1;
  for (size_t i = 0; i < n; i++) {
    struct rill__ring *q = &st->in[i]->queue;
    if (st->in[i] == in) {
      st->row[i] = v;
      continue;
    }
    st->row[i] = rill__ring_pop(q);
    if (rill__ring_empty(q))
      st->empty++;
  }
  if (zip_combine_emit(op) && st->drain.wip == 1 && st->ended == 0 &&
      (st->demand == 0 || st->empty != 0)) {
    st->drain.wip = 0;
    return;
  }
  do
    zip_pass(op); /* more rows, or the end */
  while (rill__drain_again(&st->drain));
}

/* The inner's node delivers here directly (wired at init, in place of the
 * kit's inner_on_next).  The two common cases come first: a value that
 * joins a non-empty queue with room (a source running ahead) is one
 * store; a value that completes a row goes out at once. */
static void zip_value(void *self, rill_value_t v) {
  struct rill__inner *in = self;
  struct rill__ring *q = &in->queue;
  if (RILL__LIKELY(q->len != 0)) {
    if (RILL__LIKELY(q->len < q->cap)) {
      q->buf[(q->head + q->len) & (q->cap - 1)] = v;
      q->len++;
      return;
    }
  } else {
    struct rill__op *op = in->owner;
    const struct zip_state *st = op->state;
    if (RILL__LIKELY(st->empty == 1 && st->demand > 0 && st->drain.wip == 0 &&
                     !st->stopped)) {
      zip_fast_row(op, in, v);
      return;
    }
  }
  zip_value_slow(in, v);
}

static void zip_inner_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct zip_state *st = op->state;
  if (err != NULL) {
    zip_fail(op, err);
    return;
  }
  st->ended++;
  zip_drain(op);
}

static const struct rill__inner_ops zip_inner_ops = {
    .on_next = zip_value_slow, /* not reached: the node is wired */
    .on_end = zip_inner_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int zip_init(struct rill__op *op) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  st->empty = n;
  st->in = rill__inners_new(n, &zip_inner_ops, op, ZIP_PREFETCH);
  st->row = rill__calloc(n ? n : 1, sizeof(*st->row));
  if (st->in == NULL || st->row == NULL)
    return RILL_ENOMEM;
  for (size_t i = 0; i < n; i++)
    st->in[i]->node.next_fn = zip_value; /* next_ctx is the inner */
  return 0;
}

static void zip_on_subscribe(struct rill__op *op) {
  const struct zip_args *a = op->args;
  struct zip_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  for (size_t i = 0; i < a->sources->n; i++) {
    if (st->stopped)
      break;
    rill__inner_subscribe(st->in[i], a->sources->items[i]);
  }
  zip_drain(op); /* n == 0, or what the subscriptions left to do */
}

static void zip_on_request(struct rill__op *op, int64_t n) {
  struct zip_state *st = op->state;
  rill__demand_more(&st->demand, n);
  zip_drain(op);
}

/* Every source goes now; a drain loop on the stack notices the stage is
 * done. */
static void zip_on_cancel(struct rill__op *op) {
  struct zip_state *st = op->state;
  st->stopped = true;
  rill__inners_cancel(st->in, zip_n(op));
  if (rill__drain_running(&st->drain))
    st->drain.wip++;
}

static void zip_destroy(struct rill__op *op) {
  struct zip_state *st = op->state;
  rill__inners_release(st->in, zip_n(op));
  rill__free(st->row);
}

static void zip_args_release(void *args) {
  struct zip_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops zip_ops = {
    .name = "zip",
    .source = true,
    .args_size = sizeof(struct zip_args),
    .state_size = sizeof(struct zip_state),
    .init = zip_init,
    .on_subscribe = zip_on_subscribe,
    .on_request = zip_on_request,
    .on_cancel = zip_on_cancel,
    .destroy = zip_destroy,
    .args_release = zip_args_release,
};

rill_observable_t *rill_zip(rill_observable_t *const *sources, size_t n,
                            rill_combine_fn fn, void *ctx) {
  struct rill__sources *s = rill__sources_take(sources, n);
  if (s == NULL)
    return NULL;
  struct zip_args args = {.sources = s, .fn = fn, .ctx = ctx};
  return rill__op_create(NULL, &zip_ops, &args);
}
