/* SPDX-License-Identifier: MIT */
/* rill tests: subjects (plain, behavior, replay) and share -- the hot
 * sources, and the kit's multicast hub under them.
 *
 * Virtual-time timelines: a subject is fed from a marble timeline (a
 * subscriber that pushes what it receives), and each subscriber records
 * its signals with their times relative to its own subscription, so the
 * assertions are marbles (tests/marble.h; '<t>' sets the time).
 * Subscribers may subscribe, request and cancel at given instants (timers
 * on the virtual clock).  Values are ints, or owned values (tl_owned)
 * where the test is about references: each owned value is made once,
 * however many subscribers receive it, and released exactly once.
 *
 * Re-entrancy: pushing, completing, subscribing and cancelling (itself or
 * another) from inside on_next, with the order every subscriber sees.
 * ENOMEM: every allocation site of a subject scenario and of share
 * scenarios, one at a time. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

/* ---- a timeline subscriber ------------------------------------------------*/

#define TS_MAX 256

typedef struct tsub tsub_t;
struct tsub {
  rill_sched_t *s; /* NULL: times are 0 */
  double t0;       /* subscription time */
  rill_subscription_t *sub;
  int64_t request_on_subscribe;
  int64_t request_in_next;
  bool cancel_on_subscribe;
  /* called inside on_next, after recording, with the value's int */
  void (*hook)(tsub_t *t, int64_t x);
  void *hook_ctx;
  /* observations */
  int subscribes;
  int64_t requested, nexts;
  int depth;
  int terminals;
  enum rec_terminal terminal;
  rill_error_t err;
  bool cancelled;
  bool released; /* on_release ran */
  int violations;
  char violation[128];
  int64_t v[TS_MAX];
  marble_result_t mr;
};

static void ts_violate(tsub_t *t, const char *what) {
  if (t->violations++ == 0)
    snprintf(t->violation, sizeof(t->violation), "%s", what);
}

static double ts_now(const tsub_t *t) {
  return t->s != NULL ? rill_sched_now(t->s) : 0;
}

static bool ts_usable(const tsub_t *t) {
  return t->sub != NULL && t->terminal == REC_NONE && !t->cancelled;
}

static void ts_request(tsub_t *t, int64_t n) {
  if (!ts_usable(t))
    return;
  t->requested = t->requested > INT64_MAX - n ? INT64_MAX : t->requested + n;
  rill_subscription_request(t->sub, n);
}

static void ts_cancel(tsub_t *t) {
  if (!ts_usable(t))
    return;
  t->cancelled = true;
  rill_subscription_cancel(t->sub);
}

static void ts_event(tsub_t *t, char kind, int64_t x) {
  marble_result_t *r = &t->mr;
  if (r->n == MARBLE_MAX_EVENTS) {
    r->truncated = true;
    return;
  }
  r->ev[r->n++] =
      (marble_event_t){.at = ts_now(t) - t->t0, .kind = kind, .value = x};
  marble_render(r->ev, r->n, r->text, sizeof(r->text));
}

static int64_t value_int(rill_value_t v) {
  if (v.kind == RILL_KIND_OWNED)
    return tl_owned_int(v);
  return v.kind == RILL_KIND_INT ? v.as.i : INT64_MIN;
}

static void ts_on_subscribe(void *ctx, rill_subscription_t *s) {
  tsub_t *t = ctx;
  if (t->subscribes++ > 0)
    ts_violate(t, "second on_subscribe");
  t->sub = s;
  if (t->cancel_on_subscribe) {
    t->cancelled = true;
    rill_subscription_cancel(s);
    return;
  }
  if (t->request_on_subscribe > 0)
    ts_request(t, t->request_on_subscribe);
}

static void ts_on_next(void *ctx, rill_value_t v) {
  tsub_t *t = ctx;
  if (t->subscribes == 0)
    ts_violate(t, "on_next before on_subscribe");
  if (t->terminal != REC_NONE)
    ts_violate(t, "on_next after terminal");
  if (t->cancelled)
    ts_violate(t, "on_next after cancel");
  if (t->nexts >= t->requested)
    ts_violate(t, "on_next beyond demand");
  if (t->depth > 0)
    ts_violate(t, "on_next nested in on_next");
  t->depth++;
  int64_t x = value_int(v);
  if (t->nexts < TS_MAX)
    t->v[t->nexts] = x;
  t->nexts++;
  ts_event(t, 'n', x);
  rill_value_release(v);
  if (t->hook != NULL)
    t->hook(t, x);
  if (t->request_in_next > 0)
    ts_request(t, t->request_in_next);
  t->depth--;
}

static void ts_terminal(tsub_t *t, enum rec_terminal kind) {
  if (t->terminal != REC_NONE)
    ts_violate(t, "second terminal");
  if (t->cancelled)
    ts_violate(t, "terminal after cancel");
  if (t->depth > 0)
    ts_violate(t, "terminal inside on_next");
  t->terminal = kind;
  t->terminals++;
}

static void ts_on_error(void *ctx, const rill_error_t *err) {
  tsub_t *t = ctx;
  ts_terminal(t, REC_ERROR);
  t->err = *err;
  ts_event(t, '#', 0);
}

static void ts_on_complete(void *ctx) {
  tsub_t *t = ctx;
  ts_terminal(t, REC_COMPLETE);
  ts_event(t, '|', 0);
}

static void ts_on_release(void *ctx) {
  tsub_t *t = ctx;
  if (t->released)
    ts_violate(t, "on_release twice");
  t->released = true;
}

static const rill_subscriber_t ts_subscriber = {
    .on_subscribe = ts_on_subscribe,
    .on_next = ts_on_next,
    .on_error = ts_on_error,
    .on_complete = ts_on_complete,
    .on_release = ts_on_release,
};

static void ts_init(tsub_t *t, rill_sched_t *s, int64_t request) {
  memset(t, 0, sizeof(*t));
  t->s = s;
  t->request_on_subscribe = request;
}

static int ts_subscribe(tsub_t *t, rill_observable_t *obs) {
  t->t0 = ts_now(t);
  return rill_observable_subscribe(obs, &ts_subscriber, t, NULL);
}

#define ck_assert_ts_ok(t)                                                     \
  ck_assert_msg((t)->violations == 0, "protocol violation: %s", (t)->violation)

/* With a clock: the marbles frame by frame.  Without one (every event at
 * 0): the sequence of events alone, so "12|" reads as it is meant. */
static int ts_match(const tsub_t *t, const char *want, char *msg, size_t cap) {
  if (t->s != NULL)
    return marble_match(&t->mr, want, msg, cap);
  marble_event_t ev[MARBLE_MAX_EVENTS];
  int n = marble_parse(want, ev, MARBLE_MAX_EVENTS);
  bool same = n == (int)t->mr.n;
  for (int i = 0; same && i < n; i++)
    same = ev[i].kind == t->mr.ev[i].kind &&
           (ev[i].kind != 'n' || ev[i].value == t->mr.ev[i].value);
  if (!same)
    snprintf(msg, cap, "want %s, got %s", want, t->mr.text);
  return same;
}

#define ck_assert_ts(t, want)                                                  \
  do {                                                                         \
    char tsmsg_[1024];                                                         \
    ck_assert_ts_ok(t);                                                        \
    ck_assert_msg(ts_match((t), (want), tsmsg_, sizeof(tsmsg_)), "%s",         \
                  tsmsg_);                                                     \
  } while (0)

/* ---- scheduled actions on the virtual clock
 * --------------------------------*/

enum act_kind { ACT_SUBSCRIBE, ACT_CANCEL, ACT_REQUEST };

struct act {
  rill_sched_timer_t *timer;
  enum act_kind kind;
  tsub_t *t;
  rill_observable_t *obs;
  int64_t n;
};

#define ACT_MAX 16
static struct act acts[ACT_MAX];
static int nacts;

static void act_fire(rill_sched_timer_t *timer, void *arg) {
  (void)timer;
  struct act *a = arg;
  switch (a->kind) {
  case ACT_SUBSCRIBE:
    ck_assert_int_eq(ts_subscribe(a->t, a->obs), 0);
    break;
  case ACT_CANCEL:
    ts_cancel(a->t);
    break;
  case ACT_REQUEST:
    ts_request(a->t, a->n);
    break;
  }
}

static void at(rill_sched_t *s, double when, enum act_kind kind, tsub_t *t,
               rill_observable_t *obs, int64_t n) {
  ck_assert_int_lt(nacts, ACT_MAX);
  struct act *a = &acts[nacts++];
  *a = (struct act){.kind = kind, .t = t, .obs = obs, .n = n};
  a->timer = rill_sched_timer_new(s, act_fire, a);
  ck_assert_ptr_nonnull(a->timer);
  rill_sched_timer_start(a->timer, when - rill_sched_now(s));
}

static void acts_free(void) {
  for (int i = 0; i < nacts; i++)
    rill_sched_timer_free(acts[i].timer);
  nacts = 0;
}

/* ---- feeding a subject from a marble timeline
 * -------------------------------*/

struct feed {
  rill_subject_t *subj;
  bool owned;
  int last_rc; /* rill_subject_next's last result */
  int rcs[TS_MAX];
  int n;
};

static void feed_on_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, RILL_UNBOUNDED);
}
static void feed_on_next(void *ctx, rill_value_t v) {
  struct feed *f = ctx;
  rill_value_t x = f->owned ? tl_owned(v.as.i) : v;
  f->last_rc = rill_subject_next(f->subj, x);
  if (f->n < TS_MAX)
    f->rcs[f->n++] = f->last_rc;
}
static void feed_on_error(void *ctx, const rill_error_t *err) {
  struct feed *f = ctx;
  rill_subject_error(f->subj, err->code, err->message);
}
static void feed_on_complete(void *ctx) {
  struct feed *f = ctx;
  rill_subject_complete(f->subj);
}
static const rill_subscriber_t feed_subscriber = {
    .on_subscribe = feed_on_subscribe,
    .on_next = feed_on_next,
    .on_error = feed_on_error,
    .on_complete = feed_on_complete,
};

