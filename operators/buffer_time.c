/* SPDX-License-Identifier: MIT */
/* rill: buffer_time(span, opts) -- collects values into buffers and emits
 * each buffer as an array (RILL_KIND_ARRAY) `span_ms` after it opened, or
 * as soon as it holds opts->max_size values (RxJS bufferTime(span,
 * creationInterval, maxBufferSize)).
 *
 * Buffers: without a creation interval, one buffer is open at a time: the
 * first at subscription, the next as soon as one is emitted (by time or by
 * size), so with no size limit an array goes out every span, possibly
 * empty (bufferTime-001, -003).  With a creation interval, a buffer opens
 * at subscription and every `creation_ms` after it, whatever is open:
 * buffers overlap when the span is longer (a value goes into every open
 * buffer, bufferTime-005, -007) and leave gaps when it is shorter (a value
 * that finds no open buffer is released).  Open buffers are kept oldest
 * first; the oldest holds the most values, so it is the one that closes
 * first, by time or by size.
 * Demand: asks upstream for everything (the spans, not the consumer, set
 * the pace).  One downstream item is one array.  An array that is due when
 * nothing is requested follows the overflow policy (default LATEST: the
 * newest array is held, an older held one is released, and it is
 * delivered at the next request): several arrays due at once (at
 * completion, or overlapping buffers closing together) then keep only the
 * newest.
 * Time: one scheduler timer for the whole life, armed for the next event
 * (the oldest buffer's end or the next creation) and re-armed from its own
 * callback.  Buffer ends and creations follow the ideal schedule (a
 * buffer emitted by its timer is followed by one that ends exactly a span
 * later; creations at start + k * creation_ms), so a late callback does not
 * make them drift.  Values cost no timer calls; a buffer filled by size
 * re-arms the timer.
 * Completion: every open buffer (even an empty one) is emitted, oldest
 * first, at the instant the source completes, then on_complete, after a
 * held array is delivered (bufferTime-001, -005, -011).  Error: the open
 * buffers are dropped and the error passes at once (bufferTime-014).
 * Owns: the timer, the open buffers and a held array (released on every
 * path).  A value that goes into k buffers is retained k - 1 times.  Read
 * the arrays with rill_array_len/at.
 * RxJS differences: a span that is 0, negative or NaN, and a creation
 * interval that is negative or NaN, are bad arguments (NULL, errno EINVAL,
 * source released); creation_ms 0 means "no creation interval" (RxJS:
 * null).  An infinite span closes buffers only by size or at completion;
 * an infinite creation interval opens only the first buffer. */
#include <errno.h>
#include <math.h>

#include "kit/ring.h"

struct buffer_time_args {
  rill_sched_t *sched;
  double span;
  double creation; /* 0: no creation interval */
  size_t max_size; /* 0: no limit */
  rill_overflow_t policy;
};

struct buffer_time_state {
  struct rill__timed t;   /* first: the timer and the outbox */
  struct rill__ring open; /* the open buffers (array values), oldest first */
  double start;           /* subscription time */
  uint64_t created;       /* with a creation interval: buffers opened */
  double close_at;        /* without one: when the open buffer ends */
};

/* With a creation interval: when buffer k opens (k = 0 at subscription). */
static double buffer_time_opened_at(const struct buffer_time_args *a,
                                    const struct buffer_time_state *st,
                                    uint64_t k) {
  return k == 0 ? st->start : st->start + (double)k * a->creation;
}

/* When the oldest open buffer ends (the ring must not be empty). */
static double buffer_time_oldest_end(const struct buffer_time_args *a,
                                     const struct buffer_time_state *st) {
  if (a->creation == 0)
    return st->close_at;
  uint64_t oldest = st->created - rill__ring_len(&st->open);
  return buffer_time_opened_at(a, st, oldest) + a->span;
}

static void buffer_time_arm(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  double due = HUGE_VAL;
  if (!rill__ring_empty(&st->open))
    due = buffer_time_oldest_end(a, st);
  if (a->creation != 0) {
    double next = buffer_time_opened_at(a, st, st->created);
    if (next < due)
      due = next;
  }
  if (due < HUGE_VAL)
    rill_sched_timer_start(st->t.timer, due - rill__sched_now(a->sched));
  else
    rill_sched_timer_stop(st->t.timer);
}

static void buffer_time_fail(struct rill__op *op, int code) {
  struct buffer_time_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__ring_clear(&st->open);
  rill__op_fail(op, code, NULL);
}

/* Open a new, empty buffer (the newest).  False: the stage failed. */
static bool buffer_time_open(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill_array_t *arr = rill_array_new(0);
  int rc = arr == NULL ? RILL_ENOMEM
                       : rill__ring_push(&st->open, rill_value_array(arr));
  if (rc < 0) {
    buffer_time_fail(op, rc);
    return false;
  }
  st->created++;
  return true;
}

