/* SPDX-License-Identifier: MIT */
/* rill tests: group_by (operators/group_by.c) and its key map
 * (src/kit/keymap.h).
 *
 * What include/rill.h promises, checked here:
 *   - groups in the order of their keys' first arrival, each value routed
 *     to its key's group, on the virtual clock at exact instants (RxJS
 *     groupBy's semantics; its marble cases are not in ../shared, so the
 *     timelines are our own);
 *   - the source's completion completes every live group after what it
 *     queued, then the outer; an error reaches every live group and the
 *     outer at once, with the same code;
 *   - a group's cancel (its key's next value opens a new group), the
 *     outer's cancel (live groups go on, new keys are released, the source
 *     is cancelled once every group is gone);
 *   - max_groups with both policies, idle expiry at the exact instant,
 *     the unsubscribed-group policy (abandonment), a second subscriber;
 *   - demand: the source asked for `prefetch` and refilled by halves as
 *     groups consume, the slowest group holding it back, a new key without
 *     outer demand failing, group_buffer with DROP, LATEST and ERROR;
 *   - keyed throttle: group_by + merge_map + throttle per sensor;
 *   - owned values routed once and released once on every path (queued in
 *     a group that is evicted, expires, is cancelled or fails);
 *   - reentrancy: cancel from inside key_fn and from a group's on_next;
 *   - keys of every kind (buffers by bytes, -0.0 == 0.0, NaN);
 *   - NULL and bad arguments; ENOMEM at every allocation site; a flat stack
 *     over a million groups. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "kit/keymap.h"
#include "marble.h"
#include "testlib.h"

/* The int of a value: plain, owned (tl_owned), or a buffer key holding
 * its decimal digits (key_buf). */
static int64_t ival(rill_value_t v) {
  if (v.kind == RILL_KIND_BUF) {
    char digits[24] = {0};
    size_t n = rill_buf_len(v.as.buf);
    memcpy(digits, rill_buf_data(v.as.buf), n < 23 ? n : 23);
    return atoll(digits);
  }
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v)
         : v.kind == RILL_KIND_INT ? v.as.i
                                   : INT64_MIN;
}

/* A map to owned values that reports a failed box as RILL_ENOMEM. */
static int owned_or_enomem(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  rill_value_t v = tl_owned(in.as.i);
  if (v.kind == RILL_KIND_NONE)
    return RILL_ENOMEM;
  *out = v;
  return 0;
}
static rill_observable_t *owned(rill_observable_t *src) {
  return rill_map(src, owned_or_enomem, NULL);
}

/* ---- key functions --------------------------------------------------------*/

/* ctx: the modulus (intptr_t). */
static int key_mod(void *ctx, rill_value_t v, rill_value_t *out) {
  *out = rill_value_int(ival(v) % (int64_t)(intptr_t)ctx);
  return 0;
}
/* The sensor of a reading sensor * 100 + value. */
static int key_sensor(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_int(ival(v) / 100);
  return 0;
}
/* Owned keys compared by content: a buffer with the digits of x % ctx, as
 * a sensor name would be (released by group_by once per value and once
 * per group). */
static int key_buf(void *ctx, rill_value_t v, rill_value_t *out) {
  char digits[24];
  int n = snprintf(digits, sizeof(digits), "%lld",
                   (long long)(ival(v) % (int64_t)(intptr_t)ctx));
  rill_buf_t *b = rill_buf_from(digits, (size_t)n);
  if (b == NULL)
    return RILL_ENOMEM;
  *out = rill_value_buf(b);
  return 0;
}
static int key_fail_on_3(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  if (ival(v) == 3)
    return RILL_EAPP_BASE - 7;
  *out = rill_value_int(ival(v) % 2);
  return 0;
}

/* ---- a recorder with the clock
 * ---------------------------------------------*/

#define TMAX 128

struct trec {
  rill_sched_t *s;
  rill_subscription_t *sub;
  int subscribes;
  int64_t requested, nexts;
  int64_t request_on_subscribe;
  bool cancel_on_subscribe;
  int64_t cancel_at; /* cancel inside the k-th on_next */
  struct trec *kill; /* ... and cancel this one inside the kill_at-th */
  int64_t kill_at;
  enum rec_terminal terminal;
  int terminals;
  int code;
  char msg[RILL_ERROR_MESSAGE_MAX];
  size_t n;
  int64_t v[TMAX];
  double t[TMAX];
  double t_end;
  int violations;
  char violation[128];
  int depth;
  bool cancelled;
};

static void tr_violate(struct trec *r, const char *what) {
  if (r->violations++ == 0)
    snprintf(r->violation, sizeof(r->violation), "%s", what);
}

static double tr_now(const struct trec *r) {
  return r->s ? rill_sched_now(r->s) : 0;
}

static void tr_request(struct trec *r, int64_t n) {
  if (r->sub == NULL || r->terminal != REC_NONE || r->cancelled)
    return;
  r->requested = r->requested > INT64_MAX - n ? INT64_MAX : r->requested + n;
  rill_subscription_request(r->sub, n);
}

static void tr_cancel(struct trec *r) {
  if (r->sub == NULL || r->terminal != REC_NONE || r->cancelled)
    return;
  r->cancelled = true;
  rill_subscription_cancel(r->sub);
}

static void tr_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct trec *r = ctx;
  if (r->subscribes++ > 0)
    tr_violate(r, "second on_subscribe");
  r->sub = s;
  if (r->cancel_on_subscribe) {
    tr_cancel(r);
    rill_subscription_cancel(s); /* twice: a no-op */
    return;
  }
  if (r->request_on_subscribe > 0)
    tr_request(r, r->request_on_subscribe);
}

static void tr_on_next(void *ctx, rill_value_t v) {
  struct trec *r = ctx;
  if (r->terminal != REC_NONE)
    tr_violate(r, "on_next after terminal");
  if (r->cancelled)
    tr_violate(r, "on_next after cancel");
  if (r->nexts >= r->requested)
    tr_violate(r, "on_next beyond demand");
  if (r->depth > 0)
    tr_violate(r, "nested on_next");
  r->depth++;
  r->nexts++;
  if (r->n < TMAX) {
    r->v[r->n] = ival(v);
    r->t[r->n] = tr_now(r);
    r->n++;
  }
  rill_value_release(v);
  if (r->cancel_at > 0 && r->nexts == r->cancel_at) {
    tr_cancel(r);
    rill_subscription_cancel(r->sub); /* twice: a no-op */
  }
  if (r->kill != NULL && r->nexts == r->kill_at)
    tr_cancel(r->kill);
  r->depth--;
}

static void tr_terminal(struct trec *r, enum rec_terminal t) {
  if (r->terminal != REC_NONE)
    tr_violate(r, "second terminal");
  if (r->cancelled)
    tr_violate(r, "terminal after cancel");
  r->terminal = t;
  r->terminals++;
  r->t_end = tr_now(r);
}

static void tr_on_error(void *ctx, const rill_error_t *err) {
  struct trec *r = ctx;
  tr_terminal(r, REC_ERROR);
  r->code = err->code;
  snprintf(r->msg, sizeof(r->msg), "%s", err->message);
}

static void tr_on_complete(void *ctx) {
  tr_terminal(ctx, REC_COMPLETE);
}

static const rill_subscriber_t tr_sub = {.on_subscribe = tr_on_subscribe,
                                         .on_next = tr_on_next,
                                         .on_error = tr_on_error,
                                         .on_complete = tr_on_complete};

static void tr_init(struct trec *r, rill_sched_t *s, int64_t request) {
  memset(r, 0, sizeof(*r));
  r->s = s;
  r->request_on_subscribe = request;
}

#define ck_assert_tr_ok(r)                                                     \
  ck_assert_msg((r)->violations == 0, "protocol violation: %s", (r)->violation)

/* ---- gw: the outer's subscriber, subscribing a trec to each group
 * -----------*/

#define GMAX 32

struct gw_group {
  int64_t key;
  double t; /* when its group value arrived */
  struct trec r;
  rill_value_t gv; /* kept (gw.keep), else released */
};

