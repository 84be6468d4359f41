/* SPDX-License-Identifier: MIT */
/* rill: redis_source -- one consumer of a consumer group on one Redis
 * stream, as a source of message values (include/rill/redis.h says what
 * it does for the user; this says how).
 *
 * Demand: `demand` counts what downstream requested and was not yet
 * delivered.  One command at a time is in flight on the read connection
 * (`inflight`), and only while demand > 0, asking for COUNT min(demand,
 * batch): so what the server moves into this consumer's pending list never
 * exceeds the demand.  Entries are delivered from the reply callback, one
 * value each; a request made from on_next only adds to `demand`
 * (`delivering` holds the next command back until the batch is out, so a
 * nested read cannot ask for demand that the batch will still use).  If
 * downstream cancels in the middle of a batch, the rest of it is not
 * delivered and not acked: it stays pending in Redis.
 * Commands, in this order of preference: the history (this consumer's own
 * pending list, XREADGROUP ... STREAMS key <cursor>, from "0" at
 * subscription until a read returns nothing), a claim scan (XAUTOCLAIM
 * from cursor "0-0" until the server says "0-0" again; at subscription and
 * every claim_idle_ms after the previous scan ended), the new entries
 * (XREADGROUP ... BLOCK block_ms STREAMS key >).  An empty read is issued
 * again while demand remains.  A BLOCK never outlasts the time left until
 * the next claim scan (which would wait behind it).
 * Connections: `rd` for reads, history and claims (a BLOCK read occupies
 * it); the acker's for XACK (redis_msg.c).  At each (re)connection the
 * group is created first if asked (XGROUP CREATE ... MKSTREAM; BUSYGROUP
 * means it exists).  A lost read connection loses the read in flight:
 * entries the server assigned to it stay pending and come back by claim.
 * Cancel: both connections are closed at once -- a BLOCK read in flight
 * goes with its connection (hiredis frees it; the pending reply callback
 * sees a detached link and does nothing), so nothing is called after the
 * cancel and nothing waits for the BLOCK to expire; the acker lingers only
 * to send the acks made before (redis_msg.c).
 * Time: the claim timer; the conns' retry and deadline timers.
 * Owns: the read connection, the claim timer, one acker reference.
 * Deviations: none from RxJS (no counterpart); the value of an entry is an
 * owned message (rill_redis_msg_*). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/redis_conn.h"
#include "kit/demand.h"
#include "rill/ev.h"

#define SOURCE_DEFAULT_BATCH 128
#define SOURCE_DEFAULT_BLOCK_MS 2000.0
#define SOURCE_DEFAULT_CLAIM_MS 30000.0

struct source_args {
  rill_sched_t *sched;
  struct rill__redis_cfg *cfg;
  char *stream;
  char *group;
  char *consumer;
  char *start_id;
  int64_t batch;
  double block_ms;
  double claim_idle_ms; /* INFINITY: never */
  bool create_group;
  bool explicit_ack;
};

struct source_state {
  struct rill__redis_conn rd;
  struct rill__redis_acker *acker;
  rill_sched_timer_t *claim_timer;
  int64_t demand;
  bool inflight;   /* a read or a claim awaits its reply */
  bool delivering; /* a batch is being delivered */
  bool history;    /* the own pending list is still being read */
  bool claim_due;
  bool torn_down;
  double claim_at; /* when the next claim scan is due (ms), or INFINITY */
  char history_cursor[RILL__REDIS_ID_MAX];
  char claim_cursor[RILL__REDIS_ID_MAX];
};

static void source_pump(struct rill__op *op);

/* Close everything; the acker sends what was acked before. */
static void source_teardown(struct rill__op *op) {
  struct source_state *st = op->state;
  if (st->torn_down)
    return;
  st->torn_down = true;
  rill__redis_conn_close(&st->rd);
  rill_sched_timer_stop(st->claim_timer);
  struct rill__redis_acker *a = st->acker;
  st->acker = NULL;
  rill__redis_acker_end(a);
}

static void source_fail_with(struct rill__op *op, const rill_error_t *err) {
  if (rill__op_done(op))
    return;
  source_teardown(op);
  rill__op_error(op, err);
}

static void source_fail(struct rill__op *op, int code, const char *what) {
  rill_error_t err;
  rill__error_init(&err, code, 0, op->ops->name, "%s: %s", op->ops->name, what);
  source_fail_with(op, &err);
}

/* An error reply: transient ones (and NOGROUP when the group is ours to
 * create) reconnect; the rest fail the stream. */
