/* SPDX-License-Identifier: MIT */
/* rill internals: the node -- the subscription/subscriber object of every
 * stage, rill__emit and the fused steps, and its lifetime.
 *
 * THE NODE
 *   Subscribing builds one node per stage, from the sink up to the source.
 *   A node is at once the subscription its downstream talks to (request,
 *   cancel) and the subscriber its upstream talks to (on_subscribe, on_next,
 *   on_error, on_complete).  Producers deliver values with rill__emit(),
 *   which goes straight to `next_fn(next_ctx, v)`: for a plain operator that
 *   is its own on_next handler; for a fused map/filter stage it first runs
 *   the fused steps inline and then calls the NEXT stage's next_fn, so a
 *   range -> map -> filter -> sink pipeline makes three indirect calls per
 *   element and no other.  rill__emit() reports whether the value consumed
 *   demand (false when a fused filter dropped it); producers count demand
 *   only for consumed values, so filters never need to re-request.
 *
 * LIFETIME
 *   Every public entry point (subscribe, request, cancel, and later the
 *   libev callbacks) brackets its work with rill__enter()/rill__leave().  A
 *   node that is finished calls rill__retire(); the memory is released when
 *   the outermost rill__leave() runs, so nothing on the stack can be freed
 *   under it, whatever a callback cancels.  A node is finished when it has
 *   neither an upstream (terminated or cancelled) nor a downstream
 *   (terminal delivered or cancelled).  Before retiring, a node drops its
 *   pointers to both sides; a node that receives a terminal signal forgets
 *   its upstream.  Calls on a DONE node are no-ops.
 */
#ifndef RILL_CORE_NODE_H
#define RILL_CORE_NODE_H

#include "core/base.h"

/* ---- nodes --------------------------------------------------------------*/
struct rill__node;
struct rill__step;
typedef void (*rill__next_fn)(void *self, rill_value_t v);

struct rill__node_vt {
  const char *name;
  void (*on_subscribe)(struct rill__node *self, struct rill__node *up);
  void (*on_error)(struct rill__node *self, const rill_error_t *err);
  void (*on_complete)(struct rill__node *self);
  void (*request)(struct rill__node *self, int64_t n);
  void (*cancel)(struct rill__node *self);
  void (*free)(struct rill__node *self); /* release memory; called once */
  /* Optional: synchronous fusion (see SYNCHRONOUS FUSION below). */
  bool (*sync_fuse)(struct rill__node *self);
  int (*poll)(struct rill__node *self, rill_value_t *out, size_t stride,
              size_t max, size_t *n, rill_error_t *err);
};

enum {
  RILL__DONE = 1u << 0,    /* no more signals downstream, ignore requests */
  RILL__RETIRED = 1u << 1, /* on the reap list or freed */
  /* A subscription that emits only inside its own request() call, emits
   * everything requested there, and reads its subscriber's next_fn at each
   * value (range, from_array, just, generate; not a fused map/filter,
   * which copies its subscriber's next_fn when subscribed).  A stage that
   * requests RILL_UNBOUNDED from it while holding its own drain bracket
   * may wire its subscriber node straight downstream without risk of
   * nesting (src/flatten.c). */
  RILL__PULL_ONLY = 1u << 2,
  /* Synchronously fused: the subscriber polls (see below). */
  RILL__POLLED = 1u << 3,
  /* Every value this subscription delivers (emitted or polled) is a
   * scalar (int, double, bool, borrowed pointer), whose release is a
   * no-op: a consumer holding many may skip releasing them (range). */
  RILL__SCALARS = 1u << 4,
};

/* The gates of a fused node (the steps' owner): thresholds that a user
 * function's int result is compared with, so that one compare after the
 * call tells both what the function said and whether the subscription
 * was cancelled (or failed) inside it.  Live: a map's result <= -1 is a
 * failure, a filter's result > 0 a pass.  Finished: every result is
 * "stop" after a map and nothing passes a filter.  Set by fuse.c when the
 * node finishes; read by range's loops. */
#define RILL__GATE_MAP_LIVE (-1)
#define RILL__GATE_PRED_LIVE 0
#define RILL__GATE_SHUT INT32_MAX

