/* SPDX-License-Identifier: MIT */
/* rill: filter(predicate) -- emits the values for which predicate is true.
 *
 * Demand: passes request(n) upstream 1:1; a dropped value does not consume
 * downstream demand, so the producer simply sends another (no re-request).
 * Time: synchronous, none of its own.
 * Owns: nothing; dropped values are released at once.  A negative return
 * from the predicate cancels upstream and delivers on_error (stage
 * "filter").  Fused with neighbouring map/filter stages (src/fuse.c).
 * RxJS difference: no `index` argument (keep a counter in ctx). */
#include <errno.h>

#include "rill-internal.h"

rill_observable_t *rill_filter(rill_observable_t *src, rill_pred_fn fn,
                               void *ctx) {
  if (fn == NULL) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct rill__step step = {
      .kind = RILL__STEP_FILTER, .fn.pred = fn, .ctx = ctx};
  return rill__fuse(src, &step);
}
