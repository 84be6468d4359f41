/* SPDX-License-Identifier: MIT */
/* rill: the virtual-time scheduler, for deterministic tests.
 *
 * The virtual clock keeps armed timers in a binary min-heap ordered by
 * (due time, start sequence), so timers due at the same instant fire in
 * the order they were started; it never touches the real clock. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* NSIG */
#endif
#include <errno.h>
#include <math.h>
#include <signal.h>

#include "sched-internal.h"

struct vsched {
  rill_sched_t base; /* base.now is the clock */
  uint64_t seq;
  rill_sched_timer_t **heap;
  size_t len;
  size_t cap;
  /* Signal watchers, in start order, for rill_sched_raise. */
  struct rill__sched_signal *sig_head, *sig_tail;
  uint64_t raises;
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

static int v_signal_start(struct rill__sched_signal *w) {
  struct vsched *v = (struct vsched *)w->s;
  w->seen = v->raises; /* a raise on the stack is not for it */
  w->next = NULL;
  w->prev = v->sig_tail;
  if (v->sig_tail != NULL)
    v->sig_tail->next = w;
  else
    v->sig_head = w;
  v->sig_tail = w;
  return 0;
}

static void v_signal_stop(struct rill__sched_signal *w) {
  struct vsched *v = (struct vsched *)w->s;
  if (w->prev != NULL)
    w->prev->next = w->next;
  else
    v->sig_head = w->next;
  if (w->next != NULL)
    w->next->prev = w->prev;
  else
    v->sig_tail = w->prev;
  w->prev = w->next = NULL;
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
    .signal_start = v_signal_start,
    .signal_stop = v_signal_stop,
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

/* The next watcher of `signum` that has not seen this raise.  Searched
 * from the head each time: a callback may stop or start any watcher (a
 * subscriber cancelling another one), so no pointer is kept across one. */
static struct rill__sched_signal *v_signal_next(struct vsched *v, int signum) {
  for (struct rill__sched_signal *w = v->sig_head; w != NULL; w = w->next)
    if (w->signum == signum && w->seen != v->raises)
      return w;
  return NULL;
}

int rill_sched_raise(rill_sched_t *s, int signum) {
  struct vsched *v = as_virtual(s);
  if (v == NULL || signum <= 0 || signum >= NSIG)
    return RILL_EINVAL;
  v->raises++;
  int seen = 0;
  v->base.dispatching++;
  rill__enter(); /* watchers stopped meanwhile are freed after the loop */
  struct rill__sched_signal *w;
  while ((w = v_signal_next(v, signum)) != NULL) {
    w->seen = v->raises;
    seen++;
    rill__sched_signal_fire(w);
  }
  rill__leave();
  v->base.dispatching--;
  return seen;
}
