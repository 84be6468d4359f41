/* SPDX-License-Identifier: MIT */
/* rill tests: the core -- errors, values, allocator hook, subscription
 * protocol (request/cancel rules of section 3), collect, stack depth. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* ---- errors
 * ----------------------------------------------------------------*/

START_TEST(strerror_names_every_code) {
  ck_assert_str_eq(rill_strerror(RILL_EINVAL), "invalid argument");
  ck_assert_str_eq(rill_err_name(RILL_ENOMEM), "RILL_ENOMEM");
  ck_assert_str_eq(rill_strerror(0), "success");
  ck_assert_str_eq(rill_strerror(-77), "unknown error");
  ck_assert_str_eq(rill_err_name(-77), "RILL_UNKNOWN");
  ck_assert_str_eq(rill_strerror(-12345), "application error");
  ck_assert_str_eq(rill_err_name(-12345), "RILL_EAPP");
  ck_assert_str_eq(rill_err_name(RILL_EAPP_BASE), "RILL_EAPP");
  for (int code = RILL_EUSER; code <= RILL_EINVAL; code++)
    ck_assert_str_ne(rill_strerror(code), "unknown error");
}
END_TEST

/* Issue 7 §3: a callback's own code used to come out as "map: callback
 * failed (unknown error)"; the number is now always in the message, a
 * callback can attach its words with rill_fail(), and relayed messages do
 * not nest. */
static int fail_77(void *ctx, rill_value_t in, rill_value_t *out) {
  (void)ctx;
  (void)in;
  (void)out;
  return -77;
}
static int fail_with_words(void *ctx, rill_value_t v) {
  (void)ctx;
  return rill_fail(RILL_EAPP_BASE - 3, "reading %lld out of range",
                   (long long)v.as.i);
}
static int fail_scan(void *ctx, rill_value_t acc, rill_value_t v,
                     rill_value_t *out) {
  (void)ctx;
  (void)acc;
  (void)v;
  (void)out;
  return RILL_ENOMEM;
}

static rill_error_t collect_error(rill_observable_t *o) {
  rill_values_t vals = {0};
  rill_error_t err = {0};
  ck_assert_int_lt(rill_observable_collect(o, &vals, &err), 0);
  rill_values_clear(&vals);
  rill_observable_free(o);
  return err;
}

START_TEST(callback_errors_show_their_code_and_words) {
  rill_error_t e = collect_error(rill_map(rill_range(0, 3), fail_77, NULL));
  ck_assert_int_eq(e.code, -77);
  ck_assert_str_eq(e.stage, "map");
  ck_assert_str_eq(e.message, "map: callback failed (code -77)");
  e = collect_error(rill_filter(rill_range(7, 3), fail_with_words, NULL));
  ck_assert_int_eq(e.code, RILL_EAPP_BASE - 3);
  ck_assert_str_eq(e.message, "filter: reading 7 out of range (code -1003)");
  /* the attached words are used once */
  e = collect_error(rill_map(rill_range(0, 3), fail_77, NULL));
  ck_assert_str_eq(e.message, "map: callback failed (code -77)");
  e = collect_error(rill_scan(rill_range(0, 3), fail_scan, NULL,
                              &(rill_value_t){.kind = RILL_KIND_INT}));
  ck_assert_int_eq(e.code, RILL_ENOMEM);
  ck_assert_str_eq(e.message, "scan: accumulator failed (RILL_ENOMEM)");
  e = collect_error(rill_error(-77, NULL));
  ck_assert_str_eq(e.message, "error: unknown error (code -77)");
}
END_TEST

static void relay_start(void *ctx, rill_emitter_t *em) {
  const rill_error_t *inner = ctx;
  rill_emitter_error(em, inner->code, inner->message);
}
static void misuse_start(void *ctx, rill_emitter_t *em) {
  (void)ctx;
  rill_emitter_error(em, 5, "oops");
}

