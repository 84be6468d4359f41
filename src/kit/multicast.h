/* SPDX-License-Identifier: MIT */
/* rill kit: multicast -- one producer, many subscribers (subjects and
 * share: src/subject.c, operators/subject.c, operators/share.c).
 *
 * A hub keeps a list of members.  A member is a generic operator (its
 * state begins with struct rill__mcast_member) whose node is the
 * subscription one subscriber talks to; each has its own demand, a bounded
 * ring of values waiting for that demand, and a drain bracket.
 *
 * Fan-out (rill__mcast_next): each value goes to every member that was in
 * the list when its fan-out began, as a reference of its own
 * (rill_value_retain; scalars cost nothing): straight to the subscriber
 * when it has demand and nothing waits before the value, else into its
 * ring.  A full ring applies the hub's overflow policy to that member
 * alone: DROP releases the value, LATEST replaces the newest value waiting
 * (RxJava's DROP_LATEST), ERROR fails that subscriber with RILL_EOVERFLOW
 * (its ring released).  The others are not affected.
 *
 * Re-entrancy, defined once here:
 *   - a value pushed while a fan-out is on the stack (from a subscriber's
 *     on_next) is queued and fanned out by that loop after the current
 *     value, so every member sees values in push order and no on_next
 *     nests; a terminal asked for meanwhile waits behind those values;
 *   - a member that joins during a fan-out gets the values whose fan-out
 *     begins after it joined, not the current one (RxJS copies its
 *     observer list the same way);
 *   - a member that leaves during a fan-out (cancelled from any callback)
 *     is skipped at once and unlinked when the walk is over; its buffered
 *     values are released when it leaves;
 *   - a member's own signals are serialized by its drain bracket: a
 *     request from its on_next is served by the loop on the stack, and its
 *     terminal never arrives inside its on_next.
 *
 * Terminals reach a member after the values already buffered for it (RxJava
 * 3 publish and replay), except a failure of that member alone (overflow
 * ERROR, no memory for its ring), which is delivered at once.  When the hub
 * ends, every member is detached from the list with its terminal owed, so a
 * non-sticky hub (share) can take new members for a new run at once while
 * the old ones drain.  A sticky hub (a subject) keeps its terminal: a member
 * joining later is owed it from the start (after the values it is given).
 *
 * Demand: rill__mcast_demand() is what may be pushed without overflow (the
 * slowest member governs); rill__mcast_held() what the fullest ring holds
 * (share's upstream demand).  ops->on_room says when either may have
 * changed; it is never called from inside a fan-out (it waits for the
 * fan-out on the stack to finish).
 *
 * Memory: a member's ring grows by doubling up to its bound (nothing is
 * allocated for a member that always has demand); a failed growth fails
 * that member with RILL_ENOMEM; a failed queue of a re-entrant push fails
 * the hub with RILL_ENOMEM (after the values queued before it).  Members
 * leave the list before their memory goes (the reap list runs only when
 * no walk is on the stack). */
#ifndef RILL_KIT_MULTICAST_H
#define RILL_KIT_MULTICAST_H

#include "kit/demand.h"
#include "kit/drain.h"
#include "kit/ring.h"

struct rill__mcast;

struct rill__mcast_ops {
  /* Optional: the fan-out of v (borrowed) begins; members joining from
   * now on do not get it from the fan-out (a subject records it for
   * them). */
  void (*on_value)(struct rill__mcast *h, rill_value_t v);
  /* Optional: rill__mcast_demand() may have grown or rill__mcast_held()
   * shrunk: a member requested, consumed buffered values or left. */
  void (*on_room)(struct rill__mcast *h);
};

enum { RILL__MCAST_LIVE = 0, RILL__MCAST_COMPLETE, RILL__MCAST_ERROR };

struct rill__mcast_member;

