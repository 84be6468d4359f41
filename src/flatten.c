/* SPDX-License-Identifier: MIT */
/* rill: the engine of the higher-order family (merge_map, concat_map,
 * switch_map, exhaust_map, concat_map_eager), built from the kit.
 *
 * Each outer value goes through the user's function, which returns an
 * observable; each such observable is subscribed as an inner (kit/inner.h)
 * and its values are flattened into one stream.  The modes differ only in
 * which inners may run and which may emit:
 *   MERGE   up to max_concurrency inners at once; values interleave.  The
 *           outer is asked for max_concurrency values, then one more as
 *           each inner ends (RxJS mergeMap(project, concurrent), Reactor
 *           flatMap(fn, concurrency, prefetch)).  concat_map is MERGE with
 *           one inner.
 *   EAGER   like MERGE, but only the oldest live inner emits; the others
 *           fill their queues (Reactor flatMapSequential).
 *   SWITCH  a new outer value cancels the current inner (releasing what it
 *           queued); the outer is consumed at its own pace (unbounded).
 *   EXHAUST an outer value that arrives while an inner runs is released
 *           unused; the outer is consumed at its own pace (unbounded).
 *   EXPAND  every value that goes downstream is also projected; the
 *           source's values run as one-value inners; a value that finds
 *           every slot busy waits in `pending` for the next free one.
 *
 * Flow control is the kit's: every signal updates state and calls
 * flat_drain(); only the drain loop emits, requests more from the outer,
 * retires finished inners and delivers the terminal.  A value arriving
 * while nothing drains, with demand and an empty queue ahead of it, is
 * emitted at once inside the drain bracket (the fast path): no queueing
 * and no allocation per element.
 * Wiring: when downstream demand is unbounded, nothing is queued and no
 * drain runs, an inner whose upstream is pull-only (RILL__PULL_ONLY: it
 * emits only inside its own request call) is wired straight to downstream
 * and asked for everything while flatten holds its drain bracket: its
 * values then cost flatten nothing (merge of ranges runs at range's
 * speed), and anything that happens meanwhile waits for the bracket, so
 * nothing nests.
 *
 * Errors: an outer or inner error, or the function failing, cancels
 * everything else and is delivered once, at once (RxJS; no "delay errors"
 * variant).  Ownership: queued values are released on every path; the
 * outer value is borrowed by the function and released after it. */
#include <errno.h>

#include "flatten.h"
#include "kit/kit.h"

struct flat_args {
  rill_flat_map_fn fn;
  void *ctx;
  void (*ctx_free)(void *ctx); /* with the recipe, or NULL */
  enum rill__flat_mode mode;
  int64_t max_concurrency; /* RILL_UNBOUNDED: no limit */
  int64_t prefetch;        /* per inner */
  int64_t outer_prefetch;  /* outer values asked ahead (0: one per slot) */
};

/* A doubly linked list of inners: `live` links through prev/next, the
 * work lists through wprev/wnext (an inner is on one of them at most:
 * `ready` needs queued values, `finished` none), so every change is O(1)
 * however many inners are live. */
struct flat_list {
  struct rill__inner *head, *tail;
};
enum { FLAT_NOWHERE, FLAT_READY, FLAT_FINISHED, FLAT_GONE };

struct flat_state {
  struct rill__drain drain;
  int64_t demand;            /* downstream's, not yet produced */
  int64_t outer_credit;      /* outer values to request at the next pass */
  struct flat_list live;     /* every live inner, oldest first */
  struct flat_list ready;    /* MERGE: inners with queued values, in turn */
  struct flat_list finished; /* inners that ended with nothing queued */
  uint64_t queued;           /* values queued in all inners */
  int64_t nlive;             /* inners on `live` */
  struct rill__ring pending; /* EXPAND: values waiting for a slot */
  struct rill__ring backlog; /* outer_prefetch: outer values asked ahead */
  int64_t outer_taken;       /* backlog values used since the last top-up */
  uint64_t next_index;
  uint32_t projecting; /* fn calls (and their inners' starts) on the stack:
                          each holds a slot */
  struct rill__inner *wiring; /* may be wired when its upstream is known */
  bool outer_done;
  bool failed;
  rill_error_t err;
};

