/* SPDX-License-Identifier: MIT */
/* rill tests: side effects and notifications (issue 9): tap, finalize,
 * defer, materialize, dematerialize, and the notification values they
 * carry (src/notification.c).
 *
 * Order is checked with a log of one character per signal: the logging
 * subscriber writes S (on_subscribe), N (on_next), C, E; tap hooks write
 * their own letters; finalize writes F.  Timed cases run on the virtual
 * scheduler (tests/marble.h).  Every test releases what it made: owned
 * values balanced, and the ENOMEM sweeps check the allocator's live count
 * too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static rill_sched_t *vs;

static void setup(void) {
  vs = rill_sched_virtual_new();
  tl_owned_reset();
}
static void teardown(void) {
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
  ck_assert_owned_balanced();
}

/* ---- the log
 * ---------------------------------------------------------------*/

static char tlog[512];
static size_t tlog_len;

static void log_reset(void) {
  tlog_len = 0;
  tlog[0] = '\0';
}
static void log_c(char c) {
  if (tlog_len + 1 < sizeof(tlog)) {
    tlog[tlog_len++] = c;
    tlog[tlog_len] = '\0';
  }
}

/* ---- a logging subscriber
 * --------------------------------------------------*/

#define LS_MAX 64

struct lsub {
  rill_subscription_t *s; /* borrowed, or our own handle */
  int64_t request_on_subscribe;
  int64_t cancel_at; /* cancel (twice) inside the k-th on_next */
  bool cancel_on_subscribe;
  bool store; /* keep the values (else release them) */
  int64_t nexts;
  rill_value_t v[LS_MAX];
  int subscribes;
  int terminals;
  enum rec_terminal terminal;
  rill_error_t err;
  bool over;        /* terminated or cancelled: the handle is off limits */
  long fin_in_next; /* finalize count seen inside the cancelling on_next */
  long fin_in_terminal;
};

static long fin_count; /* finalize calls */

static void ls_init(struct lsub *l) {
  memset(l, 0, sizeof(*l));
  l->store = true;
}

static void ls_request(struct lsub *l, int64_t n) {
  if (!l->over && l->s != NULL)
    rill_subscription_request(l->s, n);
}

static void ls_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct lsub *l = ctx;
  log_c('S');
  l->subscribes++;
  l->s = s;
  if (l->cancel_on_subscribe) {
    rill_subscription_cancel(s);
    rill_subscription_cancel(s);
    l->over = true;
    return;
  }
  if (l->request_on_subscribe > 0)
    rill_subscription_request(s, l->request_on_subscribe);
}

static void ls_on_next(void *ctx, rill_value_t v) {
  struct lsub *l = ctx;
  log_c('N');
  if (l->store && l->nexts < LS_MAX)
    l->v[l->nexts] = v;
  else
    rill_value_release(v);
  l->nexts++;
  if (l->cancel_at > 0 && l->nexts == l->cancel_at) {
    rill_subscription_cancel(l->s);
    rill_subscription_cancel(l->s);
    l->over = true;
    l->fin_in_next = fin_count;
  }
}

static void ls_on_error(void *ctx, const rill_error_t *err) {
  struct lsub *l = ctx;
  log_c('E');
  l->terminals++;
  l->terminal = REC_ERROR;
  l->err = *err;
  l->over = true;
  l->fin_in_terminal = fin_count;
}

static void ls_on_complete(void *ctx) {
  struct lsub *l = ctx;
  log_c('C');
  l->terminals++;
  l->terminal = REC_COMPLETE;
  l->over = true;
  l->fin_in_terminal = fin_count;
}

static const rill_subscriber_t ls_sub = {
    .on_subscribe = ls_on_subscribe,
    .on_next = ls_on_next,
    .on_error = ls_on_error,
    .on_complete = ls_on_complete,
};

static int ls_subscribe(struct lsub *l, rill_observable_t *obs) {
  return rill_observable_subscribe(obs, &ls_sub, l, NULL);
}

static void ls_clear(struct lsub *l) {
  int64_t kept = l->nexts < LS_MAX ? l->nexts : LS_MAX;
  if (l->store)
    for (int64_t i = 0; i < kept; i++)
      rill_value_release(l->v[i]);
  l->nexts = 0;
}

/* The int a value stands for: ints, owned test values. */
static int64_t as_int(rill_value_t v) {
  if (v.kind == RILL_KIND_OWNED)
    return tl_owned_int(v);
  ck_assert_int_eq(v.kind, RILL_KIND_INT);
  return v.as.i;
}

static int to_owned(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = tl_owned(in.as.i);
  return out->kind == RILL_KIND_NONE ? RILL_ENOMEM : 0;
}

/* start .. start+n-1 as owned test values. */
static rill_observable_t *owned_range(int64_t start, int64_t n) {
  return rill_map(rill_range(start, n), to_owned, NULL);
}

/* ---- notification values
 * ---------------------------------------------------*/

START_TEST(notification_next_holds_its_value_and_releases_it_once) {
  rill_value_t n;
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_NEXT, tl_owned(7), NULL, &n), 0);
  ck_assert_int_eq(n.kind, RILL_KIND_OWNED);
  const rill_notification_t *p = rill_value_notification(n);
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->kind, RILL_NOTIFICATION_NEXT);
  ck_assert_int_eq(tl_owned_int(p->value), 7);
  ck_assert_int_eq(tl_owned_released, 0);
  rill_value_release(n);
  ck_assert_int_eq(tl_owned_released, 1);
  /* a scalar inside */
  ck_assert_int_eq(rill_notification_new(RILL_NOTIFICATION_NEXT,
                                         rill_value_int(-3), NULL, &n),
                   0);
  ck_assert_int_eq(rill_value_notification(n)->value.as.i, -3);
  rill_value_release(n);
}
END_TEST

START_TEST(notification_error_copies_the_error) {
  rill_error_t err = {.code = RILL_EAPP_BASE - 4, .stage = "here"};
  strcpy(err.message, "it broke");
  rill_value_t n;
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_ERROR, tl_owned(1), &err, &n), 0);
  ck_assert_int_eq(tl_owned_released, 1); /* not kept: not a NEXT */
  memset(&err, 0, sizeof(err));           /* the notification has a copy */
  const rill_notification_t *p = rill_value_notification(n);
  ck_assert_int_eq(p->kind, RILL_NOTIFICATION_ERROR);
  ck_assert_int_eq(p->error.code, RILL_EAPP_BASE - 4);
  ck_assert_str_eq(p->error.stage, "here");
  ck_assert_str_eq(p->error.message, "it broke");
  ck_assert_int_eq(p->value.kind, RILL_KIND_NONE);
  rill_value_release(n);
}
END_TEST

START_TEST(notification_complete_releases_a_given_value) {
  rill_value_t n;
  rill_error_t err = {.code = RILL_EUSER};
  /* err is ignored for COMPLETE; the value is released at once */
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_COMPLETE, tl_owned(2), &err, &n),
      0);
  ck_assert_int_eq(tl_owned_released, 1);
  const rill_notification_t *p = rill_value_notification(n);
  ck_assert_int_eq(p->kind, RILL_NOTIFICATION_COMPLETE);
  ck_assert_int_eq(p->value.kind, RILL_KIND_NONE);
  ck_assert_int_eq(p->error.code, 0);
  rill_value_release(n);
}
END_TEST

