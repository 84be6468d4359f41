/* SPDX-License-Identifier: MIT */
/* rill tests: the Redis Streams connector (rill/redis.h) against a real
 * redis-server.
 *
 * Each test case (a Check TCase) starts its own redis-server in a private
 * temporary directory, listening on a unix socket only (--port 0, no
 * persistence unless the case needs it), waits for it with PING, and
 * stops it at the end; each test begins with FLUSHALL.  The server is
 * found on PATH (or $RILL_REDIS_SERVER).  Without it the tests say so and
 * pass, unless CI is set: then they fail (CI must not skip silently).
 * The tests inspect and feed the server with hiredis' synchronous API.
 * Every pipeline runs on its own ev_loop_new() loop with a watchdog, and
 * relies on one property: once a pipeline has ended nothing rill made is
 * active, so ev_run() returns by itself. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rill/ev.h>
#include <rill/redis.h>

#include "check_rill.h"
#include "testlib.h"

#ifndef RILL_TEST_HIREDIS

/* ---- a build without hiredis: the stubs ----------------------------------*/

START_TEST(test_redis_unavailable) {
  const char *ci = getenv("CI");
  ck_assert_msg(ci == NULL || *ci == '\0',
                "CI is set, but rill was built without hiredis: the Redis "
                "connector is untested (install libhiredis-dev)");
  fprintf(stderr, "redis suite: skipped: rill was built without hiredis "
                  "(install libhiredis-dev and re-run configure)\n");
  ck_assert(!rill_redis_available());
  errno = 0;
  ck_assert_ptr_null(rill_redis_source(NULL, NULL, "s", "g", "c", NULL));
  ck_assert_int_eq(errno, ENOTSUP);
  rill_value_t v;
  ck_assert_int_eq(rill_redis_msg_new(0, NULL, NULL, NULL, &v), RILL_ENOTSUP);
  ck_assert_int_eq(
      rill_redis_sink(NULL, NULL, NULL, "s", NULL, NULL, NULL, NULL),
      RILL_ENOTSUP);
}
END_TEST

Suite *redis_suite(void) {
  Suite *s = suite_create("redis");
  TCase *tc = tcase_create("unavailable");
  tcase_add_test(tc, test_redis_unavailable);
  suite_add_tcase(s, tc);
  return s;
}

#else /* RILL_TEST_HIREDIS */

#include <hiredis/hiredis.h>

#define FX_LIMIT_S 20.0 /* watchdog per loop run */

/* ---- the server ----------------------------------------------------------*/

typedef struct srv {
  pid_t pid;
  int port; /* 0: unix socket only */
  bool appendonly;
  char dir[64];
  char sock[96];
} srv_t;

static srv_t g_srv;      /* the test case's server */
static bool g_no_server; /* redis-server is not installed */

static const char *server_path(void) {
  static char found[512];
  const char *env = getenv("RILL_REDIS_SERVER");
  if (env != NULL && *env != '\0')
    return access(env, X_OK) == 0 ? env : NULL;
  const char *path = getenv("PATH");
  if (path == NULL)
    path = "/usr/bin:/bin";
  const char *p = path;
  while (*p != '\0') {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > 0 && n < sizeof(found) - 16) {
      snprintf(found, sizeof(found), "%.*s/redis-server", (int)n, p);
      if (access(found, X_OK) == 0)
        return found;
    }
    p += n;
    if (*p == ':')
      p++;
  }
  if (access("/usr/sbin/redis-server", X_OK) == 0)
    return "/usr/sbin/redis-server";
  return NULL;
}

static redisContext *srv_client(const srv_t *s) {
  redisContext *c = redisConnectUnix(s->sock);
  if (c != NULL && c->err != 0) {
    redisFree(c);
    return NULL;
  }
  return c;
}

/* Exec the server on the same socket and dir; wait until it answers. */
static bool srv_exec(srv_t *s) {
  const char *bin = server_path();
  if (bin == NULL)
    return false;
  pid_t pid = fork();
  if (pid < 0)
    return false;
  if (pid == 0) {
#ifdef __linux__
    /* A test that fails (or is killed by Check's timeout) before it stops
     * its server does not leave the server running. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
    char log[128];
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    FILE *f = freopen(log, "a", stdout);
    (void)f;
    dup2(STDOUT_FILENO, STDERR_FILENO);
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    execl(bin, "redis-server", "--port", port, "--bind", "127.0.0.1",
          "--unixsocket", s->sock, "--unixsocketperm", "700", "--dir", s->dir,
          "--save", "", "--appendonly", s->appendonly ? "yes" : "no",
          "--appendfsync", "always", "--daemonize", "no", "--loglevel",
          "warning", (char *)NULL);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 500; i++) { /* 5 s */
    redisContext *c = srv_client(s);
    if (c != NULL) {
      redisReply *r = redisCommand(c, "PING");
      bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
      if (r != NULL)
        freeReplyObject(r);
      redisFree(c);
      if (ok)
        return true;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s->pid = 0;
      return false;
    }
    usleep(10000);
  }
  return false;
}

static void srv_kill(srv_t *s, int sig) {
  if (s->pid <= 0)
    return;
  kill(s->pid, sig);
  int status;
  for (int i = 0; i < 300; i++) { /* 3 s, then SIGKILL */
    if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
      s->pid = 0;
      return;
    }
    usleep(10000);
  }
  kill(s->pid, SIGKILL);
  waitpid(s->pid, &status, 0);
  s->pid = 0;
}

static bool srv_start_port(srv_t *s, bool appendonly, int port) {
  memset(s, 0, sizeof(*s));
  s->appendonly = appendonly;
  s->port = port;
  snprintf(s->dir, sizeof(s->dir), "/tmp/rill-redis-XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    return false;
  snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
  return srv_exec(s);
}

static bool srv_start(srv_t *s, bool appendonly) {
  return srv_start_port(s, appendonly, 0);
}

/* A TCP port that nothing listens on now (bound, then closed). */
static int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  close(fd);
  return ntohs(sa.sin_port);
}

static void srv_stop(srv_t *s) {
  srv_kill(s, SIGTERM);
  if (s->dir[0] != '\0') {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
    if (system(cmd) != 0)
      fprintf(stderr, "redis tests: could not remove %s\n", s->dir);
    s->dir[0] = '\0';
  }
}

/* Unchecked fixture: one server per test case, made in the runner's
 * process (tests run in forked children, or in-process with CK_FORK=no). */
static void case_setup(void) {
  g_no_server = server_path() == NULL;
  if (g_no_server) {
    fprintf(stderr,
            "redis suite: redis-server not found (install the "
            "Debian package redis-server)%s\n",
            getenv("CI") ? ": FAILING, CI is set" : ": skipped");
    return;
  }
  if (!srv_start(&g_srv, false))
    fprintf(stderr, "redis suite: could not start redis-server in %s\n",
            g_srv.dir);
}

static void case_teardown(void) {
  srv_stop(&g_srv);
}

/* First line of every test: skip (or fail under CI) without a server. */
#define NEED_SERVER()                                                          \
  do {                                                                         \
    if (g_no_server) {                                                         \
      const char *ci_ = getenv("CI");                                          \
      ck_assert_msg(ci_ == NULL || *ci_ == '\0',                               \
                    "redis-server is not installed and CI is set");            \
      return;                                                                  \
    }                                                                          \
    ck_assert_msg(g_srv.pid > 0, "redis-server did not start");                \
  } while (0)

/* ---- synchronous helpers -------------------------------------------------*/

static redisContext *client(void) {
  redisContext *c = srv_client(&g_srv);
  ck_assert_msg(c != NULL, "cannot connect to %s", g_srv.sock);
  return c;
}

static redisReply *cmd(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  ck_assert_msg(r != NULL, "redis command failed: %s", c->errstr);
  return r;
}

static long long cmd_int(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER,
                "expected an integer reply (%s)",
                r && r->str ? r->str : c->errstr);
  long long v = r->integer;
  freeReplyObject(r);
  return v;
}

static void cmd_ok(redisContext *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  redisReply *r = redisvCommand(c, fmt, ap);
  va_end(ap);
  ck_assert_msg(r != NULL && r->type != REDIS_REPLY_ERROR, "command failed: %s",
                r && r->str ? r->str : c->errstr);
  freeReplyObject(r);
}

static redisContext *fresh(void) {
  redisContext *c = client();
  cmd_ok(c, "FLUSHALL");
  return c;
}

/* XADD key * i <k> p <payload> for k in [from, from+n), pipelined. */
static void produce(redisContext *c, const char *key, long from, long n) {
  for (long k = from; k < from + n; k++)
    redisAppendCommand(c, "XADD %s * i %ld p reading-%ld", key, k, k);
  for (long k = 0; k < n; k++) {
    redisReply *r;
    ck_assert_int_eq(redisGetReply(c, (void **)&r), REDIS_OK);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    freeReplyObject(r);
  }
}

static long long pending(redisContext *c, const char *key, const char *group) {
  redisReply *r = cmd(c, "XPENDING %s %s", key, group);
  ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                    r->element[0]->type == REDIS_REPLY_INTEGER,
                "XPENDING: unexpected reply (%s)", r->str ? r->str : "");
  long long n = r->element[0]->integer;
  freeReplyObject(r);
  return n;
}