static void flat_drain(struct rill__op *op);
static void flat_outer_taken(struct rill__op *op);
static void flat_expand(struct rill__op *op, rill_value_t v);
static void flat_project(struct rill__op *op, rill_value_t v);
static void flat_drain_pass(struct rill__op *op);
static void flat_request_outer(struct rill__op *op);

/* ---- inners ---------------------------------------------------------------*/

static void live_add(struct flat_list *l, struct rill__inner *in) {
  in->prev = l->tail;
  in->next = NULL;
  if (l->tail != NULL)
    l->tail->next = in;
  else
    l->head = in;
  l->tail = in;
}

static void live_remove(struct flat_list *l, struct rill__inner *in) {
  if (in->prev != NULL)
    in->prev->next = in->next;
  else
    l->head = in->next;
  if (in->next != NULL)
    in->next->prev = in->prev;
  else
    l->tail = in->prev;
  in->prev = in->next = NULL;
}

static struct flat_list *work_list(struct flat_state *st, int which) {
  return which == FLAT_READY ? &st->ready : &st->finished;
}

static void work_remove(struct flat_state *st, struct rill__inner *in) {
  if (in->wlist == FLAT_NOWHERE || in->wlist == FLAT_GONE)
    return;
  struct flat_list *l = work_list(st, in->wlist);
  if (in->wprev != NULL)
    in->wprev->wnext = in->wnext;
  else
    l->head = in->wnext;
  if (in->wnext != NULL)
    in->wnext->wprev = in->wprev;
  else
    l->tail = in->wprev;
  in->wprev = in->wnext = NULL;
  in->wlist = FLAT_NOWHERE;
}

static void work_add(struct flat_state *st, struct rill__inner *in, int which) {
  if (in->wlist == which)
    return;
  work_remove(st, in);
  struct flat_list *l = work_list(st, which);
  in->wprev = l->tail;
  in->wnext = NULL;
  if (l->tail != NULL)
    l->tail->wnext = in;
  else
    l->head = in;
  l->tail = in;
  in->wlist = which;
}

/* Let go of an inner: off every list, its queue released, freed later. */
static void flat_forget(struct flat_state *st, struct rill__inner *in) {
  if (in->wlist == FLAT_GONE)
    return;
  st->queued -= rill__ring_len(&in->queue);
  work_remove(st, in);
  live_remove(&st->live, in);
  st->nlive--;
  in->wlist = FLAT_GONE;
  rill__inner_release(in);
}

static void flat_release_all(struct flat_state *st) {
  while (st->live.head != NULL)
    flat_forget(st, st->live.head);
}

static void flat_fail(struct rill__op *op, const rill_error_t *err) {
  struct flat_state *st = op->state;
  if (!st->failed) {
    st->failed = true;
    st->err = *err;
  }
  flat_drain(op);
}

/* A queue push failed (rc from rill__ring_push), or an allocation (rc
 * RILL_ENOMEM): overflow means a source sent more than it was asked for. */
static void flat_fail_queue(struct rill__op *op, int rc, const char *what) {
  rill_error_t err;
  if (rc == RILL_EOVERFLOW)
    rill__error_init(&err, RILL_EPROTO, 0, op->ops->name,
                     "%s: a source sent more than requested (rule 1.1)",
                     op->ops->name);
  else
    rill__error_init(&err, rc, 0, op->ops->name, "%s: cannot %s", op->ops->name,
                     what);
  flat_fail(op, &err);
}

/* Emit v downstream (inside the drain bracket); EXPAND then projects it. */
static void flat_deliver(struct rill__op *op, rill_value_t v) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (a->mode != RILL__FLAT_EXPAND) {
    rill__demand_emit(op, &st->demand, v);
    return;
  }
  rill_value_t keep = rill_value_retain(v);
  if (rill__demand_emit(op, &st->demand, v))
    flat_expand(op, keep);
  else
    rill__drop(keep); /* a fused filter dropped it: not emitted */
}

