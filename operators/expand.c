/* SPDX-License-Identifier: MIT */
/* rill: expand(fn, max_concurrency) -- emits every value of the source,
 * and maps every value emitted (the source's and the inners') to an
 * observable through fn, whose values are emitted and expanded in turn
 * (RxJS expand(project, concurrent)): the shape of paginated fetching,
 * where each page yields the request for the next.
 *
 * Demand: never emits beyond downstream demand.  A value is expanded when
 * it goes downstream; at most max_concurrency inners (0: no limit) run at
 * once, the source's own values counting as one each, and a value emitted
 * while every slot is busy waits for the next free slot.  That queue of
 * values waiting to be expanded is not bounded (as in RxJS): it grows by
 * at most one per value emitted, so downstream demand bounds it.  Each
 * inner is asked for 128 values and refilled by halves.
 * Time: none of its own.  A synchronous recursion (an fn that returns a
 * just(...)) runs in the drain loop, with a flat stack.
 * Errors and ownership: as merge_map.  Engine: src/flatten.c. */
#include "flatten.h"

rill_observable_t *rill_expand(rill_observable_t *src, rill_flat_map_fn fn,
                               void *ctx, size_t max_concurrency) {
  return rill__flatten_create(src, "expand", RILL__FLAT_EXPAND, fn, ctx,
                              max_concurrency, 0);
}
