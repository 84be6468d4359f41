/* SPDX-License-Identifier: MIT */
/* rill: group_by(key_fn, opts) -- splits the source by key into groups and
 * emits one group value per new key (RxJS groupBy, RxJava 3 groupBy).  A
 * group value is an owned value carrying the key and the group's
 * observable (rill_group_key, rill_group_observable); the group's
 * observable has one subscriber, which gets the values of that key.
 *
 * Structure: three objects, because the outer and the groups outlive each
 * other both ways (RxJava).
 *   the outer   a generic source operator (rill__op): emits group values
 *               with its own demand and delivers its terminal;
 *   the core    the subscriber to the source (a kit inner), the map from
 *               keys to live groups (kit/keymap.h), the groups in idle
 *               order and the expiry timer.  Reference counted by the
 *               outer and by every group that may still refill the
 *               source; freed at the outermost rill call (its node is
 *               only ever retired), so that it may go from inside any of
 *               its callbacks;
 *   a group     an observable (rill__obs_alloc) with the node its one
 *               subscriber talks to, a bounded queue (kit/ring.h), its own
 *               demand and a drain loop (kit/drain.h).  Reference counted:
 *               by the core while the group is live, by each group value
 *               and observable handed out, and by its node while
 *               subscribed.
 * Demand (RxJava 3): the source is asked for `prefetch` values at
 * subscription -- or at the outer's first request, if it has made none
 * yet, since no group can go out before -- and refilled by halves (the
 * kit inner's rule) as values are consumed: delivered to a group's
 * subscriber, or released unused (a value dropped by a full group, the
 * queue of a cancelled or failed group, a value with a new key once the
 * outer is gone).  A value whose group
 * has demand and an empty queue goes straight to its subscriber, inside
 * the group's drain bracket (no queueing, no allocation); otherwise it
 * waits in the group's queue (at most group_buffer values; beyond: the
 * overflow policy).  The slowest group therefore holds the source back.
 * The outer's demand counts group values only: a new key without it
 * fails the stream with RILL_EOVERFLOW (RxJava 3's
 * MissingBackpressureException), never queues.
 * Unsubscribed groups (RxJava 3's abandonment): the value that opens a
 * group is queued in it before its group value is emitted, so a
 * subscriber made from that on_next gets it first.  A group not
 * subscribed when that on_next returns leaves the live set and completes
 * with what it holds (the source is refilled for it at once); its key's
 * next value opens a new group.
 * Ending: the source's completion completes every live group (after its
 * queue), then the outer; an error (the source's, key_fn's, a limit,
 * ENOMEM) stops the source and fails every live group and the outer at
 * once, releasing what the groups queued.  Eviction (max_groups, EVICT)
 * and expiry complete the group idle longest, after its queue.
 * Time: one scheduler timer, for expiry only, armed for the deadline of
 * the group idle longest; a value moves its group to the back of the
 * idle order and re-arms nothing: the timer re-arms itself when it fires
 * early (ev.pod's "be smart about timeouts", strategy 3).  Without expiry
 * and max_groups, nothing is kept per value but the routing.
 * Cancel: the outer's cancel stops new groups, not live ones (RxJava): the
 * source is cancelled once the outer and every live group are gone.
 * Order: groups are emitted in the order of their keys' first arrival;
 * each group's values in arrival order.
 * Owns: the source recipe; per subscription the core, the groups' keys
 * and queued values (released on every path exactly once).
 * Deviations: RxJS groupBy buffers an unsubscribed group without bound
 * and has no backpressure; RxJava 3 keeps unsubscribed groups' values
 * and abandons as here, but its group queues are unbounded (bounded here
 * by group_buffer with an overflow policy), it evicts through a map
 * factory (here max_groups and expiry), it asks the source for its
 * prefetch at subscription even before any group is requested (here at
 * the first request, so a subscriber that requests after subscribing does
 * not fail on a synchronous source), and it drops a new key's value after
 * the outer's cancel without refilling the source (refilled here).
 * No element selector (map the group's observable instead) and no
 * delayError.  A second subscriber of a group gets RILL_EBUSY (RxJava's
 * IllegalStateException). */
