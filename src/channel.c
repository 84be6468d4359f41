/* SPDX-License-Identifier: MIT */
/* rill: the channel -- a bounded FIFO between any number of producers and
 * one consumer at a time (Go's buffered channel; Kotlin's
 * Channel(capacity) read with receiveAsFlow), and the observable that
 * reads it.  The observable is the channel's read end, not an operator,
 * so it lives here with the object it reads.
 *
 * Sending: a value sent while the consumer is waiting (demand
 * outstanding, nothing queued, no emission on the stack) goes straight to
 * it; otherwise it is queued, up to `capacity`.  A full channel refuses
 * with RILL_EAGAIN and the value stays the caller's: only an accepted
 * value (0) is taken over, so nothing is ever dropped behind a producer's
 * back.  Storage for the next value is reserved before it is taken, so
 * running out of memory also hands the value back (RILL_ENOMEM).
 * Space: a value that leaves a full channel arms a 0 ms timer on the
 * scheduler given with on_space; on_space runs from there -- never inside
 * send, on_next or any other call of the application's, so a producer
 * is never re-entered halfway through its own send (Node's 'drain' event
 * is asynchronous for the same reason).  A timer already armed covers
 * later departures; a channel found full again when it fires waits for
 * the next departure.
 * Demand: the consumer's, counted here; values leave the queue only as
 * requested.  Flow control is the kit's drain loop: a send, a request, a
 * close or a cancel made from inside on_next only updates the state, and
 * the loop on the stack delivers (rule 1.3, flat stack).
 * Ending: close and fail wait behind the queued values (Kotlin's
 * close(cause)): an accepted value is delivered or, if no consumer ever
 * takes it, released with the channel.  A finished channel ends every
 * later consumer the same way, at once.
 * Consumers: one at a time; a second subscription while one is live is
 * refused with RILL_EBUSY after on_subscribe (fan-out is what share and
 * subjects are for).  A consumer that cancels leaves the queued values to
 * the next one: the channel outlives its consumers.
 * Owns: the queued values; one reference per observable (a live consumer
 * keeps its recipe, and so the channel); the on_space timer. */
#include <errno.h>

#include "kit/kit.h"

enum chan_status { CHAN_OPEN, CHAN_CLOSED, CHAN_FAILED };

struct rill_channel_s {
  uint32_t refs;
  enum chan_status status;
  struct rill__ring queue;   /* accepted, not yet delivered; max: capacity */
  struct rill__op *consumer; /* the live subscription, or NULL */
  rill_error_t err;          /* CHAN_FAILED: what consumers get */
  rill_channel_space_fn on_space;
  void *ctx;
  rill_sched_timer_t *space; /* runs on_space; NULL without one */
  uint64_t sent, refused;
};

struct chan_args {
  rill_channel_t *ch; /* the recipe's reference */
};

struct chan_state {
  int64_t demand; /* requested, not yet delivered */
  struct rill__drain drain;
};

static rill_channel_t *chan_ref(rill_channel_t *ch) {
  ch->refs++;
  return ch;
}

static void chan_unref(rill_channel_t *ch) {
  if (--ch->refs != 0)
    return;
  rill__ring_clear(&ch->queue);
  rill_sched_timer_free(ch->space);
  rill__free(ch);
}

static bool chan_full(const rill_channel_t *ch) {
  return rill__ring_len(&ch->queue) == ch->queue.max;
}

/* ---- space ----------------------------------------------------------------*/

/* A value is leaving a full channel: on_space is owed, from the timer. */
static void chan_space_due(rill_channel_t *ch) {
  if (ch->space != NULL && ch->status == CHAN_OPEN &&
      !rill_sched_timer_active(ch->space))
    rill_sched_timer_start(ch->space, 0);
}

static void chan_space_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  rill_channel_t *ch = arg;
  if (ch->status != CHAN_OPEN || chan_full(ch))
    return;     /* closed, or full again: the next departure re-arms */
  chan_ref(ch); /* on_space may drop the last outside reference */
  ch->on_space(ch->ctx, ch);
  chan_unref(ch);
}

