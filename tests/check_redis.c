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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rill/ev.h>
#include <rill/redis.h>

#include "check_rill.h"
#include "testlib.h"

#ifndef RILL_TEST_HIREDIS

/* ---- a build without hiredis: the stubs ---------------------------------*/

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

/* ---- the server
 * ------------------------------------------------------------*/

typedef struct srv {
  pid_t pid;
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
    char log[128];
    snprintf(log, sizeof(log), "%s/redis.log", s->dir);
    FILE *f = freopen(log, "a", stdout);
    (void)f;
    dup2(STDOUT_FILENO, STDERR_FILENO);
    execl(bin, "redis-server", "--port", "0", "--unixsocket", s->sock,
          "--unixsocketperm", "700", "--dir", s->dir, "--save", "",
          "--appendonly", s->appendonly ? "yes" : "no", "--appendfsync",
          "always", "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
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

static bool srv_start(srv_t *s, bool appendonly) {
  memset(s, 0, sizeof(*s));
  s->appendonly = appendonly;
  snprintf(s->dir, sizeof(s->dir), "/tmp/rill-redis-XXXXXX");
  if (mkdtemp(s->dir) == NULL)
    return false;
  snprintf(s->sock, sizeof(s->sock), "%s/redis.sock", s->dir);
  return srv_exec(s);
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

/* ---- synchronous helpers
 * -----------------------------------------------------*/

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

__attribute__((unused)) static long long cmd_int(redisContext *c,
                                                 const char *fmt, ...) {
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

__attribute__((unused)) static long long clients(redisContext *c) {
  redisReply *r = cmd(c, "INFO clients");
  const char *p = r->str ? strstr(r->str, "connected_clients:") : NULL;
  ck_assert_ptr_nonnull(p);
  long long n = atoll(p + strlen("connected_clients:"));
  freeReplyObject(r);
  return n;
}

/* ---- loop fixture
 * ------------------------------------------------------------*/

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

/* ---- a consumer: a subscriber recording what a source delivers
 * --------------*/

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
  if (k->stop_after > 0 && k->count >= k->stop_after) {
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

/* ---- tests: the source
 * -------------------------------------------------------*/

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

Suite *redis_suite(void) {
  Suite *s = suite_create("redis");
  TCase *tc = tcase_create("source");
  tcase_add_unchecked_fixture(tc, case_setup, case_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_source_basic);
  suite_add_tcase(s, tc);
  return s;
}

#endif /* RILL_TEST_HIREDIS */
