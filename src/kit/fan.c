/* SPDX-License-Identifier: MIT */
/* rill kit: a fan of inner subscriptions (see fan.h). */
#include "kit/fan.h"

int rill__fan_init(struct rill__fan *f, size_t n,
                   const struct rill__inner_ops *ops, void *owner,
                   int64_t prefetch) {
  memset(f, 0, sizeof(*f));
  if (n == 0)
    return 0;
  f->in = rill__inners_new(n, ops, owner, 1);
  if (f->in == NULL)
    return RILL_ENOMEM;
  f->n = n;
  /* The inners' queues stay unused: their values go to the owner as they
   * come.  Their first request is `prefetch` (0: none). */
  for (size_t i = 0; i < n; i++)
    f->in[i]->prefetch = prefetch;
  return 0;
}

void rill__fan_subscribe(struct rill__fan *f, struct rill__op *op,
                         rill_observable_t *const *sources) {
  while (f->in != NULL && f->subscribed < f->n && f->winner == NULL &&
         !rill__op_done(op)) {
    size_t i = f->subscribed++;
    rill__inner_subscribe(f->in[i], sources[i]);
  }
}

static void fan_ask(struct rill__inner *in, int64_t n) {
  if (in->up != NULL && !in->cancelled && !in->done)
    rill__request(in->up, n);
}

void rill__fan_request(struct rill__fan *f, int64_t n) {
  rill__demand_more(&f->requested, n);
  if (f->winner != NULL) {
    fan_ask(f->winner, n);
    return;
  }
  /* A source may win (and cancel the others) inside its request. */
  size_t i;
  for (i = 0; f->in != NULL && i < f->subscribed && f->winner == NULL; i++)
    fan_ask(f->in[i], n);
  /* It may also be one the loop had not reached: it won inside a request
   * made from a callback while in[i - 1] was asked (nested, the loop above
   * again); it was asked for that one, not for this n yet. */
  if (f->winner != NULL && f->winner->index >= i)
    fan_ask(f->winner, n);
}

void rill__fan_upstream(struct rill__fan *f, struct rill__inner *in) {
  if (f->requested > 0)
    fan_ask(in, f->requested);
}

void rill__fan_win(struct rill__fan *f, struct rill__inner *in) {
  f->winner = in;
  /* The losers are marked first, as rill__inners_cancel does: a loser
   * signalling while another is cancelled is ignored by its inner. */
  for (size_t i = 0; f->in != NULL && i < f->n; i++)
    if (f->in[i] != in)
      f->in[i]->cancelled = true;
  for (size_t i = 0; f->in != NULL && i < f->n; i++)
    if (f->in[i] != in)
      rill__inner_cancel(f->in[i]);
}

void rill__fan_release(struct rill__fan *f) {
  struct rill__inner **in = f->in;
  size_t n = f->n;
  f->in = NULL;
  f->n = 0;
  f->winner = NULL;
  rill__inners_release(in, n);
}
