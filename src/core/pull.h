/* SPDX-License-Identifier: MIT */
/* rill internals: pull sources, array sources and source lists
 * (src/source.c, src/array.c, src/sources.c). */
#ifndef RILL_CORE_PULL_H
#define RILL_CORE_PULL_H

#include "core/observable.h"

/* ---- pull sources (src/source.c) ----------------------------------------
 *
 * A source that produces one value per pull, under a drain loop that never
 * runs ahead of demand and never recurses.  The source file supplies the
 * ops and `state_size` bytes of per-subscription state. */
struct rill__pull;
struct rill__pull_ops {
  const char *name;
  size_t state_size;
  /* Per-subscription setup; negative code -> on_subscribe + on_error. */
  int (*init)(struct rill__pull *p);
  /* 1: *out holds an owned value; 0: done; < 0: error code. */
  int (*pull)(struct rill__pull *p, rill_value_t *out);
  /* Optional: true when the next pull would return 0, so the source can
   * complete without waiting for demand (range, just, from_array). */
  bool (*exhausted)(struct rill__pull *p);
  void (*destroy)(struct rill__pull *p); /* called once, on every path */
  /* Release what the recipe owns (values of from_array); may be NULL. */
  void (*recipe_release)(rill_observable_t *obs);
};

struct rill__pull_obs {
  rill_observable_t base;
  const struct rill__pull_ops *ops;
};

struct rill__pull {
  struct rill__node node;
  struct rill__node *down;
  rill_observable_t *obs;
  const struct rill__pull_ops *ops;
  int64_t demand;
  bool emitting;
  bool inited;
  void *state;
};

/* Allocate a pull-source recipe of `size` bytes (which starts with a
 * struct rill__pull_obs); NULL on ENOMEM. */
void *rill__pull_obs_alloc(size_t size, const struct rill__pull_ops *ops);

/* Hand the downstream a subscription that needs no state (empty, never,
 * error): on_subscribe(dead) and, optionally, a terminal signal. */
void rill__stateless_complete(struct rill__node *down);

/* from_array with another stage name (just, start_with). */
rill_observable_t *rill__from_array_named(const rill_value_t *values, size_t n,
                                          const char *name);
/* Collect `n` variadic rill_value_t into a fresh array (NULL on ENOMEM, after
 * releasing them).  `*out_n` receives n. */
rill_value_t *rill__values_from_va(size_t n, va_list ap);

/* n source observables taken over by a recipe (src/sources.c: concat,
 * merge).  NULL with errno on failure (EINVAL for a NULL source, ENOMEM
 * kept from a failed constructor), every source released. */
struct rill__sources {
  size_t n;
  rill_observable_t *items[];
};
struct rill__sources *rill__sources_take(rill_observable_t *const *sources,
                                         size_t n);
void rill__sources_free(void *sources); /* NULL-safe; a ctx destructor */

#endif /* RILL_CORE_PULL_H */
