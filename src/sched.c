/* SPDX-License-Identifier: MIT */
/* rill: the scheduler interface, shared by its two implementations: the
 * virtual clock (src/sched_virtual.c) and libev (src/sched_ev.c). */
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

/* ---- signal watchers ----------------------------------------------------*/

int rill__sched_signal_new(rill_sched_t *s, int signum,
                           rill__sched_signal_cb cb, void *arg,
                           struct rill__sched_signal **out) {
  *out = NULL;
  if (s->vt->signal_start == NULL)
    return RILL_ENOTSUP;
  struct rill__sched_signal *w = rill__calloc(1, sizeof(*w));
  if (w == NULL)
    return RILL_ENOMEM;
  w->s = s;
  w->cb = cb;
  w->arg = arg;
  w->signum = signum;
  int rc = s->vt->signal_start(w);
  if (rc < 0) {
    rill__free(w);
    return rc;
  }
  w->active = true;
  s->objects++;
  s->active++;
  *out = w;
  return 0;
}

void rill__sched_signal_stop(struct rill__sched_signal *w) {
  if (w == NULL || !w->active)
    return;
  w->s->vt->signal_stop(w);
  w->active = false;
  w->s->active--;
}

void rill__sched_signal_free(struct rill__sched_signal *w) {
  if (w == NULL)
    return;
  rill__sched_signal_stop(w);
  w->s->objects--;
  rill__free(w);
}

void rill__sched_signal_fire(struct rill__sched_signal *w) {
  rill_sched_t *s = w->s;
  if (!w->active)
    return;
  s->dispatching++;
  rill__enter();
  w->cb(w, w->arg);
  rill__leave();
  s->dispatching--;
}
