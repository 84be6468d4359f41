/* SPDX-License-Identifier: MIT */
/* rill tests: marble timelines on the virtual scheduler (1 frame = 1 ms).
 *
 * Grammar (RxJS's, subset): '-' one frame; a value character ('0'-'9' are
 * the ints 0-9, any other letter is its character code); '(ab)' values in
 * the same frame, after which time advances by the group's length
 * including the parentheses (as in RxJS); '|' complete; '#' error
 * (RILL_EUSER); ' ' ignored; for hot sources '^' marks the subscription
 * point (what comes before it is never seen by a subscriber at '^').
 *
 * marble_cold() builds the timeline from public operators only
 * (concat, timer, filter, from_array, error, never), so it is itself a
 * well-behaved rill source.  marble_run() subscribes at the current
 * virtual time with unbounded demand (or `demand` per request), runs the
 * clock until idle or `until_ms`, and records every signal as an event
 * (time since the subscription, kind, value).
 *
 * Comparison is by frames, never by rendered text: marble_match() parses
 * the expected marbles with RxJS's frame rules (each character but ' '
 * is one frame; a group '(ab)' puts its events at the frame of '(' and
 * time advances by the group's width, parentheses included) and compares
 * event by event, so two timelines that happen to render alike but differ
 * in frames are different.  Two extensions, used by the renderer: '{n}'
 * is the int value n (one character of time, like any value), and '<t>'
 * sets the time to t ms (it takes no time itself), for an event that the
 * RxJS grammar cannot place, e.g. one 2 frames after a 4-frame group:
 * "----1-2-(34)<10>|".  The rendering (`text`) round-trips: parsing it
 * gives back the recorded events. */
#ifndef RILL_MARBLE_H
#define RILL_MARBLE_H

#include <stddef.h>

#include <rill.h>

rill_observable_t *marble_cold(rill_sched_t *s, const char *marbles);
/* The part after '^' of a hot timeline, for a subscription at '^'. */
rill_observable_t *marble_hot(rill_sched_t *s, const char *marbles);

#define MARBLE_MAX_EVENTS 256

typedef struct marble_event {
  double at;     /* ms since the subscription */
  char kind;     /* 'n' value, '|' complete, '#' error */
  int64_t value; /* 'n': the int value (-1 for a value that is not an int) */
} marble_event_t;

typedef struct marble_result {
  char text[512]; /* the events rendered (round-trips, see above) */
  marble_event_t ev[MARBLE_MAX_EVENTS];
  size_t n;
  bool truncated; /* more than MARBLE_MAX_EVENTS events */
  int64_t nexts;
  int terminals;
  int error_code;
  int active_after; /* rill_sched_active() after the run */
} marble_result_t;

/* Run `obs` (not consumed) and record; until_ms <= 0 means run to idle. */
void marble_run(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                marble_result_t *out);
/* Same, with the subscriber cancelling at `cancel_at_ms` (relative). */
void marble_run_cancel(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                       double cancel_at_ms, marble_result_t *out);

/* Parse marbles into events (frames relative to '^' when there is one).
 * Returns the number of events, or -1 on a malformed string. */
int marble_parse(const char *marbles, marble_event_t *ev, size_t cap);
/* Render events (the grammar above) into buf. */
void marble_render(const marble_event_t *ev, size_t n, char *buf, size_t cap);

/* 1 if the recorded events are exactly those of `want`, frame by frame;
 * else 0, with `msg` naming the first differing event and showing both
 * timelines. */
int marble_match(const marble_result_t *r, const char *want, char *msg,
                 size_t cap);
/* 1 if two marble strings denote the same events, frame by frame. */
int marble_equal(const char *a, const char *b);

#define ck_assert_marble_result(r, want)                                       \
  do {                                                                         \
    char mmsg_[1024];                                                          \
    ck_assert_msg(marble_match((r), (want), mmsg_, sizeof(mmsg_)), "%s",       \
                  mmsg_);                                                      \
  } while (0)

#define ck_assert_marble(s, obs, until, want)                                  \
  do {                                                                         \
    marble_result_t mr_;                                                       \
    marble_run((s), (obs), (until), &mr_);                                     \
    ck_assert_marble_result(&mr_, (want));                                     \
  } while (0)

#endif
