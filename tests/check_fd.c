/* SPDX-License-Identifier: MIT */
/* rill tests: file descriptors and sockets -- from_fd, lines, to_fd and
 * the TCP helpers on real pipes, socketpairs and loopback sockets.
 *
 * Every asynchronous test runs on its own ev_loop_new() loop with a
 * scheduler made for it, and relies on one property: once a pipeline has
 * ended (complete, error or cancel) nothing rill made is active, so
 * ev_run() returns by itself.  A watchdog timer (ev_unref'd, so it does
 * not keep the loop alive) breaks the loop and fails the test if that
 * does not happen in time.  Only loopback addresses are used. */
#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rill/ev.h>

#include "check_rill.h"
#include "testlib.h"

#define FX_LIMIT_S 8.0 /* watchdog per loop run */

/* ---- fixture: a fresh loop and scheduler per test -------------------------*/

typedef struct fx {
  struct ev_loop *loop;
  rill_sched_t *s;
  ev_timer dog;
  bool timed_out;
} fx_t;

static void fx_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  fx_t *f = w->data;
  f->timed_out = true;
  ev_break(loop, EVBREAK_ALL);
}

static void fx_init(fx_t *f) {
  memset(f, 0, sizeof(*f));
  f->loop = ev_loop_new(EVFLAG_AUTO);
  ck_assert_ptr_nonnull(f->loop);
  f->s = rill_sched_ev_new(f->loop);
  ck_assert_ptr_nonnull(f->s);
  ev_timer_init(&f->dog, fx_dog, FX_LIMIT_S, 0.);
  f->dog.data = f;
  ev_timer_start(f->loop, &f->dog);
  ev_unref(f->loop); /* the watchdog alone does not keep ev_run() going */
}

/* Run until nothing is active (ev_run returns by itself) or time is up. */
static void fx_run(fx_t *f) {
  ev_run(f->loop, 0);
  ck_assert_msg(!f->timed_out, "the loop was still busy after %.0f s",
                FX_LIMIT_S);
}

static void fx_fini(fx_t *f) {
  ck_assert_int_eq(rill_sched_active(f->s), 0);
  ev_ref(f->loop); /* libev: undo ev_unref before stopping the watcher */
  ev_timer_stop(f->loop, &f->dog);
  ck_assert_int_eq(rill_sched_free(f->s), 0);
  ev_loop_destroy(f->loop);
}

static bool fd_is_open(int fd) {
  return fcntl(fd, F_GETFD) != -1;
}

/* The kernel buffer behind fd, in bytes: a pipe's (F_GETPIPE_SZ, Linux),
 * else a socket's send plus receive buffers, else 64 KiB.  Byte counts of
 * the fd tests stay at 4 times this under any RILL_TEST_SCALE, so that
 * to_fd still has to wait for writability. */
static int64_t fd_buffer_size(int fd) {
  int64_t size = 0;
#ifdef F_GETPIPE_SZ
  int ps = fcntl(fd, F_GETPIPE_SZ);
  if (ps > 0)
    size = ps;
#endif
  if (size == 0) {
    int snd = 0, rcv = 0;
    socklen_t len = sizeof(snd);
    if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, &len) == 0) {
      len = sizeof(rcv);
      if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, &len) != 0)
        rcv = 0;
      size = (int64_t)snd + rcv;
    }
  }
  return size > 65536 ? size : 65536;
}

/* A fresh pipe's buffer size (the floor for byte counts that are not
 * tied to one fd). */
static int64_t pipe_buffer_size(void) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  int64_t size = fd_buffer_size(p[1]);
  close(p[0]);
  close(p[1]);
  return size;
}

/* A watchdog for the allocation sweeps' own loops: breaks a run that would
 * hang (its firing leaves it inactive, which the sweep reports). */
static void sweep_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)w;
  (void)revents;
  ev_break(loop, EVBREAK_ALL);
}

/* ---- helpers: buffers, patterns, sinks ------------------------------------*/

static rill_value_t bufv(const void *p, size_t n) {
  rill_buf_t *b = rill_buf_from(p, n);
  ck_assert_ptr_nonnull(b);
  return rill_value_buf(b);
}

static rill_value_t strv(const char *s) {
  return bufv(s, strlen(s));
}

/* A source of the given strings, one buffer each. */
static rill_observable_t *chunks(size_t n, const char *const *parts) {
  rill_value_t v[16];
  ck_assert_uint_le(n, 16);
  for (size_t i = 0; i < n; i++)
    v[i] = strv(parts[i]);
  return rill_from_array(v, n);
}

static void expect_buf(rill_value_t v, const void *want, size_t len) {
  ck_assert_int_eq(v.kind, RILL_KIND_BUF);
  ck_assert_uint_eq(rill_buf_len(v.as.buf), len);
  ck_assert(len == 0 || memcmp(rill_buf_data(v.as.buf), want, len) == 0);
}

static void expect_lines(const rill_values_t *got, const char *const *want,
                         size_t n) {
  ck_assert_uint_eq(got->len, n);
  for (size_t i = 0; i < n; i++)
    expect_buf(got->items[i], want[i], strlen(want[i]));
}

/* A byte pattern that shows loss, duplication and reordering. */
static unsigned char pat_byte(size_t i) {
  return (unsigned char)(i * 7u + (i >> 9));
}

/* rill_generate source: `total` pattern bytes in buffers of `size`. */
struct pat_gen {
  size_t total, made, size;
  long pulls;
};

static int pat_next(void *state, rill_value_t *out) {
  struct pat_gen *g = state;
  if (g->made >= g->total)
    return 0;
  size_t n = g->total - g->made < g->size ? g->total - g->made : g->size;
  rill_buf_t *b = rill_buf_new(n);
  if (b == NULL)
    return RILL_ENOMEM;
  for (size_t i = 0; i < n; i++)
    rill_buf_data(b)[i] = pat_byte(g->made + i);
  rill_buf_set_len(b, n);
  g->made += n;
  g->pulls++;
  *out = rill_value_buf(b);
  return 1;
}

/* A subscriber that checks the pattern (or keeps the bytes), counts, and
 * checks the demand rule itself. */
typedef struct bsink {
  rill_subscription_t *s; /* borrowed until terminal */
  int64_t initial;        /* requested in on_subscribe */
  int64_t requested;
  int64_t nexts;
  size_t bytes;
  size_t bad; /* pattern mismatches */
  bool check_pattern;
  unsigned char *keep; /* when not NULL: store here (keep_cap bytes) */
  size_t keep_cap;
  int terminal; /* REC_* */
  rill_error_t err;
  int violations;
} bsink_t;

static void bs_subscribe(void *ctx, rill_subscription_t *s) {
  bsink_t *b = ctx;
  b->s = s;
  if (b->initial > 0) {
    b->requested += b->initial;
    rill_subscription_request(s, b->initial);
  }
}

static void bs_next(void *ctx, rill_value_t v) {
  bsink_t *b = ctx;
  if (b->terminal != REC_NONE || b->nexts >= b->requested ||
      v.kind != RILL_KIND_BUF)
    b->violations++;
  b->nexts++;
  if (v.kind == RILL_KIND_BUF) {
    const unsigned char *d = rill_buf_data(v.as.buf);
    size_t n = rill_buf_len(v.as.buf);
    if (b->check_pattern)
      for (size_t i = 0; i < n; i++)
        b->bad += d[i] != pat_byte(b->bytes + i);
    if (b->keep != NULL && b->bytes + n <= b->keep_cap)
      memcpy(b->keep + b->bytes, d, n);
    b->bytes += n;
  }
  rill_value_release(v);
}

static void bs_error(void *ctx, const rill_error_t *err) {
  bsink_t *b = ctx;
  if (b->terminal != REC_NONE)
    b->violations++;
  b->terminal = REC_ERROR;
  b->err = *err;
}

static void bs_complete(void *ctx) {
  bsink_t *b = ctx;
  if (b->terminal != REC_NONE)
    b->violations++;
  b->terminal = REC_COMPLETE;
}

static const rill_subscriber_t bsink_sub = {
    .on_subscribe = bs_subscribe,
    .on_next = bs_next,
    .on_error = bs_error,
    .on_complete = bs_complete,
};

static void bs_request(bsink_t *b, int64_t n) {
  if (b->terminal != REC_NONE || b->s == NULL)
    return;
  b->requested += n;
  rill_subscription_request(b->s, n);
}

/* What to_fd's done() reported. */
struct done_rec {
  int calls;
  int code;
  int sys_errno;
};

static void done_cb(void *ctx, int code, int sys_errno) {
  struct done_rec *d = ctx;
  d->calls++;
  d->code = code;
  d->sys_errno = sys_errno;
}

/* ---- lines: synchronous, on from_array / generate -------------------------*/

/* lines over `parts`, collected with unbounded demand. */
static int lines_collect(size_t n, const char *const *parts, size_t max,
                         bool truncate, rill_values_t *out, rill_error_t *err) {
  rill_observable_t *o = rill_lines(chunks(n, parts), max, truncate);
  ck_assert_ptr_nonnull(o);
  int rc = rill_observable_collect(o, out, err);
  rill_observable_free(o);
  return rc;
}

