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
 * clock until idle or `until_ms`, and renders what arrived, relative to
 * the subscription time, in the same grammar. */
#ifndef RILL_MARBLE_H
#define RILL_MARBLE_H

#include <rill.h>

rill_observable_t *marble_cold(rill_sched_t *s, const char *marbles);
/* The part after '^' of a hot timeline, for a subscription at '^'. */
rill_observable_t *marble_hot(rill_sched_t *s, const char *marbles);

typedef struct marble_result {
  char text[512];
  int64_t nexts;
  int terminals;
  int error_code;
  int active_after; /* rill_sched_active() after the run */
} marble_result_t;

/* Run `obs` (not consumed) and render; until_ms <= 0 means run to idle. */
void marble_run(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                marble_result_t *out);
/* Same, with the subscriber cancelling at `cancel_at_ms` (relative). */
void marble_run_cancel(rill_sched_t *s, rill_observable_t *obs, double until_ms,
                       double cancel_at_ms, marble_result_t *out);

/* Compare rendered marbles, ignoring spaces and trailing '-'. */
int marble_equal(const char *got, const char *want);

#define ck_assert_marble(s, obs, until, want)                                  \
  do {                                                                         \
    marble_result_t mr_;                                                       \
    marble_run((s), (obs), (until), &mr_);                                     \
    ck_assert_msg(marble_equal(mr_.text, (want)), "got \"%s\", want \"%s\"",   \
                  mr_.text, (want));                                           \
  } while (0)

#endif
