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
 * A case that does not pass must be listed, with its reason, in
 * tests/conformance/deviations.txt; otherwise it fails the run.  Cases of
 * operators rill does not implement are counted as "not implemented".
 * `conformance --list` prints every case that does not pass, with the
 * runner's own reason, in the deviations file's format.
 * Exit: 0, 1 (a failing case), 77 (no data: skipped). */
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

/* The operator groups (data files) rill implements. */
static const char *const implemented[] = {
    "auditTime",
    "bufferCount",
    "bufferTime",
    "concat",
    "debounceTime",
    "delay",
    "distinctUntilChanged",
    "filter",
    "first",
    "interval",
    "last",
    "map",
    "merge",
    "range",
    "reduce",
    "sampleTime",
    "scan",
    "skip",
    "startWith",
    "take",
    "takeUntil",
    "takeWhile",
    "throttleTime",
    "timeout",
    "timer",
};

static bool is_implemented(const char *group) {
  for (size_t i = 0; i < sizeof(implemented) / sizeof(implemented[0]); i++)
    if (strcmp(implemented[i], group) == 0)
      return true;
  return false;
}

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

enum { B_OK, B_NOTIMPL, B_NOCB, B_UNSUP };

struct build {
  struct runner *r;
  int status;
  char why[200];
};

static rill_observable_t *bfail(struct build *b, int status, const char *fmt,
                                ...) __attribute__((format(printf, 3, 4)));
static rill_observable_t *bfail(struct build *b, int status, const char *fmt,
                                ...) {
  if (b->status == B_OK) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->why, sizeof(b->why), fmt, ap);
    va_end(ap);
    b->status = status;
  }
  return NULL;
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
    bfail(b, B_NOCB, "callback not translated: %s", text);
    return NULL;
  }
  conf_cb_t *cb = xcalloc(1, sizeof(*cb));
  cb->entry = e;
  return cb_keep(b->r, cb);
}

static conf_cb_t *callback(struct build *b, json_t *fn, cb_kind_t kind) {
  const char *text = json_string_value(json_object_get(fn, "$function"));
  if (text == NULL) {
    bfail(b, B_NOCB, "callback not translated (not a function)");
    return NULL;
  }
  return callback_text(b, text, kind);
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
    return o;
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
  for (size_t i = 0; i < nargs(args) && n < 32; i++) {
    json_t *a = json_array_get(args, i);
    if (get_num(a, &concurrent))
      continue;
    rill_observable_t *o = input(b, a);
    if (o == NULL) {
      free_all(v, n);
      return NULL;
    }
    v[n++] = o;
  }
  if (strcmp(op, "merge") == 0) {
    if (concurrent < (double)n) {
      free_all(v, n);
      return bfail(b, B_UNSUP,
                   "merge with concurrent=%g (rill merge has no "
                   "concurrency limit)",
                   concurrent);
    }
    return rill_merge(v, n, 0);
  }
  return rill_concat(v, n);
}

static rill_observable_t *error_from_text(struct build *b, json_t *fn) {
  const char *text = json_string_value(json_object_get(fn, "$function"));
  const char *pre = "() => new Error('";
  if (text != NULL && strncmp(text, pre, strlen(pre)) == 0) {
    const char *msg = text + strlen(pre);
    const char *end = strchr(msg, '\'');
    if (end != NULL) {
      json_t *e = json_pack("{s:{s:s,s:s#}}", "$error", "name", "Error",
                            "message", msg, (int)(end - msg));
      return rill_error(conf_error_code(e), "error");
    }
  }
  return bfail(b, B_NOCB, "callback not translated: %s",
               text ? text : "(error value)");
}

/* `() => name` where name is a source. */
static rill_observable_t *thunk_source(struct build *b, json_t *fn) {
  const char *text = json_string_value(json_object_get(fn, "$function"));
  if (text != NULL && strncmp(text, "() => ", 6) == 0 &&
      find_source(b->r, text + 6) != NULL)
    return rill_observable_ref(find_source(b->r, text + 6)->obs);
  return bfail(b, B_NOCB, "callback not translated: %s",
               text ? text : "(not a function)");
}

