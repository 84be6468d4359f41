/* SPDX-License-Identifier: MIT */
/* rill: race(sources, n) -- subscribes to every source; the first to
 * signal anything (a value, an error or its completion) wins, the others
 * are cancelled at once, and the winner is mirrored (RxJS race; RxJava
 * amb; Promise.race).
 *
 * Demand (RxJava amb): before a winner, every request from downstream is
 * passed to every source subscribed so far, and a source subscribed later
 * is asked for what was requested until then; once a source wins,
 * requests go to it alone.  So the winner has been asked for exactly
 * what downstream asked for, and nothing is queued here.  A source that
 * never gets a request can still win with an error or a completion.
 * Order: the sources are subscribed in order; a source that wins during
 * its own subscribe (a synchronous one) leaves the later ones
 * unsubscribed (RxJS).  The losers' subscriptions end at the instant the
 * winner signals, before that signal goes downstream (RxJS does so for a
 * value; for a winning error or completion it unsubscribes them right
 * after delivering it, in the same instant).
 * Time: none of its own.
 * n == 1 returns the source itself (RxJS race(a) is a).  n == 0
 * completes at once, as RxJava's ambArray() does.  Deviation: RxJS race()
 * and Promise.race([]) never settle, a known trap (a caller waiting on it
 * hangs); with nothing to race, rill says so at once.
 * Owns: the sources (with the recipe) and their subscriptions; no value
 * is held (a loser's value can only arrive before it is cancelled, and
 * that value wins). */
#include <errno.h>

#include "kit/fan.h"

struct race_args {
  struct rill__sources *sources;
};

struct race_state {
  struct rill__fan fan;
};

/* ---- the sources (a kit fan, src/kit/fan.h) -------------------------------*/

/* The first signal decides; true when `in` is (now) the winner. */
static bool race_decide(struct race_state *st, struct rill__inner *in) {
  if (st->fan.winner == NULL)
    rill__fan_win(&st->fan, in);
  return st->fan.winner == in;
}

static void race_source_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct race_state *st = op->state;
  if (!race_decide(st, in)) {
    rill__drop(v);
    return;
  }
  /* A value a fused filter downstream dropped is asked for again. */
  if (!rill__op_deliver(op, v) && !rill__op_done(op) && in->up != NULL)
    rill__request(in->up, 1);
}

static void race_source_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct race_state *st = op->state;
  if (!race_decide(st, in))
    return;
  rill__fan_release(&st->fan);
  if (err != NULL)
    rill__op_error(op, err);
  else
    rill__op_complete(op);
}

static void race_source_upstream(struct rill__inner *in) {
  struct rill__op *op = in->owner;
  struct race_state *st = op->state;
  rill__fan_upstream(&st->fan, in);
}

static const struct rill__inner_ops race_source_ops = {
    .on_next = race_source_next,
    .on_end = race_source_end,
    .on_upstream = race_source_upstream,
};

/* ---- the stage ----------------------------------------------------------*/

static int race_init(struct rill__op *op) {
  const struct race_args *a = op->args;
  struct race_state *st = op->state;
  return rill__fan_init(&st->fan, a->sources->n, &race_source_ops, op, 0);
}

static void race_on_subscribe(struct rill__op *op) {
  const struct race_args *a = op->args;
  struct race_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  rill__fan_subscribe(&st->fan, op, a->sources->items);
}

static void race_on_request(struct rill__op *op, int64_t n) {
  struct race_state *st = op->state;
  rill__fan_request(&st->fan, n);
}

static void race_on_cancel(struct rill__op *op) {
  struct race_state *st = op->state;
  rill__fan_release(&st->fan);
}

static void race_destroy(struct rill__op *op) {
  struct race_state *st = op->state;
  rill__fan_release(&st->fan);
}

static void race_args_release(void *args) {
  struct race_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops race_ops = {
    .name = "race",
    .source = true,
    .args_size = sizeof(struct race_args),
    .state_size = sizeof(struct race_state),
    .init = race_init,
    .on_subscribe = race_on_subscribe,
    .on_request = race_on_request,
    .on_cancel = race_on_cancel,
    .destroy = race_destroy,
    .args_release = race_args_release,
};

rill_observable_t *rill_race(rill_observable_t *const *sources, size_t n) {
  if (n == 1 && sources != NULL) { /* race(a) is a */
    if (sources[0] == NULL)
      rill__errno_null_source();
    return sources[0];
  }
  if (n == 0)
    return rill_empty(); /* nothing can win: complete (RxJava) */
  struct race_args args = {.sources = rill__sources_take(sources, n)};
  if (args.sources == NULL)
    return NULL;
  return rill__op_create(NULL, &race_ops, &args);
}
