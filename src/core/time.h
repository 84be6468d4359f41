/* SPDX-License-Identifier: MIT */
/* rill internals: time: the scheduler object, the outbox and timed operators
 * (src/sched.c, src/outbox.c). */
#ifndef RILL_CORE_TIME_H
#define RILL_CORE_TIME_H

#include "core/op.h"

/* ---- scheduler (src/sched.c, src/sched_ev.c) -----------------------------*/
struct rill__sched_vt;
struct rill_sched_s {
  const struct rill__sched_vt *vt;
  int objects;     /* timers and watchers alive */
  int active;      /* of those, armed */
  double now;      /* ms; kept current by the implementation */
  int dispatching; /* callbacks of this scheduler on the stack */
  bool background; /* new timers and watchers do not keep the loop alive */
};
/* The current time, as a load: operators call this per value. */
static inline double rill__sched_now(const rill_sched_t *s) {
  return s->now;
}

/* ---- outbox: one held value for time operators (src/outbox.c) ----------
 *
 * Tracks downstream demand for an operator that produces values on its own
 * schedule.  offer() emits at once when there is demand, otherwise applies
 * the overflow policy; request() adds demand and flushes the held value;
 * complete() completes now, or right after the held value is delivered. */
struct rill__outbox {
  int64_t demand;
  rill_value_t held;
  bool has_held;
  bool closing;
  bool emitting; /* an emission is on the stack: nested calls only add */
  rill_overflow_t policy;
};
void rill__outbox_offer(struct rill__op *op, struct rill__outbox *ob,
                        rill_value_t v);
void rill__outbox_request(struct rill__op *op, struct rill__outbox *ob,
                          int64_t n);
void rill__outbox_complete(struct rill__op *op, struct rill__outbox *ob);
void rill__outbox_clear(struct rill__outbox *ob);

/* ---- timed operators: a timer and an outbox (src/outbox.c) ---------------
 *
 * A time operator's state starts with this struct; its ops table then uses
 * these handlers as they are: requests go to the outbox, cancel stops the
 * timer, destroy frees both (an operator holding more calls it from its
 * own destroy). */
struct rill__timed {
  rill_sched_timer_t *timer;
  struct rill__outbox out;
  rill_value_t pending; /* the operator's newest value (debounce, audit...) */
  bool has_pending;
};
/* The overflow policy that `opts` asks for (NULL or DEFAULT: `dflt`), or
 * -1 for a value outside the enum.  Constructors call this. */
int rill__overflow_pick(rill_overflow_t asked, rill_overflow_t dflt);
/* Make the timer (calling cb with the op) and set the overflow policy. */
int rill__timed_init(struct rill__op *op, rill_sched_t *s,
                     rill_sched_timer_cb cb, rill_overflow_t policy);
/* Keep v as the pending value, releasing an older one (inline: debounce
 * and throttle call it for every value). */
static inline void rill__timed_keep(struct rill__timed *t, rill_value_t v) {
  if (t->has_pending)
    rill_value_release(t->pending);
  t->pending = v;
  t->has_pending = true;
}
/* Release the pending value, if any. */
void rill__timed_drop(struct rill__timed *t);
/* Hand the pending value, if any, to the outbox. */
void rill__timed_flush(struct rill__op *op);
void rill__timed_on_request(struct rill__op *op, int64_t n);
void rill__timed_on_cancel(struct rill__op *op);
void rill__timed_destroy(struct rill__op *op);

#endif /* RILL_CORE_TIME_H */
