/* SPDX-License-Identifier: MIT */
/* rill: reactive streams for C, on libev.
 *
 * One umbrella header.  Sections, top to bottom: visibility, errors,
 * allocator, values (scalars, byte buffers, arrays, owned pointers),
 * observables and subscriptions (the Reactive Streams protocol), sinks,
 * sources, operators.
 *
 * THE MODEL IN ONE PARAGRAPH
 *   An observable is a reusable recipe (cold: every subscription runs it
 *   anew).  Subscribing attaches a subscriber (four callbacks plus a context
 *   pointer) and creates a subscription.  Nothing flows until the subscriber
 *   asks: rill_subscription_request(s, n) adds n to the outstanding demand
 *   (64-bit, saturating; RILL_UNBOUNDED means "no limit").  A source never
 *   delivers more on_next calls than were requested, then ends with exactly
 *   one on_complete or on_error, and nothing after it.  request() from inside
 *   on_next never recurses: the drain loop already on the stack delivers the
 *   new demand, so stack depth is bounded whatever the element count.
 *
 * OWNERSHIP RULES (read these once; every function follows them)
 *   1. Observables are reference counted.  A constructor returns a new
 *      reference.  An operator or combinator constructor TAKES OVER the
 *      reference(s) to its source observable(s), even when it fails (then it
 *      releases them), so chains such as
 *          rill_filter(rill_map(rill_range(0, 10), f, NULL), p, NULL)
 *      never leak.  Use rill_observable_ref() to use one observable twice.
 *      Release your reference with rill_observable_free().  Subscribing does
 *      not consume the reference: a running subscription keeps what it needs.
 *   2. A constructor that fails returns NULL and sets errno (ENOMEM, EINVAL).
 *      Passing NULL as a source yields NULL with errno EINVAL (ENOMEM is
 *      kept if errno already says so: the constructor that returned the
 *      NULL ran out of memory), so a chain whose first constructor failed
 *      ends in NULL with the first reason, and
 *      rill_observable_subscribe(NULL, ...) returns RILL_EINVAL.
 *   3. Values given to on_next are OWNED by the callee: it must pass each one
 *      on or call rill_value_release() exactly once.  Scalars and borrowed
 *      pointers make release a no-op, so integer pipelines pay nothing.
 *      Callback arguments documented as "borrowed" are valid for the call
 *      only; keep one with rill_value_retain().
 *   4. A subscription is freed by the library once it has terminated
 *      (complete, error or cancel), after the outermost rill call on the
 *      stack returns.  The handle passed to on_subscribe may be used until
 *      then, any number of times: cancel twice, request after cancel, cancel
 *      from inside on_next are all safe no-ops once terminated.  To keep a
 *      handle beyond that, ask rill_observable_subscribe() for it (the `out`
 *      argument); then you own a reference and call rill_subscription_free().
 *
 * DEPTH (a documented limit)
 *   Stages call each other directly: subscribing, requesting, and every
 *   value go through one C call per stage.  A chain N stages deep (N
 *   operators applied one on top of the other) therefore uses stack in
 *   proportion to N (about 100 to 200 bytes per stage), and freeing its
 *   recipe recurses too.  Chains of thousands of stages are fine; nesting
 *   100,000 stages overflows an 8 MiB stack (take() nested 100,000 deep
 *   does).  Every value also passes through every stage, so nesting k
 *   start_with costs O(k) per value, O(k^2) in all: to emit many values
 *   first, give one start_with all of them, or concat an array of
 *   sources.  RxJS and RxJava have the same limits.  Long-running
 *   repetition (a source re-subscribed, a request made from on_next) is
 *   different: it is iterative, with a flat stack.
 *
 * THREADS
 *   rill is single-threaded like libev: one pipeline belongs to one thread.
 *   Different threads may run different pipelines (the deferred-free list is
 *   thread-local).  The allocator hook is process-wide.
 */
#ifndef RILL_H
#define RILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rill/common.h"
#include "rill/errno.h"
#include "rill/sched.h"
#include "rill/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* Static description of a RILL_E* code; "application error" for an
 * application code (<= RILL_EAPP_BASE); "unknown error" for others. */
RILL_EXTERN const char *rill_strerror(int code);
/* Static name of a RILL_E* code, e.g. "RILL_EINVAL"; "RILL_EAPP" for an
 * application code; "RILL_UNKNOWN" for others. */
RILL_EXTERN const char *rill_err_name(int code);
/* From inside a user callback, just before returning a failure: attach a
 * message (printf format) to `code` and return `code`, so that
 *     return rill_fail(RILL_EAPP_BASE - 3, "reading %d out of range", x);
 * gives on_error a message "map: reading 7 out of range (code -1003)"
 * instead of "map: callback failed (code -1003)".  The message is kept for
 * this thread until the stage that called the callback reads it. */
RILL_EXTERN int rill_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define RILL_ERROR_MESSAGE_MAX 96

/* What on_error receives.  Passed by pointer, valid during the callback
 * only; it is a plain struct, so copy it to keep it. */
typedef struct rill_error {
  int code;          /* a negative RILL_E* code, or a user callback's code */
  int sys_errno;     /* errno of a failed system call, else 0 */
  const char *stage; /* static name of the stage that failed ("map", ...) */
  char message[RILL_ERROR_MESSAGE_MAX]; /* human-readable detail */
} rill_error_t;

/* ------------------------------------------------------------------------ */
/* Allocator                                                                 */

typedef void *(*rill_malloc_fn)(size_t size);
typedef void *(*rill_realloc_fn)(void *ptr, size_t size);
typedef void (*rill_free_fn)(void *ptr);

/* Route every allocation rill makes through these functions (like libuv's
 * uv_replace_allocator).  Call before creating any rill object, or when
 * none is alive.  Any NULL argument restores the libc default for all three.
 * A malloc/realloc returning NULL makes rill report RILL_ENOMEM cleanly. */
RILL_EXTERN int rill_allocator_set(rill_malloc_fn m, rill_realloc_fn r,
                                   rill_free_fn f);

/* ------------------------------------------------------------------------ */
/* Values                                                                    */

typedef struct rill_buf_s rill_buf_t;     /* refcounted byte buffer */
typedef struct rill_array_s rill_array_t; /* refcounted array of values */
typedef struct rill_box_s rill_box_t;     /* refcounted user pointer */

typedef enum rill_kind {
  RILL_KIND_NONE = 0, /* no value (a zeroed rill_value_t) */
  RILL_KIND_INT,      /* int64_t, no allocation */
  RILL_KIND_DOUBLE,   /* double, no allocation */
  RILL_KIND_BOOL,     /* bool, no allocation */
  RILL_KIND_PTR,      /* borrowed pointer: rill never frees it */
  RILL_KIND_BUF,      /* owned reference to a rill_buf_t */
  RILL_KIND_ARRAY,    /* owned reference to a rill_array_t */
  RILL_KIND_OWNED     /* owned reference to a rill_box_t (user pointer) */
} rill_kind_t;

/* A value is 16 bytes and passed by value (in two registers).  Build values
 * with the constructors below, which also zero `reserved`: writing `kind`
 * alone leaves half a word undefined and slows every copy. */
typedef struct rill_value {
  rill_kind_t kind;
  uint32_t reserved; /* zero; keeps the first word fully defined */
  union {
    int64_t i;
    double d;
    bool b;
    void *ptr;
    rill_buf_t *buf;
    rill_array_t *array;
    rill_box_t *box;
  } as;
} rill_value_t;

static inline rill_value_t rill_value_int(int64_t i) {
  rill_value_t v;
  v.kind = RILL_KIND_INT;
  v.reserved = 0;
  v.as.i = i;
  return v;
}
static inline rill_value_t rill_value_double(double d) {
  rill_value_t v;
  v.kind = RILL_KIND_DOUBLE;
  v.reserved = 0;
  v.as.d = d;
  return v;
}
static inline rill_value_t rill_value_bool(bool b) {
  rill_value_t v;
  v.kind = RILL_KIND_BOOL;
  v.reserved = 0;
  v.as.i = 0;
  v.as.b = b;
  return v;
}
/* A borrowed pointer: the caller keeps it alive as long as it can flow. */
static inline rill_value_t rill_value_ptr(void *p) {
  rill_value_t v;
  v.kind = RILL_KIND_PTR;
  v.reserved = 0;
  v.as.ptr = p;
  return v;
}
/* Wrap a buffer reference; the value takes over that reference. */
static inline rill_value_t rill_value_buf(rill_buf_t *b) {
  rill_value_t v;
  v.kind = RILL_KIND_BUF;
  v.reserved = 0;
  v.as.buf = b;
  return v;
}
/* Wrap an array reference; the value takes over that reference. */
static inline rill_value_t rill_value_array(rill_array_t *a) {
  rill_value_t v;
  v.kind = RILL_KIND_ARRAY;
  v.reserved = 0;
  v.as.array = a;
  return v;
}

/* Internal (double underscore): the refcount paths of the two inline
 * functions below.  Call rill_value_release/retain instead. */
RILL_EXTERN void rill__value_release_slow(rill_value_t v);
RILL_EXTERN void rill__value_retain_slow(rill_value_t v);

/* Release an owned value (no-op for scalars and borrowed pointers). */
static inline void rill_value_release(rill_value_t v) {
  if (v.kind >= RILL_KIND_BUF)
    rill__value_release_slow(v);
}
/* Take one more reference; returns v for convenience. */
static inline rill_value_t rill_value_retain(rill_value_t v) {
  if (v.kind >= RILL_KIND_BUF)
    rill__value_retain_slow(v);
  return v;
}

/* Make an owned value from a user pointer: `release(ptr)` runs exactly
 * once, when the last reference is released.  Returns 0, or RILL_EINVAL
 * (NULL out or release) / RILL_ENOMEM; on failure `release(ptr)` has already
 * been called, so ownership always passes at this call. */
RILL_EXTERN int rill_value_owned(void *ptr, void (*release)(void *ptr),
                                 rill_value_t *out);
/* The user pointer of an OWNED value, else NULL.  Borrowed. */
RILL_EXTERN void *rill_value_owned_ptr(rill_value_t v);

/* Equality used by distinct_until_changed: same kind and same scalar;
 * buffers compare bytes; arrays compare element-wise; owned values and
 * pointers compare by address; doubles by ==. */
RILL_EXTERN bool rill_value_equal(rill_value_t a, rill_value_t b);

/* Byte buffers: refcount starts at 1, len 0.  NULL on ENOMEM. */
RILL_EXTERN rill_buf_t *rill_buf_new(size_t capacity);
/* A new buffer holding a copy of `len` bytes. */
RILL_EXTERN rill_buf_t *rill_buf_from(const void *data, size_t len);
RILL_EXTERN unsigned char *rill_buf_data(rill_buf_t *b);
RILL_EXTERN size_t rill_buf_len(const rill_buf_t *b);
RILL_EXTERN size_t rill_buf_capacity(const rill_buf_t *b);
/* Set the used length (<= capacity); RILL_EINVAL otherwise. */
RILL_EXTERN int rill_buf_set_len(rill_buf_t *b, size_t len);
RILL_EXTERN rill_buf_t *rill_buf_ref(rill_buf_t *b);
RILL_EXTERN void rill_buf_unref(rill_buf_t *b);

