/* SPDX-License-Identifier: MIT */
/* rill internals: the Redis connector (include/rill/redis.h), built only
 * with hiredis.  Three parts:
 *   redis_conn.c    one resilient hiredis connection: address and policy,
 *                   hiredis' event hooks on rill's scheduler, AUTH,
 *                   reconnect with backoff, reply deadline, clean close
 *   redis_msg.c     messages (owned values) and the acker (batched XACK
 *                   on a connection of its own)
 *   redis_source.c  the consumer-group source
 *   redis_sink.c    the XADD sink
 *
 * HOW A CONNECTION ENDS (hiredis 0.14 semantics, which this relies on)
 *   hiredis frees an async context itself when the connection fails (EOF,
 *   I/O error, a failed connect): it calls every pending reply callback
 *   with a NULL reply, then the event library's cleanup hook, then frees
 *   the context.  redisAsyncFree() from inside a reply callback is
 *   deferred until that callback returns.  So a "link" (one context) is
 *   detached from its conn when the conn closes it, reply callbacks find
 *   their conn through the link and ignore replies of a detached or dying
 *   link, and the cleanup hook is the one place where a link's death is
 *   noticed.  Reply callbacks never own memory (privdata is unused): what
 *   is in flight is kept by the owner, in order, and re-sent or dropped
 *   when the connection is lost. */
#ifndef RILL_IO_REDIS_CONN_H
#define RILL_IO_REDIS_CONN_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "rill-internal.h"
#include "rill/redis.h"

/* Longest stream id: "18446744073709551615-18446744073709551615". */
#define RILL__REDIS_ID_MAX 48

/* ---- configuration (copied from rill_redis_conn_t, owned by a recipe) ---*/
struct rill__redis_cfg {
  char *host; /* NULL for a unix socket */
  int port;
  char *path; /* the unix socket, or NULL */
  char *username;
  char *password;
  char *display; /* the address as given, for messages */
  int retries;   /* < 0: for ever */
  double retry_ms;
  double retry_max_ms;
  double reply_timeout_ms; /* INFINITY: none */
};
/* 0, RILL_EINVAL (an address that cannot be parsed) or RILL_ENOMEM; on
 * failure nothing is left to free. */
int rill__redis_cfg_init(struct rill__redis_cfg *cfg,
                         const rill_redis_conn_t *c);
void rill__redis_cfg_free(struct rill__redis_cfg *cfg);
/* strdup through rill's allocator (NULL for NULL or ENOMEM). */
char *rill__redis_strdup(const char *s);

/* ---- one resilient connection --------------------------------------------*/
struct rill__redis_link;
struct rill__redis_conn_ops {
  /* A new connection is open (or opening: hiredis queues commands until
   * it is): send the setup commands, then resume.  AUTH was sent first. */
  void (*connected)(void *owner);
  /* The connection was lost: what was in flight on it will get no reply.
   * A new one is on its way (connected() follows), or failed() does. */
  void (*lost)(void *owner);
  /* Given up: retries exhausted, or AUTH refused.  The conn is closed. */
  void (*failed)(void *owner, const rill_error_t *err);
};

struct rill__redis_conn {
  rill_sched_t *sched;
  const struct rill__redis_cfg *cfg;
  const char *stage; /* static: "redis_source", ... */
  const struct rill__redis_conn_ops *ops;
  void *owner;
  struct rill__redis_link *link; /* the open connection, or NULL */
  rill_sched_timer_t *retry_timer;
  rill_sched_timer_t *reply_timer;
  double slack_ms;      /* added to the reply deadline (a read's BLOCK) */
  double backoff;       /* the next backoff before jitter */
  double last_progress; /* when a reply last arrived (ms) */
  uint64_t rng;
  int failures;    /* consecutive failed attempts */
  int outstanding; /* replies awaited on the link */
  bool closed;     /* for good: nothing more happens */
  /* Why the last attempt failed, for the final error. */
  int last_code; /* RILL_ESYS, RILL_ETIMEDOUT or RILL_EREDIS */
  int last_errno;
  char last_msg[72];
};

