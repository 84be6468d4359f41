/* SPDX-License-Identifier: MIT */
/* rill: from_array(values, n) -- emits the values in order, then completes.
 *
 * Demand: one value per requested item; completes right after the last one
 * (and at once for n == 0) without waiting for more demand.
 * Time: synchronous.
 * Owns: the recipe owns the values; every subscription emits its own
 * references (rill_value_retain), so a reused observable stays valid.
 * The engine (shared with just and start_with) is src/array.c. */
#include "rill-internal.h"

rill_observable_t *rill_from_array(const rill_value_t *values, size_t n) {
  return rill__from_array_named(values, n, "from_array");
}