struct rill__node {
  rill__next_fn next_fn; /* where on_next lands, after the fused steps */
  void *next_ctx;
  const struct rill__step *steps; /* fused map/filter steps, or NULL */
  struct rill__node *steps_owner; /* the fused node the steps belong to */
  uint32_t nsteps;
  uint32_t flags;
  const struct rill__node_vt *vt;
  struct rill__node *reap_next;
  int32_t gate_map;  /* RILL__GATE_MAP_LIVE, or SHUT once finished */
  int32_t gate_pred; /* RILL__GATE_PRED_LIVE, or SHUT once finished */
};

/* A fused map/filter step (src/fuse.c). */
enum { RILL__STEP_MAP, RILL__STEP_FILTER };
struct rill__step {
  int kind;
  union {
    rill_map_fn map;
    rill_pred_fn pred;
  } fn;
  void *ctx;
};

static inline bool rill__node_done(const struct rill__node *n) {
  return (n->flags & RILL__DONE) != 0;
}

/* Make `n` receive on_next at its own handler. */
static inline void rill__node_init(struct rill__node *n,
                                   const struct rill__node_vt *vt,
                                   rill__next_fn on_next) {
  memset(n, 0, sizeof(*n));
  n->gate_map = RILL__GATE_MAP_LIVE;
  n->gate_pred = RILL__GATE_PRED_LIVE;
  n->vt = vt;
  n->next_fn = on_next;
  n->next_ctx = n;
}

/* A fused step failed (called from the hot path's unlikely branch, so it
 * is a real function); `owner` is the fused node. */
bool rill__steps_fail(struct rill__node *owner, int code, int kind);

/* Deliver v to `down`.  Returns true if it consumed demand.  The fused
 * steps are inline here so that a source's drain loop keeps everything in
 * registers; the only calls per element are the user's functions.
 * A user function may cancel (or fail) the subscription: after each one
 * the owner's flags are read, and a value in flight is released instead
 * of going on (nothing is signalled after cancel).  Returns false then;
 * the producer sees its own node cancelled and stops. */
static RILL__ALWAYS_INLINE bool rill__emit(struct rill__node *down,
                                           rill_value_t v) {
  if (RILL__LIKELY(down->nsteps == 0)) {
    down->next_fn(down->next_ctx, v);
    return true;
  }
  const struct rill__step *s = down->steps;
  const struct rill__step *end = s + down->nsteps;
  const struct rill__node *owner = down->steps_owner;
  do {
    if (s->kind == 0 /* RILL__STEP_MAP */) {
      rill_value_t out;
      int rc = s->fn.map(s->ctx, v, &out);
      rill_value_release(v);
      if (RILL__UNLIKELY(rc < 0))
        return rill__steps_fail(down->steps_owner, rc, 0);
      v = out;
    } else {
      int rc = s->fn.pred(s->ctx, v);
      if (rc <= 0) {
        rill_value_release(v);
        if (RILL__UNLIKELY(rc < 0))
          return rill__steps_fail(down->steps_owner, rc, 1);
        return false;
      }
    }
    if (RILL__UNLIKELY(rill__node_done(owner))) { /* cancelled meanwhile */
      rill_value_release(v);
      return false;
    }
  } while (++s != end);
  down->next_fn(down->next_ctx, v);
  return true;
}

/* Make `n` deliver exactly as `target` does (same steps, same next_fn):
 * a stage that has nothing to do per value can step out of the way. */
static inline void rill__node_wire(struct rill__node *n,
                                   const struct rill__node *target) {
  n->next_fn = target->next_fn;
  n->next_ctx = target->next_ctx;
  n->steps = target->steps;
  n->steps_owner = target->steps_owner;
  n->nsteps = target->nsteps;
}

