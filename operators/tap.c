/* SPDX-License-Identifier: MIT */
/* rill: tap(hooks) -- calls the caller's hooks as the signals pass, and
 * passes every signal on unchanged (RxJS tap, with RxJava's doOnRequest and
 * doOnCancel).
 *
 * Demand: passes request(n) upstream 1:1.
 * Time: synchronous, none of its own.
 * Order: each hook runs before its signal goes on: on_next before the value
 * goes downstream, on_error / on_complete before the terminal, on_request
 * before the request goes upstream, on_cancel before the cancel goes
 * upstream.
 * on_cancel: runs only for a cancel that comes from downstream, at most
 * once; never after a terminal (a cancel then is a no-op), and not when
 * this stage ends the stream itself (a failing on_next hook).
 * on_error: sees the source's error only, not the failure of this stage's
 * own on_next hook (as in RxJS).
 * on_request: sees only positive n (a bad request is turned into on_error
 * by the subscription before it reaches any stage).
 * Owns: nothing per subscription; the hooks struct is copied at
 * construction (the caller's may go away), NULL members are skipped.
 * Values and errors are borrowed by the hooks.  on_next returning a
 * negative code releases the value, cancels upstream and delivers on_error
 * (stage "tap", that code, a rill_fail() message if one was attached); a
 * result >= 0 lets the value pass.  A hook may cancel the subscription:
 * nothing more is signalled then (a value in flight is released).
 * RxJS differences: no subscribe/unsubscribe/finalize hooks (finalize is
 * its own operator); hooks == NULL is a bad argument (NULL, errno EINVAL,
 * source released) rather than a no-op tap. */
#include <errno.h>

#include "rill-internal.h"

struct tap_args {
  rill_tap_hooks_t hooks;
  void *ctx;
};

static void tap_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct tap_args *a = op->args;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (a->hooks.on_next != NULL) {
    int rc = a->hooks.on_next(a->ctx, v);
    if (rc < 0) {
      rill__drop(v);
      rill__op_fail_callback(op, rc, "on_next hook failed");
      return;
    }
  }
  rill__op_emit(op, v);
}

static void tap_on_error(struct rill__op *op, const rill_error_t *err) {
  const struct tap_args *a = op->args;
  if (a->hooks.on_error != NULL)
    a->hooks.on_error(a->ctx, err);
  rill__op_error(op, err);
}

static void tap_on_complete(struct rill__op *op) {
  const struct tap_args *a = op->args;
  if (a->hooks.on_complete != NULL)
    a->hooks.on_complete(a->ctx);
  rill__op_complete(op);
}

static void tap_on_request(struct rill__op *op, int64_t n) {
  const struct tap_args *a = op->args;
  if (a->hooks.on_request != NULL)
    a->hooks.on_request(a->ctx, n);
  rill__op_request_up(op, n); /* a no-op if the hook cancelled */
}

static void tap_on_cancel(struct rill__op *op) {
  const struct tap_args *a = op->args;
  if (a->hooks.on_cancel != NULL)
    a->hooks.on_cancel(a->ctx);
}

static const struct rill__op_ops tap_ops = {
    .name = "tap",
    .args_size = sizeof(struct tap_args),
    .on_next = tap_on_next,
    .on_error = tap_on_error,
    .on_complete = tap_on_complete,
    .on_request = tap_on_request,
    .on_cancel = tap_on_cancel,
};

rill_observable_t *rill_tap(rill_observable_t *src,
                            const rill_tap_hooks_t *hooks, void *ctx) {
  if (hooks == NULL) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct tap_args args = {.hooks = *hooks, .ctx = ctx};
  return rill__op_create(src, &tap_ops, &args);
}
