/* SPDX-License-Identifier: MIT */
/* rill tests: the RxJS conformance runner.
 *
 * Replays the cases recorded from RxJS 7.8.2's own marble tests (the data
 * set in $RILL_CONFORMANCE_DIR, default ../shared/conformance/rxjs-marbles;
 * its README gives the schema and the marble grammar) against rill's
 * operators on the virtual scheduler, 1 frame = 1 ms:
 *
 *   - every named source becomes a rill_create() source driven by
 *     scheduler timers: a cold one starts its timeline at each
 *     subscription, a hot one runs on the absolute clock (its timers are
 *     started once, before the run, in creation order, so two hot sources
 *     emitting in one frame keep their order, as in RxJS); both log the
 *     frames at which each subscription starts and ends;
 *   - the case's `observable` tree is rebuilt from rill operators, with
 *     callbacks taken from tests/conformance/callbacks.c;
 *   - the result is subscribed with unbounded demand at frame 0 (or at the
 *     '^' of subscribe_marbles, cancelled at its '!'), the clock runs until
 *     idle (or max_frames), and every notification (frame, kind, value or
 *     error value) and every source's subscription log are compared.
 *
 * Each RxJS operator is built by its entry in `ops` (the table build()
 * dispatches on; `rxjs_conformance --ops` prints it).  Arguments are passed
 * to rill as the case gives them: when rill refuses one (NULL, EINVAL),
 * the case is "refused".  A case using an operator that has no entry is
 * "not implemented"; every other case runs, and one that does not pass
 * must be listed, with its kind and its observed difference, in
 * tests/conformance/deviations.txt (format below, at load_deviations).
 * `rxjs_conformance --list` prints every case that does not pass in that
 * format; `--help` gives the environment (RILL_CONFORMANCE_DIR, CI).
 * Exit: 0, 1 (a failing case, or no data when CI is set), 77 (no data:
 * skipped). */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/conformance.h"
/* the helpers: one translation unit (see Makefile.am) */
#include "conformance/callbacks.c"
#include "conformance/values.c"

#ifndef RILL_CONFORMANCE_DEFAULT_DIR
#define RILL_CONFORMANCE_DEFAULT_DIR "../shared/conformance/rxjs-marbles"
#endif
#ifndef RILL_CONFORMANCE_DEVIATIONS
#define RILL_CONFORMANCE_DEVIATIONS "tests/conformance/deviations.txt"
#endif

#define NEVER_FRAME (-1L)

static void *xcalloc(size_t n, size_t size) {
  void *p = calloc(n, size);
  if (p == NULL)
    abort();
  return p;
}

static void *xrealloc(void *p, size_t size) {
  p = realloc(p, size);
  if (p == NULL)
    abort();
  return p;
}

/* ---- marbles --------------------------------------------------------------*/

struct event {
  long frame;
  char kind;     /* 'N', 'E', 'C' */
  json_t *value; /* owned; NULL is undefined */
};

struct events {
  struct event *v;
  size_t n, cap;
};

static void events_add(struct events *e, long frame, char kind, json_t *v) {
  if (e->n == e->cap) {
    e->cap = e->cap ? e->cap * 2 : 16;
    e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
  }
  e->v[e->n++] = (struct event){frame, kind, v};
}

static void events_free(struct events *e) {
  for (size_t i = 0; i < e->n; i++)
    json_decref(e->v[i].value);
  free(e->v);
  memset(e, 0, sizeof(*e));
}

static json_t *lookup(json_t *values, char c) {
  if (json_is_object(values)) {
    char key[2] = {c, 0};
    json_t *v = json_object_get(values, key);
    return v ? json_incref(v) : NULL;
  }
  if (json_is_array(values) && c >= '0' && c <= '9') {
    json_t *v = json_array_get(values, (size_t)(c - '0'));
    return v ? json_incref(v) : NULL;
  }
  return json_stringn(&c, 1);
}

/* RxJS parseMarbles in run mode (no time progression in this data). */
static void parse_marbles(const char *m, json_t *values, json_t *error,
                          struct events *out) {
  const char *caret = strchr(m, '^');
  long frame = caret ? -(long)(caret - m) : 0;
  long group = NEVER_FRAME;
  bool in_group = false;
  for (const char *p = m; *p; p++) {
    long at = in_group ? group : frame;
    switch (*p) {
    case ' ':
      continue;
    case '(':
      in_group = true;
      group = frame;
      break;
    case ')':
      in_group = false;
      break;
    case '-':
    case '^':
      break;
    case '|':
      events_add(out, at, 'C', NULL);
      break;
    case '#':
      events_add(out, at, 'E',
                 json_is_null(error) || error == NULL ? json_string("error")
                                                      : json_incref(error));
      break;
    default:
      events_add(out, at, 'N', lookup(values, *p));
      break;
    }
    frame++;
  }
}

/* Subscription marbles: '^' subscribe, '!' unsubscribe (no time). */
static bool parse_subscription(const char *m, long *sub, long *unsub) {
  long frame = 0, group = 0;
  bool in_group = false;
  *sub = *unsub = NEVER_FRAME;
  for (const char *p = m; *p; p++) {
    long at = in_group ? group : frame;
    switch (*p) {
    case ' ':
      continue;
    case '(':
      in_group = true;
      group = frame;
      break;
    case ')':
      in_group = false;
      break;
    case '^':
      *sub = at;
      break;
    case '!':
      *unsub = at;
      continue; /* does not advance */
    default:
      break;
    }
    frame++;
  }
  return *sub != NEVER_FRAME;
}

/* ---- test sources ---------------------------------------------------------*/

struct runner;
struct source;

struct subrec {
  struct source *src;
  rill_emitter_t *e;
  long sub, unsub;
  bool active;
};

/* One timer: a frame of a hot source, or of one cold subscription. */
struct tick {
  struct runner *r;
  struct source *src;
  struct subrec *sub; /* NULL for a hot source */
  long frame;         /* the frame in the source's own timeline */
  rill_sched_timer_t *t;
  struct tick *next;
};

struct source {
  struct runner *r;
  const char *name;
  bool hot;
  struct events ev;
  struct subrec **subs;
  size_t nsubs, capsubs;
  rill_observable_t *obs;
};

struct runner {
  rill_sched_t *s;
  struct source *srcs;
  size_t nsrcs;
  struct tick *ticks;
  conf_cb_t **cbs;
  size_t ncbs, capcbs;
  json_t *kase;
};

static long now_frame(struct runner *r) {
  return lround(rill_sched_now(r->s));
}

static void emit(struct subrec *sub, const struct event *ev) {
  if (!sub->active)
    return;
  switch (ev->kind) {
  case 'N':
    rill_emitter_next(sub->e, conf_from_json(ev->value));
    break;
  case 'C':
    rill_emitter_complete(sub->e);
    break;
  default:
    rill_emitter_error(sub->e, conf_error_code(json_incref(ev->value)),
                       "error");
    break;
  }
}

static void tick_fired(rill_sched_timer_t *t, void *arg) {
  struct tick *k = arg;
  (void)t;
  for (size_t i = 0; i < k->src->ev.n; i++) {
    const struct event *ev = &k->src->ev.v[i];
    if (ev->frame != k->frame)
      continue;
    if (k->sub != NULL) {
      emit(k->sub, ev);
    } else {
      size_t n = k->src->nsubs; /* a Subject's snapshot, per message */
      for (size_t j = 0; j < n; j++)
        emit(k->src->subs[j], ev);
    }
  }
}

static struct tick *tick_new(struct runner *r, struct source *src,
                             struct subrec *sub, long frame, double after) {
  struct tick *k = xcalloc(1, sizeof(*k));
  k->r = r;
  k->src = src;
  k->sub = sub;
  k->frame = frame;
  k->t = rill_sched_timer_new(r->s, tick_fired, k);
  if (k->t == NULL)
    abort();
  k->next = r->ticks;
  r->ticks = k;
  rill_sched_timer_start(k->t, after);
  return k;
}

static void source_start(void *ctx, rill_emitter_t *e) {
  struct source *src = ctx;
  struct runner *r = src->r;
  struct subrec *sub = xcalloc(1, sizeof(*sub));
  sub->src = src;
  sub->e = e;
  sub->sub = now_frame(r);
  sub->unsub = NEVER_FRAME;
  sub->active = true;
  if (src->nsubs == src->capsubs) {
    src->capsubs = src->capsubs ? src->capsubs * 2 : 4;
    src->subs = xrealloc(src->subs, src->capsubs * sizeof(*src->subs));
  }
  src->subs[src->nsubs++] = sub;
  if (src->hot)
    return;
  long last = NEVER_FRAME;
  for (size_t i = 0; i < src->ev.n; i++) {
    long f = src->ev.v[i].frame;
    if (f != last)
      tick_new(r, src, sub, f, (double)f);
    last = f;
  }
}

static void source_end(void *ctx, rill_emitter_t *e) {
  struct source *src = ctx;
  for (size_t i = 0; i < src->nsubs; i++) {
    struct subrec *sub = src->subs[i];
    if (sub->active && sub->e == e) {
      sub->active = false;
      sub->unsub = now_frame(src->r);
      sub->e = NULL;
    }
  }
  /* stop this subscription's pending frames */
  for (struct tick *k = src->r->ticks; k != NULL; k = k->next)
    if (k->sub != NULL && k->sub->src == src && !k->sub->active)
      rill_sched_timer_stop(k->t);
}

static struct source *find_source(struct runner *r, const char *name) {
  for (size_t i = 0; i < r->nsrcs; i++)
    if (strcmp(r->srcs[i].name, name) == 0)
      return &r->srcs[i];
  return NULL;
}

/* ---- building the pipeline ------------------------------------------------*/

/* A case that the runner cannot build is "not implemented" when it uses an
 * RxJS operator that has no entry in `ops` below (the table build()
 * dispatches on), and "refused" when the entry exists but cannot build
 * this use of it: a rill constructor returned NULL (bad argument), an
 * argument rill has no parameter for, or a callback not translated. */
enum { B_OK, B_REFUSED };

struct build {
  struct runner *r;
  int status;
  char why[256];
};

static rill_observable_t *bfail(struct build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static rill_observable_t *bfail(struct build *b, const char *fmt, ...) {
  if (b->status == B_OK) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
    b->status = B_REFUSED;
  }
  return NULL;
}

/* The result of a rill constructor: NULL (rill refused its arguments, or
 * a source it was given was already NULL) becomes the case's reason. */