START_TEST(lines_split_across_every_chunk_boundary) {
  static const char text[] = "ab\ncd\r\nef\n\ngh";
  static const char *const want[] = {"ab", "cd", "ef", "", "gh"};
  size_t len = sizeof(text) - 1;
  char a[32], b[32], c[32];
  for (size_t i = 0; i <= len; i++) {
    for (size_t j = i; j <= len; j++) {
      memcpy(a, text, i);
      a[i] = '\0';
      memcpy(b, text + i, j - i);
      b[j - i] = '\0';
      memcpy(c, text + j, len - j);
      c[len - j] = '\0';
      const char *parts[] = {a, b, c};
      rill_values_t got = {0};
      ck_assert_int_eq(lines_collect(3, parts, 16, false, &got, NULL), 0);
      expect_lines(&got, want, 5);
      rill_values_clear(&got);
    }
  }
}
END_TEST

START_TEST(lines_crlf_and_lone_cr) {
  /* "\r" ending one chunk and "\n" starting the next are one CRLF; a lone
   * "\r" inside a line is data; "\r\r\n" keeps the first "\r". */
  const char *parts[] = {"a\r\nb\r", "\nc\r\r\n", "x\ry\n", "z\r"};
  static const char *const want[] = {"a", "b", "c\r", "x\ry", "z"};
  rill_values_t got = {0};
  ck_assert_int_eq(lines_collect(4, parts, 8, false, &got, NULL), 0);
  expect_lines(&got, want, 5);
  rill_values_clear(&got);
}
END_TEST

START_TEST(lines_final_line_without_newline) {
  rill_values_t got = {0};
  const char *p1[] = {"one\ntwo"};
  ck_assert_int_eq(lines_collect(1, p1, 8, false, &got, NULL), 0);
  expect_lines(&got, (const char *const[]){"one", "two"}, 2);
  rill_values_clear(&got);
  const char *p2[] = {"one\n"}; /* no empty last line */
  ck_assert_int_eq(lines_collect(1, p2, 8, false, &got, NULL), 0);
  expect_lines(&got, (const char *const[]){"one"}, 1);
  rill_values_clear(&got);
  const char *p3[] = {"", ""}; /* nothing at all */
  ck_assert_int_eq(lines_collect(2, p3, 8, false, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 0);
  rill_values_clear(&got);
}
END_TEST

START_TEST(lines_longer_than_max_is_an_error) {
  rill_values_t got = {0};
  rill_error_t err;
  /* exactly max passes, also with its "\r\n" split across chunks */
  const char *ok[] = {"abcd\r", "\nwxyz\n"};
  ck_assert_int_eq(lines_collect(2, ok, 4, false, &got, NULL), 0);
  expect_lines(&got, (const char *const[]){"abcd", "wxyz"}, 2);
  rill_values_clear(&got);
  /* one byte more fails, after the lines before it */
  const char *bad[] = {"abcd\nab", "cde\nnever\n"};
  ck_assert_int_eq(lines_collect(2, bad, 4, false, &got, &err), RILL_EOVERFLOW);
  ck_assert_str_eq(err.stage, "lines");
  expect_lines(&got, (const char *const[]){"abcd"}, 1);
  rill_values_clear(&got);
  /* a newline-free flood fails as soon as it is too long, without waiting
   * for a newline that may never come */
  const char *flood[] = {"ab", "cdefgh", "ijk"};
  ck_assert_int_eq(lines_collect(3, flood, 4, false, &got, &err),
                   RILL_EOVERFLOW);
  ck_assert_uint_eq(got.len, 0);
  rill_values_clear(&got);
}
END_TEST

START_TEST(lines_truncate_cuts_and_skips_the_rest) {
  rill_values_t got = {0};
  const char *parts[] = {"abcdefgh\nxy\n", "0123", "456", "789\r\nlast12345"};
  static const char *const want[] = {"abcd", "xy", "0123", "last"};
  ck_assert_int_eq(lines_collect(4, parts, 4, true, &got, NULL), 0);
  expect_lines(&got, want, 4);
  rill_values_clear(&got);
}
END_TEST

START_TEST(lines_binary_garbage_and_nul_bytes) {
  unsigned char in[600];
  size_t n = 0;
  for (int i = 0; i < 256; i++) /* every byte value but the newline */
    if (i != '\n')
      in[n++] = (unsigned char)i;
  in[n++] = '\n';
  in[n++] = 0;
  in[n++] = 0;
  in[n++] = '\n';
  in[n++] = 0xff;
  in[n++] = '\r';
  in[n++] = 0;
  rill_value_t v[3] = {bufv(in, 100), bufv(in + 100, 100),
                       bufv(in + 200, n - 200)};
  rill_observable_t *o = rill_lines(rill_from_array(v, 3), 512, false);
  rill_values_t got = {0};
  ck_assert_int_eq(rill_observable_collect(o, &got, NULL), 0);
  ck_assert_uint_eq(got.len, 3);
  expect_buf(got.items[0], in, 255);
  expect_buf(got.items[1], "\0\0", 2);
  expect_buf(got.items[2], "\xff\r\0", 3);
  rill_values_clear(&got);
  rill_observable_free(o);
}
END_TEST

START_TEST(lines_rejects_values_that_are_not_buffers) {
  rill_observable_t *o = rill_lines(rill_range(0, 3), 16, false);
  rill_values_t got = {0};
  rill_error_t err;
  ck_assert_int_eq(rill_observable_collect(o, &got, &err), RILL_EINVAL);
  ck_assert_uint_eq(got.len, 0);
  rill_observable_free(o);
  errno = 0;
  ck_assert_ptr_null(rill_lines(NULL, 16, false));
  ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Upstream of lines: the listed chunks, counting pulls. */
struct str_gen {
  const char *const *parts;
  size_t n;
  long pulls;
};

static int str_next(void *state, rill_value_t *out) {
  struct str_gen *g = state;
  if ((size_t)g->pulls >= g->n)
    return 0;
  *out = strv(g->parts[g->pulls++]);
  return 1;
}

START_TEST(lines_one_line_per_request_and_input_only_when_needed) {
  static const char *const parts[] = {"l1\nl2\nl3\n", "l4\nl", "5\n"};
  struct str_gen g = {parts, 3, 0};
  rill_observable_t *o =
      rill_lines(rill_generate(NULL, str_next, NULL, &g), 16, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(g.pulls, 1);
  rec_request(&r, 2); /* l2, l3 come from the buffer already held */
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(g.pulls, 1);
  rec_request(&r, 1); /* l4: one more buffer */
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(g.pulls, 2);
  rec_request(&r, 1); /* l5 spans two buffers */
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(g.pulls, 3);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1); /* end of input */
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  static const char *const want[] = {"l1", "l2", "l3", "l4", "l5"};
  expect_lines(&r.values, want, 5);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

static int not_empty(void *ctx, rill_value_t v) {
  (void)ctx;
  return rill_buf_len(v.as.buf) > 0;
}

START_TEST(lines_with_a_filter_downstream_keep_demand_exact) {
  /* A fused filter that drops lines does not consume demand: lines goes
   * on to the next line by itself, and never emits beyond demand. */
  const char *parts[] = {"a\n\n\n", "b\n", "\n\nc"};
  rill_observable_t *o =
      rill_filter(rill_lines(chunks(3, parts), 8, false), not_empty, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  ck_assert_int_eq(r.nexts, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 2);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_rec_ok(&r);
  expect_lines(&r.values, (const char *const[]){"a", "b", "c"}, 3);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

/* The reference: split the whole input at once. */
#define REF_MAX 32
struct ref {
  unsigned char line[REF_MAX][REF_MAX];
  size_t len[REF_MAX];
  size_t n;
  bool overflow;
};

static void ref_split(const unsigned char *in, size_t len, size_t max,
                      bool truncate, struct ref *r) {
  size_t pos = 0;
  r->n = 0;
  r->overflow = false;
  while (pos < len) {
    const unsigned char *nl = memchr(in + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - in) : len;
    size_t l = end - pos;
    if (l > 0 && in[pos + l - 1] == '\r')
      l--;
    if (l > max) {
      if (!truncate) {
        r->overflow = true;
        return;
      }
      l = max;
    }
    memcpy(r->line[r->n], in + pos, l);
    r->len[r->n++] = l;
    pos = end + 1;
  }
}

START_TEST(lines_match_a_reference_on_random_input) {
  static const char alphabet[] = {'a', 'b', '\r', '\n', '\0'};
  unsigned seed = 12345;
  long rounds = tl_scaled(4000) < 300 ? 300 : tl_scaled(4000);
  for (long round = 0; round < rounds; round++) {
    unsigned char in[20];
    seed = seed * 1103515245u + 12345u;
    size_t len = (seed >> 16) % 19;
    for (size_t i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      in[i] = (unsigned char)alphabet[(seed >> 16) % 5];
    }
    seed = seed * 1103515245u + 12345u;
    size_t max = 1 + (seed >> 16) % 5;
    bool truncate = (seed >> 20) & 1;
    bool one_by_one = (seed >> 21) & 1;
    /* cut into up to 4 chunks (empty ones included) */
    size_t cut[5] = {0, 0, 0, 0, len};
    for (int k = 1; k < 4; k++) {
      seed = seed * 1103515245u + 12345u;
      cut[k] = len ? (seed >> 16) % (len + 1) : 0;
    }
    for (int k = 1; k < 4; k++) /* sort */
      for (int m = k + 1; m < 4; m++)
        if (cut[m] < cut[k]) {
          size_t t = cut[k];
          cut[k] = cut[m];
          cut[m] = t;
        }
    rill_value_t v[4];
    for (int k = 0; k < 4; k++)
      v[k] = bufv(in + cut[k], cut[k + 1] - cut[k]);
    struct ref want;
    ref_split(in, len, max, truncate, &want);
    rill_observable_t *o = rill_lines(rill_from_array(v, 4), max, truncate);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = one_by_one ? 1 : RILL_UNBOUNDED;
    r.request_in_next = one_by_one ? 1 : 0;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    ck_assert_rec_ok(&r);
    ck_assert_msg(r.terminal == (want.overflow ? REC_ERROR : REC_COMPLETE),
                  "round %ld: terminal %d", round, r.terminal);
    if (want.overflow)
      ck_assert_int_eq(r.err.code, RILL_EOVERFLOW);
    ck_assert_msg(r.values.len == want.n, "round %ld: %zu lines, want %zu",
                  round, r.values.len, want.n);
    for (size_t i = 0; i < want.n; i++)
      expect_buf(r.values.items[i], want.line[i], want.len[i]);
    rec_clear(&r);
    rill_observable_free(o);
  }
}
END_TEST

START_TEST(lines_out_of_memory_at_every_allocation) {
  /* Each allocation fails in turn: the stream ends cleanly (complete or
   * RILL_ENOMEM), and nothing leaks. */
  for (long k = 0;; k++) {
    tl_alloc_install();
    tl_fail_at = k;
    static const char *const parts[] = {"abc\nde", "f\r\ng",
                                        "hijklmnopqrstuvwxyz\n"};
    rill_value_t v[3];
    size_t made = 0;
    for (; made < 3; made++) {
      rill_buf_t *b = rill_buf_from(parts[made], strlen(parts[made]));
      if (b == NULL)
        break;
      v[made] = rill_value_buf(b);
    }
    rill_observable_t *o = NULL;
    if (made == 3) {
      o = rill_lines(rill_from_array(v, 3), 8, true);
    } else {
      for (size_t i = 0; i < made; i++)
        rill_value_release(v[i]);
    }
    int rc = RILL_ENOMEM;
    rill_values_t got = {0};
    if (o != NULL) {
      rc = rill_observable_collect(o, &got, NULL);
      rill_observable_free(o);
    } else if (made == 3) {
      ck_assert_int_eq(errno, ENOMEM);
    }
    /* a completion, even after an injected failure, has every line: never
     * a quiet completion with lines missing (issue 7 section 7) */
    if (rc == 0) {
      static const char *const want[] = {"abc", "def", "ghijklmn"};
      ck_assert_msg(got.len == 3, "k=%ld: completed with %zu lines of 3", k,
                    got.len);
      for (size_t i = 0; i < 3; i++)
        expect_buf(got.items[i], want[i], strlen(want[i]));
    }
    rill_values_clear(&got);
    long attempted = tl_alloc_index;
    ck_assert_int_eq(tl_live, 0);
    tl_alloc_uninstall();
    ck_assert_msg(rc == 0 || rc == RILL_ENOMEM, "k=%ld rc=%d", k, rc);
    if (k >= attempted) {
      ck_assert_int_eq(rc, 0);
      break;
    }
  }
}
END_TEST

/* ---- from_fd / to_fd on pipes and socketpairs -----------------------------*/

START_TEST(pipe_lines_round_trip) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  static const char text[] = "hello\nworld\r\n\nlast";
  ck_assert_int_eq(write(p[1], text, sizeof(text) - 1),
                   (ssize_t)sizeof(text) - 1);
  close(p[1]);
  /* chunk 4: every line crosses reads */
  rill_observable_t *o =
      rill_lines(rill_from_fd(f.s, p[0], 4, RILL_FD_CLOSE), 64, false);
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  fx_run(&f);
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  static const char *const want[] = {"hello", "world", "", "last"};
  expect_lines(&r.values, want, 4);
  ck_assert(!fd_is_open(p[0])); /* RILL_FD_CLOSE closed it */
  rec_clear(&r);
  rill_observable_free(o);
  fx_fini(&f);
}
END_TEST

START_TEST(from_fd_reads_a_regular_file) {
  /* epoll cannot watch regular files; libev reports them always ready */
  fx_t f;
  fx_init(&f);
  char path[] = "/tmp/rill-check-fd-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  unlink(path);
  static const char text[] = "first\nsecond\r\nthird";
  ck_assert_int_eq(write(fd, text, sizeof(text) - 1),
                   (ssize_t)sizeof(text) - 1);
  ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
  rill_observable_t *o =
      rill_lines(rill_from_fd(f.s, fd, 5, RILL_FD_CLOSE), 64, false);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  fx_run(&f);
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  expect_lines(&r.values, (const char *const[]){"first", "second", "third"}, 3);
  ck_assert(!fd_is_open(fd));
  rec_clear(&r);
  rill_observable_free(o);
  fx_fini(&f);
}
END_TEST

/* to_fd -> fd pair -> from_fd, `total` pattern bytes. */
static void round_trip(int wfd, int rfd, size_t total, size_t piece,
                       size_t chunk) {
  fx_t f;
  fx_init(&f);
  struct pat_gen g = {.total = total, .size = piece};
  rill_observable_t *src = rill_generate(NULL, pat_next, NULL, &g);
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, wfd, RILL_FD_CLOSE, done_cb, &d, NULL),
                   0);
  rill_observable_free(src); /* to_fd keeps what it needs */
  rill_observable_t *in = rill_from_fd(f.s, rfd, chunk, RILL_FD_CLOSE);
  bsink_t b = {.initial = RILL_UNBOUNDED, .check_pattern = true};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, 0);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  ck_assert_int_eq(b.violations, 0);
  ck_assert_uint_eq(b.bytes, total);
  ck_assert_uint_eq(b.bad, 0);
  ck_assert(!fd_is_open(wfd) && !fd_is_open(rfd));
  rill_observable_free(in);
  fx_fini(&f);
}

START_TEST(pipe_to_fd_from_fd_round_trip) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  /* several times the pipe buffer: to_fd must wait for writability */
  round_trip(p[1], p[0],
             (size_t)tl_scaled_min(2 << 20, 4 * fd_buffer_size(p[1])) + 12345,
             65536, 0);
}
END_TEST