/* Push the marble's values into subj as they come (from now on). */
static void feed(rill_sched_t *s, struct feed *f, rill_subject_t *subj,
                 const char *marbles) {
  f->subj = subj;
  rill_observable_t *m = marble_cold(s, marbles);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(rill_observable_subscribe(m, &feed_subscriber, f, NULL), 0);
  rill_observable_free(m);
}

static void run_idle(rill_sched_t *s) {
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
}

static void sched_done(rill_sched_t *s) {
  acts_free();
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}

/* ======================================================================== */
/* Plain subjects                                                            */

START_TEST(
    subject_fans_out_to_every_subscriber_and_late_ones_get_later_values) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  ck_assert_ptr_nonnull(obs);
  tsub_t a, b, c;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, RILL_UNBOUNDED);
  struct feed f = {0};
  feed(s, &f, subj, "-1-2-3-4|");
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  at(s, 4, ACT_SUBSCRIBE, &b, obs, 0);
  at(s, 10, ACT_SUBSCRIBE, &c, obs, 0);
  run_idle(s);
  ck_assert_ts(&a, "-1-2-3-4|");
  ck_assert_ts(&b, "-3-4|");
  ck_assert_ts(&c, "|"); /* after complete: the terminal at once */
  ck_assert(a.released && b.released && c.released);
  ck_assert_int_eq(rill_subject_subscribers(subj), 0);
  ck_assert_int_eq(rill_subject_next(subj, rill_value_int(9)), RILL_ECANCELED);
  ck_assert_int_eq(rill_subject_complete(subj), RILL_ECANCELED);
  ck_assert_int_eq(rill_subject_error(subj, RILL_EUSER, NULL), RILL_ECANCELED);
  ck_assert_int_eq(rill_subject_demand(subj), 0);
  rill_observable_free(obs);
  rill_subject_free(subj);
  sched_done(s);
}
END_TEST

