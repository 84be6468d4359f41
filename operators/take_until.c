/* rill: take_until(notifier) -- emits the source's values until the
 * notifier emits its first value, then completes and cancels both (RxJS
 * takeUntil).
 *
 * Demand: passes requests to the source 1:1; asks the notifier for one
 * value.  A notifier that completes without a value changes nothing; a
 * notifier error ends the stream with that error.
 * Time: none of its own (the notifier may be timed).
 * Order: the notifier is subscribed first, as in RxJS; if it fires at once,
 * the stream completes right after on_subscribe without asking the source
 * for anything.
 * Owns: the notifier recipe (taken over) and, per subscription, the
 * notifier's subscription, which every ending of this stage cancels. */
#include <errno.h>

#include "rill-internal.h"

struct take_until_args {
  rill_observable_t *notifier;
};

struct take_until_state;

/* The stage's subscriber to the notifier, embedded in its state. */
struct notifier_link {
  struct rill__node node;
  struct rill__op *op;
  struct rill__node *up; /* the notifier's subscription */
  bool closed;
};

struct take_until_state {
  struct notifier_link link;
  bool fired;   /* the notifier emitted */
  bool started; /* on_subscribe went downstream */
  bool failed;  /* the notifier failed before on_subscribe */
  rill_error_t err;
};

/* ---- the notifier side --------------------------------------------------*/

static void link_cancel(struct notifier_link *l) {
  struct rill__node *up = l->up;
  l->up = NULL;
  l->closed = true;
  if (up != NULL)
    rill__cancel(up);
}

static void link_on_subscribe(struct rill__node *self, struct rill__node *up) {
  struct notifier_link *l = (struct notifier_link *)self;
  if (l->up != NULL || l->closed) {
    rill__cancel(up);
    return;
  }
  l->up = up;
  rill__request(up, 1);
}

static void link_on_next(void *self, rill_value_t v) {
  struct notifier_link *l = self;
  struct take_until_state *st = l->op->state;
  rill__drop(v);
  if (l->closed)
    return;
  link_cancel(l);
  st->fired = true;
  if (st->started)
    rill__op_complete(l->op); /* also cancels the source */
}

static void link_on_error(struct rill__node *self, const rill_error_t *err) {
  struct notifier_link *l = (struct notifier_link *)self;
  struct take_until_state *st = l->op->state;
  if (l->closed)
    return;
  l->closed = true;
  l->up = NULL;
  if (st->started) {
    rill__op_error(l->op, err);
    return;
  }
  st->failed = true;
  st->err = *err;
}

static void link_on_complete(struct rill__node *self) {
  struct notifier_link *l = (struct notifier_link *)self;
  l->closed = true; /* RxJS 7: completion without a value stops nothing */
  l->up = NULL;
}

static const struct rill__node_vt link_vt = {
    .name = "take_until.notifier",
    .on_subscribe = link_on_subscribe,
    .on_error = link_on_error,
    .on_complete = link_on_complete,
    /* Nothing subscribes to the link; it is freed with the stage. */
};

/* ---- the stage ----------------------------------------------------------*/

static int take_until_init(struct rill__op *op) {
  const struct take_until_args *a = op->args;
  struct take_until_state *st = op->state;
  rill__node_init(&st->link.node, &link_vt, link_on_next);
  st->link.op = op;
  rill__subscribe(a->notifier, &st->link.node);
  return 0;
}

static void take_until_on_subscribe(struct rill__op *op) {
  struct take_until_state *st = op->state;
  st->started = true;
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (st->failed)
    rill__op_error(op, &st->err);
  else if (st->fired)
    rill__op_complete(op);
}

static void take_until_on_error(struct rill__op *op, const rill_error_t *err) {
  struct take_until_state *st = op->state;
  link_cancel(&st->link);
  rill__op_error(op, err);
}

static void take_until_on_complete(struct rill__op *op) {
  struct take_until_state *st = op->state;
  link_cancel(&st->link);
  rill__op_complete(op);
}

/* Once the notifier has ended the stream (fired or failed, perhaps before
 * on_subscribe went down), nothing more is asked of the source: the stage
 * is about to deliver that ending, and a source allowed to run first could
 * complete and so lose the notifier's error. */
static void take_until_on_request(struct rill__op *op, int64_t n) {
  struct take_until_state *st = op->state;
  if (!st->fired && !st->failed)
    rill__op_request_up(op, n);
}

static void take_until_on_cancel(struct rill__op *op) {
  struct take_until_state *st = op->state;
  link_cancel(&st->link);
}

static void take_until_destroy(struct rill__op *op) {
  struct take_until_state *st = op->state;
  link_cancel(&st->link); /* a subscription that never started */
}

static void take_until_args_release(void *args) {
  struct take_until_args *a = args;
  rill_observable_free(a->notifier);
}

static const struct rill__op_ops take_until_ops = {
    .name = "take_until",
    .args_size = sizeof(struct take_until_args),
    .state_size = sizeof(struct take_until_state),
    .init = take_until_init,
    .on_subscribe = take_until_on_subscribe,
    .on_error = take_until_on_error,
    .on_complete = take_until_on_complete,
    .on_request = take_until_on_request,
    .on_cancel = take_until_on_cancel,
    .destroy = take_until_destroy,
    .args_release = take_until_args_release,
};

rill_observable_t *rill_take_until(rill_observable_t *src,
                                   rill_observable_t *notifier) {
  if (notifier == NULL) {
    rill_observable_free(src);
    rill__errno_null_source();
    return NULL;
  }
  struct take_until_args args = {.notifier = notifier};
  return rill__op_create(src, &take_until_ops, &args);
}
