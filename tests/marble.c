/* SPDX-License-Identifier: MIT */
/* rill tests: marble timelines (see marble.h). */
#include "marble.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int never_pass(void *ctx, rill_value_t v) {
  (void)ctx;
  (void)v;
  return 0;
}

/* An observable that completes `gap` ms after subscription, silently. */
static rill_observable_t *wait_ms(rill_sched_t *s, double gap) {
  return rill_filter(rill_timer(s, gap), never_pass, NULL);
}

static rill_value_t marble_value(char c) {
  if (c >= '0' && c <= '9')
    return rill_value_int(c - '0');
  return rill_value_int((unsigned char)c);
}

rill_observable_t *marble_cold(rill_sched_t *s, const char *m) {
  rill_observable_t *parts[256];
  size_t n = 0;
  double t = 0, last = 0;
  bool ended = false;
  for (const char *p = m; *p && !ended && n < 250; p++) {
    char c = *p;
    if (c == ' ' || c == '^')
      continue;
    if (c == '-') {
      t++;
      continue;
    }
    if (t > last) {
      parts[n++] = wait_ms(s, t - last);
      last = t;
    }
    if (c == '|' || c == '#') {
      if (c == '#')
        parts[n++] = rill_error(RILL_EUSER, "error");
      ended = true;
      break;
    }
    if (c == '(') {
      rill_value_t vals[32];
      size_t k = 0;
      const char *q = p + 1;
      for (; *q && *q != ')'; q++) {
        if (*q == '|' || *q == '#') {
          ended = true;
          if (*q == '#') {
            parts[n++] = rill_from_array(vals, k);
            k = 0;
            parts[n++] = rill_error(RILL_EUSER, "error");
          }
          continue;
        }
        if (k < 32)
          vals[k++] = marble_value(*q);
      }
      if (k > 0 || !ended)
        parts[n++] = rill_from_array(vals, k);
      t += (double)(q - p) + 1; /* the clock stays at the group's frame */
      p = q;
      if (*p == '\0')
        break;
      continue;
    }
    parts[n++] = rill_just(1, marble_value(c));
    t++; /* a value takes a frame of the text, not of the clock */
  }
  if (!ended)
    parts[n++] = rill_never();
  return rill_concat(parts, n);
}

rill_observable_t *marble_hot(rill_sched_t *s, const char *m) {
  /* '^' is frame 0 of the subscription: what follows it starts at 1. */
  const char *at = strchr(m, '^');
  if (at == NULL)
    return marble_cold(s, m);
  char buf[512];
  snprintf(buf, sizeof(buf), "-%s", at + 1);
  return marble_cold(s, buf);
}

/* ---- recording ------------------------------------------------------------*/

struct recorder {
  rill_sched_t *s;
  double t0;
  rill_subscription_t *sub;
  marble_result_t *out;
};

static void r_on_subscribe(void *ctx, rill_subscription_t *sub) {
  ((struct recorder *)ctx)->sub = sub;
}

static void r_add(struct recorder *r, char kind, int64_t value) {
  marble_result_t *out = r->out;
  if (out->n == MARBLE_MAX_EVENTS) {
    out->truncated = true;
    return;
  }
  out->ev[out->n].at = rill_sched_now(r->s) - r->t0;
  out->ev[out->n].kind = kind;
  out->ev[out->n].value = value;
  out->n++;
}

static void r_on_next(void *ctx, rill_value_t v) {
  struct recorder *r = ctx;
  r->out->nexts++;
  r_add(r, 'n', v.kind == RILL_KIND_INT ? v.as.i : -1);
  rill_value_release(v);
}

static void r_on_error(void *ctx, const rill_error_t *err) {
  struct recorder *r = ctx;
  r->out->terminals++;
  r->out->error_code = err->code;
  r_add(r, '#', 0);
}

static void r_on_complete(void *ctx) {
  struct recorder *r = ctx;
  r->out->terminals++;
  r_add(r, '|', 0);
}

/* ---- the grammar ------------------------------------------------------ */

static bool is_plain_value(int64_t v) {
  return v >= 33 && v < 127 && v != '-' && v != '|' && v != '#' && v != '(' &&
         v != ')' && v != '^' && v != '{' && v != '}' && v != '<' && v != '>' &&
         !(v >= '0' && v <= '9');
}

static void put(char *buf, size_t cap, size_t *len, const char *s) {
  size_t k = strlen(s);
  if (*len + k >= cap) { /* cut short: mark it */
    if (cap >= 4)
      memcpy(buf + cap - 4, "...", 4);
    *len = cap;
    return;
  }
  memcpy(buf + *len, s, k + 1);
  *len += k;
}

static void render_one(char *buf, size_t cap, size_t *len,
                       const marble_event_t *e) {
  char tmp[32];
  if (e->kind == 'n') {
    int64_t v = e->value;
    if (v >= 0 && v <= 9)
      snprintf(tmp, sizeof(tmp), "%c", (char)('0' + v));
    else if (is_plain_value(v))
      snprintf(tmp, sizeof(tmp), "%c", (char)v);
    else
      snprintf(tmp, sizeof(tmp), "{%lld}", (long long)v);
  } else {
    snprintf(tmp, sizeof(tmp), "%c", e->kind);
  }
  put(buf, cap, len, tmp);
}

