/* SPDX-License-Identifier: MIT */
/* rill: share(opts) -- one subscription to the source for every subscriber
 * (RxJS share(); RxJava publish(prefetch).refCount()): publish + refCount.
 *
 * Connection: the first subscriber connects after its on_subscribe (one
 * kit inner subscribed to the source); later ones join the running
 * stream.  The last subscriber leaving disconnects (cancels the source) at
 * once, or after opts->grace_ms on opts->sched when nobody subscribed in
 * the meantime (INFINITY: never).  The source's completion or error goes
 * to every current subscriber and resets the connection: the next
 * subscriber connects anew (RxJS share()'s defaults resetOnError,
 * resetOnComplete and resetOnRefCountZero all true).
 * Demand: RxJava publish(prefetch): `prefetch` requested at connection;
 * afterwards, whenever what the slowest subscriber still buffers plus what
 * is outstanding leaves room for 3/4 of the prefetch (RxJava's `limit`),
 * that room is requested.  So each subscriber buffers at most `prefetch`
 * values (its ring's bound: the overflow policy is never reached), and the
 * slowest governs.  Nothing is requested while nobody is subscribed: the
 * values still in flight then are dropped.
 * Fan-out: the kit's multicast hub (src/kit/multicast.h): values are
 * shared by reference, straight to subscribers with demand, buffered for
 * the others; a subscriber joining during a fan-out (from an on_next)
 * gets the values after it; one leaving is skipped at once.
 * Terminal: after what is buffered for each subscriber (RxJava 3
 * publish).  A synchronous source runs inside the first subscriber's
 * subscribe as far as demand and prefetch allow.
 * Time: only the grace period (one timer, made with the observable).
 * Owns: the source recipe; the connection and the grace timer (shared by
 * the recipe's subscriptions, in one heap block the recipe holds: a live
 * subscription keeps its recipe).  Freeing the recipe while a grace
 * period runs disconnects.
 * Compared with RxJS 7 share(): no connector option (the hub is the
 * subject), no reset switches, and flow control with a prefetch, which
 * RxJS does not have. */
#include <errno.h>
#include <math.h>

#include "kit/inner.h"
#include "kit/multicast.h"

/* What the recipe's subscriptions share. */
struct share_hub {
  struct rill__mcast hub;
  rill_observable_t *src;
  struct rill__inner *conn; /* the source's subscription; NULL: none */
  int64_t prefetch;
  int64_t limit;       /* request when this much room is free */
  int64_t outstanding; /* requested of the connection, not yet received */
  double grace_ms;
  rill_sched_timer_t *grace; /* only for a finite grace > 0 */
};

struct share_args {
  struct share_hub *sh;
};

struct share_state {
  struct rill__mcast_member m; /* first: the kit's view */
};

/* ---- the connection -------------------------------------------------------*/

static void share_disconnect(struct share_hub *sh) {
  struct rill__inner *in = sh->conn;
  sh->conn = NULL;
  rill_sched_timer_stop(sh->grace);
  if (in != NULL)
    rill__inner_release(in);
}

/* Ask the source for the room left by the fullest buffer. */
static void share_replenish(struct share_hub *sh) {
  struct rill__inner *in = sh->conn;
  if (in == NULL || in->up == NULL || sh->hub.live == 0)
    return;
  int64_t room =
      sh->prefetch - (int64_t)rill__mcast_held(&sh->hub) - sh->outstanding;
  if (room < sh->limit)
    return;
  sh->outstanding += room;
  rill__request(in->up, room);
}

static void conn_on_next(struct rill__inner *in, rill_value_t v) {
  struct share_hub *sh = in->owner;
  if (in != sh->conn) { /* a connection let go of: cannot happen */
    rill__drop(v);
    return;
  }
  sh->outstanding--;
  rill__mcast_next(&sh->hub, v);
  share_replenish(sh);
}

static void conn_on_end(struct rill__inner *in, const rill_error_t *err) {
  struct share_hub *sh = in->owner;
  if (in != sh->conn)
    return;
  share_disconnect(sh);
  /* The hub is not sticky: it takes new subscribers (and a new
   * connection) as soon as the current ones are told. */
  if (err != NULL)
    rill__mcast_error(&sh->hub, err);
  else
    rill__mcast_complete(&sh->hub);
}

static const struct rill__inner_ops conn_ops = {
    .on_next = conn_on_next,
    .on_end = conn_on_end,
};

