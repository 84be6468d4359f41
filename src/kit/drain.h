/* SPDX-License-Identifier: MIT */
/* rill kit: the drain loop's bracket (queue-drain, "work in progress").
 *
 *     if (!rill__drain_enter(&st->drain))
 *       return;                       // the loop on the stack will see it
 *     do {
 *       ... emit while there is demand; check done/cancel; terminal ...
 *     } while (rill__drain_again(&st->drain));
 *
 * A signal that arrives while the loop runs (a request from on_next, a
 * value pushed from on_next, an inner completing) has already updated the
 * state; entering only counts it as missed, and the loop runs once more.
 * Single-threaded, so a counter is enough (RxJava uses an atomic one). */
#ifndef RILL_KIT_DRAIN_H
#define RILL_KIT_DRAIN_H

#include <stdbool.h>
#include <stdint.h>

struct rill__drain {
  uint32_t wip; /* 0: idle; 1: running; > 1: running and missed */
};

static inline bool rill__drain_enter(struct rill__drain *d) {
  return d->wip++ == 0;
}

/* After one pass: true when something was missed (run again), false when
 * the loop is done (and the bracket left). */
static inline bool rill__drain_again(struct rill__drain *d) {
  if (d->wip == 1) {
    d->wip = 0;
    return false;
  }
  d->wip = 1;
  return true;
}

/* From inside the loop: make it run once more (what a signal arriving
 * meanwhile does), e.g. to deliver a terminal after this pass. */
static inline void rill__drain_miss(struct rill__drain *d) {
  d->wip++;
}

static inline bool rill__drain_running(const struct rill__drain *d) {
  return d->wip != 0;
}

#endif
