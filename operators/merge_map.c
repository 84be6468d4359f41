/* SPDX-License-Identifier: MIT */
/* rill: merge_map(fn, max_concurrency, prefetch) -- maps each value to an
 * observable and merges them (RxJS mergeMap(project, concurrent), Reactor
 * flatMap(fn, concurrency, prefetch)).
 *
 * Demand: the outer source is asked for max_concurrency values (0: no
 * limit, everything at once) and for one more as each inner ends; each
 * inner is asked for `prefetch` values (0: 128) and refilled by halves as
 * its values go downstream; values wait in a bounded queue per inner;
 * never more goes downstream than requested.  Values of different inners
 * interleave in arrival order (round robin over queued ones).
 * Time: none of its own.
 * Errors: an outer or inner error, or fn failing (a negative code, or 0
 * without an observable), cancels everything else and is delivered at
 * once (RxJS).  There is no "delay errors" variant.
 * Owns: the inner subscriptions and their queued values (released on
 * every path); fn borrows the outer value, and its observable is taken
 * over.  The engine is src/flatten.c, built from the kit (src/kit/). */
#include "flatten.h"

rill_observable_t *rill_merge_map(rill_observable_t *src, rill_flat_map_fn fn,
                                  void *ctx, size_t max_concurrency,
                                  size_t prefetch) {
  return rill__flatten_create(src, "merge_map", RILL__FLAT_MERGE, fn, ctx,
                              max_concurrency, prefetch);
}
