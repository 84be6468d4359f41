/* rill: the part shared by sources that produce on fd readiness (from_fd,
 * tcp_accept): one read watcher armed only while there is demand, a bounded
 * number of items per wake-up, the fd made non-blocking, RILL_FD_CLOSE on
 * every path (including a recipe never subscribed), and RILL_ESYS errors
 * carrying errno. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "rill-internal.h"

void rill__fd_release(struct rill__op *op) {
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  rill_sched_io_set(st->io, 0);
  if (!st->closed && (a->flags & RILL_FD_CLOSE)) {
    st->closed = true;
    close(a->fd);
  }
}

void rill__fd_fail_sys(struct rill__op *op, int sys_errno, const char *call) {
  const struct rill__fd_args *a = op->args;
  rill_error_t err;
  rill__error_init(&err, RILL_ESYS, sys_errno, op->ops->name,
                   "%s: %s(fd %d) failed (errno %d)", op->ops->name, call,
                   a->fd, sys_errno);
  rill__fd_release(op);
  rill__op_error(op, &err);
}

static void fd_readable(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  struct rill__op *op = arg;
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  for (int i = 0; i < a->per_wakeup; i++) {
    if (rill__op_done(op) || st->demand == 0)
      break;
    if (a->once(op) <= 0)
      break;
  }
  if (!rill__op_done(op) && st->demand == 0)
    rill_sched_io_set(st->io, 0); /* no demand: let the kernel push back */
}

int rill__fd_init(struct rill__op *op) {
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  /* From now on the subscription closes the fd.  The args live in the
   * recipe, which is writable; this flag is the only thing ever written. */
  ((struct rill__fd_args *)op->args)->subscribed = true;
  st->io = rill_sched_io_new(a->sched, a->fd, fd_readable, op);
  if (st->io == NULL)
    return errno == ENOTSUP  ? RILL_ENOTSUP
           : errno == ENOMEM ? RILL_ENOMEM
                             : RILL_EINVAL;
  int fl = fcntl(a->fd, F_GETFL);
  if (fl < 0 ||
      (!(fl & O_NONBLOCK) && fcntl(a->fd, F_SETFL, fl | O_NONBLOCK) < 0)) {
    st->bad_errno = errno;
    st->closed = errno == EBADF; /* nothing of ours to close */
  }
  return 0;
}

void rill__fd_on_subscribe(struct rill__op *op) {
  struct rill__fd_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op) && st->bad_errno != 0)
    rill__fd_fail_sys(op, st->bad_errno, "fcntl");
}

void rill__fd_on_request(struct rill__op *op, int64_t n) {
  struct rill__fd_state *st = op->state;
  st->demand = rill__demand_add(st->demand, n);
  if (st->bad_errno == 0)
    rill_sched_io_set(st->io, RILL_IO_READ); /* no-op when already armed */
}

void rill__fd_on_cancel(struct rill__op *op) {
  rill__fd_release(op);
}

void rill__fd_destroy(struct rill__op *op) {
  struct rill__fd_state *st = op->state;
  rill__fd_release(op);
  rill_sched_io_free(st->io);
  st->io = NULL;
}

void rill__fd_args_release(void *args) {
  struct rill__fd_args *a = args;
  if ((a->flags & RILL_FD_CLOSE) && !a->subscribed)
    close(a->fd);
}
