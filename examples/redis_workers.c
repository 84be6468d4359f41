/* SPDX-License-Identifier: MIT */
/* rill example: one Redis stream shared by several worker processes; one
 * worker is killed mid-run and nothing is lost.
 *
 * Processes (all forked from this one):
 *
 *   producer   interval(1 ms) -> concat_map(one reading per sensor)
 *              -> take(N) -> map(make a message: seq, sensor, value)
 *              -> rill_redis_sink(stream "readings")      XADD, pipelined
 *   worker i   rill_redis_source(stream, group "workers", consumer
 *              "worker-i") -> map(parse: a reading that carries its
 *              message) -> a rate-limited subscriber that processes the
 *              readings and aggregates them per sensor
 *   this one   starts redis-server, forks the others, collects what the
 *              workers processed, kills worker 2 with SIGKILL once a third
 *              of the readings are done, and checks the outcome
 *
 * What it shows:
 *   - demand -> COUNT: a worker asks for --window readings (16) and one
 *     more per reading processed, so the source reads XREADGROUP COUNT <=
 *     16 and the readings it has not asked for wait in Redis, not in the
 *     worker.  The workers are slower than the producer (--rate, 500
 *     readings/s each: the demand is paced by a timer, which is how a
 *     worker throttles itself without dropping anything).
 *   - the acknowledgement follows the processing: a message is acked
 *     (XACK) when its value is released for the last time.  The parse map
 *     makes a new value that keeps a reference to the message, so the map
 *     releasing its input acks nothing; the worker releases the reading --
 *     hence the message -- after it has processed it.  Processing here is
 *     "report it to the parent, then fold it into the per-sensor
 *     averages"; the report is written before the release.
 *   - the takeover: worker 2 dies holding the readings it had received but
 *     not processed.  They stay pending in the group; after --claim-ms
 *     (200 ms) idle, another worker's source claims them (XAUTOCLAIM) and
 *     delivers them again, marked redelivered.  At-least-once: a reading
 *     that worker 2 processed but did not get to ack would be processed
 *     twice, so the parent counts each reading once, by its seq field --
 *     the idempotent consumer.
 *   - ending from the far end: a worker is stopped by cancelling its
 *     subscription (SIGTERM), not by a take(n) in front of its queue: a
 *     reading still queued when the source ended would not be acked.  The
 *     worker cancels first and releases what it still holds afterwards,
 *     so that those (unprocessed) readings stay pending.
 *
 * The program ends when every reading was processed and the group has
 * nothing pending (XPENDING), then prints each worker's aggregate, the
 * per-sensor averages over all workers (counted once per reading) next to
 * what the producer sent, and a summary.  Exit status 0 when every reading
 * was processed at least once and the averages match, else 1.
 *
 * The Redis server: by default the program starts its own redis-server on
 * a unix socket in a temporary directory (no port, no persistence) and
 * stops it at the end.  Without redis-server it says so and exits 0
 * ("skipped"), unless the environment variable CI is set (then 1).  With
 * --redis ADDRESS ("host:port", or a unix socket path) it uses that server
 * instead, on a stream of its own ("rill-example:readings:<pid>", deleted
 * at the end).  hiredis' synchronous API is used here only for the
 * parent's bookkeeping (wait for the server, XPENDING, DEL); the producer
 * and the workers use rill alone.
 *
 * Usage: redis_workers [--redis ADDRESS] [--workers N] [--readings N]
 *                      [--sensors N] [--rate R] [--window W] [--claim-ms MS]
 * Defaults: 3 workers, 2400 readings from 4 sensors, 500 readings/s per
 * worker, 16 in hand, claims after 200 ms: about two seconds. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* mkdtemp, kill, nanosleep with strict POSIX flags */
#endif
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <hiredis/hiredis.h>
#include <rill/ev.h> /* rill_sched_ev_new; includes <ev.h> and <rill.h> */
#include <rill/redis.h>

#define MAX_WORKERS 16
#define MAX_SENSORS 16
#define MAX_WINDOW 256
#define TICK_MS 10.0    /* a worker processes its share every tick */
#define DEADLINE_S 60.0 /* the whole run; about two seconds normally */
#define GROUP "workers"

struct options {
  const char *redis; /* NULL: start our own server */
  int workers;
  long readings;
  int sensors;
  long rate; /* readings per second per worker */
  int window;
  double claim_ms;
};

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* The value of reading `seq`, in tenths of a degree: sensor k is around
 * 20 + 2k degrees, within +-1 degree.  The parent recomputes it. */