static void source_error_reply(struct rill__op *op, const redisReply *reply) {
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  if (rill__redis_error_transient(reply) ||
      (a->create_group && rill__redis_error_is(reply, "NOGROUP"))) {
    rill__redis_conn_drop(&st->rd, RILL_EREDIS, reply->str);
    return;
  }
  rill_error_t err;
  rill__redis_error_reply(&err, op->ops->name, reply);
  source_fail_with(op, &err);
}

/* Deliver the entries of one reply (an array of [id, fields]) while
 * there is demand.  Returns how many entries were seen, or -1 when the
 * stream ended (failed or cancelled). */
static long source_deliver(struct rill__op *op, const redisReply *entries,
                           bool redelivered, char *cursor) {
  struct source_state *st = op->state;
  if (entries->type != REDIS_REPLY_ARRAY) {
    source_fail(op, RILL_EREDIS, "unexpected reply shape");
    return -1;
  }
  st->delivering = true;
  long seen = 0;
  for (size_t i = 0; i < entries->elements && !rill__op_done(op); i++) {
    const redisReply *e = entries->element[i];
    if (e == NULL || e->type == REDIS_REPLY_NIL)
      continue; /* a claimed entry deleted meanwhile (Redis 6.2) */
    if (st->demand == 0)
      break; /* never beyond demand: the rest stays pending */
    rill_value_t v;
    int rc = rill__redis_msg_from_entry(st->acker, e, redelivered, &v);
    if (rc < 0) {
      st->delivering = false;
      source_fail(op, rc,
                  rc == RILL_ENOMEM ? "cannot allocate a message"
                                    : "unexpected entry shape");
      return -1;
    }
    seen++;
    const redisReply *id = e->element[0];
    if (cursor != NULL) {
      memcpy(cursor, id->str, id->len);
      cursor[id->len] = '\0';
    }
    if (rc == 0) {
      /* In the pending list, deleted from the stream: nothing to deliver
       * ever; ack it so that it leaves the list. */
      rill__redis_acker_add(st->acker, id->str, id->len);
      continue;
    }
    rill__demand_emit(op, &st->demand, v);
  }
  st->delivering = false;
  return rill__op_done(op) ? -1 : seen;
}

/* XREADGROUP reply: nil, or [[key, [entry...]]]. */
static const redisReply *read_entries(const redisReply *reply) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1)
    return NULL;
  const redisReply *s = reply->element[0];
  if (s == NULL || s->type != REDIS_REPLY_ARRAY || s->elements != 2)
    return NULL;
  return s->element[1];
}

static struct rill__op *source_of_reply(redisAsyncContext *ac, void *r) {
  struct rill__redis_conn *c = rill__redis_conn_of_reply(ac, r);
  if (c == NULL)
    return NULL;
  struct rill__op *op = c->owner;
  struct source_state *st = op->state;
  st->inflight = false;
  if (((const redisReply *)r)->type == REDIS_REPLY_ERROR) {
    source_error_reply(op, r);
    return NULL;
  }
  return op;
}

static void read_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  struct rill__op *op = source_of_reply(ac, r);
  if (op == NULL)
    return;
  const redisReply *reply = r;
  if (reply->type != REDIS_REPLY_NIL) {
    const redisReply *entries = read_entries(reply);
    if (entries == NULL) {
      source_fail(op, RILL_EREDIS, "unexpected reply to XREADGROUP");
      return;
    }
    if (source_deliver(op, entries, false, NULL) < 0)
      return;
  }
  source_pump(op);
}

static void history_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  struct rill__op *op = source_of_reply(ac, r);
  if (op == NULL)
    return;
  struct source_state *st = op->state;
  const redisReply *reply = r;
  long seen = 0;
  if (reply->type != REDIS_REPLY_NIL) {
    const redisReply *entries = read_entries(reply);
    if (entries == NULL) {
      source_fail(op, RILL_EREDIS, "unexpected reply to XREADGROUP");
      return;
    }
    seen = source_deliver(op, entries, true, st->history_cursor);
    if (seen < 0)
      return;
  }
  if (seen == 0)
    st->history = false; /* the own pending list is done */
  source_pump(op);
}