/* Arrays (buffer_count emits them).  Elements are owned by the array. */
RILL_EXTERN rill_array_t *rill_array_new(size_t capacity);
/* Append, taking over `v`.  RILL_ENOMEM leaves v released. */
RILL_EXTERN int rill_array_push(rill_array_t *a, rill_value_t v);
RILL_EXTERN size_t rill_array_len(const rill_array_t *a);
/* Borrowed element i (a NONE value when out of range). */
RILL_EXTERN rill_value_t rill_array_at(const rill_array_t *a, size_t i);
RILL_EXTERN rill_array_t *rill_array_ref(rill_array_t *a);
RILL_EXTERN void rill_array_unref(rill_array_t *a);

/* ------------------------------------------------------------------------ */
/* Observables, subscribers, subscriptions                                   */

typedef struct rill_observable_s rill_observable_t;
typedef struct rill_subscription_s rill_subscription_t;

/* Demand value meaning "no limit" (Reactive Streams rule 3.17). */
#define RILL_UNBOUNDED INT64_MAX

/* The callbacks.  Any may be NULL where documented; `ctx` is passed back
 * untouched.  on_subscribe is called exactly once, first, and always
 * before rill_observable_subscribe() returns.  on_next gets an owned value
 * (rule 3 above).  After on_error or on_complete nothing more is called,
 * except on_release: it runs exactly once, after the last signal (or the
 * cancel), when rill holds no further reference to the subscriber and
 * will never call it again -- the place to free `ctx` (a handle kept
 * through `out` stays yours to free; on_release does not wait for it).
 * It also runs when subscribing fails after on_subscribe was called. */
typedef struct rill_subscriber {
  void (*on_subscribe)(void *ctx, rill_subscription_t *s);
  void (*on_next)(void *ctx, rill_value_t v);
  void (*on_error)(void *ctx, const rill_error_t *err);
  void (*on_complete)(void *ctx);
  void (*on_release)(void *ctx);
} rill_subscriber_t;

/* Another reference to the same observable (NULL-safe).  Returns obs. */
RILL_EXTERN rill_observable_t *rill_observable_ref(rill_observable_t *obs);
/* Drop a reference (NULL-safe). */
RILL_EXTERN void rill_observable_free(rill_observable_t *obs);
/* The observable's stage name ("map", "range", ...), static. */
RILL_EXTERN const char *rill_observable_name(const rill_observable_t *obs);

/* Subscribe with raw Reactive Streams demand: nothing flows until the
 * subscriber calls rill_subscription_request(), typically from
 * on_subscribe.  sub->on_subscribe must not be NULL.
 * Returns 0; RILL_EINVAL if obs, sub or sub->on_subscribe is NULL (nothing
 * is called); RILL_ENOMEM if the subscription itself cannot be allocated
 * (nothing is called).  Any later failure, including ENOMEM while building
 * the rest of the pipeline, arrives as on_subscribe followed by on_error.
 * If out is not NULL, *out receives a handle you own (see rule 4). */
RILL_EXTERN int rill_observable_subscribe(rill_observable_t *obs,
                                          const rill_subscriber_t *sub,
                                          void *ctx, rill_subscription_t **out);

/* Subscribe with a demand policy run by rill:
 *   batch == RILL_UNBOUNDED: request everything up front;
 *   1 <= batch < RILL_UNBOUNDED: request `batch`, then top up by what was
 *   consumed whenever half of it has been delivered (prefetch/refill).
 * on_subscribe may be NULL (it is still called first when present, and may
 * cancel).  Returns as rill_observable_subscribe(), plus RILL_EINVAL for
 * batch < 1. */
RILL_EXTERN int rill_observable_consume(rill_observable_t *obs,
                                        const rill_subscriber_t *sub, void *ctx,
                                        int64_t batch,
                                        rill_subscription_t **out);

/* Add n to the outstanding demand (saturating at RILL_UNBOUNDED).
 * n <= 0 on a live subscription cancels it and delivers on_error with
 * RILL_EINVAL (Reactive Streams rule 3.9); the call itself returns 0.
 * After termination this is a no-op.  Returns RILL_EINVAL only for s NULL. */
RILL_EXTERN int rill_subscription_request(rill_subscription_t *s, int64_t n);
/* Stop the flow and free what it holds.  Idempotent, safe from inside any
 * callback, a no-op after termination.  No terminal signal follows a cancel. */
RILL_EXTERN int rill_subscription_cancel(rill_subscription_t *s);
/* True once complete, error or cancel has happened. */
RILL_EXTERN bool rill_subscription_done(const rill_subscription_t *s);
/* Release a handle obtained through `out` (cancels it if still live). */
RILL_EXTERN void rill_subscription_free(rill_subscription_t *s);

/* Values collected by rill_observable_collect(). */
typedef struct rill_values {
  rill_value_t *items; /* owned; release with rill_values_clear() */
  size_t len;
  size_t cap;
} rill_values_t;

/* Run a synchronous pipeline to its end with unbounded demand and append
 * every value to `out` (which must be zeroed or previously used).
 * Returns 0 on completion; the error code on on_error (then `err`, if not
 * NULL, receives the error and `out` holds the values before it);
 * RILL_EAGAIN if the pipeline had not terminated when subscribe returned
 * (it is cancelled); RILL_ENOMEM if `out` cannot grow (cancelled);
 * RILL_EINVAL for NULL arguments. */
RILL_EXTERN int rill_observable_collect(rill_observable_t *obs,
                                        rill_values_t *out, rill_error_t *err);
/* Release every value and the storage; leaves `v` zeroed. */
RILL_EXTERN void rill_values_clear(rill_values_t *v);

/* ------------------------------------------------------------------------ */
/* Sources                                                                   */

/* Emits `n` values given as variadic rill_value_t arguments, then completes.
 * Takes over owned values; each subscription receives its own references. */
RILL_EXTERN rill_observable_t *rill_just(size_t n, ...);
/* Emits values[0..n) in order, then completes.  Copies the array and takes
 * over the owned values in it (also on failure). */
RILL_EXTERN rill_observable_t *rill_from_array(const rill_value_t *values,
                                               size_t n);
/* Emits the integers start, start+1, ..., start+count-1 (RxJS range).
 * count < 0 or start+count overflowing int64 is EINVAL. */
RILL_EXTERN rill_observable_t *rill_range(int64_t start, int64_t count);
/* Completes at once, without any request. */
RILL_EXTERN rill_observable_t *rill_empty(void);
/* Never signals anything after on_subscribe. */
RILL_EXTERN rill_observable_t *rill_never(void);
/* Signals on_error(code, message) right after on_subscribe, without any
 * request.  code must be negative; message may be NULL (it is copied). */
RILL_EXTERN rill_observable_t *rill_error(int code, const char *message);

/* Pull-based source: next(state, &out) is called once per requested item,
 * never ahead of demand, and returns 1 (produced *out, owned), 0 (done:
 * completes) or a negative error code (on_error, stage "generate").
 * init(ctx, &state) runs once per subscription (may be NULL: state = ctx)
 * and returns 0 or a negative code (then on_subscribe + on_error, and fini
 * is not called: there is no state); after a successful init, fini(state)
 * runs exactly once when the subscription ends, on every path: complete,
 * error, cancel (may be NULL). */
typedef int (*rill_generate_init_fn)(void *ctx, void **state);
typedef int (*rill_generate_next_fn)(void *state, rill_value_t *out);
typedef void (*rill_generate_fini_fn)(void *state);
RILL_EXTERN rill_observable_t *rill_generate(rill_generate_init_fn init,
                                             rill_generate_next_fn next,
                                             rill_generate_fini_fn fini,
                                             void *ctx);

/* create(start, end, ctx): a source pushed by the caller (RxJS
 * `new Observable(subscriber => ...)`), for tests and adapters.  At each
 * subscription start(ctx, e) runs (after on_subscribe) with that
 * subscription's emitter; push through it with rill_emitter_next (takes
 * over the value), rill_emitter_complete or rill_emitter_error (code < 0:
 * a RILL_E* or application code, kept as it is; a code >= 0 is a misuse
 * and becomes RILL_EUSER; `message`, when not NULL, is kept verbatim, so an
 * error relayed from elsewhere keeps its own words; stage is "create"),
 * from start() or any later callback.  end(ctx, e) (may be NULL) runs once
 * when that subscription ends: complete, error or cancel; the emitter must
 * not be used after end() returns.  start and end come in pairs (the
 * per-subscription init/fini: keep that subscription's state with
 * rill_emitter_set_data): a subscriber that cancels inside on_subscribe
 * gets neither.  end() never runs while start(), on_request or an emitter
 * call of yours is on the stack: a cancel made from inside
 * rill_emitter_next (a take() or first() downstream) runs end() just
 * before your outermost such call returns, and the emitter call then
 * returns RILL_ECANCELED -- stop there, without touching what end()
 * freed.  When your own rill_emitter_complete (nothing left queued) or
 * rill_emitter_error ends the subscription and is your only call on the
 * stack (made from a timer or another source's callback), end() runs in
 * it before the terminal goes downstream: what the subscription held is
 * released before a retry, concat or merge_map downstream subscribes the
 * next call (RxJS runs the teardown first too); emitter calls made from
 * inside end() are ignored.  Values pushed without demand are queued and delivered as
 * requests arrive (the queue is not bounded: honour the demand, told by
 * on_request or read with rill_emitter_demand()); completion waits behind
 * them, an error does not.  NULL with errno EINVAL for start NULL.
 * docs/writing-operators.md shows a whole adapter built this way. */
typedef struct rill_emitter_s rill_emitter_t;
typedef void (*rill_create_fn)(void *ctx, rill_emitter_t *e);
RILL_EXTERN rill_observable_t *rill_create(rill_create_fn start,
                                           rill_create_fn end, void *ctx);
/* Demand arrived: n more values may be pushed (saturating sums; never
 * called inside another of your create callbacks or emitter calls). */
typedef void (*rill_create_request_fn)(void *ctx, rill_emitter_t *e,
                                       int64_t n);
typedef struct rill_create_opts {
  rill_create_request_fn on_request; /* NULL: poll rill_emitter_demand */
  void (*ctx_free)(void *ctx); /* runs once when the observable is freed
                                  (or at once if the call fails) */
} rill_create_opts_t;
/* rill_create with options (NULL: as rill_create). */
RILL_EXTERN rill_observable_t *rill_create_with(rill_create_fn start,
                                                rill_create_fn end, void *ctx,
                                                const rill_create_opts_t *opts);
/* Returns 0 while the subscription is live; RILL_ECANCELED once it has
 * ended, before or during this call (the value is released if it could
 * not be delivered; end() has run); RILL_EINVAL for e NULL; RILL_ENOMEM
 * (then the subscription fails with it). */
