/* SPDX-License-Identifier: MIT */
/* rill: fused map/filter stages.
 *
 * rill_map() and rill_filter() do not build one stage each: consecutive
 * maps and filters collapse into one "fused" observable holding an array of
 * steps (most.js and Reactor do the same).  At subscribe time the fused
 * stage becomes one node whose steps run inline inside the producer's
 * rill__emit(), followed directly by the next stage's on_next; a value a
 * filter drops simply does not consume demand.  Demand passes through 1:1. */
#include <errno.h>

#include "rill-internal.h"

struct fused_obs {
  rill_observable_t base;
  rill_observable_t *source; /* never itself a fused_obs */
  uint32_t nsteps;
  struct rill__step steps[];
};

struct fused_node {
  struct rill__node node;
  struct rill__node *up;
  struct rill__node *down;
  rill_observable_t *obs;
};

/* ---- running steps (the hot path) ---------------------------------------*/

static void fused_fail(struct fused_node *f, int code, const char *stage);

/* A fused user callback failed: cancel upstream, error downstream.  The
 * producer sees its own node cancelled and stops. */
bool rill__steps_fail(struct rill__node *d, int code, int kind) {
  if (!rill__node_done(d))
    fused_fail((struct fused_node *)d, code, kind == 0 ? "map" : "filter");
  return false;
}

/* Used only if the next stage has steps of its own (not built today). */
static void fused_forward_next(void *self, rill_value_t v) {
  struct fused_node *f = self;
  if (!rill__emit(f->down, v) && !rill__node_done(&f->node) && f->up)
    rill__request(f->up, 1);
}

/* ---- node handlers ------------------------------------------------------*/

static void fused_on_subscribe(struct rill__node *self, struct rill__node *up) {
  struct fused_node *f = (struct fused_node *)self;
  if (f->up != NULL || rill__node_done(self)) {
    rill__cancel(up);
    return;
  }
  f->up = up;
  f->down->vt->on_subscribe(f->down, self);
}

static void fused_finish(struct fused_node *f) {
  f->node.flags |= RILL__DONE;
  /* A producer running our steps stops at its next compare. */
  f->node.gate_map = RILL__GATE_SHUT;
  f->node.gate_pred = RILL__GATE_SHUT;
  f->up = NULL;
  rill__retire(&f->node);
}

static void fused_on_error(struct rill__node *self, const rill_error_t *err) {
  struct fused_node *f = (struct fused_node *)self;
  if (rill__node_done(self))
    return;
  fused_finish(f);
  f->down->vt->on_error(f->down, err);
}

static void fused_on_complete(struct rill__node *self) {
  struct fused_node *f = (struct fused_node *)self;
  if (rill__node_done(self))
    return;
  fused_finish(f);
  f->down->vt->on_complete(f->down);
}

static void fused_request(struct rill__node *self, int64_t n) {
  struct fused_node *f = (struct fused_node *)self;
  if (!rill__node_done(self) && f->up != NULL)
    rill__request(f->up, n);
}

static void fused_cancel(struct rill__node *self) {
  struct fused_node *f = (struct fused_node *)self;
  if (rill__node_done(self))
    return;
  struct rill__node *up = f->up;
  fused_finish(f);
  if (up != NULL)
    rill__cancel(up);
}

/* ---- synchronous fusion (core/node.h) ------------------------------------
 * Offered when the upstream offers it: a poll polls upstream for what is
 * missing and runs the steps on each value, in place; a step's failure
 * or a cancel from inside a step ends it like the upstream's would. */
static bool fused_sync_fuse(struct rill__node *self) {
  struct fused_node *f = (struct fused_node *)self;
  if (f->up == NULL || !rill__sync_fuse(f->up))
    return false;
  self->flags |= RILL__POLLED;
  return true;
}

/* A step failed while polled: the error goes to the poller, not down. */
static int fused_poll_fail(struct fused_node *f, int code, int kind,
                           rill_error_t *err) {
  struct rill__node *up = f->up;
  rill__error_callback(err, kind == RILL__STEP_MAP ? "map" : "filter", code,
                       "callback failed");
  fused_finish(f);
  if (up != NULL)
    rill__cancel(up);
  return code;
}

/* The steps on v (owned): 1 with *out; 0 dropped, 2 cancelled inside a
 * step, < 0 a step failed (v released in all three). */
static int fused_poll_steps(struct fused_node *f, rill_value_t v,
                            rill_value_t *out, rill_error_t *err) {
  const struct rill__step *s = f->node.steps;
  const struct rill__step *end = s + f->node.nsteps;
  for (; s != end; s++) {
    int rc;
    if (s->kind == RILL__STEP_MAP) {
      rill_value_t m;
      rc = s->fn.map(s->ctx, v, &m);
      rill_value_release(v);
      if (rc >= 0)
        v = m;
    } else {
      rc = s->fn.pred(s->ctx, v);
      if (rc <= 0)
        rill_value_release(v);
    }
    if (RILL__UNLIKELY(rill__node_done(&f->node))) { /* cancelled inside */
      if (rc > 0 || (s->kind == RILL__STEP_MAP && rc == 0))
        rill_value_release(v);
      return 2;
    }
    if (RILL__UNLIKELY(rc < 0))
      return fused_poll_fail(f, rc, s->kind, err);
    if (s->kind == RILL__STEP_FILTER && rc == 0)
      return 0;
  }
  *out = v;
  return 1;
}

