/* SPDX-License-Identifier: MIT */
/* rill: TCP on numeric IPv4/IPv6 addresses -- listen, accept(listen_fd)
 * and connect(host, port).  accept emits one connection per client and
 * never completes; connect emits one connection, then completes.
 *
 * A connection is an owned value (RILL_KIND_OWNED) wrapping a connected,
 * non-blocking, close-on-exec socket; releasing its last reference closes
 * the socket unless rill_conn_take() took the fd over.  Hand the fd to
 * from_fd/to_fd with rill_conn_fd() (and keep the value alive while they
 * use it) or with rill_conn_take() plus RILL_FD_CLOSE.
 *
 * accept -- Demand: accepts only while downstream demand is positive;
 * without demand the watcher is stopped and clients wait in the kernel's
 * backlog (rule 1.1 all the way to the network).  I/O: one watcher
 * (RILL_IO_READ) on the listening fd, armed while there is demand; at most
 * TCP_ACCEPTS_PER_WAKEUP accepts per wake-up.  EAGAIN waits; EINTR
 * retries; ECONNABORTED and EPROTO (a client that gave up while queued)
 * are skipped; any other failure, including EMFILE/ENFILE (out of file
 * descriptors: retrying at once would spin), is on_error(RILL_ESYS).
 * Owns: the watcher, and with RILL_FD_CLOSE the listening fd, closed on
 * every path (as from_fd: also when the recipe is freed unsubscribed or
 * the constructor fails with ENOMEM).  Never completes (RxJS: a hot server
 * source): cancel it.
 *
 * connect -- The address is parsed when the recipe is made (numeric only:
 * AI_NUMERICHOST, no DNS); each subscription opens its own socket and
 * starts a non-blocking connect at subscription; EINPROGRESS waits for
 * writability and reads SO_ERROR.  Demand: the connection is emitted at
 * once if requested, else held until the first request (LATEST, like
 * timer), then the stream completes.  A refused or failed connect is
 * on_error(RILL_ESYS) with sys_errno (ECONNREFUSED, ...).  No timeout of
 * its own: compose with rill_timeout().  Owns: the watcher and the socket
 * until it is emitted (closed on error or cancel). */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* getaddrinfo flags, SO_NOSIGPIPE checks */
#endif
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rill-internal.h"

#define TCP_ACCEPTS_PER_WAKEUP 16
#define TCP_BACKLOG 128
#define CONN_MAGIC 0x636f6e6eu /* "conn" */

/* ---- connections ----------------------------------------------------------*/

struct conn {
  uint32_t magic;
  int fd;
};

static void conn_release(void *p) {
  struct conn *c = p;
  if (c->fd >= 0)
    close(c->fd);
  c->magic = 0;
  rill__free(c);
}

static struct conn *conn_of(rill_value_t v) {
  struct conn *c = rill_value_owned_ptr(v);
  return c != NULL && c->magic == CONN_MAGIC ? c : NULL;
}

int rill_conn_fd(rill_value_t conn) {
  struct conn *c = conn_of(conn);
  return c != NULL && c->fd >= 0 ? c->fd : RILL_EINVAL;
}

int rill_conn_take(rill_value_t conn) {
  struct conn *c = conn_of(conn);
  if (c == NULL || c->fd < 0)
    return RILL_EINVAL;
  int fd = c->fd;
  c->fd = -1;
  return fd;
}

/* Wrap a connected socket (taken over, closed on failure). */
static int conn_value(int fd, rill_value_t *out) {
  struct conn *c = rill__malloc(sizeof(*c));
  if (c == NULL) {
    close(fd);
    return RILL_ENOMEM;
  }
  c->magic = CONN_MAGIC;
  c->fd = fd;
  return rill_value_owned(c, conn_release, out);
}

/* Non-blocking, close-on-exec and, where it exists, no SIGPIPE. */
static int sock_setup(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -1;
  int fdfl = fcntl(fd, F_GETFD);
  if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
    return -1;
#ifdef SO_NOSIGPIPE
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return 0;
}