struct rill__mcast {
  const struct rill__mcast_ops *ops;
  void *owner;
  const char *name; /* stage name for the hub's own errors */
  struct rill__mcast_member *head, *tail;
  size_t live;            /* members in the list that have not left */
  uint32_t bound;         /* each member's ring */
  rill_overflow_t policy; /* LATEST, DROP or ERROR */
  bool fanning;           /* the fan-out loop (a walk of the list) is on
                             the stack */
  bool dirty;             /* left members to unlink after the walk */
  bool room_due;          /* on_room waits for the fan-out */
  bool sticky;            /* the terminal stays (subject) or not (share) */
  uint8_t terminal;       /* RILL__MCAST_*: applied */
  uint8_t closing;        /* RILL__MCAST_*: waiting for the fan-out */
  rill_error_t err;
  struct rill__ring pending; /* values pushed during a fan-out */
};

/* The first member of a member operator's state. */
struct rill__mcast_member {
  struct rill__op *op;
  struct rill__node *down; /* op->down, for the hot path */
  struct rill__mcast *hub;
  struct rill__mcast_member *prev, *next;
  struct rill__ring ring;
  struct rill__drain drain;
  int64_t demand;
  uint32_t backlog; /* given values at the ring's head, beyond the bound */
  bool listed;      /* in hub's list */
  bool live;        /* listed and not left */
  uint8_t term;     /* terminal owed after the ring: RILL__MCAST_* */
  int fail;         /* this member's own failure, delivered at once */
  rill_error_t err; /* term == RILL__MCAST_ERROR */
};

/* bound >= 1; policy LATEST, DROP or ERROR. */
void rill__mcast_init(struct rill__mcast *h, const struct rill__mcast_ops *ops,
                      void *owner, const char *name, uint32_t bound,
                      rill_overflow_t policy, bool sticky);
/* Release the queued pushes (no member may be listed any more). */
void rill__mcast_clear(struct rill__mcast *h);

/* ---- the producer's side ---- */
/* Fan v (taken over) out.  0; RILL_EOVERFLOW when the policy applied to
 * some member; RILL_ENOMEM when some member, or the queue of a re-entrant
 * push, could not grow (they fail with it); RILL_ECANCELED once the hub
 * has ended (v released).  A re-entrant push is queued: 0. */
int rill__mcast_next(struct rill__mcast *h, rill_value_t v);
/* End the hub (once; ignored after): now, or after the fan-out on the
 * stack and the values it queued. */
void rill__mcast_complete(struct rill__mcast *h);
void rill__mcast_error(struct rill__mcast *h, const rill_error_t *err);
static inline bool rill__mcast_ended(const struct rill__mcast *h) {
  return h->terminal != RILL__MCAST_LIVE || h->closing != RILL__MCAST_LIVE;
}
/* What may be pushed now without overflow: the smallest demand + free
 * ring slots of the live members; RILL_UNBOUNDED with none; 0 once
 * ended. */
int64_t rill__mcast_demand(const struct rill__mcast *h);
/* The most values any live member holds (the given ones not counted). */
uint32_t rill__mcast_held(const struct rill__mcast *h);

/* ---- the member's side (a generic operator with .source = true) ---- */
/* From the operator's init: make op a member, with room for `backlog`
 * values given first (rill__mcast_give).  A sticky hub that has ended
 * owes it its terminal instead of listing it.  0 or RILL_ENOMEM. */
int rill__mcast_join(struct rill__mcast *h, struct rill__op *op,
                     uint32_t backlog);
/* One of the `backlog` values (taken over), in order; cannot fail. */
void rill__mcast_give(struct rill__op *op, rill_value_t v);
/* The operator's on_subscribe: on_subscribe downstream, then a terminal
 * owed with nothing given goes at once. */
void rill__mcast_start(struct rill__op *op);
/* The operator's on_request, on_cancel and destroy. */
void rill__mcast_request(struct rill__op *op, int64_t n);
void rill__mcast_cancel(struct rill__op *op);
void rill__mcast_destroy(struct rill__op *op);

#endif
