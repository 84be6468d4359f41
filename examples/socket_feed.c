/* SPDX-License-Identifier: MIT */
/* rill example: a sensor feed over TCP, with backpressure.
 *
 * A server on 127.0.0.1 (port 0: the kernel picks one, printed) consumes
 * newline-delimited readings "sensor_id,value":
 *
 *   tcp_accept -> from_fd -> tap(count bytes) -> lines(64, truncate)
 *              -> map(parse) -> filter(well formed, in range) -> share
 *     share -> scan(per-sensor moving average) -> print every n-th
 *     share -> group_by(sensor) -> merge_map(throttle(500 ms))
 *           -> print each sensor's reading, at most one per 500 ms
 *
 * The second branch is a keyed throttle: one throttle per sensor, so a
 * chatty sensor cannot hide the others (a single throttle would let one
 * reading of any sensor through per window).  share() makes one
 * subscription to the socket serve both branches; its demand is the
 * slowest branch's (the scan's), so the backpressure below still holds.
 *
 * Malformed lines (garbage, missing fields, NUL bytes, overlong lines) are
 * counted and dropped, never fatal.  A built-in feeder -- a client on the
 * same loop, made with rill_tcp_connect and a raw fd watcher -- sends the
 * readings as fast as the socket takes them, so the program demonstrates
 * itself with no other process.
 *
 * With --slow the consumer takes one line per millisecond (a timer
 * requests them one by one) and the sockets get small buffers: the
 * demand stops reaching from_fd, from_fd stops reading, the kernel
 * buffers fill up and the feeder's send() returns EAGAIN: it is pushed
 * back instead of rill buffering the feed.  The run then ends after
 * --duration-ms and reports how often the feeder was pushed back.
 *
 * Run: ./examples/socket_feed [--slow] [--count N] [--duration-ms MS]
 *                             [--every N]
 * It always finishes by itself (at the end of the feed, or after the
 * duration) and exits 0. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL */
#endif
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rill/ev.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define MAX_LINE 64    /* a reading is short; longer lines are malformed */
#define SENSORS 4      /* ids 1..SENSORS */
#define WINDOW 8       /* moving average over the last WINDOW values */
#define SLOW_TICK_MS 1 /* --slow: one line per tick */
#define SHOW_MS 500    /* the keyed throttle's window, per sensor */

/* ---- the application state ------------------------------------------------*/

struct options {
  bool slow;
  long count;       /* readings the feeder sends */
  long duration_ms; /* hard stop */
  long every;       /* print every n-th average */
};

struct feeder {
  rill_sched_io_t *io;
  int fd;
  long next; /* next reading to generate */
  char pending[8192];
  size_t len, off;
  long eagain;       /* times send() said "full, come back later" */
  size_t sent;       /* bytes handed to the kernel */
  size_t peak_ahead; /* sent - received, at most: bytes queued in between */
  bool finished;
};

struct app {
  struct options opt;
  rill_sched_t *s;
  rill_subscription_t *accept_h;
  rill_subscription_t *feed_h;
  rill_subscription_t *show_h; /* the keyed throttle's branch */
  rill_value_t conn;           /* the server side of the connection */
  bool has_conn;
  rill_sched_timer_t *stop_timer;
  rill_sched_timer_t *tick; /* --slow: the consumer's pace */
  struct feeder feeder;
  struct averages *table; /* the scan accumulator, for the summary */
  rill_value_t table_ref; /* our reference to it */
  int64_t outstanding;    /* --slow: lines requested, not yet delivered */
  /* counts */
  size_t received; /* bytes read by from_fd */
  long lines, malformed, out_of_range, accepted;
  long show_in, shown; /* readings into the keyed throttle, out of it */
  const char *end;     /* how the feed ended */
};

struct reading {
  int id;
  double value;
  bool ok;
};

struct averages {
  double ring[SENSORS + 1][WINDOW];
  int filled[SENSORS + 1];
  long seen[SENSORS + 1];
  int last; /* sensor updated by the latest reading */
};

/* ---- the feeder: readings as fast as the socket takes them ----------------*/

