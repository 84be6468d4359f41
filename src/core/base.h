/* SPDX-License-Identifier: MIT */
/* rill internals: base: the macros, allocation, demand arithmetic and error
 * helpers every internal file uses. */
#ifndef RILL_CORE_BASE_H
#define RILL_CORE_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rill.h"

#if defined(__GNUC__)
#define RILL__ALWAYS_INLINE inline __attribute__((always_inline))
#define RILL__LIKELY(x) __builtin_expect(!!(x), 1)
#define RILL__UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define RILL__ALWAYS_INLINE inline
#define RILL__LIKELY(x) (x)
#define RILL__UNLIKELY(x) (x)
#endif

#define RILL__CONTAINER_OF(ptr, type, member)                                  \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- allocation ---------------------------------------------------------*/
void *rill__malloc(size_t size);
void *rill__calloc(size_t n, size_t size);
void *rill__realloc(void *ptr, size_t size);
void rill__free(void *ptr);

/* ---- demand arithmetic (rule 3.17) --------------------------------------*/
/* n > 0 (public requests of n <= 0 are rule 3.9 errors before they get
 * here); n <= 0 changes nothing rather than overflowing. */
static inline int64_t rill__demand_add(int64_t have, int64_t n) {
  if (RILL__UNLIKELY(n <= 0))
    return have;
  if (have >= RILL_UNBOUNDED - n)
    return RILL_UNBOUNDED;
  return have + n;
}
/* Saturating multiply of two non-negative numbers. */
static inline int64_t rill__demand_mul(int64_t a, int64_t b) {
  if (a != 0 && b > RILL_UNBOUNDED / a)
    return RILL_UNBOUNDED;
  return a * b;
}

/* rill's own random numbers (retry's jitter, reconnect backoff):
 * splitmix64, one 64-bit state per user, seeded by the caller. */
static inline uint64_t rill__rng_next(uint64_t *state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}
/* Uniform in [0, 1), 53 random bits. */
static inline double rill__rng_uniform(uint64_t *state) {
  return (double)(rill__rng_next(state) >> 11) * 0x1.0p-53;
}

/* The release function of an owned value's box (NULL for other kinds):
 * how a value made by rill itself (a notification) is recognised. */
void (*rill__value_box_release(rill_value_t v))(void *);

/* ---- errors -------------------------------------------------------------*/
/* errno for "a source argument was NULL": EINVAL, except that ENOMEM from
 * the constructor that returned that NULL is kept, so a chain such as
 * rill_map(rill_range(...), ...) reports why its first step failed. */
void rill__errno_null_source(void);
void rill__error_init(rill_error_t *err, int code, int sys_errno,
                      const char *stage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* A user callback of `stage` returned `code`: "stage: what (RILL_X)" or
 * "stage: what (code N)"; `what` gives way to a message the callback
 * attached with rill_fail(). */
void rill__error_callback(rill_error_t *err, const char *stage, int code,
                          const char *what);
/* RILL_ESYS with errno, in the user's terms: "stage: <fmt>: strerror". */
void rill__error_sys(rill_error_t *err, const char *stage, int sys_errno,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif /* RILL_CORE_BASE_H */
