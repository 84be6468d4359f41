/* SPDX-License-Identifier: MIT */
/* rill tests: the channel (rill_channel_*) and signals (rill_signal,
 * rill_sched_raise), with the shutdown recipe: take_until(signal) placed
 * upstream of debounce so the pending value still flushes.
 *
 * Channel: full / close / fail, on_space timing on the virtual clock,
 * producers interleaving in FIFO order, demand honoured (the recorder
 * flags any on_next beyond demand or nested in another), send / close /
 * cancel from inside on_next, cancel and resubscribe (queued values stay
 * for the next consumer), one consumer at a time, owned values released
 * exactly once on every path, NULL and bad arguments, a million values
 * through a request(1)-per-on_next consumer with a flat stack, and an
 * ENOMEM sweep over the whole life of a channel.
 * Signals: the virtual scheduler's raise (coalescing without demand,
 * cancel from inside a delivery), libev with a real raise(SIGUSR1)
 * (ev_run returns by itself; a signal alone does not keep it running;
 * a second loop is refused with RILL_EBUSY instead of libev's abort). */
#define _DEFAULT_SOURCE /* SIGUSR1, NSIG */

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <rill/ev.h>

#include "check_rill.h"
#include "marble.h"
#include "testlib.h"

static int64_t int_of(rill_value_t v) {
  return v.kind == RILL_KIND_OWNED ? tl_owned_int(v) : v.as.i;
}

static size_t queued(const rill_channel_t *ch) {
  rill_channel_stats_t st;
  rill_channel_stats(ch, &st);
  return st.queued;
}

static bool has_consumer(const rill_channel_t *ch) {
  rill_channel_stats_t st;
  rill_channel_stats(ch, &st);
  return st.consumer;
}

/* Send and expect it taken. */
static void send_ok(rill_channel_t *ch, rill_value_t v) {
  ck_assert_int_eq(rill_channel_send(ch, v), 0);
}

/* ---- arguments ------------------------------------------------------------*/

static void never_space(void *ctx, rill_channel_t *ch) {
  (void)ctx;
  (void)ch;
  ck_abort_msg("on_space called");
}

START_TEST(bad_arguments_are_refused_without_taking_values) {
  rill_channel_opts_t no_sched = {.on_space = never_space};
  errno = 0;
  ck_assert_ptr_null(rill_channel_new(0, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_channel_new((size_t)INT32_MAX + 1, NULL));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_channel_new(4, &no_sched));
  ck_assert_int_eq(errno, EINVAL);
  errno = 0;
  ck_assert_ptr_null(rill_channel_observable(NULL));
  ck_assert_int_eq(errno, EINVAL);

  tl_owned_reset();
  rill_value_t v = tl_owned(1);
  ck_assert_int_eq(rill_channel_send(NULL, v), RILL_EINVAL);
  ck_assert_int_eq(rill_channel_close(NULL), RILL_EINVAL);
  ck_assert_int_eq(rill_channel_fail(NULL, RILL_EUSER, NULL), RILL_EINVAL);
  rill_channel_free(NULL);
  rill_channel_stats(NULL, NULL);
  rill_channel_stats_t st = {.queued = 7};
  rill_channel_stats(NULL, &st);
  ck_assert_uint_eq(st.queued, 0);

  rill_channel_t *ch = rill_channel_new(1, NULL);
  ck_assert_ptr_nonnull(ch);
  /* a code >= 0 is not an error code: refused, nothing changes */
  ck_assert_int_eq(rill_channel_fail(ch, 0, "x"), RILL_EINVAL);
  ck_assert_int_eq(rill_channel_fail(ch, 5, NULL), RILL_EINVAL);
  send_ok(ch, v);
  rill_channel_stats(ch, &st);
  ck_assert_uint_eq(st.capacity, 1);
  ck_assert(!st.closed);
  ck_assert_int_eq(tl_owned_released, 0); /* the EINVAL send kept it ours */
  rill_channel_free(ch);                  /* releases the queued value */
  ck_assert_owned_balanced();

  /* the largest capacity allocates nothing up front */
  ch = rill_channel_new((size_t)INT32_MAX, NULL);
  ck_assert_ptr_nonnull(ch);
  rill_channel_free(ch);
}
END_TEST

/* ---- full, close, fail ----------------------------------------------------*/

