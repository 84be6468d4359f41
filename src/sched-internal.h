/* SPDX-License-Identifier: MIT */
/* rill: scheduler internals shared by src/sched.c (the interface),
 * src/sched_virtual.c (the virtual clock) and src/sched_ev.c (libev). */
#ifndef RILL_SCHED_INTERNAL_H
#define RILL_SCHED_INTERNAL_H

#include <ev.h>

#include "rill-internal.h"

struct rill__sched_vt {
  const char *name;
  double (*now)(rill_sched_t *s);
  /* Optional: make room for one more timer, so that starting it later can
   * never fail (the virtual heap); < 0 refuses the timer. */
  int (*timer_reserve)(rill_sched_t *s);
  void (*timer_start)(rill_sched_timer_t *t, double after_ms);
  void (*timer_stop)(rill_sched_timer_t *t);
  void (*timer_keepalive)(rill_sched_timer_t *t, bool keep);
  int (*io_init)(rill_sched_io_t *w);
  void (*io_set)(rill_sched_io_t *w, int events); /* 0: stop */
  /* Optional (NULL: RILL_ENOTSUP): start watching w->signum, or refuse
   * with a negative code; stop undoes a start that succeeded. */
  int (*signal_start)(struct rill__sched_signal *w);
  void (*signal_stop)(struct rill__sched_signal *w);
  void (*destroy)(rill_sched_t *s);
};

struct rill_sched_timer_s {
  rill_sched_t *s;
  rill_sched_timer_cb cb;
  void *arg;
  bool active;
  bool keepalive;
  union {
    ev_timer ev;
    struct {
      double due;
      uint64_t seq;
      size_t slot; /* index in the heap */
    } v;
  } u;
};

struct rill_sched_io_s {
  rill_sched_t *s;
  rill_sched_io_cb cb;
  void *arg;
  int fd;
  int events;
  bool keepalive; /* false: an armed watcher does not hold ev_run */
  ev_io ev;
};

struct rill__sched_signal {
  rill_sched_t *s;
  rill__sched_signal_cb cb;
  void *arg;
  int signum;
  bool active;
  /* virtual: the scheduler's list, in start order, and the last
   * rill_sched_raise this watcher saw */
  struct rill__sched_signal *prev, *next;
  uint64_t seen;
  ev_signal ev;
};

/* Called by an implementation when a timer is due: marks it inactive and
 * runs the callback inside rill's dispatch guard. */
void rill__sched_timer_fire(rill_sched_timer_t *t);
void rill__sched_io_fire(rill_sched_io_t *w, int events);
/* The signal arrived: runs the callback inside the dispatch guard. */
void rill__sched_signal_fire(struct rill__sched_signal *w);

#endif
