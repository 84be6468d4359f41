/* SPDX-License-Identifier: MIT */
/* rill example: writing your own operator with the public API only
 * (docs/writing-operators.md walks through it).
 *
 * pairwise(src) emits [previous, current] for every value after the first
 * (RxJS pairwise).  It is built on rill_create_with():
 *   - start() subscribes to the source; end() cancels it.  rill calls them
 *     in pairs, once per subscription, and never end() inside one of our
 *     own emitter calls;
 *   - on_request forwards downstream demand upstream, so backpressure holds
 *     end to end (one pair costs one source value, the first costs two);
 *   - per-subscription state lives in rill_emitter_set_data();
 *   - ctx_free releases the source reference with the observable.
 * Run: ./pairwise  (prints [1,2] [2,3] [3,4] [4,5] done, then checks
 * that a take(2) downstream cancels the source and end() ran once). */
#include <stdio.h>
#include <stdlib.h>

#include <rill.h>

struct pairwise_sub {           /* one per subscription */
  rill_emitter_t *e;            /* where pairs go */
  rill_subscription_t *up;      /* our subscription to the source */
  rill_value_t prev;
  bool has_prev;
};

/* ---- the subscriber we attach to the source ------------------------------*/

static void up_subscribe(void *ctx, rill_subscription_t *s) {
  struct pairwise_sub *p = ctx;
  p->up = s; /* borrowed: valid until the source ends or we cancel */
}

static void up_next(void *ctx, rill_value_t v) {
  struct pairwise_sub *p = ctx;
  if (!p->has_prev) { /* the first value makes no pair: ask for one more */
    p->prev = v;
    p->has_prev = true;
    rill_subscription_request(p->up, 1);
    return;
  }
  rill_array_t *pair = rill_array_new(2);
  if (pair == NULL) {
    rill_value_release(v);
    rill_emitter_error(p->e, RILL_ENOMEM, "pairwise: no memory for a pair");
    return;
  }
  rill_array_push(pair, p->prev);            /* the array takes them over */
  rill_array_push(pair, rill_value_retain(v));
  p->prev = v;
  rill_emitter_next(p->e, rill_value_array(pair));
}

static void up_error(void *ctx, const rill_error_t *err) {
  struct pairwise_sub *p = ctx;
  p->up = NULL;
  rill_emitter_error(p->e, err->code, err->message); /* kept verbatim */
}

static void up_complete(void *ctx) {
  struct pairwise_sub *p = ctx;
  p->up = NULL;
  rill_emitter_complete(p->e);
}

static const rill_subscriber_t up_sub = {
    .on_subscribe = up_subscribe,
    .on_next = up_next,
    .on_error = up_error,
    .on_complete = up_complete,
};

/* ---- the operator: start / on_request / end ------------------------------*/

static int ends; /* for the check in main() */

static void pairwise_start(void *ctx, rill_emitter_t *e) {
  rill_observable_t *src = ctx;
  struct pairwise_sub *p = calloc(1, sizeof(*p));
  if (p == NULL) {
    rill_emitter_error(e, RILL_ENOMEM, "pairwise: no memory");
    return;
  }
  p->e = e;
  rill_emitter_set_data(e, p);
  /* Nothing is requested yet: on_request forwards downstream demand. */
  if (rill_observable_subscribe(src, &up_sub, p, NULL) != 0)
    rill_emitter_error(e, RILL_ENOMEM, "pairwise: cannot subscribe");
}

static void pairwise_request(void *ctx, rill_emitter_t *e, int64_t n) {
  (void)ctx;
  struct pairwise_sub *p = rill_emitter_data(e);
  if (p != NULL && p->up != NULL)
    rill_subscription_request(p->up, n);
}

static void pairwise_end(void *ctx, rill_emitter_t *e) {
  (void)ctx;
  struct pairwise_sub *p = rill_emitter_data(e);
  ends++;
  if (p == NULL)
    return;
  if (p->up != NULL) /* downstream cancelled: stop the source */
    rill_subscription_cancel(p->up);
  if (p->has_prev)
    rill_value_release(p->prev);
  free(p);
}

static void release_source(void *ctx) {
  rill_observable_free(ctx);
}

/* Takes over src, like every rill operator. */
static rill_observable_t *pairwise(rill_observable_t *src) {
  if (src == NULL)
    return NULL;
  rill_create_opts_t opts = {.on_request = pairwise_request,
                             .ctx_free = release_source};
  return rill_create_with(pairwise_start, pairwise_end, src, &opts);
}

/* ---- using it --------------------------------------------------------------*/

static void print_pair(void *ctx, rill_value_t v) {
  (void)ctx;
  rill_array_t *a = v.as.array;
  printf("[%lld,%lld] ", (long long)rill_array_at(a, 0).as.i,
         (long long)rill_array_at(a, 1).as.i);
  rill_value_release(v);
}

static void print_done(void *ctx) {
  (void)ctx;
  printf("done\n");
}

int main(void) {
  rill_observable_t *p = pairwise(rill_range(1, 5));
  rill_subscriber_t sub = {.on_next = print_pair, .on_complete = print_done};
  /* 1 pair at a time: demand flows through on_request to the range. */
  int rc = rill_observable_consume(p, &sub, NULL, 1, NULL);
  int ends_after_complete = ends;
  /* take(2) cancels after two pairs: end() cancels the source. */
  rill_observable_t *t = rill_take(rill_observable_ref(p), 2);
  rill_values_t got = {0};
  rc |= rill_observable_collect(t, &got, NULL);
  printf("take(2): %zu pairs\n", got.len);
  int ok = rc == 0 && ends_after_complete == 1 && ends == 2 && got.len == 2;
  rill_values_clear(&got);
  rill_observable_free(t);
  rill_observable_free(p);
  printf("pairwise: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