static rill_observable_t *made(struct build *b, rill_observable_t *o,
                               const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static rill_observable_t *made(struct build *b, rill_observable_t *o,
                               const char *fmt, ...) {
  if (o != NULL || b->status != B_OK)
    return o;
  int err = errno;
  char call[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(call, sizeof(call), fmt, ap);
  va_end(ap);
  return bfail(b, "rill refused %s: NULL, errno %s", call,
               err == EINVAL   ? "EINVAL"
               : err == ENOMEM ? "ENOMEM"
                               : strerror(err));
}

static bool is_tag(json_t *j, const char *tag) {
  return json_is_object(j) && json_object_get(j, tag) != NULL;
}

static bool is_undef(json_t *j) {
  return j == NULL || json_is_null(j) || is_tag(j, "$undefined");
}

static bool get_num(json_t *j, double *out) {
  if (json_is_number(j)) {
    *out = json_number_value(j);
    return true;
  }
  if (json_is_string(j)) { /* take('2'): JavaScript coerces */
    *out = js_num(conf_str(json_string_value(j)));
    return !isnan(*out);
  }
  if (is_tag(j, "$number")) {
    const char *s = json_string_value(json_object_get(j, "$number"));
    *out = s && strcmp(s, "Infinity") == 0    ? INFINITY
           : s && strcmp(s, "-Infinity") == 0 ? -INFINITY
           : s && strcmp(s, "-0") == 0        ? 0
                                              : NAN;
    return true;
  }
  return false;
}

/* Arguments without a trailing scheduler. */
static size_t nargs(json_t *args) {
  size_t n = json_array_size(args);
  while (n > 0 && (is_tag(json_array_get(args, n - 1), "$scheduler")))
    n--;
  return n;
}

static conf_cb_t *cb_keep(struct runner *r, conf_cb_t *cb) {
  if (r->ncbs == r->capcbs) {
    r->capcbs = r->capcbs ? r->capcbs * 2 : 8;
    r->cbs = xrealloc(r->cbs, r->capcbs * sizeof(*r->cbs));
  }
  r->cbs[r->ncbs++] = cb;
  return cb;
}

static conf_cb_t *callback_text(struct build *b, const char *text,
                                cb_kind_t kind) {
  const conf_cb_entry_t *e = conf_cb_find(text, kind);
  if (e == NULL) {
    bfail(b, "callback not translated: %s", text);
    return NULL;
  }
  conf_cb_t *cb = xcalloc(1, sizeof(*cb));
  cb->entry = e;
  return cb_keep(b->r, cb);
}

/* A callback, with its thisArg (NULL if none): `function (x) {return
 * this.NAME(x);}` calls the thisArg's field NAME, itself a callback. */
static conf_cb_t *callback_this(struct build *b, json_t *fn, json_t *self,
                                cb_kind_t kind) {
  const char *text = json_string_value(json_object_get(fn, "$function"));
  if (text == NULL) {
    bfail(b, "callback not translated (not a function)");
    return NULL;
  }
  const char *pre = "function (x) {return this.";
  size_t len = strlen(pre);
  json_t *fields = json_object_get(self, "fields");
  if (strncmp(text, pre, len) == 0 && json_is_object(fields)) {
    char field[64];
    size_t k = strcspn(text + len, "(");
    snprintf(field, sizeof(field), "%.*s", (int)k, text + len);
    const char *t = json_string_value(
        json_object_get(json_object_get(fields, field), "$function"));
    if (strcmp(text + len + k, "(x);}") == 0 && t != NULL)
      return callback_text(b, t, kind);
  }
  conf_cb_t *cb = callback_text(b, text, kind);
  if (cb != NULL)
    cb->self = self;
  return cb;
}

static conf_cb_t *callback(struct build *b, json_t *fn, cb_kind_t kind) {
  return callback_this(b, fn, NULL, kind);
}

static rill_observable_t *build(struct build *b, json_t *node);

/* An ObservableInput: an observable, or a plain array (from(array)). */
static rill_observable_t *input(struct build *b, json_t *j) {
  if (json_is_array(j)) {
    size_t n = json_array_size(j);
    rill_value_t *v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
      v[i] = conf_from_json(json_array_get(j, i));
    rill_observable_t *o = rill_from_array(v, n);
    free(v);
    return made(b, o, "rill_from_array(%zu values)", n);
  }
  return build(b, j);
}

static void free_all(rill_observable_t **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    rill_observable_free(v[i]);
}

/* merge/concat: `src` (the operator forms) then inputs; numbers are
 * merge's `concurrent`. */
static rill_observable_t *combine(struct build *b, const char *op,
                                  rill_observable_t *src, json_t *args) {
  rill_observable_t *v[32];
  size_t n = 0;
  double concurrent = INFINITY;
  if (src != NULL)
    v[n++] = src;
  for (size_t i = 0; i < nargs(args); i++) {
    json_t *a = json_array_get(args, i);
    if (get_num(a, &concurrent))
      continue;
    rill_observable_t *o = n < 32 ? input(b, a) : bfail(b, "over 32 inputs");
    if (o == NULL) {
      free_all(v, n);
      return NULL;
    }
    v[n++] = o;
  }
  if (strcmp(op, "merge") == 0) {
    size_t limit = concurrent < (double)n ? (size_t)concurrent : 0;
    return made(b, rill_merge(v, n, limit, 0),
                "rill_merge(%zu sources, max_concurrency %zu)", n, limit);
  }
  return made(b, rill_concat(v, n), "rill_concat(%zu sources)", n);
}

/* ---- the operator table: creation forms ----------------------------------*/

static rill_observable_t *c_merge(struct build *b, json_t *args) {
  return combine(b, "merge", NULL, args);
}

static rill_observable_t *c_concat(struct build *b, json_t *args) {
  return combine(b, "concat", NULL, args);
}

static rill_observable_t *c_of(struct build *b, json_t *args) {
  json_t *arr = json_array();
  for (size_t i = 0; i < nargs(args); i++)
    json_array_append(arr, json_array_get(args, i));
  rill_observable_t *o = input(b, arr);
  json_decref(arr);
  return o;
}

static rill_observable_t *c_range(struct build *b, json_t *args) {
  double a0, a1;
  if (!get_num(json_array_get(args, 0), &a0))
    return bfail(b, "range arguments");
  if (nargs(args) < 2) /* range(count) counts from 0 */
    a1 = a0, a0 = 0;
  else if (!get_num(json_array_get(args, 1), &a1))
    return bfail(b, "range arguments");
  return made(b, rill_range((int64_t)a0, (int64_t)a1), "rill_range(%g, %g)", a0,
              a1);
}

static rill_observable_t *c_timer(struct build *b, json_t *args) {
  rill_sched_t *s = b->r->s;
  json_t *d = json_array_get(args, 0);
  double due;
  /* rill_timer has no Date form: a Date is its distance from now (the
   * build happens at frame 0, where the case subscribes) */
  if (is_tag(d, "$date"))
    due = json_number_value(json_object_get(d, "$date")) - rill_sched_now(s);
  else if (!get_num(d, &due))
    return bfail(b, "timer arguments");
  double period;
  if (nargs(args) >= 2 && !is_undef(json_array_get(args, 1))) {
    if (!get_num(json_array_get(args, 1), &period))
      return bfail(b, "timer period argument");
    return made(b, rill_timer_periodic(s, due, period, NULL),
                "rill_timer_periodic(%g, %g)", due, period);
  }
  return made(b, rill_timer(s, due), "rill_timer(%g)", due);
}

static rill_observable_t *c_interval(struct build *b, json_t *args) {
  double period;
  if (!get_num(json_array_get(args, 0), &period))
    return bfail(b, "interval arguments");
  return made(b, rill_interval(b->r->s, period, NULL), "rill_interval(%g)",
              period);
}

static rill_observable_t *c_throw_error(struct build *b, json_t *args) {
  json_t *fn = json_array_get(args, 0);
  const char *text = json_string_value(json_object_get(fn, "$function"));
  const char *pre = "() => new Error('";
  if (text != NULL && strncmp(text, pre, strlen(pre)) == 0) {
    const char *msg = text + strlen(pre);
    const char *end = strchr(msg, '\'');
    if (end != NULL) {
      json_t *e = json_pack("{s:{s:s,s:s#}}", "$error", "name", "Error",
                            "message", msg, (int)(end - msg));
      return made(b, rill_error(conf_error_code(e), "error"), "rill_error");
    }
  }
  return bfail(b, "callback not translated: %s", text ? text : "(error value)");
}

/* `() => name` where name is a source. */
static rill_observable_t *thunk_source(struct build *b, json_t *fn) {
  const char *text = json_string_value(json_object_get(fn, "$function"));
  if (text != NULL && strncmp(text, "() => ", 6) == 0 &&
      find_source(b->r, text + 6) != NULL)
    return rill_observable_ref(find_source(b->r, text + 6)->obs);
  return bfail(b, "callback not translated: %s",
               text ? text : "(not a function)");
}

/* ---- the operator table: operator (pipeable) forms ----------------------*/

#define ARGS                                                                   \
  size_t n = nargs(args);                                                      \
  json_t *a0 = json_array_get(args, 0), *a1 = json_array_get(args, 1);         \
  (void)n;                                                                     \
  (void)a0;                                                                    \
  (void)a1
#define NEED(x)                                                                \
  do {                                                                         \
    if (!(x)) {                                                                \
      rill_observable_free(src);                                               \
      return NULL;                                                             \
    }                                                                          \
  } while (0)
#define REFUSE(...)                                                            \
  do {                                                                         \
    rill_observable_free(src);                                                 \
    return bfail(b, __VA_ARGS__);                                              \
  } while (0)

static rill_observable_t *p_map(struct build *b, json_t *args,
                                rill_observable_t *src) {
  ARGS;
  conf_cb_t *cb;
  NEED(cb = callback_this(b, a0, n > 1 ? a1 : NULL, CB_MAP));
  return made(b, rill_map(src, cb->entry->map, cb), "rill_map");
}

static rill_observable_t *p_filter(struct build *b, json_t *args,
                                   rill_observable_t *src) {
  ARGS;
  conf_cb_t *cb;
  NEED(cb = callback_this(b, a0, n > 1 ? a1 : NULL, CB_PRED));
  return made(b, rill_filter(src, cb->entry->pred, cb), "rill_filter");
}

static bool get_count(json_t *j, int64_t *out) {
  double d;
  if (!get_num(j, &d) || isnan(d))
    return false;
  /* Infinity: rill counts are int64_t, and INT64_MAX is never reached */
  *out = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
  return true;
}

static rill_observable_t *p_take(struct build *b, json_t *args,
                                 rill_observable_t *src) {
  ARGS;
  int64_t k;
  if (!get_count(a0, &k))
    REFUSE("take argument");
  return made(b, rill_take(src, k), "rill_take(%lld)", (long long)k);
}

static rill_observable_t *p_skip(struct build *b, json_t *args,
                                 rill_observable_t *src) {
  ARGS;
  int64_t k;
  if (!get_count(a0, &k))
    REFUSE("skip argument");
  return made(b, rill_skip(src, k), "rill_skip(%lld)", (long long)k);
}

static rill_observable_t *first_last(struct build *b, json_t *args,
                                     rill_observable_t *src, bool first) {
  ARGS;
  /* RxJS counts a default when a second argument is passed at all, even
   * `undefined`. */
  rill_pred_fn fn = NULL;
  conf_cb_t *cb = NULL;
  if (n > 0 && !is_undef(a0)) {
    NEED(cb = callback(b, a0, CB_PRED));
    fn = cb->entry->pred;
  }
  rill_value_t dflt;
  const rill_value_t *dp = NULL;
  if (n > 1) {
    dflt = conf_from_json(a1);
    dp = &dflt;
  }
  return first ? made(b, rill_first(src, fn, cb, dp), "rill_first")
               : made(b, rill_last(src, fn, cb, dp), "rill_last");
}

static rill_observable_t *p_first(struct build *b, json_t *args,
                                  rill_observable_t *src) {
  return first_last(b, args, src, true);
}

static rill_observable_t *p_last(struct build *b, json_t *args,
                                 rill_observable_t *src) {
  return first_last(b, args, src, false);
}

static rill_observable_t *p_take_until(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  rill_observable_t *notifier;
  NEED(notifier = build(b, a0));
  return made(b, rill_take_until(src, notifier), "rill_take_until");
}

static rill_observable_t *p_take_while(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  conf_cb_t *cb;
  NEED(cb = callback(b, a0, CB_PRED));
  return made(
      b, rill_take_while(src, cb->entry->pred, cb, n > 1 && json_is_true(a1)),
      "rill_take_while");
}

static rill_observable_t *scan_reduce(struct build *b, json_t *args,
                                      rill_observable_t *src, bool scan) {
  ARGS;
  conf_cb_t *cb;
  NEED(cb = callback(b, a0, CB_REDUCE));
  rill_value_t seed;
  if (n > 1)
    seed = conf_from_json(a1);
  return scan
             ? made(b,
                    rill_scan(src, cb->entry->reduce, cb, n > 1 ? &seed : NULL),
                    "rill_scan")
             : made(b,
                    rill_reduce(src, cb->entry->reduce, cb,
                                n > 1 ? &seed : NULL),
                    "rill_reduce");
}

static rill_observable_t *p_scan(struct build *b, json_t *args,
                                 rill_observable_t *src) {
  return scan_reduce(b, args, src, true);
}

static rill_observable_t *p_reduce(struct build *b, json_t *args,
                                   rill_observable_t *src) {
  return scan_reduce(b, args, src, false);
}

/* distinctUntilChanged(comparator, keySelector): rill takes a comparator
 * only; a keySelector is composed into it (conf_cb_key_equal compares the
 * keys, with the comparator when one is given).  RxJS computes each key
 * once; the composition recomputes the previous one, the same for the
 * data set's pure key selectors. */
static rill_observable_t *p_distinct(struct build *b, json_t *args,
                                     rill_observable_t *src) {
  ARGS;
  conf_cb_t *cb = NULL;
  if (n > 1 && !is_undef(a1)) {
    conf_cb_t *key;
    NEED(key = callback(b, a1, CB_KEY));
    if (n > 0 && !is_undef(a0))
      NEED(cb = callback(b, a0, CB_EQUAL));
    else
      cb = cb_keep(b->r, xcalloc(1, sizeof(conf_cb_t)));
    cb->key = key;
    return made(b, rill_distinct_until_changed(src, conf_cb_key_equal, cb),
                "rill_distinct_until_changed");
  }
  if (n > 0 && !is_undef(a0)) {
    NEED(cb = callback(b, a0, CB_EQUAL));
    return made(b, rill_distinct_until_changed(src, cb->entry->equal, cb),
                "rill_distinct_until_changed");
  }
  return made(b, rill_distinct_until_changed(src, NULL, NULL),
              "rill_distinct_until_changed");
}

/* rill_start_with is variadic and has no array form: the counts the data
 * set needs are spelled out. */
static rill_observable_t *p_start_with(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  rill_value_t v[4];
  if (n > 4)
    REFUSE("startWith with %zu values: rill_start_with is variadic, the "
           "runner spells out up to 4",
           n);
  for (size_t i = 0; i < n; i++)
    v[i] = conf_from_json(json_array_get(args, i));
  rill_observable_t *o = NULL;
  switch (n) {
  case 0:
    o = rill_start_with(src, 0);
    break;
  case 1:
    o = rill_start_with(src, 1, v[0]);
    break;
  case 2:
    o = rill_start_with(src, 2, v[0], v[1]);
    break;
  case 3:
    o = rill_start_with(src, 3, v[0], v[1], v[2]);
    break;
  default:
    o = rill_start_with(src, 4, v[0], v[1], v[2], v[3]);
    break;
  }
  return made(b, o, "rill_start_with(%zu values)", n);
}

static rill_observable_t *p_buffer_count(struct build *b, json_t *args,
                                         rill_observable_t *src) {
  ARGS;
  double size, every = 0;
  if (!get_num(a0, &size))
    REFUSE("bufferCount argument");
  if (n > 1 && !is_undef(a1) && !get_num(a1, &every))
    REFUSE("bufferCount argument");
  if (size < 0 || every < 0)
    REFUSE("bufferCount(%g, %g): rill's sizes are size_t", size, every);
  return made(b, rill_buffer_count(src, (size_t)size, (size_t)every),
              "rill_buffer_count(%g, %g)", size, every);
}

static rill_observable_t *p_concat(struct build *b, json_t *args,
                                   rill_observable_t *src) {
  return combine(b, "concat", src, args);
}

static rill_observable_t *p_merge(struct build *b, json_t *args,
                                  rill_observable_t *src) {
  return combine(b, "merge", src, args);
}

static rill_observable_t *p_throttle_time(struct build *b, json_t *args,
                                          rill_observable_t *src) {
  ARGS;
  bool leading = true, trailing = false;
  double d;
  if (!get_num(a0, &d))
    REFUSE("throttleTime argument");
  for (size_t i = 1; i < json_array_size(args); i++) {
    json_t *c = json_array_get(args, i);
    if (json_is_object(c) && !is_tag(c, "$scheduler")) {
      json_t *l = json_object_get(c, "leading");
      json_t *t = json_object_get(c, "trailing");
      if (l)
        leading = json_is_true(l);
      if (t)
        trailing = json_is_true(t);
    }
  }
  if (!leading && !trailing)
    REFUSE("missing feature: throttleTime with neither edge (rill: 0 edges "
           "means leading)");
  rill_throttle_opts_t opts = {.edges =
                                   (leading ? RILL_THROTTLE_LEADING : 0u) |
                                   (trailing ? RILL_THROTTLE_TRAILING : 0u)};
  return made(b, rill_throttle(src, b->r->s, d, &opts), "rill_throttle(%g)", d);
}

static rill_observable_t *p_debounce_time(struct build *b, json_t *args,
                                          rill_observable_t *src) {
  ARGS;
  double d;
  if (!get_num(a0, &d))
    REFUSE("debounceTime argument");
  return made(b, rill_debounce(src, b->r->s, d, NULL), "rill_debounce(%g)", d);
}

static rill_observable_t *p_sample_time(struct build *b, json_t *args,
                                        rill_observable_t *src) {
  ARGS;
  double d;
  if (!get_num(a0, &d))
    REFUSE("sampleTime argument");
  return made(b, rill_sample(src, b->r->s, d, NULL), "rill_sample(%g)", d);
}

static rill_observable_t *p_audit_time(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  double d;
  if (!get_num(a0, &d))
    REFUSE("auditTime argument");
  return made(b, rill_audit(src, b->r->s, d, NULL), "rill_audit(%g)", d);
}

static rill_observable_t *p_delay(struct build *b, json_t *args,
                                  rill_observable_t *src) {
  ARGS;
  double d;
  if (is_tag(a0, "$date")) {
    d = json_number_value(json_object_get(a0, "$date"));
    return made(b, rill_delay_until(src, b->r->s, d), "rill_delay_until(%g)",
                d);
  }
  if (!get_num(a0, &d))
    REFUSE("delay argument");
  return made(b, rill_delay(src, b->r->s, d), "rill_delay(%g)", d);
}

/* bufferTime(span, creationInterval, maxBufferSize): null creation is
 * rill's 0 (none), an Infinity (or 0: RxJS's `|| Infinity`) size its 0. */
static rill_observable_t *p_buffer_time(struct build *b, json_t *args,
                                        rill_observable_t *src) {
  ARGS;
  double d, creation = 0, size = 0;
  if (!get_num(a0, &d))
    REFUSE("bufferTime argument");
  if (n > 1 && !is_undef(a1)) {
    if (!get_num(a1, &creation))
      REFUSE("bufferTime creation interval argument");
    if (creation == 0)
      REFUSE("bufferTime(%g, 0): a creation interval of 0 (rill's 0 means "
             "none)",
             d);
  }
  if (n > 2 && !is_undef(json_array_get(args, 2)) &&
      !get_num(json_array_get(args, 2), &size))
    REFUSE("bufferTime maxBufferSize argument");
  if (isinf(size) || size < 0)
    size = 0;
  rill_buffer_time_opts_t opts = {.creation_ms = creation,
                                  .max_size = (size_t)size};
  return made(b, rill_buffer_time(src, b->r->s, d, &opts),
              "rill_buffer_time(%g, %g, %g)", d, creation, size);
}

static rill_observable_t *p_timeout(struct build *b, json_t *args,
                                    rill_observable_t *src) {
  ARGS;
  rill_sched_t *s = b->r->s;
  double first_ms, each_ms = INFINITY;
  rill_timeout_opts_t opts = {0};
  /* rill_timeout has no Date form: a Date deadline is its distance from
   * now (frame 0, where the case subscribes) */
  if (json_is_object(a0) && !is_tag(a0, "$date") && !is_tag(a0, "$number")) {
    if (json_object_get(a0, "meta"))
      REFUSE("missing feature: timeout `meta`");
    json_t *first = json_object_get(a0, "first");
    json_t *each = json_object_get(a0, "each");
    if (first == NULL && each == NULL)
      REFUSE("timeout without `first` or `each`");
    if (each != NULL && !get_num(each, &each_ms))
      REFUSE("timeout `each` argument");
    if (first == NULL) {
      first_ms = each_ms;
    } else if (is_tag(first, "$date")) {
      if (!get_num(json_object_get(first, "$date"), &first_ms))
        REFUSE("timeout `first` argument");
      first_ms -= rill_sched_now(s);
    } else if (!get_num(first, &first_ms)) {
      REFUSE("timeout `first` argument");
    }
    json_t *with = json_object_get(a0, "with");
    if (with != NULL)
      NEED(opts.with = thunk_source(b, with));
  } else if (is_tag(a0, "$date")) {
    /* timeout(date) is timeout({first: date}) in RxJS 7 */
    if (!get_num(json_object_get(a0, "$date"), &first_ms))
      REFUSE("timeout Date argument");
    first_ms -= rill_sched_now(s);
  } else if (get_num(a0, &first_ms)) {
    each_ms = first_ms;
  } else {
    REFUSE("timeout argument");
  }
  return made(b, rill_timeout(src, s, first_ms, each_ms, &opts),
              "rill_timeout(%g, %g)", first_ms, each_ms);
}

/* ---- higher-order projections (mergeMap, concatMap, switchMap) ----------
 *
 * A projection returns an observable: built here, per value, from the
 * case's sources (the JavaScript closures name them), of(), arrays and
 * delay.  One `struct flat` per use, kept with the case's callbacks. */
struct flat {
  conf_cb_t cb; /* first: freed with the callbacks */
  struct runner *r;
  int (*fn)(struct flat *f, rill_value_t v, rill_observable_t **out);
  struct source *src; /* a source the projection names */
  bool parse_int;     /* i * parseInt(x) (else i * +x) */
  double amount;      /* delayAmount */
  int64_t index, invoked;
  char keys[16][16], names[16][16]; /* observableLookup: key -> source */
  size_t nmap;
};

static int flat_call(void *ctx, rill_value_t v, rill_observable_t **out) {
  struct flat *f = ctx;
  *out = NULL;
  int rc = f->fn(f, v, out);
  f->index++;
  if (rc == 0 && *out == NULL)
    rc = RILL_ENOMEM;
  return rc;
}

static int f_of(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)f;
  *out = rill_just(1, rill_value_retain(v));
  return 0;
}

static int f_source(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = rill_observable_ref(f->src->obs);
  return 0;
}

/* observableLookup[value], where the closure's observableLookup is
 * {a: x, b: y, ...}: each key names a source (flat.keys -> flat.names). */
static int f_lookup(struct flat *f, rill_value_t v, rill_observable_t **out) {
  const conf_atom_t *at = conf_atom_of(v);
  for (size_t i = 0; at && at->type == CONF_STR && i < f->nmap; i++)
    if (strcmp(f->keys[i], at->text) == 0) {
      *out = rill_observable_ref(find_source(f->r, f->names[i])->obs);
      return 0;
    }
  return conf_throw_str("TypeError: not an observable");
}

static int f_lookup_throw_e(struct flat *f, rill_value_t v,
                            rill_observable_t **out) {
  if (is_str(v, "e"))
    return conf_throw_str("error");
  return f_lookup(f, v, out);
}

/* arrayRepeat(value, +value): an array of `value`, +value times */
static int f_repeat(struct flat *f, rill_value_t v, rill_observable_t **out) {
  double n = js_num(v);
  (void)f;
  size_t k = n > 0 && n < 1000 ? (size_t)n : 0;
  rill_value_t vals[1000];
  for (size_t i = 0; i < k; i++)
    vals[i] = rill_value_retain(v);
  *out = rill_from_array(vals, k);
  return 0;
}

static int f_repeat_throw3(struct flat *f, rill_value_t v,
                           rill_observable_t **out) {
  if (is_str(v, "3"))
    return conf_throw_str("error");
  return f_repeat(f, v, out);
}

static int f_repeat_invoked3(struct flat *f, rill_value_t v,
                             rill_observable_t **out) {
  if (++f->invoked == 3)
    return conf_throw_str("error");
  return f_repeat(f, v, out);
}

static int f_throw(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)f;
  (void)v;
  (void)out;
  return conf_throw_str("error");
}

