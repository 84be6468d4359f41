/* SPDX-License-Identifier: MIT */
/* rill: Redis stream messages and their acknowledgement.
 *
 * A message is one allocation (header, field/value spans, the bytes, each
 * NUL-terminated) in an owned value whose release function is
 * msg_release, which is how a value is recognised as a message.  A
 * message read by a source holds a reference to its source's acker.
 *
 * The acker sends XACKs on a connection of its own (a BLOCK read occupies
 * the source's).  Ids wait in a queue and go out in batches of at most
 * ACK_BATCH_MAX: when the queue reaches that size, else from a 0 ms timer,
 * that is once per loop iteration.  Batches in flight are kept, in order,
 * until their reply; a lost connection puts their ids back in the queue
 * (XACK is idempotent).  An XACK error reply fails the source, unless it
 * is transient (a new connection then).
 * Life: the source holds one reference, each message one.  While the
 * source is live, releases (auto mode) and rill_redis_ack() queue ids.
 * At the end of the source nothing more is queued; what was queued goes
 * out and the connection stays open until the replies are in, ACK_LINGER_MS
 * at most (the linger), then the connection and the timers are freed --
 * so the scheduler can be freed even while the application still holds
 * messages -- and the struct itself goes with its last reference.  The
 * acker is never freed from inside one of its own connection's callbacks:
 * the end of a linger always runs from the linger timer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "io/redis_conn.h"

#define ACK_BATCH_MAX 512
#define ACK_LINGER_MS 1000.0

struct span {
  const char *p;
  size_t len;
};

struct rill__redis_msg {
  struct rill__redis_acker *acker; /* NULL: made by rill_redis_msg_new */
  size_t nfields;
  bool acked;
  bool redelivered;
  char id[RILL__REDIS_ID_MAX]; /* "" when none */
  struct span fv[];            /* 2 * nfields, then the bytes */
};

struct ack_batch {
  struct ack_batch *next;
  size_t n;
  char ids[][RILL__REDIS_ID_MAX];
};

struct rill__redis_acker {
  uint32_t refs;
  bool live;      /* the source runs: ids may be queued */
  bool lingering; /* the source ended; the last XACKs are out */
  bool shut;      /* connection and timers freed */
  bool explicit_ack;
  struct rill__redis_acker_owner owner;
  const char *stream; /* borrowed from the recipe, held by `recipe` */
  const char *group;
  rill_observable_t *recipe;
  struct rill__redis_conn conn;
  char (*queue)[RILL__REDIS_ID_MAX];
  size_t nqueue, capqueue;
  struct ack_batch *head, *tail; /* in flight, oldest first */
  rill_sched_timer_t *flush_timer;
  rill_sched_timer_t *linger_timer;
};

/* ---- messages
 * --------------------------------------------------------------*/

static void acker_unref(struct rill__redis_acker *a);
static int acker_queue(struct rill__redis_acker *a, const char *id, size_t len);

static void msg_release(void *p) {
  struct rill__redis_msg *m = p;
  struct rill__redis_acker *a = m->acker;
  if (a != NULL) {
    if (!m->acked && !a->explicit_ack && a->live)
      acker_queue(a, m->id, strlen(m->id)); /* ENOMEM: stays pending */
    acker_unref(a);
  }
  rill__free(m);
}

static struct rill__redis_msg *msg_alloc(size_t n, size_t bytes) {
  if (n > (SIZE_MAX - sizeof(struct rill__redis_msg) - bytes) / 2 /
              sizeof(struct span))
    return NULL;
  struct rill__redis_msg *m =
      rill__malloc(sizeof(*m) + 2 * n * sizeof(struct span) + bytes);
  if (m == NULL)
    return NULL;
  m->acker = NULL;
  m->nfields = n;
  m->acked = false;
  m->redelivered = false;
  m->id[0] = '\0';
  return m;
}

/* Copy span k of m (NUL-terminated) to d; returns the next free byte. */
static char *msg_put(struct rill__redis_msg *m, size_t k, char *d,
                     const char *p, size_t len) {
  memcpy(d, p, len);
  d[len] = '\0';
  m->fv[k].p = d;
  m->fv[k].len = len;
  return d + len + 1;
}

static char *msg_bytes(struct rill__redis_msg *m) {
  return (char *)(m->fv + 2 * m->nfields);
}

static int msg_wrap(struct rill__redis_msg *m, rill_value_t *out) {
  /* rill_value_owned releases m on failure: no acker yet, so no ack. */
  return rill_value_owned(m, msg_release, out);
}

