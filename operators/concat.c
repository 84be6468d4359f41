/* rill: concat(sources, n) -- subscribes to each source in turn, after the
 * previous one has completed, and emits their values in that order.
 *
 * Demand: keeps the outstanding downstream demand and hands it to each
 * source as it is subscribed; passes new requests to the current source.
 * Time: synchronous, none of its own.  A source that completes inside its
 * own subscribe (empty, range...) does not recurse into the next
 * subscribe: a trampoline loop subscribes the next one, so a chain of
 * 100,000 synchronous sources runs in constant stack.
 * Owns: the sources (in the recipe) and the current inner subscription.
 * An error from any source ends the whole stream at once. */
#include <errno.h>

#include "rill-internal.h"

struct concat_obs {
  rill_observable_t base;
  size_t n;
  rill_observable_t *sources[];
};

struct concat_node {
  struct rill__node node;
  struct rill__node *up; /* current source's subscription */
  struct rill__node *down;
  struct concat_obs *obs;
  size_t index;     /* next source to subscribe */
  int64_t demand;   /* outstanding downstream demand */
  bool subscribing; /* trampoline: the subscribe loop is on the stack */
  bool advance;     /* the current source completed: subscribe the next */
  bool started;     /* on_subscribe was delivered downstream */
};

static void concat_advance(struct concat_node *c);

/* ---- handlers -----------------------------------------------------------*/

static void concat_on_subscribe(struct rill__node *self,
                                struct rill__node *up) {
  struct concat_node *c = (struct concat_node *)self;
  if (c->up != NULL || rill__node_done(self)) {
    rill__cancel(up);
    return;
  }
  c->up = up;
  if (c->demand > 0)
    rill__request(up, c->demand);
}

static void concat_on_next(void *self, rill_value_t v) {
  struct concat_node *c = self;
  if (rill__node_done(&c->node)) {
    rill__drop(v);
    return;
  }
  if (!rill__emit(c->down, v)) {
    if (c->up != NULL && !rill__node_done(&c->node))
      rill__request(c->up, 1);
  } else if (c->demand != RILL_UNBOUNDED && c->demand > 0) {
    c->demand--;
  }
}

static void concat_on_error(struct rill__node *self, const rill_error_t *err) {
  struct concat_node *c = (struct concat_node *)self;
  if (rill__node_done(self))
    return;
  c->up = NULL;
  c->node.flags |= RILL__DONE;
  c->down->vt->on_error(c->down, err);
  rill__retire(self);
}

static void concat_on_complete(struct rill__node *self) {
  struct concat_node *c = (struct concat_node *)self;
  if (rill__node_done(self))
    return;
  c->up = NULL;
  concat_advance(c);
}

static void concat_request(struct rill__node *self, int64_t n) {
  struct concat_node *c = (struct concat_node *)self;
  if (rill__node_done(self))
    return;
  c->demand = rill__demand_add(c->demand, n);
  if (c->up != NULL)
    rill__request(c->up, n);
}

static void concat_cancel(struct rill__node *self) {
  struct concat_node *c = (struct concat_node *)self;
  if (rill__node_done(self))
    return;
  c->node.flags |= RILL__DONE;
  struct rill__node *up = c->up;
  c->up = NULL;
  if (up != NULL)
    rill__cancel(up);
  rill__retire(self);
}

static void concat_free(struct rill__node *self) {
  struct concat_node *c = (struct concat_node *)self;
  rill_observable_free(&c->obs->base);
  rill__free(c);
}

static const struct rill__node_vt concat_node_vt = {
    .name = "concat",
    .on_subscribe = concat_on_subscribe,
    .on_error = concat_on_error,
    .on_complete = concat_on_complete,
    .request = concat_request,
    .cancel = concat_cancel,
    .free = concat_free,
};

/* Subscribe the next source, or complete; loops instead of recursing. */
static void concat_advance(struct concat_node *c) {
  c->advance = true;
  if (c->subscribing)
    return;
  c->subscribing = true;
  while (c->advance && !rill__node_done(&c->node)) {
    c->advance = false;
    if (c->index == c->obs->n) {
      c->node.flags |= RILL__DONE;
      c->down->vt->on_complete(c->down);
      rill__retire(&c->node);
      break;
    }
    rill__subscribe(c->obs->sources[c->index++], &c->node);
  }
  c->subscribing = false;
}

/* ---- the recipe ---------------------------------------------------------*/

static void concat_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct concat_node *c = rill__calloc(1, sizeof(*c));
  if (c == NULL) {
    rill__reject(down, RILL_ENOMEM, "concat");
    return;
  }
  rill__node_init(&c->node, &concat_node_vt, concat_on_next);
  c->down = down;
  c->obs = (struct concat_obs *)rill_observable_ref(self);
  down->vt->on_subscribe(down, &c->node);
  concat_advance(c);
}

static void concat_destroy(rill_observable_t *self) {
  struct concat_obs *o = (struct concat_obs *)self;
  for (size_t i = 0; i < o->n; i++)
    rill_observable_free(o->sources[i]);
}

static const struct rill__obs_vt concat_vt = {
    .name = "concat",
    .subscribe = concat_subscribe,
    .destroy = concat_destroy,
};

/* Shared by concat and merge: take over n sources into a new recipe. */
rill_observable_t *rill__combine_create(rill_observable_t *const *sources,
                                        size_t n, size_t head,
                                        const struct rill__obs_vt *vt) {
  bool ok = sources != NULL || n == 0;
  for (size_t i = 0; ok && i < n; i++)
    ok = sources[i] != NULL;
  void *o = NULL;
  if (ok && n <= (SIZE_MAX - head) / sizeof(rill_observable_t *))
    o = rill__obs_alloc(head + n * sizeof(rill_observable_t *), vt);
  if (o == NULL) {
    for (size_t i = 0; sources != NULL && i < n; i++)
      rill_observable_free(sources[i]);
    if (ok)
      errno = ENOMEM;
    else
      rill__errno_null_source();
    return NULL;
  }
  if (n != 0)
    memcpy((unsigned char *)o + head, sources, n * sizeof(*sources));
  return o;
}

rill_observable_t *rill_concat(rill_observable_t *const *sources, size_t n) {
  struct concat_obs *o = (struct concat_obs *)rill__combine_create(
      sources, n, offsetof(struct concat_obs, sources), &concat_vt);
  if (o == NULL)
    return NULL;
  o->n = n;
  return &o->base;
}