#include <errno.h>
#include <math.h>

#include "kit/kit.h"

/* The slow paths stay out of the per-value path's frame. */
#if defined(__GNUC__)
#define GB_NOINLINE __attribute__((noinline))
#else
#define GB_NOINLINE
#endif

#define GB_DEFAULT_PREFETCH 128
#define GB_MAX_PREFETCH (UINT32_MAX / 2)

struct gb_args {
  rill_observable_t *src; /* owned by the recipe */
  rill_map_fn key_fn;
  void *ctx;
  rill_sched_t *sched; /* NULL without expiry */
  double expiry;       /* HUGE_VAL: never */
  int64_t max_groups;  /* RILL_UNBOUNDED: no limit */
  rill_group_limit_t on_limit;
  int64_t prefetch;
  uint32_t group_buffer;
  rill_overflow_t overflow; /* LATEST, DROP or ERROR */
};

struct gb_core;

struct gb_group {
  rill_observable_t base;  /* first: the group's observable */
  struct rill__node node;  /* the subscription of its one subscriber */
  struct rill__node *down; /* the subscriber until its terminal or cancel */
  struct gb_core *core;    /* a reference, while it may refill the source */
  rill_value_t key;        /* owned */
  uint64_t hash;
  struct gb_group *prev, *next; /* the core's idle order, while live */
  double last;                  /* arrival of its last value (expiry) */
  struct rill__ring queue;
  int64_t demand; /* its subscriber's; 0 when it has none */
  struct rill__drain drain;
  bool live;       /* in the map: values with its key come here */
  bool subscribed; /* its one subscription was made */
  bool ended;      /* no more values: completes after its queue */
  bool failed;     /* ends with err, at once */
  rill_error_t err;
};

struct gb_core {
  struct rill__node reap; /* only retired: the deferred free */
  uint32_t refs;
  rill_observable_t *recipe; /* keeps the args alive */
  const struct gb_args *a;
  struct rill__op *op;    /* the outer, NULL once it is gone */
  int64_t demand;         /* the outer's */
  struct rill__inner *in; /* the source, NULL once stopped */
  int64_t consumed;       /* not yet handed to the inner */
  int64_t refill_at;      /* half the prefetch: the inner's refill */
  struct rill__keymap map;
  struct gb_group *head, *tail; /* live groups, idle longest first */
  int64_t nlive;
  rill_sched_timer_t *timer; /* expiry, or NULL */
  bool track_idle;           /* keep the idle order per value */
  bool deferred;             /* the source waits for the first request */
  bool failed;
};

struct gb_state {
  struct gb_core *core;
};

static void group_drain(struct gb_group *g);
static void group_queue(struct gb_core *c, struct gb_group *g, rill_value_t v);

/* ---- the core's life ----------------------------------------------------*/

static void core_free(struct rill__node *self) {
  struct gb_core *c = RILL__CONTAINER_OF(self, struct gb_core, reap);
  rill__keymap_clear(&c->map);
  rill_sched_timer_free(c->timer);
  rill_observable_free(c->recipe);
  rill__free(c);
}

static const struct rill__node_vt core_vt = {.name = "group_by",
                                             .free = core_free};

/* Cancel the source (idempotent); the timer has nothing left to do. */
static void core_stop_source(struct gb_core *c) {
  struct rill__inner *in = c->in;
  c->in = NULL;
  if (in != NULL)
    rill__inner_release(in);
  if (c->timer != NULL)
    rill_sched_timer_stop(c->timer);
}

/* The outer and every live group are gone: nobody needs the source. */
static void core_maybe_stop(struct gb_core *c) {
  if (c->op == NULL && c->nlive == 0)
    core_stop_source(c);
}

static void core_unref(struct gb_core *c) {
  if (--c->refs != 0)
    return;
  core_stop_source(c);
  rill__retire(&c->reap);
}

/* Hand what was consumed to the kit inner, which refills by halves. */
static void core_refill(struct gb_core *c) {
  int64_t n = c->consumed;
  c->consumed = 0;
  if (c->in != NULL)
    rill__inner_consumed(c->in, n);
}