/* Timers made, nothing opened yet.  0 or RILL_ENOMEM. */
int rill__redis_conn_init(struct rill__redis_conn *c, rill_sched_t *s,
                          const struct rill__redis_cfg *cfg, const char *stage,
                          const struct rill__redis_conn_ops *ops, void *owner);
/* Connect now (connected() runs from here) or schedule a retry. */
void rill__redis_conn_open(struct rill__redis_conn *c);
/* Commands can be sent now. */
bool rill__redis_conn_ready(const struct rill__redis_conn *c);
/* Queue a command (argv copied by hiredis).  0, or -1 when there is no
 * usable connection (connected() will come later, or failed()). */
int rill__redis_conn_send(struct rill__redis_conn *c, redisCallbackFn *fn,
                          int argc, const char **argv, const size_t *lens);
/* The first call of every reply callback: the conn the reply is for, or
 * NULL when the reply must be ignored (its link was closed or is being
 * torn down by hiredis).  Counts the reply; a reply that is not an error
 * resets the failure count. */
struct rill__redis_conn *rill__redis_conn_of_reply(redisAsyncContext *ac,
                                                   const redisReply *reply);
/* The owner found this connection unusable (a server still LOADING...):
 * close it and reconnect after a backoff, as for a lost connection
 * (lost() runs). `code` and `msg` describe it if it was the last try. */
void rill__redis_conn_drop(struct rill__redis_conn *c, int code,
                           const char *msg);
/* Close for good (idempotent): no callback runs after this. */
void rill__redis_conn_close(struct rill__redis_conn *c);
/* Close and free the timers (idempotent). */
void rill__redis_conn_free(struct rill__redis_conn *c);

/* Error helpers.  A server error reply: "stage: <server text>". */
void rill__redis_error_reply(rill_error_t *err, const char *stage,
                             const redisReply *reply);
/* A transient server error (LOADING, BUSY, TRYAGAIN, MASTERDOWN...):
 * retry on a new connection rather than fail. */
bool rill__redis_error_transient(const redisReply *reply);
/* Whether an error reply starts with `word` (NOGROUP, BUSYGROUP...). */
bool rill__redis_error_is(const redisReply *reply, const char *word);

/* ---- messages and the acker (redis_msg.c) --------------------------------*/
struct rill__redis_acker;
/* The acker's link back to its source while it is live. */
struct rill__redis_acker_owner {
  void (*failed)(void *op, const rill_error_t *err);
  void *op;
};
/* A live acker with one reference (the source's), holding a reference to
 * `recipe` (which keeps cfg, stream and group alive) until its connection
 * is closed.  NULL on ENOMEM. */
struct rill__redis_acker *
rill__redis_acker_new(rill_sched_t *s, const struct rill__redis_cfg *cfg,
                      const char *stream, const char *group, bool explicit_ack,
                      const struct rill__redis_acker_owner *owner,
                      rill_observable_t *recipe);
/* Open its connection. */
void rill__redis_acker_start(struct rill__redis_acker *a);
/* The subscription ended: nothing more is acked, what was acked before
 * is sent (the connection lingers until the replies are in, 1 s at most),
 * and the source's reference is dropped. */
void rill__redis_acker_end(struct rill__redis_acker *a);
/* Ack an id now (an entry deleted from the stream, seen in a pending list). */
void rill__redis_acker_add(struct rill__redis_acker *a, const char *id,
                           size_t len);
/* A message value from one stream entry [id, [field, value, ...]].
 * 1: *out is the value; 0: the entry has no fields (deleted: skip it);
 * RILL_EREDIS: not an entry; RILL_ENOMEM. */
int rill__redis_msg_from_entry(struct rill__redis_acker *a,
                               const redisReply *entry, bool redelivered,
                               rill_value_t *out);
/* The fields of a message value (for the sink): NULL if v is not one. */
struct rill__redis_msg;
const struct rill__redis_msg *rill__redis_msg_of(rill_value_t v);
size_t rill__redis_msg_args(const struct rill__redis_msg *m, const char **argv,
                            size_t *lens);

#endif /* RILL_IO_REDIS_CONN_H */