START_TEST(a_full_channel_says_eagain_and_hands_the_value_back) {
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(3, NULL);
  for (int i = 0; i < 3; i++)
    send_ok(ch, tl_owned(i));
  rill_value_t extra = tl_owned(3);
  ck_assert_int_eq(rill_channel_send(ch, extra), RILL_EAGAIN);
  ck_assert_int_eq(rill_channel_send(ch, extra), RILL_EAGAIN);
  ck_assert_int_eq(tl_owned_released, 0); /* still ours */
  ck_assert_int_eq(tl_owned_int(extra), 3);
  rill_channel_stats_t st;
  rill_channel_stats(ch, &st);
  ck_assert_uint_eq(st.queued, 3);
  ck_assert_uint_eq(st.sent, 3);
  ck_assert_uint_eq(st.refused, 2);

  /* one value out makes room for exactly one */
  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  send_ok(ch, extra);
  rill_value_t four = tl_owned(4);
  ck_assert_int_eq(rill_channel_send(ch, four), RILL_EAGAIN);
  rill_value_release(four); /* handed back: ours to release */
  ck_assert_int_eq(rill_channel_close(ch), 0);
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), i);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(close_completes_after_the_queued_values) {
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(4, NULL);
  send_ok(ch, tl_owned(1));
  send_ok(ch, tl_owned(2));
  ck_assert_int_eq(rill_channel_close(ch), 0);
  ck_assert_int_eq(rill_channel_close(ch), RILL_ECANCELED);
  ck_assert_int_eq(rill_channel_fail(ch, RILL_EUSER, NULL), RILL_ECANCELED);
  rill_value_t late = tl_owned(3);
  ck_assert_int_eq(rill_channel_send(ch, late), RILL_ECANCELED);
  rill_value_release(late); /* handed back */
  rill_channel_stats_t st;
  rill_channel_stats(ch, &st);
  ck_assert(st.closed);

  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_NONE); /* values first, as requested */
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(r.terminal, REC_NONE);
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE); /* no request needed for it */
  ck_assert_int_eq(rec_int(&r, 1), 2);
  ck_assert(!has_consumer(ch));
  ck_assert_rec_ok(&r);
  rec_clear(&r);

  /* a later consumer of the finished channel completes at once */
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 0);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(fail_ends_with_its_error_after_the_queued_values) {
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(4, NULL);
  send_ok(ch, tl_owned(1));
  ck_assert_int_eq(rill_channel_fail(ch, RILL_EAPP_BASE - 7, "sensor gone"), 0);
  ck_assert_int_eq(rill_channel_close(ch), RILL_ECANCELED);
  rill_observable_t *obs = rill_channel_observable(ch);
  for (int pass = 0; pass < 2; pass++) {
    rec_t r;
    rec_init(&r);
    ck_assert_int_eq(rec_subscribe(&r, obs), 0);
    if (pass == 0) { /* the value first, then the error */
      ck_assert_int_eq(r.terminal, REC_NONE);
      rec_request(&r, 5);
      ck_assert_int_eq(r.nexts, 1);
    }
    ck_assert_int_eq(r.terminal, REC_ERROR);
    ck_assert_int_eq(r.err.code, RILL_EAPP_BASE - 7);
    ck_assert_str_eq(r.err.stage, "channel");
    ck_assert_str_eq(r.err.message, "sensor gone");
    ck_assert_rec_ok(&r);
    rec_clear(&r);
  }
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();

  /* without a message: the code says it; rill_fail's message is used */
  ch = rill_channel_new(1, NULL);
  ck_assert_int_eq(rill_channel_fail(ch, RILL_ETIMEDOUT, NULL), 0);
  obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_str_eq(r.err.message, "channel: failed (RILL_ETIMEDOUT)");
  rill_observable_free(obs);
  rill_channel_free(ch);
  ch = rill_channel_new(1, NULL);
  ck_assert_int_eq(
      rill_channel_fail(ch, rill_fail(RILL_EAPP_BASE - 1, "lost %d", 3), NULL),
      0);
  obs = rill_channel_observable(ch);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_str_eq(r.err.message, "channel: lost 3 (code -1001)");
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* ---- demand ---------------------------------------------------------------*/

START_TEST(
    values_leave_only_as_requested_and_go_straight_to_a_waiting_consumer) {
  rill_channel_t *ch = rill_channel_new(2, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  send_ok(ch, rill_value_int(0));
  send_ok(ch, rill_value_int(1));
  ck_assert_int_eq(r.nexts, 0); /* nothing requested */
  ck_assert_int_eq(rill_channel_send(ch, rill_value_int(9)), RILL_EAGAIN);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, 1);
  rec_request(&r, 10); /* the queue empties; 9 more are wanted */
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_uint_eq(queued(ch), 0);
  /* a capacity-2 channel passes 9 values straight through: never queued */
  for (int i = 2; i < 11; i++) {
    send_ok(ch, rill_value_int(i));
    ck_assert_int_eq(r.nexts, i + 1);
    ck_assert_uint_eq(queued(ch), 0);
  }
  send_ok(ch, rill_value_int(11)); /* demand used up: queued */
  ck_assert_int_eq(r.nexts, 11);
  ck_assert_uint_eq(queued(ch), 1);
  ck_assert_int_eq(rill_channel_close(ch), 0);
  ck_assert_int_eq(r.terminal, REC_NONE); /* 11 waits for a request */
  rec_request(&r, 1);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  for (int i = 0; i < 12; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), i);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* Three producers send in turns while the consumer takes some: one FIFO. */
START_TEST(several_producers_interleave_in_fifo_order) {
  rill_channel_t *ch = rill_channel_new(64, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  int64_t want[90];
  size_t n = 0;
  for (int round = 0; round < 30; round++) {
    for (int p = 0; p < 3; p++) { /* producer p sends p*1000 + round */
      int64_t x = p * 1000 + round;
      send_ok(ch, rill_value_int(x));
      want[n++] = x;
    }
    if (round % 4 == 1)
      rec_request(&r, 5);
  }
  rec_request(&r, RILL_UNBOUNDED);
  ck_assert_int_eq(r.nexts, 90);
  for (size_t i = 0; i < n; i++)
    ck_assert_int_eq(rec_int(&r, i), want[i]);
  ck_assert_rec_ok(&r);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* ---- re-entrancy ----------------------------------------------------------*/

/* A consumer that acts on the channel from inside on_next. */
struct actor {
  rec_t r;
  rill_channel_t *ch;
  int64_t send_until; /* on_next of x sends x + 1 while x + 1 < this */
  int64_t close_at;   /* close inside the on_next of this value (-1: no) */
  int64_t cancel_at;  /* cancel inside the on_next of this value (-1: no) */
  int send_rc;
  int depth, max_depth;
  rill_observable_t *resubscribe; /* subscribe `next` from on_complete */
  rec_t *next;
};

static void actor_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct actor *a = ctx;
  a->r.s = s;
  a->r.subscribes++;
  if (a->r.request_on_subscribe > 0)
    rec_request(&a->r, a->r.request_on_subscribe);
}

static void actor_on_next(void *ctx, rill_value_t v) {
  struct actor *a = ctx;
  int64_t x = int_of(v);
  if (++a->depth > a->max_depth)
    a->max_depth = a->depth;
  a->r.nexts++;
  if (a->r.nexts > a->r.requested)
    a->r.violations++;
  rill_value_release(v);
  if (x + 1 < a->send_until) {
    int rc = rill_channel_send(a->ch, rill_value_int(x + 1));
    if (rc < 0)
      a->send_rc = rc;
  }
  if (x == a->close_at)
    rill_channel_close(a->ch);
  if (x == a->cancel_at) {
    rill_subscription_cancel(a->r.s);
    a->r.cancelled = true;
  } else if (a->r.request_in_next > 0) {
    rec_request(&a->r, a->r.request_in_next);
  }
  a->depth--;
}

static void actor_on_error(void *ctx, const rill_error_t *err) {
  struct actor *a = ctx;
  a->r.terminal = REC_ERROR;
  a->r.terminals++;
  a->r.err = *err;
  if (a->depth > 0)
    a->r.violations++;
}

static void actor_on_complete(void *ctx) {
  struct actor *a = ctx;
  a->r.terminal = REC_COMPLETE;
  a->r.terminals++;
  if (a->depth > 0)
    a->r.violations++; /* a terminal nested in on_next */
  if (a->resubscribe != NULL)
    rec_subscribe(a->next, a->resubscribe);
}

static const rill_subscriber_t actor_sub = {.on_subscribe = actor_on_subscribe,
                                            .on_next = actor_on_next,
                                            .on_error = actor_on_error,
                                            .on_complete = actor_on_complete};

static void actor_init(struct actor *a, rill_channel_t *ch) {
  memset(a, 0, sizeof(*a));
  rec_init(&a->r);
  a->ch = ch;
  a->close_at = -1;
  a->cancel_at = -1;
}

START_TEST(a_send_from_on_next_is_delivered_after_it_returns) {
  int64_t n = tl_scaled(1000000);
  rill_channel_t *ch = rill_channel_new(1, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  struct actor a;
  actor_init(&a, ch);
  a.send_until = n;
  a.close_at = n - 1;
  a.r.request_on_subscribe = 1;
  a.r.request_in_next = 1;
  ck_assert_int_eq(rill_observable_subscribe(obs, &actor_sub, &a, NULL), 0);
  send_ok(ch, rill_value_int(0)); /* each on_next sends the next one */
  ck_assert_int_eq(a.send_rc, 0);
  ck_assert_int_eq(a.r.nexts, n);
  ck_assert_int_eq(a.max_depth, 1); /* never nested: a flat loop */
  ck_assert_int_eq(a.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.r.violations, 0);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

START_TEST(sends_from_on_next_beyond_capacity_are_refused) {
  rill_channel_t *ch = rill_channel_new(2, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  struct actor a;
  actor_init(&a, ch);
  a.send_until = 100; /* would send 1, 2, ... from every on_next */
  a.r.request_on_subscribe = 1;
  ck_assert_int_eq(rill_observable_subscribe(obs, &actor_sub, &a, NULL), 0);
  /* 0 goes straight through; its on_next sends 1 (queued: demand used) */
  send_ok(ch, rill_value_int(0));
  ck_assert_int_eq(a.r.nexts, 1);
  ck_assert_uint_eq(queued(ch), 1);
  send_ok(ch, rill_value_int(50));
  ck_assert_int_eq(rill_channel_send(ch, rill_value_int(51)), RILL_EAGAIN);
  rec_request(&a.r, 1); /* 1 out; its on_next sends 2: fits again */
  ck_assert_uint_eq(queued(ch), 2);
  ck_assert_int_eq(a.send_rc, 0);
  rec_request(&a.r, 1); /* 50 out: its on_next sends 51 into the room */
  ck_assert_uint_eq(queued(ch), 2);
  rill_channel_close(ch);
  rec_request(&a.r, 2); /* 2 (its send of 3 is refused: closed), 51 */
  ck_assert_int_eq(a.send_rc, RILL_ECANCELED);
  ck_assert_int_eq(a.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.r.nexts, 5); /* 0, 1, 50, 2, 51 */
  ck_assert_int_eq(a.max_depth, 1);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

START_TEST(close_from_on_next_completes_after_on_next_returns) {
  rill_channel_t *ch = rill_channel_new(8, NULL);
  for (int i = 0; i < 5; i++)
    send_ok(ch, rill_value_int(i));
  rill_observable_t *obs = rill_channel_observable(ch);
  struct actor a;
  actor_init(&a, ch);
  a.close_at = 1;
  a.r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rill_observable_subscribe(obs, &actor_sub, &a, NULL), 0);
  ck_assert_int_eq(a.r.nexts, 5); /* the queued values still go out */
  ck_assert_int_eq(a.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(a.r.violations, 0); /* not nested in on_next */
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* Queued values stay in the channel for the next consumer. */
START_TEST(cancel_from_on_next_leaves_the_rest_for_the_next_consumer) {
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(8, NULL);
  for (int i = 0; i < 6; i++)
    send_ok(ch, tl_owned(i));
  rill_observable_t *obs = rill_channel_observable(ch);
  struct actor a;
  actor_init(&a, ch);
  a.cancel_at = 1;
  a.r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rill_observable_subscribe(obs, &actor_sub, &a, NULL), 0);
  ck_assert_int_eq(a.r.nexts, 2);
  ck_assert_int_eq(a.r.terminal, REC_NONE);
  ck_assert_uint_eq(queued(ch), 4);
  ck_assert(!has_consumer(ch));
  send_ok(ch, tl_owned(6)); /* with no consumer: queued */

  /* cancel in on_subscribe: no value moves, the channel is free again */
  rec_t r;
  rec_init(&r);
  r.cancel_on_subscribe = true;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert(!has_consumer(ch));
  ck_assert_uint_eq(queued(ch), 5);

  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  rec_cancel(&r); /* between requests this time */
  ck_assert_uint_eq(queued(ch), 3);
  rec_t r2;
  rec_init(&r2);
  ck_assert_int_eq(rec_subscribe(&r2, obs), 0);
  rill_channel_close(ch);
  rec_request(&r2, RILL_UNBOUNDED);
  ck_assert_int_eq(r2.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts + r2.nexts, 5);
  for (int i = 0; i < 2; i++)
    ck_assert_int_eq(rec_int(&r, (size_t)i), 2 + i);
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rec_int(&r2, (size_t)i), 4 + i);
  ck_assert_rec_ok(&r);
  ck_assert_rec_ok(&r2);
  rec_clear(&r);
  rec_clear(&r2);
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(a_second_consumer_is_refused_with_ebusy) {
  rill_channel_t *ch = rill_channel_new(4, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  rill_observable_t *obs2 = rill_channel_observable(ch); /* same channel */
  rec_t r1, r2;
  rec_init(&r1);
  rec_init(&r2);
  r2.request_on_subscribe = 3;
  ck_assert_int_eq(rec_subscribe(&r1, obs), 0);
  send_ok(ch, rill_value_int(1));
  ck_assert_int_eq(rec_subscribe(&r2, obs2), 0);
  ck_assert_int_eq(r2.subscribes, 1);
  ck_assert_int_eq(r2.terminal, REC_ERROR);
  ck_assert_int_eq(r2.err.code, RILL_EBUSY);
  ck_assert_str_eq(r2.err.stage, "channel");
  ck_assert_int_eq(r2.nexts, 0);
  ck_assert_uint_eq(queued(ch), 1); /* untouched */
  rec_request(&r1, 1);              /* the first is unaffected */
  ck_assert_int_eq(r1.nexts, 1);
  rec_cancel(&r1);
  rec_clear(&r2);
  rec_init(&r2); /* now free */
  r2.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r2, obs2), 0);
  send_ok(ch, rill_value_int(2));
  ck_assert_int_eq(r2.nexts, 1);
  ck_assert_int_eq(rec_int(&r2, 0), 2);
  rill_channel_fail(ch, RILL_EUSER, NULL);
  ck_assert_int_eq(r2.terminal, REC_ERROR);
  ck_assert_int_eq(r2.err.code, RILL_EUSER);
  ck_assert_rec_ok(&r1);
  ck_assert_rec_ok(&r2);
  rec_clear(&r1);
  rec_clear(&r2);
  rill_observable_free(obs);
  rill_observable_free(obs2);
  rill_channel_free(ch);
}
END_TEST

START_TEST(a_consumer_resubscribing_from_on_complete_finds_it_finished) {
  rill_channel_t *ch = rill_channel_new(2, NULL);
  send_ok(ch, rill_value_int(7));
  rill_channel_close(ch);
  rill_observable_t *obs = rill_channel_observable(ch);
  struct actor a;
  actor_init(&a, ch);
  rec_t next;
  rec_init(&next);
  a.resubscribe = obs;
  a.next = &next;
  a.r.request_on_subscribe = 1;
  ck_assert_int_eq(rill_observable_subscribe(obs, &actor_sub, &a, NULL), 0);
  ck_assert_int_eq(a.r.terminal, REC_COMPLETE);
  ck_assert_int_eq(next.subscribes, 1);
  ck_assert_int_eq(next.terminal, REC_COMPLETE); /* not EBUSY */
  ck_assert_int_eq(next.nexts, 0);
  ck_assert_rec_ok(&next);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* A bad request fails the consumer (rule 3.9) and frees the channel for
 * the next one; nothing queued is lost. */
START_TEST(a_bad_request_fails_the_consumer_only) {
  rill_channel_t *ch = rill_channel_new(2, NULL);
  send_ok(ch, rill_value_int(1));
  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 0);
  ck_assert_int_eq(r.terminal, REC_ERROR);
  ck_assert_int_eq(r.err.code, RILL_EINVAL);
  ck_assert(!has_consumer(ch));
  ck_assert_uint_eq(queued(ch), 1);
  rec_t r2;
  rec_init(&r2);
  r2.request_on_subscribe = 1;
  ck_assert_int_eq(rec_subscribe(&r2, obs), 0);
  ck_assert_int_eq(r2.nexts, 1);
  rec_cancel(&r2);
  rec_clear(&r);
  rec_clear(&r2);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* Inside a value that a send hands straight over, the consumer drops the
 * caller's reference and cancels: the send still returns 0, the channel
 * lives on in the recipe until the subscription is gone. */
struct dropper {
  rill_subscription_t *s;
  rill_channel_t *ch;
  int64_t nexts;
};

static void dropper_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct dropper *d = ctx;
  d->s = s;
  rill_subscription_request(s, 5);
}

static void dropper_on_next(void *ctx, rill_value_t v) {
  struct dropper *d = ctx;
  d->nexts++;
  rill_value_release(v);
  rill_channel_free(d->ch); /* the caller's reference, mid-send */
  rill_subscription_cancel(d->s);
  rill_subscription_cancel(d->s);
}

static const rill_subscriber_t dropper_sub = {
    .on_subscribe = dropper_on_subscribe, .on_next = dropper_on_next};

START_TEST(a_consumer_may_free_and_cancel_inside_a_direct_send) {
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(2, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  struct dropper d = {.ch = ch};
  ck_assert_int_eq(rill_observable_subscribe(obs, &dropper_sub, &d, NULL), 0);
  rill_observable_free(obs); /* the subscription holds the recipe */
  ck_assert_int_eq(rill_channel_send(ch, tl_owned(1)), 0);
  ck_assert_int_eq(d.nexts, 1);
  /* everything is gone now: the channel went with the subscription */
  ck_assert_owned_balanced();
}
END_TEST

/* ---- ownership ------------------------------------------------------------*/

START_TEST(owned_values_are_released_once_on_every_path) {
  /* 1. queued, never consumed: released when the channel goes */
  tl_owned_reset();
  rill_channel_t *ch = rill_channel_new(8, NULL);
  for (int i = 0; i < 5; i++)
    send_ok(ch, tl_owned(i));
  rill_channel_free(ch);
  ck_assert_owned_balanced();

  /* 2. queued at cancel: kept, then released with the last reference,
   * which the recipe holds after the user's is gone */
  tl_owned_reset();
  ch = rill_channel_new(8, NULL);
  for (int i = 0; i < 5; i++)
    send_ok(ch, tl_owned(i));
  rill_observable_t *obs = rill_channel_observable(ch);
  rill_channel_free(ch); /* the observable keeps it */
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = 2;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_cancel(&r);
  ck_assert_int_eq(tl_owned_released, 0); /* 2 in r, 3 in the channel */
  rec_clear(&r);
  ck_assert_int_eq(tl_owned_released, 2);
  rill_observable_free(obs);
  ck_assert_owned_balanced();

  /* 3. closed with values, consumer takes some and cancels */
  tl_owned_reset();
  ch = rill_channel_new(8, NULL);
  obs = rill_channel_observable(ch);
  for (int i = 0; i < 5; i++)
    send_ok(ch, tl_owned(i));
  rill_channel_close(ch);
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  r.cancel_at = 3;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();

  /* 4. the subscription outlives both the user's references: the channel
   * goes when the subscription does */
  tl_owned_reset();
  ch = rill_channel_new(8, NULL);
  obs = rill_channel_observable(ch);
  rec_init(&r);
  r.store = false;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rill_observable_free(obs);
  for (int i = 0; i < 3; i++)
    send_ok(ch, tl_owned(i));
  rill_channel_free(ch);
  ck_assert_int_eq(tl_owned_released, 0);
  rec_request(&r, 1);
  rec_cancel(&r); /* the last reference: 2 queued values go now */
  ck_assert_owned_balanced();

  /* 5. a value delivered through a fused map downstream and a filter that
   * drops some: demand given back, each released once */
  tl_owned_reset();
  ch = rill_channel_new(8, NULL);
  obs = rill_filter(rill_channel_observable(ch), tl_is_even, NULL);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 2);
  for (int i = 0; i < 6; i++)
    send_ok(ch, tl_owned(i)); /* 0 and 2 pass (demand 2), 3.. queue */
  ck_assert_int_eq(r.nexts, 2);
  ck_assert_int_eq(rec_int(&r, 1), 2);
  ck_assert_uint_eq(queued(ch), 3); /* 3, 4, 5 */
  rill_channel_close(ch);
  rec_request(&r, 5);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 3);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);
  ck_assert_owned_balanced();
}
END_TEST

/* ---- room: on_space -------------------------------------------------------*/

/* A producer that sends 0, 1, 2, ... until refused, keeping the refused
 * value for its next turn, which on_space gives it. */
struct pump {
  rill_channel_t *ch;
  int64_t next, end;
  bool holding; /* `held` was refused */
  rill_value_t held;
  int turns;      /* on_space calls */
  bool inside;    /* a send or a request of the test is on the stack */
  bool reentered; /* on_space ran inside one */
  bool free_in_space;
};

static void pump_run(struct pump *p) {
  while (p->next < p->end) {
    rill_value_t v = p->holding ? p->held : tl_owned(p->next);
    p->inside = true;
    int rc = rill_channel_send(p->ch, v);
    p->inside = false;
    if (rc == RILL_EAGAIN) {
      p->held = v;
      p->holding = true;
      return;
    }
    ck_assert_int_eq(rc, 0);
    p->holding = false;
    p->next++;
  }
}

static void pump_space(void *ctx, rill_channel_t *ch) {
  struct pump *p = ctx;
  ck_assert_ptr_eq(ch, p->ch);
  p->turns++;
  if (p->inside)
    p->reentered = true;
  if (p->free_in_space) {
    rill_channel_free(ch); /* the last reference */
    p->ch = NULL;
    return;
  }
  pump_run(p);
}

static void pump_request(struct pump *p, rec_t *r, int64_t n) {
  p->inside = true;
  rec_request(r, n);
  p->inside = false;
}

START_TEST(on_space_runs_soon_after_room_appears_never_inside_a_call) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct pump p = {.end = 12};
  rill_channel_opts_t o = {.on_space = pump_space, .ctx = &p, .sched = s};
  p.ch = rill_channel_new(2, &o);
  ck_assert_ptr_nonnull(p.ch);
  ck_assert_int_eq(rill_sched_active(s), 0); /* nothing armed yet */
  pump_run(&p);
  ck_assert_int_eq(p.next, 2);
  ck_assert(p.holding);
  rill_observable_t *obs = rill_channel_observable(p.ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);

  /* a departure from a full channel: on_space is due, not called yet */
  pump_request(&p, &r, 1);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(p.turns, 0);
  ck_assert_int_eq(rill_sched_active(s), 1);
  ck_assert_int_eq(rill_sched_advance_by(s, 0), 0); /* same instant */
  ck_assert_int_eq(p.turns, 1);
  ck_assert_int_eq(p.next, 3); /* 2 sent, 3 refused */
  ck_assert_int_eq(rill_sched_active(s), 0);

  /* two departures, one call; and none while the timer is armed */
  pump_request(&p, &r, 2);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(rill_sched_active(s), 1);
  ck_assert_int_eq(rill_sched_advance_by(s, 0), 0);
  ck_assert_int_eq(p.turns, 2);
  ck_assert_int_eq(p.next, 5);

  /* full again before it fires: skipped, the next departure re-arms */
  pump_request(&p, &r, 1); /* 3 out */
  rill_value_t mine = tl_owned(100);
  send_ok(p.ch, mine); /* the test fills the room itself */
  ck_assert_int_eq(rill_sched_advance_by(s, 0), 0);
  ck_assert_int_eq(p.turns, 2);
  pump_request(&p, &r, 1); /* 4 out */
  ck_assert_int_eq(rill_sched_advance_by(s, 0), 0);
  ck_assert_int_eq(p.turns, 3);

  /* never while nothing was full: a consumer that keeps up */
  pump_request(&p, &r, RILL_UNBOUNDED);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(p.next, p.end);
  ck_assert(!p.holding);
  int turns = p.turns;
  ck_assert_uint_eq(queued(p.ch), 0);
  for (int i = 0; i < 5; i++)
    send_ok(p.ch, tl_owned(200 + i));
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(p.turns, turns);
  ck_assert(!p.reentered);
  ck_assert_int_eq(r.nexts, 12 + 1 + 5);

  /* every value once, in order: the pump's, with 100 where it was sent */
  int64_t want[] = {0, 1, 2, 3, 4, 100, 5, 6, 7, 8, 9, 10, 11};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
    ck_assert_int_eq(rec_int(&r, i), want[i]);
  rec_cancel(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(p.ch);
  ck_assert_int_eq(rill_sched_free(s), 0);
  ck_assert_owned_balanced();
}
END_TEST

START_TEST(on_space_is_not_called_after_close_and_may_free_the_channel) {
  tl_owned_reset();
  rill_sched_t *s = rill_sched_virtual_new();
  struct pump p = {.end = 100};
  rill_channel_opts_t o = {.on_space = pump_space, .ctx = &p, .sched = s};
  p.ch = rill_channel_new(1, &o);
  pump_run(&p);
  rill_observable_t *obs = rill_channel_observable(p.ch);
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1); /* due */
  ck_assert_int_eq(rill_sched_active(s), 1);
  rill_channel_close(p.ch); /* disarms */
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(p.turns, 0);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  rec_clear(&r);
  rill_observable_free(obs);
  rill_channel_free(p.ch);
  rill_value_release(p.held);

  /* on_space drops the last reference: the channel (and its timer) go
   * after the callback returns */
  p = (struct pump){.end = 100, .free_in_space = true};
  p.ch = rill_channel_new(1, &o);
  pump_run(&p);
  obs = rill_channel_observable(p.ch);
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rill_observable_free(obs);
  rec_request(&r, 1);
  rec_cancel(&r); /* the subscription's reference goes */
  ck_assert_int_eq(rill_sched_run(s, 0), 0);
  ck_assert_int_eq(p.turns, 1);
  ck_assert_ptr_null(p.ch);
  rec_clear(&r);
  rill_value_release(p.held);
  ck_assert_int_eq(rill_sched_free(s), 0); /* the timer is gone too */
  ck_assert_owned_balanced();
}
END_TEST

/* ---- volume ---------------------------------------------------------------*/

START_TEST(a_million_sends_to_a_request_one_per_on_next_consumer_stay_flat) {
  int64_t n = tl_scaled(1000000);
  rill_channel_t *ch = rill_channel_new(16, NULL);
  rill_observable_t *obs = rill_channel_observable(ch);
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  for (int64_t i = 0; i < n; i++)
    ck_assert_int_eq(rill_channel_send(ch, rill_value_int(i)), 0);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_uint_eq(queued(ch), 0);
  rill_channel_close(ch);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert_msg(r.stack_hi - r.stack_lo < 4096,
                "on_next frames spread over %lu bytes",
                (unsigned long)(r.stack_hi - r.stack_lo));
  ck_assert_rec_ok(&r);
  rill_observable_free(obs);
  rill_channel_free(ch);

  /* the same through the queue: filled, then drained one by one */
  ch = rill_channel_new((size_t)n, NULL);
  for (int64_t i = 0; i < n; i++)
    send_ok(ch, rill_value_int(i));
  rill_channel_close(ch);
  obs = rill_channel_observable(ch);
  rec_init(&r);
  r.store = false;
  r.request_in_next = 1;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rec_request(&r, 1);
  ck_assert_int_eq(r.nexts, n);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_le(r.max_depth, 1);
  ck_assert(r.stack_hi - r.stack_lo < 4096);
  rill_observable_free(obs);
  rill_channel_free(ch);
}
END_TEST

/* ---- ENOMEM ---------------------------------------------------------------*/

/* One life of a channel with allocation k failing: made with on_space,
 * values sent before and while a consumer takes them, closed, drained.
 * Whatever fails, the accepted values arrive in order, exactly once,
 * and nothing leaks. */
static bool channel_life(long k) {
  tl_owned_reset();
  tl_alloc_install();
  rill_sched_t *s = rill_sched_virtual_new();
  ck_assert_ptr_nonnull(s);
  struct pump p = {.end = 0};
  tl_alloc_index = 0;
  tl_fail_at = k;
  rill_channel_opts_t o = {.on_space = pump_space, .ctx = &p, .sched = s};
  errno = 0;
  rill_channel_t *ch = rill_channel_new(4, &o);
  int64_t sent[16];
  size_t nsent = 0;
  rec_t r;
  rec_init(&r);
  if (ch == NULL) {
    ck_assert_int_eq(errno, ENOMEM);
  } else {
    p.ch = ch;
    for (int64_t i = 0; i < 12; i++) {
      if (i == 3) {
        errno = 0;
        rill_observable_t *obs = rill_channel_observable(ch);
        if (obs == NULL) {
          ck_assert_int_eq(errno, ENOMEM);
        } else {
          r.request_on_subscribe = 2;
          int rc = rec_subscribe(&r, obs);
          ck_assert(rc == 0 || rc == RILL_ENOMEM);
          if (rc == 0 && r.terminal == REC_ERROR)
            ck_assert_int_eq(r.err.code, RILL_ENOMEM);
          rill_observable_free(obs);
        }
      }
      rill_value_t v = tl_owned(i);
      if (v.kind == RILL_KIND_NONE)
        continue; /* the box itself failed */
      int rc = rill_channel_send(ch, v);
      if (rc == 0) {
        sent[nsent++] = i;
      } else {
        ck_assert_msg(rc == RILL_ENOMEM || rc == RILL_EAGAIN,
                      "site %ld: send gave %s", k, rill_err_name(rc));
        rill_value_release(v); /* handed back */
      }
    }
    rec_request(&r, 1); /* a departure from a full channel: on_space */
    ck_assert_int_eq(rill_sched_run(s, 0), 0);
    rill_channel_close(ch);
    rec_request(&r, RILL_UNBOUNDED);
    if (r.subscribes > 0 && r.terminal == REC_COMPLETE) {
      /* every accepted value, in order (some before the consumer came
       * may be missing only if it never came) */
      ck_assert_uint_eq(r.values.len, nsent);
      for (size_t i = 0; i < nsent; i++)
        ck_assert_int_eq(rec_int(&r, i), sent[i]);
    }
    ck_assert_rec_ok(&r);
    rec_clear(&r);
    rill_channel_free(ch);
  }
  bool reached = tl_alloc_index > k;
  tl_fail_at = -1;
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_free(s), 0);
  long live = tl_live;
  tl_alloc_uninstall();
  ck_assert_msg(live == 0, "site %ld: %ld blocks leaked", k, live);
  ck_assert_msg(tl_owned_made == tl_owned_released,
                "site %ld: owned values: %ld made, %ld released", k,
                tl_owned_made, tl_owned_released);
  return reached;
}

START_TEST(a_channel_fails_cleanly_at_every_allocation) {
  long k = 0;
  while (channel_life(k))
    k++;
  ck_assert_int_gt(k, 3);
}
END_TEST

/* ---- signals on the virtual clock -----------------------------------------*/

START_TEST(signal_rejects_what_cannot_be_caught) {
  rill_sched_t *s = rill_sched_virtual_new();
  static const int bad[] = {0, -1, NSIG, SIGKILL, SIGSTOP};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    errno = 0;
    ck_assert_ptr_null(rill_signal(s, bad[i]));
    ck_assert_int_eq(errno, EINVAL);
  }
  errno = 0;
  ck_assert_ptr_null(rill_signal(NULL, SIGINT));
  ck_assert_int_eq(errno, EINVAL);
  ck_assert_int_eq(rill_sched_raise(NULL, SIGINT), RILL_EINVAL);
  ck_assert_int_eq(rill_sched_raise(s, 0), RILL_EINVAL);
  ck_assert_int_eq(rill_sched_raise(s, NSIG), RILL_EINVAL);
  ck_assert_int_eq(rill_sched_raise(s, SIGINT), 0); /* nobody listens */
  struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
  rill_sched_t *e = rill_sched_ev_new(loop);
  ck_assert_int_eq(rill_sched_raise(e, SIGINT), RILL_EINVAL); /* not virtual */
  ck_assert_int_eq(rill_sched_free(e), 0);
  ev_loop_destroy(loop);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(signal_emits_its_number_per_arrival_and_coalesces_without_demand) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *obs = rill_signal(s, SIGUSR1);
  ck_assert_str_eq(rill_observable_name(obs), "signal");
  rec_t r;
  rec_init(&r);
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(rill_sched_active(s), 1);
  /* three arrivals, nothing requested: one pending */
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(rill_sched_raise(s, SIGUSR1), 1);
  ck_assert_int_eq(rill_sched_raise(s, SIGUSR2), 0); /* another signal */
  ck_assert_int_eq(r.nexts, 0);
  rec_request(&r, 5);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), SIGUSR1);
  /* with demand: one value per arrival */
  ck_assert_int_eq(rill_sched_raise(s, SIGUSR1), 1);
  ck_assert_int_eq(rill_sched_raise(s, SIGUSR1), 1);
  ck_assert_int_eq(r.nexts, 3);
  ck_assert_int_eq(r.terminal, REC_NONE); /* never completes */
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_active(s), 0);
  ck_assert_int_eq(rill_sched_raise(s, SIGUSR1), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* A subscriber that, on the signal, cancels another subscription and
 * makes a new one: the cancelled one sees nothing more, the new one waits
 * for the next arrival. */
struct sig_juggler {
  rec_t r;
  rec_t *victim;
  rill_observable_t *again;
  rec_t *fresh;
};

static void juggler_on_subscribe(void *ctx, rill_subscription_t *s) {
  struct sig_juggler *j = ctx;
  j->r.s = s;
  j->r.subscribes++;
  rec_request(&j->r, RILL_UNBOUNDED);
}

static void juggler_on_next(void *ctx, rill_value_t v) {
  struct sig_juggler *j = ctx;
  j->r.nexts++;
  rill_value_release(v);
  if (j->r.nexts == 1) {
    rec_cancel(j->victim);
    rec_subscribe(j->fresh, j->again);
  }
}

static const rill_subscriber_t juggler_sub = {
    .on_subscribe = juggler_on_subscribe, .on_next = juggler_on_next};

START_TEST(a_delivery_may_cancel_and_subscribe_other_signal_subscriptions) {
  rill_sched_t *s = rill_sched_virtual_new();
  rill_observable_t *obs = rill_signal(s, SIGHUP);
  struct sig_juggler j = {0};
  rec_t victim, fresh;
  rec_init(&victim);
  rec_init(&fresh);
  victim.request_on_subscribe = RILL_UNBOUNDED;
  fresh.request_on_subscribe = RILL_UNBOUNDED;
  j.victim = &victim;
  j.fresh = &fresh;
  j.again = obs;
  rill_subscription_t *h;
  ck_assert_int_eq(rill_observable_subscribe(obs, &juggler_sub, &j, &h), 0);
  ck_assert_int_eq(rec_subscribe(&victim, obs), 0); /* after the juggler */
  ck_assert_int_eq(rill_sched_raise(s, SIGHUP), 1); /* victim cancelled */
  ck_assert_int_eq(victim.nexts, 0);
  ck_assert_int_eq(fresh.subscribes, 1);
  ck_assert_int_eq(fresh.nexts, 0); /* made during that raise */
  ck_assert_int_eq(rill_sched_raise(s, SIGHUP), 2);
  ck_assert_int_eq(fresh.nexts, 1);
  ck_assert_int_eq(j.r.nexts, 2);
  rec_cancel(&fresh);
  rill_subscription_free(h);
  ck_assert_int_eq(rill_sched_active(s), 0);
  rec_clear(&victim);
  rec_clear(&fresh);
  rill_observable_free(obs);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

START_TEST(signal_fails_cleanly_at_every_allocation) {
  for (long k = 0;; k++) {
    tl_alloc_install();
    rill_sched_t *s = rill_sched_virtual_new();
    tl_alloc_index = 0;
    tl_fail_at = k;
    errno = 0;
    rill_observable_t *obs = rill_signal(s, SIGUSR1);
    rec_t r;
    rec_init(&r);
    r.request_on_subscribe = 1;
    if (obs == NULL) {
      ck_assert_int_eq(errno, ENOMEM);
    } else {
      int rc = rec_subscribe(&r, obs);
      if (rc == 0 && r.terminal == REC_NONE) {
        rill_sched_raise(s, SIGUSR1);
        ck_assert_int_eq(r.nexts, 1);
        rec_cancel(&r);
      } else if (rc == 0) {
        ck_assert_int_eq(r.terminal, REC_ERROR);
        ck_assert_int_eq(r.err.code, RILL_ENOMEM);
      } else {
        ck_assert_int_eq(rc, RILL_ENOMEM);
      }
      rec_clear(&r);
      rill_observable_free(obs);
    }
    bool reached = tl_alloc_index > k;
    tl_fail_at = -1;
    ck_assert_int_eq(rill_sched_active(s), 0);
    ck_assert_int_eq(rill_sched_free(s), 0);
    long live = tl_live;
    tl_alloc_uninstall();
    ck_assert_msg(live == 0, "site %ld: %ld blocks leaked", k, live);
    if (!reached) {
      ck_assert_int_gt(k, 1);
      break;
    }
  }
}
END_TEST

/* ---- the shutdown recipe on the virtual clock -----------------------------*/

struct raiser {
  rill_sched_t *s;
  int signum;
  int seen;
};

static void raiser_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct raiser *r = arg;
  r->seen = rill_sched_raise(r->s, r->signum);
}

/* Runs `obs` with a simulated SIGINT at 8 ms. */
static void run_with_sigint_at_8(rill_sched_t *s, rill_observable_t *obs,
                                 marble_result_t *mr) {
  struct raiser rz = {.s = s, .signum = SIGINT};
  rill_sched_timer_t *t = rill_sched_timer_new(s, raiser_fired, &rz);
  rill_sched_timer_start(t, 8);
  marble_run(s, obs, 0, mr);
  ck_assert_int_eq(rz.seen, 1);
  rill_sched_timer_free(t);
}

START_TEST(take_until_signal_before_debounce_flushes_the_pending_value) {
  rill_sched_t *s = rill_sched_virtual_new();
  /* a at 1 (out at 4); b at 4 and c at 6 (c pending, due at 9); the
   * signal at 8 ends the input: debounce emits c then, and completes */
  const char *input = "-a--b-c---------d|";
  rill_observable_t *right = rill_debounce(
      rill_take_until(marble_cold(s, input), rill_signal(s, SIGINT)), s, 3,
      NULL);
  marble_result_t mr;
  run_with_sigint_at_8(s, right, &mr);
  ck_assert_marble_result(&mr, "----a---(c|)");
  ck_assert_int_eq(mr.active_after, 0); /* the watcher is gone too */
  rill_observable_free(right);

  /* the other order cancels debounce, and c is lost */
  rill_observable_t *wrong = rill_take_until(
      rill_debounce(marble_cold(s, input), s, 3, NULL), rill_signal(s, SIGINT));
  run_with_sigint_at_8(s, wrong, &mr);
  ck_assert_marble_result(&mr, "----a---|");
  ck_assert_int_eq(mr.active_after, 0);
  rill_observable_free(wrong);
  ck_assert_int_eq(rill_sched_free(s), 0);
}
END_TEST

/* ---- signals on libev -----------------------------------------------------*/

struct rt_sig {
  struct ev_loop *loop;
  rill_sched_t *s;
  ev_timer dog, kick;
  bool timed_out;
  int signum;
  rill_channel_t *ch;
};

static void rt_dog(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  ((struct rt_sig *)w->data)->timed_out = true;
  ev_break(loop, EVBREAK_ALL);
}

static void rt_kick(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)revents;
  ev_ref(loop); /* libev stopped it: give back the unref */
  raise(((struct rt_sig *)w->data)->signum);
}

