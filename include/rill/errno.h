/* SPDX-License-Identifier: MIT */
/* rill: reactive streams for C, on libev.  Error codes.
 *
 * Every rill error is a negative int from this one table (0 means success).
 * The same table generates the enum, rill_strerror() and rill_err_name(),
 * so every string is static and nothing allocates.  System failures use
 * RILL_ESYS and carry the errno value separately (rill_error_t.sys_errno).
 *
 * APPLICATION CODES
 *   A user callback (map, filter, a create emitter...) fails by returning a
 *   negative code, which reaches on_error unchanged as rill_error_t.code.
 *   Return a RILL_E* code when one says what happened (RILL_ENOMEM), or a
 *   code of your own at or below RILL_EAPP_BASE: rill never produces those,
 *   so they can never be mistaken for rill's.  -1 .. -999 belong to rill.
 *   Messages always carry the number (e.g. "map: callback failed (code
 *   -1003)"); rill_fail() attaches your own message to the code.
 */
#ifndef RILL_ERRNO_H
#define RILL_ERRNO_H

/* XX(name, value, message) */
#define RILL_ERRNO_MAP(XX)                                                     \
  XX(EINVAL, -1, "invalid argument")                                           \
  XX(ENOMEM, -2, "out of memory")                                              \
  XX(ECANCELED, -3, "operation cancelled")                                     \
  XX(EAGAIN, -4, "pipeline did not finish synchronously")                      \
  XX(EOVERFLOW, -5, "overflow: a bound or a buffer was exceeded")              \
  XX(ETIMEDOUT, -6, "timed out")                                               \
  XX(ESYS, -7, "system call failed (see sys_errno)")                           \
  XX(EEMPTY, -8, "sequence contains no elements")                              \
  XX(ECALLBACK, -9, "user callback failed")                                    \
  XX(EPROTO, -10, "reactive streams protocol violation")                       \
  XX(EUSER, -11, "error raised by the application")                            \
  XX(EBUSY, -12, "resource busy: objects still depend on it")                  \
  XX(ENOTSUP, -13, "operation not supported here")                             \
  XX(EEOF, -14, "end of input in the middle of an item")                       \
  XX(EBREAKER_OPEN, -15, "circuit breaker open: call not permitted")           \
  XX(ELIMIT_FULL, -16, "limiter queue full: too many waiting")                 \
  XX(EREDIS, -17, "the Redis server replied with an error")

/* Application codes are <= RILL_EAPP_BASE (see above). */
#define RILL_EAPP_BASE (-1000)

typedef enum rill_errno {
#define RILL__ERR_ENUM(name, value, msg) RILL_##name = (value),
  RILL_ERRNO_MAP(RILL__ERR_ENUM)
#undef RILL__ERR_ENUM
      RILL_OK = 0
} rill_errno_t;

#endif /* RILL_ERRNO_H */