struct gw {
  struct trec outer;
  bool no_subscribe;     /* leave every group unsubscribed */
  bool keep;             /* keep the group values */
  int64_t group_request; /* each group's request at subscription */
  int64_t group_cancel_at;
  int64_t group_kill_outer_at; /* a group's on_next cancels the outer */
  bool group_cancel_on_subscribe;
  int ngroups;
  struct gw_group g[GMAX];
};

static void gw_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct gw *w = ctx;
  tr_on_subscribe(&w->outer, s);
}

static void gw_on_next(void *ctx, rill_value_t v) {
  struct gw *w = ctx;
  struct trec *o = &w->outer;
  if (o->nexts >= o->requested)
    tr_violate(o, "group beyond demand");
  if (o->terminal != REC_NONE || o->cancelled)
    tr_violate(o, "group after terminal or cancel");
  o->nexts++;
  ck_assert_int_lt(w->ngroups, GMAX);
  struct gw_group *g = &w->g[w->ngroups++];
  g->key = ival(rill_group_key(v));
  g->t = tr_now(o);
  tr_init(&g->r, o->s, w->group_request);
  g->r.cancel_at = w->group_cancel_at;
  g->r.cancel_on_subscribe = w->group_cancel_on_subscribe;
  if (w->group_kill_outer_at > 0) {
    g->r.kill = o;
    g->r.kill_at = w->group_kill_outer_at;
  }
  if (!w->no_subscribe) {
    rill_observable_t *obs = rill_group_observable(v);
    ck_assert_ptr_nonnull(obs);
    ck_assert_str_eq(rill_observable_name(obs), "group");
    ck_assert_int_eq(rill_observable_subscribe(obs, &tr_sub, &g->r, NULL), 0);
    rill_observable_free(obs);
  }
  if (w->keep)
    g->gv = v;
  else
    rill_value_release(v);
}

static void gw_on_error(void *ctx, const rill_error_t *err) {
  tr_on_error(&((struct gw *)ctx)->outer, err);
}
static void gw_on_complete(void *ctx) {
  tr_on_complete(&((struct gw *)ctx)->outer);
}

static const rill_subscriber_t gw_sub = {.on_subscribe = gw_on_subscribe,
                                         .on_next = gw_on_next,
                                         .on_error = gw_on_error,
                                         .on_complete = gw_on_complete};

static void gw_init(struct gw *w, rill_sched_t *s) {
  memset(w, 0, sizeof(*w));
  tr_init(&w->outer, s, RILL_UNBOUNDED);
  w->group_request = RILL_UNBOUNDED;
}

static int gw_subscribe(struct gw *w, rill_observable_t *obs) {
  return rill_observable_subscribe(obs, &gw_sub, w, NULL);
}

/* The n-th (0-based) group with `key`, or NULL. */
static struct gw_group *gw_find(struct gw *w, int64_t key, int nth) {
  for (int i = 0; i < w->ngroups; i++)
    if (w->g[i].key == key && nth-- == 0)
      return &w->g[i];
  return NULL;
}

static void gw_release(struct gw *w) {
  for (int i = 0; i < w->ngroups; i++) {
    rill_value_release(w->g[i].gv);
    w->g[i].gv = (rill_value_t){0};
  }
}

static void gw_assert_ok(struct gw *w) {
  ck_assert_tr_ok(&w->outer);
  for (int i = 0; i < w->ngroups; i++)
    ck_assert_msg(w->g[i].r.violations == 0, "group %d: %s", i,
                  w->g[i].r.violation);
}

/* Values and their instants, as "v@t v@t ...". */
static void ck_values(const struct trec *r, const char *want) {
  char got[1024];
  size_t at = 0;
  got[0] = '\0';
  for (size_t i = 0; i < r->n && at < sizeof(got) - 32; i++)
    at += (size_t)snprintf(got + at, sizeof(got) - at, "%s%lld@%g",
                           i ? " " : "", (long long)r->v[i], r->t[i]);
  ck_assert_msg(strcmp(got, want) == 0, "values: got \"%s\", want \"%s\"", got,
                want);
}

/* ---- msrc: a manual source
 * ----------------------------------------------------*/

struct msrc {
  rill_emitter_t *e;
  int starts, ends;
  int64_t requested;
  bool completed;
};

static void msrc_start(void *ctx, rill_emitter_t *e) {
  struct msrc *m = ctx;
  m->e = e;
  m->starts++;
}
static void msrc_end(void *ctx, rill_emitter_t *e) {
  (void)e;
  struct msrc *m = ctx;
  m->e = NULL;
  m->ends++;
}
static void msrc_request(void *ctx, rill_emitter_t *e, int64_t n) {
  (void)e;
  struct msrc *m = ctx;
  m->requested = m->requested > INT64_MAX - n ? INT64_MAX : m->requested + n;
}
static rill_observable_t *msrc_new(struct msrc *m) {
  memset(m, 0, sizeof(*m));
  rill_create_opts_t opts = {.on_request = msrc_request};
  return rill_create_with(msrc_start, msrc_end, m, &opts);
}
static void msrc_push(struct msrc *m, rill_value_t v) {
  ck_assert_ptr_nonnull(m->e);
  rill_emitter_next(m->e, v);
}
/* Whether the source was let go without completing: cancelled. */
static bool msrc_cancelled(const struct msrc *m) {
  return m->ends == 1 && !m->completed;
}

/* ---- tsrc: values at given instants
 * --------------------------------------------*/

struct tsrc {
  rill_sched_t *s;
  const double *at;
  const int64_t *v;
  size_t n;
  double end_at;
  bool owned;
};
struct tsrc_run {
  const struct tsrc *src;
  rill_emitter_t *e;
  rill_sched_timer_t *timer;
  size_t i;
  double t0;
};

static void tsrc_fire(rill_sched_timer_t *t, void *arg) {
  struct tsrc_run *r = arg;
  const struct tsrc *src = r->src;
  double now = rill_sched_now(src->s) - r->t0;
  while (r->i < src->n && src->at[r->i] <= now) {
    size_t i = r->i++;
    rill_value_t v =
        src->owned ? tl_owned(src->v[i]) : rill_value_int(src->v[i]);
    if (rill_emitter_next(r->e, v) < 0)
      return;
  }
  if (r->i < src->n) {
    rill_sched_timer_start(t, src->at[r->i] - now);
    return;
  }
  if (now >= src->end_at) {
    rill_emitter_complete(r->e);
    return;
  }
  rill_sched_timer_start(t, src->end_at - now);
}

static void tsrc_start(void *ctx, rill_emitter_t *e) {
  const struct tsrc *src = ctx;
  struct tsrc_run *r = calloc(1, sizeof(*r));
  r->src = src;
  r->e = e;
  r->t0 = rill_sched_now(src->s);
  r->timer = rill_sched_timer_new(src->s, tsrc_fire, r);
  rill_emitter_set_data(e, r);
  rill_sched_timer_start(r->timer, src->n ? src->at[0] : src->end_at);
}

static void tsrc_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  struct tsrc_run *r = rill_emitter_data(e);
  rill_sched_timer_free(r->timer);
  free(r);
}

static rill_observable_t *tsrc_new(const struct tsrc *src) {
  return rill_create(tsrc_start, tsrc_end, (void *)src);
}

/* ---- the basics on the virtual clock
 * ----------------------------------------------*/