static rill_observable_t *creation(struct build *b, const char *op,
                                   json_t *args) {
  rill_sched_t *s = b->r->s;
  size_t n = nargs(args);
  double a0 = 0, a1 = 0;
  if (strcmp(op, "merge") == 0 || strcmp(op, "concat") == 0)
    return combine(b, op, NULL, args);
  if (strcmp(op, "of") == 0) {
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append(arr, json_array_get(args, i));
    rill_observable_t *o = input(b, arr);
    json_decref(arr);
    return o;
  }
  if (strcmp(op, "range") == 0) {
    if (!get_num(json_array_get(args, 0), &a0))
      return bfail(b, B_UNSUP, "range arguments");
    if (n < 2) /* range(count) counts from 0 */
      a1 = a0, a0 = 0;
    else if (!get_num(json_array_get(args, 1), &a1))
      return bfail(b, B_UNSUP, "range arguments");
    return rill_range((int64_t)a0, a1 < 0 ? 0 : (int64_t)a1);
  }
  if (strcmp(op, "timer") == 0) {
    json_t *d = json_array_get(args, 0);
    if (is_tag(d, "$date"))
      a0 = json_number_value(json_object_get(d, "$date")) - rill_sched_now(s);
    else if (!get_num(d, &a0))
      return bfail(b, B_UNSUP, "timer arguments");
    if (a0 < 0)
      a0 = 0;
    rill_observable_t *t = isinf(a0) ? rill_never() : rill_timer(s, a0);
    if (n >= 2 && get_num(json_array_get(args, 1), &a1) && a1 >= 0) {
      /* timer(due, period) = concat(timer(due), interval(period) + 1) */
      conf_cb_t *cb = callback_text(b, "(x) => x + 1", CB_MAP);
      rill_observable_t *v[2] = {
          t, rill_map(rill_interval(s, a1, NULL), cb->entry->map,
                      cb)};
      return rill_concat(v, 2);
    }
    return t;
  }
  if (strcmp(op, "interval") == 0) {
    if (!get_num(json_array_get(args, 0), &a0))
      return bfail(b, B_UNSUP, "interval arguments");
    if (a0 < 0)
      a0 = 0; /* RxJS: a negative period counts as 0 (rill: EINVAL) */
    return rill_interval(s, a0, NULL);
  }
  if (strcmp(op, "throwError") == 0)
    return error_from_text(b, json_array_get(args, 0));
  return bfail(b, B_NOTIMPL, "uses %s (not implemented in rill)", op);
}

