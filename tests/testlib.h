/* SPDX-License-Identifier: MIT */
/* rill tests: shared helpers.
 *
 * - rec: a recording subscriber (the TCK's "ManualSubscriber") that checks
 *   the protocol on every signal: on_subscribe first and once (1.9), never
 *   more on_next than requested (1.1), nothing after a terminal (1.7), no
 *   on_next nested inside another on_next (1.3/3.3).
 * - owned values with a counting release hook, to prove every owned value
 *   is released exactly once on every path.
 * - a counting allocator that can fail the k-th allocation (ENOMEM tests).
 * - a scale knob: RILL_TEST_SCALE (default 1.0) multiplies the element
 *   counts of the big tests, so the valgrind pass stays fast. */
#ifndef RILL_TESTLIB_H
#define RILL_TESTLIB_H

#include <check.h>
#include <rill.h>

/* Time-operator options with an overflow policy (rill_time_opts_t). */
#define OVF(policy) (&(rill_time_opts_t){.overflow = (policy)})

enum rec_terminal { REC_NONE = 0, REC_COMPLETE, REC_ERROR };

typedef struct rec {
  rill_subscription_t *s;
  int subscribes;
  int64_t requested; /* saturating total */
  int64_t nexts;
  enum rec_terminal terminal;
  int terminals;
  rill_error_t err;
  rill_values_t values; /* stored when `store` */
  bool store;
  /* behaviour knobs */
  int64_t request_on_subscribe; /* 0: none */
  int64_t request_in_next;      /* 0: none; request this from every on_next */
  int64_t cancel_at;            /* cancel inside the k-th on_next (1-based) */
  int cancel_times;             /* how many cancels then (default 1) */
  bool cancel_on_subscribe;
  bool cancelled; /* we cancelled: the borrowed handle is off limits */
  /* protocol observations */
  int violations;
  char violation[160];
  int depth;
  int max_depth;
  uintptr_t stack_lo, stack_hi; /* address span of on_next frames */
} rec_t;

void rec_init(rec_t *r);
/* Subscribe raw; returns rill_observable_subscribe's result. */
int rec_subscribe(rec_t *r, rill_observable_t *obs);
/* Request/cancel through the borrowed handle; no-ops once the stream has
 * terminated or was cancelled (rule 2.4: the handle may be freed). */
void rec_request(rec_t *r, int64_t n);
void rec_cancel(rec_t *r);
void rec_clear(rec_t *r); /* release stored values */
int64_t rec_int(const rec_t *r, size_t i);

#define ck_assert_rec_ok(r)                                                    \
  ck_assert_msg((r)->violations == 0, "protocol violation: %s", (r)->violation)

/* ---- owned values with a counting release ------------------------------*/
extern long tl_owned_made;
extern long tl_owned_released;
rill_value_t tl_owned(int64_t x);
int64_t tl_owned_int(rill_value_t v); /* the int inside an owned value */
void tl_owned_reset(void);
#define ck_assert_owned_balanced()                                             \
  ck_assert_msg(tl_owned_made == tl_owned_released,                            \
                "owned values: %ld made, %ld released", tl_owned_made,         \
                tl_owned_released)

/* ---- counting allocator --------------------------------------------------*/
extern long tl_allocs; /* successful allocations */
extern long tl_live;   /* live blocks */
extern long
    tl_fail_at; /* fail the allocation with this index (0-based), -1 never */
extern long tl_alloc_index; /* allocations attempted */
void tl_alloc_install(void);
void tl_alloc_uninstall(void);

/* ---- scale ---------------------------------------------------------------*/
int64_t tl_scaled(int64_t n); /* n * RILL_TEST_SCALE, at least 1 */
/* max(tl_scaled(n), floor): for sizes that must stay above a kernel
 * buffer (a pipe's, a socket's) whatever the scale. */
int64_t tl_scaled_min(int64_t n, int64_t floor);

/* Common callbacks for the tests. */
int tl_double(void *ctx, rill_value_t in, rill_value_t *out);
int tl_is_even(void *ctx, rill_value_t v);
int tl_sum(void *ctx, rill_value_t acc, rill_value_t v, rill_value_t *out);
int tl_fail_map(void *ctx, rill_value_t in, rill_value_t *out);
int tl_fail_pred_never(void *ctx, rill_value_t v); /* matches nothing */

#endif
