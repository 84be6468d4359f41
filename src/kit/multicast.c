/* SPDX-License-Identifier: MIT */
/* rill kit: multicast (see multicast.h). */
#include <stdio.h>

#include "kit/multicast.h"

/* Out of the hot path's way: the fan-out loop stays small enough to keep
 * everything in registers. */
#if defined(__GNUC__)
#define MCAST_COLD __attribute__((noinline))
#else
#define MCAST_COLD
#endif

/* A ring bound that ring.h's uint32 arithmetic keeps exact. */
#define MCAST_RING_MAX (UINT32_MAX / 2)

void rill__mcast_init(struct rill__mcast *h, const struct rill__mcast_ops *ops,
                      void *owner, const char *name, uint32_t bound,
                      rill_overflow_t policy, bool sticky) {
  memset(h, 0, sizeof(*h));
  h->ops = ops;
  h->owner = owner;
  h->name = name;
  h->bound = bound == 0 ? 1 : bound > MCAST_RING_MAX ? MCAST_RING_MAX : bound;
  h->policy = policy;
  h->sticky = sticky;
  rill__ring_init(&h->pending, MCAST_RING_MAX);
}

void rill__mcast_clear(struct rill__mcast *h) {
  rill__ring_clear(&h->pending);
}

/* ---- the list -------------------------------------------------------------*/

static void mcast_link(struct rill__mcast *h, struct rill__mcast_member *m) {
  m->prev = h->tail;
  m->next = NULL;
  if (h->tail != NULL)
    h->tail->next = m;
  else
    h->head = m;
  h->tail = m;
  m->hub = h;
  m->listed = m->live = true;
  h->live++;
}

static void mcast_unlink(struct rill__mcast *h, struct rill__mcast_member *m) {
  if (m->prev != NULL)
    m->prev->next = m->next;
  else
    h->head = m->next;
  if (m->next != NULL)
    m->next->prev = m->prev;
  else
    h->tail = m->prev;
  m->prev = m->next = NULL;
  m->listed = false;
}

/* Unlink the members that left while a walk was on the stack. */
static void mcast_sweep(struct rill__mcast *h) {
  h->dirty = false;
  struct rill__mcast_member *m = h->head;
  while (m != NULL) {
    struct rill__mcast_member *next = m->next;
    if (!m->live)
      mcast_unlink(h, m);
    m = next;
  }
}

static void mcast_room(struct rill__mcast *h) {
  if (h->fanning) {
    h->room_due = true;
    return;
  }
  h->room_due = false;
  if (h->ops->on_room != NULL)
    h->ops->on_room(h);
}

/* m leaves the list: now, or once no walk of it is on the stack. */
static void mcast_leave(struct rill__mcast_member *m) {
  if (!m->live)
    return;
  struct rill__mcast *h = m->hub;
  m->live = false;
  m->demand = 0; /* off the fan-out's hot path */
  h->live--;
  if (h->fanning)
    h->dirty = true;
  else
    mcast_unlink(h, m);
  mcast_room(h);
}

/* ---- one member's drain
 * -----------------------------------------------------*/

static void member_fail(struct rill__mcast_member *m) {
  struct rill__op *op = m->op;
  int code = m->fail;
  char msg[RILL_ERROR_MESSAGE_MAX];
  if (code == RILL_EOVERFLOW)
    snprintf(msg, sizeof(msg), "a subscriber's buffer of %u values is full",
             (unsigned)m->hub->bound);
  else
    snprintf(msg, sizeof(msg), "cannot buffer a value for a subscriber");
  m->fail = 0;
  rill__ring_clear(&m->ring);
  mcast_leave(m);
  rill__op_fail(op, code, msg);
}

/* One pass: a failure of its own first; then buffered values while there
 * is demand; then the terminal owed once nothing is buffered.  Returns
 * whether buffered values went out. */
