/* SPDX-License-Identifier: MIT */
/* rill: Redis Streams -- a consumer-group source and an XADD sink.
 *
 * An optional module: built when configure finds hiredis (Debian:
 * libhiredis-dev); `pkg-config --variable=redis rill` says "yes" then.
 * This header needs nothing from hiredis and is always installed: without
 * the module, rill_redis_available() is false and every other function
 * fails with ENOTSUP / RILL_ENOTSUP.  It works on a scheduler with I/O
 * (rill_sched_ev_new); on the virtual one the stream fails with
 * RILL_ENOTSUP.  hiredis' sockets are watched through the scheduler's own
 * fd watchers (as hiredis' libev adapter would, plus rill's accounting:
 * rill_sched_active, keepalive, callbacks inside rill's dispatch guard).
 *
 * THE SOURCE: one consumer in a consumer group of one stream.
 *   Demand: it reads only while downstream demand is positive, with
 *   XREADGROUP GROUP g c COUNT min(demand, batch) BLOCK block_ms STREAMS
 *   key >; with no demand no read is in flight, so unread entries wait in
 *   Redis and the consumer's pending list (PEL) holds at most what was
 *   requested and not yet acknowledged.  An empty read (BLOCK expired) is
 *   re-issued while demand remains.
 *   Order of delivery: first this consumer's own pending entries (left by
 *   an earlier run under the same consumer name), read once at
 *   subscription; then entries claimed with XAUTOCLAIM from any consumer
 *   (this one included) that held them longer than claim_idle_ms -- at
 *   subscription and every claim_idle_ms after; then new entries.
 *   Values: each entry is an owned value (RILL_KIND_OWNED) carrying its id
 *   and its field/value pairs: read them with rill_redis_msg_*().
 *   Never completes (cancel it, or use take/take_until).
 *
 * ACKNOWLEDGEMENT (at-least-once)
 *   Default (explicit_ack false): an entry is acknowledged (XACK) when its
 *   value is released for the last time WHILE ITS SUBSCRIPTION IS LIVE.
 *   So: delivered, processed, released: acked.  Dropped by a filter, a
 *   throttle, a failing map...: released, so acked (dropping is
 *   processing).  Released after the subscription ended -- cancelled, or
 *   failed -- (values still queued in an operator or a sink when the
 *   pipeline is torn down): NOT acked; the entry stays pending and is
 *   delivered again (to this consumer name at its next start, or to any
 *   consumer by XAUTOCLAIM after claim_idle_ms).  Neither are entries the
 *   server handed out that never became values (a read in flight at the
 *   cancel; the rest of a batch when downstream cancelled in its middle).
 *   A take() that ends the stream acks the values it passed: they were
 *   released before it cancelled.
 *   explicit_ack: releasing never acks; rill_redis_ack(v) does (while the
 *   subscription is live).  Either way acks are batched (one XACK per loop
 *   iteration or per 512 ids) and pipelined on a second connection (a
 *   BLOCK read occupies the first); acks made before the end are still
 *   sent after it (the connection stays open until their replies arrive,
 *   1 s at most).  An XACK lost with a connection is sent again on the
 *   next one (while the subscription is live).
 *   Processing must take less than claim_idle_ms, or the entry is claimed
 *   and delivered a second time.  A consumer must therefore be idempotent
 *   (delivery count > 1 is possible); rill_redis_msg_redelivered() tells
 *   entries that were delivered before.
 *   Two consequences of "released after the end: not acked":
 *   - cancelling from on_next: release (or rill_redis_ack) the message
 *     first, then cancel -- released after the cancel it stays pending;
 *   - a take(n) in front of an asynchronous stage (rill_redis_sink, an
 *     operator with a queue) ends the source when the n-th value passes,
 *     so values that stage still holds are released after the end and
 *     delivered again later.  End such a pipeline from its far end (cancel
 *     it once the work is done) when every entry must be acked.
 *   The acker's connection lingers after the end (see above): let ev_run()
 *   return by itself before freeing the scheduler (RILL_EBUSY until then).
 *
 * FAULTS
 *   A lost connection (EOF, reset, refused, a reply later than
 *   reply_timeout_ms, a server still LOADING) is re-opened after a backoff
 *   (retry_ms doubling up to retry_max_ms, with jitter), and the stream
 *   goes on; entries read on a lost connection but never received stay
 *   pending and come back by XAUTOCLAIM.  After `retries` consecutive
 *   failed attempts the stream fails with RILL_ESYS (sys_errno: ECONNREFUSED,
 *   ENOENT, ECONNRESET, ...) or RILL_ETIMEDOUT.  An error reply from the
 *   server (NOGROUP, WRONGTYPE, NOAUTH, WRONGPASS, OOM, ...) fails the
 *   stream with RILL_EREDIS and the server's text in the message (NOGROUP
 *   with create_group re-creates the group instead, counted as a failed
 *   attempt).  A reply of an unexpected shape is RILL_EREDIS too.
 *   hiredis 0.14 aborts the process when ITS allocations fail (rill's own
 *   report RILL_ENOMEM), and asserts on a reply that no command asked for
 *   (a server that talks out of turn).  SIGPIPE is blocked around hiredis'
 *   writes, so a closed connection is an EPIPE, never a signal.
 *
 * SERVER: Redis >= 6.2 (XAUTOCLAIM; Debian 12 has 7.0).  With
 * claim_idle_ms = INFINITY the source needs 5.0.  Each source subscription
 * opens two connections (reads, acks), each sink one.
 */