static void share_connect(struct share_hub *sh) {
  struct rill__inner *in = rill__inner_new(&conn_ops, sh, sh->prefetch);
  if (in == NULL) {
    rill_error_t err;
    rill__error_init(&err, RILL_ENOMEM, 0, "share",
                     "share: cannot connect to the source");
    rill__mcast_error(&sh->hub, &err);
    return;
  }
  sh->conn = in;
  sh->outstanding = sh->prefetch; /* what the inner asks at subscription */
  rill__inner_subscribe(in, sh->src);
}

/* Nobody is subscribed: disconnect now, later, or never. */
static void share_idle(struct share_hub *sh) {
  if (sh->conn == NULL || sh->grace_ms == INFINITY)
    return;
  if (sh->grace == NULL)
    share_disconnect(sh);
  else if (!rill_sched_timer_active(sh->grace))
    rill_sched_timer_start(sh->grace, sh->grace_ms);
}

static void share_grace_over(rill_sched_timer_t *t, void *arg) {
  (void)t;
  struct share_hub *sh = arg;
  if (sh->hub.live == 0)
    share_disconnect(sh);
}

static void share_on_room(struct rill__mcast *h) {
  struct share_hub *sh = h->owner;
  if (h->live == 0)
    share_idle(sh);
  else
    share_replenish(sh);
}

static const struct rill__mcast_ops share_hub_ops = {.on_room = share_on_room};

/* ---- handlers
 * ------------------------------------------------------------------*/

static int share_init(struct rill__op *op) {
  const struct share_args *a = op->args;
  int rc = rill__mcast_join(&a->sh->hub, op, 0);
  if (rc == 0)
    rill_sched_timer_stop(a->sh->grace); /* someone is back in time */
  return rc;
}

static void share_on_subscribe(struct rill__op *op) {
  const struct share_args *a = op->args;
  struct share_hub *sh = a->sh;
  rill__mcast_start(op);
  if (rill__op_done(op))
    return;
  if (sh->conn == NULL)
    share_connect(sh);
  else
    share_replenish(sh);
}

static void share_args_release(void *args) {
  struct share_args *a = args;
  struct share_hub *sh = a->sh;
  rill__enter();
  share_disconnect(sh);
  rill__leave();
  rill_sched_timer_free(sh->grace);
  rill__mcast_clear(&sh->hub);
  rill_observable_free(sh->src);
  rill__free(sh);
}

static const struct rill__op_ops share_ops = {
    .name = "share",
    .source = true,
    .args_size = sizeof(struct share_args),
    .state_size = sizeof(struct share_state),
    .init = share_init,
    .on_subscribe = share_on_subscribe,
    .on_request = rill__mcast_request,
    .on_cancel = rill__mcast_cancel,
    .destroy = rill__mcast_destroy,
    .args_release = share_args_release,
};

rill_observable_t *rill_share(rill_observable_t *src,
                              const rill_share_opts_t *opts) {
  rill_share_opts_t o = {0};
  if (opts != NULL)
    o = *opts;
  if (src == NULL || isnan(o.grace_ms) || o.grace_ms < 0 ||
      (o.grace_ms > 0 && !isinf(o.grace_ms) && o.sched == NULL)) {
    if (src != NULL)
      errno = EINVAL;
    else
      rill__errno_null_source();
    rill_observable_free(src);
    return NULL;
  }
  struct share_hub *sh = rill__calloc(1, sizeof(*sh));
  if (sh == NULL) {
    rill_observable_free(src);
    errno = ENOMEM;
    return NULL;
  }
  sh->src = src;
  size_t prefetch = o.prefetch ? o.prefetch : 128;
  sh->prefetch = prefetch > UINT32_MAX / 4 ? UINT32_MAX / 4 : (int64_t)prefetch;
  sh->limit = sh->prefetch - (sh->prefetch >> 2);
  sh->grace_ms = o.grace_ms;
  rill__mcast_init(&sh->hub, &share_hub_ops, sh, "share",
                   (uint32_t)sh->prefetch, RILL_OVERFLOW_ERROR, false);
  if (o.grace_ms > 0 && !isinf(o.grace_ms)) {
    sh->grace = rill_sched_timer_new(o.sched, share_grace_over, sh);
    if (sh->grace == NULL) {
      struct share_args args = {.sh = sh};
      share_args_release(&args);
      errno = ENOMEM;
      return NULL;
    }
  }
  struct share_args args = {.sh = sh};
  return rill__op_create(NULL, &share_ops, &args);
}
