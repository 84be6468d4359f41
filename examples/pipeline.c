/* SPDX-License-Identifier: MIT */
/* rill example: a synchronous sensor pipeline.
 *
 * A batch of raw temperature readings (tenths of a degree, some of them
 * sensor glitches) flows through:
 *   from_array -> filter(plausible) -> distinct_until_changed
 *              -> map(to Celsius) -> scan(running max) -> buffer_count(4)
 * and the subscriber prints each window of running maxima, with a
 * prefetch of 2 windows, requesting more as it consumes.  It then shows
 * merge of two feeds and take, and what an error looks like.
 * Run: ./examples/pipeline */
#include <stdio.h>
#include <stdlib.h>

#include <rill.h>

static const int64_t raw[] = {215,  215, 217, -9999, 221, 221, 219, 230,
                              9999, 228, 235, 235,   240, 238, 251, 249};

static int plausible(void *ctx, rill_value_t v) {
  (void)ctx;
  return v.as.i > -500 && v.as.i < 800; /* -50.0 .. 80.0 C */
}

static int to_celsius(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_double((double)in.as.i / 10.0);
  return 0;
}

static int running_max(void *ctx, rill_value_t acc, rill_value_t v,
                       rill_value_t *out) {
  (void)ctx;
  *out = v.as.d > acc.as.d ? v : acc;
  return 0;
}

static void print_window(void *ctx, rill_value_t v) {
  int *windows = ctx;
  printf("window %d: running max", ++*windows);
  for (size_t i = 0; i < rill_array_len(v.as.array); i++)
    printf(" %.1f", rill_array_at(v.as.array, i).as.d);
  printf("\n");
  rill_value_release(v); /* on_next owns its value */
}

static void print_error(void *ctx, const rill_error_t *err) {
  (void)ctx;
  printf("error in stage %s: %s (%s)\n", err->stage, err->message,
         rill_err_name(err->code));
}

static void print_done(void *ctx) {
  (void)ctx;
  printf("complete\n");
}

static int demo_windows(void) {
  rill_value_t values[sizeof(raw) / sizeof(raw[0])];
  for (size_t i = 0; i < sizeof(raw) / sizeof(raw[0]); i++)
    values[i] = rill_value_int(raw[i]);
  rill_observable_t *p = rill_from_array(values, sizeof(raw) / sizeof(raw[0]));
  p = rill_filter(p, plausible, NULL);
  p = rill_distinct_until_changed(p, NULL, NULL);
  p = rill_map(p, to_celsius, NULL);
  p = rill_scan(p, running_max, NULL, NULL);
  p = rill_buffer_count(p, 4, 0);
  if (p == NULL) {
    perror("building the pipeline");
    return 1;
  }
  int windows = 0;
  rill_subscriber_t sub = {.on_next = print_window,
                           .on_error = print_error,
                           .on_complete = print_done};
  int rc = rill_observable_consume(p, &sub, &windows, 2, NULL);
  rill_observable_free(p);
  return rc < 0;
}

static int demo_merge(void) {
  rill_observable_t *feeds[2] = {rill_range(100, 3), rill_range(200, 3)};
  rill_observable_t *p = rill_take(rill_merge(feeds, 2, 0, 0), 5);
  rill_values_t got = {0};
  int rc = rill_observable_collect(p, &got, NULL);
  printf("merge(range(100,3), range(200,3)) | take(5):");
  for (size_t i = 0; i < got.len; i++)
    printf(" %lld", (long long)got.items[i].as.i);
  printf(" -> %s\n", rc == 0 ? "complete" : rill_strerror(rc));
  rill_values_clear(&got);
  rill_observable_free(p);
  return rc < 0;
}

static int fail_on_three(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  if (in.as.i == 3)
    return RILL_ECALLBACK;
  *out = in;
  return 0;
}

static int demo_error(void) {
  rill_observable_t *p = rill_map(rill_range(1, 5), fail_on_three, NULL);
  rill_values_t got = {0};
  rill_error_t err;
  int rc = rill_observable_collect(p, &got, &err);
  printf("range(1,5) | map(fails on 3): %zu values, then ", got.len);
  if (rc < 0)
    printf("error in stage %s: %s\n", err.stage, err.message);
  else
    printf("complete?!\n");
  rill_values_clear(&got);
  rill_observable_free(p);
  return rc == RILL_ECALLBACK ? 0 : 1;
}

int main(void) {
  printf("rill %d.%d.%d: synchronous pipeline demo\n", RILL_VERSION_MAJOR,
         RILL_VERSION_MINOR, RILL_VERSION_PATCH);
  int bad = demo_windows();
  bad |= demo_merge();
  bad |= demo_error();
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