/* May the inner emit now?  EAGER: only the oldest. */
static bool flat_may_emit(const struct rill__op *op,
                          const struct rill__inner *in) {
  const struct flat_args *a = op->args;
  const struct flat_state *st = op->state;
  return a->mode != RILL__FLAT_EAGER || st->live.head == in;
}

static void flat_inner_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct flat_state *st = op->state;
  if (rill__op_done(op) || st->failed) {
    rill__drop(v);
    return;
  }
  if (st->demand > 0 && rill__ring_empty(&in->queue) && flat_may_emit(op, in) &&
      rill__drain_enter(&st->drain)) {
    /* The fast path, inside the bracket: a value from this inner's
     * on_next makes nothing nest. */
    flat_deliver(op, v);
    rill__inner_consumed(in, 1);
    while (rill__drain_again(&st->drain))
      flat_drain_pass(op); /* what was missed meanwhile */
    flat_request_outer(op);
    return;
  }
  int rc = rill__ring_push(&in->queue, v);
  if (rc == 0) {
    st->queued++;
    work_add(st, in, FLAT_READY);
  }
  if (rc < 0) {
    flat_fail_queue(op, rc, "queue a value");
    return;
  }
  flat_drain(op);
}

static void flat_inner_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct flat_state *st = op->state;
  if (rill__ring_empty(&in->queue))
    work_add(st, in, FLAT_FINISHED); /* the drain loop retires it */
  if (err != NULL) {
    flat_fail(op, err);
    return;
  }
  flat_drain(op);
}

/* The inner's upstream is known: wire it if flat_outer_next allowed it
 * and the upstream is pull-only (see the top comment). */
static void flat_inner_upstream(struct rill__inner *in) {
  struct rill__op *op = in->owner;
  struct flat_state *st = op->state;
  if (st->wiring != in || !(in->up->flags & RILL__PULL_ONLY))
    return;
  rill__node_wire(&in->node, op->down);
  in->prefetch = RILL_UNBOUNDED;
}

static const struct rill__inner_ops flat_inner_ops = {
    .on_next = flat_inner_next,
    .on_end = flat_inner_end,
    .on_upstream = flat_inner_upstream,
};

/* May a new inner be wired?  Only with unbounded demand, no drain on the
 * stack (so not inside a downstream on_next) and nothing queued ahead. */
static bool flat_may_wire(struct rill__op *op, const struct rill__inner *in) {
  const struct flat_args *a = op->args;
  const struct flat_state *st = op->state;
  if (st->demand != RILL_UNBOUNDED || rill__drain_running(&st->drain) ||
      a->mode == RILL__FLAT_EXPAND) /* every value must pass flat_deliver */
    return false;
  if (a->mode == RILL__FLAT_EAGER && st->live.head != in)
    return false;
  return st->queued == 0;
}

/* ---- the drain loop
 * ---------------------------------------------------------*/

/* The next inner with a value that may go out, or NULL: MERGE takes the
 * ready inners in turn, EAGER only the oldest live one. */
static struct rill__inner *flat_pick(struct rill__op *op) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (a->mode != RILL__FLAT_EAGER)
    return st->ready.head;
  struct rill__inner *in = st->live.head;
  return in != NULL && !rill__ring_empty(&in->queue) ? in : NULL;
}

/* An outer value asked ahead was used: top the outer up by halves. */
static void flat_outer_taken(struct rill__op *op) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (++st->outer_taken >= a->outer_prefetch - a->outer_prefetch / 2) {
    st->outer_credit += st->outer_taken;
    st->outer_taken = 0;
  }
}

/* An inner that ended with nothing left to emit goes; it makes room for
 * one more outer value (MERGE and EAGER with a limit): the next one asked
 * ahead (outer_prefetch), or one more asked of the outer. */
