/* rill: the scheduler interface, and the virtual-time implementation.
 *
 * The virtual clock keeps armed timers in a binary min-heap ordered by
 * (due time, start sequence), so timers due at the same instant fire in
 * the order they were started; it never touches the real clock. */
#include <errno.h>
#include <math.h>

#include "sched-internal.h"

/* ---- the interface ------------------------------------------------------*/

double rill_sched_now(rill_sched_t *s) {
  return s ? s->vt->now(s) : 0.0;
}

int rill_sched_free(rill_sched_t *s) {
  if (s == NULL)
    return RILL_EINVAL;
  /* Inside one of its own callbacks the dispatch loop on the stack (an
   * advance, a run, a libev callback) still reads the scheduler. */
  if (s->objects != 0 || s->dispatching != 0)
    return RILL_EBUSY;
  s->vt->destroy(s);
  return 0;
}

int rill_sched_active(const rill_sched_t *s) {
  return s ? s->active : 0;
}

int rill_sched_keepalive(rill_sched_t *s, bool keep) {
  if (s == NULL)
    return RILL_EINVAL;
  s->background = !keep;
  return 0;
}

void rill__sched_timer_fire(rill_sched_timer_t *t) {
  rill_sched_t *s = t->s;
  t->active = false;
  s->active--;
  s->dispatching++;
  rill__enter();
  t->cb(t, t->arg);
  rill__leave();
  s->dispatching--;
}

void rill__sched_io_fire(rill_sched_io_t *w, int events) {
  rill_sched_t *s = w->s;
  s->dispatching++;
  rill__enter();
  w->cb(w, events, w->arg);
  rill__leave();
  s->dispatching--;
}

rill_sched_timer_t *rill_sched_timer_new(rill_sched_t *s,
                                         rill_sched_timer_cb cb, void *arg) {
  if (s == NULL || cb == NULL) {
    errno = EINVAL;
    return NULL;
  }
  rill_sched_timer_t *t = rill__calloc(1, sizeof(*t));
  if (t == NULL || (s->vt->timer_reserve && s->vt->timer_reserve(s) < 0)) {
    rill__free(t);
    errno = ENOMEM;
    return NULL;
  }
  t->s = s;
  t->cb = cb;
  t->arg = arg;
  t->keepalive = !s->background;
  s->objects++;
  /* A timer is made when a time operator is subscribed, perhaps outside
   * the loop after the application's own ev_now_update(): take the
   * backend's clock now, so the operator's schedule starts where the
   * backend arms its timers (the cache is refreshed per iteration only). */
  s->vt->now(s);
  return t;
}

void rill_sched_timer_start(rill_sched_timer_t *t, double after_ms) {
  if (t == NULL)
    return;
  if (after_ms == HUGE_VAL) {
    /* The one rule for infinite durations: never.  A timer that can never
     * fire is not armed, so it neither holds ev_run nor moves the virtual
     * clock to +inf. */
    rill_sched_timer_stop(t);
    return;
  }
  if (!(after_ms > 0)) /* also NaN */
    after_ms = 0;
  if (t->active) {
    t->s->vt->timer_stop(t); /* re-arm: implementations start from idle */
  } else {
    t->active = true;
    t->s->active++;
  }
  t->s->vt->timer_start(t, after_ms);
}

void rill_sched_timer_stop(rill_sched_timer_t *t) {
  if (t == NULL || !t->active)
    return;
  t->s->vt->timer_stop(t);
  t->active = false;
  t->s->active--;
}

bool rill_sched_timer_active(const rill_sched_timer_t *t) {
  return t && t->active;
}

void rill_sched_timer_keepalive(rill_sched_timer_t *t, bool keep) {
  if (t == NULL || t->keepalive == keep)
    return;
  t->s->vt->timer_keepalive(t, keep);
  t->keepalive = keep;
}

void rill_sched_timer_free(rill_sched_timer_t *t) {
  if (t == NULL)
    return;
  rill_sched_timer_stop(t);
  rill_sched_timer_keepalive(t, true);
  t->s->objects--;
  rill__free(t);
}

