/* SPDX-License-Identifier: MIT */
/* rill kit: demand.  `requested` is a saturating count; RILL_UNBOUNDED
 * never decreases.  Every operator that counts demand uses these three and
 * nothing else. */
#ifndef RILL_KIT_DEMAND_H
#define RILL_KIT_DEMAND_H

#include "rill-internal.h"

/* request(n): add n (> 0), saturating at RILL_UNBOUNDED (rule 3.17). */
static inline void rill__demand_more(int64_t *requested, int64_t n) {
  *requested = rill__demand_add(*requested, n);
}

/* k values went out. */
static inline void rill__demand_produced(int64_t *requested, int64_t k) {
  if (*requested != RILL_UNBOUNDED)
    *requested -= k;
}

/* Emit v from the stage `op` (rill__op_deliver: inside its emission
 * bracket) and account for it.  The value takes its unit before the
 * call, so a signal arriving from inside on_next sees the demand that is
 * really left, and gives it back if a fused filter dropped the value
 * (unless a request made meanwhile made the demand unbounded).  Returns
 * true when the value consumed demand. */
static inline bool rill__demand_emit(struct rill__op *op, int64_t *requested,
                                     rill_value_t v) {
  if (*requested != RILL_UNBOUNDED)
    (*requested)--;
  bool consumed = rill__op_deliver(op, v);
  if (!consumed && *requested != RILL_UNBOUNDED)
    (*requested)++;
  return consumed;
}

/* rill__demand_emit for a stage whose terminal signals are delivered only
 * by its own drain loop, and whose emissions are all made inside that
 * loop's bracket (zip): no terminal of the stage can be reached while the
 * value is out (a signal arriving meanwhile only counts as missed, and the
 * loop delivers the terminal after the emission returns), so the emission
 * bracket of rill__op_deliver has nothing to hold back and its call is
 * saved on the hot path. */
static RILL__ALWAYS_INLINE bool rill__demand_emit_to(struct rill__node *down,
                                                     int64_t *requested,
                                                     rill_value_t v);
static RILL__ALWAYS_INLINE bool rill__demand_emit_drained(struct rill__op *op,
                                                          int64_t *requested,
                                                          rill_value_t v) {
  return rill__demand_emit_to(op->down, requested, v);
}

/* The same for a subscription that is not a generic operator's node (a
 * group of group_by, which delivers its terminal from its own drain loop
 * only): emit v to `down` and account for it. */
static RILL__ALWAYS_INLINE bool rill__demand_emit_to(struct rill__node *down,
                                                     int64_t *requested,
                                                     rill_value_t v) {
  if (*requested != RILL_UNBOUNDED)
    (*requested)--;
  bool consumed = rill__emit(down, v);
  if (!consumed && *requested != RILL_UNBOUNDED)
    (*requested)++;
  return consumed;
}

#endif