RILL_EXTERN int rill_emitter_next(rill_emitter_t *e, rill_value_t v);
/* Per-subscription user data (NULL until set), like libuv's handle data. */
RILL_EXTERN void rill_emitter_set_data(rill_emitter_t *e, void *data);
RILL_EXTERN void *rill_emitter_data(const rill_emitter_t *e);
/* How many values may be pushed now without queueing (outstanding demand
 * minus queued values; RILL_UNBOUNDED; 0 once ended).  An adapter that
 * honours it never makes the queue grow. */
RILL_EXTERN int64_t rill_emitter_demand(const rill_emitter_t *e);
RILL_EXTERN void rill_emitter_complete(rill_emitter_t *e);
RILL_EXTERN void rill_emitter_error(rill_emitter_t *e, int code,
                                    const char *message);

/* ------------------------------------------------------------------------ */
/* Hot sources: subjects and share.  A subject is pushed by code (RxJS
 * Subject, BehaviorSubject, ReplaySubject; RxJava's processors): every
 * subscriber of its observable gets the values pushed while it is
 * subscribed.  share() makes one subscription to a source serve many
 * subscribers (RxJS share(), RxJava publish().refCount()).  Both fan values
 * out by reference (rill_value_retain: an owned value is never copied, and
 * every reference is released exactly once).
 *
 * FLOW CONTROL
 *   Each subscriber has its own demand and a bounded buffer for values it
 *   has not requested yet.  A value goes straight to each subscriber with
 *   demand and into the buffer of the others.  rill_subject_demand() says
 *   how many values may be pushed now before any buffer overflows: the
 *   slowest subscriber governs.  Pushed past that, the overflow policy
 *   applies to each subscriber whose buffer is full, and to it alone:    */
typedef enum rill_overflow {
  RILL_OVERFLOW_DEFAULT = 0, /* the documented default: LATEST for the time
                                operators (except interval: DROP) and
                                group_by's groups; ERROR for subjects */
  RILL_OVERFLOW_LATEST,      /* hold the newest value (older one released)
                                and deliver it at the next request; a
                                subject: the value replaces the newest one
                                in the full buffer */
  RILL_OVERFLOW_DROP,        /* release the value: it is lost (for that
                                subscriber) */
  RILL_OVERFLOW_ERROR        /* on_error(RILL_EOVERFLOW), cancel upstream;
                                a subject: that subscriber fails at once,
                                its buffer released (RxJava's processors
                                signal MissingBackpressureException) */
} rill_overflow_t;
/* ORDER AND RE-ENTRANCY
 *   A push, complete or error made during a fan-out (from a subscriber's
 *   on_next, say) is queued and fanned out after the value being
 *   delivered; made from a callback of one subscriber at another time (an
 *   on_next it got by requesting), it fans out at once and that subscriber
 *   gets it when its callback has returned.  Either way every subscriber
 *   sees the values in push order, and no on_next nests.  A subscriber
 *   that subscribes from inside on_next gets the values pushed after
 *   that, not the one being delivered (a behavior or replay subject gives
 *   it that one as its current or replayed value).  A subscriber
 *   cancelled during a fan-out, by itself or from another's callback,
 *   gets nothing more.  complete and error reach each subscriber after
 *   the values buffered for it (RxJava 3 publish and replay).
 * LATE SUBSCRIBERS
 *   After complete or error a new subscriber gets on_subscribe, then the
 *   terminal at once (a behavior subject: without its value, as RxJS); a
 *   replay subject replays its values first (as they are requested), then
 *   the terminal.
 * LIFETIME
 *   Reference counted like the breaker: rill_subject_free() drops the
 *   pusher's reference; every observable made by rill_subject_observable()
 *   holds one, and a live subscription keeps its observable.  Subscribers
 *   still attached when the pusher lets go get nothing more: complete or
 *   error the subject first to end them. */
typedef struct rill_subject_s rill_subject_t;
typedef struct rill_subject_opts {
  size_t buffer;            /* each subscriber's buffer bound; 0: 128 */
  rill_overflow_t overflow; /* past the buffer; DEFAULT: ERROR */
  /* Optional: rill_subject_demand() may have grown (a subscriber
   * requested, took buffered values, or left).  Never nested in itself
   * (demand that grows while it runs calls it again after it returns) nor
   * inside a fan-out (it waits for the fan-out on the stack to end); it
   * may push.  It does not run after complete or error. */
  void (*on_demand)(void *ctx, rill_subject_t *subj);
  void *ctx;
} rill_subject_opts_t;
/* A subject (RxJS Subject).  opts may be NULL.  NULL with errno EINVAL (an
 * overflow value outside the enum) or ENOMEM. */
RILL_EXTERN rill_subject_t *rill_subject_new(const rill_subject_opts_t *opts);
/* A behavior subject (RxJS BehaviorSubject): it holds a current value,
 * `initial` at first (taken over, also on failure), then the last value
 * pushed.  A new subscriber gets the current value first (when it
 * requests), then what is pushed. */
RILL_EXTERN rill_subject_t *
rill_subject_behavior_new(rill_value_t initial,
                          const rill_subject_opts_t *opts);
/* A replay subject (RxJS ReplaySubject(count, age)): it keeps the last
 * `count` values pushed (0: no count bound), without those pushed
 * `age_ms` or longer ago on `s`'s clock (INFINITY: no age bound, and s
 * may be NULL).  A new subscriber gets the values kept first (when it
 * requests: its buffer makes room for them), then what is pushed.  Values
 * expire when the subject is pushed or subscribed to (no timer).  With
 * neither bound everything pushed is kept.  NULL with errno EINVAL
 * (age_ms negative or NaN, a finite age with s NULL, a bad policy) or
 * ENOMEM. */
RILL_EXTERN rill_subject_t *
rill_subject_replay_new(size_t count, rill_sched_t *s, double age_ms,
                        const rill_subject_opts_t *opts);
/* Drop your reference (NULL-safe); observables made from it keep theirs. */
RILL_EXTERN void rill_subject_free(rill_subject_t *subj);
/* An observable whose every subscription is a subscriber of `subj`, from
 * its on_subscribe on (subj is not taken over: the observable holds a
 * reference).  NULL with errno EINVAL for subj NULL (ENOMEM kept, as for a
 * NULL source), or ENOMEM. */
RILL_EXTERN rill_observable_t *rill_subject_observable(rill_subject_t *subj);
/* Push v (taken over) to every subscriber.  0 when each took it
 * (delivered or buffered); RILL_EOVERFLOW when the overflow policy applied
 * to some subscriber, RILL_ENOMEM when a buffer could not grow (that
 * subscriber failed with RILL_ENOMEM): the others got the value all the
 * same; RILL_ECANCELED after complete or error, RILL_EINVAL for subj NULL
 * (v released).  A push made during a fan-out (from an on_next) is queued
 * and returns 0 (or RILL_ENOMEM: the queue could not grow, and the
 * subject fails with RILL_ENOMEM after the values before it). */
RILL_EXTERN int rill_subject_next(rill_subject_t *subj, rill_value_t v);
/* End every subscriber's stream, after what is buffered for it; later
 * pushes return RILL_ECANCELED.  0; RILL_ECANCELED if already ended;
 * RILL_EINVAL for NULL. */
RILL_EXTERN int rill_subject_complete(rill_subject_t *subj);
/* As complete, with on_error: code < 0 (a RILL_E* or application code,
 * kept; >= 0 is a misuse and becomes RILL_EUSER), message kept verbatim
 * (may be NULL), stage "subject". */
RILL_EXTERN int rill_subject_error(rill_subject_t *subj, int code,
                                   const char *message);
/* How many values may be pushed now without overflow: the least, over
 * the subscribers, of demand plus free buffer slots; RILL_UNBOUNDED with
 * no subscriber (a value then reaches no one, but a behavior or replay
 * subject keeps it); 0 after complete or error, and for NULL. */
RILL_EXTERN int64_t rill_subject_demand(const rill_subject_t *subj);
/* Subscribers attached now (RxJS `observed`). */
RILL_EXTERN size_t rill_subject_subscribers(const rill_subject_t *subj);
/* A behavior subject's current value, as a new reference in *out: 0
 * (after complete too, as RxJS getValue); after an error, its code;
 * RILL_EINVAL for another kind of subject or a NULL argument. */
RILL_EXTERN int rill_subject_value(const rill_subject_t *subj,
                                   rill_value_t *out);

/* share(opts): one subscription to `src` (taken over) for all subscribers
 * (RxJS share(); RxJava publish(prefetch).refCount()).  The first
 * subscriber connects, after its on_subscribe; later ones join the running
 * stream and get the values from then on (hot).  When the last one leaves
 * (cancels), share disconnects (cancels src): at once, or opts->grace_ms
 * later on opts->sched if nobody subscribed meanwhile (RxJS
 * resetOnRefCountZero: timer(grace_ms); INFINITY: stay connected until src
 * ends).  Values arriving while nobody is subscribed are dropped.
 * Demand (RxJava publish(prefetch)): src is asked for `prefetch` values at
 * connection, then for more each time 3/4 of that has been taken by every
 * subscriber: the slowest subscriber governs, and each buffers at most
 * `prefetch` values it has not requested.  So when the slow subscriber
 * of two cancels first, the other (say, one that requests everything)
 * governs alone and src runs at its pace: to stop both at once without
 * that burst, cancel the unbounded one first.
 * Terminal: src's completion or error reaches every current subscriber,
 * after what is buffered for it, and resets: the next subscriber connects
 * anew (RxJS share()'s defaults resetOnComplete and resetOnError; RxJava
 * 3's refCount).  So a synchronous source runs, inside its first
 * subscriber's subscribe, as far as that subscriber's demand (and the
 * prefetch) allows; subscribers after its end start it again.
 * The scheduler must outlive the observable (the grace timer lives on it).
 * NULL with errno EINVAL for src NULL, grace_ms negative or NaN, or a
 * finite grace_ms > 0 with sched NULL (src released), or ENOMEM. */
typedef struct rill_share_opts {
  size_t prefetch;     /* asked of src ahead; 0: 128 */
  rill_sched_t *sched; /* the grace period's clock (grace_ms > 0) */
  double grace_ms;     /* 0: disconnect as the last subscriber leaves */
} rill_share_opts_t;
RILL_EXTERN rill_observable_t *rill_share(rill_observable_t *src,
                                          const rill_share_opts_t *opts);

/* ------------------------------------------------------------------------ */
/* Operators.  Each takes over its source(s) (rule 1).  User callbacks get
 * borrowed inputs and return 0 / a boolean, or a negative error code: then
 * downstream gets on_error (stage = operator name, code = that code) and
 * upstream is cancelled.  Use a RILL_E* code or your own application code
 * (<= RILL_EAPP_BASE, rill/errno.h); rill_fail() attaches a message.  Each
 * operator's file in operators/ states its demand policy and any difference
 * from RxJS 7.                                                             */