START_TEST(groups_come_in_first_arrival_order_and_values_are_routed) {
  rill_sched_t *s = rill_sched_virtual_new();
  /* keys (x % 3): 1 2 1 0 2 1 */
  rill_observable_t *obs =
      rill_group_by(marble_cold(s, "-1-2-4-3-5-7-|"), key_mod, (void *)3, NULL);
  ck_assert_str_eq(rill_observable_name(obs), "group_by");
  struct gw w;
  gw_init(&w, s);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 3);
  ck_assert_int_eq(w.g[0].key, 1);
  ck_assert(w.g[0].t == 1);
  ck_assert_int_eq(w.g[1].key, 2);
  ck_assert(w.g[1].t == 3);
  ck_assert_int_eq(w.g[2].key, 0);
  ck_assert(w.g[2].t == 7);
  ck_values(&w.g[0].r, "1@1 4@5 7@11");
  ck_values(&w.g[1].r, "2@3 5@9");
  ck_values(&w.g[2].r, "3@7");
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(w.g[i].r.terminal, REC_COMPLETE);
    ck_assert(w.g[i].r.t_end == 13);
  }
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  ck_assert(w.outer.t_end == 13);
  gw_assert_ok(&w);
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_observable_free(obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(an_error_reaches_every_live_group_and_the_outer_at_once) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  /* owned values; group 0 is asked for one value only, so it holds two */
  static const double at[] = {1, 2, 3, 4, 5};
  static const int64_t v[] = {0, 1, 2, 4, 6};
  struct tsrc src = {s, at, v, 5, 100, true};
  rill_observable_t *parts[2] = {tsrc_new(&src),
                                 rill_error(RILL_EAPP_BASE - 3, "sensor down")};
  rill_observable_t *obs =
      rill_group_by(rill_concat(parts, 2), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, s);
  w.group_request = 1;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 2);
  ck_values(&w.g[0].r, "0@1");
  ck_values(&w.g[1].r, "1@2");
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(w.g[i].r.terminal, REC_ERROR);
    ck_assert_int_eq(w.g[i].r.code, RILL_EAPP_BASE - 3);
    ck_assert(w.g[i].r.t_end == 100);
  }
  ck_assert_int_eq(w.outer.terminal, REC_ERROR);
  ck_assert_int_eq(w.outer.code, RILL_EAPP_BASE - 3);
  ck_assert_str_eq(w.outer.msg, "sensor down");
  ck_assert(w.outer.t_end == 100);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced(); /* 2, 4, 6 were queued in group 0 */
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(completion_waits_for_each_group_to_drain_its_queue) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 1;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  for (int i = 0; i < 6; i++)
    msrc_push(&m, tl_owned(i));
  m.completed = true;
  rill_emitter_complete(m.e);
  /* the outer completes at once; each group has delivered one value */
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  ck_assert_int_eq(w.ngroups, 2);
  ck_assert_int_eq(w.g[0].r.nexts, 1);
  ck_assert_int_eq(w.g[0].r.terminal, REC_NONE);
  tr_request(&w.g[0].r, 1);
  ck_assert_int_eq(w.g[0].r.nexts, 2);
  ck_assert_int_eq(w.g[0].r.terminal, REC_NONE);
  tr_request(&w.g[0].r, 1); /* the last one, then complete */
  ck_assert_int_eq(w.g[0].r.nexts, 3);
  ck_assert_int_eq(w.g[0].r.terminal, REC_COMPLETE);
  tr_request(&w.g[1].r, 5);
  ck_assert_int_eq(w.g[1].r.nexts, 3);
  ck_assert_int_eq(w.g[1].r.terminal, REC_COMPLETE);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(a_cancelled_group_lets_its_key_open_a_new_group) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 1; /* group 0 queues the rest */
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, tl_owned(0));
  msrc_push(&m, tl_owned(2));
  msrc_push(&m, tl_owned(4));
  msrc_push(&m, tl_owned(1));
  ck_assert_int_eq(w.ngroups, 2);
  ck_assert_int_eq(w.g[0].r.nexts, 1);
  tr_cancel(&w.g[0].r); /* releases 2 and 4 (0 and 1 were delivered) */
  ck_assert_int_eq(tl_owned_released, 4);
  msrc_push(&m, tl_owned(6));
  ck_assert_int_eq(w.ngroups, 3);
  ck_assert_int_eq(w.g[2].key, 0);
  ck_values(&w.g[2].r, "6@0");
  ck_assert_int_eq(m.ends, 0);
  rill_emitter_complete(m.e);
  ck_assert_int_eq(w.g[2].r.terminal, REC_COMPLETE);
  ck_assert_int_eq(w.g[0].r.terminal, REC_NONE); /* cancelled: nothing */
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(a_group_cancelled_in_its_on_subscribe_is_gone_at_once) {
  tl_owned_reset();
  struct msrc m;
  rill_group_by_opts_t o = {.prefetch = 2};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.group_cancel_on_subscribe = true;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  /* each value opens a group that is cancelled before taking it: the
   * value is released and counts as consumed (the source is refilled) */
  for (int i = 0; i < 10; i++)
    msrc_push(&m, tl_owned(i));
  ck_assert_int_eq(w.ngroups, 10);
  ck_assert_int_eq(tl_owned_released, 10);
  ck_assert_int_ge(m.requested, 10);
  ck_assert_int_eq(m.ends, 0);
  tr_cancel(&w.outer);
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(the_outer_cancel_keeps_live_groups_and_the_source) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)3, NULL);
  struct gw w;
  gw_init(&w, NULL);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, tl_owned(1));
  msrc_push(&m, tl_owned(2));
  tr_cancel(&w.outer);
  ck_assert_int_eq(m.ends, 0); /* two groups are live */
  msrc_push(&m, tl_owned(4));  /* group 1 */
  msrc_push(&m, tl_owned(3));  /* key 0: no new group, released */
  msrc_push(&m, tl_owned(5));  /* group 2 */
  ck_assert_int_eq(w.ngroups, 2);
  ck_values(&w.g[0].r, "1@0 4@0");
  ck_values(&w.g[1].r, "2@0 5@0");
  ck_assert_int_eq(tl_owned_released, 5);
  tr_cancel(&w.g[0].r);
  ck_assert_int_eq(m.ends, 0);
  msrc_push(&m, tl_owned(7)); /* key 1 again: no new group once the outer
                                 is gone */
  ck_assert_int_eq(w.ngroups, 2);
  tr_cancel(&w.g[1].r);
  ck_assert(msrc_cancelled(&m)); /* everything gone: the source goes */
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(the_outer_cancel_without_live_groups_cancels_the_source) {
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)3, NULL);
  struct gw w;
  gw_init(&w, NULL);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(m.requested, 128); /* the default prefetch */
  tr_cancel(&w.outer);
  ck_assert(msrc_cancelled(&m));
  rill_observable_free(obs);
  /* cancelled inside on_subscribe: the source is never subscribed */
  obs = rill_group_by(msrc_new(&m), key_mod, (void *)3, NULL);
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(m.starts, 0);
  ck_assert_int_eq(r.nexts + r.terminals, 0);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

/* ---- limits, expiry, unsubscribed groups
 * ---------------------------------------------*/