static void rt_init(struct rt_sig *f, int signum, double kick_s) {
  memset(f, 0, sizeof(*f));
  f->signum = signum;
  f->loop = ev_loop_new(EVFLAG_AUTO);
  ck_assert_ptr_nonnull(f->loop);
  f->s = rill_sched_ev_new(f->loop);
  ev_timer_init(&f->dog, rt_dog, 3.0, 0.);
  f->dog.data = f;
  ev_timer_start(f->loop, &f->dog);
  ev_unref(f->loop); /* the watchdog does not keep ev_run going */
  ev_timer_init(&f->kick, rt_kick, kick_s, 0.);
  f->kick.data = f;
  if (kick_s > 0) {
    ev_timer_start(f->loop, &f->kick);
    ev_unref(f->loop); /* nor does the kick: the pipeline must */
  }
}

static void rt_fini(struct rt_sig *f) {
  ev_ref(f->loop);
  ev_timer_stop(f->loop, &f->dog);
  if (ev_is_active(&f->kick)) {
    ev_ref(f->loop);
    ev_timer_stop(f->loop, &f->kick);
  }
  ck_assert_int_eq(rill_sched_active(f->s), 0);
  ck_assert_int_eq(rill_sched_free(f->s), 0);
  ev_loop_destroy(f->loop);
}

