/* SPDX-License-Identifier: MIT */
/* rill example: a TCP sensor gateway with a keyed throttle and a graceful
 * shutdown.  Clients send lines "s<id> <value>" (e.g. "s3 21.40"); the
 * gateway averages each sensor's throttled readings once a second:
 *
 *   tcp_accept -> take(clients) -> merge_map(from_fd -> lines)  per client
 *     -> map(parse) -> filter(well formed)       malformed: counted, dropped
 *     -> take_until(signal(SIGINT))              the shutdown recipe
 *     -> group_by(sensor) -> merge_map(throttle(100 ms, leading + trailing)
 *                                      -> buffer_time(1 s))  per sensor
 *     -> print "[1.0 s] s3: 10 readings, avg 21.40"
 *
 * A built-in load generator (--clients connections on the same libev loop,
 * each sending a few lines every 5 ms, one in 40 malformed) runs for
 * --duration seconds, then hangs up: every connection reaches EOF and the
 * pipeline completes after every line sent was read.  SIGINT stops the
 * input at once instead; take_until sits upstream of the throttles and
 * buffers, so what they hold is flushed, not lost.  Either way ev_run
 * returns by itself.  The program checks that every line is accounted for
 * and prints "sensor_gateway: ok".
 *
 * Run: ./examples/sensor_gateway [--duration SECONDS] [--clients N] */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rill/ev.h>

#define SENSORS 4 /* s1 .. s4 */
#define MAX_CLIENTS 16
#define MAX_LINE 64
#define TICK_MS 5
#define LINES_PER_TICK 4
#define THROTTLE_MS 100

struct reading {
  int sensor;
  double value;
};

struct sensor {
  long sent, in, throttled, averaged; /* readings at each stage */
};

struct client {
  struct app *app;
  int id, fd;
  rill_sched_timer_t *tick;
  long next;     /* lines generated */
  char buf[256]; /* generated, not yet sent: buf[off..len) */
  size_t len, off;
};

struct app {
  rill_sched_t *s;
  double t0, duration_ms;
  int nclients;
  struct client clients[MAX_CLIENTS];
  rill_sched_timer_t *end_of_load;
  bool hung_up, completed;
  rill_subscription_t *sub;
  struct sensor sensor[SENSORS + 1];
  long sent, sent_malformed, connections, lines, malformed, sigints;
};

static double elapsed_s(struct app *app) {
  return (rill_sched_now(app->s) - app->t0) / 1000;
}

/* A tap counting values into a long. */
static int count(void *ctx, rill_value_t v) {
  (void)v;
  ++*(long *)ctx;
  return 0;
}

/* ---- the load generator: clients on the same loop ---------------------- */

static size_t generate(struct client *c, char *out, size_t cap) {
  static const char *const bad[] = {"garbage", "s9 21.0", "s2", "s3 2x"};
  long j = c->next++;
  c->app->sent++;
  if (j % 40 == 39) {
    c->app->sent_malformed++;
    return (size_t)snprintf(out, cap, "%s\n", bad[(j / 40) % 4]);
  }
  int id = (int)((j + c->id) % SENSORS) + 1;
  c->app->sensor[id].sent++;
  return (size_t)snprintf(out, cap, "s%d %.2f\n", id,
                          20.0 + id + (double)(j % 11 - 5) / 10);
}

static void client_close(struct client *c) {
  rill_sched_timer_free(c->tick);
  c->tick = NULL;
  if (c->fd >= 0)
    close(c->fd); /* the gateway reads what was sent, then EOF */
  c->fd = -1;
}

static void client_tick(rill_sched_timer_t *t, void *arg) {
  struct client *c = arg;
  if (c->off == c->len) { /* all sent: hang up, or make more */
    if (c->app->hung_up) {
      client_close(c);
      return;
    }
    c->len = c->off = 0;
    for (int i = 0; i < LINES_PER_TICK; i++)
      c->len += generate(c, c->buf + c->len, sizeof(c->buf) - c->len);
  }
  ssize_t n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
  if (n < 0 && errno != EAGAIN && errno != EINTR) {
    client_close(c); /* the gateway went away (SIGINT) */
    return;
  }
  c->off += n > 0 ? (size_t)n : 0; /* the rest goes next tick */
  rill_sched_timer_start(t, TICK_MS);
}

static void client_connected(void *ctx, rill_value_t conn) {
  struct client *c = ctx;
  c->fd = rill_conn_take(conn); /* ours to close */
  rill_value_release(conn);
  c->tick = rill_sched_timer_new(c->app->s, client_tick, c);
  rill_sched_timer_start(c->tick, 0);
}

static void load_over(rill_sched_timer_t *t, void *arg) {
  (void)t;
  ((struct app *)arg)->hung_up = true; /* each client, once all is sent */
}