static int m_times_num(void *c, rill_value_t x, rill_value_t *out) {
  *out = js_number(js_num(x) * CB(c)->num);
  return 0;
}

/* src.pipe(map((i) => i * parseInt(x))) or (i * +x) */
static int f_times(struct flat *f, rill_value_t v, rill_observable_t **out) {
  conf_cb_t *m = cb_keep(f->r, xcalloc(1, sizeof(*m)));
  if (f->parse_int)
    parse_int(v, &m->num);
  else
    m->num = js_num(v);
  *out = rill_map(rill_observable_ref(f->src->obs), m_times_num, m);
  return 0;
}

/* (x, i) => of(x).pipe(delay(i === 0 ? 0 : delayAmount)) */
static int f_of_delay(struct flat *f, rill_value_t v, rill_observable_t **out) {
  *out = rill_delay(rill_just(1, rill_value_retain(v)), f->r->s,
                    f->index == 0 ? 0 : f->amount);
  return 0;
}

/* The closure's `name` is {a: x, b: y, ...}, each value a source: its
 * pairs go to f->keys and f->names. */
static bool closure_names_sources(struct build *b, const char *name,
                                  struct flat *f) {
  json_t *closure = json_object_get(b->r->kase, "closure");
  const char *text = json_string_value(json_object_get(closure, name));
  if (text == NULL)
    return false;
  const char *p = text + strspn(text, " {");
  f->nmap = 0;
  while (*p != '\0' && *p != '}') {
    if (f->nmap == 16 ||
        sscanf(p, " %15[A-Za-z0-9_] : %15[A-Za-z0-9_]", f->keys[f->nmap],
               f->names[f->nmap]) != 2 ||
        find_source(b->r, f->names[f->nmap]) == NULL)
      return false;
    f->nmap++;
    p += strcspn(p, ",}");
    p += strspn(p, ", ");
  }
  return true;
}

