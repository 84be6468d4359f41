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

static void range_free(struct rill__node *self) { rill__free(self); }

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
