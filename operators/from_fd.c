/* rill: from_fd(fd) -- emits what is read from a file descriptor, as
 * refcounted byte buffers (RILL_KIND_BUF) of at most `chunk` bytes, and
 * completes at end of file.
 *
 * Demand: reads only while downstream demand is positive.  Each read that
 * returns data is one value, so a request(n) costs at most n reads.  End
 * of file is seen by a read too, so a consumer that requested exactly
 * what was left gets on_complete after its next request.  With
 * no demand the read watcher is stopped: the kernel buffer fills up and the
 * writer is pushed back (a pipe writer blocks or gets EAGAIN; TCP closes
 * its window).  Reading never happens inside request(): request only arms
 * the watcher, and the reads run from the loop, so a request made from
 * on_next never recurses.
 * I/O: one fd watcher (RILL_IO_READ) for the life of the subscription,
 * armed while there is demand.  Per wake-up it reads while reads fill a
 * whole chunk (more is likely waiting), at most FROM_FD_READS_PER_WAKEUP
 * times, so one busy fd cannot starve the rest of the loop; a short read
 * ends the round (the fd is most likely drained; level-triggered readiness
 * brings us back if not).  The fd is made non-blocking at subscription.
 * EAGAIN/EWOULDBLOCK wait for the next wake-up, EINTR retries, any other
 * failure is on_error(RILL_ESYS) with sys_errno set; a closed or invalid
 * fd is on_error(RILL_ESYS, EBADF) right after on_subscribe.  On a scheduler
 * without I/O (virtual) the subscription fails with RILL_ENOTSUP. Memory: reads
 * go into one spare buffer of `chunk` bytes; a read that filled at least half
 * of it is emitted as is (and a new spare is allocated at the next read), a
 * shorter one is copied into a buffer of its own size, so a trickle of small
 * messages does not pin a chunk per message downstream.  Held inside from_fd:
 * at most one chunk. Owns: the watcher and the spare buffer; with
 * RILL_FD_CLOSE, the fd, closed when the subscription ends on every path (end
 * of file, error, cancel, a failed subscription), or when the recipe is freed
 * without ever having been subscribed, or at once if the constructor fails with
 * ENOMEM (rule 1: ownership passes at the call).  Without it the fd is
 * left open (still non-blocking).
 * Deviations: a recipe is cold like every other, but all its
 * subscriptions read the same fd; subscribe once (with RILL_FD_CLOSE the
 * first subscription to end closes it). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "rill-internal.h"

#define FROM_FD_DEFAULT_CHUNK ((size_t)64 * 1024)
#define FROM_FD_READS_PER_WAKEUP 16

struct from_fd_args {
  rill_sched_t *sched;
  int fd;
  size_t chunk;
  unsigned flags;
  bool subscribed; /* set by the first subscription (recipe memory) */
};

struct from_fd_state {
  rill_sched_io_t *io;
  rill_buf_t *spare; /* the next read goes here */
  int64_t demand;
  int bad_errno; /* the fd was unusable at subscription */
  bool closed;   /* the fd is closed (or was never ours to close) */
};

/* Stop watching and, with RILL_FD_CLOSE, close the fd.  Idempotent: runs
 * on every path that ends the subscription. */
static void from_fd_release_fd(struct rill__op *op) {
  const struct from_fd_args *a = op->args;
  struct from_fd_state *st = op->state;
  rill_sched_io_set(st->io, 0);
  if (!st->closed && (a->flags & RILL_FD_CLOSE)) {
    st->closed = true;
    close(a->fd);
  }
}

static void from_fd_fail_sys(struct rill__op *op, int sys_errno,
                             const char *what) {
  const struct from_fd_args *a = op->args;
  rill_error_t err;
  rill__error_init(&err, RILL_ESYS, sys_errno, op->ops->name,
                   "from_fd: %s(fd %d) failed (errno %d)", what, a->fd,
                   sys_errno);
  from_fd_release_fd(op);
  rill__op_error(op, &err);
}

/* One read into the spare buffer.  Returns 1 after emitting a full chunk
 * (there may be more), 0 after a short read or on EAGAIN (the fd is most
 * likely drained: wait for the next wake-up rather than pay a read that
 * says EAGAIN), -1 when the stream ended (EOF, error, ENOMEM). */
