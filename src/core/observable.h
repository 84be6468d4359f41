/* SPDX-License-Identifier: MIT */
/* rill internals: observables (recipes): the header every observable starts
 * with. */
#ifndef RILL_CORE_OBSERVABLE_H
#define RILL_CORE_OBSERVABLE_H

#include "core/node.h"

/* ---- observables --------------------------------------------------------*/
struct rill__obs_vt {
  const char *name;
  /* Build this stage for `down` and, eventually, call down->on_subscribe
   * exactly once (with rill__dead_node + on_error on failure). */
  void (*subscribe)(rill_observable_t *self, struct rill__node *down);
  void (*destroy)(rill_observable_t *self);
};

struct rill_observable_s {
  uint32_t refs;
  uint32_t magic;
  const struct rill__obs_vt *vt;
  const char *name; /* stage name, static */
};

#define RILL__OBS_MAGIC 0x72696c6cu /* "rill" */

/* Allocate an observable of `size` bytes (header included), refs = 1. */
void *rill__obs_alloc(size_t size, const struct rill__obs_vt *vt);
static inline void rill__subscribe(rill_observable_t *obs,
                                   struct rill__node *down) {
  obs->vt->subscribe(obs, down);
}

#endif /* RILL_CORE_OBSERVABLE_H */