/* Numeric host and port to one socket address. */
static int tcp_resolve(const char *host, int port, bool passive,
                       struct sockaddr_storage *ss, socklen_t *len) {
  if (host == NULL || port < 0 || port > 65535)
    return RILL_EINVAL;
  char service[8];
  snprintf(service, sizeof(service), "%d", port);
  struct addrinfo hints;
  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  struct addrinfo *res = NULL;
  if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL)
    return RILL_EINVAL;
  if (res->ai_addrlen > sizeof(*ss)) {
    freeaddrinfo(res);
    return RILL_EINVAL;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return 0;
}

int rill_tcp_listen(const char *host, int port, int *port_out) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (tcp_resolve(host, port, true, &ss, &len) < 0) {
    errno = EINVAL;
    return RILL_EINVAL;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM, 0);
  if (fd < 0)
    return RILL_ESYS;
  int one = 1;
  if (sock_setup(fd) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, TCP_BACKLOG) < 0)
    goto fail;
  if (port_out != NULL) {
    struct sockaddr_storage bound;
    socklen_t blen = sizeof(bound);
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) < 0)
      goto fail;
    *port_out = bound.ss_family == AF_INET6
                    ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                    : ntohs(((struct sockaddr_in *)&bound)->sin_port);
  }
  return fd;
fail:;
  int saved = errno;
  close(fd);
  errno = saved;
  return RILL_ESYS;
}

/* ---- accept ---------------------------------------------------------------*/

/* One accept.  1: emitted a connection; 0: none waiting; -1: ended. */
static int accept_once(struct rill__op *op) {
  const struct rill__fd_args *a = op->args;
  struct rill__fd_state *st = op->state;
  int fd;
  for (;;) {
    fd = accept(a->fd, NULL, NULL);
    if (fd >= 0)
      break;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return 0;
    rill__fd_fail_sys(op, errno, "accepting on");
    return -1;
  }
  if (sock_setup(fd) < 0) {
    int e = errno;
    close(fd);
    rill__fd_fail_sys(op, e, "setting up a connection accepted on");
    return -1;
  }
  rill_value_t v;
  if (conn_value(fd, &v) < 0) {
    rill__fd_release(op);
    rill__op_fail(op, RILL_ENOMEM, "cannot allocate a connection");
    return -1;
  }
  if (rill__op_deliver(op, v) && st->demand != RILL_UNBOUNDED)
    st->demand--;
  return rill__op_done(op) ? -1 : 1;
}

static const struct rill__op_ops accept_ops = {
    .name = "tcp_accept",
    .source = true,
    .args_size = sizeof(struct rill__fd_args),
    .state_size = sizeof(struct rill__fd_state),
    .init = rill__fd_init,
    .on_subscribe = rill__fd_on_subscribe,
    .on_request = rill__fd_on_request,
    .on_cancel = rill__fd_on_cancel,
    .destroy = rill__fd_destroy,
    .args_release = rill__fd_args_release,
};

rill_observable_t *rill_tcp_accept(rill_sched_t *s, int listen_fd,
                                   unsigned flags) {
  if (s == NULL || listen_fd < 0 || (flags & ~(unsigned)RILL_FD_CLOSE) != 0) {
    if (listen_fd >= 0 && (flags & RILL_FD_CLOSE))
      close(listen_fd); /* ownership passes at the call, also on failure */
    errno = EINVAL;
    return NULL;
  }
  struct rill__fd_args args = {.sched = s,
                               .fd = listen_fd,
                               .flags = flags,
                               .per_wakeup = TCP_ACCEPTS_PER_WAKEUP,
                               .once = accept_once};
  return rill__op_create(NULL, &accept_ops, &args);
}

/* ---- connect --------------------------------------------------------------*/

struct connect_args {
  rill_sched_t *sched;
  struct sockaddr_storage addr;
  socklen_t addr_len;
};

struct connect_state {
  rill_sched_io_t *io;
  struct rill__outbox out;
  int fd; /* the socket until it is emitted, else -1 */
};

static void connect_close(struct connect_state *st) {
  rill_sched_io_free(st->io);
  st->io = NULL;
  if (st->fd >= 0)
    close(st->fd);
  st->fd = -1;
}

/* "tcp_connect: connecting to 127.0.0.1 port 9 failed: Connection
 * refused": the address in the user's terms, whatever step failed. */
