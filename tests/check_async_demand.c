/* SPDX-License-Identifier: MIT */
/* rill tests: demand accounting over an ASYNCHRONOUS source.
 *
 * Over a synchronous source (range, from_array) a request is answered
 * inside the request call, so an operator that asks upstream for too much
 * or adds demand wrongly is rarely caught.  Here the source is a
 * rill_create() probe: it pushes nothing by itself.  The subscriber piles up
 * requests first (request(2), request(3)) and only then does the test let
 * the producer push, as much as rill_emitter_demand() allows.  The probe
 * records the total demand it was given (pushed + rill_emitter_demand()),
 * so the test can check what reached upstream:
 *   - take(n) never asks upstream for more than it still needs;
 *   - skip never lets through more than was requested downstream;
 *   - operators that pass demand through (or scale it) pass exactly that;
 *   - RILL_UNBOUNDED - 1 requested twice saturates to RILL_UNBOUNDED
 *     through each of them: upstream sees RILL_UNBOUNDED (or the operator's
 *     own bound), never a wrapped negative and never an error. */
#include <stdio.h>
#include <string.h>

#include "check_rill.h"
#include "testlib.h"

/* ---- the probe source -----------------------------------------------------*/

#define MAX_PROBES 2

struct probe {
  rill_emitter_t *e; /* live between start() and end() */
  bool started, ended;
  int64_t pushed;   /* values pushed */
  int64_t limit;    /* push at most this many, then complete */
  bool lines;       /* push "k\n" buffers instead of ints */
  bool dups;        /* push each int twice (0 0 1 1 ...) */
  bool owned;       /* push counted owned values (tl_owned) */
  int64_t max_total; /* largest total demand seen (pushed + demand) */
  bool unbounded;    /* saw RILL_UNBOUNDED */
};

static struct probe probes[MAX_PROBES];

static void probe_start(void *ctx, rill_emitter_t *e) {
  struct probe *p = ctx;
  p->e = e;
  p->started = true;
}

static void probe_end(void *ctx, rill_emitter_t *e) {
  struct probe *p = ctx;
  ck_assert_ptr_eq(e, p->e);
  p->ended = true;
  p->e = NULL;
}

static rill_observable_t *probe_new(int i) {
  return rill_create(probe_start, probe_end, &probes[i]);
}

/* Total demand given so far: what was pushed plus what may still be. */
static int64_t probe_total(struct probe *p) {
  if (p->e == NULL)
    return p->pushed;
  int64_t d = rill_emitter_demand(p->e);
  ck_assert_msg(d >= 0, "emitter demand %lld", (long long)d);
  if (d == RILL_UNBOUNDED)
    return RILL_UNBOUNDED;
  return p->pushed > INT64_MAX - d ? INT64_MAX : p->pushed + d;
}

static void probe_observe(struct probe *p) {
  int64_t t = probe_total(p);
  if (t == RILL_UNBOUNDED)
    p->unbounded = true;
  if (t > p->max_total)
    p->max_total = t;
}

static rill_value_t probe_value(struct probe *p) {
  int64_t x = p->dups ? p->pushed / 2 : p->pushed;
  if (!p->lines)
    return p->owned ? tl_owned(x) : rill_value_int(x);
  char text[32];
  int n = snprintf(text, sizeof(text), "%lld\n", (long long)x);
  return rill_value_buf(rill_buf_from(text, (size_t)n));
}

/* Push one value (if asked for) or the completion (at the limit).
 * Returns whether anything happened. */
static bool probe_step(struct probe *p) {
  if (p->e == NULL || p->ended)
    return false;
  probe_observe(p);
  if (p->pushed >= p->limit) {
    rill_emitter_complete(p->e);
    return true; /* end() ran, or completion waits behind queued values */
  }
  if (rill_emitter_demand(p->e) <= 0)
    return false;
  rill_value_t v = probe_value(p);
  p->pushed++;
  /* RILL_ECANCELED: the push ended the stream (a take downstream), and
   * end() has run before the call returned. */
  int rc = rill_emitter_next(p->e, v);
  ck_assert(rc == 0 || (rc == RILL_ECANCELED && p->ended));
  if (p->e != NULL)
    probe_observe(p);
  return true;
}

static rill_sched_t *vs;

/* Let every probe push what it is asked for, round-robin, the clock moving
 * 0.5 ms a round (so delay(1) delivers, and timeout(1000) never expires),
 * until nothing has moved for 10 rounds. */