START_TEST(notification_bad_arguments_are_einval_and_release_the_value) {
  static const int bad_kinds[] = {0, 4, -1, 1000};
  for (size_t i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
    rill_value_t n = rill_value_int(99);
    ck_assert_int_eq(
        rill_notification_new((rill_notification_kind_t)bad_kinds[i],
                              tl_owned(1), NULL, &n),
        RILL_EINVAL);
    ck_assert_int_eq(n.kind, RILL_KIND_NONE);
  }
  rill_value_t n = rill_value_int(99);
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_ERROR, tl_owned(1), NULL, &n),
      RILL_EINVAL);
  ck_assert_int_eq(n.kind, RILL_KIND_NONE);
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_NEXT, tl_owned(1), NULL, NULL),
      RILL_EINVAL);
  ck_assert_int_eq(tl_owned_released, 6);
}
END_TEST

START_TEST(notification_enomem_at_each_allocation_releases_the_value) {
  for (long k = 0;; k++) {
    tl_alloc_install();
    rill_value_t n = rill_value_int(99);
    rill_value_t inner = tl_owned(5); /* its box: allocation 0 */
    ck_assert_int_eq(inner.kind, RILL_KIND_OWNED);
    tl_fail_at = tl_alloc_index + k;
    int rc = rill_notification_new(RILL_NOTIFICATION_NEXT, inner, NULL, &n);
    bool reached = tl_alloc_index > tl_fail_at;
    if (rc == 0)
      rill_value_release(n);
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_int_eq(live, 0);
    ck_assert_owned_balanced();
    if (!reached) {
      ck_assert_int_eq(rc, 0);
      ck_assert_int_ge(k, 2); /* the notification and its box */
      break;
    }
    ck_assert_int_eq(rc, RILL_ENOMEM);
    ck_assert_int_eq(n.kind, RILL_KIND_NONE);
  }
}
END_TEST

static void user_release(void *p) {
  free(p);
}

START_TEST(value_notification_is_null_for_other_values) {
  ck_assert_ptr_null(rill_value_notification((rill_value_t){0}));
  ck_assert_ptr_null(rill_value_notification(rill_value_int(1)));
  ck_assert_ptr_null(rill_value_notification(rill_value_double(1.5)));
  ck_assert_ptr_null(rill_value_notification(rill_value_bool(true)));
  ck_assert_ptr_null(rill_value_notification(rill_value_ptr(&vs)));
  rill_value_t b = rill_value_buf(rill_buf_from("ab", 2));
  ck_assert_ptr_null(rill_value_notification(b));
  rill_value_release(b);
  rill_value_t a = rill_value_array(rill_array_new(1));
  ck_assert_ptr_null(rill_value_notification(a));
  rill_value_release(a);
  rill_value_t o = tl_owned(3);
  ck_assert_ptr_null(rill_value_notification(o));
  rill_value_release(o);
  /* a user box around a notification-sized struct is still not one */
  rill_value_t u;
  ck_assert_int_eq(rill_value_owned(calloc(1, sizeof(rill_notification_t)),
                                    user_release, &u),
                   0);
  ck_assert_ptr_null(rill_value_notification(u));
  rill_value_release(u);
}
END_TEST

START_TEST(notification_references_balance) {
  rill_value_t n;
  ck_assert_int_eq(
      rill_notification_new(RILL_NOTIFICATION_NEXT, tl_owned(1), NULL, &n), 0);
  rill_value_t m = rill_value_retain(n);
  rill_value_retain(n);
  ck_assert_ptr_eq(rill_value_notification(m), rill_value_notification(n));
  rill_value_release(n);
  rill_value_release(m);
  ck_assert_int_eq(tl_owned_released, 0);
  ck_assert_ptr_nonnull(rill_value_notification(n)); /* one reference left */
  rill_value_release(n);
  ck_assert_int_eq(tl_owned_released, 1);
  /* an array of notifications (all_settled's shape) releases each once */
  rill_array_t *arr = rill_array_new(2);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(
        rill_notification_new(RILL_NOTIFICATION_NEXT, tl_owned(i), NULL, &n),
        0);
    ck_assert_int_eq(rill_array_push(arr, n), 0);
  }
  rill_array_unref(arr);
  ck_assert_int_eq(tl_owned_released, 4);
}
END_TEST

/* ---- tap
 * -------------------------------------------------------------------*/

struct tap_log {
  char next, error, complete, cancel, request; /* 0: that hook is NULL */
  int64_t fail_at; /* on_next fails at this (1-based) value, 0 never */
  int fail_code;
  const char *fail_msg;
  int64_t cancel_at; /* on_next hook cancels `cancel_sub` at this value */
  rill_subscription_t **cancel_sub;
  int64_t seen;
  int64_t requests[8];
  int nrequests;
  double t_next[8]; /* virtual times of on_next, complete */
  double t_complete;
};

static int th_next(void *ctx, rill_value_t v) {
  struct tap_log *t = ctx;
  (void)v;
  log_c(t->next);
  if (t->seen < 8)
    t->t_next[t->seen] = rill_sched_now(vs);
  t->seen++;
  if (t->cancel_at > 0 && t->seen == t->cancel_at)
    rill_subscription_cancel(*t->cancel_sub);
  if (t->fail_at > 0 && t->seen == t->fail_at)
    return t->fail_msg ? rill_fail(t->fail_code, "%s", t->fail_msg)
                       : t->fail_code;
  return 0;
}
static void th_error(void *ctx, const rill_error_t *err) {
  struct tap_log *t = ctx;
  (void)err;
  log_c(t->error);
}
static void th_complete(void *ctx) {
  struct tap_log *t = ctx;
  t->t_complete = rill_sched_now(vs);
  log_c(t->complete);
}
static void th_cancel(void *ctx) {
  struct tap_log *t = ctx;
  log_c(t->cancel);
}
static void th_request(void *ctx, int64_t n) {
  struct tap_log *t = ctx;
  log_c(t->request);
  if (t->nrequests < 8)
    t->requests[t->nrequests++] = n;
}

static rill_tap_hooks_t hooks_for(const struct tap_log *t) {
  rill_tap_hooks_t h = {0};
  if (t->next)
    h.on_next = th_next;
  if (t->error)
    h.on_error = th_error;
  if (t->complete)
    h.on_complete = th_complete;
  if (t->cancel)
    h.on_cancel = th_cancel;
  if (t->request)
    h.on_request = th_request;
  return h;
}

static rill_observable_t *tapped(rill_observable_t *src, struct tap_log *t) {
  rill_tap_hooks_t h = hooks_for(t);
  return rill_tap(src, &h, t);
}

static struct tap_log lower(void) {
  return (struct tap_log){.next = 'n',
                          .error = 'e',
                          .complete = 'c',
                          .cancel = 'x',
                          .request = 'r'};
}
static struct tap_log upper(void) {
  return (struct tap_log){.next = 'V',
                          .error = 'R',
                          .complete = 'D',
                          .cancel = 'X',
                          .request = 'Q'};
}