/* `delayAmount` of the closure, a time('--|') helper: its frames. */
static bool closure_time(struct build *b, const char *name, double *out) {
  json_t *closure = json_object_get(b->r->kase, "closure");
  const char *text = json_string_value(json_object_get(closure, name));
  size_t i;
  json_t *h;
  if (text == NULL || strncmp(text, "time('", 6) != 0)
    return false;
  json_array_foreach(json_object_get(b->r->kase, "time_helpers"), i, h) {
    const char *m = json_string_value(json_object_get(h, "marbles"));
    size_t len = m ? strlen(m) : 0;
    if (m != NULL && strncmp(text + 6, m, len) == 0 &&
        strcmp(text + 6 + len, "')") == 0)
      return get_num(json_object_get(h, "frames"), out);
  }
  return false;
}

static struct flat *flat_callback(struct build *b, json_t *fn) {
  const char *t = json_string_value(json_object_get(fn, "$function"));
  struct flat f = {.r = b->r};
  char name[64] = "";
  if (t == NULL) {
    bfail(b, "callback not translated (not a function)");
    return NULL;
  }
  if (strcmp(t, "(x) => of(x)") == 0 || strcmp(t, "(value) => of(value)") == 0)
    f.fn = f_of;
  else if ((strcmp(t, "(value) => observableLookup[value]") == 0 &&
            closure_names_sources(b, "observableLookup", &f)) ||
           (strcmp(t, "(x) => inners[x]") == 0 &&
            closure_names_sources(b, "inners", &f)))
    f.fn = f_lookup;
  else if (strcmp(t, "(value) => {if (value === 'e') {throw 'error';} return "
                     "observableLookup[value];}") == 0 &&
           closure_names_sources(b, "observableLookup", &f))
    f.fn = f_lookup_throw_e;
  else if (strcmp(t, "(value) => arrayRepeat(value, +value)") == 0)
    f.fn = f_repeat;
  else if (strcmp(t, "(value) => {if (value === '3') {throw 'error';} return "
                     "arrayRepeat(value, +value);}") == 0)
    f.fn = f_repeat_throw3;
  else if (strcmp(t, "(value) => {invoked++; if (invoked === 3) {throw "
                     "'error';} return arrayRepeat(value, +value);}") == 0)
    f.fn = f_repeat_invoked3;
  else if (strcmp(t, "function project() {throw 'error';}") == 0)
    f.fn = f_throw;
  else if (strcmp(t, "(x) => e2.pipe(map((i) => i * parseInt(x)))") == 0)
    f.fn = f_times, f.parse_int = true, f.src = find_source(b->r, "e2");
  else if (strcmp(t, "(x) => e2.pipe(map((i) => i * +x))") == 0)
    f.fn = f_times, f.src = find_source(b->r, "e2");
  else if (strcmp(t, "(value) => x.pipe(map((i) => i * +value))") == 0)
    f.fn = f_times, f.src = find_source(b->r, "x");
  else if (strcmp(t, "(x, i) => of(x).pipe(delay(i === 0 ? 0 : "
                     "delayAmount))") == 0 &&
           closure_time(b, "delayAmount", &f.amount))
    f.fn = f_of_delay;
  else if (sscanf(t, "() => %63[A-Za-z0-9_]", name) == 1 ||
           sscanf(t, "(value) => %63[A-Za-z0-9_]", name) == 1 ||
           sscanf(t, "() => {return %63[A-Za-z0-9_];}", name) == 1) {
    /* () => x, where x is a source, and the text is exactly that */
    char want[3][128];
    snprintf(want[0], sizeof(want[0]), "() => %s", name);
    snprintf(want[1], sizeof(want[1]), "(value) => %s", name);
    snprintf(want[2], sizeof(want[2]), "() => {return %s;}", name);
    for (size_t i = 0; i < 3 && f.fn == NULL; i++)
      if (strcmp(t, want[i]) == 0 && (f.src = find_source(b->r, name)) != NULL)
        f.fn = f_source;
  }
  if (f.fn == NULL || (f.fn == f_times && f.src == NULL)) {
    bfail(b, "callback not translated: %s", t);
    return NULL;
  }
  struct flat *p = xcalloc(1, sizeof(*p));
  *p = f;
  cb_keep(b->r, &p->cb);
  return p;
}

/* mergeMap(project, concurrent) */
static rill_observable_t *p_merge_map(struct build *b, json_t *args,
                                      rill_observable_t *src) {
  ARGS;
  struct flat *f;
  double conc = INFINITY;
  if (n > 1 && !is_undef(a1) && !get_num(a1, &conc))
    REFUSE("mergeMap `concurrent` argument");
  if (!(conc >= 1))
    REFUSE("mergeMap(..., %g): rill's max_concurrency is >= 1 (0: no limit)",
           conc);
  NEED(f = flat_callback(b, a0));
  size_t k = isinf(conc) ? 0 : (size_t)conc;
  return made(b, rill_merge_map(src, flat_call, f, k, 0), "rill_merge_map(%zu)",
              k);
}

static rill_observable_t *p_concat_map(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  struct flat *f;
  if (n > 1)
    REFUSE("concatMap with a result selector");
  NEED(f = flat_callback(b, a0));
  return made(b, rill_concat_map(src, flat_call, f), "rill_concat_map");
}

static rill_observable_t *p_switch_map(struct build *b, json_t *args,
                                       rill_observable_t *src) {
  ARGS;
  struct flat *f;
  if (n > 1)
    REFUSE("switchMap with a result selector");
  NEED(f = flat_callback(b, a0));
  return made(b, rill_switch_map(src, flat_call, f), "rill_switch_map");
}

/* ---- the notifier forms: debounce, throttle, sample ----------------------
 *
 * Their duration selectors are projections (struct flat, flat_call): the
 * ones mergeMap uses (flat_callback) and these. */

static int pred_never(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  return 0;
}

/* () => timer(N, testScheduler) */
static int f_timer(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)v;
  *out = rill_timer(f->r->s, f->amount);
  return 0;
}

/* () => of(0) */
static int f_of_zero(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)f;
  (void)v;
  *out = rill_just(1, rill_value_int(0));
  return 0;
}

static int f_empty(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)f;
  (void)v;
  *out = rill_empty();
  return 0;
}

static int f_never(struct flat *f, rill_value_t v, rill_observable_t **out) {
  (void)f;
  (void)v;
  *out = rill_never();
  return 0;
}

/* cold('---|') built in the closure: completes after its frames, no value
 * (the runner has no named source for it) */
static int f_cold_silent(struct flat *f, rill_value_t v,
                         rill_observable_t **out) {
  (void)v;
  *out = rill_filter(rill_timer(f->r->s, f->amount), pred_never, NULL);
  return 0;
}

/* selector.shift(), e2[i++]: the sources NAME[0], NAME[1], ... in turn
 * (NAME in f->names[0]); past the last, JavaScript's undefined is not an
 * observable */
static int f_next_source(struct flat *f, rill_value_t v,
                         rill_observable_t **out) {
  char name[64];
  (void)v;
  snprintf(name, sizeof(name), "%s[%lld]", f->names[0],
           (long long)f->invoked++);
  struct source *src = find_source(f->r, name);
  if (src == NULL)
    return conf_throw_str("TypeError: not an observable");
  *out = rill_observable_ref(src->obs);
  return 0;
}

/* function selectorFunction(x) {if (x !== 'K') {return selector.shift();}
 * else {throw 'error';}} (K in f->keys[0]) */
static int f_next_source_unless(struct flat *f, rill_value_t v,
                                rill_observable_t **out) {
  if (is_str(v, f->keys[0]))
    return conf_throw_str("error");
  return f_next_source(f, v, out);
}

/* () => {if (i++ === K) {throw new Error('M');} return SRC;} (K in
 * f->amount, M in f->keys[0], i from 0) */
static int f_source_until_throw(struct flat *f, rill_value_t v,
                                rill_observable_t **out) {
  if ((double)f->invoked++ == f->amount)
    return conf_error_code(json_pack("{s:{s:s,s:s}}", "$error", "name", "Error",
                                     "message", f->keys[0]));
  return f_source(f, v, out);
}

/* The closure variable `name` is the number 0. */
static bool closure_zero(struct build *b, const char *name) {
  json_t *closure = json_object_get(b->r->kase, "closure");
  const char *text = json_string_value(json_object_get(closure, name));
  return text != NULL && strcmp(text, "0") == 0;
}

/* A duration selector: the patterns above, else a mergeMap projection. */
static struct flat *duration_callback(struct build *b, json_t *fn) {
  const char *t = json_string_value(json_object_get(fn, "$function"));
  struct flat f = {.r = b->r};
  char name[16], msg[16], dashes[64];
  int k;
  if (t == NULL)
    return flat_callback(b, fn);
  if (sscanf(t, "() => timer(%lf, testScheduler)%n", &f.amount, &k) == 1 &&
      t[k] == '\0')
    f.fn = f_timer;
  else if (strcmp(t, "() => of(0)") == 0)
    f.fn = f_of_zero;
  else if (strcmp(t, "function selectorFunction(x) {return EMPTY;}") == 0)
    f.fn = f_empty;
  else if (strcmp(t, "function selectorFunction() {return NEVER;}") == 0)
    f.fn = f_never;
  else if (sscanf(t, "function durationSelector() {return cold('%63[-]|');}%n",
                  dashes, &k) == 1 &&
           t[k] == '\0') {
    f.fn = f_cold_silent;
    f.amount = (double)strlen(dashes);
  } else if (strcmp(t, "() => selector.shift()") == 0) {
    f.fn = f_next_source;
    snprintf(f.names[0], sizeof(f.names[0]), "selector");
  } else if (strcmp(t, "() => e2[i++]") == 0 && closure_zero(b, "i")) {
    f.fn = f_next_source;
    snprintf(f.names[0], sizeof(f.names[0]), "e2");
  } else if (sscanf(t,
                    "function selectorFunction(x) {if (x !== '%15[a-z]') "
                    "{return selector.shift();} else {throw 'error';}}%n",
                    msg, &k) == 1 &&
             t[k] == '\0') {
    f.fn = f_next_source_unless;
    snprintf(f.names[0], sizeof(f.names[0]), "selector");
    snprintf(f.keys[0], sizeof(f.keys[0]), "%s", msg);
  } else if (sscanf(t,
                    "() => {if (i++ === %lf) {throw new Error('%15[a-z]');} "
                    "return %15[A-Za-z0-9_];}%n",
                    &f.amount, msg, name, &k) == 3 &&
             t[k] == '\0' && closure_zero(b, "i") &&
             (f.src = find_source(b->r, name)) != NULL) {
    f.fn = f_source_until_throw;
    snprintf(f.keys[0], sizeof(f.keys[0]), "%s", msg);
  } else {
    return flat_callback(b, fn);
  }
  struct flat *p = xcalloc(1, sizeof(*p));
  *p = f;
  cb_keep(b->r, &p->cb);
  return p;
}

/* debounce(durationSelector) */
static rill_observable_t *p_debounce(struct build *b, json_t *args,
                                     rill_observable_t *src) {
  ARGS;
  struct flat *f;
  NEED(f = duration_callback(b, a0));
  return made(b, rill_debounce_with(src, flat_call, f, NULL),
              "rill_debounce_with");
}

/* throttle(durationSelector, {leading, trailing}) */
static rill_observable_t *p_throttle(struct build *b, json_t *args,
                                     rill_observable_t *src) {
  ARGS;
  struct flat *f;
  bool leading = true, trailing = false;
  if (n > 1 && json_is_object(a1)) {
    json_t *l = json_object_get(a1, "leading");
    json_t *t = json_object_get(a1, "trailing");
    if (l)
      leading = json_is_true(l);
    if (t)
      trailing = json_is_true(t);
  }
  if (!leading && !trailing)
    REFUSE("missing feature: throttle with neither edge (rill: 0 edges "
           "means leading)");
  NEED(f = duration_callback(b, a0));
  rill_throttle_opts_t opts = {.edges =
                                   (leading ? RILL_THROTTLE_LEADING : 0u) |
                                   (trailing ? RILL_THROTTLE_TRAILING : 0u)};
  return made(b, rill_throttle_with(src, flat_call, f, &opts),
              "rill_throttle_with");
}