static void stop_load(struct app *app) {
  load_over(NULL, app); /* a client still connecting hangs up at once */
  rill_sched_timer_stop(app->end_of_load);
  for (int i = 0; i < app->nclients; i++)
    client_close(&app->clients[i]);
}

static void client_failed(void *ctx, const rill_error_t *err) {
  struct client *c = ctx;
  printf("client %d: %s\n", c->id, err ? err->message : "no memory");
  rill_subscription_cancel(c->app->sub); /* no terminal follows a cancel */
  stop_load(c->app);
}

/* ---- the gateway ------------------------------------------------------- */

static int per_connection(void *ctx, rill_value_t conn,
                          rill_observable_t **out) {
  struct app *app = ctx;
  app->connections++;
  int fd = rill_conn_take(conn); /* from_fd closes it when its stream ends */
  *out =
      rill_lines(rill_from_fd(app->s, fd, 4096, RILL_FD_CLOSE), MAX_LINE, true);
  return *out ? 0 : RILL_ENOMEM;
}

/* A line becomes an owned reading, or an int 0 when malformed. */
static int parse(void *ctx, rill_value_t line, rill_value_t *out) {
  struct app *app = ctx;
  char text[MAX_LINE + 1];
  size_t n = rill_buf_len(line.as.buf);
  struct reading r;
  int end = -1;
  app->lines++;
  memcpy(text, rill_buf_data(line.as.buf), n);
  text[n] = '\0';
  if (n == MAX_LINE || strlen(text) != n || /* truncated; a NUL inside */
      sscanf(text, "s%d %lf%n", &r.sensor, &r.value, &end) != 2 ||
      end != (int)n || r.sensor < 1 || r.sensor > SENSORS) {
    app->malformed++;
    *out = rill_value_int(0);
    return 0;
  }
  struct reading *p = malloc(sizeof(*p));
  if (p == NULL)
    return RILL_ENOMEM;
  *p = r;
  return rill_value_owned(p, free, out);
}

static int well_formed(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.kind == RILL_KIND_OWNED;
}

static void input_ended(void *ctx) {
  struct app *app = ctx;
  printf("[%.1f s] %s: input closed, flushing\n", elapsed_s(app),
         app->sigints ? "SIGINT" : "the clients hung up");
}

static int sensor_of(void *ctx, rill_value_t v, rill_value_t *key) {
  (void)ctx;
  *key = rill_value_int(((struct reading *)rill_value_owned_ptr(v))->sensor);
  return 0;
}

/* One group per sensor: its own throttle, then one array a second. */
static int per_sensor(void *ctx, rill_value_t group, rill_observable_t **out) {
  struct app *app = ctx;
  struct sensor *sn = &app->sensor[rill_group_key(group).as.i];
  rill_observable_t *p = rill_group_observable(group);
  p = rill_tap(p, &(rill_tap_hooks_t){.on_next = count}, &sn->in);
  p = rill_throttle(p, app->s, THROTTLE_MS,
                    &(rill_throttle_opts_t){.edges = RILL_THROTTLE_LEADING |
                                                     RILL_THROTTLE_TRAILING});
  p = rill_tap(p, &(rill_tap_hooks_t){.on_next = count}, &sn->throttled);
  *out = rill_buffer_time(p, app->s, 1000, NULL);
  return *out ? 0 : RILL_ENOMEM;
}

static rill_observable_t *gateway(struct app *app, int listen_fd) {
  rill_observable_t *p = rill_tcp_accept(app->s, listen_fd, RILL_FD_CLOSE);
  p = rill_merge_map(rill_take(p, app->nclients), per_connection, app, 0, 0);
  p = rill_filter(rill_map(p, parse, app), well_formed, app);
  rill_observable_t *sigint = rill_signal(app->s, SIGINT);
  sigint =
      rill_tap(sigint, &(rill_tap_hooks_t){.on_next = count}, &app->sigints);
  p = rill_take_until(p, sigint); /* upstream of what holds values back */
  p = rill_tap(p, &(rill_tap_hooks_t){.on_complete = input_ended}, app);
  return rill_merge_map(rill_group_by(p, sensor_of, NULL, NULL), per_sensor,
                        app, 0, 0);
}

static void print_average(void *ctx, rill_value_t v) {
  struct app *app = ctx;
  size_t n = rill_array_len(v.as.array);
  double sum = 0;
  const struct reading *r = NULL;
  for (size_t i = 0; i < n; i++) {
    r = rill_value_owned_ptr(rill_array_at(v.as.array, i));
    sum += r->value;
  }
  if (r != NULL) { /* a second without a reading prints nothing */
    app->sensor[r->sensor].averaged += (long)n;
    printf("[%.1f s] s%d: %zu reading%s, avg %.2f\n", elapsed_s(app), r->sensor,
           n, n == 1 ? "" : "s", sum / (double)n);
  }
  rill_value_release(v);
}