START_TEST(socketpair_to_fd_from_fd_round_trip) {
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  round_trip(sv[0], sv[1],
             (size_t)tl_scaled_min(2 << 20, 4 * fd_buffer_size(sv[0])) + 777,
             10000, 4096);
}
END_TEST

/* ---- backpressure ---------------------------------------------------------*/

/* A byte-counting allocator: how much rill holds at most. */
static size_t mem_live, mem_peak;
typedef union {
  size_t n;
  max_align_t align;
} mem_hdr;

static void *mem_malloc(size_t n) {
  mem_hdr *h = malloc(sizeof(mem_hdr) + n);
  if (h == NULL)
    return NULL;
  h->n = n;
  mem_live += n;
  if (mem_live > mem_peak)
    mem_peak = mem_live;
  return h + 1;
}

static void *mem_realloc(void *p, size_t n) {
  if (p == NULL)
    return mem_malloc(n);
  mem_hdr *h = (mem_hdr *)p - 1;
  size_t old = h->n;
  mem_hdr *g = realloc(h, sizeof(mem_hdr) + n);
  if (g == NULL)
    return NULL;
  g->n = n;
  mem_live = mem_live - old + n;
  if (mem_live > mem_peak)
    mem_peak = mem_live;
  return g + 1;
}

static void mem_free(void *p) {
  if (p == NULL)
    return;
  mem_hdr *h = (mem_hdr *)p - 1;
  mem_live -= h->n;
  free(h);
}

/* A fast writer: pattern bytes as fast as the fd takes them. */
struct pusher {
  ev_io w;
  int fd;
  size_t total, sent;
  long eagain;
  size_t max_ahead; /* sent - consumed, at most */
  const bsink_t *reader;
};

static void pusher_cb(struct ev_loop *loop, ev_io *w, int revents) {
  (void)revents;
  struct pusher *p = w->data;
  unsigned char buf[16384];
  for (int i = 0; i < 16 && p->sent < p->total; i++) {
    size_t n =
        p->total - p->sent < sizeof(buf) ? p->total - p->sent : sizeof(buf);
    for (size_t j = 0; j < n; j++)
      buf[j] = pat_byte(p->sent + j);
    ssize_t k = write(p->fd, buf, n);
    if (k < 0) {
      ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "writer: errno %d",
                    errno);
      p->eagain++;
      break;
    }
    p->sent += (size_t)k;
    size_t ahead = p->sent - p->reader->bytes;
    if (ahead > p->max_ahead)
      p->max_ahead = ahead;
  }
  if (p->sent == p->total) {
    ev_io_stop(loop, w);
    close(p->fd); /* end of stream for the reader */
  }
}

