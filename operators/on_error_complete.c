/* SPDX-License-Identifier: MIT */
/* rill: on_error_complete() -- when the source fails, complete instead
 * (Reactor onErrorComplete; RxJS catchError(() => EMPTY)).
 *
 * Built on catch_error's machinery (operators/catch_error.c), with a
 * selector that completes without allocating a continuation.
 * Demand: passes requests to the source 1:1.
 * Time: synchronous, none of its own.
 * Owns: the source recipe. */
#include "catch_error.h"

static int on_error_complete_fn(void *ctx, const rill_error_t *err,
                                rill_observable_t **next) {
  (void)ctx;
  (void)err;
  (void)next;
  return RILL__CATCH_COMPLETE;
}

rill_observable_t *rill_on_error_complete(rill_observable_t *src) {
  return rill__catch_error_with(src, on_error_complete_fn, NULL, NULL);
}