static bool member_pass(struct rill__mcast_member *m) {
  struct rill__op *op = m->op;
  bool popped = false;
  if (rill__op_done(op))
    return false;
  if (m->fail != 0) {
    member_fail(m);
    return false;
  }
  while (m->demand > 0 && !rill__ring_empty(&m->ring)) {
    rill_value_t v = rill__ring_pop(&m->ring);
    if (m->backlog > 0) { /* the bound stays what it was for new values */
      m->backlog--;
      m->ring.max--;
    }
    popped = true;
    rill__demand_emit_drained(op, &m->demand, v);
    if (rill__op_done(op))
      return popped;
    if (m->fail != 0) {
      member_fail(m);
      return popped;
    }
  }
  if (m->term != RILL__MCAST_LIVE && rill__ring_empty(&m->ring)) {
    if (m->term == RILL__MCAST_COMPLETE)
      rill__op_complete(op);
    else
      rill__op_error(op, &m->err);
  }
  return popped;
}

/* The rest of a drain whose bracket is held: passes until nothing was
 * missed. */
static bool member_run(struct rill__mcast_member *m) {
  bool popped = false;
  do
    popped |= member_pass(m);
  while (rill__drain_again(&m->drain));
  return popped;
}

static bool member_drain(struct rill__mcast_member *m) {
  if (!rill__drain_enter(&m->drain))
    return false; /* the loop on the stack sees it */
  return member_run(m);
}

/* ---- fan-out --------------------------------------------------------------*/

static void ring_swap_newest(struct rill__ring *r, rill_value_t v) {
  uint32_t i = (r->head + r->len - 1) & (r->cap - 1);
  rill_value_t old = r->buf[i];
  r->buf[i] = v;
  rill_value_release(old);
}

/* v could not go straight out: buffer it, or apply the policy. */
static int mcast_offer_slow(struct rill__mcast *h, struct rill__mcast_member *m,
                            rill_value_t v) {
  int status = 0;
  struct rill__ring *r = &m->ring;
  if (r->len == r->max) {
    status = RILL_EOVERFLOW;
    if (h->policy == RILL_OVERFLOW_DROP) {
      rill_value_release(v);
      return status;
    }
    if (h->policy == RILL_OVERFLOW_LATEST) {
      ring_swap_newest(r, v);
    } else {
      rill_value_release(v);
      m->fail = RILL_EOVERFLOW;
    }
  } else {
    int rc = rill__ring_push(r, v);
    if (rc < 0)
      m->fail = status = rc;
  }
  if (member_drain(m))
    mcast_room(h);
  return status;
}

/* A member with demand, nothing buffered and no drain of its own on the
 * stack gets v (owned) at once, inside its drain bracket; else
 * mcast_offer_slow. */
static int mcast_offer(struct rill__mcast *h, struct rill__mcast_member *m,
                       rill_value_t v) {
  if (RILL__LIKELY(m->demand > 0 && m->ring.len == 0 &&
                   !rill__drain_running(&m->drain))) {
    (void)rill__drain_enter(&m->drain); /* idle: it enters */
    rill__demand_emit_drained(m->op, &m->demand, v);
    /* Something arrived during that on_next: the bracket's loop runs. */
    if (RILL__UNLIKELY(rill__drain_again(&m->drain)) && member_run(m))
      mcast_room(h);
    return 0;
  }
  return mcast_offer_slow(h, m, v);
}

static void mcast_apply_terminal(struct rill__mcast *h);

/* A push during a fan-out: queued for the loop on the stack. */
static MCAST_COLD int mcast_queue(struct rill__mcast *h, rill_value_t v) {
  int rc = rill__ring_push(&h->pending, v);
  if (rc < 0) {
    rill_error_t err;
    rill__error_init(&err, rc, 0, h->name,
                     "%s: cannot queue a value pushed during a fan-out",
                     h->name);
    rill__mcast_error(h, &err);
  }
  return rc;
}

/* Through a fused map/filter downstream (its steps run here). */
static MCAST_COLD void mcast_emit_steps(struct rill__node *down,
                                        rill_value_t v) {
  rill__emit(down, v);
}

/* A member off the hot path gets its own reference to v (borrowed). */
static MCAST_COLD int mcast_offer_ref(struct rill__mcast *h,
                                      struct rill__mcast_member *m,
                                      rill_value_t v) {
  return mcast_offer(h, m, rill_value_retain(v));
}