static void pump(void) {
  int still = 0;
  for (int guard = 0; guard < 10000; guard++) {
    bool moved = false;
    for (int i = 0; i < MAX_PROBES; i++)
      moved |= probe_step(&probes[i]);
    ck_assert_int_eq(rill_sched_advance_by(vs, 0.5), 0);
    still = moved ? 0 : still + 1;
    if (still == 10)
      return;
  }
  ck_abort_msg("pump: the producers never settled");
}

static void probes_reset(int64_t limit) {
  memset(probes, 0, sizeof(probes));
  for (int i = 0; i < MAX_PROBES; i++)
    probes[i].limit = limit;
}

/* ---- the operators under test ---------------------------------------------*/

static int always(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  return 1;
}

static rill_observable_t *w_take4(void) {
  return rill_take(probe_new(0), 4);
}
static rill_observable_t *w_take10(void) {
  return rill_take(probe_new(0), 10);
}
static rill_observable_t *w_skip2(void) {
  return rill_skip(probe_new(0), 2);
}
static rill_observable_t *w_take_while(void) {
  return rill_take_while(probe_new(0), always, NULL, false);
}
static rill_observable_t *w_first(void) {
  return rill_first(probe_new(0), NULL, NULL, NULL);
}
static rill_observable_t *w_last(void) {
  return rill_last(probe_new(0), NULL, NULL, NULL);
}
static rill_observable_t *w_scan(void) {
  return rill_scan(probe_new(0), tl_sum, NULL, NULL);
}
static rill_observable_t *w_distinct(void) {
  probes[0].dups = true;
  return rill_distinct_until_changed(probe_new(0), NULL, NULL);
}
static rill_observable_t *w_buffer_count(void) {
  return rill_buffer_count(probe_new(0), 2, 0);
}
static rill_observable_t *w_start_with(void) {
  return rill_start_with(probe_new(0), 2, rill_value_int(-2),
                         rill_value_int(-1));
}
static rill_observable_t *w_concat(void) {
  probes[0].limit = 2; /* the first source ends early: the rest of the
                          demand goes to the second */
  rill_observable_t *parts[2] = {probe_new(0), probe_new(1)};
  return rill_concat(parts, 2);
}
static rill_observable_t *w_merge(void) {
  rill_observable_t *parts[2] = {probe_new(0), probe_new(1)};
  return rill_merge(parts, 2, 0, 4);
}
static rill_observable_t *w_take_until(void) {
  return rill_take_until(probe_new(0), rill_never());
}
static rill_observable_t *w_timeout(void) {
  return rill_timeout(probe_new(0), vs, 1000, 1000, NULL);
}
static rill_observable_t *w_delay(void) {
  return rill_delay(probe_new(0), vs, 1);
}
static rill_observable_t *w_lines(void) {
  probes[0].lines = true;
  return rill_lines(probe_new(0), 0, false);
}

#define ANY (-1)

struct dcase {
  const char *name;
  rill_observable_t *(*make)(void);
  /* after request(2) + request(3), before any value was pushed: */
  int64_t down0; /* values downstream at once (start_with's prefix) */
  int64_t up0; /* probe 0's total demand (ANY: between 1 and 5) */
  int64_t up1; /* probe 1's (merge: ANY = 1..prefetch; 0: not subscribed) */
  /* then, the producers pushing what they are asked for (20 each): */
  int64_t down;       /* values delivered downstream */
  bool completes;     /* and then on_complete */
  int64_t max_up0;    /* probe 0's total demand never exceeded this */
  /* with request(RILL_UNBOUNDED - 1) twice instead: */
  int64_t unb_up0;    /* RILL_UNBOUNDED, or the operator's own bound */
  int64_t unb_down;   /* values delivered */
};

