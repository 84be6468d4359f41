/* rill: merge(sources, n, prefetch) -- subscribes to every source at once
 * and emits their values as they come.
 *
 * Demand: never emits beyond downstream demand.  Each source is asked for
 * `prefetch` values up front (default 128) and topped up by what was
 * consumed once three quarters of that is used (RxJava's limit), so each
 * source's buffer holds at most `prefetch` values.
 * Re-entrancy (rule 1.3): one drain loop delivers everything; a value that
 * arrives while it is on the stack (a synchronous source answering a
 * top-up, a request made from on_next) is queued and delivered by that
 * loop, never nested into the downstream subscriber.  When nothing is
 * queued and there is demand, a value goes straight through (fast path).
 * Unbounded fast path: once downstream demand is unbounded and nothing is
 * queued, merge asks every source for unbounded demand too and wires each
 * inner node to deliver exactly as merge's downstream does, so values no
 * longer pass through merge at all (no counting, no buffering is needed).
 * Wiring happens only outside a delivery, and sources are then only asked
 * for more from merge's own subscribe loop, so no delivery nests (1.3).
 * Time: synchronous, none of its own.
 * Owns: the sources (recipe), the inner subscriptions and their buffered
 * values (released on cancel and error).
 * Errors: the first error cancels the other sources, drops buffered values
 * and is delivered at once, ahead of buffered values (RxJS; no delayError).
 * Completes after every source has completed and every buffer is empty;
 * merge of zero sources completes at once. */
#include <errno.h>

#include "rill-internal.h"

#define MERGE_DEFAULT_PREFETCH 128

struct merge_obs {
  rill_observable_t base;
  size_t n;
  size_t prefetch;
  rill_observable_t *sources[];
};

struct merge_node;

struct merge_inner {
  struct rill__node node;
  struct merge_node *m;
  struct rill__node *up;
  rill_value_t *queue; /* ring of `prefetch` slots */
  uint32_t head;
  uint32_t len;
  int64_t consumed; /* delivered since the last top-up */
  bool closed;      /* completed, failed or cancelled */
};

struct merge_node {
  struct rill__node node;
  struct rill__node *down;
  struct merge_obs *obs;
  int64_t demand;
  int64_t limit; /* top-up threshold */
  uint32_t prefetch;
  uint32_t n;
  uint32_t open;   /* sources not yet closed */
  uint32_t cursor; /* round-robin start for queued values */
  uint64_t queued; /* values in all queues */
  bool emitting;
  bool missed;
  bool failed;
  bool wired; /* unbounded fast path: inners deliver downstream directly */
  rill_error_t err;
  struct merge_inner inners[];
};

static void merge_drain(struct merge_node *m);

/* ---- inner subscriber ---------------------------------------------------*/

/* Ask the source for as many values as were consumed, in chunks. */
static void inner_top_up(struct merge_inner *in) {
  int64_t n = in->consumed;
  in->consumed = 0;
  if (in->up != NULL && !in->closed)
    rill__request(in->up, n);
}

static inline void inner_consumed(struct merge_inner *in) {
  if (RILL__UNLIKELY(++in->consumed >= in->m->limit))
    inner_top_up(in);
}

static void inner_on_subscribe(struct rill__node *self, struct rill__node *up) {
  struct merge_inner *in = (struct merge_inner *)self;
  if (in->up != NULL || in->closed || rill__node_done(&in->m->node)) {
    rill__cancel(up);
    return;
  }
  in->up = up;
  rill__request(up, in->m->wired ? RILL_UNBOUNDED : in->m->prefetch);
}

/* Slow path: queue the value (or drop it if merge is finished). */
static void inner_enqueue(struct merge_inner *in, rill_value_t v) {
  struct merge_node *m = in->m;
  if (in->closed || rill__node_done(&m->node)) {
    rill__drop(v);
    return;
  }
  if (in->len == m->prefetch) {
    /* The source sent more than it was asked for (rule 1.1 broken). */
    rill__drop(v);
    if (!m->failed) {
      m->failed = true;
      rill__error_init(&m->err, RILL_EPROTO, 0, "merge",
                       "merge: a source emitted beyond its demand");
    }
  } else {
    in->queue[(in->head + in->len++) % m->prefetch] = v;
    m->queued++;
  }
  merge_drain(m);
}