START_TEST(tap_hooks_run_before_their_signals) {
  log_reset();
  struct tap_log t = lower();
  rill_observable_t *obs = tapped(rill_range(0, 2), &t);
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ls_request(&l, 1);
  ls_request(&l, 1);
  /* range completes right after its last value */
  ck_assert_str_eq(tlog, "SrnNrnNcC");
  ck_assert_int_eq(t.nrequests, 2);
  ck_assert_int_eq(as_int(l.v[0]), 0);
  ck_assert_int_eq(as_int(l.v[1]), 1);
  ls_clear(&l);
  rill_observable_free(obs);
  /* an error: the hook first, the error unchanged */
  log_reset();
  t = lower();
  obs = tapped(rill_error(RILL_EUSER, "boom"), &t);
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SeE");
  ck_assert_int_eq(l.err.code, RILL_EUSER);
  ck_assert_str_eq(l.err.message, "boom");
  rill_observable_free(obs);
}
END_TEST

START_TEST(tap_on_cancel_runs_for_a_downstream_cancel_only_once) {
  /* outer tap (lower case) over inner tap (upper case): a cancel runs the
   * outer hook, then reaches the inner one */
  log_reset();
  struct tap_log in = upper(), out = lower();
  rill_observable_t *obs = tapped(tapped(rill_range(0, 10), &in), &out);
  rill_subscription_t *h;
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &h), 0);
  rill_subscription_request(h, 1);
  rill_subscription_cancel(h);
  rill_subscription_cancel(h);
  rill_subscription_request(h, 1);
  ck_assert_str_eq(tlog, "SrQVnNxX");
  rill_subscription_free(h);
  ls_clear(&l);
  /* after a terminal a cancel runs no hook */
  log_reset();
  ls_init(&l);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &h), 0);
  rill_subscription_request(h, RILL_UNBOUNDED);
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  size_t len = strlen(tlog);
  ck_assert_int_eq(tlog[len - 1], 'C');
  rill_subscription_cancel(h);
  rill_subscription_free(h);
  ck_assert_uint_eq(strlen(tlog), len);
  ck_assert_ptr_null(strchr(tlog, 'x'));
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(tap_on_next_failing_mid_stream_releases_values_once) {
  log_reset();
  struct tap_log in = upper(), out = lower();
  out.fail_at = 4;
  out.fail_code = RILL_EAPP_BASE - 9;
  rill_observable_t *obs = tapped(tapped(owned_range(0, 10), &in), &out);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 3);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(as_int(l.v[i]), i);
  ck_assert_int_eq(l.terminal, REC_ERROR);
  ck_assert_int_eq(l.terminals, 1);
  ck_assert_int_eq(l.err.code, RILL_EAPP_BASE - 9);
  ck_assert_str_eq(l.err.stage, "tap");
  /* the failing stage cancels upstream (X) and runs no hook of its own
   * for the ending (no x, no e) */
  ck_assert_str_eq(tlog, "SrQVnNVnNVnNVnXE");
  ls_clear(&l);
  ck_assert_int_eq(tl_owned_made, 4);
  ck_assert_owned_balanced();
  rill_observable_free(obs);
  /* with a message attached through rill_fail */
  out = lower();
  out.fail_at = 1;
  out.fail_code = RILL_EAPP_BASE - 2;
  out.fail_msg = "value refused";
  obs = tapped(owned_range(5, 3), &out);
  ls_init(&l);
  l.request_on_subscribe = 2;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 0);
  ck_assert_int_eq(l.err.code, RILL_EAPP_BASE - 2);
  ck_assert_ptr_nonnull(strstr(l.err.message, "value refused"));
  ck_assert_ptr_nonnull(strstr(l.err.message, "tap"));
  rill_observable_free(obs);
}
END_TEST

