/* SPDX-License-Identifier: MIT */
/* rill kit: a fan -- one inner subscription (kit/inner.h) per source of an
 * operator that runs all its sources at once and ends them together
 * (fork_join, all_settled, race, any).
 *
 * The inners are allocated up front, from the operator's init (so ENOMEM
 * fails the subscription before anything has started), each with `index`
 * = its source's position, and subscribed in order by rill__fan_subscribe.
 * The loop stops as soon as the operator is done or a winner is chosen:
 * a source that ends the stage, or wins, during its own subscribe leaves
 * the later sources unsubscribed (RxJS race and forkJoin).
 *
 * Demand: with `prefetch` RILL_UNBOUNDED each inner asks its source for
 * everything when subscribed (fork_join collects); with 0 an inner asks
 * for nothing itself: the owner passes downstream's requests on with
 * rill__fan_request, which counts them and asks every live source (or
 * only the winner, once there is one), and calls rill__fan_upstream from
 * its inners' on_upstream so that a source subscribed later is asked for
 * what was requested so far (RxJava's amb).
 *
 * A winner: rill__fan_win() cancels every other inner at once; afterwards
 * only the winner is asked for more.  rill__fan_release() cancels and
 * lets go of every inner (safe from inside one of their signals: they are
 * freed at the outermost rill call) and is idempotent. */
#ifndef RILL_KIT_FAN_H
#define RILL_KIT_FAN_H

#include "kit/demand.h"
#include "kit/inner.h"

struct rill__fan {
  struct rill__inner **in; /* n inners, or NULL once released */
  size_t n;
  size_t subscribed;          /* in[0..subscribed) were subscribed */
  int64_t requested;          /* prefetch 0: requested so far */
  struct rill__inner *winner; /* NULL until rill__fan_win */
};

/* 0, or RILL_ENOMEM (what was allocated is released). */
int rill__fan_init(struct rill__fan *f, size_t n,
                   const struct rill__inner_ops *ops, void *owner,
                   int64_t prefetch);
/* Subscribe sources[i] for each inner in order, while `op` is live and no
 * winner is chosen. */
void rill__fan_subscribe(struct rill__fan *f, struct rill__op *op,
                         rill_observable_t *const *sources);
/* Downstream asked for n (prefetch 0): pass it to the sources (to every
 * live one in order until one wins, then to the winner; a winner chosen
 * inside that loop gets n too, whichever its place). */
void rill__fan_request(struct rill__fan *f, int64_t n);
/* From the owner's on_upstream (prefetch 0): ask the new source for what
 * was requested so far. */
void rill__fan_upstream(struct rill__fan *f, struct rill__inner *in);
/* `in` wins: every other inner is cancelled now. */
void rill__fan_win(struct rill__fan *f, struct rill__inner *in);
/* Cancel every inner and let them go; idempotent. */
void rill__fan_release(struct rill__fan *f);

#endif
