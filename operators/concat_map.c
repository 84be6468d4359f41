/* SPDX-License-Identifier: MIT */
/* rill: concat_map(fn) -- maps each value to an observable and runs them
 * one after another, in order (RxJS concatMap).
 *
 * Demand: the outer source is asked for CONCAT_MAP_OUTER_PREFETCH (32)
 * values ahead, refilled by halves as they are used (Reactor's concatMap
 * prefetch; RxJava's is 2), and they wait in a bounded queue until the
 * running inner has ended; the inner gets the default prefetch (128)
 * refilled by halves.  So a hot outer is not held back by a long inner,
 * and its completion is seen when it happens (RxJS concatMap buffers the
 * outer the same way, without a bound).
 * Time: none of its own.  A synchronous inner that ends inside its own
 * subscribe does not nest the next one: a million of them keep the stack
 * flat.
 * Errors and ownership: as merge_map. */
#include "flatten.h"

#define CONCAT_MAP_OUTER_PREFETCH 32

rill_observable_t *rill_concat_map(rill_observable_t *src, rill_flat_map_fn fn,
                                   void *ctx) {
  return rill__flatten_create_owning(src, "concat_map", RILL__FLAT_MERGE, fn,
                                     ctx, NULL, 1, 0,
                                     CONCAT_MAP_OUTER_PREFETCH);
}
