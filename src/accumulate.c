/* SPDX-License-Identifier: MIT */
/* rill: the accumulator shared by scan and reduce (the same fold, emitted
 * at every step or once at the end). */
#include <errno.h>

#include "rill-internal.h"

void rill__acc_start(struct rill__acc *acc, const struct rill__acc_args *a) {
  acc->has = a->has_seed;
  if (a->has_seed)
    acc->value = rill_value_retain(a->seed);
}

int rill__acc_add(struct rill__acc *acc, const struct rill__acc_args *a,
                  rill_value_t v) {
  if (!acc->has) {
    acc->value = v; /* no seed: the first value is the accumulator */
    acc->has = true;
    return 0;
  }
  rill_value_t out;
  int rc = a->fn(a->ctx, acc->value, v, &out);
  rill_value_release(v);
  if (rc < 0)
    return rc;
  rill_value_release(acc->value);
  acc->value = out;
  return 0;
}

void rill__acc_clear(struct rill__acc *acc) {
  if (acc->has)
    rill_value_release(acc->value);
  acc->has = false;
}

void rill__acc_args_release(void *args) {
  struct rill__acc_args *a = args;
  if (a->has_seed)
    rill_value_release(a->seed);
}

rill_observable_t *rill__acc_create(rill_observable_t *src,
                                    const struct rill__op_ops *ops,
                                    rill_reduce_fn fn, void *ctx,
                                    const rill_value_t *seed) {
  struct rill__acc_args args = {.fn = fn, .ctx = ctx};
  if (seed != NULL) {
    args.seed = *seed;
    args.has_seed = true;
  }
  if (fn == NULL) {
    rill__acc_args_release(&args);
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  return rill__op_create(src, ops, &args);
}