START_TEST(emitter_errors_keep_codes_and_relayed_words) {
  rill_error_t inner =
      collect_error(rill_map(rill_range(0, 3), fail_77, NULL));
  rill_error_t e = collect_error(rill_create(relay_start, NULL, &inner));
  ck_assert_int_eq(e.code, -77);
  ck_assert_str_eq(e.stage, "create");
  ck_assert_str_eq(e.message, "map: callback failed (code -77)"); /* no nest */
  e = collect_error(rill_create(misuse_start, NULL, NULL));
  ck_assert_int_eq(e.code, RILL_EUSER); /* not rule 3.9's EINVAL */
  ck_assert_ptr_nonnull(strstr(e.message, "code 5"));
}
END_TEST

/* Issue 8 §5: on_release runs once, after the last signal, when rill holds
 * no further reference: the place to free ctx. */
struct released {
  int releases, terminals;
  bool after_terminal;
};
static void rel_complete(void *ctx) {
  ((struct released *)ctx)->terminals++;
}
static void rel_release(void *ctx) {
  struct released *r = ctx;
  r->releases++;
  r->after_terminal = r->terminals > 0;
}
static void rel_cancel_sub(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, 2);
  rill_subscription_cancel(s);
}
static void heap_release(void *ctx) {
  free(ctx); /* valgrind: nothing touches ctx after this */
}

START_TEST(subscriber_on_release_runs_once_after_the_last_signal) {
  rill_observable_t *o = rill_range(0, 5);
  struct released r = {0};
  rill_subscriber_t sub = {.on_complete = rel_complete,
                           .on_release = rel_release};
  ck_assert_int_eq(rill_observable_consume(o, &sub, &r, RILL_UNBOUNDED, NULL),
                   0);
  ck_assert_int_eq(r.releases, 1);
  ck_assert(r.after_terminal);
  /* after a cancel (no terminal) */
  struct released c = {0};
  rill_subscriber_t csub = {.on_subscribe = rel_cancel_sub,
                            .on_release = rel_release};
  ck_assert_int_eq(rill_observable_subscribe(o, &csub, &c, NULL), 0);
  ck_assert_int_eq(c.releases, 1);
  /* with a handle kept through `out`: released when the stream ends,
   * whatever the handle does */
  struct released h = {0};
  rill_subscription_t *handle;
  ck_assert_int_eq(
      rill_observable_consume(o, &sub, &h, RILL_UNBOUNDED, &handle), 0);
  ck_assert_int_eq(h.releases, 1);
  rill_subscription_free(handle);
  ck_assert_int_eq(h.releases, 1);
  /* freeing ctx in on_release */
  rill_subscriber_t fsub = {.on_release = heap_release};
  ck_assert_int_eq(
      rill_observable_consume(o, &fsub, malloc(64), RILL_UNBOUNDED, NULL), 0);
  rill_observable_free(o);
}
END_TEST

/* Issue 7, defect 10: the documented depth (DEPTH in rill.h): thousands
 * of nested stages work, on subscribe, request, values and free. */
START_TEST(thousands_of_nested_stages_work) {
  rill_observable_t *o = rill_range(0, 10);
  for (int i = 0; i < 5000; i++)
    o = rill_take(o, 100);
  for (int i = 0; i < 1000; i++)
    o = rill_start_with(o, 1, rill_value_int(-1 - i));
  rill_values_t vals = {0};
  ck_assert_int_eq(rill_observable_collect(o, &vals, NULL), 0);
  ck_assert_uint_eq(vals.len, 1010);
  ck_assert_int_eq(vals.items[0].as.i, -1000); /* the outermost first */
  ck_assert_int_eq(vals.items[1009].as.i, 9);
  rill_values_clear(&vals);
  rill_observable_free(o);
}
END_TEST

/* ---- values
 * ----------------------------------------------------------------*/

START_TEST(scalar_values_need_no_release) {
  ck_assert_uint_eq(sizeof(rill_value_t), 16);
  rill_value_t v = rill_value_int(7);
  rill_value_release(rill_value_retain(v));
  ck_assert(rill_value_equal(v, rill_value_int(7)));
  ck_assert(!rill_value_equal(v, rill_value_double(7.0)));
  ck_assert(rill_value_equal(rill_value_bool(true), rill_value_bool(true)));
}
END_TEST

START_TEST(owned_value_released_once_after_last_reference) {
  tl_owned_reset();
  rill_value_t v = tl_owned(5);
  rill_value_retain(v);
  rill_value_release(v);
  ck_assert_int_eq(tl_owned_released, 0);
  rill_value_release(v);
  ck_assert_int_eq(tl_owned_released, 1);
}
END_TEST

