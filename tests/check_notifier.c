/* SPDX-License-Identifier: MIT */
/* rill tests: the notifier forms of the rate operators -- debounce_with,
 * throttle_with, sample_with -- and buffer_time's creation interval and
 * maximum size, on the virtual scheduler with exact instants.
 *
 * Expected timelines of the RxJS cases come from RxJS 7.8.2's own marble
 * tests (the rxjs-marbles conformance data: debounce.json, throttle.json,
 * sample.json, bufferTime.json), cited by id.  Hot sources are subscribed
 * at '^' (or frame 0), built as cold timelines of what follows.
 *
 * Durations: a logging duration (dur(), a rill_create source) records the
 * instant each duration subscription starts ("t^") and ends ("t!"), so
 * the tests see that a newer value cancels the previous duration, that a
 * duration is cancelled when it has fired, and that every ending of the
 * stream cancels the live one.
 *
 * Beyond RxJS: the overflow policies under a subscriber that requests
 * nothing, cancel from inside the duration function and from inside
 * on_next, owned values released exactly once on every path (a value
 * pending when the stream errors or is cancelled), user functions that
 * fail, and bad arguments.  The allocation-failure sweeps of these
 * operators are in tests/check_enomem.c. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static rill_sched_t *vs;

/* ---- a recording subscriber: "t:v" per value, "t:|", "t:#" -------------*/

struct trec {
  rill_subscription_t *sub;      /* owned handle */
  rill_subscription_t *borrowed; /* from on_subscribe */
  double t0;
  char text[2048];
  size_t len;
  int64_t initial;   /* request on subscribe; 0: none */
  int64_t in_next;   /* request this from every on_next; 0: none */
  int64_t cancel_at; /* cancel inside the k-th on_next (1-based); 0: never */
  int64_t requested, nexts;
  int terminals;
  int code;
  int depth;
  int violations;
  char violation[128];
};

static struct trec *cur; /* the running recorder, for cancels from fn */
static double dlog_t0;   /* its start: the duration log's times are relative */

static int64_t sat_add(int64_t a, int64_t b) {
  return a > RILL_UNBOUNDED - b ? RILL_UNBOUNDED : a + b;
}

static void t_put(struct trec *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void t_put(struct trec *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
  va_end(ap);
  if (n > 0 && r->len + (size_t)n < sizeof(r->text))
    r->len += (size_t)n;
}

static void t_violate(struct trec *r, const char *what) {
  if (r->violations++ == 0)
    snprintf(r->violation, sizeof(r->violation), "%s", what);
}

static void t_stamp(struct trec *r) {
  t_put(r, "%s%g:", r->len ? " " : "", rill_sched_now(vs) - r->t0);
}

static void t_value(struct trec *r, rill_value_t v) {
  if (v.kind == RILL_KIND_ARRAY) {
    t_put(r, "[");
    for (size_t i = 0; i < rill_array_len(v.as.array); i++) {
      if (i > 0)
        t_put(r, ",");
      t_value(r, rill_array_at(v.as.array, i));
    }
    t_put(r, "]");
    return;
  }
  int64_t x = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  if (x >= 'a' && x <= 'z')
    t_put(r, "%c", (char)x);
  else
    t_put(r, "%lld", (long long)x);
}

static void t_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct trec *r = ctx;
  r->borrowed = s;
  if (r->initial > 0) {
    r->requested = r->initial;
    rill_subscription_request(s, r->initial);
  }
}

static void t_on_next(void *ctx, rill_value_t v) {
  struct trec *r = ctx;
  if (r->terminals > 0)
    t_violate(r, "on_next after a terminal");
  if (r->requested != RILL_UNBOUNDED && r->nexts >= r->requested)
    t_violate(r, "on_next beyond demand");
  if (r->depth > 0)
    t_violate(r, "on_next nested in on_next");
  r->depth++;
  r->nexts++;
  t_stamp(r);
  t_value(r, v);
  rill_value_release(v);
  if (r->cancel_at > 0 && r->nexts == r->cancel_at) {
    rill_subscription_cancel(r->borrowed);
    rill_subscription_cancel(r->borrowed); /* twice: a no-op */
  } else if (r->in_next > 0) {
    r->requested = sat_add(r->requested, r->in_next);
    rill_subscription_request(r->borrowed, r->in_next);
  }
  r->depth--;
}

static void t_on_error(void *ctx, const rill_error_t *err) {
  struct trec *r = ctx;
  if (r->terminals++ > 0)
    t_violate(r, "a second terminal");
  r->code = err->code;
  t_stamp(r);
  t_put(r, "#");
}

static void t_on_complete(void *ctx) {
  struct trec *r = ctx;
  if (r->terminals++ > 0)
    t_violate(r, "a second terminal");
  t_stamp(r);
  t_put(r, "|");
}

static void t_start(struct trec *r, rill_observable_t *o, int64_t initial) {
  static const rill_subscriber_t sub = {.on_subscribe = t_on_subscribe,
                                        .on_next = t_on_next,
                                        .on_error = t_on_error,
                                        .on_complete = t_on_complete};
  int64_t in_next = r->in_next, cancel_at = r->cancel_at;
  memset(r, 0, sizeof(*r));
  r->initial = initial;
  r->in_next = in_next;
  r->cancel_at = cancel_at;
  r->t0 = rill_sched_now(vs);
  dlog_t0 = r->t0;
  cur = r;
  ck_assert_ptr_nonnull(o);
  ck_assert_int_eq(rill_observable_subscribe(o, &sub, r, &r->sub), 0);
}

static void t_request(struct trec *r, int64_t n) {
  r->requested = sat_add(r->requested, n);
  rill_subscription_request(r->sub, n);
}

static void t_stop(struct trec *r) {
  rill_subscription_free(r->sub);
  r->sub = NULL;
  cur = NULL;
  ck_assert_msg(r->violations == 0, "protocol violation: %s", r->violation);
}

