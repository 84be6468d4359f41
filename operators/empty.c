/* SPDX-License-Identifier: MIT */
/* rill: empty() -- completes right after on_subscribe.
 *
 * Demand: needs none (rule 1.5).  Time: synchronous.  Owns: nothing; a
 * subscription needs no memory (it is handed the shared dead node). */
#include <errno.h>

#include "rill-internal.h"

static void empty_subscribe(rill_observable_t *self, struct rill__node *down) {
  (void)self;
  rill__stateless_complete(down);
}

static const struct rill__obs_vt empty_vt = {
    .name = "empty",
    .subscribe = empty_subscribe,
};

rill_observable_t *rill_empty(void) {
  rill_observable_t *o = rill__obs_alloc(sizeof(*o), &empty_vt);
  if (o == NULL)
    errno = ENOMEM;
  return o;
}
