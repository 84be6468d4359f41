/* SPDX-License-Identifier: MIT */
/* rill: error(code, message) -- signals on_error right after on_subscribe.
 *
 * Demand: needs none (a failed publisher, rule 1.9 / TCK spec104).
 * Time: synchronous.  Owns: a copy of the message, inside the recipe. */
#include <errno.h>
#include <stdio.h>

#include "rill-internal.h"

struct error_obs {
  rill_observable_t base;
  rill_error_t err;
};

static void error_subscribe(rill_observable_t *self, struct rill__node *down) {
  struct error_obs *o = (struct error_obs *)self;
  rill_error_t err = o->err; /* the callee may scribble on nothing, but copy */
  down->vt->on_subscribe(down, &rill__dead_node);
  down->vt->on_error(down, &err);
}

static const struct rill__obs_vt error_vt = {
    .name = "error",
    .subscribe = error_subscribe,
};

rill_observable_t *rill_error(int code, const char *message) {
  if (code >= 0) {
    errno = EINVAL;
    return NULL;
  }
  struct error_obs *o = rill__obs_alloc(sizeof(*o), &error_vt);
  if (o == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  o->err.code = code;
  o->err.sys_errno = 0;
  o->err.stage = "error";
  if (message != NULL)
    snprintf(o->err.message, sizeof(o->err.message), "%s", message);
  else
    rill__error_callback(&o->err, "error", code, rill_strerror(code));
  return &o->base;
}
