/* SPDX-License-Identifier: MIT */
/* rill: zip(sources, n, fn, ctx) -- the k-th output combines the k-th
 * value of every source (RxJS zip and zipWith, RxJava zip).
 *
 * Two kinds of source.  A source that can be polled (synchronous fusion,
 * core/node.h: range, from_array, just, generate, and a map/filter over
 * one of them) is POLLED: zip takes its values itself, a batch of rows at
 * a time, into a row-major table (RxJava's zip does the same with
 * requestFusion(SYNC) and poll()).  Any other source is QUEUED: a kit
 * inner (kit/inner.h) asked for ZIP_PREFETCH (128, RxJava's bufferSize)
 * values at subscription and refilled by halves as its values leave in
 * rows.  A zip may mix both.
 * Demand: never emits beyond downstream demand.  A queued source runs at
 * most 128 values ahead of the rows (its prefetch is asked for before any
 * downstream request, as in RxJava).  A polled source is polled for at
 * most min(demand, ZIP_BATCH) rows when every source is polled, one row
 * at a time otherwise, and one row ahead when no row can go out (for
 * want of demand or of a queued value) -- so that its end is known
 * without waiting for demand.  A generator's next() thus runs at most
 * one value ahead of the rows that may go out.
 * Order: the sources are subscribed in order (RxJS); one that ends the
 * stream while it is subscribed (a synchronous error, or a synchronous
 * completion with nothing queued; for a polled source, no value for the
 * row polled ahead) leaves the rest unsubscribed.  Synchronous sources
 * work in a flat stack, polled or queued.
 * Time: none of its own.
 * Completion: as soon as a source has completed and nothing of it is
 * left (its queue is empty; for a polled source, the rows polled before
 * it finished are out), no further row can be made: the others are
 * cancelled and the stream completes, with or without demand (RxJS).
 * n == 0 completes at once (RxJS zip([]) is EMPTY).
 * Errors: the first error of a queued source, or fn returning a negative
 * code, cancels every source at once, releases every value held and is
 * delivered (RxJS; no delayError).  A polled source that fails after k
 * values has its first k rows go out (as demand allows) and then fails
 * the stream the same way: its values before the failure are rows as in
 * RxJS, where a synchronous source pushes them before its error.
 * Owns: the sources (with the recipe); per subscription, the inners, their
 * queued values and the polled rows held.  A row leaves when it goes out:
 * with fn NULL its values move into the array (no copy); with fn they are
 * borrowed by fn and released by zip right after it, whatever fn returns.
 * Allocation: none per output when fn returns a scalar (the row, the
 * table and the queues are allocated once; a queue grows to its bound and
 * stays).  The table (at most ZIP_TABLE values) is allocated when the
 * first pollable source subscribes.
 * Re-entrancy (rule 1.3): one drain loop emits and polls; a value that
 * completes a row while nothing drains goes out at once inside the drain
 * bracket, without being queued (the fast path, when nothing is polled).
 * The terminal goes out only from the drain loop, never during an
 * emission, so emissions skip the operator's emission bracket
 * (rill__demand_emit_drained).
 * Cost: with every source polled and fn set, a row is a slice of the
 * table handed to fn, then one call downstream (zip_run_polled); range
 * fills its column in a tight loop.  zip(range, range) with a sum costs
 * about 53 instructions per output (bench W6; 200 before fusion) against
 * 20 for a loop calling the same function.  A queued source's node
 * delivers straight to zip_value (the kit's inner_on_next is bypassed:
 * its checks are made on the slow path), so a value that joins its queue
 * is one store.
 * Deviations: none in what is emitted and when (RxJS's conformance cases
 * pass); RxJS's zip buffers without bound, rill's by 128 per source. */
#include <errno.h>

#include "kit/kit.h"

/* A power of two: a queue's storage then never outgrows its bound, so
 * "room in the storage" is "room in the queue" on the hot path. */
enum { ZIP_PREFETCH = 128, ZIP_REFILL = ZIP_PREFETCH / 2 };
/* The polled rows' table: at most ZIP_BATCH rows, ZIP_TABLE values. */
enum { ZIP_BATCH = 64, ZIP_TABLE = 1024 };

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
  rill_value_t *row;       /* the row going out when nothing is polled */
  /* Polled sources' rows, row-major (a row is n values, fn's argument):
   * rows [head, head + held) are held, with the values of the polled
   * sources polled[0 .. filled); a queued source's value joins its row
   * when the row goes out. */
  rill_value_t *table;
  size_t rows; /* the table's size in rows */
  size_t head, held, filled;
  size_t *polled, *queued; /* source indices, in subscription order */
  size_t npolled, nqueued;
  size_t nowned;  /* polled sources whose values may need a release */
  size_t empty;   /* queued inners with nothing queued, and sources not
                     subscribed yet */
  size_t ended;   /* queued inners whose source completed */
  uint32_t taken; /* rows out since the last refill */
  bool stopped;   /* failed, cancelled or ended */
  bool failed;
  bool polled_over;   /* a polled source finished: no more rows polled */
  bool polled_failed; /* ... it failed (st->err), after the held rows */
  rill_error_t err;
};