/* ---- synchronous fusion ---------------------------------------------------
 *
 * RxJava's QueueSubscription.requestFusion(SYNC) and poll(): a subscriber
 * that drains several sources row by row (zip) takes values straight from
 * a source's state, many per call, instead of request(), one on_next per
 * value and a queue.  Offered by range and the pull sources (from_array,
 * just, generate), and by a fused map/filter node over one of them.
 *
 *   - The subscriber may ask only from inside its on_subscribe(up),
 *     before any request: rill__sync_fuse(up).  false: nothing changed,
 *     the subscription works as usual.  true: `up` is in polled mode for
 *     good: it never calls on_next, on_complete or on_error on that
 *     subscriber, and ignores request().
 *   - rill__poll(up, out, stride, max, &n, &err), max >= 1, never
 *     re-entered for the same node, stores up to `max` values at out[0],
 *     out[stride], out[2 * stride], ... (a column of a row-major table)
 *     and sets n to how many; they are the caller's (owned).  Returns
 *       1   n == max and `up` is live;
 *       0   `up` has finished after these n (<= max) values: exhausted,
 *           or cancelled while the poll ran (by a user function it
 *           called: the caller then knows, it did so itself);
 *       <0  the source failed after these n values, with this code and
 *           *err.
 *     After 0 or < 0, forget `up`: no poll, no cancel.
 *     A poll never signals the subscriber, but the user functions it
 *     runs (generate's next, fused map/filter steps) may do anything,
 *     including cancelling `up` or the subscriber.  A source produces
 *     only what it returns (a fused filter may pull and drop more), so
 *     polling `max` values calls a generator at most `max` times: the
 *     subscriber bounds `max` by its own demand.
 *   - cancel(up) ends it at any time before a 0 or a negative result and
 *     releases what it holds; the values returned are the caller's.
 * Rule 3.3 holds trivially: a poll calls no subscriber. */
/* Whether asking may succeed (an owner may prepare before it asks). */
static inline bool rill__sync_fusable(const struct rill__node *up) {
  return up->vt->sync_fuse != NULL && !rill__node_done(up) &&
         (up->flags & RILL__POLLED) == 0;
}
static inline bool rill__sync_fuse(struct rill__node *up) {
  return rill__sync_fusable(up) && up->vt->sync_fuse(up);
}
static RILL__ALWAYS_INLINE int rill__poll(struct rill__node *up,
                                          rill_value_t *out, size_t stride,
                                          size_t max, size_t *n,
                                          rill_error_t *err) {
  return up->vt->poll(up, out, stride, max, n, err);
}

static inline void rill__request(struct rill__node *up, int64_t n) {
  up->vt->request(up, n);
}
static inline void rill__cancel(struct rill__node *up) {
  up->vt->cancel(up);
}

/* Entry/exit bracket for every public entry point (see LIFETIME).  Inline,
 * since a subject's push is one entry per value: the depth and the reap
 * list are thread-local, in the initial-exec model (a load at a fixed
 * offset from the thread pointer instead of a __tls_get_addr call; a few
 * bytes of static TLS, which glibc reserves room for even in a library
 * loaded with dlopen). */
#if defined(__GNUC__) && defined(__ELF__)
#define RILL__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define RILL__TLS_FAST
#endif
extern _Thread_local unsigned rill__depth RILL__TLS_FAST;
extern _Thread_local struct rill__node *rill__reap_head RILL__TLS_FAST;
/* The outermost leave, with nodes to release. */
void rill__reap(void);
static inline void rill__enter(void) {
  rill__depth++;
}
static inline void rill__leave(void) {
  if (--rill__depth == 0 && RILL__UNLIKELY(rill__reap_head != NULL))
    rill__reap();
}
/* Queue `n` for release at the outermost rill__leave(). Idempotent. */
void rill__retire(struct rill__node *n);

/* A node that ignores request and cancel: handed to on_subscribe when a
 * stage cannot be built, right before on_error. */
extern struct rill__node rill__dead_node;
/* Reject a subscriber: on_subscribe(dead) then on_error(code). */
void rill__reject(struct rill__node *down, int code, const char *stage);

/* A value that a drop path must release (the name says why it goes: the
 * stage is done, or the value was refused; rill_value_release itself is
 * inline, and costs a compare for scalars). */
static inline void rill__drop(rill_value_t v) {
  rill_value_release(v);
}

/* ---- fused map/filter steps: see struct rill__step above -----------------*/
rill_observable_t *rill__fuse(rill_observable_t *src,
                              const struct rill__step *step);

#endif /* RILL_CORE_NODE_H */