static void flat_retire(struct rill__op *op, struct rill__inner *in) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  flat_forget(st, in);
  if (rill__op_done(op) || st->failed)
    return; /* nothing more starts; the pass ends the stream */
  if (a->mode == RILL__FLAT_EXPAND && !rill__ring_empty(&st->pending)) {
    flat_project(op, rill__ring_pop(&st->pending)); /* the slot expands */
    return;
  }
  if (a->outer_prefetch > 0) {
    if (!rill__ring_empty(&st->backlog)) {
      flat_outer_taken(op);
      flat_project(op, rill__ring_pop(&st->backlog));
    }
    return;
  }
  if (a->max_concurrency != RILL_UNBOUNDED &&
      (a->mode == RILL__FLAT_MERGE || a->mode == RILL__FLAT_EAGER ||
       a->mode == RILL__FLAT_EXPAND))
    st->outer_credit++;
}

/* Emit one queued value of `in`, keep the lists right, and retire it if
 * that was its last one and it has ended. */
static void flat_emit_from(struct rill__op *op, struct rill__inner *in) {
  struct flat_state *st = op->state;
  rill_value_t v = rill__ring_pop(&in->queue);
  st->queued--;
  if (rill__ring_empty(&in->queue)) {
    work_remove(st, in);
  } else if (in->wnext != NULL) { /* round robin: to the back */
    work_remove(st, in);
    work_add(st, in, FLAT_READY);
  }
  flat_deliver(op, v);
  /* on_next may have switched this inner away (switch_map over a source
   * it made push): then it is gone already. */
  if (!rill__op_done(op) && !st->failed && in->wlist != FLAT_GONE) {
    if (in->done && rill__ring_empty(&in->queue))
      flat_retire(op, in);
    else
      rill__inner_consumed(in, 1);
  }
}

static void flat_drain_pass(struct rill__op *op) {
  struct flat_state *st = op->state;
  if (rill__op_done(op)) { /* cancelled */
    flat_release_all(st);
    return;
  }
  if (st->failed) {
    flat_release_all(st);
    rill__op_error(op, &st->err); /* cancels the outer, retires the node */
    return;
  }
  for (;;) {
    while (st->finished.head != NULL) {
      flat_retire(op, st->finished.head); /* may start the next inner */
      if (rill__op_done(op) || st->failed) {
        rill__drain_miss(&st->drain); /* one more pass ends the stream */
        return;
      }
    }
    if (st->demand == 0)
      break;
    struct rill__inner *in = flat_pick(op);
    if (in == NULL)
      break;
    flat_emit_from(op, in);
    if (rill__op_done(op) || st->failed) {
      rill__drain_miss(&st->drain); /* one more pass cleans up */
      return;
    }
  }
  if (st->outer_done && st->live.head == NULL &&
      rill__ring_empty(&st->pending) && rill__ring_empty(&st->backlog))
    rill__op_complete(op);
}

/* Ask the outer for the values finished inners made room for.  Outside
 * the drain bracket, so that a synchronous inner subscribed from the
 * outer's on_next takes the fast path; the outer's own drain loop absorbs
 * a request made while it emits, so the stack stays flat. */
static void flat_request_outer(struct rill__op *op) {
  struct flat_state *st = op->state;
  if (st->outer_credit == 0 || st->outer_done || op->up == NULL ||
      rill__op_done(op))
    return;
  int64_t n = st->outer_credit;
  st->outer_credit = 0;
  rill__request(op->up, n);
}

static void flat_drain(struct rill__op *op) {
  struct flat_state *st = op->state;
  if (!rill__drain_enter(&st->drain))
    return;
  do
    flat_drain_pass(op);
  while (rill__drain_again(&st->drain));
  flat_request_outer(op);
}

/* ---- the outer
 * ----------------------------------------------------------------*/

/* Subscribe a new inner to `obs` (taken over). */
static void flat_start_inner(struct rill__op *op, rill_observable_t *obs) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (a->mode == RILL__FLAT_SWITCH && st->live.head != NULL) {
    flat_forget(st, st->live.head); /* releases what it queued */
    /* its cancel may have ended the stage (a callback of the old inner's
     * pipeline that cancels, e.g. a tap on_cancel hook) */
    if (rill__op_done(op) || st->failed) {
      rill_observable_free(obs);
      return;
    }
  }
  struct rill__inner *in = rill__inner_new(&flat_inner_ops, op, a->prefetch);
  if (in == NULL) {
    rill_observable_free(obs);
    flat_fail_queue(op, RILL_ENOMEM, "allocate an inner subscription");
    return;
  }
  in->index = st->next_index++;
  live_add(&st->live, in);
  st->nlive++;
  if (flat_may_wire(op, in)) {
    /* Hold the bracket while a wired inner delivers (see the top). */
    rill__drain_enter(&st->drain);
    st->wiring = in;
    rill__inner_subscribe(in, obs);
    st->wiring = NULL;
    rill_observable_free(obs);
    while (rill__drain_again(&st->drain))
      flat_drain_pass(op);
    flat_request_outer(op);
    return;
  }
  rill__inner_subscribe(in, obs);
  rill_observable_free(obs);
  flat_drain(op);
}

