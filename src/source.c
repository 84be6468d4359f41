/* SPDX-License-Identifier: MIT */
/* rill: the drain loop shared by pull sources (just, from_array, generate).
 *
 * request() adds demand and runs the loop unless it is already on the stack
 * (rule 3.3): a request(1) made from inside on_next returns at once and the
 * outer loop delivers the next value, so stack depth stays constant. */
#include <errno.h>

#include "rill-internal.h"

static void pull_complete(struct rill__pull *p) {
  p->node.flags |= RILL__DONE;
  p->down->vt->on_complete(p->down);
  rill__retire(&p->node);
}

static void pull_error_init(const struct rill__pull *p, int code,
                            rill_error_t *err) {
  rill__error_init(err, code, 0, p->ops->name, "%s: %s", p->ops->name,
                   rill_strerror(code));
}

static void pull_error(struct rill__pull *p, int code) {
  rill_error_t err;
  pull_error_init(p, code, &err);
  p->node.flags |= RILL__DONE;
  p->down->vt->on_error(p->down, &err);
  rill__retire(&p->node);
}

static void pull_drain(struct rill__pull *p) {
  if (p->emitting)
    return;
  p->emitting = true;
  const struct rill__pull_ops *ops = p->ops;
  while (!rill__node_done(&p->node)) {
    if (ops->exhausted != NULL && ops->exhausted(p)) {
      pull_complete(p);
      break;
    }
    if (p->demand == 0)
      break;
    rill_value_t v;
    int rc = ops->pull(p, &v);
    if (rc == 0) {
      pull_complete(p);
      break;
    }
    if (rc < 0) {
      pull_error(p, rc);
      break;
    }
    if (rill__emit(p->down, v) && p->demand != RILL_UNBOUNDED)
      p->demand--;
  }
  p->emitting = false;
}

static void pull_request(struct rill__node *self, int64_t n) {
  struct rill__pull *p = (struct rill__pull *)self;
  if ((self->flags & (RILL__DONE | RILL__POLLED)) != 0)
    return;
  p->demand = rill__demand_add(p->demand, n);
  pull_drain(p);
}

static void pull_cancel(struct rill__node *self) {
  if (rill__node_done(self))
    return;
  rill__retire(self);
}

static void pull_free(struct rill__node *self) {
  struct rill__pull *p = (struct rill__pull *)self;
  if (p->inited && p->ops->destroy != NULL)
    p->ops->destroy(p);
  rill_observable_free(p->obs);
  rill__free(p);
}

/* Synchronous fusion (core/node.h): the subscriber pulls through poll. */
static bool pull_sync_fuse(struct rill__node *self) {
  self->flags |= RILL__POLLED;
  return true;
}

/* Up to `max` pulls; the node is checked after each (a user function may
 * cancel it).  An `exhausted` source finishes with its last value. */
static int pull_poll(struct rill__node *self, rill_value_t *out,
                     size_t stride, size_t max, size_t *n,
                     rill_error_t *err) {
  struct rill__pull *p = (struct rill__pull *)self;
  const struct rill__pull_ops *ops = p->ops;
  size_t k = 0;
  int rc = 1;
  while (k < max && !rill__node_done(self)) {
    rc = ops->pull(p, out + k * stride);
    if (RILL__UNLIKELY(rill__node_done(self))) { /* cancelled inside */
      if (rc > 0)
        rill_value_release(out[k * stride]);
      break;
    }
    if (rc <= 0)
      break;
    k++;
  }
  *n = k;
  if (rill__node_done(self))
    return 0;
  if (rc > 0 && (ops->exhausted == NULL || !ops->exhausted(p)))
    return 1;
  if (rc < 0)
    pull_error_init(p, rc, err);
  self->flags |= RILL__DONE;
  rill__retire(self);
  return rc < 0 ? rc : 0;
}

static const struct rill__node_vt pull_node_vt = {
    .name = "source",
    .request = pull_request,
    .cancel = pull_cancel,
    .free = pull_free,
    .sync_fuse = pull_sync_fuse,
    .poll = pull_poll,
};

#define PULL_HEAD_SIZE                                                         \
  ((sizeof(struct rill__pull) + _Alignof(max_align_t) - 1) &                   \
   ~(_Alignof(max_align_t) - 1))

static void pull_subscribe(rill_observable_t *self, struct rill__node *down) {
  const struct rill__pull_ops *ops = ((struct rill__pull_obs *)self)->ops;
  struct rill__pull *p = rill__calloc(1, PULL_HEAD_SIZE + ops->state_size);
  if (p == NULL) {
    rill__reject(down, RILL_ENOMEM, ops->name);
    return;
  }
  rill__node_init(&p->node, &pull_node_vt, NULL);
  p->node.flags |= RILL__PULL_ONLY;
  p->down = down;
  p->obs = rill_observable_ref(self);
  p->ops = ops;
  p->state = (unsigned char *)p + PULL_HEAD_SIZE;
  int rc = ops->init != NULL ? ops->init(p) : 0;
  if (rc < 0) {
    rill__retire(&p->node);
    rill__reject(down, rc, ops->name);
    return;
  }
  p->inited = true;
  down->vt->on_subscribe(down, &p->node);
  /* Complete a source with nothing to send without waiting for demand
   * (unless the subscriber polls: it learns the end from poll). */
  if ((p->node.flags & (RILL__DONE | RILL__POLLED)) == 0 &&
      ops->exhausted != NULL && ops->exhausted(p))
    pull_drain(p);
}

static void pull_obs_destroy(rill_observable_t *self) {
  const struct rill__pull_ops *ops = ((struct rill__pull_obs *)self)->ops;
  if (ops->recipe_release != NULL)
    ops->recipe_release(self);
}

static const struct rill__obs_vt pull_obs_vt = {
    .name = "source",
    .subscribe = pull_subscribe,
    .destroy = pull_obs_destroy,
};

void *rill__pull_obs_alloc(size_t size, const struct rill__pull_ops *ops) {
  struct rill__pull_obs *o = rill__obs_alloc(size, &pull_obs_vt);
  if (o == NULL)
    return NULL;
  o->ops = ops;
  o->base.name = ops->name;
  return o;
}

/* ---- stateless sources --------------------------------------------------*/

void rill__stateless_complete(struct rill__node *down) {
  down->vt->on_subscribe(down, &rill__dead_node);
  down->vt->on_complete(down); /* ignored if down cancelled meanwhile */
}
