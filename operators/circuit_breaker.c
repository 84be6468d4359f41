/* SPDX-License-Identifier: MIT */
/* rill: circuit_breaker(b) -- each subscription is one call through the
 * breaker `b` (src/breaker.c), shared by any number of pipelines.  No RxJS
 * operator; the model is Resilience4j's CircuitBreaker and its Reactor
 * operator (CircuitBreakerOperator / CircuitBreakerSubscriber).
 *
 * Admission: at subscription, before src is touched and before
 * on_subscribe goes downstream (so a subscriber that cancels inside
 * on_subscribe makes an admitted call that is cancelled).  An admitted
 * call subscribes to src and steps out of the way: on_subscribe comes from
 * src, and requests, values and cancel pass through 1:1 (no demand of its
 * own, no queue).  A rejected one gets
 * on_subscribe then on_error(RILL_EBREAKER_OPEN, stage "circuit_breaker"),
 * whose message says when the breaker half-opens ("open; half-open at
 * 31000 ms (in 1000 ms)", scheduler time) or that every half-open trial is
 * taken; src is never subscribed.
 * Outcomes: src's completion is a success, its error a failure -- any
 * error, RILL_ETIMEDOUT from an inner rill_timeout included, and an
 * ENOMEM while src's pipeline is built.  They are recorded before the
 * signal goes downstream, so a retry() around the breaker that
 * resubscribes from on_error already sees the breaker open.  A cancel is
 * neither: it does not enter the window or the consecutive count, and a
 * cancelled HALF_OPEN trial gives its slot back.
 * Time: the breaker's clock is its scheduler's (virtual in tests); OPEN
 * ends by a timer at the exact instant (see src/breaker.c), with
 * keepalive off.
 * Owns: the source recipe and one reference to the breaker (the recipe's;
 * a live subscription keeps its recipe), so rill_breaker_free() while
 * pipelines still use the breaker is fine: it goes with the last of them.
 * The scheduler must outlive the breaker (the breaker's timer lives on it:
 * rill_sched_free() says RILL_EBUSY until the breaker is gone).
 *
 * Compared with Resilience4j's CircuitBreaker:
 *   Same: the three states; the count-based sliding window of the last N
 *   calls with a minimum number of calls before the failure rate counts,
 *   opening when the rate reaches (>=) the threshold; a wait in OPEN, then a
 *   fixed number of permitted trial calls in HALF_OPEN; calls rejected while
 *   OPEN fail at once without running (CallNotPermittedException there,
 *   RILL_EBREAKER_OPEN here) and are counted (notPermittedCalls /
 *   rejections); state-transition events (on_state).
 *   Different:
 *   - A consecutive-failures rule as well (Polly's and the classic
 *     breaker's); Resilience4j has only rates.  Set it to INT64_MAX to use
 *     the rate alone.
 *   - No slow-call rate (slowCallRateThreshold/slowCallDurationThreshold):
 *     put rill_timeout() inside the breaker, so a slow call becomes a
 *     failure.
 *   - No time-based window (slidingWindowType TIME_BASED): the window is
 *     the last `window` calls only.
 *   - OPEN -> HALF_OPEN is automatic, by a scheduler timer (Resilience4j's
 *     automaticTransitionFromOpenToHalfOpenEnabled, off by default there,
 *     where the move waits for the next call).
 *   - HALF_OPEN: all trials must succeed to close and the first failure
 *     reopens at once; Resilience4j computes the failure rate over the
 *     permitted calls once they are all done.  No
 *     maxWaitDurationInHalfOpenState.
 *   - Every error is recorded as a failure: no recordExceptions /
 *     ignoreExceptions / recordResult predicates (filter errors before the
 *     breaker, e.g. with catch_error, to ignore some).
 *   - A cancel is neither success nor failure; the Reactor operator counts
 *     a cancel after at least one value as a success (and releases the
 *     permission only when nothing was emitted), and a Mono's first value
 *     as the success.  Here only completion succeeds.
 *   - An outcome arriving after the breaker changed state (a call admitted
 *     while CLOSED that fails after it opened) is counted in the stats but
 *     steers nothing; Resilience4j records it in whatever state is current.
 *   - No DISABLED / FORCED_OPEN / METRICS_ONLY states, no manual
 *     transitions or reset, no registry; defaults differ (consecutive 5,
 *     no window, open 30 s, 1 trial; Resilience4j: window 100, minimum
 *     100, 50 %, 60 s, 10 trials).
 *   - Single-threaded, like the rest of rill. */