START_TEST(a_real_signal_stops_the_pipeline_and_ev_run_returns) {
  struct rt_sig f;
  rt_init(&f, SIGUSR1, 0.05);
  rill_observable_t *in =
      rill_take_until(rill_interval(f.s, 5, NULL), rill_signal(f.s, SIGUSR1));
  rill_observable_t *out = rill_debounce(in, f.s, 1000, NULL);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, out), 0);
  ev_run(f.loop, 0); /* returns once nothing is left armed */
  ck_assert_msg(!f.timed_out, "ev_run did not return by itself");
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(r.nexts, 1); /* the debounced tick, flushed */
  ck_assert_int_ge(rec_int(&r, 0), 0);
  ck_assert_rec_ok(&r);
  rec_clear(&r);
  rill_observable_free(out);
  rt_fini(&f);
}
END_TEST

START_TEST(a_signal_alone_does_not_keep_ev_run_alive) {
  struct rt_sig f;
  rt_init(&f, SIGUSR2, 0);
  rill_observable_t *obs = rill_signal(f.s, SIGUSR2);
  rec_t r;
  rec_init(&r);
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  ck_assert_int_eq(rill_sched_active(f.s), 1);
  ev_run(f.loop, 0);
  ck_assert(!f.timed_out);
  ck_assert_int_eq(r.nexts, 0);
  /* still watching: a signal now is seen at the next iteration */
  raise(SIGUSR2);
  for (int i = 0; i < 10 && r.nexts == 0; i++)
    ev_run(f.loop, EVRUN_NOWAIT);
  ck_assert_int_eq(r.nexts, 1);
  ck_assert_int_eq(rec_int(&r, 0), SIGUSR2);
  rec_cancel(&r);
  ck_assert_int_eq(rill_sched_active(f.s), 0);
  rec_clear(&r);
  rill_observable_free(obs);
  rt_fini(&f);
}
END_TEST

