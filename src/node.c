/* SPDX-License-Identifier: MIT */
/* rill: node lifetime (deferred release) and observable reference counts.
 *
 * Frees that happen while a dispatch is on the stack are deferred (redis's
 * processTimeEvents, nng's reap): rill__retire() links the node on a
 * thread-local list and the outermost rill__leave() releases the list. */
#include "rill-internal.h"

_Thread_local unsigned rill__depth RILL__TLS_FAST;
_Thread_local struct rill__node *rill__reap_head RILL__TLS_FAST;

static void reap_all(void) {
  while (rill__reap_head != NULL) {
    struct rill__node *n = rill__reap_head;
    rill__reap_head = n->reap_next;
    n->reap_next = NULL;
    n->vt->free(n);
  }
}

void rill__reap(void) {
  /* Releasing may run user release hooks that call back into rill. */
  rill__depth++;
  reap_all();
  rill__depth--;
}

void rill__retire(struct rill__node *n) {
  if (n->flags & RILL__RETIRED)
    return;
  n->flags |= RILL__RETIRED | RILL__DONE;
  n->reap_next = rill__reap_head;
  rill__reap_head = n;
  if (rill__depth == 0)
    reap_all();
}

/* ---- the dead node ------------------------------------------------------*/

static void dead_request(struct rill__node *self, int64_t n) {
  (void)self;
  (void)n;
}
static void dead_cancel(struct rill__node *self) {
  (void)self;
}

static const struct rill__node_vt dead_vt = {
    .name = "dead",
    .request = dead_request,
    .cancel = dead_cancel,
};

struct rill__node rill__dead_node = {
    .vt = &dead_vt,
    .flags = RILL__DONE | RILL__RETIRED,
};

void rill__reject(struct rill__node *down, int code, const char *stage) {
  rill_error_t err;
  rill__error_init(&err, code, 0, stage, "%s: %s", stage, rill_strerror(code));
  down->vt->on_subscribe(down, &rill__dead_node);
  down->vt->on_error(down, &err);
}

/* ---- observables --------------------------------------------------------*/

void *rill__obs_alloc(size_t size, const struct rill__obs_vt *vt) {
  rill_observable_t *obs = rill__calloc(1, size);
  if (obs == NULL)
    return NULL;
  obs->refs = 1;
  obs->magic = RILL__OBS_MAGIC;
  obs->vt = vt;
  obs->name = vt->name;
  return obs;
}

rill_observable_t *rill_observable_ref(rill_observable_t *obs) {
  if (obs != NULL)
    obs->refs++;
  return obs;
}

void rill_observable_free(rill_observable_t *obs) {
  if (obs == NULL || --obs->refs != 0)
    return;
  obs->magic = 0;
  if (obs->vt->destroy != NULL)
    obs->vt->destroy(obs);
  rill__free(obs);
}

const char *rill_observable_name(const rill_observable_t *obs) {
  return obs ? obs->name : "(null)";
}