START_TEST(subject_error_reaches_every_subscriber_and_late_ones_verbatim) {
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  ts_init(&b, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  ck_assert_int_eq(rill_subject_subscribers(subj), 1);
  ck_assert_int_eq(rill_subject_next(subj, rill_value_int(1)), 0);
  ck_assert_int_eq(rill_subject_error(subj, RILL_EAPP_BASE - 7, "sensor lost"),
                   0);
  ck_assert_int_eq(ts_subscribe(&b, obs), 0);
  ck_assert_ts(&a, "1#");
  ck_assert_ts(&b, "#");
  ck_assert_int_eq(a.err.code, RILL_EAPP_BASE - 7);
  ck_assert_str_eq(a.err.message, "sensor lost");
  ck_assert_str_eq(a.err.stage, "subject");
  ck_assert_int_eq(b.err.code, RILL_EAPP_BASE - 7);
  ck_assert_str_eq(b.err.message, "sensor lost");
  rill_observable_free(obs);
  rill_subject_free(subj);
  /* a code >= 0 is a misuse: RILL_EUSER, the message kept in it */
  subj = rill_subject_new(NULL);
  obs = rill_subject_observable(subj);
  ts_init(&a, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  ck_assert_int_eq(rill_subject_error(subj, 5, "oops"), 0);
  ck_assert_int_eq(a.err.code, RILL_EUSER);
  ck_assert_ptr_nonnull(strstr(a.err.message, "oops"));
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

START_TEST(subject_arguments_are_checked) {
  errno = 0;
  ck_assert_ptr_null(
      rill_subject_new(&(rill_subject_opts_t){.overflow = (rill_overflow_t)9}));
  ck_assert_int_eq(errno, EINVAL);
  tl_owned_reset();
  errno = 0;
  ck_assert_ptr_null(rill_subject_behavior_new(
      tl_owned(1), &(rill_subject_opts_t){.overflow = (rill_overflow_t)-1}));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced(); /* the initial value was taken over */
  rill_sched_t *s = rill_sched_virtual_new();
  errno = 0;
  ck_assert_ptr_null(rill_subject_replay_new(3, NULL, 10, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_subject_replay_new(3, s, -1, NULL));
  ck_assert_ptr_null(rill_subject_replay_new(3, s, NAN, NULL));
  rill_subject_t *r = rill_subject_replay_new(3, NULL, INFINITY, NULL);
  ck_assert_ptr_nonnull(r);
  rill_subject_free(r);
  errno = 0;
  ck_assert_ptr_null(rill_subject_observable(NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = ENOMEM; /* a failed constructor's reason is kept */
  ck_assert_ptr_null(rill_subject_observable(NULL));
  ck_assert_int_eq(errno, ENOMEM);
  ck_assert_int_eq(rill_subject_next(NULL, tl_owned(2)), RILL_EINVAL);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_subject_complete(NULL), RILL_EINVAL);
  ck_assert_int_eq(rill_subject_error(NULL, RILL_EUSER, NULL), RILL_EINVAL);
  ck_assert_int_eq(rill_subject_demand(NULL), 0);
  ck_assert_int_eq(rill_subject_subscribers(NULL), 0);
  rill_value_t v;
  ck_assert_int_eq(rill_subject_value(NULL, &v), RILL_EINVAL);
  rill_subject_t *plain = rill_subject_new(NULL);
  ck_assert_int_eq(rill_subject_value(plain, &v), RILL_EINVAL);
  ck_assert_int_eq(v.kind, RILL_KIND_NONE);
  rill_subject_free(plain);
  rill_subject_free(NULL);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* The pusher learns what it may push: the slowest subscriber governs. */
START_TEST(slowest_subscriber_governs_the_demand) {
  rill_subject_t *subj = rill_subject_new(&(rill_subject_opts_t){.buffer = 4});
  rill_observable_t *obs = rill_subject_observable(subj);
  ck_assert_int_eq(rill_subject_demand(subj), RILL_UNBOUNDED); /* nobody */
  tsub_t fast, slow;
  ts_init(&fast, NULL, 10);
  ts_init(&slow, NULL, 2);
  ck_assert_int_eq(ts_subscribe(&fast, obs), 0);
  ck_assert_int_eq(rill_subject_demand(subj), 14);
  ck_assert_int_eq(ts_subscribe(&slow, obs), 0);
  ck_assert_int_eq(rill_subject_demand(subj), 6); /* 2 requested + 4 */
  for (int i = 1; i <= 6; i++)
    ck_assert_int_eq(rill_subject_next(subj, rill_value_int(i)), 0);
  ck_assert_int_eq(rill_subject_demand(subj), 0);
  ck_assert_int_eq(fast.nexts, 6);
  ck_assert_int_eq(slow.nexts, 2); /* 3..6 buffered */
  /* the slow one takes one: room for one more */
  ts_request(&slow, 1);
  ck_assert_int_eq(slow.nexts, 3);
  ck_assert_int_eq(rill_subject_demand(subj), 1);
  ck_assert_int_eq(rill_subject_next(subj, rill_value_int(7)), 0);
  /* past it: the default policy, ERROR, fails the slow one alone */
  ck_assert_int_eq(rill_subject_next(subj, rill_value_int(8)), RILL_EOVERFLOW);
  ck_assert_int_eq(slow.terminal, REC_ERROR);
  ck_assert_int_eq(slow.err.code, RILL_EOVERFLOW);
  ck_assert_str_eq(slow.err.stage, "subject");
  ck_assert_int_eq(slow.nexts, 3);
  ck_assert_int_eq(fast.nexts, 8);
  ck_assert_int_eq(rill_subject_subscribers(subj), 1);
  ck_assert_int_eq(rill_subject_demand(subj), 2 + 4); /* fast: 10 - 8 + 4 */
  ck_assert_int_eq(rill_subject_complete(subj), 0);
  ck_assert_ts(&fast, "12345678|");
  ck_assert_ts_ok(&slow);
  ck_assert(slow.released);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* Each policy with a 3-value buffer and six pushes while the slow
 * subscriber requests nothing; a second subscriber with demand is never
 * affected.  Owned values: every one released exactly once. */
static void overflow_case(rill_overflow_t policy, const char *slow_want,
                          const int *want_rcs) {
  tl_owned_reset();
  rill_subject_t *subj =
      rill_subject_new(&(rill_subject_opts_t){.buffer = 3, .overflow = policy});
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t slow, fast;
  ts_init(&slow, NULL, 0);
  ts_init(&fast, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&slow, obs), 0);
  ck_assert_int_eq(ts_subscribe(&fast, obs), 0);
  for (int i = 1; i <= 6; i++)
    ck_assert_int_eq(rill_subject_next(subj, tl_owned(i)), want_rcs[i - 1]);
  ts_request(&slow, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_subject_complete(subj), 0);
  ck_assert_ts(&slow, slow_want);
  ck_assert_ts(&fast, "123456|");
  ck_assert_int_eq(tl_owned_made, 6); /* shared by reference, not copied */
  rill_observable_free(obs);
  rill_subject_free(subj);
  ck_assert_owned_balanced();
}

START_TEST(overflow_drop_releases_what_does_not_fit) {
  static const int rcs[6] = {
      0, 0, 0, RILL_EOVERFLOW, RILL_EOVERFLOW, RILL_EOVERFLOW};
  overflow_case(RILL_OVERFLOW_DROP, "123|", rcs);
}
END_TEST

START_TEST(overflow_latest_keeps_the_newest_in_the_last_slot) {
  static const int rcs[6] = {
      0, 0, 0, RILL_EOVERFLOW, RILL_EOVERFLOW, RILL_EOVERFLOW};
  overflow_case(RILL_OVERFLOW_LATEST, "126|", rcs);
}
END_TEST

START_TEST(overflow_error_fails_that_subscriber_at_once) {
  static const int rcs[6] = {0, 0, 0, RILL_EOVERFLOW, 0, 0};
  overflow_case(RILL_OVERFLOW_ERROR, "#", rcs);
  overflow_case(RILL_OVERFLOW_DEFAULT, "#", rcs); /* DEFAULT is ERROR */
}
END_TEST

/* A buffer of 1 with LATEST is the time operators' LATEST. */
START_TEST(overflow_latest_with_a_buffer_of_one_holds_the_newest) {
  rill_subject_t *subj = rill_subject_new(
      &(rill_subject_opts_t){.buffer = 1, .overflow = RILL_OVERFLOW_LATEST});
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t t;
  ts_init(&t, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&t, obs), 0);
  for (int i = 1; i <= 5; i++)
    rill_subject_next(subj, rill_value_int(i));
  ts_request(&t, 1);
  ts_request(&t, 1); /* nothing more yet */
  rill_subject_next(subj, rill_value_int(6));
  rill_subject_complete(subj);
  ck_assert_ts(&t, "56|");
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* complete and error wait behind what is buffered for a subscriber. */
START_TEST(terminal_waits_behind_buffered_values) {
  for (int kind = 0; kind < 2; kind++) {
    rill_subject_t *subj = rill_subject_new(NULL);
    rill_observable_t *obs = rill_subject_observable(subj);
    tsub_t t;
    ts_init(&t, NULL, 0);
    ck_assert_int_eq(ts_subscribe(&t, obs), 0);
    rill_subject_next(subj, rill_value_int(1));
    rill_subject_next(subj, rill_value_int(2));
    if (kind == 0)
      rill_subject_complete(subj);
    else
      rill_subject_error(subj, RILL_EUSER, "x");
    ck_assert_int_eq(t.terminal, REC_NONE);
    ck_assert_int_eq(rill_subject_subscribers(subj), 0); /* detached */
    ts_request(&t, 1);
    ck_assert_int_eq(t.terminal, REC_NONE);
    ts_request(&t, 1);
    ck_assert_ts(&t, kind == 0 ? "12|" : "12#");
    rill_observable_free(obs);
    rill_subject_free(subj);
  }
}
END_TEST

/* A fused filter downstream: a value it drops costs no demand, on the hot
 * path (everything requested) and off it; owned values it drops are
 * released. */
static int is_even(void *ctx, rill_value_t v) {
  (void)ctx;
  return value_int(v) % 2 == 0;
}

START_TEST(a_filter_downstream_drops_without_costing_demand) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_new(&(rill_subject_opts_t){.buffer = 2});
  rill_observable_t *obs = rill_subject_observable(subj);
  rill_observable_t *evens =
      rill_filter(rill_observable_ref(obs), is_even, NULL);
  tsub_t some, all;
  ts_init(&some, NULL, 2);
  ts_init(&all, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&some, evens), 0);
  ck_assert_int_eq(ts_subscribe(&all, evens), 0);
  for (int i = 1; i <= 4; i++)
    ck_assert_int_eq(rill_subject_next(subj, tl_owned(i)), 0);
  ck_assert_ts(&some, "24");
  ck_assert_int_eq(rill_subject_demand(subj), 2); /* its buffer alone */
  rill_subject_next(subj, tl_owned(5));
  rill_subject_next(subj, tl_owned(6));
  ts_request(&some, 1); /* 5 is dropped on the way: 6 comes */
  rill_subject_complete(subj);
  ck_assert_ts(&some, "246|");
  ck_assert_ts(&all, "246|");
  rill_observable_free(evens);
  rill_observable_free(obs);
  rill_subject_free(subj);
  ck_assert_owned_balanced();
}
END_TEST

/* Cancelling releases what was buffered; the subscriber is gone. */
START_TEST(cancel_releases_buffered_owned_values) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t t;
  ts_init(&t, NULL, 1);
  ck_assert_int_eq(ts_subscribe(&t, obs), 0);
  for (int i = 0; i < 5; i++)
    rill_subject_next(subj, tl_owned(i));
  ck_assert_int_eq(tl_owned_released, 1); /* the one delivered */
  ts_cancel(&t);
  ts_cancel(&t);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_subject_subscribers(subj), 0);
  ck_assert_int_eq(rill_subject_demand(subj), RILL_UNBOUNDED);
  ck_assert(t.released);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* The pusher lets go: subscribers stay attached and get nothing more;
 * the observable keeps the subject alive. */
START_TEST(free_while_subscribed_keeps_the_subject_for_its_observable) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_replay_new(2, NULL, INFINITY, NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  rill_subject_next(subj, tl_owned(1));
  rill_subject_next(subj, tl_owned(2));
  tsub_t t;
  ts_init(&t, NULL, 1);
  ck_assert_int_eq(ts_subscribe(&t, obs), 0);
  rill_subject_free(subj);
  ts_request(&t, 1);
  ck_assert_int_eq(t.nexts, 2);
  ck_assert_int_eq(t.terminal, REC_NONE);
  rill_observable_free(obs);
  ts_cancel(&t); /* the last holder: the subject goes */
  ck_assert_owned_balanced();
}
END_TEST

/* ======================================================================== */
/* Re-entrancy                                                               */

struct reent {
  rill_subject_t *subj;
  rill_observable_t *obs;
  tsub_t *victim;   /* cancelled from the hook */
  tsub_t *joiner;   /* subscribed from the hook */
  int64_t at_value; /* when */
  int64_t push;     /* pushed from the hook (0: nothing) */
  bool complete;    /* complete from the hook */
  bool owned;
  int rc;
};

static void reent_hook(tsub_t *t, int64_t x) {
  struct reent *r = t->hook_ctx;
  if (x != r->at_value)
    return;
  if (r->push != 0)
    r->rc = rill_subject_next(r->subj, r->owned ? tl_owned(r->push)
                                                : rill_value_int(r->push));
  if (r->victim != NULL)
    ts_cancel(r->victim);
  if (r->joiner != NULL)
    ck_assert_int_eq(ts_subscribe(r->joiner, r->obs), 0);
  if (r->complete)
    rill_subject_complete(r->subj);
}

/* A value pushed from inside an on_next goes to every subscriber after the
 * value being delivered: no nesting, and everyone sees the same order. */
START_TEST(push_from_on_next_comes_after_the_current_value_for_everyone) {
  for (int owned = 0; owned < 2; owned++) {
    tl_owned_reset();
    rill_subject_t *subj = rill_subject_new(NULL);
    rill_observable_t *obs = rill_subject_observable(subj);
    tsub_t a, b, c;
    ts_init(&a, NULL, RILL_UNBOUNDED);
    ts_init(&b, NULL, RILL_UNBOUNDED);
    ts_init(&c, NULL, RILL_UNBOUNDED);
    struct reent r = {.subj = subj, .at_value = 1, .push = 7, .owned = owned};
    b.hook = reent_hook; /* the middle one pushes */
    b.hook_ctx = &r;
    ck_assert_int_eq(ts_subscribe(&a, obs), 0);
    ck_assert_int_eq(ts_subscribe(&b, obs), 0);
    ck_assert_int_eq(ts_subscribe(&c, obs), 0);
    rill_subject_next(subj, owned ? tl_owned(1) : rill_value_int(1));
    ck_assert_int_eq(r.rc, 0);
    rill_subject_next(subj, owned ? tl_owned(2) : rill_value_int(2));
    ck_assert_ts(&a, "172");
    ck_assert_ts(&b, "172");
    ck_assert_ts(&c, "172");
    rill_subject_complete(subj);
    rill_observable_free(obs);
    rill_subject_free(subj);
    if (owned)
      ck_assert_int_eq(tl_owned_made, 3);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* A push from on_next then a complete: the pushed value first. */
START_TEST(complete_from_on_next_waits_for_the_values_pushed_before_it) {
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  ts_init(&b, NULL, RILL_UNBOUNDED);
  struct reent r = {.subj = subj, .at_value = 1, .push = 2, .complete = true};
  a.hook = reent_hook;
  a.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  ck_assert_int_eq(ts_subscribe(&b, obs), 0);
  rill_subject_next(subj, rill_value_int(1));
  ck_assert_ts(&a, "12|");
  ck_assert_ts(&b, "12|");
  ck_assert_int_eq(rill_subject_next(subj, rill_value_int(3)), RILL_ECANCELED);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* One subscriber cancels another during a fan-out: the victim gets
 * nothing more (whether it comes before or after in the list), and the
 * values buffered for it are released. */
START_TEST(cancel_another_subscriber_during_fan_out) {
  for (int victim_first = 0; victim_first < 2; victim_first++) {
    tl_owned_reset();
    rill_subject_t *subj = rill_subject_new(NULL);
    rill_observable_t *obs = rill_subject_observable(subj);
    tsub_t killer, victim, other;
    ts_init(&killer, NULL, RILL_UNBOUNDED);
    ts_init(&victim, NULL, 1); /* buffers from the second value on */
    ts_init(&other, NULL, RILL_UNBOUNDED);
    struct reent r = {.subj = subj, .at_value = 3, .victim = &victim};
    killer.hook = reent_hook;
    killer.hook_ctx = &r;
    if (victim_first)
      ck_assert_int_eq(ts_subscribe(&victim, obs), 0);
    ck_assert_int_eq(ts_subscribe(&killer, obs), 0);
    if (!victim_first)
      ck_assert_int_eq(ts_subscribe(&victim, obs), 0);
    ck_assert_int_eq(ts_subscribe(&other, obs), 0);
    for (int i = 1; i <= 4; i++)
      rill_subject_next(subj, tl_owned(i));
    ck_assert_int_eq(rill_subject_subscribers(subj), 2);
    rill_subject_complete(subj);
    ck_assert_ts(&killer, "1234|");
    ck_assert_ts(&victim, "1");
    ck_assert_ts(&other, "1234|");
    ck_assert(victim.released);
    rill_observable_free(obs);
    rill_subject_free(subj);
    ck_assert_int_eq(tl_owned_made, 4);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* Cancelling itself during a fan-out: nothing more for it, the others
 * carry on; every subscriber cancelling leaves an empty subject. */
START_TEST(cancel_itself_during_fan_out) {
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t t[3];
  struct reent r[3];
  for (int i = 0; i < 3; i++) {
    ts_init(&t[i], NULL, RILL_UNBOUNDED);
    r[i] = (struct reent){.subj = subj, .at_value = i + 1, .victim = &t[i]};
    t[i].hook = reent_hook;
    t[i].hook_ctx = &r[i];
    ck_assert_int_eq(ts_subscribe(&t[i], obs), 0);
  }
  for (int i = 1; i <= 4; i++)
    rill_subject_next(subj, rill_value_int(i));
  ck_assert_ts(&t[0], "1");
  ck_assert_ts(&t[1], "12");
  ck_assert_ts(&t[2], "123");
  ck_assert_int_eq(rill_subject_subscribers(subj), 0);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* Subscribing from inside on_next: the new subscriber gets what is pushed
 * after, not the value being delivered -- a behavior or a replay subject
 * gives it that value as its current or replayed one, exactly once. */
START_TEST(subscribe_from_on_next_gets_the_later_values) {
  for (int kind = 0; kind < 3; kind++) {
    rill_subject_t *subj =
        kind == 0   ? rill_subject_new(NULL)
        : kind == 1 ? rill_subject_behavior_new(rill_value_int(0), NULL)
                    : rill_subject_replay_new(0, NULL, INFINITY, NULL);
    rill_observable_t *obs = rill_subject_observable(subj);
    tsub_t a, late, other;
    ts_init(&a, NULL, RILL_UNBOUNDED);
    ts_init(&late, NULL, RILL_UNBOUNDED);
    ts_init(&other, NULL, RILL_UNBOUNDED);
    struct reent r = {.subj = subj, .obs = obs, .at_value = 2, .joiner = &late};
    a.hook = reent_hook;
    a.hook_ctx = &r;
    ck_assert_int_eq(ts_subscribe(&a, obs), 0);
    ck_assert_int_eq(ts_subscribe(&other, obs), 0);
    for (int i = 1; i <= 3; i++)
      rill_subject_next(subj, rill_value_int(i));
    rill_subject_complete(subj);
    ck_assert_ts(&late, kind == 0 ? "3|" : kind == 1 ? "23|" : "123|");
    ck_assert_ts(&a, kind == 1 ? "0123|" : "123|");
    ck_assert_ts(&other, kind == 1 ? "0123|" : "123|");
    rill_observable_free(obs);
    rill_subject_free(subj);
  }
}
END_TEST

/* A push from an on_next that a subscriber got by requesting (its buffer
 * draining, no fan-out on the stack): it fans out at once; that subscriber
 * gets it after what it had buffered, once it asks. */
START_TEST(push_from_on_next_outside_a_fan_out_keeps_the_order) {
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t slow, fast;
  ts_init(&slow, NULL, 0);
  ts_init(&fast, NULL, RILL_UNBOUNDED);
  struct reent r = {.subj = subj, .at_value = 1, .push = 9};
  slow.hook = reent_hook;
  slow.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&slow, obs), 0);
  ck_assert_int_eq(ts_subscribe(&fast, obs), 0);
  rill_subject_next(subj, rill_value_int(1));
  rill_subject_next(subj, rill_value_int(2));
  ts_request(&slow, 1); /* 1, whose on_next pushes 9 */
  ck_assert_ts(&fast, "129");
  ck_assert_ts(&slow, "1");
  ts_request(&slow, 5);
  rill_subject_complete(subj);
  ck_assert_ts(&slow, "129|");
  ck_assert_ts(&fast, "129|");
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* A subscriber that pushes from every on_next, a million times in all:
 * the queue of the fan-out on the stack serves it, with a flat stack. */
static void chain_hook(tsub_t *t, int64_t x) {
  struct reent *r = t->hook_ctx;
  if (x < r->at_value)
    rill_subject_next(r->subj, rill_value_int(x + 1));
}

START_TEST(pushing_from_every_on_next_keeps_a_flat_stack) {
  int64_t n = tl_scaled(1000000);
  rill_subject_t *subj = rill_subject_new(NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  ts_init(&b, NULL, RILL_UNBOUNDED);
  struct reent r = {.subj = subj, .at_value = n};
  b.hook = chain_hook;
  b.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  ck_assert_int_eq(ts_subscribe(&b, obs), 0);
  rill_subject_next(subj, rill_value_int(1));
  ck_assert_int_eq(a.nexts, n);
  ck_assert_int_eq(b.nexts, n);
  ck_assert_int_eq(a.v[TS_MAX - 1], TS_MAX);
  ck_assert_ts_ok(&a);
  ck_assert_ts_ok(&b);
  rill_subject_complete(subj);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* The pusher may drop its reference from inside a subscriber's callback
 * during the fan-out; the fan-out finishes. */
static void free_hook(tsub_t *t, int64_t x) {
  struct reent *r = t->hook_ctx;
  if (x == r->at_value) {
    rill_subject_free(r->subj);
    rill_observable_free(r->obs);
    r->subj = NULL;
  }
}

START_TEST(free_from_on_next_during_fan_out) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_replay_new(4, NULL, INFINITY, NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  ts_init(&b, NULL, RILL_UNBOUNDED);
  struct reent r = {.subj = subj, .obs = obs, .at_value = 1};
  a.hook = free_hook;
  a.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  ck_assert_int_eq(ts_subscribe(&b, obs), 0);
  rill_subject_next(subj, tl_owned(1));
  ck_assert_ts(&a, "1");
  ck_assert_ts(&b, "1");
  ts_cancel(&a);
  ts_cancel(&b); /* the last holder: the subject goes */
  ck_assert_owned_balanced();
}
END_TEST

/* ---- a driver that pushes when told (on_demand)
 * ----------------------------*/

struct driver {
  rill_subject_t *subj;
  int64_t next, end;
  int calls, depth, max_depth;
  int overflows;
};

static void driver_on_demand(void *ctx, rill_subject_t *subj) {
  struct driver *d = ctx;
  d->calls++;
  if (++d->depth > d->max_depth)
    d->max_depth = d->depth;
  while (d->next < d->end && rill_subject_demand(subj) > 0)
    if (rill_subject_next(subj, rill_value_int(d->next++)) != 0)
      d->overflows++;
  if (d->next == d->end && rill_subject_complete(subj) == 0)
    d->next++;
  d->depth--;
}

/* A subscriber requesting one value per on_next: the driver pushes exactly
 * as much as may be pushed, never overflows, with a flat stack. */
START_TEST(on_demand_drives_a_pusher_without_overflow) {
  int64_t n = tl_scaled(200000);
  struct driver d = {.end = n};
  rill_subject_t *subj = rill_subject_new(&(rill_subject_opts_t){
      .buffer = 2, .on_demand = driver_on_demand, .ctx = &d});
  d.subj = subj;
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t slow, fast;
  ts_init(&slow, NULL, 1);
  slow.request_in_next = 1;
  ts_init(&fast, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&fast, obs), 0); /* nothing pushed yet */
  ck_assert_int_eq(d.calls, 0);
  ck_assert_int_eq(ts_subscribe(&slow, obs), 0); /* 2: fast's buffer */
  ck_assert_int_eq(d.next, 2);
  ts_request(&fast, RILL_UNBOUNDED); /* now slow governs, to the end */
  ck_assert_int_eq(slow.nexts, n);
  ck_assert_int_eq(fast.nexts, n);
  ck_assert_int_eq(slow.terminal, REC_COMPLETE);
  ck_assert_int_eq(d.overflows, 0);
  ck_assert_int_le(d.max_depth, 1);
  ck_assert_ts_ok(&slow);
  ck_assert_ts_ok(&fast);
  rill_observable_free(obs);
  rill_subject_free(subj);
}
END_TEST

/* ======================================================================== */
/* Behavior and replay                                                       */

START_TEST(behavior_gives_the_current_value_first) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_subject_t *subj = rill_subject_behavior_new(rill_value_int(0), NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b, c;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, RILL_UNBOUNDED);
  struct feed f = {0};
  feed(s, &f, subj, "-1-2-3-4|");
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  at(s, 4, ACT_SUBSCRIBE, &b, obs, 0);
  at(s, 10, ACT_SUBSCRIBE, &c, obs, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 4), 0);
  rill_value_t v;
  ck_assert_int_eq(rill_subject_value(subj, &v), 0);
  ck_assert_int_eq(v.as.i, 2);
  run_idle(s);
  ck_assert_ts(&a, "01-2-3-4|");
  ck_assert_ts(&b, "23-4|");
  ck_assert_ts(&c, "|"); /* RxJS: after complete, no value */
  ck_assert_int_eq(rill_subject_value(subj, &v), 0);
  ck_assert_int_eq(v.as.i, 4);
  rill_observable_free(obs);
  rill_subject_free(subj);
  sched_done(s);
}
END_TEST

START_TEST(behavior_value_waits_for_demand_and_owned_values_balance) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_behavior_new(tl_owned(10), NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t t;
  ts_init(&t, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&t, obs), 0);
  ck_assert_int_eq(t.nexts, 0);
  rill_subject_next(subj, tl_owned(11)); /* buffered behind the 10 */
  ts_request(&t, 1);
  ck_assert_ts(&t, "{10}");
  rill_value_t v;
  ck_assert_int_eq(rill_subject_value(subj, &v), 0);
  ck_assert_int_eq(tl_owned_int(v), 11);
  rill_value_release(v);
  rill_subject_error(subj, RILL_EUSER, "down");
  ck_assert_int_eq(rill_subject_value(subj, &v), RILL_EUSER);
  ck_assert_int_eq(v.kind, RILL_KIND_NONE);
  ts_request(&t, 5);
  ck_assert_ts(&t, "{10}{11}#");
  rill_observable_free(obs);
  rill_subject_free(subj);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(replay_by_count_gives_the_last_values_then_the_terminal) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_subject_t *subj = rill_subject_replay_new(2, NULL, INFINITY, NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t a, b, c, d;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, RILL_UNBOUNDED);
  ts_init(&d, s, 0); /* after the end, requesting one at a time */
  struct feed f = {0};
  feed(s, &f, subj, "-1-2-3-4|");
  ck_assert_int_eq(ts_subscribe(&a, obs), 0);
  at(s, 4, ACT_SUBSCRIBE, &b, obs, 0);
  at(s, 10, ACT_SUBSCRIBE, &c, obs, 0);
  at(s, 12, ACT_SUBSCRIBE, &d, obs, 0);
  at(s, 13, ACT_REQUEST, &d, NULL, 1);
  at(s, 15, ACT_REQUEST, &d, NULL, 1);
  run_idle(s);
  ck_assert_ts(&a, "-1-2-3-4|");
  ck_assert_ts(&b, "(12)<1>3-4|");
  ck_assert_ts(&c, "(34|)");
  ck_assert_ts(&d, "-3-(4|)");
  rill_observable_free(obs);
  rill_subject_free(subj);
  sched_done(s);
}
END_TEST

/* Values pushed age_ms or longer ago are not replayed (RxJS windowTime:
 * kept while now < pushed + age). */
START_TEST(replay_by_age_drops_what_is_too_old) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_subject_t *subj = rill_subject_replay_new(0, s, 3, NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t b, c, d, e;
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, RILL_UNBOUNDED);
  ts_init(&d, s, RILL_UNBOUNDED);
  ts_init(&e, s, RILL_UNBOUNDED);
  struct feed f = {0};
  feed(s, &f, subj, "-1-2-3-4|");       /* 1@1 2@3 3@5 4@7 |@8 */
  at(s, 4, ACT_SUBSCRIBE, &b, obs, 0);  /* 1 is 3 ms old: gone */
  at(s, 6, ACT_SUBSCRIBE, &c, obs, 0);  /* 2 is 3 ms old: gone */
  at(s, 9, ACT_SUBSCRIBE, &d, obs, 0);  /* after the end: 4 kept */
  at(s, 10, ACT_SUBSCRIBE, &e, obs, 0); /* 4 is 3 ms old: gone */
  run_idle(s);
  ck_assert_ts(&b, "23-4|");
  ck_assert_ts(&c, "34|");
  ck_assert_ts(&d, "(4|)");
  ck_assert_ts(&e, "|");
  rill_observable_free(obs);
  rill_subject_free(subj);
  sched_done(s);
}
END_TEST

/* Count and age together: whichever bound is tighter. */
START_TEST(replay_by_count_and_age) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_subject_t *subj = rill_subject_replay_new(2, s, 5, NULL);
  rill_observable_t *obs = rill_subject_observable(subj);
  tsub_t b, c;
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, RILL_UNBOUNDED);
  struct feed f = {0};
  feed(s, &f, subj, "123------4-----|"); /* 1@0 2@1 3@2 4@9 |@15 */
  at(s, 3, ACT_SUBSCRIBE, &b, obs, 0);   /* count: 2 and 3 */
  at(s, 10, ACT_SUBSCRIBE, &c, obs, 0);  /* age: 4 alone */
  run_idle(s);
  ck_assert_ts(&b, "(23)<6>4<12>|");
  ck_assert_ts(&c, "4----|");
  rill_observable_free(obs);
  rill_subject_free(subj);
  sched_done(s);
}
END_TEST

/* A replay larger than the buffer: the buffer makes room for it, and the
 * bound applies to the values pushed afterwards. */
START_TEST(replay_larger_than_the_buffer_is_given_whole) {
  tl_owned_reset();
  rill_subject_t *subj = rill_subject_replay_new(
      0, NULL, INFINITY, &(rill_subject_opts_t){.buffer = 2});
  rill_observable_t *obs = rill_subject_observable(subj);
  for (int i = 1; i <= 5; i++)
    rill_subject_next(subj, tl_owned(i));
  tsub_t t;
  ts_init(&t, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&t, obs), 0);
  ck_assert_int_eq(rill_subject_demand(subj), 2);
  ck_assert_int_eq(rill_subject_next(subj, tl_owned(6)), 0);
  ck_assert_int_eq(rill_subject_next(subj, tl_owned(7)), 0);
  ck_assert_int_eq(rill_subject_next(subj, tl_owned(8)), RILL_EOVERFLOW);
  ck_assert_ts(&t, "#");
  ck_assert_int_eq(t.err.code, RILL_EOVERFLOW);
  tsub_t u;
  ts_init(&u, NULL, 3);
  ck_assert_int_eq(ts_subscribe(&u, obs), 0);
  ck_assert_ts(&u, "123");
  ck_assert_int_eq(rill_subject_demand(subj), 2); /* 0 + 2 free slots */
  ts_request(&u, 10);
  rill_subject_complete(subj);
  ck_assert_ts(&u, "12345678|");
  rill_observable_free(obs);
  rill_subject_free(subj);
  ck_assert_owned_balanced();
}
END_TEST

/* Owned values fanned out to several subscribers through every kind of
 * subject: made once each, released exactly once, whatever each
 * subscriber does (takes all, cancels midway, buffers then cancels, is
 * failed by overflow). */
START_TEST(owned_values_fanned_out_are_released_exactly_once) {
  for (int kind = 0; kind < 3; kind++) {
    tl_owned_reset();
    rill_subject_opts_t o = {.buffer = 3};
    rill_subject_t *subj = kind == 0 ? rill_subject_new(&o)
                           : kind == 1
                               ? rill_subject_behavior_new(tl_owned(100), &o)
                               : rill_subject_replay_new(4, NULL, INFINITY, &o);
    rill_observable_t *obs = rill_subject_observable(subj);
    tsub_t all, quitter, hoarder, slow;
    ts_init(&all, NULL, RILL_UNBOUNDED);
    ts_init(&quitter, NULL, RILL_UNBOUNDED);
    ts_init(&hoarder, NULL, 0);
    ts_init(&slow, NULL, 1);
    ck_assert_int_eq(ts_subscribe(&all, obs), 0);
    ck_assert_int_eq(ts_subscribe(&quitter, obs), 0);
    ck_assert_int_eq(ts_subscribe(&hoarder, obs), 0);
    ck_assert_int_eq(ts_subscribe(&slow, obs), 0);
    for (int i = 1; i <= 8; i++) {
      rill_subject_next(subj, tl_owned(i));
      if (i == 2)
        ts_cancel(&hoarder); /* with values buffered */
      if (i == 3)
        ts_cancel(&quitter);
    }
    ck_assert_int_eq(slow.terminal, REC_ERROR); /* overflowed */
    rill_subject_complete(subj);
    ck_assert_int_eq(all.nexts, kind == 1 ? 9 : 8);
    ck_assert_int_eq(tl_owned_made, kind == 1 ? 9 : 8);
    rill_observable_free(obs);
    rill_subject_free(subj);
    ck_assert_owned_balanced();
  }
}
END_TEST

/* ======================================================================== */
/* share                                                                     */

/* A source that counts its subscriptions (each is a connection). */
struct counted {
  rill_sched_t *s;
  const char *marbles;
  int subscriptions;
  int64_t range; /* > 0: range(0, range) instead of the marbles */
  int64_t requests[64];
  int nrequests;
};

static void counted_request(void *ctx, int64_t n) {
  struct counted *c = ctx;
  if (c->nrequests < 64)
    c->requests[c->nrequests++] = n;
}

static int counted_make(void *ctx, rill_observable_t **out) {
  struct counted *c = ctx;
  c->subscriptions++;
  rill_observable_t *src =
      c->range > 0 ? rill_range(0, c->range) : marble_cold(c->s, c->marbles);
  static const rill_tap_hooks_t hooks = {.on_request = counted_request};
  *out = rill_tap(src, &hooks, c);
  return *out ? 0 : RILL_ENOMEM;
}

static rill_observable_t *counted_source(struct counted *c) {
  return rill_defer(counted_make, c);
}

START_TEST(share_connects_once_and_late_subscribers_join_the_stream) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4-5|"};
  rill_observable_t *sh = rill_share(counted_source(&c), NULL);
  ck_assert_ptr_nonnull(sh);
  tsub_t a, b, late;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&late, s, RILL_UNBOUNDED);
  ck_assert_int_eq(c.subscriptions, 0); /* lazy until subscribed */
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 2, ACT_SUBSCRIBE, &b, sh, 0);
  at(s, 20, ACT_SUBSCRIBE, &late, sh, 0);
  run_idle(s);
  ck_assert_ts(&a, "-1-2-3-4-5|");
  ck_assert_ts(&b, "-2-3-4-5|");
  /* after the end, the next subscriber connects anew */
  ck_assert_ts(&late, "-1-2-3-4-5|");
  ck_assert_int_eq(c.subscriptions, 2);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

