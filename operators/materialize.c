/* SPDX-License-Identifier: MIT */
/* rill: materialize -- every signal of the source becomes a notification
 * value (rill_notification_t): each value a NEXT notification, then the
 * error an ERROR notification or the completion a COMPLETE one, after
 * which the stream completes (RxJS materialize).
 *
 * Demand: request(n) passes upstream 1:1 and is counted (kit/demand.h);
 * a NEXT notification takes the unit its value was requested with.  The
 * closing notification is a value too, so it waits for a unit of demand
 * that the source left unused: held when the source ends with nothing
 * requested, delivered at the next request, and the completion right
 * after it (RxJava's materialize does the same).
 * Time: synchronous, none of its own.
 * Order: the source's; the closing notification is always the last value.
 * Owns: each notification it makes until it goes downstream (the NEXT one
 * owns the source's value), and the held closing notification, released
 * if the subscription is cancelled first.
 * Errors: never passes the source's error on (it becomes a value).  No
 * memory for a notification: on_error(RILL_ENOMEM), stage "materialize"
 * (the value or the source's error is lost with it).
 * RxJS differences: notifications are rill values (rill_value_notification
 * reads them), not objects with kind 'N' / 'E' / 'C'. */
#include "kit/demand.h"

struct materialize_state {
  int64_t requested; /* asked downstream, not yet produced */
  rill_value_t last; /* the closing notification */
  bool has_last;     /* made, waiting for demand */
};

/* Deliver the closing notification and complete, when a unit of demand is
 * there and no emission of this stage is on the stack (rule 1.3: the one
 * on the stack calls this again when it returns). */
static void materialize_flush(struct rill__op *op) {
  struct materialize_state *st = op->state;
  if (!st->has_last || st->requested == 0 || op->emitting > 0 ||
      rill__op_done(op))
    return;
  st->has_last = false;
  rill__demand_emit(op, &st->requested, st->last);
  rill__op_complete(op); /* no-op if on_next cancelled */
}

static void materialize_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct materialize_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill_value_t n;
  int rc = rill_notification_new(RILL_NOTIFICATION_NEXT, v, NULL, &n);
  if (rc < 0) { /* v is released */
    rill__op_fail(op, rc, "no memory for a notification");
    return;
  }
  if (!rill__demand_emit(op, &st->requested, n))
    rill__op_request_up(op, 1); /* a fused filter dropped it */
  materialize_flush(op);        /* the source ended during that emission */
}

/* The source ended: its last signal becomes the closing notification. */
static void materialize_close(struct rill__op *op, rill_notification_kind_t k,
                              const rill_error_t *err) {
  struct materialize_state *st = op->state;
  int rc = rill_notification_new(k, (rill_value_t){0}, err, &st->last);
  if (rc < 0) {
    rill__op_fail(op, rc, "no memory for a notification");
    return;
  }
  st->has_last = true;
  materialize_flush(op);
}

static void materialize_on_error(struct rill__op *op, const rill_error_t *err) {
  materialize_close(op, RILL_NOTIFICATION_ERROR, err);
}

static void materialize_on_complete(struct rill__op *op) {
  materialize_close(op, RILL_NOTIFICATION_COMPLETE, NULL);
}

static void materialize_on_request(struct rill__op *op, int64_t n) {
  struct materialize_state *st = op->state;
  rill__demand_more(&st->requested, n);
  materialize_flush(op);
  rill__op_request_up(op, n); /* a no-op once the source has ended */
}

static void materialize_destroy(struct rill__op *op) {
  struct materialize_state *st = op->state;
  if (st->has_last)
    rill_value_release(st->last);
  st->has_last = false;
}

static const struct rill__op_ops materialize_ops = {
    .name = "materialize",
    .state_size = sizeof(struct materialize_state),
    .on_next = materialize_on_next,
    .on_error = materialize_on_error,
    .on_complete = materialize_on_complete,
    .on_request = materialize_on_request,
    .destroy = materialize_destroy,
};

rill_observable_t *rill_materialize(rill_observable_t *src) {
  return rill__op_create(src, &materialize_ops, NULL);
}
