/* SPDX-License-Identifier: MIT */
/* rill internals: the machinery of catch_error, shared with
 * on_error_return and on_error_complete (operators/catch_error.c). */
#ifndef RILL_OPERATORS_CATCH_ERROR_H
#define RILL_OPERATORS_CATCH_ERROR_H

#include "rill-internal.h"

/* A selector result only rill's own constructors use: complete instead of
 * failing (on_error_complete), with no observable to allocate. */
#define RILL__CATCH_COMPLETE 2

/* rill_catch_error with `ctx_free(ctx)` run when the recipe is freed (or
 * at once if this fails). */
rill_observable_t *rill__catch_error_with(rill_observable_t *src,
                                          rill_catch_fn fn, void *ctx,
                                          void (*ctx_free)(void *ctx));

#endif