/* n source values were consumed (delivered or released).  Counted here
 * and handed to the inner once half the prefetch is reached, when it
 * would refill anyway: one call per batch rather than per value. */
static inline void core_consumed(struct gb_core *c, int64_t n) {
  c->consumed += n;
  if (RILL__UNLIKELY(c->consumed >= c->refill_at))
    core_refill(c);
}

/* ---- groups: membership --------------------------------------------------*/

static void group_let_go_core(struct gb_group *g) {
  struct gb_core *c = g->core;
  g->core = NULL;
  if (c != NULL)
    core_unref(c);
}

static void idle_unlink(struct gb_core *c, struct gb_group *g) {
  if (g->prev != NULL)
    g->prev->next = g->next;
  else
    c->head = g->next;
  if (g->next != NULL)
    g->next->prev = g->prev;
  else
    c->tail = g->prev;
  g->prev = g->next = NULL;
}

static void idle_append(struct gb_core *c, struct gb_group *g) {
  g->prev = c->tail;
  g->next = NULL;
  if (c->tail != NULL)
    c->tail->next = g;
  else
    c->head = g;
  c->tail = g;
}

/* A value for g: it becomes the group idle shortest. */
static void group_touch(struct gb_core *c, struct gb_group *g) {
  if (c->a->expiry < HUGE_VAL)
    g->last = rill__sched_now(c->a->sched);
  if (c->tail != g) {
    idle_unlink(c, g);
    idle_append(c, g);
  }
}

/* Out of the live set (the caller drops the live reference after). */
static void group_detach(struct gb_core *c, struct gb_group *g) {
  rill__keymap_remove(&c->map, g->key, g->hash);
  idle_unlink(c, g);
  g->live = false;
  c->nlive--;
  core_maybe_stop(c);
}

/* A live group ends: evicted, expired, the source completed (err NULL), or
 * the stream failed.  A group nobody subscribed keeps what it holds for a
 * late subscriber, and the source is refilled for it now. */
static void group_end(struct gb_core *c, struct gb_group *g,
                      const rill_error_t *err) {
  group_detach(c, g);
  g->ended = true;
  if (err != NULL) {
    g->failed = true;
    g->err = *err;
  }
  if (g->subscribed) {
    group_drain(g);
  } else {
    if (g->failed)
      rill__ring_clear(&g->queue);
    else
      core_consumed(c, rill__ring_len(&g->queue));
    group_let_go_core(g);
  }
  rill_observable_free(&g->base); /* the live reference */
}

/* ---- the stream's end ----------------------------------------------------*/

static void core_fail(struct gb_core *c, const rill_error_t *err) {
  if (c->failed)
    return;
  c->failed = true;
  core_stop_source(c);
  while (c->head != NULL)
    group_end(c, c->head, err);
  struct rill__op *op = c->op;
  if (op != NULL) {
    c->op = NULL;
    rill__op_error(op, err);
  }
}

static void core_fail_code(struct gb_core *c, int code, const char *what) {
  rill_error_t err;
  rill__error_init(&err, code, 0, "group_by", "group_by: %s", what);
  core_fail(c, &err);
}

static void core_end(struct rill__inner *in, const rill_error_t *err) {
  struct gb_core *c = in->owner;
  if (err != NULL) {
    core_fail(c, err);
    return;
  }
  core_stop_source(c);
  while (c->head != NULL)
    group_end(c, c->head, NULL);
  struct rill__op *op = c->op;
  if (op != NULL) {
    c->op = NULL;
    rill__op_complete(op);
  }
}

/* ---- a group's subscriber
 * --------------------------------------------------*/

/* Deliver the group's terminal (from its drain loop only). */
static void group_terminate(struct gb_group *g) {
  struct rill__node *down = g->down;
  g->down = NULL;
  g->demand = 0;
  g->node.flags |= RILL__DONE;
  if (g->failed) {
    rill__ring_clear(&g->queue);
    down->vt->on_error(down, &g->err);
  } else {
    down->vt->on_complete(down);
  }
  group_let_go_core(g);
  rill__retire(&g->node);
}

