/* rill: delay(d) -- emits each value `delay_ms` after it arrived (RxJS
 * delay with a number).
 *
 * Demand: passes downstream requests upstream 1:1, so the queue never holds
 * more than the values requested and a value that falls due always has
 * demand for it.  If a fused filter downstream drops a value, one more is
 * requested upstream (rill__op_emit).
 * Time: one scheduler timer for the whole life, armed for the head of a
 * FIFO of (due time, value); values arrive in order and share one delay, so
 * due times never decrease and the head is always the next one due.  A
 * burst of values costs no timer calls after the first.  The values due at
 * one firing are emitted in a loop; values that arrive during that loop
 * (a synchronous upstream answering a request) wait for the next firing,
 * so delay(0) on an endless synchronous source cannot spin in one callback.
 * Completion: at once if nothing is queued, else right after the last
 * queued value is out (RxJS: delay-009/-010 against -011).  Error: passes
 * at once; queued values are dropped.
 * Owns: the timer and the queued values (released on every path).
 * RxJS differences: a negative or NaN delay is a bad argument (NULL, errno
 * EINVAL, source released); RxJS treats a negative delay as 0.  An absolute
 * date (RxJS delay(new Date(...))) is rill_delay_until(), a separate
 * constructor on the same stage.  An infinite delay never emits (the
 * timer is not armed). */
#include <errno.h>
#include <math.h>

#include "rill-internal.h"

struct delay_args {
  rill_sched_t *sched;
  double delay; /* relative: due = arrival + delay */
  double until; /* absolute (rill_delay_until): due = max(arrival, until) */
  bool absolute;
};

struct delay_item {
  double due;
  rill_value_t value;
};

struct delay_state {
  rill_sched_timer_t *timer;
  struct delay_item *ring; /* FIFO of `len` items from `head`, `cap` slots */
  size_t cap;
  size_t head;
  size_t len;
  bool closing; /* upstream completed: complete once the queue is empty */
};

static int delay_push(struct delay_state *st, double due, rill_value_t v) {
  if (st->len == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 8;
    struct delay_item *ring = NULL;
    if (cap <= SIZE_MAX / sizeof(*ring))
      ring = rill__malloc(cap * sizeof(*ring));
    if (ring == NULL)
      return RILL_ENOMEM;
    for (size_t i = 0; i < st->len; i++)
      ring[i] = st->ring[(st->head + i) % st->cap];
    rill__free(st->ring);
    st->ring = ring;
    st->cap = cap;
    st->head = 0;
  }
  struct delay_item *it = &st->ring[(st->head + st->len) % st->cap];
  it->due = due;
  it->value = v;
  st->len++;
  return 0;
}

static rill_value_t delay_pop(struct delay_state *st) {
  rill_value_t v = st->ring[st->head].value;
  st->head = (st->head + 1) % st->cap;
  st->len--;
  return v;
}

static void delay_clear(struct delay_state *st) {
  while (st->len > 0)
    rill_value_release(delay_pop(st));
}

/* Arm the timer for the head, or complete if the source has and nothing is
 * left. */
static void delay_arm(struct rill__op *op) {
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  if (st->len > 0) {
    double left = st->ring[st->head].due - rill__sched_now(a->sched);
    if (left < HUGE_VAL)
      rill_sched_timer_start(st->timer, left);
  } else if (st->closing) {
    rill__op_complete(op);
  }
}

static void delay_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct rill__op *op = arg;
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  if (rill__op_done(op))
    return;
  double now = rill__sched_now(a->sched);
  size_t turn = st->len; /* what arrives while emitting waits a turn */
  while (turn-- > 0 && st->len > 0 && st->ring[st->head].due <= now) {
    rill__op_emit(op, delay_pop(st));
    if (rill__op_done(op))
      return;
  }
  delay_arm(op);
}

static int delay_init(struct rill__op *op) {
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  st->timer = rill_sched_timer_new(a->sched, delay_fired, op);
  return st->timer ? 0 : RILL_ENOMEM;
}

static void delay_on_subscribe(struct rill__op *op) {
  op->down->vt->on_subscribe(op->down, &op->node);
}

static void delay_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  const struct delay_args *a = op->args;
  struct delay_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  double now = rill__sched_now(a->sched);
  double due = a->absolute ? (now > a->until ? now : a->until) : now + a->delay;
  if (delay_push(st, due, v) < 0) {
    rill__drop(v);
    rill_sched_timer_stop(st->timer);
    rill__op_fail(op, RILL_ENOMEM, NULL);
    return;
  }
  if (st->len == 1 && !rill_sched_timer_active(st->timer))
    delay_arm(op);
}

static void delay_on_error(struct rill__op *op, const rill_error_t *err) {
  struct delay_state *st = op->state;
  rill_sched_timer_stop(st->timer);
  delay_clear(st);
  rill__op_error(op, err);
}

static void delay_on_complete(struct rill__op *op) {
  struct delay_state *st = op->state;
  st->closing = true;
  if (st->len == 0)
    rill__op_complete(op);
}

static void delay_on_request(struct rill__op *op, int64_t n) {
  rill__op_request_up(op, n);
}

static void delay_on_cancel(struct rill__op *op) {
  struct delay_state *st = op->state;
  rill_sched_timer_stop(st->timer);
}

static void delay_destroy(struct rill__op *op) {
  struct delay_state *st = op->state;
  rill_sched_timer_free(st->timer);
  delay_clear(st);
  rill__free(st->ring);
  st->ring = NULL;
  st->cap = 0;
}

static const struct rill__op_ops delay_ops = {
    .name = "delay",
    .args_size = sizeof(struct delay_args),
    .state_size = sizeof(struct delay_state),
    .init = delay_init,
    .on_subscribe = delay_on_subscribe,
    .on_next = delay_on_next,
    .on_error = delay_on_error,
    .on_complete = delay_on_complete,
    .on_request = delay_on_request,
    .on_cancel = delay_on_cancel,
    .destroy = delay_destroy,
};

rill_observable_t *rill_delay(rill_observable_t *src, rill_sched_t *s,
                              double delay_ms) {
  if (s == NULL || !(delay_ms >= 0)) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct delay_args args = {.sched = s, .delay = delay_ms};
  return rill__op_create(src, &delay_ops, &args);
}

rill_observable_t *rill_delay_until(rill_observable_t *src, rill_sched_t *s,
                                    double at_ms) {
  if (s == NULL || isnan(at_ms)) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct delay_args args = {.sched = s, .until = at_ms, .absolute = true};
  return rill__op_create(src, &delay_ops, &args);
}
