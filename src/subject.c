/* SPDX-License-Identifier: MIT */
/* rill: the subject object -- values pushed by code, fanned out to every
 * subscriber of its observables (operators/subject.c makes them).  RxJS
 * Subject, BehaviorSubject and ReplaySubject; RxJava's PublishProcessor,
 * BehaviorProcessor and ReplayProcessor for the flow control.
 *
 * The fan-out, each subscriber's demand and bounded buffer, the overflow
 * policy, re-entrant pushes and late subscribers are the kit's multicast
 * hub (src/kit/multicast.h); this file adds what a subject remembers for
 * subscribers to come: nothing (plain), the current value (behavior), or
 * the last values pushed (replay, bounded by count and/or age).  That
 * memory is updated when a value's fan-out begins, not when it is pushed:
 * a subscriber joining from inside an on_next between the two then gets a
 * value either from its replay or from the fan-out, never from both.
 *
 * Replay by age reads the scheduler's clock when a value is pushed and
 * when a subscriber joins, and drops what is `age_ms` old or older (RxJS
 * trims at the same two moments; no timer).  The replay buffer grows by
 * doubling up to `count`; when it cannot grow the subject fails with
 * RILL_ENOMEM (after the value being pushed), since later subscribers
 * could no longer be given what they were promised.
 *
 * Compared with RxJS 7:
 *   - backpressure: each subscriber has a bounded buffer and an overflow
 *     policy (DEFAULT: ERROR, as RxJava's processors); RxJS buffers
 *     nothing and has no demand.  rill_subject_demand() is what may be
 *     pushed without overflow;
 *   - a push from inside a subscriber's on_next is queued behind the value
 *     being delivered (RxJS delivers it at once, nested, so later
 *     subscribers see it before the current value);
 *   - complete and error reach a subscriber after its buffered values;
 *   - no unsubscribe()/closed state: rill_subject_free() drops the
 *     pusher's reference;
 *   - ReplaySubject(0) keeps everything here (count 0: no bound), where
 *     RxJS keeps at least one. */
#include <errno.h>
#include <math.h>

#include "kit/multicast.h"

enum subject_kind { SUBJECT_PLAIN, SUBJECT_BEHAVIOR, SUBJECT_REPLAY };

struct replay_entry {
  rill_value_t v;
  double at; /* pushed at, on sched's clock (0 without one) */
};

struct rill_subject_s {
  uint32_t refs;
  enum subject_kind kind;
  struct rill__mcast hub;
  void (*on_demand)(void *ctx, rill_subject_t *subj);
  void *ctx;
  bool telling, tell_again; /* on_demand on the stack; call it again */
  /* behavior */
  rill_value_t current;
  /* replay: a circular buffer, oldest at head */
  struct replay_entry *buf;
  uint32_t head, len, cap; /* cap: a power of two, or 0 */
  uint32_t count;          /* the bound; 0: none */
  double age_ms;           /* INFINITY: none */
  rill_sched_t *sched;
};

#define REPLAY_MAX (UINT32_MAX / 4)

rill_subject_t *rill__subject_ref(rill_subject_t *s) {
  s->refs++;
  return s;
}

static void replay_drop_oldest(rill_subject_t *s) {
  rill_value_release(s->buf[s->head].v);
  s->head = (s->head + 1) & (s->cap - 1);
  s->len--;
}

static void subject_unref(rill_subject_t *s) {
  if (--s->refs != 0)
    return;
  rill__mcast_clear(&s->hub);
  while (s->len > 0)
    replay_drop_oldest(s);
  rill__free(s->buf);
  rill_value_release(s->current);
  rill__free(s);
}

/* ---- replay
 * ----------------------------------------------------------------*/

static double replay_now(const rill_subject_t *s) {
  return s->sched != NULL ? rill__sched_now(s->sched) : 0;
}

/* Drop what is age_ms old or older (kept while now < at + age). */
static void replay_trim(rill_subject_t *s) {
  if (isinf(s->age_ms))
    return;
  double now = replay_now(s);
  while (s->len > 0 && now >= s->buf[s->head].at + s->age_ms)
    replay_drop_oldest(s);
}