/* sample(notifier) */
static rill_observable_t *p_sample(struct build *b, json_t *args,
                                   rill_observable_t *src) {
  ARGS;
  rill_observable_t *notifier;
  NEED(notifier = build(b, a0));
  return made(b, rill_sample_with(src, notifier, NULL), "rill_sample_with");
}

/* tap and finalize: side effects for chai assertions only. */
static rill_observable_t *p_side_effect(struct build *b, json_t *args,
                                        rill_observable_t *src) {
  (void)b;
  (void)args;
  return src;
}

static rill_observable_t *p_ignore_elements(struct build *b, json_t *args,
                                            rill_observable_t *src) {
  conf_cb_t *cb;
  (void)args;
  NEED(cb = callback_text(b, "() => false", CB_PRED));
  return made(b, rill_filter(src, cb->entry->pred, cb),
              "rill_filter(() => false)");
}

/* ---- recovering: catchError and retry (issue 9) --------------------------
 *
 * The selectors and delay functions of the cases, translated: each
 * returns a fresh observable per call (taken over by rill) built from the
 * case's sources, of(...), timer, EMPTY and throwError. */
enum {
  RC_SOURCE,      /* () => src, (err) => src */
  RC_OF,          /* (err) => of('a', 'b', 'c') */
  RC_CAUGHT,      /* (err, caught) => {if (retries++ === 2) {throw ...} */
  RC_TIMER_K,     /* (_err, retryCount) => timer(retryCount) */
  RC_TIMER_EMPTY, /* ... retryCount <= 2 ? timer(retryCount) : EMPTY */
  RC_TIMER_ERROR, /* ... : throwError(() => new Error('blah')) */
  RC_TIMER_THROW, /* ... else {throw new Error('blah');} */
  RC_TIMER_POW2,  /* (_err, retryCount) => timer(2 ** retryCount) */
};

struct recover_cb {
  conf_cb_t cb; /* first: freed with the callbacks */
  struct runner *r;
  int kind;
  struct source *src;
  char of[8][16];
  size_t nof;
  int64_t retries; /* the closure's counter */
};

/* of('X', 'Y', 'Z'): the quoted strings, into rc->of. */
static bool recover_parse_of(const char *t, struct recover_cb *rc) {
  const char *p = strstr(t, "of(");
  if (p == NULL)
    return false;
  for (p += 3; *p != ')' && *p != '\0';) {
    if (*p != '\'' || rc->nof == 8)
      return false;
    size_t k = strcspn(p + 1, "'");
    if (k >= sizeof(rc->of[0]) || p[1 + k] != '\'')
      return false;
    snprintf(rc->of[rc->nof++], sizeof(rc->of[0]), "%.*s", (int)k, p + 1);
    p += k + 2;
    p += strspn(p, ", ");
  }
  return *p == ')';
}

static struct recover_cb *recover_callback(struct build *b, json_t *fn) {
  static const struct {
    const char *text;
    int kind;
  } fixed[] = {
      {"(err, caught) => {if (retries++ === 2) {throw 'done';} return "
       "caught;}",
       RC_CAUGHT},
      {"(_err, retryCount) => {return timer(retryCount);}", RC_TIMER_K},
      {"(_err, retryCount) => {return retryCount <= 2 ? timer(retryCount) : "
       "EMPTY;}",
       RC_TIMER_EMPTY},
      {"(_err, retryCount) => {return retryCount <= 2 ? timer(retryCount) : "
       "throwError(() => new Error('blah'));}",
       RC_TIMER_ERROR},
      {"(_err, retryCount) => {if (retryCount <= 2) {return "
       "timer(retryCount);} else {throw new Error('blah');}}",
       RC_TIMER_THROW},
      {"(_err, retryCount) => timer(2 ** retryCount)", RC_TIMER_POW2},
  };
  const char *t = json_string_value(json_object_get(fn, "$function"));
  struct recover_cb rc = {.r = b->r, .kind = -1};
  char name[64];
  if (t == NULL) {
    bfail(b, "callback not translated (not a function)");
    return NULL;
  }
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    if (strcmp(t, fixed[i].text) == 0)
      rc.kind = fixed[i].kind;
  if (rc.kind < 0 && (sscanf(t, "() => %63[A-Za-z0-9_]", name) == 1 ||
                      sscanf(t, "(err) => %63[A-Za-z0-9_]", name) == 1)) {
    char want[2][128];
    snprintf(want[0], sizeof(want[0]), "() => %s", name);
    snprintf(want[1], sizeof(want[1]), "(err) => %s", name);
    if ((strcmp(t, want[0]) == 0 || strcmp(t, want[1]) == 0) &&
        (rc.src = find_source(b->r, name)) != NULL)
      rc.kind = RC_SOURCE;
  }
  if (rc.kind < 0 &&
      (strncmp(t, "() => ", 6) == 0 || strncmp(t, "(err) => ", 9) == 0)) {
    /* of(...), bare or as {return of(...);} */
    const char *body = strstr(t, "=> ") + 3;
    char tail[64];
    size_t k = strcspn(body, ")");
    snprintf(tail, sizeof(tail), "%s", body + k);
    bool braced =
        strncmp(body, "{return of(", 11) == 0 && strcmp(tail, ");}") == 0;
    bool bare = strncmp(body, "of(", 3) == 0 && strcmp(tail, ")") == 0;
    if ((braced || bare) && recover_parse_of(body, &rc))
      rc.kind = RC_OF;
  }
  if (rc.kind < 0) {
    bfail(b, "callback not translated: %s", t);
    return NULL;
  }
  struct recover_cb *p = xcalloc(1, sizeof(*p));
  *p = rc;
  cb_keep(b->r, &p->cb);
  return p;
}

static int recover_blah(void) {
  return conf_error_code(
      json_pack("{s:{s:s,s:s}}", "$error", "name", "Error", "message", "blah"));
}

static int rc_catch(void *ctx, const rill_error_t *err,
                    rill_observable_t **next) {
  struct recover_cb *rc = ctx;
  (void)err;
  switch (rc->kind) {
  case RC_SOURCE:
    *next = rill_observable_ref(rc->src->obs);
    break;
  case RC_OF: {
    rill_value_t v[8];
    for (size_t i = 0; i < rc->nof; i++)
      v[i] = conf_str(rc->of[i]);
    *next = rill_from_array(v, rc->nof);
    break;
  }
  default: /* RC_CAUGHT */
    if (rc->retries++ == 2)
      return conf_throw_str("done");
    return RILL_CATCH_RESUBSCRIBE;
  }
  return *next != NULL ? 0 : RILL_ENOMEM;
}

static int rc_notify(void *ctx, const rill_error_t *err, int64_t k,
                     rill_observable_t **out) {
  struct recover_cb *rc = ctx;
  rill_sched_t *s = rc->r->s;
  (void)err;
  switch (rc->kind) {
  case RC_SOURCE:
    *out = rill_observable_ref(rc->src->obs);
    break;
  case RC_TIMER_POW2:
    *out = rill_timer(s, ldexp(1, (int)k));
    break;
  default:
    if (rc->kind == RC_TIMER_K || k <= 2)
      *out = rill_timer(s, (double)k);
    else if (rc->kind == RC_TIMER_EMPTY)
      *out = rill_empty();
    else if (rc->kind == RC_TIMER_ERROR)
      *out = rill_error(recover_blah(), "blah");
    else
      return recover_blah();
    break;
  }
  return *out != NULL ? 0 : RILL_ENOMEM;
}

static rill_observable_t *p_catch_error(struct build *b, json_t *args,
                                        rill_observable_t *src) {
  struct recover_cb *rc = recover_callback(b, json_array_get(args, 0));
  if (rc == NULL || rc->kind > RC_CAUGHT) {
    rill_observable_free(src);
    return rc == NULL ? NULL : bfail(b, "catchError selector");
  }
  return made(b, rill_catch_error(src, rc_catch, rc), "rill_catch_error");
}

/* retry(count) or retry({count, delay, resetOnSuccess}); RxJS counts
 * every retry (rill's RILL_RETRY_RESET_NEVER) unless resetOnSuccess. */
static rill_observable_t *p_retry(struct build *b, json_t *args,
                                  rill_observable_t *src) {
  json_t *a0 = json_array_get(args, 0);
  rill_retry_opts_t opts = {.reset = RILL_RETRY_RESET_NEVER};
  double count = INFINITY, delay = 0;
  json_t *jc = a0, *jd = NULL;
  if (json_is_object(a0)) {
    json_t *reset = json_object_get(a0, "resetOnSuccess");
    if (json_is_true(reset))
      opts.reset = RILL_RETRY_RESET_ON_VALUE;
    jc = json_object_get(a0, "count");
    jd = json_object_get(a0, "delay");
  }
  if (!is_undef(jc) && !get_num(jc, &count)) {
    rill_observable_free(src);
    return bfail(b, "retry count argument");
  }
  if (jd != NULL && is_tag(jd, "$function")) {
    struct recover_cb *rc = recover_callback(b, jd);
    if (rc == NULL || (rc->kind < RC_TIMER_K && rc->kind != RC_SOURCE)) {
      rill_observable_free(src);
      return rc == NULL ? NULL : bfail(b, "retry delay function");
    }
    opts.notifier = rc_notify;
    opts.notifier_ctx = rc;
  } else if (jd != NULL && !get_num(jd, &delay)) {
    rill_observable_free(src);
    return bfail(b, "retry delay argument");
  } else if (delay != 0) { /* a constant delay */
    opts.sched = b->r->s;
    opts.initial_ms = delay;
    opts.multiplier = 1;
  }
  int64_t max = isinf(count) && count > 0 ? RILL_UNBOUNDED : (int64_t)count;
  return made(b, rill_retry(src, max, &opts), "rill_retry(%g, delay %g)", count,
              delay);
}

/* ---- combining sources (zip, zipWith, combineLatest, combineLatestWith)
 *
 * RxJS's argument rules: a trailing function is the result selector
 * (rill's combining function; none gives arrays); the static forms and
 * combineLatest's operator forms take a single array argument as the list
 * of sources (argsOrArgArray), while zip's operator forms (zip(...)
 * deprecated, zipWith) pass every argument as an input, a plain array
 * being from(array).  combineLatest({a: x, ...}) (a dictionary of
 * sources, emitting objects) has no rill form. */

/* The result selectors of the data set, by text. */
static int k_add(void *ctx, const rill_value_t *v, size_t n,
                 rill_value_t *out) { /* x + y (+ z), left to right */
  (void)ctx;
  rill_value_t acc = v[0];
  for (size_t i = 1; i < n; i++)
    acc = js_add(acc, v[i]);
  *out = rill_value_retain(acc);
  return 0;
}
static int k_str_add(void *ctx, const rill_value_t *v, size_t n,
                     rill_value_t *out) { /* '' + a + b */
  rill_value_t acc = conf_str("");
  (void)ctx;
  for (size_t i = 0; i < n; i++)
    acc = js_add(acc, v[i]);
  *out = acc;
  return 0;
}
static int k_strings(void *ctx, const rill_value_t *v, size_t n,
                     rill_value_t *out) { /* String(a) + String(b) */
  char text[512] = "", one[256];
  (void)ctx;
  for (size_t i = 0; i < n; i++) {
    js_tostr(v[i], one, sizeof(one));
    strncat(text, one, sizeof(text) - strlen(text) - 1);
  }
  *out = conf_str(text);
  return 0;
}
static int k_array(void *ctx, const rill_value_t *v, size_t n,
                   rill_value_t *out) { /* [r0, r1, r2] */
  rill_array_t *a = rill_array_new(n);
  (void)ctx;
  for (size_t i = 0; a != NULL && i < n; i++)
    rill_array_push(a, rill_value_retain(v[i]));
  *out = rill_value_array(a);
  return a != NULL ? 0 : RILL_ENOMEM;
}
static int k_throw_ha_ha(void *ctx, const rill_value_t *v, size_t n,
                         rill_value_t *out) {
  char x[128], y[128], msg[300];
  (void)ctx;
  (void)n;
  (void)out;
  js_tostr(v[0], x, sizeof(x));
  js_tostr(v[1], y, sizeof(y));
  snprintf(msg, sizeof(msg), "ha ha %s, %s", x, y);
  return conf_throw_str(msg);
}
/* if (y === five) {throw new Error('too bad');} else {return x + y;} */
static int k_too_bad(rill_value_t five, const rill_value_t *v,
                     rill_value_t *out) {
  if (conf_equal(v[1], five))
    return conf_error_code(json_pack("{s:{s:s,s:s}}", "$error", "name", "Error",
                                     "message", "too bad"));
  *out = js_add(v[0], v[1]);
  return 0;
}
static int k_too_bad_str(void *ctx, const rill_value_t *v, size_t n,
                         rill_value_t *out) {
  (void)ctx;
  (void)n;
  return k_too_bad(conf_str("5"), v, out);
}
static int k_too_bad_num(void *ctx, const rill_value_t *v, size_t n,
                         rill_value_t *out) {
  (void)ctx;
  (void)n;
  return k_too_bad(rill_value_int(5), v, out);
}