static void inner_on_next(void *self, rill_value_t v) {
  struct merge_inner *in = self;
  struct merge_node *m = in->m;
  /* Fast path: nothing queued, demand available, no drain on the stack:
   * the value goes straight through (DONE and closed imply !fast). */
  if (RILL__UNLIKELY(m->emitting || m->queued != 0 || m->demand == 0 ||
                     in->closed || rill__node_done(&m->node))) {
    inner_enqueue(in, v);
    return;
  }
  m->emitting = true;
  if (rill__emit(m->down, v) && m->demand != RILL_UNBOUNDED)
    m->demand--;
  if (RILL__LIKELY(!rill__node_done(&m->node)))
    inner_consumed(in);
  m->emitting = false;
  if (RILL__UNLIKELY(m->missed))
    merge_drain(m);
}

static void inner_on_error(struct rill__node *self, const rill_error_t *err) {
  struct merge_inner *in = (struct merge_inner *)self;
  struct merge_node *m = in->m;
  if (in->closed)
    return;
  in->closed = true;
  in->up = NULL;
  m->open--;
  if (!m->failed) {
    m->failed = true;
    m->err = *err;
  }
  merge_drain(m);
}

static void inner_on_complete(struct rill__node *self) {
  struct merge_inner *in = (struct merge_inner *)self;
  if (in->closed)
    return;
  in->closed = true;
  in->up = NULL;
  in->m->open--;
  merge_drain(in->m);
}

static const struct rill__node_vt inner_vt = {
    .name = "merge.inner",
    .on_subscribe = inner_on_subscribe,
    .on_error = inner_on_error,
    .on_complete = inner_on_complete,
    /* Nothing subscribes to an inner node; it is freed with the merge. */
};

/* ---- the drain loop -----------------------------------------------------*/

static void merge_close_inners(struct merge_node *m) {
  for (uint32_t i = 0; i < m->n; i++) {
    struct merge_inner *in = &m->inners[i];
    struct rill__node *up = in->up;
    if (!in->closed) {
      in->closed = true;
      m->open--;
    }
    in->up = NULL;
    if (up != NULL)
      rill__cancel(up);
  }
}

static void merge_release_queues(struct merge_node *m) {
  for (uint32_t i = 0; i < m->n; i++) {
    struct merge_inner *in = &m->inners[i];
    while (in->len > 0) {
      rill_value_release(in->queue[in->head]);
      in->head = (in->head + 1) % m->prefetch;
      in->len--;
    }
  }
  m->queued = 0;
}

static void merge_fail(struct merge_node *m) {
  rill_error_t err = m->err;
  m->node.flags |= RILL__DONE;
  merge_close_inners(m);
  merge_release_queues(m);
  m->down->vt->on_error(m->down, &err);
  rill__retire(&m->node);
}

static struct merge_inner *merge_next_queued(struct merge_node *m) {
  for (uint32_t k = 0; k < m->n; k++) {
    uint32_t i = (m->cursor + k) % m->n;
    if (m->inners[i].len > 0) {
      m->cursor = (i + 1) % m->n;
      return &m->inners[i];
    }
  }
  return NULL;
}

static void merge_emit_queued(struct merge_node *m) {
  while (m->demand > 0 && m->queued > 0 && !rill__node_done(&m->node) &&
         !m->failed) {
    struct merge_inner *in = merge_next_queued(m);
    rill_value_t v = in->queue[in->head];
    in->head = (in->head + 1) % m->prefetch;
    in->len--;
    m->queued--;
    if (rill__emit(m->down, v) && m->demand != RILL_UNBOUNDED)
      m->demand--;
    if (!rill__node_done(&m->node))
      inner_consumed(in);
  }
}

/* Step out of the way of an unbounded, empty merge (see the top comment). */
static void merge_wire(struct merge_node *m) {
  m->wired = true;
  for (uint32_t i = 0; i < m->n && !rill__node_done(&m->node); i++) {
    struct merge_inner *in = &m->inners[i];
    if (in->closed)
      continue;
    rill__node_wire(&in->node, m->down);
    if (in->up != NULL)
      rill__request(in->up, RILL_UNBOUNDED);
  }
}

