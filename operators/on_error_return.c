/* SPDX-License-Identifier: MIT */
/* rill: on_error_return(value) -- when the source fails, emit `value` and
 * complete (Reactor onErrorReturn; RxJS catchError(() => of(value))).
 *
 * Built on catch_error's machinery (operators/catch_error.c): the
 * selector continues with just(value), so demand carries over as there
 * (the value waits for a request) and a cancel before it went out
 * releases it.
 * Time: synchronous, none of its own.
 * Owns: `value` (taken over by the recipe); each subscription that fails
 * gets its own reference (rill_value_retain), so an owned value is
 * released once per delivery or drop, and once more with the recipe.
 * If the continuation cannot be allocated, the stream fails with
 * RILL_ENOMEM instead. */
#include <errno.h>

#include "catch_error.h"

static int on_error_return_fn(void *ctx, const rill_error_t *err,
                              rill_observable_t **next) {
  (void)err;
  const rill_value_t *value = ctx;
  *next = rill_just(1, rill_value_retain(*value));
  return *next != NULL ? 0 : RILL_ENOMEM;
}

static void on_error_return_free(void *ctx) {
  rill_value_t *value = ctx;
  rill_value_release(*value);
  rill__free(value);
}

rill_observable_t *rill_on_error_return(rill_observable_t *src,
                                        rill_value_t value) {
  rill_value_t *box = NULL;
  if (src != NULL && (box = rill__malloc(sizeof(*box))) == NULL) {
    rill_value_release(value);
    rill_observable_free(src);
    errno = ENOMEM;
    return NULL;
  }
  if (box == NULL) { /* src NULL: EINVAL (ENOMEM kept) */
    rill_value_release(value);
    return rill__catch_error_with(NULL, on_error_return_fn, NULL, NULL);
  }
  *box = value;
  return rill__catch_error_with(src, on_error_return_fn, box,
                                on_error_return_free);
}
