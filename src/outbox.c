/* SPDX-License-Identifier: MIT */
/* rill: the outbox -- rule 1.1 for operators that produce on their own
 * schedule (timers), with the overflow policy applied when a value is due
 * and nothing is requested. */
#include "kit/demand.h"
#include "kit/inner.h"

/* Emit one value.  Demand is taken before the call and given back if a
 * fused filter dropped the value, so a value offered from inside this
 * on_next (a subscriber that makes the source push) sees the demand that
 * is really left; `emitting` makes such a value wait for this call to
 * return instead of nesting (rule 1.3). */
static void outbox_emit(struct rill__op *op, struct rill__outbox *ob,
                        rill_value_t v) {
  ob->emitting = true;
  rill__demand_emit(op, &ob->demand, v);
  ob->emitting = false;
}

static void outbox_hold(struct rill__outbox *ob, rill_value_t v) {
  if (ob->has_held)
    rill_value_release(ob->held);
  ob->held = v;
  ob->has_held = true;
}

/* Deliver the held value while there is demand, then complete if closing.
 * Never nested in an emission of the same outbox: the emission on the
 * stack flushes when it returns. */
static void outbox_flush(struct rill__op *op, struct rill__outbox *ob) {
  if (ob->emitting)
    return;
  while (ob->has_held && ob->demand > 0 && !rill__op_done(op)) {
    rill_value_t v = ob->held;
    ob->has_held = false;
    outbox_emit(op, ob, v);
  }
  if (ob->closing && !ob->has_held)
    rill__op_complete(op);
}

void rill__outbox_offer(struct rill__op *op, struct rill__outbox *ob,
                        rill_value_t v) {
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (ob->demand > 0 && !ob->has_held && !ob->emitting) {
    outbox_emit(op, ob, v);
    outbox_flush(op, ob); /* what arrived during that emission */
    return;
  }
  if (ob->demand > 0) { /* requested, but an emission is on the stack */
    outbox_hold(ob, v);
    return;
  }
  switch (ob->policy) {
  case RILL_OVERFLOW_DROP:
    rill__drop(v);
    break;
  case RILL_OVERFLOW_ERROR:
    rill__drop(v);
    rill__op_fail(op, RILL_EOVERFLOW, "a value was due with no demand");
    break;
  default:
    outbox_hold(ob, v);
    break;
  }
}

void rill__outbox_request(struct rill__op *op, struct rill__outbox *ob,
                          int64_t n) {
  ob->demand = rill__demand_add(ob->demand, n);
  outbox_flush(op, ob);
}

void rill__outbox_complete(struct rill__op *op, struct rill__outbox *ob) {
  ob->closing = true;
  outbox_flush(op, ob);
}

void rill__outbox_clear(struct rill__outbox *ob) {
  if (ob->has_held)
    rill_value_release(ob->held);
  ob->has_held = false;
}

/* ---- timed operators ----------------------------------------------------*/

int rill__overflow_pick(rill_overflow_t asked, rill_overflow_t dflt) {
  if (asked == RILL_OVERFLOW_DEFAULT)
    return (int)dflt;
  if (asked < RILL_OVERFLOW_LATEST || asked > RILL_OVERFLOW_ERROR)
    return -1;
  return (int)asked;
}

int rill__timed_init(struct rill__op *op, rill_sched_t *s,
                     rill_sched_timer_cb cb, rill_overflow_t policy) {
  struct rill__timed *t = op->state;
  t->out.policy = policy;
  t->timer = rill_sched_timer_new(s, cb, op);
  return t->timer ? 0 : RILL_ENOMEM;
}

void rill__timed_drop(struct rill__timed *t) {
  if (t->has_pending)
    rill_value_release(t->pending);
  t->has_pending = false;
}

void rill__timed_flush(struct rill__op *op) {
  struct rill__timed *t = op->state;
  if (!t->has_pending)
    return;
  t->has_pending = false;
  rill__outbox_offer(op, &t->out, t->pending);
}

void rill__timed_on_request(struct rill__op *op, int64_t n) {
  struct rill__timed *t = op->state;
  rill__outbox_request(op, &t->out, n);
}

void rill__timed_on_cancel(struct rill__op *op) {
  struct rill__timed *t = op->state;
  rill_sched_timer_stop(t->timer);
  rill__timed_untrigger(t);
}

void rill__timed_destroy(struct rill__op *op) {
  struct rill__timed *t = op->state;
  rill_sched_timer_free(t->timer);
  t->timer = NULL;
  rill__timed_untrigger(t);
  rill__timed_drop(t);
  rill__outbox_clear(&t->out);
}

/* ---- notifier forms -----------------------------------------------------*/

rill_observable_t *rill__timed_select(struct rill__op *op, rill_flat_map_fn fn,
                                      void *ctx, rill_value_t v) {
  rill_observable_t *obs = NULL;
  int rc = fn(ctx, v, &obs);
  if (rc >= 0 && obs == NULL)
    rc = RILL_EINVAL; /* a function that says yes must give an observable */
  if (rc < 0) {
    rill_observable_free(obs);
    rill__op_fail_callback(op, rc, "duration function failed");
    return NULL;
  }
  if (rill__op_done(op)) { /* fn cancelled */
    rill_observable_free(obs);
    return NULL;
  }
  return obs;
}

void rill__timed_trigger(struct rill__op *op, const struct rill__inner_ops *ops,
                         int64_t prefetch, rill_observable_t *obs) {
  struct rill__timed *t = op->state;
  rill__timed_untrigger(t);
  struct rill__inner *in = rill__inner_new(ops, op, prefetch);
  if (in == NULL) {
    rill_observable_free(obs);
    rill__op_fail(op, RILL_ENOMEM, NULL);
    return;
  }
  t->trigger = in;
  rill__inner_subscribe(in, obs); /* may fire or end at once */
  rill_observable_free(obs);
}

void rill__timed_untrigger(struct rill__timed *t) {
  struct rill__inner *in = t->trigger;
  t->trigger = NULL;
  if (in != NULL)
    rill__inner_release(in);
}
