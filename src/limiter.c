/* SPDX-License-Identifier: MIT */
/* rill: the limiter object -- `permits` slots shared by any number of
 * pipelines (p-limit; a mutex with one permit), and a bounded FIFO of the
 * subscriptions waiting for one (operators/limit.c is its operator).
 *
 * The queue is intrusive (each waiting subscription carries its node), so
 * joining, leaving from anywhere (a cancel while waiting) and taking the
 * head cost O(1) and never allocate.
 *
 * Handing permits out is a loop, not a recursion: a permit that comes back
 * while the loop is on the stack only counts as free, and the loop already
 * running gives it to the next waiter.  limit() returns a permit when its
 * stage is released, at the end of the outermost rill call (the reap
 * list, itself a loop), so a million synchronous subscriptions queued
 * behind one permit run one after another with a flat stack; the guard
 * keeps any other caller flat too, and a permit never changes hands inside
 * the grant of another.  Outside the loop, the queue is empty or every
 * permit is in use; a newcomer waits whenever someone is already waiting
 * (FIFO). */
#include <errno.h>

#include "rill-internal.h"

struct rill_limiter_s {
  uint32_t refs;
  bool handing; /* the hand-out loop is on the stack */
  size_t permits, in_use;
  size_t max_waiting, waiting;
  uint64_t rejected;
  struct rill__limiter_waiter *head, *tail;
};

rill_limiter_t *rill__limiter_ref(rill_limiter_t *l) {
  l->refs++;
  return l;
}

static void limiter_unref(rill_limiter_t *l) {
  if (--l->refs == 0)
    rill__free(l);
}

size_t rill__limiter_max_waiting(const rill_limiter_t *l) {
  return l->max_waiting;
}

static void limiter_push(rill_limiter_t *l, struct rill__limiter_waiter *w) {
  w->next = NULL;
  w->prev = l->tail;
  if (l->tail != NULL)
    l->tail->next = w;
  else
    l->head = w;
  l->tail = w;
  w->queued = true;
  l->waiting++;
}

void rill__limiter_leave(rill_limiter_t *l, struct rill__limiter_waiter *w) {
  if (!w->queued)
    return;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    l->head = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  else
    l->tail = w->prev;
  w->prev = w->next = NULL;
  w->queued = false;
  l->waiting--;
}

int rill__limiter_acquire(rill_limiter_t *l, struct rill__limiter_waiter *w) {
  if (l->head == NULL && l->in_use < l->permits) {
    l->in_use++;
    return RILL__LIMIT_GRANTED;
  }
  if (l->waiting >= l->max_waiting) {
    l->rejected++;
    return RILL_ELIMIT_FULL;
  }
  limiter_push(l, w);
  return RILL__LIMIT_QUEUED;
}

void rill__limiter_release(rill_limiter_t *l) {
  l->in_use--;
  if (l->handing)
    return; /* the loop on the stack hands it on */
  l->handing = true;
  l->refs++; /* a grant may free the last outside reference */
  while (l->in_use < l->permits && l->head != NULL) {
    struct rill__limiter_waiter *w = l->head;
    rill__limiter_leave(l, w);
    l->in_use++;
    w->grant(w);
  }
  l->handing = false;
  limiter_unref(l);
}

/* ---- public -------------------------------------------------------------*/

rill_limiter_t *rill_limiter_new(size_t permits, size_t max_waiting) {
  if (permits == 0) {
    errno = EINVAL;
    return NULL;
  }
  rill_limiter_t *l = rill__calloc(1, sizeof(*l));
  if (l == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  l->refs = 1;
  l->permits = permits;
  l->max_waiting = max_waiting ? max_waiting : 1024;
  return l;
}

void rill_limiter_free(rill_limiter_t *l) {
  if (l != NULL)
    limiter_unref(l);
}

void rill_limiter_stats(const rill_limiter_t *l, rill_limiter_stats_t *out) {
  if (out == NULL)
    return;
  memset(out, 0, sizeof(*out));
  if (l == NULL)
    return;
  out->in_use = l->in_use;
  out->waiting = l->waiting;
  out->rejected = l->rejected;
}