#define ck_assert_text(r, want)                                                \
  ck_assert_msg(strcmp((r)->text, (want)) == 0, "got \"%s\", want \"%s\"",     \
                (r)->text, (want))

/* Run `o` (consumed) with unbounded demand to idle (until > 0: to that
 * time), cancelling at `cancel_at` if >= 0, and compare. */
static void run_to(rill_observable_t *o, double until, double cancel_at,
                   const char *want) {
  struct trec r = {0};
  t_start(&r, o, RILL_UNBOUNDED);
  if (cancel_at >= 0) {
    ck_assert_int_eq(rill_sched_advance_to(vs, r.t0 + cancel_at), 0);
    rill_subscription_cancel(r.sub);
  }
  if (until > 0)
    ck_assert_int_eq(rill_sched_advance_to(vs, r.t0 + until), 0);
  else
    ck_assert_int_eq(rill_sched_run(vs, 100000), 0);
  t_stop(&r);
  ck_assert_text(&r, want);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  if (strchr(want, '#') != NULL && r.code == 0)
    ck_assert_msg(0, "an error with code 0");
  rill_observable_free(o);
}

static void expect(rill_observable_t *o, const char *want) {
  run_to(o, 0, -1, want);
}

/* ---- sources ------------------------------------------------------------*/

/* A hot timeline as RxJS places it: '^' is frame 0 ("-a-^-b" puts b at
 * 2); built as the cold timeline of what follows it. */
static rill_observable_t *hot(const char *m) {
  return marble_hot(vs, m);
}

static int to_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = tl_owned(in.as.i);
  return 0;
}
/* The timeline's values as owned values (released exactly once). */
static rill_observable_t *owned(const char *m) {
  return rill_map(hot(m), to_owned, NULL);
}

/* ---- durations ------------------------------------------------------------
 *
 * dur(kind, after): each subscription fires `after` ms after it starts:
 * 'x' emits 'x' (and stays open), '|' completes, '#' fails (RILL_EUSER);
 * '-' never fires.  Every start and end is logged in dlog. */

struct dspec {
  char kind;
  double after;
};

struct dsub {
  rill_emitter_t *e;
  rill_sched_timer_t *t;
  char kind;
  bool ended;
};

#define MAXDSUBS 64
static struct dsub dsubs[MAXDSUBS];
static int ndsubs;
static char dlog[1024];
static int dlive; /* duration subscriptions not ended */

static void dlog_put(const char *what) {
  size_t len = strlen(dlog);
  snprintf(dlog + len, sizeof(dlog) - len, "%s%g%s", len ? " " : "",
           rill_sched_now(vs) - dlog_t0, what);
}

static void dsub_fire(rill_sched_timer_t *t, void *arg) {
  struct dsub *d = arg;
  (void)t;
  if (d->ended)
    return;
  if (d->kind == 'x')
    rill_emitter_next(d->e, rill_value_int('x'));
  else if (d->kind == '|')
    rill_emitter_complete(d->e);
  else
    rill_emitter_error(d->e, RILL_EUSER, "duration failed");
}

static void dur_start(void *ctx, rill_emitter_t *e) {
  const struct dspec *sp = ctx;
  ck_assert_int_lt(ndsubs, MAXDSUBS);
  struct dsub *d = &dsubs[ndsubs++];
  d->e = e;
  d->kind = sp->kind;
  rill_emitter_set_data(e, d);
  dlog_put("^");
  dlive++;
  if (sp->kind != '-') {
    d->t = rill_sched_timer_new(vs, dsub_fire, d);
    ck_assert_ptr_nonnull(d->t);
    rill_sched_timer_start(d->t, sp->after);
  }
}

/* The timer stays allocated until teardown: end() may run inside it. */
static void dur_end(void *ctx, rill_emitter_t *e) {
  struct dsub *d = rill_emitter_data(e);
  (void)ctx;
  d->ended = true;
  rill_sched_timer_stop(d->t);
  dlog_put("!");
  dlive--;
}

/* A rill_flat_map_fn: ctx is a struct dspec. */
static int d_spec(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = rill_create(dur_start, dur_end, ctx);
  return *out ? 0 : RILL_ENOMEM;
}

/* ctx: a marble string (a cold timeline per value). */
static int d_marble(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = marble_cold(vs, ctx);
  return *out ? 0 : RILL_ENOMEM;
}

/* ctx: a NULL-terminated list of marble strings, one per call in turn. */
struct dseq {
  const char *m[8];
  int i;
};
static int d_seq(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct dseq *q = ctx;
  (void)v;
  if (q->m[q->i] == NULL)
    return RILL_EINVAL;
  *out = marble_cold(vs, q->m[q->i++]);
  return *out ? 0 : RILL_ENOMEM;
}

/* d_spec, noting the most duration subscriptions live when it is called
 * (RxJS cancels the previous duration before calling the selector). */
static int live_at_call;
static int d_spec_live(void *ctx, rill_value_t v, rill_observable_t **out) {
  if (dlive > live_at_call)
    live_at_call = dlive;
  return d_spec(ctx, v, out);
}

/* Durations that end while they are subscribed. */
static int d_just(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  (void)v;
  *out = rill_just(1, rill_value_int(0));
  return *out ? 0 : RILL_ENOMEM;
}
static int d_empty(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  (void)v;
  *out = rill_empty();
  return *out ? 0 : RILL_ENOMEM;
}

