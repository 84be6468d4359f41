/* SPDX-License-Identifier: MIT */
/* rill: to_fd(fd) -- a sink: writes every byte buffer (RILL_KIND_BUF) of
 * its source to a file descriptor, in order, and reports the end once
 * through done(ctx, code, sys_errno).
 *
 * Demand: requests TO_FD_WINDOW buffers up front and then one more for
 * each buffer completely written, so at most TO_FD_WINDOW buffers are held
 * (requested or queued) at any time, and a slow reader slows the source.
 * I/O: non-blocking writes, tried at once when a buffer arrives; what the
 * kernel does not take stays queued (with its offset) and one fd watcher
 * (RILL_IO_WRITE) waits for writability; it is armed only while bytes are
 * waiting.  At most TO_FD_WRITES_PER_WAKEUP writes per wake-up.  The fd is
 * made non-blocking at subscription.  EAGAIN/EWOULDBLOCK wait, EINTR
 * retries.
 * SIGPIPE: sockets are written with send(MSG_NOSIGNAL) (SO_NOSIGPIPE is
 * set by rill's TCP helpers where MSG_NOSIGNAL does not exist), so a peer
 * that went away gives EPIPE, never a signal.  For pipes and other
 * non-sockets plain write() is used and the APPLICATION MUST IGNORE
 * SIGPIPE (signal(SIGPIPE, SIG_IGN)), or a closed reader kills the process.
 * Ends: after upstream completes and everything was written,
 * done(ctx, 0, 0).  A failed write (EPIPE, ECONNRESET, EBADF, ...) cancels
 * upstream and gives done(ctx, RILL_ESYS, errno).  An upstream error gives
 * done(ctx, code, sys_errno) with the upstream's code and sys_errno (0
 * unless the upstream error was itself a system error, e.g. from_fd's);
 * unwritten bytes are dropped.  A value that is not a buffer cancels
 * upstream and gives done(ctx, RILL_EINVAL, 0).  A stage that cannot start
 * (RILL_ENOMEM, RILL_ENOTSUP on a scheduler without I/O) gives done with
 * that code.  done may run before rill_to_fd() returns (a synchronous
 * source on a writable fd).  Cancelling through *out stops everything and
 * does NOT call done (no terminal signal follows a cancel).  done may free
 * the *out handle.  rill_to_fd() returns 0 exactly when done will run (or
 * has run) unless cancelled; RILL_EINVAL/RILL_ENOMEM when it never will.
 * Owns: the queued buffers, the watcher and, with RILL_FD_CLOSE, the fd,
 * closed on every path (at the end of the stream, before done runs, or at
 * cancel), also when rill_to_fd() fails with RILL_ENOMEM (not on
 * RILL_EINVAL).
 * Built as an internal operator stage (which does the work) under a plain
 * subscription (which is the handle *out), so that a cancel reaches the
 * stage and stops its watcher.  The subscription's callbacks turn the
 * terminal signal into done(), so every ending -- including a stage that
 * could not even be allocated -- reports once.  The source observable is
 * not taken over: like rill_observable_subscribe(), the caller keeps its
 * reference. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL */
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kit/kit.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define TO_FD_WINDOW 4
#define TO_FD_WRITES_PER_WAKEUP 64

/* What the end of the stream is reported to.  Owned by the stage recipe
 * (freed with it), which outlives every signal that reaches the sink. */
struct to_fd_link {
  rill_done_fn done;
  void *ctx;
  bool subscribed; /* the stage ran: it closes the fd from then on */
};

struct to_fd_args {
  rill_sched_t *sched;
  int fd;
  unsigned flags;
  struct to_fd_link *link;
};

struct to_fd_state {
  struct rill__fd_use use;         /* the fd and its watcher */
  struct rill__ring queue;  /* buffers to write (the kit's ring) */
  struct rill__drain flush; /* one flush at a time */
  size_t off;               /* bytes of the head buffer already written */
  bool not_socket; /* send() said ENOTSOCK: use write() */
  bool up_done;
};

static void to_fd_release_fd(struct rill__op *op) {
  const struct to_fd_args *a = op->args;
  struct to_fd_state *st = op->state;
  rill__fd_use_end(&st->use, (a->flags & RILL_FD_CLOSE) != 0);
}