static int released_flag;
static void set_flag(void *p) {
  (void)p;
  released_flag++;
}

START_TEST(owned_value_enomem_releases_the_pointer) {
  tl_alloc_install();
  tl_fail_at = 0;
  rill_value_t v;
  released_flag = 0;
  ck_assert_int_eq(rill_value_owned(&v, set_flag, &v), RILL_ENOMEM);
  ck_assert_int_eq(released_flag, 1);
  ck_assert_int_eq(rill_value_owned(NULL, NULL, &v), RILL_EINVAL);
  tl_alloc_uninstall();
}
END_TEST

START_TEST(buffers_are_refcounted_and_compare_bytes) {
  rill_buf_t *a = rill_buf_from("abc", 3);
  rill_buf_t *b = rill_buf_new(8);
  memcpy(rill_buf_data(b), "abc", 3);
  ck_assert_int_eq(rill_buf_set_len(b, 3), 0);
  ck_assert_int_eq(rill_buf_set_len(b, 9), RILL_EINVAL);
  ck_assert(rill_value_equal(rill_value_buf(a), rill_value_buf(b)));
  rill_value_t va = rill_value_buf(rill_buf_ref(a));
  rill_value_release(va);
  ck_assert_uint_eq(rill_buf_len(a), 3);
  rill_buf_unref(a);
  rill_buf_unref(b);
}
END_TEST

START_TEST(arrays_own_their_elements) {
  tl_owned_reset();
  rill_array_t *a = rill_array_new(1);
  for (int i = 0; i < 10; i++)
    ck_assert_int_eq(rill_array_push(a, tl_owned(i)), 0);
  ck_assert_uint_eq(rill_array_len(a), 10);
  ck_assert_int_eq(tl_owned_int(rill_array_at(a, 9)), 9);
  ck_assert_int_eq(rill_array_at(a, 10).kind, RILL_KIND_NONE);
  rill_array_unref(a);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- subscribe and request rules
 * -------------------------------------------*/

START_TEST(subscribe_rejects_null_arguments) {
  rill_observable_t *obs = rill_range(0, 3);
  rill_subscriber_t no_on_subscribe = {0};
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, NULL), RILL_EINVAL);
  ck_assert_int_eq(rill_observable_subscribe(obs, NULL, NULL, NULL),
                   RILL_EINVAL);
  ck_assert_int_eq(rill_observable_subscribe(obs, &no_on_subscribe, NULL, NULL),
                   RILL_EINVAL);
  ck_assert_int_eq(
      rill_observable_consume(obs, &no_on_subscribe, NULL, 0, NULL),
      RILL_EINVAL);
  ck_assert_int_eq(r.subscribes, 0);
  ck_assert_int_eq(rill_subscription_request(NULL, 1), RILL_EINVAL);
  ck_assert_int_eq(rill_subscription_cancel(NULL), RILL_EINVAL);
  rill_observable_free(obs);
}
END_TEST

START_TEST(constructor_failure_propagates_null_with_errno) {
  errno = 0;
  ck_assert_ptr_null(rill_range(0, -1));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(
      rill_map(rill_filter(NULL, tl_is_even, NULL), tl_double, NULL));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_map(rill_range(0, 1), NULL, NULL));
}
END_TEST

START_TEST(request_zero_and_negative_signal_einval) {
  static const int64_t bad[] = {0, -1, -2147483648LL, INT64_MIN};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    rill_observable_t *obs = rill_range(0, 10);
    rec_t r;
    rec_init(&r);
    rill_subscription_t *s;
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    s = r.s;
    ck_assert_int_eq(rill_subscription_request(s, bad[i]), 0);
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EINVAL);
    ck_assert_ptr_nonnull(strstr(r.err.message, "3.9"));
    ck_assert_int_eq(r.nexts, 0);
    ck_assert_rec_ok(&r);
    rill_observable_free(obs);
  }
}
END_TEST

static void keep_sub(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  (void)s;
}

struct counts {
  int nexts, errors, completes;
};
static void count_next(void *ctx, rill_value_t v) {
  ((struct counts *)ctx)->nexts++;
  rill_value_release(v);
}
static void count_error(void *ctx, const rill_error_t *err) {
  (void)err;
  ((struct counts *)ctx)->errors++;
}
static void count_complete(void *ctx) {
  ((struct counts *)ctx)->completes++;
}

