/* SPDX-License-Identifier: MIT */
/* rill: a caller's fd in a stage (from_fd, tcp_accept, to_fd), and the
 * part shared by sources that produce on fd readiness (from_fd,
 * tcp_accept): one read watcher armed only while there is demand, a bounded
 * number of items per wake-up, RILL_FD_CLOSE on every path (including a
 * recipe never subscribed), and RILL_ESYS errors carrying errno.
 *
 * USING A CALLER'S FD
 *   At subscription every fd stage checks the fd the same way, so that a
 *   bad fd is an on_error in the user's terms, never a crash in libev:
 *   the fd must be open (EBADF: "fd 9 is not open"), open in the direction
 *   the stage needs (a write-only fd given to from_fd: "fd 3 is open for
 *   writing only"), and watchable (libev aborts on an epoll instance, such
 *   as its own when stdin was closed and the loop took fd 0; the ev
 *   scheduler refuses those).  The fd is then made non-blocking, and its
 *   original flags are put back when the stream ends, unless rill closes
 *   it, so a shell sharing a terminal is not left non-blocking.
 *   An fd that is not open, or is an epoll instance, is never closed, even
 *   with RILL_FD_CLOSE: it is not the caller's fd to give. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "rill-internal.h"

int rill__fd_use_begin(struct rill__fd_use *u, rill_sched_t *s, int fd,
                       int events, rill_sched_io_cb cb, void *arg) {
  u->fd = fd;
  u->saved_flags = -1;
  u->ended = false;
  u->may_close = true;
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) {
    u->bad_errno = errno;
    u->bad_what = "is not open";
    u->may_close = false;
    return 0;
  }
  int mode = fl & O_ACCMODE;
  if ((events & RILL_IO_READ) && mode == O_WRONLY) {
    u->bad_errno = EBADF;
    u->bad_what = "is open for writing only";
    return 0;
  }
  if ((events & RILL_IO_WRITE) && mode == O_RDONLY) {
    u->bad_errno = EBADF;
    u->bad_what = "is open for reading only";
    return 0;
  }
  u->io = rill_sched_io_new(s, fd, cb, arg);
  if (u->io == NULL) {
    if (errno == ENOTSUP)
      return RILL_ENOTSUP;
    if (errno == ENOMEM)
      return RILL_ENOMEM;
    u->bad_errno = errno;
    u->bad_what = "cannot be watched (an epoll fd: the event loop's own?)";
    u->may_close = false;
    return 0;
  }
  if (!(fl & O_NONBLOCK)) {
    if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
      u->bad_errno = errno;
      u->bad_what = "cannot be made non-blocking";
      return 0;
    }
    u->saved_flags = fl;
  }
  return 0;
}

void rill__fd_use_error(const struct rill__fd_use *u, const char *stage,
                        rill_error_t *err) {
  rill__error_sys(err, stage, u->bad_errno, "fd %d %s", u->fd, u->bad_what);
}

void rill__fd_use_end(struct rill__fd_use *u, bool close_fd) {
  rill_sched_io_set(u->io, 0);
  if (u->ended)
    return;
  u->ended = true;
  if (close_fd && u->may_close)
    close(u->fd);
  else if (u->saved_flags >= 0)
    fcntl(u->fd, F_SETFL, u->saved_flags); /* best effort: it is theirs */
}

void rill__fd_use_free(struct rill__fd_use *u) {
  rill__fd_use_end(u, false);
  rill_sched_io_free(u->io);
  u->io = NULL;
}

/* ---- sources driven by fd readiness -------------------------------------*/

void rill__fd_release(struct rill__op *op) {
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  rill__fd_use_end(&st->use, (a->flags & RILL_FD_CLOSE) != 0);
}

void rill__fd_fail_sys(struct rill__op *op, int sys_errno, const char *doing) {
  const struct rill__fd_args *a = op->args;
  rill_error_t err;
  rill__error_sys(&err, op->ops->name, sys_errno, "%s fd %d failed", doing,
                  a->fd);
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
    rill_sched_io_set(st->use.io, 0); /* no demand: let the kernel push back */
}

int rill__fd_init(struct rill__op *op) {
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  /* From now on the subscription closes the fd.  The args live in the
   * recipe, which is writable; this flag is the only thing ever written. */
  ((struct rill__fd_args *)op->args)->subscribed = true;
  /* On failure destroy still runs, and closes the fd (RILL_FD_CLOSE). */
  return rill__fd_use_begin(&st->use, a->sched, a->fd, RILL_IO_READ,
                            fd_readable, op);
}

void rill__fd_on_subscribe(struct rill__op *op) {
  struct rill__fd_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op) || st->use.bad_errno == 0)
    return;
  rill_error_t err;
  rill__fd_use_error(&st->use, op->ops->name, &err);
  rill__fd_release(op);
  rill__op_error(op, &err);
}

void rill__fd_on_request(struct rill__op *op, int64_t n) {
  struct rill__fd_state *st = op->state;
  st->demand = rill__demand_add(st->demand, n);
  if (st->use.bad_errno == 0)
    rill_sched_io_set(st->use.io, RILL_IO_READ); /* no-op when armed */
}

void rill__fd_on_cancel(struct rill__op *op) {
  rill__fd_release(op);
}

void rill__fd_destroy(struct rill__op *op) {
  struct rill__fd_state *st = op->state;
  rill__fd_release(op);
  rill__fd_use_free(&st->use);
}

void rill__fd_args_release(void *args) {
  struct rill__fd_args *a = args;
  if ((a->flags & RILL_FD_CLOSE) && !a->subscribed)
    close(a->fd);
}