START_TEST(tap_hook_cancelling_inside_on_next_stops_the_value) {
  log_reset();
  struct tap_log t = lower();
  rill_subscription_t *h = NULL;
  t.cancel_at = 2;
  t.cancel_sub = &h;
  rill_observable_t *obs = tapped(owned_range(0, 5), &t);
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &h), 0);
  rill_subscription_request(h, 5);
  /* the second value is released, not delivered; nothing after it */
  ck_assert_str_eq(tlog, "SrnNnx");
  ck_assert_int_eq(l.nexts, 1);
  ck_assert_int_eq(l.terminals, 0);
  rill_subscription_free(h);
  ls_clear(&l);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* Hooks that cancel the subscription (through the caller's handle) from
 * inside on_request, on_complete and on_error: nothing is signalled after
 * the cancel, and on_cancel runs once. */
static rill_subscription_t *hook_handle;
static void th_cancel_now(void *ctx) {
  th_complete(ctx);
  rill_subscription_cancel(hook_handle);
  rill_subscription_cancel(hook_handle);
}
static void th_error_cancel(void *ctx, const rill_error_t *err) {
  th_error(ctx, err);
  rill_subscription_cancel(hook_handle);
}
static void th_request_cancel(void *ctx, int64_t n) {
  th_request(ctx, n);
  rill_subscription_cancel(hook_handle);
}

START_TEST(tap_hooks_may_cancel_from_inside_every_hook) {
  static const char *const want[] = {"Srx", "SrnNcx", "Sex"};
  for (int which = 0; which < 3; which++) {
    log_reset();
    struct tap_log t = lower();
    rill_tap_hooks_t h = hooks_for(&t);
    rill_observable_t *src = owned_range(0, 1);
    if (which == 0)
      h.on_request = th_request_cancel;
    else if (which == 1)
      h.on_complete = th_cancel_now;
    else {
      h.on_error = th_error_cancel;
      rill_observable_free(src);
      src = rill_error(RILL_EUSER, "x");
    }
    rill_observable_t *obs = rill_tap(src, &h, &t);
    struct lsub l;
    ls_init(&l);
    ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &hook_handle),
                     0);
    rill_subscription_request(hook_handle, 5);
    rill_subscription_request(hook_handle, 5);
    ck_assert_str_eq(tlog, want[which]);
    ck_assert_int_eq(l.terminals, 0);
    rill_subscription_free(hook_handle);
    ls_clear(&l);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(tap_copies_its_hooks_and_skips_null_ones) {
  log_reset();
  struct tap_log t = lower();
  rill_tap_hooks_t h = {.on_next = th_next};
  rill_observable_t *obs = rill_tap(rill_range(0, 3), &h, &t);
  h.on_next = NULL; /* the caller's struct is not read again */
  h.on_complete = th_complete;
  ck_assert_ptr_nonnull(obs);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = 10;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SnNnNnNC");
  ls_clear(&l);
  rill_observable_free(obs);
  /* no hook at all: a pass-through */
  log_reset();
  rill_tap_hooks_t none = {0};
  obs = rill_tap(owned_range(0, 3), &none, NULL);
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SNNNC");
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(tap_rejects_null_hooks_and_releases_the_source) {
  errno = 0;
  ck_assert_ptr_null(rill_tap(rill_just(1, tl_owned(1)), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  rill_tap_hooks_t none = {0};
  errno = 0;
  ck_assert_ptr_null(rill_tap(NULL, &none, NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(tap_on_request_sees_each_request) {
  struct tap_log t = {.request = 'r'};
  rill_observable_t *obs = tapped(rill_range(0, 100), &t);
  struct lsub l;
  ls_init(&l);
  l.store = false;
  l.request_on_subscribe = 3;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ls_request(&l, 5);
  ls_request(&l, RILL_UNBOUNDED);
  ck_assert_int_eq(t.nrequests, 3);
  ck_assert_int_eq(t.requests[0], 3);
  ck_assert_int_eq(t.requests[1], 5);
  ck_assert_int_eq(t.requests[2], RILL_UNBOUNDED);
  ck_assert_int_eq(l.nexts, 100);
  rill_observable_free(obs);
}
END_TEST

START_TEST(tap_on_virtual_time_sees_signals_when_they_pass) {
  struct tap_log t = lower();
  rill_observable_t *obs = tapped(marble_cold(vs, "-1--2-|"), &t);
  ck_assert_marble(vs, obs, 0, "-1--2-|");
  ck_assert_int_eq(t.seen, 2);
  ck_assert(t.t_next[0] == 1 && t.t_next[1] == 4 && t.t_complete == 6);
  rill_observable_free(obs);
}
END_TEST

/* ---- finalize
 * --------------------------------------------------------------*/

static double fin_at;
static uintptr_t fin_stack_lo, fin_stack_hi;

static void fin_reset(void) {
  fin_count = 0;
  fin_at = -1;
  fin_stack_lo = fin_stack_hi = 0;
}

static void fin(void *ctx) {
  (void)ctx;
  fin_count++;
  fin_at = rill_sched_now(vs);
  log_c('F');
}

START_TEST(finalize_runs_once_after_complete) {
  log_reset();
  fin_reset();
  rill_observable_t *obs = rill_finalize(owned_range(0, 3), fin, NULL);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SNNNCF");
  ck_assert_int_eq(l.fin_in_terminal, 0); /* not before on_complete */
  ck_assert_int_eq(fin_count, 1);
  ls_clear(&l);
  rill_observable_free(obs);
  ck_assert_int_eq(fin_count, 1);
}
END_TEST

START_TEST(finalize_runs_once_after_error) {
  log_reset();
  fin_reset();
  rill_observable_t *parts[2] = {owned_range(0, 2),
                                 rill_error(RILL_EUSER, "x")};
  rill_observable_t *obs = rill_finalize(rill_concat(parts, 2), fin, NULL);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SNNEF");
  ck_assert_int_eq(l.fin_in_terminal, 0);
  ck_assert_int_eq(l.err.code, RILL_EUSER);
  ls_clear(&l);
  rill_observable_free(obs);
  ck_assert_int_eq(fin_count, 1);
}
END_TEST

START_TEST(finalize_runs_once_after_cancel_even_twice) {
  log_reset();
  fin_reset();
  struct tap_log up = upper();
  rill_observable_t *obs =
      rill_finalize(tapped(owned_range(0, 10), &up), fin, NULL);
  rill_subscription_t *h;
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &h), 0);
  rill_subscription_request(h, 2);
  ck_assert_int_eq(fin_count, 0); /* live */
  rill_subscription_cancel(h);
  ck_assert_int_eq(fin_count, 1); /* when cancel returns */
  rill_subscription_cancel(h);
  rill_subscription_request(h, 1);
  rill_subscription_free(h);
  /* after the cancel reached the source (X) */
  ck_assert_str_eq(tlog, "SQVNVNXF");
  ck_assert_int_eq(fin_count, 1);
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(finalize_after_a_cancel_from_inside_on_next_waits_for_it) {
  log_reset();
  fin_reset();
  rill_observable_t *obs = rill_finalize(owned_range(0, 10), fin, NULL);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  l.cancel_at = 2;
  l.fin_in_next = -1;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.fin_in_next, 0); /* not under the on_next */
  ck_assert_int_eq(fin_count, 1);
  ck_assert_str_eq(tlog, "SNNF");
  ls_clear(&l);
  rill_observable_free(obs);
  ck_assert_int_eq(fin_count, 1);
}
END_TEST

START_TEST(finalize_runs_for_a_cancel_inside_on_subscribe) {
  log_reset();
  fin_reset();
  rill_observable_t *obs = rill_finalize(rill_range(0, 10), fin, NULL);
  struct lsub l;
  ls_init(&l);
  l.cancel_on_subscribe = true;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SF");
  rill_observable_free(obs);
}
END_TEST

static int failing_factory(void *ctx, rill_observable_t **out) {
  (void)ctx;
  (void)out;
  return RILL_EAPP_BASE - 1;
}

START_TEST(finalize_runs_when_the_subscription_fails) {
  log_reset();
  fin_reset();
  rill_observable_t *obs =
      rill_finalize(rill_defer(failing_factory, NULL), fin, NULL);
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SEF");
  ck_assert_int_eq(l.err.code, RILL_EAPP_BASE - 1);
  rill_observable_free(obs);
}
END_TEST

/* Allocation failure anywhere, including finalize's own stage: fn runs
 * exactly once for every subscription that got on_subscribe, after its
 * terminal, and never for one that did not. */
START_TEST(finalize_runs_once_per_subscription_under_enomem) {
  bool saw_reject = false;
  for (long k = 0;; k++) {
    fin_reset();
    log_reset();
    tl_alloc_install();
    tl_fail_at = k;
    errno = 0;
    rill_observable_t *obs = rill_finalize(
        rill_take(rill_map(rill_range(0, 5), to_owned, NULL), 4), fin, NULL);
    struct lsub l;
    ls_init(&l);
    l.request_on_subscribe = RILL_UNBOUNDED;
    int rc = obs ? ls_subscribe(&l, obs) : RILL_ENOMEM;
    if (obs == NULL)
      ck_assert_int_eq(errno, ENOMEM);
    int64_t nexts = l.nexts;
    ls_clear(&l);
    rill_observable_free(obs);
    bool reached = tl_alloc_index > k;
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_int_eq(live, 0);
    ck_assert_owned_balanced();
    if (obs == NULL || rc != 0) {
      ck_assert_int_eq(fin_count, 0); /* never subscribed */
    } else {
      ck_assert_int_eq(l.subscribes, 1);
      ck_assert_int_eq(l.terminals, 1);
      ck_assert_int_eq(fin_count, 1);
      ck_assert_int_eq(l.fin_in_terminal, 0);
      ck_assert_int_eq(tlog[strlen(tlog) - 1], 'F');
      if (l.terminal == REC_ERROR) {
        ck_assert_int_eq(l.err.code, RILL_ENOMEM);
        if (strcmp(l.err.stage, "finalize") == 0)
          saw_reject = true;
      }
    }
    if (!reached) {
      ck_assert_int_eq(l.terminal, REC_COMPLETE);
      ck_assert_int_eq(nexts, 4);
      break;
    }
  }
  ck_assert(saw_reject); /* the stage's own allocation was reached */
}
END_TEST

START_TEST(finalize_runs_per_subscription_and_not_while_live) {
  fin_reset();
  rill_observable_t *obs = rill_finalize(rill_never(), fin, NULL);
  rill_subscription_t *h1, *h2;
  struct lsub l1, l2;
  ls_init(&l1);
  ls_init(&l2);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l1, &h1), 0);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l2, &h2), 0);
  rill_subscription_request(h1, 5);
  ck_assert_int_eq(fin_count, 0);
  rill_subscription_free(h2);
  ck_assert_int_eq(fin_count, 1);
  rill_subscription_free(h1);
  ck_assert_int_eq(fin_count, 2);
  rill_observable_free(obs);
}
END_TEST

/* fn subscribes again: each new subscription completes at once, and its
 * fn runs from the same release loop, so the stack stays flat. */
static rill_observable_t *again_obs;
static long again_left;

static void fin_again(void *ctx) {
  (void)ctx;
  int here;
  uintptr_t at = (uintptr_t)&here;
  if (fin_stack_lo == 0 || at < fin_stack_lo)
    fin_stack_lo = at;
  if (at > fin_stack_hi)
    fin_stack_hi = at;
  fin_count++;
  if (again_left-- > 0) {
    rill_values_t got = {0};
    ck_assert_int_eq(rill_observable_collect(again_obs, &got, NULL), 0);
    rill_values_clear(&got);
  }
}

START_TEST(finalize_fn_may_subscribe_again_with_a_flat_stack) {
  fin_reset();
  int64_t n = tl_scaled(200000);
  again_obs = rill_finalize(rill_range(0, 2), fin_again, NULL);
  again_left = n;
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(again_obs, &got, NULL), 0);
  rill_values_clear(&got);
  ck_assert_int_eq(fin_count, n + 1);
  ck_assert_msg(fin_stack_hi - fin_stack_lo < 4096,
                "fn frames spread over %lu bytes",
                (unsigned long)(fin_stack_hi - fin_stack_lo));
  rill_observable_free(again_obs);
}
END_TEST

