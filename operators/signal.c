/* SPDX-License-Identifier: MIT */
/* rill: signal(signum) -- emits signum each time the process receives the
 * signal; never completes.  No RxJS operator (Node's process.on('SIGINT')
 * as a stream; libev's ev_signal through the scheduler, simulated on the
 * virtual clock by rill_sched_raise).
 *
 * Demand: a signal is an event, not data: an arrival with nothing
 * requested is held, and later arrivals fold into it (the outbox's
 * LATEST policy; how many arrived is lost, as libev itself folds the
 * arrivals between two loop iterations into one callback).  The next
 * request delivers it.
 * Time: none; one signal watcher of the scheduler per subscription,
 * started after on_subscribe and stopped at cancel.  It never keeps
 * ev_run alive (the scheduler's rule for signal watchers).
 * Errors: a scheduler that cannot watch the signal fails the subscription
 * right after on_subscribe: RILL_EBUSY (libev: the signal is watched
 * through rill on another loop, or SIGCHLD off the default loop),
 * RILL_ENOTSUP, RILL_ENOMEM.
 * Owns: the watcher.  A source: it has no upstream. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* NSIG */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "rill-internal.h"

struct signal_args {
  rill_sched_t *sched;
  int signum;
};

struct signal_state {
  struct rill__outbox out;
  struct rill__sched_signal *w;
};

static void signal_fired(struct rill__sched_signal *w, void *arg) {
  (void)w;
  struct rill__op *op = arg;
  const struct signal_args *a = op->args;
  struct signal_state *st = op->state;
  if (!rill__op_done(op))
    rill__outbox_offer(op, &st->out, rill_value_int(a->signum));
}

static int signal_init(struct rill__op *op) {
  struct signal_state *st = op->state;
  st->out.policy = RILL_OVERFLOW_LATEST;
  return 0;
}

static void signal_on_subscribe(struct rill__op *op) {
  const struct signal_args *a = op->args;
  struct signal_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  int rc =
      rill__sched_signal_new(a->sched, a->signum, signal_fired, op, &st->w);
  if (rc == 0)
    return;
  char msg[RILL_ERROR_MESSAGE_MAX];
  if (rc == RILL_EBUSY && a->signum == SIGCHLD)
    snprintf(msg, sizeof(msg), "SIGCHLD belongs to libev's default loop");
  else if (rc == RILL_EBUSY)
    snprintf(msg, sizeof(msg),
             "signal %d is watched on another event loop (libev: one loop "
             "per signal)",
             a->signum);
  else if (rc == RILL_ENOTSUP)
    snprintf(msg, sizeof(msg), "this scheduler cannot watch signals");
  else
    snprintf(msg, sizeof(msg), "%s", rill_strerror(rc));
  rill__op_fail(op, rc, msg);
}

static void signal_on_request(struct rill__op *op, int64_t n) {
  struct signal_state *st = op->state;
  rill__outbox_request(op, &st->out, n);
}

static void signal_on_cancel(struct rill__op *op) {
  struct signal_state *st = op->state;
  rill__sched_signal_stop(st->w);
}

static void signal_destroy(struct rill__op *op) {
  struct signal_state *st = op->state;
  rill__sched_signal_free(st->w);
  st->w = NULL;
  rill__outbox_clear(&st->out);
}

static const struct rill__op_ops signal_ops = {
    .name = "signal",
    .source = true,
    .args_size = sizeof(struct signal_args),
    .state_size = sizeof(struct signal_state),
    .init = signal_init,
    .on_subscribe = signal_on_subscribe,
    .on_request = signal_on_request,
    .on_cancel = signal_on_cancel,
    .destroy = signal_destroy,
};

rill_observable_t *rill_signal(rill_sched_t *s, int signum) {
  if (s == NULL || signum <= 0 || signum >= NSIG || signum == SIGKILL ||
      signum == SIGSTOP) {
    errno = EINVAL;
    return NULL;
  }
  struct signal_args args = {.sched = s, .signum = signum};
  return rill__op_create(NULL, &signal_ops, &args);
}