void marble_render(const marble_event_t *ev, size_t n, char *buf, size_t cap) {
  size_t len = 0;
  double pos = 0; /* the time the next character stands for */
  if (cap == 0)
    return;
  buf[0] = '\0';
  for (size_t i = 0; i < n && len < cap;) {
    double at = ev[i].at;
    size_t j = i;
    while (j < n && ev[j].at == at)
      j++;
    if (at < pos || at != floor(at) || pos != floor(pos)) { /* say when */
      char tmp[48];
      snprintf(tmp, sizeof(tmp), "<%.17g>", at);
      put(buf, cap, &len, tmp);
      pos = at;
    }
    while (pos < at && len < cap) {
      put(buf, cap, &len, "-");
      pos++;
    }
    if (j - i > 1)
      put(buf, cap, &len, "(");
    for (size_t k = i; k < j; k++)
      render_one(buf, cap, &len, &ev[k]);
    if (j - i > 1)
      put(buf, cap, &len, ")");
    pos += j - i > 1 ? (double)(j - i + 2) : 1;
    i = j;
  }
}

int marble_parse(const char *m, marble_event_t *ev, size_t cap) {
  double frame = 0, group = -1, zero = 0;
  size_t n = 0;
  for (const char *p = m; *p; p++) {
    char c = *p;
    int64_t value = 0;
    double at = group >= 0 ? group : frame;
    switch (c) {
    case ' ':
      continue;
    case '-':
      frame++;
      continue;
    case '^':
      zero = frame;
      frame++;
      continue;
    case '(':
      if (group >= 0)
        return -1;
      group = frame;
      frame++;
      continue;
    case ')':
      if (group < 0)
        return -1;
      group = -1;
      frame++;
      continue;
    case '<': {
      char *end;
      double t = strtod(p + 1, &end);
      if (end == p + 1 || *end != '>' || group >= 0)
        return -1;
      frame = t + zero;
      p = end;
      continue;
    }
    case '{': {
      char *end;
      value = strtoll(p + 1, &end, 10);
      if (end == p + 1 || *end != '}')
        return -1;
      p = end;
      c = 'n';
      break;
    }
    case '|':
    case '#':
      break;
    default:
      value = c >= '0' && c <= '9' ? c - '0' : (unsigned char)c;
      c = 'n';
      break;
    }
    if (n == cap)
      return -1;
    ev[n].at = at;
    ev[n].kind = c;
    ev[n].value = value;
    n++;
    frame++;
  }
  if (group >= 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    ev[i].at -= zero;
  return (int)n;
}

static void describe(const marble_event_t *e, char *buf, size_t cap) {
  char what[32];
  size_t len = 0;
  what[0] = '\0';
  render_one(what, sizeof(what), &len, e);
  snprintf(buf, cap, "'%s' at %.17g", what, e->at);
}

static bool same_event(const marble_event_t *a, const marble_event_t *b) {
  return a->at == b->at && a->kind == b->kind &&
         (a->kind != 'n' || a->value == b->value);
}

int marble_match(const marble_result_t *r, const char *want, char *msg,
                 size_t cap) {
  marble_event_t w[MARBLE_MAX_EVENTS];
  char wtext[512];
  int nw = marble_parse(want, w, MARBLE_MAX_EVENTS);
  if (nw < 0) {
    snprintf(msg, cap, "malformed expected marbles \"%s\"", want);
    return 0;
  }
  if (r->truncated) {
    snprintf(msg, cap, "over %d events recorded: \"%s\"", MARBLE_MAX_EVENTS,
             r->text);
    return 0;
  }
  size_t n = (size_t)nw > r->n ? (size_t)nw : r->n;
  for (size_t i = 0; i < n; i++) {
    if (i < (size_t)nw && i < r->n && same_event(&w[i], &r->ev[i]))
      continue;
    char a[64] = "nothing", g[64] = "nothing";
    if (i < (size_t)nw)
      describe(&w[i], a, sizeof(a));
    if (i < r->n)
      describe(&r->ev[i], g, sizeof(g));
    marble_render(w, (size_t)nw, wtext, sizeof(wtext));
    snprintf(msg, cap,
             "event %zu: want %s, got %s\n  want \"%s\" (as written: "
             "\"%s\")\n  got  \"%s\"",
             i, a, g, wtext, want, r->text);
    return 0;
  }
  msg[0] = '\0';
  return 1;
}

int marble_equal(const char *a, const char *b) {
  marble_event_t x[MARBLE_MAX_EVENTS], y[MARBLE_MAX_EVENTS];
  int nx = marble_parse(a, x, MARBLE_MAX_EVENTS);
  int ny = marble_parse(b, y, MARBLE_MAX_EVENTS);
  if (nx < 0 || ny < 0 || nx != ny)
    return 0;
  for (int i = 0; i < nx; i++)
    if (!same_event(&x[i], &y[i]))
      return 0;
  return 1;
}

static void run(rill_sched_t *s, rill_observable_t *obs, double until,
                double cancel_at, marble_result_t *out) {
  static const rill_subscriber_t sub = {
      .on_subscribe = r_on_subscribe,
      .on_next = r_on_next,
      .on_error = r_on_error,
      .on_complete = r_on_complete,
  };
  struct recorder r = {0};
  memset(out, 0, sizeof(*out));
  r.s = s;
  r.out = out;
  r.t0 = rill_sched_now(s);
  rill_subscription_t *handle = NULL;
  ck_assert_int_eq(
      rill_observable_consume(obs, &sub, &r, RILL_UNBOUNDED, &handle), 0);
  if (cancel_at >= 0) {
    rill_sched_advance_to(s, r.t0 + cancel_at);
    rill_subscription_cancel(handle);
  }
  if (until > 0)
    rill_sched_advance_to(s, r.t0 + until);
  else
    rill_sched_run(s, 100000);
  rill_subscription_free(handle);
  out->active_after = rill_sched_active(s);
  marble_render(out->ev, out->n, out->text, sizeof(out->text));
}

void marble_run(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                marble_result_t *out) {
  run(s, obs, until_ms, -1, out);
}

void marble_run_cancel(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                       double cancel_at_ms, marble_result_t *out) {
  run(s, obs, until_ms, cancel_at_ms, out);
}
