/* SPDX-License-Identifier: MIT */
/* rill kit: the bounded FIFO of values (see ring.h). */
#include "kit/ring.h"

void rill__ring_init(struct rill__ring *r, uint32_t max) {
  memset(r, 0, sizeof(*r));
  r->max = max ? max : 1;
}

static int ring_grow(struct rill__ring *r, uint32_t need) {
  uint32_t cap = r->cap ? r->cap : 4;
  while (cap < need)
    cap *= 2;
  if (cap == r->cap)
    return 0;
  rill_value_t *buf = rill__malloc((size_t)cap * sizeof(*buf));
  if (buf == NULL)
    return RILL_ENOMEM;
  for (uint32_t i = 0; i < r->len; i++)
    buf[i] = r->buf[(r->head + i) & (r->cap - 1)];
  rill__free(r->buf);
  r->buf = buf;
  r->head = 0;
  r->cap = cap;
  return 0;
}

int rill__ring_reserve(struct rill__ring *r, uint32_t n) {
  if (n > r->max)
    n = r->max;
  return n <= r->cap ? 0 : ring_grow(r, n);
}

int rill__ring_push(struct rill__ring *r, rill_value_t v) {
  if (r->len == r->max) {
    rill_value_release(v);
    return RILL_EOVERFLOW;
  }
  if (r->len == r->cap && ring_grow(r, r->len + 1) < 0) {
    rill_value_release(v);
    return RILL_ENOMEM;
  }
  r->buf[(r->head + r->len) & (r->cap - 1)] = v;
  r->len++;
  return 0;
}

void rill__ring_clear(struct rill__ring *r) {
  while (r->len > 0)
    rill_value_release(rill__ring_pop(r));
  rill__free(r->buf);
  r->buf = NULL;
  r->cap = 0;
  r->head = 0;
}