/* One value to every member listed when its fan-out begins (members
 * joining meanwhile are after `last`).  v is borrowed; `ref`: it is
 * reference counted (a constant in each of the two copies below).  v's
 * fields are not read here: the value then goes from register to register
 * unchanged. */
static RILL__ALWAYS_INLINE int mcast_fan_body(struct rill__mcast *h,
                                              rill_value_t v, const bool ref) {
  int status = 0;
  struct rill__mcast_member *m = h->head, *last = h->tail;
  if (m == NULL)
    return 0;
  /* Nobody is unlinked during a fan-out: `last` is reached. */
  for (;; m = m->next) {
    if (RILL__LIKELY(m->demand == RILL_UNBOUNDED &&
                     (m->ring.len | m->drain.wip) == 0)) {
      /* Everything requested and nothing waiting (a member that left has
       * no demand): straight out, without the bracket, since nothing can
       * reach this member while its on_next runs -- a push is queued (we
       * are fanning out), a terminal waits for the fan-out, and its
       * requests change nothing. */
      if (RILL__UNLIKELY(ref))
        rill__value_retain_slow(v);
      struct rill__node *down = m->down;
      if (RILL__LIKELY(down->nsteps == 0))
        down->next_fn(down->next_ctx, v);
      else
        mcast_emit_steps(down, v);
    } else if (m->live) {
      int rc = mcast_offer_ref(h, m, v);
      if (RILL__UNLIKELY(rc != 0) && status == 0)
        status = rc;
    }
    if (m == last)
      break;
  }
  return status;
}

static RILL__ALWAYS_INLINE int mcast_fan_scalar(struct rill__mcast *h,
                                                rill_value_t v) {
  return mcast_fan_body(h, v, false);
}

static MCAST_COLD int mcast_fan_counted(struct rill__mcast *h, rill_value_t v) {
  return mcast_fan_body(h, v, v.kind >= RILL_KIND_BUF);
}

static inline int mcast_fan(struct rill__mcast *h, rill_value_t v) {
  return v.kind >= RILL_KIND_BUF ? mcast_fan_counted(h, v)
                                 : mcast_fan_scalar(h, v);
}

/* The rest of a fan-out: the values queued meanwhile, each in turn. */
static MCAST_COLD int mcast_fan_queued(struct rill__mcast *h, int status) {
  while (!rill__ring_empty(&h->pending)) {
    rill_value_t v = rill__ring_pop(&h->pending);
    if (h->ops->on_value != NULL)
      h->ops->on_value(h, v);
    int rc = mcast_fan_counted(h, v); /* ref or not: the slower copy */
    if (RILL__UNLIKELY(rc != 0) && status == 0)
      status = rc;
    rill_value_release(v);
  }
  return status;
}

/* After a fan-out: unlink who left, end the hub, tell of room. */
static MCAST_COLD void mcast_fanned(struct rill__mcast *h) {
  if (h->dirty)
    mcast_sweep(h);
  if (h->closing != RILL__MCAST_LIVE)
    mcast_apply_terminal(h);
  else if (h->room_due)
    mcast_room(h);
}

static MCAST_COLD int mcast_refuse(rill_value_t v) {
  rill_value_release(v);
  return RILL_ECANCELED;
}

int rill__mcast_next(struct rill__mcast *h, rill_value_t v) {
  if (RILL__UNLIKELY(rill__mcast_ended(h)))
    return mcast_refuse(v);
  if (RILL__UNLIKELY(h->fanning)) /* re-entrant: after the value on the stack */
    return mcast_queue(h, v);
  h->fanning = true;
  if (h->ops->on_value != NULL)
    h->ops->on_value(h, v);
  int status = mcast_fan(h, v);
  rill_value_release(v);
  if (RILL__UNLIKELY(!rill__ring_empty(&h->pending)))
    status = mcast_fan_queued(h, status);
  h->fanning = false;
  if (RILL__UNLIKELY(h->dirty | (h->closing != RILL__MCAST_LIVE) | h->room_due))
    mcast_fanned(h);
  return status;
}

/* Every member leaves the list owing the terminal, which it gets after its
 * buffered values.  The list is taken out of the hub first: a subscriber
 * that subscribes again from its on_complete joins the hub afresh (share
 * reconnects), and one that cancels another only marks it done. */