/* ---- the consumer: drain loop -------------------------------------------*/

static rill_channel_t *chan_of(const struct rill__op *op) {
  return ((const struct chan_args *)op->args)->ch;
}

static void chan_detach(struct rill__op *op) {
  rill_channel_t *ch = chan_of(op);
  if (ch->consumer == op)
    ch->consumer = NULL;
}

/* Detached first: a consumer that subscribes again from its on_complete
 * finds the channel free (and finished). */
static void chan_terminate(struct rill__op *op) {
  rill_channel_t *ch = chan_of(op);
  chan_detach(op);
  if (ch->status == CHAN_FAILED)
    rill__op_error(op, &ch->err);
  else
    rill__op_complete(op);
}

static void chan_pass(struct rill__op *op) {
  rill_channel_t *ch = chan_of(op);
  struct chan_state *st = op->state;
  while (st->demand > 0 && !rill__ring_empty(&ch->queue)) {
    if (chan_full(ch))
      chan_space_due(ch);
    rill__demand_emit(op, &st->demand, rill__ring_pop(&ch->queue));
    if (rill__op_done(op))
      return;
  }
  if (ch->status != CHAN_OPEN && rill__ring_empty(&ch->queue))
    chan_terminate(op);
}

static void chan_drain(struct rill__op *op) {
  struct chan_state *st = op->state;
  if (chan_of(op)->consumer != op)
    return; /* a refused second consumer asking from its on_subscribe */
  if (!rill__drain_enter(&st->drain))
    return; /* the loop on the stack sees it */
  do
    if (!rill__op_done(op))
      chan_pass(op);
  while (rill__drain_again(&st->drain));
}

/* A value straight to a waiting consumer, inside the drain bracket, then
 * whatever its on_next caused. */
static void chan_deliver(struct rill__op *op, rill_value_t v) {
  struct chan_state *st = op->state;
  rill__drain_enter(&st->drain);
  rill__demand_emit(op, &st->demand, v);
  while (rill__drain_again(&st->drain))
    if (!rill__op_done(op))
      chan_pass(op);
}

/* ---- the consumer: handlers ---------------------------------------------*/

static void chan_on_subscribe(struct rill__op *op) {
  rill_channel_t *ch = chan_of(op);
  bool busy = ch->consumer != NULL;
  if (!busy)
    ch->consumer = op; /* before on_subscribe: it may request */
  op->down->vt->on_subscribe(op->down, &op->node);
  if (rill__op_done(op))
    return; /* cancelled there (and detached) */
  if (busy) {
    rill__op_fail(op, RILL_EBUSY,
                  "the channel already has a consumer (one at a time)");
    return;
  }
  chan_drain(op); /* a finished channel ends now, without a request */
}

static void chan_on_request(struct rill__op *op, int64_t n) {
  struct chan_state *st = op->state;
  rill__demand_more(&st->demand, n);
  chan_drain(op);
}

/* The queued values stay in the channel for the next consumer. */
static void chan_on_cancel(struct rill__op *op) {
  chan_detach(op);
}

static void chan_destroy(struct rill__op *op) {
  chan_detach(op);
}

static void chan_args_release(void *args) {
  struct chan_args *a = args;
  chan_unref(a->ch);
}

static const struct rill__op_ops chan_ops = {
    .name = "channel",
    .source = true,
    .args_size = sizeof(struct chan_args),
    .state_size = sizeof(struct chan_state),
    .on_subscribe = chan_on_subscribe,
    .on_request = chan_on_request,
    .on_cancel = chan_on_cancel,
    .destroy = chan_destroy,
    .args_release = chan_args_release,
};

/* ---- public -------------------------------------------------------------*/

#define CHAN_CAPACITY_MAX ((size_t)INT32_MAX) /* the ring's bound */