static long long clients(redisContext *c) {
  redisReply *r = cmd(c, "INFO clients");
  const char *p = r->str ? strstr(r->str, "connected_clients:") : NULL;
  ck_assert_ptr_nonnull(p);
  long long n = atoll(p + strlen("connected_clients:"));
  freeReplyObject(r);
  return n;
}

/* ---- loop fixture --------------------------------------------------------*/

typedef struct fx {
  struct ev_loop *loop;
  rill_sched_t *s;
  ev_timer dog;
  bool timed_out;
} fx_t;

static void fx_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  fx_t *f = w->data;
  f->timed_out = true;
  ev_break(loop, EVBREAK_ALL);
}

static void fx_init(fx_t *f) {
  memset(f, 0, sizeof(*f));
  f->loop = ev_loop_new(EVFLAG_AUTO);
  ck_assert_ptr_nonnull(f->loop);
  f->s = rill_sched_ev_new(f->loop);
  ck_assert_ptr_nonnull(f->s);
  ev_timer_init(&f->dog, fx_dog, FX_LIMIT_S, 0.);
  f->dog.data = f;
  ev_timer_start(f->loop, &f->dog);
  ev_unref(f->loop);
}

static void fx_run(fx_t *f) {
  ev_run(f->loop, 0);
  ck_assert_msg(!f->timed_out, "the loop was still busy after %.0f s",
                FX_LIMIT_S);
}

static void fx_fini(fx_t *f) {
  ck_assert_int_eq(rill_sched_active(f->s), 0);
  ev_ref(f->loop);
  ev_timer_stop(f->loop, &f->dog);
  ck_assert_int_eq(rill_sched_free(f->s), 0);
  ev_loop_destroy(f->loop);
}

/* ---- a consumer: a subscriber recording what a source delivers -----------*/

typedef struct cons {
  rill_subscription_t *sub; /* borrowed, until the end */
  int64_t initial;          /* requested at subscription */
  int64_t refill;           /* requested after each message (0: none) */
  int64_t stop_after;       /* cancel after this many (0: never) */
  bool hold;                /* keep the messages (release later) */
  rill_values_t held;
  long n;              /* messages expected: indexes 0..n-1 ("i" field) */
  unsigned char *seen; /* deliveries per index */
  long count;
  long dups;
  long redelivered;
  long bad;
  bool stop; /* set by on_msg: cancel once the value is released */
  bool done;
  bool completed;
  bool cancelled;
  rill_error_t err;
  bool failed;
  bool released;
  struct ev_loop *loop;
  void (*on_msg)(struct cons *k, rill_value_t v); /* test hook */
  void *data;
} cons_t;

static void cons_init(cons_t *k, long n) {
  memset(k, 0, sizeof(*k));
  k->n = n;
  k->seen = calloc((size_t)(n > 0 ? n : 1), 1);
  ck_assert_ptr_nonnull(k->seen);
}

static void cons_free(cons_t *k) {
  rill_values_clear(&k->held);
  free(k->seen);
}

static void cons_cancel(cons_t *k) {
  if (!k->done) {
    k->done = true;
    k->cancelled = true;
    rill_subscription_cancel(k->sub);
  }
}

static void cons_on_subscribe(void *ctx, rill_subscription_t *s) {
  cons_t *k = ctx;
  k->sub = s;
  if (k->initial > 0)
    rill_subscription_request(s, k->initial);
}

static void cons_on_next(void *ctx, rill_value_t v) {
  cons_t *k = ctx;
  ck_assert_msg(!k->done, "on_next after the end");
  const char *id = rill_redis_msg_id(v);
  const char *i = rill_redis_msg_get(v, "i", NULL);
  if (id == NULL || i == NULL || atol(i) < 0 || atol(i) >= k->n) {
    k->bad++;
  } else {
    long x = atol(i);
    if (k->seen[x]++ != 0)
      k->dups++;
    char want[32];
    snprintf(want, sizeof(want), "reading-%ld", x);
    const char *p = rill_redis_msg_get(v, "p", NULL);
    if (p == NULL || strcmp(p, want) != 0)
      k->bad++;
  }
  if (rill_redis_msg_redelivered(v))
    k->redelivered++;
  k->count++;
  if (k->on_msg != NULL)
    k->on_msg(k, v);
  if (k->hold) {
    if (k->held.len == k->held.cap) {
      k->held.cap = k->held.cap ? 2 * k->held.cap : 16;
      k->held.items =
          realloc(k->held.items, k->held.cap * sizeof(*k->held.items));
      ck_assert_ptr_nonnull(k->held.items);
    }
    k->held.items[k->held.len++] = v;
  } else {
    rill_value_release(v);
  }
  /* Released (or kept) first, then cancelled: a message released after
   * the end would not be acked. */
  if (k->stop || (k->stop_after > 0 && k->count >= k->stop_after)) {
    cons_cancel(k);
    return;
  }
  if (k->refill > 0 && !k->done)
    rill_subscription_request(k->sub, k->refill);
}

static void cons_on_error(void *ctx, const rill_error_t *err) {
  cons_t *k = ctx;
  ck_assert_msg(!k->done, "on_error after the end");
  k->done = true;
  k->failed = true;
  k->err = *err;
}

static void cons_on_complete(void *ctx) {
  cons_t *k = ctx;
  k->done = true;
  k->completed = true;
}

static void cons_on_release(void *ctx) {
  cons_t *k = ctx;
  k->released = true;
}

static const rill_subscriber_t cons_sub = {
    .on_subscribe = cons_on_subscribe,
    .on_next = cons_on_next,
    .on_error = cons_on_error,
    .on_complete = cons_on_complete,
    .on_release = cons_on_release,
};

static rill_redis_conn_t conn_of(const srv_t *s) {
  rill_redis_conn_t c = {.address = s->sock};
  return c;
}

static void cons_start(cons_t *k, fx_t *f, const char *key, const char *group,
                       const char *name, const rill_redis_source_opts_t *opts) {
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_observable_t *src = rill_redis_source(f->s, &c, key, group, name, opts);
  ck_assert_ptr_nonnull(src);
  k->loop = f->loop;
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, k, NULL), 0);
  rill_observable_free(src);
}

/* ---- tests: the source ---------------------------------------------------*/

/* Ten entries, read, checked and acked: nothing stays pending. */
START_TEST(test_source_basic) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 10);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 10);
  k.initial = RILL_UNBOUNDED;
  k.stop_after = 10;
  rill_redis_source_opts_t o = {.create_group = true};
  cons_start(&k, &f, "s", "g", "c1", &o);
  fx_run(&f);
  ck_assert_int_eq(k.count, 10);
  ck_assert_int_eq(k.bad, 0);
  ck_assert_int_eq(k.dups, 0);
  ck_assert(k.cancelled && k.released);
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  cons_free(&k);
  redisFree(rc);
}
END_TEST

/* A one-shot libev timer running fn(arg) after `after` seconds. */
typedef struct later {
  ev_timer w;
  void (*fn)(void *arg);
  void *arg;
} later_t;

static void later_fired(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  later_t *l = (later_t *)w;
  l->fn(l->arg);
}

static void later_start(later_t *l, struct ev_loop *loop, double after,
                        void (*fn)(void *), void *arg) {
  ev_timer_init(&l->w, later_fired, after, 0.);
  l->fn = fn;
  l->arg = arg;
  ev_timer_start(loop, &l->w);
}

/* request(5): exactly 5 entries become pending, however long we wait and
 * however many wait in the stream; then, per `release_first`, the values
 * are released before the cancel (acked: nothing pending), or 2 before
 * and 3 after it (the 2 acked, sent while the ack connection lingers; the
 * 3 released during that linger not acked: they stay pending for a later
 * claim). */
typedef struct demand_case {
  cons_t k;
  redisContext *rc;
  long long pending_seen;
  bool release_first;
} demand_case_t;

static void demand_check(void *arg) {
  demand_case_t *d = arg;
  d->pending_seen = pending(d->rc, "s", "g");
  if (d->release_first) {
    rill_values_clear(&d->k.held);
    cons_cancel(&d->k);
  } else {
    rill_value_release(d->k.held.items[0]);
    rill_value_release(d->k.held.items[1]);
    d->k.held.items[0] = d->k.held.items[1] = rill_value_int(0);
    cons_cancel(&d->k);
    rill_values_clear(&d->k.held);
  }
}

static void run_demand_case(bool release_first) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 100);
  fx_t f;
  fx_init(&f);
  demand_case_t d = {.rc = rc, .release_first = release_first};
  cons_init(&d.k, 100);
  d.k.initial = 5;
  d.k.hold = true;
  rill_redis_source_opts_t o = {.create_group = true, .block_ms = 50};
  cons_start(&d.k, &f, "s", "g", "c1", &o);
  later_t l;
  later_start(&l, f.loop, 0.3, demand_check, &d); /* 6 BLOCK periods */
  fx_run(&f);
  ck_assert_int_eq(d.k.count, 5);
  ck_assert_int_eq(d.pending_seen, 5);
  ck_assert_int_eq(cmd_int(rc, "XLEN s"), 100);
  ck_assert_int_eq(pending(rc, "s", "g"), release_first ? 0 : 3);
  fx_fini(&f);
  cons_free(&d.k);
  redisFree(rc);
}

START_TEST(test_source_demand_count) {
  run_demand_case(true);
}
END_TEST

START_TEST(test_source_release_after_cancel_not_acked) {
  run_demand_case(false);
}
END_TEST

