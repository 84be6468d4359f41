/* SPDX-License-Identifier: MIT */
/* rill: finalize(fn) -- calls fn(ctx) once per subscription when it is
 * over: after the terminal signal went downstream, or after a cancel
 * (RxJS finalize, RxJava doFinally).
 *
 * Demand: passes request(n) upstream 1:1; every signal passes unchanged.
 * Time: synchronous, none of its own.
 * Order: fn after every signal of its subscription (see When).
 * When: fn runs when this stage's per-subscription state is released,
 * which rill defers to the end of the outermost rill call on the stack
 * (src/core/node.h, LIFETIME).  So fn runs after the subscriber's
 * on_complete / on_error has returned, or after the cancel has reached the
 * source; a cancel made from inside on_next runs fn once that on_next and
 * the producer's call around it have returned, never under them.  A
 * subscription that fails after on_subscribe (a stage above cannot be
 * built, or this one: ENOMEM) still runs fn, after its on_error.
 * Exactly once: for every subscription whose subscriber got on_subscribe,
 * whatever the ending (complete, error, cancel, cancel twice, cancel from
 * any callback); never for a subscription that is still live.
 * Owns: nothing.  fn may call into rill (subscribe again, free
 * observables); it must not expect the subscription's handle to be usable.
 * RxJS difference: RxJS runs the callback inside unsubscribe(); here it
 * runs when rill lets go of the subscription, a little later on the same
 * stack when a cancel comes from a callback. */
#include <errno.h>

#include "rill-internal.h"

struct finalize_args {
  void (*fn)(void *ctx);
  void *ctx;
};

static void finalize_run(const void *args) {
  const struct finalize_args *a = args;
  a->fn(a->ctx);
}

/* The state goes last, after every signal of this subscription. */
static void finalize_destroy(struct rill__op *op) {
  finalize_run(op->args);
}

static const struct rill__op_ops finalize_ops = {
    .name = "finalize",
    .args_size = sizeof(struct finalize_args),
    .destroy = finalize_destroy,
    .reject = finalize_run,
};

rill_observable_t *rill_finalize(rill_observable_t *src, void (*fn)(void *ctx),
                                 void *ctx) {
  if (fn == NULL) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct finalize_args args = {.fn = fn, .ctx = ctx};
  return rill__op_create(src, &finalize_ops, &args);
}