/* Reading i as text.  Every 50th is malformed (several kinds), every 97th
 * is out of range: the counts are deterministic. */
static int format_reading(long i, char *out, size_t cap) {
  static const char *const bad[] = {
      "garbage",
      "7,",
      ",3.5",
      "x,1.0",
      "3,4.5.6",
      "2;21.0",
      "9,20.0", /* unknown sensor */
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
      "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx,1"};
  if (i % 50 == 49)
    return snprintf(out, cap, "%s\n", bad[(i / 50) % 8]);
  int id = (int)(i % SENSORS) + 1;
  if (i % 97 == 96)
    return snprintf(out, cap, "%d,999.5\n", id); /* implausible */
  double v = 18.0 + id + (double)((i * 37) % 41) / 10.0;
  return snprintf(out, cap, "%d,%.1f\r\n", id, v); /* CRLF also works */
}

static void feeder_stop(struct feeder *f) {
  rill_sched_io_free(f->io);
  f->io = NULL;
  if (f->fd >= 0)
    close(f->fd);
  f->fd = -1;
}

static void feeder_writable(rill_sched_io_t *w, int events, void *arg) {
  (void)w;
  (void)events;
  struct app *app = arg;
  struct feeder *f = &app->feeder;
  for (int round = 0; round < 64; round++) {
    if (f->off == f->len) {
      if (f->next >= app->opt.count) {
        shutdown(f->fd, SHUT_WR); /* end of feed: the server sees EOF */
        f->finished = true;
        feeder_stop(f);
        return;
      }
      f->len = f->off = 0;
      while (f->next < app->opt.count && f->len < sizeof(f->pending) - 256)
        f->len += (size_t)format_reading(f->next++, f->pending + f->len,
                                         sizeof(f->pending) - f->len);
    }
    ssize_t n = send(f->fd, f->pending + f->off, f->len - f->off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        f->eagain++; /* pushed back: the watcher waits for room */
        return;
      }
      fprintf(stderr, "feeder: send: %s\n", strerror(errno));
      feeder_stop(f);
      return;
    }
    f->off += (size_t)n;
    f->sent += (size_t)n;
    if (f->sent - app->received > f->peak_ahead)
      f->peak_ahead = f->sent - app->received;
  }
}

static void feeder_on_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, 1);
}

