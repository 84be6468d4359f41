/* SPDX-License-Identifier: MIT */
/* rill: the libev scheduler (STYLE habit 16).  One ev_timer per rill
 * timer and one ev_io per watcher, on a loop the user owns; rill never
 * calls ev_run.  Timer callbacks find their rill object with
 * container_of, as libev's manual suggests for composite watchers. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* NSIG */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>

#include "rill/ev.h"
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "sched-internal.h"

/* The current time is read once per loop iteration, as libev itself
 * does: a check watcher at the highest priority runs first among the
 * iteration's callbacks, right after libev updated ev_now, and caches it in
 * milliseconds.  A throttle or debounce then pays a load, not two calls,
 * per value.  ev_now_update() called by the application between
 * iterations is picked up at the next iteration, and whenever a timer is
 * made (a time operator subscribed outside the loop after setup work) or
 * rill_sched_now() is called, so a schedule never starts from a stale
 * clock. */
struct evsched {
  rill_sched_t base; /* base.now: ev_now() * 1000 of this iteration */
  struct ev_loop *loop;
  ev_check tick;
};

static struct ev_loop *loop_of(rill_sched_t *s) {
  return ((struct evsched *)s)->loop;
}

/* The loop's clock now (what libev arms timers against), cached too. */
static double ev_sched_now(rill_sched_t *s) {
  s->now = ev_now(loop_of(s)) * 1000.0;
  return s->now;
}

static void ev_sched_tick(struct ev_loop *loop, ev_check *w, int revents) {
  (void)revents;
  struct evsched *e = RILL__CONTAINER_OF(w, struct evsched, tick);
  e->base.now = ev_now(loop) * 1000.0;
}

static void ev_timer_fired(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  rill_sched_timer_t *t = RILL__CONTAINER_OF(w, rill_sched_timer_t, u.ev);
  t->s->now = ev_now(loop) * 1000.0;
  if (!t->keepalive)
    ev_ref(loop); /* libev stopped it: give back the unref */
  rill__sched_timer_fire(t);
}

static void ev_sched_timer_stop(rill_sched_timer_t *t) {
  struct ev_loop *loop = loop_of(t->s);
  if (!t->keepalive)
    ev_ref(loop);
  ev_timer_stop(loop, &t->u.ev);
}

static void ev_sched_timer_start(rill_sched_timer_t *t, double after_ms) {
  struct ev_loop *loop = loop_of(t->s);
  ev_timer_init(&t->u.ev, ev_timer_fired, after_ms / 1000.0, 0.);
  ev_timer_start(loop, &t->u.ev);
  if (!t->keepalive)
    ev_unref(loop);
}

static void ev_sched_timer_keepalive(rill_sched_timer_t *t, bool keep) {
  if (!ev_is_active(&t->u.ev))
    return;
  if (keep)
    ev_ref(loop_of(t->s));
  else
    ev_unref(loop_of(t->s));
}

static void ev_io_fired(struct ev_loop *loop, ev_io *w, int revents) {
  rill_sched_io_t *io = RILL__CONTAINER_OF(w, rill_sched_io_t, ev);
  io->s->now = ev_now(loop) * 1000.0;
  if (revents & EV_ERROR) {
    /* libev gave up on the fd and stopped the watcher: keep the books
     * right, and let the owner try both directions to see the error. */
    if (io->events != 0 && !io->keepalive)
      ev_ref(loop);
    if (io->events != 0)
      io->s->active--;
    io->events = 0;
    rill__sched_io_fire(io, RILL_IO_READ | RILL_IO_WRITE);
    return;
  }
  int events = ((revents & EV_READ) ? RILL_IO_READ : 0) |
               ((revents & EV_WRITE) ? RILL_IO_WRITE : 0);
  rill__sched_io_fire(io, events);
}

/* libev aborts the process when epoll_ctl rejects an fd (a closed fd, or
 * an epoll instance: its own when stdin was closed and the loop got fd 0),
 * so such fds are refused here, where an error can still be returned. */
static bool fd_is_epoll(int fd) {
#ifdef __linux__
  int probe = epoll_create1(EPOLL_CLOEXEC);
  if (probe < 0)
    return false;
  /* EINVAL exactly when `fd` is not an epoll instance (else ENOENT). */
  int rc = epoll_ctl(fd, EPOLL_CTL_DEL, probe, NULL);
  int e = errno;
  close(probe);
  return rc == 0 || e != EINVAL;
#else
  (void)fd;
  return false;
#endif
}

static int ev_sched_io_init(rill_sched_io_t *w) {
  if (fcntl(w->fd, F_GETFD) < 0)
    return RILL_ESYS; /* errno: EBADF */
  if ((ev_backend(loop_of(w->s)) & EVBACKEND_EPOLL) && fd_is_epoll(w->fd)) {
    errno = EINVAL;
    return RILL_ESYS;
  }
  ev_io_init(&w->ev, ev_io_fired, w->fd, 0);
  return 0;
}

