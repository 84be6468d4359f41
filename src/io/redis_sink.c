/* SPDX-License-Identifier: MIT */
/* rill: redis_sink -- XADD every value of its source to a Redis stream,
 * pipelined, and report the end once through done(ctx, err) (see
 * include/rill/redis.h for the value shapes).
 *
 * Demand: requests `window` values up front, then one per XADD reply, so
 * at most `window` values are held at any time (the ring): sent and
 * awaiting their reply, or waiting for a connection.  Replies come in
 * order, so the reply in hand is the oldest value's: it is released (a
 * message from a source gets acked now, after Redis stored the copy) and
 * one more value is requested.
 * Connection: one.  `sent` counts the ring's values written on the
 * current connection; a lost connection sets it to 0 and the next one
 * sends the whole ring again (at-least-once).  An error reply (WRONGTYPE,
 * OOM, NOAUTH...) fails the stage, except transient ones (a reconnect).
 * Ends: upstream complete and the ring empty: done(NULL).  An upstream
 * error, a server error, a value of the wrong kind, a connection given up:
 * done(err) at once, upstream cancelled, values held released.  Cancel
 * through *out: everything stops, done is not called.
 * Built as an internal operator stage under a plain subscription (the
 * handle *out), as rill_to_fd: the subscription's terminal signals become
 * done(), so every ending -- also a stage that could not be allocated --
 * reports once.  The source observable is not taken over. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/redis_conn.h"
#include "kit/kit.h"
#include "rill/ev.h"

#define SINK_DEFAULT_WINDOW 128
#define SINK_MAX_WINDOW (1u << 20)
#define SINK_STACK_ARGS 64

/* What the end is reported to; owned by the stage's recipe. */
struct sink_link {
  rill_redis_done_fn done;
  void *ctx;
};

struct sink_args {
  rill_sched_t *sched;
  struct rill__redis_cfg *cfg;
  char *stream;
  char *field;
  char maxlen[24]; /* "" for none */
  uint32_t window;
  struct sink_link *link;
};

struct sink_state {
  struct rill__redis_conn conn;
  struct rill__ring ring; /* values not yet confirmed, oldest first */
  uint32_t sent;          /* of those, written on this connection */
  bool up_done;
  bool closed;
};

/* Values held are released in destroy only, once upstream is cancelled:
 * a message from a source released while that source is live would be
 * acked, and these were not confirmed. */
static void sink_close(struct rill__op *op) {
  struct sink_state *st = op->state;
  if (st->closed)
    return;
  st->closed = true;
  rill__redis_conn_close(&st->conn);
}

static void sink_fail_with(struct rill__op *op, const rill_error_t *err) {
  if (rill__op_done(op))
    return;
  sink_close(op);
  rill__op_error(op, err); /* cancels upstream; the sink calls done */
}

static void sink_fail(struct rill__op *op, int code, const char *what) {
  rill_error_t err;
  rill__error_init(&err, code, 0, op->ops->name, "%s: %s", op->ops->name, what);
  sink_fail_with(op, &err);
}

static void sink_finish(struct rill__op *op) {
  sink_close(op);
  rill__op_complete(op);
}

static void xadd_reply(redisAsyncContext *ac, void *r, void *priv);

/* XADD the value v; 0, -1 when there is no connection now (the ring is
 * sent when one comes), or RILL_ENOMEM. */
static int sink_send(struct rill__op *op, rill_value_t v) {
  const struct sink_args *a = op->args;
  struct sink_state *st = op->state;
  const char *stack_argv[SINK_STACK_ARGS];
  size_t stack_lens[SINK_STACK_ARGS];
  const char **argv = stack_argv;
  size_t *lens = stack_lens;
  char num[32];
  const struct rill__redis_msg *m = rill__redis_msg_of(v);
  size_t nargs = m ? 2 * rill_redis_msg_nfields(v) : 2;
  size_t argc = 2 + (a->maxlen[0] ? 3 : 0) + 1 + nargs;
  if (argc > SINK_STACK_ARGS) {
    argv = rill__malloc(argc * sizeof(*argv));
    lens = rill__malloc(argc * sizeof(*lens));
    if (argv == NULL || lens == NULL) {
      rill__free(argv);
      rill__free(lens);
      return RILL_ENOMEM;
    }
  }
  size_t k = 0;
  argv[k] = "XADD";
  lens[k++] = 4;
  argv[k] = a->stream;
  lens[k++] = strlen(a->stream);
  if (a->maxlen[0]) {
    argv[k] = "MAXLEN";
    lens[k++] = 6;
    argv[k] = "~";
    lens[k++] = 1;
    argv[k] = a->maxlen;
    lens[k++] = strlen(a->maxlen);
  }
  argv[k] = "*";
  lens[k++] = 1;
  if (m != NULL) {
    k += rill__redis_msg_args(m, argv + k, lens + k);
  } else {
    argv[k] = a->field;
    lens[k++] = strlen(a->field);
    if (v.kind == RILL_KIND_BUF) {
      argv[k] = (const char *)rill_buf_data(v.as.buf);
      lens[k++] = rill_buf_len(v.as.buf);
    } else {
      if (v.kind == RILL_KIND_INT)
        snprintf(num, sizeof(num), "%lld", (long long)v.as.i);
      else
        snprintf(num, sizeof(num), "%.17g", v.as.d);
      argv[k] = num;
      lens[k++] = strlen(num);
    }
  }
  int rc = rill__redis_conn_send(&st->conn, xadd_reply, (int)k, argv, lens);
  if (argv != stack_argv) {
    rill__free(argv);
    rill__free(lens);
  }
  return rc;
}

