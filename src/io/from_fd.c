/* SPDX-License-Identifier: MIT */
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
#include <unistd.h>

#include "rill-internal.h"

#define FROM_FD_DEFAULT_CHUNK ((size_t)64 * 1024)
#define FROM_FD_READS_PER_WAKEUP 16

struct from_fd_args {
  struct rill__fd_args fd; /* first: the shared fd-source part */
  size_t chunk;
};

struct from_fd_state {
  struct rill__fd_state fd; /* first: the shared fd-source part */
  rill_buf_t *spare;        /* the next read goes here */
};

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
      rill__fd_release(op);
      rill__op_fail(op, RILL_ENOMEM, "cannot allocate a read buffer");
      return -1;
    }
  }
  ssize_t n;
  do
    n = read(a->fd.fd, rill_buf_data(st->spare), a->chunk);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    rill__fd_fail_sys(op, errno, "reading");
    return -1;
  }
  if (n == 0) {
    rill__fd_release(op);
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
      rill__fd_release(op);
      rill__op_fail(op, RILL_ENOMEM, "cannot allocate a buffer");
      return -1;
    }
  }
  rill_buf_set_len(b, (size_t)n);
  if (rill__op_deliver(op, rill_value_buf(b)) &&
      st->fd.demand != RILL_UNBOUNDED)
    st->fd.demand--;
  if (rill__op_done(op))
    return -1;
  return (size_t)n == a->chunk ? 1 : 0;
}

static void from_fd_destroy(struct rill__op *op) {
  struct from_fd_state *st = op->state;
  rill__fd_destroy(op);
  if (st->spare != NULL)
    rill_buf_unref(st->spare);
  st->spare = NULL;
}

static const struct rill__op_ops from_fd_ops = {
    .name = "from_fd",
    .source = true,
    .args_size = sizeof(struct from_fd_args),
    .state_size = sizeof(struct from_fd_state),
    .init = rill__fd_init,
    .on_subscribe = rill__fd_on_subscribe,
    .on_request = rill__fd_on_request,
    .on_cancel = rill__fd_on_cancel,
    .destroy = from_fd_destroy,
    .args_release = rill__fd_args_release,
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
      .fd = {.sched = s,
             .fd = fd,
             .flags = flags,
             .per_wakeup = FROM_FD_READS_PER_WAKEUP,
             .once = from_fd_read_once},
      .chunk = chunk ? chunk : FROM_FD_DEFAULT_CHUNK,
  };
  return rill__op_create(NULL, &from_fd_ops, &args);
}