START_TEST(request_after_cancel_is_a_silent_noop) {
  rill_observable_t *obs = rill_range(0, 10);
  rill_subscription_t *s;
  struct counts c = {0};
  rill_subscriber_t sub = {.on_subscribe = keep_sub,
                           .on_next = count_next,
                           .on_error = count_error,
                           .on_complete = count_complete};
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, &c, &s), 0);
  ck_assert_int_eq(rill_subscription_request(s, 2), 0);
  ck_assert_int_eq(c.nexts, 2);
  ck_assert_int_eq(rill_subscription_cancel(s), 0);
  ck_assert_int_eq(rill_subscription_request(s, 5), 0);
  ck_assert_int_eq(rill_subscription_request(s, 0), 0); /* no 3.9 now */
  ck_assert_int_eq(rill_subscription_request(s, -1), 0);
  ck_assert_int_eq(c.nexts, 2);
  ck_assert_int_eq(c.errors + c.completes, 0);
  rill_subscription_free(s);
  rill_observable_free(obs);
}
END_TEST

START_TEST(owned_handle_survives_termination) {
  rill_observable_t *obs = rill_range(0, 3);
  rill_subscription_t *s;
  rill_subscriber_t sub = {.on_subscribe = keep_sub};
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, NULL, &s), 0);
  ck_assert(!rill_subscription_done(s));
  ck_assert_int_eq(rill_subscription_request(s, 10), 0);
  ck_assert(rill_subscription_done(s));
  /* All safe no-ops on a terminated handle that we still own. */
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
    ck_assert_int_eq(rill_subscription_request(s, 0), 0);
    ck_assert_int_eq(rill_subscription_request(s, 1), 0);
  }
  rill_subscription_free(s);
  rill_observable_free(obs);
}
END_TEST

START_TEST(cancel_three_times_then_request_gives_nothing) {
  rill_observable_t *obs = rill_range(0, 3);
  rill_subscription_t *s;
  rill_subscriber_t sub = {.on_subscribe = keep_sub};
  ck_assert_int_eq(rill_observable_subscribe(obs, &sub, NULL, &s), 0);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rill_subscription_cancel(s), 0);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rill_subscription_request(s, 1), 0);
  ck_assert(rill_subscription_done(s));
  rill_subscription_free(s);
  rill_observable_free(obs);
}
END_TEST

START_TEST(demand_is_additive) {
  rill_observable_t *obs = rill_range(0, 10);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  rec_request(&r, 1);
  rec_request(&r, 2);
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_cancel(&r);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(demand_saturates_at_unbounded) {
  /* 3.17: MAX/2 + MAX/2 + 1 and repeated MAX-1 never wrap or error. */
  rill_observable_t *obs = rill_range(0, 3);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, INT64_MAX / 2);
  rec_request(&r, INT64_MAX / 2);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(obs);

  obs = rill_range(0, 100);
  rec_init(&r);
  r.request_in_next = INT64_MAX - 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 100);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
}
END_TEST

START_TEST(collect_reports_pending_pipelines) {
  rill_observable_t *obs = rill_never();
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(obs, &got, NULL), RILL_EAGAIN);
  ck_assert_uint_eq(got.len, 0);
  ck_assert_int_eq(rill_observable_collect(NULL, &got, NULL), RILL_EINVAL);
  rill_observable_free(obs);
}
END_TEST

START_TEST(collect_stops_on_error_with_values_before_it) {
  rill_observable_t *obs = rill_concat(
      (rill_observable_t *[]){rill_range(0, 2), rill_error(RILL_EUSER, "boom")},
      2);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(obs, &got, &err), RILL_EUSER);
  ck_assert_uint_eq(got.len, 2);
  ck_assert_str_eq(err.message, "boom");
  ck_assert_str_eq(err.stage, "error");
  rill_values_clear(&got);
  rill_observable_free(obs);
}
END_TEST

/* ---- stack depth: request(1) from every on_next on a small stack
 * ---------------*/

struct deep {
  int64_t n;
  rec_t r;
};

