/* SPDX-License-Identifier: MIT */
/* rill: the engine of the higher-order family (src/flatten.c), for the
 * operator files merge_map.c, concat_map.c, switch_map.c, exhaust_map.c
 * and concat_map_eager.c. */
#ifndef RILL_FLATTEN_H
#define RILL_FLATTEN_H

#include "rill-internal.h"

#define RILL__FLAT_DEFAULT_PREFETCH 128

enum rill__flat_mode {
  RILL__FLAT_MERGE,   /* up to N inners, values interleaved */
  RILL__FLAT_EAGER,   /* up to N inners, output in outer order */
  RILL__FLAT_SWITCH,  /* the newest inner only */
  RILL__FLAT_EXHAUST, /* the running inner only; others dropped */
  RILL__FLAT_EXPAND,  /* every value emitted is also projected (expand) */
};

/* `name` is the stage name and selects its ops table ("merge_map",
 * "concat_map", "switch_map", "exhaust_map", "concat_map_eager").
 * max_concurrency 0: no limit; prefetch 0: the default.  Takes over src. */
rill_observable_t *rill__flatten_create(rill_observable_t *src,
                                        const char *name,
                                        enum rill__flat_mode mode,
                                        rill_flat_map_fn fn, void *ctx,
                                        size_t max_concurrency,
                                        size_t prefetch);
/* The same, with a destructor for ctx that runs when the recipe goes (or
 * at once if the call fails) -- "merge" uses it for its sources -- and
 * `outer_prefetch` outer values asked ahead and kept until a slot frees
 * (0: the outer is asked for one value per free slot). */
rill_observable_t *rill__flatten_create_owning(
    rill_observable_t *src, const char *name, enum rill__flat_mode mode,
    rill_flat_map_fn fn, void *ctx, void (*ctx_free)(void *ctx),
    size_t max_concurrency, size_t prefetch, uint32_t outer_prefetch);

#endif