static long reading_tenths(long seq, int sensors) {
  int sensor = (int)(seq % sensors);
  return 200 + 20L * sensor + (seq / sensors) * 13 % 21 - 10;
}

/* Write all of buf, whatever signals interrupt. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t k = write(fd, buf, len);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    buf += k;
    len -= (size_t)k;
  }
  return 0;
}

/* ---- the producer (a child process) -------------------------------------*/

struct producer {
  int sensors;
  long next; /* seq of the next reading */
  const rill_error_t *err;
  bool done, failed;
};

static int one_per_sensor(void *ctx, rill_value_t tick,
                          rill_observable_t **out) {
  (void)tick;
  const struct producer *p = ctx;
  *out = rill_range(0, p->sensors);
  return *out != NULL ? 0 : RILL_ENOMEM;
}

/* A reading as a message: seq, sensor ("s1"...), value ("21.5"). */
static int make_reading(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)in;
  struct producer *p = ctx;
  long seq = p->next++;
  long tenths = reading_tenths(seq, p->sensors);
  char sseq[24], sensor[16], value[24];
  snprintf(sseq, sizeof(sseq), "%ld", seq);
  snprintf(sensor, sizeof(sensor), "s%d", (int)(seq % p->sensors) + 1);
  snprintf(value, sizeof(value), "%ld.%ld", tenths / 10, tenths % 10);
  const char *fields[] = {"seq", "sensor", "value"};
  const char *values[] = {sseq, sensor, value};
  return rill_redis_msg_new(3, fields, values, NULL, out);
}

static void producer_done(void *ctx, const rill_error_t *err) {
  struct producer *p = ctx;
  p->done = true;
  if (err != NULL) {
    p->failed = true;
    fprintf(stderr, "redis_workers: producer: %s\n", err->message);
  }
}

static int run_producer(const struct options *o, const char *address,
                        const char *stream) {
  struct ev_loop *loop = ev_default_loop(0);
  rill_sched_t *s = rill_sched_ev_new(loop);
  if (s == NULL)
    return 1;
  struct producer p = {.sensors = o->sensors};
  /* Every millisecond, one reading per sensor, N in all. */
  rill_observable_t *src =
      rill_map(rill_take(rill_concat_map(rill_interval(s, 1.0, NULL),
                                         one_per_sensor, &p),
                         o->readings),
               make_reading, &p);
  rill_redis_conn_t conn = {.address = address};
  rill_redis_sink_opts_t opts = {.window = 64};
  int rc =
      rill_redis_sink(src, s, &conn, stream, &opts, producer_done, &p, NULL);
  rill_observable_free(src); /* the sink does not take it over */
  if (rc < 0) {
    fprintf(stderr, "redis_workers: producer: %s\n", rill_strerror(rc));
    rill_sched_free(s);
    return 1;
  }
  ev_run(loop, 0); /* returns once the sink is done and nothing is active */
  int freed = rill_sched_free(s);
  ev_loop_destroy(loop);
  return p.done && !p.failed && freed == 0 ? 0 : 1;
}

/* ---- a worker (a child process) -----------------------------------------*/

/* A parsed reading; it holds its message, whose last release acks it. */
struct reading {
  long seq;
  int sensor;
  long tenths;
  bool redelivered;
  rill_value_t msg;
};

static void reading_free(void *ptr) {
  struct reading *r = ptr;
  rill_value_release(r->msg); /* the last reference: XACK */
  free(r);
}

static int parse_reading(void *ctx, rill_value_t in, rill_value_t *out) {
  const int *sensors = ctx;
  const char *seq = rill_redis_msg_get(in, "seq", NULL);
  const char *sensor = rill_redis_msg_get(in, "sensor", NULL);
  const char *value = rill_redis_msg_get(in, "value", NULL);
  if (seq == NULL || sensor == NULL || value == NULL || sensor[0] != 's')
    return rill_fail(RILL_EAPP_BASE - 1, "malformed reading %s",
                     rill_redis_msg_id(in));
  struct reading *r = malloc(sizeof(*r));
  if (r == NULL)
    return RILL_ENOMEM;
  r->seq = atol(seq);
  r->sensor = atoi(sensor + 1) - 1;
  r->tenths = lround(strtod(value, NULL) * 10);
  r->redelivered = rill_redis_msg_redelivered(in);
  if (r->sensor < 0 || r->sensor >= *sensors) {
    free(r);
    return rill_fail(RILL_EAPP_BASE - 1, "unknown sensor %s", sensor);
  }
  r->msg = rill_value_retain(in); /* the map's release of `in` acks nothing */
  return rill_value_owned(r, reading_free, out);
}