/* A slow consumer (one message per ms, 10 requested at a time) reads a
 * long stream: the pending list never exceeds what was requested, and
 * what was not read stays in Redis. */
typedef struct slow {
  cons_t k;
  redisContext *rc;
  ev_timer tick;
  long processed;
  long goal;
  long long max_pending;
  size_t next; /* the next held value to process */
} slow_t;

static void slow_tick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  slow_t *sl = w->data;
  if (sl->next < sl->k.held.len) {
    rill_value_release(sl->k.held.items[sl->next]);
    sl->k.held.items[sl->next++] = rill_value_int(0);
    sl->processed++;
    long long p = pending(sl->rc, "s", "g");
    if (p > sl->max_pending)
      sl->max_pending = p;
    if (sl->processed == sl->goal) {
      ev_timer_stop(loop, w);
      cons_cancel(&sl->k);
      return;
    }
    rill_subscription_request(sl->k.sub, 1);
  }
}

START_TEST(test_source_slow_consumer_bounded) {
  NEED_SERVER();
  redisContext *rc = fresh();
  long n = (long)tl_scaled_min(100000, 2000);
  produce(rc, "s", 0, n);
  fx_t f;
  fx_init(&f);
  slow_t sl = {.rc = rc, .goal = 150};
  cons_init(&sl.k, n);
  sl.k.initial = 10;
  sl.k.hold = true;
  rill_redis_source_opts_t o = {.create_group = true, .batch = 4};
  cons_start(&sl.k, &f, "s", "g", "c1", &o);
  ev_timer_init(&sl.tick, slow_tick, 0.001, 0.001);
  sl.tick.data = &sl;
  ev_timer_start(f.loop, &sl.tick);
  fx_run(&f);
  size_t unprocessed = sl.k.held.len - sl.next;
  ck_assert_int_eq(sl.processed, 150);
  ck_assert_int_le(sl.k.count, 150 + 10);
  /* 10 requested, plus at most one ack still on its way */
  ck_assert_int_le(sl.max_pending, 11);
  ck_assert_int_eq(cmd_int(rc, "XLEN s"), n);
  /* After the end: the ones delivered but not processed stay pending,
   * and those of a read in flight at the cancel (its reply was dropped
   * with the connection): within the 10 requested. */
  rill_values_clear(&sl.k.held);
  long long left = pending(rc, "s", "g");
  ck_assert_int_ge(left, (long long)unprocessed);
  ck_assert_int_le(left, 10);
  fx_fini(&f);
  cons_free(&sl.k);
  redisFree(rc);
}
END_TEST

/* Three consumers of one group share a long stream: every entry is
 * delivered exactly once and acked (claims off: none taken twice while
 * all live). */
typedef struct trio {
  cons_t k[3];
  long total;
  long n;
} trio_t;

static void trio_msg(cons_t *k, rill_value_t v) {
  (void)v;
  trio_t *t = k->data;
  if (++t->total == t->n)
    for (int i = 0; i < 3; i++) {
      if (&t->k[i] == k)
        k->stop = true; /* after its release */
      else
        cons_cancel(&t->k[i]);
    }
}

START_TEST(test_source_three_consumers) {
  NEED_SERVER();
  redisContext *rc = fresh();
  long n = (long)tl_scaled_min(100000, 3000);
  produce(rc, "s", 0, n);
  fx_t f;
  fx_init(&f);
  trio_t t = {.n = n};
  rill_redis_source_opts_t o = {
      .create_group = true, .claim_idle_ms = INFINITY, .batch = 100};
  const char *names[3] = {"w1", "w2", "w3"};
  for (int i = 0; i < 3; i++) {
    cons_init(&t.k[i], n);
    t.k[i].initial = 64;
    t.k[i].refill = 1;
    t.k[i].on_msg = trio_msg;
    t.k[i].data = &t;
    cons_start(&t.k[i], &f, "s", "g", names[i], &o);
  }
  fx_run(&f);
  ck_assert_int_eq(t.total, n);
  long missing = 0, twice = 0;
  for (long x = 0; x < n; x++) {
    int c = t.k[0].seen[x] + t.k[1].seen[x] + t.k[2].seen[x];
    missing += c == 0;
    twice += c > 1;
  }
  ck_assert_int_eq(missing, 0);
  ck_assert_int_eq(twice, 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(t.k[i].bad, 0);
    ck_assert_msg(t.k[i].count > 0, "consumer %d got nothing", i);
    ck_assert_int_eq(t.k[i].redelivered, 0);
  }
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  for (int i = 0; i < 3; i++)
    cons_free(&t.k[i]);
  redisFree(rc);
}
END_TEST

/* A consumer process killed with SIGKILL in the middle: another consumer
 * claims what it held, and the union of what both processed is every
 * entry. */
typedef struct victim {
  int fd; /* processed indexes go here; -1 marks "holding now" */
  long processed;
  long hold_after;
} victim_t;

static void victim_msg(cons_t *k, rill_value_t v) {
  victim_t *vi = k->data;
  if (k->hold)
    return;
  long x = atol(rill_redis_msg_get(v, "i", NULL));
  if (write(vi->fd, &x, sizeof(x)) != sizeof(x))
    _exit(3);
  if (++vi->processed == vi->hold_after) {
    k->hold = true; /* keep the next ones unacked, ask for no more */
    k->refill = 0;
    long mark = -1;
    if (write(vi->fd, &mark, sizeof(mark)) != sizeof(mark))
      _exit(3);
  }
}

static void victim_run(int fd, long n) {
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, n);
  victim_t vi = {.fd = fd, .hold_after = n / 4};
  k.initial = 10;
  k.refill = 1;
  k.on_msg = victim_msg;
  k.data = &vi;
  rill_redis_source_opts_t o = {.create_group = true, .batch = 10};
  cons_start(&k, &f, "s", "g", "victim", &o);
  ev_run(f.loop, 0); /* until killed */
  _exit(2);
}

typedef struct rescue {
  unsigned char *seen; /* processed by the victim or the rescuer */
  long distinct;
  long n;
} rescue_t;

static void rescue_msg(cons_t *k, rill_value_t v) {
  rescue_t *r = k->data;
  long x = atol(rill_redis_msg_get(v, "i", NULL));
  if (x >= 0 && x < r->n && !r->seen[x]++ && ++r->distinct == r->n)
    k->stop = true;
}

START_TEST(test_source_killed_consumer_claimed) {
  NEED_SERVER();
  redisContext *rc = fresh();
  long n = (long)tl_scaled_min(4000, 400);
  produce(rc, "s", 0, n);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    close(p[0]);
    victim_run(p[1], n);
  }
  close(p[1]);
  rescue_t r = {.n = n};
  r.seen = calloc((size_t)n, 1);
  long x, by_victim = 0;
  ssize_t got;
  while ((got = read(p[0], &x, sizeof(x))) == sizeof(x) && x != -1) {
    ck_assert(x >= 0 && x < n);
    if (!r.seen[x]++)
      r.distinct++;
    by_victim++;
  }
  ck_assert_msg(got == sizeof(x), "the victim died early");
  usleep(50000); /* let it take its held batch (pending, unacked) */
  kill(pid, SIGKILL);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  close(p[0]);
  ck_assert(WIFSIGNALED(status));
  long long held = pending(rc, "s", "g");
  ck_assert_int_gt(held, 0); /* the victim died holding entries */

  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, n);
  k.initial = RILL_UNBOUNDED;
  k.on_msg = rescue_msg;
  k.data = &r;
  rill_redis_source_opts_t o = {
      .create_group = true, .claim_idle_ms = 100, .batch = 50};
  cons_start(&k, &f, "s", "g", "rescuer", &o);
  fx_run(&f);
  ck_assert_int_eq(r.distinct, n);
  ck_assert_int_eq(k.bad, 0);
  ck_assert_msg(k.redelivered >= held, "claimed %ld of %lld held",
                k.redelivered, held);
  ck_assert_int_eq(by_victim, n / 4);
  /* The victim's unacked entries were all claimed and acked. */
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  cons_free(&k);
  free(r.seen);
  redisFree(rc);
}
END_TEST

/* redis-server killed (SIGKILL) and restarted in the middle of a stream,
 * with an append-only file fsynced at every write: the source reconnects
 * and goes on; every entry is delivered, the acks made before the crash
 * stand (few deliveries twice: at most what was in flight), and at the
 * end nothing is pending. */
typedef struct restart {
  srv_t srv;
  cons_t k;
  unsigned char *seen;
  long distinct;
  long n;
  bool killed;
  bool restarted;
  later_t l;
} restart_t;

static void restart_up(void *arg) {
  restart_t *rs = arg;
  rs->restarted = srv_exec(&rs->srv);
  if (!rs->restarted)
    cons_cancel(&rs->k);
}

static void restart_msg(cons_t *k, rill_value_t v) {
  restart_t *rs = k->data;
  long x = atol(rill_redis_msg_get(v, "i", NULL));
  if (x >= 0 && x < rs->n && !rs->seen[x]++ && ++rs->distinct == rs->n) {
    k->stop = true;
    return;
  }
  if (!rs->killed && k->count == rs->n / 2) {
    rs->killed = true;
    srv_kill(&rs->srv, SIGKILL);
    later_start(&rs->l, k->loop, 0.3, restart_up, rs);
  }
}

