/* SPDX-License-Identifier: MIT */
/* rill: exhaust_map(fn) -- maps a value to an observable and ignores outer
 * values until that observable is done (RxJS exhaustMap).
 *
 * Demand: the outer source is consumed at its own pace (requested without
 * limit); an outer value that arrives while an inner is still live is
 * released unused, without calling fn.  An inner counts as live until its
 * last value has gone downstream (RxJS has no queue; here an ended inner
 * whose values wait for demand still holds the slot).  The inner is asked
 * for 128 values and refilled by halves.
 * Time: none of its own.
 * Errors and ownership: as merge_map. */
#include "flatten.h"

rill_observable_t *rill_exhaust_map(rill_observable_t *src,
                                    rill_flat_map_fn fn, void *ctx) {
  return rill__flatten_create(src, "exhaust_map", RILL__FLAT_EXHAUST, fn, ctx,
                              1, 0);
}