static void merge_drain(struct merge_node *m) {
  if (m->emitting) {
    m->missed = true;
    return;
  }
  m->emitting = true;
  do {
    m->missed = false;
    if (rill__node_done(&m->node))
      break;
    if (m->failed) {
      merge_fail(m);
      break;
    }
    merge_emit_queued(m);
    if (!rill__node_done(&m->node) && !m->failed && m->open == 0 &&
        m->queued == 0) {
      m->node.flags |= RILL__DONE;
      m->down->vt->on_complete(m->down);
      rill__retire(&m->node);
      break;
    }
  } while (m->missed);
  m->emitting = false;
  if (!m->wired && m->demand == RILL_UNBOUNDED && m->queued == 0 &&
      !m->failed && !rill__node_done(&m->node))
    merge_wire(m);
}

/* ---- downstream-facing handlers -----------------------------------------*/

static void merge_request(struct rill__node *self, int64_t n) {
  struct merge_node *m = (struct merge_node *)self;
  if (rill__node_done(self))
    return;
  m->demand = rill__demand_add(m->demand, n);
  merge_drain(m);
}

static void merge_cancel(struct rill__node *self) {
  struct merge_node *m = (struct merge_node *)self;
  if (rill__node_done(self))
    return;
  m->node.flags |= RILL__DONE;
  merge_close_inners(m);
  merge_release_queues(m);
  rill__retire(self);
}

static void merge_free(struct rill__node *self) {
  struct merge_node *m = (struct merge_node *)self;
  merge_release_queues(m);
  rill_observable_free(&m->obs->base);
  rill__free(m);
}

static const struct rill__node_vt merge_node_vt = {
    .name = "merge",
    .request = merge_request,
    .cancel = merge_cancel,
    .free = merge_free,
};

/* ---- the recipe ---------------------------------------------------------*/

static void merge_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct merge_obs *o = (struct merge_obs *)self;
  uint32_t n = (uint32_t)o->n;
  uint32_t p = (uint32_t)o->prefetch;
  size_t head = sizeof(struct merge_node) + n * sizeof(struct merge_inner);
  struct merge_node *m =
      rill__calloc(1, head + (size_t)n * p * sizeof(rill_value_t));
  if (m == NULL) {
    rill__reject(down, RILL_ENOMEM, "merge");
    return;
  }
  rill__node_init(&m->node, &merge_node_vt, NULL);
  m->down = down;
  m->obs = (struct merge_obs *)rill_observable_ref(self);
  m->prefetch = p;
  m->limit = p - (p >> 2);
  m->n = n;
  m->open = n;
  rill_value_t *slots = (rill_value_t *)(void *)((unsigned char *)m + head);
  for (uint32_t i = 0; i < n; i++) {
    struct merge_inner *in = &m->inners[i];
    rill__node_init(&in->node, &inner_vt, inner_on_next);
    in->m = m;
    in->queue = slots + (size_t)i * p;
  }
  down->vt->on_subscribe(down, &m->node);
  /* `open` starts at n, so completion waits for every source. */
  for (uint32_t i = 0; i < n && !rill__node_done(&m->node) && !m->failed; i++)
    rill__subscribe(o->sources[i], &m->inners[i].node);
  merge_drain(m);
}

static void merge_destroy(rill_observable_t *self) {
  struct merge_obs *o = (struct merge_obs *)self;
  for (size_t i = 0; i < o->n; i++)
    rill_observable_free(o->sources[i]);
}

static const struct rill__obs_vt merge_vt = {
    .name = "merge",
    .subscribe = merge_subscribe,
    .destroy = merge_destroy,
};

rill_observable_t *rill_merge(rill_observable_t *const *sources, size_t n,
                              size_t prefetch) {
  if (prefetch == 0)
    prefetch = MERGE_DEFAULT_PREFETCH;
  if (n > UINT32_MAX / 2 || prefetch > UINT32_MAX / 2) {
    for (size_t i = 0; sources != NULL && i < n; i++)
      rill_observable_free(sources[i]);
    errno = EINVAL;
    return NULL;
  }
  struct merge_obs *o = (struct merge_obs *)rill__combine_create(
      sources, n, offsetof(struct merge_obs, sources), &merge_vt);
  if (o == NULL)
    return NULL;
  o->n = n;
  o->prefetch = prefetch;
  return &o->base;
}