static int64_t v_int(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

/* Fails (RILL_EUSER) for the value 'c', else a duration of ctx's spec. */
static int fn_calls;
static int d_fail_c(void *ctx, rill_value_t v, rill_observable_t **out) {
  fn_calls++;
  if (v_int(v) == 'c')
    return RILL_EUSER;
  return d_spec(ctx, v, out);
}

/* Says yes with no observable: RILL_EINVAL. */
static int d_null(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  (void)v;
  *out = NULL;
  return 0;
}

/* Cancels the running recorder for the value 'b' (and still returns a
 * duration, which the operator must release). */
static int d_cancel_b(void *ctx, rill_value_t v, rill_observable_t **out) {
  fn_calls++;
  if (v_int(v) == 'b') {
    rill_subscription_cancel(cur->borrowed);
    rill_subscription_cancel(cur->borrowed);
  }
  return d_spec(ctx, v, out);
}

static const struct dspec X3 = {'x', 3};
static const struct dspec X4 = {'x', 4};
static const struct dspec X1 = {'x', 1};
static const struct dspec C1 = {'|', 1};
static const struct dspec C3 = {'|', 3};
static const struct dspec C5 = {'|', 5};
static const struct dspec C4_5 = {'|', 4.5};
static const struct dspec E2 = {'#', 2};
static const struct dspec NEVER = {'-', 0};

#define SPEC(s) ((void *)(uintptr_t) & (s))

static void setup(void) {
  vs = rill_sched_virtual_new();
  tl_owned_reset();
  dlog[0] = '\0';
  dlive = 0;
  ndsubs = 0;
  fn_calls = 0;
  memset(dsubs, 0, sizeof(dsubs));
}

static void teardown(void) {
  ck_assert_int_eq(dlive, 0); /* every duration subscription ended */
  for (int i = 0; i < ndsubs; i++)
    rill_sched_timer_free(dsubs[i].t);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
  ck_assert_owned_balanced();
}

#define ck_assert_dlog(want)                                                   \
  ck_assert_msg(strcmp(dlog, (want)) == 0,                                     \
                "durations: got \"%s\", want "                                 \
                "\"%s\"",                                                      \
                dlog, (want))

static rill_observable_t *dbw(rill_observable_t *src, rill_flat_map_fn fn,
                              const void *ctx) {
  return rill_debounce_with(src, fn, (void *)(uintptr_t)ctx, NULL);
}

/* ==== debounce_with =======================================================*/

START_TEST(debounce_with_newer_value_cancels_the_duration) {
  /* debounce-001: the duration of a value is cancelled by the next one */
  live_at_call = 0;
  expect(dbw(hot("-a----bc----d-ef----|"), d_spec_live, &X3),
         "4:a 10:c 18:f 20:|");
  ck_assert_dlog("1^ 4! 6^ 7! 7^ 10! 12^ 14! 14^ 15! 15^ 18!");
  ck_assert_int_eq(live_at_call, 0); /* cancelled before fn is called */
}
END_TEST

START_TEST(debounce_with_timer_durations) {
  /* debounce-002, -003 (getTimerSelector(2)) */
  expect(dbw(hot("--a--b--c--d---------|"), d_marble, "--x"),
         "4:a 7:b 10:c 13:d 21:|");
  expect(dbw(hot("--a--bc--d----|"), d_marble, "--x"), "4:a 8:c 11:d 14:|");
  /* debounce-015 (with 5 ms durations: on these cold timelines a duration
   * ending at the instant of the next value would fire first, where RxJS's
   * hot source goes first; the conformance runner checks that order) */
  expect(dbw(hot("---a---b---c---d---e|"), d_marble, "-----x"), "20:e 20:|");
}
END_TEST

START_TEST(debounce_with_silent_duration_keeps_the_value) {
  /* debounce-025: durations that complete without a value emit nothing;
   * the last value goes out at the source's completion */
  expect(dbw(hot("--------a--------b--------c---------|"), d_spec, &C1),
         "36:c 36:|");
  ck_assert_dlog("8^ 9! 17^ 18! 26^ 27!");
  /* debounce-023/-024: EMPTY and NEVER durations */
  expect(dbw(hot("--------a-x-yz---bxy---z--c--x--y--z|"), d_empty, NULL),
         "36:z 36:|");
  expect(dbw(hot("-a-b-c|"), d_spec, &NEVER), "6:c 6:|");
}
END_TEST

START_TEST(debounce_with_duration_emitting_several_values) {
  /* debounce-017: only a duration's first value counts; it is cancelled
   * right after */
  expect(dbw(hot("----a--b--c----d-----e-------|"), d_marble, "--x-y-"),
         "6:a 9:b 12:c 17:d 23:e 29:|");
}
END_TEST

START_TEST(debounce_with_duration_error_fails_the_stream) {
  /* debounce-020: the third duration fails */
  struct dseq q = {.m = {"-x-y-", "--x-y-", "---#", NULL}};
  expect(dbw(hot("--------a--------b--------c---------|"), d_seq, &q),
         "9:a 19:b 29:#");
  /* the pending value (owned) is released, the source cancelled */
  expect(dbw(owned("--a--b---|"), d_spec, &E2), "4:#");
  ck_assert_dlog("2^ 4!");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_completion_and_errors_of_the_source) {
  /* debounce-005..008 and -014 */
  expect(dbw(hot("-----|"), d_spec, &X3), "5:|");
  expect(dbw(marble_cold(vs, "|"), d_spec, &X3), "0:|");
  expect(dbw(hot("-----#"), d_spec, &X3), "5:#");
  expect(dbw(marble_cold(vs, "#"), d_spec, &X3), "0:#");
  expect(dbw(hot("--a--b--c--d---------#"), d_marble, "--x"),
         "4:a 7:b 10:c 13:d 21:#");
  /* a pending value at completion goes out at once, its duration is
   * cancelled; at an error it is released */
  dlog[0] = '\0';
  expect(dbw(owned("-a-b|"), d_spec, &X3), "4:b 4:|");
  ck_assert_dlog("1^ 3! 3^ 4!");
  dlog[0] = '\0';
  expect(dbw(owned("-a-b#"), d_spec, &X3), "4:#");
  ck_assert_dlog("1^ 3! 3^ 4!");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_synchronous_durations_mirror) {
  /* debounce-004: of(0) emits while subscribed: every value passes */
  expect(dbw(hot("--a--bc--d----|"), d_just, NULL), "2:a 5:b 6:c 9:d 14:|");
  /* a long synchronous run: no stack growth per value, one at a time */
  int64_t n = tl_scaled(200000);
  struct trec r = {.in_next = 1};
  rill_observable_t *o = dbw(rill_range(0, n), d_just, NULL);
  t_start(&r, o, 1);
  t_stop(&r);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminals, 1);
  rill_observable_free(o);
}
END_TEST