START_TEST(test_source_server_restart) {
  NEED_SERVER();
  restart_t rs;
  memset(&rs, 0, sizeof(rs));
  ck_assert(srv_start(&rs.srv, true));
  redisContext *rc = srv_client(&rs.srv);
  ck_assert_ptr_nonnull(rc);
  rs.n = (long)tl_scaled_min(20000, 2000);
  produce(rc, "s", 0, rs.n);
  cmd_ok(rc, "XGROUP CREATE s g 0");
  redisFree(rc);
  rs.seen = calloc((size_t)rs.n, 1);
  fx_t f;
  fx_init(&f);
  cons_init(&rs.k, rs.n);
  rs.k.initial = 64;
  rs.k.refill = 1;
  rs.k.on_msg = restart_msg;
  rs.k.data = &rs;
  rill_redis_conn_t c = {.address = rs.srv.sock, .retry_ms = 50};
  rill_redis_source_opts_t o = {.claim_idle_ms = 300, .batch = 32};
  rill_observable_t *src = rill_redis_source(f.s, &c, "s", "g", "c1", &o);
  ck_assert_ptr_nonnull(src);
  rs.k.loop = f.loop;
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, &rs.k, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert(rs.killed && rs.restarted);
  ck_assert_msg(!rs.k.failed, "the source failed: %s", rs.k.err.message);
  ck_assert_int_eq(rs.distinct, rs.n);
  ck_assert_int_eq(rs.k.bad, 0);
  /* Twice at most: what was in flight (a batch, unsent acks). */
  ck_assert_int_le(rs.k.dups, 64 + 32);
  rc = srv_client(&rs.srv);
  ck_assert_ptr_nonnull(rc);
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  ck_assert_int_eq(cmd_int(rc, "XLEN s"), rs.n);
  redisFree(rc);
  fx_fini(&f);
  cons_free(&rs.k);
  free(rs.seen);
  srv_stop(&rs.srv);
}
END_TEST

/* The connection is killed from the server side (CLIENT KILL) in the
 * middle: the source reconnects; what the lost read had taken is claimed
 * back; everything is delivered and acked. */
typedef struct kill_case {
  redisContext *rc;
  unsigned char *seen;
  long distinct;
  long n;
  bool killed;
} kill_case_t;

static void kill_msg(cons_t *k, rill_value_t v) {
  kill_case_t *kc = k->data;
  long x = atol(rill_redis_msg_get(v, "i", NULL));
  if (x >= 0 && x < kc->n && !kc->seen[x]++ && ++kc->distinct == kc->n) {
    k->stop = true;
    return;
  }
  if (!kc->killed && k->count == kc->n / 3) {
    kc->killed = true;
    long long killed = cmd_int(kc->rc, "CLIENT KILL TYPE normal");
    ck_assert_int_ge(killed, 2); /* the read and the ack connections */
  }
}

START_TEST(test_source_reconnects) {
  NEED_SERVER();
  redisContext *rc = fresh();
  kill_case_t kc = {.rc = rc, .n = 3000};
  kc.seen = calloc((size_t)kc.n, 1);
  produce(rc, "s", 0, kc.n);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, kc.n);
  k.initial = 50;
  k.refill = 1;
  k.on_msg = kill_msg;
  k.data = &kc;
  rill_redis_source_opts_t o = {
      .create_group = true, .claim_idle_ms = 200, .batch = 25};
  cons_start(&k, &f, "s", "g", "c1", &o);
  fx_run(&f);
  ck_assert(kc.killed);
  ck_assert_msg(!k.failed, "%s", k.err.message);
  ck_assert_int_eq(kc.distinct, kc.n);
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  cons_free(&k);
  free(kc.seen);
  redisFree(rc);
}
END_TEST

/* Cancelling while a BLOCK read is in flight: the loop ends at once (no
 * wait for the BLOCK), the connections are gone, nothing is called after
 * the cancel. */
static void cancel_now(void *arg) {
  cons_cancel(arg);
}

START_TEST(test_source_cancel_blocked_read) {
  NEED_SERVER();
  redisContext *rc = fresh();
  long long base = clients(rc);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 1);
  k.initial = 10;
  rill_redis_source_opts_t o = {.create_group = true, .block_ms = 10000};
  cons_start(&k, &f, "s", "g", "c1", &o);
  later_t l;
  later_start(&l, f.loop, 0.2, cancel_now, &k);
  ev_tstamp t0 = ev_time();
  fx_run(&f);
  double took = ev_time() - t0;
  ck_assert_msg(took < 2.0, "the loop ran %.2f s after the cancel", took);
  ck_assert(k.cancelled && k.released && !k.failed && !k.completed);
  ck_assert_int_eq(k.count, 0);
  usleep(20000); /* the server notices the closed sockets */
  ck_assert_int_eq(clients(rc), base);
  fx_fini(&f);
  cons_free(&k);
  redisFree(rc);
}
END_TEST

/* Explicit acks: only what rill_redis_ack() acked leaves the pending
 * list; after the end it refuses (RILL_ECANCELED). */
static void ack_odd(cons_t *k, rill_value_t v) {
  long x = atol(rill_redis_msg_get(v, "i", NULL));
  if (x % 2 == 1) {
    ck_assert_int_eq(rill_redis_ack(v), 0);
    ck_assert_int_eq(rill_redis_ack(v), 0); /* twice: no-op */
  }
  (void)k;
}

START_TEST(test_source_explicit_ack) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 20);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 20);
  k.initial = RILL_UNBOUNDED;
  k.stop_after = 20;
  k.hold = true;
  k.on_msg = ack_odd;
  rill_redis_source_opts_t o = {.create_group = true, .explicit_ack = true};
  cons_start(&k, &f, "s", "g", "c1", &o);
  fx_run(&f);
  ck_assert_int_eq(k.count, 20);
  ck_assert_int_eq(pending(rc, "s", "g"), 10);
  ck_assert_int_eq(rill_redis_ack(k.held.items[0]), RILL_ECANCELED);
  ck_assert_int_eq(rill_redis_ack(rill_value_int(1)), RILL_EINVAL);
  rill_values_clear(&k.held);
  ck_assert_int_eq(pending(rc, "s", "g"), 10);
  fx_fini(&f);
  cons_free(&k);
  redisFree(rc);
}
END_TEST

/* A consumer restarting under the same name gets its own pending entries
 * back first (marked redelivered), then new ones. */
START_TEST(test_source_own_history_first) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 30);
  cmd_ok(rc, "XGROUP CREATE s g 0");
  /* An earlier run of c1 took 10 and died; one of them was deleted from
   * the stream since (its pending entry reads back without fields: it is
   * acked and skipped). */
  redisReply *took = cmd(rc, "XREADGROUP GROUP g c1 COUNT 10 STREAMS s >");
  const char *gone = took->element[0]->element[1]->element[3]->element[0]->str;
  ck_assert_int_eq(cmd_int(rc, "XDEL s %s", gone), 1);
  freeReplyObject(took);
  ck_assert_int_eq(pending(rc, "s", "g"), 10);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 30);
  k.initial = RILL_UNBOUNDED;
  k.stop_after = 29;
  /* No claims: XAUTOCLAIM (7.0) would also drop the deleted entry. */
  rill_redis_source_opts_t o = {.batch = 4, .claim_idle_ms = INFINITY};
  cons_start(&k, &f, "s", "g", "c1", &o);
  fx_run(&f);
  ck_assert_int_eq(k.count, 29);
  ck_assert_int_eq(k.seen[3], 0);
  ck_assert_int_eq(k.dups, 0);
  ck_assert_int_eq(k.redelivered, 9);
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  cons_free(&k);
  redisFree(rc);
}
END_TEST

/* The Reactive Streams protocol (the recording subscriber checks it at
 * every signal): small requests made from on_next, a cancel (twice) from
 * inside on_next, requests after it; and request(0) -> RILL_EINVAL. */
START_TEST(test_source_protocol) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 300);
  fx_t f;
  fx_init(&f);
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_redis_source_opts_t o = {.create_group = true, .batch = 7};
  rec_t r;
  rec_init(&r);
  r.store = false; /* released in on_next, so acked */
  r.request_on_subscribe = 3;
  r.request_in_next = 2;
  r.cancel_at = 200;
  r.cancel_times = 2;
  rill_observable_t *src = rill_redis_source(f.s, &c, "s", "g", "c1", &o);
  ck_assert_int_eq(rec_subscribe(&r, src), 0);
  fx_run(&f);
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.nexts, 200);
  ck_assert_int_eq(r.terminal, REC_NONE);
  /* What a read in flight at the cancel took stays pending (a batch). */
  ck_assert_int_le(pending(rc, "s", "g"), 7);
  rec_clear(&r);
  /* request(0): rule 3.9 */
  rec_init(&r);
  rec_subscribe(&r, src);
  rec_request(&r, 0);
  fx_run(&f);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EINVAL);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(src);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* ---- faults: a clean on_error --------------------------------------------*/

static rill_error_t g_last_err; /* expect_error's error */