const struct rill__redis_msg *rill__redis_msg_of(rill_value_t v) {
  return rill__value_box_release(v) == msg_release ? rill_value_owned_ptr(v)
                                                   : NULL;
}

size_t rill__redis_msg_args(const struct rill__redis_msg *m, const char **argv,
                            size_t *lens) {
  for (size_t i = 0; i < 2 * m->nfields; i++) {
    argv[i] = m->fv[i].p;
    lens[i] = m->fv[i].len;
  }
  return 2 * m->nfields;
}

static bool reply_is_str(const redisReply *r) {
  return r != NULL && r->type == REDIS_REPLY_STRING && r->str != NULL;
}

int rill__redis_msg_from_entry(struct rill__redis_acker *a,
                               const redisReply *entry, bool redelivered,
                               rill_value_t *out) {
  if (entry == NULL || entry->type != REDIS_REPLY_ARRAY ||
      entry->elements != 2 || !reply_is_str(entry->element[0]) ||
      entry->element[0]->len >= RILL__REDIS_ID_MAX)
    return RILL_EREDIS;
  const redisReply *fields = entry->element[1];
  if (fields == NULL || fields->type == REDIS_REPLY_NIL)
    return 0; /* deleted from the stream, still pending */
  if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0)
    return RILL_EREDIS;
  size_t bytes = 0;
  for (size_t i = 0; i < fields->elements; i++) {
    if (!reply_is_str(fields->element[i]))
      return RILL_EREDIS;
    bytes += fields->element[i]->len + 1;
  }
  size_t n = fields->elements / 2;
  struct rill__redis_msg *m = msg_alloc(n, bytes);
  if (m == NULL)
    return RILL_ENOMEM;
  char *d = msg_bytes(m);
  for (size_t i = 0; i < 2 * n; i++)
    d = msg_put(m, i, d, fields->element[i]->str, fields->element[i]->len);
  memcpy(m->id, entry->element[0]->str, entry->element[0]->len);
  m->id[entry->element[0]->len] = '\0';
  m->redelivered = redelivered;
  int rc = msg_wrap(m, out);
  if (rc < 0)
    return rc;
  m->acker = a;
  a->refs++;
  return 1;
}

/* ---- the public accessors -------------------------------------------------*/

const char *rill_redis_msg_id(rill_value_t msg) {
  const struct rill__redis_msg *m = rill__redis_msg_of(msg);
  return m != NULL && m->id[0] != '\0' ? m->id : NULL;
}

size_t rill_redis_msg_nfields(rill_value_t msg) {
  const struct rill__redis_msg *m = rill__redis_msg_of(msg);
  return m != NULL ? m->nfields : 0;
}

static const char *msg_span(rill_value_t msg, size_t k, size_t *len) {
  const struct rill__redis_msg *m = rill__redis_msg_of(msg);
  if (m == NULL || k >= 2 * m->nfields) {
    if (len != NULL)
      *len = 0;
    return NULL;
  }
  if (len != NULL)
    *len = m->fv[k].len;
  return m->fv[k].p;
}

const char *rill_redis_msg_field(rill_value_t msg, size_t i, size_t *len) {
  return msg_span(msg, i > SIZE_MAX / 2 ? SIZE_MAX : 2 * i, len);
}

const char *rill_redis_msg_value(rill_value_t msg, size_t i, size_t *len) {
  return msg_span(msg, i > SIZE_MAX / 2 - 1 ? SIZE_MAX : 2 * i + 1, len);
}

const char *rill_redis_msg_get(rill_value_t msg, const char *field,
                               size_t *len) {
  const struct rill__redis_msg *m = rill__redis_msg_of(msg);
  if (m != NULL && field != NULL) {
    size_t n = strlen(field);
    for (size_t i = 0; i < m->nfields; i++)
      if (m->fv[2 * i].len == n && memcmp(m->fv[2 * i].p, field, n) == 0) {
        if (len != NULL)
          *len = m->fv[2 * i + 1].len;
        return m->fv[2 * i + 1].p;
      }
  }
  if (len != NULL)
    *len = 0;
  return NULL;
}

bool rill_redis_msg_redelivered(rill_value_t msg) {
  const struct rill__redis_msg *m = rill__redis_msg_of(msg);
  return m != NULL && m->redelivered;
}