static void group_drain_pass(struct gb_group *g) {
  while (g->down != NULL) {
    if (g->failed || (g->ended && rill__ring_empty(&g->queue))) {
      group_terminate(g);
      return;
    }
    if (g->demand == 0 || rill__ring_empty(&g->queue))
      return;
    struct gb_core *c = g->core; /* stays valid: its free is deferred */
    rill__demand_emit_to(g->down, &g->demand, rill__ring_pop(&g->queue));
    if (c != NULL)
      core_consumed(c, 1);
  }
}

static void group_drain(struct gb_group *g) {
  if (!rill__drain_enter(&g->drain))
    return; /* the loop on the stack sees it */
  do
    group_drain_pass(g);
  while (rill__drain_again(&g->drain));
}

static void group_request(struct rill__node *self, int64_t n) {
  struct gb_group *g = RILL__CONTAINER_OF(self, struct gb_group, node);
  if (rill__node_done(self))
    return;
  rill__demand_more(&g->demand, n);
  group_drain(g);
}

/* The subscriber let go: what the group queued is released (and counts as
 * consumed), and its key's next value opens a new group. */
static void group_cancel(struct rill__node *self) {
  struct gb_group *g = RILL__CONTAINER_OF(self, struct gb_group, node);
  if (rill__node_done(self))
    return;
  self->flags |= RILL__DONE;
  g->down = NULL;
  g->demand = 0;
  int64_t held = rill__ring_len(&g->queue);
  rill__ring_clear(&g->queue);
  struct gb_core *c = g->core;
  bool was_live = g->live;
  if (c != NULL) {
    if (was_live)
      group_detach(c, g);
    core_consumed(c, held);
  }
  group_let_go_core(g);
  if (was_live)
    rill_observable_free(&g->base); /* the node's reference remains */
  rill__retire(self);
}

static void group_node_free(struct rill__node *self) {
  struct gb_group *g = RILL__CONTAINER_OF(self, struct gb_group, node);
  rill_observable_free(&g->base); /* the node's reference */
}

static const struct rill__node_vt group_node_vt = {
    .name = "group",
    .request = group_request,
    .cancel = group_cancel,
    .free = group_node_free,
};

/* ---- a group's observable
 * --------------------------------------------------*/

static void group_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct gb_group *g = (struct gb_group *)self;
  if (g->subscribed) {
    rill_error_t err;
    rill__error_init(&err, RILL_EBUSY, 0, "group",
                     "group: already subscribed (a group has one subscriber)");
    down->vt->on_subscribe(down, &rill__dead_node);
    down->vt->on_error(down, &err);
    return;
  }
  g->subscribed = true;
  g->down = down;
  rill_observable_ref(self); /* the node's, until it is freed */
  down->vt->on_subscribe(down, &g->node);
  if (!rill__node_done(&g->node))
    group_drain(g); /* an ended group with nothing queued completes now */
}

static void group_destroy(rill_observable_t *self) {
  struct gb_group *g = (struct gb_group *)self;
  rill__ring_clear(&g->queue);
  rill_value_release(g->key);
  group_let_go_core(g);
}

static const struct rill__obs_vt group_obs_vt = {
    .name = "group",
    .subscribe = group_subscribe,
    .destroy = group_destroy,
};

/* A group value's box holds one reference to the group. */
static void group_value_release(void *ptr) {
  struct gb_group *g = ptr;
  rill_observable_free(&g->base);
}

/* A group for `key` (taken over), queue storage ready for its first
 * value; NULL on ENOMEM (key released). */
static struct gb_group *group_new(struct gb_core *c, rill_value_t key,
                                  uint64_t hash) {
  struct gb_group *g = rill__obs_alloc(sizeof(*g), &group_obs_vt);
  if (g == NULL) {
    rill_value_release(key);
    return NULL;
  }
  rill__node_init(&g->node, &group_node_vt, NULL);
  g->key = key;
  g->hash = hash;
  rill__ring_init(&g->queue, c->a->group_buffer);
  if (rill__ring_reserve(&g->queue, 1) < 0) {
    rill_observable_free(&g->base);
    return NULL;
  }
  return g;
}