static void claim_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  struct rill__op *op = source_of_reply(ac, r);
  if (op == NULL)
    return;
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  const redisReply *reply = r;
  /* [next cursor, [entry...]] (6.2), plus [deleted ids] (7.0). */
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
      reply->element[0]->type != REDIS_REPLY_STRING ||
      reply->element[0]->len >= RILL__REDIS_ID_MAX) {
    source_fail(op, RILL_EREDIS, "unexpected reply to XAUTOCLAIM");
    return;
  }
  const redisReply *next = reply->element[0];
  if (source_deliver(op, reply->element[1], true, NULL) < 0)
    return;
  memcpy(st->claim_cursor, next->str, next->len);
  st->claim_cursor[next->len] = '\0';
  if (strcmp(st->claim_cursor, "0-0") == 0) {
    st->claim_due = false; /* the scan is complete: the next one later */
    st->claim_at = rill__sched_now(a->sched) + a->claim_idle_ms;
    rill_sched_timer_start(st->claim_timer, a->claim_idle_ms);
  }
  source_pump(op);
}

static void group_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  const redisReply *reply = r;
  struct rill__redis_conn *c = rill__redis_conn_of_reply(ac, reply);
  if (c == NULL || reply->type != REDIS_REPLY_ERROR ||
      rill__redis_error_is(reply, "BUSYGROUP"))
    return;
  source_error_reply(c->owner, reply);
}

static void format_i64(char *buf, size_t size, int64_t v) {
  snprintf(buf, size, "%lld", (long long)v);
}

/* Issue the next command if there is demand and nothing in flight. */
static void source_pump(struct rill__op *op) {
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  if (rill__op_done(op) || st->inflight || st->delivering || st->demand == 0 ||
      !rill__redis_conn_ready(&st->rd))
    return;
  char count[24], block[24], idle[24];
  format_i64(count, sizeof(count),
             st->demand < a->batch ? st->demand : a->batch);
  const char *argv[12];
  int argc;
  redisCallbackFn *fn;
  if (st->history || !st->claim_due) {
    argv[0] = "XREADGROUP";
    argv[1] = "GROUP";
    argv[2] = a->group;
    argv[3] = a->consumer;
    argv[4] = "COUNT";
    argv[5] = count;
    argc = 6;
    if (!st->history) {
      /* Back in time for the next claim scan: it waits behind this. */
      double until = st->claim_at - rill__sched_now(a->sched);
      double b = until < a->block_ms ? until : a->block_ms;
      format_i64(block, sizeof(block), b < 1 ? 1 : (int64_t)b);
      argv[argc++] = "BLOCK";
      argv[argc++] = block;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = a->stream;
    argv[argc++] = st->history ? st->history_cursor : ">";
    fn = st->history ? history_reply : read_reply;
  } else {
    format_i64(idle, sizeof(idle), (int64_t)a->claim_idle_ms);
    argv[0] = "XAUTOCLAIM";
    argv[1] = a->stream;
    argv[2] = a->group;
    argv[3] = a->consumer;
    argv[4] = idle;
    argv[5] = st->claim_cursor;
    argv[6] = "COUNT";
    argv[7] = count;
    argc = 8;
    fn = claim_reply;
  }
  if (rill__redis_conn_send(&st->rd, fn, argc, argv, NULL) == 0)
    st->inflight = true;
}

/* ---- the read connection's events --------------------------------------*/

static void source_connected(void *owner) {
  struct rill__op *op = owner;
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  st->inflight = false;
  if (a->create_group) {
    const char *argv[] = {"XGROUP", "CREATE",    a->stream,
                          a->group, a->start_id, "MKSTREAM"};
    rill__redis_conn_send(&st->rd, group_reply, 6, argv, NULL);
  }
  source_pump(op);
}

static void source_lost(void *owner) {
  struct rill__op *op = owner;
  struct source_state *st = op->state;
  st->inflight = false; /* its entries stay pending: claimed later */
}

static void source_conn_failed(void *owner, const rill_error_t *err) {
  source_fail_with(owner, err);
}

static const struct rill__redis_conn_ops source_conn_ops = {
    .connected = source_connected,
    .lost = source_lost,
    .failed = source_conn_failed,
};

static void source_acker_failed(void *op, const rill_error_t *err) {
  source_fail_with(op, err);
}

static void claim_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  struct source_state *st = op->state;
  st->claim_due = true;
  strcpy(st->claim_cursor, "0-0");
  source_pump(op);
}

/* ---- handlers, in the order of struct rill__op_ops ----------------------*/