START_TEST(finalize_rejects_a_null_fn_and_releases_the_source) {
  errno = 0;
  ck_assert_ptr_null(rill_finalize(rill_just(1, tl_owned(1)), NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_owned_balanced();
  errno = 0;
  ck_assert_ptr_null(rill_finalize(NULL, fin, NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(finalize_on_virtual_time_runs_at_the_end) {
  fin_reset();
  rill_observable_t *obs = rill_finalize(marble_cold(vs, "-1--2-|"), fin, NULL);
  ck_assert_marble(vs, obs, 0, "-1--2-|");
  ck_assert_int_eq(fin_count, 1);
  ck_assert(fin_at == 6);
  /* a cancel at 3 (the subscription is made at 6) */
  marble_result_t r;
  marble_run_cancel(vs, obs, 0, 3, &r);
  ck_assert_marble_result(&r, "-1-");
  ck_assert_int_eq(fin_count, 2);
  ck_assert(fin_at == 9);
  rill_observable_free(obs);
}
END_TEST

/* ---- defer
 * -----------------------------------------------------------------*/

struct maker {
  int calls;
  int64_t count; /* values per made observable: calls*10 .. */
  bool owned;
  int rc;              /* the factory's result */
  const char *msg;     /* attached with rill_fail when rc < 0 */
  bool leave_null;     /* store no observable */
  const char *marbles; /* make marble_cold(vs, marbles) instead */
};

static int make(void *ctx, rill_observable_t **out) {
  struct maker *m = ctx;
  m->calls++;
  ck_assert_ptr_null(*out);
  if (!m->leave_null) {
    int64_t start = m->calls * 10;
    if (m->marbles != NULL)
      *out = marble_cold(vs, m->marbles);
    else
      *out =
          m->owned ? owned_range(start, m->count) : rill_range(start, m->count);
    if (*out == NULL)
      return RILL_ENOMEM;
  }
  if (m->rc < 0 && m->msg != NULL)
    return rill_fail(m->rc, "%s", m->msg);
  return m->rc;
}

START_TEST(defer_makes_a_fresh_observable_per_subscription) {
  struct maker m = {.count = 3};
  rill_observable_t *obs = rill_defer(make, &m);
  ck_assert_ptr_nonnull(obs);
  ck_assert_int_eq(m.calls, 0); /* not at construction */
  for (int sub = 1; sub <= 3; sub++) {
    struct lsub l;
    ls_init(&l);
    l.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(ls_subscribe(&l, obs), 0);
    ck_assert_int_eq(m.calls, sub);
    ck_assert_int_eq(l.nexts, 3);
    for (int i = 0; i < 3; i++)
      ck_assert_int_eq(as_int(l.v[i]), sub * 10 + i);
    ck_assert_int_eq(l.terminal, REC_COMPLETE);
    ls_clear(&l);
  }
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_factory_failure_fails_that_subscription) {
  log_reset();
  struct maker m = {.count = 3,
                    .rc = RILL_EAPP_BASE - 6,
                    .leave_null = true,
                    .msg = "no connection"};
  rill_observable_t *obs = rill_defer(make, &m);
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_str_eq(tlog, "SE");
  ck_assert_int_eq(l.err.code, RILL_EAPP_BASE - 6);
  ck_assert_str_eq(l.err.stage, "defer");
  ck_assert_ptr_nonnull(strstr(l.err.message, "no connection"));
  /* the next subscription is a new call */
  m.rc = 0;
  m.leave_null = false;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  ck_assert_int_eq(as_int(l.v[0]), 20);
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_factory_without_an_observable_is_einval) {
  struct maker m = {.leave_null = true};
  rill_observable_t *obs = rill_defer(make, &m);
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.terminal, REC_ERROR);
  ck_assert_int_eq(l.err.code, RILL_EINVAL);
  ck_assert_str_eq(l.err.stage, "defer");
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_frees_what_a_failing_factory_made) {
  struct maker m = {.count = 4, .owned = true, .rc = RILL_EUSER};
  rill_observable_t *obs = rill_defer(make, &m);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  tl_alloc_install();
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, 0); /* the made observable is gone */
  ck_assert_int_eq(l.err.code, RILL_EUSER);
  ck_assert_int_eq(l.nexts, 0);
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_hands_early_demand_to_the_made_observable) {
  struct maker m = {.count = 10, .owned = true};
  rill_observable_t *obs = rill_defer(make, &m);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = 2; /* before the factory runs */
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 2);
  ls_request(&l, 3);
  ck_assert_int_eq(l.nexts, 5);
  ck_assert_int_eq(l.terminals, 0);
  ls_request(&l, 5);
  ck_assert_int_eq(l.nexts, 10);
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(as_int(l.v[i]), 10 + i);
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_cancel_inside_on_subscribe_never_calls_the_factory) {
  struct maker m = {.count = 3};
  rill_observable_t *obs = rill_defer(make, &m);
  struct lsub l;
  ls_init(&l);
  l.cancel_on_subscribe = true;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(m.calls, 0);
  ck_assert_int_eq(l.terminals, 0);
  rill_observable_free(obs);
}
END_TEST

static struct lsub *factory_sub;
static int make_and_cancel(void *ctx, rill_observable_t **out) {
  (void)ctx;
  *out = owned_range(0, 3);
  rill_subscription_cancel(factory_sub->s);
  factory_sub->over = true;
  return 0;
}

START_TEST(defer_factory_may_cancel_the_subscription) {
  log_reset();
  rill_observable_t *obs = rill_defer(make_and_cancel, NULL);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  factory_sub = &l;
  tl_alloc_install();
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, 0); /* the made observable is freed unsubscribed */
  ck_assert_str_eq(tlog, "S");
  rill_observable_free(obs);
}
END_TEST

START_TEST(defer_rejects_a_null_factory) {
  errno = 0;
  ck_assert_ptr_null(rill_defer(NULL, NULL));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(defer_on_virtual_time_starts_each_timeline_at_its_subscription) {
  struct maker m = {.marbles = "-1--2|"};
  rill_observable_t *obs = rill_defer(make, &m);
  ck_assert_marble(vs, obs, 0, "-1--2|");
  ck_assert(rill_sched_now(vs) == 5);
  ck_assert_int_eq(rill_sched_advance_by(vs, 10), 0);
  ck_assert_marble(vs, obs, 0, "-1--2|"); /* subscribed at 15 */
  ck_assert(rill_sched_now(vs) == 20);
  ck_assert_int_eq(m.calls, 2);
  rill_observable_free(obs);
}
END_TEST

/* ---- materialize / dematerialize
 * -------------------------------------------*/

/* A notification as an int: NEXT v -> v, ERROR -> 'e', COMPLETE -> 'c'
 * (so marbles show them as letters). */
static int64_t note_int(rill_value_t v) {
  const rill_notification_t *n = rill_value_notification(v);
  ck_assert_ptr_nonnull(n);
  switch (n->kind) {
  case RILL_NOTIFICATION_NEXT:
    return as_int(n->value);
  case RILL_NOTIFICATION_ERROR:
    return 'e';
  default:
    return 'c';
  }
}
static int note_to_int(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(note_int(in));
  return 0;
}

static rill_value_t note(rill_notification_kind_t k, rill_value_t v,
                         const rill_error_t *err) {
  rill_value_t n;
  ck_assert_int_eq(rill_notification_new(k, v, err, &n), 0);
  return n;
}

START_TEST(materialize_turns_values_and_completion_into_notifications) {
  rill_observable_t *obs = rill_materialize(owned_range(1, 3));
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 4);
  for (int i = 0; i < 3; i++) {
    const rill_notification_t *n = rill_value_notification(l.v[i]);
    ck_assert_int_eq(n->kind, RILL_NOTIFICATION_NEXT);
    ck_assert_int_eq(tl_owned_int(n->value), i + 1);
  }
  ck_assert_int_eq(rill_value_notification(l.v[3])->kind,
                   RILL_NOTIFICATION_COMPLETE);
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  ck_assert_int_eq(tl_owned_released, 0); /* held by the notifications */
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(materialize_turns_an_error_into_a_notification_then_completes) {
  rill_observable_t *parts[2] = {owned_range(1, 2),
                                 rill_error(RILL_EUSER, "boom")};
  rill_observable_t *obs = rill_materialize(rill_concat(parts, 2));
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 3);
  ck_assert_int_eq(note_int(l.v[0]), 1);
  ck_assert_int_eq(note_int(l.v[1]), 2);
  const rill_notification_t *n = rill_value_notification(l.v[2]);
  ck_assert_int_eq(n->kind, RILL_NOTIFICATION_ERROR);
  ck_assert_int_eq(n->error.code, RILL_EUSER);
  ck_assert_str_eq(n->error.message, "boom");
  ck_assert_int_eq(l.terminal, REC_COMPLETE); /* the error is a value now */
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(materialize_holds_its_closing_notification_until_requested) {
  rill_observable_t *obs = rill_materialize(owned_range(0, 2));
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ls_request(&l, 1);
  ls_request(&l, 1);
  ck_assert_int_eq(l.nexts, 2); /* the source has completed */
  ck_assert_int_eq(l.terminals, 0);
  ls_request(&l, 1);
  ck_assert_int_eq(l.nexts, 3);
  ck_assert_int_eq(note_int(l.v[2]), 'c');
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  ls_clear(&l);
  rill_observable_free(obs);
  /* a source that ends before any request: held, then one value */
  rill_observable_t *ends[2] = {rill_empty(), rill_error(RILL_EUSER, "x")};
  for (int i = 0; i < 2; i++) {
    obs = rill_materialize(ends[i]);
    ls_init(&l);
    ck_assert_int_eq(ls_subscribe(&l, obs), 0);
    ck_assert_int_eq(l.nexts, 0);
    ck_assert_int_eq(l.terminals, 0);
    ls_request(&l, 5);
    ck_assert_int_eq(l.nexts, 1);
    ck_assert_int_eq(note_int(l.v[0]), i == 0 ? 'c' : 'e');
    ck_assert_int_eq(l.terminal, REC_COMPLETE);
    ls_clear(&l);
    rill_observable_free(obs);
  }
}
END_TEST

START_TEST(materialize_cancelled_while_holding_releases_the_notification) {
  tl_alloc_install();
  rill_observable_t *obs = rill_materialize(rill_error(RILL_EUSER, "x"));
  rill_subscription_t *h;
  struct lsub l;
  ls_init(&l);
  ck_assert_int_eq(rill_observable_subscribe(obs, &ls_sub, &l, &h), 0);
  rill_subscription_cancel(h);
  rill_subscription_request(h, 1);
  rill_subscription_free(h);
  rill_observable_free(obs);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_int_eq(live, 0);
  ck_assert_int_eq(l.nexts, 0);
  ck_assert_int_eq(l.terminals, 0);
}
END_TEST

START_TEST(materialize_cancel_inside_on_next_releases_everything) {
  for (int64_t at = 1; at <= 4; at++) {
    rill_observable_t *obs = rill_materialize(owned_range(0, 3));
    struct lsub l;
    ls_init(&l);
    l.request_on_subscribe = RILL_UNBOUNDED;
    l.cancel_at = at;
    ck_assert_int_eq(ls_subscribe(&l, obs), 0);
    ck_assert_int_eq(l.nexts, at);
    ck_assert_int_eq(l.terminals, 0);
    ls_clear(&l);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

static int is_closing(void *ctx, rill_value_t v) {
  (void)ctx;
  return rill_value_notification(v)->kind != RILL_NOTIFICATION_NEXT;
}

START_TEST(materialize_behind_a_dropping_filter_asks_for_more) {
  /* the filter drops every NEXT: each drop must be asked for again, or
   * one request would stall at the first value */
  rill_observable_t *obs =
      rill_filter(rill_materialize(owned_range(0, 10)), is_closing, NULL);
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = 1;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 1);
  ck_assert_int_eq(note_int(l.v[0]), 'c');
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(materialize_on_virtual_time_keeps_the_times) {
  rill_observable_t *obs =
      rill_map(rill_materialize(marble_cold(vs, "-1--2-#")), note_to_int, NULL);
  ck_assert_marble(vs, obs, 0, "-1--2-(e|)");
  rill_observable_free(obs);
  obs = rill_map(rill_materialize(marble_cold(vs, "--3|")), note_to_int, NULL);
  ck_assert_marble(vs, obs, 0, "--3(c|)");
  rill_observable_free(obs);
}
END_TEST

START_TEST(dematerialize_turns_notifications_back_into_signals) {
  rill_value_t in[4] = {
      note(RILL_NOTIFICATION_NEXT, tl_owned(1), NULL),
      note(RILL_NOTIFICATION_NEXT, tl_owned(2), NULL),
      note(RILL_NOTIFICATION_COMPLETE, (rill_value_t){0}, NULL),
      note(RILL_NOTIFICATION_NEXT, tl_owned(3), NULL),
  };
  rill_observable_t *obs = rill_dematerialize(rill_from_array(in, 4));
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = 2;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 2);
  ck_assert_int_eq(as_int(l.v[0]), 1);
  ck_assert_int_eq(as_int(l.v[1]), 2);
  ck_assert_int_eq(l.terminals, 0); /* COMPLETE needs a unit of demand */
  ls_request(&l, 1);
  ck_assert_int_eq(l.terminal, REC_COMPLETE);
  ck_assert_int_eq(l.nexts, 2);
  ls_clear(&l);
  rill_observable_free(obs); /* the unread NEXT 3 goes with it */
}
END_TEST

START_TEST(dematerialize_ends_with_the_carried_error) {
  rill_error_t err = {.code = RILL_EAPP_BASE - 7, .stage = "upstream"};
  strcpy(err.message, "carried");
  rill_value_t in[3] = {
      note(RILL_NOTIFICATION_NEXT, tl_owned(1), NULL),
      note(RILL_NOTIFICATION_ERROR, (rill_value_t){0}, &err),
      note(RILL_NOTIFICATION_NEXT, tl_owned(2), NULL),
  };
  struct tap_log up = upper();
  rill_observable_t *obs =
      rill_dematerialize(tapped(rill_from_array(in, 3), &up));
  log_reset();
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 1);
  ck_assert_int_eq(l.terminal, REC_ERROR);
  ck_assert_int_eq(l.err.code, RILL_EAPP_BASE - 7);
  ck_assert_str_eq(l.err.stage, "upstream");
  ck_assert_str_eq(l.err.message, "carried");
  ck_assert_str_eq(tlog, "SQVNVXE"); /* the source is cancelled first */
  ls_clear(&l);
  rill_observable_free(obs);
}
END_TEST

START_TEST(dematerialize_fails_on_a_value_that_is_not_a_notification) {
  rill_value_t in[3] = {
      note(RILL_NOTIFICATION_NEXT, tl_owned(1), NULL),
      tl_owned(5),
      note(RILL_NOTIFICATION_NEXT, tl_owned(2), NULL),
  };
  rill_observable_t *obs = rill_dematerialize(rill_from_array(in, 3));
  struct lsub l;
  ls_init(&l);
  l.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&l, obs), 0);
  ck_assert_int_eq(l.nexts, 1);
  ck_assert_int_eq(l.terminal, REC_ERROR);
  ck_assert_int_eq(l.err.code, RILL_EINVAL);
  ck_assert_str_eq(l.err.stage, "dematerialize");
  ls_clear(&l);
  rill_observable_free(obs);
  /* NULL sources */
  errno = 0;
  ck_assert_ptr_null(rill_dematerialize(NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_materialize(NULL));
  ck_assert_int_eq(errno, EINVAL);
  /* a plain int too */
  obs = rill_dematerialize(rill_range(0, 3));
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), RILL_EINVAL);
  ck_assert_uint_eq(got.len, 0);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

