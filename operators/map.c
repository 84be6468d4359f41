/* SPDX-License-Identifier: MIT */
/* rill: map(project) -- emits project(value) for every value.
 *
 * Demand: passes request(n) upstream 1:1.
 * Time: synchronous, none of its own.
 * Owns: nothing.  `in` is borrowed by project and released by rill after
 * the call; *out is a new owned value.  A negative return from project
 * cancels upstream and delivers on_error (stage "map", that code).
 * Fusion: consecutive map/filter stages become one stage (src/fuse.c) whose
 * steps run inside the producer's loop; map keeps no state of its own.
 * RxJS difference: no `index` argument (keep a counter in ctx). */
#include <errno.h>

#include "rill-internal.h"

rill_observable_t *rill_map(rill_observable_t *src, rill_map_fn fn, void *ctx) {
  if (fn == NULL) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct rill__step step = {.kind = RILL__STEP_MAP, .fn.map = fn, .ctx = ctx};
  return rill__fuse(src, &step);
}
