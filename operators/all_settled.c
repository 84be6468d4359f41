/* SPDX-License-Identifier: MIT */
/* rill: all_settled(sources, n) -- waits for every source to end and emits
 * one array of n notification values (rill_value_notification), one per
 * source in source order, then completes (Promise.allSettled; RxJS has no
 * such operator: forkJoin over materialize()d sources comes closest):
 *   NEXT      the source completed after values: its last value;
 *   ERROR     the source failed: a copy of its error (its values, if any,
 *             are released);
 *   COMPLETE  the source completed without a value.
 * Demand: every source is asked for everything at subscription (each
 * keeps only its last value, a newer one releasing the one before).  The
 * array waits for downstream demand once every source has ended.
 * Time: none of its own; the sources are subscribed in order, at once.
 * Errors: none of its sources' -- they are data here -- except
 * RILL_ENOMEM: out of memory is not an outcome of a source's work but the
 * pipeline failing, so a source that fails with RILL_ENOMEM cancels the
 * others and the stream fails with it at once (every rill stage reports
 * ENOMEM that way; Promise.allSettled has no such case), as does
 * RILL_ENOMEM while building the array.
 * n == 0: an empty array, when requested, then complete
 * (Promise.allSettled([])).
 * Owns: the sources (with the recipe); per subscription the sources'
 * subscriptions, the last value of each and the array until it goes
 * downstream; each released exactly once on every path. */
#include <errno.h>

#include "kit/fan.h"

struct all_settled_args {
  struct rill__sources *sources;
};

/* What became of one source. */
struct settled {
  rill_value_t last;
  bool has;                     /* `last` holds a value */
  rill_notification_kind_t end; /* 0 while the source runs */
  rill_error_t err;             /* end == ERROR */
};

struct all_settled_state {
  struct rill__fan fan;
  struct settled *slot; /* n, or NULL */
  size_t remaining;     /* sources still running */
  rill_value_t result;
  bool ready;     /* `result` waits for demand */
  bool requested; /* downstream asked for something */
};

static size_t all_settled_n(const struct rill__op *op) {
  const struct all_settled_args *a = op->args;
  return a->sources->n;
}

static void all_settled_clear(struct all_settled_state *st, size_t n) {
  rill__fan_release(&st->fan);
  if (st->slot != NULL) {
    for (size_t i = 0; i < n; i++)
      if (st->slot[i].has)
        rill_value_release(st->slot[i].last);
    rill__free(st->slot);
    st->slot = NULL;
  }
  if (st->ready)
    rill_value_release(st->result);
  st->ready = false;
}

static void all_settled_try_emit(struct rill__op *op) {
  struct all_settled_state *st = op->state;
  if (!st->ready || !st->requested || rill__op_done(op))
    return;
  st->ready = false;
  rill__op_deliver(op, st->result);
  rill__op_complete(op); /* a no-op if on_next cancelled */
}