START_TEST(share_disconnects_when_the_last_subscriber_leaves) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4-5-6-7-8|"};
  rill_observable_t *sh = rill_share(counted_source(&c), NULL);
  tsub_t a, b, again;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&again, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 2, ACT_SUBSCRIBE, &b, sh, 0);
  at(s, 4, ACT_CANCEL, &a, NULL, 0);
  at(s, 6, ACT_CANCEL, &b, NULL, 0); /* the last: disconnect now */
  ck_assert_int_eq(rill_sched_advance_to(s, 6), 0);
  ck_assert_int_eq(rill_sched_active(s), 0); /* the source's timer went */
  at(s, 8, ACT_SUBSCRIBE, &again, sh, 0);
  run_idle(s);
  ck_assert_ts(&a, "-1-2");
  ck_assert_ts(&b, "-2-3");
  ck_assert_ts(&again, "-1-2-3-4-5-6-7-8|");
  ck_assert_int_eq(c.subscriptions, 2);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* With a grace period, a subscriber arriving in time keeps the connection
 * (values in between are dropped); after it, the next one reconnects. */
START_TEST(share_grace_period_keeps_the_connection_for_a_while) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4-5-6-7-8-9|"};
  rill_observable_t *sh = rill_share(
      counted_source(&c), &(rill_share_opts_t){.sched = s, .grace_ms = 3});
  tsub_t a, b, d;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&d, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 4, ACT_CANCEL, &a, NULL, 0);   /* grace until 7 */
  at(s, 6, ACT_SUBSCRIBE, &b, sh, 0);  /* in time: the same stream */
  at(s, 8, ACT_CANCEL, &b, NULL, 0);   /* grace until 11 */
  at(s, 14, ACT_SUBSCRIBE, &d, sh, 0); /* too late: a new connection */
  ck_assert_int_eq(rill_sched_advance_to(s, 10), 0);
  ck_assert_int_eq(c.subscriptions, 1); /* still connected at 10 */
  ck_assert_int_eq(rill_sched_advance_to(s, 11), 0);
  ck_assert_int_eq(rill_sched_active(s), 1); /* d's subscription timer */
  run_idle(s);
  ck_assert_ts(&a, "-1-2");
  ck_assert_ts(&b, "-4"); /* 3 (at 5) fell in the grace period */
  ck_assert_ts(&d, "-1-2-3-4-5-6-7-8-9|");
  ck_assert_int_eq(c.subscriptions, 2);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* A subscriber that comes and goes within a grace period starts a new
 * one when it leaves: the first one's timer does not cut it short. */
