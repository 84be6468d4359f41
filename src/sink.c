/* SPDX-License-Identifier: MIT */
/* rill: the user's end of a pipeline.  A subscription is the last node; its
 * on_next goes straight to the user's callback when rill does not need to
 * count (raw or unbounded demand), and through a small counter for the
 * prefetch/refill policy. */
#include <errno.h>

#include "rill-internal.h"

enum sink_policy { SINK_RAW, SINK_UNBOUNDED, SINK_BATCH };

struct rill_subscription_s {
  struct rill__node node;
  struct rill__node *up;
  rill_subscriber_t cb;
  void *ctx;
  enum sink_policy policy;
  int64_t batch;    /* SINK_BATCH: initial request */
  int64_t refill;   /* SINK_BATCH: top up after this many */
  int64_t consumed; /* SINK_BATCH: delivered since the last top-up */
  uint32_t refs;    /* 1 for the pipeline, +1 for an `out` handle */
};

/* ---- node handlers ------------------------------------------------------*/

static void sink_discard_next(void *self, rill_value_t v) {
  (void)self;
  rill_value_release(v);
}

static void sink_batch_next(void *self, rill_value_t v) {
  rill_subscription_t *s = self;
  if (s->cb.on_next != NULL)
    s->cb.on_next(s->ctx, v);
  else
    rill_value_release(v);
  if (++s->consumed >= s->refill && !rill__node_done(&s->node) && s->up) {
    int64_t n = s->consumed;
    s->consumed = 0;
    rill__request(s->up, n);
  }
}

static void sink_on_subscribe(struct rill__node *self, struct rill__node *up) {
  rill_subscription_t *s = (rill_subscription_t *)self;
  if (s->up != NULL || rill__node_done(self)) {
    rill__cancel(up); /* rule 2.5 */
    return;
  }
  s->up = up;
  if (s->cb.on_subscribe != NULL)
    s->cb.on_subscribe(s->ctx, s);
  if (s->policy == SINK_RAW || rill__node_done(self) || s->up == NULL)
    return;
  rill__request(s->up, s->policy == SINK_BATCH ? s->batch : RILL_UNBOUNDED);
}

static void sink_finish(rill_subscription_t *s) {
  s->node.flags |= RILL__DONE;
  s->up = NULL;
  rill__retire(&s->node);
}

static void sink_on_error(struct rill__node *self, const rill_error_t *err) {
  rill_subscription_t *s = (rill_subscription_t *)self;
  if (rill__node_done(self))
    return;
  sink_finish(s);
  if (s->cb.on_error != NULL)
    s->cb.on_error(s->ctx, err);
}

static void sink_on_complete(struct rill__node *self) {
  rill_subscription_t *s = (rill_subscription_t *)self;
  if (rill__node_done(self))
    return;
  sink_finish(s);
  if (s->cb.on_complete != NULL)
    s->cb.on_complete(s->ctx);
}

/* Nothing is downstream of a sink. */
static void sink_request(struct rill__node *self, int64_t n) {
  (void)self;
  (void)n;
}
static void sink_cancel(struct rill__node *self) {
  (void)self;
}

/* The pipeline lets go of the sink (at the outermost rill call after the
 * last signal): on_release, then free unless an `out` handle holds it. */
static void sink_free(struct rill__node *self) {
  rill_subscription_t *s = (rill_subscription_t *)self;
  void (*release)(void *ctx) = s->cb.on_release;
  void *ctx = s->ctx;
  if (--s->refs == 0)
    rill__free(s);
  if (release != NULL)
    release(ctx);
}

static const struct rill__node_vt sink_vt = {
    .name = "subscriber",
    .on_subscribe = sink_on_subscribe,
    .on_error = sink_on_error,
    .on_complete = sink_on_complete,
    .request = sink_request,
    .cancel = sink_cancel,
    .free = sink_free,
};

/* ---- public API ---------------------------------------------------------*/

static int sink_start(rill_observable_t *obs, const rill_subscriber_t *sub,
                      void *ctx, enum sink_policy policy, int64_t batch,
                      rill_subscription_t **out) {
  if (out != NULL)
    *out = NULL;
  if (obs == NULL || sub == NULL || obs->magic != RILL__OBS_MAGIC)
    return RILL_EINVAL;
  rill_subscription_t *s = rill__calloc(1, sizeof(*s));
  if (s == NULL)
    return RILL_ENOMEM;
  rill__node_init(&s->node, &sink_vt, sink_discard_next);
  s->cb = *sub;
  s->ctx = ctx;
  s->policy = policy;
  s->batch = batch;
  s->refill = batch > 1 ? batch / 2 : 1;
  s->refs = out != NULL ? 2 : 1;
  if (policy == SINK_BATCH) {
    s->node.next_fn = sink_batch_next;
    s->node.next_ctx = s;
  } else if (sub->on_next != NULL) {
    s->node.next_fn = sub->on_next; /* no wrapper on the hot path */
    s->node.next_ctx = ctx;
  }
  /* The handle is the caller's before any signal can run: a callback that
   * ends the stream synchronously may already use or free it. */
  if (out != NULL)
    *out = s;
  rill__enter();
  rill__subscribe(obs, &s->node);
  rill__leave();
  return 0;
}

