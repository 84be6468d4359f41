/* SPDX-License-Identifier: MIT */
/* rill kit: the arbiter -- one upstream at a time, switched mid-stream,
 * with the demand that is still owed carried over (concat, timeout's
 * fallback; retry, catch and repeat are made the same way).
 *
 * It works on a generic operator (struct rill__op): the upstream is
 * op->up, and a switch subscribes the next observable to the operator's
 * own node, so the operator's ops->on_subscribe runs once per upstream and
 * calls rill__arbiter_on_subscribe() for every upstream after the first.
 * `requested` is what downstream asked for and was not yet produced; a new
 * upstream is asked for exactly that, so demand is neither lost nor
 * doubled across a switch.
 *
 * Switching is trampolined: a synchronous source that completes inside
 * its own subscribe makes the owner switch again from inside the switch;
 * that only records the next observable, and the loop already on the
 * stack subscribes it, so a million synchronous switches keep the stack
 * flat. */
#ifndef RILL_KIT_ARBITER_H
#define RILL_KIT_ARBITER_H

#include "kit/demand.h"

struct rill__arbiter {
  int64_t requested;       /* asked downstream, not yet produced */
  rill_observable_t *next; /* to subscribe (borrowed from the recipe) */
  bool switching;          /* the subscribe loop is on the stack */
};

/* request(n) from downstream: count it and pass it to the upstream. */
void rill__arbiter_request(struct rill__op *op, struct rill__arbiter *a,
                           int64_t n);
/* A new upstream arrived (op->up is set): ask it for what is owed. */
void rill__arbiter_on_subscribe(struct rill__op *op, struct rill__arbiter *a);
/* Emit v downstream and account; a value a fused filter dropped is asked
 * for again from the upstream. */
void rill__arbiter_emit(struct rill__op *op, struct rill__arbiter *a,
                        rill_value_t v);
/* Cancel the current upstream (if any) and subscribe `next` (borrowed:
 * it must outlive the subscription, e.g. live in the recipe). */
void rill__arbiter_switch(struct rill__op *op, struct rill__arbiter *a,
                          rill_observable_t *next);

#endif
