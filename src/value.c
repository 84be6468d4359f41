/* SPDX-License-Identifier: MIT */
/* rill: values.  Scalars live in the 16-byte rill_value_t; buffers, arrays
 * and boxed user pointers are refcounted heap objects released exactly once,
 * when their last reference goes. */
#include "rill-internal.h"

struct rill_buf_s {
  uint32_t refs;
  size_t len;
  size_t cap;
  unsigned char data[];
};

struct rill_array_s {
  uint32_t refs;
  size_t len;
  size_t cap;
  rill_value_t *items;
};

struct rill_box_s {
  uint32_t refs;
  void *ptr;
  void (*release)(void *ptr);
};

/* ---- buffers ------------------------------------------------------------*/

rill_buf_t *rill_buf_new(size_t capacity) {
  if (capacity > SIZE_MAX - sizeof(rill_buf_t))
    return NULL;
  rill_buf_t *b = rill__malloc(sizeof(*b) + capacity);
  if (b == NULL)
    return NULL;
  b->refs = 1;
  b->len = 0;
  b->cap = capacity;
  return b;
}

rill_buf_t *rill_buf_from(const void *data, size_t len) {
  if (data == NULL && len != 0)
    return NULL;
  rill_buf_t *b = rill_buf_new(len);
  if (b == NULL)
    return NULL;
  if (len != 0)
    memcpy(b->data, data, len);
  b->len = len;
  return b;
}

unsigned char *rill_buf_data(rill_buf_t *b) {
  return b ? b->data : NULL;
}
size_t rill_buf_len(const rill_buf_t *b) {
  return b ? b->len : 0;
}
size_t rill_buf_capacity(const rill_buf_t *b) {
  return b ? b->cap : 0;
}

int rill_buf_set_len(rill_buf_t *b, size_t len) {
  if (b == NULL || len > b->cap)
    return RILL_EINVAL;
  b->len = len;
  return 0;
}

rill_buf_t *rill_buf_ref(rill_buf_t *b) {
  if (b != NULL)
    b->refs++;
  return b;
}

void rill_buf_unref(rill_buf_t *b) {
  if (b != NULL && --b->refs == 0)
    rill__free(b);
}

/* ---- arrays -------------------------------------------------------------*/

rill_array_t *rill_array_new(size_t capacity) {
  rill_array_t *a = rill__malloc(sizeof(*a));
  if (a == NULL)
    return NULL;
  a->refs = 1;
  a->len = 0;
  a->cap = capacity;
  a->items = NULL;
  if (capacity != 0) {
    a->items = rill__calloc(capacity, sizeof(rill_value_t));
    if (a->items == NULL) {
      rill__free(a);
      return NULL;
    }
  }
  return a;
}

int rill_array_push(rill_array_t *a, rill_value_t v) {
  if (a == NULL) {
    rill_value_release(v);
    return RILL_EINVAL;
  }
  if (a->len == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 4;
    rill_value_t *items = NULL;
    if (cap <= SIZE_MAX / sizeof(rill_value_t))
      items = rill__realloc(a->items, cap * sizeof(rill_value_t));
    if (items == NULL) {
      rill_value_release(v);
      return RILL_ENOMEM;
    }
    a->items = items;
    a->cap = cap;
  }
  a->items[a->len++] = v;
  return 0;
}

size_t rill_array_len(const rill_array_t *a) {
  return a ? a->len : 0;
}

rill_value_t rill_array_at(const rill_array_t *a, size_t i) {
  if (a == NULL || i >= a->len) {
    rill_value_t none = {RILL_KIND_NONE, 0, {0}};
    return none;
  }
  return a->items[i];
}

rill_array_t *rill_array_ref(rill_array_t *a) {
  if (a != NULL)
    a->refs++;
  return a;
}

void rill_array_unref(rill_array_t *a) {
  if (a == NULL || --a->refs != 0)
    return;
  for (size_t i = 0; i < a->len; i++)
    rill_value_release(a->items[i]);
  rill__free(a->items);
  rill__free(a);
}

/* ---- boxed user pointers ------------------------------------------------*/

int rill_value_owned(void *ptr, void (*release)(void *ptr), rill_value_t *out) {
  if (out == NULL || release == NULL) {
    if (release != NULL)
      release(ptr);
    return RILL_EINVAL;
  }
  rill_box_t *box = rill__malloc(sizeof(*box));
  if (box == NULL) {
    release(ptr);
    out->kind = RILL_KIND_NONE;
    out->reserved = 0;
    out->as.ptr = NULL;
    return RILL_ENOMEM;
  }
  box->refs = 1;
  box->ptr = ptr;
  box->release = release;
  out->kind = RILL_KIND_OWNED;
  out->reserved = 0;
  out->as.box = box;
  return 0;
}

void *rill_value_owned_ptr(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? v.as.box->ptr : NULL;
}

void (*rill__value_box_release(rill_value_t v))(void *) {
  return v.kind == RILL_KIND_OWNED && v.as.box != NULL ? v.as.box->release
                                                       : NULL;
}

static void box_unref(rill_box_t *box) {
  if (--box->refs != 0)
    return;
  box->release(box->ptr);
  rill__free(box);
}

/* ---- generic ------------------------------------------------------------*/

void rill__value_release_slow(rill_value_t v) {
  switch (v.kind) {
  case RILL_KIND_BUF:
    rill_buf_unref(v.as.buf);
    break;
  case RILL_KIND_ARRAY:
    rill_array_unref(v.as.array);
    break;
  case RILL_KIND_OWNED:
    if (v.as.box != NULL)
      box_unref(v.as.box);
    break;
  default:
    break;
  }
}

void rill__value_retain_slow(rill_value_t v) {
  switch (v.kind) {
  case RILL_KIND_BUF:
    rill_buf_ref(v.as.buf);
    break;
  case RILL_KIND_ARRAY:
    rill_array_ref(v.as.array);
    break;
  case RILL_KIND_OWNED:
    if (v.as.box != NULL)
      v.as.box->refs++;
    break;
  default:
    break;
  }
}

bool rill_value_equal(rill_value_t a, rill_value_t b) {
  if (a.kind != b.kind)
    return false;
  switch (a.kind) {
  case RILL_KIND_NONE:
    return true;
  case RILL_KIND_INT:
    return a.as.i == b.as.i;
  case RILL_KIND_DOUBLE:
    return a.as.d == b.as.d;
  case RILL_KIND_BOOL:
    return a.as.b == b.as.b;
  case RILL_KIND_PTR:
    return a.as.ptr == b.as.ptr;
  case RILL_KIND_BUF:
    if (a.as.buf == b.as.buf)
      return true;
    if (a.as.buf == NULL || b.as.buf == NULL || a.as.buf->len != b.as.buf->len)
      return false;
    return memcmp(a.as.buf->data, b.as.buf->data, a.as.buf->len) == 0;
  case RILL_KIND_ARRAY:
    if (a.as.array == b.as.array)
      return true;
    if (a.as.array == NULL || b.as.array == NULL ||
        a.as.array->len != b.as.array->len)
      return false;
    for (size_t i = 0; i < a.as.array->len; i++)
      if (!rill_value_equal(a.as.array->items[i], b.as.array->items[i]))
        return false;
    return true;
  case RILL_KIND_OWNED:
    return a.as.box == b.as.box ||
           (a.as.box && b.as.box && a.as.box->ptr == b.as.box->ptr);
  }
  return false;
}