static void zip_drain(struct rill__op *op);

static size_t zip_n(const struct rill__op *op) {
  const struct zip_args *a = op->args;
  return a->sources->n;
}

/* Release the rows held: rows [head, head + held) of the filled columns
 * (a row that is out is not held: its values are fn's or downstream's). */
static void zip_drop_held(struct zip_state *st, size_t n) {
  for (size_t r = st->head; r < st->head + st->held; r++)
    for (size_t k = 0; k < st->filled; k++)
      rill__drop(st->table[r * n + st->polled[k]]);
  st->held = 0;
}

/* Every source goes, with what zip holds of theirs. */
static void zip_stop_sources(struct rill__op *op) {
  struct zip_state *st = op->state;
  rill__inners_cancel(st->in, zip_n(op));
  zip_drop_held(st, zip_n(op));
}

/* The first error wins: every source is cancelled now (what zip holds of
 * them released), and the drain loop delivers it. */
static void zip_fail(struct rill__op *op, const rill_error_t *err) {
  struct zip_state *st = op->state;
  if (!st->stopped) {
    st->stopped = st->failed = true;
    st->err = *err;
    zip_stop_sources(op);
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

/* fn failed with rc: the stream fails. */
static ZIP_NOINLINE void zip_fail_fn(struct rill__op *op, int rc) {
  rill_error_t err;
  rill__error_callback(&err, op->ops->name, rc, "function failed");
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

/* Every queued source's values went out in ZIP_REFILL rows: ask each for
 * as many (a synchronous source pushes into its queue from here). */
static void zip_refill(struct rill__op *op) {
  struct zip_state *st = op->state;
  st->taken = 0;
  for (size_t k = 0; k < st->nqueued && !st->stopped; k++)
    rill__inner_consumed(st->in[st->queued[k]], ZIP_REFILL);
}

/* Combine `row` (its values are zip's, out of every queue and of the
 * table) and emit the result, inside the drain bracket.  false: the
 * stream ended (fn failed or cancelled, or downstream cancelled). */
static RILL__ALWAYS_INLINE bool zip_combine_emit(struct rill__op *op,
                                                 rill_value_t *row) {
  const struct zip_args *a = op->args;
  struct zip_state *st = op->state;
  size_t n = a->sources->n;
  rill_value_t out;
  if (a->fn == NULL) {
    int rc = zip_array(row, n, &out);
    if (RILL__UNLIKELY(rc < 0)) {
      zip_fail_code(op, rc, "allocate an array");
      return false;
    }
  } else {
    int rc = a->fn(a->ctx, row, n, &out);
    for (size_t i = 0; i < n; i++)
      rill_value_release(row[i]);
    if (RILL__UNLIKELY(rc < 0)) {
      zip_fail_fn(op, rc);
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
  if (st->nqueued != 0 && ++st->taken == ZIP_REFILL)
    zip_refill(op);
  return !st->stopped;
}

/* ---- polled sources (synchronous fusion, core/node.h) --------------------*/

/* Poll the columns of polled[filled ..] for the `held` rows from `head`
 * (a new batch: held set to the rows wanted, filled to 0).  A source that
 * gives fewer (it finished or failed) bounds the rows: the extra values
 * of the columns before it go at once.  false: the stream ends now (no
 * row is held: a source gave nothing, or a cancel came from inside a
 * poll, i.e. from a user function). */
static ZIP_NOINLINE bool zip_fill(struct rill__op *op) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  rill_value_t *base = st->table + st->head * n;
  while (st->filled < st->npolled && st->held != 0) {
    size_t i = st->polled[st->filled];
    size_t got = 0;
    rill_error_t err;
    int rc = rill__inner_poll(st->in[i], base + i, n, st->held, &got, &err);
    if (RILL__UNLIKELY(st->stopped)) { /* the rest went with the sources */
      for (size_t r = 0; r < got; r++)
        rill__drop(base[r * n + i]);
      return false;
    }
    if (got < st->held) { /* the rows after `got` cannot be made */
      for (size_t r = got; r < st->held; r++)
        for (size_t k = 0; k < st->filled; k++)
          rill__drop(base[r * n + st->polled[k]]);
      st->held = got;
    }
    st->filled++;
    if (rc != 1) {
      st->polled_over = true;
      if (rc < 0 && !st->polled_failed) {
        st->polled_failed = true;
        st->err = err;
      }
    }
  }
  return st->held != 0;
}

/* The hot loop of a zip whose sources are all polled, with fn: the held
 * rows go out while there is demand, each a slice of the table.  What a
 * user call may change (the demand, by a request from on_next; `stopped`,
 * by a cancel or a failure; the rows held, released by a stop) is read
 * again after it.  Copied per kind of demand (unbounded demand stays
 * so), of release (rows of scalars need none) and of downstream (no
 * fused steps: its next_fn is called directly, as range does).  false:
 * the stream ends (one more pass delivers it). */
static RILL__ALWAYS_INLINE bool zip_rows(struct rill__op *op,
                                         const bool unbounded,
                                         const bool release, const bool plain) {
  const struct zip_args *a = op->args;
  struct zip_state *st = op->state;
  const rill_combine_fn fn = a->fn;
  void *const ctx = a->ctx;
  const size_t n = a->sources->n;
  struct rill__node *const down = op->down;
  const rill__next_fn next = down->next_fn;
  void *const next_ctx = down->next_ctx;
  rill_value_t *row = st->table + st->head * n;
  while (st->held != 0 && (unbounded || st->demand != 0)) {
    st->head++; /* the row is out: a stop no longer holds it */
    st->held--;
    rill_value_t out;
    int rc = fn(ctx, row, n, &out);
    if (release)
      for (size_t i = 0; i < n; i++)
        rill_value_release(row[i]);
    if (RILL__UNLIKELY(rc < 0)) {
      zip_fail_fn(op, rc);
      return false;
    }
    if (RILL__UNLIKELY(st->stopped)) { /* fn cancelled */
      rill__drop(out);
      return false;
    }
    if (plain) {
      if (!unbounded)
        st->demand--;
      next(next_ctx, out);
    } else {
      rill__demand_emit_drained(op, &st->demand, out);
    }
    if (RILL__UNLIKELY(st->stopped))
      return false;
    row += n;
  }
  return true;
}

#define ZIP_ROWS(name, unbounded, release, plain)                              \
  static ZIP_NOINLINE bool name(struct rill__op *op) {                         \
    return zip_rows(op, unbounded, release, plain);                            \
  }
ZIP_ROWS(zip_rows_upp, true, false, true)
ZIP_ROWS(zip_rows_urp, true, true, true)
ZIP_ROWS(zip_rows_bpp, false, false, true)
ZIP_ROWS(zip_rows_brp, false, true, true)
ZIP_ROWS(zip_rows_any, false, true, false)

static bool zip_run_polled(struct rill__op *op) {
  const struct zip_state *st = op->state;
  if (op->down->nsteps != 0)
    return zip_rows_any(op);
  if (st->demand == RILL_UNBOUNDED)
    return st->nowned == 0 ? zip_rows_upp(op) : zip_rows_urp(op);
  return st->nowned == 0 ? zip_rows_bpp(op) : zip_rows_brp(op);
}

/* ---- the drain loop -----------------------------------------------------*/

/* No further row can be made: 1 complete, -1 fail (a polled source failed
 * and its rows are out), 0 not yet. */
static int zip_over(const struct rill__op *op) {
  const struct zip_state *st = op->state;
  size_t n = zip_n(op);
  if (n == 0)
    return 1;
  if (st->polled_over && st->held == 0)
    return st->polled_failed ? -1 : 1;
  for (size_t i = 0; st->ended != 0 && i < n; i++)
    if (st->in[i]->done && !st->in[i]->polled &&
        rill__ring_empty(&st->in[i]->queue))
      return 1;
  return 0;
}

/* Polls what the pass needs: a new batch when no row is held (all rows
 * the demand allows when every source is polled, else one, ahead if no
 * row may go out now), or the column of a polled source subscribed since
 * the held rows were polled.  false: the stream ends. */
static bool zip_poll_rows(struct rill__op *op) {
  struct zip_state *st = op->state;
  if (st->held == 0) {
    size_t m = 1;
    if (st->nqueued == 0 && st->empty == 0 && st->demand > 0)
      m = st->demand < (int64_t)st->rows ? (size_t)st->demand : st->rows;
    st->head = 0;
    st->held = m;
    st->filled = 0;
  }
  return zip_fill(op);
}

static void zip_pass(struct rill__op *op) {
  const struct zip_args *a = op->args;
  struct zip_state *st = op->state;
  size_t n = a->sources->n;
  if (rill__op_done(op)) { /* cancelled, or the terminal went out */
    zip_stop_sources(op);
    return;
  }
  if (st->failed) {
    rill__op_error(op, &st->err);
    return;
  }
  for (;;) {
    if (RILL__UNLIKELY(st->ended != 0 || n == 0 || st->polled_over)) {
      int over = zip_over(op);
      if (over != 0) {
        st->stopped = true;
        zip_stop_sources(op);
        if (over > 0) {
          rill__op_complete(op);
        } else {
          st->failed = true;
          rill__op_error(op, &st->err);
        }
        return;
      }
    }
    /* (held == 0 here means no polled source is over: see zip_over) */
    if (st->npolled != 0 && (st->held == 0 || st->filled < st->npolled) &&
        !zip_poll_rows(op)) {
      rill__drain_miss(&st->drain); /* one more pass ends the stream */
      return;
    }
    if (st->demand == 0 || st->empty != 0)
      return;
    if (st->nqueued == 0 && a->fn != NULL) {
      if (!zip_run_polled(op)) {
        rill__drain_miss(&st->drain);
        return;
      }
      continue;
    }
    rill_value_t *row = st->row;
    if (st->npolled != 0) {
      row = st->table + st->head * n;
      st->head++;
      st->held--;
    }
    for (size_t k = 0; k < st->nqueued; k++) { /* the oldest queued values */
      struct rill__ring *q = &st->in[st->queued[k]]->queue;
      row[st->queued[k]] = rill__ring_pop(q);
      if (rill__ring_empty(q))
        st->empty++;
    }
    if (!zip_combine_emit(op, row)) {
      rill__drain_miss(&st->drain); /* one more pass ends the stream */
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
  if (zip_combine_emit(op, st->row) && st->drain.wip == 1 && st->ended == 0 &&
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
                     !st->stopped && st->npolled == 0)) {
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

/* The source's subscription is known, nothing requested yet: poll it if
 * it can be polled (the table comes with the first such source), else
 * queue its values. */
static void zip_inner_upstream(struct rill__inner *in) {
  struct rill__op *op = in->owner;
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  if (st->table == NULL && rill__sync_fusable(in->up)) {
    size_t rows = ZIP_TABLE / n;
    st->rows = rows < 1 ? 1 : rows > ZIP_BATCH ? ZIP_BATCH : rows;
    st->table = rill__calloc(st->rows * n, sizeof(*st->table));
    if (st->table == NULL) {
      zip_fail_code(op, RILL_ENOMEM, "allocate its table");
      return;
    }
  }
  if (st->table != NULL && rill__inner_fuse(in)) {
    if ((in->up->flags & RILL__SCALARS) == 0)
      st->nowned++;
    st->polled[st->npolled++] = (size_t)in->index;
    st->empty--; /* a polled source is never waited for */
  } else {
    st->queued[st->nqueued++] = (size_t)in->index;
  }
}

static const struct rill__inner_ops zip_inner_ops = {
    .on_next = zip_value_slow, /* not reached: the node is wired */
    .on_end = zip_inner_end,   /* not reached for a polled source */
    .on_upstream = zip_inner_upstream,
};

/* ---- the stage ----------------------------------------------------------*/

static int zip_init(struct rill__op *op) {
  struct zip_state *st = op->state;
  size_t n = zip_n(op);
  st->empty = n;
  st->in = rill__inners_new(n, &zip_inner_ops, op, ZIP_PREFETCH);
  st->row = rill__calloc(n ? n : 1, sizeof(*st->row));
  st->polled = rill__calloc(n ? 2 * n : 1, sizeof(*st->polled));
  if (st->in == NULL || st->row == NULL || st->polled == NULL)
    return RILL_ENOMEM;
  st->queued = st->polled + n;
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
    /* A polled source is polled for a row now: one with nothing ends the
     * stream here, as a queued one completing at once does. */
    if (st->in[i]->polled)
      zip_drain(op);
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
  zip_stop_sources(op);
  if (rill__drain_running(&st->drain))
    rill__drain_miss(&st->drain);
}

static void zip_destroy(struct rill__op *op) {
  struct zip_state *st = op->state;
  if (st->table != NULL)
    zip_drop_held(st, zip_n(op));
  rill__inners_release(st->in, zip_n(op));
  rill__free(st->row);
  rill__free(st->table);
  rill__free(st->polled);
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
