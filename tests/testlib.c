/* SPDX-License-Identifier: MIT */
/* rill tests: shared helpers (see testlib.h). */
#include "testlib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void rec_violate(rec_t *r, const char *what) {
  if (r->violations++ == 0)
    snprintf(r->violation, sizeof(r->violation), "%s", what);
}

static void rec_on_subscribe(void *ctx, rill_subscription_t *s) {
  rec_t *r = ctx;
  if (r->subscribes++ > 0)
    rec_violate(r, "second on_subscribe (1.9)");
  r->s = s;
  if (r->cancel_on_subscribe) {
    rill_subscription_cancel(s);
    rill_subscription_cancel(s);
    r->cancelled = true;
    return;
  }
  if (r->request_on_subscribe > 0)
    rec_request(r, r->request_on_subscribe);
}

static void rec_on_next(void *ctx, rill_value_t v) {
  rec_t *r = ctx;
  int here;
  uintptr_t at = (uintptr_t)&here;
  if (r->stack_lo == 0 || at < r->stack_lo)
    r->stack_lo = at;
  if (at > r->stack_hi)
    r->stack_hi = at;
  if (r->subscribes == 0)
    rec_violate(r, "on_next before on_subscribe (1.9)");
  if (r->terminal != REC_NONE)
    rec_violate(r, "on_next after terminal (1.7)");
  if (r->nexts >= r->requested)
    rec_violate(r, "on_next beyond demand (1.1)");
  if (r->depth > 0)
    rec_violate(r, "on_next nested in on_next (1.3/3.3)");
  r->depth++;
  if (r->depth > r->max_depth)
    r->max_depth = r->depth;
  r->nexts++;
  if (r->store) {
    if (r->values.len == r->values.cap) {
      size_t cap = r->values.cap ? r->values.cap * 2 : 64;
      r->values.items = realloc(r->values.items, cap * sizeof(rill_value_t));
      r->values.cap = cap;
    }
    r->values.items[r->values.len++] = v;
  } else {
    rill_value_release(v);
  }
  if (r->cancel_at > 0 && r->nexts == r->cancel_at) {
    int times = r->cancel_times > 0 ? r->cancel_times : 1;
    for (int i = 0; i < times; i++)
      rill_subscription_cancel(r->s);
    rill_subscription_request(r->s, 1); /* no-op after cancel (3.6) */
    rill_subscription_request(r->s, 0); /* no 3.9 error once cancelled */
    r->cancelled = true;
  } else if (r->request_in_next > 0) {
    rec_request(r, r->request_in_next);
  }
  r->depth--;
}

static void rec_terminal(rec_t *r, enum rec_terminal t) {
  if (r->subscribes == 0)
    rec_violate(r, "terminal before on_subscribe (1.9)");
  if (r->terminal != REC_NONE)
    rec_violate(r, "second terminal signal (1.7)");
  if (r->depth > 0)
    rec_violate(r, "terminal signal nested in on_next (1.3)");
  r->terminal = t;
  r->terminals++;
  if (r->cancelled)
    rec_violate(r, "terminal signal after cancel");
}

static void rec_on_error(void *ctx, const rill_error_t *err) {
  rec_t *r = ctx;
  rec_terminal(r, REC_ERROR);
  r->err = *err;
}

static void rec_on_complete(void *ctx) {
  rec_terminal(ctx, REC_COMPLETE);
}

static const rill_subscriber_t rec_sub = {
    .on_subscribe = rec_on_subscribe,
    .on_next = rec_on_next,
    .on_error = rec_on_error,
    .on_complete = rec_on_complete,
};

void rec_init(rec_t *r) {
  memset(r, 0, sizeof(*r));
  r->store = true;
}

int rec_subscribe(rec_t *r, rill_observable_t *obs) {
  return rill_observable_subscribe(obs, &rec_sub, r, NULL);
}

/* Rule 2.4: once terminated or cancelled, a subscriber never touches its
 * borrowed handle again (the library may have freed it). */
static bool rec_handle_usable(const rec_t *r) {
  return r->s != NULL && r->terminal == REC_NONE && !r->cancelled;
}

void rec_request(rec_t *r, int64_t n) {
  if (!rec_handle_usable(r))
    return;
  if (n > 0) {
    if (r->requested > INT64_MAX - n)
      r->requested = INT64_MAX;
    else
      r->requested += n;
  }
  rill_subscription_request(r->s, n);
}