rill_sched_io_t *rill_sched_io_new(rill_sched_t *s, int fd, rill_sched_io_cb cb,
                                   void *arg) {
  if (s == NULL || cb == NULL || fd < 0) {
    errno = EINVAL;
    return NULL;
  }
  rill_sched_io_t *w = rill__calloc(1, sizeof(*w));
  if (w == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  w->s = s;
  w->cb = cb;
  w->arg = arg;
  w->fd = fd;
  w->keepalive = !s->background;
  int rc = s->vt->io_init(w);
  if (rc < 0) {
    int e = rc == RILL_ENOTSUP ? ENOTSUP : rc == RILL_ESYS ? errno : EINVAL;
    rill__free(w);
    errno = e;
    return NULL;
  }
  s->objects++;
  return w;
}

void rill_sched_io_set(rill_sched_io_t *w, int events) {
  if (w == NULL)
    return;
  events &= RILL_IO_READ | RILL_IO_WRITE;
  if (events == w->events)
    return;
  if (w->events == 0)
    w->s->active++;
  else if (events == 0)
    w->s->active--;
  w->s->vt->io_set(w, events);
  w->events = events;
}

int rill_sched_io_events(const rill_sched_io_t *w) {
  return w ? w->events : 0;
}

void rill_sched_io_free(rill_sched_io_t *w) {
  if (w == NULL)
    return;
  rill_sched_io_set(w, 0);
  w->s->objects--;
  rill__free(w);
}

/* ---- the virtual clock --------------------------------------------------*/

struct vsched {
  rill_sched_t base; /* base.now is the clock */
  uint64_t seq;
  rill_sched_timer_t **heap;
  size_t len;
  size_t cap;
};

static bool v_before(const rill_sched_timer_t *a, const rill_sched_timer_t *b) {
  if (a->u.v.due != b->u.v.due)
    return a->u.v.due < b->u.v.due;
  return a->u.v.seq < b->u.v.seq;
}

static void v_place(struct vsched *v, size_t i, rill_sched_timer_t *t) {
  v->heap[i] = t;
  t->u.v.slot = i;
}

static void v_sift_up(struct vsched *v, size_t i) {
  rill_sched_timer_t *t = v->heap[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!v_before(t, v->heap[parent]))
      break;
    v_place(v, i, v->heap[parent]);
    i = parent;
  }
  v_place(v, i, t);
}

static void v_sift_down(struct vsched *v, size_t i) {
  rill_sched_timer_t *t = v->heap[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= v->len)
      break;
    if (child + 1 < v->len && v_before(v->heap[child + 1], v->heap[child]))
      child++;
    if (!v_before(v->heap[child], t))
      break;
    v_place(v, i, v->heap[child]);
    i = child;
  }
  v_place(v, i, t);
}

static void v_remove(struct vsched *v, rill_sched_timer_t *t) {
  size_t i = t->u.v.slot;
  rill_sched_timer_t *last = v->heap[--v->len];
  if (i == v->len)
    return;
  v_place(v, i, last);
  v_sift_down(v, i);
  v_sift_up(v, last->u.v.slot);
}

static double v_now(rill_sched_t *s) {
  return s->now;
}

/* One heap slot per live timer, grown at creation where ENOMEM can be
 * reported, so arming a timer never allocates. */
static int v_timer_reserve(rill_sched_t *s) {
  struct vsched *v = (struct vsched *)s;
  size_t need = (size_t)s->objects + 1;
  if (need <= v->cap)
    return 0;
  size_t cap = v->cap ? v->cap * 2 : 16;
  rill_sched_timer_t **heap = rill__realloc(v->heap, cap * sizeof(*heap));
  if (heap == NULL)
    return RILL_ENOMEM;
  v->heap = heap;
  v->cap = cap;
  return 0;
}

static void v_timer_stop(rill_sched_timer_t *t) {
  v_remove((struct vsched *)t->s, t);
}