/* One notification per source, into `arr`; the values move in. */
static int all_settled_fill(rill_array_t *arr, struct settled *slot, size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct settled *s = &slot[i];
    rill_notification_kind_t kind = s->end;
    rill_value_t v = {0};
    if (kind == RILL_NOTIFICATION_COMPLETE && s->has) {
      kind = RILL_NOTIFICATION_NEXT;
      v = s->last;
      s->has = false;
    }
    rill_value_t note;
    int rc = rill_notification_new(kind, v, &s->err, &note);
    if (rc == 0)
      rc = rill_array_push(arr, note); /* cannot fail: capacity n */
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* Every source has ended: build the array. */
static void all_settled_settle(struct rill__op *op) {
  struct all_settled_state *st = op->state;
  size_t n = all_settled_n(op);
  rill__fan_release(&st->fan);
  rill_array_t *arr = rill_array_new(n);
  int rc = arr == NULL ? RILL_ENOMEM : all_settled_fill(arr, st->slot, n);
  if (rc < 0) {
    rill_array_unref(arr); /* NULL-safe; releases what was pushed */
    rill__op_fail(op, rc, "cannot allocate the notifications");
    return;
  }
  st->result = rill_value_array(arr);
  st->ready = true;
  all_settled_try_emit(op);
}

/* ---- the sources (a kit fan, src/kit/fan.h) -------------------------------*/

static void all_settled_source_next(struct rill__inner *in, rill_value_t v) {
  struct rill__op *op = in->owner;
  struct all_settled_state *st = op->state;
  struct settled *s = &st->slot[in->index];
  rill_value_t old = s->last;
  bool had = s->has;
  s->last = v;
  s->has = true;
  if (had)
    rill_value_release(old);
}

static void all_settled_source_end(struct rill__inner *in,
                                   const rill_error_t *err) {
  struct rill__op *op = in->owner;
  struct all_settled_state *st = op->state;
  struct settled *s = &st->slot[in->index];
  if (err != NULL && err->code == RILL_ENOMEM) {
    all_settled_clear(st, all_settled_n(op));
    rill__op_error(op, err);
    return;
  }
  if (err != NULL) {
    s->end = RILL_NOTIFICATION_ERROR;
    s->err = *err;
    if (s->has)
      rill_value_release(s->last);
    s->has = false;
  } else {
    s->end = RILL_NOTIFICATION_COMPLETE; /* NEXT if it has a value */
  }
  if (--st->remaining == 0)
    all_settled_settle(op);
}

static const struct rill__inner_ops all_settled_source_ops = {
    .on_next = all_settled_source_next,
    .on_end = all_settled_source_end,
};

/* ---- the stage ----------------------------------------------------------*/

static int all_settled_init(struct rill__op *op) {
  struct all_settled_state *st = op->state;
  size_t n = all_settled_n(op);
  st->remaining = n;
  if (n == 0)
    return 0;
  st->slot = rill__calloc(n, sizeof(*st->slot));
  if (st->slot == NULL)
    return RILL_ENOMEM;
  return rill__fan_init(&st->fan, n, &all_settled_source_ops, op,
                        RILL_UNBOUNDED);
}

static void all_settled_on_subscribe(struct rill__op *op) {
  const struct all_settled_args *a = op->args;
  struct all_settled_state *st = op->state;
  op->up = NULL; /* the dead node handed to a source operator */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return;
  if (a->sources->n == 0) {
    all_settled_settle(op);
    return;
  }
  rill__fan_subscribe(&st->fan, op, a->sources->items);
}

static void all_settled_on_request(struct rill__op *op, int64_t n) {
  struct all_settled_state *st = op->state;
  (void)n;
  st->requested = true;
  all_settled_try_emit(op);
}

static void all_settled_on_cancel(struct rill__op *op) {
  all_settled_clear(op->state, all_settled_n(op));
}

static void all_settled_destroy(struct rill__op *op) {
  all_settled_clear(op->state, all_settled_n(op));
}

static void all_settled_args_release(void *args) {
  struct all_settled_args *a = args;
  rill__sources_free(a->sources);
}

static const struct rill__op_ops all_settled_ops = {
    .name = "all_settled",
    .source = true,
    .args_size = sizeof(struct all_settled_args),
    .state_size = sizeof(struct all_settled_state),
    .init = all_settled_init,
    .on_subscribe = all_settled_on_subscribe,
    .on_request = all_settled_on_request,
    .on_cancel = all_settled_on_cancel,
    .destroy = all_settled_destroy,
    .args_release = all_settled_args_release,
};

rill_observable_t *rill_all_settled(rill_observable_t *const *sources,
                                    size_t n) {
  struct all_settled_args args = {.sources = rill__sources_take(sources, n)};
  if (args.sources == NULL)
    return NULL;
  return rill__op_create(NULL, &all_settled_ops, &args);
}
