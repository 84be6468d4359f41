/* SPDX-License-Identifier: MIT */
/* rill: merge(sources, n, max_concurrency, prefetch) -- subscribes to the
 * sources (all at once, or at most max_concurrency at a time) and emits
 * their values as they come (RxJS merge(...sources, concurrent)).
 *
 * Built on the higher-order engine (src/flatten.c, mode MERGE): the outer
 * is range(0, n), and each index maps to its source, so merge shares every
 * rule of merge_map:
 * Demand: never emits beyond downstream demand.  Each source is asked for
 * `prefetch` values (0: 128) and refilled by halves as they go downstream,
 * so each source's queue holds at most `prefetch` values.  With
 * max_concurrency k (0: no limit), the first k sources are subscribed, and
 * the next one each time one completes.
 * Re-entrancy (rule 1.3): one drain loop delivers everything; a value that
 * arrives while it is on the stack is queued, never nested.  With
 * unbounded demand, a pull-only source (range, from_array...) is wired
 * straight downstream while merge holds its drain bracket, so merge costs
 * nothing per value there.
 * Time: none of its own.
 * Errors: the first error cancels the other sources, drops queued values
 * and is delivered at once (RxJS; no delayError).  Completes once every
 * source has completed and every queue is empty; merge of zero sources
 * completes at once.
 * Owns: the sources (with the recipe), the subscriptions and their queued
 * values. */
#include <errno.h>

#include "flatten.h"

static int merge_pick(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct rill__sources *s = ctx;
  *out = rill_observable_ref(s->items[v.as.i]);
  return 0;
}

rill_observable_t *rill_merge(rill_observable_t *const *sources, size_t n,
                              size_t max_concurrency, size_t prefetch) {
  if (n > (size_t)INT64_MAX / 2 || prefetch > UINT32_MAX / 2) {
    for (size_t i = 0; sources != NULL && i < n; i++)
      rill_observable_free(sources[i]);
    errno = EINVAL;
    return NULL;
  }
  struct rill__sources *s = rill__sources_take(sources, n);
  if (s == NULL)
    return NULL;
  rill_observable_t *indices = rill_range(0, (int64_t)n);
  if (indices == NULL) {
    rill__sources_free(s);
    errno = ENOMEM;
    return NULL;
  }
  return rill__flatten_create_owning(indices, "merge", RILL__FLAT_MERGE,
                                     merge_pick, s, rill__sources_free,
                                     max_concurrency, prefetch, 0);
}