void rec_cancel(rec_t *r) {
  if (!rec_handle_usable(r))
    return;
  rill_subscription_cancel(r->s);
  r->cancelled = true;
}

void rec_clear(rec_t *r) {
  for (size_t i = 0; i < r->values.len; i++)
    rill_value_release(r->values.items[i]);
  free(r->values.items);
  memset(&r->values, 0, sizeof(r->values));
}

int64_t rec_int(const rec_t *r, size_t i) {
  ck_assert_uint_lt(i, r->values.len);
  rill_value_t v = r->values.items[i];
  if (v.kind == RILL_KIND_OWNED)
    return tl_owned_int(v);
  ck_assert_int_eq(v.kind, RILL_KIND_INT);
  return v.as.i;
}

/* ---- owned values
 * ----------------------------------------------------------*/

long tl_owned_made;
long tl_owned_released;

static void tl_owned_release(void *p) {
  tl_owned_released++;
  free(p);
}

rill_value_t tl_owned(int64_t x) {
  int64_t *p = malloc(sizeof(*p));
  *p = x;
  rill_value_t v;
  tl_owned_made++;
  if (rill_value_owned(p, tl_owned_release, &v) < 0)
    v.kind = RILL_KIND_NONE; /* released already by rill_value_owned */
  return v;
}

int64_t tl_owned_int(rill_value_t v) {
  int64_t *p = rill_value_owned_ptr(v);
  return p ? *p : INT64_MIN;
}

void tl_owned_reset(void) {
  tl_owned_made = 0;
  tl_owned_released = 0;
}

/* ---- counting allocator
 * ----------------------------------------------------*/

long tl_allocs;
long tl_live;
long tl_fail_at = -1;
long tl_alloc_index;

static void *tl_malloc(size_t n) {
  if (tl_alloc_index++ == tl_fail_at)
    return NULL;
  void *p = malloc(n);
  if (p != NULL) {
    tl_allocs++;
    tl_live++;
  }
  return p;
}

static void *tl_realloc(void *old, size_t n) {
  if (tl_alloc_index++ == tl_fail_at)
    return NULL;
  void *p = realloc(old, n);
  if (p != NULL && old == NULL) {
    tl_allocs++;
    tl_live++;
  } else if (p != NULL) {
    tl_allocs++;
  }
  return p;
}

static void tl_free(void *p) {
  if (p != NULL)
    tl_live--;
  free(p);
}

void tl_alloc_install(void) {
  tl_allocs = 0;
  tl_live = 0;
  tl_alloc_index = 0;
  tl_fail_at = -1;
  rill_allocator_set(tl_malloc, tl_realloc, tl_free);
}

void tl_alloc_uninstall(void) {
  rill_allocator_set(NULL, NULL, NULL);
}

/* ---- scale
 * -----------------------------------------------------------------*/

int64_t tl_scaled(int64_t n) {
  const char *s = getenv("RILL_TEST_SCALE");
  double k = s ? atof(s) : 1.0;
  if (k <= 0)
    k = 1.0;
  int64_t m = (int64_t)((double)n * k);
  return m < 1 ? 1 : m;
}

int64_t tl_scaled_min(int64_t n, int64_t floor) {
  int64_t m = tl_scaled(n);
  return m < floor ? floor : m;
}

/* ---- common callbacks
 * ------------------------------------------------------*/

int tl_double(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  if (in.kind == RILL_KIND_OWNED) {
    *out = tl_owned(tl_owned_int(in) * 2);
    return 0;
  }
  *out = rill_value_int(in.as.i * 2);
  return 0;
}

int tl_is_even(void *ctx, rill_value_t v) {
  (void)ctx;
  int64_t x = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  return x % 2 == 0;
}

int tl_sum(void *ctx, rill_value_t acc, rill_value_t v, rill_value_t *out) {
  (void)ctx;
  int64_t a = acc.kind == RILL_KIND_OWNED ? tl_owned_int(acc) : acc.as.i;
  int64_t b = v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
  if (acc.kind == RILL_KIND_OWNED || v.kind == RILL_KIND_OWNED)
    *out = tl_owned(a + b);
  else
    *out = rill_value_int(a + b);
  return 0;
}

int tl_fail_map(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  (void)in;
  (void)out;
  return RILL_ECALLBACK;
}

int tl_fail_pred_never(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  return 0;
}
