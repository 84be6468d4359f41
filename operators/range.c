/* SPDX-License-Identifier: MIT */
/* rill: range(start, count) -- emits start .. start+count-1, then completes.
 *
 * Demand: emits only what was requested; completes right after the last
 * value without waiting for more demand, and at once when count is 0.
 * Time: synchronous; all values are delivered inside request().
 * Owns: nothing (integers need no allocation).
 * This is the hot source of the benchmarks, so it has its own drain loop
 * instead of the generic pull loop (no indirect call to produce a value). */
#include <errno.h>

#include "rill-internal.h"

struct range_obs {
  rill_observable_t base;
  int64_t start;
  int64_t end;
};

struct range_node {
  struct rill__node node;
  struct rill__node *down;
  int64_t next;
  int64_t end;
  /* What the drain loop compares `next` with: `end`, or INT64_MIN once
   * cancelled, so one compare per value notices both the end and a cancel
   * made anywhere downstream (a filter that drops the value, on_next). */
  int64_t limit;
  int64_t demand;
  bool emitting;
};

static void range_complete(struct range_node *r) {
  r->node.flags |= RILL__DONE;
  r->down->vt->on_complete(r->down);
  rill__retire(&r->node);
}

/* ---- the drain loop, one copy per step shape ------------------------------
 *
 * A stage with at most two fused steps gets a loop specialised for its
 * shape (none, map, filter, and the four pairs): per value it is the
 * user's calls, one compare against `limit`, and after each user call one
 * compare of its result with the owner's gate (rill-internal.h), so a
 * value in flight is released, not delivered, once a callback cancelled.
 * The steps and the mapped values stay in `struct range_run` in memory and
 * are loaded straight into argument registers at each call, which is
 * cheaper than keeping them in registers across the calls.  Steps are
 * immutable once subscribed, and a stage that re-wires itself later
 * (merge) keeps its own next_fn valid, so the copy stays correct for the
 * whole run. */
enum { K_NONE = -1, K_MAP = RILL__STEP_MAP, K_FILTER = RILL__STEP_FILTER };

struct range_run {
  struct rill__step s[2];
  rill__next_fn next;
  void *next_ctx;
  const struct rill__node *owner;
  rill_value_t slot[2]; /* slot[k]: what map step k produced */
};

/* The value after step k-1: the integer itself until a map ran. */
#define RANGE_CUR(run, x, last_map)                                            \
  ((last_map) < 0 ? rill_value_int(x)                                          \
                  : (run)->slot[(last_map) < 0 ? 0 : (last_map)])

#if defined(__GNUC__)
#define RANGE_NOINLINE __attribute__((noinline))
#else
#define RANGE_NOINLINE
#endif

/* Out of line, so that the drop path is one compare of the kind. */
static RANGE_NOINLINE void range_release(const rill_value_t *v) {
  rill_value_release(*v);
}
static RILL__ALWAYS_INLINE void range_release_slot(const struct range_run *run,
                                                   int k) {
  if (k >= 0 && run->slot[k < 0 ? 0 : k].kind >= RILL_KIND_BUF)
    range_release(&run->slot[k < 0 ? 0 : k]);
}

/* Run step k, of a kind known at compile time, on `in` (owned only if it
 * came out of a map: `in_map` is that step's index, or -1).  Returns 1 (go
 * on), 0 (a filter dropped it, released) or -1 (stop: the step failed or
 * the subscription was cancelled; the value is released).  One compare
 * with the owner's gate after each call sees both the user's result and a
 * cancel (or failure) made inside the user's function. */
static RILL__ALWAYS_INLINE int range_step(struct range_run *run,
                                          const struct rill__node *owner,
                                          const int k, const int kind,
                                          const int in_map, rill_value_t in) {
  if (kind == K_MAP) {
    int rc = run->s[k].fn.map(run->s[k].ctx, in, &run->slot[k]);
    range_release_slot(run, in_map);
    if (RILL__UNLIKELY(rc <= owner->gate_map)) {
      if (rc < 0) /* a finished owner ignores the failure */
        rill__steps_fail((struct rill__node *)owner, rc, K_MAP);
      else /* cancelled: the value in flight is ours to release */
        range_release_slot(run, k);
      return -1;
    }
    return 1;
  }
  int rc = run->s[k].fn.pred(run->s[k].ctx, in);
  if (rc == owner->gate_pred) {
    /* Dropped (or a cancelled owner and INT32_MAX: then the range was
     * cancelled too, and `limit` stops the loop). */
    range_release_slot(run, in_map);
    return 0;
  }
  if (RILL__UNLIKELY(rc < owner->gate_pred)) {
    /* Failed, or cancelled inside the predicate (a finished owner ignores
     * the failure). */
    if (in_map >= 0)
      range_release(&run->slot[in_map < 0 ? 0 : in_map]);
    if (rc < 0)
      rill__steps_fail((struct rill__node *)owner, rc, K_FILTER);
    return -1;
  }
  return 1;
}