START_TEST(max_groups_with_error_fails_everything) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.max_groups = 2};
  rill_observable_t *obs =
      rill_group_by(owned(marble_cold(s, "-0-1-2-|")), key_mod, (void *)5, &o);
  struct gw w;
  gw_init(&w, s);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 2);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(w.g[i].r.terminal, REC_ERROR);
    ck_assert_int_eq(w.g[i].r.code, RILL_EOVERFLOW);
    ck_assert(w.g[i].r.t_end == 5);
  }
  ck_assert_int_eq(w.outer.terminal, REC_ERROR);
  ck_assert_int_eq(w.outer.code, RILL_EOVERFLOW);
  ck_assert_str_eq(w.outer.msg, "group_by: more groups than max_groups");
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(max_groups_with_evict_completes_the_group_idle_longest) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.max_groups = 2,
                            .on_limit = RILL_GROUP_LIMIT_EVICT};
  /* keys 0 1 0 2 1: at 7, key 2 evicts key 1 (idle since 3), not key 0
   * (opened first, but its last value came at 5); at 9 key 1 opens a new
   * group, evicting key 0 (idle since 5). */
  rill_observable_t *obs = rill_group_by(owned(marble_cold(s, "-0-1-5-2-6-|")),
                                         key_mod, (void *)5, &o);
  struct gw w;
  gw_init(&w, s);
  w.group_request = 0; /* nothing consumed: the evicted group keeps its
                          queued value until asked */
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 4);
  struct gw_group *g0 = gw_find(&w, 0, 0), *g1 = gw_find(&w, 1, 0),
                  *g2 = gw_find(&w, 2, 0), *g1b = gw_find(&w, 1, 1);
  ck_assert(g0 && g1 && g2 && g1b);
  ck_assert(g1b->t == 9);
  ck_assert_int_eq(g1->r.terminal, REC_NONE); /* ended, 1 value queued */
  tr_request(&g1->r, 10);
  ck_values(&g1->r, "1@11");
  ck_assert_int_eq(g1->r.terminal, REC_COMPLETE);
  tr_request(&g0->r, 10);
  ck_values(&g0->r, "0@11 5@11");
  ck_assert_int_eq(g0->r.terminal, REC_COMPLETE);
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  tr_request(&g2->r, 10);
  tr_request(&g1b->r, 10);
  ck_values(&g2->r, "2@11");
  ck_values(&g1b->r, "6@11");
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(max_groups_evict_times_on_the_clock) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.max_groups = 1,
                            .on_limit = RILL_GROUP_LIMIT_EVICT};
  rill_observable_t *obs =
      rill_group_by(marble_cold(s, "-0-1-0-|"), key_mod, (void *)5, &o);
  struct gw w;
  gw_init(&w, s);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 3);
  ck_assert(w.g[0].r.t_end == 3 && w.g[0].r.terminal == REC_COMPLETE);
  ck_assert(w.g[1].r.t_end == 5 && w.g[1].r.terminal == REC_COMPLETE);
  ck_assert(w.g[2].r.t_end == 7 && w.g[2].r.terminal == REC_COMPLETE);
  ck_values(&w.g[2].r, "0@5");
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(an_idle_group_expires_at_the_exact_instant) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.sched = s, .expiry_ms = 5};
  /* key 0 at 1 and 3 (expires at 8), key 1 at 2 (expires at 7), key 0
   * again at 10: a new group (expires at 15), the source ends at 20. */
  static const double at[] = {1, 2, 3, 10};
  static const int64_t v[] = {0, 1, 2, 4};
  struct tsrc src = {s, at, v, 4, 20, true};
  rill_observable_t *obs =
      rill_group_by(tsrc_new(&src), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, s);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.ngroups, 3);
  ck_values(&w.g[0].r, "0@1 2@3");
  ck_assert(w.g[0].r.terminal == REC_COMPLETE && w.g[0].r.t_end == 8);
  ck_values(&w.g[1].r, "1@2");
  ck_assert(w.g[1].r.terminal == REC_COMPLETE && w.g[1].r.t_end == 7);
  ck_assert_int_eq(w.g[2].key, 0);
  ck_assert(w.g[2].t == 10);
  ck_assert(w.g[2].r.terminal == REC_COMPLETE && w.g[2].r.t_end == 15);
  ck_assert(w.outer.terminal == REC_COMPLETE && w.outer.t_end == 20);
  gw_assert_ok(&w);
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(an_expired_group_still_delivers_what_it_queued) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.sched = s, .expiry_ms = 4};
  rill_observable_t *obs = rill_group_by(owned(marble_cold(s, "-0-2------|")),
                                         key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, s);
  w.group_request = 1;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 7), 0);
  ck_assert_int_eq(w.g[0].r.terminal, REC_NONE); /* expired at 7, 2 queued */
  ck_assert_int_eq(rill_sched_advance_to(s, 8), 0);
  tr_request(&w.g[0].r, 1);
  ck_values(&w.g[0].r, "0@1 2@8");
  ck_assert(w.g[0].r.terminal == REC_COMPLETE && w.g[0].r.t_end == 8);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(a_group_cancelled_while_idle_leaves_the_timer_harmless) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.sched = s, .expiry_ms = 5};
  struct msrc m;
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, s);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, rill_value_int(1));
  ck_assert_int_eq(rill_sched_active(s), 1);
  tr_cancel(&w.g[0].r);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(m.ends, 0);
  tr_cancel(&w.outer);
  ck_assert(msrc_cancelled(&m));
  ck_assert_int_eq(rill_sched_active(s), 0);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(an_unsubscribed_group_is_abandoned_with_its_first_value) {
  tl_owned_reset();
  struct msrc m;
  rill_group_by_opts_t o = {.prefetch = 4};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.no_subscribe = true;
  w.keep = true;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  /* every value opens a new group (the last one was abandoned), and the
   * source is refilled though nobody consumes: 12 values through 4 */
  for (int i = 0; i < 12; i++)
    msrc_push(&m, tl_owned(i));
  ck_assert_int_eq(w.ngroups, 12);
  ck_assert_int_ge(m.requested, 12);
  /* a late subscriber gets the value that opened the group, then
   * on_complete */
  rill_observable_t *g5 = rill_group_observable(w.g[5].gv);
  struct trec late;
  tr_init(&late, NULL, 0);
  ck_assert_int_eq(rill_observable_subscribe(g5, &tr_sub, &late, NULL), 0);
  ck_assert_int_eq(late.terminal, REC_NONE); /* no demand yet */
  tr_request(&late, 3);
  ck_values(&late, "5@0");
  ck_assert_int_eq(late.terminal, REC_COMPLETE);
  /* one subscriber per group */
  struct trec second;
  tr_init(&second, NULL, 1);
  ck_assert_int_eq(rill_observable_subscribe(g5, &tr_sub, &second, NULL), 0);
  ck_assert_int_eq(second.terminal, REC_ERROR);
  ck_assert_int_eq(second.code, RILL_EBUSY);
  rill_observable_free(g5);
  rill_emitter_complete(m.e);
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  /* the other groups' values go with their group values */
  ck_assert_int_eq(tl_owned_released, 1);
  gw_release(&w);
  ck_assert_int_eq(tl_owned_released, 12);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(group_values_outlive_the_stream) {
  tl_owned_reset();
  rill_observable_t *obs =
      rill_group_by(owned(rill_range(0, 6)), key_mod, (void *)3, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), 0);
  rill_observable_free(obs);     /* the recipe goes before the groups */
  ck_assert_uint_eq(got.len, 6); /* nobody subscribed: one per value */
  for (size_t i = 0; i < got.len; i++) {
    ck_assert_int_eq(ival(rill_group_key(got.items[i])), (int64_t)i % 3);
    rill_observable_t *g = rill_group_observable(got.items[i]);
    rill_values_t one = {0};
    ck_assert_int_eq(rill_observable_collect(g, &one, NULL), 0);
    ck_assert_uint_eq(one.len, 1);
    ck_assert_int_eq(ival(one.items[0]), (int64_t)i);
    rill_values_clear(&one);
    rill_observable_free(g);
  }
  rill_values_clear(&got);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- demand
 * -----------------------------------------------------------------------*/

START_TEST(the_source_is_asked_for_prefetch_and_refilled_by_halves) {
  struct msrc m;
  rill_group_by_opts_t o = {.prefetch = 8};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(m.requested, 8);
  for (int i = 0; i < 8; i++)
    msrc_push(&m, rill_value_int(i));
  ck_assert_int_eq(m.requested, 8); /* nothing consumed yet */
  tr_request(&w.g[0].r, 3);
  ck_assert_int_eq(m.requested, 8); /* 3 consumed: below half */
  tr_request(&w.g[1].r, 1);
  ck_assert_int_eq(m.requested, 12); /* 4: refilled */
  tr_request(&w.g[1].r, RILL_UNBOUNDED);
  tr_request(&w.g[0].r, RILL_UNBOUNDED);
  ck_assert_int_eq(m.requested, 16);
  gw_assert_ok(&w);
  tr_cancel(&w.outer);
  tr_cancel(&w.g[0].r);
  tr_cancel(&w.g[1].r);
  ck_assert(msrc_cancelled(&m));
  rill_observable_free(obs);
}
END_TEST

START_TEST(nothing_is_pulled_before_the_first_group_is_requested) {
  struct msrc m;
  rill_group_by_opts_t o = {.prefetch = 8};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.outer.request_on_subscribe = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(m.starts, 1);
  ck_assert_int_eq(m.requested, 0);
  tr_request(&w.outer, 1);
  ck_assert_int_eq(m.requested, 8);
  tr_request(&w.outer, 1);
  ck_assert_int_eq(m.requested, 8);
  msrc_push(&m, rill_value_int(1));
  ck_values(&w.g[0].r, "1@0");
  tr_cancel(&w.outer);
  tr_cancel(&w.g[0].r);
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  /* a synchronous source subscribed, then asked: no EOVERFLOW */
  obs = rill_group_by(rill_range(0, 100), key_mod, (void *)7, NULL);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts + r.terminals, 0);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 100); /* nobody subscribed: one per value */
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(the_slowest_group_holds_the_source_back) {
  struct msrc m;
  rill_group_by_opts_t o = {.prefetch = 4};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, rill_value_int(1)); /* group 1 */
  tr_request(&w.g[0].r, 1);         /* takes its first value, then nothing */
  /* group 0: unbounded */
  msrc_push(&m, rill_value_int(0));
  tr_request(&w.g[1].r, RILL_UNBOUNDED);
  int64_t pushed = 2;
  for (int i = 0; i < 100 && pushed < m.requested; i++, pushed++)
    msrc_push(&m, rill_value_int(pushed % 2 ? 3 : 2));
  /* odd values pile up in group 1 until 4 are in flight: the source is
   * asked for nothing more while they wait */
  ck_assert_int_eq(pushed, m.requested);
  ck_assert_int_lt(m.requested, 20);
  int64_t stuck = m.requested;
  tr_request(&w.g[0].r, RILL_UNBOUNDED);
  ck_assert_int_gt(m.requested, stuck);
  gw_assert_ok(&w);
  tr_cancel(&w.outer);
  ck_assert_int_eq(m.ends, 0);
  tr_cancel(&w.g[0].r);
  tr_cancel(&w.g[1].r);
  ck_assert(msrc_cancelled(&m));
  rill_observable_free(obs);
}
END_TEST