START_TEST(a_second_loop_for_one_signal_is_refused_not_aborted) {
  struct rt_sig a, b;
  rt_init(&a, SIGUSR1, 0);
  rt_init(&b, SIGUSR1, 0);
  rill_observable_t *on_a = rill_signal(a.s, SIGUSR1);
  rill_observable_t *on_b = rill_signal(b.s, SIGUSR1);
  rec_t ra, rb;
  rec_init(&ra);
  rec_init(&rb);
  ck_assert_int_eq(rec_subscribe(&ra, on_a), 0);
  ck_assert_int_eq(ra.terminal, REC_NONE);
  ck_assert_int_eq(rec_subscribe(&rb, on_b), 0);
  ck_assert_int_eq(rb.terminal, REC_ERROR);
  ck_assert_int_eq(rb.err.code, RILL_EBUSY);
  ck_assert_int_eq(rill_sched_active(b.s), 0);
  /* a second scheduler on loop a: the same loop, fine */
  rill_sched_t *a2 = rill_sched_ev_new(a.loop);
  rill_observable_t *on_a2 = rill_signal(a2, SIGUSR1);
  rec_t ra2;
  rec_init(&ra2);
  ck_assert_int_eq(rec_subscribe(&ra2, on_a2), 0);
  ck_assert_int_eq(ra2.terminal, REC_NONE);
  /* once loop a lets go, loop b may have it */
  rec_cancel(&ra);
  rec_cancel(&ra2);
  rec_clear(&rb);
  rec_init(&rb);
  ck_assert_int_eq(rec_subscribe(&rb, on_b), 0);
  ck_assert_int_eq(rb.terminal, REC_NONE);
  rec_cancel(&rb);
  /* SIGCHLD belongs to the default loop */
  rill_observable_t *chld = rill_signal(b.s, SIGCHLD);
  rec_t rc;
  rec_init(&rc);
  ck_assert_int_eq(rec_subscribe(&rc, chld), 0);
  ck_assert_int_eq(rc.terminal, REC_ERROR);
  ck_assert_int_eq(rc.err.code, RILL_EBUSY);
  rill_observable_free(chld);
  rill_observable_free(on_a);
  rill_observable_free(on_a2);
  rill_observable_free(on_b);
  ck_assert_int_eq(rill_sched_free(a2), 0);
  rt_fini(&a);
  rt_fini(&b);
}
END_TEST