/* Projection: *out receives a new owned value; `in` is borrowed. */
typedef int (*rill_map_fn)(void *ctx, rill_value_t in, rill_value_t *out);
/* Predicate: returns 1 (keep/true), 0 (drop/false) or a negative code. */
typedef int (*rill_pred_fn)(void *ctx, rill_value_t v);
/* Accumulator: acc and v borrowed; *out receives the new owned acc. */
typedef int (*rill_reduce_fn)(void *ctx, rill_value_t acc, rill_value_t v,
                              rill_value_t *out);
/* Comparator: returns 1 equal, 0 different, or a negative code. */
typedef int (*rill_equal_fn)(void *ctx, rill_value_t a, rill_value_t b);

/* map(project).  Chains of map and filter are fused into one stage. */
RILL_EXTERN rill_observable_t *rill_map(rill_observable_t *src, rill_map_fn fn,
                                        void *ctx);
/* filter(predicate).  Fused with neighbouring map/filter. */
RILL_EXTERN rill_observable_t *rill_filter(rill_observable_t *src,
                                           rill_pred_fn fn, void *ctx);
/* take(count): the first `count` values, then complete and cancel upstream.
 * count == 0 completes at once without subscribing upstream. */
RILL_EXTERN rill_observable_t *rill_take(rill_observable_t *src, int64_t count);
/* skip(count): drop the first `count` values. */
RILL_EXTERN rill_observable_t *rill_skip(rill_observable_t *src, int64_t count);
/* takeWhile(predicate, inclusive): pass values while the predicate holds;
 * at the first false, emit that value too if `inclusive`, then complete. */
RILL_EXTERN rill_observable_t *rill_take_while(rill_observable_t *src,
                                               rill_pred_fn fn, void *ctx,
                                               bool inclusive);
/* scan(acc, seed): emit every intermediate accumulator.  seed may be NULL:
 * then the first value is the initial accumulator (RxJS).  The seed value
 * is taken over. */
RILL_EXTERN rill_observable_t *rill_scan(rill_observable_t *src,
                                         rill_reduce_fn fn, void *ctx,
                                         const rill_value_t *seed);
/* reduce(acc, seed): emit the final accumulator at completion.  Without a
 * seed, an empty source completes without a value (RxJS). */
RILL_EXTERN rill_observable_t *rill_reduce(rill_observable_t *src,
                                           rill_reduce_fn fn, void *ctx,
                                           const rill_value_t *seed);
/* distinctUntilChanged(compare): drop values equal to the previous one.
 * fn NULL uses rill_value_equal(). */
RILL_EXTERN rill_observable_t *
rill_distinct_until_changed(rill_observable_t *src, rill_equal_fn fn,
                            void *ctx);
/* first(predicate, default): the first value (matching `fn`, when not
 * NULL), then complete and cancel upstream.  With no match at completion:
 * the default (when not NULL; taken over), else on_error(RILL_EEMPTY). */
RILL_EXTERN rill_observable_t *rill_first(rill_observable_t *src,
                                          rill_pred_fn fn, void *ctx,
                                          const rill_value_t *default_value);
/* last(predicate, default): the last value (matching `fn`, when not NULL)
 * at completion; the default or RILL_EEMPTY when none matched. */
RILL_EXTERN rill_observable_t *rill_last(rill_observable_t *src,
                                         rill_pred_fn fn, void *ctx,
                                         const rill_value_t *default_value);
/* takeUntil(notifier): the source's values until `notifier` (taken over)
 * emits a value; then complete and cancel both.  A notifier error ends the
 * stream with it; its completion without a value changes nothing. */
RILL_EXTERN rill_observable_t *rill_take_until(rill_observable_t *src,
                                               rill_observable_t *notifier);
/* startWith(values...): emit the `n` variadic rill_value_t values first. */
RILL_EXTERN rill_observable_t *rill_start_with(rill_observable_t *src, size_t n,
                                               ...);
/* bufferCount(size, every): arrays of `size` values, a new one opened every
 * `every` values (every == 0 means every == size).  Open non-empty buffers
 * are emitted at completion and dropped on error. */
RILL_EXTERN rill_observable_t *rill_buffer_count(rill_observable_t *src,
                                                 size_t size, size_t every);
/* concat(sources): subscribe to each source in turn, after the previous
 * one completes.  Takes over all n sources. */
RILL_EXTERN rill_observable_t *rill_concat(rill_observable_t *const *sources,
                                           size_t n);
/* merge(sources, concurrent): subscribe to the sources -- all at once, or
 * at most max_concurrency at a time (0: no limit), the next as one
 * completes -- and interleave their values.  prefetch (0 = default 128)
 * bounds each source's buffer.  Takes over all n sources. */
RILL_EXTERN rill_observable_t *rill_merge(rill_observable_t *const *sources,
                                          size_t n, size_t max_concurrency,
                                          size_t prefetch);

/* ------------------------------------------------------------------------ */
/* Higher-order operators: each value becomes an observable, and their
 * values are flattened into one stream.  fn borrows the value and stores a
 * new observable reference in *out (taken over by the operator); it
 * returns 0, or a negative code to fail the stream (then *out, if set, is
 * released).  Errors of the outer or of any inner cancel everything else
 * and arrive at once.  Queued values are released on every path.         */
typedef int (*rill_flat_map_fn)(void *ctx, rill_value_t v,
                                rill_observable_t **out);
/* mergeMap(fn, concurrent): up to max_concurrency inners at once (0: no
 * limit); the outer is asked for that many values, then one more as each
 * inner ends.  Each inner is asked for `prefetch` (0: 128) values and
 * refilled by halves; values interleave as they arrive. */
RILL_EXTERN rill_observable_t *rill_merge_map(rill_observable_t *src,
                                              rill_flat_map_fn fn, void *ctx,
                                              size_t max_concurrency,
                                              size_t prefetch);
/* concatMap: one inner at a time, in order (merge_map with 1). */
RILL_EXTERN rill_observable_t *rill_concat_map(rill_observable_t *src,
                                               rill_flat_map_fn fn, void *ctx);
/* switchMap: a new outer value cancels the current inner (its queued
 * values are released); the outer is consumed at its own pace. */
RILL_EXTERN rill_observable_t *rill_switch_map(rill_observable_t *src,
                                               rill_flat_map_fn fn, void *ctx);
/* exhaustMap: outer values arriving while an inner is live are released
 * unused; the outer is consumed at its own pace. */
RILL_EXTERN rill_observable_t *rill_exhaust_map(rill_observable_t *src,
                                                rill_flat_map_fn fn, void *ctx);
/* expand(fn, concurrent): every value the stream emits (the source's and
 * the inners') is also mapped through fn, whose observable's values are
 * emitted and expanded in turn (RxJS expand; paginated fetching).  At most
 * max_concurrency inners at once (0: no limit); values wait for a slot. */
RILL_EXTERN rill_observable_t *rill_expand(rill_observable_t *src,
                                           rill_flat_map_fn fn, void *ctx,
                                           size_t max_concurrency);
/* concatMapEager (Reactor flatMapSequential): up to max_concurrency inners
 * subscribed at once (0: no limit), values emitted in outer order; each
 * inner queues at most `prefetch` (0: 128) values. */
RILL_EXTERN rill_observable_t *
rill_concat_map_eager(rill_observable_t *src, rill_flat_map_fn fn, void *ctx,
                      size_t max_concurrency, size_t prefetch);

/* ------------------------------------------------------------------------ */
/* group_by (RxJS groupBy, RxJava 3 groupBy): values split by key into
 * groups, each group an observable of the values with its key.  The
 * stream emits one GROUP VALUE per new key, in the order of the keys'
 * first arrival: an owned value (RILL_KIND_OWNED) carrying the key,
 * rill_group_key(), and the group's observable, rill_group_observable().
 * The usual shape subscribes each group from a merge_map function:
 *
 *     static int per_sensor(void *ctx, rill_value_t g,
 *                           rill_observable_t **out) {
 *       *out = rill_throttle(rill_group_observable(g), ctx, 100, NULL);
 *       return *out ? 0 : RILL_ENOMEM;
 *     }
 *     rill_merge_map(rill_group_by(readings, sensor_id, NULL, NULL),
 *                    per_sensor, sched, 0, 0);     // a throttle per sensor
 *
 * KEYS  key_fn (a rill_map_fn) borrows each value and stores its key, a
 *   new owned value, in *out (a negative return fails the stream).  Keys
 *   are compared with rill_value_equal() and hashed consistently with it
 *   (ints, doubles, bools, pointers by value; buffers by bytes, so a
 *   sensor name in a rill_buf_t works; arrays by elements; owned values by
 *   address).  A NaN key equals nothing: every NaN opens a new group.
 * GROUPS  A group has at most one subscriber (a second one gets on_error
 *   RILL_EBUSY).  It gets the group's values in arrival order, with its
 *   own demand; values wait in the group's queue (opts->group_buffer).  A
 *   group ends with on_complete, after its queued values, when the source
 *   completes, when it is evicted or expires (below); with on_error, at
 *   once, when the stream fails (the source's error, key_fn failing, a
 *   limit with the ERROR policy, ENOMEM): every live group and the outer
 *   get the same error.  A group whose subscriber cancels is gone: a later
 *   value with its key opens a new group.
 * A GROUP NOBODY SUBSCRIBES (RxJava 3's group abandonment): a group must
 *   be subscribed before the on_next that delivered its group value
 *   returns (merge_map's function does).  Otherwise it is abandoned at
 *   once: it keeps the value that opened it, completes (a late subscriber
 *   gets that value, then on_complete), and leaves the live set, so the
 *   next value with its key opens a new group.  So an ignored group never
 *   holds the source back, and memory stays bounded, at the price of a
 *   group per value for keys nobody consumes.  concat_map takes outer
 *   values ahead and subscribes them later: over groups it sees a group
 *   per value after the first (as in RxJava 3); use merge_map.
 * DEMAND (RxJava 3): the source is asked for opts->prefetch values ahead
 *   (once the outer has requested a group: nothing is pulled before) and
 *   refilled by halves as groups' subscribers consume them (a value
 *   dropped, or released with a cancelled, abandoned or failed group,
 *   counts as consumed).  So the slowest subscribed group holds the source
 *   back: its queue fills, nothing is refilled, and the other groups wait
 *   too -- subscribe groups with operators that keep up (throttle,
 *   reduce, merge_map's inners) or give groups a group_buffer smaller
 *   than prefetch with a DROP or LATEST overflow.  The outer has its own
 *   demand: a new key with no group requested fails the stream with
 *   RILL_EOVERFLOW ("no demand for a new group"; RxJava's
 *   MissingBackpressureException) rather than hang -- e.g. merge_map over
 *   groups with a max_concurrency smaller than the number of keys.
 * CANCEL  Cancelling the outer stops new groups, not the live ones
 *   (RxJava): the source stays subscribed while any group is live, its
 *   values still go to their groups, and values with a new key are
 *   released.  The source is cancelled once the outer and every group are
 *   gone (cancelled, ended).
 * Ownership: every value is routed to exactly one group or released once
 *   (queued values of a group that is evicted, expires or completes are
 *   still delivered; those of a cancelled or failed group are released).
 * NULL with errno EINVAL for key_fn NULL or bad options (src released). */