START_TEST(share_grace_period_restarts_when_the_last_one_leaves_again) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4-5-6-7-8-9|"};
  rill_observable_t *sh = rill_share(
      counted_source(&c), &(rill_share_opts_t){.sched = s, .grace_ms = 3});
  tsub_t a, b, d;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&d, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 4, ACT_CANCEL, &a, NULL, 0);  /* grace until 7 */
  at(s, 5, ACT_SUBSCRIBE, &b, sh, 0); /* back in time */
  at(s, 6, ACT_CANCEL, &b, NULL, 0);  /* grace until 9, not 7 */
  at(s, 8, ACT_SUBSCRIBE, &d, sh, 0); /* in time: the same stream */
  run_idle(s);
  ck_assert_ts(&a, "-1-2");
  ck_assert_ts(&b, "3");
  ck_assert_ts(&d, "-5-6-7-8-9|");
  ck_assert_int_eq(c.subscriptions, 1);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* An infinite grace period: connected until the source ends. */
START_TEST(share_infinite_grace_stays_connected) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4|"};
  rill_observable_t *sh = rill_share(
      counted_source(&c), &(rill_share_opts_t){.grace_ms = INFINITY});
  tsub_t a, b;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 2, ACT_CANCEL, &a, NULL, 0);
  at(s, 6, ACT_SUBSCRIBE, &b, sh, 0);
  run_idle(s);
  ck_assert_ts(&a, "-1");
  ck_assert_ts(&b, "-4|");
  ck_assert_int_eq(c.subscriptions, 1);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* The recipe freed during a grace period disconnects. */
