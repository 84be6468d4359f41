/* SPDX-License-Identifier: MIT */
/* rill: lines(max_len, truncate) -- splits a stream of byte buffers into
 * lines: one RILL_KIND_BUF per line, without its "\n" or "\r\n", whatever
 * the chunk boundaries (a "\r" ending one chunk and the "\n" starting the
 * next make one "\r\n").  Bytes are bytes: NUL, invalid UTF-8 and a lone
 * "\r" inside a line pass through untouched.
 *
 * Demand: one line per requested item.  It asks upstream for one buffer at
 * a time, and only when it has no complete line to give and downstream
 * wants one; so a slow consumer stops the reads (from_fd then stops its
 * watcher).  A buffer holding many lines is consumed across requests.
 * Time/I-O: none of its own; synchronous.
 * Limits: a line whose content exceeds `max_len` bytes (0 = 64 KiB) gives
 * on_error(RILL_EOVERFLOW), cancelling upstream; with `truncate` its first
 * `max_len` bytes are emitted as soon as the overflow is known and the rest
 * of that line is skipped up to its newline.  The partial line kept across
 * buffers is therefore bounded by max_len + 1 bytes (the + 1 is a "\r"
 * that may turn out to precede a "\n").
 * Completion: a last line without a newline is emitted at completion
 * (also without a trailing "\r", as Go's bufio.ScanLines does), then
 * on_complete; an input ending in "\n" gives no empty last line.  Error:
 * the partial line is dropped and the error passes at once.
 * Values: anything other than RILL_KIND_BUF is on_error(RILL_EINVAL).
 * Owns: the buffer being split and the partial line, released on every
 * path (destroy; cancel needs nothing else, so the default handlers for
 * on_subscribe, on_error and on_cancel are used).  Each line is a fresh buffer
 * (a copy), so the input buffers are released as soon as they have been split.
 */
#include <errno.h>

#include "rill-internal.h"

#define LINES_DEFAULT_MAX ((size_t)64 * 1024)

struct lines_args {
  size_t max_len;
  bool truncate;
};

struct lines_state {
  rill_buf_t *cur;     /* the input buffer being split, or NULL */
  size_t off;          /* bytes of cur already consumed */
  unsigned char *part; /* bytes of the current line seen so far */
  size_t part_len;
  size_t part_cap;
  int64_t demand;
  bool skipping; /* truncate: dropping the rest of an overlong line */
  bool up_asked; /* one buffer requested from upstream, not yet here */
  bool up_done;  /* upstream completed */
  bool draining; /* the drain loop is on the stack */
};

/* Emit the line a[0..alen) + b[0..blen) as a new buffer. */
static void lines_emit(struct rill__op *op, const unsigned char *a, size_t alen,
                       const unsigned char *b, size_t blen) {
  struct lines_state *st = op->state;
  rill_buf_t *line = rill_buf_new(alen + blen);
  if (line == NULL) {
    rill__op_fail(op, RILL_ENOMEM, "cannot allocate a line");
    return;
  }
  if (alen)
    memcpy(rill_buf_data(line), a, alen);
  if (blen)
    memcpy(rill_buf_data(line) + alen, b, blen);
  rill_buf_set_len(line, alen + blen);
  if (rill__op_deliver(op, rill_value_buf(line)) &&
      st->demand != RILL_UNBOUNDED)
    st->demand--;
}

/* Emit a line made of the partial bytes followed by b[0..blen), whose
 * content (the newline already removed) is `len` bytes, applying max_len. */
static void lines_emit_checked(struct rill__op *op, const unsigned char *b,
                               size_t blen, size_t len) {
  const struct lines_args *a = op->args;
  struct lines_state *st = op->state;
  if (len > a->max_len) {
    if (!a->truncate) {
      rill__op_fail(op, RILL_EOVERFLOW, "line longer than max_len");
      return;
    }
    len = a->max_len;
  }
  size_t from_part = len < st->part_len ? len : st->part_len;
  st->part_len = 0;
  lines_emit(op, st->part, from_part, b, len - from_part);
}

/* Keep b[0..blen) (no newline in it) as part of the current line.  Returns
 * false when the stream ended (overflow error, ENOMEM). */
static bool lines_keep(struct rill__op *op, const unsigned char *b,
                       size_t blen) {
  const struct lines_args *a = op->args;
  struct lines_state *st = op->state;
  size_t total = st->part_len + blen;
  /* Content is sure to exceed max_len once it is longer than max_len + 1,
   * or exactly max_len + 1 without a final "\r" that may still pair with
   * a "\n". */
  bool over = total > a->max_len + 1 ||
              (total == a->max_len + 1 && b[blen - 1] != '\r');
  if (over) {
    if (!a->truncate) {
      rill__op_fail(op, RILL_EOVERFLOW, "line longer than max_len");
      return false;
    }
    lines_emit_checked(op, b, blen, total); /* cut to max_len */
    st->skipping = true;
    return !rill__op_done(op);
  }
  if (total > st->part_cap) {
    size_t cap = st->part_cap ? st->part_cap : 256;
    while (cap < total)
      cap *= 2;
    if (cap > a->max_len + 1)
      cap = a->max_len + 1;
    unsigned char *p = rill__realloc(st->part, cap);
    if (p == NULL) {
      rill__op_fail(op, RILL_ENOMEM, "cannot grow the partial line");
      return false;
    }
    st->part = p;
    st->part_cap = cap;
  }
  memcpy(st->part + st->part_len, b, blen);
  st->part_len = total;
  return true;
}