static void mcast_apply_terminal(struct rill__mcast *h) {
  h->terminal = h->closing;
  h->closing = RILL__MCAST_LIVE;
  struct rill__mcast_member *m = h->head;
  h->head = h->tail = NULL;
  h->live = 0;
  h->dirty = false;
  h->room_due = false;
  rill_error_t err = h->err;
  uint8_t term = h->terminal;
  if (!h->sticky)
    h->terminal = RILL__MCAST_LIVE;
  while (m != NULL) {
    struct rill__mcast_member *next = m->next;
    bool was_live = m->live;
    m->prev = m->next = NULL;
    m->listed = m->live = false;
    if (was_live) {
      m->term = term;
      m->err = err;
      member_drain(m);
    }
    m = next;
  }
}

static void mcast_end(struct rill__mcast *h, uint8_t kind,
                      const rill_error_t *err) {
  if (rill__mcast_ended(h))
    return;
  h->closing = kind;
  if (err != NULL)
    h->err = *err;
  if (!h->fanning)
    mcast_apply_terminal(h);
}

void rill__mcast_complete(struct rill__mcast *h) {
  mcast_end(h, RILL__MCAST_COMPLETE, NULL);
}

void rill__mcast_error(struct rill__mcast *h, const rill_error_t *err) {
  mcast_end(h, RILL__MCAST_ERROR, err);
}

int64_t rill__mcast_demand(const struct rill__mcast *h) {
  if (rill__mcast_ended(h))
    return 0;
  int64_t least = RILL_UNBOUNDED;
  for (const struct rill__mcast_member *m = h->head; m != NULL; m = m->next) {
    if (!m->live)
      continue;
    int64_t room = (int64_t)m->ring.max - (int64_t)m->ring.len;
    int64_t d = rill__demand_add(m->demand, room);
    if (d < least)
      least = d;
  }
  return least;
}

uint32_t rill__mcast_held(const struct rill__mcast *h) {
  uint32_t most = 0;
  for (const struct rill__mcast_member *m = h->head; m != NULL; m = m->next)
    if (m->live && m->ring.len - m->backlog > most)
      most = m->ring.len - m->backlog;
  return most;
}

/* ---- the member's side
 * -------------------------------------------------------*/

int rill__mcast_join(struct rill__mcast *h, struct rill__op *op,
                     uint32_t backlog) {
  struct rill__mcast_member *m = op->state;
  m->op = op;
  m->down = op->down;
  if (backlog > MCAST_RING_MAX - h->bound)
    backlog = MCAST_RING_MAX - h->bound;
  rill__ring_init(&m->ring, h->bound + backlog);
  if (backlog > 0 && rill__ring_reserve(&m->ring, backlog) < 0)
    return RILL_ENOMEM;
  m->backlog = backlog;
  if (h->sticky && h->terminal != RILL__MCAST_LIVE) {
    m->term = h->terminal;
    m->err = h->err;
    return 0;
  }
  mcast_link(h, m);
  return 0;
}

void rill__mcast_give(struct rill__op *op, rill_value_t v) {
  struct rill__mcast_member *m = op->state;
  if (rill__ring_push(&m->ring, v) < 0) /* reserved: cannot happen */
    m->backlog--;
}

void rill__mcast_start(struct rill__op *op) {
  struct rill__mcast_member *m = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op) && m->term != RILL__MCAST_LIVE)
    member_drain(m);
}

void rill__mcast_request(struct rill__op *op, int64_t n) {
  struct rill__mcast_member *m = op->state;
  rill__demand_more(&m->demand, n);
  member_drain(m);
  if (m->live)
    mcast_room(m->hub);
}

void rill__mcast_cancel(struct rill__op *op) {
  struct rill__mcast_member *m = op->state;
  rill__ring_clear(&m->ring);
  mcast_leave(m);
}

void rill__mcast_destroy(struct rill__op *op) {
  struct rill__mcast_member *m = op->state;
  rill__ring_clear(&m->ring);
  if (m->listed) /* no walk is on the stack when the reap list runs */
    mcast_unlink(m->hub, m);
}