typedef enum rill_group_limit {
  RILL_GROUP_LIMIT_ERROR = 0, /* a new key beyond max_groups fails the
                                 stream with RILL_EOVERFLOW */
  RILL_GROUP_LIMIT_EVICT      /* the group idle longest (the one whose last
                                 value is oldest) completes, after its
                                 queued values, to make room */
} rill_group_limit_t;
typedef struct rill_group_by_opts {
  size_t max_groups;           /* live groups at once; 0: no limit */
  rill_group_limit_t on_limit; /* beyond max_groups */
  rill_sched_t *sched;         /* the clock of expiry_ms */
  double expiry_ms;            /* a group without a value for this long
                                  completes (after its queued values) at
                                  that instant; 0 or INFINITY: never;
                                  finite > 0 needs sched */
  size_t prefetch;             /* source values asked ahead; 0: 128 */
  size_t group_buffer;         /* values a group holds for its subscriber;
                                  0, or more than prefetch: prefetch (no
                                  group can be sent more) */
  rill_overflow_t overflow;    /* a value for a full group: LATEST (the
                                  default: the oldest queued value goes),
                                  DROP (the new one goes) or ERROR (the
                                  stream fails with RILL_EOVERFLOW) */
} rill_group_by_opts_t;
RILL_EXTERN rill_observable_t *rill_group_by(rill_observable_t *src,
                                             rill_map_fn key_fn, void *ctx,
                                             const rill_group_by_opts_t *opts);
/* The key of a group value (borrowed, valid while the value is); a NONE
 * value for a value that is not a group. */
RILL_EXTERN rill_value_t rill_group_key(rill_value_t group);
/* The group's observable (a new reference: free it or hand it to an
 * operator); NULL with errno EINVAL for a value that is not a group.
 * Holding it (or the group value) keeps what the group has queued. */
RILL_EXTERN rill_observable_t *rill_group_observable(rill_value_t group);

/* ------------------------------------------------------------------------ */
/* Notifications as values (materialize, all_settled).  A notification is
 * an owned value (RILL_KIND_OWNED) wrapping a rill_notification_t; read it
 * with rill_value_notification().                                          */
typedef enum rill_notification_kind {
  RILL_NOTIFICATION_NEXT = 1, /* `value` holds the value */
  RILL_NOTIFICATION_ERROR,    /* `error` holds the error */
  RILL_NOTIFICATION_COMPLETE  /* nothing else */
} rill_notification_kind_t;
typedef struct rill_notification {
  rill_notification_kind_t kind;
  rill_value_t value;  /* NEXT: owned by the notification */
  rill_error_t error;  /* ERROR: a copy of the error */
} rill_notification_t;
/* A new notification value (taking over `value` for NEXT; err copied for
 * ERROR, may be NULL otherwise; `value` is released for the other kinds).
 * Returns 0, RILL_EINVAL (NULL out, a kind outside the enum, ERROR with
 * err NULL) or RILL_ENOMEM; on failure `value` is released and *out (if
 * not NULL) is a NONE value. */
RILL_EXTERN int rill_notification_new(rill_notification_kind_t kind,
                                      rill_value_t value,
                                      const rill_error_t *err,
                                      rill_value_t *out);
/* The notification a value carries (borrowed, valid while the value is),
 * or NULL if it is not a notification value. */
RILL_EXTERN const rill_notification_t *
rill_value_notification(rill_value_t v);

/* ------------------------------------------------------------------------ */
/* Recovering from errors, repeating, side effects (RxJS catchError, retry,
 * repeat, defer, materialize, tap, finalize).                              */

/* catch_error(fn): when the source fails, fn(ctx, err, &next) decides:
 * leave *next NULL and return 0 to pass the error on; store an observable
 * in *next (taken over) to continue with it instead (its errors are not
 * caught); return RILL_CATCH_RESUBSCRIBE to subscribe to the source again,
 * caught again (RxJS's `caught` argument); or return a negative code to
 * fail with that code (*next, if set, is then released).  The demand
 * still outstanding carries over.  `err` is borrowed.  fn may cancel the
 * subscription. */
#define RILL_CATCH_RESUBSCRIBE 1
typedef int (*rill_catch_fn)(void *ctx, const rill_error_t *err,
                             rill_observable_t **next);
RILL_EXTERN rill_observable_t *rill_catch_error(rill_observable_t *src,
                                                rill_catch_fn fn, void *ctx);
/* On error, emit `value` (taken over) then complete (Reactor
 * onErrorReturn). */
RILL_EXTERN rill_observable_t *rill_on_error_return(rill_observable_t *src,
                                                    rill_value_t value);
/* On error, complete instead (Reactor onErrorComplete). */
RILL_EXTERN rill_observable_t *rill_on_error_complete(rill_observable_t *src);

/* Retry with backoff.  Delay before retry k (k = 1, 2, ...):
 *   base_k = min(max_ms, initial_ms * multiplier^(k-1))
 *   NONE:         base_k
 *   FULL:         random(0, base_k)
 *   EQUAL:        base_k/2 + random(0, base_k/2)
 *   DECORRELATED: min(max_ms, random(initial_ms, 3 * previous delay))
 * (the AWS Architecture Blog's "Exponential Backoff And Jitter"). */
typedef enum rill_jitter {
  RILL_JITTER_NONE = 0,
  RILL_JITTER_FULL,
  RILL_JITTER_EQUAL,
  RILL_JITTER_DECORRELATED
} rill_jitter_t;
/* When the retry count starts again. */
typedef enum rill_retry_reset {
  RILL_RETRY_RESET_ON_VALUE = 0, /* default: a value resets count and delay */
  RILL_RETRY_RESET_NEVER         /* RxJS's default (resetOnSuccess: false) */
} rill_retry_reset_t;
/* A uniform random number in [0, 1). */
typedef double (*rill_random_fn)(void *ctx);
/* Decides per error: 1 retry, 0 give up (the error passes on), or a
 * negative code (fail with it).  attempt is 1 for the first retry. */
typedef int (*rill_retry_pred_fn)(void *ctx, const rill_error_t *err,
                                  int64_t attempt);
/* RxJS retry's delay function, instead of the backoff: store in *out an
 * observable (taken over) whose first value starts retry `attempt`; if it
 * completes without a value the stream completes, if it fails the stream
 * fails with its error.  A negative return fails with that code. */
typedef int (*rill_retry_notifier_fn)(void *ctx, const rill_error_t *err,
                                      int64_t attempt, rill_observable_t **out);
typedef struct rill_retry_opts {
  rill_sched_t *sched;     /* delays run here; NULL: resubscribe at once */
  double initial_ms;       /* first delay (0: none) */
  double multiplier;       /* 0: 2 */
  double max_ms;           /* cap on a delay; 0: no cap */
  rill_jitter_t jitter;
  rill_random_fn random;   /* NULL: rill's own generator */
  void *random_ctx;
  rill_retry_pred_fn should_retry; /* NULL: every error is retried */
  void *pred_ctx;
  rill_retry_reset_t reset;
  rill_retry_notifier_fn notifier; /* NULL: the backoff above; else
                                      initial_ms must be 0 */
  void *notifier_ctx;
} rill_retry_opts_t;
/* retry(max_retries, opts): resubscribe to the source when it fails, up to
 * max_retries times (RILL_UNBOUNDED: without limit; 0: never), waiting the
 * backoff delay first.  Demand carries over.  NULL opts: immediately.  A
 * synchronous source failing a million times retries with a flat stack. */
RILL_EXTERN rill_observable_t *rill_retry(rill_observable_t *src,
                                          int64_t max_retries,
                                          const rill_retry_opts_t *opts);
/* repeat(count, delay): subscribe again when the source completes, count
 * subscriptions in all (RILL_UNBOUNDED: forever; 0: completes at once),
 * waiting delay_ms on `s` in between (s may be NULL when delay_ms is 0). */
RILL_EXTERN rill_observable_t *rill_repeat(rill_observable_t *src,
                                           int64_t count, rill_sched_t *s,
                                           double delay_ms);
/* defer(factory): at each subscription factory(ctx, &out) makes a fresh
 * observable (taken over) and the subscriber is attached to it; the
 * factory runs right after on_subscribe (not at all if the subscriber
 * cancels there).  A negative return fails that subscription with the
 * code (stage "defer"; an observable stored anyway is freed); a return
 * >= 0 that leaves *out NULL fails it with RILL_EINVAL. */
typedef int (*rill_defer_fn)(void *ctx, rill_observable_t **out);
RILL_EXTERN rill_observable_t *rill_defer(rill_defer_fn factory, void *ctx);
/* materialize: every signal becomes a notification value, then completes.
 * The closing ERROR or COMPLETE notification is a value like the others:
 * it waits for a request.  dematerialize: the reverse: NEXT emits its
 * value, ERROR fails with the carried error, COMPLETE completes (both
 * cancel the source); a value that is not a notification fails with
 * RILL_EINVAL. */
RILL_EXTERN rill_observable_t *rill_materialize(rill_observable_t *src);
RILL_EXTERN rill_observable_t *rill_dematerialize(rill_observable_t *src);
/* tap(hooks): calls the hooks that are not NULL as the signals pass, each
 * before its signal goes on; values and errors are borrowed.  on_next may
 * return a negative code to fail the stream (the value is released).
 * on_cancel runs only for a cancel from downstream, never after a
 * terminal.  `hooks` is copied; NULL hooks: NULL with errno EINVAL. */
typedef struct rill_tap_hooks {
  int (*on_next)(void *ctx, rill_value_t v);
  void (*on_error)(void *ctx, const rill_error_t *err);
  void (*on_complete)(void *ctx);
  void (*on_cancel)(void *ctx);
  void (*on_request)(void *ctx, int64_t n);
} rill_tap_hooks_t;
RILL_EXTERN rill_observable_t *rill_tap(rill_observable_t *src,
                                        const rill_tap_hooks_t *hooks,
                                        void *ctx);
/* finalize(fn): fn(ctx) runs once per subscription, after the terminal
 * signal went downstream, or after a cancel (also when subscribing fails
 * after on_subscribe): when rill lets go of the subscription, at the end of
 * the outermost rill call on the stack (after the on_next that cancelled
 * has returned). */
RILL_EXTERN rill_observable_t *rill_finalize(rill_observable_t *src,
                                             void (*fn)(void *ctx), void *ctx);

/* ------------------------------------------------------------------------ */
/* Circuit breaker and shared limiter: objects shared by any number of
 * pipelines (reference counted: a pipeline keeps what it uses alive).     */

