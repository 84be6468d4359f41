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

/* Emit v to `down` and account for it.  The value takes its unit before
 * the call, so a signal arriving from inside on_next sees the demand that
 * is really left, and gives it back if a fused filter dropped the value.
 * Returns true when the value consumed demand. */
static inline bool rill__demand_emit(int64_t *requested,
                                     struct rill__node *down, rill_value_t v) {
  bool counted = *requested != RILL_UNBOUNDED;
  if (counted)
    (*requested)--;
  bool consumed = rill__emit(down, v);
  if (!consumed && counted)
    (*requested)++;
  return consumed;
}

#endif