static void feeder_on_connect(void *ctx, rill_value_t conn) {
  struct app *app = ctx;
  struct feeder *f = &app->feeder;
  f->fd = rill_conn_take(conn); /* the feeder closes it itself */
  rill_value_release(conn);
  if (app->opt.slow) {
    int small = 8192; /* small buffers: the push back shows sooner */
    setsockopt(f->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  }
  f->io = rill_sched_io_new(app->s, f->fd, feeder_writable, app);
  if (f->io == NULL) {
    perror("feeder watcher");
    feeder_stop(f);
    return;
  }
  rill_sched_io_set(f->io, RILL_IO_WRITE);
  printf("feeder: connected, sending %ld readings\n", app->opt.count);
}

static void feeder_on_error(void *ctx, const rill_error_t *err) {
  (void)ctx;
  printf("feeder: connect failed: %s\n", err->message);
}

/* ---- the pipeline stages --------------------------------------------------*/

/* A tap: count the bytes read, pass the buffer on. */
static int count_bytes(void *ctx, rill_value_t in, rill_value_t *out) {
  struct app *app = ctx;
  app->received += rill_buf_len(in.as.buf);
  *out = rill_value_retain(in);
  return 0;
}

static bool parse_line(rill_value_t line, struct reading *r) {
  size_t n = rill_buf_len(line.as.buf);
  char text[MAX_LINE + 1];
  if (n == 0 || n >= MAX_LINE) /* a line of MAX_LINE was truncated */
    return false;
  memcpy(text, rill_buf_data(line.as.buf), n);
  text[n] = '\0';
  if (strlen(text) != n) /* a NUL byte inside */
    return false;
  char *comma = strchr(text, ',');
  if (comma == NULL)
    return false;
  *comma = '\0';
  char *end;
  errno = 0;
  long id = strtol(text, &end, 10);
  if (end == text || *end != '\0' || errno != 0 || id < 1 || id > SENSORS)
    return false;
  double v = strtod(comma + 1, &end);
  if (end == comma + 1 || *end != '\0' || !isfinite(v))
    return false;
  r->id = (int)id;
  r->value = v;
  return true;
}

/* parse: every line becomes a reading, marked ok or not. */
static int parse(void *ctx, rill_value_t line, rill_value_t *out) {
  struct app *app = ctx;
  app->lines++;
  struct reading *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return RILL_ENOMEM; /* fails the stream: out of memory is not "bad input" */
  r->ok = parse_line(line, r);
  return rill_value_owned(r, free, out);
}

/* filter: drop (and count) malformed and implausible readings. */
static int keep(void *ctx, rill_value_t v) {
  struct app *app = ctx;
  const struct reading *r = rill_value_owned_ptr(v);
  if (!r->ok) {
    app->malformed++;
    return 0;
  }
  if (r->value < -40.0 || r->value > 125.0) {
    app->out_of_range++;
    return 0;
  }
  app->accepted++;
  return 1;
}

/* scan: fold each reading into the per-sensor windows (updated in place;
 * the accumulator is the same owned table, passed on as a new reference). */
static int moving_average(void *ctx, rill_value_t acc, rill_value_t v,
                          rill_value_t *out) {
  (void)ctx;
  struct averages *a = rill_value_owned_ptr(acc);
  const struct reading *r = rill_value_owned_ptr(v);
  a->ring[r->id][a->seen[r->id] % WINDOW] = r->value;
  a->seen[r->id]++;
  if (a->filled[r->id] < WINDOW)
    a->filled[r->id]++;
  a->last = r->id;
  *out = rill_value_retain(acc);
  return 0;
}

static double average_of(const struct averages *a, int id) {
  double sum = 0;
  for (int i = 0; i < a->filled[id]; i++)
    sum += a->ring[id][i];
  return a->filled[id] ? sum / a->filled[id] : 0.0;
}

/* ---- the keyed throttle: group_by(sensor) -> merge_map(throttle) ----------*/

static int sensor_key(void *ctx, rill_value_t v, rill_value_t *key) {
  struct app *app = ctx;
  app->show_in++;
  *key = rill_value_int(((const struct reading *)rill_value_owned_ptr(v))->id);
  return 0;
}

/* Each sensor's group gets a throttle of its own. */
static int throttle_sensor(void *ctx, rill_value_t group,
                           rill_observable_t **out) {
  struct app *app = ctx;
  *out = rill_throttle(rill_group_observable(group), app->s, SHOW_MS, NULL);
  return *out ? 0 : RILL_ENOMEM;
}

static void show_on_next(void *ctx, rill_value_t v) {
  struct app *app = ctx;
  const struct reading *r = rill_value_owned_ptr(v);
  app->shown++;
  printf("sensor %d: %.1f (keyed throttle: one per sensor per %d ms)\n", r->id,
         r->value, SHOW_MS);
  rill_value_release(v);
}

/* ---- the consumer ---------------------------------------------------------*/

static void stop_everything(struct app *app) {
  rill_subscription_cancel(app->accept_h);
  /* The keyed throttle first: left alone on the share, it would pull
   * everything the socket still has. */
  rill_subscription_cancel(app->show_h);
  rill_subscription_cancel(app->feed_h);
  rill_sched_timer_stop(app->stop_timer);
  rill_sched_timer_stop(app->tick);
  feeder_stop(&app->feeder);
}

static void feed_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct app *app = ctx;
  if (app->opt.slow) {
    app->outstanding = 1;
    rill_subscription_request(s, 1); /* then one per tick */
  }
}

static void feed_on_next(void *ctx, rill_value_t v) {
  struct app *app = ctx;
  struct averages *a = rill_value_owned_ptr(v);
  if (app->outstanding > 0)
    app->outstanding--;
  if (app->accepted % app->opt.every == 0)
    printf("reading %ld: sensor %d moving average %.2f (last %d)\n",
           app->accepted, a->last, average_of(a, a->last), a->filled[a->last]);
  rill_value_release(v);
}

