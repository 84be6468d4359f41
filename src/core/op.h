/* SPDX-License-Identifier: MIT */
/* rill internals: the generic operator -- the one way a stage with state
 * is built.
 *
 * ONE WAY TO BUILD A STAGE
 *   Every operator, combinator and connector is a rill__op: it gets its
 *   state, its node and its lifetime from here, its terminal signals from
 *   rill__op_complete()/rill__op_error() (one place, exactly once), and its
 *   multi-input flow control from the kit (src/kit/): merge, concat and the
 *   higher-order family (src/flatten.c), take_until, timeout, delay,
 *   create and to_fd all do.  The exceptions are the core's own hot paths,
 *   each a drain loop written once: pull sources (src/source.c: from_array,
 *   just, generate), range's loop specialised per fused-step shape, the
 *   fused map/filter node (src/fuse.c) and the sink (src/sink.c); and the
 *   stateless sources (empty, never, error), which need no node at all. */
#ifndef RILL_CORE_OP_H
#define RILL_CORE_OP_H

#include "core/observable.h"

/* ---- generic single-upstream operators (operators/ files) ------------------
 *
 * An operator file fills in a rill__op_ops table and calls rill__op_create().
 * The core allocates `state_size` bytes of per-subscription state and keeps
 * `args_size` bytes of recipe arguments in the observable.  Any NULL handler
 * falls back to a pass-through default. */
struct rill__op;
struct rill__op_ops {
  const char *name;
  /* A source operator has no upstream (rill__op_create with src NULL): it
   * is handed rill__dead_node as its upstream, so requests go nowhere. */
  bool source;
  size_t args_size;
  size_t state_size;
  /* Per-subscription setup; may fail with a negative code (-> on_error). */
  int (*init)(struct rill__op *op);
  void (*on_subscribe)(struct rill__op *op);
  rill__next_fn on_next; /* self is the struct rill__op * */
  void (*on_error)(struct rill__op *op, const rill_error_t *err);
  void (*on_complete)(struct rill__op *op);
  void (*on_request)(struct rill__op *op, int64_t n);
  void (*on_cancel)(struct rill__op *op);
  /* Release per-subscription state (held values).  Called exactly once. */
  void (*destroy)(struct rill__op *op);
  /* Release recipe arguments (owned values in args).  Called once. */
  void (*args_release)(void *args);
  /* Optional: the stage could not be built for a subscriber (no memory for
   * its state), which got on_subscribe and on_error(RILL_ENOMEM) instead;
   * runs right after them (finalize's fn runs once per subscription even
   * then).  A stage whose init fails is destroyed instead. */
  void (*reject)(const void *args);
};

struct rill__op {
  struct rill__node node;
  struct rill__node *up;   /* upstream subscription, NULL once gone */
  struct rill__node *down; /* downstream subscriber */
  rill_observable_t *obs;  /* the recipe; holds args */
  const struct rill__op_ops *ops;
  void *state;
  const void *args;
  /* The emission bracket (rill__op_deliver): a terminal reached while an
   * on_next of this stage is on the stack waits here for it to return. */
  uint32_t emitting;
  uint8_t pending; /* 0, or the terminal to deliver: OP_PENDING_* */
  rill_error_t pending_err;
};

/* Creates the operator observable; takes over `src` and, on failure, the
 * owned values in `args` (through ops->args_release). */
rill_observable_t *rill__op_create(rill_observable_t *src,
                                   const struct rill__op_ops *ops,
                                   const void *args);

/* Helpers for operator handlers. */
/* Deliver v downstream inside the stage's emission bracket: a terminal
 * that this stage reaches while that on_next runs (an upstream signal, a
 * notifier, an emitter call or a callback made from on_next) is delivered
 * right after on_next returns, never inside it (rule 1.3), and not at all
 * if on_next cancelled.  Every emission of a stage goes through here.
 * Returns whether the value consumed demand (false: a fused filter). */
bool rill__op_deliver(struct rill__op *op, rill_value_t v);
/* Emit downstream; if a fused filter dropped it, ask upstream for one more.
 * On a stage already done (a user callback cancelled it) v is released. */
void rill__op_emit(struct rill__op *op, rill_value_t v);
/* Deliver on_complete downstream (once) and retire. Cancels upstream first
 * if it is still there (take, take_while).  Inside an emission of this
 * stage, the delivery waits for it (see rill__op_deliver). */
void rill__op_complete(struct rill__op *op);
/* Deliver on_error downstream (once), cancelling upstream first. */
void rill__op_error(struct rill__op *op, const rill_error_t *err);
/* Build an error for this stage and deliver it as rill__op_error(). */
void rill__op_fail(struct rill__op *op, int code, const char *msg);
/* A user callback returned `code` (see rill__error_callback). */
void rill__op_fail_callback(struct rill__op *op, int code, const char *what);
/* on_subscribe for stages that consume the source at its own pace: pass
 * on_subscribe down, then ask upstream for everything. */
void rill__op_subscribe_unbounded(struct rill__op *op);
/* Request from upstream if it is still there. */
void rill__op_request_up(struct rill__op *op, int64_t n);

static inline bool rill__op_done(const struct rill__op *op) {
  return rill__node_done(&op->node);
}

#endif /* RILL_CORE_OP_H */