/* Polls upstream for what is missing, runs the steps on each value and
 * keeps those that pass, packed, until `max` passed or upstream is over. */
static int fused_poll(struct rill__node *self, rill_value_t *out, size_t stride,
                      size_t max, size_t *n, rill_error_t *err) {
  struct fused_node *f = (struct fused_node *)self;
  size_t got = 0;
  int rc = 1;
  while (got < max && rc == 1 && !rill__node_done(self)) {
    size_t base = got, k = 0;
    rc = rill__poll(f->up, out + base * stride, stride, max - base, &k, err);
    if (rc != 1)
      f->up = NULL; /* finished (exhausted, failed: *err is its) */
    /* Passed values are packed down: `got` never passes the read index. */
    size_t j = 0;
    while (j < k) {
      rill_value_t v = out[(base + j) * stride];
      j++;
      int st = fused_poll_steps(f, v, &out[got * stride], err);
      if (st == 1) {
        got++;
        continue;
      }
      if (st == 0)
        continue;
      for (; j < k; j++) /* cancelled or failed: the rest goes */
        rill_value_release(out[(base + j) * stride]);
      *n = got;
      return st == 2 ? 0 : st;
    }
  }
  *n = got;
  if (rill__node_done(self)) /* cancelled meanwhile */
    return 0;
  if (rc == 1)
    return 1;
  fused_finish(f);
  return rc;
}

static void fused_free(struct rill__node *self) {
  struct fused_node *f = (struct fused_node *)self;
  rill_observable_free(f->obs);
  rill__free(f);
}

static const struct rill__node_vt fused_node_vt = {
    .name = "map/filter",
    .on_subscribe = fused_on_subscribe,
    .on_error = fused_on_error,
    .on_complete = fused_on_complete,
    .request = fused_request,
    .cancel = fused_cancel,
    .free = fused_free,
    .sync_fuse = fused_sync_fuse,
    .poll = fused_poll,
};

/* A user callback failed: cancel upstream, error downstream. */
static void fused_fail(struct fused_node *f, int code, const char *stage) {
  struct rill__node *up = f->up;
  rill_error_t err;
  rill__error_callback(&err, stage, code, "callback failed");
  fused_finish(f);
  if (up != NULL)
    rill__cancel(up);
  f->down->vt->on_error(f->down, &err);
}

/* ---- the recipe ---------------------------------------------------------*/

static void fused_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct fused_obs *o = (struct fused_obs *)self;
  struct fused_node *f = rill__calloc(1, sizeof(*f));
  if (f == NULL) {
    rill__reject(down, RILL_ENOMEM, self->name);
    return;
  }
  rill__node_init(&f->node, &fused_node_vt, fused_forward_next);
  f->node.steps = o->steps;
  f->node.steps_owner = &f->node;
  f->node.nsteps = o->nsteps;
  if (down->nsteps == 0) {
    f->node.next_fn = down->next_fn;
    f->node.next_ctx = down->next_ctx;
  }
  f->down = down;
  f->obs = rill_observable_ref(self);
  rill__subscribe(o->source, &f->node);
}

static void fused_destroy(rill_observable_t *self) {
  struct fused_obs *o = (struct fused_obs *)self;
  rill_observable_free(o->source);
}

static const struct rill__obs_vt fused_vt = {
    .name = "map/filter",
    .subscribe = fused_subscribe,
    .destroy = fused_destroy,
};

rill_observable_t *rill__fuse(rill_observable_t *src,
                              const struct rill__step *step) {
  if (src == NULL) {
    rill__errno_null_source();
    return NULL;
  }
  const struct fused_obs *prev = NULL;
  uint32_t n = 1;
  if (src->vt == &fused_vt) {
    prev = (const struct fused_obs *)src;
    n += prev->nsteps;
  }
  struct fused_obs *o =
      rill__obs_alloc(sizeof(*o) + n * sizeof(struct rill__step), &fused_vt);
  if (o == NULL) {
    rill_observable_free(src);
    errno = ENOMEM;
    return NULL;
  }
  o->base.name = step->kind == RILL__STEP_MAP ? "map" : "filter";
  o->nsteps = n;
  if (prev != NULL) {
    memcpy(o->steps, prev->steps, prev->nsteps * sizeof(struct rill__step));
    o->source = rill_observable_ref(prev->source);
    rill_observable_free(src);
  } else {
    o->source = src;
  }
  o->steps[n - 1] = *step;
  return &o->base;
}