struct worker {
  const struct options *o;
  int index; /* 1-based */
  int fd;    /* to the parent */
  struct ev_loop *loop;
  ev_timer tick;
  ev_signal term;
  rill_subscription_t *sub;      /* borrowed, valid until the end */
  rill_value_t held[MAX_WINDOW]; /* received, not processed yet (a FIFO) */
  int head, len;
  int per_tick;
  long processed, redelivered;
  long sum[MAX_SENSORS], count[MAX_SENSORS];
  bool ended, failed;
};

static void worker_stop(struct worker *w) {
  if (w->ended)
    return;
  w->ended = true;
  /* Cancel first: what is released after the end is not acked, so the
   * readings still held (not processed) stay pending for the others. */
  rill_subscription_cancel(w->sub);
  for (; w->len > 0; w->len--) {
    rill_value_release(w->held[w->head]);
    w->head = (w->head + 1) % MAX_WINDOW;
  }
  ev_timer_stop(w->loop, &w->tick);
  ev_signal_stop(w->loop, &w->term);
}

static void worker_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct worker *w = ctx;
  w->sub = s;
  rill_subscription_request(s, w->o->window);
}

static void worker_on_next(void *ctx, rill_value_t v) {
  struct worker *w = ctx;
  if (w->len == w->o->window) { /* never: demand is at most the window */
    fprintf(stderr, "redis_workers: worker %d got more than it asked for\n",
            w->index);
    rill_value_release(v);
    w->failed = true;
    return;
  }
  w->held[(w->head + w->len++) % MAX_WINDOW] = v;
}

static void worker_on_error(void *ctx, const rill_error_t *err) {
  struct worker *w = ctx;
  fprintf(stderr, "redis_workers: worker %d: %s\n", w->index, err->message);
  w->failed = true;
  worker_stop(w); /* the cancel is a no-op now; the rest stops */
}

/* Process this tick's share: report each reading to the parent (one
 * write), fold it into the averages, then release it -- the ack -- and
 * ask for as many more. */
static void worker_tick(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  struct worker *w = t->data;
  int n = w->len < w->per_tick ? w->len : w->per_tick;
  if (n == 0)
    return;
  char buf[MAX_WINDOW * 64] = "";
  size_t off = 0;
  for (int k = 0; k < n; k++) {
    const struct reading *r =
        rill_value_owned_ptr(w->held[(w->head + k) % MAX_WINDOW]);
    off += (size_t)snprintf(buf + off, sizeof(buf) - off, "R %ld %d %ld %d\n",
                            r->seq, r->sensor, r->tenths, r->redelivered);
  }
  if (write_all(w->fd, buf, off) < 0) {
    fprintf(stderr, "redis_workers: worker %d: parent gone\n", w->index);
    w->failed = true;
    worker_stop(w);
    return;
  }
  for (int k = 0; k < n; k++) {
    rill_value_t v = w->held[w->head];
    const struct reading *r = rill_value_owned_ptr(v);
    w->sum[r->sensor] += r->tenths;
    w->count[r->sensor]++;
    w->redelivered += r->redelivered;
    w->processed++;
    w->head = (w->head + 1) % MAX_WINDOW;
    w->len--;
    rill_value_release(v); /* processed: ack */
  }
  rill_subscription_request(w->sub, n);
}

static void worker_term(struct ev_loop *loop, ev_signal *sig, int revents) {
  (void)loop;
  (void)revents;
  worker_stop(sig->data);
}