/* The slow consumer: one buffer per tick. */
struct ticker {
  ev_timer t;
  bsink_t *b;
  long ticks;
};

static void ticker_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)revents;
  struct ticker *k = t->data;
  if (k->b->terminal != REC_NONE) {
    ev_timer_stop(loop, t);
    return;
  }
  k->ticks++;
  if (k->b->requested == k->b->nexts) /* one at a time */
    bs_request(k->b, 1);
}

START_TEST(slow_consumer_pushes_back_a_fast_writer) {
  enum { CHUNK = 16384 };
  size_t total = (size_t)tl_scaled(4 << 20);
  if (total < (1u << 20))
    total = 1u << 20;
  mem_live = mem_peak = 0;
  rill_allocator_set(mem_malloc, mem_realloc, mem_free);
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
  if ((int64_t)total < 4 * fd_buffer_size(sv[0])) /* any RILL_TEST_SCALE */
    total = (size_t)(4 * fd_buffer_size(sv[0]));
  rill_observable_t *in = rill_from_fd(f.s, sv[1], CHUNK, RILL_FD_CLOSE);
  bsink_t b = {.check_pattern = true};
  rill_subscription_t *h;
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, &h), 0);
  struct pusher p = {.fd = sv[0], .total = total, .reader = &b};
  ev_io_init(&p.w, pusher_cb, sv[0], EV_WRITE);
  p.w.data = &p;
  ev_io_start(f.loop, &p.w);
  struct ticker k = {.b = &b};
  ev_timer_init(&k.t, ticker_cb, 0.001, 0.001);
  k.t.data = &k;
  ev_timer_start(f.loop, &k.t);
  fx_run(&f);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  ck_assert_int_eq(b.violations, 0);
  ck_assert_uint_eq(b.bytes, total);
  ck_assert_uint_eq(b.bad, 0);
  /* pushed back: the writer waited on a full socket buffer */
  ck_assert_msg(p.eagain > 0, "the writer never saw EAGAIN");
  /* rill itself held at most a couple of chunks: the rest waited in the
   * kernel (which is what stopping the read watcher is for) */
  ck_assert_msg(mem_peak <= 3 * CHUNK + 8192,
                "rill held up to %zu bytes (chunk %d)", mem_peak, CHUNK);
  ck_assert_msg(b.nexts <= k.ticks + 1, "%lld buffers in %ld ticks",
                (long long)b.nexts, k.ticks);
  fprintf(stderr,
          "fd: slow consumer: %zu bytes in %lld reads over %ld ticks, "
          "writer hit EAGAIN %ld times, at most %zu bytes in flight, "
          "rill peak %zu bytes\n",
          total, (long long)b.nexts, k.ticks, p.eagain, p.max_ahead, mem_peak);
  rill_subscription_free(h);
  rill_observable_free(in);
  fx_fini(&f);
  ck_assert_uint_eq(mem_live, 0);
  rill_allocator_set(NULL, NULL, NULL);
}
END_TEST

/* to_fd towards a reader that does not read: the source is pulled only as
 * far as the kernel buffer and the window allow; cancel through the
 * handle stops the watcher without calling done. */
struct cancel_at {
  ev_timer t;
  rill_subscription_t *h;
  struct pat_gen *g;
  long pulls_seen;
};

static void cancel_at_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  struct cancel_at *c = t->data;
  if (c->g != NULL)
    c->pulls_seen = c->g->pulls;
  rill_subscription_cancel(c->h);
}

START_TEST(to_fd_backpressure_bounds_the_source_and_cancel_stops_it) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  int sndbuf = 65536;
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
  struct pat_gen g = {.total = SIZE_MAX, .size = 65536};
  rill_observable_t *src = rill_generate(NULL, pat_next, NULL, &g);
  struct done_rec d = {0};
  rill_subscription_t *h;
  ck_assert_int_eq(rill_to_fd(src, f.s, sv[0], 0, done_cb, &d, &h), 0);
  ck_assert_ptr_nonnull(h);
  struct cancel_at c = {.h = h, .g = &g};
  ev_timer_init(&c.t, cancel_at_cb, 0.05, 0.);
  c.t.data = &c;
  ev_timer_start(f.loop, &c.t);
  fx_run(&f); /* returns only because the cancel stopped the watcher */
  ck_assert(rill_subscription_done(h));
  ck_assert_int_eq(d.calls, 0); /* no terminal signal after a cancel */
  /* a few buffers in the kernel plus the window of 4, nothing like
   * "everything the generator could make" */
  ck_assert_msg(c.pulls_seen > 0 && c.pulls_seen <= 4 + 16,
                "%ld buffers pulled", c.pulls_seen);
  ck_assert_int_eq(g.pulls, c.pulls_seen); /* nothing after the cancel */
  ck_assert(fd_is_open(sv[0]));            /* no RILL_FD_CLOSE: still ours */
  rill_subscription_free(h);
  rill_observable_free(src);
  close(sv[0]);
  close(sv[1]);
  fx_fini(&f);
}
END_TEST

/* ---- ends: EOF, half-close, reset, EPIPE, closed fds ----------------------*/

START_TEST(half_close_completes_and_the_other_direction_still_works) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ck_assert_int_eq(write(sv[1], "abc", 3), 3);
  ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
  rill_observable_t *in = rill_from_fd(f.s, sv[0], 0, 0);
  unsigned char got[8];
  bsink_t b = {.initial = 10, .keep = got, .keep_cap = sizeof(got)};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(b.terminal, REC_COMPLETE);
  ck_assert_uint_eq(b.bytes, 3);
  ck_assert(memcmp(got, "abc", 3) == 0);
  /* from_fd without RILL_FD_CLOSE left sv[0] open and writable */
  ck_assert_int_eq(write(sv[0], "z", 1), 1);
  char c = 0;
  ck_assert_int_eq(read(sv[1], &c, 1), 1);
  ck_assert_int_eq(c, 'z');
  close(sv[0]);
  close(sv[1]);
  rill_observable_free(in);
  fx_fini(&f);
}
END_TEST

START_TEST(peer_reset_is_an_esys_error) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  /* the peer closes with our data unread: the kernel resets */
  ck_assert_int_eq(write(sv[0], "x", 1), 1);
  close(sv[1]);
  rill_observable_t *in = rill_from_fd(f.s, sv[0], 0, RILL_FD_CLOSE);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(b.terminal, REC_ERROR);
  ck_assert_int_eq(b.err.code, RILL_ESYS);
  ck_assert_int_eq(b.err.sys_errno, ECONNRESET);
  ck_assert_str_eq(b.err.stage, "from_fd");
  ck_assert(!fd_is_open(sv[0]));
  rill_observable_free(in);
  fx_fini(&f);
}
END_TEST

START_TEST(to_fd_epipe_on_a_socket_needs_no_signal_handling) {
  /* SIGPIPE is left at its default here: send(MSG_NOSIGNAL) must keep
   * the process alive (in fork mode a signal would fail the test). */
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  close(sv[1]);
  rill_observable_t *src = rill_just(2, strv("hello"), strv("world"));
  struct done_rec d = {0};
  ck_assert_int_eq(
      rill_to_fd(src, f.s, sv[0], RILL_FD_CLOSE, done_cb, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_ESYS);
  ck_assert_int_eq(d.sys_errno, EPIPE);
  ck_assert(!fd_is_open(sv[0]));
  rill_observable_free(src);
  fx_fini(&f);
}
END_TEST

START_TEST(to_fd_epipe_on_a_pipe_with_sigpipe_ignored) {
  /* For pipes the application ignores SIGPIPE (documented in to_fd.c). */
  void (*old)(int) = signal(SIGPIPE, SIG_IGN);
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  close(p[0]);
  rill_observable_t *src = rill_just(1, strv("data"));
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, p[1], RILL_FD_CLOSE, done_cb, &d, NULL),
                   0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_ESYS);
  ck_assert_int_eq(d.sys_errno, EPIPE);
  rill_observable_free(src);
  fx_fini(&f);
  signal(SIGPIPE, old);
}
END_TEST