#ifndef RILL_REDIS_H
#define RILL_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../rill.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether this build of rill has the Redis connector. */
RILL_EXTERN bool rill_redis_available(void);

/* Where and how to connect; every string is copied by the constructor.
 * Zeroed fields take the defaults. */
typedef struct rill_redis_conn {
  /* "host:port" (a name is resolved by hiredis, blocking: prefer numeric
   * addresses), "[::1]:6379", or a unix socket path ("/run/redis.sock" or
   * "unix:relative/path").  NULL: "127.0.0.1:6379". */
  const char *address;
  const char *username;    /* ACL user for AUTH; NULL: AUTH password alone */
  const char *password;    /* NULL: no AUTH */
  int retries;             /* consecutive failed attempts before the stream
                              fails: 0: 8; negative: never give up */
  double retry_ms;         /* first backoff: 0: 100; then doubling */
  double retry_max_ms;     /* backoff cap: 0: 5000 */
  double reply_timeout_ms; /* a reply this late (beyond a read's BLOCK)
                              counts as a lost connection: 0: 10000;
                              INFINITY: wait for ever */
} rill_redis_conn_t;

typedef struct rill_redis_source_opts {
  int64_t batch;        /* COUNT of a read or a claim at most: 0: 128 */
  double block_ms;      /* BLOCK of a read: 0: 2000 */
  bool create_group;    /* XGROUP CREATE key group start_id MKSTREAM at each
                           connection (an existing group is kept) */
  const char *start_id; /* where a new group starts: NULL: "0" (every
                           entry of the stream); "$": only new entries */
  double claim_idle_ms; /* XAUTOCLAIM entries idle this long, at start and
                           this often: 0: 30000; INFINITY: never */
  bool explicit_ack;    /* ack only through rill_redis_ack() */
} rill_redis_source_opts_t;

/* The source (see the top of this header).  stream, group and consumer
 * must not be NULL or empty; consumer names must be unique among the live
 * consumers of a group.  conn and opts may be NULL (defaults).  NULL with
 * errno EINVAL (bad arguments, an address that cannot be parsed),
 * ENOTSUP (built without hiredis) or ENOMEM.  Each subscription opens its
 * own two connections. */
RILL_EXTERN rill_observable_t *
rill_redis_source(rill_sched_t *s, const rill_redis_conn_t *conn,
                  const char *stream, const char *group, const char *consumer,
                  const rill_redis_source_opts_t *opts);

/* ---- messages ------------------------------------------------------------
 * A message is an owned value (RILL_KIND_OWNED); retain/release it like any
 * value.  Accessors take the value, return borrowed data valid while you
 * hold it, and return NULL / 0 / false for a value that is not a message.
 * Fields and values are binary-safe (with *len) and NUL-terminated. */
