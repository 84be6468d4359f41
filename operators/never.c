/* SPDX-License-Identifier: MIT */
/* rill: never() -- signals nothing after on_subscribe.
 *
 * Demand: ignores it.  Time: none.  Owns: nothing; the subscription is the
 * shared dead node, so cancel is free and nothing can leak. */
#include <errno.h>

#include "rill-internal.h"

static void never_subscribe(rill_observable_t *self, struct rill__node *down) {
  (void)self;
  down->vt->on_subscribe(down, &rill__dead_node);
}

static const struct rill__obs_vt never_vt = {
    .name = "never",
    .subscribe = never_subscribe,
};

rill_observable_t *rill_never(void) {
  rill_observable_t *o = rill__obs_alloc(sizeof(*o), &never_vt);
  if (o == NULL)
    errno = ENOMEM;
  return o;
}