static int run_worker(const struct options *o, const char *address,
                      const char *stream, int index, int fd) {
  struct worker w = {.o = o, .index = index, .fd = fd};
  w.per_tick = (int)ceil((double)o->rate * TICK_MS / 1000.0);
  w.loop = ev_default_loop(0);
  rill_sched_t *s = rill_sched_ev_new(w.loop);
  if (s == NULL)
    return 1;
  char consumer[32];
  snprintf(consumer, sizeof(consumer), "worker-%d", index);
  rill_redis_conn_t conn = {.address = address};
  rill_redis_source_opts_t opts = {
      .batch = o->window,
      .block_ms = 100,
      .create_group = true, /* XGROUP CREATE ... 0 MKSTREAM, once */
      .claim_idle_ms = o->claim_ms,
  };
  int sensors = o->sensors;
  rill_observable_t *p =
      rill_map(rill_redis_source(s, &conn, stream, GROUP, consumer, &opts),
               parse_reading, &sensors);
  ev_timer_init(&w.tick, worker_tick, TICK_MS / 1000.0, TICK_MS / 1000.0);
  w.tick.data = &w;
  ev_timer_start(w.loop, &w.tick);
  ev_signal_init(&w.term, worker_term, SIGTERM);
  w.term.data = &w;
  ev_signal_start(w.loop, &w.term);
  rill_subscriber_t sub = {.on_subscribe = worker_on_subscribe,
                           .on_next = worker_on_next,
                           .on_error = worker_on_error};
  int rc = rill_observable_subscribe(p, &sub, &w, NULL);
  rill_observable_free(p);
  if (rc < 0) {
    fprintf(stderr, "redis_workers: worker %d: %s\n", index, rill_strerror(rc));
    ev_timer_stop(w.loop, &w.tick);
    ev_signal_stop(w.loop, &w.term);
    w.failed = true;
  }
  /* Until SIGTERM or an error; then the acks made before the end go out
   * (the source's ack connection lingers for their replies), and ev_run
   * returns by itself. */
  ev_run(w.loop, 0);
  /* The worker's aggregate: processed, redelivered, then per sensor the
   * sum (tenths) and the count. */
  char line[64 + MAX_SENSORS * 48];
  size_t off = (size_t)snprintf(line, sizeof(line), "S %ld %ld", w.processed,
                                w.redelivered);
  for (int k = 0; k < o->sensors; k++)
    off += (size_t)snprintf(line + off, sizeof(line) - off, " %ld %ld",
                            w.sum[k], w.count[k]);
  snprintf(line + off, sizeof(line) - off, "\n");
  int wrote = write_all(fd, line, strlen(line));
  close(fd);
  int freed = rill_sched_free(s);
  ev_loop_destroy(w.loop);
  return w.failed || wrote < 0 || freed != 0 ? 1 : 0;
}

/* ---- the parent: the server ---------------------------------------------*/

struct server {
  pid_t pid; /* 0: none of ours */
  char dir[256];
  char sock[300];
};

/* redis-server on PATH (or $RILL_REDIS_SERVER), else /usr/sbin; NULL. */
static const char *server_path(void) {
  static char found[512];
  const char *env = getenv("RILL_REDIS_SERVER");
  if (env != NULL && *env != '\0')
    return access(env, X_OK) == 0 ? env : NULL;
  const char *path = getenv("PATH");
  for (const char *p = path ? path : "/usr/bin:/bin"; *p != '\0';) {
    size_t n = strcspn(p, ":");
    if (n > 0 && n < sizeof(found) - 16) {
      snprintf(found, sizeof(found), "%.*s/redis-server", (int)n, p);
      if (access(found, X_OK) == 0)
        return found;
    }
    p += n + (p[n] == ':');
  }
  return access("/usr/sbin/redis-server", X_OK) == 0 ? "/usr/sbin/redis-server"
                                                     : NULL;
}

/* A synchronous connection for the bookkeeping, or NULL. */
static redisContext *admin_connect(const char *address) {
  redisContext *c;
  if (strncmp(address, "unix:", 5) == 0)
    c = redisConnectUnix(address + 5);
  else if (strchr(address, '/') != NULL)
    c = redisConnectUnix(address);
  else {
    char host[256];
    const char *colon = strrchr(address, ':');
    size_t n = colon ? (size_t)(colon - address) : strlen(address);
    if (n >= sizeof(host))
      return NULL;
    memcpy(host, address, n);
    host[n] = '\0';
    if (host[0] == '[' && n > 1 && host[n - 1] == ']') { /* "[::1]:6379" */
      memmove(host, host + 1, n - 2);
      host[n - 2] = '\0';
    }
    c = redisConnect(host, colon ? atoi(colon + 1) : 6379);
  }
  if (c != NULL && c->err != 0) {
    redisFree(c);
    c = NULL;
  }
  return c;
}

static bool admin_ping(redisContext *c) {
  redisReply *r = redisCommand(c, "PING");
  bool ok = r != NULL && r->type == REDIS_REPLY_STATUS;
  if (r != NULL)
    freeReplyObject(r);
  return ok;
}

/* Start redis-server on a unix socket in a new temporary directory and
 * wait until it answers.  NULL on failure (*why says it). */