static void ev_sched_io_set(rill_sched_io_t *w, int events) {
  struct ev_loop *loop = loop_of(w->s);
  if (ev_is_active(&w->ev)) {
    if (!w->keepalive)
      ev_ref(loop); /* give back the unref before stopping */
    ev_io_stop(loop, &w->ev);
  }
  if (events == 0)
    return;
  ev_io_set(&w->ev, w->fd,
            ((events & RILL_IO_READ) ? EV_READ : 0) |
                ((events & RILL_IO_WRITE) ? EV_WRITE : 0));
  ev_io_start(loop, &w->ev);
  if (!w->keepalive)
    ev_unref(loop);
}

/* ---- signals --------------------------------------------------------------
 *
 * libev attaches a signal number to one loop at a time and asserts (aborts)
 * when a watcher for it starts on another, and SIGCHLD belongs to the
 * default loop.  rill keeps its own process-wide record of which loop its
 * watchers hold each signal in, so that a second loop is refused with
 * RILL_EBUSY instead.  Pipelines on different threads may watch signals,
 * hence the lock (held for a few instructions). */
static struct {
  struct ev_loop *loop; /* where rill's watchers of this signal live */
  unsigned n;           /* how many */
} sig_owner[NSIG];
static atomic_flag sig_lock = ATOMIC_FLAG_INIT;

static void sig_lock_take(void) {
  while (atomic_flag_test_and_set_explicit(&sig_lock, memory_order_acquire))
    ;
}

static void sig_lock_give(void) {
  atomic_flag_clear_explicit(&sig_lock, memory_order_release);
}

static bool sig_claim(int signum, struct ev_loop *loop) {
  sig_lock_take();
  bool ok = sig_owner[signum].loop == NULL || sig_owner[signum].loop == loop;
  if (ok) {
    sig_owner[signum].loop = loop;
    sig_owner[signum].n++;
  }
  sig_lock_give();
  return ok;
}

static void sig_unclaim(int signum) {
  sig_lock_take();
  if (--sig_owner[signum].n == 0)
    sig_owner[signum].loop = NULL;
  sig_lock_give();
}

static void ev_signal_fired(struct ev_loop *loop, ev_signal *w, int revents) {
  (void)revents;
  struct rill__sched_signal *sw =
      RILL__CONTAINER_OF(w, struct rill__sched_signal, ev);
  sw->s->now = ev_now(loop) * 1000.0;
  rill__sched_signal_fire(sw);
}

static int ev_sched_signal_start(struct rill__sched_signal *w) {
  struct ev_loop *loop = loop_of(w->s);
  if (w->signum == SIGCHLD && !ev_is_default_loop(loop))
    return RILL_EBUSY;
  if (!sig_claim(w->signum, loop))
    return RILL_EBUSY;
  ev_signal_init(&w->ev, ev_signal_fired, w->signum);
  ev_signal_start(loop, &w->ev);
  ev_unref(loop); /* a signal alone never keeps ev_run alive */
  return 0;
}

static void ev_sched_signal_stop(struct rill__sched_signal *w) {
  struct ev_loop *loop = loop_of(w->s);
  ev_ref(loop);
  ev_signal_stop(loop, &w->ev);
  sig_unclaim(w->signum);
}

static void ev_sched_destroy(rill_sched_t *s) {
  struct evsched *e = (struct evsched *)s;
  ev_ref(e->loop); /* undo the unref of the check watcher */
  ev_check_stop(e->loop, &e->tick);
  rill__free(s);
}

static const struct rill__sched_vt evsched_vt = {
    .name = "libev",
    .now = ev_sched_now,
    .timer_start = ev_sched_timer_start,
    .timer_stop = ev_sched_timer_stop,
    .timer_keepalive = ev_sched_timer_keepalive,
    .io_init = ev_sched_io_init,
    .io_set = ev_sched_io_set,
    .signal_start = ev_sched_signal_start,
    .signal_stop = ev_sched_signal_stop,
    .destroy = ev_sched_destroy,
};

rill_sched_t *rill_sched_ev_new(struct ev_loop *loop) {
  if (loop == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct evsched *e = rill__calloc(1, sizeof(*e));
  if (e == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  e->base.vt = &evsched_vt;
  e->loop = loop;
  e->base.now = ev_now(loop) * 1000.0;
  ev_check_init(&e->tick, ev_sched_tick);
  ev_set_priority(&e->tick, EV_MAXPRI);
  ev_check_start(loop, &e->tick);
  ev_unref(loop); /* the clock must not keep ev_run alive */
  return &e->base;
}

struct ev_loop *rill_sched_ev_loop(rill_sched_t *s) {
  return s != NULL && s->vt == &evsched_vt ? loop_of(s) : NULL;
}
