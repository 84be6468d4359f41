/* SPDX-License-Identifier: MIT */
/* rill internals: a caller's fd in a stage, and sources driven by fd
 * readiness (src/io/fd_source.c). */
#ifndef RILL_CORE_FD_H
#define RILL_CORE_FD_H

#include "core/op.h"

/* ---- a caller's fd in a stage (src/io/fd_source.c) -----------------------
 *
 * begin() checks the fd (open, in the needed direction, watchable), makes
 * the watcher (stopped) and makes the fd non-blocking.  It returns a
 * negative code only when the stage cannot start at all (ENOMEM, ENOTSUP);
 * an unusable fd leaves bad_errno set, and the stage reports
 * rill__fd_use_error() after on_subscribe.  end() stops watching and closes
 * the fd or puts its flags back (idempotent); free() also frees the
 * watcher. */
struct rill__fd_use {
  rill_sched_io_t *io;
  int fd;
  int saved_flags; /* file status flags to put back, or -1 */
  int bad_errno;   /* the fd cannot be used: why (0: it can) */
  const char *bad_what;
  bool may_close; /* false for an fd that is not the caller's to give */
  bool ended;
};
int rill__fd_use_begin(struct rill__fd_use *u, rill_sched_t *s, int fd,
                       int events, rill_sched_io_cb cb, void *arg);
void rill__fd_use_error(const struct rill__fd_use *u, const char *stage,
                        rill_error_t *err);
void rill__fd_use_end(struct rill__fd_use *u, bool close_fd);
void rill__fd_use_free(struct rill__fd_use *u);

/* ---- sources driven by fd readiness (src/io/fd_source.c) -----------------
 *
 * An fd source's args start with struct rill__fd_args and its state with
 * struct rill__fd_state; `once` produces one item when the fd is ready and
 * returns 1 (emitted, more may be waiting), 0 (wait for the next wake-up)
 * or -1 (the stream ended).  The handlers below fill its ops table. */
struct rill__fd_args {
  rill_sched_t *sched;
  int fd;
  unsigned flags; /* RILL_FD_CLOSE */
  int per_wakeup; /* items at most per wake-up, so the loop is not starved */
  int (*once)(struct rill__op *op);
  bool subscribed; /* set by the first subscription (see fd_source.c) */
};
struct rill__fd_state {
  struct rill__fd_use use;
  int64_t demand;
};
/* Stop watching and, with RILL_FD_CLOSE, close the fd (idempotent). */
void rill__fd_release(struct rill__op *op);
/* Release the fd and fail with RILL_ESYS / sys_errno:
 * "<stage>: <doing> fd N failed: <strerror>" (doing: "reading", ...). */
void rill__fd_fail_sys(struct rill__op *op, int sys_errno, const char *doing);
int rill__fd_init(struct rill__op *op);
void rill__fd_on_subscribe(struct rill__op *op);
void rill__fd_on_request(struct rill__op *op, int64_t n);
void rill__fd_on_cancel(struct rill__op *op);
void rill__fd_destroy(struct rill__op *op);
void rill__fd_args_release(void *args);

#endif /* RILL_CORE_FD_H */
