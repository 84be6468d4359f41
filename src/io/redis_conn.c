/* SPDX-License-Identifier: MIT */
/* rill: one resilient hiredis connection for the Redis connector (see
 * redis_conn.h for how a hiredis context ends, which this relies on).
 *
 * A conn owns at most one link (one redisAsyncContext) at a time.  hiredis'
 * event hooks (addRead, delRead, addWrite, delWrite, cleanup) drive one
 * rill fd watcher per link, so replies arrive inside rill's dispatch guard
 * like every other I/O callback (hiredis' libev adapter does the same with
 * a bare ev_io, outside rill's accounting).
 * Reconnects: a link that dies (the cleanup hook, not caused by us) or that
 * the owner drops counts as a failed attempt; the next attempt waits a
 * backoff: retry_ms doubling up to retry_max_ms, with "equal jitter" (half
 * the delay fixed, half random) so that workers do not reconnect in step.
 * A reply that is not an error resets the count.  After `retries`
 * consecutive failures the conn gives up: failed().
 * Reply deadline: while replies are awaited, a timer checks that one came
 * within reply_timeout_ms (+ slack_ms, a read's BLOCK); the timer is
 * re-armed from its own callback (libev's "be smart about timeouts"), so a
 * reply costs no timer call.  A missed deadline drops the link (a
 * half-open TCP connection never reports an error by itself).
 * SIGPIPE: hiredis 0.14 writes with write(), so a peer that went away
 * would kill the process with SIGPIPE.  Around hiredis' writes SIGPIPE is
 * blocked for this thread, and one that it raised is taken back before
 * the mask is restored (libpq does the same); the write fails with EPIPE
 * and the link dies as for any lost connection.  The application need not
 * ignore SIGPIPE. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/redis_conn.h"

#define REDIS_DEFAULT_RETRIES 8
#define REDIS_DEFAULT_RETRY_MS 100.0
#define REDIS_DEFAULT_RETRY_MAX_MS 5000.0
#define REDIS_DEFAULT_REPLY_TIMEOUT_MS 10000.0
#define REDIS_DEFAULT_PORT 6379

struct rill__redis_link {
  redisAsyncContext *ac;
  rill_sched_io_t *io;
  struct rill__redis_conn *conn; /* NULL once detached */
  int events;
  bool dying; /* hiredis is freeing ac: never touch it again */
  bool in_io; /* link_io is on the stack: it frees the link */
};

/* ---- configuration -------------------------------------------------------*/

