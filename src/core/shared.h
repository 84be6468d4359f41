/* SPDX-License-Identifier: MIT */
/* rill internals: objects shared by pipelines -- the circuit breaker
 * (src/breaker.c), the limiter (src/limiter.c) and the subject
 * (src/subject.c), and what their operators (operators/circuit_breaker.c,
 * operators/limit.c, operators/subject.c) ask of them.
 *
 * All are reference counted: the user's reference (rill_*_new), one per
 * recipe that uses the object, and a temporary one while the object runs
 * user code or hands out permits, so that a user callback may drop the
 * last outside reference safely.  A live subscription keeps its recipe,
 * and so the object, alive. */
#ifndef RILL_CORE_SHARED_H
#define RILL_CORE_SHARED_H

#include "core/op.h"

/* ---- circuit breaker ----------------------------------------------------*/

/* One admitted call: which period of the breaker it belongs to, so that an
 * outcome arriving after the state moved on does not steer the new state. */
struct rill__breaker_call {
  uint64_t epoch;
  bool trial; /* admitted as a HALF_OPEN trial */
};

enum rill__call_outcome {
  RILL__CALL_SUCCESS,
  RILL__CALL_FAILURE,
  RILL__CALL_CANCEL /* neither: a trial's slot is given back */
};

rill_breaker_t *rill__breaker_ref(rill_breaker_t *b);
/* May a call start now?  0: admitted, *call filled.  RILL_EBREAKER_OPEN:
 * rejected (counted), `msg` says when the breaker may admit again.  May
 * run on_state (an OPEN breaker whose time is up goes HALF_OPEN here when
 * its timer has not fired yet). */
int rill__breaker_admit(rill_breaker_t *b, struct rill__breaker_call *call,
                        char *msg, size_t cap);
/* The outcome of an admitted call, exactly once.  May run on_state. */
void rill__breaker_record(rill_breaker_t *b,
                          const struct rill__breaker_call *call,
                          enum rill__call_outcome outcome);

/* ---- limiter ------------------------------------------------------------*/

/* A subscription waiting for a permit (intrusive FIFO node).  grant() is
 * called once the permit is its: the permit counts as in use already. */
struct rill__limiter_waiter {
  struct rill__limiter_waiter *prev, *next;
  void (*grant)(struct rill__limiter_waiter *w);
  bool queued;
};

enum { RILL__LIMIT_GRANTED = 0, RILL__LIMIT_QUEUED = 1 };

rill_limiter_t *rill__limiter_ref(rill_limiter_t *l);
/* RILL__LIMIT_GRANTED (a permit is held now), RILL__LIMIT_QUEUED (w waits
 * in FIFO order; grant() comes later), or RILL_ELIMIT_FULL (counted). */
int rill__limiter_acquire(rill_limiter_t *l, struct rill__limiter_waiter *w);
/* Leave the queue (a cancel while waiting); a no-op when not queued. */
void rill__limiter_leave(rill_limiter_t *l, struct rill__limiter_waiter *w);
/* Give a permit back; the next waiters get theirs, in a loop (a grant()
 * that gives its permit back at once does not recurse). */
void rill__limiter_release(rill_limiter_t *l);
/* max_waiting, for messages. */
size_t rill__limiter_max_waiting(const rill_limiter_t *l);

/* ---- subject --------------------------------------------------------------*/

rill_subject_t *rill__subject_ref(rill_subject_t *s);
/* Make `op` (a multicast member: its state begins with struct
 * rill__mcast_member, kit/multicast.h) a subscriber of `s`, given what `s`
 * replays first (a behavior subject's current value, a replay subject's
 * values).  0 or RILL_ENOMEM. */
int rill__subject_join(rill_subject_t *s, struct rill__op *op);

#endif /* RILL_CORE_SHARED_H */