static int from_fd_read_once(struct rill__op *op) {
  const struct from_fd_args *a = op->args;
  struct from_fd_state *st = op->state;
  if (st->spare == NULL) {
    st->spare = rill_buf_new(a->chunk);
    if (st->spare == NULL) {
      from_fd_release_fd(op);
      rill__op_fail(op, RILL_ENOMEM, "cannot allocate a read buffer");
      return -1;
    }
  }
  ssize_t n;
  do
    n = read(a->fd, rill_buf_data(st->spare), a->chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    from_fd_fail_sys(op, errno, "read");
    return -1;
  }
  if (n == 0) {
    from_fd_release_fd(op);
    rill__op_complete(op);
    return -1;
  }
  rill_buf_t *b;
  if ((size_t)n >= a->chunk / 2) {
    b = st->spare; /* worth its size: hand it over */
    st->spare = NULL;
  } else {
    b = rill_buf_from(rill_buf_data(st->spare), (size_t)n);
    if (b == NULL) {
      from_fd_release_fd(op);
      rill__op_fail(op, RILL_ENOMEM, "cannot allocate a buffer");
      return -1;
    }
  }
  rill_buf_set_len(b, (size_t)n);
  if (rill__emit(op->down, rill_value_buf(b)) && st->demand != RILL_UNBOUNDED)
    st->demand--;
  if (rill__op_done(op))
    return -1;
  return (size_t)n == a->chunk ? 1 : 0;
}

static void from_fd_readable(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  struct rill__op *op = arg;
  struct from_fd_state *st = op->state;
  for (int i = 0; i < FROM_FD_READS_PER_WAKEUP; i++) {
    if (rill__op_done(op) || st->demand == 0)
      break;
    if (from_fd_read_once(op) <= 0)
      break;
  }
  if (!rill__op_done(op) && st->demand == 0)
    rill_sched_io_set(st->io, 0); /* no demand: let the kernel push back */
}

static int from_fd_init(struct rill__op *op) {
  const struct from_fd_args *a = op->args;
  struct from_fd_state *st = op->state;
  /* From now on the subscription closes the fd (the args live in the
   * recipe, which is writable; only this flag is ever written). */
  ((struct from_fd_args *)op->args)->subscribed = true;
  st->io = rill_sched_io_new(a->sched, a->fd, from_fd_readable, op);
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

static void from_fd_on_subscribe(struct rill__op *op) {
  struct from_fd_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (!rill__op_done(op) && st->bad_errno != 0)
    from_fd_fail_sys(op, st->bad_errno, "fcntl");
}

static void from_fd_on_request(struct rill__op *op, int64_t n) {
  struct from_fd_state *st = op->state;
  st->demand = rill__demand_add(st->demand, n);
  if (st->bad_errno == 0)
    rill_sched_io_set(st->io, RILL_IO_READ); /* no-op when already armed */
}

static void from_fd_on_cancel(struct rill__op *op) {
  from_fd_release_fd(op);
}

static void from_fd_destroy(struct rill__op *op) {
  struct from_fd_state *st = op->state;
  from_fd_release_fd(op);
  rill_sched_io_free(st->io);
  if (st->spare != NULL)
    rill_buf_unref(st->spare);
}

/* A recipe freed without ever being subscribed (or not made at all: the
 * constructor failed) still honours RILL_FD_CLOSE. */
static void from_fd_args_release(void *args) {
  struct from_fd_args *a = args;
  if ((a->flags & RILL_FD_CLOSE) && !a->subscribed)
    close(a->fd);
}

static const struct rill__op_ops from_fd_ops = {
    .name = "from_fd",
    .source = true,
    .args_size = sizeof(struct from_fd_args),
    .state_size = sizeof(struct from_fd_state),
    .init = from_fd_init,
    .on_subscribe = from_fd_on_subscribe,
    .on_request = from_fd_on_request,
    .on_cancel = from_fd_on_cancel,
    .destroy = from_fd_destroy,
    .args_release = from_fd_args_release,
};

rill_observable_t *rill_from_fd(rill_sched_t *s, int fd, size_t chunk,
                                unsigned flags) {
  if (s == NULL || fd < 0 || (flags & ~(unsigned)RILL_FD_CLOSE) != 0) {
    if (fd >= 0 && (flags & RILL_FD_CLOSE))
      close(fd); /* ownership passes at the call, also on failure */
    errno = EINVAL;
    return NULL;
  }
  struct from_fd_args args = {
      .sched = s,
      .fd = fd,
      .chunk = chunk ? chunk : FROM_FD_DEFAULT_CHUNK,
      .flags = flags,
  };
  return rill__op_create(NULL, &from_fd_ops, &args);
}
