/* SPDX-License-Identifier: MIT */
/* rill: the scheduler -- time and I/O for operators, on libev or on a
 * virtual clock.  Included by rill.h; the libev constructor lives in
 * rill/ev.h so that this header does not need <ev.h>.
 *
 * Everything about time and I/O goes through one small interface: the
 * current time, one-shot timers (start, stop, re-arm), and fd watchers
 * (read, write or none).  "Soon" is a timer started with 0 ms: it runs on
 * the next loop iteration (libev) or at the same instant, after what is
 * already due (virtual), so long synchronous bursts can yield.
 *
 * Times and durations are milliseconds, as double.
 *
 * LIFETIME
 *   A scheduler must outlive every pipeline and every timer or watcher
 *   made on it; rill_sched_free() refuses (RILL_EBUSY) while any is alive.
 *   rill never runs the loop: with libev, you call ev_run().  Active
 *   timers and watchers keep ev_run() running, like any libev watcher;
 *   rill_sched_keepalive(s, false) makes a scheduler for background
 *   sources whose timers and watchers do not hold the loop (libev's
 *   ev_unref), and rill_sched_timer_keepalive() does it per timer.  Callbacks run inside rill's dispatch guard,
 *   so they may cancel subscriptions and free timers freely.  The signal
 *   watchers of rill_signal() are the exception: they never hold the loop.
 */
#ifndef RILL_SCHED_H
#define RILL_SCHED_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rill_sched_s rill_sched_t;
typedef struct rill_sched_timer_s rill_sched_timer_t;
typedef struct rill_sched_io_s rill_sched_io_t;

typedef void (*rill_sched_timer_cb)(rill_sched_timer_t *t, void *arg);
typedef void (*rill_sched_io_cb)(rill_sched_io_t *w, int events, void *arg);

enum { RILL_IO_READ = 1, RILL_IO_WRITE = 2 };

/* The current time in ms.  libev: ev_now() * 1000 of the current loop
 * iteration, read once per iteration by a highest-priority check watcher
 * (so it costs a load); virtual: the manual clock. */
RILL_EXTERN double rill_sched_now(rill_sched_t *s);
/* Free a scheduler.  RILL_EBUSY while timers or watchers exist, or from
 * inside one of its own callbacks (an advance or run is on the stack): free
 * it after that returns.  Nothing is freed then.  RILL_EINVAL for NULL. */
RILL_EXTERN int rill_sched_free(rill_sched_t *s);
/* How many timers and watchers are currently started (armed).  After a
 * pipeline is cancelled this returns to what it was before. */
RILL_EXTERN int rill_sched_active(const rill_sched_t *s);
/* Whether timers and watchers created on `s` from now on keep ev_run()
 * alive (true, the default).  For a background source (a heartbeat
 * interval, a listener that should not keep a daemon's loop running), make
 * a second scheduler on the same loop and call this with false.  Returns 0
 * or RILL_EINVAL. */
RILL_EXTERN int rill_sched_keepalive(rill_sched_t *s, bool keep);

/* ---- timers ---- */
/* A stopped one-shot timer; NULL with errno ENOMEM/EINVAL. */
RILL_EXTERN rill_sched_timer_t *
rill_sched_timer_new(rill_sched_t *s, rill_sched_timer_cb cb, void *arg);
/* (Re)arm to fire once, `after_ms` from now (negative or NaN counts as 0).
 * Re-arming an active timer moves it.  INFINITY means never: the timer is
 * stopped instead (not active, holds no loop, never fires).  This is the
 * one rule for infinite durations across rill's time operators. */
RILL_EXTERN void rill_sched_timer_start(rill_sched_timer_t *t, double after_ms);
RILL_EXTERN void rill_sched_timer_stop(rill_sched_timer_t *t);
RILL_EXTERN bool rill_sched_timer_active(const rill_sched_timer_t *t);
/* false: an active timer does not keep ev_run() alive (ev_unref). */
RILL_EXTERN void rill_sched_timer_keepalive(rill_sched_timer_t *t, bool keep);
/* Stop and free (NULL-safe). */
RILL_EXTERN void rill_sched_timer_free(rill_sched_timer_t *t);

/* ---- fd watchers ---- */
/* A stopped watcher on fd; RILL_IO_* events are set with rill_sched_io_set.
 * NULL with errno EINVAL (fd < 0, cb NULL, or an fd libev cannot watch: an
 * epoll instance, such as the loop's own), EBADF (fd not open), ENOTSUP
 * (the virtual scheduler has no I/O) or ENOMEM. */
RILL_EXTERN rill_sched_io_t *rill_sched_io_new(rill_sched_t *s, int fd,
                                               rill_sched_io_cb cb, void *arg);
/* Watch for RILL_IO_READ and/or RILL_IO_WRITE; 0 stops watching. */
RILL_EXTERN void rill_sched_io_set(rill_sched_io_t *w, int events);
RILL_EXTERN int rill_sched_io_events(const rill_sched_io_t *w);
RILL_EXTERN void rill_sched_io_free(rill_sched_io_t *w);

/* ---- the virtual-time twin, for deterministic tests ---- */
/* A manual clock starting at 0 ms.  Timers due at the same instant fire in
 * the order they were started. */
RILL_EXTERN rill_sched_t *rill_sched_virtual_new(void);
/* Move the clock forward by / to, firing every timer due on the way, in
 * order, with the clock set to each timer's due time while it runs.
 * RILL_EINVAL if the target is in the past or infinite, or s is not
 * virtual.  RILL_EAGAIN if 1,000,000 timers fired at one instant without
 * the clock moving (interval(s, 0) re-arms at the same instant for ever):
 * the clock then stays at that instant; cancel the culprit and advance
 * again.  A timer callback may not free the scheduler (RILL_EBUSY). */
RILL_EXTERN int rill_sched_advance_by(rill_sched_t *s, double ms);
RILL_EXTERN int rill_sched_advance_to(rill_sched_t *s, double when_ms);
/* Fire timers in order until none is armed, at most `max_events` of them
 * (0: 1,000,000).  Returns 0 when idle, RILL_EAGAIN when the limit was hit
 * (an interval never goes idle). */
RILL_EXTERN int rill_sched_run(rill_sched_t *s, long max_events);
/* Simulate the arrival of signal `signum` (rill_signal): every
 * subscription to that signal on `s` sees it now, at the current instant,
 * in the order they subscribed (one made meanwhile waits for the next).
 * Returns how many saw it (0: none subscribed); RILL_EINVAL if s is not
 * virtual or signum is not a signal number. */
RILL_EXTERN int rill_sched_raise(rill_sched_t *s, int signum);

#ifdef __cplusplus
}
#endif
#endif /* RILL_SCHED_H */
