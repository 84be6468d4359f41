/* SPDX-License-Identifier: MIT */
/* rill: just(n, v1, ..., vn) -- emits the given values, then completes.
 *
 * Demand, time and ownership as from_array (it is from_array with the
 * values given inline): synchronous, one value per requested item,
 * completes right after the last value; takes over owned values. */
#include <errno.h>

#include "rill-internal.h"

rill_observable_t *rill_just(size_t n, ...) {
  va_list ap;
  va_start(ap, n);
  rill_value_t *values = rill__values_from_va(n, ap);
  va_end(ap);
  if (values == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  rill_observable_t *obs = rill__from_array_named(values, n, "just");
  rill__free(values);
  return obs;
}
