/* SPDX-License-Identifier: MIT */
/* rill: concat(sources, n) -- subscribes to each source in turn, after the
 * previous one has completed, and emits their values in that order.
 *
 * Demand: the kit's arbiter (src/kit/arbiter.h) keeps what downstream
 * requested and was not yet produced, hands exactly that to each source as
 * it is subscribed, and passes new requests to the current source (no
 * prefetch: a source is asked only for what downstream wants).
 * Time: synchronous, none of its own.  A source that completes inside its
 * own subscribe (empty, range...) does not recurse into the next
 * subscribe: the arbiter's switch is trampolined, so a chain of a million
 * synchronous sources runs in constant stack.
 * Owns: the sources (in the recipe) and the current subscription.
 * An error from any source ends the whole stream at once. */
#include <errno.h>

#include "kit/arbiter.h"

struct concat_args {
  struct rill__sources *sources;
};

struct concat_state {
  struct rill__arbiter arb;
  size_t index;  /* next source to subscribe */
  bool started;  /* on_subscribe went downstream */
};

/* Subscribe the next source, or complete after the last. */
static void concat_next_source(struct rill__op *op) {
  const struct concat_args *a = op->args;
  struct concat_state *st = op->state;
  if (st->index == a->sources->n) {
    rill__op_complete(op);
    return;
  }
  rill__arbiter_switch(op, &st->arb, a->sources->items[st->index++]);
}

static void concat_on_subscribe(struct rill__op *op) {
  struct concat_state *st = op->state;
  if (st->started) { /* one of the sources */
    rill__arbiter_on_subscribe(op, &st->arb);
    return;
  }
  st->started = true; /* the dead node handed to a source operator */
  op->up = NULL;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op))
    concat_next_source(op);
}

static void concat_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct concat_state *st = op->state;
  rill__arbiter_emit(op, &st->arb, v);
}

static void concat_on_request(struct rill__op *op, int64_t n) {
  struct concat_state *st = op->state;
  rill__arbiter_request(op, &st->arb, n);
}

static void concat_args_release(void *args) {
  struct concat_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops concat_ops = {
    .name = "concat",
    .source = true,
    .args_size = sizeof(struct concat_args),
    .state_size = sizeof(struct concat_state),
    .on_subscribe = concat_on_subscribe,
    .on_next = concat_on_next,
    .on_complete = concat_next_source,
    .on_request = concat_on_request,
    .args_release = concat_args_release,
};

rill_observable_t *rill_concat(rill_observable_t *const *sources, size_t n) {
  struct concat_args args = {.sources = rill__sources_take(sources, n)};
  if (args.sources == NULL)
    return NULL;
  return rill__op_create(NULL, &concat_ops, &args);
}