/* Send what the current connection has not had yet, in order. */
static void sink_send_pending(struct rill__op *op) {
  struct sink_state *st = op->state;
  while (st->sent < rill__ring_len(&st->ring) && !rill__op_done(op)) {
    int rc = sink_send(op, rill__ring_at(&st->ring, st->sent));
    if (rc == RILL_ENOMEM)
      sink_fail(op, rc, "cannot allocate the XADD arguments");
    if (rc < 0)
      return;
    st->sent++;
  }
}

static void xadd_reply(redisAsyncContext *ac, void *r, void *priv) {
  (void)priv;
  const redisReply *reply = r;
  struct rill__redis_conn *c = rill__redis_conn_of_reply(ac, reply);
  if (c == NULL)
    return;
  struct rill__op *op = c->owner;
  struct sink_state *st = op->state;
  if (rill__op_done(op))
    return;
  if (reply->type == REDIS_REPLY_ERROR) {
    if (rill__redis_error_transient(reply)) {
      rill__redis_conn_drop(c, RILL_EREDIS, reply->str);
      return;
    }
    rill_error_t err;
    rill__redis_error_reply(&err, op->ops->name, reply);
    sink_fail_with(op, &err);
    return;
  }
  if (reply->type != REDIS_REPLY_STRING || st->sent == 0) {
    sink_fail(op, RILL_EREDIS, "unexpected reply to XADD");
    return;
  }
  st->sent--;
  rill_value_release(rill__ring_pop(&st->ring)); /* may ack a message */
  if (rill__op_done(op))
    return;
  if (st->up_done) {
    if (rill__ring_empty(&st->ring))
      sink_finish(op);
    return;
  }
  rill__op_request_up(op, 1);
}

/* ---- the connection's events --------------------------------------------*/

static void sink_connected(void *owner) {
  struct rill__op *op = owner;
  struct sink_state *st = op->state;
  st->sent = 0;
  sink_send_pending(op);
}

static void sink_lost(void *owner) {
  struct rill__op *op = owner;
  struct sink_state *st = op->state;
  st->sent = 0; /* sent again on the next connection */
}

static void sink_conn_failed(void *owner, const rill_error_t *err) {
  sink_fail_with(owner, err);
}

static const struct rill__redis_conn_ops sink_conn_ops = {
    .connected = sink_connected,
    .lost = sink_lost,
    .failed = sink_conn_failed,
};

/* ---- handlers, in the order of struct rill__op_ops ----------------------*/

static int sink_init(struct rill__op *op) {
  const struct sink_args *a = op->args;
  struct sink_state *st = op->state;
  rill__ring_init(&st->ring, a->window);
  if (rill__redis_conn_init(&st->conn, a->sched, a->cfg, op->ops->name,
                            &sink_conn_ops, op) < 0)
    return RILL_ENOMEM;
  /* So that taking a value in can never fail with ENOMEM. */
  return rill__ring_reserve(&st->ring, a->window);
}

static void sink_on_subscribe(struct rill__op *op) {
  const struct sink_args *a = op->args;
  struct sink_state *st = op->state;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (rill_sched_ev_loop(a->sched) == NULL) {
    sink_fail(op, RILL_ENOTSUP, "the scheduler has no I/O");
    return;
  }
  rill__redis_conn_open(&st->conn);
  rill__op_request_up(op, a->window);
}

static bool sink_kind_ok(rill_value_t v) {
  return rill__redis_msg_of(v) != NULL ||
         (v.kind == RILL_KIND_BUF && v.as.buf != NULL) ||
         v.kind == RILL_KIND_INT || v.kind == RILL_KIND_DOUBLE;
}