static void feed_on_error(void *ctx, const rill_error_t *err) {
  struct app *app = ctx;
  printf("feed error in stage %s: %s\n", err->stage, err->message);
  app->end = "error";
  stop_everything(app);
}

static void feed_on_complete(void *ctx) {
  struct app *app = ctx;
  app->end = "end of feed";
  stop_everything(app);
}

static void tick_fired(rill_sched_timer_t *t, void *arg) {
  struct app *app = arg;
  if (app->outstanding == 0) { /* one line at a time, no backlog of demand */
    app->outstanding = 1;
    rill_subscription_request(app->feed_h, 1);
  }
  if (!rill_subscription_done(app->feed_h)) /* it may have ended just now */
    rill_sched_timer_start(t, SLOW_TICK_MS);
}

static void stop_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct app *app = arg;
  printf("duration of %ld ms reached: stopping\n", app->opt.duration_ms);
  app->end = "duration reached";
  stop_everything(app);
}

static void accept_on_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, 1); /* one client for this demo */
}

static void accept_on_next(void *ctx, rill_value_t conn) {
  struct app *app = ctx;
  app->conn = conn; /* keeps the socket open while the feed runs */
  app->has_conn = true;
  int fd = rill_conn_fd(conn);
  rill_observable_t *p = rill_from_fd(app->s, fd, 4096, 0);
  p = rill_map(p, count_bytes, app);
  p = rill_lines(p, MAX_LINE, true);
  p = rill_map(p, parse, app);
  p = rill_filter(p, keep, app);
  /* One subscription to the socket for both branches; 16 readings ahead
   * at most, so the slow consumer still pushes back. */
  rill_observable_t *readings =
      rill_share(p, &(rill_share_opts_t){.prefetch = 16});
  rill_observable_t *show = rill_merge_map(
      rill_group_by(rill_observable_ref(readings), sensor_key, app, NULL),
      throttle_sensor, app, 0, 0);
  static const rill_subscriber_t show_sub = {.on_next = show_on_next,
                                             .on_error = feed_on_error};
  if (rill_observable_consume(show, &show_sub, app, RILL_UNBOUNDED,
                              &app->show_h) < 0)
    perror("building the keyed throttle");
  rill_observable_free(show);
  rill_value_t seed = rill_value_retain(app->table_ref);
  p = rill_scan(readings, moving_average, NULL, &seed);
  if (p == NULL) {
    perror("building the feed pipeline");
    stop_everything(app);
    return;
  }
  static const rill_subscriber_t feed = {.on_subscribe = feed_on_subscribe,
                                         .on_next = feed_on_next,
                                         .on_error = feed_on_error,
                                         .on_complete = feed_on_complete};
  int rc = app->opt.slow
               ? rill_observable_subscribe(p, &feed, app, &app->feed_h)
               : rill_observable_consume(p, &feed, app, 64, &app->feed_h);
  rill_observable_free(p);
  if (rc < 0) {
    printf("subscribe: %s\n", rill_strerror(rc));
    stop_everything(app);
    return;
  }
  if (app->opt.slow)
    rill_sched_timer_start(app->tick, SLOW_TICK_MS);
}

/* ---- main -----------------------------------------------------------------*/

static int usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [--slow] [--count N] [--duration-ms MS] [--every N]\n",
          argv0);
  return 2;
}

static int parse_options(int argc, char **argv, struct options *o) {
  o->slow = false;
  o->count = -1;
  o->duration_ms = -1;
  o->every = -1;
  for (int i = 1; i < argc; i++) {
    long *target = NULL;
    if (strcmp(argv[i], "--slow") == 0)
      o->slow = true;
    else if (strcmp(argv[i], "--count") == 0)
      target = &o->count;
    else if (strcmp(argv[i], "--duration-ms") == 0)
      target = &o->duration_ms;
    else if (strcmp(argv[i], "--every") == 0)
      target = &o->every;
    else
      return -1;
    if (target != NULL) {
      char *end;
      if (++i == argc)
        return -1;
      *target = strtol(argv[i], &end, 10);
      if (*end != '\0' || *target <= 0)
        return -1;
    }
  }
  /* --slow feeds far more than the consumer can take in the time */
  if (o->count < 0)
    o->count = o->slow ? 1000000 : 2000;
  if (o->duration_ms < 0)
    o->duration_ms = o->slow ? 1500 : 10000;
  if (o->every < 0)
    o->every = o->slow ? 250 : 500;
  return 0;
}