static redisContext *server_start(struct server *srv, const char *bin,
                                  const char **why) {
  const char *tmp = getenv("TMPDIR");
  if (tmp == NULL || *tmp == '\0' || strlen(tmp) > 60)
    tmp = "/tmp"; /* a unix socket path is short */
  snprintf(srv->dir, sizeof(srv->dir), "%s/rill-redis-workers-XXXXXX", tmp);
  if (mkdtemp(srv->dir) == NULL) {
    *why = "cannot make a temporary directory";
    srv->dir[0] = '\0';
    return NULL;
  }
  snprintf(srv->sock, sizeof(srv->sock), "%s/redis.sock", srv->dir);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    *why = "fork failed";
    return NULL;
  }
  if (pid == 0) {
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive this program */
#endif
    char log[320];
    snprintf(log, sizeof(log), "%s/redis.log", srv->dir);
    if (freopen(log, "a", stdout) != NULL)
      dup2(STDOUT_FILENO, STDERR_FILENO);
    execl(bin, "redis-server", "--port", "0", "--unixsocket", srv->sock,
          "--unixsocketperm", "700", "--dir", srv->dir, "--save", "",
          "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
          (char *)NULL);
    _exit(127);
  }
  srv->pid = pid;
  for (int i = 0; i < 500; i++) { /* 5 s */
    redisContext *c = redisConnectUnix(srv->sock);
    if (c != NULL && c->err == 0 && admin_ping(c))
      return c;
    if (c != NULL)
      redisFree(c);
    if (waitpid(pid, NULL, WNOHANG) == pid) {
      srv->pid = 0;
      *why = "redis-server exited at start (see its log)";
      return NULL;
    }
    sleep_ms(10);
  }
  *why = "redis-server did not answer within 5 s";
  return NULL;
}

static void server_stop(struct server *srv) {
  if (srv->pid > 0) {
    kill(srv->pid, SIGTERM);
    int i = 0;
    while (waitpid(srv->pid, NULL, WNOHANG) != srv->pid) {
      if (++i == 300) { /* 3 s */
        kill(srv->pid, SIGKILL);
        waitpid(srv->pid, NULL, 0);
        break;
      }
      sleep_ms(10);
    }
    srv->pid = 0;
  }
  if (srv->dir[0] != '\0') {
    char path[320];
    snprintf(path, sizeof(path), "%s/redis.log", srv->dir);
    unlink(path);
    unlink(srv->sock);
    rmdir(srv->dir);
    srv->dir[0] = '\0';
  }
}

/* XPENDING summary: the group's pending count, and `consumer`'s in *mine
 * (when not NULL); -1 on error. */
static long long group_pending(redisContext *c, const char *stream,
                               const char *consumer, long long *mine) {
  redisReply *r = redisCommand(c, "XPENDING %s %s", stream, GROUP);
  long long n = -1;
  if (mine != NULL)
    *mine = 0;
  if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
      r->element[0]->type == REDIS_REPLY_INTEGER) {
    n = r->element[0]->integer;
    const redisReply *list = r->element[3];
    for (size_t i = 0;
         mine != NULL && list->type == REDIS_REPLY_ARRAY && i < list->elements;
         i++) {
      const redisReply *e = list->element[i];
      if (e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
          strcmp(e->element[0]->str, consumer) == 0)
        *mine = atoll(e->element[1]->str);
    }
  }
  if (r != NULL)
    freeReplyObject(r);
  return n;
}

/* ---- the parent: the workers' reports -----------------------------------*/

struct wproc {
  pid_t pid;
  int fd; /* -1 once at EOF */
  char buf[16384];
  size_t blen;
  long processed, redelivered;
  bool killed, summary, bad;
  int status;
  long sum[MAX_SENSORS], count[MAX_SENSORS];
};

struct tally {
  long n;
  int sensors;
  unsigned char *times; /* how many times each seq was processed */
  long distinct, processings, redelivered, twice;
  long sum[MAX_SENSORS], count[MAX_SENSORS]; /* each seq once */
  double t0;
  bool first_redelivery_seen;
};

static void record(struct tally *t, struct wproc *w, int index,
                   const char *line) {
  long seq, tenths;
  int sensor, redelivered;
  if (line[0] == 'R' && sscanf(line, "R %ld %d %ld %d", &seq, &sensor, &tenths,
                               &redelivered) == 4) {
    if (seq < 0 || seq >= t->n || sensor < 0 || sensor >= t->sensors) {
      w->bad = true;
      return;
    }
    t->processings++;
    w->processed++;
    if (redelivered) {
      t->redelivered++;
      if (!t->first_redelivery_seen) {
        t->first_redelivery_seen = true;
        printf("[%5.0f ms] worker %d processes the first redelivered reading "
               "(seq %ld), claimed with XAUTOCLAIM\n",
               now_ms() - t->t0, index, seq);
      }
    }
    if (t->times[seq]++ == 0) {
      t->distinct++;
      t->sum[sensor] += tenths;
      t->count[sensor]++;
    } else if (t->times[seq] == 2) {
      t->twice++;
    }
  } else if (line[0] == 'S') {
    const char *p = line + 1;
    int used;
    if (sscanf(p, "%ld %ld%n", &w->processed, &w->redelivered, &used) != 2) {
      w->bad = true;
      return;
    }
    p += used;
    for (int k = 0; k < t->sensors; k++) {
      if (sscanf(p, "%ld %ld%n", &w->sum[k], &w->count[k], &used) != 2) {
        w->bad = true;
        return;
      }
      p += used;
    }
    w->summary = true;
  } else {
    w->bad = true;
  }
}