typedef struct rill_breaker_s rill_breaker_t;
typedef enum rill_breaker_state {
  RILL_BREAKER_CLOSED = 0,
  RILL_BREAKER_OPEN,
  RILL_BREAKER_HALF_OPEN
} rill_breaker_state_t;
typedef struct rill_breaker_opts {
  int64_t consecutive_failures; /* open after this many in a row; 0: 5
                                   (INT64_MAX: the rate rule alone) */
  int64_t window;               /* sliding window of the last W calls;
                                   0: no failure-rate rule */
  int64_t min_calls;            /* calls needed before the rate counts;
                                   0: window (more than window: EINVAL) */
  double failure_rate;          /* open at this rate (0..1]; 0: 0.5 */
  double open_ms;               /* cool-down while OPEN; 0: 30000
                                   (INFINITY: open for good) */
  int64_t half_open_trials;     /* trial calls while HALF_OPEN; 0: 1 */
  /* Runs after every transition, when it happens (OPEN -> HALF_OPEN by a
   * timer on the scheduler, at the instant).  It may make calls through
   * the breaker (they see the new state; a further transition calls it
   * again, nested) and may free the breaker. */
  void (*on_state)(void *ctx, rill_breaker_state_t from,
                   rill_breaker_state_t to);
  void *ctx;
} rill_breaker_opts_t;
/* calls: admitted (CLOSED, and HALF_OPEN trials); successes, failures:
 * their outcomes (a cancelled call is neither); rejections: calls failed
 * with RILL_EBREAKER_OPEN; transitions: state changes. */
typedef struct rill_breaker_stats {
  uint64_t calls, successes, failures, rejections, transitions;
} rill_breaker_stats_t;
/* NULL with errno EINVAL/ENOMEM.  The clock is `s`'s, and `s` must
 * outlive the breaker: its OPEN timer (made at the first trip, not keeping
 * ev_run alive) lives there until the breaker goes. */
RILL_EXTERN rill_breaker_t *rill_breaker_new(rill_sched_t *s,
                                             const rill_breaker_opts_t *opts);
/* Drop your reference (NULL-safe); pipelines made with it keep theirs. */
RILL_EXTERN void rill_breaker_free(rill_breaker_t *b);
/* The current state (an OPEN breaker whose time is up moves to HALF_OPEN
 * here if its timer has not yet fired). */
RILL_EXTERN rill_breaker_state_t rill_breaker_state(rill_breaker_t *b);
RILL_EXTERN void rill_breaker_stats(const rill_breaker_t *b,
                                    rill_breaker_stats_t *out);
/* circuit_breaker(b): each subscription is a call through `b` (which is
 * not taken over: the observable takes a reference).  CLOSED and admitted
 * HALF_OPEN trials subscribe to src; its completion is a success, its
 * error a failure (a timeout is an error), recorded before the signal
 * goes downstream; a cancel is neither.  OPEN (or HALF_OPEN with every
 * trial taken) fails the subscription at once with RILL_EBREAKER_OPEN,
 * without subscribing to src; the message says when it half-opens.
 * HALF_OPEN closes when every trial succeeded, reopens at the first
 * failure.  operators/circuit_breaker.c compares it with Resilience4j. */
RILL_EXTERN rill_observable_t *rill_circuit_breaker(rill_observable_t *src,
                                                    rill_breaker_t *b);

typedef struct rill_limiter_s rill_limiter_t;
typedef struct rill_limiter_stats {
  size_t in_use, waiting;
  uint64_t rejected; /* subscriptions failed with RILL_ELIMIT_FULL */
} rill_limiter_stats_t;
/* permits >= 1 (1: a mutex); max_waiting bounds the FIFO of waiting
 * subscriptions (0: 1024; SIZE_MAX: no bound).  NULL with errno
 * EINVAL/ENOMEM. */
RILL_EXTERN rill_limiter_t *rill_limiter_new(size_t permits,
                                             size_t max_waiting);
/* Drop your reference (NULL-safe); pipelines made with it keep theirs. */
RILL_EXTERN void rill_limiter_free(rill_limiter_t *l);
RILL_EXTERN void rill_limiter_stats(const rill_limiter_t *l,
                                    rill_limiter_stats_t *out);
/* limit(l): subscribe to src only once a permit of `l` is free (l is not
 * taken over: the observable takes a reference).  The permit returns when
 * src terminates or the subscription is cancelled, once the outermost
 * rill call on the stack has returned (src has unwound: the next holder
 * never overlaps it).  Waiting subscriptions queue FIFO; a full queue
 * fails with RILL_ELIMIT_FULL; cancelling while waiting leaves the queue.
 * Demand requested while waiting is asked of src once subscribed.  A
 * million synchronous subscriptions queued behind a permit run with a
 * flat stack. */
RILL_EXTERN rill_observable_t *rill_limit(rill_observable_t *src,
                                          rill_limiter_t *l);

/* ------------------------------------------------------------------------ */
/* Combining sources (RxJS zip, combineLatest, withLatestFrom, forkJoin,
 * race; Promise.all, allSettled, race, any).  Each takes over its n
 * sources (n >= 1; fork_join, all_settled, race and any also take n == 0,
 * as each says).  A combining function gets the n values borrowed, in
 * source order, and stores one new owned value in *out; with fn NULL the
 * output is an array (RILL_KIND_ARRAY) of the n values.  A function that
 * returns a scalar allocates nothing per output.                          */
typedef int (*rill_combine_fn)(void *ctx, const rill_value_t *values,
                               size_t n, rill_value_t *out);
/* zip: the k-th output combines the k-th value of every source (RxJS zip,
 * zipWith).  Demand: never beyond downstream's; each source is asked for
 * 128 values ahead (RxJava's bufferSize) and refilled by halves, so its
 * queue holds at most 128.  Completes as soon as a source has completed
 * with nothing queued (the others are cancelled), with or without demand;
 * n == 0 completes at once (RxJS zip([])).  The first error cancels every
 * source and releases every queued value.  With fn NULL the values move
 * into the array; fn borrows them and zip releases them after it. */
RILL_EXTERN rill_observable_t *rill_zip(rill_observable_t *const *sources,
                                        size_t n, rill_combine_fn fn,
                                        void *ctx);
/* combineLatest: once every source has a value, each new value combines
 * with the latest of the others (RxJS combineLatest, combineLatestWith).
 * Demand: each source is asked for one value at a time.  A combination
 * that is due without downstream demand is held, and a newer value of
 * another source replaces its part of it (latest wins: the older
 * combination is never emitted, nothing queues); the next request emits
 * it.  With demand, every value gives one combination, as in RxJS.
 * Completes when every source has completed, after a held combination has
 * gone out: one that completes without a value does not end the stream
 * early (RxJS 7).  n == 0 completes at once.  The latest values are
 * released when replaced and when the stream ends; fn borrows them, an
 * array holds references. */
RILL_EXTERN rill_observable_t *
rill_combine_latest(rill_observable_t *const *sources, size_t n,
                    rill_combine_fn fn, void *ctx);
/* withLatestFrom: each value of src combines with the latest of `others`
 * (src's value first); values before every other has one are released
 * unused, and src is asked for one more each time.  The others are
 * subscribed first and asked for everything; downstream's demand goes to
 * src.  Completes with src; an error of any source ends the stream.
 * n == 0: each value of src alone (RxJava). */
RILL_EXTERN rill_observable_t *
rill_with_latest_from(rill_observable_t *src, rill_observable_t *const *others,
                      size_t n, rill_combine_fn fn, void *ctx);
/* forkJoin (Promise.all): the last value of every source, combined, once
 * all have completed (fn NULL: an array of those values, moved in); it
 * waits for a request, then completes.  Every source is asked for
 * everything.  The first error cancels the others and passes on; a source
 * that completes without a value cancels the others and completes the
 * whole without a value (RxJS 7), as does n == 0. */
RILL_EXTERN rill_observable_t *rill_fork_join(rill_observable_t *const *sources,
                                              size_t n, rill_combine_fn fn,
                                              void *ctx);
/* allSettled: one array of n notifications (NEXT with the last value,
 * ERROR with the error, or COMPLETE for a source without a value) once
 * all have ended, when requested; n == 0 gives an empty array.  A
 * source's error is data; only RILL_ENOMEM (a source's or its own) fails
 * the stream. */
RILL_EXTERN rill_observable_t *
rill_all_settled(rill_observable_t *const *sources, size_t n);
/* race: the first source to signal anything wins and is mirrored; the
 * others are cancelled at once.  Until then every request goes to every
 * source (RxJava amb).  n == 1 returns the source itself; n == 0
 * completes at once (RxJava; RxJS race() and Promise.race([]) would never
 * settle). */
RILL_EXTERN rill_observable_t *rill_race(rill_observable_t *const *sources,
                                         size_t n);
/* any (Promise.any): the first source to emit a value wins and is
 * mirrored; the others are cancelled at once.  When every source fails (a
 * completion without a value fails with RILL_EEMPTY), one error, stage
 * "any", with the first failure's code and a message "any: all N sources
 * failed; first: <its message>"; n == 0 fails with RILL_EEMPTY.  A
 * source's RILL_ENOMEM fails the stream at once. */
RILL_EXTERN rill_observable_t *rill_any(rill_observable_t *const *sources,
                                        size_t n);

/* ------------------------------------------------------------------------ */
/* Time sources and operators (on a scheduler: rill/sched.h).  Durations are
 * milliseconds.  The scheduler must outlive the pipelines that use it.
 *
 * DURATIONS
 *   A duration is >= 0; a negative or NaN duration is a bad argument (the
 *   constructor returns NULL with errno EINVAL, its source released).  An
 *   infinite duration (INFINITY) means "never": a timer that never fires,
 *   a window that never ends, a timeout that never expires.  This is the
 *   scheduler's rule (rill_sched_timer_start), so every operator keeps it.
 *
 * OPTIONS
 *   Every time operator that has options takes them last, as a pointer to
 *   a rill_X_opts_t struct.  NULL, a zeroed struct, and every zero field
 *   mean the documented default, so start from a zeroed struct and set what
 *   you need:
 *       rill_debounce(src, s, 50, &(rill_time_opts_t){
 *                                     .overflow = RILL_OVERFLOW_DROP});
 *   The struct is read during the call only.
 *
 * Demand: a time operator never emits without downstream demand (rule
 * 1.1).  When it has a value to emit and none is requested, it applies an
 * overflow policy (rill_overflow_t, declared with the subjects above and
 * used by group_by's groups too: DEFAULT is LATEST for the time operators,
 * except interval's DROP). */

/* Options of interval, debounce, sample and audit (and of their notifier
 * forms). */
typedef struct rill_time_opts {
  rill_overflow_t overflow; /* when a value is due without demand */
} rill_time_opts_t;

/* timer(due): emits 0 after `due_ms`, then completes.  Without demand at
 * that moment the 0 is held until requested (LATEST).  An infinite due
 * never fires (the stream never completes, like never()). */
RILL_EXTERN rill_observable_t *rill_timer(rill_sched_t *s, double due_ms);
/* timer(due, period): emits 0 `due_ms` after subscription, then 1, 2, ...
 * every `period_ms`, never completes (RxJS timer(dueTime, period)).
 * Ticks without demand follow opts->overflow; the default is DROP, as for
 * interval (it is interval with its own first delay). */
RILL_EXTERN rill_observable_t *rill_timer_periodic(rill_sched_t *s,
                                                   double due_ms,
                                                   double period_ms,
                                                   const rill_time_opts_t *opts);