static const struct dcase cases[] = {
    /* take(4): 5 requested, 4 needed: upstream sees 4, never more */
    {"take4", w_take4, 0, 4, 0, 4, true, 4, 4, 4},
    /* take(10): 5 requested: upstream sees 5, not 10 */
    {"take10", w_take10, 0, 5, 0, 5, false, 5, 10, 10},
    /* skip(2): 5 requested: 5 + 2 upstream, exactly 5 through */
    {"skip2", w_skip2, 0, 7, 0, 5, false, 7, RILL_UNBOUNDED, 18},
    {"take_while", w_take_while, 0, 5, 0, 5, false, 5, RILL_UNBOUNDED, 20},
    /* first: one value, then complete (and cancel upstream) */
    {"first", w_first, 0, ANY, 0, 1, true, 5, ANY, 1},
    /* last: must drain the whole source (20 values) whatever downstream
     * asked (so it asks for everything), and emit the 20th */
    {"last", w_last, 0, RILL_UNBOUNDED, 0, 1, true, RILL_UNBOUNDED, ANY, 1},
    {"scan", w_scan, 0, 5, 0, 5, false, 5, RILL_UNBOUNDED, 20},
    /* distinct over 0 0 1 1 ...: one more upstream per dropped value */
    {"distinct_until_changed", w_distinct, 0, 5, 0, 5, false, 10, RILL_UNBOUNDED,
     10},
    /* buffer_count(2): 5 arrays are 10 values */
    {"buffer_count", w_buffer_count, 0, 10, 0, 5, false, 10, RILL_UNBOUNDED, 10},
    /* start_with(2 values): 3 of the 5 are left for the source */
    {"start_with", w_start_with, 2, 3, 0, 5, false, 3, RILL_UNBOUNDED, 22},
    /* concat: the first source gets 5, gives 2 and completes; the second
     * gets the 3 left */
    {"concat", w_concat, 0, 5, 0, 5, false, 5, RILL_UNBOUNDED, 22},
    /* merge(prefetch 4): each source is asked for at most its prefetch */
    {"merge", w_merge, 0, ANY, ANY, 5, false, RILL_UNBOUNDED, ANY, 40},
    {"take_until", w_take_until, 0, 5, 0, 5, false, 5, RILL_UNBOUNDED, 20},
    {"timeout", w_timeout, 0, 5, 0, 5, false, 5, RILL_UNBOUNDED, 20},
    /* delay: asks its prefetch (128) ahead, whatever downstream asked, and
     * tops up by halves as values go out: its queue is bounded (issue 8 §4) */
    {"delay", w_delay, 0, 128, 0, 5, false, 128, 128, 20},
    /* lines: one buffer at a time, only when no line is left */
    {"lines", w_lines, 0, 1, 0, 5, false, 5, ANY, 20},
};
#define NCASES ((int)(sizeof(cases) / sizeof(cases[0])))

static void setup(void) {
  vs = rill_sched_virtual_new();
  tl_owned_reset();
}
static void teardown(void) {
  ck_assert_int_eq(rill_sched_active(vs), 0);
  ck_assert_int_eq(rill_sched_free(vs), 0);
}

/* End the run: cancel a live stream, check the probes were released. */
static void finish(const struct dcase *c, rec_t *r, rill_observable_t *o) {
  ck_assert_rec_ok(r);
  if (r->terminal == REC_NONE)
    rec_cancel(r);
  rill_sched_run(vs, 0);
  for (int i = 0; i < MAX_PROBES; i++)
    ck_assert_msg(!probes[i].started || probes[i].ended,
                  "%s: probe %d still running after the stream ended", c->name,
                  i);
  rec_clear(r);
  rill_observable_free(o);
}

