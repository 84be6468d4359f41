/* SPDX-License-Identifier: MIT */
/* rill kit: the arbiter (see arbiter.h). */
#include "kit/arbiter.h"

void rill__arbiter_request(struct rill__op *op, struct rill__arbiter *a,
                           int64_t n) {
  rill__demand_more(&a->requested, n);
  rill__op_request_up(op, n);
}

void rill__arbiter_on_subscribe(struct rill__op *op, struct rill__arbiter *a) {
  if (a->requested > 0)
    rill__op_request_up(op, a->requested);
}

void rill__arbiter_emit(struct rill__op *op, struct rill__arbiter *a,
                        rill_value_t v) {
  if (RILL__UNLIKELY(rill__op_done(op))) {
    rill__drop(v);
    return;
  }
  if (!rill__demand_emit(op, &a->requested, v))
    rill__op_request_up(op, 1); /* a fused filter dropped it */
}

void rill__arbiter_switch(struct rill__op *op, struct rill__arbiter *a,
                          rill_observable_t *next) {
  struct rill__node *up = op->up;
  op->up = NULL;
  if (up != NULL)
    rill__cancel(up);
  a->next = next;
  if (a->switching)
    return; /* the loop on the stack subscribes it */
  a->switching = true;
  while (a->next != NULL && !rill__op_done(op)) {
    rill_observable_t *obs = a->next;
    a->next = NULL;
    rill__subscribe(obs, &op->node);
  }
  a->next = NULL;
  a->switching = false;
}