static const struct {
  const char *text;
  rill_combine_fn fn;
} combine_fns[] = {
    {"(x, y) => x + y", k_add},
    {"(r1, r2) => r1 + r2", k_add},
    {"(r1, r2) => {return r1 + r2;}", k_add},
    {"(e1, e2) => e1 + e2", k_add},
    {"(e1, e2) => {return e1 + e2;}", k_add},
    {"(x, y, z) => x + y + z", k_add},
    {"(a, b) => '' + a + b", k_str_add},
    {"(a, b) => String(a) + String(b)", k_strings},
    {"(r0, r1, r2) => [r0, r1, r2]", k_array},
    {"(r0, r1, r2) => {return [r0, r1, r2];}", k_array},
    {"(x, y) => {throw 'ha ha ' + x + ', ' + y;}", k_throw_ha_ha},
    {"(x, y) => {if (y === '5') {throw new Error('too bad');} else {return x "
     "+ y;}}",
     k_too_bad_str},
    {"(x, y) => {if (y === 5) {throw new Error('too bad');} else {return x + "
     "y;}}",
     k_too_bad_num},
    {"function (x, y) {if (y === 5) {throw new Error('too bad');} else "
     "{return x + y;}}",
     k_too_bad_num},
};

static bool is_function(json_t *j) {
  return is_tag(j, "$function");
}

/* An observable of the tree (not a plain object: a dictionary). */
static bool is_observable_node(json_t *j) {
  return json_is_array(j) || is_tag(j, "$ref") || is_tag(j, "$op") ||
         is_tag(j, "$const");
}

/* `src` (an operator form) and the inputs in args, combined by `which`
 * ("zip" or "combineLatest"); `unwrap`: a single array argument is the
 * list of sources. */
static rill_observable_t *combining(struct build *b, const char *which,
                                    rill_observable_t *src, json_t *args,
                                    bool unwrap) {
  rill_observable_t *v[32];
  size_t n = 0, na = nargs(args);
  rill_combine_fn fn = NULL;
  if (src != NULL)
    v[n++] = src;
  if (na > 0 && is_function(json_array_get(args, na - 1))) {
    const char *t = json_string_value(
        json_object_get(json_array_get(args, na - 1), "$function"));
    for (size_t i = 0;
         fn == NULL && i < sizeof(combine_fns) / sizeof(*combine_fns); i++)
      if (strcmp(combine_fns[i].text, t) == 0)
        fn = combine_fns[i].fn;
    na--;
    if (fn == NULL) {
      free_all(v, n);
      return bfail(b, "callback not translated: %s", t);
    }
  }
  json_t *list = args;
  if (unwrap && na == 1 && json_is_array(json_array_get(args, 0))) {
    list = json_array_get(args, 0);
    na = json_array_size(list);
  }
  for (size_t i = 0; i < na; i++) {
    json_t *a = json_array_get(list, i);
    rill_observable_t *o = NULL;
    if (!is_observable_node(a))
      o = bfail(b,
                "missing feature: %s of a dictionary of sources (rill "
                "combines arrays)",
                which);
    else
      o = n < 32 ? input(b, a) : bfail(b, "over 32 inputs");
    if (o == NULL) {
      free_all(v, n);
      return NULL;
    }
    v[n++] = o;
  }
  if (strcmp(which, "zip") == 0)
    return made(b, rill_zip(v, n, fn, NULL), "rill_zip(%zu sources)", n);
  return made(b, rill_combine_latest(v, n, fn, NULL),
              "rill_combine_latest(%zu sources)", n);
}

static rill_observable_t *c_zip(struct build *b, json_t *args) {
  return combining(b, "zip", NULL, args, true);
}

static rill_observable_t *p_zip(struct build *b, json_t *args,
                                rill_observable_t *src) {
  return combining(b, "zip", src, args, false);
}

static rill_observable_t *c_combine_latest(struct build *b, json_t *args) {
  return combining(b, "combineLatest", NULL, args, true);
}

static rill_observable_t *p_combine_latest(struct build *b, json_t *args,
                                           rill_observable_t *src) {
  return combining(b, "combineLatest", src, args, true);
}

#undef ARGS
#undef NEED
#undef REFUSE

/* ---- race, raceWith (rill_race) ------------------------------------------*/

/* race(...sources) / the deprecated operator form race(...others) flatten
 * one array argument into its items (RxJS argsOrArgArray); raceWith does
 * not.  `src`, when not NULL, races first. */
static rill_observable_t *race_inputs(struct build *b, rill_observable_t *src,
                                      json_t *args, bool flatten) {
  rill_observable_t *v[32];
  size_t n = 0;
  if (src != NULL)
    v[n++] = src;
  json_t *list = args;
  if (flatten && nargs(args) == 1 && json_is_array(json_array_get(args, 0)))
    list = json_array_get(args, 0);
  for (size_t i = 0; i < nargs(list); i++) {
    rill_observable_t *o =
        n < 32 ? input(b, json_array_get(list, i)) : bfail(b, "over 32 inputs");
    if (o == NULL) {
      free_all(v, n);
      return NULL;
    }
    v[n++] = o;
  }
  return made(b, rill_race(v, n), "rill_race(%zu sources)", n);
}

static rill_observable_t *c_race(struct build *b, json_t *args) {
  return race_inputs(b, NULL, args, true);
}

static rill_observable_t *p_race(struct build *b, json_t *args,
                                 rill_observable_t *src) {
  return race_inputs(b, src, args, true);
}

static rill_observable_t *p_race_with(struct build *b, json_t *args,
                                      rill_observable_t *src) {
  return race_inputs(b, src, args, false);
}

typedef rill_observable_t *(*creation_fn)(struct build *b, json_t *args);
typedef rill_observable_t *(*pipeable_fn)(struct build *b, json_t *args,
                                          rill_observable_t *src);

/* Every RxJS operator the runner can build, with the rill call that builds
 * it: build() dispatches on this table and nothing else, and a case using
 * a name not in it (or a form, creation or operator, it has no function
 * for) is "not implemented". */
static const struct op {
  const char *name;
  creation_fn creation; /* merge(a, b), of(...), timer(...) */
  pipeable_fn pipeable; /* source.pipe(op(...)) */
  const char *rill;
} ops[] = {
    {"auditTime", NULL, p_audit_time, "rill_audit"},
    {"bufferCount", NULL, p_buffer_count, "rill_buffer_count"},
    {"bufferTime", NULL, p_buffer_time, "rill_buffer_time"},
    {"catchError", NULL, p_catch_error, "rill_catch_error"},
    {"combineLatest", c_combine_latest, p_combine_latest,
     "rill_combine_latest"},
    {"combineLatestWith", NULL, p_combine_latest, "rill_combine_latest"},
    {"concat", c_concat, p_concat, "rill_concat"},
    {"concatMap", NULL, p_concat_map, "rill_concat_map"},
    {"concatWith", NULL, p_concat, "rill_concat"},
    {"debounce", NULL, p_debounce, "rill_debounce_with"},
    {"debounceTime", NULL, p_debounce_time, "rill_debounce"},
    {"delay", NULL, p_delay, "rill_delay, rill_delay_until (Date)"},
    {"distinctUntilChanged", NULL, p_distinct,
     "rill_distinct_until_changed (keySelector composed into the "
     "comparator)"},
    {"filter", NULL, p_filter, "rill_filter"},
    {"finalize", NULL, p_side_effect, "(nothing: side effects only)"},
    {"first", NULL, p_first, "rill_first"},
    {"ignoreElements", NULL, p_ignore_elements, "rill_filter(() => false)"},
    {"interval", c_interval, NULL, "rill_interval"},
    {"last", NULL, p_last, "rill_last"},
    {"map", NULL, p_map, "rill_map"},
    {"merge", c_merge, p_merge, "rill_merge"},
    {"mergeMap", NULL, p_merge_map, "rill_merge_map"},
    {"mergeWith", NULL, p_merge, "rill_merge"},
    {"of", c_of, NULL, "rill_from_array"},
    {"race", c_race, p_race, "rill_race"},
    {"raceWith", NULL, p_race_with, "rill_race"},
    {"range", c_range, NULL, "rill_range"},
    {"reduce", NULL, p_reduce, "rill_reduce"},
    {"retry", NULL, p_retry, "rill_retry"},
    {"sample", NULL, p_sample, "rill_sample_with"},
    {"sampleTime", NULL, p_sample_time, "rill_sample"},
    {"scan", NULL, p_scan, "rill_scan"},
    {"skip", NULL, p_skip, "rill_skip"},
    {"startWith", NULL, p_start_with, "rill_start_with"},
    {"switchMap", NULL, p_switch_map, "rill_switch_map"},
    {"take", NULL, p_take, "rill_take"},
    {"takeUntil", NULL, p_take_until, "rill_take_until"},
    {"takeWhile", NULL, p_take_while, "rill_take_while"},
    {"tap", NULL, p_side_effect, "(nothing: side effects only)"},
    {"throttle", NULL, p_throttle, "rill_throttle_with"},
    {"throttleTime", NULL, p_throttle_time, "rill_throttle"},
    {"throwError", c_throw_error, NULL, "rill_error"},
    {"timeout", NULL, p_timeout, "rill_timeout"},
    {"timer", c_timer, NULL, "rill_timer"},
    {"zip", c_zip, p_zip, "rill_zip"},
    {"zipWith", NULL, p_zip, "rill_zip"},
};

static const struct op *find_op(const char *name, bool creation) {
  for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    const struct op *op = &ops[i];
    if (strcmp(op->name, name) != 0)
      continue;
    if (creation ? op->creation == NULL : op->pipeable == NULL)
      continue;
    return op;
  }
  return NULL;
}

/* The operators of an observable tree that have no builder, appended to
 * `out` ("name" or "name (creation)"), comma-separated, once each. */
static void missing_ops(json_t *node, char *out, size_t cap) {
  if (json_is_array(node)) {
    size_t i;
    json_t *x;
    json_array_foreach(node, i, x) missing_ops(x, out, cap);
    return;
  }
  if (!json_is_object(node))
    return;
  const char *op = json_string_value(json_object_get(node, "$op"));
  if (op != NULL) {
    bool creation = json_object_get(node, "source") == NULL;
    if (find_op(op, creation) == NULL) {
      char name[128];
      snprintf(name, sizeof(name), "%s%s", op, creation ? " (creation)" : "");
      /* once each */
      const char *p = out;
      size_t len = strlen(name);
      bool seen = false;
      while ((p = strstr(p, name)) != NULL) {
        if ((p == out || p[-1] == ' ') && (p[len] == ',' || p[len] == '\0'))
          seen = true;
        p += len;
      }
      if (!seen) {
        size_t k = strlen(out);
        snprintf(out + k, cap - k, "%s%s", k ? ", " : "", name);
      }
    }
  }
  const char *key;
  json_t *v;
  json_object_foreach(node, key, v) missing_ops(v, out, cap);
}

static rill_observable_t *build(struct build *b, json_t *node) {
  if (b->status != B_OK)
    return NULL;
  json_t *ref = json_object_get(node, "$ref");
  if (json_is_string(ref)) {
    struct source *src = find_source(b->r, json_string_value(ref));
    if (src == NULL)
      return bfail(b, "unknown source %s", json_string_value(ref));
    return rill_observable_ref(src->obs);
  }
  json_t *c = json_object_get(node, "$const");
  if (json_is_string(c)) {
    if (strcmp(json_string_value(c), "EMPTY") == 0)
      return made(b, rill_empty(), "rill_empty");
    if (strcmp(json_string_value(c), "NEVER") == 0)
      return made(b, rill_never(), "rill_never");
  }
  const char *name = json_string_value(json_object_get(node, "$op"));
  if (name == NULL)
    return bfail(b, "unsupported observable node");
  json_t *args = json_object_get(node, "args");
  json_t *source = json_object_get(node, "source");
  const struct op *op = find_op(name, source == NULL);
  if (op == NULL) /* missing_ops() saw it first */
    return bfail(b, "uses %s (no builder)", name);
  if (source == NULL)
    return op->creation(b, args);
  rill_observable_t *src = build(b, source);
  if (src == NULL)
    return NULL;
  return op->pipeable(b, args, src);
}
/* ---- running a case -------------------------------------------------------*/