START_TEST(dematerialize_of_materialize_is_the_source_on_virtual_time) {
  static const char *const timelines[] = {
      "-1-2-|", "-1--2-#", "--|", "#", "(12)|", "-1-(23)--4-|",
  };
  for (size_t i = 0; i < sizeof(timelines) / sizeof(timelines[0]); i++) {
    rill_observable_t *obs =
        rill_dematerialize(rill_materialize(marble_cold(vs, timelines[i])));
    ck_assert_marble(vs, obs, 0, timelines[i]);
    rill_observable_free(obs);
  }
  /* a source that never ends: cut at 20 and cancelled */
  rill_observable_t *obs =
      rill_dematerialize(rill_materialize(marble_cold(vs, "-1-2--")));
  marble_result_t r;
  marble_run_cancel(vs, obs, 0, 20, &r);
  ck_assert_marble_result(&r, "-1-2");
  rill_observable_free(obs);
}
END_TEST

START_TEST(dematerialize_of_materialize_keeps_values_and_errors) {
  /* owned values come back as the same values, errors with every field */
  rill_observable_t *parts[2] = {owned_range(0, 5),
                                 rill_error(RILL_EAPP_BASE - 3, "deep")};
  rill_observable_t *direct = rill_concat(parts, 2);
  rill_observable_t *obs =
      rill_dematerialize(rill_materialize(rill_observable_ref(direct)));
  struct lsub a, b;
  ls_init(&a);
  ls_init(&b);
  a.request_on_subscribe = b.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(ls_subscribe(&a, direct), 0);
  ck_assert_int_eq(ls_subscribe(&b, obs), 0);
  ck_assert_int_eq(a.nexts, 5);
  ck_assert_int_eq(b.nexts, 5);
  for (int i = 0; i < 5; i++)
    ck_assert_int_eq(as_int(a.v[i]), as_int(b.v[i]));
  ck_assert_int_eq(b.terminal, REC_ERROR);
  ck_assert_int_eq(a.err.code, b.err.code);
  ck_assert_str_eq(a.err.stage, b.err.stage);
  ck_assert_str_eq(a.err.message, b.err.message);
  ls_clear(&a);
  ls_clear(&b);
  rill_observable_free(obs);
  rill_observable_free(direct);
  /* under request(1) the end needs one more request (materialize's closing
   * notification is a value) */
  obs = rill_dematerialize(rill_materialize(rill_range(0, 3)));
  ls_init(&a);
  ck_assert_int_eq(ls_subscribe(&a, obs), 0);
  for (int i = 0; i < 3; i++)
    ls_request(&a, 1);
  ck_assert_int_eq(a.nexts, 3);
  ck_assert_int_eq(a.terminals, 0);
  ls_request(&a, 1);
  ck_assert_int_eq(a.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.nexts, 3);
  ls_clear(&a);
  rill_observable_free(obs);
}
END_TEST

