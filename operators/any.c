/* SPDX-License-Identifier: MIT */
/* rill: any(sources, n) -- subscribes to every source; the first to emit a
 * value wins, the others are cancelled at once, and the winner is
 * mirrored (Promise.any; RxJS has no such operator).
 *
 * Failures: before a winner, a source that fails, or completes without a
 * value (a failure with RILL_EEMPTY, as a promise that never fulfils),
 * is set aside and the others go on.  When every source has failed, one
 * error: stage "any", the first failure's code and sys_errno, and a
 * message "any: all N sources failed; first: <its message>" (cut to
 * RILL_ERROR_MESSAGE_MAX) -- Promise.any's AggregateError, with the first
 * reason instead of the list.  Once a source has won, its own error or
 * completion is mirrored as it is.  RILL_ENOMEM is the exception: out of
 * memory is the pipeline failing, not an outcome to set aside, so a
 * source failing with it cancels the others and the stream fails with it
 * at once (as every rill stage reports ENOMEM).
 * Demand (as race, RxJava amb): before a winner, each request from
 * downstream goes to every source still running, and a source subscribed
 * later is asked for what was requested until then; after, to the winner
 * alone, which has then been asked for exactly what downstream asked for.
 * Without a request no value can arrive, so nothing wins: only failures
 * are counted meanwhile.
 * Order: the sources are subscribed in order; one that wins during its
 * own subscribe leaves the later ones unsubscribed.
 * Time: none of its own.
 * n == 0 fails at once with RILL_EEMPTY (Promise.any([]) rejects).
 * Owns: the sources (with the recipe) and their subscriptions; no value
 * is held. */
#include <errno.h>

#include "kit/fan.h"

struct any_args {
  struct rill__sources *sources;
};

struct any_state {
  struct rill__fan fan;
  size_t failed;      /* sources that failed before a winner */
  rill_error_t first; /* the first of those failures */
};

/* Every source failed: one error that says so. */
static void any_fail_all(struct rill__op *op) {
  const struct any_args *a = op->args;
  struct any_state *st = op->state;
  rill_error_t err;
  if (a->sources->n == 0)
    rill__error_init(&err, RILL_EEMPTY, 0, "any",
                     "any: no sources (all 0 failed)");
  else
    rill__error_init(&err, st->first.code, st->first.sys_errno, "any",
                     "any: all %zu sources failed; first: %s", a->sources->n,
                     st->first.message);
  rill__fan_release(&st->fan);
  rill__op_error(op, &err);
}

/* ---- the sources (a kit fan, src/kit/fan.h) -------------------------------*/

static void any_source_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct any_state *st = op->state;
  if (st->fan.winner == NULL)
    rill__fan_win(&st->fan, in);
  if (st->fan.winner != in) {
    rill__drop(v);
    return;
  }
  /* A value a fused filter downstream dropped is asked for again. */
  if (!rill__op_deliver(op, v) && !rill__op_done(op) && in->up != NULL)
    rill__request(in->up, 1);
}

static void any_source_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  const struct any_args *a = op->args;
  struct any_state *st = op->state;
  if (st->fan.winner != NULL) {
    if (st->fan.winner != in)
      return;
    rill__fan_release(&st->fan);
    if (err != NULL)
      rill__op_error(op, err);
    else
      rill__op_complete(op);
    return;
  }
  if (err != NULL && err->code == RILL_ENOMEM) {
    rill__fan_release(&st->fan);
    rill__op_error(op, err);
    return;
  }
  if (st->failed++ == 0) {
    if (err != NULL)
      st->first = *err;
    else
      rill__error_init(&st->first, RILL_EEMPTY, 0, "any",
                       "source %llu completed without a value",
                       (unsigned long long)in->index);
  }
  if (st->failed == a->sources->n)
    any_fail_all(op);
}

static void any_source_upstream(struct rill__inner *in) {
  struct rill__op *op = in->owner;
  struct any_state *st = op->state;
  rill__fan_upstream(&st->fan, in);
}

static const struct rill__inner_ops any_source_ops = {
    .on_next = any_source_next,
    .on_end = any_source_end,
    .on_upstream = any_source_upstream,
};

/* ---- the stage ----------------------------------------------------------*/

static int any_init(struct rill__op *op) {
  const struct any_args *a = op->args;
  struct any_state *st = op->state;
  return rill__fan_init(&st->fan, a->sources->n, &any_source_ops, op, 0);
}

static void any_on_subscribe(struct rill__op *op) {
  const struct any_args *a = op->args;
  struct any_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (a->sources->n == 0) {
    any_fail_all(op);
    return;
  }
  rill__fan_subscribe(&st->fan, op, a->sources->items);
}

static void any_on_request(struct rill__op *op, int64_t n) {
  struct any_state *st = op->state;
  rill__fan_request(&st->fan, n);
}

static void any_on_cancel(struct rill__op *op) {
  struct any_state *st = op->state;
  rill__fan_release(&st->fan);
}

static void any_destroy(struct rill__op *op) {
  struct any_state *st = op->state;
  rill__fan_release(&st->fan);
}

static void any_args_release(void *args) {
  struct any_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops any_ops = {
    .name = "any",
    .source = true,
    .args_size = sizeof(struct any_args),
    .state_size = sizeof(struct any_state),
    .init = any_init,
    .on_subscribe = any_on_subscribe,
    .on_request = any_on_request,
    .on_cancel = any_on_cancel,
    .destroy = any_destroy,
    .args_release = any_args_release,
};

rill_observable_t *rill_any(rill_observable_t *const *sources, size_t n) {
  struct any_args args = {.sources = rill__sources_take(sources, n)};
  if (args.sources == NULL)
    return NULL;
  return rill__op_create(NULL, &any_ops, &args);
}