START_TEST(to_fd_reports_upstream_errors_and_non_buffers) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  rill_observable_t *parts[2] = {rill_just(1, strv("ok\n")),
                                 rill_error(RILL_EUSER, "boom")};
  rill_observable_t *src = rill_concat(parts, 2);
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, sv[0], 0, done_cb, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_EUSER);
  ck_assert_int_eq(d.sys_errno, 0);
  rill_observable_free(src);
  /* a value that is not a buffer */
  src = rill_range(0, 3);
  d = (struct done_rec){0};
  ck_assert_int_eq(rill_to_fd(src, f.s, sv[0], 0, done_cb, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_EINVAL);
  rill_observable_free(src);
  /* an empty source completes at once */
  src = rill_empty();
  d = (struct done_rec){0};
  ck_assert_int_eq(rill_to_fd(src, f.s, sv[0], 0, done_cb, &d, NULL), 0);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, 0);
  rill_observable_free(src);
  /* argument checks */
  ck_assert_int_eq(rill_to_fd(NULL, f.s, sv[0], 0, done_cb, &d, NULL),
                   RILL_EINVAL);
  src = rill_empty();
  ck_assert_int_eq(rill_to_fd(src, NULL, sv[0], 0, done_cb, &d, NULL),
                   RILL_EINVAL);
  ck_assert_int_eq(rill_to_fd(src, f.s, -1, 0, done_cb, &d, NULL), RILL_EINVAL);
  rill_observable_free(src);
  close(sv[0]);
  close(sv[1]);
  fx_fini(&f);
}
END_TEST

START_TEST(to_fd_reports_a_stage_that_cannot_start) {
  /* no I/O on the virtual scheduler: done(RILL_ENOTSUP), fd closed */
  rill_sched_t *vs = rill_sched_virtual_new();
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  rill_observable_t *src = rill_just(1, strv("x"));
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, vs, sv[0], RILL_FD_CLOSE, done_cb, &d, NULL),
                   0);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_ENOTSUP);
  ck_assert(!fd_is_open(sv[0]));
  rill_observable_free(src);
  close(sv[1]);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}
END_TEST

START_TEST(to_fd_out_of_memory_at_every_allocation) {
  /* Each allocation after setup fails in turn: either rill_to_fd says
   * RILL_ENOMEM and done never runs, or done runs exactly once (0 or
   * RILL_ENOMEM); the fd is closed and nothing leaks, every time. */
  for (long k = 0;; k++) {
    tl_alloc_install();
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    rill_sched_t *s = rill_sched_ev_new(loop);
    ck_assert_ptr_nonnull(s);
    rill_observable_t *src = rill_just(2, strv("hello "), strv("world"));
    ck_assert_ptr_nonnull(src);
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    long setup = tl_alloc_index;
    tl_fail_at = setup + k;
    struct done_rec d = {0};
    int rc = rill_to_fd(src, s, sv[0], RILL_FD_CLOSE, done_cb, &d, NULL);
    /* a watchdog: a hang fails this site instead of the whole run */
    ev_timer dog;
    ev_timer_init(&dog, sweep_dog, FX_LIMIT_S, 0.);
    ev_timer_start(loop, &dog);
    ev_unref(loop);
    ev_run(loop, 0);
    ev_ref(loop);
    bool hung = ev_is_active(&dog) == 0;
    ev_timer_stop(loop, &dog);
    ck_assert_msg(!hung, "k=%ld: the loop never went idle (a hang)", k);
    long attempted = tl_alloc_index - setup;
    tl_fail_at = -1;
    if (rc == 0) {
      ck_assert_int_eq(d.calls, 1);
      ck_assert_msg(d.code == 0 || d.code == RILL_ENOMEM, "k=%ld code=%d", k,
                    d.code);
    } else {
      ck_assert_int_eq(rc, RILL_ENOMEM);
      ck_assert_int_eq(d.calls, 0);
    }
    ck_assert_msg(!fd_is_open(sv[0]), "k=%ld: fd left open", k);
    if (rc == 0 && d.code == 0) {
      /* done(0) after an injected failure: everything was written */
      char buf[32];
      ck_assert_msg(read(sv[1], buf, sizeof(buf)) == 11,
                    "k=%ld: done(0) without the 11 bytes", k);
      ck_assert(memcmp(buf, "hello world", 11) == 0);
    }
    close(sv[1]);
    rill_observable_free(src);
    ck_assert_int_eq(rill_sched_active(s), 0);
    ck_assert_int_eq(rill_sched_free(s), 0);
    ev_loop_destroy(loop);
    ck_assert_int_eq(tl_live, 0);
    tl_alloc_uninstall();
    if (k >= attempted) {
      ck_assert_int_eq(rc, 0);
      ck_assert_int_eq(d.code, 0);
      break;
    }
  }
}
END_TEST

START_TEST(closed_fd_is_a_clean_error) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  close(p[0]);
  close(p[1]);
  rill_observable_t *in = rill_from_fd(f.s, p[0], 0, RILL_FD_CLOSE);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  ck_assert_int_eq(b.terminal, REC_ERROR); /* right after on_subscribe */
  ck_assert_int_eq(b.err.code, RILL_ESYS);
  ck_assert_int_eq(b.err.sys_errno, EBADF);
  ck_assert_int_eq(rill_sched_active(f.s), 0);
  rill_observable_free(in);
  rill_observable_t *src = rill_just(1, strv("x"));
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, p[1], 0, done_cb, &d, NULL), 0);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_ESYS);
  ck_assert_int_eq(d.sys_errno, EBADF);
  rill_observable_free(src);
  fx_run(&f); /* nothing left: returns at once */
  /* invalid arguments fail at construction */
  errno = 0;
  ck_assert_ptr_null(rill_from_fd(f.s, -1, 0, 0));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_from_fd(NULL, 0, 0, 0));
  ck_assert_ptr_null(rill_from_fd(f.s, 0, 0, 0x100));
  fx_fini(&f);
}
END_TEST

/* Issue 7, defect 5: with stdin closed, libev's epoll fd becomes fd 0, and
 * from_fd(s, 0) ended in a libev assertion (abort).  It is an on_error. */
START_TEST(from_fd_on_the_loops_own_epoll_fd_is_an_error_not_an_abort) {
  int saved = dup(0);
  ck_assert_int_ge(saved, 0);
  close(0);
  fx_t f;
  fx_init(&f); /* the loop's epoll fd takes the lowest free number: 0 */
  int own = fcntl(0, F_GETFD) != -1;
  rill_observable_t *in = rill_from_fd(f.s, 0, 0, RILL_FD_CLOSE);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  rill_observable_free(in);
  fx_run(&f); /* the loop still works: nothing was closed */
  fx_fini(&f);
  dup2(saved, 0);
  close(saved);
  ck_assert_msg(own, "fd 0 was not the loop's");
  ck_assert_int_eq(b.terminal, REC_ERROR);
  ck_assert_int_eq(b.err.code, RILL_ESYS);
  ck_assert_int_eq(b.err.sys_errno, EINVAL);
  ck_assert_ptr_nonnull(strstr(b.err.message, "fd 0 cannot be watched"));
}
END_TEST

/* Issue 7, defect 5: a write-only fd neither read nor failed; a read-only
 * one given to to_fd is the mirror case. */
START_TEST(fd_opened_the_wrong_way_is_an_error_at_subscribe) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  rill_observable_t *in = rill_from_fd(f.s, p[1], 0, 0);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  ck_assert_int_eq(b.terminal, REC_ERROR);
  ck_assert_int_eq(b.err.code, RILL_ESYS);
  ck_assert_int_eq(b.err.sys_errno, EBADF);
  ck_assert_msg(strstr(b.err.message, "is open for writing only") != NULL,
                "%s", b.err.message);
  rill_observable_free(in);
  rill_observable_t *src = rill_just(1, strv("x"));
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, p[0], 0, done_cb, &d, NULL), 0);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_eq(d.code, RILL_ESYS);
  ck_assert_int_eq(d.sys_errno, EBADF);
  rill_observable_free(src);
  fx_run(&f);
  ck_assert(fd_is_open(p[0]) && fd_is_open(p[1])); /* not ours to close */
  close(p[0]);
  close(p[1]);
  fx_fini(&f);
}
END_TEST

/* Issue 7, defect 5: from_fd made the fd non-blocking for good, leaving a
 * shell that shares the terminal with a non-blocking stdin. */