/* fn(v) (v borrowed, then released) and a new inner on its observable. */
static void flat_start_projected(struct rill__op *op, rill_value_t v);

/* The slot is taken while fn runs and its inner starts: an outer value
 * that fn (or that start) makes arrive waits for it (concat_map's one at
 * a time, expand's limit). */
static void flat_project(struct rill__op *op, rill_value_t v) {
  struct flat_state *st = op->state;
  st->projecting++;
  flat_start_projected(op, v);
  st->projecting--;
}

static void flat_start_projected(struct rill__op *op, rill_value_t v) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  rill_observable_t *inner_obs = NULL;
  int rc = a->fn(a->ctx, v, &inner_obs);
  rill__drop(v);
  if (rc >= 0 && inner_obs == NULL)
    rc = RILL_EINVAL; /* a function that says yes must give an observable */
  if (rc < 0) {
    rill_observable_free(inner_obs);
    rill_error_t err;
    rill__error_callback(&err, op->ops->name, rc, "function failed");
    flat_fail(op, &err);
    return;
  }
  if (rill__op_done(op) || st->failed) { /* the function cancelled */
    rill_observable_free(inner_obs);
    return;
  }
  flat_start_inner(op, inner_obs);
}

/* EXPAND: a value went downstream; expand it now if a slot is free, else
 * it waits (RxJS expand buffers the same way). */
static void flat_expand(struct rill__op *op, rill_value_t v) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (rill__op_done(op) || st->failed) {
    rill__drop(v);
    return;
  }
  if (st->nlive + st->projecting < a->max_concurrency) {
    flat_project(op, v);
    return;
  }
  int rc = rill__ring_push(&st->pending, v);
  if (rc < 0)
    flat_fail_queue(op, rc, "keep a value to expand");
}

static void flat_outer_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  if (rill__op_done(op) || st->failed) {
    rill__drop(v);
    return;
  }
  if (a->mode == RILL__FLAT_EXHAUST && st->live.head != NULL) {
    rill__drop(v); /* busy: dropped unused */
    return;
  }
  if (a->mode == RILL__FLAT_EXPAND) {
    /* The source's own values go out like an inner's (and are expanded
     * when they do). */
    rill_observable_t *one = rill_just(1, v);
    if (one == NULL) {
      flat_fail_queue(op, RILL_ENOMEM, "hold a value");
      return;
    }
    flat_start_inner(op, one);
    return;
  }
  if (a->outer_prefetch > 0) {
    if (st->nlive + st->projecting >= a->max_concurrency ||
        !rill__ring_empty(&st->backlog)) {
      int rc = rill__ring_push(&st->backlog, v); /* waits for a slot */
      if (rc < 0)
        flat_fail_queue(op, rc, "keep an outer value");
      return;
    }
    flat_outer_taken(op);
  }
  flat_project(op, v);
}

static void flat_on_subscribe(struct rill__op *op) {
  const struct flat_args *a = op->args;
  struct flat_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  bool bounded = a->max_concurrency != RILL_UNBOUNDED &&
                 (a->mode == RILL__FLAT_MERGE || a->mode == RILL__FLAT_EAGER ||
                  a->mode == RILL__FLAT_EXPAND);
  rill__ring_init(&st->pending, UINT32_MAX / 2);
  rill__ring_init(&st->backlog,
                  a->outer_prefetch > 0 ? (uint32_t)a->outer_prefetch : 1);
  st->outer_credit = bounded ? a->max_concurrency : RILL_UNBOUNDED;
  if (a->outer_prefetch > 0)
    st->outer_credit = a->outer_prefetch;
  flat_drain(op);
}