/* ---- routing
 * -----------------------------------------------------------------*/

/* v for the live group g: straight to its subscriber when it can take it
 * now, else into its queue (overflow policy when full). */
static inline void group_push(struct gb_core *c, struct gb_group *g,
                              rill_value_t v) {
  if (c->track_idle)
    group_touch(c, g);
  if (g->demand > 0 && rill__ring_empty(&g->queue) &&
      rill__drain_enter(&g->drain)) {
    /* Inside the bracket: what its subscriber does in on_next waits. */
    rill__demand_emit_to(g->down, &g->demand, v);
    core_consumed(c, 1);
    while (rill__drain_again(&g->drain))
      group_drain_pass(g);
    return;
  }
  group_queue(c, g, v);
}

/* v waits in g's queue (the overflow policy when it is full). */
static GB_NOINLINE void group_queue(struct gb_core *c, struct gb_group *g,
                                    rill_value_t v) {
  const struct gb_args *a = c->a;
  if (rill__ring_len(&g->queue) >= a->group_buffer) {
    if (a->overflow == RILL_OVERFLOW_ERROR) {
      rill__drop(v);
      core_fail_code(c, RILL_EOVERFLOW,
                     "a value for a group whose queue is full");
      return;
    }
    /* DROP: the new value goes; LATEST: the oldest queued one. */
    rill__drop(a->overflow == RILL_OVERFLOW_DROP ? v
                                                 : rill__ring_pop(&g->queue));
    core_consumed(c, 1);
    if (a->overflow == RILL_OVERFLOW_DROP)
      return;
  }
  int rc = rill__ring_push(&g->queue, v);
  if (rc < 0) {
    core_fail_code(c, rc, "cannot queue a value for a group");
    return;
  }
  group_drain(g);
}

/* A value with a key that has no live group: open one and emit it. */
static GB_NOINLINE void core_open(struct gb_core *c, rill_value_t key,
                                  uint64_t hash, rill_value_t v) {
  const struct gb_args *a = c->a;
  if (c->op == NULL) { /* the outer is gone: no new groups */
    rill_value_release(key);
    rill__drop(v);
    core_consumed(c, 1);
    return;
  }
  if (c->demand == 0) {
    rill_value_release(key);
    rill__drop(v);
    core_fail_code(c, RILL_EOVERFLOW,
                   "no demand for a new group (request groups ahead)");
    return;
  }
  if (c->nlive >= a->max_groups) {
    if (a->on_limit == RILL_GROUP_LIMIT_ERROR) {
      rill_value_release(key);
      rill__drop(v);
      core_fail_code(c, RILL_EOVERFLOW, "more groups than max_groups");
      return;
    }
    group_end(c, c->head, NULL); /* its subscriber may do anything */
    if (c->op == NULL || c->in == NULL || c->failed) {
      rill_value_release(key);
      rill__drop(v);
      core_consumed(c, 1);
      return;
    }
  }
  struct gb_group *g = group_new(c, key, hash);
  rill_value_t gv;
  if (g == NULL || rill_value_owned(rill_observable_ref(&g->base),
                                    group_value_release, &gv) < 0) {
    if (g != NULL)
      rill_observable_free(&g->base);
    rill__drop(v);
    core_fail_code(c, RILL_ENOMEM, "cannot allocate a group");
    return;
  }
  if (rill__keymap_put(&c->map, g->key, hash, g) < 0) {
    rill_value_release(gv);
    rill_observable_free(&g->base);
    rill__drop(v);
    core_fail_code(c, RILL_ENOMEM, "cannot grow the map of groups");
    return;
  }
  g->live = true; /* the reference from rill__obs_alloc */
  idle_append(c, g);
  c->nlive++;
  g->core = c;
  c->refs++;
  if (c->timer != NULL) {
    g->last = rill__sched_now(a->sched);
    if (!rill_sched_timer_active(c->timer))
      rill_sched_timer_start(c->timer, a->expiry);
  }
  rill__ring_push(&g->queue, v); /* cannot fail: storage is reserved */
  rill_observable_ref(&g->base); /* g outlives the emission */
  struct rill__op *op = c->op;
  rill__demand_emit(op, &c->demand, gv);
  if (g->live && !g->subscribed)
    group_end(c, g, NULL); /* abandoned */
  rill_observable_free(&g->base);
}