START_TEST(a_new_key_without_outer_demand_fails_the_stream) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)3, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.outer.request_on_subscribe = 1;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, tl_owned(0));
  msrc_push(&m, tl_owned(3)); /* same group */
  msrc_push(&m, tl_owned(1)); /* a second group, none requested */
  ck_assert_int_eq(w.outer.terminal, REC_ERROR);
  ck_assert_int_eq(w.outer.code, RILL_EOVERFLOW);
  ck_assert_str_eq(w.outer.msg,
                   "group_by: no demand for a new group (request groups "
                   "ahead)");
  ck_assert_int_eq(w.g[0].r.terminal, REC_ERROR);
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

static int fm_group(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_group_observable(v);
  return *out ? 0 : RILL_EINVAL;
}

static int64_t fm_groups_seen;
static int fm_group_counted(void *ctx, rill_value_t v,
                            rill_observable_t **out) {
  fm_groups_seen++;
  return fm_group(ctx, v, out);
}

START_TEST(flattening_with_fewer_slots_than_keys_fails_or_abandons) {
  /* merge_map with 1 slot asks for one group: the second key fails */
  rill_observable_t *obs =
      rill_merge_map(rill_group_by(rill_range(0, 10), key_mod, (void *)2, NULL),
                     fm_group, NULL, 1, 0);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(obs, &got, &err), RILL_EOVERFLOW);
  ck_assert_str_eq(err.message,
                   "group_by: no demand for a new group (request groups "
                   "ahead)");
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* concat_map takes outer values ahead and subscribes them later: the
   * groups it holds are abandoned, so every value after the first group
   * comes as a group of its own (RxJava 3 does the same) -- complete, but
   * a group per value */
  fm_groups_seen = 0;
  obs = rill_concat_map(
      rill_group_by(rill_range(0, 10), key_mod, (void *)2, NULL),
      fm_group_counted, NULL);
  ck_assert_int_eq(rill_observable_collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 10);
  ck_assert_int_gt(fm_groups_seen, 2);
  rill_values_clear(&got);
  rill_observable_free(obs);
  /* merge_map without a limit takes every group */
  obs =
      rill_merge_map(rill_group_by(rill_range(0, 10), key_mod, (void *)2, NULL),
                     fm_group, NULL, 0, 0);
  ck_assert_int_eq(rill_observable_collect(obs, &got, &err), 0);
  ck_assert_uint_eq(got.len, 10);
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* group_buffer 2, prefetch 8; group 0 asks for nothing while 0 2 4 6 come */
static void overflow_case(rill_overflow_t policy, const char *want,
                          int terminal) {
  tl_owned_reset();
  struct msrc m;
  rill_group_by_opts_t o = {
      .prefetch = 8, .group_buffer = 2, .overflow = policy};
  rill_observable_t *obs = rill_group_by(msrc_new(&m), key_mod, (void *)2, &o);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  for (int i = 0; i < 4; i++)
    if (m.e != NULL)
      msrc_push(&m, tl_owned(2 * i));
  tr_request(&w.g[0].r, 10);
  ck_values(&w.g[0].r, want);
  ck_assert_int_eq(w.g[0].r.terminal, terminal);
  if (terminal == REC_NONE) {
    /* the dropped values were refilled: the source was asked for more */
    ck_assert_int_eq(m.requested, 12);
    tr_cancel(&w.g[0].r);
    tr_cancel(&w.outer);
  } else {
    ck_assert_int_eq(w.g[0].r.code, RILL_EOVERFLOW);
    ck_assert_int_eq(w.outer.code, RILL_EOVERFLOW);
  }
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}

START_TEST(a_full_group_follows_the_overflow_policy) {
  overflow_case(RILL_OVERFLOW_DEFAULT, "4@0 6@0", REC_NONE); /* LATEST */
  overflow_case(RILL_OVERFLOW_LATEST, "4@0 6@0", REC_NONE);
  overflow_case(RILL_OVERFLOW_DROP, "0@0 2@0", REC_NONE);
  overflow_case(RILL_OVERFLOW_ERROR, "", REC_ERROR);
}
END_TEST

/* ---- keyed throttle
 * ------------------------------------------------------------------*/

static int per_sensor_throttle(void *ctx, rill_value_t g,
                               rill_observable_t **out) {
  *out = rill_throttle(rill_group_observable(g), ctx, 10, NULL);
  return *out ? 0 : RILL_ENOMEM;
}

