/* SPDX-License-Identifier: MIT */
/* rill: dematerialize -- turns notification values back into the signals
 * they stand for: NEXT emits its value, ERROR ends with its error, COMPLETE
 * completes (RxJS dematerialize); the reverse of materialize.
 *
 * Demand: passes request(n) upstream 1:1; a NEXT notification gives one
 * value for the unit it took.  An ERROR or COMPLETE notification ends the
 * stream at once and cancels the source (what it may still send is never
 * asked for).  So dematerialize(materialize(x)) behaves as x, except that
 * the end comes one request later when nothing more was requested:
 * materialize's closing notification needs a unit of demand.
 * Time: synchronous, none of its own.
 * Order: the source's; nothing after an ERROR or COMPLETE notification.
 * Owns: nothing kept.  Each notification is released once read; a NEXT
 * value goes on as a new reference to what the notification held.  The
 * error is the carried one, code, stage and message unchanged.
 * A value that is not a notification (rill_value_notification() gives
 * NULL) is released and ends the stream with on_error(RILL_EINVAL), stage
 * "dematerialize", the source cancelled.  The source's own error or
 * completion passes as it is.
 * RxJS differences: none beyond rill's notification values. */
#include "rill-internal.h"

static void dematerialize_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  const rill_notification_t *n = rill_value_notification(v);
  if (n == NULL) {
    rill__drop(v);
    rill__op_fail(op, RILL_EINVAL, "a value that is not a notification");
    return;
  }
  switch (n->kind) {
  case RILL_NOTIFICATION_NEXT: {
    rill_value_t inner = rill_value_retain(n->value);
    rill_value_release(v);
    rill__op_emit(op, inner);
    break;
  }
  case RILL_NOTIFICATION_ERROR: {
    rill_error_t err = n->error;
    rill_value_release(v);
    rill__op_error(op, &err);
    break;
  }
  default: /* COMPLETE (rill_notification_new makes no other kind) */
    rill_value_release(v);
    rill__op_complete(op);
    break;
  }
}

static const struct rill__op_ops dematerialize_ops = {
    .name = "dematerialize",
    .on_next = dematerialize_on_next,
};

rill_observable_t *rill_dematerialize(rill_observable_t *src) {
  return rill__op_create(src, &dematerialize_ops, NULL);
}
