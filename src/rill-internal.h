/* rill: internal interfaces shared by src/ and operators/.
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
#ifndef RILL_INTERNAL_H
#define RILL_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rill.h"

#if defined(__GNUC__)
#define RILL__ALWAYS_INLINE inline __attribute__((always_inline))
#define RILL__LIKELY(x) __builtin_expect(!!(x), 1)
#define RILL__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RILL__ALWAYS_INLINE inline
#define RILL__LIKELY(x) (x)
#define RILL__UNLIKELY(x) (x)
#endif

#define RILL__CONTAINER_OF(ptr, type, member)                                  \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- allocation ---------------------------------------------------------*/
void *rill__malloc(size_t size);
void *rill__calloc(size_t n, size_t size);
void *rill__realloc(void *ptr, size_t size);
void rill__free(void *ptr);

/* ---- demand arithmetic (rule 3.17) --------------------------------------*/
/* n > 0 (public requests of n <= 0 are rule 3.9 errors before they get
 * here); n <= 0 changes nothing rather than overflowing. */
static inline int64_t rill__demand_add(int64_t have, int64_t n) {
  if (RILL__UNLIKELY(n <= 0))
    return have;
  if (have >= RILL_UNBOUNDED - n)
    return RILL_UNBOUNDED;
  return have + n;
}
/* Saturating multiply of two non-negative numbers. */
static inline int64_t rill__demand_mul(int64_t a, int64_t b) {
  if (a != 0 && b > RILL_UNBOUNDED / a)
    return RILL_UNBOUNDED;
  return a * b;
}

/* ---- errors -------------------------------------------------------------*/
/* errno for "a source argument was NULL": EINVAL, except that ENOMEM from
 * the constructor that returned that NULL is kept, so a chain such as
 * rill_map(rill_range(...), ...) reports why its first step failed. */
