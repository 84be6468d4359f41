/* SPDX-License-Identifier: MIT */
/* rill example: sensor feeds through throttle and debounce, on libev.
 *
 * Three simulated sensors run on your libev loop:
 *   gps     10 Hz                        -> throttle(500 ms)   about 2/s
 *   accel   1 kHz                        -> throttle(100 ms)   about 10/s
 *   motion  bursts of 20 events, 700 ms apart -> debounce(50 ms) one per burst
 * Once a second it prints each input rate and each output rate, e.g.
 *   gps in 10/s -> throttle(500ms) 2/s
 * then, after the run time, cancels every pipeline: ev_run returns on its
 * own because rill leaves no watcher active.
 *
 * Usage: throttle_demo [--duration SECONDS]   (default 5) */
#include <ev.h>
#include <rill.h>
#include <rill/ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct feed {
  const char *name;
  const char *stage;
  long in, out;         /* this second */
  long in_all, out_all; /* whole run */
  rill_subscription_t *sub;
};

static int count_in(void *ctx, rill_value_t in, rill_value_t *out) {
  struct feed *f = ctx;
  f->in++;
  f->in_all++;
  *out = in;
  return 0;
}

static void count_out(void *ctx, rill_value_t v) {
  struct feed *f = ctx;
  f->out++;
  f->out_all++;
  rill_value_release(v);
}

static void report_error(void *ctx, const rill_error_t *err) {
  struct feed *f = ctx;
  fprintf(stderr, "%s: error in %s: %s\n", f->name, err->stage, err->message);
}

/* The motion sensor fires 20 events in the first 20 ms of every 700 ms. */
static int in_burst(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i % 700 < 20;
}

static int start(struct feed *f, rill_observable_t *p) {
  rill_subscriber_t sub = {.on_next = count_out, .on_error = report_error};
  if (p == NULL) {
    perror(f->name);
    return -1;
  }
  int rc = rill_observable_consume(p, &sub, f, RILL_UNBOUNDED, &f->sub);
  rill_observable_free(p);
  return rc;
}

struct demo {
  struct feed feeds[3];
  int seconds_left;
  ev_timer tick;
};

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  struct demo *d = w->data;
  for (int i = 0; i < 3; i++) {
    struct feed *f = &d->feeds[i];
    printf("%-6s in %4ld/s -> %-16s %3ld/s\n", f->name, f->in, f->stage,
           f->out);
    f->in = f->out = 0;
  }
  fflush(stdout);
  if (--d->seconds_left > 0)
    return;
  ev_timer_stop(loop, w);
  for (int i = 0; i < 3; i++)
    rill_subscription_free(d->feeds[i].sub); /* cancels: timers stop */
}

int main(int argc, char **argv) {
  int seconds = 5;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
      seconds = atoi(argv[++i]);
    } else {
      fprintf(stderr, "usage: %s [--duration SECONDS]\n", argv[0]);
      return 2;
    }
  }
  if (seconds < 1)
    seconds = 1;

  struct ev_loop *loop = ev_default_loop(0);
  rill_sched_t *s = rill_sched_ev_new(loop);
  if (s == NULL) {
    perror("rill_sched_ev_new");
    return 1;
  }
  static struct demo d = {
      .feeds = {{.name = "gps", .stage = "throttle(500ms)"},
                {.name = "accel", .stage = "throttle(100ms)"},
                {.name = "motion", .stage = "debounce(50ms)"}}};
  d.seconds_left = seconds;

  int rc = 0;
  rc |= start(&d.feeds[0],
              rill_throttle(rill_map(rill_interval(s, 100, NULL),
                                     count_in, &d.feeds[0]),
                            s, 500, NULL));
  rc |= start(&d.feeds[1],
              rill_throttle(rill_map(rill_interval(s, 1, NULL),
                                     count_in, &d.feeds[1]),
                            s, 100, NULL));
  rc |= start(&d.feeds[2],
              rill_debounce(
                  rill_map(rill_filter(rill_interval(s, 1, NULL),
                                       in_burst, NULL),
                           count_in, &d.feeds[2]),
                  s, 50, NULL));
  if (rc != 0) {
    fprintf(stderr, "throttle_demo: could not start the pipelines\n");
    return 1;
  }

  printf("rill throttle demo: %d s on libev\n", seconds);
  ev_timer_init(&d.tick, on_tick, 1.0, 1.0);
  d.tick.data = &d;
  ev_timer_start(loop, &d.tick);
  ev_run(loop, 0); /* returns once the pipelines are cancelled */

  int active = rill_sched_active(s);
  printf("total: gps %ld -> %ld, accel %ld -> %ld, motion %ld -> %ld; "
         "active watchers after cancel: %d\n",
         d.feeds[0].in_all, d.feeds[0].out_all, d.feeds[1].in_all,
         d.feeds[1].out_all, d.feeds[2].in_all, d.feeds[2].out_all, active);
  if (rill_sched_free(s) != 0 || active != 0)
    return 1;
  return 0;
}
