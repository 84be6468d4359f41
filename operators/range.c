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
  int64_t demand;
  bool emitting;
};

static void range_complete(struct range_node *r) {
  r->node.flags |= RILL__DONE;
  r->down->vt->on_complete(r->down);
  rill__retire(&r->node);
}

/* Up to `want` values (RILL_UNBOUNDED: no limit) into a stage with at most
 * two fused steps: the steps are copied into locals so the loop is the
 * user's calls and little else.  Returns how many values consumed demand.
 * Steps are immutable once subscribed, and a stage that re-wires itself
 * later (merge) keeps its own next_fn valid, so the copy stays correct. */
static RILL__ALWAYS_INLINE int64_t range_run_impl(struct range_node *r,
                                                  int64_t want,
                                                  const bool bounded) {
  const struct rill__node *down = r->down;
  struct rill__step s0 = {0}, s1 = {0};
  uint32_t n = down->nsteps;
  if (n > 0)
    s0 = down->steps[0];
  if (n > 1)
    s1 = down->steps[1];
  rill__next_fn next = down->next_fn;
  void *next_ctx = down->next_ctx;
  struct rill__node *owner = down->steps_owner;
  int64_t i = r->next;
  const int64_t end = r->end;
  int64_t sent = 0;
  while (i != end && (!bounded || sent != want)) {
    rill_value_t v = rill_value_int(i++);
    /* Step results: a map fails below 0; a filter drops at 0, fails
     * below 0.  An int needs no release when a filter drops it. */
    if (n > 0) {
      int rc;
      if (s0.kind == RILL__STEP_MAP) {
        rill_value_t out;
        rc = s0.fn.map(s0.ctx, v, &out);
        v = out;
      } else {
        rc = s0.fn.pred(s0.ctx, v);
        if (rc == 0)
          continue;
      }
      if (RILL__UNLIKELY(rc < 0)) {
        rill__steps_fail(owner, rc, s0.kind);
        break;
      }
      if (n > 1) {
        if (s1.kind == RILL__STEP_MAP) {
          rill_value_t out;
          rc = s1.fn.map(s1.ctx, v, &out);
          rill_value_release(v);
          v = out;
        } else {
          rc = s1.fn.pred(s1.ctx, v);
          if (rc <= 0)
            rill_value_release(v);
          if (rc == 0)
            continue;
        }
        if (RILL__UNLIKELY(rc < 0)) {
          rill__steps_fail(owner, rc, s1.kind);
          break;
        }
      }
    }
    next(next_ctx, v);
    sent++;
    if (RILL__UNLIKELY(rill__node_done(&r->node)))
      break;
  }
  r->next = i;
  return sent;
}

/* Two copies of the loop: unbounded demand needs no counting at all. */
static int64_t range_run(struct range_node *r, int64_t want) {
  if (want == RILL_UNBOUNDED)
    return range_run_impl(r, want, false);
  return range_run_impl(r, want, true);
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
    rill_value_t v = rill_value_int(r->next++);
    if (rill__emit(down, v) && r->demand != RILL_UNBOUNDED)
      r->demand--;
  }
  r->emitting = false;
}

static void range_request(struct rill__node *self, int64_t n) {
  struct range_node *r = (struct range_node *)self;
  if (rill__node_done(self))
    return;
  r->demand = rill__demand_add(r->demand, n);
  range_drain(r);
}

static void range_cancel(struct rill__node *self) {
  if (!rill__node_done(self))
    rill__retire(self);
}

static void range_free(struct rill__node *self) {
  rill__free(self);
}

static const struct rill__node_vt range_node_vt = {
    .name = "range",
    .request = range_request,
    .cancel = range_cancel,
    .free = range_free,
};

static void range_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct range_obs *o = (struct range_obs *)self;
  struct range_node *r = rill__calloc(1, sizeof(*r));
  if (r == NULL) {
    rill__reject(down, RILL_ENOMEM, "range");
    return;
  }
  rill__node_init(&r->node, &range_node_vt, NULL);
  r->down = down;
  r->next = o->start;
  r->end = o->end;
  down->vt->on_subscribe(down, &r->node);
  if (!rill__node_done(&r->node) && r->next == r->end)
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
