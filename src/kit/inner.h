/* SPDX-License-Identifier: MIT */
/* rill kit: an inner subscription -- an operator-owned subscriber to
 * another observable (merge_map's inners, a notifier, a fallback).
 *
 * It keeps its upstream, a bounded queue, `done`, and its own demand:
 * `prefetch` is requested at subscription (RILL_UNBOUNDED: everything) and,
 * once half of it has been consumed, what was consumed is requested again
 * (prefetch-and-refill-by-half), so an inner never holds more than
 * `prefetch` values.  Its signals go to the owner through `ops`; after
 * rill__inner_cancel() (or a terminal) nothing more arrives.
 *
 * Memory: the owner allocates the inner with rill__inner_new() and lets go
 * of it with rill__inner_release(), which cancels it, releases what its
 * queue holds and frees it at the outermost rill call (so a release from
 * inside one of its own signals is safe). */
#ifndef RILL_KIT_INNER_H
#define RILL_KIT_INNER_H

#include "kit/ring.h"

struct rill__inner;
struct rill__inner_ops {
  /* A value (owned) from the inner's upstream. */
  void (*on_next)(struct rill__inner *in, rill_value_t v);
  /* The upstream ended: err NULL for complete.  `in->done` is set. */
  void (*on_end)(struct rill__inner *in, const rill_error_t *err);
  /* Optional: the upstream is known (in->up), nothing requested yet; the
   * owner may change in->prefetch, or wire the node (rill__node_wire). */
  void (*on_upstream)(struct rill__inner *in);
};

struct rill__inner {
  struct rill__node node; /* the subscriber its upstream talks to */
  struct rill__node *up;
  const struct rill__inner_ops *ops;
  void *owner;
  /* The owner's bookkeeping (two doubly linked lists): all live inners,
   * and a work list (e.g. "has values", "ended") tagged by `wlist`. */
  struct rill__inner *prev, *next;
  struct rill__inner *wprev, *wnext;
  int wlist;
  struct rill__ring queue; /* values waiting for downstream demand */
  int64_t prefetch;
  int64_t consumed; /* since the last refill */
  uint64_t index;   /* owner's use: arrival order */
  bool done;        /* the upstream ended */
  bool cancelled;   /* we ended it */
  bool polled;      /* synchronously fused: see rill__inner_fuse */
};

/* NULL on ENOMEM.  prefetch: 1 .. RILL_UNBOUNDED, capped at the queue's
 * bound (2^31 - 1); an owner may still make it RILL_UNBOUNDED in
 * on_upstream when it wires the inner (its queue then stays unused), or
 * 0 before subscribing: then the inner asks for nothing itself and the
 * owner requests through in->up (kit/fan.h; rill__inner_consumed is not
 * for such an inner). */
struct rill__inner *rill__inner_new(const struct rill__inner_ops *ops,
                                    void *owner, int64_t prefetch);
/* Subscribe to obs (not consumed; the subscription keeps what it needs). */
void rill__inner_subscribe(struct rill__inner *in, rill_observable_t *obs);
/* n values of this inner went downstream: refill by half. */
void rill__inner_consumed(struct rill__inner *in, int64_t n);
/* Synchronous fusion (core/node.h), from the owner's on_upstream only:
 * true when the upstream agreed to be polled.  Then nothing is requested
 * and no signal arrives (no on_next, no on_end); the owner takes values
 * with rill__inner_poll, never after the inner is done or cancelled. */
bool rill__inner_fuse(struct rill__inner *in);
/* Poll a polled inner (rill__poll: up to `max` values at out[0],
 * out[stride], ...; *n of them).  1: all max, live; 0: the upstream
 * finished (exhausted, or cancelled while the poll ran); < 0: it failed
 * (*err).  On 0 and < 0 the inner is done (unless it was cancelled) and
 * forgets its upstream. */
static RILL__ALWAYS_INLINE int rill__inner_poll(struct rill__inner *in,
                                                rill_value_t *out,
                                                size_t stride, size_t max,
                                                size_t *n, rill_error_t *err) {
  int rc = rill__poll(in->up, out, stride, max, n, err);
  if (RILL__UNLIKELY(rc != 1) && !in->cancelled) {
    in->done = true;
    in->up = NULL;
  }
  return rc;
}
/* Cancel the upstream and release the queue (idempotent). */
void rill__inner_cancel(struct rill__inner *in);
/* Cancel and free (deferred to the outermost rill call). */
void rill__inner_release(struct rill__inner *in);

/* ---- one inner per source of a list (zip, combine_latest, ...) ----------
 * n inners made at once, in->index = i, all with the same ops, owner and
 * prefetch.  NULL on ENOMEM (nothing is left allocated).  The owner
 * subscribes them itself (in order, stopping when the stream ends). */
struct rill__inner **rill__inners_new(size_t n,
                                      const struct rill__inner_ops *ops,
                                      void *owner, int64_t prefetch);
/* Cancel every one (idempotent; their memory stays until released). */
void rill__inners_cancel(struct rill__inner **in, size_t n);
/* Release every one and the array (NULL-safe). */
void rill__inners_release(struct rill__inner **in, size_t n);

#endif