static rill_observable_t *pipeable(struct build *b, const char *op,
                                   json_t *args, rill_observable_t *src) {
  rill_sched_t *s = b->r->s;
  size_t n = nargs(args);
  json_t *a0 = json_array_get(args, 0), *a1 = json_array_get(args, 1);
  double d = 0, e = 0;
  conf_cb_t *cb = NULL;
#define NEED(x)                                                                \
  do {                                                                         \
    if (!(x)) {                                                                \
      rill_observable_free(src);                                               \
      return NULL;                                                             \
    }                                                                          \
  } while (0)
#define UNSUP(...)                                                             \
  do {                                                                         \
    rill_observable_free(src);                                                 \
    return bfail(b, B_UNSUP, __VA_ARGS__);                                     \
  } while (0)
  if (strcmp(op, "map") == 0) {
    NEED(cb = callback(b, a0, CB_MAP));
    return rill_map(src, cb->entry->map, cb);
  }
  if (strcmp(op, "filter") == 0) {
    NEED(cb = callback(b, a0, CB_PRED));
    return rill_filter(src, cb->entry->pred, cb);
  }
  if (strcmp(op, "take") == 0 || strcmp(op, "skip") == 0) {
    if (!get_num(a0, &d))
      UNSUP("%s argument", op);
    int64_t k = d < 0 ? 0 : isinf(d) ? INT64_MAX : (int64_t)d;
    return op[0] == 't' ? rill_take(src, k) : rill_skip(src, k);
  }
  if (strcmp(op, "first") == 0 || strcmp(op, "last") == 0) {
    /* RxJS counts a default when a second argument is passed at all, even
     * `undefined`. */
    rill_pred_fn fn = NULL;
    void *ctx = NULL;
    if (n > 0 && !json_is_null(a0) && !is_undef(a0)) {
      NEED(cb = callback(b, a0, CB_PRED));
      fn = cb->entry->pred;
      ctx = cb;
    }
    rill_value_t dflt;
    const rill_value_t *dp = NULL;
    if (n > 1) {
      dflt = conf_from_json(a1);
      dp = &dflt;
    }
    return op[0] == 'f' ? rill_first(src, fn, ctx, dp)
                        : rill_last(src, fn, ctx, dp);
  }
  if (strcmp(op, "takeUntil") == 0) {
    rill_observable_t *notifier = build(b, a0);
    if (notifier == NULL) {
      rill_observable_free(src);
      return NULL;
    }
    return rill_take_until(src, notifier);
  }
  if (strcmp(op, "takeWhile") == 0) {
    NEED(cb = callback(b, a0, CB_PRED));
    return rill_take_while(src, cb->entry->pred, cb, n > 1 && json_is_true(a1));
  }
  if (strcmp(op, "scan") == 0 || strcmp(op, "reduce") == 0) {
    NEED(cb = callback(b, a0, CB_REDUCE));
    rill_value_t seed;
    if (n > 1)
      seed = conf_from_json(a1);
    if (op[0] == 's')
      return rill_scan(src, cb->entry->reduce, cb, n > 1 ? &seed : NULL);
    return rill_reduce(src, cb->entry->reduce, cb, n > 1 ? &seed : NULL);
  }
  if (strcmp(op, "distinctUntilChanged") == 0) {
    if (n > 1 && !is_undef(a1)) {
      if (n > 0 && !is_undef(a0))
        UNSUP("distinctUntilChanged with comparator and keySelector");
      conf_cb_t *key;
      NEED(key = callback(b, a1, CB_KEY));
      conf_cb_t *cmp = cb_keep(b->r, xcalloc(1, sizeof(conf_cb_t)));
      cmp->key = key;
      return rill_distinct_until_changed(src, conf_cb_key_equal, cmp);
    }
    if (n > 0 && !is_undef(a0)) {
      NEED(cb = callback(b, a0, CB_EQUAL));
      return rill_distinct_until_changed(src, cb->entry->equal, cb);
    }
    return rill_distinct_until_changed(src, NULL, NULL);
  }
  if (strcmp(op, "startWith") == 0) {
    /* start_with(values...) is concat(from_array(values), src) */
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
      json_array_append(arr, json_array_get(args, i));
    rill_observable_t *first = input(b, arr);
    json_decref(arr);
    rill_observable_t *v[2] = {first, src};
    return rill_concat(v, 2);
  }
  if (strcmp(op, "bufferCount") == 0) {
    if (!get_num(a0, &d))
      UNSUP("bufferCount argument");
    if (n > 1 && !is_undef(a1) && !get_num(a1, &e))
      UNSUP("bufferCount argument");
    return rill_buffer_count(src, (size_t)d, (size_t)e);
  }
  if (strcmp(op, "concat") == 0 || strcmp(op, "concatWith") == 0)
    return combine(b, "concat", src, args);
  if (strcmp(op, "merge") == 0 || strcmp(op, "mergeWith") == 0)
    return combine(b, "merge", src, args);
  if (strcmp(op, "throttleTime") == 0) {
    bool leading = true, trailing = false;
    if (!get_num(a0, &d))
      UNSUP("throttleTime argument");
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
      UNSUP("throttleTime with neither edge");
    rill_throttle_opts_t opts = {
        .edges = (leading ? RILL_THROTTLE_LEADING : 0u) |
                 (trailing ? RILL_THROTTLE_TRAILING : 0u)};
    return rill_throttle(src, s, d, &opts);
  }
  if (strcmp(op, "debounceTime") == 0 || strcmp(op, "sampleTime") == 0 ||
      strcmp(op, "auditTime") == 0 || strcmp(op, "delay") == 0) {
    if (is_tag(a0, "$date") && op[0] == 'd' && op[2] == 'l') {
      double at = json_number_value(json_object_get(a0, "$date"));
      return rill_delay_until(src, s, at); /* absolute on the clock */
    }
    if (is_tag(a0, "$date"))
      UNSUP("%s to an absolute Date", op);
    if (!get_num(a0, &d))
      UNSUP("%s argument", op);
    if (op[0] == 'd' && op[1] == 'e' && op[2] == 'b')
      return rill_debounce(src, s, d, NULL);
    if (op[0] == 's')
      return rill_sample(src, s, d, NULL);
    if (op[0] == 'a')
      return rill_audit(src, s, d, NULL);
    return rill_delay(src, s, d < 0 ? 0 : d); /* RxJS: negative is 0 */
  }
  if (strcmp(op, "bufferTime") == 0) {
    if (!get_num(a0, &d))
      UNSUP("bufferTime argument");
    for (size_t i = 1; i < n; i++) {
      json_t *x = json_array_get(args, i);
      if (is_undef(x))
        continue;
      if (i == 2 && get_num(x, &e) && isinf(e))
        continue;
      UNSUP("bufferTime with bufferCreationInterval/maxBufferSize");
    }
    return rill_buffer_time(src, s, d, NULL);
  }
  if (strcmp(op, "timeout") == 0) {
    json_t *with = NULL;
    if (json_is_object(a0) && !is_tag(a0, "$date") && !is_tag(a0, "$number")) {
      if (json_object_get(a0, "meta"))
        UNSUP("timeout with `meta`");
      json_t *first = json_object_get(a0, "first");
      double first_ms = -1, each_ms = HUGE_VAL;
      rill_timeout_opts_t opts = {0};
      if (first != NULL) {
        /* A Date deadline is absolute on the virtual clock, which the
         * runner starts at 0 where the subscription happens. */
        json_t *f =
            is_tag(first, "$date") ? json_object_get(first, "$date") : first;
        if (!get_num(f, &first_ms))
          UNSUP("timeout `first` argument");
        /* A Date deadline already past expires at once (RxJS). */
        if (is_tag(first, "$date"))
          first_ms = fmax(first_ms - rill_sched_now(s), 0);
      }
      json_t *each = json_object_get(a0, "each");
      if (each != NULL && !get_num(each, &each_ms))
        UNSUP("timeout `each` argument");
      if (first == NULL && each == NULL)
        UNSUP("timeout without `first` or `each`");
      if (first == NULL)
        first_ms = each_ms;
      with = json_object_get(a0, "with");
      if (with != NULL) {
        opts.with = thunk_source(b, with);
        if (opts.with == NULL) {
          rill_observable_free(src);
          return NULL;
        }
      }
      return rill_timeout(src, s, first_ms, each_ms, &opts);
    } else if (is_tag(a0, "$date")) {
      /* timeout(date) is timeout({first: date}) in RxJS 7. */
      double at;
      if (!get_num(json_object_get(a0, "$date"), &at))
        UNSUP("timeout Date argument");
      /* A Date deadline already past expires at once (RxJS). */
      return rill_timeout(src, s, fmax(at - rill_sched_now(s), 0), HUGE_VAL,
                          NULL);
    } else if (!get_num(a0, &d)) {
      UNSUP("timeout argument");
    }
    if (with != NULL) {
      rill_observable_t *fb = thunk_source(b, with);
      if (fb == NULL) {
        rill_observable_free(src);
        return NULL;
      }
      return rill_timeout(src, s, d, d, &(rill_timeout_opts_t){.with = fb});
    }
    return rill_timeout(src, s, d, d, NULL);
  }
  if (strcmp(op, "mergeMap") == 0) {
    const char *t = json_string_value(json_object_get(a0, "$function"));
    if (t != NULL && strcmp(t, "(x) => of(x)") == 0 && n == 1)
      return src; /* mergeMap to a synchronous of(x) is the identity */
  }
  if (strcmp(op, "tap") == 0 || strcmp(op, "finalize") == 0)
    return src; /* side effects for chai assertions only */
  if (strcmp(op, "ignoreElements") == 0) {
    NEED(cb = callback_text(b, "() => false", CB_PRED));
    return rill_filter(src, cb->entry->pred, cb);
  }
  rill_observable_free(src);
  return bfail(b, B_NOTIMPL, "uses %s (not implemented in rill)", op);
#undef NEED
#undef UNSUP
}