struct rec_event {
  long frame;
  char kind;
  rill_value_t v; /* 'N' */
  int code;       /* 'E' */
};

struct recorder {
  struct runner *r;
  rill_observable_t *obs;
  rill_subscription_t *handle;
  struct rec_event *ev;
  size_t n, cap;
  long sub_at, unsub_at;
  rill_sched_timer_t *sub_t, *unsub_t;
};

static void rec_add(struct recorder *rc, char kind, rill_value_t v, int code) {
  if (rc->n == rc->cap) {
    rc->cap = rc->cap ? rc->cap * 2 : 16;
    rc->ev = xrealloc(rc->ev, rc->cap * sizeof(*rc->ev));
  }
  rc->ev[rc->n++] = (struct rec_event){now_frame(rc->r), kind, v, code};
}

static void rec_on_subscribe(void *ctx, rill_subscription_t *s) {
  (void)ctx;
  (void)s;
}
static void rec_on_next(void *ctx, rill_value_t v) {
  rec_add(ctx, 'N', v, 0);
}
static void rec_on_error(void *ctx, const rill_error_t *err) {
  rec_add(ctx, 'E', rill_value_int(0), err->code);
}
static void rec_on_complete(void *ctx) {
  rec_add(ctx, 'C', rill_value_int(0), 0);
}

static void rec_subscribe(struct recorder *rc) {
  static const rill_subscriber_t sub = {rec_on_subscribe, rec_on_next,
                                        rec_on_error, rec_on_complete, NULL};
  if (rc->obs != NULL && rc->handle == NULL)
    rill_observable_consume(rc->obs, &sub, rc, RILL_UNBOUNDED, &rc->handle);
}

static void rec_sub_fired(rill_sched_timer_t *t, void *arg) {
  (void)t;
  rec_subscribe(arg);
}

static void rec_unsub_fired(rill_sched_timer_t *t, void *arg) {
  struct recorder *rc = arg;
  (void)t;
  if (rc->handle != NULL)
    rill_subscription_cancel(rc->handle);
}

/* The JSON value of an error a rill pipeline signalled. */
static json_t *error_json(int code) {
  json_t *v = conf_error_value(code);
  if (v != NULL)
    return json_incref(v);
  if (code == RILL_ETIMEDOUT)
    return json_pack("{s:{s:s,s:s}}", "$error", "name", "TimeoutError",
                     "message", "Timeout has occurred");
  if (code == RILL_EEMPTY)
    return json_pack("{s:{s:s,s:s}}", "$error", "name", "EmptyError", "message",
                     "no elements in sequence");
  return json_pack("{s:s}", "rill_error", rill_err_name(code));
}

static void fmt_expected(const struct event *e, char *buf, size_t cap) {
  if (e->kind == 'C') {
    snprintf(buf, cap, "%ld:|", e->frame);
    return;
  }
  char *s =
      e->value ? json_dumps(e->value, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
  snprintf(buf, cap, "%ld:%s%s", e->frame, e->kind == 'E' ? "#" : "",
           s ? s : "undefined");
  free(s);
}

static void fmt_got(const struct rec_event *e, char *buf, size_t cap) {
  char v[256];
  if (e->kind == 'C') {
    snprintf(buf, cap, "%ld:|", e->frame);
  } else if (e->kind == 'E') {
    json_t *j = error_json(e->code);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, cap, "%ld:#%s", e->frame, s ? s : "?");
    free(s);
    json_decref(j);
  } else {
    conf_format(e->v, v, sizeof(v));
    snprintf(buf, cap, "%ld:%s", e->frame, v);
  }
}

/* Compare; on a difference write a short description into `why`. */
static bool compare_events(const struct events *want, const struct recorder *rc,
                           char *why, size_t cap) {
  size_t n = want->n > rc->n ? want->n : rc->n;
  for (size_t i = 0; i < n; i++) {
    char a[300] = "(nothing)", g[300] = "(nothing)";
    bool same = i < want->n && i < rc->n;
    if (same) {
      const struct event *w = &want->v[i];
      const struct rec_event *e = &rc->ev[i];
      same = w->frame == e->frame && w->kind == e->kind;
      if (same && w->kind == 'N') {
        rill_value_t x = conf_from_json(w->value);
        same = conf_equal(x, e->v);
        rill_value_release(x);
      } else if (same && w->kind == 'E') {
        json_t *j = error_json(e->code);
        same = json_equal(j, w->value);
        json_decref(j);
      }
    }
    if (!same) {
      if (i < want->n)
        fmt_expected(&want->v[i], a, sizeof(a));
      if (i < rc->n)
        fmt_got(&rc->ev[i], g, sizeof(g));
      /* The message may be cut short; it is only a diagnostic. */
      int k = snprintf(why, cap, "notification %zu: want ", i);
      if (k >= 0 && (size_t)k < cap)
        k += snprintf(why + k, cap - (size_t)k, "%.150s, got ", a);
      if (k >= 0 && (size_t)k < cap)
        snprintf(why + k, cap - (size_t)k, "%.150s", g);
      return false;
    }
  }
  return true;
}

static bool compare_subs(struct runner *r, json_t *subs, char *why,
                         size_t cap) {
  const char *name;
  json_t *list;
  json_object_foreach(subs, name, list) {
    struct source *src = find_source(r, name);
    if (src == NULL)
      continue; /* an assertion on something that is not a source */
    size_t k = 0, i;
    json_t *m;
    json_array_foreach(list, i, m) {
      long sub, unsub;
      if (!parse_subscription(json_string_value(m), &sub, &unsub))
        continue;
      if (k >= src->nsubs) {
        snprintf(why, cap, "%s: subscription %zu (%ld..%ld) missing", name, k,
                 sub, unsub);
        return false;
      }
      const struct subrec *got = src->subs[k++];
      if (got->sub != sub || got->unsub != unsub) {
        snprintf(why, cap, "%s: subscription %zu want %ld..%ld, got %ld..%ld",
                 name, k - 1, sub, unsub, got->sub, got->unsub);
        return false;
      }
    }
    if (k != src->nsubs) {
      snprintf(why, cap, "%s: %zu subscriptions, want %zu", name, src->nsubs,
               k);
      return false;
    }
  }
  return true;
}

/* R_FAIL: the output differs; R_REFUSED: not built (see B_REFUSED). */
enum { R_PASS, R_FAIL, R_REFUSED, R_NOTIMPL };

/* Run one case; `why` receives the reason when it does not pass. */
static int run_case(json_t *kase, char *why, size_t cap) {
  struct runner r = {0};
  r.kase = kase;
  r.s = rill_sched_virtual_new();
  json_t *sources = json_object_get(kase, "sources");
  r.srcs = xcalloc(json_object_size(sources) + 1, sizeof(*r.srcs));
  const char *name;
  json_t *sj;
  json_object_foreach(sources, name, sj) {
    struct source *src = &r.srcs[r.nsrcs++];
    src->r = &r;
    src->name = name;
    src->hot =
        strcmp(json_string_value(json_object_get(sj, "kind")), "hot") == 0;
    parse_marbles(json_string_value(json_object_get(sj, "marbles")),
                  json_object_get(sj, "values"), json_object_get(sj, "error"),
                  &src->ev);
    src->obs = rill_create(source_start, source_end, src);
  }

  /* the expectations: the main one, then more_expectations */
  json_t *exps = json_array();
  json_array_append_new(
      exps, json_pack("{s:O,s:O,s:O}", "observable",
                      json_object_get(kase, "observable"), "subscribe_marbles",
                      json_object_get(kase, "subscribe_marbles"), "expected",
                      json_object_get(kase, "expected")));
  json_t *more = json_object_get(kase, "more_expectations");
  size_t i;
  json_t *x;
  json_array_foreach(more, i, x) json_array_append(exps, x);
  size_t nexp = json_array_size(exps);
  struct recorder *recs = xcalloc(nexp, sizeof(*recs));
  struct build b = {.r = &r, .status = B_OK};
  int result = R_PASS;
  char missing[256] = "";
  json_array_foreach(exps, i, x) {
    missing_ops(json_object_get(x, "observable"), missing, sizeof(missing));
    recs[i].r = &r;
    recs[i].sub_at = 0;
    recs[i].unsub_at = NEVER_FRAME;
    const char *sm = json_string_value(json_object_get(x, "subscribe_marbles"));
    if (sm != NULL)
      parse_subscription(sm, &recs[i].sub_at, &recs[i].unsub_at);
  }
  if (missing[0] != '\0') {
    snprintf(why, cap, "%s", missing);
    result = R_NOTIMPL;
  } else {
    json_array_foreach(exps, i, x) {
      recs[i].obs = build(&b, json_object_get(x, "observable"));
      if (recs[i].obs == NULL && b.status == B_OK)
        bfail(&b, "the runner built nothing");
    }
    if (b.status != B_OK) {
      snprintf(why, cap, "%s", b.why);
      result = R_REFUSED;
    }
  }
  if (result == R_PASS) {
    /* expectObservable's actions first, then the hot sources' frames */
    for (i = 0; i < nexp; i++) {
      struct recorder *rc = &recs[i];
      if (rc->sub_at > 0) {
        rc->sub_t = rill_sched_timer_new(r.s, rec_sub_fired, rc);
        rill_sched_timer_start(rc->sub_t, (double)rc->sub_at);
      }
      if (rc->unsub_at != NEVER_FRAME) {
        rc->unsub_t = rill_sched_timer_new(r.s, rec_unsub_fired, rc);
        rill_sched_timer_start(rc->unsub_t, (double)rc->unsub_at);
      }
    }
    for (size_t k = 0; k < r.nsrcs; k++) {
      struct source *src = &r.srcs[k];
      long last = NEVER_FRAME;
      if (!src->hot)
        continue;
      for (size_t j = 0; j < src->ev.n; j++) {
        long f = src->ev.v[j].frame;
        if (f >= 0 && f != last)
          tick_new(&r, src, NULL, f, (double)f);
        last = f;
      }
    }
    for (i = 0; i < nexp; i++)
      if (recs[i].sub_at <= 0)
        rec_subscribe(&recs[i]);
    json_t *mf = json_object_get(kase, "max_frames");
    if (json_is_number(mf))
      rill_sched_advance_to(r.s, json_number_value(mf));
    else if (rill_sched_run(r.s, 200000) != 0)
      result = R_FAIL, snprintf(why, cap, "the clock never went idle");
    for (i = 0; i < nexp && result == R_PASS; i++) {
      struct events want = {0};
      json_t *ex = json_object_get(json_array_get(exps, i), "expected");
      parse_marbles(json_string_value(json_object_get(ex, "marbles")),
                    json_object_get(ex, "values"), json_object_get(ex, "error"),
                    &want);
      if (!compare_events(&want, &recs[i], why, cap))
        result = R_FAIL;
      events_free(&want);
    }
    if (result == R_PASS &&
        !compare_subs(&r, json_object_get(kase, "subscriptions"), why, cap))
      result = R_FAIL;
  }

  /* tear down: subscriptions, recipes, timers, then the scheduler */
  for (i = 0; i < nexp; i++) {
    rill_subscription_free(recs[i].handle);
    rill_observable_free(recs[i].obs);
    rill_sched_timer_free(recs[i].sub_t);
    rill_sched_timer_free(recs[i].unsub_t);
    for (size_t j = 0; j < recs[i].n; j++)
      rill_value_release(recs[i].ev[j].v);
    free(recs[i].ev);
  }
  free(recs);
  json_decref(exps);
  for (size_t k = 0; k < r.nsrcs; k++)
    rill_observable_free(r.srcs[k].obs);
  while (r.ticks != NULL) {
    struct tick *k = r.ticks;
    r.ticks = k->next;
    rill_sched_timer_free(k->t);
    free(k);
  }
  for (size_t k = 0; k < r.nsrcs; k++) {
    for (size_t j = 0; j < r.srcs[k].nsubs; j++)
      free(r.srcs[k].subs[j]);
    free(r.srcs[k].subs);
    events_free(&r.srcs[k].ev);
  }
  free(r.srcs);
  for (i = 0; i < r.ncbs; i++)
    free(r.cbs[i]);
  free(r.cbs);
  if (rill_sched_free(r.s) != 0) {
    fprintf(stderr, "conformance: %s: scheduler still busy (%d active)\n",
            json_string_value(json_object_get(kase, "id")),
            rill_sched_active(r.s));
    exit(1);
  }
  return result;
}