static GB_NOINLINE void core_fail_key(struct gb_core *c, int rc) {
  rill_error_t err;
  rill__error_callback(&err, "group_by", rc, "key function failed");
  core_fail(c, &err);
}

/* A value from the source.  The inner's node is wired here (see
 * core_upstream), so this is its on_next: one call per value, and the
 * check the inner would make (nothing after it was stopped) made here. */
static void core_next(void *self, rill_value_t v) {
  struct gb_core *c = self;
  if (RILL__UNLIKELY(c->in == NULL)) {
    rill__drop(v);
    return;
  }
  const struct gb_args *a = c->a;
  rill_value_t key = {0};
  int rc = a->key_fn(a->ctx, v, &key);
  if (RILL__UNLIKELY(rc < 0)) {
    rill__drop(v);
    core_fail_key(c, rc);
    return;
  }
  if (RILL__UNLIKELY(c->in == NULL)) { /* stopped there (a failure too) */
    rill_value_release(key);
    rill__drop(v);
    return;
  }
  uint64_t hash = rill__value_hash(key);
  struct gb_group *g = rill__keymap_get(&c->map, key, hash);
  if (RILL__LIKELY(g != NULL)) {
    rill_value_release(key);
    group_push(c, g, v);
    return;
  }
  core_open(c, key, hash, v);
}

static void core_inner_next(struct rill__inner *in, rill_value_t v) {
  core_next(in->owner, v);
}

/* The source is known: its values come to core_next directly; with no
 * group requested yet, ask it for nothing (gb_on_request asks at the
 * first request). */
static void core_upstream(struct rill__inner *in) {
  struct gb_core *c = in->owner;
  in->node.next_fn = core_next;
  in->node.next_ctx = c;
  if (c->demand == 0) {
    in->prefetch = 0;
    c->deferred = true;
  }
}

static const struct rill__inner_ops core_inner_ops = {
    .on_next = core_inner_next,
    .on_end = core_end,
    .on_upstream = core_upstream,
};

/* Expiry: every group whose deadline has come completes; the timer is
 * re-armed for the next deadline. */
static void core_expire(rill_sched_timer_t *t, void *arg) {
  struct gb_core *c = arg;
  const struct gb_args *a = c->a;
  if (c->failed || c->in == NULL)
    return;
  double now = rill__sched_now(a->sched);
  while (c->head != NULL && c->head->last + a->expiry <= now) {
    group_end(c, c->head, NULL);
    if (c->failed || c->in == NULL)
      return;
  }
  if (c->head != NULL)
    rill_sched_timer_start(t, c->head->last + a->expiry - now);
}

/* ---- the outer
 * ------------------------------------------------------------------*/

static int gb_init(struct rill__op *op) {
  const struct gb_args *a = op->args;
  struct gb_state *st = op->state;
  struct gb_core *c = rill__calloc(1, sizeof(*c));
  if (c == NULL)
    return RILL_ENOMEM;
  c->in = rill__inner_new(&core_inner_ops, c, a->prefetch);
  if (c->in != NULL && a->expiry < HUGE_VAL)
    c->timer = rill_sched_timer_new(a->sched, core_expire, c);
  if (c->in == NULL || (a->expiry < HUGE_VAL && c->timer == NULL)) {
    if (c->in != NULL)
      rill__inner_release(c->in);
    rill__free(c);
    return RILL_ENOMEM;
  }
  rill__node_init(&c->reap, &core_vt, NULL);
  rill__keymap_init(&c->map);
  c->refs = 1; /* the outer's */
  c->recipe = rill_observable_ref(op->obs);
  c->a = a;
  c->op = op;
  c->track_idle = a->max_groups != RILL_UNBOUNDED || a->expiry < HUGE_VAL;
  c->refill_at = a->prefetch - a->prefetch / 2;
  st->core = c;
  return 0;
}