int rill_observable_subscribe(rill_observable_t *obs,
                              const rill_subscriber_t *sub, void *ctx,
                              rill_subscription_t **out) {
  if (sub == NULL || sub->on_subscribe == NULL) {
    if (out != NULL)
      *out = NULL;
    return RILL_EINVAL;
  }
  return sink_start(obs, sub, ctx, SINK_RAW, 0, out);
}

int rill_observable_consume(rill_observable_t *obs,
                            const rill_subscriber_t *sub, void *ctx,
                            int64_t batch, rill_subscription_t **out) {
  if (batch < 1) {
    if (out != NULL)
      *out = NULL;
    return RILL_EINVAL;
  }
  return sink_start(obs, sub, ctx,
                    batch == RILL_UNBOUNDED ? SINK_UNBOUNDED : SINK_BATCH,
                    batch, out);
}

int rill_subscription_request(rill_subscription_t *s, int64_t n) {
  if (s == NULL)
    return RILL_EINVAL;
  if (rill__node_done(&s->node))
    return 0;
  rill__enter();
  if (n <= 0) {
    /* Rule 3.9: a non-positive request is an error delivered as a signal. */
    struct rill__node *up = s->up;
    rill_error_t err;
    rill__error_init(&err, RILL_EINVAL, 0, "subscription",
                     "non-positive subscription request (rule 3.9): %lld",
                     (long long)n);
    sink_finish(s);
    if (up != NULL)
      rill__cancel(up);
    if (s->cb.on_error != NULL)
      s->cb.on_error(s->ctx, &err);
  } else if (s->up != NULL) {
    rill__request(s->up, n);
  }
  rill__leave();
  return 0;
}

int rill_subscription_cancel(rill_subscription_t *s) {
  if (s == NULL)
    return RILL_EINVAL;
  if (rill__node_done(&s->node))
    return 0;
  rill__enter();
  struct rill__node *up = s->up;
  sink_finish(s);
  if (up != NULL)
    rill__cancel(up);
  rill__leave();
  return 0;
}

bool rill_subscription_done(const rill_subscription_t *s) {
  return s == NULL || rill__node_done(&s->node);
}

void rill_subscription_free(rill_subscription_t *s) {
  if (s == NULL)
    return;
  rill_subscription_cancel(s);
  if (--s->refs == 0)
    rill__free(s);
}

/* ---- collect ------------------------------------------------------------*/

struct collect {
  rill_values_t *out;
  rill_subscription_t *s;
  rill_error_t *err;
  int rc;
  bool terminated;
};

static void collect_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct collect *c = ctx;
  c->s = s;
}

static void collect_on_next(void *ctx, rill_value_t v) {
  struct collect *c = ctx;
  rill_values_t *out = c->out;
  if (out->len == out->cap) {
    size_t cap = out->cap ? out->cap * 2 : 16;
    rill_value_t *items = NULL;
    if (cap <= SIZE_MAX / sizeof(rill_value_t))
      items = rill__realloc(out->items, cap * sizeof(rill_value_t));
    if (items == NULL) {
      rill_value_release(v);
      c->rc = RILL_ENOMEM;
      c->terminated = true;
      rill_subscription_cancel(c->s);
      return;
    }
    out->items = items;
    out->cap = cap;
  }
  out->items[out->len++] = v;
}

static void collect_on_error(void *ctx, const rill_error_t *err) {
  struct collect *c = ctx;
  c->terminated = true;
  c->rc = err->code < 0 ? err->code : RILL_EUSER;
  if (c->err != NULL)
    *c->err = *err;
}

static void collect_on_complete(void *ctx) {
  struct collect *c = ctx;
  c->terminated = true;
}

int rill_observable_collect(rill_observable_t *obs, rill_values_t *out,
                            rill_error_t *err) {
  if (obs == NULL || out == NULL)
    return RILL_EINVAL;
  static const rill_subscriber_t collector = {
      .on_subscribe = collect_on_subscribe,
      .on_next = collect_on_next,
      .on_error = collect_on_error,
      .on_complete = collect_on_complete,
  };
  struct collect c = {.out = out, .err = err};
  rill_subscription_t *s;
  int rc = rill_observable_consume(obs, &collector, &c, RILL_UNBOUNDED, &s);
  if (rc < 0)
    return rc;
  if (!c.terminated)
    c.rc = RILL_EAGAIN;
  rill_subscription_free(s);
  return c.rc;
}

void rill_values_clear(rill_values_t *v) {
  if (v == NULL)
    return;
  for (size_t i = 0; i < v->len; i++)
    rill_value_release(v->items[i]);
  rill__free(v->items);
  v->items = NULL;
  v->len = 0;
  v->cap = 0;
}
