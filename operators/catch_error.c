/* SPDX-License-Identifier: MIT */
/* rill: catch_error(fn) -- when the source fails, the selector decides:
 * pass the error on, continue with another observable, subscribe to the
 * source again, or fail with its own code (RxJS catchError).
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h): requests pass to the
 * current upstream 1:1 and what downstream asked for and did not get yet
 * is counted; the continuation (or the source subscribed again) is asked
 * for exactly that, then for later requests.
 * Time: synchronous, none of its own.  A selector that resubscribes a
 * source failing inside its own subscribe does not recurse: the arbiter's
 * switch is trampolined, so a million synchronous resubscriptions keep
 * the stack flat.
 * Order: the selector runs after the failed source is gone (its
 * subscription has ended), before anything else is subscribed.
 * Owns: the source and the selector's ctx (through ctx_free, for the
 * internal constructors) in the recipe; per subscription, the
 * continuation the selector returned (freed with the subscription).
 * Errors of the continuation pass on (RxJS: the selector's observable is
 * subscribed as it is); a source subscribed again through
 * RILL_CATCH_RESUBSCRIBE is caught again.
 * RxJS differences: the selector gets the error, not the `caught`
 * observable: returning RILL_CATCH_RESUBSCRIBE is `return caught`.  A
 * selector that throws is a negative return (the stream fails with that
 * code, message "catch_error: selector (...)"). */
#include <errno.h>

#include "catch_error.h"
#include "kit/arbiter.h"

struct catch_args {
  rill_observable_t *src;
  rill_catch_fn fn;
  void *ctx;
  void (*ctx_free)(void *ctx);
};

struct catch_state {
  struct rill__arbiter arb;
  rill_observable_t *cont; /* the selector's observable (owned) */
  bool started;            /* on_subscribe went downstream */
  bool continued;          /* on the continuation: errors pass */
};

static void catch_on_subscribe(struct rill__op *op) {
  const struct catch_args *a = op->args;
  struct catch_state *st = op->state;
  if (st->started) { /* the source (again) or the continuation */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    rill__arbiter_switch(op, &st->arb, a->src);
}

static void catch_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct catch_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void catch_on_error(struct rill__op *op, const rill_error_t *err) {
  const struct catch_args *a = op->args;
  struct catch_state *st = op->state;
  if (st->continued) {
    rill__op_error(op, err);
    return;
  }
  rill_observable_t *next = NULL;
  rill_error_t copy = *err; /* the source's error may not outlive it */
  int rc = a->fn(a->ctx, &copy, &next);
  if (rill__op_done(op)) { /* the selector cancelled */
    rill_observable_free(next);
    return;
  }
  if (rc < 0) {
    rill_observable_free(next);
    rill__op_fail_callback(op, rc, "selector");
  } else if (next != NULL) {
    st->cont = next;
    st->continued = true;
    rill__arbiter_switch(op, &st->arb, next);
  } else if (rc == RILL_CATCH_RESUBSCRIBE) {
    rill__arbiter_switch(op, &st->arb, a->src);
  } else if (rc == RILL__CATCH_COMPLETE) {
    rill__op_complete(op);
  } else {
    rill__op_error(op, &copy);
  }
}

static void catch_on_request(struct rill__op *op, int64_t n) {
  struct catch_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void catch_destroy(struct rill__op *op) {
  struct catch_state *st = op->state;
  rill_observable_free(st->cont);
  st->cont = NULL;
}

static void catch_args_release(void *args) {
  struct catch_args *a = args;
  rill_observable_free(a->src);
  if (a->ctx_free != NULL)
    a->ctx_free(a->ctx);
}

static const struct rill__op_ops catch_ops = {
    .name = "catch_error",
    .source = true,
    .args_size = sizeof(struct catch_args),
    .state_size = sizeof(struct catch_state),
    .on_subscribe = catch_on_subscribe,
    .on_next = catch_on_next,
    .on_error = catch_on_error,
    .on_request = catch_on_request,
    .destroy = catch_destroy,
    .args_release = catch_args_release,
};

rill_observable_t *rill__catch_error_with(rill_observable_t *src,
                                          rill_catch_fn fn, void *ctx,
                                          void (*ctx_free)(void *ctx)) {
  if (src == NULL || fn == NULL) {
    rill_observable_free(src);
    if (ctx_free != NULL)
      ctx_free(ctx);
    if (src == NULL)
      rill__errno_null_source();
    else
      errno = EINVAL;
    return NULL;
  }
  struct catch_args args = {
      .src = src, .fn = fn, .ctx = ctx, .ctx_free = ctx_free};
  return rill__op_create(NULL, &catch_ops, &args);
}

rill_observable_t *rill_catch_error(rill_observable_t *src, rill_catch_fn fn,
                                    void *ctx) {
  return rill__catch_error_with(src, fn, ctx, NULL);
}