static void gb_on_subscribe(struct rill__op *op) {
  const struct gb_args *a = op->args;
  struct gb_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op) && st->core->in != NULL)
    rill__inner_subscribe(st->core->in, a->src);
}

static void gb_on_request(struct rill__op *op, int64_t n) {
  const struct gb_args *a = op->args;
  struct gb_state *st = op->state;
  struct gb_core *c = st->core;
  rill__demand_more(&c->demand, n);
  if (c->deferred && c->in != NULL && c->in->up != NULL) {
    c->deferred = false;
    c->in->prefetch = a->prefetch;
    rill__request(c->in->up, a->prefetch);
  }
}

/* No more groups; the live ones go on (and keep the source). */
static void gb_on_cancel(struct rill__op *op) {
  struct gb_state *st = op->state;
  struct gb_core *c = st->core;
  c->op = NULL;
  core_maybe_stop(c);
}

static void gb_destroy(struct rill__op *op) {
  struct gb_state *st = op->state;
  if (st->core != NULL)
    core_unref(st->core);
  st->core = NULL;
}

static void gb_args_release(void *args) {
  struct gb_args *a = args;
  rill_observable_free(a->src);
  a->src = NULL;
}

static const struct rill__op_ops gb_ops = {
    .name = "group_by",
    .source = true,
    .args_size = sizeof(struct gb_args),
    .state_size = sizeof(struct gb_state),
    .init = gb_init,
    .on_subscribe = gb_on_subscribe,
    .on_request = gb_on_request,
    .on_cancel = gb_on_cancel,
    .destroy = gb_destroy,
    .args_release = gb_args_release,
};

/* The options as args; false for a bad one. */
static bool gb_args_from(struct gb_args *a, const rill_group_by_opts_t *o) {
  rill_group_by_opts_t none = {0};
  if (o == NULL)
    o = &none;
  int overflow = rill__overflow_pick(o->overflow, RILL_OVERFLOW_LATEST);
  if (overflow < 0 || !(o->expiry_ms >= 0) ||
      (o->on_limit != RILL_GROUP_LIMIT_ERROR &&
       o->on_limit != RILL_GROUP_LIMIT_EVICT) ||
      (o->expiry_ms > 0 && o->expiry_ms < HUGE_VAL && o->sched == NULL))
    return false;
  a->overflow = (rill_overflow_t)overflow;
  a->on_limit = o->on_limit;
  a->expiry = o->expiry_ms > 0 ? o->expiry_ms : HUGE_VAL;
  a->sched = a->expiry < HUGE_VAL ? o->sched : NULL;
  a->max_groups = o->max_groups == 0 || o->max_groups >= (size_t)INT64_MAX
                      ? RILL_UNBOUNDED
                      : (int64_t)o->max_groups;
  size_t prefetch = o->prefetch == 0 ? GB_DEFAULT_PREFETCH : o->prefetch;
  if (prefetch > GB_MAX_PREFETCH)
    prefetch = GB_MAX_PREFETCH;
  a->prefetch = (int64_t)prefetch;
  size_t buffer = o->group_buffer == 0 ? prefetch : o->group_buffer;
  a->group_buffer = (uint32_t)(buffer < prefetch ? buffer : prefetch);
  return true;
}

rill_observable_t *rill_group_by(rill_observable_t *src, rill_map_fn key_fn,
                                 void *ctx, const rill_group_by_opts_t *opts) {
  if (src == NULL) {
    rill__errno_null_source();
    return NULL;
  }
  struct gb_args a = {.src = src, .key_fn = key_fn, .ctx = ctx};
  if (key_fn == NULL || !gb_args_from(&a, opts)) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(NULL, &gb_ops, &a);
}

rill_value_t rill_group_key(rill_value_t group) {
  if (rill__value_box_release(group) != group_value_release)
    return (rill_value_t){0};
  const struct gb_group *g = rill_value_owned_ptr(group);
  return g->key;
}

rill_observable_t *rill_group_observable(rill_value_t group) {
  if (rill__value_box_release(group) != group_value_release) {
    errno = EINVAL;
    return NULL;
  }
  struct gb_group *g = rill_value_owned_ptr(group);
  return rill_observable_ref(&g->base);
}