static void *deep_run(void *arg) {
  struct deep *d = arg;
  rill_observable_t *obs = rill_filter(
      rill_map(rill_range(0, d->n), tl_double, NULL), tl_is_even, NULL);
  rec_init(&d->r);
  d->r.store = false;
  d->r.request_in_next = 1;
  rec_subscribe(&d->r, obs);
  rec_request(&d->r, 1);
  rill_observable_free(obs);
  return NULL;
}

START_TEST(request_one_per_on_next_runs_in_constant_stack) {
  struct deep d = {.n = tl_scaled(10 * 1000 * 1000)};
  pthread_attr_t attr;
  pthread_t t;
  pthread_attr_init(&attr);
  /* 64 KiB; ASan's larger frames get 256 KiB (still constant in n). */
#if defined(__SANITIZE_ADDRESS__)
  pthread_attr_setstacksize(&attr, 256 * 1024);
#else
  pthread_attr_setstacksize(&attr, 64 * 1024);
#endif
  ck_assert_int_eq(pthread_create(&t, &attr, deep_run, &d), 0);
  pthread_join(t, NULL);
  pthread_attr_destroy(&attr);
  ck_assert_int_eq(d.r.nexts, d.n);
  ck_assert_int_eq(d.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(d.r.max_depth, 1);
  ck_assert_uint_lt(d.r.stack_hi - d.r.stack_lo, 4096);
  ck_assert_rec_ok(&d.r);
}
END_TEST

/* ---- version
 * ----------------------------------------------------------------*/

START_TEST(runtime_version_matches_headers_and_configure) {
  char expect[32];
  snprintf(expect, sizeof(expect), "%d.%d.%d", RILL_VERSION_MAJOR,
           RILL_VERSION_MINOR, RILL_VERSION_PATCH);
  ck_assert_str_eq(rill_version(), expect);
  ck_assert_str_eq(rill_version(), RILL_VERSION_STRING);
  ck_assert_int_eq(rill_version_number(), RILL_VERSION_HEX);
  ck_assert_int_eq(rill_version_number(), RILL_VERSION_MAJOR * 65536 +
                                              RILL_VERSION_MINOR * 256 +
                                              RILL_VERSION_PATCH);
  /* configure.ac reads its version from rill/version.h */
  ck_assert_str_eq(rill_version(), PACKAGE_VERSION);
}
END_TEST

Suite *core_suite(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("errors_values");
  tcase_add_test(tc, strerror_names_every_code);
  tcase_add_test(tc, callback_errors_show_their_code_and_words);
  tcase_add_test(tc, thousands_of_nested_stages_work);
  tcase_add_test(tc, subscriber_on_release_runs_once_after_the_last_signal);
  tcase_add_test(tc, emitter_errors_keep_codes_and_relayed_words);
  tcase_add_test(tc, scalar_values_need_no_release);
  tcase_add_test(tc, owned_value_released_once_after_last_reference);
  tcase_add_test(tc, owned_value_enomem_releases_the_pointer);
  tcase_add_test(tc, buffers_are_refcounted_and_compare_bytes);
  tcase_add_test(tc, arrays_own_their_elements);
  suite_add_tcase(s, tc);
  tc = tcase_create("protocol");
  tcase_add_test(tc, subscribe_rejects_null_arguments);
  tcase_add_test(tc, constructor_failure_propagates_null_with_errno);
  tcase_add_test(tc, request_zero_and_negative_signal_einval);
  tcase_add_test(tc, request_after_cancel_is_a_silent_noop);
  tcase_add_test(tc, owned_handle_survives_termination);
  tcase_add_test(tc, cancel_three_times_then_request_gives_nothing);
  tcase_add_test(tc, demand_is_additive);
  tcase_add_test(tc, demand_saturates_at_unbounded);
  tcase_add_test(tc, collect_reports_pending_pipelines);
  tcase_add_test(tc, collect_stops_on_error_with_values_before_it);
  suite_add_tcase(s, tc);
  tc = tcase_create("stack");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, request_one_per_on_next_runs_in_constant_stack);
  suite_add_tcase(s, tc);
  tc = tcase_create("version");
  tcase_add_test(tc, runtime_version_matches_headers_and_configure);
  suite_add_tcase(s, tc);
  return s;
}
