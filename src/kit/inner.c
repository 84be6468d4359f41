/* SPDX-License-Identifier: MIT */
/* rill kit: an inner subscription (see inner.h). */
#include "kit/inner.h"

static void inner_on_subscribe(struct rill__node *self, struct rill__node *up) {
  struct rill__inner *in = (struct rill__inner *)self;
  if (in->up != NULL || in->cancelled || in->done) {
    rill__cancel(up); /* rule 2.5 */
    return;
  }
  in->up = up;
  if (in->ops->on_upstream != NULL)
    in->ops->on_upstream(in);
  if (in->up != NULL && !in->cancelled && !in->polled && in->prefetch > 0)
    rill__request(up, in->prefetch);
}

static void inner_on_next(void *self, rill_value_t v) {
  struct rill__inner *in = self;
  if (in->cancelled || in->done) {
    rill__drop(v);
    return;
  }
  in->ops->on_next(in, v);
}

static void inner_end(struct rill__inner *in, const rill_error_t *err) {
  if (in->cancelled || in->done)
    return;
  in->done = true;
  in->up = NULL;
  in->ops->on_end(in, err);
}

static void inner_on_error(struct rill__node *self, const rill_error_t *err) {
  inner_end((struct rill__inner *)self, err);
}

static void inner_on_complete(struct rill__node *self) {
  inner_end((struct rill__inner *)self, NULL);
}

static void inner_free(struct rill__node *self) {
  struct rill__inner *in = (struct rill__inner *)self;
  rill__ring_clear(&in->queue);
  rill__free(in);
}

static const struct rill__node_vt inner_vt = {
    .name = "inner",
    .on_subscribe = inner_on_subscribe,
    .on_error = inner_on_error,
    .on_complete = inner_on_complete,
    .free = inner_free,
};

struct rill__inner *rill__inner_new(const struct rill__inner_ops *ops,
                                    void *owner, int64_t prefetch) {
  struct rill__inner *in = rill__calloc(1, sizeof(*in));
  if (in == NULL)
    return NULL;
  rill__node_init(&in->node, &inner_vt, inner_on_next);
  in->ops = ops;
  in->owner = owner;
  /* The queue's bound is the demand's: an inner is never asked for more
   * than its queue can hold. */
  if (prefetch > (int64_t)(UINT32_MAX / 2))
    prefetch = UINT32_MAX / 2;
  in->prefetch = prefetch > 0 ? prefetch : 1;
  rill__ring_init(&in->queue, (uint32_t)in->prefetch);
  return in;
}

void rill__inner_subscribe(struct rill__inner *in, rill_observable_t *obs) {
  rill__subscribe(obs, &in->node);
}

bool rill__inner_fuse(struct rill__inner *in) {
  if (!in->polled && in->up != NULL && !in->cancelled)
    in->polled = rill__sync_fuse(in->up);
  return in->polled;
}

void rill__inner_consumed(struct rill__inner *in, int64_t n) {
  if (in->prefetch == RILL_UNBOUNDED || in->polled)
    return;
  in->consumed += n;
  int64_t half = in->prefetch - in->prefetch / 2;
  if (in->consumed >= half && in->up != NULL && !in->cancelled) {
    int64_t k = in->consumed;
    in->consumed = 0;
    rill__request(in->up, k);
  }
}

void rill__inner_cancel(struct rill__inner *in) {
  struct rill__node *up = in->up;
  in->up = NULL;
  in->cancelled = true;
  if (up != NULL)
    rill__cancel(up);
  rill__ring_clear(&in->queue);
}

void rill__inner_release(struct rill__inner *in) {
  rill__inner_cancel(in);
  rill__retire(&in->node);
}

struct rill__inner **rill__inners_new(size_t n,
                                      const struct rill__inner_ops *ops,
                                      void *owner, int64_t prefetch) {
  struct rill__inner **in = rill__calloc(n ? n : 1, sizeof(*in));
  for (size_t i = 0; in != NULL && i < n; i++) {
    in[i] = rill__inner_new(ops, owner, prefetch);
    if (in[i] == NULL) {
      rill__inners_release(in, i);
      return NULL;
    }
    in[i]->index = i;
  }
  return in;
}

/* Every inner of the list is marked cancelled before any upstream is:
 * cancelling one may make another signal (a hook in its pipeline pushing
 * into it), and that signal must find it cancelled already, so that
 * nothing reaches the owner from a list it is letting go. */
static void inners_mark_cancelled(struct rill__inner **in, size_t n) {
  for (size_t i = 0; in != NULL && i < n; i++)
    in[i]->cancelled = true;
}

void rill__inners_cancel(struct rill__inner **in, size_t n) {
  inners_mark_cancelled(in, n);
  for (size_t i = 0; in != NULL && i < n; i++)
    rill__inner_cancel(in[i]);
}

void rill__inners_release(struct rill__inner **in, size_t n) {
  inners_mark_cancelled(in, n);
  for (size_t i = 0; in != NULL && i < n; i++)
    rill__inner_release(in[i]);
  rill__free(in);
}