static int replay_grow(rill_subject_t *s) {
  uint32_t cap = s->cap ? s->cap * 2 : 8;
  if (cap > REPLAY_MAX)
    return RILL_ENOMEM;
  struct replay_entry *buf = rill__malloc((size_t)cap * sizeof(*buf));
  if (buf == NULL)
    return RILL_ENOMEM;
  for (uint32_t i = 0; i < s->len; i++)
    buf[i] = s->buf[(s->head + i) & (s->cap - 1)];
  rill__free(s->buf);
  s->buf = buf;
  s->head = 0;
  s->cap = cap;
  return 0;
}

/* Keep a reference to v (borrowed). */
static int replay_push(rill_subject_t *s, rill_value_t v) {
  replay_trim(s);
  if (s->count != 0 && s->len == s->count)
    replay_drop_oldest(s);
  if (s->len == s->cap && replay_grow(s) < 0)
    return RILL_ENOMEM;
  struct replay_entry *e = &s->buf[(s->head + s->len) & (s->cap - 1)];
  e->v = rill_value_retain(v);
  e->at = replay_now(s);
  s->len++;
  return 0;
}

/* ---- the hub's hooks
 * -------------------------------------------------------*/

static void subject_on_value(struct rill__mcast *h, rill_value_t v) {
  rill_subject_t *s = h->owner;
  if (s->kind == SUBJECT_BEHAVIOR) {
    rill_value_release(s->current);
    s->current = rill_value_retain(v);
  } else if (replay_push(s, v) < 0) {
    rill_error_t err;
    rill__error_init(&err, RILL_ENOMEM, 0, "subject",
                     "subject: cannot keep a value for replay");
    rill__mcast_error(h, &err); /* after this value's fan-out */
  }
}

static void subject_on_room(struct rill__mcast *h) {
  rill_subject_t *s = h->owner;
  if (s->on_demand == NULL || rill__mcast_ended(h))
    return;
  if (s->telling) {
    s->tell_again = true;
    return;
  }
  s->telling = true;
  s->refs++; /* on_demand may drop the last outside reference */
  do {
    s->tell_again = false;
    s->on_demand(s->ctx, s);
  } while (s->tell_again && !rill__mcast_ended(h));
  s->telling = false;
  subject_unref(s);
}

static const struct rill__mcast_ops plain_ops = {.on_room = subject_on_room};
static const struct rill__mcast_ops memory_ops = {.on_value = subject_on_value,
                                                  .on_room = subject_on_room};

int rill__subject_join(rill_subject_t *s, struct rill__op *op) {
  uint32_t n = 0;
  if (s->kind == SUBJECT_BEHAVIOR && !rill__mcast_ended(&s->hub))
    n = 1;
  if (s->kind == SUBJECT_REPLAY) {
    replay_trim(s);
    n = s->len;
  }
  int rc = rill__mcast_join(&s->hub, op, n);
  if (rc < 0)
    return rc;
  if (s->kind == SUBJECT_BEHAVIOR && n == 1)
    rill__mcast_give(op, rill_value_retain(s->current));
  for (uint32_t i = 0; s->kind == SUBJECT_REPLAY && i < n; i++)
    rill__mcast_give(op,
                     rill_value_retain(s->buf[(s->head + i) & (s->cap - 1)].v));
  return 0;
}

/* ---- public
 * ------------------------------------------------------------------*/