START_TEST(keyed_throttle_throttles_each_sensor_on_its_own) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  /* readings sensor * 100 + n */
  static const double at[] = {0, 2, 4, 9, 11, 12, 13, 25};
  static const int64_t v[] = {101, 201, 102, 202, 103, 203, 104, 105};
  struct tsrc src = {s, at, v, 8, 30, true};
  rill_observable_t *obs =
      rill_merge_map(rill_group_by(tsrc_new(&src), key_sensor, NULL, NULL),
                     per_sensor_throttle, s, 0, 0);
  struct trec r;
  tr_init(&r, s, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_observable_subscribe(obs, &tr_sub, &r, NULL), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  /* sensor 1: windows [0,10] [11,21] [25,35]; sensor 2: [2,12], so 202
   * at 9 and 203 at 12 fall in it (a window is closed at both ends, as on
   * RxJS's virtual clock), and 104 at 13 in sensor 1's second one */
  ck_values(&r, "101@0 201@2 103@11 105@25");
  ck_assert(r.terminal == REC_COMPLETE && r.t_end == 30);
  ck_assert_tr_ok(&r);
  ck_assert_int_eq(rill_sched_active(s), 0);
  rill_observable_free(obs);
  ck_assert_owned_balanced(); /* throttled readings released */
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- ownership
 * --------------------------------------------------------------------------*/

START_TEST(owned_values_and_keys_are_released_once_on_every_path) {
  /* owned keys; groups evicted with queued values, expired with queued
   * values, cancelled with queued values; then an error */
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  rill_group_by_opts_t o = {.max_groups = 3,
                            .on_limit = RILL_GROUP_LIMIT_EVICT,
                            .sched = s,
                            .expiry_ms = 6};
  static const double at[] = {1, 1, 2, 2, 3, 3, 4, 5, 6, 20, 21, 22};
  static const int64_t v[] = {0, 1, 4, 5, 8, 2, 3, 7, 9, 10, 11, 13};
  struct tsrc src = {s, at, v, 12, 25, true};
  rill_observable_t *parts[2] = {tsrc_new(&src), rill_error(RILL_EUSER, "end")};
  rill_observable_t *obs =
      rill_group_by(rill_concat(parts, 2), key_buf, (void *)4, &o);
  struct gw w;
  gw_init(&w, s);
  w.group_request = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(rill_sched_advance_to(s, 21), 0);
  /* cancel a group that holds values */
  for (int i = 0; i < w.ngroups; i++)
    if (w.g[i].r.terminal == REC_NONE && i % 2 == 1)
      tr_cancel(&w.g[i].r);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(w.outer.terminal, REC_ERROR);
  gw_assert_ok(&w);
  rill_observable_free(obs);
  /* evicted and expired groups still hold their queued values, for their
   * subscribers: cancelling releases them */
  ck_assert_int_lt(tl_owned_released, tl_owned_made);
  for (int i = 0; i < w.ngroups; i++)
    tr_cancel(&w.g[i].r);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_owned_balanced();
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(queued_values_of_an_ended_group_go_with_its_subscriber) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.group_request = 0;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  for (int i = 0; i < 6; i++)
    msrc_push(&m, tl_owned(i));
  m.completed = true;
  rill_emitter_complete(m.e);
  ck_assert_int_eq(w.outer.terminal, REC_COMPLETE);
  ck_assert_int_eq(tl_owned_released, 0); /* all six wait in groups */
  tr_cancel(&w.g[0].r);
  ck_assert_int_eq(tl_owned_released, 3);
  rill_observable_free(obs);
  tr_cancel(&w.g[1].r);
  ck_assert_owned_balanced();
  gw_assert_ok(&w);
}
END_TEST

/* ---- reentrancy
 * -------------------------------------------------------------------------*/

struct cancel_in_key {
  struct gw *w;
  int64_t at; /* the value that cancels */
  bool groups_too;
  int calls;
};
static int key_that_cancels(void *ctx, rill_value_t v, rill_value_t *out) {
  struct cancel_in_key *k = ctx;
  k->calls++;
  if (ival(v) == k->at) {
    tr_cancel(&k->w->outer);
    if (k->groups_too)
      for (int i = 0; i < k->w->ngroups; i++)
        tr_cancel(&k->w->g[i].r);
  }
  return key_buf((void *)2, v, out);
}

START_TEST(cancel_from_inside_key_fn) {
  for (int groups_too = 0; groups_too < 2; groups_too++) {
    tl_owned_reset();
    struct msrc m;
    struct gw w;
    struct cancel_in_key k = {.w = &w, .at = 3, .groups_too = groups_too};
    rill_observable_t *obs =
        rill_group_by(msrc_new(&m), key_that_cancels, &k, NULL);
    gw_init(&w, NULL);
    ck_assert_int_eq(gw_subscribe(&w, obs), 0);
    for (int i = 0; i < 6 && m.e != NULL; i++)
      msrc_push(&m, tl_owned(i));
    if (groups_too) {
      ck_assert(msrc_cancelled(&m));
      ck_assert_int_eq(k.calls, 4); /* 3 was released, nothing after */
      ck_values(&w.g[1].r, "1@0");
    } else {
      ck_assert_int_eq(m.ends, 0); /* two groups live */
      ck_values(&w.g[1].r, "1@0 3@0 5@0");
      ck_assert_int_eq(w.ngroups, 2);
      tr_cancel(&w.g[0].r);
      tr_cancel(&w.g[1].r);
      ck_assert(msrc_cancelled(&m));
    }
    gw_assert_ok(&w);
    rill_observable_free(obs);
    ck_assert_owned_balanced();
  }
}
END_TEST

START_TEST(a_key_fn_failure_fails_every_group_with_its_code) {
  tl_owned_reset();
  rill_observable_t *obs =
      rill_group_by(owned(rill_range(0, 10)), key_fail_on_3, NULL, NULL);
  struct gw w;
  gw_init(&w, NULL);
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  ck_assert_int_eq(w.ngroups, 2);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(w.g[i].r.code, RILL_EAPP_BASE - 7);
  ck_assert_int_eq(w.outer.code, RILL_EAPP_BASE - 7);
  ck_assert_str_eq(w.outer.msg, "group_by: key function failed (code -1007)");
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(cancel_from_inside_a_group_on_next) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.group_cancel_at = 2;
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  for (int i = 0; i < 8; i++)
    msrc_push(&m, tl_owned(i));
  /* each group took two values, then cancelled; the next value of its key
   * opened a new group */
  ck_assert_int_eq(w.ngroups, 4);
  ck_values(&w.g[0].r, "0@0 2@0");
  ck_values(&w.g[1].r, "1@0 3@0");
  ck_values(&w.g[2].r, "4@0 6@0");
  ck_values(&w.g[3].r, "5@0 7@0");
  ck_assert_int_eq(m.ends, 0); /* the outer is live */
  tr_cancel(&w.outer);
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(cancel_the_outer_from_inside_a_group_on_next) {
  tl_owned_reset();
  struct msrc m;
  rill_observable_t *obs =
      rill_group_by(msrc_new(&m), key_mod, (void *)2, NULL);
  struct gw w;
  gw_init(&w, NULL);
  w.group_kill_outer_at = 1; /* inside the outer's own on_next, too */
  ck_assert_int_eq(gw_subscribe(&w, obs), 0);
  msrc_push(&m, tl_owned(0));
  ck_assert(w.outer.cancelled);
  ck_assert_int_eq(m.ends, 0); /* group 0 is live */
  msrc_push(&m, tl_owned(2));
  msrc_push(&m, tl_owned(1)); /* a new key: released */
  ck_assert_int_eq(w.ngroups, 1);
  ck_values(&w.g[0].r, "0@0 2@0");
  ck_assert_int_eq(tl_owned_released, 3);
  tr_cancel(&w.g[0].r);
  ck_assert(msrc_cancelled(&m));
  gw_assert_ok(&w);
  rill_observable_free(obs);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- keys of every kind
 * -------------------------------------------------------------------*/

static int key_identity(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  *out = rill_value_retain(v);
  return 0;
}

static int64_t count_groups(rill_value_t *vals, size_t n) {
  rill_observable_t *obs =
      rill_group_by(rill_from_array(vals, n), key_identity, NULL, NULL);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), 0);
  rill_observable_free(obs);
  int64_t groups = (int64_t)got.len;
  rill_values_clear(&got);
  return groups;
}

/* Subscribe every group (merge_map), count the groups seen. */
static int64_t merge_groups;
static int fm_count_group(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  merge_groups++;
  *out = rill_group_observable(v);
  return 0;
}
static int64_t live_groups(rill_value_t *vals, size_t n) {
  merge_groups = 0;
  rill_observable_t *obs = rill_merge_map(
      rill_group_by(rill_from_array(vals, n), key_identity, NULL, NULL),
      fm_count_group, NULL, 0, 0);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), 0);
  ck_assert_uint_eq(got.len, n);
  rill_values_clear(&got);
  rill_observable_free(obs);
  return merge_groups;
}

START_TEST(keys_of_every_kind_compare_as_rill_value_equal) {
  /* buffers by bytes: sensor names */
  rill_value_t names[5] = {rill_value_buf(rill_buf_from("temp", 4)),
                           rill_value_buf(rill_buf_from("hum", 3)),
                           rill_value_buf(rill_buf_from("temp", 4)),
                           rill_value_buf(rill_buf_from("", 0)),
                           rill_value_buf(rill_buf_from("hum", 3))};
  ck_assert_int_eq(live_groups(names, 5), 3); /* from_array took them */
  /* doubles: -0.0 == 0.0; NaN equals nothing */
  rill_value_t d[5] = {rill_value_double(0.0), rill_value_double(-0.0),
                       rill_value_double(NAN), rill_value_double(NAN),
                       rill_value_double(1.5)};
  ck_assert_int_eq(live_groups(d, 5), 4);
  /* kinds differ: int 1, bool true, double 1 are three keys */
  rill_value_t k[4] = {rill_value_int(1), rill_value_bool(true),
                       rill_value_double(1), rill_value_int(1)};
  ck_assert_int_eq(live_groups(k, 4), 3);
  /* arrays element-wise; NONE is a key like any other */
  rill_array_t *a1 = rill_array_new(2), *a2 = rill_array_new(2);
  rill_array_push(a1, rill_value_int(7));
  rill_array_push(a2, rill_value_int(7));
  rill_value_t arr[4] = {rill_value_array(a1), rill_value_array(a2),
                         (rill_value_t){0}, (rill_value_t){0}};
  ck_assert_int_eq(live_groups(arr, 4), 2);
  /* pointers by address */
  int x, y;
  rill_value_t p[3] = {rill_value_ptr(&x), rill_value_ptr(&y),
                       rill_value_ptr(&x)};
  ck_assert_int_eq(live_groups(p, 3), 2);
  /* unsubscribed: one group per value */
  ck_assert_int_eq(count_groups(p, 3), 3);
}
END_TEST