int main(int argc, char **argv) {
  struct app app;
  memset(&app, 0, sizeof(app));
  app.feeder.fd = -1;
  if (parse_options(argc, argv, &app.opt) < 0)
    return usage(argv[0]);
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  app.s = loop ? rill_sched_ev_new(loop) : NULL;
  if (app.s == NULL) {
    perror("loop");
    return 1;
  }
  app.table = calloc(1, sizeof(*app.table));
  if (app.table == NULL ||
      rill_value_owned(app.table, free, &app.table_ref) < 0) {
    perror("table");
    return 1;
  }

  /* The server. */
  int port = 0;
  int lfd = rill_tcp_listen("127.0.0.1", 0, &port);
  if (lfd < 0) {
    perror("listen");
    return 1;
  }
  if (app.opt.slow) {
    int small = 8192; /* inherited by the accepted socket */
    setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  }
  printf("listening on 127.0.0.1:%d%s\n", port,
         app.opt.slow ? " (slow consumer: one line per ms)" : "");
  rill_observable_t *acc = rill_tcp_accept(app.s, lfd, RILL_FD_CLOSE);
  static const rill_subscriber_t accept_sub = {
      .on_subscribe = accept_on_subscribe, .on_next = accept_on_next};
  rill_observable_subscribe(acc, &accept_sub, &app, &app.accept_h);
  rill_observable_free(acc);

  /* The feeder, on the same loop. */
  rill_observable_t *conn = rill_tcp_connect(app.s, "127.0.0.1", port);
  static const rill_subscriber_t feeder_sub = {.on_subscribe =
                                                   feeder_on_subscribe,
                                               .on_next = feeder_on_connect,
                                               .on_error = feeder_on_error};
  rill_observable_subscribe(conn, &feeder_sub, &app, NULL);
  rill_observable_free(conn);

  app.tick = rill_sched_timer_new(app.s, tick_fired, &app);
  app.stop_timer = rill_sched_timer_new(app.s, stop_fired, &app);
  rill_sched_timer_start(app.stop_timer, (double)app.opt.duration_ms);

  ev_run(loop, 0); /* returns once nothing is left to do */

  printf("feed ended: %s\n", app.end ? app.end : "(not started)");
  printf("lines: %ld, malformed: %ld, out of range: %ld, accepted: %ld\n",
         app.lines, app.malformed, app.out_of_range, app.accepted);
  printf("keyed throttle (%d ms per sensor): %ld readings in, %ld shown\n",
         SHOW_MS, app.show_in, app.shown);
  for (int id = 1; id <= SENSORS; id++)
    printf("sensor %d: moving average %.2f over the last %d of %ld "
           "readings\n",
           id, average_of(app.table, id), app.table->filled[id],
           app.table->seen[id]);
  struct feeder *f = &app.feeder;
  printf("feeder: sent %zu bytes (%ld readings generated), %s\n", f->sent,
         f->next, f->finished ? "all sent" : "stopped before the end");
  printf("feeder: send() hit EAGAIN %ld times; peak bytes queued between "
         "feeder and consumer: %zu; bytes read by rill: %zu\n",
         f->eagain, f->peak_ahead, app.received);
  if (app.opt.slow)
    printf("feeder was pushed back: %s\n", f->eagain > 0 ? "yes" : "no");

  /* Tidy up: every rill object goes before the scheduler. */
  rill_subscription_free(app.feed_h);
  rill_subscription_free(app.show_h);
  rill_subscription_free(app.accept_h);
  if (app.has_conn)
    rill_value_release(app.conn);
  rill_value_release(app.table_ref); /* the table: last reference */
  rill_sched_timer_free(app.tick);
  rill_sched_timer_free(app.stop_timer);
  int rc = rill_sched_free(app.s);
  ev_loop_destroy(loop);
  return rc == 0 ? 0 : 1;
}