/* interval(period): emits 0, 1, 2, ... every `period_ms` (>= 0; 0 means
 * every loop iteration, like RxJS interval(0)), never completes.  A tick
 * without demand follows opts->overflow; the default for interval is
 * RILL_OVERFLOW_DROP (the count still advances, so gaps show what was
 * dropped).  One timer, re-armed from its callback. */
RILL_EXTERN rill_observable_t *rill_interval(rill_sched_t *s, double period_ms,
                                             const rill_time_opts_t *opts);

/* debounce(due): emits a value once `due_ms` pass with no newer value
 * (RxJS debounceTime).  A pending value is emitted at the instant the
 * source completes and dropped on error.  Asks upstream for everything;
 * opts->overflow applies when a value is due and nothing is requested. */
RILL_EXTERN rill_observable_t *rill_debounce(rill_observable_t *src,
                                             rill_sched_t *s, double due_ms,
                                             const rill_time_opts_t *opts);

/* throttle(window): emits a value, then ignores values for `window_ms`
 * (RxJS throttleTime).  Which edges of a window emit is `opts->edges`:
 * 0 means RILL_THROTTLE_LEADING (RxJS's default).  With
 * RILL_THROTTLE_TRAILING, the last value seen in a window is emitted when
 * the window ends (and opens a new window), and completion waits until
 * that trailing value is out (RxJS 7). */
enum {
  RILL_THROTTLE_LEADING = 1u << 0, /* the first value of a window */
  RILL_THROTTLE_TRAILING = 1u << 1 /* the last value of a window, at its end */
};
typedef struct rill_throttle_opts {
  unsigned edges;           /* RILL_THROTTLE_* bits; 0: LEADING */
  rill_overflow_t overflow; /* when a value is due without demand */
} rill_throttle_opts_t;
RILL_EXTERN rill_observable_t *rill_throttle(rill_observable_t *src,
                                             rill_sched_t *s, double window_ms,
                                             const rill_throttle_opts_t *opts);
/* sample(period): every `period_ms` (> 0) from subscription, emits the
 * newest value if one arrived since the last sample (RxJS sampleTime); no
 * final sample at completion. */
RILL_EXTERN rill_observable_t *rill_sample(rill_observable_t *src,
                                           rill_sched_t *s, double period_ms,
                                           const rill_time_opts_t *opts);
/* audit(window): a value starts a `window_ms` timer; when it ends, the
 * newest value is emitted (RxJS auditTime). */
RILL_EXTERN rill_observable_t *rill_audit(rill_observable_t *src,
                                          rill_sched_t *s, double window_ms,
                                          const rill_time_opts_t *opts);

/* The notifier forms of debounce, throttle and sample: an observable says
 * when, instead of a duration (RxJS debounce, throttle and sample).  They
 * need no scheduler of their own (the observables may be timed).  `fn` is
 * called with each value (borrowed) and gives its duration observable,
 * which is subscribed and asked for one value (rill_flat_map_fn's
 * contract: a negative code, or 0 with no observable, fails the stream).
 * The source is consumed at its own pace; a value that is due when nothing
 * is requested follows opts->overflow (NULL: LATEST), as for the timed
 * forms.  An error of a duration or of the notifier fails the stream.
 * NULL with errno EINVAL for fn or notifier NULL or a bad policy (the
 * sources are released). */
/* debounce_with(fn): a value is emitted when its duration emits a value,
 * unless a newer value came first (its duration is then cancelled).  A
 * duration that completes without a value emits nothing: its value waits
 * for a newer one or for the source's completion, where a pending value
 * is emitted before on_complete (RxJS 7). */
RILL_EXTERN rill_observable_t *rill_debounce_with(rill_observable_t *src,
                                                  rill_flat_map_fn fn,
                                                  void *ctx,
                                                  const rill_time_opts_t *opts);
/* throttle_with(fn): a value opens a window that lasts until its duration
 * emits or completes; values inside it are ignored.  opts->edges as for
 * rill_throttle (0: LEADING): LEADING emits the value that opens a
 * window; TRAILING keeps the newest value of a window and emits it when
 * the duration emits (not when it only completes), and that value opens
 * the next window.  Completion waits for a window with a trailing value
 * (RxJS 7). */
RILL_EXTERN rill_observable_t *
rill_throttle_with(rill_observable_t *src, rill_flat_map_fn fn, void *ctx,
                   const rill_throttle_opts_t *opts);
/* sample_with(notifier): each value of `notifier` (taken over) emits the
 * newest value of the source if one arrived since the previous sample.
 * The notifier completing changes nothing; the source completing ends the
 * stream, with no final sample (RxJS 7). */
RILL_EXTERN rill_observable_t *rill_sample_with(rill_observable_t *src,
                                                rill_observable_t *notifier,
                                                const rill_time_opts_t *opts);

/* delay(d): each value shifted by `delay_ms`; completion waits until the
 * last delayed value is out (an empty source completes at once); errors
 * pass at once, dropping waiting values (RxJS delay).  Demand passes through,
 * so at most the requested values wait in its queue. */
RILL_EXTERN rill_observable_t *rill_delay(rill_observable_t *src,
                                          rill_sched_t *s, double delay_ms);
/* delay(date): values held until the scheduler's clock reads `at_ms`
 * (values arriving later pass at once); completion as delay. */
RILL_EXTERN rill_observable_t *rill_delay_until(rill_observable_t *src,
                                                rill_sched_t *s, double at_ms);
/* delaySubscription(d): subscribes to the source only `delay_ms` after
 * the subscription (RxJS delaySubscription); requests made meanwhile are
 * handed over then.  A cancel during the delay means the source is never
 * subscribed.  With rill_any, the hedged request:
 *     rill_any((rill_observable_t *[]){primary,
 *              rill_delay_subscription(fallback, s, 2000)}, 2) */
RILL_EXTERN rill_observable_t *rill_delay_subscription(rill_observable_t *src,
                                                       rill_sched_t *s,
                                                       double delay_ms);
/* timeout(first, each, opts): the first value must arrive within
 * `first_ms` of subscription, each later one within `each_ms` of the
 * previous; otherwise upstream is cancelled and the stream fails with
 * RILL_ETIMEDOUT, or continues with opts->with.  RxJS timeout({first, each,
 * with}): timeout(each) is rill_timeout(src, s, each, each, NULL);
 * {first: f} alone is (f, INFINITY).  A limit of 0 expires at the
 * scheduler's next turn unless the source completes synchronously.
 *   with  on expiry, continue with this observable instead of failing; it
 *         inherits the outstanding demand.  Taken over by the call (also
 *         on failure).  NULL: fail with RILL_ETIMEDOUT, so check a
 *         constructor's result before putting it here. */
typedef struct rill_timeout_opts {
  rill_observable_t *with;
} rill_timeout_opts_t;
RILL_EXTERN rill_observable_t *rill_timeout(rill_observable_t *src,
                                            rill_sched_t *s, double first_ms,
                                            double each_ms,
                                            const rill_timeout_opts_t *opts);
/* buffer_time(span, opts): emits arrays of the values received by each
 * buffer, a buffer being emitted `span_ms` (> 0) after it opened, or as
 * soon as it holds opts->max_size values (RxJS bufferTime(span,
 * creationInterval, maxBufferSize)).  Without a creation interval one
 * buffer is open at a time: the first at subscription, the next as soon as
 * one is emitted (without max_size: an array every span, possibly empty).
 * With one, a buffer opens at subscription and every `creation_ms` after
 * it, whatever is open: buffers overlap when the span is longer, and a
 * value goes into every open buffer (gaps when it is shorter: a value
 * arriving with none open is released).  At completion the open buffers
 * are emitted, oldest first, then on_complete; on error they are dropped.
 *   overflow     when an array is due with nothing requested (0: LATEST;
 *                several arrays due at once then keep only the newest)
 *   creation_ms  0: none; else > 0 (INFINITY: only the first buffer)
 *   max_size     0: no limit */
typedef struct rill_buffer_time_opts {
  rill_overflow_t overflow;
  double creation_ms;
  size_t max_size;
} rill_buffer_time_opts_t;
RILL_EXTERN rill_observable_t *
rill_buffer_time(rill_observable_t *src, rill_sched_t *s, double span_ms,
                 const rill_buffer_time_opts_t *opts);

/* ------------------------------------------------------------------------ */
/* File descriptors and sockets (on a scheduler with I/O: libev).          */

enum {
  RILL_FD_CLOSE = 1 /* close the fd when the stream ends, on every path
                       (complete, error, cancel, a failed subscription; a
                       recipe freed unsubscribed, or a call that fails for
                       any reason, closes it too: ownership passes at the
                       call).  One rule for every call that takes an fd:
                       from_fd, tcp_accept, to_fd.  Only an fd that is not
                       open, or is an epoll instance, is never closed. */
};

/* Every call that takes an fd checks it at subscription, and a bad fd is
 * on_error(RILL_ESYS) right after on_subscribe (for to_fd: done()), with
 * sys_errno and a message in your terms: not open (EBADF), open in the
 * wrong direction (EBADF: a write-only fd given to from_fd), or an fd the
 * event loop cannot watch (EINVAL: an epoll instance, such as libev's own
 * fd 0 when the program started with stdin closed).  The fd is made
 * non-blocking while rill uses it, and its flags are put back when the
 * stream ends (unless rill closes it). */

/* from_fd(fd): reads chunks of up to `chunk` bytes (0 = 64 KiB) into
 * refcounted buffers (RILL_KIND_BUF).  Reads only while there is demand:
 * with none, the read watcher is stopped, so the kernel (and TCP) push back
 * on the writer.  EOF completes; EAGAIN/EINTR are retried; other errors
 * give on_error(RILL_ESYS, sys_errno); a closed fd gives
 * on_error(RILL_ESYS, EBADF) right after on_subscribe, a scheduler without
 * I/O (virtual) on_error(RILL_ENOTSUP).  See above for fd checks and
 * flags.  Subscribe once: every subscription reads the same fd.  NULL with errno
 * EINVAL for s NULL, fd < 0 or unknown flags. */
RILL_EXTERN rill_observable_t *rill_from_fd(rill_sched_t *s, int fd,
                                            size_t chunk, unsigned flags);
/* lines(max_len): splits byte buffers into lines (one RILL_KIND_BUF per
 * line, without "\n" or "\r\n"), across chunk boundaries.  A line longer
 * than `max_len` bytes (0 = 64 KiB) gives on_error(RILL_EOVERFLOW), or,
 * with `truncate`, is cut to max_len and the rest of it skipped.  A last
 * line without a newline is emitted at completion (without a trailing
 * "\r").  One line per requested item; upstream is asked for one buffer at
 * a time, only when no complete line is left.  Any byte value is data;
 * a value that is not a buffer gives on_error(RILL_EINVAL). */
RILL_EXTERN rill_observable_t *rill_lines(rill_observable_t *src,
                                          size_t max_len, bool truncate);
