/* rill: concat_map(fn) -- maps each value to an observable and runs them
 * one after another, in order (RxJS concatMap).
 *
 * Demand: merge_map with max_concurrency 1: the outer source is asked for
 * one value, and for the next only when its inner has ended, so outer
 * values never pile up in rill; the inner gets the default prefetch (128)
 * refilled by halves.
 * Time: none of its own.  A synchronous inner that ends inside its own
 * subscribe does not nest the next one: a million of them keep the stack
 * flat.
 * Errors and ownership: as merge_map. */
#include "flatten.h"

rill_observable_t *rill_concat_map(rill_observable_t *src, rill_flat_map_fn fn,
                                   void *ctx) {
  return rill__flatten_create(src, "concat_map", RILL__FLAT_MERGE, fn, ctx, 1,
                              0);
}