/* Read what worker `index` has written; false at EOF. */
static bool drain(struct tally *t, struct wproc *w, int index) {
  ssize_t k = read(w->fd, w->buf + w->blen, sizeof(w->buf) - 1 - w->blen);
  if (k < 0 && errno == EINTR)
    return true;
  if (k <= 0) {
    close(w->fd);
    w->fd = -1;
    return false;
  }
  w->blen += (size_t)k;
  w->buf[w->blen] = '\0';
  char *line = w->buf, *nl;
  while ((nl = strchr(line, '\n')) != NULL) {
    *nl = '\0';
    record(t, w, index, line);
    line = nl + 1;
  }
  w->blen -= (size_t)(line - w->buf);
  memmove(w->buf, line, w->blen);
  return true;
}

/* Wait up to timeout_ms for reports and read them. */
static void collect(struct tally *t, struct wproc *ws, int n, int timeout_ms) {
  struct pollfd pfd[MAX_WORKERS];
  int map[MAX_WORKERS], k = 0;
  for (int i = 0; i < n; i++)
    if (ws[i].fd >= 0) {
      pfd[k].fd = ws[i].fd;
      pfd[k].events = POLLIN;
      map[k++] = i;
    }
  if (k == 0) {
    sleep_ms(timeout_ms);
    return;
  }
  if (poll(pfd, (nfds_t)k, timeout_ms) <= 0)
    return;
  for (int j = 0; j < k; j++)
    if (pfd[j].revents != 0)
      drain(t, &ws[map[j]], map[j] + 1);
}

static void print_averages(const long *sum, const long *count, int sensors) {
  for (int k = 0; k < sensors; k++)
    printf(" s%d %.2f", k + 1,
           count[k] ? (double)sum[k] / (double)count[k] / 10.0 : 0.0);
}

/* ---- the parent: the run ------------------------------------------------*/

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--redis ADDRESS] [--workers N] [--readings N] "
          "[--sensors N] [--rate R] [--window W] [--claim-ms MS]\n",
          argv0);
  return 2;
}

static int parse_options(int argc, char **argv, struct options *o) {
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return -1;
    const char *name = argv[i], *arg = argv[++i];
    char *end;
    double v = strtod(arg, &end);
    bool num = *end == '\0' && end != arg;
    if (strcmp(name, "--redis") == 0)
      o->redis = arg;
    else if (num && strcmp(name, "--workers") == 0)
      o->workers = (int)v;
    else if (num && strcmp(name, "--readings") == 0)
      o->readings = (long)v;
    else if (num && strcmp(name, "--sensors") == 0)
      o->sensors = (int)v;
    else if (num && strcmp(name, "--rate") == 0)
      o->rate = (long)v;
    else if (num && strcmp(name, "--window") == 0)
      o->window = (int)v;
    else if (num && strcmp(name, "--claim-ms") == 0)
      o->claim_ms = v;
    else
      return -1;
  }
  if (o->workers < 2 || o->workers > MAX_WORKERS || o->readings < 1 ||
      o->sensors < 1 || o->sensors > MAX_SENSORS || o->rate < 1 ||
      o->window < 1 || o->window > MAX_WINDOW || !(o->claim_ms > 0))
    return -1;
  return 0;
}

/* fork(), the child dying with this process. */
static pid_t spawn(void) {
  fflush(NULL); /* or the child would print the parent's buffer again */
  pid_t pid = fork();
#ifdef __linux__
  if (pid == 0)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
#endif
  return pid;
}