START_TEST(keymap_finds_what_it_holds_through_growth_and_removal) {
  struct rill__keymap m;
  rill__keymap_init(&m);
  enum { N = 5000 };
  static int items[N];
  ck_assert_ptr_null(rill__keymap_get(&m, rill_value_int(1),
                                      rill__value_hash(rill_value_int(1))));
  ck_assert_ptr_null(rill__keymap_remove(&m, rill_value_int(1),
                                         rill__value_hash(rill_value_int(1))));
  /* keys that collide in the low bits */
  for (int i = 0; i < N; i++) {
    rill_value_t k = rill_value_int((int64_t)i << 20);
    ck_assert_int_eq(rill__keymap_put(&m, k, rill__value_hash(k), &items[i]),
                     0);
  }
  ck_assert_uint_eq(m.len, N);
  ck_assert_uint_le(m.len * 2, m.cap);
  /* remove every third, in a scattered order, then check all */
  for (int j = 0; j < N; j++) {
    int i = (int)((j * 7919L) % N);
    if (i % 3 != 0)
      continue;
    rill_value_t k = rill_value_int((int64_t)i << 20);
    ck_assert_ptr_eq(rill__keymap_remove(&m, k, rill__value_hash(k)),
                     &items[i]);
  }
  for (int i = 0; i < N; i++) {
    rill_value_t k = rill_value_int((int64_t)i << 20);
    void *got = rill__keymap_get(&m, k, rill__value_hash(k));
    if (i % 3 == 0)
      ck_assert_ptr_null(got);
    else
      ck_assert_ptr_eq(got, &items[i]);
  }
  /* a full wrap: all keys of one home slot */
  rill__keymap_clear(&m);
  ck_assert_uint_eq(m.len, 0);
  rill_value_t b = rill_value_buf(rill_buf_from("abc", 3));
  rill_value_t b2 = rill_value_buf(rill_buf_from("abc", 3));
  ck_assert_int_eq(rill__keymap_put(&m, b, rill__value_hash(b), &items[0]), 0);
  ck_assert_ptr_eq(rill__keymap_get(&m, b2, rill__value_hash(b2)), &items[0]);
  ck_assert(rill__value_hash(rill_value_double(0.0)) ==
            rill__value_hash(rill_value_double(-0.0)));
  ck_assert_ptr_eq(rill__keymap_remove(&m, b2, rill__value_hash(b2)),
                   &items[0]);
  rill_value_release(b);
  rill_value_release(b2);
  rill__keymap_clear(&m);
}
END_TEST

/* ---- arguments
 * -----------------------------------------------------------------------------*/

START_TEST(null_and_bad_arguments_are_einval_and_release_the_source) {
  rill_sched_t *s = rill_sched_virtual_new();
  errno = 0;
  ck_assert_ptr_null(rill_group_by(NULL, key_mod, (void *)2, NULL));
  ck_assert_int_eq(errno, EINVAL);
  tl_owned_reset();
  const rill_group_by_opts_t bad[] = {
      {.expiry_ms = -1, .sched = s},
      {.expiry_ms = NAN, .sched = s},
      {.expiry_ms = 5}, /* no scheduler */
      {.on_limit = (rill_group_limit_t)7},
      {.overflow = (rill_overflow_t)9},
  };
  for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    rill_observable_t *src = rill_just(1, tl_owned(1));
    rill_observable_t *o = i < sizeof(bad) / sizeof(bad[0])
                               ? rill_group_by(src, key_mod, (void *)2, &bad[i])
                               : rill_group_by(src, NULL, NULL, NULL);
    ck_assert_ptr_null(o);
    ck_assert_int_eq(errno, EINVAL);
  }
  ck_assert_owned_balanced();
  /* INFINITY and 0 mean never; no scheduler needed */
  rill_group_by_opts_t never = {.expiry_ms = INFINITY};
  rill_observable_t *o =
      rill_group_by(rill_range(0, 3), key_mod, (void *)2, &never);
  ck_assert_ptr_nonnull(o);
  rill_observable_free(o);
  /* accessors on values that are not groups */
  rill_value_t nv = rill_group_key(rill_value_int(3));
  ck_assert_int_eq(nv.kind, RILL_KIND_NONE);
  rill_value_t owned_not_group = tl_owned(4);
  ck_assert_int_eq(rill_group_key(owned_not_group).kind, RILL_KIND_NONE);
  errno = 0;
  ck_assert_ptr_null(rill_group_observable(owned_not_group));
  ck_assert_int_eq(errno, EINVAL);
  rill_value_release(owned_not_group);
  ck_assert_ptr_null(rill_group_observable((rill_value_t){0}));
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- scale
 * --------------------------------------------------------------------------------*/

START_TEST(a_million_abandoned_groups_keep_the_stack_flat) {
  /* every value opens a group that nobody subscribes (the outer takes
   * them one at a time and drops them) */
  int64_t n = tl_scaled(1000000);
  rill_observable_t *obs =
      rill_group_by(rill_range(0, n), key_mod, (void *)1000, NULL);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < 4096, "stack spread over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

static int64_t sum_counts;
static void sum_next(void *ctx, rill_value_t v) {
  (void)ctx;
  sum_counts += v.as.i;
}
static int count_one(void *ctx, rill_value_t acc, rill_value_t v,
                     rill_value_t *out) {
  (void)ctx;
  (void)v;
  *out = rill_value_int(acc.as.i + 1);
  return 0;
}
static int fm_count(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  rill_value_t seed = rill_value_int(0);
  *out = rill_reduce(rill_group_observable(v), count_one, NULL, &seed);
  return *out ? 0 : RILL_ENOMEM;
}

START_TEST(many_values_over_many_keys_count_right) {
  int64_t n = tl_scaled(2000000);
  for (int batch = 0; batch < 2; batch++) {
    rill_group_by_opts_t o = {.prefetch = batch ? 3 : 0};
    rill_observable_t *obs = rill_merge_map(
        rill_group_by(rill_range(0, n), key_mod, (void *)997, &o), fm_count,
        NULL, 0, 1);
    sum_counts = 0;
    rill_subscriber_t sub = {.on_next = sum_next};
    ck_assert_int_eq(rill_observable_consume(obs, &sub, NULL,
                                             batch ? 5 : RILL_UNBOUNDED, NULL),
                     0);
    ck_assert_int_eq(sum_counts, n);
    rill_observable_free(obs);
  }
}
END_TEST

/* ---- ENOMEM at every allocation site
 * -------------------------------------------------------*/

struct outcome {
  bool ctor_null;
  int sub_rc;
  enum rec_terminal terminal;
  int code;
  size_t n;
  int64_t v[TMAX];
  double t[TMAX];
  double t_end;
  bool reached;
};

typedef rill_observable_t *(*mk_fn)(rill_sched_t *s);

static void sweep_once(const char *name, mk_fn mk, long k,
                       struct outcome *out) {
  memset(out, 0, sizeof(*out));
  tl_owned_reset();
  tl_alloc_install();
  long baseline = tl_live;
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_nonnull(s);
  tl_alloc_index = 0;
  tl_fail_at = k;
  errno = 0;
  rill_observable_t *o = mk(s);
  if (o == NULL) {
    ck_assert_msg(errno == ENOMEM, "%s: site %ld: NULL with errno %d", name, k,
                  errno);
    out->ctor_null = true;
  }
  struct trec r;
  tr_init(&r, s, RILL_UNBOUNDED);
  rill_subscription_t *h = NULL;
  out->sub_rc = o ? rill_observable_subscribe(o, &tr_sub, &r, &h) : 0;
  if (o != NULL && out->sub_rc == 0)
    ck_assert_int_eq(rill_sched_run(s, 100000), 0);
  out->reached = tl_alloc_index > k;
  tl_fail_at = -1;
  ck_assert_msg(r.violations == 0, "%s: site %ld: %s", name, k, r.violation);
  out->terminal = r.terminal;
  out->code = r.code;
  out->n = r.n;
  memcpy(out->v, r.v, sizeof(r.v));
  memcpy(out->t, r.t, sizeof(r.t));
  out->t_end = r.t_end;
  bool hang = o != NULL && out->sub_rc == 0 && r.terminal == REC_NONE;
  if (h != NULL)
    rill_subscription_free(h);
  rill_observable_free(o);
  ck_assert_msg(!hang, "%s: site %ld: no terminal (a hang)", name, k);
  ck_assert_msg(rill_sched_active(s) == 0, "%s: site %ld: timers left armed",
                name, k);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == baseline, "%s: site %ld: %ld blocks leaked", name, k,
                live - baseline);
  ck_assert_msg(tl_owned_made == tl_owned_released,
                "%s: site %ld: owned values: %ld made, %ld released", name, k,
                tl_owned_made, tl_owned_released);
}