START_TEST(share_freed_during_grace_disconnects) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2-3-4|"};
  rill_observable_t *sh = rill_share(
      counted_source(&c), &(rill_share_opts_t){.sched = s, .grace_ms = 50});
  tsub_t a;
  ts_init(&a, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 2, ACT_CANCEL, &a, NULL, 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 2), 0);
  ck_assert_int_ge(rill_sched_active(s), 2); /* source and grace timers */
  rill_observable_free(sh);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_ts(&a, "-1");
  sched_done(s);
}
END_TEST

START_TEST(share_error_reaches_every_subscriber_and_resets) {
  rill_sched_t *s = rill_sched_virtual_new();
  struct counted c = {.s = s, .marbles = "-1-2#"};
  rill_observable_t *sh = rill_share(counted_source(&c), NULL);
  tsub_t a, b, late;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&late, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  at(s, 2, ACT_SUBSCRIBE, &b, sh, 0);
  at(s, 10, ACT_SUBSCRIBE, &late, sh, 0);
  run_idle(s);
  ck_assert_ts(&a, "-1-2#");
  ck_assert_ts(&b, "-2#");
  ck_assert_ts(&late, "-1-2#");
  ck_assert_int_eq(a.err.code, RILL_EUSER);
  ck_assert_int_eq(c.subscriptions, 2);
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* The slowest subscriber governs: prefetch 4 asked at connection, then
 * 3/4 of it whenever the fullest buffer leaves that much room. */
START_TEST(share_slowest_subscriber_governs_the_upstream_demand) {
  struct counted c = {.range = 100};
  rill_observable_t *sh =
      rill_share(counted_source(&c), &(rill_share_opts_t){.prefetch = 4});
  tsub_t slow, fast;
  ts_init(&slow, NULL, 0);
  ts_init(&fast, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&slow, sh), 0); /* connects: 0..3 buffered */
  ck_assert_int_eq(c.nrequests, 1);
  ck_assert_int_eq(c.requests[0], 4);
  ck_assert_int_eq(ts_subscribe(&fast, sh), 0); /* joins: nothing yet */
  ck_assert_int_eq(fast.nexts, 0);
  ts_request(&slow, 2); /* holds 2: room 2 < 3 */
  ck_assert_int_eq(c.nrequests, 1);
  ts_request(&slow, 1); /* holds 1: room 3 */
  ck_assert_int_eq(c.nrequests, 2);
  ck_assert_int_eq(c.requests[1], 3);
  ck_assert_ts(&slow, "012");
  ck_assert_ts(&fast, "456");
  ts_request(&slow, RILL_UNBOUNDED); /* now the fast one is the measure */
  ck_assert_int_eq(slow.nexts, 100);
  ck_assert_int_eq(fast.nexts, 96);
  ck_assert_int_eq(slow.terminal, REC_COMPLETE);
  ck_assert_int_eq(fast.terminal, REC_COMPLETE);
  for (int i = 1; i < c.nrequests; i++)
    ck_assert_int_le(c.requests[i], 4);
  ck_assert_ts_ok(&slow);
  ck_assert_ts_ok(&fast);
  rill_observable_free(sh);
}
END_TEST

/* A synchronous source runs inside the first subscriber's subscribe as
 * far as demand and prefetch allow; after its end the next subscriber
 * starts it again (RxJS share: the same).  Paused by the prefetch, one run
 * is shared by the subscribers that join it, the slowest governing. */
START_TEST(share_with_a_synchronous_source_and_several_subscribers) {
  struct counted c = {.range = 5};
  rill_observable_t *sh = rill_share(counted_source(&c), NULL);
  tsub_t a, b, x, y, z;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  ts_init(&b, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  ck_assert_ts(&a, "01234|");
  ck_assert_int_eq(ts_subscribe(&b, sh), 0);
  ck_assert_ts(&b, "01234|");
  ck_assert_int_eq(c.subscriptions, 2);
  /* without demand the whole run waits in the first one's buffer */
  ts_init(&x, NULL, 0);
  ts_init(&y, NULL, 0);
  ck_assert_int_eq(ts_subscribe(&x, sh), 0);
  ck_assert_int_eq(ts_subscribe(&y, sh), 0); /* after the end: a new run */
  ck_assert_int_eq(c.subscriptions, 4);
  ts_request(&x, 2);
  ts_request(&y, 10);
  ts_request(&x, 10);
  ck_assert_ts(&x, "01234|");
  ck_assert_ts(&y, "01234|");
  rill_observable_free(sh);
  /* prefetch 2: the run pauses, and later subscribers join it */
  c = (struct counted){.range = 5};
  sh = rill_share(counted_source(&c), &(rill_share_opts_t){.prefetch = 2});
  ts_init(&x, NULL, 0);
  ts_init(&y, NULL, 0);
  ts_init(&z, NULL, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&x, sh), 0); /* 0 1 buffered */
  ck_assert_int_eq(ts_subscribe(&y, sh), 0);
  ck_assert_int_eq(ts_subscribe(&z, sh), 0);
  ck_assert_int_eq(z.nexts, 0);
  ts_request(&x, 10); /* 0 1, then 2 3 for all: y buffers them */
  ck_assert_ts(&x, "0123");
  ck_assert_ts(&z, "23");
  ts_request(&y, 10);
  ck_assert_ts(&x, "01234|");
  ck_assert_ts(&y, "234|");
  ck_assert_ts(&z, "234|");
  ck_assert_int_eq(c.subscriptions, 1);
  rill_observable_free(sh);
}
END_TEST