static void lines_drop_cur(struct lines_state *st) {
  if (st->cur != NULL)
    rill_buf_unref(st->cur);
  st->cur = NULL;
  st->off = 0;
}

/* Split the current buffer until one line is out (demand > 0 here) or the
 * buffer is used up. */
static void lines_split(struct rill__op *op) {
  struct lines_state *st = op->state;
  const unsigned char *data = rill_buf_data(st->cur) + st->off;
  size_t len = rill_buf_len(st->cur) - st->off;
  const unsigned char *nl = memchr(data, '\n', len);
  if (st->skipping) {
    if (nl == NULL) {
      lines_drop_cur(st);
      return;
    }
    st->skipping = false;
    st->off += (size_t)(nl - data) + 1;
    return;
  }
  if (nl == NULL) {
    if (len > 0 && lines_keep(op, data, len) == false)
      return;
    lines_drop_cur(st);
    return;
  }
  size_t seg = (size_t)(nl - data);
  size_t content = st->part_len + seg;
  if (content > 0) {
    unsigned char last = seg ? data[seg - 1] : st->part[st->part_len - 1];
    if (last == '\r')
      content--;
  }
  st->off += seg + 1;
  lines_emit_checked(op, data, seg, content);
}

/* The one loop that moves lines downstream; never nested. */
static void lines_drain(struct rill__op *op) {
  struct lines_state *st = op->state;
  if (st->draining)
    return;
  st->draining = true;
  while (!rill__op_done(op)) {
    if (st->cur != NULL && st->off >= rill_buf_len(st->cur))
      lines_drop_cur(st);
    if (st->cur != NULL) {
      if (st->demand == 0)
        break;
      lines_split(op);
    } else if (st->up_done) {
      if (st->part_len > 0 && !st->skipping) {
        if (st->demand == 0)
          break;
        size_t content = st->part_len;
        if (st->part[content - 1] == '\r')
          content--;
        lines_emit_checked(op, NULL, 0, content);
        continue;
      }
      rill__op_complete(op);
    } else if (st->demand > 0 && !st->up_asked) {
      st->up_asked = true;
      rill__op_request_up(op, 1); /* may deliver at once: loop again */
    } else {
      break;
    }
  }
  st->draining = false;
}

static void lines_on_next(void *self, rill_value_t v) {
  struct rill__op *op = self;
  struct lines_state *st = op->state;
  if (rill__op_done(op)) {
    rill__drop(v);
    return;
  }
  st->up_asked = false;
  if (v.kind != RILL_KIND_BUF || v.as.buf == NULL) {
    rill__drop(v);
    rill__op_fail(op, RILL_EINVAL, "expected a byte buffer");
    return;
  }
  if (st->cur != NULL) { /* more than requested: rule 1.1 broken upstream */
    rill__drop(v);
    rill__op_fail(op, RILL_EPROTO, "upstream sent more than requested");
    return;
  }
  st->cur = v.as.buf;
  st->off = 0;
  lines_drain(op);
}

static void lines_on_complete(struct rill__op *op) {
  struct lines_state *st = op->state;
  st->up_done = true;
  st->up_asked = false;
  lines_drain(op);
}

static void lines_on_request(struct rill__op *op, int64_t n) {
  struct lines_state *st = op->state;
  st->demand = rill__demand_add(st->demand, n);
  lines_drain(op);
}

static void lines_destroy(struct rill__op *op) {
  struct lines_state *st = op->state;
  lines_drop_cur(st);
  rill__free(st->part);
  st->part = NULL;
}

static const struct rill__op_ops lines_ops = {
    .name = "lines",
    .args_size = sizeof(struct lines_args),
    .state_size = sizeof(struct lines_state),
    .on_next = lines_on_next,
    .on_complete = lines_on_complete,
    .on_request = lines_on_request,
    .destroy = lines_destroy,
};

rill_observable_t *rill_lines(rill_observable_t *src, size_t max_len,
                              bool truncate) {
  if (max_len == 0)
    max_len = LINES_DEFAULT_MAX;
  if (max_len >= SIZE_MAX / 2) {
    rill_observable_free(src);
    errno = EINVAL;
    return NULL;
  }
  struct lines_args args = {.max_len = max_len, .truncate = truncate};
  return rill__op_create(src, &lines_ops, &args);
}