static bool same_outcome(const struct outcome *a, const struct outcome *b) {
  if (a->n != b->n || a->t_end != b->t_end)
    return false;
  for (size_t i = 0; i < a->n; i++)
    if (a->v[i] != b->v[i] || a->t[i] != b->t[i])
      return false;
  return true;
}

static long sweep(const char *name, mk_fn mk) {
  struct outcome ref;
  sweep_once(name, mk, -1, &ref);
  ck_assert_msg(ref.terminal == REC_COMPLETE && ref.n > 0,
                "%s: the reference run did not complete with values", name);
  long k;
  for (k = 0;; k++) {
    struct outcome x;
    sweep_once(name, mk, k, &x);
    if (!x.reached) {
      ck_assert_msg(x.terminal == REC_COMPLETE && same_outcome(&x, &ref),
                    "%s: site %ld (none injected) differs from the reference",
                    name, k);
      break;
    }
    if (x.ctor_null || x.sub_rc == RILL_ENOMEM)
      continue;
    if (x.terminal == REC_ERROR) {
      ck_assert_msg(x.code == RILL_ENOMEM, "%s: site %ld: %s, want ENOMEM",
                    name, k, rill_err_name(x.code));
      continue;
    }
    ck_assert_msg(same_outcome(&x, &ref),
                  "%s: site %ld: completed quietly with other values", name, k);
  }
  return k;
}

static int tag_with_key(void *ctx, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  *out = tl_owned(ival(v) * 10);
  return out->kind == RILL_KIND_NONE ? RILL_ENOMEM : 0;
}
static int fm_tagged(void *ctx, rill_value_t v, rill_observable_t **out) {
  (void)ctx;
  *out = rill_map(rill_group_observable(v), tag_with_key, NULL);
  return *out ? 0 : RILL_ENOMEM;
}

static rill_observable_t *p_merge(rill_sched_t *s) {
  return rill_merge_map(rill_group_by(owned(marble_cold(s, "-1-2-4-3-5-7-|")),
                                      key_buf, (void *)3, NULL),
                        fm_tagged, NULL, 0, 0);
}
static rill_observable_t *p_evict_expire(rill_sched_t *s) {
  rill_group_by_opts_t o = {.max_groups = 2,
                            .on_limit = RILL_GROUP_LIMIT_EVICT,
                            .sched = s,
                            .expiry_ms = 3,
                            .prefetch = 2,
                            .group_buffer = 1};
  return rill_merge_map(
      rill_group_by(owned(marble_cold(s, "-1-2-(40)-3-5-------7-|")), key_buf,
                    (void *)3, &o),
      fm_tagged, NULL, 0, 1);
}
static rill_observable_t *p_keyed_throttle(rill_sched_t *s) {
  return rill_merge_map(
      rill_group_by(owned(marble_cold(s, "-1-2-1-3-2-1-3----1-|")), key_mod,
                    (void *)2, NULL),
      per_sensor_throttle, s, 0, 0);
}

/* concat_map_eager subscribes every group at once but lets only the
 * oldest emit, asking the others for one value: their values wait in
 * their group's queue, which grows. */
static rill_observable_t *p_eager_queue(rill_sched_t *s) {
  return rill_concat_map_eager(
      rill_group_by(owned(marble_cold(s, "-0-1-(13579)-(1357)-2-|")), key_mod,
                    (void *)2, NULL),
      fm_group, NULL, 0, 1);
}

START_TEST(enomem_at_every_allocation_site_is_clean) {
  ck_assert_int_gt(sweep("merge", p_merge), 5);
  ck_assert_int_gt(sweep("eager_queue", p_eager_queue), 5);
  ck_assert_int_gt(sweep("evict_expire", p_evict_expire), 5);
  ck_assert_int_gt(sweep("keyed_throttle", p_keyed_throttle), 5);
}
END_TEST

Suite *group_by_suite(void) {
  Suite *s = suite_create("group_by");
  TCase *tc = tcase_create("basics");
  tcase_add_test(tc, groups_come_in_first_arrival_order_and_values_are_routed);
  tcase_add_test(tc, an_error_reaches_every_live_group_and_the_outer_at_once);
  tcase_add_test(tc, completion_waits_for_each_group_to_drain_its_queue);
  tcase_add_test(tc, a_cancelled_group_lets_its_key_open_a_new_group);
  tcase_add_test(tc, a_group_cancelled_in_its_on_subscribe_is_gone_at_once);
  tcase_add_test(tc, the_outer_cancel_keeps_live_groups_and_the_source);
  tcase_add_test(tc, the_outer_cancel_without_live_groups_cancels_the_source);
  suite_add_tcase(s, tc);
  tc = tcase_create("limits");
  tcase_add_test(tc, max_groups_with_error_fails_everything);
  tcase_add_test(tc, max_groups_with_evict_completes_the_group_idle_longest);
  tcase_add_test(tc, max_groups_evict_times_on_the_clock);
  tcase_add_test(tc, an_idle_group_expires_at_the_exact_instant);
  tcase_add_test(tc, an_expired_group_still_delivers_what_it_queued);
  tcase_add_test(tc, a_group_cancelled_while_idle_leaves_the_timer_harmless);
  tcase_add_test(tc, an_unsubscribed_group_is_abandoned_with_its_first_value);
  tcase_add_test(tc, group_values_outlive_the_stream);
  suite_add_tcase(s, tc);
  tc = tcase_create("demand");
  tcase_add_test(tc, the_source_is_asked_for_prefetch_and_refilled_by_halves);
  tcase_add_test(tc, nothing_is_pulled_before_the_first_group_is_requested);
  tcase_add_test(tc, the_slowest_group_holds_the_source_back);
  tcase_add_test(tc, a_new_key_without_outer_demand_fails_the_stream);
  tcase_add_test(tc, flattening_with_fewer_slots_than_keys_fails_or_abandons);
  tcase_add_test(tc, a_full_group_follows_the_overflow_policy);
  tcase_add_test(tc, keyed_throttle_throttles_each_sensor_on_its_own);
  suite_add_tcase(s, tc);
  tc = tcase_create("ownership");
  tcase_add_test(tc, owned_values_and_keys_are_released_once_on_every_path);
  tcase_add_test(tc, queued_values_of_an_ended_group_go_with_its_subscriber);
  tcase_add_test(tc, cancel_from_inside_key_fn);
  tcase_add_test(tc, a_key_fn_failure_fails_every_group_with_its_code);
  tcase_add_test(tc, cancel_from_inside_a_group_on_next);
  tcase_add_test(tc, cancel_the_outer_from_inside_a_group_on_next);
  suite_add_tcase(s, tc);
  tc = tcase_create("keys");
  tcase_add_test(tc, keys_of_every_kind_compare_as_rill_value_equal);
  tcase_add_test(tc, keymap_finds_what_it_holds_through_growth_and_removal);
  tcase_add_test(tc, null_and_bad_arguments_are_einval_and_release_the_source);
  suite_add_tcase(s, tc);
  tc = tcase_create("scale");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, a_million_abandoned_groups_keep_the_stack_flat);
  tcase_add_test(tc, many_values_over_many_keys_count_right);
  tcase_add_test(tc, enomem_at_every_allocation_site_is_clean);
  suite_add_tcase(s, tc);
  return s;
}
