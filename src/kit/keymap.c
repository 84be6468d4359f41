/* SPDX-License-Identifier: MIT */
/* rill kit: a map from values to pointers (see keymap.h). */
#include "kit/keymap.h"

/* FNV-1a over bytes, then mixed. */
static uint64_t hash_bytes(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return rill__hash_mix(h ^ n);
}

uint64_t rill__value_hash_slow(rill_value_t v) {
  uint64_t kind = (uint64_t)v.kind << 56;
  switch (v.kind) {
  case RILL_KIND_INT:
    return rill__hash_mix((uint64_t)v.as.i);
  case RILL_KIND_DOUBLE: {
    double d = v.as.d == 0 ? 0.0 : v.as.d; /* -0.0 == 0.0 */
    uint64_t bits;
    memcpy(&bits, &d, sizeof(bits));
    return rill__hash_mix(bits ^ kind);
  }
  case RILL_KIND_BOOL:
    return rill__hash_mix((uint64_t)v.as.b ^ kind);
  case RILL_KIND_PTR:
    return rill__hash_mix((uint64_t)(uintptr_t)v.as.ptr ^ kind);
  case RILL_KIND_BUF:
    if (v.as.buf == NULL)
      return rill__hash_mix(kind);
    return hash_bytes(rill_buf_data(v.as.buf), rill_buf_len(v.as.buf));
  case RILL_KIND_ARRAY: {
    uint64_t h = rill__hash_mix(kind);
    size_t n = v.as.array == NULL ? 0 : rill_array_len(v.as.array);
    for (size_t i = 0; i < n; i++)
      h = rill__hash_mix(h ^ rill__value_hash(rill_array_at(v.as.array, i)));
    return h;
  }
  case RILL_KIND_OWNED: /* equal when the user pointers are */
    return rill__hash_mix((uint64_t)(uintptr_t)rill_value_owned_ptr(v) ^ kind);
  case RILL_KIND_NONE:
    break;
  }
  return rill__hash_mix(kind);
}

/* The storage of every empty map: two empty slots (shift 63 picks one of
 * them), never written. */
static struct rill__keymap_slot keymap_none[2];

void rill__keymap_init(struct rill__keymap *m) {
  m->slots = keymap_none;
  m->cap = 2;
  m->shift = 63;
  m->len = 0;
}

static void slot_place(struct rill__keymap_slot *slots, uint32_t cap,
                       uint32_t shift, const struct rill__keymap_slot *s) {
  uint32_t i = (uint32_t)(s->hash >> shift);
  while (slots[i].item != NULL)
    i = (i + 1) & (cap - 1);
  slots[i] = *s;
}

static int keymap_grow(struct rill__keymap *m) {
  uint32_t cap = m->slots == keymap_none ? 8 : m->cap * 2;
  uint32_t shift = m->slots == keymap_none ? 61 : m->shift - 1;
  if (cap > UINT32_MAX / 2)
    return RILL_ENOMEM;
  struct rill__keymap_slot *slots = rill__calloc(cap, sizeof(*slots));
  if (slots == NULL)
    return RILL_ENOMEM;
  for (uint32_t i = 0; i < m->cap; i++)
    if (m->slots[i].item != NULL)
      slot_place(slots, cap, shift, &m->slots[i]);
  if (m->slots != keymap_none)
    rill__free(m->slots);
  m->slots = slots;
  m->cap = cap;
  m->shift = shift;
  return 0;
}

int rill__keymap_put(struct rill__keymap *m, rill_value_t key, uint64_t hash,
                     void *item) {
  if ((m->slots == keymap_none || (m->len + 1) * 2 > m->cap) &&
      keymap_grow(m) < 0)
    return RILL_ENOMEM;
  struct rill__keymap_slot s = {.key = key, .hash = hash, .item = item};
  slot_place(m->slots, m->cap, m->shift, &s);
  m->len++;
  return 0;
}

/* Is `k` (an entry's home slot) cyclically in (i, j]?  Then the entry at
 * j may not move back to the hole at i. */
static bool home_between(uint32_t k, uint32_t i, uint32_t j) {
  return i <= j ? (i < k && k <= j) : (i < k || k <= j);
}

/* Where the entry of `key` is, or an empty slot. */
static uint32_t keymap_find(const struct rill__keymap *m, rill_value_t key,
                            uint64_t hash) {
  uint32_t mask = m->cap - 1;
  uint32_t i = (uint32_t)(hash >> m->shift);
  for (const struct rill__keymap_slot *s = &m->slots[i]; s->item != NULL;
       s = &m->slots[i = (i + 1) & mask])
    if (s->hash == hash && rill_value_equal(s->key, key))
      break;
  return i;
}

void *rill__keymap_remove(struct rill__keymap *m, rill_value_t key,
                          uint64_t hash) {
  uint32_t mask = m->cap - 1;
  uint32_t i = keymap_find(m, key, hash);
  void *item = m->slots[i].item;
  if (item == NULL)
    return NULL;
  /* Backward shift: pull later entries of the run into the hole. */
  for (uint32_t j = (i + 1) & mask; m->slots[j].item != NULL;
       j = (j + 1) & mask) {
    if (home_between((uint32_t)(m->slots[j].hash >> m->shift), i, j))
      continue;
    m->slots[i] = m->slots[j];
    i = j;
  }
  m->slots[i].item = NULL;
  m->len--;
  return item;
}

void rill__keymap_clear(struct rill__keymap *m) {
  if (m->slots != keymap_none)
    rill__free(m->slots);
  rill__keymap_init(m);
}
