/* SPDX-License-Identifier: MIT */
/* rill: with_latest_from(src, others, n, fn, ctx) -- each value of src
 * combines with the latest value of every other source, src's value first
 * (RxJS withLatestFrom).
 *
 * Demand: downstream's requests go to src 1:1; a src value that arrives
 * before every other source has a value is released unused, and src is
 * asked for one more in its place.  The others are kit inners asked for
 * everything (RILL_UNBOUNDED): they only refresh a latest-wins slot each,
 * so they never wait for downstream.
 * Order: on_subscribe goes downstream first, then the others are
 * subscribed, in order, then src (RxJS), so synchronous others (just,
 * from_array) have their values before src's first one, and a cancel from
 * downstream (from inside an other's callback too) stops them at once.
 * Requests made before src is subscribed are handed to it then.
 * Time: none of its own.
 * Completion: when src completes (the others are cancelled).  An other
 * completing changes nothing (its last value stays the latest; one that
 * completes without a value makes every src value be dropped, as in
 * RxJS).
 * Errors: an error of src or of any other, or fn returning a negative
 * code, cancels everything at once and is delivered.  An other that fails
 * while it is subscribed fails the stream before src is subscribed, so
 * src is asked for nothing.
 * n == 0: no other to wait for, every src value is combined alone (RxJava;
 * RxJS's withLatestFrom() with no input never emits: a deviation).
 * Owns: the other sources (with the recipe); per subscription, their
 * inners and latest values (released when replaced and when the stream
 * ends).  fn borrows src's value and the latest values, in that order;
 * src's value is released after it.  With fn NULL each output is an array
 * of src's value (moved in) and a reference to each latest value. */
#include <errno.h>

#include "kit/kit.h"

struct wlf_args {
  struct rill__sources *others;
  rill_combine_fn fn;
  void *ctx;
};

struct wlf_slot {
  rill_value_t v; /* the latest value, when `has` */
  bool has;
};

struct wlf_state {
  struct rill__inner **in; /* one per other source */
  struct wlf_slot *slot;   /* one per other source */
  rill_value_t *row;       /* src's value, then the latest values */
  size_t missing;          /* others without a value yet */
  int64_t held;            /* requested before src was subscribed */
};

static size_t wlf_n(const struct rill__op *op) {
  const struct wlf_args *a = op->args;
  return a->others->n;
}

/* Cancel the others and let go of their latest values. */
static void wlf_release_all(struct rill__op *op) {
  struct wlf_state *st = op->state;
  size_t n = wlf_n(op);
  rill__inners_cancel(st->in, n);
  for (size_t i = 0; st->slot != NULL && i < n; i++) {
    if (st->slot[i].has)
      rill_value_release(st->slot[i].v);
    st->slot[i].has = false;
  }
}

/* ---- the other sources (kit inners, asked for everything) --------------*/

static void wlf_other_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct wlf_state *st = op->state;
  struct wlf_slot *s = &st->slot[in->index];
  if (s->has)
    rill_value_release(s->v);
  else
    st->missing--;
  s->v = v;
  s->has = true;
}

static void wlf_other_end(struct rill__inner *in, const rill_error_t *err) {
  struct rill__op *op = in->owner;
  if (err == NULL || rill__op_done(op))
    return; /* completion changes nothing */
  wlf_release_all(op);
  rill__op_error(op, err); /* cancels src (if it is there yet) */
}

/* Asked for everything: the queue stays unused. */
static void wlf_other_upstream(struct rill__inner *in) {
  in->prefetch = RILL_UNBOUNDED;
}

static const struct rill__inner_ops wlf_other_ops = {
    .on_next = wlf_other_next,
    .on_end = wlf_other_end,
    .on_upstream = wlf_other_upstream,
};

/* ---- the stage ----------------------------------------------------------*/

static int wlf_init(struct rill__op *op) {
  const struct wlf_args *a = op->args;
  struct wlf_state *st = op->state;
  size_t n = a->others->n;
  st->missing = n;
  st->in = rill__inners_new(n, &wlf_other_ops, op, 1);
  st->slot = rill__calloc(n ? n : 1, sizeof(*st->slot));
  st->row = rill__calloc(n + 1, sizeof(*st->row));
  if (st->in == NULL || st->slot == NULL || st->row == NULL)
    return RILL_ENOMEM;
  /* on_subscribe first, so that downstream can cancel while the others
   * run (nothing fails after this); then the others (RxJS); src is
   * subscribed when this returns. */
  op->down->vt->on_subscribe(op->down, &op->node);
  for (size_t i = 0; i < n && !rill__op_done(op); i++)
    rill__inner_subscribe(st->in[i], a->others->items[i]);
  return 0;
}