START_TEST(fd_flags_are_restored_when_the_stream_ends) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  /* ended by cancel */
  rill_observable_t *in = rill_from_fd(f.s, p[0], 0, 0);
  bsink_t b = {.initial = 1};
  rill_subscription_t *h;
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, &h), 0);
  ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  rill_subscription_cancel(h);
  rill_subscription_free(h);
  ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  /* ended by end of file */
  bsink_t b2 = {.initial = 8};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b2, NULL), 0);
  ck_assert_int_eq(write(p[1], "abc", 3), 3);
  close(p[1]);
  fx_run(&f);
  ck_assert_int_eq(b2.terminal, REC_COMPLETE);
  ck_assert_int_eq(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
  rill_observable_free(in);
  /* to_fd too; a non-blocking fd stays non-blocking */
  ck_assert_int_eq(pipe(p), 0);
  rill_observable_t *src = rill_just(1, strv("x"));
  struct done_rec d = {0};
  ck_assert_int_eq(rill_to_fd(src, f.s, p[1], 0, done_cb, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.code, 0);
  ck_assert_int_eq(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
  fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
  d.calls = 0;
  ck_assert_int_eq(rill_to_fd(src, f.s, p[1], 0, done_cb, &d, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(d.calls, 1);
  ck_assert_int_ne(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
  rill_observable_free(src);
  close(p[0]);
  close(p[1]);
  fx_fini(&f);
}
END_TEST

/* Issue 7, defect 6: one rule for RILL_FD_CLOSE: ownership passes at the
 * call, so a call that fails closes the fd (tcp_accept and to_fd did not). */
START_TEST(fd_close_flag_closes_on_a_failed_call_everywhere) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_ptr_null(rill_from_fd(NULL, p[0], 0, RILL_FD_CLOSE));
  ck_assert(!fd_is_open(p[0]));
  ck_assert_ptr_null(rill_tcp_accept(NULL, p[1], RILL_FD_CLOSE));
  ck_assert(!fd_is_open(p[1]));
  ck_assert_int_eq(pipe(p), 0);
  rill_observable_t *src = rill_just(1, strv("x"));
  ck_assert_int_eq(
      rill_to_fd(src, NULL, p[1], RILL_FD_CLOSE, done_cb, NULL, NULL),
      RILL_EINVAL);
  ck_assert(!fd_is_open(p[1]));
  /* without the flag nothing is closed */
  ck_assert_ptr_null(rill_tcp_accept(NULL, p[0], 0));
  ck_assert(fd_is_open(p[0]));
  close(p[0]);
  rill_observable_free(src);
}
END_TEST

/* Issue 7, defect 3: `*out` used to be written after subscribe returned, so
 * a done() that ran synchronously and freed the handle freed NULL and the
 * real handle leaked (valgrind and ASan see the leak). */
static void done_frees_handle(void *ctx, int code, int sys_errno) {
  (void)sys_errno;
  rill_subscription_t **h = ctx;
  ck_assert_ptr_nonnull(*h);
  ck_assert_int_eq(code, 0);
  rill_subscription_free(*h);
  *h = NULL;
}

START_TEST(to_fd_done_may_free_the_handle_synchronously) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  rill_observable_t *src = rill_just(2, strv("ab"), strv("cd"));
  rill_subscription_t *h = NULL;
  ck_assert_int_eq(
      rill_to_fd(src, f.s, p[1], 0, done_frees_handle, &h, &h), 0);
  ck_assert_ptr_null(h); /* done ran inside rill_to_fd and freed it */
  rill_observable_free(src);
  fx_run(&f);
  char buf[8];
  ck_assert_int_eq(read(p[0], buf, sizeof(buf)), 4);
  close(p[0]);
  close(p[1]);
  fx_fini(&f);
}
END_TEST

START_TEST(fd_errors_speak_the_users_terms) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  close(p[0]);
  close(p[1]);
  rill_observable_t *in = rill_from_fd(f.s, p[0], 0, 0);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  char want[96];
  snprintf(want, sizeof(want), "from_fd: fd %d is not open: %s", p[0],
           strerror(EBADF));
  ck_assert_str_eq(b.err.message, want);
  rill_observable_free(in);
  fx_fini(&f);
}
END_TEST

START_TEST(from_fd_needs_a_scheduler_with_io) {
  rill_sched_t *vs = rill_sched_virtual_new();
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  rill_observable_t *in = rill_from_fd(vs, p[0], 0, 0);
  bsink_t b = {.initial = 1};
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, NULL), 0);
  ck_assert_int_eq(b.terminal, REC_ERROR);
  ck_assert_int_eq(b.err.code, RILL_ENOTSUP);
  rill_observable_free(in);
  close(p[0]);
  close(p[1]);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}
END_TEST

/* ---- cancel ---------------------------------------------------------------*/

START_TEST(cancel_while_reading_stops_the_watcher) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  rill_observable_t *in =
      rill_lines(rill_from_fd(f.s, sv[0], 0, RILL_FD_CLOSE), 64, false);
  bsink_t b = {.initial = 5};
  rill_subscription_t *h;
  ck_assert_int_eq(rill_observable_subscribe(in, &bsink_sub, &b, &h), 0);
  ck_assert_int_eq(rill_sched_active(f.s), 1); /* waiting to read */
  ck_assert_int_eq(write(sv[1], "partial line", 12), 12);
  struct cancel_at c = {.h = h};
  ev_timer_init(&c.t, cancel_at_cb, 0.03, 0.);
  c.t.data = &c;
  ev_timer_start(f.loop, &c.t);
  fx_run(&f); /* returns: the cancel stopped the only watcher */
  ck_assert_int_eq(rill_sched_active(f.s), 0);
  ck_assert_int_eq(b.terminal, REC_NONE);
  ck_assert_int_eq(b.nexts, 0);
  ck_assert(!fd_is_open(sv[0])); /* closed on the cancel path too */
  rill_subscription_free(h);
  rill_observable_free(in);
  close(sv[1]);
  fx_fini(&f);
}
END_TEST

static void cancel_in_next(void *ctx, rill_value_t v) {
  bsink_t *b = ctx;
  bs_next(ctx, v);
  rill_subscription_cancel(b->s);
}