START_TEST(share_owned_values_go_to_every_subscriber_by_reference) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  /* owned values from a subject, shared by one connection to it */
  rill_subject_t *subj = rill_subject_new(NULL);
  struct feed f = {.owned = true};
  feed(s, &f, subj, "-1-2-3-4-5|");
  rill_observable_t *sh = rill_share(rill_subject_observable(subj), NULL);
  tsub_t a, b, c, quitter;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&b, s, RILL_UNBOUNDED);
  ts_init(&c, s, 1);
  ts_init(&quitter, s, RILL_UNBOUNDED);
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  ck_assert_int_eq(ts_subscribe(&b, sh), 0);
  ck_assert_int_eq(ts_subscribe(&c, sh), 0);
  ck_assert_int_eq(ts_subscribe(&quitter, sh), 0);
  ck_assert_int_eq(rill_subject_subscribers(subj), 1); /* one connection */
  at(s, 4, ACT_CANCEL, &quitter, NULL, 0);
  at(s, 20, ACT_REQUEST, &c, NULL, 10);
  run_idle(s);
  ck_assert_ts(&a, "-1-2-3-4-5|");
  ck_assert_ts(&b, "-1-2-3-4-5|");
  ck_assert_ts(&c, "-1<20>(2345|)");
  ck_assert_ts(&quitter, "-1-2");
  ck_assert_int_eq(tl_owned_made, 5);
  rill_observable_free(sh);
  rill_subject_free(subj);
  ck_assert_owned_balanced();
  sched_done(s);
}
END_TEST

/* share re-entrancy: a subscriber cancelling another during the fan-out,
 * and one subscribing from on_next. */
struct share_reent {
  rill_observable_t *sh;
  tsub_t *victim, *joiner;
  int64_t at_value;
};

static void share_hook(tsub_t *t, int64_t x) {
  struct share_reent *r = t->hook_ctx;
  if (x != r->at_value)
    return;
  if (r->victim != NULL)
    ts_cancel(r->victim);
  if (r->joiner != NULL)
    ck_assert_int_eq(ts_subscribe(r->joiner, r->sh), 0);
}

START_TEST(share_cancel_and_subscribe_from_on_next) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *sh = rill_share(marble_cold(s, "-1-2-3-4|"), NULL);
  tsub_t a, victim, joiner;
  ts_init(&a, s, RILL_UNBOUNDED);
  ts_init(&victim, s, RILL_UNBOUNDED);
  ts_init(&joiner, s, RILL_UNBOUNDED);
  struct share_reent r = {
      .sh = sh, .victim = &victim, .joiner = &joiner, .at_value = 2};
  a.hook = share_hook;
  a.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  ck_assert_int_eq(ts_subscribe(&victim, sh), 0);
  run_idle(s);
  ck_assert_ts(&a, "-1-2-3-4|");
  ck_assert_ts(&victim, "-1");
  ck_assert_ts(&joiner, "--3-4|"); /* joined at 3 */
  rill_observable_free(sh);
  sched_done(s);
}
END_TEST

/* The last subscriber cancelling inside on_next disconnects a synchronous
 * source mid-run. */
START_TEST(share_last_cancel_inside_on_next_stops_a_synchronous_source) {
  struct counted c = {.range = 1000000};
  rill_observable_t *sh = rill_share(counted_source(&c), NULL);
  tsub_t a;
  ts_init(&a, NULL, RILL_UNBOUNDED);
  struct share_reent r = {.victim = &a, .at_value = 3};
  a.hook = share_hook;
  a.hook_ctx = &r;
  ck_assert_int_eq(ts_subscribe(&a, sh), 0);
  ck_assert_ts(&a, "0123");
  ck_assert_int_eq(c.nrequests, 1); /* cancelled before any refill */
  rill_observable_free(sh);
}
END_TEST

/* repeat(share(range)): every subscription after the end reconnects; a
 * million synchronous reconnections run with a flat stack (repeat's
 * trampoline subscribes the next one after the last has unwound). */
START_TEST(share_resubscribed_a_million_times_keeps_a_flat_stack) {
  int64_t n = tl_scaled(1000000);
  rill_observable_t *p =
      rill_repeat(rill_share(rill_range(0, 2), NULL), n, NULL, 0);
  ck_assert_ptr_nonnull(p);
  tsub_t t;
  ts_init(&t, NULL, 1);
  t.request_in_next = 1;
  ck_assert_int_eq(ts_subscribe(&t, p), 0);
  ck_assert_int_eq(t.nexts, 2 * n);
  ck_assert_int_eq(t.terminal, REC_COMPLETE);
  ck_assert_ts_ok(&t);
  rill_observable_free(p);
}
END_TEST

START_TEST(share_arguments_are_checked) {
  errno = 0;
  ck_assert_ptr_null(rill_share(NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = ENOMEM;
  ck_assert_ptr_null(rill_share(NULL, NULL));
  ck_assert_int_eq(errno, ENOMEM);
  tl_owned_reset();
  rill_observable_t *src = rill_just(1, tl_owned(1));
  errno = 0;
  ck_assert_ptr_null(rill_share(src, &(rill_share_opts_t){.grace_ms = 5}));
  ck_assert_int_eq(errno, EINVAL); /* a grace period needs a scheduler */
  ck_assert_owned_balanced();      /* the source was released */
  ck_assert_ptr_null(
      rill_share(rill_range(0, 1), &(rill_share_opts_t){.grace_ms = -1}));
  ck_assert_ptr_null(
      rill_share(rill_range(0, 1), &(rill_share_opts_t){.grace_ms = NAN}));
  rill_observable_t *sh = rill_share(rill_never(), NULL);
  ck_assert_str_eq(rill_observable_name(sh), "share");
  rill_observable_free(sh);
}
END_TEST

/* ======================================================================== */
/* ENOMEM at every allocation site                                           */

struct sweep_out {
  int ctor;      /* 0, or the errno of a NULL constructor */
  int sub_rc[3]; /* subscribe results */
  int term[3];   /* REC_* */
  int code[3];   /* error codes */
  int64_t v[3][32];
  int64_t n[3];
  bool reached;
  bool pushed; /* the subject scenario's re-entrant push happened */
};

/* A subject scenario that reaches every allocation site: a replay subject
 * (its buffer grows), a subscriber that buffers (its ring grows), one that
 * pushes from on_next (the fan-out's queue grows), a late subscriber (its
 * replay is reserved). */
static void subject_scenario(long k, struct sweep_out *o) {
  memset(o, 0, sizeof(*o));
  tl_alloc_install();
  long baseline = tl_live;
  tl_fail_at = k;
  rill_subject_t *subj = rill_subject_replay_new(
      3, NULL, INFINITY, &(rill_subject_opts_t){.buffer = 8});
  rill_observable_t *obs = subj ? rill_subject_observable(subj) : NULL;
  if (obs == NULL) {
    o->ctor = errno;
    rill_subject_free(subj);
  } else {
    tsub_t t[3];
    ts_init(&t[0], NULL, RILL_UNBOUNDED);
    ts_init(&t[1], NULL, 0);
    ts_init(&t[2], NULL, RILL_UNBOUNDED);
    struct reent r = {.subj = subj, .at_value = 2, .push = 20};
    t[0].hook = reent_hook;
    t[0].hook_ctx = &r;
    o->sub_rc[0] = ts_subscribe(&t[0], obs);
    o->sub_rc[1] = ts_subscribe(&t[1], obs);
    for (int i = 1; i <= 6; i++)
      rill_subject_next(subj, rill_value_int(i));
    o->pushed = t[0].nexts >= 2;
    o->sub_rc[2] = ts_subscribe(&t[2], obs);
    ts_request(&t[1], RILL_UNBOUNDED);
    rill_subject_complete(subj);
    for (int i = 0; i < 3; i++) {
      ck_assert_ts_ok(&t[i]);
      o->term[i] = t[i].terminal;
      o->code[i] = t[i].err.code;
      o->n[i] = t[i].nexts;
      memcpy(o->v[i], t[i].v, sizeof(o->v[i]));
      if (o->sub_rc[i] == 0)
        ck_assert_msg(t[i].terminal != REC_NONE,
                      "subject: site %ld: subscriber %d has no terminal", k, i);
    }
    rill_observable_free(obs);
    rill_subject_free(subj);
  }
  o->reached = tl_alloc_index > k;
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "subject: site %ld: %ld blocks leaked", k,
                live - baseline);
}

/* Each subscriber: ENOMEM at subscribe, on_error(ENOMEM), or exactly the
 * reference run's values and terminal. */
static void sweep_check(const char *name, long k, const struct sweep_out *ref,
                        const struct sweep_out *x, int nsubs) {
  if (x->ctor != 0) {
    ck_assert_msg(x->ctor == ENOMEM, "%s: site %ld: ctor errno %d", name, k,
                  x->ctor);
    return;
  }
  for (int i = 0; i < nsubs; i++) {
    if (x->sub_rc[i] != 0) {
      ck_assert_int_eq(x->sub_rc[i], RILL_ENOMEM);
      continue;
    }
    if (x->term[i] == REC_ERROR && x->code[i] == RILL_ENOMEM)
      continue;
    ck_assert_msg(x->term[i] == ref->term[i] && x->code[i] == ref->code[i] &&
                      x->n[i] == ref->n[i] &&
                      memcmp(x->v[i], ref->v[i], sizeof(x->v[i])) == 0,
                  "%s: site %ld: subscriber %d ended with %d (%s) after %lld "
                  "values; want the reference or ENOMEM",
                  name, k, i, x->term[i], rill_err_name(x->code[i]),
                  (long long)x->n[i]);
  }
}

START_TEST(subject_fails_cleanly_at_every_allocation) {
  struct sweep_out ref, x;
  subject_scenario(-1, &ref);
  ck_assert_int_eq(ref.term[0], REC_COMPLETE);
  ck_assert_int_eq(ref.n[0], 7); /* 1 2 20 3 4 5 6 */
  ck_assert_int_eq(ref.n[1], 7);
  ck_assert_int_eq(ref.n[2], 3); /* the last three, replayed */
  /* the reference without the re-entrant push (its pusher failed before
   * it): the 20 is missing for the subscriber that buffers */
  struct sweep_out bare = ref;
  bare.n[1] = 6;
  for (int i = 2; i < 6; i++)
    bare.v[1][i] = bare.v[1][i + 1];
  bare.v[1][6] = 0;
  long k;
  for (k = 0;; k++) {
    subject_scenario(k, &x);
    if (!x.reached) {
      ck_assert(memcmp(&x.term, &ref.term, sizeof(x.term)) == 0);
      break;
    }
    sweep_check("subject", k, x.pushed ? &ref : &bare, &x, 3);
  }
  ck_assert_int_gt(k, 8);
}
END_TEST

/* share: two subscribers on a timed source (the second joins later and
 * buffers), one more after the end (a reconnection). */
static void share_scenario(long k, int prefetch, struct sweep_out *o) {
  memset(o, 0, sizeof(*o));
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  tl_alloc_index = 0;
  tl_fail_at = k;
  errno = 0;
  rill_observable_t *m = marble_cold(s, "-1-2-3-4-5-6|");
  rill_observable_t *sh = rill_share(
      m, &(rill_share_opts_t){
             .prefetch = (size_t)prefetch, .sched = s, .grace_ms = 2});
  if (sh == NULL) {
    o->ctor = errno;
  } else {
    tsub_t t[3];
    ts_init(&t[0], s, RILL_UNBOUNDED);
    ts_init(&t[1], s, 0);
    ts_init(&t[2], s, RILL_UNBOUNDED);
    o->sub_rc[0] = ts_subscribe(&t[0], sh);
    ck_assert_int_eq(rill_sched_advance_to(s, 2), 0);
    o->sub_rc[1] = ts_subscribe(&t[1], sh);
    ck_assert_int_eq(rill_sched_advance_to(s, 9), 0);
    ts_request(&t[1], RILL_UNBOUNDED);
    ck_assert_int_eq(rill_sched_advance_to(s, 20), 0);
    o->sub_rc[2] = ts_subscribe(&t[2], sh);
    ck_assert_int_eq(rill_sched_run(s, 0), 0);
    for (int i = 0; i < 3; i++) {
      ck_assert_ts_ok(&t[i]);
      o->term[i] = t[i].terminal;
      o->code[i] = t[i].err.code;
      o->n[i] = t[i].nexts;
      memcpy(o->v[i], t[i].v, sizeof(o->v[i]));
      if (o->sub_rc[i] == 0)
        ck_assert_msg(t[i].terminal != REC_NONE,
                      "share: site %ld: subscriber %d has no terminal", k, i);
    }
    rill_observable_free(sh);
  }
  o->reached = tl_alloc_index > k;
  tl_fail_at = -1;
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "share: site %ld: %ld blocks leaked", k,
                live - baseline);
}