START_TEST(debounce_with_unsubscribed_early) {
  /* debounce-009, -010 (identity stages for the mergeMaps) */
  run_to(dbw(hot("--a--bc--d----|"), d_marble, "--x"), 20, 7, "4:a");
  dlog[0] = '\0';
  run_to(dbw(hot("--a--bc--d----|"), d_spec, &X3), 20, 8, "5:a");
  ck_assert_dlog("2^ 5! 5^ 6! 6^ 8!"); /* the live duration is cancelled */
}
END_TEST

START_TEST(debounce_with_function_failures) {
  /* fn fails for 'c' (debounce-022): the stream fails with fn's code at
   * that instant, the owned values held are released */
  struct trec r = {0};
  rill_observable_t *o = dbw(owned("-a-b-c-d|"), d_fail_c, &X3);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "5:#");
  ck_assert_int_eq(r.code, RILL_EUSER);
  ck_assert_int_eq(fn_calls, 3); /* not called after the failure */
  ck_assert_dlog("1^ 3! 3^ 5!");
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* yes with no observable: RILL_EINVAL */
  o = dbw(owned("-a-b|"), d_null, NULL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:#");
  ck_assert_int_eq(r.code, RILL_EINVAL);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_cancel_inside_fn) {
  struct trec r = {0};
  rill_observable_t *o = dbw(owned("-a-b-c|"), d_cancel_b, &X3);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, ""); /* nothing after the cancel */
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_int_eq(fn_calls, 2);
  ck_assert_dlog("1^ 3!"); /* b's duration was never subscribed */
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_cancel_inside_on_next) {
  /* cancel in the first on_next, with the next value's duration live */
  struct trec r = {.cancel_at = 1};
  rill_observable_t *o = dbw(owned("-a-(bc)-d|"), d_spec, &X1);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "2:a");
  ck_assert_int_eq(r.terminals, 0);
  ck_assert_dlog("1^ 2!");
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* a synchronous duration: the cancel lands inside its subscription */
  r = (struct trec){.cancel_at = 2};
  o = dbw(owned("-a-b-c|"), d_just, NULL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a 3:b");
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_overflow_policies) {
  /* nothing requested: LATEST holds the newest due value until a request,
   * and completion waits for it */
  struct trec r = {0};
  rill_observable_t *o = dbw(owned("-a-b-c|"), d_just, NULL);
  t_start(&r, o, 0);
  rill_sched_advance_to(vs, 10);
  ck_assert_text(&r, "");
  t_request(&r, 1);
  ck_assert_text(&r, "10:c 10:|");
  t_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* DROP: lost, completion at once */
  o = rill_debounce_with(owned("-a-b-c|"), d_just, NULL,
                         OVF(RILL_OVERFLOW_DROP));
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "6:|");
  t_stop(&r);
  rill_observable_free(o);
  /* ERROR: the first due value fails the stream, its duration and the
   * source are cancelled */
  dlog[0] = '\0';
  o = rill_debounce_with(owned("-a-b-c|"), d_spec, SPEC(X1),
                         OVF(RILL_OVERFLOW_ERROR));
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "2:#");
  ck_assert_int_eq(r.code, RILL_EOVERFLOW);
  t_stop(&r);
  ck_assert_dlog("1^ 2!");
  rill_observable_free(o);
  /* demand one at a time: every value that is due when requested */
  r = (struct trec){.in_next = 1};
  o = dbw(owned("-a-b-c|"), d_spec, &X1);
  t_start(&r, o, 1);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "2:a 4:b 6:c 6:|");
  t_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(debounce_with_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_debounce_with(owned("-a|"), NULL, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(
      rill_debounce_with(owned("-a|"), d_just, NULL, OVF((rill_overflow_t)9)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_debounce_with(NULL, d_just, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  rill_observable_t *o = rill_debounce_with(rill_never(), d_just, NULL, NULL);
  ck_assert_str_eq(rill_observable_name(o), "debounce_with");
  rill_observable_free(o);
}
END_TEST

/* ==== throttle_with =======================================================*/

static const rill_throttle_opts_t BOTH = {.edges = RILL_THROTTLE_LEADING |
                                                   RILL_THROTTLE_TRAILING};
static const rill_throttle_opts_t TRAIL = {.edges = RILL_THROTTLE_TRAILING};

static rill_observable_t *thw(rill_observable_t *src, rill_flat_map_fn fn,
                              const void *ctx,
                              const rill_throttle_opts_t *opts) {
  return rill_throttle_with(src, fn, (void *)(uintptr_t)ctx, opts);
}

START_TEST(throttle_with_leading) {
  /* throttle-001: the window lasts until the duration emits, and the
   * duration is cancelled then */
  expect(thw(hot("-a-xy-----b--x--cxyz-|"), d_spec, &X4, NULL),
         "1:a 10:b 16:c 21:|");
  ck_assert_dlog("1^ 5! 10^ 14! 16^ 20!");
  /* throttle-002: a completing duration closes the window too */
  expect(thw(hot("-a--------b-----c----|"), d_marble, "----|", NULL),
         "1:a 10:b 16:c 21:|");
  /* throttle-006, with 4.5 ms windows (ties between a window's end and a
   * value: see debounce_with_timer_durations) */
  expect(thw(hot("abcdefabcdefabcdefabcdefa|"), d_spec, &C4_5, NULL),
         "0:a 5:f 10:e 15:d 20:c 25:|");
  /* throttle-012's shape: durations of varying lengths */
  struct dseq q = {.m = {"---|", "-----|", "-|", "-|", NULL}};
  expect(thw(hot("-a-b-c-d-e-f-g-|"), d_seq, &q, NULL),
         "1:a 5:c 11:f 13:g 15:|");
}
END_TEST

START_TEST(throttle_with_leading_and_trailing) {
  /* throttle-020: a trailing value opens the next window */
  expect(thw(hot("-a-xy-----b--x--cxxx------|"), d_spec, &X4, &BOTH),
         "1:a 5:y 10:b 14:x 18:x 22:x 26:|");
  /* a duration that fires is cancelled (rill_create runs its end() when
   * its emitter call returns, so after the next window's start) */
  ck_assert_dlog("1^ 5^ 5! 9! 10^ 14^ 14! 18^ 18! 22^ 22! 26!");
  /* throttle-022: completion waits for the trailing value */
  expect(thw(hot("-a--------xy|"), d_spec, &X4, &BOTH), "1:a 10:x 14:y 14:|");
  /* throttle-021: nothing kept: completion at once, the window cancelled */
  dlog[0] = '\0';
  expect(thw(hot("-x------------------|"), d_marble,
             "------------------------|", &BOTH),
         "1:x 20:|");
}
END_TEST

START_TEST(throttle_with_trailing_only) {
  /* throttle-023 */
  expect(thw(hot("-a-xy-----b--x--cxxx------|"), d_spec, &X4, &TRAIL),
         "5:y 14:x 18:x 22:x 26:|");
  /* throttle-024, -025: completion waits for a long window */
  expect(thw(hot("-x------------------|"), d_marble,
             "------------------------x", &TRAIL),
         "25:x 25:|");
  /* throttle-026..028 */
  expect(thw(hot("-a--------x|"), d_spec, &X4, &TRAIL), "5:a 14:x 14:|");
  expect(thw(hot("-a--------xy|"), d_spec, &X4, &TRAIL), "5:a 14:y 14:|");
  expect(thw(hot("-a-----|"), d_spec, &X4, &TRAIL), "5:a 7:|");
}
END_TEST

START_TEST(throttle_with_silent_duration_has_no_trailing) {
  /* a duration that completes ends its window without the trailing value;
   * the next value opens a window and is sent (leading) */
  expect(thw(owned("-a-b-----c|"), d_spec, &C3, &BOTH), "1:a 9:c 10:|");
  ck_assert_dlog("1^ 4! 9^ 10!");
  /* the source completed with a value kept: the silent end completes
   * without it (RxJS 7), and the kept value is released */
  dlog[0] = '\0';
  expect(thw(owned("-a-b|"), d_spec, &C5, &BOTH), "1:a 6:|");
  ck_assert_dlog("1^ 6!");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(throttle_with_synchronous_and_never_durations) {
  /* throttle-007, -008: a duration that ends while subscribed opens no
   * window */
  expect(thw(hot("abcdefabcdefabcdefabcdefa|"), d_just, NULL, NULL),
         "0:a 1:b 2:c 3:d 4:e 5:f 6:a 7:b 8:c 9:d 10:e 11:f 12:a 13:b 14:c "
         "15:d 16:e 17:f 18:a 19:b 20:c 21:d 22:e 23:f 24:a 25:|");
  expect(thw(hot("-a-b-c|"), d_empty, NULL, &BOTH), "1:a 3:b 5:c 6:|");
  /* throttle-009: a never duration: only the first value */
  expect(thw(hot("----abcdefabcdefabcdefabcdefa|"), d_spec, &NEVER, NULL),
         "4:a 29:|");
  ck_assert_dlog("4^ 29!");
}
END_TEST

START_TEST(throttle_with_errors) {
  /* throttle-010: a source error cancels the live duration */
  expect(thw(hot("----abcdefabcdefabcdefabcdefa#"), d_spec, &NEVER, NULL),
         "4:a 29:#");
  ck_assert_dlog("4^ 29!");
  /* throttle-011: a duration that fails at once, after the value went */
  expect(thw(hot("----abcdefabcdefabcdefabcdefa|"), d_marble, "#", NULL),
         "4:a 4:#");
  /* throttle-013's shape: a later duration fails */
  struct dseq q = {.m = {"--|", "--|", "-#", NULL}};
  expect(thw(hot("-a--b--c--d|"), d_seq, &q, NULL), "1:a 4:b 7:c 8:#");
  /* a trailing value kept when the duration fails is released */
  dlog[0] = '\0';
  expect(thw(owned("-a-b----"), d_spec, &E2, &BOTH), "1:a 3:#");
  ck_assert_dlog("1^ 3!");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(throttle_with_function_failures) {
  /* throttle-014: fn fails after its value went downstream */
  struct trec r = {0};
  rill_observable_t *o = thw(owned("-a-b-c-d|"), d_fail_c, &X1, NULL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a 3:b 5:c 5:#");
  ck_assert_int_eq(r.code, RILL_EUSER);
  ck_assert_int_eq(fn_calls, 3);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* trailing only: fn sees the kept value, which is released */
  o = thw(owned("-c-d|"), d_fail_c, &X1, &TRAIL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:#");
  rill_observable_free(o);
  o = thw(owned("-a-b|"), d_null, NULL, NULL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a 1:#");
  ck_assert_int_eq(r.code, RILL_EINVAL);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(throttle_with_cancels) {
  /* throttle-004, -005: unsubscribed early, the live duration too */
  run_to(thw(hot("-a-x-y-z-xyz-x-y-z----b--x-x-|"), d_spec, &NEVER, NULL), 30,
         14, "1:a");
  ck_assert_dlog("1^ 14!");
  /* cancel inside fn: the value went, nothing after */
  struct trec r = {0};
  dlog[0] = '\0';
  rill_observable_t *o = thw(owned("-a---b-c|"), d_cancel_b, &X1, NULL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a 5:b");
  ck_assert_int_eq(fn_calls, 2);
  ck_assert_dlog("1^ 2!");
  rill_observable_free(o);
  /* cancel inside fn, trailing only: the kept value is released */
  fn_calls = 0;
  o = thw(owned("-a---b-c|"), d_cancel_b, &X1, &TRAIL);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "2:a");
  ck_assert_int_eq(fn_calls, 3); /* a, a again when it went, b */
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* cancel inside on_next: fn is not called for the cancelled value */
  fn_calls = 0;
  r = (struct trec){.cancel_at = 2};
  o = thw(owned("-a--b--c|"), d_fail_c, &X1, &BOTH);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a 4:b");
  ck_assert_int_eq(fn_calls, 1);
  rill_observable_free(o);
  /* ... and a trailing value kept when cancelled is released */
  r = (struct trec){0};
  o = thw(owned("-a(bc)-d|"), d_spec, &X4, &BOTH);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_advance_to(vs, r.t0 + 3);
  rill_subscription_cancel(r.sub);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "1:a");
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(throttle_with_overflow_policies) {
  /* LATEST: values due without demand, the newest held */
  struct trec r = {0};
  rill_observable_t *o = thw(owned("-a-b-c|"), d_just, NULL, NULL);
  t_start(&r, o, 0);
  rill_sched_advance_to(vs, 10);
  t_request(&r, 5);
  ck_assert_text(&r, "10:c 10:|");
  t_stop(&r);
  rill_observable_free(o);
  /* DROP */
  o = thw(owned("-a-b-c|"), d_just, NULL,
          &(rill_throttle_opts_t){.overflow = RILL_OVERFLOW_DROP});
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "6:|");
  t_stop(&r);
  rill_observable_free(o);
  /* ERROR: fn is not called for the value that failed the stream */
  fn_calls = 0;
  o = thw(owned("-a-b-c|"), d_fail_c, &X1,
          &(rill_throttle_opts_t){.overflow = RILL_OVERFLOW_ERROR});
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "1:#");
  ck_assert_int_eq(r.code, RILL_EOVERFLOW);
  ck_assert_int_eq(fn_calls, 0);
  t_stop(&r);
  rill_observable_free(o);
  /* one at a time, trailing: completion waits for demand */
  o = thw(owned("-a(bc)---|"), d_spec, &X1, &BOTH);
  t_start(&r, o, 1);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "1:a");
  t_request(&r, 1);
  ck_assert_text(&r, "1:a 9:c 9:|");
  t_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(throttle_with_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_throttle_with(owned("-a|"), NULL, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_throttle_with(
      owned("-a|"), d_just, NULL, &(rill_throttle_opts_t){.edges = 1u << 4}));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_throttle_with(
      owned("-a|"), d_just, NULL,
      &(rill_throttle_opts_t){.overflow = (rill_overflow_t)17}));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_throttle_with(NULL, d_just, NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  rill_observable_t *o = rill_throttle_with(rill_never(), d_just, NULL, NULL);
  ck_assert_str_eq(rill_observable_name(o), "throttle_with");
  rill_observable_free(o);
}
END_TEST

/* ==== sample_with =========================================================*/

static rill_observable_t *smw(rill_observable_t *src,
                              rill_observable_t *notifier) {
  return rill_sample_with(src, notifier, NULL);
}

START_TEST(sample_with_samples_at_each_notifier_value) {
  /* sample-001 */
  expect(smw(hot("---a----b---c----------d-----|"),
             hot("-----x----------x---x------x---|")),
         "5:a 16:c 27:d 29:|");
  /* sample-002, -003: nothing before the first value */
  expect(smw(hot("----a-^------------|"), hot("-----x-------|")), "13:|");
  expect(smw(hot("----a-^------b-----|"), hot("-----x--------")), "13:|");
  /* sample-009: a value is sampled once, even if equal to the last */
  expect(smw(hot("----a----b----c----c----e----f----|"),
             hot("------x-x------xx-x---x----x--------|")),
         "6:a 15:c 22:c 27:e 34:|");
}
END_TEST

START_TEST(sample_with_notifier_completion_changes_nothing) {
  /* sample-004..006, -016 */
  expect(smw(hot("----a-^------b----------|"), hot("-----x-----|")), "18:|");
  run_to(smw(hot("----a----b----c----d----e----f----"), hot("------x-|")), 40,
         36, "6:a");
  expect(smw(hot("----a----b----c----d----e----f---|"), hot("------x-|")),
         "6:a 33:|");
  expect(smw(hot("----a----b----c----d-|"), marble_cold(vs, "|")), "21:|");
}
END_TEST

START_TEST(sample_with_errors) {
  /* sample-010, -012, -013: either error ends the stream and cancels the
   * other (no timer left) */
  expect(smw(hot("----a-^--b----c----d----#"), hot("-----x----------x-----")),
         "5:b 16:d 18:#");
  expect(smw(marble_cold(vs, "#"), hot("------x-------|")), "0:#");
  expect(smw(hot("--a-----|"), hot("----#")), "4:#");
  /* the unsampled value (owned) is released */
  expect(smw(owned("-a-b---"), hot("--x-#")), "2:a 4:#");
  expect(smw(owned("-a-b-#"), hot("--x----x|")), "2:a 5:#");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(sample_with_completion) {
  /* sample-011, -014, -015: the source decides; no final sample */
  expect(smw(marble_cold(vs, "|"), hot("------x-------|")), "0:|");
  run_to(smw(hot("---------------"), hot("------x-------|")), 30, 20, "");
  expect(smw(hot("----a----b----c----d-|"),
             hot("-----------x----------x------------|")),
         "11:b 21:|");
  expect(smw(owned("-a-b-|"), hot("--x-------")), "2:a 5:|");
  /* a synchronous source completes before the notifier is subscribed */
  struct trec r = {0};
  long made = tl_owned_made;
  rill_observable_t *n = rill_just(1, tl_owned(7));
  rill_observable_t *o = smw(rill_range(0, 3), n);
  t_start(&r, o, RILL_UNBOUNDED);
  t_stop(&r);
  ck_assert_text(&r, "0:|");
  rill_observable_free(o); /* and the notifier recipe with it */
  ck_assert_owned_balanced();
  ck_assert_int_eq(tl_owned_made, made + 1);
}
END_TEST

START_TEST(sample_with_unsubscribed_early) {
  /* sample-007, -008 */
  run_to(smw(hot("----a-^--b----c----d----e----f----|"),
             hot("-----x----------x----------x----------|")),
         30, 14, "5:b");
  run_to(smw(owned("-a-b-c"), hot("--x-x-x-x")), 20, 3, "2:a");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(sample_with_cancel_inside_on_next) {
  struct trec r = {.cancel_at = 1};
  rill_observable_t *o = smw(owned("-a-b-c-d-"), hot("--x---x---x"));
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "2:a");
  ck_assert_int_eq(rill_sched_active(vs), 0); /* both cancelled */
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(sample_with_overflow_policies) {
  /* LATEST: a sample due without demand is held; completion waits */
  struct trec r = {0};
  rill_observable_t *o = smw(owned("-a--b|"), hot("--x-----"));
  t_start(&r, o, 0);
  rill_sched_advance_to(vs, 10);
  ck_assert_text(&r, "");
  t_request(&r, 1);
  ck_assert_text(&r, "10:a 10:|");
  t_stop(&r);
  rill_observable_free(o);
  /* DROP and ERROR */
  o = rill_sample_with(owned("-a--b|"), hot("--x-----"),
                       OVF(RILL_OVERFLOW_DROP));
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "5:|");
  t_stop(&r);
  rill_observable_free(o);
  o = rill_sample_with(owned("-a--b|"), hot("--x-----"),
                       OVF(RILL_OVERFLOW_ERROR));
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "2:#");
  ck_assert_int_eq(r.code, RILL_EOVERFLOW);
  t_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(sample_with_bad_arguments) {
  errno = 0;
  ck_assert_ptr_null(rill_sample_with(owned("-a|"), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_sample_with(owned("-a|"), rill_just(1, tl_owned(1)),
                                      OVF((rill_overflow_t)-3)));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_sample_with(NULL, rill_just(1, tl_owned(2)), NULL));
  ck_assert_int_eq(errno, EINVAL);
  /* a failed constructor's NULL keeps its ENOMEM */
  errno = ENOMEM;
  ck_assert_ptr_null(rill_sample_with(owned("-a|"), NULL, NULL));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_owned_balanced();
  rill_observable_t *o = rill_sample_with(rill_never(), rill_never(), NULL);
  ck_assert_str_eq(rill_observable_name(o), "sample_with");
  rill_observable_free(o);
}
END_TEST

/* ==== buffer_time: creation interval and maximum size =====================*/

static rill_observable_t *btm(rill_observable_t *src, double span,
                              double creation, size_t max) {
  return rill_buffer_time(
      src, vs, span,
      &(rill_buffer_time_opts_t){.creation_ms = creation, .max_size = max});
}

START_TEST(buffer_time_max_size) {
  /* bufferTime-003, -004: a full buffer goes at once, and the next span
   * starts then */
  expect(btm(hot("---a---b---c---d---e---f---g----|"), 10, 0, 2),
         "7:[a,b] 15:[c,d] 23:[e,f] 32:[g] 32:|");
  expect(btm(hot("---a---b---c---d---e---f---g-----|"), 10, 0, 3),
         "10:[a,b] 19:[c,d,e] 29:[f,g] 33:[] 33:|");
  /* bufferTime-017 */
  expect(rill_take(btm(rill_interval(vs, 1, NULL), 5, 0, 10), 5),
         "5:[0,1,2,3] 10:[4,5,6,7,8] 15:[9,10,11,12,13] "
         "20:[14,15,16,17,18] 25:[19,20,21,22,23] 25:|");
  /* an infinite span: by size, and at completion */
  expect(btm(hot("-a-b-c|"), INFINITY, 0, 2), "3:[a,b] 6:[c] 6:|");
}
END_TEST

START_TEST(buffer_time_creation_interval_overlaps) {
  /* bufferTime-005: span 21, a buffer every 20 */
  expect(
      btm(hot("---a---b---c----d----e----f----g----h----i----(k|)"), 21, 20, 0),
      "21:[a,b,c,d,e] 41:[e,f,g,h,i] 46:[i,k] 46:|");
  /* bufferTime-006: and at most 4 values */
  expect(
      btm(hot("---a---b---c----d----e----f----g----h----i----(k|)"), 21, 20, 4),
      "16:[a,b,c,d] 36:[e,f,g,h] 46:[i,k] 46:|");
  /* bufferTime-007: span 10, a buffer every 7 */
  expect(btm(hot("--1--^2--3---4---5--6--7---8----9------------|"), 10, 7, 0),
         "10:[2,3,4] 17:[4,5,6] 24:[6,7,8] 31:[8,9] 38:[] 40:[] 40:|");
  /* bufferTime-008, -015: an error drops the open buffers */
  expect(btm(hot("--1--^2--3---4---5--6--7---8----9------------#"), 10, 7, 0),
         "10:[2,3,4] 17:[4,5,6] 24:[6,7,8] 31:[8,9] 38:[] 40:#");
  /* bufferTime-009: unsubscribed early */
  run_to(btm(hot("--1--^2--3---4---5--6--7---8----9------------|"), 10, 7, 0),
         50, 16, "10:[2,3,4]");
  /* two buffers full at the same value: the oldest first */
  expect(btm(hot("----(ab)c-|"), 10, 3, 2),
         "4:[a,b] 4:[a,b] 10:[c] 10:[] 10:|");
}
END_TEST

START_TEST(buffer_time_creation_interval_gaps) {
  /* a span shorter than the interval: values between buffers are
   * released */
  expect(btm(owned("-a--b-c----d|"), 3, 10, 0), "3:[a] 12:[d] 12:|");
  /* an infinite interval: only the first buffer */
  expect(btm(owned("-a---b-c|"), 5, INFINITY, 0), "5:[a] 8:|");
  /* an infinite interval and span: one buffer, emitted at completion */
  expect(btm(owned("-a---b-c|"), INFINITY, INFINITY, 0), "8:[a,b,c] 8:|");
  ck_assert_owned_balanced();
  ck_assert_int_eq(tl_owned_made, 10);
}
END_TEST

START_TEST(buffer_time_overlapping_owned_values_released_once) {
  /* a value in k open buffers is held k times; complete, error, cancel */
  expect(btm(owned("-a-b-c-d-|"), 6, 2, 0),
         "6:[a,b,c] 8:[b,c,d] 9:[c,d] 9:[d] 9:[] 9:|");
  ck_assert_owned_balanced();
  expect(btm(owned("-a-b-c-d-#"), 6, 2, 0), "6:[a,b,c] 8:[b,c,d] 9:#");
  ck_assert_owned_balanced();
  run_to(btm(owned("-a-b-c-d|"), 6, 2, 0), 20, 7, "6:[a,b,c]");
  ck_assert_owned_balanced();
  /* cancel inside on_next, with buffers open */
  struct trec r = {.cancel_at = 1};
  rill_observable_t *o = btm(owned("-a-b-c-d-e"), 6, 2, 0);
  t_start(&r, o, RILL_UNBOUNDED);
  rill_sched_run(vs, 0);
  t_stop(&r);
  ck_assert_text(&r, "6:[a,b,c]");
  rill_observable_free(o);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_time_uses_one_timer_with_overlaps) {
  struct trec r = {0};
  rill_observable_t *o = btm(rill_never(), 10, 3, 0);
  t_start(&r, o, RILL_UNBOUNDED);
  for (int i = 0; i < 40; i++) {
    ck_assert_int_eq(rill_sched_active(vs), 1);
    rill_sched_advance_by(vs, 1);
  }
  /* buffers open at 0, 3, ..., 39; those opened up to 30 have ended */
  ck_assert_int_eq(r.nexts, 11);
  t_stop(&r);
  ck_assert_int_eq(rill_sched_active(vs), 0);
  rill_observable_free(o);
}
END_TEST

START_TEST(buffer_time_latest_keeps_the_newest_of_several) {
  /* nothing requested: the buffers closing at completion replace one
   * another in the held slot; the newest is delivered */
  struct trec r = {0};
  rill_observable_t *o = btm(owned("-a-b-(c|)"), 10, 2, 0);
  t_start(&r, o, 0);
  rill_sched_run(vs, 0);
  ck_assert_text(&r, "");
  t_request(&r, 3);
  ck_assert_text(&r, "5:[c] 5:|");
  t_stop(&r);
  rill_observable_free(o);
  ck_assert_owned_balanced();
  /* with demand for each, all of them, oldest first */
  expect(btm(owned("-a-b-(c|)"), 10, 2, 0), "5:[a,b,c] 5:[b,c] 5:[c] 5:|");
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(buffer_time_bad_creation_interval) {
  double bad[] = {-1, NAN, -INFINITY};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    ck_assert_ptr_null(btm(owned("-a|"), 10, bad[i], 0));
    ck_assert_int_eq(errno, EINVAL);
  }
  ck_assert_owned_balanced();
}
END_TEST

Suite *notifier_suite(void) {
  Suite *s = suite_create("notifier");
  TCase *tc = tcase_create("debounce_with");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, debounce_with_newer_value_cancels_the_duration);
  tcase_add_test(tc, debounce_with_timer_durations);
  tcase_add_test(tc, debounce_with_silent_duration_keeps_the_value);
  tcase_add_test(tc, debounce_with_duration_emitting_several_values);
  tcase_add_test(tc, debounce_with_duration_error_fails_the_stream);
  tcase_add_test(tc, debounce_with_completion_and_errors_of_the_source);
  tcase_add_test(tc, debounce_with_synchronous_durations_mirror);
  tcase_add_test(tc, debounce_with_unsubscribed_early);
  tcase_add_test(tc, debounce_with_function_failures);
  tcase_add_test(tc, debounce_with_cancel_inside_fn);
  tcase_add_test(tc, debounce_with_cancel_inside_on_next);
  tcase_add_test(tc, debounce_with_overflow_policies);
  tcase_add_test(tc, debounce_with_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("throttle_with");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, throttle_with_leading);
  tcase_add_test(tc, throttle_with_leading_and_trailing);
  tcase_add_test(tc, throttle_with_trailing_only);
  tcase_add_test(tc, throttle_with_silent_duration_has_no_trailing);
  tcase_add_test(tc, throttle_with_synchronous_and_never_durations);
  tcase_add_test(tc, throttle_with_errors);
  tcase_add_test(tc, throttle_with_function_failures);
  tcase_add_test(tc, throttle_with_cancels);
  tcase_add_test(tc, throttle_with_overflow_policies);
  tcase_add_test(tc, throttle_with_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("sample_with");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, sample_with_samples_at_each_notifier_value);
  tcase_add_test(tc, sample_with_notifier_completion_changes_nothing);
  tcase_add_test(tc, sample_with_errors);
  tcase_add_test(tc, sample_with_completion);
  tcase_add_test(tc, sample_with_unsubscribed_early);
  tcase_add_test(tc, sample_with_cancel_inside_on_next);
  tcase_add_test(tc, sample_with_overflow_policies);
  tcase_add_test(tc, sample_with_bad_arguments);
  suite_add_tcase(s, tc);
  tc = tcase_create("buffer_time");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, buffer_time_max_size);
  tcase_add_test(tc, buffer_time_creation_interval_overlaps);
  tcase_add_test(tc, buffer_time_creation_interval_gaps);
  tcase_add_test(tc, buffer_time_overlapping_owned_values_released_once);
  tcase_add_test(tc, buffer_time_uses_one_timer_with_overlaps);
  tcase_add_test(tc, buffer_time_latest_keeps_the_newest_of_several);
  tcase_add_test(tc, buffer_time_bad_creation_interval);
  suite_add_tcase(s, tc);
  return s;
}