static int source_init(struct rill__op *op) {
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  /* On failure the stage is destroyed: source_destroy frees what was
   * made. */
  if (rill__redis_conn_init(&st->rd, a->sched, a->cfg, op->ops->name,
                            &source_conn_ops, op) < 0)
    return RILL_ENOMEM;
  st->rd.slack_ms = a->block_ms;
  st->claim_timer = rill_sched_timer_new(a->sched, claim_fired, op);
  if (st->claim_timer == NULL)
    return RILL_ENOMEM;
  const struct rill__redis_acker_owner owner = {source_acker_failed, op};
  st->acker = rill__redis_acker_new(a->sched, a->cfg, a->stream, a->group,
                                    a->explicit_ack, &owner, op->obs);
  if (st->acker == NULL)
    return RILL_ENOMEM;
  st->history = true;
  strcpy(st->history_cursor, "0");
  st->claim_due = !isinf(a->claim_idle_ms);
  st->claim_at = INFINITY; /* the first scan runs before any BLOCK read */
  strcpy(st->claim_cursor, "0-0");
  return 0;
}

static void source_on_subscribe(struct rill__op *op) {
  const struct source_args *a = op->args;
  struct source_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (rill_sched_ev_loop(a->sched) == NULL) {
    source_fail(op, RILL_ENOTSUP, "the scheduler has no I/O");
    return;
  }
  rill__redis_conn_open(&st->rd);
  if (st->acker != NULL)
    rill__redis_acker_start(st->acker);
}

static void source_on_request(struct rill__op *op, int64_t n) {
  struct source_state *st = op->state;
  rill__demand_more(&st->demand, n);
  source_pump(op);
}

static void source_on_cancel(struct rill__op *op) {
  source_teardown(op);
}

static void source_destroy(struct rill__op *op) {
  struct source_state *st = op->state;
  source_teardown(op);
  rill__redis_conn_free(&st->rd);
  rill_sched_timer_free(st->claim_timer);
  st->claim_timer = NULL;
}

static void source_args_release(void *args) {
  struct source_args *a = args;
  if (a->cfg != NULL) {
    rill__redis_cfg_free(a->cfg);
    rill__free(a->cfg);
  }
  rill__free(a->stream);
  rill__free(a->group);
  rill__free(a->consumer);
  rill__free(a->start_id);
}

static const struct rill__op_ops source_ops = {
    .name = "redis_source",
    .source = true,
    .args_size = sizeof(struct source_args),
    .state_size = sizeof(struct source_state),
    .init = source_init,
    .on_subscribe = source_on_subscribe,
    .on_request = source_on_request,
    .on_cancel = source_on_cancel,
    .destroy = source_destroy,
    .args_release = source_args_release,
};

bool rill_redis_available(void) {
  return true;
}

static bool name_ok(const char *s) {
  return s != NULL && *s != '\0';
}

rill_observable_t *rill_redis_source(rill_sched_t *s,
                                     const rill_redis_conn_t *conn,
                                     const char *stream, const char *group,
                                     const char *consumer,
                                     const rill_redis_source_opts_t *opts) {
  static const rill_redis_source_opts_t defaults;
  if (opts == NULL)
    opts = &defaults;
  if (s == NULL || !name_ok(stream) || !name_ok(group) || !name_ok(consumer) ||
      opts->batch < 0 || !(opts->block_ms >= 0) ||
      !(opts->claim_idle_ms >= 0) || isinf(opts->block_ms) ||
      (opts->start_id != NULL && *opts->start_id == '\0')) {
    errno = EINVAL;
    return NULL;
  }
  struct source_args args = {
      .sched = s,
      .batch = opts->batch ? opts->batch : SOURCE_DEFAULT_BATCH,
      .block_ms = opts->block_ms > 0 ? opts->block_ms : SOURCE_DEFAULT_BLOCK_MS,
      .claim_idle_ms = opts->claim_idle_ms > 0 ? opts->claim_idle_ms
                                               : SOURCE_DEFAULT_CLAIM_MS,
      .create_group = opts->create_group,
      .explicit_ack = opts->explicit_ack,
  };
  if (args.block_ms < 1)
    args.block_ms = 1; /* BLOCK 0 would wait for ever */
  args.cfg = rill__calloc(1, sizeof(*args.cfg));
  int rc = args.cfg ? rill__redis_cfg_init(args.cfg, conn) : RILL_ENOMEM;
  if (rc < 0) {
    rill__free(args.cfg);
    errno = rc == RILL_EINVAL ? EINVAL : ENOMEM;
    return NULL;
  }
  args.stream = rill__redis_strdup(stream);
  args.group = rill__redis_strdup(group);
  args.consumer = rill__redis_strdup(consumer);
  args.start_id = rill__redis_strdup(opts->start_id ? opts->start_id : "0");
  if (args.stream == NULL || args.group == NULL || args.consumer == NULL ||
      args.start_id == NULL) {
    source_args_release(&args);
    errno = ENOMEM;
    return NULL;
  }
  return rill__op_create(NULL, &source_ops, &args);
}