#include <errno.h>

#include "rill-internal.h"

struct circuit_breaker_args {
  rill_observable_t *src; /* subscribed by the operator once admitted */
  rill_breaker_t *b;      /* the recipe's reference */
};

struct circuit_breaker_state {
  struct rill__breaker_call call;
  bool started;  /* the first on_subscribe (from the dead node) has run */
  bool admitted; /* a call whose outcome is still to be recorded */
};

/* Record the call's outcome, once. */
static void circuit_breaker_settle(struct rill__op *op,
                                   enum rill__call_outcome outcome) {
  const struct circuit_breaker_args *a = op->args;
  struct circuit_breaker_state *st = op->state;
  if (!st->admitted)
    return;
  st->admitted = false;
  rill__breaker_record(a->b, &st->call, outcome);
}

static void circuit_breaker_on_subscribe(struct rill__op *op) {
  const struct circuit_breaker_args *a = op->args;
  struct circuit_breaker_state *st = op->state;
  if (st->started) { /* src's: the call runs */
    op->down->vt->on_subscribe(op->down, &op->node);
    return;
  }
  st->started = true;
  op->up = NULL; /* the dead node handed to a source operator */
  char msg[RILL_ERROR_MESSAGE_MAX];
  if (rill__breaker_admit(a->b, &st->call, msg, sizeof(msg)) < 0) {
    op->down->vt->on_subscribe(op->down, &op->node);
    rill__op_fail(op, RILL_EBREAKER_OPEN, msg);
    return;
  }
  st->admitted = true;
  rill__subscribe(a->src, &op->node);
}

static void circuit_breaker_on_error(struct rill__op *op,
                                     const rill_error_t *err) {
  circuit_breaker_settle(op, RILL__CALL_FAILURE);
  rill__op_error(op, err);
}

static void circuit_breaker_on_complete(struct rill__op *op) {
  circuit_breaker_settle(op, RILL__CALL_SUCCESS);
  rill__op_complete(op);
}

static void circuit_breaker_on_cancel(struct rill__op *op) {
  circuit_breaker_settle(op, RILL__CALL_CANCEL);
}

static void circuit_breaker_destroy(struct rill__op *op) {
  circuit_breaker_settle(op, RILL__CALL_CANCEL); /* never reached: safety */
}

static void circuit_breaker_args_release(void *args) {
  struct circuit_breaker_args *a = args;
  rill_observable_free(a->src);
  rill_breaker_free(a->b);
}

static const struct rill__op_ops circuit_breaker_ops = {
    .name = "circuit_breaker",
    .source = true,
    .args_size = sizeof(struct circuit_breaker_args),
    .state_size = sizeof(struct circuit_breaker_state),
    .on_subscribe = circuit_breaker_on_subscribe,
    .on_error = circuit_breaker_on_error,
    .on_complete = circuit_breaker_on_complete,
    .on_cancel = circuit_breaker_on_cancel,
    .destroy = circuit_breaker_destroy,
    .args_release = circuit_breaker_args_release,
};

rill_observable_t *rill_circuit_breaker(rill_observable_t *src,
                                        rill_breaker_t *b) {
  if (src == NULL || b == NULL) {
    rill_observable_free(src);
    rill__errno_null_source();
    return NULL;
  }
  struct circuit_breaker_args args = {.src = src, .b = rill__breaker_ref(b)};
  return rill__op_create(NULL, &circuit_breaker_ops, &args);
}