char *rill__redis_strdup(const char *s) {
  if (s == NULL)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = rill__malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

static char *strndup_rill(const char *s, size_t n) {
  char *d = rill__malloc(n + 1);
  if (d != NULL) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int parse_port(const char *s, int *port) {
  char *end;
  errno = 0;
  long p = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || p < 1 || p > 65535)
    return RILL_EINVAL;
  *port = (int)p;
  return 0;
}

/* "unix:path", "/path", "host:port", "[v6]:port", "host" (port 6379). */
static int parse_address(struct rill__redis_cfg *cfg, const char *a) {
  if (a == NULL)
    a = "127.0.0.1:6379";
  if (*a == '\0')
    return RILL_EINVAL;
  if (strncmp(a, "unix:", 5) == 0 || a[0] == '/') {
    const char *p = a[0] == '/' ? a : a + 5;
    if (*p == '\0')
      return RILL_EINVAL;
    cfg->path = rill__redis_strdup(p);
    return cfg->path ? 0 : RILL_ENOMEM;
  }
  const char *host = a, *port = NULL;
  size_t hlen;
  if (a[0] == '[') {
    const char *close = strchr(a, ']');
    if (close == NULL || close == a + 1 ||
        (close[1] != '\0' && close[1] != ':'))
      return RILL_EINVAL;
    host = a + 1;
    hlen = (size_t)(close - host);
    port = close[1] == ':' ? close + 2 : NULL;
  } else {
    const char *colon = strrchr(a, ':');
    if (colon != NULL && strchr(a, ':') != colon)
      return RILL_EINVAL; /* a bare IPv6 address: use [addr]:port */
    hlen = colon ? (size_t)(colon - a) : strlen(a);
    port = colon ? colon + 1 : NULL;
    if (hlen == 0)
      return RILL_EINVAL;
  }
  cfg->port = REDIS_DEFAULT_PORT;
  if (port != NULL && parse_port(port, &cfg->port) < 0)
    return RILL_EINVAL;
  cfg->host = strndup_rill(host, hlen);
  return cfg->host ? 0 : RILL_ENOMEM;
}

int rill__redis_cfg_init(struct rill__redis_cfg *cfg,
                         const rill_redis_conn_t *c) {
  static const rill_redis_conn_t defaults;
  if (c == NULL)
    c = &defaults;
  memset(cfg, 0, sizeof(*cfg));
  if (c->retry_ms < 0 || c->retry_max_ms < 0 || c->reply_timeout_ms < 0 ||
      isnan(c->retry_ms) || isnan(c->retry_max_ms) ||
      isnan(c->reply_timeout_ms) || isinf(c->retry_ms))
    return RILL_EINVAL;
  int rc = parse_address(cfg, c->address);
  if (rc == 0) {
    cfg->display =
        rill__redis_strdup(c->address ? c->address : "127.0.0.1:6379");
    if (cfg->display == NULL)
      rc = RILL_ENOMEM;
  }
  if (rc == 0 && c->password != NULL) {
    cfg->password = rill__redis_strdup(c->password);
    if (cfg->password == NULL)
      rc = RILL_ENOMEM;
  }
  if (rc == 0 && c->username != NULL) {
    cfg->username = rill__redis_strdup(c->username);
    if (cfg->username == NULL)
      rc = RILL_ENOMEM;
  }
  if (rc < 0) {
    rill__redis_cfg_free(cfg);
    return rc;
  }
  cfg->retries = c->retries == 0 ? REDIS_DEFAULT_RETRIES : c->retries;
  cfg->retry_ms = c->retry_ms > 0 ? c->retry_ms : REDIS_DEFAULT_RETRY_MS;
  cfg->retry_max_ms =
      c->retry_max_ms > 0 ? c->retry_max_ms : REDIS_DEFAULT_RETRY_MAX_MS;
  if (cfg->retry_max_ms < cfg->retry_ms)
    cfg->retry_max_ms = cfg->retry_ms;
  cfg->reply_timeout_ms = c->reply_timeout_ms > 0
                              ? c->reply_timeout_ms
                              : REDIS_DEFAULT_REPLY_TIMEOUT_MS;
  return 0;
}

void rill__redis_cfg_free(struct rill__redis_cfg *cfg) {
  rill__free(cfg->host);
  rill__free(cfg->path);
  rill__free(cfg->username);
  rill__free(cfg->password);
  rill__free(cfg->display);
  memset(cfg, 0, sizeof(*cfg));
}

/* ---- errors
 * ----------------------------------------------------------------*/

void rill__redis_error_reply(rill_error_t *err, const char *stage,
                             const redisReply *reply) {
  if (reply != NULL && reply->type == REDIS_REPLY_ERROR && reply->str != NULL)
    rill__error_init(err, RILL_EREDIS, 0, stage, "%s: %.*s", stage,
                     (int)reply->len, reply->str);
  else
    rill__error_init(err, RILL_EREDIS, 0, stage,
                     "%s: unexpected reply from the server", stage);
}

bool rill__redis_error_is(const redisReply *reply, const char *word) {
  size_t n = strlen(word);
  return reply != NULL && reply->type == REDIS_REPLY_ERROR &&
         reply->str != NULL && reply->len >= n &&
         strncmp(reply->str, word, n) == 0 &&
         (reply->len == n || reply->str[n] == ' ');
}

bool rill__redis_error_transient(const redisReply *reply) {
  static const char *const words[] = {"LOADING", "BUSY", "TRYAGAIN",
                                      "MASTERDOWN", "CLUSTERDOWN"};
  for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
    if (rill__redis_error_is(reply, words[i]))
      return true;
  return false;
}

/* ---- hiredis' event hooks on a rill fd watcher ----------------------------*/

static void link_set(struct rill__redis_link *l, int events) {
  l->events = events;
  if (l->io != NULL)
    rill_sched_io_set(l->io, events);
}
static void hook_add_read(void *p) {
  struct rill__redis_link *l = p;
  link_set(l, l->events | RILL_IO_READ);
}
static void hook_del_read(void *p) {
  struct rill__redis_link *l = p;
  link_set(l, l->events & ~RILL_IO_READ);
}
static void hook_add_write(void *p) {
  struct rill__redis_link *l = p;
  link_set(l, l->events | RILL_IO_WRITE);
}
static void hook_del_write(void *p) {
  struct rill__redis_link *l = p;
  link_set(l, l->events & ~RILL_IO_WRITE);
}

static void conn_link_died(struct rill__redis_conn *c);

/* hiredis is freeing the context (a failure, or our redisAsyncFree): the
 * one place a link's end is seen.  ac is still valid here, not after. */
static void hook_cleanup(void *p) {
  struct rill__redis_link *l = p;
  if (l->dying)
    return;
  l->dying = true;
  struct rill__redis_conn *c = l->conn;
  l->conn = NULL;
  if (c != NULL && c->last_code == 0) {
    /* Not described by the connect callback: say what hiredis saw. */
    int e = errno;
    int err = l->ac->err;
    c->last_code = err == REDIS_ERR_OTHER ? RILL_EREDIS : RILL_ESYS;
    c->last_errno = err == REDIS_ERR_IO         ? (e != 0 ? e : EIO)
                    : err == REDIS_ERR_PROTOCOL ? EPROTO
                                                : ECONNRESET;
    snprintf(c->last_msg, sizeof(c->last_msg), "connection to %s: %s",
             c->cfg->display, err != 0 ? l->ac->errstr : "closed");
  }
  /* Nothing of hiredis reaches the link again: a late reply callback
   * finds no link, a second cleanup (hiredis 1.x frees in two steps) or a
   * hook finds none. */
  l->ac->data = NULL;
  l->ac->ev.data = NULL;
  l->ac->ev.addRead = l->ac->ev.delRead = NULL;
  l->ac->ev.addWrite = l->ac->ev.delWrite = NULL;
  l->ac->ev.cleanup = NULL;
  rill_sched_io_free(l->io);
  l->io = NULL;
  if (!l->in_io)
    rill__free(l);
  if (c != NULL) {
    c->link = NULL;
    conn_link_died(c);
  }
}

/* redisAsyncHandleWrite with SIGPIPE blocked, and discarded if the write
 * raised it (see the top comment). */
static void write_nosigpipe(redisAsyncContext *ac) {
  sigset_t pipe_set, old, now;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  if (pthread_sigmask(SIG_BLOCK, &pipe_set, &old) != 0) {
    redisAsyncHandleWrite(ac);
    return;
  }
  /* One already pending (blocked by the application) is not ours. */
  bool was_pending = sigismember(&old, SIGPIPE) && sigpending(&now) == 0 &&
                     sigismember(&now, SIGPIPE);
  redisAsyncHandleWrite(ac);
  if (!was_pending && sigpending(&now) == 0 && sigismember(&now, SIGPIPE)) {
    struct timespec zero = {0, 0};
    int saved = errno;
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
      ;
    errno = saved;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void link_io(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  struct rill__redis_link *l = arg;
  redisAsyncContext *ac = l->ac;
  l->in_io = true;
  if (events & RILL_IO_READ)
    redisAsyncHandleRead(ac);
  if (!l->dying && (events & RILL_IO_WRITE))
    write_nosigpipe(ac);
  l->in_io = false;
  if (l->dying)
    rill__free(l);
}

/* Only records why a connect failed (errno is fresh here); the cleanup
 * hook that follows handles the link's end.  hiredis 0.14 calls this
 * outside its callback guard, so it must not free anything. */
static void on_connect(const redisAsyncContext *ac, int status) {
  struct rill__redis_link *l = ac->data;
  if (status == REDIS_OK || l == NULL || l->conn == NULL)
    return;
  struct rill__redis_conn *c = l->conn;
  c->last_code = RILL_ESYS;
  c->last_errno = errno != 0 ? errno : EIO;
  snprintf(c->last_msg, sizeof(c->last_msg), "connecting to %s: %s",
           c->cfg->display, ac->errstr);
}

/* Detach the link and have hiredis free it (now, or when the reply
 * callback on the stack returns).  Nothing of it reaches the conn again. */
static void link_close(struct rill__redis_conn *c) {
  struct rill__redis_link *l = c->link;
  c->link = NULL;
  c->outstanding = 0;
  if (l == NULL)
    return;
  l->conn = NULL;
  if (!l->dying)
    redisAsyncFree(l->ac);
}

/* ---- attempts and backoff ------------------------------------------------*/

static void conn_give_up(struct rill__redis_conn *c) {
  rill_error_t err;
  const char *what = c->last_msg[0] ? c->last_msg : "connection failed";
  if (c->last_code == RILL_ESYS)
    rill__error_init(&err, RILL_ESYS, c->last_errno, c->stage,
                     "%s: %d attempts: %s", c->stage, c->failures, what);
  else
    rill__error_init(&err, c->last_code ? c->last_code : RILL_EREDIS, 0,
                     c->stage, "%s: %d attempts: %s", c->stage, c->failures,
                     what);
  rill__redis_conn_close(c);
  c->ops->failed(c->owner, &err);
}

/* One more failed attempt: retry after the backoff, or give up. */
static void conn_attempt_failed(struct rill__redis_conn *c) {
  if (c->closed)
    return;
  c->failures++;
  if (c->cfg->retries >= 0 && c->failures > c->cfg->retries) {
    conn_give_up(c);
    return;
  }
  double base = c->backoff;
  c->backoff =
      base * 2 < c->cfg->retry_max_ms ? base * 2 : c->cfg->retry_max_ms;
  double u = rill__rng_uniform(&c->rng);
  rill_sched_timer_start(c->retry_timer, base / 2 + u * (base / 2));
}

static void conn_link_died(struct rill__redis_conn *c) {
  c->outstanding = 0;
  rill_sched_timer_stop(c->reply_timer);
  if (c->closed)
    return;
  c->ops->lost(c->owner);
  conn_attempt_failed(c);
}

static void auth_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  const redisReply *reply = r;
  struct rill__redis_conn *c = rill__redis_conn_of_reply(ac, reply);
  if (c == NULL || reply->type != REDIS_REPLY_ERROR)
    return;
  if (rill__redis_error_transient(reply)) {
    rill__redis_conn_drop(c, RILL_EREDIS, reply->str);
    return;
  }
  rill_error_t err;
  rill__redis_error_reply(&err, c->stage, reply);
  rill__redis_conn_close(c);
  c->ops->failed(c->owner, &err);
}

static void conn_fatal(struct rill__redis_conn *c, int code, int sys_errno,
                       const char *what) {
  rill_error_t err;
  rill__error_init(&err, code, sys_errno, c->stage, "%s: %s", c->stage, what);
  rill__redis_conn_close(c);
  c->ops->failed(c->owner, &err);
}

void rill__redis_conn_open(struct rill__redis_conn *c) {
  if (c->closed || c->link != NULL)
    return;
  const struct rill__redis_cfg *cfg = c->cfg;
  errno = 0;
  redisAsyncContext *ac = cfg->path ? redisAsyncConnectUnix(cfg->path)
                                    : redisAsyncConnect(cfg->host, cfg->port);
  if (ac == NULL) {
    conn_fatal(c, RILL_ENOMEM, 0, "cannot allocate a hiredis context");
    return;
  }
  if (ac->err != 0) {
    c->last_code = RILL_ESYS;
    c->last_errno = errno != 0 ? errno : EIO;
    snprintf(c->last_msg, sizeof(c->last_msg), "connecting to %s: %s",
             cfg->display, ac->errstr);
    redisAsyncFree(ac);
    conn_attempt_failed(c);
    return;
  }
  struct rill__redis_link *l = rill__calloc(1, sizeof(*l));
  rill_sched_io_t *io =
      l ? rill_sched_io_new(c->sched, ac->c.fd, link_io, l) : NULL;
  if (io == NULL) {
    int e = l ? errno : ENOMEM;
    rill__free(l);
    redisAsyncFree(ac);
    if (e == ENOTSUP)
      conn_fatal(c, RILL_ENOTSUP, 0, "the scheduler has no I/O");
    else
      conn_fatal(c, RILL_ENOMEM, 0, "cannot allocate a watcher");
    return;
  }
  l->ac = ac;
  l->io = io;
  l->conn = c;
  ac->data = l;
  ac->ev.data = l;
  ac->ev.addRead = hook_add_read;
  ac->ev.delRead = hook_del_read;
  ac->ev.addWrite = hook_add_write;
  ac->ev.delWrite = hook_del_write;
  ac->ev.cleanup = hook_cleanup;
  c->link = l;
  c->outstanding = 0;
  c->last_code = 0;
  c->last_errno = 0;
  c->last_msg[0] = '\0';
  redisAsyncSetConnectCallback(ac, on_connect); /* arms the write watcher */
  if (cfg->password != NULL) {
    const char *argv[3] = {"AUTH", cfg->username, cfg->password};
    if (cfg->username == NULL) {
      argv[1] = cfg->password;
      rill__redis_conn_send(c, auth_reply, 2, argv, NULL);
    } else {
      rill__redis_conn_send(c, auth_reply, 3, argv, NULL);
    }
  }
  if (c->link == l)
    c->ops->connected(c->owner);
}

static void retry_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  rill__redis_conn_open(arg);
}

static void reply_deadline(rill_sched_timer_t *t, void *arg) {
  struct rill__redis_conn *c = arg;
  if (c->closed || c->link == NULL || c->outstanding == 0)
    return; /* the next command re-arms */
  double limit = c->cfg->reply_timeout_ms + c->slack_ms;
  double idle = rill__sched_now(c->sched) - c->last_progress;
  if (idle < limit) {
    rill_sched_timer_start(t, limit - idle);
    return;
  }
  char msg[64];
  snprintf(msg, sizeof(msg), "no reply from %s within %.0f ms", c->cfg->display,
           limit);
  rill__redis_conn_drop(c, RILL_ETIMEDOUT, msg);
}

/* ---- the interface ------------------------------------------------------*/

int rill__redis_conn_init(struct rill__redis_conn *c, rill_sched_t *s,
                          const struct rill__redis_cfg *cfg, const char *stage,
                          const struct rill__redis_conn_ops *ops, void *owner) {
  memset(c, 0, sizeof(*c));
  c->sched = s;
  c->cfg = cfg;
  c->stage = stage;
  c->ops = ops;
  c->owner = owner;
  c->backoff = cfg->retry_ms;
  c->rng = (uint64_t)(uintptr_t)c ^ (uint64_t)(rill_sched_now(s) * 1000.0);
  c->retry_timer = rill_sched_timer_new(s, retry_fired, c);
  c->reply_timer = rill_sched_timer_new(s, reply_deadline, c);
  if (c->retry_timer == NULL || c->reply_timer == NULL) {
    rill__redis_conn_free(c);
    return RILL_ENOMEM;
  }
  return 0;
}

bool rill__redis_conn_ready(const struct rill__redis_conn *c) {
  return !c->closed && c->link != NULL && !c->link->dying;
}

int rill__redis_conn_send(struct rill__redis_conn *c, redisCallbackFn *fn,
                          int argc, const char **argv, const size_t *lens) {
  if (!rill__redis_conn_ready(c))
    return -1;
  if (redisAsyncCommandArgv(c->link->ac, fn, NULL, argc, argv, lens) !=
      REDIS_OK)
    return -1;
  if (c->outstanding++ == 0 && !isinf(c->cfg->reply_timeout_ms)) {
    c->last_progress = rill__sched_now(c->sched);
    if (!rill_sched_timer_active(c->reply_timer))
      rill_sched_timer_start(c->reply_timer,
                             c->cfg->reply_timeout_ms + c->slack_ms);
  }
  return 0;
}

struct rill__redis_conn *rill__redis_conn_of_reply(redisAsyncContext *ac,
                                                   const redisReply *reply) {
  struct rill__redis_link *l = ac->data;
  if (reply == NULL || l == NULL || l->dying || l->conn == NULL)
    return NULL;
  struct rill__redis_conn *c = l->conn;
  if (c->outstanding > 0)
    c->outstanding--;
  c->last_progress = rill__sched_now(c->sched);
  if (reply->type != REDIS_REPLY_ERROR && c->failures != 0) {
    c->failures = 0;
    c->backoff = c->cfg->retry_ms;
  }
  return c;
}

void rill__redis_conn_drop(struct rill__redis_conn *c, int code,
                           const char *msg) {
  if (c->closed)
    return;
  c->last_code = code;
  c->last_errno = 0;
  snprintf(c->last_msg, sizeof(c->last_msg), "%s", msg ? msg : "");
  link_close(c);
  conn_link_died(c);
}

void rill__redis_conn_close(struct rill__redis_conn *c) {
  c->closed = true;
  rill_sched_timer_stop(c->retry_timer);
  rill_sched_timer_stop(c->reply_timer);
  link_close(c);
}

void rill__redis_conn_free(struct rill__redis_conn *c) {
  rill__redis_conn_close(c);
  rill_sched_timer_free(c->retry_timer);
  rill_sched_timer_free(c->reply_timer);
  c->retry_timer = NULL;
  c->reply_timer = NULL;
}
