/* SPDX-License-Identifier: MIT */
/* rill: the generic single-upstream operator (STYLE habit 17).
 *
 * An operator file supplies a const rill__op_ops table; this file supplies
 * the recipe object, per-subscription allocation, the node vtable, and a
 * pass-through default for every handler left NULL. */
#include <errno.h>

#include "rill-internal.h"

struct op_obs {
  rill_observable_t base;
  const struct rill__op_ops *ops;
  rill_observable_t *source;
  _Alignas(max_align_t) unsigned char args[];
};

#define OP_HEAD_SIZE                                                           \
  ((sizeof(struct rill__op) + _Alignof(max_align_t) - 1) &                     \
   ~(_Alignof(max_align_t) - 1))

/* ---- node handlers ------------------------------------------------------*/

static void op_on_subscribe(struct rill__node *self, struct rill__node *up) {
  struct rill__op *op = (struct rill__op *)self;
  if (op->up != NULL || rill__op_done(op)) {
    rill__cancel(up); /* rule 2.5: a second subscription is refused */
    return;
  }
  op->up = up;
  if (op->ops->on_subscribe != NULL)
    op->ops->on_subscribe(op);
  else
    op->down->vt->on_subscribe(op->down, &op->node);
}

static void op_default_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  rill__op_emit(op, v);
}

static void op_on_error(struct rill__node *self, const rill_error_t *err) {
  struct rill__op *op = (struct rill__op *)self;
  if (rill__op_done(op))
    return;
  op->up = NULL;
  if (op->ops->on_error != NULL)
    op->ops->on_error(op, err);
  else
    rill__op_error(op, err);
}

static void op_on_complete(struct rill__node *self) {
  struct rill__op *op = (struct rill__op *)self;
  if (rill__op_done(op))
    return;
  op->up = NULL;
  if (op->ops->on_complete != NULL)
    op->ops->on_complete(op);
  else
    rill__op_complete(op);
}

static void op_request(struct rill__node *self, int64_t n) {
  struct rill__op *op = (struct rill__op *)self;
  if (rill__op_done(op))
    return;
  if (op->ops->on_request != NULL)
    op->ops->on_request(op, n);
  else
    rill__op_request_up(op, n);
}

enum { OP_PENDING_NONE, OP_PENDING_COMPLETE, OP_PENDING_ERROR };

static void op_cancel(struct rill__node *self) {
  struct rill__op *op = (struct rill__op *)self;
  if (rill__op_done(op)) {
    /* A terminal waiting for the on_next on the stack: a cancel from that
     * on_next wins (nothing is signalled after a cancel). */
    if (op->pending != OP_PENDING_NONE) {
      op->pending = OP_PENDING_NONE;
      rill__retire(&op->node);
    }
    return;
  }
  op->node.flags |= RILL__DONE;
  if (op->ops->on_cancel != NULL)
    op->ops->on_cancel(op);
  struct rill__node *up = op->up;
  op->up = NULL;
  if (up != NULL)
    rill__cancel(up);
  rill__retire(&op->node);
}

static void op_free(struct rill__node *self) {
  struct rill__op *op = (struct rill__op *)self;
  if (op->ops->destroy != NULL)
    op->ops->destroy(op);
  rill_observable_free(op->obs);
  rill__free(op);
}

static const struct rill__node_vt op_node_vt = {
    .name = "operator",
    .on_subscribe = op_on_subscribe,
    .on_error = op_on_error,
    .on_complete = op_on_complete,
    .request = op_request,
    .cancel = op_cancel,
    .free = op_free,
};

/* ---- helpers for operator handlers --------------------------------------*/

static void op_deliver_pending(struct rill__op *op) {
  int kind = op->pending;
  op->pending = OP_PENDING_NONE;
  if (kind == OP_PENDING_COMPLETE)
    op->down->vt->on_complete(op->down);
  else
    op->down->vt->on_error(op->down, &op->pending_err);
  rill__retire(&op->node);
}

bool rill__op_deliver(struct rill__op *op, rill_value_t v) {
  op->emitting++;
  bool consumed = rill__emit(op->down, v);
  if (--op->emitting == 0 && op->pending != OP_PENDING_NONE)
    op_deliver_pending(op);
  return consumed;
}

void rill__op_emit(struct rill__op *op, rill_value_t v) {
  /* A user callback that ran just before (scan's accumulator, a predicate,
   * a comparator) may have cancelled: then nothing more goes down. */
  if (RILL__UNLIKELY(rill__op_done(op))) {
    rill__drop(v);
    return;
  }
  if (!rill__op_deliver(op, v) && !rill__op_done(op) && op->up != NULL)
    rill__request(op->up, 1);
}