/* share: each subscriber fails with ENOMEM or completes with a run of the
 * source from some value to its end (a subscriber whose predecessor failed
 * may have connected itself, earlier in the source than the reference);
 * when nobody failed, exactly the reference. */
static void share_check(long k, const struct sweep_out *ref,
                        const struct sweep_out *x) {
  if (x->ctor != 0) {
    ck_assert_msg(x->ctor == ENOMEM, "share: site %ld: ctor errno %d", k,
                  x->ctor);
    return;
  }
  bool failed = false;
  for (int i = 0; i < 3; i++) {
    if (x->sub_rc[i] != 0) {
      ck_assert_int_eq(x->sub_rc[i], RILL_ENOMEM);
      failed = true;
      continue;
    }
    if (x->term[i] == REC_ERROR) {
      ck_assert_msg(x->code[i] == RILL_ENOMEM, "share: site %ld: %s", k,
                    rill_err_name(x->code[i]));
      failed = true;
      continue;
    }
    ck_assert_int_eq(x->term[i], REC_COMPLETE);
    ck_assert_msg(x->n[i] >= 1 && x->v[i][x->n[i] - 1] == 6,
                  "share: site %ld: subscriber %d ended at %lld", k, i,
                  (long long)(x->n[i] ? x->v[i][x->n[i] - 1] : -1));
    for (int64_t j = 1; j < x->n[i]; j++)
      ck_assert_msg(x->v[i][j] == x->v[i][j - 1] + 1,
                    "share: site %ld: subscriber %d skipped a value", k, i);
  }
  if (!failed)
    sweep_check("share", k, ref, x, 3);
}

START_TEST(share_fails_cleanly_at_every_allocation) {
  static const int prefetches[2] = {0, 2};
  for (int p = 0; p < 2; p++) {
    struct sweep_out ref, x;
    share_scenario(-1, prefetches[p], &ref);
    ck_assert_int_eq(ref.term[0], REC_COMPLETE);
    ck_assert_int_eq(ref.n[0], 6);
    ck_assert_int_eq(ref.n[1], 5); /* from 2 on, buffered until 9 */
    ck_assert_int_eq(ref.n[2], 6); /* a new connection */
    long k;
    for (k = 0;; k++) {
      share_scenario(k, prefetches[p], &x);
      if (!x.reached)
        break;
      share_check(k, &ref, &x);
    }
    ck_assert_int_gt(k, 8);
  }
}
END_TEST

/* ======================================================================== */

Suite *subject_suite(void) {
  Suite *s = suite_create("subject");
  TCase *tc = tcase_create("subject");
  tcase_add_test(
      tc, subject_fans_out_to_every_subscriber_and_late_ones_get_later_values);
  tcase_add_test(tc,
                 subject_error_reaches_every_subscriber_and_late_ones_verbatim);
  tcase_add_test(tc, subject_arguments_are_checked);
  tcase_add_test(tc, slowest_subscriber_governs_the_demand);
  tcase_add_test(tc, overflow_drop_releases_what_does_not_fit);
  tcase_add_test(tc, overflow_latest_keeps_the_newest_in_the_last_slot);
  tcase_add_test(tc, overflow_error_fails_that_subscriber_at_once);
  tcase_add_test(tc, overflow_latest_with_a_buffer_of_one_holds_the_newest);
  tcase_add_test(tc, terminal_waits_behind_buffered_values);
  tcase_add_test(tc, a_filter_downstream_drops_without_costing_demand);
  tcase_add_test(tc, cancel_releases_buffered_owned_values);
  tcase_add_test(tc,
                 free_while_subscribed_keeps_the_subject_for_its_observable);
  suite_add_tcase(s, tc);
  tc = tcase_create("reentrancy");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc,
                 push_from_on_next_comes_after_the_current_value_for_everyone);
  tcase_add_test(tc,
                 complete_from_on_next_waits_for_the_values_pushed_before_it);
  tcase_add_test(tc, cancel_another_subscriber_during_fan_out);
  tcase_add_test(tc, cancel_itself_during_fan_out);
  tcase_add_test(tc, subscribe_from_on_next_gets_the_later_values);
  tcase_add_test(tc, push_from_on_next_outside_a_fan_out_keeps_the_order);
  tcase_add_test(tc, pushing_from_every_on_next_keeps_a_flat_stack);
  tcase_add_test(tc, free_from_on_next_during_fan_out);
  tcase_add_test(tc, on_demand_drives_a_pusher_without_overflow);
  suite_add_tcase(s, tc);
  tc = tcase_create("memory");
  tcase_add_test(tc, behavior_gives_the_current_value_first);
  tcase_add_test(tc, behavior_value_waits_for_demand_and_owned_values_balance);
  tcase_add_test(tc, replay_by_count_gives_the_last_values_then_the_terminal);
  tcase_add_test(tc, replay_by_age_drops_what_is_too_old);
  tcase_add_test(tc, replay_by_count_and_age);
  tcase_add_test(tc, replay_larger_than_the_buffer_is_given_whole);
  tcase_add_test(tc, owned_values_fanned_out_are_released_exactly_once);
  suite_add_tcase(s, tc);
  tc = tcase_create("share");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, share_connects_once_and_late_subscribers_join_the_stream);
  tcase_add_test(tc, share_disconnects_when_the_last_subscriber_leaves);
  tcase_add_test(tc, share_grace_period_keeps_the_connection_for_a_while);
  tcase_add_test(tc,
                 share_grace_period_restarts_when_the_last_one_leaves_again);
  tcase_add_test(tc, share_infinite_grace_stays_connected);
  tcase_add_test(tc, share_freed_during_grace_disconnects);
  tcase_add_test(tc, share_error_reaches_every_subscriber_and_resets);
  tcase_add_test(tc, share_slowest_subscriber_governs_the_upstream_demand);
  tcase_add_test(tc, share_with_a_synchronous_source_and_several_subscribers);
  tcase_add_test(tc, share_owned_values_go_to_every_subscriber_by_reference);
  tcase_add_test(tc, share_cancel_and_subscribe_from_on_next);
  tcase_add_test(tc,
                 share_last_cancel_inside_on_next_stops_a_synchronous_source);
  tcase_add_test(tc, share_resubscribed_a_million_times_keeps_a_flat_stack);
  tcase_add_test(tc, share_arguments_are_checked);
  suite_add_tcase(s, tc);
  tc = tcase_create("enomem");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, subject_fails_cleanly_at_every_allocation);
  tcase_add_test(tc, share_fails_cleanly_at_every_allocation);
  suite_add_tcase(s, tc);
  return s;
}
