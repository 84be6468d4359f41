/* SPDX-License-Identifier: MIT */
/* rill: switch_map(fn) -- maps each value to an observable and mirrors the
 * newest one (RxJS switchMap).
 *
 * Demand: the outer source is consumed at its own pace (requested without
 * limit, as Reactor's switchMap does): a new outer value cancels the
 * current inner at once, releasing the values it queued; the inner is
 * asked for 128 values and refilled by halves as they go downstream.
 * Completes when the outer has completed and the last inner has ended.
 * Time: none of its own.
 * Errors and ownership: as merge_map. */
#include "flatten.h"

rill_observable_t *rill_switch_map(rill_observable_t *src, rill_flat_map_fn fn,
                                   void *ctx) {
  return rill__flatten_create(src, "switch_map", RILL__FLAT_SWITCH, fn, ctx, 1,
                              0);
}