static rill_observable_t *build(struct build *b, json_t *node) {
  if (b->status != B_OK)
    return NULL;
  json_t *ref = json_object_get(node, "$ref");
  if (json_is_string(ref)) {
    struct source *src = find_source(b->r, json_string_value(ref));
    if (src == NULL)
      return bfail(b, B_UNSUP, "unknown source %s", json_string_value(ref));
    return rill_observable_ref(src->obs);
  }
  json_t *c = json_object_get(node, "$const");
  if (json_is_string(c)) {
    if (strcmp(json_string_value(c), "EMPTY") == 0)
      return rill_empty();
    if (strcmp(json_string_value(c), "NEVER") == 0)
      return rill_never();
  }
  const char *op = json_string_value(json_object_get(node, "$op"));
  if (op == NULL)
    return bfail(b, B_UNSUP, "unsupported observable node");
  json_t *args = json_object_get(node, "args");
  json_t *source = json_object_get(node, "source");
  if (source == NULL)
    return creation(b, op, args);
  rill_observable_t *src = build(b, source);
  if (src == NULL)
    return NULL;
  return pipeable(b, op, args, src);
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
                                        rec_on_error, rec_on_complete};
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

enum { R_PASS, R_FAIL, R_NOTIMPL, R_NOCB, R_UNSUP };

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
  json_array_foreach(exps, i, x) {
    recs[i].r = &r;
    recs[i].obs = build(&b, json_object_get(x, "observable"));
    if (recs[i].obs == NULL && b.status == B_OK)
      bfail(&b, B_UNSUP, "constructor failed: %s", strerror(errno));
    recs[i].sub_at = 0;
    recs[i].unsub_at = NEVER_FRAME;
    const char *sm = json_string_value(json_object_get(x, "subscribe_marbles"));
    if (sm != NULL)
      parse_subscription(sm, &recs[i].sub_at, &recs[i].unsub_at);
  }
  if (b.status != B_OK) {
    snprintf(why, cap, "%s", b.why);
    result = b.status == B_NOTIMPL ? R_NOTIMPL
             : b.status == B_NOCB  ? R_NOCB
                                   : R_UNSUP;
  } else {
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

/* ---- deviations and the report --------------------------------------------*/

struct deviation {
  char *id;
  char *reason;
  bool used;
};

static struct deviation *devs;
static size_t ndevs;

static void load_deviations(const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    fprintf(stderr, "conformance: cannot read %s: %s\n", path, strerror(errno));
    return;
  }
  char line[1024];
  size_t cap = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = '\0';
    if (line[0] == '#' || line[0] == '\0')
      continue;
    char *sp = line + strcspn(line, " \t");
    if (*sp == '\0')
      continue; /* a line without a reason does not count */
    *sp++ = '\0';
    while (*sp == ' ' || *sp == '\t')
      sp++;
    if (ndevs == cap) {
      cap = cap ? cap * 2 : 64;
      devs = xrealloc(devs, cap * sizeof(*devs));
    }
    devs[ndevs].id = strdup(line);
    devs[ndevs].reason = strdup(sp);
    devs[ndevs].used = false;
    ndevs++;
  }
  fclose(f);
}