static void expect_error(const char *key, const char *group,
                         const rill_redis_conn_t *c,
                         const rill_redis_source_opts_t *o, int code,
                         const char *text) {
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 1);
  k.initial = 10;
  rill_observable_t *src = rill_redis_source(f.s, c, key, group, "c1", o);
  ck_assert_ptr_nonnull(src);
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, &k, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_msg(k.failed, "no error (expected %s)", text);
  ck_assert_msg(k.err.code == code, "code %s, expected %s: %s",
                rill_err_name(k.err.code), rill_err_name(code), k.err.message);
  ck_assert_msg(strstr(k.err.message, text) != NULL, "message '%s' lacks '%s'",
                k.err.message, text);
  ck_assert_str_eq(k.err.stage, "redis_source");
  ck_assert(k.released);
  g_last_err = k.err;
  fx_fini(&f);
  cons_free(&k);
}

START_TEST(test_source_no_group) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 3);
  rill_redis_conn_t c = conn_of(&g_srv);
  expect_error("s", "nogroup", &c, NULL, RILL_EREDIS, "NOGROUP");
  redisFree(rc);
}
END_TEST

START_TEST(test_source_wrong_type) {
  NEED_SERVER();
  redisContext *rc = fresh();
  cmd_ok(rc, "SET notastream 1");
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_redis_source_opts_t o = {.create_group = true};
  expect_error("notastream", "g", &c, &o, RILL_EREDIS, "WRONGTYPE");
  redisFree(rc);
}
END_TEST

START_TEST(test_source_password) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 3);
  cmd_ok(rc, "XGROUP CREATE s g 0");
  cmd_ok(rc, "CONFIG SET requirepass s3cret");
  rill_redis_conn_t c = conn_of(&g_srv);
  expect_error("s", "g", &c, NULL, RILL_EREDIS, "NOAUTH");
  c.password = "wrong";
  expect_error("s", "g", &c, NULL, RILL_EREDIS, "WRONGPASS");
  c.password = "s3cret";
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 3);
  k.initial = RILL_UNBOUNDED;
  k.stop_after = 3;
  rill_observable_t *src = rill_redis_source(f.s, &c, "s", "g", "c1", NULL);
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, &k, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_int_eq(k.count, 3);
  cmd_ok(rc, "CONFIG SET requirepass %s", "");
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  fx_fini(&f);
  cons_free(&k);
  redisFree(rc);
}
END_TEST

/* Nobody listening: a few attempts, then RILL_ESYS with the errno. */
START_TEST(test_source_refused) {
  NEED_SERVER();
  char path[128];
  snprintf(path, sizeof(path), "%s/nobody.sock", g_srv.dir);
  rill_redis_conn_t c = {.address = path, .retries = 2, .retry_ms = 5};
  expect_error("s", "g", &c, NULL, RILL_ESYS, "3 attempts: connecting to");
  ck_assert_int_eq(g_last_err.sys_errno, ENOENT);
}
END_TEST

/* Over TCP (host:port): a server on a free loopback port; then the same
 * port with nobody listening: ECONNREFUSED after the retries. */
START_TEST(test_source_tcp) {
  NEED_SERVER();
  srv_t t;
  int port = free_port();
  ck_assert(srv_start_port(&t, false, port));
  redisContext *rc = srv_client(&t);
  ck_assert_ptr_nonnull(rc);
  produce(rc, "s", 0, 5);
  fx_t f;
  fx_init(&f);
  cons_t k;
  cons_init(&k, 5);
  k.initial = RILL_UNBOUNDED;
  k.stop_after = 5;
  char addr[32];
  snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
  rill_redis_conn_t c = {.address = addr};
  rill_redis_source_opts_t o = {.create_group = true};
  rill_observable_t *src = rill_redis_source(f.s, &c, "s", "g", "c1", &o);
  k.loop = f.loop;
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, &k, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_int_eq(k.count, 5);
  ck_assert_int_eq(k.bad, 0);
  ck_assert_int_eq(pending(rc, "s", "g"), 0);
  redisFree(rc);
  fx_fini(&f);
  cons_free(&k);
  srv_stop(&t);
  c.retries = 1;
  c.retry_ms = 5;
  expect_error("s", "g", &c, NULL, RILL_ESYS, "2 attempts: connecting to");
  ck_assert_int_eq(g_last_err.sys_errno, ECONNREFUSED);
}
END_TEST

START_TEST(test_source_bad_arguments) {
  fx_t f;
  fx_init(&f);
  ck_assert(rill_redis_available());
  errno = 0;
  ck_assert_ptr_null(rill_redis_source(NULL, NULL, "s", "g", "c", NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_redis_source(f.s, NULL, "", "g", "c", NULL));
  ck_assert_ptr_null(rill_redis_source(f.s, NULL, "s", NULL, "c", NULL));
  ck_assert_ptr_null(rill_redis_source(f.s, NULL, "s", "g", NULL, NULL));
  rill_redis_conn_t c = {.address = "host:99999"};
  ck_assert_ptr_null(rill_redis_source(f.s, &c, "s", "g", "c", NULL));
  c.address = "::1:80";
  ck_assert_ptr_null(rill_redis_source(f.s, &c, "s", "g", "c", NULL));
  c.address = "[::1]:6379";
  rill_observable_t *ok = rill_redis_source(f.s, &c, "s", "g", "c", NULL);
  ck_assert_ptr_nonnull(ok);
  rill_observable_free(ok);
  rill_redis_source_opts_t o = {.block_ms = -1};
  ck_assert_ptr_null(rill_redis_source(f.s, NULL, "s", "g", "c", &o));
  ck_assert_int_eq(errno, EINVAL);
  fx_fini(&f);
}
END_TEST

/* On the virtual scheduler: RILL_ENOTSUP after on_subscribe. */
START_TEST(test_source_virtual_sched) {
  rill_sched_t *v = rill_sched_virtual_new();
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  rill_observable_t *src = rill_redis_source(v, NULL, "s", "g", "c", NULL);
  ck_assert_int_eq(rec_subscribe(&r, src), 0);
  rill_observable_free(src);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_ENOTSUP);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  ck_assert_int_eq(rill_sched_active(v), 0);
  ck_assert_int_eq(rill_sched_free(v), 0);
}
END_TEST

/* ---- messages ------------------------------------------------------------*/

START_TEST(test_msg_new_and_accessors) {
  const char *fields[] = {"a", "bin", "empty"};
  const char *values[] = {"1", "x\0y", ""};
  size_t lens[] = {SIZE_MAX, 3, 0};
  rill_value_t m;
  ck_assert_int_eq(rill_redis_msg_new(3, fields, values, lens, &m), 0);
  ck_assert_int_eq(m.kind, RILL_KIND_OWNED);
  ck_assert_ptr_null(rill_redis_msg_id(m));
  ck_assert_uint_eq(rill_redis_msg_nfields(m), 3);
  size_t len;
  ck_assert_str_eq(rill_redis_msg_field(m, 1, &len), "bin");
  ck_assert_uint_eq(len, 3);
  const char *b = rill_redis_msg_value(m, 1, &len);
  ck_assert_uint_eq(len, 3);
  ck_assert_int_eq(memcmp(b, "x\0y", 3), 0);
  ck_assert_str_eq(rill_redis_msg_get(m, "a", &len), "1");
  ck_assert_str_eq(rill_redis_msg_get(m, "empty", &len), "");
  ck_assert_uint_eq(len, 0);
  ck_assert_ptr_null(rill_redis_msg_get(m, "nope", &len));
  ck_assert_ptr_null(rill_redis_msg_field(m, 3, &len));
  ck_assert_ptr_null(rill_redis_msg_value(m, SIZE_MAX, &len));
  ck_assert(!rill_redis_msg_redelivered(m));
  ck_assert_int_eq(rill_redis_ack(m), RILL_EINVAL); /* not from a source */
  rill_value_release(m);
  /* Not messages. */
  rill_value_t i = rill_value_int(3);
  ck_assert_ptr_null(rill_redis_msg_id(i));
  ck_assert_uint_eq(rill_redis_msg_nfields(i), 0);
  rill_value_t other = tl_owned(1);
  ck_assert_ptr_null(rill_redis_msg_get(other, "a", NULL));
  ck_assert_ptr_null(rill_redis_msg_id(other));
  rill_value_release(other);
  ck_assert_int_eq(rill_redis_msg_new(1, NULL, values, NULL, &m), RILL_EINVAL);
  ck_assert_int_eq(rill_redis_msg_new(0, NULL, NULL, NULL, NULL), RILL_EINVAL);
  ck_assert_int_eq(rill_redis_msg_new(0, NULL, NULL, NULL, &m), 0);
  rill_value_release(m);
}
END_TEST

/* ---- the sink ------------------------------------------------------------*/

typedef struct done_rec {
  int calls;
  bool ok;
  rill_error_t err;
} done_rec_t;

static void on_done(void *ctx, const rill_error_t *err) {
  done_rec_t *d = ctx;
  d->calls++;
  d->ok = err == NULL;
  if (err != NULL)
    d->err = *err;
}

static int to_msg(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  char i[24], p[32];
  snprintf(i, sizeof(i), "%lld", (long long)in.as.i);
  snprintf(p, sizeof(p), "reading-%lld", (long long)in.as.i);
  const char *fields[] = {"i", "p"};
  const char *values[] = {i, p};
  return rill_redis_msg_new(2, fields, values, NULL, out);
}

