/* SPDX-License-Identifier: MIT */
/* rill internals: the fold shared by scan and reduce (src/accumulate.c). */
#ifndef RILL_CORE_ACCUMULATE_H
#define RILL_CORE_ACCUMULATE_H

#include "core/op.h"

/* ---- the fold shared by scan and reduce (src/accumulate.c) --------------*/
struct rill__acc_args {
  rill_reduce_fn fn;
  void *ctx;
  rill_value_t seed;
  bool has_seed;
};
struct rill__acc {
  rill_value_t value;
  bool has;
};
/* Start from the seed (a new reference), if any. */
void rill__acc_start(struct rill__acc *acc, const struct rill__acc_args *a);
/* Fold in v (taken over); returns 0 or the accumulator's negative code. */
int rill__acc_add(struct rill__acc *acc, const struct rill__acc_args *a,
                  rill_value_t v);
void rill__acc_clear(struct rill__acc *acc);
void rill__acc_args_release(void *args);
/* Build the operator with rill__acc_args as its arguments (takes over src
 * and *seed, also on failure). */
rill_observable_t *rill__acc_create(rill_observable_t *src,
                                    const struct rill__op_ops *ops,
                                    rill_reduce_fn fn, void *ctx,
                                    const rill_value_t *seed);

#endif /* RILL_CORE_ACCUMULATE_H */