/* The entry id ("1700000000000-0"); NULL for a message made by
 * rill_redis_msg_new() (no id before it is added). */
RILL_EXTERN const char *rill_redis_msg_id(rill_value_t msg);
/* The number of field/value pairs. */
RILL_EXTERN size_t rill_redis_msg_nfields(rill_value_t msg);
/* Field i / value i (i < nfields), length in *len when len is not NULL. */
RILL_EXTERN const char *rill_redis_msg_field(rill_value_t msg, size_t i,
                                             size_t *len);
RILL_EXTERN const char *rill_redis_msg_value(rill_value_t msg, size_t i,
                                             size_t *len);
/* The value of the first field named `field`, or NULL. */
RILL_EXTERN const char *rill_redis_msg_get(rill_value_t msg, const char *field,
                                           size_t *len);
/* True when the entry was delivered before: claimed with XAUTOCLAIM, or
 * read back from this consumer's own pending list at start. */
RILL_EXTERN bool rill_redis_msg_redelivered(rill_value_t msg);
/* Acknowledge now (either mode; releasing it later does not ack again).
 * 0 (queued for the next XACK, or already acked); RILL_ECANCELED when the
 * subscription has ended (not acked: it will be delivered again);
 * RILL_EINVAL for a value that is not a message from a source. */
RILL_EXTERN int rill_redis_ack(rill_value_t msg);
/* A new message with n field/value pairs, for the sink: fields are
 * NUL-terminated; value i has value_lens[i] bytes (value_lens NULL, or
 * SIZE_MAX in it: NUL-terminated).  0, RILL_EINVAL (out NULL, or a NULL
 * field or value) or RILL_ENOMEM. */
RILL_EXTERN int rill_redis_msg_new(size_t n, const char *const *fields,
                                   const char *const *values,
                                   const size_t *value_lens, rill_value_t *out);

/* ---- the sink ------------------------------------------------------------
 * XADD key [MAXLEN ~ maxlen] * field value ... for each value, in order:
 *   a message (rill_redis_msg_new, or one from a source: its fields are
 *     copied; the source's entry is acked when the sink releases it, after
 *     Redis confirmed the XADD -- a move between streams that loses
 *     nothing);
 *   a byte buffer (RILL_KIND_BUF): one field, opts->field;
 *   an integer or a double: one field, in decimal ("%.17g").
 * Anything else fails the sink with RILL_EINVAL.
 * Demand: requests `window` values up front, then one more per XADD reply,
 * so at most `window` values are held (in flight or waiting for the
 * connection) and a slow Redis slows the source.  Replies release values.
 * Faults as for the source; XADDs whose reply was lost with a connection
 * are sent again on the next one (at-least-once: an entry may be added
 * twice).  done(ctx, err) runs once when the stream has ended: err NULL
 * after every value was confirmed; else the error (an upstream error as it
 * came, a server error as RILL_EREDIS with the server's text, a value of
 * the wrong kind as RILL_EINVAL, connection failures as for the source);
 * it may run before rill_redis_sink() returns.  Like rill_to_fd() it does
 * not take over `src`, returns 0 exactly when done will run unless
 * cancelled through *out (then done does not run), and RILL_EINVAL /
 * RILL_ENOMEM / RILL_ENOTSUP (without hiredis) when it never will. */
typedef struct rill_redis_sink_opts {
  size_t window;     /* XADDs in flight at most: 0: 128 */
  int64_t maxlen;    /* > 0: MAXLEN ~ maxlen (approximate trimming: the
                        oldest entries go); 0: no trimming */
  const char *field; /* field name for a buffer or a number: NULL: "data" */
} rill_redis_sink_opts_t;
typedef void (*rill_redis_done_fn)(void *ctx, const rill_error_t *err);
RILL_EXTERN int rill_redis_sink(rill_observable_t *src, rill_sched_t *s,
                                const rill_redis_conn_t *conn,
                                const char *stream,
                                const rill_redis_sink_opts_t *opts,
                                rill_redis_done_fn done, void *ctx,
                                rill_subscription_t **out);

#ifdef __cplusplus
}
#endif
#endif /* RILL_REDIS_H */