START_TEST(test_sink_basic) {
  NEED_SERVER();
  redisContext *rc = fresh();
  fx_t f;
  fx_init(&f);
  long n = (long)tl_scaled_min(20000, 500);
  rill_observable_t *src = rill_map(rill_range(0, n), to_msg, NULL);
  rill_redis_conn_t c = conn_of(&g_srv);
  done_rec_t d = {0};
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &c, "out", NULL, on_done, &d, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_msg(d.ok, "%s", d.err.message);
  ck_assert_int_eq(cmd_int(rc, "XLEN out"), n);
  /* In order, with their fields. */
  redisReply *r = cmd(rc, "XRANGE out - + COUNT 3");
  ck_assert_uint_eq(r->elements, 3);
  for (size_t j = 0; j < 3; j++) {
    redisReply *e = r->element[j]->element[1];
    ck_assert_uint_eq(e->elements, 4);
    ck_assert_str_eq(e->element[0]->str, "i");
    char want[8];
    snprintf(want, sizeof(want), "%zu", j);
    ck_assert_str_eq(e->element[1]->str, want);
  }
  freeReplyObject(r);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* Buffers and numbers become one field; MAXLEN ~ trims. */
START_TEST(test_sink_buffers_numbers_maxlen) {
  NEED_SERVER();
  redisContext *rc = fresh();
  fx_t f;
  fx_init(&f);
  rill_observable_t *src =
      rill_just(3, rill_value_buf(rill_buf_from("a\0b", 3)),
                rill_value_int(-42), rill_value_double(0.5));
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_redis_sink_opts_t o = {.field = "v"};
  done_rec_t d = {0};
  ck_assert_int_eq(rill_redis_sink(src, f.s, &c, "x", &o, on_done, &d, NULL),
                   0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert(d.calls == 1 && d.ok);
  redisReply *r = cmd(rc, "XRANGE x - +");
  ck_assert_uint_eq(r->elements, 3);
  ck_assert_str_eq(r->element[0]->element[1]->element[0]->str, "v");
  ck_assert_uint_eq(r->element[0]->element[1]->element[1]->len, 3);
  ck_assert_int_eq(
      memcmp(r->element[0]->element[1]->element[1]->str, "a\0b", 3), 0);
  ck_assert_str_eq(r->element[1]->element[1]->element[1]->str, "-42");
  ck_assert_str_eq(r->element[2]->element[1]->element[1]->str, "0.5");
  freeReplyObject(r);
  /* MAXLEN ~ 100 over 5000: trimmed to about 100 (whole nodes). */
  rill_observable_t *many = rill_range(0, 5000);
  rill_redis_sink_opts_t t = {.maxlen = 100};
  d = (done_rec_t){0};
  ck_assert_int_eq(
      rill_redis_sink(many, f.s, &c, "trim", &t, on_done, &d, NULL), 0);
  rill_observable_free(many);
  fx_run(&f);
  ck_assert(d.calls == 1 && d.ok);
  long long len = cmd_int(rc, "XLEN trim");
  ck_assert_msg(len >= 100 && len < 1000, "XLEN %lld", len);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* A slow server (its writes paused): the sink holds at most its window. */
typedef struct window_case {
  redisContext *rc;
  long emitted;
  long at_pause_end;
} window_case_t;

static int count_emitted(void *ctx, rill_value_t v) {
  window_case_t *w = ctx;
  (void)v;
  w->emitted++;
  return 0;
}

static void window_probe(void *arg) {
  window_case_t *w = arg;
  w->at_pause_end = w->emitted;
}

START_TEST(test_sink_window_slow_server) {
  NEED_SERVER();
  redisContext *rc = fresh();
  fx_t f;
  fx_init(&f);
  window_case_t w = {.rc = rc};
  long n = 2000;
  static const rill_tap_hooks_t hooks = {.on_next = count_emitted};
  rill_observable_t *src = rill_tap(rill_range(0, n), &hooks, &w);
  ck_assert_ptr_nonnull(src);
  cmd_ok(rc, "CLIENT PAUSE 500 WRITE");
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_redis_sink_opts_t o = {.window = 16};
  done_rec_t d = {0};
  ck_assert_int_eq(rill_redis_sink(src, f.s, &c, "out", &o, on_done, &d, NULL),
                   0);
  rill_observable_free(src);
  later_t l;
  later_start(&l, f.loop, 0.3, window_probe, &w);
  fx_run(&f);
  ck_assert_int_eq(w.at_pause_end, 16);
  ck_assert(d.calls == 1 && d.ok);
  ck_assert_int_eq(w.emitted, n);
  ck_assert_int_eq(cmd_int(rc, "XLEN out"), n);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

START_TEST(test_sink_errors) {
  NEED_SERVER();
  redisContext *rc = fresh();
  cmd_ok(rc, "SET str 1");
  fx_t f;
  fx_init(&f);
  rill_redis_conn_t c = conn_of(&g_srv);
  /* WRONGTYPE from the server. */
  done_rec_t d = {0};
  rill_observable_t *src = rill_range(0, 10);
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &c, "str", NULL, on_done, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.err.code, RILL_EREDIS);
  ck_assert_ptr_nonnull(strstr(d.err.message, "WRONGTYPE"));
  ck_assert_str_eq(d.err.stage, "redis_sink");
  /* A value of the wrong kind. */
  d = (done_rec_t){0};
  rill_observable_t *bad = rill_just(2, rill_value_int(1), rill_value_bool(1));
  ck_assert_int_eq(rill_redis_sink(bad, f.s, &c, "ok", NULL, on_done, &d, NULL),
                   0);
  rill_observable_free(bad);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.err.code, RILL_EINVAL);
  /* An upstream error passes as it came. */
  d = (done_rec_t){0};
  rill_observable_t *up = rill_concat(
      (rill_observable_t *[]){rill_range(0, 3), rill_error(-1234, "boom")}, 2);
  ck_assert_int_eq(rill_redis_sink(up, f.s, &c, "ok2", NULL, on_done, &d, NULL),
                   0);
  rill_observable_free(up);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.err.code, -1234);
  /* Bad arguments. */
  ck_assert_int_eq(rill_redis_sink(NULL, f.s, &c, "x", NULL, on_done, &d, NULL),
                   RILL_EINVAL);
  ck_assert_int_eq(rill_redis_sink(src, f.s, &c, "", NULL, on_done, &d, NULL),
                   RILL_EINVAL);
  rill_redis_conn_t badc = {.address = "[::1"};
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &badc, "x", NULL, on_done, &d, NULL),
      RILL_EINVAL);
  rill_observable_free(src);
  /* Cancelled through *out: done is not called. */
  d = (done_rec_t){0};
  rill_subscription_t *h;
  rill_observable_t *never = rill_never();
  ck_assert_int_eq(rill_redis_sink(never, f.s, &c, "x", NULL, on_done, &d, &h),
                   0);
  rill_observable_free(never);
  rill_subscription_free(h);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 0);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* The server out of memory (maxmemory reached, noeviction): the sink
 * ends with RILL_EREDIS and the server's OOM text. */
START_TEST(test_sink_oom) {
  NEED_SERVER();
  redisContext *rc = fresh();
  cmd_ok(rc, "CONFIG SET maxmemory-policy noeviction");
  cmd_ok(rc, "CONFIG SET maxmemory 1");
  fx_t f;
  fx_init(&f);
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_observable_t *src = rill_range(0, 10);
  done_rec_t d = {0};
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &c, "out", NULL, on_done, &d, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  cmd_ok(rc, "CONFIG SET maxmemory 0");
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.err.code, RILL_EREDIS);
  ck_assert_msg(strstr(d.err.message, "OOM") != NULL, "%s", d.err.message);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* Source to sink: entries move between streams, each acked only once the
 * copy was stored (the sink releases a value on its XADD reply).  The
 * pipeline is cancelled once everything was copied and acked: a take(n)
 * in front of the sink would end the source while the last XADDs are in
 * flight, and those entries would stay pending (released after the end). */
typedef struct move {
  redisContext *rc;
  rill_subscription_t *h;
  ev_timer poll;
  long n;
  long long copied;
  long long left;
} move_t;

static void move_poll(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  move_t *m = w->data;
  m->copied = cmd_int(m->rc, "XLEN out");
  m->left = m->copied == m->n ? pending(m->rc, "in", "g") : -1;
  if (m->left == 0) {
    ev_timer_stop(loop, w);
    rill_subscription_free(m->h);
    m->h = NULL;
  }
}

START_TEST(test_source_to_sink_move) {
  NEED_SERVER();
  redisContext *rc = fresh();
  move_t m = {.rc = rc, .n = 1000};
  produce(rc, "in", 0, m.n);
  fx_t f;
  fx_init(&f);
  rill_redis_conn_t c = conn_of(&g_srv);
  rill_redis_source_opts_t o = {.create_group = true, .batch = 50};
  rill_observable_t *src = rill_redis_source(f.s, &c, "in", "g", "mover", &o);
  done_rec_t d = {0};
  rill_redis_sink_opts_t so = {.window = 32};
  ck_assert_int_eq(rill_redis_sink(src, f.s, &c, "out", &so, on_done, &d, &m.h),
                   0);
  rill_observable_free(src);
  ev_timer_init(&m.poll, move_poll, 0.01, 0.01);
  m.poll.data = &m;
  ev_timer_start(f.loop, &m.poll);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 0); /* cancelled */
  ck_assert_int_eq(m.copied, m.n);
  ck_assert_int_eq(m.left, 0);
  ck_assert_int_eq(cmd_int(rc, "XLEN out"), m.n);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* The sink's connection killed in the middle: the values whose reply was
 * lost are sent again on a new connection; done reports success. */
