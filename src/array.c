/* SPDX-License-Identifier: MIT */
/* rill: the engine of sources that emit a fixed array of values
 * (from_array, just, start_with's prefix): a pull source whose recipe owns
 * the values and hands every subscription its own references.  Also the
 * variadic-values helper those constructors share. */
#include <errno.h>

#include "rill-internal.h"

struct array_obs {
  struct rill__pull_obs base;
  size_t n;
  rill_value_t values[];
};

struct array_state {
  size_t next;
};

static bool array_exhausted(struct rill__pull *p) {
  const struct array_obs *o = (const struct array_obs *)p->obs;
  const struct array_state *st = p->state;
  return st->next == o->n;
}

static int array_pull(struct rill__pull *p, rill_value_t *out) {
  const struct array_obs *o = (const struct array_obs *)p->obs;
  struct array_state *st = p->state;
  if (st->next == o->n)
    return 0;
  *out = rill_value_retain(o->values[st->next++]);
  return 1;
}

static void array_recipe_release(rill_observable_t *obs) {
  struct array_obs *o = (struct array_obs *)obs;
  for (size_t i = 0; i < o->n; i++)
    rill_value_release(o->values[i]);
}

static const struct rill__pull_ops array_ops = {
    .name = "from_array",
    .state_size = sizeof(struct array_state),
    .pull = array_pull,
    .exhausted = array_exhausted,
    .recipe_release = array_recipe_release,
};

static void release_all(const rill_value_t *values, size_t n) {
  for (size_t i = 0; values != NULL && i < n; i++)
    rill_value_release(values[i]);
}

rill_observable_t *rill__from_array_named(const rill_value_t *values, size_t n,
                                          const char *name) {
  if (values == NULL && n != 0) {
    errno = EINVAL;
    return NULL;
  }
  struct array_obs *o = NULL;
  if (n <= (SIZE_MAX - sizeof(*o)) / sizeof(rill_value_t))
    o = rill__pull_obs_alloc(sizeof(*o) + n * sizeof(rill_value_t), &array_ops);
  if (o == NULL) {
    release_all(values, n);
    errno = ENOMEM;
    return NULL;
  }
  o->base.base.name = name;
  o->n = n;
  if (n != 0)
    memcpy(o->values, values, n * sizeof(rill_value_t));
  return &o->base.base;
}

rill_value_t *rill__values_from_va(size_t n, va_list ap) {
  rill_value_t *values = rill__calloc(n ? n : 1, sizeof(rill_value_t));
  for (size_t i = 0; i < n; i++) {
    rill_value_t v = va_arg(ap, rill_value_t);
    if (values != NULL)
      values[i] = v;
    else
      rill_value_release(v);
  }
  return values;
}
