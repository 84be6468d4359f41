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

/* ---- signal watchers (src/sched.c), for rill_signal ----------------------
 *
 * A watcher is started when made and counts as an armed object of its
 * scheduler (rill_sched_active, rill_sched_free) until freed.  It never
 * keeps ev_run alive.  Its callback runs inside the dispatch guard. */
struct rill__sched_signal;
typedef void (*rill__sched_signal_cb)(struct rill__sched_signal *w, void *arg);
/* 0 and *out set; RILL_ENOTSUP (a scheduler without signals), RILL_EBUSY
 * (libev: the signal is watched through rill on another loop, or SIGCHLD
 * off the default loop) or RILL_ENOMEM, *out NULL. */
int rill__sched_signal_new(rill_sched_t *s, int signum,
                           rill__sched_signal_cb cb, void *arg,
                           struct rill__sched_signal **out);
/* Stop watching (idempotent, NULL-safe); the memory stays until freed. */
void rill__sched_signal_stop(struct rill__sched_signal *w);
/* Stop and free (NULL-safe). */
void rill__sched_signal_free(struct rill__sched_signal *w);

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
struct rill__inner;
struct rill__inner_ops;
struct rill__timed {
  rill_sched_timer_t *timer;
  struct rill__outbox out;
  rill_value_t pending; /* the operator's newest value (debounce, audit...) */
  bool has_pending;
  /* The notifier forms (debounce_with, throttle_with, sample_with): the
   * subscription to the current duration or to the notifier, in place of
   * the timer (which stays NULL).  See rill__timed_trigger below. */
  struct rill__inner *trigger;
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
/* Stops the timer and releases the trigger. */
void rill__timed_on_cancel(struct rill__op *op);
/* Frees the timer, releases the trigger, the pending and the held value. */
void rill__timed_destroy(struct rill__op *op);

/* ---- notifier forms: an observable in place of the timer -----------------
 *
 * debounce_with, throttle_with and sample_with are their timed operators
 * with the timer replaced by a subscription (a kit inner) to a duration
 * observable (one per value, from a rill_flat_map_fn) or to a notifier:
 * the same state, the same outbox (demand and overflow policy), the same
 * request, cancel and destroy handlers.  The trigger's signals go to the
 * `ops` of the operator (owner: the op); a handler ignores an inner that
 * is no longer `trigger` and calls rill__timed_untrigger() when it ends. */
/* fn(ctx, v), v borrowed: the duration observable (owned), or NULL when
 * the stage has failed (fn returned a negative code, or 0 with no
 * observable: RILL_EINVAL) or fn cancelled it. */
rill_observable_t *rill__timed_select(struct rill__op *op, rill_flat_map_fn fn,
                                      void *ctx, rill_value_t v);
/* Subscribe a new trigger to `obs` (taken over), releasing the previous
 * one.  `prefetch`: what the inner asks for (1 for a duration, which only
 * its first value matters; RILL_UNBOUNDED for a notifier).  Out of memory
 * fails the stage.  The trigger may fire, end, or end the stage before
 * this returns. */
void rill__timed_trigger(struct rill__op *op, const struct rill__inner_ops *ops,
                         int64_t prefetch, rill_observable_t *obs);
/* Release the trigger, if any: nothing more arrives from it. */
void rill__timed_untrigger(struct rill__timed *t);

#endif /* RILL_CORE_TIME_H */