static void flat_on_error(struct rill__op *op, const rill_error_t *err) {
  flat_fail(op, err);
}

static void flat_on_complete(struct rill__op *op) {
  struct flat_state *st = op->state;
  st->outer_done = true;
  flat_drain(op);
}

static void flat_on_request(struct rill__op *op, int64_t n) {
  struct flat_state *st = op->state;
  rill__demand_more(&st->demand, n);
  flat_drain(op);
}

/* Let every inner go now (a wired one stops emitting at once); a loop on
 * the stack notices the stage is done, and nothing it holds is freed
 * before the outermost rill call returns. */
static void flat_on_cancel(struct rill__op *op) {
  struct flat_state *st = op->state;
  flat_release_all(st);
  if (rill__drain_running(&st->drain))
    rill__drain_miss(&st->drain);
}

static void flat_destroy(struct rill__op *op) {
  struct flat_state *st = op->state;
  flat_release_all(st);
  rill__ring_clear(&st->pending);
  rill__ring_clear(&st->backlog);
}

static void flat_args_release(void *args) {
  struct flat_args *a = args;
  if (a->ctx_free != NULL)
    a->ctx_free(a->ctx);
}

#define FLAT_OPS(n)                                                            \
  {                                                                            \
    .name = (n), .args_size = sizeof(struct flat_args),                        \
    .state_size = sizeof(struct flat_state),                                   \
    .on_subscribe = flat_on_subscribe, .on_next = flat_outer_next,             \
    .on_error = flat_on_error, .on_complete = flat_on_complete,                \
    .on_request = flat_on_request, .on_cancel = flat_on_cancel,                \
    .destroy = flat_destroy, .args_release = flat_args_release                 \
  }

static const struct rill__op_ops flat_ops_by_name[] = {
    FLAT_OPS("merge_map"),        FLAT_OPS("concat_map"),
    FLAT_OPS("switch_map"),       FLAT_OPS("exhaust_map"),
    FLAT_OPS("concat_map_eager"), FLAT_OPS("merge"),
    FLAT_OPS("expand"),
};

rill_observable_t *
rill__flatten_create(rill_observable_t *src, const char *name,
                     enum rill__flat_mode mode, rill_flat_map_fn fn, void *ctx,
                     size_t max_concurrency, size_t prefetch) {
  return rill__flatten_create_owning(src, name, mode, fn, ctx, NULL,
                                     max_concurrency, prefetch, 0);
}

rill_observable_t *rill__flatten_create_owning(
    rill_observable_t *src, const char *name, enum rill__flat_mode mode,
    rill_flat_map_fn fn, void *ctx, void (*ctx_free)(void *ctx),
    size_t max_concurrency, size_t prefetch, uint32_t outer_prefetch) {
  const struct rill__op_ops *ops = NULL;
  for (size_t i = 0; i < sizeof(flat_ops_by_name) / sizeof(*flat_ops_by_name);
       i++)
    if (strcmp(flat_ops_by_name[i].name, name) == 0)
      ops = &flat_ops_by_name[i];
  if (fn == NULL || ops == NULL) {
    rill_observable_free(src);
    if (ctx_free != NULL)
      ctx_free(ctx);
    errno = EINVAL;
    return NULL;
  }
  struct flat_args args = {
      .fn = fn,
      .ctx = ctx,
      .ctx_free = ctx_free,
      .mode = mode,
      .max_concurrency =
          max_concurrency == 0 || max_concurrency >= (size_t)RILL_UNBOUNDED
              ? RILL_UNBOUNDED
              : (int64_t)max_concurrency,
      .outer_prefetch = outer_prefetch,
      .prefetch = prefetch == 0 ? RILL__FLAT_DEFAULT_PREFETCH
                  : prefetch >= (size_t)RILL_UNBOUNDED ? RILL_UNBOUNDED
                                                       : (int64_t)prefetch,
  };
  return rill__op_create(src, ops, &args);
}