START_TEST(cancel_from_on_next_stops_the_watcher) {
  fx_t f;
  fx_init(&f);
  int sv[2];
  ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  char big[8192];
  memset(big, 'q', sizeof(big));
  ck_assert_int_eq(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
  rill_observable_t *in = rill_from_fd(f.s, sv[0], 1024, 0);
  bsink_t b = {.initial = RILL_UNBOUNDED};
  rill_subscriber_t sub = bsink_sub;
  sub.on_next = cancel_in_next;
  ck_assert_int_eq(rill_observable_subscribe(in, &sub, &b, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(b.nexts, 1);
  ck_assert_int_eq(b.terminal, REC_NONE);
  rill_observable_free(in);
  close(sv[0]);
  close(sv[1]);
  fx_fini(&f);
}
END_TEST

static int odd_digit(void *ctx, rill_value_t v) {
  (void)ctx;
  return (rill_buf_data(v.as.buf)[0] - '0') % 2 == 1;
}

START_TEST(from_fd_with_a_filter_downstream_keeps_demand_exact) {
  fx_t f;
  fx_init(&f);
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  ck_assert_int_eq(write(p[1], "0123456789", 10), 10);
  close(p[1]);
  /* one byte per read; the filter drops the even digits */
  rill_observable_t *o =
      rill_filter(rill_from_fd(f.s, p[0], 1, RILL_FD_CLOSE), odd_digit, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 5; /* exactly the odd digits */
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  fx_run(&f); /* returns: with no demand left the watcher is stopped */
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.nexts, 5);
  /* end of file is noticed by a read, and reads need demand */
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  fx_run(&f);
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  expect_lines(&r.values, (const char *const[]){"1", "3", "5", "7", "9"}, 5);
  rec_clear(&r);
  rill_observable_free(o);
  fx_fini(&f);
}
END_TEST

START_TEST(overlong_line_from_a_pipe_in_both_modes) {
  for (int truncate = 0; truncate <= 1; truncate++) {
    fx_t f;
    fx_init(&f);
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
    /* "short\n" + 30000 x's + "\nafter\n", written while it fits */
    static char data[30000 + 16];
    size_t n = 0;
    memcpy(data, "short\n", 6);
    n = 6;
    memset(data + n, 'x', 30000);
    n += 30000;
    memcpy(data + n, "\nafter\n", 7);
    n += 7;
    ck_assert_int_eq(write(p[1], data, n), (ssize_t)n);
    close(p[1]);
    rill_observable_t *o =
        rill_lines(rill_from_fd(f.s, p[0], 1000, RILL_FD_CLOSE), 100, truncate);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = RILL_UNBOUNDED;
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    fx_run(&f);
    ck_assert_rec_ok(&r);
    if (truncate) {
      ck_assert_int_eq(r.terminal, REC_COMPLETE);
      ck_assert_uint_eq(r.values.len, 3);
      expect_buf(r.values.items[0], "short", 5);
      ck_assert_uint_eq(rill_buf_len(r.values.items[1].as.buf), 100);
      expect_buf(r.values.items[2], "after", 5);
    } else {
      ck_assert_int_eq(r.terminal, REC_ERROR);
      ck_assert_int_eq(r.err.code, RILL_EOVERFLOW);
      ck_assert_uint_eq(r.values.len, 1);
    }
    ck_assert(!fd_is_open(p[0])); /* the error cancelled from_fd: closed */
    rec_clear(&r);
    rill_observable_free(o);
    fx_fini(&f);
  }
}
END_TEST

START_TEST(from_fd_out_of_memory_at_every_allocation) {
  for (long k = 0;; k++) {
    tl_alloc_install();
    tl_fail_at = k;
    rill_sched_t *s = NULL;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    s = rill_sched_ev_new(loop);
    int rc = RILL_ENOMEM;
    if (s != NULL) {
      int p[2];
      ck_assert_int_eq(pipe(p), 0);
      ck_assert_int_eq(write(p[1], "ab\ncd\nef", 8), 8);
      close(p[1]);
      errno = 0;
      rill_observable_t *o =
          rill_lines(rill_from_fd(s, p[0], 3, RILL_FD_CLOSE), 16, false);
      if (o == NULL)
        ck_assert_msg(errno == ENOMEM, "k=%ld: NULL with errno %d", k, errno);
      unsigned char kept[16];
      bsink_t b = {.initial = RILL_UNBOUNDED,
                   .keep = kept,
                   .keep_cap = sizeof(kept)};
      int sub_rc =
          o != NULL ? rill_observable_subscribe(o, &bsink_sub, &b, NULL) : 0;
      if (sub_rc != 0)
        ck_assert_msg(sub_rc == RILL_ENOMEM, "k=%ld: subscribe gave %s", k,
                      rill_err_name(sub_rc));
      if (o != NULL && sub_rc == 0) {
        ev_timer dog;
        ev_timer_init(&dog, sweep_dog, FX_LIMIT_S, 0.);
        ev_timer_start(loop, &dog);
        ev_unref(loop);
        ev_run(loop, 0);
        ev_ref(loop);
        bool hung = ev_is_active(&dog) == 0;
        ev_timer_stop(loop, &dog);
        ck_assert_msg(!hung, "k=%ld: the loop never went idle (a hang)", k);
        ck_assert_msg(b.terminal != REC_NONE, "k=%ld: no terminal", k);
        ck_assert_int_eq(b.violations, 0);
        rc = b.terminal == REC_COMPLETE ? 0 : b.err.code;
        if (rc == 0) { /* complete only with every line, in order */
          ck_assert_msg(b.nexts == 3, "k=%ld: completed with %lld lines of 3",
                        k, (long long)b.nexts);
          ck_assert_uint_eq(b.bytes, 6);
          ck_assert(memcmp(kept, "abcdef", 6) == 0);
        }
      }
      rill_observable_free(o);
      /* RILL_FD_CLOSE holds on every path, failed constructors included */
      ck_assert_msg(!fd_is_open(p[0]), "k=%ld: fd left open", k);
      ck_assert_int_eq(rill_sched_active(s), 0);
      ck_assert_int_eq(rill_sched_free(s), 0);
    }
    ev_loop_destroy(loop);
    long attempted = tl_alloc_index;
    ck_assert_int_eq(tl_live, 0);
    tl_alloc_uninstall();
    ck_assert_msg(rc == 0 || rc == RILL_ENOMEM, "k=%ld rc=%d", k, rc);
    if (k >= attempted) {
      ck_assert_int_eq(rc, 0);
      break;
    }
  }
}
END_TEST

/* ---- TCP ------------------------------------------------------------------*/

/* An echo server for one client, and a client that sends numbered lines,
 * half-closes, and reads the echo back through lines(). */
struct echo {
  fx_t *f;
  rill_subscription_t *accept_h;
  rill_value_t srv_conn;
  bool has_srv_conn;
  struct done_rec srv_done;
  int accepted;
  rill_value_t cli_conn;
  bool has_cli_conn;
  struct done_rec cli_done;
  rill_observable_t *payload;
  rec_t lines;
};

static void srv_done_cb(void *ctx, int code, int sys_errno) {
  struct echo *e = ctx;
  done_cb(&e->srv_done, code, sys_errno);
  /* echo finished: close the connection, stop accepting */
  rill_value_release(e->srv_conn);
  e->has_srv_conn = false;
  rill_subscription_cancel(e->accept_h);
}

static void srv_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  rill_subscription_request(s, 1);
}

static void srv_next(void *ctx, rill_value_t conn) {
  struct echo *e = ctx;
  e->accepted++;
  ck_assert_int_eq(conn.kind, RILL_KIND_OWNED);
  int fd = rill_conn_fd(conn);
  ck_assert_int_ge(fd, 0);
  e->srv_conn = conn; /* keeps the socket open while the echo runs */
  e->has_srv_conn = true;
  rill_observable_t *in = rill_from_fd(e->f->s, fd, 4096, 0);
  ck_assert_int_eq(rill_to_fd(in, e->f->s, fd, 0, srv_done_cb, e, NULL), 0);
  rill_observable_free(in);
}

static void cli_done_cb(void *ctx, int code, int sys_errno) {
  struct echo *e = ctx;
  done_cb(&e->cli_done, code, sys_errno);
  shutdown(rill_conn_fd(e->cli_conn), SHUT_WR); /* "that was all" */
}

static void cli_next(void *ctx, rill_value_t conn) {
  struct echo *e = ctx;
  e->cli_conn = conn;
  e->has_cli_conn = true;
  int fd = rill_conn_fd(conn);
  ck_assert_int_ge(fd, 0);
  rill_observable_t *in =
      rill_lines(rill_from_fd(e->f->s, fd, 0, 0), 64, false);
  e->lines.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&e->lines, in), 0);
  rill_observable_free(in);
  ck_assert_int_eq(rill_to_fd(e->payload, e->f->s, fd, 0, cli_done_cb, e, NULL),
                   0);
}

static const rill_subscriber_t srv_sub = {.on_subscribe = srv_subscribe,
                                          .on_next = srv_next};
static const rill_subscriber_t cli_sub = {.on_subscribe = srv_subscribe,
                                          .on_next = cli_next};

struct numbered {
  long next, count;
};

static int numbered_next(void *state, rill_value_t *out) {
  struct numbered *g = state;
  if (g->next >= g->count)
    return 0;
  char text[4096];
  size_t n = 0;
  while (g->next < g->count && n < sizeof(text) - 32)
    n += (size_t)snprintf(text + n, sizeof(text) - n, "line %ld\n", g->next++);
  *out = bufv(text, n);
  return 1;
}

static void tcp_echo(const char *host) {
  int port = 0;
  int lfd = rill_tcp_listen(host, 0, &port);
  if (lfd < 0 && strchr(host, ':') != NULL) {
    fprintf(stderr,
            "fd: SKIPPED tcp round trip on %s: no IPv6 loopback here "
            "(rill_tcp_listen: %s, errno %d)\n",
            host, rill_err_name(lfd), errno);
    return;
  }
  ck_assert_int_ge(lfd, 0);
  ck_assert_int_gt(port, 0);
  fx_t f;
  fx_init(&f);
  struct echo e;
  memset(&e, 0, sizeof(e));
  e.f = &f;
  rec_init(&e.lines);
  /* at least 4 pipe buffers' worth of bytes ("line N\n" is >= 7 bytes,
   * most are 10 or more), whatever RILL_TEST_SCALE says */
  struct numbered g = {0, (long)tl_scaled_min(20000, 4 * pipe_buffer_size() / 7)};
  e.payload = rill_generate(NULL, numbered_next, NULL, &g);
  rill_observable_t *acc = rill_tcp_accept(f.s, lfd, RILL_FD_CLOSE);
  ck_assert_int_eq(rill_observable_subscribe(acc, &srv_sub, &e, &e.accept_h),
                   0);
  rill_observable_t *conn = rill_tcp_connect(f.s, host, port);
  ck_assert_ptr_nonnull(conn);
  ck_assert_int_eq(rill_observable_subscribe(conn, &cli_sub, &e, NULL), 0);
  fx_run(&f);
  ck_assert_int_eq(e.accepted, 1);
  ck_assert_int_eq(e.srv_done.calls, 1);
  ck_assert_int_eq(e.srv_done.code, 0);
  ck_assert_int_eq(e.cli_done.calls, 1);
  ck_assert_int_eq(e.cli_done.code, 0);
  ck_assert_rec_ok(&e.lines);
  ck_assert_int_eq(e.lines.terminal, REC_COMPLETE);
  ck_assert_uint_eq(e.lines.values.len, (size_t)g.count);
  for (long i = 0; i < g.count; i++) {
    char want[32];
    int n = snprintf(want, sizeof(want), "line %ld", i);
    expect_buf(e.lines.values.items[i], want, (size_t)n);
  }
  ck_assert(!fd_is_open(lfd)); /* accept's RILL_FD_CLOSE */
  ck_assert(e.has_cli_conn && !e.has_srv_conn);
  rill_value_release(e.cli_conn);
  rec_clear(&e.lines);
  rill_subscription_free(e.accept_h);
  rill_observable_free(e.payload);
  rill_observable_free(acc);
  rill_observable_free(conn);
  fx_fini(&f);
}

START_TEST(tcp_ipv4_listen_accept_connect_round_trip) {
  tcp_echo("127.0.0.1");
}
END_TEST

START_TEST(tcp_ipv6_listen_accept_connect_round_trip) {
  tcp_echo("::1");
}
END_TEST

START_TEST(tcp_connect_refused_is_esys) {
  fx_t f;
  fx_init(&f);
  /* a bound port with no listener refuses, and stays ours meanwhile */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
  socklen_t len = sizeof(sa);
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  rill_observable_t *o = rill_tcp_connect(f.s, "127.0.0.1", ntohs(sa.sin_port));
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  fx_run(&f);
  ck_assert_rec_ok(&r);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_ESYS);
  ck_assert_int_eq(r.err.sys_errno, ECONNREFUSED);
  ck_assert_str_eq(r.err.stage, "tcp_connect");
  rec_clear(&r);
  rill_observable_free(o);
  close(fd);
  fx_fini(&f);
}
END_TEST