static void gateway_failed(void *ctx, const rill_error_t *err) {
  printf("gateway: error in %s: %s\n", err->stage, err->message);
  stop_load(ctx);
}

static void gateway_done(void *ctx) {
  ((struct app *)ctx)->completed = true;
  stop_load(ctx); /* after SIGINT the clients are still sending */
}

/* ---- main: run, then check that every line is accounted for ------------ */

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      printf("sensor_gateway: FAILED: %s\n", #cond);                           \
      ok = false;                                                              \
    }                                                                          \
  } while (0)

static bool summary(struct app *app) {
  bool ok = true, all_read = !app->sigints; /* hung up: nothing in flight */
  long in = 0;
  printf("load: %ld lines sent (%ld malformed) on %d connections\n", app->sent,
         app->sent_malformed, app->nclients);
  printf("gateway: %ld lines = %ld readings + %ld malformed, on %ld "
         "connections\n",
         app->lines, app->lines - app->malformed, app->malformed,
         app->connections);
  for (int id = 1; id <= SENSORS; id++) {
    struct sensor *sn = &app->sensor[id];
    printf("  s%d: %ld sent, %ld received -> throttle(%d ms) -> %ld "
           "averaged\n",
           id, sn->sent, sn->in, THROTTLE_MS, sn->averaged);
    in += sn->in;
    CHECK(sn->averaged == sn->throttled); /* flushed at the end, not lost */
    CHECK(sn->throttled <= sn->in && (sn->in > 0) == (sn->throttled > 0));
    CHECK(all_read ? sn->in == sn->sent : sn->in <= sn->sent);
  }
  CHECK(app->completed);
  CHECK(app->lines == in + app->malformed);
  CHECK(!all_read ||
        (app->lines == app->sent && app->malformed == app->sent_malformed &&
         app->connections == app->nclients));
  CHECK(rill_sched_active(app->s) == 0); /* ev_run returned: nothing left */
  return ok;
}

int main(int argc, char **argv) {
  struct app app = {.duration_ms = 3000, .nclients = 4};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
      app.duration_ms = atof(argv[++i]) * 1000;
    else if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
      app.nclients = atoi(argv[++i]);
    else
      app.nclients = 0; /* usage */
  }
  if (app.duration_ms <= 0 || app.nclients < 1 || app.nclients > MAX_CLIENTS) {
    fprintf(stderr, "usage: %s [--duration SECONDS] [--clients 1..%d]\n",
            argv[0], MAX_CLIENTS);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0); /* line by line, also into a file */
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  app.s = loop ? rill_sched_ev_new(loop) : NULL;
  int port = 0;
  int lfd = app.s ? rill_tcp_listen("127.0.0.1", 0, &port) : -1;
  if (lfd < 0) {
    perror("sensor_gateway: setup");
    return 1;
  }
  app.t0 = rill_sched_now(app.s);
  printf("sensor_gateway: 127.0.0.1:%d, %d clients for %.1f s; SIGINT "
         "stops it\n",
         port, app.nclients, app.duration_ms / 1000);
  rill_observable_t *p = gateway(&app, lfd);
  static const rill_subscriber_t sub = {.on_next = print_average,
                                        .on_error = gateway_failed,
                                        .on_complete = gateway_done};
  int rc = rill_observable_consume(p, &sub, &app, RILL_UNBOUNDED, &app.sub);
  rill_observable_free(p);
  if (rc < 0) {
    printf("sensor_gateway: %s\n", rill_strerror(rc));
    return 1;
  }
  app.end_of_load = rill_sched_timer_new(app.s, load_over, &app);
  rill_sched_timer_start(app.end_of_load, app.duration_ms);
  static const rill_subscriber_t connected = {.on_next = client_connected,
                                              .on_error = client_failed};
  for (int i = 0; i < app.nclients; i++) {
    struct client *c = &app.clients[i];
    *c = (struct client){.app = &app, .id = i, .fd = -1};
    rill_observable_t *conn = rill_tcp_connect(app.s, "127.0.0.1", port);
    if (rill_observable_consume(conn, &connected, c, 1, NULL) < 0)
      client_failed(c, NULL);
    rill_observable_free(conn);
  }

  ev_run(loop, 0); /* returns once nothing is active */

  bool ok = summary(&app);
  rill_subscription_free(app.sub);
  rill_sched_timer_free(app.end_of_load);
  CHECK(rill_sched_free(app.s) == 0);
  ev_loop_destroy(loop);
  if (ok)
    printf("sensor_gateway: ok\n");
  return ok ? 0 : 1;
}
