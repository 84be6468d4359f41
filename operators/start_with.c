/* SPDX-License-Identifier: MIT */
/* rill: start_with(src, n, v1, ..., vn) -- emits the given values, then
 * the source's.
 *
 * Built as concat(just(values), src), which is exactly RxJS's definition,
 * so demand, time and ownership are concat's: the prefix values go out as
 * they are requested, and the source is subscribed only after the last of
 * them.  Takes over owned values and the source.
 * Depth: each start_with is one more concat stage that every value passes
 * through, so k nested start_with cost O(k) per value (see DEPTH in
 * rill.h); one start_with with n values costs O(1) per value. */
#include <errno.h>

#include "rill-internal.h"

rill_observable_t *rill_start_with(rill_observable_t *src, size_t n, ...) {
  va_list ap;
  va_start(ap, n);
  rill_value_t *values = rill__values_from_va(n, ap);
  va_end(ap);
  if (src == NULL || values == NULL) {
    for (size_t i = 0; values != NULL && i < n; i++)
      rill_value_release(values[i]);
    rill__free(values);
    rill_observable_free(src);
    if (src == NULL)
      rill__errno_null_source();
    else
      errno = ENOMEM;
    return NULL;
  }
  rill_observable_t *prefix = rill__from_array_named(values, n, "start_with");
  rill__free(values);
  if (prefix == NULL) {
    rill_observable_free(src);
    return NULL;
  }
  rill_observable_t *parts[2] = {prefix, src};
  return rill_concat(parts, 2);
}