/* Up to `want` consumed values (unbounded: no count kept).  Returns how
 * many values consumed demand. */
static RILL__ALWAYS_INLINE int64_t range_loop(struct range_node *r,
                                              struct range_run *run,
                                              int64_t want, const bool bounded,
                                              const int k0, const int k1) {
  const struct rill__node *const owner = run->owner;
  const int m0 = k0 == K_MAP ? 0 : -1; /* map before step 1 */
  const int m1 = k1 == K_MAP ? 1 : m0; /* map before next */
  int64_t i = r->next;
  int64_t sent = 0;
  /* `limit` is re-read after every call: a cancel lowers it. */
  while (i < r->limit) {
    const int64_t x = i++;
    if (k0 != K_NONE) {
      int st = range_step(run, owner, 0, k0, -1, rill_value_int(x));
      if (st <= 0) {
        if (st < 0)
          break;
        continue;
      }
    }
    if (k1 != K_NONE) {
      int st = range_step(run, owner, 1, k1, m0, RANGE_CUR(run, x, m0));
      if (st <= 0) {
        if (st < 0)
          break;
        continue;
      }
    }
    run->next(run->next_ctx, RANGE_CUR(run, x, m1));
    if (bounded && ++sent == want)
      break;
  }
  r->next = i;
  return sent;
}

/* One out-of-line copy per shape and kind of demand. */
#define RANGE_LOOP(name, bounded, k0, k1)                                      \
  static int64_t name(struct range_node *r, struct range_run *run,             \
                      int64_t want) {                                          \
    return range_loop(r, run, want, bounded, k0, k1);                          \
  }
RANGE_LOOP(range_u_none, false, K_NONE, K_NONE)
RANGE_LOOP(range_u_m, false, K_MAP, K_NONE)
RANGE_LOOP(range_u_f, false, K_FILTER, K_NONE)
RANGE_LOOP(range_u_mm, false, K_MAP, K_MAP)
RANGE_LOOP(range_u_mf, false, K_MAP, K_FILTER)
RANGE_LOOP(range_u_fm, false, K_FILTER, K_MAP)
RANGE_LOOP(range_u_ff, false, K_FILTER, K_FILTER)
RANGE_LOOP(range_b_none, true, K_NONE, K_NONE)
RANGE_LOOP(range_b_m, true, K_MAP, K_NONE)
RANGE_LOOP(range_b_f, true, K_FILTER, K_NONE)
RANGE_LOOP(range_b_mm, true, K_MAP, K_MAP)
RANGE_LOOP(range_b_mf, true, K_MAP, K_FILTER)
RANGE_LOOP(range_b_fm, true, K_FILTER, K_MAP)
RANGE_LOOP(range_b_ff, true, K_FILTER, K_FILTER)

typedef int64_t (*range_loop_fn)(struct range_node *r, struct range_run *run,
                                 int64_t want);
/* [bounded][shape]: none, m, f, mm, mf, fm, ff. */
static const range_loop_fn range_loops[2][7] = {
    {range_u_none, range_u_m, range_u_f, range_u_mm, range_u_mf, range_u_fm,
     range_u_ff},
    {range_b_none, range_b_m, range_b_f, range_b_mm, range_b_mf, range_b_fm,
     range_b_ff},
};

/* For a stage with at most two steps.  Unbounded demand needs no count. */
static int64_t range_run(struct range_node *r, int64_t want) {
  const struct rill__node *down = r->down;
  struct range_run run = {
      .next = down->next_fn,
      .next_ctx = down->next_ctx,
      .owner = down->steps_owner,
  };
  int shape = 0;
  if (down->nsteps >= 1) {
    run.s[0] = down->steps[0];
    shape = run.s[0].kind == RILL__STEP_MAP ? 1 : 2;
  }
  if (down->nsteps == 2) {
    run.s[1] = down->steps[1];
    shape = 3 + 2 * (run.s[0].kind != RILL__STEP_MAP) +
            (run.s[1].kind != RILL__STEP_MAP);
  }
  return range_loops[want != RILL_UNBOUNDED][shape](r, &run, want);
}