/* to_fd(fd): a sink writing every buffer (RILL_KIND_BUF values) to fd with
 * backpressure: it requests more only as writes drain (at most 4 buffers
 * held).  `done(ctx, code, sys_errno)` runs once when the stream has
 * ended: 0 after everything was written, else the error (RILL_ESYS with
 * the errno in sys_errno, e.g. EPIPE or ECONNRESET; or the upstream
 * error's code and sys_errno; RILL_EINVAL for a value that is not a
 * buffer); it may run before rill_to_fd() returns.  Like subscribe, it
 * does NOT take over `src`.  Returns 0 or RILL_EINVAL/RILL_ENOMEM; cancel
 * through *out like any subscription (then done is not called).  Sockets
 * are written with MSG_NOSIGNAL; for pipes the application must ignore
 * SIGPIPE.  `flags`: 0 (the fd stays the caller's, to close after done
 * or a cancel) or RILL_FD_CLOSE (rill closes it: at the end of the stream,
 * before done runs, at cancel, or when rill_to_fd() fails, as above); any
 * other bit is RILL_EINVAL. */
typedef void (*rill_done_fn)(void *ctx, int code, int sys_errno);
RILL_EXTERN int rill_to_fd(rill_observable_t *src, rill_sched_t *s, int fd,
                           unsigned flags, rill_done_fn done, void *ctx,
                           rill_subscription_t **out);

/* TCP over IPv4 and IPv6, on any numeric address (no DNS).  A connection
 * is an owned value (RILL_KIND_OWNED) wrapping a connected non-blocking
 * socket; releasing it closes the socket.  rill_conn_fd() reads the fd;
 * rill_conn_take() takes the fd over (the value then releases without
 * closing).  Both return RILL_EINVAL for a value that is not a connection
 * or whose fd was taken. */
RILL_EXTERN int rill_conn_fd(rill_value_t conn);
RILL_EXTERN int rill_conn_take(rill_value_t conn);
/* Open a listening socket on host ("127.0.0.1", "::1", ...; numeric only)
 * and port (0: any); *port_out receives the bound port.  The socket is
 * non-blocking, close-on-exec, SO_REUSEADDR.  Returns the fd, or
 * RILL_EINVAL (not a numeric address, port out of range) or RILL_ESYS
 * (errno says why, e.g. EADDRINUSE, or EADDRNOTAVAIL without IPv6). */
RILL_EXTERN int rill_tcp_listen(const char *host, int port, int *port_out);
/* accept(listen_fd): emits one connection per accepted client, while there
 * is demand (without demand, clients wait in the kernel's backlog).  Never
 * completes; the listening fd is closed at the end with RILL_FD_CLOSE.
 * Out of file descriptors (EMFILE) and other accept failures give
 * on_error(RILL_ESYS). */
RILL_EXTERN rill_observable_t *rill_tcp_accept(rill_sched_t *s, int listen_fd,
                                               unsigned flags);
/* connect(host, port): emits one connection once connected, then
 * completes; a refused or failed connect gives on_error(RILL_ESYS) with
 * sys_errno (ECONNREFUSED, ...).  The connect starts at subscription; the
 * connection waits for demand.  host must be numeric (no DNS): NULL with
 * errno EINVAL otherwise. */
RILL_EXTERN rill_observable_t *rill_tcp_connect(rill_sched_t *s,
                                                const char *host, int port);

/* ------------------------------------------------------------------------ */
/* Channels and signals: hot sources fed from outside a pipeline.          */

/* A channel is a bounded FIFO between any number of producers and one
 * consumer at a time (Go's buffered channel; Kotlin's Channel(capacity)
 * read with receiveAsFlow): code anywhere -- callbacks of another library,
 * timers, other pipelines -- sends values into it, and a pipeline reads it
 * as an observable, with demand.  Single-threaded like the rest of rill:
 * send from the thread that runs the consumer.
 *
 *   SENDING  rill_channel_send(ch, v) returns 0 when v is accepted: it
 *     goes straight to the consumer if one is waiting for a value (demand
 *     outstanding, nothing queued), else it is queued.  A full channel
 *     (`capacity` values queued) answers RILL_EAGAIN and does NOT take v:
 *     it is still yours, to send again when on_space says there is room,
 *     or to release.  The rule holds for every failure: only 0 takes v
 *     over (so a producer never loses a value it did not see refused).
 *     Values reach the consumer in the order they were accepted, whoever
 *     sent them.  A send from inside the consumer's on_next is queued and
 *     delivered when that on_next has returned, if requested (no nesting).
 *   ROOM  opts->on_space(ctx, ch) runs when a full channel has room again:
 *     soon after a value leaves a full channel, from a 0 ms timer on
 *     opts->sched (the next loop iteration on libev; the same instant,
 *     after what is due, on the virtual clock) -- never inside send,
 *     on_next or any other rill call of yours, so a producer is never
 *     re-entered in the middle of its own send.  One call may stand for
 *     several departures; it is skipped if the channel is full again by
 *     then (the next departure brings another).  None after close or fail.
 *     The timer is armed only from a departure to its firing; a channel
 *     arms nothing else, so it never keeps ev_run() alive by itself.
 *   ENDING  rill_channel_close(ch): no more sends (RILL_ECANCELED); the
 *     consumer receives what is queued, then on_complete.
 *     rill_channel_fail(ch, code, message): the same, ending with
 *     on_error(code) (stage "channel"; `message` kept as it is, or NULL)
 *     after the queued values: an accepted value is never dropped
 *     (Kotlin's close(cause); unlike rill_emitter_error, which cuts
 *     ahead).  The first of the two wins; a second answers RILL_ECANCELED.
 *   CONSUMING  rill_channel_observable(ch): values leave the channel only
 *     as the consumer requests them.  One consumer at a time: subscribing
 *     while another subscription is live gives on_subscribe, then
 *     on_error(RILL_EBUSY) -- a channel hands each value to one consumer;
 *     share or a subject fans out.  The channel outlives its
 *     consumers: what is queued when the consumer cancels (from anywhere,
 *     on_next included) stays for the next one; a value already handed to
 *     on_next is the consumer's.  A consumer of a closed or failed channel
 *     gets what is left, then the terminal -- at once, without a request,
 *     when nothing is left, and so does every later consumer.
 *   LIFETIME  Reference counted like the limiter: rill_channel_free()
 *     drops your reference, and every observable of the channel holds
 *     one, so a live consumer keeps it alive.  Values still queued are
 *     released once, when the last reference goes.  Freeing does not
 *     close: close first if the consumer should complete. */
typedef struct rill_channel_s rill_channel_t;
typedef void (*rill_channel_space_fn)(void *ctx, rill_channel_t *ch);
typedef struct rill_channel_opts {
  rill_channel_space_fn on_space; /* NULL: none (poll with stats) */
  void *ctx;                      /* passed to on_space */
  rill_sched_t *sched; /* where on_space runs; required with it, and must
                          outlive the channel */
} rill_channel_opts_t;
/* capacity: 1 .. INT32_MAX values queued at most.  opts may be NULL.
 * NULL with errno EINVAL (capacity out of range, on_space without a
 * scheduler) or ENOMEM. */
RILL_EXTERN rill_channel_t *rill_channel_new(size_t capacity,
                                             const rill_channel_opts_t *opts);
/* Drop your reference (NULL-safe); observables of the channel keep theirs. */
RILL_EXTERN void rill_channel_free(rill_channel_t *ch);
/* 0: v taken over (delivered or queued).  Otherwise v is NOT taken and is
 * still the caller's: RILL_EAGAIN (full), RILL_ECANCELED (closed or
 * failed), RILL_ENOMEM (no room could be made for it), RILL_EINVAL (ch
 * NULL). */
RILL_EXTERN int rill_channel_send(rill_channel_t *ch, rill_value_t v);
/* 0; RILL_ECANCELED if already closed or failed; RILL_EINVAL for NULL. */
RILL_EXTERN int rill_channel_close(rill_channel_t *ch);
/* code < 0 (a RILL_E* or application code; else RILL_EINVAL).  Returns
 * as rill_channel_close. */
RILL_EXTERN int rill_channel_fail(rill_channel_t *ch, int code,
                                  const char *message);
/* The read end: a new observable holding a reference to the channel.
 * NULL with errno EINVAL (ch NULL) or ENOMEM. */
RILL_EXTERN rill_observable_t *rill_channel_observable(rill_channel_t *ch);
typedef struct rill_channel_stats {
  size_t queued, capacity;
  uint64_t sent;    /* values accepted */
  uint64_t refused; /* sends answered RILL_EAGAIN */
  bool consumer;    /* a subscription is live */
  bool closed;      /* closed or failed */
} rill_channel_stats_t;
RILL_EXTERN void rill_channel_stats(const rill_channel_t *ch,
                                    rill_channel_stats_t *out);

/* signal(signum): emits signum (an int) each time the process receives
 * the signal, never completes (libev's ev_signal on the scheduler's loop;
 * rill_sched_raise() simulates signals on the virtual clock).  A signal is
 * an event, not data: arrivals while nothing is requested are coalesced
 * into one, delivered at the next request (how many arrived is lost, as
 * libev itself folds arrivals between two loop iterations into one).
 * The watcher runs from subscription to cancel and NEVER keeps ev_run()
 * alive, whatever rill_sched_keepalive() says: waiting for SIGINT is no
 * reason for a program to keep running once its work is done, and a
 * cancelled subscription leaves nothing armed.
 *   libev watches a signal in one loop at a time (and SIGCHLD only in the
 * default loop, where its child watcher lives), and aborts otherwise; rill
 * fails the subscription instead, with on_error(RILL_EBUSY), when rill
 * already watches that signal on another loop (it cannot see ev_signal
 * watchers you started yourself: keep one loop per signal).  With libev
 * the signal is blocked and read through signalfd where libev uses it
 * (Linux), so deliver it to the process or to the loop's thread
 * (kill, raise), not to another thread that does not block it.
 * NULL with errno EINVAL for s NULL or a signal that cannot be caught
 * (signum <= 0 or >= NSIG, SIGKILL, SIGSTOP).
 *
 * GRACEFUL SHUTDOWN (the recipe)
 *   Stop the input with take_until, UPSTREAM of whatever holds values
 *   back (debounce, audit, buffer_time, throttle with a trailing edge):
 *       rill_observable_t *in = rill_take_until(src, rill_signal(s, SIGINT));
 *       rill_observable_t *out = rill_debounce(in, s, 200, NULL);
 *   On SIGINT, take_until cancels the source and completes; debounce
 *   emits the value it was holding at that completion, then completes
 *   (buffer_time emits its open buffers, a trailing throttle its last
 *   value).  The other order, take_until(debounce(src), signal), cancels
 *   debounce and loses that value.  Once the pipeline has ended, nothing
 *   it armed is left (the signal watcher included), so ev_run() returns
 *   by itself when the rest of the program is done. */
RILL_EXTERN rill_observable_t *rill_signal(rill_sched_t *s, int signum);

#ifdef __cplusplus
}
#endif
#endif /* RILL_H */