static void to_fd_fail_with(struct rill__op *op, const rill_error_t *err) {
  to_fd_release_fd(op);
  rill__op_error(op, err); /* cancels upstream; the sink calls done */
}

static void to_fd_fail(struct rill__op *op, int code, const char *msg) {
  rill_error_t err;
  rill__error_init(&err, code, 0, op->ops->name, "to_fd: %s", msg);
  to_fd_fail_with(op, &err);
}

static void to_fd_finish(struct rill__op *op) {
  to_fd_release_fd(op);
  rill__op_complete(op); /* the sink calls done(ctx, 0, 0) */
}

static ssize_t to_fd_write(struct rill__op *op, const void *p, size_t n) {
  const struct to_fd_args *a = op->args;
  struct to_fd_state *st = op->state;
  ssize_t w;
  if (!st->not_socket) {
    do
      w = send(a->fd, p, n, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w >= 0 || errno != ENOTSOCK)
      return w;
    st->not_socket = true;
  }
  do
    w = write(a->fd, p, n);
  while (w < 0 && errno == EINTR);
  return w;
}

/* Write queued bytes until the kernel pushes back, the queue is empty or
 * the per-wake-up budget is spent; refill the window as buffers drain. */
static void to_fd_flush(struct rill__op *op) {
  struct to_fd_state *st = op->state;
  if (!rill__drain_enter(&st->flush))
    return; /* the flush on the stack sees the new buffer */
  int writes = 0;
  bool blocked = false;
  while (!rill__ring_empty(&st->queue) && !rill__op_done(op)) {
    if (writes++ == TO_FD_WRITES_PER_WAKEUP) {
      blocked = true; /* yield to the loop; writable fires again at once */
      break;
    }
    rill_buf_t *b = rill__ring_peek(&st->queue).as.buf;
    ssize_t w =
        to_fd_write(op, rill_buf_data(b) + st->off, rill_buf_len(b) - st->off);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        blocked = true;
        break;
      }
      st->flush.wip = 0;
      const struct to_fd_args *a = op->args;
      rill_error_t err;
      rill__error_sys(&err, op->ops->name, errno, "writing fd %d failed",
                      a->fd);
      to_fd_fail_with(op, &err);
      return;
    }
    st->off += (size_t)w;
    if (st->off < rill_buf_len(b))
      continue;
    rill_value_release(rill__ring_pop(&st->queue));
    st->off = 0;
    rill__op_request_up(op, 1); /* drained one: ask for one more */
  }
  st->flush.wip = 0; /* a buffer queued meanwhile was written above */
  if (rill__op_done(op))
    return;
  if (!rill__ring_empty(&st->queue) && blocked) {
    rill_sched_io_set(st->use.io, RILL_IO_WRITE);
    return;
  }
  rill_sched_io_set(st->use.io, 0);
  if (rill__ring_empty(&st->queue) && st->up_done)
    to_fd_finish(op);
}

static void to_fd_writable(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  to_fd_flush(arg);
}

static int to_fd_init(struct rill__op *op) {
  const struct to_fd_args *a = op->args;
  struct to_fd_state *st = op->state;
  a->link->subscribed = true;
  rill__ring_init(&st->queue, TO_FD_WINDOW);
  int rc = rill__fd_use_begin(&st->use, a->sched, a->fd, RILL_IO_WRITE,
                              to_fd_writable, op);
  if (rc == 0) /* so that queueing a buffer can never fail with ENOMEM */
    rc = rill__ring_reserve(&st->queue, TO_FD_WINDOW);
  if (rc < 0)
    to_fd_release_fd(op); /* closed before done runs */
  return rc;              /* -> the sink's on_error -> done */
}

static void to_fd_on_subscribe(struct rill__op *op) {
  struct to_fd_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (st->use.bad_errno != 0) {
    rill_error_t err;
    rill__fd_use_error(&st->use, op->ops->name, &err);
    to_fd_fail_with(op, &err);
    return;
  }
  rill__op_request_up(op, TO_FD_WINDOW);
}