/* src is there (on_subscribe went down from wlf_init): the demand so far. */
static void wlf_on_subscribe(struct rill__op *op) {
  struct wlf_state *st = op->state;
  int64_t n = st->held;
  st->held = 0;
  if (n > 0)
    rill__op_request_up(op, n);
}

/* src's value v (owned) with the latest values; false: fn failed or
 * allocation failed, the error filled in. */
static int wlf_combine(struct rill__op *op, rill_value_t v, rill_value_t *out,
                       rill_error_t *err) {
  const struct wlf_args *a = op->args;
  struct wlf_state *st = op->state;
  size_t n = a->others->n;
  if (a->fn == NULL) {
    rill_array_t *arr = rill_array_new(n + 1);
    if (arr != NULL && rill_array_push(arr, v) == 0)
      for (size_t i = 0; i < n; i++)
        (void)rill_array_push(arr, rill_value_retain(st->slot[i].v));
    else if (arr == NULL)
      rill_value_release(v);
    if (arr == NULL || rill_array_len(arr) != n + 1) {
      if (arr != NULL)
        rill_array_unref(arr);
      rill__error_init(err, RILL_ENOMEM, 0, op->ops->name,
                       "%s: cannot allocate an array", op->ops->name);
      return RILL_ENOMEM;
    }
    *out = rill_value_array(arr);
    return 0;
  }
  /* References of their own for fn (see combine_latest.c). */
  st->row[0] = v;
  for (size_t i = 0; i < n; i++)
    st->row[i + 1] = rill_value_retain(st->slot[i].v);
  int rc = a->fn(a->ctx, st->row, n + 1, out);
  for (size_t i = 0; i <= n; i++)
    rill_value_release(st->row[i]);
  if (rc < 0)
    rill__error_callback(err, op->ops->name, rc, "function failed");
  return rc < 0 ? rc : 0;
}

static void wlf_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct wlf_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  if (st->missing > 0) {
    rill__drop(v); /* not every other has a value yet */
    rill__op_request_up(op, 1);
    return;
  }
  rill_value_t out;
  rill_error_t err;
  if (wlf_combine(op, v, &out, &err) < 0) {
    wlf_release_all(op);
    rill__op_error(op, &err);
    return;
  }
  rill__op_emit(op, out); /* released if fn cancelled */
}

static void wlf_on_error(struct rill__op *op, const rill_error_t *err) {
  wlf_release_all(op);
  rill__op_error(op, err);
}

static void wlf_on_complete(struct rill__op *op) {
  wlf_release_all(op);
  rill__op_complete(op);
}

/* Before src is subscribed (the others run) the demand is held for it. */
static void wlf_on_request(struct rill__op *op, int64_t n) {
  struct wlf_state *st = op->state;
  if (op->up == NULL)
    rill__demand_more(&st->held, n);
  else
    rill__op_request_up(op, n);
}

static void wlf_on_cancel(struct rill__op *op) {
  wlf_release_all(op);
}

static void wlf_destroy(struct rill__op *op) {
  struct wlf_state *st = op->state;
  wlf_release_all(op);
  rill__inners_release(st->in, wlf_n(op));
  rill__free(st->slot);
  rill__free(st->row);
}

static void wlf_args_release(void *args) {
  struct wlf_args *a = args;
  rill__sources_free(a->others);
}

static const struct rill__op_ops wlf_ops = {
    .name = "with_latest_from",
    .args_size = sizeof(struct wlf_args),
    .state_size = sizeof(struct wlf_state),
    .init = wlf_init,
    .on_subscribe = wlf_on_subscribe,
    .on_next = wlf_on_next,
    .on_error = wlf_on_error,
    .on_complete = wlf_on_complete,
    .on_request = wlf_on_request,
    .on_cancel = wlf_on_cancel,
    .destroy = wlf_destroy,
    .args_release = wlf_args_release,
};

rill_observable_t *rill_with_latest_from(rill_observable_t *src,
                                         rill_observable_t *const *others,
                                         size_t n, rill_combine_fn fn,
                                         void *ctx) {
  struct rill__sources *s = rill__sources_take(others, n);
  if (s == NULL) {
    int e = errno;
    rill_observable_free(src);
    errno = e;
    return NULL;
  }
  if (src == NULL) {
    rill__sources_free(s);
    rill__errno_null_source();
    return NULL;
  }
  struct wlf_args args = {.others = s, .fn = fn, .ctx = ctx};
  return rill__op_create(src, &wlf_ops, &args);
}