int main(int argc, char **argv) {
  struct options o = {.workers = 3,
                      .readings = 2400,
                      .sensors = 4,
                      .rate = 500,
                      .window = 16,
                      .claim_ms = 200};
  if (parse_options(argc, argv, &o) < 0)
    return usage(argv[0]);
  if (!rill_redis_available()) {
    printf("redis_workers: skipped: rill was built without hiredis\n");
    return 0;
  }

  /* The server: ours (a unix socket in a temporary directory), or --redis. */
  struct server srv = {.pid = 0};
  redisContext *admin;
  char address[320], stream[64];
  if (o.redis == NULL) {
    const char *bin = server_path(), *why = NULL;
    if (bin == NULL) {
      const char *ci = getenv("CI");
      bool failing = ci != NULL && *ci != '\0';
      printf("redis_workers: %s: redis-server not found (install the Debian "
             "package redis-server, or pass --redis ADDRESS)%s\n",
             failing ? "FAILED" : "skipped", failing ? "; CI is set" : "");
      return failing ? 1 : 0;
    }
    admin = server_start(&srv, bin, &why);
    if (admin == NULL) {
      printf("redis_workers: FAILED: %s\n", why);
      server_stop(&srv);
      return 1;
    }
    snprintf(address, sizeof(address), "%s", srv.sock);
    snprintf(stream, sizeof(stream), "readings");
  } else {
    admin = admin_connect(o.redis);
    if (admin == NULL || !admin_ping(admin)) {
      printf("redis_workers: FAILED: cannot reach a Redis server at %s\n",
             o.redis);
      if (admin != NULL)
        redisFree(admin);
      return 1;
    }
    snprintf(address, sizeof(address), "%s", o.redis);
    snprintf(stream, sizeof(stream), "rill-example:readings:%ld",
             (long)getpid());
  }
  redisReply *r = redisCommand(admin, "DEL %s", stream);
  if (r != NULL)
    freeReplyObject(r);
  printf("redis_workers: %s %s, stream \"%s\"\n",
         srv.pid > 0 ? "a redis-server of its own on" : "Redis at", address,
         stream);
  printf("producer: %ld readings from %d sensors, %d every ms, XADD "
         "pipelined (window 64)\n",
         o.readings, o.sensors, o.sensors);
  printf("workers: %d in group \"%s\", each with at most %d readings in hand, "
         "at most %ld readings/s; claims after %.0f ms idle\n",
         o.workers, GROUP, o.window, o.rate, o.claim_ms);

  /* The workers, then the producer. */
  struct wproc ws[MAX_WORKERS];
  memset(ws, 0, sizeof(ws));
  struct tally t = {.n = o.readings, .sensors = o.sensors, .t0 = now_ms()};
  t.times = calloc((size_t)o.readings, 1);
  if (t.times == NULL) {
    redisFree(admin);
    server_stop(&srv);
    return 1;
  }
  int failures = 0;
  for (int i = 0; i < o.workers; i++) {
    int fds[2];
    ws[i].fd = -1;
    if (pipe(fds) != 0) {
      failures++;
      continue;
    }
    pid_t pid = spawn();
    if (pid == 0) {
      close(fds[0]);
      for (int j = 0; j < i; j++)
        if (ws[j].fd >= 0)
          close(ws[j].fd);
      redisFree(admin);
      free(t.times);
      _exit(run_worker(&o, address, stream, i + 1, fds[1]));
    }
    close(fds[1]);
    if (pid < 0) {
      close(fds[0]);
      failures++;
      continue;
    }
    ws[i].pid = pid;
    ws[i].fd = fds[0];
  }
  pid_t producer = spawn();
  if (producer == 0) {
    for (int j = 0; j < o.workers; j++)
      if (ws[j].fd >= 0)
        close(ws[j].fd);
    redisFree(admin);
    free(t.times);
    _exit(run_producer(&o, address, stream));
  }
  if (producer < 0)
    failures++;

  /* Collect until every reading is processed and nothing is pending. */
  const int victim = 1; /* worker 2 */
  char victim_name[32];
  snprintf(victim_name, sizeof(victim_name), "worker-%d", victim + 1);
  long long held_at_death = 0, pending = -1;
  bool produced = producer < 0, finished = false;
  while (failures == 0 && !finished) {
    collect(&t, ws, o.workers, 20);
    double now = now_ms() - t.t0;
    if (!ws[victim].killed && ws[victim].pid > 0 &&
        ((t.distinct >= o.readings / 3 && ws[victim].processed > 0) ||
         t.distinct >= 2 * o.readings / 3)) {
      kill(ws[victim].pid, SIGKILL);
      waitpid(ws[victim].pid, &ws[victim].status, 0);
      ws[victim].killed = true;
      while (ws[victim].fd >= 0) /* what it reported before it died */
        drain(&t, &ws[victim], victim + 1);
      group_pending(admin, stream, victim_name, &held_at_death);
      printf("[%5.0f ms] killed worker %d (SIGKILL) after %ld readings; %lld "
             "readings it had received stay pending\n",
             now, victim + 1, ws[victim].processed, held_at_death);
    }
    int status;
    if (!produced && waitpid(producer, &status, WNOHANG) == producer) {
      produced = true;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        printf("redis_workers: the producer failed\n");
        failures++;
      } else {
        printf("[%5.0f ms] producer done: %ld readings added\n", now,
               o.readings);
      }
    }
    for (int i = 0; i < o.workers; i++)
      if (!ws[i].killed && ws[i].pid > 0 &&
          waitpid(ws[i].pid, &ws[i].status, WNOHANG) == ws[i].pid) {
        printf("redis_workers: worker %d ended early\n", i + 1);
        ws[i].pid = 0;
        failures++;
      }
    if (produced && t.distinct == o.readings) {
      pending = group_pending(admin, stream, NULL, NULL);
      finished = pending == 0;
    }
    if (now > DEADLINE_S * 1000) {
      printf("redis_workers: gave up after %.0f s: %ld of %ld readings "
             "processed, %lld pending\n",
             DEADLINE_S, t.distinct, o.readings, pending);
      failures++;
    }
  }
  if (finished)
    printf("[%5.0f ms] every reading processed, none pending: stopping the "
           "workers\n",
           now_ms() - t.t0);

  /* Stop: SIGTERM (a worker cancels, its last acks go out, it reports its
   * aggregate and exits), then read their reports to the end. */
  if (producer > 0 && !produced) {
    kill(producer, SIGKILL);
    waitpid(producer, NULL, 0);
  }
  for (int i = 0; i < o.workers; i++)
    if (ws[i].pid > 0 && !ws[i].killed)
      kill(ws[i].pid, SIGTERM);
  double stop_at = now_ms();
  for (;;) {
    bool open = false;
    for (int i = 0; i < o.workers; i++)
      open |= ws[i].fd >= 0;
    if (!open)
      break;
    if (now_ms() - stop_at > 10000) { /* a worker that does not stop */
      for (int i = 0; i < o.workers; i++)
        if (ws[i].fd >= 0) {
          kill(ws[i].pid, SIGKILL);
          close(ws[i].fd);
          ws[i].fd = -1;
          failures++;
        }
      break;
    }
    collect(&t, ws, o.workers, 100);
  }
  for (int i = 0; i < o.workers; i++)
    if (ws[i].pid > 0 && !ws[i].killed)
      waitpid(ws[i].pid, &ws[i].status, 0);

  /* Report. */
  printf("workers:\n");
  for (int i = 0; i < o.workers; i++) {
    struct wproc *w = &ws[i];
    if (w->killed) {
      printf("  worker %d: killed (SIGKILL) after %ld readings\n", i + 1,
             w->processed);
      continue;
    }
    bool ok = w->pid > 0 && WIFEXITED(w->status) &&
              WEXITSTATUS(w->status) == 0 && w->summary && !w->bad;
    if (!ok) {
      printf("  worker %d: FAILED\n", i + 1);
      failures++;
      continue;
    }
    printf("  worker %d: %ld readings (%ld redelivered); averages", i + 1,
           w->processed, w->redelivered);
    print_averages(w->sum, w->count, o.sensors);
    printf("\n");
  }
  printf("sensors (each reading counted once, by its seq):\n");
  bool match = true;
  for (int k = 0; k < o.sensors; k++) {
    long sum = 0, count = 0;
    for (long seq = k; seq < o.readings; seq += o.sensors) {
      sum += reading_tenths(seq, o.sensors);
      count++;
    }
    bool same = sum == t.sum[k] && count == t.count[k];
    match &= same;
    printf("  s%d: %ld readings, average %.2f; the producer sent %ld, "
           "average %.2f%s\n",
           k + 1, t.count[k],
           t.count[k] ? (double)t.sum[k] / (double)t.count[k] / 10.0 : 0.0,
           count, count ? (double)sum / (double)count / 10.0 : 0.0,
           same ? "" : ": MISMATCH");
  }
  if (pending < 0)
    pending = group_pending(admin, stream, NULL, NULL);
  printf("readings: %ld produced, %ld processed at least once, %ld "
         "processings (%ld redelivered after being taken over, %ld processed "
         "twice), %lld pending\n",
         o.readings, t.distinct, t.processings, t.redelivered, t.twice,
         pending);
  bool ok = failures == 0 && t.distinct == o.readings && match;
  if (o.redis != NULL) {
    r = redisCommand(admin, "DEL %s", stream);
    if (r != NULL)
      freeReplyObject(r);
  }
  redisFree(admin);
  server_stop(&srv);
  free(t.times);
  printf("redis_workers: %s\n",
         ok ? "ok: every reading was processed at least once"
            : "FAILED: not every reading was processed");
  return ok ? 0 : 1;
}