/* accept without demand leaves clients in the backlog. */
struct accept_steps {
  ev_timer t;
  rec_t *acc;
  rec_t *cli;
  int step;
  int64_t nexts_before;
};

static void accept_steps_cb(struct ev_loop *loop, ev_timer *t, int revents) {
  (void)loop;
  (void)revents;
  struct accept_steps *a = t->data;
  if (a->step++ == 0) {
    a->nexts_before = a->acc->nexts;
    rec_request(a->acc, 1);
    ev_timer_set(t, 0.05, 0.); /* libev: set again before a restart */
    ev_timer_start(loop, t);
  } else {
    rec_cancel(a->acc);
  }
}

START_TEST(tcp_accept_emits_only_with_demand) {
  fx_t f;
  fx_init(&f);
  int port = 0;
  int lfd = rill_tcp_listen("127.0.0.1", 0, &port);
  ck_assert_int_ge(lfd, 0);
  rill_observable_t *acc = rill_tcp_accept(f.s, lfd, RILL_FD_CLOSE);
  rec_t ra, rc;
  rec_init(&ra);
  rec_init(&rc);
  ck_assert_int_eq(rec_subscribe(&ra, acc), 0); /* no request yet */
  ck_assert_int_eq(rill_sched_active(f.s), 0);  /* not even watching */
  rill_observable_t *conn = rill_tcp_connect(f.s, "127.0.0.1", port);
  rc.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&rc, conn), 0);
  struct accept_steps a = {.acc = &ra, .cli = &rc};
  ev_timer_init(&a.t, accept_steps_cb, 0.05, 0.);
  a.t.data = &a;
  ev_timer_start(f.loop, &a.t);
  fx_run(&f);
  ck_assert_int_eq(a.nexts_before, 0); /* the client waited in the backlog */
  ck_assert_int_eq(rc.terminal, REC_COMPLETE); /* ... though connected */
  ck_assert_int_eq(rc.nexts, 1);
  ck_assert_int_eq(ra.nexts, 1); /* one request, one connection */
  ck_assert_rec_ok(&ra);
  ck_assert_rec_ok(&rc);
  ck_assert(!fd_is_open(lfd));
  /* rill_conn_take: the value then releases without closing */
  int fd = rill_conn_take(rc.values.items[0]);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(rill_conn_fd(rc.values.items[0]), RILL_EINVAL);
  ck_assert_int_eq(rill_conn_take(rc.values.items[0]), RILL_EINVAL);
  rec_clear(&rc);
  ck_assert(fd_is_open(fd));
  close(fd);
  int afd = rill_conn_fd(ra.values.items[0]);
  ck_assert_int_ge(afd, 0);
  rec_clear(&ra); /* releasing the connection closes it */
  ck_assert(!fd_is_open(afd));
  ck_assert_int_eq(rill_conn_fd(rill_value_int(3)), RILL_EINVAL);
  rill_observable_free(acc);
  rill_observable_free(conn);
  fx_fini(&f);
}
END_TEST

START_TEST(tcp_cancel_stops_connect_and_accept) {
  fx_t f;
  fx_init(&f);
  int port = 0;
  int lfd = rill_tcp_listen("127.0.0.1", 0, &port);
  ck_assert_int_ge(lfd, 0);
  rill_observable_t *acc = rill_tcp_accept(f.s, lfd, 0);
  rill_observable_t *conn = rill_tcp_connect(f.s, "127.0.0.1", port);
  rec_t ra, rc;
  rec_init(&ra);
  rec_init(&rc);
  ra.request_on_subscribe = 5;
  rc.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&ra, acc), 0);
  ck_assert_int_eq(rec_subscribe(&rc, conn), 0);
  ck_assert_int_eq(rill_sched_active(f.s), 2); /* accepting, connecting */
  rec_cancel(&rc); /* before the connect completed */
  rec_cancel(&ra);
  ck_assert_int_eq(rill_sched_active(f.s), 0);
  fx_run(&f); /* returns at once: nothing of rill's is left */
  ck_assert_int_eq(ra.nexts + rc.nexts, 0);
  ck_assert_int_eq(ra.terminal + rc.terminal, REC_NONE);
  ck_assert(fd_is_open(lfd)); /* accept without RILL_FD_CLOSE */
  close(lfd);
  rill_observable_free(acc);
  rill_observable_free(conn);
  fx_fini(&f);
}
END_TEST

START_TEST(tcp_argument_checks) {
  int port;
  ck_assert_int_eq(rill_tcp_listen("localhost", 0, &port), RILL_EINVAL);
  ck_assert_int_eq(rill_tcp_listen(NULL, 0, &port), RILL_EINVAL);
  ck_assert_int_eq(rill_tcp_listen("127.0.0.1", 70000, &port), RILL_EINVAL);
  rill_sched_t *vs = rill_sched_virtual_new();
  errno = 0;
  ck_assert_ptr_null(rill_tcp_connect(vs, "example.com", 80)); /* no DNS */
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_ptr_null(rill_tcp_connect(vs, "127.0.0.1", 0));
  ck_assert_ptr_null(rill_tcp_connect(NULL, "127.0.0.1", 80));
  ck_assert_ptr_null(rill_tcp_accept(vs, -1, 0));
  ck_assert_int_eq(rill_sched_free(vs), 0);
}
END_TEST

Suite *fd_suite(void) {
  Suite *s = suite_create("fd");
  TCase *tc = tcase_create("lines");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, lines_split_across_every_chunk_boundary);
  tcase_add_test(tc, lines_crlf_and_lone_cr);
  tcase_add_test(tc, lines_final_line_without_newline);
  tcase_add_test(tc, lines_longer_than_max_is_an_error);
  tcase_add_test(tc, lines_truncate_cuts_and_skips_the_rest);
  tcase_add_test(tc, lines_binary_garbage_and_nul_bytes);
  tcase_add_test(tc, lines_rejects_values_that_are_not_buffers);
  tcase_add_test(tc, lines_one_line_per_request_and_input_only_when_needed);
  tcase_add_test(tc, lines_with_a_filter_downstream_keep_demand_exact);
  tcase_add_test(tc, lines_match_a_reference_on_random_input);
  tcase_add_test(tc, lines_out_of_memory_at_every_allocation);
  suite_add_tcase(s, tc);
  tc = tcase_create("pipes");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, pipe_lines_round_trip);
  tcase_add_test(tc, from_fd_reads_a_regular_file);
  tcase_add_test(tc, pipe_to_fd_from_fd_round_trip);
  tcase_add_test(tc, socketpair_to_fd_from_fd_round_trip);
  tcase_add_test(tc, slow_consumer_pushes_back_a_fast_writer);
  tcase_add_test(tc, to_fd_backpressure_bounds_the_source_and_cancel_stops_it);
  tcase_add_test(tc, from_fd_with_a_filter_downstream_keeps_demand_exact);
  tcase_add_test(tc, overlong_line_from_a_pipe_in_both_modes);
  tcase_add_test(tc, from_fd_out_of_memory_at_every_allocation);
  suite_add_tcase(s, tc);
  tc = tcase_create("ends");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, half_close_completes_and_the_other_direction_still_works);
  tcase_add_test(tc, peer_reset_is_an_esys_error);
  tcase_add_test(tc, to_fd_epipe_on_a_socket_needs_no_signal_handling);
  tcase_add_test(tc, to_fd_epipe_on_a_pipe_with_sigpipe_ignored);
  tcase_add_test(tc, to_fd_reports_upstream_errors_and_non_buffers);
  tcase_add_test(tc, to_fd_reports_a_stage_that_cannot_start);
  tcase_add_test(tc, to_fd_out_of_memory_at_every_allocation);
  tcase_add_test(tc, closed_fd_is_a_clean_error);
  tcase_add_test(tc, from_fd_needs_a_scheduler_with_io);
  tcase_add_test(tc, cancel_while_reading_stops_the_watcher);
  tcase_add_test(tc, cancel_from_on_next_stops_the_watcher);
  suite_add_tcase(s, tc);
  tc = tcase_create("fd_edges");
  tcase_add_test(tc, from_fd_on_the_loops_own_epoll_fd_is_an_error_not_an_abort);
  tcase_add_test(tc, fd_opened_the_wrong_way_is_an_error_at_subscribe);
  tcase_add_test(tc, fd_flags_are_restored_when_the_stream_ends);
  tcase_add_test(tc, fd_close_flag_closes_on_a_failed_call_everywhere);
  tcase_add_test(tc, to_fd_done_may_free_the_handle_synchronously);
  tcase_add_test(tc, fd_errors_speak_the_users_terms);
  suite_add_tcase(s, tc);
  tc = tcase_create("tcp");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tcp_ipv4_listen_accept_connect_round_trip);
  tcase_add_test(tc, tcp_ipv6_listen_accept_connect_round_trip);
  tcase_add_test(tc, tcp_connect_refused_is_esys);
  tcase_add_test(tc, tcp_accept_emits_only_with_demand);
  tcase_add_test(tc, tcp_cancel_stops_connect_and_accept);
  tcase_add_test(tc, tcp_argument_checks);
  suite_add_tcase(s, tc);
  return s;
}
