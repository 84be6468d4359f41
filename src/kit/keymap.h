/* SPDX-License-Identifier: MIT */
/* rill kit: a map from values to pointers (group_by's groups by key).
 *
 * Keys are rill_value_t compared with rill_value_equal() (same kind and
 * same scalar; buffers by bytes; arrays element-wise; owned values and
 * pointers by address), hashed consistently with it by rill__value_hash():
 * ints, bools and pointers by value, doubles by value with -0.0 == 0.0,
 * buffers by their bytes, arrays by their elements, owned values by their
 * user pointer.  A NaN key equals nothing, not even itself
 * (rill_value_equal's ==), so it is never found.
 *
 * Open addressing with linear probing, at most half full, deletion by
 * backward shift (no tombstones, so lookups never slow down with churn).
 * Storage grows by doubling and never shrinks while the map lives: once
 * grown, no operation allocates.  The map does not own its keys: a key
 * stays valid while its entry is in the map (the item usually owns it). */
#ifndef RILL_KIT_KEYMAP_H
#define RILL_KIT_KEYMAP_H

#include "rill-internal.h"

struct rill__keymap_slot {
  rill_value_t key; /* borrowed from the item */
  uint64_t hash;
  void *item; /* NULL: an empty slot */
};

struct rill__keymap {
  struct rill__keymap_slot *slots; /* never NULL: an empty map has one
                                      empty slot, so lookups need no test */
  uint32_t cap;                    /* a power of two */
  uint32_t shift; /* 64 - log2(cap): a key's home slot is its hash's top
                     bits */
  uint32_t len;
};

/* An empty map (no allocation). */
void rill__keymap_init(struct rill__keymap *m);

/* The murmur3 finalizer: every input bit moves every output bit. */
static inline uint64_t rill__hash_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

uint64_t rill__value_hash_slow(rill_value_t v);
/* A hash consistent with rill_value_equal.  Ints: Fibonacci hashing (one
 * multiply by an odd constant: a bijection, so two ints have the same hash
 * only if they are equal; the top bits, which the map uses, are well
 * spread). */
static inline uint64_t rill__value_hash(rill_value_t v) {
  if (RILL__LIKELY(v.kind == RILL_KIND_INT))
    return (uint64_t)v.as.i * 0x9e3779b97f4a7c15ULL;
  return rill__value_hash_slow(v);
}

/* The item stored under `key` (whose hash is `hash`), or NULL. */
static inline void *rill__keymap_get(const struct rill__keymap *m,
                                     rill_value_t key, uint64_t hash) {
  uint32_t mask = m->cap - 1;
  for (uint32_t i = (uint32_t)(hash >> m->shift);; i = (i + 1) & mask) {
    const struct rill__keymap_slot *s = &m->slots[i];
    if (s->item == NULL)
      return NULL;
    /* Ints with the same hash are equal (see above). */
    if (s->hash == hash && s->key.kind == key.kind &&
        (key.kind == RILL_KIND_INT || rill_value_equal(s->key, key)))
      return s->item;
  }
}

/* Store item (not NULL) under a key that is not in the map yet: 0, or
 * RILL_ENOMEM when storage must grow and cannot (the map is unchanged). */
int rill__keymap_put(struct rill__keymap *m, rill_value_t key, uint64_t hash,
                     void *item);
/* Remove the entry of `key`; returns its item, or NULL if there was none. */
void *rill__keymap_remove(struct rill__keymap *m, rill_value_t key,
                          uint64_t hash);
/* Forget every entry and free the storage (the map stays usable). */
void rill__keymap_clear(struct rill__keymap *m);

#endif