int rill_redis_ack(rill_value_t msg) {
  struct rill__redis_msg *m = (struct rill__redis_msg *)rill__redis_msg_of(msg);
  if (m == NULL || m->acker == NULL)
    return RILL_EINVAL;
  if (m->acked)
    return 0;
  if (!m->acker->live)
    return RILL_ECANCELED;
  int rc = acker_queue(m->acker, m->id, strlen(m->id));
  if (rc == 0)
    m->acked = true;
  return rc;
}

int rill_redis_msg_new(size_t n, const char *const *fields,
                       const char *const *values, const size_t *value_lens,
                       rill_value_t *out) {
  if (out == NULL || (n > 0 && (fields == NULL || values == NULL)))
    return RILL_EINVAL;
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (fields[i] == NULL || values[i] == NULL)
      return RILL_EINVAL;
    size_t vl = value_lens && value_lens[i] != SIZE_MAX ? value_lens[i]
                                                        : strlen(values[i]);
    bytes += strlen(fields[i]) + vl + 2;
  }
  struct rill__redis_msg *m = msg_alloc(n, bytes);
  if (m == NULL)
    return RILL_ENOMEM;
  char *d = msg_bytes(m);
  for (size_t i = 0; i < n; i++) {
    d = msg_put(m, 2 * i, d, fields[i], strlen(fields[i]));
    d = msg_put(m, 2 * i + 1, d, values[i],
                value_lens && value_lens[i] != SIZE_MAX ? value_lens[i]
                                                        : strlen(values[i]));
  }
  return msg_wrap(m, out);
}

/* ---- the acker
 * ---------------------------------------------------------------*/

static void acker_shutdown(struct rill__redis_acker *a) {
  if (a->shut)
    return;
  a->shut = true;
  a->live = false;
  a->lingering = false;
  rill__redis_conn_free(&a->conn);
  rill_sched_timer_free(a->flush_timer);
  rill_sched_timer_free(a->linger_timer);
  a->flush_timer = a->linger_timer = NULL;
  while (a->head != NULL) {
    struct ack_batch *b = a->head;
    a->head = b->next;
    rill__free(b);
  }
  a->tail = NULL;
  rill__free(a->queue);
  a->queue = NULL;
  a->nqueue = a->capqueue = 0;
  rill_observable_free(a->recipe); /* the names go with it */
  a->recipe = NULL;
}

static void acker_unref(struct rill__redis_acker *a) {
  if (--a->refs == 0 && a->shut)
    rill__free(a);
}

/* End the linger soon, from the linger timer (never from a callback of
 * the acker's own connection, which is inside the struct). */
static void acker_linger_done_soon(struct rill__redis_acker *a) {
  if (a->lingering)
    rill_sched_timer_start(a->linger_timer, 0);
}

static void ack_reply(redisAsyncContext *ac, void *r, void *priv);

static void acker_flush(struct rill__redis_acker *a) {
  const char *argv[3 + ACK_BATCH_MAX];
  while (a->nqueue > 0 && rill__redis_conn_ready(&a->conn)) {
    size_t n = a->nqueue < ACK_BATCH_MAX ? a->nqueue : ACK_BATCH_MAX;
    struct ack_batch *b = rill__malloc(sizeof(*b) + n * sizeof(b->ids[0]));
    if (b == NULL) {
      a->nqueue -= n; /* not acked: they stay pending (at-least-once) */
      continue;
    }
    b->next = NULL;
    b->n = n;
    a->nqueue -= n;
    memcpy(b->ids, a->queue + a->nqueue, n * sizeof(b->ids[0]));
    argv[0] = "XACK";
    argv[1] = a->stream;
    argv[2] = a->group;
    for (size_t i = 0; i < n; i++)
      argv[3 + i] = b->ids[i];
    if (rill__redis_conn_send(&a->conn, ack_reply, (int)(3 + n), argv, NULL) <
        0) {
      a->nqueue += n; /* still there: sent on the next connection */
      rill__free(b);
      break;
    }
    if (a->tail != NULL)
      a->tail->next = b;
    else
      a->head = b;
    a->tail = b;
  }
}

static int acker_queue(struct rill__redis_acker *a, const char *id,
                       size_t len) {
  if (len == 0 || len >= RILL__REDIS_ID_MAX)
    return RILL_EINVAL;
  if (a->nqueue == a->capqueue) {
    size_t cap = a->capqueue ? 2 * a->capqueue : 64;
    void *q = rill__realloc(a->queue, cap * sizeof(a->queue[0]));
    if (q == NULL)
      return RILL_ENOMEM;
    a->queue = q;
    a->capqueue = cap;
  }
  memcpy(a->queue[a->nqueue], id, len);
  a->queue[a->nqueue][len] = '\0';
  a->nqueue++;
  if (a->nqueue >= ACK_BATCH_MAX)
    acker_flush(a);
  else if (!rill_sched_timer_active(a->flush_timer))
    rill_sched_timer_start(a->flush_timer, 0);
  return 0;
}