START_TEST(piled_requests_reach_upstream_exactly) {
  const struct dcase *c = &cases[_i];
  probes_reset(20);
  rill_observable_t *o = c->make();
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, 2);
  rec_request(&r, 3);
  /* nothing pushed yet: what did the requests turn into upstream? */
  ck_assert_msg(probes[0].started, "%s: source not subscribed", c->name);
  ck_assert_int_eq(probes[0].pushed, 0);
  int64_t up0 = probe_total(&probes[0]);
  if (c->up0 == ANY)
    ck_assert_msg(up0 >= 1 && up0 <= 5,
                  "%s: upstream asked for %lld after request(2), request(3)",
                  c->name, (long long)up0);
  else
    ck_assert_msg(up0 == c->up0,
                  "%s: upstream asked for %lld after request(2), request(3), "
                  "want %lld",
                  c->name, (long long)up0, (long long)c->up0);
  if (c->up1 == ANY) {
    int64_t up1 = probe_total(&probes[1]);
    ck_assert_msg(probes[1].started && up1 >= 1 && up1 <= 4,
                  "%s: second source asked for %lld", c->name,
                  (long long)up1);
    ck_assert_msg(up0 <= 4, "%s: first source asked for %lld > prefetch",
                  c->name, (long long)up0);
  }
  ck_assert_int_eq(r.nexts, c->down0);
  ck_assert_int_eq(r.terminal, REC_NONE);
  /* now the producers push what they are asked for */
  pump();
  ck_assert_rec_ok(&r);
  ck_assert_msg(r.nexts == c->down, "%s: %lld values downstream, want %lld",
                c->name, (long long)r.nexts, (long long)c->down);
  ck_assert_msg(r.terminal == (c->completes ? REC_COMPLETE : REC_NONE),
                "%s: terminal %d", c->name, r.terminal);
  ck_assert_msg(probes[0].max_total <= c->max_up0,
                "%s: upstream was asked for %lld in all, at most %lld needed",
                c->name, (long long)probes[0].max_total,
                (long long)c->max_up0);
  if (c->make == w_last) { /* the whole source, and its last value */
    ck_assert_int_eq(probes[0].pushed, 20);
    ck_assert_int_eq(rec_int(&r, 0), 19);
  }
  if (c->make == w_take4 || c->make == w_first)
    ck_assert_msg(probes[0].ended, "%s: upstream not cancelled", c->name);
  if (c->make == w_concat) {
    ck_assert_int_eq(probes[0].pushed, 2);
    ck_assert_msg(probe_total(&probes[1]) == 3,
                  "concat: second source asked for %lld, want 3",
                  (long long)probe_total(&probes[1]));
  }
  /* later requests still count: one more value gets through (unless the
   * stream has ended) */
  if (r.terminal == REC_NONE) {
    int64_t before = r.nexts;
    rec_request(&r, 1);
    pump();
    ck_assert_msg(r.nexts == before + 1, "%s: request(1) later gave %lld",
                  c->name, (long long)(r.nexts - before));
    ck_assert_rec_ok(&r);
  }
  finish(c, &r, o);
}
END_TEST

START_TEST(take_asks_only_for_what_it_still_needs) {
  /* take(4), with demand arriving in pieces around the values */
  probes_reset(20);
  rill_observable_t *o = rill_take(probe_new(0), 4);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(probe_total(&probes[0]), 2);
  ck_assert(probe_step(&probes[0])); /* value 0 */
  ck_assert_int_eq(r.nexts, 1);
  rec_request(&r, 10); /* 3 still needed, whatever is asked */
  ck_assert_msg(probe_total(&probes[0]) <= 4, "take(4) asked upstream for %lld",
                (long long)probe_total(&probes[0]));
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_msg(probe_total(&probes[0]) <= 4, "take(4) asked upstream for %lld",
                (long long)probe_total(&probes[0]));
  pump();
  ck_assert_int_eq(r.nexts, 4);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(probes[0].max_total, 4);
  ck_assert_int_eq(probes[0].pushed, 4);
  ck_assert(probes[0].ended);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(skip_lets_through_only_what_was_requested) {
  /* skip(3) with requests piling up before and between values: the
   * recorder flags any value beyond downstream demand (rule 1.1) */
  probes_reset(100);
  rill_observable_t *o = rill_skip(probe_new(0), 3);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, 2);
  rec_request(&r, 3);
  ck_assert_int_eq(probe_total(&probes[0]), 8);
  pump();
  ck_assert_int_eq(r.nexts, 5);
  ck_assert_int_eq(rec_int(&r, 0), 3);
  rec_request(&r, 1);
  rec_request(&r, 1);
  ck_assert_int_eq(probe_total(&probes[0]), 10);
  pump();
  ck_assert_int_eq(r.nexts, 7);
  ck_assert_int_eq(rec_int(&r, 6), 9);
  ck_assert_rec_ok(&r);
  rec_cancel(&r);
  ck_assert(probes[0].ended);
  rec_clear(&r);
  rill_observable_free(o);
}
END_TEST