/* ---- deviations and the report --------------------------------------------
 *
 * tests/conformance/deviations.txt lists every implemented case that does
 * not pass, one line each:
 *
 *     <case id> <kind> <observed> :: <note>
 *
 * kind      refused  the runner did not build it: a rill constructor
 *                    returned NULL, or a named argument or callback rill or
 *                    the runner cannot express; <observed> is that reason
 *           differs  it ran and the output differs from RxJS, by design
 *           defect   it ran and the output differs because of a rill bug
 *                    (for differs and defect, <observed> is the first
 *                    difference: notification or subscription, want/got)
 * observed  exactly what the runner reports (`rxjs_conformance --list`
 *           prints it); a case whose difference changes fails the run
 * note      why, for people
 *
 * The run fails on a non-passing case not listed, on a listed case whose
 * kind or observed difference changed, on a listed case that now passes or
 * is no longer built (delete the line), on an entry whose case does not
 * exist, and on a malformed line. */

enum dev_kind { DEV_REFUSED, DEV_DIFFERS, DEV_DEFECT, DEV_KINDS };
static const char *const dev_kind_name[DEV_KINDS] = {"refused", "differs",
                                                     "defect"};

struct deviation {
  char *id;
  enum dev_kind kind;
  char *observed;
  char *note;
  int line;
  bool seen;
};

static struct deviation *devs;
static size_t ndevs;
static long problems; /* failures of the run outside the cases */

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("  FAIL ", stdout);
  vprintf(fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  problems++;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s);
  if (p == NULL)
    abort();
  return p;
}

static struct deviation *find_deviation(const char *id) {
  for (size_t i = 0; i < ndevs; i++)
    if (strcmp(devs[i].id, id) == 0)
      return &devs[i];
  return NULL;
}

static void load_deviations(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    problem("cannot read the deviations file %s: %s", path, strerror(errno));
    return;
  }
  char line[2048];
  size_t cap = 0;
  int lineno = 0;
  while (fgets(line, sizeof(line), f)) {
    lineno++;
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[strspn(line, " \t")] == '\0')
      continue;
    char *id = line, *kind = line + strcspn(line, " ");
    if (*kind != '\0')
      *kind++ = '\0';
    char *observed = kind + strcspn(kind, " ");
    if (*observed != '\0')
      *observed++ = '\0';
    char *sep = strstr(observed, " :: ");
    int k = 0;
    while (k < DEV_KINDS && strcmp(kind, dev_kind_name[k]) != 0)
      k++;
    if (k == DEV_KINDS || sep == NULL || sep == observed || sep[4] == '\0') {
      problem("%s:%d: want \"<id> refused|differs|defect <observed> :: "
              "<note>\"",
              path, lineno);
      continue;
    }
    *sep = '\0';
    if (find_deviation(id) != NULL) {
      problem("%s:%d: %s is listed twice", path, lineno, id);
      continue;
    }
    if (ndevs == cap) {
      cap = cap ? cap * 2 : 64;
      devs = xrealloc(devs, cap * sizeof(*devs));
    }
    devs[ndevs++] = (struct deviation){
        xstrdup(id),      (enum dev_kind)k, xstrdup(observed),
        xstrdup(sep + 4), lineno,           false};
  }
  fclose(f);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Operators without a builder, and how many cases use each. */
struct missing {
  char name[64];
  long cases;
};
static struct missing missing_tab[64];
static size_t nmissing;

static void count_missing(const char *list) {
  while (*list) {
    size_t k = strcspn(list, ",");
    struct missing *m = NULL;
    for (size_t i = 0; i < nmissing; i++)
      if (strlen(missing_tab[i].name) == k &&
          strncmp(missing_tab[i].name, list, k) == 0)
        m = &missing_tab[i];
    if (m == NULL && nmissing < 64) {
      m = &missing_tab[nmissing++];
      snprintf(m->name, sizeof(m->name), "%.*s", (int)k, list);
    }
    if (m != NULL)
      m->cases++;
    list += k;
    list += strspn(list, ", ");
  }
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: rxjs_conformance [--list | --ops | --help]\n"
          "Replays RxJS 7.8.2's marble cases against rill.\n"
          "  --list  print every case that does not pass, in the format of\n"
          "          the deviations file (kind, observed difference, note)\n"
          "  --ops   print the RxJS operators the runner builds, with the\n"
          "          rill call behind each\n"
          "Environment:\n"
          "  RILL_CONFORMANCE_DIR         the case data (rxjs-marbles/*.json;"
          "\n"
          "                               default %s)\n"
          "  RILL_CONFORMANCE_DEVIATIONS  the deviations file (default %s)\n"
          "  RILL_CONFORMANCE_VERBOSE     print each listed deviation\n"
          "  CI                           when set, missing case data fails\n"
          "                               (exit 1) instead of skipping (77)\n"
          "Exit: 0 pass, 1 failure, 77 no case data (skipped).\n",
          RILL_CONFORMANCE_DEFAULT_DIR, RILL_CONFORMANCE_DEVIATIONS);
}

/* No case data: a skip, or a failure under CI. */
static int no_data(const char *what, const char *dir) {
  const char *ci = getenv("CI");
  bool fail = ci != NULL && *ci != '\0' && strcmp(ci, "0") != 0 &&
              strcmp(ci, "false") != 0;
  printf("rxjs_conformance: %s %s.\n"
         "  Point RILL_CONFORMANCE_DIR at the rxjs-marbles case data (the\n"
         "  directory of <operator>.json files).\n",
         what, dir);
  if (fail) {
    printf("rxjs_conformance: FAIL: CI is set, and CI must run the "
           "conformance cases\n");
    return 1;
  }
  printf("rxjs_conformance: skipped\n");
  return 77;
}

int main(int argc, char **argv) {
  bool list = false, show_ops = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--list") == 0) {
      list = true;
    } else if (strcmp(argv[i], "--ops") == 0) {
      show_ops = true;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (show_ops) {
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
      printf("%-22s %-18s %s\n", ops[i].name,
             ops[i].creation && ops[i].pipeable ? "creation, operator"
             : ops[i].creation                  ? "creation"
                                                : "operator",
             ops[i].rill);
    return 0;
  }
  bool verbose = getenv("RILL_CONFORMANCE_VERBOSE") != NULL;
  const char *dir = getenv("RILL_CONFORMANCE_DIR");
  if (dir == NULL || *dir == '\0')
    dir = RILL_CONFORMANCE_DEFAULT_DIR;
  DIR *d = opendir(dir);
  if (d == NULL)
    return no_data("no case data at", dir);
  char *files[128];
  size_t nfiles = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && nfiles < 128) {
    size_t len = strlen(de->d_name);
    if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 &&
        strcmp(de->d_name, "index.json") != 0)
      files[nfiles++] = xstrdup(de->d_name);
  }
  closedir(d);
  if (nfiles == 0)
    return no_data("no case files (*.json) in", dir);
  qsort(files, nfiles, sizeof(files[0]), cmp_str);
  const char *devpath = getenv("RILL_CONFORMANCE_DEVIATIONS");
  if (devpath == NULL || *devpath == '\0')
    devpath = RILL_CONFORMANCE_DEVIATIONS;
  load_deviations(devpath);

  long tot_pass = 0, tot_dev = 0, tot_fail = 0, tot_ni = 0, tot_cases = 0;
  long by_kind[DEV_KINDS] = {0};
  if (!list)
    printf("%-22s %7s %9s %7s %15s\n", "operator", "passed", "deviation",
           "failing", "not implemented");
  for (size_t f = 0; f < nfiles; f++) {
    char path[4096], group[128];
    snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
    snprintf(group, sizeof(group), "%.*s", (int)(strlen(files[f]) - 5),
             files[f]);
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    if (!json_is_array(cases)) {
      problem("%s: %s (line %d)", path, jerr.text, jerr.line);
      json_decref(cases);
      continue;
    }
    long pass = 0, dev = 0, fail = 0, ni = 0;
    size_t i;
    json_t *kase;
    json_array_foreach(cases, i, kase) {
      const char *id = json_string_value(json_object_get(kase, "id"));
      const char *title = json_string_value(json_object_get(kase, "title"));
      char why[512] = "";
      int rc = run_case(kase, why, sizeof(why));
      struct deviation *dv = find_deviation(id);
      tot_cases++;
      if (dv != NULL)
        dv->seen = true;
      if (rc == R_NOTIMPL) {
        ni++;
        count_missing(why);
        if (dv != NULL && !list) {
          fail++;
          printf("  FAIL %s: listed at %s:%d, but not implemented (uses %s): "
                 "delete the line\n",
                 id, devpath, dv->line, why);
        }
        continue;
      }
      if (rc == R_PASS) {
        pass++;
        if (dv != NULL && !list) {
          fail++;
          printf("  FAIL %s: passes, but is listed at %s:%d (%s): delete the "
                 "line\n",
                 id, devpath, dv->line, dev_kind_name[dv->kind]);
        }
        continue;
      }
      if (list) {
        enum dev_kind k = rc == R_REFUSED ? DEV_REFUSED : DEV_DIFFERS;
        if (dv != NULL && (rc == R_REFUSED) == (dv->kind == DEV_REFUSED))
          k = dv->kind;
        printf("%s %s %s :: %s\n", id, dev_kind_name[k], why,
               dv != NULL ? dv->note : "TODO: why");
        continue;
      }
      const char *problem_text = NULL;
      if (dv == NULL)
        problem_text = "not listed";
      else if ((rc == R_REFUSED) != (dv->kind == DEV_REFUSED))
        problem_text = "its kind changed";
      else if (strcmp(dv->observed, why) != 0)
        problem_text = "its difference changed";
      if (problem_text == NULL) {
        dev++;
        by_kind[dv->kind]++;
        if (verbose)
          printf("  %s %s: %s [%s]\n", dev_kind_name[dv->kind], id, dv->note,
                 why);
        continue;
      }
      fail++;
      printf("  FAIL %s (%s): %s\n", id, title ? title : "", problem_text);
      if (dv != NULL)
        printf("       listed (%s:%d): %s %s\n", devpath, dv->line,
               dev_kind_name[dv->kind], dv->observed);
      printf("       now: %s %s\n", rc == R_REFUSED ? "refused" : "differs",
             why);
    }
    if (!list)
      printf("%-22s %7ld %9ld %7ld %15ld\n", group, pass, dev, fail, ni);
    tot_pass += pass;
    tot_dev += dev;
    tot_fail += fail;
    tot_ni += ni;
    json_decref(cases);
  }
  for (size_t i = 0; i < ndevs && !list; i++)
    if (!devs[i].seen)
      problem("%s:%d: %s: no such case in %s: delete the line", devpath,
              devs[i].line, devs[i].id, dir);
  for (size_t f = 0; f < nfiles; f++)
    free(files[f]);
  for (size_t i = 0; i < ndevs; i++) {
    free(devs[i].id);
    free(devs[i].observed);
    free(devs[i].note);
  }
  free(devs);
  conf_atoms_free();
  conf_errors_free();
  if (list)
    return 0;
  long impl = tot_cases - tot_ni;
  printf("%-22s %7ld %9ld %7ld %15ld\n", "total", tot_pass, tot_dev, tot_fail,
         tot_ni);
  printf("deviations: %ld refused, %ld differs, %ld defect\n",
         by_kind[DEV_REFUSED], by_kind[DEV_DIFFERS], by_kind[DEV_DEFECT]);
  printf("not implemented (no builder):");
  for (size_t i = 0; i < nmissing; i++)
    printf("%s %s (%ld)", i ? "," : "", missing_tab[i].name,
           missing_tab[i].cases);
  printf("%s\n", nmissing ? "" : " none");
  printf("implemented cases: %ld of %ld pass (%.1f%%); %ld of %ld cases are "
         "not implemented\n",
         tot_pass, impl, impl ? 100.0 * (double)tot_pass / (double)impl : 0,
         tot_ni, tot_cases);
  printf("rxjs_conformance: %ld passed, %ld failed\n", tot_pass,
         tot_fail + problems);
  return tot_fail + problems > 0 ? 1 : 0;
}