/* A channel fed from a libev timer, consumed until a real signal: the
 * consumer completes and leaves the channel; the channel itself arms
 * nothing, so a second pipeline (an interval until the same signal) is
 * what keeps ev_run going until then. */
static void feed(struct ev_loop *loop, ev_timer *w, int revents) {
  (void)loop;
  (void)revents;
  struct rt_sig *f = w->data;
  static int64_t x;
  if (rill_channel_send(f->ch, rill_value_int(x)) == 0)
    x++;
}

START_TEST(a_channel_fed_on_libev_stops_on_a_signal) {
  struct rt_sig f;
  rt_init(&f, SIGUSR1, 0.05);
  f.ch = rill_channel_new(4, NULL);
  ev_timer feeder;
  ev_timer_init(&feeder, feed, 0.002, 0.002);
  feeder.data = &f;
  ev_timer_start(f.loop, &feeder);
  ev_unref(f.loop); /* only the pipeline keeps the loop */
  rill_observable_t *obs =
      rill_take_until(rill_channel_observable(f.ch), rill_signal(f.s, SIGUSR1));
  rec_t r;
  rec_init(&r);
  r.store = false;
  r.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&r, obs), 0);
  rill_observable_t *hold =
      rill_take_until(rill_interval(f.s, 10, NULL), rill_signal(f.s, SIGUSR1));
  rec_t h;
  rec_init(&h);
  h.store = false;
  h.request_on_subscribe = RILL_UNBOUNDED;
  ck_assert_int_eq(rec_subscribe(&h, hold), 0);
  ev_run(f.loop, 0);
  ck_assert(!f.timed_out);
  ck_assert_int_eq(r.terminal, REC_COMPLETE);
  ck_assert_int_eq(h.terminal, REC_COMPLETE);
  ck_assert_int_gt(r.nexts, 0);
  ck_assert(!has_consumer(f.ch));
  ck_assert_rec_ok(&r);
  ev_ref(f.loop);
  ev_timer_stop(f.loop, &feeder);
  rill_observable_free(obs);
  rill_observable_free(hold);
  rill_channel_free(f.ch);
  rt_fini(&f);
}
END_TEST