void rill__errno_null_source(void);
void rill__error_init(rill_error_t *err, int code, int sys_errno,
                      const char *stage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* A user callback of `stage` returned `code`: "stage: what (RILL_X)" or
 * "stage: what (code N)"; `what` gives way to a message the callback
 * attached with rill_fail(). */
void rill__error_callback(rill_error_t *err, const char *stage, int code,
                          const char *what);
/* RILL_ESYS with errno, in the user's terms: "stage: <fmt>: strerror". */
void rill__error_sys(rill_error_t *err, const char *stage, int sys_errno,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

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

/* Out of line: a fused step failed; `owner` is the fused node. */
bool rill__steps_fail(struct rill__node *owner, int code, int kind);
bool rill__steps_run(struct rill__node *down, rill_value_t v);

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

static inline void rill__request(struct rill__node *up, int64_t n) {
  up->vt->request(up, n);
}
static inline void rill__cancel(struct rill__node *up) {
  up->vt->cancel(up);
}

/* Entry/exit bracket for every public entry point (see LIFETIME). */
void rill__enter(void);
void rill__leave(void);
/* Queue `n` for release at the outermost rill__leave(). Idempotent. */
void rill__retire(struct rill__node *n);

/* A node that ignores request and cancel: handed to on_subscribe when a
 * stage cannot be built, right before on_error. */
extern struct rill__node rill__dead_node;
/* Reject a subscriber: on_subscribe(dead) then on_error(code). */
void rill__reject(struct rill__node *down, int code, const char *stage);

/* A value that a drop path must release.  Kept out of line so the hot
 * path stays small. */
static inline void rill__drop(rill_value_t v) {
  rill_value_release(v);
}

/* ---- observables --------------------------------------------------------*/
struct rill__obs_vt {
  const char *name;
  /* Build this stage for `down` and, eventually, call down->on_subscribe
   * exactly once (with rill__dead_node + on_error on failure). */
  void (*subscribe)(rill_observable_t *self, struct rill__node *down);
  void (*destroy)(rill_observable_t *self);
};

struct rill_observable_s {
  uint32_t refs;
  uint32_t magic;
  const struct rill__obs_vt *vt;
  const char *name; /* stage name, static */
};

#define RILL__OBS_MAGIC 0x72696c6cu /* "rill" */

/* Allocate an observable of `size` bytes (header included), refs = 1. */
void *rill__obs_alloc(size_t size, const struct rill__obs_vt *vt);
static inline void rill__subscribe(rill_observable_t *obs,
                                   struct rill__node *down) {
  obs->vt->subscribe(obs, down);
}

/* ---- fused map/filter steps: see struct rill__step above -----------------*/
rill_observable_t *rill__fuse(rill_observable_t *src,
                              const struct rill__step *step);

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
};

struct rill__op {
  struct rill__node node;
  struct rill__node *up;   /* upstream subscription, NULL once gone */
  struct rill__node *down; /* downstream subscriber */
  rill_observable_t *obs;  /* the recipe; holds args */
  const struct rill__op_ops *ops;
  void *state;
  const void *args;
};

/* Creates the operator observable; takes over `src` and, on failure, the
 * owned values in `args` (through ops->args_release). */
rill_observable_t *rill__op_create(rill_observable_t *src,
                                   const struct rill__op_ops *ops,
                                   const void *args);

/* Helpers for operator handlers. */
/* Emit downstream; if a fused filter dropped it, ask upstream for one more.
 * On a stage already done (a user callback cancelled it) v is released. */
void rill__op_emit(struct rill__op *op, rill_value_t v);
/* Deliver on_complete downstream (once) and retire. Cancels upstream first
 * if it is still there (take, take_while). */
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

/* ---- pull sources (src/source.c) ----------------------------------------
 *
 * A source that produces one value per pull, under a drain loop that never
 * runs ahead of demand and never recurses.  The source file supplies the
 * ops and `state_size` bytes of per-subscription state. */
struct rill__pull;
struct rill__pull_ops {
  const char *name;
  size_t state_size;
  /* Per-subscription setup; negative code -> on_subscribe + on_error. */
  int (*init)(struct rill__pull *p);
  /* 1: *out holds an owned value; 0: done; < 0: error code. */
  int (*pull)(struct rill__pull *p, rill_value_t *out);
  /* Optional: true when the next pull would return 0, so the source can
   * complete without waiting for demand (range, just, from_array). */
  bool (*exhausted)(struct rill__pull *p);
  void (*destroy)(struct rill__pull *p); /* called once, on every path */
  /* Release what the recipe owns (values of from_array); may be NULL. */
  void (*recipe_release)(rill_observable_t *obs);
};

struct rill__pull_obs {
  rill_observable_t base;
  const struct rill__pull_ops *ops;
};

struct rill__pull {
  struct rill__node node;
  struct rill__node *down;
  rill_observable_t *obs;
  const struct rill__pull_ops *ops;
  int64_t demand;
  bool emitting;
  bool inited;
  void *state;
};

/* Allocate a pull-source recipe of `size` bytes (which starts with a
 * struct rill__pull_obs); NULL on ENOMEM. */
void *rill__pull_obs_alloc(size_t size, const struct rill__pull_ops *ops);

/* Hand the downstream a subscription that needs no state (empty, never,
 * error): on_subscribe(dead) and, optionally, a terminal signal. */
void rill__stateless_complete(struct rill__node *down);

/* from_array with another stage name (just, start_with). */
rill_observable_t *rill__from_array_named(const rill_value_t *values, size_t n,
                                          const char *name);
/* Collect `n` variadic rill_value_t into a fresh array (NULL on ENOMEM, after
 * releasing them).  `*out_n` receives n. */
rill_value_t *rill__values_from_va(size_t n, va_list ap);

/* n source observables taken over by a recipe (src/sources.c: concat,
 * merge).  NULL with errno on failure (EINVAL for a NULL source, ENOMEM
 * kept from a failed constructor), every source released. */
struct rill__sources {
  size_t n;
  rill_observable_t *items[];
};
struct rill__sources *rill__sources_take(rill_observable_t *const *sources,
                                         size_t n);
void rill__sources_free(void *sources); /* NULL-safe; a ctx destructor */

/* ---- the fold shared by scan and reduce (src/accumulate.c) --------------*/
struct rill__acc_args {
  rill_reduce_fn fn;
  void *ctx;
  rill_value_t seed;
  bool has_seed;
};
struct rill__acc {
  rill_value_t value;
  bool has;
};
/* Start from the seed (a new reference), if any. */
void rill__acc_start(struct rill__acc *acc, const struct rill__acc_args *a);
/* Fold in v (taken over); returns 0 or the accumulator's negative code. */
int rill__acc_add(struct rill__acc *acc, const struct rill__acc_args *a,
                  rill_value_t v);
void rill__acc_clear(struct rill__acc *acc);
void rill__acc_args_release(void *args);
/* Build the operator with rill__acc_args as its arguments (takes over src
 * and *seed, also on failure). */
rill_observable_t *rill__acc_create(rill_observable_t *src,
                                    const struct rill__op_ops *ops,
                                    rill_reduce_fn fn, void *ctx,
                                    const rill_value_t *seed);

/* ---- scheduler (src/sched.c, src/sched_ev.c) -----------------------------*/
struct rill__sched_vt;
struct rill_sched_s {
  const struct rill__sched_vt *vt;
  int objects;     /* timers and watchers alive */
  int active;      /* of those, armed */
  double now;      /* ms; kept current by the implementation */
  int dispatching; /* callbacks of this scheduler on the stack */
  bool background; /* new timers and watchers do not keep the loop alive */
};
/* The current time, as a load: operators call this per value. */
static inline double rill__sched_now(const rill_sched_t *s) {
  return s->now;
}

/* ---- outbox: one held value for time operators (src/outbox.c) ----------
 *
 * Tracks downstream demand for an operator that produces values on its own
 * schedule.  offer() emits at once when there is demand, otherwise applies
 * the overflow policy; request() adds demand and flushes the held value;
 * complete() completes now, or right after the held value is delivered. */
struct rill__outbox {
  int64_t demand;
  rill_value_t held;
  bool has_held;
  bool closing;
  bool emitting; /* an emission is on the stack: nested calls only add */
  rill_overflow_t policy;
};
void rill__outbox_offer(struct rill__op *op, struct rill__outbox *ob,
                        rill_value_t v);
void rill__outbox_request(struct rill__op *op, struct rill__outbox *ob,
                          int64_t n);
void rill__outbox_complete(struct rill__op *op, struct rill__outbox *ob);
void rill__outbox_clear(struct rill__outbox *ob);

/* ---- timed operators: a timer and an outbox (src/outbox.c) ---------------
 *
 * A time operator's state starts with this struct; its ops table then uses
 * these handlers as they are: requests go to the outbox, cancel stops the
 * timer, destroy frees both (an operator holding more calls it from its
 * own destroy). */
struct rill__timed {
  rill_sched_timer_t *timer;
  struct rill__outbox out;
  rill_value_t pending; /* the operator's newest value (debounce, audit...) */
  bool has_pending;
};
/* The overflow policy that `opts` asks for (NULL or DEFAULT: `dflt`), or
 * -1 for a value outside the enum.  Constructors call this. */
int rill__overflow_pick(rill_overflow_t asked, rill_overflow_t dflt);
/* Make the timer (calling cb with the op) and set the overflow policy. */
int rill__timed_init(struct rill__op *op, rill_sched_t *s,
                     rill_sched_timer_cb cb, rill_overflow_t policy);
/* Keep v as the pending value, releasing an older one (inline: debounce
 * and throttle call it for every value). */
static inline void rill__timed_keep(struct rill__timed *t, rill_value_t v) {
  if (t->has_pending)
    rill_value_release(t->pending);
  t->pending = v;
  t->has_pending = true;
}
/* Release the pending value, if any. */
void rill__timed_drop(struct rill__timed *t);
/* Hand the pending value, if any, to the outbox. */
void rill__timed_flush(struct rill__op *op);
void rill__timed_on_request(struct rill__op *op, int64_t n);
void rill__timed_on_cancel(struct rill__op *op);
void rill__timed_destroy(struct rill__op *op);

/* ---- a caller's fd in a stage (src/fd_source.c) --------------------------
 *
 * begin() checks the fd (open, in the needed direction, watchable), makes
 * the watcher (stopped) and makes the fd non-blocking.  It returns a
 * negative code only when the stage cannot start at all (ENOMEM, ENOTSUP);
 * an unusable fd leaves bad_errno set, and the stage reports
 * rill__fd_use_error() after on_subscribe.  end() stops watching and closes
 * the fd or puts its flags back (idempotent); free() also frees the
 * watcher. */
struct rill__fd_use {
  rill_sched_io_t *io;
  int fd;
  int saved_flags; /* file status flags to put back, or -1 */
  int bad_errno;   /* the fd cannot be used: why (0: it can) */
  const char *bad_what;
  bool may_close; /* false for an fd that is not the caller's to give */
  bool ended;
};
int rill__fd_use_begin(struct rill__fd_use *u, rill_sched_t *s, int fd,
                       int events, rill_sched_io_cb cb, void *arg);
void rill__fd_use_error(const struct rill__fd_use *u, const char *stage,
                        rill_error_t *err);
void rill__fd_use_end(struct rill__fd_use *u, bool close_fd);
void rill__fd_use_free(struct rill__fd_use *u);

/* ---- sources driven by fd readiness (src/fd_source.c) --------------------
 *
 * An fd source's args start with struct rill__fd_args and its state with
 * struct rill__fd_state; `once` produces one item when the fd is ready and
 * returns 1 (emitted, more may be waiting), 0 (wait for the next wake-up)
 * or -1 (the stream ended).  The handlers below fill its ops table. */
struct rill__fd_args {
  rill_sched_t *sched;
  int fd;
  unsigned flags; /* RILL_FD_CLOSE */
  int per_wakeup; /* items at most per wake-up, so the loop is not starved */
  int (*once)(struct rill__op *op);
  bool subscribed; /* set by the first subscription (see fd_source.c) */
};
struct rill__fd_state {
  struct rill__fd_use use;
  int64_t demand;
};
/* Stop watching and, with RILL_FD_CLOSE, close the fd (idempotent). */
void rill__fd_release(struct rill__op *op);
/* Release the fd and fail with RILL_ESYS / sys_errno:
 * "<stage>: <doing> fd N failed: <strerror>" (doing: "reading", ...). */
void rill__fd_fail_sys(struct rill__op *op, int sys_errno, const char *doing);
int rill__fd_init(struct rill__op *op);
void rill__fd_on_subscribe(struct rill__op *op);
void rill__fd_on_request(struct rill__op *op, int64_t n);
void rill__fd_on_cancel(struct rill__op *op);
void rill__fd_destroy(struct rill__op *op);
void rill__fd_args_release(void *args);

#endif /* RILL_INTERNAL_H */