static void connect_fail_sys(struct rill__op *op, int sys_errno,
                             const char *doing) {
  const struct connect_args *a = op->args;
  struct connect_state *st = op->state;
  char host[INET6_ADDRSTRLEN] = "?";
  int port;
  if (a->addr.ss_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  } else {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&a->addr;
    inet_ntop(AF_INET, &in4->sin_addr, host, sizeof(host));
    port = ntohs(in4->sin_port);
  }
  rill_error_t err;
  rill__error_sys(&err, op->ops->name, sys_errno, "%s %s port %d failed",
                  doing, host, port);
  connect_close(st);
  rill__op_error(op, &err);
}

/* Connected: hand the socket to a connection value and offer it. */
static void connect_done(struct rill__op *op) {
  struct connect_state *st = op->state;
  int fd = st->fd;
  st->fd = -1;
  connect_close(st);
  rill_value_t v;
  if (conn_value(fd, &v) < 0) {
    rill__op_fail(op, RILL_ENOMEM, "cannot allocate a connection");
    return;
  }
  rill__outbox_offer(op, &st->out, v);
  rill__outbox_complete(op, &st->out);
}

static void connect_writable(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  struct rill__op *op = arg;
  struct connect_state *st = op->state;
  if (rill__op_done(op) || st->fd < 0)
    return;
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  if (getsockopt(st->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
    soerr = errno;
  if (soerr != 0) {
    connect_fail_sys(op, soerr, "connecting to");
    return;
  }
  connect_done(op);
}

static int connect_init(struct rill__op *op) {
  struct connect_state *st = op->state;
  st->fd = -1;
  st->out.policy = RILL_OVERFLOW_LATEST;
  return 0;
}

static void connect_on_subscribe(struct rill__op *op) {
  const struct connect_args *a = op->args;
  struct connect_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  st->fd = socket(a->addr.ss_family, SOCK_STREAM, 0);
  if (st->fd < 0) {
    connect_fail_sys(op, errno, "opening a socket for");
    return;
  }
  if (sock_setup(st->fd) < 0) {
    connect_fail_sys(op, errno, "setting up a socket for");
    return;
  }
  int rc;
  do
    rc = connect(st->fd, (const struct sockaddr *)&a->addr, a->addr_len);
  while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    connect_done(op);
    return;
  }
  if (errno != EINPROGRESS) {
    connect_fail_sys(op, errno, "connecting to");
    return;
  }
  st->io = rill_sched_io_new(a->sched, st->fd, connect_writable, op);
  if (st->io == NULL) {
    if (errno == ENOTSUP) {
      connect_close(st);
      rill__op_fail(op, RILL_ENOTSUP, "the scheduler has no I/O");
    } else {
      connect_close(st);
      rill__op_fail(op, RILL_ENOMEM, "cannot allocate a watcher");
    }
    return;
  }
  rill_sched_io_set(st->io, RILL_IO_WRITE);
}

static void connect_on_request(struct rill__op *op, int64_t n) {
  struct connect_state *st = op->state;
  rill__outbox_request(op, &st->out, n);
}

static void connect_on_cancel(struct rill__op *op) {
  connect_close(op->state);
}

static void connect_destroy(struct rill__op *op) {
  struct connect_state *st = op->state;
  connect_close(st);
  rill__outbox_clear(&st->out);
}

static const struct rill__op_ops connect_ops = {
    .name = "tcp_connect",
    .source = true,
    .args_size = sizeof(struct connect_args),
    .state_size = sizeof(struct connect_state),
    .init = connect_init,
    .on_subscribe = connect_on_subscribe,
    .on_request = connect_on_request,
    .on_cancel = connect_on_cancel,
    .destroy = connect_destroy,
};

rill_observable_t *rill_tcp_connect(rill_sched_t *s, const char *host,
                                    int port) {
  struct connect_args args;
  memset(&args, 0, sizeof(args));
  args.sched = s;
  if (s == NULL || port <= 0 ||
      tcp_resolve(host, port, false, &args.addr, &args.addr_len) < 0) {
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(NULL, &connect_ops, &args);
}