static void sink_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct sink_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (!sink_kind_ok(v)) {
    rill__drop(v);
    sink_fail(op, RILL_EINVAL, "expected a message, a buffer or a number");
    return;
  }
  if (rill__ring_push(&st->ring, v) < 0) { /* released by the ring */
    sink_fail(op, RILL_EPROTO, "upstream sent more than requested");
    return;
  }
  sink_send_pending(op);
}

static void sink_on_error(struct rill__op *op, const rill_error_t *err) {
  sink_close(op);
  rill__op_error(op, err);
}

static void sink_on_complete(struct rill__op *op) {
  struct sink_state *st = op->state;
  st->up_done = true;
  if (rill__ring_empty(&st->ring))
    sink_finish(op);
}

static void sink_on_cancel(struct rill__op *op) {
  sink_close(op);
}

static void sink_destroy(struct rill__op *op) {
  struct sink_state *st = op->state;
  sink_close(op);
  rill__redis_conn_free(&st->conn);
  rill__ring_clear(&st->ring);
}

static void sink_args_release(void *args) {
  struct sink_args *a = args;
  if (a->cfg != NULL) {
    rill__redis_cfg_free(a->cfg);
    rill__free(a->cfg);
  }
  rill__free(a->stream);
  rill__free(a->field);
  rill__free(a->link);
}

static const struct rill__op_ops sink_ops = {
    .name = "redis_sink",
    .args_size = sizeof(struct sink_args),
    .state_size = sizeof(struct sink_state),
    .init = sink_init,
    .on_subscribe = sink_on_subscribe,
    .on_next = sink_on_next,
    .on_error = sink_on_error,
    .on_complete = sink_on_complete,
    .on_cancel = sink_on_cancel,
    .destroy = sink_destroy,
    .args_release = sink_args_release,
};

/* The user's end of the stage: terminal signals become done(). */
static void sink_link_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  (void)s;
}

static void sink_link_error(void *ctx, const rill_error_t *err) {
  struct sink_link *link = ctx;
  if (link->done != NULL)
    link->done(link->ctx, err);
}

static void sink_link_complete(void *ctx) {
  struct sink_link *link = ctx;
  if (link->done != NULL)
    link->done(link->ctx, NULL);
}

int rill_redis_sink(rill_observable_t *src, rill_sched_t *s,
                    const rill_redis_conn_t *conn, const char *stream,
                    const rill_redis_sink_opts_t *opts, rill_redis_done_fn done,
                    void *ctx, rill_subscription_t **out) {
  static const rill_redis_sink_opts_t defaults;
  if (out != NULL)
    *out = NULL;
  if (opts == NULL)
    opts = &defaults;
  if (src == NULL || s == NULL || stream == NULL || *stream == '\0' ||
      opts->maxlen < 0 || opts->window > SINK_MAX_WINDOW ||
      (opts->field != NULL && *opts->field == '\0'))
    return RILL_EINVAL;
  struct sink_args args = {
      .sched = s,
      .window = opts->window ? (uint32_t)opts->window : SINK_DEFAULT_WINDOW,
  };
  if (opts->maxlen > 0)
    snprintf(args.maxlen, sizeof(args.maxlen), "%lld", (long long)opts->maxlen);
  args.cfg = rill__calloc(1, sizeof(*args.cfg));
  int rc = args.cfg ? rill__redis_cfg_init(args.cfg, conn) : RILL_ENOMEM;
  if (rc < 0) {
    rill__free(args.cfg);
    return rc;
  }
  args.stream = rill__redis_strdup(stream);
  args.field = rill__redis_strdup(opts->field ? opts->field : "data");
  args.link = rill__calloc(1, sizeof(*args.link));
  if (args.stream == NULL || args.field == NULL || args.link == NULL) {
    sink_args_release(&args);
    return RILL_ENOMEM;
  }
  args.link->done = done;
  args.link->ctx = ctx;
  struct sink_link *link = args.link;
  rill_observable_t *stage =
      rill__op_create(rill_observable_ref(src), &sink_ops, &args);
  if (stage == NULL)
    return RILL_ENOMEM; /* args_release freed the arguments */
  static const rill_subscriber_t sub = {.on_subscribe = sink_link_subscribe,
                                        .on_error = sink_link_error,
                                        .on_complete = sink_link_complete};
  rc = rill_observable_subscribe(stage, &sub, link, out);
  rill_observable_free(stage);
  return rc;
}