static void to_fd_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct to_fd_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (v.kind != RILL_KIND_BUF || v.as.buf == NULL) {
    rill__drop(v);
    to_fd_fail(op, RILL_EINVAL, "expected a byte buffer");
    return;
  }
  if (rill_buf_len(v.as.buf) == 0) {
    rill__drop(v);
    rill__op_request_up(op, 1); /* nothing to write: keep the window */
    return;
  }
  /* Storage was reserved at subscription: only overflow can fail. */
  if (rill__ring_push(&st->queue, v) < 0) {
    to_fd_fail(op, RILL_EPROTO, "upstream sent more than requested");
    return;
  }
  if (rill_sched_io_events(st->use.io) == 0) /* else: waiting for writable */
    to_fd_flush(op);
}

static void to_fd_on_error(struct rill__op *op, const rill_error_t *err) {
  to_fd_release_fd(op);
  rill__op_error(op, err); /* the sink calls done(code, sys_errno) */
}

static void to_fd_on_complete(struct rill__op *op) {
  struct to_fd_state *st = op->state;
  st->up_done = true;
  if (rill__ring_empty(&st->queue) && !rill__drain_running(&st->flush))
    to_fd_finish(op);
  /* else: the flush on the stack or the watcher finishes */
}

static void to_fd_on_cancel(struct rill__op *op) {
  to_fd_release_fd(op);
}

static void to_fd_destroy(struct rill__op *op) {
  struct to_fd_state *st = op->state;
  to_fd_release_fd(op);
  rill__fd_use_free(&st->use);
  rill__ring_clear(&st->queue);
}

/* The recipe goes (after the stage, which holds it): free the link, and
 * close the fd if the stage never ran (allocation failures). */
static void to_fd_args_release(void *args) {
  struct to_fd_args *a = args;
  if ((a->flags & RILL_FD_CLOSE) && !a->link->subscribed)
    close(a->fd);
  rill__free(a->link);
}

static const struct rill__op_ops to_fd_ops = {
    .name = "to_fd",
    .args_size = sizeof(struct to_fd_args),
    .state_size = sizeof(struct to_fd_state),
    .init = to_fd_init,
    .on_subscribe = to_fd_on_subscribe,
    .on_next = to_fd_on_next,
    .on_error = to_fd_on_error,
    .on_complete = to_fd_on_complete,
    .on_cancel = to_fd_on_cancel,
    .destroy = to_fd_destroy,
    .args_release = to_fd_args_release,
};

/* The user's end of the stage: terminal signals become done(). */
static void to_fd_sink_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  (void)s;
}

static void to_fd_sink_error(void *ctx, const rill_error_t *err) {
  struct to_fd_link *link = ctx;
  if (link->done != NULL)
    link->done(link->ctx, err->code, err->sys_errno);
}

static void to_fd_sink_complete(void *ctx) {
  struct to_fd_link *link = ctx;
  if (link->done != NULL)
    link->done(link->ctx, 0, 0);
}

int rill_to_fd(rill_observable_t *src, rill_sched_t *s, int fd, unsigned flags,
               rill_done_fn done, void *ctx, rill_subscription_t **out) {
  if (out != NULL)
    *out = NULL;
  if (src == NULL || s == NULL || fd < 0 ||
      (flags & ~(unsigned)RILL_FD_CLOSE) != 0) {
    if (fd >= 0 && (flags & RILL_FD_CLOSE))
      close(fd); /* ownership passes at the call, also on failure */
    return RILL_EINVAL;
  }
  struct to_fd_link *link = rill__calloc(1, sizeof(*link));
  if (link == NULL) {
    if (flags & RILL_FD_CLOSE)
      close(fd);
    return RILL_ENOMEM;
  }
  link->done = done;
  link->ctx = ctx;
  struct to_fd_args args = {.sched = s, .fd = fd, .flags = flags, .link = link};
  rill_observable_t *stage =
      rill__op_create(rill_observable_ref(src), &to_fd_ops, &args);
  if (stage == NULL)
    return RILL_ENOMEM; /* args_release closed the fd and freed the link */
  static const rill_subscriber_t sink = {.on_subscribe = to_fd_sink_subscribe,
                                         .on_error = to_fd_sink_error,
                                         .on_complete = to_fd_sink_complete};
  int rc = rill_observable_subscribe(stage, &sink, link, out);
  rill_observable_free(stage);
  return rc;
}
