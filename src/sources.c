/* SPDX-License-Identifier: MIT */
/* rill: a recipe's list of source observables, taken over at construction
 * (concat, merge): one place for "take n sources, release them all on any
 * failure, and report why". */
#include <errno.h>

#include "rill-internal.h"

static void release_each(rill_observable_t *const *sources, size_t n) {
  for (size_t i = 0; sources != NULL && i < n; i++)
    rill_observable_free(sources[i]);
}

struct rill__sources *rill__sources_take(rill_observable_t *const *sources,
                                         size_t n) {
  bool ok = sources != NULL || n == 0;
  for (size_t i = 0; ok && i < n; i++)
    ok = sources[i] != NULL;
  if (!ok) {
    release_each(sources, n);
    rill__errno_null_source(); /* EINVAL, or a failed constructor's ENOMEM */
    return NULL;
  }
  struct rill__sources *s = NULL;
  if (n <= (SIZE_MAX - sizeof(*s)) / sizeof(*s->items))
    s = rill__malloc(sizeof(*s) + n * sizeof(*s->items));
  if (s == NULL) {
    release_each(sources, n);
    errno = ENOMEM;
    return NULL;
  }
  s->n = n;
  if (n != 0)
    memcpy(s->items, sources, n * sizeof(*s->items));
  return s;
}

void rill__sources_free(void *sources) {
  struct rill__sources *s = sources;
  if (s == NULL)
    return;
  release_each(s->items, s->n);
  rill__free(s);
}
