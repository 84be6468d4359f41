/* SPDX-License-Identifier: MIT */
/* rill: the Redis connector's functions in a build without hiredis
 * (configure did not find it): each one says so -- NULL with errno
 * ENOTSUP, RILL_ENOTSUP, or nothing -- so that a program written for the
 * connector still links against any build of rill. */
#include <errno.h>

#include "rill-internal.h"
#include "rill/redis.h"

bool rill_redis_available(void) {
  return false;
}

rill_observable_t *rill_redis_source(rill_sched_t *s,
                                     const rill_redis_conn_t *conn,
                                     const char *stream, const char *group,
                                     const char *consumer,
                                     const rill_redis_source_opts_t *opts) {
  (void)s;
  (void)conn;
  (void)stream;
  (void)group;
  (void)consumer;
  (void)opts;
  errno = ENOTSUP;
  return NULL;
}

const char *rill_redis_msg_id(rill_value_t msg) {
  (void)msg;
  return NULL;
}

size_t rill_redis_msg_nfields(rill_value_t msg) {
  (void)msg;
  return 0;
}

const char *rill_redis_msg_field(rill_value_t msg, size_t i, size_t *len) {
  (void)msg;
  (void)i;
  if (len != NULL)
    *len = 0;
  return NULL;
}

const char *rill_redis_msg_value(rill_value_t msg, size_t i, size_t *len) {
  (void)msg;
  (void)i;
  if (len != NULL)
    *len = 0;
  return NULL;
}

const char *rill_redis_msg_get(rill_value_t msg, const char *field,
                               size_t *len) {
  (void)msg;
  (void)field;
  if (len != NULL)
    *len = 0;
  return NULL;
}

bool rill_redis_msg_redelivered(rill_value_t msg) {
  (void)msg;
  return false;
}

int rill_redis_ack(rill_value_t msg) {
  (void)msg;
  return RILL_ENOTSUP;
}

int rill_redis_msg_new(size_t n, const char *const *fields,
                       const char *const *values, const size_t *value_lens,
                       rill_value_t *out) {
  (void)n;
  (void)fields;
  (void)values;
  (void)value_lens;
  (void)out;
  return RILL_ENOTSUP;
}

int rill_redis_sink(rill_observable_t *src, rill_sched_t *s,
                    const rill_redis_conn_t *conn, const char *stream,
                    const rill_redis_sink_opts_t *opts, rill_redis_done_fn done,
                    void *ctx, rill_subscription_t **out) {
  (void)src;
  (void)s;
  (void)conn;
  (void)stream;
  (void)opts;
  (void)done;
  (void)ctx;
  if (out != NULL)
    *out = NULL;
  return RILL_ENOTSUP;
}