/* ---- ENOMEM sweeps beyond the battery --------------------------------------
 *
 * The battery fails every allocation of its factories on pipelines that
 * complete; these reach the error paths (materialize's ERROR notification,
 * tap's on_error hook, dematerialize's error) and defer's made observable
 * failing to subscribe.  Each run ends with exactly one of: NULL and errno
 * ENOMEM; subscribe returning RILL_ENOMEM; on_error(RILL_ENOMEM); or the
 * reference outcome.  Live blocks and owned values balance after each. */

struct sweep_out {
  int rc; /* subscribe's result, or the constructor's failure */
  enum rec_terminal terminal;
  int code;
  int64_t n;
  int64_t v[LS_MAX];
  int note_err; /* the code of an ERROR notification among the values */
};

static void sweep_run(rill_observable_t *(*build)(void), struct sweep_out *o,
                      bool *reached, long k) {
  memset(o, 0, sizeof(*o));
  tl_owned_reset();
  tl_alloc_install();
  tl_fail_at = k;
  errno = 0;
  rill_observable_t *obs = build();
  if (obs == NULL) {
    ck_assert_int_eq(errno, ENOMEM);
    o->rc = RILL_ENOMEM;
  } else {
    struct lsub l;
    ls_init(&l);
    l.request_on_subscribe = RILL_UNBOUNDED;
    o->rc = ls_subscribe(&l, obs);
    o->terminal = l.terminal;
    o->code = l.err.code;
    o->n = l.nexts;
    for (int64_t i = 0; i < l.nexts && i < LS_MAX; i++) {
      rill_value_t v = l.v[i];
      const rill_notification_t *nt = rill_value_notification(v);
      o->v[i] = nt ? 1000 + note_int(v) : as_int(v);
      if (nt != NULL && nt->kind == RILL_NOTIFICATION_ERROR)
        o->note_err = nt->error.code;
    }
    ls_clear(&l);
    rill_observable_free(obs);
  }
  *reached = tl_alloc_index > k;
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == 0, "%ld blocks leaked at site %ld", live, k);
  ck_assert_owned_balanced();
}

