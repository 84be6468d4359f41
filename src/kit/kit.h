/* SPDX-License-Identifier: MIT */
/* rill: the operator kit -- the few building blocks every operator with
 * more than one source of signals is made of (RxJava and Reactor build
 * their multi-input operators the same way; ../shared reference
 * operator-kit.md).  One concept per header:
 *
 *   demand.h  count what downstream requested: add, produced, and
 *             "emit and account" (the fused-filter "consumed?" answer is
 *             handled there, so producers never see it)
 *   drain.h   the one serialized emission loop: every signal updates state
 *             and calls drain; only the loop calls downstream, so on_next
 *             never nests (rule 1.3), a request made from on_next is served
 *             by the loop already on the stack (rule 3.3), and the terminal
 *             is delivered in one place
 *   ring.h    a bounded FIFO of values, growing up to its bound, no
 *             allocation per element once grown; clear releases what it
 *             holds, exactly once
 *   inner.h   an operator-owned subscription to another observable, with
 *             its own queue, done flag, cancel, and prefetch-and-refill-by-
 *             half demand; and one inner per source of a list (zip,
 *             combine_latest, with_latest_from)
 *   fan.h     one inner per source, subscribed in order, ended together,
 *             with an optional winner (fork_join, all_settled, race, any)
 *   keymap.h  a map from values (rill_value_equal, with a consistent hash)
 *             to pointers, open addressing, no allocation once grown
 *             (group_by)
 *   multicast.h  one producer, many subscribers: each with its demand and
 *             a bounded ring, the fan-out loop, the slowest subscriber's
 *             demand, safe joining and leaving during a fan-out (subjects,
 *             share)
 *
 * Termination in one place is the generic operator's: rill__op_complete()
 * and rill__op_error() deliver the terminal once, cancel the upstream and
 * retire the node; an operator with inners cancels them in its drain loop
 * right before (see src/flatten.c). */
#ifndef RILL_KIT_H
#define RILL_KIT_H

#include "kit/demand.h"
#include "kit/drain.h"
#include "kit/fan.h"
#include "kit/inner.h"
#include "kit/keymap.h"
#include "kit/multicast.h"
#include "kit/ring.h"

#endif