static void v_timer_start(rill_sched_timer_t *t, double after_ms) {
  struct vsched *v = (struct vsched *)t->s;
  /* v_timer_reserve made room when the timer was created. */
  t->u.v.due = v->base.now + after_ms;
  t->u.v.seq = v->seq++;
  v_place(v, v->len++, t);
  v_sift_up(v, v->len - 1);
}

static void v_timer_keepalive(rill_sched_timer_t *t, bool keep) {
  (void)t;
  (void)keep;
}

static int v_io_init(rill_sched_io_t *w) {
  (void)w;
  return RILL_ENOTSUP;
}

static void v_io_set(rill_sched_io_t *w, int events) {
  (void)w;
  (void)events;
}

static void v_destroy(rill_sched_t *s) {
  struct vsched *v = (struct vsched *)s;
  rill__free(v->heap);
  rill__free(v);
}

static const struct rill__sched_vt vsched_vt = {
    .name = "virtual",
    .now = v_now,
    .timer_reserve = v_timer_reserve,
    .timer_start = v_timer_start,
    .timer_stop = v_timer_stop,
    .timer_keepalive = v_timer_keepalive,
    .io_init = v_io_init,
    .io_set = v_io_set,
    .destroy = v_destroy,
};

rill_sched_t *rill_sched_virtual_new(void) {
  struct vsched *v = rill__calloc(1, sizeof(*v));
  if (v == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  v->base.vt = &vsched_vt;
  return &v->base;
}

static struct vsched *as_virtual(rill_sched_t *s) {
  return s != NULL && s->vt == &vsched_vt ? (struct vsched *)s : NULL;
}

/* Fire the earliest timer if it is due by `until`; false when none is. */
static bool v_fire_next(struct vsched *v, double until) {
  if (v->len == 0 || v->heap[0]->u.v.due > until)
    return false;
  rill_sched_timer_t *t = v->heap[0];
  v_remove(v, t);
  if (t->u.v.due > v->base.now)
    v->base.now = t->u.v.due;
  rill__sched_timer_fire(t);
  return true;
}

/* Timers fired at one instant before advance gives up: a timer that keeps
 * re-arming itself with 0 ms (interval(0), a period too small to move a
 * double) would otherwise never let the clock move on. */
#define V_SAME_INSTANT_MAX 1000000L

int rill_sched_advance_to(rill_sched_t *s, double when_ms) {
  struct vsched *v = as_virtual(s);
  if (v == NULL || !(when_ms >= v->base.now) || when_ms == HUGE_VAL)
    return RILL_EINVAL;
  int rc = 0;
  long same = 0;
  double instant = v->base.now;
  v->base.dispatching++;
  while (v_fire_next(v, when_ms)) {
    if (v->base.now != instant) {
      instant = v->base.now;
      same = 0;
    } else if (++same >= V_SAME_INSTANT_MAX) {
      rc = RILL_EAGAIN; /* the clock stays at the stuck instant */
      break;
    }
  }
  v->base.dispatching--;
  if (rc == 0)
    v->base.now = when_ms;
  return rc;
}

int rill_sched_advance_by(rill_sched_t *s, double ms) {
  struct vsched *v = as_virtual(s);
  if (v == NULL || !(ms >= 0))
    return RILL_EINVAL;
  return rill_sched_advance_to(s, v->base.now + ms);
}

int rill_sched_run(rill_sched_t *s, long max_events) {
  struct vsched *v = as_virtual(s);
  if (v == NULL)
    return RILL_EINVAL;
  if (max_events <= 0)
    max_events = 1000000;
  int rc = RILL_EAGAIN;
  v->base.dispatching++;
  for (long n = 0; n < max_events; n++) {
    if (!v_fire_next(v, HUGE_VAL)) {
      rc = 0;
      break;
    }
  }
  v->base.dispatching--;
  return rc == 0 || v->len == 0 ? 0 : RILL_EAGAIN;
}