START_TEST(unbounded_minus_one_twice_saturates_through_upstream) {
  const struct dcase *c = &cases[_i];
  probes_reset(20);
  rill_observable_t *o = c->make();
  ck_assert_ptr_nonnull(o);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, o), 0);
  rec_request(&r, RILL_UNBOUNDED - 1);
  rec_request(&r, RILL_UNBOUNDED - 1);
  ck_assert_msg(r.terminal == REC_NONE,
                "%s: request(UNBOUNDED - 1) twice ended the stream (%s)",
                c->name,
                r.terminal == REC_ERROR ? rill_err_name(r.err.code)
                                        : "complete");
  ck_assert_int_eq(probes[0].pushed, 0);
  int64_t up0 = probe_total(&probes[0]);
  if (c->unb_up0 == RILL_UNBOUNDED)
    ck_assert_msg(up0 == RILL_UNBOUNDED,
                  "%s: upstream sees %lld, want RILL_UNBOUNDED", c->name,
                  (long long)up0);
  else if (c->unb_up0 == ANY)
    ck_assert_msg(up0 >= 1, "%s: upstream sees %lld", c->name,
                  (long long)up0);
  else
    ck_assert_msg(up0 == c->unb_up0, "%s: upstream sees %lld, want %lld",
                  c->name, (long long)up0, (long long)c->unb_up0);
  pump();
  ck_assert_rec_ok(&r);
  ck_assert_msg(r.terminal == REC_COMPLETE, "%s: terminal %d (%s)", c->name,
                r.terminal,
                r.terminal == REC_ERROR ? rill_err_name(r.err.code) : "-");
  ck_assert_msg(r.nexts == c->unb_down, "%s: %lld values, want %lld", c->name,
                (long long)r.nexts, (long long)c->unb_down);
  finish(c, &r, o);
}
END_TEST

/* Owned values held inside the operators (a delay queue, a last value, a
 * scan accumulator, a partial array, merge's buffers...) when the stream
 * ends early: by the source failing, or by the subscriber cancelling.
 * Every value is released exactly once either way. */
START_TEST(owned_values_balanced_when_an_async_stream_ends_early) {
  const struct dcase *c = &cases[_i];
  if (c->make == w_lines)
    return; /* lines carries buffers, not owned values */
  for (int how = 0; how < 2; how++) {
    probes_reset(20);
    for (int i = 0; i < MAX_PROBES; i++)
      probes[i].owned = true;
    tl_owned_reset();
    rill_observable_t *o = c->make();
    ck_assert_ptr_nonnull(o);
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, o), 0);
    rec_request(&r, 2);
    rec_request(&r, 3);
    /* push a few values, more than requested where allowed (they queue in
     * the create source, or in the operator) */
    for (int k = 0; k < 3; k++)
      for (int i = 0; i < MAX_PROBES; i++)
        if (probes[i].e != NULL && probes[i].pushed < 3) {
          rill_value_t v = probe_value(&probes[i]);
          probes[i].pushed++;
          int rc = rill_emitter_next(probes[i].e, v);
          ck_assert(rc == 0 || (rc == RILL_ECANCELED && probes[i].ended));
        }
    ck_assert_int_eq(rill_sched_advance_by(vs, 0.5), 0);
    if (how == 0) {
      /* the live source fails: the error passes, held values are dropped */
      bool failed = false;
      for (int i = 0; i < MAX_PROBES && !failed; i++)
        if (probes[i].e != NULL) {
          rill_emitter_error(probes[i].e, RILL_EUSER, "late");
          failed = true;
        }
      if (failed && r.terminal != REC_COMPLETE) {
        ck_assert_msg(r.terminal == REC_ERROR, "%s: terminal %d", c->name,
                      r.terminal);
        ck_assert_int_eq(r.err.code, RILL_EUSER);
      }
    }
    ck_assert_rec_ok(&r);
    finish(c, &r, o); /* cancels a live stream, releases what was kept */
    ck_assert_msg(tl_owned_made == tl_owned_released,
                  "%s (%s): owned values: %ld made, %ld released", c->name,
                  how == 0 ? "error" : "cancel", tl_owned_made,
                  tl_owned_released);
  }
}
END_TEST

Suite *async_demand_suite(void) {
  Suite *s = suite_create("async_demand");
  TCase *tc = tcase_create("piled_requests");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, piled_requests_reach_upstream_exactly, 0, NCASES);
  tcase_add_test(tc, take_asks_only_for_what_it_still_needs);
  tcase_add_test(tc, skip_lets_through_only_what_was_requested);
  suite_add_tcase(s, tc);
  tc = tcase_create("saturation");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, unbounded_minus_one_twice_saturates_through_upstream,
                      0, NCASES);
  suite_add_tcase(s, tc);
  tc = tcase_create("ownership");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_loop_test(tc, owned_values_balanced_when_an_async_stream_ends_early,
                      0, NCASES);
  suite_add_tcase(s, tc);
  return s;
}