static void range_drain(struct range_node *r) {
  if (r->emitting)
    return;
  r->emitting = true;
  struct rill__node *down = r->down;
  while (!rill__node_done(&r->node)) {
    if (r->next == r->end) {
      range_complete(r);
      break;
    }
    if (r->demand == 0)
      break;
    if (down->nsteps <= 2) {
      int64_t want = r->demand;
      int64_t sent = range_run(r, want);
      if (r->demand != RILL_UNBOUNDED)
        r->demand -= sent; /* requests made meanwhile only added */
      continue;
    }
    /* Three steps or more: the generic path, one value at a time. */
    rill_value_t v = rill_value_int(r->next++);
    if (rill__emit(down, v) && r->demand != RILL_UNBOUNDED)
      r->demand--;
  }
  r->emitting = false;
}

static void range_request(struct rill__node *self, int64_t n) {
  struct range_node *r = (struct range_node *)self;
  if ((self->flags & (RILL__DONE | RILL__POLLED)) != 0)
    return;
  r->demand = rill__demand_add(r->demand, n);
  range_drain(r);
}

static void range_cancel(struct rill__node *self) {
  struct range_node *r = (struct range_node *)self;
  if (rill__node_done(self))
    return;
  r->limit = INT64_MIN; /* stops a drain loop on the stack */
  rill__retire(self);
}

static void range_free(struct rill__node *self) {
  rill__free(self);
}

/* Synchronous fusion (core/node.h): the subscriber takes the values in
 * batches through range_poll; nothing is emitted, the end is told by
 * poll. */
static bool range_sync_fuse(struct rill__node *self) {
  self->flags |= RILL__POLLED;
  return true;
}

/* Up to `max` values; `limit` tells both the end and a cancel.  The
 * last value finishes the node at once, so the poller knows the end
 * without another call. */
static int range_poll(struct rill__node *self, rill_value_t *out, size_t stride,
                      size_t max, size_t *n, rill_error_t *err) {
  struct range_node *r = (struct range_node *)self;
  (void)err;
  size_t k = 0;
  if (RILL__LIKELY(r->next < r->limit)) {
    uint64_t left = (uint64_t)r->limit - (uint64_t)r->next;
    int64_t x = r->next;
    k = left < max ? (size_t)left : max;
    for (size_t j = 0; j < k; j++, out += stride)
      *out = rill_value_int(x + (int64_t)j);
    r->next = x + (int64_t)k;
  }
  *n = k;
  if (RILL__LIKELY(r->next < r->limit))
    return 1;
  if (!rill__node_done(self)) { /* exhausted */
    self->flags |= RILL__DONE;
    rill__retire(self);
  }
  return 0;
}

static const struct rill__node_vt range_node_vt = {
    .name = "range",
    .request = range_request,
    .cancel = range_cancel,
    .free = range_free,
    .sync_fuse = range_sync_fuse,
    .poll = range_poll,
};

static void range_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct range_obs *o = (struct range_obs *)self;
  struct range_node *r = rill__calloc(1, sizeof(*r));
  if (r == NULL) {
    rill__reject(down, RILL_ENOMEM, "range");
    return;
  }
  rill__node_init(&r->node, &range_node_vt, NULL);
  r->node.flags |= RILL__PULL_ONLY | RILL__SCALARS;
  r->down = down;
  r->next = o->start;
  r->end = o->end;
  r->limit = o->end;
  down->vt->on_subscribe(down, &r->node);
  if ((r->node.flags & (RILL__DONE | RILL__POLLED)) == 0 && r->next == r->end)
    range_drain(r);
}

static const struct rill__obs_vt range_vt = {
    .name = "range",
    .subscribe = range_subscribe,
};

rill_observable_t *rill_range(int64_t start, int64_t count) {
  if (count < 0 || (start > 0 && count > INT64_MAX - start)) {
    errno = EINVAL;
    return NULL;
  }
  struct range_obs *o = rill__obs_alloc(sizeof(*o), &range_vt);
  if (o == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  o->start = start;
  o->end = start + count;
  return &o->base;
}
