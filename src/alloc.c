/* SPDX-License-Identifier: MIT */
/* rill: the allocator hook (libuv's uv_replace_allocator, for tests that
 * count allocations and inject ENOMEM at every site in turn). */
#include <stdlib.h>

#include "rill-internal.h"

static rill_malloc_fn alloc_malloc = malloc;
static rill_realloc_fn alloc_realloc = realloc;
static rill_free_fn alloc_free = free;

int rill_allocator_set(rill_malloc_fn m, rill_realloc_fn r, rill_free_fn f) {
  if (m == NULL || r == NULL || f == NULL) {
    alloc_malloc = malloc;
    alloc_realloc = realloc;
    alloc_free = free;
    return 0;
  }
  alloc_malloc = m;
  alloc_realloc = r;
  alloc_free = f;
  return 0;
}

void *rill__malloc(size_t size) {
  return alloc_malloc(size ? size : 1);
}

void *rill__calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size)
    return NULL;
  void *p = rill__malloc(n * size);
  if (p != NULL)
    memset(p, 0, n * size);
  return p;
}

void *rill__realloc(void *ptr, size_t size) {
  return alloc_realloc(ptr, size ? size : 1);
}

void rill__free(void *ptr) {
  if (ptr != NULL)
    alloc_free(ptr);
}