/* Emit the oldest buffer; without a creation interval the next one opens
 * first (to end a span after `from`), so that a value the emission makes
 * the source push has a buffer to go to.  False: the stage is over. */
static bool buffer_time_close(struct rill__op *op, double from) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  rill_value_t arr = rill__ring_pop(&st->open);
  if (a->creation == 0) {
    st->close_at = from + a->span;
    if (!buffer_time_open(op)) {
      rill__drop(arr);
      return false;
    }
  }
  rill__outbox_offer(op, &st->t.out, arr);
  return !rill__op_done(op);
}

static void buffer_time_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  if (rill__op_done(op))
    return;
  double now = rill__sched_now(a->sched);
  /* buffers that end now; without a creation interval one span per call,
   * so a late timer catches up one span at a time */
  while (!rill__ring_empty(&st->open)) {
    double end = buffer_time_oldest_end(a, st);
    if (end > now)
      break;
    if (!buffer_time_close(op, end))
      return;
    if (a->creation == 0)
      break;
  }
  if (a->creation != 0 && buffer_time_opened_at(a, st, st->created) <= now &&
      !buffer_time_open(op))
    return;
  buffer_time_arm(op);
}

static int buffer_time_init(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  rill__ring_init(&st->open, UINT32_C(1) << 30);
  return rill__timed_init(op, a->sched, buffer_time_fired, a->policy);
}

static void buffer_time_on_subscribe(struct rill__op *op) {
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->start = rill__sched_now(a->sched);
  st->close_at = st->start + a->span;
  if (!buffer_time_open(op))
    return;
  buffer_time_arm(op);
  rill__op_request_up(op, RILL_UNBOUNDED);
}

static void buffer_time_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct buffer_time_args *a = op->args;
  struct buffer_time_state *st = op->state;
  uint32_t n = rill__ring_len(&st->open);
  if (rill__op_done(op) || n == 0) {
    rill__drop(v); /* done, or between buffers */
    return;
  }
  for (uint32_t i = 0; i < n; i++) {
    rill_array_t *arr = rill__ring_at(&st->open, i).as.array;
    bool last = i + 1 == n;
    if (rill_array_push(arr, last ? v : rill_value_retain(v)) < 0) {
      if (!last)
        rill__drop(v);
      buffer_time_fail(op, RILL_ENOMEM);
      return;
    }
  }
  if (a->max_size == 0 ||
      rill_array_len(rill__ring_peek(&st->open).as.array) < a->max_size)
    return;
  /* full: the oldest first (it holds the most values) */
  double now = rill__sched_now(a->sched);
  while (!rill__ring_empty(&st->open) &&
         rill_array_len(rill__ring_peek(&st->open).as.array) >= a->max_size)
    if (!buffer_time_close(op, now))
      return;
  buffer_time_arm(op);
}

static void buffer_time_on_error(struct rill__op *op, const rill_error_t *err) {
  struct buffer_time_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  rill__ring_clear(&st->open);
  rill__op_error(op, err);
}

static void buffer_time_on_complete(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill_sched_timer_stop(st->t.timer);
  while (!rill__ring_empty(&st->open)) {
    rill__outbox_offer(op, &st->t.out, rill__ring_pop(&st->open));
    if (rill__op_done(op))
      return;
  }
  rill__outbox_complete(op, &st->t.out);
}

static void buffer_time_destroy(struct rill__op *op) {
  struct buffer_time_state *st = op->state;
  rill__ring_clear(&st->open);
  rill__timed_destroy(op);
}

static const struct rill__op_ops buffer_time_ops = {
    .name = "buffer_time",
    .args_size = sizeof(struct buffer_time_args),
    .state_size = sizeof(struct buffer_time_state),
    .init = buffer_time_init,
    .on_subscribe = buffer_time_on_subscribe,
    .on_next = buffer_time_on_next,
    .on_error = buffer_time_on_error,
    .on_complete = buffer_time_on_complete,
    .on_request = rill__timed_on_request,
    .on_cancel = rill__timed_on_cancel,
    .destroy = buffer_time_destroy,
};

rill_observable_t *rill_buffer_time(rill_observable_t *src, rill_sched_t *s,
                                    double span_ms,
                                    const rill_buffer_time_opts_t *opts) {
  static const rill_buffer_time_opts_t defaults = {0};
  const rill_buffer_time_opts_t *o = opts ? opts : &defaults;
  int policy = rill__overflow_pick(o->overflow, RILL_OVERFLOW_LATEST);
  if (s == NULL || !(span_ms > 0) || !(o->creation_ms >= 0) || policy < 0) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct buffer_time_args args = {.sched = s,
                                  .span = span_ms,
                                  .creation = o->creation_ms,
                                  .max_size = o->max_size,
                                  .policy = (rill_overflow_t)policy};
  return rill__op_create(src, &buffer_time_ops, &args);
}
