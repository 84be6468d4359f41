/* SPDX-License-Identifier: MIT */
/* rill kit: a bounded FIFO of values.  Storage grows by doubling up to the
 * bound (so an operator that never queues never allocates); push takes the
 * value over, pop hands it over, clear releases what is left, once. */
#ifndef RILL_KIT_RING_H
#define RILL_KIT_RING_H

#include "rill-internal.h"

struct rill__ring {
  rill_value_t *buf;
  uint32_t head; /* index of the oldest value */
  uint32_t len;
  uint32_t cap; /* a power of two, or 0 */
  uint32_t max; /* the bound on len */
};

/* An empty ring holding at most `max` (>= 1) values. */
void rill__ring_init(struct rill__ring *r, uint32_t max);
/* Take v over: 0; RILL_EOVERFLOW when `max` values are held, RILL_ENOMEM
 * when storage cannot grow (v is released in both cases). */
int rill__ring_push(struct rill__ring *r, rill_value_t v);
/* Grow storage for `n` values now, so that as many pushes cannot fail
 * with ENOMEM (n <= max).  0 or RILL_ENOMEM. */
int rill__ring_reserve(struct rill__ring *r, uint32_t n);
/* Release every value held and the storage; the ring stays usable. */
void rill__ring_clear(struct rill__ring *r);

static inline bool rill__ring_empty(const struct rill__ring *r) {
  return r->len == 0;
}
static inline uint32_t rill__ring_len(const struct rill__ring *r) {
  return r->len;
}
/* The i-th oldest value, borrowed (i < len). */
static inline rill_value_t rill__ring_at(const struct rill__ring *r,
                                         uint32_t i) {
  return r->buf[(r->head + i) & (r->cap - 1)];
}
/* The oldest value, borrowed (the ring must not be empty). */
static inline rill_value_t rill__ring_peek(const struct rill__ring *r) {
  return r->buf[r->head];
}
/* The oldest value, handed over (the ring must not be empty). */
static inline rill_value_t rill__ring_pop(struct rill__ring *r) {
  rill_value_t v = r->buf[r->head];
  r->head = (r->head + 1) & (r->cap - 1);
  r->len--;
  return v;
}

#endif