static rill_subject_t *subject_new(enum subject_kind kind,
                                   const rill_subject_opts_t *opts) {
  rill_subject_opts_t o = {0};
  if (opts != NULL)
    o = *opts;
  int policy = rill__overflow_pick(o.overflow, RILL_OVERFLOW_ERROR);
  if (policy < 0) {
    errno = EINVAL;
    return NULL;
  }
  rill_subject_t *s = rill__calloc(1, sizeof(*s));
  if (s == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  s->refs = 1;
  s->kind = kind;
  s->on_demand = o.on_demand;
  s->ctx = o.ctx;
  s->age_ms = INFINITY;
  size_t bound = o.buffer ? o.buffer : 128;
  rill__mcast_init(&s->hub, kind == SUBJECT_PLAIN ? &plain_ops : &memory_ops, s,
                   "subject",
                   bound > UINT32_MAX / 4 ? UINT32_MAX / 4 : (uint32_t)bound,
                   (rill_overflow_t)policy, true);
  return s;
}

rill_subject_t *rill_subject_new(const rill_subject_opts_t *opts) {
  return subject_new(SUBJECT_PLAIN, opts);
}

rill_subject_t *rill_subject_behavior_new(rill_value_t initial,
                                          const rill_subject_opts_t *opts) {
  rill_subject_t *s = subject_new(SUBJECT_BEHAVIOR, opts);
  if (s == NULL) {
    rill_value_release(initial);
    return NULL;
  }
  s->current = initial;
  return s;
}

rill_subject_t *rill_subject_replay_new(size_t count, rill_sched_t *sched,
                                        double age_ms,
                                        const rill_subject_opts_t *opts) {
  if (isnan(age_ms) || age_ms < 0 || (!isinf(age_ms) && sched == NULL)) {
    errno = EINVAL;
    return NULL;
  }
  rill_subject_t *s = subject_new(SUBJECT_REPLAY, opts);
  if (s == NULL)
    return NULL;
  s->count = count > REPLAY_MAX ? REPLAY_MAX : (uint32_t)count;
  s->age_ms = age_ms;
  s->sched = sched;
  return s;
}

void rill_subject_free(rill_subject_t *subj) {
  if (subj != NULL)
    subject_unref(subj);
}

int rill_subject_next(rill_subject_t *subj, rill_value_t v) {
  if (subj == NULL) {
    rill_value_release(v);
    return RILL_EINVAL;
  }
  rill__enter();
  int rc = rill__mcast_next(&subj->hub, v);
  rill__leave();
  return rc;
}

int rill_subject_complete(rill_subject_t *subj) {
  if (subj == NULL)
    return RILL_EINVAL;
  if (rill__mcast_ended(&subj->hub))
    return RILL_ECANCELED;
  rill__enter();
  rill__mcast_complete(&subj->hub);
  rill__leave();
  return 0;
}

int rill_subject_error(rill_subject_t *subj, int code, const char *message) {
  if (subj == NULL)
    return RILL_EINVAL;
  if (rill__mcast_ended(&subj->hub))
    return RILL_ECANCELED;
  rill_error_t err;
  if (code >= 0) /* a misuse, not one of rule 3.9's EINVAL */
    rill__error_init(&err, RILL_EUSER, 0, "subject",
                     "subject: rill_subject_error with code %d >= 0%s%s", code,
                     message ? ": " : "", message ? message : "");
  else if (message != NULL) /* the user's words, kept as they are */
    rill__error_init(&err, code, 0, "subject", "%s", message);
  else
    rill__error_callback(&err, "subject", code, "subject error");
  rill__enter();
  rill__mcast_error(&subj->hub, &err);
  rill__leave();
  return 0;
}

int64_t rill_subject_demand(const rill_subject_t *subj) {
  return subj != NULL ? rill__mcast_demand(&subj->hub) : 0;
}

size_t rill_subject_subscribers(const rill_subject_t *subj) {
  return subj != NULL ? subj->hub.live : 0;
}

int rill_subject_value(const rill_subject_t *subj, rill_value_t *out) {
  if (out != NULL)
    *out = (rill_value_t){.kind = RILL_KIND_NONE};
  if (subj == NULL || out == NULL || subj->kind != SUBJECT_BEHAVIOR)
    return RILL_EINVAL;
  if (subj->hub.terminal == RILL__MCAST_ERROR)
    return subj->hub.err.code;
  *out = rill_value_retain(subj->current);
  return 0;
}
