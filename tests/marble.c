/* rill tests: marble timelines (see marble.h). */
#include "marble.h"

#include <check.h>
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

struct event {
  double at;
  char kind; /* 'n', '|', '#' */
  int64_t value;
};

struct recorder {
  rill_sched_t *s;
  double t0;
  struct event ev[256];
  size_t n;
  rill_subscription_t *sub;
  marble_result_t *out;
};

static void r_on_subscribe(void *ctx, rill_subscription_t *sub) {
  ((struct recorder *)ctx)->sub = sub;
}

static void r_add(struct recorder *r, char kind, int64_t value) {
  if (r->n < 256) {
    r->ev[r->n].at = rill_sched_now(r->s) - r->t0;
    r->ev[r->n].kind = kind;
    r->ev[r->n].value = value;
    r->n++;
  }
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

static void render_one(char *buf, size_t cap, size_t *len,
                       const struct event *e) {
  char tmp[32];
  if (e->kind == 'n') {
    int64_t v = e->value;
    if (v >= 0 && v <= 9)
      snprintf(tmp, sizeof(tmp), "%c", (char)('0' + v));
    else if (v >= 33 && v < 127 && v != '-' && v != '|' && v != '#' &&
             v != '(' && v != ')')
      snprintf(tmp, sizeof(tmp), "%c", (char)v);
    else
      snprintf(tmp, sizeof(tmp), "{%lld}", (long long)v);
  } else {
    snprintf(tmp, sizeof(tmp), "%c", e->kind);
  }
  size_t k = strlen(tmp);
  if (*len + k < cap) {
    memcpy(buf + *len, tmp, k);
    *len += k;
    buf[*len] = '\0';
  }
}

static void render(struct recorder *r) {
  char *buf = r->out->text;
  size_t cap = sizeof(r->out->text), len = 0;
  buf[0] = '\0';
  long pos = 0;
  for (size_t i = 0; i < r->n;) {
    long frame = (long)(r->ev[i].at + 0.5);
    size_t j = i;
    while (j < r->n && (long)(r->ev[j].at + 0.5) == frame)
      j++;
    while (pos < frame && len + 1 < cap) {
      buf[len++] = '-';
      buf[len] = '\0';
      pos++;
    }
    if (j - i == 1) {
      render_one(buf, cap, &len, &r->ev[i]);
      pos++;
    } else {
      size_t start = len;
      if (len + 1 < cap) {
        buf[len++] = '(';
        buf[len] = '\0';
      }
      for (size_t k = i; k < j; k++)
        render_one(buf, cap, &len, &r->ev[k]);
      if (len + 1 < cap) {
        buf[len++] = ')';
        buf[len] = '\0';
      }
      pos += (long)(len - start);
    }
    i = j;
  }
}

static void run(rill_sched_t *s, rill_observable_t *obs, double until,
                double cancel_at, marble_result_t *out) {
  static const rill_subscriber_t sub = {
      .on_subscribe = r_on_subscribe,
      .on_next = r_on_next,
      .on_error = r_on_error,
      .on_complete = r_on_complete,
  };
  struct recorder *r = calloc(1, sizeof(*r));
  memset(out, 0, sizeof(*out));
  r->s = s;
  r->out = out;
  r->t0 = rill_sched_now(s);
  rill_subscription_t *handle = NULL;
  ck_assert_int_eq(
      rill_observable_consume(obs, &sub, r, RILL_UNBOUNDED, &handle), 0);
  if (cancel_at >= 0) {
    rill_sched_advance_to(s, r->t0 + cancel_at);
    rill_subscription_cancel(handle);
  }
  if (until > 0)
    rill_sched_advance_to(s, r->t0 + until);
  else
    rill_sched_run(s, 100000);
  rill_subscription_free(handle);
  out->active_after = rill_sched_active(s);
  render(r);
  free(r);
}

void marble_run(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                marble_result_t *out) {
  run(s, obs, until_ms, -1, out);
}

void marble_run_cancel(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                       double cancel_at_ms, marble_result_t *out) {
  run(s, obs, until_ms, cancel_at_ms, out);
}

static void normalise(const char *in, char *out, size_t cap) {
  size_t n = 0;
  for (; *in && n + 1 < cap; in++)
    if (*in != ' ')
      out[n++] = *in;
  while (n > 0 && out[n - 1] == '-')
    n--;
  out[n] = '\0';
}

int marble_equal(const char *got, const char *want) {
  char a[512], b[512];
  normalise(got, a, sizeof(a));
  normalise(want, b, sizeof(b));
  return strcmp(a, b) == 0;
}