void rill__op_subscribe_unbounded(struct rill__op *op) {
  op->down->vt->on_subscribe(op->down, &op->node);
  rill__op_request_up(op, RILL_UNBOUNDED);
}

void rill__op_request_up(struct rill__op *op, int64_t n) {
  if (op->up != NULL && !rill__op_done(op))
    rill__request(op->up, n);
}

static void op_cut_upstream(struct rill__op *op) {
  struct rill__node *up = op->up;
  op->up = NULL;
  if (up != NULL)
    rill__cancel(up);
}

/* Termination in one place: done at once (nothing more is emitted, the
 * upstream is cancelled), delivered now or when the on_next on the stack
 * returns. */
void rill__op_complete(struct rill__op *op) {
  if (rill__op_done(op))
    return;
  op->node.flags |= RILL__DONE;
  op_cut_upstream(op);
  op->pending = OP_PENDING_COMPLETE;
  if (op->emitting == 0)
    op_deliver_pending(op);
}

void rill__op_error(struct rill__op *op, const rill_error_t *err) {
  if (rill__op_done(op))
    return;
  op->node.flags |= RILL__DONE;
  op_cut_upstream(op);
  op->pending = OP_PENDING_ERROR;
  op->pending_err = *err;
  if (op->emitting == 0)
    op_deliver_pending(op);
}

void rill__op_fail(struct rill__op *op, int code, const char *msg) {
  rill_error_t err;
  if (msg != NULL)
    rill__error_init(&err, code, 0, op->ops->name, "%s: %s", op->ops->name,
                     msg);
  else
    rill__error_init(&err, code, 0, op->ops->name, "%s: %s", op->ops->name,
                     rill_strerror(code));
  rill__op_error(op, &err);
}

void rill__op_fail_callback(struct rill__op *op, int code, const char *what) {
  rill_error_t err;
  rill__error_callback(&err, op->ops->name, code, what);
  rill__op_error(op, &err);
}

/* ---- the recipe ---------------------------------------------------------*/

static void op_obs_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct op_obs *o = (struct op_obs *)self;
  const struct rill__op_ops *ops = o->ops;
  struct rill__op *op = rill__calloc(1, OP_HEAD_SIZE + ops->state_size);
  if (op == NULL) {
    rill__reject(down, RILL_ENOMEM, ops->name);
    if (ops->reject != NULL)
      ops->reject(o->args);
    return;
  }
  rill__node_init(&op->node, &op_node_vt,
                  ops->on_next ? ops->on_next : op_default_next);
  op->down = down;
  op->obs = rill_observable_ref(self);
  op->ops = ops;
  op->state = (unsigned char *)op + OP_HEAD_SIZE;
  op->args = o->args;
  if (ops->init != NULL) {
    int rc = ops->init(op);
    if (rc < 0) {
      op->node.flags |= RILL__DONE;
      rill__retire(&op->node);
      rill__reject(down, rc, ops->name);
      return;
    }
  }
  if (o->source == NULL)
    op_on_subscribe(&op->node, &rill__dead_node);
  else
    rill__subscribe(o->source, &op->node);
}

static void op_obs_destroy(rill_observable_t *self) {
  struct op_obs *o = (struct op_obs *)self;
  if (o->ops->args_release != NULL)
    o->ops->args_release(o->args);
  rill_observable_free(o->source);
}

rill_observable_t *rill__op_create(rill_observable_t *src,
                                   const struct rill__op_ops *ops,
                                   const void *args) {
  struct op_obs *o = NULL;
  if (src != NULL || ops->source)
    o = rill__calloc(1, sizeof(*o) + ops->args_size);
  if (o == NULL) {
    if (ops->args_release != NULL)
      ops->args_release((void *)args);
    rill_observable_free(src);
    if (src == NULL && !ops->source)
      rill__errno_null_source();
    else
      errno = ENOMEM;
    return NULL;
  }
  o->base.refs = 1;
  o->base.magic = RILL__OBS_MAGIC;
  o->ops = ops;
  o->source = src;
  if (ops->args_size != 0)
    memcpy(o->args, args, ops->args_size);
  static const struct rill__obs_vt generic_vt = {
      .name = "operator",
      .subscribe = op_obs_subscribe,
      .destroy = op_obs_destroy,
  };
  o->base.vt = &generic_vt;
  o->base.name = ops->name;
  return &o->base;
}
