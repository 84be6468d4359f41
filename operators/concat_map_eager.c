/* SPDX-License-Identifier: MIT */
/* rill: concat_map_eager(fn, max_concurrency, prefetch) -- maps values to
 * observables, subscribes up to max_concurrency of them at once, and emits
 * their values in outer order (Reactor flatMapSequential; RxJS has no
 * counterpart).
 *
 * Demand: as merge_map for the outer and the inners (0: no limit; prefetch
 * 0: 128), but only the oldest live inner emits; the others fill their
 * queues up to `prefetch` and then wait, so each holds at most `prefetch`
 * values.
 * Time: none of its own.
 * Errors and ownership: as merge_map. */
#include "flatten.h"

rill_observable_t *rill_concat_map_eager(rill_observable_t *src,
                                         rill_flat_map_fn fn, void *ctx,
                                         size_t max_concurrency,
                                         size_t prefetch) {
  return rill__flatten_create(src, "concat_map_eager", RILL__FLAT_EAGER, fn,
                              ctx, max_concurrency, prefetch);
}