rill_channel_t *rill_channel_new(size_t capacity,
                                 const rill_channel_opts_t *opts) {
  rill_channel_space_fn on_space = opts ? opts->on_space : NULL;
  if (capacity == 0 || capacity > CHAN_CAPACITY_MAX ||
      (on_space != NULL && opts->sched == NULL)) {
    errno = EINVAL;
    return NULL;
  }
  rill_channel_t *ch = rill__calloc(1, sizeof(*ch));
  if (ch == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  ch->refs = 1;
  rill__ring_init(&ch->queue, (uint32_t)capacity);
  if (on_space != NULL) {
    ch->on_space = on_space;
    ch->ctx = opts->ctx;
    ch->space = rill_sched_timer_new(opts->sched, chan_space_fired, ch);
    if (ch->space == NULL) {
      rill__free(ch);
      errno = ENOMEM;
      return NULL;
    }
  }
  return ch;
}

void rill_channel_free(rill_channel_t *ch) {
  if (ch != NULL)
    chan_unref(ch);
}

int rill_channel_send(rill_channel_t *ch, rill_value_t v) {
  if (ch == NULL)
    return RILL_EINVAL;
  if (ch->status != CHAN_OPEN)
    return RILL_ECANCELED;
  struct rill__op *op = ch->consumer;
  struct chan_state *st = op ? op->state : NULL;
  bool waiting = st != NULL && st->demand > 0 && rill__ring_empty(&ch->queue) &&
                 !rill__drain_running(&st->drain);
  if (!waiting) {
    if (chan_full(ch)) {
      ch->refused++;
      return RILL_EAGAIN; /* v is still the caller's */
    }
    if (rill__ring_reserve(&ch->queue, rill__ring_len(&ch->queue) + 1) < 0)
      return RILL_ENOMEM; /* likewise */
  }
  ch->sent++;
  rill__enter();
  chan_ref(ch); /* on_next may drop the caller's reference */
  if (waiting) {
    chan_deliver(op, v);
  } else {
    (void)rill__ring_push(&ch->queue, v); /* cannot fail: reserved */
    if (op != NULL)
      chan_drain(op); /* sent from on_next: the loop on the stack sees it */
  }
  chan_unref(ch);
  rill__leave();
  return 0;
}

/* Closed or failed: the consumer ends once the queue is empty. */
static void chan_finish(rill_channel_t *ch) {
  rill_sched_timer_stop(ch->space);
  if (ch->consumer == NULL)
    return;
  rill__enter();
  chan_ref(ch);
  chan_drain(ch->consumer);
  chan_unref(ch);
  rill__leave();
}

int rill_channel_close(rill_channel_t *ch) {
  if (ch == NULL)
    return RILL_EINVAL;
  if (ch->status != CHAN_OPEN)
    return RILL_ECANCELED;
  ch->status = CHAN_CLOSED;
  chan_finish(ch);
  return 0;
}

int rill_channel_fail(rill_channel_t *ch, int code, const char *message) {
  if (ch == NULL || code >= 0)
    return RILL_EINVAL;
  if (ch->status != CHAN_OPEN)
    return RILL_ECANCELED;
  if (message != NULL) /* the caller's words, kept as they are */
    rill__error_init(&ch->err, code, 0, "channel", "%s", message);
  else
    rill__error_callback(&ch->err, "channel", code, "failed");
  ch->status = CHAN_FAILED;
  chan_finish(ch);
  return 0;
}

rill_observable_t *rill_channel_observable(rill_channel_t *ch) {
  if (ch == NULL) {
    errno = EINVAL;
    return NULL;
  }
  struct chan_args args = {.ch = chan_ref(ch)};
  return rill__op_create(NULL, &chan_ops, &args);
}

void rill_channel_stats(const rill_channel_t *ch, rill_channel_stats_t *out) {
  if (out == NULL)
    return;
  memset(out, 0, sizeof(*out));
  if (ch == NULL)
    return;
  out->queued = rill__ring_len(&ch->queue);
  out->capacity = ch->queue.max;
  out->sent = ch->sent;
  out->refused = ch->refused;
  out->consumer = ch->consumer != NULL;
  out->closed = ch->status != CHAN_OPEN;
}