void rill__redis_acker_add(struct rill__redis_acker *a, const char *id,
                           size_t len) {
  if (a->live)
    acker_queue(a, id, len);
}

/* Put the ids of the batches in flight back in the queue. */
static void acker_requeue(struct rill__redis_acker *a) {
  while (a->head != NULL) {
    struct ack_batch *b = a->head;
    a->head = b->next;
    for (size_t i = 0; i < b->n; i++)
      if (a->live || a->lingering)
        acker_queue(a, b->ids[i], strlen(b->ids[i]));
    rill__free(b);
  }
  a->tail = NULL;
}

static void acker_connected(void *owner) {
  acker_flush(owner);
}

static void acker_lost(void *owner) {
  struct rill__redis_acker *a = owner;
  acker_requeue(a);
  acker_linger_done_soon(a); /* a lingering acker does not reconnect */
}

static void acker_failed(void *owner, const rill_error_t *err) {
  struct rill__redis_acker *a = owner;
  if (!a->live) {
    acker_linger_done_soon(a);
    return;
  }
  /* Last: the source ends and may free the acker (acker_end). */
  a->owner.failed(a->owner.op, err);
}

static const struct rill__redis_conn_ops acker_conn_ops = {
    .connected = acker_connected,
    .lost = acker_lost,
    .failed = acker_failed,
};

static void ack_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  const redisReply *reply = r;
  struct rill__redis_conn *c = rill__redis_conn_of_reply(ac, reply);
  if (c == NULL)
    return;
  struct rill__redis_acker *a = c->owner;
  struct ack_batch *b = a->head;
  if (b != NULL) {
    a->head = b->next;
    if (a->head == NULL)
      a->tail = NULL;
    rill__free(b);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    if (rill__redis_error_transient(reply)) {
      rill__redis_conn_drop(c, RILL_EREDIS, reply->str);
      return;
    }
    if (a->live) {
      rill_error_t err;
      rill__redis_error_reply(&err, c->stage, reply);
      a->owner.failed(a->owner.op, &err); /* may free the acker: last */
      return;
    }
  }
  if (a->lingering && a->head == NULL && a->nqueue == 0)
    acker_linger_done_soon(a);
}

static void flush_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  acker_flush(arg);
}

static void linger_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__redis_acker *a = arg;
  acker_shutdown(a);
  if (a->refs == 0)
    rill__free(a);
}

struct rill__redis_acker *
rill__redis_acker_new(rill_sched_t *s, const struct rill__redis_cfg *cfg,
                      const char *stream, const char *group, bool explicit_ack,
                      const struct rill__redis_acker_owner *owner,
                      rill_observable_t *recipe) {
  struct rill__redis_acker *a = rill__calloc(1, sizeof(*a));
  if (a == NULL)
    return NULL;
  a->refs = 1;
  a->live = true;
  a->explicit_ack = explicit_ack;
  a->owner = *owner;
  a->stream = stream;
  a->group = group;
  a->flush_timer = rill_sched_timer_new(s, flush_fired, a);
  a->linger_timer = rill_sched_timer_new(s, linger_fired, a);
  if (a->flush_timer == NULL || a->linger_timer == NULL ||
      rill__redis_conn_init(&a->conn, s, cfg, "redis_source", &acker_conn_ops,
                            a) < 0) {
    rill_sched_timer_free(a->flush_timer);
    rill_sched_timer_free(a->linger_timer);
    rill__free(a);
    return NULL;
  }
  a->recipe = rill_observable_ref(recipe);
  return a;
}

void rill__redis_acker_start(struct rill__redis_acker *a) {
  rill__redis_conn_open(&a->conn);
}

void rill__redis_acker_end(struct rill__redis_acker *a) {
  if (a == NULL)
    return;
  if (a->live) {
    a->live = false;
    a->owner.op = NULL;
    a->owner.failed = NULL;
    rill_sched_timer_stop(a->flush_timer);
    acker_flush(a);
    if (!a->shut && !a->conn.closed && (a->head != NULL || a->nqueue > 0)) {
      a->lingering = true;
      rill_sched_timer_start(a->linger_timer, ACK_LINGER_MS);
    } else {
      acker_shutdown(a);
    }
  }
  acker_unref(a);
}