static void sweep(const char *name, rill_observable_t *(*build)(void)) {
  struct sweep_out ref, o;
  bool reached;
  sweep_run(build, &ref, &reached, -1);
  ck_assert_int_eq(ref.rc, 0);
  ck_assert_int_ne(ref.terminal, REC_NONE);
  for (long k = 0;; k++) {
    sweep_run(build, &o, &reached, k);
    if (!reached) {
      ck_assert_int_eq(o.rc, 0);
      ck_assert_int_eq(o.terminal, ref.terminal);
      ck_assert_int_eq(o.code, ref.code);
      ck_assert_int_eq(o.n, ref.n);
      break;
    }
    if (o.rc != 0) {
      ck_assert_int_eq(o.rc, RILL_ENOMEM);
      continue;
    }
    /* materialize turns an upstream's ENOMEM into its last value */
    bool as_note = o.terminal == REC_COMPLETE && o.note_err == RILL_ENOMEM;
    ck_assert_msg((o.terminal == REC_ERROR && o.code == RILL_ENOMEM) || as_note,
                  "%s: site %ld: terminal %d code %d", name, k, o.terminal,
                  o.code);
    ck_assert_int_le(o.n, ref.n);
    for (int64_t i = 0; i < o.n - (as_note ? 1 : 0); i++)
      ck_assert_int_eq(o.v[i], ref.v[i]); /* a prefix of the reference */
  }
}

static rill_observable_t *owned_then_error(void) {
  rill_observable_t *parts[2] = {owned_range(0, 4),
                                 rill_error(RILL_EUSER, "end")};
  return rill_concat(parts, 2);
}
static rill_observable_t *b_materialize_error(void) {
  return rill_materialize(owned_then_error());
}
static rill_observable_t *b_round_trip_error(void) {
  return rill_dematerialize(rill_materialize(owned_then_error()));
}
static struct tap_log sweep_tap;
static rill_observable_t *b_tap_error(void) {
  sweep_tap = lower();
  return tapped(owned_then_error(), &sweep_tap);
}
static struct maker sweep_maker;
static rill_observable_t *b_defer_owned(void) {
  sweep_maker = (struct maker){.count = 4, .owned = true};
  return rill_take(rill_defer(make, &sweep_maker), 3);
}
static void fin_quiet(void *ctx) {
  (void)ctx;
  fin_count++;
}
static rill_observable_t *b_finalize_error(void) {
  return rill_finalize(owned_then_error(), fin_quiet, NULL);
}

START_TEST(error_paths_fail_cleanly_at_every_allocation) {
  log_reset();
  sweep("materialize_error", b_materialize_error);
  sweep("round_trip_error", b_round_trip_error);
  sweep("tap_error", b_tap_error);
  sweep("defer_owned", b_defer_owned);
  sweep("finalize_error", b_finalize_error);
}
END_TEST

Suite *effects_suite(void) {
  Suite *s = suite_create("effects");
  TCase *tc = tcase_create("notification");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, notification_next_holds_its_value_and_releases_it_once);
  tcase_add_test(tc, notification_error_copies_the_error);
  tcase_add_test(tc, notification_complete_releases_a_given_value);
  tcase_add_test(tc,
                 notification_bad_arguments_are_einval_and_release_the_value);
  tcase_add_test(tc, notification_enomem_at_each_allocation_releases_the_value);
  tcase_add_test(tc, value_notification_is_null_for_other_values);
  tcase_add_test(tc, notification_references_balance);
  suite_add_tcase(s, tc);

  tc = tcase_create("tap");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, tap_hooks_run_before_their_signals);
  tcase_add_test(tc, tap_on_cancel_runs_for_a_downstream_cancel_only_once);
  tcase_add_test(tc, tap_on_next_failing_mid_stream_releases_values_once);
  tcase_add_test(tc, tap_hook_cancelling_inside_on_next_stops_the_value);
  tcase_add_test(tc, tap_hooks_may_cancel_from_inside_every_hook);
  tcase_add_test(tc, tap_copies_its_hooks_and_skips_null_ones);
  tcase_add_test(tc, tap_rejects_null_hooks_and_releases_the_source);
  tcase_add_test(tc, tap_on_request_sees_each_request);
  tcase_add_test(tc, tap_on_virtual_time_sees_signals_when_they_pass);
  suite_add_tcase(s, tc);

  tc = tcase_create("finalize");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, finalize_runs_once_after_complete);
  tcase_add_test(tc, finalize_runs_once_after_error);
  tcase_add_test(tc, finalize_runs_once_after_cancel_even_twice);
  tcase_add_test(tc, finalize_after_a_cancel_from_inside_on_next_waits_for_it);
  tcase_add_test(tc, finalize_runs_for_a_cancel_inside_on_subscribe);
  tcase_add_test(tc, finalize_runs_when_the_subscription_fails);
  tcase_add_test(tc, finalize_runs_once_per_subscription_under_enomem);
  tcase_add_test(tc, finalize_runs_per_subscription_and_not_while_live);
  tcase_add_test(tc, finalize_fn_may_subscribe_again_with_a_flat_stack);
  tcase_add_test(tc, finalize_rejects_a_null_fn_and_releases_the_source);
  tcase_add_test(tc, finalize_on_virtual_time_runs_at_the_end);
  suite_add_tcase(s, tc);

  tc = tcase_create("defer");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, defer_makes_a_fresh_observable_per_subscription);
  tcase_add_test(tc, defer_factory_failure_fails_that_subscription);
  tcase_add_test(tc, defer_factory_without_an_observable_is_einval);
  tcase_add_test(tc, defer_frees_what_a_failing_factory_made);
  tcase_add_test(tc, defer_hands_early_demand_to_the_made_observable);
  tcase_add_test(tc, defer_cancel_inside_on_subscribe_never_calls_the_factory);
  tcase_add_test(tc, defer_factory_may_cancel_the_subscription);
  tcase_add_test(tc, defer_rejects_a_null_factory);
  tcase_add_test(
      tc, defer_on_virtual_time_starts_each_timeline_at_its_subscription);
  suite_add_tcase(s, tc);

  tc = tcase_create("materialize");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc,
                 materialize_turns_values_and_completion_into_notifications);
  tcase_add_test(tc,
                 materialize_turns_an_error_into_a_notification_then_completes);
  tcase_add_test(tc,
                 materialize_holds_its_closing_notification_until_requested);
  tcase_add_test(tc,
                 materialize_cancelled_while_holding_releases_the_notification);
  tcase_add_test(tc, materialize_cancel_inside_on_next_releases_everything);
  tcase_add_test(tc, materialize_behind_a_dropping_filter_asks_for_more);
  tcase_add_test(tc, materialize_on_virtual_time_keeps_the_times);
  tcase_add_test(tc, dematerialize_turns_notifications_back_into_signals);
  tcase_add_test(tc, dematerialize_ends_with_the_carried_error);
  tcase_add_test(tc, dematerialize_fails_on_a_value_that_is_not_a_notification);
  tcase_add_test(tc,
                 dematerialize_of_materialize_is_the_source_on_virtual_time);
  tcase_add_test(tc, dematerialize_of_materialize_keeps_values_and_errors);
  suite_add_tcase(s, tc);

  tc = tcase_create("enomem");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, error_paths_fail_cleanly_at_every_allocation);
  suite_add_tcase(s, tc);
  return s;
}