typedef struct sink_kill {
  redisContext *rc;
  long emitted;
  long at;
} sink_kill_t;

static int kill_at(void *ctx, rill_value_t v) {
  sink_kill_t *sk = ctx;
  (void)v;
  if (++sk->emitted == sk->at)
    ck_assert_int_ge(cmd_int(sk->rc, "CLIENT KILL TYPE normal"), 1);
  return 0;
}

START_TEST(test_sink_reconnects) {
  NEED_SERVER();
  redisContext *rc = fresh();
  fx_t f;
  fx_init(&f);
  long n = 3000;
  sink_kill_t sk = {.rc = rc, .at = 1000};
  static const rill_tap_hooks_t hooks = {.on_next = kill_at};
  rill_observable_t *src = rill_tap(rill_range(0, n), &hooks, &sk);
  rill_redis_conn_t c = conn_of(&g_srv);
  c.retry_ms = 10;
  rill_redis_sink_opts_t o = {.window = 64};
  done_rec_t d = {0};
  ck_assert_int_eq(rill_redis_sink(src, f.s, &c, "out", &o, on_done, &d, NULL),
                   0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_msg(d.calls == 1 && d.ok, "%s", d.err.message);
  long long len = cmd_int(rc, "XLEN out");
  ck_assert_msg(len >= n && len <= n + 64, "XLEN %lld", len);
  /* Every value is there (some perhaps twice). */
  redisReply *r = cmd(rc, "XRANGE out - +");
  unsigned char *seen = calloc((size_t)n, 1);
  for (size_t j = 0; j < r->elements; j++)
    seen[atol(r->element[j]->element[1]->element[1]->str)] = 1;
  freeReplyObject(r);
  for (long x = 0; x < n; x++)
    ck_assert_msg(seen[x], "value %ld lost", x);
  free(seen);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* Replies later than reply_timeout_ms (writes paused on the server) drop
 * the connection and open another; the data still all arrives. */
static long long stat_of(redisContext *rc, const char *name) {
  redisReply *r = cmd(rc, "INFO stats");
  const char *p = r->str ? strstr(r->str, name) : NULL;
  ck_assert_ptr_nonnull(p);
  long long v = atoll(p + strlen(name) + 1);
  freeReplyObject(r);
  return v;
}

START_TEST(test_sink_reply_timeout) {
  NEED_SERVER();
  redisContext *rc = fresh();
  long long conns0 = stat_of(rc, "total_connections_received");
  fx_t f;
  fx_init(&f);
  long n = 200;
  rill_observable_t *src = rill_range(0, n);
  rill_redis_conn_t c = conn_of(&g_srv);
  c.reply_timeout_ms = 100;
  c.retry_ms = 20;
  c.retries = -1;
  cmd_ok(rc, "CLIENT PAUSE 400 WRITE");
  done_rec_t d = {0};
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &c, "out", NULL, on_done, &d, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert_msg(d.calls == 1 && d.ok, "%s", d.err.message);
  ck_assert_int_ge(cmd_int(rc, "XLEN out"), n);
  long long conns = stat_of(rc, "total_connections_received") - conns0;
  ck_assert_msg(conns >= 2, "%lld connections: no reconnect", conns);
  fx_fini(&f);
  redisFree(rc);
}
END_TEST

/* ---- a fake server with scripted replies: bad replies never crash --------*/

typedef struct fake_client {
  int fd;
  ev_io w;
  char buf[8192];
  size_t len;
  struct fake *fk;
} fake_client_t;

typedef struct fake {
  char dir[64];
  char path[96];
  int lfd;
  ev_io lw;
  fake_client_t cl[8];
  int ncl;
  const char *const *script; /* replies to the commands other than XACK */
  size_t nscript;
  size_t next;
} fake_t;

/* Length of the first complete RESP command in b (0: incomplete) and its
 * name (the first bulk string) in name. */
static size_t resp_command(const char *b, size_t n, char *name, size_t cap) {
  char *end;
  if (n < 4 || b[0] != '*')
    return 0;
  long argc = strtol(b + 1, &end, 10);
  size_t off = (size_t)(end - b) + 2;
  name[0] = '\0';
  for (long i = 0; i < argc; i++) {
    if (off >= n || b[off] != '$')
      return 0;
    long len = strtol(b + off + 1, &end, 10);
    off = (size_t)(end - b) + 2;
    if (off + (size_t)len + 2 > n)
      return 0;
    if (i == 0)
      snprintf(name, cap, "%.*s", (int)len, b + off);
    off += (size_t)len + 2;
  }
  return off;
}

static void fake_client_io(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  fake_client_t *c = w->data;
  ssize_t got = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
  if (got <= 0) {
    ev_ref(loop); /* undo the ev_unref of fake_accept */
    ev_io_stop(loop, w);
    close(c->fd);
    c->fd = -1;
    return;
  }
  c->len += (size_t)got;
  char name[32];
  size_t used;
  while ((used = resp_command(c->buf, c->len, name, sizeof(name))) > 0) {
    memmove(c->buf, c->buf + used, c->len - used);
    c->len -= used;
    const char *reply = strcasecmp(name, "XACK") == 0 ? ":1\r\n"
                        : c->fk->next < c->fk->nscript
                            ? c->fk->script[c->fk->next++]
                            : NULL;
    if (reply != NULL && write(c->fd, reply, strlen(reply)) < 0)
      return;
  }
}

static void fake_accept(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  fake_t *fk = w->data;
  int fd = accept(fk->lfd, NULL, NULL);
  if (fd < 0 || fk->ncl == 8) {
    if (fd >= 0)
      close(fd);
    return;
  }
  fake_client_t *c = &fk->cl[fk->ncl++];
  c->fd = fd;
  c->fk = fk;
  c->len = 0;
  ev_io_init(&c->w, fake_client_io, fd, EV_READ);
  c->w.data = c;
  ev_io_start(loop, &c->w);
  ev_unref(loop); /* the fake never keeps the loop alive */
}

static void fake_start(fake_t *fk, struct ev_loop *loop,
                       const char *const *script, size_t n) {
  memset(fk, 0, sizeof(*fk));
  fk->script = script;
  fk->nscript = n;
  snprintf(fk->dir, sizeof(fk->dir), "/tmp/rill-redis-fake-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(fk->dir));
  snprintf(fk->path, sizeof(fk->path), "%s/fake.sock", fk->dir);
  fk->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  ck_assert_int_ge(fk->lfd, 0);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk->path);
  ck_assert_int_eq(bind(fk->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  ck_assert_int_eq(listen(fk->lfd, 8), 0);
  ev_io_init(&fk->lw, fake_accept, fk->lfd, EV_READ);
  fk->lw.data = fk;
  ev_io_start(loop, &fk->lw);
  ev_unref(loop);
}

static void fake_stop(fake_t *fk, struct ev_loop *loop) {
  ev_ref(loop);
  ev_io_stop(loop, &fk->lw);
  close(fk->lfd);
  for (int i = 0; i < fk->ncl; i++)
    if (fk->cl[i].fd >= 0) {
      ev_ref(loop);
      ev_io_stop(loop, &fk->cl[i].w);
      close(fk->cl[i].fd);
    }
  unlink(fk->path);
  rmdir(fk->dir);
}

/* One source against a script; returns its consumer (error in k->err). */
static void fake_source(cons_t *k, const char *const *script, size_t n,
                        const rill_redis_source_opts_t *o, double cancel_at) {
  fx_t f;
  fx_init(&f);
  fake_t fk;
  fake_start(&fk, f.loop, script, n);
  cons_init(k, 10);
  k->initial = 5;
  rill_redis_conn_t c = {.address = fk.path, .retries = 1, .retry_ms = 5};
  rill_observable_t *src = rill_redis_source(f.s, &c, "s", "g", "c1", o);
  ck_assert_ptr_nonnull(src);
  ck_assert_int_eq(rill_observable_subscribe(src, &cons_sub, k, NULL), 0);
  rill_observable_free(src);
  later_t l;
  if (cancel_at > 0)
    later_start(&l, f.loop, cancel_at, cancel_now, k);
  fx_run(&f);
  if (cancel_at > 0 && ev_is_active(&l.w))
    ev_timer_stop(f.loop, &l.w);
  fake_stop(&fk, f.loop);
  fx_fini(&f);
}

static void expect_fake_error(const char *const *script, size_t n,
                              const rill_redis_source_opts_t *o, int code,
                              const char *text) {
  cons_t k;
  fake_source(&k, script, n, o, 0);
  ck_assert_msg(k.failed, "no error (expected '%s')", text);
  ck_assert_msg(k.err.code == code && strstr(k.err.message, text) != NULL,
                "got %s '%s', expected %s '%s'", rill_err_name(k.err.code),
                k.err.message, rill_err_name(code), text);
  ck_assert(k.released);
  cons_free(&k);
}

START_TEST(test_source_bad_replies) {
  static const rill_redis_source_opts_t noclaim = {.claim_idle_ms = INFINITY};
  /* An integer where XREADGROUP's array belongs. */
  static const char *const integer[] = {":7\r\n"};
  expect_fake_error(integer, 1, &noclaim, RILL_EREDIS,
                    "unexpected reply to XREADGROUP");
  /* An entry with an odd number of fields. */
  static const char *const odd[] = {
      "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*1\r\n$1\r\na\r\n"};
  expect_fake_error(odd, 1, &noclaim, RILL_EREDIS, "unexpected entry shape");
  /* An id longer than any stream id. */
  static const char *const longid[] = {
      "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$60\r\n"
      "123456789012345678901234567890123456789012345678901234567890\r\n"
      "*2\r\n$1\r\na\r\n$1\r\nb\r\n"};
  expect_fake_error(longid, 1, &noclaim, RILL_EREDIS, "unexpected entry");
  /* A field that is an integer. */
  static const char *const intfield[] = {"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$"
                                         "3\r\n1-1\r\n*2\r\n:1\r\n$1\r\nb\r\n"};
  expect_fake_error(intfield, 1, &noclaim, RILL_EREDIS, "unexpected entry");
  /* Not RESP at all: hiredis' protocol error, a lost connection each
   * time, then RILL_ESYS (EPROTO). */
  static const char *const garbage[] = {"?what\r\n", "?again\r\n"};
  expect_fake_error(garbage, 2, &noclaim, RILL_ESYS, "2 attempts");
  /* XAUTOCLAIM answered with an integer. */
  static const char *const claim[] = {"*-1\r\n", ":5\r\n"};
  expect_fake_error(claim, 2, NULL, RILL_EREDIS,
                    "unexpected reply to XAUTOCLAIM");
  /* An XAUTOCLAIM reply with a nil entry (Redis 6.2: deleted meanwhile)
   * and a valid one: the valid one is delivered, the nil skipped. */
  static const char *const claimnil[] = {
      "*-1\r\n", /* the own history: empty */
      "*3\r\n$3\r\n0-0\r\n*2\r\n$-1\r\n"
      "*2\r\n$3\r\n1-1\r\n*4\r\n$1\r\ni\r\n$1\r\n1\r\n$1\r\np\r\n$9\r\n"
      "reading-1\r\n*0\r\n",
      "*-1\r\n" /* a read: nothing new */};
  cons_t k;
  fake_source(&k, claimnil, 3, NULL, 0.2);
  ck_assert_msg(!k.failed, "%s", k.err.message);
  ck_assert_int_eq(k.count, 1);
  ck_assert_int_eq(k.redelivered, 1);
  cons_free(&k);
}
END_TEST

START_TEST(test_sink_bad_reply) {
  fx_t f;
  fx_init(&f);
  fake_t fk;
  static const char *const script[] = {":1\r\n"};
  fake_start(&fk, f.loop, script, 1);
  rill_redis_conn_t c = {.address = fk.path};
  rill_observable_t *src = rill_range(0, 3);
  done_rec_t d = {0};
  ck_assert_int_eq(
      rill_redis_sink(src, f.s, &c, "out", NULL, on_done, &d, NULL), 0);
  rill_observable_free(src);
  fx_run(&f);
  fake_stop(&fk, f.loop);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.err.code, RILL_EREDIS);
  ck_assert_ptr_nonnull(strstr(d.err.message, "unexpected reply to XADD"));
  fx_fini(&f);
}
END_TEST

/* ---- allocation failures -------------------------------------------------*/

/* Fail allocation k (k = 0, 1, ...) in a source -> take(3) run, until a
 * run completes untouched: every run ends (no hang) with the constructor
 * NULL/ENOMEM, subscribe RILL_ENOMEM, on_error(RILL_ENOMEM), or the 3
 * values; nothing leaks; nothing stays active. */
START_TEST(test_source_enomem_sweep) {
  NEED_SERVER();
  redisContext *rc = fresh();
  produce(rc, "s", 0, 3);
  rill_redis_conn_t c = conn_of(&g_srv);
  long k;
  for (k = 0; k < 500; k++) {
    tl_alloc_install();
    fx_t f;
    fx_init(&f);
    long base = tl_live;
    tl_fail_at = tl_alloc_index + k;
    char group[32];
    snprintf(group, sizeof(group), "g%ld", k);
    rill_redis_source_opts_t o = {.create_group = true};
    rill_observable_t *src =
        rill_take(rill_redis_source(f.s, &c, "s", group, "c1", &o), 3);
    cons_t kk;
    cons_init(&kk, 3);
    kk.initial = RILL_UNBOUNDED;
    kk.loop = f.loop;
    int rc_sub = src ? rill_observable_subscribe(src, &cons_sub, &kk, NULL)
                     : RILL_ENOMEM;
    ck_assert(src != NULL || errno == ENOMEM);
    rill_observable_free(src);
    if (rc_sub == 0)
      fx_run(&f);
    bool reached = tl_alloc_index > tl_fail_at;
    tl_fail_at = -1;
    if (rc_sub == 0) {
      ck_assert_msg(kk.done, "k=%ld: no terminal", k);
      if (kk.failed)
        ck_assert_msg(kk.err.code == RILL_ENOMEM, "k=%ld: %s", k,
                      kk.err.message);
      else
        ck_assert_int_eq(kk.count, 3);
    } else {
      ck_assert_int_eq(rc_sub, RILL_ENOMEM);
    }
    cons_free(&kk);
    ck_assert_int_eq(rill_sched_active(f.s), 0);
    ck_assert_msg(tl_live == base, "k=%ld: %ld blocks leaked", k,
                  tl_live - base);
    fx_fini(&f);
    tl_alloc_uninstall();
    if (!reached)
      break;
  }
  ck_assert_msg(k > 5 && k < 500, "k=%ld", k);
  redisFree(rc);
}
END_TEST

START_TEST(test_sink_enomem_sweep) {
  NEED_SERVER();
  redisContext *rc = fresh();
  rill_redis_conn_t c = conn_of(&g_srv);
  long k;
  for (k = 0; k < 500; k++) {
    tl_alloc_install();
    fx_t f;
    fx_init(&f);
    long base = tl_live;
    rill_observable_t *src = rill_map(rill_range(0, 5), to_msg, NULL);
    ck_assert_ptr_nonnull(src);
    tl_fail_at = tl_alloc_index + k;
    done_rec_t d = {0};
    int rc_sink = rill_redis_sink(src, f.s, &c, "out", NULL, on_done, &d, NULL);
    rill_observable_free(src);
    if (rc_sink == 0)
      fx_run(&f);
    bool reached = tl_alloc_index > tl_fail_at;
    tl_fail_at = -1;
    if (rc_sink == 0) {
      ck_assert_msg(d.calls == 1, "k=%ld: done ran %d times", k, d.calls);
      ck_assert_msg(d.ok || d.err.code == RILL_ENOMEM, "k=%ld: %s", k,
                    d.err.message);
    } else {
      ck_assert_int_eq(rc_sink, RILL_ENOMEM);
    }
    ck_assert_int_eq(rill_sched_active(f.s), 0);
    ck_assert_msg(tl_live == base, "k=%ld: %ld blocks leaked", k,
                  tl_live - base);
    fx_fini(&f);
    tl_alloc_uninstall();
    if (!reached)
      break;
  }
  ck_assert_msg(k > 5 && k < 500, "k=%ld", k);
  redisFree(rc);
}
END_TEST

Suite *redis_suite(void) {
  Suite *s = suite_create("redis");
  TCase *tc = tcase_create("source");
  tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_source_basic);
  tcase_add_test(tc, test_source_demand_count);
  tcase_add_test(tc, test_source_release_after_cancel_not_acked);
  tcase_add_test(tc, test_source_slow_consumer_bounded);
  tcase_add_test(tc, test_source_three_consumers);
  tcase_add_test(tc, test_source_killed_consumer_claimed);
  tcase_add_test(tc, test_source_server_restart);
  tcase_add_test(tc, test_source_reconnects);
  tcase_add_test(tc, test_source_cancel_blocked_read);
  tcase_add_test(tc, test_source_explicit_ack);
  tcase_add_test(tc, test_source_own_history_first);
  tcase_add_test(tc, test_source_bad_arguments);
  tcase_add_test(tc, test_source_virtual_sched);
  tcase_add_test(tc, test_source_protocol);
  suite_add_tcase(s, tc);
  tc = tcase_create("faults");
  tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_source_no_group);
  tcase_add_test(tc, test_source_wrong_type);
  tcase_add_test(tc, test_source_password);
  tcase_add_test(tc, test_source_refused);
  tcase_add_test(tc, test_source_tcp);
  suite_add_tcase(s, tc);
  tc = tcase_create("sink");
  tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_msg_new_and_accessors);
  tcase_add_test(tc, test_sink_basic);
  tcase_add_test(tc, test_sink_buffers_numbers_maxlen);
  tcase_add_test(tc, test_sink_window_slow_server);
  tcase_add_test(tc, test_sink_errors);
  tcase_add_test(tc, test_sink_oom);
  tcase_add_test(tc, test_source_to_sink_move);
  tcase_add_test(tc, test_sink_reconnects);
  tcase_add_test(tc, test_sink_reply_timeout);
  suite_add_tcase(s, tc);
  tc = tcase_create("robustness");
  tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_source_bad_replies);
  tcase_add_test(tc, test_sink_bad_reply);
  tcase_add_test(tc, test_source_enomem_sweep);
  tcase_add_test(tc, test_sink_enomem_sweep);
  suite_add_tcase(s, tc);
  return s;
}

#endif /* RILL_TEST_HIREDIS */