Suite *channel_suite(void) {
  Suite *s = suite_create("channel");
  TCase *tc = tcase_create("channel");
  tcase_add_test(tc, bad_arguments_are_refused_without_taking_values);
  tcase_add_test(tc, a_full_channel_says_eagain_and_hands_the_value_back);
  tcase_add_test(tc, close_completes_after_the_queued_values);
  tcase_add_test(tc, fail_ends_with_its_error_after_the_queued_values);
  tcase_add_test(
      tc, values_leave_only_as_requested_and_go_straight_to_a_waiting_consumer);
  tcase_add_test(tc, several_producers_interleave_in_fifo_order);
  tcase_add_test(tc, a_second_consumer_is_refused_with_ebusy);
  tcase_add_test(tc,
                 a_consumer_resubscribing_from_on_complete_finds_it_finished);
  tcase_add_test(tc, a_bad_request_fails_the_consumer_only);
  tcase_add_test(tc, a_consumer_may_free_and_cancel_inside_a_direct_send);
  tcase_add_test(tc, owned_values_are_released_once_on_every_path);
  suite_add_tcase(s, tc);
  tc = tcase_create("reentrancy");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, a_send_from_on_next_is_delivered_after_it_returns);
  tcase_add_test(tc, sends_from_on_next_beyond_capacity_are_refused);
  tcase_add_test(tc, close_from_on_next_completes_after_on_next_returns);
  tcase_add_test(tc, cancel_from_on_next_leaves_the_rest_for_the_next_consumer);
  tcase_add_test(
      tc, a_million_sends_to_a_request_one_per_on_next_consumer_stay_flat);
  suite_add_tcase(s, tc);
  tc = tcase_create("space");
  tcase_add_test(tc, on_space_runs_soon_after_room_appears_never_inside_a_call);
  tcase_add_test(tc,
                 on_space_is_not_called_after_close_and_may_free_the_channel);
  tcase_add_test(tc, a_channel_fails_cleanly_at_every_allocation);
  suite_add_tcase(s, tc);
  tc = tcase_create("signal");
  tcase_add_test(tc, signal_rejects_what_cannot_be_caught);
  tcase_add_test(
      tc, signal_emits_its_number_per_arrival_and_coalesces_without_demand);
  tcase_add_test(
      tc, a_delivery_may_cancel_and_subscribe_other_signal_subscriptions);
  tcase_add_test(tc, signal_fails_cleanly_at_every_allocation);
  tcase_add_test(tc,
                 take_until_signal_before_debounce_flushes_the_pending_value);
  suite_add_tcase(s, tc);
  tc = tcase_create("signal_libev");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, a_real_signal_stops_the_pipeline_and_ev_run_returns);
  tcase_add_test(tc, a_signal_alone_does_not_keep_ev_run_alive);
  tcase_add_test(tc, a_second_loop_for_one_signal_is_refused_not_aborted);
  tcase_add_test(tc, a_channel_fed_on_libev_stops_on_a_signal);
  suite_add_tcase(s, tc);
  return s;
}
