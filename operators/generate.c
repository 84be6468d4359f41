/* SPDX-License-Identifier: MIT */
/* rill: generate(init, next, fini, ctx) -- a pull source driven by a user
 * function: the async-generator / paginated-cursor pattern.
 *
 * Demand: next() is called exactly once per requested item and never ahead
 * of demand; a test counts the calls.  Completion is known only when next()
 * returns 0, so it arrives in answer to a request (unlike range).
 * Time: synchronous.
 * Owns: the per-subscription state made by init(), released by fini() on
 * every path (complete, error, cancel). */
#include <errno.h>

#include "rill-internal.h"

struct gen_obs {
  struct rill__pull_obs base;
  rill_generate_init_fn init;
  rill_generate_next_fn next;
  rill_generate_fini_fn fini;
  void *ctx;
};

struct gen_state {
  void *state;
};

static int gen_init(struct rill__pull *p) {
  const struct gen_obs *o = (const struct gen_obs *)p->obs;
  struct gen_state *st = p->state;
  st->state = o->ctx;
  if (o->init == NULL)
    return 0;
  int rc = o->init(o->ctx, &st->state);
  return rc < 0 ? rc : 0;
}

static int gen_pull(struct rill__pull *p, rill_value_t *out) {
  const struct gen_obs *o = (const struct gen_obs *)p->obs;
  struct gen_state *st = p->state;
  int rc = o->next(st->state, out);
  return rc > 0 ? 1 : rc;
}

static void gen_destroy(struct rill__pull *p) {
  const struct gen_obs *o = (const struct gen_obs *)p->obs;
  struct gen_state *st = p->state;
  if (o->fini != NULL)
    o->fini(st->state);
}

static const struct rill__pull_ops gen_ops = {
    .name = "generate",
    .state_size = sizeof(struct gen_state),
    .init = gen_init,
    .pull = gen_pull,
    .destroy = gen_destroy,
};

rill_observable_t *rill_generate(rill_generate_init_fn init,
                                 rill_generate_next_fn next,
                                 rill_generate_fini_fn fini, void *ctx) {
  if (next == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct gen_obs *o = rill__pull_obs_alloc(sizeof(*o), &gen_ops);
  if (o == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  o->init = init;
  o->next = next;
  o->fini = fini;
  o->ctx = ctx;
  return &o->base.base;
}