static struct deviation *find_deviation(const char *id) {
  for (size_t i = 0; i < ndevs; i++)
    if (strcmp(devs[i].id, id) == 0)
      return &devs[i];
  return NULL;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  bool list = argc > 1 && strcmp(argv[1], "--list") == 0;
  bool verbose = getenv("RILL_CONFORMANCE_VERBOSE") != NULL;
  const char *dir = getenv("RILL_CONFORMANCE_DIR");
  if (dir == NULL || *dir == '\0')
    dir = RILL_CONFORMANCE_DEFAULT_DIR;
  DIR *d = opendir(dir);
  if (d == NULL) {
    printf("conformance: no case data at %s (set RILL_CONFORMANCE_DIR): "
           "skipped\n",
           dir);
    return 77;
  }
  char *files[128];
  size_t nfiles = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL && nfiles < 128) {
    size_t len = strlen(de->d_name);
    if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 &&
        strcmp(de->d_name, "index.json") != 0)
      files[nfiles++] = strdup(de->d_name);
  }
  closedir(d);
  if (nfiles == 0) {
    printf("conformance: no case files in %s: skipped\n", dir);
    return 77;
  }
  qsort(files, nfiles, sizeof(files[0]), cmp_str);
  const char *devpath = getenv("RILL_CONFORMANCE_DEVIATIONS");
  load_deviations(devpath ? devpath : RILL_CONFORMANCE_DEVIATIONS);

  long tot_pass = 0, tot_dev = 0, tot_fail = 0, tot_ni = 0, tot_impl = 0;
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
      printf("conformance: %s: %s (line %d)\n", path, jerr.text, jerr.line);
      tot_fail++;
      json_decref(cases);
      continue;
    }
    long pass = 0, dev = 0, fail = 0, ni = 0;
    bool impl = is_implemented(group);
    size_t i;
    json_t *kase;
    json_array_foreach(cases, i, kase) {
      const char *id = json_string_value(json_object_get(kase, "id"));
      if (!impl) {
        ni++;
        continue;
      }
      char why[512] = "";
      int rc = run_case(kase, why, sizeof(why));
      struct deviation *dv = find_deviation(id);
      if (rc == R_PASS) {
        pass++;
        if (dv != NULL)
          printf("conformance: %s passes but is listed as a deviation (%s)\n",
                 id, dv->reason);
        continue;
      }
      if (list) {
        printf("%s %s%s\n", id,
               rc == R_NOCB || rc == R_NOTIMPL || rc == R_UNSUP ? "" : "FAIL: ",
               why);
        continue;
      }
      if (dv != NULL) {
        dv->used = true;
        dev++;
        if (verbose)
          printf("  deviation %s: %s [runner: %s]\n", id, dv->reason, why);
      } else {
        fail++;
        printf("  FAIL %s (%s): %s\n", id,
               json_string_value(json_object_get(kase, "title")), why);
      }
    }
    if (!list)
      printf("%-22s %7ld %9ld %7ld %15ld\n", group, pass, dev, fail, ni);
    tot_pass += pass;
    tot_dev += dev;
    tot_fail += fail;
    tot_ni += ni;
    if (impl)
      tot_impl += (long)json_array_size(cases);
    json_decref(cases);
  }
  for (size_t f = 0; f < nfiles; f++)
    free(files[f]);
  for (size_t i = 0; i < ndevs; i++) {
    free(devs[i].id);
    free(devs[i].reason);
  }
  free(devs);
  conf_atoms_free();
  conf_errors_free();
  if (list)
    return 0;
  printf("%-22s %7ld %9ld %7ld %15ld\n", "total", tot_pass, tot_dev, tot_fail,
         tot_ni);
  printf("implemented operators: %ld of %ld cases pass (%.1f%%)\n", tot_pass,
         tot_impl, tot_impl ? 100.0 * (double)tot_pass / (double)tot_impl : 0);
  printf("conformance: %ld passed, %ld failed\n", tot_pass, tot_fail);
  return tot_fail > 0 ? 1 : 0;
}
